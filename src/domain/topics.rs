//! Topics over time (问题主题) and emerging-issue alerts, as pure code: the weeks comments are
//! clustered in, the centres of clusters as term → weight maps, how a week's clusters are
//! matched to the topics found before, and the statistic that says a topic is surging.
//!
//! Centres are kept over term *strings*, not vocabulary indices: every week is clustered with
//! its own vocabulary, so only the terms themselves can be compared across weeks.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, Utc};

use super::calendar::{local_date, start_of_local_day};

/// A centre or a comment as term → weight, of unit length.
pub type TermVector = BTreeMap<String, f32>;

/// Features a stored centre keeps: a comment has about a dozen words (and their bigrams), a
/// topic's centre a long tail of weights too small to decide a match.
pub const CENTROID_TERMS: usize = 128;

/// A comment joins the topic whose centre is most like it when their cosine reaches this (and
/// a comment left over joins a new group likewise). Measured on the tests' subjects
/// (`insight::topics::tests::thresholds_separate_subjects_and_keep_them_across_weeks`): a
/// comment and its subject's centre of another week 0.20–0.53, other subjects' 0.00–0.10.
pub const JOIN_THRESHOLD: f32 = 0.15;

/// Two clusters of a week's new comments are one subject when their centres' cosine reaches
/// this: the three clusters ten comments on parking were cut into scored 0.21–0.23 with one
/// another, clusters of different subjects 0.00–0.10.
pub const MERGE_THRESHOLD: f32 = 0.2;

/// A new topic needs this many comments in its week.
pub const MIN_NEW_TOPIC: usize = 3;

/// How far a topic's centre moves towards the week's cluster when a week closes: half way, so
/// a topic follows a subject whose wording shifts, while one odd week cannot take it over.
pub const DRIFT: f32 = 0.5;

/// A topic counts as new until it has been found in this many weeks.
pub const SEEN_TO_BE_ESTABLISHED: usize = 2;

/// The rolling windows of the surge test: the last 7 days, against the eight 7-day windows before.
pub const WINDOW_DAYS: i64 = 7;
pub const BASELINE_WINDOWS: usize = 8;
/// Standard deviations above the baseline mean that make a surge.
pub const SURGE_SDS: f64 = 3.0;
/// A surge needs at least this many comments in the last 7 days, whatever the baseline: a
/// topic going 0, 0, … → 3 is noise, not an emerging issue.
pub const MIN_SURGE_COUNT: u32 = 5;
/// Default of `HCP_NEW_TOPIC_ALERT_SIZE`.
pub const DEFAULT_NEW_TOPIC_ALERT_SIZE: u32 = 10;

/// Monday of the week (Monday to Sunday) holding `day`.
pub fn week_start(day: NaiveDate) -> NaiveDate {
    day - Days::new(u64::from(day.weekday().num_days_from_monday()))
}

/// Monday of the Beijing-time week holding `t`.
pub fn week_of(t: DateTime<Utc>) -> NaiveDate {
    week_start(local_date(t))
}

/// The instant a week (given by its Monday) begins, 00:00 Beijing time.
pub fn week_begins(monday: NaiveDate) -> DateTime<Utc> {
    start_of_local_day(monday)
}

/// The instant the week after `monday` begins.
pub fn week_ends(monday: NaiveDate) -> DateTime<Utc> {
    start_of_local_day(monday + Days::new(7))
}

/// A time span `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Window {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }
}

/// The surge test's windows at `at`: the last 7 days (ending just after `at`, so a comment
/// stored at `at` counts) and the eight 7-day windows before it, newest first.
pub fn alert_windows(at: DateTime<Utc>) -> (Window, Vec<Window>) {
    let end = at + Duration::microseconds(1);
    let week = Duration::days(WINDOW_DAYS);
    let current = Window { start: end - week, end };
    let baseline = (1..=BASELINE_WINDOWS as i32)
        .map(|i| Window { start: end - week * (i + 1), end: end - week * i })
        .collect();
    (current, baseline)
}

/// The outcome of the surge test for one topic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Surge {
    pub count: u32,
    pub mean: f64,
    /// The baseline's sample standard deviation, as measured.
    pub sd: f64,
    /// `mean + 3 · max(sd, √mean, 1)`: the count at and above which it is a surge.
    pub threshold: f64,
    pub alert: bool,
}

