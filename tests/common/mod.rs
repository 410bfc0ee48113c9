//! Shared test harness: a real etcd server ([`etcd`]) and apiserver-style
//! writers with a ledger of what etcd stored ([`scenario`]).
//!
//! Compiled into every test binary (and the examples, via `#[path]`), each
//! using a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod etcd;
pub mod scenario;
