//! The receiving half of a connection: frames in, whole messages out.
//!
//! `Receiver` is a sans-I/O state machine. Give it the bytes read from the socket;
//! it unmasks them in place, checks every rule of RFC 6455 section 5 (masking
//! direction, RSV bits, opcode order, control frame limits, UTF-8 of text as it
//! arrives, the maximum message size) and hands back one event at a time.
//! A message that arrives as one frame in one read is handed out as a slice of the
//! caller's buffer (no copy); anything else is assembled in an internal buffer.
//!
//! With [`Receiver::deliver_parts`], messages are not assembled: each piece of
//! payload is handed out as it arrives ([`Incoming::Part`]), so a message of any
//! size passes through bounded memory.

use super::close::{parse_close_payload, ClosePayloadError};
use super::deflate::{Decompressor, InflateError, Inflated};
use super::error::ProtocolError;
use super::frame::{parse_header, FrameHeader, OpCode, RSV1};
use super::mask::apply_mask;
use super::utf8::{incomplete_tail, Utf8Validator};

/// Which side of the connection we are: it decides which frames must be masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We connected: frames from the server must not be masked.
    Client,
    /// We accepted: frames from the client must be masked.
    Server,
}

/// The payload of an event: a slice of the caller's buffer (a message that
/// arrived whole in one read, never copied), or a buffer the receiver assembled
/// and now lends out. Hand an owned one back with [`Receiver::recycle`] so the
/// next message reuses its memory.
#[derive(Debug, PartialEq, Eq)]
pub enum Payload<'a> {
    /// Part of the buffer given to [`Receiver::decode`].
    Borrowed(&'a [u8]),
    /// Assembled from several frames or reads, or inflated.
    Owned(Vec<u8>),
}

impl std::ops::Deref for Payload<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Payload::Borrowed(b) => b,
            Payload::Owned(v) => v,
        }
    }
}

