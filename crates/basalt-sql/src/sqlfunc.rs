//! User-defined SQL functions: `CREATE FUNCTION … LANGUAGE sql`, kept in the catalog and
//! inlined where they are called, as PostgreSQL inlines simple SQL functions.
//!
//! A call `f(a, b)` becomes the function's body with its parameters (`$1`, or their names)
//! replaced by the arguments cast to the declared types, and the result cast to the return
//! type: `SELECT expr` without FROM is inlined as `expr`; any other body as the scalar
//! subquery of its first row. A STRICT function is NULL when an argument is NULL. A function
//! returning SETOF is a derived table where it is called in FROM. Other languages (PL/pgSQL,
//! C) are refused with SQLSTATE 0A000.

use std::cell::RefCell;
use std::ops::ControlFlow;

use basalt_storage::catalog::{Catalog, FunctionArgDef, FunctionDef};
use datafusion::sql::sqlparser::ast::{
    CreateFunction, CreateFunctionBody, DropFunction, Expr, FunctionArg, FunctionArgExpr,
    FunctionArgOperator, FunctionArguments, FunctionBehavior, FunctionCalledOnNull,
    FunctionReturnType, Ident, LimitClause, ObjectName, Query, SetExpr, Statement, TableAlias,
    TableFactor, Value, VisitMut, VisitorMut,
};

use crate::error::{SqlError, SqlResult};
use crate::session::{Output, Session};

/// How deep inlined functions may call other functions (a function that calls itself
/// would inline forever).
const MAX_DEPTH: usize = 8;

fn invalid_definition(message: impl Into<String>) -> SqlError {
    SqlError::Detailed {
        sqlstate: "42P13",
        message: message.into(),
        detail: String::new(),
        hint: None,
    }
}

/// PostgreSQL's name of a declared type (`integer`, `text`), used to tell overloads apart
/// and in messages; types Basalt cannot store keep their written form.
fn type_name(dt: &datafusion::sql::sqlparser::ast::DataType) -> String {
    match crate::types::column_type(dt) {
        Ok(t) => t.ty.pg_name(),
        Err(_) => dt.to_string().to_lowercase(),
    }
}

fn signature(name: &str, types: &[String]) -> String {
    format!("{name}({})", types.join(", "))
}

