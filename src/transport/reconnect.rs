//! The reconnect policy of a client: which ends of a connection call for
//! another, how long each attempt waits (jittered exponential backoff), and
//! how many attempts in a row are made. Plain arithmetic: the caller brings
//! the clock and the randomness ([`super::reconnecting`] runs it).

use std::time::Duration;

/// How a client replaces a lost connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconnect {
    /// The longest wait before the first attempt (> 0).
    pub initial_delay: Duration,
    /// The longest wait before any attempt (at least `initial_delay`). A
    /// connection that stayed open this long starts the count afresh.
    pub max_delay: Duration,
    /// Most attempts in a row; 0: no limit.
    pub max_tries: u32,
}

impl Reconnect {
    /// The longest wait before attempt `attempt` (from 1): the first delay,
    /// doubled for each attempt before it, at most `max_delay`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.initial_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay)
    }

    /// The wait before attempt `attempt`: between half and all of its
    /// [`ceiling`](Reconnect::ceiling), where `random` (any number) puts it.
    /// Half of it is fixed, so a lost server is never hammered; the other
    /// half is random, so clients that lost it together come back spread out.
    pub fn delay(&self, attempt: u32, random: u64) -> Duration {
        let ceiling = self.ceiling(attempt).as_nanos();
        let floor = ceiling / 2;
        let nanos = floor + u128::from(random) % (ceiling - floor + 1);
        let second = 1_000_000_000;
        Duration::new((nanos / second) as u64, (nanos % second) as u32)
    }
}

/// True when a connection that ended with close code `code`, without the
/// application closing it, calls for another: it failed before opening
/// (1006, 1015 for TLS), it was lost without a close frame (1006: reset,
/// I/O error, keepalive or close timeout), or the server went away or
/// failed: 1001 going away, 1011 internal error, 1012 service restart, 1013
/// try again later, 1014 bad gateway. Any other code is the server's
/// decision to end the conversation: 1000 normal, 1005 a close frame
/// without a code, 1002/1003/1007/1008/1009/1010 (the protocol, a policy, a
/// size: another connection would meet the same end), 3000-4999 (the
/// application's own codes).
pub fn reconnects_after(code: u16) -> bool {
    matches!(code, 1001 | 1006 | 1011..=1015)
}

/// Counts the attempts in a row.
#[derive(Debug, Default)]
pub struct Tries {
    made: u32,
}

impl Tries {
    /// A connection ended and calls for another; `lasted` is how long it
    /// was open (`None`: it never opened). Returns the number of the attempt
    /// to make (from 1), or `None` when `policy.max_tries` are used up. A
    /// connection that stayed open for `policy.max_delay` starts the count
    /// afresh; one lost sooner goes on with it, so a server that accepts
    /// and then drops connections sees the delays grow as a down one does.
    pub fn next(&mut self, policy: &Reconnect, lasted: Option<Duration>) -> Option<u32> {
        if lasted.is_some_and(|open| open >= policy.max_delay) {
            self.made = 0;
        }
        if policy.max_tries != 0 && self.made >= policy.max_tries {
            return None;
        }
        self.made = self.made.saturating_add(1);
        Some(self.made)
    }

    /// Attempts made in a row so far (0 before the first).
    pub fn made(&self) -> u32 {
        self.made
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn policy(initial: u64, max: u64, max_tries: u32) -> Reconnect {
        Reconnect {
            initial_delay: MS * initial as u32,
            max_delay: MS * max as u32,
            max_tries,
        }
    }

    #[test]
    fn the_ceiling_doubles_up_to_the_maximum() {
        let p = policy(500, 30_000, 0);
        let ceilings: Vec<u128> = (1..=9).map(|n| p.ceiling(n).as_millis()).collect();
        assert_eq!(
            ceilings,
            [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]
        );
        assert_eq!(p.ceiling(u32::MAX), p.max_delay);
        assert_eq!(p.ceiling(0), p.initial_delay);
        let huge = policy(86_400_000, 86_400_000, 0);
        assert_eq!(huge.ceiling(40), huge.max_delay);
    }

    #[test]
    fn each_delay_is_between_half_and_all_of_its_ceiling() {
        let p = policy(500, 30_000, 0);
        for attempt in [1, 2, 3, 7, 8, 100, u32::MAX] {
            let ceiling = p.ceiling(attempt);
            for random in [0, 1, 2, 999, 1 << 40, u64::MAX - 1, u64::MAX] {
                let d = p.delay(attempt, random);
                assert!(
                    d >= ceiling / 2 && d <= ceiling,
                    "{attempt} {random}: {d:?}"
                );
            }
        }
        assert_eq!(p.delay(1, 0), MS * 250);
        let third = 250_000_000 / 3;
        assert_eq!(p.delay(1, third), MS * 250 + Duration::from_nanos(third));
        // The largest random value modulo the span still fits.
        assert!(p.delay(1, 250_000_000) <= MS * 500);
        let tiny = policy(1, 1, 0);
        assert!(tiny.delay(1, u64::MAX) <= MS);
    }

    #[test]
    fn delays_spread_over_their_range() {
        let p = policy(1000, 1000, 0);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let delays: Vec<Duration> = (0..1000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                p.delay(1, seed)
            })
            .collect();
        let low = delays.iter().filter(|d| **d < MS * 750).count();
        assert!(
            (400..=600).contains(&low),
            "{low} of 1000 in the lower half"
        );
        assert!(delays.iter().all(|d| *d >= MS * 500 && *d <= MS * 1000));
    }

    #[test]
    fn which_closes_reconnect() {
        for code in [1001, 1006, 1011, 1012, 1013, 1014, 1015] {
            assert!(reconnects_after(code), "{code}");
        }
        for code in [
            1000, 1002, 1003, 1005, 1007, 1008, 1009, 1010, 3000, 4000, 4999,
        ] {
            assert!(!reconnects_after(code), "{code}");
        }
    }

    #[test]
    fn tries_stop_at_the_maximum() {
        let p = policy(100, 1000, 3);
        let mut tries = Tries::default();
        let made: Vec<Option<u32>> = (0..5).map(|_| tries.next(&p, None)).collect();
        assert_eq!(made, [Some(1), Some(2), Some(3), None, None]);
        assert_eq!(tries.made(), 3);
    }

    #[test]
    fn no_limit_means_no_limit() {
        let p = policy(100, 1000, 0);
        let mut tries = Tries::default();
        for n in 1..=10_000 {
            assert_eq!(tries.next(&p, None), Some(n));
        }
    }

    #[test]
    fn only_a_lasting_connection_starts_the_count_afresh() {
        let p = policy(100, 1000, 3);
        let mut tries = Tries::default();
        assert_eq!(tries.next(&p, None), Some(1));
        assert_eq!(tries.next(&p, None), Some(2));
        // Attempt 2 opened, and was lost after a moment: the count goes on.
        assert_eq!(tries.next(&p, Some(MS * 999)), Some(3));
        // Attempt 3 opened and lasted: a fresh start.
        assert_eq!(tries.next(&p, Some(MS * 1000)), Some(1));
        assert_eq!(tries.next(&p, None), Some(2));
        assert_eq!(tries.next(&p, None), Some(3));
        assert_eq!(tries.next(&p, None), None);
    }
}
