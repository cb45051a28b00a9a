// SPDX-License-Identifier: GPL-2.0

//! A simulated remote processor for testing RPMsg stacks.
//!
//! Registers remote processors with the kernel's remoteproc framework the way
//! BeagleBone, STM32MP1 and i.MX drivers do for an already running core: the
//! core attaches through the resource table, which carries one RPMsg vdev,
//! and creates the virtio device an RPMsg bus driver binds to. The firmware
//! of the remote is emulated here (see `sim/firmware`): it serves both
//! vrings from reserved memory and runs echo, sink and source endpoints.
//! Controlled through debugfs; see `Documentation/sim-control.md`.

use core::fmt;
use kernel::{
    c_str, debugfs,
    prelude::*,
    str::CString,
    sync::{aref::ARef, barrier, new_mutex, Arc, ArcBorrow, Mutex},
    time::{Instant, Monotonic},
    uaccess::UserSliceReader,
    workqueue::{impl_has_work, new_work, Work, WorkItem},
};

// Library code shared by all of the project's modules, compiled in by path.
#[allow(unreachable_pub, reason = "pub for every module that mounts it")]
#[path = "../rust"]
mod rpmsg_rs {
    pub mod bindings;
    #[expect(dead_code, reason = "bump is the bus's and the char layer's")]
    pub mod num;
    pub mod platform_device;
    pub mod remoteproc;
    pub mod shmem;
    pub mod volatile;
    pub mod workqueue;
}

#[allow(unreachable_pub, reason = "pub for every module that mounts it")]
#[path = "../rust/proto/src"]
mod proto {
    pub mod addr;
    pub mod bufsz;
    pub mod msg;
}

#[allow(unreachable_pub, reason = "pub for every module that mounts it")]
#[path = "firmware/src"]
mod fw {
    pub mod firmware;
    pub mod mem;
    pub mod rsc;
    pub mod vring;
}

use fw::firmware::{BufszOffer, Fault, Firmware, FwError, Service, FROM_HOST, MAX_BUF, TO_HOST};
use fw::mem::{DeviceMemory, OutOfBounds};
use fw::rsc::{self, VringSpec, CONFIG_ROOM};
use proto::msg::{Name, ADDR_ANY};
use rpmsg_rs::num::U64;
use rpmsg_rs::platform_device::PlatformDevice;
use rpmsg_rs::remoteproc::{self as rproc, Carveout, Rproc};
use rpmsg_rs::shmem::{SharedMemory, ShmSlice};
use rpmsg_rs::workqueue::OwnedQueue;

module! {
    type: SimModule,
    name: "rpmsg_sim",
    authors: ["rpmsg-rs developers"],
    description: "Simulated remote processor with emulated RPMsg firmware",
    license: "GPL",
    params: {
        nr_rprocs: u32 {
            default: 1,
            description: "Number of simulated remote processors",
        },
        shm_base: u64 {
            default: 0,
            description: "Physical base of reserved memory shared with the remotes",
        },
        shm_size: u64 {
            default: 0,
            description: "Size of the reserved memory, split evenly between the remotes",
        },
        bufsz_tx: u32 {
            default: 0,
            description: "VIRTIO_RPMSG_F_BUFSZ: remote->host buffer size every remote offers (0: no offer)",
        },
        bufsz_rx: u32 {
            default: 0,
            description: "VIRTIO_RPMSG_F_BUFSZ: host->remote buffer size every remote offers (0: no offer)",
        },
    },
}

/// Where things live in a remote's slice of shared memory. Device addresses
/// equal physical ones: the kernel's virtio RPMsg bus puts physical buffer
/// addresses into descriptors (no DMA API on remoteproc vdevs), so a remote
/// must map 1:1, as STM32MP1 and i.MX firmware do for their shared memory.
const VRING_NUM: u32 = 256;
const VRING_ALIGN: u32 = 16;
const VRING_SLOT: usize = 0x8000;
const VRING0_OFF: usize = 0;
const VRING1_OFF: usize = VRING_SLOT;
const RSC_OFF: usize = 2 * VRING_SLOT;
/// The buffer pool: 512 buffers of 512 bytes need 256 KiB; the rest of the
/// slot (at least 1 MiB) is given to it.
const POOL_OFF: usize = 0x10_0000;
const MIN_SLOT: usize = 0x20_0000;
const MAX_RPROCS: u32 = 8;

