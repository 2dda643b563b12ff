//! Basalt tables as DataFusion catalogs and `TableProvider`s.
//!
//! Every scan reads the row engine at the snapshot of the statement's transaction (held in
//! the session's [`TxnSlot`]), merging the transaction's own uncommitted writes. The provider
//! looks at the pushed-down filters and chooses the access path: a primary-key point lookup,
//! a secondary-index lookup, a primary-key range, or a full scan in bounded chunks. `EXPLAIN`
//! shows the choice.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::ops::Bound;
use std::sync::Arc;

use async_trait::async_trait;
use basalt_common::value::{value_at, ColumnBuilder};
use basalt_common::{Row, SqlType, TableId, Value};
use basalt_storage::codec::{encode_key_value, Key};
use basalt_storage::{Engine, TableDef, TableStore, Transaction};
use datafusion::arrow::array::{ArrayRef, BinaryArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result as DfResult, ScalarValue, Statistics};
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{
    BinaryExpr, Expr, Operator, TableProviderFilterPushDown, TableType,
};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use parking_lot::{Mutex, RwLock};

use crate::colscan::EngineChoice;

/// Name of the hidden column carrying the encoded primary key, exposed only on the target
/// table of an UPDATE or DELETE.
pub const KEY_COLUMN: &str = "__basalt_key";
/// Field metadata marking a `CHAR(n)` column (value: n).
pub const CHAR_LENGTH_KEY: &str = "basalt.char_length";
/// Rows per scanned batch (and per hold of a table's read lock).
pub const SCAN_BATCH_ROWS: usize = 8192;

/// The transaction the session's current statement runs in, for the scans it plans.
#[derive(Default)]
pub struct TxnSlot {
    current: Mutex<Option<Arc<Transaction>>>,
    key_table: Mutex<Option<TableId>>,
    /// Scans describe columns for the MySQL protocol (declared type, NOT NULL) in field
    /// metadata. Only MySQL sessions want it: metadata makes DataFusion refuse recursive
    /// CTEs whose recursive term computes a column the anchor reads from a table.
    pub mysql_metadata: std::sync::atomic::AtomicBool,
    /// The session's engine choice ([`EngineChoice`], as its `u8`).
    engine: std::sync::atomic::AtomicU8,
    /// The statement being planned reads the `tableoid` system column: tables expose it.
    pub tableoid: std::sync::atomic::AtomicBool,
}

/// A number that tells sessions apart while they live (the address of their slot).
pub(crate) fn session_key(slot: &Arc<TxnSlot>) -> usize {
    Arc::as_ptr(slot) as usize
}

impl fmt::Debug for TxnSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TxnSlot")
    }
}

impl TxnSlot {
    pub fn set(&self, txn: Option<Arc<Transaction>>) {
        *self.current.lock() = txn;
    }
    pub fn get(&self) -> Option<Arc<Transaction>> {
        self.current.lock().clone()
    }
    /// Exposes the hidden key column on `table` (UPDATE/DELETE planning) or on none.
    pub fn set_key_table(&self, table: Option<TableId>) {
        *self.key_table.lock() = table;
    }
    fn key_table(&self) -> Option<TableId> {
        *self.key_table.lock()
    }
    pub fn set_engine(&self, choice: EngineChoice) {
        self.engine
            .store(choice.to_u8(), std::sync::atomic::Ordering::Relaxed);
    }
    pub fn engine(&self) -> EngineChoice {
        EngineChoice::from_u8(self.engine.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// The `basalt` DataFusion catalog: one schema per Basalt schema, plus registered system
/// schemas (`pg_catalog`).
pub struct BasaltCatalog {
    engine: Arc<Engine>,
    slot: Arc<TxnSlot>,
    system: RwLock<HashMap<String, Arc<dyn SchemaProvider>>>,
    /// Plans the views a statement reads (see [`crate::view`]).
    planner: crate::view::PlannerRef,
}

impl BasaltCatalog {
    pub fn new(
        engine: Arc<Engine>,
        slot: Arc<TxnSlot>,
        planner: crate::view::PlannerRef,
    ) -> BasaltCatalog {
        BasaltCatalog {
            engine,
            slot,
            system: RwLock::default(),
            planner,
        }
    }
}

impl fmt::Debug for BasaltCatalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BasaltCatalog")
    }
}

impl CatalogProvider for BasaltCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.engine.catalog().schemas.keys().cloned().collect();
        names.extend(self.system.read().keys().cloned());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if let Some(s) = self.system.read().get(name) {
            return Some(Arc::clone(s));
        }
        if !self.engine.catalog().schemas.contains_key(name) {
            return None;
        }
        Some(Arc::new(BasaltSchema {
            engine: Arc::clone(&self.engine),
            slot: Arc::clone(&self.slot),
            name: name.to_owned(),
            planner: self.planner.clone(),
        }))
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> DfResult<Option<Arc<dyn SchemaProvider>>> {
        Ok(self.system.write().insert(name.to_owned(), schema))
    }
}

