//! One table's files: `<root>/cluster=<name>/date=<YYYY-MM-DD>/part-<case>-<n>.parquet`
//! under `DIR/<table>/`, Hive's layout, which DuckDB, Spark, Trino and
//! Athena read as partition columns `cluster` and `date`. A row without a
//! time (an Event whose value could not be decoded) goes to
//! `date=__HIVE_DEFAULT_PARTITION__`, Hive's name for NULL.
//!
//! Files are added, never replaced: each is written as a hidden
//! `.part-….partial` beside its final name (readers skip names starting
//! with `.`, and `*.parquet` globs do not match it), synced, then linked
//! to its name, which fails if the name exists, and the temp name removed.
//! Row groups close at [`ROW_GROUP_BYTES`] of encoded data (large enough
//! for scans; also what the writer holds in memory), and a file at
//! [`FILE_BYTES`], the next part following.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use super::error::ParquetError;

/// Encoded bytes at which a row group is closed.
pub const ROW_GROUP_BYTES: usize = 32 << 20;
/// Bytes at which a file is closed and the next part begun.
pub const FILE_BYTES: usize = 512 << 20;
/// Columns whose values are (nearly) all distinct: no dictionary.
const UNIQUE_VALUES: &[&str] = &["raw", "object", "request_object", "response_object"];
/// Hive's partition value for NULL.
pub const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// Whether `name` can name a cluster's partition directory as it is
/// (`cluster=<name>`, no escaping): letters, digits, `-`, `_`, `.`, not
/// starting with `.`, at most 128 characters.
pub fn valid_cluster_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A file being written, under its temp name.
struct OpenFile {
    writer: ArrowWriter<File>,
    temp: PathBuf,
    path: PathBuf,
}

/// One table's partitioned files.
pub struct PartitionedWriter {
    /// `DIR/<table>/cluster=<name>`.
    root: PathBuf,
    case: String,
    cluster: String,
    schema: SchemaRef,
    props: WriterProperties,
    /// The partition rows go to (`None`: none begun yet).
    date: Option<String>,
    /// The next part number of the partition.
    next_part: u32,
    open: Option<OpenFile>,
    /// The files written, in order.
    pub files: Vec<PathBuf>,
    pub partitions: usize,
}

impl PartitionedWriter {
    /// A writer under `table_dir/cluster=<cluster>`; an error if that
    /// directory holds this case's files already.
    pub fn new(
        table_dir: &Path,
        cluster: &str,
        case: &str,
        schema: SchemaRef,
        key_values: Vec<KeyValue>,
        time_index: usize,
    ) -> Result<PartitionedWriter, ParquetError> {
        let root = table_dir.join(format!("cluster={cluster}"));
        if let Some(file) = existing_part(&root, case)? {
            return Err(ParquetError::AlreadyExported {
                dir: root,
                file,
                cluster: cluster.to_string(),
                case: case.to_string(),
            });
        }
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("level 1")))
            .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
            .set_key_value_metadata(Some(key_values))
            .set_sorting_columns(Some(vec![SortingColumn {
                column_idx: time_index as i32,
                descending: false,
                nulls_first: true,
            }]));
        // A stored value is one of a kind: a dictionary of them is work
        // thrown away at its size limit.
        for field in schema.fields() {
            if UNIQUE_VALUES.contains(&field.name().as_str()) {
                props = props
                    .set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
            }
        }
        let props = props.build();
        Ok(PartitionedWriter {
            root,
            case: case.to_string(),
            cluster: cluster.to_string(),
            schema,
            props,
            date: None,
            next_part: 0,
            open: None,
            files: Vec::new(),
            partitions: 0,
        })
    }

    /// Rows from now on go to the partition of `date` (`None`: no time).
    pub fn partition(&mut self, date: Option<&str>) -> Result<(), ParquetError> {
        let date = date.unwrap_or(NULL_PARTITION);
        if self.date.as_deref() == Some(date) {
            return Ok(());
        }
        self.close()?;
        self.date = Some(date.to_string());
        self.next_part = 0;
        self.partitions += 1;
        Ok(())
    }

    /// Writes `batch` to the current partition's file, opening it first.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ParquetError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.open.is_none() {
            self.open = Some(self.create()?);
        }
        let open = self.open.as_mut().expect("opened above");
        open.writer
            .write(batch)
            .map_err(|source| ParquetError::Parquet {
                path: open.path.clone(),
                source,
            })?;
        if open.writer.bytes_written() >= FILE_BYTES {
            self.close()?;
        }
        Ok(())
    }

    /// Closes the file being written: its footer, a sync, its final name.
    pub fn close(&mut self) -> Result<(), ParquetError> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let parquet_error = |source| ParquetError::Parquet {
            path: open.path.clone(),
            source,
        };
        let io_error = |path: &Path, source| ParquetError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = open.writer.into_inner().map_err(parquet_error)?;
        file.sync_all().map_err(|e| io_error(&open.temp, e))?;
        drop(file);
        // A link fails where the name exists: nothing is ever replaced.
        let linked = fs::hard_link(&open.temp, &open.path);
        let _ = fs::remove_file(&open.temp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(ParquetError::AlreadyExported {
                    dir: self.root.clone(),
                    file: open.path,
                    cluster: self.cluster.clone(),
                    case: self.case.clone(),
                })
            }
            Err(e) => return Err(io_error(&open.path, e)),
        }
        if let Some(dir) = open.path.parent() {
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        self.files.push(open.path);
        Ok(())
    }

    fn create(&mut self) -> Result<OpenFile, ParquetError> {
        let date = self.date.as_deref().unwrap_or(NULL_PARTITION);
        let dir = self.root.join(format!("date={date}"));
        fs::create_dir_all(&dir).map_err(|source| ParquetError::Io {
            path: dir.clone(),
            source,
        })?;
        let name = format!("part-{}-{:05}.parquet", self.case, self.next_part);
        self.next_part += 1;
        let path = dir.join(&name);
        let temp = dir.join(format!(".{name}.partial"));
        let file = File::create(&temp).map_err(|source| ParquetError::Io {
            path: temp.clone(),
            source,
        })?;
        let writer = ArrowWriter::try_new(file, self.schema.clone(), Some(self.props.clone()))
            .map_err(|source| ParquetError::Parquet {
                path: path.clone(),
                source,
            })?;
        Ok(OpenFile { writer, temp, path })
    }
}

impl Drop for PartitionedWriter {
    /// A file left open by an error is not a part: its temp name goes.
    fn drop(&mut self) {
        if let Some(open) = self.open.take() {
            let _ = fs::remove_file(&open.temp);
        }
    }
}

/// A file of `case` under `root`'s partitions, if there is one.
fn existing_part(root: &Path, case: &str) -> Result<Option<PathBuf>, ParquetError> {
    let prefix = format!("part-{case}-");
    let partitions = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ParquetError::Io {
                path: root.to_path_buf(),
                source,
            })
        }
    };
    for partition in partitions {
        let partition = partition.map_err(|source| ParquetError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        let Ok(files) = fs::read_dir(partition.path()) else {
            continue;
        };
        for file in files.flatten() {
            let name = file.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(&prefix) && name.ends_with(".parquet") {
                return Ok(Some(file.path()));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names() {
        for ok in ["prod-eu", "a", "k8s_1.2", "C-7"] {
            assert!(valid_cluster_name(ok), "{ok}");
        }
        for bad in ["", ".hidden", "a/b", "a=b", "x y", "é", &"x".repeat(129)] {
            assert!(!valid_cluster_name(bad), "{bad}");
        }
    }
}
