//! One stored value, and the conversion of rows to and from Arrow columns.
//!
//! A row is a slice of [`Value`]s in the table's physical column order; the column's
//! [`SqlType`] gives the meaning of a value (a `Timestamp` of a `TIMESTAMPTZ` column is UTC).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BinaryArray, BinaryBuilder, BooleanArray, BooleanBuilder, Date32Array,
    Date32Builder, Decimal128Array, Decimal128Builder, Float32Array, Float32Builder, Float64Array,
    Float64Builder, Int16Array, Int16Builder, Int32Array, Int32Builder, Int64Array, Int64Builder,
    IntervalMonthDayNanoArray, IntervalMonthDayNanoBuilder, ListArray, StringArray, StringBuilder,
    Time64MicrosecondArray, Time64MicrosecondBuilder, TimestampMicrosecondArray,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{Field, FieldRef, IntervalMonthDayNano};
use datafusion::arrow::error::ArrowError;

use crate::types::{SqlType, TIMESTAMPTZ_ZONE};

/// A stored row: values in physical column order, shared between versions and readers.
pub type Row = Arc<[Value]>;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    Float32(f32),
    Float64(f64),
    /// Unscaled decimal; the column's scale says where the point is.
    Decimal(i128),
    Text(String),
    Bytes(Vec<u8>),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since midnight.
    Time(i64),
    /// Microseconds since 1970-01-01 00:00:00 (UTC for `TIMESTAMPTZ`).
    Timestamp(i64),
    Interval {
        months: i32,
        days: i32,
        nanos: i64,
    },
    /// The elements of an array, each a value of the element type (or an inner array).
    Array(Vec<Value>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as an i64, for integer columns (sequences, identity columns).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int16(v) => Some(i64::from(*v)),
            Value::Int32(v) => Some(i64::from(*v)),
            Value::Int64(v) => Some(*v),
            _ => None,
        }
    }

    /// The integer value in the representation of an integer column of type `ty`.
    pub fn integer_of_type(ty: &SqlType, v: i64) -> Option<Value> {
        match ty {
            SqlType::Int16 => i16::try_from(v).ok().map(Value::Int16),
            SqlType::Int32 => i32::try_from(v).ok().map(Value::Int32),
            SqlType::Int64 => Some(Value::Int64(v)),
            _ => None,
        }
    }
}

/// Reads the value at `row` of `array`. The array must have the Arrow type of `ty`
/// (callers cast first); a mismatch is a programming error reported as `ArrowError`.
pub fn value_at(array: &dyn Array, row: usize, ty: &SqlType) -> Result<Value, ArrowError> {
    if array.is_null(row) {
        return Ok(Value::Null);
    }
    fn get<T: 'static>(array: &dyn Array) -> Result<&T, ArrowError> {
        array.as_any().downcast_ref::<T>().ok_or_else(|| {
            ArrowError::CastError(format!("unexpected array type {}", array.data_type()))
        })
    }
    Ok(match ty {
        SqlType::Bool => Value::Bool(get::<BooleanArray>(array)?.value(row)),
        SqlType::Int16 => Value::Int16(get::<Int16Array>(array)?.value(row)),
        SqlType::Int32 => Value::Int32(get::<Int32Array>(array)?.value(row)),
        SqlType::Int64 => Value::Int64(get::<Int64Array>(array)?.value(row)),
        SqlType::Float32 => Value::Float32(get::<Float32Array>(array)?.value(row)),
        SqlType::Float64 => Value::Float64(get::<Float64Array>(array)?.value(row)),
        SqlType::Numeric { .. } => Value::Decimal(get::<Decimal128Array>(array)?.value(row)),
        SqlType::Char(_) | SqlType::Varchar(_) | SqlType::Text => {
            Value::Text(get::<StringArray>(array)?.value(row).to_owned())
        }
        SqlType::Bytea => Value::Bytes(get::<BinaryArray>(array)?.value(row).to_vec()),
        SqlType::Date => Value::Date(get::<Date32Array>(array)?.value(row)),
        SqlType::Time => Value::Time(get::<Time64MicrosecondArray>(array)?.value(row)),
        SqlType::Timestamp | SqlType::TimestampTz => {
            Value::Timestamp(get::<TimestampMicrosecondArray>(array)?.value(row))
        }
        SqlType::Interval => {
            let v = get::<IntervalMonthDayNanoArray>(array)?.value(row);
            Value::Interval {
                months: v.months,
                days: v.days,
                nanos: v.nanoseconds,
            }
        }
        SqlType::Array(element) => {
            let items = get::<ListArray>(array)?.value(row);
            Value::Array(
                (0..items.len())
                    .map(|i| value_at(items.as_ref(), i, element))
                    .collect::<Result<_, _>>()?,
            )
        }
    })
}

