//! Google's HTTP batch endpoint (`POST /batch`), driven with raw `multipart/mixed` bodies over
//! a plain TCP socket, its replies read the way Google's Earth Engine JavaScript client reads
//! them (`apiclient.parseBatchReply`: the boundary after `; boundary=`, parts split on the
//! boundary, then on blank lines, `Content-ID: <response-ID>`, the status code after `HTTP/x`).

mod server_support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eeops::pb::google::longrunning::operations_server::Operations;
use eeops::pb::google::longrunning::{
    CancelOperationRequest, DeleteOperationRequest, GetOperationRequest, ListOperationsRequest,
    ListOperationsResponse, Operation, WaitOperationRequest,
};
use eeops::server::emulator::{Emulator, EmulatorConfig, TaskSpec};
use eeops::server::{MAX_BATCH_BODY_BYTES, MAX_BATCH_PART_BYTES, MAX_BATCH_PARTS};
use serde_json::Value as Json;
use server_support::{Fixture, error_of};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tonic::{Request, Response, Status};

const BOUNDARY: &str = "batch_EARTHENGINE_batch";

/// One request part, framed as Google's clients frame it.
fn part(id: &str, embedded: &str) -> String {
    format!(
        "--{BOUNDARY}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\
         MIME-Version: 1.0\r\nContent-ID: <{id}>\r\n\r\n{embedded}\r\n"
    )
}

/// A part with the given part headers (no Content-ID unless given).
fn raw_part(part_headers: &str, embedded: &str) -> String {
    format!("--{BOUNDARY}\r\n{part_headers}\r\n{embedded}\r\n")
}

fn batch(parts: &[String]) -> String {
    format!("{}--{BOUNDARY}--\r\n", parts.concat())
}

/// A GET as the EE JavaScript client embeds it.
fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nContent-Type: application/json; charset=utf-8\r\n\r\n")
}

/// A cancel as the EE JavaScript client embeds it (body `{}`).
fn cancel(name: &str) -> String {
    format!(
        "POST /v1/{name}:cancel HTTP/1.1\r\nContent-Type: application/json; charset=utf-8\r\n\r\n{{}}"
    )
}

/// An HTTP response read off the socket.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Json {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Writes `head` (request line and headers, without the blank line) and `body` to a fresh
/// connection and reads the whole answer.
async fn raw_request(addr: SocketAddr, head: &str, body: &[u8]) -> Raw {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut bytes = format!("{head}\r\nHost: {addr}\r\nConnection: close\r\n\r\n").into_bytes();
    bytes.extend_from_slice(body);
    tcp.write_all(&bytes).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), tcp.read_to_end(&mut answer))
        .await
        .expect("no answer within 60 s")
        .unwrap();
    let mut slots = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut slots);
    let n = match resp.parse(&answer) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!(
            "not an HTTP response ({other:?}): {}",
            String::from_utf8_lossy(&answer)
        ),
    };
    let headers: Vec<(String, String)> = resp
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let status = resp.code.unwrap();
    Raw {
        status,
        headers,
        body: String::from_utf8_lossy(&answer[n..]).into_owned(),
    }
}

/// POSTs a multipart batch body to `/batch` with extra outer headers.
async fn post_batch(addr: SocketAddr, extra_headers: &str, body: &str) -> Raw {
    let head = format!(
        "POST /batch HTTP/1.1\r\nContent-Type: multipart/mixed; boundary={BOUNDARY}\r\n\
         Content-Length: {}{extra_headers}",
        body.len()
    );
    raw_request(addr, &head, body.as_bytes()).await
}

/// One answer of a batch reply.
#[derive(Debug)]
struct Answer {
    id: Option<String>,
    status: u16,
    json: Json,
}

