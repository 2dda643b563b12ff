//! INSERT, UPDATE and DELETE.
//!
//! The rows a statement affects are computed by DataFusion (the source query of an INSERT,
//! or a SELECT over the target table with the hidden key column for UPDATE/DELETE), then
//! converted to the table's types, checked against NOT NULL and CHECK constraints, and
//! written into the transaction, where the storage layer enforces keys and uniqueness.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use basalt_common::value::ColumnBuilder;
use basalt_common::{Row, Value};
use basalt_storage::codec::{encode_key, Key};
use basalt_storage::{CheckDef, StorageError, TableDef, TableStore, Transaction};
use datafusion::arrow::array::{new_null_array, Array, ArrayRef, BinaryArray, BooleanArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::sql::sqlparser::ast;
use datafusion::sql::sqlparser::ast::{
    AssignmentTarget, ConflictTarget, Delete, Expr, FromTable, Insert, OnConflictAction, OnInsert,
    Query, SelectItem, SetExpr, TableFactor, TableObject, TrimWhereField, Update,
    UpdateTableFromKind,
};

use crate::ddl::{qualified, resolve_table};
use crate::error::{SqlError, SqlResult};
use crate::eval::{
    compile, compile_multi, empty_batch, eval, physical_schema, quote_ident, row_values,
};
use crate::provider::{KEY_COLUMN, SCAN_BATCH_ROWS};
use crate::session::{object_name_parts, parse_sql, Output, Session};

fn store_of(s: &Session, def: &TableDef) -> SqlResult<Arc<TableStore>> {
    s.engine()
        .table(def.id)
        .ok_or_else(|| SqlError::UndefinedTable(def.name.clone()))
}

/// PostgreSQL's error for an ON CONFLICT DO UPDATE that reaches one row twice.
fn affected_twice() -> SqlError {
    SqlError::Detailed {
        sqlstate: "21000",
        message: "ON CONFLICT DO UPDATE command cannot affect row a second time".into(),
        detail: String::new(),
        hint: Some(
            "Ensure that no rows proposed for insertion within the same command have \
             duplicate constrained values."
                .into(),
        ),
    }
}

pub(crate) fn is_default_keyword(e: &Expr) -> bool {
    matches!(e, Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"))
}

// ---- building rows ---------------------------------------------------------------------------

/// Full-width rows of `def` from computed columns for `targets` (physical positions); other
/// columns get their DEFAULT (or NULL). Checks NOT NULL and CHECK constraints.
fn build_rows(
    s: &Session,
    def: &TableDef,
    targets: &[usize],
    source: &[ArrayRef],
    num_rows: usize,
) -> SqlResult<Vec<Vec<Value>>> {
    // A default that reads a sequence's current value must see the values the other
    // defaults of its own row drew: such rows are made one at a time.
    let row_by_row = num_rows > 1
        && def.columns.iter().enumerate().any(|(pos, c)| {
            !targets.contains(&pos)
                && c.default.as_deref().is_some_and(|d| {
                    let d = d.to_lowercase();
                    d.contains("currval(") || d.contains("lastval(")
                })
        });
    if row_by_row {
        let mut rows = Vec::with_capacity(num_rows);
        for i in 0..num_rows {
            let one: Vec<ArrayRef> = source.iter().map(|a| a.slice(i, 1)).collect();
            rows.extend(build_rows(s, def, targets, &one, 1)?);
        }
        return Ok(rows);
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(def.columns.len());
    for (pos, col) in def.columns.iter().enumerate() {
        let array = if col.dropped {
            new_null_array(&col.ty.to_arrow(), num_rows)
        } else if let Some(i) = targets.iter().position(|&t| t == pos) {
            let array = crate::eval::to_column(&source[i], col, s.date_order())?;
            if s.is_mysql() {
                mysql_auto_values(s, col, array)?
            } else {
                array
            }
        } else if let Some(default) = &col.default {
            let expr = crate::eval::compile_default(s, default)?;
            crate::eval::to_column(&eval(&expr, &empty_batch(num_rows)?)?, col, s.date_order())?
        } else {
            new_null_array(&col.ty.to_arrow(), num_rows)
        };
        columns.push(array);
    }
    let batch = batch_of(def, columns, num_rows)?;
    // With BEFORE ROW triggers the rows are checked once the triggers have run.
    if !crate::trigger::has_row_triggers(s, def, "INSERT", true) {
        check_constraints(s, def, &batch)?;
    }
    let types = def.types();
    (0..num_rows)
        .map(|i| row_values(batch.columns(), &types, i))
        .collect()
}

/// MySQL: NULL or 0 written into an AUTO_INCREMENT column takes the next value.
fn mysql_auto_values(
    s: &Session,
    col: &basalt_storage::ColumnDef,
    array: ArrayRef,
) -> SqlResult<ArrayRef> {
    let Some(seq) = col
        .default
        .as_deref()
        .and_then(|d| d.strip_prefix("nextval('"))
        .and_then(|d| d.strip_suffix("')"))
    else {
        return Ok(array);
    };
    let mut values = Vec::with_capacity(array.len());
    let mut generated = false;
    for row in 0..array.len() {
        let v = basalt_common::value::value_at(array.as_ref(), row, &col.ty)?;
        let zero = matches!(v, Value::Null) || int_value(&v) == Some(0);
        if zero {
            let n = s.engine().nextval(seq)?;
            s.note_generated(n);
            generated = true;
            values.push(match &col.ty {
                basalt_common::SqlType::Numeric { .. } => Value::Decimal(i128::from(n)),
                ty => Value::integer_of_type(ty, n).ok_or_else(|| {
                    SqlError::OutOfRange(format!(
                        "AUTO_INCREMENT value {n} out of range for column {}",
                        col.name
                    ))
                })?,
            });
        } else {
            values.push(v);
        }
    }
    if !generated {
        return Ok(array);
    }
    let mut b = ColumnBuilder::new(&col.ty, values.len());
    for v in &values {
        b.push(v);
    }
    Ok(b.finish())
}

fn batch_of(def: &TableDef, columns: Vec<ArrayRef>, num_rows: usize) -> SqlResult<RecordBatch> {
    let options = RecordBatchOptions::new().with_row_count(Some(num_rows));
    Ok(RecordBatch::try_new_with_options(
        physical_schema(def),
        columns,
        &options,
    )?)
}

/// A batch of full-width stored rows.
pub(crate) fn rows_batch(def: &TableDef, rows: &[Vec<Value>]) -> SqlResult<RecordBatch> {
    let columns = def
        .columns
        .iter()
        .enumerate()
        .map(|(pos, c)| {
            let mut b = ColumnBuilder::new(&c.ty, rows.len());
            for r in rows {
                b.push(r.get(pos).unwrap_or(&Value::Null));
            }
            b.finish()
        })
        .collect();
    batch_of(def, columns, rows.len())
}

/// PostgreSQL's `Failing row contains (…).` for one row of a batch of stored rows.
fn failing_row_of(def: &TableDef, batch: &RecordBatch, row: usize) -> String {
    let types = def.types();
    match row_values(batch.columns(), &types, row) {
        Ok(values) => crate::partition::failing_row(def, &values),
        Err(_) => String::new(),
    }
}

/// The NOT NULL and CHECK constraints over a batch of new rows, reported as PostgreSQL
/// reports them: the first row that violates any, and for that row NOT NULL (in column
/// order) before CHECK (in constraint-name order).
fn check_constraints(s: &Session, def: &TableDef, batch: &RecordBatch) -> SqlResult<()> {
    crate::domain::check_values(s, def, batch)?;
    let first_null = def
        .live_columns()
        .filter(|(pos, c)| !c.nullable && batch.column(*pos).null_count() > 0)
        .filter_map(|(pos, c)| {
            let column = batch.column(pos);
            (0..column.len())
                .find(|&i| column.is_null(i))
                .map(|row| (row, c))
        })
        .min_by_key(|(row, _)| *row);
    if first_null.is_none() {
        check_mysql_types(def, batch)?;
    }
    let mut first_failure = None;
    if !def.checks.is_empty() && batch.num_rows() > 0 {
        let schema = physical_schema(def);
        let mut checks: Vec<&CheckDef> = def.checks.iter().collect();
        checks.sort_by(|a, b| a.name.cmp(&b.name));
        for check in checks {
            let expr = compile(s, &check.expr, &schema, Some(&def.name))?;
            let result = eval(&expr, batch)?;
            let Some(bools) = result.as_any().downcast_ref::<BooleanArray>() else {
                return Err(SqlError::DatatypeMismatch(format!(
                    "CHECK constraint \"{}\" is not boolean",
                    check.name
                )));
            };
            // NULL counts as passing, as in SQL.
            let row = bools.iter().position(|v| v == Some(false));
            if let Some(row) = row.filter(|r| first_failure.is_none_or(|(f, _)| r < &f)) {
                first_failure = Some((row, check));
            }
        }
    }
    match (first_null, first_failure) {
        (Some((row, col)), failure) if failure.is_none_or(|(f, _)| row <= f) => {
            Err(SqlError::NotNullViolation {
                column: col.name.clone(),
                table: def.name.clone(),
                detail: failing_row_of(def, batch, row),
            })
        }
        (_, Some((row, check))) => Err(SqlError::CheckViolation {
            table: def.name.clone(),
            constraint: check.name.clone(),
            detail: failing_row_of(def, batch, row),
        }),
        _ => Ok(()),
    }
}

// ---- INSERT ---------------------------------------------------------------------------------

pub async fn insert(s: &mut Session, txn: &Arc<Transaction>, ins: Insert) -> SqlResult<Output> {
    let TableObject::TableName(name) = &ins.table else {
        return Err(SqlError::unsupported(
            "INSERT into a table function is not supported",
        ));
    };
    let mysql_variant =
        ins.replace_into || ins.ignore || matches!(ins.on, Some(OnInsert::DuplicateKeyUpdate(_)));
    if mysql_variant && !s.is_mysql() {
        return Err(SqlError::unsupported(
            "REPLACE, INSERT IGNORE and ON DUPLICATE KEY UPDATE are MySQL forms, served on the MySQL port; use ON CONFLICT",
        ));
    }
    let catalog = s.engine().catalog();
    let def = resolve_table(&catalog, name, s.default_schema().as_deref())?;
    let store = store_of(s, &def)?;
    let target_id = def.id;
    let target_def = def.clone();
    let mut targets: Vec<usize> = if ins.columns.is_empty() {
        def.live_columns().map(|(i, _)| i).collect()
    } else {
        let mut out = Vec::new();
        for c in &ins.columns {
            let cname = object_name_parts(c).pop().unwrap_or_default();
            let pos = def.column_position(&cname).ok_or_else(|| {
                SqlError::UndefinedColumn(format!(
                    "column \"{cname}\" of relation \"{}\" does not exist",
                    def.name
                ))
            })?;
            if out.contains(&pos) {
                return Err(SqlError::Syntax {
                    message: format!("column \"{cname}\" specified more than once"),
                    position: None,
                });
            }
            out.push(pos);
        }
        out
    };
    // Without a column list, fewer values than columns fill the leading columns (the rest
    // take their defaults), as in PostgreSQL (MySQL refuses it).
    let implicit_columns = ins.columns.is_empty() && !s.is_mysql();
    if !s.is_mysql() {
        check_insert_arity(&ins)?;
    }
    if implicit_columns {
        if let Some(SetExpr::Values(values)) = ins.source.as_ref().map(|q| q.body.as_ref()) {
            if let Some(n) = values.rows.iter().map(|r| r.content.len()).max() {
                targets.truncate(n.max(1));
            }
        }
    }
    let alias = ins.table_alias.as_ref().map(|a| a.alias.value.clone());
    // Each source is (target columns, batches): a VALUES list whose rows use DEFAULT in
    // different columns is split into groups of rows with the same DEFAULT columns.
    let mut sources: Vec<(Vec<usize>, Vec<RecordBatch>)> = Vec::new();
    match ins.source.clone() {
        None => sources.push((vec![], vec![empty_batch(1)?])),
        Some(q) => {
            for (group_targets, query) in split_defaults(&targets, *q)? {
                let query = match query {
                    Ok(query) => query,
                    Err(rows) => {
                        sources.push((group_targets, vec![empty_batch(rows)?]));
                        continue;
                    }
                };
                for &t in &group_targets {
                    if def.columns[t].identity_always {
                        return Err(SqlError::GeneratedAlways(format!(
                            "cannot insert a non-DEFAULT value into column \"{}\"",
                            def.columns[t].name
                        )));
                    }
                }
                let mut query = query;
                if !s.is_mysql() {
                    type_unknown_literals(&mut query, &group_targets, &def);
                    values_row_as_select(&mut query)?;
                }
                let (schema, batches) = s.run_query(query).await?;
                let mut group_targets = group_targets;
                if implicit_columns && schema.fields().len() < group_targets.len() {
                    group_targets.truncate(schema.fields().len());
                }
                if schema.fields().len() != group_targets.len() {
                    let which = if schema.fields().len() > group_targets.len() {
                        "INSERT has more expressions than target columns"
                    } else {
                        "INSERT has more target columns than expressions"
                    };
                    return Err(SqlError::Syntax {
                        message: which.into(),
                        position: None,
                    });
                }
                sources.push((group_targets, batches));
            }
        }
    }
    targets.clear();
    let conflict = match &ins.on {
        Some(OnInsert::OnConflict(oc)) => Some(Conflict::new(
            &def,
            oc.conflict_target.as_ref(),
            &oc.action,
        )?),
        Some(OnInsert::DuplicateKeyUpdate(assignments)) => {
            let mut sets = Vec::new();
            for a in assignments {
                // A bare column means the existing row's value (VALUES(c) the new one).
                let mut value = a.value.clone();
                let table =
                    datafusion::sql::sqlparser::ast::Ident::with_quote('"', def.name.clone());
                let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(&mut value, |e| {
                    if let Expr::Identifier(i) = e {
                        *e = Expr::CompoundIdentifier(vec![table.clone(), i.clone()]);
                    }
                    std::ops::ControlFlow::<()>::Continue(())
                });
                for pos in assignment_positions(&def, &a.target)? {
                    sets.push((pos, value.clone()));
                }
            }
            Some(Conflict {
                constraints: None,
                index: None,
                update: Some((sets, None)),
                mysql: true,
            })
        }
        _ if ins.ignore || ins.replace_into => Some(Conflict {
            constraints: None,
            index: None,
            update: None,
            mysql: true,
        }),
        _ => None,
    };
    let auto_increment: Vec<(usize, String)> = if s.is_mysql() {
        def.live_columns()
            .filter_map(|(pos, c)| {
                let d = c.default.as_deref()?;
                let name = d.strip_prefix("nextval('")?.strip_suffix("')")?;
                Some((pos, name.to_owned()))
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut affected = 0usize;
    let mut duplicates = 0usize;
    let mut records = 0usize;
    let mut returned: Vec<Vec<Value>> = Vec::new();
    // The table each returned row is stored in (RETURNING's `tableoid`).
    let mut returned_oids: Vec<u32> = Vec::new();
    let want_rows = ins.returning.is_some();
    let mut touched: HashSet<Key> = HashSet::new();
    // Unique keys of the rows inserted (or moved by an ON CONFLICT update) into a table
    // without a primary key.
    let mut inserted: HashSet<(basalt_common::IndexId, Key)> = HashSet::new();
    let mut stores: HashMap<basalt_common::TableId, Arc<TableStore>> = HashMap::new();
    stores.insert(def.id, Arc::clone(&store));
    crate::trigger::statement(s, &def, "INSERT", true)?;
    for (targets, batches) in &sources {
        for batch in batches {
            let rows = build_rows(s, &def, targets, batch.columns(), batch.num_rows())?;
            let (leaves, placed) = crate::partition::place(s, &catalog, &def, rows)?;
            for (leaf, row) in placed {
                let def = &leaves[leaf];
                let store = match stores.get(&def.id) {
                    Some(store) => Arc::clone(store),
                    None => {
                        let store = store_of(s, def)?;
                        stores.insert(def.id, Arc::clone(&store));
                        store
                    }
                };
                let Some(row) = before_insert(s, &catalog, def, row)? else {
                    continue;
                };
                if def.id != target_id {
                    // The partition's own constraints.
                    check_rows(s, def, std::slice::from_ref(&row))?;
                }
                let shown = |row: &Row| -> Vec<Value> {
                    if def.id == target_id {
                        row.to_vec()
                    } else {
                        crate::partition::convert_row(def, &target_def, row)
                    }
                };
                records += 1;
                for (pos, seq) in &auto_increment {
                    // MySQL: an explicit value beyond the counter moves the counter past it.
                    if let Some(v) = row.get(*pos).and_then(int_value) {
                        s.engine().advance_sequence(seq, v)?;
                    }
                }
                let row: Row = row.into();
                if ins.replace_into {
                    affected += replace_conflicts(txn, &store, def, &row)?;
                }
                match txn.insert(&store, def, Row::clone(&row)) {
                    Ok(()) => {
                        if crate::trigger::has_row_triggers(s, def, "INSERT", false) {
                            crate::trigger::after_row(s, def, "INSERT", Some(row.to_vec()), None);
                        }
                        if conflict.is_some() {
                            match &def.primary_key {
                                Some(pk) => {
                                    touched.insert(encode_key(&row, pk));
                                }
                                // Without a primary key the new row's storage key is not
                                // known here: its unique keys stand for it.
                                None => {
                                    for index in def.indexes.iter().filter(|i| i.unique) {
                                        let prefix = encode_key(&row, &index.columns);
                                        inserted.insert((index.id, prefix));
                                    }
                                }
                            }
                        }
                        affected += 1;
                        if want_rows {
                            returned.push(shown(&row));
                            returned_oids.push(def.oid);
                        }
                    }
                    Err(StorageError::UniqueViolation { constraint, detail }) => {
                        let Some(c) = &conflict else {
                            return Err(SqlError::UniqueViolation { constraint, detail });
                        };
                        if !c.matches(&constraint) {
                            return Err(SqlError::UniqueViolation { constraint, detail });
                        }
                        if c.mysql && c.update.is_none() {
                            duplicates += 1;
                            // INSERT IGNORE: the row is skipped with a warning.
                            let e = SqlError::UniqueViolation { constraint, detail };
                            s.mysql_warning(&e);
                            continue;
                        }
                        if let Some((new_row, changed)) = c
                            .resolve(
                                s,
                                txn,
                                &store,
                                def,
                                alias.as_deref(),
                                &row,
                                &mut touched,
                                &mut inserted,
                                &constraint,
                            )
                            .await?
                        {
                            // MySQL counts an updated row twice, an unchanged one not at all.
                            duplicates += 1;
                            affected += match (c.mysql, changed) {
                                (false, _) => 1,
                                (true, true) => 2,
                                (true, false) => usize::from(s.my.client_found_rows),
                            };
                            if want_rows {
                                returned.push(shown(&Row::from(new_row)));
                                returned_oids.push(def.oid);
                            }
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    crate::trigger::run_queued(s)?;
    crate::trigger::statement(s, &def, "INSERT", false)?;
    if s.is_mysql() {
        let multi_row = records > 1
            || ins
                .source
                .as_ref()
                .is_some_and(|q| !matches!(q.body.as_ref(), SetExpr::Values(_)));
        if multi_row {
            let warnings = s.my.warnings.len();
            s.my.ok_info =
                format!("Records: {records}  Duplicates: {duplicates}  Warnings: {warnings}");
        }
    }
    match &ins.returning {
        Some(items) => returning(
            s,
            &def,
            alias.as_deref(),
            items,
            (&returned, &returned_oids),
            "INSERT 0",
        ),
        None => Ok(Output::Command(format!("INSERT 0 {affected}"))),
    }
}

/// In a VALUES list of several rows, a quoted or numeric literal is read as its target
/// column's type, as PostgreSQL coerces each VALUES expression of an INSERT to the column it
/// fills: `(0, '-infinity'), (1, 1.12)` into a numeric column is two numbers, not text beside
/// a `numeric(3,2)` that cannot hold Infinity. Text columns take the literal as it is.
fn type_unknown_literals(q: &mut Query, targets: &[usize], def: &TableDef) {
    use basalt_common::types::SqlType;
    let SetExpr::Values(values) = q.body.as_mut() else {
        return;
    };
    if values.rows.len() < 2 {
        return;
    }
    for (j, &t) in targets.iter().enumerate() {
        let Some(col) = def.columns.get(t) else {
            continue;
        };
        if matches!(
            col.ty,
            SqlType::Text
                | SqlType::Char(_)
                | SqlType::Varchar(_)
                | SqlType::Bytea
                | SqlType::Interval
        ) || col.mysql_type.is_some()
        {
            continue;
        }
        // A numeric scale Decimal128 cannot take is applied when the row is stored.
        let type_name = match col.ty.numeric_typmod_beyond_decimal() {
            Some(_) => "numeric".to_owned(),
            None => col.ty.pg_name(),
        };
        let Ok(data_type) = parse_sql(&format!("SELECT CAST(NULL AS {type_name})"))
            .ok()
            .and_then(|mut v| v.pop())
            .and_then(|stmt| match stmt {
                ast::Statement::Query(q) => match *q.body {
                    SetExpr::Select(sel) => match sel.projection.into_iter().next() {
                        Some(SelectItem::UnnamedExpr(Expr::Cast { data_type, .. })) => {
                            Some(data_type)
                        }
                        _ => None,
                    },
                    _ => None,
                },
                _ => None,
            })
            .ok_or(())
        else {
            continue;
        };
        let number_column = matches!(
            col.ty,
            SqlType::Int16
                | SqlType::Int32
                | SqlType::Int64
                | SqlType::Float32
                | SqlType::Float64
                | SqlType::Numeric { .. }
        );
        for row in &mut values.rows {
            if let Some(e) = row.content.get_mut(j) {
                if is_plain_literal(e, number_column) {
                    let literal = std::mem::replace(e, Expr::value(ast::Value::Null));
                    *e = Expr::Cast {
                        kind: ast::CastKind::DoubleColon,
                        expr: Box::new(literal),
                        data_type: data_type.clone(),
                        array: false,
                        format: None,
                    };
                }
            }
        }
    }
}

/// An INSERT whose column list and VALUES row or select list differ in length, reported
/// where PostgreSQL points: at the first extra expression, or the first column left
/// without one.
fn check_insert_arity(ins: &Insert) -> SqlResult<()> {
    use datafusion::sql::sqlparser::ast::Spanned;
    let Some(q) = &ins.source else {
        return Ok(());
    };
    if let SetExpr::Values(v) = q.body.as_ref() {
        let width = v.rows.first().map_or(0, |r| r.content.len());
        if let Some(ragged) = v.rows.iter().find(|r| r.content.len() != width) {
            let e = SqlError::Syntax {
                message: "VALUES lists must all be the same length".into(),
                position: None,
            };
            return Err(match ragged.content.first() {
                Some(first) => e.at(first.span()),
                None => e,
            });
        }
    }
    if ins.columns.is_empty() {
        return Ok(());
    }
    let spans: Vec<datafusion::sql::sqlparser::tokenizer::Span> = match q.body.as_ref() {
        SetExpr::Values(v) => match v.rows.first() {
            Some(first) => first.content.iter().map(Spanned::span).collect(),
            None => return Ok(()),
        },
        SetExpr::Select(sel)
            if sel.projection.iter().all(|i| {
                matches!(
                    i,
                    ast::SelectItem::UnnamedExpr(_) | ast::SelectItem::ExprWithAlias { .. }
                )
            }) =>
        {
            sel.projection.iter().map(Spanned::span).collect()
        }
        _ => return Ok(()),
    };
    let n = ins.columns.len();
    let (message, at) = match spans.len() {
        len if len > n => ("INSERT has more expressions than target columns", spans[n]),
        len if len < n => (
            "INSERT has more target columns than expressions",
            ins.columns[len].span(),
        ),
        _ => return Ok(()),
    };
    Err(SqlError::Syntax {
        message: message.into(),
        position: None,
    }
    .at(at))
}

/// A quoted string, or, for a column of a number type, a number (possibly negated) written
/// in place. (A number is not read as a boolean or a date: PostgreSQL refuses that.)
fn is_plain_literal(e: &Expr, number_column: bool) -> bool {
    let number =
        |e: &Expr| matches!(e, Expr::Value(v) if matches!(v.value, ast::Value::Number(_, _)));
    match e {
        Expr::Value(v) if matches!(v.value, ast::Value::SingleQuotedString(_)) => true,
        Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => number_column && number(expr),
        e => number_column && number(e),
    }
}

/// `INSERT … VALUES (generate_series(1, 3))`: PostgreSQL reads the one row of a VALUES
/// list as a SELECT list, where set-returning functions may be called; so does Basalt.
fn values_row_as_select(q: &mut Query) -> SqlResult<()> {
    let SetExpr::Values(values) = q.body.as_ref() else {
        return Ok(());
    };
    let [row] = values.rows.as_slice() else {
        return Ok(());
    };
    let mut returns_set = false;
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(&row.content, |e| {
        if let Expr::Function(f) = e {
            let name = f.name.to_string().to_lowercase();
            let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
            returns_set |= crate::placement::SET_RETURNING.contains(&name);
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    if !returns_set {
        return Ok(());
    }
    let items: Vec<String> = row.content.iter().map(ToString::to_string).collect();
    if let Some(datafusion::sql::sqlparser::ast::Statement::Query(select)) =
        crate::session::parse_sql(&format!("SELECT {}", items.join(", ")))?.pop()
    {
        q.body = select.body;
    }
    Ok(())
}

/// `VALUES (1, DEFAULT), (2, 3)`: neighbouring rows that say DEFAULT in the same columns are
/// grouped; each group becomes its own VALUES query over the remaining columns.
/// A group of rows that are DEFAULT in every column is returned as `Err(row_count)`.
type DefaultGroup = (Vec<usize>, Result<Query, usize>);

fn split_defaults(targets: &[usize], q: Query) -> SqlResult<Vec<DefaultGroup>> {
    let SetExpr::Values(values) = q.body.as_ref() else {
        return Ok(vec![(targets.to_vec(), Ok(q))]);
    };
    if let Some(first) = values.rows.first() {
        if values
            .rows
            .iter()
            .any(|r| r.content.len() != first.content.len())
        {
            return Err(SqlError::Syntax {
                message: "VALUES lists must all be the same length".into(),
                position: None,
            });
        }
    }
    if !values
        .rows
        .iter()
        .any(|r| r.content.iter().any(is_default_keyword))
    {
        return Ok(vec![(targets.to_vec(), Ok(q))]);
    }
    if values.rows.iter().any(|r| r.content.len() != targets.len()) {
        let more = values.rows.iter().any(|r| r.content.len() > targets.len());
        return Err(SqlError::Syntax {
            message: if more {
                "INSERT has more expressions than target columns".into()
            } else {
                "INSERT has more target columns than expressions".into()
            },
            position: None,
        });
    }
    let mut groups: Vec<(Vec<bool>, Vec<Vec<Expr>>)> = Vec::new();
    for row in &values.rows {
        let mask: Vec<bool> = row.content.iter().map(is_default_keyword).collect();
        let kept: Vec<Expr> = row
            .content
            .iter()
            .filter(|e| !is_default_keyword(e))
            .cloned()
            .collect();
        // Runs of neighbouring rows: the rows are inserted in the order they are written.
        match groups.last_mut().filter(|(m, _)| *m == mask) {
            Some((_, rows)) => rows.push(kept),
            None => groups.push((mask, vec![kept])),
        }
    }
    let mut out = Vec::new();
    for (mask, rows) in groups {
        let group_targets: Vec<usize> = targets
            .iter()
            .enumerate()
            .filter(|(j, _)| !mask.get(*j).copied().unwrap_or(false))
            .map(|(_, t)| *t)
            .collect();
        if rows.first().is_some_and(Vec::is_empty) {
            out.push((group_targets, Err(rows.len())));
            continue;
        }
        let mut query = q.clone();
        if let SetExpr::Values(v) = query.body.as_mut() {
            let template = v.rows[0].clone();
            v.rows = rows
                .into_iter()
                .map(|content| {
                    let mut r = template.clone();
                    r.content = content;
                    r
                })
                .collect();
        }
        out.push((group_targets, Ok(query)));
    }
    Ok(out)
}

/// `DO UPDATE SET col = expr, … [WHERE cond]`: (column position, expression) pairs and the
/// optional condition.
type ConflictUpdate = (Vec<(usize, Expr)>, Option<Expr>);

/// An `ON CONFLICT` clause resolved against the table's constraints.
struct Conflict {
    /// Constraint names that the clause covers (`None` = any).
    constraints: Option<Vec<String>>,
    /// Key columns identifying the conflicting row; `None` = the primary key.
    index: Option<usize>,
    update: Option<ConflictUpdate>,
    /// MySQL's forms: any unique key may conflict, the conflicting row is found through the
    /// key that did, and a row may be updated more than once.
    mysql: bool,
}

impl Conflict {
    fn new(
        def: &TableDef,
        target: Option<&ConflictTarget>,
        action: &OnConflictAction,
    ) -> SqlResult<Conflict> {
        let pk_name = def
            .primary_key_name
            .clone()
            .unwrap_or_else(|| format!("{}_pkey", def.name));
        let (constraints, index) = match target {
            None => (None, None),
            Some(ConflictTarget::Columns(cols)) => {
                let mut positions = Vec::new();
                for c in cols {
                    let name = if c.quote_style.is_some() {
                        c.value.clone()
                    } else {
                        c.value.to_lowercase()
                    };
                    positions.push(def.column_position(&name).ok_or_else(|| {
                        SqlError::UndefinedColumn(format!("column \"{name}\" does not exist"))
                    })?);
                }
                positions.sort_unstable();
                let same = |cols: &[usize]| {
                    let mut c = cols.to_vec();
                    c.sort_unstable();
                    c == positions
                };
                if def.primary_key.as_deref().is_some_and(same) {
                    (Some(vec![pk_name]), None)
                } else if let Some(i) = def
                    .indexes
                    .iter()
                    .position(|i| i.unique && same(&i.columns))
                {
                    (Some(vec![def.indexes[i].name.clone()]), Some(i))
                } else {
                    return Err(SqlError::InvalidTableDefinition(
                        "there is no unique or exclusion constraint matching the ON CONFLICT specification".into(),
                    ));
                }
            }
            Some(ConflictTarget::OnConstraint(name)) => {
                let n = object_name_parts(name).pop().unwrap_or_default();
                if n == pk_name {
                    (Some(vec![n]), None)
                } else if let Some(i) = def.indexes.iter().position(|i| i.unique && i.name == n) {
                    (Some(vec![n]), Some(i))
                } else {
                    return Err(SqlError::UndefinedIndex(n));
                }
            }
        };
        if let Some(arbiter) = index.map(|i| &def.indexes[i]) {
            if arbiter.deferrable {
                return Err(SqlError::WrongObjectType(
                    "ON CONFLICT does not support deferrable unique constraints/exclusion constraints as arbiters".into(),
                ));
            }
            if arbiter.exclusion && matches!(action, OnConflictAction::DoUpdate(_)) {
                return Err(SqlError::WrongObjectType(
                    "ON CONFLICT DO UPDATE not supported with exclusion constraints".into(),
                ));
            }
        }
        let update = match action {
            OnConflictAction::DoNothing => None,
            OnConflictAction::DoUpdate(du) => {
                if target.is_none() {
                    return Err(SqlError::Syntax {
                        message: "ON CONFLICT DO UPDATE requires inference specification or constraint name".into(),
                        position: None,
                    });
                }
                let sets = column_assignments(def, &du.assignments)?;
                Some((sets, du.selection.clone()))
            }
        };
        Ok(Conflict {
            constraints,
            index,
            update,
            mysql: false,
        })
    }

    fn matches(&self, constraint: &str) -> bool {
        self.constraints
            .as_ref()
            .is_none_or(|c| c.iter().any(|n| n == constraint))
    }

    /// Applies DO NOTHING / DO UPDATE for a proposed row that conflicted. Returns the updated
    /// row when one was written.
    #[allow(clippy::too_many_arguments)]
    async fn resolve(
        &self,
        s: &Session,
        txn: &Transaction,
        store: &TableStore,
        def: &TableDef,
        alias: Option<&str>,
        proposed: &[Value],
        touched: &mut HashSet<Key>,
        inserted: &mut HashSet<(basalt_common::IndexId, Key)>,
        violated: &str,
    ) -> SqlResult<Option<(Vec<Value>, bool)>> {
        let Some((sets, selection)) = &self.update else {
            return Ok(None);
        };
        let index = if self.mysql {
            def.indexes.iter().position(|i| i.name == violated)
        } else {
            self.index
        };
        let (key, existing) = match index {
            None => {
                let pk = def
                    .primary_key
                    .as_ref()
                    .ok_or_else(|| SqlError::Internal("no primary key".into()))?;
                let key = encode_key(proposed, pk);
                let row = txn
                    .read(store, &key)
                    .ok_or(SqlError::SerializationFailure)?;
                (key, row)
            }
            Some(i) => {
                let index = &def.indexes[i];
                let prefix = encode_key(proposed, &index.columns);
                if !self.mysql && inserted.contains(&(index.id, prefix.clone())) {
                    return Err(affected_twice());
                }
                txn.index_lookup(store, index, &prefix)
                    .into_iter()
                    .next()
                    .ok_or(SqlError::SerializationFailure)?
            }
        };
        if !touched.insert(key.clone()) && !self.mysql {
            return Err(affected_twice());
        }
        let schema = physical_schema(def);
        let table_name = alias.unwrap_or(&def.name);
        let parts = [
            (table_name, Arc::clone(&schema)),
            ("excluded", Arc::clone(&schema)),
        ];
        let mut existing_full = existing.to_vec();
        existing_full.resize(def.columns.len(), Value::Null);
        let both = rows_batch(def, &[existing_full])?;
        let excluded = rows_batch(def, &[proposed.to_vec()])?;
        let mut cols = both.columns().to_vec();
        cols.extend(excluded.columns().iter().cloned());
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.extend(schema.fields().iter().map(|f| f.as_ref().clone()));
        let combined = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?;
        // Subqueries in the clause need a planned query over the two rows.
        let by_query = if sets.iter().any(|(_, e)| has_subquery(e))
            || selection.as_ref().is_some_and(has_subquery)
        {
            Some(
                conflict_query(
                    s,
                    table_name,
                    &schema,
                    both,
                    excluded,
                    sets,
                    selection.as_ref(),
                )
                .await?,
            )
        } else {
            None
        };
        if let Some(values) = &by_query {
            let keep = values
                .first()
                .and_then(|a| a.as_any().downcast_ref::<BooleanArray>());
            if !keep.is_some_and(|b| b.len() == 1 && b.is_valid(0) && b.value(0)) {
                return Ok(None);
            }
        } else if let Some(w) = selection {
            let pred = compile_multi(s, &w.to_string(), &parts)?;
            let keep = eval(&pred, &combined)?;
            let keep = keep.as_any().downcast_ref::<BooleanArray>();
            if !keep.is_some_and(|b| b.is_valid(0) && b.value(0)) {
                return Ok(None);
            }
        }
        let mut new_row = existing.to_vec();
        new_row.resize(def.columns.len(), Value::Null);
        for (i, (pos, expr)) in sets.iter().enumerate() {
            let col = &def.columns[*pos];
            let value = match &by_query {
                Some(values) => values
                    .get(i + 1)
                    .cloned()
                    .ok_or_else(|| SqlError::Internal("ON CONFLICT query result".into()))?,
                None => {
                    let value_sql = if is_default_keyword(expr) {
                        col.default.clone().unwrap_or_else(|| "NULL".into())
                    } else {
                        expr.to_string()
                    };
                    let compiled = compile_multi(s, &value_sql, &parts)?;
                    eval(&compiled, &combined)?
                }
            };
            let array = crate::eval::to_column(&value, col, s.date_order())?;
            new_row[*pos] = basalt_common::value::value_at(array.as_ref(), 0, &col.ty)?;
        }
        let mut old_full = existing.to_vec();
        old_full.resize(def.columns.len(), Value::Null);
        let changed = old_full != new_row;
        if !changed && self.mysql {
            return Ok(Some((new_row, false)));
        }
        check_constraints(s, def, &rows_batch(def, std::slice::from_ref(&new_row))?)?;
        if self.mysql {
            txn.update(store, def, &key, new_row.clone().into())?;
        } else {
            txn.update_relocating(store, def, &key, new_row.clone().into())?;
            if def.primary_key.is_none() {
                // The row moved to a new storage key: its unique keys stand for it, as for
                // the rows this command inserted.
                for index in def.indexes.iter().filter(|i| i.unique) {
                    inserted.insert((index.id, encode_key(&new_row, &index.columns)));
                }
            }
        }
        Ok(Some((new_row, changed)))
    }
}

/// Whether an expression holds a subquery.
fn has_subquery(e: &Expr) -> bool {
    use datafusion::sql::sqlparser::ast::Visit;
    struct Find;
    impl datafusion::sql::sqlparser::ast::Visitor for Find {
        type Break = ();
        fn pre_visit_query(&mut self, _q: &Query) -> std::ops::ControlFlow<()> {
            std::ops::ControlFlow::Break(())
        }
    }
    e.visit(&mut Find).is_break()
}

/// ON CONFLICT DO UPDATE with subqueries: the WHERE condition (TRUE without one) and the
/// SET values, computed by a query that reads the conflicting row as `table_name` and the
/// proposed one as `excluded`, each a one-row table for the statement.
async fn conflict_query(
    s: &Session,
    table_name: &str,
    schema: &SchemaRef,
    existing: RecordBatch,
    excluded: RecordBatch,
    sets: &[(usize, Expr)],
    selection: Option<&Expr>,
) -> SqlResult<Vec<ArrayRef>> {
    use datafusion::datasource::MemTable;
    let mut scope = crate::cte::Scope::new(s)?;
    let rows = |b: RecordBatch| -> SqlResult<Arc<MemTable>> {
        Ok(Arc::new(MemTable::try_new(
            Arc::clone(schema),
            vec![vec![b]],
        )?))
    };
    let current = scope.register("conflicting", rows(existing)?)?;
    let proposed = scope.register("excluded", rows(excluded)?)?;
    let mut items = vec![selection.map_or_else(|| "TRUE".to_owned(), |w| w.to_string())];
    items.extend(sets.iter().map(|(_, e)| e.to_string()));
    let sql = format!(
        "SELECT {} FROM {}.\"{current}\" AS \"{}\" CROSS JOIN {}.\"{proposed}\" AS excluded",
        items.join(", "),
        crate::cte::CTE_SCHEMA,
        table_name.replace('"', "\"\""),
        crate::cte::CTE_SCHEMA,
    );
    let stmt = crate::session::parse_sql(&sql)?
        .pop()
        .ok_or_else(|| SqlError::Internal(format!("not a statement: {sql}")))?;
    let plan = s.plan(stmt).await?;
    let (_, batches) = s.run_plan(plan).await?;
    let batch = batches
        .into_iter()
        .find(|b| b.num_rows() > 0)
        .ok_or_else(|| SqlError::Internal("ON CONFLICT query returned no row".into()))?;
    Ok(batch.columns().to_vec())
}

/// Ranges of MySQL-declared integer types and ENUM members, for columns stored in a wider
/// Basalt type (strict mode: a value outside is an error, not a clipped value).
fn check_mysql_types(def: &TableDef, batch: &RecordBatch) -> SqlResult<()> {
    for (pos, col) in def.live_columns() {
        let Some(declared) = &col.mysql_type else {
            continue;
        };
        let array = batch.column(pos);
        if let Some((lo, hi)) = basalt_common::types::mysql_range(declared) {
            for row in 0..array.len() {
                let v = basalt_common::value::value_at(array.as_ref(), row, &col.ty)?;
                let n: Option<i128> = match v {
                    Value::Int16(x) => Some(i128::from(x)),
                    Value::Int32(x) => Some(i128::from(x)),
                    Value::Int64(x) => Some(i128::from(x)),
                    Value::Decimal(x) => Some(x),
                    _ => None,
                };
                let year_ok =
                    declared == "year" && n.is_some_and(|n| n == 0 || (1901..=2155).contains(&n));
                if let Some(n) = n {
                    if (n < lo || n > hi) || (declared == "year" && !year_ok) {
                        return Err(SqlError::MySql {
                            code: 1264,
                            sqlstate: "22003",
                            message: format!(
                                "Out of range value for column '{}' at row {}",
                                col.name,
                                row + 1
                            ),
                        });
                    }
                }
            }
        }
        if let Some(members) = basalt_common::types::mysql_enum_values(declared) {
            if let Some(strings) = array
                .as_any()
                .downcast_ref::<datafusion::arrow::array::StringArray>()
            {
                for row in 0..strings.len() {
                    if strings.is_valid(row) && !members.iter().any(|m| m == strings.value(row)) {
                        return Err(SqlError::MySql {
                            code: 1265,
                            sqlstate: "01000",
                            message: format!(
                                "Data truncated for column '{}' at row {}",
                                col.name,
                                row + 1
                            ),
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

fn int_value(v: &Value) -> Option<i64> {
    match v {
        Value::Int16(x) => Some(i64::from(*x)),
        Value::Int32(x) => Some(i64::from(*x)),
        Value::Int64(x) => Some(*x),
        // BIGINT UNSIGNED AUTO_INCREMENT (numeric(20,0)).
        Value::Decimal(x) => i64::try_from(*x).ok(),
        _ => None,
    }
}

/// REPLACE: deletes the rows whose primary or unique keys the new row would duplicate.
/// Returns how many were deleted (MySQL counts each in the affected rows).
fn replace_conflicts(
    txn: &Transaction,
    store: &TableStore,
    def: &TableDef,
    row: &[Value],
) -> SqlResult<usize> {
    let mut deleted = 0;
    if let Some(pk) = &def.primary_key {
        let key = encode_key(row, pk);
        if txn.read(store, &key).is_some() {
            txn.delete(store, def, &key)?;
            deleted += 1;
        }
    }
    for index in def.indexes.iter().filter(|i| i.unique) {
        if index
            .columns
            .iter()
            .any(|&c| matches!(row.get(c), None | Some(Value::Null)))
        {
            continue;
        }
        let prefix = encode_key(row, &index.columns);
        for (key, _) in txn.index_lookup(store, index, &prefix) {
            txn.delete(store, def, &key)?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

fn assignment_positions(def: &TableDef, target: &AssignmentTarget) -> SqlResult<Vec<usize>> {
    let names = match target {
        AssignmentTarget::ColumnName(n) => vec![n],
        AssignmentTarget::Tuple(ns) => ns.iter().collect(),
    };
    names
        .into_iter()
        .map(|n| {
            let cname = object_name_parts(n).pop().unwrap_or_default();
            def.column_position(&cname).ok_or_else(|| {
                SqlError::UndefinedColumn(format!(
                    "column \"{cname}\" of relation \"{}\" does not exist",
                    def.name
                ))
            })
        })
        .collect()
}

/// Inserts whole batches whose columns are the table's live columns in order (CREATE TABLE
/// AS, COPY). Returns the number of rows.
pub async fn insert_batches(
    s: &Session,
    txn: &Transaction,
    def: &TableDef,
    batches: &[RecordBatch],
) -> SqlResult<usize> {
    let targets: Vec<usize> = def.live_columns().map(|(i, _)| i).collect();
    insert_columns(s, txn, def, &targets, batches)
}

/// A row about to be inserted into `def` (a table, or the partition it was routed to) after
/// its BEFORE ROW INSERT triggers: `None` when one skipped it. A changed row is checked
/// against the table's constraints, and a partition's row against its bounds.
pub(crate) fn before_insert(
    s: &Session,
    catalog: &basalt_storage::Catalog,
    def: &TableDef,
    row: Vec<Value>,
) -> SqlResult<Option<Vec<Value>>> {
    if !crate::trigger::has_row_triggers(s, def, "INSERT", true) {
        return Ok(Some(row));
    }
    let Some(row) = crate::trigger::before_row(s, def, "INSERT", Some(row), None)? else {
        return Ok(None);
    };
    check_rows(s, def, std::slice::from_ref(&row))?;
    if def.partition_of.is_some() {
        crate::partition::check_partition_constraint(s, catalog, def, std::slice::from_ref(&row))?;
    }
    Ok(Some(row))
}

/// Stores one new row, queueing its AFTER ROW INSERT triggers.
fn insert_row(
    s: &Session,
    txn: &Transaction,
    store: &TableStore,
    def: &TableDef,
    row: Vec<Value>,
) -> SqlResult<()> {
    if crate::trigger::has_row_triggers(s, def, "INSERT", false) {
        txn.insert(store, def, row.clone().into())?;
        crate::trigger::after_row(s, def, "INSERT", Some(row), None);
    } else {
        txn.insert(store, def, row.into())?;
    }
    Ok(())
}

/// Checks full-width rows against NOT NULL, CHECK and MySQL type constraints.
pub(crate) fn check_rows(s: &Session, def: &TableDef, rows: &[Vec<Value>]) -> SqlResult<()> {
    check_constraints(s, def, &rows_batch(def, rows)?)
}

/// Inserts `num_rows` rows given as columns for `targets`, the other columns defaulted, as
/// INSERT … VALUES does. Returns the number of rows.
pub(crate) fn insert_arrays(
    s: &Session,
    txn: &Transaction,
    store: &TableStore,
    def: &TableDef,
    targets: &[usize],
    columns: &[ArrayRef],
    num_rows: usize,
) -> SqlResult<usize> {
    let rows = build_rows(s, def, targets, columns, num_rows)?;
    if def.partition_key.is_some() || def.partition_of.is_some() {
        return write_partitioned(s, txn, def, rows);
    }
    let catalog = s.engine().catalog();
    let mut n = 0;
    for row in rows {
        let Some(row) = before_insert(s, &catalog, def, row)? else {
            continue;
        };
        insert_row(s, txn, store, def, row)?;
        n += 1;
    }
    Ok(n)
}

/// Writes rows of a partitioned table or a partition: routed, checked, then stored.
fn write_partitioned(
    s: &Session,
    txn: &Transaction,
    def: &TableDef,
    rows: Vec<Vec<Value>>,
) -> SqlResult<usize> {
    let catalog = s.engine().catalog();
    let (leaves, placed) = crate::partition::place(s, &catalog, def, rows)?;
    let stores: Vec<Arc<TableStore>> = leaves
        .iter()
        .map(|leaf| store_of(s, leaf))
        .collect::<SqlResult<_>>()?;
    let mut n = 0;
    for (leaf, row) in placed {
        let target = &leaves[leaf];
        let Some(row) = before_insert(s, &catalog, target, row)? else {
            continue;
        };
        if target.id != def.id {
            check_rows(s, target, std::slice::from_ref(&row))?;
        }
        insert_row(s, txn, &stores[leaf], target, row)?;
        n += 1;
    }
    Ok(n)
}

/// Inserts batches whose columns map to `targets` (physical positions).
pub fn insert_columns(
    s: &Session,
    txn: &Transaction,
    def: &TableDef,
    targets: &[usize],
    batches: &[RecordBatch],
) -> SqlResult<usize> {
    let store = store_of(s, def)?;
    let mut n = 0;
    for batch in batches {
        let rows = build_rows(s, def, targets, batch.columns(), batch.num_rows())?;
        if def.partition_key.is_some() || def.partition_of.is_some() {
            n += write_partitioned(s, txn, def, rows)?;
            continue;
        }
        let catalog = s.engine().catalog();
        for row in rows {
            let Some(row) = before_insert(s, &catalog, def, row)? else {
                continue;
            };
            insert_row(s, txn, &store, def, row)?;
            n += 1;
        }
    }
    Ok(n)
}

// ---- UPDATE / DELETE --------------------------------------------------------------------------

/// The target of an UPDATE/DELETE: its definition and the name it is referred to by.
/// `only`: the statement names it with `ONLY` (the tables inheriting from it are left out).
fn target_of(s: &Session, factor: &TableFactor) -> SqlResult<(TableDef, String, String, bool)> {
    let TableFactor::Table { name, alias, .. } = factor else {
        return Err(SqlError::unsupported(
            "UPDATE/DELETE target must be a table",
        ));
    };
    let def = resolve_table(&s.engine().catalog(), name, s.default_schema().as_deref())?;
    let (schema, mut table) = qualified(name, s.default_schema().as_deref())?;
    let only = name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .is_some_and(|i| i.value.ends_with(crate::session::ONLY_MARK));
    if only {
        table.push_str(crate::session::ONLY_MARK);
    }
    let reference = match alias {
        Some(a) => a.name.value.clone(),
        None => def.name.clone(),
    };
    let from = match alias {
        Some(a) => format!(
            "{}.{} AS {}",
            quote_ident(&schema),
            quote_ident(&table),
            quote_ident(&a.name.value)
        ),
        None => format!("{}.{}", quote_ident(&schema), quote_ident(&table)),
    };
    Ok((def, reference, from, only))
}

/// The stored tables an UPDATE or DELETE of `def` works through, each with its FROM text:
/// `def` itself, or for a partitioned table its leaf partitions, each read under the name
/// the statement uses for the target (`from` starts with the target, as `target_of` wrote
/// it, followed by the statement's other FROM/USING tables).
fn members_of(
    catalog: &basalt_storage::Catalog,
    def: &TableDef,
    reference: &str,
    from: &str,
    only: bool,
) -> Vec<(TableDef, String)> {
    if only || !crate::partition::has_members(catalog, def) {
        return vec![(def.clone(), from.to_owned())];
    }
    let own = format!("{}.{}", quote_ident(&def.schema), quote_ident(&def.name));
    let rest = from.strip_prefix(&own).unwrap_or("");
    let rest = rest
        .strip_prefix(&format!(" AS {}", quote_ident(reference)))
        .unwrap_or(rest);
    crate::partition::members(catalog, def)
        .into_iter()
        .map(|leaf| {
            let text = format!(
                "{}.{} AS {}{rest}",
                quote_ident(&leaf.schema),
                quote_ident(&leaf.name),
                quote_ident(reference)
            );
            (leaf, text)
        })
        .collect()
}

/// Runs `SELECT <key>, <exprs> FROM <from> WHERE <selection>` with the hidden key exposed.
async fn select_targets(
    s: &Session,
    def: &TableDef,
    reference: &str,
    from: &str,
    exprs: &[String],
    selection: Option<&Expr>,
) -> SqlResult<Vec<RecordBatch>> {
    let mut sql = format!(
        "SELECT {}.{}",
        quote_ident(reference),
        quote_ident(KEY_COLUMN)
    );
    for (i, e) in exprs.iter().enumerate() {
        sql.push_str(&format!(", {e} AS \"__basalt_set_{i}\""));
    }
    sql.push_str(" FROM ");
    sql.push_str(from);
    if let Some(w) = selection {
        sql.push_str(" WHERE ");
        sql.push_str(&w.to_string());
    }
    let mut stmts = parse_sql(&sql)?;
    let mut stmt = stmts
        .pop()
        .ok_or_else(|| SqlError::Internal("empty DML query".into()))?;
    crate::rewrite::rewrite(&mut stmt)?;
    s.slot.set_key_table(Some(def.id));
    let plan = s.plan(stmt).await;
    s.slot.set_key_table(None);
    let (_, batches) = s.run_plan(plan?).await?;
    Ok(batches)
}

fn keys_of(batch: &RecordBatch) -> SqlResult<&BinaryArray> {
    batch
        .column(0)
        .as_any()
        .downcast_ref::<BinaryArray>()
        .ok_or_else(|| SqlError::Internal("key column is not binary".into()))
}

/// The SET list of an UPDATE or ON CONFLICT DO UPDATE, column by column: `SET (a, b) = (x,
/// DEFAULT)`, `= ROW(…)` and `= (SELECT x, y …)` assign each column its own value.
fn column_assignments(
    def: &TableDef,
    assignments: &[ast::Assignment],
) -> SqlResult<Vec<(usize, Expr)>> {
    let mut out: Vec<(usize, Expr)> = Vec::new();
    for a in assignments {
        let positions = assignment_positions(def, &a.target)?;
        if let [position] = positions.as_slice() {
            out.push((*position, a.value.clone()));
            continue;
        }
        let row_args = match &a.value {
            Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("row") => match &f.args {
                datafusion::sql::sqlparser::ast::FunctionArguments::List(list) => list
                    .args
                    .iter()
                    .map(|arg| match arg {
                        datafusion::sql::sqlparser::ast::FunctionArg::Unnamed(
                            datafusion::sql::sqlparser::ast::FunctionArgExpr::Expr(e),
                        ) => Some(e.clone()),
                        _ => None,
                    })
                    .collect::<Option<Vec<Expr>>>(),
                _ => None,
            },
            _ => None,
        };
        let values = match &a.value {
            _ if row_args.is_some() => row_args.unwrap_or_default(),
            Expr::Tuple(values) => values.clone(),
            Expr::Subquery(q) => split_row_subquery(q, positions.len())?,
            other => {
                use datafusion::sql::sqlparser::ast::Spanned;
                return Err(SqlError::Syntax {
                    message: "source for a multiple-column UPDATE item must be a sub-SELECT or ROW() expression".into(),
                    position: None,
                }
                .at(other.span()));
            }
        };
        if values.len() != positions.len() {
            return Err(SqlError::Syntax {
                message: "number of columns does not match number of values".into(),
                position: None,
            });
        }
        out.extend(positions.into_iter().zip(values));
    }
    Ok(out)
}

/// `SET (a, b) = ROW(v.*)`: `v.*` stands for the columns of the FROM item `v` (a table, or
/// an alias with a column list), as PostgreSQL expands it; left as written otherwise.
fn expand_row_wildcards(
    value: &mut Expr,
    from: &[ast::TableWithJoins],
    catalog: &basalt_storage::Catalog,
    default_schema: Option<&str>,
) {
    use datafusion::sql::sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
    let Expr::Function(f) = value else { return };
    if !f.name.to_string().eq_ignore_ascii_case("row") {
        return;
    }
    let FunctionArguments::List(list) = &mut f.args else {
        return;
    };
    let mut args = Vec::with_capacity(list.args.len());
    for arg in list.args.drain(..) {
        let FunctionArg::Unnamed(FunctionArgExpr::QualifiedWildcard(name)) = &arg else {
            args.push(arg);
            continue;
        };
        let parts = object_name_parts(name);
        let columns = match parts.as_slice() {
            [item] => from_item_columns(from, item, catalog, default_schema),
            _ => None,
        };
        match columns {
            Some(columns) => args.extend(columns.into_iter().map(|c| {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::CompoundIdentifier(vec![
                    ast::Ident::with_quote('"', parts[0].clone()),
                    ast::Ident::with_quote('"', c),
                ])))
            })),
            None => args.push(arg),
        }
    }
    list.args = args;
}

/// The column names of the FROM item named `item` (by alias, else by table name).
fn from_item_columns(
    from: &[ast::TableWithJoins],
    item: &str,
    catalog: &basalt_storage::Catalog,
    default_schema: Option<&str>,
) -> Option<Vec<String>> {
    let factors = from
        .iter()
        .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)));
    for factor in factors {
        let (alias, table) = match factor {
            TableFactor::Table { name, alias, .. } => (alias.as_ref(), Some(name)),
            TableFactor::Derived { alias, .. } => (alias.as_ref(), None),
            _ => continue,
        };
        let named = match (alias, table) {
            (Some(a), _) => crate::ddl::ident(&a.name) == item,
            (None, Some(t)) => object_name_parts(t).last().is_some_and(|n| n == item),
            (None, None) => false,
        };
        if !named {
            continue;
        }
        let renamed: Vec<String> = alias
            .map(|a| {
                a.columns
                    .iter()
                    .map(|c| crate::ddl::ident(&c.name))
                    .collect()
            })
            .unwrap_or_default();
        let Some(table) = table else {
            return (!renamed.is_empty()).then_some(renamed);
        };
        // An alias's column list renames the table's leading columns.
        let def = resolve_table(catalog, table, default_schema).ok()?;
        let columns = def.live_columns().map(|(_, c)| c.name.clone());
        return Some(
            columns
                .enumerate()
                .map(|(i, c)| renamed.get(i).cloned().unwrap_or(c))
                .collect(),
        );
    }
    None
}

/// Functions whose value may differ between two calls in one row: a sub-SELECT that calls
/// one cannot be split into one sub-SELECT per column.
const VOLATILE: &[&str] = &[
    "random",
    "nextval",
    "setval",
    "clock_timestamp",
    "timeofday",
    "gen_random_uuid",
    "uuid",
    "statement_timestamp",
];

/// `SET (a, b) = (SELECT x, y FROM …)`: one scalar sub-SELECT per column, each selecting one
/// of the row's values from the same FROM and WHERE (no row: every column NULL; more than
/// one: the scalar sub-SELECT's error), as PostgreSQL's MULTIEXPR SubLink gives.
fn split_row_subquery(q: &Query, columns: usize) -> SqlResult<Vec<Expr>> {
    let SetExpr::Select(select) = q.body.as_ref() else {
        return Err(SqlError::unsupported(
            "a multiple-column UPDATE from a sub-SELECT with UNION, INTERSECT or EXCEPT",
        ));
    };
    if select.projection.iter().any(|item| {
        matches!(
            item,
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
        )
    }) {
        return Err(SqlError::unsupported(
            "a multiple-column UPDATE from a sub-SELECT of *",
        ));
    }
    if select.projection.len() != columns {
        return Err(SqlError::Syntax {
            message: "number of columns does not match number of values".into(),
            position: None,
        });
    }
    let text = q.to_string().to_lowercase();
    if let Some(f) = VOLATILE.iter().find(|f| text.contains(&format!("{f}("))) {
        return Err(SqlError::unsupported(format!(
            "a multiple-column UPDATE from a sub-SELECT that calls the volatile function {f}()"
        )));
    }
    Ok((0..columns)
        .map(|i| {
            let mut one = q.clone();
            if let SetExpr::Select(sel) = one.body.as_mut() {
                sel.projection = vec![select.projection[i].clone()];
            }
            Expr::Subquery(Box::new(one))
        })
        .collect())
}

pub async fn update(s: &mut Session, txn: &Arc<Transaction>, upd: Update) -> SqlResult<Output> {
    if !upd.table.joins.is_empty() {
        return Err(SqlError::unsupported(
            "UPDATE with JOIN is not supported; use FROM",
        ));
    }
    let (def, reference, mut from, only) = target_of(s, &upd.table.relation)?;
    let store = store_of(s, &def)?;
    if let Some(UpdateTableFromKind::AfterSet(tables) | UpdateTableFromKind::BeforeSet(tables)) =
        &upd.from
    {
        for t in tables {
            from.push_str(", ");
            from.push_str(&t.to_string());
        }
    }
    let mut upd = upd;
    if let Some(UpdateTableFromKind::AfterSet(tables) | UpdateTableFromKind::BeforeSet(tables)) =
        &upd.from
    {
        let catalog = s.engine().catalog();
        let schema = s.default_schema();
        for a in &mut upd.assignments {
            expand_row_wildcards(&mut a.value, tables, &catalog, schema.as_deref());
        }
    }
    let assignments = column_assignments(&def, &upd.assignments)?;
    let mut sets: Vec<(usize, String)> = Vec::new();
    for (position, value) in &assignments {
        let positions = [*position];
        let col = &def.columns[positions[0]];
        if !s.is_mysql() && sets.iter().any(|(p, _)| *p == positions[0]) {
            return Err(SqlError::Syntax {
                message: format!("multiple assignments to same column \"{}\"", col.name),
                position: None,
            });
        }
        if col.identity_always && !is_default_keyword(value) {
            return Err(SqlError::GeneratedAlways(format!(
                "column \"{}\" can only be updated to DEFAULT",
                col.name
            )));
        }
        let value = if is_default_keyword(value) {
            col.default.clone().unwrap_or_else(|| "NULL".into())
        } else {
            value.to_string()
        };
        sets.push((positions[0], value));
    }
    let exprs: Vec<String> = sets.iter().map(|(_, e)| format!("({e})")).collect();
    let catalog = s.engine().catalog();
    let mut returned = Vec::new();
    let mut returned_oids: Vec<u32> = Vec::new();
    let mut count = 0usize;
    let mut matched = 0usize;
    // A partitioned table is updated partition by partition; a row whose new key belongs
    // elsewhere moves to the partition that takes it. Every partition's rows are chosen
    // before any changes, so a moved row is not updated again where it lands.
    crate::trigger::statement(s, &def, "UPDATE", true)?;
    let mut work = Vec::new();
    for (member, member_from) in members_of(&catalog, &def, &reference, &from, only) {
        let batches = select_targets(
            s,
            &member,
            &reference,
            &member_from,
            &exprs,
            upd.selection.as_ref(),
        )
        .await?;
        work.push((member, batches));
    }
    for (member, batches) in work {
        let store = if member.id == def.id {
            Arc::clone(&store)
        } else {
            store_of(s, &member)?
        };
        let member_sets: Vec<usize> = sets
            .iter()
            .map(|(pos, _)| {
                member
                    .column_position(&def.columns[*pos].name)
                    .ok_or_else(|| SqlError::Internal("partition column missing".into()))
            })
            .collect::<SqlResult<_>>()?;
        let mut seen: HashSet<Key> = HashSet::new();
        let before_update = crate::trigger::has_row_triggers(s, &member, "UPDATE", true);
        let after_update = crate::trigger::has_row_triggers(s, &member, "UPDATE", false);
        for batch in &batches {
            let keys = keys_of(batch)?;
            let converted: Vec<ArrayRef> = member_sets
                .iter()
                .enumerate()
                .map(|(i, pos)| {
                    let col = &member.columns[*pos];
                    crate::eval::to_column(batch.column(i + 1), col, s.date_order())
                })
                .collect::<SqlResult<_>>()?;
            let mut new_rows = Vec::new();
            let mut old_rows = Vec::new();
            let mut row_keys = Vec::new();
            let mut unchanged = Vec::new();
            for r in 0..batch.num_rows() {
                let key: Key = keys.value(r).into();
                if !seen.insert(key.clone()) {
                    continue; // PostgreSQL updates a row once even when a join matches it twice
                }
                let Some(old) = txn.read(&store, &key) else {
                    continue;
                };
                let mut row = old.to_vec();
                row.resize(member.columns.len(), Value::Null);
                for (i, pos) in member_sets.iter().enumerate() {
                    row[*pos] = basalt_common::value::value_at(
                        converted[i].as_ref(),
                        r,
                        &member.columns[*pos].ty,
                    )?;
                }
                if s.is_mysql() {
                    // MySQL leaves a row whose values do not change alone, and counts it as
                    // matched but not changed.
                    let mut old_full = old.to_vec();
                    old_full.resize(member.columns.len(), Value::Null);
                    if old_full == row {
                        unchanged.push(row);
                        continue;
                    }
                }
                // The old row, for the triggers that read OLD.
                let old_full = if before_update || after_update {
                    let mut old_full = old.to_vec();
                    old_full.resize(member.columns.len(), Value::Null);
                    old_full
                } else {
                    Vec::new()
                };
                let row = if before_update {
                    match crate::trigger::before_row(
                        s,
                        &member,
                        "UPDATE",
                        Some(row),
                        Some(old_full.clone()),
                    )? {
                        Some(row) => row,
                        None => continue,
                    }
                } else {
                    row
                };
                new_rows.push(row);
                old_rows.push(old_full);
                row_keys.push(key);
            }
            matched += new_rows.len() + unchanged.len();
            if upd.returning.is_some() {
                returned_oids.extend(unchanged.iter().map(|_| member.oid));
                returned.extend(unchanged);
            }
            check_rows(s, &member, &new_rows)?;
            if def.partition_of.is_some() {
                // The target is itself a partition: the new rows must stay inside it.
                let as_target: Vec<Vec<Value>> = new_rows
                    .iter()
                    .map(|r| crate::partition::convert_row(&member, &def, r))
                    .collect();
                crate::partition::check_partition_constraint(s, &catalog, &def, &as_target)?;
            }
            for ((key, row), old_row) in row_keys.into_iter().zip(new_rows).zip(old_rows) {
                if after_update {
                    crate::trigger::after_row(
                        s,
                        &member,
                        "UPDATE",
                        Some(row.clone()),
                        Some(old_row),
                    );
                }
                let moves = member.id != def.id
                    && !crate::partition::still_belongs(s, &catalog, &def, &member, &row)?;
                let mut stored_in = member.oid;
                if moves {
                    txn.delete(&store, &member, &key)?;
                    let root_row = crate::partition::convert_row(&member, &def, &row);
                    let (leaves, placed) =
                        crate::partition::place(s, &catalog, &def, vec![root_row])?;
                    for (leaf, leaf_row) in placed {
                        let target = &leaves[leaf];
                        stored_in = target.oid;
                        check_rows(s, target, std::slice::from_ref(&leaf_row))?;
                        txn.insert(&*store_of(s, target)?, target, leaf_row.into())?;
                    }
                } else if s.is_mysql() {
                    txn.update(&store, &member, &key, row.clone().into())?;
                } else {
                    txn.update_relocating(&store, &member, &key, row.clone().into())?;
                }
                count += 1;
                if upd.returning.is_some() {
                    returned_oids.push(stored_in);
                    returned.push(if member.id == def.id {
                        row
                    } else {
                        crate::partition::convert_row(&member, &def, &row)
                    });
                }
            }
        }
    }
    crate::trigger::run_queued(s)?;
    crate::trigger::statement(s, &def, "UPDATE", false)?;
    if s.is_mysql() {
        let warnings = s.my.warnings.len();
        s.my.matched_rows = matched as u64;
        s.my.ok_info = format!("Rows matched: {matched}  Changed: {count}  Warnings: {warnings}");
    }
    match &upd.returning {
        Some(items) => returning(
            s,
            &def,
            Some(&reference),
            items,
            (&returned, &returned_oids),
            "UPDATE",
        ),
        None => Ok(Output::Command(format!("UPDATE {count}"))),
    }
}

pub async fn delete(s: &mut Session, txn: &Arc<Transaction>, del: Delete) -> SqlResult<Output> {
    let tables = match &del.from {
        FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
    };
    let [target] = tables.as_slice() else {
        return Err(SqlError::unsupported(
            "DELETE from several tables is not supported",
        ));
    };
    if !target.joins.is_empty() {
        return Err(SqlError::unsupported(
            "DELETE with JOIN is not supported; use USING",
        ));
    }
    let (def, reference, mut from, only) = target_of(s, &target.relation)?;
    let store = store_of(s, &def)?;
    for t in del.using.iter().flatten() {
        from.push_str(", ");
        from.push_str(&t.to_string());
    }
    let catalog = s.engine().catalog();
    let mut returned = Vec::new();
    let mut returned_oids: Vec<u32> = Vec::new();
    let mut count = 0usize;
    crate::trigger::statement(s, &def, "DELETE", true)?;
    for (member, member_from) in members_of(&catalog, &def, &reference, &from, only) {
        let mut seen: HashSet<Key> = HashSet::new();
        let before_triggers = crate::trigger::has_row_triggers(s, &member, "DELETE", true);
        let after_triggers = crate::trigger::has_row_triggers(s, &member, "DELETE", false);
        let store = if member.id == def.id {
            Arc::clone(&store)
        } else {
            store_of(s, &member)?
        };
        let batches = select_targets(
            s,
            &member,
            &reference,
            &member_from,
            &[],
            del.selection.as_ref(),
        )
        .await?;
        for batch in &batches {
            let keys = keys_of(batch)?;
            for r in 0..batch.num_rows() {
                let key: Key = keys.value(r).into();
                if !seen.insert(key.clone()) {
                    continue;
                }
                let old_row = if del.returning.is_some() || before_triggers || after_triggers {
                    txn.read(&store, &key).map(|old| {
                        let mut row = old.to_vec();
                        row.resize(member.columns.len(), Value::Null);
                        row
                    })
                } else {
                    None
                };
                if before_triggers {
                    let go_on =
                        crate::trigger::before_row(s, &member, "DELETE", None, old_row.clone())?;
                    if go_on.is_none() {
                        continue;
                    }
                }
                if let (true, Some(row)) = (del.returning.is_some(), &old_row) {
                    returned.push(crate::partition::convert_row(&member, &def, row));
                    returned_oids.push(member.oid);
                }
                txn.delete(&store, &member, &key)?;
                if after_triggers {
                    crate::trigger::after_row(s, &member, "DELETE", None, old_row);
                }
                count += 1;
            }
        }
    }
    crate::trigger::run_queued(s)?;
    crate::trigger::statement(s, &def, "DELETE", false)?;
    match &del.returning {
        Some(items) => returning(
            s,
            &def,
            Some(&reference),
            items,
            (&returned, &returned_oids),
            "DELETE",
        ),
        None => Ok(Output::Command(format!("DELETE {count}"))),
    }
}

// ---- RETURNING ------------------------------------------------------------------------------

/// RETURNING: `items` over the rows written (or deleted), each with the object id of the
/// table it is stored in, which `tableoid` reads.
fn returning(
    s: &Session,
    def: &TableDef,
    alias: Option<&str>,
    items: &[SelectItem],
    (rows, oids): (&[Vec<Value>], &[u32]),
    tag: &str,
) -> SqlResult<Output> {
    let mut batch = rows_batch(def, rows)?;
    let mut schema = physical_schema(def);
    let reads_tableoid = items.iter().any(|i| {
        i.to_string()
            .to_lowercase()
            .contains(crate::append::TABLEOID)
    });
    if reads_tableoid && def.column_position(crate::append::TABLEOID).is_none() {
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new(crate::append::TABLEOID, DataType::Int64, false));
        schema = Arc::new(Schema::new(fields));
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(
            datafusion::arrow::array::Int64Array::from_iter_values(
                oids.iter().map(|&o| i64::from(o)),
            ),
        ));
        let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
        batch = RecordBatch::try_new_with_options(Arc::clone(&schema), columns, &options)?;
    }
    let qualifier = alias.unwrap_or(&def.name);
    let columns: Vec<String> = def.live_columns().map(|(_, c)| c.name.clone()).collect();
    let mut fields = Vec::new();
    let mut arrays = Vec::new();
    for item in items {
        // `RETURNING t`: the written row as a row value, named by the table.
        let mut item = item.clone();
        match &mut item {
            SelectItem::UnnamedExpr(e) => {
                let mut row = e.clone();
                crate::wholerow::returning_rows(&mut row, qualifier, &columns);
                if row != *e {
                    item = SelectItem::ExprWithAlias {
                        alias: ast::Ident::new(column_name_of(e)),
                        expr: row,
                    };
                }
            }
            SelectItem::ExprWithAlias { expr, .. } | SelectItem::ExprWithAliases { expr, .. } => {
                crate::wholerow::returning_rows(expr, qualifier, &columns);
            }
            _ => {}
        }
        let item = &item;
        let (exprs, names): (Vec<String>, Vec<String>) = match item {
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => def
                .live_columns()
                .map(|(_, c)| (quote_ident(&c.name), c.name.clone()))
                .unzip(),
            SelectItem::UnnamedExpr(e) => (vec![e.to_string()], vec![column_name_of(e)]),
            SelectItem::ExprWithAlias { expr, alias } => {
                (vec![expr.to_string()], vec![alias.value.clone()])
            }
            SelectItem::ExprWithAliases { expr, aliases } => (
                vec![expr.to_string()],
                vec![aliases.first().map(|a| a.value.clone()).unwrap_or_default()],
            ),
        };
        for (e, name) in exprs.iter().zip(names) {
            let compiled: Arc<dyn PhysicalExpr> = compile(s, e, &schema, Some(qualifier))?;
            let array = eval(&compiled, &batch)?;
            fields.push(Field::new(name, array.data_type().clone(), true));
            arrays.push(array);
        }
    }
    let out_schema: SchemaRef = Arc::new(Schema::new(fields));
    let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
    let out = RecordBatch::try_new_with_options(Arc::clone(&out_schema), arrays, &options)?;
    Ok(Output::Rows {
        schema: out_schema,
        batches: vec![out],
        tag: tag.to_owned(),
    })
}

/// The output column name PostgreSQL gives an unaliased expression (its `FigureColname`): a
/// column's name, a function's name, a cast's inner name or else its type's name
/// (`'1'::bigint` is `int8`), a CASE's ELSE branch or else `case`, a scalar subquery's
/// first column; `?column?` when nothing names it.
pub fn column_name_of(e: &Expr) -> String {
    figure_column_name(e)
        .map(|(name, _)| name)
        .unwrap_or_else(|| "?column?".into())
}

/// A name and how strongly it names the expression: 2 for a column's or a function's name,
/// 1 for a type's name or `case`, which a stronger name inside wins over.
fn figure_column_name(e: &Expr) -> Option<(String, u8)> {
    let strong = |name: &str| Some((name.to_owned(), 2));
    match e {
        Expr::Identifier(i) => strong(&i.value.to_lowercase()),
        Expr::CompoundIdentifier(parts) => strong(&parts.last()?.value.to_lowercase()),
        // `s.*` as a value (a whole-row reference) is named by its FROM item.
        Expr::QualifiedWildcard(name, _) => strong(&object_name_parts(name).pop()?),
        Expr::Function(f) => strong(&object_name_parts(&f.name).pop()?),
        Expr::Cast {
            expr, data_type, ..
        } => match figure_column_name(expr) {
            Some(named) if named.1 == 2 => Some(named),
            _ => Some((pg_type_label(data_type), 1)),
        },
        Expr::TypedString(t) => Some((pg_type_label(&t.data_type), 1)),
        Expr::Nested(inner) | Expr::Collate { expr: inner, .. } => figure_column_name(inner),
        Expr::Case { else_result, .. } => {
            match else_result.as_deref().and_then(figure_column_name) {
                Some(named) if named.1 == 2 => Some(named),
                _ => Some(("case".into(), 1)),
            }
        }
        Expr::Exists { .. } => strong("exists"),
        Expr::Subquery(q) => first_target_name(&q.body).and_then(|n| strong(&n)),
        // `x[1]`, `(…).f`: the last field named, else the subscripted expression's name.
        Expr::CompoundFieldAccess { root, access_chain } => {
            let field = access_chain.iter().rev().find_map(|a| match a {
                ast::AccessExpr::Dot(Expr::Identifier(i)) => Some(i.value.to_lowercase()),
                _ => None,
            });
            match field {
                Some(f) => strong(&f),
                None => figure_column_name(root),
            }
        }
        Expr::Array(_) => strong("array"),
        Expr::Tuple(_) => strong("row"),
        Expr::Extract { .. } => strong("extract"),
        Expr::Substring {
            shorthand: true, ..
        } => strong("substr"),
        Expr::Substring { .. } => strong("substring"),
        Expr::Position { .. } => strong("position"),
        Expr::Overlay { .. } => strong("overlay"),
        Expr::Ceil { .. } => strong("ceil"),
        Expr::Floor { .. } => strong("floor"),
        Expr::Trim { trim_where, .. } => strong(match trim_where {
            Some(TrimWhereField::Leading) => "ltrim",
            Some(TrimWhereField::Trailing) => "rtrim",
            _ => "btrim",
        }),
        Expr::Interval(_) => Some(("interval".into(), 1)),
        _ => None,
    }
}

/// The name of the first output column of a subquery body (its leftmost SELECT's).
fn first_target_name(body: &SetExpr) -> Option<String> {
    match body {
        SetExpr::Select(select) => match select.projection.first()? {
            SelectItem::UnnamedExpr(e) => Some(column_name_of(e)),
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.to_lowercase()),
            _ => None,
        },
        SetExpr::Query(q) => first_target_name(&q.body),
        SetExpr::SetOperation { left, .. } => first_target_name(left),
        // VALUES names its columns column1, column2, …
        SetExpr::Values(_) => Some("column1".into()),
        _ => None,
    }
}

/// PostgreSQL's internal name of a type as a cast writes it (`bigint` is `int8`), which
/// names the column of an unaliased cast constant.
fn pg_type_label(t: &ast::DataType) -> String {
    use ast::DataType as T;
    match t {
        T::Int(_) | T::Integer(_) | T::Int4(_) => "int4".into(),
        T::BigInt(_) | T::Int8(_) => "int8".into(),
        T::SmallInt(_) | T::Int2(_) => "int2".into(),
        T::Real | T::Float4 => "float4".into(),
        T::Double(_) | T::DoublePrecision | T::Float8 => "float8".into(),
        T::Float(ast::ExactNumberInfo::Precision(p)) if *p <= 24 => "float4".into(),
        T::Float(_) => "float8".into(),
        T::Numeric(_) | T::Decimal(_) | T::Dec(_) => "numeric".into(),
        T::Boolean | T::Bool => "bool".into(),
        T::Varchar(_) | T::CharacterVarying(_) | T::CharVarying(_) => "varchar".into(),
        T::Char(_) | T::Character(_) => "bpchar".into(),
        T::Timestamp(_, ast::TimezoneInfo::Tz | ast::TimezoneInfo::WithTimeZone) => {
            "timestamptz".into()
        }
        T::Timestamp(..) => "timestamp".into(),
        T::Time(_, ast::TimezoneInfo::Tz | ast::TimezoneInfo::WithTimeZone) => "timetz".into(),
        T::Time(..) => "time".into(),
        T::Array(ast::ArrayElemTypeDef::SquareBracket(inner, _))
        | T::Array(ast::ArrayElemTypeDef::AngleBracket(inner)) => pg_type_label(inner),
        T::Custom(name, _) => object_name_parts(name).pop().unwrap_or_default(),
        other => other
            .to_string()
            .split('(')
            .next()
            .unwrap_or_default()
            .trim()
            .to_lowercase(),
    }
}

// ---- whole-table helpers for ALTER TABLE ------------------------------------------------------

/// Every row of a table as the transaction sees it, in key order, batch by batch.
fn for_each_chunk(
    txn: &Transaction,
    store: &TableStore,
    mut f: impl FnMut(Vec<(Key, Row)>) -> SqlResult<()>,
) -> SqlResult<()> {
    let mut after: Option<Key> = None;
    loop {
        let mut rows = Vec::new();
        let resume = txn.scan_chunk(store, after.as_deref(), SCAN_BATCH_ROWS, &mut rows);
        if !rows.is_empty() {
            f(rows)?;
        }
        match resume {
            Some(k) => after = Some(k),
            None => return Ok(()),
        }
    }
}

/// Every row of a table (full width) as the transaction sees it.
pub(crate) fn all_rows(
    s: &Session,
    txn: &Transaction,
    def: &TableDef,
) -> SqlResult<Vec<Vec<Value>>> {
    let store = store_of(s, def)?;
    let mut out = Vec::new();
    for_each_chunk(txn, &store, |rows| {
        for (_, r) in rows {
            let mut r = r.to_vec();
            r.resize(def.columns.len(), Value::Null);
            out.push(r);
        }
        Ok(())
    })?;
    Ok(out)
}

pub fn count_rows(txn: &Transaction, s: &Session, def: &TableDef) -> usize {
    let Ok(store) = store_of(s, def) else {
        return 0;
    };
    let mut n = 0;
    let _ = for_each_chunk(txn, &store, |rows| {
        n += rows.len();
        Ok(())
    });
    n
}

pub async fn column_has_nulls(
    s: &Session,
    txn: &Transaction,
    def: &TableDef,
    pos: usize,
) -> SqlResult<bool> {
    let store = store_of(s, def)?;
    let mut found = false;
    for_each_chunk(txn, &store, |rows| {
        found |= rows
            .iter()
            .any(|(_, r)| r.get(pos).is_none_or(Value::is_null));
        Ok(())
    })?;
    Ok(found)
}

/// Sets a new column of every existing row to its DEFAULT (ALTER TABLE ADD COLUMN).
pub async fn fill_column_default(
    s: &Session,
    txn: &Transaction,
    def: &TableDef,
    pos: usize,
) -> SqlResult<()> {
    let store = store_of(s, def)?;
    let col = &def.columns[pos];
    let default = col.default.clone().unwrap_or_else(|| "NULL".into());
    let expr = compile(s, &default, &Arc::new(Schema::empty()), None)?;
    let mut updates: Vec<(Key, Vec<Value>)> = Vec::new();
    for_each_chunk(txn, &store, |rows| {
        let values = crate::eval::to_column(
            &eval(&expr, &empty_batch(rows.len())?)?,
            col,
            s.date_order(),
        )?;
        for (i, (key, row)) in rows.into_iter().enumerate() {
            let mut row = row.to_vec();
            row.resize(def.columns.len(), Value::Null);
            row[pos] = basalt_common::value::value_at(values.as_ref(), i, &col.ty)?;
            updates.push((key, row));
        }
        Ok(())
    })?;
    for (key, row) in updates {
        txn.update(&store, def, &key, row.into())?;
    }
    Ok(())
}

/// Verifies every existing row passes a new CHECK constraint.
pub async fn verify_check(
    s: &Session,
    txn: &Transaction,
    def: &TableDef,
    name: &str,
    expr: &str,
) -> SqlResult<()> {
    let store = store_of(s, def)?;
    let compiled = compile(s, expr, &physical_schema(def), Some(&def.name))?;
    for_each_chunk(txn, &store, |rows| {
        let full: Vec<Vec<Value>> = rows
            .into_iter()
            .map(|(_, r)| {
                let mut r = r.to_vec();
                r.resize(def.columns.len(), Value::Null);
                r
            })
            .collect();
        let batch = rows_batch(def, &full)?;
        let result = eval(&compiled, &batch)?;
        if let Some(b) = result.as_any().downcast_ref::<BooleanArray>() {
            if b.iter().any(|v| v == Some(false)) {
                return Err(SqlError::Detailed {
                    sqlstate: "23514",
                    message: format!(
                        "check constraint \"{name}\" of relation \"{}\" is violated by some row",
                        def.name
                    ),
                    detail: String::new(),
                    hint: None,
                });
            }
        }
        Ok(())
    })
}
