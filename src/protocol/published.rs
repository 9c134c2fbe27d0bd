//! A message published to many connections (a topic's subscribers), encoded
//! once: a server's frames are not masked, so every subscriber can send the
//! same bytes. The frame is shared, not copied, by the connections that
//! queue it (see [`super::outqueue::OutQueue::push_shared`]).
//!
//! Subscribers that agreed on permessage-deflate without server context
//! takeover compress every message afresh, so all of them with the same
//! compressor settings send the same compressed frame: it is made once, by
//! the first of them that needs it. Subscribers with context takeover
//! compress it on their own (their bytes depend on what they sent before).

use super::deflate::CompressorSettings;
use super::frame::{write_header, OpCode, MAX_HEADER_LEN};
use super::session::compress_frame;
use std::sync::{Arc, Mutex};

/// A message encoded once for all the connections it goes to.
pub struct Published {
    opcode: OpCode,
    /// The whole frame: header, then payload.
    frame: Arc<[u8]>,
    header_len: usize,
    /// Its compressed frames, by the settings they were made with (made on
    /// first need; rarely more than one).
    pub(super) compressed: Mutex<Vec<(CompressorSettings, Arc<[u8]>)>>,
}

impl std::fmt::Debug for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Published")
            .field("opcode", &self.opcode)
            .field("len", &self.payload().len())
            .finish()
    }
}

impl Published {
    /// Encodes a text (`text`: already checked to be UTF-8) or binary
    /// message as one unmasked frame.
    pub fn new(text: bool, payload: &[u8]) -> Published {
        let opcode = if text { OpCode::Text } else { OpCode::Binary };
        let mut frame = Vec::with_capacity(MAX_HEADER_LEN + payload.len());
        write_header(&mut frame, true, 0, opcode, None, payload.len());
        let header_len = frame.len();
        frame.extend_from_slice(payload);
        Published {
            opcode,
            frame: frame.into(),
            header_len,
            compressed: Mutex::new(Vec::new()),
        }
    }

    /// Text or binary.
    pub fn opcode(&self) -> OpCode {
        self.opcode
    }

    /// The message's payload.
    pub fn payload(&self) -> &[u8] {
        &self.frame[self.header_len..]
    }

    /// The uncompressed frame.
    pub fn frame(&self) -> &Arc<[u8]> {
        &self.frame
    }

    /// The frame compressed with `settings` (made now if it was not yet).
    pub fn compressed(&self, settings: CompressorSettings) -> Arc<[u8]> {
        let mut made = self.compressed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, frame)) = made.iter().find(|(s, _)| *s == settings) {
            return frame.clone();
        }
        let frame: Arc<[u8]> = compress_frame(
            &mut settings.compressor(),
            self.opcode,
            self.payload(),
            None,
        )
        .into();
        made.push((settings, frame.clone()));
        frame
    }
}
