//! The emulator at scale: seeding time for 10^5 and 10^6 demo tasks, GetOperation p50 (REST
//! and gRPC, one request at a time) with 10 operations in the store against 1,000,000, and the
//! process's CPU time while 1,000,000 operations sit idle (no calls) on the real-time clock.
//! `cargo bench --bench emulator_scale`; about a minute, and ~1 GB of memory at the top.
//!
//! `EEOPS_SCALE_OPS` (default 1000000), `EEOPS_SCALE_IDLE_SECS` (default 10) and
//! `EEOPS_SCALE_GETS` (default 2000) change the sizes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eeops::pb::google::longrunning::GetOperationRequest;
use eeops::pb::google::longrunning::operations_client::OperationsClient;
use eeops::server::emulator::{Emulator, EmulatorConfig, add_demo_tasks};
use tonic::transport::Channel;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time (user + system) of this process so far, from /proc (Linux only).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the command.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel's USER_HZ is 100 on every Linux this runs on.
    Some(Duration::from_millis(ticks * 10))
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let big = env_or("EEOPS_SCALE_OPS", 1_000_000) as usize;
    let idle_secs = env_or("EEOPS_SCALE_IDLE_SECS", 10);
    let gets = env_or("EEOPS_SCALE_GETS", 2000) as usize;
    println!("emulator at scale: seeding, GET p50 against the store size, idle CPU");

    for n in [big / 10, big] {
        let emu = Emulator::new(EmulatorConfig::default());
        let start = Instant::now();
        add_demo_tasks(&emu, "bench", n, 1);
        println!(
            "seed {n:>9} demo tasks: {:>7.2} s",
            start.elapsed().as_secs_f64()
        );
    }

    let mut p50s = Vec::new();
    for n in [10, big] {
        let emu = Emulator::new(EmulatorConfig::default());
        let names = Arc::new(add_demo_tasks(&emu, "bench", n, 2));
        let handle = eeops::server::serve(emu.clone(), "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("serve");
        let addr = handle.local_addr();
        let http = reqwest::Client::builder()
            .http1_only()
            .build()
            .expect("client");
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        let mut grpc = OperationsClient::new(channel);
        let mut rest_times = Vec::with_capacity(gets);
        let mut grpc_times = Vec::with_capacity(gets);
        for i in 0..gets + gets / 10 {
            // Spread over the whole store (a prime stride).
            let name = &names[(i * 7919) % names.len()];
            let t = Instant::now();
            let resp = http
                .get(format!("http://{addr}/v1/{name}"))
                .send()
                .await
                .expect("send");
            assert!(resp.status().is_success());
            resp.bytes().await.expect("body");
            let rest = t.elapsed();
            let t = Instant::now();
            grpc.get_operation(GetOperationRequest { name: name.clone() })
                .await
                .expect("get");
            let g = t.elapsed();
            if i >= gets / 10 {
                rest_times.push(rest);
                grpc_times.push(g);
            }
        }
        rest_times.sort();
        grpc_times.sort();
        let (rest, grpc_p50) = (rest_times[gets / 2], grpc_times[gets / 2]);
        println!(
            "GET p50 with {n:>9} operations: REST {:>6.1} us, gRPC {:>6.1} us",
            rest.as_secs_f64() * 1e6,
            grpc_p50.as_secs_f64() * 1e6
        );
        p50s.push((rest, grpc_p50));

        if n == big {
            // Idle: nobody calls; the demo tasks run on (15 s to 5 min each).
            let before = cpu_time();
            let wall = Instant::now();
            tokio::time::sleep(Duration::from_secs(idle_secs)).await;
            if let (Some(a), Some(b)) = (before, cpu_time()) {
                let cpu = b.saturating_sub(a);
                println!(
                    "idle with {n} operations: {:.3} s CPU in {:.1} s ({:.2}% of a core)",
                    cpu.as_secs_f64(),
                    wall.elapsed().as_secs_f64(),
                    100.0 * cpu.as_secs_f64() / wall.elapsed().as_secs_f64()
                );
            }
        }
        handle.shutdown().await;
    }
    let ratio = |a: Duration, b: Duration| b.as_secs_f64() / a.as_secs_f64();
    println!(
        "GET p50 ratio ({big} / 10 operations): REST {:.2}x, gRPC {:.2}x (target <= 1.5x)",
        ratio(p50s[0].0, p50s[1].0),
        ratio(p50s[0].1, p50s[1].1)
    );
}