const DEFAULT_CHANNELS: &[(&str, Service)] = &[
    ("rpmsg-client-sample", Service::Echo),
    ("rpmsg-raw", Service::Echo),
    ("rpmsg-tty", Service::Echo),
];
const MAX_BOOT_CHANNELS: usize = 16;

/// Device address of `off` in the slice at physical address `base`; the
/// resource table has 32-bit addresses, checked at load.
fn da(base: u64, off: usize) -> u32 {
    (base + off as u64) as u32
}

fn vring_specs(base: u64) -> [VringSpec; 2] {
    let spec = |off: usize| VringSpec {
        da: da(base, off),
        num: VRING_NUM,
        align: VRING_ALIGN,
    };
    [spec(VRING0_OFF), spec(VRING1_OFF)]
}

/// The remote's view of its shared memory: device addresses, bounds-checked.
struct RemoteView<'a>(&'a SharedMemory);

impl RemoteView<'_> {
    fn offset(&self, da: u64, len: usize) -> Result<usize, OutOfBounds> {
        if !self.contains(da, len as u64) {
            return Err(OutOfBounds);
        }
        Ok((da - self.0.phys()) as usize)
    }
}

impl DeviceMemory for RemoteView<'_> {
    fn read(&self, da: u64, buf: &mut [u8]) -> Result<(), OutOfBounds> {
        let off = self.offset(da, buf.len())?;
        self.0.read(off, buf).map_err(|_| OutOfBounds)
    }
    fn write(&self, da: u64, data: &[u8]) -> Result<(), OutOfBounds> {
        let off = self.offset(da, data.len())?;
        self.0.write(off, data).map_err(|_| OutOfBounds)
    }
    fn read_u16(&self, da: u64) -> Result<u16, OutOfBounds> {
        self.0
            .read_u16(self.offset(da, 2)?)
            .map_err(|_| OutOfBounds)
    }
    fn read_u32(&self, da: u64) -> Result<u32, OutOfBounds> {
        self.0
            .read_u32(self.offset(da, 4)?)
            .map_err(|_| OutOfBounds)
    }
    fn read_u64(&self, da: u64) -> Result<u64, OutOfBounds> {
        self.0
            .read_u64(self.offset(da, 8)?)
            .map_err(|_| OutOfBounds)
    }
    fn write_u16(&self, da: u64, val: u16) -> Result<(), OutOfBounds> {
        self.0
            .write_u16(self.offset(da, 2)?, val)
            .map_err(|_| OutOfBounds)
    }
    fn write_u32(&self, da: u64, val: u32) -> Result<(), OutOfBounds> {
        self.0
            .write_u32(self.offset(da, 4)?, val)
            .map_err(|_| OutOfBounds)
    }
    fn contains(&self, da: u64, len: u64) -> bool {
        let base = self.0.phys();
        da >= base
            && (da - base)
                .checked_add(len)
                .is_some_and(|end| end <= self.0.len() as u64)
    }
    fn rmb(&self) {
        barrier::mb(barrier::Read);
    }
    fn wmb(&self) {
        barrier::mb(barrier::Write);
    }
    fn mb(&self) {
        barrier::mb(barrier::Full);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not attached: the core has not attached yet, detached, or stopped it.
    Offline,
    /// Attached and serving the vrings.
    Running,
    /// Crashed: serves nothing until the core recovers it.
    Crashed,
}

struct State {
    fw: Firmware,
    phase: Phase,
    crashes: u64,
    rproc: Option<ARef<Rproc>>,
    boot_channels: KVec<(Name, Service)>,
    /// The buffer size offer of the next boot.
    next_offer: Option<BufszOffer>,
    /// One message, for the firmware to validate and handle: up to 64 KiB,
    /// far beyond a kernel stack.
    scratch: KVVec<u8>,
    /// The firmware's own cost, for benchmarks (`make bench`) to tell it
    /// from the host stack's: time spent serving the rings, and how often.
    busy_ns: u64,
    services: u64,
}

