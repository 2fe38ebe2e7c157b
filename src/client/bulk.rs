//! Bulk calls at the service's pace: many cancels (or deletes, or gets) with a concurrency that
//! adapts to the server.
//!
//! A project's request quota, not the network, is what limits bulk work against Earth Engine:
//! over it, calls answer `RESOURCE_EXHAUSTED` (HTTP 429), usually with a `google.rpc.RetryInfo`
//! saying when to come back. [`Client::cancel_each_with`] and its siblings run the calls with
//! an additive-increase, multiplicative-decrease (AIMD) limit on how many are in flight:
//!
//! * until the first sign of congestion every success adds one to the limit (it doubles
//!   each round trip: TCP's slow start, so a server without a quota is soon driven at the
//!   cap); after it, every success adds `1/limit` (about one more call in flight per round
//!   trip); never above [`BulkOptions::max_concurrency`];
//! * a `RESOURCE_EXHAUSTED` or `UNAVAILABLE` answer (or another failure the client's
//!   [`RetryDecider`](super::RetryDecider) retries, or an attempt that timed out) halves it,
//!   down to [`BulkOptions::min_concurrency`] — once per round: failures of calls sent before
//!   the last cut do not cut again;
//! * a `RetryInfo` delay on `RESOURCE_EXHAUSTED` pauses every new call until it has passed
//!   (the quota is the project's, not the call's); on other failures it delays that call only;
//!   without one, the call waits a jittered exponential backoff of the client's
//!   [`RetryPolicy`](super::RetryPolicy);
//! * such failures are retried, however many times, until [`BulkOptions::time_limit`] has
//!   passed (the policy's `max_attempts` does not apply here: the deadline bounds the work);
//!   anything else (`NOT_FOUND`, `INVALID_ARGUMENT`, `UNIMPLEMENTED`...) is that name's
//!   outcome at once. A delete retried after a lost answer that then finds the operation gone
//!   counts as done, as with [`Client::delete`](super::Client::delete).
//!
//! Over REST, when the server has Google's batch endpoint, the calls travel up to
//! [`BulkOptions::batch_size`] at a time in one `POST {base}/batch` (see the `batch` module):
//! the limit then counts the calls inside the batches in flight, each part is retried on its
//! own, and the outcomes are the same as with single calls. A server without the endpoint
//! (HTTP 404) gets single calls from then on.
//!
//! [`Bulk::progress`] tells the current limit and rate while the work runs.
//!
//! ```
//! # #[cfg(not(feature = "server"))] fn main() {}
//! # #[cfg(feature = "server")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use futures::StreamExt as _;
//! use eeops::client::{BulkOptions, Client};
//! use eeops::server::emulator::{Emulator, EmulatorConfig, TaskSpec};
//!
//! let emulator = Emulator::new(EmulatorConfig::default().with_rate_limit(Some(500.0)));
//! let server = eeops::server::serve(emulator.clone(), "127.0.0.1:0".parse()?).await?;
//! let names: Vec<String> = (0..100).map(|_| emulator.start_task("p", TaskSpec::default())).collect();
//!
//! let client = Client::builder().endpoint(format!("http://{}", server.local_addr())).build().await?;
//! let mut bulk = client.cancel_each_with(&names, BulkOptions::default().with_batch_size(20));
//! let progress = bulk.progress();
//! let mut failed = 0;
//! while let Some((_index, _name, result)) = bulk.next().await {
//!     failed += usize::from(result.is_err());
//! }
//! assert_eq!(failed, 0);
//! assert_eq!(progress.completed(), 100);
//! server.shutdown().await;
//! # Ok(()) }
//! ```

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, Stream, StreamExt as _};
use tokio::time::Instant;

use super::batch::{BatchReply, PartDecoder};
use super::rest::{RestTransport, decode_empty, decode_message};
use super::{BoxStream, Client};
use crate::pb::google::longrunning::{
    CancelOperationRequest, DeleteOperationRequest, GetOperationRequest, Operation,
};
use crate::pb::google::rpc::Code;
use crate::stub::{CallOptions, OperationsMethod, dynamic};
use crate::{Error, ErrorKind, Result};

