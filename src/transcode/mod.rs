//! gRPC transcoding as `google/api/http.proto` describes it: path templates, routing, and the
//! mapping between HTTP requests and protobuf messages.
//!
//! * [`PathTemplate`] parses a template once, expands field values into a path (client) and
//!   matches a path back into field values (server).
//! * [`Router`] holds the parsed bindings: it routes requests (server) and finds a method's
//!   binding (client).
//! * [`encode_request`] and [`decode_request`] map a request message to path, query and body
//!   and back.
//! * [`RouterOptions`] choose between `google/api/http.proto`'s text (the default) and the
//!   behaviour of Envoy's transcoder where the two differ.

mod binding;
mod message;
mod options;
mod router;
mod template;
pub(crate) mod wire;

pub use binding::HttpBinding;
#[cfg(feature = "client")]
pub(crate) use message::encode_name_request;
pub use message::{
    HttpRequestParts, TranscodeError, decode_request, decode_response, encode_query,
    encode_request, encode_response,
};
pub use options::{PathDecoding, RouterOptions, VerbMatching};
pub use router::{CompiledBinding, RouteError, RouteMatch, Router};
pub use template::{ExpandError, PathTemplate, Segment, TemplateError, Variable};

/// The router over the generated binding table, [`crate::pb::HTTP_BINDINGS`], parsed once: the
/// REST client finds its bindings in it and the REST server routes by it, so the paths one sends
/// and the other accepts come from one definition.
///
/// The table is generated and checked at build time; an error here means a template in
/// `proto/` does not parse, and names it.
///
/// ```
/// let router = eeops::transcode::generated_router().unwrap();
/// let m = router.route("POST", "/v1/projects/p/operations/X:cancel").unwrap();
/// assert_eq!(m.binding.method, "google.longrunning.Operations.CancelOperation");
/// assert_eq!(m.variables, [("name".to_string(), "projects/p/operations/X".to_string())]);
/// ```
pub fn generated_router() -> Result<&'static Router, &'static str> {
    static ROUTER: std::sync::LazyLock<Result<Router, String>> = std::sync::LazyLock::new(|| {
        Router::new(crate::pb::HTTP_BINDINGS).map_err(|e| e.to_string())
    });
    ROUTER.as_ref().map_err(String::as_str)
}
