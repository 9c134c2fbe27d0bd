//! Close codes (RFC 6455 section 7.4) and close frame payloads.

/// May this code appear in a close frame on the wire? True for 1000-1003,
/// 1007-1011 and 3000-4999; false for 1004-1006, 1012-2999 (reserved or never
/// sent, like 1005/1006/1015) and anything outside 1000-4999.
pub fn is_valid_wire_code(code: u16) -> bool {
    // 1004 is reserved, 1005 (no status) and 1006 (abnormal closure) and 1015
    // (TLS failure) must never be sent in a frame. 1012-1014 were registered
    // with IANA after RFC 6455, but we follow the strict RFC 6455 profile that
    // the Autobahn test suite uses and treat them, like the rest of 1012-2999
    // (reserved for future RFCs), as invalid. 3000-3999 are IANA-registered
    // library/framework codes and 4000-4999 are for private use.
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

/// The parsed payload of a close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosePayload<'a> {
    /// The status code; `None` when the frame had an empty payload.
    pub code: Option<u16>,
    /// The UTF-8 reason (empty when none).
    pub reason: &'a str,
}

/// Why a close frame payload was refused, with the close code to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosePayloadError {
    /// 1-byte payload or a code not valid on the wire: answer 1002.
    Protocol,
    /// The reason is not valid UTF-8: answer 1007.
    InvalidUtf8,
}

/// Largest payload of any control frame (RFC 6455 section 5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

/// Parses and validates a received close frame payload (already unmasked).
///
/// # Errors
///
/// [`ClosePayloadError::Protocol`] for a 1-byte payload, a payload over 125
/// bytes or a code not valid on the wire; [`ClosePayloadError::InvalidUtf8`]
/// when the reason is not UTF-8.
pub fn parse_close_payload(payload: &[u8]) -> Result<ClosePayload<'_>, ClosePayloadError> {
    match payload {
        [] => Ok(ClosePayload {
            code: None,
            reason: "",
        }),
        [_] => Err(ClosePayloadError::Protocol),
        _ if payload.len() > MAX_CONTROL_PAYLOAD => Err(ClosePayloadError::Protocol),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_wire_code(code) {
                return Err(ClosePayloadError::Protocol);
            }
            let reason =
                core::str::from_utf8(reason).map_err(|_| ClosePayloadError::InvalidUtf8)?;
            Ok(ClosePayload {
                code: Some(code),
                reason,
            })
        }
    }
}

/// Appends the payload of a close frame (code in network order + reason) to `out`.
/// `code` `None` writes an empty payload (and `reason` must be empty).
pub fn write_close_payload(out: &mut Vec<u8>, code: Option<u16>, reason: &str) {
    match code {
        Some(code) => {
            out.reserve(2 + reason.len());
            out.extend_from_slice(&code.to_be_bytes());
            out.extend_from_slice(reason.as_bytes());
        }
        None => debug_assert!(reason.is_empty(), "a close reason needs a close code"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_codes() {
        for code in 0..=u16::MAX {
            let expected = matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999);
            assert_eq!(is_valid_wire_code(code), expected, "code {code}");
        }
        for valid in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
        ] {
            assert!(is_valid_wire_code(valid), "{valid}");
        }
        for invalid in [
            0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!is_valid_wire_code(invalid), "{invalid}");
        }
    }

    #[test]
    fn parse_empty() {
        assert_eq!(
            parse_close_payload(&[]),
            Ok(ClosePayload {
                code: None,
                reason: ""
            })
        );
    }

    #[test]
    fn parse_one_byte_is_protocol_error() {
        assert_eq!(
            parse_close_payload(&[0x03]),
            Err(ClosePayloadError::Protocol)
        );
        assert_eq!(
            parse_close_payload(&[0xe8]),
            Err(ClosePayloadError::Protocol)
        );
    }

    #[test]
    fn parse_code_only() {
        assert_eq!(
            parse_close_payload(&[0x03, 0xe8]),
            Ok(ClosePayload {
                code: Some(1000),
                reason: ""
            })
        );
        assert_eq!(
            parse_close_payload(&[0x0f, 0xa0]),
            Ok(ClosePayload {
                code: Some(4000),
                reason: ""
            })
        );
    }

    #[test]
    fn parse_code_and_reason() {
        let mut payload = vec![0x03, 0xe9];
        payload.extend_from_slice("bye κόσμε".as_bytes());
        assert_eq!(
            parse_close_payload(&payload),
            Ok(ClosePayload {
                code: Some(1001),
                reason: "bye κόσμε"
            })
        );
    }

    #[test]
    fn parse_invalid_codes_are_protocol_errors() {
        for code in [
            0u16, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 2999, 5000, 65535,
        ] {
            let payload = code.to_be_bytes();
            assert_eq!(
                parse_close_payload(&payload),
                Err(ClosePayloadError::Protocol),
                "code {code}"
            );
            // The code is checked before (and wins over) a bad reason.
            let mut payload = payload.to_vec();
            payload.push(0xff);
            assert_eq!(
                parse_close_payload(&payload),
                Err(ClosePayloadError::Protocol),
                "code {code} with bad reason"
            );
        }
    }

    #[test]
    fn parse_invalid_utf8_reason() {
        for bad in [
            &[0xffu8][..],
            &[0xc0, 0xaf],
            &[0xed, 0xa0, 0x80],
            &[b'a', 0xce],
        ] {
            let mut payload = vec![0x03, 0xe8];
            payload.extend_from_slice(bad);
            assert_eq!(
                parse_close_payload(&payload),
                Err(ClosePayloadError::InvalidUtf8),
                "reason {bad:x?}"
            );
        }
    }

    #[test]
    fn parse_too_long_is_protocol_error() {
        let mut payload = vec![0x03, 0xe8];
        payload.resize(125, b'a');
        assert_eq!(parse_close_payload(&payload).unwrap().reason.len(), 123);
        payload.push(b'a');
        assert_eq!(
            parse_close_payload(&payload),
            Err(ClosePayloadError::Protocol)
        );
    }

    #[test]
    fn write_payloads() {
        let mut out = vec![0xaa];
        write_close_payload(&mut out, Some(1000), "");
        assert_eq!(out, [0xaa, 0x03, 0xe8]);

        let mut out = Vec::new();
        write_close_payload(&mut out, Some(4001), "done ✓");
        let mut expected = vec![0x0f, 0xa1];
        expected.extend_from_slice("done ✓".as_bytes());
        assert_eq!(out, expected);

        let mut out = vec![1, 2];
        write_close_payload(&mut out, None, "");
        assert_eq!(out, [1, 2]);
    }

    #[test]
    fn write_then_parse_round_trips() {
        for (code, reason) in [
            (1000, ""),
            (1011, "internal"),
            (3000, "ünïcödé"),
            (4999, "x"),
        ] {
            let mut out = Vec::new();
            write_close_payload(&mut out, Some(code), reason);
            assert_eq!(
                parse_close_payload(&out),
                Ok(ClosePayload {
                    code: Some(code),
                    reason
                })
            );
        }
        let mut out = Vec::new();
        write_close_payload(&mut out, None, "");
        assert_eq!(
            parse_close_payload(&out),
            Ok(ClosePayload {
                code: None,
                reason: ""
            })
        );
    }
}
