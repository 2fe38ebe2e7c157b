//! The REST transport: gRPC transcoding over HTTP/1.1 or HTTP/2 with reqwest.
//!
//! Every request is mapped onto its binding in [`crate::pb::HTTP_BINDINGS`] for the chosen API
//! version by [`crate::transcode::encode_request`]: the path (with the name percent-encoded,
//! or refused before anything is sent), the query and the body all come from the binding
//! table, none from hand-written URLs.
//!
//! Rules on the wire:
//!
//! * A body whose message would serialize as `{}` is not sent at all (no body, no
//!   content-type, `Content-Length: 0`): this is what cancel sends. Wait sends its timeout,
//!   `{"timeout":"3.5s"}`.
//! * Headers: `x-goog-api-client`, `x-goog-request-params: name=<encoded name>`, the
//!   credentials' headers, `x-goog-user-project` when a quota project is set, a user agent,
//!   `accept: application/json`.
//! * Redirects are not followed (a redirect is answered as an undecodable response).
//! * A response larger than the limit (32 MiB by default) is refused while it is read.
//! * A success must be JSON (`application/json` or `*/*+json`, or no content-type with a
//!   JSON body); an error should be `{"error": {code, message, status, details}}`. Anything
//!   else is an [`ErrorKind::Decode`](crate::ErrorKind::Decode) error whose message has the
//!   HTTP status, the content-type and the first 200 characters of the body.
//! * An `Any` of a type eeops does not know (in `metadata`, `response` or error details)
//!   keeps its raw JSON (see [`crate::json::from_json_keep_raw`]).

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use prost_reflect::ReflectMessage;
use serde_json::Value as Json;

use super::auth::Auth;
use super::common::{
    CALL_TARGET, RequestHeaders, call_headers, excerpt, headers_logged, redacted_headers,
};
use crate::error::code_for_http_status;
use crate::json;
use crate::json::typed::TypedJson;
use crate::pb::google::longrunning::{
    CancelOperationRequest, DeleteOperationRequest, GetOperationRequest, ListOperationsRequest,
    ListOperationsResponse, Operation, WaitOperationRequest,
};
use crate::pb::google::rpc::{Code, Status};
use crate::stub::{CallOptions, Operations, OperationsMethod};
use crate::transcode::{Router, TranscodeError, encode_name_request, encode_request};
use crate::{Error, Result};

/// The default limit on a response body: 32 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 << 20;

pub(crate) fn router() -> Result<&'static Router> {
    crate::transcode::generated_router()
        .map_err(|e| Error::config(format!("eeops' REST binding table is invalid: {e}")))
}

/// The REST implementation of [`crate::stub::Operations`].
///
/// Built by [`ClientBuilder`](super::ClientBuilder) with `Transport::Rest`; get it (as a
/// stub) from [`Client::stub`](super::Client::stub).
#[derive(Debug, Clone)]
pub struct RestTransport {
    pub(super) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(super) struct Inner {
    pub(super) http: reqwest::Client,
    /// Scheme, authority and optional path prefix, without a trailing `/`.
    pub(super) base: String,
    pub(super) api_version: String,
    pub(super) auth: Auth,
    pub(super) headers: RequestHeaders,
    pub(super) max_response_bytes: usize,
    /// Whether the server has the batch endpoint (see `super::batch`).
    pub(super) batch_support: std::sync::atomic::AtomicU8,
}

pub(crate) struct RestConfig {
    pub(crate) base: String,
    pub(crate) api_version: String,
    pub(crate) auth: Auth,
    pub(crate) headers: RequestHeaders,
    pub(crate) max_response_bytes: usize,
    pub(crate) connect_timeout: Duration,
    /// Extra trusted roots, PEM (checked by the builder).
    pub(crate) root_certificates: Vec<Vec<u8>>,
}

impl RestTransport {
    pub(crate) fn new(config: RestConfig) -> Result<RestTransport> {
        router()?;
        if !config.api_version.is_empty()
            && !crate::pb::HTTP_BINDINGS
                .iter()
                .any(|b| b.api_version == config.api_version)
        {
            return Err(Error::config(format!(
                "no REST bindings for API version `{}` (known: v1, v1beta, v1alpha, or empty for the generic operations/** bindings)",
                config.api_version
            )));
        }
        let mut roots = Vec::new();
        for pem in &config.root_certificates {
            roots.extend(
                reqwest::Certificate::from_pem_bundle(pem)
                    .map_err(|e| Error::config("invalid root certificate PEM").caused_by(e))?,
            );
        }
        let http = reqwest::Client::builder()
            .tls_certs_merge(roots)
            .user_agent(config.headers.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| Error::config("cannot build the HTTP client").caused_by(e))?;
        Ok(RestTransport {
            inner: Arc::new(Inner {
                http,
                base: config.base.trim_end_matches('/').to_owned(),
                api_version: config.api_version,
                auth: config.auth,
                headers: config.headers,
                max_response_bytes: config.max_response_bytes,
                batch_support: std::sync::atomic::AtomicU8::new(0),
            }),
        })
    }

