//! A sans-I/O frame codec for C: `ws_frame_encode` writes one frame into the
//! caller's buffer, and a `ws_frame_decoder` turns bytes the caller got from
//! anywhere into whole messages and control frames. No socket, no thread: it
//! is the protocol core's frame encoder and `Receiver`, with every RFC 6455
//! check (UTF-8 of text, control frame rules, fragment order, RSV bits).

use super::bytes;
use super::handle::{handle, handle_mut};
use super::status::{
    guard, guard_count, guard_status, guard_status_of, ws_status, Failure, WS_ERR_INVALID_ARGUMENT,
    WS_ERR_PROTOCOL, WS_ERR_QUEUE_FULL, WS_ERR_TOO_LARGE, WS_FRAME_NONE, WS_STATUS_OK,
};
use crate::protocol::error::ProtocolError;
use crate::protocol::frame::{write_header, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::protocol::mask::apply_mask;
use crate::protocol::receiver::{Incoming, Payload, Receiver, Role, FRAGMENTS_REASON};
use crate::transport::random;
use std::ffi::{c_int, c_uint};

/// A frame opcode (RFC 6455 5.2): one of `WS_OPCODE_*`.
pub type ws_opcode = c_int;
/// 0: a continuation frame of a fragmented message.
pub const WS_OPCODE_CONTINUATION: ws_opcode = 0;
/// 1: the first frame of a text message (UTF-8).
pub const WS_OPCODE_TEXT: ws_opcode = 1;
/// 2: the first frame of a binary message.
pub const WS_OPCODE_BINARY: ws_opcode = 2;
/// 8: a close frame (payload: an optional 2-byte big-endian code, then a UTF-8 reason).
pub const WS_OPCODE_CLOSE: ws_opcode = 8;
/// 9: a ping frame.
pub const WS_OPCODE_PING: ws_opcode = 9;
/// 10: a pong frame.
pub const WS_OPCODE_PONG: ws_opcode = 10;

/// The RSV1 bit of a frame header (`ws_frame_encode_rsv`,
/// `ws_frame_decoder_allow_rsv`): bits in the order of the header.
pub const WS_FRAME_RSV1: c_uint = 4;
/// The RSV2 bit of a frame header.
pub const WS_FRAME_RSV2: c_uint = 2;
/// The RSV3 bit of a frame header.
pub const WS_FRAME_RSV3: c_uint = 1;

/// Default `max_payload_size` of a decoder, as Protocol::WebSocket::Frame's.
const DEFAULT_MAX_PAYLOAD: usize = 65536;
/// Default `max_fragments` of a decoder, as Protocol::WebSocket::Frame's.
const DEFAULT_MAX_FRAGMENTS: usize = 128;
/// A decoder may always hold this many undecoded bytes (plus a header), even
/// with a smaller `max_payload_size`, so ordinary reads always fit.
const MIN_BUFFER: usize = 65536;

fn opcode_of(opcode: ws_opcode) -> Result<OpCode, Failure> {
    u8::try_from(opcode)
        .ok()
        .and_then(OpCode::from_bits)
        .ok_or_else(|| {
            Failure::new(
                WS_ERR_INVALID_ARGUMENT,
                format!(
                    "unknown opcode {opcode} (use 0 continuation, 1 text, 2 binary, 8 close, 9 ping or 10 pong)"
                ),
            )
        })
}

/// Header bytes of a frame of `payload_len` bytes.
fn header_len(payload_len: usize, masked: bool) -> usize {
    let base = match payload_len {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    };
    base + if masked { 4 } else { 0 }
}

/// The number of bytes `ws_frame_encode` writes for a frame with `payload_len`
/// bytes of payload, masked (`masked` != 0) or not: 2 to 14 header bytes plus
/// the payload. `SIZE_MAX` if that does not fit in a `size_t`.
#[no_mangle]
pub extern "C" fn ws_frame_encoded_size(payload_len: usize, masked: c_int) -> usize {
    guard(usize::MAX, || {
        Ok(header_len(payload_len, masked != 0).saturating_add(payload_len))
    })
}

/// Encodes one frame into `out`: `opcode` (`WS_OPCODE_*`), the FIN bit (`fin`
/// != 0: the last frame of its message) and, when `masked` != 0, a fresh random
/// masking key (clients mask every frame they send, servers never do).
/// `payload` (`len` bytes, NULL allowed when `len` is 0) is copied as given
/// (text is not checked here: a fragment may end inside a UTF-8 sequence that
/// the next one completes; receivers check whole messages).
/// `out` holds `capacity` bytes and must not overlap `payload`; on success
/// `*written` gets the frame's size, `ws_frame_encoded_size(len, masked)`.
/// The RSV bits are 0: `ws_frame_encode_rsv` sets them.
///
/// Errors: `WS_ERR_NULL` (`written`, `out`, or `payload` with `len` > 0),
/// `WS_ERR_INVALID_ARGUMENT` for an unknown opcode, a control frame (close,
/// ping, pong) without FIN, or a `capacity` too small (the message says how
/// many bytes are needed), `WS_ERR_TOO_LARGE` for a control frame payload over
/// 125 bytes. Nothing is written on error.
///
/// # Safety
/// `payload` points to `len` readable bytes, `out` to `capacity` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn ws_frame_encode(
    opcode: ws_opcode,
    fin: c_int,
    masked: c_int,
    payload: *const u8,
    len: usize,
    out: *mut u8,
    capacity: usize,
    written: *mut usize,
) -> ws_status {
    ws_frame_encode_rsv(opcode, fin, 0, masked, payload, len, out, capacity, written)
}

