//! The server under hostile or broken clients, over real sockets: slow and idle connections,
//! a connection cap under a low open-file limit, TLS on the shared port, one request hook for
//! both transports, media types and HEAD, and a fault-injecting proxy between the eeops
//! client and the emulator.
//!
//! Timeouts here are short (hundreds of milliseconds) so the tests stay fast; time bounds
//! are generous upper bounds that only catch hangs.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eeops::Client;
use eeops::client::{RetryPolicy, Transport};
use eeops::pb::google::longrunning::GetOperationRequest;
use eeops::pb::google::longrunning::operations_client::OperationsClient;
use eeops::server::emulator::{Emulator, EmulatorConfig, TaskSpec};
use eeops::server::{CallTransport, ServerConfig, ServerHandle, TlsConfig, serve_with};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

const BIN: &str = env!("CARGO_BIN_EXE_eeops");
/// Upper bound for anything that should happen "soon": only catches hangs.
const HANG: Duration = Duration::from_secs(20);
const SHORT: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(120);

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn start(config: ServerConfig) -> (Emulator, ServerHandle) {
    let emu = Emulator::new(EmulatorConfig::default().with_manual_clock(true));
    let handle = serve_with(emu.clone(), any_port(), config)
        .await
        .expect("serve");
    (emu, handle)
}

/// Reads until the peer closes (EOF or reset) and returns what arrived, or panics after
/// [`HANG`].
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(HANG, read_all)
        .await
        .expect("the server should have closed the connection");
    out
}

/// A plain GET answered by the server (its status), proving it still serves.
async fn still_serves(addr: SocketAddr) -> u16 {
    let resp = tokio::time::timeout(
        HANG,
        reqwest::get(format!("http://{addr}/v1/projects/p/operations/NOPE")),
    )
    .await
    .expect("no answer from the server")
    .expect("request failed");
    resp.status().as_u16()
}

#[tokio::test]
async fn partial_headers_are_cut_off_after_the_header_timeout() {
    let config = ServerConfig::default()
        .with_header_timeout(SHORT)
        .with_idle_timeout(LONG);
    let (_emu, h) = start(config).await;
    let mut s = TcpStream::connect(h.local_addr()).await.unwrap();
    let started = Instant::now();
    s.write_all(b"GET /v1/projects/p/operations/X HTTP/1.1\r\nHost: a\r\nX-Slow: ")
        .await
        .unwrap();
    let got = read_until_closed(&mut s).await;
    assert!(started.elapsed() >= SHORT, "closed before the timeout");
    let text = String::from_utf8_lossy(&got);
    assert!(
        got.is_empty() || text.starts_with("HTTP/1.1 408"),
        "unexpected answer: {text}"
    );
    assert_eq!(still_serves(h.local_addr()).await, 404);
    h.shutdown().await;
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let config = ServerConfig::default()
        .with_header_timeout(LONG)
        .with_idle_timeout(SHORT);
    let (_emu, h) = start(config).await;

    // A kept-alive HTTP/1.1 connection after one answered request.
    let mut s = TcpStream::connect(h.local_addr()).await.unwrap();
    s.write_all(b"GET /v1/projects/p/operations/X HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let answered = Instant::now();
    let got = read_until_closed(&mut s).await;
    assert!(
        answered.elapsed() >= SHORT,
        "closed before the idle timeout"
    );
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");

    // A connection that never sends a byte.
    let mut silent = TcpStream::connect(h.local_addr()).await.unwrap();
    assert!(read_until_closed(&mut silent).await.is_empty());

    // An HTTP/2 connection (the client preface, then nothing): closed with a GOAWAY.
    let mut h2 = TcpStream::connect(h.local_addr()).await.unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let types = tokio::time::timeout(HANG, h2_frames_until_closed(&mut h2))
        .await
        .expect("the server should have closed the HTTP/2 connection");
    assert!(types.contains(&GOAWAY), "expected a GOAWAY: {types:?}");

    assert_eq!(still_serves(h.local_addr()).await, 404);
    h.shutdown().await;
}

const GOAWAY: u8 = 0x07;
const PING: u8 = 0x06;

/// Reads HTTP/2 frames (9-byte headers: length, type, flags, stream id) until the server
/// closes, answering its pings as a live client does; returns the frame types seen.
async fn h2_frames_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut types = Vec::new();
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return types,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
        while pending.len() >= 9 {
            let len = usize::from(pending[0]) << 16
                | usize::from(pending[1]) << 8
                | usize::from(pending[2]);
            if pending.len() < 9 + len {
                break;
            }
            let frame: Vec<u8> = pending.drain(..9 + len).collect();
            types.push(frame[3]);
            if frame[3] == PING && frame[4] & 1 == 0 {
                let mut ack = frame.clone();
                ack[4] = 1;
                let _ = stream.write_all(&ack).await;
            }
        }
    }
}

