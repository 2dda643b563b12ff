//! A DataFusion analyzer rule for PostgreSQL arithmetic semantics: integer `+`, `-`, `*`,
//! `/` and unary `-` fail with "integer out of range" (SQLSTATE 22003, "smallint" and
//! "bigint" for those types) on overflow instead of wrapping or Arrow's wording, and
//! casts of fractional numbers to integers round instead of truncating, and casts to text
//! print values the way PostgreSQL does.
//!
//! It runs after DataFusion's type coercion, so both operands already have the same type;
//! expression names are preserved so the plan's schema does not change.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result as DfResult};
use datafusion::logical_expr::expr::{Cast, ScalarFunction};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::lit;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use crate::datetime::DateInput;
use crate::error::SqlError;
use crate::format::SharedStyle;

#[derive(Debug)]
pub struct CheckedIntegerArithmetic {
    rint: Arc<ScalarUDF>,
    pg_text: Arc<ScalarUDF>,
    byte_length: Arc<ScalarUDF>,
    add: Arc<ScalarUDF>,
    sub: Arc<ScalarUDF>,
    mul: Arc<ScalarUDF>,
    div: Arc<ScalarUDF>,
    neg: Arc<ScalarUDF>,
    /// Float `+ - * /` with PostgreSQL's overflow, underflow and division-by-zero errors
    /// (PostgreSQL sessions only).
    float_ops: Option<[Arc<ScalarUDF>; 4]>,
}

impl CheckedIntegerArithmetic {
    /// `text_style` is the session's [`TextStyle`], which casts to text follow.
    pub fn new(text_style: Arc<SharedStyle>, postgres: bool) -> Self {
        use crate::pgfloat::{CheckedFloat, FloatOp};
        CheckedIntegerArithmetic {
            byte_length: Arc::new(byte_length_udf()),
            rint: Arc::new(rint_udf()),
            pg_text: Arc::new(pg_text_udf(text_style)),
            add: Arc::new(ScalarUDF::from(CheckedOp::new(Op::Add))),
            sub: Arc::new(ScalarUDF::from(CheckedOp::new(Op::Sub))),
            mul: Arc::new(ScalarUDF::from(CheckedOp::new(Op::Mul))),
            div: Arc::new(ScalarUDF::from(CheckedOp::new(Op::Div))),
            neg: Arc::new(ScalarUDF::from(CheckedOp::new(Op::Neg))),
            float_ops: postgres.then(|| {
                [FloatOp::Add, FloatOp::Sub, FloatOp::Mul, FloatOp::Div]
                    .map(|op| Arc::new(CheckedFloat::udf(op)))
            }),
        }
    }
}

/// Rewrites every expression of a plan (subqueries included) bottom-up with `f`, given the
/// schema its columns come from. Rewrites must keep each expression's type: DataFusion
/// requires an analyzer rule to leave the plan's schema unchanged, and names are restored.
pub(crate) fn rewrite_expressions(
    plan: LogicalPlan,
    f: impl Fn(Expr, &DFSchema) -> DfResult<Transformed<Expr>>,
) -> DfResult<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        if matches!(node, LogicalPlan::TableScan(_)) {
            return Ok(Transformed::no(node));
        }
        let schema = if node.inputs().is_empty() {
            node.schema().as_ref().clone()
        } else {
            merge_schema(&node.inputs())
        };
        let preserver = NamePreserver::new(&node);
        node.map_expressions(|e| {
            let name = preserver.save(&e);
            let rewritten = e.transform_up(|e| f(e, &schema))?;
            Ok(rewritten.update_data(|e| name.restore(e)))
        })
    })
    .map(|t| t.data)
}

/// Runs `rewrite` over every node of `plan` (subqueries included); when it changed a node's
/// output types, the nodes above take them (their schemas are computed again), except the
/// nodes `keep` names (the rewritten kind, whose schema the rewrite set itself).
pub(crate) fn retype_nodes(
    plan: LogicalPlan,
    mut rewrite: impl FnMut(LogicalPlan) -> DfResult<Transformed<LogicalPlan>>,
    keep: fn(&LogicalPlan) -> bool,
) -> DfResult<LogicalPlan> {
    let mut changed = false;
    let plan = plan
        .transform_up_with_subqueries(|p| {
            let t = rewrite(p)?;
            changed |= t.transformed;
            Ok(t)
        })?
        .data;
    if !changed {
        return Ok(plan);
    }
    plan.transform_up_with_subqueries(|p| {
        if keep(&p) || matches!(p, LogicalPlan::TableScan(_)) {
            Ok(Transformed::no(p))
        } else {
            Ok(Transformed::yes(p.recompute_schema()?))
        }
    })
    .map(|t| t.data)
}

