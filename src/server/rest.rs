//! The REST side: route by the binding table, decode with the transcoder, call the service,
//! answer proto3 JSON (or Google's JSON error shape).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use futures::StreamExt as _;
use http::{HeaderValue, Method, StatusCode, header};
use prost::Message as _;
use prost_reflect::{DynamicMessage, SerializeOptions};
use serde_json::{Value as Json, json};

use crate::codegen::{BoxFuture, RpcMessage, ServiceInfo};
use crate::json::plain_empty_any;
use crate::pb::google::rpc::{Code, Status};
use crate::transcode::{
    RouteError, RouteMatch, Router, RouterOptions, decode_request, encode_response,
};

use super::config::{CallInfo, CallTransport, RemoteAddr, RequestHook};

/// The largest request body the REST side reads; a larger one is answered with HTTP 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Query parameters Google's clients and front ends send that are not request fields. They are
/// accepted on every REST call: `alt` must be `json`; `$alt` must be `json` (optionally with
/// `;enum-encoding=int`, which writes enums as numbers); `prettyPrint=true` indents the answer;
/// the rest are ignored.
pub const TOLERATED_PARAMS: &[&str] = &[
    "alt",
    "$alt",
    "prettyPrint",
    "pp",
    "key",
    "$.xgafv",
    "fields",
    "$fields",
    "quotaUser",
    "access_token",
    "oauth_token",
    "callback",
    "uploadType",
    "upload_protocol",
    "userIp",
];

/// What the server's REST side answers with.
#[doc(hidden)]
pub type RestResponse = Response;

/// A service the server serves over gRPC and REST: what `eeops-build` generates as
/// `<Service>Rest<T>` around an implementation of tonic's server trait (for Operations:
/// [`OperationsRest`](crate::pb::google::longrunning::operations_rest::OperationsRest)), and
/// what [`Server::add_service`](super::Server::add_service) takes.
///
/// Its methods are called by the server and implemented by generated code only; they are
/// not part of the documented API.
///
/// ```
/// use eeops::pb::google::longrunning::operations_rest::OperationsRest;
/// use eeops::server::{RestDispatch, Server, emulator::Emulator};
///
/// fn served(service: impl RestDispatch) -> Server {
///     Server::builder().add_service(service)
/// }
/// let server = served(OperationsRest::new(Emulator::default()));
/// assert!(format!("{server:?}").contains("google.longrunning.Operations"));
/// ```
pub trait RestDispatch: Send + Sync + 'static {
    /// The service's tables (name, bindings, descriptors).
    #[doc(hidden)]
    fn service(&self) -> &'static ServiceInfo;

    /// Adds the service's tonic server to the gRPC routes.
    #[doc(hidden)]
    fn add_grpc(&self, routes: tonic::service::Routes) -> tonic::service::Routes;

    /// Answers one REST call routed to one of the service's methods.
    #[doc(hidden)]
    fn dispatch<'a>(&'a self, call: RestCall<'a>)
    -> BoxFuture<'a, Result<RestResponse, RestError>>;
}

/// One routed REST call, as [`RestDispatch::dispatch`] gets it: decode the request, call the
/// service, encode its reply.
#[derive(Debug)]
#[doc(hidden)]
pub struct RestCall<'a> {
    route: &'a RouteMatch<'a>,
    query: Option<&'a str>,
    body: Vec<u8>,
    metadata: tonic::metadata::MetadataMap,
    out: Output,
    /// The service the method belongs to (its pool resolves the `Any`s of a reply whose type
    /// was compiled elsewhere).
    service: &'static crate::codegen::ServiceInfo,
}

