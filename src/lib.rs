//! # eeops
//!
//! Cancel, watch, list and clean up Google long-running operations as Earth Engine exposes
//! them (`projects/{project}/operations/{id}`), over REST (gRPC transcoding) or gRPC.
//!
//! The pieces both transports and both sides share:
//!
//! * [`name`]: operation names, parsed and validated;
//! * [`transcode`]: gRPC transcoding (path templates, routing, query and body mapping).
//!
//! With the `server` feature, `server` serves any `google.longrunning.Operations`
//! implementation over gRPC and REST on one port, and `server::emulator` is an in-memory Earth
//! Engine operations service built on it.
#![warn(missing_docs)]

pub mod error;
pub mod json;
pub mod name;
pub mod pb;
#[cfg(feature = "server")]
pub mod server;
pub mod stub;
pub mod transcode;

pub use error::{Error, ErrorKind, Result};
