//! An in-memory Earth Engine operations service, for tests and local development.
//!
//! [`Emulator`] implements the generated `google.longrunning.Operations` server trait with
//! Earth Engine's semantics, so [`crate::server::serve`] exposes it over gRPC and REST:
//!
//! * Operations are named `projects/{project}/operations/{ID}` with 24-character uppercase
//!   ids, carry Earth Engine's `OperationMetadata` (packed as an `Any` of type
//!   [`crate::pb::EE_METADATA_TYPE_URL`]) and move PENDING → RUNNING (progress, stages,
//!   `startTime`/`updateTime` advancing) → SUCCEEDED (`response`: an `Any` of
//!   `google.protobuf.Empty`) or FAILED (`error`), on a simulated clock.
//! * **Cancel** is accepted on a pending or running operation: it shows CANCELLING, then
//!   (after [`EmulatorConfig::cancel_delay`] of emulated time) ends `done` with
//!   `error.code = 1` (CANCELLED) and metadata state CANCELLED; it is not deleted. Cancel on a
//!   finished operation changes nothing and answers OK; an unknown name answers NOT_FOUND.
//!   All state lives under one lock, so a cancel racing a completion ends in exactly one
//!   terminal state.
//! * **Delete** removes a finished operation. Deleting an operation that is not done answers
//!   FAILED_PRECONDITION (Earth Engine's delete does not cancel; cancel first).
//! * **List** is newest first, one project at a time (`projects/p` or `projects/p/operations`;
//!   `operations` lists every project), `pageSize` 50 by default and at most 500, with opaque
//!   page tokens that hold the position in the insertion order (so inserts between pages
//!   neither skip nor repeat anything), and a `filter` of equality tests on `done`,
//!   `metadata.state` and `metadata.type` joined by `AND`.
//! * **Wait** blocks until the operation is done or the timeout (default and cap
//!   [`EmulatorConfig::max_wait`], in wall-clock time) passes, and returns it either way.
//!
//! The clock is either real time (a background tick every [`EmulatorConfig::tick`]) or manual
//! ([`EmulatorConfig::manual_clock`]: time moves only through [`Emulator::advance`]).
//!
//! ```
//! use std::time::Duration;
//! use eeops::server::emulator::{Emulator, EmulatorConfig, TaskSpec};
//!
//! let emu = Emulator::new(EmulatorConfig::default().with_manual_clock(true));
//! let name = emu.start_task("my-project", TaskSpec::default().with_work(Duration::from_secs(10)));
//! assert!(name.starts_with("projects/my-project/operations/"));
//!
//! emu.advance(Duration::from_secs(60));
//! let op = emu.operation(&name).unwrap();
//! assert!(op.done);
//! assert!(matches!(op.result, Some(eeops::pb::google::longrunning::operation::Result::Response(_))));
//! assert_eq!(emu.effects(&name).completions, 1);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message as _;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use tokio::sync::watch;

use crate::pb::google::earthengine::v1::operation_metadata::State;
use crate::pb::google::earthengine::v1::{OperationMetadata, OperationStage};
use crate::pb::google::longrunning::{Operation, operation};
use crate::pb::google::rpc::{Code, Status};

mod filter;
mod quota;
mod run;
mod seed;
mod service;

pub use filter::Filter;
pub use run::{RunOptions, parse_duration, run};

/// Type URL of the `response` of a succeeded emulated task.
pub const EMPTY_TYPE_URL: &str = "type.googleapis.com/google.protobuf.Empty";

/// Default page size of list.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Largest page size list honours; larger requests are clamped to it.
pub const MAX_PAGE_SIZE: usize = 500;

