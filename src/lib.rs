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
#![warn(missing_docs)]

pub mod error;
pub mod json;
pub mod name;
pub mod pb;
pub mod stub;
pub mod transcode;

pub use error::{Error, ErrorKind, Result};

#[cfg(feature = "client")]
pub mod client;

#[cfg(feature = "client")]
pub use client::Client;
