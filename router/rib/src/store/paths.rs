//! The paths of one prefix, and the lists of those with more than one.
//!
//! A single path is stored inline in the map's value. Two paths, the
//! common case at a site with two uplinks, are a slot of a slab of pairs,
//! in pages of [`PAIRS_PER_PAGE`]: no allocation of their own, and one
//! read to reach them. A session going down then frees its pairs without
//! a call into the allocator for each (a million `free`s of 16 bytes were
//! a third of flushing a full table), and a second session's table takes
//! no `malloc` per prefix. Three or more paths are a `Vec` of their own.

use super::flat::{Entry, Filler, FlatKey};

use crate::table::Path;

/// The paths of one prefix: never empty. One inline, or the index of a
/// pair or of a list of three or more in [`Lists`].
#[derive(Clone, Copy, Debug)]
pub(super) enum Paths {
    One(Path),
    Two(u32),
    Many(u32),
}

/// What an empty slot of the map holds; never read.
impl Filler for Paths {
    const FILLER: Paths = Paths::Many(u32::MAX);
}

/// Pairs in a page: 64 KiB.
const PAIRS_PER_PAGE: usize = 4096;

type Page = Box<[[Path; 2]; PAIRS_PER_PAGE]>;

/// The pairs and lists of the prefixes with more than one path, reused once
/// freed.
#[derive(Debug, Default)]
pub(super) struct Lists {
    pairs: Vec<Page>,
    /// Pair slots handed out, up to `pairs.len() * PAIRS_PER_PAGE`.
    pairs_used: usize,
    free_pairs: Vec<u32>,
    pub(super) lists: Vec<Vec<Path>>,
    free: Vec<u32>,
}

impl Lists {
    pub(super) fn slice<'a>(&'a self, paths: &'a Paths) -> &'a [Path] {
        match paths {
            Paths::One(p) => std::slice::from_ref(p),
            Paths::Two(i) => self.pair(*i),
            Paths::Many(i) => &self.lists[*i as usize],
        }
    }

    pub(super) fn slice_mut<'a>(&'a mut self, paths: &'a mut Paths) -> &'a mut [Path] {
        match paths {
            Paths::One(p) => std::slice::from_mut(p),
            Paths::Two(i) => self.pair_mut(*i),
            Paths::Many(i) => &mut self.lists[*i as usize],
        }
    }

    fn pair(&self, i: u32) -> &[Path; 2] {
        let i = i as usize;
        &self.pairs[i / PAIRS_PER_PAGE][i % PAIRS_PER_PAGE]
    }

    fn pair_mut(&mut self, i: u32) -> &mut [Path; 2] {
        let i = i as usize;
        &mut self.pairs[i / PAIRS_PER_PAGE][i % PAIRS_PER_PAGE]
    }

    /// Pair slots in use.
    pub(super) fn pairs_live(&self) -> usize {
        self.pairs_used - self.free_pairs.len()
    }

    fn new_pair(&mut self, pair: [Path; 2]) -> u32 {
        let i = match self.free_pairs.pop() {
            Some(i) => i,
            None => {
                if self.pairs_used == self.pairs.len() * PAIRS_PER_PAGE {
                    self.pairs.push(Box::new([pair; PAIRS_PER_PAGE]));
                }
                self.pairs_used += 1;
                u32::try_from(self.pairs_used - 1).expect("fewer pairs than prefixes")
            }
        };
        *self.pair_mut(i) = pair;
        i
    }

    fn free_pair(&mut self, i: u32) {
        self.free_pairs.push(i);
        // The last pair gone (a session's whole table with it): the pages
        // go back too, not kept for a table that may never come again;
        // all but the first, so that one prefix going between one path
        // and two does not allocate a page each time.
        if self.pairs_live() == 0 {
            self.pairs.truncate(1);
            self.pairs.shrink_to_fit();
            self.pairs_used = 0;
            self.free_pairs = Vec::new();
        }
    }

