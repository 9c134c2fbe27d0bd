//! Handing a connection's events to its handler. A handler with a bounded
//! queue (poll dispatch: the events wait for the host's thread) asks for
//! permits per event; while there are none, the event is kept ([`Waiting`])
//! and the connection stops reading, so a slow host holds up its peers
//! instead of growing memory.

use super::connection::Connection;
use super::{ErrorKind, Event, Handler};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{AcquireError, SemaphorePermit, TryAcquireError};

/// Permits an event costs in a bounded event queue of `limit` bytes.
pub fn event_cost(event: &Event<'_>, limit: u32) -> u32 {
    let payload = match event {
        Event::Message { data, .. } | Event::Part { data, .. } => data.len(),
        Event::Ping(d) | Event::Pong(d) => d.len(),
        Event::Error(_, m) => m.len(),
        Event::Close { reason, .. } => reason.len(),
        Event::Open | Event::Drain => 0,
    };
    (payload.saturating_add(256)).min(limit as usize) as u32
}

/// Hands `event` to the handler, first waiting for room in its queue if it has one.
pub(crate) async fn deliver(conn: &Arc<Connection>, event: Event<'_>) {
    let handler = conn.handler();
    if let Some((queue, limit)) = handler.flow_control() {
        if let Ok(permit) = queue.acquire_many(event_cost(&event, limit)).await {
            permit.forget();
        }
    }
    handler.event(conn, event);
}

/// An event kept until there is room for it in the handler's queue.
enum Held {
    Open,
    Drain,
    Message(bool, Vec<u8>),
    Part(bool, Vec<u8>, bool, bool, u64),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Error(ErrorKind, String),
    Close(u16, String),
}

impl Held {
    fn new(event: &Event<'_>) -> Held {
        match *event {
            Event::Open => Held::Open,
            Event::Drain => Held::Drain,
            Event::Message { text, data } => Held::Message(text, data.to_vec()),
            Event::Part {
                text,
                data,
                first,
                last,
                total,
            } => Held::Part(text, data.to_vec(), first, last, total),
            Event::Ping(d) => Held::Ping(d.to_vec()),
            Event::Pong(d) => Held::Pong(d.to_vec()),
            Event::Error(kind, m) => Held::Error(kind, m.to_string()),
            Event::Close { code, reason } => Held::Close(code, reason.to_string()),
        }
    }

    fn event(&self) -> Event<'_> {
        match self {
            Held::Open => Event::Open,
            Held::Drain => Event::Drain,
            Held::Message(text, data) => Event::Message { text: *text, data },
            Held::Part(text, data, first, last, total) => Event::Part {
                text: *text,
                data,
                first: *first,
                last: *last,
                total: *total,
            },
            Held::Ping(d) => Event::Ping(d),
            Held::Pong(d) => Event::Pong(d),
            Held::Error(kind, m) => Event::Error(*kind, m),
            Held::Close(code, reason) => Event::Close {
                code: *code,
                reason,
            },
        }
    }
}

/// The permits an event waits for in the handler's queue.
type Permits = Pin<Box<dyn Future<Output = Result<SemaphorePermit<'static>, AcquireError>> + Send>>;

/// An event waiting for room in the handler's queue, and the wait.
pub(crate) struct Waiting {
    held: Held,
    permits: Permits,
}

impl Waiting {
    /// Delivers the kept event once its permits came.
    pub(crate) fn poll_deliver(
        &mut self,
        conn: &Arc<Connection>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let Poll::Ready(permit) = self.permits.as_mut().poll(cx) else {
            return Poll::Pending;
        };
        if let Ok(permit) = permit {
            permit.forget();
        }
        conn.handler().event(conn, self.held.event());
        Poll::Ready(())
    }
}

/// Delivers `event` now if the handler's queue has room for it (or it has
/// no queue); otherwise returns it, owned, with the wait for its room.
pub(crate) fn deliver_or_hold(
    handler: &dyn Handler,
    conn: &Arc<Connection>,
    event: Event<'_>,
) -> Option<Box<Waiting>> {
    if let Some((queue, limit)) = handler.flow_control() {
        let cost = event_cost(&event, limit);
        match queue.try_acquire_many(cost) {
            Ok(permit) => permit.forget(),
            Err(TryAcquireError::NoPermits) => {
                return Some(Box::new(Waiting {
                    held: Held::new(&event),
                    permits: Box::pin(queue.acquire_many(cost)),
                }))
            }
            Err(TryAcquireError::Closed) => {}
        }
    }
    handler.event(conn, event);
    None
}
