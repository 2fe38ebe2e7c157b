//! Serving the Library on one port: the tonic service, gRPC server reflection (v1 and
//! v1alpha), and REST (gRPC transcoding over [`super::pb::HTTP_BINDINGS`]).
//!
//! [`app`] builds the whole application as one `axum::Router` (REST is its fallback, so eeops'
//! generated REST server replaces one line there); [`serve`] runs it on a listener.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::pb::v1::library_service_server::{LibraryService, LibraryServiceServer};

/// The gRPC side: the Library service and both reflection services, from the Library's own
/// descriptor set.
pub fn grpc_router<S: LibraryService>(service: S) -> axum::Router {
    let mut routes = tonic::service::Routes::new(LibraryServiceServer::new(service));
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(super::pb::FILE_DESCRIPTOR_SET)
    };
    match reflection().build_v1() {
        Ok(svc) => routes = routes.add_service(svc),
        Err(e) => eprintln!("warning: gRPC reflection v1 unavailable: {e}"),
    }
    match reflection().build_v1alpha() {
        Ok(svc) => routes = routes.add_service(svc),
        Err(e) => eprintln!("warning: gRPC reflection v1alpha unavailable: {e}"),
    }
    routes.prepare().into_axum_router()
}

/// The whole application on one port: gRPC (and reflection) by content type, everything else
/// REST through [`super::rest`] (interim, until eeops' generator produces the REST server; then
/// this is where the generated one goes). A gRPC call of an unknown method gets
/// `UNIMPLEMENTED`.
pub fn app<S: LibraryService>(service: S) -> axum::Router {
    let grpc = grpc_router(service);
    let rest = super::rest::Rest::new(grpc.clone());
    grpc.fallback(move |req: axum::extract::Request| {
        let rest = rest.clone();
        async move {
            use axum::response::IntoResponse as _;
            let is_grpc = req
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/grpc"));
            if is_grpc {
                let path = req.uri().path().to_owned();
                return tonic::Status::unimplemented(format!("no gRPC method at `{path}`"))
                    .into_http()
                    .map(|_: tonic::body::Body| axum::body::Body::empty());
            }
            match rest {
                Ok(rest) => rest.handle(req).await,
                Err(e) => (http::StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
            }
        }
    })
}

/// A running server: its address, and a way to stop it.
pub struct Served {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Served {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets calls in flight finish, and waits for the server to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Waits until the server ends (it ends only on an I/O error, or after `shutdown`).
    pub async fn wait(mut self) -> std::io::Result<()> {
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

/// Serves `service` (gRPC, reflection and REST) on `listener`, in the background.
pub fn serve<S: LibraryService>(service: S, listener: TcpListener) -> std::io::Result<Served> {
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let app = app(service);
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    Ok(Served {
        addr,
        stop: Some(stop),
        task,
    })
}
