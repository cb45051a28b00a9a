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

use core::fmt;
use kernel::{
    c_str, debugfs,
    fs::File,
    new_poll_condvar,
    prelude::*,
    rbtree::RBTree,
    str::CString,
    sync::{
        aref::ARef,
        new_mutex,
        poll::{PollCondVar, PollTable},
        Arc, ArcBorrow, CondVarTimeoutResult, Mutex,
    },
    time::{msecs_to_jiffies, Instant, Monotonic},
};

// Library code shared by all of the project's modules, compiled in by path:
// not every module uses every item.
#[allow(dead_code, unreachable_pub)]
#[path = "../../rust"]
mod rpmsg_rs {
    pub mod bindings;
    pub mod driver;
    pub mod num;
    pub mod rpmsg;
    pub mod uapi;
    pub mod virtio;
}

#[allow(dead_code, unreachable_pub)]
#[path = "../../rust/proto/src"]
mod proto {
    pub mod addr;
    pub mod bufsz;
    pub mod msg;
    pub mod ratelimit;
}

use proto::bufsz::{BufSizes, OfferError, CONFIG_LEN, VIRTIO_RPMSG_F_BUFSZ};
use proto::msg::{
    Header, MsgError, NsMsg, FIRST_DYNAMIC_ADDR, HEADER_LEN, NS_ADDR, VIRTIO_ID_RPMSG,
    VIRTIO_RPMSG_F_NS,
};
use proto::ratelimit::{RateLimit, Verdict};
use rpmsg_rs::num::U64;
use rpmsg_rs::rpmsg::{
    Channel, ChannelInfo, ChannelKind, Endpoint, NewEndpoint, Transport, ADDR_ANY,
};
use rpmsg_rs::uapi::EPOLLOUT;
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
/// How long a blocking send waits for a transmit buffer.
const TX_TIMEOUT_MS: u32 = 15_000;
const RX_VQ: usize = 0;
const TX_VQ: usize = 1;

/// What the bus counts (`/sys/kernel/debug/virtio_rpmsg_rs/<vdev>/stats`).
#[derive(Default, Clone, Copy)]
struct RxStats {
    msgs: u64,
    dropped_bad_len: u64,
    dropped_bad_hdr: u64,
    dropped_no_ept: u64,
    dropped_cb_error: u64,
    ns_bad: u64,
    ns_created: u64,
    ns_destroyed: u64,
    /// The remote corrupted the used ring (an id out of range): the
    /// kernel's virtio_ring stopped the queue.
    ring_broken: u64,
}

struct Rx {
    vq: Option<Virtqueue>,
    bufs: Option<Arc<SharedBuffer>>,
    /// Where a message is copied before it is validated, so that the
    /// remote cannot change what was checked: one receive buffer's worth,
    /// too large for the stack once buffers grow.
    scratch: KVVec<u8>,
    acct: RxAccount,
}

/// What the receive path counts and how often it complains.
struct RxAccount {
    stats: RxStats,
    ratelimit: RateLimit,
}

struct Tx {
    vq: Option<Virtqueue>,
    bufs: Option<Arc<SharedBuffer>>,
    /// Transmit buffers never used yet: `next_fresh..num`.
    next_fresh: usize,
    /// Senders waiting for a buffer; tx-complete callbacks are on while
    /// there are any.
    sleepers: u32,
    /// A poller found no buffer and turned the tx-complete callback on: it
    /// stays on until a completion has woken the pollers.
    poll_armed: bool,
    msgs: u64,
    /// Messages sent after the device was removed, dropped.
    dropped_removed: u64,
}

/// The device's debugfs directory, which refers back to the device.
type DebugfsScope = Pin<KBox<debugfs::Scope<Arc<Vrp>>>>;

/// One virtio RPMsg device: the transport of its channels.
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
    /// Lock order: `tx_sleep`, then `tx`.
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
    #[pin]
    endpoints: Mutex<RBTree<u32, ARef<Endpoint<Vrp>>>>,
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

/// Logs against the virtio device while it exists.
macro_rules! vrp_log {
    ($mac:ident, $vrp:expr, $($arg:tt)*) => {
        if let Some(dev) = $vrp.dev() {
            $mac!(dev, $($arg)*);
        }
    };
}

impl Vrp {
    fn dev(&self) -> Option<ARef<kernel::device::Device>> {
        self.vdev.lock().clone()
    }

    fn rx_off(&self, idx: usize) -> usize {
        idx * self.sizes.rx
    }

