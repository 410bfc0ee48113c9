//! The `wal:` section of `info`: the segments of the WAL beside a data
//! directory's db, the raft entries read and their fates, the CRC chain or
//! the damage, a torn tail, the proposals by kind and the Event writes
//! proposed — those newer than the db counted apart.

use std::io::{self, Write};
use std::path::Path;

use crate::source::wal::{survey_wal, FileEnd, FileSummary, WalSurvey};

/// Damage and unreadable entries shown in the section; all are counted.
const EXAMPLES: usize = 5;

/// What the section found.
pub struct WalSection {
    /// The survey, when the directory could be listed.
    pub survey: Option<WalSurvey>,
    /// Problems that make `info` exit with `EXIT_DAMAGED`: damage records,
    /// unreadable entries, a directory that cannot be listed, a torn tail
    /// (see [`write_torn_tail`]).
    pub problems: u64,
}

/// Reads the WAL in `dir` and prints the section.
pub fn write_wal_section(
    out: &mut impl Write,
    dir: &Path,
    prefix: &str,
    consistent_index: Option<u64>,
) -> io::Result<WalSection> {
    writeln!(out)?;
    writeln!(out, "wal:           {}", dir.display())?;
    let survey = match survey_wal(dir, prefix, consistent_index) {
        Ok(s) => s,
        Err(e) => {
            writeln!(out, "  DAMAGED: cannot be read: {e}")?;
            return Ok(WalSection {
                survey: None,
                problems: 1,
            });
        }
    };
    write_files(out, &survey)?;
    write_entries(out, &survey)?;
    let problems = write_integrity(out, &survey)? + u64::from(survey.summary.torn_tail.is_some());
    write_torn_tail(out, &survey)?;
    write_proposals(out, &survey)?;
    write_event_puts(out, &survey, consistent_index)?;
    Ok(WalSection {
        survey: Some(survey),
        problems,
    })
}

fn write_files(out: &mut impl Write, s: &WalSurvey) -> io::Result<()> {
    let files = &s.summary.files;
    let total: u64 = files.iter().map(|f| f.size).sum();
    writeln!(
        out,
        "  wal files:   {} {} ({total} bytes)",
        files.len(),
        plural(files.len() as u64, "segment", "segments")
    )?;
    for f in files {
        writeln!(
            out,
            "               {} ({} bytes): {} records, {}; sha256 {}",
            file_name(&f.path),
            f.size,
            f.records,
            describe_end(f),
            f.sha256
                .as_deref()
                .unwrap_or("not taken (not every byte could be read)")
        )?;
    }
    for (paths, what) in [
        (
            &s.summary.preallocated,
            "preallocated next segment, not read",
        ),
        (&s.summary.ignored, "not a segment name, not read"),
    ] {
        for p in paths {
            let size = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            writeln!(
                out,
                "               {} ({size} bytes): {what}",
                file_name(p)
            )?;
        }
    }
    Ok(())
}

/// How a segment's reading ended. A zero-filled tail is etcd's
/// preallocation (segments are 64 MB from the start): the end of the data,
/// nothing wrong.
fn describe_end(f: &FileSummary) -> String {
    match f.end {
        FileEnd::EndOfFile => "ends after its last record".into(),
        FileEnd::EndOfData => format!(
            "data ends at offset {}, zero-filled preallocation after it",
            f.data_end
        ),
        FileEnd::TornTail => format!("torn tail after offset {}", f.data_end),
        FileEnd::Damage => format!("DAMAGED: read up to offset {}", f.data_end),
        FileEnd::Unopenable => "DAMAGED: cannot be opened".into(),
        FileEnd::NotRead => "not read".into(),
    }
}

fn write_entries(out: &mut impl Write, s: &WalSurvey) -> io::Result<()> {
    let sum = &s.summary;
    let range = match (sum.first_index, sum.last_index) {
        (Some(a), Some(b)) => format!("{a}..{b} read"),
        _ => "no entries read".into(),
    };
    let mut facts = Vec::new();
    if let Some(h) = sum.last_hard_state {
        facts.push(format!(
            "last hard state: term {}, commit {}",
            h.term, h.commit
        ));
    }
    if let Some(m) = sum.last_snapshot {
        facts.push(format!("snapshot marker at index {}", m.index));
    }
    if let Some(m) = sum.metadata {
        facts.push(format!(
            "member {:x} of cluster {:x}",
            m.node_id, m.cluster_id
        ));
    }
    let facts = if facts.is_empty() {
        String::new()
    } else {
        format!(" ({})", facts.join("; "))
    };
    writeln!(out, "  raft index:  {range}{facts}")?;
    let e = &s.entries;
    writeln!(
        out,
        "  entries:     {} committed, {} replaced (rewritten by a new leader: never applied), {} not known committed (no commit index covers them)",
        e.committed,
        e.replaced,
        e.uncommitted_at_end + e.released_buffer_full
    )
}

