//! Google's HTTP batch endpoint, `POST /batch`: many REST calls in one `multipart/mixed` request.
//!
//! Google's clients (the Earth Engine JavaScript client's `BatchCall`, the discovery-based
//! Python clients through the discovery document's `"batchPath": "batch"`) send one request
//! whose body is `multipart/mixed`; each part is `Content-Type: application/http`, carries a
//! `Content-ID`, and holds one whole HTTP request (request line, headers, blank line, body).
//! Every part is answered through the same REST handler as a plain request, and the reply is
//! `multipart/mixed` too: one `application/http` part per request part, in the same order,
//! with `Content-ID: <response-ID>` (ID being the request part's Content-ID) and the part's
//! own status line, headers and JSON body.
//!
//! The framing is read with `multer` (a streaming multipart parser with size limits) and each
//! embedded request with `httparse`.
//!
//! Choices, where Google documents none or its rule needed reading:
//! * **Headers.** An embedded request carries its own headers. As Google documents for its batch
//!   endpoints, headers of the outer request apply to every part that does not set the same
//!   header itself — `authorization`, `x-goog-user-project`, `x-goog-api-client`,
//!   `user-agent`, `host`... — except the `content-*` headers, `mime-version` and the
//!   connection-level ones (`connection`, `transfer-encoding`, `te`, `trailer`, `upgrade`,
//!   `expect`, `keep-alive`, `proxy-*`), which describe the outer request only.
//! * **Limits.** At most [`MAX_BATCH_PARTS`] parts (the number Google documents),
//!   [`MAX_BATCH_PART_BYTES`] per part, [`MAX_BATCH_BODY_BYTES`] in all. Going over any of them
//!   answers the whole batch with HTTP 400 `INVALID_ARGUMENT` in Google's JSON error shape,
//!   and no part is run.
//! * **Line ends.** MIME wants CRLF; google-api-python-client frames its batches with bare LFs
//!   (and Google's servers read them), so a body whose first line ends with a bare LF is read
//!   with every bare LF taken as CRLF.
//! * **Per-part errors.** A part that is not `application/http` (or not `binary`, `8bit` or
//!   `7bit` encoded), whose embedded request cannot be parsed or holds less body than its
//!   `Content-Length`, or that is itself a batch (nesting is refused) is answered in its own slot
//!   with HTTP 400 and Google's JSON error; the other parts run as usual. A part without a
//!   `Content-ID` is answered in its slot without one.
//! * **Order.** Parts may run concurrently (at most 16 at a time, so one long `:wait` does
//!   not hold the others back), as Google allows; the answers come in request order. A batch
//!   that both cancels and reads one operation may see either order.
//! * **Path.** Only `/batch`: Google's Earth Engine clients use no other batch path.

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt as _;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri};
use rand::Rng as _;
use rand::distr::Alphanumeric;

use super::rest::{MAX_BODY_BYTES, RestError, RestService};
use crate::pb::google::rpc::Code;

/// The path of the batch endpoint (Google's `batchPath` is `batch`, under the root URL).
pub const BATCH_PATH: &str = "/batch";

/// The most parts one batch may hold (Google documents the same limit for its batch
/// endpoints); a batch with more is refused whole.
pub const MAX_BATCH_PARTS: usize = 1000;

/// The largest part (its embedded request line, headers and body) a batch may hold: the REST
/// body limit [`MAX_BODY_BYTES`](super::MAX_BODY_BYTES) plus 64 KiB for the request line and
/// headers. A batch with a larger part is refused whole.
pub const MAX_BATCH_PART_BYTES: usize = MAX_BODY_BYTES + 64 * 1024;

/// The largest batch body; a larger one is refused whole.
pub const MAX_BATCH_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How many parts of one batch run at the same time.
const PART_CONCURRENCY: usize = 16;

/// The most headers an embedded request may carry.
const MAX_PART_HEADERS: usize = 64;

/// The largest answer of one part that is copied into the reply.
const MAX_PART_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// Whether `req` is for the batch endpoint.
pub(crate) fn is_batch(req: &Request) -> bool {
    req.uri().path() == BATCH_PATH
}

