//! SQL type names (as parsed) to Basalt's [`SqlType`].

use basalt_common::types::{
    NUMERIC_DEFAULT_PRECISION, NUMERIC_DEFAULT_SCALE, NUMERIC_MAX_PRECISION,
};
use basalt_common::SqlType;
use datafusion::sql::sqlparser::ast::{
    ArrayElemTypeDef, CharacterLength, DataType, ExactNumberInfo, TimezoneInfo,
};

use crate::error::{SqlError, SqlResult};

/// How a column type was written: its type, and whether it is a SERIAL pseudo-type.
pub struct ColumnType {
    pub ty: SqlType,
    pub serial: bool,
}

pub fn column_type(dt: &DataType) -> SqlResult<ColumnType> {
    let plain = |ty| Ok(ColumnType { ty, serial: false });
    match dt {
        DataType::Bool | DataType::Boolean => plain(SqlType::Bool),
        DataType::SmallInt(_) | DataType::Int2(_) | DataType::TinyInt(_) => plain(SqlType::Int16),
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) | DataType::MediumInt(_) => {
            plain(SqlType::Int32)
        }
        DataType::BigInt(_) | DataType::Int8(_) => plain(SqlType::Int64),
        DataType::Real | DataType::Float4 => plain(SqlType::Float32),
        DataType::Float(info) => match info {
            ExactNumberInfo::Precision(p) if *p <= 24 => plain(SqlType::Float32),
            _ => plain(SqlType::Float64),
        },
        DataType::Double(_) | DataType::DoublePrecision | DataType::Float8 | DataType::Float64 => {
            plain(SqlType::Float64)
        }
        DataType::Numeric(info) | DataType::Decimal(info) | DataType::Dec(info) => {
            plain(numeric(info)?)
        }
        DataType::Char(len) | DataType::Character(len) => {
            plain(SqlType::Char(char_length(len)?.unwrap_or(1)))
        }
        DataType::Varchar(len) | DataType::CharacterVarying(len) | DataType::CharVarying(len) => {
            plain(SqlType::Varchar(char_length(len)?))
        }
        DataType::Text | DataType::String(_) => plain(SqlType::Text),
        DataType::Bytea => plain(SqlType::Bytea),
        DataType::Date => plain(SqlType::Date),
        DataType::Time(_, tz) => match tz {
            TimezoneInfo::WithTimeZone | TimezoneInfo::Tz => Err(SqlError::unsupported(
                "type time with time zone is not supported; use time",
            )),
            _ => plain(SqlType::Time),
        },
        DataType::Timestamp(_, tz) => match tz {
            TimezoneInfo::WithTimeZone | TimezoneInfo::Tz => plain(SqlType::TimestampTz),
            _ => plain(SqlType::Timestamp),
        },
        DataType::Datetime(_) => plain(SqlType::Timestamp),
        DataType::Interval { .. } => plain(SqlType::Interval),
        DataType::Array(
            ArrayElemTypeDef::SquareBracket(element, _)
            | ArrayElemTypeDef::AngleBracket(element)
            | ArrayElemTypeDef::Parenthesis(element),
        ) => {
            let element = column_type(element)?;
            if element.serial {
                return Err(SqlError::unsupported("array of serial is not implemented"));
            }
            plain(SqlType::Array(Box::new(element.ty)))
        }
        // MySQL's types, stored in the Basalt type that holds every value; the declared type
        // (see `mysql_declared`) keeps the narrower range and is enforced on writes.
        DataType::TinyIntUnsigned(_) | DataType::UTinyInt => plain(SqlType::Int16),
        DataType::SmallIntUnsigned(_) | DataType::USmallInt | DataType::Int2Unsigned(_) => {
            plain(SqlType::Int32)
        }
        DataType::MediumIntUnsigned(_) => plain(SqlType::Int32),
        DataType::IntUnsigned(_) | DataType::IntegerUnsigned(_) | DataType::Int4Unsigned(_) => {
            plain(SqlType::Int64)
        }
        DataType::BigIntUnsigned(_) | DataType::UBigInt | DataType::Int8Unsigned(_) => {
            plain(SqlType::Numeric {
                precision: 20,
                scale: 0,
            })
        }
        DataType::DecimalUnsigned(info) | DataType::DecUnsigned(info) => plain(numeric(info)?),
        DataType::FloatUnsigned(info) => column_type(&DataType::Float(*info)),
        DataType::DoubleUnsigned(_) | DataType::DoublePrecisionUnsigned => plain(SqlType::Float64),
        DataType::RealUnsigned => plain(SqlType::Float32),
        DataType::TinyText | DataType::MediumText | DataType::LongText => plain(SqlType::Text),
        DataType::Blob(_)
        | DataType::TinyBlob
        | DataType::MediumBlob
        | DataType::LongBlob
        | DataType::Binary(_)
        | DataType::Varbinary(_) => plain(SqlType::Bytea),
        DataType::Enum(_, _) => plain(SqlType::Text),
        DataType::Custom(name, _) if name.to_string().eq_ignore_ascii_case("year") => {
            plain(SqlType::Int16)
        }
        DataType::Custom(name, modifiers) => {
            let n = name.to_string().to_lowercase();
            let n = n.trim_start_matches("pg_catalog.");
            let serial = |ty| Ok(ColumnType { ty, serial: true });
            match n {
                "serial" | "serial4" => serial(SqlType::Int32),
                "bigserial" | "serial8" => serial(SqlType::Int64),
                "smallserial" | "serial2" => serial(SqlType::Int16),
                "int2" => plain(SqlType::Int16),
                "int4" => plain(SqlType::Int32),
                "int8" => plain(SqlType::Int64),
                "float4" => plain(SqlType::Float32),
                "float8" => plain(SqlType::Float64),
                "bool" => plain(SqlType::Bool),
                // PostgreSQL's identifier type; stored as text (no truncation at 63 bytes).
                "name" => plain(SqlType::Text),
                "timestamptz" => plain(SqlType::TimestampTz),
                "bpchar" => {
                    let n = modifiers.first().and_then(|m| m.parse().ok()).unwrap_or(1);
                    plain(SqlType::Char(n))
                }
                _ => Err(SqlError::UndefinedFunction(format!(
                    "type \"{n}\" does not exist"
                ))),
            }
        }
        other => Err(SqlError::unsupported(format!(
            "type {other} is not supported"
        ))),
    }
}

