//! The subcommands.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use eeops::client::{CancelOutcome, Client, ListOptions, OperationExt, WaitOptions};
use eeops::pb::google::longrunning::Operation;
use eeops::server::emulator::{self, EmulatorConfig, RunOptions, parse_duration};
use futures::{StreamExt as _, TryStreamExt as _};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::output::{self, operation_json, outcome_label, state_label, task_id};
use crate::{Failure, Global, OutputFormat, client, describe, exit, exit_code};

/// `list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only operations in this state (PENDING, RUNNING, CANCELLING, SUCCEEDED, CANCELLED, FAILED).
    #[arg(long)]
    pub state: Option<String>,
    /// Only operations of this type (EXPORT_IMAGE, EXPORT_FEATURES, INGEST_IMAGE, ...).
    #[arg(long = "type")]
    pub task_type: Option<String>,
    /// A raw list filter, ANDed with --state and --type.
    #[arg(long)]
    pub filter: Option<String>,
    /// Show at most this many.
    #[arg(long)]
    pub limit: Option<usize>,
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
    /// Operation names or bare task ids.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub names: Vec<String>,
    /// Wait for each outcome: cancelled, completed anyway, failed, or still running.
    #[arg(long)]
    pub confirm: bool,
    /// Cancel every unfinished operation of the project that matches --state and --type.
    #[arg(long)]
    pub all: bool,
    /// With --all: only this state (RUNNING or PENDING; default both).
    #[arg(long, requires = "all")]
    pub state: Option<String>,
    /// With --all: only this type.
    #[arg(long = "type", requires = "all")]
    pub task_type: Option<String>,
    /// With --all: do not ask before cancelling.
    #[arg(long, short = 'y', requires = "all")]
    pub yes: bool,
    /// How many cancels run at once.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
}

/// `emulator`.
#[derive(Args, Debug)]
pub struct EmulatorArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Seed operations from a JSON file (an array of Operations or task specs).
    #[arg(long)]
    pub seed: Option<PathBuf>,
    /// Create this many demo tasks (at most 10,000,000).
    #[arg(long, default_value_t = 0, value_parser = emulator::parse_task_count)]
    pub demo_tasks: usize,
    /// Project of the demo tasks.
    #[arg(long = "demo-project", default_value = "eeops-demo")]
    pub demo_project: String,
    /// Answer every cancel with UNIMPLEMENTED (HTTP 501).
    #[arg(long)]
    pub cancel_unsupported: bool,
    /// Probability that an accepted cancel is ignored and the task succeeds anyway.
    #[arg(long, default_value_t = 0.0, value_parser = emulator::parse_probability)]
    pub complete_despite_cancel: f64,
    /// Latency added to every call (e.g. 50ms).
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub latency: Duration,
    /// Probability of answering UNAVAILABLE (HTTP 503).
    #[arg(long, default_value_t = 0.0, value_parser = emulator::parse_probability)]
    pub unavailable_rate: f64,
    /// Inject some UNAVAILABLE answers after the call's effect was applied.
    #[arg(long)]
    pub unavailable_after_apply: bool,
    /// Shortest time between two wake-ups of the task that ends operations while a wait is
    /// in flight (an idle emulator does not wake at all).
    #[arg(long, value_parser = parse_duration, default_value = "100ms")]
    pub tick: Duration,
    /// Simulated work per unit of time (2.0 runs tasks twice as fast).
    #[arg(long, default_value_t = 1.0, value_parser = emulator::parse_speed)]
    pub speed: f64,
    /// Probability that a new task fails its first attempt halfway and is retried (attempt 2).
    #[arg(long, default_value_t = 0.0, value_parser = emulator::parse_probability)]
    pub retry_rate: f64,
    /// Run at most N operations per project at once; the rest stay PENDING for a slot
    /// (highest priority first, then oldest). Off by default.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_running: Option<u32>,
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
            .with_retry_rate(self.retry_rate)
            .with_max_running(self.max_running)
    }
}

