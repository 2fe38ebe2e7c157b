//! The client's environment, end to end: where credentials and the project come from (a fake
//! home directory and a token endpoint on loopback, never the real user's files or Google),
//! the `-v`/`-vv` call logs of the real binary, endpoints written `host:port`, and binary
//! metadata trusted only from eeops' own gRPC server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use eeops::client::{ClientBuilder, EARTHENGINE_SCOPE, OperationExt, RawValue, Transport};
use eeops::pb::google::earthengine::v1::operation_metadata::State;
use eeops::pb::google::longrunning::operations_server::OperationsServer;
use eeops::server::emulator::{Emulator, EmulatorConfig, TaskSpec};
use eeops::server::{ServerHandle, serve};
use futures::TryStreamExt as _;
use tokio::net::TcpListener;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_eeops");
const TRANSPORTS: [&str; 2] = ["rest", "grpc"];

/// A fresh, empty directory to serve as `HOME`.
fn temp_home(tag: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("eeops-env-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp home");
    dir
}

/// Writes an Earth Engine credentials file (as `earthengine authenticate` does, plus a
/// `token_uri` on loopback) under `home`, and returns its path.
fn write_ee_file(home: &Path, token_uri: &str) -> PathBuf {
    let dir = home.join(".config/earthengine");
    std::fs::create_dir_all(&dir).expect("ee dir");
    let path = dir.join("credentials");
    let body = serde_json::json!({
        "refresh_token": "fake-refresh-token",
        "client_id": "fake-client.apps.example",
        "client_secret": "fake-secret",
        "scopes": [EARTHENGINE_SCOPE],
        "project": "ee-file-project",
        "token_uri": token_uri,
    });
    std::fs::write(&path, body.to_string()).expect("ee file");
    path
}

/// What the fake service saw.
#[derive(Default)]
struct Seen {
    token_requests: Vec<serde_json::Value>,
    api_headers: Vec<HashMap<String, String>>,
}

