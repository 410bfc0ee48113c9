//! The `horizon` block of `info`: one line per layer of evidence — the
//! tree, the free pages, each older copy of the db, the WAL — with how
//! many Event records it holds
//! and the occurrence times they span, so that a responder sees at a
//! glance how far back each layer reaches.

use std::io::{self, Write};

use crate::source::survey::{OccurrenceSpan, RevisionRange, Survey};
use crate::source::wal::WalSurvey;

/// The WAL layer as `info` found it.
pub enum WalLayer<'a> {
    /// Read (damaged or not).
    Read(&'a WalSurvey),
    /// Beside the db, but its directory could not be listed.
    Unreadable,
    /// No WAL beside the db (a snapshot file, or a bare db).
    Absent,
}

/// An older full copy of the db (`member/snap/*.snap.db`), surveyed.
pub struct OlderCopy {
    pub name: String,
    /// Its survey, or why it could not be read.
    pub read: Result<Survey, String>,
}

pub fn write_horizon(
    out: &mut impl Write,
    s: &Survey,
    copies: &[OlderCopy],
    wal: WalLayer<'_>,
) -> io::Result<()> {
    let revisions = |r: Option<RevisionRange>| {
        r.map(|r| format!("revisions {}..{}", r.oldest, r.newest))
            .unwrap_or_default()
    };
    writeln!(out)?;
    writeln!(out, "horizon (how far back each layer reaches):")?;
    let tree = Layer {
        name: "tree",
        what: "Event revisions",
        span: &s.event_span,
        reach: revisions(s.event_revisions),
    };
    tree.write(out)?;
    let free = Layer {
        name: "free pages",
        what: "Event revisions",
        span: &s.free.events_only_here,
        reach: revisions(s.free.event_revisions),
    };
    free.write(out)?;
    for copy in copies {
        match &copy.read {
            Ok(c) => Layer {
                name: "snap-db",
                what: "Event revisions",
                span: &c.event_span,
                reach: format!("{}  {}", revisions(c.event_revisions), copy.name),
            }
            .write(out)?,
            Err(e) => writeln!(out, "  {:<11}cannot be read: {}: {e}", "snap-db", copy.name)?,
        }
    }
    match wal {
        WalLayer::Read(w) => {
            let sum = &w.summary;
            let reach = match (sum.first_index, sum.last_index) {
                (Some(a), Some(b)) => format!("raft index {a}..{b}"),
                _ => String::new(),
            };
            let layer = Layer {
                name: "wal",
                what: "Event writes",
                span: &w.events.span,
                reach,
            };
            layer.write(out)
        }
        WalLayer::Unreadable => writeln!(out, "  {:<11} cannot be read", "wal"),
        WalLayer::Absent => writeln!(out, "  {:<11} none beside this file", "wal"),
    }
}

/// One line of the block.
struct Layer<'a> {
    name: &'a str,
    /// What is counted (`Event revisions`, `Event writes`).
    what: &'a str,
    span: &'a OccurrenceSpan,
    /// How far it reaches in etcd's own terms (revisions, raft index).
    reach: String,
}

impl Layer<'_> {
    fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let untimed = match self.span.without_time {
            0 => String::new(),
            n => format!("  ({n} without a readable time)"),
        };
        let line = format!(
            "  {:<11}{:>7} {:<16} {:<58}  {}{untimed}",
            self.name,
            self.span.values,
            self.what,
            self.span.describe(),
            self.reach
        );
        writeln!(out, "{}", line.trim_end())
    }
}
