//! Temporary tables of PostgreSQL sessions.
//!
//! `CREATE TEMP TABLE t` creates `t` in a schema of the session's own, `pg_temp_<n>`, as
//! PostgreSQL does. That schema comes first in the session's search path: before each
//! statement is planned, an unqualified name that is one of the session's temporary tables
//! is qualified with it, so a temporary table hides a permanent one of the same name. When
//! the session ends its temporary tables are dropped; schemas left by a server that
//! stopped abruptly are dropped when the server starts.
//!
//! Temporary views live in the same schema: `CREATE TEMP VIEW`, and (with PostgreSQL's
//! NOTICE) any view that reads a temporary table or view.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use basalt_storage::catalog::Catalog;
use basalt_storage::Engine;
use datafusion::sql::sqlparser::ast::{
    CopySource, FromTable, Ident, ObjectName, ObjectNamePart, ObjectType, Query, SetExpr,
    Statement, TableAlias, TableFactor, TableObject, VisitMut, VisitorMut,
};

use crate::error::SqlError;

/// The prefix of every session's temporary schema.
pub const TEMP_SCHEMA_PREFIX: &str = "pg_temp_";

static NEXT_TEMP_SCHEMA: AtomicU64 = AtomicU64::new(1);

/// A schema name no other session of this server uses.
pub(crate) fn new_temp_schema_name() -> String {
    format!(
        "{TEMP_SCHEMA_PREFIX}{}",
        NEXT_TEMP_SCHEMA.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn is_temp_schema(schema: &str) -> bool {
    schema.starts_with(TEMP_SCHEMA_PREFIX)
}

/// The last part of a one-part name, as PostgreSQL folds it.
/// (`ONLY t` is `t` here.)
fn single_name(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(i)] => {
            let n = crate::ddl::ident(i);
            Some(match n.strip_suffix(crate::session::ONLY_MARK) {
                Some(bare) => bare.to_owned(),
                None => n,
            })
        }
        _ => None,
    }
}

fn qualify(name: &mut ObjectName, schema: &str, tables: &HashSet<String>, skip: &HashSet<String>) {
    if let Some(n) = single_name(name) {
        if tables.contains(&n) && !skip.contains(&n) {
            let table = name.0.pop();
            name.0 = vec![ObjectNamePart::Identifier(Ident::with_quote('"', schema))];
            name.0.extend(table);
        }
    }
}

/// Names of the common table expressions a statement defines: a reference to one of them is
/// not a reference to a temporary table.
struct CteNames(HashSet<String>);

impl VisitorMut for CteNames {
    type Break = ();
    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                self.0.insert(crate::ddl::ident(&cte.alias.name));
            }
        }
        ControlFlow::Continue(())
    }
}

/// Qualifies the statement's unqualified references to the session's temporary tables
/// (`tables`, in `schema`). The name a CREATE TABLE or CREATE VIEW defines is left alone.
pub(crate) fn qualify_temp_tables(stmt: &mut Statement, schema: &str, tables: &HashSet<String>) {
    if tables.is_empty() {
        return;
    }
    let mut ctes = CteNames(HashSet::new());
    let _ = stmt.visit(&mut ctes);
    let skip = ctes.0;
    let defined = match stmt {
        Statement::CreateTable(ct) => Some(ct.name.clone()),
        Statement::CreateView(cv) => Some(cv.name.clone()),
        _ => None,
    };
    // `FROM t` keeps `t` as its name once qualified (`t.*`, `t.col` in DataFusion's terms).
    let _ = stmt.visit(&mut AliasTempTables {
        tables,
        skip: &skip,
    });
    let _ = datafusion::sql::sqlparser::ast::visit_relations_mut(stmt, |name| {
        if defined.as_ref() != Some(name) {
            qualify(name, schema, tables, &skip);
        }
        ControlFlow::<()>::Continue(())
    });
    match stmt {
        Statement::CreateTable(ct) => {
            for parent in ct.inherits.iter_mut().flatten() {
                qualify(parent, schema, tables, &skip);
            }
        }
        Statement::Drop {
            object_type: ObjectType::Table | ObjectType::View,
            names,
            ..
        } => {
            for n in names {
                qualify(n, schema, tables, &skip);
            }
        }
        Statement::Copy {
            source: CopySource::Table { table_name, .. },
            ..
        } => qualify(table_name, schema, tables, &skip),
        // `WITH t AS (…) INSERT INTO t`: a WITH query never hides the table a statement
        // writes to.
        Statement::Query(q) => {
            let no_skip = HashSet::new();
            match q.body.as_mut() {
                SetExpr::Insert(Statement::Insert(ins)) => {
                    if let TableObject::TableName(name) = &mut ins.table {
                        qualify(name, schema, tables, &no_skip);
                    }
                }
                SetExpr::Update(Statement::Update(upd)) => {
                    if let TableFactor::Table { name, .. } = &mut upd.table.relation {
                        qualify(name, schema, tables, &no_skip);
                    }
                }
                SetExpr::Delete(Statement::Delete(del)) => {
                    let targets = match &mut del.from {
                        FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
                    };
                    if let Some(TableFactor::Table { name, .. }) =
                        targets.first_mut().map(|t| &mut t.relation)
                    {
                        qualify(name, schema, tables, &no_skip);
                    }
                }
                _ => {}
            }
        }
        _ => {}
    }
}

/// Gives each unaliased reference to a temporary table its own name as alias.
struct AliasTempTables<'a> {
    tables: &'a HashSet<String>,
    skip: &'a HashSet<String>,
}

