//! A table read through several stored tables: a partitioned table is the concatenation of
//! its leaf partitions (in bound order, as PostgreSQL appends them), each mapped column by
//! column, by name, onto the partitioned table's columns. The same provider serves the
//! `tableoid` system column: the object id of the table each row is stored in.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use basalt_storage::{Engine, TableDef};
use datafusion::arrow::array::{ArrayRef, Int64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::Result as DfResult;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties,
};
use futures::StreamExt;

use crate::provider::{table_schema, BasaltTable, TxnSlot, SCAN_BATCH_ROWS};

fn concat_batches(schema: &SchemaRef, batches: &[RecordBatch]) -> DfResult<RecordBatch> {
    Ok(datafusion::arrow::compute::concat_batches(schema, batches)?)
}

/// Name of the system column holding the object id of a row's table.
pub const TABLEOID: &str = "tableoid";

/// Where an output column of one member comes from.
#[derive(Debug, Clone)]
enum Source {
    /// The member's scan output column at this index.
    Column(usize),
    /// The member table's object id.
    TableOid(i64),
    /// A column the member does not have (cannot happen for partitions; NULL).
    Missing,
}

struct Member {
    table: BasaltTable,
    oid: i64,
    /// For each field of the parent schema (without `tableoid`), the member's field index.
    fields: Vec<Option<usize>>,
}

/// A partitioned table (or any table when `tableoid` is asked for), as DataFusion sees it.
pub struct AppendTable {
    name: String,
    schema: SchemaRef,
    /// Index of `tableoid` in `schema`, when exposed.
    tableoid: Option<usize>,
    members: Vec<Member>,
}

impl fmt::Debug for AppendTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppendTable({})", self.name)
    }
}

impl AppendTable {
    pub fn new(
        engine: &Arc<Engine>,
        slot: &Arc<TxnSlot>,
        def: &TableDef,
        members: Vec<TableDef>,
        with_tableoid: bool,
    ) -> AppendTable {
        let mysql = slot
            .mysql_metadata
            .load(std::sync::atomic::Ordering::Relaxed);
        let (parent_schema, _) = table_schema(def, false, mysql);
        let mut fields: Vec<Field> = parent_schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let parent_width = fields.len();
        let tableoid = with_tableoid.then(|| {
            fields.push(Field::new(TABLEOID, DataType::Int64, false));
            parent_width
        });
        let members = members
            .into_iter()
            .filter_map(|m| {
                let store = engine.table(m.id)?;
                let oid = i64::from(m.oid);
                let table = BasaltTable::new(Arc::clone(engine), m, store, Arc::clone(slot), false);
                let member_schema = table.schema();
                let fields = parent_schema
                    .fields()
                    .iter()
                    .map(|f| member_schema.index_of(f.name()).ok())
                    .collect();
                Some(Member { table, oid, fields })
            })
            .collect();
        AppendTable {
            name: def.qualified_name(),
            schema: Arc::new(Schema::new(fields)),
            tableoid,
            members,
        }
    }
}

#[async_trait]
impl TableProvider for AppendTable {
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
            .unwrap_or_else(|| (0..self.schema.fields().len()).collect());
        let schema = Arc::new(self.schema.project(&projection)?);
        // Filters naming `tableoid` mean nothing to a member's access path.
        let filters: Vec<Expr> = filters
            .iter()
            .filter(|f| {
                !f.column_refs()
                    .iter()
                    .any(|c| Some(c.name.as_str()) == self.tableoid.map(|_| TABLEOID))
            })
            .cloned()
            .collect();
        let mut children = Vec::with_capacity(self.members.len());
        for m in &self.members {
            let mut wanted: Vec<usize> = Vec::new();
            let mut sources = Vec::with_capacity(projection.len());
            for &p in &projection {
                if Some(p) == self.tableoid {
                    sources.push(Source::TableOid(m.oid));
                    continue;
                }
                match m.fields.get(p).copied().flatten() {
                    Some(f) => {
                        let at = match wanted.iter().position(|&w| w == f) {
                            Some(at) => at,
                            None => {
                                wanted.push(f);
                                wanted.len() - 1
                            }
                        };
                        sources.push(Source::Column(at));
                    }
                    None => sources.push(Source::Missing),
                }
            }
            let plan = m.table.scan(state, Some(&wanted), &filters, limit).await?;
            children.push((plan, sources));
        }
        Ok(Arc::new(AppendExec::new(schema, children)))
    }
}

