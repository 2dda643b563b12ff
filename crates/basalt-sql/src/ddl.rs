//! DDL: schemas, tables, indexes, ALTER TABLE, TRUNCATE, CREATE TABLE AS.
//!
//! DDL takes effect at once and durably through `Engine::ddl` (one WAL record holding the new
//! catalog). Inside a transaction block it is not rolled back by ROLLBACK — a documented
//! difference from PostgreSQL (see docs/compatibility.md).

use std::ops::ControlFlow;
use std::sync::Arc;

use basalt_common::SqlType;
use basalt_storage::{Catalog, CheckDef, ColumnDef, IndexDef, SequenceDef, TableDef, Transaction};
use datafusion::sql::sqlparser::ast::ColumnDef as AstColumnDef;
use datafusion::sql::sqlparser::ast::{
    AlterColumnOperation, AlterTable, AlterTableOperation, ColumnOption, ColumnOptionDef,
    CreateIndex, CreateTable, Expr, ForValues, ForeignKeyConstraint, GeneratedAs, Ident,
    IndexColumn, ObjectName, ObjectNamePart, ObjectType, OnCommit, Partition, RenameTableNameKind,
    SchemaName, SqlOption, Statement, TableConstraint, Truncate, VisitorMut,
};
use datafusion::sql::sqlparser::ast::{
    ConstraintCharacteristics, DeferrableInitial, NullsDistinctOption, UniqueConstraint,
};

use crate::error::{SqlError, SqlResult};
use crate::session::{object_name_parts, Output, Session, DATABASE_NAME};
use crate::types::column_type;

/// PostgreSQL's column limit per table.
const MAX_COLUMNS: usize = 1600;

pub async fn execute(
    s: &mut Session,
    txn: &Arc<Transaction>,
    stmt: Statement,
) -> SqlResult<Output> {
    match stmt {
        Statement::CreateTable(ct) => create_table(s, txn, ct).await,
        Statement::CreateView(cv) => crate::view::create_view(s, cv).await,
        Statement::CreateFunction(cf) if !s.is_mysql() => {
            Box::pin(crate::sqlfunc::create_function(s, cf)).await
        }
        Statement::DropFunction(df) if !s.is_mysql() => crate::sqlfunc::drop_function(s, df).await,
        Statement::CreateTrigger(ct) if !s.is_mysql() => {
            crate::trigger::create_trigger(s, ct).await
        }
        Statement::DropTrigger(dt) if !s.is_mysql() => crate::trigger::drop_trigger(s, dt).await,
        Statement::Drop {
            object_type: ObjectType::View,
            if_exists,
            names,
            cascade,
            ..
        } => crate::view::drop_views(s, if_exists, &names, cascade).await,
        Statement::CreateSchema {
            schema_name,
            if_not_exists,
            ..
        } => create_schema(s, schema_name, if_not_exists).await,
        Statement::CreateIndex(ci) => create_index(s, ci).await,
        Statement::CreateSequence {
            temporary,
            if_not_exists,
            name,
            data_type,
            sequence_options,
            owned_by,
        } => {
            create_sequence(
                s,
                temporary,
                if_not_exists,
                &name,
                data_type.as_ref(),
                &sequence_options,
                owned_by.as_ref(),
            )
            .await
        }
        Statement::Drop {
            object_type: ObjectType::Sequence,
            if_exists,
            names,
            ..
        } => drop_sequences(s, if_exists, &names).await,
        Statement::Drop {
            object_type,
            if_exists,
            names,
            cascade,
            ..
        } => drop(s, txn, object_type, if_exists, names, cascade).await,
        Statement::AlterTable(at) => alter_table(s, txn, at).await,
        Statement::DropDomain(d) if !s.is_mysql() => crate::domain::drop_domain(s, d).await,
        Statement::CreateOperatorClass(c) if !s.is_mysql() => crate::opclass::create(s, c).await,
        Statement::DropOperatorClass(d) if !s.is_mysql() => crate::opclass::drop(s, d).await,
        Statement::Truncate(t) => truncate(s, txn, t).await,
        Statement::Discard { .. } => Ok(Output::Command("DISCARD ALL".into())),
        Statement::Deallocate { .. } => Ok(Output::Command("DEALLOCATE".into())),
        other => Err(SqlError::unsupported(format!(
            "statement not supported: {}",
            first_words(&other.to_string())
        ))),
    }
}

fn first_words(s: &str) -> String {
    s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// (schema, name) of a possibly qualified relation name.
/// `default_schema` is where unqualified names live: `public` for PostgreSQL sessions, the
/// current database (`USE`) for MySQL sessions, `None` when MySQL has none selected.
pub fn qualified(name: &ObjectName, default_schema: Option<&str>) -> SqlResult<(String, String)> {
    let parts = object_name_parts(name);
    match parts.as_slice() {
        [n] => match default_schema {
            Some(d) => Ok((d.to_owned(), n.clone())),
            None => Err(crate::mysql::no_database()),
        },
        [s, n] => Ok((s.clone(), n.clone())),
        [d, s, n] if d == DATABASE_NAME => Ok((s.clone(), n.clone())),
        [d, _, _] => Err(SqlError::unsupported(format!(
            "cross-database references are not implemented: \"{d}\""
        ))),
        _ => Err(SqlError::Syntax {
            message: format!("improper relation name: {name}"),
            position: None,
        }),
    }
}

/// The definition of an existing table.
pub fn resolve_table(
    catalog: &Catalog,
    name: &ObjectName,
    default_schema: Option<&str>,
) -> SqlResult<TableDef> {
    let (schema, table) = qualified(name, default_schema)?;
    if catalog.view_by_name(&schema, &table).is_some() {
        return Err(SqlError::FeatureNotSupported(format!(
            "\"{table}\" is a view: views are read-only in Basalt (write to its tables instead)"
        )));
    }
    catalog
        .table_by_name(&schema, &table)
        .cloned()
        .ok_or(SqlError::UndefinedTable(table))
}

/// An identifier as PostgreSQL folds it: lower-cased unless quoted.
pub(crate) fn ident(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

/// PostgreSQL's error for an inherited column declared with another type.
fn type_conflict(what: &str, column: &str, a: &SqlType, b: &SqlType) -> SqlError {
    SqlError::Detailed {
        sqlstate: "42804",
        message: format!("{what} \"{column}\" has a type conflict"),
        detail: format!("{} versus {}", a.pg_name(), b.pg_name()),
        hint: None,
    }
}

/// Suffix of a UNIQUE constraint's name (empty for an unnamed one) written with `NULLS NOT
/// DISTINCT` on a column, where sqlparser does not read it (see `session::constraint_clauses`).
pub const NULLS_NOT_DISTINCT_MARK: &str = "\0nullsnotdistinct";

/// Suffix of the name of a UNIQUE constraint that stands for `EXCLUDE (… WITH =)` (see
/// `session::constraint_clauses`).
pub const EXCLUDE_MARK: &str = "\0exclude";

/// A UNIQUE constraint being defined: its name (`None`: PostgreSQL's default) and options.
#[derive(Clone, Default)]
struct UniqueSpec {
    name: Option<String>,
    deferrable: bool,
    initially_deferred: bool,
    nulls_not_distinct: bool,
    exclusion: bool,
}

/// `name` without `mark` at its end, and whether it was there (`Some("")` becomes `None`).
fn strip_mark(name: Option<String>, mark: &str) -> (Option<String>, bool) {
    match name {
        Some(n) => match n.strip_suffix(mark) {
            Some(bare) => ((!bare.is_empty()).then(|| bare.to_owned()), true),
            None => (Some(n), false),
        },
        None => (None, false),
    }
}

impl UniqueSpec {
    fn from_ast(u: &UniqueConstraint, name: Option<String>) -> SqlResult<UniqueSpec> {
        let (deferrable, initially_deferred) = deferral(u.characteristics.as_ref())?;
        let (name, exclusion) = strip_mark(name, EXCLUDE_MARK);
        let (name, not_distinct) = strip_mark(name, NULLS_NOT_DISTINCT_MARK);
        Ok(UniqueSpec {
            name,
            deferrable,
            initially_deferred,
            nulls_not_distinct: not_distinct
                || matches!(u.nulls_distinct, NullsDistinctOption::NotDistinct),
            exclusion,
        })
    }

    /// The last word of PostgreSQL's default name.
    fn suffix(&self) -> &'static str {
        if self.exclusion {
            "excl"
        } else {
            "key"
        }
    }

    /// The spec of an existing unique index (copied by LIKE or to a new partition).
    fn of_index(index: &IndexDef, name: Option<String>) -> UniqueSpec {
        UniqueSpec {
            name,
            deferrable: index.deferrable,
            initially_deferred: index.initially_deferred,
            nulls_not_distinct: index.nulls_not_distinct,
            exclusion: index.exclusion,
        }
    }

    fn index(
        &self,
        id: basalt_common::IndexId,
        oid: u32,
        name: String,
        columns: Vec<usize>,
    ) -> IndexDef {
        IndexDef {
            unique: true,
            constraint: true,
            deferrable: self.deferrable,
            initially_deferred: self.initially_deferred,
            nulls_not_distinct: self.nulls_not_distinct,
            exclusion: self.exclusion,
            ..IndexDef::new(id, oid, name, columns)
        }
    }
}

/// `[NOT] DEFERRABLE` and `INITIALLY {DEFERRED | IMMEDIATE}` of a constraint, as
/// (deferrable, initially deferred); INITIALLY DEFERRED alone implies DEFERRABLE.
pub(crate) fn deferral(c: Option<&ConstraintCharacteristics>) -> SqlResult<(bool, bool)> {
    let deferred = matches!(
        c.and_then(|c| c.initially),
        Some(DeferrableInitial::Deferred)
    );
    let deferrable = c.and_then(|c| c.deferrable);
    if deferred && deferrable == Some(false) {
        return Err(SqlError::Syntax {
            message: "constraint declared INITIALLY DEFERRED must be DEFERRABLE".into(),
            position: None,
        });
    }
    Ok((deferrable.unwrap_or(deferred), deferred))
}

/// Primary keys are the row engine's storage keys, checked row by row.
fn refuse_deferrable_key(c: Option<&ConstraintCharacteristics>) -> SqlResult<()> {
    if deferral(c)?.0 {
        return Err(SqlError::unsupported(
            "DEFERRABLE PRIMARY KEY constraints are not supported (UNIQUE constraints can be deferrable)",
        ));
    }
    Ok(())
}

/// A column definition being assembled from CREATE TABLE / ADD COLUMN.
struct NewColumn {
    def: ColumnDef,
    serial_or_identity: bool,
    primary_key: bool,
    unique: Option<UniqueSpec>,
    checks: Vec<(Option<String>, String)>,
    /// Column-level REFERENCES clauses.
    references: Vec<ForeignKeyConstraint>,
}

fn new_column(s: &Session, c: &AstColumnDef) -> SqlResult<NewColumn> {
    let mysql = s.is_mysql();
    let catalog = s.engine().catalog();
    let domain = crate::domain::of_type(&catalog, &c.data_type, s.default_schema().as_deref());
    let mut ct = match domain {
        Some(d) => crate::types::ColumnType {
            ty: d.base.clone(),
            serial: false,
        },
        None => column_type(&c.data_type)?,
    };
    if mysql {
        // MySQL's DECIMAL without precision is DECIMAL(10,0).
        if let datafusion::sql::sqlparser::ast::DataType::Decimal(
            datafusion::sql::sqlparser::ast::ExactNumberInfo::None,
        )
        | datafusion::sql::sqlparser::ast::DataType::Numeric(
            datafusion::sql::sqlparser::ast::ExactNumberInfo::None,
        ) = &c.data_type
        {
            ct.ty = SqlType::Numeric {
                precision: 10,
                scale: 0,
            };
        }
        // MySQL's DECIMAL allows 65 digits (Basalt keeps 38 of them, see types.rs).
        use datafusion::sql::sqlparser::ast::{DataType as Ast, ExactNumberInfo as Info};
        if let Ast::Decimal(Info::Precision(p) | Info::PrecisionAndScale(p, _))
        | Ast::Numeric(Info::Precision(p) | Info::PrecisionAndScale(p, _)) = &c.data_type
        {
            if *p > 65 {
                return Err(SqlError::TooBigPrecision(format!(
                    "Too-big precision {p} specified for '{}'. Maximum is 65.",
                    c.name.value
                )));
            }
        }
        // MySQL's TIME is a duration (±838:59:59), stored as an interval.
        if let datafusion::sql::sqlparser::ast::DataType::Time(_, _) = &c.data_type {
            ct.ty = SqlType::Interval;
        }
        // MySQL's FLOAT is single precision (PostgreSQL's is double).
        if let datafusion::sql::sqlparser::ast::DataType::Float(
            datafusion::sql::sqlparser::ast::ExactNumberInfo::None,
        ) = &c.data_type
        {
            ct.ty = SqlType::Float32;
        }
    }
    let mut col = NewColumn {
        def: ColumnDef {
            name: ident(&c.name),
            ty: ct.ty,
            nullable: true,
            default: None,
            identity_always: false,
            mysql_type: if mysql {
                crate::types::mysql_declared(&c.data_type)
            } else {
                None
            },
            dropped: false,
            storage: None,
            domain: domain.map(|d| format!("{}.{}", d.schema, d.name)),
            precision: crate::types::time_precision(&c.data_type),
        },
        serial_or_identity: ct.serial,
        primary_key: false,
        unique: None,
        checks: Vec::new(),
        references: Vec::new(),
    };
    if ct.serial {
        col.def.nullable = false;
    }
    col.def.default = domain.and_then(|d| d.default.clone());
    for ColumnOptionDef { name, option } in &c.options {
        let cname = name.as_ref().map(ident);
        match option {
            ColumnOption::Null => col.def.nullable = true,
            ColumnOption::NotNull => col.def.nullable = false,
            ColumnOption::Default(e) => {
                if !mysql {
                    default_is_b_expr(e)?;
                }
                col.def.default = Some(e.to_string());
            }
            ColumnOption::PrimaryKey(p) => {
                refuse_deferrable_key(p.characteristics.as_ref())?;
                col.primary_key = true;
                col.def.nullable = false;
            }
            ColumnOption::Unique(u) => col.unique = Some(UniqueSpec::from_ast(u, cname)?),
            ColumnOption::Check(chk) => col.checks.push((cname, chk.expr.to_string())),
            ColumnOption::Generated {
                generated_as,
                generation_expr: None,
                ..
            } => {
                if !col.def.ty.is_integer() {
                    return Err(SqlError::InvalidTableDefinition(
                        "identity column type must be smallint, integer, or bigint".to_string(),
                    ));
                }
                col.serial_or_identity = true;
                col.def.nullable = false;
                col.def.identity_always = matches!(generated_as, GeneratedAs::Always);
            }
            ColumnOption::Generated { .. } => {
                return Err(SqlError::unsupported(
                    "generated columns are not supported yet",
                ))
            }
            ColumnOption::ForeignKey(fk) => {
                let mut fk = fk.clone();
                if fk.name.is_none() {
                    fk.name = name.clone();
                }
                col.references.push(fk);
            }
            ColumnOption::Collation(_) | ColumnOption::Comment(_) => {}
            ColumnOption::CharacterSet(_) if mysql => {}
            ColumnOption::DialectSpecific(tokens)
                if mysql
                    && tokens
                        .iter()
                        .any(|t| t.to_string().eq_ignore_ascii_case("AUTO_INCREMENT")) =>
            {
                let unsigned_bigint = matches!(col.def.ty, SqlType::Numeric { scale: 0, .. });
                if !col.def.ty.is_integer() && !unsigned_bigint {
                    return Err(SqlError::InvalidTableDefinition(format!(
                        "Incorrect column specifier for column '{}': AUTO_INCREMENT needs an integer type",
                        col.def.name
                    )));
                }
                col.serial_or_identity = true;
                col.def.nullable = false;
            }
            other => {
                return Err(SqlError::unsupported(format!(
                    "column option not supported: {other}"
                )))
            }
        }
    }
    Ok(col)
}

/// PostgreSQL's grammar reads a column DEFAULT as a `b_expr`, which has no IN, BETWEEN,
/// LIKE, IS [NOT] NULL, AND, OR or NOT outside parentheses (`DEFAULT 1 IN (1, 2)` is a syntax
/// error, `DEFAULT (1 IN (1, 2))` is not); sqlparser reads a whole expression.
fn default_is_b_expr(e: &Expr) -> SqlResult<()> {
    use datafusion::sql::sqlparser::ast::{BinaryOperator, Spanned, UnaryOperator};
    let error = |word: &str| SqlError::Syntax {
        message: format!("syntax error at or near \"{word}\""),
        position: None,
    };
    let not_or = |negated: bool, word: &'static str| if negated { "NOT" } else { word };
    let (left, word) = match e {
        Expr::InList { expr, negated, .. }
        | Expr::InSubquery { expr, negated, .. }
        | Expr::InUnnest { expr, negated, .. } => (expr.as_ref(), not_or(*negated, "IN")),
        Expr::Between { expr, negated, .. } => (expr.as_ref(), not_or(*negated, "BETWEEN")),
        Expr::Like { expr, negated, .. } => (expr.as_ref(), not_or(*negated, "LIKE")),
        Expr::ILike { expr, negated, .. } => (expr.as_ref(), not_or(*negated, "ILIKE")),
        Expr::SimilarTo { expr, negated, .. } => (expr.as_ref(), not_or(*negated, "SIMILAR")),
        Expr::IsNull(x)
        | Expr::IsNotNull(x)
        | Expr::IsTrue(x)
        | Expr::IsNotTrue(x)
        | Expr::IsFalse(x)
        | Expr::IsNotFalse(x)
        | Expr::IsUnknown(x)
        | Expr::IsNotUnknown(x) => (x.as_ref(), is_word(e)),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            ..
        } => (left.as_ref(), "AND"),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Or,
            ..
        } => (left.as_ref(), "OR"),
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            ..
        } => return Err(error("NOT")),
        _ => return Ok(()),
    };
    // The leftmost offending word comes first in the text; the error points at `word`'s
    // first appearance after the left operand.
    default_is_b_expr(left)?;
    Err(error(word).at_word(left.span().end, word))
}

