//! The Library benchmarks (issue 15): eeops' REST server for Google's Library example against
//! `rest_over_grpc` 0.3 on the same in-memory Library (`examples/library/store.rs`), and eeops'
//! REST client call against a hand-written reqwest call.
//!
//! * `eeops-bench serve-library` (the server process): one `Library` store, seeded with a shelf
//!   of books, served twice on loopback, each as gRPC + REST on one port (the example's tonic
//!   router, with REST as its fallback) by plain `axum::serve` with `TCP_NODELAY`: once with
//!   eeops' REST server ([`eeops_app`]), once with `rest_over_grpc`'s generated transcoder and
//!   tonic bridge ([`rog_app`]).
//! * `--sections library-server`: HTTP/1.1 keep-alive GETs (a book, a page of 10 books, a book
//!   that does not exist) at each concurrency, the two servers measured one after the other in
//!   every round (their order alternating), figures the medians over rounds, ratios the medians
//!   of the per-round ratios.
//! * `--sections library-client`: GetBook through eeops' REST client path against hand-written
//!   reqwest calls, all against the eeops server.
//! * `--library-calls N`: instead of timed rounds, exactly N calls per configuration at
//!   concurrency 1 (for callgrind: two runs with different N give the cost of one call).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use prost_reflect::{DynamicMessage, ReflectMessage as _};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;

use crate::Options;
use crate::library::pb::v1::library_service_server::LibraryService;
use crate::library::pb::v1::{Book, CreateBookRequest, CreateShelfRequest, GetBookRequest, Shelf};
use crate::library::store::Library;
use crate::report::median;

/// eeops' REST server for the Library, with gRPC on the same port.
///
/// eeops' generated `LibraryServiceRest` around `store` (gRPC and REST on one port), as the
/// router eeops' `Server` builds.
pub fn eeops_app(store: Library) -> axum::Router {
    use crate::library::pb::v1::library_service_rest::LibraryServiceRest;
    eeops::server::Server::builder()
        .add_service(LibraryServiceRest::new(store))
        .router()
}

/// `rest_over_grpc`'s REST server for the same Library: its generated `Transcoder` over its
/// generated tonic bridge (no guard: `externally_authenticated`), as an axum router's fallback
/// (REST only: the benchmark sends no gRPC).
pub fn rog_app(store: Library) -> axum::Router {
    use crate::library::pb::v1::__rest_over_grpc_bridge_LibraryService::LibraryServiceRestBridge;
    let bridge = LibraryServiceRestBridge::externally_authenticated(store.clone());
    let transcoder = crate::library::pb::rog::Transcoder::new(bridge);
    let rest = rest_over_grpc::serving::RestService::new(transcoder).with_max_body_bytes(4 << 20);
    axum::Router::new().fallback_service(rest)
}

/// The requests of the server section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `GET /v1/shelves/1/books/1`.
    Get,
    /// `GET /v1/shelves/1/books?pageSize=10`.
    List,
    /// `GET /v1/shelves/1/books/999999999` (NOT_FOUND).
    NotFound,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Get, Kind::List, Kind::NotFound];

    fn key(self) -> &'static str {
        match self {
            Kind::Get => "get",
            Kind::List => "list",
            Kind::NotFound => "notfound",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Get => "GetBook",
            Kind::List => "ListBooks (page of 10)",
            Kind::NotFound => "GetBook, NOT_FOUND",
        }
    }

    fn path(self, seed: &Seed) -> String {
        match self {
            Kind::Get => format!("/v1/{}", seed.book),
            Kind::List => format!("/v1/{}/books?pageSize=10", seed.shelf),
            Kind::NotFound => format!("/v1/{}/books/999999999", seed.shelf),
        }
    }

    fn status(self) -> http::StatusCode {
        match self {
            Kind::NotFound => http::StatusCode::NOT_FOUND,
            _ => http::StatusCode::OK,
        }
    }
}