/// Encodes one frame as `ws_frame_encode` does, with the RSV bits `rsv` set
/// in its header: any of `WS_FRAME_RSV1` (4), `WS_FRAME_RSV2` (2),
/// `WS_FRAME_RSV3` (1), or 0, for an extension the caller implements (the
/// payload is written as given: compressing it, for permessage-deflate's
/// RSV1, is the caller's work). Pure: any thread.
///
/// Errors: as `ws_frame_encode`, and `WS_ERR_INVALID_ARGUMENT` for `rsv`
/// over 7. Nothing is written on error.
///
/// # Safety
/// `payload` points to `len` readable bytes, `out` to `capacity` writable bytes.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn ws_frame_encode_rsv(
    opcode: ws_opcode,
    fin: c_int,
    rsv: c_uint,
    masked: c_int,
    payload: *const u8,
    len: usize,
    out: *mut u8,
    capacity: usize,
    written: *mut usize,
) -> ws_status {
    guard_status(|| {
        if written.is_null() {
            return Err(Failure::null("written"));
        }
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        let op = opcode_of(opcode)?;
        let rsv = rsv_of(rsv)?;
        let payload = bytes(payload, len)?;
        if op.is_control() {
            check_control(opcode, fin, len)?;
        }
        let masked = masked != 0;
        let need = header_len(len, masked).saturating_add(len);
        if capacity < need {
            return Err(Failure::new(
                WS_ERR_INVALID_ARGUMENT,
                format!("the output buffer holds {capacity} bytes; this frame needs {need}"),
            ));
        }
        let out = std::slice::from_raw_parts_mut(out, need);
        let key = masked.then(random::mask_key);
        let mut head = Vec::with_capacity(MAX_HEADER_LEN);
        write_header(&mut head, fin != 0, rsv, op, key, len);
        let (head_out, body) = out.split_at_mut(head.len());
        head_out.copy_from_slice(&head);
        body.copy_from_slice(payload);
        if let Some(key) = key {
            apply_mask(body, key, 0);
        }
        *written = need;
        Ok(())
    })
}

/// RSV bits from C: a 3-bit mask.
fn rsv_of(rsv: c_uint) -> Result<u8, Failure> {
    u8::try_from(rsv).ok().filter(|&r| r <= 7).ok_or_else(|| {
        Failure::new(
            WS_ERR_INVALID_ARGUMENT,
            format!("RSV bits are a mask of WS_FRAME_RSV1 (4), WS_FRAME_RSV2 (2) and WS_FRAME_RSV3 (1), got {rsv}"),
        )
    })
}

