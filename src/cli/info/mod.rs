//! `evforensics info`: what an etcd file holds, without loading it — the
//! db's buckets and free pages, the WAL beside a data directory's db, and
//! how far back in time each of these layers reaches.

mod command;
mod horizon;
mod wal;

pub use command::{run, InfoArgs};
