// SPDX-License-Identifier: GPL-2.0

//! Copies between ordinary memory and memory the other side of a shared
//! region (a remote processor, or the host for the simulated remote)
//! writes concurrently: volatile accesses on the shared side, so that the
//! compiler neither merges, repeats nor elides them, and no Rust reference
//! into that memory. What is read is a snapshot the caller validates.

/// Word size of the volatile copies.
pub const WORD: usize = core::mem::size_of::<usize>();

/// Copies `len` bytes from `src` to `dst` with volatile accesses to the
/// shared side (`dst` if `TO_SHARED`, else `src`): whole words where it is
/// word-aligned, four at a time, bytes for the rest. Unrolled because with
/// one word per step the loop's own instructions cost as much as the copy
/// (a 496-byte send spent more in here than C's `memset` and `memcpy`
/// together, `make bench` profile).
///
/// # Safety
///
/// `src` must be valid for reads and `dst` for writes of `len` bytes, and
/// the two must not overlap. The side that is not shared is ordinary
/// memory no one else accesses during the call.
pub unsafe fn copy_volatile<const TO_SHARED: bool>(src: *const u8, dst: *mut u8, len: usize) {
    let shared = if TO_SHARED {
        dst as usize
    } else {
        src as usize
    };
    let head = shared.wrapping_neg() % WORD;
    let mut i = 0;
    // SAFETY: Every byte accessed below lies below `len` (`i < len` for a
    // byte, `len - i` at least the words' size), inside the ranges the
    // caller vouches for; the shared side's words are aligned because
    // `shared + head` is, and `i - head` stays a multiple of `WORD`.
    unsafe {
        while i < len && i < head {
            dst.add(i).write_volatile(src.add(i).read_volatile());
            i += 1;
        }
        while len - i >= 4 * WORD {
            copy_word::<TO_SHARED>(src, dst, i);
            copy_word::<TO_SHARED>(src, dst, i + WORD);
            copy_word::<TO_SHARED>(src, dst, i + 2 * WORD);
            copy_word::<TO_SHARED>(src, dst, i + 3 * WORD);
            i += 4 * WORD;
        }
        while len - i >= WORD {
            copy_word::<TO_SHARED>(src, dst, i);
            i += WORD;
        }
        while i < len {
            dst.add(i).write_volatile(src.add(i).read_volatile());
            i += 1;
        }
    }
}

/// One word of [`copy_volatile`], at offset `i`: volatile on the shared
/// side, unaligned on the private one.
///
/// # Safety
///
/// As for [`copy_volatile`], with `i + WORD` bytes, and the shared side's
/// word at `i` aligned.
#[inline(always)]
unsafe fn copy_word<const TO_SHARED: bool>(src: *const u8, dst: *mut u8, i: usize) {
    // SAFETY: The caller's promise.
    unsafe {
        if TO_SHARED {
            let w = src.add(i).cast::<usize>().read_unaligned();
            dst.add(i).cast::<usize>().write_volatile(w);
        } else {
            let w = src.add(i).cast::<usize>().read_volatile();
            dst.add(i).cast::<usize>().write_unaligned(w);
        }
    }
}

// Only in rpmsg_rs_kunit.ko (see rust/kunit/).
#[cfg(rpmsg_rs_kunit)]
#[kernel::prelude::kunit_tests(rpmsg_rs_volatile)]
mod tests {
    use super::*;

    #[test]
    fn volatile_copies_at_every_alignment() {
        // Past the four-word steps, with every tail after them.
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
                        copy_volatile::<true>(
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
                        copy_volatile::<false>(
                            shared.as_ptr().add(soff),
                            back.as_mut_ptr().add(poff),
                            len,
                        )
                    };
                    assert!(back[poff..poff + len] == private[poff..poff + len]);
                    assert!(back[..poff].iter().all(|&b| b == 0));
                    assert!(back[poff + len..].iter().all(|&b| b == 0));
                }
            }
        }
    }
}
