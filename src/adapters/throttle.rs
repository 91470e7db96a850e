//! Rate limits of SPEC §7. Sign-in limits and citizen-rating quotas are counted in the database,
//! so that every instance behind a load balancer enforces the same counts (SPEC §8);
//! integration-key quotas stay in each instance's memory (governor's GCRA): they only stop a
//! runaway client, and a database write on every intake call would halve intake.
//!
//! Sign-in guessing is slowed without letting anyone lock the owner out: failures count per
//! username *and address*, so wrong passwords from elsewhere never stop the owner signing in from
//! an address that has not failed for that username. Each address also has a failure budget over
//! all usernames, and addresses that have failed for a username share one small per-minute quota
//! of further attempts on it (from their second failure on, so that one typo never puts the owner
//! there). Nothing waits: over a limit the answer is 429 at once. IPv6
//! clients count per /64.

use std::net::IpAddr;
use std::num::NonZeroU32;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::clock;
use crate::db_run;
use crate::error::{AppError, AppResult};
use crate::storage::schema::{rate_counters, sign_in_failures};
use crate::storage::Conn;

/// Sign-in attempts per client address and minute (a hall's shared address signs in a few staff).
pub const SIGN_INS_PER_MINUTE: i32 = 30;
/// Ratings and 回访 per client address and minute: a citizen rates once; a script is stopped.
pub const RATINGS_PER_MINUTE: i32 = 60;
/// Requests per integration key and second, unless `HCP_INTEGRATION_RATE` says otherwise: far
/// above any counter system, and above what one instance stores on either backend (`bench
/// intake` on SQLite sustained 24 000 reviews/s and had hit an earlier 10 000), so that only a
/// runaway client is stopped.
pub const INTEGRATION_PER_SECOND: u32 = 100_000;
/// How long a failed sign-in counts.
pub const FAILURE_WINDOW_MINUTES: i64 = 15;
/// Failures of one username from one address within the window before that address is refused
/// for that username.
pub const FAILURES_PER_USERNAME_AND_ADDRESS: usize = 5;
/// Failures from one address within the window, over all usernames, before it is refused for all.
pub const FAILURES_PER_ADDRESS: usize = 20;
/// Attempts per minute on one username from all the addresses that have failed for it at least
/// [`RETRY_LANE_AFTER_FAILURES`] times.
pub const RETRIES_PER_USERNAME_PER_MINUTE: i32 = 10;
pub const RETRY_LANE_AFTER_FAILURES: usize = 2;

/// The in-memory quota of integration keys.
pub struct Throttle {
    integrations: DefaultKeyedRateLimiter<i64>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(INTEGRATION_PER_SECOND)
    }
}

impl Throttle {
    pub fn new(integration_per_second: u32) -> Throttle {
        Throttle {
            integrations: RateLimiter::keyed(Quota::per_second(NonZeroU32::new(integration_per_second).unwrap_or(NonZeroU32::MIN))),
        }
    }

    /// A call with an integration key (checked when the key is recognised, for every endpoint).
    pub fn integration(&self, key_id: i64) -> AppResult<()> {
        // Keys are few (one per business system): the table never needs pruning.
        self.integrations.check_key(&key_id).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            AppError::RateLimited(wait.as_secs().max(1))
        })
    }
}

/// One IPv6 client holds a whole /64: key it by that prefix, or each address would be a fresh quota.
pub fn client_key(address: Option<IpAddr>) -> String {
    // An IPv4 client seen through a dual-stack socket (`::ffff:a.b.c.d`) is that IPv4 address,
    // not one /64 shared by every IPv4 client.
    let address = address.map(|a| match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(a),
        v4 => v4,
    });
    match address {
        Some(IpAddr::V6(v6)) => format!("{}/64", std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        Some(v4) => v4.to_string(),
        None => "unknown".to_owned(),
    }
}

/// Counts a hit in `bucket`'s current minute; over `limit` it is refused until the minute ends.
fn hit(conn: &mut Conn, bucket: &str, limit: i32, now: DateTime<Utc>) -> AppResult<()> {
    let window_start = now.timestamp().div_euclid(60) * 60;
    let hits: i32 = db_run!(conn, |c| diesel::insert_into(rate_counters::table)
        .values((rate_counters::bucket.eq(bucket), rate_counters::window_start.eq(window_start), rate_counters::hits.eq(1)))
        .on_conflict((rate_counters::bucket, rate_counters::window_start))
        .do_update()
        .set(rate_counters::hits.eq(rate_counters::hits + 1))
        .returning(rate_counters::hits)
        .get_result(c))?;
    if hits > limit {
        return Err(AppError::RateLimited(u64::try_from(window_start + 60 - now.timestamp()).unwrap_or(1).max(1)));
    }
    Ok(())
}

/// A citizen's rating or 回访 from this address.
pub fn citizen_rating(conn: &mut Conn, address: Option<IpAddr>, now: DateTime<Utc>) -> AppResult<()> {
    match address {
        Some(_) => hit(conn, &format!("rating:{}", client_key(address)), RATINGS_PER_MINUTE, now),
        None => Ok(()),
    }
}

/// A sign-in attempt let through [`before_sign_in`]: it stands as a failure until
/// [`sign_in_succeeded`] removes it.
pub struct SignInAttempt {
    username: String,
    address: String,
    /// Whether this attempt, if wrong, is the one that makes the address refused for the username.
    pub locks_if_wrong: bool,
}

/// The seconds until the oldest of `times` (the counted failures, newest first) leaves the window.
fn until_out_of_window(times: &[NaiveDateTime], now: DateTime<Utc>) -> u64 {
    let oldest_counted = times.last().copied().map(clock::from_db).unwrap_or(now);
    let left = oldest_counted + Duration::minutes(FAILURE_WINDOW_MINUTES) - now;
    u64::try_from(left.num_seconds()).unwrap_or(1).max(1)
}

