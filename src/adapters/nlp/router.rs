//! The complaint router: a multinomial logistic regression over TF-IDF of jieba words and
//! character 1–2-grams, trained on past complaints and their departments.
//!
//! Trained here rather than with linfa-logistic: that takes a dense `Array2`, and character
//! n-grams of a few thousand complaints span tens of thousands of sparse features (a dense
//! 1 000 × 60 000 matrix is half a gigabyte). The objective is scikit-learn's, minimised by
//! L-BFGS over sparse rows; `C` is chosen by cross-validation as a tuned baseline would be.

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
    /// Inverse regularisation strength, as scikit-learn's `C`; `None` chooses it from
    /// [`C_GRID`] by cross-validated macro-F1.
    pub c: Option<f64>,
    pub max_iterations: usize,
    pub folds: usize,
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions { c: None, max_iterations: 300, folds: 5, seed: 42 }
    }
}

/// The values of `C` cross-validation chooses from (scikit-learn's usual decades).
pub const C_GRID: [f64; 4] = [0.1, 1.0, 10.0, 100.0];

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

/// As the tuned baseline (min_df 2, every term kept): character bigrams are what tell
/// departments apart, and a cap drops the rarer, most specific ones.
const FEATURE_OPTIONS: TfidfOptions = TfidfOptions { min_df: 2, max_df: 1.0, max_features: Some(400_000) };

/// Features of every text, one chunk per core (jieba dominates).
fn par_features(texts: &[String]) -> Vec<Vec<String>> {
    super::par_map(texts, |t| features(t))
}

/// Picks `C` from [`C_GRID`] by k-fold cross-validation (folds dealt from a shuffle) on
/// macro-F1.
fn choose_c(feats: &[Vec<String>], targets: &[usize], classes: usize, options: TrainOptions, progress: &mut dyn FnMut(&str)) -> f64 {
    let folds = options.folds.clamp(2, 10).min(feats.len());
    let mut order: Vec<usize> = (0..feats.len()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(options.seed));
    let fold_of: Vec<usize> = {
        let mut f = vec![0; feats.len()];
        for (pos, &i) in order.iter().enumerate() {
            f[i] = pos % folds;
        }
        f
    };
    let mut scores = vec![0.0f64; C_GRID.len()];
    let mut log_loss = vec![0.0f64; C_GRID.len()];
    for fold in 0..folds {
        let train: Vec<usize> = (0..feats.len()).filter(|&i| fold_of[i] != fold).collect();
        let held: Vec<usize> = (0..feats.len()).filter(|&i| fold_of[i] == fold).collect();
        let train_feats: Vec<Vec<String>> = train.iter().map(|&i| feats[i].clone()).collect();
        let vocabulary = Vocabulary::fit(&train_feats, FEATURE_OPTIONS);
        let docs: Vec<SparseVec> = train_feats.iter().map(|f| vocabulary.transform(f)).collect();
        let train_targets: Vec<usize> = train.iter().map(|&i| targets[i]).collect();
        let held_docs: Vec<SparseVec> = held.iter().map(|&i| vocabulary.transform(&feats[i])).collect();
        let truth: Vec<usize> = held.iter().map(|&i| targets[i]).collect();
        for ((slot, loss), &c) in scores.iter_mut().zip(log_loss.iter_mut()).zip(&C_GRID) {
            let (weights, bias) = fit_logistic(&docs, &train_targets, classes, vocabulary.len(), c, options.max_iterations, &mut |_| {});
            let mut predicted = Vec::with_capacity(held_docs.len());
            for (d, &y) in held_docs.iter().zip(&truth) {
                let mut p = class_scores(d, &weights, &bias);
                predicted.push(argmax(&p));
                softmax(&mut p);
                *loss -= f64::from(p[y].max(1e-12)).ln() / held_docs.len().max(1) as f64;
            }
            *slot += super::quality::macro_f1(&truth, &predicted) / folds as f64;
        }
        progress(&format!("cross-validation fold {}/{folds} done", fold + 1));
    }
    // Ties in macro-F1 (small or easy data) go to the better-calibrated C, the lower held-out
    // log-loss: the router acts on the top probability, not only on the top label.
    let best = (1..C_GRID.len()).fold(0, |best, i| {
        let (s, b) = (scores[i], scores[best]);
        if s > b + 1e-9 || ((s - b).abs() <= 1e-9 && log_loss[i] < log_loss[best]) { i } else { best }
    });
    let summary: Vec<String> = C_GRID.iter().zip(&scores).map(|(c, s)| format!("C = {c}: {s:.4}")).collect();
    progress(&format!("cross-validated macro-F1 {}; choosing C = {}", summary.join(", "), C_GRID[best]));
    C_GRID[best]
}

fn argmax(scores: &[f32]) -> usize {
    scores.iter().enumerate().fold(0, |best, (i, &s)| if s > scores[best] { i } else { best })
}

fn class_scores(doc: &SparseVec, weights: &[Vec<f32>], bias: &[f32]) -> Vec<f32> {
    bias.iter().zip(weights).map(|(b, w)| b + doc.dot_dense(w)).collect()
}

