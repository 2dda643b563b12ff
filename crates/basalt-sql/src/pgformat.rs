//! PostgreSQL's `format(formatstr, args...)`: `%s` (a value as text, NULL as nothing), `%I`
//! (an SQL identifier, quoted when needed), `%L` (an SQL literal, NULL as `NULL`), `%%`;
//! argument positions (`%2$s`), widths (`%10s`, `%-10s`, `%*s`, `%*1$s`), and PostgreSQL's
//! errors for malformed specifiers and missing arguments.

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::Arc;

use crate::error::SqlError;

/// `quote_ident`: the name as is when it needs no quotes, else in double quotes.
pub fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !crate::session::RESERVED.contains(&name);
    if plain {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// `quote_literal`: single quotes doubled; a value with backslashes gets the `E''` form.
pub fn quote_literal(value: &str) -> String {
    let body = value.replace('\'', "''");
    if value.contains('\\') {
        format!("E'{}'", body.replace('\\', "\\\\"))
    } else {
        format!("'{body}'")
    }
}

/// The largest text value PostgreSQL builds (`MaxAllocSize`, 1 GB).
const MAX_TEXT_BYTES: usize = 0x3fff_ffff;

const PERCENT_HINT: &str = "For a single \"%\" use \"%%\".";

fn unterminated() -> SqlError {
    SqlError::InvalidParameterHint {
        message: "unterminated format() type specifier".into(),
        hint: PERCENT_HINT.into(),
    }
}

fn too_few() -> SqlError {
    SqlError::InvalidParameterValue("too few arguments for format()".into())
}

fn argument_zero() -> SqlError {
    SqlError::InvalidParameterValue(
        "format specifies argument 0, but arguments are numbered from 1".into(),
    )
}

/// Reads digits at `*i`; `None` when there are none.
fn digits(f: &[char], i: &mut usize) -> Result<Option<usize>, SqlError> {
    let start = *i;
    let mut n: usize = 0;
    while *i < f.len() && f[*i].is_ascii_digit() {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(f[*i] as usize - '0' as usize))
            .filter(|n| *n <= i32::MAX as usize)
            .ok_or_else(|| SqlError::OutOfRange("number is out of range".into()))?;
        *i += 1;
    }
    Ok((*i > start).then_some(n))
}

fn advance(f: &[char], i: &mut usize) -> Result<(), SqlError> {
    *i += 1;
    if *i >= f.len() {
        return Err(unterminated());
    }
    Ok(())
}

