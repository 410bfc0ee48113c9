//! What every file says of where its rows come from, in its key-value
//! metadata: the tool, the database's schema version, this dataset's
//! layout version, the cluster, the case and its sources (SHA-256 of each
//! evidence file), and the order of the rows. The case id names the files
//! (`part-<case>-<n>`): the same sources give the same id, so a second
//! export of one case into a directory is refused instead of doubling it,
//! and another case's files never collide with it.

use parquet::file::metadata::KeyValue;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::store::export_parquet::{ExportProvenance, ExportTable};

/// The version of this dataset's layout (directories, columns, metadata).
pub const DATASET_VERSION: u32 = 1;

/// The case id: 16 hex digits of the SHA-256 over the sources' SHA-256s
/// (sorted, each once).
pub fn case_id(provenance: &ExportProvenance) -> String {
    let mut hashes: Vec<&str> = provenance
        .sources
        .iter()
        .map(|s| s.sha256.as_str())
        .collect();
    hashes.sort_unstable();
    hashes.dedup();
    let mut h = Sha256::new();
    h.update(b"evforensics case\n");
    for s in hashes {
        h.update(s.as_bytes());
        h.update(b"\n");
    }
    crate::helpers::hex::hex(&h.finalize()[..8])
}

/// The key-value metadata of a file of `table`.
pub fn key_values(
    provenance: &ExportProvenance,
    table: ExportTable,
    cluster: &str,
    case: &str,
    order: &str,
) -> Vec<KeyValue> {
    let sources: Vec<_> = provenance
        .sources
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "kind": s.kind,
                "location": s.location,
                "sha256": s.sha256,
                "size_bytes": s.size_bytes,
                "content_sha256": s.content_sha256,
                "trailer": s.trailer,
                "head_revision": s.head_revision,
                "ingested_at": s.ingested_at,
                "tool_version": s.tool_version,
            })
        })
        .collect();
    let hashes: Vec<&str> = provenance
        .sources
        .iter()
        .map(|s| s.sha256.as_str())
        .collect();
    let kv = |k: &str, v: String| KeyValue::new(format!("evforensics.{k}"), v);
    vec![
        kv(
            "tool_version",
            concat!("evforensics ", env!("CARGO_PKG_VERSION")).to_string(),
        ),
        kv("schema_version", provenance.schema_version.to_string()),
        kv("dataset_version", DATASET_VERSION.to_string()),
        kv("table", table.name().to_string()),
        kv("cluster", cluster.to_string()),
        kv("case", case.to_string()),
        kv("source_sha256", hashes.join(",")),
        kv("sources", serde_json::Value::Array(sources).to_string()),
        kv("sorted_by", order.to_string()),
    ]
}