impl RestCall<'_> {
    /// The full name of the routed method (`google.longrunning.Operations.GetOperation`).
    pub fn method(&self) -> &'static str {
        self.route.binding.method
    }

    /// The request: path variables, query parameters and body mapped onto `M` by the route's
    /// binding, with the HTTP headers as metadata.
    pub fn decode<M: RpcMessage>(&mut self) -> Result<tonic::Request<M>, RestError> {
        let desc = M::message_descriptor();
        // Scalars only (the usual GET): straight to protobuf bytes and the typed message.
        if let Some(bytes) = crate::transcode::wire::encode_scalar_request(
            self.route,
            &desc,
            self.query,
            &self.body,
            TOLERATED_PARAMS,
        ) && let Ok(message) = M::decode(bytes.as_slice())
        {
            let mut request = tonic::Request::new(message);
            *request.metadata_mut() = std::mem::take(&mut self.metadata);
            return Ok(request);
        }
        let dynamic: DynamicMessage =
            decode_request(self.route, &desc, self.query, &self.body, TOLERATED_PARAMS).map_err(
                |e| {
                    let code = if e.is_invalid_argument() {
                        Code::InvalidArgument
                    } else {
                        Code::Internal
                    };
                    RestError::new(code, e.to_string())
                },
            )?;
        let message = M::from_dynamic(&dynamic)
            .map_err(|e| RestError::new(Code::InvalidArgument, format!("invalid request: {e}")))?;
        let mut request = tonic::Request::new(message);
        *request.metadata_mut() = std::mem::take(&mut self.metadata);
        Ok(request)
    }

    /// The answer to the service's reply: its message as proto3 JSON (`{}` for `Empty`), or
    /// its status in Google's JSON error shape.
    pub fn reply<M: RpcMessage>(
        &self,
        result: Result<tonic::Response<M>, tonic::Status>,
    ) -> Result<RestResponse, RestError> {
        let response = result.map_err(|s| RestError::from_tonic(&s))?;
        if M::IS_EMPTY {
            return Ok(json_response(StatusCode::OK, &json!({}), self.out));
        }
        let binding = self.route.binding;
        if !binding.response_body.is_empty() {
            // Only the named field of the reply is the answer.
            let options = SerializeOptions::new()
                .stringify_64_bit_integers(true)
                .use_enum_numbers(self.out.enum_numbers);
            let dynamic = dynamic_in(self.service, response.get_ref());
            let mut value = encode_response(binding, &dynamic, &options).map_err(|e| {
                RestError::new(Code::Internal, format!("cannot write the response: {e}"))
            })?;
            plain_empty_any(&mut value);
            return Ok(json_response(StatusCode::OK, &value, self.out));
        }
        message_response(response.get_ref(), self.out, self.service)
    }

    /// The error for a method the service does not serve over REST.
    pub fn not_served(&self) -> RestError {
        RestError::new(
            Code::Unimplemented,
            format!("method {} is not served over REST", self.method()),
        )
    }
}

/// The router of the served services' bindings.
enum Routes {
    /// One service: its own router.
    Shared(&'static Router),
    /// Several: one router over all their bindings.
    Owned(Router),
}

/// The REST handler over the served services (cloned per request: one `Arc`).
#[derive(Clone)]
pub(crate) struct RestService(Arc<RestInner>);

pub(crate) struct RestInner {
    services: Arc<[Arc<dyn RestDispatch>]>,
    router: Result<Routes, String>,
    /// The OpenAPI document of the served services, built on its first request.
    openapi: std::sync::OnceLock<Result<Json, String>>,
    hook: Option<RequestHook>,
}

impl std::ops::Deref for RestService {
    type Target = RestInner;

    fn deref(&self) -> &RestInner {
        &self.0
    }
}

/// How the caller wants the JSON written.
#[derive(Debug, Default, Clone, Copy)]
struct Output {
    pretty: bool,
    enum_numbers: bool,
}

/// A REST failure before or after the service: an HTTP status, a code and a message, answered
/// in Google's JSON error shape.
#[derive(Debug)]
#[doc(hidden)]
pub struct RestError {
    http: StatusCode,
    status: Status,
    allow: Option<String>,
}

impl RestError {
    pub(crate) fn new(code: Code, message: impl Into<String>) -> Self {
        let status = Status {
            code: code as i32,
            message: message.into(),
            details: Vec::new(),
        };
        Self::from_status(status)
    }

    fn from_status(status: Status) -> Self {
        let http = StatusCode::from_u16(crate::error::http_status_for_code(status.code))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self {
            http,
            status,
            allow: None,
        }
    }

    pub(crate) fn with_http(mut self, http: StatusCode) -> Self {
        self.http = http;
        self
    }

    /// Adds an `Allow` header to the answer (for HTTP 405).
    pub(crate) fn with_allow(mut self, allow: impl Into<String>) -> Self {
        self.allow = Some(allow.into());
        self
    }

    /// The error as a compact JSON response in Google's shape.
    pub(crate) fn into_plain_response(self) -> Response {
        self.into_response(Output::default())
    }

    fn from_tonic(status: &tonic::Status) -> Self {
        let mut s = Status {
            code: status.code() as i32,
            message: status.message().to_owned(),
            details: Vec::new(),
        };
        if !status.details().is_empty()
            && let Ok(full) = Status::decode(status.details())
        {
            s.details = full.details;
        }
        Self::from_status(s)
    }