/// What the server process seeded.
#[derive(Debug, Clone)]
pub struct Seed {
    /// The shelf's name.
    pub shelf: String,
    /// The first book's name.
    pub book: String,
}

/// The server process: seeds the store, serves it both ways, prints the addresses, and runs
/// until its stdin closes.
pub async fn serve_child(books: usize) -> Result<(), String> {
    let (eeops, rog, seed) = start_servers(books).await?;
    let mut out = tokio::io::stdout();
    let hello = format!(
        "eeops {eeops}\nrog {rog}\nshelf {}\nbook {}\nready\n",
        seed.shelf, seed.book
    );
    out.write_all(hello.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    out.flush().await.map_err(|e| e.to_string())?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(_)) = lines.next_line().await {}
    Ok(())
}

/// One store, seeded with a shelf of `books` books, served by eeops ([`eeops_app`]) and by
/// rest_over_grpc ([`rog_app`]) on two loopback ports.
async fn start_servers(books: usize) -> Result<(SocketAddr, SocketAddr, Seed), String> {
    let store = Library::new();
    let shelf = store
        .create_shelf(tonic::Request::new(CreateShelfRequest {
            shelf: Some(Shelf {
                theme: "benchmarks".into(),
                ..Default::default()
            }),
        }))
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    let mut first = None;
    for i in 0..books.max(1) {
        let book = store
            .create_book(tonic::Request::new(CreateBookRequest {
                parent: shelf.name.clone(),
                book: Some(Book {
                    author: format!("Author {i}"),
                    title: format!("Title number {i}, with \"quotes\" and ünïcödé"),
                    read: i % 2 == 0,
                    ..Default::default()
                }),
            }))
            .await
            .map_err(|e| e.to_string())?
            .into_inner();
        first.get_or_insert(book.name);
    }
    let eeops = serve_on_loopback(eeops_app(store.clone())).await?;
    let rog = serve_on_loopback(rog_app(store)).await?;
    let seed = Seed {
        shelf: shelf.name,
        book: first.unwrap_or_default(),
    };
    Ok((eeops, rog, seed))
}

/// Serves `app` on a fresh loopback port with plain `axum::serve` and `TCP_NODELAY`.
async fn serve_on_loopback(app: axum::Router) -> Result<SocketAddr, String> {
    use axum::serve::ListenerExt as _;
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// The driver's side of `serve-library`.
struct LibraryChild {
    process: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
    eeops: SocketAddr,
    rog: SocketAddr,
    seed: Seed,
}

impl LibraryChild {
    async fn start(books: usize) -> Result<LibraryChild, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut process = crate::servers::server_command(exe)
            .arg("serve-library")
            .arg("--library-books")
            .arg(books.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start the Library server process: {e}"))?;
        let stdin = process.stdin.take().ok_or("no stdin")?;
        let stdout = process.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut found = BTreeMap::new();
        loop {
            let line = lines
                .next_line()
                .await
                .map_err(|e| e.to_string())?
                .ok_or("the Library server process ended before it was ready")?;
            if line == "ready" {
                break;
            }
            if let Some((k, v)) = line.split_once(' ') {
                found.insert(k.to_owned(), v.to_owned());
            }
        }
        let get = |k: &str| found.get(k).cloned().ok_or(format!("no `{k}` line"));
        let addr = |k: &str| -> Result<SocketAddr, String> {
            let v = get(k)?;
            v.parse().map_err(|_| format!("bad address `{v}`"))
        };
        Ok(LibraryChild {
            eeops: addr("eeops")?,
            rog: addr("rog")?,
            seed: Seed {
                shelf: get("shelf")?,
                book: get("book")?,
            },
            process,
            stdin: Some(stdin),
        })
    }

    async fn stop(mut self) {
        drop(self.stdin.take());
        // Under callgrind the process writes its counts as it exits: let it.
        let patience = if std::env::var_os("EEOPS_BENCH_SERVER_WRAPPER").is_some() {
            Duration::from_secs(120)
        } else {
            Duration::from_secs(5)
        };
        let _ = tokio::time::timeout(patience, self.process.wait()).await;
        let _ = self.process.kill().await;
    }
}

/// An HTTP/1.1 keep-alive client as a load generator uses it.
fn http1_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1024)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())
}

