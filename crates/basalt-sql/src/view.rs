//! Views: CREATE VIEW, DROP VIEW, and reading a view.
//!
//! A view is its query as SQL text in the catalog ([`ViewDef`]). Each statement that reads
//! it plans the text again with the session's planner and inlines the plan (DataFusion's
//! `ViewTable`), so a view always shows its tables' current columns and the statement's own
//! snapshot, like any other relation in the statement. Views are read-only: INSERT, UPDATE
//! and DELETE on a view are refused, as PostgreSQL refuses them on views it cannot update
//! automatically.

use std::sync::{Arc, Weak};

use basalt_common::SqlType;
use basalt_storage::ColumnDef;
use basalt_storage::{Catalog, ViewDef};
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::TableProvider;
use datafusion::common::Result as DfResult;
use datafusion::config::Dialect;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::sql::sqlparser::ast::{CreateView, Ident, ObjectName, ObjectNamePart, Statement};
use parking_lot::RwLock;

use crate::ddl::qualified;
use crate::error::{SqlError, SqlResult};
use crate::session::{Output, Session};

/// Where a schema provider plans the views it is asked for: the session's own state.
pub type PlannerRef = Weak<RwLock<SessionState>>;

/// A view as a table provider: its query planned now, with the session's state.
pub async fn view_table(planner: &PlannerRef, def: &ViewDef) -> DfResult<Arc<dyn TableProvider>> {
    let plan = view_plan(planner, def).await?;
    Ok(Arc::new(ViewTable::new(plan, Some(def.query.clone()))))
}

/// One column of a view, as the catalogs describe it.
pub struct ViewColumn {
    pub name: String,
    pub ty: SqlType,
    /// The table column the view shows unchanged, if it is one: its declared type is the
    /// view column's (`varchar(20)`, not the text Arrow holds).
    pub source: Option<ColumnDef>,
    /// Whether the column can hold NULL: a table's NOT NULL column read without an outer
    /// join in between cannot.
    pub nullable: bool,
}

impl ViewColumn {
    /// The column's SQL type, declared where the view shows a table column unchanged.
    pub fn declared_type(&self) -> &SqlType {
        self.source.as_ref().map_or(&self.ty, |c| &c.ty)
    }
}

/// Each view with its columns as its query plans now, for the catalogs that list them. A
/// view whose query no longer plans (a table it reads was changed under it) is listed with
/// no columns.
pub async fn planned_views<'a>(
    planner: &PlannerRef,
    views: Vec<&'a ViewDef>,
) -> Vec<(&'a ViewDef, Vec<ViewColumn>)> {
    // A view that reads the catalogs plans them, and so the views, again: there the views
    // are listed without columns (a view's columns do not depend on the catalogs' rows).
    if LISTING_VIEWS.try_with(|_| ()).is_ok() {
        return views.into_iter().map(|v| (v, vec![])).collect();
    }
    LISTING_VIEWS.scope((), plan_views(planner, views)).await
}

tokio::task_local! {
    /// Set while [`planned_views`] plans views for the catalogs.
    static LISTING_VIEWS: ();
}

async fn plan_views<'a>(
    planner: &PlannerRef,
    views: Vec<&'a ViewDef>,
) -> Vec<(&'a ViewDef, Vec<ViewColumn>)> {
    let mut out = Vec::new();
    for def in views {
        let Ok(plan) = view_plan(planner, def).await else {
            out.push((def, vec![]));
            continue;
        };
        let columns = plan
            .schema()
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let source = column_source(&plan, i);
                let ty = match SqlType::from_arrow(f.data_type()) {
                    // A computed numeric has no declared precision (Arrow's is its own).
                    Some(SqlType::Numeric { .. }) => SqlType::Numeric {
                        precision: basalt_common::types::NUMERIC_DEFAULT_PRECISION,
                        scale: basalt_common::types::NUMERIC_DEFAULT_SCALE,
                    },
                    Some(ty) => ty,
                    None => SqlType::Text,
                };
                ViewColumn {
                    name: crate::rewrite::display_name(f.name()).to_owned(),
                    ty,
                    nullable: source
                        .as_ref()
                        .is_none_or(|(c, nullable)| *nullable || c.nullable),
                    source: source.map(|(c, _)| c),
                }
            })
            .collect();
        out.push((def, columns));
    }
    out
}

