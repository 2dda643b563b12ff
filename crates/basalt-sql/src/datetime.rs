//! PostgreSQL's text forms of dates and timestamps: the `DateStyle` setting, its four
//! output styles, and the input grammar `date`, `timestamp` and `timestamptz` accept.
//!
//! The reader follows PostgreSQL's `ParseDateTime` and `DecodeDateTime` (datetime.c): the
//! text is cut into fields (numbers, dates, times, words, signed zones), words are looked
//! up (months, days, AD/BC, AM/PM, `epoch`, `infinity`, `today`, …), and bare numbers take
//! their meaning from what came before them and from the DateStyle field order, so
//! `1/8/1999` is January 8 under MDY and August 1 under DMY.
//!
//! `infinity` and `-infinity` are stored as the largest and smallest value of the column,
//! as PostgreSQL does, so they sort after and before every date.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{
    make_array, Array, ArrayRef, Date32Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};

use crate::error::SqlError;
use crate::zone::SessionZone;

/// The order of day, month and year that DateStyle gives ambiguous input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DateOrder {
    #[default]
    Mdy,
    Dmy,
    Ymd,
}

/// How text is read as a date or timestamp: DateStyle's field order, and the session's
/// zone for `timestamptz` text that names none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DateInput {
    pub order: DateOrder,
    pub zone: SessionZone,
}

impl From<DateOrder> for DateInput {
    fn from(order: DateOrder) -> DateInput {
        DateInput {
            order,
            zone: SessionZone::default(),
        }
    }
}

/// How dates and timestamps are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputStyle {
    Iso,
    Sql,
    Postgres,
    German,
}

/// The `DateStyle` setting: an output style and an input field order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateStyle {
    pub style: OutputStyle,
    pub order: DateOrder,
}

impl Default for DateStyle {
    fn default() -> Self {
        DateStyle {
            style: OutputStyle::Iso,
            order: DateOrder::Mdy,
        }
    }
}

impl DateStyle {
    /// `SET datestyle TO value`: comma-separated words, each setting the style or the order
    /// and leaving the other as it is (`German` also sets DMY unless an order is given).
    pub fn parse(value: &str, current: DateStyle) -> Result<DateStyle, SqlError> {
        let mut out = current;
        let (mut have_style, mut have_order, mut conflict) = (false, false, false);
        let set_style = |out: &mut DateStyle, s: OutputStyle, have_style: &mut bool| {
            let clash = *have_style && out.style != s;
            out.style = s;
            *have_style = true;
            clash
        };
        let mut orders: Vec<DateOrder> = Vec::new();
        for word in value.split(',').map(str::trim) {
            let word = word.trim_matches('"').trim_matches('\'');
            let upper = word.to_ascii_uppercase();
            match upper.as_str() {
                "ISO" => conflict |= set_style(&mut out, OutputStyle::Iso, &mut have_style),
                "SQL" => conflict |= set_style(&mut out, OutputStyle::Sql, &mut have_style),
                "POSTGRES" => {
                    conflict |= set_style(&mut out, OutputStyle::Postgres, &mut have_style)
                }
                "GERMAN" => {
                    conflict |= set_style(&mut out, OutputStyle::German, &mut have_style);
                    if !have_order {
                        out.order = DateOrder::Dmy;
                    }
                }
                "YMD" => orders.push(DateOrder::Ymd),
                "DMY" => orders.push(DateOrder::Dmy),
                u if u.starts_with("EURO") => orders.push(DateOrder::Dmy),
                "MDY" | "US" => orders.push(DateOrder::Mdy),
                u if u.starts_with("NONEURO") => orders.push(DateOrder::Mdy),
                "DEFAULT" => {
                    if !have_style {
                        out.style = OutputStyle::Iso;
                    }
                    if !have_order {
                        out.order = DateOrder::Mdy;
                    }
                }
                _ => {
                    return Err(SqlError::InvalidSetting {
                        message: format!("invalid value for parameter \"DateStyle\": \"{value}\""),
                        detail: format!("Unrecognized key word: \"{word}\"."),
                    })
                }
            }
            if let Some(&o) = orders.last() {
                conflict |= have_order && out.order != o;
                out.order = o;
                have_order = true;
                orders.clear();
            }
        }
        if conflict {
            return Err(SqlError::InvalidSetting {
                message: format!("invalid value for parameter \"DateStyle\": \"{value}\""),
                detail: "Conflicting \"datestyle\" specifications.".into(),
            });
        }
        Ok(out)
    }

    /// The setting as `SHOW datestyle` prints it: `ISO, MDY`.
    pub fn name(&self) -> String {
        let style = match self.style {
            OutputStyle::Iso => "ISO",
            OutputStyle::Sql => "SQL",
            OutputStyle::Postgres => "Postgres",
            OutputStyle::German => "German",
        };
        let order = match self.order {
            DateOrder::Mdy => "MDY",
            DateOrder::Dmy => "DMY",
            DateOrder::Ymd => "YMD",
        };
        format!("{style}, {order}")
    }

    /// A compact form for sharing through an atomic.
    pub fn to_bits(self) -> u8 {
        let style = match self.style {
            OutputStyle::Iso => 0,
            OutputStyle::Sql => 1,
            OutputStyle::Postgres => 2,
            OutputStyle::German => 3,
        };
        let order = match self.order {
            DateOrder::Mdy => 0,
            DateOrder::Dmy => 1,
            DateOrder::Ymd => 2,
        };
        style * 3 + order
    }

    pub fn from_bits(bits: u8) -> DateStyle {
        let style = match bits / 3 {
            1 => OutputStyle::Sql,
            2 => OutputStyle::Postgres,
            3 => OutputStyle::German,
            _ => OutputStyle::Iso,
        };
        let order = match bits % 3 {
            1 => DateOrder::Dmy,
            2 => DateOrder::Ymd,
            _ => DateOrder::Mdy,
        };
        DateStyle { style, order }
    }
}

// ---- output ------------------------------------------------------------------------------

/// Days from 0001-01-01 (day 1 of the Common Era) to 1970-01-01.
const UNIX_EPOCH_CE_DAYS: i32 = 719_163;
/// The Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN: i64 = 2_440_588;
const USECS_PER_DAY: i64 = 86_400_000_000;
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// The stored form of `infinity` and `-infinity` in a date column.
pub const DATE_INFINITY: i32 = i32::MAX;
pub const DATE_NEG_INFINITY: i32 = i32::MIN;
/// The stored form of `infinity` and `-infinity` in a timestamp column.
pub const TIMESTAMP_INFINITY: i64 = i64::MAX;
pub const TIMESTAMP_NEG_INFINITY: i64 = i64::MIN;

/// Year (astronomical: 0 is 1 BC), month and day of a day count from 1970-01-01.
fn civil(days: i64) -> Option<(i64, u32, u32)> {
    let ce = i32::try_from(days + i64::from(UNIX_EPOCH_CE_DAYS)).ok()?;
    let d = NaiveDate::from_num_days_from_ce_opt(ce)?;
    Some((i64::from(d.year()), d.month(), d.day()))
}

/// Days from 1970-01-01 of a proleptic Gregorian date (astronomical year).
fn days_from_civil(year: i64, month: u32, day: u32) -> Option<i64> {
    let d = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    Some(i64::from(d.num_days_from_ce()) - i64::from(UNIX_EPOCH_CE_DAYS))
}

