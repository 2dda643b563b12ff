//! Arrow results in MySQL's forms: column definitions, text-protocol rows (COM_QUERY) and
//! binary-protocol rows (COM_STMT_EXECUTE).
//!
//! The MySQL type of a result column comes from its Arrow type, refined by the field
//! metadata the table provider attaches to stored columns (`basalt.mysql_type` for types
//! declared through MySQL, such as TINYINT, MEDIUMINT, YEAR, ENUM and UNSIGNED integers).

use basalt_sql::mysql::{MYSQL_TYPE_KEY, NOT_NULL_KEY};
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Timelike};
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, Int8Type, IntervalUnit, Time64MicrosecondType, TimeUnit, TimestampMicrosecondType,
    UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use super::packet::{put_lenenc_bytes, put_lenenc_int};

// Column types (enum_field_types).
pub const T_DECIMAL: u8 = 0xF6;
pub const T_TINY: u8 = 1;
pub const T_SHORT: u8 = 2;
pub const T_LONG: u8 = 3;
pub const T_FLOAT: u8 = 4;
pub const T_DOUBLE: u8 = 5;
pub const T_NULL: u8 = 6;
pub const T_TIMESTAMP: u8 = 7;
pub const T_LONGLONG: u8 = 8;
pub const T_INT24: u8 = 9;
pub const T_DATE: u8 = 10;
pub const T_TIME: u8 = 11;
pub const T_DATETIME: u8 = 12;
pub const T_YEAR: u8 = 13;
pub const T_TINY_BLOB: u8 = 0xF9;
pub const T_MEDIUM_BLOB: u8 = 0xFA;
pub const T_LONG_BLOB: u8 = 0xFB;
pub const T_BLOB: u8 = 0xFC;
pub const T_VAR_STRING: u8 = 0xFD;
pub const T_STRING: u8 = 0xFE;
pub const T_GEOMETRY: u8 = 0xFF;

// Column flags.
const NOT_NULL_FLAG: u16 = 1;
const BLOB_FLAG: u16 = 16;
const UNSIGNED_FLAG: u16 = 32;
const BINARY_FLAG: u16 = 128;
const ENUM_FLAG: u16 = 256;
const NUM_FLAG: u16 = 32768;

/// utf8mb4_general_ci, the collation of every text column; 63 marks binary data.
pub const UTF8MB4: u16 = 45;
pub const BINARY_CHARSET: u16 = 63;

/// How one result column is described to the client and encoded.
#[derive(Debug, Clone)]
pub struct ColumnMeta {
    pub name: String,
    pub ty: u8,
    pub flags: u16,
    pub charset: u16,
    pub length: u32,
    pub decimals: u8,
    pub unsigned: bool,
}