pub async fn create_function(s: &mut Session, cf: CreateFunction) -> SqlResult<Output> {
    let language = cf.language.as_ref().map(|l| l.value.to_lowercase());
    match language.as_deref() {
        Some("sql" | "plpgsql") => {}
        None => return Err(invalid_definition("no language specified")),
        Some(other) => {
            return Err(SqlError::unsupported(format!(
                "language \"{other}\" is not supported: Basalt runs functions written in \
                 LANGUAGE sql, and trigger functions in plpgsql"
            )))
        }
    }
    let (returns, returns_set) = match &cf.return_type {
        // RETURNS TABLE (a int, …): a set of rows with those columns.
        Some(FunctionReturnType::DataType(
            t @ datafusion::sql::sqlparser::ast::DataType::Table(Some(_)),
        )) => (t.clone(), true),
        Some(FunctionReturnType::DataType(t)) => (t.clone(), false),
        Some(FunctionReturnType::SetOf(t)) => (t.clone(), true),
        None => return Err(invalid_definition("function result type must be specified")),
    };
    let body_sql =
        match &cf.function_body {
            Some(CreateFunctionBody::AsBeforeOptions { body, .. })
            | Some(CreateFunctionBody::AsAfterOptions(body)) => match body {
                Expr::Value(v) => match &v.value {
                    Value::SingleQuotedString(t) | Value::EscapedStringLiteral(t) => t.clone(),
                    Value::DollarQuotedString(d) => d.value.clone(),
                    _ => return Err(invalid_definition("function body must be a string")),
                },
                _ => return Err(invalid_definition("function body must be a string")),
            },
            Some(CreateFunctionBody::Return(e)) | Some(CreateFunctionBody::AsReturnExpr(e)) => {
                format!("SELECT {e}")
            }
            _ => return Err(SqlError::unsupported(
                "this form of function body is not supported: write AS 'SELECT …' or RETURN expr",
            )),
        };
    let (schema, name) = crate::ddl::qualified(&cf.name, s.default_schema().as_deref())?;
    let mut args = Vec::new();
    for a in cf.args.iter().flatten() {
        if a.mode
            .as_ref()
            .is_some_and(|m| !matches!(m, datafusion::sql::sqlparser::ast::ArgMode::In))
        {
            return Err(SqlError::unsupported(
                "OUT and INOUT parameters are not supported",
            ));
        }
        args.push(FunctionArgDef {
            name: a.name.as_ref().map(crate::ddl::ident),
            ty: a.data_type.to_string(),
            type_name: type_name(&a.data_type),
            default: a.default_expr.as_ref().map(|d| d.to_string()),
        });
    }
    let strict = matches!(
        cf.called_on_null,
        Some(FunctionCalledOnNull::Strict | FunctionCalledOnNull::ReturnsNullOnNullInput)
    );
    let volatile = !matches!(
        cf.behavior,
        Some(FunctionBehavior::Immutable | FunctionBehavior::Stable)
    );
    let stable = matches!(cf.behavior, Some(FunctionBehavior::Stable));
    if language.as_deref() == Some("plpgsql") {
        let def = FunctionDef {
            oid: 0,
            schema,
            name,
            args,
            returns: returns.to_string(),
            returns_set,
            body: body_sql,
            language: Some("plpgsql".into()),
            strict,
            volatile,
            stable,
        };
        return create_plpgsql(s, def, cf.or_replace).await;
    }
    let mut statements = crate::session::parse_sql(body_sql.trim().trim_end_matches(';'))?;
    let query = match (statements.pop(), statements.is_empty()) {
        (Some(Statement::Query(q)), true) => q,
        (Some(_), true) => {
            return Err(SqlError::unsupported(
                "SQL function bodies other than one SELECT or VALUES are not supported",
            ))
        }
        (None, _) => {
            return Err(invalid_definition(
                "return type mismatch in function declared to return a value",
            ))
        }
        (Some(_), false) => {
            return Err(SqlError::unsupported(
                "SQL function bodies of several statements are not supported",
            ))
        }
    };
    let def = FunctionDef {
        oid: 0,
        schema: schema.clone(),
        name: name.clone(),
        args,
        returns: returns.to_string(),
        returns_set,
        body: query.to_string(),
        language: None,
        strict,
        volatile,
        stable,
    };
    // PostgreSQL checks the body when the function is created: it must plan with
    // parameters of the declared types.
    let probe_args: Vec<Expr> = def
        .args
        .iter()
        .map(|a| crate::eval::parse_expr(&format!("CAST(NULL AS {})", a.ty)))
        .collect::<SqlResult<_>>()?;
    let mut probe = table_columns(
        &def,
        substitute(&def, &probe_args, &rewritten(*query.clone())?)?,
    )?;
    let catalog = s.engine().catalog();
    let plpgsql = RefCell::new(Vec::new());
    inline_query(
        &mut probe,
        &catalog,
        s.default_schema().as_deref(),
        0,
        &plpgsql,
    )?;
    s.register_plpgsql(&plpgsql.into_inner())?;
    s.plan(Statement::Query(Box::new(probe))).await?;
    save(s, def, cf.or_replace).await
}

/// Adds a function to the catalog (or replaces the overload with its argument types).
async fn save(s: &mut Session, def: FunctionDef, or_replace: bool) -> SqlResult<Output> {
    let (schema, name) = (def.schema.clone(), def.name.clone());
    let types: Vec<String> = def.args.iter().map(|a| a.type_name.clone()).collect();
    s.engine()
        .ddl(|c: &mut Catalog| {
            if !c.schemas.contains_key(&schema) {
                return Err(SqlError::UndefinedSchema(schema.clone()));
            }
            let key = format!("{schema}.{name}");
            let existing = c
                .functions
                .get(&key)
                .and_then(|v| v.iter().position(|f| f.arg_types() == types));
            let mut def = def;
            match existing {
                Some(_) if !or_replace => {
                    return Err(SqlError::Detailed {
                        sqlstate: "42723",
                        message: format!(
                            "function \"{name}\" already exists with same argument types"
                        ),
                        detail: String::new(),
                        hint: None,
                    })
                }
                Some(i) => {
                    let list = c.functions.entry(key).or_default();
                    def.oid = list[i].oid;
                    list[i] = def;
                }
                None => {
                    def.oid = c.allocate_oid();
                    c.functions.entry(key).or_default().push(def);
                }
            }
            Ok::<_, SqlError>(vec![])
        })
        .await?;
    Ok(Output::Command("CREATE FUNCTION".into()))
}

