//! The bytes waiting to be written to a connection's socket.
//!
//! Frames are appended to the last chunk, so many small frames go out in one
//! write; a large frame handed over as its own buffer stays in it (no copy),
//! and a large frame shared by many connections (a published message) is
//! queued by reference. Everything is written with one vectored write.
//!
//! An empty queue holds no memory. While a connection handles a batch of
//! reads, the transport lends it a buffer of its thread ([`OutQueue::lend`])
//! and takes it back after the write ([`OutQueue::take_lent`]): answering a
//! message allocates nothing, and only bytes the socket did not take stay with
//! the connection.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Arc;

/// Frames up to this size are copied into the last chunk to batch writes.
const COALESCE_MAX: usize = 16 * 1024;

/// A chunk takes appended frames until it holds this much.
const CHUNK_MAX: usize = 64 * 1024;

/// A chunk for small frames starts with room for this much: the frames of
/// a turn (many small messages to one connection) fill it without growing it.
const FIRST_CHUNK: usize = 2048;

/// Most buffers handed to one vectored write (Linux takes up to 1024).
pub const MAX_SLICES: usize = 64;

/// Bytes queued for the socket: the queue's own, or shared with other queues.
#[derive(Debug)]
enum Chunk {
    Own(Vec<u8>),
    Shared(Arc<[u8]>),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Own(v) => v,
            Chunk::Shared(s) => s,
        }
    }

    /// The chunk, when frames may be appended to it.
    fn own_mut(&mut self) -> Option<&mut Vec<u8>> {
        match self {
            Chunk::Own(v) => Some(v),
            Chunk::Shared(_) => None,
        }
    }
}

/// A FIFO of byte chunks with the write position in the first one.
#[derive(Debug, Default)]
pub struct OutQueue {
    chunks: VecDeque<Chunk>,
    /// Bytes of the first chunk already written.
    written: usize,
    /// Bytes not yet written, over all chunks.
    len: usize,
    /// The first chunk is a buffer lent by [`OutQueue::lend`].
    lent: bool,
}

impl OutQueue {
    /// Bytes not yet written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Nothing left to write.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Lends an empty `buffer` to append frames to, if the queue holds no chunk;
    /// otherwise hands it straight back.
    pub fn lend(&mut self, mut buffer: Vec<u8>) -> Option<Vec<u8>> {
        if !self.chunks.is_empty() || self.lent {
            return Some(buffer);
        }
        buffer.clear();
        self.chunks.push_back(Chunk::Own(buffer));
        self.lent = true;
        None
    }

    /// Takes back the lent buffer, emptied. Unwritten bytes in it are moved
    /// into a buffer of their own size first, so the queue keeps only them.
    pub fn take_lent(&mut self) -> Option<Vec<u8>> {
        if !self.lent {
            return None;
        }
        self.lent = false;
        let Some(Chunk::Own(mut lent)) = self.chunks.pop_front() else {
            unreachable!("a lent chunk is the first, and the queue's own")
        };
        if lent.len() > self.written {
            self.chunks
                .push_front(Chunk::Own(lent[self.written..].to_vec()));
        } else if self.chunks.is_empty() {
            self.chunks = VecDeque::new();
        }
        self.written = 0;
        lent.clear();
        Some(lent)
    }

    /// Queues an encoded frame, keeping a large one in its own buffer.
    pub fn push(&mut self, bytes: Vec<u8>) {
        if bytes.len() <= COALESCE_MAX {
            if let Some(last) = self.chunks.back_mut().and_then(Chunk::own_mut) {
                if last.len() + bytes.len() <= CHUNK_MAX.max(last.capacity()) {
                    self.len += bytes.len();
                    last.extend_from_slice(&bytes);
                    return;
                }
            }
        }
        self.len += bytes.len();
        self.chunks.push_back(Chunk::Own(bytes));
    }

    /// Queues an encoded frame that other queues share: a small one is
    /// copied into the last chunk (to batch writes), a large one is queued
    /// by reference (no copy).
    pub fn push_shared(&mut self, bytes: &Arc<[u8]>) {
        if bytes.len() <= COALESCE_MAX {
            self.push_slice(bytes);
            return;
        }
        self.len += bytes.len();
        self.chunks.push_back(Chunk::Shared(bytes.clone()));
    }

    /// Queues a copy of `bytes`.
    pub fn push_slice(&mut self, bytes: &[u8]) {
        self.push_with(|v| v.extend_from_slice(bytes));
    }

    /// Queues a frame encoded by `encode` straight into the last chunk.
    pub fn push_with(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        let room = |c: &Chunk| match c {
            Chunk::Own(v) => v.len() < CHUNK_MAX || v.len() < v.capacity(),
            Chunk::Shared(_) => false,
        };
        if !self.chunks.back().is_some_and(room) {
            self.chunks
                .push_back(Chunk::Own(Vec::with_capacity(FIRST_CHUNK)));
        }
        let last = self
            .chunks
            .back_mut()
            .and_then(Chunk::own_mut)
            .expect("an own chunk is last");
        let before = last.len();
        encode(last);
        self.len += last.len() - before;
    }

