//! Tokenisation: jieba-rs with the government-service user dictionary, minus stop words.

use rustc_hash::FxHashSet;
use std::borrow::Cow;
use std::sync::OnceLock;

use jieba_rs::Jieba;

use super::{core_shares, par_map};

const STOP_WORDS: &str = include_str!("../../../nlp-models/stopwords.txt");
const USER_DICT: &str = include_str!("../../../nlp-models/user_dict.txt");
/// jieba's own dictionary (jieba-rs's `dict.txt`), carried here rather than taken from the crate
/// so that [`Tokenizer::for_texts`] can load only the part of it a corpus can use.
const JIEBA_DICT: &str = include_str!("../../../nlp-models/jieba_dict.txt");

pub struct Tokenizer {
    jieba: Jieba,
    stop: FxHashSet<String>,
}

static SHARED: OnceLock<Tokenizer> = OnceLock::new();

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

    fn user_dict_and_stop_words() -> (&'static str, &'static str) {
        match OVERRIDE.get() {
            Some((stop, dict)) => (stop.as_deref().unwrap_or(STOP_WORDS), dict.as_deref().unwrap_or(USER_DICT)),
            None => (STOP_WORDS, USER_DICT),
        }
    }

    fn load() -> Tokenizer {
        Tokenizer::with_base_dictionary(JIEBA_DICT)
    }

    /// A tokenizer that cuts `texts` exactly as [`Tokenizer::shared`] does, built in less than
    /// half its time (0.04 s instead of 0.09 s for 60 000 comments, on both cores), for a command
    /// that tokenises one corpus and exits. It must not be given other texts.
    ///
    /// jieba cuts a text by the dictionary words found inside it, each weighed by its frequency
    /// over the dictionary's total; a word that is not part of any of the texts plays no part.
    /// So only the words whose every pair of neighbouring characters occurs in the texts are
    /// loaded (about one in six for 60 000 comments), and the frequencies of the others go to
    /// one placeholder word no text contains, which keeps the total, and so every weight, as it
    /// was. The user dictionary's words count among the texts: jieba cuts them to weigh them.
    pub fn for_texts<T: AsRef<str> + Sync>(texts: &[T]) -> Tokenizer {
        let (_, user_dict) = Tokenizer::user_dict_and_stop_words();
        let user_words: Vec<&str> = user_dict.lines().filter_map(|l| l.split_whitespace().next()).collect();
        let mut seen = par_map(&core_shares(texts), |share| character_pairs(share.iter().map(AsRef::as_ref)));
        seen.push(character_pairs(user_words.iter().copied()));
        let seen = &seen;
        let occurs = |key: u64| seen.iter().any(|pairs| pairs.contains(&key));
        let kept = par_map(&line_shares(JIEBA_DICT, super::threads()), |share| {
            let (mut lines, mut dropped_frequency) = (Vec::new(), 0usize);
            for line in share.lines() {
                let mut fields = line.split_ascii_whitespace();
                let Some(word) = fields.next() else { continue };
                if pair_keys(word).all(occurs) {
                    lines.push(line);
                } else {
                    dropped_frequency += fields.next().and_then(|f| f.parse::<usize>().ok()).unwrap_or(0);
                }
            }
            (lines, dropped_frequency)
        });
        let mut dictionary = String::new();
        let mut dropped_frequency = 0;
        for (lines, dropped) in kept {
            for line in lines {
                dictionary.push_str(line);
                dictionary.push('\n');
            }
            dropped_frequency += dropped;
        }
        // A private-use character none of the texts has: the placeholder can never be cut out.
        if let Some(placeholder) = ('\u{e000}'..='\u{f8ff}').find(|&c| !occurs(pair_key(c, None))) {
            dictionary.push_str(&format!("{placeholder} {dropped_frequency}\n"));
        }
        Tokenizer::with_base_dictionary(&dictionary)
    }

    /// jieba over `dictionary` (jieba's `word freq tag` lines), then the user dictionary.
    fn with_base_dictionary(dictionary: &str) -> Tokenizer {
        let (stop_words, user_dict) = Tokenizer::user_dict_and_stop_words();
        // The dictionary is compiled in (or built from it above): it always parses.
        let mut jieba = Jieba::with_dict(&mut dictionary.as_bytes()).unwrap_or_else(|e| panic!("jieba dictionary: {e}"));
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

    /// The process-wide tokenizer, built on first use (the dictionary takes ~0.1 s to load).
    pub fn shared() -> &'static Tokenizer {
        SHARED.get_or_init(Tokenizer::load)
    }

    /// The process-wide tokenizer if it has been built already.
    pub fn loaded() -> Option<&'static Tokenizer> {
        SHARED.get()
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
            .filter(|t| !t.is_empty() && t.chars().any(is_letter))
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

/// `char::is_alphabetic`, answering for the common CJK ideographs without its table search.
fn is_letter(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c) || c.is_alphabetic()
}

