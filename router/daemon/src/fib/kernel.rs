//! The kernel FIB, written in the background over netlink so that the slow
//! path and the router's own traffic follow the same decisions as XDP.
//!
//! Writing a full table into the kernel takes seconds, so the route owner
//! only records what should change ([`KernelFib::push`], a few map inserts
//! under a lock) and a thread writes it in batches. Pending changes
//! coalesce: a prefix that changes twice before it is written is written
//! once. While a table loads, the route owner places no more than
//! [`KernelFib::room`] allows: the XDP FIB runs at most [`PENDING_MAX`]
//! changes ahead of the kernel's, and the rest of the table waits once, in
//! the route owner's packed backlog, not a second time here (15 MiB of a
//! million-route load's peak).
//!
//! Kernel nexthop ids: next hop `h` is object `h`, group `g` is object
//! [`GROUP_BASE`]` + g`. Every route and object carries Sluice's route
//! protocol; nothing else in the kernel is touched.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use tokio::sync::Notify;

use super::Signal;

use sluice_netlink::{Netlink, Route, RouteChange, RouteTarget};

use crate::packed::{Packed, PrefixMap, PrefixSet};

/// Kernel nexthop id of group 0; single next hops use their own id.
pub const GROUP_BASE: u32 = 100_000;

/// Routes per netlink batch: large enough to amortise, small enough that
/// newer changes still coalesce and a stop is seen soon.
const BATCH: usize = 20_000;

/// Route changes queued for the writer beyond which the route owner places
/// no more ([`KernelFib::room`]): enough for the writer to always find full
/// batches, few enough to be a megabyte where a table's worth was 15.
pub const PENDING_MAX: usize = 4 * BATCH;

pub type KernelPrefix = (IpAddr, u8);

/// A kernel nexthop group's members: (nexthop id, weight).
pub type Members = Vec<(u32, u16)>;

/// Where a route of Sluice's goes in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The nexthop object of group `g` ([`GROUP_BASE`]` + g`).
    Group(u16),
    /// A blackhole (discard route).
    Discard,
}

impl Target {
    fn route(self) -> RouteTarget {
        match self {
            Target::Group(g) => RouteTarget::Nexthop(GROUP_BASE + u32::from(g)),
            Target::Discard => RouteTarget::Blackhole,
        }
    }
}

/// A pending change in 17 bits: 0 removes the route, 1 discards, `2 + g`
/// goes to group `g`.
impl Packed for Option<Target> {
    fn pack(self) -> u32 {
        match self {
            None => 0,
            Some(Target::Discard) => 1,
            Some(Target::Group(g)) => 2 + u32::from(g),
        }
    }
    fn unpack(bits: u32) -> Self {
        match bits {
            0 => None,
            1 => Some(Target::Discard),
            g => Some(Target::Group((g - 2) as u16)),
        }
    }
}

#[derive(Debug, Default)]
struct Pending {
    hops: BTreeMap<u32, Option<(IpAddr, u32)>>,
    groups: BTreeMap<u32, Option<Members>>,
    routes: PrefixMap<Option<Target>>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.hops.is_empty() && self.groups.is_empty() && self.routes.is_empty()
    }
}

#[derive(Debug, Default)]
struct State {
    pending: Pending,
    /// Some(flush): stop, removing everything Sluice installed if `flush`.
    stop: Option<bool>,
    /// How many prefixes have a Sluice route in the kernel: counted from
    /// the kernel's answers (see [`write`]) rather than from a copy of the
    /// table, which would cost more than the kernel FIB's bookkeeping.
    installed: usize,
    /// Installed by a previous run and not written since.
    stale: PrefixSet,
    writing: bool,
    /// Count `installed` again from a dump before the next batch: the
    /// kernel removed routes on its own (with a link's nexthop objects).
    recount: bool,
    errors: u64,
    last_error: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// Prefixes written since the last [`Handle::take_written`], when
    /// someone waits for them; `written_ready` wakes that someone.
    written: Mutex<Option<Vec<KernelPrefix>>>,
    written_ready: Arc<Notify>,
    /// Woken whenever the writer takes a batch: there is room again.
    room_ready: Arc<Notify>,
}

/// Counts for `sluice status`.
#[derive(Debug, Clone, Default)]
pub struct KernelStatus {
    pub installed: usize,
    pub pending: usize,
    pub stale: usize,
    pub errors: u64,
    pub last_error: Option<String>,
}

/// A [`KernelFib`]'s queue as seen from outside the data plane's lock.
#[derive(Debug, Clone)]
pub struct Handle(Arc<Shared>);

