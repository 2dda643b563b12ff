//! The durable catalog: schemas, tables, columns, constraints, indexes and sequences.
//!
//! The catalog is a value: every DDL statement produces a new `Catalog`, logged whole in the
//! WAL and written into each checkpoint manifest, and readers hold an `Arc` of the version
//! they planned with. Columns keep their physical position for the life of the table (a
//! dropped column leaves a hole, as in PostgreSQL), so stored rows never need rewriting when
//! columns are dropped or renamed.

use std::collections::BTreeMap;

use basalt_common::{IndexId, SqlType, TableId};
use serde::{Deserialize, Serialize};

use crate::StorageError;

/// Schemas that exist in every database and cannot be dropped.
pub const DEFAULT_SCHEMA: &str = "public";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Catalog {
    pub schemas: BTreeMap<String, SchemaDef>,
    pub tables: BTreeMap<TableId, TableDef>,
    pub sequences: BTreeMap<String, SequenceDef>,
    /// Views by qualified name `schema.name`.
    #[serde(default)]
    pub views: BTreeMap<String, ViewDef>,
    /// User SQL functions by qualified name `schema.name`, each name with its overloads.
    #[serde(default)]
    pub functions: BTreeMap<String, Vec<FunctionDef>>,
    /// Domains (`CREATE DOMAIN`) by qualified name `schema.name`.
    #[serde(default)]
    pub domains: BTreeMap<String, DomainDef>,
    /// Operator classes (`CREATE OPERATOR CLASS`) by qualified name `schema.name`.
    #[serde(default)]
    pub opclasses: BTreeMap<String, OpClassDef>,
    /// `COMMENT ON CONSTRAINT` of table constraints, keyed by [`constraint_comment_key`].
    #[serde(default)]
    pub constraint_comments: BTreeMap<String, String>,
    pub next_table_id: u32,
    pub next_index_id: u32,
    /// Object ids handed to PostgreSQL catalogs (pg_class.oid etc.).
    pub next_oid: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SchemaDef {
    pub name: String,
    pub oid: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableDef {
    pub id: TableId,
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// Physical column order; dropped columns stay as holes.
    pub columns: Vec<ColumnDef>,
    /// Physical positions of the primary-key columns; `None` means rows are keyed by a hidden
    /// row id.
    pub primary_key: Option<Vec<usize>>,
    pub primary_key_name: Option<String>,
    pub indexes: Vec<IndexDef>,
    pub checks: Vec<CheckDef>,
    /// Bumped by every DDL change to the table (ALTER, CREATE/DROP INDEX, TRUNCATE): a
    /// transaction that wrote rows under an older definition cannot commit them.
    #[serde(default)]
    pub version: u64,
    /// Loaded into the column engine (`ALTER TABLE … SET (columnar = on)`, MySQL
    /// `SECONDARY_LOAD`): rebuilt from the rows at start-up.
    #[serde(default)]
    pub columnar: bool,
    /// FOREIGN KEY constraints of this table (it is the referencing side).
    #[serde(default)]
    pub foreign_keys: Vec<ForeignKeyDef>,
    /// `PARTITION BY`: the table is partitioned; its rows live in its partitions, and it
    /// holds none itself.
    #[serde(default)]
    pub partition_key: Option<PartitionKey>,
    /// `PARTITION OF`: the partitioned table this table is a partition of, and which of its
    /// rows this partition holds.
    #[serde(default)]
    pub partition_of: Option<PartitionOf>,
    /// `INHERITS (…)`: the tables this one inherits columns from; their scans include its
    /// rows.
    #[serde(default)]
    pub inherits: Vec<TableId>,
    /// PostgreSQL storage parameters (`WITH (fillfactor = 70)`, `ALTER TABLE … SET (…)`) as
    /// `name=value`, shown in `pg_class.reloptions`. They tune PostgreSQL's heap, TOAST,
    /// vacuum and parallel plans, which Basalt's storage does not have: kept, not applied.
    #[serde(default)]
    pub reloptions: Vec<String>,
    /// `CREATE TRIGGER`s on the table, in creation order (they fire in name order).
    #[serde(default)]
    pub triggers: Vec<TriggerDef>,
}

/// A trigger: a PL/pgSQL function run before or after rows of a table are written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerDef {
    pub name: String,
    /// `BEFORE` (else `AFTER`).
    pub before: bool,
    /// The events it fires on: `INSERT`, `UPDATE`, `DELETE`.
    pub events: Vec<String>,
    /// `FOR EACH ROW` (else once per statement).
    pub for_each_row: bool,
    /// The function, qualified (`schema.name`).
    pub function: String,
    /// The arguments written in `EXECUTE FUNCTION f('a', …)`: `TG_ARGV`.
    pub args: Vec<String>,
    /// `WHEN (condition)`: a row trigger fires only for the rows it holds for (SQL text,
    /// reading `NEW` and `OLD`).
    #[serde(default)]
    pub when: Option<String>,
}

/// How a partitioned table divides its rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionKey {
    pub strategy: PartitionStrategy,
    /// The key's columns and expressions as SQL text over the table's column names.
    pub exprs: Vec<String>,
    /// The operator class named for each key column (`schema.name`), where one was.
    #[serde(default)]
    pub opclasses: Vec<Option<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartitionStrategy {
    List,
    Range,
    Hash,
}

impl PartitionStrategy {
    pub fn sql(self) -> &'static str {
        match self {
            PartitionStrategy::List => "LIST",
            PartitionStrategy::Range => "RANGE",
            PartitionStrategy::Hash => "HASH",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionOf {
    pub parent: TableId,
    pub bound: PartitionBound,
}

/// The rows of its parent a partition holds. Bound values are SQL literals as written
/// (`'a'`, `10`, `NULL`); a range bound may also be `MINVALUE` or `MAXVALUE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartitionBound {
    /// Every row no other partition holds.
    Default,
    List(Vec<String>),
    /// From `from` (inclusive) to `to` (exclusive), compared as rows.
    Range {
        from: Vec<String>,
        to: Vec<String>,
    },
    Hash {
        modulus: u64,
        remainder: u64,
    },
}

/// A FOREIGN KEY constraint: `columns` of its table reference `parent_columns` of `parent`,
/// which are the parent's primary key or one of its unique constraints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKeyDef {
    pub name: String,
    pub oid: u32,
    /// Physical positions in the referencing table.
    pub columns: Vec<usize>,
    pub parent: TableId,
    /// Physical positions in the referenced table, in the order of `columns`.
    pub parent_columns: Vec<usize>,
    pub on_delete: ReferentialAction,
    pub on_update: ReferentialAction,
    /// MATCH FULL: a key is either all NULL or all non-NULL (MATCH SIMPLE skips a key with
    /// any NULL).
    pub match_full: bool,
    /// DEFERRABLE INITIALLY DEFERRED: checked at COMMIT rather than at the end of each
    /// statement.
    pub deferred: bool,
    pub deferrable: bool,
}

/// What a change to a referenced key does to the rows that reference it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReferentialAction {
    NoAction,
    Restrict,
    Cascade,
    SetNull,
    SetDefault,
}