    fn into_response(self, out: Output) -> Response {
        let code = Code::try_from(self.status.code).unwrap_or(Code::Unknown);
        if self.status.details.is_empty() && !out.pretty {
            // The usual error: the envelope written straight, in the order (and the bytes)
            // the general path below writes it.
            let message = &self.status.message;
            let mut bytes = Vec::with_capacity(64 + message.len());
            bytes.extend_from_slice(b"{\"error\":{\"code\":");
            bytes.extend_from_slice(self.http.as_str().as_bytes());
            bytes.extend_from_slice(b",\"message\":");
            // Writing a string into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut bytes, message);
            bytes.extend_from_slice(b",\"status\":\"");
            bytes.extend_from_slice(code.as_str_name().as_bytes());
            bytes.extend_from_slice(b"\"}}\n");
            return self.with_allow_header(bytes_response(self.http, bytes));
        }
        let details: Vec<Json> = self
            .status
            .details
            .iter()
            .map(|any| any_to_json(any).unwrap_or_else(|| json!({ "@type": any.type_url })))
            .collect();
        let mut error = json!({
            "code": self.http.as_u16(),
            "message": &self.status.message,
            "status": code.as_str_name(),
        });
        if !details.is_empty() {
            error["details"] = Json::Array(details);
        }
        let resp = json_response(self.http, &json!({ "error": error }), out);
        self.with_allow_header(resp)
    }

    /// `resp` with the `Allow` header, when the error has one.
    fn with_allow_header(&self, mut resp: Response) -> Response {
        if let Some(allow) = &self.allow
            && let Ok(v) = HeaderValue::from_str(allow)
        {
            resp.headers_mut().insert(header::ALLOW, v);
        }
        resp
    }
}

/// An `Any` as proto3 JSON, resolved through eeops' descriptor pool.
fn any_to_json(any: &prost_types::Any) -> Option<Json> {
    let desc = crate::pb::DESCRIPTOR_POOL.get_message_by_name("google.protobuf.Any")?;
    let dynamic = DynamicMessage::decode(desc, any.encode_to_vec().as_slice()).ok()?;
    crate::json::dynamic_to_json_value(&dynamic).ok()
}

fn json_response(http: StatusCode, body: &Json, out: Output) -> Response {
    let mut bytes = if out.pretty {
        serde_json::to_vec_pretty(body)
    } else {
        serde_json::to_vec(body)
    }
    .unwrap_or_else(|_| b"{}".to_vec());
    bytes.push(b'\n');
    bytes_response(http, bytes)
}

fn bytes_response(http: StatusCode, bytes: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = http;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    resp
}

fn message_response<M: RpcMessage>(
    message: &M,
    out: Output,
    service: &crate::codegen::ServiceInfo,
) -> Result<Response, RestError> {
    let write_error = |e: &dyn std::fmt::Display| {
        RestError::new(Code::Internal, format!("cannot write the response: {e}"))
    };
    if !out.pretty && !out.enum_numbers {
        // The usual case: compact JSON straight into the body.
        let mut bytes = Vec::with_capacity(512);
        match message.write_json(&mut bytes) {
            Ok(()) => {
                bytes.push(b'\n');
                return Ok(bytes_response(StatusCode::OK, bytes));
            }
            // A type compiled elsewhere (eeops' `Operation` in a user's service) holding an
            // `Any` of the service's own type, which its typed code does not know: the
            // service's pool below.
            Err(_) if service.foreign_descriptor::<M>().is_some() => {}
            Err(e) => return Err(write_error(&e)),
        }
    }
    let options = SerializeOptions::new()
        .stringify_64_bit_integers(true)
        .use_enum_numbers(out.enum_numbers);
    let mut value = dynamic_in(service, message)
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|e| write_error(&e))?;
    plain_empty_any(&mut value);
    Ok(json_response(StatusCode::OK, &value, out))
}

/// A reply as a dynamic message, in the service's pool when its type comes from another (so
/// that the `Any`s it holds resolve there).
fn dynamic_in<M: RpcMessage>(service: &crate::codegen::ServiceInfo, message: &M) -> DynamicMessage {
    service
        .foreign_descriptor::<M>()
        .and_then(|desc| DynamicMessage::decode(desc, message.encode_to_vec().as_slice()).ok())
        .unwrap_or_else(|| message.to_dynamic())
}

