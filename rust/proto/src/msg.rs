// SPDX-License-Identifier: GPL-2.0

//! The RPMsg message header and the name-service message.
//!
//! All multi-byte fields are little-endian: remoteproc vdevs are legacy virtio
//! devices (the resource table cannot offer `VIRTIO_F_VERSION_1`), whose
//! byte order is the host's, and every host this project supports is
//! little-endian.

/// The virtio device id of an RPMsg device (`VIRTIO_ID_RPMSG`).
pub const VIRTIO_ID_RPMSG: u32 = 7;
/// Feature bit `VIRTIO_RPMSG_F_NS` (a bit number, as in the kernel's
/// headers): the remote announces its channels to [`NS_ADDR`].
pub const VIRTIO_RPMSG_F_NS: u32 = 0;

/// Size of [`Header`] on the wire.
pub const HEADER_LEN: usize = 16;
/// Name-service endpoint address, on both sides.
pub const NS_ADDR: u32 = 53;
/// Wildcard address ("any").
pub const ADDR_ANY: u32 = 0xffff_ffff;
/// First address handed out dynamically; lower ones are reserved.
pub const FIRST_DYNAMIC_ADDR: u32 = 1024;
/// Length of the name field of a name-service message, NUL included.
pub const NAME_SIZE: usize = 32;
/// Size of [`NsMsg`] on the wire.
pub const NS_MSG_LEN: usize = NAME_SIZE + 8;
/// Name-service flag: the channel was destroyed (otherwise created).
pub const NS_DESTROY: u32 = 1;

/// Why bytes from the other side were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgError {
    /// Fewer bytes than a header.
    Truncated,
    /// The header claims more payload than the buffer holds.
    BadLength,
    /// A name-service message of the wrong size.
    BadNsLength,
    /// A name that is empty, not NUL-terminated or not printable ASCII.
    BadName,
    /// Unknown name-service flags.
    BadFlags,
}

/// The 16-byte header in front of every RPMsg payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub src: u32,
    pub dst: u32,
    /// Payload length.
    pub len: u16,
    pub flags: u16,
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Header {
    /// Parses the header at the start of a received buffer.
    ///
    /// `buf` is everything the sender says it filled in (the used length,
    /// already clamped to the buffer size); the payload must lie within it.
    pub fn parse(buf: &[u8]) -> Result<Header, MsgError> {
        // Every message goes through here: the fields come out of one
        // fixed-size array, with no further bounds checks or calls.
        let Some((hdr, payload)) = buf.split_first_chunk::<HEADER_LEN>() else {
            return Err(MsgError::Truncated);
        };
        let [s0, s1, s2, s3, d0, d1, d2, d3, _, _, _, _, l0, l1, f0, f1] = *hdr;
        let hdr = Header {
            src: u32::from_le_bytes([s0, s1, s2, s3]),
            dst: u32::from_le_bytes([d0, d1, d2, d3]),
            len: u16::from_le_bytes([l0, l1]),
            flags: u16::from_le_bytes([f0, f1]),
        };
        if usize::from(hdr.len) > payload.len() {
            return Err(MsgError::BadLength);
        }
        Ok(hdr)
    }

    /// The header's wire form (the reserved word is zero).
    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&self.src.to_le_bytes());
        out[4..8].copy_from_slice(&self.dst.to_le_bytes());
        out[12..14].copy_from_slice(&self.len.to_le_bytes());
        out[14..16].copy_from_slice(&self.flags.to_le_bytes());
        out
    }
}

/// A channel name: 1 to 31 printable ASCII bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Name {
    bytes: [u8; NAME_SIZE],
    len: u8,
}

impl Name {
    /// Checks and copies a name given without terminator.
    pub fn new(s: &[u8]) -> Result<Name, MsgError> {
        if s.is_empty() || s.len() >= NAME_SIZE || !s.iter().all(|&c| c.is_ascii_graphic()) {
            return Err(MsgError::BadName);
        }
        let mut bytes = [0u8; NAME_SIZE];
        bytes[..s.len()].copy_from_slice(s);
        // The length check above keeps this within u8.
        Ok(Name {
            bytes,
            len: s.len() as u8,
        })
    }

