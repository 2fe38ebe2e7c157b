//! `cancel`: named cancels run concurrently and reported in input order; `cancel --all`
//! (or `cancel all`) lists the project's unfinished operations and cancels those selected.

use std::io::{BufRead as _, IsTerminal as _};
use std::time::Duration;

use clap::Args;
use eeops::client::{CancelOutcome, Client, OperationExt, WaitOptions};
use eeops::pb::google::earthengine::v1::operation_metadata::State;
use eeops::pb::google::longrunning::Operation;
use futures::StreamExt as _;
use indicatif::ProgressBar;

use crate::commands::{
    CONCURRENCY, bar_style, only_with_all, print_json, project_collection, resolve_all,
    states_for_all, unfinished_selected, wants_all,
};
use crate::output::{self, clean, operation_json, outcome_detail, outcome_word, state_label};
use crate::select::Selection;
use crate::{Failure, Global, OutputFormat, client, describe, exit, exit_code};

/// `cancel`.
#[derive(Args, Debug)]
pub struct CancelArgs {
    /// Operation names or bare task ids; `all` alone means --all.
    pub names: Vec<String>,
    /// Wait for each outcome: cancelled, completed anyway, failed, or still running.
    #[arg(long)]
    pub confirm: bool,
    /// Cancel every unfinished operation of the project that matches --state and --type.
    #[arg(long)]
    pub all: bool,
    /// With --all: only these states (PENDING or READY, RUNNING; default both).
    #[arg(long, value_delimiter = ',')]
    pub state: Vec<String>,
    /// With --all: only these types (comma-separated or repeated).
    #[arg(long = "type", value_delimiter = ',')]
    pub task_type: Vec<String>,
    /// With --all: do not ask before cancelling.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// How many cancels (and confirmations) run at once.
    #[arg(long, default_value_t = CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
}

/// What one cancel came to, for reports and summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CancelResult {
    /// The request was accepted (without --confirm).
    Requested,
    /// Confirmed cancelled (error code 1).
    Cancelled,
    /// It completed successfully despite the cancel.
    CompletedAnyway,
    /// It failed despite the cancel.
    FailedAnyway,
    /// Still not done when the wait ended.
    StillRunning,
    /// It had been cancelled before: nothing was sent.
    AlreadyCancelled,
    /// It had succeeded before: nothing was sent.
    AlreadySucceeded,
    /// It had failed before: nothing was sent.
    AlreadyFailed,
    /// The server does not support cancel.
    Unsupported,
    /// The operation does not exist.
    NotFound,
    /// Another error.
    Error,
}

impl CancelResult {
    fn label(self) -> &'static str {
        match self {
            CancelResult::Requested => "cancel requested",
            CancelResult::Cancelled => "cancelled",
            CancelResult::CompletedAnyway => "completed anyway",
            CancelResult::FailedAnyway => "failed anyway",
            CancelResult::StillRunning => "still running",
            CancelResult::AlreadyCancelled => "already cancelled",
            CancelResult::AlreadySucceeded => "already succeeded",
            CancelResult::AlreadyFailed => "already failed",
            CancelResult::Unsupported => "cancel unsupported",
            CancelResult::NotFound => "not found",
            CancelResult::Error => "error",
        }
    }

    fn is_failure(self) -> bool {
        matches!(
            self,
            CancelResult::Unsupported | CancelResult::NotFound | CancelResult::Error
        )
    }

    fn already(op: &Operation) -> CancelResult {
        match outcome_word(op) {
            "cancelled" => CancelResult::AlreadyCancelled,
            "failed" => CancelResult::AlreadyFailed,
            _ => CancelResult::AlreadySucceeded,
        }
    }
}

/// What one cancel came to: the result, the operation when known, the error when any.
type CancelReport = (CancelResult, Option<Operation>, Option<eeops::Error>);

/// One cancel, confirmed or not.
async fn cancel_one(c: &Client, name: &str, confirm: Option<WaitOptions>) -> CancelReport {
    let Some(wait) = confirm else {
        return match c.cancel(name).await {
            Ok(()) => (CancelResult::Requested, None, None),
            Err(e) => (error_result(&e), None, Some(e)),
        };
    };
    match c.cancel_and_confirm(name, wait).await {
        Ok(CancelOutcome::Cancelled(op)) => (CancelResult::Cancelled, Some(op), None),
        Ok(CancelOutcome::CompletedAnyway(op)) => (CancelResult::CompletedAnyway, Some(op), None),
        Ok(CancelOutcome::FailedAnyway(op)) => (CancelResult::FailedAnyway, Some(op), None),
        Ok(CancelOutcome::StillRunning(op)) => (CancelResult::StillRunning, Some(op), None),
        Ok(CancelOutcome::Unimplemented { error, operation }) => {
            (CancelResult::Unsupported, operation, Some(error))
        }
        Ok(other) => (CancelResult::Error, other.operation().cloned(), None),
        Err(e) => (error_result(&e), None, Some(e)),
    }
}

