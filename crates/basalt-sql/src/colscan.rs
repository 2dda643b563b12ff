//! Scans of the column engine, and the router that chooses them.
//!
//! [`crate::provider::BasaltTable::scan`] asks [`route`] whether a table access should read
//! the column engine. The router looks at the session's choice (`SET basalt.engine`, MySQL
//! `use_secondary_engine`), whether the table is loaded at the scan's snapshot, and, in
//! `auto`, at a cost estimate from the segments' zone maps: rows a key or index probe would
//! visit against rows the column scan would decode. `EXPLAIN` shows the choice and why.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use basalt_common::Row;
use basalt_storage::columnar::{ScanSource, Segment, Zone};
use basalt_storage::txn::WriteOp;
use basalt_storage::{Engine, Key, TableDef, Transaction};
use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result as DfResult, ScalarValue, Statistics};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};

use crate::error::SqlError;
use crate::provider::AccessPath;

/// Which engine a session's scans use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EngineChoice {
    /// The router decides per table access (MySQL `use_secondary_engine = ON`).
    #[default]
    Auto,
    /// Only the row engine (`OFF`).
    Row,
    /// The column engine for every table scan; an error when a table is not loaded
    /// (`FORCED`).
    Column,
}

impl EngineChoice {
    pub fn parse(text: &str) -> Option<EngineChoice> {
        match text.to_lowercase().as_str() {
            "auto" | "on" | "1" => Some(EngineChoice::Auto),
            "row" | "off" | "0" => Some(EngineChoice::Row),
            "column" | "forced" => Some(EngineChoice::Column),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            EngineChoice::Auto => "auto",
            EngineChoice::Row => "row",
            EngineChoice::Column => "column",
        }
    }

