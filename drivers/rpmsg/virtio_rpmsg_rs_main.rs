// SPDX-License-Identifier: GPL-2.0

//! The virtio RPMsg bus, in Rust: a drop-in equivalent of the kernel's
//! `virtio_rpmsg_bus`.
//!
//! Binds to the virtio device remoteproc creates for an RPMsg vdev, owns its
//! two virtqueues and the shared buffer pool, serves the name service at
//! address 53 itself, and plugs into the rpmsg core as a transport, so that
//! rpmsg_char, rpmsg_ctrl, rpmsg_tty and every other client driver work on
//! it unchanged. Everything the remote writes into shared memory is checked
//! before use; see Documentation/design.md.

use kernel::{
    c_str, debugfs,
    fs::File,
    new_poll_condvar,
    prelude::*,
    rbtree::RBTree,
    sync::{
        aref::ARef,
        new_mutex,
        poll::{PollCondVar, PollTable},
        Arc, ArcBorrow, Mutex,
    },
    time::{Instant, Monotonic},
};

// Library code shared by all of the project's modules, compiled in by path.
#[allow(unreachable_pub, reason = "pub for every module that mounts it")]
#[path = "../../rust"]
mod rpmsg_rs {
    pub mod bindings;
    pub mod driver;
    pub mod num;
    pub mod rpmsg;
    pub mod rpmsg_core;
    #[expect(dead_code, reason = "the bus uses only EPOLLOUT")]
    pub mod uapi;
    pub mod virtio;
    pub mod volatile;
}

#[allow(unreachable_pub, reason = "pub for every module that mounts it")]
#[path = "../../rust/proto/src"]
mod proto {
    pub mod addr;
    pub mod bufsz;
    pub mod msg;
    pub mod ratelimit;
}

use proto::bufsz::{BufSizes, OfferError, CONFIG_LEN, VIRTIO_RPMSG_F_BUFSZ};
use proto::msg::{FIRST_DYNAMIC_ADDR, NS_ADDR, VIRTIO_ID_RPMSG, VIRTIO_RPMSG_F_NS};
use rpmsg_rs::rpmsg::{
    Channel, ChannelKind, NewTransportEndpoint, Transport, TransportEndpoint, ADDR_ANY,
};
use rpmsg_rs::rpmsg_core::ChannelInfo;
use rpmsg_rs::virtio::{self, SharedBuffer, Virtqueue};

module! {
    type: BusModule,
    name: "virtio_rpmsg_rs",
    authors: ["rpmsg-rs developers"],
    description: "Virtio-based remote processor messaging bus, in Rust",
    license: "GPL",
}

/// Buffer count limit, as upstream: at most 512, half of them each way.
/// The sizes are 512 bytes unless the remote offers others
/// (`VIRTIO_RPMSG_F_BUFSZ`, see `proto::bufsz`).
const MAX_BUFS: usize = 512;
const RX_VQ: usize = 0;
const TX_VQ: usize = 1;

/// Logs against the virtio device while it exists: `vrp_log!(pr_err, vrp,
/// ...)` with a `kernel::device::Device` printing method.
macro_rules! vrp_log {
    ($method:ident, $vrp:expr, $($arg:tt)*) => {
        $vrp.log(kernel::device::Device::$method, fmt!($($arg)*))
    };
}

// The bus by concept: the crate root registers the driver, probes and
// removes devices, and binds endpoints.
#[path = "virtio_rpmsg_rs/ns.rs"]
mod ns;
#[path = "virtio_rpmsg_rs/rx.rs"]
mod rx;
#[path = "virtio_rpmsg_rs/stats.rs"]
mod stats;
#[path = "virtio_rpmsg_rs/tx.rs"]
mod tx;

use rx::Rx;
use stats::DebugfsScope;
use tx::Tx;

