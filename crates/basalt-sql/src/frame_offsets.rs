//! `ROWS` and `GROUPS` frame offsets written as expressions: `ROWS BETWEEN $1 PRECEDING`
//! (a bound parameter arrives as a typed literal, `CAST('2' AS BIGINT)`), `ROWS (1 + 1)
//! PRECEDING`, `ROWS (SELECT n FROM t) PRECEDING`. PostgreSQL computes such an offset once
//! per statement; DataFusion takes a number only. The offsets that read no column of the
//! query are computed before planning (as `bigint`, PostgreSQL's type for them) and
//! written in as numbers, with PostgreSQL's errors for NULL and negative values.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Query, Statement, Value, Visit, VisitMut, Visitor, VisitorMut, WindowFrame,
    WindowFrameBound, WindowFrameUnits,
};

use crate::error::{SqlError, SqlResult};

/// The offsets of a frame to compute: a ROWS or GROUPS bound that is not a number and
/// reads no column of the query around it.
fn to_compute(frame: &WindowFrame) -> Vec<&Expr> {
    if frame.units == WindowFrameUnits::Range {
        return Vec::new();
    }
    let mut out = Vec::new();
    for bound in std::iter::once(&frame.start_bound).chain(frame.end_bound.as_ref()) {
        if let WindowFrameBound::Preceding(Some(e)) | WindowFrameBound::Following(Some(e)) = bound {
            if !is_number(e) && !reads_columns(e) {
                out.push(e.as_ref());
            }
        }
    }
    out
}

fn is_number(e: &Expr) -> bool {
    matches!(e, Expr::Value(v) if matches!(v.value, Value::Number(..)))
}

/// Whether `e` names a column outside the subqueries it holds (a subquery reads its own
/// FROM clause).
fn reads_columns(e: &Expr) -> bool {
    struct Finder {
        depth: usize,
    }
    impl Visitor for Finder {
        type Break = ();
        fn pre_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if self.depth == 0 && matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    e.visit(&mut Finder { depth: 0 }).is_break()
}

/// The texts of the offsets of `stmt` to compute, each once.
pub fn offsets_to_compute(stmt: &Statement) -> Vec<String> {
    struct Collect(Vec<String>);
    impl Visitor for Collect {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = e {
                if let Some(datafusion::sql::sqlparser::ast::WindowType::WindowSpec(spec)) = &f.over
                {
                    if let Some(frame) = &spec.window_frame {
                        for o in to_compute(frame) {
                            let text = o.to_string();
                            if !self.0.contains(&text) {
                                self.0.push(text);
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

/// The query that computes the offset `text` as PostgreSQL types it.
pub fn offset_query(text: &str) -> String {
    format!("SELECT CAST(({text}) AS BIGINT)")
}

/// Writes the computed offsets into `stmt`: `values` pairs each text of
/// [`offsets_to_compute`] with its value (`None`: NULL).
pub fn substitute(stmt: &mut Statement, values: &[(String, Option<i64>)]) -> SqlResult<()> {
    struct Put<'a> {
        values: &'a [(String, Option<i64>)],
        error: Option<SqlError>,
    }
    impl Put<'_> {
        fn bound(&mut self, bound: &mut WindowFrameBound, which: &str) {
            let (WindowFrameBound::Preceding(Some(e)) | WindowFrameBound::Following(Some(e))) =
                bound
            else {
                return;
            };
            let text = e.to_string();
            let Some((_, value)) = self.values.iter().find(|(t, _)| *t == text) else {
                return;
            };
            match value {
                None => {
                    self.error = Some(SqlError::Detailed {
                        sqlstate: "22004",
                        message: format!("frame {which} offset must not be null"),
                        detail: String::new(),
                        hint: None,
                    })
                }
                Some(v) if *v < 0 => {
                    self.error = Some(SqlError::Detailed {
                        sqlstate: "22013",
                        message: format!("frame {which} offset must not be negative"),
                        detail: String::new(),
                        hint: None,
                    })
                }
                Some(v) => **e = Expr::value(Value::Number(v.to_string(), false)),
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
                        if frame.units != WindowFrameUnits::Range {
                            self.bound(&mut frame.start_bound, "starting");
                            if let Some(end) = &mut frame.end_bound {
                                self.bound(end, "ending");
                            }
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
