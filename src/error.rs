//! One error type for both transports.
//!
//! An [`Error`] is either a `google.rpc.Status` the service answered with ([`ErrorKind::Service`],
//! whatever the transport), or something that happened on this side: a request refused before
//! anything was sent, a connection or transport failure, a deadline, an auth failure, or a
//! response that could not be decoded. Predicates such as [`Error::is_not_found`] and
//! [`Error::is_retryable`] answer the usual questions without matching on kinds.
//!
//! ```
//! use eeops::pb::google::rpc::{Code, Status};
//!
//! let err = eeops::Error::service(Status {
//!     code: Code::NotFound as i32,
//!     message: "no such operation".into(),
//!     details: vec![],
//! });
//! assert!(err.is_not_found());
//! assert!(!err.is_retryable());
//! assert_eq!(err.http_status(), Some(404));
//! ```

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use prost::Message as _;

use crate::pb::google::rpc::{self, Code, Status};

/// `Result` with eeops' [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The error of every eeops call, on either transport.
///
/// Opaque on purpose: ask it with [`Error::kind`], [`Error::status`] and the `is_*` predicates.
///
/// ```
/// use eeops::pb::google::rpc::Code;
/// use eeops::{Error, ErrorKind};
///
/// // What a service answers: a google.rpc.Status, with its code's HTTP status.
/// let err = Error::from_code(Code::NotFound, "operation not found");
/// assert_eq!(err.kind(), ErrorKind::Service);
/// assert!(err.is_not_found() && !err.is_retryable());
/// assert_eq!((err.code(), err.http_status()), (Some(Code::NotFound), Some(404)));
///
/// // Refused before anything was sent.
/// let err = Error::invalid_request("`tasks/1` is not an operation name");
/// assert!(err.is_invalid_request() && err.status().is_none());
/// assert!(Error::from_code(Code::Unavailable, "try later").is_retryable());
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    status: Option<Status>,
    http_status: Option<u16>,
    source: Option<BoxError>,
}

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The service answered with a `google.rpc.Status` (see [`Error::status`]).
    Service,
    /// The request was refused before anything was sent: a bad operation name, a request that
    /// does not fit its HTTP binding, a plain-HTTP endpoint that is not loopback.
    InvalidRequest,
    /// Connecting, or the connection itself, failed.
    Transport,
    /// A per-attempt or overall deadline passed.
    Timeout,
    /// Credentials could not be obtained or were refused by the credential source.
    Auth,
    /// The response could not be decoded (an HTML page from a proxy, truncated JSON, a wrong
    /// content-type, bytes that are not the expected message).
    Decode,
    /// The client was configured in a way that cannot work.
    Config,
}