/// The fractional-seconds precision written in `timestamp(p)`, `timestamptz(p)` or
/// `time(p)`, when it keeps fewer digits than the microseconds Basalt stores.
pub fn time_precision(dt: &DataType) -> Option<u8> {
    let p = match dt {
        DataType::Timestamp(Some(p), _) | DataType::Time(Some(p), _) => *p,
        DataType::Custom(name, modifiers)
            if name.to_string().eq_ignore_ascii_case("timestamptz") =>
        {
            modifiers.first()?.parse().ok()?
        }
        _ => return None,
    };
    let p = crate::precision::checked(p);
    (u64::from(p) < crate::precision::MAX_PRECISION).then_some(p)
}

/// The MySQL declaration of a column when the stored type alone would lose it: the
/// narrower integer types, UNSIGNED, YEAR, ENUM, the TEXT and BLOB sizes.
pub fn mysql_declared(dt: &DataType) -> Option<String> {
    let d = match dt {
        DataType::TinyInt(_) => "tinyint".to_owned(),
        DataType::TinyIntUnsigned(_) | DataType::UTinyInt => "tinyint unsigned".to_owned(),
        DataType::SmallIntUnsigned(_) | DataType::USmallInt | DataType::Int2Unsigned(_) => {
            "smallint unsigned".to_owned()
        }
        DataType::MediumInt(_) => "mediumint".to_owned(),
        DataType::MediumIntUnsigned(_) => "mediumint unsigned".to_owned(),
        DataType::IntUnsigned(_) | DataType::IntegerUnsigned(_) | DataType::Int4Unsigned(_) => {
            "int unsigned".to_owned()
        }
        DataType::BigIntUnsigned(_) | DataType::UBigInt | DataType::Int8Unsigned(_) => {
            "bigint unsigned".to_owned()
        }
        DataType::TinyText => "tinytext".to_owned(),
        DataType::MediumText => "mediumtext".to_owned(),
        DataType::LongText => "longtext".to_owned(),
        DataType::Text => "text".to_owned(),
        DataType::Blob(_) => "blob".to_owned(),
        DataType::TinyBlob => "tinyblob".to_owned(),
        DataType::MediumBlob => "mediumblob".to_owned(),
        DataType::LongBlob => "longblob".to_owned(),
        DataType::Binary(n) => format!("binary({})", n.unwrap_or(1)),
        DataType::Varbinary(_) => dt.to_string().to_lowercase(),
        DataType::Datetime(_) => "datetime".to_owned(),
        DataType::Time(_, _) => "time".to_owned(),
        DataType::Timestamp(_, _) => "timestamp".to_owned(),
        DataType::Enum(members, _) => {
            let values: Vec<String> = members
                .iter()
                .map(|m| {
                    let name = match m {
                        datafusion::sql::sqlparser::ast::EnumMember::Name(n) => n,
                        datafusion::sql::sqlparser::ast::EnumMember::NamedValue(n, _) => n,
                    };
                    format!("'{}'", name.replace('\'', "''"))
                })
                .collect();
            format!("enum({})", values.join(","))
        }
        DataType::Custom(name, _) if name.to_string().eq_ignore_ascii_case("year") => {
            "year".to_owned()
        }
        _ => return None,
    };
    Some(d)
}

