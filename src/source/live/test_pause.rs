//! A pause point for tests: off unless `EVF_TEST_PAUSE_FILE` is set.
//!
//! Tests that must act while a pull is at a known point (compact etcd
//! behind the history read, write after the pinned head) wait for this
//! point instead of sleeping: the suite runs on loaded machines, where no
//! sleep is long enough. With `EVF_TEST_PAUSE_FILE=PATH`, once the history
//! read has passed on its first records the pull writes the revision it has
//! read to (decimal) into `PATH` and waits, as long as it takes, until
//! `PATH` is removed. Nothing else changes; unset, it costs one variable
//! lookup per pull.

use std::path::PathBuf;
use std::time::Duration;

/// How often the paused pull looks whether the file is gone.
const POLL: Duration = Duration::from_millis(10);

/// Pauses the pull, if `EVF_TEST_PAUSE_FILE` is set, until the test
/// removes the file it writes there (holding `read_to`).
pub(super) async fn pause_after_first_history(read_to: i64) {
    let Some(path) = std::env::var_os("EVF_TEST_PAUSE_FILE").map(PathBuf::from) else {
        return;
    };
    // Written whole, then renamed: the test never reads half a number.
    let mut part = path.clone().into_os_string();
    part.push(".part");
    let written =
        std::fs::write(&part, read_to.to_string()).and_then(|()| std::fs::rename(&part, &path));
    if let Err(e) = written {
        eprintln!(
            "evforensics: EVF_TEST_PAUSE_FILE {}: {e}; not pausing",
            path.display()
        );
        return;
    }
    while path.exists() {
        tokio::time::sleep(POLL).await;
    }
}
