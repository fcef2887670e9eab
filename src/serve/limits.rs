//! What a client may ask of the server: the body size, how long a body may take to arrive,
//! how long a request may be handled, and the ranges of the training settings.
//!
//! [`guard`] wraps every route: it refuses a body larger than [`Limits::max_body_bytes`]
//! (413, from `Content-Length` before reading, or while reading a chunked body), reads the
//! body within [`Limits::body_timeout`] (408), then bounds the handler by
//! [`Limits::handler_timeout`] (503). `POST /train` is the one exception to the handler
//! bound: it answers when its run ends (a background job; `GET /runs/{id}` shows progress,
//! `POST /runs/{id}/stop` ends it), and bounds its own setup by [`Limits::load_timeout`].

use std::pin::Pin;
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ServeError;

/// Largest training run a request may ask for, per phase (epochs).
pub const MAX_EPOCHS: usize = 100_000;
/// Largest mini-batch a request may ask for (the engine also caps it at the sample count).
pub const MAX_BATCH_SIZE: usize = 65_536;

/// Bounds on what one request may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body, in bytes (default 1 MiB; the API's bodies are a few hundred bytes).
    pub max_body_bytes: usize,
    /// Time a client has to send a request's head (line and headers) once it has started it,
    /// or its first request once connected (default 10 s); the connection is closed otherwise.
    /// An idle keep-alive connection is not timed.
    pub head_timeout: Duration,
    /// Time a client has to send its whole body once the headers are in (default 10 s).
    pub body_timeout: Duration,
    /// Time a handler has to answer, `/train`'s wait for its run aside (default 30 s).
    pub handler_timeout: Duration,
    /// Time `/train` has to find and load its dataset before the run starts (default 300 s).
    pub load_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1 << 20,
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            handler_timeout: Duration::from_secs(30),
            load_timeout: Duration::from_secs(300),
        }
    }
}

/// Whole seconds for a message, at least 1 when the duration is not zero.
pub(super) fn secs(d: Duration) -> u64 {
    let s = d.as_secs();
    if s == 0 && !d.is_zero() { 1 } else { s }
}

/// The `Content-Length` the client declared, when it is a number.
fn declared_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// Reads a body frame by frame, refusing it as soon as it grows past `limit`.
async fn read_body(mut body: Body, limit: usize) -> Result<Bytes, ServeError> {
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|e| ServeError::Invalid(format!("the request body could not be read: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if buf.len().saturating_add(data.len()) > limit {
                return Err(ServeError::BodyTooLarge { limit });
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

/// The middleware of every route: body limit, body timeout, handler timeout.
pub(super) async fn guard(State(limits): State<Limits>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    if declared_length(&parts.headers).is_some_and(|n| n > limits.max_body_bytes as u64) {
        return ServeError::BodyTooLarge { limit: limits.max_body_bytes }.into_response();
    }
    let bytes = match tokio::time::timeout(limits.body_timeout, read_body(body, limits.max_body_bytes)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => return e.into_response(),
        Err(_) => return ServeError::BodyTimeout { secs: secs(limits.body_timeout) }.into_response(),
    };
    let waits_for_a_run = parts.method == Method::POST && parts.uri.path() == "/train";
    let what = format!("{} {}", parts.method, parts.uri.path());
    let req = Request::from_parts(parts, Body::from(bytes));
    if waits_for_a_run {
        return next.run(req).await;
    }
    match tokio::time::timeout(limits.handler_timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ServeError::Timeout { what, secs: secs(limits.handler_timeout) }.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use axum::Router;
    use axum::routing::{get, post};

    use super::*;

    /// A router with a slow route and an echo route behind `guard`, on a loopback port.
    fn serve(limits: Limits) -> (std::net::SocketAddr, tokio::runtime::Runtime) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mvc-serve-test")
            .enable_all()
            .build()
            .unwrap();
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "late"
                }),
            )
            .route("/echo", post(|b: Bytes| async move { b }))
            .layer(axum::middleware::from_fn_with_state(limits, guard));
        rt.spawn(async move { axum::serve(listener, app).await });
        (addr, rt)
    }

    fn exchange(addr: std::net::SocketAddr, raw: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(raw).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).ok();
        out
    }

    #[test]
    fn slow_handler_is_a_503_and_big_or_slow_bodies_are_refused() {
        let limits = Limits {
            max_body_bytes: 64,
            head_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_millis(300),
            handler_timeout: Duration::from_millis(300),
            load_timeout: Duration::from_secs(1),
        };
        let (addr, _rt) = serve(limits);
        let t = std::time::Instant::now();
        let out = exchange(addr, b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 503"), "{out}");
        assert!(out.contains("GET /slow took longer than 1 s"), "{out}");
        assert!(t.elapsed() < Duration::from_secs(10));

        let out =
            exchange(addr, b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 4\r\n\r\nabcd");
        assert!(out.starts_with("HTTP/1.1 200") && out.ends_with("abcd"), "{out}");

        let big = format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\n\r\n{}", "a".repeat(65));
        let out = exchange(addr, big.as_bytes());
        assert!(out.starts_with("HTTP/1.1 413") && out.contains("larger than 64 bytes"), "{out}");

        let chunk = "a".repeat(40);
        let chunked = format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n28\r\n{chunk}\r\n28\r\n{chunk}\r\n0\r\n\r\n"
        );
        let out = exchange(addr, chunked.as_bytes());
        assert!(out.starts_with("HTTP/1.1 413"), "{out}");

        let out = exchange(addr, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nonly part");
        assert!(out.starts_with("HTTP/1.1 408") && out.contains("did not arrive"), "{out}");
    }
}
