// SPDX-License-Identifier: GPL-2.0

//! The firmware's resource table (`include/linux/remoteproc.h`): one RPMsg
//! vdev with two vrings at fixed device addresses, as a real remote's
//! firmware image carries it.
//!
//! The host's remoteproc core writes into this table (vring notify ids,
//! negotiated features, device status); the remote reads those fields back
//! and checks them before it trusts them.

use super::mem::{DeviceMemory, OutOfBounds};

pub const RSC_VDEV: u32 = 3;
/// Feature masks of the vdev's `dfeatures` and `gfeatures` words, from the
/// protocol's bit numbers: `VIRTIO_RPMSG_F_NS` (the remote announces its
/// channels) and `VIRTIO_RPMSG_F_BUFSZ` (it offers buffer sizes in the
/// config space).
pub const FEATURE_NS: u32 = 1 << crate::proto::msg::VIRTIO_RPMSG_F_NS;
pub const FEATURE_BUFSZ: u32 = 1 << crate::proto::bufsz::VIRTIO_RPMSG_F_BUFSZ;
/// `VIRTIO_CONFIG_S_DRIVER_OK`.
pub const STATUS_DRIVER_OK: u8 = 4;

const HDR_LEN: usize = 16;
const VDEV_OFFSET: usize = HDR_LEN + 4;
/// Offsets inside the vdev entry, counted from its `type` word.
const VDEV_NOTIFYID: usize = 8;
const VDEV_GFEATURES: usize = 16;
const VDEV_CONFIG_LEN: usize = 20;
const VDEV_STATUS: usize = 24;
const VDEV_VRINGS: usize = 28;
const VRING_LEN: usize = 20;

/// Where the vdev's config space starts: right after its vrings.
const VDEV_CONFIG: usize = VDEV_VRINGS + 2 * VRING_LEN;
/// Room for the config space: the `VIRTIO_RPMSG_F_BUFSZ` structure, padded
/// to a whole word.
pub const CONFIG_ROOM: usize = crate::proto::bufsz::CONFIG_LEN.next_multiple_of(4);

/// Total size of the table.
pub const TABLE_LEN: usize = VDEV_OFFSET + VDEV_CONFIG + CONFIG_ROOM;

/// The vrings the firmware expects: device address, entries, alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VringSpec {
    pub da: u32,
    pub num: u32,
    pub align: u32,
}

/// Writes a fresh table into `out`, with `config` (at most
/// [`CONFIG_ROOM`] bytes) as the vdev's config space.
pub fn build(out: &mut [u8; TABLE_LEN], vrings: [VringSpec; 2], features: u32, config: &[u8]) {
    let config = &config[..config.len().min(CONFIG_ROOM)];
    out.fill(0);
    let mut put = |at: usize, v: u32| out[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put(0, 1); // version
    put(4, 1); // one resource
    put(HDR_LEN, VDEV_OFFSET as u32);
    let vdev = VDEV_OFFSET;
    put(vdev, RSC_VDEV);
    put(vdev + 4, crate::proto::msg::VIRTIO_ID_RPMSG);
    put(vdev + VDEV_NOTIFYID, 0);
    put(vdev + 12, features);
    // `config` is at most CONFIG_ROOM bytes: within u32.
    put(vdev + VDEV_CONFIG_LEN, config.len() as u32);
    // gfeatures 0; status 0, num_of_vrings 2.
    out[vdev + VDEV_STATUS + 1] = 2;
    for (i, v) in vrings.iter().enumerate() {
        let at = vdev + VDEV_VRINGS + i * VRING_LEN;
        let mut put =
            |off: usize, val: u32| out[at + off..at + off + 4].copy_from_slice(&val.to_le_bytes());
        put(0, v.da);
        put(4, v.align);
        put(8, v.num);
        put(12, 0);
        put(16, 0);
    }
    let at = vdev + VDEV_CONFIG;
    out[at..at + config.len()].copy_from_slice(config);
}

/// What the host has written into the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VdevState {
    pub status: u8,
    pub gfeatures: u32,
    pub notifyid: [u32; 2],
}

/// The host changed a field it must not touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RscError {
    Memory,
    /// A vring's address, size or alignment differs from the firmware's.
    VringChanged,
    /// Features granted that the firmware never offered.
    BadFeatures,
}