/// One simulated remote processor.
#[pin_data]
struct SimRemote {
    index: u32,
    shm: Arc<SharedMemory>,
    queue: Arc<OwnedQueue>,
    #[pin]
    state: Mutex<State>,
    /// Serves the vrings after a kick.
    #[pin]
    service_work: Work<SimRemote, 0>,
    /// Raises the host's receive interrupt. Separate from `service_work`
    /// because the host's receive path may block waiting for a transmit
    /// buffer, which only `service_work` can give back.
    #[pin]
    rx_irq_work: Work<SimRemote, 1>,
}

impl_has_work! {
    impl HasWork<Self, 0> for SimRemote { self.service_work }
    impl HasWork<Self, 1> for SimRemote { self.rx_irq_work }
}

impl SimRemote {
    fn new(
        index: u32,
        shm: SharedMemory,
        queue: Arc<OwnedQueue>,
        offer: Option<BufszOffer>,
    ) -> Result<Arc<Self>> {
        let mut boot_channels = KVec::new();
        for (name, service) in DEFAULT_CHANNELS {
            let name = Name::new(name.as_bytes()).map_err(|_| EINVAL)?;
            boot_channels.push((name, *service), GFP_KERNEL)?;
        }
        let scratch = KVVec::from_elem(0u8, MAX_BUF, GFP_KERNEL)?;
        // The firmware is initialised in place: it is too large for a
        // kernel stack (see `Firmware::init`).
        let fw = Firmware::init(shm.phys() + RSC_OFF as u64, vring_specs(shm.phys()));
        let state = init!(State {
            fw <- fw,
            phase: Phase::Offline,
            crashes: 0,
            rproc: None,
            boot_channels,
            next_offer: offer,
            scratch,
            busy_ns: 0,
            services: 0,
        });
        let shm = Arc::new(shm, GFP_KERNEL)?;
        Arc::pin_init(
            pin_init!(SimRemote {
                index,
                shm,
                queue,
                state <- new_mutex!(state, "SimRemote::state"),
                service_work <- new_work!("SimRemote::service_work"),
                rx_irq_work <- new_work!("SimRemote::rx_irq_work"),
            }),
            GFP_KERNEL,
        )
    }

    fn schedule_service(this: ArcBorrow<'_, Self>) {
        // Already pending is fine: that run will see the new state.
        let _ = this.queue.enqueue::<Arc<SimRemote>, 0>(this.into());
    }

    fn shutdown(&self) {
        self.state.lock().phase = Phase::Offline;
    }

    fn boot(&self, st: &mut State) {
        st.fw.reset();
        for (name, service) in st.boot_channels.iter() {
            if let Err(e) = st.fw.announce(name.as_str(), *service, ADDR_ANY) {
                pr_warn!(
                    "sim{}: cannot create channel {}: {:?}\n",
                    self.index,
                    name.as_str(),
                    e
                );
            }
        }
    }
}

impl WorkItem<0> for SimRemote {
    type Pointer = Arc<SimRemote>;

    fn run(this: Arc<SimRemote>) {
        let (notify, tx_done_id, rproc) = {
            let mut st = this.state.lock();
            if st.phase != Phase::Running {
                return;
            }
            // Only the firmware: the interrupts raised below run the host's
            // receive and transmit-complete paths, which are the stack's cost.
            let start = Instant::<Monotonic>::now();
            let State { fw, scratch, .. } = &mut *st;
            let notify = fw.serve(&RemoteView(&this.shm), scratch);
            let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(0);
            st.busy_ns = st.busy_ns.wrapping_add(ns);
            st.services = st.services.wrapping_add(1);
            (notify, st.fw.notifyid(FROM_HOST), st.rproc.clone())
        };
        if notify.from_host {
            // Transmit completions only wake senders: safe to raise here.
            if let Some(rproc) = &rproc {
                rproc.vq_interrupt(tx_done_id);
            }
        }
        if notify.to_host {
            let _ = this.queue.enqueue::<Arc<SimRemote>, 1>(this.clone());
        }
    }
}

