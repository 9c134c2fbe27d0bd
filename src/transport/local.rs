//! What only a connection's I/O thread touches: its socket and session
//! ([`Local`]), kept in a cell other threads cannot open ([`ThreadBound`]).
//! A send made on that thread works on them directly.

use super::budget::InboundCharge;
use super::connection::{Command, Connection, SendError, Setting};
use super::delivery::Waiting;
use super::driver::Stage;
use super::runtime;
use super::server::Registration;
use super::stream::Transport;
use crate::protocol::frame::{OpCode, MAX_HEADER_LEN};
use crate::protocol::outqueue::MAX_SLICES;
use crate::protocol::published::Published;
use crate::protocol::session::{SendOptions, Session};
use std::io::IoSlice;
use std::pin::Pin;
use std::time::Instant;
use tokio::time::Sleep;

/// A value only one I/O thread may touch; on any other thread it is out of
/// reach (`get` gives `None`), which is what lets it hold `!Sync` state.
pub(crate) struct ThreadBound<T> {
    owner: usize,
    value: T,
}

// SAFETY: `value` is reachable only through `get`, on the thread `owner` names
// (one OS thread), so it is never used from two threads. Dropping it on another
// thread is sound because `T: Send`.
unsafe impl<T: Send> Sync for ThreadBound<T> {}

impl<T> ThreadBound<T> {
    pub(crate) fn new(owner: usize, value: T) -> Self {
        ThreadBound { owner, value }
    }

    /// The index of the I/O thread that owns the value.
    pub(crate) fn owner(&self) -> usize {
        self.owner
    }

    /// The value, when called on the owning I/O thread.
    pub(crate) fn get(&self) -> Option<&T> {
        (runtime::current() == Some(self.owner)).then_some(&self.value)
    }
}

/// What only the connection's I/O thread touches once it is open.
pub(crate) struct Local {
    pub stream: Transport,
    pub session: Session,
    /// Where the connection is in its life.
    pub stage: Stage,
    /// The driver is handling a read: sends only queue, and go out together
    /// after it.
    pub corked: bool,
    /// The peer's close frame came while we were open: the peer closed.
    pub peer_closed_first: bool,
    /// Bytes of the session's output already counted in `Connection::buffered`.
    pub counted: usize,
    /// Bytes were written since the last flush (TLS buffers writes).
    pub unflushed: bool,
    /// Over the high-water mark, reading goes on until one more message has
    /// arrived, then pauses: two peers sending each other large messages
    /// each read the other's instead of both waiting forever.
    pub one_more_message: bool,
    /// The start of a frame header cut by the end of the last read.
    pub partial: [u8; MAX_HEADER_LEN],
    pub partial_len: u8,
    /// Bytes read but not handled yet: left over from the handshake, or
    /// waiting while an event waits for room in the handler's queue (boxed:
    /// one word in every connection instead of three, for something rare).
    #[allow(clippy::box_collection)]
    pub stash: Option<Box<Vec<u8>>>,
    /// The session's next deadline, once it has one.
    pub timer: Option<Pin<Box<Sleep>>>,
    /// An event waiting for room in the handler's queue.
    pub waiting: Option<Box<Waiting>>,
    /// What it counts against the inbound memory budgets.
    pub inbound: InboundCharge,
    /// A server connection's place in its server's list, until it is over.
    pub _registration: Option<Registration>,
}

impl Local {
    /// Keeps `Connection::buffered` equal to what the output holds (plus
    /// what the inbox holds, counted when queued there).
    pub fn count(&mut self, conn: &Connection) {
        self.count_taken(conn, 0);
    }

    /// As [`Local::count`], when the session has just taken commands that
    /// were counted as `charged` bytes in the inbox: one adjustment moves
    /// them from the inbox's count to the output's, so that the amount
    /// never reads lower than what waits (a send on another thread judges
    /// backpressure by it).
    fn count_taken(&mut self, conn: &Connection, charged: usize) {
        let now = self.session.queued();
        conn.recount(self.counted + charged, now);
        self.counted = now;
        let buffered = conn.buffered_amount();
        if buffered > 0 {
            conn.traffic().buffered(buffered);
        }
    }

