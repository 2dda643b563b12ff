//! WITH clauses that DataFusion cannot run: a WITH attached to INSERT, UPDATE or DELETE, and
//! data-modifying WITH queries (`WITH t AS (INSERT … RETURNING *) SELECT … FROM t`).
//!
//! Basalt runs such a statement itself, as PostgreSQL does:
//! - Every part of the statement reads the same snapshot, taken before any part writes:
//!   the transaction as it was when the statement began ([`Transaction::frozen`]). No WITH
//!   query sees another's changes, and the main query does not see theirs.
//! - Each data-modifying WITH query runs once, to completion, whether or not anything reads
//!   it, in an order where a query runs after the ones it reads. Its RETURNING rows become
//!   a table the rest of the statement reads under the query's name.
//! - A read-only WITH query becomes a view the statement inlines where it is read, unless
//!   it is written `AS MATERIALIZED` or calls a volatile function (`random()`): that one is
//!   computed once, before the rest, and every reference reads the same rows.
//!
//! Those tables and views are registered for the statement only, under unique names in a
//! schema of the session's own (`pg_cte`, a name PostgreSQL reserves), and the statement's
//! references to the WITH queries are renamed to them (keeping the name as the alias).
//! A reference inside a nested query that defines the same name is left alone.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use basalt_storage::Transaction;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::sql::sqlparser::ast::{
    Cte, Ident, ObjectName, ObjectNamePart, Query, SetExpr, Spanned, Statement, TableAlias,
    TableFactor, Visit, VisitMut, Visitor, VisitorMut, With,
};
use datafusion::sql::sqlparser::tokenizer::Span;

use crate::error::{SqlError, SqlResult};
use crate::session::{Output, Session, DATABASE_NAME};

/// The schema that holds a statement's WITH tables while it runs.
pub const CTE_SCHEMA: &str = "pg_cte";

static NEXT_CTE: AtomicU64 = AtomicU64::new(1);

/// Whether Basalt runs this query itself: a WITH on INSERT/UPDATE/DELETE, a WITH query
/// that modifies data, or one to be computed once ([`materializes`]).
pub fn runs_itself(q: &Query) -> bool {
    let dml_body = is_dml(&q.body);
    let special_cte = q.with.as_ref().is_some_and(|w| {
        w.cte_tables
            .iter()
            .any(|c| is_dml(&c.query.body) || materializes(w, c))
    });
    (dml_body && q.with.is_some()) || special_cte
}

/// Whether the query writes: a WITH on INSERT/UPDATE/DELETE or a data-modifying WITH query.
pub fn modifies_data(q: &Query) -> bool {
    let dml_cte = q
        .with
        .as_ref()
        .is_some_and(|w| w.cte_tables.iter().any(|c| is_dml(&c.query.body)));
    (is_dml(&q.body) && q.with.is_some()) || dml_cte
}

/// Functions whose every call may return another value: a WITH query that calls one is
/// computed once, so that every reference reads the same rows, as PostgreSQL computes it.
const VOLATILE: &[&str] = &[
    "random",
    "random_normal",
    "setseed",
    "nextval",
    "setval",
    "clock_timestamp",
    "timeofday",
    "gen_random_uuid",
    "uuid_generate_v4",
    "uuid",
];

/// Whether a read-only WITH query is computed once, to completion, before the statement
/// reads it (DataFusion would compute it again at each reference): written `AS
/// MATERIALIZED`, or calling a volatile function, and not reading itself.
fn materializes(with: &With, cte: &Cte) -> bool {
    use datafusion::sql::sqlparser::ast::{CteAsMaterialized, Expr};
    if is_dml(&cte.query.body)
        || cte.materialized == Some(CteAsMaterialized::NotMaterialized)
        || (with.recursive && references(&cte.query, &crate::ddl::ident(&cte.alias.name)))
    {
        return false;
    }
    if cte.materialized == Some(CteAsMaterialized::Materialized) {
        return true;
    }
    let volatile = datafusion::sql::sqlparser::ast::visit_expressions(&cte.query, |e| match e {
        Expr::Function(f)
            if f.name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| VOLATILE.contains(&i.value.to_lowercase().as_str())) =>
        {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    });
    volatile.is_break()
}