impl Error {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                status: None,
                http_status: None,
                source: None,
            }),
        }
    }

    fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// An error carrying a `google.rpc.Status` from (or for) the service.
    ///
    /// A stub implementing [`crate::stub::Operations`] returns its service errors this way.
    pub fn service(status: Status) -> Self {
        let mut e = Self::new(ErrorKind::Service, status.message.clone());
        e.inner.http_status = Some(http_status_for_code(status.code));
        e.inner.status = Some(status);
        e
    }

    /// A service error from a code and a message, without details.
    ///
    /// ```
    /// let e = eeops::Error::from_code(eeops::pb::google::rpc::Code::Unimplemented, "no cancel here");
    /// assert!(e.is_unimplemented());
    /// ```
    pub fn from_code(code: Code, message: impl Into<String>) -> Self {
        Self::service(Status {
            code: code as i32,
            message: message.into(),
            details: Vec::new(),
        })
    }

    /// A service error as received over REST: the HTTP status is kept beside the Status.
    pub fn service_http(status: Status, http_status: u16) -> Self {
        let mut e = Self::service(status);
        e.inner.http_status = Some(http_status);
        e
    }

    /// The answer of a stub method that was not implemented.
    #[doc(hidden)]
    pub fn unimplemented_stub(method: &str) -> Self {
        Self::from_code(
            Code::Unimplemented,
            format!("{method} is not implemented by this stub"),
        )
    }

    /// A request refused before sending.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    /// A connection or transport failure.
    pub fn transport(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::new(ErrorKind::Transport, message).with_source(source)
    }

    /// A deadline that passed.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }

    /// A credentials failure.
    pub fn auth(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::new(ErrorKind::Auth, message).with_source(source)
    }

    /// No usable credentials, with the message that says what was tried (no cause).
    #[cfg(feature = "client")]
    pub(crate) fn no_credentials(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Auth, message)
    }

    /// A response that could not be decoded.
    pub fn decode(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Decode, message)
    }

    /// A response that could not be decoded, with the HTTP status it came with.
    pub fn decode_http(message: impl Into<String>, http_status: u16) -> Self {
        let mut e = Self::decode(message);
        e.inner.http_status = Some(http_status);
        e
    }

    /// A configuration that cannot work.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// Attaches an underlying cause.
    pub fn caused_by(self, source: impl Into<BoxError>) -> Self {
        self.with_source(source)
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The `google.rpc.Status` of a service error.
    pub fn status(&self) -> Option<&Status> {
        self.inner.status.as_ref()
    }

    /// The status code of a service error (`UNKNOWN` for a number this crate does not know).
    pub fn code(&self) -> Option<Code> {
        self.status()
            .map(|s| Code::try_from(s.code).unwrap_or(Code::Unknown))
    }

    /// The HTTP status the error came with (REST), or the one its code maps to.
    pub fn http_status(&self) -> Option<u16> {
        self.inner.http_status
    }

    /// The message: the service's for service errors, eeops' own otherwise.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The typed details of a service error, decoded from its `Any`s. Details of types eeops
    /// does not know come back as [`ErrorDetail::Other`].
    pub fn details(&self) -> Vec<ErrorDetail> {
        self.status()
            .map(|s| s.details.iter().map(ErrorDetail::from_any).collect())
            .unwrap_or_default()
    }

    /// The delay a `google.rpc.RetryInfo` detail asks for.
    pub fn retry_delay(&self) -> Option<Duration> {
        self.details().into_iter().find_map(|d| match d {
            ErrorDetail::RetryInfo(r) => r.retry_delay.and_then(|d| {
                let secs = u64::try_from(d.seconds).ok()?;
                let nanos = u32::try_from(d.nanos).ok()?;
                Some(Duration::new(secs, nanos))
            }),
            _ => None,
        })
    }

    fn has_code(&self, code: Code) -> bool {
        self.code() == Some(code)
    }

    /// The server does not implement the method (for cancel: the operation cannot be cancelled
    /// on this server).
    pub fn is_unimplemented(&self) -> bool {
        self.has_code(Code::Unimplemented)
    }

    /// The operation (or collection) does not exist.
    pub fn is_not_found(&self) -> bool {
        self.has_code(Code::NotFound)
    }

    /// The request was refused before anything was sent.
    pub fn is_invalid_request(&self) -> bool {
        self.inner.kind == ErrorKind::InvalidRequest
    }

    /// A deadline passed (ours, or `DEADLINE_EXCEEDED` from the service).
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == ErrorKind::Timeout || self.has_code(Code::DeadlineExceeded)
    }

    /// A credentials failure, or `UNAUTHENTICATED` / `PERMISSION_DENIED` from the service.
    pub fn is_auth(&self) -> bool {
        self.inner.kind == ErrorKind::Auth
            || self.has_code(Code::Unauthenticated)
            || self.has_code(Code::PermissionDenied)
    }

    /// A connection or transport failure.
    pub fn is_transport(&self) -> bool {
        self.inner.kind == ErrorKind::Transport
    }

    /// The response could not be decoded.
    pub fn is_decode(&self) -> bool {
        self.inner.kind == ErrorKind::Decode
    }

    /// Worth trying again: `UNAVAILABLE` from the service (HTTP 503), a connection failure,
    /// or an undecodable 502/503/504 answer (a proxy's or load balancer's error page: the
    /// service behind it was unavailable). All five Operations methods are safe to repeat
    /// (see the client's `retry` module).
    ///
    /// ```
    /// assert!(eeops::Error::decode_http("<html>Bad Gateway</html>", 502).is_retryable());
    /// assert!(!eeops::Error::decode_http("<html>Not Found</html>", 404).is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        match self.inner.kind {
            ErrorKind::Transport => true,
            ErrorKind::Decode => matches!(self.inner.http_status, Some(502..=504)),
            _ => self.has_code(Code::Unavailable),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("eeops::Error");
        d.field("kind", &self.inner.kind);
        if let Some(code) = self.code() {
            d.field("code", &code);
        }
        d.field("message", &self.inner.message);
        if let Some(h) = self.inner.http_status {
            d.field("http_status", &h);
        }
        if let Some(s) = &self.inner.status
            && !s.details.is_empty()
        {
            d.field("details", &self.details());
        }
        if let Some(src) = &self.inner.source {
            d.field("source", src);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.inner.kind, self.code()) {
            (ErrorKind::Service, Some(code)) => {
                write!(
                    f,
                    "{} ({}): {}",
                    code.as_str_name(),
                    code as i32,
                    self.inner.message
                )
            }
            (kind, _) => {
                let what = match kind {
                    ErrorKind::InvalidRequest => "invalid request",
                    ErrorKind::Transport => "transport error",
                    ErrorKind::Timeout => "deadline exceeded",
                    ErrorKind::Auth => "authentication error",
                    ErrorKind::Decode => "undecodable response",
                    ErrorKind::Config => "configuration error",
                    ErrorKind::Service => "service error",
                };
                write!(f, "{what}: {}", self.inner.message)?;
                // The whole chain of causes, each once (libraries often repeat their
                // source's text in their own).
                let mut written = self.inner.message.clone();
                let mut next: Option<&(dyn StdError + 'static)> = self
                    .inner
                    .source
                    .as_deref()
                    .map(|e| e as &(dyn StdError + 'static));
                let mut depth = 0;
                while let Some(src) = next {
                    let text = src.to_string();
                    if !text.is_empty() && !written.contains(&text) {
                        write!(f, ": {text}")?;
                        written.push_str(&text);
                    }
                    next = src.source();
                    depth += 1;
                    if depth > 16 {
                        break;
                    }
                }
                Ok(())
            }
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

impl From<tonic::Status> for Error {
    /// A gRPC status becomes a service error; its binary details (`grpc-status-details-bin`,
    /// an encoded `google.rpc.Status`) are kept when they decode.
    fn from(status: tonic::Status) -> Self {
        let details = if status.details().is_empty() {
            Vec::new()
        } else {
            Status::decode(status.details())
                .map(|s| s.details)
                .unwrap_or_default()
        };
        Self::service(Status {
            code: status.code() as i32,
            message: status.message().to_owned(),
            details,
        })
    }
}

impl From<&Error> for tonic::Status {
    fn from(e: &Error) -> Self {
        match e.status() {
            Some(s) => status_to_tonic(s),
            None => {
                let code = match e.kind() {
                    ErrorKind::InvalidRequest => tonic::Code::InvalidArgument,
                    ErrorKind::Timeout => tonic::Code::DeadlineExceeded,
                    ErrorKind::Auth => tonic::Code::Unauthenticated,
                    ErrorKind::Transport => tonic::Code::Unavailable,
                    _ => tonic::Code::Internal,
                };
                tonic::Status::new(code, e.to_string())
            }
        }
    }
}

/// Turns a `google.rpc.Status` into a tonic status carrying the full Status (details included)
/// in `grpc-status-details-bin`, as Google's servers do.
pub fn status_to_tonic(s: &Status) -> tonic::Status {
    let code = tonic::Code::from_i32(s.code);
    if s.details.is_empty() {
        tonic::Status::new(code, s.message.clone())
    } else {
        tonic::Status::with_details(code, s.message.clone(), s.encode_to_vec().into())
    }
}

/// A typed `google.rpc` error detail.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ErrorDetail {
    /// `google.rpc.ErrorInfo`
    ErrorInfo(rpc::ErrorInfo),
    /// `google.rpc.RetryInfo`
    RetryInfo(rpc::RetryInfo),
    /// `google.rpc.DebugInfo`
    DebugInfo(rpc::DebugInfo),
    /// `google.rpc.QuotaFailure`
    QuotaFailure(rpc::QuotaFailure),
    /// `google.rpc.PreconditionFailure`
    PreconditionFailure(rpc::PreconditionFailure),
    /// `google.rpc.BadRequest`
    BadRequest(rpc::BadRequest),
    /// `google.rpc.RequestInfo`
    RequestInfo(rpc::RequestInfo),
    /// `google.rpc.ResourceInfo`
    ResourceInfo(rpc::ResourceInfo),
    /// `google.rpc.Help`
    Help(rpc::Help),
    /// `google.rpc.LocalizedMessage`
    LocalizedMessage(rpc::LocalizedMessage),
    /// A detail of another type, or one that did not decode: kept as it came.
    Other(prost_types::Any),
}

impl ErrorDetail {
    /// Decodes one `Any` detail.
    ///
    /// ```
    /// use eeops::error::ErrorDetail;
    /// use eeops::pb::google::rpc::ErrorInfo;
    /// use prost::Message;
    ///
    /// let info = ErrorInfo { reason: "QUOTA".into(), domain: "earthengine.googleapis.com".into(), ..Default::default() };
    /// let any = prost_types::Any {
    ///     type_url: "type.googleapis.com/google.rpc.ErrorInfo".into(),
    ///     value: info.encode_to_vec(),
    /// };
    /// assert_eq!(ErrorDetail::from_any(&any), ErrorDetail::ErrorInfo(info));
    /// ```
    pub fn from_any(any: &prost_types::Any) -> Self {
        fn dec<M: prost::Message + Default>(any: &prost_types::Any) -> Option<M> {
            M::decode(any.value.as_slice()).ok()
        }
        let name = any.type_url.rsplit('/').next().unwrap_or_default();
        let decoded = match name {
            "google.rpc.ErrorInfo" => dec(any).map(Self::ErrorInfo),
            "google.rpc.RetryInfo" => dec(any).map(Self::RetryInfo),
            "google.rpc.DebugInfo" => dec(any).map(Self::DebugInfo),
            "google.rpc.QuotaFailure" => dec(any).map(Self::QuotaFailure),
            "google.rpc.PreconditionFailure" => dec(any).map(Self::PreconditionFailure),
            "google.rpc.BadRequest" => dec(any).map(Self::BadRequest),
            "google.rpc.RequestInfo" => dec(any).map(Self::RequestInfo),
            "google.rpc.ResourceInfo" => dec(any).map(Self::ResourceInfo),
            "google.rpc.Help" => dec(any).map(Self::Help),
            "google.rpc.LocalizedMessage" => dec(any).map(Self::LocalizedMessage),
            _ => None,
        };
        decoded.unwrap_or_else(|| Self::Other(any.clone()))
    }
}

/// The HTTP status Google's REST APIs answer with for a `google.rpc.Code` value.
///
/// ```
/// assert_eq!(eeops::error::http_status_for_code(12), 501); // UNIMPLEMENTED
/// assert_eq!(eeops::error::http_status_for_code(14), 503); // UNAVAILABLE
/// ```
pub fn http_status_for_code(code: i32) -> u16 {
    match Code::try_from(code).unwrap_or(Code::Unknown) {
        Code::Ok => 200,
        Code::Cancelled => 499,
        Code::Unknown | Code::Internal | Code::DataLoss => 500,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
        Code::DeadlineExceeded => 504,
        Code::NotFound => 404,
        Code::AlreadyExists | Code::Aborted => 409,
        Code::PermissionDenied => 403,
        Code::Unauthenticated => 401,
        Code::ResourceExhausted => 429,
        Code::Unimplemented => 501,
        Code::Unavailable => 503,
    }
}

/// The `google.rpc.Code` an HTTP status stands for, when a response carries no Status of its
/// own (a proxy's error page, say).
///
/// ```
/// use eeops::pb::google::rpc::Code;
/// assert_eq!(eeops::error::code_for_http_status(404), Code::NotFound);
/// assert_eq!(eeops::error::code_for_http_status(502), Code::Unavailable);
/// ```
pub fn code_for_http_status(status: u16) -> Code {
    match status {
        200..=299 => Code::Ok,
        400 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        409 => Code::Aborted,
        412 => Code::FailedPrecondition,
        416 => Code::OutOfRange,
        429 => Code::ResourceExhausted,
        499 => Code::Cancelled,
        501 => Code::Unimplemented,
        502..=503 => Code::Unavailable,
        504 => Code::DeadlineExceeded,
        500..=599 => Code::Internal,
        _ => Code::Unknown,
    }
}
