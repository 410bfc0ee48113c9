//! How to reach etcd ([`LiveOptions`], as `etcdctl` users know it) and the
//! pull's defaults: the flags of `ingest --endpoints` land here.

use std::path::PathBuf;
use std::time::Duration;

/// The default page size of ranges: polite to the server (a page of Events
/// is about 1 MB), large enough that requests do not dominate.
pub const DEFAULT_PAGE_SIZE: i64 = 1000;

/// Key ranges (one watcher each) the history is read in: each round of
/// etcd's watch server reads the history once for all of them and sends
/// each up to 1000 revisions (about 1 MB), so more ranges mean fewer rounds
/// and less of the server's CPU (see `scripts/scale-live.sh`). What they
/// bring ahead of the slowest range is held within
/// [`HELD_MEMORY_BUDGET`], the rest in a temp file.
pub const DEFAULT_WATCHERS: usize = 256;

/// Default memory for records read ahead of the slowest key range (see
/// [`held`](super::held)).
pub const HELD_MEMORY_BUDGET: usize = 64 << 20;

/// How to reach etcd, as `etcdctl` users know it.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// `host:port` or URLs; `https://` (or a bare address with TLS files) uses TLS.
    pub endpoints: Vec<String>,
    pub cacert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub dial_timeout: Duration,
    pub command_timeout: Duration,
    /// Keys per range request.
    pub page_size: i64,
    /// Key ranges the history is read in, one watcher each.
    pub watchers: usize,
    /// Bytes of records read ahead of the slowest key range kept in
    /// memory; the rest waits in a temp file.
    pub read_ahead_memory: usize,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            endpoints: vec!["127.0.0.1:2379".into()],
            cacert: None,
            cert: None,
            key: None,
            user: None,
            password: None,
            dial_timeout: Duration::from_secs(2),
            command_timeout: Duration::from_secs(5),
            page_size: DEFAULT_PAGE_SIZE,
            watchers: DEFAULT_WATCHERS,
            read_ahead_memory: HELD_MEMORY_BUDGET,
        }
    }
}

impl LiveOptions {
    /// The endpoints as given, for messages and `sources.location`.
    pub fn location(&self) -> String {
        self.endpoints.join(",")
    }

    pub(super) fn tls(&self) -> bool {
        self.cacert.is_some()
            || self.cert.is_some()
            || self.endpoints.iter().any(|e| e.starts_with("https://"))
    }

    /// Endpoints as URLs (`https://` when TLS is in use).
    pub(super) fn urls(&self) -> Vec<String> {
        let scheme = if self.tls() { "https://" } else { "http://" };
        self.endpoints
            .iter()
            .map(|e| {
                if e.contains("://") {
                    e.clone()
                } else {
                    format!("{scheme}{e}")
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_tls() {
        let mut o = LiveOptions {
            endpoints: vec!["10.0.0.5:2379".into(), "http://a:1".into()],
            ..LiveOptions::default()
        };
        assert_eq!(o.urls(), vec!["http://10.0.0.5:2379", "http://a:1"]);
        o.cacert = Some("ca.crt".into());
        assert_eq!(o.urls()[0], "https://10.0.0.5:2379");
    }
}
