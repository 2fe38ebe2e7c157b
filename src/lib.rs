//! # eeops
//!
//! Cancel, watch, list and clean up Google long-running operations as Earth Engine exposes
//! them (`projects/{project}/operations/{operation}`), over REST (gRPC transcoding) or gRPC;
//! and serve or call any service annotated with `google.api.http` the same way.
//!
//! * [`Client`] (feature `client`; module [`client`]): the Operations client (builder, REST and
//!   gRPC transports, credentials, retries, paging, waiting, cancel confirmation, bulk calls);
//! * [`server`] (feature `server`): [`serve`](server::serve) puts any `Operations`
//!   implementation on one port over gRPC and REST, [`Server`](server::Server) does the same
//!   for any set of generated services; `server::emulator` is an in-memory Earth Engine
//!   operations service;
//! * [`stub`]: the transport-agnostic `Operations` trait and per-call options, which a test
//!   stub can implement too;
//! * [`pb`]: the generated protobuf types, tonic client and server, and binding table;
//! * generated services: the `eeops-build` crate compiles your protos into the same pieces
//!   (messages, trait, transports, REST glue), which [`include_generated!`] brings in;
//! * [`transcode`]: gRPC transcoding (path templates, routing, query and body mapping), for a
//!   REST gateway of your own;
//! * [`openapi`]: OpenAPI 3.1 documents of the REST bindings;
//! * [`name`]: operation names, parsed and validated; [`json`]: proto3 JSON; [`error`]: the
//!   one error type.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use eeops::server::emulator::{Emulator, TaskSpec};
//!
//! let emulator = Emulator::default();
//! let server = eeops::server::serve(emulator.clone(), "127.0.0.1:0".parse()?).await?;
//! let name = emulator.start_task("my-project", TaskSpec::default());
//!
//! let client = eeops::Client::builder().endpoint(server.url()).build().await?;
//! let outcome = client.cancel_and_confirm(&name, std::time::Duration::from_secs(10)).await?;
//! assert!(matches!(outcome, eeops::client::CancelOutcome::Cancelled(_)));
//! server.shutdown().await;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

// Generated code names the runtime `::eeops::...`, in eeops itself too.
extern crate self as eeops;

/// Includes the code `eeops-build` wrote as `OUT_DIR/NAME.rs`, where `NAME` is the
/// generator's `file_name` (see the eeops-build crate).
///
/// A crate that serves or calls its own annotated service compiles it in `build.rs`:
///
/// ```ignore
/// // build.rs
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     eeops_build::configure().file_name("notes").compile(&["notes.proto"])?;
///     Ok(())
/// }
/// ```
///
/// and includes the result once, in a module of its own:
///
/// ```ignore
/// pub mod pb {
///     eeops::include_generated!("notes");
/// }
/// ```
///
/// eeops' own build compiles a small test service (`tests/protos/generated_service.proto`,
/// package `gentest.v1`) that way, as `eeops_test_service`; including it gives the messages,
/// the tonic client and server, the transport-agnostic trait with its binding table
/// (`notes_stub`) and the REST glue (`notes_rest`):
///
/// ```
/// mod pb {
///     eeops::include_generated!("eeops_test_service");
/// }
/// use pb::gentest::v1::notes_stub::{HTTP_BINDINGS, Notes, NotesMethod};
///
/// let get = NotesMethod::GetNote.info();
/// assert_eq!(get.grpc_path(), "/gentest.v1.Notes/GetNote");
/// assert!(HTTP_BINDINGS.iter().any(|b| b.method == "gentest.v1.Notes.GetNote"));
/// // eeops' transports implement the generated trait.
/// fn callable<T: Notes>() {}
/// callable::<eeops::client::rest::RestTransport>();
/// callable::<eeops::client::grpc::GrpcTransport>();
/// ```
#[macro_export]
macro_rules! include_generated {
    ($name:literal) => {
        include!(concat!(env!("OUT_DIR"), "/", $name, ".rs"));
    };
}

#[cfg(feature = "client")]
pub mod client;
mod codec;
#[doc(hidden)]
pub mod codegen;
pub mod error;
pub mod json;
pub mod name;
pub mod openapi;
pub mod pb;
#[cfg(feature = "server")]
pub mod server;
pub mod stub;
pub mod transcode;

#[cfg(feature = "client")]
pub use client::Client;
pub use error::{Error, ErrorKind, Result};