/// A year as PostgreSQL prints it: at least four digits, BC years counted from 1.
fn year_text(year: i64) -> (String, bool) {
    if year > 0 {
        (format!("{year:04}"), false)
    } else {
        (format!("{:04}", 1 - year), true)
    }
}

fn date_part_text(y: i64, m: u32, d: u32, ds: DateStyle) -> (String, bool) {
    let (year, bc) = year_text(y);
    let text = match ds.style {
        OutputStyle::Iso => format!("{year}-{m:02}-{d:02}"),
        OutputStyle::Sql if ds.order == DateOrder::Dmy => format!("{d:02}/{m:02}/{year}"),
        OutputStyle::Sql => format!("{m:02}/{d:02}/{year}"),
        OutputStyle::German => format!("{d:02}.{m:02}.{year}"),
        OutputStyle::Postgres if ds.order == DateOrder::Dmy => format!("{d:02}-{m:02}-{year}"),
        OutputStyle::Postgres => format!("{m:02}-{d:02}-{year}"),
    };
    (text, bc)
}

/// A date as PostgreSQL prints it under `ds`.
pub fn date_text(days: i32, ds: DateStyle) -> String {
    match days {
        DATE_INFINITY => return "infinity".into(),
        DATE_NEG_INFINITY => return "-infinity".into(),
        _ => {}
    }
    let Some((y, m, d)) = civil(i64::from(days)) else {
        return days.to_string();
    };
    let (text, bc) = date_part_text(y, m, d, ds);
    if bc {
        format!("{text} BC")
    } else {
        text
    }
}

/// Seconds with their fraction, trailing zeros removed (`06`, `06.5`).
fn seconds_text(sec: i64, micros: i64) -> String {
    if micros == 0 {
        format!("{sec:02}")
    } else {
        let s = format!("{sec:02}.{micros:06}");
        s.trim_end_matches('0').to_owned()
    }
}

/// A timestamp (microseconds from 1970-01-01) as PostgreSQL prints it under `ds`: a
/// `timestamp`, or with `zone` a `timestamptz` (stored in UTC) shown in that zone, with its
/// displacement (ISO) or abbreviation (the other styles).
pub fn timestamp_text(us: i64, zone: Option<SessionZone>, ds: DateStyle) -> String {
    match us {
        TIMESTAMP_INFINITY => return "infinity".into(),
        TIMESTAMP_NEG_INFINITY => return "-infinity".into(),
        _ => {}
    }
    let utc = us;
    let us = zone.map_or(us, |z| z.to_local(us));
    let days = us.div_euclid(USECS_PER_DAY);
    let in_day = us.rem_euclid(USECS_PER_DAY);
    let Some((y, m, d)) = civil(days) else {
        return us.to_string();
    };
    let (hour, min) = (in_day / 3_600_000_000, in_day / 60_000_000 % 60);
    let secs = seconds_text(in_day / 1_000_000 % 60, in_day % 1_000_000);
    let time = format!("{hour:02}:{min:02}:{secs}");
    let (mut text, bc) = match ds.style {
        OutputStyle::Postgres => {
            let (year, bc) = year_text(y);
            let dow = DAYS[days.rem_euclid(7).wrapping_add(4) as usize % 7];
            let mon = MONTHS[(m - 1) as usize];
            let text = if ds.order == DateOrder::Dmy {
                format!("{dow} {d:02} {mon} {time} {year}")
            } else {
                format!("{dow} {mon} {d:02} {time} {year}")
            };
            (text, bc)
        }
        _ => {
            let (date, bc) = date_part_text(y, m, d, ds);
            (format!("{date} {time}"), bc)
        }
    };
    if let Some(zone) = zone {
        if ds.style == OutputStyle::Iso {
            text.push_str(&crate::zone::offset_text(zone.offset_at_utc(utc)));
        } else {
            text.push(' ');
            text.push_str(&zone.abbreviation_at(utc));
        }
    }
    if bc {
        text.push_str(" BC");
    }
    text
}

// ---- input -------------------------------------------------------------------------------