    /// Sends one request and returns the status, content-type and body of the answer.
    async fn send<Req: RestRequest>(
        &self,
        method: OperationsMethod,
        request: &Req,
        routing_name: &str,
        options: &CallOptions,
    ) -> Result<(u16, String, Vec<u8>)> {
        let inner = &*self.inner;
        let binding = router()?
            .find(method.full_name(), &inner.api_version)
            .ok_or_else(|| {
                Error::from_code(
                    Code::Unimplemented,
                    format!(
                        "{} has no REST binding for API version `{}` (no request was sent)",
                        method.name(),
                        inner.api_version
                    ),
                )
            })?;
        // Get, cancel and delete carry only a name: map it straight onto the path.
        let parts = match request
            .name_only()
            .and_then(|name| encode_name_request(binding, name))
        {
            Some(parts) => parts,
            None => encode_request(binding, &request.transcode_to_dynamic()),
        }
        .map_err(|e| transcode_error(method, e))?;
        let body = match &parts.body {
            Some(message) => {
                let mut out = Vec::new();
                json::to_json_writer(message, &mut out)
                    .map_err(|e| Error::invalid_request(e.message().to_owned()))?;
                // An empty message is not worth a body: send none at all.
                (out.as_slice() != b"{}").then_some(out)
            }
            None => None,
        };
        let path_and_query = parts.path_and_query();
        let url = format!("{}{path_and_query}", inner.base);

        let accept = [(ACCEPT, HeaderValue::from_static("application/json"))];
        let mut headers = call_headers(
            &inner.auth,
            &inner.headers,
            &accept,
            routing_name,
            options,
            "header",
        )
        .await?;

        let mut builder = inner.http.request(parts.method.clone(), &url);
        if let Some(t) = options.timeout() {
            builder = builder.timeout(t);
        }
        builder = match body {
            Some(bytes) => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                builder.body(bytes)
            }
            None => {
                // Say "no body" outright where one could be expected.
                if matches!(
                    parts.method,
                    http::Method::POST | http::Method::PUT | http::Method::PATCH
                ) {
                    headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
                }
                builder
            }
        };
        let http_method = parts.method.clone();
        if headers_logged() {
            tracing::trace!(
                target: CALL_TARGET,
                transport = %"rest",
                rpc = %method.name(),
                "request headers: {}",
                redacted_headers(&headers)
            );
        }
        let started = std::time::Instant::now();
        let result = async {
            let response = builder
                .headers(headers)
                .send()
                .await
                .map_err(|e| reqwest_error(method, e))?;
            if headers_logged() {
                tracing::trace!(
                    target: CALL_TARGET,
                    transport = %"rest",
                    rpc = %method.name(),
                    "response headers: {}",
                    redacted_headers(response.headers())
                );
            }
            let status = response.status();
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            let body = read_limited(method, response, inner.max_response_bytes).await?;
            Ok((status, content_type, body))
        }
        .await;
        let latency = started.elapsed();
        match &result {
            Ok((status, _, _)) => tracing::debug!(
                target: CALL_TARGET,
                transport = %"rest",
                rpc = %method.name(),
                method = %http_method,
                path = %path_and_query,
                status = %status,
                ?latency,
                attempt = options.attempt(),
            ),
            Err(e) => tracing::debug!(
                target: CALL_TARGET,
                transport = %"rest",
                rpc = %method.name(),
                method = %http_method,
                path = %path_and_query,
                status = %"no response",
                error = %e,
                ?latency,
                attempt = options.attempt(),
            ),
        }
        result.map(|(status, content_type, body)| (status.as_u16(), content_type, body))
    }

    async fn call_message<Req, Resp>(
        &self,
        method: OperationsMethod,
        request: &Req,
        routing_name: &str,
        options: &CallOptions,
    ) -> Result<Resp>
    where
        Req: RestRequest,
        Resp: ReflectMessage + TypedJson,
    {
        let (status, content_type, body) =
            self.send(method, request, routing_name, options).await?;
        decode_message(method, status, &content_type, &body)
    }

    async fn call_empty<Req: RestRequest>(
        &self,
        method: OperationsMethod,
        request: &Req,
        routing_name: &str,
        options: &CallOptions,
    ) -> Result<()> {
        let (status, content_type, body) =
            self.send(method, request, routing_name, options).await?;
        decode_empty(method, status, &content_type, &body)
    }
}