/// One thing the peer said.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A complete text message (valid UTF-8).
    Text(Payload<'a>),
    /// A complete binary message.
    Binary(Payload<'a>),
    /// A ping with its payload (answer with a pong carrying the same payload).
    Ping(Payload<'a>),
    /// A pong with its payload.
    Pong(Payload<'a>),
    /// A close frame: the code (`None` when the frame had none) and the reason.
    Close(Option<u16>, String),
    /// A piece of a message, in order (only with [`Receiver::deliver_parts`]).
    Part(Part<'a>),
}

/// A piece of a message handed out as it arrives. Text pieces end on
/// character boundaries: each one is valid UTF-8 by itself.
#[derive(Debug, PartialEq, Eq)]
pub struct Part<'a> {
    /// The message is text (true) or binary.
    pub text: bool,
    /// The piece's bytes (possibly empty for the last piece).
    pub payload: Payload<'a>,
    /// The first piece of its message.
    pub first: bool,
    /// The last piece of its message.
    pub last: bool,
    /// Bytes of the message handed out so far, this piece included.
    pub total: u64,
}

/// The frame whose payload is being read.
#[derive(Debug)]
struct CurrentFrame {
    header: FrameHeader,
    /// Payload bytes still to come.
    remaining: u64,
}

/// Where the payload of the event being returned lives.
enum Deliver {
    /// `buf[start..end]` of the caller's buffer.
    Buffer(OpCode, usize, usize),
    /// The assembled message buffer (lent out).
    Message(OpCode),
    /// The assembled control frame buffer (lent out).
    Control(OpCode),
    /// `buf[start..end]` as a piece of the message (`last`: its end).
    Piece(OpCode, usize, usize, bool),
    /// An event made from the receiver's own buffers.
    Ready(Incoming<'static>),
}

/// The receive state machine of one connection.
pub struct Receiver {
    role: Role,
    /// Accept frames masked or not, whatever `role` says (standalone decoders).
    any_masking: bool,
    max_message_size: usize,
    /// Most bytes the message in progress may hold (see [`Receiver::set_room`]).
    room: usize,
    /// Most frames one message may have (0: no limit).
    max_fragments: u32,
    /// Frames of the message in progress so far.
    fragments: u32,
    frame: Option<CurrentFrame>,
    /// Opcode (Text/Binary) of the fragmented message in progress.
    message_opcode: Option<OpCode>,
    /// Payload of the message in progress (fragments, or a frame split over reads).
    message: Vec<u8>,
    /// Payload of a control frame split over reads (boxed: one word in
    /// every connection instead of three, for something rare).
    #[allow(clippy::box_collection)]
    control: Option<Box<Vec<u8>>>,
    utf8: Utf8Validator,
    /// permessage-deflate's inflater, when negotiated (boxed: most
    /// connections have none, and it is large).
    inflater: Option<Box<Decompressor>>,
    /// The message in progress is compressed (its first frame had RSV1).
    compressed: bool,
    /// RSV bits accepted on any frame without an extension to process them
    /// (see [`Receiver::allow_rsv`]).
    allowed_rsv: u8,
    /// The RSV bits of the first frame of the message in progress (or of
    /// the last message).
    message_rsv: u8,
    /// The RSV bits of the last control frame.
    control_rsv: u8,
    /// Compressed bytes not inflated yet, when inflation goes step by step.
    backlog: Option<Box<Backlog>>,
    /// The opcode of a message whose last frame arrived while its inflation
    /// was still under way.
    finished_opcode: Option<OpCode>,
    /// Messages are handed out in pieces (boxed: most connections take
    /// whole messages).
    parts: Option<Box<Parts>>,
}

/// Where the message being handed out in pieces is. Its undelivered bytes
/// (the end of a text piece cut inside a UTF-8 sequence, or what a step of
/// inflation produced) wait in `Receiver::message`.
#[derive(Debug, Default)]
struct Parts {
    /// Bytes of the message handed out so far.
    delivered: u64,
    /// Its first piece was handed out.
    started: bool,
}

/// Compressed bytes received (and unmasked) but not inflated yet.
struct Backlog {
    bytes: Vec<u8>,
    start: usize,
    /// The inflater stopped at a step: more output may come without input.
    more: bool,
    /// These bytes end the message: finish it when they are done.
    ends_message: bool,
}

/// Most bytes one inflation step produces (about a millisecond of work), so
/// that a message that inflates to megabytes does not hold up the thread.
const INFLATE_STEP: usize = 256 * 1024;

/// The reason of the error for a message with more frames than allowed.
pub(crate) const FRAGMENTS_REASON: &str = "message has more fragments than allowed";

/// Assembly buffers larger than this are released after use instead of kept,
/// so an idle connection does not keep the memory of its largest message.
const KEEP_CAPACITY: usize = 8 * 1024;

impl Receiver {
    /// A receiver for `role` that refuses messages over `max_message_size` bytes
    /// (1009), inflating compressed messages with `inflater` when
    /// permessage-deflate was negotiated.
    pub fn new(role: Role, max_message_size: usize, inflater: Option<Decompressor>) -> Self {
        Receiver {
            role,
            any_masking: false,
            max_message_size,
            room: usize::MAX,
            max_fragments: 0,
            fragments: 0,
            frame: None,
            message_opcode: None,
            message: Vec::new(),
            control: None,
            utf8: Utf8Validator::new(),
            inflater: inflater.map(Box::new),
            compressed: false,
            allowed_rsv: 0,
            message_rsv: 0,
            control_rsv: 0,
            backlog: None,
            finished_opcode: None,
            parts: None,
        }
    }

    /// Hands out messages in pieces as they arrive ([`Incoming::Part`])
    /// instead of whole: memory stays bounded whatever their size. The size
    /// limit still applies to each message's total.
    pub fn deliver_parts(mut self) -> Self {
        self.parts = Some(Box::default());
        self
    }

    /// Refuses (1009) a message made of more than `max_fragments` frames;
    /// 0, the default, means no limit.
    pub fn with_max_fragments(mut self, max_fragments: usize) -> Self {
        self.set_max_fragments(max_fragments);
        self
    }

    /// Changes the fragment limit (see [`Receiver::with_max_fragments`]); it
    /// applies from the next frame on.
    pub fn set_max_fragments(&mut self, max_fragments: usize) {
        self.max_fragments = max_fragments.try_into().unwrap_or(u32::MAX);
    }

    /// The fragment limit (0: none).
    pub fn max_fragments(&self) -> usize {
        self.max_fragments as usize
    }

    /// Inflates compressed messages with `inflater` (permessage-deflate was
    /// negotiated); before the first frame.
    pub fn set_inflater(&mut self, inflater: Decompressor) {
        self.inflater = Some(Box::new(inflater));
    }

    /// Changes the largest message size; it applies from the next frame on.
    pub fn set_max_message_size(&mut self, max_message_size: usize) {
        self.max_message_size = max_message_size;
    }

    /// Holds at most `room` bytes for the message in progress (see
    /// [`Receiver::held`]): the share of a memory budget left to this
    /// connection. A message that needs more fails with 1009
    /// [`OVER_BUDGET_REASON`]. Buffers never grow past it, but for the
    /// compressed bytes of one read waiting to be inflated. It applies from
    /// the next call to [`Receiver::decode`] on.
    pub fn set_room(&mut self, room: usize) {
        self.room = room;
    }

    /// Accepts frames carrying RSV bits within `rsv` (RSV1 = 0b100, RSV2 =
    /// 0b010, RSV3 = 0b001) instead of failing with 1002, for a caller that
    /// implements an extension itself: their payload is delivered as it
    /// came, and a text message whose first frame has RSV1 (which may be
    /// compressed) is not checked to be UTF-8. With permessage-deflate
    /// negotiated, RSV1 on a message's first frame still means compressed.
    /// Applies from the next frame on.
    pub fn allow_rsv(&mut self, rsv: u8) {
        self.allowed_rsv = rsv & 0b111;
    }

    /// The RSV bits of the first frame of the last message (`control`
    /// false) or of the last control frame (`control` true) decoded.
    pub fn last_rsv(&self, control: bool) -> u8 {
        if control {
            self.control_rsv
        } else {
            self.message_rsv
        }
    }

    /// True between messages: none is being received or inflated.
    pub fn between_messages(&self) -> bool {
        self.message_opcode.is_none() && self.finished_opcode.is_none() && self.backlog.is_none()
    }

    /// Accepts frames whether they are masked or not, as a standalone frame
    /// decoder does; every other rule still holds. Connections never use it:
    /// there the role decides (RFC 6455 5.1).
    pub fn accept_any_masking(mut self) -> Self {
        self.any_masking = true;
        self
    }

    /// Gives back the buffer of an owned [`Payload`] once the caller is done
    /// with it, so the next assembled message reuses its memory (large buffers
    /// are dropped instead, so an idle connection does not keep them).
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.message.capacity() == 0 && buf.capacity() <= KEEP_CAPACITY {
            buf.clear();
            self.message = buf;
        }
    }

    /// Drops the message in progress and the memory it holds (its payload
    /// so far, compressed bytes not inflated yet): nothing more is to be
    /// decoded once the connection fails or its close frames are exchanged.
    pub fn discard(&mut self) {
        self.frame = None;
        self.message_opcode = None;
        self.finished_opcode = None;
        self.message = Vec::new();
        self.control = None;
        self.backlog = None;
        self.compressed = false;
        self.message_rsv = 0;
        self.fragments = 0;
        self.utf8.reset();
        if let Some(parts) = self.parts.as_mut() {
            **parts = Parts::default();
        }
    }

    /// Bytes held for the message in progress: its payload so far (inflated
    /// when compressed) and compressed bytes not inflated yet.
    pub fn held(&self) -> usize {
        self.message.capacity() + self.backlog.as_ref().map_or(0, |b| b.bytes.capacity())
    }

    /// Payload bytes of the frame being received that have not arrived yet
    /// (0 between frames): the peer sends at least these next.
    pub fn frame_remaining(&self) -> u64 {
        self.frame.as_ref().map_or(0, |f| f.remaining)
    }

    /// Decodes from `buf` (modified in place: payloads are unmasked).
    ///
    /// Returns how many bytes of `buf` were used and, if one is complete, an event.
    /// Call again with the unused rest (`buf[used..]`) until it returns no event;
    /// then read more bytes. Bytes of an incomplete frame payload are consumed and
    /// kept (and already checked), so what is left unused is at most an incomplete
    /// frame header. An error fails the connection with its close code.
    pub fn decode<'a>(
        &mut self,
        buf: &'a mut [u8],
    ) -> Result<(usize, Option<Incoming<'a>>), ProtocolError> {
        let mut pos = 0;
        if let Some(done) = self.continue_inflating()? {
            if let Some(opcode) = self.finished_opcode.filter(|_| done) {
                self.finished_opcode = None;
                self.check_complete(opcode)?;
                return Ok((0, Some(self.assembled(opcode))));
            }
            if let Some(piece) = self.inflated_piece() {
                return Ok((0, Some(piece)));
            }
            if !done {
                return Ok((0, None));
            }
        }
        let deliver = loop {
            if self.frame.is_none() {
                match parse_header(&buf[pos..])? {
                    None => return Ok((pos, None)),
                    Some((header, n)) => {
                        self.check_header(&header)?;
                        pos += n;
                        self.frame = Some(CurrentFrame {
                            header,
                            remaining: header.payload_len,
                        });
                    }
                }
            }
            let frame = self.frame.as_mut().expect("frame set above");
            let header = frame.header;
            let available = buf.len() - pos;
            let whole = frame.remaining <= available as u64;
            let take = if whole {
                frame.remaining as usize
            } else {
                available
            };
            let start = pos;
            let payload = &mut buf[start..start + take];
            if let Some(key) = header.mask {
                // The mask offset: the payload bytes already seen.
                let seen = header.payload_len - frame.remaining;
                apply_mask(payload, key, seen as usize);
            }
            frame.remaining -= take as u64;
            pos += take;
            if !whole && take == 0 {
                return Ok((pos, None));
            }

            if header.opcode.is_control() {
                if !whole || self.control.is_some() {
                    // Rare: a control frame split over reads.
                    self.control
                        .get_or_insert_with(Box::default)
                        .extend_from_slice(payload);
                }
                if !whole {
                    return Ok((pos, None));
                }
                self.frame = None;
                break if self.control.is_none() {
                    Deliver::Buffer(header.opcode, start, pos)
                } else {
                    Deliver::Control(header.opcode)
                };
            }

            // A data frame (or a piece of one).
            let opcode = self.message_opcode.expect("set by check_header");
            let single;
            if self.compressed {
                // Inflate as the bytes arrive, checking the size and the UTF-8
                // of what comes out, a step at a time: what a step leaves of
                // the input waits in the backlog (see `is_busy`).
                single = false;
                let ends_message = whole && header.fin;
                // What the step leaves of `payload` goes to the backlog: at
                // most all of it.
                let done = self.inflate_step(payload, opcode, payload.len())?;
                if done.consumed < payload.len() || done.more {
                    self.backlog = Some(Box::new(Backlog {
                        bytes: payload[done.consumed..].to_vec(),
                        start: 0,
                        more: done.more,
                        ends_message,
                    }));
                    if whole {
                        self.frame = None;
                        self.end_frame(&header, opcode)?;
                    }
                    return Ok((pos, self.inflated_piece()));
                }
                if ends_message {
                    self.finish_inflating(opcode)?;
                } else if let Some(piece) = self.inflated_piece() {
                    if whole {
                        self.frame = None;
                        self.end_frame(&header, opcode)?;
                    }
                    return Ok((pos, Some(piece)));
                }
            } else if self.parts.is_some() {
                if self.checks_utf8(opcode) && self.utf8.feed(payload).is_err() {
                    return Err(invalid_utf8());
                }
                let last = whole && header.fin;
                if whole {
                    self.frame = None;
                    self.end_frame(&header, opcode)?;
                }
                if let Some(deliver) = self.raw_piece(opcode, payload, start, last) {
                    break deliver;
                }
                if !whole {
                    return Ok((pos, None));
                }
                continue;
            } else {
                if self.checks_utf8(opcode) && self.utf8.feed(payload).is_err() {
                    return Err(invalid_utf8());
                }
                single = whole && header.fin && self.message.is_empty();
                if !single {
                    if self.message.is_empty() && header.fin {
                        // A single frame split over reads: its size is known
                        // (and within the limit), so reserve it exactly.
                        self.message.reserve_exact(header.payload_len as usize);
                    }
                    let limit = self.max_message_size.min(self.room);
                    append_within(&mut self.message, payload, limit);
                }
            }
            if !whole {
                return Ok((pos, None));
            }
            self.frame = None;
            if !header.fin {
                continue;
            }
            self.end_frame(&header, opcode)?;
            break if single {
                Deliver::Buffer(opcode, start, pos)
            } else {
                Deliver::Message(opcode)
            };
        };
        let (opcode, payload): (OpCode, Payload<'a>) = match deliver {
            Deliver::Buffer(opcode, start, end) => (opcode, Payload::Borrowed(&buf[start..end])),
            Deliver::Message(opcode) => return Ok((pos, Some(self.assembled(opcode)))),
            Deliver::Control(opcode) => {
                let control = self.control.take().expect("assembled above");
                (opcode, Payload::Owned(*control))
            }
            Deliver::Piece(opcode, start, end, last) => {
                let payload = Payload::Borrowed(&buf[start..end]);
                return Ok((pos, Some(self.piece(opcode, payload, last))));
            }
            Deliver::Ready(event) => return Ok((pos, Some(event))),
        };
        let event = match opcode {
            OpCode::Text => Incoming::Text(payload),
            OpCode::Binary => Incoming::Binary(payload),
            OpCode::Ping => Incoming::Ping(payload),
            OpCode::Pong => Incoming::Pong(payload),
            OpCode::Close => match parse_close_payload(&payload) {
                Ok(close) => Incoming::Close(close.code, close.reason.to_string()),
                Err(ClosePayloadError::Protocol) => {
                    return Err(ProtocolError::protocol("invalid close frame"))
                }
                Err(ClosePayloadError::InvalidUtf8) => {
                    return Err(ProtocolError {
                        code: 1007,
                        reason: "close reason is not valid UTF-8",
                    })
                }
            },
            OpCode::Continuation => unreachable!("continuations are delivered as their message"),
        };
        Ok((pos, Some(event)))
    }

    /// True while a compressed message is being inflated a step at a time:
    /// call [`Receiver::decode`] again (with no new bytes if need be) to go on.
    pub fn is_busy(&self) -> bool {
        self.backlog.is_some()
    }

    /// Inflates the next step of a compressed piece, checking the UTF-8 of
    /// what comes out.
    /// `backlog`: the bytes the compressed backlog holds beside it.
    fn inflate_step(
        &mut self,
        input: &[u8],
        opcode: OpCode,
        backlog: usize,
    ) -> Result<Inflated, ProtocolError> {
        let (limit, by_room) = self.output_limit(backlog);
        let inflater = self
            .inflater
            .as_mut()
            .expect("compressed needs an inflater");
        let before = self.message.len();
        let done = inflater
            .inflate_some(input, &mut self.message, limit, INFLATE_STEP)
            .map_err(|e| inflate_error(e, by_room))?;
        self.check_text(before, opcode)?;
        Ok(done)
    }

    /// Inflates the end of a compressed message (the implied tail).
    fn finish_inflating(&mut self, opcode: OpCode) -> Result<(), ProtocolError> {
        let (limit, by_room) = self.output_limit(0);
        let inflater = self
            .inflater
            .as_mut()
            .expect("compressed needs an inflater");
        let before = self.message.len();
        inflater
            .finish(&mut self.message, limit)
            .map_err(|e| inflate_error(e, by_room))?;
        self.check_text(before, opcode)
    }

    /// Checks the UTF-8 of the text assembled since `before`.
    fn check_text(&mut self, before: usize, opcode: OpCode) -> Result<(), ProtocolError> {
        if opcode == OpCode::Text && self.utf8.feed(&self.message[before..]).is_err() {
            return Err(invalid_utf8());
        }
        Ok(())
    }

    /// How large `message` may grow: the whole message, or what is left of
    /// the limit once the pieces handed out are counted; and at most the
    /// room left beside `backlog` bytes of compressed backlog (`true` when
    /// that is what limits it).
    fn output_limit(&self, backlog: usize) -> (usize, bool) {
        let delivered = self.parts.as_ref().map_or(0, |p| p.delivered);
        let delivered = usize::try_from(delivered).unwrap_or(usize::MAX);
        let by_size = self.max_message_size.saturating_sub(delivered);
        let by_room = self.room.saturating_sub(backlog);
        (by_size.min(by_room), by_room < by_size)
    }

    /// Makes `payload` the next piece of the message (`last`: its end).
    fn piece<'a>(&mut self, opcode: OpCode, payload: Payload<'a>, last: bool) -> Incoming<'a> {
        let parts = self
            .parts
            .as_mut()
            .expect("pieces only when delivering parts");
        parts.delivered += payload.len() as u64;
        let part = Part {
            text: opcode == OpCode::Text,
            payload,
            first: !parts.started,
            last,
            total: parts.delivered,
        };
        parts.started = !last;
        if last {
            parts.delivered = 0;
        }
        Incoming::Part(part)
    }

    /// What can be handed out of `buf[start..end]`, a piece of an uncompressed
    /// message, with bytes kept from before: none when it would be empty
    /// (unless it ends the message). A text piece stops before a UTF-8
    /// sequence it cuts; those bytes wait in `message`.
    fn raw_piece(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        start: usize,
        last: bool,
    ) -> Option<Deliver> {
        if !self.message.is_empty() {
            // Bytes kept from before go first: this piece is copied after them.
            self.message.extend_from_slice(payload);
            return Some(Deliver::Ready(self.held_piece(opcode, last)?));
        }
        let keep = match (opcode, last) {
            (OpCode::Text, false) => incomplete_tail(payload),
            _ => 0,
        };
        self.message
            .extend_from_slice(&payload[payload.len() - keep..]);
        let end = start + payload.len() - keep;
        (end > start || last).then_some(Deliver::Piece(opcode, start, end, last))
    }

    /// The piece inflation produced so far, when there is one to hand out.
    fn inflated_piece(&mut self) -> Option<Incoming<'static>> {
        self.parts.as_ref()?;
        let opcode = self.message_opcode.or(self.finished_opcode)?;
        self.held_piece(opcode, false)
    }

    /// Hands out what waits in `message` as a piece, keeping back the end of
    /// a text piece cut inside a UTF-8 sequence; none when nothing is left
    /// (unless it ends the message).
    fn held_piece(&mut self, opcode: OpCode, last: bool) -> Option<Incoming<'static>> {
        let keep = match (opcode, last) {
            (OpCode::Text, false) => incomplete_tail(&self.message),
            _ => 0,
        };
        if self.message.len() == keep && !last {
            return None;
        }
        let mut bytes = std::mem::take(&mut self.message);
        self.message.extend_from_slice(&bytes[bytes.len() - keep..]);
        bytes.truncate(bytes.len() - keep);
        Some(self.piece(opcode, Payload::Owned(bytes), last))
    }

    /// Goes on inflating the backlog, if there is one: `None` when there is
    /// none, `Some(false)` when a step was done and more remain, `Some(true)`
    /// when the backlog is done (a message may be complete then: see
    /// `finished_opcode`).
    fn continue_inflating(&mut self) -> Result<Option<bool>, ProtocolError> {
        let Some(mut backlog) = self.backlog.take() else {
            return Ok(None);
        };
        let opcode = self
            .message_opcode
            .or(self.finished_opcode)
            .expect("a backlog belongs to a message");
        let held = backlog.bytes.capacity();
        let done = self.inflate_step(&backlog.bytes[backlog.start..], opcode, held)?;
        backlog.start += done.consumed;
        if backlog.start < backlog.bytes.len() || done.more {
            backlog.more = done.more;
            self.backlog = Some(backlog);
            return Ok(Some(false));
        }
        let ends_message = backlog.ends_message;
        drop(backlog);
        if ends_message {
            self.finish_inflating(opcode)?;
        }
        Ok(Some(true))
    }

    /// The checks at the end of a frame with FIN: the message is complete,
    /// unless its inflation is still under way (then `finished_opcode` keeps
    /// its opcode until the backlog is done).
    fn end_frame(&mut self, header: &FrameHeader, opcode: OpCode) -> Result<(), ProtocolError> {
        if !header.fin {
            return Ok(());
        }
        self.compressed = false;
        self.message_opcode = None;
        if self.backlog.is_some() {
            self.finished_opcode = Some(opcode);
            return Ok(());
        }
        self.check_complete(opcode)
    }

    fn check_complete(&mut self, opcode: OpCode) -> Result<(), ProtocolError> {
        if self.checks_utf8(opcode) && !self.utf8.is_complete() {
            return Err(ProtocolError {
                code: 1007,
                reason: "text message ends inside a UTF-8 sequence",
            });
        }
        self.utf8.reset();
        Ok(())
    }

    /// The assembled message, lent out (or its last piece).
    fn assembled(&mut self, opcode: OpCode) -> Incoming<'static> {
        if self.parts.is_some() {
            return self
                .held_piece(opcode, true)
                .expect("a last piece is always handed out");
        }
        let payload = Payload::Owned(std::mem::take(&mut self.message));
        if opcode == OpCode::Text {
            Incoming::Text(payload)
        } else {
            Incoming::Binary(payload)
        }
    }

    /// Checks a new frame's RSV bits, and notes them. RSV1 marks the first
    /// frame of a compressed message (RFC 7692 6), only when
    /// permessage-deflate was negotiated; other RSV bits only pass when the
    /// caller allowed them ([`Receiver::allow_rsv`]).
    fn check_rsv(&mut self, header: &FrameHeader) -> Result<(), ProtocolError> {
        let starts_message = matches!(header.opcode, OpCode::Text | OpCode::Binary);
        let deflate = if self.inflater.is_some() && starts_message {
            RSV1
        } else {
            0
        };
        if header.rsv & !(deflate | self.allowed_rsv) != 0 {
            return Err(ProtocolError::protocol(if self.inflater.is_some() {
                "RSV bits set where the extension does not allow them"
            } else {
                "RSV bits set without an extension"
            }));
        }
        if starts_message {
            self.compressed = header.rsv & deflate != 0;
            self.message_rsv = header.rsv;
        } else if header.opcode.is_control() {
            self.control_rsv = header.rsv;
        }
        Ok(())
    }

    /// True when the text of the message in progress is checked to be
    /// UTF-8: always, but for a message allowed RSV1 without
    /// permessage-deflate (it may be compressed by the caller's extension).
    fn checks_utf8(&self, opcode: OpCode) -> bool {
        opcode == OpCode::Text && (self.inflater.is_some() || self.message_rsv & RSV1 == 0)
    }

    /// Checks a new frame's header against the connection state and starts or
    /// continues a message.
    fn check_header(&mut self, header: &FrameHeader) -> Result<(), ProtocolError> {
        self.check_rsv(header)?;
        match (self.role, header.mask.is_some()) {
            _ if self.any_masking => {}
            (Role::Server, false) => {
                return Err(ProtocolError::protocol("client frame is not masked"))
            }
            (Role::Client, true) => return Err(ProtocolError::protocol("server frame is masked")),
            _ => {}
        }
        match header.opcode {
            OpCode::Continuation if self.message_opcode.is_none() => {
                return Err(ProtocolError::protocol(
                    "continuation frame without a message",
                ))
            }
            OpCode::Text | OpCode::Binary if self.message_opcode.is_some() => {
                return Err(ProtocolError::protocol(
                    "new message before the last one was finished",
                ))
            }
            OpCode::Text | OpCode::Binary => {
                self.message_opcode = Some(header.opcode);
                self.fragments = 0;
            }
            _ => {}
        }
        if !header.opcode.is_control() {
            self.fragments += 1;
            if self.max_fragments != 0 && self.fragments > self.max_fragments {
                return Err(ProtocolError {
                    code: 1009,
                    reason: FRAGMENTS_REASON,
                });
            }
        }
        // Compressed frames are checked as they inflate. Their compressed size
        // alone is bounded loosely (twice the limit: incompressible data grows,
        // by up to ~4% at zlib's lowest memory level), so that a frame of endless
        // empty blocks, which inflates to nothing, still ends.
        let (so_far, limit) = if self.compressed {
            let max = self.max_message_size as u64;
            (0, max.saturating_mul(2).saturating_add(65536))
        } else {
            let delivered = self.parts.as_ref().map_or(0, |p| p.delivered);
            let so_far = delivered + self.message.len() as u64;
            (so_far, self.max_message_size as u64)
        };
        if header.opcode.is_control() {
            return Ok(());
        }
        if so_far + header.payload_len > limit {
            return Err(ProtocolError {
                code: 1009,
                reason: "message too large",
            });
        }
        // What an uncompressed message assembles must fit the room (pieces
        // handed out hold nothing; compressed ones are checked as they inflate).
        let held = self.message.len() as u64 + header.payload_len;
        if !self.compressed && self.parts.is_none() && held > self.room as u64 {
            return Err(over_budget());
        }
        Ok(())
    }
}