/// What a date/time text failed on, with PostgreSQL's wording chosen by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DtError {
    BadFormat,
    FieldOverflow,
    /// A month or day out of range: perhaps the DateStyle order is not the input's.
    MdFieldOverflow,
    TzOverflow,
    /// A time zone name Basalt does not know (it reads POSIX-style `STDoffset` names and
    /// the common abbreviations, not the IANA database).
    UnknownZone(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldType {
    Number,
    Date,
    Time,
    Tz,
    Word,
}

/// Cuts the text into fields (PostgreSQL's `ParseDateTime`).
fn split_fields(input: &str) -> Result<Vec<(FieldType, String)>, DtError> {
    let b = input.as_bytes();
    if !input.is_ascii() {
        return Err(DtError::BadFormat);
    }
    let mut out = Vec::new();
    let mut i = 0;
    let lower = |c: u8| char::from(c.to_ascii_lowercase());
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let mut f = String::new();
        let ftype;
        if c.is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                f.push(char::from(b[i]));
                i += 1;
            }
            if i < b.len() && b[i] == b':' {
                ftype = FieldType::Time;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b':' || b[i] == b'.') {
                    f.push(char::from(b[i]));
                    i += 1;
                }
            } else if i < b.len() && matches!(b[i], b'-' | b'/' | b'.') {
                let delim = b[i];
                f.push(char::from(delim));
                i += 1;
                if i < b.len() && b[i].is_ascii_digit() {
                    let mut t = if delim == b'.' {
                        FieldType::Number
                    } else {
                        FieldType::Date
                    };
                    while i < b.len() && b[i].is_ascii_digit() {
                        f.push(char::from(b[i]));
                        i += 1;
                    }
                    if i < b.len() && b[i] == delim {
                        t = FieldType::Date;
                        while i < b.len() && (b[i].is_ascii_digit() || b[i] == delim) {
                            f.push(char::from(b[i]));
                            i += 1;
                        }
                    }
                    ftype = t;
                } else {
                    ftype = FieldType::Date;
                    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == delim) {
                        f.push(lower(b[i]));
                        i += 1;
                    }
                }
            } else {
                ftype = FieldType::Number;
            }
        } else if c == b'.' {
            f.push('.');
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                f.push(char::from(b[i]));
                i += 1;
            }
            ftype = FieldType::Number;
        } else if c.is_ascii_alphabetic() {
            while i < b.len() && b[i].is_ascii_alphabetic() {
                f.push(lower(b[i]));
                i += 1;
            }
            let mut is_date = i < b.len() && matches!(b[i], b'-' | b'/' | b'.');
            if i < b.len() && (b[i] == b'+' || b[i].is_ascii_digit()) {
                // PostgreSQL looks in its table of date words only, not in the zone
                // abbreviations: `GMT+8` is one field, a POSIX-style zone.
                is_date = !matches!(keyword(&f), Some(w) if !matches!(w, Word::Zone(_)));
            }
            if is_date {
                while i < b.len()
                    && (matches!(b[i], b'+' | b'-' | b'/' | b'_' | b'.' | b':')
                        || b[i].is_ascii_alphanumeric())
                {
                    f.push(lower(b[i]));
                    i += 1;
                }
                ftype = FieldType::Date;
            } else {
                ftype = FieldType::Word;
            }
        } else if c == b'+' || c == b'-' {
            f.push(char::from(c));
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < b.len() && b[i].is_ascii_digit() {
                while i < b.len() && (b[i].is_ascii_digit() || matches!(b[i], b':' | b'.' | b'-')) {
                    f.push(char::from(b[i]));
                    i += 1;
                }
                ftype = FieldType::Tz;
            } else if i < b.len() && b[i].is_ascii_alphabetic() {
                while i < b.len() && b[i].is_ascii_alphabetic() {
                    f.push(lower(b[i]));
                    i += 1;
                }
                ftype = FieldType::Word;
            } else {
                return Err(DtError::BadFormat);
            }
        } else if c.is_ascii_punctuation() {
            i += 1;
            continue;
        } else {
            return Err(DtError::BadFormat);
        }
        out.push((ftype, f));
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Special {
    Epoch,
    Infinity,
    NegInfinity,
    Now,
    Today,
    Tomorrow,
    Yesterday,
    AllBalls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Word {
    Month(i64),
    DayOfWeek,
    Am,
    Pm,
    Ad,
    Bc,
    IsoTime,
    Julian,
    Ignore,
    /// A zone, as seconds east of UTC.
    Zone(i64),
    Special(Special),
}

/// A zone abbreviation Basalt knows (`PST`, `CEST`, `UTC`), as seconds east of UTC.
pub(crate) fn abbreviation_offset(name: &str) -> Option<i64> {
    match keyword(&name.to_lowercase()) {
        Some(Word::Zone(east)) => Some(east),
        _ => None,
    }
}

/// PostgreSQL's table of date/time words (`datetktbl`) and the common zone abbreviations.
fn keyword(w: &str) -> Option<Word> {
    const MONTH_NAMES: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    for (i, m) in MONTH_NAMES.iter().enumerate() {
        if w == *m || w == &m[..3] || (i == 8 && w == "sept") {
            return Some(Word::Month(i as i64 + 1));
        }
    }
    const DAY_NAMES: [&str; 7] = [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ];
    let day_abbrevs = ["tues", "wednes", "thur", "thurs"];
    if DAY_NAMES.iter().any(|d| w == *d || w == &d[..3]) || day_abbrevs.contains(&w) {
        return Some(Word::DayOfWeek);
    }
    let hour = 3600;
    Some(match w {
        "am" => Word::Am,
        "pm" => Word::Pm,
        "ad" => Word::Ad,
        "bc" => Word::Bc,
        "t" => Word::IsoTime,
        "j" | "jd" | "julian" => Word::Julian,
        "on" | "at" => Word::Ignore,
        "epoch" => Word::Special(Special::Epoch),
        "infinity" | "+infinity" => Word::Special(Special::Infinity),
        "-infinity" => Word::Special(Special::NegInfinity),
        "now" => Word::Special(Special::Now),
        "today" => Word::Special(Special::Today),
        "tomorrow" => Word::Special(Special::Tomorrow),
        "yesterday" => Word::Special(Special::Yesterday),
        "allballs" => Word::Special(Special::AllBalls),
        "z" | "zulu" | "utc" | "gmt" | "ut" => Word::Zone(0),
        "pst" => Word::Zone(-8 * hour),
        "pdt" => Word::Zone(-7 * hour),
        "mst" => Word::Zone(-7 * hour),
        "mdt" => Word::Zone(-6 * hour),
        "cst" => Word::Zone(-6 * hour),
        "cdt" => Word::Zone(-5 * hour),
        "est" => Word::Zone(-5 * hour),
        "edt" => Word::Zone(-4 * hour),
        "akst" => Word::Zone(-9 * hour),
        "akdt" => Word::Zone(-8 * hour),
        "hst" => Word::Zone(-10 * hour),
        "bst" => Word::Zone(hour),
        "cet" | "met" => Word::Zone(hour),
        "cest" | "mest" => Word::Zone(2 * hour),
        "eet" => Word::Zone(2 * hour),
        "eest" => Word::Zone(3 * hour),
        "msk" => Word::Zone(3 * hour),
        "ist" => Word::Zone(2 * hour),
        "jst" => Word::Zone(9 * hour),
        "kst" => Word::Zone(9 * hour),
        "aest" => Word::Zone(10 * hour),
        "nzst" => Word::Zone(12 * hour),
        "nzdt" => Word::Zone(13 * hour),
        _ => return None,
    })
}

const YEAR: u32 = 1;
const MONTH: u32 = 2;
const DAY: u32 = 4;
const DOY: u32 = 8;
const TIME: u32 = 16;
const TZ: u32 = 32;
const AMPM: u32 = 64;
const ADBC: u32 = 128;
const DOW: u32 = 256;
const DATE_M: u32 = YEAR | MONTH | DAY;

#[derive(Debug, Default, Clone, Copy)]
struct Tm {
    year: i64,
    mon: i64,
    mday: i64,
    yday: i64,
    hour: i64,
    min: i64,
    sec: i64,
    usec: i64,
}

#[derive(Debug, Default)]
struct Decoder {
    tm: Tm,
    fmask: u32,
    is2digits: bool,
    text_month: bool,
    bc: bool,
    julian: bool,
    meridian: Option<bool>, // Some(true) for PM
    zone: Option<Zone>,
    special: Option<Special>,
}

/// A zone written in date/time text: a fixed displacement, or a region of the IANA time
/// zone database whose displacement depends on the date (daylight-saving time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Zone {
    /// Seconds east of UTC.
    Fixed(i64),
    Region(chrono_tz::Tz),
}

impl Zone {
    /// The displacement (seconds east of UTC) that applies to a local time given as
    /// microseconds from 1970-01-01 00:00. As in PostgreSQL, a local time that occurs twice
    /// (when clocks go back) takes the displacement in force after the change, and one that
    /// does not occur (when clocks go forward) the displacement in force before it.
    pub(crate) fn offset_at_local(self, local_us: i64) -> i64 {
        use chrono::{Offset, TimeZone};
        let tz = match self {
            Zone::Fixed(seconds) => return seconds,
            Zone::Region(chrono_tz::UTC) => return 0,
            Zone::Region(tz) => tz,
        };
        let Some(local) = chrono::DateTime::from_timestamp_micros(local_us) else {
            // Past chrono's years: the zone's rules at that edge, as offset_at_utc takes.
            return crate::zone::SessionZone::Region(tz).offset_at_utc(local_us);
        };
        let local = local.naive_utc();
        match tz.offset_from_local_datetime(&local) {
            chrono::LocalResult::Single(o) => i64::from(o.fix().local_minus_utc()),
            chrono::LocalResult::Ambiguous(_, later) => i64::from(later.fix().local_minus_utc()),
            chrono::LocalResult::None => {
                // In the gap: the displacement a day earlier is the one before the change.
                let before = local - chrono::Duration::days(1);
                i64::from(tz.offset_from_utc_datetime(&before).fix().local_minus_utc())
            }
        }
    }
}

