//! Statement parameters (`$1`, `$2` …) of the extended query protocol: counting them,
//! inferring their types for Describe, and substituting bound values as typed literals.

use std::collections::HashMap;
use std::ops::ControlFlow;

use chrono::{DateTime, NaiveDate, NaiveTime};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::{
    Expr, SetExpr, Statement, TableObject, Value as AstValue, Visit, VisitMut, Visitor, VisitorMut,
};

use crate::ddl::resolve_table;
use crate::error::{SqlError, SqlResult};
use crate::eval::parse_expr;
use crate::session::{object_name_parts, parse_sql, Session};

/// PostgreSQL's limit on parameters of one statement.
pub const PARAMS_MAX: usize = 65_535;

fn parameter_index(e: &Expr) -> Option<usize> {
    if let Expr::Value(v) = e {
        if let AstValue::Placeholder(p) = &v.value {
            return p.strip_prefix('$').and_then(|n| n.parse().ok());
        }
    }
    None
}

/// Refuses `$n` beyond the protocol's limit (and `$0`), before anything is sized by n.
pub fn check_parameter_numbers(stmt: &Statement) -> SqlResult<()> {
    struct Check(Option<String>);
    impl Visitor for Check {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let Expr::Value(v) = e {
                if let AstValue::Placeholder(p) = &v.value {
                    let ok = p
                        .strip_prefix('$')
                        .and_then(|n| n.parse::<usize>().ok())
                        .is_some_and(|n| (1..=PARAMS_MAX).contains(&n));
                    if !ok {
                        self.0 = Some(p.clone());
                        return ControlFlow::Break(());
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut c = Check(None);
    let _ = stmt.visit(&mut c);
    match c.0 {
        Some(p) => Err(SqlError::Syntax {
            message: format!("there is no parameter {p}"),
            position: None,
        }),
        None => Ok(()),
    }
}

/// The number of parameters: the highest `$n`.
pub fn count(stmt: &Statement) -> usize {
    if matches!(stmt, Statement::Prepare { .. }) {
        return 0;
    }
    struct Max(usize);
    impl Visitor for Max {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let Some(n) = parameter_index(e) {
                self.0 = self.0.max(n);
            }
            ControlFlow::Continue(())
        }
    }
    let mut v = Max(0);
    let _ = stmt.visit(&mut v);
    v.0
}

/// Replaces every `$n` with `args[n-1]` (left as it is when there is no such argument).
pub fn replace_placeholders(stmt: &mut Statement, args: &[Expr]) {
    struct Sub<'a>(&'a [Expr]);
    impl VisitorMut for Sub<'_> {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if let Some(arg) = parameter_index(e).and_then(|n| self.0.get(n.wrapping_sub(1))) {
                *e = Expr::Nested(Box::new(arg.clone()));
            }
            ControlFlow::Continue(())
        }
    }
    let _ = VisitMut::visit(stmt, &mut Sub(args));
}

