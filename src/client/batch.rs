//! Google's HTTP batch endpoint from the REST client: many calls in one `POST {base}/batch`.
//!
//! The request is `multipart/mixed`; each part is `Content-Type: application/http` with a
//! `Content-ID: <N>` (N counting from 1) and one embedded request (`POST /v1/...:cancel
//! HTTP/1.1`, its own `x-goog-request-params`, a blank line, no body). The outer request
//! carries the credentials and the other identifying headers once; Google's batch endpoints
//! apply them to every part. The reply is `multipart/mixed` too, one `application/http` part per
//! request with `Content-ID: <response-N>` holding the part's status line, headers and JSON
//! body; each part is read exactly as the answer of a single call would be.
//!
//! A server without the endpoint answers 404 (or 405/501): the transport remembers it and the
//! bulk calls send single requests from then on.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::HeaderValue;
use http::header::{CONTENT_TYPE, HeaderMap};
use rand::Rng as _;

use super::common::{CALL_TARGET, call_headers, excerpt, request_params};
use super::rest::{RestTransport, read_limited, reqwest_error, router};
use crate::stub::{CallOptions, OperationsMethod};
use crate::transcode::encode_name_request;
use crate::{Error, Result};

// 0: not known yet.
const SUPPORTED: u8 = 1;
const UNSUPPORTED: u8 = 2;

/// The most headers one answer part may carry.
const MAX_PART_HEADERS: usize = 64;

/// What a batch came to.
pub(crate) enum BatchReply<T> {
    /// The server has no batch endpoint: nothing was done.
    Unsupported,
    /// One result per name, in order.
    Parts(Vec<Result<T>>),
}

/// How a part's answer is read: method, HTTP status, content-type, body.
pub(crate) type PartDecoder<T> = fn(OperationsMethod, u16, &str, &[u8]) -> Result<T>;

impl RestTransport {
    /// Whether the server has the batch endpoint: `Some(false)` after it answered 404 (or
    /// 405/501) to one, `None` before any batch was sent.
    pub(crate) fn batch_support(&self) -> Option<bool> {
        match self.inner.batch_support.load(Ordering::Relaxed) {
            SUPPORTED => Some(true),
            UNSUPPORTED => Some(false),
            _ => None,
        }
    }

