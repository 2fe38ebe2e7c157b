//! The subcommands.

use std::io::{BufRead as _, IsTerminal as _};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use eeops::client::{CancelOutcome, Client, ListOptions, OperationExt, WaitOptions};
use eeops::pb::google::earthengine::v1::operation_metadata::State;
use eeops::pb::google::longrunning::Operation;
use eeops::server::emulator::{self, EmulatorConfig, RunOptions, parse_duration};
use futures::{StreamExt as _, TryStreamExt as _};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::output::{
    self, clean, operation_json, outcome_detail, outcome_label, outcome_word, state_label, task_id,
};
use crate::select::Selection;
use crate::{Failure, Global, OutputFormat, client, describe, exit, exit_code};

/// The default of `--concurrency`: how many calls run at once.
const CONCURRENCY: u16 = 32;

/// `list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only operations in these states: PENDING (or READY), RUNNING, CANCELLING (or
    /// CANCEL_REQUESTED), SUCCEEDED (or COMPLETED), CANCELLED, FAILED. Comma-separated or
    /// repeated; checked before anything is sent and applied by eeops to what the server lists.
    #[arg(long, value_delimiter = ',')]
    pub state: Vec<String>,
    /// Only operations of these types (EXPORT_IMAGE, EXPORT_FEATURES, EXPORT_VIDEO,
    /// EXPORT_TILES, EXPORT_CLASSIFIER, INGEST_IMAGE, INGEST_TABLE). Comma-separated or repeated.
    #[arg(long = "type", value_delimiter = ',')]
    pub task_type: Vec<String>,
    /// A list filter sent to the server as written (Earth Engine documents no grammar; the
    /// emulator takes `field = value` tests joined by AND).
    #[arg(long)]
    pub filter: Option<String>,
    /// Show at most this many.
    #[arg(long)]
    pub limit: Option<usize>,
    /// More columns: update time, EECU-seconds, destination URIs and the error message.
    #[arg(long, short = 'l')]
    pub long: bool,
}

/// Commands that take operation names.
#[derive(Args, Debug)]
pub struct NamesArgs {
    /// Operation names (projects/{project}/operations/{id}) or bare task ids.
    #[arg(required = true)]
    pub names: Vec<String>,
}

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

/// `emulator`.
#[derive(Args, Debug)]
pub struct EmulatorArgs {
    /// Address to listen on: PORT (on 127.0.0.1), HOST:PORT or localhost:PORT.
    #[arg(long, default_value = "127.0.0.1:8080", value_parser = parse_addr)]
    pub addr: SocketAddr,
    /// Seed operations from a JSON file (an array of Operations or task specs).
    #[arg(long)]
    pub seed: Option<PathBuf>,
    /// Create this many demo tasks.
    #[arg(long, default_value_t = 0)]
    pub demo_tasks: usize,
    /// Project of the demo tasks.
    #[arg(long = "demo-project", default_value = "eeops-demo")]
    pub demo_project: String,
    /// Answer every cancel with UNIMPLEMENTED (HTTP 501).
    #[arg(long)]
    pub cancel_unsupported: bool,
    /// Probability that an accepted cancel is ignored and the task succeeds anyway.
    #[arg(long, default_value_t = 0.0)]
    pub complete_despite_cancel: f64,
    /// Latency added to every call (e.g. 50ms).
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub latency: Duration,
    /// Probability of answering UNAVAILABLE (HTTP 503).
    #[arg(long, default_value_t = 0.0)]
    pub unavailable_rate: f64,
    /// Inject some UNAVAILABLE answers after the call's effect was applied.
    #[arg(long)]
    pub unavailable_after_apply: bool,
    /// How often emulated time advances.
    #[arg(long, value_parser = parse_duration, default_value = "100ms")]
    pub tick: Duration,
    /// Simulated work per unit of time (2.0 runs tasks twice as fast).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Emulated time a cancelled task spends in CANCELLING.
    #[arg(long, value_parser = parse_duration, default_value = "500ms")]
    pub cancel_delay: Duration,
    /// Longest wait a WaitOperation may ask for.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub max_wait: Duration,
    /// Random seed.
    #[arg(long, default_value_t = 0x00ee_0b5e_ed00)]
    pub rng_seed: u64,
}

impl EmulatorArgs {
    /// The emulator configuration these flags describe.
    pub fn config(&self) -> EmulatorConfig {
        EmulatorConfig::default()
            .with_cancel_unsupported(self.cancel_unsupported)
            .with_complete_despite_cancel(self.complete_despite_cancel)
            .with_latency(self.latency)
            .with_unavailable_rate(self.unavailable_rate)
            .with_unavailable_after_apply(self.unavailable_after_apply)
            .with_tick(self.tick)
            .with_progress_per_tick(self.speed)
            .with_max_wait(self.max_wait)
            .with_cancel_delay(self.cancel_delay)
            .with_rng_seed(self.rng_seed)
    }
}

