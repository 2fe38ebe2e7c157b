//! `call METHOD 'JSON'`: one Library RPC from proto3 JSON, over gRPC or REST, answered in
//! proto3 JSON.
//!
//! Both transports work on `prost_reflect::DynamicMessage`s of the Library's descriptors, so
//! any method of the service is callable without a line per method:
//!
//! * gRPC: a tonic unary call with a codec that writes and reads dynamic messages;
//! * REST: eeops' transcoding runtime ([`eeops::transcode::encode_request`] over the Library's
//!   binding table, [`super::pb::HTTP_BINDINGS`]) and a reqwest request, with Google's JSON
//!   error envelope read back into an [`eeops::Error`]. This is the interim REST client until
//!   the generator's REST transport replaces it.

use std::str::FromStr as _;

use eeops::Error;
use eeops::pb::google::rpc::{Code, Status as RpcStatus};
use eeops::transcode::{Router, decode_response, encode_request};
use prost::Message as _;
use prost_reflect::{
    DeserializeOptions, DynamicMessage, MessageDescriptor, MethodDescriptor, ReflectMessage as _,
    SerializeOptions,
};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use super::pb::{DESCRIPTOR_POOL, HTTP_BINDINGS, SERVICE};

/// The transport `call` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// gRPC (HTTP/2, tonic).
    Grpc,
    /// REST with gRPC transcoding (reqwest).
    Rest,
}

/// The Library method a name means: `GetShelf`, `LibraryService.GetShelf`,
/// `google.example.library.v1.LibraryService.GetShelf` or `.../LibraryService/GetShelf`.
pub fn method(name: &str) -> Result<MethodDescriptor, Error> {
    let service = DESCRIPTOR_POOL
        .get_service_by_name(SERVICE)
        .ok_or_else(|| Error::config(format!("{SERVICE} is missing from the descriptors")))?;
    let wanted = name.trim().trim_start_matches('/').replace('/', ".");
    service
        .methods()
        .find(|m| {
            wanted == m.name()
                || wanted == m.full_name()
                || wanted == format!("{}.{}", service.name(), m.name())
        })
        .ok_or_else(|| {
            let names: Vec<String> = service.methods().map(|m| m.name().to_owned()).collect();
            Error::invalid_request(format!(
                "`{name}` is not a method of {SERVICE} (one of: {})",
                names.join(", ")
            ))
        })
}

/// The request message of `method` from its proto3 JSON.
pub fn request(method: &MethodDescriptor, json: &str) -> Result<DynamicMessage, Error> {
    let input = method.input();
    let mut de = serde_json::Deserializer::from_str(json);
    let msg = DynamicMessage::deserialize_with_options(
        input.clone(),
        &mut de,
        &DeserializeOptions::new(),
    )
    .and_then(|m| de.end().map(|()| m))
    .map_err(|e| {
        Error::invalid_request(format!(
            "the request is not valid JSON for {}: {e}",
            input.full_name()
        ))
    })?;
    Ok(msg)
}

/// The proto3 JSON of a message (default options: JSON names, default values left out).
pub fn to_json(msg: &DynamicMessage) -> Result<serde_json::Value, Error> {
    msg.serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new())
        .map_err(|e| {
            Error::decode(format!(
                "cannot write {} as JSON: {e}",
                msg.descriptor().full_name()
            ))
        })
}

/// Calls `method` with the request `json` at `endpoint` (`http://HOST:PORT`), and returns the
/// response's proto3 JSON (pretty, fields in proto order).
pub async fn call(
    endpoint: &str,
    transport: Transport,
    method_name: &str,
    json: &str,
) -> Result<String, Error> {
    let method = method(method_name)?;
    let req = request(&method, json)?;
    let response = match transport {
        Transport::Grpc => call_grpc(endpoint, &method, req).await?,
        Transport::Rest => call_rest(endpoint, &method, &req).await?,
    };
    to_json_text(&response)
}

/// The proto3 JSON of a message as pretty text, fields in proto order.
pub fn to_json_text(msg: &DynamicMessage) -> Result<String, Error> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::pretty(&mut out);
    msg.serialize_with_options(&mut ser, &SerializeOptions::new())
        .map_err(|e| {
            Error::decode(format!(
                "cannot write {} as JSON: {e}",
                msg.descriptor().full_name()
            ))
        })?;
    String::from_utf8(out).map_err(|e| Error::decode(format!("JSON that is not UTF-8: {e}")))
}

/// The exit codes of `call`, eeops' CLI's own.
pub mod exit {
    /// The call succeeded.
    pub const OK: u8 = 0;
    /// The service answered with an error.
    pub const FAILURE: u8 = 1;
    /// Bad usage or input: an unknown method, a request that is not the method's JSON, a
    /// name the binding refuses.
    pub const USAGE: u8 = 2;
    /// Connection problems.
    pub const CONNECTION: u8 = 3;
}

/// What `call` prints and exits with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// One of [`exit`]'s codes.
    pub exit: u8,
    /// The response's proto3 JSON and a newline, or nothing.
    pub stdout: String,
    /// `error: METHOD: ...` and a newline, or nothing.
    pub stderr: String,
}

