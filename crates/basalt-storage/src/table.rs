//! One table in the row engine: an ordered primary-key map to version chains, plus its
//! secondary indexes.
//!
//! Locking discipline: `data` is held only for the duration of one in-memory operation (a
//! lookup, a bounded scan chunk, installing one commit's versions) and never across an
//! `.await`, an fsync or a whole statement. Readers never block on writers' transactions:
//! uncommitted writes live in the writer's own `WriteSet`, not here.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use basalt_common::{CommitTs, IndexId, ReadTs, Row, TableId, Value};
use parking_lot::RwLock;

use crate::catalog::{IndexDef, TableDef};
use crate::codec::{encode_key, encode_rowid, Key};

/// One committed version of a row: visible to `read` iff `begin <= read < end`.
#[derive(Debug, Clone)]
pub struct Version {
    pub begin: CommitTs,
    pub end: CommitTs,
    pub row: Row,
}

impl Version {
    pub fn visible_to(&self, read: ReadTs) -> bool {
        self.begin.visible_to(read) && !self.end.visible_to(read)
    }
    pub fn is_live(&self) -> bool {
        self.end == CommitTs::INFINITY
    }
}

/// Versions of one key, oldest first; the last one is the newest.
pub type VersionChain = Vec<Version>;

#[derive(Default)]
pub struct TableData {
    pub rows: BTreeMap<Key, VersionChain>,
    /// Per index: encoded (index key ++ primary key) -> primary key, for every version
    /// installed and not yet garbage-collected. Entries may be stale; readers re-check the
    /// row. (The primary key is kept as the value because a prefix of a composite index key
    /// does not say where the primary key starts.)
    pub indexes: HashMap<IndexId, BTreeMap<Vec<u8>, Key>>,
}

pub struct TableStore {
    pub id: TableId,
    pub data: RwLock<TableData>,
    /// Next hidden row id for tables without a primary key.
    next_rowid: AtomicI64,
    /// The timestamp of the last commit that wrote to the table.
    last_commit: AtomicU64,
}

/// Reads of the committed state at one snapshot.
impl TableStore {
    pub fn new(id: TableId) -> TableStore {
        TableStore {
            id,
            data: RwLock::new(TableData::default()),
            next_rowid: AtomicI64::new(1),
            last_commit: AtomicU64::new(0),
        }
    }

    /// The timestamp of the last commit that wrote to the table.
    pub fn last_commit(&self) -> u64 {
        self.last_commit.load(Ordering::Acquire)
    }

    /// Records a commit that wrote to the table (with the commit lock held).
    pub fn note_commit(&self, ts: CommitTs) {
        self.last_commit.fetch_max(ts.0, Ordering::Release);
    }

    pub fn allocate_rowid(&self) -> i64 {
        self.next_rowid.fetch_add(1, Ordering::Relaxed)
    }

    /// Makes sure future row ids are above `rowid` (recovery).
    pub fn observe_rowid(&self, rowid: i64) {
        self.next_rowid
            .fetch_max(rowid.saturating_add(1), Ordering::Relaxed);
    }

    /// A copy of this table keyed by `def`'s primary key (or by new hidden row ids when it has
    /// none), for ALTER TABLE ADD/DROP PRIMARY KEY. Only each row's newest live version moves:
    /// like PostgreSQL's table-rewriting ALTER TABLE, the rewrite is not MVCC-safe, so a
    /// snapshot older than the change sees the table as rewritten. Indexes are rebuilt by the
    /// caller. The caller checked that the new keys are unique and not null.
    ///
    /// New row ids are 1, 2, … in the old key order: recovery, which replays this change on
    /// the same committed rows, hands out the same ids (the old counter is not used: it
    /// counts ids of rolled-back inserts that recovery never sees).
    pub fn rekeyed(&self, def: &TableDef) -> TableStore {
        let new = TableStore::new(self.id);
        {
            let old = self.data.read();
            let mut data = new.data.write();
            for chain in old.rows.values() {
                let Some(v) = chain.last().filter(|v| v.is_live()) else {
                    continue;
                };
                let key = match &def.primary_key {
                    Some(cols) => encode_key(&v.row, cols),
                    None => encode_rowid(new.allocate_rowid()),
                };
                data.rows.insert(key, vec![v.clone()]);
            }
        }
        new
    }

    pub fn get(&self, key: &[u8], read: ReadTs) -> Option<Row> {
        let data = self.data.read();
        visible(data.rows.get(key)?, read).map(|v| v.row.clone())
    }

    /// Collects up to `max_rows` rows visible at `read` with keys after `after`, in key order.
    /// Returns the key to resume after when the table has more keys past this chunk. The
    /// number of keys examined is bounded too, so the read lock is held for a bounded time
    /// even when most keys are invisible.
    pub fn scan_chunk(
        &self,
        after: Option<&[u8]>,
        read: ReadTs,
        max_rows: usize,
        out: &mut Vec<(Key, Row)>,
    ) -> Option<Key> {
        let lower = match after {
            Some(k) => Bound::Excluded(k),
            None => Bound::Unbounded,
        };
        self.scan_from(lower, read, max_rows, out)
    }

    /// [`TableStore::scan_chunk`] from any lower bound.
    pub fn scan_from(
        &self,
        lower: Bound<&[u8]>,
        read: ReadTs,
        max_rows: usize,
        out: &mut Vec<(Key, Row)>,
    ) -> Option<Key> {
        let data = self.data.read();
        let max_examined = max_rows.saturating_mul(4).max(1);
        let mut last: Option<&Key> = None;
        for (examined, (key, chain)) in data
            .rows
            .range::<[u8], _>((lower, Bound::Unbounded))
            .enumerate()
        {
            if out.len() >= max_rows || examined >= max_examined {
                return last.cloned();
            }
            last = Some(key);
            if let Some(v) = visible(chain, read) {
                out.push((key.clone(), v.row.clone()));
            }
        }
        None
    }

