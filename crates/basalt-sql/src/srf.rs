//! Set-returning functions in a SELECT list, as PostgreSQL 10+ runs them (its ProjectSet):
//! `SELECT generate_series(1, 3)` returns three rows, several set-returning functions in one
//! list advance in lockstep (the shorter ones give NULL once they run out), and a function
//! that returns no rows removes its input row.
//!
//! DataFusion's `unnest` in a projection has exactly these semantics, so each
//! set-returning call becomes `unnest` over a function that returns the call's rows as one
//! list. `pg_generate_series` is that function for `generate_series`: PostgreSQL's result
//! type (integer for integers, bigint, numeric, timestamps), its step-size error, and a
//! bound on the number of rows one call may produce.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Builder, Int32Builder, Int64Builder, ListBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Decimal128Type, Field, Int64Type, IntervalUnit, TimeUnit,
};
use datafusion::common::{plan_err, Result as DfResult};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArguments, JoinConstraint, JoinOperator, Query, Select, SelectItem,
    SetExpr, Spanned, Visit, Visitor,
};

use crate::error::SqlError;
use crate::functions::ByIdentity;

/// The most rows one `generate_series` call in a SELECT list may produce: the rows are held
/// as one list before they are unnested.
pub const SERIES_ROWS_MAX: usize = 100_000_000;

/// The name the SELECT-list rewrite calls instead of `generate_series`.
pub const GENERATE_SERIES: &str = "pg_generate_series";

/// A set-returning call written as an expression (`name` is its lower-case name), as
/// `unnest` over the list of its rows: `generate_series(a, b[, step])`, and
/// `generate_subscripts(array, dim[, reverse])` (Basalt's arrays start at 1).
pub fn select_list_call(f: &Function, name: &str) -> Option<Expr> {
    let name = name.strip_prefix("pg_catalog.").unwrap_or(name);
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    // PostgreSQL types an integer literal that fits as integer (DataFusion as bigint), so
    // `generate_series(1, 3)` is an integer series.
    let args: Vec<String> = list
        .args
        .iter()
        .map(|a| {
            let text = a.to_string();
            if text.parse::<i32>().is_ok() {
                format!("CAST({text} AS INTEGER)")
            } else {
                text
            }
        })
        .collect();
    let text = match (name, args.as_slice()) {
        ("generate_series", _) => format!("unnest({GENERATE_SERIES}({}))", args.join(", ")),
        ("generate_subscripts", [a, d]) => {
            format!("unnest({GENERATE_SERIES}(1, coalesce(array_length({a}, {d}), 0)))")
        }
        ("generate_subscripts", [a, d, reverse]) => format!(
            "unnest(CASE WHEN {reverse} \
             THEN {GENERATE_SERIES}(coalesce(array_length({a}, {d}), 0), 1, -1) \
             ELSE {GENERATE_SERIES}(1, coalesce(array_length({a}, {d}), 0)) END)"
        ),
        _ => return None,
    };
    crate::eval::parse_expr(&text).ok()
}

/// The set-returning functions Basalt runs in a SELECT list.
const SET_RETURNING: &[&str] = &[
    "generate_series",
    "generate_subscripts",
    "unnest",
    "regexp_matches",
    "regexp_split_to_table",
];

/// Aggregates whose arguments PostgreSQL checks for set-returning calls.
pub(crate) const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "variance",
    "var_pop",
    "var_samp",
    "bit_and",
    "bit_or",
    "json_agg",
    "jsonb_agg",
];

fn function_name(f: &Function) -> String {
    let name = f.name.to_string().to_lowercase();
    match name.strip_prefix("pg_catalog.") {
        Some(bare) => bare.to_owned(),
        None => name,
    }
}

