// SPDX-License-Identifier: GPL-2.0

//! Endpoint address allocation.

use super::msg::{ADDR_ANY, FIRST_DYNAMIC_ADDR};

/// Why an address could not be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrError {
    /// The requested address is taken.
    #[allow(dead_code, reason = "the simulated remote's; the bus does not use it")]
    InUse,
    /// Every address of the allocator's range is taken.
    Exhausted,
    /// The address lies outside the allocator's range.
    #[allow(dead_code, reason = "the simulated remote's; the bus does not use it")]
    OutOfRange,
}

/// A bitmap of `WORDS * 64` addresses starting at `base`.
///
/// Dynamic allocation hands out the lowest free address at or above
/// [`FIRST_DYNAMIC_ADDR`], as the kernel's rpmsg bus does; explicit requests
/// may take any free address in range.
#[allow(dead_code, reason = "the simulated remote's; the bus does not use it")]
pub struct AddrSet<const WORDS: usize> {
    base: u32,
    used: [u64; WORDS],
}

#[allow(dead_code, reason = "the simulated remote's; the bus does not use it")]
impl<const WORDS: usize> AddrSet<WORDS> {
    /// How many addresses the set covers.
    pub const CAPACITY: u32 = WORDS as u32 * 64;

    pub const fn new(base: u32) -> Self {
        AddrSet {
            base,
            used: [0; WORDS],
        }
    }

    fn index(&self, addr: u32) -> Option<usize> {
        let off = addr.checked_sub(self.base)?;
        (off < Self::CAPACITY).then_some(off as usize)
    }

    /// Takes `addr`, or the lowest free dynamic address for [`ADDR_ANY`].
    pub fn alloc(&mut self, addr: u32) -> Result<u32, AddrError> {
        if addr == ADDR_ANY {
            let first = FIRST_DYNAMIC_ADDR.max(self.base);
            let start = self.index(first).ok_or(AddrError::Exhausted)?;
            let idx = (start..Self::CAPACITY as usize)
                .find(|&i| self.used[i / 64] & (1 << (i % 64)) == 0)
                .ok_or(AddrError::Exhausted)?;
            self.used[idx / 64] |= 1 << (idx % 64);
            return Ok(self.base + idx as u32);
        }
        let idx = self.index(addr).ok_or(AddrError::OutOfRange)?;
        if self.used[idx / 64] & (1 << (idx % 64)) != 0 {
            return Err(AddrError::InUse);
        }
        self.used[idx / 64] |= 1 << (idx % 64);
        Ok(addr)
    }

    /// Returns `addr` to the set; freeing a free address is harmless.
    pub fn free(&mut self, addr: u32) {
        if let Some(idx) = self.index(addr) {
            self.used[idx / 64] &= !(1 << (idx % 64));
        }
    }

    /// Whether `addr` is taken: for the host tests, no module asks.
    #[cfg(not(MODULE))]
    pub fn contains(&self, addr: u32) -> bool {
        self.index(addr)
            .is_some_and(|idx| self.used[idx / 64] & (1 << (idx % 64)) != 0)
    }
}

/// The lowest address at or above `min` that is not in `used`, which must
/// be sorted ascending (as the keys of an ordered map are).
#[allow(dead_code, reason = "the bus's; the simulated remote does not use it")]
pub fn lowest_free(used: impl IntoIterator<Item = u32>, min: u32) -> Result<u32, AddrError> {
    let mut candidate = min;
    for addr in used {
        if addr < candidate {
            continue;
        }
        if addr > candidate {
            break;
        }
        candidate = candidate.checked_add(1).ok_or(AddrError::Exhausted)?;
    }
    if candidate == ADDR_ANY {
        return Err(AddrError::Exhausted);
    }
    Ok(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_starts_at_1024_and_reuses_lowest() {
        let mut set = AddrSet::<32>::new(0);
        assert_eq!(set.alloc(ADDR_ANY), Ok(1024));
        assert_eq!(set.alloc(ADDR_ANY), Ok(1025));
        assert_eq!(set.alloc(1027), Ok(1027));
        assert_eq!(set.alloc(ADDR_ANY), Ok(1026));
        assert_eq!(set.alloc(ADDR_ANY), Ok(1028));
        set.free(1025);
        assert!(!set.contains(1025));
        assert_eq!(set.alloc(ADDR_ANY), Ok(1025));
    }

    #[test]
    fn explicit_conflicts_and_range() {
        let mut set = AddrSet::<32>::new(0);
        assert_eq!(set.alloc(53), Ok(53));
        assert_eq!(set.alloc(53), Err(AddrError::InUse));
        assert_eq!(set.alloc(2048), Err(AddrError::OutOfRange));
        set.free(4000); // out of range: ignored
    }

    #[test]
    fn lowest_free_skips_used_runs() {
        assert_eq!(lowest_free([], 1024), Ok(1024));
        assert_eq!(lowest_free([53, 1024, 1025, 1027], 1024), Ok(1026));
        assert_eq!(lowest_free([1024, 1025, 1026], 1024), Ok(1027));
        assert_eq!(lowest_free([5000], 1024), Ok(1024));
        assert_eq!(
            lowest_free([ADDR_ANY - 1], ADDR_ANY - 1),
            Err(AddrError::Exhausted)
        );
    }

    #[test]
    fn exhaustion() {
        let mut set = AddrSet::<1>::new(1024);
        for i in 0..64 {
            assert_eq!(set.alloc(ADDR_ANY), Ok(1024 + i));
        }
        assert_eq!(set.alloc(ADDR_ANY), Err(AddrError::Exhausted));
        set.free(1030);
        assert_eq!(set.alloc(ADDR_ANY), Ok(1030));
    }
}
