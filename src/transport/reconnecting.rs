//! A client across its connections: the current one, and, when it
//! reconnects ([`ClientConfig::reconnect`]), the attempts that replace a
//! lost one.
//!
//! Each attempt is a new [`Connection`]. The client's handler sees the
//! connections' events first ([`Events`]): on a `Close` it decides, before
//! the application hears of the close, whether another attempt follows
//! (see [`reconnect`]); then the application gets the `Close`, and the
//! [`Attempt`] to let go ahead or cancel. Once it goes ahead, the new
//! connection replaces the old one as the current one at once, and waits
//! in `Connecting` until the attempt's delay has passed.

use super::client::{self, ConnectError, Plan};
use super::connection::{Common, Connection};
use super::log::Level;
use super::reconnect::{self, Reconnect, Tries};
use super::{fork, random, ClientConfig, Event, Handler};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// A client: its current connection, and how it replaces a lost one.
pub struct Client {
    plan: Arc<Plan>,
    /// What its connections share; its handler is an [`Events`] of this client.
    common: Arc<Common>,
    /// `None`: the client does not reconnect.
    policy: Option<Reconnect>,
    /// The fork generation of the process that made it.
    generation: u32,
    state: Mutex<State>,
}

struct State {
    /// The newest connection: open, being opened, waiting for its attempt's
    /// delay, or (when the client ended, or between a close and the
    /// decision on the next attempt) closed.
    current: Arc<Connection>,
    tries: Tries,
    /// When the current connection opened, if it did.
    opened_at: Option<Instant>,
    /// An attempt follows the close of the current connection, or is
    /// under way.
    reconnecting: bool,
    /// No attempt will be made any more: the application closed the
    /// client or cancelled an attempt, the close called for none, or the
    /// tries ran out.
    stopped: bool,
}

impl State {
    /// See [`Client::stop`].
    fn stop(&mut self) -> bool {
        self.reconnecting = false;
        !std::mem::replace(&mut self.stopped, true)
    }
}

