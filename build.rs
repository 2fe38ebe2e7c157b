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
//! 5. The messages of `google.longrunning`, `google.rpc` and `google.earthengine.v1` get proto3
//!    JSON code of their own, field by field (see "Typed proto3 JSON" below).

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
    fs::write(out_dir.join("eeops_json.rs"), render_typed_json(&pool))?;
    library_example(&out_dir)?;
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

// ---------------------------------------------------------------------------------------------
// Typed proto3 JSON
//
// For the messages of the packages below, eeops writes and reads proto3 JSON with code
// generated here, field by field, instead of walking descriptors at run time: that is the
// hot path of every REST call (the client reads each answer, the server writes it). The code
// covers what these packages use; a message with a field it does not cover (bytes, a map with
// a non-string key, a repeated enum, another well-known type) gets no typed code, and every
// caller falls back to the prost-reflect mapping for it. The runtime half is
// `src/json/typed.rs`.
// ---------------------------------------------------------------------------------------------

/// The packages whose messages get typed JSON code.
const TYPED_JSON_PACKAGES: &[&str] = &["google.longrunning", "google.rpc", "google.earthengine.v1"];

/// The Rust path prost-build gives a message or enum (`google.rpc.BadRequest.FieldViolation`
/// -> `crate::pb::google::rpc::bad_request::FieldViolation`).
fn rust_type_path(package: &str, full_name: &str) -> String {
    match full_name {
        "google.protobuf.Any" => return "::prost_types::Any".into(),
        "google.protobuf.Duration" => return "::prost_types::Duration".into(),
        "google.protobuf.Timestamp" => return "::prost_types::Timestamp".into(),
        _ => {}
    }
    let mut path = String::from("crate::pb");
    for part in package.split('.') {
        path.push_str("::");
        path.push_str(part);
    }
    let local = full_name
        .strip_prefix(package)
        .unwrap_or(full_name)
        .trim_start_matches('.');
    let parts: Vec<&str> = local.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        path.push_str("::");
        if i + 1 == parts.len() {
            path.push_str(&upper_camel(part));
        } else {
            path.push_str(&snake(part));
        }
    }
    path
}

fn upper_camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A field name as prost-build writes it (keywords are raw identifiers).
fn field_ident(name: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "false", "fn",
        "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
        "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where", "while",
        "abstract", "become", "box", "do", "final", "macro", "override", "priv", "typeof",
        "unsized", "virtual", "yield", "try", "gen",
    ];
    match name {
        "self" | "super" | "crate" | "extern" => format!("{name}_"),
        _ if KEYWORDS.contains(&name) => format!("r#{name}"),
        _ => name.to_owned(),
    }
}

/// How one value of a field is written and read.
struct ValueCode {
    /// An expression writing `v` (a reference) to `out`; may use `?`.
    write: String,
    /// The type read from JSON (a wrapper with `into_inner`).
    read_ty: String,
}

fn value_code(
    kind: &prost_reflect::Kind,
    package_of: &dyn Fn(&str) -> String,
) -> Option<ValueCode> {
    use prost_reflect::Kind;
    let (write, read_ty) = match kind {
        Kind::String => ("w_str(out, v)".to_owned(), "String".to_owned()),
        Kind::Bool => ("w_bool(out, *v)".to_owned(), "bool".to_owned()),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            ("w_int(out, *v)".to_owned(), "I32".to_owned())
        }
        Kind::Uint32 | Kind::Fixed32 => ("w_int(out, *v)".to_owned(), "U32".to_owned()),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            ("w_quoted_int(out, *v)".to_owned(), "I64".to_owned())
        }
        Kind::Uint64 | Kind::Fixed64 => ("w_quoted_int(out, *v)".to_owned(), "U64".to_owned()),
        Kind::Double => ("w_f64(out, *v)".to_owned(), "F64".to_owned()),
        Kind::Float => ("w_f32(out, *v)".to_owned(), "F32".to_owned()),
        Kind::Bytes => return None,
        Kind::Enum(e) => {
            let path = rust_type_path(e.package_name(), e.full_name());
            (
                format!("w_enum(out, *v, {path}::try_from(*v).ok().map(|e| e.as_str_name()))"),
                // Read by the caller with an enum seed.
                String::new(),
            )
        }
        Kind::Message(m) => match m.full_name() {
            "google.protobuf.Any" => ("w_any(out, v)?".to_owned(), "AnyJson".to_owned()),
            "google.protobuf.Duration" => (
                "w_duration(out, v)?".to_owned(),
                "FromText<::prost_types::Duration>".to_owned(),
            ),
            "google.protobuf.Timestamp" => (
                "w_timestamp(out, v)?".to_owned(),
                "FromText<::prost_types::Timestamp>".to_owned(),
            ),
            name => {
                let path = package_of(name);
                if path.is_empty() {
                    return None;
                }
                ("w_msg(out, v)?".to_owned(), format!("Msg<{path}>"))
            }
        },
    };
    Some(ValueCode { write, read_ty })
}