/// A full proto method name (`google.longrunning.Operations.GetOperation`) in the gRPC path
/// form the request hook sees (`google.longrunning.Operations/GetOperation`).
fn grpc_method_name(full: &str) -> String {
    match full.rsplit_once('.') {
        Some((service, method)) => format!("{service}/{method}"),
        None => full.to_owned(),
    }
}

/// The answer to a HEAD request: the GET answer's status and headers (its length included),
/// without the body.
fn without_body(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    if let Some(len) = axum::body::HttpBody::size_hint(&body).exact()
        && !parts.headers.contains_key(header::CONTENT_LENGTH)
    {
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    Response::from_parts(parts, Body::empty())
}

/// The inverse of [`plain_empty_any`](crate::json::plain_empty_any), so that Google's form
/// parses with prost-reflect.
pub(crate) fn wrapped_empty_any(value: &mut Json) {
    match value {
        Json::Object(map) => {
            if map
                .get("@type")
                .and_then(Json::as_str)
                .is_some_and(|t| t.ends_with("/google.protobuf.Empty"))
                && !map.contains_key("value")
            {
                map.insert("value".into(), Json::Object(serde_json::Map::new()));
            }
            map.values_mut().for_each(wrapped_empty_any);
        }
        Json::Array(items) => items.iter_mut().for_each(wrapped_empty_any),
        _ => {}
    }
}

/// Reads the tolerated output parameters; refuses unsupported `alt` values.
fn output_params(query: Option<&str>) -> Result<Output, RestError> {
    let mut out = Output::default();
    for (key, value) in crate::codec::query_pairs_lossy(query.unwrap_or_default()) {
        match &*key {
            "alt" if value != "json" => {
                return Err(RestError::new(
                    Code::InvalidArgument,
                    format!("unsupported alt=`{value}`: only alt=json is served"),
                ));
            }
            "$alt" => {
                let mut parts = value.split(';').map(str::trim);
                if parts.next() != Some("json") {
                    return Err(RestError::new(
                        Code::InvalidArgument,
                        format!("unsupported $alt=`{value}`: only json is served"),
                    ));
                }
                for p in parts {
                    match p {
                        "enum-encoding=int" => out.enum_numbers = true,
                        "enum-encoding=string" | "" => {}
                        other => {
                            return Err(RestError::new(
                                Code::InvalidArgument,
                                format!("unsupported $alt option `{other}`"),
                            ));
                        }
                    }
                }
            }
            "prettyPrint" | "pp" => out.pretty = matches!(&*value, "true" | "1" | ""),
            _ => {}
        }
    }
    Ok(out)
}

/// Whether a content-type names JSON (`application/json`, `text/json`, `...+json`).
fn is_json_content_type(ct: &str) -> bool {
    let essence = ct.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence.eq_ignore_ascii_case("text/json")
        || essence.to_ascii_lowercase().ends_with("+json")
}

async fn read_body(body: Body) -> Result<Vec<u8>, RestError> {
    let too_large = || {
        RestError::new(
            Code::InvalidArgument,
            format!("request body larger than {MAX_BODY_BYTES} bytes"),
        )
        .with_http(StatusCode::PAYLOAD_TOO_LARGE)
    };
    let mut out = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            let e = e.into_inner();
            if e.is::<tower_http::timeout::TimeoutError>() {
                RestError::new(
                    Code::DeadlineExceeded,
                    "the request body stopped arriving: gave up waiting for the rest of it",
                )
                .with_http(StatusCode::REQUEST_TIMEOUT)
            } else {
                RestError::new(
                    Code::InvalidArgument,
                    format!("cannot read the request body: {e}"),
                )
            }
        })?;
        if out.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The OpenAPI document of the served services: eeops' own document when Operations is served