    /// Fills `out` with the unwritten bytes, in order, for one vectored write;
    /// returns how many slices it used.
    pub fn io_slices<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (i, chunk) in self.chunks.iter().enumerate() {
            if n == out.len() {
                break;
            }
            let chunk = chunk.bytes();
            let from = if i == 0 { self.written } else { 0 };
            if from < chunk.len() {
                out[n] = IoSlice::new(&chunk[from..]);
                n += 1;
            }
        }
        n
    }

    /// Marks `n` bytes as written.
    pub fn advance(&mut self, mut n: usize) {
        assert!(n <= self.len, "advance within queued bytes");
        self.len -= n;
        while n > 0 {
            let first = self.chunks.front().expect("advance within queued bytes");
            let left = first.bytes().len() - self.written;
            if n < left {
                self.written += n;
                return;
            }
            n -= left;
            self.written = 0;
            if self.lent && self.chunks.len() == 1 {
                // Keep the lent buffer in place (emptied) until it is taken back.
                if let Some(lent) = self.chunks[0].own_mut() {
                    lent.clear();
                }
                return;
            }
            self.chunks.pop_front();
            self.lent = false;
        }
        if self.len == 0 && !self.lent {
            // Drop the chunk list too: an idle connection holds nothing.
            self.chunks = VecDeque::new();
            self.written = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(q: &mut OutQueue, step: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while !q.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let used = q.io_slices(&mut slices);
            assert!(used > 0);
            let mut n = 0;
            for s in &slices[..used] {
                let take = (step - n).min(s.len());
                out.extend_from_slice(&s[..take]);
                n += take;
                if n == step {
                    break;
                }
            }
            q.advance(n);
        }
        out
    }

    #[test]
    #[cfg_attr(miri, ignore)] // 1.5 MB drained a byte at a time: minutes under Miri
    fn bytes_come_out_in_order_whatever_the_write_sizes() {
        for step in [1, 3, 100, 20_000, 1 << 20] {
            let mut q = OutQueue::default();
            let mut expected = Vec::new();
            for i in 0..50u32 {
                let size = if i % 7 == 0 { 40_000 } else { i as usize * 3 };
                let frame: Vec<u8> = (0..size).map(|j| (i as usize + j) as u8).collect();
                expected.extend_from_slice(&frame);
                match i % 3 {
                    0 => q.push(frame),
                    1 => q.push_with(|v| v.extend_from_slice(&frame)),
                    _ => q.push_slice(&frame),
                }
            }
            assert_eq!(q.len(), expected.len());
            assert_eq!(drain(&mut q, step), expected, "step {step}");
        }
    }

    #[test]
    fn small_frames_share_a_chunk() {
        let mut q = OutQueue::default();
        for _ in 0..100 {
            q.push(vec![1; 10]);
        }
        assert_eq!(q.io_slices(&mut [IoSlice::new(&[]); MAX_SLICES]), 1);
        q.push(vec![2; 100_000]);
        assert_eq!(q.io_slices(&mut [IoSlice::new(&[]); MAX_SLICES]), 2);
    }

    #[test]
    fn a_large_shared_frame_is_queued_by_reference_and_a_small_one_copied() {
        let large: Arc<[u8]> = vec![7; 100_000].into();
        let small: Arc<[u8]> = vec![8; 10].into();
        let mut q = OutQueue::default();
        q.push_slice(b"ab");
        q.push_shared(&small);
        q.push_shared(&large);
        q.push_slice(b"cd");
        assert_eq!(Arc::strong_count(&small), 1, "copied");
        assert_eq!(Arc::strong_count(&large), 2, "shared");
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        assert_eq!(q.io_slices(&mut slices), 3);
        let mut expected = b"ab".to_vec();
        expected.extend_from_slice(&small);
        expected.extend_from_slice(&large);
        expected.extend_from_slice(b"cd");
        assert_eq!(drain(&mut q, 3000), expected);
        assert_eq!(Arc::strong_count(&large), 1, "released once written");
    }

    #[test]
    fn an_emptied_queue_holds_no_memory() {
        let mut q = OutQueue::default();
        q.push(vec![1; 100]);
        q.push(vec![2; 100_000]);
        drain(&mut q, 7000);
        assert_eq!(q.chunks.capacity(), 0);
    }

    #[test]
    fn a_lent_buffer_comes_back_empty_and_keeps_only_unwritten_bytes() {
        let mut q = OutQueue::default();
        let spare = Vec::with_capacity(4096);
        assert!(q.lend(spare).is_none());
        q.push_slice(b"hello ");
        q.push_slice(b"world");
        assert_eq!(q.chunks.len(), 1, "appended to the lent buffer");
        q.advance(6);
        let back = q.take_lent().expect("lent");
        assert!(back.is_empty() && back.capacity() == 4096);
        assert_eq!(drain(&mut q, 100), b"world");
        // All written: the lent buffer comes back and the queue is empty.
        assert!(q.lend(back).is_none());
        q.push_slice(b"abc");
        q.advance(3);
        assert_eq!(q.take_lent().map(|v| v.capacity()), Some(4096));
        assert_eq!(q.chunks.capacity(), 0);
        // A queue with bytes of its own does not take a loan.
        q.push_slice(b"x");
        assert!(q.lend(Vec::new()).is_some());
        assert!(q.take_lent().is_none());
    }
}