/// Reads a batch reply as the EE JavaScript client does, and also checks what it relies on.
fn answers(raw: &Raw) -> Vec<Answer> {
    assert_eq!(
        raw.status, 200,
        "batch answered {}: {}",
        raw.status, raw.body
    );
    let content_type = raw.header("content-type").expect("no content-type");
    let boundary = content_type
        .split("; boundary=")
        .nth(1)
        .unwrap_or_else(|| panic!("no `; boundary=` in `{content_type}`"));
    assert!(content_type.starts_with("multipart/mixed; boundary="));
    assert!(
        !boundary.contains(['"', ';', ' ']),
        "quoted: {content_type}"
    );
    let closing = format!("--{boundary}--\r\n");
    assert!(
        raw.body.ends_with(&closing),
        "no closing delimiter: {}",
        raw.body
    );

    let mut out = Vec::new();
    for chunk in raw.body.split(&format!("--{boundary}")) {
        let groups: Vec<&str> = chunk.split("\r\n\r\n").collect();
        if groups.len() < 3 {
            continue;
        }
        let part_headers = groups[0];
        assert!(
            part_headers.contains("\r\nContent-Type: application/http"),
            "part is not application/http: {part_headers}"
        );
        let id = part_headers
            .split("\r\nContent-ID: <response-")
            .nth(1)
            .map(|rest| rest.split('>').next().unwrap_or_default().to_owned());
        let status_line = groups[1].lines().next().unwrap_or_default();
        let mut words = status_line.split(' ');
        assert!(words.next().unwrap_or_default().starts_with("HTTP"));
        let status: u16 = words.next().unwrap_or_default().parse().unwrap();
        assert!(
            words.next().is_some(),
            "no space after the code: {status_line}"
        );
        let text = groups[2..].join("\r\n\r\n");
        let json = serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("part body not JSON ({e}): {text}"));
        out.push(Answer { id, status, json });
    }
    out
}

fn long_task(fx: &Fixture, project: &str) -> String {
    fx.emu.start_task(
        project,
        TaskSpec::default()
            .with_start_running(true)
            .with_work(Duration::from_secs(3600)),
    )
}

#[tokio::test]
async fn get_cancel_list_and_unknown_parts_in_one_batch() {
    let fx = Fixture::manual().await;
    let a = long_task(&fx, "p");
    let b = long_task(&fx, "p");
    let c = long_task(&fx, "p");

    let body = batch(&[
        part(&a, &get(&format!("/v1/{a}"))),
        part("cancel-b", &cancel(&b)),
        // No headers and no blank line: it ends at the delimiter.
        part("list", "GET /v1/projects/p/operations?pageSize=2 HTTP/1.1"),
        part("unknown", &get("/v1/projects/p/operations/NOSUCHOPERATION")),
        // An empty body, another version, a tolerated parameter, a declared length.
        part(
            "cancel-c",
            &format!("POST /v1beta/{c}:cancel?alt=json HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
        ),
        part("no-route", &get("/v2/whatever")),
        part(
            "not-allowed",
            &format!("PATCH /v1/{a} HTTP/1.1\r\nContent-Length: 2\r\n\r\n{{}}"),
        ),
    ]);
    let reply = answers(&post_batch(fx.addr(), "", &body).await);

    let ids: Vec<Option<&str>> = reply.iter().map(|r| r.id.as_deref()).collect();
    assert_eq!(
        ids,
        [
            Some(a.as_str()),
            Some("cancel-b"),
            Some("list"),
            Some("unknown"),
            Some("cancel-c"),
            Some("no-route"),
            Some("not-allowed"),
        ]
    );
    let statuses: Vec<u16> = reply.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 200, 404, 200, 404, 405], "{reply:#?}");

    assert_eq!(reply[0].json["name"], a.as_str());
    assert_eq!(reply[0].json["metadata"]["state"], "RUNNING");
    assert_eq!(reply[1].json, serde_json::json!({}));
    let listed = reply[2].json["operations"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{}", reply[2].json);
    assert!(reply[2].json["nextPageToken"].is_string());
    assert_eq!(error_of(&reply[3].json), (404, "NOT_FOUND".into()));
    assert_eq!(reply[4].json, serde_json::json!({}));
    assert_eq!(error_of(&reply[5].json).0, 404);
    assert_eq!(error_of(&reply[6].json).0, 405);

    assert_eq!(fx.emu.effects(&a).cancels_applied, 0);
    assert_eq!(fx.emu.effects(&b).cancels_applied, 1);
    assert_eq!(fx.emu.effects(&c).cancels_applied, 1);

    // The cancels complete; a second batch of gets sees them CANCELLED with code 1.
    fx.emu.advance(Duration::from_secs(60));
    let body = batch(&[
        part(&b, &get(&format!("/v1/{b}"))),
        part(&c, &get(&format!("/v1/{c}?alt=json&prettyPrint=false"))),
        part(&a, &get(&format!("/v1/{a}"))),
    ]);
    let reply = answers(&post_batch(fx.addr(), "", &body).await);
    assert_eq!(reply.len(), 3);
    for (answer, name) in reply.iter().zip([&b, &c]) {
        assert_eq!(answer.id.as_deref(), Some(name.as_str()));
        assert_eq!(answer.status, 200);
        assert_eq!(answer.json["done"], true, "{}", answer.json);
        assert_eq!(answer.json["error"]["code"], 1, "{}", answer.json);
        assert_eq!(answer.json["metadata"]["state"], "CANCELLED");
    }
    assert_eq!(reply[2].json["metadata"]["state"], "RUNNING");
    assert_eq!(reply[2].json["done"], Json::Null);
}