/// The emulator's knobs. `Default` is a real-time emulator with no injected faults.
///
/// ```
/// use std::time::Duration;
/// use eeops::server::emulator::EmulatorConfig;
///
/// let config = EmulatorConfig::default()
///     .with_manual_clock(true)
///     .with_unavailable_rate(0.2)
///     .with_rng_seed(7);
/// assert!(config.manual_clock);
/// assert_eq!(config.max_wait, Duration::from_secs(60));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EmulatorConfig {
    /// Every cancel answers UNIMPLEMENTED (HTTP 501), as a server without cancel support does.
    pub cancel_unsupported: bool,
    /// Probability (0..=1) that an accepted cancel is ignored and the task completes
    /// successfully anyway (its state shows CANCELLING until then).
    pub complete_despite_cancel: f64,
    /// Added (wall-clock) to every call before it is handled.
    pub latency: Duration,
    /// Probability (0..=1) that a call answers UNAVAILABLE (HTTP 503).
    pub unavailable_rate: f64,
    /// When set, half of the injected UNAVAILABLE answers come *after* the call's effect was
    /// applied (a cancel or delete that happened although the caller saw an error), so retries
    /// are exercised; otherwise they all come before anything is done.
    pub unavailable_after_apply: bool,
    /// Time moves only through [`Emulator::advance`]; otherwise it follows the wall clock.
    pub manual_clock: bool,
    /// Real-time mode: how often the background tick advances the operations.
    pub tick: Duration,
    /// How much simulated work one unit of emulated time does: 1.0 means a task with
    /// `work = 10s` runs for 10 s; 2.0 means it runs for 5 s.
    pub progress_per_tick: f64,
    /// Seed of the random numbers (task ids, fault injection, despite-cancel rolls).
    pub rng_seed: u64,
    /// Default and largest timeout of wait.
    pub max_wait: Duration,
    /// Emulated time between an accepted cancel (state CANCELLING) and the end (CANCELLED).
    pub cancel_delay: Duration,
    /// Requests per second each project may send (a token bucket; see the `quota` module's
    /// source): over it, calls answer RESOURCE_EXHAUSTED (HTTP 429) with RetryInfo and
    /// QuotaFailure details. `None` (the default): no limit. A value that is not a positive
    /// number also means no limit (with a warning).
    pub rate_limit: Option<f64>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            cancel_unsupported: false,
            complete_despite_cancel: 0.0,
            latency: Duration::ZERO,
            unavailable_rate: 0.0,
            unavailable_after_apply: false,
            manual_clock: false,
            tick: Duration::from_millis(100),
            progress_per_tick: 1.0,
            rng_seed: 0x00ee_0b5e_ed00,
            max_wait: Duration::from_secs(60),
            cancel_delay: Duration::from_millis(500),
            rate_limit: None,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $fn:ident => $field:ident: $ty:ty;)*) => {
        $(
            $(#[$doc])*
            pub fn $fn(mut self, value: $ty) -> Self {
                self.$field = value;
                self
            }
        )*
    };
}

impl EmulatorConfig {
    setters! {
        /// Sets [`cancel_unsupported`](Self::cancel_unsupported).
        with_cancel_unsupported => cancel_unsupported: bool;
        /// Sets [`complete_despite_cancel`](Self::complete_despite_cancel).
        with_complete_despite_cancel => complete_despite_cancel: f64;
        /// Sets [`latency`](Self::latency).
        with_latency => latency: Duration;
        /// Sets [`unavailable_rate`](Self::unavailable_rate).
        with_unavailable_rate => unavailable_rate: f64;
        /// Sets [`unavailable_after_apply`](Self::unavailable_after_apply).
        with_unavailable_after_apply => unavailable_after_apply: bool;
        /// Sets [`manual_clock`](Self::manual_clock).
        with_manual_clock => manual_clock: bool;
        /// Sets [`tick`](Self::tick).
        with_tick => tick: Duration;
        /// Sets [`progress_per_tick`](Self::progress_per_tick).
        with_progress_per_tick => progress_per_tick: f64;
        /// Sets [`rng_seed`](Self::rng_seed).
        with_rng_seed => rng_seed: u64;
        /// Sets [`max_wait`](Self::max_wait).
        with_max_wait => max_wait: Duration;
        /// Sets [`cancel_delay`](Self::cancel_delay).
        with_cancel_delay => cancel_delay: Duration;
        /// Sets [`rate_limit`](Self::rate_limit).
        with_rate_limit => rate_limit: Option<f64>;
    }
}

