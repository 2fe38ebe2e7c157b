//! gRPC transcoding as `google/api/http.proto` describes it: path templates, routing, and the
//! mapping between HTTP requests and protobuf messages.
//!
//! * [`PathTemplate`] parses a template once, expands field values into a path (client) and
//!   matches a path back into field values (server).
//! * [`Router`] holds the parsed bindings: it routes requests (server) and finds a method's
//!   binding (client).
//! * [`encode_request`] and [`decode_request`] map a request message to path, query and body
//!   and back.

mod binding;
mod message;
mod router;
mod template;

pub use binding::HttpBinding;
pub use message::{HttpRequestParts, TranscodeError, decode_request, encode_query, encode_request};
pub use router::{CompiledBinding, RouteError, RouteMatch, Router};
pub use template::{
    ExpandError, ExpandErrorKind, PathTemplate, Segment, TemplateError, TemplateErrorKind, Variable,
};