pub fn column_meta(field: &Field) -> ColumnMeta {
    let declared = field.metadata().get(MYSQL_TYPE_KEY).map(String::as_str);
    let declared_lower = declared.map(str::to_ascii_lowercase);
    let declared = declared_lower.as_deref();
    let unsigned = declared.is_some_and(|d| d.contains("unsigned"));
    let numeric = |ty: u8, length: u32| (ty, NUM_FLAG, BINARY_CHARSET, length, 0u8);
    let (ty, mut flags, charset, length, decimals) = match field.data_type() {
        DataType::Null => (T_NULL, BINARY_FLAG, BINARY_CHARSET, 0, 0),
        DataType::Boolean => numeric(T_TINY, 1),
        DataType::Int8 | DataType::UInt8 => numeric(T_TINY, 4),
        DataType::Int16 | DataType::UInt16 => match declared {
            Some(d) if d.starts_with("tinyint") => numeric(T_TINY, 4),
            Some(d) if d.starts_with("year") => (T_YEAR, NUM_FLAG, BINARY_CHARSET, 4, 0),
            _ => numeric(T_SHORT, 6),
        },
        DataType::Int32 | DataType::UInt32 => match declared {
            Some(d) if d.starts_with("smallint") => numeric(T_SHORT, 6),
            Some(d) if d.starts_with("mediumint") => numeric(T_INT24, 9),
            _ => numeric(T_LONG, 11),
        },
        DataType::Int64 | DataType::UInt64 => match declared {
            Some(d) if d.starts_with("int") => numeric(T_LONG, 10),
            _ => numeric(T_LONGLONG, 20),
        },
        DataType::Float16 | DataType::Float32 => (T_FLOAT, NUM_FLAG, BINARY_CHARSET, 12, 31),
        DataType::Float64 => (T_DOUBLE, NUM_FLAG, BINARY_CHARSET, 22, 31),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => {
            let s = (*s).max(0) as u8;
            match declared {
                Some(d) if d.starts_with("bigint") => numeric(T_LONGLONG, 20),
                _ => (
                    T_DECIMAL,
                    NUM_FLAG,
                    BINARY_CHARSET,
                    u32::from(*p) + 2,
                    s.min(30),
                ),
            }
        }
        DataType::Date32 | DataType::Date64 => (T_DATE, BINARY_FLAG, BINARY_CHARSET, 10, 0),
        DataType::Time32(_) | DataType::Time64(_) => (T_TIME, BINARY_FLAG, BINARY_CHARSET, 17, 6),
        DataType::Interval(_) if declared.is_some_and(|d| d.starts_with("time")) => {
            (T_TIME, BINARY_FLAG, BINARY_CHARSET, 17, 6)
        }
        DataType::Timestamp(_, _) => match declared {
            Some(d) if d.starts_with("timestamp") => {
                (T_TIMESTAMP, BINARY_FLAG, BINARY_CHARSET, 26, 6)
            }
            _ => (T_DATETIME, BINARY_FLAG, BINARY_CHARSET, 26, 6),
        },
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => match declared {
            Some(d) if d.starts_with("varbinary") => {
                (T_VAR_STRING, BINARY_FLAG, BINARY_CHARSET, 255, 0)
            }
            Some(d) if d.starts_with("binary") => (T_STRING, BINARY_FLAG, BINARY_CHARSET, 255, 0),
            _ => (T_BLOB, BLOB_FLAG | BINARY_FLAG, BINARY_CHARSET, u32::MAX, 0),
        },
        DataType::FixedSizeBinary(n) => {
            (T_STRING, BINARY_FLAG, BINARY_CHARSET, (*n).max(0) as u32, 0)
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => match declared {
            Some(d) if d.starts_with("enum") => (T_STRING, ENUM_FLAG, UTF8MB4, 1024, 0),
            _ if field
                .metadata()
                .contains_key(basalt_sql::provider::CHAR_LENGTH_KEY) =>
            {
                (T_STRING, 0, UTF8MB4, 1024, 0)
            }
            Some(d) if d.contains("text") => (T_BLOB, BLOB_FLAG, UTF8MB4, u32::MAX, 0),
            _ => (T_VAR_STRING, 0, UTF8MB4, 1024, 0),
        },
        _ => (T_VAR_STRING, 0, UTF8MB4, 1024, 0),
    };
    if unsigned {
        flags |= UNSIGNED_FLAG;
    }
    if !field.is_nullable() || field.metadata().contains_key(NOT_NULL_KEY) {
        flags |= NOT_NULL_FLAG;
    }
    ColumnMeta {
        name: basalt_sql::rewrite::display_name(field.name()).to_owned(),
        ty,
        flags,
        charset,
        length,
        decimals,
        unsigned: unsigned
            || matches!(
                field.data_type(),
                DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64
            ),
    }
}

/// A Protocol::ColumnDefinition41 payload.
pub fn column_definition(
    c: &ColumnMeta,
    table: &str,
    schema: &str,
    default: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + c.name.len());
    put_lenenc_bytes(&mut out, b"def");
    put_lenenc_bytes(&mut out, schema.as_bytes());
    put_lenenc_bytes(&mut out, table.as_bytes());
    put_lenenc_bytes(&mut out, table.as_bytes());
    put_lenenc_bytes(&mut out, c.name.as_bytes());
    put_lenenc_bytes(&mut out, c.name.as_bytes());
    put_lenenc_int(&mut out, 0x0C);
    out.extend_from_slice(&c.charset.to_le_bytes());
    out.extend_from_slice(&c.length.to_le_bytes());
    out.push(c.ty);
    let mut flags = c.flags;
    if c.unsigned {
        flags |= UNSIGNED_FLAG;
    }
    out.extend_from_slice(&flags.to_le_bytes());
    out.push(c.decimals);
    out.extend_from_slice(&[0, 0]);
    if let Some(d) = default {
        put_lenenc_bytes(&mut out, d);
    }
    out
}

// ---- text values ------------------------------------------------------------------------------

/// MySQL's text form of a double: shortest round-trip digits, exponent for very large or
/// small magnitudes (`1e20`, `1.5e-7`), as MySQL prints them.
pub fn double_text(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = v.abs();
    if a != 0.0 && !(1e-4..1e15).contains(&a) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

fn float_text(v: f32) -> String {
    let a = v.abs();
    if v.is_finite() && a != 0.0 && !(1e-4..1e15).contains(&a) {
        format!("{v:e}")
    } else {
        double_text_f32(v)
    }
}

fn double_text_f32(v: f32) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        }
    } else {
        format!("{v}")
    }
}

