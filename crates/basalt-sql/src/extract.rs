//! `EXTRACT(field FROM x)` and `date_part('field', x)` on dates and timestamps, with
//! PostgreSQL's fields and results: EXTRACT returns numeric (`1.500000` seconds), date_part
//! double precision; years count BC as negative (2020 BC is -2020); centuries and
//! millennia start at year 1; `infinity` gives ±Infinity for fields that grow with time
//! and NULL for the others. Other argument types (time, interval) keep DataFusion's
//! `date_part`.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Decimal128Array, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use crate::datetime::{
    DATE_INFINITY, DATE_NEG_INFINITY, TIMESTAMP_INFINITY, TIMESTAMP_NEG_INFINITY,
};
use crate::error::SqlError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Microseconds,
    Milliseconds,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
    Decade,
    Century,
    Millennium,
    IsoYear,
    Dow,
    IsoDow,
    Doy,
    Julian,
    Epoch,
    Timezone,
    TimezoneHour,
    TimezoneMinute,
}

/// A field name as PostgreSQL's unit tables spell it (`microseconds`, `usec`, `hours`, …).
fn part(name: &str) -> Option<Part> {
    use Part::*;
    Some(match name.to_lowercase().as_str() {
        "microsecond" | "microseconds" | "microsecon" | "us" | "usec" | "usecs" | "usecond"
        | "useconds" => Microseconds,
        "millisecond" | "milliseconds" | "millisecon" | "ms" | "msec" | "msecs" | "msecond"
        | "mseconds" => Milliseconds,
        "second" | "seconds" | "s" | "sec" | "secs" => Second,
        "minute" | "minutes" | "m" | "min" | "mins" => Minute,
        "hour" | "hours" | "h" | "hr" | "hrs" => Hour,
        "day" | "days" | "d" => Day,
        "week" | "weeks" | "w" => Week,
        "month" | "months" | "mon" | "mons" => Month,
        "quarter" | "qtr" => Quarter,
        "year" | "years" | "y" | "yr" | "yrs" => Year,
        "decade" | "decades" | "dec" | "decs" => Decade,
        "century" | "centuries" | "c" | "cent" => Century,
        "millennium" | "millennia" | "mil" | "mils" => Millennium,
        "isoyear" => IsoYear,
        "dow" => Dow,
        "isodow" => IsoDow,
        "doy" => Doy,
        "julian" | "j" => Julian,
        "epoch" => Epoch,
        "timezone" => Timezone,
        "timezone_h" | "timezone_hour" => TimezoneHour,
        "timezone_m" | "timezone_minute" => TimezoneMinute,
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    Date,
    Timestamp,
    TimestampTz,
}

impl Input {
    fn of(t: &DataType) -> Option<Input> {
        match t {
            DataType::Date32 => Some(Input::Date),
            DataType::Timestamp(_, None) => Some(Input::Timestamp),
            DataType::Timestamp(_, Some(_)) => Some(Input::TimestampTz),
            _ => None,
        }
    }

    fn type_name(self) -> &'static str {
        match self {
            Input::Date => "date",
            Input::Timestamp => "timestamp without time zone",
            Input::TimestampTz => "timestamp with time zone",
        }
    }
}

/// The fraction digits of EXTRACT's numeric result for a field of an input type.
fn scale(p: Part, input: Input) -> i8 {
    match (input, p) {
        (Input::Date, _) => 0,
        (_, Part::Milliseconds) => 3,
        (_, Part::Second | Part::Epoch) => 6,
        (_, Part::Julian) => 20,
        _ => 0,
    }
}

/// Checks a field against an input type, with PostgreSQL's errors.
fn check(name: &str, input: Input) -> Result<Part, SqlError> {
    let p = part(name).ok_or_else(|| {
        SqlError::InvalidParameterValue(format!(
            "unit \"{}\" not recognized for type {}",
            name.to_lowercase(),
            input.type_name()
        ))
    })?;
    let supported = match input {
        Input::Date => !matches!(
            p,
            Part::Microseconds
                | Part::Milliseconds
                | Part::Second
                | Part::Minute
                | Part::Hour
                | Part::Timezone
                | Part::TimezoneHour
                | Part::TimezoneMinute
        ),
        Input::Timestamp => !matches!(
            p,
            Part::Timezone | Part::TimezoneHour | Part::TimezoneMinute
        ),
        Input::TimestampTz => true,
    };
    if !supported {
        return Err(SqlError::unsupported(format!(
            "unit \"{}\" not supported for type {}",
            name.to_lowercase(),
            input.type_name()
        )));
    }
    Ok(p)
}

/// A field's value: a number scaled by 10^scale, an infinity, or NULL.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Extracted {
    Scaled(i128),
    Infinity(bool),
    Null,
}

