// SPDX-License-Identifier: GPL-2.0

//! `VIRTIO_RPMSG_F_BUFSZ`: the remote chooses the buffer size of each
//! direction and offers it in the vdev's config space.
//!
//! As the v2 Linux series defines it (not merged as of 7.3): feature bit 1,
//! and a packed little-endian config space described from the remote's
//! point of view:
//!
//! ```text
//! le16 version;        must be 0
//! le32 txbuf_size;     remote -> host: the host's receive buffers
//! le32 rxbuf_size;     host -> remote: the host's transmit buffers
//! le32 reserved[14];
//! ```
//!
//! Everything the layout and its checks need is here, so that a change of
//! the series before it is merged is a change of this file.

use super::msg::HEADER_LEN;

/// The feature bit, in the vdev's `dfeatures`.
pub const VIRTIO_RPMSG_F_BUFSZ: u32 = 1;
/// Size of the config structure, reserved words included.
pub const CONFIG_LEN: usize = 2 + 4 + 4 + 4 * 14;
/// The only version defined.
pub const VERSION: u16 = 0;
/// Buffer size of both directions without the feature, as upstream.
pub const DEFAULT_BUF_SIZE: usize = 512;
/// Smallest size accepted: one header.
pub const MIN_BUF_SIZE: usize = HEADER_LEN;
/// Largest size accepted: a header's 16-bit length field bounds a message
/// anyway, and larger buffers only waste the pool.
pub const MAX_BUF_SIZE: usize = 64 * 1024;

const VERSION_OFF: usize = 0;
const TXBUF_OFF: usize = 2;
const RXBUF_OFF: usize = 6;

/// Buffer sizes from the host's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufSizes {
    /// Buffers the host receives into (the remote's `txbuf_size`).
    pub rx: usize,
    /// Buffers the host sends from (the remote's `rxbuf_size`).
    pub tx: usize,
}

/// Why an offer was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferError {
    /// The config space is shorter than [`CONFIG_LEN`].
    Truncated,
    /// A version other than [`VERSION`].
    Version(u16),
    /// A size below [`MIN_BUF_SIZE`].
    TooSmall(u32),
    /// A size above [`MAX_BUF_SIZE`].
    TooBig(u32),
    /// The buffer pool would not fit in the memory the device gives.
    #[allow(dead_code, reason = "the bus's; the simulated remote does not use it")]
    PoolTooBig,
}

impl OfferError {
    /// A short name, for counters and logs.
    #[allow(dead_code, reason = "the bus's; the simulated remote does not use it")]
    pub fn as_str(self) -> &'static str {
        match self {
            OfferError::Truncated => "config_too_short",
            OfferError::Version(_) => "bad_version",
            OfferError::TooSmall(_) => "size_too_small",
            OfferError::TooBig(_) => "size_too_big",
            OfferError::PoolTooBig => "pool_too_big",
        }
    }
}

fn le32(cfg: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([cfg[at], cfg[at + 1], cfg[at + 2], cfg[at + 3]])
}

fn size(raw: u32) -> Result<usize, OfferError> {
    let n = usize::try_from(raw).map_err(|_| OfferError::TooBig(raw))?;
    if n < MIN_BUF_SIZE {
        Err(OfferError::TooSmall(raw))
    } else if n > MAX_BUF_SIZE {
        Err(OfferError::TooBig(raw))
    } else {
        Ok(n)
    }
}

impl BufSizes {
    /// 512 bytes each way: what a remote without the feature gets.
    pub const DEFAULT: BufSizes = BufSizes {
        rx: DEFAULT_BUF_SIZE,
        tx: DEFAULT_BUF_SIZE,
    };

    /// Checks the config space a remote offers. `cfg` is a snapshot of
    /// everything the transport could read (at most [`CONFIG_LEN`] bytes
    /// are looked at); the reserved words are ignored, for later versions
    /// to give them a meaning that version 0 hosts can skip.
    pub fn parse(cfg: &[u8]) -> Result<BufSizes, OfferError> {
        if cfg.len() < CONFIG_LEN {
            return Err(OfferError::Truncated);
        }
        let version = u16::from_le_bytes([cfg[VERSION_OFF], cfg[VERSION_OFF + 1]]);
        if version != VERSION {
            return Err(OfferError::Version(version));
        }
        Ok(BufSizes {
            rx: size(le32(cfg, TXBUF_OFF))?,
            tx: size(le32(cfg, RXBUF_OFF))?,
        })
    }

