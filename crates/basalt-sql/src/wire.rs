//! PostgreSQL binary wire formats of Basalt's types (the send/recv representations), shared
//! by the protocol layer (parameters, results) and COPY … (FORMAT binary).

use basalt_common::{SqlType, Value};

use crate::error::{SqlError, SqlResult};

/// Days from 1970-01-01 to 2000-01-01 (PostgreSQL's epoch).
pub const PG_EPOCH_DAYS: i32 = 10_957;
pub const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// PostgreSQL binary NUMERIC: ndigits, weight, sign, dscale, then base-10000 digits.
pub fn numeric_to_binary(value: i128, scale: i8) -> Vec<u8> {
    let special = match value {
        crate::numeric::NAN => Some(0xC000u16),
        crate::numeric::POS_INF => Some(0xD000),
        crate::numeric::NEG_INF => Some(0xF000),
        _ => None,
    };
    if let Some(sign) = special {
        let mut out = vec![0u8; 8];
        out[4..6].copy_from_slice(&sign.to_be_bytes());
        return out;
    }
    let scale = scale.max(0) as u32;
    let negative = value < 0;
    let digits_str = value.unsigned_abs().to_string();
    // Split into integer and fraction digits, then group in 4s around the decimal point.
    let (int_part, frac_part) = if digits_str.len() as u32 > scale {
        let split = digits_str.len() - scale as usize;
        (
            digits_str[..split].to_owned(),
            digits_str[split..].to_owned(),
        )
    } else {
        (
            "0".to_owned(),
            format!("{:0>width$}", digits_str, width = scale as usize),
        )
    };
    let int_part = int_part.trim_start_matches('0');
    let mut groups: Vec<i16> = Vec::new();
    let pad_int = (4 - int_part.len() % 4) % 4;
    let int_padded = format!("{}{}", "0".repeat(pad_int), int_part);
    for c in int_padded.as_bytes().chunks(4) {
        groups.push(
            std::str::from_utf8(c)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
        );
    }
    let weight = groups.len() as i16 - 1;
    let pad_frac = (4 - frac_part.len() % 4) % 4;
    let frac_padded = format!("{}{}", frac_part, "0".repeat(pad_frac));
    for c in frac_padded.as_bytes().chunks(4) {
        groups.push(
            std::str::from_utf8(c)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
        );
    }
    // Strip leading and trailing zero groups (adjusting the weight for leading ones).
    let mut weight = weight;
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let mut out = Vec::with_capacity(8 + groups.len() * 2);
    out.extend_from_slice(&(groups.len() as i16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(
        &(if negative && !groups.is_empty() {
            0x4000u16
        } else {
            0
        })
        .to_be_bytes(),
    );
    out.extend_from_slice(&(scale as u16).to_be_bytes());
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
    out
}

/// Decodes PostgreSQL binary NUMERIC into its decimal text.
pub fn numeric_from_binary(b: &[u8]) -> Option<String> {
    let rd = |i: usize| -> Option<i16> { Some(i16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?])) };
    // PostgreSQL bounds: at most 1000 fraction digits; digits are base-10000 groups.
    let ndigits = usize::try_from(rd(0)?).ok()?;
    let weight = i32::from(rd(2)?);
    let sign = rd(4)? as u16;
    let dscale = usize::try_from(rd(6)?).ok().filter(|d| *d <= 1000)?;
    if b.len() != 8 + 2 * ndigits || !(-1000..=1000).contains(&weight) {
        return None;
    }
    match sign {
        0xC000 => return Some("NaN".into()),
        0xD000 => return Some("Infinity".into()),
        0xF000 => return Some("-Infinity".into()),
        _ => {}
    }
    let mut int_s = String::new();
    let mut frac_s = String::new();
    for i in 0..ndigits {
        let d = rd(8 + 2 * i).filter(|d| (0..10_000).contains(d))?;
        let pos = weight - i as i32;
        if pos >= 0 {
            if int_s.is_empty() {
                int_s.push_str(&d.to_string());
            } else {
                int_s.push_str(&format!("{d:04}"));
            }
        } else {
            frac_s.push_str(&format!("{d:04}"));
        }
    }
    // Integer groups missing after the last digit (weight beyond ndigits) are zeros.
    let int_groups = (weight + 1).max(0) as usize;
    let present = ndigits.min(int_groups);
    for _ in present..int_groups {
        int_s.push_str("0000");
    }
    // Fraction groups before the first digit (negative weight) are zeros.
    if weight < -1 {
        frac_s = format!("{}{}", "0000".repeat((-weight - 1) as usize), frac_s);
    }
    let int_s = match int_s.trim_start_matches('0') {
        "" => "0".to_owned(),
        t => t.to_owned(),
    };
    let mut frac: String = frac_s.chars().take(dscale).collect();
    while frac.len() < dscale {
        frac.push('0');
    }
    let sign = if sign == 0x4000 { "-" } else { "" };
    Some(if dscale > 0 {
        format!("{sign}{int_s}.{frac}")
    } else {
        format!("{sign}{int_s}")
    })
}