/// The Rust path of a message with typed code, or `""` if it has none.
fn typed_path(
    pool: &DescriptorPool,
    names: &std::collections::BTreeSet<String>,
    name: &str,
) -> String {
    match pool.get_message_by_name(name) {
        Some(m) if names.contains(name) => rust_type_path(m.package_name(), name),
        _ => String::new(),
    }
}

fn render_typed_json(pool: &DescriptorPool) -> String {
    use prost_reflect::Kind;
    use std::collections::BTreeMap;

    let mut candidates: BTreeMap<String, prost_reflect::MessageDescriptor> = pool
        .all_messages()
        .filter(|m| TYPED_JSON_PACKAGES.contains(&m.package_name()) && !m.is_map_entry())
        .map(|m| (m.full_name().to_owned(), m))
        .collect();
    // Drop every message with a field the generated code does not cover, and then every
    // message that refers to a dropped one, until nothing changes.
    loop {
        let before = candidates.len();
        let names: std::collections::BTreeSet<String> = candidates.keys().cloned().collect();
        let path_of = |name: &str| typed_path(pool, &names, name);
        candidates.retain(|_, m| {
            m.fields().all(|f| {
                if f.is_map() {
                    let Kind::Message(entry) = f.kind() else {
                        return false;
                    };
                    let value = entry.map_entry_value_field().kind();
                    entry.map_entry_key_field().kind() == Kind::String
                        && !matches!(value, Kind::Enum(_))
                        && value_code(&value, &path_of).is_some()
                } else if f.is_list() && matches!(f.kind(), Kind::Enum(_)) {
                    false
                } else {
                    value_code(&f.kind(), &path_of).is_some()
                }
            })
        });
        if candidates.len() == before {
            break;
        }
    }
    let names: std::collections::BTreeSet<String> = candidates.keys().cloned().collect();
    let path_of = |name: &str| typed_path(pool, &names, name);

    let mut out = String::from(
        "// Generated by build.rs: typed proto3 JSON for eeops' messages. Do not edit.\n\n",
    );
    let mut any_read = String::new();
    let mut any_write = String::new();
    for (name, m) in &candidates {
        let ty = rust_type_path(m.package_name(), name);
        let mut fields: Vec<_> = m.fields().collect();
        fields.sort_by_key(|f| f.number());
        let mut write = String::new();
        let mut read = String::new();
        for f in &fields {
            let ident = field_ident(f.name());
            let key_lit = format!("b\"\\\"{}\\\":\"", f.json_name());
            let keys = if f.json_name() == f.name() {
                format!("{:?}", f.name())
            } else {
                format!("{:?} | {:?}", f.json_name(), f.name())
            };
            let oneof = f.containing_oneof().filter(|o| !o.is_synthetic());
            if f.is_map() {
                let Kind::Message(entry) = f.kind() else {
                    unreachable!()
                };
                let vc = value_code(&entry.map_entry_value_field().kind(), &path_of)
                    .expect("checked above");
                let _ = writeln!(
                    write,
                    "        if !self.{ident}.is_empty() {{\n            key(out, first, {key_lit});\n            out.push(b'{{');\n            for (i, (k, v)) in self.{ident}.iter().enumerate() {{\n                if i > 0 {{ out.push(b','); }}\n                w_str(out, k);\n                out.push(b':');\n                {};\n            }}\n            out.push(b'}}');\n        }}",
                    vc.write
                );
                let _ = writeln!(
                    read,
                    "            {keys} => {{\n                if let Some(v) = map.next_value::<Option<::std::collections::HashMap<String, {}>>>()? {{\n                    self.{ident} = v.into_iter().map(|(k, v)| (k, v.into_inner())).collect();\n                }}\n            }}",
                    vc.read_ty
                );
                continue;
            }
            let vc = value_code(&f.kind(), &path_of).expect("checked above");
            let is_enum = matches!(f.kind(), Kind::Enum(_));
            let enum_path = match f.kind() {
                Kind::Enum(e) => rust_type_path(e.package_name(), e.full_name()),
                _ => String::new(),
            };
            if f.is_list() {
                let _ = writeln!(
                    write,
                    "        if !self.{ident}.is_empty() {{\n            key(out, first, {key_lit});\n            out.push(b'[');\n            for (i, v) in self.{ident}.iter().enumerate() {{\n                if i > 0 {{ out.push(b','); }}\n                {};\n            }}\n            out.push(b']');\n        }}",
                    vc.write
                );
                let _ = writeln!(
                    read,
                    "            {keys} => {{\n                if let Some(v) = map.next_value::<Option<Vec<{}>>>()? {{\n                    self.{ident} = v.into_iter().map(Wrap::into_inner).collect();\n                }}\n            }}",
                    vc.read_ty
                );
                continue;
            }
            // What is read (`Option<value>`; `None` for null), and how it is stored.
            let read_value = if is_enum {
                format!(
                    "map.next_value_seed(EnumSeed(|s| {enum_path}::from_str_name(s).map(|e| e as i32)))?.flatten()"
                )
            } else {
                format!(
                    "map.next_value::<Option<{}>>()?.map(Wrap::into_inner)",
                    vc.read_ty
                )
            };
            let is_message = matches!(f.kind(), Kind::Message(_));
            if let Some(o) = oneof {
                let oneof_ident = field_ident(&snake(o.name()));
                let variant = format!(
                    "{}::{}::{}",
                    rust_type_path(m.package_name(), name)
                        .rsplit_once("::")
                        .map(|(p, _)| p.to_owned())
                        .unwrap_or_default(),
                    snake(m.name()),
                    upper_camel(o.name())
                );
                let variant = format!("{variant}::{}", upper_camel(f.name()));
                let _ = writeln!(
                    write,
                    "        if let Some({variant}(v)) = &self.{oneof_ident} {{\n            key(out, first, {key_lit});\n            {};\n        }}",
                    vc.write
                );
                let _ = writeln!(
                    read,
                    "            {keys} => {{\n                if let Some(v) = {read_value} {{\n                    if self.{oneof_ident}.is_some() {{\n                        return Err(oneof_twice({:?}));\n                    }}\n                    self.{oneof_ident} = Some({variant}(v));\n                }}\n            }}",
                    o.name()
                );
                continue;
            }
            let optional = f.supports_presence() || is_message;
            if optional {
                let _ = writeln!(
                    write,
                    "        if let Some(v) = &self.{ident} {{\n            key(out, first, {key_lit});\n            {};\n        }}",
                    vc.write
                );
                let _ = writeln!(
                    read,
                    "            {keys} => {{\n                if let Some(v) = {read_value} {{\n                    self.{ident} = Some(v);\n                }}\n            }}"
                );
                continue;
            }
            let non_default = match f.kind() {
                Kind::String => format!("!self.{ident}.is_empty()"),
                Kind::Bool => format!("self.{ident}"),
                Kind::Double | Kind::Float => format!("self.{ident} != 0.0"),
                _ => format!("self.{ident} != 0"),
            };
            let _ = writeln!(
                write,
                "        if {non_default} {{\n            key(out, first, {key_lit});\n            let v = &self.{ident};\n            {};\n        }}",
                vc.write
            );
            let _ = writeln!(
                read,
                "            {keys} => {{\n                if let Some(v) = {read_value} {{\n                    self.{ident} = v;\n                }}\n            }}"
            );
        }
        let _ = writeln!(
            out,
            "impl TypedJson for {ty} {{\n    fn write_fields(&self, out: &mut Vec<u8>, first: &mut bool) -> Result<(), Fallback> {{\n        let _ = (&out, &first);\n{write}        Ok(())\n    }}\n\n    fn read_field<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {{\n        match key {{\n{read}            _ => {{\n                map.next_value::<IgnoredAny>()?;\n            }}\n        }}\n        Ok(())\n    }}\n}}\n"
        );
        let _ = writeln!(
            any_read,
            "        {name:?} => read_rest::<{ty}, A>(map)?.encode_to_vec(),"
        );
        let _ = writeln!(
            any_write,
            "        {name:?} => write_payload::<{ty}>(value, out),"
        );
    }
    let _ = writeln!(
        out,
        "/// Reads the fields after `@type` of an `Any` of the named type; `None` if it has no typed code.\npub(crate) fn read_any_payload<'de, A: MapAccess<'de>>(type_name: &str, map: &mut A) -> Result<Option<Vec<u8>>, A::Error> {{\n    Ok(Some(match type_name {{\n{any_read}        _ => return Ok(None),\n    }}))\n}}\n\n/// Writes the fields of an `Any`'s value of the named type; `None` if it has no typed code.\npub(crate) fn write_any_payload(type_name: &str, value: &[u8], out: &mut Vec<u8>) -> Option<Result<(), Fallback>> {{\n    Some(match type_name {{\n{any_write}        _ => return None,\n    }})\n}}\n\n/// The messages with typed code, by full name.\n#[cfg(test)]\npub(crate) const TYPED_MESSAGES: &[&str] = &{:?};",
        names.iter().collect::<Vec<_>>()
    );
    out
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
