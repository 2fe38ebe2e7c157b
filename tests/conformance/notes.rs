//! The feature test service: `gentest.v1.Notes` (`tests/protos/generated_service.proto`), its
//! in-memory implementation `tests/notes_service/` on the generated `NotesRest`, beside
//! Operations on one port. The scenarios call the generated trait itself, through its
//! object-safe mirror `dynamic::Notes`, on eeops' two transports (`rest`, `grpc`), and cover
//! every RPC of the service: its results, and its errors (NOT_FOUND for a note it does not have,
//! INVALID_ARGUMENT for the input it refuses, names a binding does not match).
//!
//! Where the transports differ by design, the scenario says so: over REST a `response_body`
//! RPC carries that field alone, a `body: "note"` message left unset goes out as `{}`, and a
//! path field the binding does not match is refused before anything is sent.

#[path = "../notes_service/mod.rs"]
mod notes_service;

use std::ops::Deref;
use std::sync::Arc;

use eeops::pb::google::longrunning::operation;
use eeops::pb::google::rpc::Code;
use eeops::stub::CallOptions;
use prost::Message as _;

use notes_service::pb::gentest::v1::notes_stub::{NotesMethod, dynamic};
use notes_service::pb::gentest::v1::{
    Color, CreateNoteRequest, DeleteNoteRequest, EchoRequest, GetNoteRequest, ListNotesRequest,
    Note, SearchNotesRequest, UpdateNoteRequest, search_notes_request,
};
use notes_service::{start, start_with};

use super::{Reached, assert_code, assert_invalid, grpc_transport, rest_transport};

/// The generated trait, through its object-safe mirror, on one of eeops' transports.
struct Client {
    notes: Arc<dyn dynamic::Notes>,
    rest: bool,
}

impl Client {
    async fn rest(url: &str) -> Self {
        Client {
            notes: Arc::new(rest_transport(url).await),
            rest: true,
        }
    }

    async fn grpc(url: &str) -> Self {
        Client {
            notes: Arc::new(grpc_transport(url).await),
            rest: false,
        }
    }
}

impl Deref for Client {
    type Target = dyn dynamic::Notes;

    fn deref(&self) -> &Self::Target {
        &*self.notes
    }
}

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

fn opts() -> CallOptions {
    CallOptions::default()
}

fn name(name: &str) -> GetNoteRequest {
    GetNoteRequest { name: name.into() }
}

/// A note no scenario creates.
const MISSING: &str = "boards/b/notes/none";

/// The service's answer for [`MISSING`].
#[track_caller]
fn assert_missing<T: std::fmt::Debug>(result: Result<T, eeops::Error>) {
    assert_code(result, Code::NotFound, &format!("no note {MISSING}"));
}

/// Creates `note` under `parent`.
async fn create(c: &Client, parent: &str, note: Note) -> Note {
    c.create_note(
        CreateNoteRequest {
            parent: parent.into(),
            note: Some(note),
        },
        opts(),
    )
    .await
    .unwrap()
}

/// Creates a note of `text` and `color` under `parent`.
async fn note(c: &Client, parent: &str, text: &str, color: Color) -> Note {
    let note = Note {
        text: text.into(),
        color: color as i32,
        ..Default::default()
    };
    create(c, parent, note).await
}

