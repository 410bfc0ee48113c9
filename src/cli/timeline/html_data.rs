//! The data the HTML page gets, built while the lines stream: one typed
//! [`PageData`] serialised as compact JSON into the page.
//!
//! Size and memory stay bounded whatever the case: lines are columns of
//! small integers (times as µs deltas, strings as indexes into one table
//! of distinct strings), kept only up to [`TABLE_BUDGET`] bytes; every
//! line, kept or not, is counted into per-lane time buckets whose width
//! doubles whenever the span outgrows [`MAX_BUCKETS`] (so a lane holds at
//! most that many). Above [`DRAW_LIMIT`] lines the page draws the buckets
//! instead of one mark per line.

use std::collections::HashMap;

use serde::Serialize;

use crate::store::ObjectLife;

/// Above this many lines the page draws counts per time bucket.
pub const DRAW_LIMIT: u64 = 5_000;
/// Buckets per lane at most (the width doubles to keep within it).
pub const MAX_BUCKETS: i64 = 400;
/// Estimated bytes of kept lines (columns and strings) at most: the
/// page stays well under 25 MB for any case.
pub const TABLE_BUDGET: usize = 18_000_000;

/// Line flags (bits of [`Lines::flags`]).
pub const AUDIT: u8 = 1;
pub const WARNING: u8 = 2;
pub const DENIED: u8 = 4;
/// An Event revision that is not live (overwritten, expired or deleted).
pub const NOT_LIVE: u8 = 8;
/// The Event's last revision in this result, and not live: its key was
/// gone (expired or deleted), as far as this result tells.
pub const GONE: u8 = 16;
/// The line has no readable time (not drawn, listed in the table).
pub const NO_TIME: u8 = 32;

#[derive(Debug, Default, Serialize)]
pub struct PageData {
    pub title: String,
    /// Lines in the result (kept in the table or not).
    pub total: u64,
    pub counts: Counts,
    /// First and last line time (µs), when any line has a time.
    pub t0: Option<i64>,
    pub t1: Option<i64>,
    /// Draw buckets (more lines than [`DRAW_LIMIT`]).
    pub aggregated: bool,
    pub draw_limit: u64,
    pub strings: Vec<String>,
    pub lanes: Vec<Lane>,
    pub lines: Lines,
    pub buckets: Option<Buckets>,
    pub horizons: Vec<PageHorizon>,
}

#[derive(Debug, Default, Serialize)]
pub struct Counts {
    pub events: u64,
    pub warnings: u64,
    pub audit: u64,
    pub denied: u64,
    pub gone: u64,
}

/// A lane: one object, nested under its owner.
#[derive(Debug, Default, Serialize)]
pub struct Lane {
    pub name: String,
    /// The owner's lane.
    pub parent: Option<usize>,
    pub lines: u64,
    pub created: Option<i64>,
    pub deleted: Option<i64>,
    pub deleted_revision: Option<i64>,
    /// Known to `objects` (a lifetime can be drawn).
    pub known: bool,
    pub live: bool,
}

/// The kept lines, in time order, as columns of equal length.
#[derive(Debug, Default, Serialize)]
pub struct Lines {
    /// µs since the previous kept line's time (the first: since `t0`).
    pub t: Vec<i64>,
    pub lane: Vec<u32>,
    /// String indexes: what happened, the detail, the time as text.
    pub what: Vec<u32>,
    pub detail: Vec<u32>,
    /// The etcd key of an Event, the file of an audit entry.
    pub key: Vec<u32>,
    /// The revision of an Event, the line number of an audit entry
    /// (delta from the previous kept line's).
    pub num: Vec<i64>,
    /// String index of the record's identity: an Event's uid, an audit
    /// entry's auditID.
    pub id: Vec<u32>,
    pub flags: Vec<u8>,
}

/// Counts per lane and time bucket: bucket `i` is
/// `[start + i·width, start + (i+1)·width)`.
#[derive(Debug, Default, Serialize)]
pub struct Buckets {
    pub start: i64,
    pub width: i64,
    /// Per lane: rows `[bucket, lines, warnings, denied, gone]`, flattened.
    pub lanes: Vec<Vec<u32>>,
}

#[derive(Debug, Serialize)]
pub struct PageHorizon {
    pub source: String,
    pub compact_revision: i64,
    pub time: Option<i64>,
}

/// Distinct strings, each stored once.
#[derive(Default)]
struct Strings {
    index: HashMap<String, u32>,
    list: Vec<String>,
    bytes: usize,
}

impl Strings {
    fn get(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.list.len() as u32;
        self.bytes += s.len() + 3;
        self.index.insert(s.to_owned(), i);
        self.list.push(s.to_owned());
        i
    }
}

