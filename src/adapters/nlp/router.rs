//! The complaint router: a multinomial logistic regression over TF-IDF of jieba words and
//! character 1–2-grams, trained on past complaints and their departments.
//!
//! Trained here rather than with linfa-logistic: that takes a dense `Array2`, and character
//! n-grams of a few thousand complaints span tens of thousands of sparse features (a dense
//! 1 000 × 60 000 matrix is half a gigabyte). Sparse SGD with AdaGrad touches only a document's
//! own features.

use std::collections::HashMap;
use std::path::Path;

/// `nlp-models/router.json`, compiled in: the service routes the same from any directory.
const BUILT_IN_ROUTER: &[u8] = include_bytes!("../../../nlp-models/router.json");

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::tfidf::{SparseVec, TfidfOptions, Vocabulary};
use super::tokenize::Tokenizer;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouterModel {
    pub version: u32,
    pub labels: Vec<String>,
    pub vocabulary: Vocabulary,
    /// One row per label.
    pub weights: Vec<Vec<f32>>,
    pub bias: Vec<f32>,
}

#[derive(Debug, Clone, Copy)]
pub struct TrainOptions {
    pub epochs: usize,
    pub learning_rate: f32,
    pub l2: f32,
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions { epochs: 40, learning_rate: 0.5, l2: 1e-5, seed: 42 }
    }
}

/// Words (prefixed `w:`) and character 1–2-grams of letters and CJK characters.
pub fn features(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Tokenizer::shared().tokens(text).into_iter().map(|w| format!("w:{w}")).collect();
    let chars: Vec<char> = text.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect();
    for (i, c) in chars.iter().enumerate() {
        out.push(c.to_string());
        if let Some(next) = chars.get(i + 1) {
            out.push(format!("{c}{next}"));
        }
    }
    out
}

fn softmax(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    if sum > 0.0 {
        scores.iter_mut().for_each(|s| *s /= sum);
    }
}

impl RouterModel {
    pub fn train(texts: &[String], labels: &[String], options: TrainOptions, progress: &mut dyn FnMut(&str)) -> Result<RouterModel, String> {
        if texts.len() != labels.len() || texts.is_empty() {
            return Err("need as many labels as texts, and at least one".into());
        }
        let mut label_names: Vec<String> = labels.to_vec();
        label_names.sort();
        label_names.dedup();
        if label_names.len() < 2 {
            return Err("need at least two different labels".into());
        }
        progress(&format!("extracting features of {} texts", texts.len()));
        let feats: Vec<Vec<String>> = texts.iter().map(|t| features(t)).collect();
        let vocabulary = Vocabulary::fit(&feats, TfidfOptions { min_df: 2, max_df: 0.9, max_features: Some(30_000) });
        let docs: Vec<SparseVec> = feats.iter().map(|f| vocabulary.transform(f)).collect();
        let index: HashMap<&str, usize> = label_names.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
        let targets: Vec<usize> = labels.iter().map(|l| index[l.as_str()]).collect();
        let (classes, dim) = (label_names.len(), vocabulary.len());
        let mut weights = vec![vec![0.0f32; dim]; classes];
        let mut bias = vec![0.0f32; classes];
        let mut grad_sq = vec![vec![1e-8f32; dim]; classes];
        let mut bias_sq = vec![1e-8f32; classes];
        let mut order: Vec<usize> = (0..docs.len()).collect();
        let mut rng = StdRng::seed_from_u64(options.seed);
        let mut scores = vec![0.0f32; classes];
        for epoch in 0..options.epochs {
            order.shuffle(&mut rng);
            let mut loss = 0.0f64;
            for &n in &order {
                let doc = &docs[n];
                for c in 0..classes {
                    scores[c] = bias[c] + doc.dot_dense(&weights[c]);
                }
                softmax(&mut scores);
                loss -= f64::from(scores[targets[n]].max(1e-12).ln());
                for c in 0..classes {
                    let g = scores[c] - if c == targets[n] { 1.0 } else { 0.0 };
                    for (&j, &x) in doc.idx.iter().zip(&doc.val) {
                        let j = j as usize;
                        let grad = g * x + options.l2 * weights[c][j];
                        grad_sq[c][j] += grad * grad;
                        weights[c][j] -= options.learning_rate * grad / grad_sq[c][j].sqrt();
                    }
                    bias_sq[c] += g * g;
                    bias[c] -= options.learning_rate * g / bias_sq[c].sqrt();
                }
            }
            if epoch % 10 == 9 || epoch + 1 == options.epochs {
                progress(&format!("epoch {}: mean loss {:.4}", epoch + 1, loss / docs.len() as f64));
            }
        }
        Ok(RouterModel { version: 1, labels: label_names, vocabulary, weights, bias })
    }