impl AnalyzerRule for CheckedIntegerArithmetic {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        rewrite_expressions(plan, |e, schema| self.rewrite(e, schema))
    }

    fn name(&self) -> &str {
        "basalt_checked_integer_arithmetic"
    }
}

impl CheckedIntegerArithmetic {
    fn rewrite(&self, e: Expr, schema: &DFSchema) -> DfResult<Transformed<Expr>> {
        // A cast of a fractional number to an integer rounds in PostgreSQL (DataFusion
        // truncates): 2.5::numeric::integer is 3 (half away from zero), 2.5::float8::integer
        // is 2 (half to even, like rint).
        if let Expr::Cast(Cast { expr, field }) = &e {
            let from = expr.get_type(schema);
            if matches!(
                field.data_type(),
                DataType::Int16 | DataType::Int32 | DataType::Int64
            ) && matches!(
                from,
                Ok(DataType::Float32 | DataType::Float64 | DataType::Decimal128(_, _))
            ) {
                let rounded = if matches!(from, Ok(DataType::Decimal128(_, _))) {
                    datafusion::functions::math::expr_fn::round(vec![expr.as_ref().clone()])
                } else {
                    Expr::ScalarFunction(ScalarFunction::new_udf(
                        Arc::clone(&self.rint),
                        vec![expr.as_ref().clone()],
                    ))
                };
                return Ok(Transformed::yes(Expr::Cast(Cast::new_from_field(
                    Box::new(rounded),
                    Arc::clone(field),
                ))));
            }
        }
        // x::text renders x the way PostgreSQL prints it (timestamps, intervals, floats, bytea).
        if let Expr::Cast(Cast { expr, field }) = &e {
            if matches!(
                field.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) {
                if let Ok(from) = expr.get_type(schema) {
                    if matches!(
                        from,
                        DataType::Timestamp(_, _)
                            | DataType::Date32
                            | DataType::Time64(_)
                            | DataType::Interval(_)
                            | DataType::Float32
                            | DataType::Float64
                            | DataType::Binary
                            | DataType::Decimal128(_, _)
                            | DataType::List(_)
                            | DataType::LargeList(_)
                            | DataType::FixedSizeList(..)
                            | DataType::Struct(_)
                    ) {
                        let text = Expr::ScalarFunction(ScalarFunction::new_udf(
                            Arc::clone(&self.pg_text),
                            vec![expr.as_ref().clone()],
                        ));
                        let text = if field.data_type() == &DataType::Utf8 {
                            text
                        } else {
                            Expr::Cast(Cast::new_from_field(Box::new(text), Arc::clone(field)))
                        };
                        return Ok(Transformed::yes(text));
                    }
                }
            }
        }
        // concat and concat_ws print a boolean with its output function: `t` or `f` (a cast
        // to text, as `||` does, gives `true`).
        if let Expr::ScalarFunction(f) = &e {
            if matches!(f.name(), "concat" | "concat_ws") {
                let boolean = |a: &Expr| {
                    let inner = match a {
                        Expr::Cast(c) => c.expr.as_ref(),
                        a => a,
                    };
                    matches!(inner.get_type(schema), Ok(DataType::Boolean)).then(|| inner.clone())
                };
                if f.args.iter().any(|a| boolean(a).is_some()) {
                    let args = f
                        .args
                        .iter()
                        .map(|a| match boolean(a) {
                            // NULL stays NULL, which concat skips.
                            Some(b) => Expr::Case(datafusion::logical_expr::Case::new(
                                Some(Box::new(b)),
                                vec![
                                    (Box::new(lit(true)), Box::new(lit("t"))),
                                    (Box::new(lit(false)), Box::new(lit("f"))),
                                ],
                                None,
                            )),
                            None => a.clone(),
                        })
                        .collect();
                    return Ok(Transformed::yes(Expr::ScalarFunction(
                        ScalarFunction::new_udf(Arc::clone(&f.func), args),
                    )));
                }
            }
        }
        // length(bytea) counts bytes in PostgreSQL.
        if let Expr::ScalarFunction(f) = &e {
            if matches!(f.name(), "length" | "char_length" | "character_length")
                && f.args.len() == 1
            {
                // Type coercion may already have wrapped the argument in a cast to text.
                let mut arg = &f.args[0];
                loop {
                    arg = match arg {
                        Expr::Cast(c) => c.expr.as_ref(),
                        Expr::ScalarFunction(inner)
                            if inner.name() == "pg_text" && inner.args.len() == 1 =>
                        {
                            &inner.args[0]
                        }
                        _ => break,
                    };
                }
                if matches!(
                    arg.get_type(schema),
                    Ok(DataType::Binary | DataType::LargeBinary | DataType::BinaryView)
                ) {
                    let bytes = Expr::ScalarFunction(ScalarFunction::new_udf(
                        Arc::clone(&self.byte_length),
                        vec![arg.clone()],
                    ));
                    return Ok(Transformed::yes(bytes));
                }
            }
        }
        // -x overflows for the smallest value of each integer type.
        if let Expr::Negative(inner) = &e {
            if matches!(
                inner.get_type(schema),
                Ok(DataType::Int16 | DataType::Int32 | DataType::Int64)
            ) {
                return Ok(Transformed::yes(Expr::ScalarFunction(
                    ScalarFunction::new_udf(Arc::clone(&self.neg), vec![inner.as_ref().clone()]),
                )));
            }
        }
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &e else {
            return Ok(Transformed::no(e));
        };
        let index = match op {
            Operator::Plus => 0,
            Operator::Minus => 1,
            Operator::Multiply => 2,
            Operator::Divide => 3,
            _ => return Ok(Transformed::no(e)),
        };
        // Types of outer references (correlated subqueries) are not known here: leave those.
        let (Ok(lt), Ok(rt)) = (left.get_type(schema), right.get_type(schema)) else {
            return Ok(Transformed::no(e));
        };
        if lt != rt {
            return Ok(Transformed::no(e));
        }
        let udf = match (&lt, &self.float_ops) {
            (DataType::Int16 | DataType::Int32 | DataType::Int64, _) => {
                [&self.add, &self.sub, &self.mul, &self.div][index]
            }
            (DataType::Float32 | DataType::Float64, Some(float_ops)) => &float_ops[index],
            _ => return Ok(Transformed::no(e)),
        };
        let args = vec![left.as_ref().clone(), right.as_ref().clone()];
        Ok(Transformed::yes(Expr::ScalarFunction(
            ScalarFunction::new_udf(Arc::clone(udf), args),
        )))
    }
}

