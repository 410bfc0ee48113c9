//! What loading one input gave: a summary of what it loaded, or the
//! source that already holds the same content.

use crate::source::free_pages::FreePageScan;
use crate::source::input::Trailer;
use crate::source::live::PullFacts;
use crate::store::{AuditSummary, LoadSummary};

/// A source whose content (same SHA-256; for etcd, the same prefix too) was
/// loaded before: nothing is added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlreadyLoaded {
    pub source_id: i64,
    pub sha256: String,
}

/// What happened to one source.
#[derive(Debug)]
pub enum SourceOutcome {
    Loaded(Box<LoadedSource>),
    /// The same content was loaded before.
    AlreadyLoaded(AlreadyLoaded),
}

/// The closing summary of a loaded source.
#[derive(Debug)]
pub struct LoadedSource {
    pub summary: LoadSummary,
    pub sha256: String,
    pub trailer: Trailer,
    pub kind: &'static str,
    pub compression: Option<&'static str>,
    pub head_revision: Option<i64>,
    pub compact_revision: Option<i64>,
    /// Set when one meta page was damaged and the other used.
    pub meta_note: Option<String>,
    /// `TRUNCATED: …` or `DAMAGED: …`: what the summary says first.
    pub condition: Option<String>,
    /// The file is shorter than its pages.
    pub truncated: bool,
    /// The first few damaged records, for the summary.
    pub damage_examples: Vec<String>,
    /// What the scan of free pages found.
    pub free_scan: FreePageScan,
    /// For a live pull: what it found out about the cluster.
    pub live: Option<PullFacts>,
}

/// What happened to one audit file.
#[derive(Debug)]
pub enum AuditOutcome {
    Loaded(AuditLoaded),
    /// A file with the same SHA-256 was loaded before.
    AlreadyLoaded(AlreadyLoaded),
}

/// The closing summary of a loaded audit file.
#[derive(Debug)]
pub struct AuditLoaded {
    pub summary: AuditSummary,
    pub sha256: String,
    pub compression: Option<&'static str>,
    /// Records of other kinds skipped (e.g. an AKS record of another category).
    pub foreign: u64,
    /// The first damaged lines, as `file:line: reason`.
    pub damage_examples: Vec<String>,
}
