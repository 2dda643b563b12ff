//! The column engine (MySQL's "secondary engine", named Rapid there): an in-memory copy of the
//! tables a user loads, as immutable compressed segments of Arrow arrays plus an append-only
//! delta, kept in step with the row engine by every commit (ARCHITECTURE invariant 3).
//!
//! MVCC is the row engine's: a row version is visible to `read` iff
//! `insert <= read < delete`. Rows loaded from one snapshot share one insert timestamp per
//! segment; rows that came through the delta keep their own. Deletions (and the old side of
//! updates) are recorded per segment as (row, timestamp) pairs, sparse because analytical
//! tables see few of them.
//!
//! Locking: `state` is written by commits, under the engine's commit lock, for the time it
//! takes to append their rows and mark the ones they replace. The merge builds new segments
//! outside the lock and swaps them in under it; readers copy the segment list and the visible
//! delta rows under a read lock and decode segments without it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use basalt_common::value::ColumnBuilder;
use basalt_common::{ReadTs, Row, SqlType, TableId, Value};
use datafusion::arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, DictionaryArray,
    Int16Array, Int32Array, Int64Array, PrimitiveArray, StringArray, TimestampMicrosecondArray,
    UInt16Array, UInt32Array,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::compute;
use datafusion::arrow::datatypes::{ArrowPrimitiveType, DataType, UInt16Type};
use datafusion::arrow::error::ArrowError;
use datafusion::common::ScalarValue;
use parking_lot::{Mutex, RwLock};

use crate::catalog::TableDef;
use crate::codec::Key;
use crate::table::TableStore;
use crate::txn::WriteOp;

/// Rows per segment built by a load.
pub const SEGMENT_ROWS: usize = 65_536;
/// Delta rows that make the merge fold the delta into a new segment.
pub const DELTA_MERGE_ROWS: usize = 16_384;
/// "Not deleted".
const LIVE: u64 = u64::MAX;

/// One table in the column engine, built for one version of its definition.
pub struct ColumnTable {
    pub table: TableId,
    /// The definition the segments follow; a DDL change to the table builds a new one.
    pub def: Arc<TableDef>,
    /// The snapshot the load read. Older snapshots would miss rows deleted before it, so
    /// their scans use the row engine.
    pub loaded_ts: u64,
    state: RwLock<State>,
    pub progress: Progress,
}

/// How far a load has got (shown in `basalt_columnar`, MySQL `SHOW PROCESSLIST`).
#[derive(Default)]
pub struct Progress {
    pub total: AtomicU64,
    pub done: AtomicU64,
    ready: AtomicBool,
    failed: Mutex<Option<String>>,
}

impl Progress {
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
    pub fn failure(&self) -> Option<String> {
        self.failed.lock().clone()
    }
}

struct State {
    segments: Vec<Arc<Segment>>,
    delta: Delta,
    /// Commits that arrived while the load was reading; applied in order when it ends.
    pending: Option<Vec<(Key, Option<Row>, u64)>>,
}

#[derive(Default)]
struct Delta {
    /// Sequence number of `rows[0]`.
    base: u64,
    rows: Vec<DeltaRow>,
    /// Key -> sequence number of its live version in the delta.
    live: HashMap<Key, u64>,
}

#[derive(Clone)]
struct DeltaRow {
    key: Key,
    row: Row,
    insert: u64,
    delete: u64,
}

/// Memory use of one loaded table.
#[derive(Debug, Clone, Default)]
pub struct ColumnStats {
    pub segments: usize,
    pub segment_rows: usize,
    pub delta_rows: usize,
    pub deleted_rows: usize,
    /// Bytes held: encoded columns, keys, timestamps and the delta's rows.
    pub bytes: usize,
    /// Bytes the same segment columns take as plain Arrow arrays.
    pub raw_bytes: usize,
    /// Bytes the segment columns take encoded (without keys and timestamps).
    pub encoded_bytes: usize,
}

/// The segments and delta rows one scan reads, taken at once.
pub struct ScanSource {
    pub segments: Vec<Arc<Segment>>,
    /// Delta rows visible to the scan's snapshot and not overridden by its transaction.
    pub delta: Vec<Row>,
}

impl ColumnTable {
    /// A table being loaded from the snapshot `loaded_ts`: commits after it queue up until
    /// the load has read the snapshot.
    pub(crate) fn loading(def: Arc<TableDef>, loaded_ts: u64) -> ColumnTable {
        ColumnTable {
            table: def.id,
            def,
            loaded_ts,
            state: RwLock::new(State {
                segments: Vec::new(),
                delta: Delta::default(),
                pending: Some(Vec::new()),
            }),
            progress: Progress::default(),
        }
    }

    /// Reads the row engine at `loaded_ts` into segments, then applies the commits that came
    /// meanwhile. Writers are not blocked: they queue their changes in `pending`.
    pub(crate) fn load(&self, store: &TableStore) {
        self.progress
            .total
            .store(store.key_count() as u64, Ordering::Relaxed);
        let read = ReadTs(self.loaded_ts);
        let mut after: Option<Key> = None;
        let mut rows: Vec<(Key, Row)> = Vec::with_capacity(SEGMENT_ROWS);
        let mut chunk: Vec<(Key, Row)> = Vec::with_capacity(8192);
        loop {
            let resume = store.scan_chunk(after.as_deref(), read, 8192, &mut chunk);
            rows.append(&mut chunk);
            if rows.len() >= SEGMENT_ROWS || (resume.is_none() && !rows.is_empty()) {
                let n = rows.len();
                match Segment::build(&self.def, std::mem::take(&mut rows), Inserts::Const(read.0)) {
                    Ok(seg) => self.state.write().segments.push(Arc::new(seg)),
                    Err(e) => {
                        *self.progress.failed.lock() = Some(e.to_string());
                        return;
                    }
                }
                self.progress.done.fetch_add(n as u64, Ordering::Relaxed);
            }
            match resume {
                Some(k) => after = Some(k),
                None => break,
            }
        }
        let mut st = self.state.write();
        for (key, row, ts) in st.pending.take().unwrap_or_default() {
            st.apply_one(&key, row, ts);
        }
        let done = self.progress.done.load(Ordering::Relaxed);
        self.progress.total.store(done, Ordering::Relaxed);
        self.progress.ready.store(true, Ordering::Release);
    }

