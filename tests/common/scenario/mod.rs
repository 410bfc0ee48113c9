//! Writes Kubernetes Events into a real etcd exactly the way kube-apiserver
//! does, and keeps a [`Ledger`](ledger::Ledger) of what etcd did with every write.
//!
//! * [`ledger`]: what etcd stored, and what a snapshot must hold.
//! * [`writer`]: the apiserver's txn patterns, one request at a time.
//! * [`standard`]: the standard scenario (the sample fixtures' story);
//!   [`rollout`]: the README's first example (owners and an audit log);
//!   [`trees`]: owner trees for the scale questions.
//! * [`bulk`]: many writes in flight, for scale tests.
//! * [`wal_history`]: a history compaction removes chunk by chunk, left
//!   in the WAL; [`readback`]: etcd's own account (watch, range) checked
//!   against a ledger.
//! * [`compactor`]: the apiserver's compactor, for [`bulk`].
//! * [`objects`], [`events`], [`event_json`]: Kubernetes objects and
//!   Events as their components build and the apiserver stores them.
//! * [`rng`]: deterministic randomness; [`b64`]: base64 helpers.

pub mod b64;
pub mod bulk;
pub mod compactor;
pub mod event_json;
pub mod events;
pub mod ledger;
pub mod objects;
pub mod readback;
pub mod rng;
pub mod rollout;
pub mod standard;
pub mod trees;
pub mod wal_history;
pub mod writer;
