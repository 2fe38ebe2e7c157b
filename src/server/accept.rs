//! The accept loop: a connection cap, accept errors survived, TLS, and one hyper connection
//! (HTTP/1.1 or HTTP/2, chosen by what the client sends) per socket, with hyper's own timer
//! for header reads and HTTP/2 pings, tower-http's body timeout, and hyper-util's graceful
//! shutdown for both server shutdown and idle connections.

use std::future::{Future, pending};
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::{Body, HttpBody as _};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::task::JoinSet;
use tower::ServiceExt as _;
use tower_http::timeout::TimeoutBody;

use super::config::{OverTls, RemoteAddr, ServerConfig, clamp, limit};

/// Everything a connection task needs, shared by all of them.
struct Shared {
    app: axum::Router,
    builder: auto::Builder<TokioExecutor>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// The bound on a TLS handshake (and on a plain-text client's head on a TLS port).
    handshake_timeout: Option<Duration>,
    body_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    /// Whether requests carry the peer's address (only the request hook reads it).
    tell_peer: bool,
}

/// The first back-off after an accept error that is not about one connection (such as
/// running out of file descriptors), and the longest.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(1));

/// Accepts and serves connections until `stop` fires, then drains them for at most
/// `config.shutdown_grace` and drops what is left.
pub(crate) async fn run(
    listener: TcpListener,
    app: axum::Router,
    config: ServerConfig,
    stop: oneshot::Receiver<()>,
) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limit(config.header_timeout));
    builder
        .http2()
        .timer(TokioTimer::new())
        // A zero ack timeout would close every connection at its first ping: no pings then.
        .keep_alive_interval(
            limit(config.http2_keep_alive_interval)
                .filter(|_| !config.http2_keep_alive_timeout.is_zero()),
        )
        .keep_alive_timeout(clamp(config.http2_keep_alive_timeout))
        .max_concurrent_streams(config.http2_max_concurrent_streams.max(1));
    let shared = Arc::new(Shared {
        app,
        builder,
        tls: config
            .tls
            .as_ref()
            .map(|t| tokio_rustls::TlsAcceptor::from(Arc::clone(&t.rustls))),
        handshake_timeout: limit(config.header_timeout).or(limit(config.idle_timeout)),
        body_timeout: limit(config.body_timeout),
        idle_timeout: limit(config.idle_timeout),
        tell_peer: config.request_hook.is_some(),
    });
    let grace = clamp(config.shutdown_grace);
    let slots = Arc::new(Semaphore::new(
        config.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let (stop_all, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    // Dropping the handle without calling shutdown leaves the server running.
    let mut stop = pin!(async move {
        if stop.await.is_err() {
            pending::<()>().await;
        }
    });
    let mut backoff = ACCEPT_BACKOFF.0;

    loop {
        while connections.try_join_next().is_some() {}
        // Over the cap, wait here: new connections queue in the listen backlog.
        let permit = tokio::select! {
            biased;
            () = &mut stop => break,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            biased;
            () = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => {
                backoff = ACCEPT_BACKOFF.0;
                accepted
            }
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // EMFILE, ENFILE, ENOBUFS...: nothing to accept with until something closes.
                tracing::warn!("accept failed ({e}); retrying in {backoff:?}");
                tokio::select! {
                    biased;
                    () = &mut stop => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
                continue;
            }
        };
        // Small request/response exchanges: do not let Nagle hold them back.
        let _ = tcp.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let stop = stop_rx.clone();
        connections.spawn(async move {
            let _slot = permit;
            serve_socket(&shared, tcp, peer, stop).await;
        });
    }

    drop(listener);
    let _ = stop_all.send(true);
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "{} connections still busy after {grace:?}; dropping them",
            connections.len()
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Errors about one incoming connection (the next accept may well succeed).
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

async fn serve_socket(
    shared: &Shared,
    tcp: TcpStream,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
) {
    let Some(acceptor) = &shared.tls else {
        serve_http(shared, tcp, peer, false, stop).await;
        return;
    };
    let handshake = async {
        let mut first = [0u8; 1];
        match tcp.peek(&mut first).await {
            Ok(1) if first[0] == TLS_HANDSHAKE_RECORD => {}
            Ok(1) => return Err(Some(tcp)),
            _ => return Err(None),
        }
        acceptor.accept(tcp).await.map_err(|e| {
            tracing::debug!("TLS handshake with {peer} failed: {e}");
            None
        })
    };
    match within(shared.handshake_timeout, handshake).await {
        Some(Ok(tls)) => serve_http(shared, tls, peer, true, stop).await,
        Some(Err(Some(plain))) => refuse_plain_text(plain, shared.handshake_timeout).await,
        Some(Err(None)) => {}
        None => tracing::debug!("TLS handshake with {peer} timed out"),
    }
}

/// Runs `fut` to completion, or for at most `limit`.
async fn within<F: Future>(limit: Option<Duration>, fut: F) -> Option<F::Output> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, fut).await.ok(),
        None => Some(fut.await),
    }
}

