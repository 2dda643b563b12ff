//! Triggers: `CREATE TRIGGER … {BEFORE | AFTER} {INSERT | UPDATE | DELETE} [OR …] ON t
//! [FOR EACH {ROW | STATEMENT}] EXECUTE {FUNCTION | PROCEDURE} f()`, with `f` a PL/pgSQL
//! function returning `trigger` ([`crate::plpgsql`]).
//!
//! As in PostgreSQL: BEFORE ROW triggers run for each row before it is written and may
//! change it (`NEW`) or skip it (`RETURN NULL`); AFTER ROW triggers run once the statement
//! has written all its rows; statement triggers run once, before or after. Triggers of one
//! kind fire in the order of their names. A row trigger on a partitioned table fires for
//! the rows of its partitions; a statement trigger fires on the table the statement names.
//! A `WHEN (…)` condition, which may read `NEW` and `OLD`, chooses the rows a trigger fires
//! for. `UPDATE OF columns`, transition tables (`REFERENCING`), `INSTEAD OF` and `TRUNCATE`
//! triggers are refused with 0A000.

use basalt_common::Value;
use basalt_storage::catalog::{Catalog, FunctionDef};
use basalt_storage::{TableDef, TriggerDef};
use datafusion::sql::sqlparser::ast::{
    CreateTrigger, DropTrigger, TriggerEvent, TriggerObject, TriggerObjectKind, TriggerPeriod,
};

use crate::error::{SqlError, SqlResult};
use crate::plpgsql::TriggerCall;
use crate::session::{Output, Session};

/// An AFTER ROW event waiting for the end of its statement.
pub struct Queued {
    table: TableDef,
    op: &'static str,
    new: Option<Vec<Value>>,
    old: Option<Vec<Value>>,
}

fn event_name(e: &TriggerEvent) -> SqlResult<&'static str> {
    match e {
        TriggerEvent::Insert => Ok("INSERT"),
        TriggerEvent::Update(cols) if cols.is_empty() => Ok("UPDATE"),
        TriggerEvent::Update(_) => Err(SqlError::unsupported(
            "UPDATE OF column triggers are not supported",
        )),
        TriggerEvent::Delete => Ok("DELETE"),
        TriggerEvent::Truncate => Err(SqlError::unsupported("TRUNCATE triggers are not supported")),
    }
}

/// The trigger functions of `name` (qualified or not) that return `trigger`.
fn trigger_function<'c>(
    catalog: &'c Catalog,
    key: &str,
    shown: &str,
) -> SqlResult<&'c FunctionDef> {
    let overloads = catalog.functions.get(key).map(Vec::as_slice).unwrap_or(&[]);
    let Some(f) = overloads.iter().find(|f| f.args.is_empty()) else {
        return Err(SqlError::UndefinedFunction(format!(
            "function {shown}() does not exist"
        )));
    };
    if !f.returns.eq_ignore_ascii_case("trigger") {
        return Err(SqlError::Detailed {
            sqlstate: "42P17",
            message: format!("function {shown} must return type trigger"),
            detail: String::new(),
            hint: None,
        });
    }
    Ok(f)
}

pub async fn create_trigger(s: &mut Session, ct: CreateTrigger) -> SqlResult<Output> {
    let before = match ct.period {
        Some(TriggerPeriod::Before) => true,
        Some(TriggerPeriod::After) => false,
        _ => {
            return Err(SqlError::unsupported(
                "INSTEAD OF triggers are not supported",
            ))
        }
    };
    if ct.is_constraint {
        return Err(SqlError::unsupported(
            "constraint triggers are not supported",
        ));
    }
    if !ct.referencing.is_empty() {
        return Err(SqlError::unsupported(
            "transition tables (REFERENCING … TABLE AS) are not supported",
        ));
    }
    let for_each_row = matches!(
        ct.trigger_object,
        Some(
            TriggerObjectKind::For(TriggerObject::Row)
                | TriggerObjectKind::ForEach(TriggerObject::Row)
        )
    );
    let mut events = Vec::new();
    for e in &ct.events {
        let name = event_name(e)?;
        if !events.contains(&name.to_owned()) {
            events.push(name.to_owned());
        }
    }
    let Some(body) = &ct.exec_body else {
        return Err(SqlError::unsupported(
            "triggers run a function: EXECUTE FUNCTION f()",
        ));
    };
    if body.func_desc.args.as_ref().is_some_and(|a| !a.is_empty()) {
        return Err(SqlError::unsupported(
            "trigger function arguments are not supported",
        ));
    }
    let default_schema = s.default_schema();
    let (fschema, fname) = crate::ddl::qualified(&body.func_desc.name, default_schema.as_deref())?;
    let function = format!("{fschema}.{fname}");
    let name = crate::session::object_name_parts(&ct.name)
        .pop()
        .unwrap_or_default();
    let catalog = s.engine().catalog();
    trigger_function(&catalog, &function, &fname)?;
    let table = crate::ddl::resolve_table(&catalog, &ct.table_name, default_schema.as_deref())?;
    let table_id = table.id;
    let or_replace = ct.or_replace;
    let def = TriggerDef {
        name: name.clone(),
        before,
        events,
        for_each_row,
        function,
        args: Vec::new(),
        when: ct.condition.as_ref().map(|c| c.to_string()),
    };
    s.engine()
        .ddl(|c: &mut Catalog| {
            let t = c
                .tables
                .get_mut(&table_id)
                .ok_or_else(|| SqlError::UndefinedTable(table.name.clone()))?;
            match t.triggers.iter().position(|x| x.name == name) {
                Some(i) if or_replace => t.triggers[i] = def,
                Some(_) => {
                    return Err(SqlError::Detailed {
                        sqlstate: "42710",
                        message: format!(
                            "trigger \"{name}\" for relation \"{}\" already exists",
                            t.name
                        ),
                        detail: String::new(),
                        hint: None,
                    })
                }
                None => t.triggers.push(def),
            }
            Ok::<_, SqlError>(vec![])
        })
        .await?;
    Ok(Output::Command("CREATE TRIGGER".into()))
}

