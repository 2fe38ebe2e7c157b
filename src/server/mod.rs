//! Serving any implementation of the `google.longrunning.Operations` service over gRPC and
//! transcoded REST on one port, and the Earth Engine [`emulator`] built on it.
//!
//! One TCP listener answers both protocols:
//!
//! * **gRPC** (HTTP/2, `content-type: application/grpc...`): the tonic service generated from
//!   the proto, plus gRPC server reflection (`grpc.reflection.v1` and `v1alpha`, so grpcurl
//!   can list services and print Earth Engine metadata). Every gRPC response carries
//!   [`crate::pb::EEOPS_SERVER_HEADER`], by which eeops' client knows that the binary
//!   metadata uses eeops' field numbers.
//! * **REST** (HTTP/1.1, or HTTP/2 with prior knowledge): every other request is routed by the
//!   generated binding table [`crate::pb::HTTP_BINDINGS`] (the Earth Engine bindings for `v1`,
//!   `v1beta` and `v1alpha`, and the proto's generic `/v1/{name=operations/**}` ones) through
//!   [`crate::transcode::Router`], decoded with [`crate::transcode::decode_request`], handed to
//!   the *same* service implementation, and answered in proto3 JSON. Errors have Google's
//!   JSON error shape (`{"error": {"code", "message", "status", "details"}}`) and the HTTP
//!   status of their code.
//! * `GET /$discovery/rest?version={v1,v1beta,v1alpha}` answers a discovery document for the
//!   `projects.operations` methods, so Google's discovery-based clients (earthengine-api) can be
//!   pointed at the server.
//! * `POST /batch` is Google's HTTP batch endpoint (the document's `"batchPath": "batch"`; the
//!   Earth Engine JavaScript client sends `ee.data.getOperation([...])` and
//!   `ee.data.cancelOperation([...])` there): a `multipart/mixed` body of `application/http`
//!   parts, each an embedded REST request answered by the same REST handler, the answers
//!   coming back as one `multipart/mixed` reply with `Content-ID: <response-ID>` parts. Outer
//!   headers (`authorization` among them) apply to parts that do not set them; at most
//!   [`MAX_BATCH_PARTS`] parts, [`MAX_BATCH_PART_BYTES`] per part and [`MAX_BATCH_BODY_BYTES`]
//!   in all; a nested batch is refused. Details in the `batch` module's source.
//!
//! How connections are treated (header, body and idle timeouts, HTTP/2 pings and streams, the
//! connection cap, the shutdown drain, TLS, and a [`RequestHook`] that sees every gRPC and
//! REST call) is set with a [`ServerConfig`] given to [`serve_with`]; its documentation lists
//! the defaults that [`serve`] uses.
//!
//! ```
//! use eeops::server::{self, emulator::{Emulator, EmulatorConfig}};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let emulator = Emulator::new(EmulatorConfig::default());
//! let handle = server::serve(emulator.clone(), "127.0.0.1:0".parse().unwrap()).await?;
//! println!("gRPC and REST on http://{}", handle.local_addr());
//! handle.shutdown().await;
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::response::{IntoResponse as _, Response};
use http::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceExt as _;

use crate::pb::google::longrunning::operations_rest::OperationsRest;
use crate::pb::google::longrunning::operations_server::Operations;

mod accept;
mod batch;
mod config;
mod discovery;
pub mod emulator;
pub(crate) mod rest;

pub use batch::{BATCH_PATH, MAX_BATCH_BODY_BYTES, MAX_BATCH_PART_BYTES, MAX_BATCH_PARTS};
pub use config::{CallInfo, CallTransport, MAX_TIMEOUT, RequestHook, ServerConfig, TlsConfig};
pub use rest::{MAX_BODY_BYTES, RestCall, RestDispatch, RestError, RestResponse, TOLERATED_PARAMS};