const USECS_PER_DAY: i64 = 86_400_000_000;

fn extract(p: Part, input: Input, value: i64) -> Extracted {
    let infinite = match input {
        Input::Date => match i32::try_from(value) {
            Ok(DATE_INFINITY) => Some(true),
            Ok(DATE_NEG_INFINITY) => Some(false),
            _ => None,
        },
        _ => match value {
            TIMESTAMP_INFINITY => Some(true),
            TIMESTAMP_NEG_INFINITY => Some(false),
            _ => None,
        },
    };
    if let Some(positive) = infinite {
        // Fields that grow with time are infinite too; the others have no value.
        return match p {
            Part::Year
            | Part::Decade
            | Part::Century
            | Part::Millennium
            | Part::Julian
            | Part::IsoYear
            | Part::Epoch => Extracted::Infinity(positive),
            _ => Extracted::Null,
        };
    }
    let (days, in_day) = match input {
        Input::Date => (value, 0),
        _ => (
            value.div_euclid(USECS_PER_DAY),
            value.rem_euclid(USECS_PER_DAY),
        ),
    };
    let Some(date) = i32::try_from(days + 719_163)
        .ok()
        .and_then(NaiveDate::from_num_days_from_ce_opt)
    else {
        return Extracted::Null;
    };
    let y = i64::from(date.year()); // astronomical: 0 is 1 BC
    let sec_us = in_day % 60_000_000;
    let whole = |v: i64| Extracted::Scaled(i128::from(v));
    let pow = |s: i8| 10i128.pow(u32::try_from(s).unwrap_or(0));
    match p {
        Part::Microseconds => whole(sec_us),
        Part::Milliseconds => whole(sec_us), // scale 3: microseconds are milliseconds × 10³
        Part::Second => whole(sec_us),       // scale 6
        Part::Minute => whole(in_day / 60_000_000 % 60),
        Part::Hour => whole(in_day / 3_600_000_000),
        Part::Day => whole(i64::from(date.day())),
        Part::Month => whole(i64::from(date.month())),
        Part::Quarter => whole((i64::from(date.month()) - 1) / 3 + 1),
        Part::Week => whole(i64::from(date.iso_week().week())),
        Part::Year => whole(if y > 0 { y } else { y - 1 }),
        Part::Decade => whole(if y >= 0 {
            y / 10
        } else {
            -((8 - (y - 1)) / 10)
        }),
        Part::Century => whole(if y > 0 {
            (y + 99) / 100
        } else {
            -((99 - (y - 1)) / 100)
        }),
        Part::Millennium => whole(if y > 0 {
            (y + 999) / 1000
        } else {
            -((999 - (y - 1)) / 1000)
        }),
        Part::IsoYear => {
            let iy = i64::from(date.iso_week().year());
            whole(if iy > 0 { iy } else { iy - 1 })
        }
        Part::Dow => whole(i64::from(date.weekday().num_days_from_sunday())),
        Part::IsoDow => whole(i64::from(date.weekday().number_from_monday())),
        Part::Doy => whole(i64::from(date.ordinal())),
        Part::Julian => {
            let jd = i128::from(days + 2_440_588);
            match input {
                Input::Date => Extracted::Scaled(jd),
                _ => Extracted::Scaled(
                    jd * pow(20) + i128::from(in_day) * pow(20) / i128::from(USECS_PER_DAY),
                ),
            }
        }
        Part::Epoch => match input {
            Input::Date => whole(days * 86_400),
            _ => Extracted::Scaled(i128::from(value)),
        },
        Part::Timezone | Part::TimezoneHour | Part::TimezoneMinute => whole(0),
    }
}

