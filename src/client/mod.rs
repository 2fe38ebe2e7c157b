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
mod batch;
pub mod bulk;
mod common;
pub mod grpc;
pub mod metadata;
pub mod rest;
pub mod retry;

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use futures::stream::{self, Stream, StreamExt as _, TryStreamExt as _};
use tokio::time::Instant;

pub use auth::{CLOUD_PLATFORM_SCOPE, CredentialSource, EARTHENGINE_SCOPE};
pub use bulk::{Bulk, BulkOptions, BulkProgress};
pub use google_cloud_auth::credentials::Credentials;
pub use metadata::{OperationExt, Outcome, RawValue};
pub use retry::{DefaultRetryDecider, RetryDecider, RetryPolicy};

use crate::name::{EXPECTED_FORM, OperationName};
use crate::pb::google::longrunning::{
    CancelOperationRequest, DeleteOperationRequest, GetOperationRequest, ListOperationsRequest,
    ListOperationsResponse, Operation, WaitOperationRequest,
};
use crate::stub::{OperationsMethod, dynamic};
use crate::{Error, Result};
use common::{Endpoint, RequestHeaders};
use retry::Retrier;

/// The endpoint used when none is set.
pub const DEFAULT_ENDPOINT: &str = "https://earthengine.googleapis.com";

/// The environment variable that points a client at an emulator (`host:port`).
pub const EMULATOR_HOST_ENV: &str = "EEOPS_EMULATOR_HOST";

/// The transport a [`Client`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Transport {
    /// JSON over HTTP, with gRPC transcoding (the default).
    #[default]
    Rest,
    /// gRPC over HTTP/2.
    Grpc,
}

impl std::str::FromStr for Transport {
    type Err = Error;

    /// `rest` or `grpc`, in any case.
    fn from_str(s: &str) -> Result<Transport> {
        match s.to_ascii_lowercase().as_str() {
            "rest" | "http" | "json" => Ok(Transport::Rest),
            "grpc" => Ok(Transport::Grpc),
            _ => Err(Error::config(format!(
                "unknown transport `{s}` (expected rest or grpc)"
            ))),
        }
    }
}

/// Configures and builds a [`Client`]. Setters never fail; [`build`](Self::build) reports
/// problems.
///
/// ```
/// use std::time::Duration;
/// use eeops::client::{Client, RetryPolicy, Transport};
///
/// let builder = Client::builder()
///     .endpoint("https://earthengine.googleapis.com")
///     .api_version("v1beta")
///     .transport(Transport::Rest)
///     .quota_project("billing-project")
///     .project("my-project")
///     .timeout(Duration::from_secs(20))
///     .retry_policy(RetryPolicy::default().with_max_attempts(3))
///     .user_agent("my-tool/1.2");
/// # let _ = builder;
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    endpoint: Option<String>,
    api_version: String,
    transport: Transport,
    credentials: Option<CredentialSource>,
    scopes: Option<Vec<String>>,
    quota_project: Option<String>,
    project: Option<String>,
    retry: RetryPolicy,
    decider: Option<Arc<dyn RetryDecider>>,
    user_agent: Option<String>,
    allow_insecure_http: bool,
    max_response_bytes: usize,
    connect_timeout: Duration,
    root_certificates: Vec<Vec<u8>>,
    problem: Option<String>,
    /// The variables [`from_env_with`](Self::from_env_with) saw that the credential search
    /// reads (`None`: the process's own, at build time).
    env: Option<Arc<HashMap<String, String>>>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("endpoint", &self.endpoint)
            .field("api_version", &self.api_version)
            .field("transport", &self.transport)
            .field("credentials", &self.credentials)
            .field("quota_project", &self.quota_project)
            .field("project", &self.project)
            .field("retry", &self.retry)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            endpoint: None,
            api_version: "v1".into(),
            transport: Transport::Rest,
            credentials: None,
            scopes: None,
            quota_project: None,
            project: None,
            retry: RetryPolicy::default(),
            decider: None,
            user_agent: None,
            allow_insecure_http: false,
            max_response_bytes: rest::DEFAULT_MAX_RESPONSE_BYTES,
            connect_timeout: Duration::from_secs(10),
            root_certificates: Vec::new(),
            problem: None,
            env: None,
        }
    }
}

impl ClientBuilder {
    /// A builder with the defaults: Earth Engine's endpoint, REST, API version `v1`, the
    /// first credentials found (see [`auth`]) with the Earth Engine scope.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder configured from the environment (see [`from_env_with`](Self::from_env_with)).
    pub fn from_env() -> Self {
        Self::from_env_with(|key| std::env::var(key).ok())
    }

