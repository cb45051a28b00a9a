// SPDX-License-Identifier: GPL-2.0

//! The device side of a split virtqueue (virtio 1.x section 2.7, legacy
//! layout as remoteproc lays it out: descriptors, available ring, then the
//! used ring at the next `align` boundary).
//!
//! Everything read from the rings is checked before it is used: the
//! available index may not run ahead by more than the ring size, head
//! indices must name a descriptor, and a descriptor's buffer must lie in
//! shared memory and point the right way.

use super::mem::{DeviceMemory, OutOfBounds};

pub const DESC_F_NEXT: u16 = 1;
pub const DESC_F_WRITE: u16 = 2;
pub const DESC_F_INDIRECT: u16 = 4;
pub const AVAIL_F_NO_INTERRUPT: u16 = 1;
pub const USED_F_NO_NOTIFY: u16 = 1;

const DESC_SIZE: u64 = 16;
/// The largest ring the virtio spec allows.
pub const MAX_NUM: u32 = 32768;

/// The queue can no longer be served: its control structures are corrupt
/// or outside shared memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VringError {
    /// Ring size or alignment not acceptable.
    BadConfig,
    /// A ring structure is not in shared memory.
    Memory,
    /// The available index ran ahead by more than the ring size.
    BadAvailIdx,
    /// An available entry names a descriptor that does not exist.
    BadHead,
}

impl From<OutOfBounds> for VringError {
    fn from(_: OutOfBounds) -> Self {
        VringError::Memory
    }
}

/// Why one descriptor was refused; the queue itself stays usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DescError {
    /// Chained or indirect: RPMsg uses single buffers only.
    Unsupported,
    /// Device-readable where writable was expected, or the reverse.
    WrongDirection,
    /// The buffer does not lie in shared memory.
    OutOfBounds,
}

/// Where the parts of one ring are, in device addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    desc: u64,
    avail: u64,
    used: u64,
    num: u16,
}

impl Layout {
    /// Size in bytes of a ring of `num` entries aligned to `align`.
    pub fn size(num: u32, align: u32) -> Option<u64> {
        if num == 0 || num > MAX_NUM || !num.is_power_of_two() || !align.is_power_of_two() {
            return None;
        }
        let (num, align) = (u64::from(num), u64::from(align));
        // Descriptors, then flags/idx/ring/used_event of the available ring.
        let avail_end = num * DESC_SIZE + 2 * (3 + num);
        let used = (avail_end + align - 1) & !(align - 1);
        // flags/idx/avail_event plus the used elements.
        Some(used + 2 * 3 + 8 * num)
    }

    pub fn new(da: u64, num: u32, align: u32) -> Result<Layout, VringError> {
        Layout::size(num, align).ok_or(VringError::BadConfig)?;
        // `align` is a power of two (checked by `size()`): a mask, not `%`,
        // which on 32-bit ARM is a call to `__aeabi_uldivmod`, a libgcc
        // function the kernel does not have.
        if da & (u64::from(align.max(16)) - 1) != 0 {
            return Err(VringError::BadConfig);
        }
        let n = u64::from(num);
        let avail = da + n * DESC_SIZE;
        let align = u64::from(align);
        let used = (avail + 2 * (3 + n) + align - 1) & !(align - 1);
        // `num` <= 32768 was checked by `size()`.
        Ok(Layout {
            desc: da,
            avail,
            used,
            num: num as u16,
        })
    }
}

/// One buffer the driver made available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffer {
    pub head: u16,
    pub addr: u64,
    pub len: u32,
}

/// The outcome of taking one available entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Popped {
    Ok(Buffer),
    /// The descriptor was refused; it must still be given back with
    /// [`DeviceQueue::push`] so that the driver gets its buffer back.
    Bad {
        head: u16,
        err: DescError,
    },
}

/// The device's private state for one ring.
#[derive(Debug)]
pub struct DeviceQueue {
    layout: Layout,
    last_avail: u16,
    /// The available index as last read: the entries before it are taken
    /// without reading it (and a barrier) again for each.
    avail_seen: u16,
    used_idx: u16,
}

impl DeviceQueue {
    /// A queue freshly reset by the driver: both indices at zero.
    pub fn new<M: DeviceMemory>(mem: &M, layout: Layout) -> Result<DeviceQueue, VringError> {
        let size = Layout::size(u32::from(layout.num), 1).ok_or(VringError::BadConfig)?;
        // Size with alignment 1 is a lower bound; check the real extent.
        let end = layout.used + 6 + 8 * u64::from(layout.num);
        if !mem.contains(layout.desc, end - layout.desc) || end - layout.desc < size {
            return Err(VringError::Memory);
        }
        Ok(DeviceQueue {
            layout,
            last_avail: 0,
            avail_seen: 0,
            used_idx: 0,
        })
    }

