//! Transactions: a snapshot (`read_ts`) plus a private buffer of writes.
//!
//! A transaction's writes stay in its [`WriteSet`] until commit, so other transactions never
//! see them (no dirty reads) and readers never wait for writers. Reads inside the transaction
//! merge the committed snapshot with the write set (read-your-writes). Conflicts are found
//! early (a write to a key that changed after the snapshot fails at once) and checked again
//! under the commit lock (first committer wins), see `Engine::commit`.
//!
//! Statement atomicity: every change to the write set records an undo entry; a failed
//! statement rolls its entries back, leaving the transaction as it was before the statement.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use basalt_common::{IndexId, ReadTs, Row, TableId, TxnId, Value};
use parking_lot::Mutex;

use crate::catalog::{IndexDef, TableDef};
use crate::codec::{encode_key, encode_rowid, Key};
use crate::snapshots::SnapshotGuard;
use crate::table::TableStore;
use crate::StorageError;

/// A buffered write: the new row, or `None` for a deletion.
#[derive(Debug, Clone)]
pub struct WriteOp {
    pub row: Option<Row>,
    /// The key had no live committed version in the snapshot when first written
    /// (an INSERT of a new key rather than a change of an existing row).
    pub inserted: bool,
}

#[derive(Default, Clone)]
pub struct TableWrites {
    /// The table definition version the writes were made under.
    pub def_version: u64,
    pub ops: BTreeMap<Key, WriteOp>,
    /// Unique-index keys of this transaction's own new rows, to find duplicates among them.
    unique: HashMap<IndexId, HashMap<Box<[u8]>, Key>>,
}

struct Undo {
    table: TableId,
    key: Key,
    prev: Option<WriteOp>,
    /// The deletion half of an UPDATE that changed the primary key: the row's new key.
    moved_to: Option<Key>,
}

#[derive(Default)]
pub struct WriteSet {
    pub tables: BTreeMap<TableId, TableWrites>,
    /// Undo entries since the oldest point that may still be rolled back to: the current
    /// statement's start, or the oldest savepoint.
    undo: Vec<Undo>,
    /// Where the current statement's undo entries begin.
    statement_mark: usize,
    /// Savepoints alive (their marks are held by the session).
    savepoints: usize,
    /// Undo entries before this point had their FOREIGN KEY checks made.
    fk_checked: usize,
}

/// One row a statement changed: its table and key, the row before the change (`None`: it did
/// not exist) and after it (`None`: deleted).
#[derive(Debug, Clone)]
pub struct Change {
    pub table: TableId,
    pub key: Key,
    pub before: Option<Row>,
    pub after: Option<Row>,
    /// The row was not deleted but moved to this key (an UPDATE of its primary key).
    pub moved_to: Option<Key>,
}

impl WriteSet {
    pub fn is_empty(&self) -> bool {
        self.tables.values().all(|t| t.ops.is_empty())
    }

    /// Sets (or with `None`, removes) the buffered op of a key, keeping the unique-key map in
    /// step, and returns the previous op.
    fn set_op(&mut self, def: &TableDef, key: &Key, op: Option<WriteOp>) -> Option<WriteOp> {
        let tw = self.tables.entry(def.id).or_insert_with(|| TableWrites {
            def_version: def.version,
            ..Default::default()
        });
        let prev = match op {
            Some(op) => tw.ops.insert(key.clone(), op),
            None => tw.ops.remove(key),
        };
        if let Some(WriteOp { row: Some(old), .. }) = &prev {
            for index in def.indexes.iter().filter(|i| i.unique && !i.deferrable) {
                if let Some(ik) = unique_key(old, index) {
                    let map = tw.unique.entry(index.id).or_default();
                    if map.get(&ik) == Some(key) {
                        map.remove(&ik);
                    }
                }
            }
        }
        if let Some(WriteOp { row: Some(new), .. }) = tw.ops.get(key) {
            for index in def.indexes.iter().filter(|i| i.unique && !i.deferrable) {
                if let Some(ik) = unique_key(new, index) {
                    tw.unique
                        .entry(index.id)
                        .or_default()
                        .insert(ik, key.clone());
                }
            }
        }
        prev
    }

