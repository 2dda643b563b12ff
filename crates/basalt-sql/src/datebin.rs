//! `date_bin(stride, source, origin)` and `date_trunc(field, source)` as PostgreSQL has them:
//! the stride is checked as PostgreSQL checks it (DataFusion's function also bins by months
//! and reads a negative stride), and the stride or field may differ from row to row
//! (DataFusion's functions take a constant only; a column is computed row by row).

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{
    DataType, FieldRef, IntervalMonthDayNanoType, IntervalUnit, TimeUnit,
};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

use crate::error::SqlError;

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgDateBin {
    inner: Arc<ScalarUDF>,
    /// Whether the first argument is a stride to check (date_bin).
    stride: bool,
    /// date_trunc's own signature, whose coercion keeps microsecond timestamps and dates.
    signature: Option<Signature>,
}

/// `date_bin` for PostgreSQL sessions, in place of DataFusion's.
pub fn udf() -> ScalarUDF {
    ScalarUDF::from(PgDateBin {
        inner: datafusion::functions::datetime::date_bin(),
        stride: true,
        signature: None,
    })
}

/// `date_trunc` for PostgreSQL sessions, in place of DataFusion's.
pub fn date_trunc_udf() -> ScalarUDF {
    ScalarUDF::from(PgDateBin {
        inner: datafusion::functions::datetime::date_trunc(),
        stride: false,
        signature: Some(Signature::user_defined(
            datafusion::logical_expr::Volatility::Immutable,
        )),
    })
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// PostgreSQL's checks of a stride of `months`, `days` and `nanos`.
fn check_stride(months: i32, days: i32, nanos: i64) -> Result<(), SqlError> {
    if months != 0 {
        return Err(SqlError::FeatureNotSupported(
            "timestamps cannot be binned into intervals containing months or years".into(),
        ));
    }
    let micros = i64::from(days)
        .checked_mul(MICROS_PER_DAY)
        .and_then(|d| d.checked_add(nanos / 1000))
        .ok_or_else(|| SqlError::DatetimeOverflow("interval out of range".into()))?;
    if micros <= 0 {
        return Err(SqlError::DatetimeOverflow(
            "stride must be greater than zero".into(),
        ));
    }
    Ok(())
}

fn check(stride: &ColumnarValue) -> Result<(), SqlError> {
    match stride {
        ColumnarValue::Scalar(ScalarValue::IntervalMonthDayNano(Some(v))) => {
            check_stride(v.months, v.days, v.nanoseconds)
        }
        ColumnarValue::Scalar(ScalarValue::IntervalDayTime(Some(v))) => {
            check_stride(0, v.days, i64::from(v.milliseconds) * 1_000_000)
        }
        ColumnarValue::Scalar(ScalarValue::IntervalYearMonth(Some(m))) => check_stride(*m, 0, 0),
        ColumnarValue::Array(a)
            if a.data_type() == &DataType::Interval(IntervalUnit::MonthDayNano) =>
        {
            let values = a.as_primitive::<IntervalMonthDayNanoType>();
            (0..values.len())
                .filter(|&i| values.is_valid(i))
                .try_for_each(|i| {
                    let v = values.value(i);
                    check_stride(v.months, v.days, v.nanoseconds)
                })
        }
        _ => Ok(()),
    }
}

/// The microsecond timestamp type `date_trunc` computes on itself for a source of type
/// `source` (a date is a `timestamptz`, as in PostgreSQL); `None` for DataFusion's.
fn own_trunc_type(source: &DataType) -> Option<DataType> {
    match source {
        DataType::Date32 => Some(DataType::Timestamp(
            TimeUnit::Microsecond,
            Some(basalt_common::types::TIMESTAMPTZ_ZONE.into()),
        )),
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            Some(DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))
        }
        _ => None,
    }
}

