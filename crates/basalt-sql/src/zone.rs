//! The session's `TimeZone`: the zone `timestamptz` values are shown in, and the one that
//! text, dates and timestamps without a zone are read in when they become `timestamptz`.
//!
//! Basalt stores `timestamptz` as microseconds since 1970 UTC, as PostgreSQL does; the zone
//! is not part of the value. What depends on it is every conversion between an instant and
//! a wall-clock reading: printing, reading text without a zone, casts to and from
//! `timestamp`, `date` and `time`, `date_trunc`, `extract` and `to_char` of a `timestamptz`,
//! and adding days or months (a day is 23 or 25 hours across a daylight-saving change).
//!
//! A zone is an IANA region (`America/New_York`, `PST8PDT`, `UTC`), whose displacement
//! depends on the date, or a fixed displacement: `SET TIME ZONE -8` (hours east of UTC, as
//! ISO 8601 counts them), or a POSIX-style `STDoffset` (`UTC+8`, `<+03>-3`, hours west, as
//! POSIX counts them).

use chrono::{Offset, TimeZone};
use chrono_tz::OffsetName;

use crate::datetime::{TIMESTAMP_INFINITY, TIMESTAMP_NEG_INFINITY};

const USECS_PER_SEC: i64 = 1_000_000;

/// A zone's abbreviation kept inline (at most 15 bytes), so a [`SessionZone`] stays `Copy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Abbrev {
    len: u8,
    bytes: [u8; 15],
}

impl Abbrev {
    fn new(text: &str) -> Option<Abbrev> {
        let src = text.as_bytes();
        if src.len() > 15 {
            return None;
        }
        let mut bytes = [0; 15];
        bytes[..src.len()].copy_from_slice(src);
        Some(Abbrev {
            len: src.len() as u8,
            bytes,
        })
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

/// A session's time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionZone {
    /// A fixed displacement, seconds east of UTC, shown as `abbrev` in the non-ISO styles.
    Fixed { east: i32, abbrev: Abbrev },
    /// A region of the IANA time zone database.
    Region(chrono_tz::Tz),
}

impl Default for SessionZone {
    fn default() -> Self {
        SessionZone::Region(chrono_tz::UTC)
    }
}

/// `+05:30`, `-08`, `+00:19:32`: a displacement (seconds east) as PostgreSQL prints it.
pub fn offset_text(east: i64) -> String {
    let sign = if east < 0 { '-' } else { '+' };
    let a = east.abs();
    let (h, m, s) = (a / 3600, a / 60 % 60, a % 60);
    match (m, s) {
        (0, 0) => format!("{sign}{h:02}"),
        (_, 0) => format!("{sign}{h:02}:{m:02}"),
        _ => format!("{sign}{h:02}:{m:02}:{s:02}"),
    }
}

impl SessionZone {
    /// The zone a `SET TIME ZONE` / `SET timezone` value names, and the name `SHOW` reports:
    /// a number of hours east of UTC, an IANA region (matched without regard to case, shown
    /// as the database spells it), or a POSIX `STDoffset`. `None` for anything else.
    pub fn parse_setting(value: &str) -> Option<(SessionZone, String)> {
        let value = value.trim();
        if let Ok(hours) = value.parse::<f64>() {
            return SessionZone::hours_east(hours);
        }
        if let Some(tz) = crate::datetime::region_zone(value) {
            return Some((SessionZone::Region(tz), tz.name().to_owned()));
        }
        let (abbrev, offset) = match value.strip_prefix('<') {
            Some(rest) => {
                let (name, offset) = rest.split_once('>')?;
                (name, offset)
            }
            None => {
                let split = value
                    .find(|c: char| !c.is_ascii_alphabetic())
                    .unwrap_or(value.len());
                let name = &value[..split];
                if !name.is_empty() && name.len() < 3 {
                    return None;
                }
                (&value[..split], &value[split..])
            }
        };
        let west = posix_offset(offset)?;
        let zone = SessionZone::Fixed {
            east: i32::try_from(-west).ok()?,
            abbrev: Abbrev::new(abbrev)?,
        };
        Some((zone, value.to_owned()))
    }

    /// `SET TIME ZONE -8`, `SET TIME ZONE INTERVAL '+05:30' HOUR TO MINUTE`: a fixed zone
    /// `hours` east of UTC, named in POSIX form (`<-08>+08`) as PostgreSQL shows it.
    pub fn hours_east(hours: f64) -> Option<(SessionZone, String)> {
        if !hours.is_finite() || hours.abs() >= 168.0 {
            return None;
        }
        SessionZone::seconds_east((hours * 3600.0).round() as i64)
    }

    /// A fixed zone `east` seconds east of UTC, with its POSIX-form name.
    pub fn seconds_east(east: i64) -> Option<(SessionZone, String)> {
        if east.abs() >= 168 * 3600 {
            return None;
        }
        let abbrev = offset_text(east);
        let posix = offset_text(-east);
        let zone = SessionZone::Fixed {
            east: east as i32,
            abbrev: Abbrev::new(&abbrev)?,
        };
        Some((zone, format!("<{abbrev}>{posix}")))
    }