/// Runs its children one after another, in order, as one stream, mapping each child's
/// columns onto the output schema.
pub struct AppendExec {
    schema: SchemaRef,
    children: Vec<Arc<dyn ExecutionPlan>>,
    sources: Vec<Vec<Source>>,
    props: Arc<PlanProperties>,
}

impl fmt::Debug for AppendExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppendExec({} children)", self.children.len())
    }
}

impl AppendExec {
    fn new(schema: SchemaRef, children: Vec<(Arc<dyn ExecutionPlan>, Vec<Source>)>) -> Self {
        let props = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        let (children, sources) = children.into_iter().unzip();
        AppendExec {
            schema,
            children,
            sources,
            props: Arc::new(props),
        }
    }
}

impl DisplayAs for AppendExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Append")
    }
}

fn map_batch(schema: &SchemaRef, sources: &[Source], batch: RecordBatch) -> DfResult<RecordBatch> {
    let rows = batch.num_rows();
    let columns: Vec<ArrayRef> = sources
        .iter()
        .zip(schema.fields())
        .map(|(source, field)| match source {
            Source::Column(i) => Arc::clone(batch.column(*i)),
            Source::TableOid(oid) => Arc::new(Int64Array::from(vec![*oid; rows])) as ArrayRef,
            Source::Missing => datafusion::arrow::array::new_null_array(field.data_type(), rows),
        })
        .collect();
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(schema),
        columns,
        &options,
    )?)
}

impl ExecutionPlan for AppendExec {
    fn name(&self) -> &str {
        "Append"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        self.children.iter().collect()
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false; self.children.len()]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if children.len() != self.children.len() {
            return Err(DataFusionError::Internal(
                "Append given another number of children".into(),
            ));
        }
        Ok(Arc::new(AppendExec {
            schema: Arc::clone(&self.schema),
            children,
            sources: self.sources.clone(),
            props: Arc::clone(&self.props),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        ctx: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "no partition {partition}"
            )));
        }
        // Every partition of every child, in order.
        let mut parts = Vec::new();
        for (child, sources) in self.children.iter().zip(&self.sources) {
            for p in 0..child.output_partitioning().partition_count() {
                parts.push((Arc::clone(child), sources.clone(), p));
            }
        }
        let schema = Arc::clone(&self.schema);
        let stream = futures::stream::iter(parts)
            .map(move |(child, sources, p)| {
                let schema = Arc::clone(&schema);
                match child.execute(p, Arc::clone(&ctx)) {
                    Ok(s) => s
                        .map(move |b| b.and_then(|b| map_batch(&schema, &sources, b)))
                        .boxed(),
                    Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
                }
            })
            .flatten()
            .boxed();
        // Small batches of consecutive partitions are joined into batches of a scan's size,
        // so that a small table's rows stay in one batch (and in order) as a plain table's
        // do when DataFusion spreads batches over its threads.
        let schema = Arc::clone(&self.schema);
        let joined = futures::stream::unfold(
            (stream, Vec::<RecordBatch>::new(), 0usize, false),
            move |(mut stream, mut held, mut rows, done)| {
                let schema = Arc::clone(&schema);
                async move {
                    if done {
                        return None;
                    }
                    loop {
                        match stream.next().await {
                            Some(Ok(batch)) => {
                                rows += batch.num_rows();
                                held.push(batch);
                                if rows >= SCAN_BATCH_ROWS {
                                    let out = concat_batches(&schema, &held);
                                    return Some((out, (stream, Vec::new(), 0, false)));
                                }
                            }
                            Some(Err(e)) => return Some((Err(e), (stream, held, rows, true))),
                            None if held.is_empty() => return None,
                            None => {
                                let out = concat_batches(&schema, &held);
                                return Some((out, (stream, Vec::new(), 0, true)));
                            }
                        }
                    }
                }
            },
        );
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            joined,
        )))
    }
}