/// Reads the answer of a call that returns a message (also each part of a batch).
pub(crate) fn decode_message<Resp>(
    method: OperationsMethod,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> Result<Resp>
where
    Resp: ReflectMessage + TypedJson,
{
    if !(200..300).contains(&status) {
        return Err(decode_error_body(method, status, content_type, body));
    }
    check_json(method, status, content_type, body)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::decode_http(
            format!(
                "{}: HTTP {status} with an empty body (content-type `{content_type}`); expected a {}",
                method.name(),
                Resp::default().descriptor().full_name()
            ),
            status,
        ));
    }
    json::decode_response::<Resp>(body).map_err(|e| {
        Error::decode_http(
            format!(
                "{}: HTTP {status}, content-type `{content_type}`: {}; body starts: {}",
                method.name(),
                e.message(),
                excerpt(body)
            ),
            status,
        )
    })
}

/// Reads the answer of a call that returns `Empty` (also each part of a batch).
pub(crate) fn decode_empty(
    method: OperationsMethod,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> Result<()> {
    if !(200..300).contains(&status) {
        return Err(decode_error_body(method, status, content_type, body));
    }
    // `{}` is the usual answer; an empty body (e.g. 204) is fine too.
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    check_json(method, status, content_type, body)?;
    match serde_json::from_slice::<Json>(body) {
        Ok(Json::Object(_)) => Ok(()),
        _ => Err(Error::decode_http(
            format!(
                "{}: HTTP {status}, content-type `{content_type}`: expected a JSON object; body starts: {}",
                method.name(),
                excerpt(body)
            ),
            status,
        )),
    }
}

impl Operations for RestTransport {
    async fn list_operations(
        &self,
        request: ListOperationsRequest,
        options: CallOptions,
    ) -> Result<ListOperationsResponse> {
        let name = request.name.clone();
        self.call_message(OperationsMethod::ListOperations, &request, &name, &options)
            .await
    }

    async fn get_operation(
        &self,
        request: GetOperationRequest,
        options: CallOptions,
    ) -> Result<Operation> {
        let name = request.name.clone();
        self.call_message(OperationsMethod::GetOperation, &request, &name, &options)
            .await
    }

    async fn delete_operation(
        &self,
        request: DeleteOperationRequest,
        options: CallOptions,
    ) -> Result<()> {
        let name = request.name.clone();
        self.call_empty(OperationsMethod::DeleteOperation, &request, &name, &options)
            .await
    }

    async fn cancel_operation(
        &self,
        request: CancelOperationRequest,
        options: CallOptions,
    ) -> Result<()> {
        let name = request.name.clone();
        self.call_empty(OperationsMethod::CancelOperation, &request, &name, &options)
            .await
    }

    async fn wait_operation(
        &self,
        request: WaitOperationRequest,
        options: CallOptions,
    ) -> Result<Operation> {
        let name = request.name.clone();
        self.call_message(OperationsMethod::WaitOperation, &request, &name, &options)
            .await
    }
}

/// A request the REST transport sends.
trait RestRequest: ReflectMessage {
    /// The name, for a request that carries nothing else (see [`encode_name_request`]).
    fn name_only(&self) -> Option<&str> {
        None
    }
}

impl RestRequest for GetOperationRequest {
    fn name_only(&self) -> Option<&str> {
        Some(&self.name)
    }
}

impl RestRequest for CancelOperationRequest {
    fn name_only(&self) -> Option<&str> {
        Some(&self.name)
    }
}

impl RestRequest for DeleteOperationRequest {
    fn name_only(&self) -> Option<&str> {
        Some(&self.name)
    }
}

impl RestRequest for ListOperationsRequest {}

impl RestRequest for WaitOperationRequest {}

fn transcode_error(method: OperationsMethod, e: TranscodeError) -> Error {
    match e.bad_name() {
        Some(bad) => Error::invalid_request(format!(
            "{}: invalid {} `{}`: expected {} ({})",
            method.name(),
            bad.field(),
            bad.value().unwrap_or_default(),
            bad.expected(),
            bad.kind()
        )),
        None => Error::invalid_request(format!("{}: {e}", method.name())),
    }
}

pub(super) fn reqwest_error(method: OperationsMethod, e: reqwest::Error) -> Error {
    // reqwest's messages name the URL; that has the operation name but never credentials.
    if e.is_timeout() {
        Error::timeout(format!("{} got no answer in time", method.name())).caused_by(e)
    } else if e.is_connect() {
        Error::transport(format!("{}: cannot connect", method.name()), e)
    } else if e.is_builder() {
        Error::invalid_request(format!("{}: cannot build the request", method.name())).caused_by(e)
    } else {
        Error::transport(format!("{}: the request failed", method.name()), e)
    }
}

pub(super) async fn read_limited(
    method: OperationsMethod,
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>> {
    let status = response.status().as_u16();
    let too_large = |n: String| {
        Error::decode_http(
            format!(
                "{}: HTTP {status}: the response body ({n}) exceeds the limit of {limit} bytes",
                method.name()
            ),
            status,
        )
    };
    if let Some(len) = response.content_length()
        && len > limit as u64
    {
        return Err(too_large(format!("{len} bytes announced")));
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(too_large("more".into()));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) if e.is_timeout() => {
                return Err(Error::timeout(format!(
                    "{}: the response body did not arrive in time",
                    method.name()
                ))
                .caused_by(e));
            }
            Err(e) => {
                return Err(Error::transport(
                    format!(
                        "{}: HTTP {status}: the connection failed while reading the body ({} bytes read)",
                        method.name(),
                        body.len()
                    ),
                    e,
                ));
            }
        }
    }
}

