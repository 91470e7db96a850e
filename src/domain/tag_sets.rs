//! 评价标签: the tags a rating may carry, one versioned set per grade band (GB/T 39735 asks for
//! "版本化管理" of the rating content). A review's tags must belong to its band's set in force,
//! and the review keeps the version it was rated under, so last year's figures still read
//! against last year's tags.

use super::grade::Stars;
use super::intake_rules::{check_text, FieldError, ReviewContent, MAX_TAG_CHARS};

/// The most tags one set may offer: a phone screen's worth.
pub const MAX_TAGS_PER_SET: usize = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GradeBand {
    /// 差评: 1–2 stars.
    Bad,
    /// 基本满意: 3 stars.
    Basic,
    /// 好评: 4–5 stars.
    Good,
}

impl GradeBand {
    pub const ALL: [GradeBand; 3] = [GradeBand::Bad, GradeBand::Basic, GradeBand::Good];

    pub fn of(stars: Stars) -> GradeBand {
        match stars.get() {
            1 | 2 => GradeBand::Bad,
            3 => GradeBand::Basic,
            _ => GradeBand::Good,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GradeBand::Bad => "bad",
            GradeBand::Basic => "basic",
            GradeBand::Good => "good",
        }
    }

    pub fn parse(text: &str) -> Option<GradeBand> {
        GradeBand::ALL.into_iter().find(|b| b.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            GradeBand::Bad => "差评（1–2 星）",
            GradeBand::Basic => "基本满意（3 星）",
            GradeBand::Good => "好评（4–5 星）",
        }
    }

    /// The built-in first version, seeded into an empty database.
    fn builtin_tags(self) -> &'static [&'static str] {
        match self {
            GradeBand::Bad => &["等待时间长", "态度不好", "材料要求不清", "多次跑腿", "办理效率低", "系统故障", "政策解释不清", "收费不合理"],
            GradeBand::Basic => &["基本顺利", "流程可以简化", "指引不够清楚", "等待稍久"],
            GradeBand::Good => &["热情周到", "一次办好", "效率高", "解释清楚", "环境舒适", "主动帮办"],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSet {
    pub band: GradeBand,
    pub version: i32,
    pub tags: Vec<String>,
}

impl TagSet {
    /// Version 1 of a band: what a new district starts with.
    pub fn builtin(band: GradeBand) -> TagSet {
        TagSet { band, version: 1, tags: band.builtin_tags().iter().map(|t| (*t).to_owned()).collect() }
    }
}

/// The set in force of each band.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSets {
    bad: TagSet,
    basic: TagSet,
    good: TagSet,
}

impl Default for TagSets {
    fn default() -> TagSets {
        TagSets { bad: TagSet::builtin(GradeBand::Bad), basic: TagSet::builtin(GradeBand::Basic), good: TagSet::builtin(GradeBand::Good) }
    }
}

impl TagSets {
    /// The newest version of each band among `sets`; a band without one keeps the built-in set.
    pub fn newest_of(sets: impl IntoIterator<Item = TagSet>) -> TagSets {
        let mut current = TagSets::default();
        let mut seen = [false; 3];
        for set in sets {
            let slot = GradeBand::ALL.iter().position(|b| *b == set.band).unwrap_or(0);
            let held = current.of_mut(set.band);
            if !seen[slot] || set.version > held.version {
                *held = set;
                seen[slot] = true;
            }
        }
        current
    }

    pub fn of(&self, band: GradeBand) -> &TagSet {
        match band {
            GradeBand::Bad => &self.bad,
            GradeBand::Basic => &self.basic,
            GradeBand::Good => &self.good,
        }
    }

    fn of_mut(&mut self, band: GradeBand) -> &mut TagSet {
        match band {
            GradeBand::Bad => &mut self.bad,
            GradeBand::Basic => &mut self.basic,
            GradeBand::Good => &mut self.good,
        }
    }

    /// The version a review is rated under, once each of its tags is found in its band's set.
    pub fn check(&self, content: &ReviewContent) -> Result<i32, FieldError> {
        let set = self.of(GradeBand::of(content.stars));
        match content.tags.iter().find(|t| !set.tags.contains(t)) {
            None => Ok(set.version),
            Some(unknown) => Err(FieldError::new(
                "tags",
                format!("unknown tag {unknown:?} for a {} rating; its tags (version {}) are: {}", set.band.as_str(), set.version, set.tags.join("、")),
            )),
        }
    }
}

/// A new set as an admin typed it: trimmed, without blanks or repeats, 1 to
/// [`MAX_TAGS_PER_SET`] tags of at most [`MAX_TAG_CHARS`] characters.
pub fn clean_new_set(tags: &[String]) -> Result<Vec<String>, FieldError> {
    let mut clean: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = tag.trim();
        if tag.is_empty() {
            continue;
        }
        check_text("tags", tag, MAX_TAG_CHARS)?;
        if !clean.iter().any(|t| t == tag) {
            clean.push(tag.to_owned());
        }
    }
    if clean.is_empty() || clean.len() > MAX_TAGS_PER_SET {
        return Err(FieldError::new("tags", format!("1 to {MAX_TAGS_PER_SET} tags")));
    }
    Ok(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(stars: i64, tags: &[&str]) -> ReviewContent {
        ReviewContent::parse(stars, tags.iter().map(|t| (*t).to_owned()).collect(), Some("意见".into())).expect("content")
    }

    #[test]
    fn a_review_takes_only_its_bands_tags_and_keeps_the_version() {
        let sets = TagSets::newest_of([TagSet { band: GradeBand::Bad, version: 2, tags: vec!["排队太久".into()] }, TagSet::builtin(GradeBand::Bad)]);
        assert_eq!(sets.check(&review(1, &["排队太久"])), Ok(2));
        let refused = sets.check(&review(2, &["等待时间长"])).expect_err("version 1's tag is gone");
        assert!(refused.message.contains("等待时间长") && refused.message.contains("version 2"), "{refused}");
        assert_eq!(sets.check(&review(5, &["热情周到"])), Ok(1));
        assert!(sets.check(&review(5, &["排队太久"])).is_err(), "a bad tag on a good review");
        assert_eq!(sets.check(&review(3, &[])), Ok(1));
    }

    #[test]
    fn bands_follow_the_stars_and_new_sets_are_cleaned() {
        let band = |n| GradeBand::of(Stars::parse(n).expect("stars"));
        assert_eq!([1, 2, 3, 4, 5].map(band), [GradeBand::Bad, GradeBand::Bad, GradeBand::Basic, GradeBand::Good, GradeBand::Good]);
        assert_eq!(GradeBand::parse("basic"), Some(GradeBand::Basic));
        assert_eq!(clean_new_set(&[" 快 ".into(), "快".into(), "".into(), "好".into()]), Ok(vec!["快".to_owned(), "好".to_owned()]));
        assert!(clean_new_set(&[]).is_err());
        assert!(clean_new_set(&vec!["x".repeat(MAX_TAG_CHARS + 1)]).is_err());
    }
}
