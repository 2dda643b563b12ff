//! Objects created inside a transaction block (tables, indexes, triggers, views, sequences,
//! functions, domains, operator classes, schemas) go away when the block (or the savepoint
//! before them) is rolled back, and tables dropped inside it come back, as PostgreSQL's
//! transactional DDL has it.
//!
//! Basalt applies DDL to the catalog when the statement runs. A PostgreSQL session records
//! what each DDL statement in a block added — the catalog before and after it, compared —
//! and ROLLBACK or ROLLBACK TO SAVEPOINT removes those objects again, with the rows written
//! into them. A table the statement dropped is recorded with its definition, its store (its
//! rows, which the drop left untouched), the sequences it owned, the foreign keys of other
//! tables and the views that a CASCADE removed with it, and the block's own writes to it; the
//! rollback puts all of them back (`Engine::ddl_restoring` logs the rows again). Other changes to objects
//! that existed before the block (DROP VIEW, DROP FUNCTION, ALTER SEQUENCE …) are not
//! undone; `docs/compatibility.md` says so. A TRUNCATE is undone by putting the table's
//! store as it was back in place, and an ALTER TABLE by putting its definition back (its
//! rows never changed: an added column's values were the block's own writes, which the
//! rollback undoes, and a dropped column's values are still in the rows); an ALTER that
//! rebuilt the table's store (a new primary key) is not undone.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use basalt_common::TableId;
use basalt_storage::catalog::{ForeignKeyDef, SequenceDef, TableDef, ViewDef};
use basalt_storage::table::TableStore;
use basalt_storage::txn::TableWrites;
use basalt_storage::{Catalog, Engine};

use crate::error::{SqlError, SqlResult};

/// A table a statement of the open block dropped, as it was (see the module comment).
pub struct DroppedTable {
    pub def: TableDef,
    pub store: Arc<TableStore>,
    /// The sequences it owned, with the last value each had handed out.
    pub sequences: Vec<(String, SequenceDef, Option<i64>)>,
    /// Foreign keys of other tables that referenced it and went with it (CASCADE).
    pub references: Vec<(TableId, ForeignKeyDef)>,
    /// The block's own writes to it, taken from the transaction by the drop.
    pub writes: Option<TableWrites>,
    /// The views that went with it (CASCADE), by qualified name.
    pub views: Vec<(String, ViewDef)>,
}

/// A [`DroppedTable`] as an entry of the block's list.
#[derive(Clone)]
pub struct Dropped(pub Arc<DroppedTable>);

impl PartialEq for Dropped {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for Dropped {}
impl std::fmt::Debug for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dropped({})", self.0.def.name)
    }
}

/// What the session holds before a DDL statement of a block, to tell afterwards what the
/// statement created and dropped.
pub struct Before {
    pub catalog: Arc<Catalog>,
    /// Every table's store, so that a dropped one can come back.
    pub stores: HashMap<TableId, Arc<TableStore>>,
    /// Every sequence's last value.
    pub sequence_values: HashMap<String, i64>,
}

/// The tables `after` lacks that `before` had, ready to be put back; `writes` holds what
/// the statement took from the transaction (by table).
pub fn dropped_between(
    before: &Before,
    after: &Catalog,
    writes: &mut HashMap<TableId, TableWrites>,
) -> Vec<Created> {
    let mut out = Vec::new();
    for (id, def) in &before.catalog.tables {
        if after.tables.contains_key(id) {
            continue;
        }
        let Some(store) = before.stores.get(id) else {
            continue;
        };
        let sequences = before
            .catalog
            .sequences
            .iter()
            .filter(|(name, seq)| {
                seq.owned_by.is_some_and(|(t, _)| t == *id) && !after.sequences.contains_key(*name)
            })
            .map(|(name, seq)| {
                let value = before.sequence_values.get(name).copied();
                (name.clone(), seq.clone(), value)
            })
            .collect();
        let references = before
            .catalog
            .tables
            .values()
            .filter(|t| t.id != *id)
            .flat_map(|t| {
                let now = after.tables.get(&t.id);
                t.foreign_keys
                    .iter()
                    .filter(move |f| {
                        f.parent == *id
                            && now.is_some_and(|n| !n.foreign_keys.iter().any(|g| g.name == f.name))
                    })
                    .map(move |f| (t.id, f.clone()))
            })
            .collect();
        out.push(Created::Dropped(Dropped(Arc::new(DroppedTable {
            def: def.clone(),
            store: Arc::clone(store),
            sequences,
            references,
            writes: writes.remove(id),
            views: Vec::new(),
        }))));
    }
    // Views the statement dropped go with the first table it dropped (a view alone is
    // dropped by DROP VIEW, which is not undone).
    let views: Vec<(String, ViewDef)> = before
        .catalog
        .views
        .iter()
        .filter(|(name, _)| !after.views.contains_key(*name))
        .map(|(name, v)| (name.clone(), v.clone()))
        .collect();
    if let Some(Created::Dropped(first)) = out.first_mut() {
        if let Some(d) = Arc::get_mut(&mut first.0) {
            d.views = views;
        }
    }
    out
}

