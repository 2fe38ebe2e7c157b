//! # eeops
//!
//! Cancel, watch, list and clean up Google long-running operations as Earth Engine exposes
//! them (`projects/{project}/operations/{operation}`), over REST (gRPC transcoding) or gRPC.
//!
//! The pieces both transports and both sides share:
//!
//! * [`name`]: operation names, parsed and validated;
//! * [`transcode`]: gRPC transcoding (path templates, routing, query and body mapping);
//! * [`json`]: the proto3 JSON mapping;
//! * [`error`]: one error type for both transports.
//!
//! With the `client` feature, [`client`] holds the [`Client`] (REST and gRPC transports,
//! auth, retries, waiting and cancel confirmation).
//!
//! With the `server` feature, `server` serves any `google.longrunning.Operations`
//! implementation over gRPC and REST on one port, and `server::emulator` is an in-memory Earth
//! Engine operations service built on it.
#![warn(missing_docs)]

#[cfg(feature = "client")]
pub mod client;
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