/// The word PostgreSQL's grammar stumbles on in `x IS [NOT] NULL` and the like (`IS [NOT]`
/// itself can start `IS [NOT] DISTINCT FROM`, which a DEFAULT may use).
fn is_word(e: &Expr) -> &'static str {
    match e {
        Expr::IsNull(_) | Expr::IsNotNull(_) => "NULL",
        Expr::IsTrue(_) | Expr::IsNotTrue(_) => "TRUE",
        Expr::IsFalse(_) | Expr::IsNotFalse(_) => "FALSE",
        _ => "UNKNOWN",
    }
}

fn index_columns(def: &TableDef, cols: &[IndexColumn]) -> SqlResult<Vec<usize>> {
    cols.iter()
        .map(|c| match &c.column.expr {
            Expr::Identifier(i) => def.column_position(&ident(i)).ok_or_else(|| {
                SqlError::UndefinedColumn(format!("column \"{}\" does not exist", ident(i)))
            }),
            other => Err(SqlError::unsupported(format!(
                "expression indexes are not supported: {other}"
            ))),
        })
        .collect()
}

fn unique_name(catalog: &Catalog, schema: &str, base: &str) -> String {
    let base: String = base.chars().take(63).collect();
    if !catalog.relation_exists(schema, &base) {
        return base;
    }
    (1..)
        .map(|i| format!("{base}{i}"))
        .find(|n| !catalog.relation_exists(schema, n))
        .unwrap_or(base)
}

/// Adds an empty schema to the catalog (the caller has checked the name is free).
pub(crate) fn add_schema(c: &mut Catalog, name: &str) {
    let oid = c.allocate_oid();
    c.schemas.insert(
        name.to_owned(),
        basalt_storage::SchemaDef {
            name: name.to_owned(),
            oid,
        },
    );
}

async fn create_schema(
    s: &mut Session,
    name: SchemaName,
    if_not_exists: bool,
) -> SqlResult<Output> {
    let (SchemaName::Simple(name) | SchemaName::NamedAuthorization(name, _)) = name else {
        return Err(SqlError::unsupported(
            "CREATE SCHEMA AUTHORIZATION without a name",
        ));
    };
    let parts = object_name_parts(&name);
    let schema = parts.last().cloned().unwrap_or_default();
    if !s.is_mysql() && schema.starts_with("pg_") {
        return Err(SqlError::ReservedName {
            message: format!("unacceptable schema name \"{schema}\""),
            detail: "The prefix \"pg_\" is reserved for system schemas.".into(),
        });
    }
    s.engine()
        .ddl(|c: &mut Catalog| {
            if c.schemas.contains_key(&schema) {
                return if if_not_exists {
                    Ok(vec![])
                } else {
                    Err(SqlError::DuplicateSchema(schema))
                };
            }
            add_schema(c, &schema);
            Ok(vec![])
        })
        .await?;
    Ok(Output::Command("CREATE SCHEMA".into()))
}

