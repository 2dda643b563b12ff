//! PostgreSQL's `numeric` beyond what Arrow's Decimal128 does by itself: the special values
//! NaN, Infinity and -Infinity, numeric text input (`1.5e3`, `' NaN '`), and arithmetic
//! that follows PostgreSQL's rules for the special values.
//!
//! A Decimal128 holds at most 38 digits, so every finite value lies within ±(10^38 - 1) and
//! the i128 values outside that range are free. The special values are stored there, chosen
//! so that the plain integer order of i128 is PostgreSQL's order of numeric values:
//! `-Infinity < every number < Infinity < NaN`, and NaN equals NaN. Comparisons, sorting,
//! grouping, joins, min/max and zone maps therefore need nothing special. Everything that
//! computes with a value (arithmetic, rescaling casts, functions, sums) goes through
//! [`PgNumeric`], which gives PostgreSQL's answer for the special values or, where Basalt
//! does not compute one yet, refuses them with 0A000 rather than compute on the stand-in.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Decimal128Array, Float64Array, StringArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::kernels::numeric as kernels;
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result as DfResult, ScalarValue};
use datafusion::logical_expr::expr::{AggregateFunction, Cast, ScalarFunction, WindowFunction};
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility, WindowFunctionDefinition,
};
use datafusion::optimizer::AnalyzerRule;

use basalt_common::types::{NUMERIC_DEFAULT_PRECISION, NUMERIC_DEFAULT_SCALE};

use crate::error::{SqlError, SqlResult};

/// The largest finite value a Decimal128 holds (38 nines, at any scale).
pub const MAX_FINITE: i128 = 99_999_999_999_999_999_999_999_999_999_999_999_999;
/// `NaN`: above every other value, as PostgreSQL sorts it.
pub const NAN: i128 = i128::MAX;
/// `Infinity`.
pub const POS_INF: i128 = i128::MAX - 1;
/// `-Infinity`.
pub const NEG_INF: i128 = i128::MIN;

/// Whether a stored value is one of the special values rather than a number.
pub fn is_special(v: i128) -> bool {
    !(-MAX_FINITE..=MAX_FINITE).contains(&v)
}

/// PostgreSQL's spelling of a special value.
pub fn special_text(v: i128) -> Option<&'static str> {
    match v {
        NAN => Some("NaN"),
        POS_INF => Some("Infinity"),
        NEG_INF => Some("-Infinity"),
        _ => None,
    }
}

/// Whether `(precision, scale)` is the type of a `numeric` declared without a modifier.
pub fn is_unconstrained(precision: u8, scale: i8) -> bool {
    precision == NUMERIC_DEFAULT_PRECISION && scale == NUMERIC_DEFAULT_SCALE
}

/// The error for a value that does not fit `numeric(precision, scale)`, with PostgreSQL's
/// DETAIL (an unconstrained numeric says what Basalt's storage holds).
fn field_overflow(precision: u8, scale: i8, infinite: bool) -> SqlError {
    let detail = if is_unconstrained(precision, scale) {
        format!(
            "Basalt stores numeric without a precision in 38 digits, {} of them after the \
             decimal point.",
            NUMERIC_DEFAULT_SCALE
        )
    } else if infinite {
        format!("A field with precision {precision}, scale {scale} cannot hold an infinite value.")
    } else {
        let digits = i32::from(precision) - i32::from(scale);
        let bound = if digits != 0 {
            format!("10^{digits}")
        } else {
            "1".into()
        };
        format!(
            "A field with precision {precision}, scale {scale} must round to an absolute value \
             less than {bound}."
        )
    };
    SqlError::NumericOverflow { detail }
}

/// Stores values into a column declared `numeric(precision, scale)` with a negative scale
/// or a scale above the precision (`basalt_common::types::decimal_storage`). `array` holds
/// the values as Decimal128 at scale `max(scale, 0)` or finer; each is rounded half away from
/// zero to the declared scale and must stay below 10^(precision - scale), as PostgreSQL's
/// `apply_typmod` has it. NaN stays NaN; the infinities do not fit.
pub fn fit_typmod(array: &ArrayRef, precision: u8, scale: i8) -> SqlResult<ArrayRef> {
    let DataType::Decimal128(_, from) = array.data_type() else {
        return Err(SqlError::Internal(format!(
            "numeric typmod applied to {}",
            array.data_type()
        )));
    };
    let (stored_p, stored_s) = basalt_common::types::decimal_storage(precision, scale);
    // Units of the input per unit of the declared scale, and of the stored scale.
    let places = u32::try_from(i32::from(*from) - i32::from(scale))
        .map_err(|_| SqlError::Internal("numeric typmod input is too coarse".into()))?;
    let per_unit = 10i128
        .checked_pow(places)
        .ok_or_else(|| field_overflow(precision, scale, false))?;
    let back = 10i128.pow(u32::from(stored_s.abs_diff(scale)));
    let bound = 10i128.pow(u32::from(precision));
    let values = array
        .as_any()
        .downcast_ref::<Decimal128Array>()
        .ok_or_else(|| SqlError::Internal("numeric typmod input is not Decimal128".into()))?;
    let mut out = Vec::with_capacity(values.len());
    for v in values.iter() {
        out.push(match v {
            None => None,
            Some(NAN) => Some(NAN),
            Some(v) if is_special(v) => return Err(field_overflow(precision, scale, true)),
            Some(v) => {
                let half = per_unit / 2;
                let units = if v >= 0 {
                    (v + half) / per_unit
                } else {
                    (v - half) / per_unit
                };
                if units.abs() >= bound {
                    return Err(field_overflow(precision, scale, false));
                }
                Some(units * back)
            }
        });
    }
    let out = Decimal128Array::from(out).with_precision_and_scale(stored_p, stored_s)?;
    Ok(Arc::new(out))
}

/// The scale a value is brought to before [`fit_typmod`]: the declared scale when it is
/// positive, otherwise as fine as 38 digits allow (at most the unconstrained type's scale),
/// so that rounding to a negative scale happens once.
pub fn typmod_input_scale(precision: u8, scale: i8) -> i8 {
    if scale >= 0 {
        scale
    } else {
        let whole = i16::from(precision) - i16::from(scale);
        (38 - whole).clamp(0, i16::from(NUMERIC_DEFAULT_SCALE)) as i8
    }
}

/// The error for a value converted on its way into `numeric(precision, scale)`: an overflow
/// is reported against the declared type.
pub fn typmod_error(e: SqlError, precision: u8, scale: i8) -> SqlError {
    match e {
        SqlError::NumericOverflow { detail } => {
            field_overflow(precision, scale, detail.contains("infinite"))
        }
        other => other,
    }
}

/// [`parse`] for a column's declared type, whatever its scale.
pub fn parse_typmod(text: &str, precision: u8, scale: i8) -> SqlResult<i128> {
    let ty = basalt_common::SqlType::Numeric { precision, scale };
    if ty.numeric_typmod_beyond_decimal().is_none() {
        return parse(text, precision, scale);
    }
    let input = typmod_input_scale(precision, scale);
    let v = parse(text, basalt_common::types::NUMERIC_MAX_PRECISION, input)
        .map_err(|e| typmod_error(e, precision, scale))?;
    let one: ArrayRef =
        Arc::new(Decimal128Array::from(vec![v]).with_precision_and_scale(38, input)?);
    let fitted = fit_typmod(&one, precision, scale)?;
    let fitted = fitted
        .as_any()
        .downcast_ref::<Decimal128Array>()
        .ok_or_else(|| SqlError::Internal("numeric typmod output is not Decimal128".into()))?;
    Ok(fitted.value(0))
}

