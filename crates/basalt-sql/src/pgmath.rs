//! PostgreSQL's numeric functions that DataFusion lacks: `width_bucket` (numeric and double
//! precision), `div`, `scale`, `min_scale` and `trim_scale`, with PostgreSQL's handling of
//! NaN and the infinities (see [`crate::numeric`]).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Decimal128Array, Float64Array, Int32Array};
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::error::SqlError;
use crate::numeric::{is_special, NAN, NEG_INF, POS_INF};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    WidthBucket,
    Div,
    Scale,
    MinScale,
    TrimScale,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgMath {
    kind: Kind,
    signature: Signature,
}

pub fn udfs() -> Vec<ScalarUDF> {
    [
        (Kind::WidthBucket, 4),
        (Kind::Div, 2),
        (Kind::Scale, 1),
        (Kind::MinScale, 1),
        (Kind::TrimScale, 1),
    ]
    .into_iter()
    .map(|(kind, n)| {
        ScalarUDF::from(PgMath {
            kind,
            signature: Signature::any(n, Volatility::Immutable),
        })
    })
    .collect()
}

fn bucket_error(message: &str) -> SqlError {
    SqlError::InvalidArgumentForWidthBucket(message.into())
}

/// width_bucket on floating point: the bucket of `x` among `count` equal buckets from `low`
/// to `high` (0 below, count + 1 above; a reversed range counts downwards).
pub fn width_bucket_f64(x: f64, low: f64, high: f64, count: i32) -> Result<i32, SqlError> {
    if count <= 0 {
        return Err(bucket_error("count must be greater than zero"));
    }
    if x.is_nan() || low.is_nan() || high.is_nan() {
        return Err(bucket_error(
            "operand, lower bound, and upper bound cannot be NaN",
        ));
    }
    if low.is_infinite() || high.is_infinite() {
        return Err(bucket_error("lower and upper bounds must be finite"));
    }
    if low == high {
        return Err(bucket_error("lower bound cannot equal upper bound"));
    }
    let n = f64::from(count);
    let bucket = if low < high {
        if x < low {
            0.0
        } else if x >= high {
            n + 1.0
        } else {
            ((x - low) / (high - low) * n).floor().min(n - 1.0) + 1.0
        }
    } else if x > low {
        0.0
    } else if x <= high {
        n + 1.0
    } else {
        ((low - x) / (low - high) * n).floor().min(n - 1.0) + 1.0
    };
    if bucket > f64::from(i32::MAX) {
        return Err(SqlError::OutOfRange("integer out of range".into()));
    }
    Ok(bucket as i32)
}

/// width_bucket on numeric values at one scale, computed exactly.
pub fn width_bucket_decimal(x: i128, low: i128, high: i128, count: i32) -> Result<i32, SqlError> {
    if count <= 0 {
        return Err(bucket_error("count must be greater than zero"));
    }
    if x == NAN || low == NAN || high == NAN {
        return Err(bucket_error(
            "operand, lower bound, and upper bound cannot be NaN",
        ));
    }
    if is_special(low) || is_special(high) {
        return Err(bucket_error("lower and upper bounds must be finite"));
    }
    if low == high {
        return Err(bucket_error("lower bound cannot equal upper bound"));
    }
    let n = i128::from(count);
    let (below, above) = if low < high {
        (x < low, x >= high)
    } else {
        (x > low, x <= high)
    };
    let bucket = if below {
        0
    } else if above {
        n + 1
    } else {
        let (num, den) = if low < high {
            (x.checked_sub(low), high.checked_sub(low))
        } else {
            (low.checked_sub(x), low.checked_sub(high))
        };
        // (num / den) * n, exactly where it fits, else in floating point.
        match (num.and_then(|v| v.checked_mul(n)), den) {
            (Some(p), Some(den)) => (p / den).min(n - 1) + 1,
            _ => {
                let (num, den) = if low < high {
                    (x as f64 - low as f64, high as f64 - low as f64)
                } else {
                    (low as f64 - x as f64, low as f64 - high as f64)
                };
                ((num / den * n as f64).floor() as i128).min(n - 1) + 1
            }
        }
    };
    i32::try_from(bucket).map_err(|_| SqlError::OutOfRange("integer out of range".into()))
}

/// A cast that fails on overflow instead of producing NULL.
fn cast(array: &ArrayRef, to: &DataType) -> Result<ArrayRef, SqlError> {
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    cast_with_options(array, to, &options)
        .map_err(|_| SqlError::OutOfRange("numeric field overflow".into()))
}

/// The digits after the point of a finite value at `scale`, without trailing zeros.
fn min_scale(v: i128, scale: i8) -> i32 {
    let mut s = i32::from(scale.max(0));
    let mut v = v;
    while s > 0 && v % 10 == 0 {
        v /= 10;
        s -= 1;
    }
    s
}