/// PostgreSQL's largest declared numeric precision. Basalt keeps 38 digits (Arrow's
/// Decimal128): a wider declared precision is stored as 38 (37 at scale 10), and a value
/// that needs more digits is refused with "numeric field overflow".
const PG_NUMERIC_MAX_PRECISION: u64 = 1000;
/// PostgreSQL's bound on a declared numeric scale, either side of zero.
const PG_NUMERIC_MAX_SCALE: i64 = 1000;

fn numeric(info: &ExactNumberInfo) -> SqlResult<SqlType> {
    let (precision, scale) = match info {
        ExactNumberInfo::None => (NUMERIC_DEFAULT_PRECISION, NUMERIC_DEFAULT_SCALE),
        ExactNumberInfo::Precision(p) => (precision_of(*p)?, 0),
        ExactNumberInfo::PrecisionAndScale(p, s) => {
            let declared = *p;
            let p = precision_of(declared)?;
            if !(-PG_NUMERIC_MAX_SCALE..=PG_NUMERIC_MAX_SCALE).contains(s) {
                return Err(SqlError::InvalidParameterValue(format!(
                    "NUMERIC scale {s} must be between -{PG_NUMERIC_MAX_SCALE} and \
                     {PG_NUMERIC_MAX_SCALE}"
                )));
            }
            // The digits storage needs: the precision, the places a negative scale rounds
            // away, or a scale beyond the precision (types::decimal_storage).
            let stored = if *s < 0 {
                declared.saturating_add(s.unsigned_abs())
            } else {
                declared.max(*s as u64)
            };
            if (*s < 0 || *s as u64 > declared) && stored > u64::from(NUMERIC_MAX_PRECISION) {
                return Err(SqlError::unsupported(format!(
                    "NUMERIC({declared},{s}) is not supported (Basalt keeps at most \
                     {NUMERIC_MAX_PRECISION} digits)"
                )));
            }
            if *s > i64::from(p) && *s as u64 <= declared {
                return Err(SqlError::unsupported(format!(
                    "NUMERIC scale {s} is not supported (Basalt keeps at most \
                     {NUMERIC_MAX_PRECISION} digits)"
                )));
            }
            // A wider precision at the unconstrained type's scale keeps 37 digits, so that
            // its values print with all their decimals (unconstrained numeric drops
            // trailing zeros).
            let p = if declared > u64::from(p) && *s as i8 == NUMERIC_DEFAULT_SCALE {
                NUMERIC_MAX_PRECISION - 1
            } else {
                p
            };
            (p, *s as i8)
        }
    };
    Ok(SqlType::Numeric { precision, scale })
}

fn precision_of(p: u64) -> SqlResult<u8> {
    if p == 0 || p > PG_NUMERIC_MAX_PRECISION {
        return Err(SqlError::InvalidParameterValue(format!(
            "NUMERIC precision {p} must be between 1 and {PG_NUMERIC_MAX_PRECISION}"
        )));
    }
    Ok(p.min(u64::from(NUMERIC_MAX_PRECISION)) as u8)
}

fn char_length(len: &Option<CharacterLength>) -> SqlResult<Option<u32>> {
    match len {
        None => Ok(None),
        Some(CharacterLength::IntegerLength { length, .. }) => {
            if *length == 0 || *length > 10_485_760 {
                return Err(SqlError::InvalidParameterValue(format!(
                    "length for type varchar must be between 1 and 10485760, not {length}"
                )));
            }
            Ok(Some(*length as u32))
        }
        Some(CharacterLength::Max) => Ok(None),
    }
}
