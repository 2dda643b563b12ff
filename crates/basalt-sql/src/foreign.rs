//! FOREIGN KEY constraints: their definition (CREATE TABLE, ALTER TABLE ADD CONSTRAINT) and
//! their enforcement at the end of each writing statement.
//!
//! Every write path (INSERT, UPDATE, DELETE, COPY, the fast path, MySQL's REPLACE) leaves its
//! changes in the transaction's undo log, so the checks run in one place: after the statement,
//! over the rows it changed ([`Transaction::take_changes`]), as PostgreSQL checks NO ACTION
//! constraints at the end of the statement. A new or changed reference must find its key in
//! the referenced table; a referenced key that disappears (DELETE, or an UPDATE of the key)
//! applies the constraint's action to the rows that reference it: an error (NO ACTION,
//! RESTRICT), or their deletion or update (CASCADE, SET NULL, SET DEFAULT), whose own changes
//! are checked in the next round. DEFERRABLE INITIALLY DEFERRED constraints are checked at
//! COMMIT instead, over everything the transaction changed. Commit re-checks the keys against
//! concurrent commits (`basalt_storage::fkeys`).

use std::sync::Arc;

use basalt_common::{SqlType, TableId, Value};
use basalt_storage::fkeys::{key_of, rows_with_key};
use basalt_storage::txn::Change;
use basalt_storage::{Catalog, ForeignKeyDef, ReferentialAction, TableDef, Transaction};
use datafusion::sql::sqlparser::ast::{
    ConstraintReferenceMatchKind, ForeignKeyConstraint, ReferentialAction as AstAction,
};

use crate::ddl::{ident, qualified};
use crate::error::{SqlError, SqlResult};
use crate::session::Session;

/// Cascades deeper than this many rounds are refused (a cycle of ON UPDATE CASCADE
/// constraints that never settles).
const MAX_ROUNDS: usize = 10_000;

/// The referenced table of a constraint being defined: an existing table, or the table the
/// same CREATE TABLE creates (a self-reference).
pub(crate) enum Referenced<'a> {
    Table(&'a TableDef),
    ItSelf,
}