async fn create_table(
    s: &mut Session,
    txn: &Arc<Transaction>,
    mut ct: CreateTable,
) -> SqlResult<Output> {
    if ct.temporary && !s.is_mysql() {
        if ct.name.0.len() > 1 {
            return Err(SqlError::InvalidTableDefinition(
                "cannot create temporary relation in non-temporary schema".into(),
            ));
        }
        if let Some(action) = &ct.on_commit {
            if !matches!(action, OnCommit::PreserveRows) {
                return Err(SqlError::unsupported(
                    "ON COMMIT DELETE ROWS / DROP for temporary tables is not supported",
                ));
            }
        }
        let schema = s.temp_schema().await?;
        let table = ct.name.0.pop();
        ct.name.0 = vec![ObjectNamePart::Identifier(Ident::with_quote('"', schema))];
        ct.name.0.extend(table);
    }
    let (schema, name) = qualified(&ct.name, s.default_schema().as_deref())?;
    if ct.clone.is_some() {
        return Err(SqlError::unsupported(
            "CREATE TABLE … CLONE is not supported",
        ));
    }
    let catalog = s.engine().catalog();
    if !catalog.schemas.contains_key(&schema) {
        return Err(SqlError::UndefinedSchema(schema));
    }
    if catalog.relation_exists(&schema, &name) {
        if ct.if_not_exists {
            return Ok(Output::Command("CREATE TABLE".into()));
        }
        return Err(SqlError::DuplicateTable(name));
    }
    // CREATE TABLE AS: the query decides the columns.
    let mut query_result = None;
    let mut columns: Vec<NewColumn> = Vec::new();
    if let Some(q) = ct.query.clone() {
        let (qschema, batches) = s.run_query(*q).await?;
        for f in qschema.fields() {
            let shown = crate::rewrite::display_name(f.name());
            if shown != f.name() {
                return Err(SqlError::RepeatedColumnName(shown.to_owned()));
            }
            let ty = SqlType::from_arrow(f.data_type()).ok_or_else(|| {
                SqlError::unsupported(format!(
                    "column \"{}\" has unsupported type {}",
                    f.name(),
                    f.data_type()
                ))
            })?;
            columns.push(NewColumn {
                def: ColumnDef {
                    name: f.name().clone(),
                    ty,
                    nullable: true,
                    default: None,
                    identity_always: false,
                    mysql_type: None,
                    dropped: false,
                    storage: None,
                    domain: None,
                    precision: None,
                },
                serial_or_identity: false,
                primary_key: false,
                unique: None,
                checks: vec![],
                references: vec![],
            });
        }
        query_result = Some(batches);
    }
    // LIKE: the source's columns with their types and NOT NULL; defaults only with
    // INCLUDING DEFAULTS (PostgreSQL), or always for MySQL's `CREATE TABLE t LIKE s`, which
    // copies the keys too.
    let mut like_keys: Option<TableDef> = None;
    if let Some(like) = &ct.like {
        use datafusion::sql::sqlparser::ast::{CreateTableLikeDefaults, CreateTableLikeKind};
        let (source, mysql_form) = match like {
            CreateTableLikeKind::Parenthesized(l) => (l, false),
            CreateTableLikeKind::Plain(l) => (l, s.is_mysql()),
        };
        let from = resolve_table(&catalog, &source.name, s.default_schema().as_deref())?;
        let defaults =
            mysql_form || matches!(source.defaults, Some(CreateTableLikeDefaults::Including));
        for (pos, c) in from.live_columns() {
            // MySQL: an AUTO_INCREMENT column gets a counter of its own.
            let own_counter = mysql_form
                && catalog
                    .sequences
                    .values()
                    .any(|q| q.owned_by == Some((from.id, pos)));
            columns.push(NewColumn {
                def: ColumnDef {
                    default: if defaults { c.default.clone() } else { None },
                    identity_always: false,
                    ..c.clone()
                },
                serial_or_identity: own_counter,
                primary_key: false,
                unique: None,
                checks: vec![],
                references: vec![],
            });
        }
        if mysql_form {
            like_keys = Some(from);
        }
    }
    // PARTITION OF: the parent's columns, defaults and CHECK constraints.
    let partition_parent = match &ct.partition_of {
        Some(parent_name) => {
            let parent = resolve_table(&catalog, parent_name, s.default_schema().as_deref())?;
            if parent.partition_key.is_none() {
                return Err(SqlError::Detailed {
                    sqlstate: "42809",
                    message: format!("\"{}\" is not partitioned", parent.name),
                    detail: String::new(),
                    hint: None,
                });
            }
            if !ct.columns.is_empty() {
                return Err(SqlError::unsupported(
                    "column definitions in CREATE TABLE … PARTITION OF are not supported",
                ));
            }
            for (_, c) in parent.live_columns() {
                columns.push(NewColumn {
                    def: ColumnDef {
                        identity_always: false,
                        ..c.clone()
                    },
                    serial_or_identity: false,
                    primary_key: false,
                    unique: None,
                    checks: vec![],
                    references: vec![],
                });
            }
            Some(parent)
        }
        None => None,
    };
    // INHERITS: each parent's columns (a column several parents have is merged), NOT
    // NULL, defaults and CHECK constraints.
    let mut inherited_from = Vec::new();
    let mut inherited_checks: Vec<(Option<String>, String)> = Vec::new();
    for parent_name in ct.inherits.iter().flatten() {
        let parent = resolve_table(&catalog, parent_name, s.default_schema().as_deref())?;
        if parent.partition_key.is_some() {
            return Err(SqlError::WrongObjectType(format!(
                "cannot inherit from partitioned table \"{}\"",
                parent.name
            )));
        }
        if parent.partition_of.is_some() {
            return Err(SqlError::WrongObjectType(format!(
                "cannot inherit from partition \"{}\"",
                parent.name
            )));
        }
        if inherited_from.contains(&parent.id) {
            return Err(SqlError::DuplicateTable(format!(
                "relation \"{}\" would be inherited from more than once",
                parent.name
            )));
        }
        for (_, c) in parent.live_columns() {
            if let Some(existing) = columns.iter_mut().find(|x| x.def.name == c.name) {
                s.notice(
                    "NOTICE",
                    "00000",
                    format!(
                        "merging multiple inherited definitions of column \"{}\"",
                        c.name
                    ),
                );
                if existing.def.ty != c.ty {
                    return Err(type_conflict(
                        "inherited column",
                        &c.name,
                        &existing.def.ty,
                        &c.ty,
                    ));
                }
                existing.def.nullable &= c.nullable;
                continue;
            }
            columns.push(NewColumn {
                def: ColumnDef {
                    identity_always: false,
                    ..c.clone()
                },
                serial_or_identity: false,
                primary_key: false,
                unique: None,
                checks: vec![],
                references: vec![],
            });
        }
        for check in parent.checks.iter().filter(|c| !c.no_inherit) {
            if !inherited_checks
                .iter()
                .any(|(n, _)| n.as_deref() == Some(&check.name))
            {
                inherited_checks.push((Some(check.name.clone()), check.expr.clone()));
            }
        }
        inherited_from.push(parent.id);
    }
    let inherited_count = if inherited_from.is_empty() {
        0
    } else {
        columns.len()
    };
    for c in &ct.columns {
        let col = new_column(s, c)?;
        let same = columns.iter().position(|x| x.def.name == col.def.name);
        match same {
            Some(i) if i < inherited_count => {
                s.notice(
                    "NOTICE",
                    "00000",
                    format!(
                        "merging column \"{}\" with inherited definition",
                        col.def.name
                    ),
                );
                let existing = &mut columns[i];
                if existing.def.ty != col.def.ty {
                    return Err(type_conflict(
                        "column",
                        &col.def.name,
                        &existing.def.ty,
                        &col.def.ty,
                    ));
                }
                existing.def.nullable &= col.def.nullable;
                if col.def.default.is_some() {
                    existing.def.default = col.def.default;
                }
                existing.primary_key |= col.primary_key;
                existing.unique = col.unique.or(existing.unique.take());
                existing.checks.extend(col.checks);
                existing.references.extend(col.references);
            }
            Some(_) => return Err(SqlError::DuplicateColumn(col.def.name, name)),
            None => columns.push(col),
        }
    }
    if columns.len() > MAX_COLUMNS {
        return Err(SqlError::TooManyColumns(format!(
            "tables can have at most {MAX_COLUMNS} columns"
        )));
    }
    let mut def = TableDef {
        id: basalt_common::TableId(0),
        oid: 0,
        schema: schema.clone(),
        name: name.clone(),
        columns: columns.iter().map(|c| c.def.clone()).collect(),
        primary_key: None,
        primary_key_name: None,
        indexes: Vec::new(),
        checks: Vec::new(),
        version: 0,
        columnar: s.db.columnar_new_tables,
        foreign_keys: Vec::new(),
        partition_key: None,
        partition_of: None,
        inherits: Vec::new(),
        reloptions: Vec::new(),
        triggers: Vec::new(),
    };
    if let datafusion::sql::sqlparser::ast::CreateTableOptions::With(options) = &ct.table_options {
        for option in options {
            let SqlOption::KeyValue { key, value } = option else {
                return Err(SqlError::unsupported(format!("table option {option}")));
            };
            if ident(key) == "columnar" {
                def.columnar = !matches!(
                    value.to_string().trim_matches('\'').to_lowercase().as_str(),
                    "off" | "false" | "0" | "no"
                );
            } else {
                def.reloptions.push(reloption(&ident(key), value)?);
            }
        }
    }
    let mut pk: Option<(Vec<usize>, Option<String>)> = None;
    let mut uniques: Vec<(Vec<usize>, UniqueSpec)> = Vec::new();
    let mut checks: Vec<(Option<String>, String)> = Vec::new();
    def.inherits = inherited_from;
    checks.extend(inherited_checks);
    if let Some(from) = &like_keys {
        let by_name = |cols: &[usize]| -> Vec<usize> {
            cols.iter()
                .filter_map(|&p| def.column_position(&from.columns[p].name))
                .collect()
        };
        if let Some(cols) = &from.primary_key {
            pk = Some((by_name(cols), None));
        }
        for index in from.indexes.iter().filter(|i| i.unique) {
            uniques.push((
                by_name(&index.columns),
                UniqueSpec::of_index(index, Some(index.name.clone())),
            ));
        }
    }
    if let Some(parent) = &partition_parent {
        let by_name = |cols: &[usize]| -> Vec<usize> {
            cols.iter()
                .filter_map(|&p| def.column_position(&parent.columns[p].name))
                .collect()
        };
        if let Some(cols) = &parent.primary_key {
            pk = Some((by_name(cols), None));
        }
        for index in parent.indexes.iter().filter(|i| i.constraint) {
            uniques.push((by_name(&index.columns), UniqueSpec::of_index(index, None)));
        }
        checks.extend(
            parent
                .checks
                .iter()
                .map(|c| (Some(c.name.clone()), c.expr.clone())),
        );
        let Some(values) = &ct.for_values else {
            return Err(SqlError::Syntax {
                message: "syntax error: expected FOR VALUES or DEFAULT".into(),
                position: None,
            });
        };
        let at = datafusion::sql::sqlparser::ast::Spanned::span(&ct.name).end;
        let bound = crate::partition::bound_from_ast(s, &catalog, parent, &name, values, Some(at))?;
        def.partition_of = Some(basalt_storage::PartitionOf {
            parent: parent.id,
            bound,
        });
        // The default partition may already hold rows that belong to the new one.
        if !matches!(values, ForValues::Default) {
            let mut with_new = catalog.as_ref().clone();
            with_new.tables.insert(def.id, def.clone());
            crate::partition::check_default_rows(s, txn, &with_new, parent)?;
        }
    }
    if let Some(by) = &ct.partition_by {
        def.partition_key = Some(crate::partition::key_from_ast(s, &def, by)?);
    }
    for (i, c) in columns.iter().enumerate() {
        if c.primary_key {
            if pk.is_some() {
                return Err(SqlError::InvalidTableDefinition(format!(
                    "multiple primary keys for table \"{name}\" are not allowed"
                )));
            }
            pk = Some((vec![i], None));
        }
        if let Some(u) = &c.unique {
            uniques.push((vec![i], u.clone()));
        }
        checks.extend(c.checks.iter().cloned());
    }
    let mut plain_indexes: Vec<(Vec<usize>, Option<String>)> = Vec::new();
    let mut foreign: Vec<(ForeignKeyConstraint, Option<usize>)> = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        foreign.extend(c.references.iter().map(|fk| (fk.clone(), Some(i))));
    }
    for tc in &ct.constraints {
        match tc {
            TableConstraint::PrimaryKey(p) => {
                if pk.is_some() {
                    return Err(SqlError::InvalidTableDefinition(format!(
                        "multiple primary keys for table \"{name}\" are not allowed"
                    )));
                }
                refuse_deferrable_key(p.characteristics.as_ref())?;
                pk = Some((index_columns(&def, &p.columns)?, p.name.as_ref().map(ident)));
            }
            TableConstraint::Unique(u) => uniques.push((
                index_columns(&def, &u.columns)?,
                UniqueSpec::from_ast(u, u.name.as_ref().or(u.index_name.as_ref()).map(ident))?,
            )),
            TableConstraint::Index(i) => {
                plain_indexes.push((index_columns(&def, &i.columns)?, i.name.as_ref().map(ident)))
            }
            TableConstraint::Check(c) => {
                checks.push((c.name.as_ref().map(ident), c.expr.to_string()))
            }
            TableConstraint::ForeignKey(fk) => foreign.push((fk.clone(), None)),
            other => {
                return Err(SqlError::unsupported(format!(
                    "constraint not supported: {other}"
                )))
            }
        }
    }
    if let Some((cols, cname)) = pk {
        for &c in &cols {
            def.columns[c].nullable = false;
        }
        def.primary_key_name = Some(cname.unwrap_or_else(|| format!("{name}_pkey")));
        def.primary_key = Some(cols);
    }
    // FOREIGN KEYs, once the table's own keys are known (it may reference itself).
    let mut unique_sets: Vec<Vec<usize>> = def.primary_key.iter().cloned().collect();
    unique_sets.extend(uniques.iter().map(|(cols, _)| cols.clone()));
    let mut self_refs = Vec::new();
    for (fk, column) in &foreign {
        let (fdef, itself) =
            crate::foreign::define(s, &catalog, &def, fk, *column, &unique_sets, true)?;
        self_refs.push(itself);
        def.foreign_keys.push(fdef);
    }
    for (cname, expr) in checks {
        crate::eval::validate_table_expr(s, &def, &expr)?;
        let (cname, no_inherit) = match cname {
            Some(n) => match n.strip_suffix(NO_INHERIT_MARK) {
                Some("") => (None, true),
                Some(bare) => (Some(bare.to_owned()), true),
                None => (Some(n), false),
            },
            None => (None, false),
        };
        let cname = cname.unwrap_or_else(|| check_name(&def, &expr, &def.checks));
        def.checks.push(CheckDef {
            name: cname,
            expr,
            no_inherit,
        });
    }
    for c in &def.columns {
        if let Some(d) = &c.default {
            crate::eval::validate_default(s, d)?;
        }
    }
    let serial_cols: Vec<usize> = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.serial_or_identity)
        .map(|(i, _)| i)
        .collect();
    let ctas_rows = query_result.is_some();
    let created = Arc::new(parking_lot::Mutex::new(None));
    let created_out = Arc::clone(&created);
    s.engine()
        .ddl(move |c: &mut Catalog| {
            if c.relation_exists(&schema, &name) {
                return Err(SqlError::DuplicateTable(name.clone()));
            }
            if let Some(of) = &def.partition_of {
                if !c.tables.contains_key(&of.parent) {
                    return Err(SqlError::Internal(
                        "the partitioned table was dropped meanwhile".into(),
                    ));
                }
            }
            def.id = c.allocate_table_id();
            def.oid = c.allocate_oid();
            for (fk, itself) in def.foreign_keys.iter_mut().zip(&self_refs) {
                if *itself {
                    fk.parent = def.id;
                } else if !c.tables.contains_key(&fk.parent) {
                    return Err(SqlError::Internal(format!(
                        "the table referenced by \"{}\" was dropped meanwhile",
                        fk.name
                    )));
                }
                fk.oid = c.allocate_oid();
            }
            if let Some(pk_cols) = &def.primary_key {
                let pk_name = def.primary_key_name.clone().unwrap_or_default();
                if c.relation_exists(&schema, &pk_name) {
                    return Err(SqlError::DuplicateTable(pk_name));
                }
                let _ = pk_cols;
            }
            // UNIQUE constraints, then MySQL's KEY/INDEX clauses (index names are scoped to
            // their table, as in MySQL).
            let declared = uniques
                .into_iter()
                .map(|(cols, spec)| (cols, spec, true))
                .chain(plain_indexes.into_iter().map(|(cols, name)| {
                    (
                        cols,
                        UniqueSpec {
                            name,
                            ..UniqueSpec::default()
                        },
                        false,
                    )
                }));
            for (cols, spec, unique) in declared {
                let col_names: Vec<&str> =
                    cols.iter().map(|&i| def.columns[i].name.as_str()).collect();
                let suffix = if unique { spec.suffix() } else { "idx" };
                let iname = match spec.name.clone() {
                    Some(n) if def.indexes.iter().any(|i| i.name == n) => {
                        return Err(SqlError::MySql {
                            code: 1061,
                            sqlstate: "42000",
                            message: format!("Duplicate key name '{n}'"),
                        })
                    }
                    Some(n) => n,
                    None => unique_name(
                        c,
                        &schema,
                        &format!("{name}_{}_{suffix}", col_names.join("_")),
                    ),
                };
                let id = c.allocate_index_id();
                let oid = c.allocate_oid();
                def.indexes.push(if unique {
                    spec.index(id, oid, iname, cols)
                } else {
                    IndexDef::new(id, oid, iname, cols)
                });
            }
            for col in serial_cols {
                let seq = unique_name(c, &schema, &format!("{name}_{}_seq", def.columns[col].name));
                let qualified_seq = format!("{schema}.{seq}");
                def.columns[col].default = Some(format!("nextval('{qualified_seq}')"));
                let oid = c.allocate_oid();
                c.sequences.insert(
                    qualified_seq.clone(),
                    SequenceDef {
                        name: qualified_seq,
                        oid,
                        start: 1,
                        increment: 1,
                        owned_by: Some((def.id, col)),
                        min: None,
                        max: None,
                        cycle: false,
                        reserved: None,
                    },
                );
            }
            *created_out.lock() = Some(def.clone());
            c.tables.insert(def.id, def);
            Ok(vec![])
        })
        .await?;
    let Some(def) = created.lock().take() else {
        return Err(SqlError::Internal("table definition lost".into()));
    };
    if let (true, Some(batches)) = (ctas_rows, query_result) {
        let n = crate::dml::insert_batches(s, txn, &def, &batches).await?;
        return Ok(Output::Command(format!("SELECT {n}")));
    }
    Ok(Output::Command("CREATE TABLE".into()))
}