/// One part, read and checked: its Content-ID, and the request to run or the error to answer.
struct Part {
    id: Option<String>,
    request: Result<Request, RestError>,
}

/// Answers one batch request; never fails (errors are JSON responses).
pub(crate) async fn handle(rest: &RestService, req: Request) -> Response {
    match run(rest, req).await {
        Ok(resp) => resp,
        Err(e) => e.into_plain_response(),
    }
}

async fn run(rest: &RestService, req: Request) -> Result<Response, RestError> {
    let (head, body) = req.into_parts();
    if head.method != Method::POST {
        return Err(RestError::new(
            Code::InvalidArgument,
            format!(
                "method {} is not allowed for {BATCH_PATH}: a batch is a POST",
                head.method
            ),
        )
        .with_http(StatusCode::METHOD_NOT_ALLOWED)
        .with_allow("POST"));
    }
    let boundary = boundary_of(&head.headers)?;
    if let Some(len) = head
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > MAX_BATCH_BODY_BYTES as u64
    {
        return Err(body_too_large(Some(len)));
    }
    let inherited = inherited_headers(&head.headers);

    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(MAX_BATCH_BODY_BYTES as u64)
            .per_field(MAX_BATCH_PART_BYTES as u64),
    );
    let body = crlf_framing(body.into_data_stream());
    let mut multipart = multer::Multipart::with_constraints(body, boundary, constraints);
    let mut parts = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        if parts.len() == MAX_BATCH_PARTS {
            return Err(RestError::new(
                Code::InvalidArgument,
                format!("a batch holds at most {MAX_BATCH_PARTS} parts; this one has more"),
            ));
        }
        let index = parts.len();
        let headers = field.headers().clone();
        let bytes = field.bytes().await.map_err(multipart_error)?;
        parts.push(read_part(index, &headers, &bytes, &inherited));
    }
    if parts.is_empty() {
        return Err(RestError::new(
            Code::InvalidArgument,
            "the batch holds no parts: send one application/http part per request",
        ));
    }
    tracing::debug!(parts = parts.len(), "batch");

    let answers: Vec<(Option<String>, Response)> = futures::stream::iter(parts)
        .map(|part| async move {
            let resp = match part.request {
                Ok(req) => rest.clone().handle(req).await,
                Err(e) => e.into_plain_response(),
            };
            (part.id, resp)
        })
        .buffered(PART_CONCURRENCY)
        .collect()
        .await;

    // A random 32-character boundary: answers cannot contain it by chance, and no caller can
    // know it in advance to put it in a name that an error message repeats.
    let suffix: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    let boundary = format!("batch_{suffix}");
    let mut out = Vec::with_capacity(answers.len() * 1024);
    for (id, resp) in answers {
        write_answer(&mut out, &boundary, id.as_deref(), resp).await;
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());

    let mut resp = Response::new(Body::from(out));
    let content_type = HeaderValue::from_str(&format!("multipart/mixed; boundary={boundary}"))
        .map_err(|e| RestError::new(Code::Internal, format!("cannot write the reply: {e}")))?;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    Ok(resp)
}

/// The body with CRLF line ends if it was framed with bare LFs.
///
/// MIME requires CRLF, and so does `multer`; google-api-python-client (behind earthengine-api's
/// discovery-based calls) writes its batches with bare LF line ends throughout, and Google's
/// servers read them. The first line of the body decides: if it ends with a bare LF, every bare
/// LF in the body becomes CRLF (in the JSON bodies such clients embed, a raw LF can only be
/// whitespace); otherwise the body passes through untouched.
fn crlf_framing<S>(body: S) -> impl futures::Stream<Item = Result<Bytes, axum::Error>> + Send
where
    S: futures::Stream<Item = Result<Bytes, axum::Error>> + Send + Unpin,
{
    futures::stream::unfold(
        (body, LineEnds::default(), false),
        |(mut body, mut ends, finished)| async move {
            if finished {
                return None;
            }
            loop {
                match body.next().await {
                    Some(Ok(chunk)) => {
                        if let Some(out) = ends.push(chunk) {
                            return Some((Ok(out), (body, ends, false)));
                        }
                    }
                    Some(Err(e)) => return Some((Err(e), (body, ends, true))),
                    None => return ends.finish().map(|out| (Ok(out), (body, ends, true))),
                }
            }
        },
    )
}

