//! PostgreSQL's text output format for values (used by COPY TO).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

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
use crate::zone::SessionZone;

/// How a session prints values as text: dates and timestamps in its DateStyle, floating
/// point with its `extra_float_digits` (1, the default, prints the shortest exact text; 0
/// and below print 15 + n significant digits for double precision, 6 + n for real).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextStyle {
    pub dates: DateStyle,
    pub float_digits: i8,
    /// `bytea_output = escape`: bytea printed in the escape format, not hex.
    pub bytea_escape: bool,
    /// How intervals print (`IntervalStyle`).
    pub intervals: IntervalStyle,
    /// The zone `timestamptz` values are shown in (`TimeZone`).
    pub zone: SessionZone,
}

impl Default for TextStyle {
    fn default() -> Self {
        TextStyle {
            dates: DateStyle::default(),
            float_digits: 1,
            bytea_escape: false,
            intervals: IntervalStyle::Postgres,
            zone: SessionZone::default(),
        }
    }
}

/// PostgreSQL's `IntervalStyle` setting: how intervals print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntervalStyle {
    /// `1 year 2 mons 3 days 04:05:06` (the default).
    Postgres,
    /// `@ 1 year 2 mons 3 days 4 hours 5 mins 6 secs`, negative spans with ` ago`.
    PostgresVerbose,
    /// `1-2 3 4:05:06`.
    SqlStandard,
    /// `P1Y2M3DT4H5M6S`.
    Iso8601,
}

impl IntervalStyle {
    /// The style a setting names; `None` for a name PostgreSQL does not know.
    pub fn parse(value: &str) -> Option<IntervalStyle> {
        match value.trim().to_lowercase().as_str() {
            "postgres" => Some(IntervalStyle::Postgres),
            "postgres_verbose" => Some(IntervalStyle::PostgresVerbose),
            "sql_standard" => Some(IntervalStyle::SqlStandard),
            "iso_8601" => Some(IntervalStyle::Iso8601),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            IntervalStyle::Postgres => "postgres",
            IntervalStyle::PostgresVerbose => "postgres_verbose",
            IntervalStyle::SqlStandard => "sql_standard",
            IntervalStyle::Iso8601 => "iso_8601",
        }
    }

    fn to_bits(self) -> u32 {
        match self {
            IntervalStyle::Postgres => 0,
            IntervalStyle::PostgresVerbose => 1,
            IntervalStyle::SqlStandard => 2,
            IntervalStyle::Iso8601 => 3,
        }
    }

    fn from_bits(bits: u32) -> IntervalStyle {
        match bits & 3 {
            1 => IntervalStyle::PostgresVerbose,
            2 => IntervalStyle::SqlStandard,
            3 => IntervalStyle::Iso8601,
            _ => IntervalStyle::Postgres,
        }
    }
}

/// A session's [`TextStyle`], shared with the functions that read or print text (casts to
/// text, date/time input) so they follow `SET` without being planned again.
#[derive(Debug)]
pub struct SharedStyle {
    bits: AtomicU32,
    zone: RwLock<SessionZone>,
}

impl Default for SharedStyle {
    fn default() -> Self {
        let style = TextStyle::default();
        SharedStyle {
            bits: AtomicU32::new(style.to_bits()),
            zone: RwLock::new(style.zone),
        }
    }
}

impl SharedStyle {
    pub fn load(&self) -> TextStyle {
        TextStyle {
            zone: *self.zone.read(),
            ..TextStyle::from_bits(self.bits.load(Ordering::Relaxed))
        }
    }

    pub fn store(&self, style: TextStyle) {
        self.bits.store(style.to_bits(), Ordering::Relaxed);
        *self.zone.write() = style.zone;
    }
}

impl TextStyle {
    /// The style but its zone packed into one integer.
    fn to_bits(self) -> u32 {
        u32::from(self.dates.to_bits())
            | (u32::from(self.float_digits as u8) << 8)
            | (u32::from(self.bytea_escape) << 16)
            | (self.intervals.to_bits() << 17)
    }