impl From<SessionZone> for Zone {
    fn from(zone: SessionZone) -> Zone {
        match zone {
            SessionZone::Fixed { east, .. } => Zone::Fixed(i64::from(east)),
            SessionZone::Region(tz) => Zone::Region(tz),
        }
    }
}

/// A region of the IANA time zone database (`America/New_York`, `Europe/Paris`,
/// `PST8PDT`), its name matched without regard to case as PostgreSQL matches it.
pub(crate) fn region_zone(name: &str) -> Option<chrono_tz::Tz> {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static BY_NAME: OnceLock<HashMap<String, chrono_tz::Tz>> = OnceLock::new();
    BY_NAME
        .get_or_init(|| {
            chrono_tz::TZ_VARIANTS
                .iter()
                .map(|tz| (tz.name().to_ascii_lowercase(), *tz))
                .collect()
        })
        .get(&name.to_ascii_lowercase())
        .copied()
}

/// A zone name that is not an abbreviation: a POSIX-style `STDoffset`, else a region of the
/// IANA database.
fn named_zone(f: &str) -> Result<Zone, DtError> {
    match posix_zone(f) {
        Ok(seconds) => Ok(Zone::Fixed(seconds)),
        Err(e) => region_zone(f).map(Zone::Region).ok_or(e),
    }
}

fn to_int(s: &str) -> Result<i64, DtError> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(DtError::BadFormat);
    }
    s.parse::<i64>()
        .ok()
        .filter(|v| *v <= i64::from(i32::MAX))
        .ok_or(DtError::FieldOverflow)
}

/// `.123456789` as microseconds, rounded.
fn fraction_micros(s: &str) -> Result<i64, DtError> {
    let digits = s.strip_prefix('.').ok_or(DtError::BadFormat)?;
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(DtError::BadFormat);
    }
    let v: f64 = format!("0.{digits}0")
        .parse()
        .map_err(|_| DtError::BadFormat)?;
    Ok((v * 1e6).round_ties_even() as i64)
}

impl Decoder {
    /// A number that is part of a date (PostgreSQL's `DecodeNumber`).
    fn number(&mut self, s: &str, text_month: bool, order: DateOrder) -> Result<u32, DtError> {
        let (int_part, frac) = match s.find('.') {
            Some(p) => (&s[..p], Some(&s[p..])),
            None => (s, None),
        };
        if let Some(frac) = frac {
            if int_part.len() > 2 {
                return self.number_field(s, self.fmask | DATE_M);
            }
            self.tm.usec = fraction_micros(frac)?;
        }
        let val = to_int(int_part)?;
        let flen = s.len();
        if flen == 3 && (self.fmask & DATE_M) == YEAR && (1..=366).contains(&val) {
            self.tm.yday = val;
            return Ok(DOY | MONTH | DAY);
        }
        let tmask = match self.fmask & DATE_M {
            0 => {
                if flen >= 3 || order == DateOrder::Ymd {
                    self.tm.year = val;
                    YEAR
                } else if order == DateOrder::Dmy {
                    self.tm.mday = val;
                    DAY
                } else {
                    self.tm.mon = val;
                    MONTH
                }
            }
            YEAR => {
                self.tm.mon = val;
                MONTH
            }
            MONTH => {
                if text_month && (flen >= 3 || order == DateOrder::Ymd) {
                    self.tm.year = val;
                    YEAR
                } else {
                    self.tm.mday = val;
                    DAY
                }
            }
            m if m == YEAR | MONTH => {
                if text_month && flen >= 3 && self.is2digits {
                    self.tm.mday = self.tm.year;
                    self.tm.year = val;
                    self.is2digits = false;
                } else {
                    self.tm.mday = val;
                }
                DAY
            }
            DAY => {
                self.tm.mon = val;
                MONTH
            }
            m if m == MONTH | DAY => {
                self.tm.year = val;
                YEAR
            }
            DATE_M => return self.number_field(s, self.fmask),
            _ => return Err(DtError::BadFormat),
        };
        if tmask == YEAR {
            self.is2digits = flen <= 2;
        }
        Ok(tmask)
    }

    /// Run-together digits: `19990108`, `990108`, `040506`, `0405` (`DecodeNumberField`).
    fn number_field(&mut self, s: &str, fmask: u32) -> Result<u32, DtError> {
        let digits = match s.find('.') {
            Some(p) => {
                self.tm.usec = fraction_micros(&s[p..])?;
                &s[..p]
            }
            None => {
                if (fmask & DATE_M) != DATE_M && s.len() >= 6 {
                    let len = s.len();
                    self.tm.mday = to_int(&s[len - 2..])?;
                    self.tm.mon = to_int(&s[len - 4..len - 2])?;
                    self.tm.year = to_int(&s[..len - 4])?;
                    if len - 4 == 2 {
                        self.is2digits = true;
                    }
                    return Ok(DATE_M);
                }
                s
            }
        };
        if (fmask & TIME) == 0 {
            if digits.len() == 6 {
                self.tm.sec = to_int(&digits[4..])?;
                self.tm.min = to_int(&digits[2..4])?;
                self.tm.hour = to_int(&digits[..2])?;
                return Ok(TIME);
            }
            if digits.len() == 4 {
                self.tm.sec = 0;
                self.tm.min = to_int(&digits[2..])?;
                self.tm.hour = to_int(&digits[..2])?;
                return Ok(TIME);
            }
        }
        Err(DtError::BadFormat)
    }

