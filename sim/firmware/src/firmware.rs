// SPDX-License-Identifier: GPL-2.0

//! The emulated RPMsg firmware of a simulated remote processor.
//!
//! It owns the device side of both vrings and runs an RPMsg remote on them:
//! endpoints bound to services, the name service at address 53, and the
//! services themselves (echo, sink, source). The kernel module calls
//! [`Firmware::service`] whenever the host kicks; it returns which
//! interrupts to raise.
//!
//! The host is not trusted: ring contents, message headers and name-service
//! messages are all checked, and what fails is counted and dropped. A
//! buffer taken from the host always goes back to it.
//!
//! The firmware can also misbehave on purpose ([`Firmware::inject`]): one
//! [`Fault`] at a time, in the order they were asked for, so that tests can
//! show the host survives everything a remote can write into shared memory.

use super::mem::{DeviceMemory, OutOfBounds};
use super::rsc::{
    self, VdevState, VringSpec, CONFIG_ROOM, FEATURE_BUFSZ, FEATURE_NS, STATUS_DRIVER_OK,
};
use super::vring::{DeviceQueue, Layout, Popped, VringError};
use crate::proto::addr::{AddrError, AddrSet};
use crate::proto::bufsz::{self, BufSizes};
use crate::proto::msg::{
    Header, Name, NsMsg, ADDR_ANY, HEADER_LEN, NAME_SIZE, NS_ADDR, NS_MSG_LEN,
};

/// Largest buffer the firmware handles: the largest a host accepts. The
/// scratch space [`Firmware::serve`] wants.
pub const MAX_BUF: usize = bufsz::MAX_BUF_SIZE;
pub const MAX_ENDPOINTS: usize = 32;
pub const MAX_HOST_CHANNELS: usize = 32;
/// Announcements waiting for rx buffers.
const NS_QUEUE: usize = 2 * MAX_ENDPOINTS;
/// Vring index of the queue the host receives on (device writes).
pub const TO_HOST: usize = 0;
/// Vring index of the queue the host sends on (device reads).
pub const FROM_HOST: usize = 1;
/// Faults that may wait to be applied.
pub const MAX_FAULTS: usize = 16;
/// Where a [`Fault::Dst`] frame goes: a host address nobody listens on.
pub const FAULT_DST: u32 = 0xdead;
/// The address malformed name-service messages announce and come from.
/// Outside the firmware's address range, so no real endpoint has it.
pub const FAULT_NS_ADDR: u32 = 0xbad;
/// The used length a [`Fault::UsedLenShort`] frame reports.
pub const FAULT_SHORT_LEN: u32 = 8;

/// What an endpoint does with what it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Replies to the sender with the same payload.
    Echo,
    /// Counts and drops.
    Sink,
    /// Sends on command; counts and drops what it receives.
    Source,
}

impl Service {
    pub fn parse(s: &str) -> Option<Service> {
        match s {
            "echo" => Some(Service::Echo),
            "sink" => Some(Service::Sink),
            "source" => Some(Service::Source),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Service::Echo => "echo",
            Service::Sink => "sink",
            Service::Source => "source",
        }
    }
}

/// A deliberate misbehaviour of the remote, applied once.
///
/// Frame faults corrupt what the remote writes for the next message it
/// sends to the host, whatever that message is; the `Ns*` faults are a
/// malformed name-service message of their own, sent to [`NS_ADDR`] from
/// [`FAULT_NS_ADDR`] in addition to the real traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Used length larger than the buffer: the buffer's length + 1, and
    /// `u32::MAX` every second time.
    UsedLen,
    /// Used length shorter than a header ([`FAULT_SHORT_LEN`]); the whole
    /// message is still written into the buffer.
    UsedLenShort,
    /// Header `len` one more than the used length covers.
    HdrLen,
    /// Header `dst` is [`FAULT_DST`].
    Dst,
    /// Used element id equal to the ring size (out of range), followed by
    /// a correct element for the same message, so that the buffer still
    /// goes back. The kernel's `virtio_ring` marks a queue that sees such
    /// an id broken: its host cannot survive this one.
    UsedId,
    /// Name-service message of 39 bytes.
    NsShort,
    /// Name-service message of 41 bytes.
    NsLong,
    /// Name-service message whose 32 name bytes have no NUL.
    NsUnterminated,
    /// Name-service message with flags 2.
    NsFlags,
    /// Name-service message with an empty name.
    NsEmpty,
}

impl Fault {
    pub const COUNT: usize = 10;
    /// Every fault, in the order of their counters.
    pub const ALL: [Fault; Fault::COUNT] = [
        Fault::UsedLen,
        Fault::UsedLenShort,
        Fault::HdrLen,
        Fault::Dst,
        Fault::UsedId,
        Fault::NsShort,
        Fault::NsLong,
        Fault::NsUnterminated,
        Fault::NsFlags,
        Fault::NsEmpty,
    ];

    pub fn parse(s: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Fault::UsedLen => "used_len",
            Fault::UsedLenShort => "used_len_short",
            Fault::HdrLen => "hdr_len",
            Fault::Dst => "dst",
            Fault::UsedId => "used_id",
            Fault::NsShort => "ns_short",
            Fault::NsLong => "ns_long",
            Fault::NsUnterminated => "ns_unterminated",
            Fault::NsFlags => "ns_flags",
            Fault::NsEmpty => "ns_empty",
        }
    }

    /// Index of the fault's counter in [`Stats::injected`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the fault is a message of its own rather than a corruption
    /// of the next one.
    pub fn is_ns(self) -> bool {
        matches!(
            self,
            Fault::NsShort
                | Fault::NsLong
                | Fault::NsUnterminated
                | Fault::NsFlags
                | Fault::NsEmpty
        )
    }

    /// Writes the malformed name-service message of an `Ns*` fault into
    /// `out` and returns its length; 0 for frame faults.
    pub fn ns_message(self, out: &mut [u8; NS_MSG_LEN + 1]) -> usize {
        let (name, flags, len): (&[u8], u32, usize) = match self {
            Fault::NsShort => (b"rpmsg-fault-short", 0, NS_MSG_LEN - 1),
            Fault::NsLong => (b"rpmsg-fault-long", 0, NS_MSG_LEN + 1),
            Fault::NsUnterminated => (b"rpmsg-fault-unterminated-name-32", 0, NS_MSG_LEN),
            Fault::NsFlags => (b"rpmsg-fault-flags", 2, NS_MSG_LEN),
            Fault::NsEmpty => (b"", 0, NS_MSG_LEN),
            _ => return 0,
        };
        out.fill(0);
        out[..name.len()].copy_from_slice(name);
        out[NAME_SIZE..NAME_SIZE + 4].copy_from_slice(&FAULT_NS_ADDR.to_le_bytes());
        out[NAME_SIZE + 4..NS_MSG_LEN].copy_from_slice(&flags.to_le_bytes());
        len
    }
}

/// Faults waiting to be applied, oldest first.
#[derive(Debug, Clone, Copy)]
struct FaultQueue {
    slots: [Option<Fault>; MAX_FAULTS],
    head: usize,
    len: usize,
}

impl FaultQueue {
    const fn new() -> FaultQueue {
        FaultQueue {
            slots: [None; MAX_FAULTS],
            head: 0,
            len: 0,
        }
    }

    fn push(&mut self, f: Fault) -> Result<(), FwError> {
        if self.len == MAX_FAULTS {
            return Err(FwError::Busy);
        }
        self.slots[(self.head + self.len) % MAX_FAULTS] = Some(f);
        self.len += 1;
        Ok(())
    }

    fn peek(&self) -> Option<Fault> {
        if self.len == 0 {
            return None;
        }
        self.slots[self.head]
    }

    fn pop(&mut self) {
        if self.len > 0 {
            self.slots[self.head] = None;
            self.head = (self.head + 1) % MAX_FAULTS;
            self.len -= 1;
        }
    }
}

/// Errors of the control operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FwError {
    Invalid,
    Exists,
    NotFound,
    Busy,
    NoSpace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub addr: u32,
    pub service: Service,
    pub name: Name,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostChannel {
    pub addr: u32,
    pub name: Name,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub msgs: u64,
    pub bytes: u64,
}

impl Counter {
    fn add(&mut self, len: usize) {
        self.msgs += 1;
        self.bytes += len as u64;
    }
}

/// Everything the firmware counts. Message counters count payload bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub rx: Counter,
    pub tx: Counter,
    pub echo_rx: Counter,
    pub echo_tx: Counter,
    pub sink_rx: Counter,
    pub source_rx: Counter,
    pub source_tx: Counter,
    pub ns_tx_create: u64,
    pub ns_tx_destroy: u64,
    pub ns_rx_create: u64,
    pub ns_rx_destroy: u64,
    pub unknown_dst: u64,
    pub bad_msg: u64,
    pub bad_desc: u64,
    /// Replies lost because the host's buffer was too small for them.
    pub dropped_replies: u64,
    /// Times a vring was found corrupt and service stopped.
    pub broken_rings: u64,
    /// Times the host driver made the device ready and the remote started
    /// serving it (first probe, a probe after a reset or an unbind).
    pub host_starts: u64,
    /// Faults applied, by [`Fault::index`].
    pub injected: [u64; Fault::COUNT],
}

#[derive(Debug, Clone, Copy)]
struct SourceRun {
    from: u32,
    to: u32,
    next: u32,
    count: u32,
    size: u16,
}

struct Queues {
    to_host: DeviceQueue,
    from_host: DeviceQueue,
}

/// Which interrupts the device raises after a service pass.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Notify {
    /// Raise the interrupt of the host's receive queue (vring 0).
    pub to_host: bool,
    /// Raise the interrupt of the host's send queue (vring 1).
    pub from_host: bool,
}

/// What the firmware offers for `VIRTIO_RPMSG_F_BUFSZ`, as the remote
/// names the directions. Any values: a malformed offer is how a host's
/// refusal is tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufszOffer {
    pub version: u16,
    /// Remote -> host.
    pub txbuf_size: u32,
    /// Host -> remote.
    pub rxbuf_size: u32,
    /// Bytes of config space the resource table declares, at most
    /// [`bufsz::CONFIG_LEN`]: fewer make a config space too short.
    pub config_len: usize,
}