/// The default of [`BulkOptions::batch_size`].
///
/// Google documents 1000 calls as the most one batch may hold. 100 keeps a batch's request and
/// reply small (about 15 and 10 KB), takes almost all of the saving (one request instead of 100
/// already removes 99% of the per-request work), keeps progress smooth, costs at most 100
/// retried parts when a whole batch is lost, and does not spend a large share of a small
/// quota's burst in one go.
pub const DEFAULT_BATCH_SIZE: usize = 100;

/// How a bulk call runs. A plain struct with [`Default`]; `with_*` setters chain.
///
/// | field | default |
/// |---|---|
/// | `max_concurrency` | 64 calls in flight at most (the cap) |
/// | `min_concurrency` | 1 (the floor) |
/// | `initial_concurrency` | 16 |
/// | `batch_size` | [`DEFAULT_BATCH_SIZE`] (REST only; 0 or 1: single calls) |
/// | `time_limit` | 10 minutes for the whole bulk call (`None`: no limit) |
///
/// ```
/// use std::time::Duration;
/// use eeops::client::BulkOptions;
///
/// let options = BulkOptions::default()
///     .with_max_concurrency(256)
///     .with_batch_size(0)
///     .with_time_limit(Some(Duration::from_secs(60)));
/// assert_eq!(options.min_concurrency, 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BulkOptions {
    /// The most calls in flight (single calls, or parts of batches in flight).
    pub max_concurrency: usize,
    /// The fewest calls in flight the limit goes down to.
    pub min_concurrency: usize,
    /// The limit at the start.
    pub initial_concurrency: usize,
    /// Over REST, the most calls one `/batch` request holds; 0 or 1 sends single calls.
    pub batch_size: usize,
    /// The overall limit: calls that failed in a way worth retrying are retried until then;
    /// names still not done at the deadline get their last error (or a timeout).
    pub time_limit: Option<Duration>,
}

impl Default for BulkOptions {
    fn default() -> Self {
        BulkOptions {
            max_concurrency: 64,
            min_concurrency: 1,
            initial_concurrency: 16,
            batch_size: DEFAULT_BATCH_SIZE,
            time_limit: Some(Duration::from_secs(600)),
        }
    }
}

impl BulkOptions {
    /// Sets [`max_concurrency`](Self::max_concurrency) (0 counts as 1).
    pub fn with_max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n.max(1);
        self
    }

    /// Sets [`min_concurrency`](Self::min_concurrency) (0 counts as 1).
    pub fn with_min_concurrency(mut self, n: usize) -> Self {
        self.min_concurrency = n.max(1);
        self
    }

    /// Sets [`initial_concurrency`](Self::initial_concurrency).
    pub fn with_initial_concurrency(mut self, n: usize) -> Self {
        self.initial_concurrency = n;
        self
    }

    /// Sets [`batch_size`](Self::batch_size).
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }

    /// Sets [`time_limit`](Self::time_limit).
    pub fn with_time_limit(mut self, limit: Option<Duration>) -> Self {
        self.time_limit = limit;
        self
    }

    /// The floor, the cap and the start, made consistent (1 <= floor <= start <= cap).
    fn bounds(&self) -> (f64, f64, f64) {
        let cap = self.max_concurrency.max(1);
        let floor = self.min_concurrency.clamp(1, cap);
        let start = self.initial_concurrency.clamp(floor, cap);
        (floor as f64, cap as f64, start as f64)
    }
}

/// Live figures of a running bulk call; cheap to clone, and readable from another task (e.g.
/// to draw a progress bar).
#[derive(Debug, Clone)]
pub struct BulkProgress {
    inner: Arc<ProgressInner>,
}

#[derive(Debug)]
struct ProgressInner {
    started: Instant,
    limit: AtomicUsize,
    completed: AtomicU64,
    succeeded: AtomicU64,
    throttled: AtomicU64,
    retried: AtomicU64,
    requests: AtomicU64,
    window: Mutex<RateWindow>,
}

