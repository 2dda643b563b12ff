//! Window frames with PostgreSQL's `EXCLUDE CURRENT ROW | GROUP | TIES`, which DataFusion's
//! frames lack.
//!
//! The parser side ([`crate::frame`]) removes the clause and leaves a constant partition key
//! that spells the exclusion ([`EXCLUSION_MARK`]); a constant key does not change the
//! partitions. The analyzer rule [`FrameExclusions`] takes the key off again and evaluates
//! the window function with [`ExcludedFrame`]: DataFusion still finds each row's frame
//! (ROWS, RANGE or GROUPS, any offsets), and the function is computed from the frame's rows
//! minus the excluded ones, row by row, as PostgreSQL defines it. The same evaluator computes
//! `nth_value`, `lag` and `lead` with an offset that is not a constant, which DataFusion's
//! own functions refuse.
//!
//! Invariant: [`ExcludedFrame`] is evaluated by DataFusion's `WindowAggExec`, which calls
//! `evaluate` once per row of a partition, in order, on a fresh evaluator per partition (the
//! evaluator does not support bounded execution, so `BoundedWindowAggExec` is never chosen).
//! The evaluator counts those calls to know the current row.

use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::function::{
    AccumulatorArgs, PartitionEvaluatorArgs, WindowUDFFieldArgs,
};
use datafusion::logical_expr::WindowFunctionDefinition;
use datafusion::logical_expr::{
    AggregateUDF, Expr, PartitionEvaluator, Signature, TypeSignature, Volatility, WindowUDF,
    WindowUDFImpl,
};
use datafusion::physical_expr::expressions::{Column, Literal};
use datafusion::physical_plan::PhysicalExpr;

use crate::error::SqlError;

/// Prefix of the constant partition key that carries a frame's exclusion from the parser to
/// the analyzer; the mode's words follow. A NUL never occurs in a string from SQL text.
pub const EXCLUSION_MARK: &str = "\0exclude ";

/// Which rows of its frame a row leaves out (`EXCLUDE NO OTHERS` leaves no carrier).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exclusion {
    CurrentRow,
    Group,
    Ties,
}

impl Exclusion {
    pub fn words(self) -> &'static str {
        match self {
            Exclusion::CurrentRow => "current row",
            Exclusion::Group => "group",
            Exclusion::Ties => "ties",
        }
    }

    fn from_carrier(e: &Expr) -> Option<Exclusion> {
        let Expr::Literal(v, _) = e else {
            return None;
        };
        let words = v.try_as_str().flatten()?.strip_prefix(EXCLUSION_MARK)?;
        [Exclusion::CurrentRow, Exclusion::Group, Exclusion::Ties]
            .into_iter()
            .find(|x| x.words() == words)
    }

    /// The rows of `frame` this row keeps, in order, as at most three runs: the rows before
    /// the excluded ones, the current row itself (TIES), and the rows after.
    fn kept(self, frame: &Range<usize>, row: usize, peers: &Range<usize>) -> Vec<Range<usize>> {
        debug_assert!(peers.contains(&row));
        let (excluded, keeps_row) = match self {
            Exclusion::CurrentRow => (row..row + 1, false),
            Exclusion::Group => (peers.clone(), false),
            Exclusion::Ties => (peers.clone(), true),
        };
        let mut runs = Vec::with_capacity(3);
        runs.push(frame.start..frame.end.min(excluded.start));
        if keeps_row && frame.contains(&row) {
            runs.push(row..row + 1);
        }
        runs.push(frame.start.max(excluded.end)..frame.end);
        runs.retain(|r| !r.is_empty());
        runs
    }
}

/// What the excluded frame computes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Computed {
    Aggregate(Arc<AggregateUDF>),
    /// `first_value`, `last_value`, `nth_value`: a row of the frame.
    Value(Arc<WindowUDF>, ValueAt),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ValueAt {
    First,
    Last,
    Nth,
    /// `lag` / `lead` with an offset that is not a constant: the row that many rows before
    /// (`Lag`) or after the current one, ignoring the frame.
    Lag,
    Lead,
}

/// A window function over frames with an exclusion (see the module comment).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ExcludedFrame {
    computed: Computed,
    exclusion: Option<Exclusion>,
    signature: Signature,
}

impl ExcludedFrame {
    fn inner_name(&self) -> &str {
        match &self.computed {
            Computed::Aggregate(f) => f.name(),
            Computed::Value(f, _) => f.name(),
        }
    }
}