/// An integer option of CREATE SEQUENCE (`INCREMENT -1`, `START 10`).
fn sequence_number(e: &Expr) -> SqlResult<i64> {
    let text = e.to_string().replace(' ', "");
    text.parse::<i64>().map_err(|_| SqlError::Syntax {
        message: format!("syntax error at or near \"{e}\""),
        position: None,
    })
}

async fn create_sequence(
    s: &mut Session,
    temporary: bool,
    if_not_exists: bool,
    name: &ObjectName,
    data_type: Option<&datafusion::sql::sqlparser::ast::DataType>,
    options: &[datafusion::sql::sqlparser::ast::SequenceOptions],
    owned_by: Option<&ObjectName>,
) -> SqlResult<Output> {
    use datafusion::sql::sqlparser::ast::SequenceOptions as O;
    if temporary {
        return Err(SqlError::unsupported(
            "temporary sequences are not supported",
        ));
    }
    let (schema, seq) = qualified(name, s.default_schema().as_deref())?;
    let catalog = s.engine().catalog();
    if !catalog.schemas.contains_key(&schema) {
        return Err(SqlError::UndefinedSchema(schema));
    }
    if catalog.relation_exists(&schema, &seq) {
        if if_not_exists {
            s.notice(
                "NOTICE",
                "42P07",
                format!("relation \"{seq}\" already exists, skipping"),
            );
            return Ok(Output::Command("CREATE SEQUENCE".into()));
        }
        return Err(SqlError::DuplicateTable(seq));
    }
    // AS smallint / integer / bigint bounds the default MINVALUE and MAXVALUE.
    let declared = data_type.map(column_type).transpose()?.map(|c| c.ty);
    let (type_min, type_max) = match &declared {
        None => (i64::MIN, i64::MAX),
        Some(SqlType::Int16) => (i64::from(i16::MIN), i64::from(i16::MAX)),
        Some(SqlType::Int32) => (i64::from(i32::MIN), i64::from(i32::MAX)),
        Some(SqlType::Int64) => (i64::MIN, i64::MAX),
        Some(_) => {
            return Err(SqlError::InvalidParameterValue(
                "sequence type must be smallint, integer, or bigint".into(),
            ))
        }
    };
    let mut increment = 1i64;
    let (mut min, mut max, mut start, mut cycle) = (None, None, None, false);
    for o in options {
        match o {
            O::IncrementBy(e, _) => increment = sequence_number(e)?,
            O::MinValue(e) => min = e.as_ref().map(sequence_number).transpose()?,
            O::MaxValue(e) => max = e.as_ref().map(sequence_number).transpose()?,
            O::StartWith(e, _) => start = Some(sequence_number(e)?),
            O::Cache(e) => {
                let c = sequence_number(e)?;
                if c <= 0 {
                    return Err(SqlError::InvalidParameterValue(format!(
                        "CACHE ({c}) must be greater than zero"
                    )));
                }
            }
            O::Cycle(no) => cycle = !*no,
        }
    }
    if increment == 0 {
        return Err(SqlError::InvalidParameterValue(
            "INCREMENT must not be zero".into(),
        ));
    }
    let ascending = increment > 0;
    let min = min.unwrap_or(if ascending { 1 } else { type_min });
    let max = max.unwrap_or(if ascending { type_max } else { -1 });
    for (what, v) in [("MINVALUE", min), ("MAXVALUE", max)] {
        if v < type_min || v > type_max {
            return Err(SqlError::InvalidParameterValue(format!(
                "{what} ({v}) is out of range for sequence data type {}",
                declared.as_ref().map_or("bigint".into(), SqlType::pg_name)
            )));
        }
    }
    if min >= max {
        return Err(SqlError::InvalidParameterValue(format!(
            "MINVALUE ({min}) must be less than MAXVALUE ({max})"
        )));
    }
    let start = start.unwrap_or(if ascending { min } else { max });
    if start < min {
        return Err(SqlError::InvalidParameterValue(format!(
            "START value ({start}) cannot be less than MINVALUE ({min})"
        )));
    }
    if start > max {
        return Err(SqlError::InvalidParameterValue(format!(
            "START value ({start}) cannot be greater than MAXVALUE ({max})"
        )));
    }
    let owner = match owned_by {
        None => None,
        Some(o) if object_name_parts(o) == ["none"] => None,
        Some(o) => Some(sequence_owner(s, &catalog, o)?),
    };
    let key = format!("{schema}.{seq}");
    s.engine()
        .ddl(|c: &mut Catalog| {
            if c.relation_exists(&schema, &seq) {
                return Err(SqlError::DuplicateTable(seq.clone()));
            }
            let oid = c.allocate_oid();
            c.sequences.insert(
                key.clone(),
                SequenceDef {
                    name: key.clone(),
                    oid,
                    start,
                    increment,
                    owned_by: owner,
                    min: Some(min),
                    max: Some(max),
                    cycle,
                    reserved: None,
                },
            );
            Ok(vec![])
        })
        .await?;
    Ok(Output::Command("CREATE SEQUENCE".into()))
}

/// The table and column of `OWNED BY table.column`.
fn sequence_owner(
    s: &Session,
    catalog: &Catalog,
    o: &ObjectName,
) -> SqlResult<(basalt_common::TableId, usize)> {
    let mut parts = o.0.clone();
    let column = match parts.pop() {
        Some(ObjectNamePart::Identifier(c)) if !parts.is_empty() => ident(&c),
        _ => {
            return Err(SqlError::Syntax {
                message: "invalid OWNED BY option".into(),
                position: None,
            })
        }
    };
    let table = resolve_table(catalog, &ObjectName(parts), s.default_schema().as_deref())?;
    let pos = table.column_position(&column).ok_or_else(|| {
        SqlError::UndefinedColumn(format!(
            "column \"{column}\" of relation \"{}\" does not exist",
            table.name
        ))
    })?;
    Ok((table.id, pos))
}

