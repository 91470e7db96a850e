//! `cluster`, `train-router` and `route` over CSV files.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::adapters::nlp::clustering::{cluster_texts, ClusterOptions, KChoice};
use crate::adapters::nlp::quality::{macro_f1, nmi};
use crate::adapters::nlp::router::{RouterModel, TrainOptions};

/// The `--encoding` of a CSV: UTF-8 (a BOM is dropped), or GBK/GB18030 as Chinese Excel saves
/// it (GB18030 is a superset of GBK, so both decode with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TextEncoding {
    #[value(name = "utf-8", alias = "utf8")]
    Utf8,
    #[value(name = "gbk", alias = "gb2312")]
    Gbk,
    #[value(name = "gb18030")]
    Gb18030,
}

/// Reads one text column (and optionally a label column) from a CSV with a header row.
pub fn read_columns(path: &Path, encoding: TextEncoding, text_column: &str, label_column: Option<&str>) -> anyhow::Result<(Vec<String>, Option<Vec<String>>)> {
    let source = path.display().to_string();
    // Strict for UTF-8: bytes that are not UTF-8 are an error naming --encoding, not silently
    // replaced (a GBK file read as UTF-8 would cluster mojibake). A byte-order mark goes with
    // the first column's name (`read_columns_from`).
    if encoding == TextEncoding::Utf8 {
        let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {source}: {e}"))?;
        if let Err(e) = std::str::from_utf8(&bytes) {
            anyhow::bail!("{source} is not UTF-8 (byte {}): a CSV saved by Chinese Excel needs --encoding gbk", e.valid_up_to());
        }
        return read_columns_from(bytes.as_slice(), &source, text_column, label_column);
    }
    let file = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("cannot read {source}: {e}"))?;
    let input = encoding_rs_io::DecodeReaderBytesBuilder::new().encoding(Some(encoding_rs::GB18030)).bom_override(true).build(file);
    read_columns_from(input, &source, text_column, label_column)
}

/// [`read_columns`] over any reader; `source` names it in errors. Fuzzed (`fuzz/`).
pub fn read_columns_from(input: impl std::io::Read, source: &str, text_column: &str, label_column: Option<&str>) -> anyhow::Result<(Vec<String>, Option<Vec<String>>)> {
    let path = source;
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(input);
    let headers = reader.headers()?.clone();
    let find = |name: &str| {
        headers.iter().position(|h| h.trim_start_matches('\u{feff}') == name).ok_or_else(|| {
            anyhow::anyhow!("{path} has no column {name:?}; columns: {}", headers.iter().collect::<Vec<_>>().join(", "))
        })
    };
    let text_at = find(text_column)?;
    let label_at = label_column.map(find).transpose()?;
    let mut texts = Vec::new();
    let mut labels = label_at.map(|_| Vec::new());
    for (n, record) in reader.records().enumerate() {
        let record = record.map_err(|e| anyhow::anyhow!("{path} row {}: {e}", n + 1))?;
        texts.push(record.get(text_at).unwrap_or("").to_owned());
        if let (Some(at), Some(labels)) = (label_at, labels.as_mut()) {
            labels.push(record.get(at).unwrap_or("").to_owned());
        }
    }
    Ok((texts, labels))
}

pub struct ClusterArgs {
    pub input: PathBuf,
    pub encoding: TextEncoding,
    pub text_column: String,
    pub label_column: Option<String>,
    pub k: KChoice,
    pub seed: u64,
    pub n_init: usize,
    pub out: PathBuf,
}

