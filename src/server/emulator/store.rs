//! Every operation and what must happen at a time, under the emulator's one lock.
//!
//! An operation's state is computed from its [`Timeline`] when it is read, so no call walks
//! the store. What must *happen* at a time is a heap of timed events: an operation ending (its
//! completion is counted, its waiters are woken, its queue slot frees) and, with queueing, an
//! operation becoming eligible to start. Catching up to a new time pops the events due, in time
//! order; each costs O(log n).

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message as _;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use tokio::sync::watch;

use super::model::{At, CancelMark, Terminal, Timeline, per_mille, stages_at};
use super::{DEFAULT_TASK_TYPE, EMPTY_TYPE_URL, EffectCounts, EmulatorConfig, TaskSpec};
use crate::pb::google::earthengine::v1::OperationMetadata;
use crate::pb::google::earthengine::v1::operation_metadata::State;
use crate::pb::google::longrunning::{Operation, operation};
use crate::pb::google::rpc::{Code, Status};

/// The project of tasks named `operations/{ID}` (no real project is empty).
pub(super) const GENERIC: &str = "";

/// The characters of Earth Engine task ids (the base32 alphabet).
const ID_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The default error of a failed task.
const DEFAULT_FAILURE: &str = "Emulated task failure.";

/// What a seed gave for an operation, kept as given.
#[derive(Debug)]
pub(super) struct Given {
    pub meta: OperationMetadata,
    pub result: Option<operation::Result>,
    /// The state's name may be overlaid only after this (the seed's own time).
    pub at: At,
}

/// One operation.
#[derive(Debug)]
pub(super) struct Entry {
    pub seq: u64,
    pub name: Arc<str>,
    pub project: Arc<str>,
    pub description: String,
    pub task_type: String,
    pub priority: i32,
    pub script_uri: String,
    pub destination_uris: Vec<String>,
    /// The error of a failed (or seeded done) task, when not the default.
    pub failure: Option<Box<Status>>,
    pub given: Option<Box<Given>>,
    pub tl: Timeline,
    pub effects: EffectCounts,
    /// Deleted: no longer seen, but its work goes on until it ends.
    pub deleted: bool,
    /// Its end was reached and counted.
    pub completed: bool,
    /// It holds one of its project's running slots (queueing only).
    pub holds_slot: bool,
}

impl Entry {
    /// Whether it is done at `t`.
    pub fn done_at(&self, t: At) -> bool {
        self.tl.end().is_some_and(|(end, _)| end <= t)
    }

    /// The state at `t` (what list filters look at, with [`task_type`](Self::task_type)).
    pub fn state_at(&self, t: At) -> State {
        self.tl.view(t).state
    }

    /// The metadata `type`, never empty.
    pub fn task_type(&self) -> &str {
        let ty = match &self.given {
            Some(g) => &g.meta.r#type,
            None => &self.task_type,
        };
        if ty.is_empty() { DEFAULT_TASK_TYPE } else { ty }
    }

    /// The operation as it is at `t`.
    pub fn operation(&self, t: At, epoch: SystemTime) -> Operation {
        let (meta, result) = self.render(t, epoch);
        Operation {
            name: self.name.to_string(),
            metadata: Some(prost_types::Any {
                type_url: crate::pb::EE_METADATA_TYPE_URL.to_owned(),
                value: meta.encode_to_vec(),
            }),
            done: result.is_some(),
            result,
        }
    }

    /// The metadata as it is at `t`.
    pub fn metadata(&self, t: At, epoch: SystemTime) -> OperationMetadata {
        self.render(t, epoch).0
    }

