//! Each I/O thread's own epoll instance, for the sockets of open plain-TCP
//! connections.
//!
//! tokio registers every socket it watches with a 256-byte, cache-line aligned
//! record; for servers holding many idle connections that is most of what a
//! connection costs. So once a plain connection is open, its socket leaves
//! tokio and joins its thread's epoll instance (edge-triggered, read and
//! write interest registered once), which tokio watches as a single file
//! descriptor. The scheduler ([`super::scheduler`]) collects its events and
//! wakes the connections they name; a [`Socket`] remembers what the last
//! events said (readable, writable) until a read or write would block.
//!
//! Events name connections through a slab of this thread's registrations
//! (index and generation), never through pointers, so a stale event finds
//! nothing.

use super::connection::Connection;
use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

/// Events taken from epoll at once.
const EVENTS: usize = 256;

/// One thread's epoll instance and what is registered with it.
struct Reactor {
    epoll: AsyncFd<OwnedFd>,
    slots: Vec<Slot>,
    /// Indexes of free slots.
    free: Vec<u32>,
    events: Vec<libc::epoll_event>,
}

/// A registered connection, or a free place for one.
struct Slot {
    /// Raised each time the slot is freed, so old tokens stop matching.
    generation: u32,
    conn: Option<Arc<Connection>>,
}

thread_local! {
    static REACTOR: RefCell<Option<Reactor>> = const { RefCell::new(None) };
}

fn token(index: u32, generation: u32) -> u64 {
    u64::from(generation) << 32 | u64::from(index)
}

impl Reactor {
    /// A new epoll instance, watched by the current tokio runtime.
    fn new() -> io::Result<Reactor> {
        // SAFETY: plain system call; the result is checked.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nothing else.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: the OwnedFd keeps its descriptor open, and reports that one,
        // for as long as the AsyncFd owns it.
        let epoll = unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE)? };
        Ok(Reactor {
            epoll,
            slots: Vec::new(),
            free: Vec::new(),
            events: Vec::with_capacity(EVENTS),
        })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: token,
        };
        // SAFETY: `event` is a valid epoll_event for the call's duration.
        let rc = unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut event) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// The socket of an open plain-TCP connection, watched by its thread's epoll.
pub(crate) struct Socket {
    stream: TcpStream,
    token: u64,
    /// The last events said so, and no read since would have blocked.
    readable: bool,
    /// The peer ended its side (or the socket failed): reads end at once,
    /// whatever `readable` says. Never cleared.
    read_closed: bool,
    /// The last events said so, and no write since would have blocked.
    writable: bool,
    /// The socket failed or hung up: writes fail at once. Never cleared.
    write_closed: bool,
    /// Bytes that must have arrived before epoll says the socket is readable
    /// (SO_RCVLOWAT; 1 is the system's default).
    low_water: u32,
}

impl Socket {
    /// Registers `stream` (non-blocking) for `conn` with the calling thread's
    /// epoll instance, which must be `conn`'s I/O thread.
    pub(crate) fn register(stream: TcpStream, conn: &Arc<Connection>) -> io::Result<Socket> {
        REACTOR.with(|cell| {
            let mut cell = cell.borrow_mut();
            if cell.is_none() {
                *cell = Some(Reactor::new()?);
            }
            let reactor = cell.as_mut().expect("made above");
            let index = match reactor.free.pop() {
                Some(index) => index,
                None => {
                    reactor.slots.push(Slot {
                        generation: 0,
                        conn: None,
                    });
                    (reactor.slots.len() - 1) as u32
                }
            };
            let slot = &mut reactor.slots[index as usize];
            let token = token(index, slot.generation);
            slot.conn = Some(conn.clone());
            if let Err(e) = reactor.ctl(libc::EPOLL_CTL_ADD, stream.as_raw_fd(), token) {
                release(reactor, token);
                return Err(e);
            }
            Ok(Socket {
                stream,
                token,
                // Edge-triggered: the first events come with the registration.
                readable: false,
                read_closed: false,
                writable: false,
                write_closed: false,
                low_water: 1,
            })
        })
    }