    /// A builder configured from variables looked up with `var`:
    ///
    /// * `EEOPS_EMULATOR_HOST` (`host:port`, or a URL): everything goes to the emulator, in
    ///   plaintext, with anonymous credentials (plain HTTP is allowed even to a host that is
    ///   not loopback, since you named it as an emulator);
    /// * `EEOPS_TRANSPORT`: `rest` or `grpc`;
    /// * `EARTHENGINE_PROJECT`, else `GOOGLE_CLOUD_PROJECT`: the default project, for bare
    ///   task ids and for listing; without either, the `project` of the Earth Engine
    ///   credentials file (`$HOME/.config/earthengine/credentials`), else the project of
    ///   gcloud's active configuration (`CLOUDSDK_CORE_PROJECT`, else the `[core] project` of
    ///   `$CLOUDSDK_CONFIG` or `$HOME/.config/gcloud`'s `configurations/config_<active>`);
    /// * `HOME`, `GOOGLE_APPLICATION_CREDENTIALS` and the other variables the credential
    ///   search reads (see [`auth`]), kept for [`build`](Self::build) (application default
    ///   credentials themselves are loaded by google-cloud-auth from the process environment).
    ///
    /// ```
    /// use eeops::client::ClientBuilder;
    ///
    /// let builder = ClientBuilder::from_env_with(|key| match key {
    ///     "EEOPS_EMULATOR_HOST" => Some("127.0.0.1:8080".into()),
    ///     "GOOGLE_CLOUD_PROJECT" => Some("my-project".into()),
    ///     _ => None,
    /// });
    /// let debug = format!("{builder:?}");
    /// assert!(debug.contains("http://127.0.0.1:8080"));
    /// assert!(debug.contains("Anonymous"));
    /// assert!(debug.contains("my-project"));
    /// ```
    pub fn from_env_with(var: impl Fn(&str) -> Option<String>) -> Self {
        let non_empty = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let mut b = ClientBuilder {
            env: Some(Arc::new(
                auth::SEARCH_VARIABLES
                    .iter()
                    .filter_map(|&k| Some((k.to_owned(), var(k)?)))
                    .collect(),
            )),
            ..ClientBuilder::default()
        };
        if let Some(host) = non_empty(EMULATOR_HOST_ENV) {
            let host = host.trim();
            let endpoint = if host.contains("://") {
                host.to_owned()
            } else {
                format!("http://{host}")
            };
            b = b.endpoint(endpoint).anonymous().allow_insecure_http(true);
        }
        if let Some(t) = non_empty("EEOPS_TRANSPORT") {
            match t.parse() {
                Ok(t) => b = b.transport(t),
                Err(e) => b.problem = Some(format!("EEOPS_TRANSPORT: {}", e.message())),
            }
        }
        let project = non_empty("EARTHENGINE_PROJECT")
            .or_else(|| non_empty("GOOGLE_CLOUD_PROJECT"))
            .or_else(|| {
                auth::Lookup {
                    var: &var,
                    read: &|path| std::fs::read_to_string(path),
                }
                .file_project()
            });
        if let Some(p) = project {
            b = b.project(p.trim());
        }
        b
    }