    fn write(&mut self, def: &TableDef, key: Key, op: WriteOp) {
        let prev = self.set_op(def, &key, Some(op));
        self.undo.push(Undo {
            table: def.id,
            key,
            prev,
            moved_to: None,
        });
    }

    pub fn own(&self, table: TableId, key: &[u8]) -> Option<&WriteOp> {
        self.tables.get(&table)?.ops.get(key)
    }
}

/// The unique-index key of a row, or `None` when a key column is NULL (NULLs never collide,
/// unless the index says `NULLS NOT DISTINCT`).
pub(crate) fn unique_key(row: &[Value], index: &IndexDef) -> Option<Box<[u8]>> {
    if !index.nulls_not_distinct
        && index
            .columns
            .iter()
            .any(|&c| row.get(c).is_none_or(Value::is_null))
    {
        return None;
    }
    Some(encode_key(row, &index.columns))
}

pub struct Transaction {
    pub id: TxnId,
    pub read_ts: ReadTs,
    /// Shared with the scans of this transaction's statements (they read own writes).
    pub writes: Arc<Mutex<WriteSet>>,
    /// `SET CONSTRAINTS` of this transaction.
    constraint_modes: Mutex<ConstraintModes>,
    _snapshot: SnapshotGuard,
}

/// What `SET CONSTRAINTS` chose in a transaction: for all deferrable constraints, and for
/// those named since (a later `ALL` forgets the names). `true` is DEFERRED.
#[derive(Default, Clone)]
struct ConstraintModes {
    all: Option<bool>,
    named: HashMap<String, bool>,
}

impl Transaction {
    pub(crate) fn new(id: TxnId, read_ts: ReadTs, snapshot: SnapshotGuard) -> Transaction {
        Transaction {
            id,
            read_ts,
            writes: Arc::default(),
            constraint_modes: Mutex::default(),
            _snapshot: snapshot,
        }
    }

    /// `SET CONSTRAINTS {ALL | names} {DEFERRED | IMMEDIATE}` (`names` `None`: ALL).
    pub fn set_constraint_mode(&self, names: Option<&[String]>, deferred: bool) {
        let mut modes = self.constraint_modes.lock();
        match names {
            None => {
                modes.all = Some(deferred);
                modes.named.clear();
            }
            Some(names) => {
                for n in names {
                    modes.named.insert(n.clone(), deferred);
                }
            }
        }
    }

    /// Whether the deferrable constraint `name` (declared `INITIALLY DEFERRED` or not) is
    /// deferred to COMMIT in this transaction now.
    pub fn is_deferred(&self, name: &str, initially_deferred: bool) -> bool {
        let modes = self.constraint_modes.lock();
        match modes.named.get(name) {
            Some(&d) => d,
            None => modes.all.unwrap_or(initially_deferred),
        }
    }

    /// Checks the deferrable UNIQUE constraints that are not deferred now, over the rows the
    /// current statement wrote (`whole`: every row the transaction wrote, for `SET
    /// CONSTRAINTS … IMMEDIATE`), against the transaction's other rows and the latest
    /// committed state.
    pub fn check_deferrable_unique(
        &self,
        catalog: &crate::catalog::Catalog,
        stores: &dyn Fn(TableId) -> Option<Arc<TableStore>>,
        whole: bool,
    ) -> Result<(), StorageError> {
        let ws = self.writes.lock();
        let mut written: BTreeMap<TableId, Vec<&Key>> = BTreeMap::new();
        if whole {
            for (table, tw) in &ws.tables {
                written.entry(*table).or_default().extend(tw.ops.keys());
            }
        } else {
            for u in &ws.undo[ws.statement_mark.min(ws.undo.len())..] {
                written.entry(u.table).or_default().push(&u.key);
            }
        }
        for (table, keys) in written {
            let (Ok(def), Some(tw)) = (catalog.table(table), ws.tables.get(&table)) else {
                continue;
            };
            let checked = def
                .indexes
                .iter()
                .filter(|i| i.unique && i.deferrable)
                .filter(|i| !self.is_deferred(&i.name, i.initially_deferred));
            for index in checked {
                let Some(store) = stores(table) else { continue };
                check_index_among(def, &store, tw, index, &keys)?;
            }
        }
        Ok(())
    }