/// `CREATE FUNCTION … LANGUAGE plpgsql`: the body is read (and refused with 0A000 where it
/// uses PL/pgSQL Basalt does not run) and kept, for the triggers that run it or, for a
/// function that returns a value, for the queries that call it ([`crate::plcall`]).
async fn create_plpgsql(s: &mut Session, def: FunctionDef, or_replace: bool) -> SqlResult<Output> {
    let body = crate::plpgsql::parse(&def.body)?;
    if def.returns.eq_ignore_ascii_case("trigger") {
        if def.returns_set {
            return Err(invalid_definition("a trigger function cannot return a set"));
        }
        if !def.args.is_empty() {
            return Err(invalid_definition(
                "trigger functions cannot have declared arguments",
            ));
        }
        return save(s, def, or_replace).await;
    }
    if def.returns_set {
        return Err(SqlError::unsupported(
            "PL/pgSQL functions returning SETOF are not supported: write the function in \
             LANGUAGE sql",
        ));
    }
    for a in &def.args {
        crate::plpgsql::declared_type(&a.ty)?;
    }
    crate::plpgsql::declared_type(&def.returns)?;
    body.check_function_returns()?;
    save(s, def, or_replace).await
}

pub async fn drop_function(s: &mut Session, df: DropFunction) -> SqlResult<Output> {
    let default_schema = s.default_schema();
    let mut targets = Vec::new();
    let catalog = s.engine().catalog();
    for desc in &df.func_desc {
        let (schema, name) = crate::ddl::qualified(&desc.name, default_schema.as_deref())?;
        let key = format!("{schema}.{name}");
        let overloads = catalog
            .functions
            .get(&key)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let found = match &desc.args {
            Some(args) => {
                let types: Vec<String> = args.iter().map(|a| type_name(&a.data_type)).collect();
                match overloads.iter().find(|f| f.arg_types() == types) {
                    Some(f) => Some(f.arg_types()),
                    None if df.if_exists => {
                        s.notice(
                            "NOTICE",
                            "00000",
                            format!(
                                "function {} does not exist, skipping",
                                signature(&name, &types)
                            ),
                        );
                        None
                    }
                    None => {
                        return Err(SqlError::UndefinedFunction(format!(
                            "function {} does not exist",
                            signature(&name, &types)
                        )))
                    }
                }
            }
            None => match overloads {
                [f] => Some(f.arg_types()),
                [] if df.if_exists => {
                    s.notice(
                        "NOTICE",
                        "00000",
                        format!("function {name}() does not exist, skipping"),
                    );
                    None
                }
                [] => {
                    return Err(SqlError::UndefinedFunction(format!(
                        "could not find a function named \"{name}\""
                    )))
                }
                _ => {
                    return Err(SqlError::Detailed {
                        sqlstate: "42725",
                        message: format!("function name \"{name}\" is not unique"),
                        detail: String::new(),
                        hint: Some(
                            "Specify the argument list to select the function unambiguously."
                                .into(),
                        ),
                    })
                }
            },
        };
        if let Some(types) = found {
            targets.push((key, types));
        }
    }
    let cascade = matches!(
        df.drop_behavior,
        Some(datafusion::sql::sqlparser::ast::DropBehavior::Cascade)
    );
    // A function that triggers run is dropped with them only under CASCADE.
    for (key, _) in &targets {
        let users = crate::trigger::users_of(&catalog, key);
        if cascade {
            for (trigger, table) in &users {
                s.notice(
                    "NOTICE",
                    "00000",
                    format!("drop cascades to trigger {trigger} on table {table}"),
                );
            }
        } else if let Some((trigger, table)) = users.first() {
            let name = key.rsplit('.').next().unwrap_or(key);
            return Err(SqlError::Detailed {
                sqlstate: "2BP01",
                message: format!(
                    "cannot drop function {name}() because other objects depend on it"
                ),
                detail: format!("trigger {trigger} on table {table} depends on function {name}()"),
                hint: Some("Use DROP ... CASCADE to drop the dependent objects too.".into()),
            });
        }
    }
    if !targets.is_empty() {
        s.engine()
            .ddl(|c: &mut Catalog| {
                if cascade {
                    for (key, _) in &targets {
                        for t in c.tables.values_mut() {
                            t.triggers.retain(|x| &x.function != key);
                        }
                    }
                }
                for (key, types) in &targets {
                    // As in PostgreSQL, the operator classes that call it lose it.
                    for class in c.opclasses.values_mut() {
                        class.functions.retain(|f| {
                            format!("{}.{}", f.schema, f.name) != *key || f.arg_types != *types
                        });
                    }
                    if let Some(list) = c.functions.get_mut(key) {
                        list.retain(|f| &f.arg_types() != types);
                        if list.is_empty() {
                            c.functions.remove(key);
                        }
                    }
                }
                Ok::<_, SqlError>(vec![])
            })
            .await?;
    }
    Ok(Output::Command("DROP FUNCTION".into()))
}

