//! The daemon's side of the data plane: the pure [`program::Programmer`]
//! fed from the RIB and uplink states, and the appliers that write its
//! changes into the XDP maps ([`xdp`]) and the kernel ([`kernel`]), all
//! in a [`plane::Plane`].
//!
//! The route owner computes each prefix's entry from the RIB; programming
//! it (group ids, the DIR-24-8 and poptrie writes, the flush into the
//! maps) costs about twice that. A loading table's chunks are therefore
//! programmed by a writer thread while the route owner computes the next
//! chunk's entries or learns, so the data plane fills on two cores. Only
//! chunks go there: everything else (a single change, a drain, a reload,
//! a netlink event, a control request) first programs what is queued and
//! then runs on the route owner's thread, in order, as before.
//!
//! Suppress until programmed holds either way: a queued prefix is reported
//! to neighbours ([`Fib::take_programmed`]) only once the writer has
//! programmed it.

pub mod kernel;
pub mod placer;
mod plane;
mod ports;
pub mod program;
pub mod xdp;

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use sluice_config::Config;
use sluice_control::{CountersView, DataplaneStatus, FibView};
use sluice_netlink::Event as NlEvent;
use sluice_rib::Rib;
use sluice_rib::fib::{Entry, Local};
use sluice_wire::Prefix;
use tokio::sync::Notify;

use crate::routing::BACKLOG_CHUNK;
use plane::Plane;
use program::Port;

/// A prefix, its entry under the uplink states of the moment, and whether
/// it yielded to a covering route ([`Local::placement`]).
pub type Placement = (Prefix, Option<Entry>, bool);

/// Updates shorter than this are programmed on the route owner's thread:
/// handing them over would cost more than it saves.
const HAND_OVER_MIN: usize = 1024;

/// Placements in the writer's queue at most, programmed or not until the
/// route owner took its report: two chunks of the backlog, one for it to
/// program while the route owner computes the next (at about 150 bytes a
/// placement, 2.4 MiB).
const QUEUED_MAX: usize = 2 * BACKLOG_CHUNK;

/// Waits for a writer (the kernel FIB's or this module's): to have written
/// prefixes, or to have taken a batch; or for either of two such events
/// ([`Self::or`]).
#[derive(Debug, Clone)]
pub struct Signal(Arc<Notify>, Option<Arc<Notify>>);

impl Signal {
    pub fn new(notify: Arc<Notify>) -> Signal {
        Signal(notify, None)
    }

    /// Wakes on this or on `other` (which must be a single one).
    pub fn or(self, other: Signal) -> Signal {
        Signal(self.0, Some(other.0))
    }

    pub async fn wait(&self) {
        match &self.1 {
            None => self.0.notified().await,
            Some(other) => tokio::select! {
                _ = self.0.notified() => {}
                _ = other.notified() => {}
            },
        }
    }
}

/// The data plane as the route owner drives it.
#[derive(Debug)]
pub struct Fib {
    plane: Arc<Mutex<Plane>>,
    queue: Arc<Queue>,
    writer: Option<JoinHandle<()>>,
    /// What entries are computed from, as the plane has them (kept equal
    /// by [`Self::set_active`] and [`Self::reconfigure`]).
    local: Local,
    active: Vec<bool>,
    /// Some prefix yielded to a covering route ([`Plane::suppressing`]).
    suppressing: bool,
    programs: bool,
    kernel_forwards: bool,
    /// The kernel FIB's queue, and whether it paces the data plane.
    kernel: Option<(kernel::Handle, bool)>,
}

/// Placements handed to the writer, and the parts it programmed.
#[derive(Debug, Default)]
struct Queue {
    state: Mutex<Queued>,
    wake: Condvar,
    /// The writer programmed parts: [`Fib::take_programmed`] has them.
    programmed: Arc<Notify>,
    /// The same, for [`Fib::room_signal`]: the room is freed once the
    /// route owner took them.
    room: Arc<Notify>,
}

#[derive(Debug, Default)]
struct Queued {
    /// To program, in order.
    parts: VecDeque<Vec<Placement>>,
    /// Programmed, for [`Fib::take_programmed`].
    done: Vec<Vec<Placement>>,
    /// Taken, emptied, for the next part: a part is about a megabyte,
    /// whose pages a fresh allocation would fault in again each time.
    spare: Vec<Vec<Placement>>,
    /// Placements in `parts`, in the writer's hands and in `done`.
    len: usize,
    closed: bool,
}

/// Parts kept for reuse at most.
const SPARE: usize = QUEUED_MAX / BACKLOG_CHUNK;

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Queued> {
        self.state.lock().expect("fib queue lock")
    }

    /// Programs every queued part into `plane`, whose lock the caller
    /// holds: whoever holds it takes parts in queue order.
    fn program(&self, plane: &mut Plane) {
        let parts = std::mem::take(&mut self.lock().parts);
        if parts.is_empty() {
            return;
        }
        for part in &parts {
            plane.program(part, None);
        }
        self.lock().done.extend(parts);
        self.programmed.notify_one();
        self.room.notify_one();
    }
}

