//! Rate limits of SPEC §7: sign-in and citizen rating per client address, integration keys per
//! key with a far higher quota (a counter system or the intake benchmark must not be throttled),
//! and a lockout of a username after repeated wrong passwords. IPv6 clients count per /64. Counters live in each instance's
//! memory (governor's GCRA): behind a load balancer every instance enforces its own share.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::{AppError, AppResult};

/// Sign-in attempts per client address and minute (a hall's shared address signs in a few staff).
const LOGINS_PER_MINUTE: u32 = 30;
/// Ratings and 回访 per client address and minute: a citizen rates once; a script is stopped.
const RATINGS_PER_MINUTE: u32 = 60;
/// Requests per integration key and second, unless `HCP_INTEGRATION_RATE` says otherwise: far
/// above any counter system, and above what one instance stores on either backend (`bench
/// intake` on SQLite sustained 24 000 reviews/s and had hit an earlier 10 000), so that only a
/// runaway client is stopped.
pub const INTEGRATION_PER_SECOND: u32 = 100_000;
/// Wrong passwords for one username before it is locked, and for how long.
const FAILURES_BEFORE_LOCKOUT: u32 = 5;
const LOCKOUT: Duration = Duration::from_secs(15 * 60);

struct Failures {
    count: u32,
    first: Instant,
    locked_until: Option<Instant>,
}

pub struct Throttle {
    logins: DefaultKeyedRateLimiter<IpAddr>,
    ratings: DefaultKeyedRateLimiter<IpAddr>,
    integrations: DefaultKeyedRateLimiter<i64>,
    failures: Mutex<HashMap<String, Failures>>,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(INTEGRATION_PER_SECOND)
    }
}

impl Throttle {
    pub fn new(integration_per_second: u32) -> Throttle {
        Throttle {
            logins: RateLimiter::keyed(per_minute(LOGINS_PER_MINUTE)),
            ratings: RateLimiter::keyed(per_minute(RATINGS_PER_MINUTE)),
            integrations: RateLimiter::keyed(Quota::per_second(NonZeroU32::new(integration_per_second).unwrap_or(NonZeroU32::MIN))),
            failures: Mutex::new(HashMap::new()),
        }
    }
}

/// One IPv6 client holds a whole /64: key it by that prefix, or each address would be a fresh quota.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        v4 => v4,
    }
}

/// Keys seen more often than this make the limiter drop those whose quota has refilled.
const MAX_TRACKED_KEYS: usize = 100_000;

fn check<K: std::hash::Hash + Eq + Clone>(limiter: &DefaultKeyedRateLimiter<K>, key: &K) -> AppResult<()> {
    if limiter.len() > MAX_TRACKED_KEYS {
        limiter.retain_recent();
    }
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        AppError::RateLimited(wait.as_secs().max(1))
    })
}

impl Throttle {
    /// Before checking a password: the address's quota, then the username's lockout. The attempt
    /// counts as a failure until [`Throttle::login_succeeded`] clears it, so that guesses sent in
    /// parallel cannot all pass before the first is found wrong.
    pub fn before_login(&self, address: Option<IpAddr>, username: &str) -> AppResult<()> {
        if let Some(ip) = address {
            check(&self.logins, &client_key(ip))?;
        }
        let mut failures = self.failures.lock().map_err(|_| AppError::internal(anyhow::anyhow!("lockout table poisoned")))?;
        let now = Instant::now();
        if let Some(locked_until) = failures.get(username).and_then(|f| f.locked_until) {
            if locked_until > now {
                return Err(AppError::RateLimited((locked_until - now).as_secs().max(1)));
            }
        }
        // Bounded memory under a spray of usernames: forget windows that have passed.
        if failures.len() > 100_000 {
            failures.retain(|_, f| now.duration_since(f.first) < LOCKOUT || f.locked_until.is_some_and(|t| t > now));
        }
        let entry = failures.entry(username.to_owned()).or_insert(Failures { count: 0, first: now, locked_until: None });
        if now.duration_since(entry.first) >= LOCKOUT && entry.locked_until.is_none_or(|t| t <= now) {
            *entry = Failures { count: 0, first: now, locked_until: None };
        }
        entry.count += 1;
        if entry.count >= FAILURES_BEFORE_LOCKOUT {
            entry.locked_until = Some(now + LOCKOUT);
        }
        Ok(())
    }

    /// Whether the username is locked now (for the log after a failed sign-in).
    pub fn is_locked(&self, username: &str) -> bool {
        let now = Instant::now();
        self.failures.lock().is_ok_and(|f| f.get(username).and_then(|f| f.locked_until).is_some_and(|t| t > now))
    }

    pub fn login_succeeded(&self, username: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(username);
        }
    }

    /// A citizen's rating or 回访 from this address.
    pub fn citizen_rating(&self, address: Option<IpAddr>) -> AppResult<()> {
        match address {
            Some(ip) => check(&self.ratings, &client_key(ip)),
            None => Ok(()),
        }
    }

    /// A call with an integration key (checked when the key is recognised, for every endpoint).
    pub fn integration(&self, key_id: i64) -> AppResult<()> {
        check(&self.integrations, &key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_wrong_passwords_lock_the_username_and_success_clears_it() {
        let t = Throttle::default();
        for attempt in 1..=5 {
            assert!(t.before_login(None, "clerk").is_ok(), "attempt {attempt} is allowed");
        }
        assert!(matches!(t.before_login(None, "clerk"), Err(AppError::RateLimited(s)) if s > 800));
        assert!(t.before_login(None, "someone-else").is_ok(), "only that username");
        t.login_succeeded("clerk");
        assert!(t.before_login(None, "clerk").is_ok());
    }

    #[test]
    fn an_address_gets_its_quota_then_429() {
        let t = Throttle::default();
        let ip: IpAddr = "203.0.113.7".parse().expect("ip");
        for _ in 0..RATINGS_PER_MINUTE {
            assert!(t.citizen_rating(Some(ip)).is_ok());
        }
        assert!(matches!(t.citizen_rating(Some(ip)), Err(AppError::RateLimited(_))));
        assert!(t.citizen_rating(Some("203.0.113.8".parse().expect("ip"))).is_ok(), "another address is not affected");
        for _ in 0..RATINGS_PER_MINUTE {
            assert!(t.citizen_rating(Some("2001:db8::1".parse().expect("ip"))).is_ok());
        }
        assert!(t.citizen_rating(Some("2001:db8::2".parse().expect("ip"))).is_err(), "a /64 is one client");
        for _ in 0..1000 {
            assert!(t.integration(1).is_ok(), "integration keys are far above citizens' quota");
        }
    }
}
