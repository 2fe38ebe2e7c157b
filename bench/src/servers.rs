//! The servers, in a child process: the emulator, a trivial `Operations` (a fixed answer)
//! served through `eeops::server::serve`, the same trivial service on a bare tonic server, a
//! bare axum server answering the same JSON, and the same emulator twice more: through
//! `serve_with` with every timeout off, and its router on plain `axum::serve` (the A/B of the
//! timeouts' and the accept loop's cost). The driver talks to the child over its stdin
//! and stdout, one line at a time.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use eeops::pb::google::longrunning::operations_server::{Operations, OperationsServer};
use eeops::pb::google::longrunning::{
    CancelOperationRequest, DeleteOperationRequest, GetOperationRequest, ListOperationsRequest,
    ListOperationsResponse, Operation, WaitOperationRequest,
};
use eeops::server::emulator::{Emulator, EmulatorConfig, TaskSpec};
use eeops::server::{ServerConfig, ServerHandle};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

/// The project of every benchmark operation.
pub const PROJECT: &str = "bench";

/// The id of operation `i` of the set `prefix`: 24 characters, as Earth Engine's are.
pub fn task_id(prefix: &str, i: usize) -> String {
    format!("{prefix}{i:0width$}", width = 24 - prefix.len())
}

/// Earth Engine names of a set.
pub fn ee_names(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("projects/{PROJECT}/operations/{}", task_id(prefix, i)))
        .collect()
}

/// Generic (`operations/{id}`) names of a set.
pub fn generic_names(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("operations/{}", task_id(prefix, i)))
        .collect()
}

/// The pool's prefix: the operations the get and cancel runs cycle through.
pub const POOL: &str = "P";

fn spec(id: String) -> TaskSpec {
    // Long work: nothing finishes by itself (the clock is manual anyway).
    TaskSpec::default()
        .with_id(id)
        .with_work(Duration::from_secs(86_400))
        .with_start_running(true)
}

/// A service that answers every call with the same operation, doing nothing else.
#[derive(Debug, Clone)]
struct Fixed {
    op: Operation,
}

#[tonic::async_trait]
impl Operations for Fixed {
    async fn list_operations(
        &self,
        _: Request<ListOperationsRequest>,
    ) -> Result<Response<ListOperationsResponse>, Status> {
        Ok(Response::new(ListOperationsResponse::default()))
    }

    async fn get_operation(
        &self,
        _: Request<GetOperationRequest>,
    ) -> Result<Response<Operation>, Status> {
        Ok(Response::new(self.op.clone()))
    }

    async fn delete_operation(
        &self,
        _: Request<DeleteOperationRequest>,
    ) -> Result<Response<()>, Status> {
        Ok(Response::new(()))
    }

    async fn cancel_operation(
        &self,
        _: Request<CancelOperationRequest>,
    ) -> Result<Response<()>, Status> {
        Ok(Response::new(()))
    }

    async fn wait_operation(
        &self,
        _: Request<WaitOperationRequest>,
    ) -> Result<Response<Operation>, Status> {
        Ok(Response::new(self.op.clone()))
    }
}