/// A pair of neighbouring characters, or with `None` a character on its own.
fn pair_key(first: char, second: Option<char>) -> u64 {
    (u64::from(u32::from(first)) << 32) | second.map_or(u64::from(u32::MAX), |c| u64::from(u32::from(c)))
}

/// The keys a word needs to be found in a text: its character pairs, or its one character.
fn pair_keys(word: &str) -> impl Iterator<Item = u64> + '_ {
    let mut chars = word.chars();
    let first = chars.next();
    let single = first.filter(|_| chars.next().is_none()).map(|c| pair_key(c, None));
    word.chars().zip(word.chars().skip(1)).map(|(a, b)| pair_key(a, Some(b))).chain(single)
}

/// Every character and pair of neighbouring characters of `texts`.
fn character_pairs<'a>(texts: impl Iterator<Item = &'a str>) -> FxHashSet<u64> {
    let mut pairs = FxHashSet::default();
    for text in texts {
        let mut previous: Option<char> = None;
        for c in text.chars() {
            pairs.insert(pair_key(c, None));
            if let Some(p) = previous {
                pairs.insert(pair_key(p, Some(c)));
            }
            previous = Some(c);
        }
    }
    pairs
}

/// `text` cut into about `n` pieces of whole lines.
fn line_shares(text: &str, n: usize) -> Vec<&str> {
    let mut shares = Vec::with_capacity(n);
    let mut rest = text;
    for pieces_left in (2..=n.max(1)).rev() {
        let cut = rest.len() / pieces_left;
        let Some(newline) = rest.as_bytes()[cut..].iter().position(|&b| b == b'\n') else { break };
        let (share, tail) = rest.split_at(cut + newline + 1);
        shares.push(share);
        rest = tail;
    }
    shares.push(rest);
    shares
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

    /// Every way the tokenizer cuts a text: with and without the HMM, and jieba's search mode.
    fn cuts<'a>(t: &Tokenizer, text: &'a str) -> [Vec<&'a str>; 3] {
        let words = |tokens: Vec<jieba_rs::Token<'a>>| tokens.into_iter().map(|t| t.word).collect();
        [words(t.jieba.cut(text, true)), words(t.jieba.cut(text, false)), words(t.jieba.cut_for_search(text, true))]
    }

    #[test]
    fn a_tokenizer_for_some_texts_cuts_them_as_the_whole_dictionary_does() {
        use rand::seq::SliceRandom;
        use rand::{Rng, SeedableRng};
        let mut texts: Vec<String> = [
            "我们的社保卡申领在窗口排队了两个小时，不动产登记也很慢！",
            "一网通办APP上传材料总是失败，客服电话12345打不通",
            "王小明在市民中心3号窗口办理营业执照，工作人员态度很好",
            "公积金提取审核太慢，等了一个月还没到账，要求尽快处理",
            "小区门口的共享单车乱停乱放，占用盲道，希望城管部门整治",
            "长江大桥 南京市长 研究生命起源 结婚的和尚未结婚的",
        ]
        .map(str::to_owned)
        .to_vec();
        // Random strings over the characters of those texts: unknown words for the HMM,
        // dictionary words across odd boundaries, runs of Latin letters and digits.
        let alphabet: Vec<char> = texts.concat().chars().collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(20);
        for _ in 0..2000 {
            let len = rng.gen_range(1..30);
            texts.push((0..len).map(|_| *alphabet.choose(&mut rng).unwrap_or(&'的')).collect());
        }
        let whole = Tokenizer::shared();
        let part = Tokenizer::for_texts(&texts);
        for text in &texts {
            assert_eq!(cuts(&part, text), cuts(whole, text), "{text}");
            assert_eq!(part.tokens_of(text), whole.tokens_of(text), "{text}");
        }
        // The part is small: most dictionary words cannot occur in these texts.
        assert!(part.jieba.has_word("不动产登记") && part.jieba.has_word("社保卡") && part.jieba.has_word("排队"));
        assert!(whole.jieba.has_word("葡萄酒") && !part.jieba.has_word("葡萄酒"));
    }

    #[test]
    fn dictionary_shares_are_whole_lines_and_cover_it() {
        let text = "一 1 n\n二 2 n\n三 3 n\n四 4 n\n五 5 n\n";
        for n in 1..=4 {
            let shares = line_shares(text, n);
            assert_eq!(shares.concat(), text, "{n}");
            assert!(shares.iter().all(|s| s.is_empty() || s.ends_with('\n')), "{shares:?}");
        }
        assert_eq!(line_shares(text, 2), vec!["一 1 n\n二 2 n\n三 3 n\n", "四 4 n\n五 5 n\n"]);
    }

    #[test]
    fn numbers_and_punctuation_are_dropped_letters_lowercased() {
        let tokens = Tokenizer::shared().tokens("APP 123 ，。");
        assert_eq!(tokens, vec!["app"]);
    }
}
