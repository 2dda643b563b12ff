//! Window specifications as PostgreSQL writes them, in forms sqlparser and DataFusion read:
//! - the frame's `EXCLUDE` clause, which sqlparser does not read, becomes a constant partition
//!   key that [`crate::exclusion`] turns back into the exclusion;
//! - frame offsets written as casts (`2::int8 PRECEDING`, `'1 year'::interval FOLLOWING`)
//!   become the literals DataFusion needs, and negative offsets get PostgreSQL's errors;
//! - `OVER (w …)` copies the named window `w` as PostgreSQL does (DataFusion ignores the
//!   name there), with PostgreSQL's errors for what cannot be copied or overridden.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    CastKind, DataType, Expr, Ident, NamedWindowDefinition, NamedWindowExpr, OrderBy, Query,
    Select, SetExpr, Spanned, UnaryOperator, Value, ValueWithSpan, VisitMut, VisitorMut,
    WindowFrameBound, WindowFrameUnits, WindowSpec, WindowType,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace};

use crate::error::{SqlError, SqlResult};
use crate::exclusion::{Exclusion, EXCLUSION_MARK};

fn word(t: &TokenWithSpan) -> Option<String> {
    match &t.token {
        Token::Word(w) => Some(w.value.to_lowercase()),
        _ => None,
    }
}

/// The tokens of `sql` with the window frame syntax sqlparser does not read rewritten (see
/// the module comment); `None` when there is none.
pub fn frame_syntax(sql: &str) -> Option<Vec<TokenWithSpan>> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize_with_location()
        .ok()?;
    let sig: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
        .collect();
    let w = |k: usize| sig.get(k).and_then(|&i| word(&tokens[i]));
    let is = |k: usize, t: &Token| sig.get(k).is_some_and(|&i| tokens[i].token == *t);
    // Token positions dropped, and tokens written before / after a position.
    let mut drop = Vec::new();
    let mut before: Vec<(usize, Vec<Token>)> = Vec::new();
    let mut after: Vec<(usize, Vec<Token>)> = Vec::new();
    let mut opens: Vec<usize> = Vec::new();
    for k in 0..sig.len() {
        match &tokens[sig[k]].token {
            Token::LParen => opens.push(k),
            Token::RParen => {
                opens.pop();
            }
            _ => {}
        }
        // An offset written as a cast: `'1 year'::interval`, `2::int8`, `'1'::int8`.
        let literal = sig.get(k).is_some_and(|&i| {
            matches!(
                tokens[i].token,
                Token::SingleQuotedString(_) | Token::Number(..)
            )
        });
        if literal
            && is(k + 1, &Token::DoubleColon)
            && w(k + 2).is_some()
            && matches!(w(k + 3).as_deref(), Some("preceding" | "following"))
        {
            let string = matches!(tokens[sig[k]].token, Token::SingleQuotedString(_));
            if string && w(k + 2).as_deref() == Some("interval") {
                before.push((sig[k], vec![Token::make_keyword("INTERVAL"), space()]));
                drop.extend([sig[k + 1], sig[k + 2]]);
            } else {
                before.push((sig[k], vec![Token::LParen]));
                after.push((sig[k + 2], vec![Token::RParen]));
            }
        }
        // `… PRECEDING | FOLLOWING | CURRENT ROW EXCLUDE mode )`
        let ends_bound =
            k > 0 && matches!(w(k - 1).as_deref(), Some("preceding" | "following" | "row"));
        if w(k).as_deref() != Some("exclude") || !ends_bound {
            continue;
        }
        let (exclusion, len) = match (w(k + 1).as_deref(), w(k + 2).as_deref()) {
            (Some("current"), Some("row")) => (Some(Exclusion::CurrentRow), 3),
            (Some("group"), _) => (Some(Exclusion::Group), 2),
            (Some("ties"), _) => (Some(Exclusion::Ties), 2),
            (Some("no"), Some("others")) => (None, 3),
            _ => continue,
        };
        if !is(k + len, &Token::RParen) {
            continue;
        }
        let Some(&open) = opens.last() else { continue };
        drop.extend((k..k + len).map(|j| sig[j]));
        let Some(exclusion) = exclusion else { continue };
        // In parentheses: DataFusion drops a bare literal from PARTITION BY.
        let mark = Token::SingleQuotedString(format!("{EXCLUSION_MARK}{}", exclusion.words()));
        let carrier = [Token::LParen, mark, Token::RParen];
        if w(open + 1).as_deref() == Some("partition") && w(open + 2).as_deref() == Some("by") {
            let mut tokens = vec![space()];
            tokens.extend(carrier);
            tokens.push(Token::Comma);
            after.push((sig[open + 2], tokens));
            continue;
        }
        let names_window = w(open + 1).is_some_and(|n| {
            !matches!(
                n.as_str(),
                "order" | "partition" | "rows" | "range" | "groups"
            )
        });
        let at = if names_window { open + 1 } else { open };
        let mut tokens = vec![
            space(),
            Token::make_keyword("PARTITION"),
            space(),
            Token::make_keyword("BY"),
            space(),
        ];
        tokens.extend(carrier);
        tokens.push(space());
        after.push((sig[at], tokens));
    }
    if drop.is_empty() && before.is_empty() && after.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(tokens.len() + 8);
    for (i, t) in tokens.into_iter().enumerate() {
        for (_, extra) in before.iter().filter(|(at, _)| *at == i) {
            out.extend(extra.iter().cloned().map(TokenWithSpan::wrap));
        }
        if !drop.contains(&i) {
            out.push(t);
        }
        for (_, extra) in after.iter().filter(|(at, _)| *at == i) {
            out.extend(extra.iter().cloned().map(TokenWithSpan::wrap));
        }
    }
    Some(out)
}

