//! `call METHOD 'JSON'`: one Library RPC from proto3 JSON, over gRPC or REST, answered in
//! proto3 JSON, through the generated transport-agnostic trait
//! ([`dynamic::LibraryService`], the object-safe mirror of `library_service_stub::LibraryService`)
//! on eeops' REST or gRPC transport (`ClientBuilder::build_rest_transport` /
//! `build_grpc_transport`).
//!
//! The method comes from the generated method table ([`LibraryServiceMethod::ALL`]); the
//! request's JSON is read against the method's input descriptor (so a misspelt field is refused
//! before anything is sent), then turned into the typed request of that method by one match
//! over the generated method enum (exhaustive: a new RPC in the proto does not compile until
//! it has its line), and the typed response back into JSON.

use std::future::Future;
use std::sync::Arc;

use eeops::Error;
use eeops::stub::CallOptions;
use prost_reflect::{
    DeserializeOptions, DynamicMessage, MessageDescriptor, MethodDescriptor, ReflectMessage,
    SerializeOptions,
};

use super::pb::v1::library_service_stub::{LibraryServiceMethod, dynamic};
use super::pb::{DESCRIPTOR_POOL, SERVICE};

/// The transport `call` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// gRPC.
    Grpc,
    /// REST with gRPC transcoding.
    Rest,
}

/// The Library method a name means: `GetShelf`, `LibraryService.GetShelf`,
/// `google.example.library.v1.LibraryService.GetShelf` or `.../LibraryService/GetShelf`, with
/// its descriptor.
pub fn method(name: &str) -> Result<(LibraryServiceMethod, MethodDescriptor), Error> {
    let wanted = name.trim().trim_start_matches('/').replace('/', ".");
    let short = |m: &LibraryServiceMethod| {
        m.full_name()
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let found = LibraryServiceMethod::ALL.iter().copied().find(|m| {
        let short = short(m);
        wanted == short || wanted == m.full_name() || wanted == format!("LibraryService.{short}")
    });
    let Some(found) = found else {
        let names: Vec<String> = LibraryServiceMethod::ALL.iter().map(short).collect();
        return Err(Error::invalid_request(format!(
            "`{name}` is not a method of {SERVICE} (one of: {})",
            names.join(", ")
        )));
    };
    let descriptor = DESCRIPTOR_POOL
        .get_service_by_name(SERVICE)
        .and_then(|s| s.methods().find(|m| m.full_name() == found.full_name()))
        .ok_or_else(|| {
            Error::config(format!(
                "{} is missing from the descriptors",
                found.full_name()
            ))
        })?;
    Ok((found, descriptor))
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

/// The generated trait on the transport asked for, to the server at `endpoint`.
pub async fn connect(
    endpoint: &str,
    transport: Transport,
) -> Result<Arc<dyn dynamic::LibraryService>, Error> {
    let builder = eeops::Client::builder().endpoint(endpoint);
    Ok(match transport {
        Transport::Grpc => Arc::new(builder.build_grpc_transport().await?),
        Transport::Rest => Arc::new(builder.build_rest_transport().await?),
    })
}

/// Sends `request` (a dynamic message of `method`'s input type) through `stub`, and returns
/// the response as a dynamic message.
pub async fn invoke(
    stub: &dyn dynamic::LibraryService,
    method: LibraryServiceMethod,
    request: &DynamicMessage,
) -> Result<DynamicMessage, Error> {
    use LibraryServiceMethod as M;
    let opts = CallOptions::default;
    match method {
        M::CreateShelf => typed(request, |r| stub.create_shelf(r, opts())).await,
        M::GetShelf => typed(request, |r| stub.get_shelf(r, opts())).await,
        M::ListShelves => typed(request, |r| stub.list_shelves(r, opts())).await,
        M::DeleteShelf => empty(request, |r| stub.delete_shelf(r, opts())).await,
        M::MergeShelves => typed(request, |r| stub.merge_shelves(r, opts())).await,
        M::CreateBook => typed(request, |r| stub.create_book(r, opts())).await,
        M::GetBook => typed(request, |r| stub.get_book(r, opts())).await,
        M::ListBooks => typed(request, |r| stub.list_books(r, opts())).await,
        M::DeleteBook => empty(request, |r| stub.delete_book(r, opts())).await,
        M::UpdateBook => typed(request, |r| stub.update_book(r, opts())).await,
        M::MoveBook => typed(request, |r| stub.move_book(r, opts())).await,
    }
}

/// The typed request of one method from its dynamic message.
fn to_typed<Req: ReflectMessage + Default>(request: &DynamicMessage) -> Result<Req, Error> {
    request.transcode_to::<Req>().map_err(|e| {
        Error::invalid_request(format!(
            "the request is not a valid {}: {e}",
            request.descriptor().full_name()
        ))
    })
}

/// One call of a method that answers a message.
async fn typed<Req, Resp, Fut>(
    request: &DynamicMessage,
    send: impl FnOnce(Req) -> Fut,
) -> Result<DynamicMessage, Error>
where
    Req: ReflectMessage + Default,
    Resp: ReflectMessage,
    Fut: Future<Output = Result<Resp, Error>>,
{
    Ok(send(to_typed(request)?).await?.transcode_to_dynamic())
}

/// One call of a method that answers `google.protobuf.Empty`.
async fn empty<Req, Fut>(
    request: &DynamicMessage,
    send: impl FnOnce(Req) -> Fut,
) -> Result<DynamicMessage, Error>
where
    Req: ReflectMessage + Default,
    Fut: Future<Output = Result<(), Error>>,
{
    send(to_typed(request)?).await?;
    let empty: MessageDescriptor = DESCRIPTOR_POOL
        .get_message_by_name("google.protobuf.Empty")
        .ok_or_else(|| Error::config("google.protobuf.Empty is missing from the descriptors"))?;
    Ok(DynamicMessage::new(empty))
}

/// Calls `method` with the request `json` at `endpoint` (`http://HOST:PORT`), and returns the
/// response's proto3 JSON (pretty, fields in proto order).
pub async fn call(
    endpoint: &str,
    transport: Transport,
    method_name: &str,
    json: &str,
) -> Result<String, Error> {
    let (method, descriptor) = method(method_name)?;
    let req = request(&descriptor, json)?;
    let stub = connect(endpoint, transport).await?;
    let response = invoke(&*stub, method, &req).await?;
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
    /// name the binding refuses, or `INVALID_ARGUMENT` from the server.
    pub const USAGE: u8 = 2;
    /// Connection problems, `UNAVAILABLE` included.
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
            // As eeops' CLI decides: the server refusing the input is bad input too, and
            // UNAVAILABLE is a connection problem.
            let code = if e.is_invalid_request()
                || e.kind() == eeops::ErrorKind::Config
                || e.code() == Some(eeops::pb::google::rpc::Code::InvalidArgument)
            {
                exit::USAGE
            } else if e.is_transport()
                || e.is_timeout()
                || e.code() == Some(eeops::pb::google::rpc::Code::Unavailable)
            {
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
