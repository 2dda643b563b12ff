//! The fast path: the simple statements that dominate OLTP run straight against the row
//! engine, without DataFusion planning (ARCHITECTURE "Row engine").
//!
//! Recognised shapes (PostgreSQL dialect), where `v` is a `$n` parameter or an integer,
//! string or NULL literal:
//! - `SELECT c, … FROM t WHERE pk = v [AND pk2 = v …]`, every primary-key column fixed;
//! - `SELECT [DISTINCT] c, … | SUM(c) FROM t WHERE pk BETWEEN v AND v [ORDER BY c [ASC|DESC]]`
//!   on a single-column integer primary key;
//! - `UPDATE t SET c = v | c = c ± v, … WHERE pk = v …`;
//! - `DELETE FROM t WHERE pk = v …`;
//! - `INSERT INTO t [(c, …)] VALUES (v, …)[, …]`.
//!
//! Recognition is in two steps: [`shape`] reads the syntax alone and accepts a statement
//! only when re-printing the recognised parts gives the statement's own text back (so no
//! clause it does not understand can slip through); [`bind`] resolves names against the
//! catalog. A shape that does not bind, or values whose types differ from what the plan
//! expects, go the general path. Values are converted, defaulted and checked by the same
//! functions the general path uses, so both give the same rows and the same errors
//! (`tests/test_fast_path.py` runs statements both ways; `SET basalt.fast_path = off`
//! turns the fast path off).

use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::Arc;

use basalt_common::value::{value_at, ColumnBuilder};
use basalt_common::{Row, SqlType, TableId, Value};
use basalt_storage::codec::{encode_key_value, Key};
use basalt_storage::{Catalog, TableDef, TableStore, Transaction};
use datafusion::arrow::array::{ArrayRef, Int64Array};
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::ScalarValue;
use datafusion::sql::sqlparser::ast::{
    AssignmentTarget, BinaryOperator, Distinct, Expr, FromTable, FunctionArg, FunctionArgExpr,
    FunctionArguments, Ident, ObjectName, OrderByKind, Query, SelectItem, SetExpr, Statement,
    TableFactor, TableObject, TableWithJoins, UnaryOperator, Value as AstValue,
};

use crate::ddl::resolve_table;
use crate::error::{SqlError, SqlResult};
use crate::session::{Output, Session};

/// A value in a statement: a `$n` parameter (0-based), a literal, or (in INSERT VALUES only)
/// `CURRENT_TIMESTAMP` / `now()`.
#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Param(usize),
    Literal(ScalarValue),
    Now,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ArithOp {
    Add,
    Sub,
}

/// The right-hand side of `SET c = …`.
#[derive(Debug, Clone, PartialEq)]
enum Assign<C> {
    Value(Operand),
    /// `c = c2 ± v` on integer columns.
    Arith(C, ArithOp, Operand),
}

/// What a range SELECT returns.
#[derive(Debug, Clone, PartialEq)]
enum Projection<C> {
    Columns(Vec<C>),
    /// SUM of an integer column, and the name of the result column when the statement
    /// gives one (the rewrite names it as PostgreSQL does: `sum`).
    Sum(C, Option<String>),
}

/// A statement's syntax, with columns as `C` (names in a [`Shape`], positions once bound).
#[derive(Debug, Clone, PartialEq)]
enum Kind<C> {
    Point {
        key: Vec<(C, Operand)>,
        columns: Vec<C>,
    },
    Range {
        key: C,
        low: Operand,
        high: Operand,
        projection: Projection<C>,
        distinct: bool,
        /// Position in the projection to sort by, and whether descending.
        order: Option<(usize, bool)>,
    },
    Update {
        key: Vec<(C, Operand)>,
        sets: Vec<(C, Assign<C>)>,
    },
    Delete {
        key: Vec<(C, Operand)>,
    },
    Insert {
        /// Empty: every live column in order.
        columns: Vec<C>,
        rows: Vec<Vec<Operand>>,
    },
}

/// A recognised statement before name resolution.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Shape {
    table: ObjectName,
    kind: Kind<String>,
}

/// A statement bound to a table definition, ready to run many times.
#[derive(Debug, Clone)]
pub(crate) struct FastPath {
    table: TableId,
    version: u64,
    kind: Kind<usize>,
    /// The result columns of a SELECT.
    schema: Option<SchemaRef>,
}

// ---- recognition: syntax ---------------------------------------------------------------------

fn ident_name(i: &Ident) -> String {
    crate::ddl::ident(i)
}

fn column(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(ident_name(i)),
        _ => None,
    }
}

