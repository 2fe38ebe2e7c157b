//! # eeops-build
//!
//! Build-time code generation for [eeops](https://crates.io/crates/eeops)' runtime, used from a
//! `build.rs` the way `tonic-prost-build` is. From `.proto` files (compiled with
//! [protox](https://crates.io/crates/protox): no `protoc` needed) and, optionally, a
//! service config's HTTP rules, it writes for every service:
//!
//! * the prost messages (each deriving `prost_reflect::ReflectMessage` against the compiled
//!   descriptor pool, which is what proto3 JSON and `Any` resolution go through) and tonic's
//!   client and server;
//! * `<service>_stub`: a transport-agnostic async trait (one method per unary RPC, each
//!   defaulting to `UNIMPLEMENTED`) and its object-safe mirror `dynamic::<Service>`, the method
//!   enum and table, the service's binding table (from the `google.api.http` annotations and the
//!   HTTP rules), and with [`Builder::client`] the trait's implementations on eeops' REST
//!   transport (gRPC transcoding) and gRPC transport;
//! * `<service>_rest` with [`Builder::server`]: `<Service>Rest<T>`, which serves your
//!   implementation of tonic's server trait over gRPC and REST on one port with eeops' server.
//!
//! Nothing per RPC is written by hand.
//!
//! ## Use
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [dependencies]
//! eeops = "0.1"
//! prost = "0.14"
//! prost-reflect = { version = "0.16", features = ["derive"] }
//! tonic = "0.14"
//! tonic-prost = "0.14"
//!
//! [build-dependencies]
//! eeops-build = "0.1"
//! ```
//!
//! `build.rs`:
//!
//! ```no_run
//! fn main() -> std::io::Result<()> {
//!     eeops_build::configure()
//!         .includes(["proto"])
//!         .file_name("library")
//!         .compile(&["google/example/library/v1/library.proto"])
//! }
//! ```
//!
//! `src/lib.rs`:
//!
//! ```ignore
//! pub mod pb {
//!     eeops::include_generated!("library");
//! }
//! use pb::google::example::library::v1::{library_service_rest::LibraryServiceRest, library_service_stub::LibraryService};
//! ```
//!
//! ## What lands in `OUT_DIR`
//!
//! For [`Builder::file_name`] `NAME` (default `eeops_generated`):
//!
//! * `NAME.rs`: the file to `include!`: one nested module per proto package (each including the
//!   package's file below), then `FILE_DESCRIPTOR_SET`, `DESCRIPTOR_POOL` (unless
//!   [`Builder::descriptor_pool`] names one of yours) and `HTTP_BINDINGS` (every binding of
//!   every service);
//! * `NAME/<package>.rs` per proto package (e.g. `library/google.example.library.v1.rs`):
//!   prost's messages, then for each service the `<service>_stub` and `<service>_rest` modules
//!   and tonic's `<service>_client` and `<service>_server` (`NAME/_modules.rs` is prost's own
//!   module file, which `NAME.rs` repeats);
//! * `NAME_descriptor.bin`: the encoded `FileDescriptorSet` (imports included, no source info,
//!   options' extensions such as `google.api.http` kept);
//! * `NAME_typed_json.rs`: typed proto3 JSON code (field by field, no descriptor walking at
//!   run time) for every message it covers of the packages compiled here (not the well-known
//!   types, not [`Builder::extern_path`] ones), included by `NAME.rs` in a hidden module;
//!   messages it does not cover, and values it gives up on (an `Any` of a type eeops' own
//!   registry does not know, say), go through prost-reflect's `DynamicMessage` instead.
//!
//! All of it is formatted with prettyplease; read it there (`find target -name 'NAME.rs'`), or
//! with `cargo expand`.
#![warn(missing_docs)]

mod bindings;
mod names;
mod service;
mod typed_json;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

type BuildError = Box<dyn std::error::Error + Send + Sync>;

/// The include file prost writes into the package directory.
const PROST_INCLUDE_FILE: &str = "_modules.rs";

/// A fresh [`Builder`] with the defaults: no include paths beyond the protos' own directories
/// (add them with [`Builder::includes`]), no HTTP rules file, client and server code, no typed
/// JSON, output `OUT_DIR/eeops_generated.rs`.
///
/// ```
/// let builder = eeops_build::configure().includes(["proto"]).client(true).server(false);
/// # let _ = builder;
/// ```
pub fn configure() -> Builder {
    Builder {
        includes: Vec::new(),
        http_rules: None,
        client: true,
        server: true,
        typed_json: Vec::new(),
        typed_json_root: "crate".to_owned(),
        file_name: "eeops_generated".to_owned(),
        out_dir: None,
        descriptor_pool: None,
        extern_paths: Vec::new(),
    }
}