/// `x::text` with PostgreSQL's output format for x's type (dates in the session's DateStyle).
fn pg_text_udf(text_style: Arc<SharedStyle>) -> ScalarUDF {
    crate::functions::TextFn::udf("pg_text", Volatility::Stable, move |arrays, _rows| {
        let style = text_style.load();
        let text = crate::format::pg_text_column_in(&arrays[0], style)
            .map_err(SqlError::into_datafusion)?;
        let out: datafusion::arrow::array::StringArray = text.into_iter().collect();
        Ok(Arc::new(out))
    })
}

/// Rounds half to even (PostgreSQL's `rint`, used when a float becomes an integer).
fn rint_udf() -> ScalarUDF {
    use datafusion::arrow::array::Float64Array;
    datafusion::logical_expr::create_udf(
        "rint",
        vec![DataType::Float64],
        DataType::Float64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let f = datafusion::arrow::compute::cast(&arrays[0], &DataType::Float64)?;
            let f = f.as_any().downcast_ref::<Float64Array>().ok_or_else(|| {
                datafusion::error::DataFusionError::Execution("rint expects a float".into())
            })?;
            let out: Float64Array = f.iter().map(|v| v.map(f64::round_ties_even)).collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

/// `interval * number`: months and days scale, fractions carry down as PostgreSQL does
/// (a fraction of a month becomes 30-day days, a fraction of a day 24-hour time).
pub fn interval_mul_udf() -> ScalarUDF {
    use datafusion::arrow::array::{Array, Float64Array, IntervalMonthDayNanoArray};
    use datafusion::arrow::datatypes::{IntervalMonthDayNano, IntervalUnit};
    datafusion::logical_expr::create_udf(
        "interval_mul",
        vec![
            DataType::Interval(IntervalUnit::MonthDayNano),
            DataType::Float64,
        ],
        DataType::Interval(IntervalUnit::MonthDayNano),
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let bad =
                || datafusion::error::DataFusionError::Execution("interval_mul arguments".into());
            let iv = arrays[0]
                .as_any()
                .downcast_ref::<IntervalMonthDayNanoArray>()
                .ok_or_else(bad)?;
            let f = arrays[1]
                .as_any()
                .downcast_ref::<Float64Array>()
                .ok_or_else(bad)?;
            let out: IntervalMonthDayNanoArray = (0..iv.len())
                .map(|i| {
                    if iv.is_null(i) || f.is_null(i) {
                        return None;
                    }
                    let (v, k) = (iv.value(i), f.value(i));
                    let months = f64::from(v.months) * k;
                    let days = f64::from(v.days) * k + months.fract() * 30.0;
                    let nanos = v.nanoseconds as f64 * k + days.fract() * 86_400e9;
                    Some(IntervalMonthDayNano::new(
                        months.trunc() as i32,
                        days.trunc() as i32,
                        nanos.round() as i64,
                    ))
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

/// `length(bytea)`: the number of bytes.
fn byte_length_udf() -> ScalarUDF {
    use datafusion::arrow::array::{Array, BinaryArray, Int32Array};
    datafusion::logical_expr::create_udf(
        "bytea_length",
        vec![DataType::Binary],
        DataType::Int32,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let b = datafusion::arrow::compute::cast(&arrays[0], &DataType::Binary)?;
            let b = b.as_any().downcast_ref::<BinaryArray>().ok_or_else(|| {
                datafusion::error::DataFusionError::Execution("bytea_length expects bytea".into())
            })?;
            let out: Int32Array = (0..b.len())
                .map(|i| (!b.is_null(i)).then(|| b.value(i).len() as i32))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Neg,
}

#[derive(Debug)]
struct CheckedOp {
    op: Op,
    signature: Signature,
}

impl CheckedOp {
    fn new(op: Op) -> CheckedOp {
        let sig = [DataType::Int16, DataType::Int32, DataType::Int64]
            .into_iter()
            .map(|t| match op {
                Op::Neg => TypeSignature::Exact(vec![t]),
                _ => TypeSignature::Exact(vec![t.clone(), t]),
            })
            .collect();
        CheckedOp {
            op,
            signature: Signature::one_of(sig, Volatility::Immutable),
        }
    }
}

impl PartialEq for CheckedOp {
    fn eq(&self, other: &Self) -> bool {
        self.op == other.op
    }
}
impl Eq for CheckedOp {}
impl Hash for CheckedOp {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.op.hash(state);
    }
}

impl ScalarUDFImpl for CheckedOp {
    fn name(&self) -> &str {
        match self.op {
            Op::Add => "checked_add",
            Op::Sub => "checked_sub",
            Op::Mul => "checked_mul",
            Op::Div => "checked_div",
            Op::Neg => "checked_neg",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(arg_types.first().cloned().unwrap_or(DataType::Int64))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let ty = args.return_field.data_type().clone();
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let l = &arrays[0];
        let r = arrays.get(1).unwrap_or(l);
        let result = match self.op {
            Op::Add => numeric::add(l, r),
            Op::Sub => numeric::sub(l, r),
            Op::Mul => numeric::mul(l, r),
            Op::Div => numeric::div(l, r),
            Op::Neg => numeric::neg(l),
        };
        match result {
            Ok(a) => Ok(ColumnarValue::Array(a)),
            Err(datafusion::arrow::error::ArrowError::DivideByZero) => {
                Err(SqlError::DivisionByZero.into_datafusion())
            }
            Err(_) => {
                let name = match ty {
                    DataType::Int16 => "smallint",
                    DataType::Int32 => "integer",
                    _ => "bigint",
                };
                Err(SqlError::OutOfRange(format!("{name} out of range")).into_datafusion())
            }
        }
    }
}

/// Reads text cast to a date or timestamp (`date 'January 8, 1999'`, `'1/8/1999'::date`,
/// a string compared with a date column) the way PostgreSQL does, under the session's
/// DateStyle order, where DataFusion would accept only ISO forms.
#[derive(Debug)]
pub struct PgDateTimeInput {
    text_style: Arc<SharedStyle>,
}

impl PgDateTimeInput {
    pub fn new(text_style: Arc<SharedStyle>) -> PgDateTimeInput {
        PgDateTimeInput { text_style }
    }
}

impl AnalyzerRule for PgDateTimeInput {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        let style = self.text_style.load();
        let order = DateInput {
            order: style.dates.order,
            zone: style.zone,
        };
        rewrite_expressions(plan, |e, schema| {
            let Expr::Cast(Cast { expr, field }) = &e else {
                return Ok(Transformed::no(e));
            };
            let from = expr.get_type(schema)?;
            let text = matches!(
                from,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            );
            if text && field.data_type() == &DataType::Binary {
                // Text cast to bytea is bytea input (`\x…` hex or escaped), not its bytes.
                return Ok(Transformed::yes(Expr::ScalarFunction(
                    ScalarFunction::new_udf(Arc::new(bytea_in_udf()), vec![expr.as_ref().clone()]),
                )));
            }
            if text && matches!(field.data_type(), DataType::List(_)) {
                // '{1,2,3}'::int[]: PostgreSQL's array input.
                let udf = ScalarUDF::from(ArrayIn {
                    target: field.data_type().clone(),
                    order,
                    signature: Signature::any(1, Volatility::Stable),
                });
                return Ok(Transformed::yes(Expr::ScalarFunction(
                    ScalarFunction::new_udf(Arc::new(udf), vec![expr.as_ref().clone()]),
                )));
            }
            if text && matches!(field.data_type(), DataType::Float32 | DataType::Float64) {
                // '1e400'::float8 is out of range, not Infinity.
                let udf = crate::pgfloat::float_in_udf(field.data_type().clone());
                return Ok(Transformed::yes(Expr::ScalarFunction(
                    ScalarFunction::new_udf(Arc::new(udf), vec![expr.as_ref().clone()]),
                )));
            }
            if !text || !crate::datetime::reads_datetime(field.data_type()) {
                return Ok(Transformed::no(e));
            }
            let udf = ScalarUDF::from(DateTimeIn::new(field.data_type().clone(), order));
            Ok(Transformed::yes(Expr::ScalarFunction(
                ScalarFunction::new_udf(Arc::new(udf), vec![expr.as_ref().clone()]),
            )))
        })
    }

    fn name(&self) -> &str {
        "basalt_pg_datetime_input"
    }
}

/// `array_in(text)`: text read as PostgreSQL's array input (`{1,2,NULL}`, `{"a b",c}`,
/// `{{1,2},{3,4}}` for a two-level list), each element as its type's input.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ArrayIn {
    target: DataType,
    order: DateInput,
    signature: Signature,
}

/// One array level read from text: its elements, each a value's text (None for NULL) or
/// an inner level.
enum ArrayItem {
    Value(Option<String>),
    Nested(Vec<ArrayItem>),
}

fn malformed_array(text: &str, detail: &str) -> SqlError {
    SqlError::Detailed {
        sqlstate: "22P02",
        message: format!("malformed array literal: \"{text}\""),
        detail: detail.into(),
        hint: None,
    }
}

/// Parses `{…}` starting at `chars[*pos]` (which is `{`).
fn parse_array_level(
    text: &str,
    chars: &[char],
    pos: &mut usize,
) -> Result<Vec<ArrayItem>, SqlError> {
    *pos += 1;
    let mut items = Vec::new();
    let skip_blank = |pos: &mut usize| {
        while *pos < chars.len() && chars[*pos].is_whitespace() {
            *pos += 1;
        }
    };
    skip_blank(pos);
    if chars.get(*pos) == Some(&'}') {
        *pos += 1;
        return Ok(items);
    }
    loop {
        skip_blank(pos);
        match chars.get(*pos) {
            None => return Err(malformed_array(text, "Unexpected end of input.")),
            Some('{') => items.push(ArrayItem::Nested(parse_array_level(text, chars, pos)?)),
            Some('"') => {
                *pos += 1;
                let mut v = String::new();
                loop {
                    match chars.get(*pos) {
                        None => return Err(malformed_array(text, "Unexpected end of input.")),
                        Some('"') => {
                            *pos += 1;
                            break;
                        }
                        Some('\\') => {
                            *pos += 1;
                            if let Some(c) = chars.get(*pos) {
                                v.push(*c);
                                *pos += 1;
                            }
                        }
                        Some(c) => {
                            v.push(*c);
                            *pos += 1;
                        }
                    }
                }
                items.push(ArrayItem::Value(Some(v)));
            }
            Some(_) => {
                let mut v = String::new();
                let mut escaped = false;
                while let Some(&c) = chars.get(*pos) {
                    if c == ',' || c == '}' {
                        break;
                    }
                    if c == '{' || c == '"' {
                        return Err(malformed_array(
                            text,
                            &format!("Unexpected \"{c}\" character."),
                        ));
                    }
                    if c == '\\' {
                        *pos += 1;
                        if let Some(&n) = chars.get(*pos) {
                            v.push(n);
                            escaped = true;
                            *pos += 1;
                        }
                        continue;
                    }
                    v.push(c);
                    *pos += 1;
                }
                let v = v.trim_end().to_owned();
                if v.is_empty() {
                    return Err(malformed_array(text, "Unexpected \",\" character."));
                }
                items.push(ArrayItem::Value(
                    (escaped || !v.eq_ignore_ascii_case("null")).then_some(v),
                ));
            }
        }
        skip_blank(pos);
        match chars.get(*pos) {
            Some(',') => *pos += 1,
            Some('}') => {
                *pos += 1;
                return Ok(items);
            }
            None => return Err(malformed_array(text, "Unexpected end of input.")),
            Some(c) => {
                return Err(malformed_array(
                    text,
                    &format!("Unexpected \"{c}\" character."),
                ))
            }
        }
    }
}

/// Builds the list array of one row per parsed literal (None for NULL input) for `target`.
fn array_values(
    rows: Vec<Option<Vec<ArrayItem>>>,
    target: &DataType,
    order: DateInput,
    text_of: &dyn Fn() -> String,
) -> Result<datafusion::arrow::array::ArrayRef, SqlError> {
    use datafusion::arrow::array::{ArrayRef, ListArray, StringArray};
    use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
    let DataType::List(field) = target else {
        return Err(SqlError::Internal("array input target".into()));
    };
    let element = field.data_type();
    let mut lengths = Vec::with_capacity(rows.len());
    let mut valid = Vec::with_capacity(rows.len());
    let mut values: Vec<Option<String>> = Vec::new();
    let mut nested: Vec<Option<Vec<ArrayItem>>> = Vec::new();
    let inner_list = matches!(element, DataType::List(_));
    for row in rows {
        let Some(items) = row else {
            lengths.push(0);
            valid.push(false);
            continue;
        };
        lengths.push(items.len());
        valid.push(true);
        // Basalt's array types have a fixed number of dimensions (a list per dimension).
        let nested_items = items
            .iter()
            .filter(|i| matches!(i, ArrayItem::Nested(_)))
            .count();
        if !items.is_empty() && nested_items == items.len() && !inner_list
            || nested_items == 0
                && inner_list
                && items.iter().any(|i| match i {
                    ArrayItem::Value(v) => v.is_some(),
                    ArrayItem::Nested(_) => false,
                })
        {
            let (mut depth, mut base) = (0, target);
            while let DataType::List(f) = base {
                depth += 1;
                base = f.data_type();
            }
            let name = format!(
                "{}{}",
                crate::functions::pg_type_of(base),
                "[]".repeat(depth)
            );
            return Err(SqlError::FeatureNotSupported(format!(
                "array \"{}\" has another number of dimensions than type {name}: Basalt's \
                 arrays of a type all have its dimensions (integer[] one, integer[][] two)",
                text_of(),
            )));
        }
        for item in items {
            match (item, inner_list) {
                (ArrayItem::Value(v), false) => values.push(v),
                (ArrayItem::Nested(n), true) => nested.push(Some(n)),
                (ArrayItem::Value(None), true) => nested.push(None),
                _ => {
                    return Err(malformed_array(
                        &text_of(),
                        "Multidimensional arrays must have sub-arrays with matching dimensions.",
                    ))
                }
            }
        }
    }
    let child: ArrayRef = if inner_list {
        array_values(nested, element, order, text_of)?
    } else {
        let text: ArrayRef = Arc::new(StringArray::from(values));
        match element {
            DataType::Utf8 => text,
            DataType::Decimal128(..) => crate::numeric::text_to_numeric(&text, element)?,
            t if crate::datetime::reads_datetime(t) => {
                crate::datetime::text_to_datetime(&text, t, order)?
            }
            DataType::Binary => {
                let s = text
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| SqlError::Internal("array text".into()))?;
                Arc::new(
                    s.iter()
                        .map(|t| t.map(crate::eval::parse_bytea).transpose())
                        .collect::<Result<datafusion::arrow::array::BinaryArray, SqlError>>()?,
                )
            }
            t => {
                let trimmed: StringArray = text
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| SqlError::Internal("array text".into()))?
                    .iter()
                    .map(|v| v.map(str::trim))
                    .collect();
                datafusion::arrow::compute::cast_with_options(
                    &(Arc::new(trimmed) as ArrayRef),
                    t,
                    &datafusion::arrow::compute::CastOptions {
                        safe: false,
                        ..Default::default()
                    },
                )
                .map_err(|e| SqlError::from(datafusion::error::DataFusionError::from(e)))?
            }
        }
    };
    Ok(Arc::new(ListArray::try_new(
        Arc::clone(field),
        OffsetBuffer::from_lengths(lengths),
        child,
        Some(NullBuffer::from(valid)),
    )?))
}

impl ScalarUDFImpl for ArrayIn {
    fn name(&self) -> &str {
        "array_in"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.target.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = crate::functions::all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out = text_to_array(&arrays[0], &self.target, self.order)
            .map_err(SqlError::into_datafusion)?;
        crate::functions::columnar_result(out, scalar)
    }
}

/// Text read as PostgreSQL's array input into a list of type `target`, dates in field
/// order `order`.
pub fn text_to_array(
    array: &datafusion::arrow::array::ArrayRef,
    target: &DataType,
    order: DateInput,
) -> Result<datafusion::arrow::array::ArrayRef, SqlError> {
    use datafusion::arrow::array::{Array, AsArray};
    let text = datafusion::arrow::compute::cast(array, &DataType::Utf8)?;
    let text = text.as_string::<i32>();
    let mut rows = Vec::with_capacity(text.len());
    let mut last = String::new();
    for t in text.iter() {
        rows.push(match t {
            None => None,
            Some(t) => {
                last = t.to_owned();
                let chars: Vec<char> = t.trim().chars().collect();
                if chars.first() != Some(&'{') {
                    return Err(malformed_array(
                        t,
                        "Array value must start with \"{\" or dimension information.",
                    ));
                }
                let mut pos = 0;
                let items = parse_array_level(t, &chars, &mut pos)?;
                if chars[pos..].iter().any(|c| !c.is_whitespace()) {
                    return Err(malformed_array(t, "Junk after closing right brace."));
                }
                Some(items)
            }
        });
    }
    array_values(rows, target, order, &|| last.clone())
}

/// `bytea_in(text)`: text read as PostgreSQL's bytea input.
fn bytea_in_udf() -> ScalarUDF {
    use datafusion::arrow::array::{AsArray, BinaryArray};
    datafusion::logical_expr::create_udf(
        "bytea_in",
        vec![DataType::Utf8],
        DataType::Binary,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let scalar = crate::functions::all_scalar(args);
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let text = datafusion::arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
            let out = text
                .as_string::<i32>()
                .iter()
                .map(|t| t.map(crate::eval::parse_bytea).transpose())
                .collect::<Result<BinaryArray, SqlError>>()
                .map_err(SqlError::into_datafusion)?;
            crate::functions::columnar_result(Arc::new(out), scalar)
        }),
    )
}

/// `pg_datetime_in(text)`: text read as a date or timestamp of one type, in one field order.
#[derive(Debug)]
struct DateTimeIn {
    target: DataType,
    order: DateInput,
    signature: Signature,
}

impl DateTimeIn {
    fn new(target: DataType, order: DateInput) -> DateTimeIn {
        DateTimeIn {
            target,
            order,
            // Stable, not immutable: `now` and `today` read the clock.
            signature: Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![DataType::Utf8]),
                    TypeSignature::Exact(vec![DataType::LargeUtf8]),
                    TypeSignature::Exact(vec![DataType::Utf8View]),
                ],
                Volatility::Stable,
            ),
        }
    }
}

impl PartialEq for DateTimeIn {
    fn eq(&self, other: &Self) -> bool {
        self.target == other.target && self.order == other.order
    }
}
impl Eq for DateTimeIn {}
impl Hash for DateTimeIn {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.target.hash(state);
        self.order.hash(state);
    }
}

impl ScalarUDFImpl for DateTimeIn {
    fn name(&self) -> &str {
        "pg_datetime_in"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.target.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = matches!(args.args.first(), Some(ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out = crate::datetime::text_to_datetime(&arrays[0], &self.target, self.order)
            .map_err(SqlError::into_datafusion)?;
        crate::functions::columnar_result(out, scalar)
    }
}