/// Parses decimal text into an unscaled integer at `scale` (rounding half away from zero).
pub fn parse_decimal(text: &str, scale: i8) -> Option<i128> {
    crate::numeric::parse(text, 38, scale).ok()
}

/// Decodes one value in PostgreSQL's binary format for a column of type `ty`.
pub fn decode_binary(ty: &SqlType, b: &[u8]) -> SqlResult<Value> {
    let bad = || SqlError::InvalidText(format!("invalid binary value for type {}", ty.pg_name()));
    let fixed = |n: usize| -> SqlResult<&[u8]> {
        if b.len() == n {
            Ok(b)
        } else {
            Err(bad())
        }
    };
    Ok(match ty {
        SqlType::Bool => Value::Bool(fixed(1)?[0] != 0),
        SqlType::Int16 => {
            Value::Int16(i16::from_be_bytes(fixed(2)?.try_into().map_err(|_| bad())?))
        }
        SqlType::Int32 => {
            Value::Int32(i32::from_be_bytes(fixed(4)?.try_into().map_err(|_| bad())?))
        }
        SqlType::Int64 => {
            Value::Int64(i64::from_be_bytes(fixed(8)?.try_into().map_err(|_| bad())?))
        }
        SqlType::Float32 => {
            Value::Float32(f32::from_be_bytes(fixed(4)?.try_into().map_err(|_| bad())?))
        }
        SqlType::Float64 => {
            Value::Float64(f64::from_be_bytes(fixed(8)?.try_into().map_err(|_| bad())?))
        }
        SqlType::Numeric { precision, scale } => {
            let text = numeric_from_binary(b).ok_or_else(bad)?;
            Value::Decimal(crate::numeric::parse_typmod(&text, *precision, *scale)?)
        }
        SqlType::Char(_) | SqlType::Varchar(_) | SqlType::Text => {
            Value::Text(std::str::from_utf8(b).map_err(|_| bad())?.to_owned())
        }
        SqlType::Bytea => Value::Bytes(b.to_vec()),
        SqlType::Date => Value::Date(
            i32::from_be_bytes(fixed(4)?.try_into().map_err(|_| bad())?)
                .saturating_add(PG_EPOCH_DAYS),
        ),
        SqlType::Time => Value::Time(i64::from_be_bytes(fixed(8)?.try_into().map_err(|_| bad())?)),
        SqlType::Timestamp | SqlType::TimestampTz => Value::Timestamp(
            i64::from_be_bytes(fixed(8)?.try_into().map_err(|_| bad())?)
                .saturating_add(PG_EPOCH_MICROS),
        ),
        SqlType::Interval => {
            let b = fixed(16)?;
            let micros = i64::from_be_bytes(b[0..8].try_into().map_err(|_| bad())?);
            let days = i32::from_be_bytes(b[8..12].try_into().map_err(|_| bad())?);
            let months = i32::from_be_bytes(b[12..16].try_into().map_err(|_| bad())?);
            Value::Interval {
                months,
                days,
                nanos: micros.saturating_mul(1000),
            }
        }
        SqlType::Array(_) => decode_binary_array(ty, b).ok_or_else(bad)??,
    })
}

/// A value in PostgreSQL's binary array format: the number of dimensions, a has-NULL flag,
/// the element type, each dimension's length and lower bound, then the elements
/// (length-prefixed, -1 for NULL).
pub struct BinaryArray<'a> {
    pub element_oid: u32,
    /// The length of each dimension, outermost first; none for an empty array.
    pub dims: Vec<usize>,
    /// The elements in row-major order (None for NULL).
    pub elements: Vec<Option<&'a [u8]>>,
}

