//! Text analytics (SPEC §5): jieba tokenisation, TF-IDF, clustering of comments, and the
//! complaint router.

pub mod clustering;
pub mod kmeans;
pub mod lbfgs;
pub mod lsa;
pub mod quality;
pub mod router;
pub mod routing;
pub mod tfidf;
pub mod tokenize;

/// Cores to spread a pass over (at most eight: the passes here are short).
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 8)
}

/// Applies `f` to every item in parallel chunks, one per core, keeping the order.
pub(crate) fn par_map<'a, T: Sync, U: Send + Default + Clone>(items: &'a [T], f: impl Fn(&'a T) -> U + Sync) -> Vec<U> {
    let chunk = items.len().div_ceil(threads()).max(1);
    let mut out: Vec<U> = vec![U::default(); items.len()];
    let f = &f;
    std::thread::scope(|scope| {
        for (in_chunk, out_chunk) in items.chunks(chunk).zip(out.chunks_mut(chunk)) {
            scope.spawn(move || {
                for (item, slot) in in_chunk.iter().zip(out_chunk.iter_mut()) {
                    *slot = f(item);
                }
            });
        }
    });
    out
}
