//! The storage engine: recovery, the commit path, DDL, sequences, checkpoints and garbage
//! collection.
//!
//! Locking discipline:
//! - `commit` (a mutex) serialises commit validation, timestamp assignment, version install
//!   and WAL append, so timestamps, installs and log order agree. It is never held across an
//!   fsync or an `.await`: committers wait for durability after releasing it (group commit).
//! - `catalog` and `tables` are read-mostly; they change only under `commit` (DDL).
//! - A table's `data` lock is taken inside `commit` for installs, never the other way round.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use basalt_common::{CommitTs, ReadTs, TableId, TxnId, Value};
use parking_lot::{Mutex, RwLock};

use crate::catalog::{Catalog, IndexDef, SequenceDef, TableDef};
use crate::checkpoint::{self, Manifest};
use crate::codec::{decode_rowid, Key};
use crate::columnar::ColumnTable;
use crate::snapshots::Snapshots;
use crate::table::TableStore;
use crate::txn::{validate_op, Transaction};
use crate::wal::{self, CommitEncoder, Wal, WalRecord};
use crate::StorageError;

#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    /// Take a checkpoint when this many WAL bytes accumulated since the last one; 0 = only
    /// at clean shutdown.
    pub checkpoint_wal_bytes: u64,
    /// fsync the WAL before acknowledging commits. Only tests of non-durable paths turn it off.
    pub fsync: bool,
}

/// Keys examined per hold of a table's write lock during garbage collection.
const GC_CHUNK_KEYS: usize = 4096;
/// Superseded keys remembered per table before a pass looks at the whole table instead.
const GC_PENDING_KEYS_MAX: usize = 1 << 16;

struct CommitState {
    last_ts: u64,
}

pub struct Engine {
    config: StorageConfig,
    catalog: RwLock<Arc<Catalog>>,
    tables: RwLock<HashMap<TableId, Arc<TableStore>>>,
    /// Last value handed out per sequence (qualified name).
    sequences: RwLock<HashMap<String, Arc<AtomicI64>>>,
    commit: Mutex<CommitState>,
    wal: Arc<Wal>,
    snapshots: Arc<Snapshots>,
    next_txn: AtomicU64,
    checkpoint_lsn: AtomicU64,
    checkpointing: AtomicBool,
    /// Tables with versions that garbage collection may remove.
    /// Per table, the keys whose old versions garbage collection should look at next.
    gc_pending: Mutex<HashMap<TableId, PendingGc>>,
    /// Keys garbage collection has examined since start-up (a measure of its work).
    gc_keys_examined: AtomicU64,
    /// Tables loaded into the column engine (changed only under `commit`).
    columnar: RwLock<HashMap<TableId, Arc<ColumnTable>>>,
    /// The data directory's `LOCK` file, locked while the engine lives.
    _lock: fs::File,
}

/// Locks `<data_dir>/LOCK` for this process (an advisory lock the OS drops when the process
/// ends, however it ends) and writes the process id into it: a second server on the same
/// directory would replay and checkpoint over the first one's files.
fn lock_data_dir(data_dir: &std::path::Path) -> Result<fs::File, StorageError> {
    use std::io::{Read, Seek, Write};
    let path = data_dir.join("LOCK");
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| StorageError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            return Err(StorageError::DataDirInUse {
                path: data_dir.display().to_string(),
                holder: if pid.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {pid})")
                },
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(StorageError::io(&path, e)),
    }
    let write_pid = |file: &mut fs::File| -> std::io::Result<()> {
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())
    };
    write_pid(&mut file).map_err(|e| StorageError::io(&path, e))?;
    Ok(file)
}

