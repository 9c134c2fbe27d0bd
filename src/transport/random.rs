//! Randomness for masking keys and handshake nonces.
//!
//! Nonces come straight from the kernel (`getrandom`). Masking keys, needed for
//! every client frame, come from a per-thread xorshift generator seeded from the
//! kernel, so sending does not cost a system call per message.

use std::cell::Cell;

/// Fills `buf` from the kernel's random source.
pub fn fill(buf: &mut [u8]) {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `buf`.
        let n = unsafe { libc::getrandom(buf[done..].as_mut_ptr().cast(), buf.len() - done, 0) };
        if n > 0 {
            done += n as usize;
        } else if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            // No kernel randomness at all (very old kernel): fall back to the clock.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0x9e37_79b9_7f4a_7c15);
            for (i, b) in buf[done..].iter_mut().enumerate() {
                *b = (t >> ((i % 8) * 8)) as u8 ^ (i as u8).wrapping_mul(151);
            }
            return;
        }
    }
}

thread_local! {
    static STATE: Cell<u64> = Cell::new({
        let mut seed = [0u8; 8];
        fill(&mut seed);
        u64::from_ne_bytes(seed) | 1
    });
}

/// A fresh 4-byte masking key.
pub fn mask_key() -> [u8; 4] {
    STATE.with(|s| {
        // xorshift64*
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        let out = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        ((out >> 32) as u32).to_ne_bytes()
    })
}
