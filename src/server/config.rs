//! How the server treats connections: timeouts, limits, TLS and the request hook.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The longest duration any timeout of [`ServerConfig`] is held to; longer ones are clamped
/// to it (about ten years: far enough to mean "never", near enough that adding it to the
/// current instant cannot overflow).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// How [`serve_with`](super::serve_with) treats connections. This is the one place where the
/// server's defaults are set and documented; [`serve`](super::serve) and
/// [`serve_listener`](super::serve_listener) use `ServerConfig::default()`.
///
/// | setting | default | what it bounds |
/// |---|---|---|
/// | [`header_timeout`](Self::header_timeout) | 10 s | an HTTP/1 request head, and a TLS handshake |
/// | [`body_timeout`](Self::body_timeout) | 30 s | the wait for each next piece of a request body |
/// | [`idle_timeout`](Self::idle_timeout) | 60 s | a connection with no request in progress |
/// | [`http2_keep_alive_interval`](Self::http2_keep_alive_interval) | 30 s | pings on a quiet HTTP/2 connection |
/// | [`http2_keep_alive_timeout`](Self::http2_keep_alive_timeout) | 20 s | the wait for a ping's answer |
/// | [`http2_max_concurrent_streams`](Self::http2_max_concurrent_streams) | 200 | calls at once on one HTTP/2 connection |
/// | [`max_connections`](Self::max_connections) | 512 | connections open at once |
/// | [`shutdown_grace`](Self::shutdown_grace) | 5 s | the drain on [`ServerHandle::shutdown`](super::ServerHandle::shutdown) |
///
/// Why these values: a legitimate client sends its request head in one go, so 10 s is
/// generous while a client that trickles its headers (slowloris) is cut off quickly; bodies
/// here are small JSON or protobuf messages, so 30 s between pieces only ever stops a stalled
/// sender; 60 s of idleness outlasts the pauses of a polling client (which keeps its
/// connection) but frees sockets nobody uses; 200 streams per HTTP/2 connection is hyper's
/// own default, kept; pings every 30 s find dead peers behind quiet connections at a cost not
/// worth counting; 512 connections stays below the usual soft limit of 1,024 open files,
/// leaving room for the rest of the process. Connections over the cap
/// wait in the listen backlog until one closes; if the process still runs out of file
/// descriptors (`EMFILE`/`ENFILE`), the accept loop backs off (up to one second) and carries
/// on.
///
/// Timeouts and the ping interval are off when `None` or zero (a zero ping timeout turns the
/// pings off; with no header timeout, a TLS handshake is bounded by the idle timeout).
/// Durations over [`MAX_TIMEOUT`] are clamped to it; a `max_connections` or
/// `http2_max_concurrent_streams` of 0 counts as 1.
///
/// On HTTP/1, hyper's header timer also runs while a kept-alive connection waits for its next
/// request, so such a connection closes after the shorter of `header_timeout` and
/// `idle_timeout`. The timers cost a little per request: with these defaults the server
/// process spent 4% (REST) and 6% (gRPC) more instructions per get than with every timeout
/// off, and no difference in throughput showed through the machine's noise (see
/// BENCHMARKS.md). A connection that never sends a byte is closed after `idle_timeout`.
///
/// ```
/// use std::time::Duration;
/// use eeops::server::ServerConfig;
///
/// let config = ServerConfig::default()
///     .with_header_timeout(Duration::from_secs(5))
///     .with_max_connections(64)
///     .with_request_hook(|call| {
///         match call.headers().get("authorization") {
///             Some(v) if v == "Bearer secret" => Ok(()),
///             _ => Err(tonic::Status::unauthenticated("no valid token")),
///         }
///     });
/// assert_eq!(config.header_timeout, Some(Duration::from_secs(5)));
/// assert_eq!(config.idle_timeout, Some(Duration::from_secs(60)));
/// assert!(config.request_hook.is_some());
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The longest time to receive a whole HTTP/1 request head (request line and headers),
    /// counted from when the server starts waiting for it; also the longest TLS handshake.
    /// Default 10 s.
    pub header_timeout: Option<Duration>,
    /// The longest wait for each next piece of a request body (a sender that stalls
    /// mid-body is cut off; a slow but steady one is not). Default 30 s.
    pub body_timeout: Option<Duration>,
    /// How long a connection may stay open with no request in progress before it is closed
    /// (gracefully: an HTTP/2 client gets a GOAWAY). Default 60 s.
    pub idle_timeout: Option<Duration>,
    /// How often a quiet HTTP/2 connection is pinged to check the peer is alive. Default 30 s.
    pub http2_keep_alive_interval: Option<Duration>,
    /// How long to wait for a ping's acknowledgement before closing the connection.
    /// Default 20 s.
    pub http2_keep_alive_timeout: Duration,
    /// The most concurrent calls (streams) one HTTP/2 connection may have open. Default 200.
    pub http2_max_concurrent_streams: u32,
    /// The most connections open at once; more wait in the listen backlog. Default 512.
    pub max_connections: usize,
    /// How long [`ServerHandle::shutdown`](super::ServerHandle::shutdown) lets in-flight
    /// requests finish before dropping them. Default 5 s.
    pub shutdown_grace: Duration,
    /// Serve TLS (HTTP/2 and HTTP/1.1 by ALPN) instead of plain text. Default off.
    pub tls: Option<TlsConfig>,
    /// Called before every request on either transport; see [`RequestHook`].
    pub request_hook: Option<RequestHook>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            header_timeout: Some(Duration::from_secs(10)),
            body_timeout: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(60)),
            http2_keep_alive_interval: Some(Duration::from_secs(30)),
            http2_keep_alive_timeout: Duration::from_secs(20),
            http2_max_concurrent_streams: 200,
            max_connections: 512,
            shutdown_grace: Duration::from_secs(5),
            tls: None,
            request_hook: None,
        }
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("header_timeout", &self.header_timeout)
            .field("body_timeout", &self.body_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("http2_keep_alive_interval", &self.http2_keep_alive_interval)
            .field("http2_keep_alive_timeout", &self.http2_keep_alive_timeout)
            .field(
                "http2_max_concurrent_streams",
                &self.http2_max_concurrent_streams,
            )
            .field("max_connections", &self.max_connections)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("tls", &self.tls)
            .field("request_hook", &self.request_hook.as_ref().map(|_| "..."))
            .finish()
    }
}

