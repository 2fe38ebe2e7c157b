//! The generator's proof: `tests/protos/generated_service.proto` (`gentest.v1.Notes`, whose
//! `Echo` RPC exists nowhere else) is compiled by build.rs through eeops-build; this file holds
//! only an implementation of its tonic server trait and calls. Every RPC is reached through the
//! generated trait over REST and over gRPC, against eeops' server on 127.0.0.1:0 serving it next
//! to Operations, with no hand-written per-RPC line in eeops.
#![cfg(all(feature = "client", feature = "server"))]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use eeops::pb::google::longrunning::operations_rest::OperationsRest;
use eeops::pb::google::longrunning::{Operation, operation};
use eeops::server::emulator::Emulator;
use eeops::server::{Server, ServerHandle};
use eeops::stub::CallOptions;
use prost::Message as _;
use tonic::{Request, Response, Status};

#[allow(missing_docs, dead_code, clippy::all, clippy::pedantic)]
mod pb {
    eeops::include_generated!("eeops_test_service");
}

use pb::gentest::v1::notes_rest::NotesRest;
use pb::gentest::v1::notes_server;
use pb::gentest::v1::notes_stub::{self, NotesMethod, dynamic};
use pb::gentest::v1::{
    Color, CreateNoteRequest, DeleteNoteRequest, EchoRequest, EchoResponse, GetNoteRequest,
    ListNotesRequest, ListNotesResponse, Note, SearchNotesRequest, SearchNotesResponse,
    UpdateNoteRequest, search_notes_request,
};

/// The in-test implementation of the tonic server trait: notes in memory.
#[derive(Debug, Default)]
struct Board {
    notes: Mutex<BTreeMap<String, Note>>,
    /// Notes ever created, by board.
    created: Mutex<BTreeMap<String, u32>>,
}

fn routing_of<T>(request: &Request<T>) -> String {
    request
        .metadata()
        .get("x-goog-request-params")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tonic::async_trait]
impl notes_server::Notes for Board {
    async fn create_note(
        &self,
        request: Request<CreateNoteRequest>,
    ) -> Result<Response<Note>, Status> {
        let request = request.into_inner();
        let mut note = request
            .note
            .ok_or_else(|| Status::invalid_argument("note is required"))?;
        let number = {
            let mut created = self.created.lock().unwrap();
            let n = created.entry(request.parent.clone()).or_default();
            *n += 1;
            *n
        };
        let mut notes = self.notes.lock().unwrap();
        note.name = format!("{}/notes/n{number}", request.parent);
        note.create_time = Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        });
        notes.insert(note.name.clone(), note.clone());
        Ok(Response::new(note))
    }

    async fn get_note(&self, request: Request<GetNoteRequest>) -> Result<Response<Note>, Status> {
        let name = request.into_inner().name;
        let notes = self.notes.lock().unwrap();
        notes
            .get(&name)
            .cloned()
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("no note {name}")))
    }

    async fn get_note_text(
        &self,
        request: Request<GetNoteRequest>,
    ) -> Result<Response<Note>, Status> {
        self.get_note(request).await
    }

    async fn archive_note(
        &self,
        request: Request<GetNoteRequest>,
    ) -> Result<Response<Operation>, Status> {
        let name = request.into_inner().name;
        if !self.notes.lock().unwrap().contains_key(&name) {
            return Err(Status::not_found(format!("no note {name}")));
        }
        Ok(Response::new(Operation {
            name: format!("{name}/operations/archive"),
            done: true,
            result: Some(operation::Result::Error(eeops::pb::google::rpc::Status {
                code: 9,
                message: "archiving is not possible yet".into(),
                details: Vec::new(),
            })),
            ..Default::default()
        }))
    }

    async fn update_note(
        &self,
        request: Request<UpdateNoteRequest>,
    ) -> Result<Response<Note>, Status> {
        let routing = routing_of(&request);
        let mut note = request
            .into_inner()
            .note
            .ok_or_else(|| Status::invalid_argument("note is required"))?;
        let mut notes = self.notes.lock().unwrap();
        let old = notes
            .get(&note.name)
            .ok_or_else(|| Status::not_found(format!("no note {}", note.name)))?;
        note.create_time = old.create_time;
        // Says which routing header came with the update (the nested `note.name`).
        note.tags.push(routing);
        notes.insert(note.name.clone(), note.clone());
        Ok(Response::new(note))
    }

    async fn list_notes(
        &self,
        request: Request<ListNotesRequest>,
    ) -> Result<Response<ListNotesResponse>, Status> {
        let request = request.into_inner();
        let prefix = format!("{}/notes/", request.parent);
        let notes = self.notes.lock().unwrap();
        let notes = notes
            .values()
            .filter(|n| n.name.starts_with(&prefix))
            .filter(|n| request.color == 0 || n.color == request.color)
            .cloned()
            .collect();
        Ok(Response::new(ListNotesResponse { notes }))
    }

    async fn delete_note(
        &self,
        request: Request<DeleteNoteRequest>,
    ) -> Result<Response<()>, Status> {
        let name = request.into_inner().name;
        match self.notes.lock().unwrap().remove(&name) {
            Some(_) => Ok(Response::new(())),
            None => Err(Status::not_found(format!("no note {name}"))),
        }
    }

    async fn search_notes(
        &self,
        request: Request<SearchNotesRequest>,
    ) -> Result<Response<SearchNotesResponse>, Status> {
        Ok(Response::new(SearchNotesResponse {
            seen: Some(request.into_inner()),
        }))
    }

    async fn peek_note(&self, request: Request<GetNoteRequest>) -> Result<Response<Note>, Status> {
        self.get_note(request).await
    }

    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        let routing = routing_of(&request);
        let request = request.into_inner();
        Ok(Response::new(EchoResponse {
            board: request.board.clone(),
            text: request.text.to_uppercase(),
            sum: request.numbers.iter().sum(),
            seen: Some(prost_types::Any {
                type_url: "type.googleapis.com/gentest.v1.EchoRequest".into(),
                value: request.encode_to_vec(),
            }),
            routing,
        }))
    }
}

