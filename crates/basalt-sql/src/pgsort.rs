//! Sorts whose rows with equal keys come out in PostgreSQL's order.
//!
//! SQL leaves the order of rows with equal sort keys open, but clients see it: a report
//! sorted by department lists the employees of one department in some order, and a window
//! frame (`first_value`, `ROWS BETWEEN …`) over equal keys sums different rows in another
//! order. PostgreSQL sorts in memory with its own quicksort (`src/include/lib/
//! sort_template.h`: insertion sort below 7 rows, a check for presorted input, median-of-three
//! pivots (of nine above 40 rows) and Bentley–McIlroy three-way partitioning), and a sort
//! under a LIMIT of `k` rows switches to a bounded heap once more than `2k` rows arrived
//! (`tuplesort.c`). Given the same input order and the same comparisons, these algorithms put
//! equal rows in the same places, whatever the machine. [`PgSortExec`] runs them over the
//! rows of one input stream, so a query over a row-engine table (read in insertion order, as
//! PostgreSQL reads a heap) lists equal rows as PostgreSQL does.
//!
//! [`PgTieOrder`] replaces DataFusion's sorts of one stream (or of round-robin partitions of
//! one stream) by [`PgSortExec`]; sorts of inputs partitioned for real (column-engine scans,
//! partitioned joins) stay DataFusion's parallel sort, whose ties depend on thread timing.
//! It is registered for PostgreSQL sessions only: MySQL orders ties another way.

use std::any::Any;
use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::UInt32Array;
use datafusion::arrow::compute::{concat_batches, take_record_batch, SortColumn};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::Result as DfResult;
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::MemoryConsumer;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{LexOrdering, PhysicalExpr};
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
};
use futures::TryStreamExt;

