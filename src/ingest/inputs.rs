//! A run's input files, each loaded by the loader its content calls for:
//! chosen here, in one place, for inputs named on the command line and for
//! the files of a directory alike. What happens is told to an
//! [`IngestReport`].

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::audit::ingest_audit_file;
use super::error::IngestError;
use super::outcome::{AlreadyLoaded, AuditLoaded, AuditOutcome, LoadedSource, SourceOutcome};
use super::plan::IngestOptions;
use super::snapshot::ingest_source;
use super::wal::ingest_wal;
use crate::source::input::{self, InputError, Recognized};
use crate::store::Store;

/// What a run tells as it goes (the command line prints it).
pub trait IngestReport: Sync {
    /// An etcd source named on the command line is about to be read.
    fn reading(&mut self, input: &Path);
    /// Records read so far from that source (called from the reading thread).
    fn progress(&self, records: u64);
    /// Its reading ended, loaded or not.
    fn done_reading(&mut self);
    /// An etcd source was loaded.
    fn loaded(&mut self, input: &Path, loaded: &LoadedSource, took: Duration);
    /// An audit log was loaded.
    fn audit_loaded(&mut self, input: &Path, loaded: &AuditLoaded);
    /// An input's content was loaded before: nothing was added.
    fn already_loaded(&mut self, input: &Path, already: &AlreadyLoaded);
    /// An input could not be loaded.
    fn failed(&mut self, input: &Path, error: &IngestError);
    /// A directory of files (not an etcd data directory) was read.
    fn directory_read(&mut self, directory: &Path, listing: &DirectoryListing);
}

/// What reading a directory of files gave.
#[derive(Debug, Default)]
pub struct DirectoryListing {
    /// Regular files in the directory.
    pub files: usize,
    /// Files loaded (or already loaded).
    pub loaded: usize,
    /// Files that are not evidence this tool reads, with why.
    pub skipped: Vec<String>,
}

impl DirectoryListing {
    /// Nothing in the directory was evidence: the run fails.
    pub fn holds_no_evidence(&self) -> bool {
        self.loaded == 0 && self.skipped.len() == self.files
    }
}

/// Totals of a run, for its exit code.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Inputs that failed to load.
    pub failed: usize,
    /// Damaged records skipped in the inputs that loaded.
    pub damaged: u64,
}

/// Loads each file or directory in turn into `store`.
pub fn ingest_files(
    store: &mut Store,
    files: &[PathBuf],
    options: &IngestOptions,
    report: &mut dyn IngestReport,
) -> Totals {
    let mut totals = Totals::default();
    for file in files {
        let recognized = input::recognize(file);
        if let Ok(Recognized::Directory(inside)) = recognized {
            read_directory(store, file, inside, options, report, &mut totals);
            continue;
        }
        // What is not recognized goes to the snapshot reader, which says
        // what is wrong with it.
        let loader = recognized.unwrap_or(Recognized::Etcd);
        match load_one(store, file, loader, options, Shown::Progress, report) {
            Ok(damaged) => totals.damaged += damaged,
            Err(e) => {
                totals.failed += 1;
                report.failed(file, &e);
            }
        }
    }
    totals
}

/// Whether a load shows its progress (inputs named on the command line) or
/// not (files of a directory).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shown {
    Progress,
    Quiet,
}

/// A directory that is not an etcd data directory: every regular file
/// inside that is an audit log or an etcd file is loaded; the others are
/// reported as skipped, and subdirectories are not entered.
fn read_directory(
    store: &mut Store,
    directory: &Path,
    files: Vec<PathBuf>,
    options: &IngestOptions,
    report: &mut dyn IngestReport,
    totals: &mut Totals,
) {
    let files = without_database(files, store.working_file());
    let mut listing = DirectoryListing {
        files: files.len(),
        ..DirectoryListing::default()
    };
    for file in &files {
        let loaded = match input::recognize(file) {
            Ok(Recognized::Directory(_)) => continue,
            Ok(loader) => load_one(store, file, loader, options, Shown::Quiet, report),
            Err(e) => Err(e.into()),
        };
        match loaded {
            Ok(damaged) => {
                listing.loaded += 1;
                totals.damaged += damaged;
            }
            // Not evidence this tool reads: skipped, said so.
            Err(
                e @ (IngestError::NotAuditLog { .. }
                | IngestError::Input(InputError::Unrecognized { .. })
                | IngestError::Input(InputError::Empty { .. })),
            ) => listing.skipped.push(e.to_string()),
            Err(e) => {
                totals.failed += 1;
                report.failed(file, &e);
            }
        }
    }
    if listing.holds_no_evidence() {
        totals.failed += 1;
    }
    report.directory_read(directory, &listing);
}

/// Loads one file with the loader chosen for it; returns its damaged
/// records.
fn load_one(
    store: &mut Store,
    file: &Path,
    loader: Recognized,
    options: &IngestOptions,
    shown: Shown,
    report: &mut dyn IngestReport,
) -> Result<u64, IngestError> {
    match loader {
        Recognized::AuditLog(compression) => {
            match ingest_audit_file(store, file, compression, options)? {
                AuditOutcome::Loaded(loaded) => {
                    report.audit_loaded(file, &loaded);
                    Ok(loaded.summary.damaged_records)
                }
                AuditOutcome::AlreadyLoaded(already) => {
                    report.already_loaded(file, &already);
                    Ok(0)
                }
            }
        }
        Recognized::Etcd | Recognized::Directory(_) | Recognized::Wal(_) => {
            let started = Instant::now();
            let load = |store: &mut Store, progress: &(dyn Fn(u64) + Sync)| match &loader {
                Recognized::Wal(wal) => ingest_wal(store, wal, options, progress),
                _ => ingest_source(store, file, options, progress),
            };
            let outcome = if shown == Shown::Progress {
                report.reading(file);
                let outcome = {
                    let shown: &dyn IngestReport = report;
                    load(store, &|n| shown.progress(n))
                };
                report.done_reading();
                outcome
            } else {
                load(store, &|_| {})
            };
            match outcome? {
                SourceOutcome::Loaded(loaded) => {
                    report.loaded(file, &loaded, started.elapsed());
                    Ok(loaded.summary.damaged_records)
                }
                SourceOutcome::AlreadyLoaded(already) => {
                    report.already_loaded(file, &already);
                    Ok(0)
                }
            }
        }
    }
}

/// The output database (or the temp file a new one is built in) may sit in
/// the directory being read: it is not evidence. (A database not yet
/// published has no file under its own name.)
fn without_database(files: Vec<PathBuf>, database: &Path) -> Vec<PathBuf> {
    let Ok(database) = std::fs::canonicalize(database) else {
        return files;
    };
    files
        .into_iter()
        .filter(|f| std::fs::canonicalize(f).map_or(true, |f| f != database))
        .collect()
}
