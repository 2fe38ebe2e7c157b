//! Code generation for eeops.
//!
//! 1. protox compiles `proto/` to a descriptor set (pure Rust: no protoc needed anywhere).
//! 2. prost-build with tonic's service generator turns it into messages, the tonic client and
//!    server; every message also derives `prost_reflect::ReflectMessage` against the embedded
//!    descriptor pool, which is what proto3 JSON goes through.
//! 3. A service generator wrapped around tonic's writes, for each service, the
//!    transport-agnostic client trait (one async method per RPC), its object-safe mirror, and a
//!    table of the RPC methods.
//! 4. The `google.api.http` annotations of the protos, merged with the Earth Engine rules in
//!    `proto/earthengine/http_rules.json`, become the binding table shared by the REST client and
//!    the REST server.

use std::cell::RefCell;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::rc::Rc;

use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, Value};

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

const EE_RULES: &str = "proto/earthengine/http_rules.json";

type BuildResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> BuildResult<()> {
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=build.rs");

    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(PROTOS.iter().copied())?;
    let fds = compiler.file_descriptor_set();
    let pool = compiler.descriptor_pool();

    // The descriptor pool embedded in the crate, without source info (smaller).
    let mut slim = fds.clone();
    for file in &mut slim.file {
        file.source_code_info = None;
    }
    fs::write(out_dir.join("eeops_descriptor.bin"), slim.encode_to_vec())?;

    let bindings = collect_bindings(&pool)?;
    fs::write(
        out_dir.join("eeops_bindings.rs"),
        render_bindings(&bindings),
    )?;

    let client = env::var_os("CARGO_FEATURE_CLIENT").is_some();
    let server = env::var_os("CARGO_FEATURE_SERVER").is_some();
    let stubs = Rc::new(RefCell::new(String::new()));
    let tonic_gen = tonic_prost_build::configure()
        .build_client(client)
        .build_server(server)
        .build_transport(false)
        .service_generator();

    let mut config = prost_build::Config::new();
    config.out_dir(&out_dir);
    config.include_file("eeops_pb.rs");
    config.service_generator(Box::new(StubGenerator {
        inner: tonic_gen,
        out: Rc::clone(&stubs),
    }));
    for message in pool.all_messages() {
        // Map entries are not Rust types of their own.
        if message.is_map_entry() || message.package_name() == "google.protobuf" {
            continue;
        }
        let name = message.full_name();
        config.type_attribute(
            name,
            format!(
                "#[derive(::prost_reflect::ReflectMessage)] \
                 #[prost_reflect(descriptor_pool = \"crate::pb::DESCRIPTOR_POOL\", message_name = \"{name}\")]"
            ),
        );
    }
    config.compile_fds(fds)?;

    fs::write(out_dir.join("eeops_stubs.rs"), stubs.borrow().as_str())?;
    Ok(())
}

/// One row of the binding table.
struct Binding {
    method: String,
    http_method: String,
    template: String,
    body: String,
    response_body: String,
    api_version: String,
}

/// Reads every binding: the Earth Engine rules first (they are what real endpoints serve), then
/// the protos' own annotations.
fn collect_bindings(pool: &DescriptorPool) -> BuildResult<Vec<Binding>> {
    let http_rule = pool
        .get_message_by_name("google.api.Http")
        .ok_or("google.api.Http is missing from proto/")?;
    let http_ext = pool
        .get_extension_by_name("google.api.http")
        .ok_or("the google.api.http extension is missing from proto/")?;

    let mut out = Vec::new();

    println!("cargo:rerun-if-changed={EE_RULES}");
    let text = fs::read_to_string(EE_RULES)?;
    let versions: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| format!("{EE_RULES}: not a JSON object of version -> google.api.Http: {e}"))?;
    for (version, http) in versions {
        let http = DynamicMessage::deserialize(http_rule.clone(), http)
            .map_err(|e| format!("{EE_RULES}: entry {version:?} is not a google.api.Http: {e}"))?;
        let rules = http.get_field_by_name("rules").ok_or("Http.rules")?;
        for rule in rules.as_list().unwrap_or_default() {
            let rule = rule.as_message().ok_or("a rule is not a message")?;
            let selector = string_field(rule, "selector");
            let method = pool
                .services()
                .flat_map(|s| s.methods().collect::<Vec<_>>())
                .find(|m| m.full_name() == selector)
                .ok_or_else(|| {
                    format!("{EE_RULES}: {version}: no RPC method named {selector:?}")
                })?;
            push_rule(&mut out, method.full_name(), rule, &version)?;
        }
    }

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
            push_rule(&mut out, method.full_name(), rule, "")?;
        }
    }
    Ok(out)
}