/// One virtio RPMsg device: the transport of its channels.
///
/// Lock order: `debugfs` before `rx` and `tx` (removing the stats file
/// waits for its readers); `rx` before `endpoints`, `tx_sleep` and `tx`
/// (endpoint callbacks and the name service run under `rx`, and may bind
/// endpoints or send); `tx_sleep` before `tx`; `vdev` last.
#[pin_data]
struct Vrp {
    /// The virtio device, until it is removed: this object may outlive
    /// it (endpoints and channels userspace still holds keep it), and must
    /// not keep the device, whose release remoteproc does not expect late.
    #[pin]
    vdev: Mutex<Option<ARef<kernel::device::Device>>>,
    ns_enabled: bool,
    /// Buffers per direction: the first `nbufs * sizes.rx` bytes of the
    /// pool receive, the rest transmits.
    nbufs: usize,
    sizes: BufSizes,
    /// What became of the remote's buffer size offer.
    bufsz: Bufsz,
    started: Instant<Monotonic>,
    #[pin]
    rx: Mutex<Rx>,
    /// Taken after `tx_sleep`.
    #[pin]
    tx: Mutex<Tx>,
    /// A sender that found no buffer checks again and goes to sleep on
    /// `sendq` holding this, not `tx`: a wait ends with its lock taken again
    /// before `finish_wait()`, which may spin on `sendq`'s own lock while a
    /// waker holds it, and with `tx` held every other sender would wait
    /// too. Whoever wakes sleepers takes it, so that a sender is either
    /// queued already or sees the change when it checks.
    #[pin]
    tx_sleep: Mutex<()>,
    /// Senders wait here for transmit buffers; poll() registers here too.
    #[pin]
    sendq: PollCondVar,
    /// Bound endpoints by address.
    #[pin]
    endpoints: Mutex<RBTree<u32, ARef<TransportEndpoint<Vrp>>>>,
    #[pin]
    debugfs: Mutex<Option<DebugfsScope>>,
}

/// The outcome of `VIRTIO_RPMSG_F_BUFSZ` for one device.
#[derive(Clone, Copy)]
enum Bufsz {
    NotOffered,
    Acked,
    /// Offered and declined (validate() logged why): 512-byte buffers.
    Declined(OfferError),
}

impl Bufsz {
    fn as_str(self) -> &'static str {
        match self {
            Bufsz::NotOffered => "not_offered",
            Bufsz::Acked => "acked",
            Bufsz::Declined(_) => "declined",
        }
    }
}

/// The buffer sizes the remote offers in its config space, checked.
fn read_offer(vdev: &virtio::Device) -> Result<BufSizes, OfferError> {
    let mut cfg = [0u8; CONFIG_LEN];
    vdev.read_config(0, &mut cfg)
        .map_err(|_| OfferError::Truncated)?;
    BufSizes::parse(&cfg)
}

/// The offer, checked, and its pool allocated once for the largest number
/// of buffers the bus uses: the ring sizes are not known before the
/// features are final, and a pool that cannot be had then must be
/// declined now.
fn check_offer(vdev: &virtio::Device) -> Result<BufSizes, OfferError> {
    let sizes = read_offer(vdev)?;
    let len = sizes.pool_len(MAX_BUFS / 2).ok_or(OfferError::PoolTooBig)?;
    vdev.alloc_shared(len).map_err(|_| OfferError::PoolTooBig)?;
    Ok(sizes)
}

impl Vrp {
    fn dev(&self) -> Option<ARef<kernel::device::Device>> {
        self.vdev.lock().clone()
    }

    /// [`vrp_log!`]'s body, out of line: every message shares one copy of
    /// taking and dropping the device reference.
    #[inline(never)]
    fn log(
        &self,
        print: fn(&kernel::device::Device, core::fmt::Arguments<'_>),
        args: core::fmt::Arguments<'_>,
    ) {
        if let Some(dev) = self.dev() {
            print(&dev, args);
        }
    }
}

impl Transport for Vrp {
    fn parent(&self) -> Option<ARef<kernel::device::Device>> {
        self.dev()
    }