    /// Labels with their probabilities, most likely first.
    pub fn predict(&self, text: &str) -> Vec<(String, f32)> {
        let doc = self.vocabulary.transform(&features(text));
        let mut scores: Vec<f32> = self.bias.iter().zip(&self.weights).map(|(b, w)| b + doc.dot_dense(w)).collect();
        softmax(&mut scores);
        let mut ranked: Vec<(String, f32)> = self.labels.iter().cloned().zip(scores).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked
    }

    /// Saves as JSON with weights rounded to 1e-4, a quarter smaller than full precision and
    /// the same predictions (checked by `bench/evaluate.py`, which routes through a saved model).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let round = |w: &f32| (w * 1e4).round() / 1e4;
        let compact = RouterModel {
            weights: self.weights.iter().map(|row| row.iter().map(round).collect()).collect(),
            bias: self.bias.iter().map(round).collect(),
            vocabulary: self.vocabulary.clone(),
            labels: self.labels.clone(),
            version: self.version,
        };
        let file = std::io::BufWriter::new(std::fs::File::create(path)?);
        serde_json::to_writer(file, &compact).map_err(std::io::Error::other)
    }

    pub fn load(path: &Path) -> std::io::Result<RouterModel> {
        RouterModel::read(std::io::BufReader::new(std::fs::File::open(path)?))
    }

    /// The model trained on the labelled citizen messages, shipped inside the binary.
    pub fn built_in() -> std::io::Result<RouterModel> {
        RouterModel::read(BUILT_IN_ROUTER)
    }

    fn read(input: impl std::io::Read) -> std::io::Result<RouterModel> {
        let mut model: RouterModel = serde_json::from_reader(input).map_err(std::io::Error::other)?;
        model.vocabulary.reindex();
        if model.weights.len() != model.labels.len() || model.weights.iter().any(|w| w.len() != model.vocabulary.len()) {
            return Err(std::io::Error::other("router model is inconsistent"));
        }
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_to_route_simple_complaints_and_round_trips() {
        let data = [
            ("公积金提取一直不到账", "ZJJ"),
            ("住房公积金贷款审批太慢", "ZJJ"),
            ("公积金账户无法查询", "ZJJ"),
            ("社保卡补办要等一个月", "RSJ"),
            ("养老保险缴费记录不对", "RSJ"),
            ("失业保险金申领审核慢", "RSJ"),
            ("小区旁餐馆无证经营", "SCJG"),
            ("超市卖过期食品", "SCJG"),
            ("商家虚假宣传欺骗消费者", "SCJG"),
        ];
        let texts: Vec<String> = data.iter().cycle().take(27).map(|d| d.0.to_owned()).collect();
        let labels: Vec<String> = data.iter().cycle().take(27).map(|d| d.1.to_owned()).collect();
        let model = RouterModel::train(&texts, &labels, TrainOptions::default(), &mut |_| {}).unwrap();
        assert_eq!(model.predict("公积金提取审核")[0].0, "ZJJ");
        assert_eq!(model.predict("社保卡和养老保险")[0].0, "RSJ");
        assert_eq!(model.predict("餐馆食品过期")[0].0, "SCJG");
        let total: f32 = model.predict("随便")[..].iter().map(|p| p.1).sum();
        assert!((total - 1.0).abs() < 1e-4);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        model.save(&path).unwrap();
        let again = RouterModel::load(&path).unwrap();
        assert_eq!(again.predict("公积金提取审核")[0].0, model.predict("公积金提取审核")[0].0);
        let (a, b) = (again.predict("公积金提取审核")[0].1, model.predict("公积金提取审核")[0].1);
        assert!((a - b).abs() < 1e-3, "{a} vs {b}");
    }
}
