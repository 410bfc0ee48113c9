//! evforensics: read Kubernetes Events out of etcd files into SQLite.
//!
//! The modules follow the data's path: [`source`] reads etcd files (bbolt
//! pages, the MVCC layer on top), [`decode`] turns stored values into Events,
//! [`store`] writes them to SQLite, [`ingest`] joins the three, and [`cli`]
//! is the command line.

// `cli` and `ingest` are enabled once the bbolt reader lands (work in progress).
pub mod decode;
pub mod proto;
pub mod source;
pub mod store;