#[tokio::test]
async fn a_stalled_body_is_cut_off_after_the_body_timeout() {
    let config = ServerConfig::default()
        .with_header_timeout(LONG)
        .with_idle_timeout(LONG)
        .with_body_timeout(SHORT);
    let (emu, h) = start(config).await;
    let name = emu.start_task("p", TaskSpec::default().with_start_running(true));
    let mut s = TcpStream::connect(h.local_addr()).await.unwrap();
    let started = Instant::now();
    let head = format!(
        "POST /v1/{name}:wait HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\""
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let got = read_until_closed(&mut s).await;
    assert!(started.elapsed() >= SHORT, "cut before the timeout");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("DEADLINE_EXCEEDED"), "{text}");
    assert_eq!(still_serves(h.local_addr()).await, 404);
    h.shutdown().await;
}

#[tokio::test]
async fn a_stalled_grpc_request_stream_is_cut_off_after_the_body_timeout() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    let config = ServerConfig::default()
        .with_header_timeout(LONG)
        .with_idle_timeout(LONG)
        .with_body_timeout(SHORT);
    let (_emu, h) = start(config).await;
    let channel = tonic::transport::Channel::from_shared(h.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut reflection = ServerReflectionClient::new(channel);
    let started = Instant::now();
    // A request stream that never sends anything, nor ends.
    let ended = tokio::time::timeout(HANG, async {
        let mut answers = reflection
            .server_reflection_info(futures::stream::pending::<ServerReflectionRequest>())
            .await?
            .into_inner();
        while answers.message().await?.is_some() {}
        Ok::<_, tonic::Status>(())
    })
    .await
    .expect("the stalled stream was never cut off");
    assert!(
        started.elapsed() >= SHORT,
        "cut before the timeout: {ended:?}"
    );
    assert_eq!(still_serves(h.local_addr()).await, 404);
    h.shutdown().await;
}

/// The real `eeops emulator` in a child process limited to 64 open files.
struct Child {
    child: tokio::process::Child,
    addr: SocketAddr,
    /// Its log (`-v`), collected as it comes so the pipe never fills.
    log: tokio::task::JoinHandle<String>,
}

impl Child {
    async fn start(extra: &[&str]) -> Option<Child> {
        if std::process::Command::new("prlimit")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("SKIPPED: prlimit is not installed");
            return None;
        }
        let mut child = tokio::process::Command::new("prlimit")
            .args([
                "--nofile=64:64",
                "--",
                BIN,
                "-v",
                "emulator",
                "--addr",
                "127.0.0.1:0",
            ])
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn eeops emulator");
        let mut stderr = child.stderr.take().expect("stderr");
        let log = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
        let banner = tokio::time::timeout(HANG, lines.next_line())
            .await
            .expect("no banner")
            .expect("read banner")
            .expect("banner");
        let addr = banner
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in the banner `{banner}`"));
        Some(Child { child, addr, log })
    }
}