/// Successes counted over windows of about a second.
#[derive(Debug)]
struct RateWindow {
    start: Instant,
    count: u64,
    last: Option<f64>,
}

impl BulkProgress {
    fn new(limit: usize) -> Self {
        let now = Instant::now();
        BulkProgress {
            inner: Arc::new(ProgressInner {
                started: now,
                limit: AtomicUsize::new(limit),
                completed: AtomicU64::new(0),
                succeeded: AtomicU64::new(0),
                throttled: AtomicU64::new(0),
                retried: AtomicU64::new(0),
                requests: AtomicU64::new(0),
                window: Mutex::new(RateWindow {
                    start: now,
                    count: 0,
                    last: None,
                }),
            }),
        }
    }

    /// The current limit on calls in flight.
    pub fn concurrency(&self) -> usize {
        self.inner.limit.load(Ordering::Relaxed)
    }

    /// Names whose outcome is known (success or not).
    pub fn completed(&self) -> u64 {
        self.inner.completed.load(Ordering::Relaxed)
    }

    /// Names that succeeded.
    pub fn succeeded(&self) -> u64 {
        self.inner.succeeded.load(Ordering::Relaxed)
    }

    /// Calls answered `RESOURCE_EXHAUSTED` (each retried).
    pub fn throttled(&self) -> u64 {
        self.inner.throttled.load(Ordering::Relaxed)
    }

    /// Calls retried for any reason, `RESOURCE_EXHAUSTED` included.
    pub fn retried(&self) -> u64 {
        self.inner.retried.load(Ordering::Relaxed)
    }

    /// HTTP or gRPC requests sent (a batch counts once).
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Successes per second, over about the last second.
    pub fn rate(&self) -> f64 {
        let w = self
            .inner
            .window
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let elapsed = w.start.elapsed().as_secs_f64();
        match w.last {
            Some(last) if elapsed < 2.0 => last,
            _ if elapsed > 0.0 => w.count as f64 / elapsed,
            _ => 0.0,
        }
    }

    /// Time since the bulk call started.
    pub fn elapsed(&self) -> Duration {
        self.inner.started.elapsed()
    }

    fn success(&self) {
        self.inner.succeeded.fetch_add(1, Ordering::Relaxed);
        let mut w = self
            .inner
            .window
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(w.start);
        if elapsed >= Duration::from_secs(1) {
            w.last = Some(w.count as f64 / elapsed.as_secs_f64());
            w.start = now;
            w.count = 0;
        }
        w.count += 1;
    }
}

/// The outcomes of a bulk call, as a stream of `(index in the input, name, result)` in
/// completion order, with its [`progress`](Self::progress). Every name yields exactly once.
pub struct Bulk<T> {
    stream: BoxStream<(usize, String, Result<T>)>,
    progress: BulkProgress,
}

impl<T> std::fmt::Debug for Bulk<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bulk")
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

impl<T> Bulk<T> {
    /// A handle on the live figures.
    pub fn progress(&self) -> BulkProgress {
        self.progress.clone()
    }
}

impl<T> Stream for Bulk<T> {
    type Item = (usize, String, Result<T>);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.stream.poll_next_unpin(cx)
    }
}

/// One kind of call a bulk run makes: a method that takes only a name.
trait BulkCall: Send + Sync + 'static {
    type Output: Send + 'static;
    const METHOD: OperationsMethod;
    fn call(
        stub: &dyn dynamic::Operations,
        name: String,
        options: CallOptions,
    ) -> BoxFuture<'_, Result<Self::Output>>;
    const DECODE: PartDecoder<Self::Output>;
    /// The final outcome of an error that is not retried, on attempt `attempt`.
    fn settle(_attempt: u32, error: Error) -> Result<Self::Output> {
        Err(error)
    }
}

