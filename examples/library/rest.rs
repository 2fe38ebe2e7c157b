//! REST for the Library on the gRPC port: INTERIM, to be replaced by the transcoding server
//! eeops' generator produces for any service.
//!
//! Nothing here is per RPC: a request is routed by the Library's binding table
//! ([`super::pb::HTTP_BINDINGS`]) through [`eeops::transcode::Router`], decoded into a dynamic
//! message of the method's input type with [`eeops::transcode::decode_request`], and handed to
//! the *same* tonic service as a gRPC call in process; the answer comes back as proto3 JSON
//! ([`eeops::transcode::encode_response`]) or as Google's JSON error envelope
//! (`{"error": {"code", "message", "status"}}`) with the HTTP status of the gRPC code.

use std::sync::Arc;

use axum::body::{Body, Bytes, HttpBody as _};
use axum::response::{IntoResponse as _, Response};
use eeops::pb::google::rpc::Code;
use eeops::transcode::{Router, decode_request, encode_response};
use prost::Message as _;
use prost_reflect::{DynamicMessage, MethodDescriptor, SerializeOptions};
use tower::ServiceExt as _;

use super::pb::{DESCRIPTOR_POOL, HTTP_BINDINGS};

/// Query parameters every REST call may carry and that name no field (Google's system
/// parameters), as eeops' own server tolerates them.
const SYSTEM_PARAMS: &[&str] = eeops::server::TOLERATED_PARAMS;

/// The largest REST body read.
const MAX_BODY: usize = 4 << 20;

/// Serves REST requests by calling `grpc` (the application's gRPC router) in process.
#[derive(Clone)]
pub struct Rest {
    router: Arc<Router>,
    grpc: axum::Router,
}

impl Rest {
    /// REST over the Library's binding table, answered by `grpc`.
    pub fn new(grpc: axum::Router) -> Result<Self, String> {
        let router = Router::new(HTTP_BINDINGS)
            .map_err(|e| format!("the Library's bindings do not parse: {e}"))?;
        Ok(Rest {
            router: Arc::new(router),
            grpc,
        })
    }

    /// Answers one REST request.
    pub async fn handle(&self, req: axum::extract::Request) -> Response {
        match self.transcode(req).await {
            Ok(r) => r,
            Err(failure) => failure.into_response(),
        }
    }

    async fn transcode(&self, req: axum::extract::Request) -> Result<Response, Failure> {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_owned();
        let route = self
            .router
            .route(parts.method.as_str(), &path)
            .map_err(|e| {
                envelope_for_status(e.status(), &format!("{} {path}: {e}", parts.method))
            })?;
        let method = method_of(route.binding.method)?;
        let body = axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
            envelope(
                Code::InvalidArgument,
                &format!("cannot read the request body: {e}"),
            )
        })?;
        let request = decode_request(
            &route,
            &method.input(),
            parts.uri.query(),
            &body,
            SYSTEM_PARAMS,
        )
        .map_err(|e| {
            let code = if e.is_invalid_argument() {
                Code::InvalidArgument
            } else {
                Code::Internal
            };
            envelope(code, &e.to_string())
        })?;
        let response = self.call(&method, &request).await?;
        let json = encode_response(route.binding, &response, &SerializeOptions::new())
            .map_err(|e| envelope(Code::Internal, &e.to_string()))?;
        Ok((
            http::StatusCode::OK,
            [(http::header::CONTENT_TYPE, "application/json")],
            format!("{json}\n"),
        )
            .into_response())
    }

    /// One unary gRPC call of `method` on the gRPC router, in process.
    async fn call(
        &self,
        method: &MethodDescriptor,
        request: &DynamicMessage,
    ) -> Result<DynamicMessage, Failure> {
        let payload = request.encode_to_vec();
        let mut frame = Vec::with_capacity(payload.len() + 5);
        frame.push(0);
        frame.extend_from_slice(
            &u32::try_from(payload.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        frame.extend_from_slice(&payload);
        let grpc_request = http::Request::builder()
            .method(http::Method::POST)
            .uri(format!(
                "/{}/{}",
                method.parent_service().full_name(),
                method.name()
            ))
            .header(http::header::CONTENT_TYPE, "application/grpc")
            .header("te", "trailers")
            .body(Body::from(frame))
            .map_err(|e| envelope(Code::Internal, &e.to_string()))?;
        let response = self
            .grpc
            .clone()
            .oneshot(grpc_request)
            .await
            .map_err(|e| envelope(Code::Internal, &e.to_string()))?;
        let (parts, mut body) = response.into_parts();
        let mut data = Vec::new();
        let mut trailers = http::HeaderMap::new();
        while let Some(frame) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
        {
            let frame = frame.map_err(|e| envelope(Code::Internal, &e.to_string()))?;
            match frame.into_data() {
                Ok(bytes) => data.extend_from_slice(&bytes),
                Err(frame) => {
                    if let Ok(t) = frame.into_trailers() {
                        trailers.extend(t);
                    }
                }
            }
        }
        // A trailers-only answer carries the status in the headers.
        let status = trailers
            .get("grpc-status")
            .or_else(|| parts.headers.get("grpc-status"))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i32>().ok())
            .unwrap_or(Code::Unknown as i32);
        if status != 0 {
            let message = trailers
                .get("grpc-message")
                .or_else(|| parts.headers.get("grpc-message"))
                .map(|v| {
                    percent_encoding::percent_decode(v.as_bytes())
                        .decode_utf8_lossy()
                        .into_owned()
                })
                .unwrap_or_default();
            let code = Code::try_from(status).unwrap_or(Code::Unknown);
            return Err(envelope(code, &message));
        }
        let message = data
            .get(5..)
            .map(Bytes::copy_from_slice)
            .unwrap_or_default();
        DynamicMessage::decode(method.output(), message)
            .map_err(|e| envelope(Code::Internal, &format!("undecodable answer: {e}")))
    }
}

fn method_of(full_name: &str) -> Result<MethodDescriptor, Failure> {
    let (service, name) = full_name.rsplit_once('.').unwrap_or(("", full_name));
    DESCRIPTOR_POOL
        .get_service_by_name(service)
        .and_then(|s| s.methods().find(|m| m.name() == name))
        .ok_or_else(|| {
            envelope(
                Code::Internal,
                &format!("no method {full_name} in the descriptors"),
            )
        })
}

/// A refused or failed REST call: answered with Google's JSON error envelope.
struct Failure {
    http: http::StatusCode,
    code: Code,
    message: String,
}

impl Failure {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {
            "code": self.http.as_u16(),
            "message": self.message,
            "status": self.code.as_str_name(),
        }});
        (
            self.http,
            [(http::header::CONTENT_TYPE, "application/json")],
            format!("{body}\n"),
        )
            .into_response()
    }
}

/// A failure with a gRPC code, answered with that code's HTTP status.
fn envelope(code: Code, message: &str) -> Failure {
    let http = eeops::error::http_status_for_code(code as i32);
    Failure {
        http: http::StatusCode::from_u16(http).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
        code,
        message: message.to_owned(),
    }
}

/// A routing failure, with its own HTTP status (404 no route, 405 wrong method).
fn envelope_for_status(status: http::StatusCode, message: &str) -> Failure {
    let code = match status {
        // A path served for other methods: gRPC's answer to a method it does not have.
        http::StatusCode::METHOD_NOT_ALLOWED => Code::Unimplemented,
        _ => eeops::error::code_for_http_status(status.as_u16()),
    };
    Failure {
        http: status,
        code,
        message: message.to_owned(),
    }
}
