// SPDX-License-Identifier: GPL-2.0

//! A bounded FIFO that grows on demand: an endpoint device's receive queue
//! in the char layer (`rpmsg_char_rs.ko`). Messages beyond its bound are
//! given back to the caller, which drops and counts them.
//!
//! The storage is the caller's: the kernel grows it with atomic allocations
//! (the queue is fed from the endpoint callback), the host tests with `Vec`.

use core::ops::DerefMut;

/// Slot storage a [`Ring`] grows into: a slice of optional items.
pub trait Slots: DerefMut<Target = [Option<Self::Item>]> + Default {
    /// What the ring holds.
    type Item;
    /// Storage of `n` empty slots; `None` when memory is short.
    fn empty(n: usize) -> Option<Self>;
}

/// A FIFO of items, bounded by the `max` each [`Ring::push`] is given.
///
/// The first growth allocates 8 slots (or `max`, if smaller), each one after
/// that doubles them, up to `max`; the ring never shrinks.
pub struct Ring<S: Slots> {
    slots: S,
    head: usize,
    len: usize,
}

impl<S: Slots> Default for Ring<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Slots> Ring<S> {
    /// An empty ring; it allocates on the first push.
    pub fn new() -> Self {
        Ring {
            slots: S::default(),
            head: 0,
            len: 0,
        }
    }

    /// Items queued.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends, growing up to `max`; gives the item back when full or
    /// out of memory.
    pub fn push(&mut self, msg: S::Item, max: usize) -> Result<(), S::Item> {
        if self.len >= max {
            return Err(msg);
        }
        if self.len == self.slots.len() {
            // `max` may be below the first growth step.
            let cap = (self.slots.len() * 2).max(8).min(max);
            let Some(mut slots) = S::empty(cap) else {
                return Err(msg);
            };
            for i in 0..self.len {
                let idx = (self.head + i) % self.slots.len();
                slots[i] = self.slots[idx].take();
            }
            self.slots = slots;
            self.head = 0;
        }
        let idx = (self.head + self.len) % self.slots.len();
        self.slots[idx] = Some(msg);
        self.len += 1;
        Ok(())
    }

    /// Takes the oldest item.
    pub fn pop(&mut self) -> Option<S::Item> {
        if self.len == 0 {
            return None;
        }
        let msg = self.slots[self.head].take();
        self.head = (self.head + 1) % self.slots.len();
        self.len -= 1;
        msg
    }

    /// Drops every item (the storage stays).
    pub fn clear(&mut self) {
        while self.pop().is_some() {}
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec::Vec;

    /// Storage that fails to grow past `LIMIT` slots.
    #[derive(Default)]
    struct TestSlots<const LIMIT: usize>(Vec<Option<u32>>);

    impl<const LIMIT: usize> core::ops::Deref for TestSlots<LIMIT> {
        type Target = [Option<u32>];
        fn deref(&self) -> &Self::Target {
            &self.0
        }
    }

    impl<const LIMIT: usize> DerefMut for TestSlots<LIMIT> {
        fn deref_mut(&mut self) -> &mut Self::Target {
            &mut self.0
        }
    }

    impl<const LIMIT: usize> Slots for TestSlots<LIMIT> {
        type Item = u32;
        fn empty(n: usize) -> Option<Self> {
            (n <= LIMIT).then(|| TestSlots((0..n).map(|_| None).collect()))
        }
    }

    type Unlimited = TestSlots<{ usize::MAX }>;

    #[test]
    fn fifo_order_across_growth_and_wrap() {
        let mut ring = Ring::<Unlimited>::new();
        let mut next_in = 0;
        let mut next_out = 0;
        // Interleave so that the head wraps before each growth.
        for round in 0..6 {
            for _ in 0..(round * 5 + 3) {
                ring.push(next_in, 1000).unwrap();
                next_in += 1;
            }
            for _ in 0..round * 2 {
                assert_eq!(ring.pop(), Some(next_out));
                next_out += 1;
            }
        }
        assert_eq!(ring.len(), (next_in - next_out) as usize);
        while let Some(v) = ring.pop() {
            assert_eq!(v, next_out);
            next_out += 1;
        }
        assert_eq!(next_out, next_in);
        assert!(ring.is_empty());
    }

    #[test]
    fn bounded_by_max_and_gives_the_item_back() {
        let mut ring = Ring::<Unlimited>::new();
        for i in 0..3 {
            ring.push(i, 3).unwrap();
        }
        assert_eq!(ring.push(99, 3), Err(99));
        assert_eq!(ring.len(), 3);
        // Below the first growth step: exactly `max` slots.
        assert_eq!(ring.slots.len(), 3);
        assert_eq!(ring.pop(), Some(0));
        ring.push(3, 3).unwrap();
        assert_eq!(
            core::iter::from_fn(|| ring.pop()).collect::<Vec<_>>(),
            [1, 2, 3]
        );
    }

    #[test]
    fn grows_by_doubling_from_eight() {
        let mut ring = Ring::<Unlimited>::new();
        let mut sizes = Vec::new();
        for i in 0..40 {
            ring.push(i, 100).unwrap();
            if sizes.last() != Some(&ring.slots.len()) {
                sizes.push(ring.slots.len());
            }
        }
        assert_eq!(sizes, [8, 16, 32, 64]);
        // Capped at `max`.
        let mut ring = Ring::<Unlimited>::new();
        for i in 0..20 {
            ring.push(i, 20).unwrap();
        }
        assert_eq!(ring.slots.len(), 20);
    }

    #[test]
    fn allocation_failure_keeps_what_is_queued() {
        let mut ring = Ring::<TestSlots<8>>::new();
        for i in 0..8 {
            ring.push(i, 100).unwrap();
        }
        assert_eq!(ring.push(8, 100), Err(8));
        assert_eq!(ring.len(), 8);
        assert_eq!(ring.pop(), Some(0));
        // Room again without growing.
        ring.push(8, 100).unwrap();
        assert_eq!(
            core::iter::from_fn(|| ring.pop()).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5, 6, 7, 8]
        );
    }

    #[test]
    fn clear_empties_and_keeps_working() {
        let mut ring = Ring::<Unlimited>::new();
        for i in 0..10 {
            ring.push(i, 100).unwrap();
        }
        ring.pop();
        ring.clear();
        assert!(ring.is_empty());
        assert_eq!(ring.pop(), None);
        ring.push(7, 100).unwrap();
        assert_eq!(ring.pop(), Some(7));
    }
}
