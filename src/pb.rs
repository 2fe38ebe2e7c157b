//! The generated protobuf types, tonic client and server, and the REST binding table.
//!
//! Everything here comes from `proto/` through `build.rs`, which calls eeops' generator
//! (`eeops-build`; the generated files are `OUT_DIR/eeops_pb.rs` and `OUT_DIR/eeops_pb/`).
//! Beside each service's messages and tonic code, `<service>_stub` holds its transport-agnostic
//! trait, method table and binding table, and `<service>_rest` the REST server glue (for
//! Operations: [`google::longrunning::operations_stub`] and
//! [`google::longrunning::operations_rest`]). Modules follow the proto packages:
//! [`google::longrunning`], [`google::rpc`], [`google::api`] and [`google::earthengine::v1`]
//! (eeops' own definition of Earth Engine's `OperationMetadata`, whose field numbers are not
//! Google's). Well-known types are [`prost_types`]' own.
//!
//! Every message implements [`prost_reflect::ReflectMessage`] against [`DESCRIPTOR_POOL`], which
//! is how eeops maps them to and from proto3 JSON.
//!
//! ```
//! use eeops::pb::google::longrunning::Operation;
//! use prost_reflect::ReflectMessage;
//!
//! let op = Operation { name: "projects/p/operations/X".into(), done: true, ..Default::default() };
//! assert_eq!(op.descriptor().full_name(), "google.longrunning.Operation");
//! ```

use std::sync::LazyLock;

use prost_reflect::DescriptorPool;

#[rustfmt::skip]
#[allow(missing_docs, clippy::all, clippy::pedantic, rustdoc::all)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/eeops_pb.rs"));
}

pub use generated::{HTTP_BINDINGS, google};

/// The encoded `FileDescriptorSet` of every proto eeops compiles (imports included).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/eeops_pb_descriptor.bin"));

/// The descriptor pool built from [`FILE_DESCRIPTOR_SET`]: message descriptors for proto3 JSON,
/// `Any` resolution, and gRPC server reflection.
///
/// ```
/// assert!(eeops::pb::DESCRIPTOR_POOL
///     .get_message_by_name("google.earthengine.v1.OperationMetadata")
///     .is_some());
/// ```
pub static DESCRIPTOR_POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    // The bytes are produced by the generator from the same compiler run as the Rust types, so a
    // failure here is a build defect, not something input can cause.
    DescriptorPool::decode(FILE_DESCRIPTOR_SET).expect("eeops' embedded descriptor set is invalid")
});

/// Type URL prefix used by Google APIs in `Any.type_url`.
pub const TYPE_URL_PREFIX: &str = "type.googleapis.com/";

/// The full type URL of Earth Engine's operation metadata.
pub const EE_METADATA_TYPE_URL: &str =
    "type.googleapis.com/google.earthengine.v1.OperationMetadata";

/// The response header (gRPC initial metadata) with which eeops' own server says that the
/// binary Earth Engine metadata it sends is encoded with eeops' proto (the field numbers of
/// [`google::earthengine::v1::OperationMetadata`], which are eeops' own: Google publishes
/// none). Its value is the server's eeops version. eeops' gRPC client trusts binary metadata
/// only from a server that sends it.
pub const EEOPS_SERVER_HEADER: &str = "x-eeops-server";
