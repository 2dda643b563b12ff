//! `make_timestamp(year, month, day, hour, min, sec)`, `make_date(year, month, day)` and
//! `make_time(hour, min, sec)` as PostgreSQL computes them: a negative year is BC, year zero
//! and fields out of range are refused with PostgreSQL's messages, and seconds may have a
//! fraction.

use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{
    Array, AsArray, Date32Array, Time64MicrosecondArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility};

use crate::error::SqlError;

const MICROS_PER_SECOND: f64 = 1_000_000.0;

/// The timestamp (microseconds since 1970) of the given fields, or PostgreSQL's error.
pub fn make_timestamp(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: f64,
) -> Result<i64, SqlError> {
    let date_error = || {
        SqlError::DatetimeOverflow(format!(
            "date field value out of range: {year}-{month:02}-{day:02}"
        ))
    };
    // Year -1 is 1 BC, which is year 0 in the proleptic calendar chrono counts in.
    let astronomical = match year {
        0 => return Err(date_error()),
        y if y < 0 => y + 1,
        y => y,
    };
    let date = i32::try_from(astronomical)
        .ok()
        .zip(u32::try_from(month).ok())
        .zip(u32::try_from(day).ok())
        .and_then(|((y, m), d)| NaiveDate::from_ymd_opt(y, m, d))
        .ok_or_else(date_error)?;
    let time_ok = (0..=24).contains(&hour)
        && (0..=59).contains(&minute)
        && (0.0..=60.0).contains(&second)
        && (hour < 24 || (minute == 0 && second == 0.0));
    if !time_ok {
        return Err(SqlError::DatetimeOverflow(format!(
            "time field value out of range: {hour}:{minute:02}:{second:02}"
        )));
    }
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).ok_or_else(date_error)?;
    let days = (date - epoch).num_days();
    let micros = days
        .checked_mul(86_400_000_000)
        .and_then(|d| d.checked_add((hour * 3600 + minute * 60) * 1_000_000))
        .and_then(|d| d.checked_add((second * MICROS_PER_SECOND).round_ties_even() as i64))
        .ok_or_else(|| SqlError::DatetimeOverflow("timestamp out of range".into()))?;
    Ok(micros)
}

/// `make_timestamp`, registered for PostgreSQL sessions.
pub fn udf() -> ScalarUDF {
    datafusion::logical_expr::create_udf(
        "make_timestamp",
        vec![
            DataType::Int64,
            DataType::Int64,
            DataType::Int64,
            DataType::Int64,
            DataType::Int64,
            DataType::Float64,
        ],
        DataType::Timestamp(TimeUnit::Microsecond, None),
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let scalar = crate::functions::all_scalar(args);
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let ints = arrays[..5]
                .iter()
                .map(|a| cast(a, &DataType::Int64))
                .collect::<Result<Vec<_>, _>>()?;
            let seconds = cast(&arrays[5], &DataType::Float64)?;
            let seconds = seconds.as_primitive::<Float64Type>();
            let rows = seconds.len();
            let out = (0..rows)
                .map(|r| {
                    if seconds.is_null(r) || ints.iter().any(|a| a.is_null(r)) {
                        return Ok(None);
                    }
                    let f = |k: usize| ints[k].as_primitive::<Int64Type>().value(r);
                    make_timestamp(f(0), f(1), f(2), f(3), f(4), seconds.value(r)).map(Some)
                })
                .collect::<Result<TimestampMicrosecondArray, SqlError>>()
                .map_err(SqlError::into_datafusion)?;
            crate::functions::columnar_result(Arc::new(out), scalar)
        }),
    )
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// `make_date`, registered for PostgreSQL sessions (DataFusion's refuses year zero and
/// negative years with other messages).
pub fn make_date_udf() -> ScalarUDF {
    datafusion::logical_expr::create_udf(
        "make_date",
        vec![DataType::Int64, DataType::Int64, DataType::Int64],
        DataType::Date32,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let scalar = crate::functions::all_scalar(args);
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let ints = arrays
                .iter()
                .map(|a| cast(a, &DataType::Int64))
                .collect::<Result<Vec<_>, _>>()?;
            let rows = ints.first().map_or(0, |a| a.len());
            let out = (0..rows)
                .map(|r| {
                    if ints.iter().any(|a| a.is_null(r)) {
                        return Ok(None);
                    }
                    let f = |k: usize| ints[k].as_primitive::<Int64Type>().value(r);
                    let micros = make_timestamp(f(0), f(1), f(2), 0, 0, 0.0)?;
                    i32::try_from(micros.div_euclid(MICROS_PER_DAY))
                        .map(Some)
                        .map_err(|_| SqlError::DatetimeOverflow("date out of range".into()))
                })
                .collect::<Result<Date32Array, SqlError>>()
                .map_err(SqlError::into_datafusion)?;
            crate::functions::columnar_result(Arc::new(out), scalar)
        }),
    )
}

