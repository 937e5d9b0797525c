//! Prometheus metrics of the HTTP adapter, in a registry of their own (never the process-wide
//! default one, so two apps in one test process do not share counters).
//!
//! Requests are labelled by route PATTERN (`/api/v1/admin/users/{id}`), never by raw path:
//! a label per user id would grow without bound.

use actix_web::http::StatusCode;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

/// Route label of requests that matched no route (404 from the default service).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Outcome label of `users_login_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    /// 200: a token was issued.
    Success,
    /// 401: unknown identifier or wrong password (indistinguishable by design, rule 10).
    Invalid,
    /// 423: temporarily locked after too many failures (rule 9).
    Locked,
    /// 403 `ACCOUNT_BLOCKED`.
    Blocked,
    /// 403 `ACCOUNT_INACTIVE`.
    Inactive,
}

impl LoginOutcome {
    /// Every outcome, so each series exists (at 0) from the start.
    pub const ALL: [Self; 5] = [
        Self::Success,
        Self::Invalid,
        Self::Locked,
        Self::Blocked,
        Self::Inactive,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Invalid => "invalid",
            Self::Locked => "locked",
            Self::Blocked => "blocked",
            Self::Inactive => "inactive",
        }
    }
}

/// The service's metrics and the registry that exposes them on `GET /metrics`.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    logins: IntCounterVec,
    store_errors: IntCounter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    ///
    /// Names, help texts and label sets are constants of this file, so registration can only
    /// fail on a programming error, caught by any test that builds an `AppState`.
    #[allow(
        clippy::expect_used,
        reason = "constant metric definitions: failure is a programming error"
    )]
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests served, by method, route pattern and status.",
            ),
            &["method", "route", "status"],
        )
        .expect("valid http_requests_total definition");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to produce the response head, by method and route pattern.",
            ),
            &["method", "route"],
        )
        .expect("valid http_request_duration_seconds definition");
        let logins = IntCounterVec::new(
            Opts::new(
                "users_login_total",
                "Login attempts on both dialects, by outcome.",
            ),
            &["outcome"],
        )
        .expect("valid users_login_total definition");
        let store_errors = IntCounter::new(
            "users_store_errors_total",
            "Responses answered 503 because the user store was unavailable.",
        )
        .expect("valid users_store_errors_total definition");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(logins.clone()),
            Box::new(store_errors.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        for outcome in LoginOutcome::ALL {
            logins.with_label_values(&[outcome.as_str()]);
        }
        Self {
            registry,
            requests,
            duration,
            logins,
            store_errors,
        }
    }

    /// Records one finished request.
    pub fn observe_request(&self, method: &str, route: &str, status: StatusCode, seconds: f64) {
        self.requests
            .with_label_values(&[method, route, status.as_str()])
            .inc();
        self.duration
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// Records one login attempt.
    pub fn observe_login(&self, outcome: LoginOutcome) {
        self.logins.with_label_values(&[outcome.as_str()]).inc();
    }

    /// Records one request that failed because the store was unavailable.
    pub fn observe_store_error(&self) {
        self.store_errors.inc();
    }

    /// Every metric in the Prometheus text format 0.0.4.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn renders_every_family_with_login_outcomes_at_zero() {
        let m = Metrics::new();
        m.observe_request("GET", "/health", StatusCode::OK, 0.001);
        let text = m.render().unwrap();
        assert!(
            text.contains(r#"http_requests_total{method="GET",route="/health",status="200"} 1"#)
        );
        assert!(text.contains("http_request_duration_seconds_bucket"));
        for outcome in LoginOutcome::ALL {
            assert!(text.contains(&format!(
                r#"users_login_total{{outcome="{}"}} 0"#,
                outcome.as_str()
            )));
        }
        assert!(text.contains("users_store_errors_total 0"));
    }

    #[test]
    fn two_instances_do_not_share_counters() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.observe_store_error();
        assert!(b.render().unwrap().contains("users_store_errors_total 0"));
    }
}
