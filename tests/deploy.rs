//! The deployment files in `deploy/`: the systemd unit passes `systemd-analyze verify` and runs
//! the service as it should be run; the example environment file names only variables the
//! service reads.

mod common;

const UNIT: &str = include_str!("../deploy/haochaping.service");
const ENVIRONMENT: &str = include_str!("../deploy/haochaping.env.example");

/// Issue 17 item 5: a unit for a non-root user, restarted on failure, with an environment file,
/// that `systemd-analyze verify` accepts (with `ExecStart` pointed at the binary just built,
/// since verify checks that it exists).
#[test]
fn the_systemd_unit_verifies_and_runs_as_a_service_user() {
    let settings: Vec<(&str, &str)> = UNIT.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split_once('=')).collect();
    let value = |key: &str| settings.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    assert_eq!(value("User"), Some("haochaping"), "not root");
    assert_eq!(value("Restart"), Some("on-failure"));
    assert_eq!(value("EnvironmentFile"), Some("/etc/haochaping/haochaping.env"));
    assert_eq!(value("ExecStart"), Some("/usr/local/bin/haochaping serve"));
    assert_eq!(value("NoNewPrivileges"), Some("yes"));

    let analyze = std::process::Command::new("systemd-analyze").arg("--version").output();
    if analyze.is_err() {
        assert!(!common::require_all(), "systemd-analyze is required (HCP_REQUIRE_ALL_TESTS=1): apt-get install systemd");
        eprintln!("SKIPPED: systemd-analyze not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let unit = dir.path().join("haochaping.service");
    std::fs::write(&unit, UNIT.replace("/usr/local/bin/haochaping", env!("CARGO_BIN_EXE_haochaping"))).expect("unit");
    let out = std::process::Command::new("systemd-analyze").arg("verify").arg(&unit).output().expect("systemd-analyze verify");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {stderr}");
    assert!(!stderr.contains("haochaping.service:"), "no warning about the unit: {stderr}");
}

#[test]
fn the_example_environment_names_only_variables_the_service_reads() {
    let readme = include_str!("../README.md");
    for line in ENVIRONMENT.lines() {
        let line = line.trim_start_matches("# ").trim();
        let Some((name, _)) = line.split_once('=') else { continue };
        if !name.chars().all(|c| c.is_ascii_uppercase() || c == '_') || name.is_empty() {
            continue;
        }
        assert!(readme.contains(&format!("`{name}`")), "{name} in deploy/haochaping.env.example is not in the README's configuration");
    }
}