    /// A date written as one field: `1999-01-08`, `08-Jan-1999`, `1999.008` (`DecodeDate`).
    fn date(&mut self, s: &str, order: DateOrder) -> Result<u32, DtError> {
        let mut parts: Vec<&str> = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            while i < b.len() && !b[i].is_ascii_alphanumeric() {
                i += 1;
            }
            if i >= b.len() {
                return Err(DtError::BadFormat);
            }
            let start = i;
            if b[i].is_ascii_digit() {
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            } else {
                while i < b.len() && b[i].is_ascii_alphabetic() {
                    i += 1;
                }
            }
            parts.push(&s[start..i]);
            if i < b.len() && !b[i].is_ascii_alphanumeric() {
                i += 1;
            }
        }
        let mut tmask = 0;
        let mut text_month = false;
        let mut numbers = Vec::new();
        for p in parts {
            if p.as_bytes()[0].is_ascii_alphabetic() {
                match keyword(p) {
                    Some(Word::Ignore) => continue,
                    Some(Word::Month(m)) => {
                        if (self.fmask | tmask) & MONTH != 0 {
                            return Err(DtError::BadFormat);
                        }
                        self.tm.mon = m;
                        text_month = true;
                        tmask |= MONTH;
                        self.fmask |= MONTH;
                    }
                    _ => return Err(DtError::BadFormat),
                }
            } else {
                numbers.push(p);
            }
        }
        for p in numbers {
            let dmask = self.number(p, text_month, order)?;
            if self.fmask & dmask != 0 {
                return Err(DtError::BadFormat);
            }
            self.fmask |= dmask;
            tmask |= dmask;
        }
        if (self.fmask & !(DOY | TZ | TIME | AMPM | ADBC | DOW)) & DATE_M != DATE_M {
            return Err(DtError::BadFormat);
        }
        // fmask already holds the bits; report them so the caller does not add them twice.
        self.fmask &= !tmask;
        Ok(tmask)
    }

    /// `hh:mm[:ss[.ffffff]]` (`DecodeTime`), or `mm:ss.ff`.
    fn time(&mut self, s: &str) -> Result<u32, DtError> {
        let mut it = s.splitn(3, ':');
        let h = it.next().unwrap_or_default();
        let m = it.next().ok_or(DtError::BadFormat)?;
        let rest = it.next();
        let (hour, min, sec, usec);
        match rest {
            None => match m.find('.') {
                Some(p) => {
                    hour = 0;
                    min = to_int(h)?;
                    sec = to_int(&m[..p])?;
                    usec = fraction_micros(&m[p..])?;
                }
                None => {
                    hour = to_int(h)?;
                    min = to_int(m)?;
                    sec = 0;
                    usec = 0;
                }
            },
            Some(r) => {
                hour = to_int(h)?;
                min = to_int(m)?;
                match r.find('.') {
                    Some(p) => {
                        sec = to_int(&r[..p])?;
                        usec = fraction_micros(&r[p..])?;
                    }
                    None => {
                        sec = to_int(r)?;
                        usec = 0;
                    }
                }
            }
        }
        if min > 59 || sec > 60 || usec > 1_000_000 {
            return Err(DtError::FieldOverflow);
        }
        let total = ((hour * 60 + min) * 60 + sec) * 1_000_000 + usec;
        if hour > 24 || total > USECS_PER_DAY {
            return Err(DtError::FieldOverflow);
        }
        self.tm.hour = hour;
        self.tm.min = min;
        self.tm.sec = sec;
        self.tm.usec = usec;
        Ok(TIME)
    }

    /// `+hh[:mm[:ss]]` or `-hhmm`, as seconds east of UTC.
    fn zone_offset(s: &str) -> Result<i64, DtError> {
        let (sign, body) = s.split_at(1);
        let mut parts = body.split(':');
        let first = parts.next().unwrap_or_default();
        let (hr, mut min, mut sec) = (0, 0, 0);
        let hr = if body.contains(':') {
            min = to_int(parts.next().unwrap_or_default())?;
            if let Some(x) = parts.next() {
                sec = to_int(x)?;
            }
            if parts.next().is_some() {
                return Err(DtError::BadFormat);
            }
            hr + to_int(first)?
        } else if body.len() > 2 {
            let v = to_int(first)?;
            min = v % 100;
            v / 100
        } else {
            hr + to_int(first)?
        };
        if hr > 15 || min >= 60 || sec >= 60 {
            return Err(DtError::TzOverflow);
        }
        let tz = (hr * 60 + min) * 60 + sec;
        Ok(if sign == "-" { -tz } else { tz })
    }

    fn decode(input: &str, order: DateOrder) -> Result<Decoder, DtError> {
        let fields = split_fields(input)?;
        if fields.is_empty() {
            return Err(DtError::BadFormat);
        }
        let mut d = Decoder::default();
        let mut prefix: Option<Word> = None; // `j` or `t` before a number
        for (i, (ftype, f)) in fields.iter().enumerate() {
            let tmask = match ftype {
                FieldType::Date => {
                    if prefix.take() == Some(Word::IsoTime) {
                        d.number_field(f, d.fmask | DATE_M)?
                    } else if d.fmask & DATE_M == DATE_M {
                        // With the date known, a word with punctuation is a zone name.
                        if !f.starts_with(|c: char| c.is_ascii_alphabetic()) {
                            return Err(DtError::BadFormat);
                        }
                        d.zone = Some(named_zone(f)?);
                        TZ
                    } else {
                        d.date(f, order)?
                    }
                }
                FieldType::Time => {
                    prefix = None;
                    d.time(f)?
                }
                FieldType::Tz => {
                    d.zone = Some(Zone::Fixed(Decoder::zone_offset(f)?));
                    TZ
                }
                FieldType::Number => match prefix.take() {
                    Some(Word::Julian) => {
                        let (int_part, frac) = match f.find('.') {
                            Some(p) => (&f[..p], Some(&f[p..])),
                            None => (f.as_str(), None),
                        };
                        let jd = to_int(int_part)?;
                        let (y, m, day) =
                            civil(jd - UNIX_EPOCH_JULIAN).ok_or(DtError::FieldOverflow)?;
                        d.tm.year = y;
                        d.tm.mon = i64::from(m);
                        d.tm.mday = i64::from(day);
                        d.julian = true;
                        let mut mask = DATE_M;
                        if let Some(frac) = frac {
                            let us = (fraction_micros(frac)? as f64 / 1e6 * 86_400e6) as i64;
                            d.tm.hour = us / 3_600_000_000;
                            d.tm.min = us / 60_000_000 % 60;
                            d.tm.sec = us / 1_000_000 % 60;
                            d.tm.usec = us % 1_000_000;
                            mask |= TIME;
                        }
                        mask
                    }
                    Some(_) => {
                        let m = d.number_field(f, d.fmask | DATE_M)?;
                        if m != TIME {
                            return Err(DtError::BadFormat);
                        }
                        m
                    }
                    None => {
                        let flen = f.len();
                        let dot = f.find('.');
                        if dot.is_some() && d.fmask & DATE_M == 0 {
                            d.date(f, order)?
                        } else if dot.is_some_and(|p| p > 2)
                            || flen >= 6 && (d.fmask & DATE_M == 0 || d.fmask & TIME == 0)
                        {
                            // Run-together digits with a fraction, or six or more digits.
                            d.number_field(f, d.fmask)?
                        } else {
                            d.number(f, d.text_month, order)?
                        }
                    }
                },
                FieldType::Word => {
                    let Some(word) = keyword(f) else {
                        // An all-letters word that is no date word may name a region
                        // (`Japan`, `UTC`).
                        if d.fmask & TZ != 0 {
                            return Err(DtError::BadFormat);
                        }
                        d.zone = Some(Zone::Region(region_zone(f).ok_or(DtError::BadFormat)?));
                        d.fmask |= TZ;
                        continue;
                    };
                    match word {
                        Word::Month(m) => {
                            let mut mask = MONTH;
                            if d.fmask & MONTH != 0
                                && !d.text_month
                                && d.fmask & DAY == 0
                                && (1..=31).contains(&d.tm.mon)
                            {
                                // `08 Jan`: the number read as a month was the day.
                                d.tm.mday = d.tm.mon;
                                d.fmask &= !MONTH;
                                mask = DAY | MONTH;
                            }
                            d.text_month = true;
                            d.tm.mon = m;
                            mask
                        }
                        Word::DayOfWeek => DOW,
                        Word::Am | Word::Pm => {
                            d.meridian = Some(word == Word::Pm);
                            AMPM
                        }
                        Word::Ad | Word::Bc => {
                            d.bc = word == Word::Bc;
                            ADBC
                        }
                        Word::IsoTime => {
                            let next = fields.get(i + 1).map(|x| x.0);
                            if d.fmask & DATE_M != DATE_M
                                || !matches!(
                                    next,
                                    Some(FieldType::Number | FieldType::Time | FieldType::Date)
                                )
                            {
                                return Err(DtError::BadFormat);
                            }
                            prefix = Some(word);
                            0
                        }
                        Word::Julian => {
                            prefix = Some(word);
                            0
                        }
                        Word::Ignore => 0,
                        Word::Zone(z) => {
                            d.zone = Some(Zone::Fixed(z));
                            TZ
                        }
                        Word::Special(sp) => {
                            let mask = match sp {
                                Special::AllBalls => {
                                    d.tm.hour = 0;
                                    d.tm.min = 0;
                                    d.tm.sec = 0;
                                    d.tm.usec = 0;
                                    d.zone = Some(Zone::Fixed(0));
                                    TIME | TZ
                                }
                                Special::Today | Special::Tomorrow | Special::Yesterday => DATE_M,
                                _ => DATE_M | TIME | TZ,
                            };
                            if sp != Special::AllBalls {
                                d.special = Some(sp);
                            }
                            mask
                        }
                    }
                }
            };
            if tmask & d.fmask != 0 {
                return Err(DtError::BadFormat);
            }
            d.fmask |= tmask;
        }
        if prefix.is_some() {
            return Err(DtError::BadFormat);
        }
        d.validate()?;
        Ok(d)
    }

    /// The AM/PM adjustment and PostgreSQL's `ValidateDate`.
    fn validate(&mut self) -> Result<(), DtError> {
        match self.meridian {
            Some(_) if self.tm.hour > 12 => return Err(DtError::FieldOverflow),
            Some(false) if self.tm.hour == 12 => self.tm.hour = 0,
            Some(true) if self.tm.hour != 12 => self.tm.hour += 12,
            _ => {}
        }
        if self.special.is_some() {
            return Ok(());
        }
        let tm = &mut self.tm;
        if self.fmask & YEAR != 0 {
            if self.julian {
            } else if self.bc {
                if tm.year <= 0 {
                    return Err(DtError::FieldOverflow);
                }
                tm.year = -(tm.year - 1);
            } else if self.is2digits {
                if tm.year < 70 {
                    tm.year += 2000;
                } else if tm.year < 100 {
                    tm.year += 1900;
                }
            } else if tm.year <= 0 {
                return Err(DtError::FieldOverflow);
            }
        }
        if self.fmask & DOY != 0 {
            let start = days_from_civil(tm.year, 1, 1).ok_or(DtError::FieldOverflow)?;
            let (y, m, d) = civil(start + tm.yday - 1).ok_or(DtError::FieldOverflow)?;
            tm.year = y;
            tm.mon = i64::from(m);
            tm.mday = i64::from(d);
        }
        if self.fmask & MONTH != 0 && !(1..=12).contains(&tm.mon) {
            return Err(DtError::MdFieldOverflow);
        }
        if self.fmask & DAY != 0 && !(1..=31).contains(&tm.mday) {
            return Err(DtError::MdFieldOverflow);
        }
        if self.fmask & DATE_M == DATE_M {
            let leap = (tm.year % 4 == 0 && tm.year % 100 != 0) || tm.year % 400 == 0;
            let days_in = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            if tm.mday > days_in[(tm.mon - 1) as usize] {
                return Err(DtError::FieldOverflow);
            }
        }
        Ok(())
    }
}