    /// The metadata and the result at `t`.
    fn render(&self, t: At, epoch: SystemTime) -> (OperationMetadata, Option<operation::Result>) {
        let view = self.tl.view(t);
        let ts = |at: At| timestamp(epoch, at);
        let mut meta = match &self.given {
            Some(g) => {
                let mut meta = g.meta.clone();
                // Kept exactly as given until something happens after the seed.
                let moved = view.done.map_or(t > g.at, |(end, _)| end > g.at);
                if moved {
                    meta.update_time = Some(ts(view.done.map_or(t, |(end, _)| end)));
                    meta.progress = per_mille(view.progress);
                    meta.stages = stages_at(view.progress);
                    meta.attempt = meta.attempt.max(view.attempt as i32);
                }
                if let Some(s) = view.started
                    && s > g.at
                {
                    meta.start_time = Some(ts(s));
                }
                meta
            }
            None => OperationMetadata {
                description: self.description.clone(),
                r#type: String::new(),
                priority: self.priority,
                create_time: Some(ts(self.tl.created)),
                update_time: Some(ts(match (view.done, view.state) {
                    (Some((end, _)), _) => end,
                    (None, State::Pending) => self.tl.created,
                    (None, _) => t,
                })),
                start_time: view.started.map(ts),
                progress: per_mille(view.progress),
                stages: stages_at(view.progress),
                attempt: view.attempt as i32,
                script_uri: self.script_uri.clone(),
                destination_uris: self.destination_uris.clone(),
                ..Default::default()
            },
        };
        meta.state = view.state as i32;
        self.task_type().clone_into(&mut meta.r#type);
        let result = match view.done {
            None => None,
            Some((end, how)) => {
                if self.given.as_ref().is_none_or(|g| end > g.at) {
                    meta.end_time = Some(ts(end));
                }
                Some(self.result(how))
            }
        };
        if matches!(view.done, Some((_, Terminal::Succeeded))) && self.given.is_none() {
            meta.batch_eecu_usage_seconds = eecu_seconds(self.tl.work, view.attempt);
        }
        (meta, result)
    }

    fn result(&self, how: Terminal) -> operation::Result {
        if let Some(r) = self.given.as_ref().and_then(|g| g.result.clone()) {
            return r;
        }
        match how {
            Terminal::Succeeded => operation::Result::Response(prost_types::Any {
                type_url: EMPTY_TYPE_URL.to_owned(),
                value: Vec::new(),
            }),
            Terminal::Cancelled if self.tl.sealed.is_some() && self.failure.is_some() => {
                operation::Result::Error(self.failure.as_deref().cloned().unwrap_or_default())
            }
            Terminal::Cancelled => operation::Result::Error(Status {
                code: Code::Cancelled as i32,
                message: "Cancelled.".into(),
                details: Vec::new(),
            }),
            Terminal::Failed => operation::Result::Error(match &self.failure {
                Some(s) => (**s).clone(),
                None => Status {
                    code: Code::Internal as i32,
                    message: DEFAULT_FAILURE.into(),
                    details: Vec::new(),
                },
            }),
        }
    }
}

/// The EECU-seconds a task reports once it succeeded: 1.7 per second of work, counting the
/// half of the work each failed attempt before the last one did.
fn eecu_seconds(work: Duration, attempt: u32) -> f64 {
    let retried = f64::from(attempt.max(1) - 1);
    let seconds = work.as_secs_f64() * (1.0 + retried / 2.0);
    (seconds * 1.7 * 1000.0).round() / 1000.0
}

/// `epoch + at`, in whole milliseconds, so JSON timestamps have 0 or 3 fractional digits
/// (what Earth Engine's clients parse).
pub(super) fn timestamp(epoch: SystemTime, at: At) -> prost_types::Timestamp {
    let t = epoch.checked_add(at).unwrap_or(epoch);
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let ms = d.as_millis();
    prost_types::Timestamp {
        seconds: i64::try_from(ms / 1000).unwrap_or(i64::MAX),
        nanos: ((ms % 1000) * 1_000_000) as i32,
    }
}

/// A map keyed by sequence numbers.
type SeqMap<V> = HashMap<u64, V, BuildHasherDefault<SeqHasher>>;

/// Hashes sequence numbers by one multiplication: they are assigned here, in order, never
/// chosen by a caller, so the cost of a keyed hash buys nothing.
#[derive(Default, Clone, Copy)]
struct SeqHasher(u64);

impl Hasher for SeqHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(29) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// What happens at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// The operation may end now (if its end is still this time).
    End,
    /// The operation may start now (queueing).
    Eligible,
}

/// The running slots of one project (queueing only).
#[derive(Debug, Default)]
struct Slots {
    running: usize,
    /// Eligible and waiting: highest priority first, then oldest.
    waiting: BTreeSet<(Reverse<i32>, u64)>,
}

