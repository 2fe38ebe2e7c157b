//! eeops' REST transcoding against Google's: google-api-core's `path_template.transcode()`
//! (the generic client-side transcoder behind the REST transports of Google's generated Python
//! clients) and eeops' `transcode::encode_request` must agree on a table of Library requests
//! (`tests/interop/library_transcode_cases.json`): HTTP method, path, query parameters and
//! body. And what api-core builds must route and decode, through eeops' `Router` and
//! `decode_request`, back into the request it came from.
//!
//! The one real difference is in the table itself (`eeops_body_extra`): with `body: "book"` and
//! the path variable `{book.name=...}`, api-core deletes `book.name` from the body, eeops
//! leaves it in (the path carries it as well; `google/api/http.proto` says nothing about
//! removing it, and a server sets the path value last either way). The test checks that
//! difference exactly, so a change on either side shows.
//!
//! And one property of the REST wire that both share: a `body: "field"` message the request
//! leaves unset goes out as `{}`, so the server receives it set and empty (over gRPC it stays
//! unset).
//!
//! Finally the example server serves what api-core builds (sent by `requests`, as Google's
//! generated REST transports send it) exactly as it serves the same calls over gRPC.
//!
//! Python: `$EEOPS_PYTHON`, else `python3`, if it has google-api-core; otherwise the test
//! prints SKIPPED and passes, unless `CI` is set.
#![cfg(all(feature = "client", feature = "server"))]

#[path = "../examples/library/mod.rs"]
mod library;
#[path = "interop/python.rs"]
mod python;

use std::path::PathBuf;
use std::process::Command;

use eeops::transcode::{Router, decode_request, encode_query, encode_request};
use prost::Message as _;
use prost_reflect::DynamicMessage;
use serde_json::{Value, json};

fn interop(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
}

/// The Library's descriptor set in a file of the test's own (tests run in parallel), for the
/// Python side.
fn descriptor_file(test: &str) -> PathBuf {
    let path =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("library_descriptor_{test}.bin"));
    std::fs::write(&path, library::pb::FILE_DESCRIPTOR_SET).unwrap();
    path
}

fn cases() -> Vec<Value> {
    let text = std::fs::read_to_string(interop("library_transcode_cases.json")).unwrap();
    let table: Value = serde_json::from_str(&text).unwrap();
    table["cases"].as_array().unwrap().clone()
}

fn request_of(case: &Value) -> (prost_reflect::MethodDescriptor, DynamicMessage) {
    let (_, method) = library::call::method(case["method"].as_str().unwrap()).unwrap();
    let msg = DynamicMessage::deserialize(method.input(), &case["request"]).unwrap();
    (method, msg)
}

