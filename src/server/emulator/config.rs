//! The emulator's knobs ([`EmulatorConfig`]) and what a task does ([`TaskSpec`]), with their
//! validation.

use std::time::Duration;

use crate::pb::google::rpc::Code;

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
    /// Time moves only through [`Emulator::advance`](super::Emulator::advance); otherwise it follows the wall clock.
    pub manual_clock: bool,
    /// Real-time mode: the shortest time between two wake-ups of the background task that
    /// moves timed events along while a wait is in flight (at least 1 ms).
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
    /// Probability (0..=1) that a new task gets one retry (see [`TaskSpec::retries`]) besides
    /// those its spec asks for.
    pub retry_rate: f64,
    /// Queueing: at most this many operations of one project run at once (RUNNING or
    /// CANCELLING); the others wait PENDING for a slot, highest `priority` first, then oldest.
    /// `None` (the default) runs everything at once. Must be at least 1.
    pub max_running: Option<u32>,
    /// Requests per second each project may send (a token bucket; see the `quota` module's
    /// source): over it, calls answer RESOURCE_EXHAUSTED (HTTP 429) with RetryInfo and
    /// QuotaFailure details. `None` (the default): no limit. Must be a positive number;
    /// [`Emulator::new`](super::Emulator::new) takes one that is not as no limit.
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
            retry_rate: 0.0,
            max_running: None,
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
        /// Sets [`retry_rate`](Self::retry_rate).
        with_retry_rate => retry_rate: f64;
        /// Sets [`rate_limit`](Self::rate_limit).
        with_rate_limit => rate_limit: Option<f64>;
    }

    /// Sets [`max_running`](Self::max_running): `Some(n)` or `None`.
    ///
    /// ```
    /// use eeops::server::emulator::EmulatorConfig;
    /// let config = EmulatorConfig::default().with_max_running(2);
    /// assert_eq!(config.max_running, Some(2));
    /// assert_eq!(config.with_max_running(None).max_running, None);
    /// ```
    pub fn with_max_running(mut self, value: impl Into<Option<u32>>) -> Self {
        self.max_running = value.into();
        self
    }

    /// Checks every knob: probabilities finite and within 0..=1, the speed finite and within
    /// [`MIN_SPEED`]..=[`MAX_SPEED`], every duration at most [`MAX_DURATION`]. The error names
    /// the first bad field. [`Emulator::try_new`](super::Emulator::try_new) and
    /// [`run`](super::run) refuse a configuration that fails it;
    /// [`Emulator::new`](super::Emulator::new) clamps it instead.
    ///
    /// ```
    /// use std::time::Duration;
    /// use eeops::server::emulator::EmulatorConfig;
    ///
    /// assert!(EmulatorConfig::default().validate().is_ok());
    /// let err = EmulatorConfig::default().with_unavailable_rate(f64::NAN).validate().unwrap_err();
    /// assert_eq!(err.field(), "unavailable_rate");
    /// let err = EmulatorConfig::default().with_max_wait(Duration::MAX).validate().unwrap_err();
    /// assert_eq!(err.field(), "max_wait");
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |field, problem| Err(ConfigError { field, problem });
        for (field, p) in [
            ("complete_despite_cancel", self.complete_despite_cancel),
            ("unavailable_rate", self.unavailable_rate),
            ("retry_rate", self.retry_rate),
        ] {
            if let Err(problem) = check_probability(p) {
                return fail(field, problem);
            }
        }
        if let Err(problem) = check_speed(self.progress_per_tick) {
            return fail("progress_per_tick", problem);
        }
        if self.max_running == Some(0) {
            return fail(
                "max_running",
                "must be at least 1 (or None to run everything at once)".into(),
            );
        }
        if let Some(rate) = self.rate_limit
            && let Err(problem) = super::quota::check_rate(rate)
        {
            return fail("rate_limit", problem);
        }
        for (field, d) in [
            ("latency", self.latency),
            ("tick", self.tick),
            ("max_wait", self.max_wait),
            ("cancel_delay", self.cancel_delay),
        ] {
            if let Err(problem) = check_duration(d) {
                return fail(field, problem);
            }
        }
        Ok(())
    }

    /// This configuration with every knob brought into range: a probability that is not a
    /// number becomes 0, others are clamped to 0..=1; a speed that is not a positive number
    /// becomes 1, others are clamped; durations are capped at [`MAX_DURATION`]; the tick is at
    /// least 1 ms; `max_running` at least 1.
    pub(super) fn clamped(mut self) -> Self {
        let p = |v: f64| if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
        self.complete_despite_cancel = p(self.complete_despite_cancel);
        self.unavailable_rate = p(self.unavailable_rate);
        self.retry_rate = p(self.retry_rate);
        self.progress_per_tick = if self.progress_per_tick.is_nan() || self.progress_per_tick <= 0.0
        {
            1.0
        } else {
            self.progress_per_tick.clamp(MIN_SPEED, MAX_SPEED)
        };
        for d in [
            &mut self.latency,
            &mut self.max_wait,
            &mut self.cancel_delay,
            &mut self.tick,
        ] {
            *d = (*d).min(MAX_DURATION);
        }
        self.tick = self.tick.max(Duration::from_millis(1));
        self.max_running = self.max_running.map(|n| n.max(1));
        self.rate_limit = self
            .rate_limit
            .filter(|r| super::quota::check_rate(*r).is_ok());
        self
    }
}

