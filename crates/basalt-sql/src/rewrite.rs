//! PostgreSQL forms DataFusion does not accept, rewritten into equivalent ones before
//! planning. Each rewrite keeps the meaning exactly; anything that cannot be kept exactly
//! is refused with an error instead.

use std::ops::ControlFlow;

use std::collections::HashSet;

use datafusion::sql::sqlparser::ast::{
    visit_expressions, BinaryOperator, DataType, Expr, FunctionArg, FunctionArgExpr,
    FunctionArguments, Ident, LimitClause, ObjectName, Query, Select, SelectItem, SetExpr,
    Statement, TableAlias, TableAliasColumnDef, TableFactor, UnaryOperator, Value, VisitMut,
    VisitorMut,
};

use crate::error::{SqlError, SqlResult};

/// Calls `f` on each expression of `node` outside the subqueries it holds (their names
/// are their own FROM clauses'), children before parents.
pub(crate) fn map_outside_subqueries<T: VisitMut + ?Sized>(node: &mut T, f: impl FnMut(&mut Expr)) {
    struct Outside<F> {
        depth: usize,
        f: F,
    }
    impl<F: FnMut(&mut Expr)> VisitorMut for Outside<F> {
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
            if self.depth == 0 {
                (self.f)(e);
            }
            ControlFlow::Continue(())
        }
    }
    let _ = node.visit(&mut Outside { depth: 0, f });
}

