//! `eeops emulator`: run the emulator on a socket until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

use super::{Emulator, EmulatorConfig, TaskOutcome, TaskSpec};

/// What [`run`] does besides serving: seeds, demo tasks, where to listen.
///
/// ```
/// use eeops::server::emulator::RunOptions;
/// let opts = RunOptions::default().with_demo_tasks(5);
/// assert_eq!(opts.addr.to_string(), "127.0.0.1:8080");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RunOptions {
    /// Where to listen (default `127.0.0.1:8080`).
    pub addr: SocketAddr,
    /// A seed file (see [`Emulator::seed_file`]).
    pub seed: Option<PathBuf>,
    /// How many demo tasks to create, of assorted types, lengths and outcomes.
    pub demo_tasks: usize,
    /// The project of the demo tasks.
    pub project: String,
    /// How the server treats connections (timeouts, connection cap, TLS); see
    /// [`ServerConfig`](crate::server::ServerConfig) for the defaults.
    pub server: crate::server::ServerConfig,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            seed: None,
            demo_tasks: 0,
            project: "earthengine-legacy".into(),
            server: crate::server::ServerConfig::default(),
        }
    }
}

impl RunOptions {
    /// Sets [`addr`](Self::addr).
    pub fn with_addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Sets [`seed`](Self::seed).
    pub fn with_seed(mut self, path: impl Into<PathBuf>) -> Self {
        self.seed = Some(path.into());
        self
    }

    /// Sets [`demo_tasks`](Self::demo_tasks).
    pub fn with_demo_tasks(mut self, n: usize) -> Self {
        self.demo_tasks = n;
        self
    }

    /// Sets [`project`](Self::project).
    pub fn with_project(mut self, project: impl Into<String>) -> Self {
        self.project = project.into();
        self
    }

    /// Sets [`server`](Self::server).
    pub fn with_server_config(mut self, server: crate::server::ServerConfig) -> Self {
        self.server = server;
        self
    }
}

/// Creates `n` demo tasks in `project`: assorted types and lengths, about one in five failing
/// and one in ten retried once, each with a `scriptUri` and a `destinationUris` entry.
pub fn add_demo_tasks(emulator: &Emulator, project: &str, n: usize, seed: u64) -> Vec<String> {
    const TYPES: &[&str] = &[
        "EXPORT_IMAGE",
        "EXPORT_FEATURES",
        "EXPORT_VIDEO",
        "EXPORT_TILES",
        "INGEST_IMAGE",
        "INGEST_TABLE",
    ];
    let mut rng = StdRng::seed_from_u64(seed);
    emulator.reserve(n);
    (0..n)
        .map(|i| {
            let ty = TYPES[rng.random_range(0..TYPES.len())];
            let file = format!("demo_{}_{}", ty.to_ascii_lowercase(), i + 1);
            let destination = if ty.starts_with("INGEST") {
                format!(
                    "https://code.earthengine.google.com/?asset=projects/{project}/assets/{file}"
                )
            } else {
                format!("https://console.cloud.google.com/storage/browser/eeops-demo/{file}")
            };
            let spec = TaskSpec::default()
                .with_task_type(ty)
                .with_description(format!("demo {} #{}", ty.to_ascii_lowercase(), i + 1))
                .with_script_uri(format!(
                    "https://code.earthengine.google.com/eeops-demo/{:08x}",
                    rng.random::<u32>()
                ))
                .with_destination_uris(vec![destination])
                .with_retries(u32::from(rng.random_bool(0.1)))
                .with_work(Duration::from_secs(rng.random_range(15..300)))
                .with_queue(Duration::from_secs(rng.random_range(0..20)))
                .with_start_running(rng.random_bool(0.5))
                .with_outcome(if rng.random_bool(0.2) {
                    TaskOutcome::Fail
                } else {
                    TaskOutcome::Succeed
                });
            emulator.start_task(project, spec)
        })
        .collect()
}