    /// Sends `method` (get, cancel or delete: a name only) for every name in one batch.
    ///
    /// `Err` is a failure of the whole batch (no connection, a timeout, a non-2xx answer to the
    /// batch itself, a reply that is not a readable `multipart/mixed`); then no part's outcome
    /// is known. Names that cannot be put on a path fail alone without being sent.
    pub(crate) async fn batch<T>(
        &self,
        method: OperationsMethod,
        names: &[String],
        options: &CallOptions,
        decode: PartDecoder<T>,
    ) -> Result<BatchReply<T>> {
        let inner = &*self.inner;
        let binding = router()?
            .find(method.full_name(), &inner.api_version)
            .ok_or_else(|| {
                Error::invalid_request(format!(
                    "{} has no REST binding for API version `{}`",
                    method.name(),
                    inner.api_version
                ))
            })?;
        // The path prefix of the endpoint, if any, is part of every embedded request's path.
        let prefix = reqwest::Url::parse(&inner.base)
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();

        let suffix: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(24)
            .map(char::from)
            .collect();
        let boundary = format!("eeops_batch_{suffix}");
        let mut body = Vec::with_capacity(names.len() * 200);
        // Index in `names` of each part sent, or the error of a name that was not.
        let mut slots: Vec<std::result::Result<usize, Error>> = Vec::with_capacity(names.len());
        let mut sent = 0usize;
        // The request line of each part sent, for the per-call log lines.
        let mut lines: Vec<(http::Method, String)> = Vec::with_capacity(names.len());
        for name in names {
            let parts = match encode_name_request(binding, name) {
                Some(Ok(parts)) if parts.body.is_none() => parts,
                Some(Err(e)) => {
                    slots.push(Err(Error::invalid_request(format!(
                        "{}: `{name}` cannot be sent: {e}",
                        method.name()
                    ))));
                    continue;
                }
                _ => {
                    return Err(Error::invalid_request(format!(
                        "{} cannot be batched: its binding takes more than a name",
                        method.name()
                    )));
                }
            };
            let routing = request_params(name).map_err(Error::invalid_request)?;
            sent += 1;
            slots.push(Ok(sent));
            lines.push((
                parts.method.clone(),
                format!("{prefix}{}", parts.path_and_query()),
            ));
            let head = format!(
                "--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <{sent}>\r\n\r\n{} {prefix}{} HTTP/1.1\r\nx-goog-request-params: ",
                parts.method,
                parts.path_and_query()
            );
            body.extend_from_slice(head.as_bytes());
            body.extend_from_slice(routing.as_bytes());
            body.extend_from_slice(b"\r\n");
            if parts.method == http::Method::POST {
                body.extend_from_slice(b"Content-Length: 0\r\n");
            }
            body.extend_from_slice(b"\r\n\r\n");
        }
        if sent == 0 {
            return Ok(BatchReply::Parts(
                slots
                    .into_iter()
                    .map(|s| match s {
                        Err(e) => Err(e),
                        Ok(_) => Err(Error::invalid_request("unreachable: no part was sent")),
                    })
                    .collect(),
            ));
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());

        let content_type = HeaderValue::from_str(&format!("multipart/mixed; boundary={boundary}"))
            .map_err(|_| Error::invalid_request("the batch boundary is not a header value"))?;
        let fixed = [(CONTENT_TYPE, content_type)];
        let headers = call_headers(
            &inner.auth,
            &inner.headers,
            &fixed,
            &names[0],
            options,
            "header",
        )
        .await?;
        let url = format!("{}/batch", inner.base);
        let mut builder = inner.http.post(&url).headers(headers).body(body);
        if let Some(t) = options.timeout() {
            builder = builder.timeout(t);
        }
        let started = std::time::Instant::now();
        let response = builder.send().await.map_err(|e| reqwest_error(method, e))?;
        let status = response.status().as_u16();
        tracing::debug!(
            method = %"POST",
            path = %"/batch",
            parts = sent,
            status = %response.status(),
            latency = ?started.elapsed(),
            attempt = options.attempt(),
            "batch of {}",
            method.name()
        );
        let reply_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let reply = read_limited(method, response, inner.max_response_bytes).await?;
        if matches!(status, 404 | 405 | 501) {
            tracing::debug!(
                status,
                "the server has no batch endpoint; sending single calls"
            );
            inner.batch_support.store(UNSUPPORTED, Ordering::Relaxed);
            return Ok(BatchReply::Unsupported);
        }
        if !(200..300).contains(&status) {
            return Err(super::rest::decode_error_body(
                method,
                status,
                &reply_type,
                &reply,
            ));
        }
        let answers = read_reply(method, &reply_type, reply, sent).await?;
        inner.batch_support.store(SUPPORTED, Ordering::Relaxed);
        let mut answers: Vec<Option<(u16, String, Bytes)>> = answers;
        Ok(BatchReply::Parts(
            slots
                .into_iter()
                .map(|slot| {
                    let id = slot?;
                    match answers.get_mut(id - 1).and_then(Option::take) {
                        Some((status, ct, body)) => {
                            // One line per call, as for single calls (the latency is the
                            // batch's).
                            if let Some((http_method, path)) = lines.get(id - 1) {
                                tracing::debug!(
                                    target: CALL_TARGET,
                                    transport = %"rest",
                                    rpc = %method.name(),
                                    method = %http_method,
                                    path = %path,
                                    status = %http::StatusCode::from_u16(status)
                                        .map_or_else(|_| status.to_string(), |s| s.to_string()),
                                    latency = ?started.elapsed(),
                                    attempt = options.attempt(),
                                    batch = true,
                                );
                            }
                            decode(method, status, &ct, &body)
                        }
                        None => Err(Error::decode(format!(
                            "{}: the batch reply has no answer for part {id}",
                            method.name()
                        ))),
                    }
                })
                .collect(),
        ))
    }
}