/// The table column that output column `index` of `plan` shows unchanged, if any, and
/// whether an outer join on the way can make it NULL.
fn column_source(plan: &LogicalPlan, index: usize) -> Option<(ColumnDef, bool)> {
    use datafusion::logical_expr::JoinType;
    match plan {
        LogicalPlan::Projection(p) => {
            let mut expr = p.expr.get(index)?;
            while let Expr::Alias(a) = expr {
                expr = &a.expr;
            }
            let Expr::Column(c) = expr else {
                return None;
            };
            let inner = p.input.schema().index_of_column(c).ok()?;
            column_source(&p.input, inner)
        }
        LogicalPlan::Filter(f) => column_source(&f.input, index),
        LogicalPlan::Sort(s) => column_source(&s.input, index),
        LogicalPlan::Limit(l) => column_source(&l.input, index),
        LogicalPlan::SubqueryAlias(a) => column_source(&a.input, index),
        LogicalPlan::Join(j) => match j.join_type {
            JoinType::Inner | JoinType::Left | JoinType::Right | JoinType::Full => {
                let left = j.left.schema().fields().len();
                let (side, inner, outer) = if index < left {
                    let outer = matches!(j.join_type, JoinType::Right | JoinType::Full);
                    (&j.left, index, outer)
                } else {
                    let outer = matches!(j.join_type, JoinType::Left | JoinType::Full);
                    (&j.right, index - left, outer)
                };
                column_source(side, inner).map(|(c, nullable)| (c, nullable || outer))
            }
            // Semi and anti joins output one side's columns only.
            JoinType::LeftSemi | JoinType::LeftAnti => column_source(&j.left, index),
            JoinType::RightSemi | JoinType::RightAnti => column_source(&j.right, index),
            _ => None,
        },
        LogicalPlan::TableScan(scan) => {
            let provider = datafusion::datasource::source_as_provider(&scan.source).ok()?;
            let table = provider.downcast_ref::<crate::provider::BasaltTable>()?;
            let field = match &scan.projection {
                Some(projection) => *projection.get(index)?,
                None => index,
            };
            Some((table.column_of_field(field)?.clone(), false))
        }
        _ => None,
    }
}

/// A view's query planned now, with the session's state, under its column names.
async fn view_plan(planner: &PlannerRef, def: &ViewDef) -> DfResult<LogicalPlan> {
    let mut state = planner
        .upgrade()
        .map(|s| s.read().clone())
        .ok_or_else(|| DataFusionError::Internal("session closed while planning a view".into()))?;
    let dialect = if def.dialect == "mysql" {
        // A MySQL view's unqualified names are in its own database, whichever database
        // the session reading it has selected.
        state.config_mut().options_mut().catalog.default_schema = def.schema.clone();
        Dialect::MySQL
    } else {
        Dialect::PostgreSQL
    };
    let stmt = state.sql_to_statement(&def.query, &dialect)?;
    let mut plan = state.statement_to_plan(stmt).await?;
    if !def.columns.is_empty() {
        let fields = plan.schema().columns();
        if def.columns.len() > fields.len() {
            return Err(DataFusionError::Plan(format!(
                "view \"{}\" has more column names than its query has columns",
                def.name
            )));
        }
        let exprs: Vec<Expr> = fields
            .into_iter()
            .enumerate()
            .map(|(i, c)| match def.columns.get(i) {
                Some(name) => Expr::Column(c).alias(name.as_str()),
                None => Expr::Column(c),
            })
            .collect();
        plan = LogicalPlanBuilder::from(plan).project(exprs)?.build()?;
    }
    Ok(plan)
}

/// The views, by schema and name.
pub fn in_order(catalog: &Catalog) -> Vec<&ViewDef> {
    let mut views: Vec<&ViewDef> = catalog.views.values().collect();
    views.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    views
}