/// The rules of a control frame (close, ping, pong): FIN set, at most 125
/// bytes of payload.
fn check_control(opcode: ws_opcode, fin: c_int, len: usize) -> Result<(), Failure> {
    if fin == 0 {
        return Err(Failure::new(
            WS_ERR_INVALID_ARGUMENT,
            format!("a control frame (opcode {opcode}) cannot be fragmented: fin must be set"),
        ));
    }
    if len > MAX_CONTROL_PAYLOAD {
        return Err(Failure::new(
            WS_ERR_TOO_LARGE,
            format!("a control frame's payload is at most {MAX_CONTROL_PAYLOAD} bytes, got {len}"),
        ));
    }
    Ok(())
}

/// A frame decoder (opaque): append bytes in any pieces, take out whole
/// messages and control frames one at a time. Create with
/// `ws_frame_decoder_new`, free with `ws_frame_decoder_free`. Not thread-safe:
/// use one decoder from one thread at a time.
pub struct ws_frame_decoder {
    rx: Receiver,
    /// Appended bytes; those before `start` are decoded.
    pending: Vec<u8>,
    start: usize,
    max_payload_size: usize,
    /// The payload handed out last when it is not part of `pending`: an
    /// assembled message, or a close frame's code and reason.
    lent: Vec<u8>,
    /// The error that failed the stream; every later call reports it again.
    failed: Option<ProtocolError>,
    /// The RSV bits of what `ws_frame_decoder_next` returned last.
    last_rsv: u8,
}

impl ws_frame_decoder {
    /// Most undecoded bytes held at once.
    fn buffer_limit(&self) -> usize {
        self.max_payload_size
            .max(MIN_BUFFER)
            .saturating_add(MAX_HEADER_LEN)
    }

    /// The failure reported for the protocol error `e`.
    fn failure(&self, e: ProtocolError) -> Failure {
        let message = if e.reason == FRAGMENTS_REASON {
            format!(
                "message has more than {} fragments (close code {})",
                self.rx.max_fragments(),
                e.code
            )
        } else if e.code == 1009 {
            format!(
                "{}: over {} bytes (close code 1009)",
                e.reason, self.max_payload_size
            )
        } else {
            e.to_string()
        };
        Failure::new(WS_ERR_PROTOCOL, message)
    }
}

/// A new decoder. It accepts frames masked or not (both directions), allows
/// messages of up to 65536 bytes (`ws_frame_decoder_set_max_payload_size`)
/// made of up to 128 frames (`ws_frame_decoder_set_max_fragments`). NULL only
/// if memory ran out.
#[no_mangle]
pub extern "C" fn ws_frame_decoder_new() -> *mut ws_frame_decoder {
    guard(std::ptr::null_mut(), || {
        let rx = Receiver::new(Role::Server, DEFAULT_MAX_PAYLOAD, None)
            .accept_any_masking()
            .with_max_fragments(DEFAULT_MAX_FRAGMENTS);
        Ok(Box::into_raw(Box::new(ws_frame_decoder {
            rx,
            pending: Vec::new(),
            start: 0,
            max_payload_size: DEFAULT_MAX_PAYLOAD,
            lent: Vec::new(),
            failed: None,
            last_rsv: 0,
        })))
    })
}

/// Frees a decoder and what it holds. NULL is a no-op.
///
/// # Safety
/// `d` is NULL or from `ws_frame_decoder_new`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ws_frame_decoder_free(d: *mut ws_frame_decoder) {
    guard((), || {
        if !d.is_null() {
            drop(Box::from_raw(d));
        }
        Ok(())
    })
}

