//! PostgreSQL wire encodings of Basalt's types: result rows (text and binary format) and
//! bound parameters (text and binary format).
//!
//! Text output is PostgreSQL's own rendering (see `basalt_sql::format`); binary output and
//! input follow the PostgreSQL send/recv formats (dates from 2000-01-01, NUMERIC in base
//! 10000 digits, …). Types outside this set (arrays from the system catalogs) fall back to
//! arrow-pg's encoder.

use std::sync::Arc;

use basalt_common::types::{NUMERIC_DEFAULT_PRECISION, NUMERIC_DEFAULT_SCALE};
use basalt_sql::datetime::DateInput;
use basalt_sql::format::pg_text_column_in;
use basalt_sql::format::TextStyle;
use basalt_sql::wire::{numeric_from_binary, numeric_to_binary};
use basalt_sql::SqlError;
use bytes::{BufMut, Bytes, BytesMut};
use datafusion::arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
    Float64Array, Int16Array, Int32Array, Int64Array, IntervalMonthDayNanoArray, ListArray,
    StringArray, StructArray, Time64MicrosecondArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Field, IntervalMonthDayNano, IntervalUnit, SchemaRef, TimeUnit,
};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use pgwire::api::results::FieldFormat;
use pgwire::api::Type;
use pgwire::messages::data::DataRow;

/// Field metadata key marking a `CHAR(n)` column (value: n), for blank-padded output.
pub use basalt_sql::provider::CHAR_LENGTH_KEY;
use basalt_sql::wire::{PG_EPOCH_DAYS, PG_EPOCH_MICROS};

/// The PostgreSQL type of a result column, or `None` when arrow-pg must decide.
/// The Arrow type Basalt decodes a parameter of PostgreSQL type `t` into.
pub fn data_type_of(t: &Type) -> Option<DataType> {
    Some(match *t {
        Type::BOOL => DataType::Boolean,
        Type::INT2 => DataType::Int16,
        Type::INT4 => DataType::Int32,
        Type::INT8 | Type::OID => DataType::Int64,
        Type::FLOAT4 => DataType::Float32,
        Type::FLOAT8 => DataType::Float64,
        Type::NUMERIC => DataType::Decimal128(38, 10),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DataType::Utf8,
        Type::BYTEA => DataType::Binary,
        Type::DATE => DataType::Date32,
        Type::TIME => DataType::Time64(TimeUnit::Microsecond),
        Type::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        Type::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        Type::INTERVAL => DataType::Interval(IntervalUnit::MonthDayNano),
        _ => return None,
    })
}

pub fn pg_type(field: &Field) -> Option<Type> {
    Some(match field.data_type() {
        DataType::Boolean => Type::BOOL,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Type::INT2,
        DataType::Int32 | DataType::UInt16 => Type::INT4,
        DataType::Int64 | DataType::UInt32 => Type::INT8,
        DataType::UInt64 => Type::NUMERIC,
        DataType::Float16 | DataType::Float32 => Type::FLOAT4,
        DataType::Float64 => Type::FLOAT8,
        DataType::Decimal128(_, _) | DataType::Decimal256(_, _) => Type::NUMERIC,
        // CHAR(n) columns are announced as text: DataFusion keeps the column's metadata
        // through casts (`c::text`), so the type of a derived column cannot be told apart.
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Type::TEXT,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => Type::BYTEA,
        DataType::Date32 | DataType::Date64 => Type::DATE,
        DataType::Time32(_) | DataType::Time64(_) => Type::TIME,
        DataType::Timestamp(_, None) => Type::TIMESTAMP,
        DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ,
        DataType::Interval(_) | DataType::Duration(_) => Type::INTERVAL,
        DataType::Null => Type::TEXT,
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            array_type(f.data_type())?
        }
        DataType::Struct(_) => Type::RECORD,
        _ => return None,
    })
}