/// Reads numeric text as PostgreSQL's `numeric_in` does (surrounding blanks, a sign, digits
/// with at most one point, an exponent, `NaN`, `Infinity`, `inf`) and returns the value at
/// `scale`, rounded half away from zero, checked against `precision`.
pub fn parse(text: &str, precision: u8, scale: i8) -> SqlResult<i128> {
    let bad =
        || SqlError::InvalidText(format!("invalid input syntax for type numeric: \"{text}\""));
    let t = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let lower = t.to_ascii_lowercase();
    let special = match lower.as_str() {
        "nan" => Some(NAN),
        "infinity" | "+infinity" | "inf" | "+inf" => Some(POS_INF),
        "-infinity" | "-inf" => Some(NEG_INF),
        _ => None,
    };
    if let Some(v) = special {
        if v != NAN && !is_unconstrained(precision, scale) {
            return Err(field_overflow(precision, scale, true));
        }
        return Ok(v);
    }
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => {
            let e = &body[i + 1..];
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            // PostgreSQL refuses exponents beyond ±1000 digits as malformed input.
            let e: i64 = e.parse().map_err(|_| bad())?;
            if !(-1000..=1000).contains(&e) {
                return Err(bad());
            }
            (&body[..i], e)
        }
        None => (body, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    // The value is `digits × 10^(exponent - fraction digits)`; move it to `scale`.
    let digits: Vec<u8> = int_part
        .bytes()
        .chain(frac_part.bytes())
        .map(|b| b - b'0')
        .collect();
    let shift = exponent - frac_part.len() as i64 + i64::from(scale);
    let (kept, round_up) = if shift >= 0 {
        (digits.clone(), false)
    } else {
        let drop = usize::try_from(-shift).unwrap_or(usize::MAX);
        if drop > digits.len() {
            (Vec::new(), false)
        } else {
            let cut = digits.len() - drop;
            (digits[..cut].to_vec(), digits[cut] >= 5)
        }
    };
    let overflow = || field_overflow(precision, scale, false);
    let mut v: i128 = 0;
    for d in kept.iter().skip_while(|d| **d == 0) {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(i128::from(*d)))
            .ok_or_else(overflow)?;
    }
    if shift > 0 && v != 0 {
        let factor = u32::try_from(shift)
            .ok()
            .and_then(|s| 10i128.checked_pow(s))
            .ok_or_else(overflow)?;
        v = v.checked_mul(factor).ok_or_else(overflow)?;
    }
    if round_up {
        v = v.checked_add(1).ok_or_else(overflow)?;
    }
    let limit = 10i128
        .checked_pow(u32::from(precision.min(38)))
        .unwrap_or(i128::MAX);
    if v >= limit || v > MAX_FINITE {
        return Err(overflow());
    }
    Ok(if neg { -v } else { v })
}

/// A value as PostgreSQL prints it: the special words, else digits with `scale` decimals.
pub fn text(v: i128, scale: i8) -> String {
    if let Some(word) = special_text(v) {
        return word.to_owned();
    }
    let digits = v.unsigned_abs().to_string();
    let sign = if v < 0 { "-" } else { "" };
    if scale <= 0 {
        let zeros = "0".repeat(usize::from(scale.unsigned_abs()));
        return if v == 0 {
            "0".into()
        } else {
            format!("{sign}{digits}{zeros}")
        };
    }
    let scale = usize::from(scale as u8);
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int_part, frac_part) = padded.split_at(padded.len() - scale);
    format!("{sign}{int_part}.{frac_part}")
}

/// A numeric column as text, as PostgreSQL prints it (NaN and the infinities as words).
pub fn to_text(array: &ArrayRef) -> SqlResult<ArrayRef> {
    let DataType::Decimal128(_, scale) = array.data_type() else {
        return Err(SqlError::Internal(format!(
            "numeric text of {}",
            array.data_type()
        )));
    };
    let out: StringArray = decimals(array)?
        .iter()
        .map(|v| v.map(|v| text(v, *scale)))
        .collect();
    Ok(Arc::new(out))
}

/// Reads a text column as numeric values of type `target` (a Decimal128).
pub fn text_to_numeric(array: &ArrayRef, target: &DataType) -> SqlResult<ArrayRef> {
    let DataType::Decimal128(precision, scale) = *target else {
        return Err(SqlError::Internal(format!("numeric input into {target}")));
    };
    let text = cast_with_options(array, &DataType::Utf8, &CastOptions::default())?;
    let text = text
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| SqlError::Internal("numeric input expects text".into()))?;
    let values = text
        .iter()
        .map(|t| t.map(|t| parse(t, precision, scale)).transpose())
        .collect::<SqlResult<Decimal128Array>>()?;
    Ok(Arc::new(values.with_precision_and_scale(precision, scale)?))
}

fn decimals(array: &ArrayRef) -> DfResult<&Decimal128Array> {
    array
        .as_any()
        .downcast_ref::<Decimal128Array>()
        .ok_or_else(|| SqlError::Internal("numeric value expected".into()).into_datafusion())
}

/// Whether a value of `d` may be special: the bound of the values' magnitude says (one pass;
/// `false` proves there is none).
pub(crate) fn may_hold_special(d: &Decimal128Array) -> bool {
    magnitude(d) > MAX_FINITE as u128
}

fn has_special(array: &ArrayRef) -> DfResult<bool> {
    let d = decimals(array)?;
    Ok(magnitude(d) > MAX_FINITE as u128 && d.values().iter().any(|v| is_special(*v)))
}

/// A power of two at or above the magnitude of every stored value, null slots included (so
/// it may be larger than any valid value's, never smaller). It exceeds [`MAX_FINITE`]
/// whenever a special value may be present. One pass of bitwise operations that the
/// compiler vectorizes: each value's bits, sign folded away, are or-ed together.
fn magnitude(array: &Decimal128Array) -> u128 {
    // On the two 64-bit halves, which the compiler vectorizes (128-bit shifts it does not).
    let (lo, hi) = array.values().iter().fold((0u64, 0u64), |(lo, hi), &v| {
        let high = (v >> 64) as u64;
        let sign = ((high as i64) >> 63) as u64;
        (lo | (v as u64 ^ sign), hi | (high ^ sign))
    });
    let bits = if hi != 0 {
        128 - hi.leading_zeros()
    } else {
        64 - lo.leading_zeros()
    };
    1u128 << bits.min(127)
}

/// [`magnitude`] of one value.
fn magnitude_of(v: i128) -> u128 {
    1u128 << (128 - ((v ^ (v >> 127)) as u128).leading_zeros()).min(127)
}