/// `value` (microseconds since 1970, in UTC for a timestamptz) truncated to `field` as
/// PostgreSQL's `date_trunc` does, years before 1 AD included.
fn truncate(field: &str, value: i64, with_zone: bool) -> Result<i64, SqlError> {
    use chrono::{Datelike, NaiveDate, Timelike};
    // The infinities stay infinite, whatever the field.
    if matches!(
        value,
        crate::datetime::TIMESTAMP_INFINITY | crate::datetime::TIMESTAMP_NEG_INFINITY
    ) {
        return Ok(value);
    }
    let out_of_range = || SqlError::DatetimeOverflow("timestamp out of range".into());
    let t = chrono::DateTime::from_timestamp_micros(value)
        .ok_or_else(out_of_range)?
        .naive_utc();
    let day = |y: i32, m: u32, d: u32| {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .ok_or_else(out_of_range)
    };
    let (y, m) = (t.year(), t.month());
    let micros_of_day =
        i64::from(t.num_seconds_from_midnight()) * 1_000_000 + i64::from(t.nanosecond() / 1000);
    let start_of_day = value - micros_of_day;
    let truncated = match field.to_ascii_lowercase().as_str() {
        "microseconds" | "microsecond" => return Ok(value),
        "milliseconds" | "millisecond" => return Ok(value - value.rem_euclid(1000)),
        "second" | "seconds" => return Ok(value - value.rem_euclid(1_000_000)),
        "minute" | "minutes" => return Ok(value - value.rem_euclid(60_000_000)),
        "hour" | "hours" => return Ok(value - value.rem_euclid(3_600_000_000)),
        "day" | "days" => return Ok(start_of_day),
        "week" | "weeks" => {
            let monday = i64::from(t.weekday().num_days_from_monday());
            return Ok(start_of_day - monday * 86_400_000_000);
        }
        "month" | "months" => day(y, m, 1)?,
        "quarter" => day(y, (m - 1) / 3 * 3 + 1, 1)?,
        "year" | "years" => day(y, 1, 1)?,
        // PostgreSQL's arithmetic on its year (0 is 1 BC, as in chrono).
        "decade" | "decades" => day(
            if y > 0 {
                y / 10 * 10
            } else {
                -((8 - (y - 1)) / 10) * 10
            },
            1,
            1,
        )?,
        "century" | "centuries" => day(
            if y > 0 {
                (y + 99) / 100 * 100 - 99
            } else {
                -((99 - (y - 1)) / 100) * 100 + 1
            },
            1,
            1,
        )?,
        "millennium" | "millennia" | "millenniums" => day(
            if y > 0 {
                (y + 999) / 1000 * 1000 - 999
            } else {
                -((999 - (y - 1)) / 1000) * 1000 + 1
            },
            1,
            1,
        )?,
        _ => {
            return Err(SqlError::InvalidParameterValue(format!(
                "unit \"{field}\" not recognized for type {}",
                if with_zone {
                    "timestamp with time zone"
                } else {
                    "timestamp without time zone"
                }
            )))
        }
    };
    Ok(truncated.and_utc().timestamp_micros())
}

/// `date_trunc(field, source)` computed here for microsecond timestamps and dates.
fn date_trunc(args: &ScalarFunctionArgs, with_zone: bool) -> Result<ColumnarValue, SqlError> {
    use datafusion::arrow::array::TimestampMicrosecondArray;
    let scalar = crate::functions::all_scalar(&args.args);
    let arrays = ColumnarValue::values_to_arrays(&args.args)?;
    let fields = datafusion::arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
    let fields = fields.as_string::<i32>();
    let target = args.return_field.data_type();
    let values = datafusion::arrow::compute::cast(&arrays[1], target)?;
    let values = values
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .ok_or_else(|| SqlError::Internal("date_trunc source".into()))?;
    let out = (0..values.len())
        .map(|i| match (fields.is_valid(i), values.is_valid(i)) {
            (true, true) => truncate(fields.value(i), values.value(i), with_zone).map(Some),
            _ => Ok(None),
        })
        .collect::<Result<TimestampMicrosecondArray, SqlError>>()?;
    let out = match target {
        DataType::Timestamp(_, Some(tz)) => out.with_timezone(tz.as_ref()),
        _ => out,
    };
    Ok(crate::functions::columnar_result(Arc::new(out), scalar)?)
}