impl BufszOffer {
    /// A well-formed offer of these sizes.
    pub fn new(txbuf_size: u32, rxbuf_size: u32) -> BufszOffer {
        BufszOffer {
            version: bufsz::VERSION,
            txbuf_size,
            rxbuf_size,
            config_len: bufsz::CONFIG_LEN,
        }
    }

    /// The vdev's config space: returns its length.
    pub fn config(&self, out: &mut [u8; CONFIG_ROOM]) -> usize {
        out.fill(0);
        let cfg = BufSizes::offer(self.version, self.txbuf_size, self.rxbuf_size);
        let len = self.config_len.min(cfg.len());
        out[..len].copy_from_slice(&cfg[..len]);
        len
    }

    /// The sizes, host's view, if a host may accept them.
    fn sizes(&self) -> Option<BufSizes> {
        let mut cfg = [0u8; CONFIG_ROOM];
        let len = self.config(&mut cfg);
        BufSizes::parse(&cfg[..len]).ok()
    }
}

/// The firmware of one remote processor.
pub struct Firmware {
    vrings: [VringSpec; 2],
    rsc_da: u64,
    endpoints: [Option<Endpoint>; MAX_ENDPOINTS],
    addrs: AddrSet<32>,
    host_channels: [Option<HostChannel>; MAX_HOST_CHANNELS],
    ns_queue: [Option<NsMsg>; NS_QUEUE],
    ns_head: usize,
    ns_len: usize,
    source: Option<SourceRun>,
    queues: Option<Queues>,
    /// Name service negotiated: the host wants announcements.
    ns_enabled: bool,
    /// Vring notify ids as the host assigned them.
    notifyid: [u32; 2],
    /// The rings were found corrupt; nothing is served until the host
    /// resets the device.
    broken: bool,
    faults: FaultQueue,
    /// The remote takes nothing from the host's send queue.
    stalled: bool,
    /// The `VIRTIO_RPMSG_F_BUFSZ` offer of this boot, if any.
    offer: Option<BufszOffer>,
    /// Buffer sizes of this boot, host's view: the offer's once the host
    /// acknowledged it, else the default.
    sizes: BufSizes,
    pub stats: Stats,
}

impl Firmware {
    /// A firmware whose resource table lives at `rsc_da` and declares
    /// `vrings`, initialised in place: a `Firmware` is several KiB, and a
    /// kernel stack is 8 KiB on ARMv7, so the kernel must never hold one by
    /// value (moving one into its final place took about 18 KiB of stack).
    pub fn init(rsc_da: u64, vrings: [VringSpec; 2]) -> impl pin_init::Init<Firmware> {
        pin_init::init!(Firmware {
            vrings,
            rsc_da,
            endpoints <- pin_init::init_array_from_fn(|_| None),
            // Addresses 0..2048: reserved ones below 1024, dynamic above.
            addrs: AddrSet::new(0),
            host_channels <- pin_init::init_array_from_fn(|_| None),
            ns_queue <- pin_init::init_array_from_fn(|_| None),
            ns_head: 0,
            ns_len: 0,
            source: None,
            queues: None,
            ns_enabled: false,
            notifyid: [0; 2],
            broken: false,
            faults: FaultQueue::new(),
            stalled: false,
            offer: None,
            sizes: BufSizes::DEFAULT,
            stats: Stats::default(),
        })
    }

    /// The features the firmware offers without a buffer size offer.
    pub const FEATURES: u32 = FEATURE_NS;

    /// The features the firmware offers in its resource table.
    pub fn features(&self) -> u32 {
        match self.offer {
            Some(_) => Self::FEATURES | FEATURE_BUFSZ,
            None => Self::FEATURES,
        }
    }

    /// Sets the buffer size offer (`None`: the feature is not offered).
    /// Only between boots: the resource table is built from it, and the
    /// host's answer is checked against it.
    pub fn set_offer(&mut self, offer: Option<BufszOffer>) {
        self.offer = offer;
    }

    /// Buffer sizes in use, host's view (the default until the host
    /// acknowledges an offer).
    pub fn sizes(&self) -> BufSizes {
        self.sizes
    }

    /// Forgets every endpoint, queue, pending fault and a stall: the
    /// processor (re)boots. The statistics stay. Field by field, in place:
    /// no temporary `Firmware` on the stack (see [`Self::init`]); the
    /// pattern names every field, so a new one cannot be forgotten here.
    pub fn reset(&mut self) {
        let Firmware {
            vrings: _,
            rsc_da: _,
            endpoints,
            addrs,
            host_channels,
            ns_queue,
            ns_head,
            ns_len,
            source,
            queues,
            ns_enabled,
            notifyid,
            broken,
            faults,
            stalled,
            offer: _,
            sizes,
            stats: _,
        } = self;
        endpoints.fill(None);
        *addrs = AddrSet::new(0);
        host_channels.fill(None);
        ns_queue.fill(None);
        *ns_head = 0;
        *ns_len = 0;
        *source = None;
        *queues = None;
        *ns_enabled = false;
        *notifyid = [0; 2];
        *broken = false;
        *faults = FaultQueue::new();
        *stalled = false;
        *sizes = BufSizes::DEFAULT;
    }

    /// Whether the rings are being served.
    pub fn running(&self) -> bool {
        self.queues.is_some()
    }

    /// The notify ids of the two vrings, valid while [`Self::running`].
    pub fn notifyid(&self, vring: usize) -> u32 {
        self.notifyid[vring]
    }