    /// Applies one commit's writes to this table (called under the engine's commit lock,
    /// before the commit becomes visible).
    pub(crate) fn apply(&self, ops: &[(Key, Option<Row>)], ts: u64) {
        let mut st = self.state.write();
        if let Some(pending) = &mut st.pending {
            pending.extend(ops.iter().map(|(k, r)| (k.clone(), r.clone(), ts)));
            return;
        }
        for (key, row) in ops {
            st.apply_one(key, row.clone(), ts);
        }
    }

    /// The segments and delta rows a scan at `read` needs; `own` are the scanning
    /// transaction's writes to this table, whose keys it must not read from here.
    pub fn scan_source(&self, read: ReadTs, own: Option<&BTreeMap<Key, WriteOp>>) -> ScanSource {
        let st = self.state.read();
        let delta = st
            .delta
            .rows
            .iter()
            .filter(|r| r.insert <= read.0 && read.0 < r.delete)
            .filter(|r| own.is_none_or(|o| !o.contains_key(&r.key)))
            .map(|r| Arc::clone(&r.row))
            .collect();
        ScanSource {
            segments: st.segments.clone(),
            delta,
        }
    }

    /// Rows a scan at the newest snapshot would see (for the router's estimates).
    pub fn live_rows(&self) -> usize {
        let st = self.state.read();
        let deleted: usize = st.segments.iter().map(|s| s.deletes.read().len()).sum();
        let seg: usize = st.segments.iter().map(|s| s.rows).sum();
        seg.saturating_sub(deleted) + st.delta.live.len()
    }

    pub fn stats(&self) -> ColumnStats {
        let st = self.state.read();
        let mut s = ColumnStats {
            segments: st.segments.len(),
            delta_rows: st.delta.rows.len(),
            ..Default::default()
        };
        for seg in &st.segments {
            s.segment_rows += seg.rows;
            s.deleted_rows += seg.deletes.read().len();
            s.raw_bytes += seg.raw_bytes;
            let encoded: usize = seg.columns.iter().map(Encoded::memory).sum();
            s.encoded_bytes += encoded;
            s.bytes += encoded + seg.overhead_bytes();
        }
        for r in &st.delta.rows {
            s.bytes += r.key.len()
                + 48
                + r.row.iter().map(value_bytes).sum::<usize>()
                + std::mem::size_of::<DeltaRow>();
        }
        s
    }

    /// Folds a large delta into a new segment, and rewrites segments where most rows are
    /// deleted for every snapshot (`oldest` is the oldest snapshot in use). The new segments
    /// are built outside the state lock; readers and writers wait only for the swap.
    /// Returns whether anything changed.
    pub fn merge(&self, oldest: ReadTs, force: bool) -> Result<bool, ArrowError> {
        if !self.progress.is_ready() {
            return Ok(false);
        }
        let mut changed = self.merge_delta(oldest, force)?;
        let candidates: Vec<Arc<Segment>> = {
            let st = self.state.read();
            st.segments
                .iter()
                .filter(|s| s.dead_rows(oldest) * 2 >= s.rows.max(1))
                .cloned()
                .collect()
        };
        for seg in candidates {
            changed |= self.compact(&seg, oldest)?;
        }
        Ok(changed)
    }

    fn merge_delta(&self, oldest: ReadTs, force: bool) -> Result<bool, ArrowError> {
        let (base, copy) = {
            let st = self.state.read();
            let n = st.delta.rows.len();
            if n == 0 || (n < DELTA_MERGE_ROWS && !force) {
                return Ok(false);
            }
            (st.delta.base, st.delta.rows.clone())
        };
        // Rows deleted for every snapshot are left out; the others go in key order.
        let mut order: Vec<usize> = (0..copy.len())
            .filter(|&i| copy[i].delete == LIVE || copy[i].delete > oldest.0)
            .collect();
        order.sort_by(|&a, &b| {
            copy[a]
                .key
                .cmp(&copy[b].key)
                .then(copy[a].insert.cmp(&copy[b].insert))
        });
        let mut position: Vec<Option<u32>> = vec![None; copy.len()];
        for (pos, &i) in order.iter().enumerate() {
            position[i] = Some(pos as u32);
        }
        let rows: Vec<(Key, Row)> = order
            .iter()
            .map(|&i| (copy[i].key.clone(), Arc::clone(&copy[i].row)))
            .collect();
        let inserts = Inserts::PerRow(order.iter().map(|&i| copy[i].insert).collect());
        let seg = if rows.is_empty() {
            None
        } else {
            Some(Segment::build(&self.def, rows, inserts)?)
        };
        let mut st = self.state.write();
        if st.delta.base != base {
            return Ok(false); // another merge ran meanwhile
        }
        let n = copy.len();
        if let Some(seg) = seg {
            {
                // Deletions that happened while the segment was built are carried over.
                let mut deletes = seg.deletes.write();
                for (i, row) in st.delta.rows[..n].iter().enumerate() {
                    if let (Some(pos), true) = (position[i], row.delete != LIVE) {
                        deletes.insert(pos, row.delete);
                    }
                }
            }
            st.segments.push(Arc::new(seg));
        }
        st.delta.rows.drain(..n);
        let end = base + n as u64;
        st.delta.live.retain(|_, seq| *seq >= end);
        st.delta.base = end;
        Ok(true)
    }

