//! The vocabulary of rows handed to the store by the layers above, and of
//! the counts it hands back: what a source is, its Event and object
//! revisions, tombstones, leases and damaged records (in [`Batch`]es), its
//! audit events, and the closing summaries.

use rusqlite::types::{ToSql, ToSqlOutput};

use crate::decode::DecodedEvent;

/// Where a record was found: the `recovered_from` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveredFrom {
    /// The bbolt tree in use: what etcd itself would read.
    #[default]
    Tree,
    /// A page not reachable from the tree: a leaf bbolt freed when it wrote
    /// a newer copy, or one cut off by damage.
    FreePage,
    /// A running etcd, read through its API (range and watch).
    Live,
    /// An older full copy of the db in a data directory
    /// (`member/snap/*.snap.db`).
    SnapCopy,
    /// A write proposal in the WAL beside the db, replayed to the revision
    /// it took (see [`WalOrigin`]).
    Wal,
}

impl RecoveredFrom {
    /// The column's text (docs/schema.md).
    pub fn as_str(self) -> &'static str {
        match self {
            RecoveredFrom::Tree => "tree",
            RecoveredFrom::FreePage => "free-page",
            RecoveredFrom::Live => "live",
            RecoveredFrom::SnapCopy => "snap-db",
            RecoveredFrom::Wal => "wal",
        }
    }
}

impl ToSql for RecoveredFrom {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

/// What is known about a source before its records are read.
#[derive(Debug, Clone, Default)]
pub struct SourceRecord {
    /// `etcd-snapshot` (has the etcdctl trailer), `etcd-db` (plain bbolt
    /// copy), `etcd-data-dir`.
    pub kind: String,
    pub location: String,
    /// SHA-256 of the input file exactly as given (compressed if it was).
    pub sha256: String,
    pub size_bytes: u64,
    pub compression: Option<String>,
    /// SHA-256 of the decompressed content, for compressed inputs.
    pub content_sha256: Option<String>,
    /// `verified`, `mismatch` or `absent`.
    pub trailer: String,
    /// The SHA-256 the trailer claims, when there is one.
    pub trailer_sha256: Option<String>,
    pub prefix: String,
    pub bolt_page_size: Option<i64>,
    pub bolt_txid: Option<i64>,
    pub bolt_meta_page: Option<i64>,
    pub bolt_meta_note: Option<String>,
    /// The cluster's name, as `ingest --cluster` gave it.
    pub cluster: Option<String>,
}

/// What is known about a source once its records were read.
#[derive(Debug, Clone, Default)]
pub struct SourceFacts {
    pub head_revision: Option<i64>,
    pub compact_revision: Option<i64>,
    pub scheduled_compact_revision: Option<i64>,
    pub consistent_index: Option<i64>,
    /// Replaces `sources.sha256` / `size_bytes` when known only at the end
    /// (a live pull hashes what it read).
    pub sha256: Option<String>,
    pub size_bytes: Option<u64>,
    /// The member ids (hex) of the db's `members` bucket: which etcd.
    pub etcd_members: Vec<String>,
}

/// How a load derives `live` and `deleted_revision`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadPlan {
    /// A rough estimate of the Event revisions the source holds; it decides
    /// whether rebuilding the query indexes at the end is cheaper than
    /// maintaining them. 0 when unknown.
    pub expected_rows: u64,
    /// What the rows' [`Fate`] says. Honoured only while the database holds
    /// no etcd rows (a single source is then the whole history); otherwise
    /// the writer derives everything in SQL.
    pub fates: RowFates,
}

/// How much of their [`Fate`] the rows of a load bring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RowFates {
    /// Nothing: the writer derives `live` and `deleted_revision`.
    #[default]
    Derived,
    /// `live` and `deleted_revision` (a snapshot's key histories). A data
    /// directory's rows bring the fates its db's histories give; the keys
    /// the WAL then adds records to are derived again at the end (see
    /// `Batch::WalBegins`).
    Complete,
    /// `live` (the keys of a running etcd at the pulled head); the writer
    /// derives `deleted_revision` for the keys that have tombstones.
    LiveOnly,
}

/// What a revision's key did later in the source: computed by the loader
/// when [`LoadPlan::fates`] says so, ignored otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fate {
    /// This revision is its key's current value at the source's head: no
    /// later revision of the key (put or tombstone), and read from the tree
    /// (or the API), not from a free page.
    pub live: bool,
    /// The key's first tombstone after this revision.
    pub deleted_revision: Option<i64>,
}