/// Calls `call` from `concurrency` tasks until `duration` is over (or, with `count`, exactly
/// `count` calls in all); returns (calls, errors, first error, elapsed).
async fn drive<F, Fut>(
    concurrency: usize,
    duration: Duration,
    count: Option<usize>,
    call: F,
) -> (usize, usize, Option<String>, Duration)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let issued = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let call = call.clone();
        let stop = Arc::clone(&stop);
        let issued = Arc::clone(&issued);
        tasks.push(tokio::spawn(async move {
            let (mut calls, mut errors, mut first) = (0usize, 0usize, None);
            loop {
                if let Some(n) = count {
                    if issued.fetch_add(1, Ordering::Relaxed) >= n {
                        break;
                    }
                } else if stop.load(Ordering::Relaxed) {
                    break;
                }
                match call().await {
                    Ok(()) => calls += 1,
                    Err(e) => {
                        errors += 1;
                        first.get_or_insert(e);
                    }
                }
            }
            (calls, errors, first)
        }));
    }
    if count.is_none() {
        tokio::time::sleep(duration).await;
        stop.store(true, Ordering::Relaxed);
    }
    let (mut calls, mut errors, mut first) = (0, 0, None);
    for t in tasks {
        if let Ok((c, e, f)) = t.await {
            calls += c;
            errors += e;
            if first.is_none() {
                first = f;
            }
        }
    }
    (calls, errors, first, started.elapsed())
}

