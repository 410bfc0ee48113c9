//! Saving a full snapshot of the cluster (`ingest --save-snapshot`) through
//! the maintenance API, as evidence on disk: written beside its destination
//! and renamed when complete, so that a failed save leaves no partial file.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::calls::{runtime, with_timeout};
use super::classify::classify;
use super::connect::connect;
use super::error::LiveError;
use super::options::LiveOptions;

/// A snapshot saved by [`save_snapshot`]: the SHA-256 (hex) and size of
/// the file written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedSnapshot {
    pub sha256: String,
    pub bytes: u64,
}

/// Streams a full snapshot (maintenance API) into `dest`, returning its
/// SHA-256 and size. The file is written beside `dest` and renamed when
/// complete, so a failed pull leaves no partial evidence.
pub fn save_snapshot(opts: &LiveOptions, dest: &Path) -> Result<SavedSnapshot, LiveError> {
    runtime()?.block_on(async {
        use std::io::Write;
        let mut client = connect(opts).await?;
        let file_err = |source| LiveError::SnapshotFile {
            path: dest.display().to_string(),
            source,
        };
        let dir = crate::helpers::directory_of(dest);
        let mut tmp = tempfile::Builder::new()
            .prefix(".evforensics-snapshot-")
            .tempfile_in(dir)
            .map_err(file_err)?;
        let endpoints = opts.location();
        let mut stream = with_timeout(opts, "snapshot", client.snapshot())
            .await?
            .map_err(|e| classify(&endpoints, "snapshot", e))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        loop {
            // A snapshot of a large db takes a while: the timeout is per message.
            let msg = with_timeout(opts, "snapshot", stream.message())
                .await?
                .map_err(|e| classify(&endpoints, "snapshot", e))?;
            let Some(msg) = msg else { break };
            let blob = msg.blob();
            hasher.update(blob);
            size += blob.len() as u64;
            tmp.write_all(blob).map_err(file_err)?;
        }
        tmp.as_file().sync_all().map_err(file_err)?;
        tmp.persist_noclobber(dest).map_err(|e| file_err(e.error))?;
        Ok(SavedSnapshot {
            sha256: crate::helpers::hex(&hasher.finalize()),
            bytes: size,
        })
    })
}
