//! The run: every section, interleaved over rounds, and the Markdown tables.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::Options;
use crate::clients::{Caller, Op, Sample, Who, run_calls};
use crate::servers::{self, Child, POOL};

/// The medians of one configuration over the rounds.
#[derive(Debug, Clone, Copy, Default)]
struct Summary {
    calls_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    allocs_per_call: f64,
    peak_mib: f64,
    errors: usize,
}

pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn summarize(samples: &[Sample]) -> Summary {
    let pick = |f: &dyn Fn(&Sample) -> f64| median(samples.iter().map(f).collect());
    Summary {
        calls_per_sec: pick(&|s| s.calls_per_sec()),
        p50_us: pick(&|s| s.percentile(0.50).as_secs_f64() * 1e6),
        p99_us: pick(&|s| s.percentile(0.99).as_secs_f64() * 1e6),
        allocs_per_call: pick(&|s| s.allocs_per_call()),
        peak_mib: pick(&|s| s.peak_kib.unwrap_or(0) as f64 / 1024.0),
        errors: samples.iter().map(|s| s.errors).sum(),
    }
}

fn note_errors(what: &str, sample: &Sample) {
    if sample.errors > 0 {
        eprintln!(
            "  ! {what}: {} errors (first: {})",
            sample.errors,
            sample.first_error.as_deref().unwrap_or("?")
        );
    }
}

