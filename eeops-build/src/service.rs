//! The per-service code: wraps tonic's service generator, and writes next to tonic's client and
//! server, in the package's module:
//!
//! * `<service>_stub`: the method enum and table, the service's binding table, the
//!   transport-agnostic trait with `UNIMPLEMENTED` defaults and its object-safe `dynamic`
//!   mirror, the `RpcMessage` impls of the request and response messages, and (with
//!   [`crate::Builder::client`]) the trait's REST and gRPC implementations on eeops' transports;
//! * `<service>_rest` (with [`crate::Builder::server`]): `<Service>Rest<T>`, which serves an
//!   implementation of tonic's server trait over REST and gRPC on eeops' server.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::rc::Rc;

use prost_reflect::{DescriptorPool, Kind, MessageDescriptor};

use crate::bindings::{Binding, render_rows};
use crate::names::{field_ident, service_module, supers};

/// What every service's code needs to know of the whole compilation.
pub(crate) struct Context {
    pub(crate) pool: DescriptorPool,
    pub(crate) bindings: Vec<Binding>,
    /// Messages with typed JSON code, by full name.
    pub(crate) typed: BTreeSet<String>,
    pub(crate) client: bool,
    pub(crate) server: bool,
    /// Messages whose `RpcMessage` impl has been written (a message may serve several methods).
    pub(crate) emitted: RefCell<BTreeSet<String>>,
    /// The proto prefixes given to `extern_path` (without the leading dot): their services are
    /// generated where those types live, not here.
    pub(crate) extern_packages: Vec<String>,
    /// The Rust path of the descriptor pool the messages use, when the user names one
    /// (otherwise each file's own `DESCRIPTOR_POOL`).
    pub(crate) descriptor_pool: Option<String>,
}

impl Context {
    /// Whether a service of `package` comes from an `extern_path` mapping.
    fn is_extern(&self, package: &str) -> bool {
        self.extern_packages.iter().any(|prefix| {
            package == prefix
                || (package.starts_with(prefix.as_str())
                    && package.as_bytes().get(prefix.len()) == Some(&b'.'))
        })
    }
}

/// tonic's service generator, with eeops' code written after tonic's.
pub(crate) struct Generator {
    pub(crate) inner: Box<dyn prost_build::ServiceGenerator>,
    pub(crate) context: Rc<Context>,
}

impl prost_build::ServiceGenerator for Generator {
    fn generate(&mut self, service: prost_build::Service, buf: &mut String) {
        // A service whose package is mapped with `extern_path` already has its code (its
        // messages are not generated here either).
        if self.context.is_extern(&service.package) {
            return;
        }
        buf.push_str(&render(&self.context, &service));
        self.inner.generate(service, buf);
    }

    fn finalize(&mut self, buf: &mut String) {
        self.inner.finalize(buf);
    }

    fn finalize_package(&mut self, package: &str, buf: &mut String) {
        self.inner.finalize_package(package, buf);
    }
}

/// A Rust type as prost-build reports it (relative to the package module), seen from a module
/// `depth` levels below the package module.
fn ty(t: &str, depth: usize) -> String {
    if t == "()" || t.starts_with("::") {
        t.to_owned()
    } else {
        format!("{}{t}", supers(depth))
    }
}

fn doc_lines(comments: &prost_build::Comments) -> String {
    let mut s = String::new();
    for line in &comments.leading {
        let line = line.trim_end();
        let _ = writeln!(s, "///{}{line}", if line.is_empty() { "" } else { " " });
    }
    s
}

