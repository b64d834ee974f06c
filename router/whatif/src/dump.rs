//! A RIB as a stream of JSON lines, so the validator can evaluate the
//! routes a running daemon learned (`sluice validate --with-rib`): written
//! by the daemon for a `dump-rib` request and by `sluice show rib --dump`,
//! read back here.
//!
//! ```text
//! {"sluice_rib_dump":1,"peers":[{"name":"iap-a","address":"203.0.113.1","asn":65001,"router_id":"203.0.113.1","ebgp":true,"uplink":"iap-a"}]}
//! {"attrs":0,"origin":0,"as_path":"0201 0000fde9","next_hop":"203.0.113.1","local_pref":200,"med":null,"communities":[]}
//! {"prefix":"20.0.0.0/8","paths":[[0,0]]}
//! ```
//!
//! Each attribute set is written before the first route that uses it (again
//! if its index now stands for another set); a path is (peer index,
//! attribute index). Uplinks go by name, so a dump stays readable when the
//! config's order changes.

use std::collections::HashMap;
use std::io::BufRead;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Weak};

use serde::{Deserialize, Serialize};
use sluice_config::Config;
use sluice_rib::attrs::{AttrId, PathAttrs};
use sluice_rib::{PeerId, PeerInfo, Rib};
use sluice_wire::Prefix;

const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Header {
    sluice_rib_dump: u32,
    peers: Vec<Peer>,
}

#[derive(Serialize, Deserialize)]
struct Peer {
    name: String,
    address: IpAddr,
    asn: u32,
    router_id: Ipv4Addr,
    ebgp: bool,
    uplink: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Attrs {
    attrs: u32,
    origin: u8,
    /// The AS_PATH as on the wire, in hex.
    as_path: String,
    next_hop: Option<IpAddr>,
    local_pref: Option<u32>,
    med: Option<u32>,
    #[serde(default)]
    communities: Vec<u32>,
}

#[derive(Serialize, Deserialize)]
struct Route {
    prefix: Prefix,
    paths: Vec<(u32, u32)>,
}

/// The lines of `rib`'s dump; `uplink_name` names an uplink index.
pub fn encode<'a>(
    rib: &'a Rib,
    uplink_name: impl Fn(usize) -> Option<String>,
) -> impl Iterator<Item = String> + 'a {
    let (mut dumper, header) = Dumper::new(rib, uplink_name);
    std::iter::once(header).chain(std::iter::from_fn(move || dumper.next_part(rib)).flatten())
}

/// A dump written a part of the table at a time ([`Rib::iter_part`]), so
/// that its writer can let other work run between parts. The RIB may
/// change meanwhile: a path is written only if its peer is still the one
/// the header names, and an attribute set whose id was freed and reused is
/// written again before its first route.
#[derive(Debug)]
pub struct Dumper {
    /// The header's peers: index and address, by RIB id.
    peers: HashMap<PeerId, (u32, IpAddr)>,
    /// The attribute sets written, by id.
    written: HashMap<AttrId, Weak<PathAttrs>>,
    part: usize,
}

impl Dumper {
    /// The dumper and the dump's first line; `uplink_name` names an uplink index.
    pub fn new(rib: &Rib, uplink_name: impl Fn(usize) -> Option<String>) -> (Dumper, String) {
        let peers: Vec<(PeerId, &PeerInfo)> = rib.peers().collect();
        let header = Header {
            sluice_rib_dump: VERSION,
            peers: peers
                .iter()
                .map(|(_, p)| Peer {
                    name: p.name.clone(),
                    address: p.address,
                    asn: p.asn,
                    router_id: p.router_id,
                    ebgp: p.ebgp,
                    uplink: p.uplink.and_then(&uplink_name),
                })
                .collect(),
        };
        let dumper = Dumper {
            peers: peers
                .iter()
                .enumerate()
                .map(|(i, (id, p))| (*id, (i as u32, p.address)))
                .collect(),
            written: HashMap::new(),
            part: 0,
        };
        (dumper, serde_json::to_string(&header).unwrap_or_default())
    }