    /// Rewrites one segment without the rows no snapshot can see.
    fn compact(&self, seg: &Arc<Segment>, oldest: ReadTs) -> Result<bool, ArrowError> {
        let keep: Vec<u32> = {
            let deletes = seg.deletes.read();
            (0..seg.rows as u32)
                .filter(|p| deletes.get(p).is_none_or(|&d| d > oldest.0))
                .collect()
        };
        let replacement = if keep.is_empty() {
            None
        } else {
            Some(seg.rebuild(&self.def, &keep)?)
        };
        let mut st = self.state.write();
        let Some(at) = st.segments.iter().position(|s| Arc::ptr_eq(s, seg)) else {
            return Ok(false);
        };
        match replacement {
            Some(new) => {
                {
                    let old = seg.deletes.read();
                    let mut deletes = new.deletes.write();
                    for (new_pos, old_pos) in keep.iter().enumerate() {
                        if let Some(&d) = old.get(old_pos) {
                            deletes.insert(new_pos as u32, d);
                        }
                    }
                }
                st.segments[at] = Arc::new(new);
            }
            None => {
                st.segments.remove(at);
            }
        }
        Ok(true)
    }
}

impl State {
    fn apply_one(&mut self, key: &Key, row: Option<Row>, ts: u64) {
        self.delete_live(key, ts);
        if let Some(row) = row {
            let seq = self.delta.base + self.delta.rows.len() as u64;
            self.delta.rows.push(DeltaRow {
                key: key.clone(),
                row,
                insert: ts,
                delete: LIVE,
            });
            self.delta.live.insert(key.clone(), seq);
        }
    }

    /// Marks the live version of `key`, wherever it is, deleted at `ts`.
    fn delete_live(&mut self, key: &Key, ts: u64) {
        if let Some(seq) = self.delta.live.remove(key) {
            if let Some(r) = self.delta.rows.get_mut((seq - self.delta.base) as usize) {
                r.delete = ts;
            }
            return;
        }
        for seg in self.segments.iter().rev() {
            if seg.delete_live(key, ts) {
                return;
            }
        }
    }
}

/// Insert timestamps of a segment's rows.
enum Inserts {
    /// Every row loaded from one snapshot.
    Const(u64),
    PerRow(Vec<u64>),
}

/// An immutable block of rows, column by column, sorted by primary key.
pub struct Segment {
    pub rows: usize,
    keys: BinaryArray,
    inserts: Inserts,
    max_insert: u64,
    /// Row position -> delete timestamp.
    deletes: RwLock<HashMap<u32, u64>>,
    /// One per physical column of the definition (dropped columns are `Absent`).
    columns: Vec<Encoded>,
    zones: Vec<Option<Zone>>,
    /// Bytes of the columns as plain Arrow arrays.
    raw_bytes: usize,
}

/// Smallest and largest non-null value and the null count of a column in a segment.
#[derive(Debug, Clone)]
pub struct Zone {
    pub min: ScalarValue,
    pub max: ScalarValue,
    pub nulls: usize,
}

impl Segment {
    fn build(
        def: &TableDef,
        rows: Vec<(Key, Row)>,
        inserts: Inserts,
    ) -> Result<Segment, ArrowError> {
        let n = rows.len();
        let mut columns = Vec::with_capacity(def.columns.len());
        let mut zones = Vec::with_capacity(def.columns.len());
        let mut raw_bytes = 0;
        for (pos, col) in def.columns.iter().enumerate() {
            if col.dropped {
                columns.push(Encoded::Absent);
                zones.push(None);
                continue;
            }
            let mut b = ColumnBuilder::new(&col.ty, n);
            for (_, row) in &rows {
                b.push(row.get(pos).unwrap_or(&Value::Null));
            }
            let array = b.finish();
            raw_bytes += array.get_array_memory_size();
            zones.push(zone_of(&array));
            columns.push(Encoded::encode(array, &col.ty)?);
        }
        Ok(Segment::assemble(
            BinaryArray::from_iter_values(rows.iter().map(|(k, _)| k.as_ref())),
            inserts,
            columns,
            zones,
            raw_bytes,
        ))
    }

    fn assemble(
        keys: BinaryArray,
        inserts: Inserts,
        columns: Vec<Encoded>,
        zones: Vec<Option<Zone>>,
        raw_bytes: usize,
    ) -> Segment {
        let max_insert = match &inserts {
            Inserts::Const(t) => *t,
            Inserts::PerRow(v) => v.iter().copied().max().unwrap_or(0),
        };
        Segment {
            rows: keys.len(),
            keys,
            inserts,
            max_insert,
            deletes: RwLock::new(HashMap::new()),
            columns,
            zones,
            raw_bytes,
        }
    }

    /// A copy holding only the rows at `keep` (ascending positions).
    fn rebuild(&self, def: &TableDef, keep: &[u32]) -> Result<Segment, ArrowError> {
        let idx = UInt32Array::from(keep.to_vec());
        let keys = compute::take(&self.keys, &idx, None)?;
        let keys = keys
            .as_any()
            .downcast_ref::<BinaryArray>()
            .cloned()
            .ok_or_else(|| ArrowError::CastError("segment keys".into()))?;
        let inserts = match &self.inserts {
            Inserts::Const(t) => Inserts::Const(*t),
            Inserts::PerRow(v) => Inserts::PerRow(keep.iter().map(|&p| v[p as usize]).collect()),
        };
        let mut columns = Vec::with_capacity(self.columns.len());
        let mut zones = Vec::with_capacity(self.columns.len());
        let mut raw_bytes = 0;
        for (pos, enc) in self.columns.iter().enumerate() {
            let Some(col) = def.columns.get(pos).filter(|c| !c.dropped) else {
                columns.push(Encoded::Absent);
                zones.push(None);
                continue;
            };
            let array = compute::take(&enc.decode()?, &idx, None)?;
            raw_bytes += array.get_array_memory_size();
            zones.push(zone_of(&array));
            columns.push(Encoded::encode(array, &col.ty)?);
        }
        Ok(Segment::assemble(keys, inserts, columns, zones, raw_bytes))
    }

