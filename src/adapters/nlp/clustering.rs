//! The clustering pipeline shared by the CLI and the API: tokenise → TF-IDF → LSA (a truncated
//! SVD, for more than a few hundred texts) → k-means (k given or chosen by silhouette) →
//! clusters labelled by their members' top TF-IDF terms and representative comments.

use super::kmeans::{fit, KMeansParams};
use super::lsa;
use super::quality::silhouette;
use super::tfidf::{SparseVec, TfidfOptions, Vocabulary};
use super::tokenize::Tokenizer;
use super::par_map;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KChoice {
    Fixed(usize),
    /// Try every k in the range and keep the best silhouette.
    Auto { min: usize, max: usize },
}

impl std::str::FromStr for KChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "auto" {
            return Ok(KChoice::Auto { min: 2, max: 15 });
        }
        match s.parse::<usize>() {
            Ok(k) if (1..=100).contains(&k) => Ok(KChoice::Fixed(k)),
            _ => Err(format!("k must be 1 to 100 or \"auto\", got {s:?}")),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ClusterOptions {
    pub k: KChoice,
    pub seed: u64,
    pub n_init: usize,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions { k: KChoice::Auto { min: 2, max: 15 }, seed: 42, n_init: 3 }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Cluster {
    /// 0 is the largest cluster.
    pub number: usize,
    pub label: String,
    pub size: usize,
    pub top_terms: Vec<String>,
    /// Indices of the documents closest to the centroid.
    pub representatives: Vec<usize>,
}

/// Why texts cannot be clustered as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    #[error("no texts to cluster")]
    NoTexts,
    #[error("the texts share no terms to cluster on")]
    NoTerms,
    #[error("k = {k} is more than the {distinct} distinct texts there are to cluster; choose k ≤ {distinct}")]
    KTooLarge { k: usize, distinct: usize },
    #[error("only {distinct} distinct texts: k = auto needs at least {needed} ({MIN_PER_CLUSTER} per cluster, 2 clusters); give --k")]
    TooFewForAuto { distinct: usize, needed: usize },
}

/// `k = auto` tries only k that leave clusters of this many distinct texts on average: with
/// fewer, the silhouette rises towards k = n (every text its own cluster) and says nothing.
pub const MIN_PER_CLUSTER: usize = 3;

#[derive(Debug, Clone)]
pub struct ClusterResult {
    pub k: usize,
    /// How k was chosen, in a sentence (given, or the range tried and why).
    pub k_reason: String,
    /// Cluster number of each input document, in input order.
    pub assignment: Vec<usize>,
    pub clusters: Vec<Cluster>,
    /// Sampled cosine silhouette, −1..1.
    pub silhouette: f64,
    pub vocabulary_size: usize,
}

/// From this many distinct texts on, and this many distinct terms per text on average,
/// k-means runs in the LSA space.
const LSA_MIN_TEXTS: usize = 300;
const LSA_MIN_TERMS_PER_TEXT: f64 = 8.0;

/// Silhouette sample when choosing k (where it decides) and when only reporting it.
const SILHOUETTE_SAMPLE: usize = 1000;
const REPORTED_SILHOUETTE_SAMPLE: usize = 500;

/// Tokenises in parallel (jieba is the slowest step).
pub fn tokenize_all(texts: &[String]) -> Vec<Vec<String>> {
    let tokenizer = Tokenizer::shared();
    par_map(texts, |t| tokenizer.tokens(t))
}

/// A document compared by its terms and the bit patterns of their weights (which makes it
/// hashable: weights are never NaN).
struct SameTerms<'a>(&'a SparseVec);

impl PartialEq for SameTerms<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.idx == other.0.idx && self.0.val.iter().map(|v| v.to_bits()).eq(other.0.val.iter().map(|v| v.to_bits()))
    }
}

impl Eq for SameTerms<'_> {}

impl std::hash::Hash for SameTerms<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.idx.hash(state);
        self.0.val.iter().for_each(|v| v.to_bits().hash(state));
    }
}