pub struct BasaltSchema {
    engine: Arc<Engine>,
    slot: Arc<TxnSlot>,
    name: String,
    planner: crate::view::PlannerRef,
}

impl fmt::Debug for BasaltSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BasaltSchema({})", self.name)
    }
}

#[async_trait]
impl SchemaProvider for BasaltSchema {
    fn table_names(&self) -> Vec<String> {
        let catalog = self.engine.catalog();
        catalog
            .tables
            .values()
            .filter(|t| t.schema == self.name)
            .map(|t| t.name.clone())
            .chain(
                catalog
                    .views
                    .values()
                    .filter(|v| v.schema == self.name)
                    .map(|v| v.name.clone()),
            )
            .collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let catalog = self.engine.catalog();
        // `ONLY name`: the table without the tables that inherit from it.
        let (name, only) = match name.strip_suffix(crate::session::ONLY_MARK) {
            Some(bare) => (bare, true),
            None => (name, false),
        };
        if let Some(view) = catalog.view_by_name(&self.name, name) {
            return crate::view::view_table(&self.planner, view).await.map(Some);
        }
        let Some(def) = catalog.table_by_name(&self.name, name) else {
            return Ok(None);
        };
        let Some(store) = self.engine.table(def.id) else {
            return Ok(None);
        };
        let with_key = self.slot.key_table() == Some(def.id);
        let tableoid = self
            .slot
            .tableoid
            .load(std::sync::atomic::Ordering::Relaxed);
        let inheritors = !only;
        if !with_key && (tableoid || inheritors && crate::partition::has_members(&catalog, def)) {
            let members = if inheritors {
                crate::partition::members(&catalog, def)
            } else {
                vec![def.clone()]
            };
            return Ok(Some(Arc::new(crate::append::AppendTable::new(
                &self.engine,
                &self.slot,
                def,
                members,
                tableoid,
            ))));
        }
        Ok(Some(Arc::new(BasaltTable::new(
            Arc::clone(&self.engine),
            def.clone(),
            store,
            Arc::clone(&self.slot),
            with_key,
        ))))
    }

    fn table_exist(&self, name: &str) -> bool {
        let catalog = self.engine.catalog();
        let name = name.strip_suffix(crate::session::ONLY_MARK).unwrap_or(name);
        catalog.table_by_name(&self.name, name).is_some()
            || catalog.view_by_name(&self.name, name).is_some()
    }
}

/// One Basalt table as DataFusion sees it.
pub struct BasaltTable {
    engine: Arc<Engine>,
    def: Arc<TableDef>,
    store: Arc<TableStore>,
    slot: Arc<TxnSlot>,
    schema: SchemaRef,
    /// Physical column position of each schema field; `None` for the hidden key column.
    fields: Vec<Option<usize>>,
}

impl fmt::Debug for BasaltTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BasaltTable({}.{})", self.def.schema, self.def.name)
    }
}

impl BasaltTable {
    /// The table's definition.
    pub fn def(&self) -> &TableDef {
        &self.def
    }