    /// A read-only view of this transaction as it is now: the same snapshot and a copy of
    /// the writes made so far, which later writes of this transaction do not change.
    /// PostgreSQL's data-modifying WITH queries read through such a view, so that no part
    /// of a statement sees the changes another part makes. The view is never written to or
    /// committed.
    pub fn frozen(&self) -> Transaction {
        let ws = self.writes.lock();
        let copy = WriteSet {
            tables: ws.tables.clone(),
            ..WriteSet::default()
        };
        Transaction {
            id: self.id,
            read_ts: self.read_ts,
            writes: Arc::new(Mutex::new(copy)),
            constraint_modes: Mutex::new(self.constraint_modes.lock().clone()),
            _snapshot: self._snapshot.again(),
        }
    }

    /// Marks the start of a statement: later [`Transaction::rollback_statement`] undoes only
    /// what comes after. Without savepoints, earlier undo entries are no longer needed.
    pub fn begin_statement(&self) {
        let mut ws = self.writes.lock();
        if ws.savepoints == 0 {
            ws.undo.clear();
        }
        ws.statement_mark = ws.undo.len();
        ws.fk_checked = ws.undo.len();
    }

    /// The rows changed since the last call (or since the statement began), each once, with
    /// its state before the first of those changes and its state now. Used to check FOREIGN
    /// KEY constraints at the end of a statement; the changes those checks make (cascades)
    /// come back from the next call.
    pub fn take_changes(&self, stores: &dyn Fn(TableId) -> Option<Arc<TableStore>>) -> Vec<Change> {
        let mut ws = self.writes.lock();
        let from = ws.fk_checked.max(ws.statement_mark).min(ws.undo.len());
        ws.fk_checked = ws.undo.len();
        let mut seen: HashMap<(TableId, Key), usize> = HashMap::new();
        let mut out: Vec<Change> = Vec::new();
        for u in &ws.undo[from..] {
            if let Some(&i) = seen.get(&(u.table, u.key.clone())) {
                out[i].moved_to = u.moved_to.clone();
                continue;
            }
            seen.insert((u.table, u.key.clone()), out.len());
            let before = match &u.prev {
                Some(op) => op.row.clone(),
                None => stores(u.table).and_then(|s| s.get(&u.key, self.read_ts)),
            };
            let after = ws
                .tables
                .get(&u.table)
                .and_then(|t| t.ops.get(&u.key))
                .map_or_else(
                    || stores(u.table).and_then(|s| s.get(&u.key, self.read_ts)),
                    |op| op.row.clone(),
                );
            out.push(Change {
                table: u.table,
                key: u.key.clone(),
                before,
                after,
                moved_to: u.moved_to.clone(),
            });
        }
        out
    }

    /// Every row this transaction changed, with its committed state in the snapshot and its
    /// state now (deferred FOREIGN KEY checks at COMMIT).
    pub fn all_changes(&self, stores: &dyn Fn(TableId) -> Option<Arc<TableStore>>) -> Vec<Change> {
        let ws = self.writes.lock();
        let mut out = Vec::new();
        for (id, tw) in &ws.tables {
            for (key, op) in &tw.ops {
                out.push(Change {
                    table: *id,
                    key: key.clone(),
                    before: stores(*id).and_then(|s| s.get(key, self.read_ts)),
                    after: op.row.clone(),
                    moved_to: None,
                });
            }
        }
        out
    }

    /// Undoes every write of the current statement (statement-level atomicity).
    pub fn rollback_statement(&self, catalog: &crate::catalog::Catalog) {
        let mark = self.writes.lock().statement_mark;
        self.rollback_to(catalog, mark);
    }

    /// A savepoint: the position to roll back to with [`Transaction::rollback_to`].
    pub fn savepoint(&self) -> usize {
        let mut ws = self.writes.lock();
        ws.savepoints += 1;
        ws.undo.len()
    }

    /// Forgets `n` savepoints (RELEASE, or those rolled past).
    pub fn release_savepoints(&self, n: usize) {
        let mut ws = self.writes.lock();
        ws.savepoints = ws.savepoints.saturating_sub(n);
    }