pub fn cluster_texts(texts: &[String], options: ClusterOptions, progress: &mut dyn FnMut(&str)) -> Result<ClusterResult, ClusterError> {
    if texts.is_empty() {
        return Err(ClusterError::NoTexts);
    }
    // A process that has not loaded the whole dictionary (the `cluster` command) loads the part
    // these texts can use, in less than half the time, and cuts them the same.
    let own_tokenizer;
    let tokenizer = match Tokenizer::loaded() {
        Some(shared) => shared,
        None => {
            own_tokenizer = Tokenizer::for_texts(texts);
            &own_tokenizer
        }
    };
    progress(&format!("tokenising {} texts with jieba", texts.len()));
    let tokens = par_map(texts, |t| tokenizer.tokens_of(t));
    // The 10 000 most frequent terms: a term in two or three of tens of thousands of comments
    // cannot define a cluster, and a smaller centroid table stays in the CPU cache.
    let vocab = Vocabulary::fit(
        &tokens,
        TfidfOptions { min_df: if texts.len() >= 50 { 2 } else { 1 }, max_features: Some(10_000), ..TfidfOptions::default() },
    );
    if vocab.is_empty() {
        return Err(ClusterError::NoTerms);
    }
    progress(&format!("vectorising: {} terms", vocab.len()));
    let docs: Vec<SparseVec> = par_map(&tokens, |t| vocab.transform(t));
    drop(tokens);
    // Texts that say the same thing (the same terms) count once: k-means cannot split them.
    let distinct = {
        let mut seen = rustc_hash::FxHashSet::default();
        docs.iter().filter(|d| !d.is_empty()).filter(|d| seen.insert(SameTerms(d))).count()
    };
    // LSA needs co-occurrence to learn from: below a few hundred texts, or with a handful of
    // terms per text (clauses of 5–6 words), its components describe single texts and k-means on
    // the TF-IDF vectors themselves does better (measured: README, "Speed and quality of clustering").
    let non_empty = docs.iter().filter(|d| !d.is_empty()).count().max(1);
    let terms_per_text = docs.iter().map(|d| d.idx.len()).sum::<usize>() as f64 / non_empty as f64;
    let projected: Vec<SparseVec>;
    let (space, space_dim): (&[SparseVec], usize) = if distinct >= LSA_MIN_TEXTS && terms_per_text >= LSA_MIN_TERMS_PER_TEXT {
        let basis = lsa::fit(&docs, vocab.len(), lsa::COMPONENTS, options.seed);
        progress(&format!("LSA: {} components", basis.components));
        projected = par_map(&docs, |d| basis.project(d));
        (&projected, basis.components)
    } else {
        (&docs, vocab.len())
    };
    let (k, k_reason) = match options.k {
        KChoice::Fixed(k) if k > distinct => return Err(ClusterError::KTooLarge { k, distinct }),
        KChoice::Fixed(k) => (k, format!("k = {k} as given")),
        KChoice::Auto { min, max } => {
            let supported = distinct / MIN_PER_CLUSTER;
            if supported < min.max(2) {
                return Err(ClusterError::TooFewForAuto { distinct, needed: min.max(2) * MIN_PER_CLUSTER });
            }
            let max = max.min(supported);
            let mut best = (min, f64::NEG_INFINITY);
            for k in min..=max {
                let trial = fit(space, space_dim, KMeansParams { k, n_init: 1, max_iter: 50, seed: options.seed });
                let score = silhouette(space, &trial.assignment, k, SILHOUETTE_SAMPLE, options.seed);
                progress(&format!("k = {k}: silhouette {score:.4}"));
                if score > best.1 {
                    best = (k, score);
                }
            }
            let bound = if max < supported || supported > 15 {
                String::new()
            } else {
                format!(", as {distinct} distinct texts support at most {supported} clusters of {MIN_PER_CLUSTER}")
            };
            let reason = format!("k = {} has the best silhouette ({:.3}) of k = {min}..{max}{bound}", best.0, best.1);
            progress(&format!("choosing {reason}"));
            (best.0, reason)
        }
    };
    progress(&format!("k-means: k = {k}, {} starts", options.n_init));
    let result = fit(space, space_dim, KMeansParams { k, n_init: options.n_init, max_iter: 100, seed: options.seed });
    progress(&format!("converged after {} iterations", result.iterations));

    // Number clusters by size, largest first, so the output reads top-down.
    let mut sizes = vec![0usize; k];
    for &c in &result.assignment {
        sizes[c] += 1;
    }
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|a, b| sizes[*b].cmp(&sizes[*a]).then(a.cmp(b)));
    let mut renumber = vec![0usize; k];
    for (new, &old) in order.iter().enumerate() {
        renumber[old] = new;
    }
    let assignment: Vec<usize> = result.assignment.iter().map(|&c| renumber[c]).collect();
    let clusters = order
        .iter()
        .enumerate()
        .map(|(number, &old)| {
            let centroid = &result.centroids[old];
            // Labels come from the members' TF-IDF (the LSA components are not terms).
            let mut term_sums = vec![0.0f32; vocab.len()];
            for (doc, _) in docs.iter().zip(&result.assignment).filter(|(_, &c)| c == old) {
                for (&i, &v) in doc.idx.iter().zip(&doc.val) {
                    term_sums[i as usize] += v;
                }
            }
            let mut weights: Vec<(usize, f32)> = term_sums.into_iter().enumerate().filter(|(_, w)| *w > 0.0).collect();
            weights.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let top_terms: Vec<String> = weights.iter().take(8).map(|(i, _)| vocab.terms[*i].clone()).collect();
            let mut members: Vec<(usize, f32)> = result
                .assignment
                .iter()
                .enumerate()
                .filter(|(_, &c)| c == old)
                .map(|(i, _)| (i, space[i].dot_dense(centroid)))
                .collect();
            members.sort_by(|a, b| b.1.total_cmp(&a.1));
            let mut representatives: Vec<usize> = Vec::new();
            for (i, _) in members {
                if !representatives.iter().any(|&r| texts[r] == texts[i]) {
                    representatives.push(i);
                }
                if representatives.len() == 3 {
                    break;
                }
            }
            Cluster {
                number,
                label: top_terms.iter().take(3).cloned().collect::<Vec<_>>().join("·"),
                size: sizes[old],
                top_terms,
                representatives,
            }
        })
        .collect();
    let silhouette = silhouette(space, &assignment, k, REPORTED_SILHOUETTE_SAMPLE, options.seed);
    Ok(ClusterResult { k, k_reason, assignment, clusters, silhouette, vocabulary_size: vocab.len() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::nlp::quality::nmi;
    use rand::rngs::StdRng;
    use rand::seq::SliceRandom;
    use rand::SeedableRng;

    fn corpus() -> (Vec<String>, Vec<usize>) {
        let topics: [&[&str]; 3] = [
            &["排队时间太长，等了两个小时", "窗口排队的人太多，取号后等很久", "排队排了一上午还没轮到",
              "排队的队伍很长，等候时间长", "早上七点去排队，中午才办上", "取号排队要等三个小时"],
            &["工作人员态度不好，不耐烦", "窗口人员态度差，问两句就发火", "工作人员态度很差，爱理不理",
              "工作人员态度不好，说话很冲", "服务人员态度冷淡，不理人", "咨询时工作人员态度敷衍"],
            &["公积金提取一直不到账", "住房公积金提取审核太慢", "公积金提取材料被退回好几次",
              "公积金贷款审批迟迟不通过", "公积金账户余额查询不到", "公积金提取到账要一个月"],
        ];
        let mut texts = Vec::new();
        let mut truth = Vec::new();
        for (t, topic) in topics.iter().enumerate() {
            for s in topic.iter() {
                texts.push(s.to_string());
                truth.push(t);
            }
        }
        (texts, truth)
    }

    #[test]
    fn topics_of_real_sounding_comments_are_separated() {
        let (texts, truth) = corpus();
        let r = cluster_texts(&texts, ClusterOptions { k: KChoice::Fixed(3), seed: 1, n_init: 3 }, &mut |_| {}).unwrap();
        assert!(nmi(&truth, &r.assignment) > 0.9, "nmi {} {:?}", nmi(&truth, &r.assignment), r.clusters);
        assert_eq!(r.clusters.iter().map(|c| c.size).sum::<usize>(), texts.len());
        assert!(r.clusters.windows(2).all(|w| w[0].size >= w[1].size), "largest first");
        let labels: Vec<&str> = r.clusters.iter().map(|c| c.label.as_str()).collect();
        assert!(labels.iter().any(|l| l.contains("公积金")), "{labels:?}");
    }

    #[test]
    fn hundreds_of_texts_cluster_in_the_lsa_space_by_subject() {
        // Three subjects, each with its own pool of words; every text draws eight of them (LSA
        // needs texts of more than a handful of terms).
        let pools: [&[&str]; 3] = [
            &["排队", "窗口", "取号", "等候", "大厅", "叫号", "人多", "上午", "下午", "队伍", "拥挤", "座位", "号码", "长队"],
            &["态度", "工作人员", "耐心", "解释", "服务", "冷淡", "敷衍", "回答", "语气", "脸色", "礼貌", "微笑", "争吵", "训斥"],
            &["公积金", "提取", "贷款", "到账", "审批", "账户", "余额", "缴存", "还款", "额度", "利率", "房贷", "流水", "单位"],
        ];
        let mut rng = StdRng::seed_from_u64(5);
        let mut texts = Vec::new();
        let mut truth = Vec::new();
        while texts.len() < 450 {
            let subject = texts.len() % 3;
            let mut words: Vec<&str> = pools[subject].to_vec();
            words.shuffle(&mut rng);
            let text = words[..8].join("，");
            if !texts.contains(&text) {
                texts.push(text);
                truth.push(subject);
            }
        }
        let r = cluster_texts(&texts, ClusterOptions { k: KChoice::Fixed(3), seed: 3, n_init: 3 }, &mut |_| {}).unwrap();
        assert!(nmi(&truth, &r.assignment) > 0.95, "nmi {}", nmi(&truth, &r.assignment));
        let labels: Vec<&str> = r.clusters.iter().map(|c| c.label.as_str()).collect();
        assert!(r.clusters.iter().any(|c| c.top_terms.contains(&"公积金".to_owned())), "{labels:?}");
    }

    #[test]
    fn k_is_bounded_by_what_the_texts_support() {
        let (texts, _) = corpus();
        // 18 distinct texts: auto tries at most 6 clusters; a k above 18 is refused, not cut.
        let r = cluster_texts(&texts, ClusterOptions::default(), &mut |_| {}).unwrap();
        assert!(r.k <= 6 && r.k_reason.contains("at most 6"), "{} — {}", r.k, r.k_reason);
        assert_eq!(
            cluster_texts(&texts, ClusterOptions { k: KChoice::Fixed(50), ..ClusterOptions::default() }, &mut |_| {}).err(),
            Some(ClusterError::KTooLarge { k: 50, distinct: 18 })
        );
        // Repeats count once.
        let repeated: Vec<String> = texts.iter().take(5).cycle().take(40).cloned().collect();
        assert_eq!(
            cluster_texts(&repeated, ClusterOptions::default(), &mut |_| {}).err(),
            Some(ClusterError::TooFewForAuto { distinct: 5, needed: 6 })
        );
        assert!(cluster_texts(&repeated, ClusterOptions { k: KChoice::Fixed(5), ..ClusterOptions::default() }, &mut |_| {}).is_ok());
    }

    #[test]
    fn auto_k_finds_the_three_topics() {
        let (texts, _) = corpus();
        let r = cluster_texts(&texts, ClusterOptions { k: KChoice::Auto { min: 2, max: 6 }, seed: 1, n_init: 2 }, &mut |_| {}).unwrap();
        assert_eq!(r.k, 3);
    }

    #[test]
    fn k_parses() {
        assert_eq!("auto".parse::<KChoice>(), Ok(KChoice::Auto { min: 2, max: 15 }));
        assert_eq!("10".parse::<KChoice>(), Ok(KChoice::Fixed(10)));
        assert!("0".parse::<KChoice>().is_err());
        assert!("ten".parse::<KChoice>().is_err());
    }
}
