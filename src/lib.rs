//! evforensics: read Kubernetes Events out of etcd files into SQLite.
//!
//! The modules follow the data's path: [`source`] reads etcd files (bbolt
//! pages, the MVCC layer on top), [`decode`] turns stored values into Events,
//! [`store`] writes them to SQLite, [`ingest`] joins the three, and [`cli`]
//! is the command line.

pub mod audit;
pub mod cli;
pub mod decode;
pub mod helpers;
pub mod ingest;
pub mod proto;
pub mod source;
pub mod store;
