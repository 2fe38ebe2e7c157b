//! The timeline model against a plain step-by-step simulation: random timelines of tasks,
//! cancels (accepted and ignored) and deletes, with and without queueing, run under the manual
//! clock in uneven jumps, must show the same thing at every checkpoint as the reference that
//! walks every operation one millisecond at a time.

use std::time::Duration;

use proptest::prelude::*;

use super::model::Terminal;
use super::{Emulator, EmulatorConfig, TaskOutcome, TaskSpec};
use crate::pb::google::earthengine::v1::operation_metadata::State;

#[derive(Clone, Debug)]
struct TaskPlan {
    create_at: u64,
    project: usize,
    start_running: bool,
    queue: u64,
    work: u64,
    retries: u32,
    fail: bool,
    priority: i32,
}

#[derive(Clone, Debug)]
enum Act {
    Cancel { task: usize, despite: bool },
    Delete { task: usize },
}

#[derive(Clone, Debug)]
struct Plan {
    max_running: Option<u32>,
    cancel_delay: u64,
    tasks: Vec<TaskPlan>,
    acts: Vec<(u64, Act)>,
    /// Clock jumps, in ms.
    jumps: Vec<u64>,
}

fn plan() -> impl Strategy<Value = Plan> {
    let task = (
        0u64..30,
        0usize..2,
        any::<bool>(),
        0u64..10,
        1u64..10,
        0u32..3,
        prop::bool::weighted(0.3),
        0i32..3,
    )
        .prop_map(
            |(create_at, project, start_running, queue, half, retries, fail, priority)| TaskPlan {
                create_at,
                project,
                start_running,
                queue,
                // Even, so that half the work is whole milliseconds.
                work: half * 2,
                retries,
                fail,
                priority,
            },
        );
    (
        prop::option::of(1u32..4),
        0u64..6,
        prop::collection::vec(task, 1..12),
        prop::collection::vec(
            (
                0u64..70,
                0usize..12,
                any::<bool>(),
                prop::bool::weighted(0.25),
            ),
            0..10,
        ),
        prop::collection::vec(1u64..12, 1..40),
    )
        .prop_map(|(max_running, cancel_delay, tasks, acts, jumps)| {
            let n = tasks.len();
            let acts = acts
                .into_iter()
                .map(|(at, i, despite, delete)| {
                    let task = i % n;
                    let act = if delete {
                        Act::Delete { task }
                    } else {
                        Act::Cancel { task, despite }
                    };
                    (at, act)
                })
                .collect();
            Plan {
                max_running,
                cancel_delay,
                tasks,
                acts,
                jumps,
            }
        })
}

/// One task in the reference.
#[derive(Clone, Debug)]
struct RefOp {
    project: usize,
    priority: i32,
    queue_left: u64,
    started: Option<u64>,
    eligible: bool,
    waiting: bool,
    holds_slot: bool,
    work: u64,
    worked: u64,
    retries_left: u32,
    attempt: u32,
    fail: bool,
    /// Accepted cancel: ms left until CANCELLED.
    cancel_left: Option<u64>,
    cancelled_at: Option<u64>,
    done: Option<(u64, Terminal)>,
    deleted: bool,
    completions: u32,
}

struct Reference {
    now: u64,
    max_running: Option<u32>,
    cancel_delay: u64,
    ops: Vec<RefOp>,
}

impl Reference {
    fn running(&self, project: usize) -> usize {
        self.ops
            .iter()
            .filter(|o| o.project == project && o.holds_slot)
            .count()
    }

    fn end(&mut self, i: usize, how: Terminal) {
        let t = self.now;
        let op = &mut self.ops[i];
        op.done = Some((t, how));
        op.completions += 1;
        op.holds_slot = false;
        op.waiting = false;
    }

    fn becomes_eligible(&mut self, i: usize) {
        let t = self.now;
        let queueing = self.max_running.is_some();
        let op = &mut self.ops[i];
        op.eligible = true;
        if queueing {
            op.waiting = true;
        } else {
            op.started = Some(t);
        }
    }