/// How an emulated task ends if it is not cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TaskOutcome {
    /// SUCCEEDED, with a `response` (an `Any` of `google.protobuf.Empty`).
    #[default]
    Succeed,
    /// FAILED, with an `error` ([`TaskSpec::failure_code`], [`TaskSpec::failure_message`]).
    Fail,
}

/// What an emulated task does.
///
/// ```
/// use std::time::Duration;
/// use eeops::server::emulator::{TaskOutcome, TaskSpec};
///
/// let spec = TaskSpec::default()
///     .with_task_type("EXPORT_FEATURES")
///     .with_description("roads to Drive")
///     .with_work(Duration::from_secs(30))
///     .with_outcome(TaskOutcome::Fail)
///     .with_start_running(true);
/// assert_eq!(spec.task_type, "EXPORT_FEATURES");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TaskSpec {
    /// The metadata `type`: `EXPORT_IMAGE`, `EXPORT_FEATURES`, `INGEST_IMAGE`, ...
    pub task_type: String,
    /// The metadata `description`.
    pub description: String,
    /// Simulated running time (scaled by [`EmulatorConfig::progress_per_tick`]).
    pub work: Duration,
    /// How the task ends if not cancelled.
    pub outcome: TaskOutcome,
    /// Start RUNNING at once; otherwise stay PENDING for [`queue`](Self::queue) first.
    pub start_running: bool,
    /// Emulated time spent PENDING when not [`start_running`](Self::start_running).
    pub queue: Duration,
    /// The metadata `priority` (Earth Engine's default is 100).
    pub priority: i32,
    /// The metadata `destinationUris`.
    pub destination_uris: Vec<String>,
    /// The error code of a failed task.
    pub failure_code: Code,
    /// The error message of a failed task.
    pub failure_message: String,
    /// The task id to use (a random Earth Engine-like id when `None`).
    pub id: Option<String>,
}

impl Default for TaskSpec {
    fn default() -> Self {
        Self {
            task_type: "EXPORT_IMAGE".into(),
            description: "emulated task".into(),
            work: Duration::from_secs(10),
            outcome: TaskOutcome::Succeed,
            start_running: false,
            queue: Duration::from_secs(1),
            priority: 100,
            destination_uris: Vec::new(),
            failure_code: Code::Internal,
            failure_message: "Emulated task failure.".into(),
            id: None,
        }
    }
}

impl TaskSpec {
    setters! {
        /// Sets [`work`](Self::work).
        with_work => work: Duration;
        /// Sets [`outcome`](Self::outcome).
        with_outcome => outcome: TaskOutcome;
        /// Sets [`start_running`](Self::start_running).
        with_start_running => start_running: bool;
        /// Sets [`queue`](Self::queue).
        with_queue => queue: Duration;
        /// Sets [`priority`](Self::priority).
        with_priority => priority: i32;
        /// Sets [`destination_uris`](Self::destination_uris).
        with_destination_uris => destination_uris: Vec<String>;
        /// Sets [`failure_code`](Self::failure_code).
        with_failure_code => failure_code: Code;
    }

    /// Sets [`task_type`](Self::task_type).
    pub fn with_task_type(mut self, value: impl Into<String>) -> Self {
        self.task_type = value.into();
        self
    }

    /// Sets [`description`](Self::description).
    pub fn with_description(mut self, value: impl Into<String>) -> Self {
        self.description = value.into();
        self
    }

    /// Sets [`failure_message`](Self::failure_message).
    pub fn with_failure_message(mut self, value: impl Into<String>) -> Self {
        self.failure_message = value.into();
        self
    }

    /// Sets [`id`](Self::id).
    pub fn with_id(mut self, value: impl Into<String>) -> Self {
        self.id = Some(value.into());
        self
    }
}

/// How many times each kind of effect was applied to one operation. They survive a delete, so
/// a test can prove that a retried call did not apply its effect twice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EffectCounts {
    /// Cancels that moved the operation from PENDING/RUNNING to CANCELLING.
    pub cancels_applied: u32,
    /// Deletes that removed the operation.
    pub deletes_applied: u32,
    /// Transitions to a terminal state (SUCCEEDED, FAILED or CANCELLED).
    pub completions: u32,
}