/// The kinds of value the reader produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateTimeKind {
    Date,
    Timestamp,
    TimestampTz,
}

impl DateTimeKind {
    fn type_name(self) -> &'static str {
        match self {
            DateTimeKind::Date => "date",
            DateTimeKind::Timestamp => "timestamp",
            DateTimeKind::TimestampTz => "timestamp with time zone",
        }
    }
}

/// A POSIX-style zone without daylight-saving rules, `STDoffset` (`GMT+8`, `MST+7:00`), as
/// seconds east of UTC: POSIX offsets count hours (up to 167) west of UTC. A name with
/// daylight-saving rules (`PST8PDT`) or from the IANA database is not known.
fn posix_zone(f: &str) -> Result<i64, DtError> {
    let unknown = || DtError::UnknownZone(f.to_owned());
    let name_len = f
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(f.len());
    let offset = &f[name_len..];
    let (west, body) = match offset.strip_prefix('-') {
        Some(rest) => (false, rest),
        None => (true, offset.strip_prefix('+').unwrap_or(offset)),
    };
    let mut parts = body.split(':');
    let mut field = |max: i64| -> Result<i64, DtError> {
        match parts.next() {
            None => Ok(0),
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|c| c.is_ascii_digit()) => {
                let v: i64 = p.parse().map_err(|_| unknown())?;
                if v > max {
                    return Err(unknown());
                }
                Ok(v)
            }
            Some(_) => Err(unknown()),
        }
    };
    if name_len == 0 || body.is_empty() {
        return Err(unknown());
    }
    let (h, m, sec) = (field(167)?, field(59)?, field(59)?);
    if parts.next().is_some() {
        return Err(unknown());
    }
    let seconds = (h * 60 + m) * 60 + sec;
    Ok(if west { -seconds } else { seconds })
}

fn parse_error(e: DtError, input: &str, kind: DateTimeKind) -> SqlError {
    match e {
        DtError::UnknownZone(name) => {
            SqlError::InvalidParameterValue(format!("time zone \"{name}\" not recognized"))
        }
        DtError::BadFormat => SqlError::InvalidDatetime(format!(
            "invalid input syntax for type {}: \"{input}\"",
            kind.type_name()
        )),
        DtError::FieldOverflow => {
            SqlError::DatetimeOverflow(format!("date/time field value out of range: \"{input}\""))
        }
        DtError::MdFieldOverflow => SqlError::DatestyleMismatch(input.to_owned()),
        DtError::TzOverflow => {
            SqlError::DatetimeOverflow(format!("time zone displacement out of range: \"{input}\""))
        }
    }
}