    /// The ring size.
    pub fn num(&self) -> u16 {
        self.layout.num
    }

    /// How many entries the driver has made available and the device not
    /// yet taken.
    pub fn pending<M: DeviceMemory>(&self, mem: &M) -> Result<u16, VringError> {
        let avail_idx = mem.read_u16(self.layout.avail + 2)?;
        let pending = avail_idx.wrapping_sub(self.last_avail);
        if pending > self.layout.num {
            return Err(VringError::BadAvailIdx);
        }
        Ok(pending)
    }

    /// Takes the next available buffer, if any. `device_writes` says which
    /// way the buffers of this queue must point.
    pub fn pop<M: DeviceMemory>(
        &mut self,
        mem: &M,
        device_writes: bool,
    ) -> Result<Option<Popped>, VringError> {
        if self.avail_seen == self.last_avail {
            let pending = self.pending(mem)?;
            if pending == 0 {
                return Ok(None);
            }
            self.avail_seen = self.last_avail.wrapping_add(pending);
            // Read the ring entries only after seeing the index that
            // covers them.
            mem.rmb();
        }
        let num = self.layout.num;
        let slot = u64::from(self.last_avail % num);
        let head = mem.read_u16(self.layout.avail + 4 + 2 * slot)?;
        if head >= num {
            return Err(VringError::BadHead);
        }
        self.last_avail = self.last_avail.wrapping_add(1);

        let desc = self.layout.desc + DESC_SIZE * u64::from(head);
        let addr = mem.read_u64(desc)?;
        let len = mem.read_u32(desc + 8)?;
        let flags = mem.read_u16(desc + 12)?;
        let err = if flags & (DESC_F_NEXT | DESC_F_INDIRECT) != 0 {
            Some(DescError::Unsupported)
        } else if (flags & DESC_F_WRITE != 0) != device_writes {
            Some(DescError::WrongDirection)
        } else if !mem.contains(addr, u64::from(len)) {
            Some(DescError::OutOfBounds)
        } else {
            None
        };
        Ok(Some(match err {
            Some(err) => Popped::Bad { head, err },
            None => Popped::Ok(Buffer { head, addr, len }),
        }))
    }

    /// Gives a buffer back to the driver, `len` bytes written into it.
    pub fn push<M: DeviceMemory>(
        &mut self,
        mem: &M,
        head: u16,
        len: u32,
    ) -> Result<(), VringError> {
        self.push_id(mem, u32::from(head), len)
    }

    /// Publishes a used element with any `id`, also one that names no
    /// descriptor: fault injection needs to write what a broken device
    /// would.
    pub fn push_id<M: DeviceMemory>(
        &mut self,
        mem: &M,
        id: u32,
        len: u32,
    ) -> Result<(), VringError> {
        let slot = u64::from(self.used_idx % self.layout.num);
        let elem = self.layout.used + 4 + 8 * slot;
        mem.write_u32(elem, id)?;
        mem.write_u32(elem + 4, len)?;
        // The element must be visible before the index that publishes it.
        mem.wmb();
        self.used_idx = self.used_idx.wrapping_add(1);
        mem.write_u16(self.layout.used + 2, self.used_idx)?;
        Ok(())
    }

    /// Whether the used index in shared memory is still the one this
    /// queue last published. Only the device writes it, so a different
    /// value means the driver set the ring up afresh (remoteproc zeroes a
    /// vring whenever a driver finds its queues again), which it may do
    /// after a reset the device never got to see.
    pub fn intact<M: DeviceMemory>(&self, mem: &M) -> Result<bool, VringError> {
        Ok(mem.read_u16(self.layout.used + 2)? == self.used_idx)
    }

    /// Whether the driver wants an interrupt for buffers pushed so far.
    pub fn wants_interrupt<M: DeviceMemory>(&self, mem: &M) -> Result<bool, VringError> {
        // The used index must be visible before we sample the flags, or we
        // could miss a driver that just re-enabled interrupts.
        mem.mb();
        Ok(mem.read_u16(self.layout.avail)? & AVAIL_F_NO_INTERRUPT == 0)
    }

    /// Asks the driver to kick (`on`) or not to kick after it adds buffers.
    /// Only a hint: the driver may have read the flags just before.
    pub fn set_kicks<M: DeviceMemory>(&self, mem: &M, on: bool) -> Result<(), VringError> {
        mem.write_u16(self.layout.used, if on { 0 } else { USED_F_NO_NOTIFY })?;
        Ok(())
    }
}