    fn tx_off(&self, idx: usize) -> usize {
        self.nbufs * self.sizes.rx + idx * self.sizes.tx
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Logs bad input from the remote, rate-limited.
    fn complain(&self, acct: &mut RxAccount, args: fmt::Arguments<'_>) {
        if let Verdict::Print { suppressed } = acct.ratelimit.check(self.now_ms()) {
            if suppressed > 0 {
                vrp_log!(
                    dev_warn,
                    self,
                    "{} messages about bad frames suppressed\n",
                    suppressed
                );
            }
            vrp_log!(dev_warn, self, "{}\n", args);
        }
    }

    /// Handles everything the remote put into the receive queue.
    fn receive(this: ArcBorrow<'_, Self>) {
        let mut guard = this.rx.lock();
        let Rx {
            vq,
            bufs,
            scratch,
            acct,
        } = &mut *guard;
        let (Some(vq), Some(bufs)) = (vq.as_mut(), bufs.as_deref()) else {
            return;
        };
        let mut handled = 0;
        while let Some((token, used)) = vq.get_buf() {
            // Tokens are ours (buffer index + 1); the ring already checked
            // that the remote returned a buffer we gave it.
            let idx = token - 1;
            if idx >= this.nbufs {
                continue;
            }
            Self::receive_one(&this, acct, bufs, idx, used, scratch);
            // The buffer always goes back, whatever was in it.
            if vq
                .add_buf(bufs, this.rx_off(idx), this.sizes.rx, false, token)
                .is_err()
            {
                vrp_log!(dev_err, this, "cannot repost rx buffer {}\n", idx);
            }
            handled += 1;
        }
        if handled > 0 {
            vq.kick();
        }
        if acct.stats.ring_broken == 0 && vq.is_broken() {
            acct.stats.ring_broken = 1;
            vrp_log!(
                dev_err,
                this,
                "the remote corrupted the receive ring: queue stopped until the device is reset\n"
            );
        }
    }

    fn receive_one(
        this: &ArcBorrow<'_, Self>,
        acct: &mut RxAccount,
        bufs: &SharedBuffer,
        idx: usize,
        used: u32,
        scratch: &mut [u8],
    ) {
        let used = used as usize;
        if !(HEADER_LEN..=this.sizes.rx).contains(&used) {
            acct.stats.dropped_bad_len += 1;
            this.complain(
                acct,
                fmt!("dropped rx buffer {idx}: used length {used} out of range"),
            );
            return;
        }
        // One snapshot: the remote cannot change what we validate.
        let Some(msg) = scratch.get_mut(..used) else {
            return;
        };
        if bufs.read(this.rx_off(idx), msg).is_err() {
            return;
        }
        let hdr = match Header::parse(msg) {
            Ok(hdr) => hdr,
            Err(MsgError::BadLength) | Err(_) => {
                acct.stats.dropped_bad_hdr += 1;
                this.complain(
                    acct,
                    fmt!("dropped message: header length beyond the {used} bytes received"),
                );
                return;
            }
        };
        let len = usize::from(hdr.len);
        let payload = &mut msg[HEADER_LEN..HEADER_LEN + len];
        if hdr.dst == NS_ADDR && this.ns_enabled {
            Self::name_service(this, acct, payload);
            return;
        }
        let ept = this.endpoints.lock().get(&hdr.dst).cloned();
        let Some(ept) = ept else {
            acct.stats.dropped_no_ept += 1;
            this.complain(
                acct,
                fmt!(
                    "dropped message from {:#x}: no endpoint at {:#x}",
                    hdr.src,
                    hdr.dst
                ),
            );
            return;
        };
        acct.stats.msgs += 1;
        if ept.deliver(payload, hdr.src).is_err() {
            acct.stats.dropped_cb_error += 1;
        }
    }

    fn name_service(this: &ArcBorrow<'_, Self>, acct: &mut RxAccount, payload: &[u8]) {
        let ns = match NsMsg::parse(payload) {
            Ok(ns) => ns,
            Err(e) => {
                acct.stats.ns_bad += 1;
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
                dev_info,
                this,
                "destroying channel {} addr {:#x}\n",
                ns.name.as_str(),
                ns.addr
            );
            acct.stats.ns_destroyed += 1;
            if Channel::unregister(&vrp, &info).is_err() {
                vrp_log!(dev_err, this, "rpmsg_destroy_channel failed\n");
            }
        } else {
            vrp_log!(
                dev_info,
                this,
                "creating channel {} addr {:#x}\n",
                ns.name.as_str(),
                ns.addr
            );
            acct.stats.ns_created += 1;
            if let Err(e) = Channel::register(&vrp, &info, ChannelKind::Remote) {
                vrp_log!(dev_err, this, "rpmsg_create_channel failed: {:?}\n", e);
            }
        }
    }

    /// Takes a transmit buffer: a fresh one, or one the remote gave back.
    fn get_tx_buf(&self, tx: &mut Tx) -> Option<usize> {
        if tx.next_fresh < self.nbufs {
            tx.next_fresh += 1;
            return Some(tx.next_fresh - 1);
        }
        let vq = tx.vq.as_mut()?;
        while let Some((token, _)) = vq.get_buf() {
            let idx = token - 1;
            if idx < self.nbufs {
                return Some(idx);
            }
        }
        None
    }

    /// A transmit buffer came back: wakes whoever waits for one.
    fn tx_done(this: ArcBorrow<'_, Self>) {
        {
            let mut tx = this.tx.lock();
            if tx.poll_armed {
                tx.poll_armed = false;
                if tx.sleepers == 0 {
                    if let Some(vq) = tx.vq.as_mut() {
                        vq.disable_cb();
                    }
                }
            }
        }
        this.wake_senders();
    }

    /// Wakes senders and pollers waiting for a transmit buffer.
    fn wake_senders(&self) {
        // A sleeping sender checked for a buffer and went onto `sendq` under
        // `tx_sleep` (the condition variable queues it before unlocking):
        // taking it here means it either saw this buffer or is queued, so
        // the wake-up cannot fall in between.
        let _sleep = self.tx_sleep.lock();
        self.sendq.notify_all();
    }

    fn stats_show(this: &Arc<Vrp>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rx = this.rx.lock().acct.stats;
        let (tx_msgs, tx_dropped) = {
            let tx = this.tx.lock();
            (tx.msgs, tx.dropped_removed)
        };
        writeln!(f, "rx_msgs: {}\ntx_msgs: {}", U64(rx.msgs), U64(tx_msgs))?;
        writeln!(f, "tx_dropped_removed: {}", U64(tx_dropped))?;
        writeln!(
            f,
            "rx_dropped_bad_len: {}\nrx_dropped_bad_hdr: {}",
            U64(rx.dropped_bad_len),
            U64(rx.dropped_bad_hdr)
        )?;
        writeln!(
            f,
            "rx_dropped_no_ept: {}\nrx_dropped_cb_error: {}",
            U64(rx.dropped_no_ept),
            U64(rx.dropped_cb_error)
        )?;
        writeln!(
            f,
            "ns_bad: {}\nns_created: {}\nns_destroyed: {}",
            U64(rx.ns_bad),
            U64(rx.ns_created),
            U64(rx.ns_destroyed)
        )?;
        writeln!(f, "rx_ring_broken: {}", U64(rx.ring_broken))?;
        writeln!(f, "buffers: {}", this.nbufs)?;
        writeln!(
            f,
            "rx_buf_size: {}\ntx_buf_size: {}",
            this.sizes.rx, this.sizes.tx
        )?;
        let (declined, reason) = match this.bufsz {
            Bufsz::Declined(e) => (1, e.as_str()),
            _ => (0, "none"),
        };
        writeln!(f, "bufsz: {}", this.bufsz.as_str())?;
        writeln!(
            f,
            "bufsz_declined: {declined}\nbufsz_decline_reason: {reason}"
        )
    }
}

impl Transport for Vrp {
    fn parent(&self) -> Option<ARef<kernel::device::Device>> {
        self.dev()
    }