/// The PostgreSQL array type whose elements are `element` (nested lists are the
/// dimensions of one array type, as in PostgreSQL).
fn array_type(element: &DataType) -> Option<Type> {
    Some(match element {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            return array_type(f.data_type())
        }
        DataType::Boolean => Type::BOOL_ARRAY,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Type::INT2_ARRAY,
        DataType::Int32 | DataType::UInt16 => Type::INT4_ARRAY,
        DataType::Int64 | DataType::UInt32 => Type::INT8_ARRAY,
        DataType::UInt64 | DataType::Decimal128(_, _) | DataType::Decimal256(_, _) => {
            Type::NUMERIC_ARRAY
        }
        DataType::Float16 | DataType::Float32 => Type::FLOAT4_ARRAY,
        DataType::Float64 => Type::FLOAT8_ARRAY,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {
            Type::TEXT_ARRAY
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => Type::BYTEA_ARRAY,
        DataType::Date32 | DataType::Date64 => Type::DATE_ARRAY,
        DataType::Time32(_) | DataType::Time64(_) => Type::TIME_ARRAY,
        DataType::Timestamp(_, None) => Type::TIMESTAMP_ARRAY,
        DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ_ARRAY,
        DataType::Interval(_) | DataType::Duration(_) => Type::INTERVAL_ARRAY,
        DataType::Struct(_) => Type::RECORD_ARRAY,
        _ => return None,
    })
}

/// PostgreSQL's binary array: dimensions, a has-NULL flag, the element type, each
/// dimension's length and lower bound (1), then the elements (length-prefixed, -1 for NULL).
/// Nested lists are the dimensions of one array; they must be rectangular, as in PostgreSQL.
fn encode_binary_array(array: &ArrayRef, r: usize, out: &mut BytesMut) -> Result<(), SqlError> {
    let list = cast(array, &list_of(array.data_type()))?;
    let list = list
        .as_any()
        .downcast_ref::<ListArray>()
        .ok_or_else(|| SqlError::Internal("array encoding".into()))?;
    let mut dims = vec![list.value_length(r) as usize];
    let mut level: ArrayRef = list.value(r);
    // Descend while the elements are lists, checking every sub-array has one length.
    while let DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) =
        level.data_type()
    {
        let inner = cast(&level, &list_of(level.data_type()))?;
        let inner = inner
            .as_any()
            .downcast_ref::<ListArray>()
            .ok_or_else(|| SqlError::Internal("array encoding".into()))?;
        let len = if inner.is_empty() {
            0
        } else {
            inner.value_length(0) as usize
        };
        if (0..inner.len()).any(|i| inner.is_null(i) || inner.value_length(i) as usize != len) {
            return Err(SqlError::DataException(
                "multidimensional arrays must have array expressions with matching dimensions"
                    .into(),
            ));
        }
        dims.push(len);
        let start = inner.value_offsets()[0] as usize;
        let end = inner.value_offsets()[inner.len()] as usize;
        level = inner.values().slice(start, end - start);
    }
    let values = normalize(&level)?;
    let element = pg_type(&Field::new("item", values.data_type().clone(), true))
        .ok_or_else(|| SqlError::Internal(format!("array of {}", values.data_type())))?;
    let mut body = BytesMut::new();
    let empty = dims.contains(&0);
    body.put_i32(if empty { 0 } else { dims.len() as i32 });
    body.put_i32(i32::from(values.null_count() > 0));
    body.put_u32(element.oid());
    if !empty {
        for d in &dims {
            body.put_i32(*d as i32);
            body.put_i32(1);
        }
        for i in 0..values.len() {
            encode_binary(&values, i, None, &mut body)?;
        }
    }
    put_bytes(out, &body);
    Ok(())
}

/// PostgreSQL's binary record (`record_send`): the number of fields, then each field's type
/// and its value (length-prefixed, -1 for NULL).
fn encode_binary_record(rows: &StructArray, r: usize, out: &mut BytesMut) -> Result<(), SqlError> {
    let mut body = BytesMut::new();
    body.put_i32(rows.num_columns() as i32);
    for (field, column) in rows.fields().iter().zip(rows.columns()) {
        let values = normalize(column)?;
        let ty = pg_type(&Field::new("f", values.data_type().clone(), true))
            .ok_or_else(|| SqlError::Internal(format!("record field of {}", field.data_type())))?;
        body.put_u32(ty.oid());
        encode_binary(&values, r, None, &mut body)?;
    }
    put_bytes(out, &body);
    Ok(())
}