    /// The service's base URL: `https://host[:port]`, or `http://host:port` for loopback (and
    /// for other hosts with [`allow_insecure_http`](Self::allow_insecure_http)). REST
    /// endpoints may have a path prefix.
    ///
    /// Without a scheme, `host:port` means `http://host:port` for a loopback host
    /// (`localhost`, 127.0.0.0/8, `::1`, `::ffff:127.x.y.z`: a local emulator) and
    /// `https://host:port` for any other host.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// The Earth Engine API version whose REST bindings are used: `v1` (default), `v1beta` or
    /// `v1alpha`; or `""` for the generic `google.longrunning` bindings
    /// (`/v1/{name=operations/**}`), for servers other than Earth Engine. With `""`, names
    /// are not required to be Earth Engine names (on either transport).
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }

    /// REST (default) or gRPC.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Uses these credentials.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(CredentialSource::Provided(credentials));
        self
    }

    /// Uses a credential source.
    pub fn credential_source(mut self, source: CredentialSource) -> Self {
        self.credentials = Some(source);
        self
    }

    /// Sends no credentials (the default for loopback endpoints).
    pub fn anonymous(self) -> Self {
        self.credential_source(CredentialSource::Anonymous)
    }

    /// The OAuth scopes to ask for (default: [`EARTHENGINE_SCOPE`]; [`CLOUD_PLATFORM_SCOPE`]
    /// is the usual alternative). Implies the credential search (see [`auth`]), even for a
    /// loopback endpoint, unless credentials are set otherwise.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// The project billed for quota, sent as `x-goog-user-project`.
    pub fn quota_project(mut self, project: impl Into<String>) -> Self {
        self.quota_project = Some(project.into());
        self
    }

    /// The default project: bare task ids (`ABCDEF...`) become
    /// `projects/{project}/operations/{id}`, and [`Client::list`] accepts `""`.
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// The limit of one attempt (shorthand for the policy's `attempt_timeout`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.retry.attempt_timeout = Some(timeout);
        self
    }

    /// The limit of one call, retries included (shorthand for the policy's `time_limit`).
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.retry.time_limit = Some(limit);
        self
    }

    /// The retry policy.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Replaces the decision of what to retry (see [`RetryDecider`]).
    pub fn retry_decider(mut self, decider: impl RetryDecider) -> Self {
        self.decider = Some(Arc::new(decider));
        self
    }

    /// Your application's user agent, sent in front of eeops' own.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Allows plain `http://` to hosts that are not loopback. Off by default: credentials and
    /// names would travel in clear text.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The largest response accepted (default 32 MiB).
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// The limit on establishing a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Also trusts the certificate authorities in this PEM text (one or more
    /// `-----BEGIN CERTIFICATE-----` blocks) for `https://` endpoints, on both transports,
    /// besides the built-in roots: for a server with a private or self-signed certificate,
    /// such as `eeops emulator --tls-cert`. May be called more than once; [`build`](Self::build)
    /// reports PEM text without a certificate.
    pub fn add_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(pem.into());
        self
    }

    fn retrier(&self) -> Retrier {
        Retrier {
            policy: self.retry.clone(),
            decider: self
                .decider
                .clone()
                .unwrap_or_else(|| Arc::new(DefaultRetryDecider)),
        }
    }

    /// The endpoint and credentials of a transport, checked (see [`Self::build`]).
    pub(crate) fn prepare(&self) -> Result<(Endpoint, auth::Auth)> {
        if let Some(p) = &self.problem {
            return Err(Error::config(p.clone()));
        }
        let endpoint_text = self.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT);
        let endpoint = Endpoint::parse(endpoint_text)?;
        if !endpoint.https && !endpoint.loopback && !self.allow_insecure_http {
            return Err(Error::config(format!(
                "refusing plain http:// to `{}`, which is not a loopback address: use https://, or allow_insecure_http(true) if you mean it",
                endpoint.host
            )));
        }
        tracing::debug!("{}", endpoint.explain(endpoint_text));
        let source = match (&self.credentials, &self.scopes) {
            (Some(source), _) => source.clone(),
            (None, Some(scopes)) => CredentialSource::Discover {
                scopes: scopes.clone(),
            },
            (None, None) if endpoint.loopback => CredentialSource::Anonymous,
            (None, None) => CredentialSource::discover(),
        };
        for (i, pem) in self.root_certificates.iter().enumerate() {
            match reqwest::Certificate::from_pem_bundle(pem) {
                Ok(certs) if !certs.is_empty() => {}
                Ok(_) => {
                    return Err(Error::config(format!(
                        "root certificate #{}: no certificate in the PEM text (expected -----BEGIN CERTIFICATE-----)",
                        i + 1
                    )));
                }
                Err(e) => {
                    return Err(
                        Error::config(format!("root certificate #{}: invalid PEM", i + 1))
                            .caused_by(e),
                    );
                }
            }
        }
        let auth = match &self.env {
            Some(env) => auth::Auth::with_lookup(
                source,
                self.quota_project.as_deref(),
                &auth::Lookup {
                    var: &|k| env.get(k).cloned(),
                    read: &|path| std::fs::read_to_string(path),
                },
            ),
            None => auth::Auth::new(source, self.quota_project.as_deref()),
        }?;
        Ok((endpoint, auth))
    }

    /// Builds the client: parses the endpoint, refuses plain HTTP to a host that is not
    /// loopback (unless allowed), finds and loads credentials (see [`auth`]; a loopback
    /// endpoint is anonymous unless credentials or scopes are set), and sets up the
    /// transport. Nothing is sent yet (connections are made on the first call).
    pub async fn build(self) -> Result<Client> {
        let (endpoint, auth) = self.prepare()?;
        tracing::debug!("credentials: {}", auth.description());
        let credentials = auth.description().to_owned();
        let headers = RequestHeaders::new(self.user_agent.as_deref())?;
        let mut rest_transport = None;
        let stub: Arc<dyn dynamic::Operations> = match self.transport {
            Transport::Rest => {
                let transport = rest::RestTransport::new(rest::RestConfig {
                    base: endpoint.base(),
                    api_version: self.api_version.clone(),
                    auth,
                    headers,
                    max_response_bytes: self.max_response_bytes,
                    connect_timeout: self.connect_timeout,
                    root_certificates: self.root_certificates.clone(),
                })?;
                rest_transport = Some(transport.clone());
                Arc::new(transport)
            }
            Transport::Grpc => Arc::new(grpc::GrpcTransport::new(grpc::GrpcConfig {
                endpoint: endpoint.clone(),
                auth,
                headers,
                max_response_bytes: self.max_response_bytes,
                connect_timeout: self.connect_timeout,
                root_certificates: self.root_certificates.clone(),
            })?),
        };
        let description = format!(
            "{:?} {} (api version {:?})",
            self.transport,
            endpoint.base(),
            self.api_version
        );
        let mut client = self.finish(stub, description, credentials);
        if let Some(inner) = Arc::get_mut(&mut client.inner) {
            inner.rest = rest_transport;
        }
        Ok(client)
    }

    /// Builds a client over your own implementation of [`crate::stub::Operations`], with this
    /// builder's retry policy, project and API version (endpoint, transport and credential
    /// settings do not apply).
    pub fn build_with_stub(self, stub: impl crate::stub::Operations) -> Client {
        let description = format!("custom stub {stub:?}");
        self.finish(Arc::new(stub), description, "the stub's own".to_owned())
    }

    fn finish(
        self,
        stub: Arc<dyn dynamic::Operations>,
        description: String,
        credentials: String,
    ) -> Client {
        Client {
            inner: Arc::new(Inner {
                retrier: self.retrier(),
                stub,
                generic_names: self.api_version.is_empty(),
                project: self.project,
                wait_support: AtomicU8::new(WAIT_UNKNOWN),
                description,
                credentials,
                rest: None,
            }),
        }
    }
}