/// The time of day (microseconds, Basalt's `time`) of the given fields, or PostgreSQL's
/// error; 24:00:00 is allowed.
pub fn make_time(hour: i64, minute: i64, second: f64) -> Result<i64, SqlError> {
    let ok = (0..=24).contains(&hour)
        && (0..=59).contains(&minute)
        && (0.0..=60.0).contains(&second)
        && (hour < 24 || (minute == 0 && second == 0.0));
    if !ok {
        return Err(SqlError::DatetimeOverflow(format!(
            "time field value out of range: {hour}:{minute:02}:{second:02}"
        )));
    }
    Ok((hour * 3600 + minute * 60) * 1_000_000
        + (second * MICROS_PER_SECOND).round_ties_even() as i64)
}

/// `make_time`, registered for PostgreSQL sessions (DataFusion's takes whole seconds only).
pub fn make_time_udf() -> ScalarUDF {
    datafusion::logical_expr::create_udf(
        "make_time",
        vec![DataType::Int64, DataType::Int64, DataType::Float64],
        DataType::Time64(TimeUnit::Microsecond),
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let scalar = crate::functions::all_scalar(args);
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let ints = arrays[..2]
                .iter()
                .map(|a| cast(a, &DataType::Int64))
                .collect::<Result<Vec<_>, _>>()?;
            let seconds = cast(&arrays[2], &DataType::Float64)?;
            let seconds = seconds.as_primitive::<Float64Type>();
            let out = (0..seconds.len())
                .map(|r| {
                    if seconds.is_null(r) || ints.iter().any(|a| a.is_null(r)) {
                        return Ok(None);
                    }
                    let f = |k: usize| ints[k].as_primitive::<Int64Type>().value(r);
                    make_time(f(0), f(1), seconds.value(r)).map(Some)
                })
                .collect::<Result<Time64MicrosecondArray, SqlError>>()
                .map_err(SqlError::into_datafusion)?;
            crate::functions::columnar_result(Arc::new(out), scalar)
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_as_in_postgresql() {
        // 2014-12-28 06:30:45.887
        assert_eq!(
            make_timestamp(2014, 12, 28, 6, 30, 45.887).ok(),
            Some(1_419_748_245_887_000)
        );
        assert!(make_timestamp(-44, 3, 15, 12, 30, 15.0).is_ok());
        assert!(matches!(
            make_timestamp(0, 7, 15, 12, 30, 15.0),
            Err(SqlError::DatetimeOverflow(m)) if m == "date field value out of range: 0-07-15"
        ));
        assert!(make_timestamp(2020, 2, 30, 0, 0, 0.0).is_err());
        assert!(make_timestamp(2020, 1, 1, 25, 0, 0.0).is_err());
    }

    #[test]
    fn times_as_in_postgresql() {
        assert_eq!(make_time(8, 20, 0.5).ok(), Some(30_000_500_000));
        assert!(make_time(24, 0, 0.0).is_ok());
        assert!(matches!(
            make_time(24, 0, 2.1),
            Err(SqlError::DatetimeOverflow(m)) if m == "time field value out of range: 24:00:2.1"
        ));
        assert!(matches!(
            make_time(10, 55, 100.1),
            Err(SqlError::DatetimeOverflow(m)) if m == "time field value out of range: 10:55:100.1"
        ));
    }
}