/// Formats one row. `args[k]` is argument k+1 as text (`None` for NULL); `ints[k]` the
/// same argument as an integer, when it is one (for `*` widths).
pub(crate) fn format_row(
    fmt: &str,
    args: &[Option<String>],
    ints: &[Option<i64>],
) -> Result<String, SqlError> {
    let f: Vec<char> = fmt.chars().collect();
    let mut out = String::with_capacity(fmt.len());
    let mut i = 0;
    let mut next = 0usize; // the last argument used (1-based; 0 before any)
    while i < f.len() {
        if f[i] != '%' {
            out.push(f[i]);
            i += 1;
            continue;
        }
        advance(&f, &mut i)?;
        if f[i] == '%' {
            out.push('%');
            i += 1;
            continue;
        }
        // [argpos$] [-] [width | * | *widthpos$] type
        let (mut argpos, mut widthpos, mut minus, mut width) = (None, None, false, 0usize);
        if let Some(n) = digits(&f, &mut i)? {
            if i >= f.len() {
                return Err(unterminated());
            }
            if f[i] == '$' {
                if n == 0 {
                    return Err(argument_zero());
                }
                argpos = Some(n);
                advance(&f, &mut i)?;
            } else {
                width = n;
            }
        }
        if argpos.is_some() || width == 0 {
            while f[i] == '-' {
                minus = true;
                advance(&f, &mut i)?;
            }
            if f[i] == '*' {
                advance(&f, &mut i)?;
                match digits(&f, &mut i)? {
                    Some(n) => {
                        if i >= f.len() || f[i] != '$' {
                            return Err(SqlError::InvalidParameterValue(
                                "width argument position must be ended by \"$\"".into(),
                            ));
                        }
                        if n == 0 {
                            return Err(argument_zero());
                        }
                        widthpos = Some(n);
                        advance(&f, &mut i)?;
                    }
                    None => widthpos = Some(0),
                }
            } else if let Some(n) = digits(&f, &mut i)? {
                width = n;
            }
        }
        if i >= f.len() {
            return Err(unterminated());
        }
        let kind = f[i];
        if !matches!(kind, 's' | 'I' | 'L') {
            return Err(SqlError::InvalidParameterHint {
                message: format!("unrecognized format() type specifier \"{kind}\""),
                hint: PERCENT_HINT.into(),
            });
        }
        i += 1;
        if let Some(wp) = widthpos {
            next = if wp > 0 { wp } else { next + 1 };
            if next > args.len() {
                return Err(too_few());
            }
            match ints[next - 1] {
                None if args[next - 1].is_none() => width = 0,
                None => {
                    return Err(SqlError::InvalidParameterValue(
                        "the width argument of format() must be an integer".into(),
                    ))
                }
                Some(w) => {
                    let w = i32::try_from(w).map_err(|_| {
                        SqlError::OutOfRange(format!(
                            "value \"{w}\" is out of range for type integer"
                        ))
                    })?;
                    if w < 0 {
                        minus = true;
                    }
                    width = usize::try_from(w.unsigned_abs()).unwrap_or(usize::MAX);
                }
            }
        }
        next = argpos.unwrap_or(next + 1);
        if next > args.len() {
            return Err(too_few());
        }
        let value = &args[next - 1];
        let text = match (kind, value) {
            ('s', None) => String::new(),
            ('s', Some(v)) => v.clone(),
            ('I', None) => {
                return Err(SqlError::NullNotAllowed(
                    "null values cannot be formatted as an SQL identifier".into(),
                ))
            }
            ('I', Some(v)) => quote_ident(v),
            (_, None) => "NULL".into(),
            (_, Some(v)) => quote_literal(v),
        };
        let len = text.chars().count();
        // PostgreSQL's limit on one text value (1 GB), checked before padding is allocated.
        if width.saturating_add(out.len()) >= MAX_TEXT_BYTES {
            return Err(SqlError::ProgramLimit("requested length too large".into()));
        }
        if len < width {
            let pad = " ".repeat(width - len);
            if minus {
                out.push_str(&text);
                out.push_str(&pad);
            } else {
                out.push_str(&pad);
                out.push_str(&text);
            }
        } else {
            out.push_str(&text);
        }
    }
    Ok(out)
}

/// `quote_ident(text)`, `quote_literal(value)` and `quote_nullable(value)`.
pub fn quote_udfs() -> Vec<ScalarUDF> {
    fn each(
        arrays: &[ArrayRef],
        f: impl Fn(Option<&str>) -> Result<Option<String>, SqlError>,
    ) -> DfResult<ArrayRef> {
        let [a] = arrays else {
            return Err(SqlError::UndefinedFunction(
                "the quote functions take one argument".into(),
            )
            .into_datafusion());
        };
        let text = crate::format::pg_text_column(a).map_err(SqlError::into_datafusion)?;
        let out: Vec<Option<String>> = text
            .iter()
            .map(|v| f(v.as_deref()))
            .collect::<Result<_, _>>()
            .map_err(SqlError::into_datafusion)?;
        Ok(Arc::new(StringArray::from(out)))
    }
    use crate::functions::TextFn;
    vec![
        TextFn::udf("quote_ident", Volatility::Immutable, |a, _| {
            each(a, |v| Ok(v.map(quote_ident)))
        }),
        TextFn::udf("quote_literal", Volatility::Immutable, |a, _| {
            each(a, |v| Ok(v.map(quote_literal)))
        }),
        TextFn::udf("quote_nullable", Volatility::Immutable, |a, _| {
            each(a, |v| {
                Ok(Some(v.map_or_else(|| "NULL".into(), quote_literal)))
            })
        }),
    ]
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PgFormat {
    signature: Signature,
}

impl PgFormat {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::from(PgFormat {
            signature: Signature::variadic_any(Volatility::Stable),
        })
    }
}