    /// Undoes every write made after `mark`.
    pub fn rollback_to(&self, catalog: &crate::catalog::Catalog, mark: usize) {
        let mut ws = self.writes.lock();
        while ws.undo.len() > mark {
            let Some(u) = ws.undo.pop() else { break };
            match catalog.tables.get(&u.table) {
                Some(def) => {
                    ws.set_op(def, &u.key, u.prev);
                }
                None => {
                    ws.tables.remove(&u.table);
                }
            }
        }
        ws.statement_mark = ws.statement_mark.min(mark);
        ws.fk_checked = ws.fk_checked.min(mark);
    }

    /// This transaction's own DDL changed table definitions: its buffered writes stay valid
    /// under the new versions (commit re-checks unique keys among them).
    pub fn adopt_definitions(&self, catalog: &crate::catalog::Catalog) {
        let mut ws = self.writes.lock();
        for (id, tw) in ws.tables.iter_mut() {
            if let Some(def) = catalog.tables.get(id) {
                tw.def_version = def.version;
            }
        }
    }

    /// Forgets every buffered write to a table (the table was truncated or dropped); returns
    /// them, to put back with [`Transaction::restore_table`] if the drop is rolled back.
    pub fn discard_table(&self, table: TableId) -> Option<TableWrites> {
        self.writes.lock().tables.remove(&table)
    }

    /// Puts back the writes [`Transaction::discard_table`] took from a table whose drop was
    /// rolled back (its undo entries, still in the log, undo them as usual).
    pub fn restore_table(&self, table: TableId, writes: TableWrites) {
        self.writes.lock().tables.insert(table, writes);
    }

    /// Whether this transaction has written to `table` (and not undone it).
    pub fn has_writes_to(&self, table: TableId) -> bool {
        self.writes
            .lock()
            .tables
            .get(&table)
            .is_some_and(|tw| !tw.ops.is_empty())
    }

    pub fn has_writes(&self) -> bool {
        !self.writes.lock().is_empty()
    }

    /// The row of `key` as this transaction sees it.
    pub fn read(&self, store: &TableStore, key: &[u8]) -> Option<Row> {
        if let Some(op) = self.writes.lock().own(store.id, key) {
            return op.row.clone();
        }
        store.get(key, self.read_ts)
    }

    pub fn insert(&self, store: &TableStore, def: &TableDef, row: Row) -> Result<(), StorageError> {
        let key = match &def.primary_key {
            Some(cols) => encode_key(&row, cols),
            None => encode_rowid(store.allocate_rowid()),
        };
        self.insert_at(store, def, key, row)
    }

    /// Inserts `row` under `key` (its primary key, or a new row id).
    fn insert_at(
        &self,
        store: &TableStore,
        def: &TableDef,
        key: Key,
        row: Row,
    ) -> Result<(), StorageError> {
        let mut ws = self.writes.lock();
        let inserted = match ws.own(def.id, &key) {
            Some(WriteOp { row: Some(_), .. }) => return Err(pk_violation(def, &row)),
            Some(WriteOp {
                row: None,
                inserted,
            }) => *inserted,
            None => match store.latest(&key) {
                Some(v) if v.is_live() => return Err(pk_violation(def, &row)),
                Some(v) if v.end.0 > self.read_ts.0 => {
                    return Err(StorageError::SerializationFailure)
                }
                _ => true,
            },
        };
        self.check_unique(&ws, store, def, &key, &row)?;
        ws.write(
            def,
            key,
            WriteOp {
                row: Some(row),
                inserted,
            },
        );
        Ok(())
    }

    /// An UPDATE as PostgreSQL's heap makes it: like [`Transaction::update`], but a row of a
    /// table without a primary key moves to a new row id, so scans list it after the rows
    /// not changed since (PostgreSQL writes a new row version at the end of the heap).
    pub fn update_relocating(
        &self,
        store: &TableStore,
        def: &TableDef,
        key: &[u8],
        row: Row,
    ) -> Result<(), StorageError> {
        if def.primary_key.is_some() {
            return self.update(store, def, key, row);
        }
        let new_key = encode_rowid(store.allocate_rowid());
        self.delete(store, def, key)?;
        self.insert_at(store, def, new_key.clone(), row)?;
        let mut ws = self.writes.lock();
        let n = ws.undo.len();
        if let Some(deletion) = n.checked_sub(2).and_then(|i| ws.undo.get_mut(i)) {
            deletion.moved_to = Some(new_key);
        }
        Ok(())
    }

