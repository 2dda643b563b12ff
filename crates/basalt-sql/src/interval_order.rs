//! Intervals compared and sorted as PostgreSQL does, and window RANGE frames over an
//! `interval` or `time` ORDER BY key.
//!
//! DataFusion compares `interval` values field by field (months, then days, then
//! nanoseconds), so `interval '25 hours' > interval '1 day'` is false and
//! `interval '1 month' = interval '30 days'` too. PostgreSQL compares spans, a month counting
//! 30 days and a day 24 hours (`interval_cmp_value`): both are true. DataFusion also refuses
//! a window `RANGE … PRECEDING/FOLLOWING` ordered by an interval or a time, with an internal
//! error.
//!
//! - [`IntervalComparisons`] (after type coercion) compares intervals (`=`, `<>`, `<`, `<=`,
//!   `>`, `>=`, `IS [NOT] DISTINCT FROM`, `BETWEEN`) and sorts them (ORDER BY) by their
//!   span: [`span_udf`], the nanoseconds as a `numeric(38,0)`, which holds any interval.
//! - [`RangeKeys`] (before type coercion, which raises that error) orders windows by the
//!   span of an interval key, and a RANGE frame with offsets over one time key by the
//!   time's microseconds, with the offsets turned into the same units. A time's offset
//!   counts the interval's hours, minutes and seconds only, as PostgreSQL's `in_range` for
//!   time does; a negative offset is PostgreSQL's 22013.
//!
//! Not done: grouping, DISTINCT, joins and `min`/`max` still tell `'1 day'` from
//! `'24 hours'`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Decimal128Array};
use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNano, IntervalUnit, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result as DfResult, ScalarValue};
use datafusion::logical_expr::expr::{Between, Sort, WindowFunction};
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility, WindowFrameBound, WindowFrameUnits,
};
use datafusion::optimizer::AnalyzerRule;

use crate::error::SqlError;

const NANOS_PER_DAY: i128 = 86_400_000_000_000;

/// An interval's span in nanoseconds, a month counting 30 days (PostgreSQL's
/// `interval_cmp_value`).
pub fn span(v: IntervalMonthDayNano) -> i128 {
    (i128::from(v.months) * 30 + i128::from(v.days)) * NANOS_PER_DAY + i128::from(v.nanoseconds)
}

/// The type of a span: the largest (2^31 months) is about 5.6 × 10^24 nanoseconds.
const SPAN_TYPE: DataType = DataType::Decimal128(38, 0);

fn is_interval(t: &DataType) -> bool {
    matches!(t, DataType::Interval(IntervalUnit::MonthDayNano))
}

/// `interval_span(interval)`: the span of an interval (see [`span`]).
#[derive(Debug, PartialEq, Eq, Hash)]
struct IntervalSpan {
    signature: Signature,
}

impl ScalarUDFImpl for IntervalSpan {
    fn name(&self) -> &str {
        "interval_span"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(SPAN_TYPE)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = crate::functions::all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let Some(a) = arrays.first() else {
            return Err(
                SqlError::Internal("interval_span takes one argument".into()).into_datafusion(),
            );
        };
        let a = a
            .as_primitive_opt::<datafusion::arrow::datatypes::IntervalMonthDayNanoType>()
            .ok_or_else(|| {
                SqlError::Internal(format!("interval_span of {}", a.data_type())).into_datafusion()
            })?;
        let out: Decimal128Array = a.iter().map(|v| v.map(span)).collect();
        crate::functions::columnar_result(Arc::new(out.with_data_type(SPAN_TYPE)), scalar)
    }
}

/// The function behind [`span_of`] (registered so plans that name it can be read back).
pub fn span_udf() -> ScalarUDF {
    ScalarUDF::from(IntervalSpan {
        signature: Signature::exact(
            vec![DataType::Interval(IntervalUnit::MonthDayNano)],
            Volatility::Immutable,
        ),
    })
}

fn span_of(e: Expr) -> Expr {
    span_udf().call(vec![e])
}

/// Comparisons and ORDER BY of intervals by span (see the module comment).
#[derive(Debug, Default)]
pub struct IntervalComparisons;

