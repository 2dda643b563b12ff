//! Objects created inside a transaction block (tables, indexes, triggers, views, sequences,
//! functions, domains, operator classes, schemas) go away when the block (or the savepoint
//! before them) is rolled back, as PostgreSQL's transactional DDL has it.
//!
//! Basalt applies DDL to the catalog when the statement runs. A PostgreSQL session records
//! what each CREATE statement in a block added — the catalog before and after it, compared —
//! and ROLLBACK or ROLLBACK TO SAVEPOINT removes those objects again, with the rows written
//! into them. Changes to objects that existed before the block (DROP, ALTER) are not
//! undone; `docs/compatibility.md` says so.

use std::collections::BTreeSet;

use basalt_common::TableId;
use basalt_storage::Catalog;

/// One object a statement in the open block added to the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    Table(TableId),
    /// An index on a table that existed before the statement.
    Index(TableId, String),
    /// A trigger on a table that existed before the statement.
    Trigger(TableId, String),
    /// A view, by qualified name.
    View(String),
    /// A sequence not owned by a new table, by qualified name.
    Sequence(String),
    /// A function overload: qualified name and argument types.
    Function(String, Vec<String>),
    /// A domain, by its catalog key.
    Domain(String),
    /// An operator class, by its catalog key.
    OpClass(String),
    /// A schema (the session's temporary schema is never listed: it outlives blocks).
    Schema(String),
}

/// What `after` has that `before` did not.
pub fn created_between(before: &Catalog, after: &Catalog) -> Vec<Created> {
    let mut out = Vec::new();
    for name in after.schemas.keys() {
        if !before.schemas.contains_key(name) && !name.starts_with("pg_temp_") {
            out.push(Created::Schema(name.clone()));
        }
    }
    for (id, t) in &after.tables {
        match before.tables.get(id) {
            None => out.push(Created::Table(*id)),
            Some(old) => {
                let had: BTreeSet<&str> = old.indexes.iter().map(|i| i.name.as_str()).collect();
                for i in &t.indexes {
                    if !had.contains(i.name.as_str()) {
                        out.push(Created::Index(*id, i.name.clone()));
                    }
                }
                for x in &t.triggers {
                    if !old.triggers.iter().any(|o| o.name == x.name) {
                        out.push(Created::Trigger(*id, x.name.clone()));
                    }
                }
            }
        }
    }
    for (name, seq) in &after.sequences {
        let owned_by_new = seq
            .owned_by
            .is_some_and(|(t, _)| !before.tables.contains_key(&t));
        if !before.sequences.contains_key(name) && !owned_by_new {
            out.push(Created::Sequence(name.clone()));
        }
    }
    for name in after.views.keys() {
        if !before.views.contains_key(name) {
            out.push(Created::View(name.clone()));
        }
    }
    for name in after.domains.keys() {
        if !before.domains.contains_key(name) {
            out.push(Created::Domain(name.clone()));
        }
    }
    for name in after.opclasses.keys() {
        if !before.opclasses.contains_key(name) {
            out.push(Created::OpClass(name.clone()));
        }
    }
    for (name, overloads) in &after.functions {
        for f in overloads {
            let args = f.arg_types();
            let existed = before
                .functions
                .get(name)
                .is_some_and(|old| old.iter().any(|o| o.arg_types() == args));
            if !existed {
                out.push(Created::Function(name.clone(), args));
            }
        }
    }
    out
}

/// Removes the objects from the catalog (those already dropped again are skipped), with the
/// sequences their tables own and the foreign keys other tables have to them.
pub fn remove(c: &mut Catalog, created: &[Created]) {
    for object in created.iter().rev() {
        match object {
            Created::Table(id) => {
                c.tables.remove(id);
                c.sequences
                    .retain(|_, seq| seq.owned_by.is_none_or(|(t, _)| t != *id));
                for t in c.tables.values_mut() {
                    t.foreign_keys.retain(|f| f.parent != *id);
                }
            }
            Created::Index(table, name) => {
                if let Some(t) = c.tables.get_mut(table) {
                    t.indexes.retain(|i| i.name != *name);
                }
            }
            Created::Trigger(table, name) => {
                if let Some(t) = c.tables.get_mut(table) {
                    t.triggers.retain(|x| x.name != *name);
                }
            }
            Created::View(name) => {
                c.views.remove(name);
            }
            Created::Sequence(name) => {
                c.sequences.remove(name);
            }
            Created::Function(name, args) => {
                if let Some(overloads) = c.functions.get_mut(name) {
                    overloads.retain(|f| f.arg_types() != *args);
                    if overloads.is_empty() {
                        c.functions.remove(name);
                    }
                }
            }
            Created::Domain(name) => {
                c.domains.remove(name);
            }
            Created::OpClass(name) => {
                c.opclasses.remove(name);
            }
            Created::Schema(name) => crate::temp::remove_schema(c, name),
        }
    }
}