impl ScalarUDFImpl for PgFormat {
    fn name(&self) -> &str {
        "format"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let all_scalar = crate::functions::all_scalar(&args.args);
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<DfResult<_>>()?;
        let run = || -> Result<ArrayRef, SqlError> {
            let Some(fmt) = arrays.first() else {
                return Err(SqlError::UndefinedFunction(
                    "function format() does not exist".into(),
                ));
            };
            let fmt = cast(fmt, &DataType::Utf8)?;
            let fmt = fmt
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| SqlError::Internal("format string".into()))?;
            let mut texts = Vec::new();
            let mut ints = Vec::new();
            for a in &arrays[1..] {
                texts.push(crate::format::pg_text_column(a)?);
                let as_int = match a.data_type() {
                    DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                        let c = cast(a, &DataType::Int64)?;
                        let c = c
                            .as_any()
                            .downcast_ref::<Int64Array>()
                            .map(|c| c.iter().collect::<Vec<_>>());
                        c.unwrap_or_else(|| vec![None; a.len()])
                    }
                    _ => vec![None; a.len()],
                };
                ints.push(as_int);
            }
            let mut out: Vec<Option<String>> = Vec::with_capacity(rows);
            for row in 0..rows {
                if fmt.is_null(row) {
                    out.push(None);
                    continue;
                }
                let args: Vec<Option<String>> = texts.iter().map(|t| t[row].clone()).collect();
                let row_ints: Vec<Option<i64>> = ints.iter().map(|t| t[row]).collect();
                out.push(Some(format_row(fmt.value(row), &args, &row_ints)?));
            }
            Ok(Arc::new(StringArray::from(out)))
        };
        crate::functions::columnar_result(run().map_err(SqlError::into_datafusion)?, all_scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(fmt: &str, args: &[Option<&str>]) -> Result<String, String> {
        let texts: Vec<Option<String>> = args.iter().map(|a| a.map(str::to_owned)).collect();
        let ints: Vec<Option<i64>> = args
            .iter()
            .map(|a| a.and_then(|v| v.parse().ok()))
            .collect();
        format_row(fmt, &texts, &ints).map_err(|e| e.to_string())
    }

    #[test]
    fn format_follows_postgresql() {
        assert_eq!(f("Hello %s", &[Some("World")]).unwrap(), "Hello World");
        assert_eq!(f("Hello %%%%", &[]).unwrap(), "Hello %%");
        assert_eq!(
            f(
                "INSERT INTO %I VALUES(%L,%L)",
                &[Some("mytab"), Some("10"), None]
            )
            .unwrap(),
            "INSERT INTO mytab VALUES('10',NULL)"
        );
        assert_eq!(
            f("%1$s %3$s", &[Some("1"), Some("2"), Some("3")]).unwrap(),
            "1 3"
        );
        assert_eq!(
            f("Hello %s %1$s %s", &[Some("World"), Some("Hello again")]).unwrap(),
            "Hello World World Hello again"
        );
        assert_eq!(f(">>%10s<<", &[Some("Hello")]).unwrap(), ">>     Hello<<");
        assert_eq!(f(">>%-10s<<", &[None]).unwrap(), ">>          <<");
        assert_eq!(
            f(">>%1$-10I<<", &[Some("Hello")]).unwrap(),
            ">>\"Hello\"   <<"
        );
        assert_eq!(
            f(">>%2$*1$L<<", &[Some("-10"), None]).unwrap(),
            ">>NULL      <<"
        );
        assert_eq!(
            f(">>%*s<<", &[Some("10"), Some("Hello")]).unwrap(),
            ">>     Hello<<"
        );
        assert!(f("Hello %s %s", &[Some("World")])
            .unwrap_err()
            .contains("too few"));
        assert!(f("Hello %x", &[Some("20")]).unwrap_err().contains("\"x\""));
        assert!(f("%0$s", &[Some("Hello")])
            .unwrap_err()
            .contains("argument 0"));
        assert!(f("%1$", &[Some("1")]).unwrap_err().contains("unterminated"));
        assert!(f("%*s", &[Some("9223372036854775807"), Some("x")]).is_err());
        assert!(f("%2000000000s", &[Some("x")])
            .unwrap_err()
            .contains("too large"));
    }
}
