//! Code for the Library benchmarks (`--sections library-server,library-client`).
//!
//! Google's Library example API (`examples/library/proto`) is compiled once into
//! `$OUT_DIR/library/`, and both REST servers under comparison are built on the SAME prost
//! types and the SAME tonic service (`examples/library/store.rs`):
//!
//! * prost messages and the tonic client and server, each message deriving
//!   `prost_reflect::ReflectMessage` against `crate::library::pb::DESCRIPTOR_POOL` (what eeops'
//!   transcoding runtime reads), exactly as eeops' own build.rs compiles the example;
//! * the table of the `google.api.http` bindings (`HTTP_BINDINGS`), for eeops;
//! * `pbjson-build`'s serde implementations of the same messages (proto3 JSON), which
//!   `rest_over_grpc` requires, and `rest_over_grpc::build`'s REST trait, transcoder and tonic
//!   bridge.
//!
//! `google.protobuf.FieldMask` is `pbjson_types::FieldMask` (a prost message with proto3 JSON
//! serde; `prost_types::FieldMask` has no serde); `google.protobuf.Empty` stays `()`.
//!
//! When eeops' generator (`eeops-build`) lands, the first half (messages, tonic code, binding
//! table) is its output instead; the second half stays.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

use prost_reflect::{DynamicMessage, Value};

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
    let fds = compiler.file_descriptor_set();
    let pool = compiler.descriptor_pool();
    // Encoded by protox: it keeps the options' extensions (the google.api.http rules).
    let encoded = compiler.encode_file_descriptor_set();
    fs::write(out.join("library_descriptor.bin"), &encoded)?;

    let mut config = prost_build::Config::new();
    config.out_dir(&out);
    config.extern_path(".google.protobuf.FieldMask", "::pbjson_types::FieldMask");
    config.service_generator(
        tonic_prost_build::configure()
            .build_client(true)
            .build_server(true)
            .build_transport(false)
            .service_generator(),
    );
    for message in pool.all_messages() {
        if message.package_name() != PACKAGE || message.is_map_entry() {
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

    // eeops' side: the binding table.
    let http_ext = pool
        .get_extension_by_name("google.api.http")
        .ok_or("google.api.http is missing from the Library's imports")?;
    let mut table = String::from(
        "/// The REST bindings of the Library, from its `google.api.http` annotations.\n\
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
            rule_rows(&mut table, method.full_name(), rule)?;
        }
    }
    table.push_str("];\n");
    fs::write(out.join("library_bindings.rs"), table)?;
    Ok(())
}

/// One `google.api.HttpRule` (and its additional bindings) as rows of the binding table.
fn rule_rows(table: &mut String, method: &str, rule: &DynamicMessage) -> BuildResult<()> {
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
                rule_rows(table, method, more)?;
            }
        }
    }
    Ok(())
}
