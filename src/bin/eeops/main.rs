//! `eeops`: Earth Engine tasks (Google long-running operations) from the command line.
//!
//! The same verbs as `earthengine task list / info / cancel / wait`, over REST or gRPC, with
//! bulk cancel, progress bars, JSON output, a local emulator and a demo that needs no account.

/// Prints to stdout like `print!`; a closed stdout (the reader of a pipe left) ends the
/// program quietly with exit code 0.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!($($arg)*))
    };
}

/// Prints a line to stdout like `println!`; see [`out!`].
macro_rules! outln {
    () => {
        $crate::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Prints a line to stderr like `eprintln!`, but never panics when stderr is closed.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::write_stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod bulk;
mod cancel;
mod commands;
mod demo;
mod output;
mod select;
mod wait;

use std::process::ExitCode;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{
    Arg, ArgMatches, Args, CommandFactory as _, FromArgMatches as _, Parser, Subcommand, ValueEnum,
};
use eeops::Error;
use eeops::client::{Client, ClientBuilder, Transport};
use eeops::pb::google::rpc::Code;
use eeops::server::emulator::parse_duration;

/// Exit codes: what a script can rely on, the same on both transports.
///
/// | code | class | e.g. |
/// |---|---|---|
/// | 0 | everything asked for succeeded | (also: stdout closed by its reader) |
/// | 1 | an operation-level failure | NOT_FOUND, cancel UNIMPLEMENTED, a task that failed or was cancelled, FAILED_PRECONDITION |
/// | 2 | bad usage, refused before or by the server | unknown flag, `--type` without `--all`, a refused name or state, a missing project, INVALID_ARGUMENT (a refused filter) |
/// | 3 | credentials, connection or time | connection refused, TLS, UNAVAILABLE (HTTP 503), a proxy's HTML 5xx page, a timeout, UNAUTHENTICATED, PERMISSION_DENIED |
pub mod exit {
    /// Everything asked for succeeded.
    pub const OK: u8 = 0;
    /// An operation-level failure: not found, cancel unsupported, an operation that failed.
    pub const FAILURE: u8 = 1;
    /// Bad usage: unknown flags, a refused operation name, state or filter, a missing project.
    pub const USAGE: u8 = 2;
    /// Credentials, connection or timeout problems.
    pub const CONNECTION: u8 = 3;
}

#[derive(Parser, Debug)]
#[command(
    name = "eeops",
    version,
    about = "Cancel, watch, list and clean up Earth Engine tasks (Google long-running operations)",
    long_about = "Cancel, watch, list and clean up Earth Engine tasks (Google long-running \
                  operations), over REST or gRPC.\n\nNames are full operation names \
                  (projects/{project}/operations/{id}) or bare task ids, which take --project.\n\
                  Set EEOPS_EMULATOR_HOST=host:port to point every command at a local emulator \
                  (`eeops emulator`); `eeops demo` runs one in-process.\n\n\
                  Exit codes: 0 success, 1 an operation-level failure (not found, cancel \
                  unsupported, a failed task), 2 usage (also a name, state or filter refused), 3 \
                  credentials, connection or timeout.\n\n\
                  With -o json, each failed name prints one line {\"name\", \"result\": \"error\", \
                  \"code\", \"message\"} on stdout, and the message on stderr."
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every command that talks to a service takes.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// The service's base URL (default: Earth Engine's, or the emulator named by
    /// EEOPS_EMULATOR_HOST).
    #[arg(long, global = true, env = "EEOPS_ENDPOINT")]
    pub endpoint: Option<String>,
    /// The project for bare task ids and for listing (default: EARTHENGINE_PROJECT, then
    /// GOOGLE_CLOUD_PROJECT).
    #[arg(long, global = true)]
    pub project: Option<String>,
    /// REST (JSON over HTTP) or gRPC.
    #[arg(long, global = true, value_enum)]
    pub transport: Option<TransportArg>,
    /// The Earth Engine API version whose REST paths are used.
    #[arg(long, global = true, value_enum, default_value = "v1")]
    pub api_version: ApiVersion,
    /// Output: a table for people, or one JSON object per line for scripts.
    #[arg(long, short = 'o', global = true, value_enum, default_value = "table")]
    pub output: OutputFormat,
    /// Limit of one call (e.g. 30s); for wait and cancel --confirm, the whole wait.
    #[arg(long, global = true, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Quota project sent as x-goog-user-project.
    #[arg(long, global = true)]
    pub quota_project: Option<String>,
    /// More logs on stderr: -v one line per call (transport, RPC, HTTP method and path,
    /// status, latency, attempt), -vv also the request headers (credentials redacted).
    /// RUST_LOG, when set, replaces both.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// `--transport`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportArg {
    /// JSON over HTTP with gRPC transcoding.
    Rest,
    /// gRPC over HTTP/2.
    Grpc,
}

/// `--api-version`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// v1
    V1,
    /// v1beta
    V1beta,
    /// v1alpha
    V1alpha,
}