/// Resolves a FOREIGN KEY clause of `child` (whose columns are known; its id may not be
/// allocated yet). `column` is the column a column-level REFERENCES clause belongs to.
/// `unique_sets` are the child's own primary key and unique column sets, for a
/// self-reference in CREATE TABLE. Returns the definition, with `parent` unset when the table
/// references itself.
pub(crate) fn define(
    s: &Session,
    catalog: &Catalog,
    child: &TableDef,
    fk: &ForeignKeyConstraint,
    column: Option<usize>,
    unique_sets: &[Vec<usize>],
    creating: bool,
) -> SqlResult<(ForeignKeyDef, bool)> {
    let (schema, name) = qualified(&fk.foreign_table, s.default_schema().as_deref())?;
    // An unqualified name of the table being created is that table (a temporary table's
    // schema is not the default one).
    let unqualified = crate::session::object_name_parts(&fk.foreign_table).len() == 1;
    let referenced = if creating && name == child.name && (unqualified || schema == child.schema) {
        Referenced::ItSelf
    } else {
        // An unqualified name finds the session's temporary table first, as PostgreSQL's
        // search_path does.
        let temp = s
            .temp_schema_name()
            .filter(|_| unqualified)
            .and_then(|t| catalog.table_by_name(&t, &name));
        let def = temp
            .or_else(|| catalog.table_by_name(&schema, &name))
            .ok_or_else(|| SqlError::UndefinedTable(name.clone()))?;
        Referenced::Table(def)
    };
    let (parent_def, parent_uniques): (&TableDef, Vec<Vec<usize>>) = match referenced {
        Referenced::Table(def) => {
            let mut sets: Vec<Vec<usize>> = def.primary_key.iter().cloned().collect();
            sets.extend(
                def.indexes
                    .iter()
                    .filter(|i| i.unique)
                    .map(|i| i.columns.clone()),
            );
            (def, sets)
        }
        Referenced::ItSelf => (child, unique_sets.to_vec()),
    };
    let columns: Vec<usize> = match column {
        Some(c) => vec![c],
        None => fk
            .columns
            .iter()
            .map(|c| position(child, &ident(c)))
            .collect::<SqlResult<_>>()?,
    };
    let parent_columns: Vec<usize> = if fk.referred_columns.is_empty() {
        let pk = match referenced {
            Referenced::Table(def) => def.primary_key.clone(),
            Referenced::ItSelf => unique_sets.first().cloned().filter(|_| child_has_pk(child)),
        };
        pk.ok_or_else(|| {
            SqlError::InvalidForeignKey(format!(
                "there is no primary key for referenced table \"{}\"",
                parent_def.name
            ))
        })?
    } else {
        fk.referred_columns
            .iter()
            .map(|c| position(parent_def, &ident(c)))
            .collect::<SqlResult<_>>()?
    };
    if columns.len() != parent_columns.len() {
        return Err(SqlError::InvalidForeignKey(
            "number of referencing and referenced columns for foreign key disagree".into(),
        ));
    }
    let is_unique = parent_uniques.iter().any(|set| {
        set.len() == parent_columns.len() && set.iter().all(|c| parent_columns.contains(c))
    });
    if !is_unique {
        return Err(SqlError::InvalidForeignKey(format!(
            "there is no unique constraint matching given keys for referenced table \"{}\"",
            parent_def.name
        )));
    }
    for (&c, &p) in columns.iter().zip(&parent_columns) {
        let (ct, pt) = (&child.columns[c].ty, &parent_def.columns[p].ty);
        if !key_compatible(ct, pt) {
            let name = fk_name(child, &columns, fk, s.is_mysql());
            return Err(SqlError::Detailed {
                sqlstate: "42804",
                message: format!("foreign key constraint \"{name}\" cannot be implemented"),
                detail: format!(
                    "Key columns \"{}\" and \"{}\" are of incompatible types: {} and {}.",
                    child.columns[c].name,
                    parent_def.columns[p].name,
                    ct.pg_name(),
                    pt.pg_name()
                ),
                hint: None,
            });
        }
    }
    let action = |a: Option<AstAction>| match a {
        None | Some(AstAction::NoAction) => ReferentialAction::NoAction,
        Some(AstAction::Restrict) => ReferentialAction::Restrict,
        Some(AstAction::Cascade) => ReferentialAction::Cascade,
        Some(AstAction::SetNull) => ReferentialAction::SetNull,
        Some(AstAction::SetDefault) => ReferentialAction::SetDefault,
    };
    if matches!(fk.match_kind, Some(ConstraintReferenceMatchKind::Partial)) {
        return Err(SqlError::unsupported("MATCH PARTIAL not yet implemented"));
    }
    let (deferrable, deferred) = crate::ddl::deferral(fk.characteristics.as_ref())?;
    let def = ForeignKeyDef {
        name: fk_name(child, &columns, fk, s.is_mysql()),
        oid: 0,
        columns,
        parent: match referenced {
            Referenced::Table(def) => def.id,
            Referenced::ItSelf => child.id,
        },
        parent_columns,
        on_delete: action(fk.on_delete),
        on_update: action(fk.on_update),
        match_full: matches!(fk.match_kind, Some(ConstraintReferenceMatchKind::Full)),
        deferred,
        deferrable,
    };
    Ok((def, matches!(referenced, Referenced::ItSelf)))
}

fn child_has_pk(def: &TableDef) -> bool {
    def.primary_key.is_some()
}

fn position(def: &TableDef, name: &str) -> SqlResult<usize> {
    def.column_position(name).ok_or_else(|| {
        SqlError::UndefinedColumn(format!(
            "column \"{name}\" referenced in foreign key constraint does not exist"
        ))
    })
}

/// PostgreSQL's default name: `table_col1_col2_fkey`.
fn fk_name(child: &TableDef, columns: &[usize], fk: &ForeignKeyConstraint, mysql: bool) -> String {
    if let Some(n) = &fk.name {
        return ident(n);
    }
    let taken = |n: &str| child.foreign_keys.iter().any(|f| f.name == n);
    if mysql {
        // InnoDB's names: table_ibfk_1, table_ibfk_2, …
        return (1..)
            .map(|i| format!("{}_ibfk_{i}", child.name))
            .find(|n| !taken(n))
            .unwrap_or_default();
    }
    let cols: Vec<&str> = columns
        .iter()
        .map(|&c| child.columns[c].name.as_str())
        .collect();
    let base = format!("{}_{}_fkey", child.name, cols.join("_"));
    if !taken(&base) {
        return base;
    }
    (1..)
        .map(|i| format!("{base}{i}"))
        .find(|n| !taken(n))
        .unwrap_or(base)
}

