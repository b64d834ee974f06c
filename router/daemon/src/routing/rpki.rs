//! Route origin validation on the route owner: the VRPs in force, what
//! `rpki.invalid` does to an uplink's invalid route, and the
//! re-evaluation when VRPs change.
//!
//! A route the policy accepted but RPKI finds invalid is kept here with
//! its imported attributes: out of the RIB (`reject`) or in it with
//! local_pref 0 (`deprefer`). A VRP change re-validates the routes it
//! covers, here and in the RIB, so a route moves in or out without a
//! session reset or a route refresh.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use sluice_config::Config;
use sluice_config::model::{InvalidAction, RpkiState};
use sluice_config::values::PolicyRef;
use sluice_rib::attrs::AttrId;
use sluice_rib::{PeerId, Rib};
use sluice_rpki::{Validity, Vrp, VrpTable};
use sluice_wire::Prefix;

use super::Routing;

/// The VRPs and what validation did.
#[derive(Debug, Default)]
pub struct Rpki {
    /// Shared with the RTR task's client: one copy of the VRPs.
    pub vrps: Arc<VrpTable>,
    /// A cache's VRPs are in force; otherwise every route is `unknown`
    /// and none is acted on.
    pub live: bool,
    /// The cache they came from.
    pub source: Option<String>,
    pub action: InvalidAction,
    /// Uplink routes acted on, with their attributes as imported.
    held: FxHashMap<(PeerId, Prefix), AttrId>,
    /// The attributes as received (before import policy) of the routes
    /// of sessions whose import policy matches on the RPKI state: what a
    /// VRP change needs to run the policy again.
    imported: FxHashMap<(PeerId, Prefix), AttrId>,
}

/// The policy language's name of a state.
pub fn policy_state(v: Validity) -> RpkiState {
    match v {
        Validity::Valid => RpkiState::Valid,
        Validity::Invalid => RpkiState::Invalid,
        Validity::NotFound => RpkiState::NotFound,
        Validity::Unknown => RpkiState::Unknown,
    }
}

impl Rpki {
    pub fn new(action: InvalidAction) -> Rpki {
        Rpki {
            action,
            ..Rpki::default()
        }
    }

    /// The state of a route whose origin AS is `origin` (see
    /// [`sluice_rib::attrs::PathAttrs::origin_as`]).
    pub fn validity(&self, prefix: &Prefix, origin: Option<u32>) -> Validity {
        if self.live {
            self.vrps.validate(prefix, origin)
        } else {
            Validity::Unknown
        }
    }

    /// Invalid uplink routes kept aside or depreferred.
    pub fn acted_on(&self) -> usize {
        self.held.len()
    }

    /// The policy rejects `prefix` from `peer` now: nothing is held.
    pub fn forget_held(&mut self, rib: &mut Rib, peer: PeerId, prefix: &Prefix) {
        if let Some(old) = self.held.remove(&(peer, *prefix)) {
            rib.attrs.release(old);
        }
    }

    /// `peer` withdrew `prefix`: nothing of it is kept.
    pub fn forget(&mut self, rib: &mut Rib, peer: PeerId, prefix: &Prefix) {
        self.forget_held(rib, peer, prefix);
        if let Some(old) = self.imported.remove(&(peer, *prefix)) {
            rib.attrs.release(old);
        }
    }

    /// Keeps `attrs` (one reference taken over) as `prefix`'s from `peer`
    /// before import policy.
    pub fn keep_imported(&mut self, rib: &mut Rib, peer: PeerId, prefix: Prefix, attrs: AttrId) {
        if let Some(old) = self.imported.insert((peer, prefix), attrs) {
            rib.attrs.release(old);
        }
    }
}

/// A route to re-decide after a VRP change.
enum Redo {
    /// Now acted on: `attrs` is the RIB's copy (now held).
    Act(PeerId, Prefix, AttrId),
    /// No longer invalid: back into the RIB as imported.
    Release(PeerId, Prefix),
}

impl Routing {
    /// Whether `prefix` from an uplink, accepted with `attrs` and of
    /// origin AS `origin`, goes into the RIB as is: the id to announce, or
    /// `None` if it is held out (`reject`). Takes over the reference of
    /// `attrs`.
    pub(super) fn rpki_admit(
        &mut self,
        peer: PeerId,
        prefix: Prefix,
        attrs: AttrId,
        origin: Option<u32>,
    ) -> Option<AttrId> {
        let Some(rpki) = self.rpki.as_mut() else {
            return Some(attrs);
        };
        if let Some(old) = rpki.held.remove(&(peer, prefix)) {
            self.rib.attrs.release(old);
        }
        if rpki.action == InvalidAction::Accept
            || rpki.validity(&prefix, origin) != Validity::Invalid
        {
            return Some(attrs);
        }
        rpki.held.insert((peer, prefix), attrs);
        match rpki.action {
            InvalidAction::Deprefer => Some(self.depreferred(attrs)),
            _ => None,
        }
    }

