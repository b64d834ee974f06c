//! The layout contract with the XDP program: the Rust mirror of
//! ebpf/sluice.h — map names and sizes, value structs, the DIR-24-8 entry
//! encoding and the verdict enum. The tests below check the constants
//! against the header; tests/layout.rs checks the maps, struct sizes and
//! field offsets against the compiled object's BTF, and the verdict enum
//! against the header.
//!
//! Values cross the map boundary as byte arrays (`to_bytes` / `from_bytes`),
//! so no `unsafe impl Pod` is needed for the structs; the byte order of
//! multi-byte integers is the host's, as in the C structs.

use std::fmt;

/// Map names in the object; they are also the names the maps are pinned by.
pub mod map {
    /// IPv4 DIR-24-8 top level: `ARRAY` of u64 words, `BPF_F_MMAPABLE`.
    pub const FIB4_TOP: &str = "fib4_top";
    /// IPv4 DIR-24-8 second level: `ARRAY` of u64 words, `BPF_F_MMAPABLE`.
    pub const FIB4_TBL8: &str = "fib4_tbl8";
    /// IPv4 DIR-24-8 top level's 4-bit codes and their palette: `ARRAY`
    /// of u64 words, `BPF_F_MMAPABLE` (see [`crate::dir24`]).
    pub const FIB4_CODES: &str = "fib4_codes";
    /// IPv4 DXR direct table: `ARRAY` of u64, `BPF_F_MMAPABLE` (only in
    /// the DXR build, [`crate::loader::OBJECT_DXR`]; not in [`ALL`]).
    pub const FIB4_DIRECT: &str = "fib4_direct";
    /// IPv4 DXR ranges: `ARRAY` of u64 (two ranges each), `BPF_F_MMAPABLE`
    /// (only in the DXR build).
    pub const FIB4_RANGES: &str = "fib4_ranges";
    /// IPv6 FIB, chunk entries: `ARRAY` of u64 (two u32 each),
    /// `BPF_F_MMAPABLE` (see [`crate::poptrie`]).
    pub const FIB6_DIRECT: &str = "fib6_direct";
    /// IPv6 FIB fans: `ARRAY` of u64 (two u32 each), `BPF_F_MMAPABLE`.
    pub const FIB6_FANS: &str = "fib6_fans";
    /// IPv6 FIB nodes: `ARRAY` of `struct fib6_node` (three u64),
    /// `BPF_F_MMAPABLE`.
    pub const FIB6_NODES: &str = "fib6_nodes";
    /// IPv6 FIB leaves: `ARRAY` of u64 (four u16 groups each),
    /// `BPF_F_MMAPABLE`.
    pub const FIB6_LEAVES: &str = "fib6_leaves";
    /// IPv4 in the poptrie layout ([`crate::poptrie4`]), the arrays as
    /// `fib6_*` (only in the DXR build, [`super::FibMode::Pop4`]; not in
    /// [`ALL`]).
    pub const POP4_DIRECT: &str = "pop4_direct";
    pub const POP4_FANS: &str = "pop4_fans";
    pub const POP4_NODES: &str = "pop4_nodes";
    pub const POP4_LEAVES: &str = "pop4_leaves";
    /// The kernel `LPM_TRIE` the IPv6 FIB is measured against, keyed by
    /// `{ u32 prefixlen; u8 addr[16] }` → u16 group (only in the DXR build,
    /// [`super::FibMode::Trie6`]; not in [`ALL`]).
    pub const FIB6_TRIE: &str = "fib6_trie";
    /// `ARRAY` of [`super::NhGroup`] indexed by group id.
    pub const NH_GROUPS: &str = "nh_groups";
    /// `ARRAY` of [`super::NextHop`] indexed by next-hop id.
    pub const NEXTHOPS: &str = "nexthops";
    /// `DEVMAP_HASH` keyed by egress ifindex (any ifindex).
    pub const TX_PORTS: &str = "tx_ports";
    /// `HASH` u32 (network order) → u8: the router's own IPv4 addresses.
    pub const OWN4: &str = "own4";
    /// `HASH` [u8; 16] → u8: the router's own IPv6 addresses.
    pub const OWN6: &str = "own6";
    /// `PERCPU_ARRAY` of [`super::NhStats`] indexed by next-hop id.
    pub const NH_STATS: &str = "nh_stats";
    /// `PERCPU_ARRAY` of u64 indexed by [`super::Verdict`].
    pub const VERDICTS: &str = "verdicts";
    /// `HASH` [`super::IfKey`] → [`super::Iface`]: the interfaces and
    /// VLANs the program routes on.
    pub const IFACES: &str = "ifaces";
    /// `LPM_TRIE` keyed by `{ u32 prefixlen; IfKey port; u8 addr[4] }` → u8:
    /// martian IPv4 sources per uplink port (1 drop, 0 exempt).
    pub const MARTIAN4: &str = "martian4";
    /// `LPM_TRIE` keyed by `{ u32 prefixlen; IfKey port; u8 addr[16] }` → u8.
    pub const MARTIAN6: &str = "martian6";
    /// `LPM_TRIE` keyed by `{ u32 prefixlen; u8 addr[4] }` → u8: the site's
    /// IPv4 source space (anti-spoofing).
    pub const SRC4: &str = "src4";
    /// `LPM_TRIE` keyed like [`FIB6`] → u8: the site's IPv6 source space.
    pub const SRC6: &str = "src6";
    /// `ARRAY` of one `struct settings` (fib mode).
    pub const SETTINGS: &str = "settings";
    /// Every map of the program.
    pub const ALL: [&str; 20] = [
        FIB4_TOP,
        FIB4_TBL8,
        FIB4_CODES,
        FIB6_DIRECT,
        FIB6_FANS,
        FIB6_NODES,
        FIB6_LEAVES,
        NH_GROUPS,
        NEXTHOPS,
        TX_PORTS,
        OWN4,
        OWN6,
        NH_STATS,
        VERDICTS,
        IFACES,
        MARTIAN4,
        MARTIAN6,
        SRC4,
        SRC6,
        SETTINGS,
    ];

