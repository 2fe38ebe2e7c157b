//! Requests per second of the emulator for GetOperation, over REST (HTTP/1.1 keep-alive and
//! HTTP/2) and gRPC, on loopback. `cargo bench --bench emulator`; about 20 seconds.
//!
//! Each run holds `CONCURRENCY` requests in flight for `DURATION`, after a short warm-up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use eeops::pb::google::longrunning::GetOperationRequest;
use eeops::pb::google::longrunning::operations_client::OperationsClient;
use eeops::server::emulator::{Emulator, EmulatorConfig, TaskSpec};
use tonic::transport::Channel;

const DURATION: Duration = Duration::from_secs(4);
const WARMUP: Duration = Duration::from_millis(500);
const CONCURRENCY: usize = 32;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let emu = Emulator::new(EmulatorConfig::default().with_manual_clock(true));
    let names: Arc<Vec<String>> = Arc::new(
        (0..1000)
            .map(|_| emu.start_task("bench", TaskSpec::default().with_start_running(true)))
            .collect(),
    );
    let handle = eeops::server::serve(emu.clone(), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("serve");
    let addr = handle.local_addr();
    println!(
        "emulator GetOperation, {CONCURRENCY} in flight, {}s each, 1000 operations, 2 runtime threads shared by client and server",
        DURATION.as_secs()
    );

    // REST over HTTP/1.1 (a pool of keep-alive connections), then over HTTP/2 (prior
    // knowledge, one connection).
    let rest_clients = [
        ("REST HTTP/1.1", reqwest::Client::builder().http1_only()),
        (
            "REST HTTP/2",
            reqwest::Client::builder().http2_prior_knowledge(),
        ),
    ];
    for (label, builder) in rest_clients {
        let client = builder.build().expect("client");
        bench(label, {
            let names = Arc::clone(&names);
            move |i| {
                let client = client.clone();
                let url = format!("http://{addr}/v1/{}", names[i % names.len()]);
                async move {
                    let resp = client.get(&url).send().await.expect("send");
                    assert!(resp.status().is_success());
                    resp.bytes().await.expect("body");
                }
            }
        })
        .await;
    }

    // gRPC (one HTTP/2 channel).
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    bench("gRPC", {
        let names = Arc::clone(&names);
        move |i| {
            let mut client = OperationsClient::new(channel.clone());
            let name = names[i % names.len()].clone();
            async move {
                client
                    .get_operation(GetOperationRequest { name })
                    .await
                    .expect("get");
            }
        }
    })
    .await;

    handle.shutdown().await;
}

/// Runs `CONCURRENCY` workers, each issuing `request(i)` for i = 0, 1, 2, ... back to back.
async fn bench<F, Fut>(label: &str, request: F)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let request = Arc::new(request);
    let count = Arc::new(AtomicU64::new(0));
    let counting = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let deadline = Instant::now() + WARMUP + DURATION;
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|w| {
            let request = Arc::clone(&request);
            let count = Arc::clone(&count);
            let counting = Arc::clone(&counting);
            tokio::spawn(async move {
                let mut i = w * 7919;
                while Instant::now() < deadline {
                    request(i).await;
                    i += 1;
                    if counting.load(Ordering::Relaxed) {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(WARMUP).await;
    let start = Instant::now();
    counting.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("worker");
    }
    let secs = start.elapsed().as_secs_f64();
    let n = count.load(Ordering::Relaxed);
    println!(
        "{label:<14} {:>9.0} req/s  ({n} requests in {secs:.2}s)",
        n as f64 / secs
    );
}