    fn key_positions(&self, key: &[u8]) -> std::ops::Range<usize> {
        let n = self.rows;
        if n == 0 || key < self.keys.value(0) || key > self.keys.value(n - 1) {
            return 0..0;
        }
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.keys.value(mid) < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let start = lo;
        let mut end = start;
        while end < n && self.keys.value(end) == key {
            end += 1;
        }
        start..end
    }

    fn delete_live(&self, key: &[u8], ts: u64) -> bool {
        let range = self.key_positions(key);
        if range.is_empty() {
            return false;
        }
        let mut deletes = self.deletes.write();
        for pos in range {
            let pos = pos as u32;
            if let std::collections::hash_map::Entry::Vacant(e) = deletes.entry(pos) {
                e.insert(ts);
                return true;
            }
        }
        false
    }

    fn dead_rows(&self, oldest: ReadTs) -> usize {
        self.deletes
            .read()
            .values()
            .filter(|&&d| d <= oldest.0)
            .count()
    }

    fn insert_at(&self, pos: usize) -> u64 {
        match &self.inserts {
            Inserts::Const(t) => *t,
            Inserts::PerRow(v) => v[pos],
        }
    }

    /// Which rows a scan at `read` sees, leaving out the keys its transaction wrote; `None`
    /// when it sees them all.
    pub fn visibility(
        &self,
        read: ReadTs,
        own: Option<&BTreeMap<Key, WriteOp>>,
    ) -> Option<BooleanArray> {
        // Only the deletions this snapshot sees are copied under the lock: commits take it
        // to delete rows, and the scanning thread may have a low CPU priority.
        let deleted: Vec<u32> = {
            let deletes = self.deletes.read();
            deletes
                .iter()
                .filter(|&(_, &d)| d <= read.0)
                .map(|(&pos, _)| pos)
                .collect()
        };
        let own_here: Vec<usize> = match own {
            Some(o) if self.rows > 0 => {
                let (first, last) = (self.keys.value(0), self.keys.value(self.rows - 1));
                o.range::<[u8], _>((
                    std::ops::Bound::Included(first),
                    std::ops::Bound::Included(last),
                ))
                .flat_map(|(k, _)| self.key_positions(k))
                .collect()
            }
            _ => Vec::new(),
        };
        let all_inserted = self.max_insert <= read.0;
        if all_inserted && deleted.is_empty() && own_here.is_empty() {
            return None;
        }
        let mut mask: Vec<bool> = if all_inserted {
            vec![true; self.rows]
        } else {
            (0..self.rows)
                .map(|p| self.insert_at(p) <= read.0)
                .collect()
        };
        for pos in deleted {
            mask[pos as usize] = false;
        }
        for pos in own_here {
            mask[pos] = false;
        }
        Some(BooleanArray::from(mask))
    }

    /// The column at physical position `pos`, decoded to a plain Arrow array.
    pub fn column(&self, pos: usize) -> Result<ArrayRef, ArrowError> {
        self.columns
            .get(pos)
            .ok_or_else(|| ArrowError::InvalidArgumentError(format!("no column {pos}")))?
            .decode()
    }

    /// The values of the column at `pos` in the rows at `rows` (positions in the segment),
    /// decoding only those rows.
    pub fn column_rows(&self, pos: usize, rows: &UInt32Array) -> Result<ArrayRef, ArrowError> {
        self.columns
            .get(pos)
            .ok_or_else(|| ArrowError::InvalidArgumentError(format!("no column {pos}")))?
            .decode_rows(rows)
    }

    /// The column at `pos` as 16-bit codes into its distinct values, when it is stored
    /// that way: a predicate on it can be evaluated once per distinct value.
    pub fn dictionary(&self, pos: usize) -> Option<&DictionaryArray<UInt16Type>> {
        match self.columns.get(pos)? {
            Encoded::Dict(d) => d.as_any().downcast_ref::<DictionaryArray<UInt16Type>>(),
            _ => None,
        }
    }

    pub fn zone(&self, pos: usize) -> Option<&Zone> {
        self.zones.get(pos)?.as_ref()
    }

    /// The encoding chosen for the column at `pos` (for EXPLAIN and tests).
    pub fn encoding(&self, pos: usize) -> &'static str {
        self.columns.get(pos).map_or("absent", Encoded::name)
    }

    fn overhead_bytes(&self) -> usize {
        self.keys.get_array_memory_size()
            + match &self.inserts {
                Inserts::Const(_) => 8,
                Inserts::PerRow(v) => v.len() * 8,
            }
            + self.deletes.read().len() * 16
    }
}

/// A column of a segment in its encoding.
enum Encoded {
    Absent,
    Plain(ArrayRef),
    /// Strings with few distinct values: 16-bit codes into a dictionary.
    Dict(ArrayRef),
    /// Integers (and dates, timestamps, decimals) as offsets from the smallest value,
    /// bit-packed at the width the largest offset needs.
    Packed {
        ty: DataType,
        base: i64,
        bits: u8,
        len: usize,
        words: Vec<u64>,
        nulls: Option<NullBuffer>,
    },
    /// Long runs of one value: the run values and where each run ends.
    Runs {
        values: ArrayRef,
        ends: Vec<u32>,
    },
}

