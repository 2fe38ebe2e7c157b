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
//! * **Queueing** ([`EmulatorConfig::max_running`], off by default): at most N operations of
//!   a project run at once, as Earth Engine runs only a few batch tasks per project; the rest
//!   stay PENDING until a slot frees, highest `priority` first, then oldest.
//!
//! The clock is either real time or manual ([`EmulatorConfig::manual_clock`]: time moves only
//! through [`Emulator::advance`]). Each operation's state is computed from its timeline
//! (created, started, work, retries, cancel, outcome) and the clock when it is read; only what
//! must happen at a time (an end to count and tell waiters about, a queue slot to hand on)
//! sits in a heap of timed events, caught up on each call. So a call costs the same with ten
//! operations or a million, and an idle emulator does nothing at all; in real-time mode a
//! background task wakes for due events only while a wait is in flight (at most once every
//! [`EmulatorConfig::tick`]).
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

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use crate::pb::google::earthengine::v1::OperationMetadata;
use crate::pb::google::longrunning::Operation;

mod config;
mod filter;
mod model;
mod quota;
#[cfg(test)]
mod reference;
mod run;
mod seed;
mod service;
mod store;

pub use config::{
    ConfigError, EmulatorConfig, MAX_DURATION, MAX_RETRIES, MAX_SPEED, MIN_SPEED, TaskOutcome,
    TaskSpec, parse_probability, parse_speed,
};
pub use run::{MAX_DEMO_TASKS, RunOptions, add_demo_tasks, parse_duration, parse_task_count, run};

use store::Store;

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
    /// Transitions to a terminal state (SUCCEEDED, FAILED or CANCELLED), counted when they
    /// happen, also for an operation deleted before its end.
    pub completions: u32,
}

/// The store and the clock, under one lock.
#[derive(Debug)]
struct Locked {
    store: Store,
    /// Emulated time added by [`Emulator::advance`].
    advanced: Duration,
}

#[derive(Debug)]
struct Inner {
    config: EmulatorConfig,
    state: Mutex<Locked>,
    /// The per-project request quota (`EmulatorConfig::rate_limit`).
    quotas: Option<quota::Quotas>,
    /// Wall-clock instant of emulated time 0 (real-time mode).
    started: Instant,
    /// Wakes the background task: a wait began, a cancel moved an end, or the emulator went.
    wake: Arc<Notify>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.wake.notify_one();
    }
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

/// The lock on the store, caught up to now.
struct Guard<'a>(MutexGuard<'a, Locked>);

impl std::ops::Deref for Guard<'_> {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.0.store
    }
}

impl std::ops::DerefMut for Guard<'_> {
    fn deref_mut(&mut self) -> &mut Store {
        &mut self.0.store
    }
}

impl Emulator {
    /// A new, empty emulator. In real-time mode, when called inside a tokio runtime, it starts
    /// a background task that wakes waits when their operation ends (it ends when the last
    /// clone is dropped); outside one, time still catches up on every call, but `wait` only
    /// wakes at its timeout.
    ///
    /// Knobs out of range are brought into it (see [`EmulatorConfig::validate`]; use
    /// [`try_new`](Self::try_new) to have them refused instead).
    pub fn new(config: EmulatorConfig) -> Self {
        let config = config.clamped();
        let epoch = truncate_ms(SystemTime::now());
        let store = Store::new(&config, epoch);
        let emu = Self {
            inner: Arc::new(Inner {
                quotas: quota::Quotas::new(config.rate_limit),
                state: Mutex::new(Locked {
                    store,
                    advanced: Duration::ZERO,
                }),
                started: Instant::now(),
                wake: Arc::new(Notify::new()),
                config,
            }),
        };
        if !emu.inner.config.manual_clock
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let weak = Arc::downgrade(&emu.inner);
            let wake = Arc::clone(&emu.inner.wake);
            rt.spawn(driver(weak, wake, emu.inner.config.tick));
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

    /// The lock, with every event due by now applied.
    fn lock(&self) -> Guard<'_> {
        // A panic while holding the lock leaves consistent state (every change is applied in
        // one step), so a poisoned lock is still usable.
        let mut locked = self
            .inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = if self.inner.config.manual_clock {
            locked.advanced
        } else {
            locked.advanced.saturating_add(self.inner.started.elapsed())
        };
        locked.store.catch_up(now);
        Guard(locked)
    }