/// Parses `--addr`: `PORT` (on 127.0.0.1), `HOST:PORT` with an IP address, or
/// `localhost:PORT`.
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    if let Ok(port) = t.parse::<u16>() {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    if let Ok(addr) = t.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let expected = "expected PORT, HOST:PORT or localhost:PORT (e.g. 8080, 127.0.0.1:8080, \
                    localhost:8080, [::1]:8080)";
    match t.rsplit_once(':') {
        Some((host, port)) if host.eq_ignore_ascii_case("localhost") => port
            .parse::<u16>()
            .map(|p| SocketAddr::from((Ipv4Addr::LOCALHOST, p)))
            .map_err(|_| format!("invalid port `{}`: {expected}", clean(port))),
        _ => Err(format!("invalid address `{}`: {expected}", clean(t))),
    }
}

fn print_json(v: &serde_json::Value) {
    outln!("{v}");
}

/// The one line `-o json` prints on stdout for a name whose call failed (the human message
/// goes to stderr as well).
fn json_error(name: &str, e: &eeops::Error) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "result": "error",
        "code": e.code().map(|c| c.as_str_name()),
        "message": e.message(),
    })
}

/// Reports a failed call on `name`: `error: NAME: message` on stderr, and with `-o json` the
/// error object on stdout.
fn report_error(g: &Global, name: &str, e: &eeops::Error, verb: Option<&str>) {
    if g.output == OutputFormat::Json {
        print_json(&json_error(name, e));
    }
    errln!("error: {}: {}", clean(name), describe(e, verb));
}

/// Whether `--all` is meant: the flag, or the name `all` alone (an Earth Engine task id is
/// never `all`). Names beside it are refused.
fn wants_all(verb: &str, names: &[String], all: bool) -> Result<bool, Failure> {
    let named_all = names.iter().any(|n| n == "all");
    match (all, named_all, names.len()) {
        (true, _, 0) => Ok(true),
        (true, _, _) => Err(Failure::usage(format!(
            "{verb} --all takes no names; give either names or --all"
        ))),
        (false, true, 1) => Ok(true),
        (false, true, _) => Err(Failure::usage(format!(
            "`all` means every operation: give either `{verb} all` or names, not both"
        ))),
        (false, false, 0) => Err(Failure::usage(format!(
            "{verb} needs operation names, or --all (or the name `all`)"
        ))),
        (false, false, _) => Ok(false),
    }
}

/// Refuses flags that only mean something with `--all`, naming the first one given.
fn only_with_all(verb: &str, flags: &[(&str, bool)]) -> Result<(), Failure> {
    match flags.iter().find(|(_, given)| *given) {
        Some((flag, _)) => Err(Failure::usage(format!(
            "{flag} applies only to `{verb} --all` (or `{verb} all`); with names it would be \
             ignored, so nothing was done"
        ))),
        None => Ok(()),
    }
}

/// Keeps the states `verb --all` can act on; with none given, all of `allowed`.
fn states_for_all(verb: &str, selection: &mut Selection, allowed: &[State]) -> Result<(), Failure> {
    if selection.states.is_empty() {
        selection.states = allowed.to_vec();
        return Ok(());
    }
    if let Some(s) = selection.states.iter().find(|s| !allowed.contains(s)) {
        let names: Vec<&str> = allowed.iter().map(|s| s.as_str_name()).collect();
        return Err(Failure::usage(format!(
            "--state {}: `{verb} --all` acts on unfinished operations only ({})",
            s.as_str_name(),
            names.join(", ")
        )));
    }
    Ok(())
}

fn project_collection(g: &Global, c: &Client) -> Result<String, Failure> {
    match g.project.as_deref().or(c.project()) {
        Some(p) => Ok(format!("projects/{p}")),
        None => Err(Failure::usage(
            "no project: pass --project or set EARTHENGINE_PROJECT (or GOOGLE_CLOUD_PROJECT)",
        )),
    }
}

/// Every operation of the collection that `keep` selects, in one list (pages of 500).
async fn list_selected(
    g: &Global,
    c: &Client,
    collection: &str,
    keep: impl Fn(&Operation) -> bool,
) -> Result<Vec<Operation>, Failure> {
    let spinner = ProgressBar::new_spinner().with_message(format!("listing {collection}"));
    spinner.enable_steady_tick(Duration::from_millis(120));
    let listed = c
        .list_with(collection, ListOptions::default().with_page_size(500))
        .try_filter(|op| futures::future::ready(keep(op)))
        .try_collect()
        .await;
    spinner.finish_and_clear();
    listed.map_err(|e| {
        if g.output == OutputFormat::Json {
            print_json(&json_error(collection, &e));
        }
        Failure::from(e)
    })
}