    /// Replaces the row of `key` with `row` (which may have a different primary key).
    pub fn update(
        &self,
        store: &TableStore,
        def: &TableDef,
        key: &[u8],
        row: Row,
    ) -> Result<(), StorageError> {
        let new_key = match &def.primary_key {
            Some(cols) => encode_key(&row, cols),
            None => key.into(),
        };
        if *new_key != *key {
            self.delete(store, def, key)?;
            self.insert(store, def, row)?;
            // Mark the deletion as a move, so that FOREIGN KEY actions treat it as an UPDATE.
            let mut ws = self.writes.lock();
            let n = ws.undo.len();
            if let Some(deletion) = n.checked_sub(2).and_then(|i| ws.undo.get_mut(i)) {
                deletion.moved_to = Some(new_key);
            }
            return Ok(());
        }
        let mut ws = self.writes.lock();
        let inserted = match ws.own(def.id, key) {
            Some(op) => op.inserted,
            None => {
                self.check_not_changed(store, key)?;
                false
            }
        };
        self.check_unique(&ws, store, def, &new_key, &row)?;
        ws.write(
            def,
            new_key,
            WriteOp {
                row: Some(row),
                inserted,
            },
        );
        Ok(())
    }

    pub fn delete(
        &self,
        store: &TableStore,
        def: &TableDef,
        key: &[u8],
    ) -> Result<(), StorageError> {
        let mut ws = self.writes.lock();
        match ws.own(def.id, key) {
            // Deleting a row this transaction inserted: it simply never existed.
            Some(WriteOp { inserted: true, .. }) => {
                let prev = ws.set_op(def, &key.into(), None);
                ws.undo.push(Undo {
                    table: def.id,
                    key: key.into(),
                    prev,
                    moved_to: None,
                });
            }
            Some(_) => ws.write(
                def,
                key.into(),
                WriteOp {
                    row: None,
                    inserted: false,
                },
            ),
            None => {
                self.check_not_changed(store, key)?;
                ws.write(
                    def,
                    key.into(),
                    WriteOp {
                        row: None,
                        inserted: false,
                    },
                );
            }
        }
        Ok(())
    }

    /// First committer wins, checked early: writing a row that another transaction changed
    /// after this snapshot fails now rather than at COMMIT.
    fn check_not_changed(&self, store: &TableStore, key: &[u8]) -> Result<(), StorageError> {
        match store.latest(key) {
            Some(v) if v.begin.0 > self.read_ts.0 => Err(StorageError::SerializationFailure),
            Some(v) if !v.is_live() && v.end.0 > self.read_ts.0 => {
                Err(StorageError::SerializationFailure)
            }
            _ => Ok(()),
        }
    }

    fn check_unique(
        &self,
        ws: &WriteSet,
        store: &TableStore,
        def: &TableDef,
        key: &Key,
        row: &[Value],
    ) -> Result<(), StorageError> {
        // Deferrable constraints are checked at the end of the statement, or at COMMIT.
        for index in def.indexes.iter().filter(|i| i.unique && !i.deferrable) {
            let Some(ik) = unique_key(row, index) else {
                continue;
            };
            let own = ws.tables.get(&def.id);
            if let Some(other) = own.and_then(|t| t.unique.get(&index.id)?.get(&ik)) {
                if other != key {
                    return Err(unique_violation(def, index, row));
                }
            }
            for candidate in store.index_candidates(index.id, &ik) {
                if candidate == *key || own.is_some_and(|t| t.ops.contains_key(&candidate)) {
                    continue;
                }
                if let Some(v) = store.latest(&candidate) {
                    if v.is_live() && encode_key(&v.row, &index.columns) == ik {
                        return Err(unique_violation(def, index, row));
                    }
                }
            }
        }
        Ok(())
    }

