//! Checkpoints: a consistent snapshot of every table at one commit timestamp, written as
//! Parquet files plus a JSON manifest, so recovery is "load checkpoint, replay the WAL after
//! it" and other tools (DuckDB, Spark, Ballista) can read a snapshot directly.
//!
//! Layout under the data directory:
//! `checkpoints/<ts>/manifest.json`, `checkpoints/<ts>/<schema>.<table>.parquet`, and
//! `checkpoints/CURRENT` naming the newest complete checkpoint (written last, atomically).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use basalt_common::value::{value_at, ColumnBuilder};
use basalt_common::{ReadTs, Row, SqlType, TableId, Value};
use datafusion::arrow::array::{ArrayRef, Int64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, TableDef};
use crate::codec::{decode_rowid, encode_key, encode_rowid, Key};
use crate::table::TableStore;
use crate::wal::sync_dir;
use crate::StorageError;

/// Hidden key column of tables without a primary key.
pub const ROWID_COLUMN: &str = "__basalt_rowid";
const BATCH_ROWS: usize = 8192;

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Every commit with a timestamp up to this one is in the files.
    pub ts: u64,
    /// Replay the WAL from this LSN on.
    pub wal_start_lsn: u64,
    pub catalog: Catalog,
    /// Table id -> file name in the checkpoint directory.
    pub files: Vec<(TableId, String)>,
}

pub fn checkpoints_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("checkpoints")
}

/// The newest complete checkpoint, if any.
pub fn read_current(data_dir: &Path) -> Result<Option<(PathBuf, Manifest)>, StorageError> {
    let current = checkpoints_dir(data_dir).join("CURRENT");
    let name = match fs::read_to_string(&current) {
        Ok(s) => s.trim().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io(&current, e)),
    };
    let dir = checkpoints_dir(data_dir).join(&name);
    let path = dir.join("manifest.json");
    let bytes = fs::read(&path).map_err(|e| StorageError::io(&path, e))?;
    let manifest = serde_json::from_slice(&bytes)
        .map_err(|e| StorageError::Corrupt(format!("{}: {e}", path.display())))?;
    Ok(Some((dir, manifest)))
}

/// Arrow schema of a table's checkpoint file: live columns by name, plus the hidden row id.
fn file_schema(def: &TableDef) -> Arc<Schema> {
    let mut fields: Vec<Field> = def
        .live_columns()
        .map(|(_, c)| Field::new(&c.name, c.ty.to_arrow(), true))
        .collect();
    if def.primary_key.is_none() {
        fields.push(Field::new(ROWID_COLUMN, DataType::Int64, false));
    }
    Arc::new(Schema::new(fields))
}

/// Writes the rows of `store` visible at `read` to `path`.
pub fn write_table(
    def: &TableDef,
    store: &TableStore,
    read: ReadTs,
    path: &Path,
) -> Result<(), StorageError> {
    let schema = file_schema(def);
    let file = File::create(path).map_err(|e| StorageError::io(path, e))?;
    let mut writer = ArrowWriter::try_new(file, Arc::clone(&schema), None)
        .map_err(|e| StorageError::Internal(format!("parquet writer: {e}")))?;
    let live: Vec<(usize, SqlType)> = def.live_columns().map(|(i, c)| (i, c.ty.clone())).collect();
    let mut after: Option<Key> = None;
    loop {
        let mut rows = Vec::with_capacity(BATCH_ROWS);
        let resume = store.scan_chunk(after.as_deref(), read, BATCH_ROWS, &mut rows);
        if !rows.is_empty() {
            let batch = rows_to_batch(def, &schema, &live, &rows)?;
            writer
                .write(&batch)
                .map_err(|e| StorageError::Internal(format!("parquet: {e}")))?;
        }
        match resume {
            Some(k) => after = Some(k),
            None => break,
        }
    }
    let file = writer
        .into_inner()
        .map_err(|e| StorageError::Internal(format!("parquet close: {e}")))?;
    file.sync_all().map_err(|e| StorageError::io(path, e))
}

