//! The MySQL side of a [`Session`]: running query texts statement by statement, prepared
//! statements with `?` placeholders, the current database, and the per-statement state
//! MySQL reports (affected rows, LAST_INSERT_ID, warnings).

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::sql::sqlparser::ast::{Query, Statement, Visit, Visitor};

use super::{parse_piece, split, MyError, MyState, Piece, Warning};
use crate::error::{SqlError, SqlResult};
use crate::session::{Output, Prepared, Session};

/// Single-part table names that are not CTE names: these need a selected database.
fn has_unqualified_tables(stmt: &Statement) -> bool {
    struct V {
        ctes: HashSet<String>,
        found: bool,
    }
    impl Visitor for V {
        type Break = ();
        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            if let Some(with) = &q.with {
                for c in &with.cte_tables {
                    self.ctes.insert(c.alias.name.value.to_lowercase());
                }
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_relation(
            &mut self,
            name: &datafusion::sql::sqlparser::ast::ObjectName,
        ) -> ControlFlow<()> {
            if name.0.len() == 1 {
                let n = name.to_string().trim_matches('"').to_lowercase();
                if !self.ctes.contains(&n) {
                    self.found = true;
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut v = V {
        ctes: HashSet::new(),
        found: false,
    };
    let _ = stmt.visit(&mut v);
    v.found
}

fn has_recursive_cte(stmt: &Statement) -> bool {
    struct V(bool);
    impl Visitor for V {
        type Break = ();
        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            if q.with.as_ref().is_some_and(|w| w.recursive) {
                self.0 = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut v = V(false);
    let _ = stmt.visit(&mut v);
    v.0
}

fn is_insert_tag(tag: &str) -> bool {
    tag.starts_with("INSERT")
}

impl Session {
    pub(crate) fn my(&self) -> &MyState {
        &self.my
    }

    pub(crate) fn my_mut(&mut self) -> &mut MyState {
        &mut self.my
    }

    /// The current database (`USE`), if any.
    pub fn mysql_database(&self) -> Option<String> {
        self.my.database.clone()
    }

    pub fn mysql_autocommit(&self) -> bool {
        self.my.autocommit
    }

    pub fn mysql_warning_count(&self) -> u16 {
        u16::try_from(self.my.warnings.len()).unwrap_or(u16::MAX)
    }

    /// Records a condition that MySQL reports as a warning rather than an error.
    pub(crate) fn mysql_warning(&mut self, e: &SqlError) {
        let m = MyError::from(e);
        self.my.warnings.push(Warning {
            level: "Warning",
            code: m.code,
            message: m.message,
        });
    }

    /// The OK packet's info text of the last statement.
    pub fn mysql_info(&self) -> &str {
        &self.my.ok_info
    }

    /// CLIENT_FOUND_ROWS: UPDATE reports matched rather than changed rows.
    pub fn set_mysql_found_rows(&mut self, on: bool) {
        self.my.client_found_rows = on;
    }

    /// Rows a command changed, for the OK packet.
    pub fn mysql_affected_rows(&self, tag: &str) -> u64 {
        if self.my.client_found_rows && tag.starts_with("UPDATE") {
            return self.my.matched_rows;
        }
        let counted = [
            "INSERT",
            "UPDATE",
            "DELETE",
            "CREATE DATABASE",
            "DROP DATABASE",
            "COPY",
        ];
        if !counted.iter().any(|c| tag.starts_with(c)) {
            return 0;
        }
        tag.rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// The AUTO_INCREMENT value the last statement generated first (0 if none).
    pub fn mysql_last_insert_id_of_statement(&self) -> u64 {
        self.my.statement_insert_id
    }

    /// Selects the current database (`USE db`, COM_INIT_DB, the handshake's database).
    pub fn use_database(&mut self, name: &str) -> SqlResult<()> {
        let name = name.trim().trim_matches('`').to_owned();
        let exists =
            name == "information_schema" || self.engine().catalog().schemas.contains_key(&name);
        if !exists {
            return Err(SqlError::UndefinedSchema(name));
        }
        self.set_default_schema(Some(&name));
        if let Some(p) = self
            .db
            .processes
            .lock()
            .get_mut(&self.my.info.connection_id)
        {
            p.db = Some(name.clone());
        }
        self.my.database = Some(name);
        Ok(())
    }

    /// Ends a MySQL connection's session: it leaves the process list.
    pub fn close(&mut self) {
        if self.is_mysql() {
            self.db.processes.lock().remove(&self.my.info.connection_id);
        }
    }

    /// COM_RESET_CONNECTION: the session as it was after connecting (the database stays).
    pub fn reset_mysql(&mut self) {
        let _ = self.execute_statement_sync_rollback();
        self.my.user_vars.clear();
        self.my.vars.clear();
        self.my.warnings.clear();
        self.my.autocommit = true;
        self.my.last_insert_id = 0;
    }

    fn execute_statement_sync_rollback(&mut self) -> SqlResult<()> {
        self.rollback_block();
        Ok(())
    }

    /// COM_STATISTICS text.
    pub fn mysql_statistics(&self) -> String {
        format!(
            "Uptime: {}  Threads: {}  Questions: 0  Slow queries: 0  Opens: 0  Open tables: {}",
            self.db.started.elapsed().as_secs(),
            self.db.processes.lock().len(),
            self.engine().catalog().tables.len()
        )
    }

    /// COM_FIELD_LIST: the columns of a table and their defaults.
    pub fn mysql_field_list(&self, table: &str) -> SqlResult<(SchemaRef, Vec<Option<String>>)> {
        let db = self.mysql_database().ok_or_else(super::no_database)?;
        let catalog = self.engine().catalog();
        let def = catalog
            .table_by_name(&db, &table.to_lowercase())
            .ok_or_else(|| SqlError::UndefinedTable(format!("{db}.{table}")))?;
        let mut fields = Vec::new();
        let mut defaults = Vec::new();
        for (_, c) in def.live_columns() {
            let mut f = Field::new(&c.name, c.ty.to_arrow(), c.nullable);
            if let Some(d) = &c.mysql_type {
                f = f.with_metadata([(super::MYSQL_TYPE_KEY.to_owned(), d.clone())].into());
            }
            fields.push(f);
            defaults.push(c.default.clone());
        }
        Ok((Arc::new(Schema::new(fields)), defaults))
    }

    fn set_process(&self, command: &'static str, query: Option<&str>) {
        if let Some(p) = self
            .db
            .processes
            .lock()
            .get_mut(&self.my.info.connection_id)
        {
            p.command = command;
            p.since = std::time::Instant::now();
            p.query = query.map(|q| q.chars().take(1024).collect());
        }
    }

    /// Runs a MySQL query text: each statement in turn, stopping at the first error.
    pub(crate) async fn execute_mysql(&mut self, sql: &str) -> Vec<SqlResult<Output>> {
        let pieces = match split(sql) {
            Ok(p) => p,
            Err(e) => return vec![Err(e)],
        };
        let mut out = Vec::with_capacity(pieces.len());
        for (text, tokens) in pieces {
            self.set_process("Query", Some(&text));
            let piece = parse_piece(&text, tokens, &self.my);
            let keeps_warnings =
                matches!(piece, Piece::Command(super::Command::ShowWarnings { .. }));
            if !keeps_warnings {
                self.my.warnings.clear();
            }
            self.my.ok_info.clear();
            self.my.statement_insert_id = 0;
            self.take_first_generated();
            let result = match piece {
                Piece::Command(c) => self.run_mysql_command(c).await,
                Piece::Sql(stmt) => self.run_mysql_statement(*stmt).await,
                Piece::Error(e) => Err(e),
            };
            self.after_mysql_statement(&result);
            self.set_process("Sleep", None);
            let failed = result.is_err();
            out.push(result);
            if failed {
                break;
            }
        }
        out
    }

    async fn run_mysql_statement(&mut self, mut stmt: Statement) -> SqlResult<Output> {
        if self.my.database.is_none() && has_unqualified_tables(&stmt) {
            return Err(super::no_database());
        }
        self.mysql_notes(&stmt);
        crate::rewrite::rewrite(&mut stmt)?;
        // DataFusion refuses a recursive CTE whose anchor reads a column that carries field
        // metadata; such statements are planned without the MySQL column descriptions.
        let recursive = has_recursive_cte(&stmt);
        if recursive {
            self.slot
                .mysql_metadata
                .store(false, std::sync::atomic::Ordering::Relaxed);
        }
        let result = self
            .execute_statement(stmt)
            .await
            .map_err(|e| self.mysql_error_in_context(e));
        if recursive {
            self.slot
                .mysql_metadata
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        result
    }

    /// `db.table` of a possibly qualified name.
    fn mysql_qualified(
        &self,
        name: &datafusion::sql::sqlparser::ast::ObjectName,
    ) -> Option<(String, String)> {
        crate::ddl::qualified(name, self.default_schema().as_deref()).ok()
    }

    /// The notes MySQL leaves for IF [NOT] EXISTS statements that had nothing to do.
    fn mysql_notes(&mut self, stmt: &Statement) {
        let catalog = self.engine().catalog();
        let mut notes = Vec::new();
        match stmt {
            Statement::Drop {
                object_type: datafusion::sql::sqlparser::ast::ObjectType::Table,
                if_exists: true,
                names,
                ..
            } => {
                for n in names {
                    if let Some((db, t)) = self.mysql_qualified(n) {
                        if catalog.table_by_name(&db, &t).is_none() {
                            notes.push((1051, format!("Unknown table '{db}.{t}'")));
                        }
                    }
                }
            }
            Statement::CreateTable(ct) if ct.if_not_exists => {
                if let Some((db, t)) = self.mysql_qualified(&ct.name) {
                    if catalog.table_by_name(&db, &t).is_some() {
                        notes.push((1050, format!("Table '{t}' already exists")));
                    }
                }
            }
            _ => {}
        }
        for (code, message) in notes {
            self.my.warnings.push(Warning {
                level: "Note",
                code,
                message,
            });
        }
    }

    /// Adds what MySQL's messages name and the shared error lacks: the table of a
    /// duplicate key (`'t.uk_name'`) and the database of an unknown table.
    fn mysql_error_in_context(&self, e: SqlError) -> SqlError {
        match &e {
            SqlError::UniqueViolation { constraint, .. }
            | SqlError::Storage(basalt_storage::StorageError::UniqueViolation {
                constraint, ..
            }) if !constraint.ends_with("_pkey") => {
                let catalog = self.engine().catalog();
                let table = catalog.tables.values().find(|t| {
                    t.indexes.iter().any(|i| &i.name == constraint)
                        || t.primary_key_name.as_deref() == Some(constraint)
                });
                let Some(table) = table else {
                    return e;
                };
                let mut m = MyError::from(&e);
                let is_pk = table.primary_key_name.as_deref() == Some(constraint);
                let key = if is_pk {
                    "PRIMARY".to_owned()
                } else {
                    constraint.clone()
                };
                m.message = m.message.replace(
                    &format!("for key '{constraint}'"),
                    &format!("for key '{}.{key}'", table.name),
                );
                SqlError::MySql {
                    code: m.code,
                    sqlstate: m.sqlstate,
                    message: m.message,
                }
            }
            SqlError::NoSuchTable(t) if !t.contains('.') => match &self.my.database {
                Some(db) => SqlError::MySql {
                    code: 1051,
                    sqlstate: "42S02",
                    message: format!("Unknown table '{db}.{t}'"),
                },
                None => e,
            },
            _ => e,
        }
    }

    fn after_mysql_statement(&mut self, result: &SqlResult<Output>) {
        let zeros = self
            .my
            .div_by_zero
            .swap(0, std::sync::atomic::Ordering::Relaxed);
        for _ in 0..zeros.min(64) {
            self.my.warnings.push(Warning {
                level: "Warning",
                code: 1365,
                message: "Division by 0".into(),
            });
        }
        match result {
            Ok(Output::Command(tag)) => {
                if is_insert_tag(tag) {
                    if let Some(id) = self.take_first_generated() {
                        let id = u64::try_from(id).unwrap_or(0);
                        self.my.last_insert_id = id;
                        self.my.statement_insert_id = id;
                    }
                }
                self.my.row_count = i64::try_from(self.mysql_affected_rows(tag)).unwrap_or(0);
            }
            Ok(Output::Rows { batches, .. }) => {
                self.my.found_rows = batches.iter().map(|b| b.num_rows() as u64).sum();
                self.my.row_count = -1;
            }
            Ok(_) => {}
            Err(_) => self.my.row_count = -1,
        }
    }

    /// Evaluates a MySQL expression (the value of `SET @x = …`).
    pub(crate) async fn mysql_eval(&mut self, expr: &str) -> SqlResult<ScalarValue> {
        let text = format!("SELECT {expr}");
        let mut pieces = split(&text)?;
        let Some((text, tokens)) = pieces.pop() else {
            return Ok(ScalarValue::Null);
        };
        let Piece::Sql(stmt) = parse_piece(&text, tokens, &self.my) else {
            return Err(super::syntax_error(
                &text,
                &datafusion::sql::sqlparser::parser::ParserError::ParserError(String::new()),
            ));
        };
        let Statement::Query(q) = *stmt else {
            return Ok(ScalarValue::Null);
        };
        let (_, batches) = self.run_query(*q).await?;
        for b in batches {
            if b.num_rows() > 0 && b.num_columns() > 0 {
                return Ok(ScalarValue::try_from_array(b.column(0), 0)?);
            }
        }
        Ok(ScalarValue::Null)
    }

    /// COM_STMT_PREPARE: `?` placeholders become `$1 … $n`.
    pub(crate) async fn prepare_mysql(
        &mut self,
        sql: &str,
        client_types: &[Option<DataType>],
    ) -> SqlResult<Prepared> {
        let mut pieces = split(sql)?;
        if pieces.len() > 1 {
            return Err(SqlError::MySql {
                code: 1064,
                sqlstate: "42000",
                message:
                    "You have an error in your SQL syntax; a prepared statement holds one statement"
                        .into(),
            });
        }
        let Some((text, tokens)) = pieces.pop() else {
            return Err(SqlError::MySql {
                code: 1065,
                sqlstate: "42000",
                message: "Query was empty".into(),
            });
        };
        match parse_piece(&text, tokens, &self.my) {
            Piece::Error(e) => Err(e),
            Piece::Command(_) => {
                let mut p = Prepared::empty();
                p.raw = Some(text);
                Ok(p)
            }
            Piece::Sql(stmt) => {
                if self.my.database.is_none() && has_unqualified_tables(&stmt) {
                    return Err(super::no_database());
                }
                self.prepare_statement(&text, *stmt, client_types).await
            }
        }
    }

    /// COM_STMT_EXECUTE of a prepared SQL statement.
    pub(crate) async fn execute_prepared_mysql(
        &mut self,
        prepared: &Prepared,
        stmt: &Statement,
        values: Vec<ScalarValue>,
    ) -> SqlResult<Output> {
        let expected = crate::params::count(stmt);
        if values.len() != expected {
            return Err(SqlError::MySql {
                code: 1210,
                sqlstate: "HY000",
                message: "Incorrect arguments to mysqld_stmt_execute".into(),
            });
        }
        self.set_process("Execute", None);
        self.my.warnings.clear();
        self.my.ok_info.clear();
        self.my.statement_insert_id = 0;
        self.take_first_generated();
        self.mysql_implicit_begin();
        let values = coerce_params(prepared, values);
        let result = self
            .run_prepared(prepared, stmt, values)
            .await
            .map_err(|e| self.mysql_error_in_context(e));
        self.after_mysql_statement(&result);
        self.set_process("Sleep", None);
        result
    }
}

/// MySQL clients send parameters in their own types (numbers often as DOUBLE or LONGLONG,
/// dates as DATETIME); each is cast to the type the statement expects where they differ.
fn coerce_params(prepared: &Prepared, values: Vec<ScalarValue>) -> Vec<ScalarValue> {
    values
        .into_iter()
        .enumerate()
        .map(
            |(i, v)| match prepared.param_types.get(i).cloned().flatten() {
                // Text for an interval (MySQL TIME) is parsed by the column conversion, which
                // knows MySQL's forms; Arrow's cast does not.
                Some(DataType::Interval(_)) => v,
                Some(t) if !v.is_null() && v.data_type() != t => v.cast_to(&t).unwrap_or(v),
                // Untyped places (LIMIT ?, ?): MySQL casts numeric text to a number.
                None => match &v {
                    ScalarValue::Utf8(Some(s)) => s
                        .trim()
                        .parse::<i64>()
                        .map(|n| ScalarValue::Int64(Some(n)))
                        .unwrap_or(v),
                    _ => v,
                },
                _ => v,
            },
        )
        .collect()
}
