//! The gRPC transport: the generated tonic client over a [`tonic::transport::Channel`].
//!
//! `https://` endpoints use TLS (rustls, with the webpki roots); `http://` endpoints use
//! plaintext HTTP/2. The channel connects lazily, on the first call, and reconnects after
//! failures. Every call carries the credentials' headers, `x-goog-user-project` when a quota
//! project is set, `x-goog-api-client`, `x-goog-request-params: name=<encoded name>` and the
//! user agent as metadata, and its per-attempt timeout as `grpc-timeout` (also enforced
//! locally).
//!
//! Binary Earth Engine metadata is trusted only from a server that answers with
//! [`EEOPS_SERVER_HEADER`] (eeops' own); from any other server it is marked unverified (see
//! [`super::metadata`]).
//!
//! Failures that happen on this side (no connection, a peer that does not speak HTTP/2)
//! become [`ErrorKind::Transport`](crate::ErrorKind::Transport) errors; statuses the server
//! sends become service errors, with `grpc-status-details-bin` decoded into their details.

use std::error::Error as _;
use std::time::Duration;

use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, ClientTlsConfig};

use super::auth::Auth;
use super::common::{
    CALL_TARGET, Endpoint, RequestHeaders, call_headers, headers_logged, redacted_headers,
};
use super::metadata::mark_unverified;
use crate::pb::EEOPS_SERVER_HEADER;
use crate::pb::google::longrunning::operations_client::OperationsClient;
use crate::pb::google::longrunning::{
    CancelOperationRequest, DeleteOperationRequest, GetOperationRequest, ListOperationsRequest,
    ListOperationsResponse, Operation, WaitOperationRequest,
};
use crate::stub::{CallOptions, Operations, OperationsMethod};
use crate::{Error, Result};

/// The gRPC implementation of [`crate::stub::Operations`].
///
/// Built by [`ClientBuilder`](super::ClientBuilder) with `Transport::Grpc`; get it (as a
/// stub) from [`Client::stub`](super::Client::stub).
#[derive(Debug, Clone)]
pub struct GrpcTransport {
    client: OperationsClient<Channel>,
    auth: Auth,
    headers: RequestHeaders,
}

pub(crate) struct GrpcConfig {
    pub(crate) endpoint: Endpoint,
    pub(crate) auth: Auth,
    pub(crate) headers: RequestHeaders,
    pub(crate) max_response_bytes: usize,
    pub(crate) connect_timeout: Duration,
    /// Extra trusted roots, PEM (checked by the builder).
    pub(crate) root_certificates: Vec<Vec<u8>>,
}

impl GrpcTransport {
    pub(crate) fn new(config: GrpcConfig) -> Result<GrpcTransport> {
        let ep = &config.endpoint;
        if !ep.prefix.is_empty() {
            return Err(Error::config(format!(
                "a gRPC endpoint cannot have a path (`{}`)",
                ep.prefix
            )));
        }
        let bad = |e: tonic::transport::Error| {
            Error::config(format!("invalid gRPC endpoint `{}`", ep.origin())).caused_by(e)
        };
        let mut endpoint = tonic::transport::Endpoint::from_shared(ep.origin())
            .map_err(bad)?
            .user_agent(config.headers.user_agent.clone())
            .map_err(bad)?
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true);
        if ep.https {
            let domain = ep.host.trim_start_matches('[').trim_end_matches(']');
            let mut tls = ClientTlsConfig::new()
                .with_webpki_roots()
                .domain_name(domain);
            for pem in &config.root_certificates {
                tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
            }
            endpoint = endpoint.tls_config(tls).map_err(bad)?;
        }
        let client = OperationsClient::new(endpoint.connect_lazy())
            .max_decoding_message_size(config.max_response_bytes);
        Ok(GrpcTransport {
            client,
            auth: config.auth,
            headers: config.headers,
        })
    }

    async fn request<T: Routed>(
        &self,
        method: OperationsMethod,
        message: T,
        options: &CallOptions,
    ) -> Result<tonic::Request<T>> {
        let headers = call_headers(
            &self.auth,
            &self.headers,
            &[],
            message.routing_name(),
            options,
            "metadata",
        )
        .await?;
        if headers_logged() {
            tracing::trace!(
                target: CALL_TARGET,
                transport = %"grpc",
                rpc = %method.name(),
                "request metadata: {}",
                redacted_headers(&headers)
            );
        }
        let mut request = tonic::Request::new(message);
        *request.metadata_mut() = MetadataMap::from_headers(headers);
        if let Some(t) = options.timeout() {
            request.set_timeout(t);
        }
        Ok(request)
    }
}

