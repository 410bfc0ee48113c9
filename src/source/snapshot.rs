//! An etcd bbolt file (a snapshot, or a data directory's `member/snap/db`)
//! read for a load: its meta pages, the `meta` and `lease` buckets, every
//! `key`-bucket revision the tree holds, then those left in pages the tree
//! no longer reaches. What is read goes to a [`RecordSink`].

use std::fs::File;

use super::bolt::{BoltDb, BoltError, Bucket, ReadAt};
use super::free_pages::{for_each_free_key_entry, FreePageScan};
use super::input::{self, PreparedInput};
use super::mvcc::{self, MvccMeta, Revision};
use super::sink::RecordSink;
use crate::helpers::hex;
use crate::store::{DamageRow, LeaseRow, RecoveredFrom, SourceFacts};

/// Why an etcd file cannot be loaded at all (damaged records are not
/// errors: they go to the sink).
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{path}: {source}")]
    Bolt {
        path: String,
        #[source]
        source: BoltError,
    },
    #[error("{path}: the bbolt file has no etcd `key` bucket (buckets present: {buckets}); is this an etcd v3 data file?")]
    NoKeyBucket { path: String, buckets: String },
}

/// An etcd file opened for a load.
pub struct Snapshot<'f> {
    db: BoltDb<&'f File>,
    key_bucket: Option<Bucket>,
    /// Why the tree could not reach the `key` bucket: not fatal, its
    /// leaves are then found among the unreachable pages.
    key_bucket_damage: Option<BoltError>,
}

/// What reading a snapshot found besides its records.
#[derive(Debug, Default)]
pub struct SnapshotRead {
    pub facts: SourceFacts,
    pub free_scan: FreePageScan,
}

impl<'f> Snapshot<'f> {
    /// Opens the bbolt content of `input` and finds its `key` bucket; a
    /// file without one is not etcd's.
    pub fn open(input: &'f PreparedInput) -> Result<Self, SnapshotError> {
        let db = open_bolt(input)?;
        let (key_bucket, key_bucket_damage) = match db.bucket(b"key") {
            Ok(Some(b)) => (Some(b), None),
            Ok(None) => {
                let names = db
                    .root_bucket_names()
                    .map(|names| {
                        names
                            .iter()
                            .map(|n| String::from_utf8_lossy(n).into_owned())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_else(|e| format!("unreadable: {e}"));
                return Err(SnapshotError::NoKeyBucket {
                    path: input.evidence_file.display().to_string(),
                    buckets: if names.is_empty() {
                        "none".into()
                    } else {
                        names
                    },
                });
            }
            Err(e) => (None, Some(e)),
        };
        Ok(Snapshot {
            db,
            key_bucket,
            key_bucket_damage,
        })
    }

    /// The bbolt file.
    pub fn db(&self) -> &BoltDb<&'f File> {
        &self.db
    }

    /// Reads everything into `sink` (see [`read_snapshot`]).
    pub fn read_into<S: RecordSink + ?Sized>(self, sink: &mut S) -> SnapshotRead {
        read_snapshot(
            &self.db,
            self.key_bucket.as_ref(),
            self.key_bucket_damage,
            sink,
        )
    }
}

/// Opens the bbolt content of a prepared input.
pub fn open_bolt(input: &PreparedInput) -> Result<BoltDb<&File>, SnapshotError> {
    // Capped at the bbolt content: a snapshot's hash trailer is not pages.
    BoltDb::open_with_len(&input.bolt_file, input.bolt_len).map_err(|source| SnapshotError::Bolt {
        path: input.evidence_file.display().to_string(),
        source,
    })
}

/// A file shorter than its pages: the meta page in use says how many
/// pages the db has (its high-water mark), the file holds fewer bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncation {
    /// The bytes the file holds (the bbolt content: a trailer aside).
    pub len: u64,
    /// The bytes the high-water mark's pages take.
    pub needs: u64,
}

impl std::fmt::Display for Truncation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TRUNCATED: the file is {} bytes, the meta page's high-water mark needs {}",
            thousands(self.len),
            thousands(self.needs)
        )
    }
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The file is cut short, when it is: a copy interrupted, a download
/// incomplete. What is past its end is lost; what it holds still loads.
pub fn truncation<R: ReadAt>(db: &BoltDb<R>) -> Option<Truncation> {
    let needs = db.meta().hwm.saturating_mul(u64::from(db.page_size()));
    let len = db.file_len();
    (len < needs).then_some(Truncation { len, needs })
}

/// What `info` and `ingest` say first about a file that is not whole:
/// `TRUNCATED: …` (see [`truncation`]), or `DAMAGED: …` for a damaged meta
/// page.
pub fn file_condition<R: ReadAt>(db: &BoltDb<R>) -> Option<String> {
    truncation(db)
        .map(|t| t.to_string())
        .or_else(|| meta_note(db).map(|note| format!("DAMAGED: {note}")))
}