/// Runs the emulator: seeds it, serves it on `options.addr` over gRPC and REST, prints
/// `eeops emulator listening on http://ADDR (gRPC and REST)` (`https://` with TLS) and then the
/// `export` line that points a shell's commands at it to stdout, and stops cleanly on Ctrl-C.
pub async fn run(
    config: EmulatorConfig,
    options: RunOptions,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let rng_seed = config.rng_seed;
    let emulator = Emulator::try_new(config)?;
    if options.demo_tasks > MAX_DEMO_TASKS {
        return Err(format!(
            "at most {MAX_DEMO_TASKS} demo tasks, not {}",
            options.demo_tasks
        )
        .into());
    }
    // A server outlives its terminal: writes to a closed stdout or stderr (`eeops emulator |
    // head -1`, a reader that went away) are dropped, never a panic.
    use std::io::Write as _;
    let say = |text: std::fmt::Arguments<'_>| {
        let _ = writeln!(std::io::stdout().lock(), "{text}");
    };
    let note = |text: std::fmt::Arguments<'_>| {
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    };
    if let Some(path) = &options.seed {
        let n = emulator.seed_file(path)?;
        note(format_args!(
            "seeded {n} operations from {}",
            path.display()
        ));
    }
    if options.demo_tasks > 0 {
        add_demo_tasks(&emulator, &options.project, options.demo_tasks, rng_seed);
        note(format_args!(
            "created {} demo tasks in projects/{}",
            options.demo_tasks, options.project
        ));
    }
    let tls = options.server.tls.is_some();
    let handle = crate::server::serve_with(emulator, options.addr, options.server).await?;
    say(format_args!(
        "eeops emulator listening on {} (gRPC and REST)",
        handle.url()
    ));
    // As gcloud's emulators do: the line that points a shell's commands at this one. With TLS
    // the endpoint must say https (EEOPS_EMULATOR_HOST means plain text).
    if tls {
        say(format_args!("export EEOPS_ENDPOINT={}", handle.url()));
    } else {
        say(format_args!(
            "export EEOPS_EMULATOR_HOST={}",
            handle.local_addr()
        ));
    }
    tokio::signal::ctrl_c().await?;
    note(format_args!("shutting down"));
    handle.shutdown().await;
    Ok(())
}

/// Parses a duration: `250ms`, `1.5s`, `2m`, `1h`, `30us`, or a plain number of seconds; at
/// most [`MAX_DURATION`](super::MAX_DURATION).
///
/// ```
/// use std::time::Duration;
/// use eeops::server::emulator::parse_duration;
/// assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
/// assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
/// assert!(parse_duration("soon").is_err());
/// assert!(parse_duration("9300000000000000000s").is_err());
/// assert!(parse_duration("NaN").is_err());
/// ```
#[doc(hidden)]
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration `{text}` (e.g. 250ms, 1.5s, 2m)"))?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "ns" => 1e-9,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("unknown duration unit `{other}` in `{text}`")),
    };
    let d = Duration::try_from_secs_f64(n * scale)
        .map_err(|e| format!("invalid duration `{text}`: {e}"))?;
    super::config::check_duration(d).map_err(|e| format!("duration `{text}` {e}"))
}

/// The most demo tasks [`RunOptions::demo_tasks`] may ask for.
pub const MAX_DEMO_TASKS: usize = 10_000_000;

/// Parses a number of demo tasks (a command-line value parser): a whole number up to
/// [`MAX_DEMO_TASKS`].
///
/// ```
/// use eeops::server::emulator::parse_task_count;
/// assert_eq!(parse_task_count("1000000"), Ok(1_000_000));
/// assert!(parse_task_count("-1").is_err());
/// assert!(parse_task_count("100000000000").is_err());
/// ```
#[doc(hidden)]
pub fn parse_task_count(text: &str) -> Result<usize, String> {
    let n: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number"))?;
    if n > MAX_DEMO_TASKS {
        return Err(format!("at most {MAX_DEMO_TASKS} demo tasks, not {n}"));
    }
    Ok(n)
}