/// One GET expecting `status`, its body read.
async fn get_expecting(
    client: &reqwest::Client,
    url: &str,
    status: http::StatusCode,
) -> Result<(), String> {
    let response = client.get(url).send().await.map_err(|e| e.to_string())?;
    let got = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if got != status {
        return Err(format!(
            "{url}: {got} instead of {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    Ok(())
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<(u16, String, String), String> {
    let response = client.get(url).send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response.text().await.map_err(|e| e.to_string())?;
    Ok((status, content_type, body))
}

/// An answer: status, content type, body.
type Answer = (u16, String, String);

/// What each server answers to each request: (kind, path, eeops' answer, rest_over_grpc's).
async fn answers(
    eeops: SocketAddr,
    rog: SocketAddr,
    seed: &Seed,
) -> Result<Vec<(Kind, String, Answer, Answer)>, String> {
    let client = http1_client()?;
    let mut out = Vec::new();
    for kind in Kind::ALL {
        let path = kind.path(seed);
        let e = fetch(&client, &format!("http://{eeops}{path}")).await?;
        let r = fetch(&client, &format!("http://{rog}{path}")).await?;
        out.push((kind, path, e, r));
    }
    Ok(out)
}

/// Prints what both servers answer to each request, checks that the success answers are the
/// same proto3 JSON, and returns an error if they are not.
async fn compare_answers(child: &LibraryChild) -> Result<(), String> {
    println!("What each server answers (status, content type, body):\n");
    let mut mismatches = Vec::new();
    for (kind, path, (es, ect, ebody), (rs, rct, rbody)) in
        answers(child.eeops, child.rog, &child.seed).await?
    {
        println!("`GET {path}`:\n");
        println!("- eeops: {es} `{ect}` `{}`", ebody.trim_end());
        println!("- rest_over_grpc: {rs} `{rct}` `{}`", rbody.trim_end());
        let parse = |b: &str| serde_json::from_str::<serde_json::Value>(b).ok();
        if kind != Kind::NotFound {
            let same_value = parse(&ebody).is_some() && parse(&ebody) == parse(&rbody);
            let same_bytes = ebody.trim_end() == rbody.trim_end();
            println!(
                "- same JSON value: {same_value}; same bytes (but for a trailing newline): {same_bytes}\n"
            );
            if es != 200 || rs != 200 || !same_value {
                mismatches.push(kind.label());
            }
        } else {
            println!();
            if es != 404 || rs != 404 {
                mismatches.push(kind.label());
            }
        }
    }
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the two servers do not answer alike: {}",
            mismatches.join(", ")
        ))
    }
}

/// `--sections library-server`.
pub async fn server_section(options: &Options) -> Result<(), String> {
    let child = LibraryChild::start(options.library_books).await?;
    let result = server_runs(options, &child).await;
    child.stop().await;
    result
}

async fn server_runs(options: &Options, child: &LibraryChild) -> Result<(), String> {
    println!("## The Library's REST server: eeops against rest_over_grpc 0.3\n");
    compare_answers(child).await?;
    let servers: Vec<(&str, &str, SocketAddr)> = [
        ("eeops", "eeops (generated REST glue)", child.eeops),
        ("rog", "rest_over_grpc 0.3", child.rog),
    ]
    .into_iter()
    .filter(|(k, _, _)| options.library_servers.iter().any(|s| s == k))
    .collect();
    let kinds: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|k| options.library_kinds.iter().any(|s| s == k.key()))
        .collect();
    let client = http1_client()?;

    if let Some(n) = options.library_calls {
        // Counting mode (for callgrind): exactly n calls per configuration, concurrency 1.
        println!("| request | server | calls | errors | seconds |");
        println!("|---|---|---:|---:|---:|");
        for &kind in &kinds {
            for &(_, label, addr) in &servers {
                let url: Arc<str> = format!("http://{addr}{}", kind.path(&child.seed)).into();
                let c = client.clone();
                let (calls, errors, first, elapsed) =
                    drive(1, Duration::ZERO, Some(n), move || {
                        let c = c.clone();
                        let url = Arc::clone(&url);
                        async move { get_expecting(&c, &url, kind.status()).await }
                    })
                    .await;
                if let Some(e) = first {
                    eprintln!("  ! {label}: {errors} errors (first: {e})");
                }
                println!(
                    "| {} | {label} | {calls} | {errors} | {:.2} |",
                    kind.label(),
                    elapsed.as_secs_f64()
                );
            }
        }
        println!();
        return Ok(());
    }

    // rates[(kind, concurrency, server index)] over rounds
    let mut rates: BTreeMap<(Kind, usize, usize), Vec<f64>> = BTreeMap::new();
    let mut errors: BTreeMap<(Kind, usize, usize), usize> = BTreeMap::new();
    for round in 0..options.rounds {
        for &concurrency in &options.concurrency {
            for &kind in &kinds {
                let mut order: Vec<usize> = (0..servers.len()).collect();
                if round % 2 == 1 {
                    order.reverse();
                }
                for index in order {
                    let (_, label, addr) = servers[index];
                    eprintln!(
                        "library-server round {}/{}: {} c={concurrency} {label}",
                        round + 1,
                        options.rounds,
                        kind.label()
                    );
                    let url: Arc<str> = format!("http://{addr}{}", kind.path(&child.seed)).into();
                    let c = client.clone();
                    let call = move || {
                        let c = c.clone();
                        let url = Arc::clone(&url);
                        async move { get_expecting(&c, &url, kind.status()).await }
                    };
                    drive(concurrency, options.warmup, None, call.clone()).await;
                    let (calls, errs, first, elapsed) =
                        drive(concurrency, options.secs, None, call).await;
                    if let Some(e) = first {
                        eprintln!("  ! {label}: {errs} errors (first: {e})");
                    }
                    *errors.entry((kind, concurrency, index)).or_default() += errs;
                    rates
                        .entry((kind, concurrency, index))
                        .or_default()
                        .push(calls as f64 / elapsed.as_secs_f64().max(1e-9));
                }
            }
        }
    }

    println!(
        "HTTP/1.1 keep-alive GETs; both servers in one process on loopback, each gRPC + REST on \
         one port, the same store. Requests/s are medians over {} rounds; the ratio is the \
         median of the per-round ratios eeops / rest_over_grpc (min-max in brackets).\n",
        options.rounds
    );
    println!(
        "| request | concurrency | eeops req/s | rest_over_grpc req/s | eeops / rest_over_grpc |"
    );
    println!("|---|---:|---:|---:|---:|");
    let mut checks = Vec::new();
    for &kind in &kinds {
        for &concurrency in &options.concurrency {
            let series = |i: usize| {
                rates
                    .get(&(kind, concurrency, i))
                    .cloned()
                    .unwrap_or_default()
            };
            if servers.len() < 2 {
                for (i, (_, label, _)) in servers.iter().enumerate() {
                    println!(
                        "| {} | {concurrency} | {label}: {:.0} | | |",
                        kind.label(),
                        median(series(i))
                    );
                }
                continue;
            }
            let (e, r) = (series(0), series(1));
            let ratios: Vec<f64> = e.iter().zip(&r).map(|(a, b)| a / b.max(1e-9)).collect();
            let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = ratios.iter().copied().fold(0.0, f64::max);
            let ratio = median(ratios);
            let errs = errors.get(&(kind, concurrency, 0)).copied().unwrap_or(0)
                + errors.get(&(kind, concurrency, 1)).copied().unwrap_or(0);
            let note = if errs > 0 {
                format!(" ({errs} errors)")
            } else {
                String::new()
            };
            println!(
                "| {}{note} | {concurrency} | {:.0} | {:.0} | {ratio:.3} ({lo:.2}-{hi:.2}) |",
                kind.label(),
                median(e),
                median(r)
            );
            // When the rounds fall on both sides of 1.0, the machine's noise is larger than
            // the difference: the instruction counts (BENCHMARKS.md) decide.
            let spread = if lo < 1.0 && hi > 1.0 {
                format!("; rounds {lo:.2}-{hi:.2} fall on both sides of 1.0")
            } else {
                String::new()
            };
            checks.push(format!(
                "- {} eeops server {} c={concurrency}: {ratio:.2}x rest_over_grpc's requests/s (target >= 1.0x{spread})",
                if ratio >= 1.0 { "MET" } else { "MISSED" },
                kind.label()
            ));
        }
    }
    println!();
    for c in checks {
        println!("{c}");
    }
    println!();
    Ok(())
}