    /// Moves the inbox's commands into the session, in order.
    pub fn take_mail(&mut self, conn: &Connection) {
        let mut taken_charge = 0;
        for command in conn.take_commands() {
            match command {
                Command::Send(opcode, payload, charged, options) => {
                    taken_charge += charged;
                    let len = payload.len();
                    // Refused only after a close: dropped like any frame then.
                    let taken = self.session.send_owned(opcode, payload, options);
                    if taken.is_ok() && !opcode.is_control() {
                        conn.traffic().sent(len, !options.more);
                    }
                }
                Command::Published(message, charged) => {
                    taken_charge += charged;
                    if self.session.send_published(&message).is_ok() {
                        conn.traffic().sent(message.payload().len(), true);
                    }
                }
                Command::Close(code, reason) => {
                    let _ = self.session.close(code, &reason, Instant::now());
                }
                Command::CloseAfterInput(code, reason) => {
                    let _ = self
                        .session
                        .close_after_input(code, &reason, Instant::now());
                    // What has arrived is read first, reported by epoll yet or not.
                    self.stream.look_again();
                }
                Command::Set(setting) => self.change(setting),
                Command::Abort => self.abort(),
            }
        }
        self.count_taken(conn, taken_charge);
    }

    /// Changes a setting of the session.
    pub fn change(&mut self, setting: Setting) {
        match setting {
            Setting::AutoPong(on) => self.session.set_auto_pong(on),
            Setting::MaxMessageSize(max) => self.session.set_max_message_size(max),
        }
    }

    /// Ends the connection at once (see [`Connection::abort`]): nothing
    /// more is read or written, not even what a TLS stream buffered; the
    /// driver closes the socket on its next turn.
    pub fn abort(&mut self) {
        self.session.abort();
        self.unflushed = false;
        self.stash = None;
    }

    /// Queues a message sent on this thread; writes it at once unless corked.
    pub fn send(
        &mut self,
        conn: &Connection,
        opcode: OpCode,
        payload: &[u8],
        options: SendOptions,
    ) -> Result<(), SendError> {
        let Local {
            stream, session, ..
        } = self;
        let write = &mut |slices: &[IoSlice<'_>]| stream.write_now(slices);
        let result = session.send(opcode, payload, options, write);
        if result.is_ok() && !opcode.is_control() {
            conn.traffic().sent(payload.len(), !options.more);
        }
        if !self.corked {
            self.write_now(conn);
        }
        if self.session.has_work() {
            // A large message to compress a slice at a time: the driver does it.
            conn.wake();
        }
        self.count(conn);
        result
    }

    /// Queues a message published to a topic, to be written on the thread's
    /// next turn (with everything else published until then).
    pub fn send_published(
        &mut self,
        conn: &Connection,
        message: &Published,
    ) -> Result<(), SendError> {
        self.session.send_published(message)?;
        conn.traffic().sent(message.payload().len(), true);
        // Uncorked, the driver writes it on its turn; it also compresses a
        // large message a slice at a time.
        if !self.corked || self.session.has_work() {
            conn.wake();
        }
        self.count(conn);
        Ok(())
    }

    /// Writes what the socket takes now (plain TCP); if something stays
    /// queued, wakes the driver to wait until the socket takes the rest.
    pub fn write_now(&mut self, conn: &Connection) {
        if self.session.output().is_empty() {
            return;
        }
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let n = self.session.output().io_slices(&mut slices);
        let written = self.stream.write_now(&slices[..n]);
        if written > 0 {
            self.session.wrote(written);
        }
        if !self.session.output().is_empty() {
            conn.wake();
        }
    }
}
