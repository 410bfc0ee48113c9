//! What one `ingest` run is asked to load, checked once by the command
//! line before anything is opened.

use std::path::PathBuf;

use crate::source::live::LiveOptions;
use crate::source::registry::DEFAULT_PREFIX;

/// What the caller wants loaded.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Only keys under this prefix are Event keys.
    pub prefix: String,
    /// The cluster's name (`--cluster`), recorded with every source; a
    /// database holds one cluster.
    pub cluster: Option<String>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            prefix: DEFAULT_PREFIX.to_string(),
            cluster: None,
        }
    }
}

/// The inputs of one run: files and directories, or a running etcd.
#[derive(Debug)]
pub enum Inputs {
    /// Snapshots, data directories, audit logs and directories of them,
    /// each recognized by its content.
    Files(Vec<PathBuf>),
    /// A running etcd, read through its API; with `save_snapshot`, a
    /// snapshot is first saved to that file, which is then loaded.
    Live {
        options: Box<LiveOptions>,
        save_snapshot: Option<PathBuf>,
    },
}

/// A validated `ingest` run.
#[derive(Debug)]
pub struct IngestPlan {
    pub options: IngestOptions,
    pub inputs: Inputs,
}