const WAIT_UNKNOWN: u8 = 0;
const WAIT_SUPPORTED: u8 = 1;
const WAIT_UNSUPPORTED: u8 = 2;

/// Options of [`Client::list_with`].
///
/// ```
/// let opts = eeops::client::ListOptions::default()
///     .with_filter("done = false")
///     .with_page_size(500);
/// assert_eq!(opts.page_size, Some(500));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListOptions {
    /// The server's filter expression.
    pub filter: Option<String>,
    /// How many operations to ask for per page (the server may send fewer).
    pub page_size: Option<i32>,
    /// Ask for partial results when some locations are unreachable (v1alpha).
    pub return_partial_success: bool,
}

impl ListOptions {
    /// Sets the filter.
    pub fn with_filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = Some(filter.into());
        self
    }

    /// Sets the page size.
    pub fn with_page_size(mut self, page_size: i32) -> Self {
        self.page_size = Some(page_size);
        self
    }

    /// Sets `return_partial_success`.
    pub fn with_return_partial_success(mut self, yes: bool) -> Self {
        self.return_partial_success = yes;
        self
    }
}

/// Options of [`Client::wait`] and friends. A [`Duration`] converts into options with that
/// overall timeout.
///
/// | field | default |
/// |---|---|
/// | `timeout` | none: wait until done |
/// | `poll_initial` | 1 s, the first polling interval |
/// | `poll_max` | 30 s |
/// | `poll_multiplier` | 1.5 |
/// | `server_wait` | 10 s, the longest single WaitOperation (progress arrives at least this often) |
///
/// ```
/// use std::time::Duration;
/// use eeops::client::WaitOptions;
///
/// let opts: WaitOptions = Duration::from_secs(60).into();
/// assert_eq!(opts.timeout, Some(Duration::from_secs(60)));
/// let fast = WaitOptions::default().with_poll_interval(Duration::from_millis(50), Duration::from_millis(200));
/// assert_eq!(fast.poll_max, Duration::from_millis(200));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WaitOptions {
    /// The overall deadline.
    pub timeout: Option<Duration>,
    /// The first polling interval.
    pub poll_initial: Duration,
    /// The largest polling interval.
    pub poll_max: Duration,
    /// How much the polling interval grows each time.
    pub poll_multiplier: f64,
    /// The longest single WaitOperation call.
    pub server_wait: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            timeout: None,
            poll_initial: Duration::from_secs(1),
            poll_max: Duration::from_secs(30),
            poll_multiplier: 1.5,
            server_wait: Duration::from_secs(10),
        }
    }
}

impl From<Duration> for WaitOptions {
    fn from(timeout: Duration) -> Self {
        WaitOptions::default().with_timeout(timeout)
    }
}

impl WaitOptions {
    /// Sets the overall timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the first and the largest polling interval.
    pub fn with_poll_interval(mut self, initial: Duration, max: Duration) -> Self {
        self.poll_initial = initial;
        self.poll_max = max.max(initial);
        self
    }

    /// Sets the longest single WaitOperation call.
    pub fn with_server_wait(mut self, wait: Duration) -> Self {
        self.server_wait = wait;
        self
    }

    fn poll_interval(&self, n: u32) -> Duration {
        let m = if self.poll_multiplier.is_finite() {
            self.poll_multiplier.max(1.0)
        } else {
            1.0
        };
        let secs = self.poll_initial.as_secs_f64() * m.powi(i32::try_from(n).unwrap_or(i32::MAX));
        if !secs.is_finite() || secs >= self.poll_max.as_secs_f64() {
            self.poll_max
        } else {
            Duration::from_secs_f64(secs.max(0.0))
        }
    }
}

/// What became of an operation after [`Client::cancel_and_confirm`].
#[derive(Debug)]
#[non_exhaustive]
pub enum CancelOutcome {
    /// The operation ended cancelled (done, error code 1).
    Cancelled(Operation),
    /// The operation completed with a response despite the cancel (or had already).
    CompletedAnyway(Operation),
    /// The operation failed with another error despite the cancel (or had already).
    FailedAnyway(Operation),
    /// The operation was still running at the deadline: the last snapshot.
    StillRunning(Operation),
    /// The server does not support cancelling (UNIMPLEMENTED); the operation as it was
    /// then, if it could be read.
    Unimplemented {
        /// The server's answer.
        error: Error,
        /// The operation, read after the refused cancel.
        operation: Option<Operation>,
    },
}