/// One line, as the page needs it.
pub struct PageLine<'a> {
    pub time: Option<i64>,
    pub object: &'a str,
    pub what: &'a str,
    pub detail: &'a str,
    pub key: &'a str,
    pub num: Option<i64>,
    /// The Event's uid, the audit entry's auditID (empty: not known).
    pub id: &'a str,
    pub flags: u8,
    /// The Event key (for finding its last revision), `None` for audit.
    pub event_key: Option<&'a str>,
}

/// Builds [`PageData`] line by line.
#[derive(Default)]
pub struct PageBuilder {
    data: PageData,
    strings: Strings,
    lane_of: HashMap<String, usize>,
    /// Sparse buckets per lane: `(bucket, [lines, warnings, denied, gone])`.
    buckets: Vec<Vec<(i64, [u32; 4])>>,
    width: i64,
    last_t: Option<i64>,
    last_num: i64,
    full: bool,
    /// Per Event key: its last line (kept index, lane, time) and liveness.
    last_of_key: HashMap<String, (Option<usize>, usize, Option<i64>, bool)>,
}

impl PageBuilder {
    pub fn new(title: String) -> PageBuilder {
        PageBuilder {
            data: PageData {
                title,
                draw_limit: DRAW_LIMIT,
                ..PageData::default()
            },
            width: 1_000,
            ..PageBuilder::default()
        }
    }

    /// The lane of `object`, added if new.
    pub fn lane(&mut self, object: &str) -> usize {
        if let Some(&l) = self.lane_of.get(object) {
            return l;
        }
        let l = self.data.lanes.len();
        self.data.lanes.push(Lane {
            name: object.to_owned(),
            ..Lane::default()
        });
        self.buckets.push(Vec::new());
        self.lane_of.insert(object.to_owned(), l);
        l
    }

    pub fn line(&mut self, l: &PageLine<'_>) {
        let lane = self.lane(l.object);
        let d = &mut self.data;
        d.total += 1;
        d.lanes[lane].lines += 1;
        let mut flags = l.flags;
        if l.time.is_none() {
            flags |= NO_TIME;
        }
        if flags & AUDIT != 0 {
            d.counts.audit += 1;
        } else {
            d.counts.events += 1;
        }
        if flags & WARNING != 0 {
            d.counts.warnings += 1;
        }
        if flags & DENIED != 0 {
            d.counts.denied += 1;
        }
        if let Some(t) = l.time {
            d.t0 = Some(d.t0.map_or(t, |t0| t0.min(t)));
            d.t1 = Some(d.t1.map_or(t, |t1| t1.max(t)));
            self.count(lane, t, flags, 1);
        }
        let kept = self.keep(lane, l, flags);
        if let Some(k) = l.event_key {
            let live = flags & NOT_LIVE == 0;
            match self.last_of_key.get_mut(k) {
                Some(v) => *v = (kept, lane, l.time, live),
                None => {
                    self.last_of_key
                        .insert(k.to_owned(), (kept, lane, l.time, live));
                }
            }
        }
    }

    /// Keeps the line in the columns while the budget lasts.
    fn keep(&mut self, lane: usize, l: &PageLine<'_>, flags: u8) -> Option<usize> {
        if self.full {
            return None;
        }
        let cols = &self.data.lines;
        if self.strings.bytes + cols.t.len() * 40 > TABLE_BUDGET {
            self.full = true;
            return None;
        }
        let what = self.strings.get(l.what);
        let detail = self.strings.get(l.detail);
        let key = self.strings.get(l.key);
        let id = self.strings.get(l.id);
        let cols = &mut self.data.lines;
        let t = match (l.time, self.last_t.or(self.data.t0)) {
            (Some(t), Some(prev)) => {
                self.last_t = Some(t);
                t - prev
            }
            _ => 0,
        };
        let num = l.num.unwrap_or(self.last_num);
        cols.t.push(t);
        cols.lane.push(lane as u32);
        cols.what.push(what);
        cols.detail.push(detail);
        cols.key.push(key);
        cols.num.push(num - self.last_num);
        cols.id.push(id);
        self.last_num = num;
        cols.flags.push(flags);
        Some(cols.t.len() - 1)
    }

    /// Adds to the bucket of `t`, widening the buckets when needed.
    fn count(&mut self, lane: usize, t: i64, flags: u8, n: u32) {
        let start = self.data.t0.unwrap_or(t);
        while (t - start) / self.width >= MAX_BUCKETS {
            self.widen();
        }
        let b = ((t - start) / self.width).max(0);
        let row = &mut self.buckets[lane];
        let i = match row.iter().rposition(|(x, _)| *x <= b) {
            Some(i) if row[i].0 == b => i,
            Some(i) => {
                row.insert(i + 1, (b, [0; 4]));
                i + 1
            }
            None => {
                row.insert(0, (b, [0; 4]));
                0
            }
        };
        let c = &mut row[i].1;
        if flags & GONE != 0 {
            c[3] += n;
            return;
        }
        c[0] += n;
        if flags & WARNING != 0 {
            c[1] += n;
        }
        if flags & DENIED != 0 {
            c[2] += n;
        }
    }

