//! How the pull waits on etcd: the runtime a blocking entry point runs its
//! calls on, each call within `--command-timeout`, and a watch's next
//! answer within the time a busy server's sync round may take. The loader
//! stays synchronous; only the calls to etcd are async.

use std::time::Duration;

use super::classify::classify;
use super::error::LiveError;
use super::options::LiveOptions;

/// The runtime (two worker threads) a pull or a snapshot save runs its
/// calls on.
pub(super) fn runtime() -> Result<tokio::runtime::Runtime, LiveError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(LiveError::Runtime)
}

/// `f`, or a [`LiveError::Timeout`] naming `what` once `--command-timeout`
/// passes.
pub(super) async fn with_timeout<F: std::future::Future>(
    opts: &LiveOptions,
    what: &str,
    f: F,
) -> Result<F::Output, LiveError> {
    tokio::time::timeout(opts.command_timeout, f)
        .await
        .map_err(|_| LiveError::Timeout {
            endpoints: opts.location(),
            what: what.to_string(),
            timeout: opts.command_timeout,
        })
}

/// The next response on a watch stream, within the time a busy server's
/// sync round may take.
pub(super) async fn next_watch_response(
    opts: &LiveOptions,
    endpoints: &str,
    stream: &mut etcd_client::WatchStream,
) -> Result<etcd_client::WatchResponse, LiveError> {
    let wait = opts.command_timeout.max(Duration::from_secs(60));
    match tokio::time::timeout(wait, stream.message()).await {
        Err(_) => Err(LiveError::Timeout {
            endpoints: endpoints.to_string(),
            what: "watch (which waits at least 60 s)".into(),
            timeout: wait,
        }),
        Ok(m) => m
            .map_err(|e| classify(endpoints, "watch", e))?
            .ok_or_else(|| LiveError::Request {
                endpoints: endpoints.to_string(),
                what: "watch".into(),
                detail: "the server closed the watch".into(),
            }),
    }
}
