//! `eeops`: Earth Engine tasks (Google long-running operations) from the command line.
//!
//! The same verbs as `earthengine task list / info / cancel / wait`, over REST or gRPC, with
//! bulk cancel, progress bars, JSON output, a local emulator and a demo that needs no account.

mod bulk;
mod commands;
mod demo;
mod output;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use eeops::Error;
use eeops::client::{Client, ClientBuilder, Transport};
use eeops::pb::google::rpc::Code;
use eeops::server::emulator::parse_duration;

/// Exit codes: what a script can rely on.
pub mod exit {
    /// Everything asked for succeeded.
    pub const OK: u8 = 0;
    /// An operation-level failure: not found, cancel unsupported, an operation that failed.
    pub const FAILURE: u8 = 1;
    /// Bad usage: unknown flags, a refused operation name, a missing project.
    pub const USAGE: u8 = 2;
    /// Credentials or connection problems.
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
                  (`eeops emulator`); `eeops demo` runs one in-process."
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(Args, Debug, Clone)]
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
    /// More logs on stderr (-v debug, -vv trace).
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
    /// Show one operation with its metadata and outcome.
    #[command(alias = "info")]
    Get(commands::NamesArgs),
    /// Cancel operations (best effort; a cancelled operation ends done with error code 1).
    Cancel(commands::CancelArgs),
    /// Wait for operations to finish, with a progress bar each.
    Wait(commands::NamesArgs),
    /// Delete finished operations (deleting does not cancel).
    Delete(commands::NamesArgs),
    /// Run the local Earth Engine emulator (gRPC and REST on one port).
    Emulator(commands::EmulatorArgs),
    /// Run the emulator in-process and show eeops at work: list, cancel over REST and gRPC,
    /// wait. Needs no account.
    Demo(demo::DemoArgs),
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
    if e.is_invalid_request() || e.kind() == eeops::ErrorKind::Config {
        return exit::USAGE;
    }
    if e.is_auth() || e.is_transport() || e.code() == Some(Code::Unavailable) {
        return exit::CONNECTION;
    }
    exit::FAILURE
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
        _ if e.is_auth() => Some(
            "no usable credentials: run `gcloud auth application-default login`, set \
             GOOGLE_APPLICATION_CREDENTIALS, or point at an emulator with EEOPS_EMULATOR_HOST",
        ),
        _ if e.is_transport() => Some(
            "cannot reach the endpoint: check --endpoint (for a local emulator: `eeops emulator`)",
        ),
        _ if e.is_timeout() => Some("raise --timeout to wait longer"),
        _ => None,
    };
    match hint {
        Some(h) => format!("{e}\n  hint: {h}"),
        None => e.to_string(),
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

fn init_logging(verbose: u8) {
    let filter = match verbose {
        0 => return,
        1 => "eeops=debug,info",
        _ => "eeops=trace,debug",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    init_logging(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let result = runtime.block_on(async move {
        let g = &cli.global;
        match cli.command {
            Command::List(a) => commands::list(g, a).await,
            Command::Get(a) => commands::get(g, a).await,
            Command::Cancel(a) => commands::cancel(g, a).await,
            Command::Wait(a) => commands::wait(g, a).await,
            Command::Delete(a) => commands::delete(g, a).await,
            Command::Emulator(a) => commands::emulator(a).await,
            Command::Demo(a) => demo::run(g, a).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
