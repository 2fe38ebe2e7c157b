//! Google's Library example API for the Library benchmarks: the example's own in-memory
//! service (`examples/library/store.rs`) and its REST server (`examples/library/rest.rs`,
//! `serve.rs`), included as they are, over the bench's build of the Library's protos
//! ([`pb`], see `bench/build.rs`).
#![allow(dead_code)]

pub mod pb;
#[path = "../../../examples/library/rest.rs"]
pub mod rest;
#[path = "../../../examples/library/serve.rs"]
pub mod serve;
#[path = "../../../examples/library/store.rs"]
pub mod store;