/// How the revision of a write replayed from the WAL was established: the
/// revision counter's starting point. From there etcd's rule gives each
/// applied write transaction the next main revision, and its writes sub
/// revisions 0, 1, …
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevisionBasis {
    /// The WAL begins at raft index 1: the store was empty (revision 1).
    EmptyStore,
    /// A put whose key and value the db (tree or free page) holds, once, at
    /// a known revision.
    StoredRevision,
    /// The db's consistent index, where the store's revision is the db's.
    ConsistentIndex,
}

impl RevisionBasis {
    /// The `revision_basis` column's text (docs/schema.md).
    pub fn as_str(self) -> &'static str {
        match self {
            RevisionBasis::EmptyStore => "counted-from-empty-store",
            RevisionBasis::StoredRevision => "counted-from-stored-revision",
            RevisionBasis::ConsistentIndex => "counted-from-consistent-index",
        }
    }
}

impl ToSql for RevisionBasis {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

/// Why a key was deleted, as the WAL says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionCause {
    /// A delete request (alone or in a transaction).
    DeleteRange,
    /// A lease was revoked (kube-apiserver's TTL expiry, or a client's
    /// revoke): every key attached to it goes.
    LeaseRevoke {
        /// The lease.
        lease: i64,
    },
}

impl DeletionCause {
    /// The `deletions.cause` column's text (docs/schema.md).
    pub fn as_str(self) -> &'static str {
        match self {
            DeletionCause::DeleteRange => "delete-range",
            DeletionCause::LeaseRevoke { .. } => "lease-revoke",
        }
    }

    /// The lease revoked, for a lease revoke.
    pub fn lease(self) -> Option<i64> {
        match self {
            DeletionCause::LeaseRevoke { lease } => Some(lease),
            DeletionCause::DeleteRange => None,
        }
    }
}

/// Where a record replayed from the WAL came from, and how its revision was
/// established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOrigin {
    /// The raft index of the entry that proposed the write.
    pub raft_index: u64,
    /// Its raft term.
    pub raft_term: u64,
    /// How the revision was counted.
    pub basis: RevisionBasis,
    /// For a tombstone: why the key was deleted.
    pub cause: Option<DeletionCause>,
}

/// A WAL write the source's db holds already, byte for byte: the stored
/// row gains its raft entry, a stored tombstone its cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalConfirmation {
    pub key: String,
    pub revision: i64,
    pub sub_revision: i64,
    pub tombstone: bool,
    /// The key is an Event's (else another object's).
    pub event: bool,
    pub origin: WalOrigin,
}

/// A write proposed in the WAL whose outcome or revision could not be
/// established: kept apart from `events`, with why (`wal_unresolved_writes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnresolvedWrite {
    pub raft_index: u64,
    pub raft_term: u64,
    pub key: String,
    /// `put` or `delete`.
    pub operation: &'static str,
    /// Why it is unresolved.
    pub why: String,
    /// The value a put proposed (empty for a delete).
    pub value: Vec<u8>,
}

/// One file a source was read from (`source_files`): a data directory is
/// its db, its older copies and its WAL segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFileRow {
    pub path: String,
    /// `db`, `snap-db` or `wal`.
    pub role: &'static str,
    /// `None` when the file could not be read to its end.
    pub sha256: Option<String>,
    pub size_bytes: u64,
}

/// What replaying a source's WAL gave (`wal_replays`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalReplayRow {
    /// The WAL directory.
    pub directory: String,
    /// Segments read, and the bytes they hold.
    pub files: u64,
    pub bytes: u64,
    /// Raft indexes of the first and last entry read.
    pub first_index: Option<u64>,
    pub last_index: Option<u64>,
    /// The db's consistent index (where the db's state and the WAL meet).
    pub consistent_index: Option<u64>,
    /// Entries committed, replaced by a later term, not known committed.
    pub committed_entries: u64,
    pub replaced_entries: u64,
    pub uncommitted_entries: u64,
    /// Write transactions applied (each took one revision).
    pub applied_writes: u64,
    /// Puts and tombstones replayed to a revision (every key).
    pub replayed_records: u64,
    /// Transactions whose compares did not hold: their success branch did
    /// not apply.
    pub failed_compares: u64,
    /// Writes whose outcome or revision is unknown.
    pub unresolved: u64,
    /// Times the counted revision disagreed with a stored anchor (the
    /// anchor wins).
    pub contradictions: u64,
    /// Frames or entries that could not be read.
    pub damaged: u64,
}

