//! Tokenisation: jieba-rs with the government-service user dictionary, minus stop words.

use rustc_hash::FxHashSet;
use std::borrow::Cow;
use std::sync::OnceLock;

use jieba_rs::Jieba;

const STOP_WORDS: &str = include_str!("../../../nlp-models/stopwords.txt");
const USER_DICT: &str = include_str!("../../../nlp-models/user_dict.txt");

pub struct Tokenizer {
    jieba: Jieba,
    stop: FxHashSet<String>,
}

/// Stop words and user dictionary read from `HCP_NLP_DIR`, set once before first use.
static OVERRIDE: OnceLock<(Option<String>, Option<String>)> = OnceLock::new();

impl Tokenizer {
    /// Takes `stopwords.txt` and `user_dict.txt` from `dir` where it has them (the built-in
    /// ones otherwise); to be called before the first tokenisation. Returns what it took.
    pub fn override_from(dir: &std::path::Path) -> Vec<String> {
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
        let (stop, dict) = (read("stopwords.txt"), read("user_dict.txt"));
        let taken = [("stopwords.txt", stop.is_some()), ("user_dict.txt", dict.is_some())].iter().filter(|(_, t)| *t).map(|(n, _)| dir.join(n).display().to_string()).collect();
        let _ = OVERRIDE.set((stop, dict));
        taken
    }

    fn load() -> Tokenizer {
        let (stop_words, user_dict) = match OVERRIDE.get() {
            Some((stop, dict)) => (stop.as_deref().unwrap_or(STOP_WORDS), dict.as_deref().unwrap_or(USER_DICT)),
            None => (STOP_WORDS, USER_DICT),
        };
        let mut jieba = Jieba::new();
        for line in user_dict.lines() {
            let mut parts = line.split_whitespace();
            if let Some(word) = parts.next() {
                let tag = parts.nth(1);
                // No frequency: jieba then suggests one high enough to keep the term whole,
                // which a fixed small count in the file would not guarantee.
                jieba.add_word(word, None, tag);
            }
        }
        let stop = stop_words.lines().map(str::trim).filter(|w| !w.is_empty()).map(str::to_owned).collect();
        Tokenizer { jieba, stop }
    }

    /// The process-wide tokenizer, built on first use (the dictionary takes ~0.3 s to load).
    pub fn shared() -> &'static Tokenizer {
        static SHARED: OnceLock<Tokenizer> = OnceLock::new();
        SHARED.get_or_init(Tokenizer::load)
    }

    /// Content words of `text`: lower-cased, no stop words, no punctuation, no bare numbers.
    pub fn tokens(&self, text: &str) -> Vec<String> {
        self.tokens_of(text).into_iter().map(Cow::into_owned).collect()
    }

    /// As [`Tokenizer::tokens`], borrowing each word from `text` unless it had to be
    /// lower-cased: clustering tens of thousands of texts then allocates no string per word.
    pub fn tokens_of<'a>(&self, text: &'a str) -> Vec<Cow<'a, str>> {
        self.jieba
            .cut(text, true)
            .into_iter()
            .map(|t| t.word.trim())
            .filter(|t| !t.is_empty() && t.chars().any(char::is_alphabetic))
            .filter(|t| !self.stop.contains(*t))
            // Chinese has no case; only tokens with Latin letters need lowering.
            .map(|t| if t.bytes().any(|b| b.is_ascii_uppercase()) { Cow::Owned(t.to_lowercase()) } else { Cow::Borrowed(t) })
            .collect()
    }

    /// Terms of full-text search (`adapters::search`), each once. A stored text gives jieba's
    /// search mode (each word and the dictionary words inside it: 不动产登记 also gives 不动产,
    /// 登记), a query plain words, so a query's word is among a text's terms wherever the text
    /// has it. Without HMM: its guesses at unknown words depend on the neighbouring characters
    /// and would cut a query differently from the same words in a text. Numbers are kept (a
    /// 12345 work order, 3号窗口), stop words and punctuation go, letters are lower-cased.
    pub fn search_terms(&self, text: &str, stored: bool) -> Vec<String> {
        let words = if stored { self.jieba.cut_for_search(text, false) } else { self.jieba.cut(text, false) };
        let mut seen = FxHashSet::default();
        words
            .into_iter()
            .map(|t| t.word.trim())
            .filter(|t| !t.is_empty() && t.chars().any(char::is_alphanumeric) && !self.stop.contains(*t))
            // No whitespace inside a term: the index stores them space-separated.
            .map(|t| t.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_lowercase).collect::<String>())
            .filter(|t| seen.insert(t.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_terms_stay_whole_and_stop_words_go() {
        let t = Tokenizer::shared();
        let tokens = t.tokens("我们的社保卡申领在窗口排队了两个小时，不动产登记也很慢！");
        assert!(tokens.contains(&"社保卡".to_owned()), "{tokens:?}");
        assert!(tokens.contains(&"不动产登记".to_owned()), "{tokens:?}");
        assert!(tokens.contains(&"排队".to_owned()), "{tokens:?}");
        for gone in ["我们", "的", "了", "，", "！", "很"] {
            assert!(!tokens.contains(&gone.to_owned()), "{gone} kept: {tokens:?}");
        }
    }

    #[test]
    fn numbers_and_punctuation_are_dropped_letters_lowercased() {
        let tokens = Tokenizer::shared().tokens("APP 123 ，。");
        assert_eq!(tokens, vec!["app"]);
    }
}
