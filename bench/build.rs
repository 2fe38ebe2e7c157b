//! Code for the Library benchmarks (`--sections library-server,library-client`).
//!
//! Google's Library example API (`examples/library/proto`) is compiled once into
//! `$OUT_DIR/library/`, and both REST servers under comparison are built on the SAME prost
//! types and the SAME tonic service (`examples/library/store.rs`):
//!
//! * eeops' generator (`eeops-build`): prost messages (each deriving
//!   `prost_reflect::ReflectMessage`), tonic's client and server, the client trait and its
//!   transports, the REST server glue (`LibraryServiceRest`) and the binding table;
//! * `pbjson-build`'s serde implementations of the same messages (proto3 JSON), which
//!   `rest_over_grpc` requires, and `rest_over_grpc::build`'s REST trait, transcoder and tonic
//!   bridge.
//!
//! `google.protobuf.FieldMask` is `pbjson_types::FieldMask` (a prost message with proto3 JSON
//! serde; `prost_types::FieldMask` has no serde); `google.protobuf.Empty` stays `()`.
//!
//! pbjson's and rest_over_grpc's files are appended to the generator's package file, so that
//! they sit in the package's module beside the messages they are for.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

type BuildResult<T> = Result<T, Box<dyn std::error::Error>>;

const LIBRARY_PROTO: &str = "google/example/library/v1/library.proto";
const LIBRARY_INCLUDES: &[&str] = &["../examples/library/proto", "../proto"];
const PACKAGE: &str = "google.example.library.v1";

fn main() -> BuildResult<()> {
    println!("cargo:rerun-if-changed=../examples/library/proto");
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(env::var("OUT_DIR")?).join("library");
    fs::create_dir_all(&out)?;

    let mut compiler = protox::Compiler::new(LIBRARY_INCLUDES)?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files([LIBRARY_PROTO])?;
    // Encoded by protox: it keeps the options' extensions (the google.api.http rules).
    let encoded = compiler.encode_file_descriptor_set();

    // eeops' side: the generator (messages, tonic code, trait, transports, server glue,
    // binding table) into OUT_DIR/library.rs and OUT_DIR/library/.
    eeops_build::configure()
        .includes(LIBRARY_INCLUDES)
        .file_name("library")
        .extern_path(".google.protobuf.FieldMask", "::pbjson_types::FieldMask")
        .compile(&[LIBRARY_PROTO])?;

    // rest_over_grpc's side: proto3 JSON serde for the same messages, and its REST layer.
    pbjson_build::Builder::new()
        .register_descriptors(&encoded)?
        .out_dir(&out)
        .build(&[format!(".{PACKAGE}")])?;
    let options = rest_over_grpc::build::DescriptorOptions::new()
        .package(format!(".{PACKAGE}"))
        .extern_path(".google.protobuf.FieldMask", "::pbjson_types::FieldMask")
        .extern_path(".google.protobuf.Empty", "crate::library::pb::Empty");
    rest_over_grpc::build::Generator::new()
        .add_all(rest_over_grpc::build::ServiceDefinition::from_fds(
            &encoded, &options,
        )?)
        .write(&out)?;

    // pbjson's and rest_over_grpc's code in the package's module, beside the generated code.
    let package_file = out.join(format!("{PACKAGE}.rs"));
    let mut text = fs::read_to_string(&package_file)?;
    for extra in ["serde", "rest"] {
        let _ = writeln!(
            text,
            "include!(concat!(env!(\"OUT_DIR\"), \"/library/{PACKAGE}.{extra}.rs\"));"
        );
    }
    fs::write(&package_file, text)?;
    Ok(())
}