    /// Whether the zone is UTC at every instant (its readings are the instants).
    pub fn is_utc(self) -> bool {
        match self {
            SessionZone::Fixed { east, .. } => east == 0,
            SessionZone::Region(tz) => matches!(
                tz,
                chrono_tz::UTC
                    | chrono_tz::Etc::UTC
                    | chrono_tz::Etc::UCT
                    | chrono_tz::Etc::Universal
                    | chrono_tz::Etc::Zulu
                    | chrono_tz::Etc::GMT
                    | chrono_tz::GMT
            ),
        }
    }

    /// The displacement (seconds east of UTC) in force at the instant `utc_us`.
    pub fn offset_at_utc(self, utc_us: i64) -> i64 {
        match self {
            SessionZone::Fixed { east, .. } => i64::from(east),
            // The default zone: no lookup per value.
            SessionZone::Region(chrono_tz::UTC) => 0,
            SessionZone::Region(tz) => {
                let at = clamp_chrono(utc_us);
                i64::from(tz.offset_from_utc_datetime(&at).fix().local_minus_utc())
            }
        }
    }

    /// The displacement that applies to the wall-clock reading `local_us`: as in
    /// PostgreSQL, a reading that occurs twice takes the later displacement and one that
    /// does not occur the displacement in force before the change.
    pub fn offset_at_local(self, local_us: i64) -> i64 {
        crate::datetime::Zone::from(self).offset_at_local(local_us)
    }

    /// The abbreviation shown for the instant `utc_us` in the non-ISO DateStyles (`PST`,
    /// `CEST`; the displacement when the zone has no letters for it).
    pub fn abbreviation_at(self, utc_us: i64) -> String {
        match self {
            SessionZone::Fixed { abbrev, .. } => abbrev.as_str().to_owned(),
            SessionZone::Region(tz) => {
                let offset = tz.offset_from_utc_datetime(&clamp_chrono(utc_us));
                match offset.abbreviation() {
                    Some(name) => name.to_owned(),
                    None => offset_text(i64::from(offset.fix().local_minus_utc())),
                }
            }
        }
    }

    /// The wall-clock reading of the instant `utc_us` (the infinities stay as they are).
    pub fn to_local(self, utc_us: i64) -> i64 {
        if is_infinite(utc_us) {
            return utc_us;
        }
        utc_us.saturating_add(self.offset_at_utc(utc_us) * USECS_PER_SEC)
    }

    /// The instant at which the clocks of this zone read `local_us`.
    pub fn from_local(self, local_us: i64) -> i64 {
        if is_infinite(local_us) {
            return local_us;
        }
        local_us.saturating_sub(self.offset_at_local(local_us) * USECS_PER_SEC)
    }
}

fn is_infinite(us: i64) -> bool {
    us == TIMESTAMP_INFINITY || us == TIMESTAMP_NEG_INFINITY
}

/// `utc_us` as a chrono time, held to the range chrono covers (past it, the zone's rules at
/// the edge apply).
fn clamp_chrono(utc_us: i64) -> chrono::NaiveDateTime {
    let edge = if utc_us < 0 {
        chrono::NaiveDateTime::MIN
    } else {
        chrono::NaiveDateTime::MAX
    };
    chrono::DateTime::from_timestamp_micros(utc_us)
        .map(|t| t.naive_utc())
        .unwrap_or(edge)
}

/// A POSIX offset, `[+-]hh[:mm[:ss]]`, as seconds west of UTC (a bare number is west).
fn posix_offset(text: &str) -> Option<i64> {
    let (west, body) = match text.strip_prefix('-') {
        Some(rest) => (false, rest),
        None => (true, text.strip_prefix('+').unwrap_or(text)),
    };
    let mut seconds = 0;
    let mut parts = 0;
    for (i, part) in body.split(':').enumerate() {
        if i > 2 || part.is_empty() || part.len() > 3 || !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let v: i64 = part.parse().ok()?;
        if (i == 0 && v > 167) || (i > 0 && v > 59) {
            return None;
        }
        seconds = seconds * 60 + v;
        parts = i + 1;
    }
    for _ in parts..3 {
        seconds *= 60;
    }
    Some(if west { seconds } else { -seconds })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(value: &str) -> Option<String> {
        SessionZone::parse_setting(value).map(|(_, name)| name)
    }

    #[test]
    fn settings_are_named_as_postgres_shows_them() {
        assert_eq!(name("-8").as_deref(), Some("<-08>+08"));
        assert_eq!(name("5.5").as_deref(), Some("<+05:30>-05:30"));
        assert_eq!(
            name("america/new_york").as_deref(),
            Some("America/New_York")
        );
        assert_eq!(name("PST8PDT").as_deref(), Some("PST8PDT"));
        assert_eq!(name("UTC+8").as_deref(), Some("UTC+8"));
        assert_eq!(name("<+03>-3").as_deref(), Some("<+03>-3"));
        assert_eq!(name("foo"), None);
        assert_eq!(name("Z"), None);
    }

    #[test]
    fn displacements_follow_the_rules_of_the_zone() {
        let (ny, _) = SessionZone::parse_setting("America/New_York").unwrap();
        // 2020-01-01 12:00 UTC and 2020-07-01 12:00 UTC.
        let (winter, summer) = (1_577_880_000_000_000, 1_593_604_800_000_000);
        assert_eq!(ny.offset_at_utc(winter), -5 * 3600);
        assert_eq!(ny.offset_at_utc(summer), -4 * 3600);
        assert_eq!(ny.abbreviation_at(winter), "EST");
        assert_eq!(ny.abbreviation_at(summer), "EDT");
        let (posix, _) = SessionZone::parse_setting("UTC+8").unwrap();
        assert_eq!(posix.offset_at_utc(winter), -8 * 3600);
        assert_eq!(posix.abbreviation_at(winter), "UTC");
        assert_eq!(offset_text(19_532), "+05:25:32");
        // 2020-03-08 02:30 does not occur in New York: the earlier displacement applies.
        let gap = 1_583_634_600_000_000;
        assert_eq!(ny.from_local(gap), gap + 5 * 3600 * USECS_PER_SEC);
    }
}

// ---- the zone in plans ----------------------------------------------------------------------

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, IntervalMonthDayNanoArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, IntervalUnit, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::expr::{Cast, ScalarFunction, TryCast};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    lit, BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use basalt_common::types::TIMESTAMPTZ_ZONE;

use crate::clock::SessionClock;
use crate::error::SqlError;
use crate::format::SharedStyle;
use crate::functions::ByIdentity;

fn timestamptz() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(TIMESTAMPTZ_ZONE.into()))
}