impl<'a> BinaryArray<'a> {
    /// Reads the format; `None` for bytes that are no such array.
    pub fn parse(b: &'a [u8]) -> Option<BinaryArray<'a>> {
        fn int(b: &[u8], pos: &mut usize) -> Option<i32> {
            let v = i32::from_be_bytes(b.get(*pos..pos.checked_add(4)?)?.try_into().ok()?);
            *pos += 4;
            Some(v)
        }
        let mut pos = 0usize;
        let ndim = usize::try_from(int(b, &mut pos)?)
            .ok()
            .filter(|&n| n <= 6)?;
        let _has_null = int(b, &mut pos)?;
        let element_oid = u32::try_from(int(b, &mut pos)?).ok()?;
        let mut dims = Vec::with_capacity(ndim);
        for _ in 0..ndim {
            dims.push(usize::try_from(int(b, &mut pos)?).ok()?);
            let _lower_bound = int(b, &mut pos)?;
        }
        let total = match ndim {
            0 => 0,
            _ => dims.iter().try_fold(1usize, |n, d| n.checked_mul(*d))?,
        };
        if total > b.len() {
            return None;
        }
        // A dimension of length 0 makes an empty array, as in PostgreSQL (and the other
        // dimensions, however long, are not built).
        if total == 0 {
            dims.clear();
        }
        let mut elements = Vec::with_capacity(total);
        for _ in 0..total {
            let len = int(b, &mut pos)?;
            if len < 0 {
                elements.push(None);
                continue;
            }
            let end = pos.checked_add(len as usize)?;
            elements.push(Some(b.get(pos..end)?));
            pos = end;
        }
        (pos == b.len()).then_some(BinaryArray {
            element_oid,
            dims,
            elements,
        })
    }

    /// The elements, decoded by `element`, grouped into the dimensions by `list` (which
    /// gets each group and its depth below the top, 0 for the outermost).
    pub fn assemble<T, E>(
        &self,
        mut element: impl FnMut(Option<&'a [u8]>) -> Result<T, E>,
        mut list: impl FnMut(Vec<T>, usize) -> T,
    ) -> Result<T, E> {
        let mut level = Vec::with_capacity(self.elements.len());
        for e in &self.elements {
            level.push(element(*e)?);
        }
        if self.dims.is_empty() {
            return Ok(list(Vec::new(), 0));
        }
        for (depth, &d) in self.dims.iter().enumerate().skip(1).rev() {
            let mut grouped = Vec::with_capacity(level.len() / d.max(1));
            let mut items = level.into_iter();
            for _ in 0..self.dims[..depth].iter().product::<usize>() {
                grouped.push(list(items.by_ref().take(d).collect(), depth));
            }
            level = grouped;
        }
        Ok(list(level, 0))
    }
}

/// A binary array for a column of array type `ty`, which must have as many levels as the
/// value has dimensions (an empty array has none). `None` for bytes that are no array.
fn decode_binary_array(ty: &SqlType, b: &[u8]) -> Option<SqlResult<Value>> {
    let array = BinaryArray::parse(b)?;
    let mut levels = 0;
    let mut element = ty;
    while let SqlType::Array(inner) = element {
        levels += 1;
        element = inner;
    }
    if !array.dims.is_empty() && array.dims.len() != levels {
        return Some(Err(SqlError::InvalidText(format!(
            "a {}-dimensional array does not fit a column of type {}",
            array.dims.len(),
            ty.pg_name()
        ))));
    }
    Some(array.assemble(
        |e| match e {
            None => Ok(Value::Null),
            Some(bytes) => decode_binary(element, bytes),
        },
        |items, _| Value::Array(items),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_arrays_are_read_and_bad_ones_refused() {
        let be = |v: &[i32]| v.iter().flat_map(|x| x.to_be_bytes()).collect::<Vec<u8>>();
        // {{1,NULL},{3,4}} of int4.
        let mut b = be(&[2, 1, 23, 2, 1, 2, 1]);
        for e in [Some(1), None, Some(3), Some(4)] {
            match e {
                Some(v) => b.extend(be(&[4, v])),
                None => b.extend(be(&[-1])),
            }
        }
        let ty = SqlType::Array(Box::new(SqlType::Array(Box::new(SqlType::Int32))));
        let v = decode_binary(&ty, &b).unwrap();
        assert_eq!(
            v,
            Value::Array(vec![
                Value::Array(vec![Value::Int32(1), Value::Null]),
                Value::Array(vec![Value::Int32(3), Value::Int32(4)]),
            ])
        );
        // Too few dimensions for the column, truncated bytes, a huge empty dimension.
        let flat = SqlType::Array(Box::new(SqlType::Int32));
        assert!(decode_binary(&flat, &b).is_err());
        for cut in 0..b.len() {
            assert!(decode_binary(&ty, &b[..cut]).is_err());
        }
        let empty = be(&[2, 0, 23, i32::MAX, 1, 0, 1]);
        assert_eq!(decode_binary(&ty, &empty).unwrap(), Value::Array(vec![]));
    }

    #[test]
    fn numeric_binary_round_trips() {
        for (v, s, text) in [
            (12345i128, 2i8, "123.45"),
            (-5, 1, "-0.5"),
            (0, 3, "0.000"),
            (
                123456789012345678900123456789i128,
                10,
                "12345678901234567890.0123456789",
            ),
            (10000, 0, "10000"),
            (1, 4, "0.0001"),
            (100000001, 8, "1.00000001"),
        ] {
            let b = numeric_to_binary(v, s);
            assert_eq!(
                numeric_from_binary(&b).as_deref(),
                Some(text),
                "{v} scale {s}"
            );
            assert_eq!(parse_decimal(text, s), Some(v));
        }
    }

    #[test]
    fn malformed_binary_numerics_are_refused() {
        // negative display scale (would otherwise pad forever), digit count beyond the bytes,
        // digit out of base 10000
        assert_eq!(numeric_from_binary(&[0, 0, 0, 0, 0, 0, 0xFF, 0xFF]), None);
        assert_eq!(numeric_from_binary(&[0, 5, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(
            numeric_from_binary(&[0, 1, 0, 0, 0, 0, 0, 0, 0x7F, 0xFF]),
            None
        );
    }

    #[test]
    fn decimal_text_rounds_to_scale() {
        assert_eq!(parse_decimal("1.235", 2), Some(124));
        assert_eq!(parse_decimal("-1.234", 2), Some(-123));
        assert_eq!(parse_decimal("abc", 2), None);
    }
}