/// One stored revision of an Event key.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub key: String,
    pub mod_revision: i64,
    pub sub_revision: i64,
    pub create_revision: i64,
    pub version: i64,
    pub lease: i64,
    pub recovered_from: RecoveredFrom,
    pub decoded: DecodedEvent,
    /// The Event's JSON text, `decoded.object` taken out of `decoded` (it is
    /// written in the parallel decode stage).
    pub object_json: Option<String>,
    /// The stored value, exactly.
    pub raw: Vec<u8>,
    pub fate: Fate,
    /// When the Event happened, see
    /// [`crate::decode::EventFields::occurred_at`] (computed in the decode
    /// stage, off the writer thread).
    pub occurred_at: Option<String>,
    /// For a write replayed from the WAL.
    pub wal: Option<WalOrigin>,
}

/// One stored revision of an object that is not an Event (any kind under
/// the registry root): its metadata only, never its content.
#[derive(Debug, Clone, Default)]
pub struct ObjectRow {
    pub key: String,
    /// The resource named by the key (`pods`, `deployments`, …).
    pub resource: Option<String>,
    pub mod_revision: i64,
    pub sub_revision: i64,
    pub create_revision: i64,
    pub version: i64,
    pub lease: i64,
    pub recovered_from: RecoveredFrom,
    /// `protobuf`, `json`, `encrypted`, `unknown`.
    pub encoding: &'static str,
    pub decode_note: Option<String>,
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub uid: Option<String>,
    pub creation_timestamp: Option<String>,
    pub deletion_timestamp: Option<String>,
    /// JSON object, `None` when the object has no labels.
    pub labels: Option<String>,
    /// JSON array of `{kind, name, uid, controller}` (and `apiVersion`),
    /// `None` when the object has no owners.
    pub owner_references: Option<String>,
    pub fate: Fate,
}

/// A tombstone.
#[derive(Debug, Clone)]
pub struct DeletionRow {
    pub key: String,
    pub revision: i64,
    pub sub_revision: i64,
    /// `tree` or `free-page`, as for events.
    pub recovered_from: RecoveredFrom,
    /// For a tombstone replayed from the WAL (with its cause).
    pub wal: Option<WalOrigin>,
}

/// A record that could not be read, with where it was.
#[derive(Debug, Clone, Default)]
pub struct DamageRow {
    pub page: Option<i64>,
    pub offset: Option<i64>,
    pub revision: Option<i64>,
    pub sub_revision: Option<i64>,
    pub key: Option<String>,
    /// The file, for damage in a text input (an audit log).
    pub file: Option<String>,
    /// The line number (1-based) in that file.
    pub line: Option<i64>,
    pub reason: String,
}

/// An entry of etcd's `lease` bucket.
#[derive(Debug, Clone)]
pub struct LeaseRow {
    pub lease: i64,
    pub ttl_seconds: Option<i64>,
    pub remaining_ttl_seconds: Option<i64>,
}

/// Rows travel from the decode stage to the writer in batches.
#[derive(Debug)]
pub enum Batch {
    Events(Vec<EventRow>),
    Deletions(Vec<DeletionRow>),
    Damage(Vec<DamageRow>),
    Leases(Vec<LeaseRow>),
    /// Revisions of other objects under the registry root.
    Objects(Vec<ObjectRow>),
    /// Tombstones of other objects' keys.
    ObjectDeletions(Vec<DeletionRow>),
    /// WAL writes whose outcome or revision is unknown.
    Unresolved(Vec<UnresolvedWrite>),
    /// WAL writes the db holds already.
    Confirmations(Vec<WalConfirmation>),
    /// The WAL's records follow: what comes after is the WAL's (see
    /// `RowFates::Complete`).
    WalBegins,
    /// What the WAL replay gave.
    WalReplay(Box<WalReplayRow>),
    /// Files the source was read from.
    SourceFiles(Vec<SourceFileRow>),
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        match self {
            Batch::Events(v) => v.is_empty(),
            Batch::Deletions(v) => v.is_empty(),
            Batch::Damage(v) => v.is_empty(),
            Batch::Leases(v) => v.is_empty(),
            Batch::Objects(v) => v.is_empty(),
            Batch::ObjectDeletions(v) => v.is_empty(),
            Batch::Unresolved(v) => v.is_empty(),
            Batch::Confirmations(v) => v.is_empty(),
            Batch::WalBegins => false,
            Batch::WalReplay(_) => false,
            Batch::SourceFiles(v) => v.is_empty(),
        }
    }
}