fn decimals(a: &ArrayRef) -> Result<(Decimal128Array, i8), SqlError> {
    let scale = match a.data_type() {
        DataType::Decimal128(_, s) => *s,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => 0,
        _ => {
            return Err(SqlError::UndefinedFunction(format!(
                "function expects numeric arguments, not {}",
                a.data_type()
            )))
        }
    };
    let d = cast(a, &DataType::Decimal128(38, scale))?;
    let d = d
        .as_any()
        .downcast_ref::<Decimal128Array>()
        .cloned()
        .ok_or_else(|| SqlError::Internal("numeric cast".into()))?;
    Ok((d, scale))
}

/// Numbers (integers, numerics) moved to one numeric type: the largest scale among them.
fn at_common_scale(arrays: &[ArrayRef]) -> Result<Vec<Decimal128Array>, SqlError> {
    let scale = arrays
        .iter()
        .map(|a| match a.data_type() {
            DataType::Decimal128(_, s) => *s,
            _ => 0,
        })
        .max()
        .unwrap_or(0);
    let target = DataType::Decimal128(38, scale);
    arrays
        .iter()
        .map(|a| {
            let a = if matches!(a.data_type(), DataType::Decimal128(_, _)) {
                crate::numeric::convert(a, &target)?
            } else {
                cast(a, &target)?
            };
            decimals(&a).map(|(d, _)| d)
        })
        .collect()
}

fn is_float(t: &DataType) -> bool {
    matches!(t, DataType::Float32 | DataType::Float64)
}

impl PgMath {
    fn run(&self, arrays: &[ArrayRef], rows: usize) -> Result<ArrayRef, SqlError> {
        match self.kind {
            Kind::WidthBucket => {
                let count = cast(&arrays[3], &DataType::Int32)?;
                let count = count
                    .as_any()
                    .downcast_ref::<Int32Array>()
                    .ok_or_else(|| SqlError::Internal("width_bucket count".into()))?;
                let float = arrays[..3].iter().any(|a| is_float(a.data_type()));
                // The bucket of every row whose arguments are all present.
                let each =
                    |null: &dyn Fn(usize) -> bool,
                     bucket: &dyn Fn(usize, i32) -> Result<i32, SqlError>| {
                        (0..rows)
                            .map(|r| {
                                if null(r) || count.is_null(r) {
                                    return Ok(None);
                                }
                                bucket(r, count.value(r)).map(Some)
                            })
                            .collect::<Result<Vec<Option<i32>>, SqlError>>()
                    };
                let out = if float {
                    let f: Vec<Float64Array> = arrays[..3]
                        .iter()
                        .map(|a| {
                            crate::numeric::convert(a, &DataType::Float64).map(|a| {
                                a.as_any()
                                    .downcast_ref::<Float64Array>()
                                    .cloned()
                                    .unwrap_or_else(|| Float64Array::from(vec![0.0; a.len()]))
                            })
                        })
                        .collect::<Result<_, _>>()?;
                    each(&|r| f.iter().any(|a| a.is_null(r)), &|r, n| {
                        width_bucket_f64(f[0].value(r), f[1].value(r), f[2].value(r), n)
                    })?
                } else {
                    let d = at_common_scale(&arrays[..3])?;
                    each(&|r| d.iter().any(|a| a.is_null(r)), &|r, n| {
                        width_bucket_decimal(d[0].value(r), d[1].value(r), d[2].value(r), n)
                    })?
                };
                Ok(Arc::new(Int32Array::from(out)))
            }
            Kind::Div => {
                let d = at_common_scale(arrays)?;
                let out = (0..rows)
                    .map(|r| {
                        if d[0].is_null(r) || d[1].is_null(r) {
                            return Ok(None);
                        }
                        div(d[0].value(r), d[1].value(r)).map(Some)
                    })
                    .collect::<Result<Decimal128Array, SqlError>>()?;
                Ok(Arc::new(out.with_precision_and_scale(38, 0)?))
            }
            Kind::Scale | Kind::MinScale | Kind::TrimScale => {
                let (d, scale) = decimals(&arrays[0])?;
                if self.kind == Kind::TrimScale {
                    let target = trim_scale_type(arrays[0].data_type());
                    return crate::numeric::convert(&(Arc::new(d) as ArrayRef), &target);
                }
                let out: Int32Array = d
                    .iter()
                    .map(|v| {
                        let v = v?;
                        if is_special(v) {
                            return None;
                        }
                        Some(if self.kind == Kind::Scale {
                            i32::from(scale.max(0))
                        } else {
                            min_scale(v, scale)
                        })
                    })
                    .collect();
                Ok(Arc::new(out))
            }
        }
    }
}

