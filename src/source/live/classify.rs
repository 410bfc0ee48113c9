//! What went wrong in an etcd call, named: unreachable, login refused, a
//! compacted revision, a watcher the server cancelled, or a failed request.
//! etcd's client gives one error type with a message; the pull tells these
//! apart by that message.

use super::error::LiveError;

/// Names what went wrong in an etcd call.
pub(super) fn classify(endpoints: &str, what: &str, e: etcd_client::Error) -> LiveError {
    let mut detail = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        detail.push_str(": ");
        detail.push_str(&c.to_string());
        cause = c.source();
    }
    if detail.contains("authentication failed")
        || detail.contains("invalid auth token")
        || detail.contains("user name is empty")
        || detail.contains("permission denied")
        || detail.contains("Unauthenticated")
    {
        return LiveError::Auth {
            endpoints: endpoints.to_string(),
            detail,
        };
    }
    if detail.contains("Connection refused")
        || detail.contains("dns error")
        || detail.contains("tcp connect error")
    {
        return LiveError::Unreachable {
            endpoint: endpoints.to_string(),
            detail,
        };
    }
    LiveError::Request {
        endpoints: endpoints.to_string(),
        what: what.to_string(),
        detail,
    }
}

/// Whether etcd refused a request at a revision compaction removed.
pub(super) fn is_compacted(e: &etcd_client::Error) -> bool {
    e.to_string()
        .contains("required revision has been compacted")
}

/// A watcher the server cancelled (not for a compaction, which callers
/// handle first).
pub(super) fn cancelled_by_server(endpoints: &str, resp: &etcd_client::WatchResponse) -> LiveError {
    LiveError::Request {
        endpoints: endpoints.to_string(),
        what: "watch".into(),
        detail: format!("cancelled by the server: {}", resp.cancel_reason()),
    }
}
