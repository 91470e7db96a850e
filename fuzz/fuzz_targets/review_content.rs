//! A review's stars, tags and comment, then the comment through jieba tokenisation as the
//! analytics see it: never a panic, and what is accepted respects the limits.
#![no_main]

use haochaping::domain::intake_rules::ReviewContent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (i64, Vec<String>, Option<String>)| {
    let (stars, tags, comment) = input;
    if let Ok(content) = ReviewContent::parse(stars, tags, comment.clone()) {
        assert!((1..=5).contains(&i64::from(content.stars.get())));
        assert!(content.comment.as_deref().map_or(0, |c| c.chars().count()) <= 2000);
    }
    if let Some(text) = comment {
        let _ = haochaping::adapters::nlp::tokenize::Tokenizer::shared().tokens(&text);
    }
});
