//! A thin aya layer over the XDP program: loads ebpf/sluice.o (built by
//! build.rs) into the kernel, verifies the program, and gives typed access
//! to its maps — next hops, next-hop groups, the IPv4 DIR-24-8 arrays
//! (written through a shared mmap of the `BPF_F_MMAPABLE` maps), IPv6
//! routes, own addresses, egress ports and the per-CPU counters.
//!
//! [`Dataplane::load`] makes private, unpinned maps (tests, tools);
//! [`Dataplane::open`](crate::pin) loads with the maps pinned and adopts
//! pinned state after a restart. Attaching is in [`crate::attach`] (and
//! [`crate::pin`] for pinned links), the settings and anti-spoofing maps in
//! [`crate::settings`], reading the FIB back in [`crate::readback`].
//! Filling the maps from netlink neighbours and the RIB belongs to the
//! data-plane driver.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use aya::maps::{Array, DevMapHash, HashMap, LpmTrie, Map, MapData, MapError, PerCpuArray};
use aya::programs::{ProgramError, TestRun, TestRunOptions, Xdp};
use aya::{Ebpf, EbpfError, EbpfLoader, include_bytes_aligned};

use crate::dir24::{Codes, Dir24, Dirty};
use crate::dxr::{Dxr, DxrDirty};
use crate::fib6::Fib6;
use crate::layout::{
    self, FIB4_TBL8_WORDS, FIB4_TOP_WORDS, GROUP_DISCARD, IF_KEY_SIZE, IFACE_SIZE,
    MARTIAN4_KEY_SIZE, MARTIAN6_KEY_SIZE, NEXTHOP_SIZE, NEXTHOPS_MAX, NH_BUCKETS, NextHop, NhGroup,
    NhStats, Verdict, XdpAction,
};
use mmap::MappedWords;

/// The compiled XDP program.
pub static OBJECT: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sluice.o"));

/// The same program built with `SLUICE_DXR`: it also has the DXR maps and
/// [`FibMode::Dxr`] (for measuring DXR against DIR-24-8).
pub static OBJECT_DXR: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sluice-dxr.o"));

