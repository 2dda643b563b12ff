//! Timestamps and identifiers as newtypes: the type says what a number means.

use serde::{Deserialize, Serialize};

/// The timestamp a transaction committed at, from the one oracle (invariant 1, "one clock").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CommitTs(pub u64);

/// The snapshot a reader sees: every version with `insert_ts <= read_ts < delete_ts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReadTs(pub u64);

impl CommitTs {
    /// The timestamp of versions loaded before any transaction ran (checkpoint contents).
    pub const ZERO: CommitTs = CommitTs(0);
    /// "Not deleted": the `delete_ts` of a live version.
    pub const INFINITY: CommitTs = CommitTs(u64::MAX);

    /// Whether a version stamped with this timestamp is visible to `read`.
    pub fn visible_to(self, read: ReadTs) -> bool {
        self.0 <= read.0
    }
}

/// A transaction's identity while it runs (before it has a commit timestamp).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TxnId(pub u64);

/// A catalog table id; stable for the table's life, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TableId(pub u32);

/// A catalog index id; stable for the index's life, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IndexId(pub u32);

/// A byte position in the write-ahead log stream (across segments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Lsn(pub u64);

impl std::fmt::Display for TableId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}