/// Everything mutable, under one lock.
#[derive(Debug)]
pub(super) struct Store {
    /// Emulated now (caught up to).
    pub now: At,
    /// Time 0 of the emulated clock, on the wall clock.
    pub epoch: SystemTime,
    /// Every operation still held (live, or deleted and still working), by sequence number
    /// (boxed: the map's spare slots then cost a pointer, not a whole entry).
    entries: SeqMap<Box<Entry>>,
    names: HashMap<Arc<str>, u64>,
    /// Live operations in creation order, all projects and per project.
    order: BTreeSet<u64>,
    by_project: HashMap<Arc<str>, BTreeSet<u64>>,
    next_seq: u64,
    /// Effect counts of names no longer live (deleted or replaced).
    gone: HashMap<Arc<str>, EffectCounts>,
    events: BinaryHeap<Reverse<(At, Event, u64)>>,
    slots: HashMap<Arc<str>, Slots>,
    /// Senders of waits in flight, by sequence number.
    waiters: HashMap<u64, watch::Sender<bool>>,
    pub rng: StdRng,
    speed: f64,
    max_running: Option<usize>,
}

impl Store {
    pub fn new(config: &EmulatorConfig, epoch: SystemTime) -> Self {
        Store {
            now: Duration::ZERO,
            epoch,
            entries: SeqMap::default(),
            names: HashMap::new(),
            order: BTreeSet::new(),
            by_project: HashMap::new(),
            next_seq: 1,
            gone: HashMap::new(),
            events: BinaryHeap::new(),
            slots: HashMap::new(),
            waiters: HashMap::new(),
            rng: StdRng::seed_from_u64(config.rng_seed),
            speed: config.progress_per_tick,
            max_running: config.max_running.map(|n| n as usize),
        }
    }