/// Where a cancel stands.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Cancel {
    None,
    /// Accepted: ends CANCELLED when `left` reaches zero.
    Pending {
        left: Duration,
    },
    /// Accepted, but the task will complete anyway.
    Ignored,
}

/// One operation and its simulation.
#[derive(Debug)]
struct Entry {
    seq: u64,
    project: String,
    name: String,
    meta: OperationMetadata,
    result: Option<operation::Result>,
    work: Duration,
    worked: Duration,
    queue_left: Duration,
    outcome: TaskOutcome,
    failure: (Code, String),
    cancel: Cancel,
    done_tx: watch::Sender<bool>,
}

impl Entry {
    fn done(&self) -> bool {
        self.result.is_some()
    }

    fn state(&self) -> State {
        State::try_from(self.meta.state).unwrap_or(State::Unspecified)
    }

    fn to_operation(&self) -> Operation {
        Operation {
            name: self.name.clone(),
            metadata: Some(prost_types::Any {
                type_url: crate::pb::EE_METADATA_TYPE_URL.to_owned(),
                value: self.meta.encode_to_vec(),
            }),
            done: self.done(),
            result: self.result.clone(),
        }
    }
}

/// Everything mutable, under one lock.
#[derive(Debug)]
struct Store {
    /// Emulated now.
    now: SystemTime,
    /// Wall-clock instant `now` was last caught up to (real-time mode).
    caught_up: Instant,
    ops: HashMap<String, Entry>,
    /// Insertion order: seq -> name.
    order: BTreeMap<u64, String>,
    next_seq: u64,
    effects: HashMap<String, EffectCounts>,
    rng: StdRng,
}

#[derive(Debug)]
struct Inner {
    config: EmulatorConfig,
    state: Mutex<Store>,
    quotas: Option<quota::Quotas>,
}

/// The in-memory Earth Engine operations service (see the [module docs](self)). Cheap to
/// clone: clones share one store.
///
/// ```
/// use eeops::server::emulator::{Emulator, EmulatorConfig, TaskSpec};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let emu = Emulator::new(EmulatorConfig::default());
/// let name = emu.start_task("p", TaskSpec::default());
/// let handle = eeops::server::serve(emu.clone(), "127.0.0.1:0".parse().unwrap()).await?;
/// // ... point a client at http://{handle.local_addr()} and look at `name` ...
/// assert_eq!(emu.len(), 1);
/// handle.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Emulator {
    inner: Arc<Inner>,
}

impl Default for Emulator {
    fn default() -> Self {
        Self::new(EmulatorConfig::default())
    }
}

/// `SystemTime` truncated to whole milliseconds, so JSON timestamps have 0 or 3 fractional
/// digits (what Earth Engine's clients parse).
fn truncate_ms(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH + Duration::from_millis(d.as_millis() as u64),
        Err(_) => UNIX_EPOCH,
    }
}

fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    let d = truncate_ms(t)
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    prost_types::Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

/// The stages an emulated task reports, with the share of the work each takes.
const STAGES: &[(&str, &str, f64, i64)] = &[
    (
        "Create Local Files",
        "Computing and writing local files.",
        0.8,
        100,
    ),
    (
        "Write Files to Destination",
        "Uploading files to their destination.",
        0.2,
        1,
    ),
];

fn stages_at(progress: f64) -> Vec<OperationStage> {
    let mut before = 0.0;
    STAGES
        .iter()
        .map(|&(display, description, share, total)| {
            let within = ((progress - before) / share).clamp(0.0, 1.0);
            before += share;
            OperationStage {
                display_name: display.into(),
                description: description.into(),
                complete_work_units: (within * total as f64).floor() as i64,
                total_work_units: total,
            }
        })
        .collect()
}

const ID_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