/// Reads a date, timestamp or timestamptz written in any form PostgreSQL accepts, under the
/// DateStyle field order `order`. `now_us` is the current time (for `now`, `today`, …).
/// Dates come back as days from 1970-01-01, timestamps as microseconds (UTC for
/// timestamptz; a zone written in a timestamp without time zone is ignored, as in
/// PostgreSQL).
pub fn parse_datetime(
    input: &str,
    kind: DateTimeKind,
    how: impl Into<DateInput>,
    now_us: i64,
) -> Result<i64, SqlError> {
    let how = how.into();
    let d = Decoder::decode(input, how.order).map_err(|e| parse_error(e, input, kind))?;
    let bad = || parse_error(DtError::BadFormat, input, kind);
    let infinity = |positive: bool| match (kind, positive) {
        (DateTimeKind::Date, true) => i64::from(DATE_INFINITY),
        (DateTimeKind::Date, false) => i64::from(DATE_NEG_INFINITY),
        (_, true) => TIMESTAMP_INFINITY,
        (_, false) => TIMESTAMP_NEG_INFINITY,
    };
    // `now`, `today` and the rest are read on the session zone's clock.
    let local_now = how.zone.to_local(now_us);
    let today = local_now.div_euclid(USECS_PER_DAY);
    let (days, time_us) = match d.special {
        Some(Special::Infinity) => return Ok(infinity(true)),
        Some(Special::NegInfinity) => return Ok(infinity(false)),
        // The epoch is an instant, 1970-01-01 00:00 UTC, whatever the zone.
        Some(Special::Epoch) if kind == DateTimeKind::TimestampTz => return Ok(0),
        // `now` as a timestamptz is the instant itself.
        Some(Special::Now) if kind == DateTimeKind::TimestampTz => return Ok(now_us),
        Some(Special::Epoch) => (0, 0),
        Some(Special::Now) => (today, local_now.rem_euclid(USECS_PER_DAY)),
        Some(Special::Today) => (today, d.time_of_day()),
        Some(Special::Tomorrow) => (today + 1, d.time_of_day()),
        Some(Special::Yesterday) => (today - 1, d.time_of_day()),
        Some(Special::AllBalls) | None => {
            if d.fmask & DATE_M != DATE_M {
                return Err(bad());
            }
            let days = days_from_civil(d.tm.year, d.tm.mon as u32, d.tm.mday as u32)
                .ok_or_else(|| out_of_range(input, kind))?;
            (days, d.time_of_day())
        }
    };
    // PostgreSQL's range: 4714-11-24 BC to 5874897-12-31 (dates) / 294276-12-31 (timestamps).
    let first_day = days_from_civil(-4713, 11, 24).unwrap_or(i64::MIN);
    if days < first_day {
        return Err(out_of_range(input, kind));
    }
    match kind {
        DateTimeKind::Date => {
            if days >= i64::from(DATE_INFINITY) {
                return Err(out_of_range(input, kind));
            }
            Ok(days)
        }
        DateTimeKind::Timestamp | DateTimeKind::TimestampTz => {
            if days > days_from_civil(294_276, 12, 31).unwrap_or(i64::MAX) {
                return Err(out_of_range(input, kind));
            }
            let mut us = days * USECS_PER_DAY + time_us;
            if kind == DateTimeKind::TimestampTz && d.special != Some(Special::Now) {
                let zone = d.zone.unwrap_or(Zone::from(how.zone));
                us -= zone.offset_at_local(us) * 1_000_000;
            }
            Ok(us)
        }
    }
}

fn out_of_range(input: &str, kind: DateTimeKind) -> SqlError {
    let what = match kind {
        DateTimeKind::Date => "date",
        _ => "timestamp",
    };
    SqlError::DatetimeOverflow(format!("{what} out of range: \"{input}\""))
}

impl Decoder {
    fn time_of_day(&self) -> i64 {
        ((self.tm.hour * 60 + self.tm.min) * 60 + self.tm.sec) * 1_000_000 + self.tm.usec
    }
}

/// Whether text converted to `t` is read by [`text_to_datetime`].
pub fn reads_datetime(t: &DataType) -> bool {
    matches!(t, DataType::Date32 | DataType::Timestamp(_, _))
}

