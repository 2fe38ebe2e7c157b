//! The client against servers that misbehave: a raw `TcpListener` on 127.0.0.1:0 answering
//! garbage, a proxy's HTML page, truncated JSON, wrong content-types, a huge body, or nothing
//! at all. Every case must end in a clear error (kind and message checked), without a panic
//! and without hanging past the deadline. Also: what the REST transport puts on the wire.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eeops::client::{Client, RetryPolicy, Transport};
use eeops::{Error, ErrorKind};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// What the raw server does after reading a request.
#[derive(Clone)]
enum Reply {
    /// Writes these bytes and closes the connection.
    Bytes(Vec<u8>),
    /// Writes these bytes, then keeps the connection open and silent.
    ThenHang(Vec<u8>),
    /// Writes the head, then `chunk` over and over (`total` bytes in all).
    Stream {
        head: Vec<u8>,
        chunk: Vec<u8>,
        total: usize,
    },
    /// Closes the connection without a word.
    Close,
}

struct Raw {
    addr: SocketAddr,
    /// Every request received: head and body, as text.
    requests: Arc<Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
}

impl Raw {
    async fn start(reply: Reply) -> Raw {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (req, conns) = (requests.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                conns.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve_one(stream, reply.clone(), req.clone()));
            }
        });
        Raw {
            addr,
            requests,
            connections,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

async fn serve_one(mut stream: TcpStream, reply: Reply, requests: Arc<Mutex<Vec<String>>>) {
    // Read one request: the head, then as many body bytes as it announces.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 1 << 20 {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    requests
        .lock()
        .unwrap()
        .push(String::from_utf8_lossy(&buf).to_string());
    match reply {
        Reply::Bytes(bytes) => {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
        }
        Reply::ThenHang(bytes) => {
            let _ = stream.write_all(&bytes).await;
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        Reply::Stream { head, chunk, total } => {
            if stream.write_all(&head).await.is_err() {
                return;
            }
            let mut sent = 0;
            while sent < total {
                if stream.write_all(&chunk).await.is_err() {
                    return;
                }
                sent += chunk.len();
            }
        }
        Reply::Close => {}
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn http(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

const NAME: &str = "projects/p/operations/ABC";

async fn client(url: &str, transport: Transport) -> Client {
    Client::builder()
        .endpoint(url)
        .transport(transport)
        .retry_policy(
            RetryPolicy::no_retries()
                .with_attempt_timeout(Some(Duration::from_millis(500)))
                .with_time_limit(Some(Duration::from_secs(2))),
        )
        .max_response_bytes(1 << 20)
        .build()
        .await
        .unwrap()
}

/// Runs `get` against a server giving `reply` and returns the error, checking it came in time.
async fn get_error(reply: Reply) -> Error {
    let raw = Raw::start(reply).await;
    let client = client(&raw.url(), Transport::Rest).await;
    let start = Instant::now();
    let err = client.get(NAME).await.expect_err("the answer is unusable");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(raw.requests().len(), 1);
    err
}

#[tokio::test]
async fn html_502_from_a_proxy() {
    let page = b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>";
    let err = get_error(Reply::Bytes(http("502 Bad Gateway", "text/html", page))).await;
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert_eq!(err.http_status(), Some(502));
    let msg = err.to_string();
    assert!(msg.contains("502"), "{msg}");
    assert!(msg.contains("text/html"), "{msg}");
    assert!(msg.contains("Bad Gateway"), "{msg}");
    // A gateway's error page means the service was unavailable: worth retrying.
    assert!(err.is_retryable());
}

#[tokio::test]
async fn proxy_502_is_retried_until_attempts_run_out() {
    let raw = Raw::start(Reply::Bytes(http(
        "502 Bad Gateway",
        "text/html",
        b"<html>nope</html>",
    )))
    .await;
    let client = Client::builder()
        .endpoint(raw.url())
        .retry_policy(
            RetryPolicy::default()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .build()
        .await
        .unwrap();
    let err = client.cancel(NAME).await.unwrap_err();
    assert!(err.is_decode(), "{err}");
    assert_eq!(raw.requests().len(), 3);
}

#[tokio::test]
async fn a_long_error_page_is_cut_to_an_excerpt() {
    let page = format!("<html>{}</html>", "x".repeat(100_000));
    let err = get_error(Reply::Bytes(http(
        "500 Internal Server Error",
        "text/html",
        page.as_bytes(),
    )))
    .await;
    assert!(err.is_decode());
    assert!(err.message().len() < 400, "{} chars", err.message().len());
    assert!(err.message().contains('…'));
}

#[tokio::test]
async fn truncated_json() {
    let body = br#"{"name":"projects/p/operations/ABC","done":tr"#;
    let err = get_error(Reply::Bytes(http("200 OK", "application/json", body))).await;
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert_eq!(err.http_status(), Some(200));
    let msg = err.message();
    assert!(msg.contains("200"), "{msg}");
    assert!(msg.contains("application/json"), "{msg}");
    assert!(msg.contains("\\\"done\\\":tr"), "{msg}");
}

#[tokio::test]
async fn body_cut_short_by_the_connection() {
    // Announces 1000 bytes, sends 20, closes.
    let mut bytes =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            .to_vec();
    bytes.extend_from_slice(br#"{"name":"projects/p/"#);
    let err = get_error(Reply::Bytes(bytes)).await;
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    assert!(err.message().contains("reading the body"), "{err}");
}

#[tokio::test]
async fn wrong_content_types() {
    // Valid JSON, but labelled as something else.
    let body = br#"{"name":"projects/p/operations/ABC","done":true}"#;
    for ct in [
        "text/plain",
        "text/html; charset=utf-8",
        "application/x-protobuf",
    ] {
        let err = get_error(Reply::Bytes(http("200 OK", ct, body))).await;
        assert_eq!(err.kind(), ErrorKind::Decode, "{ct}: {err}");
        assert!(err.message().contains(ct), "{err}");
        assert!(err.message().contains("expected application/json"), "{err}");
    }
    // JSON of the wrong shape.
    for body in [
        &b"[]"[..],
        b"\"text\"",
        b"{\"done\":\"yes\"}",
        b"\xff\xfe\x00garbage",
    ] {
        let err = get_error(Reply::Bytes(http("200 OK", "application/json", body))).await;
        assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
        assert!(err.message().contains("GetOperation"), "{err}");
    }
}

#[tokio::test]
async fn empty_bodies() {
    // A GET that answers nothing is an error...
    let err = get_error(Reply::Bytes(http("200 OK", "application/json", b""))).await;
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert!(err.message().contains("empty body"), "{err}");
    // ... but a cancel or a delete that answers nothing (or 204) is fine: Empty has no fields.
    let raw = Raw::start(Reply::Bytes(
        b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".to_vec(),
    ))
    .await;
    let client = client(&raw.url(), Transport::Rest).await;
    client.cancel(NAME).await.unwrap();
    client.delete(NAME).await.unwrap();
    // An error status with no body keeps its status.
    let err = get_error(Reply::Bytes(http("404 Not Found", "text/plain", b""))).await;
    assert!(err.is_decode());
    assert_eq!(err.http_status(), Some(404));
    assert!(err.message().contains("NOT_FOUND"), "{err}");
}

#[tokio::test]
async fn error_bodies_that_are_not_google_errors() {
    for body in [
        &br#"{"error":"boom"}"#[..],
        br#"{"message":"x"}"#,
        b"Service Unavailable",
    ] {
        let err = get_error(Reply::Bytes(http(
            "500 Internal Server Error",
            "application/json",
            body,
        )))
        .await;
        assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
        assert!(err.message().contains("500"), "{err}");
    }
    // A proper one decodes, details included.
    let body =
        br#"{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED","details":[
        {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"}]}}"#;
    let err = get_error(Reply::Bytes(http(
        "429 Too Many Requests",
        "application/json",
        body,
    )))
    .await;
    assert_eq!(err.kind(), ErrorKind::Service);
    assert_eq!(err.message(), "slow down");
    assert_eq!(err.retry_delay(), Some(Duration::from_millis(1500)));
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let bytes = b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec();
    let err = get_error(Reply::Bytes(bytes)).await;
    assert!(err.is_decode(), "{err}");
    assert_eq!(err.http_status(), Some(302));
    assert!(
        err.message().contains("redirects are not followed"),
        "{err}"
    );
}

#[tokio::test]
async fn huge_bodies_are_refused() {
    // Announced: refused before reading.
    let head =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n"
            .to_vec();
    let err = get_error(Reply::ThenHang(head)).await;
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert!(err.message().contains("exceeds the limit"), "{err}");
    // Not announced (chunked, endless): refused once the limit is passed.
    let head =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    let mut chunk = format!("{:x}\r\n", 64 * 1024).into_bytes();
    chunk.extend(std::iter::repeat_n(b' ', 64 * 1024));
    chunk.extend_from_slice(b"\r\n");
    let err = get_error(Reply::Stream {
        head,
        chunk,
        total: 8 << 20,
    })
    .await;
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert!(
        err.message().contains("exceeds the limit of 1048576 bytes"),
        "{err}"
    );
}

#[tokio::test]
async fn a_server_that_hangs() {
    // Reads the request, answers nothing.
    let err = get_error(Reply::ThenHang(Vec::new())).await;
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.message().contains("GetOperation"), "{err}");
    // Sends the head, never the body.
    let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{"
        .to_vec();
    let err = get_error(Reply::ThenHang(head)).await;
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
}

#[tokio::test]
async fn wait_gives_up_at_its_deadline_against_a_hanging_server() {
    let raw = Raw::start(Reply::ThenHang(Vec::new())).await;
    let client = Client::builder().endpoint(raw.url()).build().await.unwrap();
    let start = Instant::now();
    let err = client
        .wait(NAME, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn garbage_and_silence() {
    let err = get_error(Reply::Bytes(b"this is not HTTP at all\r\n\r\n".to_vec())).await;
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    assert!(err.to_string().contains("GetOperation"), "{err}");
    let err = get_error(Reply::Close).await;
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn closed_ports() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for transport in [Transport::Rest, Transport::Grpc] {
        let client = client(&format!("http://127.0.0.1:{port}"), transport).await;
        let start = Instant::now();
        let err = client.get(NAME).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transport, "{transport:?}: {err}");
        assert!(err.is_retryable());
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}

#[tokio::test]
async fn grpc_to_a_port_that_is_not_grpc() {
    for reply in [
        Reply::Bytes(http(
            "400 Bad Request",
            "text/html",
            b"<html>HTTP/1 only</html>",
        )),
        Reply::Bytes(b"garbage garbage garbage".to_vec()),
        Reply::ThenHang(Vec::new()),
        Reply::Close,
    ] {
        let raw = Raw::start(reply).await;
        let client = client(&raw.url(), Transport::Grpc).await;
        let start = Instant::now();
        let err = client.cancel(NAME).await.unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Transport | ErrorKind::Timeout),
            "{err:?}"
        );
        assert!(err.to_string().contains("CancelOperation"), "{err}");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        assert!(raw.connections.load(Ordering::SeqCst) >= 1);
    }
}

/// What goes on the wire, for each method.
#[tokio::test]
async fn rest_requests_on_the_wire() {
    let ok = http(
        "200 OK",
        "application/json",
        br#"{"name":"projects/p/operations/ABC","done":true}"#,
    );
    let raw = Raw::start(Reply::Bytes(ok)).await;
    let client = Client::builder()
        .endpoint(raw.url())
        .quota_project("quota-p")
        .build()
        .await
        .unwrap();
    let _ = client.cancel("projects/p/operations/a:b").await; // `{...}` is a fine Empty
    client.get(NAME).await.unwrap();
    let _ = client.wait(NAME, Duration::from_secs(5)).await;
    let _ = futures::StreamExt::next(
        &mut client.list_with(
            "projects/p",
            eeops::client::ListOptions::default()
                .with_filter("done = false")
                .with_page_size(10),
        ),
    )
    .await;
    let requests = raw.requests();
    let lower: Vec<String> = requests.iter().map(|r| r.to_ascii_lowercase()).collect();

    // Cancel: POST with an empty body, the name percent-encoded in the path.
    assert!(
        requests[0].starts_with("POST /v1/projects/p/operations/a%3Ab:cancel HTTP/1.1\r\n"),
        "{}",
        requests[0]
    );
    assert!(
        lower[0].contains("\r\ncontent-length: 0\r\n"),
        "{}",
        requests[0]
    );
    assert!(!lower[0].contains("content-type"), "{}", requests[0]);
    assert!(requests[0].ends_with("\r\n\r\n"));
    assert!(
        lower[0].contains("\r\nx-goog-request-params: name=projects%2fp%2foperations%2fa%3ab\r\n")
    );
    // Get: no body.
    assert!(
        requests[1].starts_with("GET /v1/projects/p/operations/ABC HTTP/1.1\r\n"),
        "{}",
        requests[1]
    );
    assert!(!lower[1].contains("content-length"), "{}", requests[1]);
    // Wait: the first snapshot comes from get (done already), so no wait was needed.
    assert!(
        requests[2].starts_with("GET /v1/projects/p/operations/ABC "),
        "{}",
        requests[2]
    );
    // List: filter and page size in the query.
    assert!(
        requests[3].starts_with(
            "GET /v1/projects/p/operations?filter=done%20%3D%20false&pageSize=10 HTTP/1.1\r\n"
        ),
        "{}",
        requests[3]
    );
    for (r, l) in requests.iter().zip(&lower) {
        assert!(l.contains("\r\nx-goog-api-client: gl-rust/"), "{r}");
        assert!(l.contains(" eeops/"), "{r}");
        assert!(l.contains("\r\nx-goog-user-project: quota-p\r\n"), "{r}");
        assert!(l.contains("\r\nuser-agent: eeops/"), "{r}");
        assert!(l.contains("\r\naccept: application/json\r\n"), "{r}");
        assert!(!l.contains("authorization"), "{r}");
    }
}

/// WaitOperation's body carries the timeout as a proto3 JSON Duration.
#[tokio::test]
async fn rest_wait_body() {
    let running = http(
        "200 OK",
        "application/json",
        br#"{"name":"projects/p/operations/ABC"}"#,
    );
    let raw = Raw::start(Reply::Bytes(running)).await;
    let client = Client::builder().endpoint(raw.url()).build().await.unwrap();
    let opts = eeops::client::WaitOptions::default()
        .with_timeout(Duration::from_millis(300))
        .with_server_wait(Duration::from_millis(3500));
    let err = client.wait(NAME, opts).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let requests = raw.requests();
    let wait = requests
        .iter()
        .find(|r| r.starts_with("POST /v1/projects/p/operations/ABC:wait "))
        .expect("a WaitOperation request");
    assert!(
        wait.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{wait}"
    );
    // Capped by what is left of the 300 ms deadline.
    let body = &wait[wait.find("\r\n\r\n").unwrap() + 4..];
    assert!(
        body.starts_with(r#"{"timeout":"0."#) && body.ends_with(r#"s"}"#),
        "{body}"
    );
}

/// Plain HTTP to a host that is not loopback is refused unless allowed, before any request.
#[tokio::test]
async fn insecure_http_is_refused() {
    let err = Client::builder()
        .endpoint("http://example.invalid:8080")
        .anonymous()
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.message().contains("allow_insecure_http"), "{err}");
    Client::builder()
        .endpoint("http://example.invalid:8080")
        .anonymous()
        .allow_insecure_http(true)
        .build()
        .await
        .unwrap();
    for bad in ["ftp://x", "earthengine", "http://u:pw@127.0.0.1/"] {
        let err = Client::builder()
            .endpoint(bad)
            .anonymous()
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{bad}: {err}");
        assert!(!err.to_string().contains("pw@"), "{err}");
    }
    let err = Client::builder()
        .api_version("v2")
        .endpoint("http://127.0.0.1:1")
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

/// The generic bindings (API version "") have no WaitOperation: waiting polls GetOperation.
#[tokio::test]
async fn generic_bindings_poll() {
    let running = http("200 OK", "application/json", br#"{"name":"operations/A"}"#);
    let raw = Raw::start(Reply::Bytes(running)).await;
    let client = Client::builder()
        .endpoint(raw.url())
        .api_version("")
        .build()
        .await
        .unwrap();
    let opts = eeops::client::WaitOptions::default()
        .with_timeout(Duration::from_millis(300))
        .with_poll_interval(Duration::from_millis(20), Duration::from_millis(20));
    let err = client.wait("operations/A", opts).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(client.supports_wait(), Some(false));
    let requests = raw.requests();
    assert!(requests.len() >= 3, "{}", requests.len());
    assert!(
        requests
            .iter()
            .all(|r| r.starts_with("GET /v1/operations/A HTTP/1.1\r\n"))
    );
    client.cancel("operations/A").await.unwrap();
    assert!(
        raw.requests()
            .last()
            .unwrap()
            .starts_with("POST /v1/operations/A:cancel ")
    );
}
