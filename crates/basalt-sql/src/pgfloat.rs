//! PostgreSQL's double precision (and real) where Arrow's IEEE arithmetic answers otherwise:
//! text input refuses values out of range (`'1e400'`), arithmetic fails with "value out of
//! range: overflow" / "underflow" and "division by zero" where IEEE gives an infinity, a zero
//! or NaN, and the math functions (ln, log, exp, power, sqrt, cbrt, trigonometry in radians
//! and in degrees, the inverse hyperbolics) raise PostgreSQL's domain errors and give its
//! exact results at the special angles (`sind(30)` is exactly 0.5).
//!
//! Numeric arguments of the math functions are computed in double precision, as Basalt did
//! before (see [`crate::numeric`]), with numeric's special values and wording: an overflow is
//! "value overflows numeric format" and an underflow is zero. An untyped string argument
//! (`power(x, '3')`) takes the type of the other numeric argument, or double precision, as
//! PostgreSQL resolves an `unknown` literal.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float32Array, Float64Array};
use datafusion::arrow::compute::kernels::numeric as kernels;
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type};
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use basalt_common::types::{NUMERIC_DEFAULT_PRECISION, NUMERIC_DEFAULT_SCALE};

use crate::error::{SqlError, SqlResult};

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// PostgreSQL's name of a float type.
fn float_word(real: bool) -> &'static str {
    if real {
        "real"
    } else {
        "double precision"
    }
}

/// Reads text as PostgreSQL's `float8in` / `float4in`: blanks around, a sign, digits with a
/// point and an exponent, or `NaN`, `Infinity`, `inf`; a finite number whose value does not
/// fit (it would become an infinity, or zero) is out of range.
pub fn parse_float(text: &str, real: bool) -> SqlResult<f64> {
    let word = float_word(real);
    let t = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let bad = || SqlError::InvalidText(format!("invalid input syntax for type {word}: \"{text}\""));
    let v = if real {
        t.parse::<f32>().map(f64::from).map_err(|_| bad())?
    } else {
        t.parse::<f64>().map_err(|_| bad())?
    };
    let named = t
        .bytes()
        .any(|b| b.is_ascii_alphabetic() && !matches!(b, b'e' | b'E'));
    let mantissa = t.split(['e', 'E']).next().unwrap_or("");
    let out_of_range = if v.is_infinite() {
        !named
    } else {
        v == 0.0 && mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b))
    };
    if out_of_range {
        return Err(SqlError::OutOfRange(format!(
            "\"{t}\" is out of range for type {word}"
        )));
    }
    Ok(v)
}

/// A text column read as `target` (Float32 or Float64) with [`parse_float`].
pub fn text_to_float(array: &ArrayRef, target: &DataType) -> SqlResult<ArrayRef> {
    let text = cast_with_options(array, &DataType::Utf8, &CastOptions::default())?;
    let text = text.as_string::<i32>();
    Ok(match target {
        DataType::Float32 => Arc::new(
            text.iter()
                .map(|t| {
                    t.map(|t| parse_float(t, true).map(|v| v as f32))
                        .transpose()
                })
                .collect::<SqlResult<Float32Array>>()?,
        ),
        _ => Arc::new(
            text.iter()
                .map(|t| t.map(|t| parse_float(t, false)).transpose())
                .collect::<SqlResult<Float64Array>>()?,
        ),
    })
}

fn overflow() -> SqlError {
    SqlError::OutOfRange("value out of range: overflow".into())
}

fn underflow() -> SqlError {
    SqlError::OutOfRange("value out of range: underflow".into())
}

/// `pg_float_in(text)`: text cast to double precision or real, read by [`parse_float`].
pub fn float_in_udf(target: DataType) -> ScalarUDF {
    let name = if target == DataType::Float32 {
        "pg_float4_in"
    } else {
        "pg_float8_in"
    };
    datafusion::logical_expr::create_udf(
        name,
        vec![DataType::Utf8],
        target.clone(),
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let scalar = crate::functions::all_scalar(args);
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let out = text_to_float(&arrays[0], &target).map_err(SqlError::into_datafusion)?;
            crate::functions::columnar_result(out, scalar)
        }),
    )
}

