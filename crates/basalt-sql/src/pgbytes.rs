//! PostgreSQL's `encode(bytea, format)` and `decode(text, format)` with its three formats
//! (`hex`, `base64` with its 76-character lines, `escape`), and `unistr(text)`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::error::SqlError;
use crate::functions::TextFn;

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn unknown_format(name: &str) -> SqlError {
    SqlError::InvalidParameterValue(format!("unrecognized encoding: \"{name}\""))
}

/// Bytes as text in one of PostgreSQL's formats.
pub fn encode(bytes: &[u8], format: &str) -> Result<String, SqlError> {
    match format.to_ascii_lowercase().as_str() {
        "hex" => Ok(bytes.iter().map(|b| format!("{b:02x}")).collect()),
        "base64" => {
            let mut out = String::with_capacity(bytes.len() * 4 / 3 + 4);
            let mut line = 0;
            for chunk in bytes.chunks(3) {
                if line == 76 {
                    out.push('\n');
                    line = 0;
                }
                let b = [
                    chunk[0],
                    *chunk.get(1).unwrap_or(&0),
                    *chunk.get(2).unwrap_or(&0),
                ];
                let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
                for k in 0..4 {
                    if k <= chunk.len() {
                        out.push(BASE64[((n >> (18 - 6 * k)) & 63) as usize] as char);
                    } else {
                        out.push('=');
                    }
                }
                line += 4;
            }
            Ok(out)
        }
        "escape" => {
            let mut out = String::with_capacity(bytes.len());
            for &b in bytes {
                if b == b'\\' {
                    out.push_str("\\\\");
                } else if b == 0 || b >= 0x80 {
                    out.push_str(&format!("\\{b:03o}"));
                } else {
                    out.push(b as char);
                }
            }
            Ok(out)
        }
        other => Err(unknown_format(other)),
    }
}

/// Text in one of PostgreSQL's formats read back as bytes.
pub fn decode(text: &str, format: &str) -> Result<Vec<u8>, SqlError> {
    match format.to_ascii_lowercase().as_str() {
        "hex" => {
            let digits: Vec<char> = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            if let Some(bad) = digits.iter().find(|c| !c.is_ascii_hexdigit()) {
                return Err(SqlError::InvalidParameterValue(format!(
                    "invalid hexadecimal digit: \"{bad}\""
                )));
            }
            if digits.len() % 2 == 1 {
                return Err(SqlError::InvalidParameterValue(
                    "invalid hexadecimal data: odd number of digits".into(),
                ));
            }
            Ok(digits
                .chunks(2)
                .map(|p| {
                    let hi = p[0].to_digit(16).unwrap_or(0);
                    let lo = p[1].to_digit(16).unwrap_or(0);
                    (hi * 16 + lo) as u8
                })
                .collect())
        }
        "base64" => {
            let mut out = Vec::with_capacity(text.len() * 3 / 4);
            let (mut acc, mut bits, mut pad) = (0u32, 0u32, 0usize);
            for c in text.chars() {
                if c.is_ascii_whitespace() {
                    continue;
                }
                if c == '=' {
                    pad += 1;
                    continue;
                }
                if pad > 0 {
                    return Err(SqlError::InvalidParameterValue(
                        "unexpected \"=\" while decoding base64 sequence".into(),
                    ));
                }
                let v = BASE64.iter().position(|&b| b as char == c).ok_or_else(|| {
                    SqlError::InvalidParameterValue(format!(
                        "invalid symbol \"{c}\" found while decoding base64 sequence"
                    ))
                })?;
                acc = (acc << 6) | v as u32;
                bits += 6;
                if bits >= 8 {
                    bits -= 8;
                    out.push((acc >> bits) as u8);
                    acc &= (1 << bits) - 1;
                }
            }
            if bits >= 6 || pad > 2 {
                return Err(SqlError::InvalidParameterHint {
                    message: "invalid base64 end sequence".into(),
                    hint: "Input data is missing padding, is truncated, or is otherwise corrupted."
                        .into(),
                });
            }
            Ok(out)
        }
        "escape" => crate::eval::parse_bytea_escape(text),
        other => Err(unknown_format(other)),
    }
}

