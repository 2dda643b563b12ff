//! PostgreSQL's text output format for values (used by COPY TO).

use std::sync::Arc;

use chrono::NaiveTime;
use datafusion::arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
    Float64Array, Int16Array, Int32Array, Int64Array, IntervalMonthDayNanoArray, ListArray,
    StringArray, StructArray, Time64MicrosecondArray, Time64NanosecondArray,
    TimestampMicrosecondArray, TimestampNanosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, IntervalUnit, TimeUnit};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use basalt_common::types::{NUMERIC_DEFAULT_PRECISION, NUMERIC_DEFAULT_SCALE};

use crate::datetime::{self, DateStyle};
use crate::error::{SqlError, SqlResult};

/// How a session prints values as text: dates and timestamps in its DateStyle, floating
/// point with its `extra_float_digits` (1, the default, prints the shortest exact text; 0
/// and below print 15 + n significant digits for double precision, 6 + n for real).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextStyle {
    pub dates: DateStyle,
    pub float_digits: i8,
    /// `bytea_output = escape`: bytea printed in the escape format, not hex.
    pub bytea_escape: bool,
}

impl Default for TextStyle {
    fn default() -> Self {
        TextStyle {
            dates: DateStyle::default(),
            float_digits: 1,
            bytea_escape: false,
        }
    }
}

impl TextStyle {
    /// The style packed into one integer, for a session's atomic setting.
    pub fn to_bits(self) -> u32 {
        u32::from(self.dates.to_bits())
            | (u32::from(self.float_digits as u8) << 8)
            | (u32::from(self.bytea_escape) << 16)
    }

    pub fn from_bits(bits: u32) -> TextStyle {
        TextStyle {
            dates: DateStyle::from_bits((bits & 0xff) as u8),
            float_digits: ((bits >> 8) & 0xff) as u8 as i8,
            bytea_escape: (bits >> 16) & 1 == 1,
        }
    }
}

/// Formats every value of `array` as PostgreSQL prints it in text mode with the default
/// settings (DateStyle ISO, MDY); `None` for NULL.
pub fn pg_text_column(array: &ArrayRef) -> SqlResult<Vec<Option<String>>> {
    pg_text_column_in(array, TextStyle::default())
}

