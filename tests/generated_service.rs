//! The generator's proof: `tests/protos/generated_service.proto` (`gentest.v1.Notes`, whose
//! `Echo` RPC exists nowhere else) is compiled by build.rs through eeops-build, and its service
//! (`tests/notes_service/`) is an implementation of the generated tonic server trait and nothing
//! else. This file checks the generated code and the wire itself against eeops' server on
//! 127.0.0.1:0 serving Notes next to Operations: the REST wire form (proto3 JSON, Any, the error
//! envelope, `response_body`, an additional binding, a custom method kind), query strings sent by
//! hand, gRPC reflection, and the generated trait's defaults and method table. Every RPC through
//! the generated trait over REST and over gRPC is the conformance suite's
//! (`tests/conformance/notes.rs`).
#![cfg(all(feature = "client", feature = "server"))]

mod notes_service;

use eeops::stub::CallOptions;

use notes_service::pb::gentest::v1::notes_stub::{self, NotesMethod, dynamic};
use notes_service::pb::gentest::v1::{EchoRequest, ListNotesRequest};
use notes_service::start;

/// The REST side speaks proto3 JSON with Any resolved through the generated pool, and Google's
/// error envelope; Operations is still served on the same port.
#[tokio::test]
async fn rest_wire_form() {
    let server = start().await;
    let http = reqwest::Client::new();
    let url = server.url();

    let resp = http
        .post(format!("{url}/v1/boards/b:echo"))
        .header("content-type", "application/json")
        .body(r#"{"text":"hi","numbers":[1,2]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["board"], "boards/b");
    assert_eq!(body["text"], "HI");
    assert_eq!(body["sum"], 3);
    assert_eq!(
        body["seen"]["@type"],
        "type.googleapis.com/gentest.v1.EchoRequest"
    );
    assert_eq!(body["seen"]["numbers"], serde_json::json!([1, 2]));

    // An additional binding, and the error envelope.
    let resp = http
        .get(format!("{url}/v1beta/boards/b/notes/none"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["status"], "NOT_FOUND");
    assert_eq!(body["error"]["code"], 404);

    // Enums by name in the body and in the query; int64 as a string in the answer.
    let resp = http
        .post(format!("{url}/v1/boards/b/notes"))
        .body(r#"{"text":"t","stars":"12345678901","color":"YELLOW"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["stars"], "12345678901");
    assert_eq!(body["createTime"], "2023-11-14T22:13:20Z");
    let name = body["name"].as_str().unwrap().to_owned();
    let resp = http
        .get(format!("{url}/v1/{name}:text"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(text, "t", "response_body: the field's value alone");
    let resp = http
        .get(format!("{url}/v1/boards/b/notes?color=YELLOW"))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["notes"].as_array().map(Vec::len), Some(1), "{body}");
    let resp = http
        .get(format!("{url}/v1/boards/b/notes?color=BLUE"))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body, serde_json::json!({}));

    // Unknown paths are Google-style 404s; Operations answers beside Notes.
    let resp = http.get(format!("{url}/v1/nowhere")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let resp = http
        .get(format!("{url}/v1/projects/p/operations/NOPE"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["status"], "NOT_FOUND");

    server.shutdown().await;
}

/// The generated trait's defaults answer UNIMPLEMENTED; the method table names every RPC.
#[tokio::test]
async fn stub_defaults_and_method_table() {
    #[derive(Debug)]
    struct Nothing;
    impl notes_stub::Notes for Nothing {}

    let err = notes_stub::Notes::echo(&Nothing, EchoRequest::default(), CallOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_unimplemented(), "{err}");

    let names: Vec<&str> = NotesMethod::ALL.iter().map(|m| m.name()).collect();
    assert_eq!(
        names,
        [
            "CreateNote",
            "GetNote",
            "UpdateNote",
            "ListNotes",
            "DeleteNote",
            "GetNoteText",
            "ArchiveNote",
            "SearchNotes",
            "PeekNote",
            "Echo"
        ]
    );
    assert_eq!(NotesMethod::Echo.grpc_path(), "/gentest.v1.Notes/Echo");
    assert_eq!(
        NotesMethod::Echo.info().service().full_name(),
        "gentest.v1.Notes"
    );
    let echo_rest: Vec<_> = notes_stub::HTTP_BINDINGS
        .iter()
        .filter(|b| b.method == NotesMethod::Echo.full_name())
        .map(|b| (b.http_method, b.template, b.body))
        .collect();
    assert_eq!(echo_rest, [("POST", "/v1/{board=boards/*}:echo", "*")]);
}

/// Both services over gRPC on one port, and gRPC reflection lists them both.
#[tokio::test]
async fn grpc_serves_both_services() {
    let server = start().await;
    let grpc = eeops::Client::builder()
        .endpoint(server.url())
        .build_grpc_transport()
        .await
        .unwrap();
    let err = eeops::stub::Operations::get_operation(
        &grpc,
        eeops::pb::google::longrunning::GetOperationRequest {
            name: "projects/p/operations/NOPE".into(),
        },
        CallOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let notes: &dyn dynamic::Notes = &grpc;
    let list = notes
        .list_notes(
            ListNotesRequest {
                parent: "boards/empty".into(),
                ..Default::default()
            },
            CallOptions::default(),
        )
        .await
        .unwrap();
    assert!(list.notes.is_empty());

    // Reflection knows both services (their descriptor sets overlap: both have google.api).
    use tokio_stream::StreamExt as _;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let channel = tonic::transport::Channel::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut reflection = ServerReflectionClient::new(channel);
    let requests = [
        MessageRequest::ListServices(String::new()),
        MessageRequest::FileContainingSymbol("gentest.v1.Notes".into()),
        MessageRequest::FileContainingSymbol("google.longrunning.Operations".into()),
    ]
    .map(|m| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(m),
    });
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let first = answers.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = first.message_response else {
        panic!("unexpected {first:?}");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"gentest.v1.Notes"), "{names:?}");
    assert!(
        names.contains(&"google.longrunning.Operations"),
        "{names:?}"
    );
    let second = answers.next().await.unwrap().unwrap();
    let Some(MessageResponse::FileDescriptorResponse(files)) = second.message_response else {
        panic!("unexpected {second:?}");
    };
    assert!(!files.file_descriptor_proto.is_empty());
    // The methods' `google.api.http` options are kept in the descriptors reflection serves
    // (the generator writes them with protox; prost_types would drop the extension): the
    // templates appear nowhere else in the files.
    let has = |files: &[Vec<u8>], needle: &str| {
        files
            .iter()
            .any(|f| f.windows(needle.len()).any(|w| w == needle.as_bytes()))
    };
    assert!(
        has(
            &files.file_descriptor_proto,
            "/v1/{name=boards/*/notes/*}:text"
        ),
        "the Notes file lost its http rules"
    );
    let third = answers.next().await.unwrap().unwrap();
    let Some(MessageResponse::FileDescriptorResponse(files)) = third.message_response else {
        panic!("unexpected {third:?}");
    };
    assert!(
        has(&files.file_descriptor_proto, "/v1/{name=operations/**}"),
        "eeops' operations.proto lost its http rules"
    );
    server.shutdown().await;
}

/// GETs whose query holds only scalars, which the server writes straight to protobuf (the
/// short way), and their neighbours that need the general mapping: both are served alike,
/// and the general mapping's errors stand.
#[tokio::test]
async fn scalar_queries_are_served_like_the_rest() {
    let server = start().await;
    let http = reqwest::Client::new();
    let get = |query: &'static str| {
        let http = http.clone();
        let url = format!("{}/v1/boards/b%20c/notes:search?{query}", server.url());
        async move {
            let response = http.get(url).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.unwrap())
        }
    };
    let cases = [
        // Scalars only: a nested string, an enum by name and by number, bytes, a double, a
        // bool; escapes, `+` as a space, and parameters the server tolerates.
        (
            "filter.text=a+b%26c&filter.color=BLUE&cursor=-_8&weight=-0.5&exact=true&alt=json",
            serde_json::json!({"board": "boards/b c", "filter": {"text": "a b&c", "color": "BLUE"},
                "cursor": "+/8=", "weight": -0.5, "exact": true}),
        ),
        (
            "filter.color=1&weight=Infinity&exact=false",
            serde_json::json!({"board": "boards/b c", "filter": {"color": "YELLOW"},
                "weight": "Infinity"}),
        ),
        // The path wins over a query parameter naming the same field.
        (
            "board=boards/other&filter.text=x",
            serde_json::json!({"board": "boards/b c", "filter": {"text": "x"}}),
        ),
        // Beside a repeated field and a wrapper (the general mapping).
        (
            "filter.text=x&stars=1&stars=2&minStars=0",
            serde_json::json!({"board": "boards/b c", "filter": {"text": "x"},
                "stars": ["1", "2"], "minStars": 0}),
        ),
    ];
    for (query, want) in cases {
        let (status, body) = get(query).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(body["seen"], want, "{query}");
    }
    for (query, error) in [
        ("exact=true&exact=false", "exact"),
        ("weight=heavy", "weight"),
        ("filter.color=PURPLE", "filter.color"),
        ("nothing=1", "nothing"),
        ("filter.text=%zz", "%zz"),
    ] {
        let (status, body) = get(query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["status"], "INVALID_ARGUMENT", "{query}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(error), "{query}: {message}");
    }
    server.shutdown().await;
}

/// SearchNotes' additional binding: the request as a JSON body (what another REST client may
/// send), served like the GET the generated trait sends (`tests/conformance/notes.rs`).
#[tokio::test]
async fn search_notes_json_body_binding() {
    let server = start().await;
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{}/v1/boards/b/notes:search", server.url()))
        .header("content-type", "application/json")
        .body(
            serde_json::json!({
                "filter": {"text": "t", "color": "BLUE", "tags": ["a"]},
                "colors": ["YELLOW"],
                "minStars": 2,
                "since": "2023-11-14T22:13:20.120Z",
                "maxAge": "3.5s",
                "readMask": "text,createTime",
                "cursor": "+/8APj8=",
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["seen"],
        serde_json::json!({
            "board": "boards/b",
            "filter": {"text": "t", "color": "BLUE", "tags": ["a"]},
            "colors": ["YELLOW"],
            "minStars": 2,
            "since": "2023-11-14T22:13:20.120Z",
            "maxAge": "3.500s",
            "readMask": "text,createTime",
            "cursor": "+/8APj8=",
        })
    );
    server.shutdown().await;
}

/// PeekNote's custom method kind (`custom { kind: "QUERY" }`) on the wire: the QUERY method
/// serves it. A GET of that path is not this binding: `:peek` is a custom verb only for QUERY,
/// so the GET goes to GetNote, for a note named `n1:peek`. (Through the generated trait over
/// both transports: `tests/conformance/notes.rs`.)
#[tokio::test]
async fn custom_method_kind_on_the_wire() {
    let server = start().await;
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{}/v1/boards/peek/notes", server.url()))
        .body(r#"{"text":"peeked"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let created: serde_json::Value = response.json().await.unwrap();
    assert_eq!(created["name"], "boards/peek/notes/n1");

    let response = http
        .request(
            http::Method::from_bytes(b"QUERY").unwrap(),
            format!("{}/v1/boards/peek/notes/n1:peek", server.url()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let peeked: serde_json::Value = response.json().await.unwrap();
    assert_eq!(peeked, created);

    let response = http
        .get(format!("{}/v1/boards/peek/notes/n1:peek", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body = response.text().await.unwrap();
    assert!(body.contains("no note boards/peek/notes/n1:peek"), "{body}");
    server.shutdown().await;
}