impl WorkItem<1> for SimRemote {
    type Pointer = Arc<SimRemote>;

    fn run(this: Arc<SimRemote>) {
        let (id, rproc) = {
            let st = this.state.lock();
            if st.phase != Phase::Running || !st.fw.running() {
                return;
            }
            (st.fw.notifyid(TO_HOST), st.rproc.clone())
        };
        if let Some(rproc) = rproc {
            rproc.vq_interrupt(id);
        }
    }
}

impl rproc::Operations for SimRemote {
    fn prepare(this: ArcBorrow<'_, Self>, rproc: &Rproc) -> Result {
        {
            let mut st = this.state.lock();
            st.rproc = Some(ARef::from(rproc));
            // What the firmware offers is fixed for this boot.
            let offer = st.next_offer;
            st.fw.set_offer(offer);
            let mut cfg = [0u8; CONFIG_ROOM];
            let cfg_len = offer.map_or(0, |o| o.config(&mut cfg));
            let mut table = [0u8; rsc::TABLE_LEN];
            rsc::build(
                &mut table,
                vring_specs(this.shm.phys()),
                st.fw.features(),
                &cfg[..cfg_len],
            );
            this.shm.write(RSC_OFF, &table)?;
            this.boot(&mut st);
        }
        let shm = &this.shm;
        let da_of = |off: usize| da(shm.phys(), off);
        rproc.add_carveout(
            c_str!("vdev0vring0"),
            shm,
            shm.slice(VRING0_OFF, VRING_SLOT)?,
            da_of(VRING0_OFF),
            Carveout::Mapped,
        )?;
        rproc.add_carveout(
            c_str!("vdev0vring1"),
            shm,
            shm.slice(VRING1_OFF, VRING_SLOT)?,
            da_of(VRING1_OFF),
            Carveout::Mapped,
        )?;
        let pool = shm.slice(POOL_OFF, shm.len() - POOL_OFF)?;
        rproc.add_carveout(
            c_str!("vdev0buffer"),
            shm,
            pool,
            da_of(POOL_OFF),
            Carveout::Pool,
        )
    }

    fn attach(this: ArcBorrow<'_, Self>, _rproc: &Rproc) -> Result {
        this.state.lock().phase = Phase::Running;
        Ok(())
    }

    fn detach(this: ArcBorrow<'_, Self>, _rproc: &Rproc) -> Result {
        let mut st = this.state.lock();
        st.phase = Phase::Offline;
        st.fw.reset();
        Ok(())
    }

    fn stop(this: ArcBorrow<'_, Self>, rproc: &Rproc) -> Result {
        Self::detach(this, rproc)
    }

    fn kick(this: ArcBorrow<'_, Self>, _rproc: &Rproc, _vqid: i32) {
        Self::schedule_service(this);
    }

    fn resource_table(&self) -> Result<ShmSlice<'_>> {
        self.shm.slice(RSC_OFF, rsc::TABLE_LEN)
    }
}

fn fw_error(e: FwError) -> Error {
    match e {
        FwError::Invalid => EINVAL,
        FwError::Exists => EEXIST,
        FwError::NotFound => ENOENT,
        FwError::Busy => EBUSY,
        FwError::NoSpace => ENOSPC,
    }
}

fn parse_u32(s: Option<&str>) -> Result<u32> {
    let s = s.ok_or(EINVAL)?;
    let parsed = match s.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| EINVAL)
}

/// Reads one short text command from userspace.
fn read_command<'a>(reader: &mut UserSliceReader, buf: &'a mut [u8; 256]) -> Result<&'a str> {
    let len = reader.len();
    if len == 0 || len > buf.len() {
        return Err(EINVAL);
    }
    reader.read_slice(&mut buf[..len])?;
    core::str::from_utf8(&buf[..len])
        .map(str::trim)
        .map_err(|_| EINVAL)
}