pub async fn drop_trigger(s: &mut Session, dt: DropTrigger) -> SqlResult<Output> {
    let name = crate::session::object_name_parts(&dt.trigger_name)
        .pop()
        .unwrap_or_default();
    let Some(table_name) = &dt.table_name else {
        return Err(SqlError::Syntax {
            message: "DROP TRIGGER needs ON table".into(),
            position: None,
        });
    };
    let catalog = s.engine().catalog();
    let table = match crate::ddl::resolve_table(&catalog, table_name, s.default_schema().as_deref())
    {
        Ok(t) => t,
        Err(e) if dt.if_exists => {
            let _ = e;
            s.notice(
                "NOTICE",
                "00000",
                format!(
                    "relation \"{}\" does not exist, skipping",
                    crate::session::object_name_parts(table_name)
                        .pop()
                        .unwrap_or_default()
                ),
            );
            return Ok(Output::Command("DROP TRIGGER".into()));
        }
        Err(e) => return Err(e),
    };
    if !table.triggers.iter().any(|t| t.name == name) {
        if dt.if_exists {
            s.notice(
                "NOTICE",
                "00000",
                format!(
                    "trigger \"{name}\" for relation \"{}\" does not exist, skipping",
                    table.name
                ),
            );
            return Ok(Output::Command("DROP TRIGGER".into()));
        }
        return Err(SqlError::Detailed {
            sqlstate: "42704",
            message: format!(
                "trigger \"{name}\" for table \"{}\" does not exist",
                table.name
            ),
            detail: String::new(),
            hint: None,
        });
    }
    let table_id = table.id;
    s.engine()
        .ddl(|c: &mut Catalog| {
            if let Some(t) = c.tables.get_mut(&table_id) {
                t.triggers.retain(|x| x.name != name);
            }
            Ok::<_, SqlError>(vec![])
        })
        .await?;
    Ok(Output::Command("DROP TRIGGER".into()))
}

/// The triggers on the tables (qualified names) that run `function`, for DROP FUNCTION.
pub fn users_of(catalog: &Catalog, function: &str) -> Vec<(String, String)> {
    catalog
        .tables
        .values()
        .flat_map(|t| {
            t.triggers
                .iter()
                .filter(|x| x.function == function)
                .map(|x| (x.name.clone(), t.name.clone()))
        })
        .collect()
}