const TIMESTAMP: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);

fn is_timestamptz(t: &DataType) -> bool {
    matches!(t, DataType::Timestamp(_, Some(_)))
}

/// Puts the session's zone where PostgreSQL applies it (PostgreSQL sessions; after
/// DataFusion's type coercion, so the casts it adds are covered too):
///
/// - casts from `timestamptz` to `timestamp`, `date` and `time` read the wall clock of the
///   session's zone, and casts the other way take the reading to be in that zone;
/// - `x AT TIME ZONE 'zone'` (which DataFusion plans as a cast to a nanosecond timestamp in
///   that zone) gives the reading in `zone` of a `timestamptz`, and the `timestamptz` at
///   which a `timestamp` is read in `zone`;
/// - `date_trunc`, `extract` and `date_part` of a `timestamptz` work on the reading, except
///   for the epoch (the instant's) and the zone's own fields;
/// - `timestamptz ± interval` adds months and days to the reading and the rest of the
///   interval to the instant, so a day across a daylight-saving change is 23 or 25 hours.
#[derive(Debug)]
pub struct SessionZoneRule {
    style: Arc<SharedStyle>,
}

impl SessionZoneRule {
    pub fn new(style: Arc<SharedStyle>) -> SessionZoneRule {
        SessionZoneRule { style }
    }

    fn call(&self, kind: ZoneFn, args: Vec<Expr>) -> Expr {
        let udf = ScalarUDF::from(ZoneUdf::new(kind, Arc::clone(&self.style)));
        Expr::ScalarFunction(ScalarFunction::new_udf(Arc::new(udf), args))
    }

    /// `e`'s reading in the session's zone.
    fn reading(&self, e: Expr) -> Expr {
        self.call(ZoneFn::ToLocal, vec![e])
    }

    /// The instant at which the session's zone reads `e`.
    fn instant(&self, e: Expr) -> Expr {
        self.call(ZoneFn::FromLocal, vec![e])
    }

    /// `e` rewritten for the zone, in the type it had (the plan's schemas stay true: a
    /// timestamp of another unit or zone label is cast back to it).
    fn rewrite_typed(
        &self,
        e: Expr,
        schema: &datafusion::common::DFSchema,
    ) -> DfResult<Transformed<Expr>> {
        // Only what `rewrite` may change (the type of other nodes is not computed: it walks
        // the whole subtree).
        let relevant = match &e {
            Expr::Cast(_) | Expr::TryCast(_) => true,
            Expr::ScalarFunction(f) => {
                f.args.len() == 2
                    && matches!(f.func.name(), "date_trunc" | "pg_extract" | "pg_date_part")
            }
            Expr::BinaryExpr(b) => matches!(b.op, Operator::Plus | Operator::Minus),
            _ => false,
        };
        if !relevant {
            return Ok(Transformed::no(e));
        }
        let before = e.get_type(schema)?;
        let out = self.rewrite(e, schema)?;
        if !out.transformed {
            return Ok(out);
        }
        let after = out.data.get_type(schema)?;
        Ok(if after == before {
            out
        } else {
            Transformed::yes(Expr::Cast(Cast::new(Box::new(out.data), before)))
        })
    }