/// The child: starts the servers, prints their addresses, then answers commands until its
/// stdin closes.
///
/// Commands: `seed PREFIX N` (N Earth Engine operations, running, replacing any of the same
/// name), `gseed PREFIX N` (the same with generic names), `qseed PREFIX N` (the first, on
/// the emulator with a quota), `hwm` (peak RSS in KiB). Each
/// answer is one line.
pub async fn serve_child(pool: usize, rate_limit: f64) -> Result<(), String> {
    let emu = Emulator::new(EmulatorConfig::default().with_manual_clock(true));
    // The same emulator with a request quota, for the quota section.
    let limited = Emulator::new(
        EmulatorConfig::default()
            .with_manual_clock(true)
            .with_rate_limit(Some(rate_limit)),
    );
    seed(&emu, POOL, pool, false);
    seed(&emu, POOL, pool, true);
    let sample = ee_names(POOL, 1).remove(0);
    let op = emu
        .operation(&sample)
        .ok_or("the seeded operation is missing")?;
    let json = Bytes::from(eeops::json::to_json_string(&op).map_err(|e| e.to_string())?);
    let fixed = Fixed { op };

    let any = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let io = |e: std::io::Error| e.to_string();
    let emulator = eeops::server::serve(emu.clone(), any(0))
        .await
        .map_err(io)?;
    let untimed = serve_untimed(emu.clone()).await?;
    let plain = serve_plain_axum(emu.clone()).await?;
    let trivial = eeops::server::serve(fixed.clone(), any(0))
        .await
        .map_err(io)?;
    let quota = eeops::server::serve(limited.clone(), any(0))
        .await
        .map_err(io)?;

    let listener = TcpListener::bind(any(0)).await.map_err(io)?;
    let bare_tonic = listener.local_addr().map_err(io)?;
    // tonic's own `tcp_nodelay` applies only to listeners it binds: set it on each stream.
    let incoming = tokio_stream::StreamExt::map(
        tokio_stream::wrappers::TcpListenerStream::new(listener),
        |tcp| {
            tcp.inspect(|s| {
                let _ = s.set_nodelay(true);
            })
        },
    );
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(OperationsServer::new(fixed))
            .serve_with_incoming(incoming),
    );

    let listener = TcpListener::bind(any(0)).await.map_err(io)?;
    let bare_axum = listener.local_addr().map_err(io)?;
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let json = json.clone();
        async move {
            let body = if req.method() == http::Method::GET {
                json
            } else {
                Bytes::from_static(b"{}")
            };
            ([(http::header::CONTENT_TYPE, "application/json")], body)
        }
    });
    tokio::spawn(async move {
        use axum::serve::ListenerExt as _;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await
    });

    let mut out = tokio::io::stdout();
    let hello = format!(
        "emulator {}\ntrivial {}\nquota {}\nbare-tonic {bare_tonic}\nbare-axum {bare_axum}\nready\n",
        emulator.local_addr(),
        trivial.local_addr(),
        quota.local_addr()
    );
    out.write_all(format!("emulator-axum {plain}\n").as_bytes())
        .await
        .map_err(io)?;
    out.write_all(hello_untimed(&untimed).as_bytes())
        .await
        .map_err(io)?;
    out.write_all(hello.as_bytes()).await.map_err(io)?;
    out.flush().await.map_err(io)?;

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await.map_err(io)? {
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            [cmd @ ("seed" | "gseed"), prefix, n] => match n.parse::<usize>() {
                Ok(n) => {
                    seed(&emu, prefix, n, *cmd == "gseed");
                    "ok".to_owned()
                }
                Err(_) => format!("error: bad count `{n}`"),
            },
            ["qseed", prefix, n] => match n.parse::<usize>() {
                Ok(n) => {
                    seed(&limited, prefix, n, false);
                    "ok".to_owned()
                }
                Err(_) => format!("error: bad count `{n}`"),
            },
            ["hwm"] => eeops_bench_hwm(),
            _ => format!("error: unknown command `{line}`"),
        };
        out.write_all(format!("{answer}\n").as_bytes())
            .await
            .map_err(io)?;
        out.flush().await.map_err(io)?;
    }
    untimed.shutdown().await;
    emulator.shutdown().await;
    trivial.shutdown().await;
    quota.shutdown().await;
    Ok(())
}

/// The server configuration of the A/B against `ServerConfig::default()`: the same, with
/// every timeout and timer off (no header, body or idle timeout, no HTTP/2 pings).
pub fn untimed_config() -> ServerConfig {
    ServerConfig::default()
        .with_header_timeout(None)
        .with_body_timeout(None)
        .with_idle_timeout(None)
        .with_http2_keep_alive_interval(None)
}

/// The same emulator (same store) served through `serve_with(untimed_config())`.
async fn serve_untimed(emu: Emulator) -> Result<ServerHandle, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
    eeops::server::serve_with(emu, addr, untimed_config())
        .await
        .map_err(|e| e.to_string())
}

/// The same emulator's router (`eeops::server::router`) served by plain `axum::serve` with
/// `TCP_NODELAY`, as `eeops::server::serve` served it before it had a `ServerConfig`: no
/// timeouts, no connection cap, no accept loop of eeops' own.
async fn serve_plain_axum(emu: Emulator) -> Result<SocketAddr, String> {
    use axum::serve::ListenerExt as _;
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, eeops::server::router(emu)).await });
    Ok(addr)
}

/// The child's line announcing the untimed emulator (read by [`Child::start`]).
fn hello_untimed(untimed: &ServerHandle) -> String {
    format!("emulator-untimed {}\n", untimed.local_addr())
}

fn eeops_bench_hwm() -> String {
    crate::alloc::peak_kib()
        .map(|k| k.to_string())
        .unwrap_or_else(|| "0".into())
}

fn seed(emu: &Emulator, prefix: &str, n: usize, generic: bool) {
    for i in 0..n {
        let spec = spec(task_id(prefix, i));
        if generic {
            emu.start_generic_task(spec);
        } else {
            emu.start_task(PROJECT, spec);
        }
    }
}