/// Converts numbers between numeric types and to or from floating point, keeping the
/// special values: NaN stays NaN anywhere, and the infinities fit only an unconstrained
/// numeric or a float.
pub fn convert(array: &ArrayRef, target: &DataType) -> SqlResult<ArrayRef> {
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    match (array.data_type(), target) {
        (DataType::Decimal128(_, _), DataType::Decimal128(p, s)) => {
            let a = decimals(array)?;
            if magnitude(a) <= MAX_FINITE as u128 {
                return cast_with_options(array, target, &options)
                    .map_err(|_| overflow_of(target, false));
            }
            // Rescale the numbers with the specials held at zero, then put the specials back.
            let zeroed: Decimal128Array = a
                .iter()
                .map(|v| v.map(|v| if is_special(v) { 0 } else { v }))
                .collect::<Decimal128Array>()
                .with_data_type(array.data_type().clone());
            let scaled = cast_with_options(&(Arc::new(zeroed) as ArrayRef), target, &options)
                .map_err(|_| overflow_of(target, false))?;
            let scaled = decimals(&scaled)?;
            let out = a
                .iter()
                .zip(scaled.iter())
                .map(|(v, scaled)| match v {
                    Some(v) if v != NAN && is_special(v) && !is_unconstrained(*p, *s) => {
                        Err(overflow_of(target, true))
                    }
                    Some(v) if is_special(v) => Ok(Some(v)),
                    _ => Ok(scaled),
                })
                .collect::<SqlResult<Decimal128Array>>()?;
            Ok(Arc::new(out.with_precision_and_scale(*p, *s)?))
        }
        (DataType::Decimal128(_, scale), DataType::Float32 | DataType::Float64) => {
            let a = decimals(array)?;
            let div = 10f64.powi(i32::from(*scale));
            let out: Float64Array = a
                .iter()
                .map(|v| {
                    v.map(|v| match v {
                        NAN => f64::NAN,
                        POS_INF => f64::INFINITY,
                        NEG_INF => f64::NEG_INFINITY,
                        // Through the decimal text, as PostgreSQL converts (exactly rounded).
                        v => text(v, *scale).parse().unwrap_or(v as f64 / div),
                    })
                })
                .collect();
            Ok(cast_with_options(
                &(Arc::new(out) as ArrayRef),
                target,
                &options,
            )?)
        }
        (from @ (DataType::Float32 | DataType::Float64), DataType::Decimal128(p, s)) => {
            // PostgreSQL converts through the float's text with 15 significant digits
            // (6 for real).
            let digits = if from == &DataType::Float32 { 5 } else { 14 };
            let f = cast_with_options(array, &DataType::Float64, &options)?;
            let f = f
                .as_any()
                .downcast_ref::<Float64Array>()
                .ok_or_else(|| SqlError::Internal("float expected".into()))?;
            let out = f
                .iter()
                .map(|v| {
                    v.map(|v| {
                        if v.is_nan() {
                            Ok(NAN)
                        } else if v.is_infinite() {
                            if is_unconstrained(*p, *s) {
                                Ok(if v > 0.0 { POS_INF } else { NEG_INF })
                            } else {
                                Err(field_overflow(*p, *s, true))
                            }
                        } else {
                            parse(&format!("{v:.digits$e}"), *p, *s)
                        }
                    })
                    .transpose()
                })
                .collect::<SqlResult<Decimal128Array>>()?;
            Ok(Arc::new(out.with_precision_and_scale(*p, *s)?))
        }
        _ => Ok(cast_with_options(array, target, &options)?),
    }
}

/// The overflow error for a value that does not fit `target`.
fn overflow_of(target: &DataType, infinite: bool) -> SqlError {
    match target {
        DataType::Decimal128(p, s) => field_overflow(*p, *s, infinite),
        _ => SqlError::OutOfRange("numeric field overflow".into()),
    }
}

/// The arithmetic operators of numeric, with PostgreSQL's results for the special values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Neg,
}

impl ArithOp {
    fn of(op: Operator) -> Option<ArithOp> {
        Some(match op {
            Operator::Plus => ArithOp::Add,
            Operator::Minus => ArithOp::Sub,
            Operator::Multiply => ArithOp::Mul,
            Operator::Divide => ArithOp::Div,
            Operator::Modulo => ArithOp::Mod,
            _ => return None,
        })
    }

    /// The result where an operand is special (`None`: a finite result the kernel computes).
    fn special(self, a: i128, b: i128) -> SqlResult<Option<i128>> {
        let sign = |v: i128| v.signum();
        let inf = |s: i128| if s < 0 { NEG_INF } else { POS_INF };
        let (ai, bi) = (a == POS_INF || a == NEG_INF, b == POS_INF || b == NEG_INF);
        if a == NAN || b == NAN {
            return Ok(Some(NAN));
        }
        if !ai && !bi {
            return Ok(None);
        }
        let sa = if a == NEG_INF { -1 } else { sign(a) };
        let sb = if b == NEG_INF { -1 } else { sign(b) };
        Ok(Some(match self {
            ArithOp::Add if ai && bi && a != b => NAN,
            ArithOp::Add => inf(if ai { sa } else { sb }),
            ArithOp::Sub if ai && bi && a == b => NAN,
            ArithOp::Sub => inf(if ai { sa } else { -sb }),
            ArithOp::Mul if sa == 0 || sb == 0 => NAN,
            ArithOp::Mul => inf(sa * sb),
            ArithOp::Div if ai && bi => NAN,
            ArithOp::Div if ai && sb == 0 => return Err(SqlError::DivisionByZero),
            ArithOp::Div if ai => inf(sa * sb),
            ArithOp::Div => 0,
            ArithOp::Mod if ai && sb == 0 => return Err(SqlError::DivisionByZero),
            ArithOp::Mod if ai => NAN,
            ArithOp::Mod => a,
            ArithOp::Neg => inf(-sa),
        }))
    }
}

/// A finite value at scale `from` moved to scale `to` (exactly, or refused as an overflow).
fn rescale(v: i128, from: i8, to: i8) -> SqlResult<i128> {
    let overflow = || SqlError::OutOfRange("value overflows numeric format".into());
    let diff = i32::from(to) - i32::from(from);
    let factor = 10i128
        .checked_pow(diff.unsigned_abs())
        .ok_or_else(overflow)?;
    let v = if diff >= 0 {
        v.checked_mul(factor).ok_or_else(overflow)?
    } else {
        v / factor
    };
    if is_special(v) {
        return Err(overflow());
    }
    Ok(v)
}

/// `numeric_op(a, b)`: one arithmetic operator on numeric values; its result type is the
/// one DataFusion gave the operator it replaces.
#[derive(Debug)]
struct NumericOp {
    op: ArithOp,
    result: DataType,
    signature: Signature,
}

impl PartialEq for NumericOp {
    fn eq(&self, other: &Self) -> bool {
        self.op == other.op && self.result == other.result
    }
}
impl Eq for NumericOp {}
impl Hash for NumericOp {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.op.hash(state);
        self.result.hash(state);
    }
}

impl ScalarUDFImpl for NumericOp {
    fn name(&self) -> &str {
        "numeric_op"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.result.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = crate::functions::all_scalar(&args.args);
        if !scalar {
            if let Some(out) = self.bounded(&args.args) {
                return Ok(ColumnarValue::Array(out));
            }
        }
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out = self.compute(&arrays).map_err(SqlError::into_datafusion)?;
        crate::functions::columnar_result(out, scalar)
    }
}

/// One operand of [`NumericOp::bounded`]: a column, or one non-NULL value for every row.
#[derive(Clone)]
struct Operand<'a> {
    values: Values<'a>,
    data_type: DataType,
}