/// trim_scale's result type: an unconstrained numeric (which prints without trailing
/// zeros) when that holds every value of the input type exactly, else the input type.
fn trim_scale_type(input: &DataType) -> DataType {
    use basalt_common::types::{NUMERIC_DEFAULT_PRECISION as P, NUMERIC_DEFAULT_SCALE as S};
    match input {
        DataType::Decimal128(p, s)
            if *s <= S && i16::from(*p) - i16::from(*s) <= i16::from(P as i8 - S) =>
        {
            DataType::Decimal128(P, S)
        }
        DataType::Decimal128(p, s) => DataType::Decimal128(*p, *s),
        _ => DataType::Decimal128(P, S),
    }
}

/// `div(a, b)`: the integer quotient, truncated toward zero, of two values at one scale.
fn div(a: i128, b: i128) -> Result<i128, SqlError> {
    if a == NAN || b == NAN {
        return Ok(NAN);
    }
    if b == 0 {
        return Err(SqlError::DivisionByZero);
    }
    let a_inf = a == POS_INF || a == NEG_INF;
    let b_inf = b == POS_INF || b == NEG_INF;
    let sign = |v: i128| if v == NEG_INF { -1 } else { v.signum() };
    Ok(match (a_inf, b_inf) {
        (true, true) => NAN,
        (true, false) => {
            if sign(a) * sign(b) < 0 {
                NEG_INF
            } else {
                POS_INF
            }
        }
        (false, true) => 0,
        (false, false) => a / b,
    })
}

