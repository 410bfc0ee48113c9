//! The keys at the head, sampled ([`KeySample`]), and the prefix cut into
//! disjoint key ranges with it, one watcher each for the history read
//! (see [`history`](super::history)); and the end of a prefix's key range
//! ([`prefix_end`]), as etcd computes it.

/// A stretch of keys: from `from` up to `to` (excluded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpan {
    pub from: Vec<u8>,
    pub to: Vec<u8>,
}

/// Slots of a [`KeySample`]: enough for even key ranges with up to
/// [256 watchers](super::LiveOptions::watchers), a few hundred KB of keys.
const SAMPLE_SLOTS: usize = 4096;

/// An evenly spaced sample of the keys under the prefix at the head, in key
/// order, at most `SAMPLE_SLOTS` (4096) of them however many keys there are: each
/// slot stands for the keys from its first key to the next slot's, with
/// their number and their newest mod revision. The history read cuts the
/// prefix into key ranges with it ([`KeySample::ranges`]).
#[derive(Debug, Clone)]
pub struct KeySample {
    /// Every `step`-th key starts a slot.
    step: u64,
    seen: u64,
    slots: Vec<SampleSlot>,
}

#[derive(Debug, Clone)]
struct SampleSlot {
    first_key: Vec<u8>,
    keys: u64,
    newest: i64,
}

impl Default for KeySample {
    fn default() -> Self {
        KeySample {
            step: 1,
            seen: 0,
            slots: Vec::new(),
        }
    }
}

impl KeySample {
    /// Adds the next key (keys arrive in key order, as a range returns them).
    pub fn add(&mut self, key: &[u8], mod_revision: i64) {
        if self.seen.is_multiple_of(self.step) && self.slots.len() == SAMPLE_SLOTS {
            // Full: every other slot start goes, the step doubles.
            let slots = std::mem::take(&mut self.slots);
            let mut pairs = slots.into_iter();
            while let Some(mut slot) = pairs.next() {
                if let Some(next) = pairs.next() {
                    slot.keys += next.keys;
                    slot.newest = slot.newest.max(next.newest);
                }
                self.slots.push(slot);
            }
            self.step *= 2;
        }
        match self.slots.last_mut() {
            Some(last) if !self.seen.is_multiple_of(self.step) => {
                last.keys += 1;
                last.newest = last.newest.max(mod_revision);
            }
            _ => self.slots.push(SampleSlot {
                first_key: key.to_vec(),
                keys: 1,
                newest: mod_revision,
            }),
        }
        self.seen += 1;
    }

    /// Cuts the prefix into at most `n` key ranges that
    /// together cover it, of about equal numbers of keys, each holding a key
    /// whose newest change is at or after the revision `since` — so that a
    /// watch over it from `since` is sure to answer. Empty when no key
    /// changed since then.
    pub fn ranges(&self, prefix: &[u8], since: i64, n: usize) -> Vec<KeySpan> {
        let total: u64 = self.slots.iter().map(|s| s.keys).sum();
        let per_range = total.div_ceil(n.max(1) as u64).max(1);
        // The slot each range starts at.
        let mut starts: Vec<usize> = Vec::new();
        let (mut start, mut keys, mut changed) = (0, 0, false);
        for (i, slot) in self.slots.iter().enumerate() {
            keys += slot.keys;
            changed |= slot.newest >= since;
            if keys >= per_range && changed && starts.len() + 1 < n {
                starts.push(start);
                (start, keys, changed) = (i + 1, 0, false);
            }
        }
        // What is left is a range of its own when it holds a changed key,
        // else it joins the last range.
        if changed {
            starts.push(start);
        }
        let mut ranges = Vec::with_capacity(starts.len());
        for (i, &at) in starts.iter().enumerate() {
            let from = if i == 0 {
                prefix.to_vec()
            } else {
                self.slots[at].first_key.clone()
            };
            let to = match starts.get(i + 1) {
                Some(&next) => self.slots[next].first_key.clone(),
                None => prefix_end(prefix),
            };
            ranges.push(KeySpan { from, to });
        }
        ranges
    }
}

/// The end of the key range of `prefix` (etcd's `GetPrefixRangeEnd`).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff (or empty): to the end of the keyspace.
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_like_etcd() {
        assert_eq!(
            prefix_end(b"/registry/events/"),
            b"/registry/events0".to_vec()
        );
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }

    fn sample_of(keys: &[(String, i64)]) -> KeySample {
        let mut sample = KeySample::default();
        for (k, m) in keys {
            sample.add(k.as_bytes(), *m);
        }
        sample
    }

    /// The ranges tile the prefix in key order, each holding a key changed
    /// since the revision asked for.
    fn check_ranges(keys: &[(String, i64)], ranges: &[KeySpan], since: i64) {
        let prefix = b"/registry/events/".to_vec();
        assert_eq!(ranges.first().unwrap().from, prefix);
        assert_eq!(ranges.last().unwrap().to, prefix_end(&prefix));
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].to, pair[1].from, "contiguous");
            assert!(pair[0].from < pair[0].to, "not empty");
        }
        for KeySpan { from, to } in ranges {
            assert!(
                keys.iter().any(|(k, m)| {
                    *m >= since && k.as_bytes() >= from.as_slice() && k.as_bytes() < to.as_slice()
                }),
                "{} holds a key changed since {since}",
                String::from_utf8_lossy(from)
            );
        }
    }

    #[test]
    fn key_ranges_each_hold_a_changed_key() {
        let prefix = b"/registry/events/";
        // 10,000 keys (more than the sample's slots); only every 97th key
        // changed since revision 50,000.
        let keys: Vec<(String, i64)> = (0..10_000)
            .map(|i| {
                let m = if i % 97 == 0 { 50_000 + i } else { 1 + i };
                (format!("/registry/events/ns/e{i:05}"), m)
            })
            .collect();
        let sample = sample_of(&keys);
        assert!(sample.slots.len() <= SAMPLE_SLOTS);
        assert_eq!(sample.slots.iter().map(|s| s.keys).sum::<u64>(), 10_000);
        for n in [1, 2, 16, 256] {
            let ranges = sample.ranges(prefix, 1, n);
            assert!(ranges.len() <= n && ranges.len() * 10 >= n * 9, "{n}");
            check_ranges(&keys, &ranges, 1);
            let ranges = sample.ranges(prefix, 50_000, n);
            assert!(!ranges.is_empty() && ranges.len() <= n);
            check_ranges(&keys, &ranges, 50_000);
        }
        // About equal numbers of keys.
        let ranges = sample.ranges(prefix, 1, 16);
        for KeySpan { from, to } in &ranges {
            let inside = keys
                .iter()
                .filter(|(k, _)| k.as_bytes() >= from.as_slice() && k.as_bytes() < to.as_slice())
                .count();
            assert!((500..=800).contains(&inside), "{inside} keys");
        }
        // Nothing changed since: no ranges (the caller watches everything).
        assert!(sample.ranges(prefix, 70_000, 16).is_empty());
        assert!(KeySample::default().ranges(prefix, 1, 16).is_empty());
        // One changed key, at the very end: one range over the prefix.
        let mut keys: Vec<(String, i64)> = (0..100)
            .map(|i| (format!("/registry/events/ns/e{i:03}"), 5))
            .collect();
        keys.push(("/registry/events/zz/last".into(), 900));
        let ranges = sample_of(&keys).ranges(prefix, 100, 16);
        assert_eq!(
            ranges,
            vec![KeySpan {
                from: prefix.to_vec(),
                to: prefix_end(prefix)
            }]
        );
    }
}