fn list_of(t: &DataType) -> DataType {
    match t {
        DataType::LargeList(f) | DataType::FixedSizeList(f, _) => DataType::List(Arc::clone(f)),
        other => other.clone(),
    }
}

/// One column converted for the wire.
enum Encoded {
    Text(Vec<Option<String>>),
    Binary(ArrayRef),
}

/// Encodes a batch into DataRows when every column has a Basalt wire type; `None` means
/// the caller must use the generic encoder.
pub fn encode_batch(
    schema: &SchemaRef,
    batch: &RecordBatch,
    formats: &[FieldFormat],
    text_style: TextStyle,
) -> Result<Option<Vec<DataRow>>, SqlError> {
    // The statement's output schema carries column metadata (CHAR(n)) that batches may not.
    if schema.fields().iter().any(|f| pg_type(f).is_none()) {
        return Ok(None);
    }
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (i, (field, column)) in schema.fields().iter().zip(batch.columns()).enumerate() {
        let format = formats.get(i).copied().unwrap_or(FieldFormat::Text);
        columns.push(match format {
            FieldFormat::Text => {
                let mut values = pg_text_column_in(column, text_style)?;
                if let Some(n) = field
                    .metadata()
                    .get(CHAR_LENGTH_KEY)
                    .and_then(|n| n.parse::<usize>().ok())
                {
                    for v in values.iter_mut().flatten() {
                        let len = v.chars().count();
                        if len < n {
                            v.extend(std::iter::repeat_n(' ', n - len));
                        }
                    }
                }
                Encoded::Text(values)
            }
            FieldFormat::Binary => Encoded::Binary(normalize(column)?),
        });
    }
    let mut rows = Vec::with_capacity(batch.num_rows());
    for r in 0..batch.num_rows() {
        let mut data = BytesMut::new();
        for (c, col) in columns.iter().enumerate() {
            match col {
                Encoded::Text(values) => match &values[r] {
                    None => data.put_i32(-1),
                    Some(s) => {
                        data.put_i32(s.len() as i32);
                        data.put_slice(s.as_bytes());
                    }
                },
                Encoded::Binary(array) => {
                    let pad = schema
                        .field(c)
                        .metadata()
                        .get(CHAR_LENGTH_KEY)
                        .and_then(|n| n.parse().ok());
                    encode_binary(array, r, pad, &mut data)?;
                }
            }
        }
        rows.push(DataRow::new(data, columns.len() as i16));
    }
    Ok(Some(rows))
}

/// Casts the less common Arrow forms to the one this module encodes per PostgreSQL type.
fn normalize(array: &ArrayRef) -> Result<ArrayRef, SqlError> {
    let target = match array.data_type() {
        DataType::Int8 | DataType::UInt8 => DataType::Int16,
        DataType::UInt16 => DataType::Int32,
        DataType::UInt32 => DataType::Int64,
        DataType::UInt64 => DataType::Decimal128(20, 0),
        DataType::Float16 => DataType::Float32,
        DataType::Decimal256(_, s) => DataType::Decimal128(38, (*s).min(38)),
        DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => DataType::Utf8,
        DataType::LargeBinary | DataType::BinaryView => DataType::Binary,
        DataType::Date64 => DataType::Date32,
        DataType::Time32(_) | DataType::Time64(TimeUnit::Nanosecond) => {
            DataType::Time64(TimeUnit::Microsecond)
        }
        DataType::Timestamp(unit, tz) if *unit != TimeUnit::Microsecond => {
            DataType::Timestamp(TimeUnit::Microsecond, tz.clone())
        }
        DataType::Interval(unit) if *unit != IntervalUnit::MonthDayNano => {
            DataType::Interval(IntervalUnit::MonthDayNano)
        }
        DataType::Duration(_) => {
            // Days and time, as PostgreSQL's timestamp difference.
            let us = cast(array, &DataType::Duration(TimeUnit::Microsecond))?;
            let us = cast(&us, &DataType::Int64)?;
            let us = us
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| SqlError::Internal("duration".into()))?;
            let out: IntervalMonthDayNanoArray = us
                .iter()
                .map(|v| {
                    v.map(|v| {
                        let days = v / 86_400_000_000;
                        IntervalMonthDayNano::new(
                            0,
                            days as i32,
                            (v - days * 86_400_000_000) * 1000,
                        )
                    })
                })
                .collect();
            return Ok(Arc::new(out));
        }
        _ => return Ok(Arc::clone(array)),
    };
    Ok(cast(array, &target)?)
}