/// Inlines the calls of user SQL functions in a statement (nothing to do when there are
/// none, the common case).
///
/// Calls of PL/pgSQL functions become calls of the scalar functions that run them
/// ([`crate::plcall`]); the functions returned are the ones the statement calls, for the
/// caller to register.
pub fn inline(
    stmt: &mut Statement,
    catalog: &Catalog,
    default_schema: Option<&str>,
) -> SqlResult<Vec<FunctionDef>> {
    if catalog.functions.is_empty()
        || matches!(
            stmt,
            Statement::CreateFunction(_) | Statement::DropFunction(_)
        )
    {
        return Ok(vec![]);
    }
    let plpgsql = RefCell::new(Vec::new());
    let mut v = Inliner {
        catalog,
        default_schema,
        depth: 0,
        plpgsql: &plpgsql,
        error: None,
    };
    let _ = stmt.visit(&mut v);
    v.error.map_or(Ok(plpgsql.into_inner()), Err)
}

fn inline_query(
    q: &mut Query,
    catalog: &Catalog,
    default_schema: Option<&str>,
    depth: usize,
    plpgsql: &RefCell<Vec<FunctionDef>>,
) -> SqlResult<()> {
    if depth > MAX_DEPTH {
        return Err(SqlError::Detailed {
            sqlstate: "54001",
            message: "stack depth limit exceeded".into(),
            detail: String::new(),
            hint: Some("SQL functions calling each other without end cannot be inlined.".into()),
        });
    }
    let mut v = Inliner {
        catalog,
        default_schema,
        depth,
        plpgsql,
        error: None,
    };
    let _ = q.visit(&mut v);
    v.error.map_or(Ok(()), Err)
}

struct Inliner<'a> {
    catalog: &'a Catalog,
    default_schema: Option<&'a str>,
    depth: usize,
    /// The PL/pgSQL functions called so far.
    plpgsql: &'a RefCell<Vec<FunctionDef>>,
    error: Option<SqlError>,
}