/// eeops' encoding of one case, in the Python script's output shape.
fn eeops_encoding(router: &Router, case: &Value) -> Value {
    let (method, msg) = request_of(case);
    let binding = router.find(method.full_name(), "").unwrap();
    match encode_request(binding, &msg) {
        Ok(parts) => json!({
            "method": parts.method.as_str(),
            "uri": parts.path,
            "query": parts.query,
            "body": parts.body.map(|b| serde_json::to_value(&b).unwrap()),
        }),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// The request as it arrives over REST: a `body: "field"` message that the request leaves
/// unset travels as `{}` (both clients send that: JSON cannot say "absent" there), so it
/// arrives set and empty.
fn as_sent_over_rest(
    router: &Router,
    method: &prost_reflect::MethodDescriptor,
    mut msg: DynamicMessage,
) -> DynamicMessage {
    let body_field = router.find(method.full_name(), "").unwrap().binding().body;
    if !matches!(body_field, "" | "*") && !msg.has_field_by_name(body_field) {
        let fd = method.input().get_field_by_name(body_field).unwrap();
        let empty = DynamicMessage::new(fd.kind().as_message().unwrap().clone());
        msg.set_field(&fd, prost_reflect::Value::Message(empty));
    }
    msg
}

fn sorted_pairs(v: &Value) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_owned(),
                p[1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    pairs.sort();
    pairs
}

#[test]
fn api_core_transcode_agrees_with_eeops_on_library_requests() {
    let Some(python) =
        python::python_with("google.api_core.path_template, google.api.annotations_pb2")
    else {
        return;
    };
    let output = Command::new(&python)
        .arg(interop("api_core_transcode.py"))
        .arg(interop("library_transcode_cases.json"))
        .arg(descriptor_file("agree"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "api_core_transcode.py failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let python_results: Value = serde_json::from_slice(&output.stdout).unwrap();
    let router = Router::new(library::pb::HTTP_BINDINGS).unwrap();

    let cases = cases();
    assert!(cases.len() >= 30, "the table shrank: {} cases", cases.len());
    let mut compared = 0;
    for case in &cases {
        let id = case["id"].as_str().unwrap();
        let theirs = &python_results["results"][id];
        let ours = eeops_encoding(&router, case);
        let expect_error = case["error"].as_bool().unwrap_or(false);
        assert_eq!(
            theirs.get("error").is_some(),
            expect_error,
            "{id}: api-core gave {theirs}"
        );
        assert_eq!(
            ours.get("error").is_some(),
            expect_error,
            "{id}: eeops gave {ours}"
        );
        if expect_error {
            compared += 1;
            continue;
        }
        assert_eq!(ours["method"], theirs["method"], "{id}: HTTP method");
        assert_eq!(ours["uri"], theirs["uri"], "{id}: path");
        assert_eq!(
            sorted_pairs(&ours["query"]),
            sorted_pairs(&theirs["query"]),
            "{id}: query parameters"
        );
        // The body, with eeops' documented extra fields (path-bound fields inside a
        // `body: "field"` body) taken into account.
        let mut expected_body = theirs["body"].clone();
        if let Some(extra) = case.get("eeops_body_extra").and_then(Value::as_object) {
            let body = expected_body.as_object_mut().unwrap();
            for (k, v) in extra {
                assert!(
                    body.insert(k.clone(), v.clone()).is_none(),
                    "{id}: api-core now keeps `{k}` in the body: the difference is gone"
                );
            }
        }
        assert_eq!(ours["body"], expected_body, "{id}: body");
        compared += 1;
    }
    assert_eq!(compared, cases.len());
}

/// What api-core builds is what eeops' server side takes: each request routes to its method
/// and decodes back into the message it was built from.
#[test]
fn requests_built_by_api_core_route_and_decode_in_eeops() {
    let Some(python) =
        python::python_with("google.api_core.path_template, google.api.annotations_pb2")
    else {
        return;
    };
    let output = Command::new(&python)
        .arg(interop("api_core_transcode.py"))
        .arg(interop("library_transcode_cases.json"))
        .arg(descriptor_file("decode"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let python_results: Value = serde_json::from_slice(&output.stdout).unwrap();
    let router = Router::new(library::pb::HTTP_BINDINGS).unwrap();
    let mut decoded = 0;
    for case in cases() {
        if case["error"].as_bool().unwrap_or(false) {
            continue;
        }
        let id = case["id"].as_str().unwrap();
        let built = &python_results["results"][id];
        let (method, original) = request_of(&case);
        let original = as_sent_over_rest(&router, &method, original);
        let route = router
            .route(
                built["method"].as_str().unwrap(),
                built["uri"].as_str().unwrap(),
            )
            .unwrap_or_else(|e| panic!("{id}: {built} does not route: {e}"));
        assert_eq!(route.binding.method, method.full_name(), "{id}");
        let query = encode_query(&sorted_pairs(&built["query"]));
        let body = match &built["body"] {
            Value::Null => Vec::new(),
            b => serde_json::to_vec(b).unwrap(),
        };
        let msg = decode_request(&route, &method.input(), Some(&query), &body, &[])
            .unwrap_or_else(|e| panic!("{id}: {built} does not decode: {e}"));
        // Compared on the wire (a proto3 default set explicitly is the same as unset).
        assert_eq!(
            msg.encode_to_vec(),
            original.encode_to_vec(),
            "{id}: decoded {}, built from {}",
            serde_json::to_value(&msg).unwrap(),
            serde_json::to_value(&original).unwrap()
        );
        decoded += 1;
    }
    assert!(decoded >= 20, "only {decoded} requests decoded");
}

/// A library with shelves 1 to 3 and books 1 and 2 on shelf 1.
async fn seeded_server() -> library::serve::Served {
    use library::pb::v1::library_service_server::LibraryService as _;
    use library::pb::v1::{Book, CreateBookRequest, CreateShelfRequest, Shelf};
    let store = library::store::Library::new();
    for theme in ["poetry", "history", "science"] {
        let shelf = Some(Shelf {
            name: String::new(),
            theme: theme.into(),
        });
        store
            .create_shelf(tonic::Request::new(CreateShelfRequest { shelf }))
            .await
            .unwrap();
    }
    for title in ["Odes", "Lamia"] {
        let book = Some(Book {
            title: title.into(),
            ..Default::default()
        });
        store
            .create_book(tonic::Request::new(CreateBookRequest {
                parent: "shelves/1".into(),
                book,
            }))
            .await
            .unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    library::serve::serve(store, listener).await.unwrap()
}

/// The requests api-core builds, sent by Python's `requests` the way Google's generated REST
/// transports send them (`$alt=json;enum-encoding=int` included), are served by the example's
/// REST side exactly as the same requests are over gRPC by eeops' tonic client, on two servers
/// holding the same library: the same answers, and the same errors (REST's status being the
/// HTTP status of the gRPC code).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_built_by_api_core_are_served_like_grpc_calls() {
    let Some(python) =
        python::python_with("google.api_core.path_template, google.api.annotations_pb2, requests")
    else {
        return;
    };
    let for_python = seeded_server().await;
    let url = for_python.url();
    let descriptors = descriptor_file("served");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(interop("api_core_transcode.py"))
            .arg(interop("library_transcode_cases.json"))
            .arg(descriptors)
            .arg(url)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    for_python.shutdown().await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let python_results: Value = serde_json::from_slice(&output.stdout).unwrap();

    let for_grpc = seeded_server().await;
    let stub = library::call::connect(&for_grpc.url(), library::call::Transport::Grpc)
        .await
        .unwrap();
    let router = Router::new(library::pb::HTTP_BINDINGS).unwrap();
    let (mut successes, mut errors) = (0, 0);
    for case in cases() {
        if case["error"].as_bool().unwrap_or(false) {
            continue;
        }
        let id = case["id"].as_str().unwrap();
        let served = &python_results["results"][id]["served"];
        let (method, original) = request_of(&case);
        let sent = as_sent_over_rest(&router, &method, original);
        let (rpc, _) = library::call::method(method.full_name()).unwrap();
        match library::call::invoke(&*stub, rpc, &sent).await {
            Ok(response) => {
                assert_eq!(served["status"], 200, "{id}: REST answered {served}");
                assert_eq!(
                    served["json"],
                    library::call::to_json(&response).unwrap(),
                    "{id}"
                );
                successes += 1;
            }
            Err(e) => {
                let code = e.code().unwrap();
                assert_eq!(
                    served["json"]["error"]["status"],
                    code.as_str_name(),
                    "{id}: gRPC said {e}, REST {served}"
                );
                assert_eq!(
                    served["status"],
                    eeops::error::http_status_for_code(code as i32),
                    "{id}: {served}"
                );
                assert_eq!(served["json"]["error"]["message"], e.message(), "{id}");
                errors += 1;
            }
        }
    }
    for_grpc.shutdown().await;
    assert!(
        successes >= 12 && errors >= 3,
        "{successes} successes, {errors} errors"
    );
}