impl WindowUDFImpl for ExcludedFrame {
    fn name(&self) -> &str {
        self.inner_name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> DfResult<Box<dyn PartitionEvaluator>> {
        let fields = args.input_fields().to_vec();
        let schema = Schema::new(
            fields
                .iter()
                .enumerate()
                .map(|(i, f)| Field::new(format!("arg{i}"), f.data_type().clone(), true))
                .collect::<Vec<_>>(),
        );
        // Constant arguments stay literals (`string_agg`'s delimiter must be one).
        let exprs: Vec<Arc<dyn PhysicalExpr>> = args
            .input_exprs()
            .iter()
            .enumerate()
            .map(|(i, e)| -> Arc<dyn PhysicalExpr> {
                if e.downcast_ref::<Literal>().is_some() {
                    Arc::clone(e)
                } else {
                    Arc::new(Column::new(&format!("arg{i}"), i))
                }
            })
            .collect();
        let result = match &self.computed {
            Computed::Aggregate(f) => f.return_field(&fields)?,
            Computed::Value(f, _) => f.field(WindowUDFFieldArgs::new(&fields, f.name()))?,
        };
        Ok(Box::new(ExcludingEvaluator {
            computed: self.computed.clone(),
            exclusion: self.exclusion,
            ignore_nulls: args.ignore_nulls(),
            schema,
            exprs,
            fields,
            result,
            row: 0,
            peers: 0..0,
        }))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> DfResult<FieldRef> {
        let field = match &self.computed {
            Computed::Aggregate(f) => f.return_field(field_args.input_fields())?,
            Computed::Value(f, _) => f.field(WindowUDFFieldArgs::new(
                field_args.input_fields(),
                field_args.name(),
            ))?,
        };
        Ok(Arc::new(
            field
                .as_ref()
                .clone()
                .with_name(field_args.name())
                .with_nullable(true),
        ))
    }
}

struct ExcludingEvaluator {
    computed: Computed,
    exclusion: Option<Exclusion>,
    ignore_nulls: bool,
    schema: Schema,
    exprs: Vec<Arc<dyn PhysicalExpr>>,
    fields: Vec<FieldRef>,
    result: FieldRef,
    /// The row `evaluate` is called for next (see the module's invariant).
    row: usize,
    /// The current row's peers (rows equal in the ORDER BY columns).
    peers: Range<usize>,
}

impl std::fmt::Debug for ExcludingEvaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ExcludingEvaluator({:?}, {:?})",
            self.computed, self.exclusion
        )
    }
}

/// Whether rows `a` and `b` are equal in every ORDER BY column (NULLs are peers).
fn same_order_key(order: &[ArrayRef], a: usize, b: usize) -> DfResult<bool> {
    for column in order {
        if ScalarValue::try_from_array(column, a)? != ScalarValue::try_from_array(column, b)? {
            return Ok(false);
        }
    }
    Ok(true)
}

impl ExcludingEvaluator {
    /// Moves the peer group along to contain `row` (rows come in order).
    fn advance_peers(&mut self, order: &[ArrayRef], rows: usize) -> DfResult<()> {
        if self.peers.contains(&self.row) {
            return Ok(());
        }
        if order.is_empty() {
            self.peers = 0..rows;
            return Ok(());
        }
        let start = self.row;
        let mut end = start + 1;
        while end < rows && same_order_key(order, start, end)? {
            end += 1;
        }
        self.peers = start..end;
        Ok(())
    }

    fn aggregate(
        &self,
        f: &AggregateUDF,
        args: &[ArrayRef],
        runs: &[Range<usize>],
    ) -> DfResult<ScalarValue> {
        let mut acc = f.accumulator(AccumulatorArgs {
            return_field: Arc::clone(&self.result),
            schema: &self.schema,
            ignore_nulls: self.ignore_nulls,
            order_bys: &[],
            is_reversed: false,
            name: f.name(),
            is_distinct: false,
            exprs: &self.exprs,
            expr_fields: &self.fields,
        })?;
        for run in runs {
            let sliced: Vec<ArrayRef> =
                args.iter().map(|a| a.slice(run.start, run.len())).collect();
            acc.update_batch(&sliced)?;
        }
        acc.evaluate()
    }