    /// Parses a fixed-size name field: the name must be NUL-terminated
    /// inside the field; whatever follows the terminator is ignored, as the
    /// kernel does.
    pub fn from_field(field: &[u8]) -> Result<Name, MsgError> {
        let field = &field[..field.len().min(NAME_SIZE)];
        let end = field
            .iter()
            .position(|&c| c == 0)
            .ok_or(MsgError::BadName)?;
        Name::new(&field[..end])
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The name as `&str` (it is ASCII by construction).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl core::fmt::Debug for Name {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// A name-service announcement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NsMsg {
    pub name: Name,
    pub addr: u32,
    pub destroy: bool,
}

impl NsMsg {
    /// Parses a name-service payload, refusing anything malformed.
    pub fn parse(payload: &[u8]) -> Result<NsMsg, MsgError> {
        if payload.len() != NS_MSG_LEN {
            return Err(MsgError::BadNsLength);
        }
        let name = Name::from_field(&payload[..NAME_SIZE])?;
        let addr = le32(payload, NAME_SIZE);
        let flags = le32(payload, NAME_SIZE + 4);
        if flags & !NS_DESTROY != 0 {
            return Err(MsgError::BadFlags);
        }
        Ok(NsMsg {
            name,
            addr,
            destroy: flags & NS_DESTROY != 0,
        })
    }

    /// Writes the wire form into `out`.
    pub fn write(&self, out: &mut [u8; NS_MSG_LEN]) {
        out.fill(0);
        out[..self.name.as_bytes().len()].copy_from_slice(self.name.as_bytes());
        out[NAME_SIZE..NAME_SIZE + 4].copy_from_slice(&self.addr.to_le_bytes());
        let flags = if self.destroy { NS_DESTROY } else { 0 };
        out[NAME_SIZE + 4..].copy_from_slice(&flags.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let mut buf = [0xaau8; 64];
        let hdr = Header {
            src: 1024,
            dst: 53,
            len: 40,
            flags: 0,
        };
        buf[..HEADER_LEN].copy_from_slice(&hdr.to_bytes());
        assert_eq!(&buf[8..12], &[0, 0, 0, 0]);
        assert_eq!(Header::parse(&buf[..56]), Ok(hdr));
    }

    #[test]
    fn header_rejects_short_and_overlong() {
        assert_eq!(Header::parse(&[0u8; 15]), Err(MsgError::Truncated));
        let mut buf = [0u8; 32];
        let hdr = Header {
            src: 1,
            dst: 2,
            len: 16,
            flags: 0,
        };
        buf[..HEADER_LEN].copy_from_slice(&hdr.to_bytes());
        assert!(Header::parse(&buf).is_ok());
        // One byte short of the claimed payload.
        assert_eq!(Header::parse(&buf[..31]), Err(MsgError::BadLength));
        buf[12..14].copy_from_slice(&u16::MAX.to_le_bytes());
        assert_eq!(Header::parse(&buf), Err(MsgError::BadLength));
    }

    #[test]
    fn ns_round_trip() {
        let msg = NsMsg {
            name: Name::new(b"rpmsg-raw").unwrap(),
            addr: 1025,
            destroy: true,
        };
        let mut wire = [0u8; NS_MSG_LEN];
        msg.write(&mut wire);
        assert_eq!(&wire[..10], b"rpmsg-raw\0");
        assert_eq!(NsMsg::parse(&wire), Ok(msg));
    }

    #[test]
    fn ns_rejects_malformed() {
        let mut wire = [0u8; NS_MSG_LEN];
        NsMsg {
            name: Name::new(b"x").unwrap(),
            addr: 7,
            destroy: false,
        }
        .write(&mut wire);
        assert_eq!(
            NsMsg::parse(&wire[..NS_MSG_LEN - 1]),
            Err(MsgError::BadNsLength)
        );
        let mut unterminated = wire;
        unterminated[..NAME_SIZE].fill(b'a');
        assert_eq!(NsMsg::parse(&unterminated), Err(MsgError::BadName));
        let mut empty = wire;
        empty[0] = 0;
        assert_eq!(NsMsg::parse(&empty), Err(MsgError::BadName));
        let mut control = wire;
        control[0] = b'\n';
        assert_eq!(NsMsg::parse(&control), Err(MsgError::BadName));
        let mut flags = wire;
        flags[NAME_SIZE + 4] = 2;
        assert_eq!(NsMsg::parse(&flags), Err(MsgError::BadFlags));
    }

    #[test]
    fn name_limits() {
        assert!(Name::new(&[b'a'; 31]).is_ok());
        assert_eq!(Name::new(&[b'a'; 32]), Err(MsgError::BadName));
        assert_eq!(Name::new(b"a b"), Err(MsgError::BadName));
        // Bytes after the terminator are ignored, as upstream does.
        let mut field = [0u8; NAME_SIZE];
        field[..3].copy_from_slice(b"abc");
        field[10] = b'z';
        assert_eq!(Name::from_field(&field).unwrap().as_str(), "abc");
    }
}