    /// A copy of `attrs` with local_pref 0, interned.
    fn depreferred(&mut self, attrs: AttrId) -> AttrId {
        let mut a = self.rib.attrs.get(attrs).clone();
        a.local_pref = Some(0);
        self.rib.attrs.intern(a)
    }

    /// `peer`'s session ended: its held routes go (re-sent, they are
    /// validated anew).
    pub(super) fn rpki_forget_peer(&mut self, peer: PeerId) {
        let Some(rpki) = self.rpki.as_mut() else {
            return;
        };
        let attrs = &mut self.rib.attrs;
        for map in [&mut rpki.held, &mut rpki.imported] {
            map.retain(|(p, _), id| {
                if *p == peer {
                    attrs.release(*id);
                }
                *p != peer
            });
        }
    }

    /// A new `rpki` section (or none): a changed action re-decides every
    /// held route.
    pub fn rpki_configure(&mut self, config: &Config, active: &[bool]) {
        let action = config.rpki.as_ref().map(|r| r.invalid.value);
        match (action, self.rpki.as_mut()) {
            (None, None) => {}
            (None, Some(_)) => {
                self.rpki_expire(config, active);
                self.rpki = None;
            }
            (Some(a), None) => self.rpki = Some(Rpki::new(a)),
            (Some(a), Some(r)) if r.action == a => {}
            (Some(a), Some(r)) => {
                r.action = a;
                // Released as they are, then acted on anew.
                let (live, source) = (r.live, r.source.clone());
                let vrps = Arc::clone(&r.vrps);
                self.rpki_expire(config, active);
                if live {
                    self.rpki_replace(vrps, &[], &[], true, source, config, active);
                }
            }
        }
    }

    /// The caches' set changed by `announced` and `withdrawn`: applied
    /// here, then the routes they cover are validated again.
    pub fn rpki_update(
        &mut self,
        announced: &[Vrp],
        withdrawn: &[Vrp],
        source: Option<String>,
        config: &Config,
        active: &[bool],
    ) {
        let Some(rpki) = self.rpki.as_mut() else {
            return;
        };
        let table = Arc::make_mut(&mut rpki.vrps);
        for v in withdrawn {
            table.remove(v);
        }
        for v in announced {
            table.insert(*v);
        }
        self.rpki_revalidate(announced, withdrawn, false, source, config, active);
    }

    /// The RTR task's table, which `announced` and `withdrawn` changed
    /// since the last one (or anything, with `reset`).
    #[allow(clippy::too_many_arguments)]
    pub fn rpki_replace(
        &mut self,
        table: Arc<VrpTable>,
        announced: &[Vrp],
        withdrawn: &[Vrp],
        reset: bool,
        source: Option<String>,
        config: &Config,
        active: &[bool],
    ) {
        let Some(rpki) = self.rpki.as_mut() else {
            return;
        };
        rpki.vrps = table;
        self.rpki_revalidate(announced, withdrawn, reset, source, config, active);
    }

