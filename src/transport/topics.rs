//! Topics: a server's connections subscribe to named topics, and a message
//! published to a topic goes to every subscriber, encoded once (see
//! [`crate::protocol::published`]).
//!
//! A topic keeps its subscribers by I/O thread. A publish delivers at once
//! to the subscribers on its own thread (when it runs on an I/O thread) and
//! hands the message to each other thread that has subscribers: one
//! hand-over per thread, not one per subscriber. Delivering queues the frame
//! and schedules the connection, which writes on its thread's next turn, so
//! the messages published in one turn go out in one write per subscriber.
//!
//! A subscriber whose send queue cannot take a message is slow: it misses
//! the message, or is closed with 1008, as its server is configured
//! ([`SlowSubscriber`]). A thread's messages of a topic not delivered yet are
//! bounded the same way: a publisher on another thread that outruns it
//! finds its subscribers there slow once more than a send queue's limit
//! waits for them (all of it would go to each of them in one turn).
//!
//! Locks, always taken in this order: a connection's subscriptions, the
//! topic table, a topic's group of one thread.

use super::connection::{Connection, SendError};
use super::log::Level;
use super::{runtime, scheduler};
use crate::protocol::frame::MAX_HEADER_LEN;
use crate::protocol::published::Published;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The close code a slow subscriber gets under [`SlowSubscriber::Close`]:
/// 1008, policy violation (1013, try again later, is not in RFC 6455).
pub const SLOW_CLOSE_CODE: u16 = 1008;

/// The close reason a slow subscriber gets under [`SlowSubscriber::Close`].
pub const SLOW_CLOSE_REASON: &str = "too slow to take published messages";

/// Longest topic name, in bytes.
pub const MAX_TOPIC_LEN: usize = 1024;

/// What happens to a subscriber whose send queue cannot take a published
/// message (its send queue limit or the memory budgets would be exceeded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SlowSubscriber {
    /// It misses the message and stays subscribed (the default).
    #[default]
    Skip,
    /// It is closed with [`SLOW_CLOSE_CODE`].
    Close,
}

/// Why a subscription was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicError {
    /// The connection is closed, or is no server connection.
    NotOpen,
    /// The name is empty or longer than [`MAX_TOPIC_LEN`].
    BadName,
}

/// The topics of one server.
pub(crate) struct Topics {
    by_name: Mutex<HashMap<Box<[u8]>, Arc<Topic>>>,
    slow: SlowSubscriber,
    /// Bytes a subscriber may have queued (its send queue limit).
    queue_limit: usize,
}

/// One topic and its subscribers.
pub(crate) struct Topic {
    name: Box<[u8]>,
    /// Subscribers on each I/O thread (by thread index).
    groups: Box<[Group]>,
    /// Subscribers in all groups (changed under the topic table's lock).
    count: AtomicUsize,
}

/// The subscribers of a topic on one I/O thread.
#[derive(Default)]
struct Group {
    members: Mutex<Members>,
    /// How many (read without the lock, to skip empty groups).
    len: AtomicUsize,
    /// Bytes of messages handed to the group's thread, not delivered yet.
    backlog: AtomicUsize,
    /// A job closing its members as slow is on its way.
    closing: AtomicBool,
}

#[derive(Default)]
struct Members {
    list: Vec<Arc<Connection>>,
    /// Where each connection is in `list`, by id.
    at: HashMap<u64, usize>,
}

/// The topics a connection is subscribed to.
#[derive(Default)]
pub(crate) struct Subscriptions {
    topics: Vec<Arc<Topic>>,
    /// The connection is over: it takes no more subscriptions.
    over: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A topic name, checked.
fn checked(name: &[u8]) -> Result<&[u8], TopicError> {
    if name.is_empty() || name.len() > MAX_TOPIC_LEN {
        return Err(TopicError::BadName);
    }
    Ok(name)
}

impl Topics {
    /// Topics whose slow subscribers are treated as `slow` says, for
    /// connections that may queue `queue_limit` bytes.
    pub fn new(slow: SlowSubscriber, queue_limit: usize) -> Topics {
        Topics {
            by_name: Mutex::default(),
            slow,
            queue_limit,
        }
    }

    /// Subscribes `conn` to `name`. `Ok(false)` when it already was.
    pub fn subscribe(&self, conn: &Arc<Connection>, name: &[u8]) -> Result<bool, TopicError> {
        let name = checked(name)?;
        let mut subs = lock(conn.subscriptions());
        if subs.over {
            return Err(TopicError::NotOpen);
        }
        if subs.topics.iter().any(|t| *t.name == *name) {
            return Ok(false);
        }
        let topic = {
            let mut by_name = lock(&self.by_name);
            let topic = by_name
                .entry(name.into())
                .or_insert_with(|| Arc::new(Topic::new(name)))
                .clone();
            topic.count.fetch_add(1, Ordering::Relaxed);
            topic
        };
        topic.group(conn.thread()).add(conn);
        subs.topics.push(topic);
        Ok(true)
    }

    /// Unsubscribes `conn` from `name`. `Ok(false)` when it was not subscribed.
    pub fn unsubscribe(&self, conn: &Connection, name: &[u8]) -> Result<bool, TopicError> {
        let name = checked(name)?;
        let mut subs = lock(conn.subscriptions());
        let Some(at) = subs.topics.iter().position(|t| *t.name == *name) else {
            return Ok(false);
        };
        let topic = subs.topics.swap_remove(at);
        self.leave(conn, &topic);
        Ok(true)
    }