impl Emulator {
    /// A new, empty emulator. In real-time mode, when called inside a tokio runtime, it starts
    /// a background tick (ended when the last clone is dropped); outside one, time still
    /// catches up on every call, but `wait` only wakes at its timeout.
    pub fn new(config: EmulatorConfig) -> Self {
        let state = Store {
            now: truncate_ms(SystemTime::now()),
            caught_up: Instant::now(),
            ops: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 1,
            effects: HashMap::new(),
            rng: StdRng::seed_from_u64(config.rng_seed),
        };
        let emu = Self {
            inner: Arc::new(Inner {
                quotas: quota::Quotas::new(config.rate_limit),
                config,
                state: Mutex::new(state),
            }),
        };
        if !emu.inner.config.manual_clock
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let weak = Arc::downgrade(&emu.inner);
            let tick = emu.inner.config.tick.max(Duration::from_millis(1));
            rt.spawn(ticker(weak, tick));
        }
        emu
    }

    /// The configuration.
    pub fn config(&self) -> &EmulatorConfig {
        &self.inner.config
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock leaves consistent state (every transition is applied
        // in one step), so a poisoned lock is still usable.
        let mut st = self
            .inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !self.inner.config.manual_clock {
            let now = Instant::now();
            let elapsed = now.saturating_duration_since(st.caught_up);
            if !elapsed.is_zero() {
                st.caught_up = now;
                advance_locked(&mut st, &self.inner.config, elapsed);
            }
        }
        st
    }

    /// Creates a task in `project` and returns its operation name.
    pub fn start_task(&self, project: &str, spec: TaskSpec) -> String {
        let mut st = self.lock();
        insert_task(&mut st, project, spec, None)
    }

    /// Creates a task outside any project, named `operations/{ID}`: the form of the proto's
    /// generic bindings (`/v1/{name=operations/**}`), which clients made for other Google APIs
    /// (Google's Rust SDK among them) accept and Earth Engine names do not fit. It behaves as
    /// any other task; it is listed only by a list of `operations` (every project).
    ///
    /// ```
    /// use eeops::server::emulator::{Emulator, EmulatorConfig, TaskSpec};
    ///
    /// let emu = Emulator::new(EmulatorConfig::default().with_manual_clock(true));
    /// let name = emu.start_generic_task(TaskSpec::default().with_id("GENERIC1"));
    /// assert_eq!(name, "operations/GENERIC1");
    /// assert!(!emu.operation(&name).unwrap().done);
    /// ```
    pub fn start_generic_task(&self, spec: TaskSpec) -> String {
        let mut st = self.lock();
        insert_task(&mut st, GENERIC, spec, None)
    }

    /// Moves the emulated clock forward by `by`, advancing every operation (in real-time mode
    /// this adds to the time that passes by itself).
    pub fn advance(&self, by: Duration) {
        let mut st = self.lock();
        advance_locked(&mut st, &self.inner.config, by);
    }

    /// The emulated now.
    pub fn now(&self) -> SystemTime {
        self.lock().now
    }

    /// The current state of an operation, if it exists.
    pub fn operation(&self, name: &str) -> Option<Operation> {
        self.lock().ops.get(name).map(Entry::to_operation)
    }

    /// The metadata of an operation, if it exists.
    pub fn metadata(&self, name: &str) -> Option<OperationMetadata> {
        self.lock().ops.get(name).map(|e| e.meta.clone())
    }

    /// The names of every operation, oldest first.
    pub fn names(&self) -> Vec<String> {
        self.lock().order.values().cloned().collect()
    }

    /// How many times each effect was applied to `name` (zeros for a name never seen).
    pub fn effects(&self, name: &str) -> EffectCounts {
        self.lock().effects.get(name).copied().unwrap_or_default()
    }

    /// The number of operations held.
    pub fn len(&self) -> usize {
        self.lock().ops.len()
    }

    /// Whether no operation is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds operations from JSON text; see [`seed_file`](Self::seed_file) for the format.
    /// Returns how many were added.
    ///
    /// ```
    /// # use eeops::server::emulator::{Emulator, EmulatorConfig};
    /// let emu = Emulator::new(EmulatorConfig::default().with_manual_clock(true));
    /// let n = emu.seed_json(r#"[
    ///   {"project": "p", "type": "EXPORT_VIDEO", "state": "RUNNING", "work": "30s"},
    ///   {"name": "projects/p/operations/DONE0000000000000000000A", "done": true,
    ///    "error": {"code": 1, "message": "Cancelled."}}
    /// ]"#).unwrap();
    /// assert_eq!(n, 2);
    /// assert!(emu.operation("projects/p/operations/DONE0000000000000000000A").unwrap().done);
    /// ```
    pub fn seed_json(&self, json: &str) -> Result<usize, SeedError> {
        let items = seed::parse(json)?;
        let mut st = self.lock();
        let n = items.len();
        for item in items {
            seed::insert(&mut st, item);
        }
        Ok(n)
    }

    /// Adds operations from a JSON file: an array (or `{"operations": [...]}`, a saved list
    /// response) whose items are either
    ///
    /// * an **Operation** as proto3 JSON (it has a `name`): kept as it is; if not done, it
    ///   runs on from its metadata's state and progress, with 10 s of work in all; or
    /// * a **task spec** (no `name`): `{"project", "id"?, "type"?, "description"?,
    ///   "state"?: PENDING|RUNNING|SUCCEEDED|FAILED|CANCELLED, "work"?: "30s", "queue"?: "1s",
    ///   "outcome"?: "SUCCEED"|"FAIL", "progress"?: 0.5, "priority"?: 100,
    ///   "destinationUris"?: [...], "error"?: {"code", "message"}}`.
    pub fn seed_file(&self, path: &std::path::Path) -> Result<usize, SeedError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SeedError(format!("cannot read {}: {e}", path.display())))?;
        self.seed_json(&text)
    }
}

