//! The Library example's generated code, written by eeops' generator (`eeops-build`, called from
//! eeops' `build.rs` with `file_name("library")`): the prost messages (each implementing
//! `prost_reflect::ReflectMessage` against [`DESCRIPTOR_POOL`]), tonic's client and server, the
//! transport-agnostic `LibraryService` trait with its REST and gRPC transports
//! ([`v1::library_service_stub`]), the REST server glue ([`v1::library_service_rest`]), the
//! descriptor set and the REST binding table ([`HTTP_BINDINGS`]).

#[rustfmt::skip]
#[allow(missing_docs, dead_code, clippy::all, clippy::pedantic, rustdoc::all)]
mod generated {
    eeops::include_generated!("library");
}

pub use generated::google::example::library::v1;
#[allow(unused_imports)]
pub use generated::{DESCRIPTOR_POOL, FILE_DESCRIPTOR_SET, HTTP_BINDINGS};

/// The gRPC service's full name.
pub const SERVICE: &str = "google.example.library.v1.LibraryService";