impl Handle {
    /// Prefixes written since the last call.
    pub fn take_written(&self) -> Vec<KernelPrefix> {
        let mut w = self.0.written.lock().expect("kernel fib lock");
        w.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// A handle that waits for prefixes to be written.
    pub fn written_signal(&self) -> Signal {
        Signal::new(self.0.written_ready.clone())
    }

    /// How many more route changes the writer takes now: [`PENDING_MAX`]
    /// less those it has yet to take.
    pub fn room(&self) -> usize {
        let s = self.0.state.lock().expect("kernel fib lock");
        PENDING_MAX.saturating_sub(s.pending.routes.len())
    }

    /// A handle that waits for the writer to take a batch (to make room).
    pub fn room_signal(&self) -> Signal {
        Signal::new(self.0.room_ready.clone())
    }
}

/// The background writer.
#[derive(Debug)]
pub struct KernelFib {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl KernelFib {
    /// Opens netlink, adopts the routes a previous run left (kept until
    /// [`Self::sweep_stale`]) and starts the writer. Returns the nexthop
    /// object ids in use, which new ones must not reuse meanwhile.
    pub fn start() -> std::io::Result<(KernelFib, Vec<u32>)> {
        let mut nl = Netlink::new()?;
        let routes = nl.own_routes()?;
        let ids: Vec<u32> = nl.own_nexthops()?.iter().map(|n| n.id).collect();
        let installed = PrefixSet::from_prefixes(routes.iter().map(|r| r.prefix));
        let shared = Arc::new(Shared::default());
        {
            let mut s = shared.state.lock().expect("kernel fib lock");
            s.installed = installed.len();
            s.stale = installed;
        }
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("kernel-fib".into())
                .spawn(move || write_loop(nl, &shared))?
        };
        Ok((
            KernelFib {
                shared,
                thread: Some(thread),
            },
            ids,
        ))
    }

    /// Queues changes; the writer coalesces and writes them.
    pub fn push(
        &self,
        hops: impl IntoIterator<Item = (u32, Option<(IpAddr, u32)>)>,
        groups: impl IntoIterator<Item = (u32, Option<Members>)>,
        routes: impl IntoIterator<Item = (KernelPrefix, Option<Target>)>,
    ) {
        let mut s = self.shared.state.lock().expect("kernel fib lock");
        s.pending.hops.extend(hops);
        s.pending.groups.extend(groups);
        for (prefix, target) in routes {
            s.stale.remove(&prefix);
            s.pending.routes.insert(prefix, target);
        }
        if !s.pending.is_empty() {
            self.shared.wake.notify_one();
        }
    }

    /// Has the writer count the kernel's routes again before the next
    /// batch: call it when the kernel may have removed some on its own.
    pub fn recount(&self) {
        let mut s = self.shared.state.lock().expect("kernel fib lock");
        s.recount = true;
        self.shared.wake.notify_one();
    }

    /// Removes adopted routes that nothing wrote since the start.
    pub fn sweep_stale(&self) {
        let mut s = self.shared.state.lock().expect("kernel fib lock");
        for p in s.stale.drain_keys() {
            s.pending.routes.insert_new(p, None);
        }
        self.shared.wake.notify_one();
    }

    /// From now on, remember which prefixes were written (for suppress
    /// until programmed when the kernel FIB is the one forwarding).
    pub fn track_written(&self) {
        let mut w = self.shared.written.lock().expect("kernel fib lock");
        w.get_or_insert_with(Vec::new);
    }

    /// What the route owner asks of the writer while another thread holds
    /// the data plane: room, and what was written.
    pub fn handle(&self) -> Handle {
        Handle(self.shared.clone())
    }

    /// Whether every change pushed so far is in the kernel.
    pub fn idle(&self) -> bool {
        let s = self.shared.state.lock().expect("kernel fib lock");
        !s.writing && s.pending.is_empty()
    }

    pub fn status(&self) -> KernelStatus {
        let s = self.shared.state.lock().expect("kernel fib lock");
        KernelStatus {
            installed: s.installed,
            pending: s.pending.routes.len(),
            stale: s.stale.len(),
            errors: s.errors,
            last_error: s.last_error.clone(),
        }
    }