    /// The lines of the next part of the table; None once all are written.
    pub fn next_part(&mut self, rib: &Rib) -> Option<Vec<String>> {
        if self.part >= rib.parts() {
            return None;
        }
        let mut lines = Vec::new();
        for (prefix, paths) in rib.iter_part(self.part) {
            let mut route = Route {
                prefix,
                paths: Vec::with_capacity(paths.len()),
            };
            for p in paths {
                let Some(&(index, address)) = self.peers.get(&p.peer) else {
                    continue;
                };
                if rib.peer(p.peer).address != address {
                    continue;
                }
                let shared = rib.attrs.shared(p.attrs);
                let known = self
                    .written
                    .get(&p.attrs)
                    .is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(shared)));
                if !known {
                    self.written.insert(p.attrs, Arc::downgrade(shared));
                    lines.push(attrs_line(p.attrs, shared));
                }
                route.paths.push((index, p.attrs.0));
            }
            lines.push(serde_json::to_string(&route).unwrap_or_default());
        }
        self.part += 1;
        Some(lines)
    }
}

fn attrs_line(id: AttrId, a: &PathAttrs) -> String {
    let line = Attrs {
        attrs: id.0,
        origin: a.origin,
        as_path: a.as_path.iter().map(|b| format!("{b:02x}")).collect(),
        next_hop: a.next_hop,
        local_pref: a.local_pref,
        med: a.med,
        communities: a.communities.clone(),
    };
    serde_json::to_string(&line).unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("line {line}: {why}")]
    Line { line: usize, why: String },
    #[error("reading the dump: {0}")]
    Read(#[from] std::io::Error),
    #[error("not a sluice RIB dump (the first line has no `sluice_rib_dump`)")]
    NotADump,
}

/// A RIB from a dump; uplinks are matched to `config`'s by name (a peer of
/// an uplink the config lacks counts as an internal one).
pub fn decode(config: &Config, input: impl BufRead) -> Result<Rib, DumpError> {
    let mut rib = Rib::default();
    let mut lines = input.lines().enumerate();
    let header: Header = match lines.next() {
        Some((_, line)) => serde_json::from_str(&line?).map_err(|_| DumpError::NotADump)?,
        None => return Err(DumpError::NotADump),
    };
    if header.sluice_rib_dump != VERSION {
        return Err(DumpError::Line {
            line: 1,
            why: format!(
                "dump version {} (this sluice reads {VERSION})",
                header.sluice_rib_dump
            ),
        });
    }
    let peers: Vec<PeerId> = header
        .peers
        .into_iter()
        .map(|p| {
            rib.add_peer(PeerInfo {
                uplink: p
                    .uplink
                    .and_then(|n| config.uplinks.iter().position(|u| u.name.value == n)),
                name: p.name,
                address: p.address,
                asn: p.asn,
                router_id: p.router_id,
                ebgp: p.ebgp,
            })
        })
        .collect();
    let mut attrs: HashMap<u32, AttrId> = HashMap::new();
    for (n, line) in lines {
        let line = line?;
        let bad = |why: String| DumpError::Line { line: n + 1, why };
        let value: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        if value.get("attrs").is_some() {
            let a: Attrs = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
            let as_path = (0..a.as_path.len() / 2)
                .map(|i| u8::from_str_radix(&a.as_path[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|e| bad(format!("as_path: {e}")))?;
            let id = rib.attrs.intern(PathAttrs {
                origin: a.origin,
                as_path,
                next_hop: a.next_hop,
                local_pref: a.local_pref,
                med: a.med,
                communities: a.communities,
                ..Default::default()
            });
            // Written again: the id was reused for another set meanwhile.
            if let Some(old) = attrs.insert(a.attrs, id) {
                rib.attrs.release(old);
            }
        } else {
            let r: Route = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
            for (peer, a) in r.paths {
                let peer = *peers
                    .get(peer as usize)
                    .ok_or_else(|| bad(format!("no peer {peer}")))?;
                let id = *attrs
                    .get(&a)
                    .ok_or_else(|| bad(format!("attribute set {a} not defined before")))?;
                rib.attrs.retain(id);
                rib.announce(peer, r.prefix, id);
            }
        }
    }
    // The references taken at interning: the routes hold their own.
    for id in attrs.into_values() {
        rib.attrs.release(id);
    }
    Ok(rib)
}
