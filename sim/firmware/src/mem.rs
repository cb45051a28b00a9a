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
