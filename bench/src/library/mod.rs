//! Google's Library example API for the Library benchmarks: the example's own in-memory
//! service (`examples/library/store.rs`), included as it is, over the bench's build of the
//! Library's protos ([`pb`], see `bench/build.rs`).
#![allow(dead_code)]

pub mod pb;
#[path = "../../../examples/library/store.rs"]
pub mod store;
