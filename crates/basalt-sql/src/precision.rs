//! The fractional-seconds precision of `timestamp(p)`, `timestamptz(p)` and `time(p)`:
//! values are rounded to `p` digits after the point (half away from zero, as PostgreSQL's
//! `AdjustTimestampForTypmod` does) when they are stored in a column declared with it and
//! when they are cast to such a type.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::datetime::{TIMESTAMP_INFINITY, TIMESTAMP_NEG_INFINITY};
use crate::error::{SqlError, SqlResult};

/// The largest precision PostgreSQL keeps (microseconds).
pub const MAX_PRECISION: u64 = 6;

/// The name of the function casts to a type with a precision are rewritten to.
pub const FUNCTION: &str = "pg_time_precision";

/// `micros` rounded to `precision` fractional digits of a second.
pub fn round_micros(micros: i64, precision: u8) -> i64 {
    round_units(micros, 1_000_000, precision)
}

/// `v`, counted in units of which `per_second` make a second, rounded to `precision`
/// fractional digits of a second (half away from zero).
fn round_units(v: i64, per_second: i64, precision: u8) -> i64 {
    let Some(digits) = 10i64.checked_pow(u32::from(precision)) else {
        return v;
    };
    let step = per_second / digits;
    if step <= 1 {
        return v;
    }
    let half = step / 2;
    if v >= 0 {
        v.saturating_add(half) / step * step
    } else {
        -(half.saturating_sub(v) / step * step)
    }
}

fn per_second(unit: &TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    }
}

/// A column of timestamps or times rounded to `precision`; other types are returned as
/// they are. The infinite timestamps stay infinite.
pub fn apply(array: &ArrayRef, precision: u8) -> SqlResult<ArrayRef> {
    if u64::from(precision) >= MAX_PRECISION {
        return Ok(Arc::clone(array));
    }
    let unit = match array.data_type() {
        DataType::Timestamp(unit, _) | DataType::Time64(unit) | DataType::Time32(unit) => {
            per_second(unit)
        }
        _ => return Ok(Arc::clone(array)),
    };
    // Every one of these types is a column of 32- or 64-bit integers; round them as such.
    let as_int = if matches!(array.data_type(), DataType::Time32(_)) {
        DataType::Int32
    } else {
        DataType::Int64
    };
    let ints = cast(array, &as_int)?;
    let ints = cast(&ints, &DataType::Int64)?;
    let rounded: Int64Array = ints.as_primitive::<Int64Type>().unary(|v| match v {
        TIMESTAMP_INFINITY | TIMESTAMP_NEG_INFINITY => v,
        v => round_units(v, unit, precision),
    });
    let back = cast(&rounded, &as_int)?;
    Ok(cast(&back, array.data_type())?)
}

/// Checks a precision written in a type (`timestamp(p)`): PostgreSQL refuses a negative
/// one and lowers one above 6 to 6 with a warning; Basalt lowers it without the warning.
pub fn checked(precision: u64) -> u8 {
    precision.min(MAX_PRECISION) as u8
}

/// `pg_time_precision(value, p)`: a timestamp or time rounded to `p` fractional digits, of
/// the value's own type.
#[derive(Debug, PartialEq, Eq, Hash)]
struct TimePrecision {
    signature: Signature,
}

impl ScalarUDFImpl for TimePrecision {
    fn name(&self) -> &str {
        FUNCTION
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(arg_types.first().cloned().unwrap_or(DataType::Null))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let precision = match args.args.get(1) {
            Some(ColumnarValue::Scalar(ScalarValue::Int64(Some(p)))) if *p >= 0 => {
                checked(*p as u64)
            }
            _ => {
                return Err(
                    SqlError::Internal(format!("{FUNCTION} takes a constant precision"))
                        .into_datafusion(),
                )
            }
        };
        match args.args.first() {
            Some(ColumnarValue::Array(a)) => Ok(ColumnarValue::Array(
                apply(a, precision).map_err(SqlError::into_datafusion)?,
            )),
            Some(ColumnarValue::Scalar(s)) => {
                let a = apply(&s.to_array()?, precision).map_err(SqlError::into_datafusion)?;
                Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&a, 0)?))
            }
            None => {
                Err(SqlError::Internal(format!("{FUNCTION} takes two arguments")).into_datafusion())
            }
        }
    }
}

pub fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(TimePrecision {
        signature: Signature::any(2, Volatility::Immutable),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_half_away_from_zero() {
        // 17:32:01.000001 and 17:32:01.999999 at precision 2.
        assert_eq!(round_micros(1_000_001, 2), 1_000_000);
        assert_eq!(round_micros(1_999_999, 2), 2_000_000);
        assert_eq!(round_micros(1_005_000, 2), 1_010_000);
        assert_eq!(round_micros(-1_005_000, 2), -1_010_000);
        assert_eq!(round_micros(-1_004_999, 2), -1_000_000);
        assert_eq!(round_micros(1_234_567, 0), 1_000_000);
        assert_eq!(round_micros(1_234_567, 6), 1_234_567);
    }
}
