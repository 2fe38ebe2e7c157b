//! One conformance suite (object_store style) for the services eeops' generator serves: each
//! scenario is a function taking a client handle, and runs against every client of the service
//! on a real server on `127.0.0.1:0` (a fresh one for each scenario and client).
//!
//! * [`library`]: Google's Library example API (`examples/library`), every RPC through five
//!   clients: the generated trait on eeops' REST and gRPC transports, the example's `call`
//!   path on both, and the tonic client generated for it.
//! * [`notes`]: the feature test service `gentest.v1.Notes`
//!   (`tests/protos/generated_service.proto`: `response_body`, an RPC answering eeops' own
//!   `Operation` through `extern_path`, every kind of query parameter, a custom HTTP method
//!   kind, an RPC found nowhere else), every RPC through the generated trait on eeops' REST and
//!   gRPC transports.
//!
//! Both servers are the generated `<Service>Rest` on `eeops::server::Server`, and every client
//! goes over the socket. The [`conformance!`] macro writes the runs: a module per client, a
//! `#[tokio::test]` per scenario in each (`library::generated_rest::move_book`,
//! `notes::grpc::echo`, ...). In each service's `scenarios_reach_every_rpc`, the server records
//! the RPC of every request that reaches it while each client runs all the scenarios, and the
//! record must be the service's whole method table: an RPC added to a proto and left out of the
//! scenarios fails the suite.
#![cfg(all(feature = "client", feature = "server"))]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use eeops::Error;
use eeops::client::grpc::GrpcTransport;
use eeops::client::rest::RestTransport;
use eeops::pb::google::rpc::Code;
use eeops::server::ServerConfig;

/// The runs: for every adapter a module of that name, holding a `#[tokio::test]` for every
/// scenario, which starts a server with `start`, connects the adapter's client (`url` is the
/// server's URL) and runs the scenario with it; and `every_scenario`, which runs them all in
/// turn with that client, each on a fresh server from the `start` it is given.
macro_rules! conformance {
    (
        start: $start:path,
        adapters: { $($adapter:ident: |$url:ident| $connect:expr),+ $(,)? },
        scenarios: $scenarios:tt $(,)?
    ) => {
        $( conformance!(@adapter $start, $adapter, $url, $connect, $scenarios); )+
    };
    (@adapter $start:path, $adapter:ident, $url:ident, $connect:expr,
        [$($scenario:ident),+ $(,)?]) => {
        mod $adapter {
            use super::*;
            $(
                #[tokio::test]
                async fn $scenario() {
                    conformance!(@run $start().await, $url, $connect, $scenario);
                }
            )+

            /// Every scenario in turn, each on a fresh server from `start`.
            #[allow(dead_code)]
            pub(super) async fn every_scenario<F>(start: impl Fn() -> F)
            where
                F: std::future::Future<Output = eeops::server::ServerHandle>,
            {
                $( conformance!(@run start().await, $url, $connect, $scenario); )+
            }
        }
    };
    (@run $server:expr, $url:ident, $connect:expr, $scenario:ident) => {{
        let server = $server;
        let $url = server.url();
        let client = $connect;
        super::$scenario(&client).await;
        server.shutdown().await;
    }};
}

mod library;
mod notes;

/// eeops' REST transport to `url`.
async fn rest_transport(url: &str) -> RestTransport {
    eeops::Client::builder()
        .endpoint(url)
        .build_rest_transport()
        .await
        .unwrap()
}

/// eeops' gRPC transport to `url`.
async fn grpc_transport(url: &str) -> GrpcTransport {
    eeops::Client::builder()
        .endpoint(url)
        .build_grpc_transport()
        .await
        .unwrap()
}

/// A call that failed with `code`, its message containing `needle`.
#[track_caller]
fn assert_code<T: std::fmt::Debug>(result: Result<T, Error>, code: Code, needle: &str) {
    let err = result.expect_err("the call should have failed");
    assert_eq!(err.code(), Some(code), "{err}");
    assert!(err.message().contains(needle), "`{needle}` not in: {err}");
}

/// A request refused for a bad argument: by the server (`INVALID_ARGUMENT`) or, for a path
/// field over REST, before sending.
#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(result: Result<T, Error>, needle: &str) {
    let err = result.expect_err("the call should have been refused");
    assert!(
        err.code() == Some(Code::InvalidArgument) || err.is_invalid_request(),
        "not refused as invalid: {err}"
    );
    assert!(err.to_string().contains(needle), "`{needle}` not in: {err}");
}

/// What the server saw: the RPC (`package.Service/Method`) of every request that reached it.
#[derive(Clone, Default)]
struct Reached(Arc<Mutex<BTreeSet<String>>>);

impl Reached {
    /// A server configuration whose request hook records into `self`.
    fn config(&self) -> ServerConfig {
        let reached = self.clone();
        ServerConfig::default().with_request_hook(move |call| {
            if let Some(method) = call.method() {
                reached.0.lock().unwrap().insert(method.to_owned());
            }
            Ok(())
        })
    }

    /// Empties the record, and asserts that it named exactly the RPCs of `grpc_paths`
    /// (`/package.Service/Method`, as a method table gives them).
    #[track_caller]
    fn assert_every_rpc<'a>(&self, grpc_paths: impl IntoIterator<Item = &'a str>, run: &str) {
        let reached = std::mem::take(&mut *self.0.lock().unwrap());
        let every: BTreeSet<String> = grpc_paths
            .into_iter()
            .map(|p| p.trim_start_matches('/').to_owned())
            .collect();
        assert_eq!(reached, every, "{run}: the RPCs its scenarios reach");
    }
}
