//! The measuring build's IPv4 poptrie maps (`pop4_*`, [`FibMode::Pop4`]):
//! written whole from a [`Poptrie4`] and read back, for the bench and the
//! tests that hold it against DIR-24-8.
//!
//! [`FibMode::Pop4`]: crate::layout::FibMode::Pop4

use aya::maps::Map;

use crate::layout::map as m;
use crate::loader::{Dataplane, Error, MappedArray, store_changed};
use crate::poptrie::{self, FAN_ENTRIES, NODE_WORDS};
use crate::poptrie4::{self, CAPACITY, Poptrie4};

/// The four arrays, mapped whole (the bench's process only).
pub(crate) struct Pop4Maps {
    direct: MappedArray,
    fans: MappedArray,
    nodes: MappedArray,
    leaves: MappedArray,
}

impl Pop4Maps {
    /// Takes the maps through `mmapped`; `None` unless all four are there.
    pub(crate) fn take(
        maps: [Option<Map>; 4],
        mmapped: impl Fn(Map, &'static str, usize) -> Result<MappedArray, Error>,
    ) -> Result<Option<Pop4Maps>, Error> {
        let [Some(d), Some(f), Some(n), Some(l)] = maps else {
            return Ok(None);
        };
        Ok(Some(Pop4Maps {
            direct: mmapped(d, m::POP4_DIRECT, poptrie::DIRECT_ENTRIES / 2)?,
            fans: mmapped(f, m::POP4_FANS, CAPACITY.fans as usize * FAN_ENTRIES / 2)?,
            nodes: mmapped(n, m::POP4_NODES, CAPACITY.nodes as usize * NODE_WORDS)?,
            leaves: mmapped(l, m::POP4_LEAVES, CAPACITY.leaves as usize / 4)?,
        }))
    }
}

impl Dataplane {
    fn pop4(&self) -> Result<&Pop4Maps, Error> {
        self.pop4
            .as_ref()
            .ok_or(Error::Missing("pop4 maps (load the DXR build)"))
    }

    /// Whether this build has the IPv4 poptrie maps.
    pub fn has_pop4(&self) -> bool {
        self.pop4.is_some()
    }

    /// Writes a whole IPv4 poptrie (for [`crate::layout::FibMode::Pop4`])
    /// in the update protocol's order: leaves, nodes, fans, direct; returns
    /// the words that changed.
    pub fn sync_pop4(&mut self, fib: &Poptrie4) -> Result<usize, Error> {
        let maps = self.pop4()?;
        let t = fib.trie();
        let mut n = store_changed(
            &maps.leaves,
            0,
            &t.leaf_words()[..t.leaf_words_in_use()],
            m::POP4_LEAVES,
        )?;
        n += store_changed(
            &maps.nodes,
            0,
            &t.node_words()[..t.node_words_in_use()],
            m::POP4_NODES,
        )?;
        n += store_changed(&maps.fans, 0, t.fan_words(), m::POP4_FANS)?;
        n += store_changed(&maps.direct, 0, t.direct_words(), m::POP4_DIRECT)?;
        Ok(n)
    }

    /// The group the program's poptrie lookup gives for `addr`, read from
    /// the live arrays.
    pub fn lookup_pop4(&self, addr: std::net::Ipv4Addr) -> u16 {
        let Ok(maps) = self.pop4() else {
            return 0;
        };
        poptrie::lookup_in(
            maps.direct.words.words(),
            maps.fans.words.words(),
            maps.nodes.words.words(),
            maps.leaves.words.words(),
            poptrie4::key(u32::from(addr)),
        )
    }
}
