//! Bulk work at the service's quota: the emulator's rate limit (RESOURCE_EXHAUSTED with
//! RetryInfo and QuotaFailure, over REST, gRPC and each part of a batch), and the client's
//! adaptive bulk calls (single REST calls, REST `/batch`, gRPC) against it, with and without
//! injected UNAVAILABLE answers, and against a server without `/batch`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use eeops::client::{BulkOptions, Client, RetryPolicy, Transport};
use eeops::error::ErrorDetail;
use eeops::pb::google::rpc::Code;
use eeops::server::emulator::{Emulator, EmulatorConfig, TaskSpec};
use eeops::server::{self, ServerHandle};
use futures::StreamExt as _;
use serde_json::Value as Json;

/// An emulator on a manual clock (each call costs the same whatever the store holds), cancels
/// taking effect at once.
fn config() -> EmulatorConfig {
    EmulatorConfig::default()
        .with_manual_clock(true)
        .with_cancel_delay(Duration::ZERO)
}

async fn serve(config: EmulatorConfig) -> (Emulator, ServerHandle) {
    let emu = Emulator::new(config);
    let handle = server::serve(emu.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    (emu, handle)
}

async fn client(addr: SocketAddr, transport: Transport) -> Client {
    client_with(addr, transport, RetryPolicy::default()).await
}

async fn client_with(addr: SocketAddr, transport: Transport, policy: RetryPolicy) -> Client {
    Client::builder()
        .endpoint(format!("http://{addr}"))
        .transport(transport)
        .retry_policy(policy)
        .build()
        .await
        .unwrap()
}

fn tasks(emu: &Emulator, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            emu.start_task(
                "p",
                TaskSpec::default()
                    .with_start_running(true)
                    .with_work(Duration::from_secs(3600)),
            )
        })
        .collect()
}

/// The three ways a bulk call travels.
#[derive(Debug, Clone, Copy)]
enum Path {
    RestSingle,
    RestBatch,
    Grpc,
}

const PATHS: [Path; 3] = [Path::RestSingle, Path::RestBatch, Path::Grpc];

impl Path {
    fn transport(self) -> Transport {
        match self {
            Path::Grpc => Transport::Grpc,
            _ => Transport::Rest,
        }
    }

    fn options(self) -> BulkOptions {
        let options = BulkOptions::default().with_time_limit(Some(Duration::from_secs(120)));
        match self {
            Path::RestSingle => options.with_batch_size(0),
            _ => options,
        }
    }
}

