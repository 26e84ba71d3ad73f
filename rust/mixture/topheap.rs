//! An indexed max-heap over a fixed set of ids whose keys change in place, read in descending
//! order without being popped: the separation pass's pairs ([`super::separate`]).
//!
//! Idea: the pass asks, at every step, for its pairs in descending order of priority while they
//! exceed a cutoff, and changes the priorities of a few dozen pairs between two steps. A lazy
//! heap answers with pops and re-pushes on a heap of stale entries; here every id has exactly
//! one node, a key change moves it (sift up or down, a position table follows it), and the
//! largest entries are read by a best-first walk of the tree from the root: a small frontier
//! heap holds the children of the nodes read so far, so reading the k largest costs
//! O(k log k) and touches only them and their children, the tree itself stays as it is.
//!
//! Cost: building O(n); a key change O(log n) (usually a level or two); the k largest
//! O(k log k). Memory: 16 + 4 bytes per id.
//!
//! Invariants: `nodes` is a max-heap in the order of [`Node`] (key, then id: every node is
//! greater than its children); `pos[id]` is the index of id's node. Key 0 means "absent":
//! such ids are never read (0 is the smallest key, so their subtrees hold only absent ids).

use std::collections::BinaryHeap;

/// A heap node; the derived order is the key, then the id (so ties between equal keys go to
/// the larger id, and no two nodes are equal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Node {
    key: u64,
    id: u32,
}

/// Indexed max-heap over the ids `0..n` (see the module docs).
pub(crate) struct TopHeap {
    nodes: Vec<Node>,
    pos: Vec<u32>,
}

/// The frontier of a descending read: a node and its index in the heap. Kept by the caller
/// across reads so that its buffer is reused.
pub(crate) type Frontier = BinaryHeap<(Node, u32)>;

impl TopHeap {
    /// The heap of ids `0..keys.len()` with these keys (0: absent).
    pub(crate) fn new(keys: impl IntoIterator<Item = u64>) -> Self {
        let nodes: Vec<Node> = keys
            .into_iter()
            .enumerate()
            .map(|(id, key)| Node { key, id: id as u32 })
            .collect();
        let pos = (0..nodes.len() as u32).collect();
        let mut heap = TopHeap { nodes, pos };
        for i in (0..heap.nodes.len() / 2).rev() {
            heap.sift_down(i);
        }
        heap
    }

    /// Give `id` the key `key` (0: absent).
    #[inline]
    pub(crate) fn set(&mut self, id: u32, key: u64) {
        let i = self.pos[id as usize] as usize;
        let old = self.nodes[i].key;
        self.nodes[i].key = key;
        if key > old {
            self.sift_up(i);
        } else if key < old {
            self.sift_down(i);
        }
    }

    /// The key of `id` (0: absent).
    #[cfg(test)]
    pub(crate) fn key(&self, id: u32) -> u64 {
        self.nodes[self.pos[id as usize] as usize].key
    }

    /// The present ids whose key passes `admit`, in descending order of (key, id), as long as
    /// the caller reads. `admit` must be monotone (if it rejects a key it rejects every smaller
    /// key): a rejected node's subtree is never visited.
    pub(crate) fn descending<'a, F: Fn(u64) -> bool>(
        &'a self,
        frontier: &'a mut Frontier,
        admit: F,
    ) -> Descending<'a, F> {
        frontier.clear();
        let mut d = Descending {
            heap: self,
            frontier,
            admit,
        };
        d.offer(0);
        d
    }

    fn sift_up(&mut self, mut i: usize) {
        let node = self.nodes[i];
        while i > 0 {
            let p = (i - 1) / 2;
            let up = self.nodes[p];
            if up > node {
                break;
            }
            self.nodes[i] = up;
            self.pos[up.id as usize] = i as u32;
            i = p;
        }
        self.nodes[i] = node;
        self.pos[node.id as usize] = i as u32;
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.nodes.len();
        let node = self.nodes[i];
        loop {
            let l = 2 * i + 1;
            if l >= n {
                break;
            }
            let r = l + 1;
            let c = if r < n && self.nodes[r] > self.nodes[l] {
                r
            } else {
                l
            };
            let down = self.nodes[c];
            if down < node {
                break;
            }
            self.nodes[i] = down;
            self.pos[down.id as usize] = i as u32;
            i = c;
        }
        self.nodes[i] = node;
        self.pos[node.id as usize] = i as u32;
    }
}

/// A descending read of a [`TopHeap`] (see [`TopHeap::descending`]); yields `(id, key)`.
pub(crate) struct Descending<'a, F> {
    heap: &'a TopHeap,
    frontier: &'a mut Frontier,
    admit: F,
}

impl<F: Fn(u64) -> bool> Descending<'_, F> {
    #[inline]
    fn offer(&mut self, i: usize) {
        if let Some(&node) = self.heap.nodes.get(i) {
            if node.key != 0 && (self.admit)(node.key) {
                self.frontier.push((node, i as u32));
            }
        }
    }
}

impl<F: Fn(u64) -> bool> Iterator for Descending<'_, F> {
    type Item = (u32, u64);

    #[inline]
    fn next(&mut self) -> Option<(u32, u64)> {
        let (node, i) = self.frontier.pop()?;
        let i = i as usize;
        self.offer(2 * i + 1);
        self.offer(2 * i + 2);
        Some((node.id, node.key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every descending read equals sorting the present keys, through random key changes
    /// (many ties, many absent ids), and the position table follows the nodes.
    #[test]
    fn reads_in_sorted_order_through_changes() {
        let mut rng = crate::test_rng(11);
        for n in [0usize, 1, 2, 3, 7, 64, 300] {
            let mut keys: Vec<u64> = (0..n).map(|_| rng(6)).collect();
            let mut heap = TopHeap::new(keys.iter().copied());
            let mut frontier = Frontier::new();
            for round in 0..200 {
                if n > 0 {
                    for _ in 0..1 + rng(4) {
                        let id = rng(n as u64) as usize;
                        keys[id] = rng(6);
                        heap.set(id as u32, keys[id]);
                    }
                }
                for (id, &k) in keys.iter().enumerate() {
                    assert_eq!(heap.key(id as u32), k);
                    assert_eq!(heap.nodes[heap.pos[id] as usize].id, id as u32);
                }
                let limit = round as u64 % 5;
                let mut want: Vec<(u32, u64)> = keys
                    .iter()
                    .enumerate()
                    .filter(|&(_, &k)| k != 0 && k > limit)
                    .map(|(id, &k)| (id as u32, k))
                    .collect();
                want.sort_by(|a, b| (b.1, b.0).cmp(&(a.1, a.0)));
                let got: Vec<(u32, u64)> = heap.descending(&mut frontier, |k| k > limit).collect();
                assert_eq!(got, want, "n {n}, round {round}");
                // a partial read is a prefix
                let part: Vec<(u32, u64)> =
                    heap.descending(&mut frontier, |_| true).take(3).collect();
                let all: Vec<(u32, u64)> = heap.descending(&mut frontier, |_| true).collect();
                assert_eq!(part[..], all[..part.len()]);
            }
        }
    }
}
