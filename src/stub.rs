//! The transport-agnostic client trait, generated from the `google.longrunning.Operations`
//! service, and the per-call options every transport takes.
//!
//! [`Operations`] has one async method per RPC; [`dynamic::Operations`] is its object-safe
//! mirror, implemented for every `T: Operations`, so a client can hold `Arc<dyn
//! dynamic::Operations>`. eeops' REST and gRPC transports implement it, and so can a test stub.
//!
//! ```
//! use eeops::pb::google::longrunning::{GetOperationRequest, Operation};
//! use eeops::stub::{CallOptions, Operations};
//!
//! /// A stub that knows one operation.
//! #[derive(Debug)]
//! struct OneOp;
//!
//! impl Operations for OneOp {
//!     async fn get_operation(&self, req: GetOperationRequest, _: CallOptions) -> eeops::Result<Operation> {
//!         Ok(Operation { name: req.name, done: true, ..Default::default() })
//!     }
//! }
//!
//! # tokio_test(async {
//! let op = OneOp.get_operation(
//!     GetOperationRequest { name: "projects/p/operations/A".into() },
//!     CallOptions::default(),
//! ).await.unwrap();
//! assert!(op.done);
//! // Methods the stub does not implement answer UNIMPLEMENTED.
//! let err = OneOp.cancel_operation(Default::default(), CallOptions::default()).await.unwrap_err();
//! assert!(err.is_unimplemented());
//! # });
//! # fn tokio_test(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

use std::time::Duration;

pub use crate::pb::google::longrunning::operations_stub::{Operations, OperationsMethod, dynamic};

/// Options for one call through a transport: the deadline of this attempt and extra headers.
///
/// ```
/// use std::time::Duration;
/// let opts = eeops::stub::CallOptions::default()
///     .with_timeout(Duration::from_secs(5))
///     .with_header("x-goog-request-reason", "cleanup");
/// assert_eq!(opts.timeout(), Some(Duration::from_secs(5)));
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CallOptions {
    timeout: Option<Duration>,
    headers: Vec<(String, String)>,
    /// The attempt's number (1-based; 0 when not set by a retry loop), for logs.
    attempt: u32,
}

impl CallOptions {
    /// The deadline of one attempt (the transport aborts the request after it).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Adds a header (REST) or metadata entry (gRPC) to the request.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The per-attempt deadline, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The extra headers.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    #[cfg(feature = "client")]
    pub(crate) fn with_attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// The attempt's number (1-based) when the call comes from a `Client`'s
    /// retry loop; 0 otherwise.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}