/// Largest message (after reassembly of its fragments) or control frame
/// payload accepted, in bytes (> 0; default 65536). A data frame that would go
/// over it fails the stream with close code 1009 as soon as its header
/// arrives, before its payload is buffered; a control frame (at most 125
/// bytes) once it is complete. Applies from the next frame on.
///
/// # Safety
/// `d` is NULL (an error) or a live decoder.
#[no_mangle]
pub unsafe extern "C" fn ws_frame_decoder_set_max_payload_size(
    d: *mut ws_frame_decoder,
    bytes: u64,
) -> ws_status {
    guard_status(|| {
        let d = handle_mut(d)?;
        if bytes == 0 || bytes > isize::MAX as u64 {
            return Err(Failure::new(
                WS_ERR_INVALID_ARGUMENT,
                format!(
                    "max_payload_size must be between 1 and {}, got {bytes}",
                    isize::MAX
                ),
            ));
        }
        d.max_payload_size = bytes as usize;
        d.rx.set_max_message_size(bytes as usize);
        Ok(())
    })
}

/// Most frames one message may be made of (default 128; 0: no limit). A
/// message with more fails the stream with close code 1009 when the first
/// frame over the limit arrives. Control frames do not count. Applies from the
/// next frame on.
///
/// # Safety
/// `d` is NULL (an error) or a live decoder.
#[no_mangle]
pub unsafe extern "C" fn ws_frame_decoder_set_max_fragments(
    d: *mut ws_frame_decoder,
    count: u64,
) -> ws_status {
    guard_status(|| {
        let d = handle_mut(d)?;
        d.rx.set_max_fragments(usize::try_from(count).unwrap_or(usize::MAX));
        Ok(())
    })
}

/// Gives the decoder the next `len` bytes of the stream (any piece: a byte, a
/// frame, several frames); they are copied. Then call `ws_frame_decoder_next`
/// until it returns `WS_FRAME_NONE`.
///
/// Memory is bounded: a decoder holds at most the larger of max_payload_size
/// and 65536, plus 14, bytes not yet decoded (bytes of a frame's payload go to
/// its message as `ws_frame_decoder_next` decodes them, so after it returned
/// `WS_FRAME_NONE` fewer than 14 remain). An append that would go over it is
/// refused and nothing is taken: `WS_ERR_QUEUE_FULL` when decoding first makes
/// room (call `ws_frame_decoder_next` until `WS_FRAME_NONE`, then append
/// again), `WS_ERR_TOO_LARGE` when `len` alone is over it (append in smaller
/// pieces). After the stream failed, returns `WS_ERR_PROTOCOL` again.
/// `WS_ERR_NULL` for a NULL `d`, or NULL `data` with `len` > 0.
///
/// # Safety
/// `d` is NULL (an error) or a live decoder; `data` points to `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn ws_frame_decoder_append(
    d: *mut ws_frame_decoder,
    data: *const u8,
    len: usize,
) -> ws_status {
    guard_status(|| {
        let d = handle_mut(d)?;
        let data = bytes(data, len)?;
        if let Some(e) = d.failed {
            let mut f = d.failure(e);
            f.message = format!("the stream failed earlier: {}", f.message);
            return Err(f);
        }
        if d.start > 0 {
            d.pending.drain(..d.start);
            d.start = 0;
        }
        let limit = d.buffer_limit();
        if len > limit {
            return Err(Failure::new(
                WS_ERR_TOO_LARGE,
                format!(
                    "cannot append {len} bytes at once: a decoder holds at most {limit} undecoded bytes; append smaller pieces"
                ),
            ));
        }
        let needed = d.pending.len() + len;
        if needed > limit {
            return Err(Failure::new(
                WS_ERR_QUEUE_FULL,
                format!(
                    "cannot append {len} bytes: {} bytes wait to be decoded and a decoder holds at most {limit}; call ws_frame_decoder_next until it returns WS_FRAME_NONE first",
                    d.pending.len()
                ),
            ));
        }
        if needed > d.pending.capacity() {
            // Grow by doubling, but never past the limit.
            let target = (d.pending.capacity() * 2).clamp(needed, limit);
            d.pending.reserve_exact(target - d.pending.len());
        }
        d.pending.extend_from_slice(data);
        Ok(())
    })
}