fn print_json(v: &serde_json::Value) {
    println!("{v}");
}

/// The filter for --state / --type / --filter, in the `a = b AND c = d` form.
fn build_filter(
    state: Option<&str>,
    task_type: Option<&str>,
    extra: Option<&str>,
) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(s) = state {
        parts.push(format!("metadata.state = {}", s.to_ascii_uppercase()));
    }
    if let Some(t) = task_type {
        parts.push(format!("metadata.type = {}", t.to_ascii_uppercase()));
    }
    if let Some(f) = extra.filter(|f| !f.trim().is_empty()) {
        parts.push(f.trim().to_owned());
    }
    (!parts.is_empty()).then(|| parts.join(" AND "))
}

fn project_collection(g: &Global, c: &Client) -> Result<String, Failure> {
    match g.project.as_deref().or(c.project()) {
        Some(p) => Ok(format!("projects/{p}")),
        None => Err(Failure::usage(
            "no project: pass --project or set EARTHENGINE_PROJECT (or GOOGLE_CLOUD_PROJECT)",
        )),
    }
}

/// `list`.
pub async fn list(g: &Global, a: ListArgs) -> Result<u8, Failure> {
    let c = client(g).await?;
    let collection = project_collection(g, &c)?;
    let mut options = ListOptions::default().with_page_size(500);
    if let Some(f) = build_filter(
        a.state.as_deref(),
        a.task_type.as_deref(),
        a.filter.as_deref(),
    ) {
        options = options.with_filter(f);
    }
    let limit = a.limit.unwrap_or(usize::MAX);
    let mut stream = c.list_with(&collection, options).take(limit);
    let mut ops = Vec::new();
    while let Some(op) = stream.next().await {
        let op = op?;
        if g.output == OutputFormat::Json {
            // Stream JSON lines as pages arrive.
            print_json(&operation_json(&op));
        } else {
            ops.push(op);
        }
    }
    if g.output == OutputFormat::Table {
        if ops.is_empty() {
            eprintln!("no operations in {collection}");
        } else {
            print!("{}", output::table(&ops));
        }
    }
    Ok(exit::OK)
}

/// Resolves every name before any call is made, so a bad one stops the command early.
fn resolve_all(c: &Client, names: &[String]) -> Result<Vec<String>, Failure> {
    names
        .iter()
        .map(|n| c.operation_name(n).map_err(Failure::from))
        .collect()
}