fn control_write(this: &Arc<SimRemote>, reader: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; 256];
    let cmd = read_command(reader, &mut buf)?;
    let mut words = cmd.split_ascii_whitespace();
    let verb = words.next().ok_or(EINVAL)?;
    match verb {
        "announce" => {
            let name = words.next().ok_or(EINVAL)?;
            let service = Service::parse(words.next().ok_or(EINVAL)?).ok_or(EINVAL)?;
            let addr = match words.next() {
                Some(a) => parse_u32(Some(a))?,
                None => ADDR_ANY,
            };
            if words.next().is_some() {
                return Err(EINVAL);
            }
            this.state
                .lock()
                .fw
                .announce(name, service, addr)
                .map_err(fw_error)?;
        }
        "destroy" => {
            let name = words.next().ok_or(EINVAL)?;
            if words.next().is_some() {
                return Err(EINVAL);
            }
            this.state.lock().fw.destroy(name).map_err(fw_error)?;
        }
        "source" => {
            let from = parse_u32(words.next())?;
            let to = parse_u32(words.next())?;
            let count = parse_u32(words.next())?;
            let size = parse_u32(words.next())? as usize;
            if words.next().is_some() {
                return Err(EINVAL);
            }
            this.state
                .lock()
                .fw
                .start_source(from, to, count, size)
                .map_err(fw_error)?;
        }
        "stall" | "resume" => {
            if words.next().is_some() {
                return Err(EINVAL);
            }
            let mut st = this.state.lock();
            if verb == "stall" {
                st.fw.stall();
            } else {
                st.fw.resume();
            }
        }
        "inject" => {
            let fault = Fault::parse(words.next().ok_or(EINVAL)?).ok_or(EINVAL)?;
            if words.next().is_some() {
                return Err(EINVAL);
            }
            this.state.lock().fw.inject(fault).map_err(fw_error)?;
        }
        "crash" => {
            if words.next().is_some() {
                return Err(EINVAL);
            }
            let rproc = {
                let mut st = this.state.lock();
                if st.phase != Phase::Running {
                    return Err(EBUSY);
                }
                st.phase = Phase::Crashed;
                st.crashes += 1;
                st.rproc.clone()
            };
            if let Some(rproc) = rproc {
                rproc.report_crash();
            }
            return Ok(());
        }
        _ => return Err(EINVAL),
    }
    SimRemote::schedule_service(this.as_arc_borrow());
    Ok(())
}

fn stats_show(this: &Arc<SimRemote>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let st = this.state.lock();
    let state = match st.phase {
        Phase::Offline => "offline",
        Phase::Running => "running",
        Phase::Crashed => "crashed",
    };
    let s = &st.fw.stats;
    writeln!(f, "state: {state}")?;
    writeln!(f, "crashes: {}", U64(st.crashes))?;
    let counters = [
        ("rx", &s.rx),
        ("tx", &s.tx),
        ("echo.rx", &s.echo_rx),
        ("echo.tx", &s.echo_tx),
        ("sink.rx", &s.sink_rx),
        ("source.rx", &s.source_rx),
        ("source.tx", &s.source_tx),
    ];
    for (name, c) in counters {
        writeln!(
            f,
            "{name}_msgs: {}\n{name}_bytes: {}",
            U64(c.msgs),
            U64(c.bytes)
        )?;
    }
    writeln!(f, "source.pending: {}", st.fw.source_pending())?;
    writeln!(
        f,
        "ns.tx_create: {}\nns.tx_destroy: {}",
        U64(s.ns_tx_create),
        U64(s.ns_tx_destroy)
    )?;
    writeln!(
        f,
        "ns.rx_create: {}\nns.rx_destroy: {}",
        U64(s.ns_rx_create),
        U64(s.ns_rx_destroy)
    )?;
    writeln!(
        f,
        "errors.unknown_dst: {}\nerrors.bad_msg: {}",
        U64(s.unknown_dst),
        U64(s.bad_msg)
    )?;
    writeln!(
        f,
        "errors.bad_desc: {}\nerrors.dropped_replies: {}",
        U64(s.bad_desc),
        U64(s.dropped_replies)
    )?;
    writeln!(f, "errors.broken_rings: {}", U64(s.broken_rings))?;
    writeln!(f, "host_starts: {}", U64(s.host_starts))?;
    writeln!(f, "stalled: {}", u8::from(st.fw.stalled()))?;
    for fault in Fault::ALL {
        writeln!(
            f,
            "injected.{}: {}",
            fault.as_str(),
            U64(s.injected[fault.index()])
        )?;
    }
    writeln!(f, "injected.pending: {}", st.fw.faults_pending())?;
    let sizes = st.fw.sizes();
    writeln!(
        f,
        "bufsz.to_host: {}\nbufsz.from_host: {}",
        sizes.rx, sizes.tx
    )?;
    writeln!(f, "busy_ns: {}", U64(st.busy_ns))?;
    writeln!(f, "services: {}", U64(st.services))?;
    let avail = st.fw.tx_bufs_avail(&RemoteView(&this.shm));
    writeln!(f, "tx_bufs_avail: {}", avail.unwrap_or(0))
}