/// CREATE [OR REPLACE] VIEW name [(columns)] AS query.
pub async fn create_view(s: &mut Session, cv: CreateView) -> SqlResult<Output> {
    if cv.materialized {
        return Err(SqlError::unsupported(
            "materialized views are not supported",
        ));
    }
    let mut cv = cv;
    let reads_temp = match s.temp_schema_name() {
        Some(t) => crate::temp::reads_schema(&cv.query, &t),
        None => false,
    };
    if cv.temporary || reads_temp {
        if s.is_mysql() {
            return Err(SqlError::unsupported("temporary views are not supported"));
        }
        if cv.name.0.len() > 1 {
            return Err(SqlError::InvalidTableDefinition(
                "cannot create temporary relation in non-temporary schema".into(),
            ));
        }
        if !cv.temporary {
            let name = cv
                .name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(crate::ddl::ident);
            s.notice(
                "NOTICE",
                "00000",
                format!(
                    "view \"{}\" will be a temporary view",
                    name.unwrap_or_default()
                ),
            );
        }
        let schema = s.temp_schema().await?;
        let view = cv.name.0.pop();
        cv.name.0 = vec![ObjectNamePart::Identifier(Ident::with_quote('"', schema))];
        cv.name.0.extend(view);
    }
    let (schema, name) = qualified(&cv.name, s.default_schema().as_deref())?;
    // The query must plan now (PostgreSQL checks a view's query at CREATE VIEW).
    let plan = s.plan(Statement::Query(cv.query.clone())).await?;
    let columns: Vec<String> = cv.columns.iter().map(|c| c.name.value.clone()).collect();
    if columns.len() > plan.schema().fields().len() {
        return Err(SqlError::Syntax {
            message: "CREATE VIEW specifies more column names than columns".into(),
            position: None,
        });
    }
    // Output columns the list does not rename keep their query names, which must differ.
    for f in plan.schema().fields().iter().skip(columns.len()) {
        let shown = crate::rewrite::display_name(f.name());
        if shown != f.name() {
            return Err(SqlError::RepeatedColumnName(shown.to_owned()));
        }
    }
    let def_query = cv.query.to_string();
    let dialect = if s.is_mysql() { "mysql" } else { "postgres" };
    let (or_replace, if_not_exists) = (cv.or_replace, cv.if_not_exists);
    s.engine()
        .ddl(|c: &mut Catalog| {
            if !c.schemas.contains_key(&schema) {
                return Err(SqlError::UndefinedSchema(schema.clone()));
            }
            let key = format!("{schema}.{name}");
            let oid = match c.views.get(&key) {
                Some(v) if or_replace => v.oid,
                Some(_) if if_not_exists => return Ok(vec![]),
                _ if c.relation_exists(&schema, &name) => {
                    return Err(SqlError::DuplicateTable(name.clone()))
                }
                _ => c.allocate_oid(),
            };
            c.views.insert(
                key,
                ViewDef {
                    oid,
                    schema: schema.clone(),
                    name: name.clone(),
                    columns,
                    query: def_query,
                    dialect: dialect.into(),
                },
            );
            Ok(vec![])
        })
        .await?;
    Ok(Output::Command("CREATE VIEW".into()))
}

/// DROP VIEW [IF EXISTS] names.
pub async fn drop_views(
    s: &mut Session,
    if_exists: bool,
    names: &[ObjectName],
    cascade: bool,
) -> SqlResult<Output> {
    let catalog = s.engine().catalog();
    let mut keys = Vec::new();
    for n in names {
        let (schema, name) = qualified(n, s.default_schema().as_deref())?;
        if catalog.view_by_name(&schema, &name).is_some() {
            keys.push(format!("{schema}.{name}"));
        } else if catalog.table_by_name(&schema, &name).is_some() {
            return Err(SqlError::WrongObjectType(format!(
                "\"{name}\" is not a view"
            )));
        } else if !if_exists {
            return Err(SqlError::NoSuchView(name));
        } else {
            s.skipping_notice("view", &name);
        }
    }
    let named: Vec<(String, &str)> = keys.iter().map(|k| (k.clone(), "view")).collect();
    let dependents = if s.is_mysql() {
        vec![]
    } else {
        dependent_views(&catalog, &named)
    };
    keys.extend(dropped_dependents(s, &dependents, cascade)?);
    s.engine()
        .ddl(|c: &mut Catalog| {
            for k in &keys {
                c.views.remove(k);
            }
            Ok::<_, SqlError>(vec![])
        })
        .await?;
    Ok(Output::Command("DROP VIEW".into()))
}