/// The state of [`crlf_framing`].
#[derive(Default)]
struct LineEnds {
    /// Whether the body is framed with bare LFs; `None` until its first line is seen.
    bare_lf: Option<bool>,
    /// The start of the body, held until its first line end.
    pending: Vec<u8>,
    /// Whether the last byte seen was a CR.
    after_cr: bool,
}

impl LineEnds {
    /// The longest first line looked at; a body whose first line is longer passes through.
    const FIRST_LINE_MAX: usize = 4096;

    fn push(&mut self, chunk: Bytes) -> Option<Bytes> {
        match self.bare_lf {
            Some(false) => Some(chunk),
            Some(true) => Some(self.expand(&chunk)),
            None => {
                self.pending.extend_from_slice(&chunk);
                let decided = match self.pending.iter().position(|&b| b == b'\n') {
                    Some(i) => i == 0 || self.pending[i - 1] != b'\r',
                    None if self.pending.len() > Self::FIRST_LINE_MAX => false,
                    None => return None,
                };
                self.bare_lf = Some(decided);
                let held = Bytes::from(std::mem::take(&mut self.pending));
                self.push(held)
            }
        }
    }

    fn finish(&mut self) -> Option<Bytes> {
        if self.pending.is_empty() {
            return None;
        }
        Some(Bytes::from(std::mem::take(&mut self.pending)))
    }

    fn expand(&mut self, chunk: &[u8]) -> Bytes {
        let mut out = Vec::with_capacity(chunk.len() + chunk.len() / 16);
        for &b in chunk {
            if b == b'\n' && !self.after_cr {
                out.push(b'\r');
            }
            out.push(b);
            self.after_cr = b == b'\r';
        }
        Bytes::from(out)
    }
}

/// The boundary of a `multipart/mixed` content-type.
fn boundary_of(headers: &HeaderMap) -> Result<String, RestError> {
    let refuse = |what: &str| {
        RestError::new(
            Code::InvalidArgument,
            format!("a batch request needs `Content-Type: multipart/mixed; boundary=...`; {what}"),
        )
    };
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Err(refuse("this one has no content-type"));
    };
    let text = ct
        .to_str()
        .map_err(|_| refuse("this one's content-type is not text"))?;
    let mime: mime::Mime = text
        .parse()
        .map_err(|e| refuse(&format!("cannot read content-type `{text}`: {e}")))?;
    if mime.type_() != mime::MULTIPART || mime.subtype() != "mixed" {
        return Err(refuse(&format!("got `{text}`")));
    }
    match mime.get_param(mime::BOUNDARY) {
        Some(b) if !b.as_str().is_empty() => Ok(b.as_str().to_owned()),
        _ => Err(refuse(&format!("`{text}` names no boundary"))),
    }
}

fn body_too_large(len: Option<u64>) -> RestError {
    let size = len.map_or_else(String::new, |l| format!(" of {l} bytes"));
    RestError::new(
        Code::InvalidArgument,
        format!("the batch body{size} is larger than {MAX_BATCH_BODY_BYTES} bytes"),
    )
}

fn multipart_error(e: multer::Error) -> RestError {
    match e {
        multer::Error::StreamSizeExceeded { .. } => body_too_large(None),
        multer::Error::FieldSizeExceeded { .. } => RestError::new(
            Code::InvalidArgument,
            format!("a part of the batch is larger than {MAX_BATCH_PART_BYTES} bytes"),
        ),
        other => RestError::new(
            Code::InvalidArgument,
            format!("malformed multipart/mixed batch body: {other}"),
        ),
    }
}