pub fn date_text(days: i32) -> String {
    let d = NaiveDate::from_num_days_from_ce_opt(days.saturating_add(719_163));
    match d {
        Some(d) => format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
        None => "0000-00-00".into(),
    }
}

pub fn datetime_text(micros: i64) -> String {
    match DateTime::from_timestamp_micros(micros) {
        Some(dt) => {
            let dt = dt.naive_utc();
            let frac = dt.nanosecond() / 1000;
            let base = format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                dt.year(),
                dt.month(),
                dt.day(),
                dt.hour(),
                dt.minute(),
                dt.second()
            );
            if frac == 0 {
                base
            } else {
                format!("{base}.{frac:06}")
            }
        }
        None => "0000-00-00 00:00:00".into(),
    }
}

pub fn time_text(micros: i64) -> String {
    let neg = micros < 0;
    let m = micros.unsigned_abs();
    let secs = m / 1_000_000;
    let frac = m % 1_000_000;
    let base = format!(
        "{}{:02}:{:02}:{:02}",
        if neg { "-" } else { "" },
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if frac == 0 {
        base
    } else {
        format!("{base}.{frac:06}")
    }
}

/// Every value of a column in MySQL's text form (`None` = NULL).
pub fn text_column(array: &ArrayRef) -> Vec<Option<Vec<u8>>> {
    let n = array.len();
    let mut out: Vec<Option<Vec<u8>>> = Vec::with_capacity(n);
    macro_rules! prim {
        ($t:ty, $f:expr) => {{
            let a = array.as_primitive::<$t>();
            for i in 0..n {
                out.push(if a.is_null(i) {
                    None
                } else {
                    Some($f(a.value(i)).into_bytes())
                });
            }
        }};
    }
    match array.data_type() {
        DataType::Null => return vec![None; n],
        DataType::Boolean => {
            let a = array.as_boolean();
            for i in 0..n {
                out.push(if a.is_null(i) {
                    None
                } else {
                    Some(if a.value(i) {
                        b"1".to_vec()
                    } else {
                        b"0".to_vec()
                    })
                });
            }
        }
        DataType::Int8 => prim!(Int8Type, |v: i8| v.to_string()),
        DataType::Int16 => prim!(Int16Type, |v: i16| v.to_string()),
        DataType::Int32 => prim!(Int32Type, |v: i32| v.to_string()),
        DataType::Int64 => prim!(Int64Type, |v: i64| v.to_string()),
        DataType::UInt8 => prim!(UInt8Type, |v: u8| v.to_string()),
        DataType::UInt16 => prim!(UInt16Type, |v: u16| v.to_string()),
        DataType::UInt32 => prim!(UInt32Type, |v: u32| v.to_string()),
        DataType::UInt64 => prim!(UInt64Type, |v: u64| v.to_string()),
        DataType::Float32 => prim!(Float32Type, float_text),
        DataType::Float64 => prim!(Float64Type, double_text),
        DataType::Decimal128(_, _) => {
            let a = array.as_primitive::<Decimal128Type>();
            for i in 0..n {
                out.push(if a.is_null(i) {
                    None
                } else {
                    Some(a.value_as_string(i).into_bytes())
                });
            }
        }
        DataType::Date32 => prim!(Date32Type, date_text),
        DataType::Time64(TimeUnit::Microsecond) => prim!(Time64MicrosecondType, time_text),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            prim!(TimestampMicrosecondType, datetime_text)
        }
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            for i in 0..n {
                out.push(if a.is_null(i) {
                    None
                } else {
                    Some(a.value(i).as_bytes().to_vec())
                });
            }
        }
        DataType::Binary => {
            let a = array.as_binary::<i32>();
            for i in 0..n {
                out.push(if a.is_null(i) {
                    None
                } else {
                    Some(a.value(i).to_vec())
                });
            }
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let a = array.as_primitive::<datafusion::arrow::datatypes::IntervalMonthDayNanoType>();
            for i in 0..n {
                out.push(if a.is_null(i) {
                    None
                } else {
                    let v = a.value(i);
                    Some(
                        basalt_sql::format::interval_text(v.months, v.days, v.nanoseconds)
                            .into_bytes(),
                    )
                });
            }
        }
        _ => {
            // Other computed types (lists, structs, other units): Arrow's display form, after
            // a cast to the stored units where one exists.
            let cast = match array.data_type() {
                DataType::Timestamp(_, tz) => datafusion::arrow::compute::cast(
                    array,
                    &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
                )
                .ok(),
                DataType::Date64 => datafusion::arrow::compute::cast(array, &DataType::Date32).ok(),
                DataType::Time32(_) | DataType::Time64(_) => datafusion::arrow::compute::cast(
                    array,
                    &DataType::Time64(TimeUnit::Microsecond),
                )
                .ok(),
                DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _) => {
                    datafusion::arrow::compute::cast(array, &DataType::Utf8).ok()
                }
                DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
                    datafusion::arrow::compute::cast(array, &DataType::Binary).ok()
                }
                DataType::Float16 => {
                    datafusion::arrow::compute::cast(array, &DataType::Float32).ok()
                }
                _ => None,
            };
            if let Some(c) = cast {
                return text_column(&c);
            }
            let options = FormatOptions::default();
            match ArrayFormatter::try_new(array.as_ref(), &options) {
                Ok(f) => {
                    for i in 0..n {
                        out.push(if array.is_null(i) {
                            None
                        } else {
                            Some(f.value(i).to_string().into_bytes())
                        });
                    }
                }
                Err(_) => return vec![None; n],
            }
        }
    }
    out
}