/// A plain-text client on a TLS port: read its request head (so closing does not reset the
/// connection under the answer), answer HTTP 400 in plain text, and close.
async fn refuse_plain_text(mut tcp: TcpStream, limit: Option<Duration>) {
    const MESSAGE: &str =
        "This port serves TLS only: use https:// (REST) or a TLS channel (gRPC).\n";
    let _ = within(limit, async {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while head.len() < 16 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let reply = if head.starts_with(b"PRI * HTTP/2.0") {
            h2_refusal(MESSAGE.trim_end().as_bytes())
        } else {
            format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{MESSAGE}",
                MESSAGE.len()
            )
            .into_bytes()
        };
        let _ = tcp.write_all(&reply).await;
        let _ = tcp.shutdown().await;
        // Let the client read the answer before the socket goes.
        while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// What an HTTP/2 client (gRPC in plain text) gets on a TLS port: the server's SETTINGS, then
/// a GOAWAY with INADEQUATE_SECURITY (the code HTTP/2 has for "this transport is not secure
/// enough") and `message` as its debug data.
fn h2_refusal(message: &[u8]) -> Vec<u8> {
    const SETTINGS: u8 = 0x4;
    const GOAWAY: u8 = 0x7;
    const INADEQUATE_SECURITY: u32 = 0xc;
    let frame = |kind: u8, payload: &[u8]| {
        let len = u32::try_from(payload.len()).unwrap_or(0).to_be_bytes();
        let mut f = vec![len[1], len[2], len[3], kind, 0, 0, 0, 0, 0];
        f.extend_from_slice(payload);
        f
    };
    let mut goaway = Vec::with_capacity(8 + message.len());
    goaway.extend_from_slice(&0u32.to_be_bytes()); // last stream id: none processed
    goaway.extend_from_slice(&INADEQUATE_SECURITY.to_be_bytes());
    goaway.extend_from_slice(message);
    let mut out = frame(SETTINGS, &[]);
    out.extend(frame(GOAWAY, &goaway));
    out
}

/// What the idle timer needs to know of one connection: requests in progress, and when the
/// last one ended. Updated with two atomic operations per request, so that a busy connection
/// costs no timer and no wake-up per request; the idle timer looks at it when it fires.
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Microseconds from `opened` to the end of the latest request.
    last_end_us: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_end_us: AtomicU64::new(0),
        }
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(self))
    }

    /// When the connection became idle, or `None` while a request is in progress.
    fn idle_since(&self) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let us = self.last_end_us.load(Ordering::Acquire);
        Some(self.opened + Duration::from_micros(us))
    }
}

/// One request in progress; its end is recorded when it is answered (or dropped).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let us = u64::try_from(self.0.opened.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.0.last_end_us.fetch_max(us, Ordering::AcqRel);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn serve_http<I>(
    shared: &Shared,
    io: I,
    peer: SocketAddr,
    over_tls: bool,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let app = shared.app.clone();
    let body_timeout = shared.body_timeout;
    let tell_peer = shared.tell_peer;
    let requests = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
        let guard = requests.begin();
        let mut req = match body_timeout {
            // An empty body (a GET) needs no timer.
            Some(t) if !req.body().is_end_stream() => {
                req.map(|b| Body::new(TimeoutBody::new(t, b)))
            }
            _ => req.map(Body::new),
        };
        if tell_peer {
            req.extensions_mut().insert(RemoteAddr(peer));
        }
        if over_tls {
            req.extensions_mut().insert(OverTls);
        }
        let app = app.clone();
        async move {
            let resp = app.oneshot(req).await;
            drop(guard);
            resp
        }
    });
    let graceful = GracefulShutdown::new();
    let conn = shared.builder.serve_connection(TokioIo::new(io), service);
    let mut conn = pin!(graceful.watch(conn));
    tokio::select! {
        result = &mut conn => {
            log_end(peer, result);
            return;
        }
        _ = stop.wait_for(|stopping| *stopping) => {}
        () = idle(&activity, shared.idle_timeout) => {
            tracing::debug!("closing idle connection from {peer}");
        }
    }
    // Signal the connection to finish, and drive it until it has. (The signal's future only
    // resolves once the connection future is dropped, so the connection's arm wins.)
    let result = tokio::select! {
        result = &mut conn => result,
        () = graceful.shutdown() => Ok(()),
    };
    log_end(peer, result);
}

fn log_end(peer: SocketAddr, result: Result<(), Box<dyn std::error::Error + Send + Sync>>) {
    if let Err(e) = result {
        tracing::debug!("connection from {peer} ended: {e}");
    }
}

/// Resolves once the connection has had no request in progress for `limit`.
async fn idle(activity: &Activity, limit: Option<Duration>) {
    let Some(limit) = limit else {
        return pending().await;
    };
    let mut due = activity.opened + limit;
    loop {
        tokio::time::sleep_until(due.into()).await;
        match activity.idle_since() {
            Some(since) if since + limit <= Instant::now() => return,
            Some(since) => due = since + limit,
            None => due = Instant::now() + limit,
        }
    }
}
