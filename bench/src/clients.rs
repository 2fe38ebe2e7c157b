//! The clients compared: eeops over REST and gRPC, the floors under them (the tonic
//! generated client, and reqwest with the requests eeops' REST transport sends), and Google's
//! Rust SDK.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use eeops::client::{Client, Transport};
use eeops::pb::google::longrunning::operations_client::OperationsClient;
use eeops::pb::google::longrunning::{CancelOperationRequest, GetOperationRequest};
use http::HeaderValue;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

/// What eeops sends as `x-goog-api-client` and `user-agent` (the floors send the same).
const API_CLIENT: &str = concat!("gl-rust/1.91 eeops/", "0.1.0");
const USER_AGENT: &str = "eeops/0.1.0";

/// The call measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// GetOperation.
    Get,
    /// CancelOperation.
    Cancel,
}

impl Op {
    pub fn label(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Cancel => "cancel",
        }
    }
}

/// Who makes the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// The tonic generated client over a `Channel`, with eeops' metadata.
    FloorGrpc,
    /// `eeops::Client` with `Transport::Grpc`.
    EeopsGrpc,
    /// reqwest with the path and headers eeops' REST transport sends; the body is read, not
    /// decoded.
    FloorRest,
    /// `eeops::Client` with `Transport::Rest`.
    EeopsRest,
    /// `google_cloud_longrunning::client::Operations` (REST), with anonymous credentials, on
    /// `operations/{id}` names.
    Google,
}

impl Who {
    pub fn label(self) -> &'static str {
        match self {
            Who::FloorGrpc => "floor: tonic client",
            Who::EeopsGrpc => "eeops gRPC",
            Who::FloorRest => "floor: reqwest",
            Who::EeopsRest => "eeops REST",
            Who::Google => "google-cloud-longrunning",
        }
    }

    /// The name `--clients` knows it by.
    pub fn key(self) -> &'static str {
        match self {
            Who::FloorGrpc => "floor-grpc",
            Who::EeopsGrpc => "eeops-grpc",
            Who::FloorRest => "floor-rest",
            Who::EeopsRest => "eeops-rest",
            Who::Google => "google",
        }
    }

    /// Whether this client needs generic (`operations/{id}`) names.
    pub fn generic_names(self) -> bool {
        self == Who::Google
    }

    pub fn floor(self) -> Who {
        match self {
            Who::FloorGrpc | Who::EeopsGrpc => Who::FloorGrpc,
            _ => Who::FloorRest,
        }
    }
}

/// A built client of one kind.
#[derive(Clone)]
pub enum Caller {
    Tonic(OperationsClient<Channel>),
    Reqwest { http: reqwest::Client, base: String },
    Eeops(Client),
    Google(google_cloud_longrunning::client::Operations),
}

impl Caller {
    /// Builds a client of kind `who` for the server at `addr`.
    pub async fn build(who: Who, addr: SocketAddr) -> Result<Caller, String> {
        let endpoint = format!("http://{addr}");
        Ok(match who {
            Who::FloorGrpc => Caller::tonic(addr).await?,
            Who::FloorRest => Caller::reqwest(addr)?,
            Who::EeopsGrpc | Who::EeopsRest => {
                let transport = if who == Who::EeopsGrpc {
                    Transport::Grpc
                } else {
                    Transport::Rest
                };
                let client = Client::builder()
                    .endpoint(endpoint)
                    .transport(transport)
                    .anonymous()
                    .build()
                    .await
                    .map_err(|e| e.to_string())?;
                Caller::Eeops(client)
            }
            Who::Google => {
                let credentials = google_cloud_auth::credentials::anonymous::Builder::new().build();
                let client = google_cloud_longrunning::client::Operations::builder()
                    .with_endpoint(endpoint)
                    .with_credentials(credentials)
                    .build()
                    .await
                    .map_err(|e| e.to_string())?;
                Caller::Google(client)
            }
        })
    }

    /// The tonic generated client over a channel to `addr`.
    pub async fn tonic(addr: SocketAddr) -> Result<Caller, String> {
        let channel = Channel::from_shared(format!("http://{addr}"))
            .map_err(|e| e.to_string())?
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        Ok(Caller::Tonic(OperationsClient::new(channel)))
    }

    /// A reqwest client for `addr`, set up as eeops' REST transport sets up its own.
    pub fn reqwest(addr: SocketAddr) -> Result<Caller, String> {
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Caller::Reqwest {
            http,
            base: format!("http://{addr}"),
        })
    }

    /// One call; an error is returned as text.
    pub async fn call(&mut self, op: Op, name: &str) -> Result<(), String> {
        match self {
            Caller::Tonic(client) => {
                let routing = routing_header(name);
                let result = match op {
                    Op::Get => {
                        let mut req =
                            tonic::Request::new(GetOperationRequest { name: name.into() });
                        add_metadata(req.metadata_mut(), &routing)?;
                        client
                            .get_operation(req)
                            .await
                            .map(|r| drop(r.into_inner()))
                    }
                    Op::Cancel => {
                        let mut req =
                            tonic::Request::new(CancelOperationRequest { name: name.into() });
                        add_metadata(req.metadata_mut(), &routing)?;
                        client.cancel_operation(req).await.map(|_| ())
                    }
                };
                result.map_err(|s| format!("{:?}: {}", s.code(), s.message()))
            }
            Caller::Reqwest { http, base } => {
                // What eeops' REST transport sends: the path from the binding, no body
                // (`content-length: 0`), accept, x-goog-api-client, the routing header and the
                // user agent (set on the client).
                let (method, url) = match op {
                    Op::Get => (http::Method::GET, format!("{base}/v1/{name}")),
                    Op::Cancel => (http::Method::POST, format!("{base}/v1/{name}:cancel")),
                };
                let routing = HeaderValue::from_str(&routing_header(name))
                    .map_err(|_| "bad routing header".to_owned())?;
                let response = http
                    .request(method, url)
                    .header(http::header::ACCEPT, "application/json")
                    .header("x-goog-api-client", HeaderValue::from_static(API_CLIENT))
                    .header("x-goog-request-params", routing)
                    .header(http::header::CONTENT_LENGTH, "0")
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = response.status();
                let body = response.bytes().await.map_err(|e| e.to_string())?;
                if !status.is_success() {
                    return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
                }
                Ok(())
            }
            Caller::Eeops(client) => match op {
                Op::Get => client.get(name).await.map(drop),
                Op::Cancel => client.cancel(name).await,
            }
            .map_err(|e| e.to_string()),
            Caller::Google(client) => match op {
                Op::Get => client.get_operation().set_name(name).send().await.map(drop),
                Op::Cancel => client.cancel_operation().set_name(name).send().await,
            }
            .map_err(|e| e.to_string()),
        }
    }
}