impl Inliner<'_> {
    /// Puts the inlined form in place of `target`, or stops the walk with the error.
    fn replace<T>(&mut self, target: &mut T, result: SqlResult<Option<T>>) -> ControlFlow<()> {
        crate::error::replace_or_stop(target, result, &mut self.error)
    }

    /// The user function a call names, with its arguments in declaration order (defaults
    /// filled in); `None` when the name is not a user function.
    fn resolve(
        &self,
        name: &ObjectName,
        args: &[FunctionArg],
    ) -> SqlResult<Option<(&FunctionDef, Vec<Expr>)>> {
        let parts = crate::session::object_name_parts(name);
        let key = match parts.as_slice() {
            [n] => format!("{}.{n}", self.default_schema.unwrap_or("public")),
            [s, n] => format!("{s}.{n}"),
            _ => return Ok(None),
        };
        let Some(overloads) = self.catalog.functions.get(&key) else {
            return Ok(None);
        };
        let fits = |f: &FunctionDef| {
            let required = f.args.iter().filter(|a| a.default.is_none()).count();
            args.len() >= required && args.len() <= f.args.len()
        };
        let candidates: Vec<&FunctionDef> = overloads.iter().filter(|f| fits(f)).collect();
        let f = match candidates.as_slice() {
            [f] => *f,
            [] => return Ok(None),
            _ => {
                return Err(SqlError::Detailed {
                    sqlstate: "42725",
                    message: format!(
                        "function {} is not unique",
                        signature(parts.last().map_or("", String::as_str), &[])
                    ),
                    detail: String::new(),
                    hint: Some(
                        "Basalt tells overloaded SQL functions apart by their number of arguments only."
                            .into(),
                    ),
                })
            }
        };
        if f.returns.eq_ignore_ascii_case("trigger") {
            return Err(SqlError::unsupported(
                "trigger functions can only be called as triggers",
            ));
        }
        let mut given: Vec<Option<Expr>> = vec![None; f.args.len()];
        for (i, a) in args.iter().enumerate() {
            let (slot, e) = match a {
                // `name := value` (PostgreSQL's older spelling of `name => value`).
                FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::BinaryOp {
                    left,
                    op: datafusion::sql::sqlparser::ast::BinaryOperator::Assignment,
                    right,
                })) => {
                    let Expr::Identifier(n) = left.as_ref() else {
                        return Ok(None);
                    };
                    let Some(slot) = f.parameter(n) else {
                        return Ok(None);
                    };
                    (slot, right.as_ref())
                }
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => (i, e),
                FunctionArg::Named {
                    name: n,
                    arg: FunctionArgExpr::Expr(e),
                    operator: FunctionArgOperator::RightArrow | FunctionArgOperator::Assignment,
                }
                | FunctionArg::ExprNamed {
                    name: Expr::Identifier(n),
                    arg: FunctionArgExpr::Expr(e),
                    operator: FunctionArgOperator::RightArrow | FunctionArgOperator::Assignment,
                } => {
                    let Some(slot) = f.parameter(n) else {
                        return Ok(None);
                    };
                    (slot, e)
                }
                _ => return Ok(None),
            };
            given[slot] = Some(e.clone());
        }
        let mut out = Vec::with_capacity(f.args.len());
        for (g, a) in given.into_iter().zip(&f.args) {
            match (g, &a.default) {
                (Some(e), _) => out.push(e),
                (None, Some(d)) => out.push(crate::eval::parse_expr(d)?),
                (None, None) => return Ok(None),
            }
        }
        Ok(Some((f, out)))
    }

    fn expand(&self, f: &FunctionDef, args: &[Expr]) -> SqlResult<Query> {
        let query = match crate::session::parse_sql(&f.body)?.pop() {
            Some(Statement::Query(q)) => rewritten(*q)?,
            _ => return Err(SqlError::Internal(format!("stored body of {}", f.name))),
        };
        let mut q = substitute(f, args, &query)?;
        inline_query(
            &mut q,
            self.catalog,
            self.default_schema,
            self.depth + 1,
            self.plpgsql,
        )?;
        Ok(q)
    }

    fn call(&self, f: &FunctionDef, args: &[Expr]) -> SqlResult<Expr> {
        if f.returns_set {
            return Err(SqlError::unsupported(format!(
                "set-returning function {}() can only be called in FROM in Basalt",
                f.name
            )));
        }
        if f.language.is_some() {
            let cast: Vec<String> = args
                .iter()
                .zip(&f.args)
                .map(|(e, a)| format!("CAST(({e}) AS {})", a.ty))
                .collect();
            let mut used = self.plpgsql.borrow_mut();
            if !used.iter().any(|u| u.oid == f.oid) {
                used.push(f.clone());
            }
            return crate::eval::parse_expr(&format!(
                "{}({})",
                crate::plcall::udf_name(f),
                cast.join(", ")
            ));
        }
        let q = self.expand(f, args)?;
        let value = match simple_expression(&q) {
            Some(e) => format!("({e})"),
            None => {
                let mut q = q;
                if q.limit_clause.is_none() && q.fetch.is_none() {
                    q.limit_clause = Some(LimitClause::LimitOffset {
                        limit: Some(Expr::value(Value::Number("1".into(), false))),
                        offset: None,
                        limit_by: vec![],
                    });
                }
                format!("({q})")
            }
        };
        let value = format!("CAST({value} AS {})", f.returns);
        let sql = if f.strict && !args.is_empty() {
            let nulls: Vec<String> = args.iter().map(|a| format!("({a}) IS NULL")).collect();
            format!(
                "CASE WHEN {} THEN NULL ELSE {value} END",
                nulls.join(" OR ")
            )
        } else {
            value
        };
        crate::eval::parse_expr(&sql)
    }
}