/// Before checking a password: the address's quotas, then this username from this address; the
/// attempt is recorded as a failure until it succeeds, so guesses sent in parallel (to any
/// instance) cannot all pass before the first is found wrong.
pub fn before_sign_in(conn: &mut Conn, address: Option<IpAddr>, username: &str, now: DateTime<Utc>) -> AppResult<SignInAttempt> {
    let address = client_key(address);
    hit(conn, &format!("sign-in:{address}"), SIGN_INS_PER_MINUTE, now)?;
    // Written first and counted with everything before it, so that guesses sent in parallel
    // (to any instance) each see the others: a check before the insert would let them all pass.
    let id: i64 = db_run!(conn, |c| diesel::insert_into(sign_in_failures::table)
        .values((
            sign_in_failures::username.eq(username),
            sign_in_failures::address.eq(&address),
            sign_in_failures::failed_at.eq(clock::to_db(now)),
        ))
        .returning(sign_in_failures::id)
        .get_result(c))?;
    match failures_allow(conn, &address, username, id, now) {
        Ok(for_username) => Ok(SignInAttempt {
            username: username.to_owned(),
            address,
            locks_if_wrong: for_username + 1 >= FAILURES_PER_USERNAME_AND_ADDRESS,
        }),
        Err(refused) => {
            // A refused attempt is no failure: it never reached the password.
            db_run!(conn, |c| diesel::delete(sign_in_failures::table.find(id)).execute(c))?;
            Err(refused)
        }
    }
}

/// The failures recorded before attempt `id` within the window, newest first, at most `limit`:
/// from the address, and for `username` when given.
fn recent_failures(conn: &mut Conn, address: &str, username: Option<&str>, id: i64, now: DateTime<Utc>, limit: usize) -> AppResult<Vec<NaiveDateTime>> {
    let since = clock::to_db(now - Duration::minutes(FAILURE_WINDOW_MINUTES));
    Ok(db_run!(conn, |c| {
        let mut q = sign_in_failures::table
            .filter(sign_in_failures::address.eq(address))
            .filter(sign_in_failures::failed_at.gt(since))
            .filter(sign_in_failures::id.lt(id))
            .into_boxed();
        if let Some(username) = username {
            q = q.filter(sign_in_failures::username.eq(username));
        }
        q.select(sign_in_failures::failed_at).order(sign_in_failures::failed_at.desc()).limit(limit as i64).load(c)
    })?)
}

/// Whether attempt `id` may go on: the address's failure budget, then this username's from this
/// address, then the shared retry lane. The failures of this username from this address so far.
fn failures_allow(conn: &mut Conn, address: &str, username: &str, id: i64, now: DateTime<Utc>) -> AppResult<usize> {
    let from_address = recent_failures(conn, address, None, id, now, FAILURES_PER_ADDRESS)?;
    if from_address.len() >= FAILURES_PER_ADDRESS {
        return Err(AppError::RateLimited(until_out_of_window(&from_address, now)));
    }
    let for_username = recent_failures(conn, address, Some(username), id, now, FAILURES_PER_USERNAME_AND_ADDRESS)?;
    if for_username.len() >= FAILURES_PER_USERNAME_AND_ADDRESS {
        return Err(AppError::RateLimited(until_out_of_window(&for_username, now)));
    }
    // One typo does not put the owner in the guessers' shared lane: an attacker filling it
    // could otherwise keep out anyone who mistyped once.
    if for_username.len() >= RETRY_LANE_AFTER_FAILURES {
        hit(conn, &format!("sign-in-retry:{username}"), RETRIES_PER_USERNAME_PER_MINUTE, now)?;
    }
    Ok(for_username.len())
}

/// The right password: this username's failures from this address are forgotten.
pub fn sign_in_succeeded(conn: &mut Conn, attempt: &SignInAttempt) -> AppResult<()> {
    db_run!(conn, |c| diesel::delete(
        sign_in_failures::table
            .filter(sign_in_failures::username.eq(&attempt.username))
            .filter(sign_in_failures::address.eq(&attempt.address)),
    )
    .execute(c))?;
    Ok(())
}

/// Drops failures and counters no limit reads any more (run by the scanner).
pub fn prune(conn: &mut Conn, now: DateTime<Utc>) -> AppResult<usize> {
    let failures_before = clock::to_db(now - Duration::minutes(FAILURE_WINDOW_MINUTES));
    let windows_before = now.timestamp() - 120;
    let failures = db_run!(conn, |c| diesel::delete(sign_in_failures::table.filter(sign_in_failures::failed_at.le(failures_before))).execute(c))?;
    let counters = db_run!(conn, |c| diesel::delete(rate_counters::table.filter(rate_counters::window_start.lt(windows_before))).execute(c))?;
    Ok(failures + counters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_its_64() {
        assert_eq!(client_key(Some("2001:db8::1".parse().expect("ip"))), client_key(Some("2001:db8::2".parse().expect("ip"))));
        assert_ne!(client_key(Some("2001:db8:0:1::1".parse().expect("ip"))), client_key(Some("2001:db8::2".parse().expect("ip"))));
        assert_eq!(client_key(Some("203.0.113.7".parse().expect("ip"))), "203.0.113.7");
    }

    #[test]
    fn integration_keys_have_their_own_quota() {
        let t = Throttle::new(1000);
        for _ in 0..1000 {
            assert!(t.integration(1).is_ok(), "integration keys are far above citizens' quota");
        }
        assert!(matches!(t.integration(1), Err(AppError::RateLimited(_))));
        assert!(t.integration(2).is_ok(), "another key is not affected");
    }
}
