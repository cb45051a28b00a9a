// SPDX-License-Identifier: GPL-2.0

//! Rate limiting of log messages about bad input, as the kernel's
//! `printk_ratelimited()` does: a burst per interval, then silence, and a
//! count of what was suppressed.

/// Allows `burst` messages per `interval_ms`.
pub struct RateLimit {
    interval_ms: u64,
    burst: u32,
    window_start: Option<u64>,
    printed: u32,
    suppressed: u32,
}

/// Whether to print, and how many messages were suppressed before this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Print { suppressed: u32 },
    Suppress,
}

impl RateLimit {
    /// The kernel's default: 10 messages per 5 seconds.
    pub const fn new() -> Self {
        Self::with(5000, 10)
    }

    pub const fn with(interval_ms: u64, burst: u32) -> Self {
        RateLimit {
            interval_ms,
            burst,
            window_start: None,
            printed: 0,
            suppressed: 0,
        }
    }

    /// Decides about one message at time `now_ms` (monotonic).
    pub fn check(&mut self, now_ms: u64) -> Verdict {
        let expired = self
            .window_start
            .is_none_or(|start| now_ms.saturating_sub(start) >= self.interval_ms);
        if expired {
            self.window_start = Some(now_ms);
            self.printed = 0;
        }
        if self.printed < self.burst {
            self.printed += 1;
            let suppressed = core::mem::take(&mut self.suppressed);
            Verdict::Print { suppressed }
        } else {
            self.suppressed = self.suppressed.saturating_add(1);
            Verdict::Suppress
        }
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_silence_then_report() {
        let mut rl = RateLimit::with(1000, 2);
        assert_eq!(rl.check(0), Verdict::Print { suppressed: 0 });
        assert_eq!(rl.check(10), Verdict::Print { suppressed: 0 });
        assert_eq!(rl.check(20), Verdict::Suppress);
        assert_eq!(rl.check(999), Verdict::Suppress);
        assert_eq!(rl.check(1000), Verdict::Print { suppressed: 2 });
        assert_eq!(rl.check(1001), Verdict::Print { suppressed: 0 });
        assert_eq!(rl.check(1002), Verdict::Suppress);
    }
}
