//! The `info` command: the input's identity, the db's pages, buckets and
//! resources, then the WAL section and the horizon block when they apply,
//! and the damage (which sets the exit code).

use std::io::{self, Write};
use std::path::PathBuf;

use super::horizon::{write_horizon, OlderCopy, WalLayer};
use super::wal::write_wal_section;
use crate::cli::{EXIT_DAMAGED, EXIT_OK};
use crate::source::input;
use crate::source::registry::{EtcdShare, DEFAULT_PREFIX};
use crate::source::snap_copies::snap_copies;
use crate::source::snapshot::{file_condition, meta_note, open_bolt, truncation};
use crate::source::survey::survey;

#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    /// etcd key prefix of Events.
    #[arg(long, value_name = "P", default_value = DEFAULT_PREFIX)]
    prefix: String,
    /// A snapshot file (plain, .zst, .gz) or an etcd data directory.
    #[arg(value_name = "SOURCE")]
    source: PathBuf,
}

pub fn run(args: InfoArgs) -> anyhow::Result<i32> {
    let input = input::prepare(&args.source)?;
    let db = open_bolt(&input)?;
    let opt = |r: Option<i64>| r.map(|r| r.to_string()).unwrap_or_else(|| "none".into());
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());

    // A file that is not whole says so first.
    let truncated = truncation(&db);
    if let Some(condition) = file_condition(&db) {
        writeln!(out, "{condition}")?;
    }
    writeln!(out, "source:        {}", args.source.display())?;
    if input.evidence_file != args.source {
        writeln!(out, "bbolt file:    {}", input.evidence_file.display())?;
    }
    writeln!(out, "kind:          {}", input.kind.as_str())?;
    writeln!(out, "size:          {} bytes", input.size_bytes)?;
    writeln!(out, "sha256:        {}", input.sha256)?;
    if let Some(c) = input.compression {
        writeln!(
            out,
            "compression:   {} (content sha256 {})",
            c.as_str(),
            input.content_sha256.as_deref().unwrap_or("?")
        )?;
    }
    let trailer = match truncated {
        Some(_) => input.trailer.describe_truncated(),
        None => input.trailer.describe(),
    };
    writeln!(out, "hash trailer:  {trailer}")?;
    let meta = db.meta();
    writeln!(
        out,
        "bbolt:         page size {}, meta page {} in use (txid {}), {} pages in use (high-water mark)",
        db.page_size(),
        meta.page_id,
        meta.txid,
        meta.hwm
    )?;
    if let Some(note) = meta_note(&db) {
        writeln!(out, "  WARNING: {note}")?;
    }
    let pages = db.page_stats();
    writeln!(
        out,
        "pages:         {} meta, {} branch, {} leaf, {} overflow, {} freelist, {} free (not reachable from the tree: may hold older records)",
        pages.meta, pages.branch, pages.leaf, pages.overflow, pages.freelist, pages.free
    )?;

    // The survey walks the free pages too: they are printed here, their
    // Events in the horizon.
    let s = survey(&db, &args.prefix);
    writeln!(
        out,
        "free pages:    {} key-bucket leaves among them, holding {} revision entries (older copies; `ingest` loads those the tree lacks)",
        s.free.scan.key_leaves, s.free.entries
    )?;

    writeln!(
        out,
        "etcd:          head revision {}, oldest stored revision {}, compacted at {} (scheduled {}), consistent index {}",
        opt(s.head_revision),
        opt(s.oldest_revision),
        opt(s.meta.finished_compact_revision),
        opt(s.meta.scheduled_compact_revision),
        s.meta
            .consistent_index
            .map(|c| c.to_string())
            .unwrap_or_else(|| "none".into())
    )?;
    writeln!(
        out,
        "               {} key-bucket entries, {} leases",
        s.entries, s.leases
    )?;
    writeln!(
        out,
        "events:        under {}: {} revisions of {} keys ({} live keys), {} tombstones",
        args.prefix, s.events.revisions, s.events.keys, s.events.live_keys, s.events.tombstones
    )?;
    let share = EtcdShare::of(s.events.revisions + s.events.tombstones, s.object_records);
    if let Some(note) = share.note(&args.prefix) {
        writeln!(out, "  NOTE: {note}")?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<44} {:>9} {:>9} {:>10} {:>10}",
        "resource", "keys", "live", "revisions", "tombstones"
    )?;
    for (name, c) in &s.resources {
        writeln!(
            out,
            "{:<44} {:>9} {:>9} {:>10} {:>10}",
            name, c.keys, c.live_keys, c.revisions, c.tombstones
        )?;
    }

    // The WAL of a data directory, whether given as the directory or as
    // its `member/snap/db`.
    let wal_dir = input::wal_dir(&input.evidence_file);
    let wal = match &wal_dir {
        Some(dir) => Some(write_wal_section(
            &mut out,
            dir,
            &args.prefix,
            s.meta.consistent_index,
        )?),
        None => {
            if input.kind == input::InputKind::DataDir {
                writeln!(out)?;
                writeln!(out, "wal:           none (no member/wal beside the db)")?;
            }
            None
        }
    };
    let wal_layer = match &wal {
        Some(w) => w
            .survey
            .as_ref()
            .map_or(WalLayer::Unreadable, WalLayer::Read),
        None => WalLayer::Absent,
    };
    // Older full copies beside a data directory's db: how far back each
    // reaches (a copy that cannot be read is named with why).
    let copies: Vec<OlderCopy> = snap_copies(&input.evidence_file)
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let read = input::prepare(&path)
                .map_err(|e| e.to_string())
                .and_then(|p| {
                    open_bolt(&p)
                        .map(|db| survey(&db, &args.prefix))
                        .map_err(|e| e.to_string())
                });
            OlderCopy { name, read }
        })
        .collect();
    write_horizon(&mut out, &s, &copies, wal_layer)?;

    let damage: Vec<String> = truncated
        .map(|t| t.to_string())
        .into_iter()
        .chain(s.damage.iter().cloned())
        .chain(pages.damage.iter().map(|d| d.to_string()))
        .collect();
    let wal_problems = wal.as_ref().map_or(0, |w| w.problems);
    if damage.is_empty() && wal_problems == 0 {
        out.flush()?;
        return Ok(EXIT_OK);
    }
    writeln!(out)?;
    writeln!(
        out,
        "damage: {} problems",
        damage.len() as u64 + wal_problems
    )?;
    for d in damage.iter().take(20) {
        writeln!(out, "  {d}")?;
    }
    if wal_problems > 0 {
        writeln!(out, "  the WAL: {wal_problems} (listed under wal: above)")?;
    }
    out.flush()?;
    Ok(EXIT_DAMAGED)
}