/// Notes and Operations on one port.
async fn start() -> ServerHandle {
    Server::builder()
        .add_service(NotesRest::new(Board::default()))
        .add_service(OperationsRest::new(Emulator::default()))
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

async fn transports(server: &ServerHandle) -> Vec<(&'static str, Arc<dyn dynamic::Notes>)> {
    let builder = || eeops::Client::builder().endpoint(server.url());
    vec![
        (
            "rest",
            Arc::new(builder().build_rest_transport().await.unwrap()) as Arc<dyn dynamic::Notes>,
        ),
        (
            "grpc",
            Arc::new(builder().build_grpc_transport().await.unwrap()),
        ),
    ]
}

/// Every RPC of the service, through the generated trait, over both transports.
#[tokio::test]
async fn every_rpc_over_rest_and_grpc() {
    let server = start().await;
    for (transport, notes) in transports(&server).await {
        let board = format!("boards/{transport}");
        let opts = CallOptions::default;

        let attachment = prost_types::Any {
            type_url: "type.googleapis.com/gentest.v1.EchoRequest".into(),
            value: EchoRequest {
                board: "boards/x".into(),
                text: "inside".into(),
                numbers: vec![7],
            }
            .encode_to_vec(),
        };
        let created = notes
            .create_note(
                CreateNoteRequest {
                    parent: board.clone(),
                    note: Some(Note {
                        text: "buy milk".into(),
                        stars: 9_007_199_254_740_993,
                        color: Color::Blue as i32,
                        tags: vec!["home".into()],
                        attachment: Some(attachment.clone()),
                        ..Default::default()
                    }),
                },
                opts(),
            )
            .await
            .unwrap();
        assert_eq!(created.name, format!("{board}/notes/n1"), "{transport}");
        assert_eq!(
            created.stars, 9_007_199_254_740_993,
            "{transport}: int64 exact"
        );
        assert_eq!(created.color, Color::Blue as i32, "{transport}");
        assert_eq!(created.create_time.unwrap().seconds, 1_700_000_000);
        assert_eq!(
            created.attachment.as_ref(),
            Some(&attachment),
            "{transport}: Any round trip"
        );

        notes
            .create_note(
                CreateNoteRequest {
                    parent: board.clone(),
                    note: Some(Note {
                        text: "call mum".into(),
                        color: Color::Yellow as i32,
                        ..Default::default()
                    }),
                },
                opts(),
            )
            .await
            .unwrap();

        let got = notes
            .get_note(
                GetNoteRequest {
                    name: created.name.clone(),
                },
                opts(),
            )
            .await
            .unwrap();
        assert_eq!(got, created, "{transport}");

        // Over REST only the `response_body` field travels; gRPC has the whole message.
        let text = notes
            .get_note_text(
                GetNoteRequest {
                    name: created.name.clone(),
                },
                opts(),
            )
            .await
            .unwrap();
        assert_eq!(text.text, "buy milk", "{transport}");
        if transport == "rest" {
            assert_eq!(
                text,
                Note {
                    text: "buy milk".into(),
                    ..Default::default()
                }
            );
        } else {
            assert_eq!(text, created);
        }

        let updated = notes
            .update_note(
                UpdateNoteRequest {
                    note: Some(Note {
                        name: created.name.clone(),
                        text: "buy oat milk".into(),
                        color: Color::Blue as i32,
                        ..Default::default()
                    }),
                },
                opts(),
            )
            .await
            .unwrap();
        assert_eq!(updated.text, "buy oat milk", "{transport}");
        assert_eq!(
            updated.tags,
            [format!("note.name=boards%2F{transport}%2Fnotes%2Fn1")],
            "{transport}: the routing header names the nested field"
        );

        let blue = notes
            .list_notes(
                ListNotesRequest {
                    parent: board.clone(),
                    color: Color::Blue as i32,
                    ..Default::default()
                },
                opts(),
            )
            .await
            .unwrap();
        assert_eq!(blue.notes.len(), 1, "{transport}: the enum filter");
        assert_eq!(blue.notes[0].name, created.name);

        // A method answering eeops' own Operation type.
        let op = notes
            .archive_note(
                GetNoteRequest {
                    name: created.name.clone(),
                },
                opts(),
            )
            .await
            .unwrap();
        assert_eq!(
            op.name,
            format!("{}/operations/archive", created.name),
            "{transport}"
        );
        assert!(op.done);
        let Some(operation::Result::Error(status)) = op.result else {
            panic!("{transport}: {op:?}");
        };
        assert_eq!(
            (status.code, status.message.as_str()),
            (9, "archiving is not possible yet")
        );

        // The extra RPC.
        let echo = notes
            .echo(
                EchoRequest {
                    board: board.clone(),
                    text: "hello".into(),
                    numbers: vec![1, 2, 39],
                },
                opts(),
            )
            .await
            .unwrap();
        assert_eq!(echo.text, "HELLO", "{transport}");
        assert_eq!(echo.sum, 42, "{transport}");
        assert_eq!(echo.board, board);
        assert_eq!(echo.routing, format!("board=boards%2F{transport}"));
        let seen = EchoRequest::decode(echo.seen.unwrap().value.as_slice()).unwrap();
        assert_eq!(seen.numbers, [1, 2, 39], "{transport}");

        notes
            .delete_note(
                DeleteNoteRequest {
                    name: created.name.clone(),
                },
                opts(),
            )
            .await
            .unwrap();
        let err = notes
            .get_note(
                GetNoteRequest {
                    name: created.name.clone(),
                },
                opts(),
            )
            .await
            .unwrap_err();
        assert!(err.is_not_found(), "{transport}: {err}");
        assert!(err.message().contains("no note"), "{transport}: {err}");

        // A name that the binding does not match is refused before anything is sent (REST),
        // or by the service (gRPC).
        let err = notes
            .get_note(
                GetNoteRequest {
                    name: "shelves/s".into(),
                },
                opts(),
            )
            .await
            .unwrap_err();
        if transport == "rest" {
            assert!(err.message().contains("`shelves/s`"), "{err}");
            assert!(err.http_status().is_none(), "not sent: {err}");
        } else {
            assert!(err.is_not_found(), "{err}");
        }
    }
    server.shutdown().await;
}

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

/// A request that sets every kind of field a query string carries (nested message, repeated
/// scalars and enums, wrappers, Timestamp, Duration, FieldMask, bytes with every base64
/// alphabet character, a double and a bool).
fn full_search(board: &str) -> SearchNotesRequest {
    SearchNotesRequest {
        board: board.into(),
        filter: Some(search_notes_request::Filter {
            text: "a b&c=d/e?f#g".into(),
            color: Color::Blue as i32,
            tags: vec!["x".into(), "y z".into(), String::new()],
        }),
        colors: vec![Color::Yellow as i32, Color::Blue as i32],
        stars: vec![-1, 0, i64::MAX],
        min_stars: Some(0),
        author: Some(String::new()),
        pinned: Some(false),
        since: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 120_000_000,
        }),
        max_age: Some(prost_types::Duration {
            seconds: 3,
            nanos: 500_000_000,
        }),
        read_mask: Some(prost_types::FieldMask {
            paths: vec!["text".into(), "create_time".into()],
        }),
        cursor: vec![0xfb, 0xff, 0x00, 0x3e, 0x3f],
        weight: -0.25,
        exact: true,
    }
}

