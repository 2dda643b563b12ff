//! FOREIGN KEY lookups in the row engine: does a referenced key exist, and which rows
//! reference a key. The SQL layer checks each statement's changes with them (as this
//! transaction sees the tables); commit repeats the check against the latest committed state
//! when another transaction changed the other table meanwhile, so that two concurrent
//! transactions cannot together leave a reference to a row that is gone (one of them fails
//! with a serialization failure instead).

use std::ops::Bound;

use basalt_common::{ReadTs, Row, Value};

use crate::catalog::{Catalog, TableDef};
use crate::codec::{encode_key, Key};
use crate::table::TableStore;
use crate::txn::{TableWrites, Transaction, WriteOp};
use crate::StorageError;

/// The values of `row` at `cols`, or `None` when the key does not take part in the
/// constraint: MATCH SIMPLE skips a key with any NULL, MATCH FULL one that is all NULL.
/// (A MATCH FULL key that mixes NULLs and values is the caller's error to report.)
pub fn key_of(row: &[Value], cols: &[usize]) -> Option<Vec<Value>> {
    let values: Vec<Value> = cols
        .iter()
        .map(|&c| row.get(c).cloned().unwrap_or(Value::Null))
        .collect();
    if values.iter().any(Value::is_null) {
        return None;
    }
    Some(values)
}

/// Whether `a` and `b` hold the same positions, in any order.
fn same_set(a: &[usize], b: &[usize]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

/// A row of `width` NULLs with `values` at `cols`, to encode keys from.
fn spread(width: usize, cols: &[usize], values: &[Value]) -> Vec<Value> {
    let mut row = vec![Value::Null; width];
    for (&c, v) in cols.iter().zip(values) {
        if let Some(slot) = row.get_mut(c) {
            *slot = v.clone();
        }
    }
    row
}

/// How a table is searched for rows whose `cols` equal given values.
enum Access<'a> {
    /// The primary key is exactly `cols`: one point read.
    PrimaryKey(&'a [usize]),
    /// The primary key starts with `cols`: a range of keys.
    PrimaryKeyPrefix(&'a [usize]),
    /// An index starts with `cols`.
    Index(&'a crate::catalog::IndexDef, usize),
    Scan,
}

fn access<'a>(def: &'a TableDef, cols: &[usize]) -> Access<'a> {
    if let Some(pk) = &def.primary_key {
        if same_set(pk, cols) {
            return Access::PrimaryKey(pk);
        }
        if pk.len() > cols.len() && same_set(&pk[..cols.len()], cols) {
            return Access::PrimaryKeyPrefix(&pk[..cols.len()]);
        }
    }
    def.indexes
        .iter()
        .filter(|i| i.columns.len() >= cols.len() && same_set(&i.columns[..cols.len()], cols))
        .min_by_key(|i| (!i.unique, i.columns.len()))
        .map_or(Access::Scan, |i| Access::Index(i, cols.len()))
}

/// Whether the row encodes to `want` at `cols`.
fn row_has(row: &[Value], cols: &[usize], want: &[u8]) -> bool {
    *encode_key(row, cols) == *want
}

/// Rows of `def` whose `cols` equal `values`, as `txn` sees the table; at most `limit`.
pub fn rows_with_key(
    txn: &Transaction,
    def: &TableDef,
    store: &TableStore,
    cols: &[usize],
    values: &[Value],
    limit: usize,
) -> Vec<(Key, Row)> {
    let probe = spread(def.columns.len(), cols, values);
    let want = encode_key(&probe, cols);
    let mut out = Vec::new();
    match access(def, cols) {
        Access::PrimaryKey(pk) => {
            let key = encode_key(&probe, pk);
            if let Some(row) = txn.read(store, &key) {
                out.push((key, row));
            }
        }
        Access::Index(index, n) => {
            let prefix = encode_key(&probe, &index.columns[..n]);
            out = txn.index_lookup(store, index, &prefix);
            out.truncate(limit);
        }
        Access::PrimaryKeyPrefix(prefix_cols) => {
            let prefix = encode_key(&probe, prefix_cols);
            let mut lower = Bound::Included(prefix.to_vec());
            'chunks: loop {
                let mut chunk = Vec::new();
                let resume =
                    txn.scan_from(store, lower.as_ref().map(Vec::as_slice), 256, &mut chunk);
                for (k, row) in chunk {
                    if !k.starts_with(&prefix) {
                        break 'chunks;
                    }
                    out.push((k, row));
                    if out.len() >= limit {
                        break 'chunks;
                    }
                }
                match resume {
                    Some(k) => lower = Bound::Excluded(k.to_vec()),
                    None => break,
                }
            }
        }
        Access::Scan => {
            let mut after: Option<Key> = None;
            'scan: loop {
                let mut chunk = Vec::new();
                let resume = txn.scan_chunk(store, after.as_deref(), 1024, &mut chunk);
                for (k, row) in chunk {
                    if row_has(&row, cols, &want) {
                        out.push((k, row));
                        if out.len() >= limit {
                            break 'scan;
                        }
                    }
                }
                match resume {
                    Some(k) => after = Some(k),
                    None => break,
                }
            }
        }
    }
    out
}