impl Engine {
    /// Opens (or creates) the data directory and recovers: load the newest checkpoint, replay
    /// the WAL after it, rebuild indexes and sequences.
    pub fn open(config: StorageConfig) -> Result<Arc<Engine>, StorageError> {
        let wal_dir = config.data_dir.join("wal");
        for dir in [
            &config.data_dir,
            &wal_dir,
            &checkpoint::checkpoints_dir(&config.data_dir),
        ] {
            fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
        }
        let lock = lock_data_dir(&config.data_dir)?;
        let mut catalog = Catalog::default();
        let mut tables: HashMap<TableId, Arc<TableStore>> = HashMap::new();
        let mut last_ts = 0u64;
        let mut wal_start = 0u64;
        if let Some((dir, manifest)) = checkpoint::read_current(&config.data_dir)? {
            tracing::info!(
                "loading checkpoint at ts {} from {}",
                manifest.ts,
                dir.display()
            );
            catalog = manifest.catalog;
            for (id, file) in &manifest.files {
                let def = catalog.table(*id)?;
                let store = Arc::new(TableStore::new(*id));
                checkpoint::load_table(def, &store, &dir.join(file), CommitTs(manifest.ts))?;
                tables.insert(*id, store);
            }
            for def in catalog.tables.values() {
                tables
                    .entry(def.id)
                    .or_insert_with(|| Arc::new(TableStore::new(def.id)));
            }
            last_ts = manifest.ts;
            wal_start = manifest.wal_start_lsn;
        }
        let recovered = wal::recover(&wal_dir, wal_start)?;
        tracing::info!("replaying {} WAL records", recovered.records.len());
        // Replayed updates and deletes leave old versions: the first pass looks at these
        // tables whole.
        let mut replayed: HashMap<TableId, PendingGc> = HashMap::new();
        last_ts = last_ts.max(recovered.max_ts);
        for record in recovered.records {
            last_ts = last_ts.max(record.ts().0);
            match record {
                WalRecord::Commit { ts, ops } => {
                    for op in ops {
                        let (Ok(def), Some(store)) =
                            (catalog.table(op.table), tables.get(&op.table))
                        else {
                            return Err(StorageError::Corrupt(format!(
                                "WAL commit {} writes to unknown table {}",
                                ts.0, op.table
                            )));
                        };
                        if def.primary_key.is_none() {
                            if let Some(id) = decode_rowid(&op.key) {
                                store.observe_rowid(id);
                            }
                        }
                        replayed.insert(op.table, PendingGc::Whole);
                        store.data.write().install(def, op.key, op.row, ts);
                    }
                }
                WalRecord::CommitPart { ts, .. } => {
                    return Err(StorageError::Internal(format!(
                        "WAL recovery returned an unmerged part of commit {}",
                        ts.0
                    )));
                }
                WalRecord::Catalog {
                    catalog: new,
                    truncated,
                    ..
                } => {
                    let rekeyed = rekey_tables(&catalog, &new, &truncated, &tables);
                    tables.extend(rekeyed);
                    apply_tables(&catalog, &new, &truncated, &mut tables)?;
                    catalog = *new;
                }
            }
        }
        let wal = Wal::open(&wal_dir, recovered.end_lsn, last_ts, config.fsync)?;
        let engine = Arc::new(Engine {
            _lock: lock,
            catalog: RwLock::new(Arc::new(catalog)),
            tables: RwLock::new(tables),
            sequences: RwLock::new(HashMap::new()),
            commit: Mutex::new(CommitState { last_ts }),
            wal,
            snapshots: Arc::default(),
            next_txn: AtomicU64::new(1),
            checkpoint_lsn: AtomicU64::new(wal_start),
            checkpointing: AtomicBool::new(false),
            gc_pending: Mutex::new(replayed),
            gc_keys_examined: AtomicU64::new(0),
            columnar: RwLock::default(),
            config,
        });
        engine.sync_sequences();
        {
            // The column engine is derived state: loaded again from the recovered rows.
            let state = engine.commit.lock();
            engine.sync_columnar(&[], state.last_ts, true);
        }
        spawn_gc(Arc::downgrade(&engine));
        Ok(engine)
    }

    pub fn config(&self) -> &StorageConfig {
        &self.config
    }

