// SPDX-License-Identifier: GPL-2.0

//! Property tests of the wire format and the address bookkeeping: many
//! random inputs (PROPTEST_CASES overrides how many), each checked
//! against a model written independently of the code under test.

use std::collections::BTreeSet;

use proptest::prelude::*;
use rpmsg_proto::addr::{lowest_free, AddrError, AddrSet};
use rpmsg_proto::bufsz::{BufSizes, OfferError, CONFIG_LEN, MAX_BUF_SIZE, MIN_BUF_SIZE};
use rpmsg_proto::msg::{
    Header, MsgError, Name, NsMsg, ADDR_ANY, FIRST_DYNAMIC_ADDR, HEADER_LEN, NAME_SIZE, NS_MSG_LEN,
};
use rpmsg_proto::ratelimit::{RateLimit, Verdict};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2048,
        ..ProptestConfig::default()
    }
}

/// The model of a valid name: 1 to 31 printable ASCII bytes, no space.
fn valid_name(b: &[u8]) -> bool {
    !b.is_empty() && b.len() < NAME_SIZE && b.iter().all(|&c| (0x21..=0x7e).contains(&c))
}

fn name_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Mostly valid names, so the success paths are exercised too.
        proptest::collection::vec(0x21u8..=0x7e, 1..NAME_SIZE),
        proptest::collection::vec(any::<u8>(), 0..=NAME_SIZE + 2),
    ]
}

/// The model of a valid size offer.
fn valid_size(n: u32) -> bool {
    (MIN_BUF_SIZE as u64..=MAX_BUF_SIZE as u64).contains(&u64::from(n))
}