/// Microseconds of a timestamp column, or days of a date column.
fn raw_values(array: &ArrayRef) -> DfResult<Vec<Option<i64>>> {
    Ok(match array.data_type() {
        DataType::Date32 => array
            .as_primitive::<datafusion::arrow::datatypes::Date32Type>()
            .iter()
            .map(|v| v.map(i64::from))
            .collect(),
        DataType::Timestamp(unit, _) => {
            let ints = cast(array, &DataType::Int64)?;
            let ints = ints.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let per_us = |v: i64| -> i64 {
                match (unit, v) {
                    (_, i64::MAX | i64::MIN) => v,
                    (TimeUnit::Second, _) => v.saturating_mul(1_000_000),
                    (TimeUnit::Millisecond, _) => v.saturating_mul(1_000),
                    (TimeUnit::Microsecond, _) => v,
                    (TimeUnit::Nanosecond, _) => v.div_euclid(1_000),
                }
            };
            ints.iter().map(|v| v.map(per_us)).collect()
        }
        other => {
            return Err(SqlError::Internal(format!("no date or time in {other}")).into_datafusion())
        }
    })
}

/// `pg_extract(field, x)` (EXTRACT, numeric) or `pg_date_part(field, x)` (double precision).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PgExtract {
    numeric: bool,
    signature: Signature,
}

impl PgExtract {
    pub fn udf(numeric: bool) -> ScalarUDF {
        ScalarUDF::from(PgExtract {
            numeric,
            signature: Signature::any(2, Volatility::Immutable),
        })
    }

    /// The field and input type of a call, checked.
    fn target(field: &str, t: &DataType) -> Result<(Part, Input), SqlError> {
        let input = Input::of(t).ok_or_else(|| {
            SqlError::Internal(format!(
                "pg_extract applies to dates and timestamps, not {t}"
            ))
        })?;
        Ok((check(field, input)?, input))
    }
}

fn field_name(v: Option<&ScalarValue>) -> Option<String> {
    match v {
        Some(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s))) => Some(s.clone()),
        Some(ScalarValue::Utf8View(Some(s))) => Some(s.clone()),
        _ => None,
    }
}

