//! JSON numbers as JSON Schema reads them: `5.0` is the integer 5 (clients written in languages
//! with one number type send it so), while `5.5` is not an integer at all. For the integer
//! fields of request bodies: `#[serde(deserialize_with = "json_numbers::integer")]`.

use serde::de::Error;
use serde::{Deserialize, Deserializer};
use serde_json::Number;

/// Beyond 2^53 a float no longer holds every integer exactly.
const EXACT: f64 = 9_007_199_254_740_992.0;

fn whole(n: &Number) -> Option<i64> {
    n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() <= EXACT).map(|f| f as i64))
}

fn convert<T: TryFrom<i64>, E: Error>(n: &Number) -> Result<T, E> {
    whole(n).and_then(|i| T::try_from(i).ok()).ok_or_else(|| E::custom(format!("expected a whole number in range, got {n}")))
}

pub fn integer<'de, D: Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<T, D::Error> {
    convert(&Number::deserialize(d)?)
}

pub fn integer_opt<'de, D: Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<Number>::deserialize(d)?.map(|n| convert(&n)).transpose()
}

pub fn integers<'de, D: Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<Vec<T>, D::Error> {
    Vec::<Number>::deserialize(d)?.iter().map(convert).collect()
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize, Debug)]
    struct Body {
        #[serde(deserialize_with = "super::integer")]
        stars: u8,
        #[serde(default, deserialize_with = "super::integer_opt")]
        seed: Option<u64>,
        #[serde(default, deserialize_with = "super::integers")]
        ids: Vec<i64>,
    }

    #[test]
    fn a_whole_float_is_an_integer_and_a_fraction_is_not() {
        let b: Body = serde_json::from_str(r#"{"stars": 5.0, "seed": 42, "ids": [1, 2.0, -3]}"#).expect("whole numbers");
        assert_eq!((b.stars, b.seed, b.ids), (5, Some(42), vec![1, 2, -3]));
        assert!(serde_json::from_str::<Body>(r#"{"stars": 4.5}"#).is_err());
        assert!(serde_json::from_str::<Body>(r#"{"stars": 300}"#).is_err(), "out of u8's range");
        assert!(serde_json::from_str::<Body>(r#"{"stars": "5"}"#).is_err(), "a string is not a number");
        assert!(serde_json::from_str::<Body>(r#"{"stars": 1, "seed": -1}"#).is_err());
        assert_eq!(serde_json::from_str::<Body>(r#"{"stars": 1, "seed": null}"#).expect("null").seed, None);
    }
}