    pub(crate) fn to_u8(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_u8(v: u8) -> EngineChoice {
        match v {
            1 => EngineChoice::Row,
            2 => EngineChoice::Column,
            _ => EngineChoice::Auto,
        }
    }
}

/// Column scans executed since the server started (`SHOW basalt.column_scans`): the
/// differential test checks that its queries really went through the column engine.
pub static COLUMN_SCANS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Rows decoded from a segment cost about this fraction of a row visited through the
/// row engine's B-tree (measured in `docs/columnar.md`).
const COLUMN_ROW_COST: f64 = 1.0 / 16.0;

/// A predicate `column op literal` on a physical column, usable with zone maps.
#[derive(Debug, Clone)]
pub(crate) struct Pred {
    col: usize,
    op: Operator,
    value: ScalarValue,
}

/// The column-engine scan for a table access, or `None` for the row engine. Errors when the
/// session forces the column engine and the table cannot be read there.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn route(
    engine: &Engine,
    def: &Arc<TableDef>,
    txn: &Arc<Transaction>,
    choice: EngineChoice,
    row_path: &AccessPath,
    filters: &[Expr],
    columns: &[Option<usize>],
    schema: SchemaRef,
    limit: Option<usize>,
    partitions: usize,
    session: usize,
) -> DfResult<Option<ColumnScanExec>> {
    if choice == EngineChoice::Row || columns.iter().any(Option::is_none) {
        // The hidden key column (UPDATE/DELETE targets) comes from the row engine.
        return Ok(None);
    }
    let forced = choice == EngineChoice::Column;
    let not_loaded = || {
        SqlError::MySql {
            code: 3877,
            sqlstate: "55000",
            message: format!(
                "table \"{}\" is not loaded into the column engine (secondary engine Rapid); \
                 load it with ALTER TABLE {} SET (columnar = on) or, in MySQL, \
                 ALTER TABLE {} SECONDARY_LOAD",
                def.name, def.name, def.name
            ),
        }
        .into_datafusion()
    };
    let table = match engine.column_table(def.id) {
        Some(t) if t.def.version == def.version => t,
        _ if forced => return Err(not_loaded()),
        _ => return Ok(None),
    };
    if let Some(failure) = table.progress.failure() {
        if forced {
            return Err(SqlError::Internal(format!(
                "loading \"{}\" into the column engine failed: {failure}",
                def.name
            ))
            .into_datafusion());
        }
        return Ok(None);
    }
    if !table.progress.is_ready() {
        if !forced {
            return Ok(None);
        }
        // Forced: wait for the load, like a query waits for a lock.
        while !table.progress.is_ready() && table.progress.failure().is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    if txn.read_ts.0 < table.loaded_ts {
        // The snapshot is older than the load: rows deleted before the load are not there.
        return Ok(None);
    }
    let preds = predicates(def, filters);
    let own: Option<Arc<BTreeMap<Key, WriteOp>>> = txn
        .writes
        .lock()
        .tables
        .get(&def.id)
        .filter(|tw| !tw.ops.is_empty())
        .map(|tw| Arc::new(tw.ops.clone()));
    let source = table.scan_source(txn.read_ts, own.as_deref());
    let total_segments = source.segments.len();
    let mut kept = Vec::new();
    let mut scanned_rows = source.delta.len();
    let mut estimate = source.delta.len() as f64;
    for seg in &source.segments {
        let fraction = fraction(seg, &preds);
        if fraction > 0.0 {
            scanned_rows += seg.rows;
            estimate += fraction * seg.rows as f64;
            kept.push(Arc::clone(seg));
        }
    }
    if choice == EngineChoice::Auto {
        let row_cost = match row_path {
            AccessPath::PrimaryKey(_) | AccessPath::Index { .. } => return Ok(None),
            AccessPath::KeyRange { .. } => estimate,
            AccessPath::FullScan => table.live_rows() as f64,
        };
        if scanned_rows as f64 * COLUMN_ROW_COST >= row_cost && row_cost > 0.0 {
            return Ok(None);
        }
    }
    let own_rows: Vec<Row> = own
        .as_ref()
        .map(|o| o.values().filter_map(|op| op.row.clone()).collect())
        .unwrap_or_default();
    Ok(Some(ColumnScanExec::new(
        Arc::clone(def),
        ScanSource {
            segments: kept,
            delta: source.delta,
        },
        Scan {
            total_segments,
            estimate: estimate.round() as usize,
            own,
            own_rows,
            read_ts: txn.read_ts,
            columns: columns.iter().flatten().copied().collect(),
            limit,
            session,
        },
        schema,
        partitions,
    )))
}

/// `column op literal` conjuncts of the pushed-down filters, by physical column.
fn predicates(def: &TableDef, filters: &[Expr]) -> Vec<Pred> {
    let position = |e: &Expr| -> Option<usize> {
        let Expr::Column(c) = e else { return None };
        def.columns
            .iter()
            .position(|col| !col.dropped && col.name == c.name)
    };
    let mut out = Vec::new();
    for e in filters
        .iter()
        .flat_map(datafusion::logical_expr::utils::split_conjunction)
    {
        match e {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (col, op, value) = match (position(left), right.as_ref()) {
                    (Some(c), Expr::Literal(v, _)) => (c, *op, v),
                    _ => match (left.as_ref(), position(right), op.swap()) {
                        (Expr::Literal(v, _), Some(c), Some(op)) => (c, op, v),
                        _ => continue,
                    },
                };
                if matches!(
                    op,
                    Operator::Eq | Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq
                ) && !value.is_null()
                {
                    out.push(Pred {
                        col,
                        op,
                        value: value.clone(),
                    });
                }
            }
            Expr::Between(b) if !b.negated => {
                if let (Some(col), Expr::Literal(lo, _), Expr::Literal(hi, _)) =
                    (position(&b.expr), b.low.as_ref(), b.high.as_ref())
                {
                    if !lo.is_null() && !hi.is_null() {
                        out.push(Pred {
                            col,
                            op: Operator::GtEq,
                            value: lo.clone(),
                        });
                        out.push(Pred {
                            col,
                            op: Operator::LtEq,
                            value: hi.clone(),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The estimated fraction of a segment's rows that satisfy every predicate: 0 when a zone
/// map proves none does (the segment is pruned), otherwise the overlap of each predicate's
/// range with the zone, assuming values spread evenly between min and max.
fn fraction(seg: &Segment, preds: &[Pred]) -> f64 {
    let mut f = 1.0;
    for p in preds {
        let Some(zone) = seg.zone(p.col) else {
            continue;
        };
        f *= pred_fraction(zone, p, seg.rows);
        if f == 0.0 {
            return 0.0;
        }
    }
    f
}

fn pred_fraction(zone: &Zone, p: &Pred, rows: usize) -> f64 {
    use std::cmp::Ordering::*;
    let (Some(vs_min), Some(vs_max)) = (
        p.value.partial_cmp(&zone.min),
        p.value.partial_cmp(&zone.max),
    ) else {
        return 1.0; // different types: no pruning
    };
    let possible = match p.op {
        Operator::Eq => vs_min != Less && vs_max != Greater,
        Operator::Lt => vs_min == Greater,
        Operator::LtEq => vs_min != Less,
        Operator::Gt => vs_max == Less,
        Operator::GtEq => vs_max != Greater,
        _ => true,
    };
    if !possible {
        return 0.0;
    }
    let non_null = 1.0 - zone.nulls as f64 / rows.max(1) as f64;
    let (Some(lo), Some(hi), Some(v)) = (numeric(&zone.min), numeric(&zone.max), numeric(&p.value))
    else {
        return non_null;
    };
    let width = (hi - lo).max(1.0);
    let share = match p.op {
        Operator::Eq => 1.0 / width,
        Operator::Lt | Operator::LtEq => (v - lo) / width,
        Operator::Gt | Operator::GtEq => (hi - v) / width,
        _ => 1.0,
    };
    non_null * share.clamp(1.0 / width, 1.0)
}

fn numeric(v: &ScalarValue) -> Option<f64> {
    match v {
        ScalarValue::Int16(Some(x)) => Some(f64::from(*x)),
        ScalarValue::Int32(Some(x)) | ScalarValue::Date32(Some(x)) => Some(f64::from(*x)),
        ScalarValue::Int64(Some(x)) | ScalarValue::TimestampMicrosecond(Some(x), _) => {
            Some(*x as f64)
        }
        ScalarValue::Decimal128(Some(x), _, _) => Some(*x as f64),
        _ => None,
    }
}

/// What one column scan reads, besides the segments and delta rows.
struct Scan {
    total_segments: usize,
    estimate: usize,
    /// The scanning transaction's writes to the table: their keys are hidden in segments
    /// and its new rows are added.
    own: Option<Arc<BTreeMap<Key, WriteOp>>>,
    own_rows: Vec<Row>,
    read_ts: basalt_common::ReadTs,
    /// Physical position per output column.
    columns: Vec<usize>,
    limit: Option<usize>,
    /// The scanning session ([`crate::provider::session_key`]): its own transactional
    /// statements do not make its analytics yield.
    session: usize,
}

/// Reads a table from the column engine at a transaction's snapshot, in parallel across
/// segments (partition `p` reads segments `p`, `p + n`, …; partition 0 also reads the delta
/// and the transaction's own rows).
pub struct ColumnScanExec {
    def: Arc<TableDef>,
    source: Arc<ScanSource>,
    scan: Arc<Scan>,
    schema: SchemaRef,
    partitions: usize,
    props: Arc<PlanProperties>,
}

impl fmt::Debug for ColumnScanExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ColumnScanExec({})", self.def.name)
    }
}

impl ColumnScanExec {
    fn new(
        def: Arc<TableDef>,
        source: ScanSource,
        scan: Scan,
        schema: SchemaRef,
        partitions: usize,
    ) -> ColumnScanExec {
        let partitions = partitions.clamp(1, source.segments.len().max(1));
        let props = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        ColumnScanExec {
            def,
            source: Arc::new(source),
            scan: Arc::new(scan),
            schema,
            partitions,
            props: Arc::new(props),
        }
    }

    /// Segments read and segments the table has.
    pub fn segments(&self) -> (usize, usize) {
        (self.source.segments.len(), self.scan.total_segments)
    }
}

impl DisplayAs for ColumnScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "BasaltColumnScan: table={}.{}, engine=column (secondary engine Rapid), segments={}/{}, delta_rows={}, est_rows={}",
            self.def.schema,
            self.def.name,
            self.source.segments.len(),
            self.scan.total_segments,
            self.source.delta.len() + self.scan.own_rows.len(),
            self.scan.estimate,
        )?;
        if let Some(l) = self.scan.limit {
            write!(f, ", limit={l}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for ColumnScanExec {
    fn name(&self) -> &str {
        "BasaltColumnScan"
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

    fn partition_statistics(&self, partition: Option<usize>) -> DfResult<Arc<Statistics>> {
        let mut stats = Statistics::new_unknown(&self.schema);
        if partition.is_none() {
            stats.num_rows = Precision::Inexact(self.scan.estimate);
        }
        Ok(Arc::new(stats))
    }

    fn execute(
        &self,
        partition: usize,
        _ctx: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        if partition >= self.partitions {
            return Err(DataFusionError::Internal(format!(
                "no partition {partition}"
            )));
        }
        if partition == 0 {
            COLUMN_SCANS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let mut reader = SegmentReader {
            def: Arc::clone(&self.def),
            source: Arc::clone(&self.source),
            scan: Arc::clone(&self.scan),
            schema: Arc::clone(&self.schema),
            next: partition,
            step: self.partitions,
            tail: partition == 0,
            remaining: self.scan.limit.unwrap_or(usize::MAX),
        };
        let iter = std::iter::from_fn(move || reader.next_batch().transpose());
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            futures::stream::iter(iter),
        )))
    }
}

struct SegmentReader {
    def: Arc<TableDef>,
    source: Arc<ScanSource>,
    scan: Arc<Scan>,
    schema: SchemaRef,
    next: usize,
    step: usize,
    /// Whether this partition still has the delta and own rows to emit.
    tail: bool,
    remaining: usize,
}

impl SegmentReader {
    fn next_batch(&mut self) -> DfResult<Option<RecordBatch>> {
        while self.remaining > 0 {
            crate::analytics::yield_to_transactions(self.scan.session);
            let batch = if let Some(seg) = self.source.segments.get(self.next) {
                self.next += self.step;
                self.segment_batch(seg)?
            } else if self.tail {
                self.tail = false;
                let rows: Vec<&Row> = self
                    .source
                    .delta
                    .iter()
                    .chain(self.scan.own_rows.iter())
                    .collect();
                self.rows_batch(&rows)?
            } else {
                return Ok(None);
            };
            if batch.num_rows() == 0 {
                continue;
            }
            let batch = if batch.num_rows() > self.remaining {
                batch.slice(0, self.remaining)
            } else {
                batch
            };
            self.remaining -= batch.num_rows();
            return Ok(Some(batch));
        }
        Ok(None)
    }

    fn segment_batch(&self, seg: &Segment) -> DfResult<RecordBatch> {
        let arrays = self
            .scan
            .columns
            .iter()
            .map(|&pos| seg.column(pos))
            .collect::<Result<Vec<ArrayRef>, _>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(seg.rows));
        let batch = RecordBatch::try_new_with_options(Arc::clone(&self.schema), arrays, &options)?;
        match seg.visibility(self.scan.read_ts, self.scan.own.as_deref()) {
            None => Ok(batch),
            Some(mask) => Ok(filter_record_batch(&batch, &mask)?),
        }
    }

    fn rows_batch(&self, rows: &[&Row]) -> DfResult<RecordBatch> {
        let arrays: Vec<ArrayRef> = self
            .scan
            .columns
            .iter()
            .map(|&pos| crate::provider::column_of_rows(&self.def, pos, rows.iter().copied()))
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            arrays,
            &options,
        )?)
    }
}

/// Downcast helper for EXPLAIN consumers and tests.
pub fn as_column_scan(plan: &dyn Any) -> Option<&ColumnScanExec> {
    plan.downcast_ref::<ColumnScanExec>()
}

/// The system view of the column engine: per loaded table, its load progress, segments and
/// memory (`pg_catalog.basalt_columnar`, MySQL `information_schema.basalt_columnar`).
pub const STATUS_TABLE: &str = "basalt_columnar";

pub fn status_table(engine: &Arc<Engine>) -> DfResult<Arc<dyn TableProvider>> {
    Ok(Arc::new(StatusTable {
        engine: Arc::clone(engine),
        schema: status_schema(),
    }))
}

/// The view is read when a query runs, not when it is planned: a prepared statement that
/// polls load progress sees it move.
struct StatusTable {
    engine: Arc<Engine>,
    schema: SchemaRef,
}

impl fmt::Debug for StatusTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(STATUS_TABLE)
    }
}