    /// Up to `max_rows` rows of the table as this transaction sees them, after key `after`.
    /// Returns the key to resume after, or `None` at the end of the table.
    pub fn scan_chunk(
        &self,
        store: &TableStore,
        after: Option<&[u8]>,
        max_rows: usize,
        out: &mut Vec<(Key, Row)>,
    ) -> Option<Key> {
        self.scan_from(
            store,
            after.map_or(Bound::Unbounded, Bound::Excluded),
            max_rows,
            out,
        )
    }

    /// [`Transaction::scan_chunk`] from any lower bound.
    pub fn scan_from(
        &self,
        store: &TableStore,
        lower: Bound<&[u8]>,
        max_rows: usize,
        out: &mut Vec<(Key, Row)>,
    ) -> Option<Key> {
        let mut committed = Vec::with_capacity(max_rows);
        let resume = store.scan_from(lower, self.read_ts, max_rows, &mut committed);
        let ws = self.writes.lock();
        let Some(tw) = ws.tables.get(&store.id).filter(|t| !t.ops.is_empty()) else {
            out.extend(committed);
            return resume;
        };
        let upper = resume.as_deref().map_or(Bound::Unbounded, Bound::Included);
        let mut own = tw.ops.range::<[u8], _>((lower, upper)).peekable();
        let mut committed = committed.into_iter().peekable();
        loop {
            let take_own = match (committed.peek(), own.peek()) {
                (None, None) => break,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some((ck, _)), Some((ok, _))) => ok.as_ref() <= ck.as_ref(),
            };
            if take_own {
                let Some((k, op)) = own.next() else { break };
                if committed.peek().is_some_and(|(ck, _)| ck == k) {
                    committed.next();
                }
                if let Some(row) = &op.row {
                    out.push((k.clone(), row.clone()));
                }
            } else if let Some(c) = committed.next() {
                out.push(c);
            }
        }
        resume
    }

    /// Keys of rows whose `index` values encode to `prefix`, as this transaction sees them.
    pub fn index_lookup(
        &self,
        store: &TableStore,
        index: &IndexDef,
        prefix: &[u8],
    ) -> Vec<(Key, Row)> {
        let mut out = Vec::new();
        let mut keys = store.index_candidates(index.id, prefix);
        {
            let ws = self.writes.lock();
            if let Some(tw) = ws.tables.get(&store.id) {
                for (k, op) in &tw.ops {
                    if op
                        .row
                        .as_ref()
                        .is_some_and(|r| crate::table::row_matches_index(r, index, prefix))
                    {
                        keys.push(k.clone());
                    }
                }
            }
        }
        keys.sort();
        keys.dedup();
        for k in keys {
            if let Some(row) = self.read(store, &k) {
                if crate::table::row_matches_index(&row, index, prefix) {
                    out.push((k, row));
                }
            }
        }
        out
    }
}

fn pk_violation(def: &TableDef, row: &[Value]) -> StorageError {
    let cols = def.primary_key.clone().unwrap_or_default();
    StorageError::UniqueViolation {
        constraint: def
            .primary_key_name
            .clone()
            .unwrap_or_else(|| format!("{}_pkey", def.name)),
        detail: key_detail(def, &cols, row),
    }
}

fn unique_violation(def: &TableDef, index: &IndexDef, row: &[Value]) -> StorageError {
    if index.exclusion {
        let key = key_text(def, &index.columns, row);
        return StorageError::ExclusionViolation {
            constraint: index.name.clone(),
            detail: format!("Key {key} conflicts with existing key {key}."),
        };
    }
    StorageError::UniqueViolation {
        constraint: index.name.clone(),
        detail: key_detail(def, &index.columns, row),
    }
}

/// PostgreSQL's `Key (a, b)=(1, x) already exists.` detail.
fn key_detail(def: &TableDef, cols: &[usize], row: &[Value]) -> String {
    format!("Key {} already exists.", key_text(def, cols, row))
}

/// `(a, b)=(1, 2)`: a key's columns and values, as PostgreSQL's DETAIL lines show them.
pub(crate) fn key_text(def: &TableDef, cols: &[usize], row: &[Value]) -> String {
    let names: Vec<&str> = cols.iter().map(|&c| def.columns[c].name.as_str()).collect();
    let values: Vec<String> = cols.iter().map(|&c| display_value(row.get(c))).collect();
    format!("({})=({})", names.join(", "), values.join(", "))
}

