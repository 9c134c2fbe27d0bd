//! Incremental UTF-8 validation for text messages that arrive in pieces.
//!
//! Strict RFC 3629 UTF-8: no overlong forms, no surrogates (U+D800-U+DFFF),
//! nothing above U+10FFFF. The allowed byte sequences (RFC 3629 section 4):
//!
//! ```text
//! 00-7F
//! C2-DF 80-BF
//! E0    A0-BF 80-BF
//! E1-EC 80-BF 80-BF
//! ED    80-9F 80-BF
//! EE-EF 80-BF 80-BF
//! F0    90-BF 80-BF 80-BF
//! F1-F3 80-BF 80-BF 80-BF
//! F4    80-8F 80-BF 80-BF
//! ```
//!
//! Every restriction is on the first or second byte of a sequence, so checking
//! each byte against a range derived from its predecessor finds an invalid
//! sequence at the very byte that makes it impossible.

/// How many bytes at the end of `bytes` start a character that is not
/// complete yet (0 to 3), for bytes already checked to be a valid prefix of
/// UTF-8: cutting there leaves whole characters only.
#[must_use]
pub fn incomplete_tail(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let b = bytes[bytes.len() - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: the lead is further back
        }
        let width = match b {
            0xF0.. => 4,
            0xE0.. => 3,
            0xC0.. => 2,
            _ => 1,
        };
        return if width > back { back } else { 0 };
    }
    0
}

/// `need` value of a validator that has seen invalid input (until `reset`).
const FAILED: u8 = u8::MAX;

/// Validates UTF-8 fed in arbitrary pieces; fails as soon as a byte makes the
/// sequence invalid (fail fast), even in the middle of a code point split over pieces.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Utf8Validator {
    /// Continuation bytes still missing from the pending code point (0 on a
    /// code point boundary), or `FAILED`.
    need: u8,
    /// Smallest allowed value of the next continuation byte.
    lo: u8,
    /// Largest allowed value of the next continuation byte.
    hi: u8,
}

impl Utf8Validator {
    /// A validator at the start of a message.
    #[must_use]
    pub fn new() -> Self {
        Self {
            need: 0,
            lo: 0,
            hi: 0,
        }
    }