/// `get`.
pub async fn get(g: &Global, a: NamesArgs) -> Result<u8, Failure> {
    let c = client(g).await?;
    let names = resolve_all(&c, &a.names)?;
    let mut code = exit::OK;
    for (i, name) in names.iter().enumerate() {
        match c.get(name).await {
            Ok(op) => match g.output {
                OutputFormat::Json => print_json(&operation_json(&op)),
                OutputFormat::Table => {
                    if i > 0 {
                        println!();
                    }
                    print!("{}", output::details(&op));
                }
            },
            Err(e) => {
                eprintln!("error: {name}: {}", describe(&e, None));
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
        let result = c.delete(name).await;
        report_simple(g, name, "deleted", &result, None);
        if let Err(e) = &result {
            code = code.max(exit_code(e));
        }
    }
    Ok(code)
}

fn report_simple(
    g: &Global,
    name: &str,
    done_word: &str,
    result: &eeops::Result<()>,
    verb: Option<&str>,
) {
    match (g.output, result) {
        (OutputFormat::Json, Ok(())) => {
            print_json(&serde_json::json!({"name": name, "result": done_word}))
        }
        (OutputFormat::Json, Err(e)) => print_json(&serde_json::json!({
            "name": name,
            "result": "error",
            "code": e.code().map(|c| c.as_str_name()),
            "message": e.message(),
        })),
        (OutputFormat::Table, Ok(())) => println!("{done_word}: {name}"),
        (OutputFormat::Table, Err(e)) => eprintln!("error: {name}: {}", describe(e, verb)),
    }
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
}

/// One cancel, confirmed or not: the result, the operation when known, the error when any.
async fn cancel_one(
    c: &Client,
    name: &str,
    confirm: Option<WaitOptions>,
) -> (CancelResult, Option<Operation>, Option<eeops::Error>) {
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
    let mut v = serde_json::json!({"name": name, "result": r.label()});
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

fn confirm_wait(g: &Global) -> WaitOptions {
    WaitOptions::default()
        .with_timeout(g.timeout.unwrap_or(Duration::from_secs(60)))
        .with_poll_interval(Duration::from_millis(250), Duration::from_secs(5))
}

/// `cancel`.
pub async fn cancel(g: &Global, a: CancelArgs) -> Result<u8, Failure> {
    let c = client(g).await?;
    if a.all {
        return cancel_all(g, &c, &a).await;
    }
    let names = resolve_all(&c, &a.names)?;
    let confirm = a.confirm.then(|| confirm_wait(g));
    let mut code = exit::OK;
    for name in &names {
        let (r, op, e) = cancel_one(&c, name, confirm.clone()).await;
        match g.output {
            OutputFormat::Json => print_json(&cancel_json(name, r, op.as_ref(), e.as_ref())),
            OutputFormat::Table => match &e {
                Some(e) => eprintln!("error: {name}: {}", describe(e, Some("cancel"))),
                None => match &op {
                    Some(op) => println!("{}: {name} ({})", r.label(), outcome_label(op)),
                    None => println!("{}: {name}", r.label()),
                },
            },
        }
        if let Some(e) = &e {
            code = code.max(exit_code(e));
        } else if r.is_failure() {
            code = code.max(exit::FAILURE);
        }
    }
    Ok(code)
}

/// States `cancel --all` acts on.
fn cancellable_states(state: Option<&str>) -> Result<Vec<String>, Failure> {
    match state.map(str::to_ascii_uppercase).as_deref() {
        None => Ok(vec!["PENDING".into(), "RUNNING".into()]),
        Some(s @ ("PENDING" | "RUNNING")) => Ok(vec![s.to_owned()]),
        Some(other) => Err(Failure::usage(format!(
            "--state {other}: only PENDING or RUNNING operations can be cancelled"
        ))),
    }
}

async fn cancel_all(g: &Global, c: &Client, a: &CancelArgs) -> Result<u8, Failure> {
    let collection = project_collection(g, c)?;
    let states = cancellable_states(a.state.as_deref())?;
    let task_type = a.task_type.as_ref().map(|t| t.to_ascii_uppercase());
    // The server narrows by `done` and type; the states are checked here as well, since a
    // filter cannot say "PENDING or RUNNING".
    let filter = build_filter(None, task_type.as_deref(), Some("done = false")).unwrap_or_default();
    let spinner = ProgressBar::new_spinner().with_message(format!("listing {collection}"));
    spinner.enable_steady_tick(Duration::from_millis(120));
    let ops: Vec<Operation> = c
        .list_with(
            &collection,
            ListOptions::default()
                .with_filter(filter)
                .with_page_size(500),
        )
        .try_filter(|op| {
            let keep = !op.done
                && states.contains(&state_label(op))
                && task_type
                    .as_ref()
                    .is_none_or(|t| op.metadata().is_some_and(|m| &m.r#type == t));
            futures::future::ready(keep)
        })
        .try_collect()
        .await?;
    spinner.finish_and_clear();
    if ops.is_empty() {
        eprintln!("nothing to cancel in {collection}");
        return Ok(exit::OK);
    }
    let what = format!(
        "{} operation{} ({}{}) in {collection}",
        ops.len(),
        if ops.len() == 1 { "" } else { "s" },
        states.join(" or "),
        task_type
            .as_ref()
            .map(|t| format!(", type {t}"))
            .unwrap_or_default()
    );
    if !a.yes && !ask(&format!("Cancel {what}?"))? {
        eprintln!("nothing cancelled");
        return Ok(exit::OK);
    }
    let names: Vec<String> = ops.into_iter().map(|op| op.name).collect();
    let bar = ProgressBar::new(names.len() as u64)
        .with_style(bar_style("{bar:40.cyan/blue} {pos}/{len} cancelled {msg}"));
    let confirm = a.confirm.then(|| confirm_wait(g));
    let results: Vec<(
        String,
        CancelResult,
        Option<Operation>,
        Option<eeops::Error>,
    )> = futures::stream::iter(names)
        .map(|name| {
            let c = c.clone();
            let confirm = confirm.clone();
            let bar = bar.clone();
            async move {
                let (r, op, e) = cancel_one(&c, &name, confirm).await;
                bar.inc(1);
                if let Some(e) = &e {
                    bar.suspend(|| eprintln!("error: {name}: {}", describe(e, Some("cancel"))));
                }
                (name, r, op, e)
            }
        })
        .buffer_unordered(usize::from(a.concurrency))
        .collect()
        .await;
    bar.finish_and_clear();
    let mut counts = std::collections::BTreeMap::new();
    let mut code = exit::OK;
    for (name, r, op, e) in &results {
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
    eprintln!("{what}: {}", summary.join(", "));
    Ok(code)
}

/// Asks a yes/no question on the terminal; refuses to guess when there is none.
fn ask(question: &str) -> Result<bool, Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "{question} Refusing to act without a terminal to ask on: pass --yes"
        )));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
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

/// The message of a wait bar: state and current stage.
fn wait_message(op: &Operation) -> String {
    let mut m = state_label(op);
    if let Some(md) = op.metadata()
        && let Some(stage) = md
            .stages
            .iter()
            .find(|s| s.complete_work_units < s.total_work_units)
    {
        m.push_str(&format!(" · {}", stage.display_name));
    }
    m
}

/// `wait`.
pub async fn wait(g: &Global, a: NamesArgs) -> Result<u8, Failure> {
    let c = client(g).await?;
    let names = resolve_all(&c, &a.names)?;
    let bars = MultiProgress::new();
    let style = bar_style("{prefix:<26} {bar:30.green/white} {percent:>3}% {msg}");
    let options = WaitOptions::default()
        .with_poll_interval(Duration::from_millis(500), Duration::from_secs(10));
    let options = match g.timeout {
        Some(t) => options.with_timeout(t),
        None => options,
    };
    let tasks = names.iter().map(|name| {
        let bar = bars.add(
            ProgressBar::new(100)
                .with_style(style.clone())
                .with_prefix(task_id(name).to_owned()),
        );
        let c = c.clone();
        let options = options.clone();
        async move {
            let result = c
                .wait_with_progress(name, options, |op| {
                    if let Some(md) = op.metadata() {
                        bar.set_position((md.progress.clamp(0.0, 1.0) * 100.0) as u64);
                    }
                    bar.set_message(wait_message(op));
                })
                .await;
            bar.finish_and_clear();
            (name.clone(), result)
        }
    });
    let results = futures::future::join_all(tasks).await;
    let mut code = exit::OK;
    for (name, result) in results {
        match result {
            Ok(op) => {
                match g.output {
                    OutputFormat::Json => print_json(&operation_json(&op)),
                    OutputFormat::Table => println!("{}: {name}", outcome_label(&op)),
                }
                if op.error().is_some() {
                    code = code.max(exit::FAILURE);
                }
            }
            Err(e) => {
                eprintln!("error: {name}: {}", describe(&e, None));
                code = code.max(exit_code(&e));
            }
        }
    }
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
        // A refused seed or knob is bad usage; anything else (the address) is a connection
        // problem.
        let usage = e.is::<emulator::SeedError>() || e.is::<emulator::ConfigError>();
        Failure {
            code: if usage { exit::USAGE } else { exit::CONNECTION },
            message: format!("emulator: {e}"),
        }
    })?;
    Ok(exit::OK)
}