/// Runs one call with the local deadline, logs it, marks metadata from a server other than
/// eeops' unverified, and maps its error.
async fn run<T, F>(method: OperationsMethod, options: &CallOptions, call: F) -> Result<T>
where
    T: HasMetadata,
    F: std::future::Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
{
    let started = std::time::Instant::now();
    let result = match options.timeout() {
        Some(t) => match tokio::time::timeout(t, call).await {
            Ok(r) => r.map_err(|s| grpc_error(method, s)),
            Err(_) => Err(Error::timeout(format!(
                "{} got no answer within {t:?}",
                method.name()
            ))),
        },
        None => call.await.map_err(|s| grpc_error(method, s)),
    };
    let latency = started.elapsed();
    let log = |status: &dyn std::fmt::Display, error: Option<&Error>| {
        tracing::debug!(
            target: CALL_TARGET,
            transport = %"grpc",
            rpc = %method.name(),
            path = %method.grpc_path(),
            status = %status,
            error = error.map(tracing::field::display),
            ?latency,
            attempt = options.attempt(),
        );
    };
    match result {
        Ok(response) => {
            log(&"OK", None);
            if headers_logged() {
                tracing::trace!(
                    target: CALL_TARGET,
                    transport = %"grpc",
                    rpc = %method.name(),
                    "response metadata: {}",
                    redacted_headers(&response.metadata().clone().into_headers())
                );
            }
            let eeops_server = response.metadata().contains_key(EEOPS_SERVER_HEADER);
            let mut message = response.into_inner();
            if !eeops_server {
                message.mark_unverified();
            }
            Ok(message)
        }
        Err(e) => {
            match e.code() {
                Some(code) => log(&code.as_str_name(), None),
                None => log(&"no response", Some(&e)),
            }
            Err(e)
        }
    }
}

/// A response that may hold Earth Engine metadata, to be marked unverified when it does not
/// come from eeops' own server.
trait HasMetadata {
    fn mark_unverified(&mut self);
}

impl HasMetadata for Operation {
    fn mark_unverified(&mut self) {
        if let Some(any) = &mut self.metadata {
            mark_unverified(any);
        }
    }
}

impl HasMetadata for ListOperationsResponse {
    fn mark_unverified(&mut self) {
        for op in &mut self.operations {
            op.mark_unverified();
        }
    }
}

impl HasMetadata for () {
    fn mark_unverified(&mut self) {}
}

/// A status tonic made up from a local failure carries that failure as its source; one the
/// server sent has none.
fn grpc_error(method: OperationsMethod, status: tonic::Status) -> Error {
    let Some(source) = status.source() else {
        return Error::from(status);
    };
    // tonic's own Display of such a status is a debug dump: keep the causes' texts instead.
    let mut causes: Vec<String> = Vec::new();
    let mut next = Some(source);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !causes.iter().any(|c| c.contains(&text)) {
            causes.push(text);
        }
        next = e.source();
    }
    let causes = causes.join(": ");
    match status.code() {
        tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => Error::timeout(format!(
            "{} got no answer in time ({causes})",
            method.name()
        )),
        _ => Error::transport(format!("{} failed", method.name()), causes),
    }
}

/// A request whose `name` routes it (`x-goog-request-params`).
trait Routed {
    fn routing_name(&self) -> &str;
}

macro_rules! routed_by_name {
    ($($t:ty),*) => {
        $(impl Routed for $t {
            fn routing_name(&self) -> &str {
                &self.name
            }
        })*
    };
}

routed_by_name!(
    ListOperationsRequest,
    GetOperationRequest,
    DeleteOperationRequest,
    CancelOperationRequest,
    WaitOperationRequest
);

// Each method: headers from the request, then the call on a clone of the (cheap, shared)
// tonic client, under the local deadline.
impl Operations for GrpcTransport {
    async fn list_operations(
        &self,
        request: ListOperationsRequest,
        options: CallOptions,
    ) -> Result<ListOperationsResponse> {
        let req = self
            .request(OperationsMethod::ListOperations, request, &options)
            .await?;
        run(
            OperationsMethod::ListOperations,
            &options,
            self.client.clone().list_operations(req),
        )
        .await
    }

    async fn get_operation(
        &self,
        request: GetOperationRequest,
        options: CallOptions,
    ) -> Result<Operation> {
        let req = self
            .request(OperationsMethod::GetOperation, request, &options)
            .await?;
        run(
            OperationsMethod::GetOperation,
            &options,
            self.client.clone().get_operation(req),
        )
        .await
    }

    async fn delete_operation(
        &self,
        request: DeleteOperationRequest,
        options: CallOptions,
    ) -> Result<()> {
        let req = self
            .request(OperationsMethod::DeleteOperation, request, &options)
            .await?;
        run(
            OperationsMethod::DeleteOperation,
            &options,
            self.client.clone().delete_operation(req),
        )
        .await
        .map(|_| ())
    }

    async fn cancel_operation(
        &self,
        request: CancelOperationRequest,
        options: CallOptions,
    ) -> Result<()> {
        let req = self
            .request(OperationsMethod::CancelOperation, request, &options)
            .await?;
        run(
            OperationsMethod::CancelOperation,
            &options,
            self.client.clone().cancel_operation(req),
        )
        .await
        .map(|_| ())
    }

    async fn wait_operation(
        &self,
        request: WaitOperationRequest,
        options: CallOptions,
    ) -> Result<Operation> {
        let req = self
            .request(OperationsMethod::WaitOperation, request, &options)
            .await?;
        run(
            OperationsMethod::WaitOperation,
            &options,
            self.client.clone().wait_operation(req),
        )
        .await
    }
}