fn endpoints_show(this: &Arc<SimRemote>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let st = this.state.lock();
    for e in st.fw.endpoints() {
        writeln!(f, "{} {} {}", e.addr, e.service.as_str(), e.name.as_str())?;
    }
    Ok(())
}

fn host_channels_show(this: &Arc<SimRemote>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let st = this.state.lock();
    for c in st.fw.host_channels() {
        writeln!(f, "{} {}", c.addr, c.name.as_str())?;
    }
    Ok(())
}

fn boot_channels_show(this: &Arc<SimRemote>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let st = this.state.lock();
    for (name, service) in st.boot_channels.iter() {
        writeln!(f, "{}:{}", name.as_str(), service.as_str())?;
    }
    Ok(())
}

/// Replaces the channels announced at the next boot: `name:service[,...]`.
fn boot_channels_write(this: &Arc<SimRemote>, reader: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; 256];
    let list = read_command(reader, &mut buf)?;
    let mut channels = KVec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, service) = item.split_once(':').ok_or(EINVAL)?;
        let name = Name::new(name.as_bytes()).map_err(|_| EINVAL)?;
        let service = Service::parse(service).ok_or(EINVAL)?;
        if channels.len() == MAX_BOOT_CHANNELS || channels.iter().any(|(n, _)| *n == name) {
            return Err(EINVAL);
        }
        channels.push((name, service), GFP_KERNEL)?;
    }
    this.state.lock().boot_channels = channels;
    Ok(())
}

fn bufsz_show(this: &Arc<SimRemote>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match this.state.lock().next_offer {
        None => writeln!(f, "off"),
        Some(o) => writeln!(
            f,
            "{} {} version={} config_len={}",
            o.txbuf_size, o.rxbuf_size, o.version, o.config_len
        ),
    }
}

/// Sets the buffer size offer of the next boot: `off`, or
/// `<txbuf_size> <rxbuf_size> [version=<n>] [config_len=<n>]`.
fn bufsz_write(this: &Arc<SimRemote>, reader: &mut UserSliceReader) -> Result {
    let mut buf = [0u8; 256];
    let cmd = read_command(reader, &mut buf)?;
    let offer = if cmd == "off" {
        None
    } else {
        let mut words = cmd.split_ascii_whitespace();
        let mut offer = BufszOffer::new(parse_u32(words.next())?, parse_u32(words.next())?);
        for word in words {
            match word.split_once('=') {
                Some(("version", v)) => {
                    offer.version = u16::try_from(parse_u32(Some(v))?).map_err(|_| EINVAL)?
                }
                Some(("config_len", v)) => {
                    let len = parse_u32(Some(v))? as usize;
                    if len > proto::bufsz::CONFIG_LEN {
                        return Err(EINVAL);
                    }
                    offer.config_len = len;
                }
                _ => return Err(EINVAL),
            }
        }
        Some(offer)
    };
    this.state.lock().next_offer = offer;
    Ok(())
}

/// One registered remote. Fields drop in order: the control files go
/// first, then the processor, then its parent device.
struct Remote {
    _debugfs: Pin<KBox<debugfs::Scope<Arc<SimRemote>>>>,
    _registration: rproc::Registration<SimRemote>,
    sim: Arc<SimRemote>,
    _pdev: PlatformDevice,
}

