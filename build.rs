//! Code generation for eeops, through eeops' own generator (`eeops-build`, a member of this
//! workspace): protox compiles `proto/`, and the generator writes the prost messages, tonic's
//! client and server, the transport-agnostic `Operations` trait with its REST and gRPC
//! transports, the REST server glue, the binding table (the protos' `google.api.http`
//! annotations after the Earth Engine rules of `proto/earthengine/http_rules.json`) and typed
//! proto3 JSON for eeops' own packages. See `OUT_DIR/eeops_pb.rs` and the package files beside it.
//!
//! With `tests/protos/generated_service.proto` present (a source checkout), it also compiles
//! that test service into `OUT_DIR/eeops_test_service.rs` for the tests (`tests/notes_service/`
//! includes it); the library never includes it; and Google's Library example (`examples/library/proto`) into
//! `OUT_DIR/library.rs` for the `library` example and its tests.

use std::env;
use std::path::Path;

type BuildResult<T> = Result<T, Box<dyn std::error::Error>>;

/// The proto files eeops compiles (their imports come along).
const PROTOS: &[&str] = &[
    "google/longrunning/operations.proto",
    "google/rpc/status.proto",
    "google/rpc/code.proto",
    "google/rpc/error_details.proto",
    "google/api/http.proto",
    "google/api/annotations.proto",
    "google/api/client.proto",
    "google/api/field_behavior.proto",
    "google/earthengine/v1/operation_metadata.proto",
];

const TEST_PROTO: &str = "tests/protos/generated_service.proto";

/// The Library example's include directory and proto.
const LIBRARY_DIR: &str = "examples/library/proto";
const LIBRARY_PROTO: &str = "google/example/library/v1/library.proto";

fn main() -> BuildResult<()> {
    println!("cargo:rerun-if-changed=build.rs");
    let client = env::var_os("CARGO_FEATURE_CLIENT").is_some();
    let server = env::var_os("CARGO_FEATURE_SERVER").is_some();
    eeops_build::configure()
        .includes(["proto"])
        .http_rules("proto/earthengine/http_rules.json")
        .client(client)
        .server(server)
        .descriptor_pool("crate::pb::DESCRIPTOR_POOL")
        .typed_json(
            "crate::pb",
            ["google.longrunning", "google.rpc", "google.earthengine.v1"],
        )
        .file_name("eeops_pb")
        .compile(PROTOS)?;

    println!("cargo:rerun-if-changed={TEST_PROTO}");
    if Path::new(TEST_PROTO).exists() {
        eeops_build::configure()
            .includes(["tests/protos", "proto"])
            .client(client)
            .server(server)
            .extern_path(".google.longrunning", "::eeops::pb::google::longrunning")
            .extern_path(".google.rpc", "::eeops::pb::google::rpc")
            .file_name("eeops_test_service")
            .compile(&["generated_service.proto"])?;
    }
    // Google's Library example (`examples/library/`), for the example and the tests only:
    // nothing under `src/` includes it. A source checkout only: the packaged crate has no
    // examples.
    if Path::new(LIBRARY_DIR).exists() {
        eeops_build::configure()
            .includes([LIBRARY_DIR, "proto"])
            .client(client)
            .server(server)
            .file_name("library")
            .compile(&[LIBRARY_PROTO])?;
    }
    Ok(())
}
