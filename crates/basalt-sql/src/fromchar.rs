//! PostgreSQL's `to_date(text, template)` and `to_timestamp(text, template)`: text read
//! through the date/time template patterns `to_char` writes (`crate::tochar`).
//!
//! As in PostgreSQL without `FX`: blanks before a field are skipped, a separator in the
//! template matches one separator in the input or none, a number field reads its fixed width
//! unless the next template item is a separator (or `FM` is given), when it reads all the
//! digits there are. `YY`, `YYY` and `Y` pick the year nearest 2020 as PostgreSQL does;
//! `HH`/`HH12` go with `AM`/`PM`; `BC` counts years before 1 AD. Month and day names are
//! the English ones (the C locale). Fields PostgreSQL reads but Basalt does not (ISO weeks,
//! time zones, `Q`, `W`, `WW`, `RM`) are refused with 0A000. `to_timestamp`'s fields are
//! read in UTC, Basalt's session time zone.
//!
//! The one-argument forms stay DataFusion's (`to_timestamp(1284352323)`).

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{
    Array, ArrayRef, Date32Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

use crate::error::{SqlError, SqlResult};
use crate::tochar::{parse_dt_format, DtKey, DtNode, DAYS, MONTHS};

/// The fields read from the input.
#[derive(Default)]
struct Fields {
    year: Option<i64>,
    /// How many digits a `Y`, `YY` or `YYY` field read (the year is then near 2020).
    year_digits: Option<usize>,
    bc: bool,
    month: Option<i64>,
    day: Option<i64>,
    day_of_year: Option<i64>,
    julian: Option<i64>,
    hour: i64,
    hour12: bool,
    pm: Option<bool>,
    minute: i64,
    second: i64,
    micros: i64,
}

fn invalid(value: &str, field: &str) -> SqlError {
    SqlError::Detailed {
        sqlstate: "22007",
        message: format!("invalid value \"{value}\" for \"{field}\""),
        detail: "Value must be an integer.".into(),
        hint: None,
    }
}

fn not_supported(field: &str, function: &str) -> SqlError {
    SqlError::FeatureNotSupported(format!(
        "template pattern \"{field}\" is not supported by {function} in Basalt"
    ))
}

/// What a template key reads: a number of at most `width` digits (0: any), a name, or
/// nothing Basalt supports.
enum Reads {
    Number(usize, &'static str),
    Name,
}

fn reads(key: &DtKey) -> Option<Reads> {
    use DtKey::*;
    Some(match key {
        Year(n) => Reads::Number(usize::from(*n), "YYYY"),
        YearComma => Reads::Number(0, "Y,YYY"),
        MonthNumber => Reads::Number(2, "MM"),
        DayOfMonth => Reads::Number(2, "DD"),
        DayOfYear => Reads::Number(3, "DDD"),
        Hh24 => Reads::Number(2, "HH24"),
        Hh12 => Reads::Number(2, "HH12"),
        Minute => Reads::Number(2, "MI"),
        Second => Reads::Number(2, "SS"),
        Millisecond => Reads::Number(3, "MS"),
        Microsecond => Reads::Number(6, "US"),
        Fraction(n) => Reads::Number(usize::from(*n), "FF"),
        Julian => Reads::Number(0, "J"),
        SecondsOfDay => Reads::Number(0, "SSSS"),
        Cc => Reads::Number(0, "CC"),
        DayOfWeek => Reads::Number(1, "D"),
        MonthName(_) | MonthAbbrev(_) | DayName(_) | DayAbbrev(_) | Meridiem(..) | Era(..) => {
            Reads::Name
        }
        Fx | IsoDayOfYear | IsoDayOfWeek | IsoWeek | IsoYear(_) | Offset | Quarter
        | RomanMonth(_) | TzHour | TzMinute | TzName(_) | WeekOfYear | WeekOfMonth => return None,
    })
}

fn is_separator(c: char) -> bool {
    !c.is_alphanumeric()
}

/// Reads `input` through `template` (see the module comment).
fn read(input: &str, template: &str, function: &str) -> SqlResult<Fields> {
    let nodes = parse_dt_format(template);
    let chars: Vec<char> = input.chars().collect();
    let mut at = 0;
    let mut f = Fields::default();
    let mut cc = None;
    for (i, node) in nodes.iter().enumerate() {
        let (key, fill) = match node {
            DtNode::Text(c) => {
                if is_separator(*c) {
                    if chars.get(at).is_some_and(|x| is_separator(*x)) {
                        at += 1;
                    }
                } else if at < chars.len() {
                    at += 1;
                }
                continue;
            }
            DtNode::Key { key, fill, .. } => (key, *fill),
        };
        while chars.get(at).is_some_and(|c| c.is_whitespace()) {
            at += 1;
        }
        let name = template_name(key);
        let kind = reads(key).ok_or_else(|| not_supported(name, function))?;
        match kind {
            Reads::Number(width, field) => {
                let variable =
                    width == 0 || fill || matches!(nodes.get(i + 1), None | Some(DtNode::Text(_)));
                let start = at;
                if matches!(key, DtKey::Year(_) | DtKey::YearComma)
                    && matches!(chars.get(at), Some('-' | '+'))
                {
                    at += 1;
                }
                let limit = if variable { usize::MAX } else { width };
                let mut digits = 0;
                while digits < limit
                    && chars.get(at).is_some_and(|c| {
                        c.is_ascii_digit() || (*c == ',' && *key == DtKey::YearComma)
                    })
                {
                    at += 1;
                    digits += 1;
                }
                let text: String = chars[start..at].iter().filter(|c| **c != ',').collect();
                // PostgreSQL quotes as many characters as the field is wide.
                let shown_width = if width == 0 { name.len() } else { width };
                let shown: String = chars[start..].iter().take(shown_width).collect();
                let value: i64 = text.parse().map_err(|_| invalid(&shown, field))?;
                let read_digits = text.trim_start_matches(['-', '+']).len();
                let field_value = match key {
                    DtKey::Fraction(n) => value * 10i64.pow(6 - u32::from((*n).min(6))),
                    _ => value,
                };
                store_number(&mut f, key, field_value, read_digits, &mut cc);
            }
            Reads::Name => {
                at += read_name(&chars[at..], key, &mut f).ok_or_else(|| {
                    let rest: String = chars[at..].iter().collect();
                    SqlError::Detailed {
                        sqlstate: "22007",
                        message: format!("invalid value \"{rest}\" for \"{name}\""),
                        detail: "The given value did not match any of the allowed values for \
                                 this field."
                            .into(),
                        hint: None,
                    }
                })?;
            }
        }
    }
    if let (Some(c), None) = (cc, f.year) {
        f.year = Some((c - 1) * 100 + 1);
    }
    Ok(f)
}

fn store_number(f: &mut Fields, key: &DtKey, v: i64, digits: usize, cc: &mut Option<i64>) {
    match key {
        DtKey::Year(n) => {
            f.year = Some(v);
            f.year_digits = (*n < 4 && digits < 4).then_some(digits);
        }
        DtKey::YearComma => f.year = Some(v),
        DtKey::MonthNumber => f.month = Some(v),
        DtKey::DayOfMonth => f.day = Some(v),
        DtKey::DayOfYear => f.day_of_year = Some(v),
        DtKey::Hh24 => f.hour = v,
        DtKey::Hh12 => {
            f.hour = v;
            f.hour12 = true;
        }
        DtKey::Minute => f.minute = v,
        DtKey::Second => f.second = v,
        DtKey::Millisecond => f.micros = v * 1000,
        DtKey::Microsecond | DtKey::Fraction(_) => f.micros = v,
        DtKey::Julian => f.julian = Some(v),
        DtKey::SecondsOfDay => {
            f.hour = v / 3600;
            f.minute = v / 60 % 60;
            f.second = v % 60;
        }
        DtKey::Cc => *cc = Some(v),
        _ => {}
    }
}

/// Matches a month, day, meridiem or era name at the start of `input`; the characters read.
fn read_name(input: &[char], key: &DtKey, f: &mut Fields) -> Option<usize> {
    let starts = |word: &str| {
        let n = word.chars().count();
        (input.len() >= n
            && input[..n]
                .iter()
                .zip(word.chars())
                .all(|(a, b)| a.eq_ignore_ascii_case(&b)))
        .then_some(n)
    };
    match key {
        DtKey::MonthName(_) | DtKey::MonthAbbrev(_) => {
            let full = matches!(key, DtKey::MonthName(_));
            MONTHS.iter().enumerate().find_map(|(i, m)| {
                let word = if full { m } else { &m[..3] };
                starts(word).inspect(|_| f.month = Some(i as i64 + 1))
            })
        }
        DtKey::DayName(_) | DtKey::DayAbbrev(_) => {
            let full = matches!(key, DtKey::DayName(_));
            DAYS.iter()
                .find_map(|d| starts(if full { d } else { &d[..3] }))
        }
        DtKey::Meridiem(dotted, _) => {
            let (am, pm) = if *dotted {
                ("a.m.", "p.m.")
            } else {
                ("am", "pm")
            };
            if let Some(n) = starts(am) {
                f.pm = Some(false);
                Some(n)
            } else {
                starts(pm).inspect(|_| f.pm = Some(true))
            }
        }
        DtKey::Era(dotted, _) => {
            let (ad, bc) = if *dotted {
                ("a.d.", "b.c.")
            } else {
                ("ad", "bc")
            };
            if let Some(n) = starts(bc) {
                f.bc = true;
                Some(n)
            } else {
                starts(ad)
            }
        }
        _ => None,
    }
}

/// The template spelling of a key, for messages.
fn template_name(key: &DtKey) -> &'static str {
    crate::tochar::DT_KEYWORDS
        .iter()
        .find(|(_, k)| k == key)
        .map_or("?", |(n, _)| n)
}

/// The date and the microseconds into it the fields give.
fn resolve(f: &Fields, input: &str) -> SqlResult<(NaiveDate, i64)> {
    // Without a position in the statement, as PostgreSQL reports it.
    let out_of_range = || SqlError::Detailed {
        sqlstate: "22008",
        message: format!("date/time field value out of range: \"{input}\""),
        detail: String::new(),
        hint: None,
    };
    let date = if let Some(j) = f.julian {
        // Julian day 2440588 is 1970-01-01.
        NaiveDate::from_num_days_from_ce_opt(
            i32::try_from(j - 1_721_425).map_err(|_| out_of_range())?,
        )
        .ok_or_else(out_of_range)?
    } else {
        let mut year = f.year.unwrap_or(1);
        if let Some(digits) = f.year_digits {
            year = match digits {
                1 => 2000 + year,
                2 if year < 70 => 2000 + year,
                2 => 1900 + year,
                3 if year < 520 => 2000 + year,
                3 => 1000 + year,
                _ => year,
            };
        }
        if f.bc {
            if year <= 0 {
                return Err(SqlError::InvalidDatetime(format!(
                    "inconsistent use of year {year:04} and \"BC\""
                )));
            }
            year = 1 - year;
        }
        let year = i32::try_from(year).map_err(|_| out_of_range())?;
        match (f.day_of_year, f.month, f.day) {
            (Some(doy), None, None) => {
                NaiveDate::from_yo_opt(year, u32::try_from(doy).map_err(|_| out_of_range())?)
            }
            (_, month, day) => NaiveDate::from_ymd_opt(
                year,
                u32::try_from(month.unwrap_or(1)).map_err(|_| out_of_range())?,
                u32::try_from(day.unwrap_or(1)).map_err(|_| out_of_range())?,
            ),
        }
        .ok_or_else(out_of_range)?
    };
    let mut hour = f.hour;
    if f.hour12 || f.pm.is_some() {
        if !(1..=12).contains(&hour) {
            return Err(SqlError::Detailed {
                sqlstate: "22008",
                message: format!("hour \"{hour}\" is invalid for the 12-hour clock"),
                detail: String::new(),
                hint: Some("Use the 24-hour clock, or give an hour between 1 and 12.".into()),
            });
        }
        hour = match (f.pm, hour) {
            (Some(true), h) if h < 12 => h + 12,
            (Some(false) | None, 12) => 0,
            (_, h) => h,
        };
    }
    if !(0..=24).contains(&hour)
        || !(0..60).contains(&f.minute)
        || !(0..=60).contains(&f.second)
        || !(0..1_000_000).contains(&f.micros)
    {
        return Err(out_of_range());
    }
    let micros = ((hour * 60 + f.minute) * 60 + f.second) * 1_000_000 + f.micros;
    Ok((date, micros))
}

const EPOCH_DAYS_FROM_CE: i64 = 719_163;

/// `to_date` or `to_timestamp` of one row.
fn convert(input: &str, template: &str, timestamp: bool) -> SqlResult<i64> {
    let function = if timestamp { "to_timestamp" } else { "to_date" };
    let f = read(input, template, function)?;
    let (date, micros) = resolve(&f, input)?;
    let days = i64::from(date.num_days_from_ce()) - EPOCH_DAYS_FROM_CE;
    Ok(if timestamp {
        days * 86_400_000_000 + micros
    } else {
        days
    })
}

/// `to_date` / `to_timestamp` for PostgreSQL sessions: two arguments are text and a
/// template; one argument is DataFusion's function.
#[derive(Debug, PartialEq, Eq, Hash)]
struct FromChar {
    inner: Arc<ScalarUDF>,
    timestamp: bool,
}

impl FromChar {
    fn output(&self) -> DataType {
        if self.timestamp {
            DataType::Timestamp(
                TimeUnit::Microsecond,
                Some(basalt_common::types::TIMESTAMPTZ_ZONE.into()),
            )
        } else {
            DataType::Date32
        }
    }
}

impl ScalarUDFImpl for FromChar {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        match arg_types.len() {
            2 => Ok(vec![DataType::Utf8, DataType::Utf8]),
            _ => self.inner.coerce_types(arg_types),
        }
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match arg_types.len() {
            2 => Ok(self.output()),
            _ => self.inner.return_type(arg_types),
        }
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        match args.arg_fields.len() {
            2 => Ok(Arc::new(Field::new(self.name(), self.output(), true))),
            _ => self.inner.return_field_from_args(args),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        if args.args.len() != 2 {
            return self.inner.invoke_with_args(args);
        }
        let scalar = crate::functions::all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let text = |a: &ArrayRef| -> DfResult<StringArray> {
            Ok(cast(a, &DataType::Utf8)?
                .as_any()
                .downcast_ref::<StringArray>()
                .cloned()
                .unwrap_or_else(|| StringArray::new_null(a.len())))
        };
        let (inputs, templates) = (text(&arrays[0])?, text(&arrays[1])?);
        let mut values = Vec::with_capacity(inputs.len());
        for i in 0..inputs.len() {
            if inputs.is_null(i) || templates.is_null(i) {
                values.push(None);
                continue;
            }
            let v = convert(inputs.value(i), templates.value(i), self.timestamp)
                .map_err(SqlError::into_datafusion)?;
            values.push(Some(v));
        }
        let out: ArrayRef = if self.timestamp {
            Arc::new(
                TimestampMicrosecondArray::from(values)
                    .with_timezone(basalt_common::types::TIMESTAMPTZ_ZONE),
            )
        } else {
            Arc::new(Date32Array::from(
                values
                    .into_iter()
                    .map(|v| v.and_then(|d| i32::try_from(d).ok()))
                    .collect::<Vec<_>>(),
            ))
        };
        crate::functions::columnar_result(out, scalar)
    }
}

/// `to_date` and `to_timestamp`, in place of DataFusion's (taken from `ctx`, where
/// DataFusion registered them).
pub fn udfs(ctx: &datafusion::execution::context::SessionContext) -> Vec<ScalarUDF> {
    [("to_date", false), ("to_timestamp", true)]
        .into_iter()
        .filter_map(|(name, timestamp)| {
            use datafusion::execution::FunctionRegistry;
            let inner = ctx.udf(name).ok()?;
            Some(ScalarUDF::from(FromChar { inner, timestamp }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(input: &str, template: &str) -> String {
        let days = convert(input, template, false).unwrap();
        (NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(days)).to_string()
    }

    #[test]
    fn templates_read_as_postgresql_reads_them() {
        assert_eq!(date("20100309", "YYYYMMDD"), "2010-03-09");
        assert_eq!(date("05 Dec 2000", "DD Mon YYYY"), "2000-12-05");
        assert_eq!(date("2000-12-5", "YYYY-MM-DD"), "2000-12-05");
        assert_eq!(date("1 1 99", "DD MM YY"), "1999-01-01");
        assert_eq!(date("1 1 69", "DD MM YY"), "2069-01-01");
        assert_eq!(date("2000 100", "YYYY DDD"), "2000-04-09");
        let noon = convert("2000-01-01 12:30 PM", "YYYY-MM-DD HH:MI AM", true).unwrap();
        assert_eq!(noon % 86_400_000_000, (12 * 60 + 30) * 60_000_000);
        assert!(convert("2000-13-01", "YYYY-MM-DD", false).is_err());
        assert!(convert("2000-xx-01", "YYYY-MM-DD", false).is_err());
        assert!(convert("13:00 PM", "HH:MI AM", true).is_err());
    }
}