/// Minimises ½‖W‖² + C · Σ cross-entropy (bias unregularised, as scikit-learn's lbfgs) by
/// L-BFGS. Weights are laid out class-major in one vector: `classes × dim` then the biases.
fn fit_logistic(docs: &[SparseVec], targets: &[usize], classes: usize, dim: usize, c: f64, max_iterations: usize, progress: &mut dyn FnMut(&str)) -> (Vec<Vec<f32>>, Vec<f32>) {
    let n_params = classes * dim + classes;
    let threads = super::threads();
    let chunk = super::share_len(docs.len());
    // Cross-entropy and its gradient over a slice of documents, into `grad` (zeroed here).
    let partial = |x: &[f64], grad: &mut [f64], docs: &[SparseVec], targets: &[usize]| -> f64 {
        grad.iter_mut().for_each(|g| *g = 0.0);
        let mut loss = 0.0;
        let mut scores = vec![0.0f64; classes];
        for (doc, &y) in docs.iter().zip(targets) {
            for (k, s) in scores.iter_mut().enumerate() {
                let w = &x[k * dim..(k + 1) * dim];
                *s = x[classes * dim + k] + doc.idx.iter().zip(&doc.val).map(|(&j, &v)| f64::from(v) * w[j as usize]).sum::<f64>();
            }
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = scores.iter().map(|s| (s - max).exp()).sum();
            loss += sum.ln() + max - scores[y];
            for k in 0..classes {
                let g = (scores[k] - max).exp() / sum - if k == y { 1.0 } else { 0.0 };
                let gw = &mut grad[k * dim..(k + 1) * dim];
                for (&j, &v) in doc.idx.iter().zip(&doc.val) {
                    gw[j as usize] += g * f64::from(v);
                }
                grad[classes * dim + k] += g;
            }
        }
        loss
    };
    let mut buffers: Vec<Vec<f64>> = vec![vec![0.0; n_params]; threads.saturating_sub(1)];
    let buffers = std::sync::Mutex::new(&mut buffers);
    let objective = |x: &[f64], grad: &mut [f64]| -> f64 {
        let mut guard = buffers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut loss = 0.0;
        std::thread::scope(|scope| {
            let mut parts = docs.chunks(chunk).zip(targets.chunks(chunk));
            let first = parts.next();
            let handles: Vec<_> = parts.zip(guard.iter_mut()).map(|((d, t), buffer)| scope.spawn(move || partial(x, buffer, d, t))).collect();
            loss += first.map_or(0.0, |(d, t)| partial(x, grad, d, t));
            for handle in handles {
                loss += handle.join().unwrap_or(f64::NAN);
            }
        });
        let used = docs.len().div_ceil(chunk).saturating_sub(1);
        for buffer in guard.iter().take(used) {
            grad.iter_mut().zip(buffer.iter()).for_each(|(g, b)| *g += b);
        }
        let mut penalty = 0.0;
        for (g, w) in grad[..classes * dim].iter_mut().zip(&x[..classes * dim]) {
            *g = c * *g + w;
            penalty += w * w;
        }
        for g in &mut grad[classes * dim..] {
            *g *= c;
        }
        c * loss + 0.5 * penalty
    };
    let x = super::lbfgs::minimise(objective, vec![0.0; n_params], max_iterations, progress);
    let weights = (0..classes).map(|k| x[k * dim..(k + 1) * dim].iter().map(|&w| w as f32).collect()).collect();
    let bias = x[classes * dim..].iter().map(|&b| b as f32).collect();
    (weights, bias)
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
    /// Fits an L2-regularised multinomial logistic regression (the objective of scikit-learn's
    /// `LogisticRegression`: ½‖W‖² + C · cross-entropy) by L-BFGS, with `C` given or chosen by
    /// `folds`-fold cross-validation on macro-F1.
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
        let feats: Vec<Vec<String>> = par_features(texts);
        let index: HashMap<&str, usize> = label_names.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
        let targets: Vec<usize> = labels.iter().map(|l| index[l.as_str()]).collect();
        let classes = label_names.len();
        let c = match options.c {
            Some(c) => c,
            None => choose_c(&feats, &targets, classes, options, progress),
        };
        let vocabulary = Vocabulary::fit(&feats, FEATURE_OPTIONS);
        let docs: Vec<SparseVec> = feats.iter().map(|f| vocabulary.transform(f)).collect();
        progress(&format!("training on {} features, C = {c}", vocabulary.len()));
        let (weights, bias) = fit_logistic(&docs, &targets, classes, vocabulary.len(), c, options.max_iterations, progress);
        Ok(RouterModel { version: 2, labels: label_names, vocabulary, weights, bias })
    }

    /// Labels with their probabilities, most likely first.
    pub fn predict(&self, text: &str) -> Vec<(String, f32)> {
        let doc = self.vocabulary.transform(&features(text));
        let mut scores = class_scores(&doc, &self.weights, &self.bias);
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
