//! Byte encodings: order-preserving keys for the primary-key and secondary indexes, and the
//! compact row format of WAL records.
//!
//! Key encoding ("memcomparable"): comparing two encoded keys byte-wise gives the same order as
//! comparing the values, so a `BTreeMap<Vec<u8>, _>` is an ordered index on any composite key.

use basalt_common::{Row, SqlType, Value};

use crate::StorageError;

/// An encoded primary key (or hidden row id) of one table row.
pub type Key = Box<[u8]>;

const KEY_NULL: u8 = 0x00;
const KEY_VALUE: u8 = 0x01;

/// Appends the order-preserving encoding of `value` to `out`.
pub fn encode_key_value(value: &Value, out: &mut Vec<u8>) {
    if value.is_null() {
        out.push(KEY_NULL);
        return;
    }
    out.push(KEY_VALUE);
    match value {
        Value::Null => {}
        Value::Bool(v) => out.push(u8::from(*v)),
        Value::Int16(v) => encode_i64(i64::from(*v), out),
        Value::Int32(v) => encode_i64(i64::from(*v), out),
        Value::Int64(v) => encode_i64(*v, out),
        Value::Float32(v) => encode_f64(f64::from(*v), out),
        Value::Float64(v) => encode_f64(*v, out),
        Value::Decimal(v) => out.extend_from_slice(&((*v as u128) ^ (1u128 << 127)).to_be_bytes()),
        Value::Text(s) => encode_bytes(s.as_bytes(), out),
        Value::Bytes(b) => encode_bytes(b, out),
        Value::Date(v) => encode_i64(i64::from(*v), out),
        Value::Time(v) | Value::Timestamp(v) => encode_i64(*v, out),
        Value::Interval {
            months,
            days,
            nanos,
        } => {
            encode_i64(i64::from(*months), out);
            encode_i64(i64::from(*days), out);
            encode_i64(*nanos, out);
        }
        // Element by element, each after a 0x02, then 0x01: an array sorts before a longer
        // one it begins.
        Value::Array(items) => {
            for item in items {
                out.push(0x02);
                encode_key_value(item, out);
            }
            out.push(0x01);
        }
    }
}

/// The key of a row for the given key columns (physical positions).
pub fn encode_key(row: &[Value], columns: &[usize]) -> Key {
    let mut out = Vec::with_capacity(columns.len() * 9);
    for &c in columns {
        encode_key_value(row.get(c).unwrap_or(&Value::Null), &mut out);
    }
    out.into_boxed_slice()
}

/// The key of a table without a primary key: its hidden row id.
pub fn encode_rowid(rowid: i64) -> Key {
    let mut out = Vec::with_capacity(9);
    encode_key_value(&Value::Int64(rowid), &mut out);
    out.into_boxed_slice()
}

/// Decodes a hidden row id key (see [`encode_rowid`]).
pub fn decode_rowid(key: &[u8]) -> Option<i64> {
    if key.len() != 9 || key[0] != KEY_VALUE {
        return None;
    }
    let bytes: [u8; 8] = key[1..9].try_into().ok()?;
    Some((u64::from_be_bytes(bytes) ^ (1u64 << 63)) as i64)
}

fn encode_i64(v: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(&((v as u64) ^ (1u64 << 63)).to_be_bytes());
}

fn encode_f64(v: f64, out: &mut Vec<u8>) {
    let v = if v == 0.0 { 0.0 } else { v }; // -0.0 == 0.0
    let bits = v.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits ^ (1u64 << 63)
    };
    out.extend_from_slice(&ordered.to_be_bytes());
}