    fn widen(&mut self) {
        self.width *= 2;
        for row in &mut self.buckets {
            let mut merged: Vec<(i64, [u32; 4])> = Vec::with_capacity(row.len());
            for (b, c) in row.drain(..) {
                let b = b / 2;
                match merged.last_mut() {
                    Some((x, m)) if *x == b => {
                        for k in 0..4 {
                            m[k] += c[k];
                        }
                    }
                    _ => merged.push((b, c)),
                }
            }
            *row = merged;
        }
    }

    /// The page's data, with what the store says of the lanes' objects.
    pub fn finish(
        mut self,
        objects: &HashMap<String, ObjectLife>,
        horizons: Vec<PageHorizon>,
    ) -> PageData {
        // Gone Events: the key's last line here is not live.
        let last: Vec<_> = self.last_of_key.drain().map(|(_, v)| v).collect();
        for (kept, lane, t, live) in last {
            if live {
                continue;
            }
            self.data.counts.gone += 1;
            if let Some(i) = kept {
                self.data.lines.flags[i] |= GONE;
            }
            if let Some(t) = t {
                self.count(lane, t, GONE, 1);
            }
        }
        // Owners, followed up so that every lane has its ancestors.
        let mut i = 0;
        while i < self.data.lanes.len() {
            let name = self.data.lanes[i].name.clone();
            if let Some(info) = objects.get(&name) {
                let lane = &mut self.data.lanes[i];
                lane.known = true;
                lane.created = info.created;
                lane.deleted = info.deleted;
                lane.deleted_revision = info.deleted_revision;
                lane.live = info.live;
                if let Some(owner) = &info.owner {
                    if owner != &name && self.data.lanes.len() < 1_000_000 {
                        let p = self.lane(owner);
                        self.data.lanes[i].parent = Some(p);
                    }
                }
            }
            i += 1;
        }
        // An ownership cycle would loop the page's nesting: cut it.
        for l in 0..self.data.lanes.len() {
            let mut seen = 0;
            let mut p = self.data.lanes[l].parent;
            while let Some(x) = p {
                seen += 1;
                if x == l || seen > 64 {
                    self.data.lanes[l].parent = None;
                    break;
                }
                p = self.data.lanes[x].parent;
            }
        }
        self.data.aggregated = self.data.total > DRAW_LIMIT;
        if self.data.aggregated {
            self.data.buckets = Some(Buckets {
                start: self.data.t0.unwrap_or(0),
                width: self.width,
                lanes: self
                    .buckets
                    .iter()
                    .map(|row| {
                        row.iter()
                            .flat_map(|(b, c)| [*b as u32, c[0], c[1], c[2], c[3]])
                            .collect()
                    })
                    .collect(),
            });
        }
        self.data.horizons = horizons;
        self.data.strings = self.strings.list;
        self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(t: i64, object: &'a str, flags: u8, key: &'a str) -> PageLine<'a> {
        PageLine {
            time: Some(t),
            object,
            what: "w",
            detail: "d",
            key,
            num: Some(t),
            id: "",
            flags,
            event_key: Some(key),
        }
    }

    /// Buckets stay within bounds however long the span; counts add up;
    /// a key whose last line is not live is gone.
    #[test]
    fn buckets_widen_and_count() {
        let mut b = PageBuilder::new("t".into());
        for i in 0..10_000i64 {
            let flags = if i % 10 == 0 { WARNING } else { 0 } | NOT_LIVE;
            b.line(&line(
                i * 1_000_000,
                "Pod/a/p",
                flags,
                &format!("k{}", i % 7),
            ));
        }
        b.line(&line(10_000_000_000, "Pod/a/q", DENIED | AUDIT, "x"));
        let d = b.finish(&HashMap::new(), Vec::new());
        assert!(d.aggregated);
        assert_eq!(d.total, 10_001);
        assert_eq!(d.counts.warnings, 1_000);
        assert_eq!(d.counts.gone, 7);
        let buckets = d.buckets.unwrap();
        let rows = &buckets.lanes[0];
        assert!(rows.len() / 5 <= MAX_BUCKETS as usize);
        let sum = |k: usize| rows.chunks(5).map(|r| r[k] as u64).sum::<u64>();
        assert_eq!((sum(1), sum(2), sum(3), sum(4)), (10_000, 1_000, 0, 7));
        assert_eq!(buckets.lanes[1][3], 1);
        assert_eq!(d.lines.t.len(), 10_001);
        // "w", "d", eight keys, and the empty id.
        assert_eq!(d.strings.len(), 2 + 8 + 1);
    }
}
