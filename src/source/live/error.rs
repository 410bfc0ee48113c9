//! Why a live pull failed ([`LiveError`]): every message names the
//! endpoint, the flag and file, or the request, so that the user can act on it.

use std::io;
use std::time::Duration;

/// Why a live pull failed. Every message says which endpoint or file.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("{flag} {path}: cannot read: {source}")]
    ReadFile {
        flag: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{flag} {path}: {problem}")]
    BadFile {
        flag: &'static str,
        path: String,
        problem: String,
    },
    #[error("{0}")]
    Config(String),
    #[error("cannot reach etcd at {endpoint}: {detail}")]
    Unreachable { endpoint: String, detail: String },
    #[error("TLS with etcd at {endpoint} failed: {detail}")]
    Tls { endpoint: String, detail: String },
    #[error("etcd at {endpoints} refused the login: {detail}")]
    Auth { endpoints: String, detail: String },
    #[error("etcd at {endpoints}: {what} failed: {detail}")]
    Request {
        endpoints: String,
        what: String,
        detail: String,
    },
    #[error("etcd at {endpoints}: {what} got no answer within --command-timeout {timeout:?}")]
    Timeout {
        endpoints: String,
        what: String,
        timeout: Duration,
    },
    #[error("a compaction to revision {compact} overtook the pinned head revision {head} before it was read; run again")]
    CompactedHead { head: i64, compact: i64 },
    #[error("writing the snapshot {path}: {source}")]
    SnapshotFile {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("starting the async runtime: {0}")]
    Runtime(#[source] io::Error),
    #[error("the live reader stopped unexpectedly")]
    ReaderGone,
    #[error("holding the history read ahead in a temp file beside the database: {0}")]
    Spill(#[source] io::Error),
}