/// Formats every value of `array` as PostgreSQL prints it in text mode in the session's
/// `style`; `None` for NULL.
pub fn pg_text_column_in(array: &ArrayRef, style: TextStyle) -> SqlResult<Vec<Option<String>>> {
    let ds = style.dates;
    let n = array.len();
    let mut out = Vec::with_capacity(n);
    macro_rules! each {
        ($t:ty, $f:expr) => {{
            let a = array
                .as_any()
                .downcast_ref::<$t>()
                .expect("type checked by match");
            for i in 0..n {
                out.push(if a.is_null(i) { None } else { Some($f(a, i)) });
            }
        }};
    }
    match array.data_type() {
        // A NullArray has no null bitmap: every value is NULL.
        DataType::Null => return Ok(vec![None; n]),
        DataType::Boolean => each!(BooleanArray, |a: &BooleanArray, i| if a.value(i) {
            "t".into()
        } else {
            "f".into()
        }),
        DataType::Int16 => each!(Int16Array, |a: &Int16Array, i| a.value(i).to_string()),
        DataType::Int32 => each!(Int32Array, |a: &Int32Array, i| a.value(i).to_string()),
        DataType::Int64 => each!(Int64Array, |a: &Int64Array, i| a.value(i).to_string()),
        DataType::Float32 => each!(Float32Array, |a: &Float32Array, i| {
            float4_text_in(a.value(i), style.float_digits)
        }),
        DataType::Float64 => each!(Float64Array, |a: &Float64Array, i| {
            float_text_in(a.value(i), style.float_digits)
        }),
        DataType::Decimal128(p, s) => {
            // NUMERIC without a type modifier is stored at a fixed scale; print it without
            // the padding zeros, as PostgreSQL prints an unconstrained numeric.
            let trim = *p == NUMERIC_DEFAULT_PRECISION && *s == NUMERIC_DEFAULT_SCALE;
            each!(Decimal128Array, |a: &Decimal128Array, i| {
                let v = crate::numeric::text(a.value(i), *s);
                if trim && v.contains('.') {
                    v.trim_end_matches('0').trim_end_matches('.').to_owned()
                } else {
                    v
                }
            })
        }
        DataType::Utf8 => each!(StringArray, |a: &StringArray, i| a.value(i).to_owned()),
        DataType::Binary if style.bytea_escape => {
            each!(BinaryArray, |a: &BinaryArray, i| bytea_escape_text(
                a.value(i)
            ))
        }
        DataType::Binary => each!(BinaryArray, |a: &BinaryArray, i| bytea_text(a.value(i))),
        DataType::Date32 => each!(Date32Array, |a: &Date32Array, i| {
            datetime::date_text(a.value(i), ds)
        }),
        DataType::Time64(TimeUnit::Microsecond) => {
            each!(Time64MicrosecondArray, |a: &Time64MicrosecondArray, i| {
                time_text(a.value(i))
            })
        }
        // A time literal (`'08:20:00.5'::time`) is read at nanoseconds.
        DataType::Time64(TimeUnit::Nanosecond) => {
            each!(Time64NanosecondArray, |a: &Time64NanosecondArray, i| {
                time_text(a.value(i).div_euclid(1000))
            })
        }
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            let with_tz = tz.is_some();
            each!(
                TimestampMicrosecondArray,
                |a: &TimestampMicrosecondArray, i| datetime::timestamp_text(
                    a.value(i),
                    with_tz,
                    ds
                )
            )
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            each!(
                IntervalMonthDayNanoArray,
                |a: &IntervalMonthDayNanoArray, i| {
                    let v = a.value(i);
                    interval_text(v.months, v.days, v.nanoseconds)
                }
            )
        }
        // A difference of timestamps: days and time, as PostgreSQL's justified interval.
        DataType::Duration(_) => {
            let us = cast(array, &DataType::Duration(TimeUnit::Microsecond))?;
            let us = cast(&us, &DataType::Int64)?;
            let a = us
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("cast to Int64");
            for i in 0..n {
                out.push((!a.is_null(i)).then(|| {
                    let v = a.value(i);
                    let days = v / 86_400_000_000;
                    interval_text(0, days as i32, (v - days * 86_400_000_000) * 1000)
                }));
            }
        }
        DataType::LargeUtf8 | DataType::Utf8View => {
            return pg_text_column_in(&cast(array, &DataType::Utf8)?, style);
        }
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
            let list = cast(array, &list_of(array.data_type()))?;
            let list = list
                .as_any()
                .downcast_ref::<ListArray>()
                .ok_or_else(|| SqlError::Internal("array output".into()))?;
            for i in 0..n {
                out.push(if list.is_null(i) {
                    None
                } else {
                    Some(array_text(&list.value(i), style)?)
                });
            }
        }
        DataType::Struct(_) => {
            let rows = array
                .as_any()
                .downcast_ref::<StructArray>()
                .ok_or_else(|| SqlError::Internal("record output".into()))?;
            let fields = rows
                .columns()
                .iter()
                .map(|c| pg_text_column_in(c, style))
                .collect::<SqlResult<Vec<_>>>()?;
            for i in 0..n {
                out.push((!rows.is_null(i)).then(|| record_text(fields.iter().map(|f| &f[i]))));
            }
        }
        DataType::Timestamp(TimeUnit::Nanosecond, tz) => {
            // Whole microseconds; the infinities keep their stored form.
            let with_tz = tz.is_some();
            each!(
                TimestampNanosecondArray,
                |a: &TimestampNanosecondArray, i| {
                    let v: i64 = a.value(i);
                    let us = match v {
                        i64::MAX | i64::MIN => v,
                        _ => v.div_euclid(1000),
                    };
                    datetime::timestamp_text(us, with_tz, ds)
                }
            )
        }
        DataType::Timestamp(_, tz) => {
            let target = DataType::Timestamp(TimeUnit::Microsecond, tz.clone());
            return pg_text_column_in(&cast(array, &target)?, style);
        }
        _ => {
            let options = FormatOptions::default();
            let f = ArrayFormatter::try_new(array.as_ref(), &options)?;
            for i in 0..n {
                out.push(if array.is_null(i) {
                    None
                } else {
                    Some(f.value(i).to_string())
                });
            }
        }
    }
    Ok(out)
}

