// SPDX-License-Identifier: GPL-2.0

//! A `DeviceMemory` over a host vector, for unit tests.

use super::mem::{DeviceMemory, OutOfBounds};
use core::cell::RefCell;
use std::vec;
use std::vec::Vec;

pub struct TestMem {
    pub base: u64,
    pub bytes: RefCell<Vec<u8>>,
}

impl TestMem {
    pub fn new(base: u64, len: usize) -> Self {
        TestMem {
            base,
            bytes: RefCell::new(vec![0; len]),
        }
    }

    fn range(&self, da: u64, len: usize) -> Result<core::ops::Range<usize>, OutOfBounds> {
        if !self.contains(da, len as u64) {
            return Err(OutOfBounds);
        }
        let start = (da - self.base) as usize;
        Ok(start..start + len)
    }
}

impl DeviceMemory for TestMem {
    fn read(&self, da: u64, buf: &mut [u8]) -> Result<(), OutOfBounds> {
        let r = self.range(da, buf.len())?;
        buf.copy_from_slice(&self.bytes.borrow()[r]);
        Ok(())
    }
    fn write(&self, da: u64, data: &[u8]) -> Result<(), OutOfBounds> {
        let r = self.range(da, data.len())?;
        self.bytes.borrow_mut()[r].copy_from_slice(data);
        Ok(())
    }
    fn read_u16(&self, da: u64) -> Result<u16, OutOfBounds> {
        let mut b = [0; 2];
        self.read(da, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }
    fn read_u32(&self, da: u64) -> Result<u32, OutOfBounds> {
        let mut b = [0; 4];
        self.read(da, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn read_u64(&self, da: u64) -> Result<u64, OutOfBounds> {
        let mut b = [0; 8];
        self.read(da, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn write_u16(&self, da: u64, val: u16) -> Result<(), OutOfBounds> {
        self.write(da, &val.to_le_bytes())
    }
    fn write_u32(&self, da: u64, val: u32) -> Result<(), OutOfBounds> {
        self.write(da, &val.to_le_bytes())
    }
    fn contains(&self, da: u64, len: u64) -> bool {
        let size = self.bytes.borrow().len() as u64;
        da >= self.base
            && da
                .checked_add(len)
                .is_some_and(|end| end <= self.base + size)
    }
    fn rmb(&self) {}
    fn wmb(&self) {}
    fn mb(&self) {}
}