/// Whether an expression of `e` outside the subqueries it holds satisfies `pred`.
pub(crate) fn any_outside_subqueries(e: &Expr, pred: impl Fn(&Expr) -> bool) -> bool {
    use datafusion::sql::sqlparser::ast::{Visit, Visitor};
    struct Finder<P> {
        depth: usize,
        pred: P,
    }
    impl<P: Fn(&Expr) -> bool> Visitor for Finder<P> {
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
            if self.depth == 0 && (self.pred)(e) {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    e.visit(&mut Finder { depth: 0, pred }).is_break()
}

pub fn rewrite(stmt: &mut Statement) -> SqlResult<()> {
    table_queries(stmt);
    crate::cte::check_top_level(stmt)?;
    crate::subscript_assign::rewrite(stmt)?;
    values_integers(stmt);
    crate::placement::check_statement(stmt)?;
    crate::placement::check_distinct_order(stmt)?;
    crate::placement::check_aggregate_places(stmt)?;
    crate::placement::check_locking_targets(stmt)?;
    crate::placement::check_nested_outer_aggregates(stmt)?;
    crate::placement::check_duplicate_from_names(stmt)?;
    let mut v = PgForms { error: None };
    let _ = VisitMut::visit(stmt, &mut v);
    match v.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `'name'::regclass` (and `CAST('name' AS regclass)`): the oid of the relation the text
/// names, looked up when the statement runs by `pg_regclass_oid`, which refuses a name that
/// names nothing (42P01) as PostgreSQL does. `temp_schema` is the session's temporary
/// schema, searched first for an unqualified name.
pub fn regclass_literals(stmt: &mut Statement, temp_schema: Option<&str>) {
    use datafusion::sql::sqlparser::ast::visit_expressions_mut;
    /// The relation name of a `'name'::regclass` cast.
    fn regclass_literal(e: &Expr) -> Option<&str> {
        let Expr::Cast {
            expr, data_type, ..
        } = e
        else {
            return None;
        };
        let regclass = match data_type {
            DataType::Regclass => true,
            DataType::Custom(name, args) => {
                args.is_empty()
                    && name
                        .0
                        .last()
                        .and_then(|p| p.as_ident())
                        .is_some_and(|i| i.value.eq_ignore_ascii_case("regclass"))
            }
            _ => false,
        };
        match expr.as_ref() {
            Expr::Value(v) if regclass => match &v.value {
                Value::SingleQuotedString(name) => Some(name),
                _ => None,
            },
            _ => None,
        }
    }
    /// Output columns keep the names PostgreSQL gives them (`regclass`, `oid`), not the
    /// function's.
    struct Names;
    impl VisitorMut for Names {
        type Break = ();
        fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            let mut body = q.body.as_mut();
            loop {
                match body {
                    SetExpr::SetOperation { left, .. } => body = left.as_mut(),
                    SetExpr::Query(inner) => body = inner.body.as_mut(),
                    _ => break,
                }
            }
            if let SetExpr::Select(select) = body {
                for item in &mut select.projection {
                    let SelectItem::UnnamedExpr(e) = item else {
                        continue;
                    };
                    let found = visit_expressions(&*e, |x| match regclass_literal(x) {
                        Some(_) => ControlFlow::Break(()),
                        None => ControlFlow::Continue(()),
                    });
                    if found.is_break() {
                        let alias = Ident::with_quote('"', crate::dml::column_name_of(e));
                        *item = SelectItem::ExprWithAlias {
                            expr: e.clone(),
                            alias,
                        };
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    // Only queries and data changes: DDL keeps its text (a view's query, a default) as
    // written, to be read when it is used.
    if !matches!(
        stmt,
        Statement::Query(_)
            | Statement::Insert(_)
            | Statement::Update { .. }
            | Statement::Delete(_)
    ) {
        return;
    }
    // `nextval('s'::regclass)` names the sequence (Basalt's sequence functions take its
    // name); `pg_get_viewdef('v')` resolves its text as a regclass does.
    let _ = visit_expressions_mut(stmt, |e| {
        if let Expr::Function(f) = e {
            let name = f.name.to_string().to_ascii_lowercase();
            let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
            if let FunctionArguments::List(list) = &mut f.args {
                if let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(first))) =
                    list.args.first_mut()
                {
                    match name {
                        "nextval" | "currval" | "setval" => {
                            if let Some(literal) = regclass_literal(first).map(str::to_owned) {
                                *first = Expr::value(Value::SingleQuotedString(literal));
                            }
                        }
                        "pg_get_viewdef" => {
                            if let Expr::Value(v) = first {
                                if let Value::SingleQuotedString(_) = v.value {
                                    *first = Expr::Cast {
                                        kind:
                                            datafusion::sql::sqlparser::ast::CastKind::DoubleColon,
                                        expr: Box::new(first.clone()),
                                        data_type: DataType::Regclass,
                                        array: false,
                                        format: None,
                                    };
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        ControlFlow::<()>::Continue(())
    });
    let _ = VisitMut::visit(stmt, &mut Names);
    let temp = match temp_schema {
        Some(t) => format!("'{}'", t.replace('\'', "''")),
        None => "CAST(NULL AS text)".to_owned(),
    };
    let _ = visit_expressions_mut(stmt, |e| {
        if let Some(name) = regclass_literal(e) {
            let call = format!("pg_regclass_oid('{}', {temp})", name.replace('\'', "''"));
            if let Ok(new) = crate::eval::parse_expr(&call) {
                *e = new;
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// `TABLE t` as a branch of UNION, INTERSECT or EXCEPT (DataFusion plans it only as a
/// whole query) is `SELECT * FROM t`.
fn table_queries(stmt: &mut Statement) {
    struct Tables;
    impl VisitorMut for Tables {
        type Break = ();
        fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            fn branches(body: &mut SetExpr) {
                if let SetExpr::SetOperation { left, right, .. } = body {
                    for side in [left, right] {
                        match side.as_mut() {
                            SetExpr::Table(t) => {
                                if let Some(query) = select_all(t) {
                                    **side = SetExpr::Query(Box::new(query));
                                }
                            }
                            other => branches(other),
                        }
                    }
                }
            }
            branches(&mut q.body);
            ControlFlow::Continue(())
        }
    }
    let _ = VisitMut::visit(stmt, &mut Tables);
}

fn select_all(t: &datafusion::sql::sqlparser::ast::Table) -> Option<Query> {
    let name = t.table_name.as_ref()?;
    let qualified = match &t.schema_name {
        Some(schema) => format!(
            "{}.{}",
            crate::eval::quote_ident(schema),
            crate::eval::quote_ident(name)
        ),
        None => crate::eval::quote_ident(name),
    };
    match crate::session::parse_sql(&format!("SELECT * FROM {qualified}"))
        .ok()?
        .pop()?
    {
        Statement::Query(q) => Some(*q),
        _ => None,
    }
}

/// Integer constants of a VALUES list are `integer` to PostgreSQL when every one in the
/// column fits in 32 bits (DataFusion makes them all `bigint`); the rows an INSERT writes
/// are typed by the target columns instead, and are left alone.
fn values_integers(stmt: &mut Statement) {
    struct Typing {
        insert_sources: Vec<*const SetExpr>,
    }
    impl VisitorMut for Typing {
        type Break = ();
        fn pre_visit_statement(&mut self, s: &mut Statement) -> ControlFlow<()> {
            if let Statement::Insert(i) = s {
                if let Some(q) = &i.source {
                    self.insert_sources.push(q.body.as_ref() as *const SetExpr);
                }
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            if let SetExpr::Insert(Statement::Insert(i)) = q.body.as_ref() {
                if let Some(source) = &i.source {
                    self.insert_sources
                        .push(source.body.as_ref() as *const SetExpr);
                }
            }
            if self
                .insert_sources
                .contains(&(q.body.as_ref() as *const SetExpr))
            {
                return ControlFlow::Continue(());
            }
            if let SetExpr::Values(values) = q.body.as_mut() {
                type_integer_columns(values);
                type_string_columns(values);
            }
            ControlFlow::Continue(())
        }
    }
    let _ = VisitMut::visit(
        stmt,
        &mut Typing {
            insert_sources: Vec::new(),
        },
    );
}

/// In a column of a VALUES list where one row writes a typed date/time value (`time
/// '10:00'`, `'…'::date`, `interval '1 day'`), the rows that write a bare string are read
/// as that type, as PostgreSQL resolves an `unknown` literal by the column's other values
/// (DataFusion finds no common type for a time and a string). The rows an INSERT writes
/// are typed by its target columns instead, and are left alone.
fn type_string_columns(values: &mut datafusion::sql::sqlparser::ast::Values) {
    let width = values.rows.first().map_or(0, |r| r.content.len());
    for col in 0..width {
        // Date/time types only, without a precision (the other rows are read as the type,
        // not rounded to the first row's typmod).
        let datetime = |t: &DataType| match t {
            DataType::Date => Some(DataType::Date),
            DataType::Time(_, tz) => Some(DataType::Time(None, *tz)),
            DataType::Timestamp(_, tz) => Some(DataType::Timestamp(None, *tz)),
            DataType::Interval { .. } => Some(DataType::Interval {
                fields: None,
                precision: None,
            }),
            _ => None,
        };
        let typed = values.rows.iter().find_map(|r| match r.content.get(col)? {
            Expr::TypedString(t) => datetime(&t.data_type),
            Expr::Cast { data_type, .. } => datetime(data_type),
            Expr::Interval(_) => datetime(&DataType::Interval {
                fields: None,
                precision: None,
            }),
            _ => None,
        });
        let Some(data_type) = typed else {
            continue;
        };
        for row in &mut values.rows {
            let Some(e) = row.content.get_mut(col) else {
                continue;
            };
            if matches!(e, Expr::Value(v) if matches!(v.value, Value::SingleQuotedString(_))) {
                let literal = e.clone();
                *e = Expr::Cast {
                    kind: datafusion::sql::sqlparser::ast::CastKind::DoubleColon,
                    expr: Box::new(literal),
                    data_type: data_type.clone(),
                    array: false,
                    format: None,
                };
            }
        }
    }
}

fn type_integer_columns(values: &mut datafusion::sql::sqlparser::ast::Values) {
    fn small_integer(e: &Expr) -> Option<bool> {
        match e {
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => Some(n.parse::<i32>().is_ok()),
                Value::Null => None,
                _ => Some(false),
            },
            Expr::UnaryOp {
                op: UnaryOperator::Minus,
                expr,
            } => match expr.as_ref() {
                Expr::Value(v) => match &v.value {
                    Value::Number(n, _) => Some(format!("-{n}").parse::<i32>().is_ok()),
                    _ => Some(false),
                },
                _ => Some(false),
            },
            _ => Some(false),
        }
    }
    let width = values.rows.first().map_or(0, |r| r.content.len());
    for col in 0..width {
        let mut any = false;
        let all = values
            .rows
            .iter()
            .all(|r| match r.content.get(col).map(small_integer) {
                Some(Some(true)) => {
                    any = true;
                    true
                }
                Some(None) => true,
                _ => false,
            });
        if !(all && any) {
            continue;
        }
        for row in &mut values.rows {
            if let Some(e) = row.content.get_mut(col) {
                if small_integer(e) == Some(true) {
                    let inner = std::mem::replace(e, Expr::value(Value::Null));
                    *e = Expr::Cast {
                        kind: datafusion::sql::sqlparser::ast::CastKind::DoubleColon,
                        expr: Box::new(inner),
                        data_type: DataType::Integer(None),
                        array: false,
                        format: None,
                    };
                }
            }
        }
    }
}

/// `rank(h) WITHIN GROUP (ORDER BY x)` and the other hypothetical-set aggregates call their
/// ordered-set forms ([`crate::ordered_set`]), under a name DataFusion does not also take
/// for the window function. The column keeps the name PostgreSQL shows (the columns were
/// named before expressions are visited).
fn hypothetical_set_name(e: &mut Expr) {
    let Expr::Function(f) = e else { return };
    if f.within_group.is_empty() || f.name.0.len() != 1 {
        return;
    }
    let Some(name) = f.name.0[0].as_ident().map(|i| i.value.to_lowercase()) else {
        return;
    };
    if matches!(
        name.as_str(),
        "rank" | "dense_rank" | "percent_rank" | "cume_dist"
    ) {
        f.name = ObjectName::from(vec![Ident::new(format!(
            "{}{name}",
            crate::ordered_set::HYPOTHETICAL_PREFIX
        ))]);
    }
}

/// A WITH RECURSIVE query that reads itself must be `non-recursive UNION [ALL] recursive`,
/// its left side not reading it (PostgreSQL's 42P19 errors).
fn check_recursive_form(cte: &datafusion::sql::sqlparser::ast::Cte) -> SqlResult<()> {
    let name = crate::ddl::ident(&cte.alias.name);
    // A data-modifying WITH query gets its own error (crate::cte).
    let dml = matches!(
        cte.query.body.as_ref(),
        SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_)
    );
    if dml || crate::cte::reference_at(&cte.query, &name).is_none() {
        return Ok(());
    }
    match cte.query.body.as_ref() {
        SetExpr::SetOperation {
            op: datafusion::sql::sqlparser::ast::SetOperator::Union,
            left,
            right,
            ..
        } => crate::recursion::check(cte, left, right),
        _ => Err(SqlError::InvalidRecursion(format!(
            "recursive query \"{name}\" does not have the form non-recursive-term UNION [ALL] recursive-term"
        ))
        .at(cte.alias.name.span)),
    }
}

/// ORDER BY, LIMIT, OFFSET or FOR UPDATE on a recursive CTE's body: PostgreSQL refuses them
/// (0A000); DataFusion would drop the clause and recurse without end.
fn check_recursive_ctes(q: &Query) -> SqlResult<()> {
    let Some(with) = q.with.as_ref().filter(|w| w.recursive) else {
        return Ok(());
    };
    for cte in &with.cte_tables {
        let body = &cte.query;
        check_recursive_form(cte)?;
        if !matches!(body.body.as_ref(), SetExpr::SetOperation { .. }) {
            continue;
        }
        let name = cte.alias.name.value.to_lowercase();
        let text = body.body.to_string().to_lowercase();
        let self_reference = text
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .any(|w| w == name);
        if !self_reference {
            continue;
        }
        let clause = if body.order_by.is_some() {
            Some("ORDER BY")
        } else if body.limit_clause.is_some() || body.fetch.is_some() {
            Some("LIMIT/OFFSET")
        } else if !body.locks.is_empty() {
            Some("FOR UPDATE/SHARE")
        } else {
            None
        };
        if let Some(clause) = clause {
            return Err(SqlError::FeatureNotSupported(format!(
                "{clause} in a recursive query is not implemented"
            )));
        }
    }
    Ok(())
}

struct PgForms {
    error: Option<SqlError>,
}

impl VisitorMut for PgForms {
    type Break = ();

    /// `FROM generate_series(1, 3) AS g`: PostgreSQL names the single output column of a
    /// function in FROM after its alias, so `g` is also a column.
    fn pre_visit_table_factor(&mut self, t: &mut TableFactor) -> ControlFlow<()> {
        if let Err(e) = series_timestamps(t) {
            self.error = Some(e);
            return ControlFlow::Break(());
        }
        if let Some(derived) = regexp_table_function(t).or_else(|| lateral_table_function(t)) {
            *t = derived;
            return ControlFlow::Continue(());
        }
        if let TableFactor::Table {
            args: Some(_),
            alias: Some(alias),
            ..
        } = t
        {
            add_column_alias(alias);
        }
        // `FROM ONLY t` is still referred to as `t`.
        if let TableFactor::Table {
            name, alias: None, ..
        } = t
        {
            let bare = name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .and_then(|i| i.value.strip_suffix(crate::session::ONLY_MARK));
            if let Some(bare) = bare {
                *t = TableFactor::Table {
                    name: name.clone(),
                    alias: Some(TableAlias {
                        name: Ident::with_quote('"', bare),
                        columns: vec![],
                        explicit: true,
                        at: None,
                    }),
                    args: None,
                    with_hints: vec![],
                    version: None,
                    with_ordinality: false,
                    partitions: vec![],
                    json_path: None,
                    sample: None,
                    index_hints: vec![],
                };
            }
        }
        ControlFlow::Continue(())
    }

    /// `FETCH FIRST n ROWS ONLY` is `LIMIT n`; output columns get PostgreSQL's names.
    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        if let Err(e) = crate::recursion::order_items(q)
            .and_then(|()| crate::setops::columnless(q))
            .and_then(|()| check_recursive_ctes(q))
            .and_then(|()| crate::srf::check_placement(&q.body))
            .and_then(|()| crate::placement::check_body(&q.body))
        {
            self.error = Some(e);
            return ControlFlow::Break(());
        }
        if let Err(e) = crate::frame::resolve_query_windows(q) {
            self.error = Some(e);
            return ControlFlow::Break(());
        }
        if let Err(e) = crate::rowin::rewrite(&mut q.body) {
            self.error = Some(e);
            return ControlFlow::Break(());
        }
        name_set_expr(&mut q.body);
        if let Some(fetch) = q.fetch.take() {
            if fetch.with_ties || fetch.percent {
                self.error = Some(SqlError::unsupported(
                    "FETCH … WITH TIES / PERCENT is not supported",
                ));
                return ControlFlow::Break(());
            }
            let quantity = fetch
                .quantity
                .unwrap_or_else(|| Expr::value(Value::Number("1".into(), false)));
            match q.limit_clause.take() {
                None => {
                    q.limit_clause = Some(LimitClause::LimitOffset {
                        limit: Some(quantity),
                        offset: None,
                        limit_by: vec![],
                    })
                }
                Some(LimitClause::LimitOffset {
                    limit: None,
                    offset,
                    limit_by,
                }) => {
                    q.limit_clause = Some(LimitClause::LimitOffset {
                        limit: Some(quantity),
                        offset,
                        limit_by,
                    })
                }
                Some(other) => {
                    q.limit_clause = Some(other);
                    self.error = Some(SqlError::Syntax {
                        message: "syntax error: both LIMIT and FETCH".into(),
                        position: None,
                    });
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    }

    /// `mod(a, b)` is `a % b`; interval literals in PostgreSQL syntax (`'1 day 02:00:00'`)
    /// are normalised to a form DataFusion reads exactly.
    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        hypothetical_set_name(e);
        crate::zone::at_time_zone_call(e);
        // `x::timestamp(2)`, `time(0) '…'`: the value of the type without the precision,
        // rounded to it.
        if let Some(new) = time_precision_cast(e) {
            *e = new;
            return ControlFlow::Continue(());
        }
        // `x::numeric(3,-6)`: a scale Decimal128 cannot take (types::decimal_storage).
        if let Some(new) = numeric_typmod_cast(e) {
            *e = new;
            return ControlFlow::Continue(());
        }
        // The `name` type is stored as text (see docs/compatibility.md): `'abc'::name`.
        if let Expr::Cast { data_type, .. } = e {
            if matches!(data_type, DataType::Custom(n, args)
                if args.is_empty() && n.to_string().eq_ignore_ascii_case("name"))
            {
                *data_type = DataType::Text;
            }
        }
        if let Expr::Function(f) = e {
            match crate::variadic::array_form(f) {
                Ok(Some(new)) => {
                    *e = new;
                    return ControlFlow::Continue(());
                }
                Ok(None) => {}
                Err(err) => {
                    self.error = Some(err);
                    return ControlFlow::Break(());
                }
            }
        }
        // `x op ANY/ALL (subquery)`: DataFusion mis-resolves an outer column that has the same
        // name as the subquery's column, so these are rewritten into forms it plans right.
        if let Some(new) = quantified_subquery(e) {
            *e = new;
            return ControlFlow::Continue(());
        }
        match array_subquery(e) {
            Ok(Some(new)) => {
                *e = new;
                return ControlFlow::Continue(());
            }
            Ok(None) => {}
            Err(err) => {
                self.error = Some(err);
                return ControlFlow::Break(());
            }
        }
        // PostgreSQL's prefix operators: `@ x` is abs, `|/ x` sqrt, `||/ x` cbrt, `~ x` the
        // bitwise complement (x # -1).
        if let Expr::UnaryOp { op, expr } = e {
            let call = match op {
                UnaryOperator::PGAbs => Some(format!("abs({expr})")),
                UnaryOperator::PGSquareRoot => Some(format!("sqrt({expr})")),
                UnaryOperator::PGCubeRoot => Some(format!("cbrt({expr})")),
                UnaryOperator::BitwiseNot => Some(format!("(({expr}) # -1)")),
                _ => None,
            };
            if let Some(new) = call.and_then(|c| crate::eval::parse_expr(&c).ok()) {
                *e = new;
                return ControlFlow::Continue(());
            }
        }
        // `tableoid::regclass`: an object id shown as its table's name.
        if let Expr::Cast {
            expr,
            data_type: DataType::Regclass,
            ..
        } = e
        {
            let literal = matches!(expr.as_ref(), Expr::Value(v)
                if matches!(v.value, Value::SingleQuotedString(_)));
            if !literal {
                if let Ok(new) = crate::eval::parse_expr(&format!("pg_regclass_name({expr})")) {
                    *e = new;
                    return ControlFlow::Continue(());
                }
            }
        }
        // interval * number: DataFusion has no such operator; a function computes it.
        if let Expr::BinaryOp {
            left,
            op: BinaryOperator::Multiply,
            right,
        } = e
        {
            let is_interval = |x: &Expr| {
                matches!(
                    x,
                    Expr::Interval(_)
                        | Expr::Cast {
                            data_type: DataType::Interval { .. },
                            ..
                        }
                )
            };
            let pair = if is_interval(left) {
                Some((left.clone(), right.clone()))
            } else if is_interval(right) {
                Some((right.clone(), left.clone()))
            } else {
                None
            };
            if let Some((iv, k)) = pair {
                if let Ok(new) = crate::eval::parse_expr(&format!(
                    "interval_mul({iv}, CAST({k} AS DOUBLE PRECISION))"
                )) {
                    *e = new;
                    return ControlFlow::Continue(());
                }
            }
        }
        // `LIKE p ESCAPE 'c'`: DataFusion knows only the backslash, so a literal pattern is
        // rewritten to escape with it.
        if let Expr::Like {
            pattern,
            escape_char,
            ..
        }
        | Expr::ILike {
            pattern,
            escape_char,
            ..
        } = e
        {
            match backslash_escaped_pattern(pattern, escape_char.as_ref()) {
                Ok(Some(rewritten)) => {
                    **pattern = Expr::value(Value::SingleQuotedString(rewritten));
                    *escape_char = None;
                }
                Ok(None) => {}
                Err(err) => {
                    self.error = Some(err);
                    return ControlFlow::Break(());
                }
            }
        }
        // SUBSTRING(s FROM 'pattern'): a text pattern is a POSIX regular expression, and with
        // FOR 'escape' an SQL regular expression (PostgreSQL's forms; a number is a position).
        if let Expr::Substring {
            expr,
            substring_from: Some(from),
            substring_for,
            ..
        } = e
        {
            let text = |x: &Expr| {
                matches!(x, Expr::Value(v) if matches!(
                    v.value,
                    Value::SingleQuotedString(_) | Value::EscapedStringLiteral(_)
                ))
            };
            let null = |x: &Expr| matches!(x, Expr::Value(v) if matches!(v.value, Value::Null));
            let call = match substring_for {
                None if text(from) => Some(format!("pg_substring_regex({expr}, {from})")),
                // With a NULL pattern or escape the text form still applies (and gives NULL).
                Some(escape)
                    if (text(from) || null(from))
                        && (text(escape) || null(escape))
                        && (text(from) || text(escape)) =>
                {
                    Some(format!("pg_substring_similar({expr}, {from}, {escape})"))
                }
                _ => None,
            };
            if let Some(new) = call.and_then(|c| crate::eval::parse_expr(&c).ok()) {
                *e = new;
                return ControlFlow::Continue(());
            }
        }
        // `x + '1'`: PostgreSQL reads an untyped string in arithmetic as the other operand's
        // type. DataFusion has no arithmetic between a number and text, so where that type
        // is written (a cast, a number) the string is cast to it.
        if let Expr::BinaryOp { left, op, right } = e {
            if matches!(
                op,
                BinaryOperator::Plus
                    | BinaryOperator::Minus
                    | BinaryOperator::Multiply
                    | BinaryOperator::Divide
                    | BinaryOperator::Modulo
            ) {
                let string = |x: &Expr| matches!(x, Expr::Value(v) if matches!(v.value, Value::SingleQuotedString(_)));
                let typed = |x: &Expr| -> Option<DataType> {
                    match x {
                        Expr::Cast { data_type, .. } => Some(data_type.clone()),
                        Expr::Value(v) => match &v.value {
                            Value::Number(n, _) if n.contains(['.', 'e', 'E']) => {
                                Some(DataType::Numeric(
                                    datafusion::sql::sqlparser::ast::ExactNumberInfo::None,
                                ))
                            }
                            // An integer literal is an integer where it fits 32 bits.
                            Value::Number(n, _) if n.parse::<i32>().is_ok() => {
                                Some(DataType::Integer(None))
                            }
                            Value::Number(..) => Some(DataType::BigInt(None)),
                            _ => None,
                        },
                        _ => None,
                    }
                };
                let (target, literal) = if string(right) {
                    (typed(left), right)
                } else if string(left) {
                    (typed(right), left)
                } else {
                    (None, right)
                };
                if let Some(data_type) = target {
                    let inner = std::mem::replace(literal.as_mut(), Expr::value(Value::Null));
                    **literal = Expr::Cast {
                        kind: datafusion::sql::sqlparser::ast::CastKind::DoubleColon,
                        expr: Box::new(inner),
                        data_type,
                        array: false,
                        format: None,
                    };
                }
            }
        }
        // SIMILAR TO with PostgreSQL's translation and escape (backslash by default, '' for
        // none, NULL makes the result NULL).
        if let Expr::SimilarTo {
            negated,
            expr,
            pattern,
            escape_char,
        } = e
        {
            let escape = match escape_char {
                None => "'\\'".to_owned(),
                Some(v) => v.to_string(),
            };
            let not = if *negated { "NOT " } else { "" };
            let call = format!("{not}pg_similar_to({expr}, {pattern}, {escape})");
            if let Ok(new) = crate::eval::parse_expr(&call) {
                *e = new;
                return ControlFlow::Continue(());
            }
        }
        // EXTRACT and date_part with PostgreSQL's fields and result types.
        if let Expr::Extract { field, expr, .. } = e {
            let name = field.to_string().to_lowercase();
            if let Ok(new) = crate::eval::parse_expr(&format!(
                "pg_extract('{}', {expr})",
                name.replace('\'', "''")
            )) {
                *e = new;
                return ControlFlow::Continue(());
            }
        }
        if let Expr::Function(f) = e {
            if f.name.to_string().eq_ignore_ascii_case("date_part") {
                f.name = ObjectName::from(vec![Ident::new("pg_date_part")]);
            }
        }
        match e {
            Expr::Interval(iv) if iv.leading_field.is_none() && iv.last_field.is_none() => {
                if let Some(lit) = pg_interval_text(&iv.value) {
                    *iv.value = Expr::value(Value::SingleQuotedString(lit));
                }
            }
            Expr::Cast {
                expr,
                data_type: DataType::Interval { .. },
                ..
            } => {
                if let Some(lit) = pg_interval_text(expr) {
                    **expr = Expr::value(Value::SingleQuotedString(lit));
                }
            }
            // '\x00ff'::bytea: PostgreSQL's bytea input syntax as a binary literal.
            Expr::Cast {
                expr,
                data_type: DataType::Bytea,
                ..
            } => {
                if let Expr::Value(v) = expr.as_ref() {
                    if let Value::SingleQuotedString(text) = &v.value {
                        if let Ok(bytes) = crate::eval::parse_bytea(text) {
                            let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
                            **expr = Expr::value(Value::HexStringLiteral(hex));
                        }
                    }
                }
            }
            // An explicit cast to CHAR(n)/VARCHAR(n) pads or cuts to n characters.
            Expr::Cast {
                expr,
                data_type: DataType::Char(len) | DataType::Character(len),
                ..
            } => {
                let n = char_len(len).unwrap_or(1);
                if let Ok(new) =
                    crate::eval::parse_expr(&format!("rpad(CAST({expr} AS TEXT), {n})"))
                {
                    *e = new;
                }
            }
            Expr::Cast {
                expr,
                data_type:
                    DataType::Varchar(len)
                    | DataType::CharacterVarying(len)
                    | DataType::CharVarying(len),
                ..
            } => {
                if let Some(n) = char_len(len) {
                    if let Ok(new) =
                        crate::eval::parse_expr(&format!("substr(CAST({expr} AS TEXT), 1, {n})"))
                    {
                        *e = new;
                    }
                }
            }
            _ => {}
        }
        if let Expr::Function(f) = e {
            let name = f.name.to_string().to_lowercase();
            // The set-returning regexp functions: their lists of rows, unnested.
            let list = match name.as_str() {
                "regexp_matches" | "pg_catalog.regexp_matches" => Some("pg_regexp_matches"),
                "regexp_split_to_table" | "pg_catalog.regexp_split_to_table" => {
                    Some("pg_regexp_split_to_table")
                }
                _ => None,
            };
            // generate_series in an expression: its rows as a list, unnested (see srf.rs).
            if let Some(new) = crate::srf::select_list_call(f, &name) {
                *e = new;
                return ControlFlow::Continue(());
            }
            if let Some(list) = list {
                let mut inner = f.clone();
                inner.name = ObjectName::from(vec![Ident::new(list)]);
                if let Ok(unnested) = crate::eval::parse_expr(&format!("unnest({inner})")) {
                    *e = unnested;
                }
                return ControlFlow::Continue(());
            }
            // A type's name called as a function of one argument is a cast (`float8(q1)`).
            let cast_to = match name.trim_start_matches("pg_catalog.") {
                "float8" => Some("DOUBLE PRECISION"),
                "float4" => Some("REAL"),
                "int2" => Some("SMALLINT"),
                "int4" => Some("INTEGER"),
                "int8" => Some("BIGINT"),
                _ => None,
            };
            if let (Some(ty), FunctionArguments::List(list)) = (cast_to, &f.args) {
                if let [FunctionArg::Unnamed(FunctionArgExpr::Expr(a))] = list.args.as_slice() {
                    if let Ok(new) = crate::eval::parse_expr(&format!("CAST(({a}) AS {ty})")) {
                        *e = new;
                        return ControlFlow::Continue(());
                    }
                }
            }
            if name == "mod" || name == "pg_catalog.mod" {
                if let FunctionArguments::List(list) = &f.args {
                    if let [FunctionArg::Unnamed(FunctionArgExpr::Expr(a)), FunctionArg::Unnamed(FunctionArgExpr::Expr(b))] =
                        list.args.as_slice()
                    {
                        *e = Expr::Nested(Box::new(Expr::BinaryOp {
                            left: Box::new(Expr::Nested(Box::new(a.clone()))),
                            op: BinaryOperator::Modulo,
                            right: Box::new(Expr::Nested(Box::new(b.clone()))),
                        }));
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// For catalog queries of client tools only: DataFusion plans a correlated scalar subquery
/// only when it is aggregated, so `(SELECT x FROM pg_… WHERE …)` becomes
/// `(SELECT max(x) FROM pg_… WHERE …)`. Catalog lookups of this form return at most one row,
/// where both are the same.
pub fn aggregate_scalar_subqueries(stmt: &mut Statement) {
    struct Agg;
    impl VisitorMut for Agg {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            // generate_subscripts(a, 1) beside unnest(a): the subscripts as a second unnest.
            if let Some(new) = generate_subscripts(e) {
                *e = new;
                return ControlFlow::Continue(());
            }
            let Expr::Subquery(q) = e else {
                return ControlFlow::Continue(());
            };
            let SetExpr::Select(select) = q.body.as_mut() else {
                return ControlFlow::Continue(());
            };
            let no_group = matches!(&select.group_by, datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(g, _) if g.is_empty());
            if !no_group || select.projection.len() != 1 {
                return ControlFlow::Continue(());
            }
            let item = &mut select.projection[0];
            let (expr, alias) = match item {
                SelectItem::UnnamedExpr(x) => (x.clone(), None),
                SelectItem::ExprWithAlias { expr, alias } => (expr.clone(), Some(alias.clone())),
                _ => return ControlFlow::Continue(()),
            };
            if !is_aggregate_call(&expr) {
                if let Ok(wrapped) = crate::eval::parse_expr(&format!("max({expr})")) {
                    *item = match alias {
                        Some(alias) => SelectItem::ExprWithAlias {
                            expr: wrapped,
                            alias,
                        },
                        None => SelectItem::UnnamedExpr(wrapped),
                    };
                }
            }
            // Conditions on the outer row only (`AND a.atthasdef`) are moved out of the
            // subquery, which DataFusion cannot decorrelate with them inside:
            // (SELECT … WHERE inner AND outer) = CASE WHEN outer THEN (SELECT … WHERE inner) END.
            let inner_names = from_names(select);
            let Some(selection) = select.selection.take() else {
                return ControlFlow::Continue(());
            };
            let (outer, inner): (Vec<Expr>, Vec<Expr>) = conjuncts(selection)
                .into_iter()
                .partition(|c| references_only_outer(c, &inner_names));
            // A correlation other than an equality cannot be decorrelated by DataFusion;
            // such catalog lookups (collations, which Basalt does not have) answer NULL.
            if inner
                .iter()
                .any(|c| !correlation_is_equality(c, &inner_names))
            {
                *e = Expr::value(Value::Null);
                return ControlFlow::Continue(());
            }
            select.selection = join_and(inner);
            if let Some(outer) = join_and(outer) {
                let sub = e.clone();
                if let Ok(case) =
                    crate::eval::parse_expr(&format!("CASE WHEN {outer} THEN {sub} END"))
                {
                    *e = case;
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = VisitMut::visit(stmt, &mut Agg);
}

fn generate_subscripts(e: &Expr) -> Option<Expr> {
    let Expr::Function(f) = e else { return None };
    if !f
        .name
        .to_string()
        .eq_ignore_ascii_case("generate_subscripts")
    {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(a))) = list.args.first() else {
        return None;
    };
    crate::eval::parse_expr(&format!(
        "unnest({}(1, CAST(coalesce(array_length({a}, 1), 0) AS BIGINT)))",
        crate::srf::GENERATE_SERIES
    ))
    .ok()
}

/// Names a subquery's FROM items can be referred to by (aliases, or table names).
fn from_names(select: &Select) -> HashSet<String> {
    let mut names = HashSet::new();
    let mut add = |f: &TableFactor| {
        if let TableFactor::Table { name, alias, .. } = f {
            match alias {
                Some(a) => names.insert(a.name.value.to_lowercase()),
                None => names.insert(
                    name.0
                        .last()
                        .map(|p| p.to_string().to_lowercase())
                        .unwrap_or_default(),
                ),
            };
        }
    };
    for t in &select.from {
        add(&t.relation);
        for j in &t.joins {
            add(&j.relation);
        }
    }
    names
}

fn conjuncts(e: Expr) -> Vec<Expr> {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            let mut v = conjuncts(*left);
            v.extend(conjuncts(*right));
            v
        }
        Expr::Nested(inner)
            if matches!(
                inner.as_ref(),
                Expr::BinaryOp {
                    op: BinaryOperator::And,
                    ..
                }
            ) =>
        {
            conjuncts(*inner)
        }
        other => vec![other],
    }
}

fn join_and(parts: Vec<Expr>) -> Option<Expr> {
    parts.into_iter().reduce(|a, b| Expr::BinaryOp {
        left: Box::new(a),
        op: BinaryOperator::And,
        right: Box::new(b),
    })
}

/// A conjunct that refers to the outer row must be `outer = inner` to be decorrelated.
fn correlation_is_equality(e: &Expr, inner: &HashSet<String>) -> bool {
    let (outer, _) = count_refs(e, inner);
    if outer == 0 {
        return true;
    }
    let plain = |x: &Expr| matches!(x, Expr::CompoundIdentifier(_) | Expr::Identifier(_));
    matches!(e, Expr::BinaryOp { left, op: BinaryOperator::Eq, right } if plain(left) && plain(right))
}

/// Whether every column reference of `e` is qualified with a name outside the subquery
/// (and there is at least one).
fn references_only_outer(e: &Expr, inner: &HashSet<String>) -> bool {
    let (outer, other) = count_refs(e, inner);
    outer > 0 && other == 0
}

/// (references qualified with an outer name, any other references) in `e`.
fn count_refs(e: &Expr, inner: &HashSet<String>) -> (usize, usize) {
    use datafusion::sql::sqlparser::ast::{Visit, Visitor};
    struct Refs<'a> {
        inner: &'a HashSet<String>,
        outer: usize,
        other: usize,
    }
    impl Visitor for Refs<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            match e {
                Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                    let q = parts[parts.len() - 2].value.to_lowercase();
                    if self.inner.contains(&q) {
                        self.other += 1;
                    } else {
                        self.outer += 1;
                    }
                }
                Expr::Identifier(_) => self.other += 1,
                Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
                    self.other += 1
                }
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    let mut r = Refs {
        inner,
        outer: 0,
        other: 0,
    };
    let _ = e.visit(&mut r);
    (r.outer, r.other)
}

/// Whether `e` calls an aggregate or a window function anywhere inside.
fn has_aggregate_or_window(e: &Expr) -> bool {
    let mut found = false;
    let _ = visit_expressions(e, |x| {
        if is_aggregate_call(x) || matches!(x, Expr::Function(f) if f.over.is_some()) {
            found = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

fn is_aggregate_call(e: &Expr) -> bool {
    let Expr::Function(f) = e else { return false };
    matches!(
        f.name.to_string().to_lowercase().as_str(),
        "max"
            | "min"
            | "count"
            | "sum"
            | "avg"
            | "array_agg"
            | "string_agg"
            | "bool_and"
            | "bool_or"
    )
}

fn quantified_subquery(e: &Expr) -> Option<Expr> {
    let (left, op, query, all) = match e {
        Expr::AnyOp {
            left,
            compare_op,
            right,
            ..
        } => (left, compare_op, right, false),
        Expr::AllOp {
            left,
            compare_op,
            right,
        } => (left, compare_op, right, true),
        _ => return None,
    };
    let Expr::Subquery(q) = query.as_ref() else {
        return None;
    };
    let sql = match (op, all) {
        (BinaryOperator::Eq, false) => format!("({left}) IN ({q})"),
        (BinaryOperator::NotEq, true) => format!("({left}) NOT IN ({q})"),
        (op, false) => format!("EXISTS (SELECT 1 FROM ({q}) AS __basalt_any(__v) WHERE ({left}) {op} __v)"),
        (op, true) => format!(
            "NOT EXISTS (SELECT 1 FROM ({q}) AS __basalt_all(__v) WHERE NOT (({left}) {op} __v) OR __v IS NULL OR ({left}) IS NULL)"
        ),
    };
    crate::eval::parse_expr(&sql)
        .ok()
        .map(|e| Expr::Nested(Box::new(e)))
}

/// `current_user`, `session_user`, `current_role` and `user` written without parentheses (SQL
/// value functions) as `current_setting('session_authorization')`, the user the session
/// connected as.
pub fn session_user_calls(stmt: &mut Statement) {
    const NAMES: &[&str] = &["current_user", "session_user", "current_role", "user"];
    fn name_of(e: &Expr) -> Option<String> {
        let name = match e {
            Expr::Function(f) if matches!(f.args, FunctionArguments::None) => {
                match f.name.0.as_slice() {
                    [part] => part.as_ident().map(|i| i.value.to_lowercase()),
                    _ => None,
                }
            }
            Expr::Identifier(i) if i.quote_style.is_none() => Some(i.value.to_lowercase()),
            _ => None,
        }?;
        NAMES.contains(&name.as_str()).then_some(name)
    }
    fn call() -> Option<Expr> {
        crate::eval::parse_expr("current_setting('session_authorization')").ok()
    }
    struct Calls;
    impl VisitorMut for Calls {
        type Break = ();
        fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            // A select-list item keeps the function's name as its column name.
            if let SetExpr::Select(select) = q.body.as_mut() {
                for item in &mut select.projection {
                    if let SelectItem::UnnamedExpr(e) = item {
                        if let (Some(name), Some(expr)) = (name_of(e), call()) {
                            *item = SelectItem::ExprWithAlias {
                                expr,
                                alias: Ident::with_quote('"', name),
                            };
                        }
                    }
                }
            }
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if let (Some(_), Some(new)) = (name_of(e), call()) {
                *e = new;
            }
            ControlFlow::Continue(())
        }
    }
    let _ = stmt.visit(&mut Calls);
}

/// A cast to `timestamp(p)`, `timestamptz(p)` or `time(p)` (or such a typed literal) as
/// `pg_time_precision(value, p)` of the type without the precision, which DataFusion reads.
/// `x::numeric(p,s)` with a negative scale or one above the precision, as
/// `pg_numeric_typmod(x::numeric(38, in), p, s)` (`numeric::fit_typmod`).
fn numeric_typmod_cast(e: &Expr) -> Option<Expr> {
    use datafusion::sql::sqlparser::ast::ExactNumberInfo;
    let Expr::Cast {
        data_type: declared @ (DataType::Numeric(info) | DataType::Decimal(info)),
        ..
    } = e
    else {
        return None;
    };
    let ExactNumberInfo::PrecisionAndScale(p, s) = info else {
        return None;
    };
    let (Ok(p8), Ok(s8)) = (u8::try_from(*p), i8::try_from(*s)) else {
        return None;
    };
    let ty = basalt_common::SqlType::Numeric {
        precision: p8,
        scale: s8,
    };
    // Out of PostgreSQL's or Basalt's range, the cast itself reports it.
    ty.numeric_typmod_beyond_decimal()?;
    crate::types::column_type(declared).ok()?;
    let mut inner = e.clone();
    if let Expr::Cast { data_type, .. } = &mut inner {
        *data_type = DataType::Numeric(ExactNumberInfo::PrecisionAndScale(
            38,
            i64::from(crate::numeric::typmod_input_scale(p8, s8)),
        ));
    }
    call_on(
        &format!("{}(NULL, {p}, {s})", crate::numeric::TYPMOD_FUNCTION),
        inner,
    )
}

/// The call `template` (written with NULL as its first argument) on `first`.
fn call_on(template: &str, first: Expr) -> Option<Expr> {
    let mut call = crate::eval::parse_expr(template).ok()?;
    if let Expr::Function(f) = &mut call {
        if let FunctionArguments::List(list) = &mut f.args {
            if let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))) = list.args.first_mut() {
                *arg = first;
            }
        }
    }
    Some(call)
}

/// `FROM generate_series('2020-01-01 00:00'::timestamp, …)`: DataFusion evaluates a table
/// function's arguments with its own timestamp reading, which wants the seconds; the text
/// is read with PostgreSQL's input function and written back in the ISO form both read.
fn series_timestamps(t: &mut TableFactor) -> SqlResult<()> {
    use crate::datetime::DateTimeKind;
    use datafusion::sql::sqlparser::ast::{TimezoneInfo, ValueWithSpan};
    let TableFactor::Table {
        name,
        args: Some(args),
        alias,
        with_ordinality,
        ..
    } = t
    else {
        return Ok(());
    };
    if !name.to_string().eq_ignore_ascii_case("generate_series") {
        return Ok(());
    }
    // Without an alias, PostgreSQL names the relation and its column after the function.
    if alias.is_none() && !*with_ordinality {
        let name = Ident::new("generate_series");
        *alias = Some(TableAlias {
            name: name.clone(),
            columns: vec![TableAliasColumnDef {
                name,
                data_type: None,
            }],
            explicit: true,
            at: None,
        });
    }
    for arg in &mut args.args {
        let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = arg else {
            continue;
        };
        let now_us = crate::clock::transaction_micros();
        // There is no series of dates: PostgreSQL makes them timestamptz (at midnight).
        if let Expr::Cast {
            expr: inner,
            data_type: DataType::Date,
            ..
        } = e
        {
            let literal = match inner.as_ref() {
                Expr::Value(ValueWithSpan {
                    value: Value::SingleQuotedString(text),
                    ..
                }) => unambiguous(text, DateTimeKind::Date, now_us)?,
                _ => None,
            };
            // Midnight in the session's zone.
            let zone = crate::clock::session_zone();
            let midnight = literal
                .and_then(|days| days.checked_mul(86_400_000_000))
                .map(|local| zone.from_local(local))
                .and_then(chrono::DateTime::from_timestamp_micros);
            let date = match midnight {
                Some(at) => Expr::value(Value::SingleQuotedString(format!(
                    "{}Z",
                    at.naive_utc().format("%Y-%m-%dT%H:%M:%S")
                ))),
                None => Expr::Nested(Box::new(e.clone())),
            };
            *e = Expr::Cast {
                kind: datafusion::sql::sqlparser::ast::CastKind::DoubleColon,
                expr: Box::new(date),
                data_type: DataType::Timestamp(None, TimezoneInfo::WithTimeZone),
                array: false,
                format: None,
            };
            continue;
        }
        let Expr::Cast {
            expr, data_type, ..
        } = e
        else {
            continue;
        };
        let kind = match data_type {
            DataType::Timestamp(_, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone) => {
                DateTimeKind::Timestamp
            }
            DataType::Timestamp(_, _) => DateTimeKind::TimestampTz,
            _ => continue,
        };
        let Expr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(text),
            ..
        }) = expr.as_mut()
        else {
            continue;
        };
        let Some(us) = unambiguous(text, kind, now_us)? else {
            continue;
        };
        if us == crate::datetime::TIMESTAMP_INFINITY
            || us == crate::datetime::TIMESTAMP_NEG_INFINITY
        {
            return Err(SqlError::DatetimeOverflow("timestamp out of range".into()));
        }
        if let Some(at) = chrono::DateTime::from_timestamp_micros(us) {
            let iso = at.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
            *text = match kind {
                DateTimeKind::TimestampTz => format!("{iso}Z"),
                _ => iso,
            };
        }
    }
    Ok(())
}

///
/// `text` read as `kind` the same way under every DateStyle field order (`None` where the
/// session's order would matter, or where one order cannot read it); text no order reads is
/// PostgreSQL's error.
pub(crate) fn unambiguous(
    text: &str,
    kind: crate::datetime::DateTimeKind,
    now_us: i64,
) -> SqlResult<Option<i64>> {
    use crate::datetime::{parse_datetime, DateInput, DateOrder};
    // timestamptz text without a zone is in the session's.
    let zone = crate::clock::session_zone();
    let readings: Vec<SqlResult<i64>> = [DateOrder::Mdy, DateOrder::Dmy, DateOrder::Ymd]
        .iter()
        .map(|&order| parse_datetime(text, kind, DateInput { order, zone }, now_us))
        .collect();
    match readings.as_slice() {
        [Ok(a), Ok(b), Ok(c)] if a == b && b == c => Ok(Some(*a)),
        [Err(_), Err(_), Err(_)] => match readings.into_iter().next() {
            Some(Err(e)) => Err(e),
            _ => Ok(None),
        },
        _ => Ok(None),
    }
}

/// A timestamp type without a precision is read as `timestamp(6)`, which DataFusion makes a
/// microsecond timestamp as Basalt stores them (its plain `timestamp` counts nanoseconds
/// and so ends in 1677 and 2262: `timestamp '9999-12-31'` would be out of range).
fn time_precision_cast(e: &Expr) -> Option<Expr> {
    fn without_precision(t: &DataType) -> Option<(DataType, u64)> {
        match t {
            DataType::Timestamp(Some(p), tz) => Some((
                DataType::Timestamp(Some(crate::precision::MAX_PRECISION), *tz),
                *p,
            )),
            DataType::Timestamp(None, tz) => Some((
                DataType::Timestamp(Some(crate::precision::MAX_PRECISION), *tz),
                crate::precision::MAX_PRECISION,
            )),
            DataType::Time(Some(p), tz) => Some((DataType::Time(None, *tz), *p)),
            _ => None,
        }
    }
    let (inner, precision) = match e {
        Expr::Cast { data_type, .. } => {
            let (t, p) = without_precision(data_type)?;
            let mut cast = e.clone();
            if let Expr::Cast { data_type, .. } = &mut cast {
                *data_type = t;
            }
            (cast, p)
        }
        Expr::TypedString(ts) => {
            let (t, p) = without_precision(&ts.data_type)?;
            let mut plain = ts.clone();
            plain.data_type = t;
            (Expr::TypedString(plain), p)
        }
        _ => return None,
    };
    let p = crate::precision::checked(precision);
    if u64::from(p) >= crate::precision::MAX_PRECISION {
        return Some(inner);
    }
    call_on(&format!("{}(NULL, {p})", crate::precision::FUNCTION), inner)
}

fn char_len(len: &Option<datafusion::sql::sqlparser::ast::CharacterLength>) -> Option<u64> {
    match len {
        Some(datafusion::sql::sqlparser::ast::CharacterLength::IntegerLength {
            length, ..
        }) => Some(*length),
        _ => None,
    }
}

/// A literal LIKE pattern whose escape character is not the backslash, rewritten to use
/// the backslash: `h#%` with `ESCAPE '#'` becomes `h\%`. `ESCAPE ''` turns escaping off.
/// `None` when there is nothing to rewrite or the pattern is not a literal; an error when
/// the pattern ends with the escape character, as in PostgreSQL.
fn backslash_escaped_pattern(
    pattern: &Expr,
    escape: Option<&datafusion::sql::sqlparser::ast::ValueWithSpan>,
) -> SqlResult<Option<String>> {
    let Some(escape) = escape else {
        return Ok(None);
    };
    let escape = match &escape.value {
        Value::SingleQuotedString(c) => c.clone(),
        _ => return Ok(None),
    };
    let mut chars = escape.chars();
    let esc = match (chars.next(), chars.next()) {
        (Some('\\'), None) => return Ok(None),
        (Some(c), None) => Some(c),
        (None, _) => None,
        _ => return Ok(None), // PostgreSQL refuses a longer escape; so will DataFusion
    };
    let Expr::Value(v) = pattern else {
        return Ok(None);
    };
    let Value::SingleQuotedString(text) = &v.value else {
        return Ok(None);
    };
    let mut out = String::with_capacity(text.len() + 4);
    let mut it = text.chars();
    while let Some(c) = it.next() {
        if Some(c) == esc {
            match it.next() {
                Some(n @ ('%' | '_' | '\\')) => {
                    out.push('\\');
                    out.push(n);
                }
                Some(n) => out.push(n),
                None => {
                    return Err(SqlError::InvalidEscape(
                        "LIKE pattern must not end with escape character".into(),
                    ))
                }
            }
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    Ok(Some(out))
}

fn pg_interval_text(e: &Expr) -> Option<String> {
    let Expr::Value(v) = e else { return None };
    let Value::SingleQuotedString(text) = &v.value else {
        return None;
    };
    let (m, d, n) = crate::eval::parse_pg_interval(text)?;
    Some(crate::eval::interval_literal(m, d, n))
}

/// Gives the output columns of every SELECT in a query (each branch of a set operation,
/// each subquery) PostgreSQL's names, unique inside Basalt, for a query planned before the
/// statement around it is rewritten (`SELECT a, b UNION ALL SELECT b, a` of two NULL
/// arguments would otherwise have two columns named `NULL`).
pub(crate) fn name_query_columns(query: &mut Query) {
    struct Names;
    impl VisitorMut for Names {
        type Break = ();
        fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            fn selects(body: &mut SetExpr) {
                match body {
                    SetExpr::Select(select) => name_columns(select),
                    SetExpr::SetOperation { left, right, .. } => {
                        selects(left);
                        selects(right);
                    }
                    _ => {}
                }
            }
            selects(&mut q.body);
            ControlFlow::Continue(())
        }
    }
    let _ = VisitMut::visit(query, &mut Names);
}

fn name_set_expr(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            merge_using_columns(select);
            qualify_wildcards(select);
            name_columns(select)
        }
        SetExpr::SetOperation { left, .. } => name_set_expr(left),
        SetExpr::Query(q) => name_set_expr(&mut q.body),
        _ => {}
    }
}

/// `t.*` over `FROM s.t` (a table named with its schema and no alias): PostgreSQL finds
/// `t`, DataFusion wants the qualifier written as in FROM (`s.t.*`), so it is written so.
fn qualify_wildcards(select: &mut Select) {
    use datafusion::sql::sqlparser::ast::SelectItemQualifiedWildcardKind;
    let mut tables: Vec<&ObjectName> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for twj in &select.from {
        for f in std::iter::once(&twj.relation).chain(twj.joins.iter().map(|j| &j.relation)) {
            match f {
                TableFactor::Table {
                    name, alias: None, ..
                } => {
                    if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
                        names.push(crate::ddl::ident(last));
                    }
                    if name.0.len() > 1 {
                        tables.push(name);
                    }
                }
                TableFactor::Table { alias: Some(a), .. }
                | TableFactor::Derived { alias: Some(a), .. } => {
                    names.push(crate::ddl::ident(&a.name))
                }
                _ => {}
            }
        }
    }
    if tables.is_empty() {
        return;
    }
    let tables: Vec<ObjectName> = tables.into_iter().cloned().collect();
    for item in &mut select.projection {
        let SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(q), _) = item
        else {
            continue;
        };
        let [part] = q.0.as_slice() else { continue };
        let Some(id) = part.as_ident() else { continue };
        let wanted = crate::ddl::ident(id);
        // Only when one FROM item has that name.
        if names.iter().filter(|n| **n == wanted).count() != 1 {
            continue;
        }
        let found = tables.iter().find(|t| {
            t.0.last()
                .and_then(|p| p.as_ident())
                .is_some_and(|l| crate::ddl::ident(l) == wanted)
        });
        if let Some(t) = found {
            *q = t.clone();
        }
    }
}

/// `A [LEFT|RIGHT|FULL] JOIN B USING (c, …)` as PostgreSQL reads it: `*` lists the join
/// columns first, then A's other columns, then B's; and an unqualified `c` is the merged
/// column: A's value, B's for a RIGHT join, `COALESCE(a.c, b.c)` for a FULL join (DataFusion
/// would take A's value, NULL in rows only B has). Done where one join of two named
/// relations makes up the FROM clause.
fn merge_using_columns(select: &mut Select) {
    use datafusion::sql::sqlparser::ast::{
        ExcludeSelectItem, JoinConstraint, JoinOperator, SelectItemQualifiedWildcardKind,
        WildcardAdditionalOptions,
    };
    let [from] = select.from.as_slice() else {
        return;
    };
    let [join] = from.joins.as_slice() else {
        return;
    };
    let (cols, full, right) = match &join.join_operator {
        JoinOperator::Join(JoinConstraint::Using(c))
        | JoinOperator::Inner(JoinConstraint::Using(c))
        | JoinOperator::Left(JoinConstraint::Using(c))
        | JoinOperator::LeftOuter(JoinConstraint::Using(c)) => (c, false, false),
        JoinOperator::Right(JoinConstraint::Using(c))
        | JoinOperator::RightOuter(JoinConstraint::Using(c)) => (c, false, true),
        JoinOperator::FullOuter(JoinConstraint::Using(c)) => (c, true, false),
        _ => return,
    };
    let qualifier = |t: &TableFactor| -> Option<Ident> {
        match t {
            TableFactor::Table { alias: Some(a), .. }
            | TableFactor::Derived { alias: Some(a), .. } => Some(a.name.clone()),
            TableFactor::Table {
                name, alias: None, ..
            } => name.0.last()?.as_ident().cloned(),
            _ => None,
        }
    };
    let (Some(left), Some(right_q)) = (qualifier(&from.relation), qualifier(&join.relation)) else {
        return;
    };
    let names: Vec<Ident> = cols
        .iter()
        .filter_map(|c| match c.0.as_slice() {
            [p] => p.as_ident().cloned(),
            _ => None,
        })
        .collect();
    if names.len() != cols.len() {
        return;
    }
    let merged = |c: &Ident| -> Expr {
        let l = Expr::CompoundIdentifier(vec![left.clone(), c.clone()]);
        let r = Expr::CompoundIdentifier(vec![right_q.clone(), c.clone()]);
        if full {
            crate::eval::parse_expr(&format!("COALESCE({l}, {r})")).unwrap_or(l)
        } else if right {
            r
        } else {
            l
        }
    };
    let is_join_column = |i: &Ident| {
        names
            .iter()
            .any(|n| crate::ddl::ident(n) == crate::ddl::ident(i))
    };
    let replace = |i: &Ident| {
        (full || right)
            .then(|| is_join_column(i).then(|| merged(i)))
            .flatten()
    };
    // Unqualified join columns outside subqueries become the merged column.
    let m = |e: &mut Expr| {
        if let Expr::Identifier(i) = e {
            if let Some(new) = replace(i) {
                *e = Expr::Nested(Box::new(new));
            }
        }
    };
    let exclude = || WildcardAdditionalOptions {
        opt_exclude: Some(ExcludeSelectItem::Multiple(
            names
                .iter()
                .map(|n| ObjectName::from(vec![Ident::with_quote('"', crate::ddl::ident(n))]))
                .collect(),
        )),
        ..WildcardAdditionalOptions::default()
    };
    let mut projection = Vec::with_capacity(select.projection.len() + names.len() + 1);
    for item in std::mem::take(&mut select.projection) {
        match item {
            SelectItem::Wildcard(opts) if opts == WildcardAdditionalOptions::default() => {
                for c in &names {
                    projection.push(SelectItem::ExprWithAlias {
                        expr: merged(c),
                        alias: c.clone(),
                    });
                }
                for q in [&left, &right_q] {
                    projection.push(SelectItem::QualifiedWildcard(
                        SelectItemQualifiedWildcardKind::ObjectName(ObjectName::from(vec![
                            q.clone()
                        ])),
                        exclude(),
                    ));
                }
            }
            SelectItem::UnnamedExpr(Expr::Identifier(i)) if replace(&i).is_some() => {
                projection.push(SelectItem::ExprWithAlias {
                    expr: merged(&i),
                    alias: i,
                });
            }
            SelectItem::UnnamedExpr(mut e) => {
                map_outside_subqueries(&mut e, m);
                projection.push(SelectItem::UnnamedExpr(e));
            }
            SelectItem::ExprWithAlias { mut expr, alias } => {
                map_outside_subqueries(&mut expr, m);
                projection.push(SelectItem::ExprWithAlias { expr, alias });
            }
            other => projection.push(other),
        }
    }
    select.projection = projection;
    if let Some(w) = &mut select.selection {
        map_outside_subqueries(w, m);
    }
    if let Some(h) = &mut select.having {
        map_outside_subqueries(h, m);
    }
    if let datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(exprs, _) =
        &mut select.group_by
    {
        for e in exprs {
            map_outside_subqueries(e, m);
        }
    }
}

/// Output column names as PostgreSQL gives them: an unaliased function call is named after
/// the function (`count`), another expression `?column?`. DataFusion needs unique names in
/// a projection where PostgreSQL allows repeats, so a repeated name gets a hidden suffix
/// (`DUPLICATE_MARK` and a number) that `display_name` removes before a client sees it.
pub(crate) fn name_columns(select: &mut Select) {
    let mut used: HashSet<String> = HashSet::new();
    for item in &mut select.projection {
        match item {
            SelectItem::UnnamedExpr(e) => {
                let base = crate::dml::column_name_of(e);
                let is_column = matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_));
                let name = unique(&mut used, &base);
                if !is_column || name != base {
                    *item = SelectItem::ExprWithAlias {
                        expr: e.clone(),
                        alias: Ident::with_quote('"', name),
                    };
                }
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                let base = if alias.quote_style.is_some() {
                    alias.value.clone()
                } else {
                    alias.value.to_lowercase()
                };
                let name = unique(&mut used, &base);
                if name != base {
                    *item = SelectItem::ExprWithAlias {
                        expr: expr.clone(),
                        alias: Ident::with_quote('"', name),
                    };
                }
            }
            _ => {}
        }
    }
}

/// Marks the start of the suffix that keeps a repeated output column name unique inside
/// Basalt. PostgreSQL identifiers cannot hold NUL, so no name a user writes contains it.
pub const DUPLICATE_MARK: char = '\0';

/// The name a client sees for an output column: without the suffix `name_columns` added
/// to a repeated name (`SELECT sum(x), sum(y)` shows `sum | sum`, as in PostgreSQL).
pub fn display_name(name: &str) -> &str {
    name.split(DUPLICATE_MARK).next().unwrap_or(name)
}

fn unique(used: &mut HashSet<String>, base: &str) -> String {
    if used.insert(base.to_owned()) {
        return base.to_owned();
    }
    // Bounded: at most one probe per existing name with this base.
    let mut n = 2;
    loop {
        let candidate = format!("{base}{DUPLICATE_MARK}{n}");
        if used.insert(candidate.clone()) {
            return candidate;
        }
        n += 1;
    }
}

/// Whether a statement reads the `tableoid` system column.
pub fn mentions_tableoid(stmt: &Statement) -> bool {
    use datafusion::sql::sqlparser::ast::{Visit, Visitor};
    struct Find;
    impl Visitor for Find {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            let hit = match e {
                Expr::Identifier(i) => i.value.eq_ignore_ascii_case("tableoid"),
                Expr::CompoundIdentifier(parts) => parts
                    .last()
                    .is_some_and(|i| i.value.eq_ignore_ascii_case("tableoid")),
                _ => false,
            };
            if hit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
    }
    stmt.visit(&mut Find).is_break()
}

/// `SELECT *` over a single table that exposes `tableoid` leaves it out, as PostgreSQL's
/// `*` leaves out system columns (`is_table` says which names are stored tables).
pub fn exclude_tableoid(stmt: &mut Statement, is_table: &dyn Fn(&ObjectName) -> bool) {
    use datafusion::sql::sqlparser::ast::ExcludeSelectItem;
    struct Exclude<'a> {
        is_table: &'a dyn Fn(&ObjectName) -> bool,
    }
    fn in_body(body: &mut SetExpr, is_table: &dyn Fn(&ObjectName) -> bool) {
        match body {
            SetExpr::Select(select) => {
                let single = match select.from.as_slice() {
                    [only] if only.joins.is_empty() => matches!(&only.relation,
                        TableFactor::Table { name, args: None, .. } if is_table(name)),
                    _ => false,
                };
                if !single {
                    return;
                }
                for item in &mut select.projection {
                    let options = match item {
                        SelectItem::Wildcard(o) | SelectItem::QualifiedWildcard(_, o) => o,
                        _ => continue,
                    };
                    if options.opt_exclude.is_none() && options.opt_except.is_none() {
                        options.opt_exclude =
                            Some(ExcludeSelectItem::Single(ObjectName::from(vec![
                                Ident::new("tableoid"),
                            ])));
                    }
                }
            }
            SetExpr::SetOperation { left, right, .. } => {
                in_body(left, is_table);
                in_body(right, is_table);
            }
            _ => {}
        }
    }
    impl VisitorMut for Exclude<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            in_body(&mut q.body, self.is_table);
            ControlFlow::Continue(())
        }
    }
    let _ = stmt.visit(&mut Exclude { is_table });
}

/// `ARRAY(SELECT x FROM … [ORDER BY …])`: the subquery's values as an array, in its order,
/// `{}` when it has no rows — as the aggregate `array_agg` over the subquery, sorted by the
/// subquery's ORDER BY keys (carried out of it as extra columns).
fn array_subquery(e: &Expr) -> SqlResult<Option<Expr>> {
    let Expr::Function(f) = e else {
        return Ok(None);
    };
    let FunctionArguments::Subquery(q) = &f.args else {
        return Ok(None);
    };
    if !f.name.to_string().eq_ignore_ascii_case("array") {
        return Ok(None);
    }
    let mut inner = q.as_ref().clone();
    let order = inner.order_by.take();
    let SetExpr::Select(select) = inner.body.as_mut() else {
        // A set operation: its rows in the order they come.
        let sql = format!(
            "(SELECT coalesce(array_agg(__basalt_array_v), make_array()) FROM ({q}) AS __basalt_array(__basalt_array_v))"
        );
        return crate::eval::parse_expr(&sql).map(Some);
    };
    if select.projection.len() != 1
        || matches!(
            select.projection[0],
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
        )
    {
        return Err(SqlError::Syntax {
            message: "subquery must return only one column".into(),
            position: None,
        });
    }
    let (value, alias) = match &select.projection[0] {
        SelectItem::UnnamedExpr(x) => (x.clone(), None),
        SelectItem::ExprWithAlias { expr, alias } => (expr.clone(), Some(alias.value.clone())),
        _ => return Ok(None),
    };
    if order.is_none() {
        if let Some(mapped) = array_over_unnest(select, &value)? {
            return Ok(Some(mapped));
        }
    }
    // A plain SELECT (no grouping, DISTINCT, LIMIT or aggregates of its own) becomes the
    // aggregate itself, so that a correlated condition stays where decorrelation finds it.
    let plain = matches!(&select.group_by, datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(g, _) if g.is_empty())
        && select.having.is_none()
        && select.distinct.is_none()
        && inner.limit_clause.is_none()
        && inner.fetch.is_none()
        && inner.with.is_none()
        && !has_aggregate_or_window(&value)
        && order.as_ref().is_none_or(|o| match &o.kind {
            datafusion::sql::sqlparser::ast::OrderByKind::Expressions(exprs) => {
                exprs.iter().all(|o| !has_aggregate_or_window(&o.expr))
            }
            _ => false,
        });
    if plain {
        let mut keys = Vec::new();
        if let Some(datafusion::sql::sqlparser::ast::OrderByKind::Expressions(exprs)) =
            order.as_ref().map(|o| &o.kind)
        {
            for o in exprs {
                let mut item = o.clone();
                let names_value = match &o.expr {
                    Expr::Value(v) => matches!(&v.value, Value::Number(n, _) if n == "1"),
                    Expr::Identifier(id) => alias.as_deref() == Some(id.value.as_str()),
                    _ => false,
                };
                if names_value {
                    item.expr = value.clone();
                }
                keys.push(item.to_string());
            }
        }
        let order_sql = if keys.is_empty() {
            String::new()
        } else {
            format!(" ORDER BY {}", keys.join(", "))
        };
        select.projection = vec![SelectItem::UnnamedExpr(crate::eval::parse_expr(&format!(
            "coalesce(array_agg({value}{order_sql}), make_array())"
        ))?)];
        return Ok(Some(Expr::Subquery(Box::new(inner))));
    }
    select.projection = vec![SelectItem::ExprWithAlias {
        expr: value.clone(),
        alias: Ident::new("__basalt_array_v"),
    }];
    let mut keys = Vec::new();
    let distinct = select.distinct.is_some();
    if let Some(order) = &order {
        let datafusion::sql::sqlparser::ast::OrderByKind::Expressions(exprs) = &order.kind else {
            return Ok(None);
        };
        for (i, o) in exprs.iter().enumerate() {
            let refers_to_value = match &o.expr {
                Expr::Value(v) => matches!(&v.value, Value::Number(n, _) if n == "1"),
                Expr::Identifier(id) => alias.as_deref() == Some(id.value.as_str()),
                other => *other == value,
            };
            let key = if refers_to_value || distinct {
                "__basalt_array_v".to_owned()
            } else {
                let name = format!("__basalt_array_k{i}");
                select.projection.push(SelectItem::ExprWithAlias {
                    expr: o.expr.clone(),
                    alias: Ident::new(&name),
                });
                name
            };
            let mut item = o.clone();
            item.expr = Expr::Identifier(Ident::new(key));
            keys.push(item.to_string());
        }
    }
    let order_sql = if keys.is_empty() {
        String::new()
    } else {
        format!(" ORDER BY {}", keys.join(", "))
    };
    inner.order_by = order;
    let sql = format!(
        "(SELECT coalesce(array_agg(__basalt_array_v{order_sql}), make_array()) FROM ({inner}) AS __basalt_array)"
    );
    crate::eval::parse_expr(&sql).map(Some)
}

/// `ARRAY(SELECT f(x) FROM unnest(a) x [WHERE p(x)])` — psql's `\d+` asks this of a row's
/// own array column, a correlation DataFusion cannot plan as a subquery — as the array
/// functions `array_transform(array_filter(a, x -> p(x)), x -> f(x))`.
fn array_over_unnest(select: &Select, value: &Expr) -> SqlResult<Option<Expr>> {
    use datafusion::sql::sqlparser::ast::{
        LambdaFunction, LambdaFunctionParameter, LambdaSyntax, OneOrManyWithParens,
    };
    let [from] = select.from.as_slice() else {
        return Ok(None);
    };
    let (array, alias) = match &from.relation {
        TableFactor::Table {
            name,
            args: Some(args),
            alias: Some(alias),
            with_ordinality: false,
            ..
        } if matches!(
            name.to_string().to_lowercase().as_str(),
            "unnest" | "pg_catalog.unnest"
        ) =>
        {
            let [FunctionArg::Unnamed(FunctionArgExpr::Expr(array))] = args.args.as_slice() else {
                return Ok(None);
            };
            (array, alias)
        }
        TableFactor::UNNEST {
            alias: Some(alias),
            array_exprs,
            with_offset: false,
            with_ordinality: false,
            ..
        } if array_exprs.len() == 1 => (&array_exprs[0], alias),
        _ => return Ok(None),
    };
    let plain = from.joins.is_empty()
        && matches!(&select.group_by, datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(g, _) if g.is_empty())
        && select.having.is_none()
        && select.distinct.is_none()
        && !has_aggregate_or_window(value);
    if !plain || alias.columns.len() > 1 {
        return Ok(None);
    }
    let param = alias
        .columns
        .first()
        .map(|c| c.name.clone())
        .unwrap_or_else(|| alias.name.clone());
    let lambda = |body: &Expr| {
        Expr::Lambda(LambdaFunction {
            params: OneOrManyWithParens::One(LambdaFunctionParameter {
                name: param.clone(),
                data_type: None,
            }),
            body: Box::new(body.clone()),
            syntax: LambdaSyntax::Arrow,
        })
    };
    let call = |function: &str, args: Vec<Expr>| -> SqlResult<Expr> {
        let mut e = crate::eval::parse_expr(&format!("{function}(0, 0)"))?;
        if let Expr::Function(f) = &mut e {
            if let FunctionArguments::List(list) = &mut f.args {
                list.args = args
                    .into_iter()
                    .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                    .collect();
            }
        }
        Ok(e)
    };
    let mut items = array.clone();
    if let Some(condition) = &select.selection {
        items = call("array_filter", vec![items, lambda(condition)])?;
    }
    let mapped = call("array_transform", vec![items, lambda(value)])?;
    call(
        "coalesce",
        vec![mapped, crate::eval::parse_expr("make_array()")?],
    )
    .map(Some)
}

/// `FROM regexp_split_to_table(…) [AS a]` (or `regexp_matches`) as the derived table
/// `(SELECT unnest(list(…)) AS a) AS a`: the function's rows, in one column named after the
/// alias, or after the function when there is none.
fn regexp_table_function(t: &TableFactor) -> Option<TableFactor> {
    let TableFactor::Table {
        name,
        args: Some(args),
        alias,
        ..
    } = t
    else {
        return None;
    };
    let list = match name.to_string().to_lowercase().as_str() {
        "regexp_split_to_table" | "pg_catalog.regexp_split_to_table" => "pg_regexp_split_to_table",
        "regexp_matches" | "pg_catalog.regexp_matches" => "pg_regexp_matches",
        _ => return None,
    };
    let function = list.trim_start_matches("pg_");
    let args: Vec<String> = args.args.iter().map(|a| a.to_string()).collect();
    let call = format!("unnest({list}({}))", args.join(", "));
    single_column_derived(&call, function, alias.as_ref(), false)
}

/// `(SELECT call AS c) AS alias(c)`: the rows of a set-returning `call` as a derived table
/// with one column, named as PostgreSQL names a function's column in FROM (the alias's
/// first column name, else the alias, else the function).
fn single_column_derived(
    call: &str,
    function: &str,
    alias: Option<&TableAlias>,
    lateral: bool,
) -> Option<TableFactor> {
    let column = match alias {
        Some(a) => a
            .columns
            .first()
            .map(|c| c.name.value.clone())
            .unwrap_or_else(|| a.name.value.clone()),
        None => function.to_owned(),
    };
    let sql = format!("SELECT {call} AS {}", crate::eval::quote_ident(&column));
    let Ok(mut parsed) = crate::session::parse_sql(&sql) else {
        return None;
    };
    let Some(Statement::Query(query)) = parsed.pop() else {
        return None;
    };
    let mut alias = alias.cloned().unwrap_or(TableAlias {
        name: Ident::new(function),
        columns: vec![],
        explicit: true,
        at: None,
    });
    add_column_alias(&mut alias);
    Some(TableFactor::Derived {
        lateral,
        subquery: query,
        alias: Some(alias),
        sample: None,
    })
}

/// `FROM t, generate_series(1, t.n) g` (or `unnest(t.a)`, `LATERAL …`): a set-returning
/// function in FROM whose arguments read earlier FROM items, as the lateral subquery
/// `LATERAL (SELECT generate_series(1, t.n) AS g) AS g(g)`. DataFusion evaluates a table
/// function's arguments while planning, so they cannot read columns; in a select list the
/// call is an ordinary set-returning expression, run per row of the left side (see
/// `crate::lateral`).
fn lateral_table_function(t: &TableFactor) -> Option<TableFactor> {
    let unnest_args: Vec<FunctionArg>;
    let unnest_name: ObjectName;
    let (name, args, alias) = match t {
        TableFactor::Table {
            name,
            args: Some(args),
            alias,
            with_ordinality: false,
            ..
        } => (name, &args.args, alias),
        TableFactor::Function {
            name, args, alias, ..
        } => (name, args, alias),
        TableFactor::UNNEST {
            alias,
            array_exprs,
            with_offset: false,
            with_ordinality: false,
            ..
        } if array_exprs.len() == 1 => {
            unnest_args = array_exprs
                .iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e.clone())))
                .collect();
            unnest_name = ObjectName::from(vec![Ident::new("unnest")]);
            (&unnest_name, &unnest_args, alias)
        }
        _ => return None,
    };
    let lower = name.to_string().to_lowercase();
    let function = lower.strip_prefix("pg_catalog.").unwrap_or(&lower);
    if !matches!(
        function,
        "generate_series" | "generate_subscripts" | "unnest"
    ) {
        return None;
    }
    // DataFusion's own generate_series runs constant integer and timestamp series; a
    // series over numeric values (`generate_series(0.1, 4.0, 1.3)`) is Basalt's.
    let mut reads_column = false;
    let mut numeric = false;
    for arg in args {
        let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = arg else {
            return None;
        };
        let _ = visit_expressions(e, |e| {
            match e {
                Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
                    reads_column = true;
                    return ControlFlow::Break(());
                }
                Expr::Value(v) if matches!(&v.value, Value::Number(n, _) if n.contains(['.', 'e', 'E'])) => {
                    numeric = true
                }
                Expr::Cast {
                    data_type: DataType::Numeric(_) | DataType::Decimal(_) | DataType::Dec(_),
                    ..
                } => numeric = true,
                _ => {}
            }
            ControlFlow::Continue(())
        });
    }
    let numeric = numeric && function == "generate_series";
    if !(reads_column || numeric) || (function == "unnest" && args.len() != 1) {
        return None;
    }
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let call = format!("{function}({})", args.join(", "));
    single_column_derived(&call, function, alias.as_ref(), true)
}

fn add_column_alias(alias: &mut TableAlias) {
    if alias.columns.is_empty() {
        alias.columns.push(TableAliasColumnDef {
            name: alias.name.clone(),
            data_type: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut stmt = crate::session::parse_sql(sql).unwrap().pop().unwrap();
        aggregate_scalar_subqueries(&mut stmt);
        stmt.to_string()
    }

    #[test]
    fn catalog_subqueries_are_aggregated_and_outer_conditions_moved_out() {
        let out = rewritten("SELECT (SELECT d.adbin FROM pg_attrdef d WHERE a.atthasdef AND d.adrelid = a.attrelid) FROM pg_attribute a");
        assert!(
            out.contains("CASE WHEN a.atthasdef THEN (SELECT max(d.adbin)"),
            "{out}"
        );
    }

    #[test]
    fn non_equality_correlation_answers_null() {
        let out = rewritten("SELECT (SELECT s.x FROM s WHERE s.id = f(a.id)) FROM a");
        assert!(out.contains("SELECT NULL FROM a"), "{out}");
        let out = rewritten("SELECT (SELECT s.x FROM s WHERE s.id <> a.id) FROM a");
        assert!(out.contains("SELECT NULL FROM a"), "{out}");
    }
}