fn render(cx: &Context, service: &prost_build::Service) -> String {
    let full = if service.package.is_empty() {
        service.proto_name.clone()
    } else {
        format!("{}.{}", service.package, service.proto_name)
    };
    let name = &service.name;
    let module = service_module(name);
    let package_depth = service.package.split('.').filter(|p| !p.is_empty()).count();
    // From `<service>_stub` up to the file's root module.
    let root = supers(package_depth + 1);
    let methods: Vec<&prost_build::Method> = service
        .methods
        .iter()
        .filter(|m| !m.client_streaming && !m.server_streaming)
        .collect();
    let bindings: Vec<&Binding> = cx
        .bindings
        .iter()
        .filter(|b| {
            b.method
                .rsplit_once('.')
                .is_some_and(|(svc, _)| svc == full)
        })
        .collect();

    let mut s = String::new();
    let _ = writeln!(
        s,
        "/// eeops' code for `{full}`: the transport-agnostic client trait and its object-safe\n\
         /// mirror, the method table, the REST bindings{}.\n\
         pub mod {module}_stub {{",
        if cx.client {
            ", and the trait's REST and gRPC transports"
        } else {
            ""
        }
    );

    // The method enum.
    let _ = writeln!(
        s,
        "/// The RPC methods of `{full}`, with their gRPC paths.\n\
         #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]\n\
         #[non_exhaustive]\n\
         pub enum {name}Method {{"
    );
    for m in &methods {
        let _ = writeln!(s, "/// `{full}.{}`\n{},", m.proto_name, m.proto_name);
    }
    let _ = writeln!(
        s,
        "}}\n\nimpl {name}Method {{\n/// Every method, in proto order.\npub const ALL: &'static [Self] = &["
    );
    for m in &methods {
        let _ = writeln!(s, "Self::{},", m.proto_name);
    }
    let _ = writeln!(s, "];\n");
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
            "/// {doc}\npub const fn {fn_name}(self) -> &'static str {{\nmatch self {{"
        );
        for m in &methods {
            let v = match value {
                "full" => format!("{full}.{}", m.proto_name),
                "grpc" => format!("/{full}/{}", m.proto_name),
                _ => m.proto_name.clone(),
            };
            let _ = writeln!(s, "Self::{} => {v:?},", m.proto_name);
        }
        let _ = writeln!(s, "}}\n}}\n");
    }
    let _ = writeln!(
        s,
        "/// What eeops' transports and server need to know of the method.\n\
         pub fn info(self) -> &'static ::eeops::codegen::MethodInfo {{\nmatch self {{"
    );
    for (i, m) in methods.iter().enumerate() {
        let _ = writeln!(s, "Self::{} => &METHODS[{i}],", m.proto_name);
    }
    let _ = writeln!(s, "}}\n}}\n}}\n");

    // The tables.
    let _ = writeln!(
        s,
        "/// The REST bindings of `{full}`'s methods: the HTTP rules given to the generator first,\n\
         /// then the protos' own `google.api.http` annotations.\n\
         pub static HTTP_BINDINGS: [::eeops::transcode::HttpBinding; {}] = [\n{}];\n\n\
         /// `{full}` as eeops' transports and server see it.\n\
         pub static SERVICE: ::eeops::codegen::ServiceInfo = ::eeops::codegen::ServiceInfo::new(\n\
         {full:?},\n&HTTP_BINDINGS,\n{root}FILE_DESCRIPTOR_SET,\nrouter,\npool,\n);\n\n\
         /// The descriptor pool of the compilation this service comes from.\n\
         fn pool() -> &'static ::prost_reflect::DescriptorPool {{\n&*{pool}\n}}\n\n\
         /// The router over [`HTTP_BINDINGS`], parsed once.\n\
         fn router() -> ::std::result::Result<&'static ::eeops::transcode::Router, &'static str> {{\n\
         static ROUTER: ::std::sync::OnceLock<::std::result::Result<::eeops::transcode::Router, ::std::string::String>> = ::std::sync::OnceLock::new();\n\
         ::eeops::codegen::cached_router(&ROUTER, &HTTP_BINDINGS)\n}}\n\n\
         /// Each method's [`MethodInfo`](::eeops::codegen::MethodInfo), in [`{name}Method`] order.\n\
         pub static METHODS: [::eeops::codegen::MethodInfo; {}] = [",
        bindings.len(),
        render_rows(bindings.iter().copied()),
        methods.len(),
        pool = cx
            .descriptor_pool
            .clone()
            .unwrap_or_else(|| format!("{root}DESCRIPTOR_POOL")),
    );
    for m in &methods {
        let _ = writeln!(
            s,
            "::eeops::codegen::MethodInfo::new(&SERVICE, {:?}, {:?}, {:?}),",
            m.proto_name,
            format!("{full}.{}", m.proto_name),
            format!("/{full}/{}", m.proto_name),
        );
    }
    let _ = writeln!(s, "];\n");

    // The trait.
    let _ = writeln!(
        s,
        "/// The methods of `{full}`, independent of transport: one async method per RPC.\n\
         ///\n\
         /// eeops implements it over REST and over gRPC (on `eeops::client::rest::RestTransport` and\n\
         /// `eeops::client::grpc::GrpcTransport`); implement it yourself to put a stub of your own\n\
         /// in their place. Every method has a default that answers `UNIMPLEMENTED`, so a stub need\n\
         /// only implement what it uses.\n\
         pub trait {name}: ::std::fmt::Debug + Send + Sync + 'static {{"
    );
    for m in &methods {
        let _ = writeln!(
            s,
            "{}fn {fname}(&self, request: {input}, options: ::eeops::stub::CallOptions) -> impl ::std::future::Future<Output = ::eeops::Result<{output}>> + Send {{\n\
             let _ = (request, options);\n\
             ::std::future::ready(Err(::eeops::Error::unimplemented_stub({name}Method::{p}.full_name())))\n}}\n",
            doc_lines(&m.comments),
            fname = m.name,
            input = ty(&m.input_type, 1),
            output = ty(&m.output_type, 1),
            p = m.proto_name,
        );
    }
    let _ = writeln!(s, "}}\n");

    // The object-safe mirror.
    let _ = writeln!(
        s,
        "/// The object-safe form of [`{name}`], for `Arc<dyn dynamic::{name}>`.\n\
         pub mod dynamic {{\n\
         /// The object-safe mirror of [`super::{name}`]; implemented for every type that\n\
         /// implements that trait.\n\
         pub trait {name}: ::std::fmt::Debug + Send + Sync + 'static {{"
    );
    for m in &methods {
        let _ = writeln!(
            s,
            "/// See [`super::{name}::{fname}`].\nfn {fname}(&self, request: {input}, options: ::eeops::stub::CallOptions) -> ::eeops::codegen::BoxFuture<'_, ::eeops::Result<{output}>>;",
            fname = m.name,
            input = ty(&m.input_type, 2),
            output = ty(&m.output_type, 2),
        );
    }
    let _ = writeln!(s, "}}\n\nimpl<T: super::{name}> {name} for T {{");
    for m in &methods {
        let _ = writeln!(
            s,
            "fn {fname}(&self, request: {input}, options: ::eeops::stub::CallOptions) -> ::eeops::codegen::BoxFuture<'_, ::eeops::Result<{output}>> {{\n\
             Box::pin(super::{name}::{fname}(self, request, options))\n}}",
            fname = m.name,
            input = ty(&m.input_type, 2),
            output = ty(&m.output_type, 2),
        );
    }
    let _ = writeln!(s, "}}\n}}\n");

    // The transports.
    if cx.client {
        for transport in ["rest::RestTransport", "grpc::GrpcTransport"] {
            let _ = writeln!(s, "impl {name} for ::eeops::client::{transport} {{");
            for (i, m) in methods.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "fn {fname}(&self, request: {input}, options: ::eeops::stub::CallOptions) -> impl ::std::future::Future<Output = ::eeops::Result<{output}>> + Send {{\n\
                     self.unary(&METHODS[{i}], request, options)\n}}\n",
                    fname = m.name,
                    input = ty(&m.input_type, 1),
                    output = ty(&m.output_type, 1),
                );
            }
            let _ = writeln!(s, "}}\n");
        }
    }

    // The messages' runtime glue.
    for m in &methods {
        for (rust, proto) in [
            (&m.input_type, &m.input_proto_type),
            (&m.output_type, &m.output_proto_type),
        ] {
            let proto = proto.trim_start_matches('.');
            if rust == "()" || rust.starts_with("::") {
                continue;
            }
            if !cx.emitted.borrow_mut().insert(proto.to_owned()) {
                continue;
            }
            let Some(desc) = cx.pool.get_message_by_name(proto) else {
                continue;
            };
            // The bindings of the first method that takes this message decide its routing
            // parameters (the path variables, as Google's clients send them).
            let first_binding = service
                .methods
                .iter()
                .filter(|x| x.input_proto_type.trim_start_matches('.') == proto)
                .find_map(|x| {
                    let method = format!("{full}.{}", x.proto_name);
                    bindings.iter().find(|b| b.method == method)
                });
            s.push_str(&render_message(cx, &ty(rust, 1), &desc, first_binding));
        }
    }
    let _ = writeln!(s, "}}\n");

    if cx.server {
        s.push_str(&render_rest_server(&full, name, &module, &methods));
    }
    s
}