    /// The definition of the column behind schema field `index` (`None`: the hidden key).
    pub fn column_of_field(&self, index: usize) -> Option<&basalt_storage::ColumnDef> {
        let pos = (*self.fields.get(index)?)?;
        self.def.columns.get(pos)
    }

    pub fn new(
        engine: Arc<Engine>,
        def: TableDef,
        store: Arc<TableStore>,
        slot: Arc<TxnSlot>,
        with_key: bool,
    ) -> BasaltTable {
        let mysql = slot
            .mysql_metadata
            .load(std::sync::atomic::Ordering::Relaxed);
        let (schema, fields) = table_schema(&def, with_key, mysql);
        BasaltTable {
            engine,
            def: Arc::new(def),
            store,
            slot,
            schema,
            fields,
        }
    }
}

/// The Arrow schema DataFusion sees for a table: its live columns (and the hidden key).
pub fn table_schema(
    def: &TableDef,
    with_key: bool,
    mysql: bool,
) -> (SchemaRef, Vec<Option<usize>>) {
    let mut fields = Vec::new();
    let mut positions = Vec::new();
    for (pos, col) in def.live_columns() {
        let mut field = Field::new(&col.name, col.ty.to_arrow(), true);
        let mut metadata = HashMap::new();
        if let SqlType::Char(n) = col.ty {
            // CHAR(n) values are stored without trailing blanks; the protocol pads them.
            metadata.insert(CHAR_LENGTH_KEY.to_owned(), n.to_string());
        }
        if mysql && !col.nullable {
            metadata.insert(crate::mysql::NOT_NULL_KEY.to_owned(), "1".to_owned());
        }
        if let (true, Some(declared)) = (mysql, &col.mysql_type) {
            metadata.insert(crate::mysql::MYSQL_TYPE_KEY.to_owned(), declared.clone());
        }
        if !metadata.is_empty() {
            field = field.with_metadata(metadata);
        }
        fields.push(field);
        positions.push(Some(pos));
    }
    if with_key {
        fields.push(Field::new(KEY_COLUMN, DataType::Binary, false));
        positions.push(None);
    }
    (Arc::new(Schema::new(fields)), positions)
}

/// How a scan reaches its rows.
#[derive(Debug, Clone)]
pub enum AccessPath {
    /// Every primary-key column is fixed by an equality: at most one row.
    PrimaryKey(Key),
    /// The leading columns of a secondary index are fixed: an index range.
    Index {
        index: usize,
        name: String,
        prefix: Vec<u8>,
    },
    /// The single-column integer primary key lies between two bounds: a key-order range.
    KeyRange {
        low: Bound<Key>,
        high: Bound<Key>,
    },
    FullScan,
}

#[async_trait]
impl TableProvider for BasaltTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Filters are used to choose the access path; DataFusion still applies all of them.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let projection: Vec<usize> = projection
            .cloned()
            .unwrap_or_else(|| (0..self.fields.len()).collect());
        let schema = Arc::new(self.schema.project(&projection)?);
        let path = match choose_path(&self.def, &equalities(filters)) {
            AccessPath::FullScan => key_range(&self.def, filters).unwrap_or(AccessPath::FullScan),
            path => path,
        };
        let txn = match self.slot.get() {
            Some(t) => t,
            None => Arc::new(self.engine.begin()),
        };
        let columns: Vec<Option<usize>> = projection.iter().map(|&i| self.fields[i]).collect();
        if let Some(scan) = crate::colscan::route(
            &self.engine,
            &self.def,
            &txn,
            self.slot.engine(),
            &path,
            filters,
            &columns,
            Arc::clone(&schema),
            limit,
            state.config().target_partitions(),
            session_key(&self.slot),
        )
        .await?
        {
            return Ok(Arc::new(scan));
        }
        Ok(Arc::new(RowScanExec::new(
            Arc::clone(&self.def),
            Arc::clone(&self.store),
            txn,
            path,
            columns,
            schema,
            limit,
        )))
    }
}