fn operand(e: &Expr) -> Option<Operand> {
    match e {
        Expr::Nested(inner) => operand(inner),
        Expr::Value(v) => match &v.value {
            AstValue::Placeholder(p) => {
                let n: usize = p.strip_prefix('$')?.parse().ok()?;
                n.checked_sub(1).map(Operand::Param)
            }
            AstValue::Number(n, false) => {
                let i: i64 = n.parse().ok()?;
                Some(Operand::Literal(ScalarValue::Int64(Some(i))))
            }
            AstValue::SingleQuotedString(s) => {
                Some(Operand::Literal(ScalarValue::Utf8(Some(s.clone()))))
            }
            AstValue::Null => Some(Operand::Literal(ScalarValue::Null)),
            _ => None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match expr.as_ref() {
            Expr::Value(v) => match &v.value {
                AstValue::Number(n, false) => {
                    let i: i64 = n.parse().ok()?;
                    Some(Operand::Literal(ScalarValue::Int64(Some(-i))))
                }
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// `CURRENT_TIMESTAMP` or `now()`.
fn is_now(e: &Expr) -> bool {
    let Expr::Function(f) = e else {
        return false;
    };
    let [part] = f.name.0.as_slice() else {
        return false;
    };
    let Some(name) = part.as_ident() else {
        return false;
    };
    let plain = f.filter.is_none()
        && f.over.is_none()
        && f.within_group.is_empty()
        && f.null_treatment.is_none()
        && matches!(f.parameters, FunctionArguments::None);
    let no_args = match &f.args {
        FunctionArguments::None => name.value.eq_ignore_ascii_case("current_timestamp"),
        FunctionArguments::List(l) => {
            l.args.is_empty()
                && l.clauses.is_empty()
                && l.duplicate_treatment.is_none()
                && name.value.eq_ignore_ascii_case("now")
        }
        FunctionArguments::Subquery(_) => false,
    };
    plain && no_args && name.quote_style.is_none()
}

/// The value `now()` has (`crate::clock`): the transaction's start as a UTC `timestamptz`.
fn now_value() -> ScalarValue {
    let us = crate::clock::transaction_micros();
    ScalarValue::TimestampMicrosecond(Some(us), Some("+00:00".into()))
}

/// `a = v AND b = v …` as (column, value) pairs.
fn equalities(e: &Expr, out: &mut Vec<(String, Operand)>) -> Option<()> {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            equalities(left, out)?;
            equalities(right, out)
        }
        Expr::Nested(inner) => equalities(inner, out),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => {
            let pair = match (column(left), column(right)) {
                (Some(c), None) => (c, operand(right)?),
                (None, Some(c)) => (c, operand(left)?),
                _ => return None,
            };
            out.push(pair);
            Some(())
        }
        _ => None,
    }
}

/// The table of a `FROM t` without alias, joins or arguments.
fn plain_table(t: &TableWithJoins) -> Option<&ObjectName> {
    match &t.relation {
        TableFactor::Table { name, .. } if t.joins.is_empty() => Some(name),
        _ => None,
    }
}

fn joined<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Recognises a fast-path statement from its syntax alone.
pub(crate) fn shape(stmt: &Statement) -> Option<Shape> {
    let (table, kind, canonical) = match stmt {
        Statement::Query(q) => select_shape(q)?,
        Statement::Update(u) => {
            let table = plain_table(&u.table)?;
            let selection = u.selection.as_ref()?;
            let mut key = Vec::new();
            equalities(selection, &mut key)?;
            let mut sets = Vec::new();
            for a in &u.assignments {
                let AssignmentTarget::ColumnName(name) = &a.target else {
                    return None;
                };
                let [part] = name.0.as_slice() else {
                    return None;
                };
                let target = ident_name(part.as_ident()?);
                let value = match &a.value {
                    Expr::BinaryOp { left, op, right } => {
                        let op = match op {
                            BinaryOperator::Plus => ArithOp::Add,
                            BinaryOperator::Minus => ArithOp::Sub,
                            _ => return None,
                        };
                        Assign::Arith(column(left)?, op, operand(right)?)
                    }
                    e => Assign::Value(operand(e)?),
                };
                sets.push((target, value));
            }
            let canonical = format!(
                "UPDATE {table} SET {} WHERE {selection}",
                joined(&u.assignments)
            );
            (table, Kind::Update { key, sets }, canonical)
        }
        Statement::Delete(d) => {
            let FromTable::WithFromKeyword(from) = &d.from else {
                return None;
            };
            let [t] = from.as_slice() else {
                return None;
            };
            let table = plain_table(t)?;
            let selection = d.selection.as_ref()?;
            let mut key = Vec::new();
            equalities(selection, &mut key)?;
            let canonical = format!("DELETE FROM {table} WHERE {selection}");
            (table, Kind::Delete { key }, canonical)
        }
        Statement::Insert(ins) => {
            let TableObject::TableName(table) = &ins.table else {
                return None;
            };
            let source = ins.source.as_ref()?;
            let SetExpr::Values(values) = source.body.as_ref() else {
                return None;
            };
            let mut columns = Vec::new();
            for c in &ins.columns {
                let [part] = c.0.as_slice() else {
                    return None;
                };
                columns.push(ident_name(part.as_ident()?));
            }
            let mut rows = Vec::new();
            for row in &values.rows {
                rows.push(
                    row.content
                        .iter()
                        .map(|e| operand(e).or_else(|| is_now(e).then_some(Operand::Now)))
                        .collect::<Option<Vec<_>>>()?,
                );
            }
            let cols = if ins.columns.is_empty() {
                String::new()
            } else {
                format!(" ({})", joined(&ins.columns))
            };
            let canonical = format!("INSERT INTO {table}{cols} {source}");
            (table, Kind::Insert { columns, rows }, canonical)
        }
        _ => return None,
    };
    (stmt.to_string() == canonical).then(|| Shape {
        table: table.clone(),
        kind,
    })
}

/// `SELECT … FROM t WHERE …` (point or range), with its canonical text.
fn select_shape(q: &Query) -> Option<(&ObjectName, Kind<String>, String)> {
    let SetExpr::Select(sel) = q.body.as_ref() else {
        return None;
    };
    let [from] = sel.from.as_slice() else {
        return None;
    };
    let table = plain_table(from)?;
    let selection = sel.selection.as_ref()?;
    let distinct = match &sel.distinct {
        None => false,
        Some(Distinct::Distinct) => true,
        Some(_) => return None,
    };
    let mut columns = Vec::new();
    let mut sum = None;
    for item in &sel.projection {
        let (e, alias) = match item {
            SelectItem::UnnamedExpr(e) => (e, None),
            SelectItem::ExprWithAlias { expr, alias } if matches!(expr, Expr::Function(_)) => {
                (expr, Some(alias.value.clone()))
            }
            _ => return None,
        };
        match e {
            Expr::Identifier(i) => columns.push(ident_name(i)),
            Expr::Function(f) if sel.projection.len() == 1 => {
                let [name] = f.name.0.as_slice() else {
                    return None;
                };
                let name = name.as_ident()?;
                if name.quote_style.is_some() || !name.value.eq_ignore_ascii_case("sum") {
                    return None;
                }
                let FunctionArguments::List(list) = &f.args else {
                    return None;
                };
                let [FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(arg)))] =
                    list.args.as_slice()
                else {
                    return None;
                };
                if e.to_string() != format!("{}({arg})", f.name) {
                    return None;
                }
                sum = Some((ident_name(arg), alias));
            }
            _ => return None,
        }
    }
    let mut order = None;
    let mut order_text = String::new();
    if let Some(ob) = &q.order_by {
        let OrderByKind::Expressions(exprs) = &ob.kind else {
            return None;
        };
        let [e] = exprs.as_slice() else {
            return None;
        };
        if e.options.nulls_first.is_some() || e.with_fill.is_some() {
            return None;
        }
        let by = column(&e.expr)?;
        let at = columns.iter().position(|c| *c == by)?;
        order = Some((at, e.options.asc == Some(false)));
        order_text = format!(" ORDER BY {e}");
    }
    let kind = match selection {
        Expr::Between {
            expr,
            negated: false,
            low,
            high,
        } => Kind::Range {
            key: column(expr)?,
            low: operand(low)?,
            high: operand(high)?,
            projection: match sum {
                Some((c, alias)) => Projection::Sum(c, alias),
                None => Projection::Columns(columns),
            },
            distinct,
            order,
        },
        e => {
            if distinct || sum.is_some() || order.is_some() {
                return None;
            }
            let mut key = Vec::new();
            equalities(e, &mut key)?;
            Kind::Point { key, columns }
        }
    };
    if let Kind::Range {
        distinct: true,
        order: None,
        ..
    } = kind
    {
        return None;
    }
    let canonical = format!(
        "SELECT {}{} FROM {table} WHERE {selection}{order_text}",
        if distinct { "DISTINCT " } else { "" },
        joined(&sel.projection)
    );
    Some((table, kind, canonical))
}

// ---- recognition: binding ----------------------------------------------------------------------

fn position(def: &TableDef, name: &str) -> Option<usize> {
    def.column_position(name)
}

/// Every primary-key column fixed exactly once, in key order.
fn bind_key(def: &TableDef, key: &[(String, Operand)]) -> Option<Vec<(usize, Operand)>> {
    let pk = def.primary_key.as_ref()?;
    if key.len() != pk.len() {
        return None;
    }
    let mut out = Vec::with_capacity(pk.len());
    for &p in pk {
        let mut found = key.iter().filter(|(c, _)| position(def, c) == Some(p));
        let (_, op) = found.next()?;
        if found.next().is_some() || !key_type_ok(&def.columns[p].ty) {
            return None;
        }
        out.push((p, op.clone()));
    }
    Some(out)
}

/// Key columns whose equality with a value is plain equality of the stored values.
fn key_type_ok(ty: &SqlType) -> bool {
    matches!(
        ty,
        SqlType::Int16 | SqlType::Int32 | SqlType::Int64 | SqlType::Text | SqlType::Varchar(_)
    )
}

fn is_integer(ty: &SqlType) -> bool {
    matches!(ty, SqlType::Int16 | SqlType::Int32 | SqlType::Int64)
}

fn columns_of(def: &TableDef, names: &[String]) -> Option<Vec<usize>> {
    names.iter().map(|c| position(def, c)).collect()
}

/// The result schema of the selected columns as the general path describes it.
fn select_schema(s: &Session, def: &TableDef, columns: &[usize]) -> SchemaRef {
    let (table, positions) = crate::provider::table_schema(def, false, s.is_mysql());
    let fields: Vec<_> = columns
        .iter()
        .filter_map(|c| {
            let i = positions.iter().position(|p| *p == Some(*c))?;
            Some(table.field(i).clone())
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// The result schema of selected columns: the described one (prepared statements), if it
/// has the columns' stored types, or the one the general path gives them.
fn columns_schema(
    s: &Session,
    def: &TableDef,
    columns: &[usize],
    described: Option<&SchemaRef>,
) -> Option<SchemaRef> {
    let Some(d) = described else {
        return Some(select_schema(s, def, columns));
    };
    let matches = d.fields().len() == columns.len()
        && d.fields()
            .iter()
            .zip(columns)
            .all(|(f, c)| *f.data_type() == def.columns[*c].ty.to_arrow());
    matches.then(|| Arc::clone(d))
}

/// Binds a shape to the session's catalog. `described` is the result schema the general
/// path described (prepared statements).
pub(crate) fn bind(s: &Session, shape: &Shape, described: Option<&SchemaRef>) -> Option<FastPath> {
    if s.is_mysql() {
        return None;
    }
    let catalog = s.engine().catalog();
    let def = resolve_table(&catalog, &shape.table, s.default_schema().as_deref()).ok()?;
    // Partitioned tables and partitions route and check rows on the general path, and
    // triggers run there.
    if def.partition_key.is_some() || def.partition_of.is_some() || !def.triggers.is_empty() {
        return None;
    }
    let mut schema = None;
    let kind = match &shape.kind {
        Kind::Point { key, columns } => {
            let columns = columns_of(&def, columns)?;
            schema = Some(columns_schema(s, &def, &columns, described)?);
            Kind::Point {
                key: bind_key(&def, key)?,
                columns,
            }
        }
        Kind::Range {
            key,
            low,
            high,
            projection,
            distinct,
            order,
        } => {
            let pk = def.primary_key.as_ref()?;
            let key = position(&def, key)?;
            if pk.as_slice() != [key] || !is_integer(&def.columns[key].ty) {
                return None;
            }
            let projection = match projection {
                Projection::Columns(names) => {
                    let columns = columns_of(&def, names)?;
                    if let Some((at, _)) = order {
                        if !orderable(&def.columns[columns[*at]].ty) {
                            return None;
                        }
                    }
                    schema = Some(columns_schema(s, &def, &columns, described)?);
                    Projection::Columns(columns)
                }
                Projection::Sum(name, alias) => {
                    let c = position(&def, name)?;
                    if !is_integer(&def.columns[c].ty) {
                        return None;
                    }
                    schema = Some(match (described, alias) {
                        (Some(d), _)
                            if d.fields().len() == 1
                                && *d.field(0).data_type() == DataType::Int64 =>
                        {
                            Arc::clone(d)
                        }
                        (None, Some(alias)) => {
                            Arc::new(Schema::new(vec![datafusion::arrow::datatypes::Field::new(
                                alias,
                                DataType::Int64,
                                true,
                            )]))
                        }
                        _ => return None,
                    });
                    Projection::Sum(c, None)
                }
            };
            Kind::Range {
                key,
                low: low.clone(),
                high: high.clone(),
                projection,
                distinct: *distinct,
                order: *order,
            }
        }
        Kind::Update { key, sets } => {
            let mut bound = Vec::with_capacity(sets.len());
            for (target, value) in sets {
                let target = position(&def, target)?;
                let col = &def.columns[target];
                if col.identity_always || bound.iter().any(|(t, _)| *t == target) {
                    return None;
                }
                let value = match value {
                    Assign::Value(v) => Assign::Value(v.clone()),
                    Assign::Arith(c, op, v) => {
                        let c = position(&def, c)?;
                        if !is_integer(&def.columns[c].ty) {
                            return None;
                        }
                        Assign::Arith(c, *op, v.clone())
                    }
                };
                bound.push((target, value));
            }
            Kind::Update {
                key: bind_key(&def, key)?,
                sets: bound,
            }
        }
        Kind::Delete { key } => Kind::Delete {
            key: bind_key(&def, key)?,
        },
        Kind::Insert { columns, rows } => {
            let columns: Vec<usize> = if columns.is_empty() {
                def.live_columns().map(|(i, _)| i).collect()
            } else {
                columns_of(&def, columns)?
            };
            let distinct_targets = columns
                .iter()
                .enumerate()
                .all(|(i, c)| !columns[..i].contains(c));
            if !distinct_targets
                || rows.iter().any(|r| r.len() != columns.len())
                || columns.iter().any(|c| def.columns[*c].identity_always)
            {
                return None;
            }
            Kind::Insert {
                columns,
                rows: rows.clone(),
            }
        }
    };
    Some(FastPath {
        table: def.id,
        version: def.version,
        kind,
        schema,
    })
}

fn orderable(ty: &SqlType) -> bool {
    matches!(
        ty,
        SqlType::Int16
            | SqlType::Int32
            | SqlType::Int64
            | SqlType::Text
            | SqlType::Varchar(_)
            | SqlType::Char(_)
    )
}

// ---- execution -----------------------------------------------------------------------------

/// Why a bound statement cannot run on the fast path this time (the general path runs it).
struct NotFast;

fn value_of(op: &Operand, params: &[ScalarValue]) -> Result<ScalarValue, NotFast> {
    match op {
        Operand::Param(i) => params.get(*i).cloned().ok_or(NotFast),
        Operand::Literal(v) => Ok(v.clone()),
        Operand::Now => Err(NotFast),
    }
}

/// A value of an INSERT row, where `now` stands for `CURRENT_TIMESTAMP`.
fn insert_value(
    op: &Operand,
    params: &[ScalarValue],
    now: &ScalarValue,
) -> Result<ScalarValue, NotFast> {
    match op {
        Operand::Now => Ok(now.clone()),
        other => value_of(other, params),
    }
}

/// An integer value (any width), `None` for NULL.
fn int_of(v: &ScalarValue) -> Result<Option<i64>, NotFast> {
    match v {
        ScalarValue::Int16(x) => Ok(x.map(i64::from)),
        ScalarValue::Int32(x) => Ok(x.map(i64::from)),
        ScalarValue::Int64(x) => Ok(*x),
        ScalarValue::Null => Ok(None),
        _ => Err(NotFast),
    }
}

/// The encoded key equal to the operands, `None` when no row can match (a NULL, or a value
/// outside the column's type).
fn key_of(
    def: &TableDef,
    key: &[(usize, Operand)],
    params: &[ScalarValue],
) -> Result<Option<Key>, NotFast> {
    let mut out = Vec::with_capacity(key.len() * 9);
    for (pos, op) in key {
        let v = value_of(op, params)?;
        let value = match &def.columns[*pos].ty {
            ty if is_integer(ty) => match int_of(&v)? {
                // Keys of every integer width encode as i64: a value beyond the column's
                // range encodes to a key no row has.
                Some(i) => Value::Int64(i),
                None => return Ok(None),
            },
            _ => match v {
                ScalarValue::Utf8(Some(s)) => Value::Text(s),
                ScalarValue::Utf8(None) | ScalarValue::Null => return Ok(None),
                _ => return Err(NotFast),
            },
        };
        encode_key_value(&value, &mut out);
    }
    Ok(Some(out.into_boxed_slice()))
}

/// A value converted to a column's stored type exactly as the general path converts it.
fn stored_value(s: &Session, v: &ScalarValue, def: &TableDef, pos: usize) -> SqlResult<Value> {
    let col = &def.columns[pos];
    let array = crate::eval::to_column(&v.to_array()?, col, s.date_order())?;
    Ok(value_at(array.as_ref(), 0, &col.ty)?)
}

/// `c ± v` with DataFusion's integer typing (the wider type) and Basalt's overflow check.
fn arith(
    old: &Value,
    col_ty: &SqlType,
    op: ArithOp,
    v: &ScalarValue,
) -> Result<SqlResult<ScalarValue>, NotFast> {
    let rhs_ty = match v {
        ScalarValue::Int16(_) => SqlType::Int16,
        ScalarValue::Int32(_) => SqlType::Int32,
        ScalarValue::Int64(_) | ScalarValue::Null => SqlType::Int64,
        _ => return Err(NotFast),
    };
    let width = |t: &SqlType| match t {
        SqlType::Int16 => 1,
        SqlType::Int32 => 2,
        _ => 3,
    };
    let result_ty = if width(col_ty) >= width(&rhs_ty) {
        col_ty.clone()
    } else {
        rhs_ty
    };
    let (Some(a), Some(b)) = (old.as_i64(), int_of(v)?) else {
        return Ok(Ok(null_of(&result_ty)));
    };
    let r = match op {
        ArithOp::Add => a.checked_add(b),
        ArithOp::Sub => a.checked_sub(b),
    };
    let (name, scalar) = match result_ty {
        SqlType::Int16 => (
            "smallint",
            r.and_then(|r| i16::try_from(r).ok())
                .map(|r| ScalarValue::Int16(Some(r))),
        ),
        SqlType::Int32 => (
            "integer",
            r.and_then(|r| i32::try_from(r).ok())
                .map(|r| ScalarValue::Int32(Some(r))),
        ),
        _ => ("bigint", r.map(|r| ScalarValue::Int64(Some(r)))),
    };
    Ok(scalar.ok_or_else(|| SqlError::OutOfRange(format!("{name} out of range"))))
}

fn null_of(ty: &SqlType) -> ScalarValue {
    match ty {
        SqlType::Int16 => ScalarValue::Int16(None),
        SqlType::Int32 => ScalarValue::Int32(None),
        _ => ScalarValue::Int64(None),
    }
}

impl FastPath {
    /// Whether the statement writes (it then runs inside the statement's undo scope).
    pub(crate) fn writes(&self) -> bool {
        matches!(
            self.kind,
            Kind::Update { .. } | Kind::Delete { .. } | Kind::Insert { .. }
        )
    }

    /// The table definition the plan was bound to, if it is still current.
    pub(crate) fn current_def<'c>(&self, catalog: &'c Catalog) -> Option<&'c TableDef> {
        let def = catalog.tables.get(&self.table)?;
        (def.version == self.version).then_some(def)
    }

    /// Checks that the parameter values have the types this plan handles, before any
    /// transaction work starts (so that falling back never leaves anything half done).
    pub(crate) fn accepts(&self, def: &TableDef, params: &[ScalarValue]) -> bool {
        let scalar = |op: &Operand| value_of(op, params).ok();
        let int_ok = |op: &Operand| scalar(op).is_some_and(|v| int_of(&v).is_ok());
        match &self.kind {
            Kind::Point { key, .. } | Kind::Delete { key } => key_of(def, key, params).is_ok(),
            Kind::Update { key, sets } => {
                key_of(def, key, params).is_ok()
                    && sets.iter().all(|(_, a)| match a {
                        Assign::Value(op) => scalar(op).is_some(),
                        Assign::Arith(_, _, op) => int_ok(op),
                    })
            }
            Kind::Range { low, high, .. } => int_ok(low) && int_ok(high),
            Kind::Insert { rows, columns } => {
                // One type per column across the rows (NULLs aside), as a VALUES list has.
                let now = now_value();
                (0..columns.len()).all(|c| {
                    let mut ty: Option<DataType> = None;
                    rows.iter()
                        .all(|r| match insert_value(&r[c], params, &now).ok() {
                            None => false,
                            Some(v) if v.is_null() => true,
                            Some(v) => {
                                let t = v.data_type();
                                let same = ty.as_ref().is_none_or(|x| *x == t);
                                ty = Some(t);
                                same
                            }
                        })
                })
            }
        }
    }

    /// Runs the plan in `txn`. `Err(NotFast)`-free: [`FastPath::accepts`] was checked.
    pub(crate) fn run(
        &self,
        s: &Session,
        def: &TableDef,
        store: &TableStore,
        txn: &Transaction,
        params: &[ScalarValue],
    ) -> SqlResult<Output> {
        let not_fast = |_| SqlError::Internal("fast path given values it did not accept".into());
        match &self.kind {
            Kind::Point { key, columns } => {
                let row = match key_of(def, key, params).map_err(not_fast)? {
                    Some(k) => txn.read(store, &k),
                    None => None,
                };
                self.rows(def, columns, row.as_slice())
            }
            Kind::Range {
                low,
                high,
                projection,
                distinct,
                order,
                ..
            } => {
                let low = int_of(&value_of(low, params).map_err(not_fast)?).map_err(not_fast)?;
                let high = int_of(&value_of(high, params).map_err(not_fast)?).map_err(not_fast)?;
                let rows = match (low, high) {
                    (Some(l), Some(h)) if l <= h => range(store, txn, l, h),
                    _ => Vec::new(),
                };
                match projection {
                    Projection::Sum(c, _) => self.sum(&rows, *c),
                    Projection::Columns(columns) => {
                        let mut rows = rows;
                        if let Some((at, desc)) = order {
                            let c = columns[*at];
                            rows.sort_by(|a, b| {
                                let o = compare(&a[c], &b[c]);
                                if *desc {
                                    o.reverse()
                                } else {
                                    o
                                }
                            });
                            if *distinct {
                                rows.dedup_by(|a, b| columns.iter().all(|&c| a[c] == b[c]));
                            }
                        }
                        self.rows(def, columns, &rows)
                    }
                }
            }
            Kind::Update { key, sets } => {
                let Some(k) = key_of(def, key, params).map_err(not_fast)? else {
                    return Ok(Output::Command("UPDATE 0".into()));
                };
                let Some(old) = txn.read(store, &k) else {
                    return Ok(Output::Command("UPDATE 0".into()));
                };
                let mut row = old.to_vec();
                row.resize(def.columns.len(), Value::Null);
                // As in the general path: every expression is computed, then converted.
                let mut computed = Vec::with_capacity(sets.len());
                for (_, value) in sets {
                    computed.push(match value {
                        Assign::Value(op) => value_of(op, params).map_err(not_fast)?,
                        Assign::Arith(c, op, v) => {
                            let v = value_of(v, params).map_err(not_fast)?;
                            arith(&row[*c], &def.columns[*c].ty, *op, &v).map_err(not_fast)??
                        }
                    });
                }
                let mut new = row.clone();
                for ((target, _), v) in sets.iter().zip(&computed) {
                    new[*target] = stored_value(s, v, def, *target)?;
                }
                crate::dml::check_rows(s, def, std::slice::from_ref(&new))?;
                txn.update(store, def, &k, new.into())?;
                Ok(Output::Command("UPDATE 1".into()))
            }
            Kind::Delete { key } => {
                let Some(k) = key_of(def, key, params).map_err(not_fast)? else {
                    return Ok(Output::Command("DELETE 0".into()));
                };
                if txn.read(store, &k).is_none() {
                    return Ok(Output::Command("DELETE 0".into()));
                }
                txn.delete(store, def, &k)?;
                Ok(Output::Command("DELETE 1".into()))
            }
            Kind::Insert { columns, rows } => {
                // One time for the whole statement, as DataFusion's now() has.
                let now = now_value();
                let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
                for c in 0..columns.len() {
                    let values: Vec<ScalarValue> = rows
                        .iter()
                        .map(|r| insert_value(&r[c], params, &now))
                        .collect::<Result<_, _>>()
                        .map_err(not_fast)?;
                    arrays.push(values_array(values)?);
                }
                let n =
                    crate::dml::insert_arrays(s, txn, store, def, columns, &arrays, rows.len())?;
                Ok(Output::Command(format!("INSERT 0 {n}")))
            }
        }
    }

    fn rows(&self, def: &TableDef, columns: &[usize], rows: &[Row]) -> SqlResult<Output> {
        let schema = self
            .schema
            .clone()
            .ok_or_else(|| SqlError::Internal("fast SELECT without a schema".into()))?;
        let arrays: Vec<ArrayRef> = columns
            .iter()
            .map(|&c| {
                let ty = &def.columns[c].ty;
                let mut b = ColumnBuilder::new(ty, rows.len());
                for r in rows {
                    b.push(r.get(c).unwrap_or(&Value::Null));
                }
                b.finish()
            })
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
        let batch = RecordBatch::try_new_with_options(Arc::clone(&schema), arrays, &options)?;
        Ok(Output::Rows {
            schema,
            batches: vec![batch],
            tag: "SELECT".into(),
        })
    }

    /// SUM over an integer column: bigint, wrapping like DataFusion's sum; NULL when no
    /// non-NULL value.
    fn sum(&self, rows: &[Row], c: usize) -> SqlResult<Output> {
        let schema = self
            .schema
            .clone()
            .ok_or_else(|| SqlError::Internal("fast SUM without a schema".into()))?;
        let total = rows
            .iter()
            .filter_map(|r| r.get(c).and_then(Value::as_i64))
            .fold(None, |acc: Option<i64>, v| {
                Some(acc.unwrap_or(0).wrapping_add(v))
            });
        let array: ArrayRef = Arc::new(Int64Array::from(vec![total]));
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![array])?;
        Ok(Output::Rows {
            schema,
            batches: vec![batch],
            tag: "SELECT".into(),
        })
    }
}

/// Rows with integer keys in `low..=high`, as `txn` sees them, in key order.
fn range(store: &TableStore, txn: &Transaction, low: i64, high: i64) -> Vec<Row> {
    let mut lower_key = Vec::with_capacity(9);
    encode_key_value(&Value::Int64(low), &mut lower_key);
    let mut upper_key = Vec::with_capacity(9);
    encode_key_value(&Value::Int64(high), &mut upper_key);
    let mut out = Vec::new();
    let mut chunk = Vec::new();
    let mut lower: Key = lower_key.into_boxed_slice();
    let mut inclusive = true;
    loop {
        chunk.clear();
        let bound = if inclusive {
            Bound::Included(&lower[..])
        } else {
            Bound::Excluded(&lower[..])
        };
        let resume = txn.scan_from(store, bound, 256, &mut chunk);
        for (k, row) in chunk.drain(..) {
            if k[..] > upper_key[..] {
                return out;
            }
            out.push(row);
        }
        match resume {
            Some(k) if k[..] <= upper_key[..] => {
                lower = k;
                inclusive = false;
            }
            _ => return out,
        }
    }
}

/// Ordering of stored values of one column (NULLs last, as PostgreSQL sorts ascending).
fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Greater,
        (_, Value::Null) => Ordering::Less,
        (Value::Text(x), Value::Text(y)) => x.cmp(y),
        _ => match (a.as_i64(), b.as_i64()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => Ordering::Equal,
        },
    }
}