/// Takes the next complete message or control frame out of the decoder.
///
/// Returns `WS_STATUS_OK` with `*opcode` = `WS_OPCODE_TEXT` (valid UTF-8),
/// `WS_OPCODE_BINARY` (fragments already joined), `WS_OPCODE_PING`,
/// `WS_OPCODE_PONG` or `WS_OPCODE_CLOSE` (payload: the code as 2 big-endian
/// bytes and the UTF-8 reason, or empty), and `*data` / `*len` its payload,
/// valid until the next call with this decoder (copy what you keep).
/// Control frames that arrive between the fragments of a message come out
/// first, as they arrive. Returns `WS_FRAME_NONE` (1) when nothing is complete
/// yet; the out-parameters are then untouched.
///
/// On a protocol error (bad UTF-8, a continuation without a message, a
/// reserved opcode or RSV bit, a message over max_payload_size or with too
/// many fragments, an invalid close frame...) returns `WS_ERR_PROTOCOL`, with
/// the reason in `ws_last_error_message()` and the close code to send the
/// peer in `ws_frame_decoder_close_code(d)`; the stream is failed and every
/// later call returns the same error. `WS_ERR_NULL` for a NULL argument.
///
/// # Safety
/// `d` is NULL (an error) or a live decoder; the out-pointers are writable.
#[no_mangle]
pub unsafe extern "C" fn ws_frame_decoder_next(
    d: *mut ws_frame_decoder,
    opcode: *mut ws_opcode,
    data: *mut *const u8,
    len: *mut usize,
) -> ws_status {
    guard_status_of(|| {
        let d = handle_mut(d)?;
        if opcode.is_null() {
            return Err(Failure::null("opcode"));
        }
        if data.is_null() {
            return Err(Failure::null("data"));
        }
        if len.is_null() {
            return Err(Failure::null("len"));
        }
        if let Some(e) = d.failed {
            return Err(d.failure(e));
        }
        let start = d.start;
        let lent = std::mem::take(&mut d.lent);
        d.rx.recycle(lent);
        let (used, event) = match d.rx.decode(&mut d.pending[start..]) {
            Ok(decoded) => decoded,
            Err(e) => {
                d.failed = Some(e);
                d.pending = Vec::new();
                d.start = 0;
                return Err(d.failure(e));
            }
        };
        d.start += used;
        // The receiver checks messages against the limit; control frames
        // (at most 125 bytes) are checked here, once complete.
        let control_len = match &event {
            Some(Incoming::Ping(p) | Incoming::Pong(p)) => p.len(),
            Some(Incoming::Close(Some(_), reason)) => 2 + reason.len(),
            _ => 0,
        };
        if control_len > d.max_payload_size {
            let e = ProtocolError {
                code: 1009,
                reason: "control frame too large",
            };
            d.failed = Some(e);
            d.pending = Vec::new();
            d.start = 0;
            return Err(d.failure(e));
        }
        let Some(event) = event else {
            if d.start == d.pending.len() {
                // All decoded: drop a large buffer rather than keep it idle.
                d.start = 0;
                if d.pending.capacity() > MIN_BUFFER {
                    d.pending = Vec::new();
                } else {
                    d.pending.clear();
                }
            }
            return Ok(WS_FRAME_NONE);
        };
        let control = matches!(
            event,
            Incoming::Ping(_) | Incoming::Pong(_) | Incoming::Close(..)
        );
        d.last_rsv = d.rx.last_rsv(control);
        let (op, payload) = match event {
            Incoming::Text(p) => (WS_OPCODE_TEXT, p),
            Incoming::Binary(p) => (WS_OPCODE_BINARY, p),
            Incoming::Ping(p) => (WS_OPCODE_PING, p),
            Incoming::Pong(p) => (WS_OPCODE_PONG, p),
            Incoming::Close(code, reason) => {
                let mut close = Vec::new();
                if let Some(code) = code {
                    close.extend_from_slice(&code.to_be_bytes());
                    close.extend_from_slice(reason.as_bytes());
                }
                (WS_OPCODE_CLOSE, Payload::Owned(close))
            }
            Incoming::Part(_) => unreachable!("a frame decoder takes whole messages"),
        };
        let payload: &[u8] = match payload {
            Payload::Borrowed(p) => p,
            Payload::Owned(v) => {
                d.lent = v;
                &d.lent
            }
        };
        *opcode = op;
        *data = payload.as_ptr();
        *len = payload.len();
        Ok(WS_STATUS_OK)
    })
}