impl ServerConfig {
    /// Sets [`header_timeout`](Self::header_timeout) (`None`: no limit).
    pub fn with_header_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.header_timeout = timeout.into();
        self
    }

    /// Sets [`body_timeout`](Self::body_timeout) (`None`: no limit).
    pub fn with_body_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.body_timeout = timeout.into();
        self
    }

    /// Sets [`idle_timeout`](Self::idle_timeout) (`None`: no limit).
    pub fn with_idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.idle_timeout = timeout.into();
        self
    }

    /// Sets [`http2_keep_alive_interval`](Self::http2_keep_alive_interval) (`None`: no pings).
    pub fn with_http2_keep_alive_interval(mut self, interval: impl Into<Option<Duration>>) -> Self {
        self.http2_keep_alive_interval = interval.into();
        self
    }

    /// Sets [`http2_keep_alive_timeout`](Self::http2_keep_alive_timeout).
    pub fn with_http2_keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.http2_keep_alive_timeout = timeout;
        self
    }

    /// Sets [`http2_max_concurrent_streams`](Self::http2_max_concurrent_streams).
    pub fn with_http2_max_concurrent_streams(mut self, max: u32) -> Self {
        self.http2_max_concurrent_streams = max;
        self
    }

    /// Sets [`max_connections`](Self::max_connections).
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Sets [`shutdown_grace`](Self::shutdown_grace).
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Sets [`tls`](Self::tls).
    pub fn with_tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets [`request_hook`](Self::request_hook).
    pub fn with_request_hook<F>(mut self, hook: F) -> Self
    where
        F: Fn(&CallInfo<'_>) -> Result<(), tonic::Status> + Send + Sync + 'static,
    {
        self.request_hook = Some(Arc::new(hook));
        self
    }
}

/// Clamps a configured duration to [`MAX_TIMEOUT`].
pub(crate) fn clamp(d: Duration) -> Duration {
    d.min(MAX_TIMEOUT)
}

/// An optional limit as used: zero means off, and long ones are clamped.
pub(crate) fn limit(d: Option<Duration>) -> Option<Duration> {
    d.filter(|d| !d.is_zero()).map(clamp)
}