/// The error for text that is not UTF-8.
fn invalid_utf8() -> ProtocolError {
    ProtocolError {
        code: 1007,
        reason: "invalid UTF-8 in text message",
    }
}

/// The close reason of a message that would take more memory than a memory
/// budget leaves (see [`Receiver::set_room`]).
pub const OVER_BUDGET_REASON: &str = "message too big for the memory left";

/// The error for a message that would take more memory than the room left.
fn over_budget() -> ProtocolError {
    ProtocolError {
        code: 1009,
        reason: OVER_BUDGET_REASON,
    }
}

/// The close code for a message that does not inflate (`by_room`: the
/// output was limited by the room, not by the size limit).
fn inflate_error(e: InflateError, by_room: bool) -> ProtocolError {
    match e {
        InflateError::TooLarge if by_room => over_budget(),
        InflateError::TooLarge => ProtocolError {
            code: 1009,
            reason: "message too large",
        },
        InflateError::Invalid => ProtocolError {
            code: 1007,
            reason: "invalid compressed data",
        },
    }
}

/// Appends `data` to `buf`, growing it by doubling but never past `limit`
/// (plain `extend` could reserve up to twice the largest allowed message).
/// `check_header` guarantees the contents themselves stay within `limit`.
fn append_within(buf: &mut Vec<u8>, data: &[u8], limit: usize) {
    let needed = buf.len() + data.len();
    if needed > buf.capacity() {
        let target = (buf.capacity() * 2).clamp(needed, limit.max(needed));
        buf.reserve_exact(target - buf.len());
    }
    buf.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{encode_frame, write_header};

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(&mut out, fin, opcode, Some(KEY), payload);
        out
    }

    /// An owned copy of an event, for comparing after the borrow ends.
    #[derive(Debug, PartialEq, Eq)]
    enum Owned {
        Text(Vec<u8>),
        Binary(Vec<u8>),
        Ping(Vec<u8>),
        Pong(Vec<u8>),
        Close(Option<u16>, String),
        Part(bool, Vec<u8>, bool, bool, u64),
    }

    fn own(e: Incoming<'_>) -> Owned {
        match e {
            Incoming::Text(d) => Owned::Text(d.to_vec()),
            Incoming::Binary(d) => Owned::Binary(d.to_vec()),
            Incoming::Ping(d) => Owned::Ping(d.to_vec()),
            Incoming::Pong(d) => Owned::Pong(d.to_vec()),
            Incoming::Close(c, r) => Owned::Close(c, r),
            Incoming::Part(p) => Owned::Part(p.text, p.payload.to_vec(), p.first, p.last, p.total),
        }
    }

    /// Feeds `wire` in pieces of `chunk` bytes, like reads from a socket.
    fn run(rx: &mut Receiver, wire: &[u8], chunk: usize) -> Result<Vec<Owned>, ProtocolError> {
        let mut events = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        for piece in wire.chunks(chunk.max(1)) {
            pending.extend_from_slice(piece);
            loop {
                let (used, event) = rx.decode(&mut pending)?;
                let event = event.map(own);
                pending.drain(..used);
                match event {
                    Some(e) => events.push(e),
                    None if rx.is_busy() => {}
                    None => break,
                }
            }
        }
        Ok(events)
    }

    fn server() -> Receiver {
        Receiver::new(Role::Server, 1 << 20, None)
    }

    #[test]
    fn single_frame_is_delivered_without_copy() {
        let mut rx = server();
        let mut wire = frame(true, OpCode::Text, b"Hello");
        let (used, event) = rx.decode(&mut wire).unwrap();
        assert_eq!(used, 11);
        assert_eq!(event, Some(Incoming::Text(Payload::Borrowed(b"Hello"))));
        assert!(rx.message.is_empty(), "no copy into the assembly buffer");
    }

    #[test]
    fn every_split_gives_the_same_messages() {
        let mut wire = frame(false, OpCode::Text, "Hel".as_bytes());
        wire.extend(frame(true, OpCode::Ping, b"p"));
        wire.extend(frame(true, OpCode::Continuation, "lo \u{20ac}".as_bytes()));
        wire.extend(frame(true, OpCode::Binary, &[0, 255, 1]));
        wire.extend(frame(true, OpCode::Pong, b""));
        wire.extend(frame(true, OpCode::Close, &[0x03, 0xe8, b'o', b'k']));
        let expected = vec![
            Owned::Ping(b"p".to_vec()),
            Owned::Text("Hello \u{20ac}".as_bytes().to_vec()),
            Owned::Binary(vec![0, 255, 1]),
            Owned::Pong(vec![]),
            Owned::Close(Some(1000), "ok".into()),
        ];
        for chunk in 1..=wire.len() {
            assert_eq!(
                run(&mut server(), &wire, chunk).unwrap(),
                expected,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn client_role_takes_unmasked_frames() {
        let mut rx = Receiver::new(Role::Client, 1024, None);
        let mut wire = Vec::new();
        encode_frame(&mut wire, true, OpCode::Binary, None, &[1, 2, 3]);
        assert_eq!(
            run(&mut rx, &wire, 100).unwrap(),
            vec![Owned::Binary(vec![1, 2, 3])]
        );
        let masked = frame(true, OpCode::Binary, &[1]);
        assert_eq!(run(&mut rx, &masked, 100).unwrap_err().code, 1002);
    }

    #[test]
    fn server_refuses_unmasked_frames() {
        let mut wire = Vec::new();
        encode_frame(&mut wire, true, OpCode::Text, None, b"hi");
        assert_eq!(run(&mut server(), &wire, 100).unwrap_err().code, 1002);
    }

    #[test]
    fn sequencing_errors_are_1002() {
        let cont = frame(true, OpCode::Continuation, b"x");
        assert_eq!(run(&mut server(), &cont, 100).unwrap_err().code, 1002);
        let mut two_starts = frame(false, OpCode::Text, b"a");
        two_starts.extend(frame(true, OpCode::Text, b"b"));
        assert_eq!(run(&mut server(), &two_starts, 100).unwrap_err().code, 1002);
        let mut rsv = Vec::new();
        write_header(&mut rsv, true, 0b100, OpCode::Text, Some(KEY), 0);
        assert_eq!(run(&mut server(), &rsv, 100).unwrap_err().code, 1002);
    }

    /// A masked frame with `rsv` bits set.
    fn frame_rsv(fin: bool, rsv: u8, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_header(&mut out, fin, rsv, opcode, Some(KEY), payload.len());
        let start = out.len();
        out.extend_from_slice(payload);
        apply_mask(&mut out[start..], KEY, 0);
        out
    }

    #[test]
    fn allowed_rsv_bits_pass_as_they_are_and_others_still_fail() {
        let mut rx = server();
        rx.allow_rsv(0b010);
        let mut wire = frame_rsv(false, 0b010, OpCode::Binary, b"ab");
        wire.extend(frame_rsv(true, 0b010, OpCode::Ping, b"p"));
        wire.extend(frame_rsv(true, 0, OpCode::Continuation, b"c"));
        let events = run(&mut rx, &wire, 3).unwrap();
        assert_eq!(
            events,
            vec![Owned::Ping(b"p".to_vec()), Owned::Binary(b"abc".to_vec())]
        );
        assert_eq!((rx.last_rsv(false), rx.last_rsv(true)), (0b010, 0b010));
        let plain = frame(true, OpCode::Text, b"t");
        assert_eq!(run(&mut rx, &plain, 100).unwrap().len(), 1);
        assert_eq!(rx.last_rsv(false), 0);
        let rsv3 = frame_rsv(true, 0b001, OpCode::Text, b"x");
        assert_eq!(run(&mut rx, &rsv3, 100).unwrap_err().code, 1002);
    }

    #[test]
    fn text_with_an_allowed_rsv1_is_not_checked_to_be_utf8() {
        let mut rx = server();
        rx.allow_rsv(0b100);
        let wire = frame_rsv(true, 0b100, OpCode::Text, &[0xff, 0xfe]);
        assert_eq!(
            run(&mut rx, &wire, 1).unwrap(),
            vec![Owned::Text(vec![0xff, 0xfe])]
        );
        assert_eq!(rx.last_rsv(false), 0b100);
        // Without RSV1, text is checked as always.
        let wire = frame(true, OpCode::Text, &[0xff]);
        assert_eq!(run(&mut rx, &wire, 100).unwrap_err().code, 1007);
    }

    #[test]
    fn between_messages_is_false_inside_a_fragmented_one() {
        let mut rx = server();
        assert!(rx.between_messages());
        run(&mut rx, &frame(false, OpCode::Text, b"a"), 100).unwrap();
        assert!(!rx.between_messages());
        run(&mut rx, &frame(true, OpCode::Continuation, b"b"), 100).unwrap();
        assert!(rx.between_messages());
    }

    #[test]
    fn invalid_utf8_fails_fast_mid_frame() {
        let mut payload = b"valid text ".to_vec();
        payload.extend([
            0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5,
        ]);
        payload.extend([0xed, 0xa0, 0x80]); // a surrogate: invalid
        payload.extend([b'x'; 100]);
        let wire = frame(true, OpCode::Text, &payload);
        let mut rx = server();
        // The header and the valid text before the surrogate have arrived.
        let mut first = wire[..6 + 22].to_vec();
        let len = first.len();
        let (used, event) = rx.decode(&mut first).unwrap();
        assert_eq!((used, event), (len, None));
        // Then only the first two bytes of the surrogate: that is enough to fail,
        // long before the frame's last 100 bytes come.
        let mut rest = wire[28..30].to_vec();
        assert_eq!(rx.decode(&mut rest).unwrap_err().code, 1007);
    }

    #[test]
    fn text_ending_mid_sequence_is_1007() {
        let wire = frame(true, OpCode::Text, &[b'a', 0xe2, 0x82]);
        assert_eq!(run(&mut server(), &wire, 100).unwrap_err().code, 1007);
        let mut split = frame(false, OpCode::Text, &[0xe2]);
        split.extend(frame(true, OpCode::Continuation, &[0x82, 0xac]));
        assert_eq!(
            run(&mut server(), &split, 100).unwrap(),
            vec![Owned::Text(vec![0xe2, 0x82, 0xac])]
        );
    }

    #[test]
    fn message_size_limit_counts_all_fragments() {
        let mut rx = Receiver::new(Role::Server, 10, None);
        let ok = frame(true, OpCode::Binary, &[0; 10]);
        assert_eq!(run(&mut rx, &ok, 100).unwrap().len(), 1);
        let mut over = frame(false, OpCode::Binary, &[0; 6]);
        over.extend(frame(true, OpCode::Continuation, &[0; 5]));
        assert_eq!(run(&mut rx, &over, 100).unwrap_err().code, 1009);
        // The limit is checked on the header, before any payload arrives.
        let mut huge = Vec::new();
        write_header(&mut huge, true, 0, OpCode::Binary, Some(KEY), 1 << 40);
        assert_eq!(
            Receiver::new(Role::Server, 10, None)
                .decode(&mut huge)
                .unwrap_err()
                .code,
            1009
        );
    }

    #[test]
    fn close_frames_are_validated() {
        let bad_code = frame(true, OpCode::Close, &[0x03, 0xed]); // 1005
        assert_eq!(run(&mut server(), &bad_code, 100).unwrap_err().code, 1002);
        let one_byte = frame(true, OpCode::Close, &[0x03]);
        assert_eq!(run(&mut server(), &one_byte, 100).unwrap_err().code, 1002);
        let bad_reason = frame(true, OpCode::Close, &[0x03, 0xe8, 0xff]);
        assert_eq!(run(&mut server(), &bad_reason, 100).unwrap_err().code, 1007);
        let empty = frame(true, OpCode::Close, &[]);
        assert_eq!(
            run(&mut server(), &empty, 100).unwrap(),
            vec![Owned::Close(None, String::new())]
        );
    }

    #[test]
    #[cfg_attr(miri, ignore)] // 3 MB assembled: minutes under Miri
    fn assembly_never_reserves_past_the_limit() {
        let limit = 3_000_000;
        let mut rx = Receiver::new(Role::Server, limit, None);
        let mut wire = Vec::new();
        for i in 0..30 {
            let op = if i == 0 {
                OpCode::Binary
            } else {
                OpCode::Continuation
            };
            wire.extend(frame(i == 29, op, &[7u8; 100_000]));
        }
        let mut start = 0;
        let message = loop {
            let (used, event) = rx.decode(&mut wire[start..]).unwrap();
            start += used;
            if let Some(Incoming::Binary(Payload::Owned(v))) = event {
                break v;
            }
        };
        assert_eq!(message, vec![7u8; limit]);
        // Plain doubling would have reached 4 MiB for 3 MB.
        assert!(message.capacity() <= limit, "{}", message.capacity());
    }

    #[test]
    fn a_single_frame_split_over_reads_is_assembled_in_one_allocation() {
        let mut rx = server();
        let mut wire = frame(true, OpCode::Binary, &[5u8; 100_000]);
        let (used, event) = rx.decode(&mut wire[..30_000]).unwrap();
        assert_eq!((used, event), (30_000, None));
        assert_eq!(rx.message.capacity(), 100_000);
        let (_, event) = rx.decode(&mut wire[30_000..]).unwrap();
        match event {
            Some(Incoming::Binary(Payload::Owned(v))) => {
                assert_eq!(v, vec![5u8; 100_000]);
                assert_eq!(v.capacity(), 100_000);
            }
            other => panic!("{other:?}"),
        }
    }

    /// A message of `n` frames ("a" each), masked with KEY or not.
    fn fragmented(n: usize, masked: bool) -> Vec<u8> {
        let mut wire = Vec::new();
        for i in 0..n {
            let op = if i == 0 {
                OpCode::Text
            } else {
                OpCode::Continuation
            };
            let key = masked.then_some(KEY);
            encode_frame(&mut wire, i + 1 == n, op, key, b"a");
        }
        wire
    }

    #[test]
    fn fragment_limit_counts_frames_of_a_message() {
        let mut rx = server().with_max_fragments(3);
        assert_eq!(rx.max_fragments(), 3);
        // Exactly the limit, with control frames in between (not counted).
        let mut wire = frame(false, OpCode::Text, b"a");
        wire.extend(frame(true, OpCode::Ping, b"p"));
        wire.extend(frame(false, OpCode::Continuation, b"b"));
        wire.extend(frame(true, OpCode::Pong, b""));
        wire.extend(frame(true, OpCode::Continuation, b"c"));
        assert_eq!(
            run(&mut rx, &wire, 1).unwrap(),
            vec![
                Owned::Ping(b"p".to_vec()),
                Owned::Pong(vec![]),
                Owned::Text(b"abc".to_vec())
            ]
        );
        // The count starts again with each message.
        assert_eq!(run(&mut rx, &fragmented(3, true), 7).unwrap().len(), 1);
        assert_eq!(run(&mut rx, &fragmented(1, true), 7).unwrap().len(), 1);
        // One more frame fails on its header, with 1009.
        let e = run(&mut rx, &fragmented(4, true), 100).unwrap_err();
        assert_eq!((e.code, e.reason), (1009, FRAGMENTS_REASON));
        // The failing frame's header is enough: no payload needed.
        let mut rx = server().with_max_fragments(1);
        let mut two = frame(false, OpCode::Binary, b"x");
        write_header(&mut two, true, 0, OpCode::Continuation, Some(KEY), 1000);
        assert_eq!(rx.decode(&mut two).unwrap_err().code, 1009);
    }

    #[test]
    fn no_fragment_limit_by_default() {
        assert_eq!(server().max_fragments(), 0);
        let events = run(&mut server(), &fragmented(1000, true), 4096).unwrap();
        assert_eq!(events, vec![Owned::Text(vec![b'a'; 1000])]);
        let mut rx = server().with_max_fragments(5);
        rx.set_max_fragments(0);
        assert_eq!(
            run(&mut rx, &fragmented(1000, true), 4096).unwrap().len(),
            1
        );
    }

    #[test]
    fn any_masking_accepts_both_and_keeps_other_rules() {
        for role in [Role::Server, Role::Client] {
            let mut rx = Receiver::new(role, 1024, None).accept_any_masking();
            let mut wire = fragmented(2, true);
            wire.extend(fragmented(3, false));
            let mut mixed = frame(false, OpCode::Binary, b"m");
            encode_frame(&mut mixed, true, OpCode::Continuation, None, b"u");
            wire.extend(mixed);
            assert_eq!(
                run(&mut rx, &wire, 3).unwrap(),
                vec![
                    Owned::Text(b"aa".to_vec()),
                    Owned::Text(b"aaa".to_vec()),
                    Owned::Binary(b"mu".to_vec())
                ]
            );
            let mut bad = Vec::new();
            encode_frame(&mut bad, true, OpCode::Text, None, &[0xff]);
            assert_eq!(run(&mut rx, &bad, 100).unwrap_err().code, 1007);
        }
    }

    #[test]
    fn limits_can_change_between_messages() {
        let mut rx = server();
        rx.set_max_message_size(2);
        assert_eq!(
            run(&mut rx, &frame(true, OpCode::Binary, b"abc"), 100)
                .unwrap_err()
                .code,
            1009
        );
    }

    /// Decodes `wire` (which must hold one assembled message) and recycles
    /// its buffer; returns the receiver's assembly capacity afterwards.
    fn capacity_after_recycling(rx: &mut Receiver, mut wire: Vec<u8>) -> usize {
        let mut start = 0;
        loop {
            let (used, event) = rx.decode(&mut wire[start..]).unwrap();
            start += used;
            if let Some(Incoming::Binary(Payload::Owned(v))) = event {
                rx.recycle(v);
                return rx.message.capacity();
            }
            assert!(used > 0, "no message in the wire bytes");
        }
    }

    #[test]
    fn small_lent_buffers_come_back_and_large_ones_are_dropped() {
        let mut rx = server();
        let mut small = frame(false, OpCode::Binary, b"ab");
        small.extend(frame(true, OpCode::Continuation, b"cd"));
        assert!(capacity_after_recycling(&mut rx, small.clone()) >= 4);
        let mut big = frame(false, OpCode::Binary, &vec![1u8; KEEP_CAPACITY]);
        big.extend(frame(true, OpCode::Continuation, &vec![1u8; KEEP_CAPACITY]));
        assert_eq!(capacity_after_recycling(&mut rx, big), 0);
        // A recycled buffer is reused: no new allocation for the next message.
        let before = capacity_after_recycling(&mut rx, small.clone());
        assert_eq!(capacity_after_recycling(&mut rx, small), before);
    }

    // ---- messages in parts ----

    fn parts_server(limit: usize) -> Receiver {
        Receiver::new(Role::Server, limit, None).deliver_parts()
    }

    /// Checks the pieces of one message and returns its bytes.
    fn joined(events: &[Owned], text: bool) -> Vec<u8> {
        let mut all = Vec::new();
        for (i, e) in events.iter().enumerate() {
            let Owned::Part(t, data, first, last, total) = e else {
                panic!("not a part: {e:?}");
            };
            assert_eq!(*t, text);
            assert_eq!(*first, i == 0, "first only on the first piece");
            assert_eq!(*last, i == events.len() - 1, "last only on the last piece");
            if text {
                assert!(
                    std::str::from_utf8(data).is_ok(),
                    "a text piece is UTF-8 by itself"
                );
            }
            all.extend_from_slice(data);
            assert_eq!(*total, all.len() as u64);
        }
        all
    }

    #[test]
    fn parts_come_as_they_arrive_and_text_pieces_end_on_characters() {
        let text = "añ€😀 ".repeat(300);
        let bytes = text.as_bytes();
        let mut wire = frame(false, OpCode::Text, &bytes[..7]);
        wire.extend(frame(false, OpCode::Continuation, &bytes[7..1001]));
        wire.extend(frame(true, OpCode::Continuation, &bytes[1001..]));
        for chunk in [1, 2, 3, 5, 64, 1000, wire.len()] {
            let events = run(&mut parts_server(1 << 20), &wire, chunk).unwrap();
            assert_eq!(joined(&events, true), bytes, "chunk {chunk}");
            if chunk <= 64 {
                assert!(events.len() > 10, "pieces follow the reads");
            }
        }
    }

    #[test]
    fn a_message_in_one_read_is_one_piece_without_copy_and_empty_ones_still_end() {
        let mut rx = parts_server(1 << 20);
        let mut wire = frame(true, OpCode::Binary, b"whole");
        let len = wire.len();
        let (used, event) = rx.decode(&mut wire).unwrap();
        assert_eq!(used, len);
        let Some(Incoming::Part(part)) = event else {
            panic!("expected a part")
        };
        assert!(matches!(part.payload, Payload::Borrowed(b"whole")));
        assert!(part.first && part.last && !part.text && part.total == 5);
        let mut wire = frame(false, OpCode::Text, b"");
        wire.extend(frame(true, OpCode::Continuation, b""));
        let events = run(&mut rx, &wire, wire.len()).unwrap();
        assert_eq!(events, [Owned::Part(true, Vec::new(), true, true, 0)]);
    }

    #[test]
    fn parts_keep_the_utf8_and_size_rules_of_whole_messages() {
        let mut wire = frame(false, OpCode::Text, "é".as_bytes());
        wire.extend(frame(true, OpCode::Continuation, b"\xff"));
        let e = run(&mut parts_server(1 << 20), &wire, 1).unwrap_err();
        assert_eq!(e.code, 1007);
        let wire = frame(true, OpCode::Text, b"ab\xe2\x82");
        let e = run(&mut parts_server(1 << 20), &wire, 3).unwrap_err();
        assert_eq!(e.code, 1007, "a text message ending inside a character");
        let mut wire = frame(false, OpCode::Binary, &[0; 60]);
        wire.extend(frame(true, OpCode::Continuation, &[0; 60]));
        let mut rx = parts_server(100);
        let e = run(&mut rx, &wire, 10).unwrap_err();
        assert_eq!((e.code, e.reason), (1009, "message too large"));
    }

    #[test]
    #[cfg_attr(miri, ignore)] // zlib-rs inflating 200 KB: minutes under Miri
    fn a_compressed_message_comes_in_bounded_pieces() {
        let text = "the same line of text, over and over; ".repeat(200_000);
        let wire = compressed_text_frame(&text);
        let mut rx = Receiver::new(Role::Server, 64 << 20, Some(Decompressor::new(15, false)))
            .deliver_parts();
        let events = run(&mut rx, &wire, 4096).unwrap();
        assert!(events.len() > 10);
        for e in &events {
            let Owned::Part(_, data, ..) = e else {
                panic!()
            };
            assert!(
                data.len() <= INFLATE_STEP + 4,
                "a piece is at most an inflation step"
            );
        }
        assert_eq!(joined(&events, true), text.as_bytes());
        // The limit counts the whole message, not each piece.
        let mut rx = Receiver::new(Role::Server, 1 << 20, Some(Decompressor::new(15, false)))
            .deliver_parts();
        assert_eq!(run(&mut rx, &wire, 4096).unwrap_err().code, 1009);
    }

    /// `text` as one compressed, masked text frame.
    fn compressed_text_frame(text: &str) -> Vec<u8> {
        let mut compressed = Vec::new();
        super::super::deflate::Compressor::new(15, false, 6, 8)
            .compress(text.as_bytes(), &mut compressed);
        let mut wire = Vec::new();
        write_header(
            &mut wire,
            true,
            0b100,
            OpCode::Text,
            Some(KEY),
            compressed.len(),
        );
        let start = wire.len();
        wire.extend_from_slice(&compressed);
        apply_mask(&mut wire[start..], KEY, 0);
        wire
    }

    /// Feeds `wire` in reads of `chunk` bytes and returns the error it ends
    /// with, checking after every step that the receiver never holds more
    /// than `room` bytes, but for one read's compressed bytes.
    fn error_within_room(
        rx: &mut Receiver,
        wire: &[u8],
        chunk: usize,
        room: usize,
    ) -> ProtocolError {
        let mut pending: Vec<u8> = Vec::new();
        for piece in wire.chunks(chunk) {
            pending.extend_from_slice(piece);
            loop {
                let decoded = rx.decode(&mut pending);
                assert!(
                    rx.held() <= room + chunk,
                    "held {} > room {room}",
                    rx.held()
                );
                match decoded {
                    Err(e) => return e,
                    Ok((used, event)) => {
                        let more = event.is_some() || rx.is_busy();
                        pending.drain(..used);
                        if !more {
                            break;
                        }
                    }
                }
            }
        }
        panic!("no error");
    }

    #[test]
    fn room_bounds_what_a_message_assembles() {
        let mut wire = Vec::new();
        for i in 0..5 {
            let opcode = if i == 0 {
                OpCode::Binary
            } else {
                OpCode::Continuation
            };
            wire.extend(frame(i == 4, opcode, &[7; 30_000]));
        }
        // Within the room: the whole message.
        let mut rx = server();
        rx.set_room(150_000);
        let events = run(&mut rx, &wire, 7_000).unwrap();
        assert_eq!(events, vec![Owned::Binary(vec![7; 150_000])]);
        // Past it: 1009 for the memory left, before the buffer grows past it.
        let mut rx = server();
        rx.set_room(100_000);
        let e = error_within_room(&mut rx, &wire, 7_000, 100_000);
        assert_eq!((e.code, e.reason), (1009, OVER_BUDGET_REASON));
        // Pieces handed out hold nothing: the room does not limit them.
        let mut rx = parts_server(1 << 20);
        rx.set_room(10_000);
        assert_eq!(
            joined(&run(&mut rx, &wire, 7_000).unwrap(), false).len(),
            150_000
        );
    }

    #[test]
    #[cfg_attr(miri, ignore)] // zlib-rs inflating megabytes: minutes under Miri
    fn room_bounds_what_a_compressed_message_inflates() {
        let text = "the same line of text, over and over; ".repeat(100_000);
        let wire = compressed_text_frame(&text);
        let inflater = || Some(Decompressor::new(15, false));
        let mut rx = Receiver::new(Role::Server, 64 << 20, inflater());
        rx.set_room(1 << 20);
        let e = error_within_room(&mut rx, &wire, 4096, 1 << 20);
        assert_eq!((e.code, e.reason), (1009, OVER_BUDGET_REASON));
        // The size limit, when it is the smaller, keeps its own reason.
        let mut rx = Receiver::new(Role::Server, 1 << 20, inflater());
        rx.set_room(2 << 20);
        let e = error_within_room(&mut rx, &wire, 4096, 2 << 20);
        assert_eq!((e.code, e.reason), (1009, "message too large"));
        // With room enough, the message comes whole.
        let mut rx = Receiver::new(Role::Server, 64 << 20, inflater());
        rx.set_room(8 << 20);
        let events = run(&mut rx, &wire, 4096).unwrap();
        assert_eq!(events, vec![Owned::Text(text.into_bytes())]);
    }
}