/// The close code to send the peer after `ws_frame_decoder_next` failed the
/// stream: 1002 (`WS_PROTOCOL_ERROR`), 1007 (`WS_BAD_MESSAGE`, e.g. invalid
/// UTF-8) or 1009 (`WS_MESSAGE_TOO_LARGE`). 0 while the stream is fine,
/// `WS_ERR_NULL` for NULL.
///
/// # Safety
/// `d` is NULL or a live decoder.
#[no_mangle]
pub unsafe extern "C" fn ws_frame_decoder_close_code(d: *const ws_frame_decoder) -> c_int {
    guard_count(|| Ok(handle(d)?.failed.map_or(0, |e| c_int::from(e.code))))
}

/// Accepts frames carrying the RSV bits in `rsv` (any of `WS_FRAME_RSV1`,
/// `WS_FRAME_RSV2`, `WS_FRAME_RSV3`; 0, the default, accepts none) instead
/// of failing the stream with 1002, for an extension the caller implements.
/// The decoder does no extension processing: the payload of such frames is
/// delivered as it came (fragments joined), and `ws_frame_decoder_rsv` tells
/// the bits. A text message whose first frame has RSV1 is not checked to be
/// UTF-8 (it is likely compressed: check it once decompressed); other text
/// is. Frames with RSV bits outside `rsv` still fail the stream. Applies
/// from the next frame on.
///
/// Errors: `WS_ERR_NULL` for a NULL `d`, `WS_ERR_INVALID_ARGUMENT` for `rsv`
/// over 7 (nothing changes then).
///
/// # Safety
/// `d` is NULL (an error) or a live decoder.
#[no_mangle]
pub unsafe extern "C" fn ws_frame_decoder_allow_rsv(
    d: *mut ws_frame_decoder,
    rsv: c_uint,
) -> ws_status {
    guard_status(|| {
        let d = handle_mut(d)?;
        d.rx.allow_rsv(rsv_of(rsv)?);
        Ok(())
    })
}

