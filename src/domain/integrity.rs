//! Integrity flags (疑似刷评): the rules that find ratings which look manufactured. Pure: the use
//! case (`cases::integrity`) loads the figures and keeps the flags. A flag never drops or hides a
//! rating; it asks a supervisor to look, and the supervisor's decision is recorded.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use super::calendar::{local_date, start_of_local_day};
use super::intake_rules::{string_enum, Channel};

string_enum! {
    /// What a flag is about.
    FlagKind {
        /// More ratings from one client address than the burst rule allows.
        BurstAddress = "burst_address",
        /// More ratings from one device (browser cookie or the API's `device_id`).
        BurstDevice = "burst_device",
        /// A rating given while a staff session was signed in on the same browser.
        StaffSession = "staff_session",
        /// A department or window with no bad rating over a large volume in a month.
        NoBadRatings = "no_bad_ratings",
        /// A department or window whose ratings are almost all active (few default ratings).
        ActiveShare = "active_share",
    }
}

impl FlagKind {
    pub fn label(self) -> &'static str {
        match self {
            FlagKind::BurstAddress => "同一网络地址短时间内多次评价",
            FlagKind::BurstDevice => "同一设备短时间内多次评价",
            FlagKind::StaffSession => "工作人员登录状态下提交评价",
            FlagKind::NoBadRatings => "大量评价中没有差评",
            FlagKind::ActiveShare => "主动评价占比异常偏高",
        }
    }
}

string_enum! {
    /// Where a flag stands: open until a supervisor dismisses or confirms it.
    FlagStatus {
        Open = "open",
        Dismissed = "dismissed",
        Confirmed = "confirmed",
    }
}

impl FlagStatus {
    pub fn label(self) -> &'static str {
        match self {
            FlagStatus::Open => "待核查",
            FlagStatus::Dismissed => "已排除",
            FlagStatus::Confirmed => "已确认",
        }
    }
}

/// Where a rating came from, as stored on the review: keyed hashes of the citizen's client
/// address and device id (never the values themselves), and whether a valid staff session was
/// signed in on the same browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewOrigin {
    pub address_hash: Option<String>,
    pub device_hash: Option<String>,
    pub staff_session: bool,
}

/// A device id longer than this is refused (API) or ignored (a cookie).
pub const MAX_DEVICE_ID_CHARS: usize = 128;

/// The rules' thresholds (`HCP_INTEGRITY_*`, see the README).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// More than this many ratings from one address or device within `burst_minutes` is a burst.
    pub burst: u32,
    pub burst_minutes: u32,
    /// The same for a device that rates everyone served at one place (a hall kiosk, a window's
    /// rating pad): it legitimately rates one citizen after another.
    pub burst_shared_device: u32,
    /// A month of a department or window is judged from this many ratings on.
    pub volume: u32,
    /// An active-rating share above this (with default ratings given) is flagged.
    pub active_share: f64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds { burst: 5, burst_minutes: 10, burst_shared_device: 30, volume: 200, active_share: 0.99 }
    }
}

impl Thresholds {
    pub fn window(&self) -> Duration {
        Duration::minutes(i64::from(self.burst_minutes))
    }

    /// The burst threshold of a device whose ratings came through `channels`.
    pub fn device_burst(&self, mut channels: impl Iterator<Item = Channel>) -> u32 {
        if channels.any(shared_device_channel) { self.burst_shared_device } else { self.burst }
    }
}

/// A kiosk or a window's rating pad rates everyone served there; a citizen's own browser or phone
/// does not.
pub fn shared_device_channel(channel: Channel) -> bool {
    matches!(channel, Channel::Kiosk | Channel::WindowDevice)
}

/// Ratings of one address or device close together: more than the threshold within one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Burst {
    /// In time order.
    pub review_ids: Vec<i64>,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    /// The most ratings found within one window.
    pub peak: usize,
}