pub fn cluster(args: &ClusterArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let (texts, labels) = read_columns(&args.input, args.encoding, &args.text_column, args.label_column.as_deref())?;
    eprintln!("[{:6.2}s] read {} rows from {}", started.elapsed().as_secs_f64(), texts.len(), args.input.display());
    let mut progress = |m: &str| eprintln!("[{:6.2}s] {m}", started.elapsed().as_secs_f64());
    let result = cluster_texts(&texts, ClusterOptions { k: args.k, seed: args.seed, n_init: args.n_init }, &mut progress)
        .map_err(|e| anyhow::anyhow!(e))?;
    let mut writer = csv::Writer::from_path(&args.out)?;
    writer.write_record(["row", "cluster"])?;
    for (row, cluster) in result.assignment.iter().enumerate() {
        writer.write_record([row.to_string(), cluster.to_string()])?;
    }
    writer.flush()?;
    let seconds = started.elapsed().as_secs_f64();
    println!("k = {}   texts = {}   vocabulary = {}   silhouette = {:.4}", result.k, texts.len(), result.vocabulary_size, result.silhouette);
    println!("{}", result.k_reason);
    for c in &result.clusters {
        println!("cluster {:>2}  size {:>6}  {}", c.number, c.size, c.top_terms.join(" "));
        for &r in &c.representatives {
            let sample: String = texts[r].chars().take(60).collect();
            println!("             · {sample}");
        }
    }
    if let Some(labels) = labels {
        // Rows without a label (unlabelled text clustered alongside) are left out of NMI.
        let (truth, predicted): (Vec<&String>, Vec<usize>) =
            labels.iter().zip(&result.assignment).filter(|(l, _)| !l.is_empty()).map(|(l, c)| (l, *c)).unzip();
        println!("nmi = {:.4} over {} labelled rows", nmi(&truth, &predicted), truth.len());
    }
    println!("seconds = {seconds:.3}");
    eprintln!("[{seconds:6.2}s] wrote {}", args.out.display());
    Ok(())
}

pub fn train_router(input: &Path, encoding: TextEncoding, text_column: &str, label_column: &str, out: &Path, c: Option<f64>) -> anyhow::Result<()> {
    let started = Instant::now();
    let (texts, labels) = read_columns(input, encoding, text_column, Some(label_column))?;
    let labels = labels.unwrap_or_default();
    let (texts, labels): (Vec<String>, Vec<String>) =
        texts.into_iter().zip(labels).filter(|(t, l)| !t.trim().is_empty() && !l.trim().is_empty()).unzip();
    eprintln!("[{:6.2}s] {} labelled rows", started.elapsed().as_secs_f64(), texts.len());
    let mut progress = |m: &str| eprintln!("[{:6.2}s] {m}", started.elapsed().as_secs_f64());
    let model = RouterModel::train(&texts, &labels, TrainOptions { c, ..TrainOptions::default() }, &mut progress)
        .map_err(|e| anyhow::anyhow!(e))?;
    model.save(out)?;
    println!("labels = {}   features = {}   model = {}", model.labels.len(), model.vocabulary.len(), out.display());
    eprintln!("[{:6.2}s] done", started.elapsed().as_secs_f64());
    Ok(())
}

pub fn route(model: &Path, input: &Path, encoding: TextEncoding, text_column: &str, label_column: Option<&str>, out: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let model = RouterModel::load(model).map_err(|e| anyhow::anyhow!("cannot load {}: {e}", model.display()))?;
    let (texts, labels) = read_columns(input, encoding, text_column, label_column)?;
    let mut writer = csv::Writer::from_path(out)?;
    writer.write_record(["row", "label", "score"])?;
    let mut predicted = Vec::with_capacity(texts.len());
    for (row, text) in texts.iter().enumerate() {
        let (label, score) = model.predict(text).into_iter().next().unwrap_or_default();
        writer.write_record([row.to_string(), label.clone(), format!("{score:.4}")])?;
        predicted.push(label);
        if row % 5000 == 4999 {
            eprintln!("[{:6.2}s] routed {} rows", started.elapsed().as_secs_f64(), row + 1);
        }
    }
    writer.flush()?;
    if let Some(labels) = labels {
        println!("macro_f1 = {:.4} over {} rows", macro_f1(&labels, &predicted), labels.len());
    }
    println!("routed = {}   seconds = {:.3}", texts.len(), started.elapsed().as_secs_f64());
    Ok(())
}
