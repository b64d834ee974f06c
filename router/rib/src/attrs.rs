//! Path attributes as the RIB keeps them, interned: every distinct set is
//! stored once and routes hold a 4-byte id, so a full table with tens of
//! thousands of distinct sets costs a few bytes of attributes per route.

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::HashTable;

use sluice_wire::encode::TooLong;
use sluice_wire::iana::attr::{
    EXTENDED_COMMUNITIES, FLAG_EXTENDED, FLAG_OPTIONAL, FLAG_TRANSITIVE,
};
use sluice_wire::update::{self, Attrs};

/// ORIGIN values (RFC 4271 §5.1.1).
pub const IGP: u8 = 0;
pub const EGP: u8 = 1;
pub const INCOMPLETE: u8 = 2;

/// The attributes of a path, canonical: 4-octet AS_PATH, sorted communities.
/// What most routes lack is boxed in [`Rare`]: a full table has 260k
/// distinct sets, and inline those fields cost 88 bytes each.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PathAttrs {
    pub origin: u8,
    /// AS_PATH segments with 4-octet ASNs, as on the wire.
    pub as_path: Vec<u8>,
    pub next_hop: Option<IpAddr>,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub atomic_aggregate: bool,
    pub communities: Vec<u32>,
    pub rare: Rare,
}

/// The attributes few routes carry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RareAttrs {
    /// The IPv6 link-local next hop of an MP_REACH with two next hops.
    pub next_hop_link_local: Option<IpAddr>,
    pub aggregator: Option<Vec<u8>>,
    pub large_communities: Vec<(u32, u32, u32)>,
    /// Unrecognised optional transitive attributes, whole, to pass on
    /// (EXTENDED_COMMUNITIES among them).
    pub unknown: Vec<Vec<u8>>,
    /// A route reflector's ORIGINATOR_ID and CLUSTER_LIST (RFC 4456):
    /// kept to be shown; Sluice reflects nothing, so never sent.
    pub reflected: Option<Reflected>,
}

static NO_RARE: RareAttrs = RareAttrs {
    next_hop_link_local: None,
    aggregator: None,
    large_communities: Vec::new(),
    unknown: Vec::new(),
    reflected: None,
};

/// [`RareAttrs`], boxed when there are any: reads see the empty set where
/// there is no box, and changes go through [`Rare::edit`], which never
/// leaves an empty box, so the derived comparison and hash hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rare(Option<Box<RareAttrs>>);

impl Rare {
    /// Boxed only if not empty.
    pub fn new(attrs: RareAttrs) -> Rare {
        Rare((attrs != NO_RARE).then(|| Box::new(attrs)))
    }

    /// Changes the set: a box is made only if something is added, and
    /// dropped once nothing is left.
    pub fn edit<R>(&mut self, change: impl FnOnce(&mut RareAttrs) -> R) -> R {
        match &mut self.0 {
            Some(boxed) => {
                let r = change(boxed);
                if **boxed == NO_RARE {
                    self.0 = None;
                }
                r
            }
            None => {
                let mut attrs = RareAttrs::default();
                let r = change(&mut attrs);
                *self = Rare::new(attrs);
                r
            }
        }
    }
}

impl std::ops::Deref for Rare {
    type Target = RareAttrs;
    fn deref(&self) -> &RareAttrs {
        self.0.as_deref().unwrap_or(&NO_RARE)
    }
}

/// ORIGINATOR_ID and CLUSTER_LIST of a reflected route.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Reflected {
    pub originator_id: Option<std::net::Ipv4Addr>,
    pub cluster_list: Vec<u32>,
}