/// The driver's side of a ring, for host unit tests of the device side.
#[cfg(test)]
pub mod driver {
    use super::*;

    pub struct DriverQueue {
        pub layout: Layout,
        pub avail_idx: u16,
        pub last_used: u16,
    }

    impl DriverQueue {
        pub fn new(layout: Layout) -> Self {
            DriverQueue {
                layout,
                avail_idx: 0,
                last_used: 0,
            }
        }

        /// Makes a buffer available through descriptor `head`.
        pub fn add<M: DeviceMemory>(
            &mut self,
            mem: &M,
            head: u16,
            addr: u64,
            len: u32,
            flags: u16,
        ) {
            let desc = self.layout.desc + DESC_SIZE * u64::from(head);
            mem.write(desc, &addr.to_le_bytes()).unwrap();
            mem.write_u32(desc + 8, len).unwrap();
            mem.write_u16(desc + 12, flags).unwrap();
            let slot = u64::from(self.avail_idx % self.layout.num);
            mem.write_u16(self.layout.avail + 4 + 2 * slot, head)
                .unwrap();
            self.avail_idx = self.avail_idx.wrapping_add(1);
            mem.write_u16(self.layout.avail + 2, self.avail_idx)
                .unwrap();
        }

        /// Takes the next used element: (head, len).
        pub fn get_used<M: DeviceMemory>(&mut self, mem: &M) -> Option<(u16, u32)> {
            self.get_used_raw(mem).map(|(id, len)| (id as u16, len))
        }

        /// Takes the next used element as the device wrote it: (id, len).
        pub fn get_used_raw<M: DeviceMemory>(&mut self, mem: &M) -> Option<(u32, u32)> {
            if mem.read_u16(self.layout.used + 2).unwrap() == self.last_used {
                return None;
            }
            let slot = u64::from(self.last_used % self.layout.num);
            let elem = self.layout.used + 4 + 8 * slot;
            self.last_used = self.last_used.wrapping_add(1);
            Some((mem.read_u32(elem).unwrap(), mem.read_u32(elem + 4).unwrap()))
        }

        /// Where the device's flags (`USED_F_*`) are.
        pub fn used_flags_addr(&self) -> u64 {
            self.layout.used
        }

        /// Whether the device wants a kick for buffers added now.
        pub fn kick_wanted<M: DeviceMemory>(&self, mem: &M) -> bool {
            mem.read_u16(self.layout.used).unwrap() & USED_F_NO_NOTIFY == 0
        }