impl ApiVersion {
    fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1",
            ApiVersion::V1beta => "v1beta",
            ApiVersion::V1alpha => "v1alpha",
        }
    }
}

/// `--output`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// A table (list) or a readable summary (get, cancel, wait).
    Table,
    /// One JSON object per line.
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the operations of a project.
    List(commands::ListArgs),
    /// Show operations with their metadata and outcome (also: info, describe).
    Get(commands::NamesArgs),
    /// Show operations with their metadata and outcome (as `get`).
    #[command(hide = true)]
    Info(commands::NamesArgs),
    /// Show operations with their metadata and outcome (as `get`).
    #[command(hide = true)]
    Describe(commands::NamesArgs),
    /// Cancel operations (best effort; a cancelled operation ends done with error code 1).
    Cancel(cancel::CancelArgs),
    /// Wait for operations to finish, with a progress bar each.
    Wait(wait::WaitArgs),
    /// Delete operations' records (deleting does not cancel: the work goes on).
    Delete(commands::NamesArgs),
    /// Run the local Earth Engine emulator (gRPC and REST on one port).
    Emulator(Box<commands::EmulatorArgs>),
    /// Run the emulator in-process and show eeops at work: list, cancel over REST and gRPC,
    /// wait. Needs no account.
    Demo(demo::DemoArgs),
    /// Print a shell completion script (e.g. `eeops completions bash > ~/.local/share/bash-completion/completions/eeops`).
    Completions(CompletionsArgs),
    /// Print the manual page (roff; e.g. `eeops man > eeops.1 && man ./eeops.1`).
    Man,
}

/// `completions`.
#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// The global options that only the commands talking to a service use, by id and long name
/// (with the short one, if any). `emulator`, `demo`, `completions` and `man` refuse them and do
/// not list them in their help.
const CLIENT_OPTIONS: &[(&str, &str, Option<char>)] = &[
    ("endpoint", "endpoint", None),
    ("project", "project", None),
    ("transport", "transport", None),
    ("api_version", "api-version", None),
    ("output", "output", Some('o')),
    ("timeout", "timeout", None),
    ("quota_project", "quota-project", None),
];

/// Subcommands that do not talk to a service through the global options.
const LOCAL_COMMANDS: &[&str] = &["emulator", "demo", "completions", "man"];

/// The whole command line: the derived one, with the client options taken out of the help of
/// the commands they do not apply to (given there anyway, they are refused, naming the flag).
pub fn command() -> clap::Command {
    let mut cmd = Cli::command();
    for &sub in LOCAL_COMMANDS {
        cmd = cmd.mut_subcommand(sub, |mut sc| {
            for &(id, long, short) in CLIENT_OPTIONS {
                let message = format!("--{long} does not apply to `eeops {sub}`");
                let mut arg = Arg::new(id).long(long).hide(true).num_args(1).value_parser(
                    move |_: &str| -> Result<String, String> { Err(message.clone()) },
                );
                if let Some(c) = short {
                    arg = arg.short(c);
                }
                sc = sc.arg(arg);
            }
            sc
        });
    }
    cmd
}

/// A client option given before a local subcommand (`eeops --project p emulator`), which it
/// would ignore.
fn misplaced_option(matches: &ArgMatches) -> Option<String> {
    let (sub, _) = matches.subcommand()?;
    if !LOCAL_COMMANDS.contains(&sub) {
        return None;
    }
    CLIENT_OPTIONS.iter().find_map(|&(id, long, _)| {
        (matches.value_source(id) == Some(ValueSource::CommandLine))
            .then(|| format!("--{long} does not apply to `eeops {sub}`"))
    })
}

