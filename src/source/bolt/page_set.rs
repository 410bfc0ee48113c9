//! A set of page ids, one bit per page: what a walk has reached, what a
//! freelist lists.
//!
//! Walks check every pointer against the pages already reached, which is how
//! cycles, shared subtrees and overlapping overflow pages are found. The set
//! is bounded by the number of pages in the file, so a damaged id cannot make
//! it grow.

/// A set of page ids below a limit, one bit per page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageSet {
    words: Vec<u64>,
    limit: u64,
}

impl PageSet {
    /// An empty set for ids `< limit`. The caller bounds `limit` by the
    /// number of pages in the file, so the allocation is file size / 32768.
    pub fn new(limit: u64) -> Self {
        let words = usize::try_from(limit.div_ceil(64)).unwrap_or(0);
        Self {
            words: vec![0; words],
            limit: if words == 0 { 0 } else { limit },
        }
    }

    /// Ids must be below this to be stored.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    fn slot(&self, id: u64) -> Option<(usize, u64)> {
        if id >= self.limit {
            return None;
        }
        let word = usize::try_from(id / 64).ok()?;
        Some((word, 1u64 << (id % 64)))
    }

    /// Whether `id` is in the set (always false for ids at or past the limit).
    pub fn contains(&self, id: u64) -> bool {
        self.slot(id)
            .and_then(|(w, bit)| self.words.get(w).map(|word| word & bit != 0))
            .unwrap_or(false)
    }

    /// Insert `id`; `true` if it was not there before. Ids at or past the
    /// limit are not stored and return `false`.
    pub fn insert(&mut self, id: u64) -> bool {
        let Some((w, bit)) = self.slot(id) else {
            return false;
        };
        match self.words.get_mut(w) {
            Some(word) if *word & bit == 0 => {
                *word |= bit;
                true
            }
            _ => false,
        }
    }

    /// Number of ids in the set.
    pub fn len(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_set_bounds() {
        let mut set = PageSet::new(130);
        assert!(set.insert(0));
        assert!(!set.insert(0));
        assert!(set.insert(129));
        assert!(!set.insert(130));
        assert!(!set.contains(130));
        assert!(!set.contains(u64::MAX));
        assert!(set.contains(129));
        assert_eq!(set.len(), 2);
        let empty = PageSet::new(0);
        assert!(empty.is_empty());
        assert!(!empty.contains(0));
    }
}
