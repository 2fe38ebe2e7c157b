//! What both transports share: the identifying headers, routing headers, endpoints and
//! error excerpts.

use http::{HeaderMap, HeaderValue};

use super::auth::Auth;
use crate::stub::CallOptions;
use crate::{Error, Result};

/// The value of `x-goog-api-client`: the language (with the crate's minimum Rust version,
/// the closest thing to a compiler version a library knows) and eeops' version.
pub(crate) fn api_client_value() -> String {
    format!(
        "gl-rust/{} eeops/{}",
        env!("CARGO_PKG_RUST_VERSION"),
        env!("CARGO_PKG_VERSION")
    )
}

/// The default user agent, `eeops/<version>`; a caller's own goes in front of it.
pub(crate) fn user_agent(prefix: Option<&str>) -> String {
    let own = concat!("eeops/", env!("CARGO_PKG_VERSION"));
    match prefix {
        Some(p) if !p.trim().is_empty() => format!("{} {own}", p.trim()),
        _ => own.to_owned(),
    }
}

/// Headers every request carries besides credentials and routing.
#[derive(Debug, Clone)]
pub(crate) struct RequestHeaders {
    pub(crate) api_client: HeaderValue,
    pub(crate) user_agent: String,
}

impl RequestHeaders {
    pub(crate) fn new(user_agent_prefix: Option<&str>) -> Result<RequestHeaders> {
        let user_agent = user_agent(user_agent_prefix);
        HeaderValue::from_str(&user_agent).map_err(|_| {
            Error::config(format!(
                "user agent `{}` cannot be sent as a header",
                user_agent.escape_default()
            ))
        })?;
        let api_client = HeaderValue::from_str(&api_client_value())
            .map_err(|_| Error::config("x-goog-api-client value is not a valid header"))?;
        Ok(RequestHeaders {
            api_client,
            user_agent,
        })
    }

    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        headers.insert("x-goog-api-client", self.api_client.clone());
    }
}

/// `x-goog-request-params: name=<name, percent-encoded>`: every byte outside
/// `[-_.~0-9A-Za-z]` is escaped (so `/` is `%2F`, as Google's clients send it).
pub(crate) fn request_params(name: &str) -> std::result::Result<HeaderValue, String> {
    // Sent with every call: built in one buffer that becomes the header without a copy.
    let mut value = String::with_capacity(5 + name.len() + 8);
    value.push_str("name=");
    value.extend(crate::codec::encode_segment(name));
    HeaderValue::from_maybe_shared(bytes::Bytes::from(value))
        .map_err(|_| "the routing header cannot be built".to_owned())
}

/// The `x-goog-request-params` value for several routing parameters (`key=value&...`, values
/// encoded as [`request_params`] encodes a name); `None` when there are none.
pub(crate) fn routing_params(
    pairs: &[(&str, &str)],
) -> std::result::Result<Option<HeaderValue>, String> {
    match pairs {
        [] => Ok(None),
        [("name", name)] => request_params(name).map(Some),
        _ => {
            let value = pairs
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        percent_encoding::utf8_percent_encode(v, ROUTING_VALUE)
                    )
                })
                .collect::<Vec<_>>()
                .join("&");
            HeaderValue::from_str(&value)
                .map(Some)
                .map_err(|_| "the routing header cannot be built".to_owned())
        }
    }
}

/// What a routing value keeps unencoded: `[-_.~0-9A-Za-z]`.
const ROUTING_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The name of an RPC method, for messages.
pub(crate) trait RpcName: Copy {
    fn name(&self) -> &str;
}

impl RpcName for crate::stub::OperationsMethod {
    fn name(&self) -> &str {
        crate::stub::OperationsMethod::name(*self)
    }
}

impl RpcName for &crate::codegen::MethodInfo {
    fn name(&self) -> &str {
        crate::codegen::MethodInfo::name(self)
    }
}

impl RpcName for &str {
    fn name(&self) -> &str {
        self
    }
}