/// Column name -> literal, for every `column = literal` conjunct.
fn equalities(filters: &[Expr]) -> HashMap<String, ScalarValue> {
    let mut out = HashMap::new();
    for f in filters {
        collect_equalities(f, &mut out);
    }
    out
}

fn collect_equalities(e: &Expr, out: &mut HashMap<String, ScalarValue>) {
    if let Expr::BinaryExpr(BinaryExpr { left, op, right }) = e {
        match op {
            Operator::And => {
                collect_equalities(left, out);
                collect_equalities(right, out);
            }
            Operator::Eq => match (left.as_ref(), right.as_ref()) {
                (Expr::Column(c), Expr::Literal(v, _)) | (Expr::Literal(v, _), Expr::Column(c))
                    if !v.is_null() =>
                {
                    out.insert(c.name.clone(), v.clone());
                }
                _ => {}
            },
            _ => {}
        }
    }
}

/// A key range from `pk > v`, `pk >= v`, `pk < v`, `pk <= v` and `pk BETWEEN a AND b`
/// conjuncts, for a table keyed by one integer column (whose key encoding keeps the order).
fn key_range(def: &TableDef, filters: &[Expr]) -> Option<AccessPath> {
    let [pk] = def.primary_key.as_deref()? else {
        return None;
    };
    let col = &def.columns[*pk];
    if !matches!(col.ty, SqlType::Int16 | SqlType::Int32 | SqlType::Int64) {
        return None;
    }
    let key_of = |e: &Expr| -> Option<Key> {
        let Expr::Literal(v, _) = e else { return None };
        let mut key = Vec::new();
        encode_key_value(&literal_value(v, &col.ty)?, &mut key);
        Some(key.into_boxed_slice())
    };
    let is_pk = |e: &Expr| matches!(e, Expr::Column(c) if c.name == col.name);
    let mut low: Bound<Key> = Bound::Unbounded;
    let mut high: Bound<Key> = Bound::Unbounded;
    let conjuncts = filters
        .iter()
        .flat_map(datafusion::logical_expr::utils::split_conjunction);
    for e in conjuncts {
        let (op, value) = match e {
            Expr::Between(b) if !b.negated && is_pk(&b.expr) => {
                if let (Some(l), Some(h)) = (key_of(&b.low), key_of(&b.high)) {
                    low = tighter(low, Bound::Included(l), true);
                    high = tighter(high, Bound::Included(h), false);
                }
                continue;
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right }) if is_pk(left) => (*op, right),
            Expr::BinaryExpr(BinaryExpr { left, op, right }) if is_pk(right) => match op.swap() {
                Some(op) => (op, left),
                None => continue,
            },
            _ => continue,
        };
        let Some(k) = key_of(value) else { continue };
        match op {
            Operator::Gt => low = tighter(low, Bound::Excluded(k), true),
            Operator::GtEq => low = tighter(low, Bound::Included(k), true),
            Operator::Lt => high = tighter(high, Bound::Excluded(k), false),
            Operator::LtEq => high = tighter(high, Bound::Included(k), false),
            _ => {}
        }
    }
    if matches!((&low, &high), (Bound::Unbounded, Bound::Unbounded)) {
        return None;
    }
    Some(AccessPath::KeyRange { low, high })
}

/// The narrower of two lower (or upper) bounds.
fn tighter(a: Bound<Key>, b: Bound<Key>, lower: bool) -> Bound<Key> {
    let (ka, kb) = match (&a, &b) {
        (Bound::Unbounded, _) => return b,
        (_, Bound::Unbounded) => return a,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            (x, y)
        }
    };
    match ka.cmp(kb) {
        std::cmp::Ordering::Equal => {
            if matches!(a, Bound::Excluded(_)) {
                a
            } else {
                b
            }
        }
        std::cmp::Ordering::Less => {
            if lower {
                b
            } else {
                a
            }
        }
        std::cmp::Ordering::Greater => {
            if lower {
                a
            } else {
                b
            }
        }
    }
}