impl CancelOutcome {
    /// The last known state of the operation.
    pub fn operation(&self) -> Option<&Operation> {
        match self {
            CancelOutcome::Cancelled(op)
            | CancelOutcome::CompletedAnyway(op)
            | CancelOutcome::FailedAnyway(op)
            | CancelOutcome::StillRunning(op) => Some(op),
            CancelOutcome::Unimplemented { operation, .. } => operation.as_ref(),
        }
    }

    fn of_done(op: Operation) -> CancelOutcome {
        match op.outcome() {
            Outcome::Cancelled(_) => CancelOutcome::Cancelled(op),
            Outcome::Failed(_) => CancelOutcome::FailedAnyway(op),
            Outcome::Succeeded(_) => CancelOutcome::CompletedAnyway(op),
            Outcome::Running => CancelOutcome::StillRunning(op),
        }
    }
}

/// A client of the `google.longrunning.Operations` API as Earth Engine exposes it.
///
/// Cheap to clone (one `Arc`). Names are validated before anything is sent: a name that is
/// not `projects/{project}/operations/{operation}` (or a bare task id with a default
/// project) gives an [`ErrorKind::InvalidRequest`](crate::ErrorKind::InvalidRequest) error
/// that names the expected form. See the [module documentation](self) for examples.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    stub: Arc<dyn dynamic::Operations>,
    retrier: Retrier,
    generic_names: bool,
    project: Option<String>,
    wait_support: AtomicU8,
    description: String,
    credentials: String,
    /// The REST transport when the client was built with it (for `/batch` in bulk calls).
    rest: Option<rest::RestTransport>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("transport", &self.inner.description)
            .field("credentials", &self.inner.credentials)
            .field("project", &self.inner.project)
            .field("retry", &self.inner.retrier.policy)
            .field("supports_wait", &self.supports_wait())
            .finish()
    }
}

/// A boxed stream, as [`Client::list`] and [`Client::watch`] return.
pub type BoxStream<T> = Pin<Box<dyn Stream<Item = T> + Send + 'static>>;

impl Client {
    /// A [`ClientBuilder`] with the defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// A client configured from the environment (see [`ClientBuilder::from_env_with`]).
    pub async fn from_env() -> Result<Client> {
        ClientBuilder::from_env().build().await
    }

    /// A client over your own implementation of [`crate::stub::Operations`], with the default
    /// retry policy: for testing code that uses a `Client` without a server.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use eeops::pb::google::longrunning::{GetOperationRequest, Operation};
    /// use eeops::stub::{CallOptions, Operations};
    ///
    /// #[derive(Debug)]
    /// struct AlwaysDone;
    /// impl Operations for AlwaysDone {
    ///     async fn get_operation(&self, r: GetOperationRequest, _: CallOptions) -> eeops::Result<Operation> {
    ///         Ok(Operation { name: r.name, done: true, ..Default::default() })
    ///     }
    /// }
    ///
    /// let client = eeops::Client::from_stub(AlwaysDone);
    /// let op = client.get("projects/p/operations/A").await.unwrap();
    /// assert!(op.done);
    /// // Waiting falls back to polling GetOperation: the stub has no WaitOperation.
    /// let op = client.wait("projects/p/operations/A", std::time::Duration::from_secs(1)).await.unwrap();
    /// assert!(op.done);
    /// // Bad names never reach the stub.
    /// let err = client.get("operations/A").await.unwrap_err();
    /// assert!(err.is_invalid_request());
    /// assert!(err.message().contains("projects/{project}/operations/{operation}"));
    /// # }
    /// ```
    pub fn from_stub(stub: impl crate::stub::Operations) -> Client {
        ClientBuilder::new().build_with_stub(stub)
    }

    /// The transport (or stub) under this client, e.g. to wrap it in a stub of your own.
    pub fn stub(&self) -> Arc<dyn dynamic::Operations> {
        Arc::clone(&self.inner.stub)
    }

    /// Which credentials this client sends, e.g. `anonymous`, `application default
    /// credentials (...)` or `Earth Engine credentials file /home/me/.config/earthengine/credentials`
    /// (see [`auth`]). Never a secret.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> eeops::Result<()> {
    /// let client = eeops::Client::builder().endpoint("127.0.0.1:8080").build().await?;
    /// assert_eq!(client.credentials_source(), "anonymous");
    /// # Ok(()) }
    /// ```
    pub fn credentials_source(&self) -> &str {
        &self.inner.credentials
    }

    /// The default project, if any.
    pub fn project(&self) -> Option<&str> {
        self.inner.project.as_deref()
    }

    /// Whether the server answered WaitOperation (`Some(true)`), answered it UNIMPLEMENTED
    /// (`Some(false)`: this client polls from then on), or has not been asked (`None`).
    pub fn supports_wait(&self) -> Option<bool> {
        match self.inner.wait_support.load(Ordering::Relaxed) {
            WAIT_SUPPORTED => Some(true),
            WAIT_UNSUPPORTED => Some(false),
            _ => None,
        }
    }