#[derive(Clone)]
enum Values<'a> {
    Column(&'a Decimal128Array),
    Same(i128),
}

impl<'a> Operand<'a> {
    fn of(arg: &'a ColumnarValue) -> Option<Operand<'a>> {
        match arg {
            ColumnarValue::Array(a) => {
                let column = a.as_any().downcast_ref::<Decimal128Array>()?;
                Some(Operand {
                    values: Values::Column(column),
                    data_type: a.data_type().clone(),
                })
            }
            ColumnarValue::Scalar(ScalarValue::Decimal128(Some(v), p, s)) => Some(Operand {
                values: Values::Same(*v),
                data_type: DataType::Decimal128(*p, *s),
            }),
            ColumnarValue::Scalar(_) => None,
        }
    }

    fn magnitude(&self) -> u128 {
        match self.values {
            Values::Column(c) => magnitude(c),
            Values::Same(v) => magnitude_of(v),
        }
    }

    /// `f` on the operands row by row; `None` when neither is a column.
    fn apply(a: &Self, b: &Self, f: impl Fn(i128, i128) -> i128) -> Option<Vec<i128>> {
        Some(match (&a.values, &b.values) {
            (Values::Column(x), Values::Column(y)) => x
                .values()
                .iter()
                .zip(y.values().iter())
                .map(|(&x, &y)| f(x, y))
                .collect(),
            (Values::Column(x), &Values::Same(c)) => x.values().iter().map(|&x| f(x, c)).collect(),
            (&Values::Same(c), Values::Column(y)) => y.values().iter().map(|&y| f(c, y)).collect(),
            (Values::Same(_), Values::Same(_)) => return None,
        })
    }
}

impl NumericOp {
    fn compute(&self, arrays: &[ArrayRef]) -> SqlResult<ArrayRef> {
        let (a, b) = match (self.op, arrays) {
            (ArithOp::Neg, [a]) => (a, a),
            (_, [a, b]) => (a, b),
            _ => return Err(SqlError::Internal("numeric_op arguments".into())),
        };
        let (da, db) = (decimals(a)?, decimals(b)?);
        let special = has_special(a)? || (self.op != ArithOp::Neg && has_special(b)?);
        if !special {
            return self.kernel(a, b);
        }
        // Compute the finite rows with the special ones held at 0 / 1, then patch those.
        let rows: Vec<bool> = (0..da.len())
            .map(|i| {
                let sa = da.is_valid(i) && is_special(da.value(i));
                let sb = self.op != ArithOp::Neg && db.is_valid(i) && is_special(db.value(i));
                sa || sb
            })
            .collect();
        let held = |d: &Decimal128Array, with: i128| -> ArrayRef {
            let v: Decimal128Array = d
                .iter()
                .zip(&rows)
                .map(|(v, s)| if *s { v.map(|_| with) } else { v })
                .collect::<Decimal128Array>()
                .with_data_type(d.data_type().clone());
            Arc::new(v)
        };
        let finite = self.kernel(&held(da, 0), &held(db, 1))?;
        let (DataType::Decimal128(_, s_a), DataType::Decimal128(_, s_r)) =
            (da.data_type(), &self.result)
        else {
            return Err(SqlError::Internal("numeric_op types".into()));
        };
        let s_a = *s_a;
        let finite = decimals(&finite)?;
        let out = (0..da.len())
            .map(|i| {
                if !rows[i] || finite.is_null(i) {
                    return Ok(finite.is_valid(i).then(|| finite.value(i)));
                }
                let y = if self.op == ArithOp::Neg {
                    0
                } else {
                    db.value(i)
                };
                match self.op.special(da.value(i), y)? {
                    None => Ok(Some(finite.value(i))),
                    Some(v) if is_special(v) || v == 0 => Ok(Some(v)),
                    // x % ±Infinity is x, moved to the result's scale.
                    Some(v) => rescale(v, s_a, *s_r).map(Some),
                }
            })
            .collect::<SqlResult<Decimal128Array>>()?;
        Ok(Arc::new(out.with_data_type(self.result.clone())))
    }

    /// The operator without per-value overflow checks, where the operands' magnitudes prove
    /// that no result can leave the result type's precision (and so that no operand is a
    /// special value): the common case of prices times rates, which the checked kernels
    /// spend most of their time on. A single-value operand stays one value. Where operands
    /// and result all fit 64 bits, the arithmetic is done in 64 bits. `None` where that is
    /// not proven, for a NULL single value, or for division and remainder, which go through
    /// [`NumericOp::kernel`].
    fn bounded(&self, args: &[ColumnarValue]) -> Option<ArrayRef> {
        let a = Operand::of(args.first()?)?;
        let b = match args.get(1) {
            Some(b) => Operand::of(b)?,
            None => a.clone(),
        };
        let (
            DataType::Decimal128(_, sa),
            DataType::Decimal128(_, sb),
            DataType::Decimal128(pr, sr),
        ) = (&a.data_type, &b.data_type, &self.result)
        else {
            return None;
        };
        let (sa, sb, sr) = (
            u32::try_from(*sa).ok()?,
            u32::try_from(*sb).ok()?,
            u32::try_from(*sr).ok()?,
        );
        let limit = 10u128.checked_pow(u32::from(*pr))? - 1;
        let (ma, mb) = (a.magnitude(), b.magnitude());
        // Every operand and every result fits 64 bits.
        let narrow = |bound: u128| ma <= 1 << 63 && mb <= 1 << 63 && bound < 1 << 63;
        let values: Vec<i128> = match self.op {
            ArithOp::Neg => {
                if sr != sa || ma > limit {
                    return None;
                }
                Operand::apply(&a, &a, |x, _| x.wrapping_neg())?
            }
            ArithOp::Mul => {
                let bound = ma.checked_mul(mb)?;
                if sr != sa + sb || bound > limit {
                    return None;
                }
                if narrow(bound) {
                    Operand::apply(&a, &b, |x, y| i128::from((x as i64).wrapping_mul(y as i64)))?
                } else {
                    Operand::apply(&a, &b, i128::wrapping_mul)?
                }
            }
            ArithOp::Add | ArithOp::Sub => {
                if sr != sa.max(sb) {
                    return None;
                }
                let fa = 10i128.checked_pow(sr - sa)?;
                let fb = 10i128.checked_pow(sr - sb)?;
                let bound = ma
                    .checked_mul(fa.unsigned_abs())?
                    .checked_add(mb.checked_mul(fb.unsigned_abs())?)?;
                if bound > limit {
                    return None;
                }
                // a - b is a + (-b): the second operand's scale factor carries the sign.
                let fb = if self.op == ArithOp::Sub { -fb } else { fb };
                match (fa, fb, narrow(bound)) {
                    (1, 1, true) => Operand::apply(&a, &b, |x, y| {
                        i128::from((x as i64).wrapping_add(y as i64))
                    })?,
                    (1, -1, true) => Operand::apply(&a, &b, |x, y| {
                        i128::from((x as i64).wrapping_sub(y as i64))
                    })?,
                    (1, 1, false) => Operand::apply(&a, &b, i128::wrapping_add)?,
                    (1, -1, false) => Operand::apply(&a, &b, i128::wrapping_sub)?,
                    _ => Operand::apply(&a, &b, |x, y| {
                        x.wrapping_mul(fa).wrapping_add(y.wrapping_mul(fb))
                    })?,
                }
            }
            ArithOp::Div | ArithOp::Mod => return None,
        };
        let nulls = match (&a.values, &b.values) {
            (Values::Column(x), Values::Column(y)) if self.op != ArithOp::Neg => {
                NullBuffer::union(x.nulls(), y.nulls())
            }
            (Values::Column(x), _) | (_, Values::Column(x)) => x.nulls().cloned(),
            _ => None,
        };
        let out = Decimal128Array::new(values.into(), nulls).with_data_type(self.result.clone());
        Some(Arc::new(out))
    }