/// `ALTER SEQUENCE`: the options change the sequence's definition; RESTART moves its
/// counter (the next `nextval` returns the RESTART value, or the START value).
pub async fn alter_sequence(
    s: &mut Session,
    if_exists: bool,
    name: &[String],
    options: &[crate::custom::SequenceOption],
) -> SqlResult<Output> {
    use crate::custom::SequenceOption as O;
    let object = ObjectName::from(
        name.iter()
            .map(|p| Ident::with_quote('"', p))
            .collect::<Vec<_>>(),
    );
    let (schema, seq) = qualified(&object, s.default_schema().as_deref())?;
    let key = format!("{schema}.{seq}");
    let catalog = s.engine().catalog();
    let Some(old) = catalog.sequences.get(&key).cloned() else {
        if if_exists {
            s.notice(
                "NOTICE",
                "00000",
                format!("relation \"{seq}\" does not exist, skipping"),
            );
            return Ok(Output::Command("ALTER SEQUENCE".into()));
        }
        return Err(SqlError::UnlocatedTable(seq));
    };
    let mut new = old.clone();
    let mut restart: Option<Option<i64>> = None;
    for o in options {
        match o {
            O::Increment(0) => {
                return Err(SqlError::InvalidParameterValue(
                    "INCREMENT must not be zero".into(),
                ))
            }
            O::Increment(n) => new.increment = *n,
            O::MinValue(v) => new.min = *v,
            O::MaxValue(v) => new.max = *v,
            O::Start(n) => new.start = *n,
            O::Restart(v) => restart = Some(*v),
            O::Cache(n) if *n <= 0 => {
                return Err(SqlError::InvalidParameterValue(format!(
                    "CACHE ({n}) must be greater than zero"
                )))
            }
            O::Cache(_) => {}
            O::Cycle(on) => new.cycle = *on,
            O::OwnedBy(None) => new.owned_by = None,
            O::OwnedBy(Some(parts)) => {
                let owner = ObjectName::from(
                    parts
                        .iter()
                        .map(|p| Ident::with_quote('"', p))
                        .collect::<Vec<_>>(),
                );
                new.owned_by = Some(sequence_owner(s, &catalog, &owner)?);
            }
            O::As(ty) => {
                let (lo, hi) = match ty.to_lowercase().as_str() {
                    "smallint" | "int2" => (i64::from(i16::MIN), i64::from(i16::MAX)),
                    "integer" | "int" | "int4" => (i64::from(i32::MIN), i64::from(i32::MAX)),
                    "bigint" | "int8" => (i64::MIN, i64::MAX),
                    _ => {
                        return Err(SqlError::InvalidParameterValue(
                            "sequence type must be smallint, integer, or bigint".into(),
                        ))
                    }
                };
                let (min, max) = new.bounds();
                new.min = Some(min.max(lo));
                new.max = Some(max.min(hi));
            }
        }
    }
    let (min, max) = new.bounds();
    if min >= max {
        return Err(SqlError::InvalidParameterValue(format!(
            "MINVALUE ({min}) must be less than MAXVALUE ({max})"
        )));
    }
    for (what, v) in std::iter::once(("START", new.start))
        .chain(restart.map(|r| ("RESTART", r.unwrap_or(new.start))))
    {
        if v < min {
            return Err(SqlError::InvalidParameterValue(format!(
                "{what} value ({v}) cannot be less than MINVALUE ({min})"
            )));
        }
        if v > max {
            return Err(SqlError::InvalidParameterValue(format!(
                "{what} value ({v}) cannot be greater than MAXVALUE ({max})"
            )));
        }
    }
    let start = new.start;
    s.engine()
        .ddl(|c: &mut Catalog| {
            c.sequences.insert(key.clone(), new);
            Ok::<_, SqlError>(vec![])
        })
        .await?;
    if let Some(r) = restart {
        s.engine().setval(&key, r.unwrap_or(start), false)?;
    }
    Ok(Output::Command("ALTER SEQUENCE".into()))
}

/// `ALTER TABLE … ALTER COLUMN c SET STORAGE s`, with PostgreSQL's checks: kept for
/// `pg_attribute.attstorage` (Basalt stores every value whole).
pub async fn set_storage(
    s: &mut Session,
    if_exists: bool,
    table: &[String],
    column: &str,
    storage: &str,
) -> SqlResult<Output> {
    let object = ObjectName::from(
        table
            .iter()
            .map(|p| Ident::with_quote('"', p))
            .collect::<Vec<_>>(),
    );
    let catalog = s.engine().catalog();
    let def = match resolve_table(&catalog, &object, s.default_schema().as_deref()) {
        Ok(def) => def,
        Err(SqlError::UndefinedTable(name)) if if_exists => {
            s.notice(
                "NOTICE",
                "00000",
                format!("relation \"{name}\" does not exist, skipping"),
            );
            return Ok(Output::Command("ALTER TABLE".into()));
        }
        Err(e) => return Err(e),
    };
    let pos = def.column_position(column).ok_or_else(|| {
        SqlError::UndefinedColumn(format!(
            "column \"{column}\" of relation \"{}\" does not exist",
            def.name
        ))
    })?;
    let code = match storage {
        "plain" => 'p',
        "external" => 'e',
        "extended" => 'x',
        "main" => 'm',
        "default" => ' ',
        other => {
            return Err(SqlError::InvalidParameterValue(format!(
                "invalid storage type \"{other}\""
            )))
        }
    };
    let ty = &def.columns[pos].ty;
    let varlena = matches!(
        ty,
        SqlType::Text | SqlType::Varchar(_) | SqlType::Char(_) | SqlType::Bytea
    ) || matches!(ty, SqlType::Numeric { .. });
    if code != 'p' && code != ' ' && !varlena {
        return Err(SqlError::DatatypeMismatch(format!(
            "column data type {} can only have storage PLAIN",
            ty.pg_name()
        )));
    }
    let id = def.id;
    s.engine()
        .ddl(|c: &mut Catalog| {
            c.table_mut(id)?.columns[pos].storage = (code != ' ').then_some(code);
            Ok::<_, SqlError>(vec![])
        })
        .await?;
    Ok(Output::Command("ALTER TABLE".into()))
}

async fn drop_sequences(
    s: &mut Session,
    if_exists: bool,
    names: &[ObjectName],
) -> SqlResult<Output> {
    let catalog = s.engine().catalog();
    let mut keys = Vec::new();
    for n in names {
        let (schema, seq) = qualified(n, s.default_schema().as_deref())?;
        let key = format!("{schema}.{seq}");
        if catalog.sequences.contains_key(&key) {
            keys.push(key);
        } else if if_exists {
            s.skipping_notice("sequence", &seq);
        } else {
            return Err(SqlError::Storage(
                basalt_storage::StorageError::NoSuchSequence(seq),
            ));
        }
    }
    s.engine()
        .ddl(|c: &mut Catalog| {
            for k in &keys {
                c.sequences.remove(k);
            }
            Ok::<_, SqlError>(vec![])
        })
        .await?;
    Ok(Output::Command("DROP SEQUENCE".into()))
}

/// Suffix of a CHECK constraint's name (empty for an unnamed one) written with `NO INHERIT`
/// (see `session::no_inherit_checks`). A NUL never occurs in a name from SQL text.
pub const NO_INHERIT_MARK: &str = "\0noinherit";

/// The partitions of `id` and the tables inheriting from it, at every level below it.
fn descendants(catalog: &Catalog, id: basalt_common::TableId) -> Vec<TableDef> {
    let mut out: Vec<TableDef> = Vec::new();
    let mut parents = vec![id];
    while let Some(parent) = parents.pop() {
        for t in catalog.tables.values() {
            let child = t.partition_of.as_ref().is_some_and(|p| p.parent == parent)
                || t.inherits.contains(&parent);
            if child && !out.iter().any(|o| o.id == t.id) {
                parents.push(t.id);
                out.push(t.clone());
            }
        }
    }
    out
}

/// PostgreSQL's name for an unnamed CHECK: `<table>_<column>_check` when the expression
/// reads exactly one column, else `<table>_check`; a number is added until it is unused.
fn check_name(def: &TableDef, expr: &str, existing: &[CheckDef]) -> String {
    let lower = expr.to_lowercase();
    let words: std::collections::HashSet<&str> = lower
        .split(|ch: char| !ch.is_alphanumeric() && ch != '_')
        .collect();
    let read: Vec<&str> = def
        .live_columns()
        .filter(|(_, c)| words.contains(c.name.as_str()))
        .map(|(_, c)| c.name.as_str())
        .collect();
    let base = match read.as_slice() {
        [c] => format!("{}_{c}_check", def.name),
        _ => format!("{}_check", def.name),
    };
    if !existing.iter().any(|c| c.name == base) {
        return base;
    }
    (1..)
        .map(|i| format!("{base}{i}"))
        .find(|n| !existing.iter().any(|c| &c.name == n))
        .unwrap_or(base)
}

async fn create_index(s: &mut Session, ci: CreateIndex) -> SqlResult<Output> {
    if ci.predicate.is_some() {
        return Err(SqlError::unsupported(
            "partial indexes are not supported yet",
        ));
    }
    let catalog = s.engine().catalog();
    let table = resolve_table(&catalog, &ci.table_name, s.default_schema().as_deref())?;
    let columns = index_columns(&table, &ci.columns)?;
    let schema = table.schema.clone();
    let name = match &ci.name {
        Some(n) => object_name_parts(n).last().cloned().unwrap_or_default(),
        None => {
            let cols: Vec<&str> = columns
                .iter()
                .map(|&i| table.columns[i].name.as_str())
                .collect();
            unique_name(
                &catalog,
                &schema,
                &format!("{}_{}_idx", table.name, cols.join("_")),
            )
        }
    };
    let if_not_exists = ci.if_not_exists;
    let unique = ci.unique;
    let table_id = table.id;
    let mut existed = false;
    s.engine()
        .ddl(|c: &mut Catalog| {
            if c.relation_exists(&schema, &name) {
                if if_not_exists {
                    existed = true;
                    return Ok(vec![]);
                }
                return Err(SqlError::DuplicateTable(name.clone()));
            }
            let id = c.allocate_index_id();
            let oid = c.allocate_oid();
            let t = c.table_mut(table_id)?;
            t.indexes.push(IndexDef {
                unique,
                ..IndexDef::new(id, oid, name.clone(), columns)
            });
            Ok(vec![])
        })
        .await?;
    let _ = existed;
    Ok(Output::Command("CREATE INDEX".into()))
}