/// Whether `count` in the last 7 days is a surge over the `baseline` window counts. The
/// deviation is floored at √mean (the spread of a Poisson count of that mean) and at 1: a
/// perfectly flat history (sd 0) would otherwise make any rise a surge of infinitely many
/// deviations. Sample (n − 1) standard deviation: eight windows are a sample of the topic's
/// normal weeks. A surge also needs [`MIN_SURGE_COUNT`] comments.
pub fn surge(count: u32, baseline: &[u32]) -> Surge {
    let n = baseline.len() as f64;
    let mean = if baseline.is_empty() { 0.0 } else { baseline.iter().map(|&c| f64::from(c)).sum::<f64>() / n };
    let sd = if baseline.len() < 2 {
        0.0
    } else {
        (baseline.iter().map(|&c| (f64::from(c) - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    };
    let spread = sd.max(mean.sqrt()).max(1.0);
    let threshold = mean + SURGE_SDS * spread;
    Surge { count, mean, sd, threshold, alert: count >= MIN_SURGE_COUNT && f64::from(count) >= threshold }
}

/// A new topic is alerted on once its comments reach `size`, if it was first seen within the
/// last 7 days (older ones are judged by [`surge`]).
pub fn new_topic_alert(first_seen: DateTime<Utc>, at: DateTime<Utc>, count: u32, size: u32) -> bool {
    first_seen > at - Duration::days(WINDOW_DAYS) && count >= size.max(1)
}

/// Whether a topic found in `weeks_seen` weeks is still new.
pub fn is_new(weeks_seen: usize) -> bool {
    weeks_seen < SEEN_TO_BE_ESTABLISHED
}

/// TF-IDF centres of groups of tokenised comments: sublinear tf, smooth idf over these
/// comments, each comment of unit length, summed per group (`groups[i]` < `k`), the strongest
/// [`CENTROID_TERMS`] kept, of unit length. A group with no terms gets an empty map.
pub fn term_vectors(tokens: &[Vec<String>], groups: &[usize], k: usize) -> Vec<TermVector> {
    let n = tokens.len();
    let mut df: BTreeMap<&str, usize> = BTreeMap::new();
    for doc in tokens {
        let mut seen: Vec<&str> = doc.iter().map(String::as_str).collect();
        seen.sort_unstable();
        seen.dedup();
        for t in seen {
            *df.entry(t).or_insert(0) += 1;
        }
    }
    let idf = |term: &str| ((1.0 + n as f32) / (1.0 + df.get(term).copied().unwrap_or(0) as f32)).ln() + 1.0;
    let mut sums: Vec<BTreeMap<String, f32>> = vec![BTreeMap::new(); k];
    for (doc, &group) in tokens.iter().zip(groups) {
        let Some(sum) = sums.get_mut(group) else { continue };
        let mut tf: BTreeMap<&str, f32> = BTreeMap::new();
        for t in doc {
            *tf.entry(t.as_str()).or_insert(0.0) += 1.0;
        }
        let weights: Vec<(&str, f32)> = tf.into_iter().map(|(t, f)| (t, (1.0 + f.ln()) * idf(t))).collect();
        let norm = weights.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
        if norm > 0.0 {
            for (t, w) in weights {
                *sum.entry(t.to_owned()).or_insert(0.0) += w / norm;
            }
        }
    }
    sums.into_iter().map(truncated).collect()
}

/// The strongest [`CENTROID_TERMS`] of `v`, of unit length.
fn truncated(v: BTreeMap<String, f32>) -> TermVector {
    let mut entries: Vec<(String, f32)> = v.into_iter().filter(|(_, w)| *w > 0.0 && w.is_finite()).collect();
    entries.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    entries.truncate(CENTROID_TERMS);
    let norm = entries.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
    entries.into_iter().map(|(t, w)| (t, w / norm)).collect()
}

/// Cosine of two unit vectors (their dot product).
pub fn cosine(a: &TermVector, b: &TermVector) -> f32 {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    small.iter().filter_map(|(t, w)| large.get(t).map(|v| w * v)).sum()
}

/// `old` moved `drift` of the way towards `new`, of unit length.
pub fn blend(old: &TermVector, new: &TermVector, drift: f32) -> TermVector {
    let mut sum: BTreeMap<String, f32> = old.iter().map(|(t, w)| (t.clone(), w * (1.0 - drift))).collect();
    for (t, w) in new {
        *sum.entry(t.clone()).or_insert(0.0) += w * drift;
    }
    truncated(sum)
}

/// The sum of `parts` weighted by their sizes, of unit length (one topic's clusters of a week).
pub fn weighted_sum(parts: &[(&TermVector, usize)]) -> TermVector {
    let mut sum: BTreeMap<String, f32> = BTreeMap::new();
    for (v, size) in parts {
        for (t, w) in v.iter() {
            *sum.entry(t.clone()).or_insert(0.0) += w * *size as f32;
        }
    }
    truncated(sum)
}

/// The `n` heaviest words (not bigrams), heaviest first.
pub fn top_terms(v: &TermVector, n: usize) -> Vec<String> {
    let mut entries: Vec<(&String, &f32)> = v.iter().filter(|(t, _)| !t.starts_with(BIGRAM)).collect();
    entries.sort_by(|a, b| b.1.total_cmp(a.1).then_with(|| a.0.cmp(b.0)));
    entries.into_iter().take(n).map(|(t, _)| t.clone()).collect()
}

/// Marks a character bigram among a comment's features (see [`features`]).
pub const BIGRAM: char = '~';

/// A comment's features: its words, and the character bigrams of each word of two characters
/// or more (marked with [`BIGRAM`]). jieba cuts the same subject differently — 公积金提取,
/// 住房公积金, 公积金 — and the bigrams (~公积, ~积金) let such comments still meet.
pub fn features(tokens: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(tokens.len() * 3);
    for t in tokens {
        out.push(t.clone());
        let chars: Vec<char> = t.chars().collect();
        if chars.len() >= 2 && chars.iter().all(|c| !c.is_ascii()) {
            for pair in chars.windows(2) {
                out.push(format!("{BIGRAM}{}{}", pair[0], pair[1]));
            }
        }
    }
    out
}

/// The known topics' centres, indexed by feature, to find the topic most like a comment without
/// comparing it with every topic.
pub struct TopicIndex {
    ids: Vec<i64>,
    postings: std::collections::HashMap<String, Vec<(usize, f32)>>,
}

impl TopicIndex {
    pub fn new(topics: &[(i64, &TermVector)]) -> TopicIndex {
        let mut postings: std::collections::HashMap<String, Vec<(usize, f32)>> = std::collections::HashMap::new();
        for (i, (_, centre)) in topics.iter().enumerate() {
            for (term, w) in centre.iter() {
                postings.entry(term.clone()).or_default().push((i, *w));
            }
        }
        TopicIndex { ids: topics.iter().map(|(id, _)| *id).collect(), postings }
    }

    /// The topic most like `comment` (cosine), if one reaches `threshold`; ties go to the older
    /// topic (the smaller id).
    pub fn best(&self, comment: &TermVector, threshold: f32) -> Option<(i64, f32)> {
        let mut scores = vec![0.0f32; self.ids.len()];
        for (term, w) in comment {
            for (i, v) in self.postings.get(term).into_iter().flatten() {
                scores[*i] += w * v;
            }
        }
        scores
            .iter()
            .enumerate()
            .map(|(i, s)| (self.ids[i], *s))
            .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
            .filter(|(_, s)| *s >= threshold && *s > 0.0)
    }
}

/// Rounds of reassignment that settle the new topics of a week.
const SETTLE_ROUNDS: usize = 3;

/// The new topics among a week's comments that fit no known topic: `clusters[i]` (< `k`) is
/// comment `i`'s cluster from the clustering. Clusters whose centres are alike are one subject
/// split in two (k chosen by silhouette on a few dozen comments often splits, or mixes), so
/// they merge (centre cosine ≥ `merge`); then each comment moves to the group whose centre is
/// most like it, or to none below `join` (a stray comment stays outside), a few rounds; groups
/// left with fewer than `min_size` comments are dropped. Returns each comment's group, groups
/// numbered largest first.
pub fn settle_new_topics(vectors: &[TermVector], clusters: &[usize], k: usize, merge: f32, join: f32, min_size: usize) -> Vec<Option<usize>> {
    let centre_of = |members: &[usize]| weighted_sum(&members.iter().map(|&i| (&vectors[i], 1)).collect::<Vec<_>>());
    let mut by_cluster: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (i, &c) in clusters.iter().enumerate() {
        if let Some(m) = by_cluster.get_mut(c) {
            m.push(i);
        }
    }
    by_cluster.retain(|m| !m.is_empty());
    by_cluster.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
    // Merge alike clusters, the most alike pair first, until no pair reaches `merge`
    // (average linkage on the centres: a merged group's centre is taken again).
    let mut groups: Vec<(TermVector, Vec<usize>)> = by_cluster.into_iter().map(|m| (centre_of(&m), m)).collect();
    loop {
        let mut best: Option<(usize, usize, f32)> = None;
        for a in 0..groups.len() {
            for b in a + 1..groups.len() {
                let s = cosine(&groups[a].0, &groups[b].0);
                if s >= merge && best.is_none_or(|(_, _, t)| s > t) {
                    best = Some((a, b, s));
                }
            }
        }
        let Some((a, b, _)) = best else { break };
        let (_, taken) = groups.remove(b);
        groups[a].1.extend(taken);
        groups[a].0 = centre_of(&groups[a].1);
    }
    let mut members: Vec<Vec<usize>> = groups.into_iter().map(|(_, m)| m).collect();
    for _ in 0..SETTLE_ROUNDS {
        // Unnormalised sums: a comment is compared with its own group's centre without itself
        // (else a stray would keep the group it fell in).
        let sums: Vec<TermVector> = members
            .iter()
            .map(|m| {
                let mut sum = TermVector::new();
                for &i in m {
                    for (t, w) in &vectors[i] {
                        *sum.entry(t.clone()).or_insert(0.0) += w;
                    }
                }
                sum
            })
            .collect();
        let norms: Vec<f32> = sums.iter().map(|s| s.values().map(|w| w * w).sum::<f32>()).collect();
        let mut own: Vec<Option<usize>> = vec![None; vectors.len()];
        for (g, m) in members.iter().enumerate() {
            for &i in m {
                own[i] = Some(g);
            }
        }
        let mut next: Vec<Vec<usize>> = vec![Vec::new(); sums.len()];
        for (i, v) in vectors.iter().enumerate() {
            let self_norm: f32 = v.values().map(|w| w * w).sum();
            let best = sums
                .iter()
                .enumerate()
                .map(|(g, sum)| {
                    let dot: f32 = v.iter().filter_map(|(t, w)| sum.get(t).map(|s| w * s)).sum();
                    let (dot, norm) = if own[i] == Some(g) { (dot - self_norm, norms[g] - 2.0 * dot + self_norm) } else { (dot, norms[g]) };
                    (g, if norm > 1e-9 { dot / norm.sqrt() } else { 0.0 })
                })
                .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
                .filter(|(_, s)| *s >= join && *s > 0.0);
            if let Some((g, _)) = best {
                next[g].push(i);
            }
        }
        members = next.into_iter().filter(|m| !m.is_empty()).collect();
    }
    members.retain(|m| m.len() >= min_size);
    members.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
    let mut out = vec![None; vectors.len()];
    for (g, m) in members.iter().enumerate() {
        for &i in m {
            out[i] = Some(g);
        }
    }
    // The comments left over join the settled group most like them, as a comment of a later
    // round would.
    let centres: Vec<(i64, TermVector)> = members.iter().enumerate().map(|(g, m)| (g as i64, centre_of(m))).collect();
    let index = TopicIndex::new(&centres.iter().map(|(g, c)| (*g, c)).collect::<Vec<_>>());
    for (i, slot) in out.iter_mut().enumerate() {
        if slot.is_none() {
            *slot = index.best(&vectors[i], join).and_then(|(g, _)| usize::try_from(g).ok());
        }
    }
    out
}

/// Change of a count against the previous period: absolute, and relative when there was one.
pub fn change(current: i64, previous: i64) -> (i64, Option<f64>) {
    let delta = current - previous;
    (delta, (previous > 0).then(|| delta as f64 / previous as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Asia::Shanghai;

    fn v(pairs: &[(&str, f32)]) -> TermVector {
        truncated(pairs.iter().map(|(t, w)| (t.to_string(), *w)).collect())
    }

    fn toks(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn weeks_are_monday_to_sunday_in_beijing_time() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(week_start(d(2026, 11, 22)), d(2026, 11, 16), "a Sunday belongs to the Monday before");
        assert_eq!(week_start(d(2026, 11, 23)), d(2026, 11, 23));
        // 23:30 UTC on Sunday is 07:30 on Monday in Beijing: the next week.
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 23, 30, 0).unwrap();
        assert_eq!(week_of(t), d(2026, 11, 23));
        assert_eq!(week_begins(d(2026, 11, 23)), Shanghai.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap().with_timezone(&Utc));
        assert_eq!(week_ends(d(2026, 11, 16)), week_begins(d(2026, 11, 23)));
    }

    #[test]
    fn a_planted_surge_is_found_and_a_flat_history_is_not() {
        let flat = [5; 8];
        let s = surge(40, &flat);
        assert!(s.alert, "{s:?}");
        assert_eq!((s.mean, s.sd), (5.0, 0.0));
        // sd 0 is floored at √5: the threshold is 5 + 3·2.236.
        assert!((s.threshold - (5.0 + 3.0 * 5f64.sqrt())).abs() < 1e-9, "{s:?}");
        assert!(!surge(5, &flat).alert);
        assert!(!surge(11, &flat).alert, "under 5 + 3√5 ≈ 11.7");
        assert!(surge(12, &flat).alert);
        // A noisy history needs more.
        let noisy = [2, 9, 4, 8, 3, 10, 5, 7];
        let s = surge(14, &noisy);
        assert!(!s.alert && s.sd > 2.5, "{s:?}");
        assert!(surge(25, &noisy).alert);
    }

    #[test]
    fn from_nothing_a_few_comments_are_no_surge() {
        assert!(!surge(2, &[0; 8]).alert, "0,0,…→2");
        assert!(!surge(4, &[0; 8]).alert, "below the minimum count");
        let s = surge(5, &[0; 8]);
        assert!(s.alert && s.threshold == 3.0, "{s:?}");
        assert!(!surge(0, &[]).alert);
    }

    #[test]
    fn windows_are_the_last_seven_days_and_eight_before() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 4, 0, 0).unwrap();
        let (current, baseline) = alert_windows(at);
        assert!(current.contains(at) && current.contains(at - Duration::days(7) + Duration::seconds(1)));
        assert!(!current.contains(at - Duration::days(7) - Duration::seconds(1)));
        assert_eq!(baseline.len(), 8);
        assert_eq!(baseline[0].end, current.start);
        assert!(baseline.windows(2).all(|w| w[1].end == w[0].start));
        assert_eq!(current.end - baseline[7].start, Duration::days(63));
    }

    #[test]
    fn new_topics_alert_once_they_reach_the_size_within_seven_days() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 4, 0, 0).unwrap();
        assert!(new_topic_alert(at - Duration::days(3), at, 10, 10));
        assert!(!new_topic_alert(at - Duration::days(3), at, 9, 10));
        assert!(!new_topic_alert(at - Duration::days(8), at, 30, 10), "older: the surge test judges it");
        assert!(is_new(1) && !is_new(2));
    }

    #[test]
    fn centres_are_unit_term_maps_and_rarer_terms_weigh_more() {
        let tokens = vec![toks("排队 窗口 慢"), toks("排队 窗口"), toks("态度 窗口"), toks("态度 差 窗口")];
        let c = term_vectors(&tokens, &[0, 0, 1, 1], 2);
        for centre in &c {
            let norm: f32 = centre.values().map(|w| w * w).sum();
            assert!((norm - 1.0).abs() < 1e-5);
        }
        assert!(c[0]["排队"] > c[0]["窗口"], "{:?}", c[0]);
        assert!(!c[0].contains_key("态度"));
        assert!(cosine(&c[0], &c[1]) < 0.5 && (cosine(&c[0], &c[0]) - 1.0).abs() < 1e-5);
        assert_eq!(top_terms(&c[1], 1), vec!["态度"]);
    }

    #[test]
    fn words_get_their_bigrams_so_that_cuts_of_one_subject_meet() {
        let f = features(&[String::from("公积金提取"), String::from("慢"), String::from("app")]);
        assert_eq!(f, ["公积金提取", "~公积", "~积金", "~金提", "~提取", "慢", "app"]);
        let a = term_vectors(&[features(&toks("公积金提取 慢"))], &[0], 1).remove(0);
        let b = term_vectors(&[features(&toks("住房公积金 审核"))], &[0], 1).remove(0);
        assert!(cosine(&a, &b) > 0.2, "they share ~公积 ~积金: {}", cosine(&a, &b));
        assert_eq!(top_terms(&a, 3), vec!["公积金提取", "慢"], "bigrams are not shown as terms");
    }

    #[test]
    fn comments_go_to_the_topic_most_like_them() {
        let queue = v(&[("排队", 0.8), ("等待", 0.5), ("窗口", 0.3)]);
        let attitude = v(&[("态度", 0.8), ("工作人员", 0.5), ("窗口", 0.3)]);
        let index = TopicIndex::new(&[(1, &queue), (2, &attitude)]);
        assert_eq!(index.best(&v(&[("排队", 0.7), ("时间", 0.5), ("窗口", 0.4)]), JOIN_THRESHOLD).map(|b| b.0), Some(1));
        assert_eq!(index.best(&v(&[("态度", 0.9), ("冷淡", 0.4)]), JOIN_THRESHOLD).map(|b| b.0), Some(2));
        assert_eq!(index.best(&v(&[("窗口", 1.0)]), JOIN_THRESHOLD).map(|b| b.0), Some(1), "a tie goes to the older topic");
        assert_eq!(index.best(&v(&[("停车", 1.0)]), JOIN_THRESHOLD), None);
        assert_eq!(TopicIndex::new(&[]).best(&v(&[("停车", 1.0)]), JOIN_THRESHOLD), None);
    }

    #[test]
    fn new_topics_merge_split_clusters_and_leave_strays_out() {
        let fund = |extra: &str| v(&[("公积金", 0.8), (extra, 0.6)]);
        let park = |extra: &str| v(&[("停车", 0.8), (extra, 0.6)]);
        let vectors = vec![fund("提取"), fund("到账"), fund("贷款"), fund("审批"), park("收费"), park("车位"), park("入口"), v(&[("噪音", 1.0)])];
        // k-means split 公积金 in two and put the stray with 停车.
        let clusters = [0, 0, 1, 1, 2, 2, 2, 2];
        let groups = settle_new_topics(&vectors, &clusters, 3, MERGE_THRESHOLD, JOIN_THRESHOLD, MIN_NEW_TOPIC);
        assert_eq!(groups, vec![Some(0), Some(0), Some(0), Some(0), Some(1), Some(1), Some(1), None], "{groups:?}");
        // Too few to be a topic.
        assert_eq!(settle_new_topics(&vectors[4..6], &[0, 0], 1, MERGE_THRESHOLD, JOIN_THRESHOLD, MIN_NEW_TOPIC), vec![None, None]);
    }

    #[test]
    fn a_centre_drifts_but_keeps_its_subject() {
        let old = v(&[("排队", 0.8), ("等待", 0.6)]);
        let new = v(&[("排队", 0.6), ("取号", 0.8)]);
        let moved = blend(&old, &new, DRIFT);
        assert!(moved.contains_key("取号") && moved.contains_key("等待"));
        assert!(cosine(&moved, &old) > cosine(&new, &old) && cosine(&moved, &new) > cosine(&new, &old));
        let norm: f32 = moved.values().map(|w| w * w).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        let merged = weighted_sum(&[(&old, 3), (&new, 1)]);
        assert!(cosine(&merged, &old) > cosine(&merged, &new));
    }

    #[test]
    fn change_against_the_previous_period() {
        assert_eq!(change(12, 8), (4, Some(0.5)));
        assert_eq!(change(3, 0), (3, None));
        assert_eq!(change(0, 4), (-4, Some(-1.0)));
    }
}