/// A running server: its bound address, and the means to stop it.
///
/// Dropping the handle does not stop the server (it runs until its runtime shuts down); call
/// [`shutdown`](Self::shutdown) to stop it.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    tls: bool,
    grace: Duration,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl ServerHandle {
    /// The address the listener is bound to (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's base URL: `http://ADDR`, or `https://ADDR` when it serves TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops accepting connections, lets in-flight requests finish (at most the
    /// configuration's [`shutdown_grace`](ServerConfig::shutdown_grace)), then returns.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // The server task drops what is left after the grace period; this bound only guards
        // against that task itself hanging.
        let bound = config::clamp(self.grace) + Duration::from_secs(1);
        match tokio::time::timeout(bound, &mut self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!("server ended with an error: {e}"),
            Ok(Err(e)) => tracing::warn!("server task failed: {e}"),
            Err(_) => {
                tracing::warn!("server still running after {bound:?}; dropping it");
                self.task.abort();
            }
        }
    }

    /// Waits until the server stops by itself (it only does on an accept-loop failure), or
    /// forever.
    pub async fn wait(mut self) -> std::io::Result<()> {
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

/// Binds `addr` and serves `service` over gRPC and REST on it (see the [module docs](self)),
/// with the default [`ServerConfig`].
///
/// ```
/// # use eeops::server::emulator::{Emulator, EmulatorConfig};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let handle = eeops::server::serve(Emulator::default(), "127.0.0.1:0".parse().unwrap()).await?;
/// assert_ne!(handle.local_addr().port(), 0);
/// handle.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub async fn serve<S>(service: S, addr: SocketAddr) -> std::io::Result<ServerHandle>
where
    S: Operations,
{
    serve_with(service, addr, ServerConfig::default()).await
}

/// Serves `service` over gRPC and REST on an already bound listener, with the default
/// [`ServerConfig`].
pub async fn serve_listener<S>(service: S, listener: TcpListener) -> std::io::Result<ServerHandle>
where
    S: Operations,
{
    serve_listener_with(service, listener, ServerConfig::default()).await
}

/// Binds `addr` and serves `service` over gRPC and REST on it, as `config` says (timeouts,
/// connection cap, TLS, request hook).
///
/// ```
/// use std::time::Duration;
/// use eeops::server::{ServerConfig, emulator::Emulator};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let config = ServerConfig::default().with_idle_timeout(Duration::from_secs(30));
/// let handle = eeops::server::serve_with(Emulator::default(), "127.0.0.1:0".parse().unwrap(), config).await?;
/// assert!(handle.url().starts_with("http://127.0.0.1:"));
/// handle.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub async fn serve_with<S>(
    service: S,
    addr: SocketAddr,
    config: ServerConfig,
) -> std::io::Result<ServerHandle>
where
    S: Operations,
{
    let listener = TcpListener::bind(addr).await?;
    serve_listener_with(service, listener, config).await
}

/// Serves `service` over gRPC and REST on an already bound listener, as `config` says.
pub async fn serve_listener_with<S>(
    service: S,
    listener: TcpListener,
    config: ServerConfig,
) -> std::io::Result<ServerHandle>
where
    S: Operations,
{
    Server::builder()
        .add_service(OperationsRest::new(service))
        .config(config)
        .serve_listener(listener)
        .await
}

/// The server for any services generated by `eeops-build` (Operations among them, or not):
/// each is served over gRPC and REST on one port, with gRPC reflection, the discovery document
/// and the batch endpoint as for [`serve`].
///
/// ```
/// use eeops::pb::google::longrunning::operations_rest::OperationsRest;
/// use eeops::server::{Server, ServerConfig, emulator::Emulator};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let handle = Server::builder()
///     .add_service(OperationsRest::new(Emulator::default()))
///     .config(ServerConfig::default())
///     .serve("127.0.0.1:0".parse().unwrap())
///     .await?;
/// assert_ne!(handle.local_addr().port(), 0);
/// handle.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Default)]
pub struct Server {
    services: Vec<Arc<dyn RestDispatch>>,
    config: ServerConfig,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self
            .services
            .iter()
            .map(|s| s.service().full_name())
            .collect();
        f.debug_struct("Server")
            .field("services", &names)
            .field("config", &self.config)
            .finish()
    }
}

