//! Hours in which no SMS is sent to citizens (Beijing time): `22-8` means from 22:00 until
//! 08:00 the next morning. Messages wait until the hours end.

use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Asia::Shanghai;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    /// First quiet hour (0–23).
    pub from: u32,
    /// First hour that is not quiet again (0–23).
    pub until: u32,
}

impl QuietHours {
    /// `"22-8"`; an empty text is no quiet hours at all.
    pub fn parse(text: &str) -> Result<Option<QuietHours>, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let (from, until) = text.split_once('-').ok_or_else(|| format!("{text:?}: expected FROM-UNTIL in whole hours, e.g. 22-8, or empty for none"))?;
        let hour = |h: &str| h.trim().parse::<u32>().ok().filter(|h| *h < 24).ok_or_else(|| format!("{h:?} is not an hour from 0 to 23"));
        let (from, until) = (hour(from)?, hour(until)?);
        if from == until {
            return Err(format!("{text:?}: the quiet hours would never end"));
        }
        Ok(Some(QuietHours { from, until }))
    }

    /// Whether `now` falls in the quiet hours, in Beijing time.
    pub fn contains(&self, now: DateTime<Utc>) -> bool {
        let hour = now.with_timezone(&Shanghai).hour();
        if self.from < self.until {
            (self.from..self.until).contains(&hour)
        } else {
            hour >= self.from || hour < self.until
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn beijing(h: u32, m: u32) -> DateTime<Utc> {
        Shanghai.with_ymd_and_hms(2026, 12, 6, h, m, 0).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn night_hours_wrap_past_midnight() {
        let q = QuietHours::parse("22-8").unwrap().unwrap();
        assert!(q.contains(beijing(22, 0)) && q.contains(beijing(23, 59)) && q.contains(beijing(0, 30)) && q.contains(beijing(7, 59)));
        assert!(!q.contains(beijing(8, 0)) && !q.contains(beijing(12, 0)) && !q.contains(beijing(21, 59)));
        let day = QuietHours::parse("12-14").unwrap().unwrap();
        assert!(day.contains(beijing(13, 0)) && !day.contains(beijing(14, 0)));
        assert_eq!(QuietHours::parse(" ").unwrap(), None);
        assert!(QuietHours::parse("22").is_err() && QuietHours::parse("22-24").is_err() && QuietHours::parse("8-8").is_err());
    }
}