/// Sorts `rows` (indices into the compared columns) as PostgreSQL's `qsort` does.
pub fn qsort(rows: &mut [u32], cmp: &impl Fn(u32, u32) -> Ordering) {
    let mut a = rows;
    loop {
        let n = a.len();
        if n < 7 {
            for m in 1..n {
                let mut l = m;
                while l > 0 && cmp(a[l - 1], a[l]) == Ordering::Greater {
                    a.swap(l, l - 1);
                    l -= 1;
                }
            }
            return;
        }
        if (1..n).all(|i| cmp(a[i - 1], a[i]) != Ordering::Greater) {
            return;
        }
        let mut pm = n / 2;
        if n > 7 {
            let (mut pl, mut pn) = (0, n - 1);
            if n > 40 {
                let d = n / 8;
                pl = med3(a, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(a, pm - d, pm, pm + d, cmp);
                pn = med3(a, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(a, pl, pm, pn, cmp);
        }
        a.swap(0, pm);
        // a[1..pa] and a[pd+1..] hold keys equal to the pivot a[0]; a[pa..pb] smaller ones,
        // a[pc+1..=pd] larger ones.
        let (mut pa, mut pb, mut pc, mut pd) = (1, 1, n - 1, n - 1);
        loop {
            while pb <= pc {
                match cmp(a[pb], a[0]) {
                    Ordering::Greater => break,
                    Ordering::Equal => {
                        a.swap(pa, pb);
                        pa += 1;
                    }
                    Ordering::Less => {}
                }
                pb += 1;
            }
            while pb <= pc {
                match cmp(a[pc], a[0]) {
                    Ordering::Less => break,
                    Ordering::Equal => {
                        a.swap(pc, pd);
                        pd -= 1;
                    }
                    Ordering::Greater => {}
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            a.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let d1 = pa.min(pb - pa);
        swap_n(a, 0, pb - d1, d1);
        let d1 = (pd - pc).min(n - pd - 1);
        swap_n(a, pb, n - d1, d1);
        let (d1, d2) = (pb - pa, pd - pc);
        // Recurse into the smaller side, iterate on the larger.
        let rest = std::mem::take(&mut a);
        if d1 <= d2 {
            if d1 > 1 {
                qsort(&mut rest[..d1], cmp);
            }
            if d2 <= 1 {
                return;
            }
            a = &mut rest[n - d2..];
        } else {
            if d2 > 1 {
                qsort(&mut rest[n - d2..], cmp);
            }
            if d1 <= 1 {
                return;
            }
            a = &mut rest[..d1];
        }
    }
}

fn med3(a: &[u32], i: usize, j: usize, k: usize, cmp: &impl Fn(u32, u32) -> Ordering) -> usize {
    if cmp(a[i], a[j]) == Ordering::Less {
        if cmp(a[j], a[k]) == Ordering::Less {
            j
        } else if cmp(a[i], a[k]) == Ordering::Less {
            k
        } else {
            i
        }
    } else if cmp(a[j], a[k]) == Ordering::Greater {
        j
    } else if cmp(a[i], a[k]) == Ordering::Less {
        i
    } else {
        k
    }
}

fn swap_n(a: &mut [u32], i: usize, j: usize, n: usize) {
    for t in 0..n {
        a.swap(i + t, j + t);
    }
}

/// The first `bound` of `rows` (in input order) in sorted order, as PostgreSQL's sort under
/// a LIMIT finds them: a quicksort of everything while at most `2 * bound` rows came, else a
/// heap of the `bound` smallest rows so far, emptied into sorted order at the end.
pub fn bounded(mut rows: Vec<u32>, bound: usize, cmp: &impl Fn(u32, u32) -> Ordering) -> Vec<u32> {
    if rows.len() <= bound.saturating_mul(2) {
        qsort(&mut rows, cmp);
        rows.truncate(bound);
        return rows;
    }
    if bound == 0 {
        return Vec::new();
    }
    // PostgreSQL's heap runs on the reversed comparison: its top is the largest row kept.
    let rcmp = |x: u32, y: u32| cmp(y, x);
    let mut heap: Vec<u32> = Vec::with_capacity(bound);
    for row in rows {
        if heap.len() < bound {
            let mut j = heap.len();
            heap.push(row);
            while j > 0 {
                let i = (j - 1) / 2;
                if rcmp(row, heap[i]) != Ordering::Less {
                    break;
                }
                heap[j] = heap[i];
                j = i;
            }
            heap[j] = row;
        } else if rcmp(row, heap[0]) == Ordering::Greater {
            replace_top(&mut heap, row, &rcmp);
        }
    }
    let mut count = heap.len();
    while count > 1 {
        let top = heap[0];
        count -= 1;
        let last = heap[count];
        replace_top(&mut heap[..count], last, &rcmp);
        heap[count] = top;
    }
    heap
}

fn replace_top(heap: &mut [u32], row: u32, rcmp: &impl Fn(u32, u32) -> Ordering) {
    let n = heap.len();
    let mut i = 0;
    loop {
        let mut j = 2 * i + 1;
        if j >= n {
            break;
        }
        if j + 1 < n && rcmp(heap[j], heap[j + 1]) == Ordering::Greater {
            j += 1;
        }
        if rcmp(row, heap[j]) != Ordering::Greater {
            break;
        }
        heap[i] = heap[j];
        i = j;
    }
    heap[i] = row;
}

/// An in-memory sort of one input stream with PostgreSQL's algorithms (see the module
/// comment); `fetch` keeps the first rows only, as a LIMIT above the sort asks.
#[derive(Debug)]
pub struct PgSortExec {
    expr: LexOrdering,
    input: Arc<dyn ExecutionPlan>,
    fetch: Option<usize>,
    props: Arc<PlanProperties>,
}

impl PgSortExec {
    /// `None` unless `input` has a single partition.
    pub fn try_new(
        expr: LexOrdering,
        input: Arc<dyn ExecutionPlan>,
        fetch: Option<usize>,
    ) -> Option<PgSortExec> {
        if input.output_partitioning().partition_count() != 1 {
            return None;
        }
        // The properties of DataFusion's sort of the same single stream.
        let like = SortExec::new(expr.clone(), Arc::clone(&input)).with_fetch(fetch);
        let props = Arc::clone(like.properties());
        Some(PgSortExec {
            expr,
            input,
            fetch,
            props,
        })
    }
}

impl DisplayAs for PgSortExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PgSortExec: expr=[{}]", self.expr)?;
        if let Some(fetch) = self.fetch {
            write!(f, ", fetch={fetch}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for PgSortExec {
    fn name(&self) -> &str {
        "PgSortExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        for e in self.expr.iter() {
            if f(&e.expr)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }

    fn fetch(&self) -> Option<usize> {
        self.fetch
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let [input] = <[_; 1]>::try_from(children)
            .map_err(|_| DataFusionError::Internal("PgSortExec has one child".into()))?;
        match PgSortExec::try_new(self.expr.clone(), Arc::clone(&input), self.fetch) {
            Some(sort) => Ok(Arc::new(sort)),
            // A new input split into partitions: DataFusion's sort reads them all.
            None => Ok(Arc::new(
                SortExec::new(self.expr.clone(), input)
                    .with_fetch(self.fetch)
                    .with_preserve_partitioning(false),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        ctx: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "PgSortExec has no partition {partition}"
            )));
        }
        let input = self.input.execute(0, Arc::clone(&ctx))?;
        let schema = self.schema();
        let expr = self.expr.clone();
        let fetch = self.fetch;
        let batch_size = ctx.session_config().batch_size().max(1);
        let reservation = MemoryConsumer::new("PgSortExec").register(ctx.memory_pool());
        let sorted = futures::stream::once(async move {
            let batches: Vec<RecordBatch> = input
                .and_then(|b| {
                    let grown = reservation.try_grow(b.get_array_memory_size());
                    futures::future::ready(grown.map(|_| b))
                })
                .try_collect()
                .await?;
            let sorted = sort_batches(&schema, &batches, &expr, fetch)?;
            drop(reservation);
            let chunks: Vec<DfResult<RecordBatch>> = (0..sorted.num_rows())
                .step_by(batch_size)
                .map(|at| Ok(sorted.slice(at, batch_size.min(sorted.num_rows() - at))))
                .collect();
            Ok::<_, DataFusionError>(futures::stream::iter(chunks))
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            sorted,
        )))
    }
}

fn sort_batches(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    expr: &LexOrdering,
    fetch: Option<usize>,
) -> DfResult<RecordBatch> {
    let all = concat_batches(schema, batches)?;
    let n = all.num_rows();
    let n32 = u32::try_from(n).map_err(|_| {
        DataFusionError::ResourcesExhausted(format!("a sort of {n} rows in one stream"))
    })?;
    let columns = expr
        .iter()
        .map(|e| {
            Ok(SortColumn {
                values: e.expr.evaluate(&all)?.into_array(n)?,
                options: Some(e.options),
            })
        })
        .collect::<DfResult<Vec<_>>>()?;
    let comparator = datafusion::arrow::compute::LexicographicalComparator::try_new(&columns)?;
    let cmp = |x: u32, y: u32| comparator.compare(x as usize, y as usize);
    let rows: Vec<u32> = (0..n32).collect();
    let order = match fetch {
        Some(bound) => bounded(rows, bound, &cmp),
        None => {
            let mut rows = rows;
            qsort(&mut rows, &cmp);
            rows
        }
    };
    Ok(take_record_batch(&all, &UInt32Array::from(order))?)
}

/// The physical optimizer rule (see the module comment); it runs after
/// [`crate::winorder::SortedWindows`].
#[derive(Debug, Default)]
pub struct PgTieOrder;

impl datafusion::physical_optimizer::PhysicalOptimizerRule for PgTieOrder {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &datafusion::common::config::ConfigOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        pg_sorts(plan)
    }

    fn name(&self) -> &str {
        "basalt_pg_tie_order"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

fn pg_sorts(plan: Arc<dyn ExecutionPlan>) -> DfResult<Arc<dyn ExecutionPlan>> {
    let children: Vec<Arc<dyn ExecutionPlan>> = plan
        .children()
        .into_iter()
        .map(|c| pg_sorts(Arc::clone(c)))
        .collect::<DfResult<_>>()?;
    let plan =
        datafusion::physical_plan::execution_plan::replace_children_if_necessary(plan, children)?;
    let any: &dyn Any = plan.as_ref();
    if let Some(sort) = any.downcast_ref::<SortExec>() {
        let input = Arc::clone(sort.input());
        if let Some(p) = PgSortExec::try_new(sort.expr().clone(), input, sort.fetch()) {
            return Ok(Arc::new(p));
        }
    } else if let Some(merge) = any.downcast_ref::<SortPreservingMergeExec>() {
        // A merge of sorted round-robin partitions of one stream: one sort of the stream.
        let Some(sort) = (merge.input().as_ref() as &dyn Any).downcast_ref::<SortExec>() else {
            return Ok(plan);
        };
        let Some(single) = crate::winorder::without_round_robin(sort.input())? else {
            return Ok(plan);
        };
        let fetch = match (merge.fetch(), sort.fetch()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(p) = PgSortExec::try_new(merge.expr().clone(), single, fetch) {
            return Ok(Arc::new(p));
        }
    }
    Ok(plan)
}

/// The physical optimizer rule that keeps one stream's rows in the order read where only
/// projections and filters stand between it and a merge of partitions (or the result):
/// DataFusion splits such a stream round-robin over the cores, and the merge (or the
/// result, collected partition by partition) then lists its batches out of order. A scan of
/// a row-engine table then lists its rows in insertion order, and a recursive query its
/// rows iteration by iteration, as PostgreSQL does; the projections and filters run on one
/// core.
#[derive(Debug, Default)]
pub struct InOrderStreams;

impl datafusion::physical_optimizer::PhysicalOptimizerRule for InOrderStreams {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &datafusion::common::config::ConfigOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        in_order(plan, true)
    }

    fn name(&self) -> &str {
        "basalt_in_order_streams"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `plan` without round-robin splits of one stream below it, if `merged` (its partitions are
/// merged or collected in order above it, through projections and filters only).
fn in_order(plan: Arc<dyn ExecutionPlan>, merged: bool) -> DfResult<Arc<dyn ExecutionPlan>> {
    use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
    use datafusion::physical_plan::filter::FilterExec;
    use datafusion::physical_plan::projection::ProjectionExec;
    use datafusion::physical_plan::repartition::RepartitionExec;
    use datafusion::physical_plan::Partitioning;

    let any: &dyn Any = plan.as_ref();
    if merged {
        if let Some(r) = any.downcast_ref::<RepartitionExec>() {
            let single = r.input().output_partitioning().partition_count() == 1;
            if single && matches!(r.partitioning(), Partitioning::RoundRobinBatch(_)) {
                return in_order(Arc::clone(r.input()), true);
            }
        }
    }
    let keeps = any.is::<CoalescePartitionsExec>()
        || (merged && (any.is::<ProjectionExec>() || any.is::<FilterExec>()));
    let children: Vec<Arc<dyn ExecutionPlan>> = plan
        .children()
        .into_iter()
        .map(|c| in_order(Arc::clone(c), keeps))
        .collect::<DfResult<_>>()?;
    datafusion::physical_plan::execution_plan::replace_children_if_necessary(plan, children)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_key(keys: &[i32]) -> impl Fn(u32, u32) -> Ordering + '_ {
        move |x, y| keys[x as usize].cmp(&keys[y as usize])
    }

    #[test]
    fn ties_come_out_as_postgresql_orders_them() {
        // `SELECT unique1, four FROM tenk1 WHERE unique1 < 10` in heap order, sorted by
        // `four` on PostgreSQL 15: 0 8 4 | 5 9 1 | 6 2 | 3 7.
        let unique1 = [4, 2, 1, 6, 9, 8, 5, 3, 7, 0];
        let four: Vec<i32> = unique1.iter().map(|u| u % 4).collect();
        let mut rows: Vec<u32> = (0..10).collect();
        qsort(&mut rows, &by_key(&four));
        let got: Vec<i32> = rows.iter().map(|&r| unique1[r as usize]).collect();
        assert_eq!(got, [0, 8, 4, 5, 9, 1, 6, 2, 3, 7]);
    }

    #[test]
    fn sorts_large_inputs() {
        let keys: Vec<i32> = (0..5000).map(|i| (i * 7919) % 1013).collect();
        let mut rows: Vec<u32> = (0..5000).collect();
        qsort(&mut rows, &by_key(&keys));
        assert!(rows
            .windows(2)
            .all(|w| keys[w[0] as usize] <= keys[w[1] as usize]));
        let mut seen = rows.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..5000).collect::<Vec<u32>>());
    }

    #[test]
    fn bounded_keeps_the_smallest_in_order() {
        let keys: Vec<i32> = (0..100).map(|i| (i * 37) % 10).collect();
        let top = bounded((0..100).collect(), 5, &by_key(&keys));
        assert_eq!(top.len(), 5);
        assert!(top.iter().all(|&r| keys[r as usize] == 0));
        let few = bounded((0..8).collect(), 5, &by_key(&keys));
        assert_eq!(few.len(), 5);
        assert!(bounded((0..100).collect(), 0, &by_key(&keys)).is_empty());
    }
}