    /// The current catalog version.
    pub fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&self.catalog.read())
    }

    pub fn table(&self, id: TableId) -> Option<Arc<TableStore>> {
        self.tables.read().get(&id).cloned()
    }

    /// fsyncs the WAL has made since the engine opened (group commit shares them).
    pub fn wal_sync_count(&self) -> u64 {
        self.wal.sync_count()
    }

    /// Starts a transaction reading the newest durable snapshot.
    pub fn begin(&self) -> Transaction {
        let guard = self
            .snapshots
            .register_current(|| ReadTs(self.wal.durable().ts));
        let read = guard.read_ts();
        Transaction::new(
            TxnId(self.next_txn.fetch_add(1, Ordering::Relaxed)),
            read,
            guard,
        )
    }

    /// Commits a transaction: validates first-committer-wins and unique constraints against
    /// the latest committed state, installs its versions at a new timestamp, logs it, and
    /// returns once the log record is durable. Nothing is installed when validation fails.
    pub async fn commit(
        self: &Arc<Self>,
        txn: &Transaction,
    ) -> Result<Option<CommitTs>, StorageError> {
        let writes = std::mem::take(&mut *txn.writes.lock());
        if writes.is_empty() {
            return Ok(None);
        }
        let (ts, lsn) = {
            let mut state = self.commit.lock();
            let catalog = self.catalog();
            let tables = self.tables.read();
            for (id, tw) in writes.tables.iter().filter(|(_, tw)| !tw.ops.is_empty()) {
                let def = catalog.table(*id)?;
                let store = tables.get(id).ok_or(StorageError::TableDropped(*id))?;
                crate::txn::validate_own_unique(def, tw)?;
                for (key, op) in &tw.ops {
                    validate_op(store, def, txn.read_ts, key, op, tw)?;
                }
            }
            if catalog.has_foreign_keys() {
                for (id, tw) in writes.tables.iter().filter(|(_, tw)| !tw.ops.is_empty()) {
                    let def = catalog.table(*id)?;
                    crate::fkeys::validate_commit(
                        &catalog,
                        &tables,
                        &writes.tables,
                        def,
                        tw,
                        txn.read_ts,
                    )?;
                }
            }
            let ts = CommitTs(state.last_ts + 1);
            // A large transaction goes to the log in parts as it is encoded; they publish
            // nothing, and recovery ignores them unless the final record follows.
            let mut record = CommitEncoder::new(ts);
            for (id, tw) in &writes.tables {
                for (key, op) in &tw.ops {
                    if let Some(part) = record.push(*id, key, op.row.as_deref()) {
                        self.wal.append_part(&part)?;
                    }
                }
            }
            let payload = record.finish(true);
            // Install before queueing the record: the flusher may publish the timestamp as
            // visible as soon as the record is queued.
            let mut gc: Vec<(TableId, Vec<Key>)> = Vec::new();
            let columnar = self.columnar.read();
            for (id, tw) in writes.tables {
                let (Ok(def), Some(store)) = (catalog.table(id), tables.get(&id)) else {
                    continue;
                };
                // Invariant 3: the column engine has the commit before anyone can see it.
                if let Some(ct) = columnar.get(&id) {
                    let ops: Vec<(Key, Option<basalt_common::Row>)> = tw
                        .ops
                        .iter()
                        .map(|(k, op)| (k.clone(), op.row.clone()))
                        .collect();
                    ct.apply(&ops, ts.0);
                }
                let mut superseded = Vec::new();
                store.note_commit(ts);
                let mut data = store.data.write();
                for (key, op) in tw.ops {
                    if !op.inserted {
                        superseded.push(key.clone());
                    }
                    data.install(def, key, op.row, ts);
                }
                if !superseded.is_empty() {
                    gc.push((id, superseded));
                }
            }
            let lsn = self.wal.append(&payload, ts)?;
            state.last_ts = ts.0;
            if !gc.is_empty() {
                let mut pending = self.gc_pending.lock();
                for (id, keys) in gc {
                    pending.entry(id).or_default().add(keys);
                }
            }
            (ts, lsn)
        };
        self.wal.wait_durable(lsn).await?;
        self.maybe_checkpoint();
        Ok(Some(ts))
    }

    /// Applies a DDL change: `change` edits a copy of the catalog and returns the tables whose
    /// rows are removed (TRUNCATE). The new catalog is logged whole; returns once durable.
    pub async fn ddl<E>(
        self: &Arc<Self>,
        change: impl FnOnce(&mut Catalog) -> Result<Vec<TableId>, E>,
    ) -> Result<(), E>
    where
        E: From<StorageError>,
    {
        self.ddl_restoring(change, Vec::new()).await
    }

    /// [`Engine::ddl`] that also puts back tables a rolled-back transaction block dropped or
    /// truncated: `change` adds their definitions again (or truncates them), and `restored`
    /// are their stores as the drop or TRUNCATE left them (rows, indexes, row ids), which
    /// replace the empty ones a new or truncated table gets.
    /// Their live rows are logged again after the catalog, so recovery finds them (the log
    /// and the last checkpoint hold them only before the drop).
    pub async fn ddl_restoring<E>(
        self: &Arc<Self>,
        change: impl FnOnce(&mut Catalog) -> Result<Vec<TableId>, E>,
        restored: Vec<Arc<TableStore>>,
    ) -> Result<(), E>
    where
        E: From<StorageError>,
    {
        let lsn = {
            let mut state = self.commit.lock();
            let old = self.catalog();
            let mut new = (*old).clone();
            let truncated = change(&mut new)?;
            bump_changed_versions(&old, &mut new, &truncated);
            self.check_new_unique_indexes(&old, &new)?;
            self.check_new_primary_keys(&old, &new, &truncated)?;
            let ts = CommitTs(state.last_ts + 1);
            let record = WalRecord::Catalog {
                ts,
                catalog: Box::new(new.clone()),
                truncated: truncated.clone(),
            };
            let payload = record.encode()?;
            // Re-keying copies whole tables: done before the table map is locked for writing.
            let rekeyed = rekey_tables(&old, &new, &truncated, &self.tables.read());
            // A store comes back for a table the catalog gets back, or for one `change`
            // truncates (the rows a rolled-back TRUNCATE removed).
            let restored: Vec<Arc<TableStore>> = restored
                .into_iter()
                .filter(|t| {
                    new.tables.contains_key(&t.id)
                        && (!old.tables.contains_key(&t.id) || truncated.contains(&t.id))
                })
                .collect();
            {
                let mut tables = self.tables.write();
                // Rows other sessions committed into a truncated table since the TRUNCATE
                // stay: they go into the store that comes back, as the newest versions
                // (logged with its rows below).
                let rows_ts = CommitTs(ts.0 + 1);
                for store in restored.iter().filter(|t| truncated.contains(&t.id)) {
                    let (Some(current), Some(def)) =
                        (tables.get(&store.id), new.tables.get(&store.id))
                    else {
                        continue;
                    };
                    let since: Vec<(Key, basalt_common::Row)> = current
                        .data
                        .read()
                        .rows
                        .iter()
                        .filter_map(|(k, chain)| {
                            let v = chain.last().filter(|v| v.is_live())?;
                            Some((k.clone(), v.row.clone()))
                        })
                        .collect();
                    let mut data = store.data.write();
                    for (key, row) in since {
                        data.install(def, key, Some(row), rows_ts);
                    }
                }
                tables.extend(rekeyed);
                apply_tables(&old, &new, &truncated, &mut tables)?;
                tables.extend(restored.iter().map(|t| (t.id, Arc::clone(t))));
            }
            *self.catalog.write() = Arc::new(new);
            self.sync_sequences();
            self.sync_columnar(&truncated, ts.0, false);
            let mut lsn = self.wal.append(&payload, ts)?;
            state.last_ts = ts.0;
            if !restored.is_empty() {
                let ts = CommitTs(state.last_ts + 1);
                let mut rows = CommitEncoder::new(ts);
                for store in &restored {
                    let data = store.data.read();
                    for (key, chain) in &data.rows {
                        if let Some(v) = chain.last().filter(|v| v.is_live()) {
                            if let Some(part) = rows.push(store.id, key, Some(&v.row)) {
                                self.wal.append_part(&part)?;
                            }
                        }
                    }
                }
                lsn = self.wal.append(&rows.finish(true), ts)?;
                state.last_ts = ts.0;
            }
            lsn
        };
        self.wal.wait_durable(lsn).await?;
        Ok(())
    }

    /// The table's column-engine copy, when it is loaded (or loading).
    pub fn column_table(&self, id: TableId) -> Option<Arc<ColumnTable>> {
        self.columnar.read().get(&id).cloned()
    }

    /// Every table in the column engine.
    pub fn column_tables(&self) -> Vec<Arc<ColumnTable>> {
        self.columnar.read().values().cloned().collect()
    }

    /// Brings the column engine in line with the catalog (called with `commit` held, at
    /// timestamp `ts`): tables newly marked, changed by DDL or truncated are loaded afresh,
    /// unmarked and dropped ones are let go. Small tables load at once; larger ones load in
    /// a thread while writers go on (their commits queue up), and scans use the row engine
    /// until the load is done. `background` loads every table in a thread (start-up).
    fn sync_columnar(&self, truncated: &[TableId], ts: u64, background: bool) {
        const LOAD_AT_ONCE_KEYS: usize = 50_000;
        let catalog = self.catalog();
        let mut columnar = self.columnar.write();
        columnar.retain(|id, _| catalog.tables.get(id).is_some_and(|d| d.columnar));
        for def in catalog.tables.values().filter(|d| d.columnar) {
            let current = columnar
                .get(&def.id)
                .is_some_and(|ct| ct.def.version == def.version && !truncated.contains(&def.id));
            if current {
                continue;
            }
            let Some(store) = self.table(def.id) else {
                continue;
            };
            // A table without any version has no past an older snapshot could see: every
            // snapshot may read it from the column engine.
            let from = if store.key_count() == 0 { 0 } else { ts };
            let ct = Arc::new(ColumnTable::loading(Arc::new(def.clone()), from));
            columnar.insert(def.id, Arc::clone(&ct));
            if !background && store.key_count() <= LOAD_AT_ONCE_KEYS {
                ct.load(&store);
                continue;
            }
            // The snapshot keeps garbage collection off the versions the load reads.
            let guard = self.snapshots.register(ReadTs(ts));
            let name = def.name.clone();
            let spawned = std::thread::Builder::new()
                .name("basalt-columnar-load".into())
                .spawn(move || {
                    let started = std::time::Instant::now();
                    ct.load(&store);
                    drop(guard);
                    tracing::info!(
                        "column engine: {name} loaded ({} rows) in {:?}",
                        ct.progress.done.load(Ordering::Relaxed),
                        started.elapsed()
                    );
                });
            if let Err(e) = spawned {
                tracing::error!("column engine: could not start loading {}: {e}", def.name);
            }
        }
    }

    /// Runs the column engine's merge on every loaded table (`force`: fold even a small
    /// delta). Returns whether anything changed.
    pub fn merge_columnar(&self, force: bool) -> bool {
        let oldest = self.snapshots.oldest(|| ReadTs(self.wal.durable().ts));
        let mut changed = false;
        for ct in self.column_tables() {
            match ct.merge(oldest, force) {
                Ok(c) => changed |= c,
                Err(e) => tracing::error!("column engine: merge of {} failed: {e}", ct.def.name),
            }
        }
        changed
    }

    /// Refuses a new unique index over rows that already hold duplicates.
    fn check_new_unique_indexes(&self, old: &Catalog, new: &Catalog) -> Result<(), StorageError> {
        for def in new.tables.values() {
            let Some(store) = self.table(def.id) else {
                continue;
            };
            let old_ids: Vec<_> = old
                .tables
                .get(&def.id)
                .map(|t| t.indexes.iter().map(|i| i.id).collect())
                .unwrap_or_default();
            for index in def
                .indexes
                .iter()
                .filter(|i| i.unique && !old_ids.contains(&i.id))
            {
                check_unique_rows(def, &store, index)?;
            }
        }
        Ok(())
    }

    /// Refuses a new primary key over rows that hold NULLs or duplicates in its columns.
    fn check_new_primary_keys(
        &self,
        old: &Catalog,
        new: &Catalog,
        truncated: &[TableId],
    ) -> Result<(), StorageError> {
        for def in new.tables.values() {
            let Some(cols) = &def.primary_key else {
                continue;
            };
            let Some(before) = old.tables.get(&def.id) else {
                continue;
            };
            if before.primary_key.is_some() {
                continue;
            }
            let Some(store) = self.table(def.id).filter(|_| !truncated.contains(&def.id)) else {
                continue;
            };
            {
                let data = store.data.read();
                for chain in data.rows.values() {
                    let Some(v) = chain.last().filter(|v| v.is_live()) else {
                        continue;
                    };
                    if let Some(&c) = cols
                        .iter()
                        .find(|&&c| v.row.get(c).is_none_or(Value::is_null))
                    {
                        return Err(StorageError::NullInKey {
                            column: def.columns[c].name.clone(),
                            table: def.name.clone(),
                        });
                    }
                }
            }
            let index = IndexDef {
                unique: true,
                constraint: true,
                ..IndexDef::new(
                    basalt_common::IndexId(0),
                    0,
                    def.primary_key_name
                        .clone()
                        .unwrap_or_else(|| format!("{}_pkey", def.name)),
                    cols.clone(),
                )
            };
            check_unique_rows(def, &store, &index)?;
        }
        Ok(())
    }

    /// The next value of a sequence (never rolled back, like PostgreSQL).
    pub fn nextval(&self, name: &str) -> Result<i64, StorageError> {
        let catalog = self.catalog();
        let def = catalog
            .sequences
            .get(name)
            .ok_or_else(|| StorageError::NoSuchSequence(name.to_owned()))?;
        let counter = self.sequence_counter(name)?;
        let step = def.increment;
        let (min, max) = def.bounds();
        let next = |v: i64| match v.checked_add(step) {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ if def.cycle => Some(if step > 0 { min } else { max }),
            _ => None,
        };
        let value = counter
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, next)
            .ok()
            .and_then(next)
            .ok_or_else(|| StorageError::SequenceExhausted {
                name: short_name(name),
                limit: if step > 0 { max } else { min },
                maximum: step > 0,
            })?;
        if def.owned_by.is_none() {
            self.reserve_sequence(name, value)?;
        }
        Ok(value)
    }

    /// Makes sure `value` of a sequence no column owns is covered by a logged reservation
    /// (32 steps at a time, as PostgreSQL logs its sequences), so that recovery never hands
    /// it out again. The catalog record is queued, not waited for: a transaction that uses
    /// the value commits after it in the log, and its own durability covers the record.
    fn reserve_sequence(&self, name: &str, value: i64) -> Result<(), StorageError> {
        const RESERVE_STEPS: i64 = 32;
        let covered = |def: &SequenceDef| {
            def.reserved.is_some_and(|r| {
                if def.increment > 0 {
                    value <= r
                } else {
                    value >= r
                }
            })
        };
        if self.catalog().sequences.get(name).is_none_or(covered) {
            return Ok(());
        }
        let mut state = self.commit.lock();
        let old = self.catalog();
        let Some(def) = old.sequences.get(name) else {
            return Ok(());
        };
        if covered(def) {
            return Ok(());
        }
        let mut new = (*old).clone();
        if let Some(seq) = new.sequences.get_mut(name) {
            seq.reserved = Some(value.saturating_add(seq.increment.saturating_mul(RESERVE_STEPS)));
        }
        let ts = CommitTs(state.last_ts + 1);
        let payload = WalRecord::Catalog {
            ts,
            catalog: Box::new(new.clone()),
            truncated: Vec::new(),
        }
        .encode()?;
        *self.catalog.write() = Arc::new(new);
        self.wal.append(&payload, ts)?;
        state.last_ts = ts.0;
        Ok(())
    }

    /// Moves a sequence's last value up to `value` if it is behind (MySQL AUTO_INCREMENT
    /// after an explicit value).
    pub fn advance_sequence(&self, name: &str, value: i64) -> Result<(), StorageError> {
        self.sequence_counter(name)?
            .fetch_max(value, Ordering::Relaxed);
        Ok(())
    }

    /// The last value a sequence handed out (or was set to).
    pub fn sequence_last(&self, name: &str) -> Option<i64> {
        self.sequence_counter(name)
            .ok()
            .map(|c| c.load(Ordering::Relaxed))
    }

    /// Starts a sequence over (TRUNCATE … RESTART IDENTITY): the next value is its START.
    pub fn restart_sequence(&self, name: &str) -> Result<(), StorageError> {
        let catalog = self.catalog();
        let def = catalog
            .sequences
            .get(name)
            .ok_or_else(|| StorageError::NoSuchSequence(name.to_owned()))?;
        self.sequence_counter(name)?
            .store(def.start.saturating_sub(def.increment), Ordering::Relaxed);
        Ok(())
    }

    /// Sets a sequence's last value (`setval`; with `is_called` false, the next `nextval`
    /// returns `value` itself).
    pub fn setval(&self, name: &str, value: i64, is_called: bool) -> Result<(), StorageError> {
        let catalog = self.catalog();
        let def = catalog
            .sequences
            .get(name)
            .ok_or_else(|| StorageError::NoSuchSequence(name.to_owned()))?;
        let (min, max) = def.bounds();
        if !(min..=max).contains(&value) {
            return Err(StorageError::SequenceOutOfBounds {
                name: short_name(name),
                value,
                min,
                max,
            });
        }
        let last = if is_called {
            value
        } else {
            value.saturating_sub(def.increment)
        };
        self.sequence_counter(name)?.store(last, Ordering::Relaxed);
        if def.owned_by.is_none() {
            self.reserve_sequence(name, value)?;
        }
        Ok(())
    }

    fn sequence_counter(&self, name: &str) -> Result<Arc<AtomicI64>, StorageError> {
        self.sequences
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| StorageError::NoSuchSequence(name.to_owned()))
    }

    /// Creates counters for new sequences, starting past every value already stored in the
    /// column a sequence feeds (so recovery never hands out a committed value again).
    fn sync_sequences(&self) {
        let catalog = self.catalog();
        let mut seqs = self.sequences.write();
        seqs.retain(|name, _| catalog.sequences.contains_key(name));
        for (name, def) in &catalog.sequences {
            if seqs.contains_key(name) {
                continue;
            }
            let mut last = def.start - def.increment;
            if let Some(r) = def.reserved {
                last = r;
            }
            if let Some((table, col)) = def.owned_by {
                if let (Some(store), Ok(tdef)) = (self.table(table), catalog.table(table)) {
                    if let Some((min, max)) = column_range(&store, tdef, col) {
                        last = if def.increment >= 0 {
                            last.max(max)
                        } else {
                            last.min(min)
                        };
                    }
                }
            }
            seqs.insert(name.clone(), Arc::new(AtomicI64::new(last)));
        }
    }

    fn maybe_checkpoint(self: &Arc<Self>) {
        let limit = self.config.checkpoint_wal_bytes;
        if limit == 0 || self.checkpointing.load(Ordering::Relaxed) {
            return;
        }
        let since = self
            .wal
            .durable()
            .lsn
            .saturating_sub(self.checkpoint_lsn.load(Ordering::Relaxed));
        if since < limit {
            return;
        }
        let engine = Arc::clone(self);
        let _ = std::thread::Builder::new()
            .name("basalt-checkpoint".into())
            .spawn(move || {
                if let Err(e) = engine.checkpoint() {
                    tracing::error!("checkpoint failed: {e}");
                }
            });
    }

    /// Writes a checkpoint of every table at the newest timestamp, then drops the WAL segments
    /// and older checkpoints it replaces. Runs beside commits; one at a time.
    pub fn checkpoint(&self) -> Result<(), StorageError> {
        if self.checkpointing.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        struct Reset<'a>(&'a AtomicBool);
        impl Drop for Reset<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _reset = Reset(&self.checkpointing);
        // The snapshot, the catalog and the table stores are taken together under the commit
        // lock, so garbage collection and TRUNCATE cannot change what the files will hold.
        let (ts, catalog, wal_start, stores, _snapshot) = {
            let state = self.commit.lock();
            let snapshot = self.snapshots.register(ReadTs(state.last_ts));
            let stores = self.tables.read().clone();
            (
                state.last_ts,
                self.catalog(),
                self.wal.rotate(),
                stores,
                snapshot,
            )
        };
        if wal_start == self.checkpoint_lsn.load(Ordering::Relaxed)
            && checkpoint::read_current(&self.config.data_dir)?.is_some()
        {
            return Ok(()); // nothing new since the last checkpoint
        }
        self.wal.wait_durable_blocking(wal_start)?;
        let name = format!("{ts:020}");
        let dir = checkpoint::checkpoints_dir(&self.config.data_dir).join(&name);
        fs::create_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
        let mut files = Vec::new();
        for def in catalog.tables.values() {
            let Some(store) = stores.get(&def.id) else {
                continue;
            };
            let file = format!(
                "{}-{}.{}.parquet",
                def.id.0,
                sanitize(&def.schema),
                sanitize(&def.name)
            );
            checkpoint::write_table(def, store, ReadTs(ts), &dir.join(&file))?;
            files.push((def.id, file));
        }
        wal::sync_dir(&dir)?;
        let manifest = Manifest {
            ts,
            wal_start_lsn: wal_start,
            catalog: (*catalog).clone(),
            files,
        };
        checkpoint::publish(&self.config.data_dir, &name, &manifest)?;
        let wal_dir = self.config.data_dir.join("wal");
        for (start, path) in wal::list_segments(&wal_dir)? {
            if start < wal_start {
                fs::remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
            }
        }
        checkpoint::remove_old(&self.config.data_dir, &name);
        self.checkpoint_lsn.store(wal_start, Ordering::Relaxed);
        tracing::info!(
            "checkpoint at ts {ts} written ({} tables)",
            manifest.files.len()
        );
        Ok(())
    }

    /// Clean shutdown: checkpoint, then flush and close the log.
    pub fn shutdown(&self) -> Result<(), StorageError> {
        let result = self.checkpoint();
        self.wal.shutdown();
        result
    }

    /// Removes versions that no snapshot can see any more.
    /// VACUUM: removes now, from one table or all of them, the versions no snapshot can see.
    pub fn vacuum(&self, table: Option<TableId>) -> usize {
        let ids: Vec<TableId> = match table {
            Some(id) => vec![id],
            None => self.catalog().tables.keys().copied().collect(),
        };
        let mut removed = 0;
        for id in ids {
            let (n, kept) = self.collect_table_garbage(id, PendingGc::Whole);
            removed += n;
            self.requeue(id, kept);
        }
        self.merge_columnar(true);
        removed
    }

    /// Removes versions that no snapshot can see any more, for the keys commits superseded
    /// since the last pass; keys whose versions a snapshot still needs are looked at again.
    pub fn collect_garbage(&self) -> usize {
        let pending = std::mem::take(&mut *self.gc_pending.lock());
        let mut removed = 0;
        for (id, todo) in pending {
            let (n, kept) = self.collect_table_garbage(id, todo);
            removed += n;
            self.requeue(id, kept);
        }
        removed
    }

    /// Keys garbage collection has examined since start-up.
    pub fn gc_keys_examined(&self) -> u64 {
        self.gc_keys_examined.load(Ordering::Relaxed)
    }

    fn requeue(&self, id: TableId, kept: Vec<Key>) {
        if !kept.is_empty() {
            self.gc_pending.lock().entry(id).or_default().add(kept);
        }
    }

    /// Collects one table in chunks of [`GC_CHUNK_KEYS`] keys, so its write lock is never held
    /// for a whole-table pass. Returns the versions removed and the keys whose superseded
    /// versions had to stay.
    fn collect_table_garbage(&self, id: TableId, todo: PendingGc) -> (usize, Vec<Key>) {
        let oldest = self.snapshots.oldest(|| ReadTs(self.wal.durable().ts));
        let catalog = self.catalog();
        let (Ok(def), Some(store)) = (catalog.table(id), self.table(id)) else {
            return (0, Vec::new());
        };
        let started = std::time::Instant::now();
        let mut removed = 0;
        let mut examined = 0;
        let mut kept = Vec::new();
        match todo {
            PendingGc::Keys(mut keys) => {
                keys.sort_unstable();
                keys.dedup();
                examined = keys.len();
                for chunk in keys.chunks(GC_CHUNK_KEYS) {
                    removed += store
                        .data
                        .write()
                        .collect_keys(def, oldest, chunk, &mut kept);
                }
            }
            PendingGc::Whole => {
                let mut after: Option<Key> = None;
                loop {
                    let (n, seen, resume) = store.data.write().collect_garbage(
                        def,
                        oldest,
                        after.as_deref(),
                        GC_CHUNK_KEYS,
                        &mut kept,
                    );
                    removed += n;
                    examined += seen;
                    match resume {
                        Some(k) => after = Some(k),
                        None => break,
                    }
                }
            }
        }
        self.gc_keys_examined
            .fetch_add(examined as u64, Ordering::Relaxed);
        tracing::debug!(
            "gc of {}: {examined} keys examined, {removed} versions removed, {} keys kept, {} µs",
            def.name,
            kept.len(),
            started.elapsed().as_micros()
        );
        (removed, kept)
    }
}

