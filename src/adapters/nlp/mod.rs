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

/// Items in a share of `len` items when they are spread over the cores, one share each.
pub(crate) fn share_len(len: usize) -> usize {
    len.div_ceil(threads()).max(1)
}

/// `items` in one share per core, in order (fewer shares when there are fewer items).
pub(crate) fn core_shares<T>(items: &[T]) -> Vec<&[T]> {
    items.chunks(share_len(items.len())).collect()
}

/// Applies `f` to every item in parallel chunks, one per core, keeping the order.
pub(crate) fn par_map<'a, T: Sync, U: Send + Default + Clone>(items: &'a [T], f: impl Fn(&'a T) -> U + Sync) -> Vec<U> {
    let mut out: Vec<U> = vec![U::default(); items.len()];
    par_chunks(items, &mut out, |in_chunk, out_chunk| {
        for (item, slot) in in_chunk.iter().zip(out_chunk.iter_mut()) {
            *slot = f(item);
        }
    });
    out
}

/// Splits `items` and `out` alike into one chunk per core and calls `f` on each pair, the last
/// on the calling thread. That thread keeps its own malloc arena; with one more thread than
/// cores, two workers could share the second of the two arenas `serve` allows and queue on its
/// lock (measured: thousands of context switches and tokenising twice as slow, in some runs).
pub(crate) fn par_chunks<'a, T: Sync, U: Send>(items: &'a [T], out: &mut [U], f: impl Fn(&'a [T], &mut [U]) + Sync) {
    let chunk = share_len(items.len());
    let f = &f;
    std::thread::scope(|scope| {
        let mut pairs = items.chunks(chunk).zip(out.chunks_mut(chunk));
        let last = pairs.next_back();
        for (in_chunk, out_chunk) in pairs {
            scope.spawn(move || f(in_chunk, out_chunk));
        }
        if let Some((in_chunk, out_chunk)) = last {
            f(in_chunk, out_chunk);
        }
    });
}