fn is_dml(body: &SetExpr) -> bool {
    matches!(
        body,
        SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_)
    )
}

/// What a WITH query became for the rest of the statement.
enum Registered {
    /// A table or view under this unique name in [`CTE_SCHEMA`].
    Table(String),
    /// A data-modifying query without RETURNING: it ran, but cannot be read.
    NoReturning,
}

/// The statement's WITH tables, removed from the session when the statement ends.
pub(crate) struct Scope {
    schema: Arc<dyn SchemaProvider>,
    names: HashMap<String, Registered>,
}

impl Scope {
    pub(crate) fn new(s: &Session) -> SqlResult<Scope> {
        let catalog = s
            .ctx
            .catalog(DATABASE_NAME)
            .ok_or_else(|| SqlError::Internal("the basalt catalog is missing".into()))?;
        let schema = match catalog.schema(CTE_SCHEMA) {
            Some(schema) => schema,
            None => {
                let schema: Arc<dyn SchemaProvider> = Arc::new(MemorySchemaProvider::new());
                catalog.register_schema(CTE_SCHEMA, Arc::clone(&schema))?;
                schema
            }
        };
        Ok(Scope {
            schema,
            names: HashMap::new(),
        })
    }

    /// Registers `table` for the statement under a unique name, which it returns.
    pub(crate) fn register(
        &mut self,
        name: &str,
        table: Arc<dyn TableProvider>,
    ) -> SqlResult<String> {
        let unique = format!("{}_{name}", NEXT_CTE.fetch_add(1, Ordering::Relaxed));
        self.schema.register_table(unique.clone(), table)?;
        self.names
            .insert(name.to_owned(), Registered::Table(unique.clone()));
        Ok(unique)
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        for registered in self.names.values() {
            if let Registered::Table(unique) = registered {
                let _ = self.schema.deregister_table(unique);
            }
        }
    }
}

/// Runs a query with a WITH clause Basalt handles itself (see the module comment).
pub async fn run(s: &mut Session, txn: &Arc<Transaction>, q: Query) -> SqlResult<Output> {
    let frozen = Arc::new(txn.frozen());
    let previous = s.slot.get();
    s.slot.set(Some(Arc::clone(&frozen)));
    let result = run_with_view(s, txn, q).await;
    s.slot.set(previous);
    result
}

/// The columns a query with such a WITH clause returns (for Describe), without running any
/// part of it: data-modifying WITH queries are registered as empty tables of their columns.
pub async fn describe(s: &Session, mut q: Query) -> SqlResult<Option<SchemaRef>> {
    let with = take_with(&mut q);
    let mut scope = Scope::new(s)?;
    for index in order(&with)? {
        let cte = &with.cte_tables[index];
        let name = crate::ddl::ident(&cte.alias.name);
        let body = renamed_body(cte, &name, &scope)?;
        if is_dml(&body.body) {
            check_modifying(&with, cte, &name)?;
            let rows = describe_dml(s, &body).await?.map(|schema| Output::Rows {
                schema,
                batches: vec![],
                tag: String::new(),
            });
            register_rows(&mut scope, cte, name, rows)?;
        } else {
            register_reader(s, &mut scope, &with, cte, body, false).await?;
        }
    }
    rename_references(&mut q, &scope, &HashSet::new())?;
    match q.body.as_ref() {
        SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) => describe_dml(s, &q).await,
        _ => {
            let plan = s.plan(Statement::Query(Box::new(q))).await?;
            Ok(Some(Arc::new(plan.schema().as_arrow().clone())))
        }
    }
}

fn take_with(q: &mut Query) -> With {
    q.with.take().unwrap_or_else(|| With {
        with_token: datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken::empty(
        ),
        recursive: false,
        cte_tables: vec![],
    })
}