fn rows_to_batch(
    def: &TableDef,
    schema: &Arc<Schema>,
    live: &[(usize, SqlType)],
    rows: &[(Key, Row)],
) -> Result<RecordBatch, StorageError> {
    let mut columns: Vec<ArrayRef> = live
        .iter()
        .map(|(pos, ty)| {
            let mut b = ColumnBuilder::new(ty, rows.len());
            for (_, row) in rows {
                b.push(row.get(*pos).unwrap_or(&Value::Null));
            }
            b.finish()
        })
        .collect();
    if def.primary_key.is_none() {
        let ids: Vec<i64> = rows
            .iter()
            .map(|(k, _)| decode_rowid(k).unwrap_or_default())
            .collect();
        columns.push(Arc::new(Int64Array::from(ids)));
    }
    RecordBatch::try_new(Arc::clone(schema), columns)
        .map_err(|e| StorageError::Internal(format!("checkpoint batch: {e}")))
}

/// Loads a checkpoint file into `store`, every row as a version committed at `ts`.
pub fn load_table(
    def: &TableDef,
    store: &TableStore,
    path: &Path,
    ts: basalt_common::CommitTs,
) -> Result<usize, StorageError> {
    let file = File::open(path).map_err(|e| StorageError::io(path, e))?;
    let corrupt = |e: &dyn std::fmt::Display| {
        StorageError::Corrupt(format!("checkpoint file {}: {e}", path.display()))
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| corrupt(&e))?
        .build()
        .map_err(|e| corrupt(&e))?;
    let mut data = store.data.write();
    let mut loaded = 0;
    for batch in reader {
        let batch = batch.map_err(|e| corrupt(&e))?;
        let by_pos: Vec<Option<ArrayRef>> = def
            .columns
            .iter()
            .map(|c| {
                if c.dropped {
                    None
                } else {
                    batch.column_by_name(&c.name).cloned()
                }
            })
            .collect();
        let rowids = batch
            .column_by_name(ROWID_COLUMN)
            .and_then(|a| a.as_any().downcast_ref::<Int64Array>().cloned());
        for i in 0..batch.num_rows() {
            let mut row = Vec::with_capacity(def.columns.len());
            for (pos, col) in def.columns.iter().enumerate() {
                row.push(match &by_pos[pos] {
                    Some(array) => value_at(array.as_ref(), i, &col.ty).map_err(|e| corrupt(&e))?,
                    None => Value::Null,
                });
            }
            let key = match (&def.primary_key, &rowids) {
                (Some(cols), _) => encode_key(&row, cols),
                (None, Some(ids)) => {
                    store.observe_rowid(ids.value(i));
                    encode_rowid(ids.value(i))
                }
                (None, None) => return Err(corrupt(&"missing row id column")),
            };
            data.install(def, key, Some(row.into()), ts);
            loaded += 1;
        }
    }
    Ok(loaded)
}

/// Makes `name` the current checkpoint: written to a temporary file, fsynced, renamed.
pub fn publish(data_dir: &Path, name: &str, manifest: &Manifest) -> Result<(), StorageError> {
    let root = checkpoints_dir(data_dir);
    let dir = root.join(name);
    let path = dir.join("manifest.json");
    let json = serde_json::to_vec_pretty(manifest)
        .map_err(|e| StorageError::Internal(format!("manifest: {e}")))?;
    fs::write(&path, json).map_err(|e| StorageError::io(&path, e))?;
    File::open(&path)
        .and_then(|f| f.sync_all())
        .map_err(|e| StorageError::io(&path, e))?;
    sync_dir(&dir)?;
    let tmp = root.join("CURRENT.tmp");
    fs::write(&tmp, name).map_err(|e| StorageError::io(&tmp, e))?;
    File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| StorageError::io(&tmp, e))?;
    fs::rename(&tmp, root.join("CURRENT")).map_err(|e| StorageError::io(&root, e))?;
    sync_dir(&root)
}

/// Removes checkpoint directories other than `keep`.
pub fn remove_old(data_dir: &Path, keep: &str) {
    let root = checkpoints_dir(data_dir);
    let Ok(entries) = fs::read_dir(&root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name != keep && entry.path().is_dir() {
            if let Err(e) = fs::remove_dir_all(entry.path()) {
                tracing::warn!("could not remove old checkpoint {name}: {e}");
            }
        }
    }
}