/// alone (as `serve` does), otherwise one document per service, each from the descriptor set
/// it was compiled in, merged (paths, schemas and tags; a schema two services share is the
/// same message, described once).
fn served_openapi(services: &[Arc<dyn RestDispatch>]) -> Result<Json, String> {
    const OPERATIONS: &str = "google.longrunning.Operations";
    if let [one] = services
        && one.service().full_name() == OPERATIONS
    {
        return crate::openapi::served_document()
            .cloned()
            .map_err(str::to_owned);
    }
    let names: Vec<&str> = services.iter().map(|s| s.service().full_name()).collect();
    let mut merged = json!({});
    for service in services {
        let info = service.service();
        let pool = prost_reflect::DescriptorPool::decode(info.file_descriptor_set())
            .map_err(|e| format!("{}: descriptor set: {e}", info.full_name()))?;
        let mut doc_info = crate::openapi::DocumentInfo::new(
            format!("Served by eeops: {}", names.join(", ")),
            env!("CARGO_PKG_VERSION"),
        )
        .with_server_url("/");
        if info.full_name() == OPERATIONS {
            doc_info = doc_info.with_extra_schema("google.earthengine.v1.OperationMetadata");
        }
        let doc = crate::openapi::document(&pool, info.bindings(), &doc_info)
            .map_err(|e| format!("{}: {e}", info.full_name()))?;
        merge_openapi(&mut merged, doc);
    }
    Ok(merged)
}

/// Adds `doc`'s paths, schemas and tags to `into` (the first document gives the rest).
fn merge_openapi(into: &mut Json, doc: Json) {
    let Json::Object(doc) = doc else { return };
    let Json::Object(into) = into else { return };
    for (key, value) in doc {
        match (key.as_str(), into.get_mut(&key), value) {
            ("paths", Some(Json::Object(have)), Json::Object(more)) => {
                for (path, ops) in more {
                    match (have.get_mut(&path), ops) {
                        (Some(Json::Object(have_ops)), Json::Object(more_ops)) => {
                            have_ops.extend(more_ops);
                        }
                        (_, ops) => {
                            have.insert(path, ops);
                        }
                    }
                }
            }
            ("components", Some(Json::Object(have)), Json::Object(more)) => {
                for (kind, entries) in more {
                    match (have.get_mut(&kind), entries) {
                        (Some(Json::Object(have_entries)), Json::Object(more_entries)) => {
                            for (name, entry) in more_entries {
                                have_entries.entry(name).or_insert(entry);
                            }
                        }
                        (_, entries) => {
                            have.insert(kind, entries);
                        }
                    }
                }
            }
            ("tags", Some(Json::Array(have)), Json::Array(more)) => have.extend(more),
            (_, None, value) => {
                into.insert(key, value);
            }
            _ => {}
        }
    }
}

impl RestService {
    /// The handler over `services`, calling `hook` before every request (see
    /// [`RequestHook`]).
    pub(crate) fn new(services: Vec<Arc<dyn RestDispatch>>, hook: Option<RequestHook>) -> Self {
        let router = match services.as_slice() {
            [one] => one
                .service()
                .router()
                .map(Routes::Shared)
                .map_err(str::to_owned),
            many => Router::from_bindings(
                many.iter().flat_map(|s| s.service().bindings()),
                RouterOptions::default(),
            )
            .map(Routes::Owned)
            .map_err(|e| e.to_string()),
        };
        Self(Arc::new(RestInner {
            services: services.into(),
            router,
            openapi: std::sync::OnceLock::new(),
            hook,
        }))
    }

    /// Runs the request hook, if any; its error becomes the answer. `method` is the full
    /// proto name of the routed RPC.
    fn check_hook(
        &self,
        parts: &http::request::Parts,
        path: &str,
        method: Option<&str>,
    ) -> Result<(), RestError> {
        let Some(hook) = &self.hook else {
            return Ok(());
        };
        let method = method.map(grpc_method_name);
        let info = CallInfo {
            transport: CallTransport::Rest,
            method: method.as_deref(),
            path,
            headers: &parts.headers,
            remote_addr: parts.extensions.get::<RemoteAddr>().map(|a| a.0),
        };
        hook(&info).map_err(|s| RestError::from_tonic(&s))
    }