/// Whether `key` lies beyond the upper bound `high`.
fn beyond(key: &[u8], high: &Bound<Key>) -> bool {
    match high {
        Bound::Unbounded => false,
        Bound::Included(h) => key > h.as_ref(),
        Bound::Excluded(h) => key >= h.as_ref(),
    }
}

/// The literal as a stored value of a column of type `ty`, only when no conversion is
/// needed (DataFusion has already coerced comparable literals to the column type).
fn literal_value(v: &ScalarValue, ty: &SqlType) -> Option<Value> {
    if v.data_type() != ty.to_arrow() {
        return None;
    }
    let array = v.to_array().ok()?;
    value_at(array.as_ref(), 0, ty)
        .ok()
        .filter(|v| !v.is_null())
}

fn choose_path(def: &TableDef, eq: &HashMap<String, ScalarValue>) -> AccessPath {
    if eq.is_empty() {
        return AccessPath::FullScan;
    }
    let prefix_of = |cols: &[usize]| -> (usize, Vec<u8>) {
        let mut prefix = Vec::new();
        let mut n = 0;
        for &c in cols {
            let col = &def.columns[c];
            let Some(v) = eq
                .get(&col.name)
                .and_then(|lit| literal_value(lit, &col.ty))
            else {
                break;
            };
            encode_key_value(&v, &mut prefix);
            n += 1;
        }
        (n, prefix)
    };
    if let Some(pk) = &def.primary_key {
        let (n, prefix) = prefix_of(pk);
        if n == pk.len() {
            return AccessPath::PrimaryKey(prefix.into_boxed_slice());
        }
    }
    let mut best: Option<(usize, usize, Vec<u8>)> = None;
    for (i, index) in def.indexes.iter().enumerate() {
        let (n, prefix) = prefix_of(&index.columns);
        if n > 0 && best.as_ref().is_none_or(|(bn, _, _)| n > *bn) {
            best = Some((n, i, prefix));
        }
    }
    match best {
        Some((_, i, prefix)) => AccessPath::Index {
            index: i,
            name: def.indexes[i].name.clone(),
            prefix,
        },
        None => AccessPath::FullScan,
    }
}

/// Reads a Basalt table at a transaction's snapshot along one access path.
pub struct RowScanExec {
    def: Arc<TableDef>,
    store: Arc<TableStore>,
    txn: Arc<Transaction>,
    path: AccessPath,
    /// Physical position per output column (`None` = hidden key).
    columns: Vec<Option<usize>>,
    schema: SchemaRef,
    limit: Option<usize>,
    props: Arc<PlanProperties>,
}

impl fmt::Debug for RowScanExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RowScanExec({}, {:?}, table {})",
            self.def.name, self.path, self.store.id
        )
    }
}

impl RowScanExec {
    fn new(
        def: Arc<TableDef>,
        store: Arc<TableStore>,
        txn: Arc<Transaction>,
        path: AccessPath,
        columns: Vec<Option<usize>>,
        schema: SchemaRef,
        limit: Option<usize>,
    ) -> RowScanExec {
        let props = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        RowScanExec {
            def,
            store,
            txn,
            path,
            columns,
            schema,
            limit,
            props: Arc::new(props),
        }
    }

    pub fn path(&self) -> &AccessPath {
        &self.path
    }
}