/// Reads a `multipart/mixed` reply into the answers of parts `1..=parts`, by Content-ID
/// (`<response-N>`), or by position for parts without one.
async fn read_reply(
    method: OperationsMethod,
    content_type: &str,
    reply: Vec<u8>,
    parts: usize,
) -> Result<Vec<Option<(u16, String, Bytes)>>> {
    let reply = Bytes::from(reply);
    let bad = |what: String| {
        Error::decode(format!(
            "{}: unreadable batch reply ({what}); content-type `{content_type}`, body starts: {}",
            method.name(),
            excerpt(&reply)
        ))
    };
    let mime: mime::Mime = content_type
        .parse()
        .map_err(|e| bad(format!("content-type: {e}")))?;
    if mime.type_() != mime::MULTIPART {
        return Err(bad("not multipart".into()));
    }
    let boundary = mime
        .get_param(mime::BOUNDARY)
        .map(|b| b.as_str().to_owned())
        .ok_or_else(|| bad("no boundary".into()))?;
    let bytes = reply.clone();
    let stream = futures::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(bytes) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut answers: Vec<Option<(u16, String, Bytes)>> = vec![None; parts];
    let mut position = 0usize;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| bad(e.to_string()))?
    {
        position += 1;
        let id = field
            .headers()
            .get("content-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let v = v.trim().trim_start_matches('<').trim_end_matches('>');
                v.strip_prefix("response-")
                    .unwrap_or(v)
                    .parse::<usize>()
                    .ok()
            })
            .unwrap_or(position);
        let data = field.bytes().await.map_err(|e| bad(e.to_string()))?;
        let answer = read_part(&data).map_err(|e| bad(format!("part {position}: {e}")))?;
        if let Some(slot) = id.checked_sub(1).and_then(|i| answers.get_mut(i)) {
            *slot = Some(answer);
        }
    }
    Ok(answers)
}

/// One embedded HTTP response: status, content-type and body.
fn read_part(data: &Bytes) -> std::result::Result<(u16, String, Bytes), String> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_PART_HEADERS];
    let mut response = httparse::Response::new(&mut slots);
    let head = match response.parse(data) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err("incomplete embedded response".into()),
        Err(e) => return Err(format!("embedded response: {e}")),
    };
    let status = response.code.ok_or("no status code")?;
    let mut headers = HeaderMap::new();
    for h in response.headers.iter() {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) {
            headers.append(n, v);
        }
    }
    let content_type = headers
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let rest = data.slice(head..);
    let body = match headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        Some(n) if n <= rest.len() => rest.slice(..n),
        Some(n) => return Err(format!("declares {n} bytes of body, holds {}", rest.len())),
        None => rest,
    };
    Ok((status, content_type, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_read_with_or_without_length() {
        let part = Bytes::from_static(
            b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\ncontent-length: 2\r\n\r\n{}trailing",
        );
        let (status, ct, body) = read_part(&part).unwrap();
        assert_eq!(
            (status, ct.as_str(), &body[..]),
            (429, "application/json", &b"{}"[..])
        );
        let part = Bytes::from_static(b"HTTP/1.1 200 OK\r\n\r\n{}");
        assert_eq!(&read_part(&part).unwrap().2[..], b"{}");
        assert!(
            read_part(&Bytes::from_static(
                b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n{}"
            ))
            .is_err()
        );
        assert!(read_part(&Bytes::from_static(b"garbage")).is_err());
    }

    #[tokio::test]
    async fn replies_are_matched_by_content_id() {
        let reply = b"--b\r\nContent-Type: application/http\r\nContent-ID: <response-2>\r\n\r\nHTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}\r\n--b\r\nContent-Type: application/http\r\nContent-ID: <response-1>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}\r\n--b--\r\n";
        let answers = read_reply(
            OperationsMethod::CancelOperation,
            "multipart/mixed; boundary=b",
            reply.to_vec(),
            2,
        )
        .await
        .unwrap();
        assert_eq!(answers[0].as_ref().unwrap().0, 200);
        assert_eq!(answers[1].as_ref().unwrap().0, 404);
        let err = read_reply(
            OperationsMethod::CancelOperation,
            "application/json",
            b"{}".to_vec(),
            1,
        )
        .await
        .err()
        .unwrap();
        assert!(err.is_decode());
    }
}