/// A failure of a whole command, with its exit code.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub code: u8,
    /// What to print (already with its hint).
    pub message: String,
}

impl Failure {
    /// A usage failure.
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: exit::USAGE,
            message: message.into(),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure {
            code: exit_code(&e),
            message: describe(&e, None),
        }
    }
}

/// The exit code an error stands for.
pub fn exit_code(e: &Error) -> u8 {
    if e.is_invalid_request()
        || e.kind() == eeops::ErrorKind::Config
        || e.code() == Some(Code::InvalidArgument)
    {
        return exit::USAGE;
    }
    // A proxy's or load balancer's error page (HTML 502/503/504, or any 5xx that is not the
    // service's own JSON) means the service could not be reached, as UNAVAILABLE does.
    let proxy_page = (e.is_decode() && matches!(e.http_status(), Some(500..=599)))
        || grpc_answered_by_http_5xx(e);
    if e.is_auth()
        || e.is_transport()
        || e.is_timeout()
        || proxy_page
        || e.code() == Some(Code::Unavailable)
    {
        return exit::CONNECTION;
    }
    exit::FAILURE
}

/// Over gRPC, tonic reports an HTTP 5xx answer that is not gRPC (a proxy's HTML page) as
/// INTERNAL or UNKNOWN "... while receiving response with status: 502 Bad Gateway"; gRPC's
/// HTTP-to-status mapping makes 502/503/504 UNAVAILABLE, and any 5xx page means the service
/// was not reached.
fn grpc_answered_by_http_5xx(e: &Error) -> bool {
    matches!(e.code(), Some(Code::Internal | Code::Unknown))
        && e.message()
            .split("response with status: ")
            .nth(1)
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse::<u16>().ok())
            .is_some_and(|code| (500..=599).contains(&code))
}

/// An option given on the command line that the rest of it would make meaningless.
fn ignored_option(cli: &Cli, matches: &ArgMatches) -> Option<String> {
    let grpc = match cli.global.transport {
        Some(t) => t == TransportArg::Grpc,
        None => {
            std::env::var("EEOPS_TRANSPORT").is_ok_and(|t| t.trim().eq_ignore_ascii_case("grpc"))
        }
    };
    if grpc && matches.value_source("api_version") == Some(ValueSource::CommandLine) {
        return Some(
            "--api-version chooses REST paths; gRPC has none (use --transport rest)".into(),
        );
    }
    if let Command::List(a) = &cli.command
        && a.long
        && cli.global.output == OutputFormat::Json
    {
        return Some("--long adds table columns; -o json already has every field".into());
    }
    None
}

/// The error, its code, and a hint at what to do; `verb` names the call for the hints that
/// depend on it (`cancel`).
pub fn describe(e: &Error, verb: Option<&str>) -> String {
    let hint = match e.code() {
        Some(Code::Unimplemented) if verb == Some("cancel") => {
            Some("this server does not support cancel")
        }
        Some(Code::Unimplemented) => Some("this server does not implement the call"),
        Some(Code::NotFound) => Some(
            "no such operation: check the name and --project (finished tasks may have been deleted)",
        ),
        Some(Code::PermissionDenied) | Some(Code::Unauthenticated) => Some(
            "check the credentials (gcloud auth application-default login) and --quota-project",
        ),
        Some(Code::Unavailable) => Some("the service is unavailable; try again later"),
        // The library's "nothing found" message already says what to run.
        _ if e.is_auth() && !e.message().contains("earthengine authenticate") => Some(
            "check the credentials (`gcloud auth application-default login` or `earthengine \
             authenticate`), or point at an emulator with EEOPS_EMULATOR_HOST",
        ),
        _ if e.is_transport() => Some(
            "cannot reach the endpoint: check --endpoint (for a local emulator: `eeops emulator`)",
        ),
        _ if e.is_timeout() => Some("raise --timeout to wait longer"),
        _ => None,
    };
    let text = output::clean(&e.to_string()).into_owned();
    match hint {
        Some(h) => format!("{text}\n  hint: {h}"),
        None => text,
    }
}

