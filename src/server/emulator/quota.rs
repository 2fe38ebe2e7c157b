//! Request quotas: a token bucket per project, as `--rate-limit R` sets it.
//!
//! Earth Engine limits the requests each project sends per unit of time; a call over the limit
//! is answered `RESOURCE_EXHAUSTED` (HTTP 429) before the service does anything. The emulator
//! does the same when [`EmulatorConfig::rate_limit`](super::EmulatorConfig::rate_limit) is set:
//!
//! * each project (taken from the request's `name`: `projects/{p}/...`; names of the generic
//!   `operations/{id}` form share one bucket) has a bucket that fills at `R` tokens per second
//!   of wall-clock time, up to a tenth of a second's worth (at least one token), and starts
//!   full;
//! * every call takes one token, whatever the transport — and each part of a `/batch`
//!   request is one call, since the batch endpoint runs its parts through the same service;
//! * a call that finds the bucket empty is refused with `RESOURCE_EXHAUSTED` and three
//!   details: a `google.rpc.RetryInfo` saying when the next token is there, a
//!   `google.rpc.QuotaFailure` naming the project and the limit, and a `google.rpc.ErrorInfo`
//!   with reason `RATE_LIMIT_EXCEEDED`, as Google's front ends send. Over gRPC they travel in
//!   `grpc-status-details-bin`; over REST in the JSON error's `details`. A refused call has
//!   no effect and does not count as a call for fault injection.
//!
//! The small burst is deliberate: a client is measured against the rate it sustains, not
//! against what it gets from a full bucket.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prost::Message as _;

use crate::pb::google::rpc::{Code, ErrorInfo, QuotaFailure, RetryInfo, Status, quota_failure};

/// The shortest delay a RetryInfo asks for.
const MIN_RETRY_DELAY: Duration = Duration::from_millis(1);

/// Checks a rate limit: `Err` with a description of what is wrong.
pub(crate) fn check_rate(rate: f64) -> Result<(), String> {
    if rate.is_finite() && rate > 0.0 {
        Ok(())
    } else {
        Err(format!(
            "invalid rate limit {rate}: expected a positive number of requests per second"
        ))
    }
}

