// SPDX-License-Identifier: GPL-2.0

//! Copies between ordinary memory and memory the other side of a shared
//! region (a remote processor, or the host for the simulated remote)
//! writes concurrently, with the semantics of volatile accesses: the
//! compiler neither merges, repeats nor elides them, and no Rust reference
//! into that memory is made. What is read is a snapshot the caller
//! validates.

/// Copies `len` bytes from `src` to `dst`, one of which is shared memory.
///
/// Through the kernel's `memcpy`, as the kernel crate copies system memory
/// it shares with a device (`SysMemBackend` in `rust/kernel/io.rs`): a call
/// the compiler cannot see into, so that every byte is read or written
/// once, within the call, and races with the other side are those the
/// kernel's memory model allows C's copies of the same buffers. It is also
/// each architecture's fastest copy: ARMv7's moves 32 bytes per
/// load/store-multiple pair where volatile word accesses, four words per
/// loop step, moved 4 each (`make bench ARCH=arm`: streaming 496-byte
/// messages ran at 0.72-0.84x C's rate with those).
///
/// # Safety
///
/// `src` must be valid for reads and `dst` for writes of `len` bytes, and
/// the two must not overlap. The side that is not shared is ordinary
/// memory no one else accesses during the call.
pub unsafe fn copy_shared(src: *const u8, dst: *mut u8, len: usize) {
    // SAFETY: The caller's promise: both ranges are valid for `len` bytes
    // and do not overlap, which is all `memcpy` asks.
    unsafe { kernel::bindings::memcpy(dst.cast(), src.cast(), len) };
}

// Only in rpmsg_rs_kunit.ko (see rust/kunit/).
#[cfg(rpmsg_rs_kunit)]
#[kernel::prelude::kunit_tests(rpmsg_rs_volatile)]
mod tests {
    use super::*;

    const WORD: usize = core::mem::size_of::<usize>();

    #[test]
    fn shared_copies_at_every_alignment() {
        // Every alignment of either side and every length up to ten words:
        // the heads, bodies and tails of any copy loop.
        const LEN: usize = 10 * WORD;
        let mut private = [0u8; LEN + WORD];
        for (i, b) in private.iter_mut().enumerate() {
            *b = (i as u8) ^ 0x5a;
        }
        for soff in 0..WORD {
            for poff in 0..WORD {
                for len in 0..=LEN - WORD {
                    let mut shared = [0xeeu8; LEN + WORD];
                    // SAFETY: Both ranges lie inside their arrays (`soff,
                    // poff < WORD`, `len <= LEN - WORD`), which do not
                    // overlap; no one else accesses them.
                    unsafe {
                        copy_shared(
                            private.as_ptr().add(poff),
                            shared.as_mut_ptr().add(soff),
                            len,
                        )
                    };
                    assert!(shared[soff..soff + len] == private[poff..poff + len]);
                    assert!(shared[..soff].iter().all(|&b| b == 0xee));
                    assert!(shared[soff + len..].iter().all(|&b| b == 0xee));

                    let mut back = [0u8; LEN + WORD];
                    // SAFETY: As above.
                    unsafe {
                        copy_shared(shared.as_ptr().add(soff), back.as_mut_ptr().add(poff), len)
                    };
                    assert!(back[poff..poff + len] == private[poff..poff + len]);
                    assert!(back[..poff].iter().all(|&b| b == 0));
                    assert!(back[poff + len..].iter().all(|&b| b == 0));
                }
            }
        }
    }
}
