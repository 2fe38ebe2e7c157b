//! What the code `eeops-build` generates calls: per-service and per-method tables, the glue
//! trait of request and response messages, and JSON helpers. Not meant to be used by hand, and
//! not covered by semver guarantees beyond matching `eeops-build` versions.
//!
//! ```
//! use eeops::stub::OperationsMethod;
//!
//! let info = OperationsMethod::GetOperation.info();
//! assert_eq!(info.grpc_path(), "/google.longrunning.Operations/GetOperation");
//! assert_eq!(info.service().full_name(), "google.longrunning.Operations");
//! ```

use std::sync::OnceLock;

use prost_reflect::{DynamicMessage, MessageDescriptor, ReflectMessage};

use crate::json::JsonError;
use crate::transcode::{HttpBinding, Router};

/// A boxed future, as the object-safe `dynamic` traits return.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// The error of turning a dynamic message into a typed one.
pub use prost::DecodeError;

/// One generated service, as the transports and the server see it.
///
/// ```
/// let service = eeops::stub::OperationsMethod::ListOperations.info().service();
/// assert!(service.router().unwrap().find("google.longrunning.Operations.ListOperations", "v1").is_some());
/// ```
#[derive(Debug)]
pub struct ServiceInfo {
    full_name: &'static str,
    bindings: &'static [HttpBinding],
    file_descriptor_set: &'static [u8],
    router: fn() -> Result<&'static Router, &'static str>,
    pool: fn() -> &'static prost_reflect::DescriptorPool,
}

impl ServiceInfo {
    /// What the generator writes for each service.
    pub const fn new(
        full_name: &'static str,
        bindings: &'static [HttpBinding],
        file_descriptor_set: &'static [u8],
        router: fn() -> Result<&'static Router, &'static str>,
        pool: fn() -> &'static prost_reflect::DescriptorPool,
    ) -> Self {
        Self {
            full_name,
            bindings,
            file_descriptor_set,
            router,
            pool,
        }
    }

    /// The descriptor pool of the compilation the service comes from: its own messages and
    /// every type its protos import, so an `Any` in a message compiled elsewhere (eeops'
    /// `Operation`, through `extern_path`) can hold the service's own types.
    pub fn pool(&self) -> &'static prost_reflect::DescriptorPool {
        (self.pool)()
    }

    /// The service's full proto name (`google.longrunning.Operations`).
    pub fn full_name(&self) -> &'static str {
        self.full_name
    }

    /// The service's REST bindings.
    pub fn bindings(&self) -> &'static [HttpBinding] {
        self.bindings
    }

    /// The encoded descriptor set the service was compiled in (for gRPC reflection).
    pub fn file_descriptor_set(&self) -> &'static [u8] {
        self.file_descriptor_set
    }

    /// The router over [`Self::bindings`], parsed once; `Err` names a template that does not
    /// parse.
    pub fn router(&self) -> Result<&'static Router, &'static str> {
        (self.router)()
    }

    /// Whether some binding carries this API version label.
    pub fn has_api_version(&self, version: &str) -> bool {
        self.bindings.iter().any(|b| b.api_version == version)
    }

    /// `M`'s descriptor in the service's pool, when `M` was compiled in another pool (eeops'
    /// `Operation` in a user's service, through `extern_path`): there the `Any`s `M` holds
    /// can be the service's own types. `None` when `M` is the service's own.
    #[cfg_attr(not(any(feature = "client", feature = "server")), allow(dead_code))]
    pub(crate) fn foreign_descriptor<M: RpcMessage>(&self) -> Option<MessageDescriptor> {
        let own = M::message_descriptor();
        let pool = self.pool();
        if own.parent_pool() == pool {
            return None;
        }
        pool.get_message_by_name(own.full_name())
    }
}

/// One unary RPC method of a generated service.
#[derive(Debug)]
pub struct MethodInfo {
    service: &'static ServiceInfo,
    name: &'static str,
    full_name: &'static str,
    grpc_path: &'static str,
}

impl MethodInfo {
    /// What the generator writes for each method.
    pub const fn new(
        service: &'static ServiceInfo,
        name: &'static str,
        full_name: &'static str,
        grpc_path: &'static str,
    ) -> Self {
        Self {
            service,
            name,
            full_name,
            grpc_path,
        }
    }

    /// The service the method belongs to.
    pub fn service(&self) -> &'static ServiceInfo {
        self.service
    }

    /// The method's own name (`GetOperation`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The fully qualified name, as HTTP rule selectors spell it.
    pub fn full_name(&self) -> &'static str {
        self.full_name
    }

    /// The gRPC request path (`/google.longrunning.Operations/GetOperation`).
    pub fn grpc_path(&self) -> &'static str {
        self.grpc_path
    }
}