/// Builds one Arrow column of type `ty.to_arrow()` from values.
pub struct ColumnBuilder {
    inner: Builder,
}

enum Builder {
    Bool(BooleanBuilder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Decimal(Decimal128Builder, u8, i8),
    Text(StringBuilder),
    Bytes(BinaryBuilder),
    Date(Date32Builder),
    Time(Time64MicrosecondBuilder),
    Timestamp(TimestampMicrosecondBuilder, bool),
    Interval(IntervalMonthDayNanoBuilder),
    List {
        field: FieldRef,
        elements: Box<ColumnBuilder>,
        lengths: Vec<usize>,
        valid: Vec<bool>,
    },
}

impl ColumnBuilder {
    pub fn new(ty: &SqlType, capacity: usize) -> ColumnBuilder {
        let inner = match ty {
            SqlType::Bool => Builder::Bool(BooleanBuilder::with_capacity(capacity)),
            SqlType::Int16 => Builder::Int16(Int16Builder::with_capacity(capacity)),
            SqlType::Int32 => Builder::Int32(Int32Builder::with_capacity(capacity)),
            SqlType::Int64 => Builder::Int64(Int64Builder::with_capacity(capacity)),
            SqlType::Float32 => Builder::Float32(Float32Builder::with_capacity(capacity)),
            SqlType::Float64 => Builder::Float64(Float64Builder::with_capacity(capacity)),
            SqlType::Numeric { precision, scale } => {
                let (p, s) = crate::types::decimal_storage(*precision, *scale);
                Builder::Decimal(Decimal128Builder::with_capacity(capacity), p, s)
            }
            SqlType::Char(_) | SqlType::Varchar(_) | SqlType::Text => {
                Builder::Text(StringBuilder::with_capacity(capacity, capacity * 8))
            }
            SqlType::Bytea => Builder::Bytes(BinaryBuilder::with_capacity(capacity, capacity * 8)),
            SqlType::Date => Builder::Date(Date32Builder::with_capacity(capacity)),
            SqlType::Time => Builder::Time(Time64MicrosecondBuilder::with_capacity(capacity)),
            SqlType::Timestamp => {
                Builder::Timestamp(TimestampMicrosecondBuilder::with_capacity(capacity), false)
            }
            SqlType::TimestampTz => {
                Builder::Timestamp(TimestampMicrosecondBuilder::with_capacity(capacity), true)
            }
            SqlType::Interval => {
                Builder::Interval(IntervalMonthDayNanoBuilder::with_capacity(capacity))
            }
            SqlType::Array(element) => Builder::List {
                field: Arc::new(Field::new_list_field(element.to_arrow(), true)),
                elements: Box::new(ColumnBuilder::new(element, capacity)),
                lengths: Vec::with_capacity(capacity),
                valid: Vec::with_capacity(capacity),
            },
        };
        ColumnBuilder { inner }
    }

    /// Appends a value; a value of the wrong kind for the column is stored as NULL
    /// (storage only ever holds values converted through [`value_at`] for the column's type).
    pub fn push(&mut self, value: &Value) {
        match (&mut self.inner, value) {
            (Builder::Bool(b), Value::Bool(v)) => b.append_value(*v),
            (Builder::Int16(b), Value::Int16(v)) => b.append_value(*v),
            (Builder::Int32(b), Value::Int32(v)) => b.append_value(*v),
            (Builder::Int64(b), Value::Int64(v)) => b.append_value(*v),
            (Builder::Float32(b), Value::Float32(v)) => b.append_value(*v),
            (Builder::Float64(b), Value::Float64(v)) => b.append_value(*v),
            (Builder::Decimal(b, _, _), Value::Decimal(v)) => b.append_value(*v),
            (Builder::Text(b), Value::Text(v)) => b.append_value(v),
            (Builder::Bytes(b), Value::Bytes(v)) => b.append_value(v),
            (Builder::Date(b), Value::Date(v)) => b.append_value(*v),
            (Builder::Time(b), Value::Time(v)) => b.append_value(*v),
            (Builder::Timestamp(b, _), Value::Timestamp(v)) => b.append_value(*v),
            (
                Builder::Interval(b),
                Value::Interval {
                    months,
                    days,
                    nanos,
                },
            ) => b.append_value(IntervalMonthDayNano::new(*months, *days, *nanos)),
            (
                Builder::List {
                    elements,
                    lengths,
                    valid,
                    ..
                },
                Value::Array(items),
            ) => {
                for item in items {
                    elements.push(item);
                }
                lengths.push(items.len());
                valid.push(true);
            }
            (b, _) => b.append_null(),
        }
    }