/// A named cancel: reads the operation first, so one that is already finished is reported as
/// such (and not sent a cancel that would do nothing).
async fn cancel_named(c: &Client, name: &str, confirm: Option<WaitOptions>) -> CancelReport {
    match c.get(name).await {
        Ok(op) if op.done => (CancelResult::already(&op), Some(op), None),
        Ok(_) => cancel_one(c, name, confirm).await,
        Err(e) => (error_result(&e), None, Some(e)),
    }
}

fn error_result(e: &eeops::Error) -> CancelResult {
    if e.is_unimplemented() {
        CancelResult::Unsupported
    } else if e.is_not_found() {
        CancelResult::NotFound
    } else {
        CancelResult::Error
    }
}

fn cancel_json(
    name: &str,
    r: CancelResult,
    op: Option<&Operation>,
    e: Option<&eeops::Error>,
) -> serde_json::Value {
    // A failed call is `"result": "error"` with its code, as for every command.
    let result = if e.is_some() { "error" } else { r.label() };
    let mut v = serde_json::json!({"name": name, "result": result});
    if let Some(op) = op {
        v["state"] = state_label(op).into();
        v["operation"] = operation_json(op);
    }
    if let Some(e) = e {
        v["code"] = e.code().map(|c| c.as_str_name()).into();
        v["message"] = e.message().into();
    }
    v
}

/// `cancelled: NAME (code 1: Cancelled.)`, `still running: NAME (RUNNING 40%)`, ...
fn cancel_line(name: &str, r: CancelResult, op: Option<&Operation>) -> String {
    let detail = op.and_then(|op| match r {
        CancelResult::StillRunning => Some(match op.progress() {
            Some(p) if p > 0.0 => format!("{} {:.0}%", state_label(op), p * 100.0),
            _ => state_label(op),
        }),
        _ => outcome_detail(op),
    });
    match detail {
        Some(d) => format!("{}: {} ({d})", r.label(), clean(name)),
        None => format!("{}: {}", r.label(), clean(name)),
    }
}

/// Prints one cancel's report the way `-o` asks; returns its exit code.
fn print_cancel(g: &Global, name: &str, (r, op, e): &CancelReport) -> u8 {
    if let Some(e) = e {
        // The JSON line carries the operation when the server could still be read (cancel
        // unsupported), so it is not the plain error object.
        if g.output == OutputFormat::Json {
            print_json(&cancel_json(name, *r, op.as_ref(), Some(e)));
        }
        errln!("error: {}: {}", clean(name), describe(e, Some("cancel")));
        return exit_code(e);
    }
    match g.output {
        OutputFormat::Json => print_json(&cancel_json(name, *r, op.as_ref(), None)),
        OutputFormat::Table => outln!("{}", cancel_line(name, *r, op.as_ref())),
    }
    if r.is_failure() {
        exit::FAILURE
    } else {
        exit::OK
    }
}

fn confirm_wait(g: &Global) -> WaitOptions {
    WaitOptions::default()
        .with_timeout(g.timeout.unwrap_or(Duration::from_secs(60)))
        .with_poll_interval(Duration::from_millis(250), Duration::from_secs(5))
}

/// `cancel`.
pub async fn cancel(g: &Global, a: CancelArgs) -> Result<u8, Failure> {
    let all = wants_all("cancel", &a.names, a.all)?;
    if !all {
        only_with_all(
            "cancel",
            &[
                ("--state", !a.state.is_empty()),
                ("--type", !a.task_type.is_empty()),
                ("--yes", a.yes),
            ],
        )?;
    }
    let mut selection = Selection::parse(&a.state, &a.task_type)?;
    if all {
        states_for_all("cancel", &mut selection, &[State::Pending, State::Running])?;
    }
    let c = client(g).await?;
    if all {
        return cancel_all(g, &c, &a, &selection).await;
    }
    let names = resolve_all(&c, &a.names)?;
    let confirm = a.confirm.then(|| confirm_wait(g));
    if confirm.is_none() && names.len() > 1 {
        return cancel_named_in_bulk(g, &c, &names, usize::from(a.concurrency)).await;
    }
    // Concurrently, reported in input order as each is known.
    let mut reports = futures::stream::iter(names)
        .map(|name| {
            let c = c.clone();
            let confirm = confirm.clone();
            async move {
                let report = cancel_named(&c, &name, confirm).await;
                (name, report)
            }
        })
        .buffered(usize::from(a.concurrency));
    let mut code = exit::OK;
    while let Some((name, report)) = reports.next().await {
        code = code.max(print_cancel(g, &name, &report));
    }
    Ok(code)
}