/// Whether values of the two types compare equal exactly when their stored keys do.
fn key_compatible(a: &SqlType, b: &SqlType) -> bool {
    if a.is_integer() && b.is_integer() {
        return true;
    }
    match (a, b) {
        (SqlType::Numeric { scale: x, .. }, SqlType::Numeric { scale: y, .. }) => x == y,
        _ => std::mem::discriminant(a) == std::mem::discriminant(b) || (is_text(a) && is_text(b)),
    }
}

fn is_text(t: &SqlType) -> bool {
    matches!(t, SqlType::Text | SqlType::Varchar(_))
}

/// `Key (a, b)=(1, x)` of PostgreSQL's details.
fn key_text(def: &TableDef, cols: &[usize], values: &[Value]) -> String {
    let names: Vec<&str> = cols.iter().map(|&c| def.columns[c].name.as_str()).collect();
    let shown: Vec<String> = cols
        .iter()
        .zip(values)
        .map(|(&c, v)| value_text(&def.columns[c].ty, v))
        .collect();
    format!("Key ({})=({})", names.join(", "), shown.join(", "))
}

fn value_text(ty: &SqlType, v: &Value) -> String {
    let mut b = basalt_common::value::ColumnBuilder::new(ty, 1);
    b.push(v);
    crate::format::pg_text_column(&b.finish())
        .ok()
        .and_then(|mut t| t.pop().flatten())
        .unwrap_or_else(|| "null".into())
}

