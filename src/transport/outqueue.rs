//! The bytes waiting to be written to a socket.
//!
//! Small frames are appended to the last chunk so that many of them go out in one
//! write; large frames stay in their own buffer (no copy) and everything is
//! written with one vectored write per wake-up.

use std::collections::VecDeque;
use std::io::IoSlice;

/// Frames up to this size are copied into the previous chunk to batch writes.
const COALESCE_MAX: usize = 16 * 1024;

/// Most buffers handed to one vectored write.
const MAX_SLICES: usize = 64;

/// A FIFO of byte chunks with the write position in the first one.
#[derive(Debug, Default)]
pub struct OutQueue {
    chunks: VecDeque<Vec<u8>>,
    /// Bytes of the first chunk already written.
    written: usize,
    /// Bytes not yet written, over all chunks.
    len: usize,
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

    /// Queues an encoded frame.
    pub fn push(&mut self, bytes: Vec<u8>) {
        self.len += bytes.len();
        if bytes.len() <= COALESCE_MAX {
            if let Some(last) = self.chunks.back_mut() {
                if last.len() + bytes.len() <= COALESCE_MAX * 4 {
                    last.extend_from_slice(&bytes);
                    return;
                }
            }
        }
        self.chunks.push_back(bytes);
    }

    /// Queues a frame encoded by `encode` straight into the last chunk.
    pub fn push_with(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        if self
            .chunks
            .back()
            .is_none_or(|c| c.len() > COALESCE_MAX * 3)
        {
            self.chunks.push_back(Vec::with_capacity(256));
        }
        let last = self.chunks.back_mut().expect("pushed above");
        let before = last.len();
        encode(last);
        self.len += last.len() - before;
    }

    /// The unwritten bytes as slices for one vectored write.
    pub fn slices(&self) -> Vec<IoSlice<'_>> {
        let mut out = Vec::with_capacity(self.chunks.len().min(MAX_SLICES));
        for (i, chunk) in self.chunks.iter().take(MAX_SLICES).enumerate() {
            let from = if i == 0 { self.written } else { 0 };
            out.push(IoSlice::new(&chunk[from..]));
        }
        out
    }

    /// Marks `n` bytes as written.
    pub fn advance(&mut self, mut n: usize) {
        self.len -= n;
        while n > 0 {
            let first = self.chunks.front().expect("advance within queued bytes");
            let left = first.len() - self.written;
            if n < left {
                self.written += n;
                return;
            }
            n -= left;
            self.written = 0;
            self.chunks.pop_front();
        }
        if self.len == 0 {
            // Keep one small chunk around for the next frames; drop big ones.
            self.chunks.clear();
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
            let slices = q.slices();
            let mut n = 0;
            for s in &slices {
                let take = (step - n).min(s.len());
                out.extend_from_slice(&s[..take]);
                n += take;
                if n == step {
                    break;
                }
            }
            drop(slices);
            q.advance(n);
        }
        out
    }

    #[test]
    fn bytes_come_out_in_order_whatever_the_write_sizes() {
        for step in [1, 3, 100, 20_000, 1 << 20] {
            let mut q = OutQueue::default();
            let mut expected = Vec::new();
            for i in 0..50u32 {
                let size = if i % 7 == 0 { 40_000 } else { i as usize * 3 };
                let frame: Vec<u8> = (0..size).map(|j| (i as usize + j) as u8).collect();
                expected.extend_from_slice(&frame);
                if i % 2 == 0 {
                    q.push(frame);
                } else {
                    q.push_with(|v| v.extend_from_slice(&frame));
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
        assert_eq!(q.slices().len(), 1);
        q.push(vec![2; 100_000]);
        assert_eq!(q.slices().len(), 2);
    }
}