#[tokio::test]
async fn bad_parts_are_answered_in_their_own_slot() {
    let fx = Fixture::manual().await;
    let a = long_task(&fx, "p");
    let good = get(&format!("/v1/{a}"));
    let body = batch(&[
        raw_part("Content-Type: text/plain\r\nContent-ID: <text>\r\n", &good),
        raw_part("Content-ID: <untyped>\r\n", &good),
        part("garbage", "this is not an HTTP request\r\n\r\n"),
        part(
            "nested",
            "POST /batch HTTP/1.1\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x--\r\n",
        ),
        part(
            "short",
            &format!("POST /v1/{a}:cancel HTTP/1.1\r\nContent-Length: 100\r\n\r\n{{}}"),
        ),
        raw_part(
            "Content-Type: application/http\r\nContent-Transfer-Encoding: base64\r\n\
             Content-ID: <base64>\r\n",
            &good,
        ),
        part("good", &good),
        raw_part("Content-Type: application/http\r\n", &good),
    ]);
    let raw = post_batch(fx.addr(), "", &body).await;
    let reply = answers(&raw);
    assert_eq!(reply.len(), 8, "{reply:#?}");
    let expect = [
        ("text", "application/http"),
        ("untyped", "application/http"),
        ("garbage", "cannot read"),
        ("nested", "nested"),
        ("short", "Content-Length 100"),
        ("base64", "base64"),
    ];
    for (i, (id, says)) in expect.iter().enumerate() {
        let answer = &reply[i];
        assert_eq!(answer.id.as_deref(), Some(*id));
        assert_eq!(answer.status, 400, "{id}: {}", answer.json);
        assert_eq!(error_of(&answer.json), (400, "INVALID_ARGUMENT".into()));
        let message = answer.json["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{id}: {message}");
        assert!(message.contains(&format!("part {}", i + 1)), "{message}");
    }
    assert_eq!(reply[6].id.as_deref(), Some("good"));
    assert_eq!(reply[6].status, 200);
    assert_eq!(reply[6].json["name"], a.as_str());
    // A part without a Content-ID is answered in its slot, without one.
    assert_eq!(reply[7].id, None);
    assert_eq!(reply[7].status, 200);
    assert_eq!(reply[7].json["name"], a.as_str());
    assert_eq!(fx.emu.effects(&a).cancels_applied, 0);
}

#[tokio::test]
async fn limits_refuse_the_whole_batch_and_run_nothing() {
    let fx = Fixture::manual().await;
    let a = long_task(&fx, "p");

    // Exactly the limit: every part answered.
    let full: Vec<String> = (0..MAX_BATCH_PARTS)
        .map(|i| part(&format!("g{i}"), &get(&format!("/v1/{a}"))))
        .collect();
    let reply = answers(&post_batch(fx.addr(), "", &batch(&full)).await);
    assert_eq!(reply.len(), MAX_BATCH_PARTS);
    assert!(reply.iter().all(|r| r.status == 200));
    assert_eq!(reply[MAX_BATCH_PARTS - 1].id.as_deref(), Some("g999"));

    // One more part: refused whole, and the cancels in it never ran.
    let over: Vec<String> = (0..=MAX_BATCH_PARTS)
        .map(|i| part(&format!("c{i}"), &cancel(&a)))
        .collect();
    let raw = post_batch(fx.addr(), "", &batch(&over)).await;
    assert_eq!(raw.status, 400, "{}", raw.body);
    let json = raw.json();
    assert_eq!(error_of(&json), (400, "INVALID_ARGUMENT".into()));
    assert!(json["error"]["message"].as_str().unwrap().contains("1000"));
    assert_eq!(fx.emu.effects(&a).cancels_applied, 0);

    // A part over the part limit (the last one, so the whole body has been sent).
    let big = format!(
        "POST /v1/{a}:cancel HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{{\"pad\": \"{}\"}}",
        "x".repeat(MAX_BATCH_PART_BYTES)
    );
    let body = batch(&[part("small", &cancel(&a)), part("big", &big)]);
    let raw = post_batch(fx.addr(), "", &body).await;
    assert_eq!(raw.status, 400, "{}", raw.body);
    let message = raw.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("part") && message.contains("larger"),
        "{message}"
    );
    assert_eq!(fx.emu.effects(&a).cancels_applied, 0);

    // A declared body over the whole limit: refused before it is read.
    let head = format!(
        "POST /batch HTTP/1.1\r\nContent-Type: multipart/mixed; boundary={BOUNDARY}\r\n\
         Content-Length: {}",
        MAX_BATCH_BODY_BYTES + 1
    );
    let raw = raw_request(fx.addr(), &head, b"").await;
    assert_eq!(raw.status, 400, "{}", raw.body);
    let message = raw.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("larger than"), "{message}");
}

