//! Frame headers (RFC 6455 section 5.2): parsing and encoding.

use super::error::ProtocolError;
use super::mask::apply_mask;

/// Frame opcodes defined by RFC 6455. The reserved ones (3-7, 11-15) never get here:
/// parsing refuses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCode {
    /// Continuation of a fragmented message.
    Continuation = 0,
    /// First frame of a text message.
    Text = 1,
    /// First frame of a binary message.
    Binary = 2,
    /// Close control frame.
    Close = 8,
    /// Ping control frame.
    Ping = 9,
    /// Pong control frame.
    Pong = 10,
}

impl OpCode {
    /// The opcode for the low four bits of a frame's first byte, `None` if reserved.
    pub fn from_bits(bits: u8) -> Option<OpCode> {
        Some(match bits {
            0 => OpCode::Continuation,
            1 => OpCode::Text,
            2 => OpCode::Binary,
            8 => OpCode::Close,
            9 => OpCode::Ping,
            10 => OpCode::Pong,
            _ => return None,
        })
    }

    /// Close, ping and pong are control frames.
    pub fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// Largest payload of a control frame.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The RSV1 bit as [`FrameHeader::rsv`] holds it (permessage-deflate marks
/// compressed messages with it).
pub(crate) const RSV1: u8 = 0b100;

/// Largest frame header: 2 bytes + 8 length bytes + 4 mask bytes.
pub const MAX_HEADER_LEN: usize = 14;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Final fragment of a message.
    pub fin: bool,
    /// The three RSV bits (RSV1 = 0b100, RSV2 = 0b010, RSV3 = 0b001).
    pub rsv: u8,
    /// The frame's opcode.
    pub opcode: OpCode,
    /// The masking key, present on client-to-server frames.
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes.
    pub payload_len: u64,
}

/// Parses a frame header at the start of `buf`.
///
/// `Ok(None)`: more bytes are needed. `Ok(Some((header, n)))`: the header took
/// `n` bytes. Reserved opcodes, fragmented or oversized control frames and a
/// 64-bit length with the top bit set are protocol errors (1002).
pub fn parse_header(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    let opcode = OpCode::from_bits(b0 & 0x0f).ok_or(ProtocolError::protocol("reserved opcode"))?;
    let fin = b0 & 0x80 != 0;
    let masked = b1 & 0x80 != 0;
    let (payload_len, mut n) = match b1 & 0x7f {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let mut len = [0u8; 8];
            len.copy_from_slice(&buf[2..10]);
            let len = u64::from_be_bytes(len);
            if len >> 63 != 0 {
                return Err(ProtocolError::protocol("frame length has its top bit set"));
            }
            (len, 10)
        }
        len => (len as u64, 2),
    };
    if opcode.is_control() {
        if !fin {
            return Err(ProtocolError::protocol("fragmented control frame"));
        }
        if payload_len > MAX_CONTROL_PAYLOAD as u64 {
            return Err(ProtocolError::protocol(
                "control frame payload over 125 bytes",
            ));
        }
    }
    let mask = if masked {
        if buf.len() < n + 4 {
            return Ok(None);
        }
        let key = [buf[n], buf[n + 1], buf[n + 2], buf[n + 3]];
        n += 4;
        Some(key)
    } else {
        None
    };
    let header = FrameHeader {
        fin,
        rsv: (b0 >> 4) & 0x7,
        opcode,
        mask,
        payload_len,
    };
    Ok(Some((header, n)))
}

