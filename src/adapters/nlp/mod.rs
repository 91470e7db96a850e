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