    /// Validates an operation name (or resolves a bare task id with the default project).
    pub fn operation_name(&self, name: &str) -> Result<String> {
        if self.inner.generic_names {
            if name.trim().is_empty() {
                return Err(Error::invalid_request("the operation name is empty"));
            }
            return Ok(name.to_owned());
        }
        OperationName::resolve(name, self.inner.project.as_deref())
            .map(OperationName::into_string)
            .map_err(|e| Error::invalid_request(e.to_string()))
    }

    /// Validates a collection (`projects/{project}`, `projects/{project}/operations`, a bare
    /// project id, or `""` for the default project).
    fn collection_name(&self, collection: &str) -> Result<String> {
        if self.inner.generic_names {
            return Ok(collection.to_owned());
        }
        // `projects/p/operations` names the same collection.
        let collection = collection.strip_suffix("/operations").unwrap_or(collection);
        let project = match collection.strip_prefix("projects/") {
            Some(p) => p,
            None if collection.is_empty() => self.inner.project.as_deref().unwrap_or_default(),
            None => collection,
        };
        if project.is_empty() || project.contains('/') || project == "." || project == ".." {
            return Err(Error::invalid_request(format!(
                "invalid collection `{collection}`: expected projects/{{project}} (the parent of {EXPECTED_FORM})"
            )));
        }
        Ok(format!("projects/{project}"))
    }

    /// Reads an operation.
    pub async fn get(&self, name: impl AsRef<str>) -> Result<Operation> {
        let name = self.operation_name(name.as_ref())?;
        self.get_checked(&name, None).await
    }

    async fn get_checked(&self, name: &str, deadline: Option<Instant>) -> Result<Operation> {
        let stub = &*self.inner.stub;
        let request = GetOperationRequest { name: name.into() };
        self.inner
            .retrier
            .run(OperationsMethod::GetOperation, deadline, |opts, _| {
                stub.get_operation(request.clone(), opts)
            })
            .await
    }

    /// Asks that an operation stop. Best effort and asynchronous: success means the request
    /// was accepted, not that the operation stopped (see [`cancel_and_confirm`](Self::cancel_and_confirm)).
    /// A server without cancel support answers UNIMPLEMENTED ([`Error::is_unimplemented`]).
    /// Cancelling an operation that is finished or already cancelled does nothing.
    pub async fn cancel(&self, name: impl AsRef<str>) -> Result<()> {
        let name = self.operation_name(name.as_ref())?;
        self.cancel_checked(&name).await
    }

    async fn cancel_checked(&self, name: &str) -> Result<()> {
        let stub = &*self.inner.stub;
        let request = CancelOperationRequest { name: name.into() };
        self.inner
            .retrier
            .run(OperationsMethod::CancelOperation, None, |opts, _| {
                stub.cancel_operation(request.clone(), opts)
            })
            .await
    }

    /// Forgets an operation (it does not stop it). When an attempt fails in a way that is
    /// retried and a later attempt answers NOT_FOUND, the delete counts as done (the lost
    /// attempt most likely deleted it); NOT_FOUND on the first attempt is an error.
    pub async fn delete(&self, name: impl AsRef<str>) -> Result<()> {
        let name = self.operation_name(name.as_ref())?;
        let stub = &*self.inner.stub;
        let request = DeleteOperationRequest { name };
        self.inner
            .retrier
            .run(OperationsMethod::DeleteOperation, None, |opts, attempt| {
                let call = stub.delete_operation(request.clone(), opts);
                async move {
                    match call.await {
                        Err(e) if attempt > 1 && e.is_not_found() => Ok(()),
                        other => other,
                    }
                }
            })
            .await
    }

    /// Every operation in a collection (`projects/{project}`), following page tokens to the
    /// end. An invalid collection is the stream's first and only item.
    pub fn list(&self, collection: impl AsRef<str>) -> BoxStream<Result<Operation>> {
        self.list_with(collection, ListOptions::default())
    }