/// What can go wrong loading the program or writing its maps.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object could not be loaded (maps created, relocations applied).
    #[error("loading the XDP object: {0}")]
    Load(#[from] EbpfError),
    /// The program could not be loaded or test-run (verifier log included).
    #[error("XDP program: {0}")]
    Program(#[from] ProgramError),
    /// The object lacks a map or program of the layout.
    #[error("the XDP object has no {0} (object and layout.rs out of step?)")]
    Missing(&'static str),
    /// A map operation failed.
    #[error("map {map}: {source}")]
    Map {
        /// The map's name.
        map: &'static str,
        /// The error.
        #[source]
        source: MapError,
    },
    /// A DEVMAP update failed.
    #[error("map tx_ports: {0}")]
    TxPort(#[from] aya::maps::xdp::XdpMapError),
    /// No random seed could be read.
    #[error("reading /dev/urandom for the flow hash seed: {source}")]
    Random {
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// mmap(2) of a `BPF_F_MMAPABLE` map failed.
    #[error("mmap of map {map}: {source}")]
    Mmap {
        /// The map's name.
        map: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The pin directory is not on a bpffs.
    #[error(
        "{path} is not on a bpffs (file system magic {magic:#x}, a bpffs has 0xcafe4a11): \
         mount one with `mount -t bpf bpf /run/sluice/bpf` and set `dataplane.bpffs` to it \
         (`ip netns exec` hides the host's /sys/fs/bpf behind a fresh sysfs)"
    )]
    NotBpffs {
        /// The directory checked (the pin directory or its nearest existing
        /// ancestor).
        path: std::path::PathBuf,
        /// Its `statfs` file system type.
        magic: i64,
    },
    /// A pinned map does not fit this program's layout.
    #[error(
        "pinned map {map} ({path}) does not fit this program: {problem}; it was made by \
         another version of Sluice: stop that data plane cleanly or remove the pins"
    )]
    PinnedLayout {
        /// The map's name.
        map: &'static str,
        /// Its pin.
        path: std::path::PathBuf,
        /// What differs.
        problem: String,
    },
    /// A pin or pin-directory operation failed.
    #[error("{what} {path}: {source}")]
    Pin {
        /// The path.
        path: std::path::PathBuf,
        /// The operation.
        what: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The IPv6 FIB could not place a change (see the error).
    #[error("IPv6 FIB: {0}")]
    Fib6(#[from] crate::poptrie::PoptrieError),
    /// An id, index or length outside what the layout allows.
    #[error("{what} {value} is out of range (allowed: {allowed})")]
    OutOfRange {
        /// What was out of range.
        what: &'static str,
        /// The value given.
        value: u64,
        /// The allowed range, for the message.
        allowed: String,
    },
}

pub(crate) fn map_err(map: &'static str) -> impl FnOnce(MapError) -> Error {
    move |source| Error::Map { map, source }
}

/// `Ok` for a missing key too, so removals are idempotent. (aya 0.14's
/// `remove` reports a missing key as a syscall error with ENOENT, not as
/// `MapError::KeyNotFound`.)
pub(crate) fn absent_ok(map: &'static str, r: Result<(), MapError>) -> Result<(), Error> {
    match r {
        Ok(()) | Err(MapError::KeyNotFound) => Ok(()),
        Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(e) => Err(map_err(map)(e)),
    }
}

pub(crate) fn check_range(
    what: &'static str,
    value: u64,
    min: u64,
    max_excl: u64,
) -> Result<(), Error> {
    if (min..max_excl).contains(&value) {
        Ok(())
    } else {
        Err(Error::OutOfRange {
            what,
            value,
            allowed: format!("{min}..{max_excl}"),
        })
    }
}

/// The result of one `BPF_PROG_TEST_RUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    /// The program's return value.
    pub action: XdpAction,
    /// The frame as the program left it.
    pub frame: Vec<u8>,
}

/// What [`Dataplane::sync_fib4`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fib4Sync {
    /// `fib4_top` words that changed.
    pub top_words: usize,
    /// `fib4_tbl8` words that changed.
    pub tbl8_words: usize,
}

/// An array map of u64 words and its shared mapping.
pub(crate) struct MappedArray {
    /// Shared with a [`Dir24::live`] builder that writes through it.
    pub(crate) words: Arc<MappedWords>,
    /// The map itself (the mapping alone would keep it alive too), for
    /// pinning by the driver.
    pub(crate) _map: MapData,
}

/// The loaded XDP program and its maps.
pub struct Dataplane {
    fib4_top: MappedArray,
    fib4_tbl8: MappedArray,
    /// `fib4_codes` and what its codes name, shared with a
    /// [`Self::live_fib4`] builder (one writer at a time).
    fib4_codes: Arc<Mutex<Codes>>,
    /// The DXR maps, in the DXR build only.
    fib4_direct: Option<MappedArray>,
    fib4_ranges: Option<MappedArray>,
    /// The IPv4 poptrie maps, in the DXR build only.
    pub(crate) pop4: Option<crate::pop4::Pop4Maps>,
    pub(crate) fib6: Fib6,
    pub(crate) nh_groups: Array<MapData, [u16; NH_BUCKETS]>,
    pub(crate) nexthops: Array<MapData, [u8; NEXTHOP_SIZE]>,
    pub(crate) tx_ports: DevMapHash<MapData>,
    pub(crate) own4: HashMap<MapData, u32, u8>,
    pub(crate) own6: HashMap<MapData, [u8; 16], u8>,
    pub(crate) nh_stats: PerCpuArray<MapData, [u64; 2]>,
    pub(crate) verdicts: PerCpuArray<MapData, u64>,
    pub(crate) ifaces: HashMap<MapData, [u8; IF_KEY_SIZE], [u8; IFACE_SIZE]>,
    pub(crate) martian4: LpmTrie<MapData, [u8; MARTIAN4_KEY_SIZE - 4], u8>,
    pub(crate) martian6: LpmTrie<MapData, [u8; MARTIAN6_KEY_SIZE - 4], u8>,
    pub(crate) src4: LpmTrie<MapData, [u8; 4], u8>,
    pub(crate) src6: LpmTrie<MapData, [u8; 16], u8>,
    pub(crate) settings: Array<MapData, [u32; 4]>,
    // Last: the maps above hold their own references.
    pub(crate) ebpf: Ebpf,
}

impl std::fmt::Debug for Dataplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataplane")
            .field("program", &layout::PROGRAM)
            .field("maps", &layout::map::ALL)
            .finish_non_exhaustive()
    }
}

impl Dataplane {
    /// Creates the maps, loads and verifies the program. Nothing is attached
    /// and nothing is pinned: dropping the value frees everything.
    pub fn load() -> Result<Self, Error> {
        Self::load_with(&mut EbpfLoader::new())
    }

    /// [`Self::load`] of the DXR build ([`OBJECT_DXR`]), whose program
    /// also looks IPv4 up in DXR ranges in [`FibMode::Dxr`]. Unpinned:
    /// for benchmarks and tests.
    pub fn load_dxr() -> Result<Self, Error> {
        Self::load_object(&mut EbpfLoader::new(), OBJECT_DXR)
    }

    /// Loads with `loader` (e.g. one with pin paths set) and takes the maps.
    pub(crate) fn load_with(loader: &mut EbpfLoader<'_>) -> Result<Self, Error> {
        Self::load_object(loader, OBJECT)
    }