/// Cancels every name in bulk and checks: no failed call, every operation cancelled, each
/// cancel applied exactly once. Returns the progress figures (throttled, retried, requests).
async fn cancel_all_and_check(
    emu: &Emulator,
    addr: SocketAddr,
    path: Path,
    names: &[String],
    options: BulkOptions,
    policy: RetryPolicy,
) -> (u64, u64, u64) {
    let client = client_with(addr, path.transport(), policy).await;
    let mut bulk = client.cancel_each_with(names, options);
    let progress = bulk.progress();
    let mut seen = vec![false; names.len()];
    let mut failed = Vec::new();
    while let Some((index, name, result)) = bulk.next().await {
        assert_eq!(name, names[index]);
        assert!(!seen[index], "{name} yielded twice");
        seen[index] = true;
        if let Err(e) = result {
            failed.push(format!("{name}: {e}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{path:?}: {} failed, e.g. {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    assert!(seen.iter().all(|s| *s), "{path:?}: a name never yielded");
    for name in names {
        let op = emu.operation(name).unwrap();
        assert!(op.done, "{path:?}: {name} not done");
        let effects = emu.effects(name);
        assert_eq!(effects.cancels_applied, 1, "{path:?}: {name}");
        assert_eq!(effects.completions, 1, "{path:?}: {name}");
    }
    assert_eq!(progress.completed(), names.len() as u64);
    assert_eq!(progress.succeeded(), names.len() as u64);
    (
        progress.throttled(),
        progress.retried(),
        progress.requests(),
    )
}

#[tokio::test]
async fn quota_refusals_carry_retry_info_and_quota_failure_over_rest_grpc_and_batch() {
    // One token a second, a bucket of one: the second call in a row is refused.
    let (emu, handle) = serve(config().with_rate_limit(Some(1.0))).await;
    let name = tasks(&emu, 1).remove(0);
    let addr = handle.local_addr();
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/v1/{name}");

    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    let body: Json = resp.json().await.unwrap();
    let error = &body["error"];
    assert_eq!(error["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(error["code"], 429);
    let details = error["details"].as_array().unwrap();
    let of_type = |t: &str| {
        details
            .iter()
            .find(|d| d["@type"] == format!("type.googleapis.com/google.rpc.{t}"))
            .unwrap_or_else(|| panic!("no {t} in {body}"))
            .clone()
    };
    let retry = of_type("RetryInfo");
    let delay = retry["retryDelay"].as_str().unwrap();
    assert!(delay.ends_with('s') && delay != "0s", "{delay}");
    let quota = of_type("QuotaFailure");
    assert_eq!(quota["violations"][0]["subject"], "projects/p");
    assert_eq!(of_type("ErrorInfo")["reason"], "RATE_LIMIT_EXCEEDED");

    // Another project has its own bucket.
    let other = emu.start_task("q", TaskSpec::default());
    let resp = http
        .get(format!("http://{addr}/v1/{other}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // gRPC: the same status, details in grpc-status-details-bin, read by eeops' client.
    let grpc = Client::builder()
        .endpoint(format!("http://{addr}"))
        .transport(Transport::Grpc)
        .retry_policy(RetryPolicy::no_retries())
        .build()
        .await
        .unwrap();
    let err = grpc.get(&name).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::ResourceExhausted), "{err}");
    let delay = err.retry_delay().unwrap();
    assert!(delay > Duration::ZERO && delay <= Duration::from_secs(1));
    assert!(
        err.details()
            .iter()
            .any(|d| matches!(d, ErrorDetail::QuotaFailure(_)))
    );
    // The REST client reads the same from the JSON details.
    let rest = Client::builder()
        .endpoint(format!("http://{addr}"))
        .retry_policy(RetryPolicy::no_retries())
        .build()
        .await
        .unwrap();
    let err = rest.get(&name).await.unwrap_err();
    assert_eq!(err.code(), Some(Code::ResourceExhausted));
    assert_eq!(err.http_status(), Some(429));
    assert!(err.retry_delay().is_some());

    // Each part of a batch counts: wait for the bucket to refill (at most a second), then
    // three gets in one batch: the first passes, the other two are refused in their slots.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let boundary = "b0undary";
    let body: String = (1..=3)
        .map(|i| {
            format!(
                "--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <{i}>\r\n\r\nGET /v1/{name} HTTP/1.1\r\n\r\n\r\n"
            )
        })
        .chain([format!("--{boundary}--\r\n")])
        .collect();
    let resp = http
        .post(format!("http://{addr}/batch"))
        .header(
            "content-type",
            format!("multipart/mixed; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let statuses: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("HTTP/1.1 "))
        .collect();
    assert_eq!(
        statuses,
        [
            "HTTP/1.1 200 OK",
            "HTTP/1.1 429 Too Many Requests",
            "HTTP/1.1 429 Too Many Requests"
        ],
        "{text}"
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn a_client_retries_through_the_quota_when_asked_and_bulk_calls_always_do() {
    // The default decider leaves RESOURCE_EXHAUSTED to the caller for a single call ...
    let (emu, handle) = serve(config().with_rate_limit(Some(1.0))).await;
    let name = tasks(&emu, 1).remove(0);
    let addr = handle.local_addr();
    let plain = client(addr, Transport::Rest).await;
    plain.get(&name).await.unwrap();
    assert_eq!(
        plain.get(&name).await.unwrap_err().code(),
        Some(Code::ResourceExhausted)
    );
    // ... while bulk calls wait as RetryInfo says: three gets at one per second all succeed.
    let names = vec![name.clone(), name.clone(), name];
    let got: Vec<_> = plain
        .get_each_with(&names, BulkOptions::default().with_batch_size(0))
        .collect()
        .await;
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|(_, _, r)| r.is_ok()));
    handle.shutdown().await;
}

#[tokio::test]
async fn bulk_cancel_of_5000_under_a_rate_limit_on_every_path() {
    for path in PATHS {
        let (emu, handle) = serve(config().with_rate_limit(Some(20_000.0))).await;
        let names = tasks(&emu, 5000);
        cancel_all_and_check(
            &emu,
            handle.local_addr(),
            path,
            &names,
            path.options(),
            RetryPolicy::default(),
        )
        .await;
        handle.shutdown().await;
    }
}

#[tokio::test]
async fn bulk_cancel_of_5000_with_half_the_calls_unavailable_on_every_path() {
    for path in PATHS {
        let config = config()
            .with_rate_limit(Some(20_000.0))
            .with_unavailable_rate(0.5)
            .with_unavailable_after_apply(true);
        let (emu, handle) = serve(config).await;
        let names = tasks(&emu, 5000);
        // A higher floor: at 50% failures the limit would otherwise sit at 1 most of the time;
        // and short backoffs (the client's policy): some cancel fails a dozen times in a row.
        let options = path.options().with_min_concurrency(16);
        let policy = RetryPolicy::default()
            .with_initial_backoff(Duration::from_millis(1))
            .with_max_backoff(Duration::from_millis(20));
        let (_, retried, _) =
            cancel_all_and_check(&emu, handle.local_addr(), path, &names, options, policy).await;
        assert!(retried >= 1000, "{path:?}: only {retried} retries");
        handle.shutdown().await;
    }
}

#[tokio::test]
async fn a_tight_quota_throttles_and_nothing_fails() {
    // 1000 per second with a bucket of 100: a batched client sending 1000 cancels is
    // refused many times and still ends with every cancel done once.
    let (emu, handle) = serve(config().with_rate_limit(Some(1000.0))).await;
    let names = tasks(&emu, 1000);
    let (throttled, retried, requests) = cancel_all_and_check(
        &emu,
        handle.local_addr(),
        Path::RestBatch,
        &names,
        Path::RestBatch.options(),
        RetryPolicy::default(),
    )
    .await;
    assert!(throttled > 0);
    assert!(retried >= throttled);
    assert!(
        requests < 1000,
        "{requests} requests: batches were not used"
    );
    handle.shutdown().await;
}

/// What every name came to, as text, for comparing paths.
async fn outcomes(path: Path) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let (emu, handle) = serve(config().with_rate_limit(Some(20_000.0))).await;
    let mut names = Vec::new();
    for i in 0..20 {
        let spec = TaskSpec::default()
            .with_id(format!("RUN{i:021}"))
            .with_start_running(true)
            .with_work(Duration::from_secs(3600));
        names.push(emu.start_task("p", spec));
    }
    for i in 0..5 {
        let spec = TaskSpec::default()
            .with_id(format!("DONE{i:020}"))
            .with_start_running(true)
            .with_work(Duration::from_secs(1));
        names.push(emu.start_task("p", spec));
    }
    emu.advance(Duration::from_secs(2));
    names.push("projects/p/operations/MISSING0000000000000000".into());
    names.push("not a name".into());
    names.push("projects/other/operations/MISSING0000000000000000".into());
    let client = client(handle.local_addr(), path.transport()).await;
    let options = path.options().with_batch_size(match path {
        Path::RestSingle => 0,
        _ => 7,
    });
    let results: Vec<_> = client.cancel_each_with(&names, options).collect().await;
    assert_eq!(results.len(), names.len());
    let answers = results
        .into_iter()
        .map(|(_, name, r)| {
            let text = match r {
                Ok(()) => "ok".to_owned(),
                Err(e) => format!("{:?} {:?}", e.kind(), e.code()),
            };
            (name, text)
        })
        .collect();
    let states = emu
        .names()
        .into_iter()
        .map(|n| {
            let op = emu.operation(&n).unwrap();
            let effects = emu.effects(&n);
            (n, format!("{:?} {:?}", op.result, effects))
        })
        .collect();
    handle.shutdown().await;
    (answers, states)
}

#[tokio::test]
async fn batch_and_single_calls_give_identical_outcomes() {
    let (single_answers, single_states) = outcomes(Path::RestSingle).await;
    assert_eq!(
        single_answers["projects/p/operations/RUN000000000000000000000"],
        "ok"
    );
    assert_eq!(
        single_answers["projects/p/operations/DONE00000000000000000000"],
        "ok"
    );
    assert_eq!(
        single_answers["projects/p/operations/MISSING0000000000000000"],
        "Service Some(NotFound)"
    );
    assert_eq!(single_answers["not a name"], "InvalidRequest None");
    for path in [Path::RestBatch, Path::Grpc] {
        let (answers, states) = outcomes(path).await;
        assert_eq!(answers, single_answers, "{path:?}");
        assert_eq!(states, single_states, "{path:?}");
    }
}

#[tokio::test]
async fn bulk_get_and_delete_in_batches() {
    let (emu, handle) = serve(config()).await;
    let names = tasks(&emu, 300);
    let client = client(handle.local_addr(), Transport::Rest).await;
    let got: Vec<_> = client
        .get_each_with(&names, BulkOptions::default())
        .collect()
        .await;
    assert_eq!(got.len(), 300);
    for (index, name, result) in got {
        let op = result.unwrap();
        assert_eq!(op.name, names[index]);
        assert_eq!(op.name, name);
        assert!(!op.done);
    }
    // Delete forgets them (once they are done).
    emu.advance(Duration::from_secs(4000));
    let mut deletes = client.delete_each_with(&names, BulkOptions::default());
    let progress = deletes.progress();
    while let Some((_, name, result)) = deletes.next().await {
        result.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert!(progress.requests() < 75, "{} requests", progress.requests());
    assert!(emu.is_empty());
    assert!(
        names
            .iter()
            .all(|n| emu.effects(n).deletes_applied == 1 && emu.effects(n).completions == 1)
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn a_server_without_batch_gets_single_calls() {
    let emu = Emulator::new(config());
    let names = tasks(&emu, 200);
    // The REST routes only: `/batch` answers 404, as on a server that does not have it.
    let batch_hits = Arc::new(AtomicUsize::new(0));
    let hits = Arc::clone(&batch_hits);
    let inner = server::router(emu.clone());
    let app = axum::Router::new()
        .route(
            "/batch",
            axum::routing::any(move || {
                hits.fetch_add(1, Ordering::SeqCst);
                async { (http::StatusCode::NOT_FOUND, "no batch here") }
            }),
        )
        .fallback_service(inner);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let client = client(addr, Transport::Rest).await;
    let mut bulk = client.cancel_each_with(&names, BulkOptions::default());
    let progress = bulk.progress();
    let mut n = 0;
    while let Some((_, name, result)) = bulk.next().await {
        result.unwrap_or_else(|e| panic!("{name}: {e}"));
        n += 1;
    }
    assert_eq!(n, 200);
    // One batch was tried; then one request per cancel.
    assert_eq!(batch_hits.load(Ordering::SeqCst), 1);
    assert_eq!(progress.requests(), 201);
    assert!(
        names
            .iter()
            .all(|n| emu.effects(n).cancels_applied == 1 && emu.operation(n).unwrap().done)
    );
    // The client remembers: a second bulk call sends no batch.
    let again: Vec<_> = client
        .cancel_each_with(&names[..10], BulkOptions::default())
        .collect()
        .await;
    assert!(again.iter().all(|(_, _, r)| r.is_ok()));
    assert_eq!(batch_hits.load(Ordering::SeqCst), 1);
    server.abort();
}

/// Runs the `eeops` binary against `addr` with project `p`.
async fn eeops(addr: SocketAddr, transport: &str, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_eeops"))
        .args(["--transport", transport, "--project", "p"])
        .args(args)
        .env("EEOPS_EMULATOR_HOST", addr.to_string())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_cancels_all_and_many_names_at_a_rate_limit() {
    for transport in ["rest", "grpc"] {
        // A bucket of 100 at 2000/s: 600 cancels cannot all pass at once.
        let (emu, handle) = serve(config().with_rate_limit(Some(2000.0))).await;
        let names = tasks(&emu, 600);
        let o = eeops(
            handle.local_addr(),
            transport,
            &["cancel", "--all", "--yes", "-o", "json"],
        )
        .await;
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{transport}: {err}");
        let lines = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.contains("\"cancel requested\""))
            .count();
        assert_eq!(lines, 600, "{transport}: {err}");
        assert!(names.iter().all(|n| emu.effects(n).cancels_applied == 1));

        // Named: several names are one bulk call; outcomes print in input order.
        let more = tasks(&emu, 150);
        let mut args = vec!["cancel"];
        args.extend(more.iter().map(String::as_str));
        let o = eeops(handle.local_addr(), transport, &args).await;
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{transport}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let printed: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("cancel requested: "))
            .collect();
        assert_eq!(printed, more.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(more.iter().all(|n| emu.effects(n).cancels_applied == 1));
        handle.shutdown().await;
    }
}

#[tokio::test]
async fn the_emulator_refuses_a_rate_limit_that_is_not_a_positive_number() {
    for bad in ["0", "-5", "fast", "NaN"] {
        let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_eeops"))
            .args(["emulator", "--addr", "127.0.0.1:0"])
            .arg(format!("--rate-limit={bad}"))
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("--rate-limit") && err.contains(bad),
            "{bad}: {err}"
        );
    }
}

#[tokio::test]
async fn at_the_deadline_every_name_ends_with_its_last_error() {
    // Every call answered UNAVAILABLE: the bulk call retries until its deadline, then each
    // name yields once, with the server's last answer.
    let (emu, handle) = serve(config().with_unavailable_rate(1.0)).await;
    let names = tasks(&emu, 50);
    for path in PATHS {
        let client = client_with(
            handle.local_addr(),
            path.transport(),
            RetryPolicy::default().with_max_backoff(Duration::from_millis(20)),
        )
        .await;
        let options = path
            .options()
            .with_time_limit(Some(Duration::from_millis(300)));
        let started = std::time::Instant::now();
        let results: Vec<_> = client.cancel_each_with(&names, options).collect().await;
        // A generous bound that only catches a hang.
        assert!(started.elapsed() < Duration::from_secs(30), "{path:?}");
        assert_eq!(results.len(), names.len(), "{path:?}");
        for (_, name, result) in results {
            let err = result.expect_err(&name);
            assert!(
                err.code() == Some(Code::Unavailable) || err.is_timeout(),
                "{path:?}: {name}: {err}"
            );
        }
    }
    assert!(names.iter().all(|n| emu.effects(n).cancels_applied == 0));
    handle.shutdown().await;
}

#[tokio::test]
async fn the_cap_bounds_the_calls_in_flight() {
    // Every call takes 5 ms at the server, which counts the requests it is handling.
    let emu = Emulator::new(config().with_latency(Duration::from_millis(5)));
    let names = tasks(&emu, 120);
    let current = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (c, m) = (Arc::clone(&current), Arc::clone(&most));
    let app = server::router(emu.clone()).layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let (c, m) = (Arc::clone(&c), Arc::clone(&m));
            async move {
                let now = c.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                let resp = next.run(req).await;
                c.fetch_sub(1, Ordering::SeqCst);
                resp
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    for path in [Path::RestSingle, Path::Grpc] {
        most.store(0, Ordering::SeqCst);
        let client = client(addr, path.transport()).await;
        let results: Vec<_> = client
            .cancel_each_with(&names, path.options().with_max_concurrency(8))
            .collect()
            .await;
        assert!(results.iter().all(|(_, _, r)| r.is_ok()), "{path:?}");
        let most = most.load(Ordering::SeqCst);
        assert!((2..=8).contains(&most), "{path:?}: {most} at once");
    }
    server.abort();
}
