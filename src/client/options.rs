//! The options of a [`Client`](super::Client)'s calls: its transport, listing and waiting.

use std::time::Duration;

use super::backoff::Backoff;
use crate::{Error, Result};

/// The transport a [`Client`](super::Client) speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Transport {
    /// JSON over HTTP, with gRPC transcoding (the default).
    #[default]
    Rest,
    /// gRPC over HTTP/2.
    Grpc,
}

impl std::str::FromStr for Transport {
    type Err = Error;

    /// `rest` or `grpc`, in any case.
    fn from_str(s: &str) -> Result<Transport> {
        match s.to_ascii_lowercase().as_str() {
            "rest" | "http" | "json" => Ok(Transport::Rest),
            "grpc" => Ok(Transport::Grpc),
            _ => Err(Error::config(format!(
                "unknown transport `{s}` (expected rest or grpc)"
            ))),
        }
    }
}

/// Options of [`Client::list_with`](super::Client::list_with).
///
/// ```
/// let opts = eeops::client::ListOptions::default()
///     .with_filter("done = false")
///     .with_page_size(500);
/// assert_eq!(opts.page_size, Some(500));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListOptions {
    /// The server's filter expression.
    pub filter: Option<String>,
    /// How many operations to ask for per page (the server may send fewer).
    pub page_size: Option<i32>,
    /// Ask for partial results when some locations are unreachable (v1alpha).
    pub return_partial_success: bool,
}

impl ListOptions {
    /// Sets the filter.
    pub fn with_filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = Some(filter.into());
        self
    }

    /// Sets the page size.
    pub fn with_page_size(mut self, page_size: i32) -> Self {
        self.page_size = Some(page_size);
        self
    }

    /// Sets `return_partial_success`.
    pub fn with_return_partial_success(mut self, yes: bool) -> Self {
        self.return_partial_success = yes;
        self
    }
}

/// Options of [`Client::wait`](super::Client::wait) and friends. A [`Duration`] converts into options with that
/// overall timeout.
///
/// | field | default |
/// |---|---|
/// | `timeout` | none: wait until done |
/// | `poll_initial` | 1 s, the first polling interval |
/// | `poll_max` | 30 s |
/// | `poll_multiplier` | 1.5 |
/// | `server_wait` | 10 s, the longest single WaitOperation (progress arrives at least this often) |
///
/// ```
/// use std::time::Duration;
/// use eeops::client::WaitOptions;
///
/// let opts: WaitOptions = Duration::from_secs(60).into();
/// assert_eq!(opts.timeout, Some(Duration::from_secs(60)));
/// let fast = WaitOptions::default().with_poll_interval(Duration::from_millis(50), Duration::from_millis(200));
/// assert_eq!(fast.poll_max, Duration::from_millis(200));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WaitOptions {
    /// The overall deadline.
    pub timeout: Option<Duration>,
    /// The first polling interval.
    pub poll_initial: Duration,
    /// The largest polling interval.
    pub poll_max: Duration,
    /// How much the polling interval grows each time.
    pub poll_multiplier: f64,
    /// The longest single WaitOperation call.
    pub server_wait: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            timeout: None,
            poll_initial: Duration::from_secs(1),
            poll_max: Duration::from_secs(30),
            poll_multiplier: 1.5,
            server_wait: Duration::from_secs(10),
        }
    }
}

impl From<Duration> for WaitOptions {
    fn from(timeout: Duration) -> Self {
        WaitOptions::default().with_timeout(timeout)
    }
}

impl WaitOptions {
    /// Sets the overall timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the first and the largest polling interval.
    pub fn with_poll_interval(mut self, initial: Duration, max: Duration) -> Self {
        self.poll_initial = initial;
        self.poll_max = max.max(initial);
        self
    }

    /// Sets the longest single WaitOperation call.
    pub fn with_server_wait(mut self, wait: Duration) -> Self {
        self.server_wait = wait;
        self
    }

    /// The polling intervals: `poll_initial` growing by `poll_multiplier` up to `poll_max`.
    pub(super) fn poll_backoff(&self) -> Backoff {
        Backoff {
            initial: self.poll_initial,
            max: self.poll_max,
            multiplier: self.poll_multiplier,
        }
    }
}
