//! Bulk cancel with eeops' adaptive bulk calls (`Client::cancel_each_with`): over REST with
//! single calls, over REST with `/batch`, and over gRPC; against the emulator with a request
//! quota (how much of the quota each reaches, and whether any cancel fails) and without one
//! (cancels per second, beside the raw clients' floors).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eeops::client::{BulkOptions, Client, Transport};
use futures::StreamExt as _;

use crate::Options;
use crate::clients::{Caller, cancel_all_raw, cancel_all_raw_pool};
use crate::report::{median, print_checks};
use crate::servers::Child;

/// How an eeops bulk run travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Path {
    RestSingle,
    RestBatch,
    Grpc,
}

const PATHS: [Path; 3] = [Path::RestSingle, Path::RestBatch, Path::Grpc];

impl Path {
    fn label(self) -> &'static str {
        match self {
            Path::RestSingle => "eeops REST, single calls",
            Path::RestBatch => "eeops REST, /batch",
            Path::Grpc => "eeops gRPC",
        }
    }

    async fn client(self, addr: SocketAddr) -> Result<Client, String> {
        Client::builder()
            .endpoint(format!("http://{addr}"))
            .transport(if self == Path::Grpc {
                Transport::Grpc
            } else {
                Transport::Rest
            })
            .build()
            .await
            .map_err(|e| e.to_string())
    }

    fn options(self, cap: usize) -> BulkOptions {
        let options = BulkOptions::default()
            .with_max_concurrency(cap)
            .with_time_limit(Some(Duration::from_secs(600)));
        if self == Path::RestBatch {
            options
        } else {
            options.with_batch_size(0)
        }
    }
}

/// What one eeops bulk run came to.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    secs: f64,
    failed: usize,
    requests: u64,
    throttled: u64,
}

async fn run(path: Path, addr: SocketAddr, names: &[String], cap: usize) -> Result<Run, String> {
    let client = path.client(addr).await?;
    let started = Instant::now();
    let mut bulk = client.cancel_each_with(names, path.options(cap));
    let progress = bulk.progress();
    let mut failed = 0;
    while let Some((_, name, result)) = bulk.next().await {
        if let Err(e) = result {
            if failed < 3 {
                eprintln!("  ! {name}: {e}");
            }
            failed += 1;
        }
    }
    Ok(Run {
        secs: started.elapsed().as_secs_f64(),
        failed,
        requests: progress.requests(),
        throttled: progress.throttled(),
    })
}

/// Bulk cancel against `--rate-limit`: the share of the quota each path reaches.
pub async fn quota(options: &Options, child: &mut Child) -> Result<(), String> {
    let n = options.quota_bulk;
    let limit = options.rate_limit;
    let mut runs: BTreeMap<Path, Vec<Run>> = BTreeMap::new();
    for round in 0..options.quota_rounds {
        for path in PATHS {
            eprintln!(
                "quota round {}/{}: {} cancels at {limit}/s, {}",
                round + 1,
                options.quota_rounds,
                n,
                path.label()
            );
            let names = child.quota_seed("Q", n).await?;
            let r = run(path, child.quota, &names, 256).await?;
            runs.entry(path).or_default().push(r);
        }
    }
    println!("## Bulk cancel at a request quota\n");
    println!(
        "Each run cancels {n} fresh, running operations of one project on an emulator started \
         with a rate limit of {limit} requests per second per project (a bucket of {:.0}, that is \
         a tenth of a second), with `cancel_each_with` (cap 256 in flight). Figures are medians \
         over {} round(s).\n",
        (limit / 10.0).max(1.0),
        options.quota_rounds
    );
    println!("| client | seconds | cancels/s | / quota | failed | requests | refused (429) |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut checks = Vec::new();
    for path in PATHS {
        let rs = runs.get(&path).cloned().unwrap_or_default();
        let secs = median(rs.iter().map(|r| r.secs).collect());
        let rate = n as f64 / secs.max(1e-9);
        let share = rate / limit;
        let failed: usize = rs.iter().map(|r| r.failed).sum();
        let requests = median(rs.iter().map(|r| r.requests as f64).collect());
        let throttled = median(rs.iter().map(|r| r.throttled as f64).collect());
        println!(
            "| {} | {secs:.2} | {rate:.0} | {share:.3} | {failed} | {requests:.0} | {throttled:.0} |",
            path.label()
        );
        checks.push((
            format!(
                "{}: {:.1}% of the quota, {failed} failed",
                path.label(),
                share * 100.0
            ),
            share >= 0.9 && failed == 0,
            ">= 90%, 0 failed",
        ));
    }
    println!();
    print_checks(&checks);
    Ok(())
}

/// A row of the unlimited table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    FloorGrpc,
    /// The tonic floor over [`POOL_CONNECTIONS`] connections.
    FloorGrpcPool,
    FloorRest,
    Eeops(Path),
}

