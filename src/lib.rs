//! eeops: cancel, watch, list and clean up Google long-running operations as Earth Engine
//! exposes them (`projects/{project}/operations/{operation}`).
//!
//! This part of the crate holds the pieces both transports and both sides share:
//!
//! * [`name`]: operation names, parsed and validated;
//! * [`transcode`]: gRPC transcoding (path templates, routing, query and body mapping).
#![warn(missing_docs)]

pub mod name;
pub mod transcode;
