//! How long a failed delivery (mail, webhook, SMS, a batch to the province) waits before the next
//! attempt: 1 s, then doubling, up to a cap.

use chrono::Duration;

/// The wait after `attempts` failed attempts: 1 s, 2 s, 4 s … at most `cap_seconds`.
pub fn backoff(attempts: i32, cap_seconds: i64) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    Duration::seconds((1i64 << exponent).min(cap_seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap() {
        let waits: Vec<i64> = (0..=10).map(|a| backoff(a, 300).num_seconds()).collect();
        assert_eq!(waits, [1, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
        assert_eq!(backoff(i32::MAX, 60).num_seconds(), 60);
    }
}