/// Appends a frame header to `out`.
pub fn write_header(
    out: &mut Vec<u8>,
    fin: bool,
    rsv: u8,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload_len: usize,
) {
    let b0 = (fin as u8) << 7 | (rsv & 0x7) << 4 | opcode as u8;
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    out.push(b0);
    if payload_len < 126 {
        out.push(mask_bit | payload_len as u8);
    } else if payload_len <= u16::MAX as usize {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(payload_len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(payload_len as u64).to_be_bytes());
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
}

/// Appends a whole frame (header and payload, masked when `mask` is given) to `out`.
pub fn encode_frame(
    out: &mut Vec<u8>,
    fin: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) {
    out.reserve(MAX_HEADER_LEN + payload.len());
    write_header(out, fin, 0, opcode, mask, payload.len());
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(buf: &[u8]) -> (FrameHeader, usize) {
        parse_header(buf).unwrap().unwrap()
    }

    #[test]
    fn rfc_single_frame_unmasked_text() {
        // RFC 6455 5.7: a single-frame unmasked text message "Hello".
        let buf = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let (h, n) = parse(&buf);
        assert_eq!(n, 2);
        assert!(h.fin);
        assert_eq!(h.opcode, OpCode::Text);
        assert_eq!(h.payload_len, 5);
        assert_eq!(h.mask, None);
    }

    #[test]
    fn rfc_single_frame_masked_text() {
        let buf = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let (h, n) = parse(&buf);
        assert_eq!(n, 6);
        assert_eq!(h.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        let mut payload = buf[n..].to_vec();
        apply_mask(&mut payload, h.mask.unwrap(), 0);
        assert_eq!(payload, b"Hello");
        let mut out = Vec::new();
        encode_frame(&mut out, true, OpCode::Text, h.mask, b"Hello");
        assert_eq!(out, buf);
    }

    #[test]
    fn rfc_fragmented_text() {
        // "Hel" then "lo": first frame not final, then a final continuation.
        let (h, _) = parse(&[0x01, 0x03, 0x48, 0x65, 0x6c]);
        assert!(!h.fin);
        assert_eq!(h.opcode, OpCode::Text);
        let (h, _) = parse(&[0x80, 0x02, 0x6c, 0x6f]);
        assert!(h.fin);
        assert_eq!(h.opcode, OpCode::Continuation);
    }

    #[test]
    fn rfc_ping_and_pong() {
        let (h, _) = parse(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(h.opcode, OpCode::Ping);
        let (h, n) = parse(&[
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ]);
        assert_eq!((h.opcode, n), (OpCode::Pong, 6));
    }

    #[test]
    fn rfc_16_and_64_bit_lengths() {
        // 256 bytes binary in one unmasked frame: 0x82 0x7E 0x0100.
        let (h, n) = parse(&[0x82, 0x7e, 0x01, 0x00]);
        assert_eq!((h.payload_len, n), (256, 4));
        // 64 KiB: 0x82 0x7F 0x0000000000010000.
        let (h, n) = parse(&[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!((h.payload_len, n), (65536, 10));
    }

    #[test]
    fn encode_picks_the_shortest_length() {
        for (len, header_len) in [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)] {
            let payload = vec![7u8; len];
            let mut out = Vec::new();
            encode_frame(&mut out, true, OpCode::Binary, None, &payload);
            assert_eq!(out.len(), header_len + len);
            let (h, n) = parse(&out);
            assert_eq!((h.payload_len as usize, n), (len, header_len));
            let mut masked = Vec::new();
            encode_frame(
                &mut masked,
                true,
                OpCode::Binary,
                Some([1, 2, 3, 4]),
                &payload,
            );
            let (h, n) = parse(&masked);
            assert_eq!(n, header_len + 4);
            let mut body = masked[n..].to_vec();
            apply_mask(&mut body, h.mask.unwrap(), 0);
            assert_eq!(body, payload);
        }
    }

    #[test]
    fn incomplete_headers_need_more_bytes() {
        let mut full = Vec::new();
        encode_frame(
            &mut full,
            true,
            OpCode::Binary,
            Some([9, 9, 9, 9]),
            &[0; 70000],
        );
        for cut in 0..14 {
            assert_eq!(parse_header(&full[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert!(parse_header(&full[..14]).unwrap().is_some());
    }

    #[test]
    fn rsv_bits_are_reported() {
        let (h, _) = parse(&[0xf1, 0x00]);
        assert_eq!(h.rsv, 0b111);
        let (h, _) = parse(&[0xc1, 0x00]);
        assert_eq!(h.rsv, 0b100);
    }

    #[test]
    fn protocol_errors() {
        for op in [3u8, 4, 5, 6, 7, 11, 12, 13, 14, 15] {
            let e = parse_header(&[0x80 | op, 0]).unwrap_err();
            assert_eq!(e.code, 1002, "opcode {op}");
        }
        // Fragmented ping.
        assert_eq!(parse_header(&[0x09, 0x00]).unwrap_err().code, 1002);
        // Ping with 126 bytes (16-bit length form).
        assert_eq!(parse_header(&[0x89, 0x7e, 0, 126]).unwrap_err().code, 1002);
        // 64-bit length with the top bit set.
        let e = parse_header(&[0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0]).unwrap_err();
        assert_eq!(e.code, 1002);
    }
}