/// `CREATE [OR REPLACE] [TEMP] RECURSIVE VIEW v (c, …) AS q`, which sqlparser does not
/// read, as the tokens of PostgreSQL's equivalent `CREATE … VIEW v AS WITH RECURSIVE v (c,
/// …) AS (q) SELECT c, … FROM v`; `None` for other statements.
pub(crate) fn recursive_view(
    sql: &str,
) -> Option<Vec<datafusion::sql::sqlparser::tokenizer::TokenWithSpan>> {
    use crate::session::{significant_tokens, token_word};
    use datafusion::sql::sqlparser::tokenizer::Token;

    let (tokens, significant) = significant_tokens(sql)?;
    let word = |k: usize| significant.get(k).and_then(|&i| token_word(&tokens[i]));
    let is = |k: usize, t: &Token| significant.get(k).is_some_and(|&i| &tokens[i].token == t);
    let text = |from: usize, to: usize| -> String {
        tokens[from..to]
            .iter()
            .map(|t| t.token.to_string())
            .collect()
    };
    if word(0).as_deref() != Some("create") {
        return None;
    }
    let recursive = (1..4).find(|&k| word(k).as_deref() == Some("recursive"))?;
    if word(recursive + 1).as_deref() != Some("view") {
        return None;
    }
    // The view's name: words joined by dots, then its column list.
    let mut k = recursive + 2;
    word(k)?;
    let name_start = significant[k];
    while is(k + 1, &Token::Period) {
        k += 2;
        word(k)?;
    }
    let name_end = significant[k] + 1;
    let last_token = tokens[significant[k]].token.to_string();
    if !is(k + 1, &Token::LParen) {
        return None;
    }
    let close = (k + 2..significant.len()).find(|&j| is(j, &Token::RParen))?;
    let columns = text(significant[k + 2], significant[close]);
    if word(close + 1).as_deref() != Some("as") {
        return None;
    }
    let body_start = *significant.get(close + 2)?;
    let mut body_end = tokens.len();
    while body_end > body_start
        && matches!(
            tokens[body_end - 1].token,
            Token::SemiColon | Token::Whitespace(_)
        )
    {
        body_end -= 1;
    }
    let rewritten = format!(
        "{} VIEW {} AS WITH RECURSIVE {last_token} ({columns}) AS ({}) SELECT {columns} FROM {last_token}",
        text(0, significant[recursive]),
        text(name_start, name_end),
        text(body_start, body_end),
    );
    significant_tokens(&rewritten).map(|(t, _)| t)
}