/// The longest duration the emulator takes anywhere (a knob, a flag, a task's work or queue
/// time): ten years, far below what would overflow a clock.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// The slowest [`EmulatorConfig::progress_per_tick`].
pub const MIN_SPEED: f64 = 1e-6;
/// The fastest [`EmulatorConfig::progress_per_tick`].
pub const MAX_SPEED: f64 = 1e6;
/// The most [`TaskSpec::retries`] a task may have.
pub const MAX_RETRIES: u32 = 100;

/// A knob of [`EmulatorConfig`] out of range: which, and why.
///
/// ```
/// use eeops::server::emulator::EmulatorConfig;
///
/// let err = EmulatorConfig::default().with_progress_per_tick(-1.0).validate().unwrap_err();
/// assert_eq!(err.field(), "progress_per_tick");
/// assert!(err.to_string().contains("progress_per_tick"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid emulator configuration: `{field}` {problem}")]
pub struct ConfigError {
    field: &'static str,
    problem: String,
}

impl ConfigError {
    /// The name of the refused field.
    pub fn field(&self) -> &'static str {
        self.field
    }
}

fn check_probability(p: f64) -> Result<f64, String> {
    if p.is_finite() && (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("must be a probability from 0 to 1, not {p}"))
    }
}

fn check_speed(speed: f64) -> Result<f64, String> {
    if speed.is_finite() && (MIN_SPEED..=MAX_SPEED).contains(&speed) {
        Ok(speed)
    } else {
        Err(format!(
            "must be a number from {MIN_SPEED} to {MAX_SPEED}, not {speed}"
        ))
    }
}

pub(super) fn check_duration(d: Duration) -> Result<Duration, String> {
    if d <= MAX_DURATION {
        Ok(d)
    } else {
        Err(format!(
            "is too long: {d:?} (at most {} days)",
            MAX_DURATION.as_secs() / 86_400
        ))
    }
}

/// Parses a probability from 0 to 1 (a command-line value parser): `0.25`; refuses `NaN`,
/// infinities and anything out of range with a message saying so.
///
/// ```
/// use eeops::server::emulator::parse_probability;
/// assert_eq!(parse_probability("0.25"), Ok(0.25));
/// assert!(parse_probability("NaN").is_err());
/// assert!(parse_probability("1.5").is_err());
/// ```
#[doc(hidden)]
pub fn parse_probability(text: &str) -> Result<f64, String> {
    let p: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number (a probability from 0 to 1)"))?;
    check_probability(p)
}

/// Parses a speed ([`EmulatorConfig::progress_per_tick`], a command-line value parser): a
/// finite number from [`MIN_SPEED`] to [`MAX_SPEED`].
///
/// ```
/// use eeops::server::emulator::parse_speed;
/// assert_eq!(parse_speed("2"), Ok(2.0));
/// assert!(parse_speed("0").is_err());
/// assert!(parse_speed("inf").is_err());
/// ```
#[doc(hidden)]
pub fn parse_speed(text: &str) -> Result<f64, String> {
    let s: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    check_speed(s)
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
    /// The metadata `scriptUri` (left out when empty).
    pub script_uri: String,
    /// How many attempts fail (each halfway through its work) and are retried before the last
    /// one: the metadata `attempt` counts up from 1 and the stages start again at each retry.
    pub retries: u32,
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
            script_uri: String::new(),
            retries: 0,
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
        /// Sets [`retries`](Self::retries).
        with_retries => retries: u32;
    }

    /// Sets [`script_uri`](Self::script_uri).
    pub fn with_script_uri(mut self, value: impl Into<String>) -> Self {
        self.script_uri = value.into();
        self
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

    /// Checks the spec for a task in `project`: the name it makes must be a valid operation
    /// name (see [`crate::name::OperationName`]), `work` and `queue` at most [`MAX_DURATION`],
    /// `retries` at most [`MAX_RETRIES`].
    ///
    /// ```
    /// use eeops::server::emulator::TaskSpec;
    ///
    /// assert!(TaskSpec::default().with_id("ABC").check("p").is_ok());
    /// assert!(TaskSpec::default().with_id("a/../b").check("p").is_err());
    /// assert!(TaskSpec::default().check("a/b").is_err());
    /// ```
    pub fn check(&self, project: &str) -> Result<(), String> {
        crate::name::OperationName::new(project, self.id.as_deref().unwrap_or("ID"))
            .map_err(|e| e.to_string())?;
        check_duration(self.work).map_err(|e| format!("`work` {e}"))?;
        check_duration(self.queue).map_err(|e| format!("`queue` {e}"))?;
        if self.retries > MAX_RETRIES {
            return Err(format!(
                "`retries` must be at most {MAX_RETRIES}, not {}",
                self.retries
            ));
        }
        Ok(())
    }

    /// The spec with its durations and retries brought into range.
    pub(super) fn clamped(mut self) -> Self {
        self.work = self.work.min(MAX_DURATION);
        self.queue = self.queue.min(MAX_DURATION);
        self.retries = self.retries.min(MAX_RETRIES);
        self
    }
}