    fn ns_enabled(&self) -> bool {
        self.ns_enabled
    }

    fn bind(this: &Arc<Self>, src: u32, ept: NewEndpoint<Self>) -> Result<u32> {
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
        if src == ADDR_ANY || dst == ADDR_ANY {
            vrp_log!(
                dev_err,
                this,
                "invalid addr (src {:#x}, dst {:#x})\n",
                src,
                dst
            );
            return Err(EINVAL);
        }
        if data.len() > this.mtu() {
            vrp_log!(dev_err, this, "message is too big ({})\n", data.len());
            return Err(EMSGSIZE);
        }
        let hdr = Header {
            src,
            dst,
            len: data.len() as u16,
            flags: 0,
        };
        let mut left = msecs_to_jiffies(TX_TIMEOUT_MS);
        // Held from the second check on, until the sender sleeps.
        let mut sleep = None;
        let notify = loop {
            let mut tx = this.tx.lock();
            if tx.vq.is_none() {
                // The device is gone but the endpoint not yet: as upstream
                // (which queues on the reset device), the message is
                // accepted and lost; unlike upstream, it is counted. Writes
                // fail with EPIPE once the client destroyed its endpoint.
                tx.dropped_removed += 1;
                return Ok(());
            }
            if let Some(idx) = this.get_tx_buf(&mut tx) {
                let off = this.tx_off(idx);
                let Tx { vq, bufs, msgs, .. } = &mut *tx;
                let (Some(vq), Some(bufs)) = (vq.as_mut(), bufs.as_deref()) else {
                    return Err(ENODEV);
                };
                bufs.write(off, &hdr.to_bytes())?;
                bufs.write(off + HEADER_LEN, data)?;
                vq.add_buf(bufs, off, HEADER_LEN + data.len(), true, idx + 1)?;
                *msgs += 1;
                break vq.kick_prepare();
            }
            if !wait {
                return Err(ENOMEM);
            }
            let Some(mut sleeping) = sleep.take() else {
                // Check again holding `tx_sleep`, then sleep.
                drop(tx);
                sleep = Some(this.tx_sleep.lock());
                continue;
            };
            // Completions interrupt us only while someone waits for them.
            tx.sleepers += 1;
            let raced = tx.sleepers == 1 && tx.vq.as_mut().is_some_and(|vq| !vq.enable_cb());
            drop(tx);
            let res = if raced {
                CondVarTimeoutResult::Woken { jiffies: left }
            } else {
                this.sendq.wait_interruptible_timeout(&mut sleeping, left)
            };
            drop(sleeping);
            let mut tx = this.tx.lock();
            tx.sleepers -= 1;
            if tx.sleepers == 0 && !tx.poll_armed {
                if let Some(vq) = tx.vq.as_mut() {
                    vq.disable_cb();
                }
            }
            drop(tx);
            match res {
                CondVarTimeoutResult::Woken { jiffies } => left = jiffies,
                CondVarTimeoutResult::Signal { .. } => return Err(ERESTARTSYS),
                // Upstream returns -ERESTARTSYS here too, which reaches
                // userspace as errno 512 since no signal is pending.
                CondVarTimeoutResult::Timeout => {
                    vrp_log!(dev_err, this, "timeout waiting for a tx buffer\n");
                    return Err(ETIMEDOUT);
                }
            }
        };
        // Notifying the remote (the remoteproc driver's kick) is left out
        // of `tx` (dropped with the loop's guard): with several senders,
        // the next one adds its buffer meanwhile. Upstream holds its tx lock
        // across the kick.
        drop(sleep);
        if let Some(notify) = notify {
            notify.send();
        }
        Ok(())
    }