impl Remote {
    fn new(
        index: u32,
        phys: u64,
        len: usize,
        queue: &Arc<OwnedQueue>,
        root: &debugfs::Dir,
        offer: Option<BufszOffer>,
    ) -> Result<Self> {
        let pdev = PlatformDevice::new(c_str!("rpmsg_sim"), index as i32, 32)?;
        let shm = SharedMemory::map(phys, len)?;
        let sim = SimRemote::new(index, shm, queue.clone(), offer)?;
        let name = CString::try_from_fmt(fmt!("sim{index}"))?;
        let debugfs = KBox::pin_init(
            root.scope(sim.clone(), &name, |sim, dir| {
                dir.write_only_callback_file(c_str!("control"), sim, &control_write);
                dir.read_callback_file(c_str!("stats"), sim, &stats_show);
                dir.read_callback_file(c_str!("endpoints"), sim, &endpoints_show);
                dir.read_callback_file(c_str!("host_channels"), sim, &host_channels_show);
                dir.read_write_callback_file(
                    c_str!("boot_channels"),
                    sim,
                    &boot_channels_show,
                    &boot_channels_write,
                );
                dir.read_write_callback_file(c_str!("bufsz"), sim, &bufsz_show, &bufsz_write);
            }),
            GFP_KERNEL,
        )?;
        let registration = rproc::Registration::new(&pdev, &name, sim.clone())?;
        Ok(Self {
            _debugfs: debugfs,
            _registration: registration,
            sim,
            _pdev: pdev,
        })
    }
}

struct SimModule {
    remotes: KVec<Remote>,
    queue: Arc<OwnedQueue>,
    _root: debugfs::Dir,
}

impl kernel::Module for SimModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let nr = module_parameters::nr_rprocs.value();
        let base = module_parameters::shm_base.value();
        let size = usize::try_from(module_parameters::shm_size.value()).map_err(|_| EINVAL)?;
        if nr == 0 || nr > MAX_RPROCS {
            pr_err!("nr_rprocs must be 1..={}\n", MAX_RPROCS);
            return Err(EINVAL);
        }
        // Whole pages per remote, as the DMA pool and the mappings need.
        let slot = (size / nr as usize) & !0xfff;
        let fits_32bit = base
            .checked_add(size as u64)
            .is_some_and(|end| end <= 1 << 32);
        if base == 0 || slot < MIN_SLOT || !fits_32bit {
            pr_err!(
                "needs reserved memory below 4 GiB: shm_base=<phys> shm_size=<{} MiB per remote>\n",
                MIN_SLOT >> 20
            );
            return Err(EINVAL);
        }
        // Both sizes or neither: the parameters set a well-formed offer,
        // debugfs any other.
        let offer = match (
            module_parameters::bufsz_tx.value(),
            module_parameters::bufsz_rx.value(),
        ) {
            (0, 0) => None,
            (0, _) | (_, 0) => {
                pr_err!("bufsz_tx and bufsz_rx go together\n");
                return Err(EINVAL);
            }
            (tx, rx) => Some(BufszOffer::new(tx, rx)),
        };
        let queue = Arc::new(OwnedQueue::new_unbound(c_str!("rpmsg_sim"))?, GFP_KERNEL)?;
        let root = debugfs::Dir::new(c_str!("rpmsg_sim"));
        let mut this = SimModule {
            remotes: KVec::new(),
            queue,
            _root: root,
        };
        for i in 0..nr {
            let phys = base + u64::from(i) * slot as u64;
            let remote = Remote::new(i, phys, slot, &this.queue, &this._root, offer)?;
            this.remotes.push(remote, GFP_KERNEL)?;
        }
        pr_info!("{} simulated remote processor(s) registered\n", nr);
        Ok(this)
    }
}

impl Drop for SimModule {
    fn drop(&mut self) {
        // Stop serving first, so that nothing raises interrupts while the
        // core tears the virtio devices down; then wait for running work.
        for remote in self.remotes.iter() {
            remote.sim.shutdown();
        }
        self.queue.flush();
        self.remotes.clear();
        self.queue.flush();
    }
}
