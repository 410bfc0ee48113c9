//! Inputs: etcd snapshot files, bbolt pages, data directories.
pub mod bolt;
