//! Window frame offsets written as expressions: `ROWS BETWEEN $1 PRECEDING` (a bound
//! parameter arrives as a typed literal, `CAST('2' AS BIGINT)`), `ROWS (1 + 1) PRECEDING`,
//! `ROWS (SELECT n FROM t) PRECEDING`, `RANGE $1::interval PRECEDING`. PostgreSQL computes
//! such an offset once per statement; DataFusion takes a literal only. The offsets that
//! read no column of the query are computed before planning (a ROWS or GROUPS offset as
//! `bigint`, PostgreSQL's type for it) and written in as literals, with PostgreSQL's errors
//! for NULL and negative values.

use std::ops::ControlFlow;

use datafusion::common::ScalarValue;
use datafusion::sql::sqlparser::ast::{
    Expr, Statement, Value, Visit, VisitMut, Visitor, VisitorMut, WindowFrame, WindowFrameBound,
    WindowFrameUnits,
};

use crate::error::{SqlError, SqlResult};

/// The offsets of a frame to compute: a bound that is not a literal and reads no column
/// of the query around it.
fn to_compute(frame: &WindowFrame) -> Vec<&Expr> {
    let mut out = Vec::new();
    for bound in std::iter::once(&frame.start_bound).chain(frame.end_bound.as_ref()) {
        if let WindowFrameBound::Preceding(Some(e)) | WindowFrameBound::Following(Some(e)) = bound {
            if !is_literal(e) && !reads_columns(e) && !calls_aggregate(e) {
                out.push(e.as_ref());
            }
        }
    }
    out
}

/// A number, a string or an interval literal: what DataFusion takes as an offset.
fn is_literal(e: &Expr) -> bool {
    match e {
        Expr::Value(v) => matches!(v.value, Value::Number(..) | Value::SingleQuotedString(_)),
        Expr::Interval(i) => matches!(i.value.as_ref(), Expr::Value(_)),
        _ => false,
    }
}

/// Whether `e` names a column outside the subqueries it holds (a subquery reads its own
/// FROM clause).
fn reads_columns(e: &Expr) -> bool {
    crate::rewrite::any_outside_subqueries(e, |e| {
        matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
    })
}

/// Whether `e` calls an aggregate outside its subqueries (`ROWS count(*) PRECEDING`, which
/// PostgreSQL refuses): such an offset is left to the planner's error.
fn calls_aggregate(e: &Expr) -> bool {
    crate::rewrite::any_outside_subqueries(e, |e| {
        matches!(e, Expr::Function(f)
            if crate::srf::AGGREGATES.contains(&f.name.to_string().to_lowercase().as_str()))
    })
}