/// The clients of the client section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ClientKind {
    /// eeops' generated REST transport.
    Eeops,
    /// By hand: the URL formatted, reqwest, the JSON read by prost-reflect.
    Hand,
    /// By hand: the URL formatted, reqwest, the JSON read by pbjson's serde code.
    HandPbjson,
}

impl ClientKind {
    const ALL: [ClientKind; 3] = [ClientKind::Eeops, ClientKind::Hand, ClientKind::HandPbjson];

    fn key(self) -> &'static str {
        match self {
            ClientKind::Eeops => "eeops",
            ClientKind::Hand => "hand",
            ClientKind::HandPbjson => "pbjson",
        }
    }

    fn label(self) -> &'static str {
        match self {
            ClientKind::Eeops => "eeops REST (the generated transport)",
            ClientKind::Hand => "hand-written reqwest, prost-reflect JSON",
            ClientKind::HandPbjson => "hand-written reqwest, pbjson serde JSON",
        }
    }
}

/// GetBook the eeops way: the generated trait's `get_book` on eeops' REST transport (the
/// hand-written calls use `client` and `base`).
#[derive(Clone)]
struct EeopsRest {
    transport: eeops::client::rest::RestTransport,
    client: reqwest::Client,
    base: Arc<str>,
}

impl EeopsRest {
    async fn get_book(&self, request: &GetBookRequest) -> Result<Book, String> {
        use crate::library::pb::v1::library_service_stub::LibraryService as _;
        self.transport
            .get_book(request.clone(), eeops::stub::CallOptions::default())
            .await
            .map_err(|e| e.to_string())
    }
}