/// The member ids of the db's `members` bucket (etcd writes each as
/// hex text): which etcd the file comes from. Empty when the bucket is
/// missing or unreadable.
pub fn etcd_members<R: ReadAt>(db: &BoltDb<R>) -> Vec<String> {
    let mut ids = Vec::new();
    if let Ok(Some(bucket)) = db.bucket(b"members") {
        db.for_each(&bucket, |k, _| {
            ids.push(String::from_utf8_lossy(k).into_owned());
        });
    }
    ids.sort();
    ids
}

/// Describes a damaged meta page, if one was.
pub fn meta_note<R: ReadAt>(db: &BoltDb<R>) -> Option<String> {
    let reports = db.meta_reports();
    let used = db.meta().page_id;
    let damaged: Vec<String> = reports
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.problem().map(|e| format!("meta page {i} damaged: {e}")))
        .collect();
    if damaged.is_empty() {
        None
    } else {
        Some(format!(
            "{}; using meta page {used} (txid {})",
            damaged.join("; "),
            db.meta().txid
        ))
    }
}

/// A data directory may belong to a running etcd (it is read without a
/// lock): if `member/snap/db` changed while it was read, the hash recorded
/// is not of what was read, and pages may mix two moments. Say so.
pub fn check_unchanged(input: &PreparedInput, sink: &mut (impl RecordSink + ?Sized)) {
    let reason = match input::sha256_file(&input.evidence_file) {
        Ok(after) if after == input.sha256 => return,
        Ok(after) => format!(
            "{} changed while it was read (a running etcd?): sha256 {} before, {after} after; the rows are what was read and may mix two moments — for evidence, copy the file or save a snapshot first",
            input.evidence_file.display(),
            input.sha256
        ),
        Err(e) => format!("re-reading to check it did not change: {e}"),
    };
    sink.damage(DamageRow {
        reason,
        ..DamageRow::default()
    });
}

/// Reads one bbolt file into the sink: damaged meta pages, the `meta` and
/// `lease` buckets, the `key` bucket's tree, then the `key`-bucket leaves
/// among the pages the tree does not reach.
fn read_snapshot<R: ReadAt, S: RecordSink + ?Sized>(
    db: &BoltDb<R>,
    key_bucket: Option<&Bucket>,
    key_bucket_damage: Option<BoltError>,
    sink: &mut S,
) -> SnapshotRead {
    for (page, report) in db.meta_reports().iter().enumerate() {
        if let Some(problem) = report.problem() {
            sink.damage(DamageRow {
                page: Some(page as i64),
                offset: report.offset.and_then(|o| i64::try_from(o).ok()),
                reason: format!("meta page {page}: {problem}"),
                ..DamageRow::default()
            });
        }
    }
    let mut mvcc_meta = MvccMeta::default();
    read_small_buckets(db, &mut mvcc_meta, sink);
    for p in &mvcc_meta.problems {
        sink.damage(DamageRow {
            reason: p.clone(),
            ..DamageRow::default()
        });
    }

    if let Some(e) = key_bucket_damage {
        sink.damage(DamageRow {
            reason: format!(
                "the key bucket cannot be reached through the tree ({e}); its pages are searched among the unreachable ones"
            ),
            ..DamageRow::default()
        });
    }
    let mut head_revision = None;
    let scan = for_each_key_record(db, key_bucket, |record| match record {
        KeyRecord::Revision(rev, v, from) => {
            if from == RecoveredFrom::Tree {
                head_revision = head_revision.max(Some(rev.main));
            }
            sink.push(rev, v, from);
        }
        KeyRecord::Damage(row) => sink.damage(row),
    });
    let facts = SourceFacts {
        head_revision: head_revision.max(mvcc_meta.finished_compact_revision),
        compact_revision: mvcc_meta.finished_compact_revision,
        scheduled_compact_revision: mvcc_meta.scheduled_compact_revision,
        consistent_index: mvcc_meta
            .consistent_index
            .and_then(|c| i64::try_from(c).ok()),
        ..SourceFacts::default()
    };
    SnapshotRead {
        facts,
        free_scan: scan,
    }
}

/// One entry of the `key` bucket, or what made one unreadable.
pub enum KeyRecord<'v> {
    Revision(Revision, &'v [u8], RecoveredFrom),
    Damage(DamageRow),
}