/// The offsets of `stmt` to compute, each once: its text and whether it is a RANGE offset.
pub fn offsets_to_compute(stmt: &Statement) -> Vec<(String, bool)> {
    struct Collect(Vec<(String, bool)>);
    impl Visitor for Collect {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = e {
                if let Some(datafusion::sql::sqlparser::ast::WindowType::WindowSpec(spec)) = &f.over
                {
                    if let Some(frame) = &spec.window_frame {
                        let range = frame.units == WindowFrameUnits::Range;
                        for o in to_compute(frame) {
                            let key = (o.to_string(), range);
                            if !self.0.contains(&key) {
                                self.0.push(key);
                            }
                        }
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut c = Collect(Vec::new());
    let _ = stmt.visit(&mut c);
    c.0
}

/// The query that computes an offset (`text`, of a RANGE frame or not) as PostgreSQL types
/// it: a ROWS or GROUPS offset is a `bigint`, a RANGE offset keeps its type (the ORDER BY
/// key's decides what it may be).
pub fn offset_query(text: &str, range: bool) -> String {
    if range {
        format!("SELECT ({text})")
    } else {
        format!("SELECT CAST(({text}) AS BIGINT)")
    }
}

/// The literal an offset's computed value is written as; `Ok(None)` for NULL, an error for
/// a negative offset (`which` bound: "starting" or "ending") or a value no literal holds.
fn literal(value: &ScalarValue, range: bool, which: &str) -> SqlResult<Option<Expr>> {
    if value.is_null() {
        return Ok(None);
    }
    let negative = || {
        Err(SqlError::Detailed {
            sqlstate: "22013",
            message: if range {
                "invalid preceding or following size in window function".to_owned()
            } else {
                format!("frame {which} offset must not be negative")
            },
            detail: String::new(),
            hint: None,
        })
    };
    let number = |text: String| Ok(Some(Expr::value(Value::Number(text, false))));
    match value {
        ScalarValue::Int8(Some(v)) if *v < 0 => negative(),
        ScalarValue::Int16(Some(v)) if *v < 0 => negative(),
        ScalarValue::Int32(Some(v)) if *v < 0 => negative(),
        ScalarValue::Int64(Some(v)) if *v < 0 => negative(),
        ScalarValue::Int8(_)
        | ScalarValue::Int16(_)
        | ScalarValue::Int32(_)
        | ScalarValue::Int64(_)
        | ScalarValue::UInt8(_)
        | ScalarValue::UInt16(_)
        | ScalarValue::UInt32(_)
        | ScalarValue::UInt64(_) => number(value.to_string()),
        ScalarValue::Float32(Some(v)) if *v < 0.0 => negative(),
        ScalarValue::Float64(Some(v)) if *v < 0.0 => negative(),
        ScalarValue::Float32(Some(v)) if v.is_finite() => number(v.to_string()),
        ScalarValue::Float64(Some(v)) if v.is_finite() => number(v.to_string()),
        ScalarValue::Decimal128(Some(v), _, _) if *v < 0 => negative(),
        ScalarValue::Decimal128(Some(v), _, _) if !crate::numeric::is_special(*v) => {
            number(value.to_string())
        }
        ScalarValue::IntervalMonthDayNano(Some(v)) => {
            // Negative as PostgreSQL compares intervals: by span (a month is 30 days).
            let span = (i128::from(v.months) * 30 + i128::from(v.days)) * 86_400_000_000_000
                + i128::from(v.nanoseconds);
            if span < 0 {
                return negative();
            }
            let text = crate::eval::interval_literal(v.months, v.days, v.nanoseconds);
            Ok(Some(crate::eval::parse_expr(&format!("INTERVAL '{text}'"))?))
        }
        ScalarValue::Utf8(Some(t)) | ScalarValue::LargeUtf8(Some(t)) | ScalarValue::Utf8View(Some(t)) => {
            Ok(Some(Expr::value(Value::SingleQuotedString(t.clone()))))
        }
        other => Err(SqlError::unsupported(format!(
            "a window frame offset of type {} written as an expression is not supported; write it as a literal",
            crate::functions::pg_type_of(&other.data_type())
        ))),
    }
}

/// Writes the computed offsets into `stmt`: `values` pairs each offset of
/// [`offsets_to_compute`] with its value.
pub fn substitute(stmt: &mut Statement, values: &[((String, bool), ScalarValue)]) -> SqlResult<()> {
    struct Put<'a> {
        values: &'a [((String, bool), ScalarValue)],
        error: Option<SqlError>,
    }
    impl Put<'_> {
        fn bound(&mut self, bound: &mut WindowFrameBound, which: &str, range: bool) {
            let (WindowFrameBound::Preceding(Some(e)) | WindowFrameBound::Following(Some(e))) =
                bound
            else {
                return;
            };
            let key = (e.to_string(), range);
            let Some((_, value)) = self.values.iter().find(|(k, _)| *k == key) else {
                return;
            };
            match literal(value, range, which) {
                Ok(Some(new)) => **e = new,
                Ok(None) => {
                    self.error = Some(SqlError::Detailed {
                        sqlstate: "22004",
                        message: format!("frame {which} offset must not be null"),
                        detail: String::new(),
                        hint: None,
                    })
                }
                Err(err) => self.error = Some(err),
            }
        }
    }
    impl VisitorMut for Put<'_> {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = e {
                if let Some(datafusion::sql::sqlparser::ast::WindowType::WindowSpec(spec)) =
                    &mut f.over
                {
                    if let Some(frame) = &mut spec.window_frame {
                        let range = frame.units == WindowFrameUnits::Range;
                        self.bound(&mut frame.start_bound, "starting", range);
                        if let Some(end) = &mut frame.end_bound {
                            self.bound(end, "ending", range);
                        }
                    }
                }
            }
            if self.error.is_some() {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut put = Put {
        values,
        error: None,
    };
    let _ = VisitMut::visit(stmt, &mut put);
    match put.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