/// MySQL's description of a constraint in errors 1451/1452.
fn mysql_clause(child: &TableDef, parent: &TableDef, fk: &ForeignKeyDef) -> String {
    let cols = |def: &TableDef, cs: &[usize]| {
        cs.iter()
            .map(|&c| format!("`{}`", def.columns[c].name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "(`{}`.`{}`, CONSTRAINT `{}` FOREIGN KEY ({}) REFERENCES `{}` ({}))",
        child.schema,
        child.name,
        fk.name,
        cols(child, &fk.columns),
        parent.name,
        cols(parent, &fk.parent_columns)
    )
}

/// The 23503 error of a violated constraint: a reference without its key
/// (`parent_side` false), or a key removed while still referenced.
fn violation(
    child: &TableDef,
    parent: &TableDef,
    fk: &ForeignKeyDef,
    values: &[Value],
    parent_side: bool,
) -> SqlError {
    let clause = mysql_clause(child, parent, fk);
    if parent_side {
        SqlError::ForeignKeyViolation {
            message: format!(
                "update or delete on table \"{}\" violates foreign key constraint \"{}\" on table \"{}\"",
                parent.name, fk.name, child.name
            ),
            detail: format!(
                "{} is still referenced from table \"{}\".",
                key_text(parent, &fk.parent_columns, values),
                child.name
            ),
            mysql_code: 1451,
            mysql_message: format!(
                "Cannot delete or update a parent row: a foreign key constraint fails {clause}"
            ),
        }
    } else {
        SqlError::ForeignKeyViolation {
            message: format!(
                "insert or update on table \"{}\" violates foreign key constraint \"{}\"",
                child.name, fk.name
            ),
            detail: format!(
                "{} is not present in table \"{}\".",
                key_text(child, &fk.columns, values),
                parent.name
            ),
            mysql_code: 1452,
            mysql_message: format!(
                "Cannot add or update a child row: a foreign key constraint fails {clause}"
            ),
        }
    }
}

/// When checks run: at the end of a statement (immediate constraints, and every action), at
/// COMMIT (the NO ACTION checks of deferred constraints), or when `SET CONSTRAINTS …
/// IMMEDIATE` ends the deferral of the named constraints (none named: all).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Moment<'a> {
    Statement,
    Commit,
    Immediate(&'a [String]),
}

impl Moment<'_> {
    /// Whether the NO ACTION check (and the check of a new row's reference) of `fk` runs now.
    fn checks(self, txn: &Transaction, fk: &ForeignKeyDef) -> bool {
        let deferred = fk.deferrable && txn.is_deferred(&fk.name, fk.deferred);
        match self {
            Moment::Statement => !deferred,
            Moment::Commit => deferred,
            Moment::Immediate(names) => deferred && (names.is_empty() || names.contains(&fk.name)),
        }
    }
}

/// Checks the FOREIGN KEY constraints over the rows the current statement changed, applying
/// cascades until nothing is left to do.
pub(crate) async fn enforce_statement(s: &Session, txn: &Arc<Transaction>) -> SqlResult<()> {
    let catalog = s.engine().catalog();
    if !catalog.has_foreign_keys() || !s.foreign_key_checks() {
        return Ok(());
    }
    let engine = Arc::clone(s.engine());
    let stores = move |id: TableId| engine.table(id);
    for _ in 0..MAX_ROUNDS {
        let changes = txn.take_changes(&stores);
        if changes.is_empty() {
            return Ok(());
        }
        check_changes(s, txn, &catalog, &changes, Moment::Statement).await?;
    }
    Err(SqlError::ProgramLimit(
        "foreign key actions did not settle (a cycle of ON UPDATE CASCADE constraints?)".into(),
    ))
}

/// The checks of deferred constraints, at COMMIT, over everything the transaction changed.
pub(crate) async fn enforce_commit(s: &Session, txn: &Arc<Transaction>) -> SqlResult<()> {
    enforce_deferred(s, txn, Moment::Commit).await
}

/// `SET CONSTRAINTS {ALL | names} IMMEDIATE`: the deferred checks of those constraints run
/// now, over everything the transaction changed (`names` empty: all).
pub(crate) async fn enforce_immediate(
    s: &Session,
    txn: &Arc<Transaction>,
    names: &[String],
) -> SqlResult<()> {
    enforce_deferred(s, txn, Moment::Immediate(names)).await
}

async fn enforce_deferred(
    s: &Session,
    txn: &Arc<Transaction>,
    moment: Moment<'_>,
) -> SqlResult<()> {
    let catalog = s.engine().catalog();
    if !s.foreign_key_checks()
        || !catalog
            .tables
            .values()
            .any(|t| t.foreign_keys.iter().any(|f| f.deferrable))
    {
        return Ok(());
    }
    let engine = Arc::clone(s.engine());
    let stores = move |id: TableId| engine.table(id);
    let changes = txn.all_changes(&stores);
    check_changes(s, txn, &catalog, &changes, moment).await
}

async fn check_changes(
    s: &Session,
    txn: &Arc<Transaction>,
    catalog: &Catalog,
    changes: &[Change],
    moment: Moment<'_>,
) -> SqlResult<()> {
    for ch in changes {
        let Ok(def) = catalog.table(ch.table) else {
            continue;
        };
        // The new row's references.
        if let Some(after) = &ch.after {
            for fk in &def.foreign_keys {
                if !moment.checks(txn, fk) {
                    continue;
                }
                check_reference(s, txn, catalog, def, fk, ch.before.as_deref(), after)?;
            }
        }
        // The old row's key, if it is gone. A row moved to another primary key was updated.
        if let Some(before) = &ch.before {
            let moved = match (&ch.after, &ch.moved_to) {
                (None, Some(to)) => s.engine().table(def.id).and_then(|st| txn.read(&st, to)),
                _ => None,
            };
            let after = ch.after.as_deref().or(moved.as_deref());
            for (child, fk) in catalog.referencing(def.id) {
                released_key(s, txn, def, child, fk, before, after, moment).await?;
            }
        }
    }
    Ok(())
}

fn check_reference(
    s: &Session,
    txn: &Transaction,
    catalog: &Catalog,
    def: &TableDef,
    fk: &ForeignKeyDef,
    before: Option<&[Value]>,
    after: &[Value],
) -> SqlResult<()> {
    let Some(values) = key_of(after, &fk.columns) else {
        let nulls = fk
            .columns
            .iter()
            .filter(|&&c| after.get(c).is_none_or(Value::is_null))
            .count();
        if fk.match_full && nulls < fk.columns.len() {
            return Err(SqlError::ForeignKeyViolation {
                message: format!(
                    "insert or update on table \"{}\" violates foreign key constraint \"{}\"",
                    def.name, fk.name
                ),
                detail: "MATCH FULL does not allow mixing of null and nonnull key values.".into(),
                mysql_code: 1452,
                mysql_message: format!(
                    "Cannot add or update a child row: a foreign key constraint fails (`{}`.`{}`)",
                    def.schema, def.name
                ),
            });
        }
        return Ok(());
    };
    if before.is_some_and(|b| key_of(b, &fk.columns).as_ref() == Some(&values)) {
        return Ok(()); // the reference did not change
    }
    let parent = catalog.table(fk.parent)?;
    let store = s
        .engine()
        .table(parent.id)
        .ok_or_else(|| SqlError::UndefinedTable(parent.name.clone()))?;
    if rows_with_key(txn, parent, &store, &fk.parent_columns, &values, 1).is_empty() {
        return Err(violation(def, parent, fk, &values, false));
    }
    Ok(())
}

/// A row of `parent` whose key `child` may reference changed or went away: apply the
/// constraint's action to the rows that still reference the old key.
#[allow(clippy::too_many_arguments)]
async fn released_key(
    s: &Session,
    txn: &Transaction,
    parent: &TableDef,
    child: &TableDef,
    fk: &ForeignKeyDef,
    before: &[Value],
    after: Option<&[Value]>,
    moment: Moment<'_>,
) -> SqlResult<()> {
    let Some(old) = key_of(before, &fk.parent_columns) else {
        return Ok(());
    };
    let new = after.and_then(|a| key_of(a, &fk.parent_columns));
    if after.is_some() && new.as_ref() == Some(&old) {
        return Ok(());
    }
    let action = if after.is_some() {
        fk.on_update
    } else {
        fk.on_delete
    };
    let checks_now = match action {
        ReferentialAction::NoAction => moment.checks(txn, fk),
        // RESTRICT and the actions are never deferred.
        _ => moment == Moment::Statement,
    };
    if !checks_now {
        return Ok(());
    }
    let engine = s.engine();
    let pstore = engine
        .table(parent.id)
        .ok_or_else(|| SqlError::UndefinedTable(parent.name.clone()))?;
    if action == ReferentialAction::NoAction
        && !rows_with_key(txn, parent, &pstore, &fk.parent_columns, &old, 1).is_empty()
    {
        return Ok(()); // another row holds the key now
    }
    let cstore = engine
        .table(child.id)
        .ok_or_else(|| SqlError::UndefinedTable(child.name.clone()))?;
    let refs = rows_with_key(txn, child, &cstore, &fk.columns, &old, usize::MAX);
    if refs.is_empty() {
        return Ok(());
    }
    let replacement: Vec<Value> = match action {
        ReferentialAction::NoAction | ReferentialAction::Restrict => {
            return Err(violation(child, parent, fk, &old, true));
        }
        ReferentialAction::Cascade if after.is_none() => {
            for (key, _) in refs {
                txn.delete(&cstore, child, &key)?;
            }
            return Ok(());
        }
        ReferentialAction::Cascade => new.clone().unwrap_or_else(|| {
            fk.parent_columns
                .iter()
                .map(|&c| after.and_then(|a| a.get(c).cloned()).unwrap_or(Value::Null))
                .collect()
        }),
        ReferentialAction::SetNull => vec![Value::Null; fk.columns.len()],
        ReferentialAction::SetDefault => {
            let mut out = Vec::with_capacity(fk.columns.len());
            for &c in &fk.columns {
                out.push(default_value(s, child, c)?);
            }
            out
        }
    };
    let mut rows = Vec::with_capacity(refs.len());
    for (key, row) in refs {
        let mut row = row.to_vec();
        row.resize(child.columns.len(), Value::Null);
        for (&c, v) in fk.columns.iter().zip(&replacement) {
            row[c] = convert(v, &child.columns[c].ty);
        }
        rows.push((key, row));
    }
    let full: Vec<Vec<Value>> = rows.iter().map(|(_, r)| r.clone()).collect();
    crate::dml::check_rows(s, child, &full)?;
    for (key, row) in rows {
        if s.is_mysql() {
            txn.update(&cstore, child, &key, row.into())?;
        } else {
            txn.update_relocating(&cstore, child, &key, row.into())?;
        }
    }
    Ok(())
}

/// A value of a referenced column as the referencing column's type (integers differ in
/// width; the other key-compatible types share their representation).
fn convert(v: &Value, ty: &SqlType) -> Value {
    match v.as_i64() {
        Some(i) if ty.is_integer() => Value::integer_of_type(ty, i).unwrap_or_else(|| v.clone()),
        _ => v.clone(),
    }
}

/// The DEFAULT of a column, evaluated (ON DELETE SET DEFAULT).
fn default_value(s: &Session, def: &TableDef, c: usize) -> SqlResult<Value> {
    let col = &def.columns[c];
    let Some(sql) = &col.default else {
        return Ok(Value::Null);
    };
    let expr = crate::eval::compile_default(s, sql)?;
    let array = crate::eval::eval(&expr, &crate::eval::empty_batch(1)?)?;
    let array = crate::eval::to_column(&array, col, s.date_order())?;
    Ok(basalt_common::value::value_at(array.as_ref(), 0, &col.ty)?)
}

/// ALTER TABLE … ADD FOREIGN KEY: every existing row of `child` must find its key.
pub(crate) fn validate_existing(
    s: &Session,
    txn: &Transaction,
    catalog: &Catalog,
    child: &TableDef,
    fk: &ForeignKeyDef,
) -> SqlResult<()> {
    let store = s
        .engine()
        .table(child.id)
        .ok_or_else(|| SqlError::UndefinedTable(child.name.clone()))?;
    let mut after: Option<basalt_storage::Key> = None;
    loop {
        let mut chunk = Vec::new();
        let resume = txn.scan_chunk(&store, after.as_deref(), 1024, &mut chunk);
        for (_, row) in &chunk {
            check_reference(s, txn, catalog, child, fk, None, row)?;
        }
        match resume {
            Some(k) => after = Some(k),
            None => return Ok(()),
        }
    }
}

/// The constraints of tables outside `dropped` that reference a table in it: DROP TABLE and
/// TRUNCATE refuse them without CASCADE. Returns (constraint, referencing table, referenced
/// table).
pub(crate) fn outside_references<'a>(
    catalog: &'a Catalog,
    dropped: &'a [TableId],
) -> Vec<(&'a TableDef, &'a ForeignKeyDef)> {
    catalog
        .tables
        .values()
        .filter(|t| !dropped.contains(&t.id))
        .flat_map(|t| t.foreign_keys.iter().map(move |f| (t, f)))
        .filter(|(_, f)| dropped.contains(&f.parent))
        .collect()
}