    /// Primary keys whose versions are indexed under `prefix` in `index` (candidates: the
    /// caller re-checks the visible row's values).
    pub fn index_candidates(&self, index: IndexId, prefix: &[u8]) -> Vec<Key> {
        let data = self.data.read();
        let Some(map) = data.indexes.get(&index) else {
            return Vec::new();
        };
        let mut out: Vec<Key> = Vec::new();
        for (entry, pk) in map.range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded)) {
            if !entry.starts_with(prefix) {
                break;
            }
            out.push(pk.clone());
        }
        out.sort();
        out.dedup();
        out
    }

    /// The newest committed version of a key, whatever its timestamp (commit validation).
    pub fn latest(&self, key: &[u8]) -> Option<Version> {
        self.data
            .read()
            .rows
            .get(key)
            .and_then(|c| c.last().cloned())
    }

    /// Number of keys (all versions' keys, including deleted ones not yet collected).
    pub fn key_count(&self) -> usize {
        self.data.read().rows.len()
    }
}

/// Changes of the committed state; called with the engine's commit lock held.
impl TableData {
    /// Installs a new version (or a deletion when `row` is None) of `key` at `ts`.
    pub fn install(&mut self, def: &TableDef, key: Key, row: Option<Row>, ts: CommitTs) {
        if let Some(row) = &row {
            for index in &def.indexes {
                let mut entry = encode_key(row, &index.columns).into_vec();
                entry.extend_from_slice(&key);
                self.indexes
                    .entry(index.id)
                    .or_default()
                    .insert(entry, key.clone());
            }
        }
        let chain = self.rows.entry(key).or_default();
        if let Some(last) = chain.last_mut() {
            if last.is_live() {
                last.end = ts;
            }
        }
        if let Some(row) = row {
            chain.push(Version {
                begin: ts,
                end: CommitTs::INFINITY,
                row,
            });
        }
        debug_assert!(chain.windows(2).all(|w| w[0].begin <= w[1].begin));
    }

    pub fn build_index(&mut self, index: &IndexDef) {
        let mut map = BTreeMap::new();
        for (key, chain) in &self.rows {
            for v in chain {
                let mut entry = encode_key(&v.row, &index.columns).into_vec();
                entry.extend_from_slice(key);
                map.insert(entry, key.clone());
            }
        }
        self.indexes.insert(index.id, map);
    }

    /// Drops versions no snapshot at or after `oldest` can see, for at most `max_keys` keys
    /// after `after` (so the write lock is held for a bounded time). Returns the versions
    /// removed, the keys examined and the key to resume after; keys whose superseded versions
    /// had to stay are added to `kept`.
    pub fn collect_garbage(
        &mut self,
        def: &TableDef,
        oldest: ReadTs,
        after: Option<&[u8]>,
        max_keys: usize,
        kept: &mut Vec<Key>,
    ) -> (usize, usize, Option<Key>) {
        let lower = match after {
            Some(k) => Bound::Excluded(k),
            None => Bound::Unbounded,
        };
        let keys: Vec<Key> = self
            .rows
            .range::<[u8], _>((lower, Bound::Unbounded))
            .take(max_keys)
            .map(|(k, _)| k.clone())
            .collect();
        let resume = if keys.len() == max_keys {
            keys.last().cloned()
        } else {
            None
        };
        let removed = self.collect_keys(def, oldest, &keys, kept);
        (removed, keys.len(), resume)
    }

    /// Drops the versions of `keys` no snapshot at or after `oldest` can see; keys whose
    /// superseded versions had to stay are added to `kept`. Returns the versions removed.
    pub fn collect_keys(
        &mut self,
        def: &TableDef,
        oldest: ReadTs,
        keys: &[Key],
        kept: &mut Vec<Key>,
    ) -> usize {
        let mut removed = 0;
        let mut dead_entries: Vec<(IndexId, Vec<u8>)> = Vec::new();
        for key in keys {
            let Some(chain) = self.rows.get_mut(key) else {
                continue;
            };
            let before = chain.len();
            if before == 1 && chain[0].is_live() {
                continue;
            }
            let mut dropped: Vec<Row> = Vec::new();
            chain.retain(|v| {
                let keep = v.is_live() || v.end.0 > oldest.0;
                if !keep {
                    dropped.push(v.row.clone());
                }
                keep
            });
            removed += before - chain.len();
            if chain.iter().any(|v| !v.is_live()) {
                kept.push(key.clone());
            }
            for row in dropped {
                for index in &def.indexes {
                    let entry_key = encode_key(&row, &index.columns);
                    let still_used = chain
                        .iter()
                        .any(|v| encode_key(&v.row, &index.columns) == entry_key);
                    if !still_used {
                        let mut entry = entry_key.into_vec();
                        entry.extend_from_slice(key);
                        dead_entries.push((index.id, entry));
                    }
                }
            }
            if chain.is_empty() {
                self.rows.remove(key);
            }
        }
        for (index, entry) in dead_entries {
            if let Some(map) = self.indexes.get_mut(&index) {
                map.remove(&entry);
            }
        }
        removed
    }
}

pub fn visible(chain: &VersionChain, read: ReadTs) -> Option<&Version> {
    chain.iter().rev().find(|v| v.visible_to(read))
}

/// Whether the row's values under `index` encode to `prefix`.
pub fn row_matches_index(row: &[Value], index: &IndexDef, prefix: &[u8]) -> bool {
    let key = encode_key(row, &index.columns);
    key.starts_with(prefix)
}