    fn from_bits(bits: u32) -> TextStyle {
        TextStyle {
            dates: DateStyle::from_bits((bits & 0xff) as u8),
            float_digits: ((bits >> 8) & 0xff) as u8 as i8,
            bytea_escape: (bits >> 16) & 1 == 1,
            intervals: IntervalStyle::from_bits(bits >> 17),
            zone: SessionZone::default(),
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
            let zone = tz.is_some().then_some(style.zone);
            each!(
                TimestampMicrosecondArray,
                |a: &TimestampMicrosecondArray, i| datetime::timestamp_text(a.value(i), zone, ds)
            )
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            each!(
                IntervalMonthDayNanoArray,
                |a: &IntervalMonthDayNanoArray, i| {
                    let v = a.value(i);
                    interval_text_in(v.months, v.days, v.nanoseconds, style.intervals)
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
                    interval_text_in(
                        0,
                        days as i32,
                        (v - days * 86_400_000_000) * 1000,
                        style.intervals,
                    )
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
            let zone = tz.is_some().then_some(style.zone);
            each!(
                TimestampNanosecondArray,
                |a: &TimestampNanosecondArray, i| {
                    let v: i64 = a.value(i);
                    let us = match v {
                        i64::MAX | i64::MIN => v,
                        _ => v.div_euclid(1000),
                    };
                    datetime::timestamp_text(us, zone, ds)
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

/// An interval printed in `style` (PostgreSQL's `EncodeInterval`).
pub fn interval_text_in(months: i32, days: i32, nanos: i64, style: IntervalStyle) -> String {
    let (year, mon) = (i64::from(months / 12), i64::from(months % 12));
    let mday = i64::from(days);
    let us = nanos / 1000;
    let hour = us / 3_600_000_000;
    let min = us / 60_000_000 % 60;
    let sec = us / 1_000_000 % 60;
    let fsec = us % 1_000_000;
    match style {
        IntervalStyle::Postgres => interval_text(months, days, nanos),
        IntervalStyle::PostgresVerbose => {
            let mut out = String::from("@");
            let (mut is_zero, mut is_before) = (true, false);
            for (value, unit) in [
                (year, "year"),
                (mon, "mon"),
                (mday, "day"),
                (hour, "hour"),
                (min, "min"),
            ] {
                if value == 0 {
                    continue;
                }
                let mut value = value;
                if is_zero {
                    is_before = value < 0;
                    value = value.abs();
                } else if is_before {
                    value = -value;
                }
                let plural = if value == 1 { "" } else { "s" };
                out.push_str(&format!(" {value} {unit}{plural}"));
                is_zero = false;
            }
            if sec != 0 || fsec != 0 {
                out.push(' ');
                if sec < 0 || (sec == 0 && fsec < 0) {
                    if is_zero {
                        is_before = true;
                    } else if !is_before {
                        out.push('-');
                    }
                } else if is_before {
                    out.push('-');
                }
                out.push_str(&seconds_text(sec, fsec, false));
                let plural = if sec.abs() != 1 || fsec != 0 { "s" } else { "" };
                out.push_str(&format!(" sec{plural}"));
                is_zero = false;
            }
            if is_zero {
                out.push_str(" 0");
            }
            if is_before {
                out.push_str(" ago");
            }
            out
        }
        IntervalStyle::SqlStandard => {
            let fields = [year, mon, mday, hour, min, sec, fsec];
            let has_negative = fields.iter().any(|v| *v < 0);
            let has_positive = fields.iter().any(|v| *v > 0);
            let has_year_month = year != 0 || mon != 0;
            let has_day_time = mday != 0 || hour != 0 || min != 0 || sec != 0 || fsec != 0;
            // One sign and one kind of field: what the SQL standard's syntax can write.
            let mixed_signs = has_negative && has_positive;
            let mixed_fields = has_year_month && has_day_time;
            let standard = !mixed_signs && !mixed_fields;
            let (mut year, mut mon, mut mday, mut hour, mut min, mut sec, mut fsec) =
                (year, mon, mday, hour, min, sec, fsec);
            let mut out = String::new();
            if has_negative && standard {
                out.push('-');
                (year, mon, mday, hour, min, sec, fsec) =
                    (-year, -mon, -mday, -hour, -min, -sec, -fsec);
            }
            if !has_negative && !has_positive {
                out.push('0');
            } else if !standard {
                let year_sign = if year < 0 || mon < 0 { '-' } else { '+' };
                let day_sign = if mday < 0 { '-' } else { '+' };
                let sec_sign = if hour < 0 || min < 0 || sec < 0 || fsec < 0 {
                    '-'
                } else {
                    '+'
                };
                out.push_str(&format!(
                    "{year_sign}{}-{} {day_sign}{} {sec_sign}{}:{:02}:{}",
                    year.abs(),
                    mon.abs(),
                    mday.abs(),
                    hour.abs(),
                    min.abs(),
                    seconds_text(sec, fsec, true)
                ));
            } else if has_year_month {
                out.push_str(&format!("{year}-{mon}"));
            } else if mday != 0 {
                out.push_str(&format!(
                    "{mday} {hour}:{min:02}:{}",
                    seconds_text(sec, fsec, true)
                ));
            } else {
                out.push_str(&format!(
                    "{hour}:{min:02}:{}",
                    seconds_text(sec, fsec, true)
                ));
            }
            out
        }
        IntervalStyle::Iso8601 => {
            if [year, mon, mday, hour, min, sec, fsec]
                .iter()
                .all(|v| *v == 0)
            {
                return "PT0S".into();
            }
            let mut out = String::from("P");
            let part = |out: &mut String, v: i64, unit: char| {
                if v != 0 {
                    out.push_str(&format!("{v}{unit}"));
                }
            };
            part(&mut out, year, 'Y');
            part(&mut out, mon, 'M');
            part(&mut out, mday, 'D');
            if hour != 0 || min != 0 || sec != 0 || fsec != 0 {
                out.push('T');
            }
            part(&mut out, hour, 'H');
            part(&mut out, min, 'M');
            if sec != 0 || fsec != 0 {
                if sec < 0 || fsec < 0 {
                    out.push('-');
                }
                out.push_str(&seconds_text(sec, fsec, false));
                out.push('S');
            }
            out
        }
    }
}

/// Seconds and microseconds as PostgreSQL's `AppendSeconds` prints them: without sign,
/// two digits when `zero_pad`, the fraction without trailing zeros.
fn seconds_text(sec: i64, fsec: i64, zero_pad: bool) -> String {
    let mut out = if zero_pad {
        format!("{:02}", sec.abs())
    } else {
        sec.abs().to_string()
    };
    if fsec != 0 {
        out.push_str(&trim_fraction(format!(".{:06}", fsec.abs())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_style_starts_at_the_defaults_and_keeps_what_is_stored() {
        let shared = SharedStyle::default();
        assert_eq!(shared.load(), TextStyle::default());
        let (zone, _) = SessionZone::parse_setting("Europe/Paris").unwrap();
        let style = TextStyle {
            float_digits: -3,
            intervals: IntervalStyle::Iso8601,
            zone,
            ..TextStyle::default()
        };
        shared.store(style);
        assert_eq!(shared.load(), style);
    }

    #[test]
    fn interval_styles_print_like_postgres() {
        let h = 3_600_000_000_000i64;
        let verbose = |m, d, n| interval_text_in(m, d, n, IntervalStyle::PostgresVerbose);
        assert_eq!(verbose(0, -9863, 0), "@ 9863 days ago");
        assert_eq!(
            verbose(0, 39, 17 * h + 32 * 60_000_000_000 + 1_400_000_000),
            "@ 39 days 17 hours 32 mins 1.4 secs"
        );
        assert_eq!(verbose(0, 0, 0), "@ 0");
        assert_eq!(verbose(14, 1, -h), "@ 1 year 2 mons 1 day -1 hours");
        assert_eq!(verbose(0, 0, -1_000_000_000), "@ 1 sec ago");
        let sql = |m, d, n| interval_text_in(m, d, n, IntervalStyle::SqlStandard);
        assert_eq!(sql(14, 0, 0), "1-2");
        assert_eq!(sql(0, 3, 4 * h + 5_000_000_000), "3 4:00:05");
        assert_eq!(sql(-14, 0, 0), "-1-2");
        assert_eq!(sql(14, -3, 0), "+1-2 -3 +0:00:00");
        assert_eq!(sql(0, 0, 0), "0");
        let iso = |m, d, n| interval_text_in(m, d, n, IntervalStyle::Iso8601);
        assert_eq!(iso(14, 3, 4 * h + 5_500_000_000), "P1Y2M3DT4H5.5S");
        assert_eq!(iso(0, 0, 0), "PT0S");
        assert_eq!(iso(0, 0, -1_500_000_000), "PT-1.5S");
    }

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
            datetime::timestamp_text(0, None, iso),
            "1970-01-01 00:00:00"
        );
        assert_eq!(
            datetime::timestamp_text(1_500_000, Some(SessionZone::default()), iso),
            "1970-01-01 00:00:01.5+00"
        );
        assert_eq!(datetime::date_text(0, iso), "1970-01-01");
        assert_eq!(time_text(3_600_000_000), "01:00:00");
    }
}
