//! The subcommands `list`, `get`, `delete` and `emulator`, and what `cancel` and `wait` share
//! with them: name resolution, the `--all` rules, JSON errors, listing with a selection.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use eeops::client::{Client, ListOptions, OperationExt as _};
use eeops::pb::google::earthengine::v1::operation_metadata::State;
use eeops::pb::google::longrunning::Operation;
use eeops::server::emulator::{self, EmulatorConfig, RunOptions, parse_duration};
use eeops::server::{ServerConfig, TlsConfig};
use futures::{StreamExt as _, TryStreamExt as _};
use indicatif::{ProgressBar, ProgressStyle};

use crate::output::{self, clean, operation_json};
use crate::select::Selection;
use crate::{Failure, Global, OutputFormat, client, describe, exit, exit_code};

/// The default of `--concurrency`: how many calls run at once.
pub(crate) const CONCURRENCY: u16 = 32;

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

/// `emulator`.
#[derive(Args, Debug)]
pub struct EmulatorArgs {
    /// Address to listen on: PORT (on 127.0.0.1), HOST:PORT or localhost:PORT.
    #[arg(long, default_value = "127.0.0.1:8080", value_parser = parse_addr)]
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
    /// Longest time to receive a request's headers (and a TLS handshake); 0 turns it off.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub header_timeout: Duration,
    /// Longest wait for the next piece of a request body; 0 turns it off.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub body_timeout: Duration,
    /// Close a connection after this long with no request in progress; 0 turns it off.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub idle_timeout: Duration,
    /// Most connections open at once (more wait in the listen backlog).
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Serve TLS with this PEM certificate chain (needs --tls-key).
    #[arg(long, requires = "tls_key", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Requests per second each project may send; over it, calls answer RESOURCE_EXHAUSTED
    /// (HTTP 429) with RetryInfo and QuotaFailure details. Default: no limit.
    #[arg(long, value_parser = parse_rate)]
    pub rate_limit: Option<f64>,
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("invalid rate `{text}`: expected requests per second, e.g. 2000"))?;
    if rate.is_finite() && rate > 0.0 {
        Ok(rate)
    } else {
        Err(format!(
            "invalid rate `{text}`: it must be a positive number"
        ))
    }
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
            .with_rate_limit(self.rate_limit)
    }

    /// The server configuration these flags describe (reads the TLS files, if any).
    pub fn server_config(&self) -> Result<ServerConfig, Failure> {
        let off_if_zero = |d: Duration| (!d.is_zero()).then_some(d);
        let mut config = ServerConfig::default()
            .with_header_timeout(off_if_zero(self.header_timeout))
            .with_body_timeout(off_if_zero(self.body_timeout))
            .with_idle_timeout(off_if_zero(self.idle_timeout))
            .with_max_connections(usize::try_from(self.max_connections).unwrap_or(usize::MAX));
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            let tls = TlsConfig::from_pem_files(cert, key)
                .map_err(|e| Failure::usage(format!("emulator: {e}")))?;
            config = config.with_tls(tls);
        }
        Ok(config)
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

pub(crate) fn print_json(v: &serde_json::Value) {
    outln!("{v}");
}

/// The one line `-o json` prints on stdout for a name whose call failed (the human message
/// goes to stderr as well).
pub(crate) fn json_error(name: &str, e: &eeops::Error) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "result": "error",
        "code": e.code().map(|c| c.as_str_name()),
        "message": e.message(),
    })
}

/// Reports a failed call on `name`: `error: NAME: message` on stderr, and with `-o json` the
/// error object on stdout.
pub(crate) fn report_error(g: &Global, name: &str, e: &eeops::Error, verb: Option<&str>) {
    if g.output == OutputFormat::Json {
        print_json(&json_error(name, e));
    }
    errln!("error: {}: {}", clean(name), describe(e, verb));
}

