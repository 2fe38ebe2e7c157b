//! `wait`: a live progress bar per operation, results in input order, `wait all`.

use std::time::Duration;

use clap::Args;
use eeops::client::{OperationExt, WaitOptions};
use eeops::pb::google::earthengine::v1::operation_metadata::State;
use eeops::pb::google::longrunning::Operation;
use futures::StreamExt as _;
use indicatif::{MultiProgress, ProgressBar};

use crate::commands::{
    CONCURRENCY, bar_style, only_with_all, print_json, project_collection, report_error,
    resolve_all, states_for_all, unfinished_selected, wants_all,
};
use crate::output::{clean, operation_json, outcome_label, state_label, task_id};
use crate::select::Selection;
use crate::{Failure, Global, OutputFormat, client, exit, exit_code};

/// `wait`.
#[derive(Args, Debug)]
pub struct WaitArgs {
    /// Operation names or bare task ids; `all` alone means --all.
    pub names: Vec<String>,
    /// Wait for every unfinished operation of the project that matches --state and --type.
    #[arg(long)]
    pub all: bool,
    /// With --all: only these states (PENDING or READY, RUNNING, CANCELLING; default all three).
    #[arg(long, value_delimiter = ',')]
    pub state: Vec<String>,
    /// With --all: only these types (comma-separated or repeated).
    #[arg(long = "type", value_delimiter = ',')]
    pub task_type: Vec<String>,
    /// How many operations are waited for at once.
    #[arg(long, default_value_t = CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
}

/// The message of a wait bar: state and, while it runs, the current stage (escaped).
fn wait_message(op: &Operation) -> String {
    let mut m = state_label(op);
    if !op.done
        && let Some(md) = op.metadata()
        && let Some(stage) = md
            .stages
            .iter()
            .find(|s| s.complete_work_units < s.total_work_units)
    {
        m.push_str(&format!(
            " · {} {}/{}",
            clean(&stage.display_name),
            stage.complete_work_units,
            stage.total_work_units
        ));
    }
    m
}

/// How `wait` follows an operation: WaitOperation calls of under a second (or GetOperation
/// polls of at most a second where the server has no WaitOperation), so a bar moves at least
/// once a second while the task does. With more than 8 waits at once, each call is longer
/// (100 ms per wait, at most 10 s), so that the whole command stays near 10 calls a second
/// and does not eat a project's request quota.
fn live_wait_options(g: &Global, at_once: usize) -> WaitOptions {
    let per_call = Duration::from_millis(100)
        .saturating_mul(u32::try_from(at_once).unwrap_or(u32::MAX))
        .clamp(Duration::from_millis(800), Duration::from_secs(10));
    let options = WaitOptions::default()
        .with_poll_interval(
            Duration::from_millis(500),
            per_call.max(Duration::from_secs(1)),
        )
        .with_server_wait(per_call);
    match g.timeout {
        Some(t) => options.with_timeout(t),
        None => options,
    }
}

/// `wait`.
pub async fn wait(g: &Global, a: WaitArgs) -> Result<u8, Failure> {
    let all = wants_all("wait", &a.names, a.all)?;
    if !all {
        only_with_all(
            "wait",
            &[
                ("--state", !a.state.is_empty()),
                ("--type", !a.task_type.is_empty()),
            ],
        )?;
    }
    let mut selection = Selection::parse(&a.state, &a.task_type)?;
    if all {
        states_for_all(
            "wait",
            &mut selection,
            &[State::Pending, State::Running, State::Cancelling],
        )?;
    }
    let c = client(g).await?;
    let names = if all {
        let collection = project_collection(g, &c)?;
        let ops = unfinished_selected(g, &c, &collection, &selection).await?;
        if ops.is_empty() {
            errln!(
                "nothing to wait for in {collection} ({})",
                selection.describe()
            );
            return Ok(exit::OK);
        }
        ops.into_iter().map(|op| op.name).collect()
    } else {
        resolve_all(&c, &a.names)?
    };
    let bars = MultiProgress::new();
    let style = bar_style("{prefix:<26} {bar:30.green/white} {percent:>3}% {elapsed:>4} {msg}");
    let options = live_wait_options(g, names.len().min(usize::from(a.concurrency)));
    let mut results = futures::stream::iter(names)
        .map(|name| {
            let bar = bars.add(
                ProgressBar::new(100)
                    .with_style(style.clone())
                    .with_prefix(clean(task_id(&name)).into_owned()),
            );
            bar.enable_steady_tick(Duration::from_millis(250));
            let c = c.clone();
            let options = options.clone();
            async move {
                let result = c
                    .wait_with_progress(&name, options, |op| {
                        if let Some(p) = op.progress() {
                            bar.set_position((p.clamp(0.0, 1.0) * 100.0) as u64);
                        }
                        bar.set_message(wait_message(op));
                    })
                    .await;
                // The bar stays, with the outcome, until every wait is over.
                match &result {
                    Ok(op) => bar.finish_with_message(outcome_label(op)),
                    Err(e) => bar.abandon_with_message(format!("error: {}", clean(&e.to_string()))),
                }
                (name, result)
            }
        })
        .buffered(usize::from(a.concurrency));
    let mut code = exit::OK;
    let mut unverified = false;
    while let Some((name, result)) = results.next().await {
        match result {
            Ok(op) => {
                unverified |= op.metadata_unverified();
                bars.suspend(|| match g.output {
                    OutputFormat::Json => print_json(&operation_json(&op)),
                    OutputFormat::Table => outln!("{}: {}", outcome_label(&op), clean(&name)),
                });
                if op.error().is_some() {
                    code = code.max(exit::FAILURE);
                }
            }
            Err(e) => {
                bars.suspend(|| report_error(g, &name, &e, None));
                code = code.max(exit_code(&e));
            }
        }
    }
    let _ = bars.clear();
    if unverified {
        errln!("note: {}", crate::output::UNVERIFIED_NOTE);
    }
    Ok(code)
}
