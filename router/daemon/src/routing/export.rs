//! What each peer should be sent, and the difference from what it was sent.
//!
//! To uplinks go only this router's own routes (`announce`): an edge router
//! never passes one transit's routes to another, whatever the policy says.
//! Neighbours get the default route while an uplink is active, and learned
//! routes if their export policy passes them.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use sluice_config::Config;
use sluice_config::values::PolicyRef;
use sluice_rib::attrs::{IGP, PathAttrs};
use sluice_rib::export::{self, Conditions, Target};
use sluice_rib::fib::{self, View};
use sluice_rib::policy::Source;
use sluice_wire::nlri::afi_of;
use sluice_wire::{Afi, Prefix, encode};

use super::Routing;
use super::peers::{Configured, Role};

/// What a peer was sent, and what it is still owed.
#[derive(Debug, Default)]
pub struct AdjOut {
    /// Prefix → hash of the encoded attributes the peer holds.
    sent: HashMap<Prefix, u64>,
    /// Prefixes whose change could not be queued (the session's queue was
    /// full): sent once it has room ([`Routing::send_owed`]), so that no
    /// withdrawal is lost and nothing is sent twice.
    owed: HashSet<Prefix>,
    /// Prefixes withheld because their attributes do not fit the peer's
    /// maximum message size.
    too_big: HashSet<Prefix>,
    /// That happened, and was logged (once per session).
    warned_too_big: bool,
    /// The first sync could not all be queued: End-of-RIB goes out once
    /// what is owed has (RFC 4724: it marks the end of the initial table).
    eor_owed: bool,
}

impl AdjOut {
    /// Prefixes the peer holds from us.
    pub fn advertised(&self) -> usize {
        self.sent.len()
    }

    /// Prefixes withheld because they would not fit a message to the peer.
    pub fn too_big(&self) -> usize {
        self.too_big.len()
    }

    /// Prefixes whose change waits for room in the session's queue.
    pub fn owed(&self) -> usize {
        self.owed.len()
    }
}

/// Whether learned routes can pass this peer's export policy at all.
pub fn gets_learned(conf: &Configured) -> bool {
    matches!(conf.role, Role::Neighbor(_))
        && matches!(
            conf.export_policy(),
            Some(PolicyRef::FullTable | PolicyRef::Named(_))
        )
}

impl Routing {
    /// Brings peer `i` in line with everything it should have; after the
    /// first sync of a session, ends each family with End-of-RIB.
    pub(super) fn sync_peer(&mut self, i: usize, config: &Config, active: &[bool], initial: bool) {
        let mut want: HashSet<Prefix> = self
            .local_candidates(i, config, active)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        if gets_learned(&self.peers[i].conf) {
            want.extend(self.rib.iter().map(|(p, _)| p));
        }
        want.extend(self.peers[i].adj_out.sent.keys().copied());
        want.extend(self.peers[i].adj_out.owed.iter().copied());
        self.sync_prefixes(i, &want, config, active);
        if initial {
            self.peers[i].adj_out.eor_owed = true;
            self.send_end_of_rib(i);
        }
    }

    /// End-of-RIB for each family, once nothing of the first sync is owed.
    fn send_end_of_rib(&mut self, i: usize) {
        let p = &mut self.peers[i];
        if !p.adj_out.eor_owed || !p.adj_out.owed.is_empty() {
            return;
        }
        if let Some((n, _)) = &p.established {
            let eors: Vec<Vec<u8>> = n.families.iter().map(|f| encode::end_of_rib(*f)).collect();
            if p.handle.send(eors) {
                p.adj_out.eor_owed = false;
            }
        }
    }