    fn rewrite(
        &self,
        e: Expr,
        schema: &datafusion::common::DFSchema,
    ) -> DfResult<Transformed<Expr>> {
        match e {
            Expr::Cast(Cast { expr, field }) => {
                let from = expr.get_type(schema)?;
                match self.cast(*expr, &from, field.data_type(), false)? {
                    Ok(e) => Ok(Transformed::yes(e)),
                    Err(expr) => Ok(Transformed::no(Expr::Cast(Cast {
                        expr: Box::new(expr),
                        field,
                    }))),
                }
            }
            Expr::TryCast(TryCast { expr, field }) => {
                let from = expr.get_type(schema)?;
                match self.cast(*expr, &from, field.data_type(), true)? {
                    Ok(e) => Ok(Transformed::yes(e)),
                    Err(expr) => Ok(Transformed::no(Expr::TryCast(TryCast {
                        expr: Box::new(expr),
                        field,
                    }))),
                }
            }
            Expr::ScalarFunction(mut f) if f.args.len() == 2 => {
                let name = f.func.name();
                let source = f.args[1].get_type(schema)?;
                if !is_timestamptz(&source) {
                    return Ok(Transformed::no(Expr::ScalarFunction(f)));
                }
                match name {
                    "date_trunc" => {
                        // Below a day the displacement stays the instant's (as in
                        // PostgreSQL): an hour truncated when clocks go back must not move
                        // forward in time.
                        let below_day = matches!(
                            &f.args[0],
                            Expr::Literal(ScalarValue::Utf8(Some(s)), _)
                                if matches!(
                                    s.to_lowercase().as_str(),
                                    "hour"
                                        | "hours"
                                        | "minute"
                                        | "minutes"
                                        | "second"
                                        | "seconds"
                                        | "millisecond"
                                        | "milliseconds"
                                        | "microsecond"
                                        | "microseconds"
                                )
                        );
                        let x = f.args.pop().unwrap_or_else(|| lit(ScalarValue::Null));
                        f.args.push(self.reading(x.clone()));
                        let truncated = Expr::ScalarFunction(f);
                        Ok(Transformed::yes(if below_day {
                            self.call(ZoneFn::SameOffset, vec![truncated, x])
                        } else {
                            self.instant(truncated)
                        }))
                    }
                    "pg_extract" | "pg_date_part" => {
                        let field = match &f.args[0] {
                            Expr::Literal(ScalarValue::Utf8(Some(s)), _) => s.to_lowercase(),
                            _ => return Ok(Transformed::no(Expr::ScalarFunction(f))),
                        };
                        let part = match field.as_str() {
                            "epoch" => return Ok(Transformed::no(Expr::ScalarFunction(f))),
                            "timezone" => Some(ZoneFn::Offset(1)),
                            "timezone_h" | "timezone_hour" => Some(ZoneFn::Offset(3600)),
                            "timezone_m" | "timezone_minute" => Some(ZoneFn::Offset(60)),
                            _ => None,
                        };
                        let x = f.args.pop().unwrap_or_else(|| lit(ScalarValue::Null));
                        match part {
                            Some(kind) => {
                                let ty = if name == "pg_extract" {
                                    DataType::Decimal128(38, 0)
                                } else {
                                    DataType::Float64
                                };
                                Ok(Transformed::yes(Expr::Cast(Cast::new(
                                    Box::new(self.call(kind, vec![x])),
                                    ty,
                                ))))
                            }
                            None => {
                                f.args.push(self.reading(x));
                                Ok(Transformed::yes(Expr::ScalarFunction(f)))
                            }
                        }
                    }
                    _ => Ok(Transformed::no(Expr::ScalarFunction(f))),
                }
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right })
                if matches!(op, Operator::Plus | Operator::Minus) =>
            {
                let (lt, rt) = (left.get_type(schema)?, right.get_type(schema)?);
                let interval = |t: &DataType| matches!(t, DataType::Interval(_));
                let mdn = |e: Expr, t: &DataType| match t {
                    DataType::Interval(IntervalUnit::MonthDayNano) => e,
                    _ => Expr::Cast(Cast::new(
                        Box::new(e),
                        DataType::Interval(IntervalUnit::MonthDayNano),
                    )),
                };
                let sign = if op == Operator::Minus { -1 } else { 1 };
                if is_timestamptz(&lt) && interval(&rt) {
                    let r = mdn(*right, &rt);
                    return Ok(Transformed::yes(
                        self.call(ZoneFn::AddInterval(sign), vec![*left, r]),
                    ));
                }
                if op == Operator::Plus && interval(&lt) && is_timestamptz(&rt) {
                    let l = mdn(*left, &lt);
                    return Ok(Transformed::yes(
                        self.call(ZoneFn::AddInterval(1), vec![*right, l]),
                    ));
                }
                Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
                    left,
                    op,
                    right,
                })))
            }
            other => Ok(Transformed::no(other)),
        }
    }

    /// A cast rewritten for the zone, or `Err(expr)` when the zone plays no part.
    fn cast(
        &self,
        expr: Expr,
        from: &DataType,
        to: &DataType,
        try_cast: bool,
    ) -> DfResult<Result<Expr, Expr>> {
        let wrap = |e: Expr, to: &DataType| {
            if try_cast {
                Expr::TryCast(TryCast::new(Box::new(e), to.clone()))
            } else {
                Expr::Cast(Cast::new(Box::new(e), to.clone()))
            }
        };
        match (from, to) {
            (
                DataType::Timestamp(_, Some(_)),
                DataType::Timestamp(_, None) | DataType::Date32 | DataType::Time64(_),
            ) => Ok(Ok(wrap(self.reading(expr), to))),
            (
                DataType::Timestamp(_, None) | DataType::Date32,
                DataType::Timestamp(unit, Some(_)),
            ) => {
                let reading = Expr::Cast(Cast::new(Box::new(expr), TIMESTAMP));
                let instant = self.instant(reading);
                Ok(Ok(if *unit == TimeUnit::Microsecond {
                    instant
                } else {
                    wrap(instant, to)
                }))
            }
            _ => Ok(Err(expr)),
        }
    }
}