/// `unistr`: text with its Unicode escapes (a backslash and 4 hex digits, `\+` and 6, `\u`
/// and 4, `\U` and 8; surrogate pairs; `\\`) replaced by the characters they name.
pub fn unistr(text: &str) -> Result<String, SqlError> {
    let invalid_escape = || SqlError::SyntaxHint {
        message: "invalid Unicode escape".into(),
        hint: "Unicode escapes must be \\XXXX, \\+XXXXXX, \\uXXXX, or \\UXXXXXXXX.".into(),
    };
    let invalid_pair = || SqlError::Syntax {
        message: "invalid Unicode surrogate pair".into(),
        position: None,
    };
    let chars: Vec<char> = text.chars().collect();
    let hex = |from: usize, n: usize| -> Option<u32> {
        let digits: String = chars.get(from..from + n)?.iter().collect();
        if digits.chars().all(|c| c.is_ascii_hexdigit()) {
            u32::from_str_radix(&digits, 16).ok()
        } else {
            None
        }
    };
    let mut out = String::with_capacity(text.len());
    let mut pair_first: Option<u32> = None;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '\\' {
            if pair_first.is_some() {
                return Err(invalid_pair());
            }
            out.push(chars[i]);
            i += 1;
            continue;
        }
        if chars.get(i + 1) == Some(&'\\') {
            if pair_first.is_some() {
                return Err(invalid_pair());
            }
            out.push('\\');
            i += 2;
            continue;
        }
        let (code, len) = if let Some(v) = hex(i + 1, 4) {
            (v, 5)
        } else if chars.get(i + 1) == Some(&'u') && hex(i + 2, 4).is_some() {
            (hex(i + 2, 4).unwrap_or(0), 6)
        } else if chars.get(i + 1) == Some(&'+') && hex(i + 2, 6).is_some() {
            (hex(i + 2, 6).unwrap_or(0), 8)
        } else if chars.get(i + 1) == Some(&'U') && hex(i + 2, 8).is_some() {
            (hex(i + 2, 8).unwrap_or(0), 10)
        } else {
            return Err(invalid_escape());
        };
        if code == 0 || code > 0x10FFFF {
            return Err(SqlError::InvalidParameterValue(format!(
                "invalid Unicode code point: {code:04X}"
            )));
        }
        let second = (0xDC00..=0xDFFF).contains(&code);
        let code = match pair_first.take() {
            Some(first) if second => 0x10000 + ((first - 0xD800) << 10) + (code - 0xDC00),
            Some(_) => return Err(invalid_pair()),
            None if second => return Err(invalid_pair()),
            None => code,
        };
        if (0xD800..=0xDBFF).contains(&code) {
            pair_first = Some(code);
        } else {
            out.push(char::from_u32(code).ok_or_else(invalid_pair)?);
        }
        i += len;
    }
    if pair_first.is_some() {
        return Err(invalid_pair());
    }
    Ok(out)
}

/// The bytes of a bytea argument (text is read as bytea input, `\x…` or escaped).
fn bytes_of(array: &ArrayRef, row: usize) -> Result<Vec<u8>, SqlError> {
    match array.data_type() {
        DataType::Binary => Ok(array.as_binary::<i32>().value(row).to_vec()),
        DataType::LargeBinary => Ok(array.as_binary::<i64>().value(row).to_vec()),
        _ => {
            let text = cast(array, &DataType::Utf8)?;
            crate::eval::parse_bytea(text.as_string::<i32>().value(row))
        }
    }
}

fn texts(array: &ArrayRef) -> DfResult<StringArray> {
    Ok(cast(array, &DataType::Utf8)?.as_string::<i32>().clone())
}

