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
//! * [`json`]: proto3 JSON; [`error`]: the one error type.
//!
//! With the `server` feature, `server` serves any `google.longrunning.Operations`
//! implementation over gRPC and REST on one port, and `server::emulator` is an in-memory Earth
//! Engine operations service built on it. With the `client` feature, `client` holds the
//! `Client` (REST and gRPC transports, auth, retries, waiting and cancel confirmation).
#![warn(missing_docs)]

#[cfg(feature = "client")]
pub mod client;
mod codec;
pub mod error;
pub mod json;
pub mod name;
pub mod pb;
#[cfg(feature = "server")]
pub mod server;
pub mod stub;
pub mod transcode;

#[cfg(feature = "client")]
pub use client::Client;
pub use error::{Error, ErrorKind, Result};
