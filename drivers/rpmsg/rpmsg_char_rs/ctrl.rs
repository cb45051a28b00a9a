// SPDX-License-Identifier: GPL-2.0

//! Control devices, `/dev/rpmsg_ctrlN` (the `rpmsg_ctrl` driver): create
//! and destroy endpoint devices and channels on their bus.

use super::eptdev::EptDev;
use super::Shared;
use crate::rpmsg_rs::chrdev::{self, CharDevice};
use crate::rpmsg_rs::rpmsg_driver::{self, ClientDevice, NoHandler};
use crate::rpmsg_rs::uapi::{
    self, RPMSG_CREATE_DEV_IOCTL, RPMSG_CREATE_EPT_IOCTL, RPMSG_RELEASE_DEV_IOCTL,
};
use kernel::{
    c_str,
    fs::File,
    prelude::*,
    str::BStr,
    sync::{aref::ARef, new_mutex, Arc, ArcBorrow, Mutex},
};

/// What a control device's `state` protects.
struct CtrlState {
    /// Endpoint devices created through this control device.
    epts: KVec<Arc<EptDev>>,
    chardev: Option<CharDevice<CtrlDev>>,
}

/// `/dev/rpmsg_ctrlN`.
///
/// Lock order: `state` before the `state` of the endpoint devices it
/// created.
#[pin_data(PinnedDrop)]
struct CtrlDev {
    shared: Arc<Shared>,
    rpdev: ARef<ClientDevice>,
    id: u32,
    minor: u32,
    #[pin]
    state: Mutex<CtrlState>,
}

#[pinned_drop]
impl PinnedDrop for CtrlDev {
    fn drop(self: Pin<&mut Self>) {
        self.shared.ctrl.free(self.minor, self.id);
    }
}

// Upstream's control device has no read, write or poll operations: left
// out of the file operations (read/write fail with EINVAL, poll gives the
// default mask, epoll_ctl fails with EPERM), as in C.
#[vtable]
impl chrdev::Ops for CtrlDev {
    fn ioctl(this: ArcBorrow<'_, Self>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        // As upstream, the argument is read before the command is looked at.
        let info = uapi::read_endpoint_info(arg)?;

        let mut st = this.state.lock();
        if st.chardev.is_none() {
            // The control device was removed with its bus: a file that is
            // still open must not reach the bus any more.
            return Err(ENODEV);
        }
        match cmd {
            RPMSG_CREATE_EPT_IOCTL => {
                // Forget devices destroyed meanwhile (RPMSG_DESTROY_EPT_IOCTL)
                // first: one no file holds any more gives its number back
                // for this one, as upstream reuses the lowest free number.
                st.epts.retain(|e| e.state.lock().rpdev.is_some());
                let Some(parent) = st.chardev.as_ref() else {
                    return Err(ENODEV);
                };
                let ept = EptDev::create(&this.shared, &this.rpdev, parent.device(), info, false)?;
                st.epts.push(ept, GFP_KERNEL)?;
                Ok(0)
            }
            RPMSG_CREATE_DEV_IOCTL => match this.rpdev.create_channel(&info) {
                Ok(()) => Ok(0),
                Err(e) => {
                    dev_err!(
                        this.rpdev.as_dev(),
                        "failed to create {} channel\n",
                        BStr::from_bytes(info.name())
                    );
                    Err(e)
                }
            },
            RPMSG_RELEASE_DEV_IOCTL => {
                this.rpdev
                    .release_channel(&info)
                    .map(|()| 0)
                    .inspect_err(|e| {
                        dev_err!(
                            this.rpdev.as_dev(),
                            "failed to release {} channel ({:?})\n",
                            BStr::from_bytes(info.name()),
                            e
                        );
                    })
            }
            _ => Err(EINVAL),
        }
    }
}

/// The `rpmsg_ctrl` driver, bound by the bus through `driver_override`.
pub(crate) struct CtrlDriver {
    ctrl: Arc<CtrlDev>,
}

impl rpmsg_driver::Driver for CtrlDriver {
    const NAME: &'static CStr = c_str!("rpmsg_ctrl");
    const IDS: &'static [&'static CStr] = &[];
    type DefaultHandler = NoHandler;
    const DEFAULT_ENDPOINT: bool = false;
    type Context = Arc<Shared>;

    fn probe(rpdev: &ClientDevice, shared: &Arc<Shared>) -> Result<Pin<KBox<Self>>> {
        let (minor, id) = shared.ctrl.alloc()?;
        let ctrl = Arc::pin_init(
            pin_init!(CtrlDev {
                shared: shared.clone(),
                rpdev: rpdev.into(),
                id,
                minor,
                state <- new_mutex!(CtrlState { epts: KVec::new(), chardev: None }),
            }),
            GFP_KERNEL,
        )?;
        let chardev = CharDevice::register(
            ctrl.clone(),
            &shared.ctrl.region,
            minor,
            rpdev.as_dev(),
            fmt!("rpmsg_ctrl{id}"),
        )?;
        ctrl.state.lock().chardev = Some(chardev);
        Ok(KBox::pin(CtrlDriver { ctrl }, GFP_KERNEL)?)
    }

    fn remove(this: Pin<KBox<Self>>, _rpdev: &ClientDevice) {
        let (epts, chardev) = {
            let mut st = this.ctrl.state.lock();
            (core::mem::take(&mut st.epts), st.chardev.take())
        };
        for ept in epts.iter() {
            ept.destroy();
        }
        drop(chardev);
    }
}