impl ReferentialAction {
    pub fn sql(self) -> &'static str {
        match self {
            ReferentialAction::NoAction => "NO ACTION",
            ReferentialAction::Restrict => "RESTRICT",
            ReferentialAction::Cascade => "CASCADE",
            ReferentialAction::SetNull => "SET NULL",
            ReferentialAction::SetDefault => "SET DEFAULT",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColumnDef {
    pub name: String,
    pub ty: SqlType,
    pub nullable: bool,
    /// The DEFAULT expression as SQL text (e.g. `nextval('public.t_id_seq')`).
    pub default: Option<String>,
    /// `GENERATED ALWAYS AS IDENTITY`: explicit values are refused.
    pub identity_always: bool,
    pub dropped: bool,
    /// The type as declared through MySQL when it says more than the stored type
    /// (`tinyint unsigned`, `year`, `enum('a','b')`): shown by SHOW COLUMNS and sent to MySQL
    /// clients, with its value range or allowed values enforced on writes.
    #[serde(default)]
    pub mysql_type: Option<String>,
    /// `ALTER COLUMN … SET STORAGE`: PostgreSQL's TOAST strategy (`p`, `e`, `m`, `x`), kept
    /// for `pg_attribute.attstorage` (`None`: the type's default). Basalt stores values
    /// whole either way.
    #[serde(default)]
    pub storage: Option<char>,
    /// The domain (qualified `schema.name`) the column was declared with; `ty` is its base
    /// type, and the domain's NOT NULL and CHECK constraints apply to the column's values.
    #[serde(default)]
    pub domain: Option<String>,
    /// The fractional-seconds precision declared with `timestamp(p)`, `timestamptz(p)` or
    /// `time(p)`: stored values are rounded to it.
    #[serde(default)]
    pub precision: Option<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexDef {
    pub id: IndexId,
    pub oid: u32,
    pub name: String,
    /// Physical positions of the indexed columns.
    pub columns: Vec<usize>,
    pub unique: bool,
    /// Whether this index implements a UNIQUE constraint (vs. CREATE UNIQUE INDEX).
    pub constraint: bool,
    /// `DEFERRABLE`: uniqueness is checked at the end of each statement instead of row by
    /// row, or only at COMMIT while the constraint is deferred (`INITIALLY DEFERRED`, `SET
    /// CONSTRAINTS … DEFERRED`).
    #[serde(default)]
    pub deferrable: bool,
    #[serde(default)]
    pub initially_deferred: bool,
    /// `NULLS NOT DISTINCT`: keys holding NULLs collide like any others.
    #[serde(default)]
    pub nulls_not_distinct: bool,
    /// An exclusion constraint whose operators are all `=` (`EXCLUDE (a WITH =)`): a unique
    /// constraint with PostgreSQL's exclusion-constraint errors.
    #[serde(default)]
    pub exclusion: bool,
}

impl IndexDef {
    /// A plain index over `columns` (not unique, not deferrable).
    pub fn new(id: IndexId, oid: u32, name: String, columns: Vec<usize>) -> IndexDef {
        IndexDef {
            id,
            oid,
            name,
            columns,
            unique: false,
            constraint: false,
            deferrable: false,
            initially_deferred: false,
            nulls_not_distinct: false,
            exclusion: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckDef {
    pub name: String,
    /// The CHECK expression as SQL text over the table's column names.
    pub expr: String,
    /// `NO INHERIT`: tables created with `INHERITS` this table do not take it.
    #[serde(default)]
    pub no_inherit: bool,
}

/// An operator class of a user's: for the `hash` method, the support function 2 (the
/// extended hash, `f(value, seed int8) RETURNS int8`) hash partitioning calls.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpClassDef {
    pub schema: String,
    pub name: String,
    pub oid: u32,
    /// The access method (`hash`, `btree`).
    pub method: String,
    /// The type it is for, as PostgreSQL names it (`integer`).
    pub for_type: String,
    /// The support functions: number, the function's qualified name and argument types.
    pub functions: Vec<OpClassFunction>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpClassFunction {
    pub number: u64,
    pub schema: String,
    pub name: String,
    pub arg_types: Vec<String>,
}

/// A domain: a base type with an optional default, NOT NULL and named CHECK constraints
/// over `VALUE`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DomainDef {
    pub schema: String,
    pub name: String,
    pub oid: u32,
    pub base: SqlType,
    pub not_null: bool,
    /// The DEFAULT expression as SQL text.
    pub default: Option<String>,
    /// In creation order; checked in name order, as PostgreSQL does.
    pub checks: Vec<DomainCheckDef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DomainCheckDef {
    pub name: String,
    /// The CHECK expression as SQL text over `value`.
    pub expr: String,
    /// `NOT VALID`: not checked against existing columns when added.
    pub not_valid: bool,
    /// `COMMENT ON CONSTRAINT … ON DOMAIN`.
    pub comment: Option<String>,
}

/// The key of a table constraint's comment in [`Catalog::constraint_comments`]: the table's
/// object id (never reused) and the constraint's name.
pub fn constraint_comment_key(table_oid: u32, constraint: &str) -> String {
    format!("{table_oid}/{constraint}")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SequenceDef {
    /// Qualified name `schema.name`.
    pub name: String,
    pub oid: u32,
    pub start: i64,
    pub increment: i64,
    /// The table and column whose default draws from this sequence (SERIAL / IDENTITY).
    pub owned_by: Option<(TableId, usize)>,
    /// MINVALUE and MAXVALUE (`None`: the default bound for the direction of `increment`).
    #[serde(default)]
    pub min: Option<i64>,
    #[serde(default)]
    pub max: Option<i64>,
    /// CYCLE: past a bound, start again at the other.
    #[serde(default)]
    pub cycle: bool,
    /// A sequence no column owns cannot be recovered from stored values: values up to this
    /// one are handed out only after it is logged (recovery resumes past it).
    #[serde(default)]
    pub reserved: Option<i64>,
}

impl SequenceDef {
    /// The sequence's lowest and highest values.
    pub fn bounds(&self) -> (i64, i64) {
        let ascending = self.increment > 0;
        (
            self.min.unwrap_or(if ascending { 1 } else { i64::MIN }),
            self.max.unwrap_or(if ascending { i64::MAX } else { -1 }),
        )
    }
}

/// A view: its query kept as SQL text, planned again wherever the view is read (so it sees
/// the columns and rows of its tables at that moment, as in PostgreSQL).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ViewDef {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// Column names given with `CREATE VIEW v (a, b)`; empty: the query's own names.
    pub columns: Vec<String>,
    /// The defining query (`SELECT …`).
    pub query: String,
    /// The SQL dialect the query is written in: "postgres" or "mysql".
    #[serde(default)]
    pub dialect: String,
}

/// A function created with `CREATE FUNCTION … LANGUAGE sql`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionDef {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub args: Vec<FunctionArgDef>,
    /// The declared result type, as written (`integer`, `numeric(10, 2)`).
    pub returns: String,
    /// `RETURNS SETOF …`: rows, called in FROM.
    pub returns_set: bool,
    /// The body: one query, with `$n` or the parameters' names.
    pub body: String,
    /// STRICT: NULL when an argument is NULL.
    pub strict: bool,
    pub volatile: bool,
    /// STABLE (not volatile, yet not IMMUTABLE either): shown in the catalogs.
    #[serde(default)]
    pub stable: bool,
    /// `plpgsql` for a function written in PL/pgSQL (its body is then the PL/pgSQL
    /// source); `None` for LANGUAGE sql.
    #[serde(default)]
    pub language: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionArgDef {
    pub name: Option<String>,
    /// The declared type as written, for casts.
    pub ty: String,
    /// PostgreSQL's name of the type (`integer`), which tells overloads apart.
    pub type_name: String,
    /// `DEFAULT expr`, as SQL text.
    pub default: Option<String>,
}

impl FunctionDef {
    pub fn arg_types(&self) -> Vec<String> {
        self.args.iter().map(|a| a.type_name.clone()).collect()
    }
}

impl Default for Catalog {
    fn default() -> Self {
        let mut c = Catalog {
            schemas: BTreeMap::new(),
            tables: BTreeMap::new(),
            sequences: BTreeMap::new(),
            views: BTreeMap::new(),
            functions: BTreeMap::new(),
            domains: BTreeMap::new(),
            opclasses: BTreeMap::new(),
            constraint_comments: BTreeMap::new(),
            next_table_id: 1,
            next_index_id: 1,
            next_oid: 16384, // PostgreSQL's FirstNormalObjectId
        };
        let oid = c.allocate_oid();
        c.schemas.insert(
            DEFAULT_SCHEMA.into(),
            SchemaDef {
                name: DEFAULT_SCHEMA.into(),
                oid,
            },
        );
        c
    }
}

impl Catalog {
    pub fn allocate_oid(&mut self) -> u32 {
        let oid = self.next_oid;
        self.next_oid += 1;
        oid
    }

    pub fn allocate_table_id(&mut self) -> TableId {
        let id = TableId(self.next_table_id);
        self.next_table_id += 1;
        id
    }

    pub fn allocate_index_id(&mut self) -> IndexId {
        let id = IndexId(self.next_index_id);
        self.next_index_id += 1;
        id
    }

    pub fn table_by_name(&self, schema: &str, name: &str) -> Option<&TableDef> {
        self.tables
            .values()
            .find(|t| t.schema == schema && t.name == name)
    }

    pub fn table(&self, id: TableId) -> Result<&TableDef, StorageError> {
        self.tables.get(&id).ok_or(StorageError::TableDropped(id))
    }

    pub fn table_mut(&mut self, id: TableId) -> Result<&mut TableDef, StorageError> {
        self.tables
            .get_mut(&id)
            .ok_or(StorageError::TableDropped(id))
    }

    /// Every relation-like name in a schema (tables, indexes, sequences share one namespace
    /// in PostgreSQL).
    pub fn view_by_name(&self, schema: &str, name: &str) -> Option<&ViewDef> {
        self.views.get(&format!("{schema}.{name}"))
    }

    pub fn relation_exists(&self, schema: &str, name: &str) -> bool {
        self.table_by_name(schema, name).is_some()
            || self.view_by_name(schema, name).is_some()
            || self.index_by_name(schema, name).is_some()
            || self.sequences.contains_key(&format!("{schema}.{name}"))
    }

    /// The partitions of a partitioned table (in table-id order).
    pub fn partitions(&self, parent: TableId) -> impl Iterator<Item = &TableDef> + '_ {
        self.tables
            .values()
            .filter(move |t| t.partition_of.as_ref().is_some_and(|p| p.parent == parent))
    }

    /// Whether any table has a DEFERRABLE unique constraint (checked at statement end).
    pub fn has_deferrable_unique(&self) -> bool {
        self.tables
            .values()
            .any(|t| t.indexes.iter().any(|i| i.deferrable))
    }

    /// The tables that inherit from `parent` (`INHERITS`), in object-id order.
    pub fn inheritors(&self, parent: TableId) -> Vec<&TableDef> {
        let mut out: Vec<&TableDef> = self
            .tables
            .values()
            .filter(|t| t.inherits.contains(&parent))
            .collect();
        out.sort_by_key(|t| t.oid);
        out
    }

    pub fn index_by_name(&self, schema: &str, name: &str) -> Option<(&TableDef, &IndexDef)> {
        self.tables
            .values()
            .filter(|t| t.schema == schema)
            .find_map(|t| t.indexes.iter().find(|i| i.name == name).map(|i| (t, i)))
    }
}

impl Catalog {
    /// The FOREIGN KEY constraints that reference `parent`, with their tables.
    pub fn referencing(
        &self,
        parent: TableId,
    ) -> impl Iterator<Item = (&TableDef, &ForeignKeyDef)> + '_ {
        self.tables.values().flat_map(move |t| {
            t.foreign_keys
                .iter()
                .filter(move |fk| fk.parent == parent)
                .map(move |fk| (t, fk))
        })
    }

    /// Whether any table has a FOREIGN KEY constraint (writes skip every check otherwise).
    pub fn has_foreign_keys(&self) -> bool {
        self.tables.values().any(|t| !t.foreign_keys.is_empty())
    }
}

impl TableDef {
    /// Live (not dropped) columns with their physical positions, in declaration order.
    pub fn live_columns(&self) -> impl Iterator<Item = (usize, &ColumnDef)> {
        self.columns.iter().enumerate().filter(|(_, c)| !c.dropped)
    }

    pub fn column_position(&self, name: &str) -> Option<usize> {
        self.live_columns()
            .find(|(_, c)| c.name == name)
            .map(|(i, _)| i)
    }

    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    pub fn types(&self) -> Vec<SqlType> {
        self.columns.iter().map(|c| c.ty.clone()).collect()
    }
}
