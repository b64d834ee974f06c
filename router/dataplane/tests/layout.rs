//! The compiled object against layout.rs: its maps (from the BTF map
//! definitions, via aya-obj) and the value structs' sizes and field offsets
//! (read from the object's .BTF section by the small reader below); the
//! verdict enum against ebpf/sluice.h. No BPF needed: the object is parsed,
//! not loaded.

use std::collections::BTreeMap;
use std::mem::offset_of;

use sluice_dataplane::layout::{self, NextHop, NhGroup, NhStats, Verdict, map};
use sluice_dataplane::loader::OBJECT;

const HASH: u32 = 1;
const ARRAY: u32 = 2;
const PERCPU_ARRAY: u32 = 6;
const LPM_TRIE: u32 = 11;
const DEVMAP_HASH: u32 = 25;
const F_NO_PREALLOC: u32 = 1;
const F_MMAPABLE: u32 = 1 << 10;

#[test]
fn object_maps_match_the_layout() {
    let obj = aya_obj::Object::parse(OBJECT).expect("parse sluice.o");
    assert!(obj.programs.contains_key(layout::PROGRAM));
    let mut names: Vec<&str> = obj.maps.keys().map(String::as_str).collect();
    names.sort_unstable();
    let mut want = map::ALL.to_vec();
    want.sort_unstable();
    assert_eq!(names, want, "map names");

    assert_eq!(
        map::SPECS.iter().map(|s| s.name).collect::<Vec<_>>(),
        map::ALL.to_vec(),
        "SPECS in ALL order"
    );
    for spec in map::SPECS {
        let name = spec.name;
        let m = &obj.maps[name];
        assert_eq!(m.map_type(), spec.map_type, "{name}: type");
        assert_eq!(m.key_size(), spec.key_size, "{name}: key size");
        assert_eq!(m.value_size(), spec.value_size, "{name}: value size");
        assert_eq!(m.max_entries(), spec.max_entries, "{name}: max entries");
        assert_eq!(m.map_flags(), spec.flags, "{name}: flags");
    }
    // A few against the constants of the kernel's uapi, independently of
    // SPECS' own spelling.
    assert_eq!(obj.maps[map::FIB4_TOP].map_type(), ARRAY);
    assert_eq!(obj.maps[map::FIB4_TOP].map_flags(), F_MMAPABLE);
    assert_eq!(obj.maps[map::FIB6_NODES].map_flags(), F_MMAPABLE);
    assert_eq!(obj.maps[map::SRC6].map_type(), LPM_TRIE);
    assert_eq!(obj.maps[map::SRC4].map_flags(), F_NO_PREALLOC);
    assert_eq!(obj.maps[map::OWN4].map_type(), HASH);
    assert_eq!(obj.maps[map::NH_STATS].map_type(), PERCPU_ARRAY);
    assert_eq!(obj.maps[map::TX_PORTS].map_type(), DEVMAP_HASH);
    assert_eq!(
        obj.maps[map::NH_GROUPS].value_size() as usize,
        size_of::<layout::NhGroup>()
    );
    assert_eq!(
        obj.maps[map::NEXTHOPS].value_size() as usize,
        size_of::<layout::NextHop>()
    );
    assert_eq!(
        obj.maps[map::NH_STATS].value_size() as usize,
        size_of::<layout::NhStats>()
    );
}

#[test]
fn object_is_gpl_compatible() {
    let obj = aya_obj::Object::parse(OBJECT).expect("parse sluice.o");
    assert_eq!(obj.license.to_str().unwrap(), "Dual BSD/GPL");
}

// ---- a minimal BTF reader (ELF64 little endian, BTF v1) -------------------

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(b[off..off + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], off: usize) -> usize {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap()) as usize
}
fn c_str(b: &[u8], off: usize) -> String {
    let end = b[off..].iter().position(|&c| c == 0).unwrap();
    String::from_utf8(b[off..off + end].to_vec()).unwrap()
}

/// The bytes of section `name`.
fn elf_section<'a>(elf: &'a [u8], name: &str) -> &'a [u8] {
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!((elf[4], elf[5]), (2, 1), "ELF64 little endian");
    let (shoff, shentsize) = (u64_at(elf, 0x28), usize::from(u16_at(elf, 0x3a)));
    let (shnum, shstrndx) = (
        usize::from(u16_at(elf, 0x3c)),
        usize::from(u16_at(elf, 0x3e)),
    );
    let header = |i: usize| &elf[shoff + i * shentsize..shoff + (i + 1) * shentsize];
    let strtab = u64_at(header(shstrndx), 24);
    (0..shnum)
        .map(header)
        .find(|h| c_str(elf, strtab + u32_at(h, 0) as usize) == name)
        .map(|h| &elf[u64_at(h, 24)..u64_at(h, 24) + u64_at(h, 32)])
        .unwrap_or_else(|| panic!("no section {name}"))
}

/// A struct of the BTF: its size and (member name, bit offset).
type BtfStruct = (u32, Vec<(String, u32)>);