    /// [`list`](Self::list) with a filter and a page size.
    pub fn list_with(
        &self,
        collection: impl AsRef<str>,
        options: ListOptions,
    ) -> BoxStream<Result<Operation>> {
        self.list_pages(collection, options)
            .map_ok(|page| stream::iter(page.operations.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }

    /// The pages of a listing, as the server sends them (with `unreachable` locations).
    /// Stops with an error if the server hands back the page token it was just given.
    pub fn list_pages(
        &self,
        collection: impl AsRef<str>,
        options: ListOptions,
    ) -> BoxStream<Result<ListOperationsResponse>> {
        let collection = match self.collection_name(collection.as_ref()) {
            Ok(c) => c,
            Err(e) => return stream::once(async move { Err(e) }).boxed(),
        };
        let client = self.clone();
        let request = ListOperationsRequest {
            name: collection,
            filter: options.filter.unwrap_or_default(),
            page_size: options.page_size.unwrap_or(0),
            page_token: String::new(),
            return_partial_success: options.return_partial_success,
        };
        stream::try_unfold(Some(request), move |state| {
            let client = client.clone();
            async move {
                let Some(request) = state else {
                    return Ok(None);
                };
                let stub = &*client.inner.stub;
                let page = client
                    .inner
                    .retrier
                    .run(OperationsMethod::ListOperations, None, |opts, _| {
                        stub.list_operations(request.clone(), opts)
                    })
                    .await?;
                let next = if page.next_page_token.is_empty() {
                    None
                } else if page.next_page_token == request.page_token {
                    return Err(Error::decode(format!(
                        "the server sent the same page token twice while listing {}; stopping",
                        request.name
                    )));
                } else {
                    Some(ListOperationsRequest {
                        page_token: page.next_page_token.clone(),
                        ..request
                    })
                };
                Ok(Some((page, next)))
            }
        })
        .boxed()
    }

    /// Waits until an operation is done, or the timeout passes (an
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) error). Uses WaitOperation when the
    /// server has it; after one UNIMPLEMENTED answer this client polls GetOperation instead,
    /// with a growing interval.
    pub async fn wait(
        &self,
        name: impl AsRef<str>,
        options: impl Into<WaitOptions>,
    ) -> Result<Operation> {
        self.wait_with_progress(name, options, |_| {}).await
    }

    /// [`wait`](Self::wait), calling `progress` with each new snapshot of the operation (the
    /// final one included), e.g. to show its metadata's progress.
    pub async fn wait_with_progress(
        &self,
        name: impl AsRef<str>,
        options: impl Into<WaitOptions>,
        mut progress: impl FnMut(&Operation),
    ) -> Result<Operation> {
        let mut snapshots = self.watch(name, options);
        let mut last = None;
        while let Some(item) = snapshots.next().await {
            let op = item?;
            progress(&op);
            last = Some(op);
        }
        match last {
            Some(op) if op.done => Ok(op),
            _ => Err(Error::timeout("the operation is not done")),
        }
    }

    /// The snapshots of an operation until it is done: the current state first, then each
    /// change, ending with the done operation; or ending with an error (a timeout at the
    /// deadline).
    pub fn watch(
        &self,
        name: impl AsRef<str>,
        options: impl Into<WaitOptions>,
    ) -> BoxStream<Result<Operation>> {
        let name = match self.operation_name(name.as_ref()) {
            Ok(n) => n,
            Err(e) => return stream::once(async move { Err(e) }).boxed(),
        };
        let options = options.into();
        let watch = Watch {
            client: self.clone(),
            name,
            deadline: options.timeout.map(|t| Instant::now() + t),
            options,
            last: None,
            polls: 0,
            started: false,
            finished: false,
        };
        stream::unfold(watch, |mut w| async move {
            w.step().await.map(|item| (item, w))
        })
        .boxed()
    }

    /// Cancels an operation and follows it until the outcome is known, or the timeout passes:
    /// the cancel-then-check workflow in one call. NOT_FOUND and other failures of the cancel
    /// itself are errors; UNIMPLEMENTED is [`CancelOutcome::Unimplemented`].
    pub async fn cancel_and_confirm(
        &self,
        name: impl AsRef<str>,
        options: impl Into<WaitOptions>,
    ) -> Result<CancelOutcome> {
        let name = self.operation_name(name.as_ref())?;
        if let Err(error) = self.cancel_checked(&name).await {
            if error.is_unimplemented() {
                let operation = self.get_checked(&name, None).await.ok();
                return Ok(CancelOutcome::Unimplemented { error, operation });
            }
            return Err(error);
        }
        let mut snapshots = self.watch(&name, options);
        let mut last: Option<Operation> = None;
        while let Some(item) = snapshots.next().await {
            match item {
                Ok(op) if op.done => return Ok(CancelOutcome::of_done(op)),
                Ok(op) => last = Some(op),
                Err(e) if e.is_timeout() => {
                    return match last {
                        Some(op) => Ok(CancelOutcome::StillRunning(op)),
                        None => Err(e),
                    };
                }
                Err(e) => return Err(e),
            }
        }
        match last {
            Some(op) => Ok(CancelOutcome::StillRunning(op)),
            None => Err(Error::timeout(format!("no state of {name} could be read"))),
        }
    }

