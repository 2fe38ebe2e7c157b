//! eeops-bench: eeops' clients against the raw transports under them, Google's Rust SDK
//! (`google-cloud-longrunning`), bulk cancel with and without a request quota, and the
//! emulator against bare servers, all in one run; and, asked for by name, the Library
//! benchmarks of issue 15 (`--sections library-server,library-client`: eeops' REST server
//! against `rest_over_grpc` 0.3 on the same Library store, eeops' REST client against
//! hand-written reqwest calls; see [`libbench`]). See `BENCHMARKS.md` at the repository root.
//!
//! The servers run in a child process (this same binary, `eeops-bench serve`), so the
//! counting allocator and the peak-memory figures of the driver process are the clients'
//! alone.
//!
//! ```text
//! cargo run --release -p eeops-bench -- [--secs 0.25] [--warmup 0.05] [--rounds 9]
//!     [--bulk-rounds 3]
//!     [--pool 1000] [--bulk 10000] [--bulk-concurrency 16,64,256]
//!     [--concurrency 1,64] [--rate-limit 2000] [--quota-bulk 20000] [--quota-rounds 1]
//!     [--sections latency,servers,bulk,quota,library-server,library-client]
//!     [--library-books 100] [--library-calls N] [--library-servers eeops,rog]
//!     [--library-kinds get,list,notfound] [--library-clients eeops,hand,pbjson]
//! ```
//!
//! Every flag can also be set from the environment: `EEOPS_BENCH_SECS`, `EEOPS_BENCH_WARMUP`,
//! `EEOPS_BENCH_ROUNDS`, `EEOPS_BENCH_BULK_ROUNDS`, `EEOPS_BENCH_POOL`, `EEOPS_BENCH_BULK`,
//! `EEOPS_BENCH_BULK_CONCURRENCY`, `EEOPS_BENCH_CONCURRENCY`, `EEOPS_BENCH_RATE_LIMIT`,
//! `EEOPS_BENCH_QUOTA_BULK`, `EEOPS_BENCH_QUOTA_ROUNDS`, `EEOPS_BENCH_SECTIONS`.

mod alloc;
mod bulk;
mod clients;
mod libbench;
mod library;
mod report;
mod servers;

use std::process::ExitCode;
use std::time::Duration;

/// What to run, from flags and the environment.
#[derive(Debug, Clone)]
pub struct Options {
    /// Measured time of one configuration in one round.
    pub secs: Duration,
    /// Unmeasured calls before each measurement.
    pub warmup: Duration,
    /// Rounds of the latency and server sections; each figure is the median of the rounds.
    pub rounds: usize,
    /// Rounds of the bulk section (each cancels `bulk` operations per configuration).
    pub bulk_rounds: usize,
    /// Operations the latency runs cycle through.
    pub pool: usize,
    /// Operations cancelled by one bulk run.
    pub bulk: usize,
    /// Concurrencies of the bulk runs.
    pub bulk_concurrency: Vec<usize>,
    /// Concurrencies of the latency and server runs.
    pub concurrency: Vec<usize>,
    /// Which sections run: `latency`, `servers`, `bulk`, `quota`.
    pub sections: Vec<String>,
    /// The quota section's emulator rate limit, requests per second per project.
    pub rate_limit: f64,
    /// Operations cancelled by one run of the quota section.
    pub quota_bulk: usize,
    /// Rounds of the quota section.
    pub quota_rounds: usize,
    /// Which clients the bulk section runs (`floor-grpc`, `floor-grpc-pool`, `floor-rest`,
    /// `rest-single`, `rest-batch`, `grpc`), e.g. to count one's instructions.
    pub bulk_clients: Vec<String>,
    /// Which clients the latency section runs (`floor-grpc`, `eeops-grpc`, `floor-rest`,
    /// `eeops-rest`, `google`), e.g. to profile one.
    pub clients: Vec<String>,
    /// Which calls the latency and server sections run: `get`, `cancel`.
    pub ops: Vec<String>,
    /// Which servers the servers section drives (`emulator`, `trivial`, `bare-tonic`,
    /// `bare-axum`, `emulator-untimed`, `emulator-axum`; `emulator/rest` or `emulator/grpc`
    /// for one of its transports), e.g. to count one server's instructions.
    pub servers: Vec<String>,
    /// Books on the Library benchmarks' shelf.
    pub library_books: usize,
    /// Counting mode of the Library sections: exactly this many calls per configuration at
    /// concurrency 1, no timed rounds (for callgrind).
    pub library_calls: Option<usize>,
    /// Which servers the library-server section drives: `eeops`, `rog` (`rest_over_grpc`).
    pub library_servers: Vec<String>,
    /// Which requests the library-server section sends: `get`, `list`, `notfound`.
    pub library_kinds: Vec<String>,
    /// Which clients the library-client section runs: `eeops`, `hand`, `pbjson`.
    pub library_clients: Vec<String>,
}