/// Runs the statement under the snapshot already in the session's slot.
async fn run_with_view(s: &mut Session, txn: &Arc<Transaction>, mut q: Query) -> SqlResult<Output> {
    let with = take_with(&mut q);
    let mut scope = Scope::new(s)?;
    for index in order(&with)? {
        let cte = &with.cte_tables[index];
        let name = crate::ddl::ident(&cte.alias.name);
        let body = renamed_body(cte, &name, &scope)?;
        if is_dml(&body.body) {
            check_modifying(&with, cte, &name)?;
            let rows = Box::pin(run_main(s, txn, body)).await?;
            register_rows(&mut scope, cte, name, rows)?;
        } else {
            // Computed once only where something reads it (PostgreSQL does not run a
            // read-only WITH query nothing reads).
            let read = references(&q, &name)
                || with
                    .cte_tables
                    .iter()
                    .any(|c| c.alias.name != cte.alias.name && references(&c.query, &name));
            let once = read && materializes(&with, cte);
            register_reader(s, &mut scope, &with, cte, body, once).await?;
        }
    }
    rename_references(&mut q, &scope, &HashSet::new())?;
    Ok(run_main(s, txn, q)
        .await?
        .unwrap_or_else(|| Output::Command(String::new())))
}

/// A WITH query's body with its references to the queries registered before it renamed.
fn renamed_body(cte: &Cte, name: &str, scope: &Scope) -> SqlResult<Query> {
    let mut body = (*cte.query).clone();
    rename_references(&mut body, scope, &HashSet::from([name.to_owned()]))?;
    Ok(body)
}

fn check_modifying(with: &With, cte: &Cte, name: &str) -> SqlResult<()> {
    if with.recursive && references(&cte.query, name) {
        return Err(SqlError::InvalidRecursion(format!(
            "recursive query \"{name}\" must not contain data-modifying statements"
        ))
        .at(cte.alias.name.span));
    }
    Ok(())
}

/// A data-modifying WITH query's RETURNING rows as a table (or, without RETURNING, a name
/// nothing may read).
fn register_rows(
    scope: &mut Scope,
    cte: &Cte,
    name: String,
    rows: Option<Output>,
) -> SqlResult<()> {
    match rows {
        Some(Output::Rows {
            schema, batches, ..
        }) => {
            let (schema, batches) = renamed(cte, schema, batches)?;
            let table = MemTable::try_new(schema, vec![batches])?;
            scope.register(&name, Arc::new(table)).map(|_| ())
        }
        _ => {
            scope.names.insert(name, Registered::NoReturning);
            Ok(())
        }
    }
}

/// A read-only WITH query as a view of its plan (recursive when it reads itself), or, when
/// `once`, as the table of its rows, computed now.
async fn register_reader(
    s: &Session,
    scope: &mut Scope,
    with: &With,
    cte: &Cte,
    body: Query,
    once: bool,
) -> SqlResult<()> {
    let name = crate::ddl::ident(&cte.alias.name);
    let recursive = with.recursive && references(&cte.query, &name);
    let reader = reader_of(
        &cte.alias.name,
        With {
            with_token: with.with_token.clone(),
            recursive,
            cte_tables: vec![Cte {
                query: Box::new(body),
                ..cte.clone()
            }],
        },
    )?;
    let plan = s.plan(Statement::Query(Box::new(reader))).await?;
    if once {
        let (schema, batches) = s.run_plan(plan).await?;
        let rows = Output::Rows {
            schema,
            batches,
            tag: String::new(),
        };
        return register_rows(scope, cte, name, Some(rows));
    }
    scope
        .register(&name, Arc::new(ViewTable::new(plan, None)))
        .map(|_| ())
}