impl ScalarUDFImpl for PgMath {
    fn name(&self) -> &str {
        match self.kind {
            Kind::WidthBucket => "width_bucket",
            Kind::Div => "div",
            Kind::Scale => "scale",
            Kind::MinScale => "min_scale",
            Kind::TrimScale => "trim_scale",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(match self.kind {
            Kind::Div => DataType::Decimal128(38, 0),
            Kind::TrimScale => trim_scale_type(arg_types.first().unwrap_or(&DataType::Null)),
            _ => DataType::Int32,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = crate::functions::all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let rows = arrays.first().map_or(args.number_rows, |a| a.len());
        // Text literals ('NaN', '-inf') are numeric input here, as PostgreSQL resolves them.
        let arrays = arrays
            .into_iter()
            .enumerate()
            .map(|(i, a)| {
                let text = matches!(
                    a.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                );
                if text && !(self.kind == Kind::WidthBucket && i == 3) {
                    crate::numeric::text_to_numeric(
                        &a,
                        &DataType::Decimal128(
                            basalt_common::types::NUMERIC_DEFAULT_PRECISION,
                            basalt_common::types::NUMERIC_DEFAULT_SCALE,
                        ),
                    )
                } else {
                    Ok(a)
                }
            })
            .collect::<Result<Vec<_>, SqlError>>()
            .map_err(SqlError::into_datafusion)?;
        let out = self.run(&arrays, rows).map_err(SqlError::into_datafusion)?;
        crate::functions::columnar_result(out, scalar)
    }
}

/// `gcd` and `lcm` with PostgreSQL's integer types: of two `integer`s an `integer`, of a
/// `bigint` a `bigint`, and "integer out of range" where the result does not fit
/// (`gcd(-2147483648, 0)`); numeric arguments go to DataFusion's functions.
#[derive(Debug)]
struct GcdLcm {
    lcm: bool,
    numeric: Arc<ScalarUDF>,
    signature: Signature,
}

impl PartialEq for GcdLcm {
    fn eq(&self, other: &Self) -> bool {
        self.lcm == other.lcm
    }
}
impl Eq for GcdLcm {}
impl std::hash::Hash for GcdLcm {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.lcm.hash(state);
    }
}

pub fn gcd_lcm_udfs() -> Vec<ScalarUDF> {
    [
        (false, datafusion::functions::math::gcd()),
        (true, datafusion::functions::math::lcm()),
    ]
    .into_iter()
    .map(|(lcm, numeric)| {
        ScalarUDF::from(GcdLcm {
            lcm,
            numeric,
            signature: Signature::user_defined(Volatility::Immutable),
        })
    })
    .collect()
}

fn is_integer_type(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Null
    ) || matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// PostgreSQL's `int4gcd`/`int8gcd`: the non-negative greatest common divisor, refused when
/// it is 2^31 (2^63), which only the smallest value gives.
fn gcd_i64(a: i64, b: i64, max: i64) -> Option<i64> {
    let (mut x, mut y) = (i128::from(a).abs(), i128::from(b).abs());
    while y != 0 {
        (x, y) = (y, x % y);
    }
    i64::try_from(x).ok().filter(|g| *g <= max)
}

/// PostgreSQL's `int4lcm`/`int8lcm`: 0 when either is 0, else |a / gcd × b|, checked.
fn lcm_i64(a: i64, b: i64, max: i64) -> Option<i64> {
    if a == 0 || b == 0 {
        return Some(0);
    }
    let g = i128::from(gcd_i64(a, b, i64::MAX)?);
    let l = (i128::from(a) / g * i128::from(b)).abs();
    i64::try_from(l).ok().filter(|l| *l <= max)
}

impl ScalarUDFImpl for GcdLcm {
    fn name(&self) -> &str {
        if self.lcm {
            "lcm"
        } else {
            "gcd"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        if arg_types.len() == 2 && arg_types.iter().all(is_integer_type) {
            let wide = arg_types.contains(&DataType::Int64);
            let t = if wide {
                DataType::Int64
            } else {
                DataType::Int32
            };
            return Ok(vec![t.clone(), t]);
        }
        self.numeric.coerce_types(arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(arg_types.first().cloned().unwrap_or(DataType::Int64))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        use datafusion::arrow::array::{AsArray, Int64Array};
        use datafusion::arrow::datatypes::Int64Type;
        let ty = args.return_field.data_type().clone();
        let (max, word) = match ty {
            DataType::Int32 => (i64::from(i32::MAX), "integer"),
            DataType::Int64 => (i64::MAX, "bigint"),
            _ => return self.numeric.invoke_with_args(args),
        };
        let scalar = crate::functions::all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let wide = |a: &ArrayRef| cast(a, &DataType::Int64);
        let (a, b) = (
            wide(&arrays[0]).map_err(SqlError::into_datafusion)?,
            wide(&arrays[1]).map_err(SqlError::into_datafusion)?,
        );
        let (a, b) = (a.as_primitive::<Int64Type>(), b.as_primitive::<Int64Type>());
        let f = if self.lcm { lcm_i64 } else { gcd_i64 };
        let out = a
            .iter()
            .zip(b.iter())
            .map(|(x, y)| match (x, y) {
                (Some(x), Some(y)) => f(x, y, max)
                    .map(Some)
                    .ok_or_else(|| SqlError::OutOfRange(format!("{word} out of range"))),
                _ => Ok(None),
            })
            .collect::<Result<Int64Array, SqlError>>()
            .map_err(SqlError::into_datafusion)?;
        let out = cast(&(Arc::new(out) as ArrayRef), &ty).map_err(SqlError::into_datafusion)?;
        crate::functions::columnar_result(out, scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn width_bucket_follows_postgresql() {
        assert_eq!(width_bucket_f64(5.35, 0.024, 10.06, 5).ok(), Some(3));
        assert_eq!(width_bucket_f64(-1.0, 0.0, 10.0, 5).ok(), Some(0));
        assert_eq!(width_bucket_f64(10.0, 0.0, 10.0, 5).ok(), Some(6));
        assert_eq!(width_bucket_f64(3.0, 10.0, 0.0, 5).ok(), Some(4));
        assert_eq!(width_bucket_f64(0.0, 10.0, 0.0, 5).ok(), Some(6));
        assert!(width_bucket_f64(5.0, 3.0, 4.0, 0).is_err());
        assert!(width_bucket_f64(3.5, 3.0, 3.0, 888).is_err());
        assert_eq!(width_bucket_decimal(535, 24, 1006, 5).ok(), Some(3));
        assert_eq!(width_bucket_decimal(POS_INF, 1, 10, 10).ok(), Some(11));
        assert_eq!(width_bucket_decimal(NEG_INF, 1, 10, 10).ok(), Some(0));
        assert!(width_bucket_decimal(0, POS_INF, 5, 10).is_err());
    }

    #[test]
    fn div_and_scales() {
        assert_eq!(div(-7, 2).ok(), Some(-3));
        assert_eq!(div(NAN, 0).ok(), Some(NAN));
        assert!(div(POS_INF, 0).is_err());
        assert_eq!(div(5, POS_INF).ok(), Some(0));
        assert_eq!(min_scale(1_500, 3), 1);
        assert_eq!(min_scale(0, 3), 0);
    }

    #[test]
    fn integer_gcd_and_lcm_refuse_results_out_of_range() {
        let max = i64::from(i32::MAX);
        assert_eq!(gcd_i64(-12, 18, max), Some(6));
        assert_eq!(gcd_i64(i64::from(i32::MIN), 0, max), None);
        assert_eq!(gcd_i64(i64::from(i32::MIN), -1, max), Some(1));
        assert_eq!(gcd_i64(i64::MIN, 0, i64::MAX), None);
        assert_eq!(lcm_i64(2_147_483_647, 2_147_483_646, max), None);
        assert_eq!(lcm_i64(-4, 6, max), Some(12));
        assert_eq!(lcm_i64(0, 6, max), Some(0));
    }
}