impl AnalyzerRule for SessionZoneRule {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        crate::analyzer::rewrite_expressions(plan, |e, schema| self.rewrite_typed(e, schema))
    }

    fn name(&self) -> &str {
        "basalt_session_zone"
    }
}

/// The functions [`SessionZoneRule`] puts in plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ZoneFn {
    /// timestamptz → its wall-clock reading (timestamp) in the session's zone.
    ToLocal,
    /// timestamp read in the session's zone → timestamptz.
    FromLocal,
    /// The displacement of the session's zone at a timestamptz, in units of this many
    /// seconds (1: `timezone`, 3600: `timezone_hour`, 60: the minutes of `timezone_minute`).
    Offset(i64),
    /// timestamptz plus (1) or minus (-1) an interval.
    AddInterval(i64),
    /// (reading, timestamptz) → the instant of the reading at the displacement in force at
    /// the timestamptz.
    SameOffset,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ZoneUdf {
    kind: ZoneFn,
    style: ByIdentity<SharedStyle>,
    signature: Signature,
}

impl ZoneUdf {
    fn new(kind: ZoneFn, style: Arc<SharedStyle>) -> ZoneUdf {
        let arity = match kind {
            ZoneFn::ToLocal | ZoneFn::FromLocal | ZoneFn::Offset(_) => 1,
            ZoneFn::AddInterval(_) | ZoneFn::SameOffset => 2,
        };
        ZoneUdf {
            kind,
            style: ByIdentity(style),
            signature: Signature::any(arity, Volatility::Stable),
        }
    }
}

/// A timestamp column's values as microseconds (the infinities kept).
fn micros(array: &ArrayRef) -> DfResult<TimestampMicrosecondArray> {
    let target = DataType::Timestamp(TimeUnit::Microsecond, None);
    let raw = match array.data_type() {
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            // Whole microseconds; the infinities keep their stored form.
            let ns = cast(array, &DataType::Int64)?;
            let us: Int64Array = ns
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .unary(|v| match v {
                    i64::MAX | i64::MIN => v,
                    _ => v.div_euclid(1000),
                });
            cast(&us, &target)?
        }
        DataType::Timestamp(_, _) => {
            let plain = cast(array, &DataType::Int64)?;
            let unit = match array.data_type() {
                DataType::Timestamp(unit, _) => *unit,
                _ => TimeUnit::Microsecond,
            };
            let us: Int64Array = plain
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .unary(|v| match (v, unit) {
                    (i64::MAX | i64::MIN, _) => v,
                    (_, TimeUnit::Second) => v.saturating_mul(1_000_000),
                    (_, TimeUnit::Millisecond) => v.saturating_mul(1_000),
                    _ => v,
                });
            cast(&us, &target)?
        }
        _ => cast(array, &target)?,
    };
    Ok(raw
        .as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>()
        .clone())
}

/// The zone an `AT TIME ZONE` names: an abbreviation (`PST`), an IANA region, or a POSIX
/// `STDoffset` (where `'-8'` is eight hours east, as in PostgreSQL).
fn at_zone(name: &str) -> Result<SessionZone, SqlError> {
    if let Some(east) = crate::datetime::abbreviation_offset(name) {
        let abbrev = Abbrev::new(&name.to_uppercase()).unwrap_or(Abbrev {
            len: 0,
            bytes: [0; 15],
        });
        return Ok(SessionZone::Fixed {
            east: east as i32,
            abbrev,
        });
    }
    let parsed = match name.trim().parse::<f64>() {
        // A bare number is a POSIX offset here, hours west of UTC.
        Ok(_) => posix_offset(name.trim()).and_then(|west| SessionZone::seconds_east(-west)),
        Err(_) => SessionZone::parse_setting(name),
    };
    parsed.map(|(zone, _)| zone).ok_or_else(|| {
        SqlError::InvalidParameterValue(format!("time zone \"{name}\" not recognized"))
    })
}