impl Server {
    /// A server with no services yet and the default [`ServerConfig`].
    pub fn builder() -> Self {
        Self::default()
    }

    /// Adds a service (a generated `<Service>Rest<T>`).
    pub fn add_service(mut self, service: impl RestDispatch) -> Self {
        self.services.push(Arc::new(service));
        self
    }

    /// Sets the configuration (timeouts, connection cap, TLS, request hook).
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// The whole application as an [`axum::Router`] (see [`router`]).
    pub fn router(&self) -> axum::Router {
        app(self.services.clone(), self.config.request_hook.clone())
    }

    /// Binds `addr` and serves.
    pub async fn serve(self, addr: SocketAddr) -> std::io::Result<ServerHandle> {
        let listener = TcpListener::bind(addr).await?;
        self.serve_listener(listener).await
    }

    /// Serves on an already bound listener.
    pub async fn serve_listener(self, listener: TcpListener) -> std::io::Result<ServerHandle> {
        let app = self.router();
        let config = self.config;
        serve_app(app, listener, config)
    }
}

fn serve_app(
    app: axum::Router,
    listener: TcpListener,
    config: ServerConfig,
) -> std::io::Result<ServerHandle> {
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let tls = config.tls.is_some();
    let grace = config.shutdown_grace;
    let task = tokio::spawn(accept::run(listener, app, config, stopped));
    Ok(ServerHandle {
        addr,
        tls,
        grace,
        stop: Some(stop),
        task,
    })
}

/// The whole application (gRPC, reflection, REST, discovery) as an [`axum::Router`], for
/// `oneshot` tests or for serving with a server of one's own.
///
/// Requests whose `content-type` is `application/grpc` or `application/grpc+proto` (any
/// case, parameters allowed) go to the gRPC services (an unknown gRPC method answers
/// `UNIMPLEMENTED`); other `application/grpc...` types (gRPC-Web, `+json`) are not served and
/// answer HTTP 415; all others are REST.
/// Requests for [`BATCH_PATH`] go to the batch endpoint, which runs each of its parts through
/// the REST side.
///
/// ```
/// use axum::body::Body;
/// use http::Request;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = eeops::server::router(eeops::server::emulator::Emulator::default());
/// let resp = app
///     .oneshot(Request::get("/v1/projects/p/operations/NOPE").body(Body::empty()).unwrap())
///     .await
///     .unwrap();
/// assert_eq!(resp.status(), 404);
/// # }
/// ```
pub fn router<S>(service: S) -> axum::Router
where
    S: Operations,
{
    router_with(service, None)
}

/// [`router`], with a [`RequestHook`] called before every gRPC and REST request.
pub fn router_with<S>(service: S, hook: Option<RequestHook>) -> axum::Router
where
    S: Operations,
{
    app(vec![Arc::new(OperationsRest::new(service))], hook)
}

