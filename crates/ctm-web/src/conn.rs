//! Connections: our own accept loop over hyper's HTTP/1 server, so that a client cannot
//! hold the server by never finishing what it sends.
//!
//! - A request's headers must arrive within [`Limits::header_read`] (10 s); hyper starts
//!   that timer again whenever a kept-alive connection goes idle, so an idle connection
//!   is closed after the same time.
//! - At most [`Limits::max_connections`] connections are open (a quarter of the file
//!   descriptors this process may have, at most 256). One more arrives: the oldest
//!   connection with no request in flight (still waiting for its headers, or idle) is
//!   closed to make room; a connection serving a request (an `/events` stream, an
//!   export) is never closed for another. When every connection is busy the new one is
//!   closed at once. Running out of file descriptors anyway (`EMFILE`) makes room the
//!   same way instead of spinning.
//! - An answer to a request without the right token says `Connection: close` (see
//!   [`crate::auth`]), so unauthenticated clients never keep a connection either.
//!
//! So 1,100 half-open connections against a process limited to 1,024 files cost at most
//! the cap in descriptors, and a probe is answered at once: it evicts the oldest of them.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// How long a request's headers may take to arrive, and how long a kept-alive
/// connection may sit idle.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The most connections open at once, whatever the file descriptor limit.
pub const MAX_CONNECTIONS: usize = 256;

/// What a connection may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub header_read: Duration,
    pub max_connections: usize,
}

impl Default for Limits {
    /// [`HEADER_READ_TIMEOUT`], and a quarter of this process's file descriptor limit
    /// up to [`MAX_CONNECTIONS`]: the rest stay free for the store's connections (a
    /// report may read on several), the follower's walk and the transcripts it reads.
    fn default() -> Self {
        Limits {
            header_read: HEADER_READ_TIMEOUT,
            max_connections: (fd_limit() / 4).clamp(8, MAX_CONNECTIONS),
        }
    }
}

/// The soft limit on open files (1,024 when it cannot be read).
fn fd_limit() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
}

/// Connections the kernel completes and queues before the accept loop takes them. The
/// usual default (128) overflows under a burst of connections, and a dropped connection
/// attempt is retried by its client only a second later.
const ACCEPT_BACKLOG: u32 = 1024;

/// A listening socket on `addr` with [`ACCEPT_BACKLOG`] (inside the runtime).
pub(crate) fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// The open connections, oldest first.
#[derive(Default)]
struct Table {
    next_id: u64,
    open: BTreeMap<u64, Open>,
}

struct Open {
    /// Requests in flight, counted until their answer's body is done.
    busy: Arc<AtomicUsize>,
    /// Dropping it closes the connection.
    _close: oneshot::Sender<()>,
}

impl Table {
    /// Closes the oldest connection without a request in flight; false if there is none.
    fn evict_idle(&mut self) -> bool {
        let idle = self
            .open
            .iter()
            .find(|(_, c)| c.busy.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id);
        match idle {
            Some(id) => {
                // Dropping the sender ends the connection's task.
                self.open.remove(&id);
                true
            }
            None => false,
        }
    }
}

/// Serves `app` on `listener` until the runtime stops.
pub(crate) async fn serve(listener: TcpListener, app: Router, limits: Limits) {
    let table = Arc::new(Mutex::new(Table::default()));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .keep_alive(true);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors: close an idle connection and try again; any
                // other failure (the peer gave up before accept) just passes.
                if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                    let freed = table.lock().unwrap_or_else(|p| p.into_inner()).evict_idle();
                    if !freed {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                continue;
            }
        };
        let (id, busy, closed) = {
            let mut t = table.lock().unwrap_or_else(|p| p.into_inner());
            if t.open.len() >= limits.max_connections && !t.evict_idle() {
                // Every connection is serving a request: this one waits for none.
                drop(stream);
                continue;
            }
            let id = t.next_id;
            t.next_id += 1;
            let busy = Arc::new(AtomicUsize::new(0));
            let (close, closed) = oneshot::channel();
            t.open.insert(
                id,
                Open {
                    busy: busy.clone(),
                    _close: close,
                },
            );
            (id, busy, closed)
        };
        let _ = stream.set_nodelay(true);
        let service = Tracked {
            app: app.clone(),
            busy,
            peer,
        };
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let table = table.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = connection => {}
                // Evicted (or the server stopped): the connection is dropped, closing it.
                _ = closed => {}
            }
            table
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .open
                .remove(&id);
        });
    }
}

/// The router as hyper calls it for one connection: each request carries the peer's
/// address (for the token rate limit), and counts as in flight until its answer's body
/// is done, so that the connection is not evicted while it streams.
#[derive(Clone)]
struct Tracked {
    app: Router,
    busy: Arc<AtomicUsize>,
    peer: SocketAddr,
}

impl hyper::service::Service<hyper::Request<Incoming>> for Tracked {
    type Response = hyper::Response<TrackedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, mut request: hyper::Request<Incoming>) -> Self::Future {
        let in_flight = InFlight::new(self.busy.clone());
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let mut app = self.app.clone();
        Box::pin(async move {
            let answer =
                tower_service::Service::call(&mut app, request.map(axum::body::Body::new)).await?;
            Ok(answer.map(|body| TrackedBody {
                body,
                _in_flight: in_flight,
            }))
        })
    }
}

/// One request in flight on a connection, until dropped.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(busy: Arc<AtomicUsize>) -> InFlight {
        busy.fetch_add(1, Ordering::AcqRel);
        InFlight(busy)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An answer's body that keeps its request in flight until it is done or dropped.
struct TrackedBody {
    body: axum::body::Body,
    _in_flight: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