/// PostgreSQL's `timestamptz + interval`: months, then days, added to the reading in `zone`
/// (a month past the end of the next is its last day), then the time to the instant.
fn add_interval(
    zone: SessionZone,
    at: i64,
    months: i32,
    days: i32,
    nanos: i64,
) -> Result<i64, SqlError> {
    let overflow = || SqlError::DatetimeOverflow("timestamp out of range".into());
    if is_infinite(at) {
        return Ok(at);
    }
    let reading = |at: i64| {
        chrono::DateTime::from_timestamp_micros(zone.to_local(at))
            .map(|t| t.naive_utc())
            .ok_or_else(overflow)
    };
    let mut at = at;
    // Months, then days, each on the reading, each reading placed by the rules in force at
    // its own date (PostgreSQL's timestamptz_pl_interval).
    if months != 0 {
        let local = reading(at)?;
        let local = if months >= 0 {
            local.checked_add_months(chrono::Months::new(months.unsigned_abs()))
        } else {
            local.checked_sub_months(chrono::Months::new(months.unsigned_abs()))
        }
        .ok_or_else(overflow)?;
        at = zone.from_local(local.and_utc().timestamp_micros());
    }
    if days != 0 {
        let local = reading(at)?
            .checked_add_signed(chrono::TimeDelta::days(i64::from(days)))
            .ok_or_else(overflow)?;
        at = zone.from_local(local.and_utc().timestamp_micros());
    }
    at.checked_add(nanos.div_euclid(1000)).ok_or_else(overflow)
}

impl ScalarUDFImpl for ZoneUdf {
    fn name(&self) -> &str {
        match self.kind {
            ZoneFn::ToLocal => "pg_timestamptz_reading",
            ZoneFn::FromLocal => "pg_reading_timestamptz",
            ZoneFn::Offset(_) => "pg_zone_offset",
            ZoneFn::AddInterval(_) => "pg_timestamptz_add",
            ZoneFn::SameOffset => "pg_reading_at_offset_of",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(match self.kind {
            ZoneFn::ToLocal => TIMESTAMP,
            ZoneFn::FromLocal | ZoneFn::AddInterval(_) | ZoneFn::SameOffset => timestamptz(),
            ZoneFn::Offset(_) => DataType::Int64,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = crate::functions::all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let values = micros(&arrays[0])?;
        let zone = self.style.load().zone;
        let out: ArrayRef = match self.kind {
            ZoneFn::ToLocal => Arc::new(
                values.unary::<_, datafusion::arrow::datatypes::TimestampMicrosecondType>(|v| {
                    zone.to_local(v)
                }),
            ),
            ZoneFn::FromLocal => Arc::new(
                values
                    .unary::<_, datafusion::arrow::datatypes::TimestampMicrosecondType>(|v| {
                        zone.from_local(v)
                    })
                    .with_timezone(TIMESTAMPTZ_ZONE),
            ),
            // The infinities have no displacement (NULL, as in PostgreSQL).
            ZoneFn::Offset(unit) => Arc::new(
                values
                    .iter()
                    .map(|v| {
                        let v = v.filter(|v| !is_infinite(*v))?;
                        let east = zone.offset_at_utc(v);
                        Some(match unit {
                            60 => east / 60 % 60,
                            _ => east / unit,
                        })
                    })
                    .collect::<Int64Array>(),
            ),
            ZoneFn::SameOffset => {
                let instants = micros(&arrays[1])?;
                let out: TimestampMicrosecondArray = values
                    .iter()
                    .zip(instants.iter())
                    .map(|(reading, at)| {
                        let (reading, at) = (reading?, at?);
                        Some(if is_infinite(reading) {
                            reading
                        } else {
                            reading.saturating_sub(zone.offset_at_utc(at) * USECS_PER_SEC)
                        })
                    })
                    .collect();
                Arc::new(out.with_timezone(TIMESTAMPTZ_ZONE))
            }
            ZoneFn::AddInterval(sign) => {
                let spans = cast(&arrays[1], &DataType::Interval(IntervalUnit::MonthDayNano))?;
                let spans = spans
                    .as_any()
                    .downcast_ref::<IntervalMonthDayNanoArray>()
                    .ok_or_else(|| {
                        SqlError::Internal("interval expected".into()).into_datafusion()
                    })?;
                let mut out = Vec::with_capacity(values.len());
                for i in 0..values.len() {
                    let row = if spans.len() == 1 { 0 } else { i };
                    if values.is_null(i) || spans.is_null(row) {
                        out.push(None);
                        continue;
                    }
                    let span = spans.value(row);
                    let sum = add_interval(
                        zone,
                        values.value(i),
                        span.months.saturating_mul(sign as i32),
                        span.days.saturating_mul(sign as i32),
                        span.nanoseconds.saturating_mul(sign),
                    )
                    .map_err(SqlError::into_datafusion)?;
                    out.push(Some(sum));
                }
                Arc::new(TimestampMicrosecondArray::from(out).with_timezone(TIMESTAMPTZ_ZONE))
            }
        };
        crate::functions::columnar_result(out, scalar)
    }
}

/// `current_date`, `localtimestamp` and `localtime`: the transaction's start as read on the
/// session zone's clocks, put into the plan when it is simplified (as `now()` is).
#[derive(Debug, PartialEq, Eq, Hash)]
struct LocalClock {
    name: &'static str,
    clock: ByIdentity<SessionClock>,
    style: ByIdentity<SharedStyle>,
    signature: Signature,
}

impl LocalClock {
    fn value(&self, at: i64) -> ScalarValue {
        let local = self.style.load().zone.to_local(at);
        match self.name {
            "current_date" => ScalarValue::Date32(Some(local.div_euclid(86_400_000_000) as i32)),
            "localtime" => ScalarValue::Time64Microsecond(Some(local.rem_euclid(86_400_000_000))),
            _ => ScalarValue::TimestampMicrosecond(Some(local), None),
        }
    }
}

impl ScalarUDFImpl for LocalClock {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.value(0).data_type())
    }
    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Ok(ColumnarValue::Scalar(self.value(self.clock.transaction())))
    }
    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> DfResult<ExprSimplifyResult> {
        let at = match (self.clock.transaction(), info.query_execution_start_time()) {
            (0, Some(start)) => start.timestamp_micros(),
            (0, None) => return Ok(ExprSimplifyResult::Original(args)),
            (at, _) => at,
        };
        Ok(ExprSimplifyResult::Simplified(Expr::Literal(
            self.value(at),
            None,
        )))
    }
}

