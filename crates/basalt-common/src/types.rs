//! The SQL type system and its one-to-one mapping onto Arrow.
//!
//! New types (JSON, VECTOR(n), geometry) are added as variants here with their Arrow form;
//! storage, the wire protocols and DataFusion all derive their behaviour from this mapping.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, IntervalUnit, TimeUnit};
use serde::{Deserialize, Serialize};

/// Precision and scale used for `NUMERIC` / `DECIMAL` written without a type modifier.
/// Arrow decimals have a fixed scale, so an unconstrained PostgreSQL numeric is stored with
/// this one (documented difference: values print with this many fraction digits).
pub const NUMERIC_DEFAULT_PRECISION: u8 = 38;
pub const NUMERIC_DEFAULT_SCALE: i8 = 10;
/// The largest precision Arrow's 128-bit decimal holds.
pub const NUMERIC_MAX_PRECISION: u8 = 38;

/// The time zone every `TIMESTAMPTZ` value is normalised to.
pub const TIMESTAMPTZ_ZONE: &str = "+00:00";

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SqlType {
    Bool,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Numeric {
        precision: u8,
        scale: i8,
    },
    /// `CHAR(n)`: blank-padded to `n` characters, longer values rejected.
    Char(u32),
    /// `VARCHAR(n)`: longer values rejected; `None` means unbounded.
    Varchar(Option<u32>),
    Text,
    Bytea,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Interval,
    /// An array of the element type: `integer[]` holds one-dimensional arrays,
    /// `integer[][]` (an array of arrays) two-dimensional ones, each a list in Arrow.
    Array(Box<SqlType>),
}

/// The Decimal128 precision and scale that hold `numeric(precision, scale)`. PostgreSQL
/// also allows a negative scale (`numeric(3,-6)` rounds to millions) and a scale above the
/// precision (`numeric(3,6)` holds values below 0.001). Arrow's Decimal128 wants
/// `0 <= scale <= precision` for Basalt's arithmetic, so such a column is stored at scale 0
/// with `precision - scale` digits, or at its scale with as many digits; what the declared
/// type adds (rounding to a power of ten, the smaller bound) is applied when a value is
/// stored (`basalt_sql::numeric::fit_typmod`).
pub fn decimal_storage(precision: u8, scale: i8) -> (u8, i8) {
    if scale < 0 {
        let digits = i16::from(precision) - i16::from(scale);
        (digits.min(i16::from(NUMERIC_MAX_PRECISION)) as u8, 0)
    } else if scale as u8 > precision {
        (scale as u8, scale)
    } else {
        (precision, scale)
    }
}

impl SqlType {
    /// Whether this is a numeric type whose declared scale is negative or above its
    /// precision (see [`decimal_storage`]).
    pub fn numeric_typmod_beyond_decimal(&self) -> Option<(u8, i8)> {
        match self {
            SqlType::Numeric { precision, scale } if *scale < 0 || *scale as u8 > *precision => {
                Some((*precision, *scale))
            }
            _ => None,
        }
    }

    /// The Arrow type a column of this SQL type is stored and computed as.
    pub fn to_arrow(&self) -> DataType {
        match self {
            SqlType::Bool => DataType::Boolean,
            SqlType::Int16 => DataType::Int16,
            SqlType::Int32 => DataType::Int32,
            SqlType::Int64 => DataType::Int64,
            SqlType::Float32 => DataType::Float32,
            SqlType::Float64 => DataType::Float64,
            SqlType::Numeric { precision, scale } => {
                let (p, s) = decimal_storage(*precision, *scale);
                DataType::Decimal128(p, s)
            }
            SqlType::Char(_) | SqlType::Varchar(_) | SqlType::Text => DataType::Utf8,
            SqlType::Bytea => DataType::Binary,
            SqlType::Date => DataType::Date32,
            SqlType::Time => DataType::Time64(TimeUnit::Microsecond),
            SqlType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            SqlType::TimestampTz => {
                DataType::Timestamp(TimeUnit::Microsecond, Some(TIMESTAMPTZ_ZONE.into()))
            }
            SqlType::Interval => DataType::Interval(IntervalUnit::MonthDayNano),
            SqlType::Array(element) => {
                DataType::List(Arc::new(Field::new_list_field(element.to_arrow(), true)))
            }
        }
    }