/// A comma-separated list.
fn words(s: String) -> Vec<String> {
    s.split(',').map(|w| w.trim().to_owned()).collect()
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let get = |flag: &str, env: &str, default: &str| -> String {
            let from_flag = args
                .iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1).cloned());
            from_flag
                .or_else(|| std::env::var(env).ok())
                .unwrap_or_else(|| default.to_owned())
        };
        let secs = |s: String, what: &str| {
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .map(Duration::from_secs_f64)
                .ok_or(format!("{what}: expected seconds, got `{s}`"))
        };
        let count = |s: String, what: &str| {
            s.parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(format!("{what}: expected a positive number, got `{s}`"))
        };
        let list = |s: String, what: &str| -> Result<Vec<usize>, String> {
            s.split(',')
                .map(|p| count(p.trim().to_owned(), what))
                .collect()
        };
        Ok(Options {
            secs: secs(get("--secs", "EEOPS_BENCH_SECS", "0.25"), "--secs")?,
            warmup: secs(get("--warmup", "EEOPS_BENCH_WARMUP", "0.05"), "--warmup")?,
            rounds: count(get("--rounds", "EEOPS_BENCH_ROUNDS", "9"), "--rounds")?,
            bulk_rounds: count(
                get("--bulk-rounds", "EEOPS_BENCH_BULK_ROUNDS", "3"),
                "--bulk-rounds",
            )?,
            pool: count(get("--pool", "EEOPS_BENCH_POOL", "1000"), "--pool")?,
            bulk: count(get("--bulk", "EEOPS_BENCH_BULK", "10000"), "--bulk")?,
            bulk_concurrency: list(
                get(
                    "--bulk-concurrency",
                    "EEOPS_BENCH_BULK_CONCURRENCY",
                    "16,64,256",
                ),
                "--bulk-concurrency",
            )?,
            concurrency: list(
                get("--concurrency", "EEOPS_BENCH_CONCURRENCY", "1,64"),
                "--concurrency",
            )?,
            rate_limit: get("--rate-limit", "EEOPS_BENCH_RATE_LIMIT", "2000")
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r > 0.0)
                .ok_or("--rate-limit: expected a positive number of requests per second")?,
            quota_bulk: count(
                get("--quota-bulk", "EEOPS_BENCH_QUOTA_BULK", "20000"),
                "--quota-bulk",
            )?,
            quota_rounds: count(
                get("--quota-rounds", "EEOPS_BENCH_QUOTA_ROUNDS", "1"),
                "--quota-rounds",
            )?,
            bulk_clients: get(
                "--bulk-clients",
                "EEOPS_BENCH_BULK_CLIENTS",
                "floor-grpc,floor-grpc-pool,floor-rest,rest-single,rest-batch,grpc",
            )
            .split(',')
            .map(|s| s.trim().to_owned())
            .collect(),
            sections: get(
                "--sections",
                "EEOPS_BENCH_SECTIONS",
                "latency,servers,bulk,quota",
            )
            .split(',')
            .map(|s| s.trim().to_owned())
            .collect(),
            clients: get(
                "--clients",
                "EEOPS_BENCH_CLIENTS",
                "floor-grpc,eeops-grpc,floor-rest,eeops-rest,google",
            )
            .split(',')
            .map(|s| s.trim().to_owned())
            .collect(),
            ops: get("--ops", "EEOPS_BENCH_OPS", "get,cancel")
                .split(',')
                .map(|s| s.trim().to_owned())
                .collect(),
            servers: get(
                "--servers",
                "EEOPS_BENCH_SERVERS",
                "emulator,trivial,bare-tonic,bare-axum,emulator-untimed,emulator-axum",
            )
            .split(',')
            .map(|s| s.trim().to_owned())
            .collect(),
            library_books: count(
                get("--library-books", "EEOPS_BENCH_LIBRARY_BOOKS", "100"),
                "--library-books",
            )?,
            library_calls: match get("--library-calls", "EEOPS_BENCH_LIBRARY_CALLS", "") {
                s if s.is_empty() => None,
                s => Some(count(s, "--library-calls")?),
            },
            library_servers: words(get(
                "--library-servers",
                "EEOPS_BENCH_LIBRARY_SERVERS",
                "eeops,rog",
            )),
            library_kinds: words(get(
                "--library-kinds",
                "EEOPS_BENCH_LIBRARY_KINDS",
                "get,list,notfound",
            )),
            library_clients: words(get(
                "--library-clients",
                "EEOPS_BENCH_LIBRARY_CLIENTS",
                "eeops,hand,pbjson",
            )),
        })
    }

    fn runs(&self, section: &str) -> bool {
        self.sections.iter().any(|s| s == section)
    }

    fn runs_client(&self, key: &str) -> bool {
        self.clients.iter().any(|s| s == key)
    }

    fn runs_op(&self, op: &str) -> bool {
        self.ops.iter().any(|s| s == op)
    }

    fn runs_server(&self, key: &str, transport: &str) -> bool {
        self.servers.iter().any(|s| {
            s == key || s.strip_prefix(key).and_then(|t| t.strip_prefix('/')) == Some(transport)
        })
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", HELP);
        return ExitCode::SUCCESS;
    }
    let serve = args.first().is_some_and(|a| a == "serve");
    let serve_library = args.first().is_some_and(|a| a == "serve-library");
    let options = match Options::parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("eeops-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("eeops-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = if serve_library {
        runtime.block_on(libbench::serve_child(options.library_books))
    } else if serve {
        runtime.block_on(servers::serve_child(options.pool, options.rate_limit))
    } else {
        runtime.block_on(report::run(options))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("eeops-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

const HELP: &str =
    "eeops-bench: eeops against raw transports, google-cloud-longrunning and bare servers

USAGE: cargo run --release -p eeops-bench -- [FLAGS]

  --secs S               measured seconds per configuration per round (0.25)
  --warmup S             warm-up seconds before each measurement (0.05)
  --rounds N             rounds of the latency and server runs; figures are medians
                         over rounds (9)
  --bulk-rounds N        rounds of the bulk runs (3)
  --pool N               operations the get/cancel runs cycle through (1000)
  --bulk N               operations per bulk cancel (10000)
  --bulk-concurrency L   concurrencies of bulk cancel (16,64,256)
  --concurrency L        concurrencies of the latency and server runs (1,64)
  --rate-limit R         the quota section's emulator limit, requests/s per project (2000)
  --quota-bulk N         operations per quota run (20000)
  --quota-rounds N       rounds of the quota runs (1)
  --bulk-clients L       floor-grpc,floor-grpc-pool,floor-rest,rest-single,rest-batch,grpc
                         (all; bulk only)
  --sections L           latency,servers,bulk,quota (the default), and
                         library-server,library-client (asked for by name)
  --clients L            floor-grpc,eeops-grpc,floor-rest,eeops-rest,google (all; latency only)
  --ops L                get,cancel (both; latency and servers)
  --servers L            emulator,trivial,bare-tonic,bare-axum,emulator-untimed,
                         emulator-axum
                         (all; servers only); SERVER/rest or SERVER/grpc for one
                         transport of it
  --library-books N      books on the Library benchmarks' shelf (100)
  --library-calls N      Library sections: exactly N calls per configuration at
                         concurrency 1 instead of timed rounds (for callgrind)
  --library-servers L    eeops,rog (both; library-server only)
  --library-kinds L      get,list,notfound (all; library-server only)
  --library-clients L    eeops,hand,pbjson (all; library-client only)

EEOPS_BENCH_SERVER_WRAPPER, if set, is a command the server process is started under
(e.g. `valgrind --tool=callgrind --callgrind-out-file=server.cg`), to count its
instructions.

Each flag may also come from EEOPS_BENCH_<FLAG> (e.g. EEOPS_BENCH_SECS=0.5).";

#[cfg(test)]
mod tests {
    use super::Options;

    fn options(args: &[&str]) -> Options {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        match Options::parse(&args) {
            Ok(o) => o,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn servers_filter_takes_a_server_or_one_of_its_transports() {
        let o = options(&["--servers", "emulator/rest, bare-tonic"]);
        assert!(o.runs_server("emulator", "rest"));
        assert!(!o.runs_server("emulator", "grpc"));
        assert!(o.runs_server("bare-tonic", "grpc"));
        assert!(!o.runs_server("emulator-untimed", "rest"));
        assert!(!o.runs_server("emulator-axum", "rest"));
    }

    #[test]
    fn every_server_runs_by_default() {
        let o = options(&[]);
        for key in [
            "emulator",
            "trivial",
            "bare-tonic",
            "bare-axum",
            "emulator-untimed",
            "emulator-axum",
        ] {
            for transport in ["grpc", "rest"] {
                assert!(o.runs_server(key, transport), "{key}/{transport}");
            }
        }
    }
}