/// GetBook by hand: the URL formatted from the name, the JSON read by prost-reflect.
async fn hand_get_book(
    client: &reqwest::Client,
    base: &str,
    request: &GetBookRequest,
) -> Result<Book, String> {
    let bytes = hand_fetch(client, base, request).await?;
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let message = DynamicMessage::deserialize(Book::default().descriptor(), &mut de)
        .map_err(|e| e.to_string())?;
    message.transcode_to::<Book>().map_err(|e| e.to_string())
}

/// GetBook by hand, the JSON read by pbjson's generated serde code.
async fn hand_get_book_pbjson(
    client: &reqwest::Client,
    base: &str,
    request: &GetBookRequest,
) -> Result<Book, String> {
    let bytes = hand_fetch(client, base, request).await?;
    serde_json::from_slice::<Book>(&bytes).map_err(|e| e.to_string())
}

async fn hand_fetch(
    client: &reqwest::Client,
    base: &str,
    request: &GetBookRequest,
) -> Result<bytes::Bytes, String> {
    // A book's name is `shelves/{id}/books/{id}`, ids of unreserved characters (the server
    // hands them out), so the name goes into the path as it is.
    let response = client
        .get(format!("{base}/v1/{}", request.name))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
    }
    Ok(bytes)
}

/// A GetBook call of one client kind.
async fn call_client(
    kind: ClientKind,
    eeops: &EeopsRest,
    request: &GetBookRequest,
) -> Result<Book, String> {
    match kind {
        ClientKind::Eeops => eeops.get_book(request).await,
        ClientKind::Hand => hand_get_book(&eeops.client, &eeops.base, request).await,
        ClientKind::HandPbjson => hand_get_book_pbjson(&eeops.client, &eeops.base, request).await,
    }
}

/// `--sections library-client`.
pub async fn client_section(options: &Options) -> Result<(), String> {
    let child = LibraryChild::start(options.library_books).await?;
    let result = client_runs(options, &child).await;
    child.stop().await;
    result
}