/// PostgreSQL's refusal to drop an object others depend on.
pub(crate) fn dependents_error(
    s: &Session,
    what: &str,
    deps: &[(&TableDef, &ForeignKeyDef)],
) -> SqlError {
    if s.is_mysql() {
        if let Some((t, f)) = deps.first() {
            return SqlError::MySql {
                code: 3730,
                sqlstate: "HY000",
                message: format!(
                    "Cannot drop table '{}' referenced by a foreign key constraint '{}' on table '{}'.",
                    what.rsplit(' ').next().unwrap_or(what),
                    f.name,
                    t.name
                ),
            };
        }
    }
    let lines: Vec<String> = deps
        .iter()
        .map(|(t, f)| {
            format!(
                "constraint {} on table {} depends on {what}",
                f.name, t.name
            )
        })
        .collect();
    SqlError::Detailed {
        sqlstate: "2BP01",
        message: format!("cannot drop {what} because other objects depend on it"),
        detail: lines.join("\n"),
        hint: Some("Use DROP ... CASCADE to drop the dependent objects too.".into()),
    }
}

/// The NOTICE of DROP … CASCADE for the constraints it drops.
pub(crate) fn cascade_notice(s: &mut Session, deps: &[(String, String)]) {
    match deps {
        [] => {}
        [(f, t)] => s.notice(
            "NOTICE",
            "00000",
            format!("drop cascades to constraint {f} on table {t}"),
        ),
        many => {
            let lines: Vec<String> = many
                .iter()
                .map(|(f, t)| format!("drop cascades to constraint {f} on table {t}"))
                .collect();
            s.notice_with_detail(
                "NOTICE",
                "00000",
                format!("drop cascades to {} other objects", many.len()),
                lines.join("\n"),
            );
        }
    }
}
