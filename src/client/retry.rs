//! Retries and deadlines.
//!
//! Every call the [`Client`](super::Client) makes goes through one loop: each attempt gets a
//! deadline of its own ([`RetryPolicy::attempt_timeout`], cut short by what is left of the
//! overall limit), and a failed attempt is tried again when the [`RetryDecider`] says so,
//! after an exponential backoff with full jitter, or after the delay a `google.rpc.RetryInfo`
//! detail asks for.
//!
//! # Why every method is retried
//!
//! All five Operations methods are safe to repeat, so `UNAVAILABLE` (HTTP 503, or a proxy's
//! 502/503/504 page) and connection failures are retried for each of them, not only for
//! reads:
//!
//! * get, list and wait do not change anything;
//! * cancel of an operation that is already cancelled or finished is a no-op in this API, so
//!   a cancel repeated after a lost answer has the same effect as one cancel;
//! * delete of an operation that is gone answers `NOT_FOUND`. When a delete is retried and a
//!   later attempt answers `NOT_FOUND`, the client counts the delete as done: an earlier
//!   attempt whose answer was lost most likely removed the operation. A `NOT_FOUND` on the
//!   *first* attempt stays an error (the name was wrong, or someone else deleted it first).
//!
//! ```
//! use std::time::Duration;
//! use eeops::client::RetryPolicy;
//!
//! let policy = RetryPolicy::default()
//!     .with_max_attempts(8)
//!     .with_time_limit(Some(Duration::from_secs(30)));
//! assert_eq!(policy.max_attempts, 8);
//! // Backoff caps grow exponentially up to `max_backoff`; the actual sleep is drawn
//! // uniformly from zero to the cap (full jitter).
//! assert_eq!(policy.backoff_cap(1), Duration::from_millis(100));
//! assert_eq!(policy.backoff_cap(3), Duration::from_millis(400));
//! assert_eq!(policy.backoff_cap(30), Duration::from_secs(10));
//! ```

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::backoff::Backoff;
use crate::stub::{CallOptions, OperationsMethod};
use crate::{Error, Result};

/// How the client retries a failed call, and how long it lets a call take.
///
/// A plain struct with public fields and [`Default`]; `with_*` setters chain.
///
/// | field | default |
/// |---|---|
/// | `max_attempts` | 5 (1 means no retries) |
/// | `initial_backoff` | 100 ms |
/// | `max_backoff` | 10 s |
/// | `multiplier` | 2.0 |
/// | `time_limit` | 60 s for a whole call, retries and backoff included (`None`: no limit) |
/// | `attempt_timeout` | 30 s for one attempt (`None`: no limit) |
///
/// ```
/// let none = eeops::client::RetryPolicy::no_retries();
/// assert_eq!(none.max_attempts, 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts per call, the first included; at least 1.
    pub max_attempts: u32,
    /// The backoff cap before the first retry.
    pub initial_backoff: Duration,
    /// The largest backoff cap.
    pub max_backoff: Duration,
    /// How much the cap grows after each retry.
    pub multiplier: f64,
    /// The overall limit of one call, retries and backoff included.
    pub time_limit: Option<Duration>,
    /// The limit of one attempt.
    pub attempt_timeout: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            multiplier: 2.0,
            time_limit: Some(Duration::from_secs(60)),
            attempt_timeout: Some(Duration::from_secs(30)),
        }
    }
}

impl RetryPolicy {
    /// The default policy with a single attempt.
    pub fn no_retries() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Sets [`max_attempts`](Self::max_attempts) (0 counts as 1).
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Sets [`initial_backoff`](Self::initial_backoff).
    pub fn with_initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// Sets [`max_backoff`](Self::max_backoff).
    pub fn with_max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// Sets [`multiplier`](Self::multiplier) (values below 1 count as 1).
    pub fn with_multiplier(mut self, m: f64) -> Self {
        self.multiplier = m;
        self
    }

    /// Sets [`time_limit`](Self::time_limit).
    pub fn with_time_limit(mut self, d: Option<Duration>) -> Self {
        self.time_limit = d;
        self
    }

    /// Sets [`attempt_timeout`](Self::attempt_timeout).
    pub fn with_attempt_timeout(mut self, d: Option<Duration>) -> Self {
        self.attempt_timeout = d;
        self
    }

    /// The backoff cap after failed attempt number `attempt` (1-based):
    /// `initial_backoff * multiplier^(attempt-1)`, at most `max_backoff`.
    pub fn backoff_cap(&self, attempt: u32) -> Duration {
        self.backoff().delay(attempt.saturating_sub(1))
    }