/// Replaces every `$n` with the literal form of `values[n-1]`.
pub fn substitute(mut stmt: Statement, values: &[ScalarValue]) -> SqlResult<Statement> {
    if matches!(stmt, Statement::Prepare { .. }) {
        return Ok(stmt);
    }
    let literals: Vec<Expr> = values.iter().map(literal).collect::<SqlResult<_>>()?;
    struct Sub<'a>(&'a [Expr], Option<SqlError>);
    impl VisitorMut for Sub<'_> {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if let Some(n) = parameter_index(e) {
                match self.0.get(n.wrapping_sub(1)) {
                    Some(lit) => *e = Expr::Nested(Box::new(lit.clone())),
                    None => {
                        self.1 = Some(SqlError::ProtocolViolation(format!(
                            "there is no parameter ${n}"
                        )));
                        return ControlFlow::Break(());
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut sub = Sub(&literals, None);
    let _ = VisitMut::visit(&mut stmt, &mut sub);
    match sub.1 {
        Some(e) => Err(e),
        None => Ok(stmt),
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A bound value as a SQL literal of the same type.
fn literal(v: &ScalarValue) -> SqlResult<Expr> {
    let sql = match v {
        v if v.is_null() => match sql_type_name(&v.data_type()) {
            Some(t) => format!("CAST(NULL AS {t})"),
            None => "NULL".to_owned(),
        },
        ScalarValue::Boolean(Some(b)) => b.to_string(),
        ScalarValue::Int8(Some(x)) => format!("CAST({x} AS SMALLINT)"),
        ScalarValue::Int16(Some(x)) => format!("CAST({x} AS SMALLINT)"),
        ScalarValue::Int32(Some(x)) => format!("CAST({x} AS INTEGER)"),
        ScalarValue::Int64(Some(x)) => format!("CAST({x} AS BIGINT)"),
        ScalarValue::UInt8(Some(x)) => x.to_string(),
        ScalarValue::UInt16(Some(x)) => x.to_string(),
        ScalarValue::UInt32(Some(x)) => x.to_string(),
        ScalarValue::UInt64(Some(x)) => x.to_string(),
        ScalarValue::Float32(Some(x)) => {
            format!("CAST({} AS REAL)", quote(&crate::format::float4_text(*x)))
        }
        ScalarValue::Float64(Some(x)) => {
            format!(
                "CAST({} AS DOUBLE PRECISION)",
                quote(&crate::format::float_text(*x))
            )
        }
        ScalarValue::Decimal128(Some(d), p, s) => {
            // Through numeric's text (NaN and the infinities keep their words).
            format!(
                "CAST({} AS NUMERIC({p},{s}))",
                quote(&crate::numeric::text(*d, *s))
            )
        }
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => quote(s),
        ScalarValue::Binary(Some(b))
        | ScalarValue::LargeBinary(Some(b))
        | ScalarValue::BinaryView(Some(b)) => {
            let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
            format!("X'{hex}'")
        }
        ScalarValue::Date32(Some(d)) => {
            let date = d
                .checked_add(719_163)
                .and_then(NaiveDate::from_num_days_from_ce_opt)
                .ok_or_else(|| SqlError::OutOfRange("date out of range".into()))?;
            format!("CAST({} AS DATE)", quote(&date.to_string()))
        }
        ScalarValue::Time64Microsecond(Some(us)) => {
            let t = NaiveTime::from_num_seconds_from_midnight_opt(
                (*us / 1_000_000) as u32,
                ((*us % 1_000_000) * 1000) as u32,
            )
            .ok_or_else(|| SqlError::OutOfRange("time out of range".into()))?;
            format!(
                "CAST({} AS TIME)",
                quote(&t.format("%H:%M:%S%.6f").to_string())
            )
        }
        ScalarValue::TimestampMicrosecond(Some(us), tz) => timestamp_literal(*us, tz.is_some())?,
        ScalarValue::TimestampNanosecond(Some(ns), tz) => {
            timestamp_literal(ns / 1000, tz.is_some())?
        }
        ScalarValue::TimestampMillisecond(Some(ms), tz) => {
            timestamp_literal(ms * 1000, tz.is_some())?
        }
        ScalarValue::TimestampSecond(Some(s), tz) => {
            timestamp_literal(s * 1_000_000, tz.is_some())?
        }
        ScalarValue::IntervalMonthDayNano(Some(i)) => format!(
            "CAST({} AS INTERVAL)",
            quote(&format!(
                "{} months {} days {} microseconds",
                i.months,
                i.days,
                i.nanoseconds / 1000
            ))
        ),
        other => {
            return Err(SqlError::unsupported(format!(
                "parameters of type {} are not supported",
                other.data_type()
            )))
        }
    };
    parse_expr(&sql)
}

fn timestamp_literal(us: i64, tz: bool) -> SqlResult<String> {
    let dt = DateTime::from_timestamp_micros(us)
        .ok_or_else(|| SqlError::OutOfRange("timestamp out of range".into()))?;
    Ok(if tz {
        format!(
            "CAST({} AS TIMESTAMPTZ)",
            quote(&dt.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string())
        )
    } else {
        format!(
            "CAST({} AS TIMESTAMP)",
            quote(&dt.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string())
        )
    })
}

fn sql_type_name(dt: &DataType) -> Option<&'static str> {
    Some(match dt {
        DataType::Boolean => "BOOLEAN",
        DataType::Int16 => "SMALLINT",
        DataType::Int32 => "INTEGER",
        DataType::Int64 => "BIGINT",
        DataType::Float32 => "REAL",
        DataType::Float64 => "DOUBLE PRECISION",
        DataType::Utf8 => "TEXT",
        DataType::Date32 => "DATE",
        DataType::Binary => "BYTEA",
        DataType::Time64(_) => "TIME",
        DataType::Timestamp(_, None) => "TIMESTAMP",
        DataType::Timestamp(_, Some(_)) => "TIMESTAMPTZ",
        DataType::Interval(_) => "INTERVAL",
        DataType::Decimal128(_, _) => "NUMERIC",
        _ => return None,
    })
}

/// The result columns of a planned query as it will run: after the analyzer's type coercion,
/// which gives a set operation the common type of its branches (`int4 UNION ALL float8` is
/// float8; before coercion the union has its first branch's types). The plan's own schema
/// where there is no set operation, or where the analyzer cannot run yet (parameters it has
/// no types for).
fn analyzed_schema(s: &Session, plan: &LogicalPlan) -> SchemaRef {
    use datafusion::common::tree_node::TreeNode;
    // Only a set operation's schema changes under coercion: other plans skip the extra pass
    // (Describe runs on every Parse of an unnamed statement).
    let has_union = plan
        .exists(|node| Ok(matches!(node, LogicalPlan::Union(_))))
        .unwrap_or(true);
    if !has_union {
        return std::sync::Arc::new(plan.schema().as_arrow().clone());
    }
    let state = s.ctx.state();
    let analyzed =
        state
            .analyzer()
            .execute_and_check(plan.clone(), state.config().options(), |_, _| {});
    let schema = match &analyzed {
        Ok(analyzed) => analyzed.schema(),
        Err(_) => plan.schema(),
    };
    std::sync::Arc::new(schema.as_arrow().clone())
}

/// Describes a statement for the extended protocol: parameter types, result columns, and
/// (for plain queries) a logical plan to run with bound values.
pub async fn describe(
    s: &Session,
    stmt: &mut Statement,
    client_types: &[Option<DataType>],
) -> SqlResult<(
    Vec<Option<DataType>>,
    Option<SchemaRef>,
    Option<LogicalPlan>,
)> {
    if matches!(stmt, Statement::Prepare { .. }) {
        // `PREPARE … AS …`: its `$n` are the prepared statement's, not this one's.
        return Ok((vec![], None, None));
    }
    if let Some(crate::custom::Custom::Fetch {
        moves: false, name, ..
    }) = crate::custom::decode(stmt)
    {
        return Ok((vec![], s.cursor_schema(&name), None));
    }
    let n = count(stmt);
    let mut inferred: HashMap<usize, DataType> = cast_types(stmt);
    let mut schema = None;
    let mut plan_out = None;
    match stmt {
        Statement::Query(q) if crate::cte::runs_itself(q) => {
            schema = crate::cte::describe(s, (**q).clone()).await?;
        }
        Statement::Query(_) | Statement::Explain { .. } => match s.plan(stmt.clone()).await {
            Ok(plan) => {
                collect_plan_types(&plan, &mut inferred)?;
                // A parameter DataFusion cannot type from context takes the type the client
                // declared for it, as in PostgreSQL (`SELECT $1` bound as a boolean).
                let declared: HashMap<usize, DataType> = (1..=n)
                    .filter(|i| !inferred.contains_key(i))
                    .filter_map(|i| Some((i, client_types.get(i - 1).cloned().flatten()?)))
                    .collect();
                let plan = if declared.is_empty() {
                    plan
                } else {
                    cast_untyped_parameters(stmt, &declared);
                    inferred.extend(declared);
                    s.plan(stmt.clone()).await?
                };
                schema = Some(analyzed_schema(s, &plan));
                // A frame offset computed while planning (`ROWS (SELECT …) PRECEDING`) is
                // computed again at each execution: such a plan is not kept.
                if matches!(stmt, Statement::Query(_))
                    && crate::frame_offsets::offsets_to_compute(stmt).is_empty()
                {
                    plan_out = Some(plan);
                }
            }
            Err(e) if n > 0 => {
                // Parameters where DataFusion needs constants at planning time (arguments of
                // table functions): learn the result columns from a copy with stand-in values;
                // executions substitute the real values.
                let dummies: Vec<ScalarValue> = (1..=n)
                    .map(|i| {
                        let ty = inferred
                            .get(&i)
                            .cloned()
                            .or_else(|| client_types.get(i - 1).cloned().flatten());
                        ty.and_then(|t| {
                            ScalarValue::new_one(&t)
                                .or_else(|_| ScalarValue::new_zero(&t))
                                .ok()
                        })
                        .unwrap_or(ScalarValue::Int64(Some(1)))
                    })
                    .collect();
                let plan = match s.plan(substitute(stmt.clone(), &dummies)?).await {
                    Ok(p) => p,
                    Err(_) => return Err(e),
                };
                schema = Some(std::sync::Arc::new(plan.schema().as_arrow().clone()));
            }
            Err(e) => return Err(e),
        },
        Statement::Insert(ins) => {
            let catalog = s.engine().catalog();
            if let TableObject::TableName(name) = &ins.table {
                let def = resolve_table(&catalog, name, s.default_schema().as_deref())?;
                let targets: Vec<usize> = if ins.columns.is_empty() {
                    def.live_columns().map(|(i, _)| i).collect()
                } else {
                    ins.columns
                        .iter()
                        .filter_map(|c| {
                            def.column_position(&object_name_parts(c).pop().unwrap_or_default())
                        })
                        .collect()
                };
                if let Some(q) = &ins.source {
                    if let SetExpr::Values(values) = q.body.as_ref() {
                        for row in &values.rows {
                            for (j, e) in row.content.iter().enumerate() {
                                if let (Some(p), Some(&pos)) = (parameter_index(e), targets.get(j))
                                {
                                    inferred
                                        .entry(p)
                                        .or_insert_with(|| def.columns[pos].ty.to_arrow());
                                }
                            }
                        }
                    } else if n > 0 {
                        let plan = s.plan(Statement::Query(q.clone())).await?;
                        collect_plan_types(&plan, &mut inferred)?;
                    }
                }
                if let Some(items) = &ins.returning {
                    schema = Some(returning_schema(s, &def.qualified_name(), items).await?);
                }
            }
        }
        Statement::Update(upd) => {
            let table = upd.table.to_string();
            let catalog = s.engine().catalog();
            if let datafusion::sql::sqlparser::ast::TableFactor::Table { name, .. } =
                &upd.table.relation
            {
                if let Ok(def) = resolve_table(&catalog, name, s.default_schema().as_deref()) {
                    for a in &upd.assignments {
                        if let (
                            Some(p),
                            datafusion::sql::sqlparser::ast::AssignmentTarget::ColumnName(c),
                        ) = (parameter_index(&a.value), &a.target)
                        {
                            if let Some(pos) =
                                def.column_position(&object_name_parts(c).pop().unwrap_or_default())
                            {
                                inferred.insert(p, def.columns[pos].ty.to_arrow());
                            }
                        }
                    }
                    if let Some(items) = &upd.returning {
                        schema = Some(returning_schema(s, &def.qualified_name(), items).await?);
                    }
                }
            }
            let exprs: Vec<String> = upd
                .assignments
                .iter()
                .map(|a| format!("({})", a.value))
                .collect();
            let mut from = table;
            if let Some(
                datafusion::sql::sqlparser::ast::UpdateTableFromKind::AfterSet(t)
                | datafusion::sql::sqlparser::ast::UpdateTableFromKind::BeforeSet(t),
            ) = &upd.from
            {
                for x in t {
                    from.push_str(", ");
                    from.push_str(&x.to_string());
                }
            }
            infer_from_select(s, &exprs, &from, upd.selection.as_ref(), &mut inferred).await?;
        }
        Statement::Delete(del) => {
            let tables = match &del.from {
                datafusion::sql::sqlparser::ast::FromTable::WithFromKeyword(t)
                | datafusion::sql::sqlparser::ast::FromTable::WithoutKeyword(t) => t,
            };
            let mut from = tables
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            for t in del.using.iter().flatten() {
                from.push_str(", ");
                from.push_str(&t.to_string());
            }
            infer_from_select(s, &[], &from, del.selection.as_ref(), &mut inferred).await?;
            if let (Some(items), Some(t)) = (&del.returning, tables.first()) {
                schema = Some(returning_schema(s, &t.relation.to_string(), items).await?);
            }
        }
        _ => {}
    }
    let types = (1..=n)
        .map(|i| {
            inferred
                .get(&i)
                .cloned()
                .or_else(|| client_types.get(i - 1).cloned().flatten())
        })
        .collect();
    Ok((types, schema, plan_out))
}

/// Wraps each listed `$n` in a cast to its type.
fn cast_untyped_parameters(stmt: &mut Statement, types: &HashMap<usize, DataType>) {
    struct Wrap<'a>(&'a HashMap<usize, DataType>);
    impl VisitorMut for Wrap<'_> {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if let Some(i) = parameter_index(e) {
                if let Some(name) = self.0.get(&i).and_then(sql_type_name) {
                    if let Ok(cast) = parse_expr(&format!("CAST({e} AS {name})")) {
                        *e = cast;
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = VisitMut::visit(stmt, &mut Wrap(types));
}

/// `$1::int`: a parameter cast directly has the type it is cast to.
fn cast_types(stmt: &Statement) -> HashMap<usize, DataType> {
    struct Casts(HashMap<usize, DataType>);
    impl Visitor for Casts {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let Expr::Cast {
                expr, data_type, ..
            } = e
            {
                if let Some(i) = parameter_index(expr) {
                    if let Ok(ct) = crate::types::column_type(data_type) {
                        self.0.entry(i).or_insert_with(|| ct.ty.to_arrow());
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut v = Casts(HashMap::new());
    let _ = stmt.visit(&mut v);
    v.0
}

fn collect_plan_types(plan: &LogicalPlan, out: &mut HashMap<usize, DataType>) -> SqlResult<()> {
    for (name, ty) in plan.get_parameter_types()? {
        if let (Some(i), Some(ty)) = (name.strip_prefix('$').and_then(|n| n.parse().ok()), ty) {
            out.entry(i).or_insert(ty);
        }
    }
    Ok(())
}

async fn infer_from_select(
    s: &Session,
    exprs: &[String],
    from: &str,
    selection: Option<&Expr>,
    out: &mut HashMap<usize, DataType>,
) -> SqlResult<()> {
    let projection = if exprs.is_empty() {
        "1".to_owned()
    } else {
        exprs
            .iter()
            .enumerate()
            .map(|(i, e)| format!("{e} AS \"__p{i}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut sql = format!("SELECT {projection} FROM {from}");
    if let Some(w) = selection {
        sql.push_str(&format!(" WHERE {w}"));
    }
    let Some(mut stmt) = parse_sql(&sql)?.pop() else {
        return Ok(());
    };
    crate::rewrite::rewrite(&mut stmt)?;
    // Inference is best effort: a statement DataFusion cannot type this way still runs.
    if let Ok(plan) = s.plan(stmt).await {
        collect_plan_types(&plan, out)?;
    }
    Ok(())
}

pub(crate) async fn returning_schema(
    s: &Session,
    table: &str,
    items: &[datafusion::sql::sqlparser::ast::SelectItem],
) -> SqlResult<SchemaRef> {
    let list = items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("SELECT {list} FROM {table} WHERE false");
    let mut stmt = parse_sql(&sql)?
        .pop()
        .ok_or_else(|| SqlError::Internal("empty RETURNING".into()))?;
    // As the statement itself reads its RETURNING list: `t.*` over `FROM s.t`, …
    crate::rewrite::rewrite(&mut stmt)?;
    let plan = s.plan(stmt).await?;
    Ok(std::sync::Arc::new(plan.schema().as_arrow().clone()))
}