/// The router of a service's bindings, built on first use and kept in `cell`.
pub fn cached_router(
    cell: &'static OnceLock<Result<Router, String>>,
    bindings: &'static [HttpBinding],
) -> Result<&'static Router, &'static str> {
    cell.get_or_init(|| Router::new(bindings).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(String::as_str)
}

/// A request or response message of a generated method: what the transports and the server
/// need of it beyond prost. The generator implements it for every such message; `()` (for
/// `google.protobuf.Empty`) has it here.
pub trait RpcMessage: prost::Message + Default + Send + Sync + Sized + 'static {
    /// Whether the message is `google.protobuf.Empty` (written `{}`, read from any object).
    const IS_EMPTY: bool = false;

    /// The message's descriptor.
    fn message_descriptor() -> MessageDescriptor;

    /// The message as a dynamic message (for transcoding).
    fn to_dynamic(&self) -> DynamicMessage;

    /// The typed message from a dynamic one.
    fn from_dynamic(message: &DynamicMessage) -> Result<Self, DecodeError>;

    /// Appends the message's compact proto3 JSON to `out`.
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), JsonError>;

    /// Reads the message from proto3 JSON, ignoring unknown fields and keeping an `Any` of an
    /// unknown type raw (see [`crate::json::from_json_keep_raw`]).
    fn read_json(bytes: &[u8]) -> Result<Self, JsonError>;

    /// The name, for a message that carries nothing else (it goes straight onto a path).
    fn name_only(&self) -> Option<&str> {
        None
    }

    /// The routing parameters (`x-goog-request-params`): the fields bound in the path of the
    /// method's first binding, by field path.
    fn routing_params<'a>(&'a self, out: &mut Vec<(&'static str, &'a str)>) {
        let _ = out;
    }
}

impl RpcMessage for () {
    const IS_EMPTY: bool = true;

    fn message_descriptor() -> MessageDescriptor {
        // `google.protobuf.Empty` is among the imports eeops compiles.
        crate::pb::DESCRIPTOR_POOL
            .get_message_by_name("google.protobuf.Empty")
            .expect("google.protobuf.Empty is in eeops' descriptor pool")
    }

    fn to_dynamic(&self) -> DynamicMessage {
        DynamicMessage::new(Self::message_descriptor())
    }

    fn from_dynamic(_: &DynamicMessage) -> Result<Self, DecodeError> {
        Ok(())
    }

    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), JsonError> {
        out.extend_from_slice(b"{}");
        Ok(())
    }

    fn read_json(_: &[u8]) -> Result<Self, JsonError> {
        Ok(())
    }
}

/// Compact proto3 JSON through prost-reflect (an `Any` of `Empty` in Google's form).
pub fn reflect_write_json<M: ReflectMessage>(
    message: &M,
    out: &mut Vec<u8>,
) -> Result<(), JsonError> {
    // Straight into the buffer (fields in proto order); only an answer that holds an `Any` of
    // `Empty` goes round through a JSON value, to drop that `Any`'s empty `value` as Google does.
    let start = out.len();
    crate::json::to_json_writer(&message.transcode_to_dynamic(), out)?;
    const EMPTY: &[u8] = b"google.protobuf.Empty";
    if out[start..].windows(EMPTY.len()).any(|w| w == EMPTY) {
        let mut value: serde_json::Value =
            serde_json::from_slice(&out[start..]).map_err(|e| JsonError::new(e.to_string()))?;
        crate::json::plain_empty_any(&mut value);
        out.truncate(start);
        serde_json::to_writer(out, &value).map_err(|e| JsonError::new(e.to_string()))?;
    }
    Ok(())
}

/// Proto3 JSON through prost-reflect, keeping an `Any` of an unknown type raw.
pub fn reflect_read_json<M: ReflectMessage + Default>(bytes: &[u8]) -> Result<M, JsonError> {
    crate::json::from_json_keep_raw(bytes)
}

/// Compact proto3 JSON through the typed code, falling back to prost-reflect.
pub fn typed_write_json<M: ReflectMessage + crate::json::typed::TypedJson>(
    message: &M,
    out: &mut Vec<u8>,
) -> Result<(), JsonError> {
    crate::json::encode_response(message, out)
}

/// Proto3 JSON through the typed code, falling back to prost-reflect.
pub fn typed_read_json<M: ReflectMessage + crate::json::typed::TypedJson>(
    bytes: &[u8],
) -> Result<M, JsonError> {
    crate::json::decode_response(bytes)
}