    fn value(
        &self,
        at: ValueAt,
        args: &[ArrayRef],
        runs: &[Range<usize>],
        row: usize,
    ) -> DfResult<ScalarValue> {
        let Some(values) = args.first() else {
            return Err(
                SqlError::Internal("a window value function without argument".into())
                    .into_datafusion(),
            );
        };
        let mut rows = runs
            .iter()
            .flat_map(|r| r.clone())
            .filter(|&i| !(self.ignore_nulls && values.is_null(i)));
        let picked = match at {
            ValueAt::First => rows.next(),
            ValueAt::Last => rows.next_back(),
            ValueAt::Lag | ValueAt::Lead => None,
            ValueAt::Nth => {
                let n = args
                    .get(1)
                    .map(|a| ScalarValue::try_from_array(a, row))
                    .transpose()?;
                match n {
                    None => None,
                    Some(n) if n.is_null() => return ScalarValue::try_from(values.data_type()),
                    Some(n) => {
                        let n = match n.cast_to(&DataType::Int64)? {
                            ScalarValue::Int64(Some(n)) => n,
                            _ => 0,
                        };
                        if n <= 0 {
                            return Err(SqlError::Detailed {
                                sqlstate: "22016",
                                message: "argument of nth_value must be greater than zero".into(),
                                detail: String::new(),
                                hint: None,
                            }
                            .into_datafusion());
                        }
                        usize::try_from(n - 1).ok().and_then(|k| rows.nth(k))
                    }
                }
            }
        };
        match picked {
            Some(i) => ScalarValue::try_from_array(values, i),
            None => ScalarValue::try_from(values.data_type()),
        }
    }
}

impl ExcludingEvaluator {
    /// `lag(value, offset, default)` / `lead(…)` at `row`: NULL for a NULL offset, the
    /// default (or NULL) past the partition's ends.
    fn shifted(&self, lag: bool, args: &[ArrayRef], row: usize) -> DfResult<ScalarValue> {
        let null = ScalarValue::try_from(self.result.data_type())?;
        let (Some(values), Some(offsets)) = (args.first(), args.get(1)) else {
            return Err(SqlError::Internal("lag/lead without an offset".into()).into_datafusion());
        };
        let offset = match ScalarValue::try_from_array(offsets, row)?.cast_to(&DataType::Int64)? {
            ScalarValue::Int64(Some(k)) => k,
            _ => return Ok(null),
        };
        let offset = if lag {
            offset.checked_neg()
        } else {
            Some(offset)
        };
        let target = offset
            .and_then(|k| i64::try_from(row).ok()?.checked_add(k))
            .and_then(|t| usize::try_from(t).ok())
            .filter(|&t| t < values.len());
        match (target, args.get(2)) {
            (Some(t), _) => ScalarValue::try_from_array(values, t),
            (None, Some(default)) => {
                ScalarValue::try_from_array(default, row)?.cast_to(self.result.data_type())
            }
            (None, None) => Ok(null),
        }
    }
}

impl PartitionEvaluator for ExcludingEvaluator {
    fn uses_window_frame(&self) -> bool {
        true
    }

    fn evaluate(&mut self, values: &[ArrayRef], frame: &Range<usize>) -> DfResult<ScalarValue> {
        // DataFusion passes the arguments, then the ORDER BY columns.
        let n_args = self.fields.len();
        let (args, order) = values.split_at(n_args.min(values.len()));
        let rows = values.first().map_or(0, |v| v.len());
        if self.row >= rows {
            return Err(SqlError::Internal(
                "a window frame exclusion evaluated past its partition".into(),
            )
            .into_datafusion());
        }
        self.advance_peers(order, rows)?;
        let row = self.row;
        self.row += 1;
        let runs = match self.exclusion {
            Some(exclusion) => exclusion.kept(frame, row, &self.peers),
            None => vec![frame.clone()],
        };
        match &self.computed {
            Computed::Aggregate(f) => self.aggregate(f, args, &runs),
            Computed::Value(_, at @ (ValueAt::Lag | ValueAt::Lead)) => {
                self.shifted(*at == ValueAt::Lag, args, row)
            }
            Computed::Value(_, at) => self.value(*at, args, &runs, row),
        }
    }
}