/// What garbage collection should look at in one table.
enum PendingGc {
    /// The keys whose newest version commits replaced or deleted.
    Keys(Vec<Key>),
    /// Every key: more were superseded than [`GC_PENDING_KEYS_MAX`], or VACUUM asked.
    Whole,
}

impl Default for PendingGc {
    fn default() -> PendingGc {
        PendingGc::Keys(Vec::new())
    }
}

impl PendingGc {
    fn add(&mut self, more: Vec<Key>) {
        if let PendingGc::Keys(keys) = self {
            keys.extend(more);
            if keys.len() > GC_PENDING_KEYS_MAX {
                // Hot rows are superseded again and again: count each key once.
                keys.sort_unstable();
                keys.dedup();
                if keys.len() > GC_PENDING_KEYS_MAX {
                    *self = PendingGc::Whole;
                }
            }
        }
    }
}

/// Gives every table whose definition changed (or that was truncated) a new version.
fn bump_changed_versions(old: &Catalog, new: &mut Catalog, truncated: &[TableId]) {
    for def in new.tables.values_mut() {
        let Some(before) = old.tables.get(&def.id) else {
            continue;
        };
        // Loading into the column engine does not change what rows look like: writers'
        // transactions under the old definition may still commit.
        let unloaded = TableDef {
            columnar: before.columnar,
            ..def.clone()
        };
        let same = serde_json::to_string(before).ok() == serde_json::to_string(&unloaded).ok();
        if !same || truncated.contains(&def.id) {
            def.version = before.version + 1;
        }
    }
}