impl Encoded {
    fn name(&self) -> &'static str {
        match self {
            Encoded::Absent => "absent",
            Encoded::Plain(_) => "plain",
            Encoded::Dict(_) => "dictionary",
            Encoded::Packed { .. } => "bit-packed",
            Encoded::Runs { .. } => "run-length",
        }
    }

    fn memory(&self) -> usize {
        match self {
            Encoded::Absent => 0,
            Encoded::Plain(a) | Encoded::Dict(a) => a.get_array_memory_size(),
            Encoded::Packed { words, nulls, .. } => {
                words.len() * 8 + nulls.as_ref().map_or(0, |n| n.buffer().len())
            }
            Encoded::Runs { values, ends } => values.get_array_memory_size() + ends.len() * 4,
        }
    }

    fn encode(array: ArrayRef, ty: &SqlType) -> Result<Encoded, ArrowError> {
        let len = array.len();
        if len == 0 {
            return Ok(Encoded::Plain(array));
        }
        let ends = run_ends(array.as_ref());
        if let Some(ends) = ends.filter(|e| e.len() * 8 <= len) {
            let starts: Vec<u32> = std::iter::once(0)
                .chain(ends.iter().take(ends.len() - 1).copied())
                .collect();
            let values = compute::take(array.as_ref(), &UInt32Array::from(starts), None)?;
            return Ok(Encoded::Runs { values, ends });
        }
        if let Some(ints) = integers(array.as_ref()) {
            if let Some((min, max)) = min_max(&ints, |i| array.is_valid(i)) {
                let range = (max as i128 - min as i128) as u128;
                let bits = (128 - range.leading_zeros()) as u8;
                let native = native_bits(array.data_type());
                if bits < native && bits <= 63 {
                    let words = pack(&ints, min, bits, |i| array.is_valid(i));
                    return Ok(Encoded::Packed {
                        ty: array.data_type().clone(),
                        base: min,
                        bits,
                        len,
                        words,
                        nulls: array.logical_nulls(),
                    });
                }
            }
        }
        if matches!(ty, SqlType::Text | SqlType::Varchar(_) | SqlType::Char(_)) {
            if let Some(strings) = array.as_any().downcast_ref::<StringArray>() {
                if let Some(dict) = dictionary(strings) {
                    return Ok(Encoded::Dict(dict));
                }
            }
        }
        Ok(Encoded::Plain(array))
    }

    fn decode(&self) -> Result<ArrayRef, ArrowError> {
        match self {
            Encoded::Absent => Err(ArrowError::InvalidArgumentError(
                "column was dropped".into(),
            )),
            Encoded::Plain(a) => Ok(Arc::clone(a)),
            Encoded::Dict(d) => dict_strings(d, None),
            Encoded::Runs { values, ends } => {
                let total = ends.last().copied().unwrap_or(0) as usize;
                let mut idx = Vec::with_capacity(total);
                let mut start = 0u32;
                for (run, &end) in ends.iter().enumerate() {
                    idx.extend(std::iter::repeat_n(run as u32, (end - start) as usize));
                    start = end;
                }
                compute::take(values.as_ref(), &UInt32Array::from(idx), None)
            }
            Encoded::Packed {
                ty,
                base,
                bits,
                len,
                words,
                nulls,
            } => {
                let (words, base, bits) = (words.as_slice(), *base, *bits);
                packed_array(ty, *len, nulls.clone(), move |i| {
                    unpack_one(words, base, bits, i)
                })
            }
        }
    }

    /// The values at `rows` only: dictionary codes are taken before the strings are built,
    /// bit-packed values are unpacked one by one.
    fn decode_rows(&self, rows: &UInt32Array) -> Result<ArrayRef, ArrowError> {
        match self {
            Encoded::Absent => Err(ArrowError::InvalidArgumentError(
                "column was dropped".into(),
            )),
            Encoded::Plain(a) => compute::take(a.as_ref(), rows, None),
            Encoded::Dict(d) => dict_strings(d, Some(rows)),
            Encoded::Runs { values, ends } => {
                let runs: UInt32Array = rows
                    .values()
                    .iter()
                    .map(|&p| ends.partition_point(|&e| e <= p) as u32)
                    .collect();
                compute::take(values.as_ref(), &runs, None)
            }
            Encoded::Packed {
                ty,
                base,
                bits,
                words,
                nulls,
                ..
            } => {
                let rows = rows.values();
                let nulls = nulls
                    .as_ref()
                    .map(|n| NullBuffer::from_iter(rows.iter().map(|&p| n.is_valid(p as usize))));
                let (words, base, bits) = (words.as_slice(), *base, *bits);
                packed_array(ty, rows.len(), nulls, move |i| {
                    unpack_one(words, base, bits, rows[i] as usize)
                })
            }
        }
    }
}