    fn ns_enabled(&self) -> bool {
        self.ns_enabled
    }

    fn bind(this: &Arc<Self>, src: u32, ept: NewTransportEndpoint<Self>) -> Result<u32> {
        let mut epts = this.endpoints.lock();
        let addr = if src == ADDR_ANY {
            proto::addr::lowest_free(epts.keys().copied(), FIRST_DYNAMIC_ADDR)
                .map_err(|_| ENOSPC)?
        } else {
            src
        };
        if epts.get(&addr).is_some() || (addr == NS_ADDR && this.ns_enabled) {
            return Err(EBUSY);
        }
        epts.try_create_and_insert(addr, ept.at(addr), GFP_KERNEL)?;
        Ok(addr)
    }

    fn unbind(this: &Arc<Self>, addr: u32) {
        // Dropped outside the lock: the last reference frees the endpoint.
        let ept = this.endpoints.lock().remove(&addr);
        drop(ept);
    }

    fn send(this: &Arc<Self>, src: u32, dst: u32, data: &[u8], wait: bool) -> Result {
        Self::transmit(this, src, dst, data, wait)
    }

    fn poll(this: &Arc<Self>, file: &File, table: &PollTable<'_>) -> u32 {
        Self::poll_tx(this, file, table)
    }

    fn mtu(&self) -> usize {
        self.sizes.tx_payload()
    }
}

impl virtio::Driver for Vrp {
    const NAME: &'static CStr = c_str!("virtio_rpmsg_rs");
    const DEVICE_ID: u32 = VIRTIO_ID_RPMSG;
    const FEATURES: &'static [u32] = &[VIRTIO_RPMSG_F_NS, VIRTIO_RPMSG_F_BUFSZ];
    const VQ_NAMES: &'static [&'static CStr] = &[c_str!("input"), c_str!("output")];
    type Context = debugfs::Dir;

    fn validate(features: &mut virtio::Features<'_>) -> Result {
        if !features.has(VIRTIO_RPMSG_F_BUFSZ) {
            return Ok(());
        }
        if let Err(e) = check_offer(features.device()) {
            // Once per device: validate runs once per probe.
            dev_warn!(
                features.device().as_dev(),
                "declining VIRTIO_RPMSG_F_BUFSZ ({}: {:?}): using {}-byte buffers\n",
                e.as_str(),
                e,
                BufSizes::DEFAULT.rx
            );
            features.decline(VIRTIO_RPMSG_F_BUFSZ);
        }
        Ok(())
    }