    /// True when `conn` is subscribed to `name`.
    pub fn is_subscribed(conn: &Connection, name: &[u8]) -> bool {
        lock(conn.subscriptions())
            .topics
            .iter()
            .any(|t| *t.name == *name)
    }

    /// Unsubscribes `conn`, which is over, from all its topics; it takes no
    /// new subscription.
    pub fn leave_all(&self, conn: &Connection) {
        let mut subs = lock(conn.subscriptions());
        subs.over = true;
        for topic in std::mem::take(&mut subs.topics) {
            self.leave(conn, &topic);
        }
    }

    /// Takes `conn` out of `topic`'s subscribers; the topic goes with its
    /// last subscriber.
    fn leave(&self, conn: &Connection, topic: &Arc<Topic>) {
        topic.group(conn.thread()).remove(conn.id());
        let mut by_name = lock(&self.by_name);
        if topic.count.fetch_sub(1, Ordering::Relaxed) == 1 {
            by_name.remove(&topic.name);
        }
    }

    /// How many connections are subscribed to `name`.
    pub fn subscriber_count(&self, name: &[u8]) -> usize {
        lock(&self.by_name)
            .get(name)
            .map_or(0, |t| t.count.load(Ordering::Relaxed))
    }

    /// Sends a message (`text`: checked to be UTF-8) to every subscriber of
    /// `name`; returns how many subscribers it went to.
    pub fn publish(&self, name: &[u8], text: bool, data: &[u8]) -> usize {
        let Some(topic) = lock(&self.by_name).get(name).cloned() else {
            return 0;
        };
        let message = Arc::new(Published::new(text, data));
        let size = data.len() + MAX_HEADER_LEN;
        let here = runtime::current();
        let mut reached = 0;
        for (thread, group) in topic.groups.iter().enumerate() {
            let members = group.len.load(Ordering::Acquire);
            if members == 0 {
                continue;
            }
            if here == Some(thread) {
                group.deliver(&message, self.slow);
            } else if group.backlog.fetch_add(size, Ordering::AcqRel) + size > self.queue_limit {
                group.backlog.fetch_sub(size, Ordering::AcqRel);
                self.overflowed(&topic, thread);
                continue;
            } else {
                let (topic, message, slow) = (topic.clone(), message.clone(), self.slow);
                scheduler::run_on(
                    thread,
                    Box::new(move || {
                        let group = &topic.groups[thread];
                        group.deliver(&message, slow);
                        group.backlog.fetch_sub(size, Ordering::AcqRel);
                    }),
                );
            }
            reached += members;
        }
        reached
    }

    /// A message of `topic` did not go to I/O thread `thread`: more than a
    /// send queue's limit waits there already. Its subscribers there are
    /// slow: they miss it, or are closed.
    fn overflowed(&self, topic: &Arc<Topic>, thread: usize) {
        crate::log!(
            Level::Debug,
            0,
            "I/O thread {thread} is behind with a topic's messages: its subscribers miss one"
        );
        let group = &topic.groups[thread];
        if self.slow == SlowSubscriber::Close && !group.closing.swap(true, Ordering::AcqRel) {
            let topic = topic.clone();
            scheduler::run_on(
                thread,
                Box::new(move || {
                    let group = &topic.groups[thread];
                    group.closing.store(false, Ordering::Release);
                    for conn in &lock(&group.members).list {
                        close_slow(conn);
                    }
                }),
            );
        }
    }
}

impl Topic {
    fn new(name: &[u8]) -> Topic {
        let threads = runtime::thread_count().unwrap_or(1);
        Topic {
            name: name.into(),
            groups: (0..threads).map(|_| Group::default()).collect(),
            count: AtomicUsize::new(0),
        }
    }

    /// The group of the subscribers on I/O thread `thread`.
    fn group(&self, thread: usize) -> &Group {
        &self.groups[thread % self.groups.len()]
    }
}

impl Group {
    fn add(&self, conn: &Arc<Connection>) {
        let mut members = lock(&self.members);
        let at = members.list.len();
        members.at.insert(conn.id(), at);
        members.list.push(conn.clone());
        self.len.store(members.list.len(), Ordering::Release);
    }

    fn remove(&self, id: u64) {
        let mut members = lock(&self.members);
        let Some(at) = members.at.remove(&id) else {
            return;
        };
        members.list.swap_remove(at);
        if let Some(moved) = members.list.get(at).map(|c| c.id()) {
            members.at.insert(moved, at);
        }
        self.len.store(members.list.len(), Ordering::Release);
    }

    /// Queues `message` to every member (called on their I/O thread).
    fn deliver(&self, message: &Arc<Published>, slow: SlowSubscriber) {
        let members = lock(&self.members);
        for conn in &members.list {
            match conn.send_published(message) {
                Err(SendError::QueueFull) if slow == SlowSubscriber::Close => close_slow(conn),
                Err(SendError::QueueFull) => {
                    crate::log!(
                        Level::Debug,
                        conn.id(),
                        "a slow subscriber missed a message"
                    );
                }
                _ => {}
            }
        }
    }
}

/// Closes a subscriber too slow to take what is published.
fn close_slow(conn: &Connection) {
    if conn.close(Some(SLOW_CLOSE_CODE), SLOW_CLOSE_REASON).is_ok() {
        crate::log!(Level::Info, conn.id(), "closing a slow subscriber");
    }
}