/// [`call_headers`] for any routing parameters (none, one or several).
pub(crate) async fn call_headers_routed(
    auth: &Auth,
    headers: &RequestHeaders,
    fixed: &[(http::HeaderName, HeaderValue)],
    routing: &[(&str, &str)],
    options: &CallOptions,
    what: &str,
) -> Result<HeaderMap> {
    let mut out = auth.headers().await?;
    for (name, value) in fixed {
        out.insert(name, value.clone());
    }
    headers.apply(&mut out);
    if let Some(value) = routing_params(routing).map_err(Error::invalid_request)? {
        out.insert("x-goog-request-params", value);
    }
    for (name, value) in options.headers() {
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::invalid_request(format!("`{name}` is not a header name")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| Error::invalid_request(format!("invalid value for {what} `{name}`")))?;
        out.append(name, value);
    }
    Ok(out)
}

/// The headers of one call, the same for both transports: the credentials' (and the quota
/// project), the transport's own `fixed` ones, `x-goog-api-client`, the routing header for
/// `routing_name`, then the caller's own from `options` (added, not replacing). `what` names
/// them in errors ("header" for REST, "metadata" for gRPC).
pub(crate) async fn call_headers(
    auth: &Auth,
    headers: &RequestHeaders,
    fixed: &[(http::HeaderName, HeaderValue)],
    routing_name: &str,
    options: &CallOptions,
    what: &str,
) -> Result<HeaderMap> {
    call_headers_routed(
        auth,
        headers,
        fixed,
        &[("name", routing_name)],
        options,
        what,
    )
    .await
}

/// The target of the one-line-per-call log events (DEBUG) and of the headers (TRACE).
pub(crate) const CALL_TARGET: &str = "eeops::call";

/// Headers whose values are never logged.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-goog-api-key",
    "cookie",
    "set-cookie",
];

/// Headers as one log line, `name: value; ...`, with credentials replaced by `<redacted>`
/// and other values escaped (a header may hold anything a server sent).
pub(crate) fn redacted_headers(headers: &HeaderMap) -> String {
    let mut out = String::new();
    for (name, value) in headers {
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(name.as_str());
        out.push_str(": ");
        if SECRET_HEADERS.contains(&name.as_str()) {
            out.push_str("<redacted>");
        } else {
            out.extend(
                String::from_utf8_lossy(value.as_bytes())
                    .chars()
                    .flat_map(char::escape_debug),
            );
        }
    }
    out
}

/// Whether headers are logged (TRACE on [`CALL_TARGET`]): they are only formatted then.
pub(crate) fn headers_logged() -> bool {
    tracing::enabled!(target: CALL_TARGET, tracing::Level::TRACE)
}

/// At most 200 characters of a body, for error messages: control characters become spaces,
/// and a cut is marked with `…`.
pub(crate) fn excerpt(body: &[u8]) -> String {
    const MAX_CHARS: usize = 200;
    let head = &body[..body.len().min(MAX_CHARS * 4)];
    let text = String::from_utf8_lossy(head);
    let mut out: String = text
        .chars()
        .take(MAX_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > MAX_CHARS || body.len() > head.len() {
        out.push('…');
    }
    format!("{:?}", out.trim())
}

/// A parsed endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) https: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// Empty, or `/prefix` without a trailing `/`.
    pub(crate) prefix: String,
    pub(crate) loopback: bool,
    /// The scheme was chosen by eeops (the endpoint was written `host:port`).
    pub(crate) scheme_implied: bool,
}

/// Whether a host (a name, an IPv4 address, or an IPv6 address with or without brackets) is
/// loopback: `localhost`, 127.0.0.0/8, `::1`, or an IPv4-mapped loopback (`::ffff:127.0.0.1`).
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => bare.eq_ignore_ascii_case("localhost") || bare.eq_ignore_ascii_case("localhost."),
    }
}