    fn probe(
        vdev: &virtio::Device,
        mut vqs: KVec<Virtqueue>,
        root: &debugfs::Dir,
    ) -> Result<Arc<Self>> {
        let (Some(mut svq), Some(mut rvq)) = (vqs.pop(), vqs.pop()) else {
            return Err(EINVAL);
        };
        // As upstream: twice the receive ring's size, split evenly between
        // receiving and sending, at most MAX_BUFS.
        let total = (rvq.size() as usize * 2).min(MAX_BUFS);
        let nbufs = total / 2;
        if nbufs == 0 {
            return Err(EINVAL);
        }
        let (sizes, bufsz) = if vdev.has_feature(VIRTIO_RPMSG_F_BUFSZ) {
            // validate() accepted it; a remote that changed it since is
            // not one to talk to.
            let sizes = read_offer(vdev).map_err(|e| {
                dev_err!(vdev.as_dev(), "buffer size offer changed: {:?}\n", e);
                EINVAL
            })?;
            dev_info!(
                vdev.as_dev(),
                "buffers of {} bytes to receive, {} to send\n",
                sizes.rx,
                sizes.tx
            );
            (sizes, Bufsz::Acked)
        } else if vdev.offers_feature(VIRTIO_RPMSG_F_BUFSZ) {
            // Declined by validate(): only the counters want the reason.
            let reason = read_offer(vdev).err().unwrap_or(OfferError::PoolTooBig);
            (BufSizes::DEFAULT, Bufsz::Declined(reason))
        } else {
            (BufSizes::DEFAULT, Bufsz::NotOffered)
        };
        let pool = sizes.pool_len(nbufs).ok_or(EINVAL)?;
        let bufs = Arc::new(vdev.alloc_shared(pool)?, GFP_KERNEL)?;
        for idx in 0..nbufs {
            rvq.add_buf(&bufs, idx * sizes.rx, sizes.rx, false, idx + 1)?;
        }
        let scratch = KVVec::from_elem(0u8, sizes.rx, GFP_KERNEL)?;
        // Transmit completions are only wanted while a sender waits.
        svq.disable_cb();
        let ns_enabled = vdev.has_feature(VIRTIO_RPMSG_F_NS);
        let dev: ARef<kernel::device::Device> = vdev.as_dev().into();
        let this = Arc::pin_init(
            pin_init!(Vrp {
                vdev <- new_mutex!(Some(dev), "Vrp::vdev"),
                ns_enabled,
                nbufs,
                sizes,
                bufsz,
                started: Instant::now(),
                rx <- new_mutex!(Rx::new(rvq, bufs.clone(), scratch), "Vrp::rx"),
                tx <- new_mutex!(Tx::new(svq, bufs), "Vrp::tx"),
                tx_sleep <- new_mutex!((), "Vrp::tx_sleep"),
                sendq <- new_poll_condvar!("Vrp::sendq"),
                endpoints <- new_mutex!(RBTree::new(), "Vrp::endpoints"),
                debugfs <- new_mutex!(None, "Vrp::debugfs"),
            }),
            GFP_KERNEL,
        )?;
        let scope = Vrp::debugfs_dir(&this, root, vdev.as_dev())?;
        *this.debugfs.lock() = Some(scope);
        // The control device rpmsg_ctrl binds to, as upstream registers it.
        let ctrl = ChannelInfo::new(b"rpmsg_ctrl", 0, 0)?;
        if let Err(e) = Channel::register(&this, &ctrl, ChannelKind::Ctrl) {
            this.debugfs.lock().take();
            return Err(e);
        }
        Ok(this)
    }

    fn ready(this: ArcBorrow<'_, Self>, _vdev: &virtio::Device) {
        // Tell the remote it may start sending.
        if let Some(vq) = this.rx.lock().vq.as_mut() {
            vq.kick();
        }
        vrp_log!(pr_info, this, "rpmsg host is online\n");
    }

    fn vq_callback(this: ArcBorrow<'_, Self>, index: usize) {
        match index {
            RX_VQ => Self::receive(this),
            TX_VQ => Self::tx_done(this),
            _ => {}
        }
    }

    fn remove(this: ArcBorrow<'_, Self>, _vdev: &virtio::Device) {
        // The device is reset. Stop receiving, fail senders, then remove the
        // channels (their drivers destroy their endpoints), then let go of
        // the queues and the buffers.
        let (rvq, rbufs) = {
            let mut rx = this.rx.lock();
            (rx.vq.take(), rx.bufs.take())
        };
        let (svq, sbufs) = {
            let mut tx = this.tx.lock();
            (tx.vq.take(), tx.bufs.take())
        };
        this.wake_senders();
        let vrp: Arc<Vrp> = this.into();
        Channel::unregister_all(&vrp);
        let leftover = core::mem::take(&mut *this.endpoints.lock());
        drop(leftover);
        drop((rvq, svq, rbufs, sbufs));
        this.debugfs.lock().take();
        this.vdev.lock().take();
    }
}

struct BusModule {
    _registration: Pin<KBox<virtio::Registration<Vrp>>>,
}

impl kernel::Module for BusModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let root = debugfs::Dir::new(c_str!("virtio_rpmsg_rs"));
        Ok(BusModule {
            _registration: KBox::pin_init(virtio::Registration::new(module, root), GFP_KERNEL)?,
        })
    }
}