/// The bursts among one subject's ratings `(review id, time)`: every rating that lies in some
/// window shorter than `window` holding more than `more_than` ratings, grouped into bursts where
/// such ratings follow each other within the window. Ratings outside every dense window are not
/// named.
pub fn find_bursts(ratings: &[(i64, DateTime<Utc>)], window: Duration, more_than: usize) -> Vec<Burst> {
    let mut sorted = ratings.to_vec();
    sorted.sort_by_key(|&(id, t)| (t, id));
    let mut dense = vec![false; sorted.len()];
    // The window's count where each rating closes it, for the peak.
    let mut count_at = vec![0usize; sorted.len()];
    let mut start = 0;
    for end in 0..sorted.len() {
        while sorted[end].1 - sorted[start].1 >= window {
            start += 1;
        }
        let count = end - start + 1;
        count_at[end] = count;
        if count > more_than {
            dense[start..=end].iter_mut().for_each(|d| *d = true);
        }
    }
    let mut bursts: Vec<Burst> = Vec::new();
    for (i, &(id, t)) in sorted.iter().enumerate().filter(|(i, _)| dense[*i]) {
        match bursts.last_mut() {
            Some(b) if t - b.last < window => {
                b.review_ids.push(id);
                b.last = t;
                b.peak = b.peak.max(count_at[i]);
            }
            _ => bursts.push(Burst { review_ids: vec![id], first: t, last: t, peak: count_at[i] }),
        }
    }
    bursts
}

/// One month of a department's or a window's ratings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonthFigures {
    /// Every rating, default ones included.
    pub ratings: u64,
    /// Given by the citizen (not the system's default rating).
    pub active: u64,
    /// 1–2 stars (差评), an appeal's invalidation notwithstanding.
    pub bad: u64,
}

impl MonthFigures {
    pub fn add(&mut self, other: MonthFigures) {
        self.ratings += other.ratings;
        self.active += other.active;
        self.bad += other.bad;
    }

    pub fn active_share(&self) -> f64 {
        if self.ratings == 0 { 0.0 } else { self.active as f64 / self.ratings as f64 }
    }
}

/// What a month's figures raise. No bad rating among at least `volume` ratings the citizens gave
/// (default ratings are never bad, so they do not make up the volume); an active share above the
/// threshold over at least `volume` ratings — only while default ratings are given at all
/// (`defaults_given`): without them every rating is active.
pub fn judge_month(figures: &MonthFigures, t: &Thresholds, defaults_given: bool) -> Vec<FlagKind> {
    let volume = u64::from(t.volume);
    let mut raised = Vec::new();
    if figures.active >= volume && figures.bad == 0 {
        raised.push(FlagKind::NoBadRatings);
    }
    if defaults_given && figures.ratings >= volume && figures.active_share() > t.active_share {
        raised.push(FlagKind::ActiveShare);
    }
    raised
}

/// A calendar month (Beijing time) the monthly rules look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthSpan {
    /// `YYYY-MM`.
    pub label: String,
    pub start: DateTime<Utc>,
    /// The month's end, or `now` for the month to date.
    pub end: DateTime<Utc>,
    pub closed: bool,
}

