//! CSV files given to `haochaping cluster` / `train-router` / `route`: any bytes give rows or a
//! clear error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((texts, labels)) = haochaping::interfaces::cli::text::read_columns_from(data, "fuzz.csv", "text", Some("label")) {
        assert_eq!(Some(texts.len()), labels.map(|l| l.len()));
    }
});