/// What to generate, and where. Setters never fail; [`Builder::compile`] reports problems.
///
/// ```no_run
/// eeops_build::configure()
///     .includes(["proto"])
///     .http_rules("proto/http_rules.json")
///     .file_name("pb")
///     .compile(&["my/service/v1/service.proto"])?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    includes: Vec<PathBuf>,
    http_rules: Option<PathBuf>,
    client: bool,
    server: bool,
    typed_json: Vec<String>,
    typed_json_root: String,
    file_name: String,
    out_dir: Option<PathBuf>,
    descriptor_pool: Option<String>,
    extern_paths: Vec<(String, String)>,
}

impl Builder {
    /// Adds include directories, where the protos and their imports are looked up.
    ///
    /// ```
    /// let b = eeops_build::configure().includes(["proto", "third_party/googleapis"]);
    /// # let _ = b;
    /// ```
    pub fn includes<I, P>(mut self, dirs: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        self.includes
            .extend(dirs.into_iter().map(|d| d.as_ref().to_path_buf()));
        self
    }

    /// A service config's HTTP rules, which come before the protos' own annotations (the
    /// googleapis way of overriding a mixin's bindings): a JSON object whose keys are API
    /// version labels and whose values are `google.api.Http` in proto3 JSON, e.g.
    /// `{"v1": {"rules": [{"selector": "pkg.Service.Method", "get": "/v1/{name=things/*}"}]}}`.
    /// The label becomes the bindings' `api_version`, which eeops' REST transport selects by
    /// (annotations have an empty label). Needs `google/api/http.proto` among the protos.
    ///
    /// ```
    /// let b = eeops_build::configure().http_rules("proto/earthengine/http_rules.json");
    /// # let _ = b;
    /// ```
    pub fn http_rules(mut self, path: impl AsRef<Path>) -> Self {
        self.http_rules = Some(path.as_ref().to_path_buf());
        self
    }

    /// Whether to generate the client side: tonic's client, and the trait's implementations on
    /// eeops' REST and gRPC transports (which need eeops' `client` feature). Default `true`.
    ///
    /// ```
    /// let b = eeops_build::configure().client(false);
    /// # let _ = b;
    /// ```
    pub fn client(mut self, enable: bool) -> Self {
        self.client = enable;
        self
    }

    /// Whether to generate the server side: tonic's server, and `<Service>Rest<T>` for eeops'
    /// server (which needs eeops' `server` feature). Default `true`.
    ///
    /// ```
    /// let b = eeops_build::configure().server(false);
    /// # let _ = b;
    /// ```
    pub fn server(mut self, enable: bool) -> Self {
        self.server = enable;
        self
    }

    /// Packages whose messages get typed proto3 JSON code (field by field, instead of walking
    /// descriptors at run time) written to `NAME_typed_json.rs`, with `root` the Rust path at
    /// which `NAME.rs` is included: eeops' own build, whose typed code sits inside eeops. Without
    /// it, every package compiled here gets typed code of its own (see the crate docs).
    ///
    /// ```
    /// let b = eeops_build::configure().typed_json("crate::pb", ["google.longrunning"]);
    /// # let _ = b;
    /// ```
    #[doc(hidden)]
    pub fn typed_json<I, S>(mut self, root: &str, packages: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.typed_json_root = root.to_owned();
        self.typed_json = packages.into_iter().map(Into::into).collect();
        self
    }

    /// The stem of the output files: `OUT_DIR/NAME.rs` and `OUT_DIR/NAME_descriptor.bin`.
    /// Default `eeops_generated`.
    ///
    /// ```
    /// let b = eeops_build::configure().file_name("library");
    /// # let _ = b;
    /// ```
    pub fn file_name(mut self, name: impl Into<String>) -> Self {
        self.file_name = name.into();
        self
    }

    /// Where to write (default: the `OUT_DIR` cargo gives the build script).
    ///
    /// ```
    /// let b = eeops_build::configure().out_dir(std::env::temp_dir());
    /// # let _ = b;
    /// ```
    pub fn out_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.out_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The Rust path of a `prost_reflect::DescriptorPool` of your own that holds these protos
    /// (a `static` or `LazyLock`), for the messages' `ReflectMessage` derive; by default
    /// `NAME.rs` defines `DESCRIPTOR_POOL` from `NAME_descriptor.bin` and uses that.
    ///
    /// ```
    /// let b = eeops_build::configure().descriptor_pool("crate::pb::DESCRIPTOR_POOL");
    /// # let _ = b;
    /// ```
    pub fn descriptor_pool(mut self, path: impl Into<String>) -> Self {
        self.descriptor_pool = Some(path.into());
        self
    }