/// An `Any` holding a message of the test service (resolved through the generated pool on the
/// REST side).
fn attachment() -> prost_types::Any {
    prost_types::Any {
        type_url: "type.googleapis.com/gentest.v1.EchoRequest".into(),
        value: EchoRequest {
            board: "boards/x".into(),
            text: "inside".into(),
            numbers: vec![7],
        }
        .encode_to_vec(),
    }
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

// ------------------------------------------------------------------------------------------
// Scenarios
// ------------------------------------------------------------------------------------------

/// CreateNote (int64 beyond a double's precision, an enum, an `Any`), GetNote, ListNotes with
/// and without its enum filter, DeleteNote; then NOT_FOUND for the deleted note.
async fn notes_create_get_list_delete(c: &Client) {
    let created = create(
        c,
        "boards/b",
        Note {
            text: "buy milk".into(),
            stars: 9_007_199_254_740_993,
            color: Color::Blue as i32,
            tags: vec!["home".into()],
            attachment: Some(attachment()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(created.name, "boards/b/notes/n1");
    assert_eq!(created.text, "buy milk");
    assert_eq!(created.stars, 9_007_199_254_740_993, "int64 exact");
    assert_eq!(created.color, Color::Blue as i32);
    assert_eq!(created.tags, ["home"]);
    assert_eq!(created.create_time.map(|t| t.seconds), Some(1_700_000_000));
    assert_eq!(created.attachment, Some(attachment()), "Any round trip");
    let second = note(c, "boards/b", "call mum", Color::Yellow).await;
    assert_eq!(second.name, "boards/b/notes/n2");
    note(c, "boards/other", "elsewhere", Color::Blue).await;

    let got = c.get_note(name(&created.name), opts()).await.unwrap();
    assert_eq!(got, created);

    let list = |color: Color| {
        c.list_notes(
            ListNotesRequest {
                parent: "boards/b".into(),
                color: color as i32,
                ..Default::default()
            },
            opts(),
        )
    };
    let all = list(Color::Unspecified).await.unwrap();
    assert_eq!(all.notes, [created.clone(), second.clone()]);
    let blue = list(Color::Blue).await.unwrap();
    assert_eq!(
        blue.notes,
        std::slice::from_ref(&created),
        "the enum filter"
    );
    let empty = c
        .list_notes(
            ListNotesRequest {
                parent: "boards/none".into(),
                ..Default::default()
            },
            opts(),
        )
        .await
        .unwrap();
    assert!(empty.notes.is_empty(), "{empty:?}");

    c.delete_note(
        DeleteNoteRequest {
            name: created.name.clone(),
        },
        opts(),
    )
    .await
    .unwrap();
    assert_code(
        c.get_note(name(&created.name), opts()).await,
        Code::NotFound,
        "no note boards/b/notes/n1",
    );
    assert_code(
        c.delete_note(
            DeleteNoteRequest {
                name: created.name.clone(),
            },
            opts(),
        )
        .await,
        Code::NotFound,
        "no note boards/b/notes/n1",
    );
    let all = list(Color::Unspecified).await.unwrap();
    assert_eq!(all.notes, [second]);
}

/// UpdateNote replaces the note named by the nested `note.name` (which is also what the
/// routing header names), keeping its creation time; a note it does not have is NOT_FOUND.
async fn update_note_by_nested_name(c: &Client) {
    let created = note(c, "boards/b", "buy milk", Color::Yellow).await;
    let updated = c
        .update_note(
            UpdateNoteRequest {
                note: Some(Note {
                    name: created.name.clone(),
                    text: "buy oat milk".into(),
                    stars: 3,
                    color: Color::Blue as i32,
                    ..Default::default()
                }),
            },
            opts(),
        )
        .await
        .unwrap();
    assert_eq!(updated.name, created.name);
    assert_eq!(updated.text, "buy oat milk");
    assert_eq!(updated.stars, 3);
    assert_eq!(updated.color, Color::Blue as i32);
    assert_eq!(updated.create_time, created.create_time);
    assert_eq!(
        updated.tags,
        ["note.name=boards%2Fb%2Fnotes%2Fn1"],
        "the routing header names the nested field"
    );
    let got = c.get_note(name(&created.name), opts()).await.unwrap();
    assert_eq!(got, updated);

    assert_code(
        c.update_note(
            UpdateNoteRequest {
                note: Some(Note {
                    name: "boards/b/notes/n9".into(),
                    ..Default::default()
                }),
            },
            opts(),
        )
        .await,
        Code::NotFound,
        "no note boards/b/notes/n9",
    );
}

/// The input the service refuses, INVALID_ARGUMENT over both transports: negative stars on
/// create and update, an update without a note. A create without a note is refused over gRPC;
/// over REST the unset body field goes out as `{}`, so an empty note is created.
async fn refused_input_is_invalid_argument(c: &Client) {
    let bad = Note {
        text: "t".into(),
        stars: -1,
        ..Default::default()
    };
    assert_code(
        c.create_note(
            CreateNoteRequest {
                parent: "boards/b".into(),
                note: Some(bad.clone()),
            },
            opts(),
        )
        .await,
        Code::InvalidArgument,
        "stars must not be negative, got -1",
    );
    let created = note(c, "boards/b", "good", Color::Yellow).await;
    assert_code(
        c.update_note(
            UpdateNoteRequest {
                note: Some(Note {
                    name: created.name.clone(),
                    ..bad
                }),
            },
            opts(),
        )
        .await,
        Code::InvalidArgument,
        "stars must not be negative, got -1",
    );
    let got = c.get_note(name(&created.name), opts()).await.unwrap();
    assert_eq!(got, created, "a refused update changes nothing");

    // No note: over REST the path field `note.name` is missing, refused before sending.
    assert_invalid(
        c.update_note(UpdateNoteRequest { note: None }, opts())
            .await,
        "note",
    );

    let unset = c
        .create_note(
            CreateNoteRequest {
                parent: "boards/b".into(),
                note: None,
            },
            opts(),
        )
        .await;
    if c.rest {
        let empty = unset.unwrap();
        assert_eq!(empty.name, "boards/b/notes/n2");
        assert_eq!(empty.text, "");
    } else {
        assert_code(unset, Code::InvalidArgument, "note is required");
    }
}

/// GetNoteText: over REST only its `response_body` field (`text`) travels, so the note comes
/// back with that field alone; gRPC has the whole message. NOT_FOUND for a missing note.
async fn get_note_text_response_body(c: &Client) {
    let created = create(
        c,
        "boards/b",
        Note {
            text: "buy milk".into(),
            stars: 5,
            tags: vec!["home".into()],
            ..Default::default()
        },
    )
    .await;
    let text = c.get_note_text(name(&created.name), opts()).await.unwrap();
    if c.rest {
        let alone = Note {
            text: "buy milk".into(),
            ..Default::default()
        };
        assert_eq!(text, alone);
    } else {
        assert_eq!(text, created);
    }
    assert_missing(c.get_note_text(name(MISSING), opts()).await);
}

/// ArchiveNote answers eeops' own `google.longrunning.Operation` (mapped with `extern_path`):
/// done, with the service's FAILED_PRECONDITION error inside; for an "archivable" note, done
/// with the note itself as metadata and response (`Any`s of the service's own type, which
/// eeops' pool does not know: the service's pool resolves them on both sides of REST).
/// NOT_FOUND for a missing note.
async fn archive_note_answers_an_operation(c: &Client) {
    let created = note(c, "boards/b", "old", Color::Yellow).await;
    let op = c.archive_note(name(&created.name), opts()).await.unwrap();
    assert_eq!(op.name, "boards/b/notes/n1/operations/archive");
    assert!(op.done, "{op:?}");
    let Some(operation::Result::Error(status)) = op.result else {
        panic!("not an error: {op:?}");
    };
    assert_eq!(
        (status.code, status.message.as_str()),
        (
            Code::FailedPrecondition as i32,
            "archiving is not possible yet"
        )
    );
    assert_missing(c.archive_note(name(MISSING), opts()).await);

    // The service's own message in the Operation's `Any`s (metadata and response): typed on
    // both transports.
    let archivable = note(c, "boards/b", "archivable", Color::Blue).await;
    let op = c
        .archive_note(name(&archivable.name), opts())
        .await
        .unwrap();
    let metadata = op.metadata.clone().expect("metadata");
    assert_eq!(metadata.type_url, "type.googleapis.com/gentest.v1.Note");
    assert_eq!(Note::decode(metadata.value.as_slice()).unwrap(), archivable);
    let Some(operation::Result::Response(response)) = op.result else {
        panic!("not a response: {op:?}");
    };
    assert_eq!(response.type_url, "type.googleapis.com/gentest.v1.Note");
    assert_eq!(Note::decode(response.value.as_slice()).unwrap(), archivable);
}

/// SearchNotes with every kind of query parameter: the server receives exactly what was sent
/// (over REST, all of it in the query string of a GET). Wrappers set to their default stay
/// set, since they are messages; a request empty but for the path carries nothing else.
async fn search_notes_every_query_parameter_kind(c: &Client) {
    let sent = full_search("boards/b");
    let got = c.search_notes(sent.clone(), opts()).await.unwrap();
    assert_eq!(got.seen, Some(sent));

    let bare = SearchNotesRequest {
        board: "boards/bare".into(),
        ..Default::default()
    };
    let got = c.search_notes(bare.clone(), opts()).await.unwrap();
    assert_eq!(got.seen, Some(bare));
}

/// PeekNote, whose REST binding is a custom HTTP method kind (`QUERY`), answers the note;
/// NOT_FOUND for a missing one.
async fn peek_note_custom_method_kind(c: &Client) {
    let created = note(c, "boards/b", "peeked", Color::Blue).await;
    let peeked = c.peek_note(name(&created.name), opts()).await.unwrap();
    assert_eq!(peeked, created);
    assert_missing(c.peek_note(name(MISSING), opts()).await);
}

/// Echo, the RPC found nowhere else: the text in upper case, the numbers' sum, the request
/// back as an `Any`, and the routing header the server received.
async fn echo(c: &Client) {
    let sent = EchoRequest {
        board: "boards/b".into(),
        text: "hello".into(),
        numbers: vec![1, 2, 39],
    };
    let echo = c.echo(sent.clone(), opts()).await.unwrap();
    assert_eq!(echo.board, "boards/b");
    assert_eq!(echo.text, "HELLO");
    assert_eq!(echo.sum, 42);
    assert_eq!(echo.routing, "board=boards%2Fb");
    let seen = echo.seen.unwrap();
    assert_eq!(seen.type_url, "type.googleapis.com/gentest.v1.EchoRequest");
    assert_eq!(EchoRequest::decode(seen.value.as_slice()).unwrap(), sent);
}

/// A name that the bindings do not match: over REST refused before anything is sent (the error
/// names it), over gRPC the service answers NOT_FOUND.
async fn names_outside_the_bindings(c: &Client) {
    for result in [
        c.get_note(name("shelves/s"), opts()).await,
        c.peek_note(name("shelves/s"), opts()).await,
    ] {
        let err = result.unwrap_err();
        if c.rest {
            assert!(err.is_invalid_request(), "{err}");
            assert!(err.message().contains("`shelves/s`"), "{err}");
            assert!(err.http_status().is_none(), "not sent: {err}");
        } else {
            assert!(err.is_not_found(), "{err}");
            assert!(err.message().contains("no note shelves/s"), "{err}");
        }
    }
}

// ------------------------------------------------------------------------------------------
// The runs: every scenario, over both transports, each on a fresh server
// ------------------------------------------------------------------------------------------

conformance! {
    start: start,
    adapters: {
        rest: |url| Client::rest(&url).await,
        grpc: |url| Client::grpc(&url).await,
    },
    scenarios: [
        notes_create_get_list_delete,
        update_note_by_nested_name,
        refused_input_is_invalid_argument,
        get_note_text_response_body,
        archive_note_answers_an_operation,
        search_notes_every_query_parameter_kind,
        peek_note_custom_method_kind,
        echo,
        names_outside_the_bindings,
    ],
}

/// The scenarios reach every RPC of Notes over each transport: the server's request hook
/// records the RPC of each request that reaches it.
#[tokio::test]
async fn scenarios_reach_every_rpc() {
    let reached = Reached::default();
    let start = || start_with(reached.config());
    let rpcs = || NotesMethod::ALL.iter().map(|m| m.grpc_path());
    rest::every_scenario(&start).await;
    reached.assert_every_rpc(rpcs(), "rest");
    grpc::every_scenario(&start).await;
    reached.assert_every_rpc(rpcs(), "grpc");
}
