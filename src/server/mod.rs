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
use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceExt as _;

use crate::pb::google::longrunning::operations_server::{Operations, OperationsServer};

mod batch;
mod discovery;
pub mod emulator;
pub(crate) mod rest;

pub use batch::{BATCH_PATH, MAX_BATCH_BODY_BYTES, MAX_BATCH_PART_BYTES, MAX_BATCH_PARTS};
pub use rest::{MAX_BODY_BYTES, TOLERATED_PARAMS};

/// How long [`ServerHandle::shutdown`] lets in-flight requests finish before dropping them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running server: its bound address, and the means to stop it.
///
/// Dropping the handle does not stop the server (it runs until its runtime shuts down); call
/// [`shutdown`](Self::shutdown) to stop it.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl ServerHandle {
    /// The address the listener is bound to (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections, lets in-flight requests finish (at most
    /// [`SHUTDOWN_GRACE`]), then returns.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!("server ended with an error: {e}"),
            Ok(Err(e)) => tracing::warn!("server task failed: {e}"),
            Err(_) => {
                tracing::warn!("requests still running after {SHUTDOWN_GRACE:?}; dropping them");
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

/// Binds `addr` and serves `service` over gRPC and REST on it (see the [module docs](self)).
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
    let listener = TcpListener::bind(addr).await?;
    serve_listener(service, listener).await
}

/// Serves `service` over gRPC and REST on an already bound listener.
pub async fn serve_listener<S>(service: S, listener: TcpListener) -> std::io::Result<ServerHandle>
where
    S: Operations,
{
    let addr = listener.local_addr()?;
    let app = router(service);
    let (stop, stopped) = oneshot::channel::<()>();
    let listener = listener.tap_io(|tcp| {
        // Small request/response exchanges: do not let Nagle hold them back.
        let _ = tcp.set_nodelay(true);
    });
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    Ok(ServerHandle {
        addr,
        stop: Some(stop),
        task,
    })
}

/// The whole application (gRPC, reflection, REST, discovery) as an [`axum::Router`], for
/// `oneshot` tests or for serving with a server of one's own.
///
/// Requests whose `content-type` starts with `application/grpc` go to the gRPC services (an
/// unknown gRPC method answers `UNIMPLEMENTED`); requests for [`BATCH_PATH`] go to the batch
/// endpoint, which runs each of its parts through the REST side; all others are REST.
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
    let service = Arc::new(service);
    let grpc = grpc_router(Arc::clone(&service));
    let rest = rest::RestService::new(service);
    axum::Router::new().fallback(move |req: Request| {
        let grpc = grpc.clone();
        let rest = rest.clone();
        async move {
            if is_grpc(&req) {
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
            } else if batch::is_batch(&req) {
                batch::handle(&rest, req).await
            } else {
                rest.handle(req).await
            }
        }
    })
}

fn is_grpc(req: &Request) -> bool {
    req.headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"))
}

/// The gRPC side: the Operations service and both reflection services.
fn grpc_router<S: Operations>(service: Arc<S>) -> axum::Router {
    let mut routes = tonic::service::Routes::new(OperationsServer::from_arc(service));
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::pb::FILE_DESCRIPTOR_SET)
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
