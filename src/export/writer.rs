//! What every format is: a writer of exported records, one at a time, and
//! a finish (formats that group records — traces — write what they held).

use super::record::Record;

/// What the command line says for every format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOptions {
    /// The index named in Elasticsearch action lines.
    pub index: String,
    /// The cluster's name (`orchestrator.cluster.name`, `k8s.cluster.name`),
    /// when known.
    pub cluster: Option<String>,
    /// `evforensics X.Y.Z`: the instrumentation scope's version.
    pub tool_version: String,
}

/// One output format.
pub trait ExportWriter {
    /// Writes (or holds) one record.
    fn record(&mut self, record: &Record) -> anyhow::Result<()>;
    /// Writes what is held and flushes.
    fn finish(self: Box<Self>) -> anyhow::Result<()>;
    /// Which of the store's costlier columns this format reads.
    fn columns(&self) -> crate::store::export::ExportColumns {
        Default::default()
    }
}