impl ScalarUDFImpl for PgDateBin {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn signature(&self) -> &Signature {
        self.signature
            .as_ref()
            .unwrap_or_else(|| self.inner.signature())
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        // date_trunc(field, source): a date is a timestamptz, a string a timestamptz, a
        // timestamp of another unit a microsecond one; an interval or a time is
        // DataFusion's.
        let [_, source] = arg_types else {
            return Err(SqlError::UndefinedFunction(format!(
                "function date_trunc({}) does not exist",
                arg_types
                    .iter()
                    .map(crate::functions::pg_type_of)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .into_datafusion());
        };
        let source = match source {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {
                own_trunc_type(&DataType::Date32).unwrap_or(DataType::Null)
            }
            DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
            other => own_trunc_type(other).unwrap_or_else(|| other.clone()),
        };
        Ok(vec![DataType::Utf8, source])
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match (self.stride, arg_types) {
            (false, [_, source]) => match own_trunc_type(source) {
                Some(t) => Ok(t),
                None => self.inner.return_type(arg_types),
            },
            _ => self.inner.return_type(arg_types),
        }
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        match (self.stride, args.arg_fields) {
            (false, [_, source]) => match own_trunc_type(source.data_type()) {
                Some(t) => Ok(Arc::new(datafusion::arrow::datatypes::Field::new(
                    self.name(),
                    t,
                    true,
                ))),
                None => self.inner.return_field_from_args(args),
            },
            _ => self.inner.return_field_from_args(args),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        if let (true, Some(stride)) = (self.stride, args.args.first()) {
            check(stride).map_err(SqlError::into_datafusion)?;
        }
        if let (false, Some(DataType::Timestamp(TimeUnit::Microsecond, tz))) =
            (self.stride, args.arg_fields.get(1).map(|f| f.data_type()))
        {
            return date_trunc(&args, tz.is_some()).map_err(SqlError::into_datafusion);
        }
        let Some(ColumnarValue::Array(first)) = args.args.first() else {
            return self.inner.invoke_with_args(args);
        };
        // A stride or field that differs by row: one call of DataFusion's function per row.
        let first = Arc::clone(first);
        let mut out = Vec::with_capacity(args.number_rows);
        for row in 0..args.number_rows {
            let mut row_args = Vec::with_capacity(args.args.len());
            for a in &args.args {
                row_args.push(ColumnarValue::Scalar(match a {
                    ColumnarValue::Scalar(s) => s.clone(),
                    ColumnarValue::Array(array) => ScalarValue::try_from_array(array, row)?,
                }));
            }
            if first.is_null(row) {
                out.push(ScalarValue::try_from(args.return_field.data_type())?);
                continue;
            }
            let value = self.inner.invoke_with_args(ScalarFunctionArgs {
                args: row_args,
                arg_fields: args.arg_fields.clone(),
                number_rows: 1,
                return_field: Arc::clone(&args.return_field),
                config_options: Arc::clone(&args.config_options),
            })?;
            out.push(match value {
                ColumnarValue::Scalar(s) => s,
                ColumnarValue::Array(a) => ScalarValue::try_from_array(&a, 0)?,
            });
        }
        Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_matches_postgresql_before_and_after_1_ad() {
        let micros = |s: &str| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
                .unwrap()
                .and_utc()
                .timestamp_micros()
        };
        let trunc = |f: &str, s: &str| truncate(f, micros(s), false).unwrap();
        // Years: 0 is 1 BC, -99 is 100 BC.
        assert_eq!(
            trunc("decade", "0000-05-05 00:00:00"),
            micros("0000-01-01 00:00:00")
        );
        assert_eq!(
            trunc("century", "0000-05-05 00:00:00"),
            micros("-0099-01-01 00:00:00")
        );
        assert_eq!(
            trunc("century", "-0054-08-10 00:00:00"),
            micros("-0099-01-01 00:00:00")
        );
        assert_eq!(
            trunc("millennium", "2000-05-05 00:00:00"),
            micros("1001-01-01 00:00:00")
        );
        assert_eq!(
            trunc("millennium", "2001-05-05 00:00:00"),
            micros("2001-01-01 00:00:00")
        );
        assert_eq!(
            trunc("decade", "1993-12-25 00:00:00"),
            micros("1990-01-01 00:00:00")
        );
        assert_eq!(
            trunc("century", "1970-03-20 04:30:00"),
            micros("1901-01-01 00:00:00")
        );
        assert_eq!(
            trunc("week", "0002-02-06 10:00:00"),
            micros("0002-02-04 00:00:00")
        );
        assert_eq!(
            trunc("QUARTER", "2004-08-10 10:00:00"),
            micros("2004-07-01 00:00:00")
        );
        assert_eq!(
            trunc("milliseconds", "2001-05-05 10:00:00.123456"),
            micros("2001-05-05 10:00:00.123")
        );
        assert_eq!(
            trunc("hour", "1500-01-01 10:59:00"),
            micros("1500-01-01 10:00:00")
        );
        assert!(matches!(
            truncate("foo", 0, false),
            Err(SqlError::InvalidParameterValue(m))
                if m == "unit \"foo\" not recognized for type timestamp without time zone"
        ));
    }

    #[test]
    fn stride_is_checked_as_in_postgresql() {
        assert!(check_stride(0, 0, 15 * 60 * 1_000_000_000).is_ok());
        assert!(matches!(
            check_stride(5, 0, 0),
            Err(SqlError::FeatureNotSupported(_))
        ));
        assert!(check_stride(0, 0, 0).is_err());
        assert!(check_stride(0, -2, 0).is_err());
        assert!(matches!(
            check_stride(0, 200_000_000, 0),
            Err(SqlError::DatetimeOverflow(m)) if m == "interval out of range"
        ));
    }
}