    /// Answers one REST request; never fails (errors are JSON responses). HEAD is answered
    /// as GET without the body.
    ///
    /// The work before the first await is done here, outside the future, so that the future
    /// holds the request only once (inside the dispatch): it stays small enough for the
    /// allocator's fast path when the server boxes it.
    pub(crate) fn handle(
        self,
        mut req: Request,
    ) -> impl std::future::Future<Output = Response> + Send + 'static {
        let head = req.method() == Method::HEAD;
        if head {
            *req.method_mut() = Method::GET;
        }
        let (mut parts, body) = req.into_parts();
        // The URI apart: the dispatch borrows its path and query while the headers move on
        // into the call's metadata.
        let uri = std::mem::take(&mut parts.uri);
        let finish = move |resp: Response| if head { without_body(resp) } else { resp };
        // Combinators rather than an async block, which would hold the dispatch future twice.
        match output_params(uri.query()) {
            Ok(out) => futures::future::Either::Left(futures::FutureExt::map(
                self.dispatch(parts, uri, body, out),
                move |answer| finish(answer.unwrap_or_else(|e| e.into_response(out))),
            )),
            Err(e) => futures::future::Either::Right(std::future::ready(finish(
                e.into_response(Output::default()),
            ))),
        }
    }

    async fn dispatch(
        self,
        parts: http::request::Parts,
        uri: http::Uri,
        body: Body,
        out: Output,
    ) -> Result<Response, RestError> {
        let query = uri.query();
        let path = uri.path();

        // The descriptions of the API: Google's discovery document and the OpenAPI document.
        if path == "/$discovery/rest" || path == crate::openapi::OPENAPI_PATH {
            self.check_hook(&parts, path, None)?;
            return if parts.method == Method::GET {
                if path == crate::openapi::OPENAPI_PATH {
                    let doc = self
                        .openapi
                        .get_or_init(|| served_openapi(&self.services))
                        .as_ref()
                        .map_err(|e| RestError::new(Code::Internal, e.clone()))?;
                    return Ok(json_response(StatusCode::OK, doc, out));
                }
                let over_tls = parts.extensions.get::<super::config::OverTls>().is_some();
                let authority = uri.authority().map(http::uri::Authority::as_str);
                let doc = super::discovery::document(query, &parts.headers, authority, over_tls)?;
                Ok(json_response(StatusCode::OK, &doc, out))
            } else {
                let mut e = RestError::new(
                    Code::InvalidArgument,
                    format!("method {} is not allowed for {path}", parts.method),
                )
                .with_http(StatusCode::METHOD_NOT_ALLOWED);
                e.allow = Some("GET".into());
                Err(e)
            };
        }

        let router = match &self.router {
            Ok(Routes::Shared(router)) => *router,
            Ok(Routes::Owned(router)) => router,
            Err(e) => {
                return Err(RestError::new(
                    Code::Internal,
                    format!("REST bindings invalid: {e}"),
                ));
            }
        };
        let routed = router.route(parts.method.as_str(), path);
        self.check_hook(&parts, path, routed.as_ref().ok().map(|r| r.binding.method))?;
        let route = routed.map_err(|e| {
            let (code, http) = match &e {
                RouteError::NotFound { .. } => (Code::NotFound, StatusCode::NOT_FOUND),
                _ => (Code::InvalidArgument, StatusCode::METHOD_NOT_ALLOWED),
            };
            let mut err = RestError::new(code, e.to_string()).with_http(http);
            if let RouteError::MethodNotAllowed { allowed, .. } = &e {
                err.allow = Some(allowed.join(", "));
            }
            err
        })?;

        // A request known to have no body (the usual GET) has nothing to check or read.
        let body = if axum::body::HttpBody::is_end_stream(&body) {
            Vec::new()
        } else {
            if let Some(len) = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                && len > MAX_BODY_BYTES as u64
            {
                return Err(RestError::new(
                    Code::InvalidArgument,
                    format!("request body of {len} bytes is larger than {MAX_BODY_BYTES} bytes"),
                )
                .with_http(StatusCode::PAYLOAD_TOO_LARGE));
            }
            read_body(body).await?
        };
        let has_body = !body.iter().all(u8::is_ascii_whitespace);
        if has_body {
            // A body must be JSON; a missing content-type is read as JSON.
            if let Some(ct) = parts.headers.get(header::CONTENT_TYPE) {
                let ct = ct.to_str().unwrap_or("(not text)");
                if !is_json_content_type(ct) {
                    return Err(RestError::new(
                        Code::InvalidArgument,
                        format!(
                            "unsupported content-type `{ct}` for a request body: send application/json"
                        ),
                    ));
                }
            }
        }

        let metadata = tonic::metadata::MetadataMap::from_headers(parts.headers);
        let method = route.binding.method;
        let service = method.rsplit_once('.').and_then(|(name, _)| {
            self.services
                .iter()
                .find(|s| s.service().full_name() == name)
        });
        let Some(service) = service else {
            return Err(RestError::new(
                Code::Unimplemented,
                format!("method {method} is not served over REST"),
            ));
        };
        let call = RestCall {
            route: &route,
            query,
            body,
            metadata,
            out,
            service: service.service(),
        };
        service.dispatch(call).await
    }
}
