//! Code generation for eeops, through eeops' own generator (`eeops-build`, a member of this
//! workspace): protox compiles `proto/`, and the generator writes the prost messages, tonic's
//! client and server, the transport-agnostic `Operations` trait with its REST and gRPC
//! transports, the REST server glue, the binding table (the protos' `google.api.http`
//! annotations after the Earth Engine rules of `proto/earthengine/http_rules.json`) and typed
//! proto3 JSON for eeops' own packages. See `OUT_DIR/eeops_pb.rs` and the package files beside it.
//!
//! With `tests/protos/generated_service.proto` present (a source checkout), it also compiles
//! that test service into `OUT_DIR/eeops_test_service.rs` for `tests/generated_service.rs`; the
//! library never includes it.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use prost_reflect::{DynamicMessage, Value};

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
    // A source checkout only: the packaged crate has no examples.
    if Path::new(LIBRARY_DIR).exists() {
        library_example(Path::new(&env::var("OUT_DIR")?))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The Library example (`examples/library/`): TO BE REPLACED BY THE GENERATOR.
//
// Google's Library example API, compiled for the example and the tests only (never part of
// eeops' library: nothing under `src/` includes these files): prost messages with
// `prost_reflect::ReflectMessage` derives against a descriptor pool of their own
// (`crate::library::pb::DESCRIPTOR_POOL` in the crate that includes them), the tonic client and
// server, the encoded descriptor set, and the table of its `google.api.http` bindings.
// Everything goes to `$OUT_DIR/library/`.
// ---------------------------------------------------------------------------------------------

/// The Library example's proto, its include paths, and where its code goes.
const LIBRARY_DIR: &str = "examples/library/proto";
const LIBRARY_PROTO: &str = "google/example/library/v1/library.proto";
const LIBRARY_INCLUDES: &[&str] = &["examples/library/proto", "proto"];

/// Compiles the Library example (see the comment above): to be replaced by the generator.
fn library_example(out_dir: &std::path::Path) -> BuildResult<()> {
    println!("cargo:rerun-if-changed=examples/library/proto");
    let out = out_dir.join("library");
    fs::create_dir_all(&out)?;

    let mut compiler = protox::Compiler::new(LIBRARY_INCLUDES)?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files([LIBRARY_PROTO])?;
    let fds = compiler.file_descriptor_set();
    let pool = compiler.descriptor_pool();

    // Encoded by protox itself: `prost_types` would drop the options' extensions (the
    // `google.api.http` rules that clients reading these descriptors need).
    fs::write(
        out.join("library_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    // prost-build writes every file of the set; only the Library's own file
    // (`google.example.library.v1.rs`) is included: its imports are options and well-known types.
    let mut config = prost_build::Config::new();
    config.out_dir(&out);
    config.service_generator(
        tonic_prost_build::configure()
            .build_client(env::var_os("CARGO_FEATURE_CLIENT").is_some())
            .build_server(env::var_os("CARGO_FEATURE_SERVER").is_some())
            .build_transport(false)
            .service_generator(),
    );
    for message in pool.all_messages() {
        if message.package_name() != "google.example.library.v1" || message.is_map_entry() {
            continue;
        }
        let name = message.full_name();
        config.type_attribute(
            name,
            format!(
                "#[derive(::prost_reflect::ReflectMessage)] \
                 #[prost_reflect(descriptor_pool = \"crate::library::pb::DESCRIPTOR_POOL\", message_name = \"{name}\")]"
            ),
        );
    }
    config.compile_fds(fds)?;

    // The binding table, from the annotations.
    let http_ext = pool
        .get_extension_by_name("google.api.http")
        .ok_or("google.api.http is missing from the Library example's imports")?;
    let mut table = String::from(
        "/// The REST bindings of the Library example, from its `google.api.http` annotations.\n\
         pub static HTTP_BINDINGS: &[::eeops::transcode::HttpBinding] = &[\n",
    );
    for service in pool.services() {
        for method in service.methods() {
            let options = method.options();
            if !options.has_extension(&http_ext) {
                continue;
            }
            let value = options.get_extension(&http_ext);
            let rule = value
                .as_message()
                .ok_or("google.api.http is not a message")?;
            library_rule(&mut table, method.full_name(), rule)?;
        }
    }
    table.push_str("];\n");
    fs::write(out.join("library_bindings.rs"), table)?;
    Ok(())
}

/// One `google.api.HttpRule` (and its additional bindings) as rows of the Library's table.
fn library_rule(table: &mut String, method: &str, rule: &DynamicMessage) -> BuildResult<()> {
    let text = |m: &DynamicMessage, name: &str| {
        m.get_field_by_name(name)
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let mut pattern = None;
    for verb in ["get", "put", "post", "delete", "patch"] {
        let path = text(rule, verb);
        if !path.is_empty() {
            pattern = Some((verb.to_ascii_uppercase(), path));
        }
    }
    if let Some(Value::Message(custom)) = rule.get_field_by_name("custom").as_deref()
        && !text(custom, "kind").is_empty()
    {
        pattern = Some((text(custom, "kind"), text(custom, "path")));
    }
    let (http_method, template) =
        pattern.ok_or_else(|| format!("the HTTP rule of {method} has no pattern"))?;
    let _ = writeln!(
        table,
        "    ::eeops::transcode::HttpBinding {{ method: {method:?}, http_method: {http_method:?}, template: {template:?}, body: {:?}, response_body: {:?}, api_version: \"\" }},",
        text(rule, "body"),
        text(rule, "response_body"),
    );
    if let Some(extra) = rule.get_field_by_name("additional_bindings") {
        for more in extra.as_list().unwrap_or_default() {
            if let Some(more) = more.as_message() {
                library_rule(table, method, more)?;
            }
        }
    }
    Ok(())
}