impl PathAttrs {
    /// From a parsed UPDATE. `next_hop` is the classic NEXT_HOP or the
    /// MP_REACH next hop, whichever the caller's family uses.
    pub fn from_wire(
        a: &Attrs<'_>,
        four_octet: bool,
        next_hop: Option<IpAddr>,
        link_local: Option<IpAddr>,
    ) -> PathAttrs {
        let as_path = match a.as_path {
            Some(p) if four_octet => p.to_vec(),
            Some(p) => update::widen_as_path(p),
            None => Vec::new(),
        };
        let mut communities: Vec<u32> = a
            .communities
            .map(|c| {
                c.chunks_exact(4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            })
            .unwrap_or_default();
        communities.sort_unstable();
        communities.dedup();
        let mut large_communities: Vec<(u32, u32, u32)> = a
            .large_communities
            .map(|c| {
                c.chunks_exact(12)
                    .map(|b| {
                        let n = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
                        (n(0), n(4), n(8))
                    })
                    .collect()
            })
            .unwrap_or_default();
        large_communities.sort_unstable();
        large_communities.dedup();
        let rare = RareAttrs {
            next_hop_link_local: link_local,
            aggregator: a.aggregator.map(<[u8]>::to_vec),
            large_communities,
            unknown: a.unknown_transitive.iter().map(|u| u.to_vec()).collect(),
            reflected: (a.originator_id.is_some() || a.cluster_list.is_some()).then(|| Reflected {
                originator_id: a.originator_id,
                cluster_list: a
                    .cluster_list
                    .map(|c| {
                        c.chunks_exact(4)
                            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
        };
        PathAttrs {
            origin: a.origin.unwrap_or(INCOMPLETE),
            as_path,
            next_hop,
            med: a.med,
            local_pref: a.local_pref,
            atomic_aggregate: a.atomic_aggregate,
            communities,
            rare: Rare::new(rare),
        }
    }

    /// Every attribute but MP_REACH_NLRI, as sent to a peer. NEXT_HOP is
    /// written only for IPv4 (IPv6 carries it in MP_REACH_NLRI). An
    /// attribute longer than its length field can say is an error: the
    /// route is not sent (see `sluice_wire::encode::announce` for the
    /// message size).
    pub fn encode(&self, four_octet: bool, ipv4: bool) -> Result<Vec<u8>, TooLong> {
        use sluice_wire::encode::try_attribute as attribute;
        use sluice_wire::iana::attr::*;
        let mut out = Vec::with_capacity(64);
        attribute(&mut out, FLAG_TRANSITIVE, ORIGIN, &[self.origin])?;
        if four_octet {
            attribute(&mut out, FLAG_TRANSITIVE, AS_PATH, &self.as_path)?;
        } else {
            // A 2-octet peer sees AS_TRANS for ASNs above 65535 (RFC 6793 §4.2.2).
            let mut narrow = Vec::with_capacity(self.as_path.len());
            for (kind, asns) in update::as_path_segments(&self.as_path, true) {
                let count = u8::try_from(asns.len()).expect("a segment holds at most 255 ASNs");
                narrow.extend([kind, count]);
                for asn in asns {
                    narrow.extend(
                        u16::try_from(asn)
                            .unwrap_or(sluice_wire::iana::AS_TRANS)
                            .to_be_bytes(),
                    );
                }
            }
            attribute(&mut out, FLAG_TRANSITIVE, AS_PATH, &narrow)?;
        }
        if let (true, Some(IpAddr::V4(nh))) = (ipv4, self.next_hop) {
            attribute(&mut out, FLAG_TRANSITIVE, NEXT_HOP, &nh.octets())?;
        }
        if let Some(med) = self.med {
            attribute(&mut out, FLAG_OPTIONAL, MED, &med.to_be_bytes())?;
        }
        if let Some(lp) = self.local_pref {
            attribute(&mut out, FLAG_TRANSITIVE, LOCAL_PREF, &lp.to_be_bytes())?;
        }
        if self.atomic_aggregate {
            attribute(&mut out, FLAG_TRANSITIVE, ATOMIC_AGGREGATE, &[])?;
        }
        if let Some(agg) = &self.rare.aggregator
            && (agg.len() == 8) == four_octet
        {
            attribute(&mut out, FLAG_OPTIONAL | FLAG_TRANSITIVE, AGGREGATOR, agg)?;
        }
        if !self.communities.is_empty() {
            let v: Vec<u8> = self
                .communities
                .iter()
                .flat_map(|c| c.to_be_bytes())
                .collect();
            attribute(&mut out, FLAG_OPTIONAL | FLAG_TRANSITIVE, COMMUNITIES, &v)?;
        }
        if !self.rare.large_communities.is_empty() {
            let v: Vec<u8> = self
                .rare
                .large_communities
                .iter()
                .flat_map(|(a, b, c)| [a.to_be_bytes(), b.to_be_bytes(), c.to_be_bytes()])
                .flatten()
                .collect();
            attribute(
                &mut out,
                FLAG_OPTIONAL | FLAG_TRANSITIVE,
                LARGE_COMMUNITIES,
                &v,
            )?;
        }
        for raw in &self.rare.unknown {
            // Passed on with the Partial bit set (RFC 4271 §5).
            let mut a = raw.clone();
            a[0] |= FLAG_PARTIAL;
            out.extend(a);
        }
        Ok(out)
    }

    pub fn as_path_len(&self) -> u32 {
        update::as_path_len(&self.as_path)
    }

    /// Whether `asn` appears anywhere in the path; no allocation.
    pub fn contains_asn(&self, asn: u32) -> bool {
        let mut v: &[u8] = &self.as_path;
        while let [_, count, rest @ ..] = v {
            let n = usize::from(*count) * 4;
            let Some(body) = rest.get(..n) else {
                return false;
            };
            if body
                .chunks_exact(4)
                .any(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) == asn)
            {
                return true;
            }
            v = &rest[n..];
        }
        false
    }

    /// The ASNs of the path in order, sets flattened.
    pub fn asns(&self) -> Vec<u32> {
        update::as_path_segments(&self.as_path, true)
            .flat_map(|(_, a)| a)
            .collect()
    }

    /// The route's origin AS for RPKI (RFC 6811 §2): the last ASN of a
    /// final AS_SEQUENCE; `own` for an empty path (a route of this AS) or
    /// a final confederation segment; `None` after an AS_SET, which no VRP
    /// can match.
    pub fn origin_as(&self, own: u32) -> Option<u32> {
        let mut last = None;
        let mut v: &[u8] = &self.as_path;
        while let [kind, count, rest @ ..] = v {
            let n = usize::from(*count) * 4;
            let body = rest.get(..n)?;
            last = Some((*kind, body.chunks_exact(4).last()));
            v = &rest[n..];
        }
        match last {
            None => Some(own),
            Some((update::AS_SEQUENCE, Some(c))) => {
                Some(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            }
            Some((update::AS_CONFED_SEQUENCE | update::AS_CONFED_SET, _)) => Some(own),
            Some(_) => None,
        }
    }

    /// The AS path as FRR writes it, for AS-path regular expressions:
    /// sequences space-separated, sets in braces (`65001 3356 {7,8}`).
    pub fn as_path_text(&self) -> String {
        let mut parts = Vec::new();
        for (kind, asns) in update::as_path_segments(&self.as_path, true) {
            let asns: Vec<String> = asns.iter().map(u32::to_string).collect();
            if kind == update::AS_SEQUENCE {
                parts.extend(asns);
            } else {
                parts.push(format!("{{{}}}", asns.join(",")));
            }
        }
        parts.join(" ")
    }

    /// The EXTENDED_COMMUNITIES values (8 octets each), kept whole among
    /// the unknown attributes.
    pub fn extended_communities(&self) -> impl Iterator<Item = [u8; 8]> + '_ {
        self.rare
            .unknown
            .iter()
            .filter(|u| u.get(1) == Some(&EXTENDED_COMMUNITIES))
            .flat_map(|u| {
                let header = if u[0] & FLAG_EXTENDED != 0 { 4 } else { 3 };
                u.get(header..)
                    .unwrap_or(&[])
                    .chunks_exact(8)
                    .map(|c| <[u8; 8]>::try_from(c).expect("chunks of 8"))
            })
    }

    /// Adds an extended community (to the attribute, which is created if
    /// need be); one already there is not added twice.
    pub fn add_extended_community(&mut self, c: [u8; 8]) {
        if self.extended_communities().any(|x| x == c) {
            return;
        }
        let mut values: Vec<u8> = self.extended_communities().flatten().collect();
        values.extend(c);
        let mut attr = Vec::with_capacity(values.len() + 4);
        match u8::try_from(values.len()) {
            Ok(n) => attr.extend([FLAG_OPTIONAL | FLAG_TRANSITIVE, EXTENDED_COMMUNITIES, n]),
            Err(_) => {
                let n = u16::try_from(values.len()).unwrap_or(u16::MAX);
                attr.extend([
                    FLAG_OPTIONAL | FLAG_TRANSITIVE | FLAG_EXTENDED,
                    EXTENDED_COMMUNITIES,
                ]);
                attr.extend(n.to_be_bytes());
            }
        }
        attr.extend(values);
        self.rare.edit(|rare| {
            rare.unknown
                .retain(|u| u.get(1) != Some(&EXTENDED_COMMUNITIES));
            rare.unknown.push(attr);
        });
    }

    /// The neighbouring AS: the first of the first AS_SEQUENCE (RFC 4271 §9.1.2.2 c).
    pub fn neighbor_as(&self) -> Option<u32> {
        match self.as_path.as_slice() {
            [update::AS_SEQUENCE, n, a, b, c, d, ..] if *n > 0 => {
                Some(u32::from_be_bytes([*a, *b, *c, *d]))
            }
            _ => None,
        }
    }

    /// What the decision process compares, computed once per attribute set.
    pub fn decision_key(&self) -> DecisionKey {
        DecisionKey {
            local_pref: self
                .local_pref
                .unwrap_or(crate::decision::DEFAULT_LOCAL_PREF),
            as_path_len: self.as_path_len(),
            origin: self.origin,
            med: self.med.unwrap_or(0),
            neighbor_as: self.neighbor_as(),
        }
    }

    /// Prepends `asn` `times` times to the leading AS_SEQUENCE.
    pub fn prepend(&mut self, asn: u32, times: usize) {
        if times == 0 {
            return;
        }
        let mut out = Vec::with_capacity(self.as_path.len() + 2 + 4 * times);
        let mut rest: &[u8] = &self.as_path;
        let mut pending = times;
        // Merge into an existing leading AS_SEQUENCE while it has room.
        if let [update::AS_SEQUENCE, count, tail @ ..] = rest {
            let room = 255 - usize::from(*count);
            let take = pending.min(room);
            let merged = u8::try_from(usize::from(*count) + take).expect("take fits the room");
            out.extend([update::AS_SEQUENCE, merged]);
            out.extend(std::iter::repeat_n(asn.to_be_bytes(), take).flatten());
            out.extend(&tail[..usize::from(*count) * 4]);
            rest = &tail[usize::from(*count) * 4..];
            pending -= take;
        }
        let mut head = Vec::new();
        while pending > 0 {
            let take = pending.min(255);
            head.extend([
                update::AS_SEQUENCE,
                u8::try_from(take).expect("at most 255"),
            ]);
            head.extend(std::iter::repeat_n(asn.to_be_bytes(), take).flatten());
            pending -= take;
        }
        head.extend(out);
        head.extend(rest);
        self.as_path = head;
    }
}

/// The attributes the decision process looks at (RFC 4271 §9.1.2.2), kept
/// beside each interned set so selection never walks an AS_PATH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecisionKey {
    pub local_pref: u32,
    pub as_path_len: u32,
    pub origin: u8,
    /// A missing MED counts as 0.
    pub med: u32,
    pub neighbor_as: Option<u32>,
}

/// Index of an interned attribute set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttrId(pub u32);

/// One copy of each distinct attribute set, reference counted by routes.
/// The index finds a set's id by content: it holds slot numbers (4 bytes a
/// bucket where a key and its id took 16), hashed by the hash each slot
/// keeps of its set. Growing the index then reads no set: hashing every
/// set anew at each doubling, through its pointers, was a tenth of the
/// route owner's time while 260,000 distinct sets loaded.
#[derive(Debug, Default)]
pub struct Interner {
    index: HashTable<u32>,
    slots: Vec<Slot>,
    free: Vec<u32>,
}

#[derive(Debug)]
struct Slot {
    attrs: Option<Arc<PathAttrs>>,
    /// [`hash_of`] the set (in the slot's padding).
    hash: u32,
    key: DecisionKey,
    refs: u32,
}

/// A set's hash, 32 bits of it kept in its slot.
fn hash_of(attrs: &PathAttrs) -> u32 {
    (rustc_hash::FxBuildHasher.hash_one(attrs) >> 32) as u32
}

/// What the index is hashed by: a slot's kept hash, spread over the 64
/// bits (the table takes its buckets from the low ones and its tag from
/// the top).
fn index_hash(hash: u32) -> u64 {
    u64::from(hash).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl Interner {
    /// The set in slot `i`, which the index only holds while it is live.
    fn slot_attrs(slots: &[Slot], i: u32) -> &PathAttrs {
        slots[i as usize]
            .attrs
            .as_deref()
            .expect("the index holds live slots")
    }

    /// The id of `attrs`, with one more reference.
    pub fn intern(&mut self, attrs: PathAttrs) -> AttrId {
        let hash = hash_of(&attrs);
        match self.find(&attrs, hash) {
            Some(id) => id,
            None => self.insert(attrs, hash),
        }
    }

    /// [`Self::intern`] of a set the caller keeps: copied only if it is
    /// new (most UPDATEs of a table carry a set already known).
    pub fn intern_ref(&mut self, attrs: &PathAttrs) -> AttrId {
        let hash = hash_of(attrs);
        match self.find(attrs, hash) {
            Some(id) => id,
            None => self.insert(attrs.clone(), hash),
        }
    }

    /// The id of a set known already, with one more reference.
    fn find(&mut self, attrs: &PathAttrs, hash: u32) -> Option<AttrId> {
        let slots = &self.slots;
        let &i = self.index.find(index_hash(hash), |&i| {
            slots[i as usize].hash == hash && Self::slot_attrs(slots, i) == attrs
        })?;
        self.slots[i as usize].refs += 1;
        Some(AttrId(i))
    }

    /// A new set's id, with its first reference.
    fn insert(&mut self, attrs: PathAttrs, hash: u32) -> AttrId {
        let slot = Slot {
            key: attrs.decision_key(),
            attrs: Some(Arc::new(attrs)),
            hash,
            refs: 1,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 attribute sets")
            }
        };
        let slots = &self.slots;
        self.index
            .insert_unique(index_hash(hash), i, |&j| index_hash(slots[j as usize].hash));
        AttrId(i)
    }

    /// One more reference to an existing id.
    pub fn retain(&mut self, id: AttrId) {
        self.slots[id.0 as usize].refs += 1;
    }

    /// Drops one reference; the set is freed with its last route.
    pub fn release(&mut self, id: AttrId) {
        let slot = &mut self.slots[id.0 as usize];
        slot.refs -= 1;
        if slot.refs == 0 {
            if slot.attrs.take().is_some()
                && let Ok(entry) = self.index.find_entry(index_hash(slot.hash), |&i| i == id.0)
            {
                entry.remove();
            }
            self.free.push(id.0);
        }
    }

    pub fn key(&self, id: AttrId) -> &DecisionKey {
        &self.slots[id.0 as usize].key
    }

    pub fn get(&self, id: AttrId) -> &PathAttrs {
        self.shared(id)
    }

    /// The set itself: a freed id may be reused for another set, and a
    /// [`std::sync::Weak`] of this tells the two apart.
    pub fn shared(&self, id: AttrId) -> &Arc<PathAttrs> {
        self.slots[id.0 as usize]
            .attrs
            .as_ref()
            .expect("a live attribute id")
    }

    /// Distinct attribute sets alive.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(asns: &[u32]) -> PathAttrs {
        let mut as_path = vec![update::AS_SEQUENCE, asns.len() as u8];
        for a in asns {
            as_path.extend(a.to_be_bytes());
        }
        PathAttrs {
            as_path,
            ..Default::default()
        }
    }

    #[test]
    fn extended_communities_are_added_once_to_one_attribute() {
        let mut a = path(&[65001, 3356]);
        assert_eq!(a.as_path_text(), "65001 3356");
        let rt = [0, 2, 0xfd, 0xe9, 0, 0, 0, 10];
        a.add_extended_community(rt);
        a.add_extended_community(rt);
        a.add_extended_community([0, 3, 0, 1, 0, 0, 0, 2]);
        assert_eq!(a.extended_communities().count(), 2);
        assert_eq!(a.rare.unknown.len(), 1, "one attribute");
        assert_eq!(&a.rare.unknown[0][..3], &[0xc0, EXTENDED_COMMUNITIES, 16]);
    }

    #[test]
    fn origin_as_follows_rfc6811() {
        assert_eq!(path(&[65001, 65002]).origin_as(64500), Some(65002));
        assert_eq!(
            PathAttrs::default().origin_as(64500),
            Some(64500),
            "a route of our own AS"
        );
        let mut set = path(&[65001]);
        set.as_path
            .extend([update::AS_SET, 2, 0, 0, 0, 7, 0, 0, 0, 8]);
        assert_eq!(
            set.origin_as(64500),
            None,
            "an aggregate's AS_SET matches no VRP"
        );
        let mut seq_after_set = set.clone();
        seq_after_set
            .as_path
            .extend([update::AS_SEQUENCE, 1, 0, 0, 0, 9]);
        assert_eq!(seq_after_set.origin_as(64500), Some(9));
        let mut confed = path(&[65001]);
        confed
            .as_path
            .extend([update::AS_CONFED_SEQUENCE, 1, 0, 0, 0, 5]);
        assert_eq!(confed.origin_as(64500), Some(64500));
        let mut cut = path(&[65001]);
        cut.as_path.truncate(4);
        assert_eq!(cut.origin_as(64500), None, "a malformed path has no origin");
    }

    #[test]
    fn interning_shares_and_frees() {
        let mut i = Interner::default();
        let a = i.intern(path(&[1, 2]));
        let b = i.intern_ref(&path(&[1, 2]));
        let c = i.intern(path(&[3]));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(i.len(), 2);
        i.release(a);
        assert_eq!(i.len(), 2);
        i.release(b);
        assert_eq!(i.len(), 1);
        let d = i.intern(path(&[4]));
        assert_eq!(d, a, "freed slots are reused");
        assert_eq!(i.get(c).asns(), [3]);
    }

    #[test]
    fn the_index_finds_every_live_set_and_forgets_freed_ones() {
        let mut i = Interner::default();
        let ids: Vec<AttrId> = (0..2000).map(|n| i.intern(path(&[1, n]))).collect();
        for id in ids.iter().step_by(2) {
            i.release(*id);
        }
        assert_eq!(i.len(), 1000);
        for (n, id) in ids.iter().enumerate().skip(1).step_by(2) {
            assert_eq!(i.intern(path(&[1, n as u32])), *id, "set {n} keeps its id");
        }
        // A freed set comes back in a reused slot, found again after.
        let again = i.intern(path(&[1, 0]));
        assert!(ids.iter().step_by(2).any(|id| *id == again));
        assert_eq!(i.intern(path(&[1, 0])), again);
        assert_eq!(i.get(again).asns(), [1, 0]);
        assert_eq!(i.len(), 1001);
        // Each slot keeps its set's hash in what was padding.
        assert_eq!(std::mem::size_of::<Slot>(), 40);
    }

    #[test]
    fn rare_attributes_are_boxed_only_when_there_are_some() {
        let plain = path(&[1]);
        assert!(plain.rare.0.is_none());
        let mut emptied = path(&[1]);
        emptied.rare.edit(|r| r.large_communities.push((1, 2, 3)));
        assert!(emptied.rare.0.is_some());
        assert_ne!(emptied, plain);
        emptied.rare.edit(|r| r.large_communities.clear());
        // An emptied set loses its box: it is the same set as none, and
        // interns to one id.
        assert!(emptied.rare.0.is_none());
        assert_eq!(emptied, plain);
        let h = rustc_hash::FxBuildHasher;
        assert_eq!(h.hash_one(&emptied), h.hash_one(&plain));
        let mut i = Interner::default();
        assert_eq!(i.intern(plain.clone()), i.intern(emptied));
        let rare = Rare::new(RareAttrs {
            aggregator: Some(vec![0, 0, 0xfd, 0xe9, 192, 0, 2, 1]),
            ..Default::default()
        });
        assert!(rare.0.is_some());
        assert!(Rare::new(RareAttrs::default()).0.is_none());
    }

    #[test]
    fn prepend_merges_into_the_leading_sequence() {
        let mut p = path(&[65001, 65002]);
        p.prepend(64500, 3);
        assert_eq!(p.asns(), [64500, 64500, 64500, 65001, 65002]);
        assert_eq!(p.as_path_len(), 5);
        assert_eq!(p.neighbor_as(), Some(64500));
        let mut empty = PathAttrs::default();
        empty.prepend(64500, 2);
        assert_eq!(empty.asns(), [64500, 64500]);
    }
}
