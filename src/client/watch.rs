//! Waiting for operations: [`Client::wait`], [`Client::watch`] (WaitOperation, or polling
//! GetOperation) and [`Client::cancel_and_confirm`].

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::stream::{self, StreamExt as _};
use tokio::time::Instant;

use super::facade::{WAIT_SUPPORTED, WAIT_UNSUPPORTED};
use super::{BoxStream, Client, OperationExt as _, Outcome, WaitOptions};
use crate::pb::google::longrunning::{Operation, WaitOperationRequest};
use crate::stub::OperationsMethod;
use crate::{Error, Result};

/// What became of an operation after [`Client::cancel_and_confirm`].
#[derive(Debug)]
#[non_exhaustive]
pub enum CancelOutcome {
    /// The operation ended cancelled (done, error code 1).
    Cancelled(Operation),
    /// The operation completed with a response despite the cancel (or had already).
    CompletedAnyway(Operation),
    /// The operation failed with another error despite the cancel (or had already).
    FailedAnyway(Operation),
    /// The operation was still running at the deadline: the last snapshot.
    StillRunning(Operation),
    /// The server does not support cancelling (UNIMPLEMENTED); the operation as it was
    /// then, if it could be read.
    Unimplemented {
        /// The server's answer.
        error: Error,
        /// The operation, read after the refused cancel.
        operation: Option<Operation>,
    },
}

impl CancelOutcome {
    /// The last known state of the operation.
    pub fn operation(&self) -> Option<&Operation> {
        match self {
            CancelOutcome::Cancelled(op)
            | CancelOutcome::CompletedAnyway(op)
            | CancelOutcome::FailedAnyway(op)
            | CancelOutcome::StillRunning(op) => Some(op),
            CancelOutcome::Unimplemented { operation, .. } => operation.as_ref(),
        }
    }

    fn of_done(op: Operation) -> CancelOutcome {
        match op.outcome() {
            Outcome::Cancelled(_) => CancelOutcome::Cancelled(op),
            Outcome::Failed(_) => CancelOutcome::FailedAnyway(op),
            Outcome::Succeeded(_) => CancelOutcome::CompletedAnyway(op),
            Outcome::Running => CancelOutcome::StillRunning(op),
        }
    }
}

impl Client {
    /// Waits until an operation is done, or the timeout passes (an
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) error). Uses WaitOperation when the
    /// server has it; after one UNIMPLEMENTED answer this client polls GetOperation instead,
    /// with a growing interval.
    pub async fn wait(
        &self,
        name: impl AsRef<str>,
        options: impl Into<WaitOptions>,
    ) -> Result<Operation> {
        self.wait_with_progress(name, options, |_| {}).await
    }

    /// [`wait`](Self::wait), calling `progress` with each new snapshot of the operation (the
    /// final one included), e.g. to show its metadata's progress.
    pub async fn wait_with_progress(
        &self,
        name: impl AsRef<str>,
        options: impl Into<WaitOptions>,
        mut progress: impl FnMut(&Operation),
    ) -> Result<Operation> {
        let mut snapshots = self.watch(name, options);
        let mut last = None;
        while let Some(item) = snapshots.next().await {
            let op = item?;
            progress(&op);
            last = Some(op);
        }
        match last {
            Some(op) if op.done => Ok(op),
            _ => Err(Error::timeout("the operation is not done")),
        }
    }

    /// The snapshots of an operation until it is done: the current state first, then each
    /// change, ending with the done operation; or ending with an error (a timeout at the
    /// deadline).
    pub fn watch(
        &self,
        name: impl AsRef<str>,
        options: impl Into<WaitOptions>,
    ) -> BoxStream<Result<Operation>> {
        let name = match self.operation_name(name.as_ref()) {
            Ok(n) => n,
            Err(e) => return stream::once(async move { Err(e) }).boxed(),
        };
        let options = options.into();
        let watch = Watch {
            client: self.clone(),
            name,
            deadline: options.timeout.map(|t| Instant::now() + t),
            options,
            last: None,
            polls: 0,
            started: false,
            finished: false,
        };
        stream::unfold(watch, |mut w| async move {
            w.step().await.map(|item| (item, w))
        })
        .boxed()
    }

    /// Cancels an operation and follows it until the outcome is known, or the timeout passes:
    /// the cancel-then-check workflow in one call. NOT_FOUND and other failures of the cancel
    /// itself are errors; UNIMPLEMENTED is [`CancelOutcome::Unimplemented`].
    pub async fn cancel_and_confirm(
        &self,
        name: impl AsRef<str>,
        options: impl Into<WaitOptions>,
    ) -> Result<CancelOutcome> {
        let name = self.operation_name(name.as_ref())?;
        if let Err(error) = self.cancel_checked(&name).await {
            if error.is_unimplemented() {
                let operation = self.get_checked(&name, None).await.ok();
                return Ok(CancelOutcome::Unimplemented { error, operation });
            }
            return Err(error);
        }
        let mut snapshots = self.watch(&name, options);
        let mut last: Option<Operation> = None;
        while let Some(item) = snapshots.next().await {
            match item {
                Ok(op) if op.done => return Ok(CancelOutcome::of_done(op)),
                Ok(op) => last = Some(op),
                Err(e) if e.is_timeout() => {
                    return match last {
                        Some(op) => Ok(CancelOutcome::StillRunning(op)),
                        None => Err(e),
                    };
                }
                Err(e) => return Err(e),
            }
        }
        match last {
            Some(op) => Ok(CancelOutcome::StillRunning(op)),
            None => Err(Error::timeout(format!("no state of {name} could be read"))),
        }
    }
}

