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
use std::collections::HashMap;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, UInt32Array};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::compute::{self, filter_record_batch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{ColumnStatistics, Result as DfResult, ScalarValue, Statistics};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use datafusion::physical_expr::expressions::DynamicFilterPhysicalExpr;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::filter_pushdown::{
    ChildPushdownResult, FilterPushdownPhase, FilterPushdownPropagation, PushedDown,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::StreamExt;

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
#[derive(Clone)]
pub struct ColumnScanExec {
    def: Arc<TableDef>,
    source: Arc<ScanSource>,
    scan: Arc<Scan>,
    schema: SchemaRef,
    partitions: usize,
    props: Arc<PlanProperties>,
    /// Predicates pushed down from the plan above (a filter's, or a join's dynamic filter),
    /// over `schema`; only rows satisfying every one are emitted.
    filters: Vec<Arc<dyn PhysicalExpr>>,
    conjuncts: Arc<Vec<Conjunct>>,
    /// The hash joins' dynamic filters among `filters` ([`JoinFilterWaits`]): the scan starts
    /// once they are complete.
    join_filters: Vec<Arc<dyn PhysicalExpr>>,
}

/// How long a scan waits for a join's dynamic filter before it reads without it.
const JOIN_FILTER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Marks the join-built dynamic filters in column scans, so that the scans wait for them.
///
/// A hash join pushes a filter of its build side's keys into the scans of its probe side,
/// completed once the build side is read. DataFusion starts every join's build side when the
/// plan starts, so a scan below another join's build side can run before the filter it was
/// given is complete, and then reads everything: which of the two came first changed q07 of
/// TPC-H by 2.5×. Waiting cannot deadlock: a join reads its build side before its probe side,
/// and the build side never depends on the probe side. Only join filters are waited for: a
/// top-k filter is complete only when its input, which may be this scan, has been read.
#[derive(Debug, Default)]
pub struct JoinFilterWaits;

impl datafusion::physical_optimizer::PhysicalOptimizerRule for JoinFilterWaits {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &datafusion::common::config::ConfigOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let mut joins = std::collections::HashSet::new();
        plan.apply(|node| {
            let any: &dyn Any = node.as_ref();
            if any.is::<datafusion::physical_plan::joins::HashJoinExec>() {
                joins.extend(
                    node.dynamic_expressions_produced()
                        .iter()
                        .filter_map(|e| e.expression_id()),
                );
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        if joins.is_empty() {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            let Some(scan) = as_column_scan(node.as_ref()) else {
                return Ok(Transformed::no(node));
            };
            let mut waits = Vec::new();
            for f in &scan.filters {
                f.apply(|e| {
                    if e.expression_id().is_some_and(|id| joins.contains(&id)) {
                        waits.push(Arc::clone(e));
                        return Ok(TreeNodeRecursion::Jump);
                    }
                    Ok(TreeNodeRecursion::Continue)
                })?;
            }
            if waits.is_empty() {
                return Ok(Transformed::no(node));
            }
            let mut scan = scan.clone();
            scan.join_filters = waits;
            Ok(Transformed::yes(Arc::new(scan) as Arc<dyn ExecutionPlan>))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "basalt_join_filter_waits"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// One conjunct of the pushed-down predicates, rewritten over just the columns it reads, so
/// it can be evaluated before the scan's other columns are decoded.
struct Conjunct {
    expr: Arc<dyn PhysicalExpr>,
    /// Output columns it reads, in the order of `schema`'s fields.
    columns: Vec<usize>,
    schema: SchemaRef,
    /// Deterministic: a predicate on one dictionary-coded column may be evaluated once per
    /// distinct value.
    per_value: bool,
    /// Worth a [`ValueTable`]: more than comparisons of columns with constants (a join's
    /// key lookup, an `IN` list, a `CASE`, a function call), which Arrow's kernels already
    /// run faster than a table lookup.
    costly: bool,
    /// Its [`ValueTable`], built by the first segment read once the conjunct's dynamic
    /// filters are complete (`None` inside: no table applies).
    table: std::sync::OnceLock<Option<ValueTable>>,
}

/// Most integer values a [`ValueTable`] covers (a bitmap of 512 KiB).
const VALUE_TABLE_MAX: u64 = 1 << 22;

/// A conjunct on one integer column, evaluated once for every value in the range the
/// scanned segments' zones span (and once for NULL): rows then look their value up in the
/// bitmap instead of evaluating the conjunct. It applies where the range is much smaller
/// than the rows: a hash join's dynamic filter on a foreign key probes its hash table, or
/// computes a `CASE` over the partitions' key sets, once per distinct key instead of once
/// per row (TPC-H q17 evaluates one over `l_partkey`, 200,000 values in 6 million rows).
struct ValueTable {
    min: i64,
    hits: BooleanBuffer,
    null_hit: bool,
}

impl ValueTable {
    /// Whether each value of `a` satisfies the conjunct; `None` for a type it does not
    /// cover or a value outside its range, which the rows then evaluate.
    fn lookup(&self, a: &ArrayRef) -> Option<BooleanArray> {
        use datafusion::arrow::array::AsArray;
        use datafusion::arrow::datatypes::{DataType, Date32Type, Int16Type, Int32Type, Int64Type};
        match a.data_type() {
            DataType::Int16 => self.lookup_values(a.as_primitive::<Int16Type>(), i64::from),
            DataType::Int32 => self.lookup_values(a.as_primitive::<Int32Type>(), i64::from),
            DataType::Int64 => self.lookup_values(a.as_primitive::<Int64Type>(), |v| v),
            DataType::Date32 => self.lookup_values(a.as_primitive::<Date32Type>(), i64::from),
            _ => None,
        }
    }

    fn lookup_values<T: datafusion::arrow::datatypes::ArrowPrimitiveType>(
        &self,
        a: &datafusion::arrow::array::PrimitiveArray<T>,
        wide: impl Fn(T::Native) -> i64,
    ) -> Option<BooleanArray> {
        let width = self.hits.len() as u64;
        let values = a.values();
        let mut outside = false;
        let bits = BooleanBuffer::collect_bool(a.len(), |i| {
            let at = wide(values[i]).wrapping_sub(self.min) as u64;
            let inside = at < width;
            outside |= !inside && a.is_valid(i);
            inside && self.hits.value(at as usize)
        });
        if outside {
            return None;
        }
        let bits = match a.nulls() {
            None => bits,
            Some(n) if self.null_hit => &bits | &!n.inner(),
            Some(n) => &bits & n.inner(),
        };
        Some(BooleanArray::new(bits, None))
    }
}

/// Whether a predicate is only comparisons, `IS [NOT] NULL` tests and boolean connectives
/// over columns and constants.
fn cheap(e: &Arc<dyn PhysicalExpr>) -> bool {
    use datafusion::physical_expr::expressions::{
        BinaryExpr as PBinary, Column, IsNotNullExpr, IsNullExpr, Literal, NotExpr,
    };
    if e.downcast_ref::<Column>().is_some() || e.downcast_ref::<Literal>().is_some() {
        return true;
    }
    if let Some(b) = e.downcast_ref::<PBinary>() {
        use Operator::*;
        let plain = matches!(
            b.op(),
            Eq | NotEq | Lt | LtEq | Gt | GtEq | IsDistinctFrom | IsNotDistinctFrom | And | Or
        );
        return plain && cheap(b.left()) && cheap(b.right());
    }
    if e.downcast_ref::<IsNullExpr>().is_some()
        || e.downcast_ref::<IsNotNullExpr>().is_some()
        || e.downcast_ref::<NotExpr>().is_some()
    {
        return e.children().into_iter().all(cheap);
    }
    false
}

/// Whether every dynamic filter in `e` is complete, so that its current expression is final.
fn settled(e: &Arc<dyn PhysicalExpr>) -> bool {
    use futures::FutureExt;
    let mut done = true;
    let _ = e.apply(|n| {
        if let Some(d) = n.downcast_ref::<DynamicFilterPhysicalExpr>() {
            done &= d.wait_complete().now_or_never().is_some();
        }
        Ok(TreeNodeRecursion::Continue)
    });
    done
}

impl Conjunct {
    /// Which of `n` rows, given as the values of `columns`, satisfy the conjunct (NULL is
    /// false).
    fn mask(&self, arrays: Vec<ArrayRef>, n: usize) -> DfResult<BooleanArray> {
        let options = RecordBatchOptions::new().with_row_count(Some(n));
        let input = RecordBatch::try_new_with_options(Arc::clone(&self.schema), arrays, &options)?;
        truth(self.expr.evaluate(&input)?.into_array(n)?)
    }

    /// The conjunct of one column evaluated once for each of `values` and once for NULL:
    /// whether each value satisfies it, and whether NULL does. `None` when the evaluation
    /// fails, which must not fail the scan when no row holds the failing value: the rows then
    /// evaluate it themselves.
    fn per_value_hits(&self, values: &ArrayRef) -> Option<(BooleanBuffer, bool)> {
        let with_null = compute::concat(&[
            values.as_ref(),
            datafusion::arrow::array::new_null_array(values.data_type(), 1).as_ref(),
        ])
        .ok()?;
        let n = values.len();
        let hits = self.mask(vec![with_null], n + 1).ok()?;
        Some((hits.values().slice(0, n), hits.value(n)))
    }

    fn compile(expr: &Arc<dyn PhysicalExpr>, schema: &SchemaRef) -> DfResult<Conjunct> {
        use datafusion::arrow::datatypes::Schema;
        let mut columns: Vec<usize> = datafusion::physical_expr::utils::collect_columns(expr)
            .iter()
            .map(|c| c.index())
            .collect();
        columns.sort_unstable();
        columns.dedup();
        // Nullable fields: a per-value evaluation adds a NULL to the distinct values.
        let fields: Vec<_> = columns
            .iter()
            .map(|&i| schema.field(i).clone().with_nullable(true))
            .collect();
        let compact = Arc::new(Schema::new(fields));
        let remapped = Arc::clone(expr)
            .transform(|e| {
                let Some(c) = e.downcast_ref::<datafusion::physical_expr::expressions::Column>()
                else {
                    return Ok(Transformed::no(e));
                };
                let at = columns
                    .iter()
                    .position(|&i| i == c.index())
                    .ok_or_else(|| {
                        DataFusionError::Internal(format!("column {} not collected", c.name()))
                    })?;
                Ok(Transformed::yes(
                    Arc::new(datafusion::physical_expr::expressions::Column::new(
                        c.name(),
                        at,
                    )) as Arc<dyn PhysicalExpr>,
                ))
            })?
            .data;
        Ok(Conjunct {
            per_value: !datafusion::physical_expr_common::physical_expr::is_volatile(expr),
            costly: !cheap(expr),
            table: std::sync::OnceLock::new(),
            expr: remapped,
            columns,
            schema: compact,
        })
    }
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
            filters: Vec::new(),
            conjuncts: Arc::new(Vec::new()),
            join_filters: Vec::new(),
        }
    }

    /// A copy that also applies `filters`.
    fn with_filters(&self, filters: Vec<Arc<dyn PhysicalExpr>>) -> DfResult<ColumnScanExec> {
        let mut all = self.filters.clone();
        all.extend(filters);
        let conjuncts = all
            .iter()
            .flat_map(datafusion::physical_expr::split_conjunction)
            .map(|e| Conjunct::compile(e, &self.schema))
            .collect::<DfResult<Vec<_>>>()?;
        Ok(ColumnScanExec {
            filters: all,
            conjuncts: Arc::new(conjuncts),
            ..self.clone()
        })
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
        if !self.filters.is_empty() {
            let shown: Vec<String> = self.filters.iter().map(|e| e.to_string()).collect();
            write!(f, ", filter={}", shown.join(" AND "))?;
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
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        for e in &self.filters {
            if f(e)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }

    /// Takes every predicate offered from above (a filter's conjuncts, a join's or a top-k's
    /// dynamic filter) and evaluates it while scanning, on the encoded columns where it can,
    /// before the other columns are decoded. Not under a pushed-down limit, which counts
    /// rows before any filter.
    fn handle_child_pushdown_result(
        &self,
        _phase: FilterPushdownPhase,
        child_pushdown_result: ChildPushdownResult,
        _config: &datafusion::common::config::ConfigOptions,
    ) -> DfResult<FilterPushdownPropagation<Arc<dyn ExecutionPlan>>> {
        let filters: Vec<Arc<dyn PhysicalExpr>> = child_pushdown_result
            .parent_filters
            .into_iter()
            .map(|f| f.filter)
            .collect();
        if filters.is_empty() || self.scan.limit.is_some() {
            return Ok(FilterPushdownPropagation::with_parent_pushdown_result(
                vec![PushedDown::No; filters.len()],
            ));
        }
        let n = filters.len();
        let updated = Arc::new(self.with_filters(filters)?) as Arc<dyn ExecutionPlan>;
        Ok(
            FilterPushdownPropagation::with_parent_pushdown_result(vec![PushedDown::Yes; n])
                .with_updated_node(updated),
        )
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
            // Value ranges from the zone maps, when the segments hold every row: the join
            // planner estimates join sizes from them (and so which side to build on).
            if self.source.delta.is_empty() && self.scan.own_rows.is_empty() {
                for (col, &pos) in self.scan.columns.iter().enumerate() {
                    stats.column_statistics[col] = zone_statistics(&self.source.segments, pos);
                }
            }
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
            conjuncts: Arc::clone(&self.conjuncts),
            schema: Arc::clone(&self.schema),
            next: partition,
            step: self.partitions,
            tail: partition == 0,
            remaining: self.scan.limit.unwrap_or(usize::MAX),
        };
        let iter = std::iter::from_fn(move || reader.next_batch().transpose());
        let waits = self.join_filters.clone();
        let wait = async move {
            for f in &waits {
                let Some(d) = f.downcast_ref::<DynamicFilterPhysicalExpr>() else {
                    continue;
                };
                // Past the limit the scan reads without the filter: slower, same answer.
                let _ = tokio::time::timeout(JOIN_FILTER_WAIT, d.wait_complete()).await;
            }
        };
        let stream = futures::stream::once(wait)
            .filter_map(|()| futures::future::ready(None))
            .chain(futures::stream::iter(iter));
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        )))
    }
}

struct SegmentReader {
    def: Arc<TableDef>,
    source: Arc<ScanSource>,
    scan: Arc<Scan>,
    conjuncts: Arc<Vec<Conjunct>>,
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
                self.filter_rows(self.rows_batch(&rows)?)?
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
        let visible = seg.visibility(self.scan.read_ts, self.scan.own.as_deref());
        if !self.conjuncts.is_empty() {
            return self.filtered_segment_batch(seg, visible);
        }
        let arrays = self
            .scan
            .columns
            .iter()
            .map(|&pos| seg.column(pos))
            .collect::<Result<Vec<ArrayRef>, _>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(seg.rows));
        let batch = RecordBatch::try_new_with_options(Arc::clone(&self.schema), arrays, &options)?;
        match visible {
            None => Ok(batch),
            Some(mask) => Ok(filter_record_batch(&batch, &mask)?),
        }
    }

    /// The visible rows of a segment that satisfy the pushed-down conjuncts. The conjuncts
    /// run in order, each on the rows the ones before it kept (as a filter evaluates `AND`),
    /// decoding only the columns it reads at those rows; the output columns are decoded last,
    /// at the rows that remain.
    fn filtered_segment_batch(
        &self,
        seg: &Segment,
        visible: Option<BooleanArray>,
    ) -> DfResult<RecordBatch> {
        // Rows still selected, as positions in the segment (`None`: all of them).
        let mut rows: Option<UInt32Array> = visible.map(|m| positions(&m, None));
        // Output column -> its values at `rows`.
        let mut decoded: HashMap<usize, ArrayRef> = HashMap::new();
        let decode = |col: usize, rows: &Option<UInt32Array>| -> DfResult<ArrayRef> {
            let pos = self.scan.columns[col];
            Ok(match rows {
                None => seg.column(pos)?,
                Some(r) => seg.column_rows(pos, r)?,
            })
        };
        // The cheap conjuncts' combined mask over `rows`, applied only before a column is
        // decoded or a costly conjunct runs: comparisons cannot fail, so running them on rows
        // an earlier one rejects is safe, and cheaper than narrowing the arrays each time.
        let mut pending: Option<BooleanArray> = None;
        for c in self.conjuncts.iter() {
            if c.costly || c.columns.iter().any(|col| !decoded.contains_key(col)) {
                if let Some(p) = pending.take() {
                    narrow(&p, &mut rows, &mut decoded)?;
                }
            }
            let n = rows.as_ref().map_or(seg.rows, |r| r.len());
            if n == 0 {
                break;
            }
            let mask = match self.per_value_mask(seg, c, rows.as_ref()) {
                Some(m) => m,
                None => {
                    let mut arrays = Vec::with_capacity(c.columns.len());
                    for &col in &c.columns {
                        let a = match decoded.get(&col) {
                            Some(a) => Arc::clone(a),
                            None => {
                                let a = decode(col, &rows)?;
                                decoded.insert(col, Arc::clone(&a));
                                a
                            }
                        };
                        arrays.push(a);
                    }
                    let looked_up = match (arrays.as_slice(), self.value_table(c)) {
                        ([a], Some(t)) => t.lookup(a),
                        _ => None,
                    };
                    match looked_up {
                        Some(m) => m,
                        None => c.mask(arrays, n)?,
                    }
                }
            };
            if c.costly {
                narrow(&mask, &mut rows, &mut decoded)?;
            } else {
                pending = Some(match pending {
                    None => mask,
                    Some(p) => compute::and(&p, &mask)?,
                });
            }
        }
        if let Some(p) = pending.take() {
            narrow(&p, &mut rows, &mut decoded)?;
        }
        let n = rows.as_ref().map_or(seg.rows, |r| r.len());
        let arrays = (0..self.scan.columns.len())
            .map(|col| match decoded.remove(&col) {
                Some(a) => Ok(a),
                None if n == 0 => Ok(datafusion::arrow::array::new_empty_array(
                    self.schema.field(col).data_type(),
                )),
                None => decode(col, &rows),
            })
            .collect::<DfResult<Vec<ArrayRef>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(n));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            arrays,
            &options,
        )?)
    }

    /// The rows of a decoded batch that satisfy the pushed-down conjuncts, each evaluated on
    /// the rows the ones before it kept.
    fn filter_rows(&self, mut batch: RecordBatch) -> DfResult<RecordBatch> {
        for c in self.conjuncts.iter() {
            let n = batch.num_rows();
            if n == 0 {
                break;
            }
            let arrays = c
                .columns
                .iter()
                .map(|&col| Arc::clone(batch.column(col)))
                .collect();
            let mask = c.mask(arrays, n)?;
            if mask.true_count() < n {
                batch = filter_record_batch(&batch, &mask)?;
            }
        }
        Ok(batch)
    }

    /// A conjunct on one dictionary-coded column, evaluated once per distinct value (and once
    /// for NULL) and looked up by each row's code. `None` when that does not apply, or when
    /// the evaluation fails on a value no selected row may hold: the rows then evaluate it.
    fn per_value_mask(
        &self,
        seg: &Segment,
        c: &Conjunct,
        rows: Option<&UInt32Array>,
    ) -> Option<BooleanArray> {
        let [col] = c.columns.as_slice() else {
            return None;
        };
        if !c.per_value {
            return None;
        }
        let dict = seg.dictionary(self.scan.columns[*col])?;
        let (hits, null_hit) = c.per_value_hits(dict.values())?;
        let keys = dict.keys();
        let hit = |p: usize| {
            if keys.is_valid(p) {
                hits.value(keys.value(p) as usize)
            } else {
                null_hit
            }
        };
        Some(match rows {
            None => (0..seg.rows).map(|p| Some(hit(p))).collect(),
            Some(r) => r.values().iter().map(|&p| Some(hit(p as usize))).collect(),
        })
    }

    /// The conjunct's [`ValueTable`], built on first use where one applies.
    fn value_table<'c>(&self, c: &'c Conjunct) -> Option<&'c ValueTable> {
        if let Some(t) = c.table.get() {
            return t.as_ref();
        }
        if !(c.per_value && c.costly && c.columns.len() == 1 && settled(&c.expr)) {
            return None;
        }
        c.table.get_or_init(|| self.build_value_table(c)).as_ref()
    }

    fn build_value_table(&self, c: &Conjunct) -> Option<ValueTable> {
        use datafusion::arrow::array::{Date32Array, Int16Array, Int32Array, Int64Array};
        use datafusion::arrow::datatypes::DataType;
        let stats = zone_statistics(&self.source.segments, self.scan.columns[c.columns[0]]);
        let (Precision::Inexact(lo), Precision::Inexact(hi)) = (stats.min_value, stats.max_value)
        else {
            return None;
        };
        let as_i64 = |v: &ScalarValue| -> Option<i64> {
            match v {
                ScalarValue::Int16(Some(v)) => Some(i64::from(*v)),
                ScalarValue::Int32(Some(v)) | ScalarValue::Date32(Some(v)) => Some(i64::from(*v)),
                ScalarValue::Int64(Some(v)) => Some(*v),
                _ => None,
            }
        };
        let (min, max) = (as_i64(&lo)?, as_i64(&hi)?);
        let width = u64::try_from(i128::from(max) - i128::from(min) + 1).ok()?;
        let rows: usize = self.source.segments.iter().map(|s| s.rows).sum();
        if width > VALUE_TABLE_MAX || width > rows as u64 / 4 {
            return None;
        }
        let range = min..=max;
        // Each value converts, as it lies between two values of the column's type.
        let values: ArrayRef = match c.schema.field(0).data_type() {
            DataType::Int16 => Arc::new(Int16Array::from_iter_values(range.map(|v| v as i16))),
            DataType::Int32 => Arc::new(Int32Array::from_iter_values(range.map(|v| v as i32))),
            DataType::Date32 => Arc::new(Date32Array::from_iter_values(range.map(|v| v as i32))),
            DataType::Int64 => Arc::new(Int64Array::from_iter_values(range)),
            _ => return None,
        };
        let (hits, null_hit) = c.per_value_hits(&values)?;
        Some(ValueTable {
            min,
            hits,
            null_hit,
        })
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

/// The smallest and largest value and the null count of a column over `segments`, all
/// inexact (the zones also count rows later deleted).
fn zone_statistics(segments: &[Arc<Segment>], pos: usize) -> ColumnStatistics {
    let mut stats = ColumnStatistics::new_unknown();
    let (mut min, mut max, mut nulls) = (None::<ScalarValue>, None::<ScalarValue>, 0);
    for seg in segments {
        let Some(zone) = seg.zone(pos) else {
            return stats;
        };
        if min.as_ref().is_none_or(|m| zone.min < *m) {
            min = Some(zone.min.clone());
        }
        if max.as_ref().is_none_or(|m| zone.max > *m) {
            max = Some(zone.max.clone());
        }
        nulls += zone.nulls;
    }
    if let (Some(min), Some(max)) = (min, max) {
        stats.min_value = Precision::Inexact(min);
        stats.max_value = Precision::Inexact(max);
        stats.null_count = Precision::Inexact(nulls);
    }
    stats
}

/// A predicate's result as a filter mask: NULL counts as false.
fn truth(result: ArrayRef) -> DfResult<BooleanArray> {
    let b = result
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| DataFusionError::Internal("filter is not boolean".into()))?;
    Ok(if b.null_count() > 0 {
        compute::prep_null_mask_filter(b)
    } else {
        b.clone()
    })
}

/// Keeps the rows `mask` selects among `rows` (all of a segment's rows when `None`), and
/// the values decoded at them.
fn narrow(
    mask: &BooleanArray,
    rows: &mut Option<UInt32Array>,
    decoded: &mut HashMap<usize, ArrayRef>,
) -> DfResult<()> {
    if mask.true_count() == mask.len() {
        return Ok(());
    }
    *rows = Some(positions(mask, rows.as_ref()));
    for a in decoded.values_mut() {
        *a = compute::filter(a.as_ref(), mask)?;
    }
    Ok(())
}

/// The positions `mask` keeps: of `rows` when given, else of 0, 1, 2, ….
fn positions(mask: &BooleanArray, rows: Option<&UInt32Array>) -> UInt32Array {
    let mut out = Vec::with_capacity(mask.true_count());
    match rows {
        None => out.extend(mask.values().set_indices_u32()),
        Some(r) => {
            let r = r.values();
            out.extend(mask.values().set_indices().map(|i| r[i]));
        }
    }
    UInt32Array::from(out)
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
