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
        if ns.destroy {
            vrp_log!(
                pr_info,
                this,
                "destroying channel {} addr {:#x}\n",
                ns.name.as_str(),
                ns.addr
            );
            bump(&mut acct.stats.ns_destroyed);
            if Channel::unregister(&vrp, &info).is_err() {
                vrp_log!(pr_err, this, "rpmsg_destroy_channel failed\n");
            }
        } else {
            vrp_log!(
                pr_info,
                this,
                "creating channel {} addr {:#x}\n",
                ns.name.as_str(),
                ns.addr
            );
            bump(&mut acct.stats.ns_created);
            if let Err(e) = Channel::register(&vrp, &info, ChannelKind::Remote) {
                vrp_log!(pr_err, this, "rpmsg_create_channel failed: {:?}\n", e);
            }
        }
    }
}