impl Client {
    /// Starts connecting to `url` as [`client::connect`] does; when
    /// `config.reconnect` is set, a lost connection is replaced by another.
    /// The events of every connection go to `handler`.
    pub fn connect(
        url: &str,
        config: ClientConfig,
        handler: Arc<dyn Handler>,
    ) -> Result<Arc<Client>, ConnectError> {
        let policy = config.reconnect;
        let plan = Arc::new(client::plan(url, config)?);
        let (thread, rt) = client::pick_thread()?;
        let client = Arc::new_cyclic(|me: &Weak<Client>| {
            let events = Arc::new(Events {
                app: handler,
                client: me.clone(),
            });
            let common = Arc::new(client::common(&plan, events));
            let current = client::prepare(&plan, &common, thread);
            Client {
                plan,
                common,
                policy,
                generation: fork::generation(),
                state: Mutex::new(State {
                    current,
                    tries: Tries::default(),
                    opened_at: None,
                    reconnecting: false,
                    stopped: false,
                }),
            }
        });
        // Only now: its events need the client.
        client::start(&client.plan, &client.current(), rt, None);
        Ok(client)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current connection (see [`State::current`]).
    pub fn current(&self) -> Arc<Connection> {
        self.state().current.clone()
    }

    /// Runs `f` on the current connection while no attempt can replace it.
    pub fn with_current<R>(&self, f: impl FnOnce(&Arc<Connection>) -> R) -> R {
        f(&self.state().current)
    }

    /// The fork generation of the process that made the client.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// True from the close of a connection that another attempt will
    /// replace until a connection opens again or the client stops.
    pub fn is_reconnecting(&self) -> bool {
        let state = self.state();
        state.reconnecting && !state.stopped
    }

    /// Makes no more attempts (an attempt waiting for its delay is left to
    /// the close of its connection). True if the client was still going.
    pub fn stop(&self) -> bool {
        self.state().stop()
    }

    /// The current connection `conn` opened: the attempt's number when an
    /// attempt made it.
    fn opened(&self, conn: &Arc<Connection>) -> Option<u32> {
        let mut state = self.state();
        if !Arc::ptr_eq(&state.current, conn) {
            return None;
        }
        state.opened_at = Some(Instant::now());
        state.reconnecting = false;
        (state.tries.made() > 0).then(|| state.tries.made())
    }

    /// `conn` ended with close code `code`: the attempt that replaces it, if
    /// one does.
    fn lost(self: &Arc<Self>, conn: &Arc<Connection>, code: u16) -> Option<Arc<Attempt>> {
        let mut state = self.state();
        if !Arc::ptr_eq(&state.current, conn) || state.stopped {
            return None;
        }
        let lasted = state.opened_at.take().map(|t| t.elapsed());
        let next = self
            .policy
            .filter(|_| reconnect::reconnects_after(code))
            .and_then(|policy| Some((policy, state.tries.next(&policy, lasted)?)));
        let Some((policy, number)) = next else {
            state.stop();
            return None;
        };
        state.reconnecting = true;
        drop(state);
        let mut seed = [0u8; 8];
        random::fill(&mut seed);
        let delay = policy.delay(number, u64::from_ne_bytes(seed));
        crate::log!(
            Level::Info,
            conn.id(),
            "closed with {code}: reconnect attempt {number} in {} ms",
            delay.as_millis()
        );
        Some(Arc::new(Attempt {
            client: self.clone(),
            number,
            delay,
            due: tokio::time::Instant::now() + delay,
            decided: AtomicBool::new(false),
        }))
    }

    /// Makes the connection of `attempt` the current one, connecting at its
    /// due time; unless the client stopped meanwhile. (Never logs with the
    /// state locked: a log callback may call back into the client.)
    fn make(&self, attempt: &Attempt) {
        let (thread, rt) = match client::pick_thread() {
            Ok(place) => place,
            Err(e) => {
                let id = self.current().id();
                self.stop();
                crate::log!(Level::Error, id, "cannot reconnect: {e}");
                return;
            }
        };
        let conn = client::prepare(&self.plan, &self.common, thread);
        let old = {
            let mut state = self.state();
            if state.stopped {
                return;
            }
            std::mem::replace(&mut state.current, conn.clone())
        };
        drop(old);
        client::start(&self.plan, &conn, rt, Some(attempt.due));
    }
}

/// A reconnect attempt the application may let go ahead or cancel.
pub struct Attempt {
    client: Arc<Client>,
    number: u32,
    delay: Duration,
    /// When it connects.
    due: tokio::time::Instant,
    decided: AtomicBool,
}

impl Attempt {
    /// Its number: 1 for the first attempt after a connection was lost.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// How long after the close it connects.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// True when the client stopped (the application closed it) since the
    /// attempt was announced: it will not be made, whatever is decided.
    pub fn is_stopped(&self) -> bool {
        self.client.state().stopped
    }

    /// Lets it go ahead: its connection becomes the client's current one
    /// now, and connects once the delay has passed (at once if it has).
    /// Only the first decision counts.
    pub fn go(&self) {
        if !self.decided.swap(true, Ordering::AcqRel) {
            self.client.make(self);
        }
    }

    /// Cancels it, and every attempt after it: the client ends as it would
    /// without reconnecting. Only the first decision counts.
    pub fn cancel(&self) {
        if !self.decided.swap(true, Ordering::AcqRel) {
            self.client.stop();
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// The handler of a client's connections: follows them for the client,
/// and passes every event on to the application's handler.
struct Events {
    app: Arc<dyn Handler>,
    client: Weak<Client>,
}

impl Handler for Events {
    fn event(&self, conn: &Arc<Connection>, event: Event<'_>) {
        let client = self.client.upgrade();
        match event {
            Event::Open => {
                let attempt = client.and_then(|c| c.opened(conn));
                self.app.event(conn, event);
                if let Some(number) = attempt {
                    self.app.reconnected(conn, number);
                }
            }
            Event::Close { code, .. } => {
                let attempt = client.and_then(|c| c.lost(conn, code));
                self.app.event(conn, event);
                if let Some(attempt) = attempt {
                    self.app.reconnecting(conn, attempt);
                }
            }
            _ => self.app.event(conn, event),
        }
    }

    fn flow_control(&self) -> Option<(&'static Semaphore, u32)> {
        self.app.flow_control()
    }

    fn closed_by_application(&self, conn: &Connection) {
        let Some(client) = self.client.upgrade() else {
            return;
        };
        let mut state = client.state();
        if std::ptr::eq(Arc::as_ptr(&state.current), conn) {
            state.stop();
        }
    }
}