    /// Feeds the next piece; `Err(())` as soon as the bytes so far cannot be the
    /// prefix of valid UTF-8.
    ///
    /// # Errors
    ///
    /// `Err(())` when the input is invalid; the validator then keeps failing
    /// (and is not complete) until [`reset`](Self::reset).
    // The unit error is part of the public contract other modules code against.
    #[allow(clippy::result_unit_err)]
    #[inline]
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), ()> {
        let mut rest = bytes;
        if self.need != 0 {
            // Slow path, bounded by 3 bytes: finish the pending code point.
            if self.need == FAILED {
                return Err(());
            }
            while self.need != 0 {
                let Some((&b, tail)) = rest.split_first() else {
                    return Ok(());
                };
                self.step(b)?;
                rest = tail;
            }
        }
        // Fast path: std's validator is word-at-a-time for ASCII and strict.
        match core::str::from_utf8(rest) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => self.fail(),
            Err(e) => {
                // The piece ends inside a code point: at most 3 bytes, which
                // std has already prefix-checked; stepping through them checks
                // again (cheaply) and records what the next piece must supply.
                for &b in &rest[e.valid_up_to()..] {
                    self.step(b)?;
                }
                Ok(())
            }
        }
    }

    /// True when the bytes fed so far end on a code point boundary (a complete message).
    #[inline]
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.need == 0
    }

    /// Back to the start-of-message state.
    #[inline]
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Marks the validator failed and reports the error.
    #[cold]
    fn fail(&mut self) -> Result<(), ()> {
        self.need = FAILED;
        Err(())
    }

    /// Advances the state machine by one byte.
    #[inline]
    fn step(&mut self, b: u8) -> Result<(), ()> {
        if self.need == 0 {
            let (need, lo, hi) = match b {
                0x00..=0x7F => return Ok(()),
                0xC2..=0xDF => (1, 0x80, 0xBF),
                0xE0 => (2, 0xA0, 0xBF), // no overlongs
                0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
                0xED => (2, 0x80, 0x9F), // no surrogates
                0xF0 => (3, 0x90, 0xBF), // no overlongs
                0xF1..=0xF3 => (3, 0x80, 0xBF),
                0xF4 => (3, 0x80, 0x8F), // max U+10FFFF
                // Continuation bytes, overlong leads C0/C1 and F5-FF.
                _ => return self.fail(),
            };
            *self = Self { need, lo, hi };
            Ok(())
        } else if (self.lo..=self.hi).contains(&b) {
            // Only the first continuation byte has a narrowed range.
            *self = Self {
                need: self.need - 1,
                lo: 0x80,
                hi: 0xBF,
            };
            Ok(())
        } else {
            self.fail()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes` as one piece to a fresh validator; Ok iff valid and complete.
    fn whole(bytes: &[u8]) -> Result<(), ()> {
        let mut v = Utf8Validator::new();
        v.feed(bytes)?;
        if v.is_complete() {
            Ok(())
        } else {
            Err(())
        }
    }

    /// Feeds `bytes` one byte at a time; returns the index of the failing
    /// byte, or `None` when every feed succeeded.
    fn first_failing_byte(bytes: &[u8]) -> Option<usize> {
        let mut v = Utf8Validator::new();
        bytes.iter().position(|&b| v.feed(&[b]).is_err())
    }

    /// Tiny xorshift64 PRNG so tests need no crates.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn default_equals_new() {
        assert_eq!(Utf8Validator::default(), Utf8Validator::new());
        assert!(Utf8Validator::new().is_complete());
    }

    #[test]
    fn small_state() {
        assert!(core::mem::size_of::<Utf8Validator>() <= 4);
    }

    #[test]
    fn valid_inputs() {
        let cases: &[&[u8]] = &[
            b"",
            b"Hello, world",
            "κόσμε".as_bytes(),
            "日本語テキスト".as_bytes(),
            "😀🎉 emoji".as_bytes(),
            &[0x00],
            &[0x7F],
            &[0xC2, 0x80],             // U+0080, first 2-byte
            &[0xDF, 0xBF],             // U+07FF, last 2-byte
            &[0xE0, 0xA0, 0x80],       // U+0800, first 3-byte
            &[0xED, 0x9F, 0xBF],       // U+D7FF, just below surrogates
            &[0xEE, 0x80, 0x80],       // U+E000, just above surrogates
            &[0xEF, 0xBF, 0xBD],       // U+FFFD
            &[0xEF, 0xBF, 0xBF],       // U+FFFF
            &[0xF0, 0x90, 0x80, 0x80], // U+10000, first 4-byte
            &[0xF4, 0x8F, 0xBF, 0xBF], // U+10FFFF, the last code point
        ];
        for case in cases {
            assert_eq!(whole(case), Ok(()), "{case:x?}");
            assert_eq!(first_failing_byte(case), None, "{case:x?}");
        }
    }

    #[test]
    fn markus_kuhn_invalid_inputs() {
        // (bytes, index of the first byte at which the input is impossible)
        let cases: &[(&[u8], usize)] = &[
            // Overlong "/".
            (&[0xC0, 0xAF], 0),
            (&[0xE0, 0x80, 0xAF], 1),
            (&[0xF0, 0x80, 0x80, 0xAF], 1),
            // Maximum overlongs.
            (&[0xC1, 0xBF], 0),
            (&[0xE0, 0x9F, 0xBF], 1),
            (&[0xF0, 0x8F, 0xBF, 0xBF], 1),
            // Overlong NUL.
            (&[0xC0, 0x80], 0),
            (&[0xE0, 0x80, 0x80], 1),
            (&[0xF0, 0x80, 0x80, 0x80], 1),
            // Surrogates, single and paired.
            (&[0xED, 0xA0, 0x80], 1),
            (&[0xED, 0xAD, 0xBF], 1),
            (&[0xED, 0xAE, 0x80], 1),
            (&[0xED, 0xBF, 0xBF], 1),
            (&[0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80], 1),
            // Above U+10FFFF.
            (&[0xF4, 0x90, 0x80, 0x80], 1),
            (&[0xF7, 0xBF, 0xBF, 0xBF], 0),
            (&[0xF5, 0x80, 0x80, 0x80], 0),
            // 5- and 6-byte forms.
            (&[0xF8, 0x88, 0x80, 0x80, 0x80], 0),
            (&[0xFC, 0x84, 0x80, 0x80, 0x80, 0x80], 0),
            // Lone continuation bytes.
            (&[0x80], 0),
            (&[0xBF], 0),
            (&[b'a', 0x80, b'b'], 1),
            (&[0x80, 0xBF, 0x80], 0),
            // A lead byte followed by a non-continuation.
            (&[0xC2, b' '], 1),
            (&[0xE1, 0x80, b' '], 2),
            (&[0xF1, 0x80, 0x80, b' '], 3),
            (&[0xC2, 0xC2, 0x80], 1),
            // Impossible bytes.
            (&[0xFE], 0),
            (&[0xFF], 0),
            (&[0xFE, 0xFE, 0xFF, 0xFF], 0),
            // Valid text before the error.
            (b"hello \xCE\xBA\xE0\x80", 9),
            (b"abc\xF4\x90", 4),
        ];
        for &(bytes, at) in cases {
            assert_eq!(whole(bytes), Err(()), "{bytes:x?}");
            assert_eq!(first_failing_byte(bytes), Some(at), "{bytes:x?}");
            // Split anywhere, the piece containing byte `at` is the one that fails.
            for split in 0..=bytes.len() {
                let mut v = Utf8Validator::new();
                let first = v.feed(&bytes[..split]);
                if split > at {
                    assert_eq!(first, Err(()), "{bytes:x?} split {split}");
                } else {
                    assert_eq!(first, Ok(()), "{bytes:x?} split {split}");
                    assert_eq!(v.feed(&bytes[split..]), Err(()), "{bytes:x?} split {split}");
                }
            }
        }
    }

    #[test]
    fn fail_fast_on_impossible_prefixes() {
        // Pieces that end in an incomplete sequence whose known bytes are
        // already impossible must fail immediately.
        let cases: &[&[u8]] = &[
            &[0xF4, 0x90],
            &[0xE0, 0x80],
            &[0xE0, 0x9F],
            &[0xED, 0xA0],
            &[0xF0, 0x80],
            &[0xF0, 0x8F],
            &[0xF5],
            &[0xFF],
            &[0xC0],
            &[0xC1],
            &[b'x', 0xC0],
            &[b'x', 0xF4, 0x90],
        ];
        for case in cases {
            let mut v = Utf8Validator::new();
            assert_eq!(v.feed(case), Err(()), "{case:x?}");
        }
        // And after a pending, valid prefix in an earlier piece.
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(&[b'a', 0xF4]), Ok(()));
        assert_eq!(v.feed(&[0x90]), Err(()));

        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(&[0xED]), Ok(()));
        assert_eq!(v.feed(&[0xA0]), Err(()));
    }

    #[test]
    fn valid_incomplete_prefixes_are_ok_but_not_complete() {
        let cases: &[&[u8]] = &[
            &[0xC2],
            &[0xE0, 0xA0],
            &[0xED, 0x9F],
            &[0xF0, 0x90],
            &[0xF0, 0x90, 0x80],
            &[0xF4, 0x8F, 0xBF],
            b"abc\xE2\x82",
        ];
        for case in cases {
            let mut v = Utf8Validator::new();
            assert_eq!(v.feed(case), Ok(()), "{case:x?}");
            assert!(!v.is_complete(), "{case:x?}");
        }
    }

    #[test]
    fn multibyte_text_in_every_split() {
        let text = "aä€😀κόσμε\u{10FFFF}\u{FFFD}z".as_bytes();
        assert_eq!(first_failing_byte(text), None);
        let mut v = Utf8Validator::new();
        for (i, &b) in text.iter().enumerate() {
            v.feed(&[b]).unwrap();
            assert_eq!(
                v.is_complete(),
                core::str::from_utf8(&text[..=i]).is_ok(),
                "after byte {i}"
            );
        }
        assert!(v.is_complete());
        for a in 0..=text.len() {
            for b in a..=text.len() {
                let mut v = Utf8Validator::new();
                v.feed(&text[..a]).unwrap();
                v.feed(&text[a..b]).unwrap();
                v.feed(&text[b..]).unwrap();
                assert!(v.is_complete(), "splits {a} {b}");
            }
        }
    }

    #[test]
    fn empty_feeds_keep_state() {
        let mut v = Utf8Validator::new();
        v.feed(&[]).unwrap();
        v.feed(&[0xF0]).unwrap();
        v.feed(&[]).unwrap();
        v.feed(&[0x9F]).unwrap();
        v.feed(&[]).unwrap();
        v.feed(&[0x98, 0x80]).unwrap();
        assert!(v.is_complete());
    }

    #[test]
    fn failure_is_sticky_until_reset() {
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(&[0xFF]), Err(()));
        assert!(!v.is_complete());
        assert_eq!(v.feed(b"fine"), Err(()));
        assert_eq!(v.feed(&[]), Err(()));
        v.reset();
        assert_eq!(v, Utf8Validator::new());
        assert_eq!(v.feed(b"fine"), Ok(()));
        assert!(v.is_complete());

        // Reset also drops a pending partial code point.
        v.feed(&[0xE2, 0x82]).unwrap();
        assert!(!v.is_complete());
        v.reset();
        assert!(v.is_complete());
        assert_eq!(v.feed(&[0xAC]), Err(()));
    }

    #[test]
    #[cfg_attr(miri, ignore)] // ~78,000 sequences: minutes under Miri
    fn exhaustive_two_and_three_byte_sequences_match_std() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let s = [a, b];
                let mut v = Utf8Validator::new();
                let ok = v.feed(&[a]).is_ok() && v.feed(&[b]).is_ok() && v.is_complete();
                assert_eq!(ok, core::str::from_utf8(&s).is_ok(), "{s:x?}");
                assert_eq!(
                    whole(&s).is_ok(),
                    core::str::from_utf8(&s).is_ok(),
                    "{s:x?}"
                );
            }
        }
        for a in 0xE0..=0xF4u8 {
            for b in 0x70..=0xC5u8 {
                for c in [0x41, 0x7F, 0x80, 0x9F, 0xA0, 0xBF, 0xC0] {
                    let s = [a, b, c];
                    let mut v = Utf8Validator::new();
                    let ok = v.feed(&s[..1]).is_ok() && v.feed(&s[1..]).is_ok() && v.is_complete();
                    assert_eq!(ok, core::str::from_utf8(&s).is_ok(), "{s:x?}");
                }
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)] // 5,000 random rounds: minutes under Miri
    fn random_splits_match_std() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        // Building blocks: mostly valid pieces, sometimes garbage.
        let valid: &[&[u8]] = &[
            b"a",
            b"hello world ",
            b"0123456789abcdefghijklmnop",
            "ä".as_bytes(),
            "€".as_bytes(),
            "😀".as_bytes(),
            "\u{10FFFF}".as_bytes(),
            "\u{D7FF}".as_bytes(),
            "\u{E000}".as_bytes(),
        ];
        for round in 0..5000 {
            let mut input = Vec::new();
            for _ in 0..rng.below(30) {
                if rng.below(40) == 0 {
                    input.push(rng.next() as u8);
                } else if rng.below(60) == 0 && !input.is_empty() {
                    input.pop(); // may truncate a code point
                } else {
                    input.extend_from_slice(valid[rng.below(valid.len())]);
                }
            }
            let expected = core::str::from_utf8(&input);

            let mut v = Utf8Validator::new();
            let mut pos = 0;
            let mut failed_at = None;
            while pos < input.len() {
                let n = 1 + rng.below(if round % 2 == 0 { 4 } else { 40 });
                let end = (pos + n).min(input.len());
                if v.feed(&input[pos..end]).is_err() {
                    failed_at = Some((pos, end));
                    break;
                }
                pos = end;
            }
            match expected {
                Ok(_) => {
                    assert_eq!(failed_at, None, "{input:x?}");
                    assert!(v.is_complete(), "{input:x?}");
                }
                Err(e) => match e.error_len() {
                    // Truly invalid: the failing piece contains the first bad byte.
                    Some(_) => {
                        let (start, end) = failed_at.expect("must fail");
                        let bad = e.valid_up_to();
                        assert!(start <= bad + 3 && bad < end, "{input:x?} {start}..{end}");
                        // Precisely: no prefix ending before the failing piece
                        // is already impossible, so std finds no definite
                        // error within input[..start].
                        assert_eq!(
                            core::str::from_utf8(&input[..start])
                                .err()
                                .and_then(|e| e.error_len()),
                            None
                        );
                        let upto = core::str::from_utf8(&input[..end]).unwrap_err();
                        assert!(upto.error_len().is_some(), "{input:x?} {start}..{end}");
                    }
                    // Ends in a truncated code point: valid prefix, incomplete.
                    None => {
                        assert_eq!(failed_at, None, "{input:x?}");
                        assert!(!v.is_complete(), "{input:x?}");
                    }
                },
            }
        }
    }
}