    pub fn finish(self) -> ArrayRef {
        match self.inner {
            Builder::Bool(mut b) => Arc::new(b.finish()),
            Builder::Int16(mut b) => Arc::new(b.finish()),
            Builder::Int32(mut b) => Arc::new(b.finish()),
            Builder::Int64(mut b) => Arc::new(b.finish()),
            Builder::Float32(mut b) => Arc::new(b.finish()),
            Builder::Float64(mut b) => Arc::new(b.finish()),
            Builder::Decimal(mut b, p, s) => Arc::new(
                b.finish()
                    .with_precision_and_scale(p, s)
                    .expect("catalog precision/scale were validated at CREATE TABLE"),
            ),
            Builder::Text(mut b) => Arc::new(b.finish()),
            Builder::Bytes(mut b) => Arc::new(b.finish()),
            Builder::Date(mut b) => Arc::new(b.finish()),
            Builder::Time(mut b) => Arc::new(b.finish()),
            Builder::Timestamp(mut b, tz) => {
                let array = b.finish();
                if tz {
                    Arc::new(array.with_timezone(TIMESTAMPTZ_ZONE))
                } else {
                    Arc::new(array)
                }
            }
            Builder::Interval(mut b) => Arc::new(b.finish()),
            Builder::List {
                field,
                elements,
                lengths,
                valid,
            } => Arc::new(ListArray::new(
                field,
                OffsetBuffer::from_lengths(lengths),
                elements.finish(),
                Some(NullBuffer::from(valid)),
            )),
        }
    }
}

impl Builder {
    fn append_null(&mut self) {
        match self {
            Builder::Bool(b) => b.append_null(),
            Builder::Int16(b) => b.append_null(),
            Builder::Int32(b) => b.append_null(),
            Builder::Int64(b) => b.append_null(),
            Builder::Float32(b) => b.append_null(),
            Builder::Float64(b) => b.append_null(),
            Builder::Decimal(b, _, _) => b.append_null(),
            Builder::Text(b) => b.append_null(),
            Builder::Bytes(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
            Builder::Time(b) => b.append_null(),
            Builder::Timestamp(b, _) => b.append_null(),
            Builder::Interval(b) => b.append_null(),
            Builder::List { lengths, valid, .. } => {
                lengths.push(0);
                valid.push(false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_arrow() {
        let cases = vec![
            (SqlType::Bool, Value::Bool(true)),
            (SqlType::Int16, Value::Int16(-7)),
            (SqlType::Int32, Value::Int32(42)),
            (SqlType::Int64, Value::Int64(i64::MIN)),
            (SqlType::Float32, Value::Float32(1.5)),
            (SqlType::Float64, Value::Float64(-2.25)),
            (
                SqlType::Numeric {
                    precision: 10,
                    scale: 2,
                },
                Value::Decimal(12345),
            ),
            (SqlType::Varchar(Some(5)), Value::Text("abc".into())),
            (SqlType::Bytea, Value::Bytes(vec![0, 255])),
            (SqlType::Date, Value::Date(19000)),
            (SqlType::Time, Value::Time(3_600_000_000)),
            (
                SqlType::TimestampTz,
                Value::Timestamp(1_700_000_000_000_000),
            ),
            (
                SqlType::Interval,
                Value::Interval {
                    months: 1,
                    days: 2,
                    nanos: 3,
                },
            ),
            (
                SqlType::Array(Box::new(SqlType::Int32)),
                Value::Array(vec![Value::Int32(1), Value::Null, Value::Int32(3)]),
            ),
            (
                SqlType::Array(Box::new(SqlType::Array(Box::new(SqlType::Text)))),
                Value::Array(vec![
                    Value::Array(vec![Value::Text("a".into())]),
                    Value::Array(vec![]),
                ]),
            ),
        ];
        for (ty, v) in cases {
            let mut b = ColumnBuilder::new(&ty, 2);
            b.push(&v);
            b.push(&Value::Null);
            let array = b.finish();
            assert_eq!(array.data_type(), &ty.to_arrow());
            assert_eq!(value_at(array.as_ref(), 0, &ty).unwrap(), v);
            assert_eq!(value_at(array.as_ref(), 1, &ty).unwrap(), Value::Null);
        }
    }
}