/// Every kind of query parameter, through the generated trait over both transports: the
/// server receives exactly what was sent (over REST, all of it in the query string of a GET).
/// Wrappers set to their default stay set, since they are messages.
#[tokio::test]
async fn search_notes_every_query_parameter_kind() {
    let server = start().await;
    for (transport, notes) in transports(&server).await {
        let sent = full_search(&format!("boards/{transport}"));
        let got = notes
            .search_notes(sent.clone(), CallOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{transport}: {e}"));
        assert_eq!(got.seen, Some(sent), "{transport}");

        // An empty request but for the path: nothing else appears.
        let bare = SearchNotesRequest {
            board: "boards/bare".into(),
            ..Default::default()
        };
        let got = notes
            .search_notes(bare.clone(), CallOptions::default())
            .await
            .unwrap();
        assert_eq!(got.seen, Some(bare), "{transport}");
    }

    // The additional binding: the same request as a JSON body (what another REST client may
    // send), served like the GET.
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

/// A custom HTTP method kind (`custom { kind: "QUERY" }`) over REST, and the same RPC over
/// gRPC, through the generated trait.
#[tokio::test]
async fn custom_method_kind() {
    let server = start().await;
    for (transport, notes) in transports(&server).await {
        let board = format!("boards/peek-{transport}");
        let created = notes
            .create_note(
                CreateNoteRequest {
                    parent: board.clone(),
                    note: Some(Note {
                        text: "peeked".into(),
                        ..Default::default()
                    }),
                },
                CallOptions::default(),
            )
            .await
            .unwrap();
        let peeked = notes
            .peek_note(
                GetNoteRequest {
                    name: created.name.clone(),
                },
                CallOptions::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("{transport}: {e}"));
        assert_eq!(peeked, created, "{transport}");
        let err = notes
            .peek_note(
                GetNoteRequest {
                    name: format!("{board}/notes/none"),
                },
                CallOptions::default(),
            )
            .await
            .unwrap_err();
        assert!(err.is_not_found(), "{transport}: {err}");
    }
    // On the wire: the QUERY method. A GET of that path is not this binding: `:peek` is a
    // custom verb only for QUERY, so the GET goes to GetNote, for a note named `n1:peek`.
    let http = reqwest::Client::new();
    let response = http
        .request(
            http::Method::from_bytes(b"QUERY").unwrap(),
            format!("{}/v1/boards/peek-rest/notes/n1:peek", server.url()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = http
        .get(format!(
            "{}/v1/boards/peek-rest/notes/n1:peek",
            server.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("no note boards/peek-rest/notes/n1:peek"),
        "{body}"
    );
    server.shutdown().await;
}
