//! Live etcd: every Event revision a running etcd still holds, read through
//! its v3 API — read-only (range, watch, status and snapshot calls only) —
//! and handed to the loader page by page, as the `key` bucket of a snapshot
//! would hold it, with the SHA-256 of exactly what was loaded.
//!
//! [`head_keys`] pins the head revision and samples its keys; [`pull`] then
//! reads the values at the compaction revision and the history after it, up
//! to the head, over many key ranges at once (the steps are told in
//! `history.rs`). [`save_snapshot`] saves a snapshot file instead.
//!
//! Files, one job each: `options` (how to reach etcd), `error`, `tls` and
//! `connect` (connecting, with errors that name the cause), `classify` (what
//! an etcd error means), `calls` (runtime and time limits), `key_sample`
//! (cutting key ranges), `history` (the pull), `transactions` (sub
//! revisions), [`held`] (what the history read holds back), `records` and
//! `record_hash` (the record stream and its hash), `snapshot`,
//! `test_pause` (a pause point tests synchronise on, off unless set).

mod calls;
mod classify;
mod connect;
mod error;
pub mod held;
mod history;
mod key_sample;
mod options;
mod record_hash;
mod records;
mod snapshot;
mod test_pause;
mod tls;
mod transactions;

pub use error::LiveError;
pub use history::{head_keys, pull, Page, PullFacts};
pub use key_sample::{prefix_end, KeySample, KeySpan};
pub use options::{LiveOptions, DEFAULT_PAGE_SIZE, DEFAULT_WATCHERS, HELD_MEMORY_BUDGET};
pub use record_hash::{RecordHasher, StreamDigest};
pub use records::PulledRecord;
pub use snapshot::{save_snapshot, SavedSnapshot};