/// gRPC, reflection, REST, discovery and batch over `services`.
fn app(services: Vec<Arc<dyn RestDispatch>>, hook: Option<RequestHook>) -> axum::Router {
    let grpc = grpc_router(&services);
    let rest = rest::RestService::new(services).with_hook(hook.clone());
    axum::Router::new().fallback(move |req: Request| {
        let grpc = grpc.clone();
        let rest = rest.clone();
        let hook = hook.clone();
        async move {
            match content_kind(&req) {
                ContentKind::Grpc => {
                    if let Some(hook) = &hook
                        && let Err(status) = call_grpc_hook(hook, &req)
                    {
                        return status.into_http::<axum::body::Body>();
                    }
                    let mut resp = match grpc.oneshot(req).await {
                        Ok(resp) => resp,
                        Err(never) => match never {},
                    };
                    // Says the binary metadata is encoded with eeops' own proto (see
                    // `pb::EEOPS_SERVER_HEADER`).
                    resp.headers_mut().insert(
                        crate::pb::EEOPS_SERVER_HEADER,
                        http::HeaderValue::from_static(env!("CARGO_PKG_VERSION")),
                    );
                    resp
                }
                ContentKind::UnservedGrpc(ct) => unserved_grpc(&ct),
                ContentKind::Other if batch::is_batch(&req) => batch::handle(&rest, req).await,
                ContentKind::Other => rest.handle(req).await,
            }
        }
    })
}

fn call_grpc_hook(hook: &RequestHook, req: &Request) -> Result<(), tonic::Status> {
    let path = req.uri().path();
    let info = CallInfo {
        transport: CallTransport::Grpc,
        method: Some(path.strip_prefix('/').unwrap_or(path)),
        path,
        headers: req.headers(),
        remote_addr: req.extensions().get::<config::RemoteAddr>().map(|a| a.0),
    };
    hook(&info)
}

enum ContentKind {
    Grpc,
    UnservedGrpc(String),
    Other,
}

/// Sorts a request by its media type: native gRPC, another gRPC flavour, or REST.
fn content_kind(req: &Request) -> ContentKind {
    let Some(ct) = req.headers().get(http::header::CONTENT_TYPE) else {
        return ContentKind::Other;
    };
    let Ok(ct) = ct.to_str() else {
        return ContentKind::Other;
    };
    let essence = ct.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/grpc")
        || essence.eq_ignore_ascii_case("application/grpc+proto")
    {
        ContentKind::Grpc
    } else if essence.len() >= 16
        && essence.as_bytes()[..16].eq_ignore_ascii_case(b"application/grpc")
    {
        ContentKind::UnservedGrpc(essence.to_owned())
    } else {
        ContentKind::Other
    }
}

/// HTTP 415 for gRPC-Web and other gRPC flavours, as a plain JSON error both kinds of
/// client can show.
fn unserved_grpc(essence: &str) -> Response {
    let message = format!(
        "content-type `{essence}` is not served: use native gRPC (application/grpc or application/grpc+proto) over HTTP/2, or REST with JSON"
    );
    let body = serde_json::json!({
        "error": {"code": 415, "message": message, "status": "INVALID_ARGUMENT"}
    });
    (
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        [(
            http::header::CONTENT_TYPE,
            "application/json; charset=UTF-8",
        )],
        format!("{body}\n"),
    )
        .into_response()
}

/// The gRPC side: the services and both reflection services.
fn grpc_router(services: &[Arc<dyn RestDispatch>]) -> axum::Router {
    let mut routes = tonic::service::Routes::default();
    for service in services {
        routes = service.add_grpc(routes);
    }
    // eeops' own descriptors, then each service's (once per set).
    let mut sets: Vec<&'static [u8]> = vec![crate::pb::FILE_DESCRIPTOR_SET];
    for service in services {
        let set = service.service().file_descriptor_set();
        if !sets.iter().any(|s| std::ptr::eq(*s, set) || *s == set) {
            sets.push(set);
        }
    }
    let reflection = || {
        sets.iter().fold(
            tonic_reflection::server::Builder::configure(),
            |builder, set| builder.register_encoded_file_descriptor_set(set),
        )
    };
    match reflection().build_v1() {
        Ok(svc) => routes = routes.add_service(svc),
        Err(e) => tracing::warn!("gRPC reflection v1 unavailable: {e}"),
    }
    match reflection().build_v1alpha() {
        Ok(svc) => routes = routes.add_service(svc),
        Err(e) => tracing::warn!("gRPC reflection v1alpha unavailable: {e}"),
    }
    routes.prepare().into_axum_router()
}
