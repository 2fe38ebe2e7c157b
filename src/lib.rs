//! # eeops
//!
//! Cancel, watch, list and clean up Google long-running operations as Earth Engine exposes
//! them (`projects/{project}/operations/{operation}`), over REST (gRPC transcoding) or gRPC.
//!
//! * [`name`]: operation names, parsed and validated;
//! * [`transcode`]: gRPC transcoding (path templates, routing, query and body mapping), shared
//!   by the REST client and the REST server;
//! * [`pb`]: the generated protobuf types, tonic client and server, and binding table;
//! * [`stub`]: the transport-agnostic `Operations` trait;
//! * [`json`]: proto3 JSON; [`error`]: the one error type;
//! * [`openapi`]: OpenAPI 3.1 documents of the REST bindings.
//!
//! With the `server` feature, `server` serves any `google.longrunning.Operations`
//! implementation over gRPC and REST on one port, and `server::emulator` is an in-memory Earth
//! Engine operations service built on it. With the `client` feature, `client` holds the
//! `Client` (REST and gRPC transports, auth, retries, waiting and cancel confirmation).
#![warn(missing_docs)]

// Generated code names the runtime `::eeops::...`, in eeops itself too.
extern crate self as eeops;

/// Includes the code `eeops-build` wrote as `OUT_DIR/NAME.rs` (see the generator's
/// [`file_name`](https://docs.rs/eeops-build)).
///
/// ```ignore
/// pub mod pb {
///     eeops::include_generated!("library");
/// }
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