/// Byte strings: 0x00 escaped as 0x00 0xFF, terminated by 0x00 0x00, so that a prefix sorts first.
fn encode_bytes(b: &[u8], out: &mut Vec<u8>) {
    for &byte in b {
        out.push(byte);
        if byte == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

// ---- Row format of WAL records -------------------------------------------------------------

const T_NULL: u8 = 0;
const T_BOOL: u8 = 1;
const T_I16: u8 = 2;
const T_I32: u8 = 3;
const T_I64: u8 = 4;
const T_F32: u8 = 5;
const T_F64: u8 = 6;
const T_DEC: u8 = 7;
const T_TEXT: u8 = 8;
const T_BYTES: u8 = 9;
const T_DATE: u8 = 10;
const T_TIME: u8 = 11;
const T_TS: u8 = 12;
const T_INTERVAL: u8 = 13;
const T_ARRAY: u8 = 14;

pub fn encode_row(row: &[Value], out: &mut Vec<u8>) {
    put_u32(out, row.len() as u32);
    for v in row {
        encode_value(v, out);
    }
}

fn encode_value(v: &Value, out: &mut Vec<u8>) {
    {
        match v {
            Value::Null => out.push(T_NULL),
            Value::Bool(b) => out.extend_from_slice(&[T_BOOL, u8::from(*b)]),
            Value::Int16(x) => {
                out.push(T_I16);
                out.extend_from_slice(&x.to_le_bytes());
            }
            Value::Int32(x) => {
                out.push(T_I32);
                out.extend_from_slice(&x.to_le_bytes());
            }
            Value::Int64(x) => {
                out.push(T_I64);
                out.extend_from_slice(&x.to_le_bytes());
            }
            Value::Float32(x) => {
                out.push(T_F32);
                out.extend_from_slice(&x.to_le_bytes());
            }
            Value::Float64(x) => {
                out.push(T_F64);
                out.extend_from_slice(&x.to_le_bytes());
            }
            Value::Decimal(x) => {
                out.push(T_DEC);
                out.extend_from_slice(&x.to_le_bytes());
            }
            Value::Text(s) => {
                out.push(T_TEXT);
                put_bytes(out, s.as_bytes());
            }
            Value::Bytes(b) => {
                out.push(T_BYTES);
                put_bytes(out, b);
            }
            Value::Date(x) => {
                out.push(T_DATE);
                out.extend_from_slice(&x.to_le_bytes());
            }
            Value::Time(x) => {
                out.push(T_TIME);
                out.extend_from_slice(&x.to_le_bytes());
            }
            Value::Timestamp(x) => {
                out.push(T_TS);
                out.extend_from_slice(&x.to_le_bytes());
            }
            Value::Interval {
                months,
                days,
                nanos,
            } => {
                out.push(T_INTERVAL);
                out.extend_from_slice(&months.to_le_bytes());
                out.extend_from_slice(&days.to_le_bytes());
                out.extend_from_slice(&nanos.to_le_bytes());
            }
            Value::Array(items) => {
                out.push(T_ARRAY);
                put_u32(out, items.len() as u32);
                for item in items {
                    encode_value(item, out);
                }
            }
        }
    }
}

pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, b.len() as u32);
    out.extend_from_slice(b);
}

/// A cursor over a record's bytes; every read is bounds-checked, so a corrupt record gives
/// an error, never a panic.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], StorageError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| {
                StorageError::Corrupt(format!("record truncated at byte {}", self.pos))
            })?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StorageError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn u8(&mut self) -> Result<u8, StorageError> {
        Ok(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> Result<u32, StorageError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64, StorageError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    pub fn i64(&mut self) -> Result<i64, StorageError> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    pub fn bytes(&mut self) -> Result<&'a [u8], StorageError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    pub fn row(&mut self) -> Result<Row, StorageError> {
        let n = self.u32()? as usize;
        if n > self.buf.len() {
            return Err(StorageError::Corrupt(format!(
                "row of {n} columns is too long"
            )));
        }
        let mut values = Vec::with_capacity(n);
        for _ in 0..n {
            values.push(self.value()?);
        }
        Ok(values.into())
    }

    fn value(&mut self) -> Result<Value, StorageError> {
        Ok(match self.u8()? {
            T_NULL => Value::Null,
            T_BOOL => Value::Bool(self.u8()? != 0),
            T_I16 => Value::Int16(i16::from_le_bytes(self.array()?)),
            T_I32 => Value::Int32(i32::from_le_bytes(self.array()?)),
            T_I64 => Value::Int64(self.i64()?),
            T_F32 => Value::Float32(f32::from_le_bytes(self.array()?)),
            T_F64 => Value::Float64(f64::from_le_bytes(self.array()?)),
            T_DEC => Value::Decimal(i128::from_le_bytes(self.array()?)),
            T_TEXT => {
                let b = self.bytes()?;
                Value::Text(
                    std::str::from_utf8(b)
                        .map_err(|_| StorageError::Corrupt("invalid UTF-8 in text value".into()))?
                        .to_owned(),
                )
            }
            T_BYTES => Value::Bytes(self.bytes()?.to_vec()),
            T_DATE => Value::Date(i32::from_le_bytes(self.array()?)),
            T_TIME => Value::Time(self.i64()?),
            T_TS => Value::Timestamp(self.i64()?),
            T_INTERVAL => Value::Interval {
                months: i32::from_le_bytes(self.array()?),
                days: i32::from_le_bytes(self.array()?),
                nanos: self.i64()?,
            },
            T_ARRAY => {
                let n = self.u32()? as usize;
                if n > self.buf.len() {
                    return Err(StorageError::Corrupt(format!(
                        "array of {n} elements is too long"
                    )));
                }
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value()?);
                }
                Value::Array(items)
            }
            t => return Err(StorageError::Corrupt(format!("unknown value tag {t}"))),
        })
    }
}