struct CancelCall;
impl BulkCall for CancelCall {
    type Output = ();
    const METHOD: OperationsMethod = OperationsMethod::CancelOperation;
    const DECODE: PartDecoder<()> = decode_empty;
    fn call(
        stub: &dyn dynamic::Operations,
        name: String,
        options: CallOptions,
    ) -> BoxFuture<'_, Result<()>> {
        stub.cancel_operation(CancelOperationRequest { name }, options)
    }
}

struct DeleteCall;
impl BulkCall for DeleteCall {
    type Output = ();
    const METHOD: OperationsMethod = OperationsMethod::DeleteOperation;
    const DECODE: PartDecoder<()> = decode_empty;
    fn call(
        stub: &dyn dynamic::Operations,
        name: String,
        options: CallOptions,
    ) -> BoxFuture<'_, Result<()>> {
        stub.delete_operation(DeleteOperationRequest { name }, options)
    }
    fn settle(attempt: u32, error: Error) -> Result<()> {
        // An earlier attempt whose answer was lost most likely deleted it.
        if attempt > 1 && error.is_not_found() {
            Ok(())
        } else {
            Err(error)
        }
    }
}

struct GetCall;
impl BulkCall for GetCall {
    type Output = Operation;
    const METHOD: OperationsMethod = OperationsMethod::GetOperation;
    const DECODE: PartDecoder<Operation> = decode_message::<Operation>;
    fn call(
        stub: &dyn dynamic::Operations,
        name: String,
        options: CallOptions,
    ) -> BoxFuture<'_, Result<Operation>> {
        stub.get_operation(GetOperationRequest { name }, options)
    }
}

impl Client {
    /// Cancels many operations at an adaptive concurrency (see the [`bulk`](self) module),
    /// yielding each outcome as soon as it is known: the name's index in the input, the name,
    /// and the result. Every name yields exactly once; a bad name fails alone, without a
    /// request.
    pub fn cancel_each_with<I, S>(&self, names: I, options: BulkOptions) -> Bulk<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.bulk::<CancelCall, I, S>(names, options)
    }

    /// Deletes many operations, as [`cancel_each_with`](Self::cancel_each_with) cancels them.
    pub fn delete_each_with<I, S>(&self, names: I, options: BulkOptions) -> Bulk<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.bulk::<DeleteCall, I, S>(names, options)
    }

    /// Reads many operations, as [`cancel_each_with`](Self::cancel_each_with) cancels them.
    pub fn get_each_with<I, S>(&self, names: I, options: BulkOptions) -> Bulk<Operation>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.bulk::<GetCall, I, S>(names, options)
    }

    fn bulk<C: BulkCall, I, S>(&self, names: I, options: BulkOptions) -> Bulk<C::Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let (floor, cap, start) = options.bounds();
        let progress = BulkProgress::new(start as usize);
        let mut out = VecDeque::new();
        let mut ready = VecDeque::new();
        for (index, raw) in names.into_iter().enumerate() {
            let raw = raw.as_ref();
            match self.operation_name(raw) {
                Ok(name) => ready.push_back(Item {
                    index,
                    name,
                    attempt: 0,
                    last_error: None,
                }),
                Err(e) => out.push_back((index, raw.to_owned(), Err(e))),
            }
        }
        progress
            .inner
            .completed
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        let batching = options.batch_size > 1;
        let driver: Driver<C> = Driver {
            client: self.clone(),
            rest: self.inner.rest.clone().filter(|_| batching),
            batch_size: options.batch_size.max(1),
            deadline: options.time_limit.map(|t| Instant::now() + t),
            ready,
            delayed: BinaryHeap::new(),
            delayed_items: Vec::new(),
            in_flight: FuturesUnordered::new(),
            in_flight_calls: 0,
            limit: start,
            floor,
            cap,
            slow_start: true,
            answered: false,
            generation: 0,
            paused_until: None,
            out,
            progress: progress.clone(),
        };
        let stream = futures::stream::unfold(driver, |mut d| async move {
            d.next_outcome().await.map(|o| (o, d))
        })
        .boxed();
        Bulk { stream, progress }
    }
}

/// A name still to be done.
struct Item {
    index: usize,
    name: String,
    /// Attempts made so far.
    attempt: u32,
    last_error: Option<Error>,
}