/// The float arithmetic operators PostgreSQL checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FloatOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// `a op b` on two float columns of one type, with PostgreSQL's checks: a finite pair whose
/// result is infinite overflows, a product or quotient of non-zero values that is zero
/// underflows, and dividing a number by zero is an error.
pub fn checked_float_op(op: FloatOp, a: &ArrayRef, b: &ArrayRef) -> SqlResult<ArrayRef> {
    let result = match op {
        FloatOp::Add => kernels::add(a, b),
        FloatOp::Sub => kernels::sub(a, b),
        FloatOp::Mul => kernels::mul(a, b),
        FloatOp::Div => kernels::div(a, b),
    }?;
    if let (Some(x), Some(y), Some(r)) = (
        a.as_primitive_opt::<Float64Type>(),
        b.as_primitive_opt::<Float64Type>(),
        result.as_primitive_opt::<Float64Type>(),
    ) {
        check_floats(op, x.values(), y.values(), r, |v| v)?;
    } else if let (Some(x), Some(y), Some(r)) = (
        a.as_primitive_opt::<Float32Type>(),
        b.as_primitive_opt::<Float32Type>(),
        result.as_primitive_opt::<Float32Type>(),
    ) {
        check_floats(op, x.values(), y.values(), r, f64::from)?;
    }
    Ok(result)
}

/// `checked_float_op(a, b)`: [`checked_float_op`] as the function an operator on two
/// floats of one type is rewritten to.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CheckedFloat {
    op: FloatOp,
    signature: Signature,
}