fn space() -> Token {
    Token::Whitespace(Whitespace::Space)
}

fn is_carrier(e: &Expr) -> bool {
    match e {
        Expr::Nested(e) => is_carrier(e),
        Expr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(s),
            ..
        }) => s.starts_with(EXCLUSION_MARK),
        _ => false,
    }
}

fn windowing_error(message: String) -> SqlError {
    SqlError::Detailed {
        sqlstate: "42P20",
        message,
        detail: String::new(),
        hint: None,
    }
}

/// `spec` (which names the window `base`) with what it copies from `base`.
fn copy_window(name: &Ident, base: &WindowSpec, spec: &WindowSpec) -> SqlResult<WindowSpec> {
    if spec.partition_by.iter().any(|p| !is_carrier(p)) {
        return Err(windowing_error(format!(
            "cannot override PARTITION BY clause of window \"{}\"",
            name.value
        )));
    }
    if !spec.order_by.is_empty() && !base.order_by.is_empty() {
        return Err(windowing_error(format!(
            "cannot override ORDER BY clause of window \"{}\"",
            name.value
        )));
    }
    if base.window_frame.is_some() {
        return Err(windowing_error(format!(
            "cannot copy window \"{}\" because it has a frame clause",
            name.value
        )));
    }
    let mut partition_by = base.partition_by.clone();
    partition_by.extend(spec.partition_by.iter().cloned());
    Ok(WindowSpec {
        window_name: None,
        partition_by,
        order_by: if spec.order_by.is_empty() {
            base.order_by.clone()
        } else {
            spec.order_by.clone()
        },
        window_frame: spec.window_frame.clone(),
    })
}

fn folded(name: &Ident) -> String {
    if name.quote_style.is_some() {
        name.value.clone()
    } else {
        name.value.to_lowercase()
    }
}

fn is_number_type(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int2(_)
            | DataType::Int4(_)
            | DataType::Int8(_)
            | DataType::SmallInt(_)
            | DataType::Int(_)
            | DataType::Integer(_)
            | DataType::BigInt(_)
            | DataType::Numeric(_)
            | DataType::Decimal(_)
            | DataType::Real
            | DataType::Float4
            | DataType::Float8
            | DataType::Float(_)
            | DataType::DoublePrecision
    )
}

/// The number a constant offset expression spells (signed), if it is a number written with
/// parentheses, signs and casts to number types.
fn constant_number(e: &Expr) -> Option<String> {
    match e {
        Expr::Nested(x) => constant_number(x),
        Expr::Value(ValueWithSpan {
            value: Value::Number(n, _),
            ..
        }) => Some(n.clone()),
        Expr::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => constant_number(expr),
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => constant_number(expr).map(|n| match n.strip_prefix('-') {
            Some(abs) => abs.to_owned(),
            None => format!("-{n}"),
        }),
        Expr::Cast {
            kind: CastKind::DoubleColon | CastKind::Cast,
            expr,
            data_type,
            ..
        } if is_number_type(data_type) => match expr.as_ref() {
            Expr::Value(ValueWithSpan {
                value: Value::SingleQuotedString(s),
                ..
            }) if s.trim().parse::<f64>().is_ok_and(f64::is_finite) => Some(s.trim().to_owned()),
            other => constant_number(other),
        },
        _ => None,
    }
}