    fn load_object(loader: &mut EbpfLoader<'_>, object: &[u8]) -> Result<Self, Error> {
        let mut ebpf = loader.load(object)?;
        let program: &mut Xdp = ebpf
            .program_mut(layout::PROGRAM)
            .ok_or(Error::Missing("program sluice_xdp"))?
            .try_into()?;
        program.load()?;

        // The DXR maps and the IPv6 LPM trie are in the DXR build only.
        let dxr_maps = (
            ebpf.take_map(layout::map::FIB4_DIRECT),
            ebpf.take_map(layout::map::FIB4_RANGES),
        );
        let trie6 = ebpf.take_map(layout::map::FIB6_TRIE);
        let pop4_maps = [
            layout::map::POP4_DIRECT,
            layout::map::POP4_FANS,
            layout::map::POP4_NODES,
            layout::map::POP4_LEAVES,
        ]
        .map(|name| ebpf.take_map(name));
        let mut take = |name: &'static str| ebpf.take_map(name).ok_or(Error::Missing(name));
        let mmapped = |map: Map, name: &'static str, words: usize| match map {
            Map::Array(map) => {
                let words = MappedWords::new(std::os::fd::AsFd::as_fd(map.fd()), words)
                    .map_err(|source| Error::Mmap { map: name, source })?;
                Ok::<_, Error>(MappedArray {
                    words: Arc::new(words),
                    _map: map,
                })
            }
            _ => Err(Error::Missing(name)),
        };
        use layout::map as m;
        let fib4_top = mmapped(take(m::FIB4_TOP)?, m::FIB4_TOP, FIB4_TOP_WORDS)?;
        let fib4_tbl8 = mmapped(take(m::FIB4_TBL8)?, m::FIB4_TBL8, FIB4_TBL8_WORDS)?;
        let codes = Array::try_from(take(m::FIB4_CODES)?).map_err(map_err(m::FIB4_CODES))?;
        let fib4_codes = Arc::new(Mutex::new(Codes::of_map(codes)));
        let fib4_direct = (dxr_maps.0)
            .map(|map| mmapped(map, m::FIB4_DIRECT, layout::DXR_DIRECT_ENTRIES))
            .transpose()?;
        let fib4_ranges = (dxr_maps.1)
            .map(|map| mmapped(map, m::FIB4_RANGES, layout::DXR_RANGE_WORDS))
            .transpose()?;
        let pop4 = crate::pop4::Pop4Maps::take(pop4_maps, mmapped)?;
        let fib6 = Fib6::new(
            mmapped(
                take(m::FIB6_DIRECT)?,
                m::FIB6_DIRECT,
                layout::FIB6_DIRECT_WORDS,
            )?,
            mmapped(take(m::FIB6_FANS)?, m::FIB6_FANS, layout::FIB6_FAN_WORDS)?,
            take(m::FIB6_NODES)?,
            take(m::FIB6_LEAVES)?,
            trie6,
        )?;
        let nh_groups = Array::try_from(take(m::NH_GROUPS)?).map_err(map_err(m::NH_GROUPS))?;
        let nexthops = Array::try_from(take(m::NEXTHOPS)?).map_err(map_err(m::NEXTHOPS))?;
        let tx_ports = DevMapHash::try_from(take(m::TX_PORTS)?).map_err(map_err(m::TX_PORTS))?;
        let own4 = HashMap::try_from(take(m::OWN4)?).map_err(map_err(m::OWN4))?;
        let own6 = HashMap::try_from(take(m::OWN6)?).map_err(map_err(m::OWN6))?;
        let nh_stats = PerCpuArray::try_from(take(m::NH_STATS)?).map_err(map_err(m::NH_STATS))?;
        let verdicts = PerCpuArray::try_from(take(m::VERDICTS)?).map_err(map_err(m::VERDICTS))?;
        let ifaces = HashMap::try_from(take(m::IFACES)?).map_err(map_err(m::IFACES))?;
        let martian4 = LpmTrie::try_from(take(m::MARTIAN4)?).map_err(map_err(m::MARTIAN4))?;
        let martian6 = LpmTrie::try_from(take(m::MARTIAN6)?).map_err(map_err(m::MARTIAN6))?;
        let src4 = LpmTrie::try_from(take(m::SRC4)?).map_err(map_err(m::SRC4))?;
        let src6 = LpmTrie::try_from(take(m::SRC6)?).map_err(map_err(m::SRC6))?;
        let settings = Array::try_from(take(m::SETTINGS)?).map_err(map_err(m::SETTINGS))?;
        Ok(Self {
            fib4_top,
            fib4_tbl8,
            fib4_codes,
            fib4_direct,
            fib4_ranges,
            pop4,
            fib6,
            nh_groups,
            nexthops,
            tx_ports,
            own4,
            own6,
            nh_stats,
            verdicts,
            ifaces,
            martian4,
            martian6,
            src4,
            src6,
            settings,
            ebpf,
        })
    }

    /// The loaded (not attached) program.
    pub fn program(&self) -> Result<&Xdp, Error> {
        Ok(self
            .ebpf
            .program(layout::PROGRAM)
            .ok_or(Error::Missing("program sluice_xdp"))?
            .try_into()?)
    }

    /// The loaded (not attached) program, for attaching.
    pub fn program_mut(&mut self) -> Result<&mut Xdp, Error> {
        Ok(self
            .ebpf
            .program_mut(layout::PROGRAM)
            .ok_or(Error::Missing("program sluice_xdp"))?
            .try_into()?)
    }

    /// Runs the program once on `frame` with `BPF_PROG_TEST_RUN`. The
    /// kernel takes frames of 14 bytes (an Ethernet header) or more.
    /// The frame arrives on the loopback device of the calling thread's
    /// network namespace (ifindex 1).
    pub fn test_run(&self, frame: &[u8]) -> Result<TestOutcome, Error> {
        self.test_run_inner(frame, None)
    }

    /// [`Self::test_run`] with the frame arriving on `ifindex`, an
    /// interface of the calling thread's network namespace (`ctx_in`'s
    /// `ingress_ifindex`; `bpf_fib_lookup` then uses that interface and
    /// namespace).
    pub fn test_run_from(&self, frame: &[u8], ifindex: u32) -> Result<TestOutcome, Error> {
        self.test_run_inner(frame, Some(ifindex))
    }

    fn test_run_inner(&self, frame: &[u8], ifindex: Option<u32>) -> Result<TestOutcome, Error> {
        let mut out = vec![0u8; frame.len() + 256];
        // struct xdp_md: data, data_end, data_meta, ingress_ifindex,
        // rx_queue_index, egress_ifindex; data_end must be the frame length.
        let ctx: Vec<u8> = ifindex
            .map(|i| [0, frame.len() as u32, 0, i, 0, 0])
            .into_iter()
            .flatten()
            .flat_map(u32::to_ne_bytes)
            .collect();
        let result = self.program()?.test_run(TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            ctx_in: ifindex.map(|_| ctx.as_slice()),
            ..TestRunOptions::new()
        })?;
        out.truncate(result.data_size_out as usize);
        let action = XdpAction::from_u32(result.return_value).ok_or(Error::OutOfRange {
            what: "XDP action",
            value: result.return_value.into(),
            allowed: "0..5".into(),
        })?;
        Ok(TestOutcome { action, frame: out })
    }

    // ---- next hops and groups -----------------------------------------------

    /// Writes next hop `id` (1..65536). Its egress ifindex must also be in
    /// `tx_ports` ([`Self::add_tx_port`]) for packets to be forwarded.
    pub fn set_next_hop(&mut self, id: u16, nh: &NextHop) -> Result<(), Error> {
        check_range("next-hop id", id.into(), 1, NEXTHOPS_MAX.into())?;
        self.nexthops
            .set(u32::from(id), nh.to_bytes(), 0)
            .map_err(map_err(layout::map::NEXTHOPS))
    }

    /// Reads next hop `id`.
    pub fn next_hop(&self, id: u16) -> Result<NextHop, Error> {
        let b = self
            .nexthops
            .get(&u32::from(id), 0)
            .map_err(map_err(layout::map::NEXTHOPS))?;
        Ok(NextHop::from_bytes(&b))
    }

    /// Writes the buckets of group `id` (1..=32766; [`GROUP_DISCARD`] has
    /// no buckets).
    pub fn set_group(&mut self, id: u16, group: &NhGroup) -> Result<(), Error> {
        check_range("next-hop group id", id.into(), 1, GROUP_DISCARD.into())?;
        self.nh_groups
            .set(u32::from(id), group.to_bytes(), 0)
            .map_err(map_err(layout::map::NH_GROUPS))
    }

    /// Reads the buckets of group `id` (for a resilient update).
    pub fn group(&self, id: u16) -> Result<NhGroup, Error> {
        let buckets = self
            .nh_groups
            .get(&u32::from(id), 0)
            .map_err(map_err(layout::map::NH_GROUPS))?;
        Ok(NhGroup { buckets })
    }

    // ---- egress ports ------------------------------------------------------------

    /// Lets the program redirect to `ifindex` (any ifindex of an
    /// interface in the caller's network namespace; not a VLAN device).
    pub fn add_tx_port(&mut self, ifindex: u32) -> Result<(), Error> {
        check_range("egress ifindex", ifindex.into(), 1, u64::from(u32::MAX) + 1)?;
        self.tx_ports.insert(ifindex, ifindex, None, 0)?;
        Ok(())
    }

    /// Stops redirects to `ifindex`; next hops on it are punted.
    pub fn remove_tx_port(&mut self, ifindex: u32) -> Result<(), Error> {
        absent_ok(layout::map::TX_PORTS, self.tx_ports.remove(ifindex))
    }

    // ---- own addresses ---------------------------------------------------------------

    /// Adds one of the router's addresses: packets to it go to the kernel.
    pub fn add_own_address(&mut self, addr: IpAddr) -> Result<(), Error> {
        match addr {
            IpAddr::V4(a) => self
                .own4
                .insert(u32::from_ne_bytes(a.octets()), 1, 0)
                .map_err(map_err(layout::map::OWN4)),
            IpAddr::V6(a) => self
                .own6
                .insert(a.octets(), 1, 0)
                .map_err(map_err(layout::map::OWN6)),
        }
    }

    /// Removes one of the router's addresses (absent is not an error).
    pub fn remove_own_address(&mut self, addr: IpAddr) -> Result<(), Error> {
        let (map, r) = match addr {
            IpAddr::V4(a) => (
                layout::map::OWN4,
                self.own4.remove(&u32::from_ne_bytes(a.octets())),
            ),
            IpAddr::V6(a) => (layout::map::OWN6, self.own6.remove(&a.octets())),
        };
        absent_ok(map, r)
    }

    // ---- IPv4 FIB (DIR-24-8) -----------------------------------------------------------

    fn write_words(
        map: &'static str,
        mapped: &MappedWords,
        first: usize,
        words: &[u64],
    ) -> Result<usize, Error> {
        let target = mapped.words();
        let end = first
            .checked_add(words.len())
            .filter(|&e| e <= target.len());
        let Some(end) = end else {
            return Err(Error::OutOfRange {
                what: map,
                value: (first + words.len()) as u64,
                allowed: format!("words 0..{}", target.len()),
            });
        };
        let mut changed = 0;
        for (slot, &word) in target[first..end].iter().zip(words) {
            if slot.load(Ordering::Relaxed) != word {
                slot.store(word, Ordering::Release);
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// A DIR-24-8 builder whose words are this data plane's `fib4_top` and
    /// `fib4_tbl8`: its `take_dirty` writes its changes into them, and the
    /// daemon keeps no copy of the arrays. `fresh` when the maps hold
    /// another builder's FIB (adopted pins): that one forwards until the
    /// new builder's first `take_dirty` rewrites them whole.
    pub fn live_fib4(&self, fresh: bool) -> Dir24 {
        Dir24::live(
            Arc::clone(&self.fib4_top.words),
            Arc::clone(&self.fib4_tbl8.words),
            Arc::clone(&self.fib4_codes),
            fresh,
        )
    }

    /// Writes `words` into `fib4_top` from word `first` on (word i holds
    /// the entries of /24s 4i..4i+3), and their codes; returns how many
    /// changed. Point no entry at a tbl8 group before that group is
    /// written.
    pub fn write_fib4_top(&mut self, first: usize, words: &[u64]) -> Result<usize, Error> {
        let changed = self.write_top(first, words)?;
        self.codes().end_batch();
        Ok(changed)
    }

    /// [`Self::write_fib4_top`] within a batch: every word's codes are
    /// written after it, whether the word changed or not (the codes of
    /// maps of unknown content are made to agree too).
    fn write_top(&self, first: usize, words: &[u64]) -> Result<usize, Error> {
        let changed = Self::write_words(layout::map::FIB4_TOP, &self.fib4_top.words, first, words)?;
        self.codes().store_all(first, words);
        Ok(changed)
    }

    /// `fib4_codes` words that could not be written so far (their entries
    /// read stale codes).
    pub fn fib4_code_failures(&self) -> u64 {
        self.codes().failures()
    }

    fn codes(&self) -> MutexGuard<'_, Codes> {
        self.fib4_codes.lock().expect("fib4 codes lock")
    }

    /// Writes `words` into `fib4_tbl8` from word `first` on (group g holds
    /// words 64g..64g+63); returns how many changed.
    pub fn write_fib4_tbl8(&mut self, first: usize, words: &[u64]) -> Result<usize, Error> {
        Self::write_words(layout::map::FIB4_TBL8, &self.fib4_tbl8.words, first, words)
    }

    /// Makes the kernel's IPv4 FIB equal to the given arrays (e.g. a
    /// [`Dir24`]'s `top_words()` / `tbl8_words()`, when adopting maps of
    /// unknown content), comparing every word and writing only those that
    /// differ: tbl8 first, then the top level, so an entry never points at
    /// a group not yet written. A tbl8 group that the new arrays use for
    /// another /24 than the live ones is briefly seen with its new content by
    /// the old /24. `tbl8` may be shorter than the map (the rest is left
    /// alone). For incremental updates use [`Self::write_fib4_dirty`].
    pub fn sync_fib4(&mut self, top: &[u64], tbl8: &[u64]) -> Result<Fib4Sync, Error> {
        if top.len() != FIB4_TOP_WORDS {
            return Err(Error::OutOfRange {
                what: "fib4_top length",
                value: top.len() as u64,
                allowed: format!("exactly {FIB4_TOP_WORDS}"),
            });
        }
        let tbl8_words = self.write_fib4_tbl8(0, tbl8)?;
        let top_words = self.write_fib4_top(0, top)?;
        Ok(Fib4Sync {
            top_words,
            tbl8_words,
        })
    }

    /// Writes the words `dirty` names (from [`Dir24::take_dirty`]) from
    /// `fib`: the tbl8 ranges first, then the top ranges, as the builder's
    /// update protocol requires. Call `take_dirty` again only after this
    /// returned. Returns how many words actually changed.
    pub fn write_fib4_dirty(&mut self, fib: &Dir24, dirty: &Dirty) -> Result<Fib4Sync, Error> {
        let mut sync = Fib4Sync::default();
        let (top, tbl8) = (fib.top_words(), fib.tbl8_words());
        for r in &dirty.tbl8 {
            let (start, end) = (r.start as usize, r.end as usize);
            sync.tbl8_words += self.write_fib4_tbl8(start, &tbl8[start..end])?;
        }
        for r in &dirty.top {
            let (start, end) = (r.start as usize, r.end as usize);
            sync.top_words += self.write_top(start, &top[start..end])?;
        }
        self.codes().end_batch();
        Ok(sync)
    }

    /// Writes a whole DXR FIB (for [`FibMode::Dxr`]): the ranges first,
    /// then the direct table, every word whose value differs.
    pub fn sync_dxr(&mut self, fib: &Dxr) -> Result<usize, Error> {
        let (direct, ranges) = self.dxr_arrays()?;
        let packed = pack_ranges(fib.ranges());
        let mut n = store_changed(ranges, 0, &packed, layout::map::FIB4_RANGES)?;
        n += store_changed(direct, 0, fib.direct(), layout::map::FIB4_DIRECT)?;
        Ok(n)
    }

    /// Whether this is the DXR build.
    pub fn has_dxr(&self) -> bool {
        self.fib4_direct.is_some()
    }

    /// The DXR arrays, or [`Error::Missing`] outside the DXR build.
    fn dxr_arrays(&self) -> Result<(&MappedArray, &MappedArray), Error> {
        match (&self.fib4_direct, &self.fib4_ranges) {
            (Some(d), Some(r)) => Ok((d, r)),
            _ => Err(Error::Missing("DXR maps (load the DXR build)")),
        }
    }

    /// Writes what [`Dxr::take_dirty`] names: the new runs, then the direct
    /// entries that point at them (the builder's update protocol).
    pub fn write_dxr_dirty(&mut self, fib: &Dxr, dirty: &DxrDirty) -> Result<usize, Error> {
        let (direct, ranges) = self.dxr_arrays()?;
        let mut n = 0;
        for &(at, len) in &dirty.runs {
            // Runs start at even indexes (two or more ranges, buddy-aligned).
            let (from, to) = (at as usize, (at + len) as usize);
            let words = pack_ranges(&fib.ranges()[from..to + (to - from) % 2]);
            n += store_changed(ranges, from / 2, &words, layout::map::FIB4_RANGES)?;
        }
        for &c in &dirty.chunks {
            let c = c as usize;
            n += store_changed(direct, c, &fib.direct()[c..=c], layout::map::FIB4_DIRECT)?;
        }
        Ok(n)
    }

    /// The group the program's DXR lookup gives for `addr`, read from the
    /// live arrays.
    pub fn lookup_dxr(&self, addr: Ipv4Addr) -> u16 {
        let Ok((direct, ranges)) = self.dxr_arrays() else {
            return 0;
        };
        let load = |m: &MappedArray, i: usize| {
            m.words
                .words()
                .get(i)
                .map_or(0, |w| w.load(Ordering::Acquire))
        };
        let a = u32::from(addr);
        let d = load(direct, (a >> 14) as usize);
        if d & crate::dxr::DIRECT_FLAG != 0 {
            return d as u16;
        }
        let (base, count) = (d as u32, (d >> 32) as u32 & 0xffff);
        let run: Vec<u32> = (base..base + count)
            .map(|i| (load(ranges, (i / 2) as usize) >> (32 * (i % 2))) as u32)
            .collect();
        crate::dxr::in_run(&run, a & (crate::dxr::CHUNK - 1))
    }

    /// The next-hop group the program would use for `addr` (0: no route),
    /// read from the live arrays.
    pub fn lookup4(&self, addr: Ipv4Addr) -> u16 {
        let a = u32::from(addr);
        let read = |m: &MappedArray, index: usize| {
            let (word, shift) = layout::fib4_position(index);
            m.words
                .words()
                .get(word)
                .map_or(0, |w| (w.load(Ordering::Acquire) >> shift) as u16)
        };
        let index = (a >> 8) as usize;
        let coded = {
            let mut codes = self.codes();
            let (word, shift) = layout::fib4_code_position(index);
            let code = ((codes.word(word) >> shift) & 0xf) as u8;
            (code != layout::FIB4_CODE_TOP).then(|| {
                let (word, shift) = layout::fib4_palette_position(code.into());
                (codes.word(word) >> shift) as u16
            })
        };
        if let Some(v) = coded {
            return v;
        }
        let v = read(&self.fib4_top, index);
        if v & layout::FIB4_TBL8_FLAG == 0 {
            return v;
        }
        let v = read(
            &self.fib4_tbl8,
            usize::from(v & layout::FIB4_VALUE_MASK) * 256 + (a & 0xff) as usize,
        );
        if v & layout::FIB4_TBL8_FLAG == 0 {
            v
        } else {
            0
        }
    }

    /// The live `fib4_top` and `fib4_tbl8` words, through the mappings.
    pub(crate) fn fib4_live_words(
        &self,
    ) -> (
        &[std::sync::atomic::AtomicU64],
        &[std::sync::atomic::AtomicU64],
    ) {
        (self.fib4_top.words.words(), self.fib4_tbl8.words.words())
    }

    /// `fib4_codes`, palette included, as the program reads it.
    pub fn fib4_codes_words(&self) -> Vec<u64> {
        let mut codes = self.codes();
        (0..crate::dir24::CODE_WORDS)
            .map(|w| codes.word(w))
            .collect()
    }

    /// Reads `fib4_top` word `index` through the mapping.
    pub fn fib4_top_word(&self, index: usize) -> Option<u64> {
        self.fib4_top
            .words
            .words()
            .get(index)
            .map(|w| w.load(Ordering::Acquire))
    }

    // ---- counters ------------------------------------------------------------------

    /// Every verdict counter, summed over CPUs, in [`Verdict::ALL`] order.
    pub fn verdict_counts(&self) -> Result<Vec<(Verdict, u64)>, Error> {
        Verdict::ALL
            .iter()
            .map(|&v| Ok((v, self.verdict_count(v)?)))
            .collect()
    }

    /// One verdict counter, summed over CPUs.
    pub fn verdict_count(&self, verdict: Verdict) -> Result<u64, Error> {
        let values = self
            .verdicts
            .get(&(verdict as u32), 0)
            .map_err(map_err(layout::map::VERDICTS))?;
        Ok(values.iter().sum())
    }

    /// Next hop `id`'s forwarding counters, summed over CPUs.
    pub fn nh_stats(&self, id: u16) -> Result<NhStats, Error> {
        let values = self
            .nh_stats
            .get(&u32::from(id), 0)
            .map_err(map_err(layout::map::NH_STATS))?;
        Ok(values.iter().fold(NhStats::default(), |acc, w| {
            let s = NhStats::from_words(*w);
            NhStats {
                packets: acc.packets + s.packets,
                bytes: acc.bytes + s.bytes,
            }
        }))
    }

    /// Zeroes next hop `id`'s counters, so an id reused for another next
    /// hop does not inherit them.
    pub fn reset_nh_stats(&mut self, id: u16) -> Result<(), Error> {
        let cpus = self
            .nh_stats
            .get(&u32::from(id), 0)
            .map_err(map_err(layout::map::NH_STATS))?
            .len();
        let zeros =
            aya::maps::PerCpuValues::try_from(vec![[0u64; 2]; cpus]).map_err(|e| Error::Map {
                map: layout::map::NH_STATS,
                source: MapError::IoError(e),
            })?;
        self.nh_stats
            .set(u32::from(id), zeros, 0)
            .map_err(map_err(layout::map::NH_STATS))
    }
}

pub(crate) mod mmap {
    //! Shared mappings of `BPF_F_MMAPABLE` array maps (aya 0.14 has no mmap
    //! API): mmap(2) on the map's fd, seen as a slice of `AtomicU64` so user
    //! space and the XDP program may read and write words concurrently. The
    //! only module of the crate with `unsafe` code.
    #![allow(unsafe_code)]

    use std::io;
    use std::os::fd::{AsRawFd, BorrowedFd};
    use std::ptr::{self, NonNull};
    use std::sync::atomic::AtomicU64;

    /// A read-write shared mapping of an array map of u64 values, or of a
    /// window of one.
    #[derive(Debug)]
    pub(crate) struct MappedWords {
        /// The mapping, page aligned.
        base: NonNull<libc::c_void>,
        bytes: usize,
        /// The first word asked for, inside the mapping.
        ptr: NonNull<AtomicU64>,
        len: usize,
    }

    // SAFETY: the mapping is plain shared memory owned by this value; every
    // access goes through `AtomicU64`, which is Sync, so moving the owner to
    // another thread is sound.
    unsafe impl Send for MappedWords {}
    // SAFETY: as above: `&MappedWords` only hands out `&[AtomicU64]`.
    unsafe impl Sync for MappedWords {}

    /// u64 words per page.
    const PAGE_WORDS: usize = 4096 / size_of::<u64>();

    impl MappedWords {
        /// Maps the first `len` u64 elements of the array map behind `fd`,
        /// which must be an `ARRAY` map with 8-byte values, `BPF_F_MMAPABLE`
        /// and at least `len` entries (the kernel refuses the mapping
        /// otherwise).
        pub(crate) fn new(fd: BorrowedFd<'_>, len: usize) -> io::Result<Self> {
            Self::window(fd, 0, len)
        }

        /// Maps words `first..first + len` of such a map (of any value
        /// size: its values are contiguous, 8-byte aligned), from the page
        /// that holds `first` to the one that holds the last. Every page of
        /// a mapping counts in the RSS while it lasts.
        pub(crate) fn window(fd: BorrowedFd<'_>, first: usize, len: usize) -> io::Result<Self> {
            let invalid = || io::Error::from(io::ErrorKind::InvalidInput);
            let end = first
                .checked_add(len)
                .filter(|_| len > 0)
                .ok_or_else(invalid)?;
            let page = first / PAGE_WORDS;
            let bytes = (end.div_ceil(PAGE_WORDS) - page)
                .checked_mul(4096)
                .ok_or_else(invalid)?;
            let offset = libc::off_t::try_from(page * 4096).map_err(|_| invalid())?;
            // SAFETY: a fresh mapping placed by the kernel (addr null), so no
            // existing memory is affected; fd is open for the duration of the
            // call; the result is checked for MAP_FAILED before use.
            let addr = unsafe {
                libc::mmap(
                    ptr::null_mut(),
                    bytes,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    fd.as_raw_fd(),
                    offset,
                )
            };
            if addr == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            let base = NonNull::new(addr)
                .ok_or_else(|| io::Error::other("mmap returned a null pointer"))?;
            // SAFETY: `first - page * PAGE_WORDS` words into a mapping that
            // covers them (it ends at or after word `end`).
            let ptr = unsafe { base.cast::<AtomicU64>().add(first - page * PAGE_WORDS) };
            Ok(Self {
                base,
                bytes,
                ptr,
                len,
            })
        }

        /// `len` words of shared anonymous memory, standing in for a map
        /// in unit tests and benchmarks.
        pub(crate) fn anonymous(len: usize) -> Self {
            let bytes = len.div_ceil(PAGE_WORDS) * 4096;
            // SAFETY: a fresh anonymous mapping placed by the kernel; the
            // result is checked for MAP_FAILED before use.
            let addr = unsafe {
                libc::mmap(
                    ptr::null_mut(),
                    bytes,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            assert_ne!(addr, libc::MAP_FAILED, "{}", io::Error::last_os_error());
            let base = NonNull::new(addr).expect("a mapping");
            Self {
                base,
                bytes,
                ptr: base.cast(),
                len,
            }
        }

        /// The mapped words.
        pub(crate) fn words(&self) -> &[AtomicU64] {
            // SAFETY: `ptr` starts `len` words inside a live mapping
            // (unmapped only in Drop, which takes `&mut self`); it is 8-byte
            // aligned (page aligned plus whole words), so aligned for
            // AtomicU64, which has u64's size; the kernel zero-fills array
            // maps, so every word is initialised; the other parties (the BPF
            // program, bpf(2) updates) access the words as whole aligned
            // u64s, which atomics tolerate.
            unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
        }
    }

    impl Drop for MappedWords {
        fn drop(&mut self) {
            // SAFETY: unmaps exactly the mapping made in `window`; no slice
            // from `words()` outlives the `&self` it came from, so none is
            // left.
            unsafe {
                libc::munmap(self.base.as_ptr(), self.bytes);
            }
        }
    }
}

/// Two ranges per u64 element, the lower index in the low half.
fn pack_ranges(ranges: &[u32]) -> Vec<u64> {
    ranges
        .chunks(2)
        .map(|p| u64::from(p[0]) | u64::from(*p.get(1).unwrap_or(&0)) << 32)
        .collect()
}

/// Stores `words` at `at..` of a mapped array where they differ; returns
/// how many did.
pub(crate) fn store_changed(
    array: &MappedArray,
    at: usize,
    words: &[u64],
    map: &'static str,
) -> Result<usize, Error> {
    let live = array
        .words
        .words()
        .get(at..at + words.len())
        .ok_or(Error::OutOfRange {
            what: map,
            value: (at + words.len()) as u64,
            allowed: format!("up to {}", array.words.words().len()),
        })?;
    let mut n = 0;
    for (w, &v) in live.iter().zip(words) {
        if w.load(Ordering::Relaxed) != v {
            w.store(v, Ordering::Release);
            n += 1;
        }
    }
    Ok(n)
}