/// `call` as the command line runs it: the response on stdout, or the error on stderr as
/// eeops' CLI prints it, and the exit code.
pub async fn run(endpoint: &str, transport: Transport, method: &str, json: &str) -> Outcome {
    match call(endpoint, transport, method, json).await {
        Ok(text) => Outcome {
            exit: exit::OK,
            stdout: format!("{text}\n"),
            stderr: String::new(),
        },
        Err(e) => {
            let code = if e.is_invalid_request() || e.kind() == eeops::ErrorKind::Config {
                exit::USAGE
            } else if e.is_transport() || e.is_timeout() {
                exit::CONNECTION
            } else {
                exit::FAILURE
            };
            Outcome {
                exit: code,
                stdout: String::new(),
                stderr: format!("error: {method}: {e}\n"),
            }
        }
    }
}

/// One unary gRPC call of `method` with a dynamic request.
pub async fn call_grpc(
    endpoint: &str,
    method: &MethodDescriptor,
    req: DynamicMessage,
) -> Result<DynamicMessage, Error> {
    let channel = tonic::transport::Endpoint::from_shared(endpoint.to_owned())
        .map_err(|e| Error::config(format!("invalid endpoint `{endpoint}`")).caused_by(e))?
        .connect()
        .await
        .map_err(|e| Error::transport(format!("cannot connect to {endpoint}"), e))?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Error::transport(format!("{endpoint} is not ready"), e))?;
    let path = http::uri::PathAndQuery::from_str(&format!(
        "/{}/{}",
        method.parent_service().full_name(),
        method.name()
    ))
    .map_err(|e| {
        Error::config(format!("invalid method path for {}", method.full_name())).caused_by(e)
    })?;
    let codec = DynamicCodec {
        output: method.output(),
    };
    let response = grpc
        .unary(tonic::Request::new(req), path, codec)
        .await
        .map_err(Error::from)?;
    Ok(response.into_inner())
}

/// One REST call of `method` through eeops' transcoding: the binding from the Library's
/// table, path, query and body from the request message, the response through the binding's
/// `response_body`.
pub async fn call_rest(
    endpoint: &str,
    method: &MethodDescriptor,
    req: &DynamicMessage,
) -> Result<DynamicMessage, Error> {
    let router = Router::new(HTTP_BINDINGS)
        .map_err(|e| Error::config(format!("the Library's bindings do not parse: {e}")))?;
    let binding = router
        .find(method.full_name(), "")
        .ok_or_else(|| Error::config(format!("{} has no REST binding", method.full_name())))?;
    let parts = encode_request(binding, req).map_err(|e| Error::invalid_request(e.to_string()))?;
    let url = format!(
        "{}{}",
        endpoint.trim_end_matches('/'),
        parts.path_and_query()
    );
    let client = reqwest::Client::new();
    let mut builder = client.request(parts.method.clone(), &url);
    if let Some(body) = &parts.body {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::invalid_request(format!("cannot write the body: {e}")))?;
        builder = builder
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(bytes);
    }
    let response = builder
        .send()
        .await
        .map_err(|e| Error::transport(format!("{} {url} failed", parts.method), e))?;
    let status = response.status();
    if let Some(grpc_status) = response.headers().get("grpc-status") {
        // A gRPC server's answer to a REST request (a gRPC-only server's fallback): never a
        // success, whatever the HTTP status says.
        return Err(Error::decode_http(
            format!(
                "{url} answered in gRPC (grpc-status {}), not REST: is it a gRPC-only server?",
                grpc_status.to_str().unwrap_or("?")
            ),
            status.as_u16(),
        ));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Error::transport(format!("reading the answer of {url}"), e))?;
    if !status.is_success() {
        return Err(rest_error(status.as_u16(), &bytes));
    }
    let json: serde_json::Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Object(Default::default())
    } else {
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::decode_http(
                format!("the answer of {url} is not JSON: {e}"),
                status.as_u16(),
            )
        })?
    };
    decode_response(
        binding.binding(),
        &method.output(),
        json,
        &DeserializeOptions::new(),
    )
    .map_err(|e| Error::decode_http(format!("the answer of {url}: {e}"), status.as_u16()))
}

/// Google's JSON error envelope (`{"error": {"code", "message", "status"}}`) as an error; any
/// other body gives the HTTP status's code and the body's text.
fn rest_error(http_status: u16, body: &[u8]) -> Error {
    let envelope: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let error = envelope.as_ref().and_then(|v| v.get("error"));
    let code = error
        .and_then(|e| e.get("status"))
        .and_then(|s| s.as_str())
        .and_then(Code::from_str_name)
        .unwrap_or_else(|| eeops::error::code_for_http_status(http_status));
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(|m| m.as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    Error::service_http(
        RpcStatus {
            code: code as i32,
            message,
            details: Vec::new(),
        },
        http_status,
    )
}

/// A gRPC codec for dynamic messages: writes any, reads the method's output type.
struct DynamicCodec {
    output: MessageDescriptor,
}

struct DynamicEncoder;

struct DynamicDecoder {
    output: MessageDescriptor,
}

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        DynamicDecoder {
            output: self.output.clone(),
        }
    }
}

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: DynamicMessage,
        dst: &mut EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        item.encode(dst)
            .map_err(|e| tonic::Status::internal(format!("cannot encode the request: {e}")))
    }
}

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, tonic::Status> {
        DynamicMessage::decode(self.output.clone(), src)
            .map(Some)
            .map_err(|e| {
                tonic::Status::internal(format!(
                    "the response is not a valid {}: {e}",
                    self.output.full_name()
                ))
            })
    }
}