    pub fn endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        self.endpoints.iter().flatten()
    }

    pub fn host_channels(&self) -> impl Iterator<Item = &HostChannel> {
        self.host_channels.iter().flatten()
    }

    /// Remaining messages of the current source run.
    pub fn source_pending(&self) -> u32 {
        self.source.map_or(0, |s| s.count - s.next)
    }

    /// Queues `fault` behind those already pending. Frame faults apply to
    /// the next message sent once every fault before them is applied; a
    /// name-service fault goes out at the first service pass that finds it
    /// first in line and an rx buffer free.
    pub fn inject(&mut self, fault: Fault) -> Result<(), FwError> {
        self.faults.push(fault)
    }

    /// Faults not applied yet.
    pub fn faults_pending(&self) -> usize {
        self.faults.len
    }

    /// Stops taking messages from the host's send queue (vring 1): what
    /// the host sends stays there, so it runs out of transmit buffers.
    /// Everything else goes on: announcements, the source, and the
    /// remote's own messages. Lasts until [`Self::resume`] or a reboot;
    /// a host that resets the device meanwhile finds it still stalled.
    pub fn stall(&mut self) {
        self.stalled = true;
    }

    /// Takes messages from the host again, starting with those that waited,
    /// in order, at the next service pass.
    pub fn resume(&mut self) {
        self.stalled = false;
    }

    pub fn stalled(&self) -> bool {
        self.stalled
    }

    /// Receive buffers the host has made available and the remote not yet
    /// used; `None` while not serving. With the host idle, every buffer it
    /// owns for receiving should be here: fewer means the host lost some.
    pub fn tx_bufs_avail<M: DeviceMemory>(&self, mem: &M) -> Option<u16> {
        self.queues.as_ref()?.to_host.pending(mem).ok()
    }

    /// Creates an endpoint and announces it (now, or when the host driver
    /// is ready). `addr` is [`ADDR_ANY`] for the lowest free address.
    pub fn announce(&mut self, name: &str, service: Service, addr: u32) -> Result<u32, FwError> {
        let name = Name::new(name.as_bytes()).map_err(|_| FwError::Invalid)?;
        if addr == NS_ADDR || self.endpoints().any(|e| e.name == name) {
            return Err(FwError::Exists);
        }
        let slot = self
            .endpoints
            .iter()
            .position(Option::is_none)
            .ok_or(FwError::NoSpace)?;
        let addr = self.addrs.alloc(addr).map_err(|e| match e {
            AddrError::InUse => FwError::Exists,
            AddrError::Exhausted => FwError::NoSpace,
            AddrError::OutOfRange => FwError::Invalid,
        })?;
        self.endpoints[slot] = Some(Endpoint {
            addr,
            service,
            name,
        });
        if self.running() {
            self.queue_ns(NsMsg {
                name,
                addr,
                destroy: false,
            })?;
        }
        Ok(addr)
    }

    /// Announces the destruction of an endpoint and removes it.
    pub fn destroy(&mut self, name: &str) -> Result<(), FwError> {
        let slot = self
            .endpoints
            .iter()
            .position(|e| e.is_some_and(|e| e.name.as_bytes() == name.as_bytes()))
            .ok_or(FwError::NotFound)?;
        let Some(ept) = self.endpoints[slot] else {
            return Err(FwError::NotFound);
        };
        if self.running() {
            self.queue_ns(NsMsg {
                name: ept.name,
                addr: ept.addr,
                destroy: true,
            })?;
        }
        self.endpoints[slot] = None;
        self.addrs.free(ept.addr);
        if self.source.is_some_and(|s| s.from == ept.addr) {
            self.source = None;
        }
        Ok(())
    }

    /// Starts sending `count` messages of `size` bytes from the source
    /// endpoint at `from` to host address `to`.
    pub fn start_source(
        &mut self,
        from: u32,
        to: u32,
        count: u32,
        size: usize,
    ) -> Result<(), FwError> {
        if !(4..=self.sizes.rx_payload()).contains(&size) || count == 0 || to == ADDR_ANY {
            return Err(FwError::Invalid);
        }
        if !self
            .endpoints()
            .any(|e| e.addr == from && e.service == Service::Source)
        {
            return Err(FwError::NotFound);
        }
        if self.source_pending() > 0 {
            return Err(FwError::Busy);
        }
        // `size` is at most a buffer of at most MAX_BUF: within u16.
        self.source = Some(SourceRun {
            from,
            to,
            next: 0,
            count,
            size: size as u16,
        });
        Ok(())
    }

    fn queue_ns(&mut self, msg: NsMsg) -> Result<(), FwError> {
        if self.ns_len == NS_QUEUE {
            return Err(FwError::Busy);
        }
        self.ns_queue[(self.ns_head + self.ns_len) % NS_QUEUE] = Some(msg);
        self.ns_len += 1;
        Ok(())
    }

    /// Follows the device status the host wrote into the resource table:
    /// starts serving at DRIVER_OK, stops when the host resets the device.
    fn sync_status<M: DeviceMemory>(&mut self, mem: &M) {
        let state = match rsc::read_state(mem, self.rsc_da, &self.vrings, self.features()) {
            Ok(state) => state,
            Err(_) => {
                // A host that rewrites the vrings gets no service at all.
                self.stop_queues();
                self.stats.broken_rings += 1;
                self.broken = true;
                return;
            }
        };
        let ready = state.status & STATUS_DRIVER_OK != 0;
        if !ready {
            self.stop_queues();
            self.broken = false;
            return;
        }
        if self.queues.is_some() && !self.rings_intact(mem) {
            // The host reset the device and set it up again between two
            // kicks (a driver unbound and bound again): what it knew is
            // gone, so start over as after a reset that was seen.
            self.stop_queues();
        }
        if self.queues.is_none() && !self.broken {
            self.start_queues(mem, state);
        }
    }

    /// Whether both rings still carry the used indices this remote last
    /// published. A ring that cannot be read counts as reinitialised; the
    /// restart then finds out whether it can be served.
    fn rings_intact<M: DeviceMemory>(&self, mem: &M) -> bool {
        self.queues.as_ref().is_some_and(|q| {
            q.to_host.intact(mem) == Ok(true) && q.from_host.intact(mem) == Ok(true)
        })
    }

    fn start_queues<M: DeviceMemory>(&mut self, mem: &M, state: VdevState) {
        let queue = |spec: &VringSpec| {
            Layout::new(u64::from(spec.da), spec.num, spec.align)
                .and_then(|l| DeviceQueue::new(mem, l))
        };
        let (Ok(to_host), Ok(from_host)) =
            (queue(&self.vrings[TO_HOST]), queue(&self.vrings[FROM_HOST]))
        else {
            self.stats.broken_rings += 1;
            self.broken = true;
            return;
        };
        self.queues = Some(Queues { to_host, from_host });
        self.stats.host_starts += 1;
        self.notifyid = state.notifyid;
        self.ns_enabled = state.gfeatures & FEATURE_NS != 0;
        // A host that acknowledges a malformed offer gets the default: it
        // should have declined (and the remote cannot tell it otherwise).
        self.sizes = self
            .offer
            .filter(|_| state.gfeatures & FEATURE_BUFSZ != 0)
            .and_then(|o| o.sizes())
            .unwrap_or(BufSizes::DEFAULT);
        // A (re)started host driver knows no channels: announce them all.
        self.ns_len = 0;
        let epts = self.endpoints;
        for ept in epts.iter().flatten() {
            let _ = self.queue_ns(NsMsg {
                name: ept.name,
                addr: ept.addr,
                destroy: false,
            });
        }
    }

    fn stop_queues(&mut self) {
        self.queues = None;
        self.ns_len = 0;
        self.host_channels = [None; MAX_HOST_CHANNELS];
    }

    /// [`Self::serve`] with scratch space on the stack: not in the kernel,
    /// whose stack is far too small for it.
    #[cfg(not(MODULE))]
    pub fn service<M: DeviceMemory>(&mut self, mem: &M) -> Notify {
        let mut scratch = [0u8; MAX_BUF];
        self.serve(mem, &mut scratch)
    }

    /// Serves both rings as far as buffers allow. Call on every kick.
    /// `scratch` holds one message from the host: at least [`MAX_BUF`]
    /// bytes, else the larger messages are refused.
    pub fn serve<M: DeviceMemory>(&mut self, mem: &M, scratch: &mut [u8]) -> Notify {
        self.sync_status(mem);
        let mut notify = Notify::default();
        if self.queues.is_none() {
            return notify;
        }
        let result = self.pump(mem, scratch, &mut notify);
        if result.is_err() {
            // The rings are corrupt: stop serving until the host resets.
            self.stats.broken_rings += 1;
            self.broken = true;
            self.queues = None;
            return Notify::default();
        }
        notify
    }

    fn pump<M: DeviceMemory>(
        &mut self,
        mem: &M,
        scratch: &mut [u8],
        notify: &mut Notify,
    ) -> Result<(), VringError> {
        // While this pass runs, the host need not kick: whatever it adds
        // meanwhile is seen below. Kicks are turned back on before the last
        // look, so that a buffer added after it gets one.
        self.set_kicks(mem, false)?;
        let mut kicks = false;
        loop {
            let mut progress = false;
            // Name-service faults first in line go out as messages of
            // their own; a frame fault first in line waits for a message.
            while let Some(fault) = self.faults.peek().filter(|f| f.is_ns()) {
                let mut wire = [0u8; NS_MSG_LEN + 1];
                let len = fault.ns_message(&mut wire);
                if !self.send(
                    mem,
                    FAULT_NS_ADDR,
                    NS_ADDR,
                    Payload::Bytes(&wire[..len]),
                    notify,
                )? {
                    break;
                }
                self.faults.pop();
                self.stats.injected[fault.index()] += 1;
                progress = true;
            }
            while self.ns_len > 0 {
                let Some(msg) = self.ns_queue[self.ns_head] else {
                    break;
                };
                if self.ns_enabled {
                    let mut wire = [0u8; NS_MSG_LEN];
                    msg.write(&mut wire);
                    if !self.send(mem, msg.addr, NS_ADDR, Payload::Bytes(&wire), notify)? {
                        break;
                    }
                    if msg.destroy {
                        self.stats.ns_tx_destroy += 1;
                    } else {
                        self.stats.ns_tx_create += 1;
                    }
                }
                self.ns_queue[self.ns_head] = None;
                self.ns_head = (self.ns_head + 1) % NS_QUEUE;
                self.ns_len -= 1;
                progress = true;
            }
            if let Some(mut run) = self.source.filter(|s| s.next < s.count) {
                while run.next < run.count {
                    let payload = Payload::Source {
                        seq: run.next,
                        len: run.size,
                    };
                    if !self.send(mem, run.from, run.to, payload, notify)? {
                        break;
                    }
                    self.stats.source_tx.add(payload.len());
                    run.next += 1;
                    progress = true;
                }
                self.source = Some(run);
            }
            // Take a message from the host only while a reply could go out:
            // the remote applies back-pressure instead of dropping. A
            // stalled remote takes none.
            while !self.stalled
                && self.to_host_pending(mem)? > 0
                && self.receive_one(mem, scratch, notify)?
            {
                progress = true;
            }
            if progress {
                if kicks {
                    self.set_kicks(mem, false)?;
                    kicks = false;
                }
            } else if kicks {
                break;
            } else {
                self.set_kicks(mem, true)?;
                // The flags must be visible before the indices are read
                // again, or a host that read them as set just before could
                // add a buffer that nobody serves.
                mem.mb();
                kicks = true;
            }
        }
        let Some(q) = &self.queues else { return Ok(()) };
        notify.to_host = notify.to_host && q.to_host.wants_interrupt(mem)?;
        notify.from_host = notify.from_host && q.from_host.wants_interrupt(mem)?;
        Ok(())
    }

    fn set_kicks<M: DeviceMemory>(&self, mem: &M, on: bool) -> Result<(), VringError> {
        let Some(q) = &self.queues else { return Ok(()) };
        q.to_host.set_kicks(mem, on)?;
        q.from_host.set_kicks(mem, on)
    }

    fn to_host_pending<M: DeviceMemory>(&self, mem: &M) -> Result<u16, VringError> {
        self.queues
            .as_ref()
            .map_or(Ok(0), |q| q.to_host.pending(mem))
    }

    /// Sends one message to the host, corrupted by the first pending
    /// fault if that is a frame fault. `Ok(false)`: no rx buffer now.
    fn send<M: DeviceMemory>(
        &mut self,
        mem: &M,
        src: u32,
        dst: u32,
        payload: Payload<'_>,
        notify: &mut Notify,
    ) -> Result<bool, VringError> {
        let fault = self.faults.peek().filter(|f| !f.is_ns());
        let Some(q) = self.queues.as_mut() else {
            return Ok(false);
        };
        loop {
            let buf = match q.to_host.pop(mem, true)? {
                None => return Ok(false),
                Some(Popped::Bad { head, .. }) => {
                    // Give it back untouched; try the next one.
                    self.stats.bad_desc += 1;
                    q.to_host.push(mem, head, 0)?;
                    notify.to_host = true;
                    continue;
                }
                Some(Popped::Ok(buf)) => buf,
            };
            let total = HEADER_LEN + payload.len();
            // The host's buffer, or one larger than agreed (which a host
            // checks against its own size).
            if (buf.len as usize) < total || total > self.sizes.rx {
                self.stats.bad_desc += 1;
                q.to_host.push(mem, buf.head, 0)?;
                notify.to_host = true;
                continue;
            }
            // `payload` fits a buffer of at most MAX_BUF: within u16.
            let mut hdr = Header {
                src,
                dst,
                len: payload.len() as u16,
                flags: 0,
            };
            match fault {
                Some(Fault::HdrLen) => hdr.len += 1,
                Some(Fault::Dst) => hdr.dst = FAULT_DST,
                _ => {}
            }
            // The descriptor was checked to lie in shared memory.
            mem.write(buf.addr, &hdr.to_bytes())?;
            payload.write(mem, buf.addr + HEADER_LEN as u64)?;
            let total = total as u32;
            match fault {
                Some(Fault::UsedLen) => {
                    let len = if self.stats.injected[Fault::UsedLen.index()] % 2 == 0 {
                        buf.len.saturating_add(1)
                    } else {
                        u32::MAX
                    };
                    q.to_host.push(mem, buf.head, len)?;
                }
                Some(Fault::UsedLenShort) => q.to_host.push(mem, buf.head, FAULT_SHORT_LEN)?,
                Some(Fault::UsedId) => {
                    q.to_host.push_id(mem, u32::from(q.to_host.num()), total)?;
                    q.to_host.push(mem, buf.head, total)?;
                }
                _ => q.to_host.push(mem, buf.head, total)?,
            }
            notify.to_host = true;
            self.stats.tx.add(payload.len());
            if let Some(f) = fault {
                self.faults.pop();
                self.stats.injected[f.index()] += 1;
            }
            return Ok(true);
        }
    }

    /// Takes and handles one message from the host. `Ok(false)`: none.
    fn receive_one<M: DeviceMemory>(
        &mut self,
        mem: &M,
        scratch: &mut [u8],
        notify: &mut Notify,
    ) -> Result<bool, VringError> {
        let Some(q) = self.queues.as_mut() else {
            return Ok(false);
        };
        let buf = match q.from_host.pop(mem, false)? {
            None => return Ok(false),
            Some(Popped::Bad { head, .. }) => {
                self.stats.bad_desc += 1;
                q.from_host.push(mem, head, 0)?;
                notify.from_host = true;
                return Ok(true);
            }
            Some(Popped::Ok(buf)) => buf,
        };
        // A message larger than the agreed size is the host's bug: dropped.
        let len = buf.len as usize;
        match scratch.get_mut(..len).filter(|_| len <= self.sizes.tx) {
            Some(data) => {
                mem.read(buf.addr, data)?;
                self.handle(mem, data, notify)?;
            }
            None => self.stats.bad_msg += 1,
        }
        if let Some(q) = self.queues.as_mut() {
            q.from_host.push(mem, buf.head, 0)?;
        }
        notify.from_host = true;
        Ok(true)
    }

    fn handle<M: DeviceMemory>(
        &mut self,
        mem: &M,
        msg: &[u8],
        notify: &mut Notify,
    ) -> Result<(), VringError> {
        let Ok(hdr) = Header::parse(msg) else {
            self.stats.bad_msg += 1;
            return Ok(());
        };
        let payload = &msg[HEADER_LEN..HEADER_LEN + usize::from(hdr.len)];
        self.stats.rx.add(payload.len());
        if hdr.dst == NS_ADDR {
            self.handle_ns(payload);
            return Ok(());
        }
        let Some(ept) = self.endpoints().find(|e| e.addr == hdr.dst).copied() else {
            self.stats.unknown_dst += 1;
            return Ok(());
        };
        match ept.service {
            Service::Echo => {
                self.stats.echo_rx.add(payload.len());
                // A buffer was pending when the message was taken; the reply
                // may still be larger than the host receives.
                if payload.len() <= self.sizes.rx_payload()
                    && self.send(mem, ept.addr, hdr.src, Payload::Bytes(payload), notify)?
                {
                    self.stats.echo_tx.add(payload.len());
                } else {
                    self.stats.dropped_replies += 1;
                }
            }
            Service::Sink => self.stats.sink_rx.add(payload.len()),
            Service::Source => self.stats.source_rx.add(payload.len()),
        }
        Ok(())
    }

    fn handle_ns(&mut self, payload: &[u8]) {
        let Ok(ns) = NsMsg::parse(payload) else {
            self.stats.bad_msg += 1;
            return;
        };
        let existing = self
            .host_channels
            .iter()
            .position(|c| c.is_some_and(|c| c.name == ns.name && c.addr == ns.addr));
        if ns.destroy {
            self.stats.ns_rx_destroy += 1;
            if let Some(i) = existing {
                self.host_channels[i] = None;
            }
        } else {
            self.stats.ns_rx_create += 1;
            if existing.is_none() {
                if let Some(slot) = self.host_channels.iter_mut().find(|c| c.is_none()) {
                    *slot = Some(HostChannel {
                        addr: ns.addr,
                        name: ns.name,
                    });
                }
            }
        }
    }
}