/// Whether a value can be stored in a column of `ty` (used to validate decoded WAL rows).
pub fn value_fits(value: &Value, ty: &SqlType) -> bool {
    if let (Value::Array(items), SqlType::Array(element)) = (value, ty) {
        return items.iter().all(|item| value_fits(item, element));
    }
    matches!(
        (value, ty),
        (Value::Null, _)
            | (Value::Bool(_), SqlType::Bool)
            | (Value::Int16(_), SqlType::Int16)
            | (Value::Int32(_), SqlType::Int32)
            | (Value::Int64(_), SqlType::Int64)
            | (Value::Float32(_), SqlType::Float32)
            | (Value::Float64(_), SqlType::Float64)
            | (Value::Decimal(_), SqlType::Numeric { .. })
            | (
                Value::Text(_),
                SqlType::Char(_) | SqlType::Varchar(_) | SqlType::Text
            )
            | (Value::Bytes(_), SqlType::Bytea)
            | (Value::Date(_), SqlType::Date)
            | (Value::Time(_), SqlType::Time)
            | (
                Value::Timestamp(_),
                SqlType::Timestamp | SqlType::TimestampTz
            )
            | (Value::Interval { .. }, SqlType::Interval)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(v: Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode_key_value(&v, &mut out);
        out
    }

    #[test]
    fn key_order_matches_value_order() {
        let ints = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        for w in ints.windows(2) {
            assert!(key(Value::Int64(w[0])) < key(Value::Int64(w[1])));
        }
        let floats = [f64::NEG_INFINITY, -2.5, -0.0, 1e-9, 3.0, f64::INFINITY];
        for w in floats.windows(2) {
            assert!(
                key(Value::Float64(w[0])) <= key(Value::Float64(w[1])),
                "{w:?}"
            );
        }
        let texts = ["", "a", "a\0", "ab", "b"];
        for w in texts.windows(2) {
            assert!(
                key(Value::Text(w[0].into())) < key(Value::Text(w[1].into())),
                "{w:?}"
            );
        }
        assert!(key(Value::Null) < key(Value::Int64(i64::MIN)));
        let decs = [-1000i128, -1, 0, 5, 1 << 100];
        for w in decs.windows(2) {
            assert!(key(Value::Decimal(w[0])) < key(Value::Decimal(w[1])));
        }
    }

    #[test]
    fn array_keys_order_element_by_element_then_by_length() {
        let ints = |v: &[i32]| Value::Array(v.iter().map(|&i| Value::Int32(i)).collect());
        let arrays = [
            ints(&[]),
            ints(&[-1, 5]),
            ints(&[1]),
            ints(&[1, 2]),
            ints(&[2]),
        ];
        for w in arrays.windows(2) {
            assert!(key(w[0].clone()) < key(w[1].clone()), "{w:?}");
        }
        let texts = |v: &[&str]| Value::Array(v.iter().map(|&t| Value::Text(t.into())).collect());
        assert!(key(texts(&["a"])) < key(texts(&["a", ""])));
        assert!(key(texts(&["a", "b"])) < key(texts(&["ab"])));
    }

    #[test]
    fn composite_keys_order_by_first_column_first() {
        let a = encode_key(&[Value::Text("a".into()), Value::Int32(9)], &[0, 1]);
        let b = encode_key(&[Value::Text("ab".into()), Value::Int32(1)], &[0, 1]);
        assert!(a < b);
    }

    #[test]
    fn rowid_round_trips() {
        for id in [0, 1, -1, i64::MAX] {
            assert_eq!(decode_rowid(&encode_rowid(id)), Some(id));
        }
    }

    #[test]
    fn rows_round_trip_and_truncation_is_an_error() {
        let row: Vec<Value> = vec![
            Value::Null,
            Value::Bool(true),
            Value::Int16(-3),
            Value::Int64(1 << 40),
            Value::Float64(0.5),
            Value::Decimal(-12345),
            Value::Text("héllo".into()),
            Value::Bytes(vec![0, 1, 2]),
            Value::Interval {
                months: 1,
                days: -2,
                nanos: 3,
            },
            Value::Array(vec![
                Value::Array(vec![Value::Int32(1), Value::Null]),
                Value::Array(vec![]),
            ]),
        ];
        let mut buf = Vec::new();
        encode_row(&row, &mut buf);
        let decoded = Reader::new(&buf).row().unwrap();
        assert_eq!(&decoded[..], &row[..]);
        for cut in 0..buf.len() {
            assert!(Reader::new(&buf[..cut]).row().is_err());
        }
    }
}