async fn drop(
    s: &mut Session,
    txn: &Arc<Transaction>,
    object_type: ObjectType,
    if_exists: bool,
    names: Vec<ObjectName>,
    cascade: bool,
) -> SqlResult<Output> {
    let catalog = s.engine().catalog();
    match object_type {
        ObjectType::Table => {
            let mut ids = Vec::new();
            for n in &names {
                let (schema, name) = qualified(n, s.default_schema().as_deref())?;
                match catalog.table_by_name(&schema, &name) {
                    Some(t) => {
                        // A partitioned table goes with its partitions; tables that inherit
                        // from it only with CASCADE.
                        ids.push(t.id);
                        let below = crate::partition::descendants(&catalog, t);
                        let named = |d: &TableDef| {
                            names.iter().any(|n| {
                                qualified(n, s.default_schema().as_deref())
                                    .is_ok_and(|(sc, nm)| sc == d.schema && nm == d.name)
                            })
                        };
                        let heirs = crate::partition::heirs(&catalog, t);
                        let unnamed: Vec<&(TableDef, String)> =
                            heirs.iter().filter(|(d, _)| !named(d)).collect();
                        if !unnamed.is_empty() && !cascade {
                            let lines: Vec<String> = unnamed
                                .iter()
                                .map(|(d, p)| format!("table {} depends on table {p}", d.name))
                                .collect();
                            return Err(SqlError::Detailed {
                                sqlstate: "2BP01",
                                message: format!(
                                    "cannot drop table {} because other objects depend on it",
                                    t.name
                                ),
                                detail: lines.join("\n"),
                                hint: Some(
                                    "Use DROP ... CASCADE to drop the dependent objects too."
                                        .into(),
                                ),
                            });
                        }
                        match unnamed.as_slice() {
                            [] => {}
                            [(one, _)] => s.notice(
                                "NOTICE",
                                "00000",
                                format!("drop cascades to table {}", one.name),
                            ),
                            many => {
                                let lines: Vec<String> = many
                                    .iter()
                                    .map(|(d, _)| format!("drop cascades to table {}", d.name))
                                    .collect();
                                s.notice_with_detail(
                                    "NOTICE",
                                    "00000",
                                    format!("drop cascades to {} other objects", many.len()),
                                    lines.join("\n"),
                                );
                            }
                        }
                        ids.extend(below.iter().map(|d| d.id));
                    }
                    None if catalog.view_by_name(&schema, &name).is_some() => {
                        return Err(SqlError::WrongObjectType(format!(
                            "\"{name}\" is not a table"
                        )))
                    }
                    None if if_exists => s.skipping_notice("table", &name),
                    None => return Err(SqlError::NoSuchTable(name)),
                }
            }
            ids.sort();
            ids.dedup();
            // Views that read the tables go with them (CASCADE) or keep them; MySQL leaves
            // such a view in place, invalid until the table is back.
            let dropped_tables: Vec<(String, &str)> = ids
                .iter()
                .filter_map(|id| catalog.table(*id).ok())
                .map(|t| (format!("{}.{}", t.schema, t.name), "table"))
                .collect();
            let view_deps = if s.is_mysql() {
                vec![]
            } else {
                crate::view::dependent_views(&catalog, &dropped_tables)
            };
            let dropped_views = crate::view::dropped_dependents(s, &view_deps, cascade)?;
            let deps = crate::foreign::outside_references(&catalog, &ids);
            if !deps.is_empty() && !cascade && s.foreign_key_checks() {
                let parent = catalog
                    .table(deps[0].1.parent)
                    .map(|t| t.name.clone())
                    .unwrap_or_default();
                return Err(crate::foreign::dependents_error(
                    s,
                    &format!("table {parent}"),
                    &deps,
                ));
            }
            let cascaded: Vec<(String, String)> = deps
                .iter()
                .map(|(t, f)| (f.name.clone(), t.name.clone()))
                .collect();
            let cut: Vec<(basalt_common::TableId, String)> =
                deps.iter().map(|(t, f)| (t.id, f.name.clone())).collect();
            if cascade {
                crate::foreign::cascade_notice(s, &cascaded);
            }
            for id in &ids {
                let writes = txn.discard_table(*id);
                s.keep_discarded(*id, writes);
            }
            s.engine()
                .ddl(|c: &mut Catalog| {
                    for (t, name) in &cut {
                        c.table_mut(*t)?.foreign_keys.retain(|f| f.name != *name);
                    }
                    for id in &ids {
                        c.tables.remove(id);
                        c.sequences
                            .retain(|_, seq| seq.owned_by.is_none_or(|(t, _)| t != *id));
                    }
                    for v in &dropped_views {
                        c.views.remove(v);
                    }
                    Ok::<_, SqlError>(vec![])
                })
                .await?;
            Ok(Output::Command("DROP TABLE".into()))
        }
        ObjectType::Index => {
            let mut targets = Vec::new();
            for n in &names {
                let (mut schema, name) = qualified(n, s.default_schema().as_deref())?;
                // An unqualified name finds the session's temporary indexes first.
                if let (Some(temp), [_]) = (s.temp_schema_name(), n.0.as_slice()) {
                    if catalog.index_by_name(&temp, &name).is_some() {
                        schema = temp;
                    }
                }
                match catalog.index_by_name(&schema, &name) {
                    Some((t, i)) if i.constraint => {
                        return Err(SqlError::DependentObjects(format!(
                            "cannot drop index {name} because constraint {name} on table {} requires it",
                            t.name
                        )))
                    }
                    Some((t, i)) => targets.push((t.id, i.id)),
                    None if if_exists => s.skipping_notice("index", &name),
                    None => return Err(SqlError::UndefinedIndex(name)),
                }
            }
            s.engine()
                .ddl(|c: &mut Catalog| {
                    for (t, i) in &targets {
                        c.table_mut(*t)?.indexes.retain(|x| x.id != *i);
                    }
                    Ok::<_, SqlError>(vec![])
                })
                .await?;
            Ok(Output::Command("DROP INDEX".into()))
        }
        ObjectType::Schema => {
            let mut schemas = Vec::new();
            for n in &names {
                let schema = object_name_parts(n).last().cloned().unwrap_or_default();
                if !catalog.schemas.contains_key(&schema) {
                    if if_exists {
                        s.skipping_notice("schema", &schema);
                        continue;
                    }
                    return Err(SqlError::UndefinedSchema(schema));
                }
                let tables: Vec<_> = catalog
                    .tables
                    .values()
                    .filter(|t| t.schema == schema)
                    .collect();
                let has_views = catalog.views.values().any(|v| v.schema == schema);
                if (!tables.is_empty() || has_views) && !cascade {
                    return Err(SqlError::DependentObjects(format!(
                        "cannot drop schema {schema} because other objects depend on it"
                    )));
                }
                for t in tables {
                    let writes = txn.discard_table(t.id);
                    s.keep_discarded(t.id, writes);
                }
                schemas.push(schema);
            }
            s.engine()
                .ddl(|c: &mut Catalog| {
                    for schema in &schemas {
                        crate::temp::remove_schema(c, schema);
                    }
                    Ok::<_, SqlError>(vec![])
                })
                .await?;
            Ok(Output::Command("DROP SCHEMA".into()))
        }
        other => Err(SqlError::unsupported(format!(
            "DROP {other} is not supported"
        ))),
    }
}

async fn truncate(s: &mut Session, txn: &Arc<Transaction>, t: Truncate) -> SqlResult<Output> {
    let catalog = s.engine().catalog();
    let mut ids = Vec::new();
    for target in &t.table_names {
        let def = resolve_table(&catalog, &target.name, s.default_schema().as_deref())?;
        ids.push(def.id);
        ids.extend(
            crate::partition::descendants(&catalog, &def)
                .iter()
                .map(|d| d.id),
        );
    }
    let cascade = matches!(
        t.cascade,
        Some(datafusion::sql::sqlparser::ast::CascadeOption::Cascade)
    );
    loop {
        let deps = crate::foreign::outside_references(&catalog, &ids);
        let Some((child, fk)) = deps.first() else {
            break;
        };
        if !cascade {
            let parent = catalog
                .table(fk.parent)
                .map(|p| p.name.clone())
                .unwrap_or_default();
            return Err(SqlError::Detailed {
                sqlstate: "0A000",
                message: "cannot truncate a table referenced in a foreign key constraint".into(),
                detail: format!("Table \"{}\" references \"{parent}\".", child.name),
                hint: Some(format!(
                    "Truncate table \"{}\" at the same time, or use TRUNCATE ... CASCADE.",
                    child.name
                )),
            });
        }
        let mut added: Vec<basalt_common::TableId> = deps.iter().map(|(t, _)| t.id).collect();
        added.sort();
        added.dedup();
        for id in added {
            if let Ok(t) = catalog.table(id) {
                let name = t.name.clone();
                s.notice(
                    "NOTICE",
                    "00000",
                    format!("truncate cascades to table \"{name}\""),
                );
            }
            ids.push(id);
        }
    }
    let restart = matches!(
        t.identity,
        Some(datafusion::sql::sqlparser::ast::TruncateIdentityOption::Restart)
    );
    for id in &ids {
        let writes = txn.discard_table(*id);
        s.keep_discarded(*id, writes);
    }
    s.note_truncated(&ids);
    let restart_seqs: Vec<String> = if restart {
        catalog
            .sequences
            .values()
            .filter(|q| q.owned_by.is_some_and(|(t, _)| ids.contains(&t)))
            .map(|q| q.name.clone())
            .collect()
    } else {
        vec![]
    };
    let truncated = ids.clone();
    s.engine()
        .ddl(move |_c: &mut Catalog| Ok::<_, SqlError>(truncated))
        .await?;
    for seq in restart_seqs {
        s.engine().restart_sequence(&seq)?;
    }
    Ok(Output::Command("TRUNCATE TABLE".into()))
}

async fn alter_table(s: &mut Session, txn: &Arc<Transaction>, at: AlterTable) -> SqlResult<Output> {
    let catalog = s.engine().catalog();
    let def = match resolve_table(&catalog, &at.name, s.default_schema().as_deref()) {
        Ok(d) => d,
        Err(SqlError::UndefinedTable(_)) if at.if_exists => {
            return Ok(Output::Command("ALTER TABLE".into()))
        }
        Err(e) => return Err(e),
    };
    for op in at.operations {
        alter_one(s, txn, def.id, op).await?;
    }
    Ok(Output::Command("ALTER TABLE".into()))
}