#[tokio::test]
async fn outer_request_errors() {
    let fx = Fixture::manual().await;

    let raw = raw_request(fx.addr(), "GET /batch HTTP/1.1", b"").await;
    assert_eq!(raw.status, 405);
    assert_eq!(raw.header("allow"), Some("POST"));
    assert_eq!(error_of(&raw.json()).1, "INVALID_ARGUMENT");

    for (content_type, says) in [
        ("application/json", "multipart/mixed"),
        ("multipart/mixed", "no boundary"),
        ("multipart/form-data; boundary=x", "multipart/mixed"),
    ] {
        let head =
            format!("POST /batch HTTP/1.1\r\nContent-Type: {content_type}\r\nContent-Length: 2");
        let raw = raw_request(fx.addr(), &head, b"{}").await;
        assert_eq!(raw.status, 400, "{content_type}: {}", raw.body);
        let json = raw.json();
        assert_eq!(error_of(&json), (400, "INVALID_ARGUMENT".into()));
        let message = json["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{content_type}: {message}");
    }

    let raw = post_batch(fx.addr(), "", &batch(&[])).await;
    assert_eq!(raw.status, 400, "{}", raw.body);
    assert!(
        raw.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no parts")
    );

    let raw = post_batch(fx.addr(), "", "this is not a multipart body").await;
    assert_eq!(raw.status, 400, "{}", raw.body);
    assert!(
        raw.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("malformed")
    );

    // A quoted boundary parameter is read too.
    let body = batch(&[part("q", &get("/v1/projects/p/operations/NOPE"))]);
    let head = format!(
        "POST /batch HTTP/1.1\r\nContent-Type: multipart/mixed; boundary=\"{BOUNDARY}\"\r\n\
         Content-Length: {}",
        body.len()
    );
    let reply = answers(&raw_request(fx.addr(), &head, body.as_bytes()).await);
    assert_eq!(reply.len(), 1);
    assert_eq!(reply[0].status, 404);
}

/// Header names and values, in arrival order.
type Headers = Vec<(String, String)>;

/// An `Operations` implementation of the test's own (the emulator, wrapped), recording the
/// headers each call arrived with.
#[derive(Clone)]
struct Recorder {
    emu: Emulator,
    seen: Arc<Mutex<Vec<(String, Headers)>>>,
}

impl Recorder {
    fn record<T>(&self, name: &str, request: &Request<T>) {
        let headers = request
            .metadata()
            .clone()
            .into_headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        self.seen.lock().unwrap().push((name.to_owned(), headers));
    }