/// Microseconds of a MySQL TIME stored as an interval (days and time; months unused).
fn interval_micros(v: datafusion::arrow::datatypes::IntervalMonthDayNano) -> i64 {
    i64::from(v.days) * 86_400_000_000 + v.nanoseconds / 1000
}

/// A column's text values for the client: MySQL TIME columns (intervals) as `HHH:MM:SS`.
pub fn text_column_as(meta: &ColumnMeta, array: &ArrayRef) -> Vec<Option<Vec<u8>>> {
    if meta.ty == T_TIME {
        if let DataType::Interval(IntervalUnit::MonthDayNano) = array.data_type() {
            let a = array.as_primitive::<datafusion::arrow::datatypes::IntervalMonthDayNanoType>();
            return (0..a.len())
                .map(|i| {
                    (!a.is_null(i)).then(|| time_text(interval_micros(a.value(i))).into_bytes())
                })
                .collect();
        }
    }
    text_column(array)
}

/// One text-protocol row: each value a length-encoded string, NULL as 0xFB.
pub fn text_row(columns: &[Vec<Option<Vec<u8>>>], row: usize, out: &mut Vec<u8>) {
    for c in columns {
        match &c[row] {
            None => out.push(0xFB),
            Some(v) => put_lenenc_bytes(out, v),
        }
    }
}

// ---- binary values ----------------------------------------------------------------------------

fn put_date(out: &mut Vec<u8>, d: NaiveDate, t: Option<NaiveTime>) {
    let (h, mi, s, us) = t.map_or((0, 0, 0, 0), |t| {
        (t.hour(), t.minute(), t.second(), t.nanosecond() / 1000)
    });
    let year = d.year().clamp(0, 9999) as u16;
    if us != 0 {
        out.push(11);
    } else if h != 0 || mi != 0 || s != 0 {
        out.push(7);
    } else {
        out.push(4);
    }
    out.extend_from_slice(&year.to_le_bytes());
    out.push(d.month() as u8);
    out.push(d.day() as u8);
    if h != 0 || mi != 0 || s != 0 || us != 0 {
        out.push(h as u8);
        out.push(mi as u8);
        out.push(s as u8);
    }
    if us != 0 {
        out.extend_from_slice(&us.to_le_bytes());
    }
}

fn put_time(out: &mut Vec<u8>, micros: i64) {
    if micros == 0 {
        out.push(0);
        return;
    }
    let neg = micros < 0;
    let m = micros.unsigned_abs();
    let secs = m / 1_000_000;
    let us = (m % 1_000_000) as u32;
    let days = (secs / 86_400) as u32;
    let h = (secs / 3600 % 24) as u8;
    let mi = (secs / 60 % 60) as u8;
    let s = (secs % 60) as u8;
    out.push(if us != 0 { 12 } else { 8 });
    out.push(u8::from(neg));
    out.extend_from_slice(&days.to_le_bytes());
    out.extend_from_slice(&[h, mi, s]);
    if us != 0 {
        out.extend_from_slice(&us.to_le_bytes());
    }
}