    fn fill(&mut self) {
        let Some(max) = self.max_running else { return };
        for project in 0..2 {
            while self.running(project) < max as usize {
                let best = self
                    .ops
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| o.project == project && o.waiting)
                    .max_by_key(|(i, o)| (o.priority, std::cmp::Reverse(*i)))
                    .map(|(i, _)| i);
                let Some(i) = best else { break };
                let t = self.now;
                let op = &mut self.ops[i];
                op.waiting = false;
                op.started = Some(t);
                op.holds_slot = true;
            }
        }
    }

    /// One millisecond.
    fn step(&mut self) {
        self.now += 1;
        for i in 0..self.ops.len() {
            if self.ops[i].done.is_some() {
                continue;
            }
            if let Some(left) = self.ops[i].cancel_left {
                self.ops[i].cancel_left = Some(left - 1);
                if left == 1 {
                    self.end(i, Terminal::Cancelled);
                }
                continue;
            }
            let op = &mut self.ops[i];
            if op.started.is_none() {
                if !op.eligible {
                    op.queue_left -= 1;
                    if op.queue_left == 0 {
                        self.becomes_eligible(i);
                    }
                }
                continue;
            }
            op.worked += 1;
            let half = op.work / 2;
            while op.retries_left > 0 && op.worked >= half {
                op.worked -= half;
                op.retries_left -= 1;
                op.attempt += 1;
            }
            if op.worked >= op.work {
                let how = if op.fail {
                    Terminal::Failed
                } else {
                    Terminal::Succeeded
                };
                self.end(i, how);
            }
        }
        self.fill();
    }

    fn create(&mut self, t: &TaskPlan) {
        let queue = if t.start_running { 0 } else { t.queue };
        self.ops.push(RefOp {
            project: t.project,
            priority: t.priority,
            queue_left: queue,
            started: None,
            eligible: false,
            waiting: false,
            holds_slot: false,
            work: t.work,
            worked: 0,
            retries_left: t.retries,
            attempt: 1,
            fail: t.fail,
            cancel_left: None,
            cancelled_at: None,
            done: None,
            deleted: false,
            completions: 0,
        });
        let i = self.ops.len() - 1;
        if queue == 0 {
            self.becomes_eligible(i);
        }
        self.fill();
    }

    /// Returns whether the cancel was accepted (`Some`) or found nothing (`None`).
    fn cancel(&mut self, i: usize, despite: bool) -> Option<bool> {
        let t = self.now;
        let delay = self.cancel_delay;
        let op = &mut self.ops[i];
        if op.deleted {
            return None;
        }
        if op.done.is_some() || op.cancelled_at.is_some() {
            return Some(false);
        }
        op.cancelled_at = Some(t);
        if despite {
            return Some(true);
        }
        op.waiting = false;
        if delay == 0 {
            self.end(i, Terminal::Cancelled);
            self.fill();
        } else {
            op.cancel_left = Some(delay);
        }
        Some(true)
    }

    fn state(&self, i: usize) -> State {
        let op = &self.ops[i];
        match op.done {
            Some((_, how)) => how.state(),
            None if op.cancelled_at.is_some() => State::Cancelling,
            None if op.started.is_some_and(|s| s <= self.now) => State::Running,
            None => State::Pending,
        }
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn run(plan: &Plan) -> Result<(), TestCaseError> {
    let emu = Emulator::new(
        EmulatorConfig::default()
            .with_manual_clock(true)
            .with_cancel_delay(ms(plan.cancel_delay))
            .with_max_running(plan.max_running),
    );
    let mut reference = Reference {
        now: 0,
        max_running: plan.max_running,
        cancel_delay: plan.cancel_delay,
        ops: Vec::new(),
    };
    // Tasks in creation order (the plan's order breaks ties).
    let mut tasks: Vec<(usize, &TaskPlan)> = plan.tasks.iter().enumerate().collect();
    tasks.sort_by_key(|(i, t)| (t.create_at, *i));
    let mut acts: Vec<&(u64, Act)> = plan.acts.iter().collect();
    acts.sort_by_key(|(at, _)| *at);
    // plan index -> (reference index, name)
    let mut made: Vec<Option<(usize, String)>> = vec![None; plan.tasks.len()];
    let (mut next_task, mut next_act) = (0, 0);
    let projects = ["a", "b"];

    let mut checkpoints: Vec<u64> = Vec::new();
    let mut t = 0;
    for jump in &plan.jumps {
        t += jump;
        checkpoints.push(t);
    }
    let horizon = t.max(120);
    checkpoints.push(horizon);

    let mut emu_now = 0u64;
    for now in 0..=horizon {
        if now > 0 {
            reference.step();
        }
        // Actions due now: creations, then cancels and deletes in their order. The emulator
        // is brought to this time first (its jumps are uneven: catch up here).
        let due_tasks = tasks[next_task..]
            .iter()
            .take_while(|(_, tp)| tp.create_at == now)
            .count();
        let due_acts = acts[next_act..]
            .iter()
            .take_while(|(at, _)| *at == now)
            .count();
        if due_tasks + due_acts > 0 && emu_now < now {
            emu.advance(ms(now - emu_now));
            emu_now = now;
        }
        for &(i, tp) in &tasks[next_task..next_task + due_tasks] {
            let spec = TaskSpec::default()
                .with_start_running(tp.start_running)
                .with_queue(ms(tp.queue))
                .with_work(ms(tp.work))
                .with_retries(tp.retries)
                .with_priority(tp.priority)
                .with_outcome(if tp.fail {
                    TaskOutcome::Fail
                } else {
                    TaskOutcome::Succeed
                });
            let name = emu.start_task(projects[tp.project], spec);
            reference.create(tp);
            made[i] = Some((reference.ops.len() - 1, name));
        }
        next_task += due_tasks;
        for (_, act) in &acts[next_act..next_act + due_acts] {
            match act {
                Act::Cancel { task, despite } => {
                    let Some((r, name)) = &made[*task] else {
                        continue;
                    };
                    let want = reference.cancel(*r, *despite);
                    let got = emu.lock().cancel(name, *despite, ms(plan.cancel_delay));
                    prop_assert_eq!(got, want, "cancel of {} at {}", task, now);
                }
                Act::Delete { task } => {
                    let Some((r, name)) = &made[*task] else {
                        continue;
                    };
                    let want = !reference.ops[*r].deleted;
                    reference.ops[*r].deleted = true;
                    prop_assert_eq!(emu.lock().delete(name), want);
                }
            }
        }
        next_act += due_acts;

        if checkpoints.contains(&now) {
            if emu_now < now {
                emu.advance(ms(now - emu_now));
                emu_now = now;
            }
            let st = emu.lock();
            prop_assert_eq!(st.now, ms(now));
            for (task, m) in made.iter().enumerate() {
                let Some((r, name)) = m else { continue };
                let want = &reference.ops[*r];
                let counts = st.effects(name);
                prop_assert_eq!(
                    counts.completions,
                    want.completions,
                    "task {} at {}",
                    task,
                    now
                );
                let Some(entry) = st.get(name) else {
                    prop_assert!(want.deleted, "task {} gone at {}", task, now);
                    continue;
                };
                prop_assert!(!want.deleted, "task {} still there at {}", task, now);
                let view = entry.tl.view(ms(now));
                let ctx = format!("task {task} at {now}: {view:?} vs {want:?}");
                prop_assert_eq!(view.state, reference.state(*r), "{}", ctx);
                prop_assert_eq!(view.done, want.done.map(|(t, how)| (ms(t), how)), "{}", ctx);
                prop_assert_eq!(view.started, want.started.map(ms), "{}", ctx);
                if view.done.is_none() {
                    prop_assert_eq!(view.attempt, want.attempt, "{}", ctx);
                    let progress = want.worked as f64 / want.work as f64;
                    prop_assert!((view.progress - progress).abs() < 1e-9, "{}", ctx);
                }
            }
            if let Some(max) = plan.max_running {
                for (p, project) in projects.iter().enumerate() {
                    prop_assert!(st.running_in(project) <= max as usize);
                    prop_assert_eq!(st.running_in(project), reference.running(p));
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn timelines_match_the_step_by_step_reference(plan in plan()) {
        run(&plan)?;
    }
}
