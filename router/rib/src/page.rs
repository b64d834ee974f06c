//! Pages of tables kept in hash maps: the `limit` smallest keys after a
//! cursor, found in one pass that holds at most `limit + 1` of them. A
//! million-prefix table is walked once per page, never copied or sorted
//! whole to show a part of it.

use std::collections::BinaryHeap;

/// One page of keys, in order.
#[derive(Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Keys follow the last item.
    pub more: bool,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            more: self.more,
        }
    }
}

impl<T: ToString> Page<T> {
    /// The cursor of the next page, if there is one.
    pub fn next(&self) -> Option<String> {
        self.items
            .last()
            .filter(|_| self.more)
            .map(ToString::to_string)
    }
}

/// The first `limit` of `keys` (in any order, each once) that sort after
/// `after`. With `limit` 0, `more` says whether any key follows.
pub fn smallest_after<T: Ord + Copy>(
    keys: impl IntoIterator<Item = T>,
    after: Option<T>,
    limit: usize,
) -> Page<T> {
    // A max-heap of the smallest limit + 1 seen: the extra one says
    // whether more follow.
    let mut heap = BinaryHeap::with_capacity(limit.saturating_add(1).min(1 << 16));
    for k in keys {
        if after.is_some_and(|a| k <= a) {
            continue;
        }
        if heap.len() <= limit {
            heap.push(k);
        } else if let Some(mut top) = heap.peek_mut()
            && k < *top
        {
            *top = k;
        }
    }
    let mut items = heap.into_sorted_vec();
    let more = items.len() > limit;
    items.truncate(limit);
    Page { items, more }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_every_key_once_in_order() {
        // Scrambled, as a hash map yields them.
        let keys: Vec<u32> = (0..1000u32).map(|i| (i * 7919) % 1000).collect();
        let mut seen: Vec<u32> = Vec::new();
        let mut after = None;
        loop {
            let p = smallest_after(keys.iter().copied(), after, 64);
            assert!(p.items.len() <= 64);
            seen.extend(&p.items);
            if !p.more {
                break;
            }
            after = p.items.last().copied();
        }
        assert_eq!(seen, (0..1000).collect::<Vec<u32>>());
    }

    #[test]
    fn more_is_exact_at_the_boundary() {
        let p = smallest_after(0..10u32, None, 10);
        assert_eq!((p.items.len(), p.more), (10, false));
        assert_eq!(p.next(), None);
        let p = smallest_after(0..11u32, None, 10);
        assert_eq!((p.items.len(), p.more), (10, true));
        assert_eq!(p.next().as_deref(), Some("9"));
        let p = smallest_after(0..11u32, Some(9), 10);
        assert_eq!((p.items, p.more), (vec![10], false));
        let p = smallest_after(0..11u32, Some(5), 0);
        assert_eq!((p.items, p.more), (vec![], true));
        let p = smallest_after(0..11u32, Some(10), 0);
        assert_eq!((p.items, p.more), (vec![], false));
    }
}