    /// Asks the kernel to say the socket is readable only once `bytes` have
    /// arrived (or it ended), so that a large frame on its way wakes the
    /// thread a few times instead of once per TCP segment.
    pub(crate) fn low_water(&mut self, bytes: u32) {
        let bytes = bytes.max(1);
        if bytes == self.low_water {
            return;
        }
        let value = bytes as libc::c_int;
        // SAFETY: `value` is a c_int that lives for the call.
        let rc = unsafe {
            libc::setsockopt(
                self.stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            self.low_water = bytes;
        }
    }

    /// Writes what the socket takes now, without waiting; 0 when it would
    /// block (or on an error, which the next read or write reports).
    pub(crate) fn write_now(&mut self, slices: &[IoSlice<'_>]) -> usize {
        if !self.writable || self.write_closed {
            return 0;
        }
        match send(&self.stream, slices) {
            Ok(n) => n,
            Err(_) => {
                self.writable = false;
                0
            }
        }
    }
}

/// Sends `slices` with one system call: send(2) for one slice, sendmsg(2)
/// for more. On a socket both cost less than write(2) and writev(2), which
/// go through the file layer first, and neither raises SIGPIPE in a host
/// that has not ignored it.
fn send(stream: &TcpStream, slices: &[IoSlice<'_>]) -> io::Result<usize> {
    let fd = stream.as_raw_fd();
    retry(|| match slices {
        // SAFETY: the pointer and length come from one live slice.
        [one] => unsafe { libc::send(fd, one.as_ptr().cast(), one.len(), libc::MSG_NOSIGNAL) },
        _ => {
            // SAFETY: an all-zero msghdr is valid (no name, no control data).
            let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
            // IoSlice is ABI compatible with iovec, and sendmsg only reads them.
            message.msg_iov = slices.as_ptr() as *mut libc::iovec;
            message.msg_iovlen = slices.len() as _;
            // SAFETY: `message` points at `slices`, alive for the call.
            unsafe { libc::sendmsg(fd, &message, libc::MSG_NOSIGNAL) }
        }
    })
}

/// Reads into `buf` with recv(2) (the socket counterpart of `send`).
fn receive(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let fd = stream.as_raw_fd();
    // SAFETY: the pointer and length come from one live, writable slice.
    retry(|| unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) })
}

/// Runs a system call until a signal does not interrupt it; its count, or
/// the error it set.
fn retry(mut call: impl FnMut() -> isize) -> io::Result<usize> {
    loop {
        let rc = call();
        if rc >= 0 {
            return Ok(rc as usize);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// Frees the slot of `token` (its generation moves on).
fn release(reactor: &mut Reactor, token: u64) {
    let index = token as u32;
    if let Some(slot) = reactor.slots.get_mut(index as usize) {
        if token == self::token(index, slot.generation) {
            slot.conn = None;
            slot.generation = slot.generation.wrapping_add(1);
            reactor.free.push(index);
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // On the connection's own thread (the only place its state is
        // dropped while registered); closing the socket below would remove
        // it from epoll anyway, this also frees its slot.
        let _ = REACTOR.try_with(|cell| {
            if let Ok(mut cell) = cell.try_borrow_mut() {
                if let Some(reactor) = cell.as_mut() {
                    let _ = reactor.ctl(libc::EPOLL_CTL_DEL, self.stream.as_raw_fd(), 0);
                    release(reactor, self.token);
                }
            }
        });
    }
}

/// Takes the events of this thread's epoll instance, if any, and hands each
/// named connection to `wake` after telling its socket what happened. Called
/// by the thread's scheduler, with its context: once no events are left, the
/// scheduler is woken for the next ones. `true` when there may be more events
/// than one call takes.
pub(crate) fn poll_events(cx: &mut Context<'_>, wake: impl Fn(&Arc<Connection>)) -> bool {
    REACTOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        let Some(reactor) = cell.as_mut() else {
            return false;
        };
        loop {
            // Pending registers the scheduler for the next events.
            let Poll::Ready(Ok(mut guard)) = reactor.epoll.poll_read_ready(cx) else {
                return false;
            };
            let fd = guard.get_ref().as_raw_fd();
            let events = &mut reactor.events;
            events.clear();
            // SAFETY: the buffer has room for EVENTS entries, which epoll fills.
            let n = unsafe { libc::epoll_wait(fd, events.as_mut_ptr(), EVENTS as libc::c_int, 0) };
            // SAFETY: epoll_wait initialized the first `n` entries.
            unsafe { events.set_len(n.max(0) as usize) };
            for event in reactor.events.iter() {
                let token = event.u64;
                let index = token as u32;
                if let Some(slot) = reactor.slots.get(index as usize) {
                    if token == self::token(index, slot.generation) {
                        if let Some(conn) = &slot.conn {
                            conn.socket_ready(event.events);
                            wake(conn);
                        }
                    }
                }
            }
            if reactor.events.len() == EVENTS {
                return true;
            }
            guard.clear_ready();
        }
    })
}

impl Socket {
    /// Makes the next read try the socket whatever the events said so far:
    /// bytes that arrived may not have been reported yet.
    pub(crate) fn look_again(&mut self) {
        self.readable = true;
    }

    /// Records what epoll said about the socket.
    pub(crate) fn ready(&mut self, events: u32) {
        let has = |flags: libc::c_int| events & flags as u32 != 0;
        self.readable |= has(libc::EPOLLIN);
        self.writable |= has(libc::EPOLLOUT);
        // An end of stream stays visible after a short read drained the
        // data before it; a failure stays visible to both directions.
        self.read_closed |= has(libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR);
        self.write_closed |= has(libc::EPOLLHUP | libc::EPOLLERR);
    }
}

impl AsyncRead for Socket {
    /// Reads what has arrived; `Pending` when nothing has, until the next
    /// event wakes the connection (the waker is always the connection).
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.readable && !self.read_closed {
            return Poll::Pending;
        }
        let room = buf.initialize_unfilled();
        let len = room.len();
        let read = receive(&self.stream, room);
        match read {
            Ok(n) => {
                // Edge-triggered: a read that did not fill the buffer drained
                // the socket, so the next one would block.
                if n < len && n > 0 {
                    self.readable = false;
                }
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.readable = false;
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if !self.writable && !self.write_closed {
            return Poll::Pending;
        }
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        match send(&self.stream, bufs) {
            Ok(n) => {
                if n < len {
                    self.writable = false;
                }
                Poll::Ready(Ok(n))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.writable = false;
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.stream.shutdown(Shutdown::Write))
    }
}