impl From<OutOfBounds> for RscError {
    fn from(_: OutOfBounds) -> Self {
        RscError::Memory
    }
}

/// Reads the host-written part of the table at device address `da`.
pub fn read_state<M: DeviceMemory>(
    mem: &M,
    da: u64,
    vrings: &[VringSpec; 2],
    offered: u32,
) -> Result<VdevState, RscError> {
    let vdev = da + VDEV_OFFSET as u64;
    let status = mem.read_u32(vdev + VDEV_STATUS as u64)? as u8;
    let gfeatures = mem.read_u32(vdev + VDEV_GFEATURES as u64)?;
    if gfeatures & !offered != 0 {
        return Err(RscError::BadFeatures);
    }
    let mut notifyid = [0; 2];
    for (i, spec) in vrings.iter().enumerate() {
        let at = vdev + (VDEV_VRINGS + i * VRING_LEN) as u64;
        let seen = VringSpec {
            da: mem.read_u32(at)?,
            align: mem.read_u32(at + 4)?,
            num: mem.read_u32(at + 8)?,
        };
        if seen != *spec {
            return Err(RscError::VringChanged);
        }
        notifyid[i] = mem.read_u32(at + 12)?;
    }
    Ok(VdevState {
        status,
        gfeatures,
        notifyid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testmem::TestMem;

    const SPECS: [VringSpec; 2] = [
        VringSpec {
            da: 0x1000_0000,
            num: 256,
            align: 16,
        },
        VringSpec {
            da: 0x1000_8000,
            num: 256,
            align: 16,
        },
    ];

    #[test]
    fn layout_matches_kernel_structs() {
        let mut t = [0u8; TABLE_LEN];
        build(&mut t, SPECS, FEATURE_NS, &[0xa5; 66]);
        // struct resource_table + one offset, fw_rsc_hdr, fw_rsc_vdev (24),
        // two fw_rsc_vdev_vring (20 each), then the config space.
        assert_eq!(TABLE_LEN, 16 + 4 + 4 + 24 + 40 + 68);
        assert_eq!(&t[20 + 20..20 + 24], &66u32.to_le_bytes(), "config_len");
        assert!(t[88..88 + 66].iter().all(|&b| b == 0xa5));
        assert_eq!(&t[88 + 66..], &[0, 0]);
        assert_eq!(&t[16..20], &20u32.to_le_bytes());
        assert_eq!(&t[20..24], &RSC_VDEV.to_le_bytes());
        assert_eq!(&t[24..28], &7u32.to_le_bytes());
        assert_eq!(t[20 + 25], 2, "num_of_vrings");
        assert_eq!(&t[48..52], &0x1000_0000u32.to_le_bytes());
        assert_eq!(&t[68..72], &0x1000_8000u32.to_le_bytes());
    }

    #[test]
    fn reads_back_host_fields_and_refuses_tampering() {
        let mem = TestMem::new(0x2000, 0x100);
        let mut t = [0u8; TABLE_LEN];
        build(&mut t, SPECS, FEATURE_NS, &[]);
        mem.write(0x2000, &t).unwrap();
        // What the remoteproc core does: notify ids, features, status.
        mem.write_u32(0x2000 + 20 + 28 + 12, 0).unwrap();
        mem.write_u32(0x2000 + 20 + 48 + 12, 1).unwrap();
        mem.write_u32(0x2000 + 20 + 16, 1).unwrap();
        mem.write(0x2000 + 20 + 24, &[STATUS_DRIVER_OK | 3])
            .unwrap();
        let st = read_state(&mem, 0x2000, &SPECS, FEATURE_NS).unwrap();
        assert_eq!(
            st,
            VdevState {
                status: 7,
                gfeatures: 1,
                notifyid: [0, 1]
            }
        );

        mem.write_u32(0x2000 + 20 + 16, 3).unwrap();
        assert_eq!(
            read_state(&mem, 0x2000, &SPECS, 1),
            Err(RscError::BadFeatures)
        );
        mem.write_u32(0x2000 + 20 + 16, 1).unwrap();
        mem.write_u32(0x2000 + 20 + 48, 0x4000).unwrap();
        assert_eq!(
            read_state(&mem, 0x2000, &SPECS, 1),
            Err(RscError::VringChanged)
        );
        assert_eq!(read_state(&mem, 0x2100, &SPECS, 1), Err(RscError::Memory));
    }
}