/// An Arrow array of type `ty` (integer-like) holding `values`.
/// The strings of a dictionary-coded column (at `rows`, or all of them). Short dictionary
/// values (flags, statuses, names) are copied as one fixed 16-byte move each instead of a
/// `memcpy` call per value, which is what a generic `take` spends its time on.
fn dict_strings(d: &ArrayRef, rows: Option<&UInt32Array>) -> Result<ArrayRef, ArrowError> {
    const SLOT: usize = 16;
    let dict = d
        .as_any()
        .downcast_ref::<DictionaryArray<UInt16Type>>()
        .ok_or_else(|| ArrowError::InvalidArgumentError("dictionary column expected".into()))?;
    let keys = dict.keys();
    let Some(values) = dict.values().as_any().downcast_ref::<StringArray>() else {
        return compute::cast(d, &DataType::Utf8);
    };
    if (0..values.len()).any(|i| values.value(i).len() > SLOT) {
        return match rows {
            Some(rows) => compute::cast(&compute::take(d.as_ref(), rows, None)?, &DataType::Utf8),
            None => compute::cast(d, &DataType::Utf8),
        };
    }
    // One padded slot per dictionary value, plus an empty one that null rows point at.
    let mut slots = vec![[0u8; SLOT]; values.len() + 1];
    let mut lens = vec![0usize; values.len() + 1];
    for i in 0..values.len() {
        let v = values.value(i).as_bytes();
        slots[i][..v.len()].copy_from_slice(v);
        lens[i] = v.len();
    }
    let empty = values.len();
    let code = |row: usize| -> usize {
        if keys.is_valid(row) {
            usize::from(keys.value(row)).min(empty)
        } else {
            empty
        }
    };
    let picked: Vec<usize> = match rows {
        Some(rows) => rows.values().iter().map(|&r| code(r as usize)).collect(),
        None => (0..keys.len()).map(code).collect(),
    };
    let total: usize = picked.iter().map(|&c| lens[c]).sum();
    let mut bytes = vec![0u8; total + SLOT];
    let mut offsets = Vec::with_capacity(picked.len() + 1);
    let mut at = 0usize;
    offsets.push(0i32);
    for &c in &picked {
        bytes[at..at + SLOT].copy_from_slice(&slots[c]);
        at += lens[c];
        offsets.push(
            i32::try_from(at)
                .map_err(|_| ArrowError::InvalidArgumentError("string column too large".into()))?,
        );
    }
    bytes.truncate(total);
    let nulls = match rows {
        Some(rows) => keys
            .nulls()
            .map(|n| NullBuffer::from_iter(rows.values().iter().map(|&r| n.is_valid(r as usize)))),
        None => keys.nulls().cloned(),
    };
    let offsets = OffsetBuffer::new(offsets.into());
    Ok(Arc::new(StringArray::try_new(
        offsets,
        bytes.into(),
        nulls,
    )?))
}

/// An array of `ty` with the `n` values `at(0)`, `at(1)`, …, built in one pass in the
/// type's own width.
fn packed_array(
    ty: &DataType,
    n: usize,
    nulls: Option<NullBuffer>,
    at: impl Fn(usize) -> i64 + Copy,
) -> Result<ArrayRef, ArrowError> {
    // A plain loop over by-value closures: what they capture stays in registers.
    fn build<T: datafusion::arrow::datatypes::ArrowNativeType>(
        n: usize,
        at: impl Fn(usize) -> i64,
        cast: impl Fn(i64) -> T,
    ) -> datafusion::arrow::buffer::ScalarBuffer<T> {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            out.push(cast(at(i)));
        }
        out.into()
    }
    Ok(match ty {
        DataType::Int16 => Arc::new(Int16Array::new(build(n, at, |v| v as i16), nulls)),
        DataType::Int32 => Arc::new(Int32Array::new(build(n, at, |v| v as i32), nulls)),
        DataType::Date32 => Arc::new(Date32Array::new(build(n, at, |v| v as i32), nulls)),
        DataType::Int64 => Arc::new(Int64Array::new(build(n, at, |v| v), nulls)),
        DataType::Timestamp(_, tz) => Arc::new(
            TimestampMicrosecondArray::new(build(n, at, |v| v), nulls)
                .with_timezone_opt(tz.clone()),
        ),
        DataType::Decimal128(p, s) => Arc::new(
            Decimal128Array::new(build(n, at, i128::from), nulls)
                .with_precision_and_scale(*p, *s)?,
        ),
        other => return Err(ArrowError::NotYetImplemented(format!("bit-packed {other}"))),
    })
}

fn native_bits(ty: &DataType) -> u8 {
    match ty {
        DataType::Int16 => 16,
        DataType::Int32 | DataType::Date32 => 32,
        DataType::Decimal128(..) => 128,
        _ => 64,
    }
}

/// The values of an integer-like column as i64 (nulls as 0), or `None` for other types and
/// for decimals beyond i64.
fn integers(array: &dyn Array) -> Option<Vec<i64>> {
    fn widen<T: ArrowPrimitiveType>(
        a: &dyn Array,
        f: impl Fn(T::Native) -> i64,
    ) -> Option<Vec<i64>> {
        let a = a.as_any().downcast_ref::<PrimitiveArray<T>>()?;
        Some(a.values().iter().map(|&v| f(v)).collect())
    }
    use datafusion::arrow::datatypes as t;
    match array.data_type() {
        DataType::Int16 => widen::<t::Int16Type>(array, i64::from),
        DataType::Int32 => widen::<t::Int32Type>(array, i64::from),
        DataType::Date32 => widen::<t::Date32Type>(array, i64::from),
        DataType::Int64 => widen::<t::Int64Type>(array, |v| v),
        DataType::Timestamp(t::TimeUnit::Microsecond, _) => {
            widen::<t::TimestampMicrosecondType>(array, |v| v)
        }
        DataType::Decimal128(..) => {
            let a = array.as_any().downcast_ref::<Decimal128Array>()?;
            a.values().iter().map(|&v| i64::try_from(v).ok()).collect()
        }
        _ => None,
    }
}

fn pack(values: &[i64], base: i64, bits: u8, valid: impl Fn(usize) -> bool) -> Vec<u64> {
    if bits == 0 {
        return Vec::new();
    }
    let bits = bits as usize;
    // One spare word, so that every value can be read as two whole words.
    let mut words = vec![0u64; (values.len() * bits).div_ceil(64) + 1];
    for (i, &v) in values.iter().enumerate() {
        let offset = if valid(i) {
            v.wrapping_sub(base) as u64
        } else {
            0
        };
        let bit = i * bits;
        let (w, o) = (bit / 64, bit % 64);
        words[w] |= offset << o;
        if o + bits > 64 {
            words[w + 1] |= offset >> (64 - o);
        }
    }
    words
}

#[cfg(test)]
fn unpack(words: &[u64], base: i64, bits: u8, len: usize) -> Vec<i64> {
    (0..len).map(|i| unpack_one(words, base, bits, i)).collect()
}