    /// The VRPs in force changed by `announced` and `withdrawn` (anyhow,
    /// with `reset`): the routes they cover are decided again.
    fn rpki_revalidate(
        &mut self,
        announced: &[Vrp],
        withdrawn: &[Vrp],
        reset: bool,
        source: Option<String>,
        config: &Config,
        active: &[bool],
    ) {
        // Sessions whose policy matches on the state: their routes are
        // decided again from the top, policy first.
        let by_policy = self.rpki_policy_peers();
        let Some(rpki) = self.rpki.as_mut() else {
            return;
        };
        rpki.source = source;
        let first = !rpki.live || reset;
        rpki.live = true;
        // `accept` holds nothing: only policies that match on the state
        // have something to decide again.
        let acts = rpki.action != InvalidAction::Accept;
        // The changed VRPs, as an index of what they cover (none needed
        // when everything is decided again).
        let mut changed = VrpTable::default();
        for v in announced.iter().chain(withdrawn).filter(|_| !first) {
            changed.insert(*v);
        }
        let affected = |p: &Prefix| first || changed.validate(p, None) != Validity::NotFound;
        let asn = config.router.asn.value;
        let again: Vec<(PeerId, Prefix)> = rpki
            .imported
            .keys()
            .filter(|(peer, prefix)| by_policy.contains_key(peer) && affected(prefix))
            .copied()
            .collect();
        let mut redo = Vec::new();
        for ((peer, prefix), id) in rpki.held.iter().filter(|_| acts) {
            if !by_policy.contains_key(peer)
                && affected(prefix)
                && rpki.validity(prefix, self.rib.attrs.get(*id).origin_as(asn))
                    != Validity::Invalid
            {
                redo.push(Redo::Release(*peer, *prefix));
            }
        }
        let mut check = |prefix: Prefix, paths: &[sluice_rib::table::Path]| {
            for p in paths {
                if self.rib.peer(p.peer).uplink.is_some()
                    && !by_policy.contains_key(&p.peer)
                    && !rpki.held.contains_key(&(p.peer, prefix))
                    && rpki.validity(&prefix, self.rib.attrs.get(p.attrs).origin_as(asn))
                        == Validity::Invalid
                {
                    redo.push(Redo::Act(p.peer, prefix, p.attrs));
                }
            }
        };
        // The routes the changed VRPs cover: probed for, or (for the first
        // set, or VRPs too short to enumerate under) one walk of the RIB.
        let probes: u64 = announced
            .iter()
            .chain(withdrawn)
            .map(|v| probes(&self.rib, &v.prefix))
            .fold(0, u64::saturating_add);
        if !acts {
            // Nothing to act on in the RIB.
        } else if !first && probes <= self.rib.prefixes() as u64 / 4 {
            let mut candidates: Vec<Prefix> = Vec::new();
            for v in announced.iter().chain(withdrawn) {
                more_specifics(&self.rib, &v.prefix, &mut candidates);
            }
            candidates.sort_unstable();
            candidates.dedup();
            for prefix in candidates {
                check(prefix, self.rib.paths(&prefix));
            }
        } else {
            for (prefix, paths) in self.rib.iter() {
                if affected(&prefix) {
                    check(prefix, paths);
                }
            }
        }
        self.settle(redo, &again, &by_policy, config, active);
    }

    /// Carries out what a VRP change decided: routes held or released by
    /// `rpki.invalid`, and routes of sessions whose policy matches on the
    /// state run through it again; then peers hear of them.
    fn settle(
        &mut self,
        redo: Vec<Redo>,
        again: &[(PeerId, Prefix)],
        by_policy: &FxHashMap<PeerId, (Option<PolicyRef>, bool, bool)>,
        config: &Config,
        active: &[bool],
    ) {
        let mut touched = self.redo(redo);
        touched.extend(self.decide_again(again, by_policy, config.router.asn.value));
        touched.sort_unstable();
        touched.dedup();
        self.propagate(&touched, config, active);
    }

    /// The established sessions whose import policy matches on the RPKI
    /// state: their policy, whether they are eBGP, whether an uplink.
    fn rpki_policy_peers(&self) -> FxHashMap<PeerId, (Option<PolicyRef>, bool, bool)> {
        self.peers
            .iter()
            .filter(|p| self.policies.uses_rpki(p.conf.import.as_ref()))
            .filter_map(|p| {
                let uplink = matches!(p.conf.role, super::peers::Role::Uplink(_));
                Some((p.rib_id?, (p.conf.import.clone(), p.conf.ebgp(), uplink)))
            })
            .collect()
    }

    /// Runs the import policy again on routes as received, with the
    /// states the VRPs give now, and puts the outcome in the RIB.
    fn decide_again(
        &mut self,
        again: &[(PeerId, Prefix)],
        by_policy: &FxHashMap<PeerId, (Option<PolicyRef>, bool, bool)>,
        asn: u32,
    ) -> Vec<Prefix> {
        let mut touched = Vec::new();
        for &(peer, prefix) in again {
            let Some(rpki) = self.rpki.as_ref() else {
                break;
            };
            let (Some(&pre), Some((policy, ebgp, uplink))) =
                (rpki.imported.get(&(peer, prefix)), by_policy.get(&peer))
            else {
                continue;
            };
            let mut a = self.rib.attrs.get(pre).clone();
            let origin = a.origin_as(asn);
            let state = policy_state(rpki.validity(&prefix, origin));
            let accepted = self
                .policies
                .import_validated(
                    policy.as_ref(),
                    *ebgp,
                    *uplink,
                    &prefix,
                    &mut a,
                    Some(state),
                )
                .then(|| self.rib.attrs.intern(a));
            let admitted = match accepted {
                Some(id) if *uplink => self.rpki_admit(peer, prefix, id, origin),
                Some(id) => Some(id),
                None => {
                    if let Some(r) = self.rpki.as_mut() {
                        r.forget_held(&mut self.rib, peer, &prefix);
                    }
                    None
                }
            };
            match admitted {
                Some(id) => self.rib.announce(peer, prefix, id),
                None => {
                    self.rib.withdraw(peer, &prefix);
                }
            }
            touched.push(prefix);
        }
        touched
    }