fn display_value(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "null".into(),
        Some(Value::Text(s)) => s.clone(),
        Some(Value::Int16(x)) => x.to_string(),
        Some(Value::Int32(x)) => x.to_string(),
        Some(Value::Int64(x)) => x.to_string(),
        Some(Value::Bool(b)) => if *b { "t" } else { "f" }.into(),
        Some(other) => format!("{other:?}"),
    }
}

/// The rows of `keys` (written by the transaction, `own`) against `index`: no other row the
/// transaction wrote, nor any live committed row it did not change, has the same key.
fn check_index_among(
    def: &TableDef,
    store: &TableStore,
    own: &TableWrites,
    index: &IndexDef,
    keys: &[&Key],
) -> Result<(), StorageError> {
    let mut own_keys: HashMap<Box<[u8]>, usize> = HashMap::new();
    for op in own.ops.values() {
        if let Some(ik) = op.row.as_deref().and_then(|r| unique_key(r, index)) {
            *own_keys.entry(ik).or_default() += 1;
        }
    }
    for key in keys {
        let Some(row) = own.ops.get(*key).and_then(|op| op.row.as_deref()) else {
            continue;
        };
        let Some(ik) = unique_key(row, index) else {
            continue;
        };
        if own_keys.get(&ik).copied().unwrap_or(0) > 1 {
            return Err(unique_violation(def, index, row));
        }
        for candidate in store.index_candidates(index.id, &ik) {
            if candidate == **key || own.ops.contains_key(&candidate) {
                continue;
            }
            if let Some(v) = store.latest(&candidate) {
                if v.is_live() && unique_key(&v.row, index).as_deref() == Some(&*ik) {
                    return Err(unique_violation(def, index, row));
                }
            }
        }
    }
    Ok(())
}

/// Commit-time check that the transaction's own new rows do not share a unique key (the
/// per-write checks may predate a unique index created in the same transaction).
pub(crate) fn validate_own_unique(def: &TableDef, own: &TableWrites) -> Result<(), StorageError> {
    for index in def.indexes.iter().filter(|i| i.unique) {
        let mut seen = std::collections::HashSet::new();
        for op in own.ops.values() {
            let Some(row) = &op.row else { continue };
            if let Some(ik) = unique_key(row, index) {
                if !seen.insert(ik) {
                    return Err(unique_violation(def, index, row));
                }
            }
        }
    }
    Ok(())
}

/// Commit-time validation of one buffered op against the latest committed state.
pub(crate) fn validate_op(
    store: &TableStore,
    def: &TableDef,
    read_ts: ReadTs,
    key: &[u8],
    op: &WriteOp,
    own: &TableWrites,
) -> Result<(), StorageError> {
    if own.def_version != def.version {
        // The table was altered, indexed or truncated after this transaction wrote to it.
        return Err(StorageError::SerializationFailure);
    }
    let latest = store.latest(key);
    if op.inserted {
        if let Some(v) = &latest {
            if v.is_live() {
                return Err(match &op.row {
                    Some(row) => pk_violation(def, row),
                    None => StorageError::SerializationFailure,
                });
            }
            if v.begin.0 > read_ts.0 || v.end.0 > read_ts.0 {
                // Inserted and deleted by others since this snapshot: first committer wins.
                return Err(StorageError::SerializationFailure);
            }
        }
    } else if let Some(v) = &latest {
        if v.begin.0 > read_ts.0 || (!v.is_live() && v.end.0 > read_ts.0) {
            return Err(StorageError::SerializationFailure);
        }
    }
    let Some(row) = &op.row else { return Ok(()) };
    for index in def.indexes.iter().filter(|i| i.unique) {
        let Some(ik) = unique_key(row, index) else {
            continue;
        };
        for candidate in store.index_candidates(index.id, &ik) {
            if *candidate == *key || own.ops.contains_key(&candidate) {
                continue;
            }
            if let Some(v) = store.latest(&candidate) {
                if v.is_live() && encode_key(&v.row, &index.columns) == ik {
                    return Err(unique_violation(def, index, row));
                }
            }
        }
    }
    Ok(())
}