/// The `RpcMessage` impl of one message (`binding`: the first binding of the first method that
/// takes it as its request, which decides its routing parameters).
pub(crate) fn render_message(
    cx: &Context,
    rust: &str,
    desc: &MessageDescriptor,
    binding: Option<&&Binding>,
) -> String {
    let typed = cx.typed.contains(desc.full_name());
    let (write, read) = if typed {
        ("typed_write_json", "typed_read_json")
    } else {
        ("reflect_write_json", "reflect_read_json")
    };
    let mut s = format!(
        "impl ::eeops::codegen::RpcMessage for {rust} {{\n\
         fn message_descriptor() -> ::prost_reflect::MessageDescriptor {{\n\
         static DESCRIPTOR: ::std::sync::OnceLock<::prost_reflect::MessageDescriptor> = ::std::sync::OnceLock::new();\n\
         DESCRIPTOR.get_or_init(|| ::prost_reflect::ReflectMessage::descriptor(&Self::default())).clone()\n}}\n\n\
         fn to_dynamic(&self) -> ::prost_reflect::DynamicMessage {{\n\
         ::prost_reflect::ReflectMessage::transcode_to_dynamic(self)\n}}\n\n\
         fn from_dynamic(message: &::prost_reflect::DynamicMessage) -> ::std::result::Result<Self, ::eeops::codegen::DecodeError> {{\n\
         message.transcode_to()\n}}\n\n\
         fn write_json(&self, out: &mut ::std::vec::Vec<u8>) -> ::std::result::Result<(), ::eeops::json::JsonError> {{\n\
         ::eeops::codegen::{write}(self, out)\n}}\n\n\
         fn read_json(bytes: &[u8]) -> ::std::result::Result<Self, ::eeops::json::JsonError> {{\n\
         ::eeops::codegen::{read}(bytes)\n}}\n"
    );
    let fields: Vec<_> = desc.fields().collect();
    if fields.len() == 1
        && fields[0].name() == "name"
        && fields[0].kind() == Kind::String
        && !fields[0].is_list()
        && !fields[0].supports_presence()
    {
        s.push_str("\nfn name_only(&self) -> ::std::option::Option<&str> {\nSome(&self.name)\n}\n");
    }
    let mut routing = String::new();
    if let Some(b) = binding {
        for path in template_variables(&b.template) {
            if let Some(code) = routing_code(desc, &path) {
                routing.push_str(&code);
            }
        }
    }
    if !routing.is_empty() {
        let _ = write!(
            s,
            "\nfn routing_params<'a>(&'a self, out: &mut ::std::vec::Vec<(&'static str, &'a str)>) {{\n{routing}}}\n"
        );
    }
    s.push_str("}\n\n");
    s
}

