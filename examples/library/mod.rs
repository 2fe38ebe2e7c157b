//! Google's Library example API (`google.example.library.v1`), shared by the `library` example
//! and the tests: the generated code ([`pb`]), an in-memory implementation ([`store`]), the
//! server ([`serve`]) and the client side of `call` ([`call`]).
//!
//! Included by the example (`examples/library/main.rs`) and by tests with
//! `#[path = "../examples/library/mod.rs"] mod library;`.
#![allow(dead_code)]

pub mod call;
pub mod pb;
pub mod serve;
pub mod store;