    /// Sends peer `i` the changes among `prefixes`.
    pub(super) fn sync_prefixes(
        &mut self,
        i: usize,
        prefixes: &HashSet<Prefix>,
        config: &Config,
        active: &[bool],
    ) {
        let Some((negotiated, local)) = self.peers[i].established.clone() else {
            return;
        };
        let locals: HashMap<Prefix, PathAttrs> = self
            .local_candidates(i, config, active)
            .into_iter()
            .collect();
        let mut announce: HashMap<(Afi, Vec<u8>), Vec<Prefix>> = HashMap::new();
        let mut withdraw: HashMap<Afi, Vec<Prefix>> = HashMap::new();
        // The peer's state changes only once the messages are queued.
        let mut sent: Vec<(Prefix, Option<u64>)> = Vec::new();
        let mut too_big: Vec<(Prefix, encode::TooLong)> = Vec::new();
        let own_family = afi_of(&Prefix::from(local));
        let strip = self.peers[i].conf.strip_unknown;
        let max = negotiated.max_message();
        let nh6 = match local {
            IpAddr::V6(v6) => v6.octets().to_vec(),
            IpAddr::V4(_) => Vec::new(),
        };
        for prefix in prefixes {
            let afi = afi_of(prefix);
            let desired = if afi != own_family || !negotiated.families.contains(&afi) {
                None
            } else if let Some(a) = locals.get(prefix) {
                self.exported(i, prefix, a.clone(), Source::Local, config, active, local)
            } else if gets_learned(&self.peers[i].conf) {
                self.learned_candidate(i, prefix, config, active)
                    .and_then(|a| {
                        self.exported(i, prefix, a, Source::Learned, config, active, local)
                    })
            } else {
                None
            };
            let encoded = desired.map(|mut attrs| {
                if strip {
                    // Extended communities are known: they pass, as
                    // communities do (and an export policy may set them).
                    attrs.rare.edit(|r| {
                        r.unknown.retain(|u| {
                            u.get(1) == Some(&sluice_wire::iana::attr::EXTENDED_COMMUNITIES)
                        })
                    });
                }
                // Attributes that leave no room for the prefix in one
                // message are not exported: withdrawn toward this peer.
                attrs
                    .encode(negotiated.four_octet_as, afi == Afi::Ipv4)
                    .and_then(|bytes| {
                        encode::announce_fits(afi, &bytes, &nh6, prefix, max).map(|()| bytes)
                    })
            });
            let adj = &self.peers[i].adj_out;
            let bytes = match encoded {
                Some(Ok(bytes)) => Some(bytes),
                Some(Err(e)) => {
                    too_big.push((*prefix, e));
                    None
                }
                None => None,
            };
            match bytes {
                Some(bytes) => {
                    let hash = hash_of(&bytes);
                    if adj.sent.get(prefix) != Some(&hash) {
                        announce.entry((afi, bytes)).or_default().push(*prefix);
                        sent.push((*prefix, Some(hash)));
                    }
                }
                None if adj.sent.contains_key(prefix) => {
                    withdraw.entry(afi).or_default().push(*prefix);
                    sent.push((*prefix, None));
                }
                None => {}
            }
        }
        let mut msgs = Vec::new();
        for (afi, list) in withdraw {
            msgs.extend(encode::withdraw(afi, &list, max));
        }
        for ((afi, attrs), list) in announce {
            // Checked per prefix above: a batch of them fits as well.
            msgs.extend(encode::announce(afi, &attrs, &nh6, &list, max).unwrap_or_default());
        }
        let peer = &mut self.peers[i];
        let adj = &mut peer.adj_out;
        // Usually empty: no hashing of a whole table for nothing.
        if !adj.too_big.is_empty() {
            for p in prefixes {
                adj.too_big.remove(p);
            }
        }
        if let Some((prefix, why)) = too_big.first()
            && !adj.warned_too_big
        {
            adj.warned_too_big = true;
            tracing::warn!(
                peer = %peer.conf.name,
                %prefix,
                "not exported: {why} (counted in show peers as too_big; logged once per session)"
            );
        }
        adj.too_big.extend(too_big.into_iter().map(|(p, _)| p));
        // A full queue means the session is slow: what it is owed waits
        // for room (`send_owed`), and what it holds stays recorded.
        let queued = msgs.is_empty() || peer.handle.send(msgs);
        if queued {
            for (prefix, hash) in sent {
                match hash {
                    Some(h) => adj.sent.insert(prefix, h),
                    None => adj.sent.remove(&prefix),
                };
                adj.owed.remove(&prefix);
            }
        } else {
            if adj.owed.is_empty() {
                tracing::warn!(peer = %peer.conf.name, "session queue full; changes wait until it has room");
            }
            adj.owed.extend(sent.into_iter().map(|(p, _)| p));
        }
    }

    /// Sends each peer what it is owed, once its session's queue has room.
    pub fn send_owed(&mut self, config: &Config, active: &[bool]) {
        for i in 0..self.peers.len() {
            let p = &self.peers[i];
            if p.established.is_none() || !p.handle.has_room() {
                continue;
            }
            if !p.adj_out.owed.is_empty() {
                let owed = std::mem::take(&mut self.peers[i].adj_out.owed);
                self.sync_prefixes(i, &owed, config, active);
            }
            self.send_end_of_rib(i);
        }
    }

    /// This router's own routes a peer may get: `announce`, and for
    /// neighbours the default route while any uplink is active.
    fn local_candidates(
        &self,
        i: usize,
        config: &Config,
        active: &[bool],
    ) -> Vec<(Prefix, PathAttrs)> {
        let own = || PathAttrs {
            origin: IGP,
            ..Default::default()
        };
        let mut out: Vec<(Prefix, PathAttrs)> =
            config.announce.iter().map(|a| (a.value.0, own())).collect();
        if matches!(self.peers[i].conf.role, Role::Neighbor(_)) && active.iter().any(|a| *a) {
            out.push(("0.0.0.0/0".parse().expect("literal"), own()));
            out.push(("::/0".parse().expect("literal"), own()));
        }
        out
    }

    /// The best path to `prefix` as a candidate for peer `i`, unless it
    /// came from that peer or (iBGP to iBGP) must not be reflected.
    fn learned_candidate(
        &self,
        i: usize,
        prefix: &Prefix,
        config: &Config,
        active: &[bool],
    ) -> Option<PathAttrs> {
        let (_, sel) = fib::learned(&self.rib, prefix, &View { config, active })?;
        let from = self.rib.peer(sel.best.peer);
        let to = &self.peers[i].conf;
        if from.address == to.settings.address || (!from.ebgp && !to.ebgp()) {
            return None;
        }
        Some(self.rib.attrs.get(sel.best.attrs).clone())
    }

    /// Export policy and the rewriting every eBGP or iBGP export gets
    /// ([`sluice_rib::export::export`]), from this session's address.
    #[allow(clippy::too_many_arguments)]
    fn exported(
        &self,
        i: usize,
        prefix: &Prefix,
        a: PathAttrs,
        source: Source,
        config: &Config,
        active: &[bool],
        local: IpAddr,
    ) -> Option<PathAttrs> {
        let conf = &self.peers[i].conf;
        let policy = conf.export_policy()?;
        let to = Target {
            ebgp: conf.ebgp(),
            uplink: match conf.role {
                Role::Uplink(u) => Some(u),
                Role::Neighbor(_) => None,
            },
            policy: &policy,
        };
        let now = Conditions {
            active,
            cold: self.cold,
        };
        let mut a = export::export(&self.policies, config, to, prefix, a, source, now)?;
        a.next_hop = Some(local);
        a.rare.edit(|r| r.next_hop_link_local = None);
        Some(a)
    }
}

fn hash_of(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}
