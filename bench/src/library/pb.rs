//! The Library's generated code (see `bench/build.rs`): prost messages (with
//! `prost_reflect::ReflectMessage` for eeops and pbjson's serde for `rest_over_grpc`), the tonic
//! client and server, the descriptor set, eeops' binding table, and `rest_over_grpc`'s REST
//! layer.
// eeops-build's output is included at this module's top level.
#![allow(missing_docs, clippy::all, clippy::pedantic, rustdoc::all)]

/// `google.protobuf.Empty` as `rest_over_grpc`'s generated code names it (prost maps it to `()`).
pub type Empty = ();

// The generated packages, FILE_DESCRIPTOR_SET, DESCRIPTOR_POOL and HTTP_BINDINGS.
eeops::include_generated!("library");

pub use google::example::library::v1;

/// `rest_over_grpc`'s transcoder over the Library's REST trait.
#[rustfmt::skip]
#[allow(missing_docs, clippy::all, clippy::pedantic, rustdoc::all)]
pub mod rog {
    use super::google;
    include!(concat!(env!("OUT_DIR"), "/library/transcoder.rest.rs"));
}

/// The gRPC service's full name.
pub const SERVICE: &str = "google.example.library.v1.LibraryService";
