//! Prometheus metrics (`GET /metrics`, text format): requests, intake, the scanner, the outbox,
//! open and overdue cases, the calendar and the process's memory.

use prometheus::core::Collector;
use prometheus::{Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub intake: IntCounterVec,
    /// Reads meant for the replica of `DATABASE_READ_URL` that the primary served, by reason.
    read_fallbacks: IntCounterVec,
    outbox_pending: IntGaugeVec,
    outbox_failing: IntGaugeVec,
    outbox_deliveries: IntCounterVec,
    scan_last_run: Gauge,
    scan_duration: Gauge,
    scan_runs: IntCounterVec,
    cases_open: IntGaugeVec,
    cases_overdue: IntGaugeVec,
    /// Outside the `haochaping_` prefix: `hcp_calendar_official{year}` is the name operators'
    /// alerts rely on, and `process_resident_memory_bytes` the name every exporter uses.
    unprefixed: Registry,
    calendar_official: IntGaugeVec,
    resident_memory: IntGauge,
}

/// Definitions are static: an error here is a bug caught by the first test that starts a server.
fn defined<T>(metric: prometheus::Result<T>) -> T {
    metric.unwrap_or_else(|e| unreachable!("static metric definition: {e}"))
}

fn register(registry: &Registry, collector: impl Collector + Clone + 'static) {
    if let Err(e) = registry.register(Box::new(collector)) {
        tracing::warn!(error = %e, "metric not registered");
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("haochaping".into()), None).unwrap_or_default();
        let unprefixed = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let m = defined(IntCounterVec::new(Opts::new(name, help), labels));
            register(&registry, m.clone());
            m
        };
        let gauges = |name: &str, help: &str, labels: &[&str]| {
            let m = defined(IntGaugeVec::new(Opts::new(name, help), labels));
            register(&registry, m.clone());
            m
        };
        let gauge = |name: &str, help: &str| {
            let m = defined(Gauge::with_opts(Opts::new(name, help)));
            register(&registry, m.clone());
            m
        };
        let http_duration = defined(HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
            &["method", "route"],
        ));
        register(&registry, http_duration.clone());
        let calendar_official = defined(IntGaugeVec::new(
            Opts::new("hcp_calendar_official", "1 when the year's working-day calendar is the State Council's notice, 0 while provisional"),
            &["year"],
        ));
        register(&unprefixed, calendar_official.clone());
        let resident_memory = defined(IntGauge::with_opts(Opts::new("process_resident_memory_bytes", "Resident memory of the process, in bytes")));
        register(&unprefixed, resident_memory.clone());
        Metrics {
            http_requests: counter("http_requests_total", "HTTP requests by route and status", &["method", "route", "status"]),
            http_duration,
            intake: counter("intake_total", "Records taken in, by kind (review, bad_review, complaint, case_opened)", &["kind"]),
            read_fallbacks: counter(
                "read_fallbacks_total",
                "Reads meant for the read replica served by the primary, by reason (unreachable, busy, lost, conflict)",
                &["reason"],
            ),
            outbox_pending: gauges("outbox_pending", "Messages in the outbox not yet delivered, by channel", &["channel"]),
            outbox_failing: gauges("outbox_failing", "Undelivered messages that failed at least once, by channel", &["channel"]),
            outbox_deliveries: counter("outbox_deliveries_total", "Delivery attempts by this instance, by channel and result (sent, failed)", &["channel", "result"]),
            scan_last_run: gauge("scan_last_run_timestamp_seconds", "When this instance's deadline scanner last finished (Unix time)"),
            scan_duration: gauge("scan_last_run_duration_seconds", "How long the last deadline scan took"),
            scan_runs: counter("scan_runs_total", "Deadline scans by this instance, by result (ok, failed)", &["result"]),
            cases_open: gauges("cases_open", "Open cases by stage", &["stage"]),
            cases_overdue: gauges("cases_overdue", "Open cases past their stage's deadline, by stage", &["stage"]),
            registry,
            unprefixed,
            calendar_official,
            resident_memory,
        }
    }

    pub fn count(&self, kind: &str) {
        self.intake.with_label_values(&[kind]).inc();
    }

    /// A stored review, and the case a bad one opened.
    pub fn review_recorded(&self, is_bad: bool) {
        self.count("review");
        if is_bad {
            self.count("bad_review");
            self.count("case_opened");
        }
    }

    /// A read of the replica's that went to the primary.
    pub fn read_fallback(&self, reason: &str) {
        self.read_fallbacks.with_label_values(&[reason]).inc();
    }

    pub fn scan_finished(&self, seconds: f64, ok: bool) {
        self.scan_runs.with_label_values(&[if ok { "ok" } else { "failed" }]).inc();
        if ok {
            self.scan_duration.set(seconds);
            self.scan_last_run.set(chrono::Utc::now().timestamp_millis() as f64 / 1000.0);
        }
    }

    pub fn deliveries(&self, channel: &str, sent: u32, failed: u32) {
        self.outbox_deliveries.with_label_values(&[channel, "sent"]).inc_by(u64::from(sent));
        self.outbox_deliveries.with_label_values(&[channel, "failed"]).inc_by(u64::from(failed));
    }

    /// The figures read from the database at scrape time.
    pub fn observe(&self, snapshot: &crate::insight::operations::Snapshot) {
        for stage in &snapshot.stages {
            self.cases_open.with_label_values(&[&stage.stage]).set(stage.open);
            self.cases_overdue.with_label_values(&[&stage.stage]).set(stage.overdue);
        }
        for backlog in &snapshot.outbox {
            self.outbox_pending.with_label_values(&[backlog.channel]).set(backlog.pending);
            self.outbox_failing.with_label_values(&[backlog.channel]).set(backlog.failing);
        }
        for (year, official) in &snapshot.calendar {
            self.calendar_official.with_label_values(&[&year.to_string()]).set(i64::from(*official));
        }
    }

    pub fn render(&self) -> String {
        if let Some(bytes) = resident_bytes() {
            self.resident_memory.set(bytes);
        }
        let mut buffer = Vec::new();
        let mut families = self.registry.gather();
        families.extend(self.unprefixed.gather());
        if let Err(e) = TextEncoder::new().encode(&families, &mut buffer) {
            tracing::warn!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

/// `VmRSS` of `/proc/self/status` (Linux), in bytes.
fn resident_bytes() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