impl Who {
    fn key(self) -> &'static str {
        match self {
            Who::FloorGrpc => "floor-grpc",
            Who::FloorGrpcPool => "floor-grpc-pool",
            Who::FloorRest => "floor-rest",
            Who::Eeops(Path::RestSingle) => "rest-single",
            Who::Eeops(Path::RestBatch) => "rest-batch",
            Who::Eeops(Path::Grpc) => "grpc",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Who::FloorGrpc => "floor: tonic client, shared queue",
            Who::FloorGrpcPool => "floor: 4 tonic clients (4 connections), shared queue",
            Who::FloorRest => "floor: reqwest, shared queue",
            Who::Eeops(p) => p.label(),
        }
    }
}

/// Connections of the pooled tonic floor.
const POOL_CONNECTIONS: usize = 4;

const WHO: [Who; 6] = [
    Who::FloorGrpc,
    Who::FloorGrpcPool,
    Who::FloorRest,
    Who::Eeops(Path::RestSingle),
    Who::Eeops(Path::RestBatch),
    Who::Eeops(Path::Grpc),
];

/// Bulk cancel without a quota: cancels per second of each path, and of the raw floors.
pub async fn unlimited(options: &Options, child: &mut Child) -> Result<(), String> {
    let n = options.bulk;
    let mut rates: BTreeMap<(usize, Who), Vec<f64>> = BTreeMap::new();
    let mut failures: BTreeMap<(usize, Who), usize> = BTreeMap::new();
    for round in 0..options.bulk_rounds {
        for &concurrency in &options.bulk_concurrency {
            for who in WHO {
                if !options.bulk_clients.iter().any(|c| c == who.key()) {
                    continue;
                }
                eprintln!(
                    "bulk round {}/{}: c={concurrency} {}",
                    round + 1,
                    options.bulk_rounds,
                    who.label()
                );
                // Fresh, running operations every time (seeding replaces the earlier ones).
                let names = child.seed("B", n).await?;
                let (secs, failed) = match who {
                    Who::FloorGrpcPool => {
                        let mut callers = Vec::with_capacity(POOL_CONNECTIONS);
                        for _ in 0..POOL_CONNECTIONS {
                            callers.push(Caller::tonic(child.emulator).await?);
                        }
                        let (elapsed, errors) =
                            cancel_all_raw_pool(&callers, Arc::new(names), concurrency).await;
                        (elapsed.as_secs_f64(), errors)
                    }
                    Who::FloorGrpc | Who::FloorRest => {
                        let caller = if who == Who::FloorGrpc {
                            Caller::tonic(child.emulator).await?
                        } else {
                            Caller::reqwest(child.emulator)?
                        };
                        let (elapsed, errors) =
                            cancel_all_raw(&caller, Arc::new(names), concurrency).await;
                        (elapsed.as_secs_f64(), errors)
                    }
                    Who::Eeops(path) => {
                        let r = run(path, child.emulator, &names, concurrency).await?;
                        (r.secs, r.failed)
                    }
                };
                rates
                    .entry((concurrency, who))
                    .or_default()
                    .push(n as f64 / secs.max(1e-9));
                *failures.entry((concurrency, who)).or_default() += failed;
            }
        }
    }
    println!("## Bulk cancel of {n} operations, no quota\n");
    println!(
        "Each run cancels {n} fresh, running emulator operations once; the concurrency is the \
         floors' number of workers and eeops' cap on calls in flight (for `/batch`, calls inside \
         the batches in flight). Medians over {} rounds; the last column is the ratio to eeops \
         REST with single calls at the same concurrency, measured in the same run.\n",
        options.bulk_rounds
    );
    println!("| concurrency | client | cancels/s | failed | / eeops REST single |");
    println!("|---:|---|---:|---:|---:|");
    for &concurrency in &options.bulk_concurrency {
        let rate = |who: Who| median(rates.get(&(concurrency, who)).cloned().unwrap_or_default());
        let single = rate(Who::Eeops(Path::RestSingle));
        for who in WHO {
            if !rates.contains_key(&(concurrency, who)) {
                continue;
            }
            let r = rate(who);
            let failed = failures.get(&(concurrency, who)).copied().unwrap_or(0);
            println!(
                "| {concurrency} | {} | {r:.0} | {failed} | {:.2} |",
                who.label(),
                r / single.max(1e-9)
            );
        }
    }
    println!();
    Ok(())
}
