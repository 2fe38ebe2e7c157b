//! Serving the Library on one port with eeops' server: gRPC, gRPC server reflection (v1 and
//! v1alpha, from the Library's descriptor set with its `google.api.http` rules), and REST (gRPC
//! transcoding by the Library's bindings), all through the generated
//! [`LibraryServiceRest`](super::pb::v1::library_service_rest::LibraryServiceRest).

use eeops::server::Server;
use tokio::net::TcpListener;

use super::pb::v1::library_service_rest::LibraryServiceRest;
use super::pb::v1::library_service_server::LibraryService;

/// A running server: its address (`local_addr`, `url`), and `shutdown`.
pub type Served = eeops::server::ServerHandle;

/// eeops' server with the Library on it (add more services, or a configuration, before
/// serving).
pub fn server<S: LibraryService>(service: S) -> Server {
    Server::builder().add_service(LibraryServiceRest::new(service))
}

/// Serves `service` (gRPC, reflection and REST) on `listener`, in the background.
pub async fn serve<S: LibraryService>(
    service: S,
    listener: TcpListener,
) -> std::io::Result<Served> {
    server(service).serve_listener(listener).await
}