    /// The operator on finite values, with Arrow's checked kernels (an overflow is an error,
    /// never a wrapped value), in the result type.
    fn kernel(&self, a: &ArrayRef, b: &ArrayRef) -> SqlResult<ArrayRef> {
        if self.op == ArithOp::Div {
            return divide_rounded(decimals(a)?, decimals(b)?, &self.result);
        }
        let r = match self.op {
            ArithOp::Add => kernels::add(a, b),
            ArithOp::Sub => kernels::sub(a, b),
            ArithOp::Mul => kernels::mul(a, b),
            ArithOp::Div => kernels::div(a, b),
            ArithOp::Mod => kernels::rem(a, b),
            ArithOp::Neg => kernels::neg(a),
        };
        let r = r.map_err(|e| {
            let msg = e.to_string().to_lowercase();
            if msg.contains("divide by zero") || msg.contains("division by zero") {
                SqlError::DivisionByZero
            } else {
                SqlError::OutOfRange("value overflows numeric format".into())
            }
        })?;
        let r = if r.data_type() == &self.result {
            r
        } else {
            let options = CastOptions {
                safe: false,
                ..CastOptions::default()
            };
            cast_with_options(&r, &self.result, &options)
                .map_err(|_| SqlError::OutOfRange("value overflows numeric format".into()))?
        };
        if has_special(&r)? {
            return Err(SqlError::OutOfRange(
                "value overflows numeric format".into(),
            ));
        }
        Ok(r)
    }
}

/// `a / b` at the result type's scale, rounded half away from zero as PostgreSQL rounds a
/// numeric quotient (Arrow's decimal division truncates: `2.0 / 3` would end in …666). The
/// quotient is computed in 256 bits with one guard digit; a result beyond the result type's
/// precision is an overflow, a zero divisor 22012.
fn divide_rounded(
    a: &Decimal128Array,
    b: &Decimal128Array,
    result: &DataType,
) -> SqlResult<ArrayRef> {
    use datafusion::arrow::datatypes::i256;
    let overflow = || SqlError::OutOfRange("value overflows numeric format".into());
    let (DataType::Decimal128(_, sa), DataType::Decimal128(_, sb), DataType::Decimal128(pr, sr)) =
        (a.data_type(), b.data_type(), result)
    else {
        return Err(SqlError::Internal("numeric division types".into()));
    };
    // quotient * 10^sr = (x / 10^sa) / (y / 10^sb) * 10^sr = x * 10^e / y, one digit more.
    let e = i32::from(*sr) - i32::from(*sa) + i32::from(*sb) + 1;
    let ten = i256::from_i128(10);
    let pow =
        |n: i32| -> SqlResult<i256> { ten.checked_pow(n.unsigned_abs()).ok_or_else(overflow) };
    let (num_factor, den_factor) = if e >= 0 {
        (pow(e)?, i256::ONE)
    } else {
        (i256::ONE, pow(-e)?)
    };
    let limit = pow(i32::from(*pr))?;
    let len = a.len().max(b.len());
    let at = |d: &Decimal128Array, i: usize| {
        let i = if d.len() == 1 { 0 } else { i };
        d.is_valid(i).then(|| d.value(i))
    };
    let out = (0..len)
        .map(|i| {
            let (Some(x), Some(y)) = (at(a, i), at(b, i)) else {
                return Ok(None);
            };
            if y == 0 {
                return Err(SqlError::DivisionByZero);
            }
            let num = i256::from_i128(x)
                .checked_mul(num_factor)
                .ok_or_else(overflow)?;
            let den = i256::from_i128(y)
                .checked_mul(den_factor)
                .ok_or_else(overflow)?;
            let q10 = num.checked_div(den).ok_or_else(overflow)?;
            let half = if q10.is_negative() {
                i256::from_i128(-5)
            } else {
                i256::from_i128(5)
            };
            let q = q10
                .checked_add(half)
                .and_then(|v| v.checked_div(ten))
                .ok_or_else(overflow)?;
            if q.wrapping_abs() >= limit {
                return Err(overflow());
            }
            q.to_i128().map(Some).ok_or_else(overflow)
        })
        .collect::<SqlResult<Decimal128Array>>()?;
    Ok(Arc::new(out.with_data_type(result.clone())))
}

/// The function a cast to `numeric(p, s)` with a negative scale or a scale above the
/// precision is rewritten to: `pg_numeric_typmod(x::numeric(38, in), p, s)`.
pub const TYPMOD_FUNCTION: &str = "pg_numeric_typmod";

/// `pg_numeric_typmod(x, p, s)`: [`fit_typmod`] as a function; `p` and `s` are constants.
#[derive(Debug, PartialEq, Eq, Hash)]
struct NumericTypmod {
    signature: Signature,
}

fn typmod_args(scalars: &[Option<&ScalarValue>]) -> DfResult<(u8, i8)> {
    let int = |i: usize| match scalars.get(i).copied().flatten() {
        Some(ScalarValue::Int64(Some(v))) => Some(*v),
        _ => None,
    };
    match (int(1), int(2)) {
        (Some(p), Some(s)) => Ok((
            u8::try_from(p).map_err(|e| SqlError::Internal(e.to_string()).into_datafusion())?,
            i8::try_from(s).map_err(|e| SqlError::Internal(e.to_string()).into_datafusion())?,
        )),
        _ => Err(
            SqlError::Internal(format!("{TYPMOD_FUNCTION} takes a constant typmod"))
                .into_datafusion(),
        ),
    }
}

impl ScalarUDFImpl for NumericTypmod {
    fn name(&self) -> &str {
        TYPMOD_FUNCTION
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Err(SqlError::Internal(format!("{TYPMOD_FUNCTION} needs its typmod")).into_datafusion())
    }
    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> DfResult<datafusion::arrow::datatypes::FieldRef> {
        let (p, s) = typmod_args(args.scalar_arguments)?;
        let (p, s) = basalt_common::types::decimal_storage(p, s);
        // NULL only for a NULL value (the plans around keep the value's nullability).
        let nullable = args.arg_fields.first().is_none_or(|f| f.is_nullable());
        Ok(Arc::new(datafusion::arrow::datatypes::Field::new(
            TYPMOD_FUNCTION,
            DataType::Decimal128(p, s),
            nullable,
        )))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalars: Vec<Option<&ScalarValue>> = args
            .args
            .iter()
            .map(|a| match a {
                ColumnarValue::Scalar(v) => Some(v),
                ColumnarValue::Array(_) => None,
            })
            .collect();
        let (p, s) = typmod_args(&scalars)?;
        let scalar = crate::functions::all_scalar(&args.args[..1]);
        let arrays = ColumnarValue::values_to_arrays(&args.args[..1])?;
        let out = fit_typmod(&arrays[0], p, s).map_err(SqlError::into_datafusion)?;
        crate::functions::columnar_result(out, scalar)
    }
}

pub fn typmod_udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(NumericTypmod {
        signature: Signature::any(3, Volatility::Immutable),
    })
}