/// The tables a TRUNCATE emptied, with their stores as they were before it.
pub fn truncated(
    before: &Before,
    tables: &[TableId],
    writes: &mut HashMap<TableId, TableWrites>,
) -> Vec<Created> {
    tables
        .iter()
        .filter_map(|id| {
            let def = before.catalog.tables.get(id)?;
            let store = before.stores.get(id)?;
            Some(Created::Truncated(Dropped(Arc::new(DroppedTable {
                def: def.clone(),
                store: Arc::clone(store),
                sequences: Vec::new(),
                references: Vec::new(),
                writes: writes.remove(id),
                views: Vec::new(),
            }))))
        })
        .collect()
}

/// The tables the statement changed the definition of, with their definitions before it,
/// where their rows stayed in the same store (`current` gives a table's store now). A change
/// that rebuilt the store (a new primary key) is not listed, and is not undone.
pub fn altered_between(
    before: &Before,
    after: &Catalog,
    current: impl Fn(TableId) -> Option<Arc<TableStore>>,
) -> Vec<Created> {
    let shape = |t: &TableDef| {
        let mut t = t.clone();
        t.version = 0;
        serde_json::to_string(&t).ok()
    };
    let mut out = Vec::new();
    for (id, old) in &before.catalog.tables {
        let Some(new) = after.tables.get(id) else {
            continue;
        };
        let (Some(store), Some(now)) = (before.stores.get(id), current(*id)) else {
            continue;
        };
        if !Arc::ptr_eq(store, &now) || shape(old) == shape(new) {
            continue;
        }
        out.push(Created::Altered(Dropped(Arc::new(DroppedTable {
            def: old.clone(),
            store: Arc::clone(store),
            sequences: Vec::new(),
            references: Vec::new(),
            writes: None,
            views: Vec::new(),
        }))));
    }
    out
}

/// Undoes `created` (oldest first) in the catalog and the stores: [`remove`] through
/// `Engine::ddl_restoring`; the sequences of tables that came back resume where they were
/// (their counters would otherwise restart past the stored rows).
pub async fn undo(engine: &Arc<Engine>, created: &[Created]) -> SqlResult<()> {
    engine
        .ddl_restoring(
            |c: &mut Catalog| Ok::<_, SqlError>(remove(c, created)),
            restored_stores(created),
        )
        .await?;
    let catalog = engine.catalog();
    for c in created {
        let Created::Dropped(d) = c else {
            continue;
        };
        if !catalog.tables.contains_key(&d.0.def.id) {
            continue;
        }
        for (name, _, value) in &d.0.sequences {
            if let Some(v) = value {
                if let Err(e) = engine.setval(name, *v, true) {
                    tracing::warn!("sequence {name} of a restored table: {e}");
                }
            }
        }
    }
    Ok(())
}

/// The stores of the dropped and truncated tables among `created`, for
/// `Engine::ddl_restoring`.
fn restored_stores(created: &[Created]) -> Vec<Arc<TableStore>> {
    created
        .iter()
        .filter_map(|c| match c {
            Created::Dropped(d) | Created::Truncated(d) => Some(Arc::clone(&d.0.store)),
            _ => None,
        })
        .collect()
}

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
    /// A table that existed before the statement and that it dropped: undoing it puts the
    /// table back.
    Dropped(Dropped),
    /// A table the statement truncated: undoing it puts the rows back.
    Truncated(Dropped),
    /// A table whose definition the statement changed (ALTER TABLE and the like) without
    /// replacing its rows' store: undoing it puts the definition back.
    Altered(Dropped),
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
/// sequences their tables own and the foreign keys other tables have to them, and puts
/// dropped tables back. Returns the truncated tables whose rows come back (their stores are
/// replaced: `Engine::ddl_restoring`).
pub fn remove(c: &mut Catalog, created: &[Created]) -> Vec<TableId> {
    let mut refilled = Vec::new();
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
            Created::Dropped(d) => restore(c, &d.0),
            Created::Altered(d) => {
                if let Some(t) = c.tables.get_mut(&d.0.def.id) {
                    // The version moves on (`Engine::ddl`): writes made under the changed
                    // definition cannot commit under this one.
                    let version = t.version;
                    *t = d.0.def.clone();
                    t.version = version;
                }
            }
            Created::Truncated(d) => {
                // Only under the definition the rows were stored under.
                let same = c.tables.get(&d.0.def.id).is_some_and(|t| {
                    t.columns.len() == d.0.def.columns.len() && t.primary_key == d.0.def.primary_key
                });
                if same {
                    refilled.push(d.0.def.id);
                }
            }
        }
    }
    refilled
}

/// Puts a dropped table back into the catalog, unless its name has been taken since (by
/// another session: what the block itself created later is removed before this runs).
fn restore(c: &mut Catalog, d: &DroppedTable) {
    let taken = c
        .tables
        .values()
        .any(|t| t.schema == d.def.schema && t.name == d.def.name)
        || c.tables.contains_key(&d.def.id);
    if taken {
        tracing::warn!(
            "table {}.{} dropped in a rolled-back block was not restored: the name is taken",
            d.def.schema,
            d.def.name
        );
        return;
    }
    c.tables.insert(d.def.id, d.def.clone());
    for (name, seq, _) in &d.sequences {
        c.sequences
            .entry(name.clone())
            .or_insert_with(|| seq.clone());
    }
    for (name, view) in &d.views {
        c.views.entry(name.clone()).or_insert_with(|| view.clone());
    }
    for (table, fk) in &d.references {
        if let Some(t) = c.tables.get_mut(table) {
            if !t.foreign_keys.iter().any(|f| f.name == fk.name) {
                t.foreign_keys.push(fk.clone());
            }
        }
    }
}