async fn client_runs(options: &Options, child: &LibraryChild) -> Result<(), String> {
    println!("## The Library's REST client: eeops against a hand-written reqwest call\n");
    let eeops = EeopsRest {
        transport: eeops::Client::builder()
            .endpoint(format!("http://{}", child.eeops))
            .build_rest_transport()
            .await
            .map_err(|e| e.to_string())?,
        client: http1_client()?,
        base: format!("http://{}", child.eeops).into(),
    };
    let request = Arc::new(GetBookRequest {
        name: child.seed.book.clone(),
    });
    let clients: Vec<ClientKind> = ClientKind::ALL
        .into_iter()
        .filter(|k| options.library_clients.iter().any(|s| s == k.key()))
        .collect();
    // All of them read the same book.
    let mut books = Vec::new();
    for &kind in &clients {
        books.push((kind, call_client(kind, &eeops, &request).await?));
    }
    if let Some((_, first)) = books.first()
        && books.iter().any(|(_, b)| b != first)
    {
        return Err(format!("the clients read different books: {books:?}"));
    }
    println!(
        "All against the eeops server of the Library (GetBook of `{}`); every client checks the \
         answer's status and decodes the book.\n",
        child.seed.book
    );

    let one = |kind: ClientKind| {
        let eeops = eeops.clone();
        let request = Arc::clone(&request);
        move || {
            let eeops = eeops.clone();
            let request = Arc::clone(&request);
            async move { call_client(kind, &eeops, &request).await.map(|_| ()) }
        }
    };

    if let Some(n) = options.library_calls {
        println!("| client | calls | errors | seconds |");
        println!("|---|---:|---:|---:|");
        for &kind in &clients {
            let (calls, errors, first, elapsed) =
                drive(1, Duration::ZERO, Some(n), one(kind)).await;
            if let Some(e) = first {
                eprintln!("  ! {}: {errors} errors (first: {e})", kind.label());
            }
            println!(
                "| {} | {calls} | {errors} | {:.2} |",
                kind.label(),
                elapsed.as_secs_f64()
            );
        }
        println!();
        return Ok(());
    }

    let mut rates: BTreeMap<(usize, ClientKind), Vec<f64>> = BTreeMap::new();
    let mut allocs: BTreeMap<(usize, ClientKind), Vec<f64>> = BTreeMap::new();
    for round in 0..options.rounds {
        for &concurrency in &options.concurrency {
            let mut order = clients.clone();
            if round % 2 == 1 {
                order.reverse();
            }
            for kind in order {
                eprintln!(
                    "library-client round {}/{}: c={concurrency} {}",
                    round + 1,
                    options.rounds,
                    kind.label()
                );
                drive(concurrency, options.warmup, None, one(kind)).await;
                let before = crate::alloc::allocations();
                let (calls, errors, first, elapsed) =
                    drive(concurrency, options.secs, None, one(kind)).await;
                let allocations = crate::alloc::allocations().saturating_sub(before);
                if let Some(e) = first {
                    eprintln!("  ! {}: {errors} errors (first: {e})", kind.label());
                }
                rates
                    .entry((concurrency, kind))
                    .or_default()
                    .push(calls as f64 / elapsed.as_secs_f64().max(1e-9));
                allocs
                    .entry((concurrency, kind))
                    .or_default()
                    .push(allocations as f64 / calls.max(1) as f64);
            }
        }
    }
    println!(
        "Calls/s are medians over {} rounds; the ratio is the median of the per-round ratios to \
         the hand-written call with prost-reflect. Allocations are the client process's.\n",
        options.rounds
    );
    println!("| concurrency | client | calls/s | calls/s / hand-written | allocs/call |");
    println!("|---:|---|---:|---:|---:|");
    for &concurrency in &options.concurrency {
        let base = rates
            .get(&(concurrency, ClientKind::Hand))
            .cloned()
            .unwrap_or_default();
        for &kind in &clients {
            let series = rates.get(&(concurrency, kind)).cloned().unwrap_or_default();
            let ratio = if base.is_empty() {
                f64::NAN
            } else {
                median(
                    series
                        .iter()
                        .zip(&base)
                        .map(|(a, b)| a / b.max(1e-9))
                        .collect(),
                )
            };
            println!(
                "| {concurrency} | {} | {:.0} | {ratio:.3} | {:.1} |",
                kind.label(),
                median(series),
                median(
                    allocs
                        .get(&(concurrency, kind))
                        .cloned()
                        .unwrap_or_default()
                )
            );
        }
    }
    println!();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(body: &str) -> serde_json::Value {
        match serde_json::from_str(body) {
            Ok(v) => v,
            Err(e) => panic!("not JSON ({e}): {body}"),
        }
    }

    /// Both servers give the same proto3 JSON for the successes; the NOT_FOUND answers are
    /// Google's envelope (eeops) and a flat status (rest_over_grpc).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn both_servers_answer_the_same_json_and_their_own_errors() {
        let (eeops, rog, seed) = start_servers(12).await.unwrap();
        for (kind, path, (es, _, ebody), (rs, _, rbody)) in
            answers(eeops, rog, &seed).await.unwrap()
        {
            match kind {
                Kind::Get | Kind::List => {
                    assert_eq!((es, rs), (200, 200), "{path}: {ebody} / {rbody}");
                    assert_eq!(json(&ebody), json(&rbody), "{path}");
                }
                Kind::NotFound => {
                    assert_eq!((es, rs), (404, 404), "{path}");
                    let e = json(&ebody);
                    assert_eq!(e["error"]["status"], "NOT_FOUND", "{ebody}");
                    assert_eq!(e["error"]["code"], 404, "{ebody}");
                    assert_eq!(json(&rbody)["code"], 5, "{rbody}");
                }
            }
        }
        let page = answers(eeops, rog, &seed).await.unwrap();
        let list = &page[1].2.2;
        assert_eq!(
            json(list)["books"].as_array().map(Vec::len),
            Some(10),
            "{list}"
        );
    }
}