    /// Makes room for `additional` more operations at once (seeding many).
    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
        self.names.reserve(additional);
        self.events.reserve(additional);
    }

    /// The live operation of this name.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.get(self.names.get(name)?).map(|e| &**e)
    }

    /// The live operations, oldest first.
    pub fn names(&self) -> Vec<String> {
        self.order
            .iter()
            .filter_map(|seq| self.entries.get(seq))
            .map(|e| e.name.to_string())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// The effects applied to `name`, live or gone.
    pub fn effects(&self, name: &str) -> EffectCounts {
        let mut counts = self.gone.get(name).copied().unwrap_or_default();
        if let Some(e) = self.get(name) {
            counts.cancels_applied += e.effects.cancels_applied;
            counts.deletes_applied += e.effects.deletes_applied;
            counts.completions += e.effects.completions;
        }
        counts
    }

    /// When the next timed event is due, if any.
    pub fn next_event(&self) -> Option<At> {
        self.events.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Whether some wait is in flight (forgetting the waits that ended at their timeout).
    pub fn has_waiters(&mut self) -> bool {
        self.waiters.retain(|_, tx| tx.receiver_count() > 0);
        !self.waiters.is_empty()
    }

    /// A receiver told when the operation `seq` ends (true) or goes away (closed).
    pub fn subscribe(&mut self, seq: u64) -> watch::Receiver<bool> {
        self.waiters
            .entry(seq)
            .or_insert_with(|| watch::channel(false).0)
            .subscribe()
    }

    /// The live operations created before sequence number `before`, newest first, of one
    /// project or of all.
    pub fn newest_first(
        &self,
        project: Option<&str>,
        before: u64,
    ) -> Box<dyn Iterator<Item = &Entry> + '_> {
        let seqs: Box<dyn Iterator<Item = &u64>> = match project {
            None => Box::new(self.order.range(..before).rev()),
            Some(p) => match self.by_project.get(p) {
                Some(set) => Box::new(set.range(..before).rev()),
                None => Box::new(std::iter::empty()),
            },
        };
        Box::new(seqs.filter_map(|seq| self.entries.get(seq).map(|e| &**e)))
    }

    /// Moves the clock to `to` (never back), applying every event due on the way, in time order.
    pub fn catch_up(&mut self, to: At) {
        while let Some(&Reverse((at, _, _))) = self.events.peek() {
            if at > to {
                break;
            }
            // Everything due at this instant first, then the freed slots are filled once, so
            // the order of events at one instant does not matter.
            let mut touched: Vec<Arc<str>> = Vec::new();
            while let Some(&Reverse((t, kind, seq))) = self.events.peek() {
                if t != at {
                    break;
                }
                self.events.pop();
                if let Some(project) = self.apply(at, kind, seq)
                    && !touched.contains(&project)
                {
                    touched.push(project);
                }
            }
            for project in touched {
                self.fill(&project, at);
            }
        }
        self.now = self.now.max(to);
    }

    /// Applies one event; returns the project whose slots may have changed.
    fn apply(&mut self, at: At, kind: Event, seq: u64) -> Option<Arc<str>> {
        let entry = self.entries.get_mut(&seq)?;
        match kind {
            Event::End => {
                if entry.completed || entry.tl.end().map(|(end, _)| end) != Some(at) {
                    return None; // stale: the end moved (a cancel) or was counted
                }
                entry.completed = true;
                let freed = std::mem::take(&mut entry.holds_slot);
                let project = entry.project.clone();
                if entry.deleted {
                    let name = entry.name.clone();
                    self.entries.remove(&seq);
                    self.gone.entry(name).or_default().completions += 1;
                } else {
                    entry.effects.completions += 1;
                }
                if let Some(tx) = self.waiters.remove(&seq) {
                    tx.send_replace(true);
                }
                if freed {
                    if let Some(slots) = self.slots.get_mut(&project) {
                        slots.running = slots.running.saturating_sub(1);
                    }
                    return Some(project);
                }
                None
            }
            Event::Eligible => {
                if entry.tl.started.is_some()
                    || matches!(entry.tl.cancel, CancelMark::Accepted { .. })
                {
                    return None;
                }
                let key = (Reverse(entry.priority), seq);
                let project = entry.project.clone();
                self.slots
                    .entry(project.clone())
                    .or_default()
                    .waiting
                    .insert(key);
                Some(project)
            }
        }
    }

    /// Starts waiting operations of `project` while it has free slots.
    fn fill(&mut self, project: &Arc<str>, at: At) {
        let Some(max) = self.max_running else { return };
        let Some(slots) = self.slots.get_mut(project) else {
            return;
        };
        let mut started = Vec::new();
        while slots.running < max {
            let Some((_, seq)) = slots.waiting.pop_first() else {
                break;
            };
            slots.running += 1;
            started.push(seq);
        }
        for seq in started {
            if let Some(entry) = self.entries.get_mut(&seq) {
                entry.tl.started = Some(at);
                entry.holds_slot = true;
                if let Some((end, _)) = entry.tl.end() {
                    self.events.push(Reverse((end, Event::End, seq)));
                }
            }
        }
    }

    /// Adds an operation made from `spec` in `project` at `self.now` and returns its name.
    /// `start` puts it at a seed's starting point.
    pub fn insert(
        &mut self,
        config: &EmulatorConfig,
        project: &str,
        spec: TaskSpec,
        start: Option<super::seed::Start>,
        given: Option<Box<Given>>,
    ) -> String {
        let mut spec = spec.clamped();
        if config.retry_rate > 0.0 && self.rng.random_bool(config.retry_rate) {
            spec.retries = (spec.retries + 1).min(super::MAX_RETRIES);
        }
        let id = match spec.id.take() {
            Some(id) => id,
            None => loop {
                let id = new_id(&mut self.rng);
                if !self
                    .names
                    .contains_key(operation_name(project, &id).as_str())
                {
                    break id;
                }
            },
        };
        let name: Arc<str> = operation_name(project, &id).into();
        let now = self.now;
        let project: Arc<str> = match self.by_project.get_key_value(project) {
            Some((p, _)) => p.clone(),
            None => project.into(),
        };
        let failure = (spec.failure_code != Code::Internal
            || spec.failure_message != DEFAULT_FAILURE)
            .then(|| {
                Box::new(Status {
                    code: spec.failure_code as i32,
                    message: std::mem::take(&mut spec.failure_message),
                    details: Vec::new(),
                })
            });
        let eligible = if spec.start_running {
            now
        } else {
            now.saturating_add(spec.queue)
        };
        let mut tl = Timeline {
            created: now,
            eligible,
            started: None,
            work: spec.work,
            retries: spec.retries,
            base: Duration::ZERO,
            speed: self.speed,
            outcome: spec.outcome,
            cancel: CancelMark::None,
            sealed: None,
        };
        let mut queued = self.max_running.is_some();
        if let Some(start) = start {
            queued &= start.apply(&mut tl, now, config.cancel_delay);
        }
        if !queued && tl.started.is_none() && tl.sealed.is_none() {
            tl.started = Some(tl.eligible);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let running_seed = queued && tl.started.is_some();
        let entry = Entry {
            seq,
            name: name.clone(),
            project: project.clone(),
            description: spec.description,
            task_type: spec.task_type,
            priority: spec.priority,
            script_uri: spec.script_uri,
            destination_uris: spec.destination_uris,
            failure,
            given,
            tl,
            effects: EffectCounts::default(),
            deleted: false,
            completed: false,
            holds_slot: running_seed,
        };
        // A seeded done operation is not counted as a completion.
        let sealed = entry.tl.sealed.is_some();
        let end = entry.tl.end();
        let eligible = entry.tl.eligible;
        let waits_for_slot = queued && entry.tl.started.is_none();
        // Replacing an operation of the same name: the old one goes as a delete would take it
        // (without counting a delete).
        if let Some(&old) = self.names.get(&name) {
            self.unlink(old);
        }
        self.names.insert(name.clone(), seq);
        self.order.insert(seq);
        self.by_project
            .entry(project.clone())
            .or_default()
            .insert(seq);
        self.entries.insert(seq, Box::new(entry));
        if running_seed {
            self.slots.entry(project.clone()).or_default().running += 1;
        }
        if sealed {
            if let Some(e) = self.entries.get_mut(&seq) {
                e.completed = true;
            }
        } else if waits_for_slot {
            self.events.push(Reverse((eligible, Event::Eligible, seq)));
        } else if let Some((end, _)) = end {
            self.events.push(Reverse((end, Event::End, seq)));
        }
        // Anything due now (an end at once, a start at once) happens now.
        self.catch_up(now);
        name.to_string()
    }

    /// Takes the operation out of sight (get, list); its work goes on until it ends.
    fn unlink(&mut self, seq: u64) {
        let Some(entry) = self.entries.get_mut(&seq) else {
            return;
        };
        self.names.remove(&entry.name);
        self.order.remove(&seq);
        if let Some(set) = self.by_project.get_mut(&entry.project) {
            set.remove(&seq);
        }
        let counts = std::mem::take(&mut entry.effects);
        let name = entry.name.clone();
        entry.deleted = true;
        let finished = entry.completed;
        let g = self.gone.entry(name).or_default();
        g.cancels_applied += counts.cancels_applied;
        g.deletes_applied += counts.deletes_applied;
        g.completions += counts.completions;
        // Waiters find it gone.
        self.waiters.remove(&seq);
        if finished {
            self.entries.remove(&seq);
        }
    }

    /// Delete: the record goes, the work does not stop.
    pub fn delete(&mut self, name: &str) -> bool {
        let Some(&seq) = self.names.get(name) else {
            return false;
        };
        self.unlink(seq);
        if let Some(counts) = self.gone.get_mut(name) {
            counts.deletes_applied += 1;
        }
        true
    }

    /// Cancel at `self.now`: `None` if there is no such operation; `Some(false)` if it had
    /// ended or a cancel was already under way; `Some(true)` when accepted (ignored or not, as
    /// `despite` says).
    pub fn cancel(&mut self, name: &str, despite: bool, delay: Duration) -> Option<bool> {
        let now = self.now;
        let &seq = self.names.get(name)?;
        let entry = self.entries.get_mut(&seq)?;
        if entry.done_at(now) || entry.tl.cancel != CancelMark::None {
            return Some(false);
        }
        entry.effects.cancels_applied += 1;
        if despite {
            entry.tl.cancel = CancelMark::Ignored { at: now };
            return Some(true);
        }
        let ends = now.saturating_add(delay);
        entry.tl.cancel = CancelMark::Accepted { at: now, ends };
        // Out of the queue, if it waited for a slot.
        if entry.tl.started.is_none()
            && let Some(slots) = self.slots.get_mut(&entry.project)
        {
            slots.waiting.remove(&(Reverse(entry.priority), seq));
        }
        self.events.push(Reverse((ends, Event::End, seq)));
        self.catch_up(now);
        Some(true)
    }

    /// How many operations of `project` hold a running slot (queueing).
    pub fn running_in(&self, project: &str) -> usize {
        self.slots.get(project).map_or(0, |s| s.running)
    }
}

fn new_id(rng: &mut StdRng) -> String {
    (0..24)
        .map(|_| ID_CHARS[rng.random_range(0..ID_CHARS.len())] as char)
        .collect()
}

/// `projects/{project}/operations/{id}`, or `operations/{id}` for [`GENERIC`].
fn operation_name(project: &str, id: &str) -> String {
    if project == GENERIC {
        format!("operations/{id}")
    } else {
        format!("projects/{project}/operations/{id}")
    }
}
