//! An in-memory Earth Engine operations service, for tests and local development.
//!
//! [`Emulator`] implements the generated `google.longrunning.Operations` server trait with
//! Earth Engine's semantics, so [`crate::server::serve`] exposes it over gRPC and REST:
//!
//! * Operations are named `projects/{project}/operations/{ID}` with ids of 24 characters
//!   of `[A-Z2-7]` (as Earth Engine's are), carry Earth Engine's `OperationMetadata` (packed as an `Any` of type
//!   [`crate::pb::EE_METADATA_TYPE_URL`]) and move PENDING → RUNNING (progress, stages,
//!   `startTime`/`updateTime` advancing) → SUCCEEDED (`response`: an `Any` of
//!   `google.protobuf.Empty`) or FAILED (`error`), on a simulated clock.
//! * **Cancel** is accepted on a pending or running operation: it shows CANCELLING, then
//!   (after [`EmulatorConfig::cancel_delay`] of emulated time) ends `done` with
//!   `error.code = 1` (CANCELLED) and metadata state CANCELLED; it is not deleted. Cancel on a
//!   finished operation changes nothing and answers OK; an unknown name answers NOT_FOUND.
//!   All state lives under one lock, so a cancel racing a completion ends in exactly one
//!   terminal state.
//! * **Delete** removes the record of any operation, done or not, and answers `{}`: get then
//!   answers NOT_FOUND and list omits it. As Earth Engine documents, delete does not cancel:
//!   the work of an unfinished operation goes on unseen (its [`EffectCounts`] still count its
//!   completion).
//! * **List** is newest first, one project at a time (`projects/p` or `projects/p/operations`;
//!   `operations` lists every project), `pageSize` 50 by default and at most 500, with opaque
//!   page tokens that hold the position in the insertion order (so inserts between pages
//!   neither skip nor repeat anything), and a `filter` of equality tests on `done`,
//!   `metadata.state` and `metadata.type` joined by `AND`. `returnPartialSuccess=true` answers
//!   UNIMPLEMENTED (the operations proto's rule for services that document no support).
//! * Metadata carries `type` always ([`DEFAULT_TASK_TYPE`] when a seed gives none), `attempt`
//!   (2 and up after a retry, see [`TaskSpec::retries`]), `scriptUri` and `destinationUris`
//!   when the task has them, and `batchEecuUsageSeconds` only once SUCCEEDED.
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

mod config;
mod filter;
mod run;
mod seed;
mod service;

pub use config::{
    ConfigError, EmulatorConfig, MAX_DURATION, MAX_RETRIES, MAX_SPEED, MIN_SPEED, TaskOutcome,
    TaskSpec, parse_probability, parse_speed,
};
pub use filter::Filter;
pub use run::{MAX_DEMO_TASKS, RunOptions, parse_duration, parse_task_count, run};

/// Type URL of the `response` of a succeeded emulated task.
pub const EMPTY_TYPE_URL: &str = "type.googleapis.com/google.protobuf.Empty";

/// The metadata `type` of an operation whose seed gives none (Google's clients index
/// `metadata.type` without checking that it is there).
pub const DEFAULT_TASK_TYPE: &str = "EXPORT_IMAGE";