struct Watch {
    client: Client,
    name: String,
    options: WaitOptions,
    deadline: Option<Instant>,
    last: Option<Operation>,
    polls: u32,
    started: bool,
    finished: bool,
}

impl Watch {
    async fn step(&mut self) -> Option<Result<Operation>> {
        if self.finished {
            return None;
        }
        loop {
            let op = match self.fetch().await {
                Ok(op) => op,
                Err(e) => {
                    self.finished = true;
                    return Some(Err(e));
                }
            };
            if op.done {
                self.finished = true;
                return Some(Ok(op));
            }
            if self.last.as_ref() != Some(&op) {
                self.last = Some(op.clone());
                return Some(Ok(op));
            }
        }
    }

    fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    fn timeout_error(&self) -> Error {
        let state = match &self.last {
            Some(op) => match (op.state(), op.progress()) {
                (Some(s), Some(p)) => {
                    format!("; last state {} at {:.0}%", s.as_str_name(), p * 100.0)
                }
                _ => "; still running".into(),
            },
            None => String::new(),
        };
        Error::timeout(format!(
            "{} is not done after {:?}{state}",
            self.name,
            self.options.timeout.unwrap_or_default()
        ))
    }

    /// Sleeps the next polling interval, cut short at the deadline.
    async fn pause(&mut self) -> Result<()> {
        let mut interval = self.options.poll_backoff().delay(self.polls);
        self.polls = self.polls.saturating_add(1);
        if let Some(r) = self.remaining() {
            interval = interval.min(r);
        }
        tokio::time::sleep(interval).await;
        if self.remaining() == Some(Duration::ZERO) {
            return Err(self.timeout_error());
        }
        Ok(())
    }

    async fn fetch(&mut self) -> Result<Operation> {
        if !self.started {
            self.started = true;
            return self.client.get_checked(&self.name, self.deadline).await;
        }
        loop {
            let remaining = self.remaining();
            if remaining == Some(Duration::ZERO) {
                return Err(self.timeout_error());
            }
            if self.client.supports_wait() == Some(false) {
                self.pause().await?;
                return self.client.get_checked(&self.name, self.deadline).await;
            }
            let wait_for = match remaining {
                Some(r) => r.min(self.options.server_wait),
                None => self.options.server_wait,
            };
            let started = Instant::now();
            match self.wait_once(wait_for).await {
                Ok(op) => {
                    self.client
                        .inner
                        .wait_support
                        .store(WAIT_SUPPORTED, Ordering::Relaxed);
                    if !op.done && started.elapsed() < wait_for / 2 {
                        // The server answered early without the operation being done: do
                        // not hammer it.
                        self.pause().await?;
                    }
                    return Ok(op);
                }
                Err(e) if e.is_unimplemented() => {
                    tracing::debug!(name = %self.name, "WaitOperation is unimplemented; polling instead");
                    self.client
                        .inner
                        .wait_support
                        .store(WAIT_UNSUPPORTED, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn wait_once(&self, wait_for: Duration) -> Result<Operation> {
        let inner = &self.client.inner;
        let stub = &*inner.stub;
        // The attempt must outlast the server-side wait.
        let mut retrier = inner.retrier.clone();
        let grace = Duration::from_secs(10);
        retrier.policy.attempt_timeout = retrier
            .policy
            .attempt_timeout
            .map(|t| t.max(wait_for + grace));
        retrier.policy.time_limit = retrier.policy.time_limit.map(|t| t.max(wait_for + grace));
        let request = WaitOperationRequest {
            name: self.name.clone(),
            timeout: Some(prost_types::Duration {
                seconds: i64::try_from(wait_for.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(wait_for.subsec_nanos()).unwrap_or(0),
            }),
        };
        retrier
            .run(
                OperationsMethod::WaitOperation,
                // A little past the deadline, for the answer the server sends at it.
                self.deadline.map(|d| d + Duration::from_secs(2)),
                |opts, _| stub.wait_operation(request.clone(), opts),
            )
            .await
    }
}