/// What came back from one request (a single call, or a batch).
struct Flight<T> {
    generation: u64,
    answer: FlightAnswer<T>,
}

enum FlightAnswer<T> {
    /// One result per item.
    Each(Vec<(Item, Result<T>)>),
    /// The batch endpoint is missing: nothing was done.
    Unsupported(Vec<Item>),
    /// The whole batch failed: no item's outcome is known.
    Whole(Vec<Item>, Error),
}

struct Driver<C: BulkCall> {
    client: Client,
    rest: Option<RestTransport>,
    batch_size: usize,
    deadline: Option<Instant>,
    ready: VecDeque<Item>,
    /// Items waiting out a delay: (when, slot in `delayed_items`).
    delayed: BinaryHeap<Reverse<(Instant, usize)>>,
    delayed_items: Vec<Option<Item>>,
    in_flight: FuturesUnordered<BoxFuture<'static, Flight<C::Output>>>,
    /// Calls in flight (a batch counts its parts).
    in_flight_calls: usize,
    limit: f64,
    floor: f64,
    cap: f64,
    /// No congestion seen yet: the limit grows by one per success.
    slow_start: bool,
    /// The server has answered at least once (a success or a status). Until then a connection
    /// failure counts against the retry policy's `max_attempts`, so a dead endpoint ends the
    /// run quickly instead of being retried until the deadline.
    answered: bool,
    /// Bumped at each decrease; a failure of a call sent before the last decrease does not
    /// decrease again.
    generation: u64,
    /// No new call before this (a RetryInfo on RESOURCE_EXHAUSTED).
    paused_until: Option<Instant>,
    out: VecDeque<(usize, String, Result<C::Output>)>,
    progress: BulkProgress,
}

impl<C: BulkCall> Driver<C> {
    async fn next_outcome(&mut self) -> Option<(usize, String, Result<C::Output>)> {
        loop {
            if let Some(o) = self.out.pop_front() {
                return Some(o);
            }
            if self.ready.is_empty() && self.delayed.is_empty() && self.in_flight.is_empty() {
                return None;
            }
            self.step().await;
        }
    }

    async fn step(&mut self) {
        let now = Instant::now();
        if self.deadline.is_some_and(|d| now >= d) {
            self.expire();
        }
        while let Some(Reverse((at, slot))) = self.delayed.peek().copied() {
            if at > now {
                break;
            }
            self.delayed.pop();
            if let Some(item) = self.delayed_items.get_mut(slot).and_then(Option::take) {
                self.ready.push_back(item);
            }
        }
        if self.delayed.is_empty() {
            self.delayed_items.clear();
        }
        self.dispatch(now);
        if !self.out.is_empty() {
            return;
        }
        // (Past the deadline only calls in flight are left, and they end by it.)
        let mut wake = self.deadline.filter(|d| *d > now);
        let mut earlier = |t: Instant| {
            wake = Some(wake.map_or(t, |w| w.min(t)));
        };
        if let Some(p) = self.paused_until.filter(|p| *p > now) {
            earlier(p);
        }
        if let Some(Reverse((at, _))) = self.delayed.peek() {
            earlier(*at);
        }
        let sleep = async move {
            match wake {
                Some(w) => tokio::time::sleep_until(w).await,
                None => std::future::pending().await,
            }
        };
        if self.in_flight.is_empty() {
            sleep.await;
            return;
        }
        tokio::select! {
            Some(flight) = self.in_flight.next() => self.absorb(flight),
            () = sleep => {}
        }
    }

    /// The deadline passed: every name not in flight ends with its last error.
    fn expire(&mut self) {
        let delayed = self.delayed_items.drain(..).flatten();
        let items: Vec<Item> = self.ready.drain(..).chain(delayed).collect();
        self.delayed.clear();
        for item in items {
            let error = item.last_error.unwrap_or_else(|| {
                Error::timeout(format!(
                    "{}: not sent before the bulk call's deadline",
                    C::METHOD.name()
                ))
            });
            self.finish(item.index, item.name, C::settle(item.attempt, error));
        }
    }