    /// Uses Rust types that exist elsewhere for a proto package or message instead of
    /// generating them (prost-build's `extern_path`), e.g. eeops' own
    /// `google.longrunning` types for a service whose methods return `Operation`. Such types
    /// must already have eeops' runtime glue (eeops' own types do). The services of such a
    /// package get no code here either: they are generated where their types are.
    ///
    /// ```
    /// let b = eeops_build::configure()
    ///     .extern_path(".google.longrunning", "::eeops::pb::google::longrunning");
    /// # let _ = b;
    /// ```
    pub fn extern_path(
        mut self,
        proto_path: impl Into<String>,
        rust_path: impl Into<String>,
    ) -> Self {
        self.extern_paths
            .push((proto_path.into(), rust_path.into()));
        self
    }

    /// Compiles `protos` (paths relative to an include directory) and writes the code (see the
    /// [crate docs](crate) for the file list). Prints `cargo:rerun-if-changed` lines for the
    /// include directories and the rules file.
    ///
    /// ```no_run
    /// eeops_build::configure().includes(["proto"]).compile(&["echo.proto"])?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn compile<P: AsRef<Path>>(self, protos: &[P]) -> io::Result<()> {
        self.run(protos).map_err(io::Error::other)
    }

    fn run<P: AsRef<Path>>(self, protos: &[P]) -> Result<(), BuildError> {
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => PathBuf::from(
                std::env::var_os("OUT_DIR")
                    .ok_or("OUT_DIR is not set: call from a build script, or set out_dir")?,
            ),
        };
        for dir in &self.includes {
            println!("cargo:rerun-if-changed={}", dir.display());
        }

        let mut compiler = protox::Compiler::new(&self.includes)?;
        compiler.include_imports(true).include_source_info(true);
        compiler.open_files(protos.iter().map(AsRef::as_ref))?;
        let fds = compiler.file_descriptor_set();
        let pool = compiler.descriptor_pool();

        // The descriptor set the crate embeds, without source info (smaller), encoded by protox
        // itself: `prost_types` drops the options' extensions, and clients reading these
        // descriptors (gRPC reflection, transcoding proxies) need the `google.api.http` rules.
        compiler.include_source_info(false);
        let descriptor_path = out_dir.join(format!("{}_descriptor.bin", self.file_name));
        std::fs::write(&descriptor_path, compiler.encode_file_descriptor_set())?;

        if let Some(rules) = &self.http_rules {
            println!("cargo:rerun-if-changed={}", rules.display());
        }
        let bindings = bindings::collect(&pool, self.http_rules.as_deref())?;

        // Typed proto3 JSON: for the packages named with `typed_json` (eeops' own), or else for
        // every package this compilation writes (not the well-known types, not `extern_path`
        // ones), in a module of `NAME.rs` that reaches the types through `super`.
        let is_extern = |package: &str| {
            let dotted = format!(".{package}");
            self.extern_paths.iter().any(|(proto, _)| {
                let proto = proto.trim_end_matches('.');
                dotted == proto || dotted.starts_with(&format!("{proto}."))
            })
        };
        let (typed_root, typed_packages, typed_module) = if self.typed_json.is_empty() {
            let packages: BTreeSet<String> = pool
                .files()
                .map(|f| f.package_name().to_owned())
                .filter(|p| !p.is_empty() && p != "google.protobuf" && !is_extern(p))
                .collect();
            (
                "super".to_owned(),
                packages.into_iter().collect::<Vec<_>>(),
                true,
            )
        } else {
            (self.typed_json_root.clone(), self.typed_json.clone(), false)
        };
        let typed: BTreeSet<String> = typed_json::candidates(&typed_root, &pool, &typed_packages)
            .into_keys()
            .collect();
        let context = Rc::new(service::Context {
            pool: pool.clone(),
            bindings: bindings.clone(),
            typed,
            client: self.client,
            server: self.server,
            emitted: RefCell::new(BTreeSet::new()),
            extern_packages: self
                .extern_paths
                .iter()
                .map(|(proto, _)| {
                    proto
                        .trim_start_matches('.')
                        .trim_end_matches('.')
                        .to_owned()
                })
                .collect(),
            descriptor_pool: self.descriptor_pool.clone(),
        });
        let tonic = tonic_prost_build::configure()
            .build_client(self.client)
            .build_server(self.server)
            .build_transport(false)
            .service_generator();

        // The package files go to a directory of their own, so that two compilations (of
        // protos that share packages) can write into one OUT_DIR.
        let package_dir = out_dir.join(&self.file_name);
        std::fs::create_dir_all(&package_dir)?;
        let mut config = prost_build::Config::new();
        config.out_dir(&package_dir);
        config.include_file(PROST_INCLUDE_FILE);
        for (proto, rust) in &self.extern_paths {
            config.extern_path(proto, rust);
        }
        config.service_generator(Box::new(service::Generator {
            inner: tonic,
            context: Rc::clone(&context),
        }));
        for message in pool.all_messages() {
            // Map entries are not Rust types of their own; well-known types are prost-types'.
            if message.is_map_entry() || message.package_name() == "google.protobuf" {
                continue;
            }
            let name = message.full_name();
            let pool_path = match &self.descriptor_pool {
                Some(path) => path.clone(),
                None => {
                    // From the message's module up to the file's root: one level per package
                    // segment and one per enclosing message.
                    let package_depth = message
                        .package_name()
                        .split('.')
                        .filter(|p| !p.is_empty())
                        .count();
                    let nesting = name
                        .strip_prefix(message.package_name())
                        .unwrap_or(name)
                        .trim_start_matches('.')
                        .matches('.')
                        .count();
                    format!("{}DESCRIPTOR_POOL", names::supers(package_depth + nesting))
                }
            };
            config.type_attribute(
                name,
                format!(
                    "#[derive(::prost_reflect::ReflectMessage)] \
                     #[prost_reflect(descriptor_pool = \"{pool_path}\", message_name = \"{name}\")]"
                ),
            );
        }
        config.compile_fds(fds)?;

        // The file-level items, after prost's modules.
        let mut tail = String::new();
        // The runtime glue of every other message, so that any of them can be a request or a
        // response of a service compiled elsewhere (through `extern_path`).
        let emitted = context.emitted.borrow().clone();
        for message in pool.all_messages() {
            let name = message.full_name();
            let dotted = format!(".{name}");
            if message.is_map_entry()
                || message.package_name() == "google.protobuf"
                || emitted.contains(name)
                || self.extern_paths.iter().any(|(proto, _)| {
                    dotted == *proto
                        || dotted.starts_with(&format!("{}.", proto.trim_end_matches('.')))
                })
            {
                continue;
            }
            let path = typed_json::rust_type_path("self", message.package_name(), name);
            tail.push_str(&service::render_message(&context, &path, &message, None));
        }
        if typed_module && !typed_packages.is_empty() {
            let _ = writeln!(
                tail,
                "/// The typed proto3 JSON code of these messages (see `NAME_typed_json.rs`).\n\
                 #[doc(hidden)]\n\
                 #[allow(dead_code, unused_imports, clippy::all)]\n\
                 mod __eeops_typed_json {{\n\
                 use ::eeops::json::typed::*;\n\
                 use ::prost::Message as _;\n\
                 include!({:?});\n\
                 }}\n",
                out_dir
                    .join(format!("{}_typed_json.rs", self.file_name))
                    .display()
                    .to_string()
            );
        }
        let _ = writeln!(
            tail,
            "/// The encoded `FileDescriptorSet` of every proto compiled here (imports included).\n\
             pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!({:?});\n",
            descriptor_path.display().to_string()
        );
        if self.descriptor_pool.is_none() {
            let _ = writeln!(
                tail,
                "/// The descriptor pool of [`FILE_DESCRIPTOR_SET`]: message descriptors for proto3 JSON,\n\
                 /// `Any` resolution and gRPC server reflection.\n\
                 pub static DESCRIPTOR_POOL: ::std::sync::LazyLock<::prost_reflect::DescriptorPool> =\n\
                 ::std::sync::LazyLock::new(|| {{\n\
                 // Written by the generator from the same compilation as the types: a failure is a\n\
                 // build defect, not something input can cause.\n\
                 ::prost_reflect::DescriptorPool::decode(FILE_DESCRIPTOR_SET).expect(\"the generated descriptor set is invalid\")\n\
                 }});\n"
            );
        }
        let _ = writeln!(
            tail,
            "/// Every REST binding of every RPC method: the HTTP rules given to the generator first,\n\
             /// then the protos' own `google.api.http` annotations.\n\
             pub static HTTP_BINDINGS: &[::eeops::transcode::HttpBinding] = &[\n{}];",
            bindings::render_rows(&bindings)
        );
        // prost's include file names the package files relative to itself: from OUT_DIR,
        // they are in the package directory.
        let prost_include = std::fs::read_to_string(package_dir.join(PROST_INCLUDE_FILE))?;
        let mut text =
            prost_include.replace("include!(\"", &format!("include!(\"{}/", self.file_name));
        text.push('\n');
        text.push_str(&tail);
        std::fs::write(
            out_dir.join(format!("{}.rs", self.file_name)),
            format_rust(&text)?,
        )?;

        if !typed_packages.is_empty() {
            let code = typed_json::render(&typed_root, &pool, &typed_packages);
            std::fs::write(
                out_dir.join(format!("{}_typed_json.rs", self.file_name)),
                format_rust(&code)?,
            )?;
        }
        Ok(())
    }
}

/// Rust source through prettyplease.
fn format_rust(code: &str) -> Result<String, BuildError> {
    let file = syn::parse_file(code).map_err(|e| {
        format!("eeops-build wrote code that does not parse ({e}); please report it")
    })?;
    Ok(prettyplease::unparse(&file))
}