    fn poll(this: &Arc<Self>, file: &File, table: &PollTable<'_>) -> u32 {
        table.register_wait(file, &this.sendq);
        let mut tx = this.tx.lock();
        let fresh = tx.next_fresh < this.nbufs;
        // Enabling callbacks tells whether buffers came back, and makes the
        // next completion wake the poller.
        if fresh || tx.vq.as_mut().is_some_and(|vq| !vq.enable_cb()) {
            EPOLLOUT
        } else {
            tx.poll_armed = true;
            0
        }
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
                rx <- new_mutex!(Rx { vq: Some(rvq), bufs: Some(bufs.clone()), scratch, acct: RxAccount { stats: RxStats::default(), ratelimit: RateLimit::new() } }, "Vrp::rx"),
                tx <- new_mutex!(Tx { vq: Some(svq), bufs: Some(bufs), next_fresh: 0, sleepers: 0, poll_armed: false, msgs: 0, dropped_removed: 0 }, "Vrp::tx"),
                tx_sleep <- new_mutex!((), "Vrp::tx_sleep"),
                sendq <- new_poll_condvar!("Vrp::sendq"),
                endpoints <- new_mutex!(RBTree::new(), "Vrp::endpoints"),
                debugfs <- new_mutex!(None, "Vrp::debugfs"),
            }),
            GFP_KERNEL,
        )?;
        let name = CString::try_from_fmt(fmt!("{}", vdev.as_dev().name()))?;
        let scope = KBox::pin_init(
            root.scope(this.clone(), &name, |vrp, dir| {
                dir.read_callback_file(c_str!("stats"), vrp, &Vrp::stats_show);
            }),
            GFP_KERNEL,
        )?;
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
        vrp_log!(dev_info, this, "rpmsg host is online\n");
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