/// Several named cancels without `--confirm`: the client's adaptive bulk calls (REST batches
/// where the server has them, at the pace its quota allows), first reading every operation so
/// that finished ones are reported as such, then cancelling the others; reported in input order.
async fn cancel_named_in_bulk(
    g: &Global,
    c: &Client,
    names: &[String],
    concurrency: usize,
) -> Result<u8, Failure> {
    let read = crate::bulk::run(
        c.get_each_with(names, crate::bulk::options(concurrency)),
        names.len(),
        "read",
    )
    .await;
    let mut reports: Vec<Option<CancelReport>> = Vec::with_capacity(names.len());
    let mut to_cancel = Vec::new();
    for (i, (_, result)) in read.into_iter().enumerate() {
        reports.push(match result {
            Ok(op) if op.done => Some((CancelResult::already(&op), Some(op), None)),
            Ok(_) => {
                to_cancel.push(i);
                None
            }
            Err(e) => Some((error_result(&e), None, Some(e))),
        });
    }
    let pending: Vec<&str> = to_cancel.iter().map(|&i| names[i].as_str()).collect();
    let sent = crate::bulk::run(
        c.cancel_each_with(&pending, crate::bulk::options(concurrency)),
        pending.len(),
        "cancel requests sent",
    )
    .await;
    for (&i, (_, result)) in to_cancel.iter().zip(sent) {
        reports[i] = Some(match result {
            Ok(()) => (CancelResult::Requested, None, None),
            Err(e) => (error_result(&e), None, Some(e)),
        });
    }
    let mut code = exit::OK;
    for (name, report) in names.iter().zip(reports) {
        if let Some(report) = report {
            code = code.max(print_cancel(g, name, &report));
        }
    }
    Ok(code)
}

async fn cancel_all(
    g: &Global,
    c: &Client,
    a: &CancelArgs,
    selection: &Selection,
) -> Result<u8, Failure> {
    let collection = project_collection(g, c)?;
    let ops = unfinished_selected(g, c, &collection, selection).await?;
    if ops.is_empty() {
        errln!(
            "nothing to cancel in {collection} ({})",
            selection.describe()
        );
        return Ok(exit::OK);
    }
    let what = format!(
        "{} operation{} ({}) in {collection}",
        ops.len(),
        if ops.len() == 1 { "" } else { "s" },
        selection.describe(),
    );
    if !a.yes && !ask(&format!("Cancel {what}?"))? {
        errln!("nothing cancelled");
        return Ok(exit::OK);
    }
    let names: Vec<String> = ops.into_iter().map(|op| op.name).collect();
    if !a.confirm {
        // Cancel requests only: the adaptive bulk call (REST batches where the server has
        // them), with the current rate on the bar.
        let sent = crate::bulk::run(
            c.cancel_each_with(&names, crate::bulk::options(usize::from(a.concurrency))),
            names.len(),
            "cancel requests sent",
        )
        .await;
        let results = sent
            .into_iter()
            .map(|(name, result)| match result {
                Ok(()) => (name, (CancelResult::Requested, None, None)),
                Err(e) => {
                    errln!("error: {}: {}", clean(&name), describe(&e, Some("cancel")));
                    (name, (error_result(&e), None, Some(e)))
                }
            })
            .collect();
        return Ok(summarize_all(g, &what, results));
    }
    let template = if a.confirm {
        "{bar:40.cyan/blue} {pos}/{len} outcomes known {msg}"
    } else {
        "{bar:40.cyan/blue} {pos}/{len} cancel requests sent {msg}"
    };
    let bar = ProgressBar::new(names.len() as u64).with_style(bar_style(template));
    let confirm = a.confirm.then(|| confirm_wait(g));
    let mut results: Vec<(usize, String, CancelReport)> =
        futures::stream::iter(names.into_iter().enumerate())
            .map(|(i, name)| {
                let c = c.clone();
                let confirm = confirm.clone();
                let bar = bar.clone();
                async move {
                    let report = cancel_one(&c, &name, confirm).await;
                    bar.inc(1);
                    if let Some(e) = &report.2 {
                        bar.suspend(|| {
                            errln!("error: {}: {}", clean(&name), describe(e, Some("cancel")))
                        });
                    }
                    (i, name, report)
                }
            })
            .buffer_unordered(usize::from(a.concurrency))
            .collect()
            .await;
    bar.finish_and_clear();
    results.sort_by_key(|(i, _, _)| *i);
    let results = results
        .into_iter()
        .map(|(_, name, report)| (name, report))
        .collect();
    Ok(summarize_all(g, &what, results))
}

/// Prints `cancel --all`'s results (JSON lines, then a summary on stderr); the exit code.
fn summarize_all(g: &Global, what: &str, results: Vec<(String, CancelReport)>) -> u8 {
    let mut counts = std::collections::BTreeMap::new();
    let mut code = exit::OK;
    for (name, (r, op, e)) in &results {
        *counts.entry(*r).or_insert(0usize) += 1;
        if g.output == OutputFormat::Json {
            print_json(&cancel_json(name, *r, op.as_ref(), e.as_ref()));
        }
        if let Some(e) = e {
            code = code.max(exit_code(e));
        } else if r.is_failure() {
            code = code.max(exit::FAILURE);
        }
    }
    let summary: Vec<String> = counts
        .iter()
        .map(|(r, n)| format!("{n} {}", r.label()))
        .collect();
    errln!("{what}: {}", summary.join(", "));
    code
}

/// Asks a yes/no question on the terminal; refuses to guess when there is none.
fn ask(question: &str) -> Result<bool, Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "{question} Refusing to act without a terminal to ask on: pass --yes"
        )));
    }
    output::write_stderr(format_args!("{question} [y/N] "));
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure::usage(format!("cannot read the answer: {e}")))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