/// The relations (`schema.name`) a view's query reads, WITH queries it defines aside.
fn relations_read(def: &ViewDef) -> Vec<String> {
    use datafusion::sql::sqlparser::ast::{visit_relations, Visit, Visitor};
    use datafusion::sql::sqlparser::dialect::MySqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    use std::ops::ControlFlow;
    let parsed = if def.dialect == "mysql" {
        Parser::parse_sql(&MySqlDialect {}, &def.query).map_err(|e| SqlError::Syntax {
            message: e.to_string(),
            position: None,
        })
    } else {
        // As the view is read: PostgreSQL's forms sqlparser lacks (`FROM ONLY t`) too.
        crate::session::parse_sql(&def.query)
    };
    let Ok(statements) = parsed else {
        return vec![];
    };
    struct WithNames(Vec<String>);
    impl Visitor for WithNames {
        type Break = ();
        fn pre_visit_query(
            &mut self,
            q: &datafusion::sql::sqlparser::ast::Query,
        ) -> ControlFlow<()> {
            if let Some(w) = &q.with {
                self.0.extend(
                    w.cte_tables
                        .iter()
                        .map(|c| crate::ddl::ident(&c.alias.name)),
                );
            }
            ControlFlow::Continue(())
        }
    }
    let mut with = WithNames(vec![]);
    let _ = statements.visit(&mut with);
    let mut out = Vec::new();
    let _ = visit_relations(&statements, |name| {
        let one_part_with = name.0.len() == 1
            && name.0[0]
                .as_ident()
                .is_some_and(|i| with.0.contains(&crate::ddl::ident(i)));
        if !one_part_with {
            if let Ok((schema, table)) = qualified(name, Some(&def.schema)) {
                let table = table
                    .strip_suffix(crate::session::ONLY_MARK)
                    .unwrap_or(&table);
                out.push(format!("{schema}.{table}"));
            }
        }
        ControlFlow::<()>::Continue(())
    });
    out
}

/// The views that read the relations `dropped` (`schema.name` keys with their kind,
/// "table" or "view"), directly or through other views: each with the line PostgreSQL's
/// DETAIL gives it (`view v depends on table t`). Views among `dropped` are not listed.
pub fn dependent_views(catalog: &Catalog, dropped: &[(String, &str)]) -> Vec<(String, String)> {
    let reads: Vec<(&String, &ViewDef, Vec<String>)> = catalog
        .views
        .iter()
        .map(|(k, v)| (k, v, relations_read(v)))
        .collect();
    let mut gone: Vec<(String, String)> = dropped
        .iter()
        .map(|(k, kind)| (k.clone(), (*kind).to_owned()))
        .collect();
    let mut out: Vec<(String, String)> = Vec::new();
    // Each pass adds the views reading what is gone so far; at most one pass per view.
    for _ in 0..=reads.len() {
        let mut added = false;
        for (key, def, read) in &reads {
            if gone.iter().any(|(k, _)| k == *key) {
                continue;
            }
            let Some((on, kind)) = gone.iter().find(|(k, _)| read.contains(k)) else {
                continue;
            };
            let on_name = on.split_once('.').map_or(on.as_str(), |(_, n)| n);
            out.push((
                (*key).clone(),
                format!("view {} depends on {kind} {on_name}", def.name),
            ));
            gone.push(((*key).clone(), "view".into()));
            added = true;
        }
        if !added {
            break;
        }
    }
    out
}

/// The views dropped with what a DROP names, with PostgreSQL's NOTICE for CASCADE, or its
/// 2BP01 error without it (`what` names the first object the DROP names).
pub fn dropped_dependents(
    s: &mut Session,
    dependents: &[(String, String)],
    cascade: bool,
) -> SqlResult<Vec<String>> {
    if dependents.is_empty() {
        return Ok(vec![]);
    }
    let view_name = |k: &String| k.split_once('.').map_or(k.clone(), |(_, n)| n.to_owned());
    if !cascade {
        let target = dependents[0]
            .1
            .split(" depends on ")
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        return Err(SqlError::Detailed {
            sqlstate: "2BP01",
            message: format!("cannot drop {target} because other objects depend on it"),
            detail: dependents
                .iter()
                .map(|(_, line)| line.clone())
                .collect::<Vec<_>>()
                .join("\n"),
            hint: Some("Use DROP ... CASCADE to drop the dependent objects too.".into()),
        });
    }
    match dependents {
        [(one, _)] => s.notice(
            "NOTICE",
            "00000",
            format!("drop cascades to view {}", view_name(one)),
        ),
        many => s.notice_with_detail(
            "NOTICE",
            "00000",
            format!("drop cascades to {} other objects", many.len()),
            many.iter()
                .map(|(k, _)| format!("drop cascades to view {}", view_name(k)))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    }
    Ok(dependents.iter().map(|(k, _)| k.clone()).collect())
}