/// The closed previous month and the current month to date.
pub fn months_to_check(now: DateTime<Utc>) -> Vec<MonthSpan> {
    let today = local_date(now);
    let first = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today);
    let previous = first.checked_sub_months(chrono::Months::new(1)).unwrap_or(first);
    vec![
        MonthSpan { label: previous.format("%Y-%m").to_string(), start: start_of_local_day(previous), end: start_of_local_day(first), closed: true },
        MonthSpan { label: first.format("%Y-%m").to_string(), start: start_of_local_day(first), end: now, closed: false },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-10T10:00:00+08:00").expect("time").with_timezone(&Utc) + Duration::minutes(minute)
    }

    #[test]
    fn six_ratings_within_ten_minutes_are_one_burst_and_five_are_none() {
        let ten = Duration::minutes(10);
        let six: Vec<(i64, DateTime<Utc>)> = (0..6).map(|i| (i + 1, at(i))).collect();
        let bursts = find_bursts(&six, ten, 5);
        assert_eq!(bursts.len(), 1);
        assert_eq!(bursts[0].review_ids, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!((bursts[0].first, bursts[0].last, bursts[0].peak), (at(0), at(5), 6));
        assert!(find_bursts(&six[..5], ten, 5).is_empty(), "five is not more than five");
        // Spread over an hour, one every 9 minutes: never six in one window.
        let spread: Vec<(i64, DateTime<Utc>)> = (0..7).map(|i| (i, at(i * 9))).collect();
        assert!(find_bursts(&spread, ten, 5).is_empty());
        // Exactly ten minutes apart is outside the window.
        let edge: Vec<(i64, DateTime<Utc>)> = vec![(1, at(0)), (2, at(10)), (3, at(10)), (4, at(11)), (5, at(12)), (6, at(13))];
        assert!(find_bursts(&edge, ten, 5).is_empty());
    }

    #[test]
    fn only_the_dense_ratings_are_named_and_far_apart_bursts_stay_apart() {
        let ten = Duration::minutes(10);
        let mut ratings: Vec<(i64, DateTime<Utc>)> = vec![(100, at(-60))];
        ratings.extend((0..6).map(|i| (i + 1, at(i))));
        ratings.extend((0..7).map(|i| (i + 20, at(120 + i))));
        // Given out of order: sorted by time first.
        ratings.reverse();
        let bursts = find_bursts(&ratings, ten, 5);
        assert_eq!(bursts.len(), 2, "{bursts:?}");
        assert_eq!(bursts[0].review_ids, vec![1, 2, 3, 4, 5, 6], "the lone rating an hour earlier is not named");
        assert_eq!(bursts[1].review_ids, (20..27).collect::<Vec<_>>());
        assert_eq!(bursts[1].peak, 7);
        assert!(find_bursts(&[], ten, 5).is_empty());
    }

    #[test]
    fn a_shared_device_has_its_own_threshold() {
        let t = Thresholds::default();
        assert_eq!(t.device_burst([Channel::Mobile, Channel::Pc].into_iter()), 5);
        assert_eq!(t.device_burst([Channel::Kiosk].into_iter()), 30);
        assert_eq!(t.device_burst([Channel::WindowDevice, Channel::Pc].into_iter()), 30);
    }

    #[test]
    fn a_month_without_bad_ratings_or_with_almost_only_active_ones_is_flagged() {
        let t = Thresholds::default();
        let clean = MonthFigures { ratings: 200, active: 200, bad: 0 };
        assert_eq!(judge_month(&clean, &t, false), vec![FlagKind::NoBadRatings], "no defaults given: the share says nothing");
        assert_eq!(judge_month(&clean, &t, true), vec![FlagKind::NoBadRatings, FlagKind::ActiveShare]);
        assert!(judge_month(&MonthFigures { ratings: 199, active: 199, bad: 0 }, &t, true).is_empty(), "below the volume");
        assert!(judge_month(&MonthFigures { ratings: 203, active: 200, bad: 3 }, &t, true).is_empty(), "bad ones and 98.5 % active");
        // Default ratings do not make up the volume of the no-bad rule.
        assert!(judge_month(&MonthFigures { ratings: 400, active: 150, bad: 0 }, &t, true).is_empty());
        // 995 of 1 000 active: above 99 %.
        assert_eq!(judge_month(&MonthFigures { ratings: 1000, active: 995, bad: 10 }, &t, true), vec![FlagKind::ActiveShare]);
        assert!(judge_month(&MonthFigures { ratings: 1000, active: 990, bad: 10 }, &t, true).is_empty(), "exactly 99 % is not above");
    }

    #[test]
    fn the_months_checked_are_the_previous_one_and_this_one_to_date_in_beijing_time() {
        // 1 Dec 2026 00:30 in Beijing is still 30 Nov in UTC.
        let now = DateTime::parse_from_rfc3339("2026-12-01T00:30:00+08:00").expect("time").with_timezone(&Utc);
        let months = months_to_check(now);
        assert_eq!(months.iter().map(|m| m.label.as_str()).collect::<Vec<_>>(), ["2026-11", "2026-12"]);
        assert_eq!(months[0].start.to_rfc3339(), "2026-10-31T16:00:00+00:00");
        assert_eq!(months[0].end, months[1].start);
        assert_eq!(months[1].end, now);
        assert!(months[0].closed && !months[1].closed);
        let january = DateTime::parse_from_rfc3339("2027-01-15T12:00:00+08:00").expect("time").with_timezone(&Utc);
        assert_eq!(months_to_check(january)[0].label, "2026-12");
    }

    #[test]
    fn kinds_and_statuses_have_chinese_labels() {
        for kind in FlagKind::ALL {
            assert!(!kind.label().is_empty());
            assert_eq!(FlagKind::parse(kind.as_str()), Some(*kind));
        }
        assert_eq!(FlagStatus::parse("dismissed"), Some(FlagStatus::Dismissed));
        assert_eq!(FlagStatus::Open.label(), "待核查");
    }
}