    /// The config space a remote offers these sizes with (what a firmware
    /// puts behind its vdev's vrings), with `version`.
    #[allow(dead_code, reason = "the simulated remote's; the bus does not use it")]
    pub fn offer(version: u16, txbuf_size: u32, rxbuf_size: u32) -> [u8; CONFIG_LEN] {
        let mut cfg = [0u8; CONFIG_LEN];
        cfg[VERSION_OFF..VERSION_OFF + 2].copy_from_slice(&version.to_le_bytes());
        cfg[TXBUF_OFF..TXBUF_OFF + 4].copy_from_slice(&txbuf_size.to_le_bytes());
        cfg[RXBUF_OFF..RXBUF_OFF + 4].copy_from_slice(&rxbuf_size.to_le_bytes());
        cfg
    }

    /// Largest payload the host can receive.
    #[allow(dead_code, reason = "the simulated remote's; the bus does not use it")]
    pub fn rx_payload(&self) -> usize {
        self.rx.saturating_sub(HEADER_LEN)
    }

    /// Largest payload the host can send: its MTU.
    #[allow(dead_code, reason = "the bus's; the simulated remote does not use it")]
    pub fn tx_payload(&self) -> usize {
        self.tx.saturating_sub(HEADER_LEN)
    }

    /// Bytes of a pool of `nbufs` buffers per direction; `None` on
    /// overflow.
    #[allow(dead_code, reason = "the bus's; the simulated remote does not use it")]
    pub fn pool_len(&self, nbufs: usize) -> Option<usize> {
        self.rx.checked_add(self.tx)?.checked_mul(nbufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_packed_little_endian() {
        let cfg = BufSizes::offer(0, 0x0102_0304, 0x0a0b_0c0d);
        assert_eq!(CONFIG_LEN, 66);
        assert_eq!(&cfg[..10], &[0, 0, 4, 3, 2, 1, 0xd, 0xc, 0xb, 0xa]);
        assert!(cfg[10..].iter().all(|&b| b == 0));
    }

    #[test]
    fn directions_are_swapped_to_the_host_view() {
        let cfg = BufSizes::offer(0, 2048, 512);
        assert_eq!(BufSizes::parse(&cfg), Ok(BufSizes { rx: 2048, tx: 512 }));
        let s = BufSizes::parse(&cfg).unwrap();
        assert_eq!((s.rx_payload(), s.tx_payload()), (2032, 496));
    }

    #[test]
    fn refuses_bad_offers() {
        let ok = BufSizes::offer(0, 4096, 4096);
        assert_eq!(
            BufSizes::parse(&ok[..CONFIG_LEN - 1]),
            Err(OfferError::Truncated)
        );
        assert_eq!(BufSizes::parse(&[]), Err(OfferError::Truncated));
        assert_eq!(
            BufSizes::parse(&BufSizes::offer(1, 4096, 4096)),
            Err(OfferError::Version(1))
        );
        assert_eq!(
            BufSizes::parse(&BufSizes::offer(0, 15, 4096)),
            Err(OfferError::TooSmall(15))
        );
        assert_eq!(
            BufSizes::parse(&BufSizes::offer(0, 4096, 65537)),
            Err(OfferError::TooBig(65537))
        );
        assert_eq!(
            BufSizes::parse(&BufSizes::offer(0, u32::MAX, 16)),
            Err(OfferError::TooBig(u32::MAX))
        );
    }

    #[test]
    fn accepts_the_bounds_and_ignores_reserved_words() {
        let mut cfg = BufSizes::offer(0, 16, 65536);
        cfg[CONFIG_LEN - 1] = 0xff;
        assert_eq!(BufSizes::parse(&cfg), Ok(BufSizes { rx: 16, tx: 65536 }));
        // Longer config spaces are fine: only the structure is read.
        let mut long = [0u8; CONFIG_LEN + 8];
        long[..CONFIG_LEN].copy_from_slice(&BufSizes::offer(0, 512, 512));
        assert_eq!(BufSizes::parse(&long), Ok(BufSizes::DEFAULT));
    }

    #[test]
    fn pool_len() {
        let s = BufSizes { rx: 2048, tx: 512 };
        assert_eq!(s.pool_len(256), Some(256 * 2560));
        let huge = BufSizes {
            rx: usize::MAX,
            tx: 1,
        };
        assert_eq!(huge.pool_len(2), None);
    }
}