/// `name=<name with every byte outside [-_.~0-9A-Za-z] percent-encoded>`.
fn routing_header(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 16);
    out.push_str("name=");
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn add_metadata(md: &mut tonic::metadata::MetadataMap, routing: &str) -> Result<(), String> {
    md.insert("x-goog-api-client", MetadataValue::from_static(API_CLIENT));
    md.insert(
        "x-goog-request-params",
        routing
            .parse()
            .map_err(|_| "bad routing header".to_owned())?,
    );
    Ok(())
}

/// The latencies of one measured run, and what it cost.
#[derive(Debug, Clone)]
pub struct Sample {
    pub calls: usize,
    pub errors: usize,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// Sorted.
    pub latencies: Vec<Duration>,
    pub allocations: u64,
    pub peak_kib: Option<u64>,
}

impl Sample {
    pub fn calls_per_sec(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn percentile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[i]
    }

    pub fn allocs_per_call(&self) -> f64 {
        self.allocations as f64 / (self.calls.max(1)) as f64
    }
}

/// Runs `op` from `concurrency` tasks, each cycling through `names`, first for `warmup`
/// (unmeasured), then for `duration`.
pub async fn run_calls(
    caller: &Caller,
    op: Op,
    names: Arc<Vec<String>>,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> Sample {
    if !warmup.is_zero() {
        phase(caller, op, &names, concurrency, warmup, false).await;
    }
    crate::alloc::reset_peak();
    let before = crate::alloc::allocations();
    let started = Instant::now();
    let mut sample = phase(caller, op, &names, concurrency, duration, true).await;
    sample.elapsed = started.elapsed();
    sample.allocations = crate::alloc::allocations().saturating_sub(before);
    sample.peak_kib = crate::alloc::peak_kib();
    sample
}

async fn phase(
    caller: &Caller,
    op: Op,
    names: &Arc<Vec<String>>,
    concurrency: usize,
    duration: Duration,
    record: bool,
) -> Sample {
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let mut caller = caller.clone();
        let names = Arc::clone(names);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(if record { 1 << 14 } else { 0 });
            let mut errors = 0usize;
            let mut first_error = None;
            let mut i = worker.wrapping_mul(7919);
            loop {
                let start = Instant::now();
                if start >= deadline {
                    break;
                }
                let name = &names[i % names.len()];
                i = i.wrapping_add(1);
                let result = caller.call(op, name).await;
                if record {
                    latencies.push(start.elapsed());
                }
                if let Err(e) = result {
                    errors += 1;
                    first_error.get_or_insert(e);
                }
            }
            (latencies, errors, first_error)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for task in tasks {
        match task.await {
            Ok((l, e, f)) => {
                all.extend(l);
                errors += e;
                if first_error.is_none() {
                    first_error = f;
                }
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(format!("task failed: {e}"));
            }
        }
    }
    all.sort_unstable();
    Sample {
        calls: all.len(),
        errors,
        first_error,
        elapsed: duration,
        latencies: all,
        allocations: 0,
        peak_kib: None,
    }
}

/// Cancels every name once, from `concurrency` workers sharing one queue (the fastest way the
/// raw clients have); returns the time taken and the number of failures.
pub async fn cancel_all_raw(
    caller: &Caller,
    names: Arc<Vec<String>>,
    concurrency: usize,
) -> (Duration, usize) {
    cancel_all_raw_pool(std::slice::from_ref(caller), names, concurrency).await
}

/// [`cancel_all_raw`] with the workers spread round-robin over several callers (e.g. tonic
/// clients on connections of their own).
pub async fn cancel_all_raw_pool(
    callers: &[Caller],
    names: Arc<Vec<String>>,
    concurrency: usize,
) -> (Duration, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let Some(caller) = callers.get(worker % callers.len().max(1)) else {
            break;
        };
        let mut caller = caller.clone();
        let names = Arc::clone(&names);
        let next = Arc::clone(&next);
        tasks.push(tokio::spawn(async move {
            let mut errors = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(name) = names.get(i) else { break };
                if caller.call(Op::Cancel, name).await.is_err() {
                    errors += 1;
                }
            }
            errors
        }));
    }
    let mut errors = 0;
    for task in tasks {
        errors += task.await.unwrap_or(1);
    }
    (started.elapsed(), errors)
}