    /// Cancels many operations, at most `concurrency` at a time, and reports each: one entry
    /// per input name, in input order, none lost. Each name is validated on its own (a bad
    /// one fails alone, without a request). The concurrency adapts to the server below that
    /// cap, and calls refused for quota are retried (see [`bulk`]).
    pub async fn cancel_many<I, S>(&self, names: I, concurrency: usize) -> Vec<(String, Result<()>)>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut done: Vec<(usize, String, Result<()>)> =
            self.cancel_each(names, concurrency).collect().await;
        done.sort_unstable_by_key(|(index, _, _)| *index);
        done.into_iter()
            .map(|(_, name, result)| (name, result))
            .collect()
    }

    /// Cancels many operations, at most `concurrency` at a time, yielding each outcome as soon
    /// as it is known (so a caller can show progress): the name's index in the input, the name,
    /// and the result. Every name yields exactly once.
    ///
    /// A slow call does not hold back the others: as soon as one finishes, the next starts,
    /// which is why the outcomes come in completion order rather than input order (see
    /// [`cancel_many`](Self::cancel_many) for input order). This is
    /// [`cancel_each_with`](Self::cancel_each_with) with `concurrency` as the cap (and the
    /// start), the other [`BulkOptions`] at their defaults.
    pub fn cancel_each<I, S>(
        &self,
        names: I,
        concurrency: usize,
    ) -> BoxStream<(usize, String, Result<()>)>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let options = BulkOptions::default()
            .with_max_concurrency(concurrency)
            .with_initial_concurrency(concurrency);
        self.cancel_each_with(names, options).boxed()
    }
}

struct Watch {
    client: Client,
    name: String,
    options: WaitOptions,
    deadline: Option<Instant>,
    last: Option<Operation>,
    polls: u32,
    started: bool,
    finished: bool,
}

impl Watch {
    async fn step(&mut self) -> Option<Result<Operation>> {
        if self.finished {
            return None;
        }
        loop {
            let op = match self.fetch().await {
                Ok(op) => op,
                Err(e) => {
                    self.finished = true;
                    return Some(Err(e));
                }
            };
            if op.done {
                self.finished = true;
                return Some(Ok(op));
            }
            if self.last.as_ref() != Some(&op) {
                self.last = Some(op.clone());
                return Some(Ok(op));
            }
        }
    }

    fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    fn timeout_error(&self) -> Error {
        let state = match &self.last {
            Some(op) => match (op.state(), op.progress()) {
                (Some(s), Some(p)) => {
                    format!("; last state {} at {:.0}%", s.as_str_name(), p * 100.0)
                }
                _ => "; still running".into(),
            },
            None => String::new(),
        };
        Error::timeout(format!(
            "{} is not done after {:?}{state}",
            self.name,
            self.options.timeout.unwrap_or_default()
        ))
    }

    /// Sleeps the next polling interval, cut short at the deadline.
    async fn pause(&mut self) -> Result<()> {
        let mut interval = self.options.poll_interval(self.polls);
        self.polls = self.polls.saturating_add(1);
        if let Some(r) = self.remaining() {
            interval = interval.min(r);
        }
        tokio::time::sleep(interval).await;
        if self.remaining() == Some(Duration::ZERO) {
            return Err(self.timeout_error());
        }
        Ok(())
    }

    async fn fetch(&mut self) -> Result<Operation> {
        if !self.started {
            self.started = true;
            return self.client.get_checked(&self.name, self.deadline).await;
        }
        loop {
            let remaining = self.remaining();
            if remaining == Some(Duration::ZERO) {
                return Err(self.timeout_error());
            }
            if self.client.supports_wait() == Some(false) {
                self.pause().await?;
                return self.client.get_checked(&self.name, self.deadline).await;
            }
            let wait_for = match remaining {
                Some(r) => r.min(self.options.server_wait),
                None => self.options.server_wait,
            };
            let started = Instant::now();
            match self.wait_once(wait_for).await {
                Ok(op) => {
                    self.client
                        .inner
                        .wait_support
                        .store(WAIT_SUPPORTED, Ordering::Relaxed);
                    if !op.done && started.elapsed() < wait_for / 2 {
                        // The server answered early without the operation being done: do
                        // not hammer it.
                        self.pause().await?;
                    }
                    return Ok(op);
                }
                Err(e) if e.is_unimplemented() => {
                    tracing::debug!(name = %self.name, "WaitOperation is unimplemented; polling instead");
                    self.client
                        .inner
                        .wait_support
                        .store(WAIT_UNSUPPORTED, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn wait_once(&self, wait_for: Duration) -> Result<Operation> {
        let inner = &self.client.inner;
        let stub = &*inner.stub;
        // The attempt must outlast the server-side wait.
        let mut retrier = inner.retrier.clone();
        let grace = Duration::from_secs(10);
        retrier.policy.attempt_timeout = retrier
            .policy
            .attempt_timeout
            .map(|t| t.max(wait_for + grace));
        retrier.policy.time_limit = retrier.policy.time_limit.map(|t| t.max(wait_for + grace));
        let request = WaitOperationRequest {
            name: self.name.clone(),
            timeout: Some(prost_types::Duration {
                seconds: i64::try_from(wait_for.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(wait_for.subsec_nanos()).unwrap_or(0),
            }),
        };
        retrier
            .run(
                OperationsMethod::WaitOperation,
                // A little past the deadline, for the answer the server sends at it.
                self.deadline.map(|d| d + Duration::from_secs(2)),
                |opts, _| stub.wait_operation(request.clone(), opts),
            )
            .await
    }
}