    /// Wakes the background task (real-time mode), which sleeps until the next due event
    /// only while waits are in flight.
    fn wake_driver(&self) {
        if !self.inner.config.manual_clock {
            self.inner.wake.notify_one();
        }
    }

    /// Creates a task in `project` and returns its operation name. Durations and retries
    /// beyond their limits are capped ([`TaskSpec::check`] tells them apart beforehand).
    pub fn start_task(&self, project: &str, spec: TaskSpec) -> String {
        let mut st = self.lock();
        st.insert(&self.inner.config, project, spec, None, None)
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
        st.insert(&self.inner.config, store::GENERIC, spec, None, None)
    }

    /// Moves the emulated clock forward by `by` (at most [`MAX_DURATION`] a call), applying
    /// every event due on the way in time order (in real-time mode this adds to the time that
    /// passes by itself).
    pub fn advance(&self, by: Duration) {
        let mut locked = self
            .inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        locked.advanced = locked.advanced.saturating_add(by.min(MAX_DURATION));
        drop(locked);
        drop(self.lock());
    }

    /// The emulated now.
    pub fn now(&self) -> SystemTime {
        let st = self.lock();
        st.epoch.checked_add(st.now).unwrap_or(st.epoch)
    }

    /// The current state of an operation, if it exists.
    pub fn operation(&self, name: &str) -> Option<Operation> {
        let st = self.lock();
        st.get(name).map(|e| e.operation(st.now, st.epoch))
    }

    /// The metadata of an operation, if it exists.
    pub fn metadata(&self, name: &str) -> Option<OperationMetadata> {
        let st = self.lock();
        st.get(name).map(|e| e.metadata(st.now, st.epoch))
    }

    /// The names of every operation, oldest first.
    pub fn names(&self) -> Vec<String> {
        self.lock().names()
    }

    /// How many times each effect was applied to `name` (zeros for a name never seen).
    pub fn effects(&self, name: &str) -> EffectCounts {
        self.lock().effects(name)
    }

    /// The number of operations held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no operation is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes room for `additional` more operations (before seeding many).
    pub(crate) fn reserve(&self, additional: usize) {
        self.lock().reserve(additional);
    }

    /// How many operations of `project` hold a running slot (with
    /// [`EmulatorConfig::max_running`]; 0 without it).
    pub fn running_slots(&self, project: &str) -> usize {
        self.lock().running_in(project)
    }

    /// Adds operations from JSON text; see [`seed_file`](Self::seed_file) for the format.
    /// Returns how many were added. Nothing is added when an item is refused.
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
    ///
    /// Every item's name is checked as any operation name is, and one name may appear once.
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

/// Real-time mode: while waits are in flight, sleeps until the next due event (at most once
/// every `tick`) and catches up, which ends operations and wakes their waiters. Without
/// waits it sleeps until woken, so an idle emulator costs nothing however many operations it
/// holds.
async fn driver(weak: Weak<Inner>, wake: Arc<Notify>, tick: Duration) {
    let tick = tick.max(Duration::from_millis(1));
    let mut last = tokio::time::Instant::now();
    loop {
        let next = {
            let Some(inner) = weak.upgrade() else { return };
            let emu = Emulator { inner };
            let mut st = emu.lock();
            if st.has_waiters() {
                st.next_event().map(|at| at.saturating_sub(st.now))
            } else {
                None
            }
        };
        match next {
            None => wake.notified().await,
            Some(wait) => {
                let now = tokio::time::Instant::now();
                let at = now
                    .checked_add(wait.min(Duration::from_secs(3600)))
                    .unwrap_or(now)
                    .max(last + tick);
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = wake.notified() => {}
                }
            }
        }
        last = tokio::time::Instant::now();
    }
}

/// `SystemTime` truncated to whole milliseconds.
fn truncate_ms(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH + Duration::from_millis(d.as_millis() as u64),
        Err(_) => UNIX_EPOCH,
    }
}