/// Builds the client the global options describe.
pub async fn client(global: &Global) -> Result<Client, Failure> {
    let mut b = ClientBuilder::from_env().api_version(global.api_version.as_str());
    if let Some(endpoint) = &global.endpoint {
        b = b.endpoint(endpoint.clone());
    }
    if let Some(project) = &global.project {
        b = b.project(project.clone());
    }
    if let Some(t) = global.transport {
        b = b.transport(match t {
            TransportArg::Rest => Transport::Rest,
            TransportArg::Grpc => Transport::Grpc,
        });
    }
    if let Some(q) = &global.quota_project {
        b = b.quota_project(q.clone());
    }
    if let Some(t) = global.timeout {
        b = b.timeout(t);
    }
    b = b.user_agent(concat!("eeops-cli/", env!("CARGO_PKG_VERSION")));
    Ok(b.build().await?)
}

/// Logs on stderr: `RUST_LOG` when set; else `-v` shows eeops' DEBUG events (one line per
/// call, target `eeops::call`) and `-vv` its TRACE events (headers, credentials redacted),
/// with other crates (h2, hyper, tonic, reqwest...) at WARN either way. No colour unless
/// stderr is a terminal (and `NO_COLOR` is unset).
fn init_logging(verbose: u8) {
    use std::io::IsTerminal as _;
    use tracing_subscriber::EnvFilter;

    let from_verbosity = match verbose {
        0 => None,
        1 => Some("warn,eeops=debug"),
        _ => Some("warn,eeops=trace"),
    };
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => match EnvFilter::try_new(&directives) {
            Ok(f) => f,
            Err(e) => {
                eprintln!(
                    "warning: RUST_LOG `{}` ignored: {e}",
                    directives.escape_debug()
                );
                EnvFilter::new(from_verbosity.unwrap_or("warn"))
            }
        },
        _ => match from_verbosity {
            Some(f) => EnvFilter::new(f),
            None => return,
        },
    };
    let ansi = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

fn usage_error(e: &clap::Error) -> ExitCode {
    if let Err(io) = e.print()
        && io.kind() == std::io::ErrorKind::BrokenPipe
    {
        return ExitCode::from(exit::OK);
    }
    ExitCode::from(if e.use_stderr() {
        exit::USAGE
    } else {
        exit::OK
    })
}

fn main() -> ExitCode {
    let mut cmd = command();
    let matches = match cmd.try_get_matches_from_mut(std::env::args_os()) {
        Ok(m) => m,
        Err(e) => return usage_error(&e),
    };
    if let Some(message) = misplaced_option(&matches) {
        let e = cmd.error(clap::error::ErrorKind::ArgumentConflict, message);
        return usage_error(&e);
    }
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e.format(&mut cmd)),
    };
    if let Some(message) = ignored_option(&cli, &matches) {
        let e = cmd.error(clap::error::ErrorKind::ArgumentConflict, message);
        return usage_error(&e);
    }
    init_logging(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            errln!("error: cannot start the runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let result = runtime.block_on(async move {
        let g = &cli.global;
        match cli.command {
            Command::List(a) => commands::list(g, a).await,
            Command::Get(a) | Command::Info(a) | Command::Describe(a) => commands::get(g, a).await,
            Command::Cancel(a) => cancel::cancel(g, a).await,
            Command::Wait(a) => wait::wait(g, a).await,
            Command::Delete(a) => commands::delete(g, a).await,
            Command::Emulator(a) => commands::emulator(*a).await,
            Command::Demo(a) => demo::run(a).await,
            Command::Completions(a) => {
                let mut script = Vec::new();
                clap_complete::generate(a.shell, &mut command(), "eeops", &mut script);
                out!("{}", String::from_utf8_lossy(&script));
                Ok(exit::OK)
            }
            Command::Man => {
                let mut page = Vec::new();
                clap_mangen::Man::new(command())
                    .render(&mut page)
                    .map_err(|e| Failure {
                        code: exit::FAILURE,
                        message: format!("cannot render the manual page: {e}"),
                    })?;
                out!("{}", String::from_utf8_lossy(&page));
                Ok(exit::OK)
            }
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            errln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
