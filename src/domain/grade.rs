//! The five-level grade (`stars` 1..5) and the mapping of external codes at the boundary.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Stars(u8);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stars must be an integer from 1 to 5, got {0}")]
pub struct InvalidStars(pub i64);

impl Stars {
    pub fn parse(value: i64) -> Result<Self, InvalidStars> {
        match u8::try_from(value) {
            Ok(v @ 1..=5) => Ok(Stars(v)),
            _ => Err(InvalidStars(value)),
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }

    /// 差评: derived from the stars, never stored on its own.
    pub fn is_bad(self) -> bool {
        self.0 <= 2
    }

    /// 好评 for the good-rate statistic (基本满意 and above).
    pub fn is_good(self) -> bool {
        self.0 >= 3
    }

    pub fn level_name(self) -> &'static str {
        match self.0 {
            5 => "非常满意",
            4 => "满意",
            3 => "基本满意",
            2 => "不满意",
            _ => "非常不满意",
        }
    }

    /// GB/T 39046 codes count down: 1 = 非常满意 … 5 = 非常不满意.
    pub fn from_gbt39046_code(code: i64) -> Result<Self, InvalidStars> {
        let stars = Stars::parse(code)?;
        Ok(Stars(6 - stars.0))
    }

    /// Provincial interfaces count up: 1 = 非常不满意 … 5 = 非常满意, the same as ours.
    pub fn from_provincial_code(code: i64) -> Result<Self, InvalidStars> {
        Stars::parse(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_to_five_are_grades() {
        for v in [-1, 0, 6, 255, 256, i64::MAX, i64::MIN] {
            assert_eq!(Stars::parse(v), Err(InvalidStars(v)));
        }
        for v in 1..=5 {
            assert_eq!(Stars::parse(v).map(Stars::get), Ok(v as u8));
        }
    }

    #[test]
    fn two_stars_or_fewer_is_a_bad_review() {
        let bad: Vec<i64> = (1..=5).filter(|&v| Stars::parse(v).is_ok_and(Stars::is_bad)).collect();
        assert_eq!(bad, vec![1, 2]);
        assert!(Stars::parse(3).is_ok_and(Stars::is_good));
    }

    #[test]
    fn level_names_follow_the_standard() {
        let names: Vec<_> = (1..=5).filter_map(|v| Stars::parse(v).ok()).map(Stars::level_name).collect();
        assert_eq!(names, ["非常不满意", "不满意", "基本满意", "满意", "非常满意"]);
    }

    #[test]
    fn external_codes_are_mapped_explicitly() {
        assert_eq!(Stars::from_gbt39046_code(1).map(Stars::get), Ok(5));
        assert_eq!(Stars::from_gbt39046_code(5).map(Stars::get), Ok(1));
        assert_eq!(Stars::from_provincial_code(1).map(Stars::get), Ok(1));
        assert!(Stars::from_gbt39046_code(0).is_err());
    }
}
