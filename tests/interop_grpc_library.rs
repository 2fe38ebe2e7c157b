//! Python grpcio against the Library example served over gRPC: the same sequence of calls
//! (`tests/interop/library_grpc_calls.json`: every RPC, pages, update masks, errors) made by
//! `tests/interop/library_grpc.py` and by eeops' gRPC transport (the example's `call` path,
//! through the generated trait) on two fresh servers gets the same answers, responses and
//! errors alike.
//!
//! Python: `$EEOPS_PYTHON`, else `python3`, if it has grpcio and protobuf; otherwise the test
//! prints SKIPPED and passes, unless `CI` is set.
#![cfg(all(feature = "client", feature = "server"))]

#[path = "../examples/library/mod.rs"]
mod library;
#[path = "interop/python.rs"]
mod python;

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use library::call::{Transport, connect, invoke, method, request, to_json};
use library::serve::Served;
use library::store::Library;

fn interop(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
}

async fn start() -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    library::serve::serve(Library::new().with_unique_themes(), listener)
        .await
        .unwrap()
}

fn calls() -> Vec<(String, Value)> {
    let text = std::fs::read_to_string(interop("library_grpc_calls.json")).unwrap();
    let table: Value = serde_json::from_str(&text).unwrap();
    table["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c[0].as_str().unwrap().to_owned(), c[1].clone()))
        .collect()
}

/// The answers of eeops' gRPC transport (the generated trait) to the call sequence, in the Python script's shape.
async fn eeops_answers(endpoint: &str) -> Vec<Value> {
    let mut answers = Vec::new();
    let mut next_page_token = String::new();
    let stub = connect(endpoint, Transport::Grpc).await.unwrap();
    for (name, mut req) in calls() {
        for v in req.as_object_mut().unwrap().values_mut() {
            if v == "$next_page_token" {
                *v = Value::String(next_page_token.clone());
            }
        }
        let (m, descriptor) = method(&name).unwrap();
        let msg = request(&descriptor, &req.to_string()).unwrap();
        match invoke(&*stub, m, &msg).await {
            Ok(response) => {
                let answer = to_json(&response).unwrap();
                next_page_token = answer["nextPageToken"].as_str().unwrap_or("").to_owned();
                answers.push(json!({ "response": answer }));
            }
            Err(e) => {
                let code = e
                    .code()
                    .unwrap_or_else(|| panic!("{name}: not a service error: {e}"));
                answers.push(json!({ "code": code.as_str_name(), "message": e.message() }));
            }
        }
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_grpcio_gets_the_same_answers_as_eeops() {
    let Some(python) = python::python_with("grpc, google.protobuf.json_format") else {
        return;
    };
    let descriptors =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("library_descriptor_grpc.bin");
    std::fs::write(&descriptors, library::pb::FILE_DESCRIPTOR_SET).unwrap();

    let for_python = start().await;
    let addr = for_python.local_addr().to_string();
    let script = interop("library_grpc.py");
    let calls_file = interop("library_grpc_calls.json");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(script)
            .arg(addr)
            .arg(descriptors)
            .arg(calls_file)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    for_python.shutdown().await;
    assert!(
        output.status.success(),
        "library_grpc.py failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let theirs: Value = serde_json::from_slice(&output.stdout).unwrap();
    let theirs = theirs["answers"].as_array().unwrap().clone();

    let for_eeops = start().await;
    let ours = eeops_answers(&for_eeops.url()).await;
    for_eeops.shutdown().await;

    let calls = calls();
    assert_eq!(theirs.len(), calls.len());
    assert_eq!(ours.len(), calls.len());
    for (i, ((name, req), (a, b))) in calls.iter().zip(ours.iter().zip(&theirs)).enumerate() {
        assert_eq!(
            a, b,
            "call {i}: {name} {req}: eeops (left) and grpcio (right) differ"
        );
    }
    // The sequence exercises successes and each error code it is meant to.
    let codes: std::collections::BTreeSet<&str> =
        ours.iter().filter_map(|a| a["code"].as_str()).collect();
    assert_eq!(
        codes,
        ["ALREADY_EXISTS", "INVALID_ARGUMENT", "NOT_FOUND"]
            .into_iter()
            .collect()
    );
    assert!(ours.iter().filter(|a| a.get("response").is_some()).count() >= 15);
}