    /// A sleep drawn uniformly from zero to [`backoff_cap`](Self::backoff_cap) (full jitter).
    pub fn jittered_backoff(&self, attempt: u32) -> Duration {
        self.backoff().jittered(attempt.saturating_sub(1))
    }

    fn backoff(&self) -> Backoff {
        Backoff {
            initial: self.initial_backoff,
            max: self.max_backoff,
            multiplier: self.multiplier,
        }
    }
}

/// Decides whether a failed attempt is tried again: the hook a caller can replace.
///
/// Closures `Fn(OperationsMethod, u32, &Error) -> bool` implement it; the arguments are the
/// method, the number of the attempt that failed (1-based) and its error. Limits of the
/// [`RetryPolicy`] (attempts, time) apply whatever the decider says.
///
/// ```
/// use eeops::client::{Client, RetryDecider};
/// use eeops::stub::OperationsMethod;
///
/// // Also retry RESOURCE_EXHAUSTED, but never retry a cancel.
/// let decider = |method: OperationsMethod, _attempt: u32, err: &eeops::Error| {
///     method != OperationsMethod::CancelOperation
///         && (err.is_retryable()
///             || err.code() == Some(eeops::pb::google::rpc::Code::ResourceExhausted))
/// };
/// let builder = Client::builder().retry_decider(decider);
/// # let _ = builder;
/// ```
pub trait RetryDecider: Send + Sync + 'static {
    /// Whether to try again after `error` on attempt number `attempt`.
    fn should_retry(&self, method: OperationsMethod, attempt: u32, error: &Error) -> bool;
}

impl<F> RetryDecider for F
where
    F: Fn(OperationsMethod, u32, &Error) -> bool + Send + Sync + 'static,
{
    fn should_retry(&self, method: OperationsMethod, attempt: u32, error: &Error) -> bool {
        self(method, attempt, error)
    }
}

/// The default decider: retries what [`Error::is_retryable`] calls retryable, for every
/// method (see the [module documentation](self) for why that is safe).
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultRetryDecider;

impl RetryDecider for DefaultRetryDecider {
    fn should_retry(&self, _: OperationsMethod, _: u32, error: &Error) -> bool {
        error.is_retryable()
    }
}

/// The retry loop: a policy and a decider.
#[derive(Clone)]
pub(crate) struct Retrier {
    pub(crate) policy: RetryPolicy,
    pub(crate) decider: Arc<dyn RetryDecider>,
}

