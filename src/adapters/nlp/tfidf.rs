//! TF-IDF over token lists, as sparse L2-normalised vectors (sklearn's smooth idf and
//! sublinear tf), which is what makes k-means on 60 k comments cheap: a comment touches a dozen
//! of the vocabulary's tens of thousands of terms.

use rustc_hash::FxHashMap as HashMap;

/// A sparse vector: sorted term indices and their weights.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVec {
    pub idx: Vec<u32>,
    pub val: Vec<f32>,
}

impl SparseVec {
    pub fn dot_dense(&self, dense: &[f32]) -> f32 {
        self.idx.iter().zip(&self.val).map(|(&i, &v)| v * dense.get(i as usize).copied().unwrap_or(0.0)).sum()
    }

    /// Dot product of two sorted sparse vectors.
    pub fn dot(&self, other: &SparseVec) -> f32 {
        let (mut a, mut b, mut sum) = (0, 0, 0.0);
        while a < self.idx.len() && b < other.idx.len() {
            match self.idx[a].cmp(&other.idx[b]) {
                std::cmp::Ordering::Less => a += 1,
                std::cmp::Ordering::Greater => b += 1,
                std::cmp::Ordering::Equal => {
                    sum += self.val[a] * other.val[b];
                    a += 1;
                    b += 1;
                }
            }
        }
        sum
    }

    pub fn is_empty(&self) -> bool {
        self.idx.is_empty()
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Vocabulary {
    pub terms: Vec<String>,
    pub idf: Vec<f32>,
    #[serde(skip)]
    index: HashMap<String, u32>,
}

#[derive(Debug, Clone, Copy)]
pub struct TfidfOptions {
    /// Terms in fewer documents are dropped.
    pub min_df: usize,
    /// Terms in more than this share of documents are dropped.
    pub max_df: f32,
    pub max_features: Option<usize>,
}

impl Default for TfidfOptions {
    fn default() -> Self {
        TfidfOptions { min_df: 2, max_df: 0.5, max_features: Some(50_000) }
    }
}

impl Vocabulary {
    /// Learns the vocabulary and idf from tokenised documents.
    pub fn fit(docs: &[Vec<String>], options: TfidfOptions) -> Vocabulary {
        let mut df: HashMap<&str, usize> = HashMap::default();
        for doc in docs {
            let mut seen: Vec<&str> = doc.iter().map(String::as_str).collect();
            seen.sort_unstable();
            seen.dedup();
            for t in seen {
                *df.entry(t).or_insert(0) += 1;
            }
        }
        let n = docs.len().max(1);
        let max_docs = (options.max_df * n as f32).ceil() as usize;
        let mut kept: Vec<(&str, usize)> = df.into_iter().filter(|&(_, d)| d >= options.min_df && d <= max_docs.max(1)).collect();
        // Most frequent first, ties by term, so the vocabulary is deterministic.
        kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        if let Some(max) = options.max_features {
            kept.truncate(max);
        }
        let terms: Vec<String> = kept.iter().map(|(t, _)| (*t).to_owned()).collect();
        let idf = kept.iter().map(|&(_, d)| ((1.0 + n as f32) / (1.0 + d as f32)).ln() + 1.0).collect();
        Vocabulary::from_parts(terms, idf)
    }

    pub fn from_parts(terms: Vec<String>, idf: Vec<f32>) -> Vocabulary {
        let mut vocabulary = Vocabulary { terms, idf, index: HashMap::default() };
        vocabulary.reindex();
        vocabulary
    }

    /// Rebuilds the lookup after deserialising.
    pub fn reindex(&mut self) {
        self.index = self.terms.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
    }

    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The L2-normalised TF-IDF vector of one document (sublinear tf: 1 + ln tf).
    pub fn transform(&self, doc: &[String]) -> SparseVec {
        let mut counts: HashMap<u32, f32> = HashMap::default();
        for t in doc {
            if let Some(&i) = self.index.get(t.as_str()) {
                *counts.entry(i).or_insert(0.0) += 1.0;
            }
        }
        let mut entries: Vec<(u32, f32)> =
            counts.into_iter().map(|(i, tf)| (i, (1.0 + tf.ln()) * self.idf[i as usize])).collect();
        entries.sort_unstable_by_key(|e| e.0);
        let norm = entries.iter().map(|e| e.1 * e.1).sum::<f32>().sqrt();
        if norm > 0.0 {
            for e in &mut entries {
                e.1 /= norm;
            }
        }
        SparseVec { idx: entries.iter().map(|e| e.0).collect(), val: entries.iter().map(|e| e.1).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(texts: &[&str]) -> Vec<Vec<String>> {
        texts.iter().map(|t| t.split(' ').map(str::to_owned).collect()).collect()
    }

    #[test]
    fn vectors_are_unit_length_and_rare_terms_weigh_more() {
        let d = docs(&["排队 慢 窗口", "排队 态度", "排队 慢", "材料 态度"]);
        let vocab = Vocabulary::fit(&d, TfidfOptions { min_df: 1, max_df: 1.0, max_features: None });
        let v = vocab.transform(&d[0]);
        let norm: f32 = v.val.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        let weight = |term: &str| {
            let i = vocab.terms.iter().position(|t| t == term).unwrap() as u32;
            v.val[v.idx.iter().position(|&x| x == i).unwrap()]
        };
        assert!(weight("窗口") > weight("排队"), "rarer term weighs more");
        assert_eq!(v.dot(&v), v.dot_dense(&dense(&v, vocab.len())));
    }

    fn dense(v: &SparseVec, n: usize) -> Vec<f32> {
        let mut d = vec![0.0; n];
        for (&i, &x) in v.idx.iter().zip(&v.val) {
            d[i as usize] = x;
        }
        d
    }

    #[test]
    fn document_frequency_bounds_apply() {
        let d = docs(&["a b", "a c", "a d", "b e"]);
        let vocab = Vocabulary::fit(&d, TfidfOptions { min_df: 2, max_df: 0.5, max_features: None });
        assert_eq!(vocab.terms, vec!["b"], "a is in 3/4 docs, c d e in one");
    }
}
