//! `GET /events`: Server-Sent Events. The follower's thread calls the [`Notifier`]; a
//! tokio broadcast channel fans each message out to every open stream. A slow client
//! only misses messages (it is told to reload everything); a client that disconnects
//! drops its receiver and costs nothing more.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::broadcast;

/// Messages kept for a slow client before it is told it lagged.
const BUFFER: usize = 64;

/// One message to every client: an SSE `event` name and its JSON `data`.
#[derive(Debug, Clone)]
pub struct Message {
    pub event: &'static str,
    pub data: String,
}

/// What the last ingest did, for `/api/health`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestStatus {
    /// Ingest runs that found new data since the server started.
    pub runs_with_new_data: u64,
    /// RFC 3339 (UTC) of the last run that found new data.
    pub last_new_data_at: Option<String>,
    /// The last warning of the follower (store busy, a root unreadable), if any.
    pub last_warning: Option<String>,
    /// How long the latest ingest run took (changed or not), in milliseconds.
    pub last_ingest_ms: Option<u64>,
}

/// The sending side, cheap to clone; callable from any thread.
#[derive(Clone)]
pub struct Notifier {
    tx: broadcast::Sender<Message>,
    status: Arc<Mutex<IngestStatus>>,
}

impl Default for Notifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Notifier {
    pub fn new() -> Notifier {
        let (tx, _) = broadcast::channel(BUFFER);
        Notifier {
            tx,
            status: Arc::default(),
        }
    }

    /// New data is in the store: every page reloads what it shows.
    pub fn ingested(&self, responses_added: u64, responses_updated: u64, files_read: u64) {
        {
            let mut s = self.status.lock().unwrap_or_else(|p| p.into_inner());
            s.runs_with_new_data += 1;
            s.last_new_data_at = Some(jiff::Timestamp::now().to_string());
        }
        self.send(
            "ingested",
            json!({
                "responsesAdded": responses_added,
                "responsesUpdated": responses_updated,
                "filesRead": files_read,
            }),
        );
    }

    /// An ingest run ended (whether or not it found new data): `/metrics` shows its
    /// duration.
    pub fn ingest_took(&self, elapsed_ms: u64) {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last_ingest_ms = Some(elapsed_ms);
    }

    /// stats-cache snapshots were recorded.
    pub fn snapshots(&self, taken: usize) {
        self.send("snapshots", json!({ "taken": taken }));
    }

    /// A one-line problem of the follower; following goes on.
    pub fn warning(&self, message: &str) {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last_warning = Some(message.to_owned());
        self.send("warning", json!({ "message": message }));
    }

    pub fn status(&self) -> IngestStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Open `/events` streams.
    pub fn clients(&self) -> usize {
        self.tx.receiver_count()
    }

    fn send(&self, event: &'static str, data: Value) {
        // No receiver is not an error: nobody is looking.
        let _ = self.tx.send(Message {
            event,
            data: data.to_string(),
        });
    }

    /// The stream of one client: a `hello` first (the stream is open), then every message.
    pub(crate) fn stream(&self) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
        let rx = self.tx.subscribe();
        let hello = Event::default().event("hello").data("{}");
        let messages = stream::unfold(rx, |mut rx| async move {
            let event = match rx.recv().await {
                Ok(m) => Event::default().event(m.event).data(m.data),
                Err(broadcast::error::RecvError::Lagged(missed)) => Event::default()
                    .event("ingested")
                    .data(json!({ "missedMessages": missed }).to_string()),
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((Ok(event), rx))
        });
        let all = futures_util::StreamExt::chain(stream::once(async { Ok(hello) }), messages);
        Sse::new(all).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
    }
}