/// Why seed operations could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid emulator seed: {0}")]
pub struct SeedError(pub(crate) String);

async fn ticker(weak: Weak<Inner>, tick: Duration) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(inner) = weak.upgrade() else { return };
        // Catching up happens in `lock`.
        drop(Emulator { inner }.lock());
    }
}

fn new_id(rng: &mut StdRng) -> String {
    (0..24)
        .map(|_| ID_CHARS[rng.random_range(0..ID_CHARS.len())] as char)
        .collect()
}

/// The project of tasks named `operations/{ID}` (no real project is empty).
const GENERIC: &str = "";

/// `projects/{project}/operations/{id}`, or `operations/{id}` for [`GENERIC`].
fn operation_name(project: &str, id: &str) -> String {
    if project == GENERIC {
        format!("operations/{id}")
    } else {
        format!("projects/{project}/operations/{id}")
    }
}

/// Inserts a new task; `started` overrides the initial state (used by seeds).
fn insert_task(
    st: &mut Store,
    project: &str,
    spec: TaskSpec,
    seeded: Option<seed::Start>,
) -> String {
    let id = match spec.id.clone() {
        Some(id) => id,
        None => loop {
            let id = new_id(&mut st.rng);
            if !st.ops.contains_key(&operation_name(project, &id)) {
                break id;
            }
        },
    };
    let name = operation_name(project, &id);
    let now = st.now;
    let mut meta = OperationMetadata {
        state: State::Pending as i32,
        description: spec.description.clone(),
        r#type: spec.task_type.clone(),
        priority: spec.priority,
        create_time: Some(timestamp(now)),
        update_time: Some(timestamp(now)),
        attempt: 1,
        destination_uris: spec.destination_uris.clone(),
        stages: stages_at(0.0),
        ..Default::default()
    };
    if spec.start_running {
        meta.state = State::Running as i32;
        meta.start_time = Some(timestamp(now));
    }
    let seq = st.next_seq;
    st.next_seq += 1;
    let (done_tx, _) = watch::channel(false);
    let mut entry = Entry {
        seq,
        project: project.to_owned(),
        name: name.clone(),
        meta,
        result: None,
        work: spec.work,
        worked: Duration::ZERO,
        queue_left: if spec.start_running {
            Duration::ZERO
        } else {
            spec.queue
        },
        outcome: spec.outcome,
        failure: (spec.failure_code, spec.failure_message.clone()),
        cancel: Cancel::None,
        done_tx,
    };
    if let Some(start) = seeded {
        seed::apply_start(&mut entry, start, now);
    }
    // Replacing an operation of the same name keeps one entry and one position.
    if let Some(old) = st.ops.remove(&name) {
        st.order.remove(&old.seq);
    }
    st.order.insert(seq, name.clone());
    st.ops.insert(name.clone(), entry);
    name
}