/// The background thread: the column engine's merge every half second, garbage collection
/// of the row engine every two seconds.
fn spawn_gc(engine: Weak<Engine>) {
    let _ = std::thread::Builder::new()
        .name("basalt-gc".into())
        .spawn(move || {
            for tick in 1u64.. {
                std::thread::sleep(Duration::from_millis(500));
                let Some(engine) = engine.upgrade() else {
                    return;
                };
                engine.merge_columnar(false);
                if tick % 4 == 0 {
                    engine.collect_garbage();
                }
            }
        });
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Brings the table stores in line with a new catalog: create, drop, truncate, (re)index.
fn apply_tables(
    old: &Catalog,
    new: &Catalog,
    truncated: &[TableId],
    tables: &mut HashMap<TableId, Arc<TableStore>>,
) -> Result<(), StorageError> {
    tables.retain(|id, _| new.tables.contains_key(id));
    for id in truncated {
        if tables.contains_key(id) {
            tables.insert(*id, Arc::new(TableStore::new(*id)));
        }
    }
    for def in new.tables.values() {
        let store = tables
            .entry(def.id)
            .or_insert_with(|| Arc::new(TableStore::new(def.id)));
        let old_indexes: Vec<&IndexDef> = old
            .tables
            .get(&def.id)
            .map(|t| t.indexes.iter().collect())
            .unwrap_or_default();
        let mut data = store.data.write();
        data.indexes
            .retain(|id, _| def.indexes.iter().any(|i| i.id == *id));
        for index in &def.indexes {
            if !old_indexes.iter().any(|i| i.id == index.id)
                || !data.indexes.contains_key(&index.id)
            {
                data.build_index(index);
            }
        }
    }
    Ok(())
}

/// Copies of the tables whose primary key `new` adds or drops, keyed the new way.
fn rekey_tables(
    old: &Catalog,
    new: &Catalog,
    truncated: &[TableId],
    tables: &HashMap<TableId, Arc<TableStore>>,
) -> Vec<(TableId, Arc<TableStore>)> {
    new.tables
        .values()
        .filter(|def| !truncated.contains(&def.id))
        .filter(|def| {
            old.tables
                .get(&def.id)
                .is_some_and(|before| before.primary_key != def.primary_key)
        })
        .filter_map(|def| {
            let store = tables.get(&def.id)?;
            Some((def.id, Arc::new(store.rekeyed(def))))
        })
        .collect()
}

fn check_unique_rows(
    def: &TableDef,
    store: &TableStore,
    index: &IndexDef,
) -> Result<(), StorageError> {
    let data = store.data.read();
    let mut seen = std::collections::HashSet::new();
    for chain in data.rows.values() {
        let Some(v) = chain.last().filter(|v| v.is_live()) else {
            continue;
        };
        let Some(key) = crate::txn::unique_key(&v.row, index) else {
            continue;
        };
        if index.exclusion && seen.contains(&key) {
            let key = crate::txn::key_text(def, &index.columns, &v.row);
            return Err(StorageError::ExclusionBuild {
                constraint: index.name.clone(),
                detail: format!("Key {key} conflicts with key {key}."),
            });
        }
        if !seen.insert(key) {
            let cols: Vec<&str> = index
                .columns
                .iter()
                .map(|&c| def.columns[c].name.as_str())
                .collect();
            return Err(StorageError::UniqueIndexBuild {
                index: index.name.clone(),
                detail: format!("duplicate values in column(s) {}", cols.join(", ")),
            });
        }
    }
    Ok(())
}

/// The smallest and largest integer ever stored in a column (any version).
fn column_range(store: &TableStore, def: &TableDef, col: usize) -> Option<(i64, i64)> {
    debug_assert!(col < def.columns.len());
    let data = store.data.read();
    let mut range: Option<(i64, i64)> = None;
    for chain in data.rows.values() {
        for v in chain {
            // Sequence-fed columns are integers, or MySQL's BIGINT UNSIGNED (scale 0).
            let value = v.row.get(col).and_then(|x| match x {
                Value::Decimal(d) => i64::try_from(*d).ok(),
                other => other.as_i64(),
            });
            if let Some(x) = value {
                range = Some(range.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x))));
            }
        }
    }
    range
}

/// A sequence's name without its schema, as PostgreSQL's messages give it.
fn short_name(qualified: &str) -> String {
    qualified
        .rsplit_once('.')
        .map_or(qualified, |(_, n)| n)
        .to_owned()
}