    /// Stops the writer: with `flush`, after removing every route and
    /// nexthop object Sluice installed; otherwise what is installed stays
    /// (pending changes not yet written are dropped: the next start adopts
    /// the kernel's state).
    pub fn stop(self, flush: bool) {
        if let Ok(mut s) = self.shared.state.lock() {
            s.stop = Some(flush);
        }
        // Drop wakes the writer and waits for it.
    }
}

impl Drop for KernelFib {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            if let Ok(mut s) = self.shared.state.lock() {
                s.stop.get_or_insert(false);
            }
            self.shared.wake.notify_one();
            let _ = t.join();
        }
    }
}

/// Takes one batch: every next hop and group change, up to [`BATCH`]
/// routes; deletions of objects wait until no route change is left, since
/// deleting a nexthop object deletes the routes still using it.
fn take_batch(s: &mut State) -> Pending {
    let mut batch = Pending {
        hops: std::mem::take(&mut s.pending.hops),
        groups: std::mem::take(&mut s.pending.groups),
        routes: s.pending.routes.take(BATCH),
    };
    if !s.pending.routes.is_empty() {
        let later_hops = batch.hops.iter().filter(|(_, v)| v.is_none());
        s.pending.hops.extend(later_hops.map(|(k, _)| (*k, None)));
        batch.hops.retain(|_, v| v.is_some());
        let later_groups = batch.groups.iter().filter(|(_, v)| v.is_none());
        s.pending
            .groups
            .extend(later_groups.map(|(k, _)| (*k, None)));
        batch.groups.retain(|_, v| v.is_some());
    }
    batch
}

fn write_loop(mut nl: Netlink, shared: &Shared) {
    loop {
        let (batch, recount) = {
            let mut s = shared.state.lock().expect("kernel fib lock");
            while s.pending.is_empty() && s.stop.is_none() && !s.recount {
                s = shared.wake.wait(s).expect("kernel fib lock");
            }
            if let Some(flush) = s.stop {
                drop(s);
                if flush && let Err(e) = nl.flush_own() {
                    tracing::warn!("kernel FIB: removing Sluice's routes: {e}");
                }
                return;
            }
            s.writing = true;
            (take_batch(&mut s), std::mem::take(&mut s.recount))
        };
        if !batch.routes.is_empty() {
            shared.room_ready.notify_one();
        }
        let mut errors = Vec::new();
        let counted = if recount {
            nl.count_own_routes()
                .map_err(|e| errors.push(format!("counting routes: {e}")))
                .ok()
        } else {
            None
        };
        let (added, removed) = write(&mut nl, &batch, &mut errors);
        if let Some(w) = shared.written.lock().expect("kernel fib lock").as_mut() {
            w.extend(batch.routes.keys());
            shared.written_ready.notify_one();
        }
        let mut s = shared.state.lock().expect("kernel fib lock");
        s.writing = false;
        s.installed = (counted.unwrap_or(s.installed) + added).saturating_sub(removed);
        if !errors.is_empty() {
            if s.errors == 0 {
                tracing::warn!("kernel FIB: {} (and {} more)", errors[0], errors.len() - 1);
            }
            s.errors += errors.len() as u64;
            s.last_error = errors.pop();
        }
    }
}

/// Writes a batch; returns how many routes it added and removed. Routes
/// go as exclusive creates first: the ones the kernel already has come back
/// as `EEXIST` and are replaced in a second round, so the answers count the
/// table without a copy of it.
fn write(nl: &mut Netlink, batch: &Pending, errors: &mut Vec<String>) -> (usize, usize) {
    for (&id, hop) in &batch.hops {
        if let Some((gateway, ifindex)) = hop
            && let Err(e) = nl.set_nexthop(id, *gateway, *ifindex)
        {
            errors.push(format!("nexthop {id} via {gateway}: {e}"));
        }
    }
    for (&id, members) in &batch.groups {
        if let Some(members) = members {
            let r = if members.is_empty() {
                // The kernel has no empty group: the routes go instead.
                nl.delete_nexthop(id).map(|_| ())
            } else {
                nl.set_nexthop_group(id, members)
            };
            if let Err(e) = r {
                errors.push(format!("nexthop group {id}: {e}"));
            }
        }
    }
    let changes: Vec<RouteChange> = batch
        .routes
        .iter()
        .map(|(prefix, target)| match target {
            Some(t) => RouteChange::Add(Route {
                prefix,
                target: t.route(),
            }),
            None => RouteChange::Delete(prefix),
        })
        .collect();
    let mut counts = Counts::of(&changes);
    let replaces: Vec<RouteChange> = match nl.apply_routes(&changes) {
        Ok(failed) => counts.settle(failed, errors),
        Err(e) => {
            // Where the batch broke off is unknown: count nothing.
            errors.push(format!("routes: {e}"));
            counts = Counts::default();
            Vec::new()
        }
    };
    if !replaces.is_empty() {
        match nl.apply_routes(&replaces) {
            Ok(failed) => {
                counts.settle(failed, errors);
            }
            Err(e) => errors.push(format!("routes: {e}")),
        }
    }
    for (&id, members) in &batch.groups {
        if members.is_none() {
            let _ = nl.delete_nexthop(id);
        }
    }
    for (&id, hop) in &batch.hops {
        if hop.is_none() {
            let _ = nl.delete_nexthop(id);
        }
    }
    (counts.added, counts.removed)
}