/// The window function `fun` computed row by row with `exclusion`; `None` for functions
/// that do not read their frame (ranking, `lag`, `lead`), which the exclusion does not
/// change.
fn excluded(
    fun: &WindowFunctionDefinition,
    exclusion: Option<Exclusion>,
) -> Option<Arc<WindowUDF>> {
    let computed = match fun {
        WindowFunctionDefinition::AggregateUDF(f) => Computed::Aggregate(Arc::clone(f)),
        WindowFunctionDefinition::WindowUDF(f) => {
            let at = match f.name() {
                "first_value" => ValueAt::First,
                "last_value" => ValueAt::Last,
                "nth_value" => ValueAt::Nth,
                "lag" if exclusion.is_none() => ValueAt::Lag,
                "lead" if exclusion.is_none() => ValueAt::Lead,
                _ => return None,
            };
            Computed::Value(Arc::clone(f), at)
        }
    };
    Some(Arc::new(WindowUDF::new_from_impl(ExcludedFrame {
        computed,
        exclusion,
        signature: Signature::new(TypeSignature::VariadicAny, Volatility::Immutable),
    })))
}

fn exclude_frame(e: Expr) -> DfResult<Transformed<Expr>> {
    let Expr::WindowFunction(mut w) = e else {
        return Ok(Transformed::no(e));
    };
    let mut exclusion = None;
    w.params
        .partition_by
        .retain(|p| match Exclusion::from_carrier(p) {
            Some(x) => {
                exclusion = Some(x);
                false
            }
            None => true,
        });
    if exclusion.is_none() && !needs_row_by_row(&w.fun, &w.params.args) {
        return Ok(Transformed::no(Expr::WindowFunction(w)));
    }
    if let Some(f) = excluded(&w.fun, exclusion) {
        if w.params.distinct {
            return Err(SqlError::FeatureNotSupported(
                "DISTINCT is not implemented for window functions".into(),
            )
            .into_datafusion());
        }
        if w.params.filter.is_some() {
            return Err(SqlError::FeatureNotSupported(
                "FILTER is not supported with a window frame's EXCLUDE clause".into(),
            )
            .into_datafusion());
        }
        w.fun = WindowFunctionDefinition::WindowUDF(f);
    }
    Ok(Transformed::yes(Expr::WindowFunction(w)))
}

/// Whether DataFusion's own `nth_value`, `lag` or `lead` cannot take these arguments: an
/// offset that is not a constant (PostgreSQL evaluates it per row), or an `nth_value`
/// position below one (PostgreSQL's error when the first row is read).
fn needs_row_by_row(fun: &WindowFunctionDefinition, args: &[Expr]) -> bool {
    let WindowFunctionDefinition::WindowUDF(f) = fun else {
        return false;
    };
    if !matches!(f.name(), "nth_value" | "lag" | "lead") {
        return false;
    }
    match args.get(1) {
        Some(Expr::Literal(v, _)) => {
            f.name() == "nth_value"
                && !v.is_null()
                && v.cast_to(&DataType::Int64)
                    .is_ok_and(|n| matches!(n, ScalarValue::Int64(Some(n)) if n <= 0))
        }
        Some(_) => true,
        None => false,
    }
}

/// The analyzer rule that evaluates window functions over frames with an exclusion (see the
/// module comment), and `nth_value`, `lag` and `lead` with arguments DataFusion's own take
/// only as constants. It runs before [`crate::pgagg::SlidingFrames`].
#[derive(Debug)]
pub struct FrameExclusions;

impl datafusion::optimizer::AnalyzerRule for FrameExclusions {
    fn analyze(
        &self,
        plan: datafusion::logical_expr::LogicalPlan,
        _config: &datafusion::common::config::ConfigOptions,
    ) -> DfResult<datafusion::logical_expr::LogicalPlan> {
        crate::analyzer::rewrite_expressions(plan, |e, _schema| exclude_frame(e))
    }

    fn name(&self) -> &str {
        "basalt_frame_exclusions"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusions_keep_postgresql_rows() {
        let frame = 0..6;
        let peers = 2..5;
        assert_eq!(
            Exclusion::CurrentRow.kept(&frame, 3, &peers),
            vec![0..3, 4..6]
        );
        assert_eq!(Exclusion::Group.kept(&frame, 3, &peers), vec![0..2, 5..6]);
        assert_eq!(
            Exclusion::Ties.kept(&frame, 3, &peers),
            vec![0..2, 3..4, 5..6]
        );
        // A frame that does not reach the current row keeps all of its rows but the peers.
        assert_eq!(Exclusion::Ties.kept(&(4..6), 3, &peers), vec![5..6]);
        assert_eq!(Exclusion::CurrentRow.kept(&(4..6), 3, &peers), vec![4..6]);
        assert!(Exclusion::Group.kept(&(2..5), 3, &peers).is_empty());
    }
}