impl ScalarUDFImpl for PgExtract {
    fn name(&self) -> &str {
        if self.numeric {
            "pg_extract"
        } else {
            "pg_date_part"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Float64)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let input = args.arg_fields.get(1).map(|f| f.data_type().clone());
        if input.as_ref().and_then(Input::of).is_none() {
            return datafusion::functions::datetime::date_part().return_field_from_args(args);
        }
        if !self.numeric {
            return Ok(Arc::new(Field::new(self.name(), DataType::Float64, true)));
        }
        let field = field_name(args.scalar_arguments.first().copied().flatten());
        let (Some(field), Some(input)) = (field, input) else {
            return Err(
                SqlError::unsupported("the EXTRACT field must be a constant").into_datafusion(),
            );
        };
        let (p, input) = Self::target(&field, &input).map_err(SqlError::into_datafusion)?;
        Ok(Arc::new(Field::new(
            self.name(),
            DataType::Decimal128(38, scale(p, input)),
            true,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        if Input::of(&args.args[1].data_type()).is_none() {
            return datafusion::functions::datetime::date_part().invoke_with_args(args);
        }
        let rows = args.number_rows;
        let field = match &args.args[0] {
            ColumnarValue::Scalar(s) => field_name(Some(s)),
            ColumnarValue::Array(_) => None,
        }
        .ok_or_else(|| {
            SqlError::unsupported("the date_part field must be a constant").into_datafusion()
        })?;
        let scalar = matches!(args.args[1], ColumnarValue::Scalar(_));
        let values = args.args[1].to_array(rows)?;
        // date_part(text, date) reads the date as a timestamp at midnight, as PostgreSQL's
        // implicit cast does (so hours are 0); EXTRACT keeps date's own rules.
        let (values, raw) = if !self.numeric && values.data_type() == &DataType::Date32 {
            let raw: Vec<Option<i64>> = raw_values(&values)?
                .into_iter()
                .map(|d| {
                    d.map(|d| match i32::try_from(d) {
                        Ok(DATE_INFINITY) => TIMESTAMP_INFINITY,
                        Ok(DATE_NEG_INFINITY) => TIMESTAMP_NEG_INFINITY,
                        _ => d * USECS_PER_DAY,
                    })
                })
                .collect();
            let as_timestamp: ArrayRef = Arc::new(
                datafusion::arrow::array::TimestampMicrosecondArray::from(raw.clone()),
            );
            (as_timestamp, raw)
        } else {
            let raw = raw_values(&values)?;
            (values, raw)
        };
        let (p, input) =
            Self::target(&field, values.data_type()).map_err(SqlError::into_datafusion)?;
        let s = scale(p, input);
        let out: ArrayRef = if self.numeric {
            let mut v: Vec<Option<i128>> = Vec::with_capacity(values.len());
            for raw in raw {
                v.push(match raw.map(|r| extract(p, input, r)) {
                    None | Some(Extracted::Null) => None,
                    Some(Extracted::Scaled(x)) => Some(x),
                    Some(Extracted::Infinity(true)) => Some(crate::numeric::POS_INF),
                    Some(Extracted::Infinity(false)) => Some(crate::numeric::NEG_INF),
                });
            }
            Arc::new(Decimal128Array::from(v).with_precision_and_scale(38, s)?)
        } else {
            let div = 10f64.powi(i32::from(s));
            let v: Float64Array = raw
                .into_iter()
                .map(|raw| match raw.map(|r| extract(p, input, r)) {
                    None | Some(Extracted::Null) => None,
                    Some(Extracted::Scaled(x)) => Some(x as f64 / div),
                    Some(Extracted::Infinity(pos)) => Some(if pos {
                        f64::INFINITY
                    } else {
                        f64::NEG_INFINITY
                    }),
                })
                .collect();
            Arc::new(v)
        };
        crate::functions::columnar_result(out, scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(y: i32, m: u32, d: u32) -> i64 {
        i64::from(
            NaiveDate::from_ymd_opt(y, m, d)
                .map(|x| x.num_days_from_ce() - 719_163)
                .unwrap_or_default(),
        )
    }

    #[test]
    fn fields_of_dates_follow_postgresql() {
        let e = |p, d| extract(p, Input::Date, d);
        assert_eq!(e(Part::Century, days(-100, 12, 31)), Extracted::Scaled(-2)); // 101 BC
        assert_eq!(e(Part::Century, days(-99, 12, 31)), Extracted::Scaled(-1)); // 100 BC
        assert_eq!(e(Part::Century, days(1900, 12, 31)), Extracted::Scaled(19));
        assert_eq!(e(Part::Century, days(1901, 1, 1)), Extracted::Scaled(20));
        assert_eq!(e(Part::Millennium, days(2001, 1, 1)), Extracted::Scaled(3));
        assert_eq!(e(Part::Decade, days(-11, 12, 31)), Extracted::Scaled(-2)); // 12 BC
        assert_eq!(e(Part::Year, days(-2019, 8, 11)), Extracted::Scaled(-2020));
        assert_eq!(
            e(Part::Julian, days(2020, 8, 11)),
            Extracted::Scaled(2_459_073)
        );
        assert_eq!(
            e(Part::Epoch, i64::from(DATE_INFINITY)),
            Extracted::Infinity(true)
        );
        assert_eq!(e(Part::Dow, i64::from(DATE_INFINITY)), Extracted::Null);
        assert!(check("hour", Input::Date).is_err());
        assert!(check("microsec", Input::Date).is_err());
    }
}
