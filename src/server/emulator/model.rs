//! The life of one emulated operation as a timeline, and its state at any time as a pure
//! function of that timeline and the clock.
//!
//! Times are offsets from the emulator's epoch ([`At`]). A task is *created*, becomes
//! *eligible* to start after its queue time, *starts* (at once, or when a slot of its project
//! frees under [`EmulatorConfig::max_running`](super::EmulatorConfig::max_running)), and then
//! does its work: `retries` failing attempts of half the work each, then the last attempt of
//! the whole work. Its *work done* at time `t` is `base + (t - started) × speed` (frozen at an
//! accepted cancel), and everything shown (state, progress, stages, attempt) follows from it.

use std::time::Duration;

use crate::pb::google::earthengine::v1::OperationStage;
use crate::pb::google::earthengine::v1::operation_metadata::State;

use super::TaskOutcome;

/// A point of emulated time: the offset from the emulator's epoch.
pub(super) type At = Duration;

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Terminal {
    Succeeded,
    Failed,
    Cancelled,
}

impl Terminal {
    pub(super) fn state(self) -> State {
        match self {
            Terminal::Succeeded => State::Succeeded,
            Terminal::Failed => State::Failed,
            Terminal::Cancelled => State::Cancelled,
        }
    }
}

/// Where a cancel stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CancelMark {
    None,
    /// Accepted at `at`: the work stops there and the operation ends CANCELLED at `ends`.
    Accepted {
        at: At,
        ends: At,
    },
    /// Accepted at `at` but ignored: CANCELLING until the task ends as it would have.
    Ignored {
        at: At,
    },
}

/// Everything that decides an operation's state.
#[derive(Clone, Debug)]
pub(super) struct Timeline {
    pub created: At,
    /// When it may start (created + queue time).
    pub eligible: At,
    /// When it started (or will, once `eligible` is reached, without queueing); `None` while
    /// it waits for a slot.
    pub started: Option<At>,
    /// The whole work of one full attempt.
    pub work: Duration,
    /// Failing attempts before the last.
    pub retries: u32,
    /// Work already done when it starts (a seed's progress).
    pub base: Duration,
    /// Work per unit of emulated time.
    pub speed: f64,
    pub outcome: TaskOutcome,
    pub cancel: CancelMark,
    /// A fixed end (a seed that is already done).
    pub sealed: Option<(At, Terminal)>,
}

/// `d × speed`, exact when the speed is 1.
pub(super) fn scale(d: Duration, speed: f64) -> Duration {
    if speed == 1.0 {
        d
    } else {
        Duration::try_from_secs_f64(d.as_secs_f64() * speed).unwrap_or(Duration::MAX)
    }
}

/// `d / speed`, exact when the speed is 1.
pub(super) fn unscale(d: Duration, speed: f64) -> Duration {
    if speed == 1.0 {
        d
    } else {
        Duration::try_from_secs_f64(d.as_secs_f64() / speed).unwrap_or(Duration::MAX)
    }
}

/// What an operation shows at one time.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct View {
    pub state: State,
    pub done: Option<(At, Terminal)>,
    /// The start, if it has started by now (and ran at all).
    pub started: Option<At>,
    /// 1-based.
    pub attempt: u32,
    /// Progress of the current attempt, 0..=1.
    pub progress: f64,
}

impl Timeline {
    /// Half the work: what a failing attempt does before it fails.
    fn half(&self) -> Duration {
        self.work / 2
    }

    /// All the work from nothing to the end: the failing attempts and the last one.
    pub fn total(&self) -> Duration {
        self.half()
            .saturating_mul(self.retries)
            .saturating_add(self.work)
    }

    /// When and how it ends, if that is decided.
    pub fn end(&self) -> Option<(At, Terminal)> {
        if let Some(sealed) = self.sealed {
            return Some(sealed);
        }
        if let CancelMark::Accepted { ends, .. } = self.cancel {
            // (A cancel is only accepted before the natural end.)
            return Some((ends, Terminal::Cancelled));
        }
        let end = self.natural_end()?;
        let how = match self.outcome {
            TaskOutcome::Succeed => Terminal::Succeeded,
            TaskOutcome::Fail => Terminal::Failed,
        };
        Some((end, how))
    }

    /// When the work would be done, if it has a start.
    pub fn natural_end(&self) -> Option<At> {
        let started = self.started?;
        let left = self.total().saturating_sub(self.base);
        Some(started.saturating_add(unscale(left, self.speed)))
    }