/// What a batch did to the kernel's table, from its answers: every add and
/// delete counts unless the kernel refused it.
#[derive(Debug, Default, PartialEq)]
struct Counts {
    added: usize,
    removed: usize,
}

impl Counts {
    fn of(changes: &[RouteChange]) -> Counts {
        let removed = changes
            .iter()
            .filter(|c| matches!(c, RouteChange::Delete(_)))
            .count();
        Counts {
            added: changes.len() - removed,
            removed,
        }
    }

    /// Takes back what failed; returns the adds that met a route already
    /// there, as replaces to send.
    fn settle(
        &mut self,
        failed: Vec<(RouteChange, std::io::Error)>,
        errors: &mut Vec<String>,
    ) -> Vec<RouteChange> {
        let mut replaces = Vec::new();
        for (change, e) in failed {
            let errno = sluice_netlink::kernel_errno(&e);
            match change {
                RouteChange::Add(r) => {
                    self.added -= 1;
                    if errno == Some(libc::EEXIST) {
                        replaces.push(RouteChange::Set(r));
                        continue;
                    }
                }
                RouteChange::Delete(_) => {
                    self.removed -= 1;
                    // Deleting a route the kernel already removed is fine.
                    if errno == Some(libc::ESRCH) {
                        continue;
                    }
                }
                RouteChange::Set(_) => {}
            }
            let (addr, len) = change.prefix();
            errors.push(format!("route {addr}/{len}: {e}"));
        }
        replaces
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_pack_in_the_bits_beside_a_key() {
        let all = [
            None,
            Some(Target::Discard),
            Some(Target::Group(0)),
            Some(Target::Group(1)),
            Some(Target::Group(u16::MAX)),
        ];
        for t in all {
            assert!(t.pack() < 1 << 24, "{t:?}");
            assert_eq!(Option::<Target>::unpack(t.pack()), t);
        }
        let mut m = PrefixMap::default();
        m.insert((IpAddr::from([10, 0, 0, 0]), 8), Some(Target::Group(7)));
        let batch = m.take(10);
        let routes: Vec<_> = batch.iter().map(|(_, t)| t.map(Target::route)).collect();
        assert_eq!(routes, [Some(RouteTarget::Nexthop(GROUP_BASE + 7))]);
    }

    #[test]
    fn counts_take_back_what_the_kernel_refused() {
        let route = |i: u8| Route {
            prefix: (IpAddr::from([10, i, 0, 0]), 16),
            target: RouteTarget::Nexthop(100),
        };
        let changes = [
            RouteChange::Add(route(1)),
            RouteChange::Add(route(2)),
            RouteChange::Add(route(3)),
            RouteChange::Delete(route(4).prefix),
            RouteChange::Delete(route(5).prefix),
        ];
        let mut counts = Counts::of(&changes);
        assert_eq!(
            counts,
            Counts {
                added: 3,
                removed: 2
            }
        );
        let errno = std::io::Error::from_raw_os_error;
        let failed = vec![
            (changes[1], errno(libc::EEXIST)),
            (changes[2], errno(libc::EINVAL)),
            (changes[4], errno(libc::ESRCH)),
        ];
        let mut errors = Vec::new();
        let replaces = counts.settle(failed, &mut errors);
        // 10.2/16 was there: replaced, not added; 10.3/16 failed; 10.5/16
        // was already gone.
        assert_eq!(replaces, [RouteChange::Set(route(2))]);
        assert_eq!(
            counts,
            Counts {
                added: 1,
                removed: 1
            }
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("route 10.3.0.0/16"), "{errors:?}");
        // A replace that fails is an error and changes no count.
        let again = counts.settle(vec![(replaces[0], errno(libc::ENODEV))], &mut errors);
        assert!(again.is_empty());
        assert_eq!(
            counts,
            Counts {
                added: 1,
                removed: 1
            }
        );
        assert_eq!(errors.len(), 2);
    }
}