/// Every `key`-bucket entry of a bbolt file, in the order a load reads
/// them: the tree's, then those of `key`-bucket leaves among the pages the
/// tree does not reach (after the tree, so that a revision the tree holds
/// keeps `recovered_from = 'tree'`).
pub fn for_each_key_record<R: ReadAt>(
    db: &BoltDb<R>,
    key_bucket: Option<&Bucket>,
    mut visit: impl FnMut(KeyRecord<'_>),
) -> FreePageScan {
    if let Some(key_bucket) = key_bucket {
        let report = db.for_each(key_bucket, |k, v| match Revision::parse(k) {
            Ok(rev) => visit(KeyRecord::Revision(rev, v, RecoveredFrom::Tree)),
            Err(e) => visit(KeyRecord::Damage(DamageRow {
                reason: format!("key bucket entry {}: {e}", hex(k)),
                ..DamageRow::default()
            })),
        });
        for d in &report.damage {
            visit(KeyRecord::Damage(DamageRow {
                page: i64::try_from(d.page).ok(),
                offset: i64::try_from(d.offset).ok(),
                reason: d.reason.to_string(),
                ..DamageRow::default()
            }));
        }
    }
    for_each_free_key_entry(db, |_, rev, v| {
        visit(KeyRecord::Revision(rev, v, RecoveredFrom::FreePage))
    })
}

/// The `meta` bucket's facts, without reporting damage (the load does):
/// for a first pass that needs them before the load.
pub fn mvcc_meta_of<R: ReadAt>(db: &BoltDb<R>) -> MvccMeta {
    let mut meta = MvccMeta::default();
    if let Ok(Some(b)) = db.bucket(b"meta") {
        db.for_each(&b, |k, v| meta.add_entry(k, v));
    }
    meta
}

/// The `meta` and `lease` buckets: small, read before the big walk.
fn read_small_buckets<R: ReadAt, S: RecordSink + ?Sized>(
    db: &BoltDb<R>,
    meta: &mut MvccMeta,
    sink: &mut S,
) {
    let note_damage = |sink: &mut S, bucket: &str, e: String| {
        sink.damage(DamageRow {
            reason: format!("bucket {bucket}: {e}"),
            ..DamageRow::default()
        })
    };
    match db.bucket(b"meta") {
        Ok(Some(b)) => {
            let report = db.for_each(&b, |k, v| meta.add_entry(k, v));
            for d in &report.damage {
                note_damage(sink, "meta", d.to_string());
            }
        }
        Ok(None) => note_damage(sink, "meta", "missing".into()),
        Err(e) => note_damage(sink, "meta", e.to_string()),
    }
    match db.bucket(b"lease") {
        Ok(Some(b)) => {
            let mut leases = Vec::new();
            let mut bad = Vec::new();
            let report = db.for_each(&b, |k, v| match mvcc::decode_lease(k, v) {
                Ok(l) => leases.push(LeaseRow {
                    lease: l.id,
                    ttl_seconds: Some(l.ttl),
                    remaining_ttl_seconds: Some(l.remaining_ttl),
                }),
                Err(e) => bad.push(e),
            });
            for e in bad {
                note_damage(sink, "lease", e);
            }
            for d in &report.damage {
                note_damage(sink, "lease", d.to_string());
            }
            sink.leases(leases);
        }
        // Without leases the bucket may be absent: no damage.
        Ok(None) => {}
        Err(e) => note_damage(sink, "lease", e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::input::InputKind;

    /// Keeps the damage rows it is given.
    #[derive(Default)]
    struct DamageOnly(Vec<DamageRow>);

    impl RecordSink for DamageOnly {
        fn push(&mut self, _: Revision, _: &[u8], _: RecoveredFrom) {}
        fn damage(&mut self, row: DamageRow) {
            self.0.push(row);
        }
        fn leases(&mut self, _: Vec<LeaseRow>) {}
    }

    /// A `member/snap/db` that changes between hashing and reading (a
    /// running etcd's) gives one damaged-record note saying so.
    #[test]
    fn a_data_directory_that_changes_while_read_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let snap = dir.path().join("etcd/member/snap");
        std::fs::create_dir_all(&snap).unwrap();
        let sample =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample/member-snap-db");
        std::fs::copy(&sample, snap.join("db")).unwrap();
        let input = input::prepare(&dir.path().join("etcd")).unwrap();
        assert_eq!(input.kind, InputKind::DataDir);
        let mut sink = DamageOnly::default();
        check_unchanged(&input, &mut sink);
        assert!(sink.0.is_empty(), "unchanged: no note");
        // etcd writes a page meanwhile.
        let mut bytes = std::fs::read(snap.join("db")).unwrap();
        bytes[3 * 4096 + 100] ^= 0xff;
        std::fs::write(snap.join("db"), bytes).unwrap();

        check_unchanged(&input, &mut sink);
        assert_eq!(sink.0.len(), 1);
        let reason = &sink.0[0].reason;
        assert!(reason.contains("changed while it was read"), "{reason}");
    }
}

#[cfg(test)]
mod condition_tests {
    use super::thousands;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(2_789_376), "2,789,376");
    }
}