        pub fn set_no_interrupt<M: DeviceMemory>(&self, mem: &M, on: bool) {
            mem.write_u16(self.layout.avail, if on { AVAIL_F_NO_INTERRUPT } else { 0 })
                .unwrap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::driver::DriverQueue;
    use super::*;
    use crate::testmem::TestMem;

    const BASE: u64 = 0x1000_0000;

    fn setup(num: u32) -> (TestMem, DeviceQueue, DriverQueue) {
        let mem = TestMem::new(BASE, 0x10000);
        let layout = Layout::new(BASE, num, 16).unwrap();
        let dev = DeviceQueue::new(&mem, layout).unwrap();
        (mem, dev, DriverQueue::new(layout))
    }

    #[test]
    fn layout_matches_kernel_vring_size() {
        // vring_size(256, 16) in the kernel: 4096 + 518 -> 4624, + 6 + 2048.
        assert_eq!(Layout::size(256, 16), Some(6678));
        assert_eq!(Layout::size(4, 4096), Some(4096 + 6 + 32));
        assert_eq!(Layout::size(3, 16), None);
        assert_eq!(Layout::size(0, 16), None);
        assert_eq!(Layout::size(65536, 16), None);
        assert_eq!(Layout::new(BASE + 8, 4, 16), Err(VringError::BadConfig));
    }

    #[test]
    fn pop_push_round_trip() {
        let (mem, mut dev, mut drv) = setup(4);
        assert_eq!(dev.pop(&mem, true), Ok(None));
        drv.add(&mem, 2, BASE + 0x8000, 512, DESC_F_WRITE);
        assert_eq!(dev.pending(&mem), Ok(1));
        let got = dev.pop(&mem, true).unwrap().unwrap();
        assert_eq!(
            got,
            Popped::Ok(Buffer {
                head: 2,
                addr: BASE + 0x8000,
                len: 512
            })
        );
        assert_eq!(dev.pop(&mem, true), Ok(None));
        assert_eq!(drv.get_used(&mem), None);
        dev.push(&mem, 2, 100).unwrap();
        assert_eq!(drv.get_used(&mem), Some((2, 100)));
        // Fault injection may publish ids that name no descriptor.
        dev.push_id(&mem, 4, u32::MAX).unwrap();
        assert_eq!(drv.get_used_raw(&mem), Some((4, u32::MAX)));
    }

    #[test]
    fn indices_wrap() {
        let (mem, mut dev, mut drv) = setup(4);
        for i in 0..70_000u32 {
            let head = (i % 4) as u16;
            drv.add(&mem, head, BASE + 0x8000, 16, 0);
            let Some(Popped::Ok(buf)) = dev.pop(&mem, false).unwrap() else {
                panic!()
            };
            assert_eq!(buf.head, head);
            dev.push(&mem, head, 0).unwrap();
            assert_eq!(drv.get_used(&mem), Some((head, 0)));
        }
    }

    #[test]
    fn refuses_bad_descriptors_but_keeps_queue() {
        let (mem, mut dev, mut drv) = setup(4);
        drv.add(&mem, 0, BASE + 0x8000, 16, 0);
        drv.add(&mem, 1, BASE + 0xfff0, 32, DESC_F_WRITE);
        drv.add(&mem, 2, BASE + 0x8000, 16, DESC_F_WRITE | DESC_F_NEXT);
        drv.add(&mem, 3, u64::MAX - 4, 16, DESC_F_WRITE);
        let bad = |head, err| Ok(Some(Popped::Bad { head, err }));
        assert_eq!(dev.pop(&mem, true), bad(0, DescError::WrongDirection));
        assert_eq!(dev.pop(&mem, true), bad(1, DescError::OutOfBounds));
        assert_eq!(dev.pop(&mem, true), bad(2, DescError::Unsupported));
        assert_eq!(dev.pop(&mem, true), bad(3, DescError::OutOfBounds));
        for head in 0..4 {
            dev.push(&mem, head, 0).unwrap();
        }
        drv.add(&mem, 0, BASE + 0x8000, 16, DESC_F_WRITE);
        assert!(matches!(dev.pop(&mem, true), Ok(Some(Popped::Ok(_)))));
    }

    #[test]
    fn detects_corrupt_ring() {
        let (mem, mut dev, drv) = setup(4);
        // Available index five ahead on a ring of four.
        mem.write_u16(drv.layout.avail + 2, 5).unwrap();
        assert_eq!(dev.pop(&mem, true), Err(VringError::BadAvailIdx));
        mem.write_u16(drv.layout.avail + 2, 1).unwrap();
        mem.write_u16(drv.layout.avail + 4, 4).unwrap();
        assert_eq!(dev.pop(&mem, true), Err(VringError::BadHead));
    }

    #[test]
    fn ring_outside_memory_is_refused() {
        let mem = TestMem::new(BASE, 0x1000);
        let layout = Layout::new(BASE, 256, 16).unwrap();
        assert_eq!(
            DeviceQueue::new(&mem, layout).unwrap_err(),
            VringError::Memory
        );
    }

    #[test]
    fn reinitialised_ring_is_noticed() {
        let (mem, mut dev, mut drv) = setup(4);
        assert_eq!(dev.intact(&mem), Ok(true), "fresh ring, nothing used");
        drv.add(&mem, 0, BASE + 0x8000, 16, DESC_F_WRITE);
        let Some(Popped::Ok(buf)) = dev.pop(&mem, true).unwrap() else {
            panic!()
        };
        dev.push(&mem, buf.head, 16).unwrap();
        assert_eq!(dev.intact(&mem), Ok(true));
        // The driver zeroes the ring, as remoteproc does at find_vqs.
        mem.write(BASE, &[0u8; 0x200]).unwrap();
        assert_eq!(dev.intact(&mem), Ok(false));
    }

    #[test]
    fn interrupt_suppression() {
        let (mem, dev, drv) = setup(4);
        assert_eq!(dev.wants_interrupt(&mem), Ok(true));
        drv.set_no_interrupt(&mem, true);
        assert_eq!(dev.wants_interrupt(&mem), Ok(false));
    }

    #[test]
    fn kick_suppression() {
        let (mem, dev, drv) = setup(4);
        assert!(drv.kick_wanted(&mem));
        dev.set_kicks(&mem, false).unwrap();
        assert!(!drv.kick_wanted(&mem));
        // The used index is left alone.
        assert_eq!(dev.intact(&mem), Ok(true));
        dev.set_kicks(&mem, true).unwrap();
        assert!(drv.kick_wanted(&mem));
    }
}