/// The value at row `i` of a bit-packed column: the bits from its first word, or-ed with
/// those from the next word (none when the value ends in the first), without a branch.
#[inline]
fn unpack_one(words: &[u64], base: i64, bits: u8, i: usize) -> i64 {
    let bits = usize::from(bits.min(63));
    let bit = i * bits;
    let (w, o) = (bit / 64, bit % 64);
    let lo = words.get(w).copied().unwrap_or(0);
    let hi = words.get(w + 1).copied().unwrap_or(0);
    // `hi << (64 - o)`, which is 0 at o = 0 rather than a shift by the full width.
    let v = (lo >> o) | ((hi << 1) << (63 - o));
    base.wrapping_add((v & ((1u64 << bits) - 1)) as i64)
}

/// Where each run of equal values ends (exclusive), for integer-like and string columns;
/// gives up once runs are too short to pay.
fn run_ends(array: &dyn Array) -> Option<Vec<u32>> {
    let len = array.len();
    let limit = len / 8 + 1;
    let mut ends = Vec::new();
    let same: Box<dyn Fn(usize, usize) -> bool + '_> = if let Some(ints) = integers(array) {
        Box::new(move |a, b| {
            array.is_valid(a) == array.is_valid(b) && (array.is_null(a) || ints[a] == ints[b])
        })
    } else if let Some(s) = array.as_any().downcast_ref::<StringArray>() {
        Box::new(move |a, b| {
            s.is_valid(a) == s.is_valid(b) && (s.is_null(a) || s.value(a) == s.value(b))
        })
    } else {
        return None;
    };
    for i in 1..len {
        if !same(i - 1, i) {
            ends.push(i as u32);
            if ends.len() > limit {
                return None;
            }
        }
    }
    ends.push(len as u32);
    Some(ends)
}

/// A 16-bit dictionary when the column has at most a quarter as many distinct values as rows.
fn dictionary(strings: &StringArray) -> Option<ArrayRef> {
    let limit = (strings.len() / 4).min(u16::MAX as usize);
    let mut codes: HashMap<&str, u16> = HashMap::new();
    let mut values: Vec<&str> = Vec::new();
    let mut keys: Vec<Option<u16>> = Vec::with_capacity(strings.len());
    for v in strings.iter() {
        match v {
            None => keys.push(None),
            Some(s) => {
                let next = values.len();
                let code = *codes.entry(s).or_insert_with(|| {
                    values.push(s);
                    next as u16
                });
                if values.len() > limit {
                    return None;
                }
                keys.push(Some(code));
            }
        }
    }
    let dict = DictionaryArray::<UInt16Type>::try_new(
        UInt16Array::from(keys),
        Arc::new(StringArray::from(values)),
    )
    .ok()?;
    Some(Arc::new(dict))
}

/// Min, max and null count of an array, for the types whose order pruning relies on
/// (integers, dates, timestamps, decimals and strings; not floats, whose NaN sorts above
/// everything in SQL).
fn zone_of(array: &ArrayRef) -> Option<Zone> {
    let nulls = array.null_count();
    if nulls == array.len() {
        return None;
    }
    let (min, max) = if let Some(s) = array.as_any().downcast_ref::<StringArray>() {
        (
            ScalarValue::Utf8(compute::min_string(s).map(str::to_owned)),
            ScalarValue::Utf8(compute::max_string(s).map(str::to_owned)),
        )
    } else {
        let ints = integers(array.as_ref())?;
        let (lo, hi) = min_max(&ints, |i| array.is_valid(i))?;
        (
            scalar_of(array.data_type(), lo)?,
            scalar_of(array.data_type(), hi)?,
        )
    };
    Some(Zone { min, max, nulls })
}