/// Counts for the closing summary of one source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadSummary {
    pub source_id: i64,
    /// Event revisions the source holds.
    pub event_revisions: u64,
    /// Of those, revisions found only in free pages, not in the tree.
    pub free_page_event_revisions: u64,
    /// Of those, revisions no earlier source had loaded.
    pub new_event_revisions: u64,
    /// Event revisions that are the current value of their key at the
    /// source's head revision.
    pub live_event_revisions: u64,
    pub tombstones: u64,
    /// Of the tombstones, those found only in free pages.
    pub free_page_tombstones: u64,
    pub damaged_records: u64,
    /// Revisions of other objects (not Events) under the registry root.
    pub object_revisions: u64,
    /// Tombstones of other objects' keys.
    pub object_tombstones: u64,
    /// Event revisions replayed from the WAL, and of those the ones the db
    /// (tree or free pages) does not hold.
    pub wal_event_revisions: u64,
    pub wal_only_event_revisions: u64,
    /// Event tombstones replayed from the WAL.
    pub wal_tombstones: u64,
    /// Event revisions only an older copy of the db holds.
    pub snap_copy_event_revisions: u64,
    /// The WAL replay's figures, when the source has a WAL.
    pub wal: Option<WalReplayRow>,
    /// What became of the source's Event revisions, as the database knows
    /// it once the source is in (the `event_fates` view).
    pub fates: EventFateCounts,
    /// The uid of the kube-system namespace as this source holds it (its
    /// newest revision): the Kubernetes cluster's identity.
    pub kube_system_uid: Option<String>,
    /// The revision that uid was read at (the newest wins).
    pub kube_system_revision: i64,
    /// The database's cluster name once the source is in.
    pub cluster: Option<String>,
}

/// Event revisions by fate (the `event_fates` view, docs/schema.md): live,
/// superseded by a later revision of their Event, gone (the Event's key
/// generation ended) with how that is known, or unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFateCounts {
    pub live: u64,
    pub superseded: u64,
    pub gone: u64,
    /// The gone ones by `gone_because` (`tombstone`, `lease-revoke`,
    /// `delete`, `compacted-key-absent-from-head`, `compacted-key-recreated`),
    /// most first.
    pub gone_because: Vec<(String, u64)>,
    /// No source with a known head revision covers them.
    pub unknown: u64,
}

/// One audit event, as stored in `audit_events` (see `docs/schema.md`).
/// Timestamps are RFC 3339 UTC with six fractional digits; the JSON columns
/// hold JSON text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditRow {
    /// 1-based line of the file where the record starts.
    pub line: i64,
    pub audit_id: String,
    pub stage: String,
    pub api_version: Option<String>,
    pub level: Option<String>,
    pub verb: Option<String>,
    pub request_uri: Option<String>,
    pub username: Option<String>,
    pub user_groups: Option<String>,
    pub impersonated_user: Option<String>,
    pub source_ips: Option<String>,
    pub user_agent: Option<String>,
    pub object_resource: Option<String>,
    pub object_subresource: Option<String>,
    pub object_namespace: Option<String>,
    pub object_name: Option<String>,
    pub object_uid: Option<String>,
    pub object_api_group: Option<String>,
    pub object_api_version: Option<String>,
    pub object_resource_version: Option<String>,
    pub response_code: Option<i64>,
    pub response_reason: Option<String>,
    pub response_message: Option<String>,
    pub request_received_timestamp: Option<String>,
    pub stage_timestamp: Option<String>,
    pub annotations: Option<String>,
    pub request_object: Option<String>,
    pub response_object: Option<String>,
    /// The record's text: the line, or for an event inside a batch or a
    /// managed-cluster wrapper, that event's JSON.
    pub raw: String,
}

/// Counts for the closing summary of one audit file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditSummary {
    pub source_id: i64,
    /// Audit events read from the file.
    pub audit_events: u64,
    /// Of those, how many were not in the database yet (by auditID and stage).
    pub new_audit_events: u64,
    /// Lines or records that could not be read.
    pub damaged_records: u64,
}