/// The CRC chain, or the damage; unreadable entries. Returns the problems.
fn write_integrity(out: &mut impl Write, s: &WalSurvey) -> io::Result<u64> {
    let sum = &s.summary;
    if sum.damage_count == 0 {
        let n = sum.files.len() as u64;
        writeln!(
            out,
            "  CRC chain:   verified: every record, across {n} {}",
            plural(n, "segment", "segments")
        )?;
    } else {
        writeln!(
            out,
            "  CRC chain:   DAMAGED: {} {} (a segment's reading stops at frame damage; the next is read from its own crc record)",
            sum.damage_count,
            plural(sum.damage_count, "problem", "problems")
        )?;
        for d in sum.damage.iter().take(EXAMPLES) {
            writeln!(out, "               {d}")?;
        }
        more(out, sum.damage_count, EXAMPLES)?;
    }
    let unreadable = sum.entries.unreadable;
    if unreadable > 0 {
        writeln!(
            out,
            "  unreadable:  DAMAGED: {unreadable} {} whose CRC matched but whose data does not decode",
            plural(unreadable, "entry", "entries")
        )?;
        for u in s.unreadable.iter().take(EXAMPLES) {
            writeln!(out, "               {u}")?;
        }
        more(out, unreadable, EXAMPLES)?;
    }
    Ok(sum.damage_count + unreadable)
}

/// A torn tail counts as damage, as `ingest` counts it: the copy holds a
/// record it cannot read. The reader only calls a tail torn at the end of
/// the last segment: the write etcd was making when the copy was taken (or
/// the machine stopped), or a copy cut short. etcd fsyncs a write before it
/// acknowledges it, so a write torn in a running etcd's WAL was never
/// acknowledged by this member — but another member may have applied it,
/// and a cut copy loses acknowledged writes: the investigator must know
/// either way. Every record before it is whole. (A zero-filled
/// preallocated tail is not torn at all: it is the end of the data.)
fn write_torn_tail(out: &mut impl Write, s: &WalSurvey) -> io::Result<()> {
    match &s.summary.torn_tail {
        None => writeln!(out, "  torn tail:   none"),
        Some(t) => {
            writeln!(out, "  torn tail:   {t}")?;
            writeln!(
                out,
                "               the last record is incomplete: the write etcd was making when a running member was copied (etcd drops it on start), or a copy cut short; the records before it are whole. Counted as damage"
            )
        }
    }
}

fn write_proposals(out: &mut impl Write, s: &WalSurvey) -> io::Result<()> {
    let p = &s.proposals;
    writeln!(
        out,
        "  proposals:   committed: {} txns, {} puts, {} delete ranges, {} compactions, {} lease grants, {} lease revokes, {} other",
        p.txns, p.puts, p.delete_ranges, p.compactions, p.lease_grants, p.lease_revokes, p.other
    )?;
    let e = &s.summary.entries;
    writeln!(
        out,
        "               entries read: {} v3 proposals, {} v2 requests, {} other requests, {} leader no-ops, {} conf changes",
        e.proposals, e.v2_requests, e.other_requests, e.leader_noops, e.conf_changes
    )?;
    if e.txn_ops_cut > 0 {
        writeln!(
            out,
            "               NOTE: {} operations of nested transactions not read (nested too deep)",
            e.txn_ops_cut
        )?;
    }
    Ok(())
}

fn write_event_puts(
    out: &mut impl Write,
    s: &WalSurvey,
    consistent_index: Option<u64>,
) -> io::Result<()> {
    let e = &s.events;
    let newer = match consistent_index {
        Some(ci) if e.puts_after_db > 0 => format!(
            "{} after the db's consistent index {ci}: newer than anything the db holds (`ingest` of the data directory replays them)",
            e.puts_after_db
        ),
        Some(ci) => format!("none after the db's consistent index {ci}"),
        None => "the db's consistent index is unknown".into(),
    };
    writeln!(
        out,
        "  Event puts:  {} proposed (both branches of a txn counted), occurred {}; {newer}; {} deletes of Event keys",
        e.puts,
        e.span.describe(),
        e.deletes
    )
}

fn more(out: &mut impl Write, count: u64, shown: usize) -> io::Result<()> {
    if count > shown as u64 {
        writeln!(out, "               … and {} more", count - shown as u64)?;
    }
    Ok(())
}

fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}
