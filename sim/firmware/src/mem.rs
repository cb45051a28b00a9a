// SPDX-License-Identifier: GPL-2.0

//! How the remote sees memory it shares with the host.

/// An access outside the memory the remote shares with the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfBounds;

/// Shared memory as the remote processor sees it: addressed by device
/// address, every access checked against the shared region.
///
/// Multi-byte accessors convert from/to little-endian (see
/// `proto::msg`). Implementations must perform each `u16`/`u32`/`u64` access
/// as one access, because the host updates ring indices concurrently.
pub trait DeviceMemory {
    fn read(&self, da: u64, buf: &mut [u8]) -> Result<(), OutOfBounds>;
    fn write(&self, da: u64, data: &[u8]) -> Result<(), OutOfBounds>;
    fn read_u16(&self, da: u64) -> Result<u16, OutOfBounds>;
    fn read_u32(&self, da: u64) -> Result<u32, OutOfBounds>;
    fn read_u64(&self, da: u64) -> Result<u64, OutOfBounds>;
    fn write_u16(&self, da: u64, val: u16) -> Result<(), OutOfBounds>;
    fn write_u32(&self, da: u64, val: u32) -> Result<(), OutOfBounds>;
    /// Whether `[da, da + len)` lies entirely in shared memory.
    fn contains(&self, da: u64, len: u64) -> bool;
    /// Orders earlier reads before later reads (`rmb()`).
    fn rmb(&self);
    /// Orders earlier writes before later writes (`wmb()`).
    fn wmb(&self);
    /// Full barrier (`mb()`).
    fn mb(&self);
}

/// How a bulk copy of `len` bytes at `addr` splits into naturally aligned
/// 8-byte words: `(head, words)`, that is `head` single bytes up to the
/// first 8-byte boundary, then `words` words, then the remaining
/// `len - head - 8 * words` bytes.
///
/// Shared memory is copied with volatile accesses (the other side writes it
/// concurrently), which the compiler may not merge: copying word by word
/// instead of byte by byte makes eight times fewer of them, which is what
/// keeps the simulated remote from being the bottleneck of a benchmark.
pub fn word_split(addr: u64, len: usize) -> (usize, usize) {
    let misalign = (addr % 8) as usize;
    let head = if misalign == 0 {
        0
    } else {
        (8 - misalign).min(len)
    };
    (head, (len - head) / 8)
}

#[cfg(test)]
mod tests {
    use super::word_split;

    #[test]
    fn word_split_covers_the_range_aligned() {
        assert_eq!(word_split(0x1000, 0), (0, 0));
        assert_eq!(word_split(0x1000, 7), (0, 0));
        assert_eq!(word_split(0x1000, 16), (0, 2));
        assert_eq!(word_split(0x1000, 512), (0, 64));
        assert_eq!(word_split(0x1003, 3), (3, 0));
        assert_eq!(word_split(0x1003, 4), (4, 0));
        assert_eq!(word_split(0x1003, 5), (5, 0));
        assert_eq!(word_split(0x1003, 21), (5, 2));
        for addr in 0x1000..0x1010u64 {
            for len in 0..40usize {
                let (head, words) = word_split(addr, len);
                assert!(head < 8 && head + 8 * words <= len);
                // Words start aligned (unless there are none) and the
                // tail is shorter than a word.
                assert!(words == 0 || (addr + head as u64) % 8 == 0);
                assert!(len - head - 8 * words < 8);
            }
        }
    }
}