    /// No cache answered for `stale_after`: every route is `unknown`, so
    /// every held route goes back.
    pub fn rpki_expire(&mut self, config: &Config, active: &[bool]) {
        let by_policy = self.rpki_policy_peers();
        let Some(rpki) = self.rpki.as_mut() else {
            return;
        };
        rpki.vrps = Arc::default();
        rpki.live = false;
        rpki.source = None;
        let redo = rpki
            .held
            .keys()
            .filter(|(peer, _)| !by_policy.contains_key(peer))
            .map(|(peer, prefix)| Redo::Release(*peer, *prefix))
            .collect();
        let again: Vec<(PeerId, Prefix)> = rpki
            .imported
            .keys()
            .filter(|(peer, _)| by_policy.contains_key(peer))
            .copied()
            .collect();
        self.settle(redo, &again, &by_policy, config, active);
    }

    /// Holds or releases routes; returns their prefixes, as many times as
    /// they were touched.
    fn redo(&mut self, redo: Vec<Redo>) -> Vec<Prefix> {
        let mut touched = Vec::with_capacity(redo.len());
        for r in redo {
            let rpki = self.rpki.as_mut().expect("only with rpki");
            match r {
                Redo::Act(peer, prefix, attrs) => {
                    // The RIB's reference moves to the held entry.
                    self.rib.attrs.retain(attrs);
                    rpki.held.insert((peer, prefix), attrs);
                    match rpki.action {
                        InvalidAction::Deprefer => {
                            let copy = self.depreferred(attrs);
                            self.rib.announce(peer, prefix, copy);
                        }
                        _ => {
                            self.rib.withdraw(peer, &prefix);
                        }
                    }
                }
                Redo::Release(peer, prefix) => {
                    let Some(attrs) = rpki.held.remove(&(peer, prefix)) else {
                        continue;
                    };
                    self.rib.announce(peer, prefix, attrs);
                }
            }
            touched.push(match r {
                Redo::Act(_, p, _) | Redo::Release(_, p) => p,
            });
        }
        touched
    }
}

/// Hash lookups [`more_specifics`] would make under `prefix`: the
/// more-specifics of each length the RIB holds.
fn probes(rib: &Rib, prefix: &Prefix) -> u64 {
    let (v4, bits) = match prefix {
        Prefix::V4(_) => (true, 32u8),
        Prefix::V6(_) => (false, 128u8),
    };
    (prefix.prefix_len()..=bits)
        .filter(|&l| rib.has_length(v4, l))
        .map(|l| {
            1u64.checked_shl(u32::from(l - prefix.prefix_len()))
                .unwrap_or(u64::MAX)
        })
        .fold(0, u64::saturating_add)
}

/// Every prefix of the RIB within `prefix` (itself included), found by
/// looking each possible one up, lengths in use only.
fn more_specifics(rib: &Rib, prefix: &Prefix, out: &mut Vec<Prefix>) {
    let len = prefix.prefix_len();
    match prefix {
        Prefix::V4(p) => {
            let base = u32::from(p.network());
            for l in (len..=32).filter(|&l| rib.has_length(true, l)) {
                for i in 0..1u64 << (l - len) {
                    let addr = base | ((i as u32).checked_shl(32 - u32::from(l)).unwrap_or(0));
                    let candidate =
                        Prefix::V4(ipnet::Ipv4Net::new(addr.into(), l).expect("length checked"));
                    if !rib.paths(&candidate).is_empty() {
                        out.push(candidate);
                    }
                }
            }
        }
        Prefix::V6(p) => {
            let base = u128::from(p.network());
            for l in (len..=128).filter(|&l| rib.has_length(false, l)) {
                for i in 0..1u128 << (l - len) {
                    let addr = base | i.checked_shl(128 - u32::from(l)).unwrap_or(0);
                    let candidate =
                        Prefix::V6(ipnet::Ipv6Net::new(addr.into(), l).expect("length checked"));
                    if !rib.paths(&candidate).is_empty() {
                        out.push(candidate);
                    }
                }
            }
        }
    }
}

