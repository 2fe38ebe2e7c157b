//! [`ClientBuilder`]: the endpoint, transport, credentials and policies of a [`Client`].

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU8;
use std::time::Duration;

use super::common::{Endpoint, RequestHeaders};
use super::facade::{Inner, WAIT_UNKNOWN};
use super::retry::Retrier;
use super::{
    Client, CredentialSource, Credentials, DefaultRetryDecider, RetryDecider, RetryPolicy,
    Transport, auth, grpc, rest,
};
use crate::stub::dynamic;
use crate::{Error, Result};

/// The endpoint used when none is set.
pub const DEFAULT_ENDPOINT: &str = "https://earthengine.googleapis.com";

/// The environment variable that points a client at an emulator (`host:port`).
pub const EMULATOR_HOST_ENV: &str = "EEOPS_EMULATOR_HOST";

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
    pub(super) api_version: String,
    transport: Transport,
    credentials: Option<CredentialSource>,
    scopes: Option<Vec<String>>,
    quota_project: Option<String>,
    project: Option<String>,
    retry: RetryPolicy,
    decider: Option<Arc<dyn RetryDecider>>,
    pub(super) user_agent: Option<String>,
    allow_insecure_http: bool,
    pub(super) max_response_bytes: usize,
    pub(super) connect_timeout: Duration,
    pub(super) root_certificates: Vec<Vec<u8>>,
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

    /// The OAuth scopes to ask for (default: [`EARTHENGINE_SCOPE`](super::EARTHENGINE_SCOPE); [`CLOUD_PLATFORM_SCOPE`](super::CLOUD_PLATFORM_SCOPE)
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
