//! Prometheus metrics (`GET /metrics`, text format).

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub intake: IntCounterVec,
    /// Outside the `haochaping_` prefix: `hcp_calendar_official{year}` is the name operators'
    /// alerts rely on.
    unprefixed: Registry,
    calendar_official: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("haochaping".into()), None).unwrap_or_default();
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["method", "route", "status"],
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let http_duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["method", "route"],
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let intake = IntCounterVec::new(
            Opts::new("intake_total", "Records taken in, by kind (review, bad_review, complaint, case_opened)"),
            &["kind"],
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        for collector in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(intake.clone()),
        ] {
            if let Err(e) = registry.register(collector) {
                tracing::warn!(error = %e, "metric not registered");
            }
        }
        let unprefixed = Registry::new();
        let calendar_official = IntGaugeVec::new(
            Opts::new("hcp_calendar_official", "1 when the year's working-day calendar is the State Council's notice, 0 while provisional"),
            &["year"],
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        if let Err(e) = unprefixed.register(Box::new(calendar_official.clone())) {
            tracing::warn!(error = %e, "metric not registered");
        }
        Metrics { registry, http_requests, http_duration, intake, unprefixed, calendar_official }
    }

    pub fn calendar_status(&self, year: i32, official: bool) {
        self.calendar_official.with_label_values(&[&year.to_string()]).set(i64::from(official));
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

    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let mut families = self.registry.gather();
        families.extend(self.unprefixed.gather());
        if let Err(e) = TextEncoder::new().encode(&families, &mut buffer) {
            tracing::warn!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