/// PostgreSQL's placement rules for set-returning calls (its check_srf_call_placement):
/// not in WHERE, JOIN/ON, HAVING, LIMIT/OFFSET or a multi-row VALUES, and in a SELECT list
/// not inside CASE, COALESCE, an aggregate's or a window function's arguments.
pub fn check_placement(body: &SetExpr) -> Result<(), SqlError> {
    match body {
        SetExpr::Select(select) => check_select(select),
        SetExpr::SetOperation { left, right, .. } => {
            check_placement(left)?;
            check_placement(right)
        }
        SetExpr::Values(values) if values.rows.len() > 1 => {
            for row in &values.rows {
                for e in &row.content {
                    refuse_any(e, "VALUES")?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn check_select(select: &Select) -> Result<(), SqlError> {
    if let Some(w) = &select.selection {
        refuse_any(w, "WHERE")?;
    }
    if let Some(h) = &select.having {
        refuse_any(h, "HAVING")?;
    }
    for t in &select.from {
        for j in &t.joins {
            if let Some(on) = join_condition(&j.join_operator) {
                refuse_any(on, "JOIN conditions")?;
            }
        }
    }
    for item in &select.projection {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            let mut v = Placement {
                context: Vec::new(),
                depth: 0,
                error: None,
            };
            let _ = e.visit(&mut v);
            if let Some(err) = v.error {
                return Err(err);
            }
        }
    }
    Ok(())
}

/// Refuses any set-returning call in `e` (outside its subqueries).
fn refuse_any(e: &Expr, clause: &str) -> Result<(), SqlError> {
    let mut v = Placement {
        context: vec![(clause.to_owned(), false)],
        depth: 0,
        error: None,
    };
    let _ = e.visit(&mut v);
    v.error.map_or(Ok(()), Err)
}

/// Walks an expression with the stack of constructs around the current node.
struct Placement {
    /// (what the construct is called in the message, whether it is an aggregate/window
    /// function call rather than a clause or expression kind).
    context: Vec<(String, bool)>,
    /// Subquery nesting: a subquery's own SELECT list is checked on its own.
    depth: usize,
    error: Option<SqlError>,
}

impl Visitor for Placement {
    type Break = ();

    fn pre_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if self.depth > 0 {
            return ControlFlow::Continue(());
        }
        let Expr::Function(f) = e else {
            if matches!(e, Expr::Case { .. }) {
                self.context.push(("CASE".into(), false));
            }
            return ControlFlow::Continue(());
        };
        let name = function_name(f);
        if SET_RETURNING.contains(&name.as_str()) {
            // A clause the whole expression is in comes first (PostgreSQL checks it when it
            // meets the call), then the innermost construct around the call.
            let around = match self.context.first() {
                Some((what, false)) if what != "CASE" && what != "COALESCE" => self.context.first(),
                _ => self.context.last(),
            };
            if let Some((what, call)) = around {
                let hint = "You might be able to move the set-returning function into a LATERAL FROM item.";
                let error = if *call {
                    SqlError::Detailed {
                        sqlstate: "0A000",
                        message: format!(
                            "{what} calls cannot contain set-returning function calls"
                        ),
                        detail: String::new(),
                        hint: Some(hint.into()),
                    }
                } else if what == "CASE" || what == "COALESCE" {
                    SqlError::Detailed {
                        sqlstate: "0A000",
                        message: format!("set-returning functions are not allowed in {what}"),
                        detail: String::new(),
                        hint: Some(hint.into()),
                    }
                } else {
                    SqlError::Detailed {
                        sqlstate: "0A000",
                        message: format!("set-returning functions are not allowed in {what}"),
                        detail: String::new(),
                        hint: None,
                    }
                };
                self.error = Some(error.at(e.span()));
                return ControlFlow::Break(());
            }
        }
        let context = if f.over.is_some() {
            Some("window function")
        } else if AGGREGATES.contains(&name.as_str()) {
            Some("aggregate function")
        } else if name == "coalesce" {
            Some("COALESCE")
        } else {
            None
        };
        if let Some(what) = context {
            self.context.push((what.into(), what != "COALESCE"));
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if self.depth > 0 {
            return ControlFlow::Continue(());
        }
        let pushed = match e {
            Expr::Case { .. } => true,
            Expr::Function(f) => {
                let name = function_name(f);
                f.over.is_some() || AGGREGATES.contains(&name.as_str()) || name == "coalesce"
            }
            _ => false,
        };
        if pushed {
            self.context.pop();
        }
        ControlFlow::Continue(())
    }
}

/// `generate_series` in a select list; a series of timestamptz steps on the clock of the
/// session zone in `style` (PostgreSQL sessions; UTC without one).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PgGenerateSeries {
    signature: Signature,
    style: Option<ByIdentity<crate::format::SharedStyle>>,
}

impl PgGenerateSeries {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::from(PgGenerateSeries {
            signature: Signature::user_defined(Volatility::Immutable),
            style: None,
        })
    }

    /// The series of a PostgreSQL session, whose zone is in `style`.
    pub fn udf_in_zone(style: &Arc<crate::format::SharedStyle>) -> ScalarUDF {
        ScalarUDF::from(PgGenerateSeries {
            signature: Signature::user_defined(Volatility::Stable),
            style: Some(ByIdentity(Arc::clone(style))),
        })
    }
}

/// What kind of series the arguments ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int32,
    Int64,
    Numeric(i8),
    Timestamp,
}

fn kind_of(arg_types: &[DataType]) -> Kind {
    let mut kind = Kind::Int32;
    for t in arg_types {
        let k = match t {
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 => Kind::Int32,
            DataType::Int64 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => Kind::Int64,
            DataType::Decimal128(_, s) | DataType::Decimal256(_, s) => Kind::Numeric(*s),
            DataType::Float16 | DataType::Float32 | DataType::Float64 => {
                Kind::Numeric(basalt_common::types::NUMERIC_DEFAULT_SCALE)
            }
            DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => Kind::Timestamp,
            _ => continue,
        };
        kind = match (kind, k) {
            (Kind::Timestamp, _) | (_, Kind::Timestamp) => Kind::Timestamp,
            (Kind::Numeric(a), Kind::Numeric(b)) => Kind::Numeric(a.max(b)),
            (Kind::Numeric(a), _) | (_, Kind::Numeric(a)) => Kind::Numeric(a),
            (Kind::Int64, _) | (_, Kind::Int64) => Kind::Int64,
            _ => Kind::Int32,
        };
    }
    kind
}

fn step_error() -> SqlError {
    SqlError::InvalidParameterValue("step size cannot equal zero".into())
}

fn too_many_rows() -> SqlError {
    SqlError::ProgramLimit(format!(
        "generate_series in a SELECT list may produce at most {SERIES_ROWS_MAX} rows"
    ))
}

/// The values from `start` to `stop` by `step`, in i128 so no bound of the element type can
/// overflow on the way (PostgreSQL stops at the last value inside the range).
fn series_i128(start: i128, stop: i128, step: i128) -> Result<Vec<i128>, SqlError> {
    if step == 0 {
        return Err(step_error());
    }
    if (step > 0 && start > stop) || (step < 0 && start < stop) {
        return Ok(Vec::new());
    }
    let count = (stop - start) / step + 1;
    if count > SERIES_ROWS_MAX as i128 {
        return Err(too_many_rows());
    }
    Ok((0..count).map(|i| start + i * step).collect())
}

impl PgGenerateSeries {
    fn element_type(kind: Kind, arg_types: &[DataType]) -> DataType {
        match kind {
            Kind::Int32 => DataType::Int32,
            Kind::Int64 => DataType::Int64,
            Kind::Numeric(s) => {
                DataType::Decimal128(basalt_common::types::NUMERIC_MAX_PRECISION, s)
            }
            Kind::Timestamp => match arg_types.first() {
                Some(DataType::Timestamp(unit, tz)) => DataType::Timestamp(*unit, tz.clone()),
                _ => DataType::Timestamp(
                    TimeUnit::Microsecond,
                    Some(basalt_common::types::TIMESTAMPTZ_ZONE.into()),
                ),
            },
        }
    }

    fn integers(&self, arrays: &[ArrayRef], element: &DataType) -> Result<ArrayRef, SqlError> {
        let wide: Vec<ArrayRef> = arrays
            .iter()
            .map(|a| cast(a, &DataType::Int64))
            .collect::<Result<_, _>>()?;
        let start = wide[0].as_primitive::<Int64Type>();
        let stop = wide[1].as_primitive::<Int64Type>();
        let step = wide.get(2).map(|a| a.as_primitive::<Int64Type>());
        let rows = start.len();
        if *element == DataType::Int32 {
            let mut out = ListBuilder::new(Int32Builder::new());
            for i in 0..rows {
                match bounds(start, stop, step, i) {
                    None => out.append_null(),
                    Some((a, b, s)) => {
                        let values = series_i128(a.into(), b.into(), s.into())?;
                        out.append_value(values.into_iter().map(|v| i32::try_from(v).ok()));
                    }
                }
            }
            return Ok(Arc::new(out.finish()));
        }
        let mut out = ListBuilder::new(Int64Builder::new());
        for i in 0..rows {
            match bounds(start, stop, step, i) {
                None => out.append_null(),
                Some((a, b, s)) => {
                    let values = series_i128(a.into(), b.into(), s.into())?;
                    out.append_value(values.into_iter().map(|v| i64::try_from(v).ok()));
                }
            }
        }
        Ok(Arc::new(out.finish()))
    }

    fn numerics(&self, arrays: &[ArrayRef], element: &DataType) -> Result<ArrayRef, SqlError> {
        let DataType::Decimal128(precision, scale) = element else {
            return Err(SqlError::Internal("numeric series of another type".into()));
        };
        let converted: Vec<ArrayRef> = arrays
            .iter()
            .map(|a| crate::numeric::convert(a, element))
            .collect::<Result<_, _>>()?;
        let start = converted[0].as_primitive::<Decimal128Type>();
        let stop = converted[1].as_primitive::<Decimal128Type>();
        let step = converted.get(2).map(|a| a.as_primitive::<Decimal128Type>());
        let one = 10i128.pow(u32::try_from(*scale).unwrap_or(0));
        let mut out = ListBuilder::new(
            Decimal128Builder::new().with_data_type(DataType::Decimal128(*precision, *scale)),
        );
        for i in 0..start.len() {
            if start.is_null(i) || stop.is_null(i) || step.is_some_and(|s| s.is_null(i)) {
                out.append_null();
                continue;
            }
            let (a, b) = (start.value(i), stop.value(i));
            let s = step.map_or(one, |s| s.value(i));
            for (v, what) in [(a, "start value"), (b, "stop value"), (s, "step size")] {
                if v == crate::numeric::NAN {
                    return Err(SqlError::InvalidParameterValue(format!(
                        "{what} cannot be NaN"
                    )));
                }
                if crate::numeric::is_special(v) {
                    return Err(SqlError::InvalidParameterValue(format!(
                        "{what} cannot be infinity"
                    )));
                }
            }
            let values = series_i128(a, b, s)?;
            out.append_value(values.into_iter().map(Some));
        }
        Ok(Arc::new(out.finish()))
    }

    fn timestamps(&self, arrays: &[ArrayRef], element: &DataType) -> DfResult<ArrayRef> {
        let step_type = DataType::Interval(IntervalUnit::MonthDayNano);
        let Some(step) = arrays.get(2) else {
            return plan_err!("generate_series over timestamps needs a step interval");
        };
        let step = cast(step, &step_type)?;
        let steps = step.as_primitive::<datafusion::arrow::datatypes::IntervalMonthDayNanoType>();
        if steps
            .iter()
            .flatten()
            .any(|v| v.months == 0 && v.days == 0 && v.nanoseconds == 0)
        {
            return Err(step_error().into_datafusion());
        }
        let args = vec![
            ColumnarValue::Array(cast(&arrays[0], element)?),
            ColumnarValue::Array(cast(&arrays[1], element)?),
            ColumnarValue::Array(step),
        ];
        let field = Arc::new(Field::new("item", element.clone(), true));
        let zone = self
            .style
            .as_ref()
            .map(|s| s.load().zone)
            .unwrap_or_default();
        if matches!(element, DataType::Timestamp(_, Some(_))) && !zone.is_utc() {
            let rows = arrays[0].len();
            let out = cast(
                &timestamptz_series_lists(&args, rows, zone)?,
                &DataType::List(field),
            )?;
            return within_series_limit(out, rows);
        }
        let produced = Arc::new(Field::new("item", in_nanoseconds(element), true));
        let arg_fields = args
            .iter()
            .map(|a| Arc::new(Field::new("a", a.data_type(), true)))
            .collect();
        let rows = arrays[0].len();
        let udf = datafusion::functions_nested::range::gen_series_udf();
        let out = udf.invoke_with_args(ScalarFunctionArgs {
            args,
            arg_fields,
            number_rows: rows,
            return_field: Arc::new(Field::new("r", DataType::List(produced), true)),
            config_options: Arc::new(Default::default()),
        })?;
        // DataFusion's series counts nanoseconds whatever the unit of its bounds.
        let out = cast(&out.into_array(rows)?, &DataType::List(field))?;
        within_series_limit(out, rows)
    }
}

/// The lists of `rows` series, refused past [`SERIES_ROWS_MAX`] values a row.
fn within_series_limit(out: ArrayRef, rows: usize) -> DfResult<ArrayRef> {
    let total: usize = out
        .as_list::<i32>()
        .value_offsets()
        .last()
        .map_or(0, |v| usize::try_from(*v).unwrap_or(0));
    if total > SERIES_ROWS_MAX.saturating_mul(rows.max(1)) {
        return Err(too_many_rows().into_datafusion());
    }
    Ok(out)
}

fn bounds(
    start: &datafusion::arrow::array::PrimitiveArray<Int64Type>,
    stop: &datafusion::arrow::array::PrimitiveArray<Int64Type>,
    step: Option<&datafusion::arrow::array::PrimitiveArray<Int64Type>>,
    i: usize,
) -> Option<(i64, i64, i64)> {
    if start.is_null(i) || stop.is_null(i) || step.is_some_and(|s| s.is_null(i)) {
        return None;
    }
    Some((
        start.value(i),
        stop.value(i),
        step.map_or(1, |s| s.value(i)),
    ))
}

impl ScalarUDFImpl for PgGenerateSeries {
    fn name(&self) -> &str {
        GENERATE_SERIES
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        if !(2..=3).contains(&arg_types.len()) {
            return plan_err!(
                "function generate_series takes two or three arguments, got {}",
                arg_types.len()
            );
        }
        let kind = kind_of(arg_types);
        let element = Self::element_type(kind, arg_types);
        Ok(arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| match kind {
                Kind::Timestamp if i == 2 => DataType::Interval(IntervalUnit::MonthDayNano),
                Kind::Timestamp if matches!(t, DataType::Timestamp(..)) => t.clone(),
                Kind::Numeric(_) if matches!(t, DataType::Utf8 | DataType::Null) => element.clone(),
                _ => element.clone(),
            })
            .collect())
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        let element = Self::element_type(kind_of(arg_types), arg_types);
        Ok(DataType::List(Arc::new(Field::new("item", element, true))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = crate::functions::all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let types: Vec<DataType> = arrays.iter().map(|a| a.data_type().clone()).collect();
        let kind = kind_of(&types);
        let element = Self::element_type(kind, &types);
        let out = match kind {
            Kind::Int32 | Kind::Int64 => self.integers(&arrays, &element),
            Kind::Numeric(_) => self.numerics(&arrays, &element),
            Kind::Timestamp => {
                return crate::functions::columnar_result(
                    self.timestamps(&arrays, &element)?,
                    scalar,
                )
            }
        }
        .map_err(SqlError::into_datafusion)?;
        crate::functions::columnar_result(out, scalar)
    }
}

/// The `ON` condition of a join, if it has one.
pub(crate) fn join_condition(op: &JoinOperator) -> Option<&Expr> {
    match op {
        JoinOperator::Join(c)
        | JoinOperator::Inner(c)
        | JoinOperator::Left(c)
        | JoinOperator::LeftOuter(c)
        | JoinOperator::Right(c)
        | JoinOperator::RightOuter(c)
        | JoinOperator::FullOuter(c) => match c {
            JoinConstraint::On(on) => Some(on),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_stops_inside_the_range() {
        assert_eq!(series_i128(1, 3, 1).ok(), Some(vec![1, 2, 3]));
        assert_eq!(series_i128(1, 10, 4).ok(), Some(vec![1, 5, 9]));
        assert_eq!(series_i128(3, 1, -1).ok(), Some(vec![3, 2, 1]));
        assert_eq!(series_i128(3, 1, 1).ok(), Some(vec![]));
        assert!(series_i128(1, 3, 0).is_err());
        assert!(series_i128(0, i128::from(i64::MAX), 1).is_err());
        let top = i128::from(i32::MAX);
        assert_eq!(series_i128(top - 1, top, 1).ok(), Some(vec![top - 1, top]));
    }

    #[test]
    fn kinds_follow_postgresql_resolution() {
        assert_eq!(kind_of(&[DataType::Int32, DataType::Int32]), Kind::Int32);
        assert_eq!(kind_of(&[DataType::Int32, DataType::Int64]), Kind::Int64);
        assert_eq!(
            kind_of(&[DataType::Decimal128(2, 1), DataType::Int64]),
            Kind::Numeric(1)
        );
        assert_eq!(
            kind_of(&[
                DataType::Timestamp(TimeUnit::Microsecond, None),
                DataType::Utf8
            ]),
            Kind::Timestamp
        );
    }
}

/// DataFusion's scalar `generate_series` (a list, which `unnest` spreads), whose result is
/// cast to the type it announced: over microsecond timestamps it returns nanoseconds.
/// A series of timestamptz steps on the clock of the session zone in `style`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SeriesInAnnouncedType {
    inner: Arc<ScalarUDF>,
    style: ByIdentity<crate::format::SharedStyle>,
}

pub fn generate_series_udf(style: &Arc<crate::format::SharedStyle>) -> ScalarUDF {
    ScalarUDF::from(SeriesInAnnouncedType {
        inner: datafusion::functions_nested::range::gen_series_udf(),
        style: ByIdentity(Arc::clone(style)),
    })
}

/// Per row, the timestamptz series of `generate_series(start, stop, step)` in `zone`.
fn timestamptz_series_lists(
    args: &[ColumnarValue],
    rows: usize,
    zone: crate::zone::SessionZone,
) -> DfResult<ArrayRef> {
    use datafusion::arrow::array::{
        AsArray, IntervalMonthDayNanoArray, ListBuilder, TimestampMicrosecondBuilder,
    };
    use datafusion::arrow::datatypes::TimestampMicrosecondType;
    let us = DataType::Timestamp(TimeUnit::Microsecond, None);
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let start = cast(&arrays[0], &us)?;
    let stop = cast(&arrays[1], &us)?;
    let step = cast(&arrays[2], &DataType::Interval(IntervalUnit::MonthDayNano))?;
    let (start, stop) = (
        start.as_primitive::<TimestampMicrosecondType>(),
        stop.as_primitive::<TimestampMicrosecondType>(),
    );
    let step = step
        .as_any()
        .downcast_ref::<IntervalMonthDayNanoArray>()
        .ok_or_else(|| SqlError::Internal("interval expected".into()).into_datafusion())?;
    let mut out = ListBuilder::new(
        TimestampMicrosecondBuilder::new().with_timezone(basalt_common::types::TIMESTAMPTZ_ZONE),
    );
    for i in 0..rows {
        let row = |n: usize| if n == 1 { 0 } else { i };
        let (a, b, c) = (row(start.len()), row(stop.len()), row(step.len()));
        if start.is_null(a) || stop.is_null(b) || step.is_null(c) {
            out.append_null();
            continue;
        }
        let series = crate::zone::timestamptz_series(
            zone,
            start.value(a),
            stop.value(b),
            step.value(c),
            SERIES_ROWS_MAX,
        )
        .map_err(SqlError::into_datafusion)?
        .ok_or_else(|| too_many_rows().into_datafusion())?;
        out.values().append_slice(&series);
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

impl ScalarUDFImpl for SeriesInAnnouncedType {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        self.inner.return_type(arg_types)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let announced = args.return_field.data_type().clone();
        let zone = self.style.load().zone;
        if args.args.len() == 3
            && !zone.is_utc()
            && matches!(
                args.arg_fields.first().map(|f| f.data_type()),
                Some(DataType::Timestamp(_, Some(_)))
            )
        {
            let lists = timestamptz_series_lists(&args.args, rows, zone)?;
            return Ok(ColumnarValue::Array(cast(&lists, &announced)?));
        }
        let produced = match &announced {
            DataType::List(f) => DataType::List(Arc::new(Field::new(
                f.name(),
                in_nanoseconds(f.data_type()),
                true,
            ))),
            other => other.clone(),
        };
        let out = self
            .inner
            .invoke_with_args(ScalarFunctionArgs {
                return_field: Arc::new(Field::new(args.return_field.name(), produced, true)),
                ..args
            })?
            .into_array(rows)?;
        Ok(ColumnarValue::Array(cast(&out, &announced)?))
    }
}

/// A timestamp type in nanoseconds (DataFusion's series produce them); other types as
/// they are.
fn in_nanoseconds(t: &DataType) -> DataType {
    match t {
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Nanosecond, tz.clone()),
        other => other.clone(),
    }
}

/// DataFusion's `generate_series` table function, given timestamps in nanoseconds as it
/// reads them (Basalt's are microseconds) and a step written as a string read as an
/// interval (`'1 hour'`), as PostgreSQL reads it.
#[derive(Debug)]
struct SeriesOfNanoseconds {
    inner: Arc<datafusion::catalog::TableFunction>,
}

/// Wraps the `generate_series` table function registered so far (datafusion-pg-catalog's
/// or DataFusion's).
pub fn register_generate_series_table(ctx: &datafusion::prelude::SessionContext) {
    let registered = ctx
        .state()
        .table_functions()
        .get("generate_series")
        .cloned();
    if let Some(inner) = registered {
        ctx.register_udtf("generate_series", Arc::new(SeriesOfNanoseconds { inner }));
    }
}

impl datafusion::catalog::TableFunctionImpl for SeriesOfNanoseconds {
    fn call_with_args(
        &self,
        args: datafusion::catalog::TableFunctionArgs,
    ) -> DfResult<Arc<dyn datafusion::catalog::TableProvider>> {
        use datafusion::common::ScalarValue;
        use datafusion::logical_expr::Expr;
        let out_of_range = || SqlError::DatetimeOverflow("timestamp out of range".into());
        let timestamps = matches!(
            args.exprs().first(),
            Some(Expr::Literal(s, _))
                if matches!(s.data_type(), DataType::Timestamp(..) | DataType::Date32)
        );
        let mut exprs = Vec::with_capacity(args.exprs().len());
        for (i, e) in args.exprs().iter().enumerate() {
            exprs.push(match e {
                Expr::Literal(ScalarValue::TimestampMicrosecond(v, tz), m) => {
                    let ns = match v {
                        Some(us) => Some(
                            us.checked_mul(1000)
                                .ok_or_else(|| out_of_range().into_datafusion())?,
                        ),
                        None => None,
                    };
                    Expr::Literal(ScalarValue::TimestampNanosecond(ns, tz.clone()), m.clone())
                }
                // The end written as text: read as the start's type (PostgreSQL's unknown
                // literal takes the other argument's type), where DateStyle's field order
                // does not change its reading.
                Expr::Literal(ScalarValue::Utf8(Some(text)), m) if timestamps && i == 1 => {
                    let tz = match exprs.first() {
                        Some(Expr::Literal(ScalarValue::TimestampNanosecond(_, tz), _)) => {
                            tz.clone()
                        }
                        _ => None,
                    };
                    let kind = if tz.is_some() {
                        crate::datetime::DateTimeKind::TimestampTz
                    } else {
                        crate::datetime::DateTimeKind::Timestamp
                    };
                    let now = crate::clock::transaction_micros();
                    match crate::rewrite::unambiguous(text, kind, now)
                        .map_err(SqlError::into_datafusion)?
                    {
                        Some(us) => Expr::Literal(
                            ScalarValue::TimestampNanosecond(
                                Some(
                                    us.checked_mul(1000)
                                        .ok_or_else(|| out_of_range().into_datafusion())?,
                                ),
                                tz,
                            ),
                            m.clone(),
                        ),
                        None => e.clone(),
                    }
                }
                Expr::Literal(ScalarValue::Utf8(Some(text)), m) if timestamps && i == 2 => {
                    let (months, days, nanos) =
                        crate::eval::parse_pg_interval(text).ok_or_else(|| {
                            SqlError::InvalidText(format!(
                                "invalid input syntax for type interval: \"{text}\""
                            ))
                            .into_datafusion()
                        })?;
                    Expr::Literal(
                        ScalarValue::IntervalMonthDayNano(Some(
                            datafusion::arrow::datatypes::IntervalMonthDayNano::new(
                                months, days, nanos,
                            ),
                        )),
                        m.clone(),
                    )
                }
                e => e.clone(),
            });
        }
        let provider =
            self.inner
                .function()
                .call_with_args(datafusion::catalog::TableFunctionArgs::new(
                    &exprs,
                    args.session(),
                ))?;
        // A series of timestamptz steps its months and days on the session zone's clock
        // (a day across a daylight-saving change is 23 or 25 hours); DataFusion's steps in
        // UTC. The values are computed here, in the column DataFusion's function announced.
        let zone = crate::clock::session_zone();
        match (exprs.first(), exprs.get(1), exprs.get(2)) {
            (
                Some(Expr::Literal(ScalarValue::TimestampNanosecond(Some(start), Some(_)), _)),
                Some(Expr::Literal(ScalarValue::TimestampNanosecond(Some(stop), Some(_)), _)),
                Some(Expr::Literal(ScalarValue::IntervalMonthDayNano(Some(step)), _)),
            ) if !zone.is_utc() && (step.months != 0 || step.days != 0) => {
                let series = crate::zone::timestamptz_series(
                    zone,
                    start.div_euclid(1000),
                    stop.div_euclid(1000),
                    *step,
                    SERIES_ROWS_MAX,
                )
                .map_err(SqlError::into_datafusion)?
                .ok_or_else(|| {
                    SqlError::ProgramLimit(format!(
                        "generate_series of timestamptz may produce at most {SERIES_ROWS_MAX} rows"
                    ))
                    .into_datafusion()
                })?;
                let schema = provider.schema();
                let Some(field) = schema.fields().first() else {
                    return Ok(provider);
                };
                let mut batches = Vec::new();
                for chunk in series.chunks(8192) {
                    let values: ArrayRef = Arc::new(
                        datafusion::arrow::array::TimestampMicrosecondArray::from(chunk.to_vec())
                            .with_timezone(basalt_common::types::TIMESTAMPTZ_ZONE),
                    );
                    batches.push(datafusion::arrow::record_batch::RecordBatch::try_new(
                        Arc::clone(&schema),
                        vec![cast(&values, field.data_type())?],
                    )?);
                }
                Ok(Arc::new(datafusion::datasource::MemTable::try_new(
                    schema,
                    vec![batches],
                )?))
            }
            _ => Ok(provider),
        }
    }
}