/// `encode`, `unistr` and `decode`, registered for PostgreSQL sessions in place of
/// DataFusion's encode/decode.
pub fn udfs() -> Vec<ScalarUDF> {
    vec![
        TextFn::udf("encode", Volatility::Immutable, |arrays, _| {
            let [data, format] = arrays else {
                return Err(SqlError::UndefinedFunction(
                    "encode takes a bytea and a format".into(),
                )
                .into_datafusion());
            };
            let formats = texts(format)?;
            let out = (0..data.len())
                .map(|r| {
                    if data.is_null(r) || formats.is_null(r) {
                        return Ok(None);
                    }
                    encode(&bytes_of(data, r)?, formats.value(r)).map(Some)
                })
                .collect::<Result<StringArray, SqlError>>()
                .map_err(SqlError::into_datafusion)?;
            Ok(Arc::new(out) as ArrayRef)
        }),
        TextFn::udf("unistr", Volatility::Immutable, |arrays, _| {
            let [text] = arrays else {
                return Err(
                    SqlError::UndefinedFunction("unistr takes one text".into()).into_datafusion()
                );
            };
            let out = texts(text)?
                .iter()
                .map(|t| t.map(unistr).transpose())
                .collect::<Result<StringArray, SqlError>>()
                .map_err(SqlError::into_datafusion)?;
            Ok(Arc::new(out) as ArrayRef)
        }),
        ScalarUDF::from(Decode {
            signature: Signature::any(2, Volatility::Immutable),
        }),
    ]
}

/// `decode(text, format)`: bytea.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Decode {
    signature: Signature,
}

impl ScalarUDFImpl for Decode {
    fn name(&self) -> &str {
        "decode"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Binary)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = crate::functions::all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (text, formats) = (texts(&arrays[0])?, texts(&arrays[1])?);
        let out = text
            .iter()
            .zip(formats.iter())
            .map(|(t, f)| match (t, f) {
                (Some(t), Some(f)) => decode(t, f).map(Some),
                _ => Ok(None),
            })
            .collect::<Result<BinaryArray, SqlError>>()
            .map_err(SqlError::into_datafusion)?;
        crate::functions::columnar_result(Arc::new(out), scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip_as_in_postgresql() {
        let bytes = [0x12, 0x34, 0x56, 0x78, 0x90, 0xab, 0xcd, 0xef, 0x00];
        assert_eq!(
            encode(&bytes, "hex").ok().as_deref(),
            Some("1234567890abcdef00")
        );
        assert_eq!(
            encode(&bytes, "escape").ok().as_deref(),
            Some("\u{12}4Vx\\220\\253\\315\\357\\000")
        );
        assert_eq!(encode(b"ab", "base64").ok().as_deref(), Some("YWI="));
        for format in ["hex", "base64", "escape"] {
            let long: Vec<u8> = (0..=255).collect();
            let text = encode(&long, format).unwrap_or_default();
            assert_eq!(decode(&text, format).ok(), Some(long), "{format}");
        }
        let wrapped = encode(&[7u8; 100], "base64").unwrap_or_default();
        assert!(wrapped.lines().all(|l| l.len() <= 76) && wrapped.contains('\n'));
        assert!(decode("abc", "hex").is_err());
        assert!(decode("a\\9", "escape").is_err());
        assert!(encode(b"", "nope").is_err());
    }

    #[test]
    fn unistr_reads_postgresql_escapes() {
        assert_eq!(
            unistr("\\0064at\\+0000610").ok().as_deref(),
            Some("dat\u{61}0")
        );
        assert_eq!(
            unistr("d\\u0061t\\U000000610").ok().as_deref(),
            Some("dat\u{61}0")
        );
        assert_eq!(unistr("a\\\\b").ok().as_deref(), Some("a\\b"));
        assert_eq!(unistr("\\d83d\\de00").ok().as_deref(), Some("\u{1F600}"));
        assert!(matches!(
            unistr("wrong: \\db99"),
            Err(SqlError::Syntax { .. })
        ));
        assert!(matches!(
            unistr("wrong: \\xyz"),
            Err(SqlError::SyntaxHint { .. })
        ));
        assert!(matches!(
            unistr("wrong: \\+2FFFFF"),
            Err(SqlError::InvalidParameterValue(_))
        ));
    }
}
