//! The Library example's generated code: prost messages (each implementing
//! `prost_reflect::ReflectMessage` against [`DESCRIPTOR_POOL`]), the tonic client and server,
//! the descriptor set and the REST binding table.
//!
//! Compiled by `library_example` in eeops' `build.rs` into `$OUT_DIR/library/` (to be replaced by
//! eeops' generator).

use std::sync::LazyLock;

use prost_reflect::DescriptorPool;

/// The generated packages (only `google.example.library.v1` is Rust code; its imports are
/// options and well-known types).
#[rustfmt::skip]
#[allow(missing_docs, clippy::all, clippy::pedantic, rustdoc::all)]
pub mod google {
    pub mod example {
        pub mod library {
            pub mod v1 {
                include!(concat!(env!("OUT_DIR"), "/library/google.example.library.v1.rs"));
            }
        }
    }
}

pub use google::example::library::v1;

/// The encoded `FileDescriptorSet` of `library.proto` and its imports.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/library/library_descriptor.bin"));

/// The descriptor pool of [`FILE_DESCRIPTOR_SET`]: proto3 JSON, dynamic messages and reflection.
pub static DESCRIPTOR_POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    // Produced by build.rs in the same run as the Rust types: a failure is a build defect.
    DescriptorPool::decode(FILE_DESCRIPTOR_SET).expect("the Library descriptor set is invalid")
});

/// The gRPC service's full name.
pub const SERVICE: &str = "google.example.library.v1.LibraryService";

include!(concat!(env!("OUT_DIR"), "/library/library_bindings.rs"));