/// Opens up to `n` connections that each send half a request line and then stall. When the
/// kernel refuses more (a full listen backlog on a loaded machine), it stops there: the
/// server is then as full as a client can make it. At least 32 must open.
async fn stalled_connections(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut out = Vec::with_capacity(n);
    'open: for _ in 0..n {
        let mut tries = 0;
        let mut s = loop {
            match TcpStream::connect(addr).await {
                Ok(s) => break s,
                Err(e) if tries < 3 => {
                    tries += 1;
                    eprintln!("connect {}: {e}; trying again", out.len() + 1);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => {
                    eprintln!("connect {}: {e}; the backlog is full", out.len() + 1);
                    break 'open;
                }
            }
        };
        let _ = s.write_all(b"GET /v1/projects/p/operati").await;
        out.push(s);
    }
    assert!(out.len() >= 32, "only {} connections opened", out.len());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_stalled_connections_than_the_cap_and_the_file_limit() {
    // Cap below the open-file limit: the extra connections wait in the backlog. Cap above
    // it: accept fails with EMFILE, and the accept loop must back off and carry on.
    for cap in ["16", "1000"] {
        let Some(mut child) = Child::start(&[
            "--header-timeout",
            "300ms",
            "--idle-timeout",
            "300ms",
            "--max-connections",
            cap,
        ])
        .await
        else {
            return;
        };
        let stalled = stalled_connections(child.addr, 150).await;
        assert_eq!(still_serves(child.addr).await, 404, "cap {cap}");
        drop(stalled);
        assert_eq!(still_serves(child.addr).await, 404, "cap {cap}");
        assert!(
            child.child.try_wait().unwrap().is_none(),
            "the emulator exited (cap {cap})"
        );
        child.child.kill().await.unwrap();
        let log = child.log.await.unwrap();
        // Over the file limit, accept failed and the loop carried on; under it, never.
        let emfile = log.contains("accept failed");
        assert_eq!(emfile, cap == "1000", "cap {cap}: {log}");
    }
}

#[tokio::test]
async fn huge_and_zero_limits_neither_panic_nor_stop_the_server() {
    for (d, n) in [(Duration::MAX, 0), (Duration::ZERO, usize::MAX)] {
        let config = ServerConfig::default()
            .with_header_timeout(d)
            .with_body_timeout(d)
            .with_idle_timeout(d)
            .with_http2_keep_alive_interval(d)
            .with_http2_keep_alive_timeout(d)
            .with_http2_max_concurrent_streams(u32::try_from(n).unwrap_or(u32::MAX))
            .with_max_connections(n)
            .with_shutdown_grace(d);
        let (emu, h) = start(config).await;
        let name = emu.start_task("p", TaskSpec::default());
        for transport in [Transport::Rest, Transport::Grpc] {
            let c = client(&h.url(), transport, None).await.unwrap();
            assert_eq!(
                c.get(&name).await.unwrap().name,
                name,
                "{d:?} {transport:?}"
            );
        }
        tokio::time::timeout(HANG, h.shutdown())
            .await
            .expect("shutdown hung");
    }
    // The same through the command line.
    let out = tokio::process::Command::new(BIN)
        .args(["emulator", "--addr", "127.0.0.1:0", "--idle-timeout", "-1s"])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn emulator_flags_are_checked() {
    for args in [
        &["--max-connections", "0"][..],
        &["--header-timeout", "soon"],
        &["--tls-cert", "/nonexistent/cert.pem"],
    ] {
        let out = tokio::process::Command::new(BIN)
            .args(["emulator", "--addr", "127.0.0.1:0"])
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(args[0]) || err.contains("tls"),
            "{args:?}: {err}"
        );
    }
    let out = tokio::process::Command::new(BIN)
        .args(["emulator", "--addr", "127.0.0.1:0"])
        .args([
            "--tls-cert",
            "/nonexistent/c.pem",
            "--tls-key",
            "/nonexistent/k.pem",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/c.pem"), "{err}");
}

// ---------------------------------------------------------------------------------------
// TLS

struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

/// A certificate authority and a server certificate for 127.0.0.1 and localhost.
fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Names of their own: a leaf whose issuer name equals its subject name looks self-signed
    // to OpenSSL-based clients (grpcio).
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "eeops test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &issuer).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

async fn tls_server(pki: &Pki) -> (Emulator, ServerHandle) {
    let tls = TlsConfig::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap();
    start(ServerConfig::default().with_tls(tls)).await
}

async fn client(url: &str, transport: Transport, root: Option<&str>) -> eeops::Result<Client> {
    let mut b = Client::builder()
        .endpoint(url)
        .transport(transport)
        .anonymous()
        .retry_policy(RetryPolicy::no_retries().with_attempt_timeout(Some(HANG)));
    if let Some(root) = root {
        b = b.add_root_certificate_pem(root.as_bytes());
    }
    b.build().await
}

#[tokio::test]
async fn tls_serves_rest_and_grpc_on_one_port() {
    let pki = pki();
    let (emu, h) = tls_server(&pki).await;
    assert!(h.url().starts_with("https://"));
    let name = emu.start_task("p", TaskSpec::default().with_start_running(true));
    for transport in [Transport::Rest, Transport::Grpc] {
        let c = client(&h.url(), transport, Some(&pki.ca_pem))
            .await
            .unwrap();
        let op = c
            .get(&name)
            .await
            .unwrap_or_else(|e| panic!("{transport:?}: {e}"));
        assert_eq!(op.name, name);
        // Without the private root, the certificate is refused.
        let c = client(&h.url(), transport, None).await.unwrap();
        let err = c.get(&name).await.unwrap_err();
        assert!(
            format!("{err:?}").to_lowercase().contains("certificate"),
            "{transport:?}: {err:?}"
        );
    }
    let c = client(&h.url(), Transport::Rest, Some(&pki.ca_pem))
        .await
        .unwrap();
    c.cancel(&name).await.unwrap();
    assert_eq!(emu.effects(&name).cancels_applied, 1);

    // curl with -k, over HTTP/1.1 and HTTP/2 (ALPN).
    let url = format!("{}/v1/{name}", h.url());
    for version in ["--http1.1", "--http2"] {
        match tokio::process::Command::new("curl")
            .args([
                "-sk",
                version,
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{http_version}",
            ])
            .args(["--max-time", "20"])
            .arg(&url)
            .output()
            .await
        {
            Ok(out) => {
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                let expected = if version == "--http2" {
                    "200 2"
                } else {
                    "200 1.1"
                };
                assert_eq!(text, expected, "curl {version}");
            }
            Err(_) => eprintln!("SKIPPED: curl is not installed"),
        }
    }
    // A gRPC client of another stack over the same TLS port: grpcurl where it is installed,
    // else Python's grpcio (in the interop venv that `.ci/run` makes, named by EEOPS_PYTHON).
    if std::process::Command::new("grpcurl")
        .arg("-version")
        .output()
        .is_ok()
    {
        let out = tokio::process::Command::new("grpcurl")
            .args(["-insecure", "-max-time", "20", "-d"])
            .arg(format!("{{\"name\":\"{name}\"}}"))
            .arg(h.local_addr().to_string())
            .arg("google.longrunning.Operations/GetOperation")
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(&name));
    } else if let Ok(python) = std::env::var("EEOPS_PYTHON") {
        let script = r#"
import sys, grpc
from google.longrunning import operations_pb2, operations_pb2_grpc
addr, name, root = sys.argv[1], sys.argv[2], sys.stdin.read().encode()
channel = grpc.secure_channel(addr, grpc.ssl_channel_credentials(root_certificates=root))
stub = operations_pb2_grpc.OperationsStub(channel)
op = stub.GetOperation(operations_pb2.GetOperationRequest(name=name), timeout=20)
print(op.name)
"#;
        let mut child = tokio::process::Command::new(python)
            .args(["-c", script])
            .arg(h.local_addr().to_string())
            .arg(&name)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use tokio::io::AsyncWriteExt as _;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(pki.ca_pem.as_bytes()).await.unwrap();
        }
        let out = child.wait_with_output().await.unwrap();
        assert!(
            out.status.success(),
            "python grpcio over TLS: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), name);
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs this with grpcurl or EEOPS_PYTHON: neither is there"
        );
        eprintln!("SKIPPED: the gRPC client of another stack (no grpcurl, EEOPS_PYTHON unset)");
    }
    h.shutdown().await;
}

/// The discovery document's `rootUrl` names the scheme the request came in on, so a client
/// built from it (Google's discovery-based clients) talks TLS to a TLS server.
#[tokio::test]
async fn discovery_root_url_follows_the_scheme() {
    let pki = pki();
    let (_emu, tls) = tls_server(&pki).await;
    let (_emu2, plain) = start(ServerConfig::default()).await;
    let root = reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(root)
        .build()
        .unwrap();
    for (server, scheme) in [(&tls, "https"), (&plain, "http")] {
        let doc: serde_json::Value = http
            .get(format!("{}/$discovery/rest?version=v1", server.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let want = format!("{scheme}://{}/", server.local_addr());
        assert_eq!(doc["rootUrl"], want.as_str(), "{scheme}");
    }
    tls.shutdown().await;
    plain.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eeops_emulator_serves_tls_from_pem_files() {
    let pki = pki();
    let dir = std::env::temp_dir().join(format!("eeops-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, &pki.cert_pem).unwrap();
    std::fs::write(&key, &pki.key_pem).unwrap();
    let mut child = tokio::process::Command::new(BIN)
        .args(["emulator", "--addr", "127.0.0.1:0", "--demo-tasks", "1"])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let banner = tokio::time::timeout(HANG, lines.next_line())
        .await
        .expect("no banner")
        .unwrap()
        .unwrap();
    let url = banner
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .unwrap_or_else(|| panic!("no https:// URL in `{banner}`"))
        .to_owned();
    for transport in [Transport::Rest, Transport::Grpc] {
        let c = client(&url, transport, Some(&pki.ca_pem)).await.unwrap();
        let ops: Vec<_> = futures::TryStreamExt::try_collect(c.list("projects/eeops-demo"))
            .await
            .unwrap_or_else(|e| panic!("{transport:?}: {e}"));
        assert_eq!(ops.len(), 1, "{transport:?}");
    }
    child.kill().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn tls_and_plain_text_mismatches_give_clear_errors() {
    let pki = pki();
    let (_emu, tls) = tls_server(&pki).await;
    let (_emu2, plain) = start(ServerConfig::default()).await;
    let name = "projects/p/operations/NOPE";

    // Plain text to the TLS port.
    let plain_url = format!("http://{}", tls.local_addr());
    let c = client(&plain_url, Transport::Rest, None).await.unwrap();
    let err = c.get(name).await.unwrap_err();
    assert!(format!("{err}").contains("TLS"), "REST: {err}");
    let c = client(&plain_url, Transport::Grpc, None).await.unwrap();
    let err = tokio::time::timeout(HANG, c.get(name))
        .await
        .expect("gRPC plain text to a TLS port hung")
        .unwrap_err();
    assert!(format!("{err}").contains("security"), "gRPC: {err}");

    // TLS to the plain port.
    let tls_url = format!("https://{}", plain.local_addr());
    for transport in [Transport::Rest, Transport::Grpc] {
        let c = client(&tls_url, transport, Some(&pki.ca_pem))
            .await
            .unwrap();
        let err = tokio::time::timeout(HANG, c.get(name))
            .await
            .expect("TLS to a plain port hung")
            .unwrap_err();
        assert!(err.is_transport(), "{transport:?}: {err:?}");
        // rustls names what it got: not a TLS record.
        assert!(
            format!("{err:?}").contains("InvalidContentType"),
            "{transport:?}: {err:?}"
        );
    }
    tls.shutdown().await;
    plain.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// The request hook

#[tokio::test]
async fn one_hook_authenticates_both_transports() {
    let seen: Arc<Mutex<Vec<(CallTransport, String)>>> = Arc::default();
    let record = Arc::clone(&seen);
    let config = ServerConfig::default().with_request_hook(move |call| {
        record
            .lock()
            .unwrap()
            .push((call.transport(), call.method().unwrap_or("-").to_owned()));
        assert!(call.remote_addr().is_some_and(|a| a.ip().is_loopback()));
        match call.headers().get("authorization") {
            Some(v) if v == "Bearer secret" => Ok(()),
            _ => Err(tonic::Status::unauthenticated(
                "send authorization: Bearer <token>",
            )),
        }
    });
    let (emu, h) = start(config).await;
    let name = emu.start_task("p", TaskSpec::default());

    // REST: 401 with Google's error shape, then 200 with the token.
    let http = reqwest::Client::new();
    let url = format!("{}/v1/{name}", h.url());
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let body: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED", "{body}");
    assert_eq!(body["error"]["code"], 401, "{body}");
    let resp = http
        .get(&url)
        .header("authorization", "Bearer wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = http
        .get(&url)
        .header("authorization", "Bearer secret")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // gRPC: UNAUTHENTICATED, then the operation with the token.
    let channel = tonic::transport::Channel::from_shared(h.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = OperationsClient::new(channel);
    let status = grpc
        .get_operation(GetOperationRequest { name: name.clone() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let mut req = tonic::Request::new(GetOperationRequest { name: name.clone() });
    req.metadata_mut()
        .insert("authorization", "Bearer secret".parse().unwrap());
    let op = grpc.get_operation(req).await.unwrap().into_inner();
    assert_eq!(op.name, name);

    let seen = seen.lock().unwrap().clone();
    let get = "google.longrunning.Operations/GetOperation".to_owned();
    assert_eq!(
        seen,
        vec![
            (CallTransport::Rest, get.clone()),
            (CallTransport::Rest, get.clone()),
            (CallTransport::Rest, get.clone()),
            (CallTransport::Grpc, get.clone()),
            (CallTransport::Grpc, get),
        ]
    );
    h.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Media types and HEAD

#[tokio::test]
async fn grpc_is_matched_by_exact_media_type() {
    let (_emu, h) = start(ServerConfig::default()).await;
    let http = reqwest::Client::new();
    let url = format!("{}/google.longrunning.Operations/GetOperation", h.url());
    for ct in [
        "application/grpc-web",
        "application/grpc-web+proto",
        "application/GRPC-WEB-TEXT",
        "application/grpc+json",
    ] {
        let resp = http
            .post(&url)
            .header("content-type", ct)
            .body(vec![0u8; 5])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 415, "{ct}");
        let body: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("not served"), "{ct}: {body}");
    }
    // Native gRPC, in any case and with parameters, reaches the gRPC side (which answers a
    // gRPC status even to HTTP/1.1, in the response headers).
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    for ct in ["application/grpc", "Application/GRPC+proto; charset=x"] {
        let resp = h2
            .post(format!(
                "{}/google.longrunning.Operations/NoSuchMethod",
                h.url()
            ))
            .header("content-type", ct)
            .header("te", "trailers")
            .body(vec![0u8; 5])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{ct}");
        assert_eq!(
            resp.headers().get("grpc-status").map(|v| v.as_bytes()),
            Some(&b"12"[..]),
            "{ct}: UNIMPLEMENTED from the gRPC side"
        );
    }
    h.shutdown().await;
}

#[tokio::test]
async fn head_on_a_get_route_answers_like_get_without_a_body() {
    let (emu, h) = start(ServerConfig::default()).await;
    let name = emu.start_task("p", TaskSpec::default());
    let http = reqwest::Client::new();
    for path in [
        format!("/v1/{name}"),
        format!("/v1/{name}:cancel"),
        "/v1/projects/p/operations".to_owned(),
        "/v1/projects/p/operations/NOPE".to_owned(),
        "/$discovery/rest?version=v1".to_owned(),
    ] {
        let url = format!("{}{path}", h.url());
        let get = http.get(&url).send().await.unwrap();
        let get_status = get.status();
        let get_len = get.bytes().await.unwrap().len();
        let head = http.head(&url).send().await.unwrap();
        assert_eq!(head.status(), get_status, "{path}");
        assert_eq!(
            head.headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok()),
            Some(get_len),
            "{path}"
        );
        assert!(head.bytes().await.unwrap().is_empty(), "{path}");
    }
    h.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Fault injection

/// What the proxy does to one connection once `budget` bytes of the answer went through.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Close abruptly (RST).
    Reset,
    /// Close cleanly (FIN) in the middle of an answer.
    Truncate,
    /// Stop forwarding answers, then reset a while later.
    Stall,
}

/// A TCP proxy to `upstream` that lets each connection carry a random number of answer
/// bytes, then breaks it in one of the [`Fault`] ways.
async fn faulty_proxy(upstream: SocketAddr, seed: u64) -> SocketAddr {
    use rand::{Rng as _, SeedableRng as _};
    let listener = TcpListener::bind(any_port()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        loop {
            let Ok((client, _)) = listener.accept().await else {
                continue;
            };
            let fault = match rng.random_range(0..3) {
                0 => Fault::Reset,
                1 => Fault::Truncate,
                _ => Fault::Stall,
            };
            let budget = rng.random_range(0..6000usize);
            tokio::spawn(proxy_one(client, upstream, fault, budget));
        }
    });
    addr
}

async fn proxy_one(mut client: TcpStream, upstream: SocketAddr, fault: Fault, budget: usize) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    {
        let (mut client_rd, mut client_wr) = client.split();
        let (mut server_rd, mut server_wr) = server.split();
        let requests = tokio::io::copy(&mut client_rd, &mut server_wr);
        let answers = async {
            let mut sent = 0usize;
            let mut buf = vec![0u8; 8192];
            loop {
                let n = match server_rd.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let room = budget.saturating_sub(sent).min(n);
                if room > 0 && client_wr.write_all(&buf[..room]).await.is_err() {
                    return;
                }
                sent += room;
                if room < n {
                    return;
                }
            }
        };
        tokio::select! {
            _ = requests => {}
            () = answers => {}
        }
    }
    match fault {
        Fault::Truncate => {
            let _ = client.shutdown().await;
        }
        Fault::Stall => {
            tokio::time::sleep(Duration::from_millis(800)).await;
            reset(&client);
        }
        Fault::Reset => reset(&client),
    }
}

/// Makes dropping the socket send RST instead of FIN.
#[allow(deprecated)]
fn reset(stream: &TcpStream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
}

async fn cancel_many_through_faults(transport: Transport, seed: u64) {
    const N: usize = 2000;
    let config = EmulatorConfig::default()
        .with_manual_clock(true)
        .with_cancel_delay(Duration::from_millis(500));
    let emu = Emulator::new(config);
    let h = serve_with(emu.clone(), any_port(), ServerConfig::default())
        .await
        .unwrap();
    let names: Vec<String> = (0..N)
        .map(|_| {
            emu.start_task(
                "p",
                TaskSpec::default()
                    .with_start_running(true)
                    .with_work(Duration::from_secs(3600)),
            )
        })
        .collect();
    let proxy = faulty_proxy(h.local_addr(), seed).await;
    let c = Client::builder()
        .endpoint(format!("http://{proxy}"))
        .transport(transport)
        .anonymous()
        .retry_policy(
            RetryPolicy::default()
                .with_max_attempts(50)
                .with_initial_backoff(Duration::from_millis(5))
                .with_max_backoff(Duration::from_millis(100))
                .with_attempt_timeout(Some(Duration::from_millis(500)))
                .with_time_limit(Some(Duration::from_secs(60))),
        )
        // Cancel is safe to repeat, so a stalled attempt (a local timeout) is retried too.
        .retry_decider(|_, _, e: &eeops::Error| e.is_retryable() || e.is_timeout())
        .build()
        .await
        .unwrap();
    let started = Instant::now();
    let outcomes = tokio::time::timeout(Duration::from_secs(120), c.cancel_many(&names, 32))
        .await
        .expect("cancel_many did not finish within its deadline");
    eprintln!(
        "{transport:?}: {N} cancels through faults in {:?}",
        started.elapsed()
    );
    let failed: Vec<_> = outcomes.iter().filter(|(_, r)| r.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} failed, e.g. {:?}",
        failed.len(),
        failed.first()
    );

    emu.advance(Duration::from_secs(1));
    for name in &names {
        let op = emu.operation(name).expect("operation kept");
        assert!(op.done, "{name} not done");
        match &op.result {
            Some(eeops::pb::google::longrunning::operation::Result::Error(s)) => {
                assert_eq!(s.code, 1, "{name} not CANCELLED")
            }
            other => panic!("{name} ended {other:?}"),
        }
        let effects = emu.effects(name);
        assert_eq!(effects.cancels_applied, 1, "{name}: {effects:?}");
        assert_eq!(effects.completions, 1, "{name}: {effects:?}");
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_many_through_a_faulty_proxy_rest() {
    cancel_many_through_faults(Transport::Rest, 11).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_many_through_a_faulty_proxy_grpc() {
    cancel_many_through_faults(Transport::Grpc, 12).await;
}

#[tokio::test]
async fn an_ipv4_mapped_loopback_endpoint_counts_as_loopback() {
    let (emu, h) = start(ServerConfig::default()).await;
    let name = emu.start_task("p", TaskSpec::default());
    let url = format!("http://[::ffff:127.0.0.1]:{}", h.local_addr().port());
    // Plain http:// is allowed only to loopback, and loopback gets anonymous credentials:
    // building would fail (or look for Google credentials) otherwise.
    let c = Client::builder()
        .endpoint(&url)
        .build()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    match c.get(&name).await {
        Ok(op) => assert_eq!(op.name, name),
        // Some sandboxes have no IPv6 at all; the decision above is what is under test.
        Err(e) if e.is_transport() => eprintln!("SKIPPED the call: no IPv6 here ({e})"),
        Err(e) => panic!("{e:?}"),
    }
    h.shutdown().await;
}