impl AnalyzerRule for IntervalComparisons {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        let plan = crate::analyzer::rewrite_expressions(plan, compare_spans)?;
        plan.transform_up_with_subqueries(|node| match node {
            LogicalPlan::Sort(mut sort) => {
                let schema = Arc::clone(sort.input.schema());
                let mut changed = false;
                for s in &mut sort.expr {
                    if is_interval(&s.expr.get_type(&schema)?) {
                        s.expr = span_of(s.expr.clone());
                        changed = true;
                    }
                }
                Ok(Transformed::new_transformed(
                    LogicalPlan::Sort(sort),
                    changed,
                ))
            }
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "basalt_interval_comparisons"
    }
}

fn compare_spans(e: Expr, schema: &DFSchema) -> DfResult<Transformed<Expr>> {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right })
            if is_comparison(op)
                && is_interval(&left.get_type(schema)?)
                && is_interval(&right.get_type(schema)?) =>
        {
            Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr {
                left: Box::new(span_of(*left)),
                op,
                right: Box::new(span_of(*right)),
            })))
        }
        Expr::Between(Between {
            expr,
            negated,
            low,
            high,
        }) if is_interval(&expr.get_type(schema)?)
            && is_interval(&low.get_type(schema)?)
            && is_interval(&high.get_type(schema)?) =>
        {
            Ok(Transformed::yes(Expr::Between(Between {
                expr: Box::new(span_of(*expr)),
                negated,
                low: Box::new(span_of(*low)),
                high: Box::new(span_of(*high)),
            })))
        }
        other => Ok(Transformed::no(other)),
    }
}

fn is_comparison(op: Operator) -> bool {
    matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::IsDistinctFrom
            | Operator::IsNotDistinctFrom
    )
}

/// Window ORDER BY keys of interval and time (see the module comment). It runs before
/// DataFusion's type coercion.
#[derive(Debug, Default)]
pub struct RangeKeys;

impl AnalyzerRule for RangeKeys {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        crate::analyzer::rewrite_expressions(plan, |e, schema| match e {
            Expr::WindowFunction(w) => window_keys(*w, schema),
            other => Ok(Transformed::no(other)),
        })
    }

    fn name(&self) -> &str {
        "basalt_range_keys"
    }
}

/// What a window's ORDER BY key becomes, and how its RANGE offsets convert.
#[derive(Clone, Copy)]
enum Key {
    Span,
    /// A time's microseconds (or nanoseconds, for a nanosecond time).
    Time(TimeUnit),
}

fn window_keys(mut w: WindowFunction, schema: &DFSchema) -> DfResult<Transformed<Expr>> {
    let params = &mut w.params;
    let frame = &params.window_frame;
    let offsets = frame.units == WindowFrameUnits::Range
        && [&frame.start_bound, &frame.end_bound]
            .iter()
            .any(|b| offset_of(b).is_some_and(|v| !v.is_null()));
    let single = params.order_by.len() == 1;
    if let (true, [s]) = (offsets, params.order_by.as_slice()) {
        let frame = &params.window_frame;
        check_offsets(&s.expr.get_type(schema)?, &frame.start_bound)?;
        check_offsets(&s.expr.get_type(schema)?, &frame.end_bound)?;
    }
    let mut range_key = None;
    let mut changed = false;
    for s in &mut params.order_by {
        let key = match s.expr.get_type(schema)? {
            t if is_interval(&t) => Key::Span,
            DataType::Time64(unit) if offsets && single => Key::Time(unit),
            DataType::Time32(_) if offsets && single => Key::Time(TimeUnit::Microsecond),
            _ => continue,
        };
        *s = Sort {
            expr: key_of(s.expr.clone(), key),
            ..s.clone()
        };
        range_key = Some(key);
        changed = true;
    }
    if let (Some(key), true, true) = (range_key, offsets, single) {
        let frame = &mut params.window_frame;
        frame.start_bound = converted_bound(frame.start_bound.clone(), key)?;
        frame.end_bound = converted_bound(frame.end_bound.clone(), key)?;
    }
    Ok(Transformed::new_transformed(
        Expr::WindowFunction(Box::new(w)),
        changed,
    ))
}

/// PostgreSQL's errors for a RANGE offset its ORDER BY key has no `in_range` support for:
/// numbers take numbers, dates, times, timestamps and intervals take intervals, other
/// types none. DataFusion's planner hands every RANGE offset over as text: a number as its
/// digits, an interval as DataFusion prints one, a string literal as written (read as the
/// type the key needs, as PostgreSQL reads an `unknown` literal).
fn check_offsets(key: &DataType, bound: &WindowFrameBound) -> DfResult<()> {
    let Some(text) = offset_of(bound).and_then(|v| v.try_as_str().flatten()) else {
        return Ok(());
    };
    let text = text.trim();
    let number = if text.parse::<i32>().is_ok() {
        Some("integer")
    } else if text.parse::<i64>().is_ok() {
        Some("bigint")
    } else if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        Some("numeric")
    } else {
        None
    };
    let interval = is_interval_text(text);
    let offset_type = match key {
        k if k.is_integer() => match (interval, number) {
            (true, _) => Some("interval"),
            (_, Some("numeric")) => Some("numeric"),
            _ => None,
        },
        DataType::Float32
        | DataType::Float64
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => interval.then_some("interval"),
        DataType::Date32
        | DataType::Date64
        | DataType::Timestamp(..)
        | DataType::Time32(_)
        | DataType::Time64(_) => number,
        k if is_interval(k) => number,
        _ => {
            return Err(unsupported_range(
                format!(
                    "RANGE with offset PRECEDING/FOLLOWING is not supported for column type {}",
                    crate::functions::pg_type_of(key)
                ),
                None,
            ))
        }
    };
    match offset_type {
        None => Ok(()),
        Some(offset_type) => Err(unsupported_range(
            format!(
                "RANGE with offset PRECEDING/FOLLOWING is not supported for column type {} and \
                 offset type {offset_type}",
                crate::functions::pg_type_of(key)
            ),
            Some("Cast the offset value to an appropriate type.".into()),
        )),
    }
}

