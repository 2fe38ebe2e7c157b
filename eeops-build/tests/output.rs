//! What the generator writes, and where: the documented `OUT_DIR` file list, on eeops' own test
//! service and on eeops' protos with the Earth Engine rules.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eeops-build-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn files_and_items_of_a_service() {
    let out = fresh_dir("notes");
    let root = workspace();
    eeops_build::configure()
        .includes([root.join("tests/protos"), root.join("proto")])
        .file_name("notes")
        .out_dir(&out)
        .compile(&["generated_service.proto"])
        .unwrap();

    let top = std::fs::read_to_string(out.join("notes.rs")).unwrap();
    assert!(top.contains("include!(\"notes/gentest.v1.rs\")"), "{top}");
    assert!(top.contains("pub static DESCRIPTOR_POOL"), "{top}");
    assert!(top.contains("pub const FILE_DESCRIPTOR_SET"), "{top}");
    assert!(top.contains("pub static HTTP_BINDINGS"), "{top}");
    assert!(top.contains("\"/v1/{board=boards/*}:echo\""), "{top}");
    assert!(out.join("notes_descriptor.bin").is_file());
    // Typed proto3 JSON for the packages compiled here, in a hidden module of the top file.
    let typed = std::fs::read_to_string(out.join("notes_typed_json.rs")).unwrap();
    assert!(
        typed.contains("impl TypedJson for super::gentest::v1::Note"),
        "{typed}"
    );
    assert!(top.contains("mod __eeops_typed_json"), "{top}");

    let package = std::fs::read_to_string(out.join("notes/gentest.v1.rs")).unwrap();
    for item in [
        "pub mod notes_stub",
        "pub enum NotesMethod",
        "pub trait Notes",
        "pub mod dynamic",
        "impl Notes for ::eeops::client::rest::RestTransport",
        "impl Notes for ::eeops::client::grpc::GrpcTransport",
        "pub mod notes_rest",
        "pub struct NotesRest<T>",
        "pub mod notes_client",
        "pub mod notes_server",
        // The nested path variable routes by the nested field.
        "out.push((\"note.name\", v.name.as_str()))",
        // Messages with typed code use it (with prost-reflect behind it).
        "::eeops::codegen::typed_write_json(self, out)",
    ] {
        assert!(package.contains(item), "missing `{item}`");
    }
    // Formatted: no line of the generated code is absurdly long.
    assert!(package.lines().all(|l| l.len() < 200));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn rules_file_and_sides() {
    let out = fresh_dir("ops");
    let root = workspace();
    eeops_build::configure()
        .includes([root.join("proto")])
        .http_rules(root.join("proto/earthengine/http_rules.json"))
        .client(false)
        .server(false)
        .file_name("ops")
        .out_dir(&out)
        .compile(&["google/longrunning/operations.proto"])
        .unwrap();
    let package = std::fs::read_to_string(out.join("ops/google.longrunning.rs")).unwrap();
    assert!(package.contains("pub trait Operations"));
    assert!(
        !package.contains("impl Operations for ::eeops::client"),
        "no client side"
    );
    assert!(
        !package.contains("pub mod operations_client"),
        "no tonic client"
    );
    assert!(!package.contains("operations_rest"), "no server side");
    // The rules come first, labelled by version; the annotations after, unlabelled.
    let v1 = package
        .find("\"/v1/{name=projects/*/operations/**}:cancel\"")
        .unwrap();
    let generic = package.find("\"/v1/{name=operations/**}:cancel\"").unwrap();
    assert!(v1 < generic);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn errors_name_the_problem() {
    let out = fresh_dir("bad");
    let root = workspace();
    let err = eeops_build::configure()
        .includes([root.join("proto")])
        .out_dir(&out)
        .compile(&["no/such.proto"])
        .unwrap_err();
    assert!(err.to_string().contains("no/such.proto"), "{err}");

    let rules = out.join("rules.json");
    std::fs::write(
        &rules,
        r#"{"v1": {"rules": [{"selector": "x.Y.Z", "get": "/v1/a"}]}}"#,
    )
    .unwrap();
    let err = eeops_build::configure()
        .includes([root.join("proto")])
        .http_rules(&rules)
        .out_dir(&out)
        .compile(&["google/longrunning/operations.proto"])
        .unwrap_err();
    assert!(err.to_string().contains("x.Y.Z"), "{err}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn extern_types_get_no_glue_of_their_own() {
    let out = fresh_dir("extern");
    let root = workspace();
    std::fs::write(
        out.join("jobs.proto"),
        r#"syntax = "proto3";
package jobs.v1;
import "google/api/annotations.proto";
import "google/longrunning/operations.proto";
service Jobs {
  rpc StartJob(StartJobRequest) returns (google.longrunning.Operation) {
    option (google.api.http) = { post: "/v1/{parent=queues/*}/jobs" body: "*" };
  }
}
message StartJobRequest { string parent = 1; string script = 2; }
"#,
    )
    .unwrap();
    eeops_build::configure()
        .includes([out.clone(), root.join("proto")])
        .extern_path(".google.longrunning", "::eeops::pb::google::longrunning")
        .extern_path(".google.rpc", "::eeops::pb::google::rpc")
        .file_name("jobs")
        .out_dir(&out)
        .compile(&["jobs.proto"])
        .unwrap();
    let package = std::fs::read_to_string(out.join("jobs/jobs.v1.rs")).unwrap();
    assert!(package.contains("::eeops::Result<::eeops::pb::google::longrunning::Operation>"));
    assert!(package.contains("impl ::eeops::codegen::RpcMessage for super::StartJobRequest"));
    assert!(
        !package.contains("RpcMessage for ::eeops::pb"),
        "no impl for a foreign type"
    );
    // The extern package's own service (google.longrunning.Operations) is eeops' to generate:
    // no second trait, method table or REST glue for it here.
    let extern_package =
        std::fs::read_to_string(out.join("jobs/google.longrunning.rs")).unwrap_or_default();
    assert!(
        !extern_package.contains("operations_stub") && !extern_package.contains("Operations"),
        "{extern_package}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