/// The field paths of a path template's variables (`/v1/{book.name=shelves/*/books/*}` ->
/// `book.name`).
fn template_variables(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        let inner = &rest[start + 1..start + end];
        let path = inner.split_once('=').map_or(inner, |(p, _)| p).trim();
        out.push(path.to_owned());
        rest = &rest[start + end + 1..];
    }
    out
}

/// Code pushing one routing parameter: singular message fields down to a singular string.
fn routing_code(desc: &MessageDescriptor, path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('.').collect();
    let mut message = desc.clone();
    let mut access = String::from("self");
    let mut optional = false;
    for (i, part) in parts.iter().enumerate() {
        let field = message.get_field_by_name(part)?;
        if field.is_list() || field.is_map() {
            return None;
        }
        let ident = field_ident(part);
        if i + 1 == parts.len() {
            if field.kind() != Kind::String || field.supports_presence() {
                return None;
            }
            return Some(if optional {
                format!(
                    "if let Some(v) = {access} {{\nout.push(({path:?}, v.{ident}.as_str()));\n}}\n"
                )
            } else {
                format!("out.push(({path:?}, {access}.{ident}.as_str()));\n")
            });
        }
        let Kind::Message(next) = field.kind() else {
            return None;
        };
        access = if optional {
            format!("{access}.and_then(|v| v.{ident}.as_ref())")
        } else {
            format!("{access}.{ident}.as_ref()")
        };
        optional = true;
        message = next;
    }
    None
}