impl DisplayAs for RowScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let path = match &self.path {
            AccessPath::PrimaryKey(_) => "primary key lookup".to_owned(),
            AccessPath::Index { name, .. } => format!("index lookup on {name}"),
            AccessPath::KeyRange { .. } => "primary key range".to_owned(),
            AccessPath::FullScan => "full scan".to_owned(),
        };
        write!(
            f,
            "BasaltRowScan: table={}.{}, path={path}",
            self.def.schema, self.def.name
        )?;
        if let Some(l) = self.limit {
            write!(f, ", limit={l}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for RowScanExec {
    fn name(&self) -> &str {
        "BasaltRowScan"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    /// An estimate of the rows the scan returns: the table's key count (deleted versions
    /// not yet collected included), one for a primary-key lookup, at most the limit. The
    /// join planner builds its hash table on the smaller input and probes with the larger
    /// one, as PostgreSQL hashes the smaller relation, so a join's rows come out in the
    /// order of its larger (usually its outer) input; and a small build side is collected
    /// once instead of both inputs being hash-repartitioned. Inexact, so that no aggregate
    /// is answered from it.
    fn partition_statistics(&self, _partition: Option<usize>) -> DfResult<Arc<Statistics>> {
        let mut stats = Statistics::new_unknown(&self.schema);
        let mut rows = match self.path {
            AccessPath::PrimaryKey(_) => 1,
            _ => self.store.key_count(),
        };
        if let Some(limit) = self.limit {
            rows = rows.min(limit);
        }
        stats.num_rows = Precision::Inexact(rows);
        Ok(Arc::new(stats))
    }

    fn execute(
        &self,
        partition: usize,
        _ctx: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "no partition {partition}"
            )));
        }
        let mut reader = ScanReader {
            def: Arc::clone(&self.def),
            store: Arc::clone(&self.store),
            txn: Arc::clone(&self.txn),
            path: self.path.clone(),
            columns: self.columns.clone(),
            schema: Arc::clone(&self.schema),
            remaining: self.limit.unwrap_or(usize::MAX),
            cursor: Cursor::Start,
        };
        let iter = std::iter::from_fn(move || reader.next_batch().transpose());
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            futures::stream::iter(iter),
        )))
    }
}

enum Cursor {
    Start,
    After(Key),
    Done,
}

struct ScanReader {
    def: Arc<TableDef>,
    store: Arc<TableStore>,
    txn: Arc<Transaction>,
    path: AccessPath,
    columns: Vec<Option<usize>>,
    schema: SchemaRef,
    remaining: usize,
    cursor: Cursor,
}

impl ScanReader {
    fn next_batch(&mut self) -> DfResult<Option<RecordBatch>> {
        loop {
            if self.remaining == 0 {
                return Ok(None);
            }
            let mut rows: Vec<(Key, Row)> = Vec::new();
            match std::mem::replace(&mut self.cursor, Cursor::Done) {
                Cursor::Done => return Ok(None),
                Cursor::Start if matches!(self.path, AccessPath::KeyRange { .. }) => {
                    if let AccessPath::KeyRange { low, .. } = &self.path {
                        let max = SCAN_BATCH_ROWS.min(self.remaining);
                        let lower = low.as_ref().map(|k| k.as_ref());
                        if let Some(resume) = self.txn.scan_from(&self.store, lower, max, &mut rows)
                        {
                            self.cursor = Cursor::After(resume);
                        }
                    }
                }
                Cursor::Start if !matches!(self.path, AccessPath::FullScan) => match &self.path {
                    AccessPath::PrimaryKey(key) => {
                        if let Some(row) = self.txn.read(&self.store, key) {
                            rows.push((key.clone(), row));
                        }
                    }
                    AccessPath::Index { index, prefix, .. } => {
                        rows =
                            self.txn
                                .index_lookup(&self.store, &self.def.indexes[*index], prefix);
                    }
                    AccessPath::KeyRange { .. } | AccessPath::FullScan => {}
                },
                cursor => {
                    let after = match &cursor {
                        Cursor::After(k) => Some(k.as_ref()),
                        _ => None,
                    };
                    let max = SCAN_BATCH_ROWS.min(self.remaining);
                    if let Some(resume) = self.txn.scan_chunk(&self.store, after, max, &mut rows) {
                        self.cursor = Cursor::After(resume);
                    }
                }
            }
            if let AccessPath::KeyRange { high, .. } = &self.path {
                if let Some(end) = rows.iter().position(|(k, _)| beyond(k, high)) {
                    rows.truncate(end);
                    self.cursor = Cursor::Done;
                }
            }
            if rows.len() > self.remaining {
                rows.truncate(self.remaining);
            }
            self.remaining -= rows.len();
            if rows.is_empty() {
                if matches!(self.cursor, Cursor::Done) {
                    return Ok(None);
                }
                continue; // a chunk of only invisible versions
            }
            return self.to_batch(&rows).map(Some);
        }
    }