impl VisitorMut for AliasTempTables<'_> {
    type Break = ();
    fn pre_visit_table_factor(&mut self, t: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name,
            alias: alias @ None,
            args: None,
            ..
        } = t
        {
            if let Some(n) = single_name(name) {
                if self.tables.contains(&n) && !self.skip.contains(&n) {
                    *alias = Some(TableAlias {
                        name: Ident::with_quote('"', n),
                        columns: vec![],
                        explicit: true,
                        at: None,
                    });
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// The schema part of a qualified relation name, as PostgreSQL folds it.
fn schema_of(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(s), _] | [_, ObjectNamePart::Identifier(s), _] => {
            Some(crate::ddl::ident(s))
        }
        _ => None,
    }
}

/// Refuses a statement that names another session's temporary schema.
pub(crate) fn check_other_sessions(
    stmt: &mut Statement,
    own: Option<&str>,
) -> Result<(), SqlError> {
    let mut foreign = false;
    let mut check = |name: &ObjectName| {
        if let Some(s) = schema_of(name) {
            foreign |= is_temp_schema(&s) && Some(s.as_str()) != own;
        }
    };
    let _ = datafusion::sql::sqlparser::ast::visit_relations_mut(stmt, |name| {
        check(name);
        ControlFlow::<()>::Continue(())
    });
    if let Statement::Drop { names, .. } = stmt {
        names.iter().for_each(&mut check);
    }
    if foreign {
        return Err(SqlError::unsupported(
            "cannot access temporary tables of other sessions",
        ));
    }
    Ok(())
}

/// Whether a query reads a relation of `schema`.
pub(crate) fn reads_schema(query: &Query, schema: &str) -> bool {
    let mut found = false;
    let _ = datafusion::sql::sqlparser::ast::visit_relations(query, |name| {
        found |= schema_of(name).as_deref() == Some(schema);
        ControlFlow::<()>::Continue(())
    });
    found
}

/// Drops a schema and everything in it from the catalog (the end of a session's temporary
/// schema, or one left by an earlier run of the server).
pub async fn drop_schema_objects(engine: &Arc<Engine>, schema: &str) -> Result<(), SqlError> {
    engine
        .ddl(|c: &mut Catalog| {
            remove_schema(c, schema);
            Ok::<_, SqlError>(vec![])
        })
        .await?;
    Ok(())
}

/// The catalog side of DROP SCHEMA … CASCADE.
pub(crate) fn remove_schema(c: &mut Catalog, schema: &str) {
    let ids: Vec<_> = c
        .tables
        .values()
        .filter(|t| t.schema == schema)
        .map(|t| t.id)
        .collect();
    for id in ids {
        c.tables.remove(&id);
    }
    c.sequences
        .retain(|n, _| !n.starts_with(&format!("{schema}.")));
    c.views.retain(|_, v| v.schema != schema);
    c.schemas.remove(schema);
}

/// Drops the temporary schemas a previous run of the server left behind.
pub async fn drop_leftover_temp_schemas(engine: &Arc<Engine>) -> Result<(), SqlError> {
    let leftovers: Vec<String> = engine
        .catalog()
        .schemas
        .keys()
        .filter(|s| is_temp_schema(s))
        .cloned()
        .collect();
    for schema in leftovers {
        drop_schema_objects(engine, &schema).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_qualified_except_ctes_and_definitions() {
        let tables: HashSet<String> = ["t".to_owned()].into();
        let run = |sql: &str| {
            let mut stmt = crate::session::parse_sql(sql).unwrap().pop().unwrap();
            qualify_temp_tables(&mut stmt, "pg_temp_7", &tables);
            stmt.to_string()
        };
        assert_eq!(
            run("SELECT * FROM t JOIN u ON true"),
            "SELECT * FROM \"pg_temp_7\".t AS \"t\" JOIN u ON true"
        );
        assert_eq!(
            run("INSERT INTO t VALUES (1)"),
            "INSERT INTO \"pg_temp_7\".t VALUES (1)"
        );
        assert_eq!(run("DROP TABLE t, u"), "DROP TABLE \"pg_temp_7\".t, u");
        assert_eq!(
            run("WITH t AS (SELECT 1) SELECT * FROM t"),
            "WITH t AS (SELECT 1) SELECT * FROM t"
        );
        assert_eq!(run("CREATE TABLE t (a INT)"), "CREATE TABLE t (a INT)");
        assert_eq!(run("SELECT * FROM public.t"), "SELECT * FROM public.t");
    }

    #[test]
    fn other_sessions_temporary_schemas_are_refused() {
        let check = |sql: &str, own: Option<&str>| {
            let mut stmt = crate::session::parse_sql(sql).unwrap().pop().unwrap();
            check_other_sessions(&mut stmt, own).is_ok()
        };
        assert!(!check("SELECT * FROM pg_temp_3.t", None));
        assert!(!check("DROP TABLE pg_temp_3.t", Some("pg_temp_4")));
        assert!(check("SELECT * FROM pg_temp_4.t", Some("pg_temp_4")));
        let Statement::Query(q) =
            crate::session::parse_sql("SELECT * FROM pg_temp_4.t JOIN u ON true")
                .unwrap()
                .remove(0)
        else {
            panic!("a query");
        };
        assert!(reads_schema(&q, "pg_temp_4"));
        assert!(!reads_schema(&q, "pg_temp_5"));
    }
}