    fn new_list(&mut self, list: Vec<Path>) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.lists[i as usize] = list;
                i
            }
            None => {
                self.lists.push(list);
                u32::try_from(self.lists.len() - 1).expect("fewer lists than prefixes")
            }
        }
    }

    fn push(&mut self, paths: &mut Paths, path: Path) {
        match *paths {
            Paths::One(first) => *paths = Paths::Two(self.new_pair([first, path])),
            Paths::Two(i) => {
                let [a, b] = *self.pair(i);
                self.free_pair(i);
                *paths = Paths::Many(self.new_list(vec![a, b, path]));
            }
            Paths::Many(i) => self.lists[i as usize].push(path),
        }
    }

    /// Puts `path` into `entry`'s paths, in place of the same peer's
    /// (returned second); first, whether the prefix is new.
    pub(super) fn upsert<K: FlatKey>(
        &mut self,
        entry: Entry<'_, K, Paths>,
        path: Path,
    ) -> (bool, Option<Path>) {
        let mut entry = match entry {
            Entry::Vacant(v) => {
                v.insert(Paths::One(path));
                return (true, None);
            }
            Entry::Occupied(o) => o,
        };
        let paths = entry.get_mut();
        let same = |p: &&mut Path| p.peer == path.peer;
        if let Some(old) = self.slice_mut(paths).iter_mut().find(same) {
            return (false, Some(std::mem::replace(old, path)));
        }
        self.push(paths, path);
        (false, None)
    }

    /// [`Self::remove_where`] on `entry`'s paths, removing the entry once
    /// none is left; true if it went.
    pub(super) fn remove_at<K: FlatKey>(
        &mut self,
        entry: Entry<'_, K, Paths>,
        drop: impl FnMut(&Path) -> bool,
        removed: &mut Vec<Path>,
    ) -> bool {
        let Entry::Occupied(mut entry) = entry else {
            return false;
        };
        if self.remove_where(entry.get_mut(), drop, removed) {
            return false;
        }
        entry.remove();
        true
    }

    /// Removes the paths `drop` selects into `removed`; false if the prefix
    /// has no path left.
    pub(super) fn remove_where(
        &mut self,
        paths: &mut Paths,
        mut drop: impl FnMut(&Path) -> bool,
        removed: &mut Vec<Path>,
    ) -> bool {
        match *paths {
            Paths::One(p) if drop(&p) => {
                removed.push(p);
                false
            }
            Paths::One(_) => true,
            Paths::Two(i) => {
                let [a, b] = *self.pair(i);
                let (drop_a, drop_b) = (drop(&a), drop(&b));
                if !drop_a && !drop_b {
                    return true;
                }
                self.free_pair(i);
                match (drop_a, drop_b) {
                    (true, true) => {
                        removed.extend([a, b]);
                        false
                    }
                    (true, false) => {
                        removed.push(a);
                        *paths = Paths::One(b);
                        true
                    }
                    _ => {
                        removed.push(b);
                        *paths = Paths::One(a);
                        true
                    }
                }
            }
            Paths::Many(i) => {
                let list = &mut self.lists[i as usize];
                list.retain(|p| {
                    let d = drop(p);
                    if d {
                        removed.push(*p);
                    }
                    !d
                });
                if list.len() > 2 {
                    return true;
                }
                let left = std::mem::take(list);
                self.free.push(i);
                match left[..] {
                    [a, b] => {
                        *paths = Paths::Two(self.new_pair([a, b]));
                        true
                    }
                    [a] => {
                        *paths = Paths::One(a);
                        true
                    }
                    _ => false,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::AttrId;
    use crate::table::PeerId;

    fn path(peer: u16) -> Path {
        Path {
            peer: PeerId(peer),
            attrs: AttrId(u32::from(peer)),
            stale: false,
        }
    }

    /// Every way between one, two and three paths keeps the paths and
    /// their order, and frees what it leaves.
    #[test]
    fn pairs_and_lists_grow_and_shrink() {
        let mut lists = Lists::default();
        let mut paths = Paths::One(path(1));
        lists.push(&mut paths, path(2));
        assert!(matches!(paths, Paths::Two(_)));
        assert_eq!(lists.slice(&paths), [path(1), path(2)]);
        lists.push(&mut paths, path(3));
        assert!(matches!(paths, Paths::Many(_)));
        assert_eq!(lists.pairs_live(), 0);
        assert_eq!(lists.slice(&paths), [path(1), path(2), path(3)]);
        let mut removed = Vec::new();
        assert!(lists.remove_where(&mut paths, |p| p.peer == PeerId(2), &mut removed));
        assert!(matches!(paths, Paths::Two(_)), "{paths:?}");
        assert_eq!(lists.slice(&paths), [path(1), path(3)]);
        assert_eq!(lists.free, [0]);
        assert!(lists.remove_where(&mut paths, |p| p.peer == PeerId(1), &mut removed));
        assert!(matches!(paths, Paths::One(p) if p == path(3)));
        assert_eq!(removed, [path(2), path(1)]);
        // The last pair gone, its slots are all free again; one page stays.
        assert_eq!((lists.pairs.len(), lists.pairs_used), (1, 0));
        assert!(lists.free_pairs.is_empty());
        lists.push(&mut paths, path(4));
        assert!(!lists.remove_where(&mut paths, |_| true, &mut removed));
        assert_eq!(removed[2..], [path(3), path(4)]);
    }

    /// Freed pairs are reused before the slab grows, across pages.
    #[test]
    fn pairs_are_reused() {
        let mut lists = Lists::default();
        let mut all: Vec<Paths> = (0..PAIRS_PER_PAGE + 3)
            .map(|_| {
                let mut p = Paths::One(path(1));
                lists.push(&mut p, path(2));
                p
            })
            .collect();
        assert_eq!(lists.pairs.len(), 2);
        let mut removed = Vec::new();
        lists.remove_where(&mut all[5], |p| p.peer == PeerId(2), &mut removed);
        let mut again = Paths::One(path(7));
        lists.push(&mut again, path(8));
        assert!(matches!(again, Paths::Two(5)));
        assert_eq!(lists.slice(&all[PAIRS_PER_PAGE + 2]), [path(1), path(2)]);
        assert_eq!(lists.pairs_live(), PAIRS_PER_PAGE + 3);
        // Every pair gone: the pages but the first go back.
        for p in all.iter_mut().chain([&mut again]) {
            lists.remove_where(
                p,
                |p| p.peer == PeerId(2) || p.peer == PeerId(8),
                &mut removed,
            );
        }
        assert_eq!(lists.pairs_live(), 0);
        assert_eq!(lists.pairs.len(), 1);
    }
}