/// Default page size of list.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Largest page size list honours; larger requests are clamped to it.
pub const MAX_PAGE_SIZE: usize = 500;

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
    /// Failing attempts still to come.
    retries_left: u32,
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
        let value = if self.meta.r#type.is_empty() {
            let mut meta = self.meta.clone();
            DEFAULT_TASK_TYPE.clone_into(&mut meta.r#type);
            meta.encode_to_vec()
        } else {
            self.meta.encode_to_vec()
        };
        Operation {
            name: self.name.clone(),
            metadata: Some(prost_types::Any {
                type_url: crate::pb::EE_METADATA_TYPE_URL.to_owned(),
                value,
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
    /// Deleted operations whose work goes on until they end (for the effect counters).
    ghosts: Vec<Entry>,
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

/// The characters of Earth Engine task ids (the base32 alphabet).
const ID_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

impl Emulator {
    /// A new, empty emulator. In real-time mode, when called inside a tokio runtime, it starts
    /// a background tick (ended when the last clone is dropped); outside one, time still
    /// catches up on every call, but `wait` only wakes at its timeout.
    ///
    /// Knobs out of range are brought into it (see [`EmulatorConfig::validate`]; use
    /// [`try_new`](Self::try_new) to have them refused instead).
    pub fn new(config: EmulatorConfig) -> Self {
        let config = config.clamped();
        let state = Store {
            now: truncate_ms(SystemTime::now()),
            caught_up: Instant::now(),
            ops: HashMap::new(),
            ghosts: Vec::new(),
            order: BTreeMap::new(),
            next_seq: 1,
            effects: HashMap::new(),
            rng: StdRng::seed_from_u64(config.rng_seed),
        };
        let emu = Self {
            inner: Arc::new(Inner {
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

    /// A new, empty emulator, if every knob of `config` is in range
    /// ([`EmulatorConfig::validate`]).
    ///
    /// ```
    /// use eeops::server::emulator::{Emulator, EmulatorConfig};
    ///
    /// let bad = EmulatorConfig::default().with_complete_despite_cancel(f64::INFINITY);
    /// assert!(Emulator::try_new(bad).is_err());
    /// assert!(Emulator::try_new(EmulatorConfig::default().with_manual_clock(true)).is_ok());
    /// ```
    pub fn try_new(config: EmulatorConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self::new(config))
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

    /// Creates a task in `project` and returns its operation name. Durations and retries
    /// beyond their limits are capped ([`TaskSpec::check`] tells them apart beforehand).
    pub fn start_task(&self, project: &str, spec: TaskSpec) -> String {
        let mut st = self.lock();
        insert_task(&mut st, &self.inner.config, project, spec, None)
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
        insert_task(&mut st, &self.inner.config, GENERIC, spec, None)
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
            seed::insert(&mut st, &self.inner.config, item);
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
    ///   "outcome"?: "SUCCEED"|"FAIL", "progress"?: 0.5, "priority"?: 100, "retries"?: 1,
    ///   "scriptUri"?: "...", "destinationUris"?: [...], "error"?: {"code", "message"}}`.
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
    config: &EmulatorConfig,
    project: &str,
    spec: TaskSpec,
    seeded: Option<seed::Start>,
) -> String {
    let mut spec = spec.clamped();
    if config.retry_rate > 0.0 && st.rng.random_bool(config.retry_rate) {
        spec.retries = (spec.retries + 1).min(config::MAX_RETRIES);
    }
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
        script_uri: spec.script_uri.clone(),
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
        retries_left: spec.retries,
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

/// The EECU-seconds a task reports once it succeeded: 1.7 per second of work, counting the
/// half of the work each failed attempt before the last one did.
fn eecu_seconds(work: Duration, attempt: i32) -> f64 {
    let retried = f64::from(attempt.max(1) - 1);
    let seconds = work.as_secs_f64() * (1.0 + retried / 2.0);
    (seconds * 1.7 * 1000.0).round() / 1000.0
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
            entry.meta.batch_eecu_usage_seconds = eecu_seconds(entry.work, entry.meta.attempt);
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
    let Store {
        ops,
        ghosts,
        effects,
        ..
    } = st;
    for entry in ops
        .values_mut()
        .chain(ghosts.iter_mut())
        .filter(|e| !e.done())
    {
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
        // A failing attempt ends halfway through the work; the next starts from nothing.
        let half = entry.work / 2;
        while entry.retries_left > 0 && entry.worked >= half {
            entry.worked -= half;
            entry.retries_left -= 1;
            entry.meta.attempt += 1;
        }
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
        }
    }
    ghosts.retain(|e| !e.done());
}