/// Converts a column of text to dates or timestamps of type `target` (a type for which
/// [`reads_datetime`] holds), reading each value as PostgreSQL does under `order`.
pub fn text_to_datetime(
    array: &ArrayRef,
    target: &DataType,
    how: DateInput,
) -> Result<ArrayRef, SqlError> {
    let text = cast(array, &DataType::Utf8)?;
    let text = text
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| SqlError::Internal("text column expected".into()))?;
    // 'now', 'today' … are read at the transaction's start, as in PostgreSQL.
    let now_us = crate::clock::transaction_micros();
    let kind = match target {
        DataType::Date32 => DateTimeKind::Date,
        DataType::Timestamp(_, None) => DateTimeKind::Timestamp,
        _ => DateTimeKind::TimestampTz,
    };
    let mut values: Vec<Option<i64>> = Vec::with_capacity(text.len());
    for v in text.iter() {
        values.push(match v {
            None => None,
            Some(v) => Some(parse_datetime(v, kind, how, now_us)?),
        });
    }
    let out_of_range = || SqlError::DatetimeOverflow("timestamp out of range".into());
    // Microseconds to the target's unit; the infinities keep their stored form.
    let scale = |us: i64, per_second: i64| -> Result<i64, SqlError> {
        match us {
            TIMESTAMP_INFINITY | TIMESTAMP_NEG_INFINITY => Ok(us),
            _ if per_second >= 1_000_000 => us
                .checked_mul(per_second / 1_000_000)
                .ok_or_else(out_of_range),
            _ => Ok(us.div_euclid(1_000_000 / per_second)),
        }
    };
    let convert = |per_second: i64| -> Result<Vec<Option<i64>>, SqlError> {
        values
            .iter()
            .map(|v| v.map(|us| scale(us, per_second)).transpose())
            .collect()
    };
    Ok(match target {
        DataType::Date32 => Arc::new(Date32Array::from(
            values
                .iter()
                .map(|v| v.map(|d| d as i32))
                .collect::<Vec<_>>(),
        )),
        DataType::Timestamp(unit, tz) => {
            let per_second = match unit {
                TimeUnit::Second => 1,
                TimeUnit::Millisecond => 1_000,
                TimeUnit::Microsecond => 1_000_000,
                TimeUnit::Nanosecond => 1_000_000_000,
            };
            let raw = Arc::new(TimestampMicrosecondArray::from(convert(per_second)?)) as ArrayRef;
            // Same i64 values, reinterpreted in the target unit and zone.
            let data = raw
                .to_data()
                .into_builder()
                .data_type(DataType::Timestamp(*unit, tz.clone()));
            make_array(data.build()?)
        }
        other => {
            return Err(SqlError::Internal(format!(
                "text cannot be read as {other} here"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str, order: DateOrder) -> Result<String, String> {
        parse_datetime(s, DateTimeKind::Date, order, 0)
            .map(|d| date_text(d as i32, DateStyle::default()))
            .map_err(|e| format!("{e}{}", e.hint().map(|_| " +hint").unwrap_or_default()))
    }

    #[test]
    fn dates_read_in_every_documented_form() {
        use DateOrder::*;
        for (input, order, want) in [
            ("January 8, 1999", Mdy, "1999-01-08"),
            ("1999-01-08", Dmy, "1999-01-08"),
            ("1/8/1999", Mdy, "1999-01-08"),
            ("1/8/1999", Dmy, "1999-08-01"),
            ("01/02/03", Mdy, "2003-01-02"),
            ("01/02/03", Dmy, "2003-02-01"),
            ("01/02/03", Ymd, "2001-02-03"),
            ("19990108", Mdy, "1999-01-08"),
            ("990108", Mdy, "1999-01-08"),
            ("1999.008", Mdy, "1999-01-08"),
            ("J2451187", Mdy, "1999-01-08"),
            ("January 8, 99 BC", Mdy, "0099-01-08 BC"),
            ("99-Jan-08", Ymd, "1999-01-08"),
            ("08-Jan-99", Mdy, "1999-01-08"),
            ("Jan-08-99", Mdy, "1999-01-08"),
            ("1999-Jan-08", Mdy, "1999-01-08"),
            ("08 Jan 1999", Mdy, "1999-01-08"),
            ("Jan 08 1999", Dmy, "1999-01-08"),
            ("1999 Jan 08", Mdy, "1999-01-08"),
            ("99 08 01", Ymd, "1999-08-01"),
            ("2040-04-10 BC", Mdy, "2040-04-10 BC"),
            ("1999-01-08 04:05:06", Mdy, "1999-01-08"),
            ("epoch", Mdy, "1970-01-01"),
            ("infinity", Mdy, "infinity"),
            ("-infinity", Mdy, "-infinity"),
        ] {
            assert_eq!(date(input, order), Ok(want.to_owned()), "{input} {order:?}");
        }
    }

    #[test]
    fn dates_refused_with_postgresql_errors() {
        use DateOrder::*;
        for (input, order, want) in [
            (
                "1997-02-29",
                Mdy,
                "date/time field value out of range: \"1997-02-29\"",
            ),
            (
                "1/18/1999",
                Dmy,
                "date/time field value out of range: \"1/18/1999\" +hint",
            ),
            (
                "18/1/1999",
                Mdy,
                "date/time field value out of range: \"18/1/1999\" +hint",
            ),
            (
                "99-Jan-08",
                Mdy,
                "date/time field value out of range: \"99-Jan-08\" +hint",
            ),
            (
                "1999-08-Jan",
                Mdy,
                "invalid input syntax for type date: \"1999-08-Jan\"",
            ),
            (
                "garbage",
                Mdy,
                "invalid input syntax for type date: \"garbage\"",
            ),
            ("", Mdy, "invalid input syntax for type date: \"\""),
            ("4714-11-23 BC", Mdy, "date out of range: \"4714-11-23 BC\""),
        ] {
            assert_eq!(
                date(input, order),
                Err(want.to_owned()),
                "{input} {order:?}"
            );
        }
    }

    #[test]
    fn timestamps_read_and_print_in_each_style() {
        let ts = |s: &str| parse_datetime(s, DateTimeKind::Timestamp, DateOrder::Mdy, 0).unwrap();
        let us = ts("1997-02-10 17:32:01.4");
        assert_eq!(us, ts("Mon Feb 10 17:32:01.4 1997"));
        assert_eq!(us, ts("1997-02-10T17:32:01.4"));
        assert_eq!(us, ts("Feb 10 5:32:01.4 PM 1997"));
        assert_eq!(ts("19970210 173201"), ts("1997-02-10 17:32:01"));
        let day = 86_400_000_000;
        assert_eq!(
            parse_datetime(
                "tomorrow 5:00 pm",
                DateTimeKind::Timestamp,
                DateOrder::Mdy,
                0
            )
            .unwrap(),
            day + 17 * 3_600_000_000
        );
        let style = |style, order| DateStyle { style, order };
        use DateOrder::*;
        use OutputStyle::*;
        assert_eq!(
            timestamp_text(us, None, style(Iso, Mdy)),
            "1997-02-10 17:32:01.4"
        );
        assert_eq!(
            timestamp_text(us, None, style(Postgres, Mdy)),
            "Mon Feb 10 17:32:01.4 1997"
        );
        assert_eq!(
            timestamp_text(us, None, style(Postgres, Dmy)),
            "Mon 10 Feb 17:32:01.4 1997"
        );
        assert_eq!(
            timestamp_text(us, None, style(Sql, Mdy)),
            "02/10/1997 17:32:01.4"
        );
        assert_eq!(
            timestamp_text(us, Some(SessionZone::default()), style(German, Dmy)),
            "10.02.1997 17:32:01.4 UTC"
        );
        assert_eq!(
            timestamp_text(us, Some(SessionZone::default()), style(Iso, Mdy)),
            "1997-02-10 17:32:01.4+00"
        );
        let tz = parse_datetime(
            "1997-02-10 17:32:01 -08",
            DateTimeKind::TimestampTz,
            DateOrder::Mdy,
            0,
        )
        .unwrap();
        assert_eq!(
            timestamp_text(tz, Some(SessionZone::default()), DateStyle::default()),
            "1997-02-11 01:32:01+00"
        );
        let bc = ts("0097-02-10 17:32:01 BC");
        assert_eq!(
            timestamp_text(bc, None, style(Postgres, Mdy)),
            "Wed Feb 10 17:32:01 0097 BC"
        );
    }

    #[test]
    fn datestyle_settings_combine_like_postgresql() {
        let d = DateStyle::default();
        let p = DateStyle::parse("Postgres, MDY", d).unwrap();
        assert_eq!(p.name(), "Postgres, MDY");
        assert_eq!(DateStyle::parse("ymd", p).unwrap().name(), "Postgres, YMD");
        assert_eq!(DateStyle::parse("German", d).unwrap().name(), "German, DMY");
        assert_eq!(
            DateStyle::parse("German, MDY", d).unwrap().name(),
            "German, MDY"
        );
        assert!(DateStyle::parse("ISO, SQL", d).is_err());
        assert!(DateStyle::parse("nonsense", d).is_err());
        for bits in 0..12 {
            assert_eq!(DateStyle::from_bits(bits).to_bits(), bits);
        }
    }
}

/// `isfinite(date | timestamp | timestamptz | interval)`: false for the infinities (an
/// interval is always finite in PostgreSQL 15).
#[derive(Debug, PartialEq, Eq, Hash)]
struct IsFinite {
    signature: datafusion::logical_expr::Signature,
}

impl datafusion::logical_expr::ScalarUDFImpl for IsFinite {
    fn name(&self) -> &str {
        "isfinite"
    }
    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> datafusion::common::Result<DataType> {
        match arg_types {
            [DataType::Date32 | DataType::Timestamp(..) | DataType::Interval(_) | DataType::Null] => {
                Ok(DataType::Boolean)
            }
            [other] => Err(SqlError::Detailed {
                sqlstate: "42883",
                message: format!(
                    "function isfinite({}) does not exist",
                    crate::functions::pg_type_of(other)
                ),
                detail: String::new(),
                hint: Some(
                    "No function matches the given name and argument types. You might need \
                     to add explicit type casts."
                        .into(),
                ),
            }
            .into_datafusion()),
            _ => Err(
                SqlError::UndefinedFunction("function isfinite takes one argument".into())
                    .into_datafusion(),
            ),
        }
    }
    fn invoke_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::common::Result<datafusion::logical_expr::ColumnarValue> {
        use datafusion::arrow::array::{Array, AsArray, BooleanArray};
        use datafusion::arrow::datatypes::{Date32Type, Int64Type};
        let scalar = crate::functions::all_scalar(&args.args);
        let arrays = datafusion::logical_expr::ColumnarValue::values_to_arrays(&args.args)?;
        let a = &arrays[0];
        let out: BooleanArray = match a.data_type() {
            DataType::Date32 => a
                .as_primitive::<Date32Type>()
                .iter()
                .map(|v| v.map(|d| d != DATE_INFINITY && d != DATE_NEG_INFINITY))
                .collect(),
            DataType::Timestamp(..) => cast(a, &DataType::Int64)?
                .as_primitive::<Int64Type>()
                .iter()
                .map(|v| v.map(|t| t != TIMESTAMP_INFINITY && t != TIMESTAMP_NEG_INFINITY))
                .collect(),
            _ => (0..a.len())
                .map(|i| a.is_valid(i).then_some(true))
                .collect(),
        };
        crate::functions::columnar_result(Arc::new(out), scalar)
    }
}

pub fn isfinite_udf() -> datafusion::logical_expr::ScalarUDF {
    datafusion::logical_expr::ScalarUDF::from(IsFinite {
        signature: datafusion::logical_expr::Signature::any(
            1,
            datafusion::logical_expr::Volatility::Immutable,
        ),
    })
}
