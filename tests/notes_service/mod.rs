//! The feature test service, `gentest.v1.Notes` (`tests/protos/generated_service.proto`,
//! compiled by build.rs through eeops-build as `eeops_test_service`): its generated code
//! ([`pb`]), an in-memory implementation of its tonic server trait ([`Board`]) and a server of
//! it beside Operations ([`start`]). Shared by `tests/generated_service.rs` (the generated code
//! and the wire) and `tests/conformance/notes.rs` (every RPC through the generated trait over
//! both transports).
//!
//! What the service does beyond storing notes, for the tests to see: `UpdateNote` adds the
//! routing header it received to the note's tags, `Echo` answers the text in upper case with
//! the numbers' sum, the request as an `Any` and the routing header, `SearchNotes` answers the
//! request as received, and `ArchiveNote` answers a done operation with a FAILED_PRECONDITION
//! error, or, for a note whose text is "archivable", with the note as its metadata and its
//! response. It refuses a missing note and negative stars with INVALID_ARGUMENT, and answers
//! NOT_FOUND for a note it does not have.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Mutex;

use eeops::pb::google::longrunning::operations_rest::OperationsRest;
use eeops::pb::google::longrunning::{Operation, operation};
use eeops::server::emulator::Emulator;
use eeops::server::{Server, ServerConfig, ServerHandle};
use prost::Message as _;
use tonic::{Request, Response, Status};

/// The generated code of `gentest.v1` (messages, tonic client and server, the transport-agnostic
/// trait with its transports, the REST server glue).
#[allow(missing_docs, dead_code, clippy::all, clippy::pedantic)]
pub mod pb {
    eeops::include_generated!("eeops_test_service");
}

use pb::gentest::v1::notes_rest::NotesRest;
use pb::gentest::v1::notes_server;
use pb::gentest::v1::{
    CreateNoteRequest, DeleteNoteRequest, EchoRequest, EchoResponse, GetNoteRequest,
    ListNotesRequest, ListNotesResponse, Note, SearchNotesRequest, SearchNotesResponse,
    UpdateNoteRequest,
};

/// The tests' implementation of the tonic server trait: notes in memory.
#[derive(Debug, Default)]
pub struct Board {
    notes: Mutex<BTreeMap<String, Note>>,
    /// Notes ever created, by board.
    created: Mutex<BTreeMap<String, u32>>,
}

/// The refusal the service makes of a note whatever the transport: negative stars.
fn check_stars(note: &Note) -> Result<(), Status> {
    if note.stars < 0 {
        return Err(Status::invalid_argument(format!(
            "stars must not be negative, got {}",
            note.stars
        )));
    }
    Ok(())
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
        check_stars(&note)?;
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
        let Some(note) = self.notes.lock().unwrap().get(&name).cloned() else {
            return Err(Status::not_found(format!("no note {name}")));
        };
        if note.text == "archivable" {
            // The service's own message in an `Any`, as metadata and as the result.
            let any = prost_types::Any {
                type_url: "type.googleapis.com/gentest.v1.Note".into(),
                value: note.encode_to_vec(),
            };
            return Ok(Response::new(Operation {
                name: format!("{name}/operations/archive"),
                metadata: Some(any.clone()),
                done: true,
                result: Some(operation::Result::Response(any)),
            }));
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
        check_stars(&note)?;
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

/// Notes and Operations (the emulator) on one port, on `127.0.0.1:0`.
pub async fn start() -> ServerHandle {
    start_with(ServerConfig::default()).await
}

/// [`start`], with a server configuration.
pub async fn start_with(config: ServerConfig) -> ServerHandle {
    Server::builder()
        .config(config)
        .add_service(NotesRest::new(Board::default()))
        .add_service(OperationsRest::new(Emulator::default()))
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}