fn put_bytes(out: &mut BytesMut, b: &[u8]) {
    out.put_i32(b.len() as i32);
    out.put_slice(b);
}

fn encode_binary(
    array: &ArrayRef,
    r: usize,
    char_pad: Option<usize>,
    out: &mut BytesMut,
) -> Result<(), SqlError> {
    if array.is_null(r) {
        out.put_i32(-1);
        return Ok(());
    }
    macro_rules! get {
        ($t:ty) => {
            array
                .as_any()
                .downcast_ref::<$t>()
                .ok_or_else(|| SqlError::Internal(format!("cannot encode {}", array.data_type())))?
        };
    }
    match array.data_type() {
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
            encode_binary_array(array, r, out)?
        }
        DataType::Struct(_) => encode_binary_record(get!(StructArray), r, out)?,
        DataType::Boolean => put_bytes(out, &[u8::from(get!(BooleanArray).value(r))]),
        DataType::Int16 => put_bytes(out, &get!(Int16Array).value(r).to_be_bytes()),
        DataType::Int32 => put_bytes(out, &get!(Int32Array).value(r).to_be_bytes()),
        DataType::Int64 => put_bytes(out, &get!(Int64Array).value(r).to_be_bytes()),
        DataType::Float32 => put_bytes(out, &get!(Float32Array).value(r).to_be_bytes()),
        DataType::Float64 => put_bytes(out, &get!(Float64Array).value(r).to_be_bytes()),
        DataType::Decimal128(precision, scale) => {
            let mut v = get!(Decimal128Array).value(r);
            let mut scale = *scale;
            // Unconstrained NUMERIC (stored at a fixed scale) is sent without padding zeros,
            // as the text format prints it.
            if *precision == NUMERIC_DEFAULT_PRECISION && scale == NUMERIC_DEFAULT_SCALE {
                while scale > 0 && v % 10 == 0 {
                    v /= 10;
                    scale -= 1;
                }
            }
            put_bytes(out, &numeric_to_binary(v, scale));
        }
        DataType::Utf8 => {
            let v = get!(StringArray).value(r);
            match char_pad {
                Some(n) if v.chars().count() < n => {
                    let mut s = v.to_owned();
                    s.extend(std::iter::repeat_n(' ', n - v.chars().count()));
                    put_bytes(out, s.as_bytes());
                }
                _ => put_bytes(out, v.as_bytes()),
            }
        }
        DataType::Binary => put_bytes(out, get!(BinaryArray).value(r)),
        DataType::Date32 => put_bytes(
            out,
            &shift_finite_i32(get!(Date32Array).value(r), -PG_EPOCH_DAYS).to_be_bytes(),
        ),
        DataType::Time64(TimeUnit::Microsecond) => {
            put_bytes(out, &get!(Time64MicrosecondArray).value(r).to_be_bytes())
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => put_bytes(
            out,
            &shift_finite_i64(get!(TimestampMicrosecondArray).value(r), -PG_EPOCH_MICROS)
                .to_be_bytes(),
        ),
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let v = get!(IntervalMonthDayNanoArray).value(r);
            let mut b = Vec::with_capacity(16);
            b.extend_from_slice(&(v.nanoseconds / 1000).to_be_bytes());
            b.extend_from_slice(&v.days.to_be_bytes());
            b.extend_from_slice(&v.months.to_be_bytes());
            put_bytes(out, &b);
        }
        other => {
            return Err(SqlError::Internal(format!(
                "no binary encoding for {other}"
            )))
        }
    }
    Ok(())
}