    fn headers_of(&self, name: &str) -> Headers {
        let seen = self.seen.lock().unwrap();
        let found = seen.iter().find(|(n, _)| n == name);
        found.map(|(_, h)| h.clone()).unwrap_or_default()
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[tonic::async_trait]
impl Operations for Recorder {
    async fn list_operations(
        &self,
        request: Request<ListOperationsRequest>,
    ) -> Result<Response<ListOperationsResponse>, Status> {
        self.record(&request.get_ref().name.clone(), &request);
        Operations::list_operations(&self.emu, request).await
    }

    async fn get_operation(
        &self,
        request: Request<GetOperationRequest>,
    ) -> Result<Response<Operation>, Status> {
        self.record(&request.get_ref().name.clone(), &request);
        Operations::get_operation(&self.emu, request).await
    }

    async fn delete_operation(
        &self,
        request: Request<DeleteOperationRequest>,
    ) -> Result<Response<()>, Status> {
        self.record(&request.get_ref().name.clone(), &request);
        Operations::delete_operation(&self.emu, request).await
    }

    async fn cancel_operation(
        &self,
        request: Request<CancelOperationRequest>,
    ) -> Result<Response<()>, Status> {
        self.record(&request.get_ref().name.clone(), &request);
        Operations::cancel_operation(&self.emu, request).await
    }

    async fn wait_operation(
        &self,
        request: Request<WaitOperationRequest>,
    ) -> Result<Response<Operation>, Status> {
        self.record(&request.get_ref().name.clone(), &request);
        Operations::wait_operation(&self.emu, request).await
    }
}

#[tokio::test]
async fn outer_headers_apply_to_parts_that_do_not_set_them() {
    let emu = Emulator::new(EmulatorConfig::default().with_manual_clock(true));
    let recorder = Recorder {
        emu: emu.clone(),
        seen: Arc::default(),
    };
    let handle = eeops::server::serve(recorder.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let spec = || TaskSpec::default().with_work(Duration::from_secs(3600));
    let a = emu.start_task("p", spec());
    let b = emu.start_task("p", spec());

    let body = batch(&[
        part("a", &format!("GET /v1/{a} HTTP/1.1\r\n\r\n")),
        part(
            "b",
            &format!(
                "GET /v1/{b} HTTP/1.1\r\nAuthorization: Bearer inner\r\n\
                 X-Custom: from-the-part\r\n\r\n"
            ),
        ),
    ]);
    let outer = "\r\nAuthorization: Bearer outer\r\nX-Goog-User-Project: quota-p\r\n\
                 X-Custom: one\r\nX-Custom: two";
    let reply = answers(&post_batch(handle.local_addr(), outer, &body).await);
    assert_eq!(reply.len(), 2);
    assert!(reply.iter().all(|r| r.status == 200), "{reply:#?}");
    assert_eq!(reply[0].json["name"], a.as_str());
    assert_eq!(reply[1].json["name"], b.as_str());

    let seen_a = recorder.headers_of(&a);
    assert_eq!(header(&seen_a, "authorization"), ["Bearer outer"]);
    assert_eq!(header(&seen_a, "x-goog-user-project"), ["quota-p"]);
    assert_eq!(header(&seen_a, "x-custom"), ["one", "two"]);
    // The outer content-type describes the multipart body, not the part.
    assert!(header(&seen_a, "content-type").is_empty(), "{seen_a:?}");
    assert!(header(&seen_a, "content-length").is_empty(), "{seen_a:?}");

    let seen_b = recorder.headers_of(&b);
    assert_eq!(header(&seen_b, "authorization"), ["Bearer inner"]);
    assert_eq!(header(&seen_b, "x-goog-user-project"), ["quota-p"]);
    assert_eq!(header(&seen_b, "x-custom"), ["from-the-part"]);

    handle.shutdown().await;
}

/// google-api-python-client (the discovery-based client behind earthengine-api, which follows
/// the discovery document's `"batchPath": "batch"`) frames its batches with bare LF line ends
/// and a quoted boundary; Google's servers read them.
#[tokio::test]
async fn bare_lf_framing_as_the_python_discovery_client_sends_it() {
    let fx = Fixture::manual().await;
    let a = long_task(&fx, "p");
    let b = long_task(&fx, "p");
    let boundary = "===============2190145099695807057==";
    let part = |n: usize, embedded: &str| {
        format!(
            "--{boundary}\nContent-Type: application/http\nMIME-Version: 1.0\n\
             Content-Transfer-Encoding: binary\nContent-ID: <63bef4b0 + {n}>\n\n{embedded}\n"
        )
    };
    let get = |name: &str| {
        format!(
            "GET /v1/{name}?alt=json HTTP/1.1\nContent-Type: application/json\nMIME-Version: 1.0\n\
             accept: application/json\nHost: 127.0.0.1\n\n"
        )
    };
    let cancel = format!(
        "POST /v1/{b}:cancel?alt=json HTTP/1.1\nContent-Type: application/json\nMIME-Version: 1.0\n\
         content-length: 2\nHost: 127.0.0.1\n\n{{}}"
    );
    let body = format!(
        "{}{}{}--{boundary}--",
        part(1, &get(&a)),
        part(2, &cancel),
        part(3, &get("projects/p/operations/NOPE")),
    );
    let head = format!(
        "POST /batch HTTP/1.1\r\nContent-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\
         Content-Length: {}",
        body.len()
    );
    let reply = answers(&raw_request(fx.addr(), &head, body.as_bytes()).await);
    let ids: Vec<Option<&str>> = reply.iter().map(|r| r.id.as_deref()).collect();
    assert_eq!(
        ids,
        [
            Some("63bef4b0 + 1"),
            Some("63bef4b0 + 2"),
            Some("63bef4b0 + 3")
        ]
    );
    let statuses: Vec<u16> = reply.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 404], "{reply:#?}");
    assert_eq!(reply[0].json["name"], a.as_str());
    assert_eq!(fx.emu.effects(&b).cancels_applied, 1);
}