/// The smallest and largest of the valid values.
fn min_max(values: &[i64], valid: impl Fn(usize) -> bool) -> Option<(i64, i64)> {
    let mut range: Option<(i64, i64)> = None;
    for (i, &v) in values.iter().enumerate() {
        if valid(i) {
            range = Some(range.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
        }
    }
    range
}

fn scalar_of(ty: &DataType, v: i64) -> Option<ScalarValue> {
    Some(match ty {
        DataType::Int16 => ScalarValue::Int16(Some(i16::try_from(v).ok()?)),
        DataType::Int32 => ScalarValue::Int32(Some(i32::try_from(v).ok()?)),
        DataType::Int64 => ScalarValue::Int64(Some(v)),
        DataType::Date32 => ScalarValue::Date32(Some(i32::try_from(v).ok()?)),
        DataType::Timestamp(_, tz) => ScalarValue::TimestampMicrosecond(Some(v), tz.clone()),
        DataType::Decimal128(p, s) => ScalarValue::Decimal128(Some(i128::from(v)), *p, *s),
        _ => return None,
    })
}

fn value_bytes(v: &Value) -> usize {
    std::mem::size_of::<Value>()
        + match v {
            Value::Text(s) => s.len(),
            Value::Bytes(b) => b.len(),
            _ => 0,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::catalog::ColumnDef;
    use crate::codec::encode_key;

    fn round_trip(array: ArrayRef, ty: SqlType, expect: &str) {
        let enc = Encoded::encode(Arc::clone(&array), &ty).unwrap();
        assert_eq!(enc.name(), expect);
        assert_eq!(enc.decode().unwrap().as_ref(), array.as_ref());
    }

    #[test]
    fn dictionary_strings_decode_whole_and_at_rows_with_short_and_long_values() {
        let n = 5_000;
        for width in [1, 16, 17, 40] {
            let array: ArrayRef = Arc::new(StringArray::from_iter((0..n).map(|i| {
                (i % 11 != 0).then(|| format!("{:<width$}", format!("é{}", i * 7 % 30)))
            })));
            let enc = Encoded::encode(Arc::clone(&array), &SqlType::Text).unwrap();
            assert_eq!(enc.name(), "dictionary", "width {width}");
            assert_eq!(
                enc.decode().unwrap().as_ref(),
                array.as_ref(),
                "width {width}"
            );
            let rows = UInt32Array::from_iter_values((0..n as u32).rev().step_by(3));
            let want = compute::take(array.as_ref(), &rows, None).unwrap();
            assert_eq!(enc.decode_rows(&rows).unwrap().as_ref(), want.as_ref());
        }
    }

    #[test]
    fn encodings_are_chosen_by_the_data_and_decode_to_the_same_array() {
        let n = 10_000;
        round_trip(
            Arc::new(Int64Array::from_iter(
                (0..n).map(|i| (i % 13 != 0).then_some(1_000_000 + i * 3)),
            )),
            SqlType::Int64,
            "bit-packed",
        );
        round_trip(
            Arc::new(Int32Array::from_iter_values(
                (0..n).map(|i| (i / 100) as i32),
            )),
            SqlType::Int32,
            "run-length",
        );
        round_trip(
            Arc::new(StringArray::from_iter(
                (0..n).map(|i| (i % 7 != 0).then(|| format!("c{}", i * 31 % 50))),
            )),
            SqlType::Text,
            "dictionary",
        );
        round_trip(
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("unique-{i}")),
            )),
            SqlType::Text,
            "plain",
        );
        let dec = Decimal128Array::from_iter_values((0..n).map(|i| i128::from(i % 1000) * 25))
            .with_precision_and_scale(12, 2)
            .unwrap();
        round_trip(
            Arc::new(dec),
            SqlType::Numeric {
                precision: 12,
                scale: 2,
            },
            "bit-packed",
        );
    }

    fn def() -> TableDef {
        let col = |name: &str, ty: SqlType| ColumnDef {
            name: name.into(),
            ty,
            nullable: true,
            default: None,
            identity_always: false,
            dropped: false,
            storage: None,
            domain: None,
            precision: None,
            mysql_type: None,
        };
        TableDef {
            id: TableId(1),
            oid: 1,
            schema: "public".into(),
            name: "t".into(),
            columns: vec![col("id", SqlType::Int64), col("v", SqlType::Text)],
            primary_key: Some(vec![0]),
            primary_key_name: None,
            indexes: vec![],
            checks: vec![],
            version: 0,
            columnar: true,
            foreign_keys: Vec::new(),
            partition_key: None,
            partition_of: None,
            inherits: Vec::new(),
            reloptions: Vec::new(),
            triggers: Vec::new(),
        }
    }

    fn row(id: i64, v: &str) -> (Key, Option<Row>) {
        let r: Row = Arc::from(vec![Value::Int64(id), Value::Text(v.into())]);
        (encode_key(&r, &[0]), Some(r))
    }

    /// Ids visible at `read`, from segments and delta.
    fn visible(t: &ColumnTable, read: u64) -> Vec<i64> {
        let src = t.scan_source(ReadTs(read), None);
        let mut ids = Vec::new();
        for seg in &src.segments {
            let col = seg.column(0).unwrap();
            let col = col.as_any().downcast_ref::<Int64Array>().unwrap();
            let mask = seg.visibility(ReadTs(read), None);
            for i in 0..seg.rows {
                if mask.as_ref().is_none_or(|m| m.value(i)) {
                    ids.push(col.value(i));
                }
            }
        }
        ids.extend(src.delta.iter().map(|r| r[0].as_i64().unwrap()));
        ids.sort();
        ids
    }

    #[test]
    fn commits_merges_and_compaction_keep_every_snapshot_answer() {
        let t = ColumnTable::loading(Arc::new(def()), 0);
        t.state.write().pending = None;
        t.progress.ready.store(true, Ordering::Release);
        t.apply(&(1..=5).map(|i| row(i, "a")).collect::<Vec<_>>(), 10);
        t.apply(&[row(2, "b"), (row(3, "").0, None)], 20);
        assert_eq!(visible(&t, 9), Vec::<i64>::new());
        assert_eq!(visible(&t, 10), vec![1, 2, 3, 4, 5]);
        assert_eq!(visible(&t, 20), vec![1, 2, 4, 5]);
        // Fold the delta while a snapshot at 10 is alive: its answers stay.
        assert!(t.merge(ReadTs(10), true).unwrap());
        assert_eq!(t.stats().delta_rows, 0);
        assert_eq!(visible(&t, 10), vec![1, 2, 3, 4, 5]);
        assert_eq!(visible(&t, 20), vec![1, 2, 4, 5]);
        // Later commits find rows in the segment.
        t.apply(
            &[
                (row(1, "").0, None),
                (row(2, "").0, None),
                (row(4, "").0, None),
            ],
            30,
        );
        assert_eq!(visible(&t, 25), vec![1, 2, 4, 5]);
        assert_eq!(visible(&t, 30), vec![5]);
        // Once no snapshot needs them, dead rows are dropped from the segment.
        assert!(t.merge(ReadTs(30), false).unwrap());
        let stats = t.stats();
        assert_eq!((stats.segment_rows, stats.deleted_rows), (1, 0));
        assert_eq!(visible(&t, 30), vec![5]);
    }

    #[test]
    fn bit_packing_round_trips_at_every_width() {
        for bits in 0u8..=63 {
            let max = if bits == 0 { 0 } else { (1i128 << bits) - 1 } as i64;
            for len in [0usize, 1, 63, 64, 65, 1000] {
                // Spread over the range, with its top value (all bits set) among them.
                let values: Vec<i64> = (0..len as i64)
                    .map(|i| {
                        let offset = if i % 5 == 4 {
                            max
                        } else {
                            (i * 7919) % max.max(1)
                        };
                        (-5i64).wrapping_add(offset)
                    })
                    .collect();
                let words = pack(&values, -5, bits, |_| true);
                assert_eq!(
                    unpack(&words, -5, bits, len),
                    values,
                    "{bits} bits, {len} rows"
                );
            }
        }
    }
}
