//! Export: a case database's rows into the formats other tools read. This
//! layer sits between the command line and the store (`cli → export →
//! store → decode`): it reads the store's export queries and writes files;
//! the command that offers a format is under `src/cli/`.

pub mod parquet;