    /// Work done by `t` (counting the failed attempts), frozen at an accepted cancel.
    fn worked(&self, t: At) -> Duration {
        let t = match self.cancel {
            CancelMark::Accepted { at, .. } => t.min(at),
            _ => t,
        };
        match self.started {
            Some(s) if s <= t => self
                .base
                .saturating_add(scale(t - s, self.speed))
                .min(self.total()),
            _ => self.base.min(self.total()),
        }
    }

    /// The attempt and its progress for an amount of work done.
    fn attempt_at(&self, worked: Duration) -> (u32, f64) {
        let half = self.half();
        let failed = if half.is_zero() {
            self.retries
        } else {
            let n = worked.as_nanos() / half.as_nanos();
            u32::try_from(n).unwrap_or(u32::MAX).min(self.retries)
        };
        let within = worked.saturating_sub(half.saturating_mul(failed));
        let progress = if self.work.is_zero() {
            1.0
        } else {
            (within.as_secs_f64() / self.work.as_secs_f64()).clamp(0.0, 1.0)
        };
        (failed + 1, progress)
    }

    /// The state at `t`.
    pub fn view(&self, t: At) -> View {
        let done = self.end().filter(|(end, _)| *end <= t);
        // The work stops at an accepted cancel, or at the end.
        let mut horizon = t;
        if let CancelMark::Accepted { at, .. } = self.cancel {
            horizon = horizon.min(at);
        }
        if let Some((end, _)) = done {
            horizon = horizon.min(end);
        }
        let started = self.started.filter(|s| *s <= horizon);
        let (attempt, progress) = match done {
            Some((_, Terminal::Succeeded)) => (self.retries + 1, 1.0),
            _ => self.attempt_at(self.worked(horizon)),
        };
        let cancelled_at = match self.cancel {
            CancelMark::None => None,
            CancelMark::Accepted { at, .. } | CancelMark::Ignored { at } => Some(at),
        };
        let state = match done {
            Some((_, how)) => how.state(),
            None if cancelled_at.is_some_and(|at| at <= t) => State::Cancelling,
            None if started.is_some() => State::Running,
            None => State::Pending,
        };
        View {
            state,
            done,
            started,
            attempt,
            progress,
        }
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

/// The stages at a progress of the current attempt.
pub(super) fn stages_at(progress: f64) -> Vec<OperationStage> {
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

/// Progress in whole per-mille steps (short JSON).
pub(super) fn per_mille(progress: f64) -> f64 {
    (progress * 1000.0).floor() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn timeline() -> Timeline {
        Timeline {
            created: ms(0),
            eligible: ms(100),
            started: Some(ms(100)),
            work: ms(1000),
            retries: 0,
            base: Duration::ZERO,
            speed: 1.0,
            outcome: TaskOutcome::Succeed,
            cancel: CancelMark::None,
            sealed: None,
        }
    }

    #[test]
    fn a_plain_task() {
        let tl = timeline();
        assert_eq!(tl.view(ms(50)).state, State::Pending);
        let v = tl.view(ms(600));
        assert_eq!((v.state, v.attempt), (State::Running, 1));
        assert!((v.progress - 0.5).abs() < 1e-9);
        assert_eq!(tl.end(), Some((ms(1100), Terminal::Succeeded)));
        assert_eq!(tl.view(ms(1100)).state, State::Succeeded);
    }

    #[test]
    fn retries_cancel_and_speed() {
        let tl = Timeline {
            retries: 2,
            ..timeline()
        };
        assert_eq!(tl.end(), Some((ms(2100), Terminal::Succeeded)));
        let v = tl.view(ms(700));
        assert_eq!(v.attempt, 2);
        assert!((v.progress - 0.1).abs() < 1e-9, "{v:?}");
        let tl = Timeline {
            cancel: CancelMark::Accepted {
                at: ms(300),
                ends: ms(800),
            },
            ..timeline()
        };
        assert_eq!(tl.view(ms(500)).state, State::Cancelling);
        assert!((tl.view(ms(500)).progress - 0.2).abs() < 1e-9);
        assert_eq!(tl.view(ms(800)).state, State::Cancelled);
        let tl = Timeline {
            speed: 2.0,
            ..timeline()
        };
        assert_eq!(tl.end(), Some((ms(600), Terminal::Succeeded)));
    }
}