/// The `List` form of a list type (large and fixed-size lists are cast to it for output).
fn list_of(t: &DataType) -> DataType {
    match t {
        DataType::LargeList(f) | DataType::FixedSizeList(f, _) => DataType::List(Arc::clone(f)),
        other => other.clone(),
    }
}

/// An array as PostgreSQL's `array_out` prints it: `{1,2,NULL}`, nested arrays as
/// `{{1,2},{3,4}}`, and an element in double quotes (with `"` and `\` escaped) when it is
/// empty, is the word NULL, or holds a brace, comma, quote, backslash or white space.
fn array_text(values: &ArrayRef, style: TextStyle) -> SqlResult<String> {
    let nested = matches!(
        values.data_type(),
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..)
    );
    let mut out = String::from("{");
    for (i, v) in pg_text_column_in(values, style)?.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match v {
            None => out.push_str("NULL"),
            Some(v) if nested => out.push_str(&v),
            Some(v) => {
                let quote = v.is_empty()
                    || v.eq_ignore_ascii_case("null")
                    || v.chars().any(|c| {
                        matches!(c, '{' | '}' | ',' | '"' | '\\')
                            || matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
                    });
                if quote {
                    out.push('"');
                    for c in v.chars() {
                        if c == '"' || c == '\\' {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                    out.push('"');
                } else {
                    out.push_str(&v);
                }
            }
        }
    }
    out.push('}');
    Ok(out)
}

/// A row value as PostgreSQL's `record_out` prints it: `(1,abc,)`, a NULL field empty, and a
/// field in double quotes (with `"` and `\` doubled) when it is empty or holds a
/// parenthesis, comma, quote, backslash or white space.
fn record_text<'a>(fields: impl Iterator<Item = &'a Option<String>>) -> String {
    let mut out = String::from("(");
    for (i, v) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let Some(v) = v else { continue };
        let quote = v.is_empty()
            || v.chars()
                .any(|c| matches!(c, '(' | ')' | ',' | '"' | '\\') || c.is_ascii_whitespace());
        if !quote {
            out.push_str(v);
            continue;
        }
        out.push('"');
        for c in v.chars() {
            if c == '"' || c == '\\' {
                out.push(c);
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push(')');
    out
}

/// A double precision value as PostgreSQL prints it: the shortest text that reads back the
/// same value, in exponent form when the exponent is below -4 or at least 15.
pub fn float_text(x: f64) -> String {
    match special_float(x) {
        Some(s) => s.into(),
        None => shortest_float(format!("{x:e}"), format!("{x}"), 15),
    }
}

/// A real (float4) value as PostgreSQL prints it: the shortest text for the single-precision
/// value (not for its double widening), in exponent form below -4 or from 6 on.
pub fn float4_text(x: f32) -> String {
    match special_float(f64::from(x)) {
        Some(s) => s.into(),
        None => shortest_float(format!("{x:e}"), format!("{x}"), 6),
    }
}

/// A double precision value with `extra_float_digits` = `digits`.
pub fn float_text_in(x: f64, digits: i8) -> String {
    if digits > 0 {
        return float_text(x);
    }
    match special_float(x) {
        Some(s) => s.into(),
        None => general_float(x, 15 + i32::from(digits)),
    }
}

/// A real value with `extra_float_digits` = `digits`.
pub fn float4_text_in(x: f32, digits: i8) -> String {
    if digits > 0 {
        return float4_text(x);
    }
    match special_float(f64::from(x)) {
        Some(s) => s.into(),
        None => general_float(f64::from(x), 6 + i32::from(digits)),
    }
}

/// C's `%.{precision}g`: `precision` significant digits without trailing zeros, in exponent
/// form when the exponent is below -4 or at least `precision`.
fn general_float(x: f64, precision: i32) -> String {
    let precision = precision.max(1);
    let exp = format!("{:.*e}", (precision - 1) as usize, x);
    let Some((mantissa, e)) = exp.split_once('e') else {
        return exp;
    };
    let e: i32 = e.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s.to_owned()
        }
    };
    if e < -4 || e >= precision {
        let sign = if e < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim(mantissa), e.unsigned_abs());
    }
    trim(&format!("{:.*}", (precision - 1 - e).max(0) as usize, x))
}