impl VisitorMut for Inliner<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        let Expr::Function(func) = e else {
            return ControlFlow::Continue(());
        };
        if func.over.is_some() || func.filter.is_some() || !func.within_group.is_empty() {
            return ControlFlow::Continue(());
        }
        let args = match &func.args {
            FunctionArguments::List(l)
                if l.duplicate_treatment.is_none() && l.clauses.is_empty() =>
            {
                l.args.clone()
            }
            FunctionArguments::None => vec![],
            _ => return ControlFlow::Continue(()),
        };
        let result = self
            .resolve(&func.name, &args)
            .and_then(|found| found.map(|(f, args)| self.call(f, &args)).transpose());
        self.replace(e, result)
    }

    fn post_visit_table_factor(&mut self, t: &mut TableFactor) -> ControlFlow<()> {
        // `FROM f(…)`, or `FROM …, LATERAL f(…)` (whose arguments read earlier items).
        let (name, args, alias, lateral) = match t {
            // WITH ORDINALITY is left to fail as an unknown table function, not dropped.
            TableFactor::Table {
                name,
                args: Some(args),
                alias,
                with_ordinality: false,
                ..
            } => (name, &args.args, alias, false),
            TableFactor::Function {
                lateral,
                name,
                args,
                alias,
                with_ordinality: false,
            } => (name, &*args, alias, *lateral),
            _ => return ControlFlow::Continue(()),
        };
        let result = self.resolve(name, args).and_then(|found| {
            let Some((f, call_args)) = found else {
                return Ok(None);
            };
            let function = f.name.clone();
            let subquery = if f.returns_set {
                let mut q = table_columns(f, self.expand(f, &call_args)?)?;
                if f.strict && !call_args.is_empty() {
                    let nulls: Vec<String> =
                        call_args.iter().map(|a| format!("({a}) IS NULL")).collect();
                    q = match crate::session::parse_sql(&format!(
                        "SELECT * FROM ({q}) AS __basalt_srf WHERE NOT ({})",
                        nulls.join(" OR ")
                    ))?
                    .pop()
                    {
                        Some(Statement::Query(q)) => *q,
                        _ => return Ok(None),
                    };
                }
                q
            } else {
                let value = self.call(f, &call_args)?;
                match crate::session::parse_sql(&format!(
                    "SELECT {value} AS {}",
                    crate::eval::quote_ident(&function)
                ))?
                .pop()
                {
                    Some(Statement::Query(q)) => *q,
                    _ => return Ok(None),
                }
            };
            let mut alias = alias.clone().unwrap_or(TableAlias {
                name: Ident::new(&function),
                columns: vec![],
                explicit: true,
                at: None,
            });
            // A RETURNS TABLE function keeps its columns' names under an alias (the column
            // name an alias gives a scalar function's result does not apply).
            let table = f.returns.starts_with("TABLE(");
            if table && alias.columns.len() == 1 && alias.columns[0].name == alias.name {
                alias.columns.clear();
            }
            // A function returning a scalar names its one column after the alias.
            if !table && alias.columns.is_empty() && simple_columns(&subquery) == 1 {
                alias
                    .columns
                    .push(datafusion::sql::sqlparser::ast::TableAliasColumnDef {
                        name: alias.name.clone(),
                        data_type: None,
                    });
            }
            Ok(Some(TableFactor::Derived {
                lateral,
                subquery: Box::new(subquery),
                alias: Some(alias),
                sample: None,
            }))
        });
        self.replace(t, result)
    }
}