/// The clock functions that read the session zone's clocks.
pub fn local_clock_udfs(clock: &Arc<SessionClock>, style: &Arc<SharedStyle>) -> Vec<ScalarUDF> {
    ["current_date", "localtimestamp", "localtime"]
        .into_iter()
        .map(|name| {
            ScalarUDF::from(LocalClock {
                name,
                clock: ByIdentity(Arc::clone(clock)),
                style: ByIdentity(Arc::clone(style)),
                signature: Signature::nullary(Volatility::Stable),
            })
        })
        .collect()
}

/// `x AT TIME ZONE zone` as the call `pg_at_time_zone(x, zone)` (DataFusion would plan a
/// cast that keeps the instant and takes only a constant zone name).
pub fn at_time_zone_call(e: &mut datafusion::sql::sqlparser::ast::Expr) {
    use datafusion::sql::sqlparser::ast::{
        Expr as AstExpr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
        FunctionArguments, Ident, ObjectName, ObjectNamePart,
    };
    let AstExpr::AtTimeZone {
        timestamp,
        time_zone,
    } = e
    else {
        return;
    };
    let args = [timestamp.as_ref().clone(), time_zone.as_ref().clone()]
        .into_iter()
        .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
        .collect();
    *e = AstExpr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(
            "pg_at_time_zone",
        ))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args,
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    });
}

/// `pg_at_time_zone(x, zone)`, PostgreSQL's `AT TIME ZONE`: the reading in `zone` of a
/// timestamptz (text and dates are read as timestamptz), or the timestamptz at which a
/// timestamp is the reading in `zone`. The zone is a name or an interval (hours east).
#[derive(Debug, PartialEq, Eq, Hash)]
struct AtTimeZone {
    signature: Signature,
}