/// The triggers of `def` and, for row triggers, of the partitioned tables above it, that
/// fire for `op` at that time, in name order.
fn matching(
    catalog: &Catalog,
    def: &TableDef,
    op: &str,
    before: bool,
    row: bool,
) -> Vec<TriggerDef> {
    let mut out: Vec<TriggerDef> = Vec::new();
    let mut table = Some(def.clone());
    while let Some(t) = table {
        out.extend(
            t.triggers
                .iter()
                .filter(|x| {
                    x.before == before && x.for_each_row == row && x.events.iter().any(|e| e == op)
                })
                .cloned(),
        );
        table = match (&t.partition_of, row) {
            (Some(p), true) => catalog.tables.get(&p.parent).cloned(),
            _ => None,
        };
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Whether `def` (or a partitioned table above it) has row triggers for `op` at that time;
/// cheap when it has none, as for most writes.
pub fn has_row_triggers(s: &Session, def: &TableDef, op: &str, before: bool) -> bool {
    let fires = |t: &TableDef| {
        t.triggers
            .iter()
            .any(|x| x.before == before && x.for_each_row && x.events.iter().any(|e| e == op))
    };
    if fires(def) {
        return true;
    }
    let Some(of) = &def.partition_of else {
        return false;
    };
    let catalog = s.engine().catalog();
    let mut parent = catalog.tables.get(&of.parent);
    while let Some(t) = parent {
        if fires(t) {
            return true;
        }
        parent = t
            .partition_of
            .as_ref()
            .and_then(|p| catalog.tables.get(&p.parent));
    }
    false
}

fn run(
    s: &Session,
    catalog: &Catalog,
    t: &TriggerDef,
    def: &TableDef,
    op: &'static str,
    new: Option<Vec<Value>>,
    old: Option<Vec<Value>>,
) -> SqlResult<crate::plpgsql::Returned> {
    let shown = t.function.rsplit('.').next().unwrap_or(&t.function);
    let f = trigger_function(catalog, &t.function, shown)?;
    let body = crate::plpgsql::parse(&f.body)?;
    crate::plpgsql::run_trigger(s, &body, call(t, def, op, new, old))
}

/// The call of trigger `t`'s function on `def` for `op`, with its rows.
fn call<'a>(
    t: &'a TriggerDef,
    def: &'a TableDef,
    op: &'static str,
    new: Option<Vec<Value>>,
    old: Option<Vec<Value>>,
) -> TriggerCall<'a> {
    TriggerCall {
        name: &t.name,
        when: if t.before { "BEFORE" } else { "AFTER" },
        level: if t.for_each_row { "ROW" } else { "STATEMENT" },
        op,
        table: def,
        args: &t.args,
        new,
        old,
    }
}

/// Whether a trigger's `WHEN` condition (if any) holds for the rows.
fn condition_holds(
    s: &Session,
    t: &TriggerDef,
    def: &TableDef,
    op: &'static str,
    new: &Option<Vec<Value>>,
    old: &Option<Vec<Value>>,
) -> SqlResult<bool> {
    let Some(condition) = &t.when else {
        return Ok(true);
    };
    crate::plpgsql::trigger_condition(s, call(t, def, op, new.clone(), old.clone()), condition)
}

/// Runs the BEFORE ROW triggers for one row: the row to write (for DELETE, `old` itself
/// when the delete goes ahead), or `None` when a trigger skipped it.
pub fn before_row(
    s: &Session,
    def: &TableDef,
    op: &'static str,
    new: Option<Vec<Value>>,
    old: Option<Vec<Value>>,
) -> SqlResult<Option<Vec<Value>>> {
    let catalog = s.engine().catalog();
    let triggers = matching(&catalog, def, op, true, true);
    let mut current = if op == "DELETE" { old.clone() } else { new };
    for t in &triggers {
        let (n, o) = if op == "DELETE" {
            (None, current.clone())
        } else {
            (current.clone(), old.clone())
        };
        if !condition_holds(s, t, def, op, &n, &o)? {
            continue;
        }
        match run(s, &catalog, t, def, op, n, o)? {
            Some(mut row) => {
                row.resize(def.columns.len(), Value::Null);
                current = Some(if op == "DELETE" {
                    old.clone().unwrap_or(row)
                } else {
                    row
                });
            }
            None => return Ok(None),
        }
    }
    Ok(current)
}

/// Queues the AFTER ROW triggers of a written row, run when the statement ends.
pub fn after_row(
    s: &Session,
    def: &TableDef,
    op: &'static str,
    new: Option<Vec<Value>>,
    old: Option<Vec<Value>>,
) {
    if has_row_triggers(s, def, op, false) {
        s.after_rows.lock().push(Queued {
            table: def.clone(),
            op,
            new,
            old,
        });
    }
}

/// Runs the queued AFTER ROW triggers.
pub fn run_queued(s: &Session) -> SqlResult<()> {
    let queued = std::mem::take(&mut *s.after_rows.lock());
    if queued.is_empty() {
        return Ok(());
    }
    let catalog = s.engine().catalog();
    for q in queued {
        for t in matching(&catalog, &q.table, q.op, false, true) {
            if !condition_holds(s, &t, &q.table, q.op, &q.new, &q.old)? {
                continue;
            }
            run(
                s,
                &catalog,
                &t,
                &q.table,
                q.op,
                q.new.clone(),
                q.old.clone(),
            )?;
        }
    }
    Ok(())
}

/// Runs the statement triggers of `def` for `op`, before or after.
pub fn statement(s: &Session, def: &TableDef, op: &'static str, before: bool) -> SqlResult<()> {
    if def.triggers.is_empty() {
        return Ok(());
    }
    let catalog = s.engine().catalog();
    for t in matching(&catalog, def, op, before, false) {
        if !condition_holds(s, &t, def, op, &None, &None)? {
            continue;
        }
        run(s, &catalog, &t, def, op, None, None)?;
    }
    Ok(())
}