/// Decodes one bound parameter. `wire_type` is the type the client encoded it as;
/// `target` the type Basalt inferred for it (if any); `how` how the session reads dates
/// and timestamps sent as text.
pub fn decode_param(
    bytes: Option<&Bytes>,
    binary: bool,
    wire_type: &Type,
    target: Option<&DataType>,
    how: DateInput,
) -> Result<ScalarValue, SqlError> {
    let Some(bytes) = bytes else {
        let ty = target.cloned().unwrap_or(DataType::Utf8);
        return Ok(ScalarValue::try_from(&ty).unwrap_or(ScalarValue::Utf8(None)));
    };
    let bad = |what: &str| SqlError::InvalidText(format!("invalid {what} parameter value"));
    let value = if !binary {
        let text = std::str::from_utf8(bytes).map_err(|_| bad("UTF-8"))?;
        return from_text(text, target, how);
    } else {
        let b = bytes.as_ref();
        let fixed = |n: usize| -> Result<&[u8], SqlError> {
            if b.len() == n {
                Ok(b)
            } else {
                Err(SqlError::ProtocolViolation(format!(
                    "binary parameter of type {} has {} bytes, expected {n}",
                    wire_type.name(),
                    b.len()
                )))
            }
        };
        match *wire_type {
            Type::BOOL => ScalarValue::Boolean(Some(fixed(1)?[0] != 0)),
            Type::INT2 => ScalarValue::Int16(Some(i16::from_be_bytes(
                fixed(2)?.try_into().map_err(|_| bad("int2"))?,
            ))),
            Type::INT4 => ScalarValue::Int32(Some(i32::from_be_bytes(
                fixed(4)?.try_into().map_err(|_| bad("int4"))?,
            ))),
            Type::OID => ScalarValue::Int64(Some(i64::from(u32::from_be_bytes(
                fixed(4)?.try_into().map_err(|_| bad("oid"))?,
            )))),
            Type::INT8 => ScalarValue::Int64(Some(i64::from_be_bytes(
                fixed(8)?.try_into().map_err(|_| bad("int8"))?,
            ))),
            Type::FLOAT4 => ScalarValue::Float32(Some(f32::from_be_bytes(
                fixed(4)?.try_into().map_err(|_| bad("float4"))?,
            ))),
            Type::FLOAT8 => ScalarValue::Float64(Some(f64::from_be_bytes(
                fixed(8)?.try_into().map_err(|_| bad("float8"))?,
            ))),
            Type::NUMERIC => {
                let text = numeric_from_binary(b).ok_or_else(|| bad("numeric"))?;
                return from_text(&text, target.or(Some(&DataType::Decimal128(38, 10))), how);
            }
            Type::BYTEA => ScalarValue::Binary(Some(b.to_vec())),
            Type::DATE => ScalarValue::Date32(Some(shift_finite_i32(
                i32::from_be_bytes(fixed(4)?.try_into().map_err(|_| bad("date"))?),
                PG_EPOCH_DAYS,
            ))),
            Type::TIME => ScalarValue::Time64Microsecond(Some(i64::from_be_bytes(
                fixed(8)?.try_into().map_err(|_| bad("time"))?,
            ))),
            Type::TIMESTAMP => ScalarValue::TimestampMicrosecond(
                Some(shift_finite_i64(
                    i64::from_be_bytes(fixed(8)?.try_into().map_err(|_| bad("timestamp"))?),
                    PG_EPOCH_MICROS,
                )),
                None,
            ),
            Type::TIMESTAMPTZ => ScalarValue::TimestampMicrosecond(
                Some(shift_finite_i64(
                    i64::from_be_bytes(fixed(8)?.try_into().map_err(|_| bad("timestamptz"))?),
                    PG_EPOCH_MICROS,
                )),
                Some("+00:00".into()),
            ),
            Type::INTERVAL => {
                let b = fixed(16)?;
                let micros = i64::from_be_bytes(b[0..8].try_into().map_err(|_| bad("interval"))?);
                let days = i32::from_be_bytes(b[8..12].try_into().map_err(|_| bad("interval"))?);
                let months = i32::from_be_bytes(b[12..16].try_into().map_err(|_| bad("interval"))?);
                ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(
                    months,
                    days,
                    micros.saturating_mul(1000),
                )))
            }
            _ if array_type_element(wire_type).is_some() => {
                return decode_binary_array_param(b, wire_type, target)
            }
            _ => {
                // text-like types (text, varchar, bpchar, name, json, unknown) are UTF-8
                let text = std::str::from_utf8(b).map_err(|_| bad("UTF-8"))?;
                return from_text(text, target, how);
            }
        }
    };
    conform(value, target)
}

