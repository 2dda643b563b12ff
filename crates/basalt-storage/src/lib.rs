//! Basalt's storage: the MVCC row engine, the write-ahead log with group commit, and Parquet
//! checkpoints.
//!
//! Invariants this crate keeps (ARCHITECTURE "Invariants"):
//! 1. One clock: every commit gets its `commit_ts` from [`Engine::commit`] under one lock, in
//!    the same order as its WAL record; a reader sees versions with
//!    `begin <= read_ts < end`.
//! 4. Durable means durable: a commit's versions become visible to new snapshots, and the
//!    commit is acknowledged, only after its WAL record is fsynced.
//! 5. Derived state is derived: secondary indexes are rebuilt from the rows at recovery.

pub mod catalog;
pub mod checkpoint;
pub mod codec;
pub mod columnar;
pub mod engine;
pub mod fkeys;
pub mod snapshots;
pub mod table;
pub mod txn;
pub mod wal;

use std::path::Path;

use basalt_common::TableId;

pub use catalog::{
    constraint_comment_key, Catalog, CheckDef, ColumnDef, DomainCheckDef, DomainDef, ForeignKeyDef,
    IndexDef, OpClassDef, OpClassFunction, PartitionBound, PartitionKey, PartitionOf,
    PartitionStrategy, ReferentialAction, SchemaDef, SequenceDef, TableDef, TriggerDef, ViewDef,
};
pub use codec::Key;
pub use columnar::{ColumnStats, ColumnTable};
pub use engine::{Engine, StorageConfig};
pub use table::TableStore;
pub use txn::Transaction;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("could not serialize access due to concurrent update")]
    SerializationFailure,
    #[error("duplicate key value violates unique constraint \"{constraint}\"")]
    UniqueViolation { constraint: String, detail: String },
    #[error("table {0} was dropped by a concurrent transaction")]
    TableDropped(TableId),
    #[error("could not create unique index \"{index}\": {detail}")]
    UniqueIndexBuild { index: String, detail: String },
    #[error("conflicting key value violates exclusion constraint \"{constraint}\"")]
    ExclusionViolation { constraint: String, detail: String },
    #[error("could not create exclusion constraint \"{constraint}\"")]
    ExclusionBuild { constraint: String, detail: String },
    #[error("column \"{column}\" of relation \"{table}\" contains null values")]
    NullInKey { column: String, table: String },
    #[error("sequence \"{0}\" does not exist")]
    NoSuchSequence(String),
    #[error(
        "nextval: reached {} value of sequence \"{name}\" ({limit})",
        if *maximum { "maximum" } else { "minimum" }
    )]
    SequenceExhausted {
        name: String,
        limit: i64,
        maximum: bool,
    },
    #[error("setval: value {value} is out of bounds for sequence \"{name}\" ({min}..{max})")]
    SequenceOutOfBounds {
        name: String,
        value: i64,
        min: i64,
        max: i64,
    },
    #[error("transaction too large to log ({0} bytes)")]
    TransactionTooLarge(usize),
    #[error("the write-ahead log is unavailable (a write or fsync failed, or the server is shutting down)")]
    WalUnavailable,
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("data directory \"{path}\" is in use by another Basalt server{holder}")]
    DataDirInUse { path: String, holder: String },
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("internal storage error: {0}")]
    Internal(String),
}

impl StorageError {
    pub fn io(path: &Path, source: std::io::Error) -> StorageError {
        StorageError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