/// The `rpki` of a path for `show routes`.
pub fn state_of(
    rpki: Option<&Rpki>,
    rib: &Rib,
    prefix: &Prefix,
    attrs: AttrId,
    asn: u32,
) -> Option<String> {
    let rpki = rpki?;
    let origin = rib.attrs.get(attrs).origin_as(asn);
    Some(rpki.validity(prefix, origin).as_str().to_string())
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use proptest::prelude::*;
    use sluice_config::{Source, parse};
    use sluice_rib::{PathAttrs, PeerInfo};
    use sluice_wire::update::AS_SEQUENCE;

    use super::*;
    use crate::routing::Directory;

    const CONFIG: &str = "\
router: { id: 192.0.2.1, asn: 64500 }
rpki: { caches: [{ address: 127.0.0.1 }], invalid: reject }
dataplane: { xdp: off, kernel_fib: off }
";

    fn attrs(origin: u32) -> PathAttrs {
        let mut as_path = vec![AS_SEQUENCE, 2];
        as_path.extend(65001u32.to_be_bytes());
        as_path.extend(origin.to_be_bytes());
        PathAttrs {
            as_path,
            next_hop: Some(IpAddr::from([203, 0, 113, 1])),
            ..Default::default()
        }
    }

    fn net(addr: u32, len: u8) -> Prefix {
        Prefix::V4(
            ipnet::Ipv4Net::new(Ipv4Addr::from(addr), len)
                .unwrap()
                .trunc(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the deltas, and whether the covered routes are probed
        /// for or walked to: exactly the invalid routes are out of the
        /// RIB, each once, and every other is in it.
        #[test]
        fn exactly_the_invalid_routes_are_held(
            routes in proptest::collection::vec((0u32..64, 16u8..27, 1u32..4), 1..300),
            steps in proptest::collection::vec(
                proptest::collection::vec((0u32..64, 14u8..27, 0u8..4, 1u32..4, any::<bool>()), 1..12),
                1..6,
            ),
        ) {
            let config = parse(&Source::new("t.yaml", CONFIG)).unwrap();
            let (tx, _rx) = tokio::sync::mpsc::channel(1);
            let mut r = Routing::new(&config, tx, Directory::default(), false);
            let peer = r.rib.add_peer(PeerInfo {
                name: "iap-a".into(),
                address: IpAddr::from([203, 0, 113, 1]),
                asn: 65001,
                router_id: Ipv4Addr::new(203, 0, 113, 1),
                ebgp: true,
                uplink: Some(0),
            });
            // Routes in 20.0.0.0/10, spread so that short VRPs cover several.
            let mut learned = std::collections::BTreeMap::new();
            for (at, len, origin) in routes {
                let prefix = net(0x1400_0000 + (at << 16) + (at << 9), len);
                learned.insert(prefix, origin);
            }
            for (&prefix, &origin) in &learned {
                r.rib.announce_attrs(peer, prefix, attrs(origin));
            }
            let mut vrps = std::collections::BTreeSet::new();
            for step in steps {
                let (mut add, mut del) = (Vec::new(), Vec::new());
                for (at, len, extra, asn, announce) in step {
                    let v = Vrp {
                        prefix: net(0x1400_0000 + (at << 16), len),
                        max_len: (len + extra).min(32),
                        asn,
                    };
                    if announce && vrps.insert(v) {
                        add.push(v);
                    } else if !announce && vrps.remove(&v) {
                        del.push(v);
                    }
                }
                r.rpki_update(&add, &del, None, &config, &[true]);
                let table = &r.rpki.as_ref().unwrap().vrps;
                for (prefix, origin) in &learned {
                    let invalid = table.validate(prefix, Some(*origin)) == Validity::Invalid;
                    prop_assert_eq!(
                        r.rib.paths(prefix).is_empty(),
                        invalid,
                        "{} (origin {}) after +{:?} -{:?}", prefix, origin, add, del
                    );
                }
                let invalid = learned
                    .iter()
                    .filter(|(p, o)| table.validate(p, Some(**o)) == Validity::Invalid)
                    .count();
                prop_assert_eq!(r.rpki.as_ref().unwrap().acted_on(), invalid);
            }
        }
    }
}