impl Drop for Fib {
    fn drop(&mut self) {
        if let Ok(mut q) = self.queue.state.lock() {
            q.closed = true;
        }
        self.queue.wake.notify_one();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// The writer: programs what is queued until the queue closes.
fn write_loop(plane: &Mutex<Plane>, queue: &Queue) {
    loop {
        {
            let mut q = queue.lock();
            while q.parts.is_empty() && !q.closed {
                q = queue.wake.wait(q).expect("fib queue lock");
            }
            if q.parts.is_empty() {
                return;
            }
        }
        queue.program(&mut plane.lock().expect("fib lock"));
    }
}

impl Fib {
    /// Sets up the data plane the config asks for ([`Plane::start`]).
    pub fn start(config: &Config) -> Fib {
        let plane = Plane::start(config);
        let programs = plane.programs();
        let mut fib = Fib {
            local: Local::new(config),
            active: plane.active().to_vec(),
            suppressing: plane.suppressing(),
            programs,
            kernel_forwards: plane.kernel_forwards(),
            kernel: plane.kernel_handle(),
            plane: Arc::new(Mutex::new(plane)),
            queue: Arc::default(),
            writer: None,
        };
        if programs {
            let (plane, queue) = (fib.plane.clone(), fib.queue.clone());
            match std::thread::Builder::new()
                .name("fib-writer".into())
                .spawn(move || write_loop(&plane, &queue))
            {
                Ok(handle) => fib.writer = Some(handle),
                // Everything is programmed on the route owner's thread then.
                Err(e) => tracing::warn!("data plane: no writer thread: {e}"),
            }
        }
        fib
    }

    /// The plane, with everything queued programmed: what the route owner
    /// does next comes after it.
    fn sync(&self) -> MutexGuard<'_, Plane> {
        let mut plane = self.plane.lock().expect("fib lock");
        self.queue.program(&mut plane);
        plane
    }

    /// Whether any data plane takes routes: XDP maps or the kernel FIB.
    pub fn programs(&self) -> bool {
        self.programs
    }

    /// Whether this data plane waits for a configured interface to appear
    /// and `event` is one: then start it anew ([`Fib::start`]).
    pub fn should_start(&self, event: &NlEvent) -> bool {
        self.sync().should_start(event)
    }

    /// A netlink event; true if an interface changed (uplink states may
    /// follow).
    pub fn netlink_event(&mut self, event: NlEvent) -> bool {
        self.sync().netlink_event(event)
    }

    /// Re-evaluates `prefixes` from the RIB and programs the difference.
    /// Returns the prefixes neighbours may hear of now; the rest are
    /// reported once programmed ([`Self::take_programmed`]).
    ///
    /// A long list is handed to the writer while no prefix yields to a
    /// covering route (no route that only non-active uplinks offer is
    /// covered by another): then none has to be placed again when its
    /// cover changes ([`placer::Placer::covering_changed`]). Not when the
    /// kernel FIB forwards: its prefixes are reported once written there.
    pub fn update(&mut self, rib: &Rib, prefixes: &[Prefix]) -> Vec<Prefix> {
        if !self.programs {
            return prefixes.to_vec();
        }
        let hand_over = self.writer.is_some()
            && !self.kernel_forwards
            && (HAND_OVER_MIN..=QUEUED_MAX).contains(&prefixes.len())
            && !self.suppressing;
        let part = hand_over
            .then(|| {
                let mut part = self.queue.lock().spare.pop().unwrap_or_default();
                placer::placements(&self.local, &self.active, rib, prefixes, &mut part);
                part
            })
            .filter(|part| part.iter().all(|(_, _, yielded)| !yielded));
        let Some(part) = part else {
            return self.change(|plane| plane.update(rib, prefixes));
        };
        let mut q = self.queue.lock();
        q.len += part.len();
        q.parts.push_back(part);
        drop(q);
        self.queue.wake.notify_one();
        Vec::new()
    }

    /// New uplink states ([`Plane::set_active`]).
    pub fn set_active(&mut self, rib: &Rib, active: &[bool]) {
        self.change(|plane| plane.set_active(rib, active));
    }

    /// A new config: static routes and announces may have changed.
    pub fn reconfigure(&mut self, config: &Config, rib: &Rib, paths_changed: bool) {
        self.change(|plane| plane.reconfigure(config, rib, paths_changed));
        self.local = Local::new(config);
    }

    /// Runs `change` on the plane after what is queued, then keeps what
    /// entries are computed under as it left them: the uplink states and
    /// whether some prefix yields to a covering route.
    fn change<T>(&mut self, change: impl FnOnce(&mut Plane) -> T) -> T {
        let mut plane = self.sync();
        let out = change(&mut plane);
        let active = (plane.active() != self.active.as_slice()).then(|| plane.active().to_vec());
        let suppressing = plane.suppressing();
        drop(plane);
        if let Some(active) = active {
            self.active = active;
        }
        self.suppressing = suppressing;
        out
    }

    /// Interface `name` as the kernel last reported it.
    pub fn port(&self, name: &str) -> Option<Port> {
        self.sync().port(name)
    }

    /// The MAC of neighbour `addr`, if resolved.
    pub fn neighbour(&self, addr: &IpAddr) -> Option<[u8; 6]> {
        self.sync().neighbour(addr)
    }

    /// Prefixes kept from a previous run that the RIB has not replaced.
    pub fn stale(&self) -> usize {
        self.sync().stale()
    }

    /// Whether the kernel FIB is what forwards (no XDP, or XDP in
    /// `bpf_fib_lookup` mode): routes are then advertised only once
    /// written there.
    pub fn kernel_forwards(&self) -> bool {
        self.kernel_forwards
    }

    /// Adds to `out` the prefixes programmed since the last call that
    /// neighbours may now hear of: those the writer programmed, and those
    /// the kernel FIB wrote when it is what forwards. What the writer
    /// programmed leaves its queue only now ([`Self::room`]).
    pub fn take_programmed(&self, out: &mut Vec<Prefix>) {
        let mut q = self.queue.lock();
        let Queued {
            done, spare, len, ..
        } = &mut *q;
        for mut part in done.drain(..) {
            *len -= part.len();
            out.extend(part.iter().map(|(prefix, _, _)| *prefix));
            part.clear();
            if spare.len() < SPARE {
                spare.push(part);
            }
        }
        drop(q);
        if let Some((k, _)) = self.kernel.as_ref() {
            out.extend(
                k.take_written()
                    .into_iter()
                    .filter_map(|(addr, len)| Prefix::new(addr, len).ok()),
            );
        }
    }

    /// Wakes when there are prefixes for [`Self::take_programmed`].
    pub fn programmed_signal(&self) -> Option<Signal> {
        if !self.programs {
            return None;
        }
        let writer = Signal::new(self.queue.programmed.clone());
        Some(match self.kernel.as_ref() {
            Some((k, _)) if self.kernel_forwards => writer.or(k.written_signal()),
            _ => writer,
        })
    }

    /// How many more prefixes the backlog may place now: no more than the
    /// writer's queue has room for, and, while the kernel FIB writes a
    /// table, only while the changes it has yet to take are fewer than
    /// [`kernel::PENDING_MAX`] (the XDP FIB runs that far ahead of it); the
    /// rest waits in the route owner's backlog.
    pub fn room(&self) -> usize {
        // Less than a chunk would be programmed here, not handed over.
        let queued = match self.writer {
            Some(_) => Some(QUEUED_MAX.saturating_sub(self.queue.lock().len))
                .filter(|&free| free >= BACKLOG_CHUNK)
                .unwrap_or(0),
            None => usize::MAX,
        };
        match &self.kernel {
            Some((k, true)) => queued.min(k.room()),
            _ => queued,
        }
    }

    /// Wakes when [`Self::room`] may have grown.
    pub fn room_signal(&self) -> Option<Signal> {
        let writer = Signal::new(self.queue.room.clone());
        match &self.kernel {
            Some((k, true)) => Some(writer.or(k.room_signal())),
            _ => self.writer.is_some().then_some(writer),
        }
    }

    /// Whether a previous run's state awaits [`Self::sweep_stale`].
    pub fn adopting(&self) -> bool {
        self.sync().adopting()
    }

    /// Removes what a previous run left and nothing replaced
    /// ([`Plane::sweep_stale`]).
    pub fn sweep_stale(&mut self) -> Option<String> {
        self.sync().sweep_stale()
    }

    /// The daemon stops: with `keep`, forwarding goes on as programmed;
    /// without, everything Sluice installed is removed.
    pub fn stop(self, keep: bool) {
        let plane = self.plane.clone();
        // The writer programs what is queued and ends.
        drop(self);
        match Arc::try_unwrap(plane) {
            Ok(plane) => plane.into_inner().expect("fib lock").stop(keep),
            Err(_) => tracing::warn!("data plane: still in use at stop"),
        }
    }

    /// One line for the event log.
    pub fn describe(&self) -> String {
        self.sync().describe()
    }

    pub fn status(&self) -> DataplaneStatus {
        self.sync().status()
    }

    /// `show fib` ([`Plane::show`]).
    pub fn show(
        &self,
        filter: Option<&Prefix>,
        after: Option<Prefix>,
        limit: usize,
        maps: bool,
    ) -> FibView {
        self.sync().show(filter, after, limit, maps)
    }

    /// Packets forwarded so far through each of `uplinks`' next hops
    /// (config order), those since freed included; None without XDP.
    pub fn outbound(&self, config: &Config) -> Option<Vec<u64>> {
        self.sync().outbound(config)
    }

    /// `show counters`.
    pub fn counters(&self) -> CountersView {
        self.sync().counters()
    }
}