/// 0, 1, 2, ... as bytes: every 256 bytes of a source payload's pattern are
/// one window of it (the pattern repeats every 256 bytes).
const RAMP_LEN: usize = 4 + 256 + 256;
static RAMP: [u8; RAMP_LEN] = {
    let mut r = [0u8; RAMP_LEN];
    let mut i = 0;
    while i < RAMP_LEN {
        r[i] = i as u8;
        i += 1;
    }
    r
};

/// The source's payload of `len` bytes for message `seq`, handed to `put`
/// in pieces `(offset, bytes)`: the sequence number, then a pattern derived
/// from it, so that the receiver can check order and content: byte `i >= 4`
/// is `(seq + i) as u8`. The pattern comes in windows of `RAMP`, which go
/// straight into the host's buffer rather than being computed byte by byte
/// or copied through scratch space first: the remote must not be what
/// limits a streaming benchmark. Payloads are at least 4 bytes
/// (`start_source` checks).
fn source_payload<E>(
    seq: u32,
    len: usize,
    mut put: impl FnMut(usize, &[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let head = 4.min(len);
    put(0, &seq.to_le_bytes()[..head])?;
    let start = usize::from(seq as u8) + head;
    let mut off = head;
    while off < len {
        let n = (len - off).min(256);
        put(off, &RAMP[start..start + n])?;
        off += n;
    }
    Ok(())
}

/// The source's payload of message `seq` (see [`source_payload`]), for
/// tests to check what arrived.
#[cfg(test)]
pub fn fill_source_payload(payload: &mut [u8], seq: u32) {
    let _ = source_payload(seq, payload.len(), |off, bytes| -> Result<(), ()> {
        payload[off..off + bytes.len()].copy_from_slice(bytes);
        Ok(())
    });
}

/// What a message the firmware sends carries.
#[derive(Clone, Copy)]
enum Payload<'a> {
    Bytes(&'a [u8]),
    /// Message `seq` of a source run, `len` bytes.
    Source {
        seq: u32,
        len: u16,
    },
}

impl Payload<'_> {
    fn len(&self) -> usize {
        match *self {
            Payload::Bytes(b) => b.len(),
            Payload::Source { len, .. } => usize::from(len),
        }
    }

    /// Writes the payload at `da`, which the caller checked holds it.
    fn write<M: DeviceMemory>(&self, mem: &M, da: u64) -> Result<(), OutOfBounds> {
        match *self {
            Payload::Bytes(b) => mem.write(da, b),
            Payload::Source { seq, len } => source_payload(seq, usize::from(len), |off, bytes| {
                mem.write(da + off as u64, bytes)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::msg::MsgError;
    use crate::rsc::TABLE_LEN;
    use crate::testmem::TestMem;
    use crate::vring::driver::DriverQueue;
    use crate::vring::{Layout, DESC_F_WRITE, USED_F_NO_NOTIFY};
    use pin_init::InPlaceInit;
    use std::boxed::Box;
    use std::vec::Vec;

    /// Payload of a buffer of the default size (512 bytes, both ways, unless
    /// `VIRTIO_RPMSG_F_BUFSZ` is negotiated).
    const DEFAULT_PAYLOAD: usize = bufsz::DEFAULT_BUF_SIZE - HEADER_LEN;

    /// A firmware as the kernel makes one, in place.
    fn firmware() -> Box<Firmware> {
        Box::init(Firmware::init(RSC, SPECS)).unwrap()
    }

    const BASE: u64 = 0x1000_0000;
    const RSC: u64 = BASE + 0xf000;
    const BUFS: u64 = BASE + 0x10000;
    const NUM: u32 = 8;
    const SPECS: [VringSpec; 2] = [
        VringSpec {
            da: BASE as u32,
            num: NUM,
            align: 16,
        },
        VringSpec {
            da: BASE as u32 + 0x8000,
            num: NUM,
            align: 16,
        },
    ];

    /// The host side: the kernel's virtio RPMsg bus, reduced to its rings.
    struct Host {
        mem: TestMem,
        rx: DriverQueue,
        tx: DriverQueue,
        fw: Box<Firmware>,
        /// Size of the receive buffers the host posts.
        rx_len: u32,
    }

    /// Room for each buffer: the largest any test uses.
    const STRIDE: u64 = 4096;

    impl Host {
        fn new() -> Host {
            Host::with_offer(None, 512)
        }

        /// A host whose remote offers `offer`, posting receive buffers of
        /// `rx_len` bytes.
        fn with_offer(offer: Option<BufszOffer>, rx_len: u32) -> Host {
            let mem = TestMem::new(BASE, 0x20000);
            let mut fw = firmware();
            fw.set_offer(offer);
            let mut cfg = [0u8; CONFIG_ROOM];
            let cfg_len = offer.map_or(0, |o| o.config(&mut cfg));
            let mut table = [0u8; TABLE_LEN];
            rsc::build(&mut table, SPECS, fw.features(), &cfg[..cfg_len]);
            mem.write(RSC, &table).unwrap();
            let layout = |s: &VringSpec| Layout::new(u64::from(s.da), s.num, s.align).unwrap();
            let mut host = Host {
                rx: DriverQueue::new(layout(&SPECS[0])),
                tx: DriverQueue::new(layout(&SPECS[1])),
                fw,
                mem,
                rx_len,
            };
            for i in 0..NUM as u16 {
                host.post_rx(i);
            }
            host
        }

        fn rx_buf(i: u16) -> u64 {
            BUFS + STRIDE * u64::from(i)
        }

        fn tx_buf(i: u16) -> u64 {
            BUFS + STRIDE * (u64::from(NUM) + u64::from(i))
        }

        fn post_rx(&mut self, i: u16) {
            self.rx
                .add(&self.mem, i, Host::rx_buf(i), self.rx_len, DESC_F_WRITE);
        }

        fn driver_ok(&mut self, features: u32) {
            self.mem.write_u32(RSC + 20 + 16, features).unwrap();
            self.mem
                .write(RSC + 20 + 24, &[STATUS_DRIVER_OK | 3])
                .unwrap();
        }

        fn send(&mut self, slot: u16, src: u32, dst: u32, payload: &[u8]) {
            let hdr = Header {
                src,
                dst,
                len: payload.len() as u16,
                flags: 0,
            };
            self.mem.write(Host::tx_buf(slot), &hdr.to_bytes()).unwrap();
            self.mem.write(Host::tx_buf(slot) + 16, payload).unwrap();
            self.tx.add(
                &self.mem,
                slot,
                Host::tx_buf(slot),
                16 + payload.len() as u32,
                0,
            );
        }

        /// Receives everything the remote sent and reposts the buffers.
        fn receive(&mut self) -> Vec<(Header, Vec<u8>)> {
            let mut out = Vec::new();
            while let Some((head, len)) = self.rx.get_used(&self.mem) {
                let mut buf = std::vec![0u8; len as usize];
                self.mem.read(Host::rx_buf(head), &mut buf).unwrap();
                let hdr = Header::parse(&buf).unwrap();
                out.push((hdr, buf[16..16 + usize::from(hdr.len)].to_vec()));
                self.post_rx(head);
            }
            out
        }

        /// Receives everything the remote sent without trusting it: the
        /// used elements as written (id, length) with the whole buffer the
        /// id names (empty if it names none); reposts those buffers.
        fn receive_raw(&mut self) -> Vec<(u32, u32, Vec<u8>)> {
            let mut out = Vec::new();
            while let Some((id, len)) = self.rx.get_used_raw(&self.mem) {
                let mut buf = Vec::new();
                if id < NUM {
                    buf.resize(self.rx_len as usize, 0);
                    self.mem.read(Host::rx_buf(id as u16), &mut buf).unwrap();
                    self.post_rx(id as u16);
                }
                out.push((id, len, buf));
            }
            out
        }

        /// Takes back every tx buffer the remote returned.
        fn tx_done(&mut self) -> usize {
            core::iter::from_fn(|| self.tx.get_used(&self.mem)).count()
        }
    }

    /// The header and payload the remote wrote into a buffer, read as if
    /// the used length had been right.
    fn written(buf: &[u8]) -> (Header, Vec<u8>) {
        let hdr = Header::parse(buf).unwrap();
        (hdr, buf[16..16 + usize::from(hdr.len)].to_vec())
    }

    /// A host with one echo endpoint, announcements received.
    fn echo_host(features: u32) -> (Host, u32) {
        let mut h = Host::new();
        let echo = h.fw.announce("e", Service::Echo, ADDR_ANY).unwrap();
        h.driver_ok(features);
        h.fw.service(&h.mem);
        h.receive();
        (h, echo)
    }

    fn ns(payload: &[u8]) -> NsMsg {
        NsMsg::parse(payload).unwrap()
    }

    #[test]
    fn announces_once_driver_is_ready() {
        let mut h = Host::new();
        assert_eq!(
            h.fw.announce("rpmsg-raw", Service::Echo, ADDR_ANY),
            Ok(1024)
        );
        assert_eq!(
            h.fw.service(&h.mem),
            Notify::default(),
            "nothing before DRIVER_OK"
        );
        assert!(h.receive().is_empty());
        h.driver_ok(FEATURE_NS);
        assert!(h.fw.service(&h.mem).to_host);
        let got = h.receive();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].0.src, got[0].0.dst), (1024, NS_ADDR));
        assert_eq!(ns(&got[0].1).name.as_str(), "rpmsg-raw");
        assert!(!ns(&got[0].1).destroy);
        h.fw.destroy("rpmsg-raw").unwrap();
        h.fw.service(&h.mem);
        let got = h.receive();
        assert!(ns(&got[0].1).destroy);
        assert_eq!(h.fw.stats.ns_tx_create, 1);
        assert_eq!(h.fw.stats.ns_tx_destroy, 1);
    }

    #[test]
    fn no_announcements_without_ns_feature() {
        let mut h = Host::new();
        h.fw.announce("a", Service::Echo, ADDR_ANY).unwrap();
        h.driver_ok(0);
        h.fw.service(&h.mem);
        assert!(h.receive().is_empty());
    }

    const BOTH: u32 = FEATURE_NS | FEATURE_BUFSZ;

    #[test]
    fn bufsz_offer_in_the_table() {
        let h = Host::with_offer(Some(BufszOffer::new(2048, 1024)), 2048);
        assert_eq!(h.fw.features(), BOTH);
        let mut cfg = [0u8; CONFIG_ROOM];
        h.mem.read(RSC + 20 + 28 + 40, &mut cfg).unwrap();
        assert_eq!(BufSizes::parse(&cfg), Ok(BufSizes { rx: 2048, tx: 1024 }));
        let mut len = [0u8; 4];
        h.mem.read(RSC + 20 + 20, &mut len).unwrap();
        assert_eq!(u32::from_le_bytes(len), 66);
    }

    /// Asymmetric sizes, acknowledged: the largest message each way goes
    /// through, and one byte more is refused by the remote.
    #[test]
    fn bufsz_acked_sizes_per_direction() {
        let mut h = Host::with_offer(Some(BufszOffer::new(2048, 1024)), 2048);
        let sink = h.fw.announce("s", Service::Sink, ADDR_ANY).unwrap();
        let echo = h.fw.announce("e", Service::Echo, ADDR_ANY).unwrap();
        let src = h.fw.announce("src", Service::Source, ADDR_ANY).unwrap();
        h.driver_ok(BOTH);
        h.fw.service(&h.mem);
        assert_eq!(h.receive().len(), 3);
        assert_eq!(h.fw.sizes(), BufSizes { rx: 2048, tx: 1024 });
        // Host -> remote: up to 1024 - 16 bytes.
        h.send(0, 1030, sink, &[7u8; 1008]);
        h.send(1, 1030, sink, &[7u8; 1009]);
        h.fw.service(&h.mem);
        assert_eq!(h.fw.stats.sink_rx.bytes, 1008);
        assert_eq!(h.fw.stats.bad_msg, 1);
        // Echo of the largest host message fits the host's 2048 bytes.
        h.send(2, 1030, echo, &[9u8; 1008]);
        h.fw.service(&h.mem);
        let got = h.receive();
        assert_eq!((got.len(), got[0].1.len()), (1, 1008));
        // Remote -> host: up to 2048 - 16 bytes.
        assert_eq!(
            h.fw.start_source(src, 0x400, 1, 2033),
            Err(FwError::Invalid)
        );
        h.fw.start_source(src, 0x400, 2, 2032).unwrap();
        h.fw.service(&h.mem);
        let got = h.receive();
        assert_eq!(got.len(), 2);
        let mut want = std::vec![0u8; 2032];
        fill_source_payload(&mut want, 1);
        assert_eq!(got[1].1, want);
    }

    /// The host declined (or ignores) the offer: 512 both ways.
    #[test]
    fn bufsz_declined_uses_the_default() {
        let mut h = Host::with_offer(Some(BufszOffer::new(4096, 4096)), 512);
        let sink = h.fw.announce("s", Service::Sink, ADDR_ANY).unwrap();
        h.driver_ok(FEATURE_NS);
        h.fw.service(&h.mem);
        assert_eq!(h.fw.sizes(), BufSizes::DEFAULT);
        h.send(0, 1030, sink, &[1u8; 497]);
        h.fw.service(&h.mem);
        assert_eq!(h.fw.stats.bad_msg, 1);
        // A malformed offer acknowledged anyway is not used either.
        let bad = BufszOffer {
            version: 1,
            ..BufszOffer::new(4096, 4096)
        };
        let mut h = Host::with_offer(Some(bad), 512);
        h.driver_ok(BOTH);
        h.fw.service(&h.mem);
        assert_eq!(h.fw.sizes(), BufSizes::DEFAULT);
        let short = BufszOffer {
            config_len: 10,
            ..BufszOffer::new(4096, 4096)
        };
        let mut cfg = [0u8; CONFIG_ROOM];
        assert_eq!(short.config(&mut cfg), 10);
        assert_eq!(short.sizes(), None);
    }

    /// A host granting a feature never offered is refused as before.
    #[test]
    fn bufsz_not_offered_cannot_be_acked() {
        let mut h = Host::new();
        h.fw.announce("e", Service::Echo, ADDR_ANY).unwrap();
        h.driver_ok(BOTH);
        h.fw.service(&h.mem);
        assert!(h.receive().is_empty());
        assert_eq!(h.fw.stats.broken_rings, 1);
    }

    #[test]
    fn echo_sink_and_unknown() {
        let mut h = Host::new();
        let echo = h.fw.announce("e", Service::Echo, ADDR_ANY).unwrap();
        let sink = h.fw.announce("s", Service::Sink, 2000 - 1).unwrap();
        h.driver_ok(FEATURE_NS);
        h.fw.service(&h.mem);
        assert_eq!(h.receive().len(), 2);
        h.send(0, 1030, echo, b"hello");
        h.send(1, 1030, sink, b"dropped");
        h.send(2, 1030, 777, b"nobody");
        let n = h.fw.service(&h.mem);
        assert!(n.to_host && n.from_host);
        let got = h.receive();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].0.src, got[0].0.dst), (echo, 1030));
        assert_eq!(got[0].1, b"hello");
        // Every tx buffer came back.
        let used: Vec<_> = core::iter::from_fn(|| h.tx.get_used(&h.mem)).collect();
        assert_eq!(used, [(0, 0), (1, 0), (2, 0)]);
        let st = h.fw.stats;
        assert_eq!(
            (st.echo_rx.msgs, st.echo_tx.msgs, st.sink_rx.msgs),
            (1, 1, 1)
        );
        assert_eq!((st.sink_rx.bytes, st.unknown_dst), (7, 1));
    }

    /// Shared memory whose first full barrier runs `on_mb`: a host that
    /// acts at that moment, concurrently with the remote. Logs the 16-bit
    /// writes to `watch`.
    struct RacingMem<'a, F: FnMut()> {
        mem: &'a TestMem,
        on_mb: core::cell::RefCell<Option<F>>,
        watch: u64,
        log: core::cell::RefCell<Vec<u16>>,
    }

    impl<F: FnMut()> DeviceMemory for RacingMem<'_, F> {
        fn read(&self, da: u64, buf: &mut [u8]) -> Result<(), crate::mem::OutOfBounds> {
            self.mem.read(da, buf)
        }
        fn write(&self, da: u64, data: &[u8]) -> Result<(), crate::mem::OutOfBounds> {
            self.mem.write(da, data)
        }
        fn read_u16(&self, da: u64) -> Result<u16, crate::mem::OutOfBounds> {
            self.mem.read_u16(da)
        }
        fn read_u32(&self, da: u64) -> Result<u32, crate::mem::OutOfBounds> {
            self.mem.read_u32(da)
        }
        fn read_u64(&self, da: u64) -> Result<u64, crate::mem::OutOfBounds> {
            self.mem.read_u64(da)
        }
        fn write_u16(&self, da: u64, val: u16) -> Result<(), crate::mem::OutOfBounds> {
            if da == self.watch {
                self.log.borrow_mut().push(val);
            }
            self.mem.write_u16(da, val)
        }
        fn write_u32(&self, da: u64, val: u32) -> Result<(), crate::mem::OutOfBounds> {
            self.mem.write_u32(da, val)
        }
        fn contains(&self, da: u64, len: u64) -> bool {
            self.mem.contains(da, len)
        }
        fn rmb(&self) {}
        fn wmb(&self) {}
        fn mb(&self) {
            if let Some(mut f) = self.on_mb.borrow_mut().take() {
                f();
            }
        }
    }

    /// The remote asks for no kicks while it serves, and turns them back on
    /// before its last look: a message the host added without a kick,
    /// because it read the flag just before, is still served.
    #[test]
    fn kicks_suppressed_while_serving() {
        let mut h = Host::new();
        let sink = h.fw.announce("s", Service::Sink, ADDR_ANY).unwrap();
        h.driver_ok(FEATURE_NS);
        h.fw.service(&h.mem);
        h.receive();
        assert!(h.tx.kick_wanted(&h.mem) && h.rx.kick_wanted(&h.mem));
        h.send(0, 1030, sink, b"first");
        let Host { fw, mem, tx, .. } = &mut h;
        let flags = tx.used_flags_addr();
        let mut kicks_on_at_last_look = false;
        let racing = RacingMem {
            mem,
            on_mb: core::cell::RefCell::new(Some(|| {
                kicks_on_at_last_look = tx.kick_wanted(mem);
                let hdr = Header {
                    src: 1030,
                    dst: sink,
                    len: 6,
                    flags: 0,
                };
                mem.write(Host::tx_buf(1), &hdr.to_bytes()).unwrap();
                mem.write(Host::tx_buf(1) + 16, b"second").unwrap();
                tx.add(mem, 1, Host::tx_buf(1), 22, 0);
            })),
            watch: flags,
            log: core::cell::RefCell::new(Vec::new()),
        };
        let n = fw.service(&racing);
        // Off for the pass, on for the last look, off again for the message
        // found then, and on at the end.
        assert_eq!(
            *racing.log.borrow(),
            [USED_F_NO_NOTIFY, 0, USED_F_NO_NOTIFY, 0]
        );
        drop(racing);
        assert!(kicks_on_at_last_look);
        assert!(n.from_host);
        assert_eq!((h.fw.stats.sink_rx.msgs, h.fw.stats.sink_rx.bytes), (2, 11));
        assert_eq!(h.tx_done(), 2);
        assert!(h.tx.kick_wanted(&h.mem) && h.rx.kick_wanted(&h.mem));
    }

    #[test]
    fn back_pressure_instead_of_drop() {
        let mut h = Host::new();
        let echo = h.fw.announce("e", Service::Echo, ADDR_ANY).unwrap();
        h.driver_ok(0);
        // Echoes use up every rx buffer; the host does not repost yet.
        for i in 0..NUM as u16 {
            h.send(i, 1100, echo, &[i as u8]);
        }
        h.fw.service(&h.mem);
        assert_eq!(h.fw.stats.echo_tx.msgs, u64::from(NUM));
        let _ = core::iter::from_fn(|| h.tx.get_used(&h.mem)).count();
        for i in 0..NUM as u16 {
            h.send(i, 1100, echo, &[0x80 | i as u8]);
        }
        // No rx buffer: the remote must leave the new messages queued.
        h.fw.service(&h.mem);
        assert_eq!(h.fw.stats.echo_rx.msgs, u64::from(NUM));
        assert_eq!(h.tx.get_used(&h.mem), None);
        assert_eq!(h.receive().len(), NUM as usize);
        h.fw.service(&h.mem);
        let payloads: Vec<u8> = h.receive().iter().map(|(_, p)| p[0]).collect();
        assert_eq!(
            payloads,
            (0..NUM as u8).map(|i| 0x80 | i).collect::<Vec<_>>()
        );
        assert_eq!(h.fw.stats.dropped_replies, 0);
    }

    #[test]
    fn source_payload_pattern() {
        for seq in [0u32, 1, 251, 255, 256, 0x1234_5678, u32::MAX] {
            for len in [4usize, 5, 16, 300, DEFAULT_PAYLOAD] {
                let mut p = std::vec![0xeeu8; len];
                fill_source_payload(&mut p, seq);
                assert_eq!(p[..4], seq.to_le_bytes());
                for (i, b) in p.iter().enumerate().skip(4) {
                    assert_eq!(
                        *b,
                        (seq as u8).wrapping_add(i as u8),
                        "seq {seq} len {len} byte {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn source_floods_in_order_across_refills() {
        let mut h = Host::new();
        let src = h.fw.announce("flood", Service::Source, ADDR_ANY).unwrap();
        h.driver_ok(0);
        assert_eq!(h.fw.start_source(src, 0x400, 0, 16), Err(FwError::Invalid));
        assert_eq!(h.fw.start_source(src, 0x400, 1, 3), Err(FwError::Invalid));
        assert_eq!(
            h.fw.start_source(src, 0x400, 1, DEFAULT_PAYLOAD + 1),
            Err(FwError::Invalid)
        );
        assert_eq!(h.fw.start_source(1, 0x400, 1, 16), Err(FwError::NotFound));
        h.fw.start_source(src, 0x400, 100, 64).unwrap();
        assert_eq!(h.fw.start_source(src, 0x400, 1, 64), Err(FwError::Busy));
        let mut seen = 0u32;
        for _ in 0..100 {
            h.fw.service(&h.mem);
            for (hdr, p) in h.receive() {
                assert_eq!((hdr.src, hdr.dst, p.len()), (src, 0x400, 64));
                let mut want = [0u8; 64];
                fill_source_payload(&mut want, seen);
                assert_eq!(p, want);
                seen += 1;
            }
        }
        assert_eq!(seen, 100);
        assert_eq!(h.fw.source_pending(), 0);
        assert_eq!(h.fw.stats.source_tx.msgs, 100);
    }

    #[test]
    fn malformed_host_messages_are_counted_and_buffers_returned() {
        let mut h = Host::new();
        let echo = h.fw.announce("e", Service::Echo, ADDR_ANY).unwrap();
        h.driver_ok(FEATURE_NS);
        h.fw.service(&h.mem);
        h.receive();
        // Header claims more payload than the buffer carries.
        let hdr = Header {
            src: 1,
            dst: echo,
            len: 100,
            flags: 0,
        };
        h.mem.write(Host::tx_buf(0), &hdr.to_bytes()).unwrap();
        h.tx.add(&h.mem, 0, Host::tx_buf(0), 20, 0);
        // Bad name-service message: unterminated name.
        h.send(1, 1, NS_ADDR, &[b'x'; NS_MSG_LEN]);
        // Descriptor pointing outside shared memory.
        h.tx.add(&h.mem, 2, 0x10, 64, 0);
        h.send(3, 5, echo, b"ok");
        h.fw.service(&h.mem);
        assert_eq!(h.fw.stats.bad_msg, 2);
        assert_eq!(h.fw.stats.bad_desc, 1);
        let used: Vec<_> = core::iter::from_fn(|| h.tx.get_used(&h.mem))
            .map(|(head, _)| head)
            .collect();
        assert_eq!(used, [0, 1, 2, 3]);
        assert_eq!(h.receive()[0].1, b"ok");
    }

    #[test]
    fn host_announcements_are_recorded() {
        let mut h = Host::new();
        h.driver_ok(FEATURE_NS);
        let mut wire = [0u8; NS_MSG_LEN];
        NsMsg {
            name: Name::new(b"rpmsg_chrdev").unwrap(),
            addr: 1030,
            destroy: false,
        }
        .write(&mut wire);
        h.send(0, 1030, NS_ADDR, &wire);
        h.fw.service(&h.mem);
        let chans: Vec<_> =
            h.fw.host_channels()
                .map(|c| (c.addr, c.name.as_str().into()))
                .collect::<Vec<(u32, std::string::String)>>();
        assert_eq!(chans, [(1030, "rpmsg_chrdev".into())]);
        NsMsg {
            name: Name::new(b"rpmsg_chrdev").unwrap(),
            addr: 1030,
            destroy: true,
        }
        .write(&mut wire);
        h.send(1, 1030, NS_ADDR, &wire);
        h.fw.service(&h.mem);
        assert_eq!(h.fw.host_channels().count(), 0);
        assert_eq!((h.fw.stats.ns_rx_create, h.fw.stats.ns_rx_destroy), (1, 1));
    }

    #[test]
    fn reset_leaves_what_new_makes_but_the_stats() {
        let (mut h, _) = echo_host(FEATURE_NS);
        let src = h.fw.announce("s", Service::Source, ADDR_ANY).unwrap();
        h.fw.start_source(src, 1024, 3, 8).unwrap();
        h.fw.inject(Fault::Dst).unwrap();
        h.send(1, 1030, NS_ADDR, &{
            let mut wire = [0u8; NS_MSG_LEN];
            NsMsg {
                name: Name::new(b"rpmsg_chrdev").unwrap(),
                addr: 1030,
                destroy: false,
            }
            .write(&mut wire);
            wire
        });
        h.fw.service(&h.mem);
        assert!(h.fw.host_channels().count() > 0 && h.fw.running());
        let stats = h.fw.stats;
        h.fw.reset();
        let new = firmware();
        let fw = &h.fw;
        assert_eq!((fw.vrings, fw.rsc_da), (new.vrings, new.rsc_da));
        assert_eq!(fw.endpoints, new.endpoints);
        assert_eq!(fw.host_channels, new.host_channels);
        assert_eq!(fw.ns_queue, new.ns_queue);
        assert_eq!((fw.ns_head, fw.ns_len), (new.ns_head, new.ns_len));
        assert!(fw.source.is_none() && fw.queues.is_none());
        assert_eq!(
            (fw.ns_enabled, fw.notifyid, fw.broken),
            (new.ns_enabled, new.notifyid, new.broken)
        );
        assert_eq!((fw.faults.head, fw.faults.len), (0, 0));
        assert_eq!(fw.faults.slots, new.faults.slots);
        assert_eq!(fw.stats, stats, "a reboot keeps the statistics");
        // The address set is fresh: the first dynamic address comes again.
        let mut fw = h.fw;
        let mut new = new;
        assert_eq!(
            fw.announce("x", Service::Sink, ADDR_ANY),
            new.announce("x", Service::Sink, ADDR_ANY)
        );
    }

    #[test]
    fn reset_and_restart_reannounce() {
        let mut h = Host::new();
        h.fw.announce("a", Service::Echo, ADDR_ANY).unwrap();
        h.driver_ok(FEATURE_NS);
        h.fw.service(&h.mem);
        assert_eq!(h.receive().len(), 1);
        // The host resets the device (driver removed) and probes again.
        h.mem.write(RSC + 20 + 24, &[0]).unwrap();
        h.fw.service(&h.mem);
        assert!(!h.fw.running());
        let mut fresh = Host::new();
        fresh.fw = h.fw;
        fresh.driver_ok(FEATURE_NS);
        fresh.fw.service(&fresh.mem);
        let got = fresh.receive();
        assert_eq!(ns(&got[0].1).name.as_str(), "a");
        assert_eq!(fresh.fw.stats.ns_tx_create, 2);
    }

    #[test]
    fn stall_holds_host_messages_until_resume() {
        let (mut h, echo) = echo_host(FEATURE_NS);
        let src = h.fw.announce("src", Service::Source, ADDR_ANY).unwrap();
        h.fw.service(&h.mem);
        assert_eq!(h.receive().len(), 1);
        h.fw.stall();
        assert!(h.fw.stalled());
        for i in 0..NUM as u16 {
            h.send(i, 1030, echo, &[b's', i as u8]);
        }
        let n = h.fw.service(&h.mem);
        assert!(!n.from_host, "nothing taken, nothing to signal");
        assert_eq!(h.tx_done(), 0, "the host gets no transmit buffer back");
        assert_eq!(h.fw.stats.rx.msgs, 0);
        // Everything else goes on: announcements and the source.
        h.fw.announce("late", Service::Sink, ADDR_ANY).unwrap();
        h.fw.start_source(src, 0x400, 3, 8).unwrap();
        h.fw.service(&h.mem);
        let got = h.receive();
        assert_eq!(got.len(), 4);
        assert_eq!(ns(&got[0].1).name.as_str(), "late");
        assert!(got[1..].iter().all(|(hdr, _)| hdr.dst == 0x400));
        h.fw.stall();
        assert!(h.fw.stalled(), "stalling twice is harmless");
        h.fw.resume();
        assert!(!h.fw.stalled());
        assert!(h.fw.service(&h.mem).from_host);
        let payloads: Vec<Vec<u8>> = h.receive().into_iter().map(|(_, p)| p).collect();
        let want: Vec<Vec<u8>> = (0..NUM as u8).map(|i| std::vec![b's', i]).collect();
        assert_eq!(payloads, want, "every message, in order");
        assert_eq!(h.tx_done(), NUM as usize);
        assert_eq!(h.fw.stats.echo_tx.msgs, u64::from(NUM));
        assert_eq!(h.fw.stats.dropped_replies, 0);
    }

    #[test]
    fn stall_survives_host_reset_not_reboot() {
        let (mut h, echo) = echo_host(0);
        h.fw.stall();
        // The host resets the device (status 0 seen), then probes again.
        h.mem.write(RSC + 20 + 24, &[0]).unwrap();
        h.fw.service(&h.mem);
        let mut fresh = Host::new();
        fresh.fw = h.fw;
        fresh.driver_ok(0);
        fresh.send(0, 1030, echo, b"held");
        fresh.fw.service(&fresh.mem);
        assert!(fresh.fw.stalled());
        assert_eq!(fresh.tx_done(), 0);
        fresh.fw.resume();
        fresh.fw.service(&fresh.mem);
        assert_eq!(fresh.receive()[0].1, b"held");
        fresh.fw.stall();
        fresh.fw.reset();
        assert!(!fresh.fw.stalled(), "a reboot forgets the stall");
    }

    #[test]
    fn host_set_up_again_unseen_is_served_afresh() {
        // A driver unbound and bound again: the host resets the device and
        // remoteproc zeroes the rings, with no kick in between, so the
        // remote first sees DRIVER_OK on fresh rings.
        let (mut h, echo) = echo_host(FEATURE_NS);
        let chan = NsMsg {
            name: Name::new(b"rpmsg_chrdev").unwrap(),
            addr: 1030,
            destroy: false,
        };
        let mut wire = [0u8; NS_MSG_LEN];
        chan.write(&mut wire);
        h.send(0, 1030, NS_ADDR, &wire);
        h.send(1, 1030, echo, b"before");
        h.fw.service(&h.mem);
        assert_eq!(h.receive()[0].1, b"before");
        assert_eq!(h.fw.host_channels().count(), 1);
        assert_eq!(h.fw.stats.host_starts, 1);
        let mut fresh = Host::new();
        fresh.fw = h.fw;
        fresh.driver_ok(FEATURE_NS);
        fresh.send(0, 1030, echo, b"after");
        fresh.fw.service(&fresh.mem);
        let got = fresh.receive();
        assert_eq!(got.len(), 2);
        assert_eq!(ns(&got[0].1).name.as_str(), "e", "announced again");
        assert_eq!(got[1].1, b"after");
        assert_eq!(
            fresh.fw.host_channels().count(),
            0,
            "the new host announced none"
        );
        assert_eq!(fresh.fw.stats.host_starts, 2);
        assert_eq!(fresh.fw.stats.broken_rings, 0);
        assert_eq!(fresh.tx_done(), 1);
        // An ordinary pass on the same rings is no restart.
        fresh.send(1, 1030, echo, b"again");
        fresh.fw.service(&fresh.mem);
        assert_eq!(fresh.receive()[0].1, b"again");
        assert_eq!(fresh.fw.stats.host_starts, 2);
    }

    #[test]
    fn corrupt_ring_stops_service_until_reset() {
        let mut h = Host::new();
        h.driver_ok(0);
        h.fw.service(&h.mem);
        assert!(h.fw.running());
        // Available index far ahead of the ring.
        h.mem
            .write_u16(BASE + 0x8000 + 16 * u64::from(NUM) + 2, 1000)
            .unwrap();
        h.fw.service(&h.mem);
        assert!(!h.fw.running());
        assert_eq!(h.fw.stats.broken_rings, 1);
        h.fw.service(&h.mem);
        assert!(!h.fw.running(), "stays down while DRIVER_OK is still set");
        h.mem.write(RSC + 20 + 24, &[0]).unwrap();
        h.fw.service(&h.mem);
        let mut fresh = Host::new();
        fresh.fw = h.fw;
        fresh.driver_ok(0);
        fresh.fw.service(&fresh.mem);
        assert!(fresh.fw.running());
    }

    #[test]
    fn control_errors() {
        let mut fw = firmware();
        assert_eq!(
            fw.announce("", Service::Echo, ADDR_ANY),
            Err(FwError::Invalid)
        );
        assert_eq!(
            fw.announce("a", Service::Echo, NS_ADDR),
            Err(FwError::Exists)
        );
        fw.announce("a", Service::Echo, 1500).unwrap();
        assert_eq!(
            fw.announce("a", Service::Sink, ADDR_ANY),
            Err(FwError::Exists)
        );
        assert_eq!(fw.announce("b", Service::Sink, 1500), Err(FwError::Exists));
        assert_eq!(fw.announce("b", Service::Sink, 5000), Err(FwError::Invalid));
        assert_eq!(fw.destroy("zz"), Err(FwError::NotFound));
        for i in 1..MAX_ENDPOINTS {
            let name = std::format!("e{i}");
            fw.announce(&name, Service::Sink, ADDR_ANY).unwrap();
        }
        assert_eq!(
            fw.announce("full", Service::Sink, ADDR_ANY),
            Err(FwError::NoSpace)
        );
        fw.reset();
        assert_eq!(fw.endpoints().count(), 0);
    }

    #[test]
    fn fault_names() {
        for (i, f) in Fault::ALL.into_iter().enumerate() {
            assert_eq!(f.index(), i);
            assert_eq!(Fault::parse(f.as_str()), Some(f));
        }
        assert_eq!(Fault::parse("USED_LEN"), None);
        assert_eq!(Fault::parse("used_len "), None);
        assert_eq!(Fault::parse(""), None);
        let ns: Vec<_> = Fault::ALL.into_iter().filter(|f| f.is_ns()).collect();
        assert!(ns.iter().all(|f| f.as_str().starts_with("ns_")));
        assert_eq!(ns.len(), 5);
    }

    #[test]
    fn at_most_max_faults_pending() {
        let mut fw = firmware();
        for i in 0..MAX_FAULTS {
            fw.inject(Fault::ALL[i % Fault::COUNT]).unwrap();
        }
        assert_eq!(fw.inject(Fault::Dst), Err(FwError::Busy));
        assert_eq!(fw.faults_pending(), MAX_FAULTS);
        fw.reset();
        assert_eq!(fw.faults_pending(), 0, "a reboot forgets pending faults");
        fw.inject(Fault::Dst).unwrap();
    }

    #[test]
    fn frame_faults_corrupt_the_next_messages_in_order() {
        let (mut h, echo) = echo_host(FEATURE_NS);
        let tx_before = h.fw.stats.tx.msgs;
        for f in [
            Fault::UsedLen,
            Fault::UsedLenShort,
            Fault::HdrLen,
            Fault::Dst,
            Fault::UsedLen,
        ] {
            h.fw.inject(f).unwrap();
        }
        for i in 0..6u16 {
            h.send(i, 1030, echo, &[b'm', b'0' + i as u8]);
        }
        h.fw.service(&h.mem);
        let got = h.receive_raw();
        let lens: Vec<u32> = got.iter().map(|&(_, len, _)| len).collect();
        assert_eq!(lens, [513, FAULT_SHORT_LEN, 18, 18, u32::MAX, 18]);
        let mut heads: Vec<u32> = got.iter().map(|&(id, _, _)| id).collect();
        heads.sort();
        heads.dedup();
        assert_eq!(heads.len(), 6, "every reply in its own buffer");
        // The message itself is intact unless the fault is in its header.
        for (i, (_, _, buf)) in got.iter().enumerate() {
            let (hdr, payload) = written(&buf[..16 + 3]);
            let want_dst = if i == 3 { FAULT_DST } else { 1030 };
            let want_len = if i == 2 { 3 } else { 2 };
            assert_eq!((hdr.src, hdr.dst, hdr.len), (echo, want_dst, want_len));
            assert_eq!(payload[..2], [b'm', b'0' + i as u8]);
        }
        let st = h.fw.stats;
        let injected = |f: Fault| st.injected[f.index()];
        assert_eq!(injected(Fault::UsedLen), 2);
        assert_eq!(injected(Fault::UsedLenShort), 1);
        assert_eq!(injected(Fault::HdrLen), 1);
        assert_eq!(injected(Fault::Dst), 1);
        assert_eq!(injected(Fault::UsedId) + injected(Fault::NsFlags), 0);
        assert_eq!(h.fw.faults_pending(), 0);
        assert_eq!(st.tx.msgs - tx_before, 6, "faulted frames were sent");
        assert_eq!(h.tx_done(), 6, "every tx buffer came back");
        // No fault left: the next reply is clean.
        h.send(0, 1030, echo, b"ok");
        h.fw.service(&h.mem);
        assert_eq!(h.receive()[0].1, b"ok");
    }

    #[test]
    fn ns_faults_are_extra_messages() {
        let (mut h, echo) = echo_host(FEATURE_NS);
        let kinds = [
            Fault::NsShort,
            Fault::NsLong,
            Fault::NsUnterminated,
            Fault::NsFlags,
            Fault::NsEmpty,
        ];
        for f in kinds {
            h.fw.inject(f).unwrap();
        }
        h.send(0, 1030, echo, b"hi");
        h.fw.service(&h.mem);
        let got = h.receive_raw();
        assert_eq!(got.len(), 6);
        let mut wire = [0u8; NS_MSG_LEN + 1];
        for (f, (_, len, buf)) in kinds.into_iter().zip(&got) {
            let (hdr, payload) = written(&buf[..*len as usize]);
            assert_eq!((hdr.src, hdr.dst), (FAULT_NS_ADDR, NS_ADDR), "{f:?}");
            let n = f.ns_message(&mut wire);
            assert_eq!(payload, wire[..n], "{f:?}");
            let want = match f {
                Fault::NsShort | Fault::NsLong => MsgError::BadNsLength,
                Fault::NsFlags => MsgError::BadFlags,
                _ => MsgError::BadName,
            };
            assert_eq!(NsMsg::parse(&payload), Err(want), "{f:?}");
        }
        assert_eq!(got[0].1, 16 + 39);
        assert_eq!(got[1].1, 16 + 41);
        let unterminated = written(&got[2].2).1;
        assert!(unterminated[..NAME_SIZE]
            .iter()
            .all(|&c| c.is_ascii_graphic()));
        // The echo still went out, after them, untouched.
        assert_eq!(
            written(&got[5].2),
            (
                Header {
                    src: echo,
                    dst: 1030,
                    len: 2,
                    flags: 0
                },
                b"hi".to_vec()
            )
        );
        for f in kinds {
            assert_eq!(h.fw.stats.injected[f.index()], 1);
        }
        // A valid message of the same shape does parse: only the fault is
        // malformed.
        let mut ok = wire;
        Fault::NsFlags.ns_message(&mut ok);
        ok[NAME_SIZE + 4] = 1;
        assert!(NsMsg::parse(&ok[..NS_MSG_LEN]).is_ok_and(|m| m.destroy && m.addr == FAULT_NS_ADDR));
    }

    #[test]
    fn faults_apply_in_queue_order() {
        // A frame fault first in line holds back the name-service fault
        // behind it until some message takes it, here an announcement.
        let mut h = Host::new();
        h.fw.announce("first", Service::Echo, ADDR_ANY).unwrap();
        h.fw.inject(Fault::Dst).unwrap();
        h.fw.inject(Fault::NsFlags).unwrap();
        h.fw.inject(Fault::HdrLen).unwrap();
        h.driver_ok(FEATURE_NS);
        h.fw.service(&h.mem);
        let got = h.receive_raw();
        assert_eq!(got.len(), 2);
        let (hdr, _) = written(&got[0].2);
        assert_eq!((hdr.src, hdr.dst), (1024, FAULT_DST));
        let (hdr, payload) = written(&got[1].2);
        assert_eq!((hdr.src, hdr.dst), (FAULT_NS_ADDR, NS_ADDR));
        assert_eq!(NsMsg::parse(&payload), Err(MsgError::BadFlags));
        assert_eq!(h.fw.faults_pending(), 1, "hdr_len waits for a message");
        h.send(0, 1030, 1024, b"abc");
        h.fw.service(&h.mem);
        let got = h.receive_raw();
        let (hdr, _) = written(&got[0].2[..16 + 4]);
        assert_eq!((got[0].1, hdr.len), (16 + 3, 4));
        assert_eq!(h.fw.faults_pending(), 0);
    }

    #[test]
    fn faults_wait_for_rx_buffers() {
        let (mut h, echo) = echo_host(0);
        // The host does not repost: the replies use up every rx buffer.
        for i in 0..NUM as u16 {
            h.send(i, 1030, echo, &[i as u8]);
        }
        h.fw.service(&h.mem);
        h.tx_done();
        assert_eq!(h.fw.tx_bufs_avail(&h.mem), Some(0));
        h.fw.inject(Fault::NsEmpty).unwrap();
        h.fw.inject(Fault::UsedLenShort).unwrap();
        h.send(0, 1030, echo, b"late");
        h.fw.service(&h.mem);
        assert_eq!(h.fw.faults_pending(), 2, "nothing to send them in");
        assert_eq!(h.fw.stats.injected, [0; Fault::COUNT]);
        assert_eq!(h.receive().len(), NUM as usize);
        h.fw.service(&h.mem);
        let got = h.receive_raw();
        assert_eq!(got.len(), 2);
        assert_eq!(written(&got[0].2).0.dst, NS_ADDR);
        assert_eq!(got[1].1, FAULT_SHORT_LEN);
        assert_eq!(written(&got[1].2).1, b"late");
        assert_eq!(h.fw.faults_pending(), 0);
    }

    #[test]
    fn used_id_fault_still_returns_the_buffer() {
        let (mut h, echo) = echo_host(0);
        h.fw.inject(Fault::UsedId).unwrap();
        h.send(0, 1030, echo, b"id");
        h.fw.service(&h.mem);
        let got = h.receive_raw();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].0, got[0].1), (NUM, 18));
        assert!(got[0].2.is_empty());
        assert!(got[1].0 < NUM);
        assert_eq!(written(&got[1].2[..18]).1, b"id");
        assert_eq!(h.fw.stats.injected[Fault::UsedId.index()], 1);
        assert_eq!(h.fw.tx_bufs_avail(&h.mem), Some(NUM as u16));
    }

    #[test]
    fn tx_bufs_avail_counts_host_buffers() {
        let mut h = Host::new();
        let echo = h.fw.announce("e", Service::Echo, ADDR_ANY).unwrap();
        assert_eq!(h.fw.tx_bufs_avail(&h.mem), None, "not serving yet");
        h.driver_ok(0);
        h.fw.service(&h.mem);
        assert_eq!(h.fw.tx_bufs_avail(&h.mem), Some(NUM as u16));
        for i in 0..3 {
            h.send(i, 1030, echo, b"x");
        }
        h.fw.service(&h.mem);
        assert_eq!(h.fw.tx_bufs_avail(&h.mem), Some(NUM as u16 - 3));
        h.receive();
        assert_eq!(h.fw.tx_bufs_avail(&h.mem), Some(NUM as u16));
    }

    /// A validating host, as the Rust bus must be: what it accepts from a
    /// flood with faults is every message not hit by a frame fault, in
    /// order, and every buffer comes back.
    #[test]
    fn frame_faults_drop_exactly_the_messages_they_hit() {
        let mut h = Host::new();
        let src = h.fw.announce("flood", Service::Source, ADDR_ANY).unwrap();
        h.driver_ok(FEATURE_NS);
        h.fw.service(&h.mem);
        h.receive();
        h.fw.start_source(src, 0x400, 200, 32).unwrap();
        let kinds = [
            Fault::UsedLen,
            Fault::NsShort,
            Fault::UsedLenShort,
            Fault::HdrLen,
            Fault::NsFlags,
            Fault::Dst,
        ];
        let (mut seqs, mut ns_msgs, mut bad) = (Vec::new(), 0, 0);
        let mut round = 0;
        while h.fw.source_pending() > 0 || h.fw.faults_pending() > 0 {
            if round < 12 {
                h.fw.inject(kinds[round % kinds.len()]).unwrap();
            }
            round += 1;
            h.fw.service(&h.mem);
            for (id, len, buf) in h.receive_raw() {
                assert!(id < NUM);
                let Some(msg) = buf.get(..len as usize).filter(|_| len >= 16) else {
                    bad += 1;
                    continue;
                };
                let Ok((hdr, payload)) = Header::parse(msg).map(|_| written(msg)) else {
                    bad += 1;
                    continue;
                };
                match hdr.dst {
                    NS_ADDR => ns_msgs += 1,
                    0x400 => {
                        let seq = u32::from_le_bytes(payload[..4].try_into().unwrap());
                        let mut want = [0u8; 32];
                        fill_source_payload(&mut want, seq);
                        assert_eq!(payload, want);
                        seqs.push(seq);
                    }
                    _ => bad += 1,
                }
            }
            assert!(round < 1000);
        }
        let frame_faults = 8; // two rounds of the four frame kinds
        assert_eq!(bad, frame_faults);
        assert_eq!(ns_msgs, 4);
        assert_eq!(seqs.len(), 200 - frame_faults);
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order");
        assert_eq!(h.fw.tx_bufs_avail(&h.mem), Some(NUM as u16));
        let injected: u64 = h.fw.stats.injected.iter().sum();
        assert_eq!(injected, 12);
    }
}
