//! `make_timestamp(year, month, day, hour, min, sec)`, `make_date(year, month, day)` and
//! `make_time(hour, min, sec)` as PostgreSQL computes them: a negative year is BC, year zero
//! and fields out of range are refused with PostgreSQL's messages, and seconds may have a
//! fraction.

use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray, Int64Array};
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

const MICROS_PER_DAY: i64 = 86_400_000_000;

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

/// A function of `ints` integer fields and, when `seconds`, fractional seconds last,
/// registered for PostgreSQL sessions: `f` turns one row's fields into the result's integer
/// representation (days, microseconds) or PostgreSQL's error; a NULL field gives NULL.
fn fields_udf(
    name: &str,
    ints: usize,
    seconds: bool,
    ret: DataType,
    f: fn(&[i64], f64) -> Result<i64, SqlError>,
) -> ScalarUDF {
    let mut types = vec![DataType::Int64; ints];
    if seconds {
        types.push(DataType::Float64);
    }
    let out_type = ret.clone();
    datafusion::logical_expr::create_udf(
        name,
        types,
        ret,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let scalar = crate::functions::all_scalar(args);
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let fields = arrays[..ints]
                .iter()
                .map(|a| cast(a, &DataType::Int64))
                .collect::<Result<Vec<_>, _>>()?;
            let secs = match seconds {
                true => Some(cast(&arrays[ints], &DataType::Float64)?),
                false => None,
            };
            let rows = arrays.first().map_or(0, |a| a.len());
            let mut row = vec![0i64; ints];
            let values = (0..rows)
                .map(|r| {
                    let null = fields.iter().any(|a| a.is_null(r))
                        || secs.as_ref().is_some_and(|s| s.is_null(r));
                    if null {
                        return Ok(None);
                    }
                    for (k, a) in fields.iter().enumerate() {
                        row[k] = a.as_primitive::<Int64Type>().value(r);
                    }
                    let s = secs
                        .as_ref()
                        .map_or(0.0, |s| s.as_primitive::<Float64Type>().value(r));
                    f(&row, s).map(Some)
                })
                .collect::<Result<Int64Array, SqlError>>()
                .map_err(SqlError::into_datafusion)?;
            let out = cast(&values, &out_type)?;
            crate::functions::columnar_result(out, scalar)
        }),
    )
}

/// `make_timestamp`.
pub fn udf() -> ScalarUDF {
    fields_udf(
        "make_timestamp",
        5,
        true,
        DataType::Timestamp(TimeUnit::Microsecond, None),
        |f, s| make_timestamp(f[0], f[1], f[2], f[3], f[4], s),
    )
}

/// `make_date` (DataFusion's refuses year zero and negative years with other messages).
pub fn make_date_udf() -> ScalarUDF {
    fields_udf("make_date", 3, false, DataType::Date32, |f, _| {
        let days = make_timestamp(f[0], f[1], f[2], 0, 0, 0.0)?.div_euclid(MICROS_PER_DAY);
        i32::try_from(days)
            .map(i64::from)
            .map_err(|_| SqlError::DatetimeOverflow("date out of range".into()))
    })
}

/// `make_time` (DataFusion's takes whole seconds only).
pub fn make_time_udf() -> ScalarUDF {
    fields_udf(
        "make_time",
        2,
        true,
        DataType::Time64(TimeUnit::Microsecond),
        |f, s| make_time(f[0], f[1], s),
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