trait Parameters {
    /// The position of the parameter a call names.
    fn parameter(&self, name: &Ident) -> Option<usize>;
}

impl Parameters for FunctionDef {
    fn parameter(&self, name: &Ident) -> Option<usize> {
        let wanted = crate::ddl::ident(name);
        self.args
            .iter()
            .position(|p| p.name.as_deref() == Some(wanted.as_str()))
    }
}

/// The number of output columns of a query written as one SELECT or VALUES (0 when it is
/// not known from the text alone).
fn simple_columns(q: &Query) -> usize {
    match q.body.as_ref() {
        SetExpr::Select(s)
            if !s.projection.iter().any(|p| {
                matches!(
                    p,
                    datafusion::sql::sqlparser::ast::SelectItem::Wildcard(_)
                        | datafusion::sql::sqlparser::ast::SelectItem::QualifiedWildcard(..)
                )
            }) =>
        {
            s.projection.len()
        }
        SetExpr::Values(v) => v.rows.first().map_or(0, |r| r.content.len()),
        _ => 0,
    }
}

/// `SELECT expr` with nothing else: the expression itself.
fn simple_expression(q: &Query) -> Option<&Expr> {
    if q.with.is_some() || q.order_by.is_some() || q.limit_clause.is_some() || q.fetch.is_some() {
        return None;
    }
    let SetExpr::Select(s) = q.body.as_ref() else {
        return None;
    };
    let plain = s.from.is_empty()
        && s.selection.is_none()
        && s.having.is_none()
        && s.distinct.is_none()
        && matches!(&s.group_by, datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(g, _) if g.is_empty());
    match s.projection.as_slice() {
        [datafusion::sql::sqlparser::ast::SelectItem::UnnamedExpr(e)]
        | [datafusion::sql::sqlparser::ast::SelectItem::ExprWithAlias { expr: e, .. }]
            if plain =>
        {
            Some(e)
        }
        _ => None,
    }
}

/// The body with its parameters (`$n`, a parameter's name, or `function.name`) replaced by
/// the arguments, each cast to its declared type.
/// The rows of a `RETURNS TABLE (a int, …)` function under its declared column names and
/// types (other functions' rows as they are).
fn table_columns(f: &FunctionDef, rows: Query) -> SqlResult<Query> {
    use datafusion::sql::sqlparser::ast::{CreateTable, DataType};
    let Some(inner) = f
        .returns
        .strip_prefix("TABLE(")
        .and_then(|r| r.strip_suffix(')'))
    else {
        return setof_rows(f, rows);
    };
    let columns = match crate::session::parse_sql(&format!("CREATE TABLE t ({inner})"))?.pop() {
        Some(Statement::CreateTable(CreateTable { columns, .. })) => columns,
        _ => return Err(SqlError::Internal(format!("result columns of {}", f.name))),
    };
    let written = simple_columns(&rows);
    if written != 0 && written != columns.len() {
        let (returns, detail) = match columns.as_slice() {
            [one] => (
                type_name(&one.data_type),
                "Final statement must return exactly one column.".to_owned(),
            ),
            _ => (
                "record".to_owned(),
                format!(
                    "Final statement returns too {} columns.",
                    if written > columns.len() {
                        "many"
                    } else {
                        "few"
                    }
                ),
            ),
        };
        return Err(SqlError::Detailed {
            sqlstate: "42P13",
            message: format!("return type mismatch in function declared to return {returns}"),
            detail,
            hint: None,
        });
    }
    // The rows' own column names must be unique to plan; the table renames them anyway.
    let mut rows = rows;
    crate::rewrite::name_query_columns(&mut rows);
    let outputs: Vec<String> = (1..=columns.len()).map(|i| format!("__c{i}")).collect();
    let select: Vec<String> = columns
        .iter()
        .zip(&outputs)
        .map(|(c, out)| {
            let ty = match &c.data_type {
                DataType::Unspecified => return out.clone(),
                t => t.to_string(),
            };
            format!(
                "CAST({out} AS {ty}) AS {}",
                crate::eval::quote_ident(&crate::ddl::ident(&c.name))
            )
        })
        .collect();
    let sql = format!(
        "SELECT {} FROM ({rows}) AS __basalt_table({})",
        select.join(", "),
        outputs.join(", ")
    );
    match crate::session::parse_sql(&sql)?.pop() {
        Some(Statement::Query(q)) => Ok(*q),
        _ => Err(SqlError::Internal(format!("result columns of {}", f.name))),
    }
}

