//! The Library's generated code (see `bench/build.rs`): prost messages (with
//! `prost_reflect::ReflectMessage` for eeops and pbjson's serde for `rest_over_grpc`), the tonic
//! client and server, the descriptor set, eeops' binding table, and `rest_over_grpc`'s REST
//! layer.

use std::sync::LazyLock;

use prost_reflect::DescriptorPool;

/// `google.protobuf.Empty` as `rest_over_grpc`'s generated code names it (prost maps it to `()`).
pub type Empty = ();

/// The generated packages.
#[rustfmt::skip]
#[allow(missing_docs, clippy::all, clippy::pedantic, rustdoc::all, unused_qualifications)]
pub mod google {
    pub mod example {
        pub mod library {
            pub mod v1 {
                include!(concat!(env!("OUT_DIR"), "/library/google.example.library.v1.rs"));
                include!(concat!(env!("OUT_DIR"), "/library/google.example.library.v1.serde.rs"));
                include!(concat!(env!("OUT_DIR"), "/library/google.example.library.v1.rest.rs"));
            }
        }
    }
}

pub use google::example::library::v1;

/// `rest_over_grpc`'s transcoder over the Library's REST trait.
#[rustfmt::skip]
#[allow(missing_docs, clippy::all, clippy::pedantic, rustdoc::all)]
pub mod rog {
    use super::google;
    include!(concat!(env!("OUT_DIR"), "/library/transcoder.rest.rs"));
}

/// The encoded `FileDescriptorSet` of `library.proto` and its imports.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/library/library_descriptor.bin"));

/// The descriptor pool of [`FILE_DESCRIPTOR_SET`].
pub static DESCRIPTOR_POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    // Produced by build.rs in the same run as the Rust types: a failure is a build defect.
    DescriptorPool::decode(FILE_DESCRIPTOR_SET).expect("the Library descriptor set is invalid")
});

/// The gRPC service's full name.
pub const SERVICE: &str = "google.example.library.v1.LibraryService";

include!(concat!(env!("OUT_DIR"), "/library/library_bindings.rs"));
