//! The client: cancel, get, list, delete and wait for operations, over REST or gRPC.
//!
//! [`Client`] is a facade over any implementation of [`crate::stub::Operations`]: eeops' REST
//! transport ([`rest::RestTransport`]), its gRPC transport ([`grpc::GrpcTransport`]), or your
//! own ([`Client::from_stub`]). It validates names before anything is sent, retries what is
//! safe to retry ([`RetryPolicy`]), follows pages, waits (with WaitOperation when the server
//! has it, by polling otherwise), and confirms cancels.
//!
//! Cancel an operation on Earth Engine, with application default credentials:
//!
//! ```no_run
//! # async fn demo() -> eeops::Result<()> {
//! let client = eeops::Client::builder().build().await?;
//! client.cancel("projects/my-project/operations/ABCDEF1234567890ABCDEFGH").await?;
//! # Ok(()) }
//! ```
//!
//! The same against eeops' emulator, served on a local port (this example runs):
//!
//! ```
//! # #[cfg(not(feature = "server"))] fn main() {}
//! # #[cfg(feature = "server")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use eeops::client::{CancelOutcome, Client};
//! use eeops::server::emulator::{Emulator, EmulatorConfig, TaskSpec};
//!
//! let emulator = Emulator::new(EmulatorConfig::default());
//! let server = eeops::server::serve(emulator.clone(), "127.0.0.1:0".parse()?).await?;
//! let name = emulator.start_task("my-project", TaskSpec::default());
//!
//! let client = Client::builder()
//!     .endpoint(format!("http://{}", server.local_addr()))
//!     .build()
//!     .await?;
//! client.cancel(&name).await?;
//! let outcome = client.cancel_and_confirm(&name, std::time::Duration::from_secs(10)).await?;
//! assert!(matches!(outcome, CancelOutcome::Cancelled(_)));
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Switching to gRPC is one builder call:
//!
//! ```no_run
//! # async fn demo() -> eeops::Result<()> {
//! use eeops::client::{Client, Transport};
//!
//! let client = Client::builder()
//!     .transport(Transport::Grpc)
//!     .quota_project("my-project")
//!     .build()
//!     .await?;
//! let op = client.get("projects/my-project/operations/ABCDEF1234567890ABCDEFGH").await?;
//! println!("done: {}", op.done);
//! # Ok(()) }
//! ```
pub mod auth;
mod backoff;
mod batch;
mod builder;
pub mod bulk;
mod common;
mod facade;
pub mod grpc;
pub mod metadata;
mod options;
pub mod rest;
pub mod retry;
mod watch;

pub use auth::{CLOUD_PLATFORM_SCOPE, CredentialSource, EARTHENGINE_SCOPE};
pub use builder::{ClientBuilder, DEFAULT_ENDPOINT, EMULATOR_HOST_ENV};
pub use bulk::{Bulk, BulkOptions, BulkProgress};
pub use facade::{BoxStream, Client};
pub use google_cloud_auth::credentials::Credentials;
pub use metadata::{OperationExt, Outcome, RawValue};
pub use options::{ListOptions, Transport, WaitOptions};
pub use retry::{DefaultRetryDecider, RetryDecider, RetryPolicy};
pub use watch::CancelOutcome;