/// The outer headers that apply to parts which do not set them.
fn inherited_headers(outer: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in outer {
        let n = name.as_str();
        let outer_only = n.starts_with("content-")
            || n.starts_with("proxy-")
            || matches!(
                n,
                "connection"
                    | "keep-alive"
                    | "transfer-encoding"
                    | "te"
                    | "trailer"
                    | "upgrade"
                    | "expect"
                    | "mime-version"
            );
        if !outer_only {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Reads one part: its Content-ID, and its embedded request (or the error to answer instead).
fn read_part(index: usize, headers: &HeaderMap, bytes: &[u8], inherited: &HeaderMap) -> Part {
    let id = headers.get("content-id").map(|v| {
        let text = String::from_utf8_lossy(v.as_bytes());
        let text = text.trim();
        text.strip_prefix('<')
            .and_then(|t| t.strip_suffix('>'))
            .unwrap_or(text)
            .to_owned()
    });
    let label = match &id {
        Some(id) => format!("part {} (Content-ID `{id}`)", index + 1),
        None => format!("part {}", index + 1),
    };
    let request = embedded_request(headers, bytes, inherited).map_err(|message| {
        RestError::new(Code::InvalidArgument, format!("batch {label}: {message}"))
    });
    Part { id, request }
}

fn embedded_request(
    headers: &HeaderMap,
    bytes: &[u8],
    inherited: &HeaderMap,
) -> Result<Request, String> {
    match headers.get(header::CONTENT_TYPE) {
        None => return Err("has no Content-Type: each part must be application/http".into()),
        Some(ct) => {
            let text = String::from_utf8_lossy(ct.as_bytes());
            let essence = text.split(';').next().unwrap_or_default().trim();
            if !essence.eq_ignore_ascii_case("application/http") {
                return Err(format!(
                    "has Content-Type `{text}`: each part must be application/http"
                ));
            }
        }
    }
    if let Some(cte) = headers.get("content-transfer-encoding") {
        let text = String::from_utf8_lossy(cte.as_bytes());
        if !["binary", "8bit", "7bit"]
            .iter()
            .any(|ok| text.trim().eq_ignore_ascii_case(ok))
        {
            return Err(format!(
                "has Content-Transfer-Encoding `{text}`: only binary parts are read"
            ));
        }
    }

    let mut slots = [httparse::EMPTY_HEADER; MAX_PART_HEADERS];
    let mut parsed = httparse::Request::new(&mut slots);
    let head_len = match parsed.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            // A request without a body may end right at the boundary, whose leading CRLF is
            // part of the delimiter: read it as if its blank line were there. The extra bytes
            // become a body of whitespace, which the REST side reads as no body.
            return complete_with_blank_line(bytes, inherited);
        }
        Err(e) => return Err(format!("cannot read its embedded HTTP request: {e}")),
    };
    build_request(&parsed, &bytes[head_len..], inherited)
}

fn complete_with_blank_line(bytes: &[u8], inherited: &HeaderMap) -> Result<Request, String> {
    let mut padded = bytes.to_vec();
    padded.extend_from_slice(b"\r\n\r\n");
    let mut slots = [httparse::EMPTY_HEADER; MAX_PART_HEADERS];
    let mut parsed = httparse::Request::new(&mut slots);
    match parsed.parse(&padded) {
        Ok(httparse::Status::Complete(n)) => {
            let body = padded.get(n..).unwrap_or_default();
            build_request(&parsed, body, inherited)
        }
        Ok(httparse::Status::Partial) => {
            Err("its embedded HTTP request is incomplete (no request line and headers)".into())
        }
        Err(e) => Err(format!("cannot read its embedded HTTP request: {e}")),
    }
}

fn build_request(
    parsed: &httparse::Request<'_, '_>,
    rest: &[u8],
    inherited: &HeaderMap,
) -> Result<Request, String> {
    let method = parsed.method.unwrap_or_default();
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| format!("has an invalid method `{method}`"))?;
    let target = parsed.path.unwrap_or_default();
    let uri: Uri = target
        .parse()
        .map_err(|e| format!("has an invalid request target `{target}`: {e}"))?;
    // An absolute URI (`https://host/v1/...`) is read for its path and query only.
    let uri = match uri.path_and_query() {
        Some(pq) if uri.scheme().is_some() => Uri::from(pq.clone()),
        _ => uri,
    };
    if !uri.path().starts_with('/') {
        return Err(format!(
            "has request target `{target}`: it must be a path starting with `/`"
        ));
    }
    if uri.path() == BATCH_PATH || uri.path().starts_with("/batch/") {
        return Err(format!(
            "is itself a batch request (`{} {}`): batches cannot be nested",
            method,
            uri.path()
        ));
    }

    let mut headers = HeaderMap::new();
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| format!("has an invalid header name `{}`", h.name))?;
        let value = HeaderValue::from_bytes(h.value)
            .map_err(|_| format!("has an invalid value for header `{}`", h.name))?;
        headers.append(name, value);
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return Err("uses Transfer-Encoding: an embedded request's body is sent as is".into());
    }
    let body = match headers.get(header::CONTENT_LENGTH) {
        Some(v) => {
            let declared = v
                .to_str()
                .ok()
                .and_then(|t| t.trim().parse::<usize>().ok())
                .ok_or_else(|| {
                    format!(
                        "has an invalid Content-Length `{}`",
                        String::from_utf8_lossy(v.as_bytes())
                    )
                })?;
            rest.get(..declared).ok_or_else(|| {
                format!(
                    "declares Content-Length {declared} but holds {} bytes of body",
                    rest.len()
                )
            })?
        }
        None => rest,
    };
    for name in inherited.keys() {
        if !headers.contains_key(name) {
            for value in inherited.get_all(name) {
                headers.append(name.clone(), value.clone());
            }
        }
    }

    let mut req = Request::new(Body::from(body.to_vec()));
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    Ok(req)
}