/// Appends the binary-protocol form of `array[row]` (not NULL) as the column's declared type.
fn put_binary_value(out: &mut Vec<u8>, meta: &ColumnMeta, array: &ArrayRef, row: usize) {
    let int_value: Option<i128> = match array.data_type() {
        DataType::Boolean => Some(i128::from(array.as_boolean().value(row))),
        DataType::Int8 => Some(i128::from(array.as_primitive::<Int8Type>().value(row))),
        DataType::Int16 => Some(i128::from(array.as_primitive::<Int16Type>().value(row))),
        DataType::Int32 => Some(i128::from(array.as_primitive::<Int32Type>().value(row))),
        DataType::Int64 => Some(i128::from(array.as_primitive::<Int64Type>().value(row))),
        DataType::UInt8 => Some(i128::from(array.as_primitive::<UInt8Type>().value(row))),
        DataType::UInt16 => Some(i128::from(array.as_primitive::<UInt16Type>().value(row))),
        DataType::UInt32 => Some(i128::from(array.as_primitive::<UInt32Type>().value(row))),
        DataType::UInt64 => Some(i128::from(array.as_primitive::<UInt64Type>().value(row))),
        DataType::Decimal128(_, 0) if meta.ty == T_LONGLONG => {
            Some(array.as_primitive::<Decimal128Type>().value(row))
        }
        _ => None,
    };
    if let Some(v) = int_value {
        match meta.ty {
            T_TINY => out.push(v as u8),
            T_SHORT | T_YEAR => out.extend_from_slice(&(v as u16).to_le_bytes()),
            T_LONG | T_INT24 => out.extend_from_slice(&(v as u32).to_le_bytes()),
            _ => out.extend_from_slice(&(v as u64).to_le_bytes()),
        }
        return;
    }
    match array.data_type() {
        DataType::Float32 => {
            out.extend_from_slice(&array.as_primitive::<Float32Type>().value(row).to_le_bytes())
        }
        DataType::Float64 => {
            out.extend_from_slice(&array.as_primitive::<Float64Type>().value(row).to_le_bytes())
        }
        DataType::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(row);
            match NaiveDate::from_num_days_from_ce_opt(days.saturating_add(719_163)) {
                Some(d) => put_date(out, d, None),
                None => out.push(0),
            }
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let us = array.as_primitive::<TimestampMicrosecondType>().value(row);
            match DateTime::from_timestamp_micros(us) {
                Some(dt) => {
                    let dt = dt.naive_utc();
                    put_date(out, dt.date(), Some(dt.time()));
                }
                None => out.push(0),
            }
        }
        DataType::Time64(TimeUnit::Microsecond) => put_time(
            out,
            array.as_primitive::<Time64MicrosecondType>().value(row),
        ),
        DataType::Interval(IntervalUnit::MonthDayNano) if meta.ty == T_TIME => put_time(
            out,
            interval_micros(
                array
                    .as_primitive::<datafusion::arrow::datatypes::IntervalMonthDayNanoType>()
                    .value(row),
            ),
        ),
        _ => {
            // Strings, decimals, blobs and everything else: the text form, length-encoded.
            let one = array.slice(row, 1);
            let text = text_column(&one);
            put_lenenc_bytes(out, text[0].as_deref().unwrap_or_default());
        }
    }
}

/// One binary-protocol row: 0x00, the NULL bitmap (offset 2), then the non-NULL values.
pub fn binary_row(metas: &[ColumnMeta], arrays: &[ArrayRef], row: usize, out: &mut Vec<u8>) {
    out.push(0);
    let bitmap_len = (arrays.len() + 7 + 2) / 8;
    let start = out.len();
    out.resize(start + bitmap_len, 0);
    for (i, a) in arrays.iter().enumerate() {
        if a.is_null(row) || a.data_type() == &DataType::Null {
            let bit = i + 2;
            out[start + bit / 8] |= 1 << (bit % 8);
        }
    }
    for (i, a) in arrays.iter().enumerate() {
        if !(a.is_null(row) || a.data_type() == &DataType::Null) {
            put_binary_value(out, &metas[i], a, row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_like_mysql() {
        assert_eq!(double_text(0.1), "0.1");
        assert_eq!(double_text(1e20), "1e20");
        assert_eq!(double_text(1.5e-7), "1.5e-7");
        assert_eq!(double_text(-2.5), "-2.5");
        assert_eq!(double_text(3.0), "3");
    }

    #[test]
    fn temporal_text() {
        assert_eq!(date_text(0), "1970-01-01");
        assert_eq!(datetime_text(1_500_000), "1970-01-01 00:00:01.500000");
        assert_eq!(time_text(-3_600_000_000), "-01:00:00");
    }
}