    /// A map's definition as the kernel reports it (`bpf_map_info`), to
    /// check that a pinned map fits this layout.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Spec {
        /// The map (pin) name.
        pub name: &'static str,
        /// `BPF_MAP_TYPE_*`.
        pub map_type: u32,
        /// Key size in bytes.
        pub key_size: u32,
        /// Value size in bytes.
        pub value_size: u32,
        /// Capacity.
        pub max_entries: u32,
        /// `BPF_F_*` creation flags.
        pub flags: u32,
    }

    /// `BPF_MAP_TYPE_HASH`.
    pub const TYPE_HASH: u32 = 1;
    /// `BPF_MAP_TYPE_ARRAY`.
    pub const TYPE_ARRAY: u32 = 2;
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`.
    pub const TYPE_PERCPU_ARRAY: u32 = 6;
    /// `BPF_MAP_TYPE_LPM_TRIE`.
    pub const TYPE_LPM_TRIE: u32 = 11;
    /// `BPF_MAP_TYPE_DEVMAP_HASH`.
    pub const TYPE_DEVMAP_HASH: u32 = 25;
    /// `BPF_F_NO_PREALLOC`.
    pub const F_NO_PREALLOC: u32 = 1;
    /// `BPF_F_MMAPABLE`.
    pub const F_MMAPABLE: u32 = 1 << 10;

    const fn spec(
        name: &'static str,
        map_type: u32,
        key_size: usize,
        value_size: usize,
        max_entries: u32,
        flags: u32,
    ) -> Spec {
        Spec {
            name,
            map_type,
            key_size: key_size as u32,
            value_size: value_size as u32,
            max_entries,
            flags,
        }
    }

    use super::*;

    /// Every map's definition, in [`ALL`] order (tests/layout.rs checks
    /// them against the object).
    pub const SPECS: [Spec; 20] = [
        spec(
            FIB4_TOP,
            TYPE_ARRAY,
            4,
            8,
            FIB4_TOP_WORDS as u32,
            F_MMAPABLE,
        ),
        spec(
            FIB4_TBL8,
            TYPE_ARRAY,
            4,
            8,
            FIB4_TBL8_WORDS as u32,
            F_MMAPABLE,
        ),
        spec(
            FIB4_CODES,
            TYPE_ARRAY,
            4,
            8,
            (FIB4_CODE_WORDS + FIB4_PALETTE_WORDS) as u32,
            F_MMAPABLE,
        ),
        spec(
            FIB6_DIRECT,
            TYPE_ARRAY,
            4,
            8,
            FIB6_DIRECT_WORDS as u32,
            F_MMAPABLE,
        ),
        spec(
            FIB6_FANS,
            TYPE_ARRAY,
            4,
            8,
            FIB6_FAN_WORDS as u32,
            F_MMAPABLE,
        ),
        spec(
            FIB6_NODES,
            TYPE_ARRAY,
            4,
            8 * crate::poptrie::NODE_WORDS,
            super::FIB6_NODES as u32,
            F_MMAPABLE,
        ),
        spec(
            FIB6_LEAVES,
            TYPE_ARRAY,
            4,
            8,
            FIB6_LEAF_WORDS as u32,
            F_MMAPABLE,
        ),
        spec(NH_GROUPS, TYPE_ARRAY, 4, 2 * NH_BUCKETS, NH_GROUPS_MAX, 0),
        spec(NEXTHOPS, TYPE_ARRAY, 4, NEXTHOP_SIZE, NEXTHOPS_MAX, 0),
        spec(
            TX_PORTS,
            TYPE_DEVMAP_HASH,
            4,
            DEVMAP_VALUE_SIZE,
            TX_PORTS_MAX,
            0,
        ),
        spec(OWN4, TYPE_HASH, 4, 1, OWN_ADDRS_MAX, 0),
        spec(OWN6, TYPE_HASH, 16, 1, OWN_ADDRS_MAX, 0),
        spec(NH_STATS, TYPE_PERCPU_ARRAY, 4, 16, NEXTHOPS_MAX, 0),
        spec(VERDICTS, TYPE_PERCPU_ARRAY, 4, 8, VERDICTS_MAX, 0),
        spec(IFACES, TYPE_HASH, IF_KEY_SIZE, IFACE_SIZE, IFACES_MAX, 0),
        spec(
            MARTIAN4,
            TYPE_LPM_TRIE,
            MARTIAN4_KEY_SIZE,
            1,
            MARTIANS_MAX,
            F_NO_PREALLOC,
        ),
        spec(
            MARTIAN6,
            TYPE_LPM_TRIE,
            MARTIAN6_KEY_SIZE,
            1,
            MARTIANS_MAX,
            F_NO_PREALLOC,
        ),
        spec(
            SRC4,
            TYPE_LPM_TRIE,
            SRC4_KEY_SIZE,
            1,
            SRC_PREFIXES_MAX,
            F_NO_PREALLOC,
        ),
        spec(
            SRC6,
            TYPE_LPM_TRIE,
            FIB6_KEY_SIZE,
            1,
            SRC_PREFIXES_MAX,
            F_NO_PREALLOC,
        ),
        spec(SETTINGS, TYPE_ARRAY, 4, SETTINGS_SIZE, 1, 0),
    ];
}

/// The XDP program's function name in the object.
pub const PROGRAM: &str = "sluice_xdp";

// ---- IPv4 FIB, DIR-24-8 -----------------------------------------------------

// ---- IPv4 FIB, DXR (see crate::dxr) ---------------------------------------------

/// `fib4_direct` entries (one per /18).
pub const DXR_DIRECT_ENTRIES: usize = crate::dxr::DIRECT_ENTRIES;
/// Ranges `fib4_ranges` holds.
pub const DXR_RANGES: usize = crate::dxr::DEFAULT_RANGES as usize;
/// `fib4_ranges` u64 elements (two ranges each).
pub const DXR_RANGE_WORDS: usize = DXR_RANGES / 2;

/// Logical entries of the top level (one per /24).
pub const FIB4_TOP_ENTRIES: usize = 1 << 24;
/// 16-bit entries packed into one u64 map element.
pub const FIB4_ENTRIES_PER_WORD: usize = 4;
/// u64 elements of `fib4_top`.
pub const FIB4_TOP_WORDS: usize = FIB4_TOP_ENTRIES / FIB4_ENTRIES_PER_WORD;
/// tbl8 groups `fib4_tbl8` has room for.
pub const FIB4_TBL8_GROUPS: usize = 8192;
/// u64 elements of `fib4_tbl8`.
pub const FIB4_TBL8_WORDS: usize = FIB4_TBL8_GROUPS * 256 / FIB4_ENTRIES_PER_WORD;
/// Entry flag: the low 15 bits name a tbl8 group, not a next-hop group.
pub const FIB4_TBL8_FLAG: u16 = 0x8000;
/// Mask of an entry's group (next-hop group or tbl8 group).
pub const FIB4_VALUE_MASK: u16 = 0x7fff;

/// 4-bit codes packed into one u64 word of `fib4_codes`.
pub const FIB4_CODES_PER_WORD: usize = 16;
/// u64 elements of `fib4_codes` holding codes (the palette follows).
pub const FIB4_CODE_WORDS: usize = FIB4_TOP_ENTRIES / FIB4_CODES_PER_WORD;
/// Slots of the palette a code names.
pub const FIB4_PALETTE_SLOTS: usize = 16;
/// u64 elements of the palette, after the codes.
pub const FIB4_PALETTE_WORDS: usize = FIB4_PALETTE_SLOTS / FIB4_ENTRIES_PER_WORD;
/// The code that says: read `fib4_top`.
pub const FIB4_CODE_TOP: u8 = 15;

/// Element index and bit shift of logical entry `index` in a packed array.
pub const fn fib4_position(index: usize) -> (usize, u32) {
    (
        index / FIB4_ENTRIES_PER_WORD,
        16 * (index % FIB4_ENTRIES_PER_WORD) as u32,
    )
}

/// Reads logical entry `index` from packed words.
pub fn fib4_get(words: &[u64], index: usize) -> u16 {
    let (word, shift) = fib4_position(index);
    (words[word] >> shift) as u16
}

/// Writes logical entry `index` into packed words.
pub fn fib4_set(words: &mut [u64], index: usize, value: u16) {
    let (word, shift) = fib4_position(index);
    words[word] = (words[word] & !(0xffff << shift)) | (u64::from(value) << shift);
}

/// The program's IPv4 lookup over packed words: the next-hop group for
/// `addr`, 0 for no route.
pub fn fib4_lookup(top: &[u64], tbl8: &[u64], addr: std::net::Ipv4Addr) -> u16 {
    let addr = u32::from(addr);
    let v = fib4_get(top, (addr >> 8) as usize);
    if v & FIB4_TBL8_FLAG == 0 {
        return v;
    }
    let index = usize::from(v & FIB4_VALUE_MASK) * 256 + (addr & 0xff) as usize;
    if index / FIB4_ENTRIES_PER_WORD >= tbl8.len() {
        return 0;
    }
    match fib4_get(tbl8, index) {
        v if v & FIB4_TBL8_FLAG != 0 => 0,
        v => v,
    }
}

/// Element index and bit shift of top entry `index`'s code in
/// `fib4_codes`.
pub const fn fib4_code_position(index: usize) -> (usize, u32) {
    (
        index / FIB4_CODES_PER_WORD,
        4 * (index % FIB4_CODES_PER_WORD) as u32,
    )
}

/// Element index and bit shift of palette slot `slot` in `fib4_codes`
/// (the u16 entries after the codes, packed as the top level's).
pub const fn fib4_palette_position(slot: usize) -> (usize, u32) {
    fib4_position(FIB4_CODE_WORDS * FIB4_ENTRIES_PER_WORD + slot)
}

/// Top entry `index`'s code in `codes` (the `fib4_codes` words).
pub fn fib4_code(codes: &[u64], index: usize) -> u8 {
    let (word, shift) = fib4_code_position(index);
    ((codes[word] >> shift) & 0xf) as u8
}

/// The program's IPv4 lookup with the top level's codes (`codes`: the
/// whole `fib4_codes` array, palette included): what [`fib4_lookup`]
/// answers, when the codes agree with `top`.
pub fn fib4_lookup_coded(
    codes: &[u64],
    top: &[u64],
    tbl8: &[u64],
    addr: std::net::Ipv4Addr,
) -> u16 {
    match fib4_code(codes, (u32::from(addr) >> 8) as usize) {
        FIB4_CODE_TOP => fib4_lookup(top, tbl8, addr),
        code => {
            let (word, shift) = fib4_palette_position(code.into());
            (codes[word] >> shift) as u16
        }
    }
}

// ---- IPv6 FIB -----------------------------------------------------------------

/// The IPv6 FIB's arrays, sized by [`crate::poptrie`]'s default capacity.
pub const FIB6_CAPACITY: crate::poptrie::Capacity = crate::poptrie::Capacity {
    fans: crate::poptrie::DEFAULT_FANS,
    nodes: crate::poptrie::DEFAULT_NODES,
    leaves: crate::poptrie::DEFAULT_LEAVES,
};
/// u64 elements of `fib6_direct` (two entries each).
pub const FIB6_DIRECT_WORDS: usize = crate::poptrie::DIRECT_ENTRIES / 2;
/// u64 elements of `fib6_fans`.
pub const FIB6_FAN_WORDS: usize = FIB6_CAPACITY.fans as usize * crate::poptrie::FAN_ENTRIES / 2;
/// Nodes `fib6_nodes` holds.
pub const FIB6_NODES: usize = FIB6_CAPACITY.nodes as usize;
/// u64 elements of `fib6_leaves` (four groups each).
pub const FIB6_LEAF_WORDS: usize = FIB6_CAPACITY.leaves as usize / 4;
/// `fib6_trie` capacity (DXR build).
pub const FIB6_TRIE_ENTRIES: u32 = 262_144;
/// Size of `struct fib6_key` (u32 prefix length, 16 address bytes).
pub const FIB6_KEY_SIZE: usize = 20;

// ---- next-hop groups ------------------------------------------------------------

/// Buckets per next-hop group.
pub const NH_BUCKETS: usize = 64;
/// `nh_groups` capacity; group ids are 1..NH_GROUPS_MAX, of which
/// [`GROUP_DISCARD`] is reserved.
pub const NH_GROUPS_MAX: u32 = 32_768;
/// A FIB entry (IPv4 or IPv6) naming this group drops the packet and counts
/// [`Verdict::DropDiscard`]: a discard route. Ordinary groups are
/// 1..=32766.
pub const GROUP_DISCARD: u16 = (NH_GROUPS_MAX - 1) as u16;

/// `struct nh_group`: resilient-hashing buckets, each a next-hop id
/// (0 = empty, which punts the flows hashed to it).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NhGroup {
    /// The member next-hop id of each bucket.
    pub buckets: [u16; NH_BUCKETS],
}

impl Default for NhGroup {
    /// The empty group.
    fn default() -> Self {
        Self {
            buckets: [0; NH_BUCKETS],
        }
    }
}

impl NhGroup {
    /// A group with members `(next-hop id, weight)` filled from empty.
    pub fn with_members(members: &[(u16, u32)]) -> Result<Self, LayoutError> {
        let mut group = Self::default();
        group.set_members(members)?;
        Ok(group)
    }

    /// Resilient update: gives each member a share of the buckets
    /// proportional to its weight (largest remainder; a member whose share
    /// rounds to 0 gets no bucket), keeping every bucket whose member stays
    /// within its share. Only the buckets of members that left or shrank
    /// move, so flows on the other members keep their next hop. Weight 0
    /// or an empty list empties the group. Returns the number of buckets
    /// that changed.
    pub fn set_members(&mut self, members: &[(u16, u32)]) -> Result<usize, LayoutError> {
        let mut seen = std::collections::BTreeSet::new();
        for &(id, _) in members {
            if id == 0 {
                return Err(LayoutError::NextHopZero);
            }
            if !seen.insert(id) {
                return Err(LayoutError::DuplicateMember(id));
            }
        }
        let members: Vec<(u16, u64)> = members
            .iter()
            .filter(|&&(_, w)| w > 0)
            .map(|&(id, w)| (id, u64::from(w)))
            .collect();
        let total: u64 = members.iter().map(|&(_, w)| w).sum();
        let buckets = NH_BUCKETS as u64;
        let mut quota: Vec<u64> = members
            .iter()
            .map(|&(_, w)| w * buckets / total.max(1))
            .collect();
        let mut left = if total == 0 {
            0
        } else {
            buckets - quota.iter().sum::<u64>()
        };
        // Largest remainder first; ties to the member listed first.
        let mut order: Vec<usize> = (0..members.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(members[i].1 * buckets % total.max(1)));
        // Fewer are left over than there are members.
        for &i in &order {
            if left == 0 {
                break;
            }
            quota[i] += 1;
            left -= 1;
        }

        let before = *self;
        let mut kept = vec![0u64; members.len()];
        let mut free = Vec::new();
        for (slot, bucket) in self.buckets.iter_mut().enumerate() {
            match members.iter().position(|&(id, _)| id == *bucket) {
                Some(i) if kept[i] < quota[i] => kept[i] += 1,
                _ => {
                    *bucket = 0;
                    free.push(slot);
                }
            }
        }
        // Hand out the free buckets round-robin among members below quota,
        // so a member's new buckets interleave with the others'.
        let mut free = free.into_iter();
        'fill: loop {
            let mut gave = false;
            for (i, &(id, _)) in members.iter().enumerate() {
                if kept[i] < quota[i] {
                    let Some(slot) = free.next() else {
                        break 'fill;
                    };
                    self.buckets[slot] = id;
                    kept[i] += 1;
                    gave = true;
                }
            }
            if !gave {
                break;
            }
        }
        Ok(self
            .buckets
            .iter()
            .zip(before.buckets.iter())
            .filter(|(a, b)| a != b)
            .count())
    }

    /// The map value.
    pub fn to_bytes(&self) -> [u16; NH_BUCKETS] {
        self.buckets
    }
}

// ---- next hops ---------------------------------------------------------------------

/// `nexthops` capacity; valid next-hop ids are 1..NEXTHOPS_MAX.
pub const NEXTHOPS_MAX: u32 = 65_536;
/// Size of `struct nexthop`.
pub const NEXTHOP_SIZE: usize = 24;

/// `struct nexthop`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NextHop {
    /// Egress interface; must also be in `tx_ports`.
    pub ifindex: u32,
    /// The next hop's MAC address.
    pub dmac: [u8; 6],
    /// The egress interface's MAC address.
    pub smac: [u8; 6],
    /// Egress L3 MTU: larger IP packets are punted (0 punts every packet).
    pub mtu: u16,
    /// [`NextHop::VALID`] | [`NextHop::MAC_KNOWN`].
    pub flags: u16,
    /// 802.1Q VLAN id to leave with (then `ifindex` is the VLAN's parent);
    /// 0: untagged.
    pub vlan: u16,
    /// Padding (`_pad`).
    pub pad: u16,
}

const _: () = assert!(std::mem::size_of::<NextHop>() == NEXTHOP_SIZE);
const _: () = assert!(std::mem::size_of::<NhGroup>() == 2 * NH_BUCKETS);
const _: () = assert!(std::mem::size_of::<NhStats>() == 16);

impl NextHop {
    /// The entry is in use.
    pub const VALID: u16 = 0x1;
    /// `dmac` is resolved; without it packets are punted to the kernel.
    pub const MAC_KNOWN: u16 = 0x2;

    /// A valid next hop with a resolved MAC.
    pub const fn resolved(ifindex: u32, dmac: [u8; 6], smac: [u8; 6], mtu: u16) -> Self {
        Self {
            ifindex,
            dmac,
            smac,
            mtu,
            flags: Self::VALID | Self::MAC_KNOWN,
            vlan: 0,
            pad: 0,
        }
    }

    /// The map value (host byte order, as the C struct).
    pub fn to_bytes(&self) -> [u8; NEXTHOP_SIZE] {
        let mut b = [0u8; NEXTHOP_SIZE];
        b[0..4].copy_from_slice(&self.ifindex.to_ne_bytes());
        b[4..10].copy_from_slice(&self.dmac);
        b[10..16].copy_from_slice(&self.smac);
        b[16..18].copy_from_slice(&self.mtu.to_ne_bytes());
        b[18..20].copy_from_slice(&self.flags.to_ne_bytes());
        b[20..22].copy_from_slice(&self.vlan.to_ne_bytes());
        b
    }

    /// Parses a map value.
    pub fn from_bytes(b: &[u8; NEXTHOP_SIZE]) -> Self {
        let mut dmac = [0u8; 6];
        let mut smac = [0u8; 6];
        dmac.copy_from_slice(&b[4..10]);
        smac.copy_from_slice(&b[10..16]);
        Self {
            ifindex: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            dmac,
            smac,
            mtu: u16::from_ne_bytes([b[16], b[17]]),
            flags: u16::from_ne_bytes([b[18], b[19]]),
            vlan: u16::from_ne_bytes([b[20], b[21]]),
            pad: 0,
        }
    }
}

// ---- egress ports, own addresses -------------------------------------------------------

/// `tx_ports` capacity (egress ports, any ifindex).
pub const TX_PORTS_MAX: u32 = 1024;
/// Size of `struct bpf_devmap_val` (ifindex, program fd/id).
pub const DEVMAP_VALUE_SIZE: usize = 8;
/// `own4` / `own6` capacity.
pub const OWN_ADDRS_MAX: u32 = 4096;

// ---- interfaces, anti-spoofing, martians, settings ------------------------------------

/// `ifaces` capacity (interfaces and VLANs routed on).
pub const IFACES_MAX: u32 = 1024;
/// Size of `struct if_key`.
pub const IF_KEY_SIZE: usize = 8;
/// Size of `struct iface`.
pub const IFACE_SIZE: usize = 16;
/// `iface.flags`: drop packets arriving here whose source is not in
/// `src4` / `src6` (BCP 38).
pub const IF_F_ANTISPOOF: u32 = 0x1;
/// `iface.flags`: an uplink; drop sources `martian4` / `martian6` mark for
/// this port.
pub const IF_F_MARTIAN: u32 = 0x2;
/// Every defined `iface.flags` bit.
pub const IF_F_ALL: u32 = IF_F_ANTISPOOF | IF_F_MARTIAN;
/// `martian4` / `martian6` capacity.
pub const MARTIANS_MAX: u32 = 8192;
/// Size of `struct martian4_key`.
pub const MARTIAN4_KEY_SIZE: usize = 16;
/// Size of `struct martian6_key`.
pub const MARTIAN6_KEY_SIZE: usize = 28;

/// `struct if_key`: where a frame arrived — the ifindex the program is
/// attached to and the frame's VLAN id (0: untagged).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfKey {
    /// The interface the program is attached to (a VLAN's parent).
    pub ifindex: u32,
    /// The 802.1Q VLAN id; 0 for untagged frames.
    pub vlan: u32,
}

impl IfKey {
    /// An untagged port.
    pub const fn untagged(ifindex: u32) -> Self {
        Self { ifindex, vlan: 0 }
    }

    /// The key bytes (host order, as the C struct).
    pub fn to_bytes(self) -> [u8; IF_KEY_SIZE] {
        let mut b = [0u8; IF_KEY_SIZE];
        b[..4].copy_from_slice(&self.ifindex.to_ne_bytes());
        b[4..].copy_from_slice(&self.vlan.to_ne_bytes());
        b
    }

    /// Parses key bytes.
    pub fn from_bytes(b: [u8; IF_KEY_SIZE]) -> Self {
        Self {
            ifindex: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            vlan: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

/// `struct iface`: an interface (or VLAN) the program routes on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Iface {
    /// [`IF_F_ANTISPOOF`] | [`IF_F_MARTIAN`].
    pub flags: u32,
    /// The logical interface: the VLAN device for a VLAN, else the
    /// interface itself (what `bpf_fib_lookup` is asked about).
    pub ifindex: u32,
    /// Its MAC: unicast frames to any other are not routed.
    pub mac: [u8; 6],
}

impl Iface {
    /// The map value (host byte order, as the C struct).
    pub fn to_bytes(&self) -> [u8; IFACE_SIZE] {
        let mut b = [0u8; IFACE_SIZE];
        b[..4].copy_from_slice(&self.flags.to_ne_bytes());
        b[4..8].copy_from_slice(&self.ifindex.to_ne_bytes());
        b[8..14].copy_from_slice(&self.mac);
        b
    }

    /// Parses a map value.
    pub fn from_bytes(b: &[u8; IFACE_SIZE]) -> Self {
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&b[8..14]);
        Self {
            flags: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            ifindex: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
            mac,
        }
    }
}

/// `src4` / `src6` capacity.
pub const SRC_PREFIXES_MAX: u32 = 1024;
/// Size of `struct src4_key` (u32 prefix length, 4 address bytes).
pub const SRC4_KEY_SIZE: usize = 8;
/// Size of `struct settings`.
pub const SETTINGS_SIZE: usize = 16;

/// `settings.fib_mode`: where the program looks routes up.
#[repr(u32)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FibMode {
    /// `FIB_MODE_SLUICE`: the program's own maps (DIR-24-8, the poptrie,
    /// next-hop groups and next hops).
    #[default]
    Sluice = 0,
    /// `FIB_MODE_KERNEL`: `bpf_fib_lookup()` on the kernel's FIB and
    /// neighbour table (of the ingress interface's namespace, which must
    /// have forwarding enabled on that interface).
    Kernel = 1,
    /// `FIB_MODE_DXR`: as [`FibMode::Sluice`], with IPv4 looked up in the
    /// DXR ranges (`fib4_direct` / `fib4_ranges`) instead of DIR-24-8.
    /// Only the DXR build ([`crate::loader::Dataplane::load_dxr`]) has it.
    Dxr = 2,
    /// `FIB_MODE_TRIE6`: as [`FibMode::Sluice`], with IPv6 looked up in the
    /// kernel's `LPM_TRIE` (`fib6_trie`) instead of the poptrie. Only the
    /// DXR build has it.
    Trie6 = 3,
    /// `FIB_MODE_POP4`: as [`FibMode::Sluice`], with IPv4 looked up in the
    /// poptrie arrays `pop4_*` ([`crate::poptrie4`]) instead of DIR-24-8.
    /// Only the DXR build has it.
    Pop4 = 4,
}

/// `settings.flags` in the measuring build (`STOP_*`): the stage after
/// which the program returns `XDP_DROP`, for timing each stage of the
/// forwarding path by difference. The daemon's build ignores it.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Parsing and the checks, up to the route lookup.
    Parse = 1,
    /// The route lookup.
    Lookup = 2,
    /// The flow hash and the next hop's bucket.
    NextHop = 3,
    /// The VLAN tag and the TTL (the MACs, counters and the redirect come
    /// after).
    Rewrite = 4,
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::Parse, Stage::Lookup, Stage::NextHop, Stage::Rewrite];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Parse => "parse and checks",
            Stage::Lookup => "route lookup",
            Stage::NextHop => "next hop",
            Stage::Rewrite => "tag and TTL",
        }
    }
}

impl FibMode {
    /// From the map value; unknown values read as `None`.
    pub const fn from_u32(v: u32) -> Option<Self> {
        match v {
            0 => Some(FibMode::Sluice),
            1 => Some(FibMode::Kernel),
            2 => Some(FibMode::Dxr),
            3 => Some(FibMode::Trie6),
            4 => Some(FibMode::Pop4),
            _ => None,
        }
    }
}

// ---- counters --------------------------------------------------------------------------

/// `struct nh_stats`, summed over CPUs when read.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NhStats {
    /// Packets forwarded through the next hop.
    pub packets: u64,
    /// Their bytes, whole frames as received (Ethernet header included).
    pub bytes: u64,
}

impl NhStats {
    /// From the map value.
    pub const fn from_words(w: [u64; 2]) -> Self {
        Self {
            packets: w[0],
            bytes: w[1],
        }
    }
}

/// `verdicts` capacity (room to add verdicts without resizing a pinned map).
pub const VERDICTS_MAX: u32 = 32;

/// `enum verdict`: why a packet got its XDP action; the index of its
/// per-CPU counter in `verdicts`. See the top of ebpf/sluice.c for the rules.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// Redirected to the next hop.
    Forwarded = 0,
    /// Not IPv4/IPv6 (or stacked VLAN tags).
    PassNotIp = 1,
    /// ARP; ICMPv6 router/neighbour solicitation/advertisement, redirect.
    PassArpNd = 2,
    /// Destination is one of the router's own addresses.
    PassLocal = 3,
    /// Multicast/broadcast/loopback/unspecified/reserved address or a
    /// group-addressed Ethernet frame.
    PassSpecialAddr = 4,
    /// Link-local source or destination (169.254/16, fe80::/10).
    PassLinkLocal = 5,
    /// TTL / hop limit ≤ 1.
    PassTtl = 6,
    /// IPv4 header with options.
    PassOptions = 7,
    /// IPv6 next header other than TCP, UDP, ICMPv6.
    PassIpv6Ext = 8,
    /// No FIB entry.
    PassNoRoute = 9,
    /// Empty bucket, or the next hop is not valid.
    PassNoNexthop = 10,
    /// The next hop's MAC is not known.
    PassNoMac = 11,
    /// IP packet larger than the egress MTU.
    PassMtu = 12,
    /// Egress ifindex not in `tx_ports`.
    PassNoTxPort = 13,
    /// Truncated or inconsistent headers.
    DropMalformed = 14,
    /// IPv4 header checksum wrong.
    DropBadChecksum = 15,
    /// The FIB entry names [`GROUP_DISCARD`] (a discard route).
    DropDiscard = 16,
    /// Source outside `src4` / `src6` on an interface with
    /// [`IF_F_ANTISPOOF`] (BCP 38).
    DropSpoofed = 17,
    /// Kernel FIB mode: a blackhole, unreachable or prohibit route (the
    /// kernel drops the packet or answers with ICMP).
    PassUnreachable = 18,
    /// Kernel FIB mode: forwarding is disabled on the ingress interface.
    PassFwdDisabled = 19,
    /// The (ingress interface, VLAN) is not one the program routes on
    /// (no `ifaces` entry): a VLAN Sluice is not configured for.
    PassNotRouted = 20,
    /// The unicast Ethernet destination is not the interface's MAC
    /// (flooded unknown unicast, promiscuous mode).
    PassNotForUs = 21,
    /// An uplink packet with a martian source: the site's own announced
    /// space or a bogon.
    DropMartian = 22,
}

impl Verdict {
    /// Every verdict, in counter order.
    pub const ALL: [Verdict; 23] = [
        Verdict::Forwarded,
        Verdict::PassNotIp,
        Verdict::PassArpNd,
        Verdict::PassLocal,
        Verdict::PassSpecialAddr,
        Verdict::PassLinkLocal,
        Verdict::PassTtl,
        Verdict::PassOptions,
        Verdict::PassIpv6Ext,
        Verdict::PassNoRoute,
        Verdict::PassNoNexthop,
        Verdict::PassNoMac,
        Verdict::PassMtu,
        Verdict::PassNoTxPort,
        Verdict::DropMalformed,
        Verdict::DropBadChecksum,
        Verdict::DropDiscard,
        Verdict::DropSpoofed,
        Verdict::PassUnreachable,
        Verdict::PassFwdDisabled,
        Verdict::PassNotRouted,
        Verdict::PassNotForUs,
        Verdict::DropMartian,
    ];

    /// The name used in counters and metrics (`VERDICT_` + upper case of
    /// this in the C header).
    pub const fn name(self) -> &'static str {
        match self {
            Verdict::Forwarded => "forwarded",
            Verdict::PassNotIp => "pass_not_ip",
            Verdict::PassArpNd => "pass_arp_nd",
            Verdict::PassLocal => "pass_local",
            Verdict::PassSpecialAddr => "pass_special_addr",
            Verdict::PassLinkLocal => "pass_link_local",
            Verdict::PassTtl => "pass_ttl",
            Verdict::PassOptions => "pass_options",
            Verdict::PassIpv6Ext => "pass_ipv6_ext",
            Verdict::PassNoRoute => "pass_no_route",
            Verdict::PassNoNexthop => "pass_no_nexthop",
            Verdict::PassNoMac => "pass_no_mac",
            Verdict::PassMtu => "pass_mtu",
            Verdict::PassNoTxPort => "pass_no_tx_port",
            Verdict::DropMalformed => "drop_malformed",
            Verdict::DropBadChecksum => "drop_bad_checksum",
            Verdict::DropDiscard => "drop_discard",
            Verdict::DropSpoofed => "drop_spoofed",
            Verdict::PassUnreachable => "pass_unreachable",
            Verdict::PassFwdDisabled => "pass_fwd_disabled",
            Verdict::PassNotRouted => "pass_not_routed",
            Verdict::PassNotForUs => "pass_not_for_us",
            Verdict::DropMartian => "drop_martian",
        }
    }

    /// The XDP action that goes with the verdict.
    pub const fn action(self) -> XdpAction {
        match self {
            Verdict::Forwarded => XdpAction::Redirect,
            Verdict::DropMalformed
            | Verdict::DropBadChecksum
            | Verdict::DropDiscard
            | Verdict::DropSpoofed
            | Verdict::DropMartian => XdpAction::Drop,
            _ => XdpAction::Pass,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// XDP return codes (`enum xdp_action`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum XdpAction {
    /// `XDP_ABORTED`
    Aborted = 0,
    /// `XDP_DROP`
    Drop = 1,
    /// `XDP_PASS`
    Pass = 2,
    /// `XDP_TX`
    Tx = 3,
    /// `XDP_REDIRECT`
    Redirect = 4,
}

impl XdpAction {
    /// From a program's return value.
    pub const fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            0 => XdpAction::Aborted,
            1 => XdpAction::Drop,
            2 => XdpAction::Pass,
            3 => XdpAction::Tx,
            4 => XdpAction::Redirect,
            _ => return None,
        })
    }
}

/// A value that does not fit the layout.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LayoutError {
    /// Next-hop id 0 means "empty bucket".
    #[error("next-hop id 0 is reserved (it marks an empty bucket)")]
    NextHopZero,
    /// A member listed twice.
    #[error("next hop {0} is listed twice in one group")]
    DuplicateMember(u16),
}

#[cfg(test)]
mod tests;
