//! What the WAL's proposals did: replayed against the db beside them to
//! the revision each write took (see [`engine`] for the rules). `stored`
//! is the db's side, `state` and `compare` what the replay knows and
//! decides, `recording` gathers the db's side while a load reads it, `into_sink`
//! the two passes over the WAL that feed the load.

mod compare;
mod digest;
pub mod engine;
mod into_sink;
mod recording;
mod state;
mod stored;

#[cfg(test)]
mod tests;

pub use digest::{value_digest, ValueDigest};
pub use engine::{EntryPlace, Replay, ReplayStats, Replayed, WalPutCounts};
pub use into_sink::{count_puts, replay_counted_into, replay_into, WalCounted, WalReplayed};
pub use recording::Recording;
pub use state::{KeyState, Knowledge};
pub use stored::{StoredHistory, STORED_RECORD_LIMIT};