    /// The SQL type a computed Arrow column gets when a table is created from it
    /// (`CREATE TABLE AS SELECT`). `None` when Basalt has no column type for it.
    pub fn from_arrow(data_type: &DataType) -> Option<SqlType> {
        Some(match data_type {
            DataType::Boolean => SqlType::Bool,
            DataType::Int8 | DataType::Int16 | DataType::UInt8 => SqlType::Int16,
            DataType::Int32 | DataType::UInt16 => SqlType::Int32,
            DataType::Int64 | DataType::UInt32 | DataType::UInt64 => SqlType::Int64,
            DataType::Float16 | DataType::Float32 => SqlType::Float32,
            DataType::Float64 => SqlType::Float64,
            DataType::Decimal128(p, s) => SqlType::Numeric {
                precision: *p,
                scale: *s,
            },
            DataType::Decimal256(_, s) => SqlType::Numeric {
                precision: NUMERIC_MAX_PRECISION,
                scale: *s,
            },
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => SqlType::Text,
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => SqlType::Bytea,
            DataType::Date32 | DataType::Date64 => SqlType::Date,
            DataType::Time32(_) | DataType::Time64(_) => SqlType::Time,
            DataType::Timestamp(_, None) => SqlType::Timestamp,
            DataType::Timestamp(_, Some(_)) => SqlType::TimestampTz,
            DataType::Interval(_) => SqlType::Interval,
            DataType::Null => SqlType::Text,
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                SqlType::Array(Box::new(match f.data_type() {
                    // An empty `ARRAY[]` has no element type; PostgreSQL would want a cast.
                    DataType::Null => SqlType::Text,
                    t => SqlType::from_arrow(t)?,
                }))
            }
            _ => return None,
        })
    }

    /// The PostgreSQL spelling, as `format_type` and `\d` show it.
    pub fn pg_name(&self) -> String {
        match self {
            SqlType::Bool => "boolean".into(),
            SqlType::Int16 => "smallint".into(),
            SqlType::Int32 => "integer".into(),
            SqlType::Int64 => "bigint".into(),
            SqlType::Float32 => "real".into(),
            SqlType::Float64 => "double precision".into(),
            SqlType::Numeric { precision, scale } => format!("numeric({precision},{scale})"),
            SqlType::Char(n) => format!("character({n})"),
            SqlType::Varchar(Some(n)) => format!("character varying({n})"),
            SqlType::Varchar(None) => "character varying".into(),
            SqlType::Text => "text".into(),
            SqlType::Bytea => "bytea".into(),
            SqlType::Date => "date".into(),
            SqlType::Time => "time without time zone".into(),
            SqlType::Timestamp => "timestamp without time zone".into(),
            SqlType::TimestampTz => "timestamp with time zone".into(),
            SqlType::Interval => "interval".into(),
            SqlType::Array(element) => format!("{}[]", element.element_type().pg_name()),
        }
    }

    /// The type of the scalars an array holds (the type itself when it is no array).
    pub fn element_type(&self) -> &SqlType {
        match self {
            SqlType::Array(element) => element.element_type(),
            other => other,
        }
    }

    /// The maximum character length a value may have, for length-checked string types.
    pub fn max_chars(&self) -> Option<u32> {
        match self {
            SqlType::Char(n) | SqlType::Varchar(Some(n)) => Some(*n),
            _ => None,
        }
    }

    pub fn is_integer(&self) -> bool {
        matches!(self, SqlType::Int16 | SqlType::Int32 | SqlType::Int64)
    }
}

impl std::fmt::Display for SqlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.pg_name())
    }
}

/// The value range a MySQL-declared integer type allows (`tinyint unsigned` → 0..=255),
/// for types stored in a wider Basalt type. `year` allows 1901..=2155 and 0.
pub fn mysql_range(declared: &str) -> Option<(i128, i128)> {
    let d = declared.to_ascii_lowercase();
    let unsigned = d.contains("unsigned");
    let base = d.split(['(', ' ']).next().unwrap_or("");
    Some(match (base, unsigned) {
        ("tinyint", false) => (-128, 127),
        ("tinyint", true) => (0, 255),
        ("smallint", true) => (0, 65_535),
        ("mediumint", false) => (-8_388_608, 8_388_607),
        ("mediumint", true) => (0, 16_777_215),
        ("int" | "integer", true) => (0, 4_294_967_295),
        ("bigint", true) => (0, 18_446_744_073_709_551_615),
        ("year", _) => (0, 2155),
        _ => return None,
    })
}

/// The members of a MySQL `enum('a','b')` declaration.
pub fn mysql_enum_values(declared: &str) -> Option<Vec<String>> {
    let inner = declared
        .strip_prefix("enum(")
        .or_else(|| declared.strip_prefix("ENUM("))?
        .strip_suffix(')')?;
    let mut values = Vec::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut v = String::new();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    v.push('\'');
                } else {
                    break;
                }
            } else {
                v.push(c);
            }
        }
        values.push(v);
    }
    Some(values)
}

#[cfg(test)]
mod mysql_tests {
    use super::*;

    #[test]
    fn declared_ranges_and_enums() {
        assert_eq!(mysql_range("tinyint unsigned"), Some((0, 255)));
        assert_eq!(mysql_range("tinyint(4)"), Some((-128, 127)));
        assert_eq!(mysql_range("int"), None);
        assert_eq!(
            mysql_enum_values("enum('a','it''s')"),
            Some(vec!["a".to_owned(), "it's".to_owned()])
        );
    }
}