/// Whether `text` is an interval as DataFusion prints one (`12 months 0 days 0 nanoseconds`),
/// the form an offset written as an interval reaches the plan in.
fn is_interval_text(text: &str) -> bool {
    let words: Vec<&str> = text.split(' ').collect();
    let number = |w: &str| w.strip_prefix('-').unwrap_or(w).parse::<u64>().is_ok();
    matches!(words.as_slice(), [m, "months", d, "days", n, "nanoseconds"]
        if number(m) && number(d) && number(n))
}

fn unsupported_range(message: String, hint: Option<String>) -> datafusion::error::DataFusionError {
    SqlError::Detailed {
        sqlstate: "0A000",
        message,
        detail: String::new(),
        hint,
    }
    .into_datafusion()
}

fn key_of(e: Expr, key: Key) -> Expr {
    use datafusion::logical_expr::Cast;
    match key {
        Key::Span => span_of(e),
        // A time's microseconds (nanoseconds for a nanosecond time), as a plain integer.
        Key::Time(unit) => {
            let unit = match unit {
                TimeUnit::Nanosecond => TimeUnit::Nanosecond,
                _ => TimeUnit::Microsecond,
            };
            let time = Expr::Cast(Cast::new(Box::new(e), DataType::Time64(unit)));
            Expr::Cast(Cast::new(Box::new(time), DataType::Int64))
        }
    }
}

fn offset_of(b: &WindowFrameBound) -> Option<&ScalarValue> {
    match b {
        WindowFrameBound::Preceding(v) | WindowFrameBound::Following(v) => Some(v),
        WindowFrameBound::CurrentRow => None,
    }
}

fn converted_bound(b: WindowFrameBound, key: Key) -> DfResult<WindowFrameBound> {
    Ok(match b {
        WindowFrameBound::Preceding(v) => WindowFrameBound::Preceding(converted_offset(v, key)?),
        WindowFrameBound::Following(v) => WindowFrameBound::Following(converted_offset(v, key)?),
        WindowFrameBound::CurrentRow => WindowFrameBound::CurrentRow,
    })
}

/// A RANGE offset (an interval, or its text) in the units of the window's key.
fn converted_offset(v: ScalarValue, key: Key) -> DfResult<ScalarValue> {
    let null = || match key {
        Key::Span => ScalarValue::Decimal128(None, 38, 0),
        Key::Time(_) => ScalarValue::Int64(None),
    };
    if v.is_null() {
        return Ok(null());
    }
    let interval = v
        .cast_to(&DataType::Interval(IntervalUnit::MonthDayNano))
        .map_err(|_| {
            SqlError::InvalidDatetime(format!(
                "invalid input syntax for type interval: \"{}\"",
                v.try_as_str().flatten().unwrap_or_default()
            ))
            .into_datafusion()
        })?;
    let ScalarValue::IntervalMonthDayNano(Some(i)) = interval else {
        return Ok(null());
    };
    let value = match key {
        Key::Span => span(i),
        Key::Time(TimeUnit::Nanosecond) => i128::from(i.nanoseconds),
        Key::Time(_) => i128::from(i.nanoseconds / 1000),
    };
    if value < 0 {
        return Err(SqlError::Detailed {
            sqlstate: "22013",
            message: "invalid preceding or following size in window function".into(),
            detail: String::new(),
            hint: None,
        }
        .into_datafusion());
    }
    Ok(match key {
        Key::Span => ScalarValue::Decimal128(Some(value), 38, 0),
        Key::Time(_) => ScalarValue::Int64(i64::try_from(value).ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_count_a_month_as_30_days_and_a_day_as_24_hours() {
        let iv = |months, days, hours: i64| {
            span(IntervalMonthDayNano::new(
                months,
                days,
                hours * 3_600_000_000_000,
            ))
        };
        assert!(iv(0, 0, 25) > iv(0, 1, 0));
        assert_eq!(iv(1, 0, 0), iv(0, 30, 0));
        assert_eq!(iv(0, 1, 0), iv(0, 0, 24));
        assert!(iv(0, 1, -25) < 0);
        assert_eq!(
            span(IntervalMonthDayNano::new(i32::MAX, i32::MAX, i64::MAX))
                .to_string()
                .len(),
            25
        );
    }
}
