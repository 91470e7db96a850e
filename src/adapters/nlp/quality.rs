//! Quality figures: NMI between two labelings, macro-F1 of a classifier, and the silhouette of
//! a clustering (cosine distance, on a sample).

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::par_map;
use super::tfidf::SparseVec;

/// Normalised mutual information with the arithmetic mean of the entropies (sklearn's default).
pub fn nmi<A: Eq + std::hash::Hash, B: Eq + std::hash::Hash>(truth: &[A], predicted: &[B]) -> f64 {
    let n = truth.len().min(predicted.len());
    if n == 0 {
        return 0.0;
    }
    let mut joint: HashMap<(&A, &B), f64> = HashMap::new();
    let mut ta: HashMap<&A, f64> = HashMap::new();
    let mut pb: HashMap<&B, f64> = HashMap::new();
    for (a, b) in truth.iter().zip(predicted).take(n) {
        *joint.entry((a, b)).or_insert(0.0) += 1.0;
        *ta.entry(a).or_insert(0.0) += 1.0;
        *pb.entry(b).or_insert(0.0) += 1.0;
    }
    let n = n as f64;
    let entropy = |counts: &dyn Fn() -> Vec<f64>| -> f64 { counts().iter().map(|&c| -(c / n) * (c / n).ln()).sum() };
    let ha = entropy(&|| ta.values().copied().collect());
    let hb = entropy(&|| pb.values().copied().collect());
    let mi: f64 = joint
        .iter()
        .map(|((a, b), &c)| {
            let pab = c / n;
            pab * (pab / ((ta[a] / n) * (pb[b] / n))).ln()
        })
        .sum();
    let denominator = (ha + hb) / 2.0;
    if denominator <= 0.0 {
        if ha == hb { 1.0 } else { 0.0 }
    } else {
        (mi / denominator).clamp(0.0, 1.0)
    }
}

/// Macro-averaged F1 over the labels present in `truth` or `predicted`.
pub fn macro_f1<L: Ord>(truth: &[L], predicted: &[L]) -> f64 {
    let mut labels: Vec<&L> = truth.iter().chain(predicted).collect();
    labels.sort_unstable();
    labels.dedup();
    if labels.is_empty() {
        return 0.0;
    }
    let f1s: Vec<f64> = labels
        .iter()
        .map(|label| {
            let tp = truth.iter().zip(predicted).filter(|&(t, p)| t == *label && p == *label).count() as f64;
            let fp = truth.iter().zip(predicted).filter(|&(t, p)| t != *label && p == *label).count() as f64;
            let fne = truth.iter().zip(predicted).filter(|&(t, p)| t == *label && p != *label).count() as f64;
            if tp == 0.0 { 0.0 } else { 2.0 * tp / (2.0 * tp + fp + fne) }
        })
        .collect();
    f1s.iter().sum::<f64>() / f1s.len() as f64
}

/// Mean silhouette with cosine distance over a random sample of at most `sample` documents
/// (the exact figure is quadratic in the number of documents).
pub fn silhouette(docs: &[SparseVec], assignment: &[usize], k: usize, sample: usize, seed: u64) -> f64 {
    let mut indices: Vec<usize> = (0..docs.len()).filter(|&i| !docs[i].is_empty()).collect();
    indices.shuffle(&mut StdRng::seed_from_u64(seed));
    indices.truncate(sample);
    if k < 2 || indices.len() < 3 {
        return 0.0;
    }
    // Each sampled document's silhouette on its own core; summed in sample order, so the figure
    // does not depend on the number of cores.
    let indices = &indices;
    let scores = par_map(indices, |&i| {
        let mut sum = vec![0.0f64; k];
        let mut count = vec![0usize; k];
        for &j in indices {
            if i == j {
                continue;
            }
            let distance = 1.0 - f64::from(docs[i].dot(&docs[j]));
            sum[assignment[j]] += distance;
            count[assignment[j]] += 1;
        }
        let own = assignment[i];
        if count[own] == 0 {
            return None; // A singleton's silhouette is 0 by convention.
        }
        let a = sum[own] / count[own] as f64;
        let b = (0..k).filter(|&c| c != own && count[c] > 0).map(|c| sum[c] / count[c] as f64).fold(f64::INFINITY, f64::min);
        Some(if b.is_finite() { (b - a) / a.max(b).max(f64::EPSILON) } else { 0.0 })
    });
    let counted = scores.iter().flatten().count();
    let total: f64 = scores.iter().flatten().sum();
    if counted == 0 { 0.0 } else { total / counted as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nmi_is_one_for_a_relabelling_and_zero_for_independence() {
        assert!((nmi(&[0, 0, 1, 1, 2, 2], &["b", "b", "c", "c", "a", "a"]) - 1.0).abs() < 1e-9);
        assert!(nmi(&[0, 0, 1, 1], &[0, 1, 0, 1]).abs() < 1e-9);
        // sklearn: normalized_mutual_info_score([0,0,1,1,2,2],[0,0,1,2,2,2]) = 0.7396673768007592
        let v = nmi(&[0, 0, 1, 1, 2, 2], &[0, 0, 1, 2, 2, 2]);
        assert!((v - 0.739_667_376_800_759_2).abs() < 1e-9, "{v}");
    }

    #[test]
    fn macro_f1_matches_a_hand_count() {
        let t: Vec<String> = ["a", "a", "b", "b"].iter().map(|s| s.to_string()).collect();
        let p: Vec<String> = ["a", "b", "b", "b"].iter().map(|s| s.to_string()).collect();
        // a: tp1 fp0 fn1 → 2/3; b: tp2 fp1 fn0 → 4/5.
        assert!((macro_f1(&t, &p) - (2.0 / 3.0 + 0.8) / 2.0).abs() < 1e-9);
    }
}