/// The buckets of every project.
#[derive(Debug)]
pub(crate) struct Quotas {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Quotas {
    /// Buckets filling at `rate` per second; `None` when there is no limit, or when the limit
    /// is not a positive number (then a warning is logged; `eeops emulator` refuses such a
    /// value before it gets here).
    pub(crate) fn new(rate: Option<f64>) -> Option<Quotas> {
        let rate = rate?;
        if let Err(e) = check_rate(rate) {
            tracing::warn!("{e}; the emulator runs without a rate limit");
            return None;
        }
        Some(Quotas {
            rate,
            burst: (rate / 10.0).max(1.0),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a token for the project `name` belongs to, or answers RESOURCE_EXHAUSTED.
    pub(crate) fn admit(&self, name: &str) -> Result<(), tonic::Status> {
        let project = project_of(name);
        match self.take(project, Instant::now()) {
            Ok(()) => Ok(()),
            Err(wait) => Err(self.exhausted(project, wait)),
        }
    }

    /// Takes a token at `now`, or says how long until one is there.
    fn take(&self, project: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let bucket = match buckets.get_mut(project) {
            Some(b) => b,
            None => buckets.entry(project.to_owned()).or_insert(Bucket {
                tokens: self.burst,
                at: now,
            }),
        };
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = Duration::try_from_secs_f64((1.0 - bucket.tokens) / self.rate)
                .unwrap_or(Duration::from_secs(1));
            Err(wait.max(MIN_RETRY_DELAY))
        }
    }

    fn exhausted(&self, project: &str, wait: Duration) -> tonic::Status {
        let consumer = if project.is_empty() {
            "operations".to_owned()
        } else {
            format!("projects/{project}")
        };
        let limit = format!("{}", self.rate);
        let message = format!(
            "Quota exceeded for {consumer}: at most {limit} requests per second (eeops emulator rate limit); retry after {wait:?}."
        );
        let retry = RetryInfo {
            retry_delay: Some(prost_types::Duration {
                seconds: i64::try_from(wait.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(wait.subsec_nanos()).unwrap_or(0),
            }),
        };
        let failure = QuotaFailure {
            violations: vec![quota_failure::Violation {
                subject: consumer.clone(),
                description: format!("Requests per second per project: limit {limit}"),
                api_service: "earthengine.googleapis.com".into(),
                quota_metric: "earthengine.googleapis.com/requests".into(),
                quota_id: "RequestsPerSecondPerProject".into(),
                quota_value: self.rate.ceil() as i64,
                ..Default::default()
            }],
        };
        let info = ErrorInfo {
            reason: "RATE_LIMIT_EXCEEDED".into(),
            domain: "googleapis.com".into(),
            metadata: [
                (
                    "service".to_owned(),
                    "earthengine.googleapis.com".to_owned(),
                ),
                ("consumer".to_owned(), consumer),
                ("quota_limit_value".to_owned(), limit),
            ]
            .into_iter()
            .collect(),
        };
        let any = |type_name: &str, value: Vec<u8>| prost_types::Any {
            type_url: format!("type.googleapis.com/{type_name}"),
            value,
        };
        crate::error::status_to_tonic(&Status {
            code: Code::ResourceExhausted as i32,
            message,
            details: vec![
                any("google.rpc.ErrorInfo", info.encode_to_vec()),
                any("google.rpc.QuotaFailure", failure.encode_to_vec()),
                any("google.rpc.RetryInfo", retry.encode_to_vec()),
            ],
        })
    }
}

/// The project a request's name belongs to: `projects/{p}/...` gives `p`; anything else
/// (the generic `operations/...`, a list of every project) the empty string.
fn project_of(name: &str) -> &str {
    name.strip_prefix("projects/")
        .map(|rest| rest.split('/').next().unwrap_or_default())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_from_names() {
        assert_eq!(project_of("projects/p/operations/X"), "p");
        assert_eq!(project_of("projects/p"), "p");
        assert_eq!(project_of("projects/p/operations"), "p");
        assert_eq!(project_of("operations/X"), "");
        assert_eq!(project_of(""), "");
    }

    #[test]
    fn the_bucket_refills_at_the_rate_and_holds_a_tenth_of_a_second() {
        let q = Quotas::new(Some(100.0)).unwrap();
        let t0 = Instant::now();
        // Full at first: 10 tokens (a tenth of a second at 100/s).
        for _ in 0..10 {
            assert!(q.take("p", t0).is_ok());
        }
        let wait = q.take("p", t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(10));
        // Another project has its own bucket.
        assert!(q.take("q", t0).is_ok());
        // 25 ms later: two tokens and a half.
        let t1 = t0 + Duration::from_millis(25);
        assert!(q.take("p", t1).is_ok());
        assert!(q.take("p", t1).is_ok());
        let wait = q.take("p", t1).unwrap_err();
        assert!(wait > Duration::from_millis(4) && wait <= Duration::from_millis(5));
        // A long pause fills it to the burst only.
        let t2 = t1 + Duration::from_secs(60);
        let taken = (0..100).filter(|_| q.take("p", t2).is_ok()).count();
        assert_eq!(taken, 10);
    }

    #[test]
    fn bad_rates_mean_no_limit() {
        assert!(Quotas::new(None).is_none());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(Quotas::new(Some(bad)).is_none(), "{bad}");
            assert!(check_rate(bad).is_err());
        }
        // Below one per second, the bucket still holds one token.
        let q = Quotas::new(Some(0.5)).unwrap();
        let t0 = Instant::now();
        assert!(q.take("p", t0).is_ok());
        assert_eq!(q.take("p", t0).unwrap_err(), Duration::from_secs(2));
    }

    #[test]
    fn the_refusal_carries_retry_info_and_quota_failure() {
        let q = Quotas::new(Some(1.0)).unwrap();
        assert!(q.admit("projects/p/operations/A").is_ok());
        let status = q.admit("projects/p/operations/B").unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        let err = crate::Error::from(status);
        let delay = err.retry_delay().unwrap();
        assert!(delay > Duration::from_millis(900) && delay <= Duration::from_secs(1));
        let details = err.details();
        assert!(details.iter().any(|d| matches!(
            d,
            crate::error::ErrorDetail::QuotaFailure(f) if f.violations[0].subject == "projects/p"
        )));
        assert!(details.iter().any(|d| matches!(
            d,
            crate::error::ErrorDetail::ErrorInfo(i) if i.reason == "RATE_LIMIT_EXCEEDED"
        )));
    }
}
