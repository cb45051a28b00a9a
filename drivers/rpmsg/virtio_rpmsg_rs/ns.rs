// SPDX-License-Identifier: GPL-2.0

//! The name service at address 53: the remote announces and withdraws its
//! channels.

use super::rx::RxAccount;
use super::Vrp;
use crate::proto::msg::NsMsg;
use crate::rpmsg_rs::num::bump;
use crate::rpmsg_rs::rpmsg::{Channel, ChannelKind, ADDR_ANY};
use crate::rpmsg_rs::rpmsg_core::ChannelInfo;
use kernel::{
    prelude::*,
    sync::{Arc, ArcBorrow},
};

impl Vrp {
    pub(crate) fn name_service(this: &ArcBorrow<'_, Self>, acct: &mut RxAccount, payload: &[u8]) {
        let ns = match NsMsg::parse(payload) {
            Ok(ns) => ns,
            Err(e) => {
                bump(&mut acct.stats.ns_bad);
                this.complain(
                    acct,
                    fmt!(
                        "dropped malformed name-service message ({} bytes): {e:?}",
                        payload.len()
                    ),
                );
                return;
            }
        };
        let Ok(info) = ChannelInfo::new(ns.name.as_bytes(), ADDR_ANY, ns.addr) else {
            return;
        };
        let vrp: Arc<Vrp> = (*this).into();
        // Upstream's messages, both ways.
        let (doing, verb, counter) = if ns.destroy {
            ("destroying", "destroy", &mut acct.stats.ns_destroyed)
        } else {
            ("creating", "create", &mut acct.stats.ns_created)
        };
        vrp_log!(
            pr_info,
            this,
            "{} channel {} addr {:#x}\n",
            doing,
            ns.name.as_str(),
            ns.addr
        );
        bump(counter);
        let res = if ns.destroy {
            Channel::unregister(&vrp, &info)
        } else {
            Channel::register(&vrp, &info, ChannelKind::Remote).map(drop)
        };
        if let Err(e) = res {
            vrp_log!(pr_err, this, "rpmsg_{}_channel failed: {:?}\n", verb, e);
        }
    }
}