/// Gives `host:port` (no scheme) the scheme it means: `http://` for a loopback host, whose
/// servers are local emulators, and `https://` for every other host. Text with a scheme is
/// returned as it is; the flag says whether a scheme was added.
fn with_implied_scheme(endpoint: &str) -> (std::borrow::Cow<'_, str>, bool) {
    if endpoint.contains("://") {
        return (endpoint.into(), false);
    }
    // The host ends at the first `/` (a path prefix) and, outside brackets, at the last `:`.
    let authority = endpoint.split('/').next().unwrap_or_default();
    let host = if authority.starts_with('[') {
        authority.split_once(']').map_or(authority, |(h, _)| h)
    } else {
        authority.rsplit_once(':').map_or("", |(h, _)| h)
    };
    let scheme = if is_loopback_host(host) {
        "http"
    } else {
        "https"
    };
    (format!("{scheme}://{endpoint}").into(), true)
}

impl Endpoint {
    /// Parses `scheme://host[:port][/prefix]`, or `host:port` (see [`with_implied_scheme`]).
    pub(crate) fn parse(endpoint: &str) -> Result<Endpoint> {
        let trimmed = endpoint.trim();
        let (full, scheme_implied) = with_implied_scheme(trimmed);
        // Without a scheme, a port is what makes an address of it rather than a stray word.
        let authority = trimmed.split('/').next().unwrap_or_default();
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(_, port)| !port.is_empty() && !port.contains(']'));
        if scheme_implied && !has_port {
            return Err(Error::config(format!(
                "invalid endpoint `{}`: expected host:port, https://host[:port] or http://127.0.0.1:port",
                endpoint.escape_default()
            )));
        }
        let url = reqwest::Url::parse(&full).map_err(|e| {
            Error::config(format!(
                "invalid endpoint `{}` ({e}); expected host:port, https://host[:port] or http://127.0.0.1:port",
                endpoint.escape_default()
            ))
        })?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => {
                return Err(Error::config(format!(
                    "endpoint `{}`: scheme `{other}` is not supported (use https://, http://, or host:port)",
                    endpoint.escape_default()
                )));
            }
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::config(format!(
                "endpoint `{}`: credentials in the URL are not supported",
                url.host_str().unwrap_or_default()
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::config(format!(
                "endpoint `{}`: a query or fragment is not supported",
                endpoint.escape_default()
            )));
        }
        let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
            return Err(Error::config(format!(
                "endpoint `{}` has no host",
                endpoint.escape_default()
            )));
        };
        let host = host.to_owned();
        let loopback = is_loopback_host(&host);
        let port = url
            .port_or_known_default()
            .unwrap_or(if https { 443 } else { 80 });
        let prefix = url.path().trim_end_matches('/').to_owned();
        Ok(Endpoint {
            https,
            host,
            port,
            prefix,
            loopback,
            scheme_implied,
        })
    }

    /// How the endpoint was read, for logs: e.g. `127.0.0.1:8080 means http://127.0.0.1:8080
    /// (loopback: plaintext)`.
    pub(crate) fn explain(&self, written: &str) -> String {
        let why = match (self.scheme_implied, self.https, self.loopback) {
            (true, false, _) => " (no scheme, loopback host: plaintext)",
            (true, true, _) => " (no scheme, not a loopback host: TLS)",
            (false, false, true) => " (loopback: plaintext)",
            (false, false, false) => " (plaintext, explicitly allowed)",
            (false, true, _) => " (TLS)",
        };
        format!(
            "endpoint `{}` means {}{why}",
            written.escape_default(),
            self.base()
        )
    }

    /// `scheme://host:port` followed by the path prefix.
    pub(crate) fn base(&self) -> String {
        format!("{}{}", self.origin(), self.prefix)
    }

    /// `scheme://host:port`.
    pub(crate) fn origin(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let e = Endpoint::parse("http://127.0.0.1:8080").unwrap();
        assert!(e.loopback && !e.https);
        assert_eq!(e.base(), "http://127.0.0.1:8080");
        let e = Endpoint::parse("https://earthengine.googleapis.com/").unwrap();
        assert!(!e.loopback && e.https);
        assert_eq!(e.port, 443);
        assert_eq!(e.prefix, "");
        let e = Endpoint::parse("http://[::1]:9/api/").unwrap();
        assert!(e.loopback);
        assert_eq!(e.base(), "http://[::1]:9/api");
        let e = Endpoint::parse("http://[::ffff:127.0.0.1]:9").unwrap();
        assert!(e.loopback, "IPv4-mapped loopback");
        let e = Endpoint::parse("http://[::ffff:10.0.0.1]:9").unwrap();
        assert!(!e.loopback);
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(
            Endpoint::parse("http://u:secret@h/")
                .unwrap_err()
                .to_string()
                .find("secret")
                .is_none()
        );
    }

    #[test]
    fn endpoints_without_a_scheme() {
        for (written, base) in [
            ("127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("127.1.2.3:9", "http://127.1.2.3:9"),
            ("localhost:8080", "http://localhost:8080"),
            ("LOCALHOST:8080", "http://localhost:8080"),
            ("[::1]:8080", "http://[::1]:8080"),
            ("[::ffff:127.0.0.1]:8080", "http://[::ffff:7f00:1]:8080"),
            (
                "earthengine.googleapis.com:443",
                "https://earthengine.googleapis.com:443",
            ),
            ("example.com:8443", "https://example.com:8443"),
            ("10.0.0.1:80", "https://10.0.0.1:80"),
            ("[2001:db8::1]:443", "https://[2001:db8::1]:443"),
            (
                "localhost.example.com:80",
                "https://localhost.example.com:80",
            ),
            ("127.0.0.1:8080/api", "http://127.0.0.1:8080/api"),
        ] {
            let e = Endpoint::parse(written).unwrap_or_else(|e| panic!("{written}: {e}"));
            assert_eq!(e.base(), base, "{written}");
            assert!(e.scheme_implied);
            assert!(e.explain(written).contains(base), "{}", e.explain(written));
        }
        let e = Endpoint::parse("http://[::ffff:127.0.0.1]:1").unwrap();
        assert!(e.loopback && !e.scheme_implied);
        assert!(!Endpoint::parse("https://x:1").unwrap().scheme_implied);
        assert!(Endpoint::parse("localhost:notaport").is_err());
        for no_port in [
            "earthengine",
            "earthengine.googleapis.com",
            "[::1]",
            "localhost:",
            "[::1]/x",
        ] {
            let err = Endpoint::parse(no_port).unwrap_err();
            assert!(
                err.message().contains("expected host:port"),
                "{no_port}: {err}"
            );
        }
        assert!(Endpoint::parse(":8080").is_err());
    }

    #[test]
    fn routing_header_escapes_all_but_unreserved() {
        let header = request_params("projects/my-p/operations/x:y é~_.").unwrap();
        assert_eq!(
            header.to_str().unwrap(),
            "name=projects%2Fmy-p%2Foperations%2Fx%3Ay%20%C3%A9~_."
        );
        proptest::proptest!(|(name in "\\PC{0,40}")| {
            let header = request_params(&name).unwrap();
            let text = header.to_str().unwrap();
            let value = text.strip_prefix("name=").unwrap();
            proptest::prop_assert!(value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)));
            let back = crate::codec::decode_strict(value, false, |_| false).unwrap();
            proptest::prop_assert_eq!(back, name.as_str());
        });
    }

    #[test]
    fn secrets_are_not_logged() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer abc.secret"),
        );
        h.insert("x-goog-user-project", HeaderValue::from_static("q"));
        h.insert("x-odd", HeaderValue::from_static("a\tb"));
        let line = redacted_headers(&h);
        assert!(!line.contains("secret"), "{line}");
        assert_eq!(
            line,
            "authorization: <redacted>; x-goog-user-project: q; x-odd: a\\tb"
        );
    }

    #[test]
    fn routing_header_and_excerpt() {
        assert_eq!(
            request_params("projects/p/operations/a b").unwrap(),
            "name=projects%2Fp%2Foperations%2Fa%20b"
        );
        let long = "x".repeat(1000);
        let ex = excerpt(long.as_bytes());
        assert!(ex.chars().count() <= 204, "{ex}");
        assert!(ex.ends_with("…\""));
        assert_eq!(excerpt(b"<h1>\nBad</h1>"), "\"<h1> Bad</h1>\"");
    }
}