/// The text of a quoted literal offset, possibly cast (`'NaN'`, `'NaN'::float8`).
fn quoted_text(e: &Expr) -> Option<&str> {
    match e {
        Expr::Nested(x) => quoted_text(x),
        Expr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(s),
            ..
        }) => Some(s),
        Expr::Cast { expr, .. } => quoted_text(expr),
        // sqlparser reads a quoted frame offset as an interval's text.
        Expr::Interval(i) if i.leading_field.is_none() => quoted_text(&i.value),
        _ => None,
    }
}

/// The offset of a frame bound as the literal DataFusion reads, PostgreSQL's error for a
/// negative one.
fn fold_offset(e: &mut Expr, units: &WindowFrameUnits, starting: bool) -> SqlResult<()> {
    let number = constant_number(e);
    // A NaN offset cannot say how far a RANGE frame reaches (PostgreSQL's in_range refuses
    // it for float and numeric columns alike).
    let nan = matches!(units, WindowFrameUnits::Range)
        && quoted_text(e).is_some_and(|t| t.trim().eq_ignore_ascii_case("nan"));
    let negative = nan
        || match (&number, &*e) {
            (Some(n), _) => n.starts_with('-') && !n.trim_start_matches(['-', '0', '.']).is_empty(),
            (None, Expr::Interval(i)) => matches!(i.value.as_ref(),
            Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(s), .. })
                if s.trim_start().starts_with('-')),
            _ => false,
        };
    if negative {
        let message = match units {
            WindowFrameUnits::Range => {
                "invalid preceding or following size in window function".to_owned()
            }
            _ => format!(
                "frame {} offset must not be negative",
                if starting { "starting" } else { "ending" }
            ),
        };
        return Err(SqlError::Detailed {
            sqlstate: "22013",
            message,
            detail: String::new(),
            hint: None,
        });
    }
    if let Some(n) = number {
        *e = Expr::value(Value::Number(n.trim_start_matches('-').to_owned(), false));
    }
    Ok(())
}

/// PostgreSQL's 42P20 errors for a frame its ORDER BY cannot carry: RANGE with an offset
/// needs exactly one ORDER BY column (the one the offset is added to), GROUPS needs one.
fn check_frame_order(spec: &WindowSpec) -> SqlResult<()> {
    let Some(frame) = spec.window_frame.as_ref() else {
        return Ok(());
    };
    let has_offset = |b: Option<&WindowFrameBound>| {
        matches!(
            b,
            Some(WindowFrameBound::Preceding(Some(_)) | WindowFrameBound::Following(Some(_)))
        )
    };
    let offset = has_offset(Some(&frame.start_bound)) || has_offset(frame.end_bound.as_ref());
    let message = match frame.units {
        WindowFrameUnits::Range if offset && spec.order_by.len() != 1 => {
            "RANGE with offset PRECEDING/FOLLOWING requires exactly one ORDER BY column"
        }
        WindowFrameUnits::Groups if spec.order_by.is_empty() => {
            "GROUPS mode requires an ORDER BY clause"
        }
        _ => return Ok(()),
    };
    Err(windowing_error(message.to_owned()))
}

fn fold_offsets(spec: &mut WindowSpec) -> SqlResult<()> {
    check_frame_order(spec)?;
    let Some(frame) = spec.window_frame.as_mut() else {
        return Ok(());
    };
    let bounds = [Some(&mut frame.start_bound), frame.end_bound.as_mut()];
    for (k, bound) in bounds.into_iter().enumerate() {
        if let Some(WindowFrameBound::Preceding(Some(e)) | WindowFrameBound::Following(Some(e))) =
            bound
        {
            fold_offset(e, &frame.units, k == 0)?;
        }
    }
    Ok(())
}

/// The window specifications of one SELECT (not of its subqueries, which have their own).
struct SelectWindows<'a> {
    named: &'a [(String, WindowSpec)],
    depth: usize,
    error: Option<SqlError>,
}

