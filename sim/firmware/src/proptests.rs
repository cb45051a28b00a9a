// SPDX-License-Identifier: GPL-2.0

//! Property tests of the device side of the rings: random interleavings
//! of a well-behaved driver and the device against a model queue, and a
//! driver that writes random garbage into the rings (the device must
//! never panic, never hand out a buffer outside shared memory or of the
//! wrong direction, and report a corrupt ring instead of serving it).

use std::collections::VecDeque;
use std::vec::Vec;

use proptest::prelude::*;

use crate::mem::DeviceMemory;
use crate::testmem::TestMem;
use crate::vring::driver::DriverQueue;
use crate::vring::*;

const BASE: u64 = 0x1000_0000;
/// Shared memory: the ring at BASE, buffers above BASE + 0x8000.
const MEM: usize = 0x10000;
const BUFS: u64 = BASE + 0x8000;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 1024,
        ..ProptestConfig::default()
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// The driver makes a buffer available (if it has a free descriptor).
    Add { len: u32 },
    /// The device takes the next available buffer.
    Pop,
    /// The device gives back the `i`-th buffer it holds, `len` written.
    Push { i: usize, len: u32 },
    /// The driver takes the next used element.
    Get,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u32..512).prop_map(|len| Op::Add { len }),
        Just(Op::Pop),
        (any::<usize>(), 0u32..512).prop_map(|(i, len)| Op::Push { i, len }),
        Just(Op::Get),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// The kernel's vring_size(): descriptors, the available ring with
    /// its event word, padding to `align`, the used ring with its event.
    #[test]
    fn layout_size_is_the_kernels(log_num in 0u32..=15, log_align in 2u32..=12) {
        let (num, align) = (1u64 << log_num, 1u64 << log_align);
        let avail_end = 16 * num + 2 * (3 + num);
        let want = avail_end.div_ceil(align) * align + 2 * 3 + 8 * num;
        prop_assert_eq!(Layout::size(num as u32, align as u32), Some(want));
    }

    #[test]
    fn layout_refuses_bad_configs(num: u32, align: u32) {
        let ok = num != 0 && num <= MAX_NUM && num.is_power_of_two() && align.is_power_of_two();
        prop_assert_eq!(Layout::size(num, align).is_some(), ok);
    }

    /// A driver and the device in any interleaving: buffers are taken in
    /// the order they were made available, each exactly once, and come
    /// back to the driver in the order the device gave them back, with
    /// the length it wrote.
    #[test]
    fn driver_and_device_agree(log_num in 0u32..=6, device_writes: bool,
                               ops in proptest::collection::vec(op(), 1..400)) {
        let num = 1u32 << log_num;
        let mem = TestMem::new(BASE, MEM);
        let layout = Layout::new(BASE, num, 16).unwrap();
        let mut dev = DeviceQueue::new(&mem, layout).unwrap();
        let mut drv = DriverQueue::new(layout);
        let flags = if device_writes { DESC_F_WRITE } else { 0 };
        let mut free: VecDeque<u16> = (0..num as u16).collect();
        let mut avail: VecDeque<Buffer> = VecDeque::new();
        let mut held: Vec<Buffer> = Vec::new();
        let mut used: VecDeque<(u16, u32)> = VecDeque::new();
        for op in ops {
            match op {
                Op::Add { len } => {
                    if let Some(head) = free.pop_front() {
                        let addr = BUFS + 512 * u64::from(head);
                        drv.add(&mem, head, addr, len, flags);
                        avail.push_back(Buffer { head, addr, len });
                    }
                }
                Op::Pop => {
                    let got = dev.pop(&mem, device_writes).unwrap();
                    match avail.pop_front() {
                        Some(want) => {
                            prop_assert_eq!(got, Some(Popped::Ok(want)));
                            held.push(want);
                        }
                        None => prop_assert_eq!(got, None),
                    }
                }
                Op::Push { i, len } => {
                    if !held.is_empty() {
                        let b = held.swap_remove(i % held.len());
                        dev.push(&mem, b.head, len).unwrap();
                        used.push_back((b.head, len));
                    }
                }
                Op::Get => {
                    let got = drv.get_used(&mem);
                    prop_assert_eq!(got, used.pop_front());
                    if let Some((head, _)) = got {
                        free.push_back(head);
                    }
                }
            }
            prop_assert_eq!(dev.pending(&mem), Ok(avail.len() as u16));
            prop_assert_eq!(dev.intact(&mem), Ok(true));
        }
    }

    /// A driver that writes anything into the ring: the device never
    /// panics; what it hands out lies in shared memory and points the
    /// right way; a bad entry is refused, a corrupt ring reported.
    #[test]
    fn garbage_rings_are_refused(log_num in 0u32..=8, device_writes: bool,
                                 garbage in proptest::collection::vec((0usize..0x2000, any::<u8>()), 0..300),
                                 pops in 1usize..40) {
        let num = 1u32 << log_num;
        let mem = TestMem::new(BASE, MEM);
        let layout = Layout::new(BASE, num, 16).unwrap();
        let mut dev = DeviceQueue::new(&mem, layout).unwrap();
        let ring = Layout::size(num, 16).unwrap() as usize;
        for (off, byte) in garbage {
            mem.write(BASE + (off % ring) as u64, &[byte]).unwrap();
        }
        for _ in 0..pops {
            match dev.pop(&mem, device_writes) {
                Ok(None) => break,
                Ok(Some(Popped::Ok(b))) => {
                    prop_assert!(u32::from(b.head) < num);
                    prop_assert!(mem.contains(b.addr, u64::from(b.len)));
                    let desc = BASE + 16 * u64::from(b.head);
                    let flags = mem.read_u16(desc + 12).unwrap();
                    prop_assert_eq!(flags & DESC_F_WRITE != 0, device_writes);
                    prop_assert_eq!(flags & (DESC_F_NEXT | DESC_F_INDIRECT), 0);
                    dev.push(&mem, b.head, 0).unwrap();
                }
                Ok(Some(Popped::Bad { head, .. })) => {
                    prop_assert!(u32::from(head) < num);
                    dev.push(&mem, head, 0).unwrap();
                }
                Err(e) => {
                    prop_assert!(matches!(e, VringError::BadAvailIdx | VringError::BadHead));
                    break;
                }
            }
        }
    }

    /// Rings that do not fit in shared memory, or are misaligned, are
    /// refused before anything is read.
    #[test]
    fn rings_must_fit(log_num in 0u32..=15, off in 0u64..0x20000) {
        let num = 1u32 << log_num;
        let mem = TestMem::new(BASE, MEM);
        let da = BASE + off;
        match Layout::new(da, num, 16) {
            Ok(layout) => {
                prop_assert_eq!(da % 16, 0);
                let fits = off + Layout::size(num, 16).unwrap() <= MEM as u64;
                prop_assert_eq!(DeviceQueue::new(&mem, layout).is_ok(), fits);
            }
            Err(e) => {
                prop_assert_ne!(da % 16, 0);
                prop_assert_eq!(e, VringError::BadConfig);
            }
        }
    }
}