/// `numeric_convert(x)`: [`convert`] as a function of one argument.
#[derive(Debug)]
struct NumericConvert {
    target: DataType,
    signature: Signature,
}

impl PartialEq for NumericConvert {
    fn eq(&self, other: &Self) -> bool {
        self.target == other.target
    }
}
impl Eq for NumericConvert {}
impl Hash for NumericConvert {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.target.hash(state);
    }
}

impl ScalarUDFImpl for NumericConvert {
    fn name(&self) -> &str {
        "numeric_convert"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.target.clone())
    }

    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> DfResult<datafusion::arrow::datatypes::FieldRef> {
        // NULL only for a NULL value, as the cast it stands for.
        let nullable = args.arg_fields.first().is_none_or(|f| f.is_nullable());
        Ok(Arc::new(datafusion::arrow::datatypes::Field::new(
            self.name(),
            self.target.clone(),
            nullable,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = crate::functions::all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let from = &arrays[0];
        let out = if matches!(
            from.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ) {
            text_to_numeric(from, &self.target)
        } else {
            convert(from, &self.target)
        }
        .map_err(SqlError::into_datafusion)?;
        crate::functions::columnar_result(out, scalar)
    }
}

/// `numeric_finite(x)`: x, or an error where x is a special value, for the operations that
/// would otherwise compute on the stored stand-in. `what` names the operation.
#[derive(Debug)]
struct NumericFinite {
    what: String,
    to_integer: bool,
    signature: Signature,
}

impl PartialEq for NumericFinite {
    fn eq(&self, other: &Self) -> bool {
        self.what == other.what && self.to_integer == other.to_integer
    }
}
impl Eq for NumericFinite {}
impl Hash for NumericFinite {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.what.hash(state);
        self.to_integer.hash(state);
    }
}

impl ScalarUDFImpl for NumericFinite {
    fn name(&self) -> &str {
        "numeric_finite"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(arg_types.first().cloned().unwrap_or(DataType::Null))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let check = |v: i128| -> DfResult<()> {
            if !is_special(v) {
                return Ok(());
            }
            let word = if v == NAN { "NaN" } else { "infinity" };
            let e = if self.to_integer {
                SqlError::FeatureNotSupported(format!("cannot convert {word} to {}", self.what))
            } else {
                SqlError::FeatureNotSupported(format!(
                    "{} of numeric {} is not supported",
                    self.what,
                    special_text(v).unwrap_or("NaN")
                ))
            };
            Err(e.into_datafusion())
        };
        match &args.args[0] {
            ColumnarValue::Scalar(datafusion::common::ScalarValue::Decimal128(Some(v), _, _)) => {
                check(*v)?
            }
            ColumnarValue::Scalar(_) => {}
            ColumnarValue::Array(a) => {
                let d = decimals(a)?;
                if magnitude(d) <= MAX_FINITE as u128 {
                    return Ok(args.args[0].clone());
                }
                for i in 0..d.len() {
                    if d.is_valid(i) {
                        check(d.value(i))?;
                    }
                }
            }
        }
        Ok(args.args[0].clone())
    }
}

fn udf(f: impl ScalarUDFImpl + 'static, args: Vec<Expr>) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(f)),
        args,
    ))
}

fn finite(e: Expr, what: &str, to_integer: bool) -> Expr {
    let f = NumericFinite {
        what: what.to_owned(),
        to_integer,
        signature: Signature::any(1, Volatility::Immutable),
    };
    udf(f, vec![e])
}

/// Functions and aggregates that only compare or pass numeric values along, so the special
/// values need nothing from them.
const PASS_THROUGH: &[&str] = &[
    "numeric_op",
    "numeric_convert",
    "numeric_finite",
    TYPMOD_FUNCTION,
    // crate::srf's generate_series, which refuses the special values with PostgreSQL's errors.
    crate::srf::GENERATE_SERIES,
    "pg_text",
    // crate::pgmath's functions, which give PostgreSQL's answers for the special values.
    "width_bucket",
    "div",
    "scale",
    "min_scale",
    "trim_scale",
    // crate::tochar's, which print them as PostgreSQL does.
    "to_char",
    "coalesce",
    "nullif",
    "greatest",
    "least",
    "min",
    "max",
    "count",
    "first_value",
    "last_value",
    "nth_value",
    "lag",
    "lead",
    "any_value",
    "array_agg",
];

/// The analyzer rule that carries numeric's special values through a plan (see the module
/// comment). `text_input` reads text cast to numeric as PostgreSQL does (PostgreSQL
/// sessions).
#[derive(Debug)]
pub struct PgNumeric {
    pub text_input: bool,
}

impl AnalyzerRule for PgNumeric {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        crate::analyzer::rewrite_expressions(plan, |e, schema| self.rewrite(e, schema))
    }

    fn name(&self) -> &str {
        "basalt_pg_numeric"
    }
}

/// Whether a function or aggregate needs nothing from [`PgNumeric`] for the special values.
fn passes_through(name: &str) -> bool {
    PASS_THROUGH.contains(&name) || crate::pgfloat::FUNCTION_NAMES.contains(&name)
}

/// A numeric `sum` or `avg` not yet given [`crate::pgagg::NumericSpecials`].
fn sums_specials(
    f: &datafusion::logical_expr::AggregateUDF,
    args: &[Expr],
    schema: &DFSchema,
) -> bool {
    matches!(f.name(), "sum" | "avg")
        && !crate::pgagg::NumericSpecials::wraps(f)
        && args.first().is_some_and(|a| is_decimal(a, schema))
}

/// A comparison of two numerics of different declared types (a rewritten `round` has its
/// computed type, the other side the one coercion gave it): both sides cast to one type.
fn comparable_decimals(e: Expr, schema: &DFSchema) -> DfResult<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &e else {
        return Ok(Transformed::no(e));
    };
    let (DataType::Decimal128(lp, ls), DataType::Decimal128(rp, rs)) =
        (left.get_type(schema)?, right.get_type(schema)?)
    else {
        return Ok(Transformed::no(e));
    };
    if (lp, ls) == (rp, rs) {
        return Ok(Transformed::no(e));
    }
    let scale = ls.max(rs);
    let digits = |p: u8, s: i8| i16::from(p) - i16::from(s);
    let whole = digits(lp, ls).max(digits(rp, rs));
    let precision = (whole + i16::from(scale)).clamp(1, 38) as u8;
    let target = DataType::Decimal128(precision, scale);
    let cast = |x: &Expr| Expr::Cast(Cast::new(Box::new(x.clone()), target.clone()));
    Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr {
        left: Box::new(cast(left)),
        op: *op,
        right: Box::new(cast(right)),
    })))
}

fn is_decimal(e: &Expr, schema: &DFSchema) -> bool {
    matches!(e.get_type(schema), Ok(DataType::Decimal128(_, _)))
}