/// Appends one answer part: the part headers, then the embedded response.
async fn write_answer(out: &mut Vec<u8>, boundary: &str, id: Option<&str>, resp: Response) {
    let (head, body) = resp.into_parts();
    let (head, body) = match axum::body::to_bytes(body, MAX_PART_ANSWER_BYTES).await {
        Ok(bytes) => (head, bytes),
        Err(e) => {
            let err = RestError::new(Code::Internal, format!("cannot read the answer: {e}"));
            let (head, body) = err.into_plain_response().into_parts();
            let bytes = axum::body::to_bytes(body, MAX_PART_ANSWER_BYTES)
                .await
                .unwrap_or_default();
            (head, bytes)
        }
    };
    out.extend_from_slice(format!("--{boundary}\r\nContent-Type: application/http\r\n").as_bytes());
    if let Some(id) = id {
        out.extend_from_slice(format!("Content-ID: <response-{id}>\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    // The status line always has the space after the code, reason phrase or not.
    let status = head.status;
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {} {}\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or_default()
        )
        .as_bytes(),
    );
    for (name, value) in &head.headers {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `body` through [`LineEnds`] cut into chunks of `size` bytes.
    fn rewrite(body: &[u8], size: usize) -> Vec<u8> {
        let mut ends = LineEnds::default();
        let mut out = Vec::new();
        for chunk in body.chunks(size) {
            if let Some(b) = ends.push(Bytes::copy_from_slice(chunk)) {
                out.extend_from_slice(&b);
            }
        }
        if let Some(b) = ends.finish() {
            out.extend_from_slice(&b);
        }
        out
    }

    #[test]
    fn line_ends_whatever_the_chunks() {
        let lf =
            b"--b\nContent-Type: application/http\n\nGET /v1/x HTTP/1.1\n\n{\"a\":\n1}\n--b--\n";
        let crlf = b"--b\r\nContent-Type: application/http\r\n\r\nGET /v1/x HTTP/1.1\r\n\r\n{\"a\":\r\n1}\r\n--b--\r\n";
        // A CRLF body with a bare LF inside a part is left exactly as it is.
        let mixed = b"--b\r\nContent-Type: application/http\r\n\r\nPOST /v1/x HTTP/1.1\r\n\r\n{\n}\r\n--b--\r\n";
        let long_first_line = [b'x'; LineEnds::FIRST_LINE_MAX + 10];
        for size in [1, 2, 3, 7, 64, 4096] {
            assert_eq!(rewrite(lf, size), crlf, "LF body in chunks of {size}");
            assert_eq!(rewrite(crlf, size), crlf, "CRLF body in chunks of {size}");
            assert_eq!(
                rewrite(mixed, size),
                mixed,
                "mixed body in chunks of {size}"
            );
            assert_eq!(rewrite(b"no line end", size), b"no line end");
            assert_eq!(rewrite(&long_first_line, size), long_first_line);
        }
        assert_eq!(rewrite(b"", 1), b"");
    }
}