async fn alter_one(
    s: &mut Session,
    txn: &Arc<Transaction>,
    id: basalt_common::TableId,
    op: AlterTableOperation,
) -> SqlResult<()> {
    let catalog = s.engine().catalog();
    let def = catalog.table(id).map_err(SqlError::from)?.clone();
    match op {
        AlterTableOperation::AttachPartition {
            partition: Partition::Partitions(items),
        } => match items.as_slice() {
            [Expr::CompoundIdentifier(child), Expr::Value(bound)] => {
                let child = ObjectName::from(child.clone());
                let bound = match &bound.value {
                    datafusion::sql::sqlparser::ast::Value::SingleQuotedString(t) => t.clone(),
                    other => other.to_string(),
                };
                crate::partition::attach(s, txn, &def, &child, &bound).await
            }
            _ => Err(SqlError::unsupported("this form of ATTACH PARTITION")),
        },
        AlterTableOperation::DetachPartition {
            partition: Partition::Partitions(items),
        } => match items.as_slice() {
            [Expr::CompoundIdentifier(child)] => {
                let child = ObjectName::from(child.clone());
                crate::partition::detach(s, &def, &child).await
            }
            _ => Err(SqlError::unsupported("this form of DETACH PARTITION")),
        },
        AlterTableOperation::AddColumn {
            if_not_exists,
            column_def,
            ..
        } => {
            let col = new_column(s, &column_def)?;
            if def.column_position(&col.def.name).is_some() {
                if if_not_exists {
                    return Ok(());
                }
                return Err(SqlError::DuplicateColumn(col.def.name, def.name));
            }
            if col.primary_key {
                return Err(SqlError::unsupported(
                    "adding a primary key column is not supported",
                ));
            }
            if def.columns.len() >= MAX_COLUMNS {
                return Err(SqlError::TooManyColumns(format!(
                    "tables can have at most {MAX_COLUMNS} columns"
                )));
            }
            if let Some(d) = &col.def.default {
                crate::eval::validate_default(s, d)?;
            }
            let has_rows = crate::dml::count_rows(txn, s, &def) > 0;
            if !col.def.nullable && col.def.default.is_none() && !col.serial_or_identity && has_rows
            {
                return Err(SqlError::NotNullViolation {
                    column: col.def.name,
                    table: def.name,
                    detail: String::new(),
                });
            }
            let pos = def.columns.len();
            let schema = def.schema.clone();
            let table_name = def.name.clone();
            let mut checks = Vec::new();
            for (cname, expr) in &col.checks {
                checks.push((cname.clone(), expr.clone()));
            }
            let unique = col.unique.clone();
            let serial = col.serial_or_identity;
            let new_col = col.def.clone();
            s.engine()
                .ddl(|c: &mut Catalog| {
                    let seq_name = if serial {
                        Some(unique_name(
                            c,
                            &schema,
                            &format!("{table_name}_{}_seq", new_col.name),
                        ))
                    } else {
                        None
                    };
                    let index = unique.map(|spec| {
                        let name = spec.name.clone().unwrap_or_else(|| {
                            unique_name(c, &schema, &format!("{table_name}_{}_key", new_col.name))
                        });
                        spec.index(c.allocate_index_id(), c.allocate_oid(), name, vec![pos])
                    });
                    let seq_oid = c.allocate_oid();
                    let t = c.table_mut(id)?;
                    let mut colx = new_col.clone();
                    if let Some(seq) = &seq_name {
                        colx.default = Some(format!("nextval('{schema}.{seq}')"));
                    }
                    t.columns.push(colx);
                    for (cname, expr) in &checks {
                        let name = cname
                            .clone()
                            .unwrap_or_else(|| check_name(t, expr, &t.checks));
                        t.checks.push(CheckDef {
                            name,
                            expr: expr.clone(),
                            no_inherit: false,
                        });
                    }
                    if let Some(index) = index {
                        t.indexes.push(index);
                    }
                    if let Some(seq) = seq_name {
                        let q = format!("{schema}.{seq}");
                        c.sequences.insert(
                            q.clone(),
                            SequenceDef {
                                name: q,
                                oid: seq_oid,
                                start: 1,
                                increment: 1,
                                owned_by: Some((id, pos)),
                                min: None,
                                max: None,
                                cycle: false,
                                reserved: None,
                            },
                        );
                    }
                    Ok::<_, SqlError>(vec![])
                })
                .await?;
            // Existing rows take the default (evaluated per row, like PostgreSQL).
            let new_def = s
                .engine()
                .catalog()
                .table(id)
                .map_err(SqlError::from)?
                .clone();
            if has_rows && new_def.columns[pos].default.is_some() {
                crate::dml::fill_column_default(s, txn, &new_def, pos).await?;
            }
            Ok(())
        }
        AlterTableOperation::DropColumn {
            column_names,
            if_exists,
            drop_behavior,
            ..
        } => {
            for name in column_names {
                let cname = ident(&name);
                let Some(pos) = def.column_position(&cname) else {
                    if if_exists {
                        continue;
                    }
                    return Err(SqlError::UndefinedColumn(format!(
                        "column \"{cname}\" of relation \"{}\" does not exist",
                        def.name
                    )));
                };
                if def.primary_key.as_ref().is_some_and(|pk| pk.contains(&pos)) {
                    return Err(SqlError::unsupported(
                        "dropping a primary-key column is not supported yet",
                    ));
                }
                let catalog = s.engine().catalog();
                let deps: Vec<_> = catalog
                    .referencing(id)
                    .filter(|(t, f)| t.id != id && f.parent_columns.contains(&pos))
                    .collect();
                let cascade = matches!(
                    drop_behavior,
                    Some(datafusion::sql::sqlparser::ast::DropBehavior::Cascade)
                );
                if !deps.is_empty() && !cascade {
                    return Err(crate::foreign::dependents_error(
                        s,
                        &format!("column {cname} of table {}", def.name),
                        &deps,
                    ));
                }
                let cut: Vec<(basalt_common::TableId, String)> =
                    deps.iter().map(|(t, f)| (t.id, f.name.clone())).collect();
                let cascaded: Vec<(String, String)> = deps
                    .iter()
                    .map(|(t, f)| (f.name.clone(), t.name.clone()))
                    .collect();
                crate::foreign::cascade_notice(s, &cascaded);
                s.engine()
                    .ddl(|c: &mut Catalog| {
                        for (t, name) in &cut {
                            c.table_mut(*t)?.foreign_keys.retain(|f| f.name != *name);
                        }
                        for t in c.tables.values_mut() {
                            t.foreign_keys
                                .retain(|f| !(f.parent == id && f.parent_columns.contains(&pos)));
                        }
                        let t = c.table_mut(id)?;
                        t.foreign_keys.retain(|f| !f.columns.contains(&pos));
                        t.columns[pos].dropped = true;
                        t.columns[pos].name = format!("........pg.dropped.{}........", pos + 1);
                        t.indexes.retain(|i| !i.columns.contains(&pos));
                        t.checks.retain(|k| !mentions(&k.expr, &cname));
                        c.sequences.retain(|_, q| q.owned_by != Some((id, pos)));
                        Ok::<_, SqlError>(vec![])
                    })
                    .await?;
            }
            Ok(())
        }
        AlterTableOperation::RenameColumn {
            old_column_name,
            new_column_name,
        } => {
            let old = ident(&old_column_name);
            let new = ident(&new_column_name);
            let pos = def.column_position(&old).ok_or_else(|| {
                SqlError::UndefinedColumn(format!("column \"{old}\" does not exist"))
            })?;
            if def.column_position(&new).is_some() {
                return Err(SqlError::DuplicateColumn(new, def.name));
            }
            s.engine()
                .ddl(|c: &mut Catalog| {
                    let t = c.table_mut(id)?;
                    t.columns[pos].name = new.clone();
                    for k in &mut t.checks {
                        k.expr = rename_identifier(&k.expr, &old, &new);
                    }
                    Ok::<_, SqlError>(vec![])
                })
                .await
        }
        AlterTableOperation::RenameTable { table_name } => {
            let (RenameTableNameKind::As(n) | RenameTableNameKind::To(n)) = table_name;
            let new = object_name_parts(&n).last().cloned().unwrap_or_default();
            let schema = def.schema.clone();
            s.engine()
                .ddl(|c: &mut Catalog| {
                    if c.relation_exists(&schema, &new) {
                        return Err(SqlError::DuplicateTable(new.clone()));
                    }
                    c.table_mut(id)?.name = new.clone();
                    Ok(vec![])
                })
                .await
        }
        AlterTableOperation::AlterColumn { column_name, op } => {
            let cname = ident(&column_name);
            let pos = def.column_position(&cname).ok_or_else(|| {
                SqlError::UndefinedColumn(format!("column \"{cname}\" does not exist"))
            })?;
            match op {
                AlterColumnOperation::SetNotNull => {
                    if crate::dml::column_has_nulls(s, txn, &def, pos).await? {
                        return Err(SqlError::NotNullViolation {
                            column: cname,
                            table: def.name,
                            detail: String::new(),
                        });
                    }
                    set_column(s, id, pos, |c| c.nullable = false).await
                }
                AlterColumnOperation::DropNotNull => {
                    if def.primary_key.as_ref().is_some_and(|pk| pk.contains(&pos)) {
                        return Err(SqlError::InvalidTableDefinition(format!(
                            "column \"{cname}\" is in a primary key"
                        )));
                    }
                    set_column(s, id, pos, |c| c.nullable = true).await
                }
                AlterColumnOperation::SetDefault { value } => {
                    let text = value.to_string();
                    crate::eval::validate_default(s, &text)?;
                    set_column(s, id, pos, move |c| c.default = Some(text)).await
                }
                AlterColumnOperation::DropDefault => {
                    set_column(s, id, pos, |c| c.default = None).await
                }
                other => Err(SqlError::unsupported(format!(
                    "ALTER COLUMN {other} is not supported yet"
                ))),
            }
        }
        AlterTableOperation::AddConstraint {
            constraint: TableConstraint::ForeignKey(fk),
            not_valid,
        } => {
            let catalog = s.engine().catalog();
            let (mut fdef, _) = crate::foreign::define(s, &catalog, &def, &fk, None, &[], false)?;
            if def.foreign_keys.iter().any(|f| f.name == fdef.name)
                || def.checks.iter().any(|c| c.name == fdef.name)
            {
                return Err(SqlError::DuplicateObject(format!(
                    "constraint \"{}\" for relation \"{}\" already exists",
                    fdef.name, def.name
                )));
            }
            if !not_valid {
                crate::foreign::validate_existing(s, txn, &catalog, &def, &fdef)?;
            }
            s.engine()
                .ddl(|c: &mut Catalog| {
                    if !c.tables.contains_key(&fdef.parent) {
                        return Err(SqlError::Internal(
                            "the referenced table was dropped meanwhile".into(),
                        ));
                    }
                    fdef.oid = c.allocate_oid();
                    c.table_mut(id)?.foreign_keys.push(fdef);
                    Ok::<_, SqlError>(vec![])
                })
                .await?;
            Ok(())
        }
        AlterTableOperation::AddConstraint { constraint, .. } => match constraint {
            TableConstraint::Unique(u) => {
                let cols = index_columns(&def, &u.columns)?;
                let schema = def.schema.clone();
                let table_name = def.name.clone();
                let spec = UniqueSpec::from_ast(&u, u.name.as_ref().map(ident))?;
                let cname = spec.name.clone();
                s.engine()
                    .ddl(|c: &mut Catalog| {
                        let names: Vec<String> =
                            cols.iter().map(|&i| def.columns[i].name.clone()).collect();
                        let name = cname.unwrap_or_else(|| {
                            unique_name(
                                c,
                                &schema,
                                &format!("{table_name}_{}_{}", names.join("_"), spec.suffix()),
                            )
                        });
                        let iid = c.allocate_index_id();
                        let oid = c.allocate_oid();
                        c.table_mut(id)?
                            .indexes
                            .push(spec.index(iid, oid, name, cols.clone()));
                        Ok::<_, SqlError>(vec![])
                    })
                    .await
            }
            TableConstraint::Check(chk) => {
                let expr = chk.expr.to_string();
                crate::eval::validate_table_expr(s, &def, &expr)?;
                let written = chk.name.as_ref().map(ident);
                let (written, no_inherit) = match written
                    .as_deref()
                    .and_then(|n| n.strip_suffix(NO_INHERIT_MARK))
                {
                    Some(rest) => ((!rest.is_empty()).then(|| rest.to_owned()), true),
                    None => (written, false),
                };
                if no_inherit && def.partition_key.is_some() {
                    return Err(SqlError::Detailed {
                        sqlstate: "42P16",
                        message: format!(
                            "cannot add NO INHERIT constraint to partitioned table \"{}\"",
                            def.name
                        ),
                        detail: String::new(),
                        hint: None,
                    });
                }
                let name = written.unwrap_or_else(|| check_name(&def, &expr, &def.checks));
                // The constraint holds for the table's partitions and the tables inheriting
                // from it too (unless NO INHERIT), their rows checked first.
                let mut targets = vec![def.clone()];
                if !no_inherit {
                    targets.extend(descendants(&s.engine().catalog(), id));
                }
                for t in &targets {
                    crate::dml::verify_check(s, txn, t, &name, &expr).await?;
                }
                s.engine()
                    .ddl(|c: &mut Catalog| {
                        for t in &targets {
                            let table = c.table_mut(t.id)?;
                            if t.id != id && table.checks.iter().any(|k| k.name == name) {
                                continue;
                            }
                            table.checks.push(CheckDef {
                                name: name.clone(),
                                expr: expr.clone(),
                                no_inherit: no_inherit && t.id == id,
                            });
                        }
                        Ok::<_, SqlError>(vec![])
                    })
                    .await
            }
            TableConstraint::PrimaryKey(p) => {
                refuse_rekey_over_own_writes(txn, &def)?;
                let cols = index_columns(&def, &p.columns)?;
                let cname = p.name.as_ref().map(ident);
                let table_name = def.name.clone();
                s.engine()
                    .ddl(|c: &mut Catalog| {
                        let name = cname.unwrap_or_else(|| {
                            unique_name(c, &def.schema, &format!("{table_name}_pkey"))
                        });
                        if c.relation_exists(&def.schema, &name) {
                            return Err(SqlError::DuplicateTable(name));
                        }
                        let t = c.table_mut(id)?;
                        if t.primary_key.is_some() {
                            return Err(SqlError::InvalidTableDefinition(format!(
                                "multiple primary keys for table \"{table_name}\" are not allowed"
                            )));
                        }
                        for &col in &cols {
                            t.columns[col].nullable = false;
                        }
                        t.primary_key = Some(cols);
                        t.primary_key_name = Some(name);
                        Ok(vec![])
                    })
                    .await
            }
            other => Err(SqlError::unsupported(format!(
                "ADD CONSTRAINT {other} is not supported yet"
            ))),
        },
        AlterTableOperation::SetOptionsParens { options } => {
            let mut reloptions = Vec::new();
            for option in &options {
                let SqlOption::KeyValue { key, value } = option else {
                    return Err(SqlError::unsupported(format!("table option {option}")));
                };
                if ident(key) != "columnar" {
                    reloptions.push(reloption(&ident(key), value)?);
                }
            }
            if !reloptions.is_empty() {
                s.engine()
                    .ddl(|c: &mut Catalog| {
                        let t = c.table_mut(id)?;
                        for option in &reloptions {
                            let name = option.split('=').next().unwrap_or_default();
                            t.reloptions
                                .retain(|o| o.split('=').next().unwrap_or_default() != name);
                            t.reloptions.push(option.clone());
                        }
                        Ok::<_, SqlError>(vec![])
                    })
                    .await?;
            }
            for option in options {
                let SqlOption::KeyValue { key, value } = &option else {
                    continue;
                };
                if ident(key) != "columnar" {
                    continue;
                }
                let text = value.to_string().trim_matches('\'').to_lowercase();
                let on = match text.as_str() {
                    "on" | "true" | "1" | "yes" => true,
                    "off" | "false" | "0" | "no" => false,
                    _ => {
                        return Err(SqlError::InvalidParameterValue(format!(
                            "invalid value for option \"columnar\": {value}"
                        )))
                    }
                };
                set_columnar(s, id, on).await?;
            }
            Ok(())
        }
        AlterTableOperation::DropPrimaryKey { .. } => match def.primary_key_name.clone() {
            Some(name) => {
                refuse_rekey_over_own_writes(txn, &def)?;
                drop_primary_key(s, id, &name).await
            }
            None => Err(SqlError::UndefinedIndex("PRIMARY".into())),
        },
        AlterTableOperation::DropConstraint {
            name, if_exists, ..
        } => {
            let cname = ident(&name);
            if def.primary_key_name.as_deref() == Some(cname.as_str()) {
                refuse_rekey_over_own_writes(txn, &def)?;
                return drop_primary_key(s, id, &cname).await;
            }
            let exists = def.checks.iter().any(|c| c.name == cname)
                || def.indexes.iter().any(|i| i.constraint && i.name == cname)
                || def.foreign_keys.iter().any(|f| f.name == cname);
            if let Some(index) = def.indexes.iter().find(|i| i.constraint && i.name == cname) {
                let catalog = s.engine().catalog();
                let deps: Vec<_> = catalog
                    .referencing(id)
                    .filter(|(_, f)| {
                        f.parent_columns.len() == index.columns.len()
                            && f.parent_columns.iter().all(|c| index.columns.contains(c))
                    })
                    .collect();
                if !deps.is_empty() {
                    return Err(crate::foreign::dependents_error(
                        s,
                        &format!("constraint {cname} on table {}", def.name),
                        &deps,
                    ));
                }
            }
            if !exists {
                if if_exists {
                    return Ok(());
                }
                return Err(SqlError::UndefinedIndex(cname));
            }
            // A CHECK constraint the partitions and heirs took from this table goes with it.
            let inherited = def
                .checks
                .iter()
                .find(|k| k.name == cname && !k.no_inherit)
                .map(|k| k.expr.clone());
            let heirs: Vec<basalt_common::TableId> = match &inherited {
                Some(_) => descendants(&s.engine().catalog(), id)
                    .iter()
                    .map(|t| t.id)
                    .collect(),
                None => Vec::new(),
            };
            s.engine()
                .ddl(|c: &mut Catalog| {
                    let t = c.table_mut(id)?;
                    t.checks.retain(|k| k.name != cname);
                    t.indexes.retain(|i| !(i.constraint && i.name == cname));
                    t.foreign_keys.retain(|f| f.name != cname);
                    if let Some(expr) = &inherited {
                        for heir in &heirs {
                            c.table_mut(*heir)?
                                .checks
                                .retain(|k| !(k.name == cname && &k.expr == expr));
                        }
                    }
                    Ok::<_, SqlError>(vec![])
                })
                .await
        }
        other => Err(SqlError::unsupported(format!(
            "ALTER TABLE {other} is not supported yet"
        ))),
    }
}