impl PgNumeric {
    fn rewrite(&self, e: Expr, schema: &DFSchema) -> DfResult<Transformed<Expr>> {
        match &e {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (l, r) = (is_decimal(left, schema), is_decimal(right, schema));
                if !l && !r {
                    return Ok(Transformed::no(e));
                }
                if op.supports_propagation() {
                    return comparable_decimals(e, schema);
                }
                let Some(op) = ArithOp::of(*op) else {
                    return Ok(Transformed::no(e));
                };
                let result = e.get_type(schema)?;
                if !(l && r && matches!(result, DataType::Decimal128(_, _))) {
                    return self.guard_children(e, schema, "arithmetic");
                }
                let f = NumericOp {
                    op,
                    result,
                    signature: Signature::any(2, Volatility::Immutable),
                };
                Ok(Transformed::yes(udf(
                    f,
                    vec![left.as_ref().clone(), right.as_ref().clone()],
                )))
            }
            Expr::Negative(inner) if is_decimal(inner, schema) => {
                let f = NumericOp {
                    op: ArithOp::Neg,
                    result: inner.get_type(schema)?,
                    signature: Signature::any(1, Volatility::Immutable),
                };
                Ok(Transformed::yes(udf(f, vec![inner.as_ref().clone()])))
            }
            Expr::Cast(Cast { expr, field }) => {
                let from = expr.get_type(schema)?;
                let to = field.data_type();
                let text = matches!(
                    from,
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                );
                let convert = match (&from, to) {
                    (_, DataType::Decimal128(_, _)) if text => self.text_input,
                    (DataType::Decimal128(_, _), DataType::Decimal128(_, _))
                    | (DataType::Decimal128(_, _), DataType::Float32 | DataType::Float64) => true,
                    (DataType::Float32 | DataType::Float64, DataType::Decimal128(_, _)) => {
                        self.text_input
                    }
                    (DataType::Decimal128(_, _), DataType::Int16) => {
                        return self.cast_to_integer(e, "smallint");
                    }
                    (DataType::Decimal128(_, _), DataType::Int32) => {
                        return self.cast_to_integer(e, "integer");
                    }
                    (DataType::Decimal128(_, _), DataType::Int64) => {
                        return self.cast_to_integer(e, "bigint");
                    }
                    (DataType::Decimal128(_, _), t)
                        if !matches!(
                            t,
                            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                        ) =>
                    {
                        return self.guard_children(e, schema, "cast");
                    }
                    _ => false,
                };
                if !convert {
                    return Ok(Transformed::no(e));
                }
                let f = NumericConvert {
                    target: to.clone(),
                    signature: Signature::any(1, Volatility::Immutable),
                };
                Ok(Transformed::yes(udf(f, vec![expr.as_ref().clone()])))
            }
            // DataFusion types `round(x, CAST(10 AS int))` as if the places were unknown
            // (one more digit of precision, the input's scale) but computes with them: the
            // literal is folded, so the call's type is the one computed (a comparison with
            // it is cast to a common type below).
            Expr::ScalarFunction(f)
                if matches!(f.name(), "round" | "trunc")
                    && matches!(f.args.get(1), Some(Expr::Cast(c))
                        if matches!(c.expr.as_ref(), Expr::Literal(..)))
                    && is_decimal(&e, schema) =>
            {
                let name = f.name().to_owned();
                let Expr::ScalarFunction(mut f) = e else {
                    return Ok(Transformed::no(e));
                };
                if let Some(Expr::Cast(c)) = f.args.get(1) {
                    if let Expr::Literal(v, _) = c.expr.as_ref() {
                        let folded = v.cast_to(c.field.data_type())?;
                        f.args[1] = Expr::Literal(folded, None);
                    }
                }
                let guarded = self.guard_children(Expr::ScalarFunction(f), schema, &name)?;
                Ok(Transformed::yes(guarded.data))
            }
            Expr::ScalarFunction(f) if !passes_through(f.name()) => {
                let name = f.name().to_owned();
                self.guard_children(e, schema, &name)
            }
            // sum and avg count the special values beside the finite sum, as PostgreSQL's.
            Expr::AggregateFunction(AggregateFunction { func, params })
                if sums_specials(func, &params.args, schema) =>
            {
                let Expr::AggregateFunction(mut f) = e else {
                    return Ok(Transformed::no(e));
                };
                f.func = crate::pgagg::NumericSpecials::wrap(f.func);
                Ok(Transformed::yes(Expr::AggregateFunction(f)))
            }
            Expr::WindowFunction(w)
                if matches!(&w.fun, WindowFunctionDefinition::AggregateUDF(f)
                    if sums_specials(f, &w.params.args, schema)) =>
            {
                let Expr::WindowFunction(mut w) = e else {
                    return Ok(Transformed::no(e));
                };
                if let WindowFunctionDefinition::AggregateUDF(f) = &w.fun {
                    w.fun = WindowFunctionDefinition::AggregateUDF(
                        crate::pgagg::NumericSpecials::wrap(Arc::clone(f)),
                    );
                }
                Ok(Transformed::yes(Expr::WindowFunction(w)))
            }
            // Only their arguments: ORDER BY and PARTITION BY keys just compare.
            Expr::AggregateFunction(AggregateFunction { func, .. })
                if !passes_through(func.name()) =>
            {
                let name = func.name().to_owned();
                let Expr::AggregateFunction(mut f) = e else {
                    return Ok(Transformed::no(e));
                };
                f.params.args = self.guard_args(f.params.args, schema, &name);
                Ok(Transformed::yes(Expr::AggregateFunction(f)))
            }
            Expr::WindowFunction(w) if !passes_through(w.fun.name()) => {
                let name = w.fun.name().to_owned();
                let Expr::WindowFunction(mut w) = e else {
                    return Ok(Transformed::no(e));
                };
                let WindowFunction { params, .. } = w.as_mut();
                params.args = self.guard_args(std::mem::take(&mut params.args), schema, &name);
                Ok(Transformed::yes(Expr::WindowFunction(w)))
            }
            _ => Ok(Transformed::no(e)),
        }
    }

    /// Wraps each numeric operand of `e` in the check that refuses the special values.
    fn guard_children(
        &self,
        e: Expr,
        schema: &DFSchema,
        what: &str,
    ) -> DfResult<Transformed<Expr>> {
        use datafusion::common::tree_node::TreeNode;
        e.map_children(|c| {
            let finite_literal = matches!(
                &c,
                Expr::Literal(datafusion::common::ScalarValue::Decimal128(v, _, _), _)
                    if v.is_none_or(|v| !is_special(v))
            );
            if is_decimal(&c, schema) && !finite_literal {
                Ok(Transformed::yes(finite(c, what, false)))
            } else {
                Ok(Transformed::no(c))
            }
        })
    }

    fn guard_args(&self, args: Vec<Expr>, schema: &DFSchema, what: &str) -> Vec<Expr> {
        args.into_iter()
            .map(|a| {
                if is_decimal(&a, schema) {
                    finite(a, what, false)
                } else {
                    a
                }
            })
            .collect()
    }

    fn cast_to_integer(&self, e: Expr, name: &str) -> DfResult<Transformed<Expr>> {
        let Expr::Cast(Cast { expr, field }) = e else {
            return Ok(Transformed::no(e));
        };
        Ok(Transformed::yes(Expr::Cast(Cast::new_from_field(
            Box::new(finite(*expr, name, true)),
            field,
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_postgresql_numeric_text() {
        assert_eq!(parse(" 1.5e3 ", 38, 10).ok(), Some(15_000_000_000_000));
        assert_eq!(parse("-1.235", 10, 2).ok(), Some(-124));
        assert_eq!(parse("1.234", 10, 2).ok(), Some(123));
        assert_eq!(parse("12E-3", 10, 3).ok(), Some(12));
        assert_eq!(parse(".5", 4, 0).ok(), Some(1));
        assert_eq!(parse("NaN", 4, 2).ok(), Some(NAN));
        assert_eq!(parse(" -inf ", 38, 10).ok(), Some(NEG_INF));
        assert_eq!(parse("Infinity", 38, 10).ok(), Some(POS_INF));
        assert_eq!(
            parse("224790267919917955.13261618583642653184", 38, 10).ok(),
            Some(2_247_902_679_199_179_551_326_161_858)
        );
        for bad in ["", "1e", "1.2.3", "e5", "- 1", "1x", "Infinityx", "+NaN"] {
            assert!(
                matches!(parse(bad, 38, 10), Err(SqlError::InvalidText(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            parse("Infinity", 4, 2),
            Err(SqlError::NumericOverflow { .. })
        ));
        let Err(e) = parse("100", 4, 2) else {
            panic!("100 fits numeric(4,2)")
        };
        assert_eq!(
            e.detail().as_deref(),
            Some(
                "A field with precision 4, scale 2 must round to an absolute value less than 10^2."
            )
        );
        assert!(parse("99.994", 4, 2).is_ok());
        assert!(parse("99.995", 4, 2).is_err());
    }

    #[test]
    fn special_values_sort_as_postgresql_orders_them() {
        let mut v = [NAN, 5, POS_INF, NEG_INF, -MAX_FINITE, MAX_FINITE];
        v.sort();
        assert_eq!(v, [NEG_INF, -MAX_FINITE, 5, MAX_FINITE, POS_INF, NAN]);
        assert_eq!(text(NAN, 2), "NaN");
        assert_eq!(text(-5, 2), "-0.05");
        assert_eq!(text(12345, 0), "12345");
    }

    #[test]
    fn unchecked_arithmetic_agrees_with_the_checked_kernels_where_it_applies() {
        let dec = |v: Vec<Option<i128>>, p: u8, s: i8| -> ArrayRef {
            Arc::new(
                Decimal128Array::from(v)
                    .with_precision_and_scale(p, s)
                    .unwrap(),
            )
        };
        let a = dec(
            vec![Some(12_345), None, Some(-9_999), Some(0), Some(7)],
            15,
            2,
        );
        let b = dec(vec![Some(6), Some(1), None, Some(-10), Some(999)], 15, 3);
        // Same scale as `a`, and values beyond 64 bits (the 128-bit loops).
        let c = dec(vec![Some(1), Some(-2), Some(3), None, Some(-5)], 15, 2);
        let wide = dec(
            vec![
                Some(10i128.pow(20)),
                Some(-(10i128.pow(19))),
                None,
                Some(3),
                Some(0),
            ],
            30,
            2,
        );
        let column = |x: &ArrayRef| ColumnarValue::Array(Arc::clone(x));
        let single =
            |x: &ArrayRef| ColumnarValue::Scalar(ScalarValue::try_from_array(x, 0).unwrap());
        let cases = [
            (ArithOp::Add, DataType::Decimal128(17, 3), &a, &b),
            (ArithOp::Sub, DataType::Decimal128(17, 3), &a, &b),
            (ArithOp::Mul, DataType::Decimal128(31, 5), &a, &b),
            (ArithOp::Neg, DataType::Decimal128(15, 2), &a, &a),
            (ArithOp::Add, DataType::Decimal128(16, 2), &a, &c),
            (ArithOp::Sub, DataType::Decimal128(16, 2), &a, &c),
            (ArithOp::Add, DataType::Decimal128(31, 2), &wide, &c),
            (ArithOp::Sub, DataType::Decimal128(31, 2), &c, &wide),
            (ArithOp::Mul, DataType::Decimal128(38, 4), &wide, &c),
            (ArithOp::Neg, DataType::Decimal128(30, 2), &wide, &wide),
        ];
        for (op, result, a, b) in cases {
            let f = NumericOp {
                op,
                result,
                signature: Signature::any(2, Volatility::Immutable),
            };
            let args = if op == ArithOp::Neg {
                vec![column(a)]
            } else {
                vec![column(a), column(b)]
            };
            let fast = f.bounded(&args);
            let fast = fast.unwrap_or_else(|| panic!("{op:?} is bounded"));
            let checked = f.kernel(a, b).unwrap();
            assert_eq!(&fast, &checked, "{op:?} {a:?} {b:?}");
            if op == ArithOp::Neg {
                continue;
            }
            // A single value on either side, as every row's value.
            for (x, y) in [(single(a), column(b)), (column(a), single(b))] {
                let fast = f.bounded(&[x.clone(), y.clone()]).expect("bounded");
                let arrays = ColumnarValue::values_to_arrays(&[x, y]).unwrap();
                let checked = f.kernel(&arrays[0], &arrays[1]).unwrap();
                assert_eq!(&fast, &checked, "{op:?} with a single value");
            }
        }
        // A product that could leave the precision, and a special value, take the checked path.
        let big = dec(vec![Some(10i128.pow(20)), Some(1)], 38, 0);
        let nan = dec(vec![Some(NAN), Some(1)], 38, 0);
        let mul = NumericOp {
            op: ArithOp::Mul,
            result: DataType::Decimal128(38, 0),
            signature: Signature::any(2, Volatility::Immutable),
        };
        assert!(mul.bounded(&[column(&big), column(&big)]).is_none());
        assert!(mul.bounded(&[column(&nan), column(&big)]).is_none());
        assert!(mul.bounded(&[single(&nan), column(&big)]).is_none());
        assert!(mul.compute(&[big.clone(), big]).is_err());
        // The largest finite values are numbers, not special values, on every path.
        let top = dec(vec![Some(MAX_FINITE), Some(-MAX_FINITE)], 38, 0);
        assert!(!has_special(&top).unwrap());
        assert_eq!(
            mul.compute(&[Arc::clone(&top), dec(vec![Some(1), Some(1)], 38, 0)])
                .unwrap()
                .as_ref(),
            top.as_ref()
        );
    }

    #[test]
    fn arithmetic_on_special_values_follows_postgresql() {
        use ArithOp::*;
        let cases = [
            (Add, POS_INF, NEG_INF, Some(NAN)),
            (Add, POS_INF, 5, Some(POS_INF)),
            (Sub, POS_INF, POS_INF, Some(NAN)),
            (Sub, 5, POS_INF, Some(NEG_INF)),
            (Mul, POS_INF, 0, Some(NAN)),
            (Mul, NEG_INF, -3, Some(POS_INF)),
            (Div, 7, NEG_INF, Some(0)),
            (Div, POS_INF, -2, Some(NEG_INF)),
            (Mod, 7, POS_INF, Some(7)),
            (Mod, NAN, 0, Some(NAN)),
            (Add, 1, 2, None),
        ];
        for (op, a, b, want) in cases {
            assert_eq!(op.special(a, b).ok(), Some(want), "{op:?} {a} {b}");
        }
        assert!(matches!(
            Div.special(POS_INF, 0),
            Err(SqlError::DivisionByZero)
        ));
    }
}
