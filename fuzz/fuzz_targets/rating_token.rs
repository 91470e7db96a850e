//! A rating token from a stranger: verifying it never panics, a token signed with another
//! secret never verifies, and what we sign verifies back to the same transaction.
#![no_main]

use haochaping::adapters::security::RatingSigner;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let ours = RatingSigner::new("fuzz-secret");
    let theirs = RatingSigner::new("another-secret");
    let now = chrono::Utc::now();
    let _ = ours.verify(text, now);
    let forged = theirs.sign(text, now + chrono::Duration::days(1));
    assert!(ours.verify(&forged, now).is_err());
    let token = ours.sign(text, now + chrono::Duration::days(1));
    assert_eq!(ours.verify(&token, now).ok().as_deref(), Some(text));
});