/// The element type of a PostgreSQL array type Basalt reads parameters of.
fn array_type_element(t: &Type) -> Option<Type> {
    Some(match *t {
        Type::BOOL_ARRAY => Type::BOOL,
        Type::INT2_ARRAY => Type::INT2,
        Type::INT4_ARRAY => Type::INT4,
        Type::INT8_ARRAY => Type::INT8,
        Type::FLOAT4_ARRAY => Type::FLOAT4,
        Type::FLOAT8_ARRAY => Type::FLOAT8,
        Type::NUMERIC_ARRAY => Type::NUMERIC,
        Type::TEXT_ARRAY => Type::TEXT,
        Type::VARCHAR_ARRAY => Type::VARCHAR,
        Type::BPCHAR_ARRAY => Type::BPCHAR,
        Type::BYTEA_ARRAY => Type::BYTEA,
        Type::DATE_ARRAY => Type::DATE,
        Type::TIME_ARRAY => Type::TIME,
        Type::TIMESTAMP_ARRAY => Type::TIMESTAMP,
        Type::TIMESTAMPTZ_ARRAY => Type::TIMESTAMPTZ,
        Type::INTERVAL_ARRAY => Type::INTERVAL,
        _ => return None,
    })
}

/// A parameter in PostgreSQL's binary array format, each element decoded as a binary
/// parameter of the element type, into the list type `target` (if known).
fn decode_binary_array_param(
    b: &[u8],
    wire_type: &Type,
    target: Option<&DataType>,
) -> Result<ScalarValue, SqlError> {
    let bad = || {
        SqlError::ProtocolViolation(format!(
            "invalid binary parameter of type {}",
            wire_type.name()
        ))
    };
    let array = basalt_sql::wire::BinaryArray::parse(b).ok_or_else(bad)?;
    let element_type = Type::from_oid(array.element_oid)
        .or_else(|| array_type_element(wire_type))
        .ok_or_else(bad)?;
    // The element type under the target's list levels, and the type of each level's items
    // (outermost first).
    let depth = array.dims.len().max(1);
    let mut t = target.cloned();
    for _ in 0..depth {
        t = match t {
            Some(DataType::List(f)) => Some(f.data_type().clone()),
            _ => None,
        };
    }
    let element_dt = t
        .or_else(|| data_type_of(&element_type))
        .unwrap_or(DataType::Utf8);
    let mut inner_types = vec![element_dt.clone(); depth];
    for d in (0..depth.saturating_sub(1)).rev() {
        inner_types[d] = DataType::List(Arc::new(Field::new_list_field(
            inner_types[d + 1].clone(),
            true,
        )));
    }
    let value = array.assemble(
        |e| match e {
            None => Ok(ScalarValue::try_from(&element_dt)?),
            Some(bytes) => decode_param(
                Some(&Bytes::copy_from_slice(bytes)),
                true,
                &element_type,
                Some(&element_dt),
                DateInput::default(),
            ),
        },
        |items, d| ScalarValue::List(ScalarValue::new_list_nullable(&items, &inner_types[d])),
    )?;
    conform(value, target)
}