/// Machine facts for the report.
fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let mem = crate::alloc::status_field("/proc/meminfo", "MemTotal:")
        .map(|k| format!("{:.1} GiB", k as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown".into());
    format!("{cores} cores ({model}), {mem} memory")
}

const WHO: [Who; 5] = [
    Who::FloorGrpc,
    Who::EeopsGrpc,
    Who::FloorRest,
    Who::EeopsRest,
    Who::Google,
];

type Key = (u8, usize, u8);

fn key(op: Op, concurrency: usize, index: usize) -> Key {
    (op as u8, concurrency, index as u8)
}

const OPS: [Op; 2] = [Op::Get, Op::Cancel];

pub async fn run(options: Options) -> Result<(), String> {
    let started = Instant::now();
    eprintln!("eeops-bench: {options:?}");
    let needs_child = ["latency", "servers", "bulk", "quota"]
        .iter()
        .any(|s| options.runs(s));
    println!("# eeops-bench\n");
    println!("Machine: {}.  ", machine());
    println!(
        "Settings: {:.2} s measured per configuration and round after {:.2} s of warm-up, \
         {} rounds (figures are medians over rounds; {} for bulk), pool of {} operations, \
         bulk of {}.\n",
        options.secs.as_secs_f64(),
        options.warmup.as_secs_f64(),
        options.rounds,
        options.bulk_rounds,
        options.pool,
        options.bulk
    );
    let mut server_peak = None;
    if needs_child {
        let mut child = Child::start(options.pool, options.rate_limit).await?;
        if options.runs("latency") {
            latency(&options, &child).await?;
        }
        if options.runs("servers") {
            servers(&options, &child).await?;
        }
        if options.runs("bulk") {
            crate::bulk::unlimited(&options, &mut child).await?;
        }
        if options.runs("quota") {
            crate::bulk::quota(&options, &mut child).await?;
        }
        server_peak = Some(child.peak_kib().await.unwrap_or(0));
        child.stop().await;
    }
    if options.runs("library-server") {
        crate::libbench::server_section(&options).await?;
    }
    if options.runs("library-client") {
        crate::libbench::client_section(&options).await?;
    }
    if let Some(server_peak) = server_peak {
        println!(
            "Server process peak RSS: {:.1} MiB.",
            server_peak as f64 / 1024.0
        );
    }
    println!("Whole run: {:.0} s.", started.elapsed().as_secs_f64());
    Ok(())
}

async fn latency(options: &Options, child: &Child) -> Result<(), String> {
    let ee = Arc::new(servers::ee_names(POOL, options.pool));
    let generic = Arc::new(servers::generic_names(POOL, options.pool));
    let mut results: BTreeMap<Key, Vec<Sample>> = BTreeMap::new();
    for round in 0..options.rounds {
        for op in OPS {
            for &concurrency in &options.concurrency {
                for (index, who) in WHO.into_iter().enumerate() {
                    if !options.runs_client(who.key()) || !options.runs_op(op.label()) {
                        continue;
                    }
                    eprintln!(
                        "latency round {}/{}: {} c={concurrency} {}",
                        round + 1,
                        options.rounds,
                        op.label(),
                        who.label()
                    );
                    let caller = Caller::build(who, child.emulator).await?;
                    let names = if who.generic_names() { &generic } else { &ee };
                    let sample = run_calls(
                        &caller,
                        op,
                        Arc::clone(names),
                        concurrency,
                        options.warmup,
                        options.secs,
                    )
                    .await;
                    note_errors(who.label(), &sample);
                    results
                        .entry(key(op, concurrency, index))
                        .or_default()
                        .push(sample);
                }
            }
        }
    }

    println!("## Get and cancel: eeops against the floor and google-cloud-longrunning\n");
    println!(
        "Emulator in a separate process on loopback. The ratios compare with the floor of the \
         same transport; allocations and peak RSS are the client process's.\n"
    );
    println!(
        "| call | concurrency | client | calls/s | p50 µs | p99 µs | p50 / floor | calls/s / floor | allocs/call | peak RSS MiB |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut checks = Vec::new();
    for op in OPS {
        for &concurrency in &options.concurrency {
            let get = |who: Who| {
                let index = WHO.iter().position(|w| *w == who).unwrap_or(0);
                summarize(
                    results
                        .get(&key(op, concurrency, index))
                        .map(Vec::as_slice)
                        .unwrap_or_default(),
                )
            };
            for who in WHO {
                let s = get(who);
                let floor = get(who.floor());
                let errors = if s.errors > 0 {
                    format!(" ({} errors)", s.errors)
                } else {
                    String::new()
                };
                println!(
                    "| {} | {concurrency} | {}{errors} | {:.0} | {:.0} | {:.0} | {:.3} | {:.3} | {:.1} | {:.1} |",
                    op.label(),
                    who.label(),
                    s.calls_per_sec,
                    s.p50_us,
                    s.p99_us,
                    s.p50_us / floor.p50_us.max(1e-9),
                    s.calls_per_sec / floor.calls_per_sec.max(1e-9),
                    s.allocs_per_call,
                    s.peak_mib
                );
                if matches!(who, Who::EeopsGrpc | Who::EeopsRest) {
                    let ratio = s.p50_us / floor.p50_us.max(1e-9);
                    checks.push((
                        format!(
                            "{} {} c={concurrency}: p50 {:.3}x the floor",
                            who.label(),
                            op.label(),
                            ratio
                        ),
                        ratio <= 1.05,
                        "<= 1.05x",
                    ));
                }
            }
            let rest = get(Who::EeopsRest);
            let google = get(Who::Google);
            let ratio = rest.calls_per_sec / google.calls_per_sec.max(1e-9);
            checks.push((
                format!(
                    "eeops REST {} c={concurrency}: {ratio:.2}x google-cloud-longrunning's calls/s",
                    op.label()
                ),
                ratio >= 1.5,
                ">= 1.5x",
            ));
        }
    }
    println!();
    print_checks(&checks);
    Ok(())
}

pub fn print_checks(checks: &[(String, bool, &str)]) {
    for (what, ok, target) in checks {
        println!(
            "- {} {what} (target {target})",
            if *ok { "MET" } else { "MISSED" }
        );
    }
    println!();
}

/// The label of the emulator served with every timeout off; its index in the servers
/// section's targets is [`UNTIMED_INDEX`].
const UNTIMED_LABEL: &str = "emulator, timeouts off (eeops::server::serve_with)";
const UNTIMED_INDEX: usize = 4;
/// The index of the emulator's router on plain `axum::serve` in the same targets.
const PLAIN_AXUM_INDEX: usize = 5;

/// The timeouts' cost: the emulator served with `ServerConfig::default()` (target 0) against
/// the same emulator served with every timeout off (target [`UNTIMED_INDEX`]) and its router on
/// plain `axum::serve` (target [`PLAIN_AXUM_INDEX`]), measured in the same rounds.
fn print_timeout_ab(options: &Options, results: &BTreeMap<(u8, usize, usize, bool), Vec<Sample>>) {
    println!("### The server's defaults against no timeouts and against plain axum::serve\n");
    println!(
        "The same emulator (one store) on three ports: `serve` (`ServerConfig::default()`: 10 s \
         header, 30 s body, 60 s idle timeouts, HTTP/2 pings every 30 s, eeops' accept loop), \
         `serve_with` a config with those four off (same accept loop), and its router on plain \
         `axum::serve` (how `serve` served before it had a `ServerConfig`). Each ratio is the \
         median over rounds of the ratio within a round; below 1 means the defaults are \
         slower.\n"
    );
    println!(
        "| call | concurrency | transport | calls/s, defaults | calls/s, timeouts off | calls/s, plain axum | defaults / off | defaults / plain axum | p50 µs, defaults | p50 µs, off | p50 µs, plain axum |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for op in OPS {
        if !options.runs_op(op.label()) {
            continue;
        }
        for &concurrency in &options.concurrency {
            for grpc in [true, false] {
                let samples = |index: usize| {
                    results
                        .get(&(op as u8, concurrency, index, grpc))
                        .map(Vec::as_slice)
                        .unwrap_or_default()
                };
                if samples(0).is_empty() {
                    continue;
                }
                let rate = |index: usize| {
                    let s = samples(index);
                    if s.is_empty() {
                        ("n/a".to_owned(), "n/a".to_owned())
                    } else {
                        let s = summarize(s);
                        (
                            format!("{:.0}", s.calls_per_sec),
                            format!("{:.0}", s.p50_us),
                        )
                    }
                };
                let ratio = |index: usize| {
                    let pairs: Vec<f64> = samples(0)
                        .iter()
                        .zip(samples(index))
                        .map(|(a, b)| a.calls_per_sec() / b.calls_per_sec().max(1e-9))
                        .collect();
                    if pairs.is_empty() {
                        "n/a".to_owned()
                    } else {
                        format!("{:.3}", median(pairs))
                    }
                };
                let (on, off, plain) = (rate(0), rate(UNTIMED_INDEX), rate(PLAIN_AXUM_INDEX));
                println!(
                    "| {} | {concurrency} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    op.label(),
                    if grpc { "gRPC" } else { "REST" },
                    on.0,
                    off.0,
                    plain.0,
                    ratio(UNTIMED_INDEX),
                    ratio(PLAIN_AXUM_INDEX),
                    on.1,
                    off.1,
                    plain.1
                );
            }
        }
    }
    println!();
}

/// A server of the comparison, and the transports it answers.
struct Target {
    label: &'static str,
    /// The name `--servers` knows it by.
    key: &'static str,
    addr: SocketAddr,
    grpc: bool,
    rest: bool,
}

async fn servers(options: &Options, child: &Child) -> Result<(), String> {
    let targets = [
        Target {
            label: "emulator (eeops::server::serve)",
            key: "emulator",
            addr: child.emulator,
            grpc: true,
            rest: true,
        },
        Target {
            label: "fixed answer (eeops::server::serve)",
            key: "trivial",
            addr: child.trivial,
            grpc: true,
            rest: true,
        },
        Target {
            label: "fixed answer (bare tonic)",
            key: "bare-tonic",
            addr: child.bare_tonic,
            grpc: true,
            rest: false,
        },
        Target {
            label: "fixed JSON (bare axum)",
            key: "bare-axum",
            addr: child.bare_axum,
            grpc: false,
            rest: true,
        },
        Target {
            label: UNTIMED_LABEL,
            key: "emulator-untimed",
            addr: child.emulator_untimed,
            grpc: true,
            rest: true,
        },
        Target {
            label: "emulator, router on plain axum::serve (before ServerConfig)",
            key: "emulator-axum",
            addr: child.emulator_axum,
            grpc: true,
            rest: true,
        },
    ];
    let names = Arc::new(servers::ee_names(POOL, options.pool));
    let mut results: BTreeMap<(u8, usize, usize, bool), Vec<Sample>> = BTreeMap::new();
    for round in 0..options.rounds {
        for op in OPS {
            for &concurrency in &options.concurrency {
                for (index, target) in targets.iter().enumerate() {
                    for grpc in [true, false] {
                        if (grpc && !target.grpc)
                            || (!grpc && !target.rest)
                            || !options.runs_op(op.label())
                            || !options.runs_server(target.key, if grpc { "grpc" } else { "rest" })
                        {
                            continue;
                        }
                        eprintln!(
                            "servers round {}/{}: {} c={concurrency} {} {}",
                            round + 1,
                            options.rounds,
                            op.label(),
                            target.label,
                            if grpc { "gRPC" } else { "REST" }
                        );
                        let caller = if grpc {
                            Caller::tonic(target.addr).await?
                        } else {
                            Caller::reqwest(target.addr)?
                        };
                        let sample = run_calls(
                            &caller,
                            op,
                            Arc::clone(&names),
                            concurrency,
                            options.warmup,
                            options.secs,
                        )
                        .await;
                        note_errors(target.label, &sample);
                        results
                            .entry((op as u8, concurrency, index, grpc))
                            .or_default()
                            .push(sample);
                    }
                }
            }
        }
    }

    println!("## The emulator against bare servers\n");
    println!(
        "Driven by the floor clients (tonic for gRPC, reqwest for REST). \"fixed answer\" is an \
         `Operations` implementation that returns the emulator's operation without looking \
         anything up; the bare servers have none of eeops' routing.\n"
    );
    println!(
        "| call | concurrency | transport | server | calls/s | p50 µs | p99 µs | calls/s / bare |"
    );
    println!("|---|---:|---|---|---:|---:|---:|---:|");
    let mut checks = Vec::new();
    for op in OPS {
        for &concurrency in &options.concurrency {
            for grpc in [true, false] {
                let bare_index = if grpc { 2 } else { 3 };
                let get = |index: usize| {
                    summarize(
                        results
                            .get(&(op as u8, concurrency, index, grpc))
                            .map(Vec::as_slice)
                            .unwrap_or_default(),
                    )
                };
                let bare = get(bare_index);
                let measured =
                    |index: usize| results.contains_key(&(op as u8, concurrency, index, grpc));
                for (index, target) in targets.iter().enumerate() {
                    // Rows of servers, calls and transports left out by the filters.
                    if !measured(index) {
                        continue;
                    }
                    let s = get(index);
                    let ratio = s.calls_per_sec / bare.calls_per_sec.max(1e-9);
                    let ratio_text = if measured(bare_index) {
                        format!("{ratio:.3}")
                    } else {
                        "n/a".to_owned()
                    };
                    println!(
                        "| {} | {concurrency} | {} | {} | {:.0} | {:.0} | {:.0} | {ratio_text} |",
                        op.label(),
                        if grpc { "gRPC" } else { "REST" },
                        target.label,
                        s.calls_per_sec,
                        s.p50_us,
                        s.p99_us,
                    );
                    if index == 0 && measured(bare_index) {
                        checks.push((
                            format!(
                                "emulator {} {} c={concurrency}: {ratio:.2}x the bare server's calls/s",
                                if grpc { "gRPC" } else { "REST" },
                                op.label()
                            ),
                            ratio >= 0.8,
                            ">= 0.8x",
                        ));
                    }
                }
            }
        }
    }
    println!();
    print_checks(&checks);
    print_timeout_ab(options, &results);
    Ok(())
}