impl ScalarUDFImpl for AtTimeZone {
    fn name(&self) -> &str {
        "pg_at_time_zone"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        let [source, zone] = arg_types else {
            return Err(SqlError::UndefinedFunction(
                "function timezone() takes two arguments".into(),
            )
            .into_datafusion());
        };
        let source = match source {
            DataType::Timestamp(_, None) => TIMESTAMP,
            DataType::Timestamp(_, Some(_))
            | DataType::Date32
            | DataType::Null
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View => timestamptz(),
            other => {
                return Err(SqlError::UndefinedFunction(format!(
                    "function timezone({}, {}) does not exist",
                    crate::functions::pg_type_of(zone),
                    crate::functions::pg_type_of(other)
                ))
                .into_datafusion())
            }
        };
        let zone = match zone {
            DataType::Interval(_) => DataType::Interval(IntervalUnit::MonthDayNano),
            _ => DataType::Utf8,
        };
        Ok(vec![source, zone])
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(match arg_types.first() {
            Some(DataType::Timestamp(_, None)) => timestamptz(),
            _ => TIMESTAMP,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = crate::functions::all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let to_reading = matches!(arrays[0].data_type(), DataType::Timestamp(_, Some(_)));
        let values = micros(&arrays[0])?;
        let zones: Vec<Option<SessionZone>> = match arrays[1].data_type() {
            DataType::Interval(_) => {
                let spans = cast(&arrays[1], &DataType::Interval(IntervalUnit::MonthDayNano))?;
                let spans = spans
                    .as_any()
                    .downcast_ref::<IntervalMonthDayNanoArray>()
                    .ok_or_else(|| {
                        SqlError::Internal("interval expected".into()).into_datafusion()
                    })?;
                spans
                    .iter()
                    .map(|span| {
                        span.map(|s| {
                            // An interval zone has no months or days (PostgreSQL's check).
                            if s.months != 0 || s.days != 0 {
                                return Err(SqlError::InvalidParameterValue(format!(
                                    "interval time zone \"{}\" must not include months or days",
                                    crate::format::interval_text(s.months, s.days, s.nanoseconds)
                                )));
                            }
                            SessionZone::seconds_east(s.nanoseconds.div_euclid(1_000_000_000))
                                .map(|(z, _)| z)
                                .ok_or_else(|| {
                                    SqlError::InvalidParameterValue(
                                        "interval time zone is out of range".into(),
                                    )
                                })
                        })
                        .transpose()
                    })
                    .collect::<Result<_, _>>()
                    .map_err(SqlError::into_datafusion)?
            }
            _ => {
                let names = cast(&arrays[1], &DataType::Utf8)?;
                let names = names.as_string::<i32>();
                let mut last: Option<(&str, SessionZone)> = None;
                let mut out = Vec::with_capacity(names.len());
                for name in names.iter() {
                    out.push(match (name, last) {
                        (None, _) => None,
                        (Some(n), Some((l, z))) if n == l => Some(z),
                        (Some(n), _) => {
                            let z = at_zone(n).map_err(SqlError::into_datafusion)?;
                            last = Some((n, z));
                            Some(z)
                        }
                    });
                }
                out
            }
        };
        let out: TimestampMicrosecondArray = (0..values.len())
            .map(|i| {
                let zone = zones[if zones.len() == 1 { 0 } else { i }]?;
                let v = values.is_valid(i).then(|| values.value(i))?;
                Some(if to_reading {
                    zone.to_local(v)
                } else {
                    zone.from_local(v)
                })
            })
            .collect();
        let out = if to_reading {
            out
        } else {
            out.with_timezone(TIMESTAMPTZ_ZONE)
        };
        crate::functions::columnar_result(Arc::new(out), scalar)
    }
}

/// `pg_at_time_zone`, the function `AT TIME ZONE` is planned as.
pub fn at_time_zone_udf() -> ScalarUDF {
    ScalarUDF::from(AtTimeZone {
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

/// A column about to be cast to `target` between `timestamptz` and `timestamp`, `date` or
/// `time`, converted to the type on the other side of the session zone's clock (a
/// timestamptz's reading, or the instant of a reading); `None` when the zone plays no part.
pub fn shift_for_cast(
    array: &ArrayRef,
    target: &DataType,
    zone: SessionZone,
) -> DfResult<Option<ArrayRef>> {
    use datafusion::arrow::datatypes::TimestampMicrosecondType;
    let to_reading = match (array.data_type(), target) {
        (
            DataType::Timestamp(_, Some(_)),
            DataType::Timestamp(_, None) | DataType::Date32 | DataType::Time64(_),
        ) => true,
        (DataType::Timestamp(_, None) | DataType::Date32, DataType::Timestamp(_, Some(_))) => false,
        _ => return Ok(None),
    };
    let values = micros(array)?;
    let out = if to_reading {
        values.unary::<_, TimestampMicrosecondType>(|v| zone.to_local(v))
    } else {
        values
            .unary::<_, TimestampMicrosecondType>(|v| zone.from_local(v))
            .with_timezone(TIMESTAMPTZ_ZONE)
    };
    Ok(Some(Arc::new(out)))
}

/// `generate_series(start, stop, step)` over timestamptz (microseconds), each value the
/// previous plus `step` as PostgreSQL adds an interval in `zone`; empty when `step` leads
/// away from `stop`, 22023 when it is zero, `None` past `limit` values.
pub fn timestamptz_series(
    zone: SessionZone,
    start: i64,
    stop: i64,
    step: datafusion::arrow::datatypes::IntervalMonthDayNano,
    limit: usize,
) -> Result<Option<Vec<i64>>, SqlError> {
    // An interval's sign, as PostgreSQL compares it with zero (a month is 30 days).
    let span = (i128::from(step.months) * 30 + i128::from(step.days)) * 86_400_000_000_000
        + i128::from(step.nanoseconds);
    if span == 0 {
        return Err(SqlError::InvalidParameterValue(
            "step size cannot equal zero".into(),
        ));
    }
    let mut out = Vec::new();
    let mut at = start;
    while (span > 0 && at <= stop) || (span < 0 && at >= stop) {
        if out.len() >= limit {
            return Ok(None);
        }
        out.push(at);
        let next = add_interval(zone, at, step.months, step.days, step.nanoseconds)?;
        // A step that does not move towards the end (a day less 23 hours 30 minutes across
        // a daylight-saving change) ends the series rather than circling.
        if (span > 0 && next <= at) || (span < 0 && next >= at) {
            break;
        }
        at = next;
    }
    Ok(Some(out))
}