/// The REST server glue of one service.
fn render_rest_server(
    full: &str,
    name: &str,
    module: &str,
    methods: &[&prost_build::Method],
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "/// eeops' REST server glue for `{full}`.\n\
         pub mod {module}_rest {{\n\
         /// Serves an implementation of tonic's [`super::{module}_server::{name}`] on eeops' server:\n\
         /// over gRPC, and over REST (gRPC transcoding by the service's bindings) on the same port.\n\
         /// Give it to `eeops::server::Server::builder().add_service(...)`.\n\
         #[derive(Debug)]\n\
         pub struct {name}Rest<T> {{\ninner: ::std::sync::Arc<T>,\n}}\n\n\
         impl<T> {name}Rest<T> {{\n\
         /// Wraps a service implementation.\n\
         pub fn new(inner: T) -> Self {{\nSelf::from_arc(::std::sync::Arc::new(inner))\n}}\n\n\
         /// Wraps a shared service implementation.\n\
         pub fn from_arc(inner: ::std::sync::Arc<T>) -> Self {{\nSelf {{ inner }}\n}}\n}}\n\n\
         impl<T> Clone for {name}Rest<T> {{\nfn clone(&self) -> Self {{\nSelf {{ inner: ::std::sync::Arc::clone(&self.inner) }}\n}}\n}}\n\n\
         impl<T: super::{module}_server::{name}> ::eeops::server::RestDispatch for {name}Rest<T> {{\n\
         fn service(&self) -> &'static ::eeops::codegen::ServiceInfo {{\n&super::{module}_stub::SERVICE\n}}\n\n\
         fn add_grpc(&self, routes: ::tonic::service::Routes) -> ::tonic::service::Routes {{\n\
         routes.add_service(super::{module}_server::{name}Server::from_arc(::std::sync::Arc::clone(&self.inner)))\n}}\n\n\
         fn dispatch<'a>(&'a self, mut call: ::eeops::server::RestCall<'a>) -> ::eeops::codegen::BoxFuture<'a, ::std::result::Result<::eeops::server::RestResponse, ::eeops::server::RestError>> {{\n\
         Box::pin(async move {{\nmatch call.method() {{"
    );
    for m in methods {
        let _ = writeln!(
            s,
            "{:?} => {{\nlet request = call.decode::<{}>()?;\ncall.reply(super::{module}_server::{name}::{}(&*self.inner, request).await)\n}}",
            format!("{full}.{}", m.proto_name),
            ty(&m.input_type, 1),
            m.name,
        );
    }
    let _ = writeln!(s, "_ => Err(call.not_served()),\n}}\n}})\n}}\n}}\n}}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_of_templates() {
        assert_eq!(
            template_variables("/v1/{book.name=shelves/*/books/*}:move"),
            ["book.name"]
        );
        assert_eq!(
            template_variables("/v1/{parent}/x/{id=*}"),
            ["parent", "id"]
        );
        assert!(template_variables("/v1/static").is_empty());
    }
}