/// Whether the latest committed state (with this transaction's own writes over it) has a live
/// row of `def` whose `cols` equal `want`, other than the keys in `skip`. Commit validation.
fn committed_has(
    store: &TableStore,
    def: &TableDef,
    own: Option<&TableWrites>,
    cols: &[usize],
    probe: &[Value],
    skip_own: bool,
) -> bool {
    let want = encode_key(probe, cols);
    let own_op = |k: &[u8]| own.and_then(|t| t.ops.get(k));
    let live = |k: &Key| -> bool {
        match own_op(k) {
            Some(WriteOp { row, .. }) => {
                !skip_own && row.as_ref().is_some_and(|r| row_has(r, cols, &want))
            }
            None => store
                .latest(k)
                .is_some_and(|v| v.is_live() && row_has(&v.row, cols, &want)),
        }
    };
    let own_rows = || {
        own.into_iter()
            .flat_map(|t| t.ops.iter())
            .filter(|(_, op)| op.row.as_ref().is_some_and(|r| row_has(r, cols, &want)))
            .count()
    };
    match access(def, cols) {
        Access::PrimaryKey(pk) => live(&encode_key(probe, pk)),
        Access::Index(index, n) => {
            let prefix = encode_key(probe, &index.columns[..n]);
            store.index_candidates(index.id, &prefix).iter().any(live)
                || (!skip_own && own_rows() > 0)
        }
        Access::PrimaryKeyPrefix(_) | Access::Scan => {
            let data = store.data.read();
            data.rows.iter().any(|(k, chain)| {
                own_op(k).is_none()
                    && chain
                        .last()
                        .is_some_and(|v| v.is_live() && row_has(&v.row, cols, &want))
            }) || (!skip_own && own_rows() > 0)
        }
    }
}

/// Commit-time FOREIGN KEY validation of one table's writes, for constraints whose other
/// table another transaction committed to after this snapshot (otherwise the statement-time
/// checks, made against this snapshot, still hold). A reference to a row deleted meanwhile,
/// or a new reference to a row this transaction deleted, fails as a serialization failure.
pub(crate) fn validate_commit(
    catalog: &Catalog,
    tables: &std::collections::HashMap<basalt_common::TableId, std::sync::Arc<TableStore>>,
    all_writes: &std::collections::BTreeMap<basalt_common::TableId, TableWrites>,
    def: &TableDef,
    own: &TableWrites,
    read_ts: ReadTs,
) -> Result<(), StorageError> {
    let changed_after = |id| tables.get(&id).is_some_and(|t| t.last_commit() > read_ts.0);
    // New references: the referenced row must still be there.
    for fk in &def.foreign_keys {
        if !changed_after(fk.parent) {
            continue;
        }
        let (Ok(parent), Some(pstore)) = (catalog.table(fk.parent), tables.get(&fk.parent)) else {
            continue;
        };
        for (key, op) in &own.ops {
            let Some(row) = &op.row else { continue };
            let Some(values) = key_of(row, &fk.columns) else {
                continue;
            };
            let store = tables.get(&def.id);
            let before = store.and_then(|s| s.latest(key)).filter(|v| v.is_live());
            if before.is_some_and(|v| key_of(&v.row, &fk.columns).as_ref() == Some(&values)) {
                continue; // the reference did not change
            }
            let probe = spread(parent.columns.len(), &fk.parent_columns, &values);
            if !committed_has(
                pstore,
                parent,
                all_writes.get(&fk.parent),
                &fk.parent_columns,
                &probe,
                false,
            ) {
                return Err(StorageError::SerializationFailure);
            }
        }
    }
    // Removed keys: no row committed meanwhile may reference them.
    let Some(store) = tables.get(&def.id) else {
        return Ok(());
    };
    for (child, fk) in catalog.referencing(def.id) {
        if !changed_after(child.id) {
            continue;
        }
        let Some(cstore) = tables.get(&child.id) else {
            continue;
        };
        for (key, op) in &own.ops {
            let Some(old) = store.latest(key).filter(|v| v.is_live()) else {
                continue;
            };
            let Some(values) = key_of(&old.row, &fk.parent_columns) else {
                continue;
            };
            if op
                .row
                .as_ref()
                .is_some_and(|r| key_of(r, &fk.parent_columns).as_ref() == Some(&values))
            {
                continue;
            }
            let same = spread(def.columns.len(), &fk.parent_columns, &values);
            if committed_has(store, def, Some(own), &fk.parent_columns, &same, false) {
                continue; // another row has the key now
            }
            let probe = spread(child.columns.len(), &fk.columns, &values);
            if committed_has(
                cstore,
                child,
                all_writes.get(&child.id),
                &fk.columns,
                &probe,
                true,
            ) {
                return Err(StorageError::SerializationFailure);
            }
        }
    }
    Ok(())
}