fn is_json_content_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// A success must be JSON: a wrong content-type is refused even when the body would parse.
fn check_json(
    method: OperationsMethod,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> Result<()> {
    if content_type.is_empty() || is_json_content_type(content_type) {
        return Ok(());
    }
    Err(Error::decode_http(
        format!(
            "{}: HTTP {status} with content-type `{content_type}`, expected application/json; body starts: {}",
            method.name(),
            excerpt(body)
        ),
        status,
    ))
}

/// Decodes a non-2xx answer: `{"error": {...}}` becomes a service error; anything else (a
/// proxy's HTML page, say) a decode error with the status, content-type and an excerpt.
pub(crate) fn decode_error_body(
    method: OperationsMethod,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> Error {
    if let Some(e) = parse_google_error(status, body) {
        return e;
    }
    let what = if body.iter().all(u8::is_ascii_whitespace) {
        "an empty body".to_owned()
    } else {
        format!("a body that is not a JSON error: {}", excerpt(body))
    };
    let content_type = if content_type.is_empty() {
        "no content-type".to_owned()
    } else {
        format!("content-type `{content_type}`")
    };
    let note = if (300..400).contains(&status) {
        " (redirects are not followed)"
    } else {
        ""
    };
    Error::decode_http(
        format!(
            "{}: HTTP {status} ({}){note} with {content_type} and {what}",
            method.name(),
            code_for_http_status(status).as_str_name()
        ),
        status,
    )
}

fn parse_google_error(status: u16, body: &[u8]) -> Option<Error> {
    let value: Json = serde_json::from_slice(body).ok()?;
    // Some front ends wrap the error in a one-element array.
    let value = match value {
        Json::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        v => v,
    };
    let error = value.get("error")?.as_object()?;
    let code = error
        .get("status")
        .and_then(Json::as_str)
        .and_then(Code::from_str_name)
        .unwrap_or_else(|| code_for_http_status(status));
    let message = error
        .get("message")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned();
    let details = error
        .get("details")
        .filter(|d| d.is_array())
        .and_then(|d| {
            let doc = serde_json::json!({ "details": d });
            let bytes = serde_json::to_vec(&doc).ok()?;
            json::from_json_keep_raw::<Status>(&bytes).ok()
        })
        .map(|s| s.details)
        .unwrap_or_default();
    Some(Error::service_http(
        Status {
            code: code as i32,
            message,
            details,
        },
        status,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let body = br#"{"error":{"code":404,"message":"nope","status":"NOT_FOUND","details":[
            {"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"GONE","domain":"d"},
            {"@type":"type.googleapis.com/x.Unknown","a":1}]}}"#;
        let e = decode_error_body(
            OperationsMethod::GetOperation,
            404,
            "application/json",
            body,
        );
        assert!(e.is_not_found());
        assert_eq!(e.message(), "nope");
        assert_eq!(e.http_status(), Some(404));
        let details = e.details();
        assert_eq!(details.len(), 2);
        assert!(
            matches!(&details[0], crate::error::ErrorDetail::ErrorInfo(i) if i.reason == "GONE")
        );

        // No `status`: the HTTP status decides.
        let e = decode_error_body(
            OperationsMethod::GetOperation,
            503,
            "application/json",
            br#"{"error":{"code":503,"message":"busy"}}"#,
        );
        assert!(e.is_retryable());

        let e = decode_error_body(
            OperationsMethod::GetOperation,
            502,
            "text/html",
            b"<html><body>Bad Gateway</body></html>",
        );
        assert!(e.is_decode());
        assert!(e.message().contains("502"), "{e}");
        assert!(e.message().contains("text/html"), "{e}");
        assert!(e.message().contains("Bad Gateway"), "{e}");
    }

    #[test]
    fn json_content_types() {
        assert!(is_json_content_type("application/json; charset=utf-8"));
        assert!(is_json_content_type("application/problem+json"));
        assert!(!is_json_content_type("text/html"));
        assert!(check_json(OperationsMethod::GetOperation, 200, "text/plain", b"{}").is_err());
    }
}