#[async_trait::async_trait]
impl TableProvider for StatusTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let batch = status_batch(&self.engine, Arc::clone(&self.schema))?;
        MemTable::try_new(Arc::clone(&self.schema), vec![vec![batch]])?
            .scan(state, projection, filters, limit)
            .await
    }
}

fn status_schema() -> SchemaRef {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    Arc::new(Schema::new(vec![
        Field::new("table_schema", DataType::Utf8, false),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("rows_loaded", DataType::Int64, false),
        Field::new("rows_total", DataType::Int64, false),
        Field::new("segments", DataType::Int64, false),
        Field::new("segment_rows", DataType::Int64, false),
        Field::new("delta_rows", DataType::Int64, false),
        Field::new("deleted_rows", DataType::Int64, false),
        Field::new("memory_bytes", DataType::Int64, false),
        Field::new("raw_bytes", DataType::Int64, false),
        Field::new("compression_ratio", DataType::Float64, true),
    ]))
}

fn status_batch(engine: &Engine, schema: SchemaRef) -> DfResult<RecordBatch> {
    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};
    let catalog = engine.catalog();
    let mut tables = engine.column_tables();
    tables.sort_by(|a, b| (&a.def.schema, &a.def.name).cmp(&(&b.def.schema, &b.def.name)));
    // Only tables whose definition is current (a replaced load is being let go).
    tables.retain(|t| catalog.tables.contains_key(&t.table));
    let stats: Vec<_> = tables.iter().map(|t| t.stats()).collect();
    let int = |f: &dyn Fn(usize) -> u64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(
            (0..tables.len()).map(|i| f(i) as i64),
        ))
    };
    let state = |i: usize| -> String {
        let t = &tables[i];
        if let Some(f) = t.progress.failure() {
            format!("failed: {f}")
        } else if t.progress.is_ready() {
            "loaded".into()
        } else {
            "loading".into()
        }
    };
    use std::sync::atomic::Ordering::Relaxed;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            tables.iter().map(|t| t.def.schema.clone()),
        )),
        Arc::new(StringArray::from_iter_values(
            tables.iter().map(|t| t.def.name.clone()),
        )),
        Arc::new(StringArray::from_iter_values((0..tables.len()).map(state))),
        int(&|i| tables[i].progress.done.load(Relaxed)),
        int(&|i| tables[i].progress.total.load(Relaxed)),
        int(&|i| stats[i].segments as u64),
        int(&|i| stats[i].segment_rows as u64),
        int(&|i| stats[i].delta_rows as u64),
        int(&|i| stats[i].deleted_rows as u64),
        int(&|i| stats[i].bytes as u64),
        int(&|i| stats[i].raw_bytes as u64),
        Arc::new(Float64Array::from_iter(stats.iter().map(|s| {
            (s.encoded_bytes > 0).then(|| s.raw_bytes as f64 / s.encoded_bytes as f64)
        }))),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}