/// A loopback server with an OAuth token endpoint (`POST /token`, answering `tok-from-file`,
/// or refusing the refresh token as Google does for a revoked one) and, on every other path,
/// one Earth Engine operation in JSON; it records what it gets.
async fn fake_google(refuse_tokens: bool) -> (SocketAddr, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let record = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |req: Request| {
        let record = Arc::clone(&record);
        async move {
            let (parts, body) = req.into_parts();
            let bytes = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            let json = |s: String| {
                http::Response::builder()
                    .header("content-type", "application/json")
                    .body(Body::from(s))
                    .expect("response")
            };
            if parts.uri.path() == "/token" {
                let v = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
                record.lock().unwrap().token_requests.push(v);
                if refuse_tokens {
                    let mut r = json(
                        r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#
                            .into(),
                    );
                    *r.status_mut() = http::StatusCode::BAD_REQUEST;
                    return r;
                }
                return json(
                    r#"{"access_token":"tok-from-file","token_type":"Bearer","expires_in":3600}"#
                        .into(),
                );
            }
            let headers = parts
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            record.lock().unwrap().api_headers.push(headers);
            let name = parts
                .uri
                .path()
                .trim_start_matches("/v1/")
                .trim_end_matches(":cancel")
                .to_owned();
            json(serde_json::json!({"name": name, "done": false}).to_string())
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, seen)
}

/// The binary with a fake home and none of the caller's credential, project or emulator
/// variables.
fn eeops(home: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env("HOME", home)
        .env("USERPROFILE", home)
        .env("APPDATA", home)
        .stdin(std::process::Stdio::null());
    for var in [
        "EEOPS_EMULATOR_HOST",
        "EEOPS_ENDPOINT",
        "EEOPS_TRANSPORT",
        "EARTHENGINE_PROJECT",
        "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_CLOUD_QUOTA_PROJECT",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "CLOUDSDK_CONFIG",
        "CLOUDSDK_CORE_PROJECT",
        "CLOUDSDK_ACTIVE_CONFIG_NAME",
        "GCE_METADATA_HOST",
        "K_SERVICE",
        "CLOUD_RUN_JOB",
        "FUNCTION_TARGET",
        "RUST_LOG",
        "NO_COLOR",
    ] {
        c.env_remove(var);
    }
    c
}

async fn run(mut c: Command) -> Output {
    tokio::time::timeout(Duration::from_secs(60), c.output())
        .await
        .expect("eeops hung")
        .expect("run eeops")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

async fn emulator() -> (Emulator, ServerHandle) {
    let emu = Emulator::new(EmulatorConfig::default().with_manual_clock(true));
    let handle = serve(emu.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("serve");
    (emu, handle)
}

fn running_task() -> TaskSpec {
    TaskSpec::default()
        .with_task_type("EXPORT_IMAGE")
        .with_description("an export")
        .with_start_running(true)
        .with_work(Duration::from_secs(3600))
}

// ---------------------------------------------------------------------------------------
// Credentials and the project

/// A buffer that a tracing subscriber writes into.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The Earth Engine file is found after application default credentials (none here), read
/// through google-cloud-auth's authorized-user credentials (token from the file's
/// `token_uri`), and its project is the default project and the quota project. The TRACE
/// log of the call shows the headers with the token redacted.
#[tokio::test]
async fn earth_engine_file_credentials_reach_the_server() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (addr, seen) = fake_google(false).await;
    let home = temp_home("lib");
    let file = write_ee_file(&home, &format!("http://{addr}/token"));
    let home_text = home.display().to_string();
    let client = ClientBuilder::from_env_with(|k| match k {
        "HOME" => Some(home_text.clone()),
        _ => None,
    })
    .endpoint(format!("http://{addr}"))
    // A loopback endpoint is anonymous unless asked otherwise.
    .scopes([EARTHENGINE_SCOPE])
    .build()
    .await
    .expect("client");
    assert_eq!(
        client.credentials_source(),
        format!("Earth Engine credentials file {}", file.display())
    );
    assert_eq!(client.project(), Some("ee-file-project"));

    // Other tests of this binary hit the client's callsites first, on threads without a
    // subscriber; a callsite registered while this thread's subscriber was being set up can
    // keep the interest it had before (a race in tracing's callsite registry). So the
    // callsites are asked again before the call, and the call is made again (at most twice
    // more) if its TRACE lines did not arrive.
    for _ in 0..3 {
        tracing::callsite::rebuild_interest_cache();
        let op = client.get("ABCDEF").await.expect("get");
        assert_eq!(op.name, "projects/ee-file-project/operations/ABCDEF");
        if String::from_utf8_lossy(&logs.0.lock().unwrap()).contains("request headers") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.token_requests.len(), 1);
    assert_eq!(
        seen.token_requests[0]["refresh_token"], "fake-refresh-token",
        "{:?}",
        seen.token_requests[0]
    );
    assert_eq!(
        seen.token_requests[0]["client_id"],
        "fake-client.apps.example"
    );
    let h = &seen.api_headers[0];
    assert_eq!(h["authorization"], "Bearer tok-from-file");
    assert_eq!(h["x-goog-user-project"], "ee-file-project");

    // Which TRACE lines reach this thread's subscriber is not reliable while other tests of
    // the binary hit the same callsites (a race in tracing's callsite registry); the
    // redaction itself is tested in `common::tests::secrets_are_not_logged`. What did arrive
    // must not hold the token.
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(!logs.contains("tok-from-file"), "the token leaked: {logs}");
    let _ = std::fs::remove_dir_all(&home);
}

/// Application default credentials come first; then the file's project is still the
/// default one; a plain loopback endpoint stays anonymous without asking.
#[tokio::test(flavor = "multi_thread")]
async fn application_default_credentials_come_first() {
    let home = temp_home("adc");
    write_ee_file(&home, "http://127.0.0.1:9/token");
    let adc_dir = home.join(".config/gcloud");
    std::fs::create_dir_all(&adc_dir).unwrap();
    let home_text = home.display().to_string();
    let vars = |k: &str| match k {
        "HOME" => Some(home_text.clone()),
        _ => None,
    };
    // Without gcloud's file: the Earth Engine file (nothing is sent to the endpoint).
    let client = ClientBuilder::from_env_with(vars)
        .endpoint("eeops.invalid:443")
        .build()
        .await
        .unwrap();
    assert!(
        client
            .credentials_source()
            .starts_with("Earth Engine credentials file"),
        "{}",
        client.credentials_source()
    );
    // A loopback endpoint: anonymous, whatever files there are.
    for endpoint in ["127.0.0.1:9", "https://localhost:9"] {
        let client = ClientBuilder::from_env_with(vars)
            .endpoint(endpoint)
            .build()
            .await
            .unwrap();
        assert_eq!(client.credentials_source(), "anonymous", "{endpoint}");
    }
    // gcloud's file comes first (google-cloud-auth reads HOME from the process, so only
    // which source was chosen is checked here).
    std::fs::write(
        adc_dir.join("application_default_credentials.json"),
        r#"{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r"}"#,
    )
    .unwrap();
    let chosen = ClientBuilder::from_env_with(vars)
        .endpoint("eeops.invalid:443")
        .build()
        .await
        .map(|c| c.credentials_source().to_owned());
    match chosen {
        Ok(source) => assert!(
            source.starts_with("application default credentials ("),
            "{source}"
        ),
        // The process's own HOME has no such file: google-cloud-auth says so, by its name.
        Err(e) => assert!(e.to_string().contains("application default"), "{e}"),
    }
    assert_eq!(client.project(), Some("ee-file-project"));
    // A variable wins over the file's project.
    let client = ClientBuilder::from_env_with(|k| match k {
        "EARTHENGINE_PROJECT" => Some("from-env".into()),
        k => vars(k),
    })
    .endpoint("127.0.0.1:9")
    .build()
    .await
    .unwrap();
    assert_eq!(client.project(), Some("from-env"));
    let _ = std::fs::remove_dir_all(&home);
}

/// The binary finds the Earth Engine file too: `-v` says which credentials and how the
/// endpoint was read, the token endpoint gets the file's refresh token, and the bare id takes
/// the file's project. The token endpoint refuses the token, so nothing is sent to the
/// endpoint (`eeops.invalid`, which never resolves): one error, exit 3.
#[tokio::test(flavor = "multi_thread")]
async fn cli_reads_the_earth_engine_file() {
    let (addr, seen) = fake_google(true).await;
    let home = temp_home("cli");
    let file = write_ee_file(&home, &format!("http://{addr}/token"));
    let mut c = eeops(&home);
    c.args(["-v", "--endpoint", "eeops.invalid:443", "get", "ABCDEF"]);
    let out = run(c).await;
    let err = stderr(&out);
    assert_eq!(code(&out), 3, "{err}");
    assert!(
        err.contains(&format!(
            "credentials: Earth Engine credentials file {}",
            file.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("means https://eeops.invalid:443 (no scheme, not a loopback host: TLS)"),
        "{err}"
    );
    assert!(
        err.contains("error: projects/ee-file-project/operations/ABCDEF: authentication error"),
        "{err}"
    );
    assert_eq!(err.matches("expired or revoked").count(), 1, "{err}");
    assert!(!err.contains("fake-refresh-token"), "{err}");
    assert!(!err.contains("eeops::call"), "a call was sent: {err}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.token_requests.len(), 1);
    assert_eq!(
        seen.token_requests[0]["refresh_token"],
        "fake-refresh-token"
    );
    assert!(seen.api_headers.is_empty());
    let _ = std::fs::remove_dir_all(&home);
}

/// Whether this machine looks like Google Cloud to the credential search (then the metadata
/// server is a credential source and "nothing found" cannot happen).
fn on_google_cloud() -> bool {
    std::fs::read_to_string("/sys/class/dmi/id/product_name")
        .is_ok_and(|n| n.trim().starts_with("Google"))
}

/// Nothing found: one short message naming what was tried and the two commands, and no
/// second hint; nothing is sent (the endpoint is a closed port and `-v` shows no call).
#[tokio::test(flavor = "multi_thread")]
async fn cli_without_credentials_says_what_to_run() {
    if on_google_cloud() {
        eprintln!("skipped: on Google Cloud the metadata server is a credential source");
        return;
    }
    let home = temp_home("none");
    let mut c = eeops(&home);
    c.args([
        "-v",
        "--endpoint",
        "example.com:8443",
        "--project",
        "p",
        "get",
        "ABCDEF",
    ]);
    let out = run(c).await;
    let err = stderr(&out);
    assert_eq!(code(&out), 3, "{err}");
    // Without a scheme, a host that is not loopback means TLS.
    assert!(
        err.contains("means https://example.com:8443 (no scheme, not a loopback host: TLS)"),
        "{err}"
    );
    let error_lines: Vec<&str> = err.lines().filter(|l| !l.contains(" DEBUG ")).collect();
    assert_eq!(error_lines.len(), 1, "{err}");
    let line = error_lines[0];
    assert!(
        line.starts_with("error: authentication error: no credentials found"),
        "{line}"
    );
    for part in [
        "GOOGLE_APPLICATION_CREDENTIALS (not set)",
        ".config/gcloud/application_default_credentials.json (not there)",
        ".config/earthengine/credentials (not there)",
        "metadata server (not on Google Cloud)",
        "`gcloud auth application-default login`",
        "`earthengine authenticate`",
    ] {
        assert!(line.contains(part), "missing {part}: {line}");
    }
    assert!(!err.contains("eeops::call"), "a call was made: {err}");
    let _ = std::fs::remove_dir_all(&home);
}

// ---------------------------------------------------------------------------------------
// Logs and addresses

/// `-v`: one line per call with transport, RPC, method and path (REST), status, latency and
/// attempt; no colour into a pipe; no HTTP/2 internals even at `-vv`. The endpoint is written
/// `127.0.0.1:PORT` and `localhost:PORT` (plaintext, as loopback).
#[tokio::test(flavor = "multi_thread")]
async fn cli_verbose_lines_name_the_call() {
    let (emu, h) = emulator().await;
    let name = emu.start_task("logs", running_task());
    let home = temp_home("logs");
    for transport in TRANSPORTS {
        for host in ["127.0.0.1", "localhost"] {
            let endpoint = format!("{host}:{}", h.local_addr().port());
            let mut c = eeops(&home);
            c.args(["-v", "--transport", transport, "--endpoint", &endpoint])
                .args(["get", &name, "projects/logs/operations/NOSUCH"]);
            let out = run(c).await;
            let err = stderr(&out);
            assert_eq!(code(&out), 1, "{transport} {host}: {err}");
            assert!(stdout(&out).contains("EXPORT_IMAGE"), "{}", stdout(&out));
            assert!(
                err.contains(&format!(
                    "endpoint `{endpoint}` means http://{endpoint} (no scheme, loopback host: plaintext)"
                )),
                "{err}"
            );
            assert!(err.contains("credentials: anonymous"), "{err}");
            let calls: Vec<&str> = err.lines().filter(|l| l.contains("eeops::call")).collect();
            assert_eq!(calls.len(), 2, "one line per call: {err}");
            // The two gets run concurrently: their lines come in either order.
            let (missing, ok): (Vec<&str>, Vec<&str>) = calls
                .iter()
                // (By the status field: a latency's digits may hold `404`.)
                .partition(|l| l.contains("status=NOT_FOUND") || l.contains("status=404"));
            assert_eq!((ok.len(), missing.len()), (1, 1), "{err}");
            let (ok, missing) = (ok[0], missing[0]);
            for line in &calls {
                assert!(line.contains(&format!("transport={transport}")), "{line}");
                assert!(line.contains("rpc=GetOperation"), "{line}");
                assert!(line.contains("latency="), "{line}");
                assert!(line.contains("attempt=1"), "{line}");
            }
            if transport == "rest" {
                assert!(ok.contains("method=GET"), "{ok}");
                assert!(ok.contains(&format!("path=/v1/{name}")), "{ok}");
                assert!(ok.contains("status=200 OK"), "{ok}");
                assert!(missing.contains("status=404 Not Found"), "{missing}");
            } else {
                assert!(
                    ok.contains("path=/google.longrunning.Operations/GetOperation"),
                    "{ok}"
                );
                assert!(ok.contains("status=OK"), "{ok}");
                assert!(missing.contains("status=NOT_FOUND"), "{missing}");
            }
            assert!(!err.contains('\u{1b}'), "colour codes into a pipe: {err:?}");
        }
        // -vv: headers, but nothing from h2, hyper or tonic.
        let mut c = eeops(&home);
        c.args(["-vv", "--transport", transport]).args([
            "--endpoint",
            &h.local_addr().to_string(),
            "get",
            &name,
        ]);
        let out = run(c).await;
        let err = stderr(&out);
        assert_eq!(code(&out), 0, "{err}");
        assert!(
            err.contains("x-goog-request-params: name=projects%2Flogs"),
            "{err}"
        );
        for noise in ["h2::", "hyper", "tonic::", "reqwest::", "frame"] {
            assert!(!err.contains(noise), "{noise} in -vv: {err}");
        }
    }
    let _ = std::fs::remove_dir_all(&home);
    h.shutdown().await;
}

/// `RUST_LOG` replaces `-v`: on its own it turns the call lines on, and `off` silences `-v`.
#[tokio::test(flavor = "multi_thread")]
async fn cli_honours_rust_log() {
    let (emu, h) = emulator().await;
    let name = emu.start_task("logs", running_task());
    let home = temp_home("rustlog");
    let endpoint = h.local_addr().to_string();
    let mut c = eeops(&home);
    c.env("RUST_LOG", "eeops::call=debug")
        .args(["--endpoint", &endpoint, "get", &name]);
    let out = run(c).await;
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    assert_eq!(
        err.lines().filter(|l| l.contains("eeops::call")).count(),
        1,
        "{err}"
    );
    assert!(
        !err.contains("credentials:"),
        "only eeops::call was asked: {err}"
    );
    let mut c = eeops(&home);
    c.env("RUST_LOG", "off")
        .args(["-v", "--endpoint", &endpoint, "get", &name]);
    let out = run(c).await;
    assert_eq!(code(&out), 0);
    assert_eq!(stderr(&out), "");
    let _ = std::fs::remove_dir_all(&home);
    h.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Metadata: trusted only from eeops' own gRPC server

/// The same emulator behind a plain tonic server: the `google.longrunning.Operations` service
/// and nothing of eeops' server (so no `x-eeops-server` header).
async fn plain_tonic_server(emu: Emulator) -> SocketAddr {
    let app = tonic::service::Routes::new(OperationsServer::new(emu))
        .prepare()
        .into_axum_router();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_metadata_is_verified_only_from_eeops_server() {
    let (emu, h) = emulator().await;
    let name = emu.start_task("md", running_task());
    let plain = plain_tonic_server(emu.clone()).await;
    let client = |addr: SocketAddr, transport| {
        ClientBuilder::new()
            .endpoint(addr.to_string())
            .transport(transport)
            .build()
    };

    // eeops' server, over gRPC and REST: the metadata is a fact.
    let mut verified = Vec::new();
    for transport in [Transport::Grpc, Transport::Rest] {
        let c = client(h.local_addr(), transport).await.unwrap();
        let op = c.get(&name).await.unwrap();
        assert!(!op.metadata_unverified(), "{transport:?}");
        let md = op.metadata().expect("metadata");
        assert_eq!(md.r#type, "EXPORT_IMAGE");
        assert_eq!(md.description, "an export");
        assert!(op.state().is_some());
        verified.push(md);
    }
    assert_eq!(verified[0], verified[1]);
    let grpc_eeops = client(h.local_addr(), Transport::Grpc).await.unwrap();
    let bytes_from_eeops = match grpc_eeops.get(&name).await.unwrap().raw_metadata() {
        Some(RawValue::Binary { value, .. }) => value,
        other => panic!("{other:?}"),
    };

    // A plain tonic server of the same service: unverified, for get, list and wait.
    let c = client(plain, Transport::Grpc).await.unwrap();
    let op = c.get(&name).await.unwrap();
    assert!(op.metadata_unverified());
    assert_eq!(op.metadata(), None);
    assert_eq!(op.state(), None);
    assert_eq!(op.progress(), None);
    // The guess is there for whoever asks for it by that name, and the bytes as they came.
    assert_eq!(op.unverified_metadata().as_ref(), Some(&verified[0]));
    match op.raw_metadata() {
        Some(RawValue::Binary { value, .. }) => assert_eq!(value, bytes_from_eeops),
        other => panic!("{other:?}"),
    }
    let listed: Vec<_> = c.list("projects/md").try_collect().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].metadata_unverified());
    let waited = c
        .wait_with_progress(&name, Duration::from_millis(300), |_| {})
        .await;
    assert!(waited.unwrap_err().is_timeout());
    h.shutdown().await;
}

/// The binary over gRPC against the plain server: `get`, `list` and `wait` show only what the
/// operation proves and say that details need REST; against eeops' server, no such note.
#[tokio::test(flavor = "multi_thread")]
async fn cli_shows_what_the_operation_proves() {
    let (emu, h) = emulator().await;
    let running = emu.start_task("md", running_task());
    let plain = plain_tonic_server(emu.clone()).await;
    let home = temp_home("md");
    let cmd = |addr: SocketAddr, args: &[&str]| {
        let mut c = eeops(&home);
        c.args(["--transport", "grpc", "--project", "md", "--endpoint"])
            .arg(addr.to_string())
            .args(args);
        run(c)
    };

    let out = cmd(plain, &["get", &running]).await;
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(text.contains("state         running\n"), "{text}");
    assert!(text.contains("details need --transport rest"), "{text}");
    assert!(
        !text.contains("EXPORT_IMAGE"),
        "a guess shown as fact: {text}"
    );

    let out = cmd(plain, &["list"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let row = stdout(&out);
    assert!(row.contains(" running "), "{row}");
    assert!(!row.contains("EXPORT_IMAGE"), "{row}");
    assert!(
        stderr(&out).contains("details need --transport rest"),
        "{}",
        stderr(&out)
    );

    let out = cmd(plain, &["-o", "json", "get", &running]).await;
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("json");
    assert_eq!(v["metadata"]["unverified"], true, "{v}");
    assert!(v["metadata"].get("description").is_none(), "{v}");

    // A finished operation: its outcome is proven by the operation itself.
    let done = emu.start_task("md", TaskSpec::default().with_task_type("EXPORT_VIDEO"));
    let c = ClientBuilder::new()
        .endpoint(h.local_addr().to_string())
        .build()
        .await
        .unwrap();
    c.cancel(&done).await.unwrap();
    emu.advance(Duration::from_secs(5));
    let out = cmd(plain, &["--timeout", "20s", "wait", &done]).await;
    assert!(stdout(&out).starts_with("cancelled"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("details need --transport rest"),
        "{}",
        stderr(&out)
    );

    // eeops' own server: the facts, no note.
    let out = cmd(h.local_addr(), &["get", &running]).await;
    let text = stdout(&out);
    assert!(text.contains("EXPORT_IMAGE"), "{text}");
    assert!(!text.contains("--transport rest"), "{text}");
    let out = cmd(h.local_addr(), &["list"]).await;
    assert!(
        !stderr(&out).contains("--transport rest"),
        "{}",
        stderr(&out)
    );
    let _ = std::fs::remove_dir_all(&home);
    h.shutdown().await;
}

/// `cancel --all` over gRPC against a server other than eeops': without --state, every
/// unfinished task is cancelled (the operation proves "not done", which is all it needs);
/// with --state, which unverified metadata cannot answer, it refuses and cancels nothing.
#[tokio::test(flavor = "multi_thread")]
async fn cli_cancel_all_with_unverified_metadata() {
    let (emu, h) = emulator().await;
    let a = emu.start_task("md", running_task());
    let b = emu.start_task("md", running_task());
    let plain = plain_tonic_server(emu.clone()).await;
    let home = temp_home("cancel-all");
    let cmd = |args: &[&str]| {
        let mut c = eeops(&home);
        c.args(["--transport", "grpc", "--project", "md", "--endpoint"])
            .arg(plain.to_string())
            .args(args);
        run(c)
    };
    let c = ClientBuilder::new()
        .endpoint(h.local_addr().to_string())
        .build()
        .await
        .unwrap();
    // Read through eeops' server, whose metadata is verified.
    let state = |name: String| {
        let c = c.clone();
        async move { c.get(&name).await.unwrap().state() }
    };
    let running = Some(State::Running);
    let cancelling = Some(State::Cancelling);

    let out = cmd(&["cancel", "--all", "--state", "RUNNING", "--yes"]).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--transport rest"),
        "{}",
        stderr(&out)
    );
    assert_eq!(state(a.clone()).await, running);
    assert_eq!(state(b.clone()).await, running);

    let out = cmd(&["cancel", "--all", "--yes"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(state(a).await, cancelling);
    assert_eq!(state(b).await, cancelling);
    let _ = std::fs::remove_dir_all(&home);
    h.shutdown().await;
}

/// A token endpoint that cannot be reached: one error naming the credentials file and what
/// failed underneath, without google-cloud-auth's wrappers repeating each other.
#[tokio::test(flavor = "multi_thread")]
async fn unreachable_token_endpoint_is_one_clear_error() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let home = temp_home("token");
    let file = write_ee_file(&home, &format!("http://{closed}/token"));
    let home_text = home.display().to_string();
    let client = ClientBuilder::from_env_with(|k| (k == "HOME").then(|| home_text.clone()))
        .endpoint("eeops.invalid:443")
        .build()
        .await
        .unwrap();
    let err = client.get("ABCDEF").await.unwrap_err();
    assert!(err.is_auth(), "{err}");
    let text = err.to_string();
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(text.contains(&format!("http://{closed}/token")), "{text}");
    assert_eq!(text.matches("future attempts").count(), 0, "{text}");
    let _ = std::fs::remove_dir_all(&home);
}

/// A token endpoint that refuses the refresh token (as Google does for a revoked one): the
/// error carries its reason once, and nothing is sent to the endpoint.
#[tokio::test(flavor = "multi_thread")]
async fn refused_refresh_token_is_one_clear_error() {
    let (addr, seen) = fake_google(true).await;
    let home = temp_home("revoked");
    write_ee_file(&home, &format!("http://{addr}/token"));
    let home_text = home.display().to_string();
    let client = ClientBuilder::from_env_with(|k| (k == "HOME").then(|| home_text.clone()))
        .endpoint("eeops.invalid:443")
        .build()
        .await
        .unwrap();
    let err = client.get("ABCDEF").await.unwrap_err();
    assert!(err.is_auth(), "{err}");
    let text = err.to_string();
    assert_eq!(text.matches("expired or revoked").count(), 1, "{text}");
    assert!(seen.lock().unwrap().api_headers.is_empty());
    let _ = std::fs::remove_dir_all(&home);
}
