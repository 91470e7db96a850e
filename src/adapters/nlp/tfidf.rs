//! TF-IDF over token lists, as sparse L2-normalised vectors (sklearn's smooth idf and
//! sublinear tf), which is what makes k-means on 60 k comments cheap: a comment touches a dozen
//! of the vocabulary's tens of thousands of terms.

use rustc_hash::FxHashMap as HashMap;

use super::{core_shares, par_map};

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
    pub fn fit<T: AsRef<str> + Sync>(docs: &[Vec<T>], options: TfidfOptions) -> Vocabulary {
        // Document frequencies, counted per core over a share of the documents and then added
        // up. Each count remembers the last document it was raised for, so a term repeated in
        // one document counts once without sorting the document's terms.
        let shares = par_map(&core_shares(docs), |share| {
            let mut df: HashMap<&str, (usize, usize)> = HashMap::default();
            for (n, doc) in share.iter().enumerate() {
                for t in doc {
                    let (count, last) = df.entry(t.as_ref()).or_insert((0, usize::MAX));
                    if *last != n {
                        *count += 1;
                        *last = n;
                    }
                }
            }
            df
        });
        let mut df: HashMap<&str, usize> = HashMap::default();
        for share in shares {
            for (t, (d, _)) in share {
                *df.entry(t).or_insert(0) += d;
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
    pub fn transform<T: AsRef<str>>(&self, doc: &[T]) -> SparseVec {
        let mut ids: Vec<u32> = doc.iter().filter_map(|t| self.index.get(t.as_ref()).copied()).collect();
        ids.sort_unstable();
        // A term's occurrences are now one run: its length is the term's count.
        let (idx, mut val): (Vec<u32>, Vec<f32>) =
            ids.chunk_by(|a, b| a == b).map(|run| (run[0], (1.0 + (run.len() as f32).ln()) * self.idf[run[0] as usize])).unzip();
        let norm = val.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            val.iter_mut().for_each(|v| *v /= norm);
        }
        SparseVec { idx, val }
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
    fn a_term_repeated_in_a_document_counts_once_for_idf_and_as_log_tf_for_its_weight() {
        // Enough documents for every core to count a share: "x" is in all 9, three times in each.
        let mut d = docs(&["x x x", "x x x y", "x x x", "x x x", "x x x", "x x x", "x x x", "x x x", "x x x y"]);
        d.push(vec!["y".to_owned(), "y".to_owned(), "z".to_owned()]);
        let vocab = Vocabulary::fit(&d, TfidfOptions { min_df: 1, max_df: 1.0, max_features: None });
        let idf = |term: &str| vocab.idf[vocab.terms.iter().position(|t| t == term).unwrap()];
        let expected = |df: f32| ((1.0 + 10.0) / (1.0 + df)).ln() + 1.0;
        assert!((idf("x") - expected(9.0)).abs() < 1e-6, "x is in 9 documents");
        assert!((idf("y") - expected(3.0)).abs() < 1e-6, "y is in 3 documents");
        let v = vocab.transform(&d[9]);
        let (y, z) = ((1.0 + 2f32.ln()) * expected(3.0), expected(1.0));
        let norm = (y * y + z * z).sqrt();
        let weight = |term: &str| v.val[v.idx.iter().position(|&i| vocab.terms[i as usize] == term).unwrap()];
        assert!((weight("y") - y / norm).abs() < 1e-6 && (weight("z") - z / norm).abs() < 1e-6, "{v:?}");
    }

    #[test]
    fn document_frequency_bounds_apply() {
        let d = docs(&["a b", "a c", "a d", "b e"]);
        let vocab = Vocabulary::fit(&d, TfidfOptions { min_df: 2, max_df: 0.5, max_features: None });
        assert_eq!(vocab.terms, vec!["b"], "a is in 3/4 docs, c d e in one");
    }
}
