//! A real etcd for tests: the private server ([`server`]), the certificates
//! of a TLS one ([`tls`]), and the binaries and bounded processes it runs
//! ([`process`]).

pub mod process;
pub mod server;
pub mod tls;