impl fmt::Debug for Retrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retrier")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Retrier {
    /// Runs `call` until it succeeds, the decider gives up, attempts run out, or the overall
    /// limit (the policy's, or `deadline` when sooner) passes. `call` gets the options of
    /// the attempt and its number (1-based).
    pub(crate) async fn run<T, F, Fut>(
        &self,
        method: OperationsMethod,
        deadline: Option<Instant>,
        mut call: F,
    ) -> Result<T>
    where
        F: FnMut(CallOptions, u32) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let start = Instant::now();
        let overall = match (self.policy.time_limit.map(|d| start + d), deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let max_attempts = self.policy.max_attempts.max(1);
        let mut attempt = 1u32;
        loop {
            let remaining = overall.map(|o| o.saturating_duration_since(Instant::now()));
            if remaining == Some(Duration::ZERO) {
                return Err(Error::timeout(format!(
                    "{} did not complete within its deadline ({} attempt(s))",
                    method.name(),
                    attempt - 1
                )));
            }
            let timeout = match (self.policy.attempt_timeout, remaining) {
                (Some(a), Some(r)) => Some(a.min(r)),
                (a, r) => a.or(r),
            };
            let mut options = CallOptions::default().with_attempt(attempt);
            if let Some(t) = timeout {
                options = options.with_timeout(t);
            }
            let fut = call(options, attempt);
            let result = match timeout {
                Some(t) => match tokio::time::timeout(t, fut).await {
                    Ok(r) => r,
                    Err(_) => Err(Error::timeout(format!(
                        "{} attempt {attempt} got no answer within {t:?}",
                        method.name()
                    ))),
                },
                None => fut.await,
            };
            let error = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if attempt >= max_attempts || !self.decider.should_retry(method, attempt, &error) {
                return Err(error);
            }
            let delay = error
                .retry_delay()
                .unwrap_or_else(|| self.policy.jittered_backoff(attempt));
            if let Some(o) = overall
                && Instant::now() + delay >= o
            {
                // No time left for another attempt: the last answer is the best we have.
                return Err(error);
            }
            tracing::debug!(
                method = method.name(),
                attempt,
                ?delay,
                error = %error,
                "retrying"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::google::rpc::Code;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn retrier(policy: RetryPolicy) -> Retrier {
        Retrier {
            policy,
            decider: Arc::new(DefaultRetryDecider),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_unavailable_until_success() {
        let r = retrier(RetryPolicy::default());
        let calls = AtomicU32::new(0);
        let out = r
            .run(OperationsMethod::CancelOperation, None, |_, attempt| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if attempt < 3 {
                        Err(Error::from_code(Code::Unavailable, "busy"))
                    } else {
                        Ok(attempt)
                    }
                }
            })
            .await;
        assert_eq!(out.ok(), Some(3));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_not_found_and_stops_at_max_attempts() {
        let r = retrier(RetryPolicy::default().with_max_attempts(2));
        let calls = AtomicU32::new(0);
        let err = r
            .run(OperationsMethod::GetOperation, None, |_, _| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(Error::from_code(Code::NotFound, "gone")) }
            })
            .await
            .unwrap_err();
        assert!(err.is_not_found());
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let calls = AtomicU32::new(0);
        let err = r
            .run(OperationsMethod::GetOperation, None, |_, _| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(Error::from_code(Code::Unavailable, "busy")) }
            })
            .await
            .unwrap_err();
        assert!(err.is_retryable());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn attempt_timeout_and_overall_deadline() {
        let r = retrier(
            RetryPolicy::default()
                .with_attempt_timeout(Some(Duration::from_secs(1)))
                .with_time_limit(Some(Duration::from_secs(5))),
        );
        let start = Instant::now();
        let err = r
            .run(
                OperationsMethod::WaitOperation,
                None,
                |opts, _| async move {
                    assert!(opts.timeout().is_some_and(|t| t <= Duration::from_secs(1)));
                    std::future::pending::<Result<()>>().await
                },
            )
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert!(start.elapsed() <= Duration::from_secs(1) + Duration::from_millis(1));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_info_sets_the_delay() {
        use crate::pb::google::rpc::{RetryInfo, Status};
        use prost::Message as _;
        let info = RetryInfo {
            retry_delay: Some(prost_types::Duration {
                seconds: 7,
                nanos: 0,
            }),
        };
        let busy = || {
            Error::service(Status {
                code: Code::Unavailable as i32,
                message: "busy".into(),
                details: vec![prost_types::Any {
                    type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
                    value: info.encode_to_vec(),
                }],
            })
        };
        let r = retrier(RetryPolicy::default());
        let start = Instant::now();
        let out = r
            .run(OperationsMethod::GetOperation, None, |_, attempt| {
                let e = busy();
                async move { if attempt == 1 { Err(e) } else { Ok(()) } }
            })
            .await;
        assert!(out.is_ok());
        assert_eq!(start.elapsed().as_secs(), 7);

        // A delay past the overall limit: give up at once with the server's answer.
        let r = retrier(RetryPolicy::default().with_time_limit(Some(Duration::from_secs(3))));
        let start = Instant::now();
        let err = r
            .run(OperationsMethod::GetOperation, None, |_, _| {
                let e = busy();
                async move { Err::<(), _>(e) }
            })
            .await
            .unwrap_err();
        assert!(err.is_retryable());
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_custom_decider_is_asked() {
        let r = Retrier {
            policy: RetryPolicy::default(),
            decider: Arc::new(|_: OperationsMethod, attempt: u32, e: &Error| {
                attempt < 3 && e.code() == Some(Code::ResourceExhausted)
            }),
        };
        let calls = AtomicU32::new(0);
        let _ = r
            .run(OperationsMethod::ListOperations, None, |_, _| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(Error::from_code(Code::ResourceExhausted, "quota")) }
            })
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn backoff_is_capped_and_jitter_stays_under_the_cap() {
        let p = RetryPolicy::default();
        for attempt in 1..40 {
            let cap = p.backoff_cap(attempt);
            assert!(cap <= p.max_backoff);
            assert!(p.jittered_backoff(attempt) <= cap);
        }
        let weird = RetryPolicy::default().with_multiplier(f64::NAN);
        assert_eq!(weird.backoff_cap(10), weird.initial_backoff);
    }
}