impl VisitorMut for SelectWindows<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, _q: &mut Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _q: &mut Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if self.depth > 0 {
            return ControlFlow::Continue(());
        }
        let Expr::Function(f) = e else {
            return ControlFlow::Continue(());
        };
        // `OVER w`: the window's specification itself (DataFusion looks named windows up
        // only in the SELECT list, not in the query's ORDER BY).
        if let Some(WindowType::NamedWindow(name)) = &f.over {
            match self.named.iter().find(|(n, _)| *n == folded(name)) {
                Some((_, spec)) => f.over = Some(WindowType::WindowSpec(spec.clone())),
                None => {
                    self.error = Some(SqlError::UndefinedObject(format!(
                        "window \"{}\" does not exist",
                        name.value
                    )));
                    return ControlFlow::Break(());
                }
            }
            return ControlFlow::Continue(());
        }
        let Some(WindowType::WindowSpec(spec)) = f.over.as_mut() else {
            return ControlFlow::Continue(());
        };
        let result = match spec.window_name.clone() {
            Some(name) => match self.named.iter().find(|(n, _)| *n == folded(&name)) {
                Some((_, base)) => copy_window(&name, base, spec),
                None => Err(SqlError::UndefinedObject(format!(
                    "window \"{}\" does not exist",
                    name.value
                ))),
            },
            None => Ok(spec.clone()),
        };
        match result.and_then(|mut s| fold_offsets(&mut s).map(|()| s)) {
            Ok(s) => *spec = s,
            Err(err) => {
                // PostgreSQL reports a frame's errors at the `(` of the OVER clause.
                let located = match err {
                    SqlError::Detailed {
                        sqlstate: "42P20", ..
                    } => err.at_paren_after(e.span(), "over"),
                    err => err,
                };
                self.error = Some(located);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}

/// Resolves the window specifications of a SELECT (see the module comment), and those of
/// the query's ORDER BY (`ORDER BY rank() OVER w` names a window of the SELECT).
fn select_windows(select: &mut Select, order_by: Option<&mut OrderBy>) -> SqlResult<()> {
    let mut named: Vec<(String, WindowSpec)> = Vec::new();
    for NamedWindowDefinition(name, expr) in select.named_window.iter_mut() {
        if named.iter().any(|(n, _)| *n == folded(name)) {
            return Err(
                windowing_error(format!("window \"{}\" is already defined", name.value))
                    .at_paren_after(name.span, "as"),
            );
        }
        if let NamedWindowExpr::WindowSpec(spec) = expr {
            if let Some(base_name) = spec.window_name.clone() {
                let Some((_, base)) = named.iter().find(|(n, _)| *n == folded(&base_name)) else {
                    return Err(SqlError::UndefinedObject(format!(
                        "window \"{}\" does not exist",
                        base_name.value
                    )));
                };
                *spec = copy_window(&base_name, base, spec)?;
            }
            fold_offsets(spec)?;
            named.push((folded(name), spec.clone()));
        }
    }
    let mut v = SelectWindows {
        named: &named,
        depth: 0,
        error: None,
    };
    for item in select.projection.iter_mut() {
        let _ = item.visit(&mut v);
    }
    if let Some(having) = select.having.as_mut() {
        let _ = having.visit(&mut v);
    }
    if let Some(qualify) = select.qualify.as_mut() {
        let _ = qualify.visit(&mut v);
    }
    if let Some(order_by) = order_by {
        let _ = order_by.visit(&mut v);
    }
    match v.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Resolves the window specifications of a query: of every SELECT of its body, and of its
/// ORDER BY when the body is one SELECT.
pub fn resolve_query_windows(q: &mut Query) -> SqlResult<()> {
    match q.body.as_mut() {
        SetExpr::Select(s) => select_windows(s, q.order_by.as_mut()),
        body => resolve_windows(body),
    }
}

/// Resolves the window specifications of every SELECT of a query body (not of nested
/// queries, which the caller visits on their own).
pub fn resolve_windows(body: &mut SetExpr) -> SqlResult<()> {
    match body {
        SetExpr::Select(s) => select_windows(s, None),
        SetExpr::SetOperation { left, right, .. } => {
            resolve_windows(left)?;
            resolve_windows(right)
        }
        _ => Ok(()),
    }
}