/// The rows of a `RETURNS SETOF type` function whose body gives one column, cast to that
/// type (a body `VALUES (1), (2)` is `integer`, the rows of `SETOF bigint` are `bigint`).
fn setof_rows(f: &FunctionDef, rows: Query) -> SqlResult<Query> {
    let scalar = crate::eval::parse_expr(&format!("CAST(NULL AS {})", f.returns))
        .ok()
        .and_then(|e| match e {
            Expr::Cast { data_type, .. } => crate::types::column_type(&data_type).ok(),
            _ => None,
        });
    if !f.returns_set || scalar.is_none() || simple_columns(&rows) != 1 {
        return Ok(rows);
    }
    let sql = format!(
        "SELECT CAST(__c1 AS {}) AS {} FROM ({rows}) AS __basalt_setof(__c1)",
        f.returns,
        crate::eval::quote_ident(&f.name)
    );
    match crate::session::parse_sql(&sql)?.pop() {
        Some(Statement::Query(q)) => Ok(*q),
        _ => Err(SqlError::Internal(format!("result column of {}", f.name))),
    }
}

/// A function body with the rewrites a statement gets before planning (PostgreSQL's forms
/// DataFusion does not read: `FROM generate_series(…) g` naming its column `g`, …), which
/// ran on the calling statement before the body was inlined into it.
fn rewritten(body: Query) -> SqlResult<Query> {
    let mut stmt = Statement::Query(Box::new(body));
    crate::rewrite::rewrite(&mut stmt)?;
    match stmt {
        Statement::Query(q) => Ok(*q),
        _ => Err(SqlError::Internal("a rewritten query is a query".into())),
    }
}

fn substitute(f: &FunctionDef, args: &[Expr], body: &Query) -> SqlResult<Query> {
    let typed: Vec<Expr> = args
        .iter()
        .zip(&f.args)
        .map(|(a, p)| crate::eval::parse_expr(&format!("CAST(({a}) AS {})", p.ty)))
        .collect::<SqlResult<_>>()?;
    struct Params<'a> {
        f: &'a FunctionDef,
        typed: &'a [Expr],
    }
    impl Params<'_> {
        fn by_name(&self, name: &str) -> Option<Expr> {
            let i = self
                .f
                .args
                .iter()
                .position(|p| p.name.as_deref() == Some(name))?;
            self.typed.get(i).cloned()
        }
    }
    impl VisitorMut for Params<'_> {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            let new = match &*e {
                Expr::Value(v) => match &v.value {
                    Value::Placeholder(p) => p
                        .strip_prefix('$')
                        .and_then(|n| n.parse::<usize>().ok())
                        .and_then(|n| n.checked_sub(1))
                        .and_then(|i| self.typed.get(i).cloned()),
                    _ => None,
                },
                Expr::Identifier(id) => self.by_name(&crate::ddl::ident(id)),
                Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
                    if crate::ddl::ident(&parts[0]) == self.f.name {
                        self.by_name(&crate::ddl::ident(&parts[1]))
                    } else {
                        None
                    }
                }
                _ => None,
            };
            if let Some(new) = new {
                *e = Expr::Nested(Box::new(new));
            }
            ControlFlow::Continue(())
        }
    }
    let mut q = body.clone();
    let _ = q.visit(&mut Params { f, typed: &typed });
    Ok(q)
}