fn special_float(x: f64) -> Option<&'static str> {
    if x.is_nan() {
        Some("NaN")
    } else if x.is_infinite() {
        Some(if x > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        None
    }
}

/// PostgreSQL's choice between `plain` and the exponent form of `exp` (Rust's `{:e}`,
/// `1.5e15`), written as `1.5e+15` with at least two exponent digits.
fn shortest_float(exp: String, plain: String, exponent_from: i32) -> String {
    let Some((mantissa, e)) = exp.split_once('e') else {
        return plain;
    };
    let e: i32 = e.parse().unwrap_or(0);
    if (-4..exponent_from).contains(&e) {
        return plain;
    }
    let sign = if e < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", e.unsigned_abs())
}

pub fn bytea_text(b: &[u8]) -> String {
    let mut s = String::with_capacity(2 + b.len() * 2);
    s.push_str("\\x");
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// A bytea in PostgreSQL's escape output format: printable ASCII as itself, a backslash
/// doubled, any other byte as `\ooo` in octal.
pub fn bytea_escape_text(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for &x in b {
        match x {
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(char::from(x)),
            _ => s.push_str(&format!("\\{x:03o}")),
        }
    }
    s
}

pub fn time_text(us: i64) -> String {
    if !(0..=86_400_000_000).contains(&us) {
        return us.to_string(); // not a time of day; shown raw rather than wrapped
    }
    if us == 86_400_000_000 {
        return "24:00:00".into(); // PostgreSQL's end of day
    }
    let secs = (us / 1_000_000) as u32;
    let frac = (us % 1_000_000) as u32;
    match NaiveTime::from_num_seconds_from_midnight_opt(secs, frac * 1000) {
        Some(t) if frac == 0 => t.format("%H:%M:%S").to_string(),
        Some(t) => trim_fraction(t.format("%H:%M:%S%.6f").to_string()),
        None => us.to_string(),
    }
}

fn trim_fraction(s: String) -> String {
    s.trim_end_matches('0').to_owned()
}

/// PostgreSQL's default `postgres` interval style: `1 year 2 mons 3 days 04:05:06`.
pub fn interval_text(months: i32, days: i32, nanos: i64) -> String {
    let mut parts = Vec::new();
    let (years, mons) = (months / 12, months % 12);
    let plural = |n: i64, unit: &str| {
        if n.abs() == 1 {
            format!("{n} {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    if years != 0 {
        parts.push(plural(i64::from(years), "year"));
    }
    if mons != 0 {
        parts.push(if mons.abs() == 1 {
            format!("{mons} mon")
        } else {
            format!("{mons} mons")
        });
    }
    if days != 0 {
        parts.push(plural(i64::from(days), "day"));
    }
    if nanos != 0 || parts.is_empty() {
        let neg = nanos < 0;
        let us = (nanos / 1000).unsigned_abs();
        let (h, m, s, f) = (
            us / 3_600_000_000,
            us / 60_000_000 % 60,
            us / 1_000_000 % 60,
            us % 1_000_000,
        );
        let mut t = format!("{}{h:02}:{m:02}:{s:02}", if neg { "-" } else { "" });
        if f != 0 {
            t = trim_fraction(format!("{t}.{f:06}"));
        }
        parts.push(t);
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_print_like_postgres() {
        assert_eq!(
            interval_text(14, 3, 4 * 3_600_000_000_000 + 5_000_000_000),
            "1 year 2 mons 3 days 04:00:05"
        );
        assert_eq!(interval_text(0, 1, 0), "1 day");
        assert_eq!(interval_text(0, 0, 0), "00:00:00");
    }

    #[test]
    fn timestamps_print_like_postgres() {
        let iso = DateStyle::default();
        assert_eq!(
            datetime::timestamp_text(0, false, iso),
            "1970-01-01 00:00:00"
        );
        assert_eq!(
            datetime::timestamp_text(1_500_000, true, iso),
            "1970-01-01 00:00:01.5+00"
        );
        assert_eq!(datetime::date_text(0, iso), "1970-01-01");
        assert_eq!(time_text(3_600_000_000), "01:00:00");
    }
}