/// Adding or dropping a primary key re-keys the committed rows at once; rows this
/// transaction wrote and has not committed would keep their old keys, so that is refused.
fn refuse_rekey_over_own_writes(txn: &Transaction, def: &TableDef) -> SqlResult<()> {
    if txn.has_writes_to(def.id) {
        return Err(SqlError::unsupported(format!(
            "adding or dropping the primary key of \"{}\" in the transaction that wrote to it \
             is not supported; commit the rows first",
            def.name
        )));
    }
    Ok(())
}

/// Drops the primary key: rows are keyed by hidden row ids again; its columns stay NOT NULL,
/// as in PostgreSQL.
async fn drop_primary_key(
    s: &mut Session,
    id: basalt_common::TableId,
    name: &str,
) -> SqlResult<()> {
    s.engine()
        .ddl(|c: &mut Catalog| {
            let t = c.table_mut(id)?;
            if t.primary_key_name.as_deref() != Some(name) {
                return Err(SqlError::UndefinedIndex(name.to_owned()));
            }
            t.primary_key = None;
            t.primary_key_name = None;
            Ok(vec![])
        })
        .await
}

/// One PostgreSQL storage parameter of a table, checked as PostgreSQL checks it, as
/// `name=value` (Basalt keeps it for `pg_class.reloptions` and does not apply it).
fn reloption(name: &str, value: &Expr) -> SqlResult<String> {
    enum Kind {
        Int(i64, i64),
        Real(f64, f64),
        Bool,
        IndexCleanup,
    }
    const INT_MAX: i64 = i32::MAX as i64;
    let bare = name.strip_prefix("toast.").unwrap_or(name);
    let kind = match bare {
        "fillfactor" if bare == name => Kind::Int(10, 100),
        "toast_tuple_target" if bare == name => Kind::Int(128, 8160),
        "parallel_workers" if bare == name => Kind::Int(0, 1024),
        "autovacuum_vacuum_threshold" | "autovacuum_analyze_threshold" => Kind::Int(0, INT_MAX),
        "autovacuum_vacuum_insert_threshold" | "log_autovacuum_min_duration" => {
            Kind::Int(-1, INT_MAX)
        }
        "autovacuum_vacuum_cost_limit" => Kind::Int(1, 10000),
        "autovacuum_freeze_min_age" => Kind::Int(0, 1_000_000_000),
        "autovacuum_freeze_max_age" => Kind::Int(100_000, 2_000_000_000),
        "autovacuum_freeze_table_age" => Kind::Int(0, 2_000_000_000),
        "autovacuum_multixact_freeze_min_age" => Kind::Int(0, 1_000_000_000),
        "autovacuum_multixact_freeze_max_age" => Kind::Int(10_000, 2_000_000_000),
        "autovacuum_multixact_freeze_table_age" => Kind::Int(0, 2_000_000_000),
        "autovacuum_vacuum_scale_factor"
        | "autovacuum_vacuum_insert_scale_factor"
        | "autovacuum_analyze_scale_factor" => Kind::Real(0.0, 100.0),
        "autovacuum_vacuum_cost_delay" => Kind::Real(-1.0, 100.0),
        "autovacuum_enabled" | "vacuum_truncate" => Kind::Bool,
        "user_catalog_table" if bare == name => Kind::Bool,
        "vacuum_index_cleanup" => Kind::IndexCleanup,
        _ => {
            return Err(SqlError::InvalidParameterValue(format!(
                "unrecognized parameter \"{name}\""
            )))
        }
    };
    let text = match value {
        Expr::Value(v) => match &v.value {
            datafusion::sql::sqlparser::ast::Value::SingleQuotedString(t) => t.clone(),
            other => other.to_string(),
        },
        Expr::UnaryOp { .. } => value.to_string().replace(' ', ""),
        other => other.to_string(),
    };
    let bounds = |lo: String, hi: String| SqlError::Detailed {
        sqlstate: "22023",
        message: format!("value {text} out of bounds for option \"{bare}\""),
        detail: format!("Valid values are between \"{lo}\" and \"{hi}\"."),
        hint: None,
    };
    match kind {
        Kind::Int(lo, hi) => {
            let n: i64 = text.trim().parse().map_err(|_| {
                SqlError::InvalidParameterValue(format!(
                    "invalid value for integer option \"{bare}\": {text}"
                ))
            })?;
            if n < lo || n > hi {
                return Err(bounds(lo.to_string(), hi.to_string()));
            }
        }
        Kind::Real(lo, hi) => {
            let x: f64 = text.trim().parse().map_err(|_| {
                SqlError::InvalidParameterValue(format!(
                    "invalid value for floating point option \"{bare}\": {text}"
                ))
            })?;
            if !(lo..=hi).contains(&x) {
                return Err(bounds(format!("{lo:.6}"), format!("{hi:.6}")));
            }
        }
        Kind::Bool => {
            let word = text.trim().to_lowercase();
            let known = ["true", "false", "yes", "no", "on", "off", "1", "0"];
            if !known.contains(&word.as_str()) {
                return Err(SqlError::InvalidParameterValue(format!(
                    "invalid value for boolean option \"{bare}\": {text}"
                )));
            }
        }
        Kind::IndexCleanup => {
            if !matches!(
                text.to_lowercase().as_str(),
                "auto" | "on" | "off" | "true" | "false"
            ) {
                return Err(SqlError::InvalidParameterValue(format!(
                    "invalid value for enum option \"{bare}\": {text}"
                )));
            }
        }
    }
    Ok(format!("{name}={text}"))
}

/// Loads a table into the column engine or lets it go (`ALTER TABLE … SET (columnar = …)`,
/// MySQL `SECONDARY_LOAD` / `SECONDARY_UNLOAD`). The load runs beside writers; until it is
/// done, scans read the row engine (or wait, when the column engine is forced).
pub(crate) async fn set_columnar(
    s: &Session,
    id: basalt_common::TableId,
    on: bool,
) -> SqlResult<()> {
    s.engine()
        .ddl(|c: &mut Catalog| {
            c.table_mut(id)?.columnar = on;
            Ok::<_, SqlError>(vec![])
        })
        .await
}

async fn set_column(
    s: &mut Session,
    id: basalt_common::TableId,
    pos: usize,
    f: impl FnOnce(&mut ColumnDef),
) -> SqlResult<()> {
    s.engine()
        .ddl(|c: &mut Catalog| {
            f(&mut c.table_mut(id)?.columns[pos]);
            Ok::<_, SqlError>(vec![])
        })
        .await
}

fn mentions(expr: &str, column: &str) -> bool {
    expr.to_lowercase()
        .split(|ch: char| !ch.is_alphanumeric() && ch != '_')
        .any(|w| w == column)
}

/// Renames a column reference inside a stored expression.
fn rename_identifier(expr: &str, old: &str, new: &str) -> String {
    let Ok(mut parsed) = crate::eval::parse_expr(expr) else {
        return expr.to_owned();
    };
    struct Renamer<'a> {
        old: &'a str,
        new: &'a str,
    }
    impl VisitorMut for Renamer<'_> {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if let Expr::Identifier(i) = e {
                if ident(i) == self.old {
                    *i = Ident::new(self.new);
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ =
        datafusion::sql::sqlparser::ast::VisitMut::visit(&mut parsed, &mut Renamer { old, new });
    parsed.to_string()
}