/// One column of VALUES from scalars of one type (NULLs of any type fit).
fn values_array(values: Vec<ScalarValue>) -> SqlResult<ArrayRef> {
    let ty = values
        .iter()
        .find(|v| !v.is_null())
        .map(ScalarValue::data_type);
    let values: Vec<ScalarValue> = match &ty {
        Some(t) => values
            .into_iter()
            .map(|v| {
                if v.is_null() {
                    ScalarValue::try_from(t)
                } else {
                    Ok(v)
                }
            })
            .collect::<Result<_, _>>()?,
        None => values,
    };
    if values.is_empty() {
        return Err(SqlError::Internal("empty VALUES column".into()));
    }
    Ok(ScalarValue::iter_to_array(values)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::parse_sql;

    fn shape_of(sql: &str) -> Option<Shape> {
        let mut stmts = parse_sql(sql).ok()?;
        shape(&stmts.pop()?)
    }

    #[test]
    fn sysbench_and_pgbench_statements_are_recognised() {
        for sql in [
            "SELECT c FROM sbtest1 WHERE id=$1",
            "SELECT c FROM sbtest1 WHERE id BETWEEN $1 AND $2",
            "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN $1 AND $2",
            "SELECT c FROM sbtest1 WHERE id BETWEEN $1 AND $2 ORDER BY c",
            "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN $1 AND $2 ORDER BY c",
            "UPDATE sbtest1 SET k=k+1 WHERE id=$1",
            "UPDATE sbtest1 SET c=$1 WHERE id=$2",
            "DELETE FROM sbtest1 WHERE id=$1",
            "INSERT INTO sbtest1 (id, k, c, pad) VALUES ($1, $2, $3, $4)",
            "INSERT INTO sbtest1 (k, c, pad) VALUES ($1, $2, $3)",
            "SELECT abalance FROM pgbench_accounts WHERE aid = 12;",
            "UPDATE pgbench_accounts SET abalance = abalance + -4711 WHERE aid = 12;",
            "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 2, 3, 4, NULL);",
            "SELECT a, \"B\" FROM s.t WHERE x = 'k' AND y = 3",
        ] {
            assert!(shape_of(sql).is_some(), "not recognised: {sql}");
        }
    }

    #[test]
    fn other_clauses_are_left_to_the_general_path() {
        for sql in [
            "SELECT c FROM sbtest1 WHERE id=$1 LIMIT 1",
            "SELECT c FROM sbtest1 WHERE id=$1 FOR UPDATE",
            "SELECT c FROM sbtest1 AS t WHERE id=$1",
            "SELECT c FROM sbtest1 WHERE id=$1 GROUP BY c",
            "SELECT c AS x FROM sbtest1 WHERE id=$1",
            "SELECT c FROM sbtest1 WHERE id=$1 OR id=$2",
            "SELECT c FROM sbtest1 WHERE id NOT BETWEEN $1 AND $2",
            "SELECT SUM(DISTINCT k) FROM sbtest1 WHERE id BETWEEN $1 AND $2",
            "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN $1 AND $2",
            "WITH x AS (SELECT 1) SELECT c FROM sbtest1 WHERE id=$1",
            "UPDATE sbtest1 SET k=k*2 WHERE id=$1",
            "UPDATE sbtest1 SET k=1 WHERE id=$1 RETURNING k",
            "UPDATE sbtest1 AS t SET k=1 WHERE id=$1",
            "DELETE FROM sbtest1 WHERE id=$1 RETURNING *",
            "DELETE FROM sbtest1 USING t2 WHERE id=$1",
            "INSERT INTO sbtest1 (id) VALUES ($1) ON CONFLICT DO NOTHING",
            "INSERT INTO sbtest1 (id) VALUES ($1) RETURNING id",
            "INSERT INTO sbtest1 (id) VALUES (DEFAULT)",
            "INSERT INTO sbtest1 (id) SELECT 1",
            "SELECT c FROM sbtest1 WHERE id = 1.5",
            "SELECT c FROM sbtest1 WHERE id = E'1'",
        ] {
            assert!(shape_of(sql).is_none(), "wrongly recognised: {sql}");
        }
    }

    #[test]
    fn negative_literals_and_parameters() {
        let s = shape_of("UPDATE t SET a = a - 5, b = $2 WHERE id = -3").unwrap();
        assert_eq!(
            s.kind,
            Kind::Update {
                key: vec![("id".into(), Operand::Literal(ScalarValue::Int64(Some(-3))))],
                sets: vec![
                    (
                        "a".into(),
                        Assign::Arith(
                            "a".into(),
                            ArithOp::Sub,
                            Operand::Literal(ScalarValue::Int64(Some(5)))
                        )
                    ),
                    ("b".into(), Assign::Value(Operand::Param(1))),
                ],
            }
        );
    }
}