    fn finish(&mut self, index: usize, name: String, result: Result<C::Output>) {
        self.progress
            .inner
            .completed
            .fetch_add(1, Ordering::Relaxed);
        if result.is_ok() {
            self.progress.success();
        }
        self.out.push_back((index, name, result));
    }

    fn options(&self, now: Instant) -> CallOptions {
        let policy = &self.client.inner.retrier.policy;
        let remaining = self.deadline.map(|d| d.saturating_duration_since(now));
        let timeout = match (policy.attempt_timeout, remaining) {
            (Some(a), Some(r)) => Some(a.min(r)),
            (a, r) => a.or(r),
        };
        match timeout {
            Some(t) => CallOptions::default().with_timeout(t.max(Duration::from_millis(1))),
            None => CallOptions::default(),
        }
    }

    fn batching(&self) -> bool {
        self.rest
            .as_ref()
            .is_some_and(|r| r.batch_support() != Some(false))
    }

    /// Starts calls while the limit allows.
    fn dispatch(&mut self, now: Instant) {
        if self.paused_until.is_some_and(|p| p > now) {
            return;
        }
        self.paused_until = None;
        loop {
            let limit = self.limit.floor() as usize;
            if self.ready.is_empty() || self.in_flight_calls >= limit {
                return;
            }
            let free = limit - self.in_flight_calls;
            let n = if self.batching() {
                let want = self.batch_size.min(limit).min(self.ready.len());
                if free < want && self.in_flight_calls > 0 {
                    // Wait for room for a whole batch rather than send a sliver.
                    return;
                }
                want.min(free).max(1)
            } else {
                1
            };
            let mut items: Vec<Item> = self.ready.drain(..n).collect();
            for item in &mut items {
                item.attempt += 1;
            }
            self.in_flight_calls += items.len();
            self.progress.inner.requests.fetch_add(1, Ordering::Relaxed);
            let options = self.options(now);
            let generation = self.generation;
            let stub = self.client.stub();
            let flight: BoxFuture<'static, Flight<C::Output>> = match (&self.rest, items.len()) {
                (Some(rest), n) if n > 1 => {
                    let rest = rest.clone();
                    // The batch carries the highest attempt number of its parts.
                    let options =
                        options.with_attempt(items.iter().map(|i| i.attempt).max().unwrap_or(1));
                    Box::pin(async move {
                        let names: Vec<String> = items.iter().map(|i| i.name.clone()).collect();
                        let answer = match rest.batch(C::METHOD, &names, &options, C::DECODE).await
                        {
                            Ok(BatchReply::Parts(results)) => {
                                FlightAnswer::Each(items.into_iter().zip(results).collect())
                            }
                            Ok(BatchReply::Unsupported) => FlightAnswer::Unsupported(items),
                            Err(e) => FlightAnswer::Whole(items, e),
                        };
                        Flight { generation, answer }
                    })
                }
                _ => Box::pin(async move {
                    let mut each = Vec::with_capacity(items.len());
                    for item in items {
                        let timeout = options.timeout();
                        let call = C::call(
                            &*stub,
                            item.name.clone(),
                            options.clone().with_attempt(item.attempt),
                        );
                        let result = match timeout {
                            Some(t) => tokio::time::timeout(t, call).await.unwrap_or_else(|_| {
                                Err(Error::timeout(format!(
                                    "{} got no answer within {t:?}",
                                    C::METHOD.name()
                                )))
                            }),
                            None => call.await,
                        };
                        each.push((item, result));
                    }
                    Flight {
                        generation,
                        answer: FlightAnswer::Each(each),
                    }
                }),
            };
            self.in_flight.push(flight);
        }
    }

    fn absorb(&mut self, flight: Flight<C::Output>) {
        let now = Instant::now();
        match flight.answer {
            FlightAnswer::Each(results) => {
                self.in_flight_calls -= results.len();
                for (item, result) in results {
                    match result {
                        Ok(v) => {
                            self.answered = true;
                            let step = if self.slow_start {
                                1.0
                            } else {
                                1.0 / self.limit.max(1.0)
                            };
                            self.limit = (self.limit + step).min(self.cap);
                            self.finish(item.index, item.name, Ok(v));
                        }
                        Err(e) => self.failed(item, e, flight.generation, now),
                    }
                }
            }
            FlightAnswer::Unsupported(items) => {
                self.in_flight_calls -= items.len();
                for mut item in items.into_iter().rev() {
                    // Not an attempt: nothing was done.
                    item.attempt -= 1;
                    self.ready.push_front(item);
                }
            }
            FlightAnswer::Whole(items, e) => {
                self.in_flight_calls -= items.len();
                for item in items {
                    let copy = copy_error(&e);
                    self.failed(item, copy, flight.generation, now);
                }
            }
        }
        self.progress
            .inner
            .limit
            .store(self.limit.floor() as usize, Ordering::Relaxed);
    }

    fn retry_worthy(&self, attempt: u32, e: &Error) -> bool {
        if !self.answered
            && e.kind() == ErrorKind::Transport
            && attempt >= self.client.inner.retrier.policy.max_attempts
        {
            return false;
        }
        e.code() == Some(Code::ResourceExhausted)
            || e.kind() == ErrorKind::Timeout
            || self
                .client
                .inner
                .retrier
                .decider
                .should_retry(C::METHOD, attempt, e)
    }

    fn failed(&mut self, mut item: Item, e: Error, generation: u64, now: Instant) {
        self.answered |= e.status().is_some();
        if !self.retry_worthy(item.attempt, &e) {
            let result = C::settle(item.attempt, e);
            self.finish(item.index, item.name, result);
            return;
        }
        self.slow_start = false;
        if generation == self.generation {
            self.limit = (self.limit / 2.0).max(self.floor);
            self.generation += 1;
        }
        self.progress.inner.retried.fetch_add(1, Ordering::Relaxed);
        let delay = e.retry_delay();
        let throttled = e.code() == Some(Code::ResourceExhausted);
        if throttled {
            self.progress
                .inner
                .throttled
                .fetch_add(1, Ordering::Relaxed);
        }
        let delay = match delay {
            Some(d) if throttled => {
                let until = now + d;
                self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
                None
            }
            Some(d) => Some(d),
            None => Some(
                self.client
                    .inner
                    .retrier
                    .policy
                    .jittered_backoff(item.attempt),
            ),
        };
        item.last_error = Some(e);
        match delay {
            Some(d) if !d.is_zero() => {
                let at = now + d;
                if self.deadline.is_some_and(|dl| at >= dl) {
                    // No time left to try again: the last answer is the outcome.
                    let error = item.last_error.take().unwrap_or_else(|| {
                        Error::timeout(format!("{}: deadline passed", C::METHOD.name()))
                    });
                    let result = C::settle(item.attempt, error);
                    self.finish(item.index, item.name, result);
                    return;
                }
                self.delayed_items.push(Some(item));
                self.delayed
                    .push(Reverse((at, self.delayed_items.len() - 1)));
            }
            _ => self.ready.push_front(item),
        }
    }
}

/// A copy of an error, for each call of a batch that failed as a whole.
fn copy_error(e: &Error) -> Error {
    match (e.status(), e.kind()) {
        (Some(status), _) => match e.http_status() {
            Some(h) => Error::service_http(status.clone(), h),
            None => Error::service(status.clone()),
        },
        (None, ErrorKind::Timeout) => Error::timeout(e.to_string()),
        (None, ErrorKind::Transport) => Error::transport(e.message().to_owned(), e.to_string()),
        (None, ErrorKind::Decode) => match e.http_status() {
            Some(h) => Error::decode_http(e.to_string(), h),
            None => Error::decode(e.to_string()),
        },
        (None, ErrorKind::Auth) => Error::auth(e.message().to_owned(), e.to_string()),
        (None, ErrorKind::Config) => Error::config(e.to_string()),
        (None, _) => Error::invalid_request(e.to_string()),
    }
}