/// `list`.
pub async fn list(g: &Global, a: ListArgs) -> Result<u8, Failure> {
    let selection = Selection::parse(&a.state, &a.task_type)?;
    let c = client(g).await?;
    let collection = project_collection(g, &c)?;
    let mut options = ListOptions::default().with_page_size(500);
    if let Some(f) = a.filter.as_deref().filter(|f| !f.trim().is_empty()) {
        options = options.with_filter(f.trim());
    }
    let limit = a.limit.unwrap_or(usize::MAX);
    let mut stream = c
        .list_with(&collection, options)
        .try_filter(|op| futures::future::ready(selection.matches(op)))
        .take(limit);
    let mut ops = Vec::new();
    while let Some(op) = stream.next().await {
        let op = match op {
            Ok(op) => op,
            Err(e) => {
                if g.output == OutputFormat::Json {
                    print_json(&json_error(&collection, &e));
                }
                return Err(e.into());
            }
        };
        if g.output == OutputFormat::Json {
            // Stream JSON lines as pages arrive.
            print_json(&operation_json(&op));
        } else {
            ops.push(op);
        }
    }
    if g.output == OutputFormat::Table {
        if ops.is_empty() {
            let what = selection.describe();
            if what.is_empty() {
                errln!("no operations in {collection}");
            } else {
                errln!("no operations in {collection} ({what})");
            }
        } else {
            out!("{}", output::table(&ops, a.long));
        }
    }
    Ok(exit::OK)
}

/// Resolves every name before any call is made, so a bad one stops the command early.
fn resolve_all(c: &Client, names: &[String]) -> Result<Vec<String>, Failure> {
    names
        .iter()
        .map(|n| {
            c.operation_name(n).map_err(|e| Failure {
                code: exit_code(&e),
                message: describe(&e, None),
            })
        })
        .collect()
}

/// `get` (also `info`, `describe`).
pub async fn get(g: &Global, a: NamesArgs) -> Result<u8, Failure> {
    let c = client(g).await?;
    let names = resolve_all(&c, &a.names)?;
    let mut code = exit::OK;
    let mut shown = 0;
    for name in &names {
        match c.get(name).await {
            Ok(op) => match g.output {
                OutputFormat::Json => print_json(&operation_json(&op)),
                OutputFormat::Table => {
                    if shown > 0 {
                        outln!();
                    }
                    shown += 1;
                    out!("{}", output::details(&op));
                }
            },
            Err(e) => {
                report_error(g, name, &e, None);
                code = code.max(exit_code(&e));
            }
        }
    }
    Ok(code)
}

/// `delete`.
pub async fn delete(g: &Global, a: NamesArgs) -> Result<u8, Failure> {
    let c = client(g).await?;
    let names = resolve_all(&c, &a.names)?;
    let mut code = exit::OK;
    for name in &names {
        match c.delete(name).await {
            Ok(()) => match g.output {
                OutputFormat::Json => {
                    print_json(&serde_json::json!({"name": name, "result": "deleted"}))
                }
                OutputFormat::Table => outln!("deleted: {}", clean(name)),
            },
            Err(e) => {
                report_error(g, name, &e, None);
                code = code.max(exit_code(&e));
            }
        }
    }
    Ok(code)
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

async fn cancel_all(
    g: &Global,
    c: &Client,
    a: &CancelArgs,
    selection: &Selection,
) -> Result<u8, Failure> {
    let collection = project_collection(g, c)?;
    let ops = list_selected(g, c, &collection, |op| !op.done && selection.matches(op)).await?;
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
    let mut counts = std::collections::BTreeMap::new();
    let mut code = exit::OK;
    for (_, name, (r, op, e)) in &results {
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
    Ok(code)
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

fn bar_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// The message of a wait bar: state and current stage (escaped).
fn wait_message(op: &Operation) -> String {
    let mut m = state_label(op);
    if let Some(md) = op.metadata()
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
        let ops = list_selected(g, &c, &collection, |op| !op.done && selection.matches(op)).await?;
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
    while let Some((name, result)) = results.next().await {
        match result {
            Ok(op) => {
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
    Ok(code)
}

/// `emulator`.
pub async fn emulator(a: EmulatorArgs) -> Result<u8, Failure> {
    let mut options = RunOptions::default()
        .with_addr(a.addr)
        .with_demo_tasks(a.demo_tasks)
        .with_project(a.demo_project.clone());
    if let Some(seed) = &a.seed {
        options = options.with_seed(seed.clone());
    }
    emulator::run(a.config(), options).await.map_err(|e| {
        let bind = e.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::AddrInUse
                    | std::io::ErrorKind::AddrNotAvailable
                    | std::io::ErrorKind::PermissionDenied
            )
        });
        Failure {
            code: exit::CONNECTION,
            message: if bind {
                format!(
                    "emulator: cannot listen on {}: {e}\n  hint: pick another with --addr \
                     (e.g. --addr 8081, or --addr 0 for any free port)",
                    a.addr
                )
            } else {
                format!("emulator: {e}")
            },
        }
    })?;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let ok = |t: &str| parse_addr(t).unwrap().to_string();
        assert_eq!(ok("8080"), "127.0.0.1:8080");
        assert_eq!(ok("localhost:9000"), "127.0.0.1:9000");
        assert_eq!(ok("0.0.0.0:80"), "0.0.0.0:80");
        assert_eq!(ok("[::1]:8080"), "[::1]:8080");
        for bad in ["", "host:80", "localhost:http", "99999", "1.2.3.4"] {
            assert!(parse_addr(bad).is_err(), "{bad}");
        }
    }
}
