//! evforensics: read Kubernetes Events out of etcd files into SQLite.
//!
//! Imports point one way, from the command line down:
//! [`cli`] → [`ingest`] → [`source`] → [`store`] → [`decode`] → [`helpers`],
//! [`proto`], and [`cli`] → [`export`] → [`store`]. [`source`] reads
//! evidence (etcd files, a running etcd, audit logs) into records,
//! [`decode`] turns stored values into Events, [`store`] owns the SQLite
//! database (its schema is the public API), [`ingest`] joins a source to
//! the store, [`export`] writes the store's rows in other tools' formats,
//! and [`cli`] is the command line.

pub mod cli;
pub mod decode;
pub mod export;
pub mod helpers;
pub mod ingest;
pub mod proto;
pub mod source;
pub mod store;
