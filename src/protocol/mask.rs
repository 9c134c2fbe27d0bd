//! Client-to-server payload masking (RFC 6455 section 5.3).

/// Size in bytes of the machine word the bulk of the payload is masked with.
const WORD: usize = core::mem::size_of::<u64>();

/// XORs `data` in place with the 4-byte masking `key`, as if `data` started at
/// byte `offset` of the masked payload (so a payload can be unmasked in pieces).
/// Works a machine word at a time.
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    // Rotate the key so that `key[0]` applies to `data[0]`.
    let mut key = rotate(key, offset);

    // Bytes before the first 8-byte-aligned address are done one at a time.
    // `align_offset` may return `usize::MAX` (never on real targets for u8
    // pointers, but allowed by its contract); `min` keeps that correct.
    let head = data.as_ptr().align_offset(WORD).min(data.len());
    let (head_bytes, body) = data.split_at_mut(head);
    xor_bytes(head_bytes, key);
    if body.is_empty() {
        return;
    }
    key = rotate(key, head);

    // The body starts at an aligned address, so every 8-byte chunk is an
    // aligned u64 load/store; LLVM turns this loop into wide (SIMD) word ops.
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = body.chunks_exact_mut(WORD);
    for chunk in &mut chunks {
        let bytes: &mut [u8; WORD] = chunk
            .try_into()
            .expect("chunks_exact_mut yields WORD bytes");
        *bytes = (u64::from_ne_bytes(*bytes) ^ word).to_ne_bytes();
    }
    // A whole number of words (each a multiple of 4 bytes) was processed, so
    // the tail starts at key phase 0 again.
    xor_bytes(chunks.into_remainder(), key);
}

/// `key` rotated left by `by % 4` bytes: the key as seen from payload byte `by`.
#[inline]
fn rotate(key: [u8; 4], by: usize) -> [u8; 4] {
    // The byte order of the u32 does not matter as long as the rotation
    // direction matches it: little-endian `rotate_right` by 8 bits per byte
    // moves byte i+n to position i.
    let n = (by % 4) as u32;
    u32::from_le_bytes(key).rotate_right(n * 8).to_le_bytes()
}

/// Byte-wise XOR for short runs, with `key[0]` applying to `data[0]`.
#[inline]
fn xor_bytes(data: &mut [u8], key: [u8; 4]) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obvious definition, to check the fast one against.
    fn naive(data: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in data.iter_mut().enumerate() {
            *b ^= key[(offset + i) % 4];
        }
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
        fn key(&mut self) -> [u8; 4] {
            (self.next() as u32).to_ne_bytes()
        }
    }

    #[test]
    fn rotate_matches_definition() {
        let key = [1, 2, 3, 4];
        assert_eq!(rotate(key, 0), [1, 2, 3, 4]);
        assert_eq!(rotate(key, 1), [2, 3, 4, 1]);
        assert_eq!(rotate(key, 2), [3, 4, 1, 2]);
        assert_eq!(rotate(key, 3), [4, 1, 2, 3]);
        assert_eq!(rotate(key, 4), [1, 2, 3, 4]);
        assert_eq!(rotate(key, 4001), [2, 3, 4, 1]);
    }

    #[test]
    fn rfc6455_hello_example() {
        // RFC 6455 section 5.7: a masked "Hello".
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let mut data = *b"Hello";
        apply_mask(&mut data, key, 0);
        assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        apply_mask(&mut data, key, 0);
        assert_eq!(&data, b"Hello");
    }

    #[test]
    #[cfg_attr(miri, ignore)] // 28,512 cases: minutes under Miri
    fn matches_naive_for_all_lengths_offsets_and_alignments() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut keys = vec![[0; 4], [0xff; 4], [0x37, 0xfa, 0x21, 0x3d]];
        keys.extend((0..8).map(|_| rng.key()));
        // A backing buffer lets the slice start at every alignment mod 8.
        let backing: Vec<u8> = (0..100).map(|_| rng.next() as u8).collect();
        for key in keys {
            for len in 0..=80 {
                for offset in 0..4 {
                    for start in 0..WORD {
                        let mut fast = backing.clone();
                        let mut slow = backing.clone();
                        apply_mask(&mut fast[start..start + len], key, offset);
                        naive(&mut slow[start..start + len], key, offset);
                        assert_eq!(
                            fast, slow,
                            "key {key:?} len {len} offset {offset} start {start}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn large_offsets_wrap() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        for offset in [4, 5, 6, 7, 1001, usize::MAX - 3, usize::MAX] {
            let mut fast: Vec<u8> = (0..50u8).collect();
            let mut slow = fast.clone();
            apply_mask(&mut fast, key, offset);
            // `naive` would overflow at usize::MAX; reduce first.
            naive(&mut slow, key, offset % 4);
            assert_eq!(fast, slow, "offset {offset}");
        }
    }

    #[test]
    fn pieces_with_running_offsets_equal_one_call() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for _ in 0..300 {
            let key = rng.key();
            let len = (rng.next() % 300) as usize;
            let original: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();

            let mut whole = original.clone();
            apply_mask(&mut whole, key, 0);

            let mut pieces = original.clone();
            let mut pos = 0;
            while pos < len {
                let n = 1 + (rng.next() % 40) as usize;
                let end = (pos + n).min(len);
                apply_mask(&mut pieces[pos..end], key, pos);
                pos = end;
            }
            assert_eq!(whole, pieces);

            // Masking twice is the identity.
            apply_mask(&mut whole, key, 0);
            assert_eq!(whole, original);
        }
    }

    #[test]
    fn empty_is_noop() {
        let mut data: [u8; 0] = [];
        apply_mask(&mut data, [1, 2, 3, 4], 3);
    }
}