    fn to_batch(&self, rows: &[(Key, Row)]) -> DfResult<RecordBatch> {
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter()
            .map(|col| match col {
                Some(pos) => column_of_rows(&self.def, *pos, rows.iter().map(|(_, r)| r)),
                None => Arc::new(BinaryArray::from_iter_values(
                    rows.iter().map(|(k, _)| k.as_ref()),
                )) as ArrayRef,
            })
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            arrays,
            &options,
        )?)
    }
}

/// The Arrow array of the column at physical position `pos` of `rows`.
pub(crate) fn column_of_rows<'a>(
    def: &TableDef,
    pos: usize,
    rows: impl ExactSizeIterator<Item = &'a Row>,
) -> ArrayRef {
    let mut b = ColumnBuilder::new(&def.columns[pos].ty, rows.len());
    for row in rows {
        b.push(row.get(pos).unwrap_or(&Value::Null));
    }
    b.finish()
}

/// Downcast helper for tests and EXPLAIN consumers.
pub fn as_row_scan(plan: &dyn Any) -> Option<&RowScanExec> {
    plan.downcast_ref::<RowScanExec>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use basalt_storage::ColumnDef;
    use datafusion::logical_expr::{col, lit};

    fn table(ty: SqlType) -> TableDef {
        let column = |name: &str| ColumnDef {
            name: name.into(),
            ty: ty.clone(),
            nullable: false,
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
            columns: vec![column("id"), column("k")],
            primary_key: Some(vec![0]),
            primary_key_name: Some("t_pkey".into()),
            indexes: vec![],
            checks: vec![],
            version: 0,
            columnar: false,
            foreign_keys: Vec::new(),
            partition_key: None,
            partition_of: None,
            inherits: Vec::new(),
            reloptions: Vec::new(),
            triggers: Vec::new(),
        }
    }

    fn key(v: i32) -> Key {
        let mut k = Vec::new();
        encode_key_value(&Value::Int32(v), &mut k);
        k.into_boxed_slice()
    }

    #[test]
    fn key_ranges_come_from_bounds_on_an_integer_primary_key() {
        let def = table(SqlType::Int32);
        let range = |filters: Vec<Expr>| match key_range(&def, &filters) {
            Some(AccessPath::KeyRange { low, high }) => Some((low, high)),
            _ => None,
        };
        assert_eq!(
            range(vec![col("id").between(lit(3i32), lit(9i32))]),
            Some((Bound::Included(key(3)), Bound::Included(key(9))))
        );
        // The tighter of several bounds; a literal on the left is turned around.
        assert_eq!(
            range(vec![
                col("id").gt_eq(lit(3i32)),
                lit(5i32).lt(col("id")),
                col("id").lt(lit(20i32)).and(col("k").eq(lit(1i32))),
            ]),
            Some((Bound::Excluded(key(5)), Bound::Excluded(key(20))))
        );
        assert_eq!(
            range(vec![col("id").lt_eq(lit(-4i32))]),
            Some((Bound::Unbounded, Bound::Included(key(-4))))
        );
        // Not a range: other columns, OR, NOT BETWEEN, literals of another type.
        assert_eq!(range(vec![col("k").gt(lit(3i32))]), None);
        assert_eq!(
            range(vec![col("id").gt(lit(3i32)).or(col("id").lt(lit(1i32)))]),
            None
        );
        assert_eq!(
            range(vec![col("id").not_between(lit(3i32), lit(9i32))]),
            None
        );
        assert_eq!(range(vec![col("id").gt(lit(3i64))]), None);
        // Only integer keys: the order of other encodings is not relied on.
        assert!(key_range(&table(SqlType::Text), &[col("id").gt(lit("a"))]).is_none());
        assert!(beyond(&key(10), &Bound::Included(key(9))));
        assert!(!beyond(&key(9), &Bound::Included(key(9))));
        assert!(beyond(&key(9), &Bound::Excluded(key(9))));
    }
}