/// Whether `--all` is meant: the flag, or the name `all` alone (an Earth Engine task id is
/// never `all`). Names beside it are refused.
pub(crate) fn wants_all(verb: &str, names: &[String], all: bool) -> Result<bool, Failure> {
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
pub(crate) fn only_with_all(verb: &str, flags: &[(&str, bool)]) -> Result<(), Failure> {
    match flags.iter().find(|(_, given)| *given) {
        Some((flag, _)) => Err(Failure::usage(format!(
            "{flag} applies only to `{verb} --all` (or `{verb} all`); with names it would be \
             ignored, so nothing was done"
        ))),
        None => Ok(()),
    }
}

/// Keeps the states `verb --all` can act on; with none given, all of `allowed`.
pub(crate) fn states_for_all(
    verb: &str,
    selection: &mut Selection,
    allowed: &[State],
) -> Result<(), Failure> {
    if selection.states.is_empty() {
        selection.states = allowed.to_vec();
        selection.states_defaulted = true;
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

pub(crate) fn project_collection(g: &Global, c: &Client) -> Result<String, Failure> {
    match g.project.as_deref().or(c.project()) {
        Some(p) => Ok(format!("projects/{p}")),
        None => Err(Failure::usage(
            "no project: pass --project or set EARTHENGINE_PROJECT (or GOOGLE_CLOUD_PROJECT)",
        )),
    }
}

/// Every operation of the collection that `keep` selects, in one list (pages of 500).
pub(crate) async fn list_selected(
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

/// The unfinished operations of the collection that `selection` keeps (for `cancel all` and
/// `wait all`). Unverified metadata (gRPC, not eeops' server) proves only "not done": such
/// operations are kept when the selection asks for no more, and refused when it does.
pub(crate) async fn unfinished_selected(
    g: &Global,
    c: &Client,
    collection: &str,
    selection: &Selection,
) -> Result<Vec<Operation>, Failure> {
    let ops = list_selected(g, c, collection, |op| {
        !op.done && (op.metadata_unverified() || selection.matches(op))
    })
    .await?;
    if selection.needs_metadata() && ops.iter().any(|op| op.metadata_unverified()) {
        return Err(selection.unverifiable());
    }
    Ok(ops)
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
        .try_filter(|op| {
            // Unverified metadata (gRPC, not eeops' server) cannot be filtered on: keep it, and
            // refuse below.
            futures::future::ready(op.metadata_unverified() || selection.matches(op))
        })
        .take(limit);
    let mut ops = Vec::new();
    let mut note = None;
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
        if op.metadata_unverified() && selection.needs_metadata() {
            return Err(selection.unverifiable());
        }
        note = note.or(output::unverified_note([&op]));
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
    if let Some(note) = note {
        errln!("note: {note}");
    }
    Ok(exit::OK)
}

/// Resolves every name before any call is made, so a bad one stops the command early.
pub(crate) fn resolve_all(c: &Client, names: &[String]) -> Result<Vec<String>, Failure> {
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
    let results = if names.len() > 1 {
        let bulk = c.get_each_with(&names, crate::bulk::options(usize::from(CONCURRENCY)));
        crate::bulk::run(bulk, names.len(), "read").await
    } else {
        let mut one = Vec::new();
        for name in &names {
            one.push((name.clone(), c.get(name).await));
        }
        one
    };
    for (name, result) in results {
        match result {
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
                report_error(g, &name, &e, None);
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
    let results = if names.len() > 1 {
        let bulk = c.delete_each_with(&names, crate::bulk::options(usize::from(CONCURRENCY)));
        crate::bulk::run(bulk, names.len(), "deleted").await
    } else {
        let mut one = Vec::new();
        for name in &names {
            one.push((name.clone(), c.delete(name).await));
        }
        one
    };
    for (name, result) in results {
        let name = name.as_str();
        match result {
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

pub(crate) fn bar_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// `emulator`.
pub async fn emulator(a: EmulatorArgs) -> Result<u8, Failure> {
    let mut options = RunOptions::default()
        .with_server_config(a.server_config()?)
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
        // A refused seed or knob is bad usage; anything else (the address) is a connection
        // problem.
        let usage = e.is::<emulator::SeedError>() || e.is::<emulator::ConfigError>();
        Failure {
            code: if usage { exit::USAGE } else { exit::CONNECTION },
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