fn push_rule(
    out: &mut Vec<Binding>,
    method: &str,
    rule: &DynamicMessage,
    api_version: &str,
) -> BuildResult<()> {
    let mut pattern = None;
    for verb in ["get", "put", "post", "delete", "patch"] {
        let path = string_field(rule, verb);
        if !path.is_empty() {
            pattern = Some((verb.to_ascii_uppercase(), path));
        }
    }
    if let Some(Value::Message(custom)) = rule.get_field_by_name("custom").as_deref() {
        let kind = string_field(custom, "kind");
        if !kind.is_empty() {
            pattern = Some((kind, string_field(custom, "path")));
        }
    }
    let (http_method, template) =
        pattern.ok_or_else(|| format!("the HTTP rule for {method} has no pattern"))?;
    out.push(Binding {
        method: method.to_owned(),
        http_method,
        template,
        body: string_field(rule, "body"),
        response_body: string_field(rule, "response_body"),
        api_version: api_version.to_owned(),
    });
    if let Some(extra) = rule.get_field_by_name("additional_bindings") {
        for more in extra.as_list().unwrap_or_default() {
            if let Some(more) = more.as_message() {
                push_rule(out, method, more, api_version)?;
            }
        }
    }
    Ok(())
}

fn string_field(message: &DynamicMessage, name: &str) -> String {
    message
        .get_field_by_name(name)
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn render_bindings(bindings: &[Binding]) -> String {
    let mut s = String::from(
        "/// Every REST binding of every RPC method, generated by `build.rs`: the Earth Engine\n\
         /// rules of `proto/earthengine/http_rules.json` first, then the protos' own\n\
         /// `google.api.http` annotations. Routed by [`crate::transcode::Router`].\n\
         pub static HTTP_BINDINGS: &[crate::transcode::HttpBinding] = &[\n",
    );
    for b in bindings {
        let _ = writeln!(
            s,
            "    crate::transcode::HttpBinding {{ method: {:?}, http_method: {:?}, template: {:?}, body: {:?}, response_body: {:?}, api_version: {:?} }},",
            b.method, b.http_method, b.template, b.body, b.response_body, b.api_version
        );
    }
    s.push_str("];\n");
    s
}

/// Wraps tonic's service generator: tonic writes its client and server as usual, and this
/// writes the transport-agnostic trait next to them (into a file of its own).
struct StubGenerator {
    inner: Box<dyn prost_build::ServiceGenerator>,
    out: Rc<RefCell<String>>,
}

impl prost_build::ServiceGenerator for StubGenerator {
    fn generate(&mut self, service: prost_build::Service, buf: &mut String) {
        self.out.borrow_mut().push_str(&render_stub(&service));
        self.inner.generate(service, buf);
    }

    fn finalize(&mut self, buf: &mut String) {
        self.inner.finalize(buf);
    }

    fn finalize_package(&mut self, package: &str, buf: &mut String) {
        self.inner.finalize_package(package, buf);
    }
}

/// The Rust path of a generated message, from the type prost-build reports (relative to the
/// package module, e.g. `super::Operation` or `()` for Empty).
fn rust_type(package: &str, ty: &str) -> String {
    if ty == "()" || ty.starts_with("::") {
        return ty.to_owned();
    }
    let module = package.replace('.', "::");
    let rest = ty.trim_start_matches("super::");
    format!("crate::pb::{module}::{rest}")
}

fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn doc_lines(comments: &prost_build::Comments, indent: &str) -> String {
    let mut s = String::new();
    for line in &comments.leading {
        let line = line.trim_end();
        let _ = writeln!(
            s,
            "{indent}///{}{line}",
            if line.is_empty() { "" } else { " " }
        );
    }
    s
}

fn render_stub(service: &prost_build::Service) -> String {
    let mut s = String::new();
    let full = format!("{}.{}", service.package, service.proto_name);
    let name = &service.name;
    let methods: Vec<_> = service
        .methods
        .iter()
        .filter(|m| !m.client_streaming && !m.server_streaming)
        .collect();

    // The method table.
    let _ = writeln!(
        s,
        "/// The RPC methods of `{full}`, with their gRPC paths.\n\
         #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]\n\
         #[non_exhaustive]\n\
         pub enum {name}Method {{"
    );
    for m in &methods {
        let _ = writeln!(s, "    /// `{full}.{}`", m.proto_name);
        let _ = writeln!(s, "    {},", m.proto_name);
    }
    let _ = writeln!(s, "}}\n\nimpl {name}Method {{");
    let _ = writeln!(
        s,
        "    /// Every method, in proto order.\n    pub const ALL: &'static [Self] = &["
    );
    for m in &methods {
        let _ = writeln!(s, "        Self::{},", m.proto_name);
    }
    let _ = writeln!(s, "    ];\n");
    for (fn_name, doc, value) in [
        (
            "full_name",
            "The fully qualified name, as HTTP rule selectors spell it.",
            "full",
        ),
        ("grpc_path", "The gRPC request path.", "grpc"),
        ("name", "The method's own name.", "short"),
    ] {
        let _ = writeln!(
            s,
            "    /// {doc}\n    pub const fn {fn_name}(self) -> &'static str {{\n        match self {{"
        );
        for m in &methods {
            let v = match value {
                "full" => format!("{full}.{}", m.proto_name),
                "grpc" => format!("/{full}/{}", m.proto_name),
                _ => m.proto_name.clone(),
            };
            let _ = writeln!(s, "            Self::{} => {v:?},", m.proto_name);
        }
        let _ = writeln!(s, "        }}\n    }}\n");
    }
    let _ = writeln!(s, "}}\n");

    // The trait.
    let _ = writeln!(
        s,
        "/// The methods of `{full}`, independent of transport: one async method per RPC.\n\
         ///\n\
         /// eeops implements it over REST and over gRPC; implement it yourself to put your own\n\
         /// stub behind a [`crate::Client`]-style facade in tests. Every method has a default that\n\
         /// answers `UNIMPLEMENTED`, so a stub need only implement what it uses.\n\
         pub trait {name}: std::fmt::Debug + Send + Sync + 'static {{"
    );
    for m in &methods {
        let input = rust_type(&service.package, &m.input_type);
        let output = rust_type(&service.package, &m.output_type);
        s.push_str(&doc_lines(&m.comments, "    "));
        let _ = writeln!(
            s,
            "    fn {fname}(\n        &self,\n        request: {input},\n        options: crate::stub::CallOptions,\n    ) -> impl std::future::Future<Output = crate::Result<{output}>> + Send {{\n        \
             let _ = (request, options);\n        \
             std::future::ready(Err(crate::Error::unimplemented_stub({name}Method::{p}.full_name())))\n    }}\n",
            fname = snake(&m.proto_name),
            p = m.proto_name,
        );
    }
    let _ = writeln!(s, "}}\n");

    // The object-safe mirror and its blanket implementation.
    let _ = writeln!(
        s,
        "/// Object-safe forms of the transport-agnostic traits, for `Arc<dyn ...>`.\n\
         pub mod dynamic {{\n    \
         /// The object-safe mirror of [`super::{name}`]; implemented for every type that\n    \
         /// implements that trait.\n    \
         pub trait {name}: std::fmt::Debug + Send + Sync + 'static {{"
    );
    for m in &methods {
        let input = rust_type(&service.package, &m.input_type);
        let output = rust_type(&service.package, &m.output_type);
        let _ = writeln!(
            s,
            "        /// See [`super::{name}::{fname}`].\n        fn {fname}(\n            &self,\n            request: {input},\n            options: crate::stub::CallOptions,\n        ) -> futures::future::BoxFuture<'_, crate::Result<{output}>>;",
            fname = snake(&m.proto_name),
        );
    }
    let _ = writeln!(s, "    }}\n\n    impl<T: super::{name}> {name} for T {{");
    for m in &methods {
        let input = rust_type(&service.package, &m.input_type);
        let output = rust_type(&service.package, &m.output_type);
        let _ = writeln!(
            s,
            "        fn {fname}(\n            &self,\n            request: {input},\n            options: crate::stub::CallOptions,\n        ) -> futures::future::BoxFuture<'_, crate::Result<{output}>> {{\n            Box::pin(super::{name}::{fname}(self, request, options))\n        }}",
            fname = snake(&m.proto_name),
        );
    }
    let _ = writeln!(s, "    }}\n}}");
    s
}