/// A certificate chain and private key to serve TLS with (rustls, with the aws-lc-rs
/// provider), offering HTTP/2 and HTTP/1.1 by ALPN, so gRPC and REST clients reach the same
/// port.
///
/// ```
/// use eeops::server::TlsConfig;
/// let err = TlsConfig::from_pem(b"not pem", b"not pem").unwrap_err();
/// assert!(err.to_string().contains("certificate"), "{err}");
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    pub(crate) rustls: Arc<rustls::ServerConfig>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("alpn", &["h2", "http/1.1"])
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// From PEM text: `cert_chain` holds the server certificate first, then any
    /// intermediates; `key` holds one private key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> std::io::Result<TlsConfig> {
        Self::build(cert_chain, key, "the certificate PEM", "the key PEM")
    }

    /// From PEM files (see [`from_pem`](Self::from_pem)); errors name the file.
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> std::io::Result<TlsConfig> {
        let (cert_path, key_path) = (cert_chain.as_ref(), key.as_ref());
        let read = |path: &Path, what: &str| {
            std::fs::read(path).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot read the TLS {what} file {}: {e}", path.display()),
                )
            })
        };
        let cert = read(cert_path, "certificate")?;
        let key = read(key_path, "key")?;
        Self::build(
            &cert,
            &key,
            &format!("certificate file {}", cert_path.display()),
            &format!("key file {}", key_path.display()),
        )
    }

    fn build(
        cert_pem: &[u8],
        key_pem: &[u8],
        cert_what: &str,
        key_what: &str,
    ) -> std::io::Result<TlsConfig> {
        let invalid = |msg: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, msg);
        let certs = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(format!("{cert_what}: invalid PEM certificate: {e}")))?;
        if certs.is_empty() {
            return Err(invalid(format!(
                "{cert_what}: no certificate found (expected -----BEGIN CERTIFICATE-----)"
            )));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| invalid(format!("{key_what}: no usable private key: {e}")))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(format!("TLS setup: {e}")))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| {
                invalid(format!(
                    "{cert_what} and {key_what} do not make a usable pair: {e}"
                ))
            })?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsConfig {
            rustls: Arc::new(config),
        })
    }
}

/// The hook [`ServerConfig::request_hook`] holds: called with every request's [`CallInfo`]
/// before the request is handled, on gRPC and REST alike. `Ok(())` lets the call through; an
/// error status rejects it, and each transport renders that status in its own form: a gRPC
/// status (`grpc-status`, `grpc-message`) on gRPC, Google's JSON error with the matching HTTP
/// status (UNAUTHENTICATED is 401, PERMISSION_DENIED 403, ...) on REST.
///
/// Why a function rather than a tower layer: a layer around the whole port sees raw HTTP
/// requests, so it would have to route REST paths itself to learn which RPC a request is,
/// and to write each transport's error form itself. The server already knows both, so the
/// hook gets the resolved method and only decides. It is synchronous: checks that need I/O
/// (fetching keys, asking a token service) belong in a cache the hook reads.
pub type RequestHook = Arc<dyn Fn(&CallInfo<'_>) -> Result<(), tonic::Status> + Send + Sync>;

/// Which protocol a request came over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallTransport {
    /// gRPC (HTTP/2, `content-type: application/grpc`).
    Grpc,
    /// REST: JSON over HTTP/1.1 or HTTP/2, routed by the HTTP bindings.
    Rest,
}

/// What a [`RequestHook`] sees of a request.
#[derive(Debug)]
pub struct CallInfo<'a> {
    pub(crate) transport: CallTransport,
    pub(crate) method: Option<&'a str>,
    pub(crate) path: &'a str,
    pub(crate) headers: &'a http::HeaderMap,
    pub(crate) remote_addr: Option<SocketAddr>,
}

impl<'a> CallInfo<'a> {
    /// gRPC or REST.
    pub fn transport(&self) -> CallTransport {
        self.transport
    }

    /// The RPC as `package.Service/Method` (`google.longrunning.Operations/CancelOperation`),
    /// the same on both transports; `None` for a REST request that matches no binding (it will
    /// be answered 404 or 405) and for the discovery document.
    pub fn method(&self) -> Option<&'a str> {
        self.method
    }

    /// The request path as sent (`/google.longrunning.Operations/GetOperation` on gRPC,
    /// `/v1/projects/p/operations/X` on REST).
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The request headers: gRPC metadata (ASCII entries) or REST headers.
    pub fn headers(&self) -> &'a http::HeaderMap {
        self.headers
    }

    /// The peer's address, when the request came through [`serve_with`](super::serve_with)
    /// (not through a router served some other way).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }
}

/// The peer's address, put into each request's extensions by the accept loop.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RemoteAddr(pub(crate) SocketAddr);

/// Marks a request that came in over TLS, put into its extensions by the accept loop.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OverTls;