/// The command that starts the server process: `exe`, or `exe` under the command in
/// `EEOPS_BENCH_SERVER_WRAPPER` (words split at whitespace), such as callgrind.
pub(crate) fn server_command(exe: std::path::PathBuf) -> tokio::process::Command {
    let wrapper = std::env::var("EEOPS_BENCH_SERVER_WRAPPER").unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    match words.next() {
        Some(program) => {
            let mut command = tokio::process::Command::new(program);
            command.args(words).arg(exe);
            command
        }
        None => tokio::process::Command::new(exe),
    }
}

/// The driver's side of the child.
pub struct Child {
    process: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    /// The emulator, served by `eeops::server::serve`.
    pub emulator: SocketAddr,
    /// The same emulator, served by `eeops::server::serve_with` with every timeout off
    /// ([`untimed_config`]).
    pub emulator_untimed: SocketAddr,
    /// The same emulator's router on plain `axum::serve`, as before `ServerConfig`.
    pub emulator_axum: SocketAddr,
    /// The fixed-answer service, served by `eeops::server::serve`.
    pub trivial: SocketAddr,
    /// The emulator with a request quota (`--rate-limit`).
    pub quota: SocketAddr,
    /// The fixed-answer service on a bare tonic server (gRPC only).
    pub bare_tonic: SocketAddr,
    /// A bare axum server answering the same JSON (REST only).
    pub bare_axum: SocketAddr,
}

impl Child {
    /// Starts `eeops-bench serve` and reads the servers' addresses.
    pub async fn start(pool: usize, rate_limit: f64) -> Result<Child, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut process = server_command(exe)
            .arg("serve")
            .arg("--pool")
            .arg(pool.to_string())
            .arg("--rate-limit")
            .arg(rate_limit.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start the server process: {e}"))?;
        let stdin = process.stdin.take().ok_or("no stdin")?;
        let stdout = process.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut addrs = std::collections::HashMap::new();
        loop {
            let line = lines
                .next_line()
                .await
                .map_err(|e| e.to_string())?
                .ok_or("the server process ended before it was ready")?;
            if line == "ready" {
                break;
            }
            if let Some((k, v)) = line.split_once(' ') {
                let addr: SocketAddr = v.parse().map_err(|_| format!("bad address `{v}`"))?;
                addrs.insert(k.to_owned(), addr);
            }
        }
        let addr = |k: &str| addrs.get(k).copied().ok_or(format!("no `{k}` address"));
        Ok(Child {
            emulator: addr("emulator")?,
            emulator_untimed: addr("emulator-untimed")?,
            emulator_axum: addr("emulator-axum")?,
            trivial: addr("trivial")?,
            quota: addr("quota")?,
            bare_tonic: addr("bare-tonic")?,
            bare_axum: addr("bare-axum")?,
            process,
            stdin,
            lines,
        })
    }

    async fn command(&mut self, line: &str) -> Result<String, String> {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        self.stdin.flush().await.map_err(|e| e.to_string())?;
        let answer = self
            .lines
            .next_line()
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the server process ended")?;
        if answer.starts_with("error") {
            return Err(answer);
        }
        Ok(answer)
    }

    /// (Re)creates `n` running Earth Engine operations named after `prefix`, and returns
    /// their names.
    pub async fn seed(&mut self, prefix: &str, n: usize) -> Result<Vec<String>, String> {
        self.command(&format!("seed {prefix} {n}")).await?;
        Ok(ee_names(prefix, n))
    }

    /// (Re)creates `n` running operations on the emulator with a quota, and returns their
    /// names.
    pub async fn quota_seed(&mut self, prefix: &str, n: usize) -> Result<Vec<String>, String> {
        self.command(&format!("qseed {prefix} {n}")).await?;
        Ok(ee_names(prefix, n))
    }

    /// The server process's peak resident memory, in KiB.
    pub async fn peak_kib(&mut self) -> Result<u64, String> {
        self.command("hwm")
            .await?
            .parse()
            .map_err(|_| "bad hwm answer".to_owned())
    }

    /// Ends the server process.
    pub async fn stop(mut self) {
        drop(self.stdin);
        // A process under a wrapper (callgrind) writes its results as it exits: let it.
        let patience = if std::env::var_os("EEOPS_BENCH_SERVER_WRAPPER").is_some() {
            Duration::from_secs(120)
        } else {
            Duration::from_secs(5)
        };
        let _ = tokio::time::timeout(patience, self.process.wait()).await;
        let _ = self.process.kill().await;
    }
}