/// Runs the main statement, or a data-modifying WITH query (`Some` rows, or the command's
/// tag).
async fn run_main(s: &mut Session, txn: &Arc<Transaction>, q: Query) -> SqlResult<Option<Output>> {
    if q.with.is_some() {
        // A WITH on a data-modifying WITH query: its own scope, same snapshot.
        return Box::pin(run_with_view(s, txn, q)).await.map(Some);
    }
    let output = match *q.body {
        SetExpr::Insert(Statement::Insert(ins)) => {
            // An unknown target is reported where the INSERT names it (not where a WITH
            // query of the same name is defined).
            let span = ins.table.span();
            crate::dml::insert(s, txn, ins).await.map_err(|e| match e {
                SqlError::UndefinedTable(_) if span.start.line > 0 => e.at(span),
                other => other,
            })?
        }
        SetExpr::Update(Statement::Update(upd)) => crate::dml::update(s, txn, upd).await?,
        SetExpr::Delete(Statement::Delete(del)) => crate::dml::delete(s, txn, del).await?,
        SetExpr::Merge(_) => return Err(SqlError::unsupported("MERGE is not supported")),
        body => {
            let q = Query {
                body: Box::new(body),
                ..q
            };
            s.query(q).await?
        }
    };
    Ok(Some(output))
}

/// The RETURNING columns of a data-modifying query, planned over its target table.
async fn describe_dml(s: &Session, q: &Query) -> SqlResult<Option<SchemaRef>> {
    let (target, items) = match q.body.as_ref() {
        SetExpr::Insert(Statement::Insert(ins)) => (ins.table.to_string(), ins.returning.as_ref()),
        SetExpr::Update(Statement::Update(upd)) => {
            (upd.table.relation.to_string(), upd.returning.as_ref())
        }
        SetExpr::Delete(Statement::Delete(del)) => {
            let tables = match &del.from {
                datafusion::sql::sqlparser::ast::FromTable::WithFromKeyword(t)
                | datafusion::sql::sqlparser::ast::FromTable::WithoutKeyword(t) => t,
            };
            let target = tables
                .first()
                .map(|t| t.relation.to_string())
                .unwrap_or_default();
            (target, del.returning.as_ref())
        }
        _ => return Ok(None),
    };
    match items {
        Some(items) => Ok(Some(
            crate::params::returning_schema(s, &target, items).await?,
        )),
        None => Ok(None),
    }
}