fn size_offer() -> impl Strategy<Value = u32> {
    prop_oneof![
        // Mostly around the bounds, so both sides of each are exercised.
        0u32..64,
        (MAX_BUF_SIZE as u32 - 64)..(MAX_BUF_SIZE as u32 + 64),
        any::<u32>(),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Whatever the remote put into its config space, parsing never panics
    /// and accepts exactly version 0 with both sizes in bounds.
    #[test]
    fn bufsz_offer_any_bytes(cfg in proptest::collection::vec(any::<u8>(), 0..CONFIG_LEN + 8)) {
        let r = BufSizes::parse(&cfg);
        if cfg.len() < CONFIG_LEN {
            prop_assert_eq!(r, Err(OfferError::Truncated));
        } else if cfg[0] != 0 || cfg[1] != 0 {
            prop_assert_eq!(r, Err(OfferError::Version(u16::from_le_bytes([cfg[0], cfg[1]]))));
        } else {
            let tx = u32::from_le_bytes(cfg[2..6].try_into().unwrap());
            let rx = u32::from_le_bytes(cfg[6..10].try_into().unwrap());
            prop_assert_eq!(r.is_ok(), valid_size(tx) && valid_size(rx));
        }
    }

    #[test]
    fn bufsz_offer_round_trips(version in 0u16..3, tx in size_offer(), rx in size_offer()) {
        let r = BufSizes::parse(&BufSizes::offer(version, tx, rx));
        if version != 0 {
            prop_assert_eq!(r, Err(OfferError::Version(version)));
        } else if valid_size(tx) && valid_size(rx) {
            // The remote's tx is the host's rx.
            let s = r.unwrap();
            prop_assert_eq!((s.rx, s.tx), (tx as usize, rx as usize));
            prop_assert!(s.tx_payload() < s.tx && s.rx_payload() < s.rx);
        } else {
            prop_assert!(r.is_err());
        }
    }

    #[test]
    fn header_round_trips(src: u32, dst: u32, flags: u16, len in 0u16..=496, spare in 0usize..64) {
        let hdr = Header { src, dst, len, flags };
        let mut buf = vec![0xa5u8; HEADER_LEN + usize::from(len) + spare];
        buf[..HEADER_LEN].copy_from_slice(&hdr.to_bytes());
        let total = HEADER_LEN + usize::from(len);
        // The reserved word is zero on the wire.
        prop_assert_eq!(&buf[8..12], &[0u8; 4]);
        prop_assert_eq!(Header::parse(&buf[..total]), Ok(hdr));
        prop_assert_eq!(Header::parse(&buf), Ok(hdr));
    }

    /// Whatever the remote wrote, parsing never panics, and accepts
    /// exactly the buffers whose header's length fits.
    #[test]
    fn header_parse_any_bytes(buf in proptest::collection::vec(any::<u8>(), 0..600)) {
        let r = Header::parse(&buf);
        if buf.len() < HEADER_LEN {
            prop_assert_eq!(r, Err(MsgError::Truncated));
        } else {
            let len = usize::from(u16::from_le_bytes([buf[12], buf[13]]));
            if len > buf.len() - HEADER_LEN {
                prop_assert_eq!(r, Err(MsgError::BadLength));
            } else {
                let h = r.unwrap();
                prop_assert_eq!(h.src, u32::from_le_bytes(buf[0..4].try_into().unwrap()));
                prop_assert_eq!(h.dst, u32::from_le_bytes(buf[4..8].try_into().unwrap()));
                prop_assert_eq!(usize::from(h.len), len);
                prop_assert_eq!(h.flags, u16::from_le_bytes([buf[14], buf[15]]));
            }
        }
    }

    #[test]
    fn names_follow_the_model(b in name_bytes()) {
        match Name::new(&b) {
            Ok(n) => {
                prop_assert!(valid_name(&b));
                prop_assert_eq!(n.as_bytes(), &b[..]);
                prop_assert_eq!(n.as_str().as_bytes(), &b[..]);
            }
            Err(e) => {
                prop_assert!(!valid_name(&b));
                prop_assert_eq!(e, MsgError::BadName);
            }
        }
    }

    /// A fixed-size name field: the name ends at the first NUL, which must
    /// lie inside the 32 bytes; what follows it does not matter.
    #[test]
    fn name_fields(field in proptest::collection::vec(any::<u8>(), 0..48), nul in any::<Option<usize>>()) {
        let mut field = field;
        if let Some(at) = nul {
            if !field.is_empty() {
                let at = at % field.len();
                field[at] = 0;
            }
        }
        let window = &field[..field.len().min(NAME_SIZE)];
        let want = window
            .iter()
            .position(|&c| c == 0)
            .map(|end| &window[..end])
            .filter(|n| valid_name(n));
        match Name::from_field(&field) {
            Ok(n) => prop_assert_eq!(Some(n.as_bytes()), want),
            Err(e) => {
                prop_assert_eq!(want, None);
                prop_assert_eq!(e, MsgError::BadName);
            }
        }
    }

    #[test]
    fn ns_messages_round_trip(name in proptest::collection::vec(0x21u8..=0x7e, 1..NAME_SIZE), addr: u32, destroy: bool) {
        let msg = NsMsg { name: Name::new(&name).unwrap(), addr, destroy };
        let mut out = [0xffu8; NS_MSG_LEN];
        msg.write(&mut out);
        // The name is NUL-padded; flags are 0 or 1.
        prop_assert!(out[name.len()..NAME_SIZE].iter().all(|&b| b == 0));
        let flags = u32::from_le_bytes(out[NAME_SIZE + 4..].try_into().unwrap());
        prop_assert_eq!(flags, u32::from(destroy));
        prop_assert_eq!(NsMsg::parse(&out), Ok(msg));
    }

    /// Any payload on the name-service address: parsed only if well
    /// formed, and then it writes back to an equivalent message.
    #[test]
    fn ns_parse_any_bytes(payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        match NsMsg::parse(&payload) {
            Ok(m) => {
                prop_assert_eq!(payload.len(), NS_MSG_LEN);
                let flags = u32::from_le_bytes(payload[NAME_SIZE + 4..].try_into().unwrap());
                prop_assert!(flags <= 1);
                prop_assert_eq!(m.destroy, flags == 1);
                prop_assert_eq!(m.addr, u32::from_le_bytes(payload[NAME_SIZE..NAME_SIZE + 4].try_into().unwrap()));
                let mut out = [0u8; NS_MSG_LEN];
                m.write(&mut out);
                prop_assert_eq!(NsMsg::parse(&out), Ok(m));
            }
            Err(MsgError::BadNsLength) => prop_assert_ne!(payload.len(), NS_MSG_LEN),
            Err(MsgError::BadFlags) => {
                let flags = u32::from_le_bytes(payload[NAME_SIZE + 4..].try_into().unwrap());
                prop_assert!(flags > 1);
            }
            Err(e) => prop_assert_eq!(e, MsgError::BadName),
        }
    }

    /// Random allocations and frees against a set: an explicit address is
    /// had iff it is in range and free, `ADDR_ANY` gets the lowest free
    /// dynamic address, and freeing makes an address available again.
    #[test]
    fn addr_set_matches_a_set(
        base in prop_oneof![Just(0u32), Just(1000u32), Just(1024u32), 1u32..2048],
        ops in proptest::collection::vec((0u8..3, 0u32..1400), 1..300),
    ) {
        const WORDS: usize = 4;
        let cap = AddrSet::<WORDS>::CAPACITY;
        let mut set = AddrSet::<WORDS>::new(base);
        let mut model = BTreeSet::new();
        let in_range = |a: u32| a >= base && a - base < cap;
        for (op, a) in ops {
            match op {
                0 => {
                    let want = (FIRST_DYNAMIC_ADDR.max(base)..base.saturating_add(cap))
                        .find(|x| !model.contains(x))
                        .ok_or(AddrError::Exhausted);
                    let got = set.alloc(ADDR_ANY);
                    prop_assert_eq!(got, want);
                    if let Ok(x) = got {
                        model.insert(x);
                    }
                }
                1 => {
                    let want = if !in_range(a) {
                        Err(AddrError::OutOfRange)
                    } else if model.contains(&a) {
                        Err(AddrError::InUse)
                    } else {
                        Ok(a)
                    };
                    prop_assert_eq!(set.alloc(a), want);
                    if want.is_ok() {
                        model.insert(a);
                    }
                }
                _ => {
                    set.free(a);
                    model.remove(&a);
                }
            }
            prop_assert_eq!(set.contains(a), model.contains(&a));
        }
        for x in base..base.saturating_add(cap) {
            prop_assert_eq!(set.contains(x), model.contains(&x));
        }
    }

    #[test]
    fn lowest_free_matches_a_scan(used in proptest::collection::btree_set(0u32..200, 0..100), min in 0u32..220) {
        let want = (min..).find(|x| !used.contains(x)).unwrap();
        prop_assert_eq!(lowest_free(used.iter().copied(), min), Ok(want));
    }

    #[test]
    fn lowest_free_never_hands_out_any(tail in 0u32..4) {
        let used: Vec<u32> = (ADDR_ANY - tail..ADDR_ANY).collect();
        prop_assert_eq!(lowest_free(used, ADDR_ANY - tail), Err(AddrError::Exhausted));
    }

    /// Over any sequence of times: never more than `burst` messages
    /// printed in one window, and every suppressed message is reported by
    /// the next printed one.
    #[test]
    fn rate_limit_accounts_for_everything(
        interval in 1u64..5000,
        burst in 1u32..12,
        steps in proptest::collection::vec(0u64..800, 1..400),
    ) {
        let mut rl = RateLimit::with(interval, burst);
        let (mut now, mut window, mut in_window) = (0u64, None::<u64>, 0u32);
        let (mut suppressed, mut reported) = (0u64, 0u64);
        for step in steps {
            now += step;
            if window.is_none_or(|w| now - w >= interval) {
                window = Some(now);
                in_window = 0;
            }
            match rl.check(now) {
                Verdict::Print { suppressed: s } => {
                    in_window += 1;
                    prop_assert!(in_window <= burst);
                    reported += u64::from(s);
                    prop_assert_eq!(reported, suppressed, "all suppressed so far reported");
                }
                Verdict::Suppress => {
                    prop_assert_eq!(in_window, burst, "suppressed only after a full burst");
                    suppressed += 1;
                }
            }
        }
    }
}
