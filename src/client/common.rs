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
    // Sent with every call: one allocation, a byte loop, and no second copy into the header.
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut value = Vec::with_capacity(5 + name.len() + 8);
    value.extend_from_slice(b"name=");
    for &b in name.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            value.push(b);
        } else {
            value.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
    HeaderValue::from_maybe_shared(bytes::Bytes::from(value))
        .map_err(|_| "the routing header cannot be built".to_owned())
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
    let mut out = auth.headers().await?;
    for (name, value) in fixed {
        out.insert(name, value.clone());
    }
    headers.apply(&mut out);
    out.insert(
        "x-goog-request-params",
        request_params(routing_name).map_err(Error::invalid_request)?,
    );
    for (name, value) in options.headers() {
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::invalid_request(format!("`{name}` is not a header name")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| Error::invalid_request(format!("invalid value for {what} `{name}`")))?;
        out.append(name, value);
    }
    Ok(out)
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

/// Whether `ip` is a loopback address, IPv4-mapped IPv6 (`::ffff:127.0.0.1`) included.
pub(crate) fn is_loopback(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
    }
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
}

impl Endpoint {
    pub(crate) fn parse(endpoint: &str) -> Result<Endpoint> {
        let url = reqwest::Url::parse(endpoint).map_err(|e| {
            Error::config(format!(
                "invalid endpoint `{endpoint}` ({e}); expected e.g. https://earthengine.googleapis.com or http://127.0.0.1:8080"
            ))
        })?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => {
                return Err(Error::config(format!(
                    "endpoint `{endpoint}`: scheme `{other}` is not supported (use https:// or http://)"
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
                "endpoint `{endpoint}`: a query or fragment is not supported"
            )));
        }
        let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
            return Err(Error::config(format!("endpoint `{endpoint}` has no host")));
        };
        let host = host.to_owned();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let loopback = match bare.parse::<std::net::IpAddr>() {
            Ok(ip) => is_loopback(ip),
            Err(_) => bare.eq_ignore_ascii_case("localhost"),
        };
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
        })
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
        assert!(Endpoint::parse("127.0.0.1:8080").is_err());
        assert!(
            Endpoint::parse("http://u:secret@h/")
                .unwrap_err()
                .to_string()
                .find("secret")
                .is_none()
        );
    }

    #[test]
    fn routing_header_matches_percent_encoding() {
        use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
        const PARAM_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'_')
            .remove(b'.')
            .remove(b'~');
        proptest::proptest!(|(name in "\\PC{0,40}")| {
            let expected = format!("name={}", utf8_percent_encode(&name, PARAM_ESCAPES));
            let header = request_params(&name).unwrap();
            proptest::prop_assert_eq!(header.to_str().unwrap(), expected);
        });
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