/// Named structs of the object's .BTF section.
fn btf_structs() -> BTreeMap<String, BtfStruct> {
    let btf = elf_section(OBJECT, ".BTF");
    assert_eq!(u16_at(btf, 0), 0xeb9f, "BTF magic");
    let hdr = u32_at(btf, 4) as usize;
    let (type_off, type_len) = (u32_at(btf, 8) as usize, u32_at(btf, 12) as usize);
    let str_off = hdr + u32_at(btf, 16) as usize;
    let name = |off: u32| c_str(btf, str_off + off as usize);
    let mut types = BTreeMap::new();
    let (mut at, end) = (hdr + type_off, hdr + type_off + type_len);
    while at < end {
        let (name_off, info, size) = (u32_at(btf, at), u32_at(btf, at + 4), u32_at(btf, at + 8));
        let (kind, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
        at += 12;
        let trailer = match kind {
            1 | 14 | 17 => 4,     // INT, VAR, DECL_TAG
            3 => 12,              // ARRAY
            4 | 5 => 12 * vlen,   // STRUCT, UNION
            6 | 13 => 8 * vlen,   // ENUM, FUNC_PROTO
            15 | 19 => 12 * vlen, // DATASEC, ENUM64
            2 | 7..=12 | 16 | 18 => 0,
            k => panic!("unknown BTF kind {k}"),
        };
        if kind == 4 && name_off != 0 {
            // Members: name, type, bit offset (bit-field size in the top 8
            // bits when kflag is set).
            let members = (0..vlen)
                .map(|i| at + 12 * i)
                .map(|m| (name(u32_at(btf, m)), u32_at(btf, m + 8) & 0x00ff_ffff))
                .collect();
            types.insert(name(name_off), (size, members));
        }
        at += trailer;
    }
    types
}

fn btf_struct(types: &BTreeMap<String, BtfStruct>, name: &str) -> (usize, Vec<(String, usize)>) {
    match types.get(name) {
        Some((size, members)) => (
            *size as usize,
            members
                .iter()
                .map(|(n, bits)| (n.clone(), *bits as usize / 8))
                .collect(),
        ),
        other => panic!("struct {name} not in the BTF: {other:?}"),
    }
}

fn fields(list: &[(&str, usize)]) -> Vec<(String, usize)> {
    list.iter().map(|(n, o)| (n.to_string(), *o)).collect()
}

#[test]
fn value_structs_match_the_btf() {
    let types = btf_structs();
    assert_eq!(
        btf_struct(&types, "nexthop"),
        (
            size_of::<NextHop>(),
            fields(&[
                ("ifindex", offset_of!(NextHop, ifindex)),
                ("dmac", offset_of!(NextHop, dmac)),
                ("smac", offset_of!(NextHop, smac)),
                ("mtu", offset_of!(NextHop, mtu)),
                ("flags", offset_of!(NextHop, flags)),
                ("vlan", offset_of!(NextHop, vlan)),
                ("_pad", offset_of!(NextHop, pad)),
            ])
        )
    );
    assert_eq!(
        btf_struct(&types, "nh_group"),
        (
            size_of::<NhGroup>(),
            fields(&[("buckets", offset_of!(NhGroup, buckets))])
        )
    );
    assert_eq!(
        btf_struct(&types, "nh_stats"),
        (
            size_of::<NhStats>(),
            fields(&[
                ("packets", offset_of!(NhStats, packets)),
                ("bytes", offset_of!(NhStats, bytes)),
            ])
        )
    );
    // The LPM key is aya's `Key<[u8; 16]>`: packed u32 prefix length, then
    // the address.
    assert_eq!(
        btf_struct(&types, "fib6_key"),
        (
            size_of::<aya::maps::lpm_trie::Key<[u8; 16]>>(),
            fields(&[("prefixlen", 0), ("addr", 4)])
        )
    );
    assert_eq!(btf_struct(&types, "own6_key"), (16, fields(&[("addr", 0)])));
    assert_eq!(
        btf_struct(&types, "src4_key"),
        (
            layout::SRC4_KEY_SIZE,
            fields(&[("prefixlen", 0), ("addr", 4)])
        )
    );
    assert_eq!(
        btf_struct(&types, "if_key"),
        (layout::IF_KEY_SIZE, fields(&[("ifindex", 0), ("vlan", 4)]))
    );
    assert_eq!(
        btf_struct(&types, "iface"),
        (
            layout::IFACE_SIZE,
            fields(&[("flags", 0), ("ifindex", 4), ("mac", 8), ("_pad", 14)])
        )
    );
    // The martian keys: prefix length, the port, the address (aya's
    // `Key<[u8; 8 + N]>`).
    assert_eq!(
        btf_struct(&types, "martian4_key"),
        (
            layout::MARTIAN4_KEY_SIZE,
            fields(&[("prefixlen", 0), ("port", 4), ("addr", 12)])
        )
    );
    assert_eq!(
        btf_struct(&types, "martian6_key"),
        (
            layout::MARTIAN6_KEY_SIZE,
            fields(&[("prefixlen", 0), ("port", 4), ("addr", 12)])
        )
    );
    assert_eq!(
        size_of::<aya::maps::lpm_trie::Key<[u8; 24]>>(),
        layout::MARTIAN6_KEY_SIZE
    );
    assert_eq!(
        btf_struct(&types, "settings"),
        (
            layout::SETTINGS_SIZE,
            fields(&[
                ("fib_mode", 0),
                ("flags", 4),
                ("hash_seed", 8),
                ("_pad", 12)
            ])
        )
    );
}

/// `(NAME, value)` of every `VERDICT_NAME = value,` line of the header.
/// (The enum is not in the object's BTF: no map or non-inlined function
/// uses it as a type, and an array map's BTF key must be an integer.)
fn header_verdicts() -> Vec<(String, u32)> {
    include_str!("../../../ebpf/sluice.h")
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            l.starts_with("VERDICT_").then_some(())?;
            let (name, rest) = l.split_once('=')?;
            let value = rest.trim().split(',').next()?.trim().parse().ok()?;
            Some((name.trim().to_string(), value))
        })
        .collect()
}

#[test]
fn verdict_enum_matches_the_header() {
    let mut want: Vec<(String, u32)> = Verdict::ALL
        .iter()
        .map(|&v| (format!("VERDICT_{}", v.name().to_uppercase()), v as u32))
        .collect();
    want.push(("VERDICT_COUNT".into(), Verdict::ALL.len() as u32));
    assert_eq!(header_verdicts(), want);
}