/// The RSV bits (a mask of `WS_FRAME_RSV*`) of what `ws_frame_decoder_next`
/// returned last: of the first frame of the message, or of the control
/// frame. 0 before anything was returned, and for NULL.
///
/// # Safety
/// `d` is NULL or a live decoder.
#[no_mangle]
pub unsafe extern "C" fn ws_frame_decoder_rsv(d: *const ws_frame_decoder) -> c_uint {
    guard(0, || Ok(c_uint::from(handle(d)?.last_rsv)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr;

    fn encode(op: ws_opcode, fin: bool, masked: bool, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; ws_frame_encoded_size(payload.len(), masked as c_int)];
        let mut n = 0;
        let rc = unsafe {
            ws_frame_encode(
                op,
                fin as c_int,
                masked as c_int,
                payload.as_ptr(),
                payload.len(),
                out.as_mut_ptr(),
                out.len(),
                &mut n,
            )
        };
        assert_eq!(rc, WS_STATUS_OK);
        assert_eq!(n, out.len());
        out
    }

    /// Every message the decoder gives for `wire` appended in `chunk`-byte pieces.
    fn decode_all(
        d: *mut ws_frame_decoder,
        wire: &[u8],
        chunk: usize,
    ) -> Result<Vec<(ws_opcode, Vec<u8>)>, ws_status> {
        let mut got = Vec::new();
        for piece in wire.chunks(chunk) {
            let rc = unsafe { ws_frame_decoder_append(d, piece.as_ptr(), piece.len()) };
            if rc != WS_STATUS_OK {
                return Err(rc);
            }
            got.extend(drain(d)?);
        }
        Ok(got)
    }

    /// Every message complete in the decoder.
    fn drain(d: *mut ws_frame_decoder) -> Result<Vec<(ws_opcode, Vec<u8>)>, ws_status> {
        let mut got = Vec::new();
        loop {
            let (mut op, mut data, mut len) = (-1, ptr::null(), 0);
            let rc = unsafe { ws_frame_decoder_next(d, &mut op, &mut data, &mut len) };
            match rc {
                WS_FRAME_NONE => break,
                WS_STATUS_OK => got.push((op, unsafe {
                    std::slice::from_raw_parts(data, len).to_vec()
                })),
                e => return Err(e),
            }
        }
        Ok(got)
    }

    #[test]
    fn round_trips_every_size_masked_or_not() {
        for len in [0, 1, 125, 126, 65535, 65536, 100_000] {
            for masked in [false, true] {
                let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
                let wire = encode(WS_OPCODE_BINARY, true, masked, &payload);
                let d = ws_frame_decoder_new();
                unsafe { ws_frame_decoder_set_max_payload_size(d, 1 << 20) };
                let got = decode_all(d, &wire, 4096).unwrap();
                assert_eq!(got, vec![(WS_OPCODE_BINARY, payload)], "len {len}");
                unsafe { ws_frame_decoder_free(d) };
            }
        }
    }

    /// A frame with RSV bits `rsv`, through `ws_frame_encode_rsv`.
    fn encode_rsv(op: ws_opcode, rsv: c_uint, payload: &[u8]) -> Result<Vec<u8>, ws_status> {
        let mut out = vec![0u8; ws_frame_encoded_size(payload.len(), 1)];
        let mut n = 0;
        let rc = unsafe {
            ws_frame_encode_rsv(
                op,
                1,
                rsv,
                1,
                payload.as_ptr(),
                payload.len(),
                out.as_mut_ptr(),
                out.len(),
                &mut n,
            )
        };
        (rc == WS_STATUS_OK).then_some(out).ok_or(rc)
    }

    #[test]
    fn rsv_bits_go_into_the_header_and_come_out_when_allowed() {
        let wire = encode_rsv(WS_OPCODE_TEXT, WS_FRAME_RSV1 | WS_FRAME_RSV3, b"\xff").unwrap();
        assert_eq!(wire[0], 0x80 | 0x50 | 0x01);
        assert_eq!(
            encode_rsv(WS_OPCODE_TEXT, 8, b""),
            Err(WS_ERR_INVALID_ARGUMENT)
        );
        let d = ws_frame_decoder_new();
        assert_eq!(decode_all(d, &wire, 2), Err(WS_ERR_PROTOCOL));
        assert_eq!(unsafe { ws_frame_decoder_close_code(d) }, 1002);
        unsafe { ws_frame_decoder_free(d) };
        let d = ws_frame_decoder_new();
        assert_eq!(
            unsafe { ws_frame_decoder_allow_rsv(d, 9) },
            WS_ERR_INVALID_ARGUMENT
        );
        assert_eq!(unsafe { ws_frame_decoder_allow_rsv(d, 5) }, WS_STATUS_OK);
        assert_eq!(
            decode_all(d, &wire, 2).unwrap(),
            vec![(WS_OPCODE_TEXT, vec![0xff])]
        );
        assert_eq!(unsafe { ws_frame_decoder_rsv(d) }, 5);
        let pong = encode_rsv(WS_OPCODE_PONG, WS_FRAME_RSV3, b"p").unwrap();
        assert_eq!(decode_all(d, &pong, 100).unwrap().len(), 1);
        assert_eq!(unsafe { ws_frame_decoder_rsv(d) }, WS_FRAME_RSV3);
        let rsv2 = encode_rsv(WS_OPCODE_BINARY, WS_FRAME_RSV2, b"b").unwrap();
        assert_eq!(decode_all(d, &rsv2, 100), Err(WS_ERR_PROTOCOL));
        unsafe { ws_frame_decoder_free(d) };
        assert_eq!(unsafe { ws_frame_decoder_rsv(ptr::null()) }, 0);
    }

    #[test]
    fn errors_are_sticky_and_carry_the_close_code() {
        let d = ws_frame_decoder_new();
        let wire = encode(WS_OPCODE_TEXT, true, false, &[0xff]);
        assert_eq!(decode_all(d, &wire, 100), Err(WS_ERR_PROTOCOL));
        assert_eq!(unsafe { ws_frame_decoder_close_code(d) }, 1007);
        assert_eq!(drain(d), Err(WS_ERR_PROTOCOL));
        assert_eq!(decode_all(d, b"x", 1), Err(WS_ERR_PROTOCOL));
        unsafe { ws_frame_decoder_free(d) };
    }

    #[test]
    fn control_frames_over_the_limit_fail_the_stream() {
        // Found by the ffi_frame_decoder fuzz target: control frames were
        // handed out whatever max_payload_size said.
        for (op, payload) in [
            (WS_OPCODE_PING, &b"abc"[..]),
            (WS_OPCODE_PONG, b"abc"),
            (WS_OPCODE_CLOSE, b"\x03\xe8a"),
        ] {
            let d = ws_frame_decoder_new();
            unsafe { ws_frame_decoder_set_max_payload_size(d, 2) };
            let wire = encode(op, true, false, payload);
            assert_eq!(
                decode_all(d, &wire, 100),
                Err(WS_ERR_PROTOCOL),
                "opcode {op}"
            );
            assert_eq!(unsafe { ws_frame_decoder_close_code(d) }, 1009);
            unsafe { ws_frame_decoder_free(d) };
            // At the limit, it comes out.
            let d = ws_frame_decoder_new();
            unsafe { ws_frame_decoder_set_max_payload_size(d, 3) };
            assert_eq!(
                decode_all(d, &wire, 100).unwrap(),
                vec![(op, payload.to_vec())]
            );
            unsafe { ws_frame_decoder_free(d) };
        }
    }

    #[test]
    fn undecoded_bytes_are_bounded() {
        let d = ws_frame_decoder_new();
        let limit = MIN_BUFFER + MAX_HEADER_LEN;
        let big = vec![0u8; limit + 1];
        let rc = unsafe { ws_frame_decoder_append(d, big.as_ptr(), big.len()) };
        assert_eq!(rc, WS_ERR_TOO_LARGE);
        let ping = encode(WS_OPCODE_PING, true, false, b"");
        let mut appended = 0;
        while unsafe { ws_frame_decoder_append(d, ping.as_ptr(), ping.len()) } == WS_STATUS_OK {
            appended += ping.len();
        }
        assert_eq!(appended, limit / 2 * 2);
        assert!(unsafe { (*d).pending.capacity() } <= limit);
        let rc = unsafe { ws_frame_decoder_append(d, ping.as_ptr(), ping.len()) };
        assert_eq!(rc, WS_ERR_QUEUE_FULL);
        // Draining makes room again.
        assert_eq!(drain(d).unwrap().len(), limit / 2);
        assert_eq!(decode_all(d, &ping, 2).unwrap().len(), 1);
        assert_eq!(
            unsafe { (*d).pending.len() },
            0,
            "decoded bytes are dropped"
        );
        // A large buffer is released once everything in it is decoded.
        unsafe { ws_frame_decoder_set_max_payload_size(d, 1 << 20) };
        let big = encode(WS_OPCODE_BINARY, true, true, &vec![1u8; 1 << 20]);
        assert_eq!(decode_all(d, &big, big.len()).unwrap().len(), 1);
        assert_eq!(unsafe { (*d).pending.capacity() }, 0);
        unsafe { ws_frame_decoder_free(d) };
    }
}