fn from_text(
    text: &str,
    target: Option<&DataType>,
    how: DateInput,
) -> Result<ScalarValue, SqlError> {
    let Some(target) = target else {
        return Ok(ScalarValue::Utf8(Some(text.to_owned())));
    };
    match target {
        DataType::List(_) => {
            let text: ArrayRef = Arc::new(datafusion::arrow::array::StringArray::from(vec![text]));
            let list = basalt_sql::analyzer::text_to_array(&text, target, how)?;
            Ok(ScalarValue::try_from_array(&list, 0)?)
        }
        // PostgreSQL's date/time input, timestamptz without a zone read in the session's.
        t if basalt_sql::datetime::reads_datetime(t) => {
            let text: ArrayRef = Arc::new(datafusion::arrow::array::StringArray::from(vec![text]));
            let value = basalt_sql::datetime::text_to_datetime(&text, t, how)?;
            Ok(ScalarValue::try_from_array(&value, 0)?)
        }
        DataType::Utf8 => Ok(ScalarValue::Utf8(Some(text.to_owned()))),
        DataType::Binary => Ok(ScalarValue::Binary(Some(basalt_sql::eval::parse_bytea(
            text,
        )?))),
        DataType::Decimal128(p, s) => Ok(ScalarValue::Decimal128(
            Some(basalt_sql::numeric::parse(text, *p, *s)?),
            *p,
            *s,
        )),
        DataType::Interval(_) => {
            let (m, d, n) = basalt_sql::eval::parse_pg_interval(text).ok_or_else(|| {
                SqlError::InvalidText(format!(
                    "invalid input syntax for type interval: \"{text}\""
                ))
            })?;
            Ok(ScalarValue::IntervalMonthDayNano(Some(
                IntervalMonthDayNano::new(m, d, n),
            )))
        }
        other => ScalarValue::Utf8(Some(text.to_owned()))
            .cast_to(other)
            .map_err(|_| {
                SqlError::InvalidText(format!(
                    "invalid input syntax for type {}: \"{text}\"",
                    basalt_common::SqlType::from_arrow(other)
                        .map_or_else(|| other.to_string(), |t| t.pg_name())
                ))
            }),
    }
}

fn conform(value: ScalarValue, target: Option<&DataType>) -> Result<ScalarValue, SqlError> {
    match target {
        Some(t) if &value.data_type() != t => value.cast_to(t).map_err(|e| {
            let msg = e.to_string();
            if msg.contains("Can't cast value")
                || msg.contains("overflow")
                || msg.contains("too large")
            {
                let name = basalt_common::SqlType::from_arrow(t)
                    .map_or_else(|| t.to_string(), |ty| ty.pg_name());
                SqlError::OutOfRange(format!("{name} out of range"))
            } else {
                SqlError::DatatypeMismatch(format!("parameter cannot be converted to {t}: {msg}"))
            }
        }),
        _ => Ok(value),
    }
}

/// A date moved between the Unix and the PostgreSQL epoch; `infinity` and `-infinity`
/// (the largest and smallest values) are the same in both.
fn shift_finite_i32(v: i32, by: i32) -> i32 {
    match v {
        i32::MAX | i32::MIN => v,
        _ => v.saturating_add(by),
    }
}

/// [`shift_finite_i32`] for timestamps.
fn shift_finite_i64(v: i64, by: i64) -> i64 {
    match v {
        i64::MAX | i64::MIN => v,
        _ => v.saturating_add(by),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_params_convert_to_target_types() {
        let v = decode_param(
            Some(&Bytes::from("42")),
            false,
            &Type::UNKNOWN,
            Some(&DataType::Int32),
            DateInput::default(),
        )
        .unwrap();
        assert_eq!(v, ScalarValue::Int32(Some(42)));
        assert!(decode_param(
            Some(&Bytes::from("abc")),
            false,
            &Type::UNKNOWN,
            Some(&DataType::Int32),
            DateInput::default(),
        )
        .is_err());
        let v = decode_param(
            None,
            false,
            &Type::UNKNOWN,
            Some(&DataType::Int64),
            DateInput::default(),
        )
        .unwrap();
        assert_eq!(v, ScalarValue::Int64(None));
    }
}