impl CheckedFloat {
    pub fn udf(op: FloatOp) -> ScalarUDF {
        let sig = [DataType::Float32, DataType::Float64]
            .into_iter()
            .map(|t| datafusion::logical_expr::TypeSignature::Exact(vec![t.clone(), t]))
            .collect();
        ScalarUDF::from(CheckedFloat {
            op,
            signature: Signature::one_of(sig, Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for CheckedFloat {
    fn name(&self) -> &str {
        match self.op {
            FloatOp::Add => "float_add",
            FloatOp::Sub => "float_sub",
            FloatOp::Mul => "float_mul",
            FloatOp::Div => "float_div",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(arg_types.first().cloned().unwrap_or(DataType::Float64))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = crate::functions::all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out =
            checked_float_op(self.op, &arrays[0], &arrays[1]).map_err(SqlError::into_datafusion)?;
        crate::functions::columnar_result(out, scalar)
    }
}

fn check_floats<P: datafusion::arrow::datatypes::ArrowPrimitiveType>(
    op: FloatOp,
    a: &[P::Native],
    b: &[P::Native],
    result: &datafusion::arrow::array::PrimitiveArray<P>,
    wide: impl Fn(P::Native) -> f64,
) -> SqlResult<()> {
    let values: &[P::Native] = result.values();
    // Only a result that is infinite, NaN or zero can be wrong; most columns have none.
    let suspect = |r: f64| !r.is_finite() || r == 0.0;
    if !values.iter().any(|&r| suspect(wide(r))) {
        return Ok(());
    }
    for i in 0..values.len() {
        if result.is_null(i) {
            continue;
        }
        let (x, y, r) = (wide(a[i]), wide(b[i]), wide(values[i]));
        if !suspect(r) {
            continue;
        }
        match op {
            FloatOp::Add | FloatOp::Sub => {
                if r.is_infinite() && x.is_finite() && y.is_finite() {
                    return Err(overflow());
                }
            }
            FloatOp::Mul => {
                if r.is_infinite() && !x.is_infinite() && !y.is_infinite() {
                    return Err(overflow());
                }
                if r == 0.0 && x != 0.0 && y != 0.0 {
                    return Err(underflow());
                }
            }
            FloatOp::Div => {
                if y == 0.0 && !x.is_nan() {
                    return Err(SqlError::DivisionByZero);
                }
                if r.is_infinite() && !x.is_infinite() {
                    return Err(overflow());
                }
                if r == 0.0 && x != 0.0 && !y.is_infinite() {
                    return Err(underflow());
                }
            }
        }
    }
    Ok(())
}

/// The math functions replaced by [`PgMathFn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Math {
    Ln,
    /// `log(x)` (base 10) and `log(b, x)`.
    Log,
    Log10,
    Exp,
    Power,
    Sqrt,
    Cbrt,
    Sin,
    Cos,
    Tan,
    Cot,
    Asin,
    Acos,
    Acosh,
    Atanh,
    Sind,
    Cosd,
    Tand,
    Cotd,
    Asind,
    Acosd,
    Atand,
    Atan2d,
    Sign,
}

impl Math {
    fn name(self) -> &'static str {
        match self {
            Math::Ln => "ln",
            Math::Log => "log",
            Math::Log10 => "log10",
            Math::Exp => "exp",
            Math::Power => "power",
            Math::Sqrt => "sqrt",
            Math::Cbrt => "cbrt",
            Math::Sin => "sin",
            Math::Cos => "cos",
            Math::Tan => "tan",
            Math::Cot => "cot",
            Math::Asin => "asin",
            Math::Acos => "acos",
            Math::Acosh => "acosh",
            Math::Atanh => "atanh",
            Math::Sind => "sind",
            Math::Cosd => "cosd",
            Math::Tand => "tand",
            Math::Cotd => "cotd",
            Math::Asind => "asind",
            Math::Acosd => "acosd",
            Math::Atand => "atand",
            Math::Atan2d => "atan2d",
            Math::Sign => "sign",
        }
    }

    fn arities(self) -> &'static [usize] {
        match self {
            Math::Log => &[1, 2],
            Math::Power | Math::Atan2d => &[2],
            _ => &[1],
        }
    }
}

/// The names of the functions this module defines, which handle numeric's special values
/// themselves.
pub const FUNCTION_NAMES: &[&str] = &[
    "ln", "log", "log10", "exp", "power", "sqrt", "cbrt", "sin", "cos", "tan", "cot", "asin",
    "acos", "acosh", "atanh", "sind", "cosd", "tand", "cotd", "asind", "acosd", "atand", "atan2d",
    "sign",
];

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgMathFn {
    math: Math,
    aliases: Vec<String>,
    signature: Signature,
}

/// The math functions, replacing DataFusion's functions of the same names in PostgreSQL
/// sessions.
pub fn udfs() -> Vec<ScalarUDF> {
    use Math::*;
    [
        Ln, Log, Log10, Exp, Power, Sqrt, Cbrt, Sin, Cos, Tan, Cot, Asin, Acos, Acosh, Atanh, Sind,
        Cosd, Tand, Cotd, Asind, Acosd, Atand, Atan2d, Sign,
    ]
    .into_iter()
    .map(|math| {
        let aliases = match math {
            Power => vec!["pow".to_owned()],
            _ => vec![],
        };
        ScalarUDF::from(PgMathFn {
            math,
            aliases,
            signature: Signature::user_defined(Volatility::Immutable),
        })
    })
    .collect()
}

fn unconstrained_numeric() -> DataType {
    DataType::Decimal128(NUMERIC_DEFAULT_PRECISION, NUMERIC_DEFAULT_SCALE)
}

impl ScalarUDFImpl for PgMathFn {
    fn name(&self) -> &str {
        self.math.name()
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        let name = self.math.name();
        if !self.math.arities().contains(&arg_types.len()) {
            return Err(SqlError::UndefinedFunction(format!(
                "function {name} with {} arguments does not exist",
                arg_types.len()
            ))
            .into_datafusion());
        }
        // An untyped string takes a numeric argument's type, else double precision.
        let numeric = arg_types
            .iter()
            .any(|t| matches!(t, DataType::Decimal128(_, _)));
        arg_types
            .iter()
            .map(|t| match t {
                DataType::Decimal128(_, _) => Ok(t.clone()),
                t if is_text(t) && numeric => Ok(unconstrained_numeric()),
                t if is_text(t) || t.is_numeric() || t == &DataType::Null => Ok(DataType::Float64),
                other => Err(SqlError::UndefinedFunction(format!(
                    "function {name}({}) does not exist",
                    crate::error::pg_type_word(&other.to_string())
                ))
                .into_datafusion()),
            })
            .collect()
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        // sign(numeric) is numeric; every other result is double precision.
        match (self.math, arg_types.first()) {
            (Math::Sign, Some(DataType::Decimal128(_, _))) => Ok(unconstrained_numeric()),
            _ => Ok(DataType::Float64),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = crate::functions::all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out = self.run(&arrays).map_err(SqlError::into_datafusion)?;
        crate::functions::columnar_result(out, scalar)
    }
}

/// An argument as double precision (numeric's special values become the float ones).
fn as_f64(a: &ArrayRef) -> SqlResult<Float64Array> {
    let f = if matches!(a.data_type(), DataType::Decimal128(_, _)) {
        crate::numeric::convert(a, &DataType::Float64)?
    } else if is_text(a.data_type()) {
        text_to_float(a, &DataType::Float64)?
    } else {
        cast_with_options(a, &DataType::Float64, &CastOptions::default())?
    };
    Ok(f.as_primitive::<Float64Type>().clone())
}

impl PgMathFn {
    fn run(&self, arrays: &[ArrayRef]) -> SqlResult<ArrayRef> {
        let numeric = arrays
            .iter()
            .any(|a| matches!(a.data_type(), DataType::Decimal128(_, _)));
        if self.math == Math::Sign && numeric {
            return numeric_sign(&arrays[0]);
        }
        let x = as_f64(&arrays[0])?;
        let y = match arrays.get(1) {
            Some(b) => Some(as_f64(b)?),
            None => None,
        };
        let out = (0..x.len())
            .map(|i| {
                if x.is_null(i) || y.as_ref().is_some_and(|y| y.is_null(i)) {
                    return Ok(None);
                }
                let b = y.as_ref().map(|y| y.value(i));
                self.one(x.value(i), b, numeric).map(Some)
            })
            .collect::<SqlResult<Float64Array>>()?;
        Ok(Arc::new(out))
    }

    /// The function of one row: `x`, and `y` for the functions of two arguments.
    fn one(&self, x: f64, y: Option<f64>, numeric: bool) -> SqlResult<f64> {
        let too_big = || {
            if numeric {
                SqlError::OutOfRange("value overflows numeric format".into())
            } else {
                overflow()
            }
        };
        let out_of_domain = || SqlError::OutOfRange("input is out of range".into());
        Ok(match self.math {
            Math::Ln => log_checked(x, f64::ln)?,
            Math::Log10 => log_checked(x, f64::log10)?,
            Math::Log => match y {
                None => log_checked(x, f64::log10)?,
                Some(v) => log_base(x, v)?,
            },
            Math::Exp => {
                if x.is_nan() {
                    x
                } else if x.is_infinite() {
                    if x > 0.0 {
                        x
                    } else {
                        0.0
                    }
                } else {
                    let r = x.exp();
                    if r.is_infinite() {
                        return Err(too_big());
                    }
                    if r == 0.0 && !numeric {
                        return Err(underflow());
                    }
                    r
                }
            }
            Math::Power => {
                let r = power(x, y.unwrap_or(f64::NAN), &too_big)?;
                if r != 0.0 {
                    r
                } else if numeric {
                    0.0 // numeric underflows to zero, and has no negative zero
                } else if x != 0.0 && x.is_finite() && y.is_some_and(f64::is_finite) {
                    return Err(underflow());
                } else {
                    r
                }
            }
            Math::Sqrt => {
                if x < 0.0 {
                    return Err(power_error("cannot take square root of a negative number"));
                }
                x.sqrt()
            }
            Math::Cbrt => x.cbrt(),
            Math::Sin | Math::Cos | Math::Tan | Math::Cot => {
                if x.is_nan() {
                    return Ok(x);
                }
                if x.is_infinite() {
                    return Err(out_of_domain());
                }
                match self.math {
                    Math::Sin => x.sin(),
                    Math::Cos => x.cos(),
                    Math::Tan => x.tan(),
                    _ => 1.0 / x.tan(),
                }
            }
            Math::Asin | Math::Acos => {
                if x.is_nan() {
                    return Ok(x);
                }
                if !(-1.0..=1.0).contains(&x) {
                    return Err(out_of_domain());
                }
                if self.math == Math::Asin {
                    x.asin()
                } else {
                    x.acos()
                }
            }
            Math::Acosh => {
                if x < 1.0 {
                    return Err(out_of_domain());
                }
                x.acosh()
            }
            Math::Atanh => {
                if x.is_nan() {
                    return Ok(x);
                }
                if !(-1.0..=1.0).contains(&x) {
                    return Err(out_of_domain());
                }
                if x == 1.0 {
                    f64::INFINITY
                } else if x == -1.0 {
                    f64::NEG_INFINITY
                } else {
                    x.atanh()
                }
            }
            Math::Sind | Math::Cosd | Math::Tand | Math::Cotd => {
                if x.is_nan() {
                    return Ok(x);
                }
                if x.is_infinite() {
                    return Err(out_of_domain());
                }
                degrees::trig(self.math, x)
            }
            Math::Asind | Math::Acosd => {
                if x.is_nan() {
                    return Ok(x);
                }
                if !(-1.0..=1.0).contains(&x) {
                    return Err(out_of_domain());
                }
                if self.math == Math::Asind {
                    degrees::asind(x)
                } else {
                    degrees::acosd(x)
                }
            }
            Math::Atand => {
                if x.is_nan() {
                    return Ok(x);
                }
                degrees::atand(x)
            }
            Math::Atan2d => {
                let v = y.unwrap_or(f64::NAN);
                if x.is_nan() || v.is_nan() {
                    return Ok(f64::NAN);
                }
                degrees::atan2d(x, v)
            }
            Math::Sign => {
                if x.is_nan() {
                    x
                } else if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
        })
    }
}

fn log_error(message: &str) -> SqlError {
    SqlError::Detailed {
        sqlstate: "2201E",
        message: message.into(),
        detail: String::new(),
        hint: None,
    }
}

fn power_error(message: &str) -> SqlError {
    SqlError::Detailed {
        sqlstate: "2201F",
        message: message.into(),
        detail: String::new(),
        hint: None,
    }
}

/// A logarithm, refused for zero and negative numbers (NaN passes through).
fn log_checked(x: f64, f: fn(f64) -> f64) -> SqlResult<f64> {
    if x == 0.0 {
        return Err(log_error("cannot take logarithm of zero"));
    }
    if x < 0.0 {
        return Err(log_error("cannot take logarithm of a negative number"));
    }
    Ok(f(x))
}

/// `log(b, x)`: numeric's logarithm of x to base b, with its special values.
fn log_base(b: f64, x: f64) -> SqlResult<f64> {
    if b.is_nan() || x.is_nan() {
        return Ok(f64::NAN);
    }
    if b.is_infinite() || x.is_infinite() {
        if b < 0.0 || x < 0.0 {
            return Err(log_error("cannot take logarithm of a negative number"));
        }
        if b == 0.0 || x == 0.0 {
            return Err(log_error("cannot take logarithm of zero"));
        }
        return Ok(match (b.is_infinite(), x.is_infinite()) {
            (true, true) => f64::NAN,
            (true, false) => 0.0,
            _ => f64::INFINITY,
        });
    }
    let ln_b = log_checked(b, f64::ln)?;
    let ln_x = log_checked(x, f64::ln)?;
    if ln_b == 0.0 {
        return Err(SqlError::DivisionByZero);
    }
    Ok(ln_x / ln_b)
}

/// PostgreSQL's `dpow`: x^y with its rules for NaN, the infinities and signs.
fn power(x: f64, y: f64, too_big: &dyn Fn() -> SqlError) -> SqlResult<f64> {
    if x.is_nan() {
        return Ok(if y.is_nan() || y != 0.0 {
            f64::NAN
        } else {
            1.0
        });
    }
    if y.is_nan() {
        return Ok(if x != 1.0 { f64::NAN } else { 1.0 });
    }
    if x == 0.0 && y < 0.0 {
        return Err(power_error("zero raised to a negative power is undefined"));
    }
    if x < 0.0 && y.floor() != y {
        return Err(power_error(
            "a negative number raised to a non-integer power yields a complex result",
        ));
    }
    if y.is_infinite() {
        let ax = x.abs();
        return Ok(if ax == 1.0 {
            1.0
        } else if y > 0.0 {
            if ax > 1.0 {
                y
            } else {
                0.0
            }
        } else if ax > 1.0 {
            0.0
        } else {
            -y
        });
    }
    if x.is_infinite() {
        return Ok(if y == 0.0 {
            1.0
        } else if x > 0.0 {
            if y > 0.0 {
                x
            } else {
                0.0
            }
        } else {
            let half = y / 2.0;
            let odd = half.floor() != half;
            if y > 0.0 {
                if odd {
                    x
                } else {
                    -x
                }
            } else if odd {
                -0.0
            } else {
                0.0
            }
        });
    }
    let r = x.powf(y);
    if r.is_infinite() {
        return Err(too_big());
    }
    Ok(r)
}

/// sign(numeric): -1, 0 or 1 as numeric, NaN for NaN, ±1 for the infinities.
fn numeric_sign(a: &ArrayRef) -> SqlResult<ArrayRef> {
    use crate::numeric::NAN;
    use datafusion::arrow::array::Decimal128Array;
    let Some(d) = a.as_primitive_opt::<datafusion::arrow::datatypes::Decimal128Type>() else {
        return Err(SqlError::Internal("sign of a non-numeric".into()));
    };
    let one = 10i128.pow(NUMERIC_DEFAULT_SCALE.unsigned_abs().into());
    let out: Decimal128Array = d
        .iter()
        .map(|v| v.map(|v| if v == NAN { NAN } else { v.signum() * one }))
        .collect();
    Ok(Arc::new(out.with_data_type(unconstrained_numeric())))
}

/// PostgreSQL's trigonometry in degrees, exact at the multiples of 30 and 45 degrees: each
/// function is computed in the first quadrant from sin on [0, 30] and cos on [0, 60], scaled
/// so that the values at 30, 45, 60 and 90 degrees come out exactly.
mod degrees {
    use super::Math;

    // PostgreSQL's 0.0174532925199432957692, as the nearest double.
    const RADIANS_PER_DEGREE: f64 = 0.017_453_292_519_943_295;

    fn sin_30() -> f64 {
        std::hint::black_box(30.0 * RADIANS_PER_DEGREE).sin()
    }

    fn one_minus_cos_60() -> f64 {
        1.0 - std::hint::black_box(60.0 * RADIANS_PER_DEGREE).cos()
    }

    fn sind_0_to_30(x: f64) -> f64 {
        let sin_x = (x * RADIANS_PER_DEGREE).sin();
        (sin_x / sin_30()) / 2.0
    }

    fn cosd_0_to_60(x: f64) -> f64 {
        let one_minus_cos_x = 1.0 - (x * RADIANS_PER_DEGREE).cos();
        1.0 - (one_minus_cos_x / one_minus_cos_60()) / 2.0
    }

    fn sind_q1(x: f64) -> f64 {
        if x <= 30.0 {
            sind_0_to_30(x)
        } else {
            cosd_0_to_60(90.0 - x)
        }
    }

    fn cosd_q1(x: f64) -> f64 {
        if x <= 60.0 {
            cosd_0_to_60(x)
        } else {
            sind_0_to_30(90.0 - x)
        }
    }

    /// sind, cosd, tand or cotd of a finite angle.
    pub(super) fn trig(f: Math, x: f64) -> f64 {
        let mut arg = x % 360.0;
        let mut sign = 1.0;
        match f {
            Math::Cosd => {
                if arg < 0.0 {
                    arg = -arg;
                }
                if arg > 180.0 {
                    arg = 360.0 - arg;
                }
                if arg > 90.0 {
                    arg = 180.0 - arg;
                    sign = -sign;
                }
                sign * cosd_q1(arg)
            }
            Math::Sind => {
                if arg < 0.0 {
                    arg = -arg;
                    sign = -sign;
                }
                if arg > 180.0 {
                    arg = 360.0 - arg;
                    sign = -sign;
                }
                if arg > 90.0 {
                    arg = 180.0 - arg;
                }
                sign * sind_q1(arg)
            }
            _ => {
                if arg < 0.0 {
                    arg = -arg;
                    sign = -sign;
                }
                if arg > 180.0 {
                    arg = 360.0 - arg;
                    sign = -sign;
                }
                if arg > 90.0 {
                    arg = 180.0 - arg;
                    sign = -sign;
                }
                let r = if f == Math::Tand {
                    let tan_45 = sind_q1(45.0) / cosd_q1(45.0);
                    sign * ((sind_q1(arg) / cosd_q1(arg)) / tan_45)
                } else {
                    let cot_45 = cosd_q1(45.0) / sind_q1(45.0);
                    sign * ((cosd_q1(arg) / sind_q1(arg)) / cot_45)
                };
                // PostgreSQL gives plain zero, never minus zero.
                if r == 0.0 {
                    0.0
                } else {
                    r
                }
            }
        }
    }

    fn asin_0_5() -> f64 {
        std::hint::black_box(0.5f64).asin()
    }

    fn acos_0_5() -> f64 {
        std::hint::black_box(0.5f64).acos()
    }

    fn asind_q1(x: f64) -> f64 {
        if x <= 0.5 {
            (x.asin() / asin_0_5()) * 30.0
        } else {
            90.0 - (x.acos() / acos_0_5()) * 60.0
        }
    }

    fn acosd_q1(x: f64) -> f64 {
        if x <= 0.5 {
            90.0 - (x.asin() / asin_0_5()) * 30.0
        } else {
            (x.acos() / acos_0_5()) * 60.0
        }
    }

    pub(super) fn asind(x: f64) -> f64 {
        if x >= 0.0 {
            asind_q1(x)
        } else {
            -asind_q1(-x)
        }
    }

    pub(super) fn acosd(x: f64) -> f64 {
        if x >= 0.0 {
            acosd_q1(x)
        } else {
            90.0 + asind_q1(-x)
        }
    }

    fn atan_1_0() -> f64 {
        std::hint::black_box(1.0f64).atan()
    }

    pub(super) fn atand(x: f64) -> f64 {
        (x.atan() / atan_1_0()) * 45.0
    }

    pub(super) fn atan2d(y: f64, x: f64) -> f64 {
        (y.atan2(x) / atan_1_0()) * 45.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_input_refuses_values_out_of_range() {
        assert_eq!(parse_float(" 1.5 ", false).ok(), Some(1.5));
        assert_eq!(
            parse_float("-Infinity", false).ok(),
            Some(f64::NEG_INFINITY)
        );
        assert!(parse_float("NaN", false).is_ok_and(f64::is_nan));
        assert_eq!(parse_float("0.0e-400", false).ok(), Some(0.0));
        for bad in ["10e400", "-10e400", "10e-400", "-10e-400"] {
            assert!(
                matches!(parse_float(bad, false), Err(SqlError::OutOfRange(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_float("1e39", true),
            Err(SqlError::OutOfRange(_))
        ));
        assert!(matches!(
            parse_float("1e", false),
            Err(SqlError::InvalidText(_))
        ));
    }

    #[test]
    fn degree_functions_are_exact_at_special_angles() {
        use degrees::*;
        for (x, want) in [
            (0.0, 0.0),
            (30.0, 0.5),
            (90.0, 1.0),
            (150.0, 0.5),
            (-90.0, -1.0),
        ] {
            assert_eq!(trig(Math::Sind, x), want, "sind({x})");
        }
        for (x, want) in [(60.0, 0.5), (120.0, -0.5), (180.0, -1.0)] {
            assert_eq!(trig(Math::Cosd, x), want, "cosd({x})");
        }
        assert_eq!(trig(Math::Tand, 45.0), 1.0);
        assert_eq!(trig(Math::Tand, 90.0), f64::INFINITY);
        assert_eq!(trig(Math::Cotd, 45.0), 1.0);
        assert_eq!(asind(0.5), 30.0);
        assert_eq!(acosd(-0.5), 120.0);
        assert_eq!(atand(1.0), 45.0);
        assert_eq!(atan2d(1.0, 0.0), 90.0);
    }

    #[test]
    fn power_follows_postgresql() {
        let big = || overflow();
        assert!(power(-8.0, 1.5, &big).is_err());
        assert!(power(0.0, -1.0, &big).is_err());
        assert!(power(f64::NEG_INFINITY, 3.5, &big).is_err());
        assert_eq!(
            power(f64::NEG_INFINITY, 3.0, &big).ok(),
            Some(f64::NEG_INFINITY)
        );
        assert_eq!(power(f64::NAN, 0.0, &big).ok(), Some(1.0));
        assert_eq!(power(1.0, f64::NAN, &big).ok(), Some(1.0));
        assert_eq!(
            power(0.5, f64::NEG_INFINITY, &big).ok(),
            Some(f64::INFINITY)
        );
        assert!(power(10.0, 400.0, &big).is_err());
        assert!(log_base(1.0, 5.0).is_err());
        assert_eq!(log_base(f64::INFINITY, 5.0).ok(), Some(0.0));
    }
}