/// RETURNING rows under the WITH query's column names, where it lists them.
fn renamed(
    cte: &Cte,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> SqlResult<(SchemaRef, Vec<RecordBatch>)> {
    let names = &cte.alias.columns;
    if names.len() > schema.fields().len() {
        return Err(SqlError::Detailed {
            sqlstate: "42P10",
            message: format!(
                "WITH query \"{}\" has {} columns available but {} columns specified",
                crate::ddl::ident(&cte.alias.name),
                schema.fields().len(),
                names.len()
            ),
            detail: String::new(),
            hint: None,
        });
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| match names.get(i) {
            Some(c) => Field::new(crate::ddl::ident(&c.name), f.data_type().clone(), true),
            None => f.as_ref().clone().with_nullable(true),
        })
        .collect();
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let batches = batches
        .into_iter()
        .map(|b| RecordBatch::try_new(Arc::clone(&schema), b.columns().to_vec()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((schema, batches))
}

/// `SELECT * FROM name`, under `with`.
fn reader_of(name: &Ident, with: With) -> SqlResult<Query> {
    let text = format!("SELECT * FROM {name}");
    match crate::session::parse_sql(&text)?.pop() {
        Some(Statement::Query(mut q)) => {
            q.with = Some(with);
            Ok(*q)
        }
        _ => Err(SqlError::Internal(format!(
            "could not read WITH query {name}"
        ))),
    }
}

/// The order to run the WITH queries in: each after the ones it reads (a RECURSIVE list may
/// refer forward). Two queries that read each other are PostgreSQL's "mutual recursion".
fn order(with: &With) -> SqlResult<Vec<usize>> {
    let names: Vec<String> = with
        .cte_tables
        .iter()
        .map(|c| crate::ddl::ident(&c.alias.name))
        .collect();
    let n = names.len();
    if !with.recursive {
        return Ok((0..n).collect());
    }
    let deps: Vec<Vec<usize>> = with
        .cte_tables
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (0..n)
                .filter(|&j| j != i && references(&c.query, &names[j]))
                .collect()
        })
        .collect();
    let mut done = vec![false; n];
    let mut out = Vec::with_capacity(n);
    // Bounded: each pass places at least one query, or stops with an error.
    while out.len() < n {
        let next = (0..n).find(|&i| !done[i] && deps[i].iter().all(|&d| done[d]));
        match next {
            Some(i) => {
                done[i] = true;
                out.push(i);
            }
            None => {
                let stuck = (0..n).find(|&i| !done[i]).unwrap_or(0);
                return Err(SqlError::unsupported(
                    "mutual recursion between WITH items is not implemented",
                )
                .at(with.cte_tables[stuck].alias.name.span));
            }
        }
    }
    Ok(out)
}

/// Whether `q` reads a relation named `name` (a one-part name), outside nested queries
/// that define `name` themselves.
fn references(q: &Query, name: &str) -> bool {
    reference_at(q, name).is_some()
}

/// Where `node` first reads a relation named `name` (a one-part name), outside nested
/// queries that define `name` themselves.
pub fn reference_at<V: Visit>(node: &V, name: &str) -> Option<Span> {
    struct Find<'a> {
        name: &'a str,
        shadowed: Vec<bool>,
    }
    impl Visitor for Find<'_> {
        type Break = Span;
        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<Span> {
            let defines = q.with.as_ref().is_some_and(|w| {
                w.cte_tables
                    .iter()
                    .any(|c| crate::ddl::ident(&c.alias.name) == self.name)
            });
            self.shadowed.push(defines);
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<Span> {
            self.shadowed.pop();
            ControlFlow::Continue(())
        }
        fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<Span> {
            if self.shadowed.iter().any(|s| *s) {
                return ControlFlow::Continue(());
            }
            if let TableFactor::Table {
                name, args: None, ..
            } = t
            {
                if one_part(name).as_deref() == Some(self.name) {
                    return ControlFlow::Break(name.span());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut find = Find {
        name,
        shadowed: vec![],
    };
    match node.visit(&mut find) {
        ControlFlow::Break(at) => Some(at),
        ControlFlow::Continue(()) => None,
    }
}

fn one_part(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(i)] => Some(crate::ddl::ident(i)),
        _ => None,
    }
}

/// Refuses a data-modifying WITH query anywhere but in the top-level WITH of a statement.
pub fn check_top_level(stmt: &Statement) -> SqlResult<()> {
    struct Nested {
        /// The statement is a query: the first query met is the top level.
        top_pending: bool,
        error: Option<SqlError>,
    }
    impl Visitor for Nested {
        type Break = ();
        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            if std::mem::take(&mut self.top_pending) {
                return ControlFlow::Continue(());
            }
            let modifying = q
                .with
                .iter()
                .flat_map(|w| &w.cte_tables)
                .find(|c| is_dml(&c.query.body));
            if let Some(cte) = modifying {
                self.error = Some(top_level_error(cte));
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut v = Nested {
        top_pending: matches!(stmt, Statement::Query(_)),
        error: None,
    };
    let _ = stmt.visit(&mut v);
    v.error.map_or(Ok(()), Err)
}

fn top_level_error(cte: &Cte) -> SqlError {
    SqlError::unsupported(
        "WITH clause containing a data-modifying statement must be at the top level",
    )
    .at(cte.alias.name.span)
}

/// Renames the references in `q` to the registered WITH queries (`except`: names that mean
/// something else here, such as a recursive query's own name).
fn rename_references(q: &mut Query, scope: &Scope, except: &HashSet<String>) -> SqlResult<()> {
    struct Rename<'a> {
        scope: &'a Scope,
        /// Names defined by the nested queries being visited.
        shadowed: Vec<HashSet<String>>,
        except: &'a HashSet<String>,
        /// The target of the main INSERT/UPDATE/DELETE: a table, never a WITH query.
        error: Option<SqlError>,
    }
    impl VisitorMut for Rename<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            let names = q
                .with
                .iter()
                .flat_map(|w| &w.cte_tables)
                .map(|c| crate::ddl::ident(&c.alias.name))
                .collect();
            self.shadowed.push(names);
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _q: &mut Query) -> ControlFlow<()> {
            self.shadowed.pop();
            ControlFlow::Continue(())
        }
        fn pre_visit_table_factor(&mut self, t: &mut TableFactor) -> ControlFlow<()> {
            let TableFactor::Table {
                name,
                alias,
                args: None,
                ..
            } = t
            else {
                return ControlFlow::Continue(());
            };
            let Some(bare) = one_part(name) else {
                return ControlFlow::Continue(());
            };
            if self.except.contains(&bare) || self.shadowed.iter().any(|s| s.contains(&bare)) {
                return ControlFlow::Continue(());
            }
            match self.scope.names.get(&bare) {
                Some(Registered::Table(unique)) => {
                    let span = name.span();
                    *name = ObjectName::from(vec![
                        Ident::new(CTE_SCHEMA),
                        Ident::with_quote('"', unique.clone()),
                    ]);
                    if alias.is_none() {
                        *alias = Some(TableAlias {
                            explicit: true,
                            name: Ident::with_quote_and_span('"', span, bare),
                            columns: vec![],
                            at: None,
                        });
                    }
                }
                Some(Registered::NoReturning) => {
                    self.error = Some(
                        SqlError::Detailed {
                            sqlstate: "0A000",
                            message: format!(
                                "WITH query \"{bare}\" does not have a RETURNING clause"
                            ),
                            detail: String::new(),
                            hint: None,
                        }
                        .at(name.span()),
                    );
                    return ControlFlow::Break(());
                }
                None => {}
            }
            ControlFlow::Continue(())
        }
    }
    // The main statement's own target is a table even when a WITH query has its name.
    let target = take_target(q);
    let mut v = Rename {
        scope,
        shadowed: vec![],
        except,
        error: None,
    };
    // The top-level query's WITH was taken off before this, so it shadows nothing.
    let _ = q.visit(&mut v);
    put_target(q, target);
    v.error.map_or(Ok(()), Err)
}

/// Takes the target relation of an UPDATE or DELETE body out of the query (INSERT's target
/// is not a table factor, so the renaming never meets it).
fn take_target(q: &mut Query) -> Option<TableFactor> {
    let placeholder = || TableFactor::Table {
        name: ObjectName::from(vec![Ident::new("")]),
        alias: None,
        args: None,
        with_hints: vec![],
        version: None,
        with_ordinality: false,
        partitions: vec![],
        json_path: None,
        sample: None,
        index_hints: vec![],
    };
    match q.body.as_mut() {
        SetExpr::Update(Statement::Update(upd)) => {
            Some(std::mem::replace(&mut upd.table.relation, placeholder()))
        }
        SetExpr::Delete(Statement::Delete(del)) => {
            let tables = match &mut del.from {
                datafusion::sql::sqlparser::ast::FromTable::WithFromKeyword(t)
                | datafusion::sql::sqlparser::ast::FromTable::WithoutKeyword(t) => t,
            };
            tables
                .first_mut()
                .map(|t| std::mem::replace(&mut t.relation, placeholder()))
        }
        _ => None,
    }
}

fn put_target(q: &mut Query, target: Option<TableFactor>) {
    let Some(target) = target else { return };
    match q.body.as_mut() {
        SetExpr::Update(Statement::Update(upd)) => upd.table.relation = target,
        SetExpr::Delete(Statement::Delete(del)) => {
            let tables = match &mut del.from {
                datafusion::sql::sqlparser::ast::FromTable::WithFromKeyword(t)
                | datafusion::sql::sqlparser::ast::FromTable::WithoutKeyword(t) => t,
            };
            if let Some(t) = tables.first_mut() {
                t.relation = target;
            }
        }
        _ => {}
    }
}