/// Ends an operation in its terminal state, once. Returns false if it was already done.
fn finish(
    entry: &mut Entry,
    effects: &mut HashMap<String, EffectCounts>,
    state: State,
    now: SystemTime,
) -> bool {
    if entry.done() {
        return false;
    }
    let result = match state {
        State::Succeeded => {
            entry.meta.progress = 1.0;
            entry.meta.stages = stages_at(1.0);
            entry.meta.batch_eecu_usage_seconds =
                (entry.work.as_secs_f64() * 1.7 * 1000.0).round() / 1000.0;
            operation::Result::Response(prost_types::Any {
                type_url: EMPTY_TYPE_URL.to_owned(),
                value: Vec::new(),
            })
        }
        State::Cancelled => operation::Result::Error(Status {
            code: Code::Cancelled as i32,
            message: "Cancelled.".into(),
            details: Vec::new(),
        }),
        _ => operation::Result::Error(Status {
            code: entry.failure.0 as i32,
            message: entry.failure.1.clone(),
            details: Vec::new(),
        }),
    };
    entry.meta.state = state as i32;
    entry.meta.update_time = Some(timestamp(now));
    entry.meta.end_time = Some(timestamp(now));
    entry.result = Some(result);
    effects.entry(entry.name.clone()).or_default().completions += 1;
    entry.done_tx.send_replace(true);
    true
}

/// Moves the clock and every unfinished operation forward by `by`.
fn advance_locked(st: &mut Store, config: &EmulatorConfig, by: Duration) {
    if by.is_zero() {
        return;
    }
    st.now = st.now.checked_add(by).unwrap_or(st.now);
    let now = st.now;
    let speed = if config.progress_per_tick.is_finite() && config.progress_per_tick > 0.0 {
        config.progress_per_tick
    } else {
        1.0
    };
    let Store { ops, effects, .. } = st;
    for entry in ops.values_mut().filter(|e| !e.done()) {
        let mut left = by;
        if let Cancel::Pending { left: cancel_left } = entry.cancel {
            if cancel_left <= left {
                finish(entry, effects, State::Cancelled, now);
            } else {
                entry.cancel = Cancel::Pending {
                    left: cancel_left - left,
                };
                entry.meta.update_time = Some(timestamp(now));
            }
            continue;
        }
        if !entry.queue_left.is_zero() {
            if entry.queue_left > left {
                entry.queue_left -= left;
                continue;
            }
            left -= entry.queue_left;
            entry.queue_left = Duration::ZERO;
            if entry.state() == State::Pending {
                entry.meta.state = State::Running as i32;
            }
            entry.meta.start_time = Some(timestamp(now.checked_sub(left).unwrap_or(now)));
        }
        let work = Duration::try_from_secs_f64(left.as_secs_f64() * speed).unwrap_or(Duration::MAX);
        entry.worked = entry.worked.saturating_add(work);
        entry.meta.update_time = Some(timestamp(now));
        if entry.worked >= entry.work {
            let end = match entry.outcome {
                TaskOutcome::Succeed => State::Succeeded,
                TaskOutcome::Fail => State::Failed,
            };
            finish(entry, effects, end, now);
        } else {
            let progress =
                entry.worked.as_secs_f64() / entry.work.as_secs_f64().max(f64::MIN_POSITIVE);
            // Whole per-mille steps keep the JSON short.
            entry.meta.progress = (progress * 1000.0).floor() / 1000.0;
            entry.meta.stages = stages_at(progress);
            if entry.state() == State::Running {
                entry.meta.batch_eecu_usage_seconds =
                    (entry.worked.as_secs_f64() * 1.7 * 1000.0).round() / 1000.0;
            }
        }
    }
}
