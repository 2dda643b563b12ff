//! PostgreSQL's system catalogs for Basalt's own objects.
//!
//! `datafusion-pg-catalog` provides the static catalogs (pg_type, pg_proc, pg_am …) and
//! derives pg_class/pg_attribute from Arrow schemas, which loses what Arrow does not know:
//! type modifiers (`varchar(20)`), NOT NULL, defaults, indexes and constraints, and knows
//! nothing of views. This overlay serves pg_namespace, pg_class, pg_attribute, pg_attrdef,
//! pg_index, pg_constraint and pg_views from Basalt's catalog instead (with Basalt's object
//! ids, consistent across them), in the column layout the crate uses, and delegates every
//! other table to the crate. A view's columns are those its query has when the catalog is
//! read: the query is planned then, as a statement reading the view plans it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use basalt_common::SqlType;
use basalt_storage::{Catalog, Engine, TableDef, ViewDef};
use datafusion::arrow::array::{new_null_array, ArrayRef, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{ColumnarValue, Volatility};

use crate::error::SqlError;
use crate::functions::TextFn;
use crate::view::{PlannerRef, ViewColumn};

const OVERLAID: [&str; 7] = [
    "pg_namespace",
    "pg_class",
    "pg_attribute",
    "pg_attrdef",
    "pg_index",
    "pg_constraint",
    "pg_views",
];
const PG_CATALOG_NAMESPACE_OID: i64 = 11;
const INFORMATION_SCHEMA_NAMESPACE_OID: i64 = 13_000;
const BTREE_AM_OID: i64 = 403;
const HEAP_AM_OID: i64 = 2;
/// The owner of every object: the bootstrap superuser.
const OWNER_OID: i64 = 10;
const OWNER_NAME: &str = "postgres";
/// Object ids derived for objects Basalt's catalog does not number itself (oids are int4 in
/// these catalogs): primary-key indexes, defaults, constraints.
const PK_INDEX_OID_BASE: i64 = 1_000_000_000;
const ATTRDEF_OID_BASE: i64 = 1_300_000_000;
const CONSTRAINT_OID_OFFSET: i64 = 500_000_000;
const CHECK_OID_BASE: i64 = 1_900_000_000;

pub struct PgCatalogOverlay {
    inner: Arc<dyn SchemaProvider>,
    engine: Arc<Engine>,
    /// Plans views, for their columns in pg_class and pg_attribute.
    planner: PlannerRef,
}

impl fmt::Debug for PgCatalogOverlay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PgCatalogOverlay")
    }
}

impl PgCatalogOverlay {
    pub fn new(
        inner: Arc<dyn SchemaProvider>,
        engine: Arc<Engine>,
        planner: PlannerRef,
    ) -> PgCatalogOverlay {
        PgCatalogOverlay {
            inner,
            engine,
            planner,
        }
    }
}

impl PgCatalogOverlay {
    /// pg_proc: datafusion-pg-catalog's rows (PostgreSQL's built-in functions) followed by
    /// the functions created in Basalt.
    async fn functions_with_builtins(
        &self,
        name: &str,
    ) -> DfResult<Option<Arc<dyn TableProvider>>> {
        use datafusion::catalog::view::ViewTable;
        use datafusion::datasource::provider_as_source;
        use datafusion::logical_expr::LogicalPlanBuilder;
        use datafusion::logical_expr::{col, lit};
        let Some(builtin) = self.inner.table(name).await? else {
            return Ok(None);
        };
        // `proacl` is an array (psql's `\df+` reads it with array_to_string); the crate has
        // it as text, NULL in every row.
        let acl = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));
        let schema = Arc::new(Schema::new(
            builtin
                .schema()
                .fields()
                .iter()
                .map(|f| match f.name().as_str() {
                    "proacl" => Field::new("proacl", acl.clone(), true),
                    _ => f.as_ref().clone(),
                })
                .collect::<Vec<_>>(),
        ));
        let columns: Vec<datafusion::logical_expr::Expr> = schema
            .fields()
            .iter()
            .map(|f| match f.name().as_str() {
                "proacl" => {
                    lit(ScalarValue::new_null_list(DataType::Utf8, true, 1)).alias("proacl")
                }
                n => col(format!("pg_proc.{n}")),
            })
            .collect();
        let catalog = self.engine.catalog();
        let batch = fill(&schema, &proc_rows(&catalog))?;
        let ours = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        let plan = LogicalPlanBuilder::scan("pg_proc", provider_as_source(builtin), None)?
            .project(columns)?
            .union(
                LogicalPlanBuilder::scan("pg_proc", provider_as_source(Arc::new(ours)), None)?
                    .build()?,
            )?
            .build()?;
        Ok(Some(Arc::new(ViewTable::new(plan, None))))
    }
}

#[async_trait]
impl SchemaProvider for PgCatalogOverlay {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let lower = name.to_ascii_lowercase();
        if lower == crate::colscan::STATUS_TABLE {
            return crate::colscan::status_table(&self.engine).map(Some);
        }
        if lower == "pg_proc" {
            return self.functions_with_builtins(name).await;
        }
        if !OVERLAID.contains(&lower.as_str()) {
            return self.inner.table(name).await;
        }
        let Some(template) = self.inner.table(name).await? else {
            return Ok(None);
        };
        let catalog = self.engine.catalog();
        let views = match lower.as_str() {
            "pg_class" | "pg_attribute" => {
                crate::view::planned_views(&self.planner, crate::view::in_order(&catalog)).await
            }
            _ => vec![],
        };
        let rows = rows_for(&lower, &catalog, &views);
        let batch = fill(&with_extra_columns(&lower, &template.schema()), &rows)?;
        Ok(Some(Arc::new(MemTable::try_new(
            batch.schema(),
            vec![vec![batch]],
        )?)))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name) || name.eq_ignore_ascii_case(crate::colscan::STATUS_TABLE)
    }
}

/// The `information_schema` of PostgreSQL sessions: DataFusion's, except `views`, which
/// DataFusion fills with every table (a base table with no definition) and PostgreSQL with
/// views only, and `columns`, where DataFusion has Arrow's type names and counts positions
/// from 0: both are served from Basalt's catalog in PostgreSQL's layout.
pub struct PgInformationSchema {
    inner: Arc<dyn SchemaProvider>,
    engine: Arc<Engine>,
    /// Plans views, for their columns.
    planner: PlannerRef,
}

impl fmt::Debug for PgInformationSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PgInformationSchema")
    }
}

impl PgInformationSchema {
    pub fn new(
        inner: Arc<dyn SchemaProvider>,
        engine: Arc<Engine>,
        planner: PlannerRef,
    ) -> PgInformationSchema {
        PgInformationSchema {
            inner,
            engine,
            planner,
        }
    }
}

#[async_trait]
impl SchemaProvider for PgInformationSchema {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if name.eq_ignore_ascii_case("columns") {
            let catalog = self.engine.catalog();
            let views =
                crate::view::planned_views(&self.planner, crate::view::in_order(&catalog)).await;
            let batch = info_columns(&catalog, &views)?;
            return Ok(Some(Arc::new(MemTable::try_new(
                batch.schema(),
                vec![vec![batch]],
            )?)));
        }
        if !name.eq_ignore_ascii_case("views") {
            return self.inner.table(name).await;
        }
        // PostgreSQL's columns: Basalt's views are not updatable.
        let columns = [
            "table_catalog",
            "table_schema",
            "table_name",
            "view_definition",
            "check_option",
            "is_updatable",
            "is_insertable_into",
            "is_trigger_updatable",
            "is_trigger_deletable",
            "is_trigger_insertable_into",
        ];
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| Field::new(*c, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let rows: Vec<CatalogRow> = crate::view::in_order(&self.engine.catalog())
            .into_iter()
            .map(|v| {
                let mut row = HashMap::from([
                    ("table_catalog", text(crate::session::DATABASE_NAME)),
                    ("table_schema", text(&v.schema)),
                    ("table_name", text(&v.name)),
                    ("view_definition", text(view_definition(v))),
                    ("check_option", text("NONE")),
                ]);
                for c in &columns[5..] {
                    row.insert(c, text("NO"));
                }
                row
            })
            .collect();
        let batch = fill(&schema, &rows)?;
        Ok(Some(Arc::new(MemTable::try_new(
            batch.schema(),
            vec![vec![batch]],
        )?)))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

/// The columns of `information_schema.columns`, in PostgreSQL 15's order, each marked when
/// it is a `cardinal_number` (bigint here; the others are text).
const INFO_COLUMNS: [(&str, bool); 44] = [
    ("table_catalog", false),
    ("table_schema", false),
    ("table_name", false),
    ("column_name", false),
    ("ordinal_position", true),
    ("column_default", false),
    ("is_nullable", false),
    ("data_type", false),
    ("character_maximum_length", true),
    ("character_octet_length", true),
    ("numeric_precision", true),
    ("numeric_precision_radix", true),
    ("numeric_scale", true),
    ("datetime_precision", true),
    ("interval_type", false),
    ("interval_precision", true),
    ("character_set_catalog", false),
    ("character_set_schema", false),
    ("character_set_name", false),
    ("collation_catalog", false),
    ("collation_schema", false),
    ("collation_name", false),
    ("domain_catalog", false),
    ("domain_schema", false),
    ("domain_name", false),
    ("udt_catalog", false),
    ("udt_schema", false),
    ("udt_name", false),
    ("scope_catalog", false),
    ("scope_schema", false),
    ("scope_name", false),
    ("maximum_cardinality", true),
    ("dtd_identifier", false),
    ("is_self_referencing", false),
    ("is_identity", false),
    ("identity_generation", false),
    ("identity_start", false),
    ("identity_increment", false),
    ("identity_maximum", false),
    ("identity_minimum", false),
    ("identity_cycle", false),
    ("is_generated", false),
    ("generation_expression", false),
    ("is_updatable", false),
];

/// `information_schema.columns`: every column of the tables and views of Basalt's schemas.
fn info_columns(catalog: &Catalog, views: &[(&ViewDef, Vec<ViewColumn>)]) -> DfResult<RecordBatch> {
    let schema: SchemaRef = Arc::new(Schema::new(
        INFO_COLUMNS
            .iter()
            .map(|(c, number)| {
                let ty = match number {
                    true => DataType::Int64,
                    false => DataType::Utf8,
                };
                Field::new(*c, ty, true)
            })
            .collect::<Vec<_>>(),
    ));
    let mut tables: Vec<&TableDef> = catalog.tables.values().collect();
    tables.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    let mut rows = Vec::new();
    for def in tables {
        // Positions are attnums: a dropped column leaves its number unused.
        for (pos, col) in def.live_columns() {
            let mut row = info_column(&def.schema, &def.name, &col.name, pos + 1, &col.ty);
            row.insert("is_nullable", text(if col.nullable { "YES" } else { "NO" }));
            match &col.default {
                Some(d) if !col.identity_always => {
                    row.insert("column_default", text(d));
                }
                _ => {}
            }
            if let Some((schema, name)) = col.domain.as_deref().and_then(|d| d.split_once('.')) {
                row.insert("domain_catalog", text(crate::session::DATABASE_NAME));
                row.insert("domain_schema", text(schema));
                row.insert("domain_name", text(name));
            }
            if let Some(p) = col.precision {
                row.insert("datetime_precision", int(i64::from(p)));
            }
            // (A BY DEFAULT identity column is kept as a serial one: its default shows.)
            let identity = col.identity_always;
            row.insert("is_identity", text(if identity { "YES" } else { "NO" }));
            if identity {
                row.insert("identity_generation", text("ALWAYS"));
            }
            row.insert("is_updatable", text("YES"));
            rows.push(row);
        }
    }
    for (view, columns) in views {
        for (n, column) in columns.iter().enumerate() {
            let ty = column.declared_type();
            let mut row = info_column(&view.schema, &view.name, &column.name, n + 1, ty);
            row.insert("is_nullable", text("YES"));
            row.insert("is_identity", text("NO"));
            row.insert("is_updatable", text("NO"));
            rows.push(row);
        }
    }
    fill(&schema, &rows)
}

/// The type-derived fields of one `information_schema.columns` row.
fn info_column(
    schema: &str,
    table: &str,
    column: &str,
    position: usize,
    ty: &SqlType,
) -> CatalogRow {
    let (data_type, udt) = info_type_names(ty);
    let mut row = CatalogRow::from([
        ("table_catalog", text(crate::session::DATABASE_NAME)),
        ("table_schema", text(schema)),
        ("table_name", text(table)),
        ("column_name", text(column)),
        ("ordinal_position", int(position as i64)),
        ("data_type", text(data_type)),
        ("udt_catalog", text(crate::session::DATABASE_NAME)),
        ("udt_schema", text("pg_catalog")),
        ("udt_name", text(udt)),
        ("dtd_identifier", text(position.to_string())),
        ("is_self_referencing", text("NO")),
        ("identity_cycle", text("NO")),
        ("is_generated", text("NEVER")),
    ]);
    let numbers: Option<(i64, i64, Option<i64>)> = match ty {
        SqlType::Int16 => Some((16, 2, Some(0))),
        SqlType::Int32 => Some((32, 2, Some(0))),
        SqlType::Int64 => Some((64, 2, Some(0))),
        SqlType::Float32 => Some((24, 2, None)),
        SqlType::Float64 => Some((53, 2, None)),
        SqlType::Numeric { precision, scale }
            if !crate::numeric::is_unconstrained(*precision, *scale) =>
        {
            Some((i64::from(*precision), 10, Some(i64::from(*scale))))
        }
        _ => None,
    };
    if let Some((precision, radix, scale)) = numbers {
        row.insert("numeric_precision", int(precision));
        row.insert("numeric_precision_radix", int(radix));
        if let Some(scale) = scale {
            row.insert("numeric_scale", int(scale));
        }
    } else if matches!(ty, SqlType::Numeric { .. }) {
        row.insert("numeric_precision_radix", int(10));
    }
    match ty {
        SqlType::Char(_) | SqlType::Varchar(_) | SqlType::Text => {
            // PostgreSQL's octet length: four bytes a character, or its 1 GB bound.
            let (chars, octets) = match ty.max_chars() {
                Some(n) => (Some(i64::from(n)), i64::from(n) * 4),
                None => (None, 1_073_741_824),
            };
            if let Some(n) = chars {
                row.insert("character_maximum_length", int(n));
            }
            row.insert("character_octet_length", int(octets));
        }
        SqlType::Date => {
            row.insert("datetime_precision", int(0));
        }
        SqlType::Time | SqlType::Timestamp | SqlType::TimestampTz | SqlType::Interval => {
            row.insert("datetime_precision", int(6));
        }
        _ => {}
    }
    row
}

/// PostgreSQL's `data_type` and `udt_name` of a column type.
fn info_type_names(ty: &SqlType) -> (&'static str, String) {
    let (data_type, udt) = match ty {
        SqlType::Bool => ("boolean", "bool"),
        SqlType::Int16 => ("smallint", "int2"),
        SqlType::Int32 => ("integer", "int4"),
        SqlType::Int64 => ("bigint", "int8"),
        SqlType::Float32 => ("real", "float4"),
        SqlType::Float64 => ("double precision", "float8"),
        SqlType::Numeric { .. } => ("numeric", "numeric"),
        SqlType::Char(_) => ("character", "bpchar"),
        SqlType::Varchar(_) => ("character varying", "varchar"),
        SqlType::Text => ("text", "text"),
        SqlType::Bytea => ("bytea", "bytea"),
        SqlType::Date => ("date", "date"),
        SqlType::Time => ("time without time zone", "time"),
        SqlType::Timestamp => ("timestamp without time zone", "timestamp"),
        SqlType::TimestampTz => ("timestamp with time zone", "timestamptz"),
        SqlType::Interval => ("interval", "interval"),
        SqlType::Array(element) => {
            return (
                "ARRAY",
                format!("_{}", info_type_names(element.element_type()).1),
            );
        }
    };
    (data_type, udt.to_owned())
}

/// One catalog row: column name -> value (absent columns get a neutral default).
type CatalogRow = HashMap<&'static str, ScalarValue>;

fn int(v: i64) -> ScalarValue {
    ScalarValue::Int64(Some(v))
}
fn text(v: impl Into<String>) -> ScalarValue {
    ScalarValue::Utf8(Some(v.into()))
}
fn boolean(v: bool) -> ScalarValue {
    ScalarValue::Boolean(Some(v))
}

fn rows_for(
    table: &str,
    catalog: &Catalog,
    views: &[(&ViewDef, Vec<ViewColumn>)],
) -> Vec<CatalogRow> {
    match table {
        "pg_namespace" => namespaces(catalog),
        "pg_class" => classes(catalog, views),
        "pg_attribute" => attributes(catalog, views),
        "pg_attrdef" => attrdefs(catalog),
        "pg_index" => indexes(catalog),
        "pg_views" => view_rows(catalog),
        _ => constraints(catalog),
    }
}

/// PostgreSQL's oid of the `plpgsql` language (pg_language).
const PLPGSQL_LANGUAGE_OID: i64 = 13_637;
const SQL_LANGUAGE_OID: i64 = 14;
const RECORD_TYPE_OID: i64 = 2249;

/// Every function created in Basalt, by schema, name and oid.
fn user_functions(catalog: &Catalog) -> Vec<&basalt_storage::catalog::FunctionDef> {
    let mut all: Vec<&basalt_storage::catalog::FunctionDef> =
        catalog.functions.values().flatten().collect();
    all.sort_by(|a, b| (&a.schema, &a.name, a.oid).cmp(&(&b.schema, &b.name, b.oid)));
    all
}

fn function_by_oid(catalog: &Catalog, oid: i64) -> Option<&basalt_storage::catalog::FunctionDef> {
    catalog
        .functions
        .values()
        .flatten()
        .find(|f| i64::from(f.oid) == oid)
}

/// PostgreSQL's name and oid of a type written in a function's declaration, without its
/// modifier (`int` is `integer`, `varchar(20)` is `character varying`), as PostgreSQL
/// shows argument and result types.
fn function_type(written: &str) -> (String, i64) {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    let lower = written.trim().to_lowercase();
    let pseudo = match lower.as_str() {
        "trigger" => Some(2279),
        "void" => Some(2278),
        "record" => Some(RECORD_TYPE_OID),
        _ => None,
    };
    if let Some(oid) = pseudo {
        return (lower, oid);
    }
    let parsed = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(written)
        .and_then(|mut p| p.parse_data_type());
    match parsed.map(|dt| crate::types::column_type(&dt)) {
        Ok(Ok(t)) => {
            let name = t.ty.pg_name();
            // `numeric(10,2)[]` is `numeric[]`: the modifier is the text in parentheses.
            let name = match (name.find('('), name.find(')')) {
                (Some(open), Some(close)) if open < close => {
                    format!("{}{}", &name[..open], &name[close + 1..])
                }
                _ => name,
            };
            (name, pg_type_and_typmod(&t.ty).0)
        }
        _ => (lower, 0),
    }
}

fn declared_type_name(written: &str) -> String {
    function_type(written).0
}

/// `pg_get_function_result`: `integer`, `SETOF integer` or `TABLE(a integer, …)`.
fn function_result(f: &basalt_storage::catalog::FunctionDef) -> String {
    if let Some(inner) = f
        .returns
        .strip_prefix("TABLE(")
        .and_then(|r| r.strip_suffix(')'))
    {
        use datafusion::sql::sqlparser::ast::{CreateTable, Statement};
        let parsed = crate::session::parse_sql(&format!("CREATE TABLE t ({inner})"));
        let Ok(Some(Statement::CreateTable(CreateTable { columns, .. }))) =
            parsed.map(|mut v| v.pop())
        else {
            return f.returns.clone();
        };
        let columns: Vec<String> = columns
            .iter()
            .map(|c| {
                format!(
                    "{} {}",
                    crate::pgformat::quote_ident(&crate::ddl::ident(&c.name)),
                    declared_type_name(&c.data_type.to_string())
                )
            })
            .collect();
        return format!("TABLE({})", columns.join(", "));
    }
    let ty = declared_type_name(&f.returns);
    if f.returns_set {
        format!("SETOF {ty}")
    } else {
        ty
    }
}

/// `pg_get_function_arguments` (with defaults) and `pg_get_function_identity_arguments`.
fn function_arguments(f: &basalt_storage::catalog::FunctionDef, defaults: bool) -> String {
    f.args
        .iter()
        .map(|a| {
            let ty = declared_type_name(&a.ty);
            let mut text = match &a.name {
                Some(n) => format!("{} {ty}", crate::pgformat::quote_ident(n)),
                None => ty.clone(),
            };
            if let (true, Some(d)) = (defaults, &a.default) {
                // A string constant shows with its type, as PostgreSQL deparses it.
                let quoted = d.len() >= 2
                    && d.starts_with('\'')
                    && d.ends_with('\'')
                    && !d[1..d.len() - 1].replace("''", "").contains('\'');
                match quoted {
                    true => text.push_str(&format!(" DEFAULT {d}::{ty}")),
                    false => text.push_str(&format!(" DEFAULT {d}")),
                }
            }
            text
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `pg_get_functiondef`: the CREATE statement of a function, in PostgreSQL's layout.
fn function_def(f: &basalt_storage::catalog::FunctionDef) -> String {
    let language = f.language.as_deref().unwrap_or("sql");
    let mut out = format!(
        "CREATE OR REPLACE FUNCTION {}.{}({})\n RETURNS {}\n LANGUAGE {language}\n",
        crate::pgformat::quote_ident(&f.schema),
        crate::pgformat::quote_ident(&f.name),
        function_arguments(f, true),
        function_result(f),
    );
    let volatility = match (f.volatile, f.stable) {
        (true, _) => "",
        (false, true) => " STABLE",
        (false, false) => " IMMUTABLE",
    };
    let strict = if f.strict { " STRICT" } else { "" };
    if !volatility.is_empty() || !strict.is_empty() {
        out.push_str(&format!("{volatility}{strict}\n"));
    }
    // A dollar-quote tag the body does not contain, as PostgreSQL picks it.
    let mut tag = "$function".to_owned();
    while f.body.contains(&format!("{tag}$")) {
        tag.push('x');
    }
    out.push_str(&format!("AS {tag}${}{tag}$\n", f.body));
    out
}

fn proc_rows(catalog: &Catalog) -> Vec<CatalogRow> {
    user_functions(catalog)
        .into_iter()
        .map(|f| {
            let arg_types: Vec<String> = f
                .args
                .iter()
                .map(|a| function_type(&a.ty).1.to_string())
                .collect();
            // `{a,b}`; an unnamed argument's name is empty.
            let arg_names = f.args.iter().any(|a| a.name.is_some()).then(|| {
                let names: Vec<String> = f
                    .args
                    .iter()
                    .map(|a| a.name.clone().unwrap_or_else(|| "\"\"".to_owned()))
                    .collect();
                format!("{{{}}}", names.join(","))
            });
            let language = match f.language.as_deref() {
                Some("plpgsql") => PLPGSQL_LANGUAGE_OID,
                _ => SQL_LANGUAGE_OID,
            };
            // A function returning TABLE(…) returns `record`s.
            let result = match f.returns.starts_with("TABLE(") {
                true => RECORD_TYPE_OID,
                false => function_type(&f.returns).1,
            };
            let mut row = CatalogRow::from([
                ("oid", int(i64::from(f.oid))),
                ("proname", text(&f.name)),
                ("pronamespace", int(namespace_oid(catalog, &f.schema))),
                ("proowner", int(OWNER_OID)),
                ("prolang", int(language)),
                ("procost", int(100)),
                ("prorows", int(if f.returns_set { 1000 } else { 0 })),
                ("provariadic", int(0)),
                ("prosupport", text("-")),
                ("prokind", text("f")),
                ("prosecdef", boolean(false)),
                ("proleakproof", boolean(false)),
                ("proisstrict", boolean(f.strict)),
                ("proretset", boolean(f.returns_set)),
                (
                    "provolatile",
                    text(match (f.volatile, f.stable) {
                        (true, _) => "v",
                        (false, true) => "s",
                        (false, false) => "i",
                    }),
                ),
                ("proparallel", text("u")),
                ("pronargs", int(f.args.len() as i64)),
                (
                    "pronargdefaults",
                    int(f.args.iter().filter(|a| a.default.is_some()).count() as i64),
                ),
                ("prorettype", int(result)),
                ("proargtypes", text(arg_types.join(" "))),
                ("prosrc", text(&f.body)),
            ]);
            if let Some(names) = arg_names {
                row.insert("proargnames", text(names));
            }
            row
        })
        .collect()
}

/// What `pg_get_viewdef` and `pg_views.definition` show of a view: its query as Basalt
/// keeps it (PostgreSQL deparses its stored plan instead, qualifying every column), in
/// PostgreSQL's frame of a leading space and a closing semicolon.
pub fn view_definition(def: &ViewDef) -> String {
    format!(" {};", def.query)
}

fn view_rows(catalog: &Catalog) -> Vec<CatalogRow> {
    crate::view::in_order(catalog)
        .into_iter()
        .map(|v| {
            CatalogRow::from([
                ("schemaname", text(&v.schema)),
                ("viewname", text(&v.name)),
                ("viewowner", text(OWNER_NAME)),
                ("definition", text(view_definition(v))),
            ])
        })
        .collect()
}

fn namespace_oid(catalog: &Catalog, schema: &str) -> i64 {
    catalog.schemas.get(schema).map_or(0, |s| i64::from(s.oid))
}

fn namespaces(catalog: &Catalog) -> Vec<CatalogRow> {
    let mut out = vec![
        CatalogRow::from([
            ("oid", int(PG_CATALOG_NAMESPACE_OID)),
            ("nspname", text("pg_catalog")),
            ("nspowner", int(OWNER_OID)),
        ]),
        CatalogRow::from([
            ("oid", int(INFORMATION_SCHEMA_NAMESPACE_OID)),
            ("nspname", text("information_schema")),
            ("nspowner", int(OWNER_OID)),
        ]),
    ];
    for s in catalog.schemas.values() {
        out.push(CatalogRow::from([
            ("oid", int(i64::from(s.oid))),
            ("nspname", text(&s.name)),
            ("nspowner", int(OWNER_OID)),
        ]));
    }
    out
}

/// Every index of a table as PostgreSQL has it: the primary key's, then the others.
/// (oid, name, columns, unique, primary)
fn table_indexes(def: &TableDef) -> Vec<(i64, String, Vec<usize>, bool, bool)> {
    let mut out = Vec::new();
    if let Some(pk) = &def.primary_key {
        // The primary-key index has no oid of its own in Basalt's catalog: derive a stable one.
        let name = def
            .primary_key_name
            .clone()
            .unwrap_or_else(|| format!("{}_pkey", def.name));
        out.push((pk_index_oid(def), name, pk.clone(), true, true));
    }
    for i in &def.indexes {
        out.push((
            i64::from(i.oid),
            i.name.clone(),
            i.columns.clone(),
            i.unique,
            false,
        ));
    }
    out
}

fn pk_index_oid(def: &TableDef) -> i64 {
    PK_INDEX_OID_BASE + i64::from(def.oid)
}

fn classes(catalog: &Catalog, views: &[(&ViewDef, Vec<ViewColumn>)]) -> Vec<CatalogRow> {
    let mut out = Vec::new();
    for (def, columns) in views {
        out.push(CatalogRow::from([
            ("oid", int(i64::from(def.oid))),
            ("relname", text(&def.name)),
            ("relnamespace", int(namespace_oid(catalog, &def.schema))),
            ("relowner", int(OWNER_OID)),
            ("relkind", text("v")),
            ("relpersistence", text("p")),
            ("relreplident", text("n")),
            ("relispopulated", boolean(true)),
            ("relhasrules", boolean(true)),
            ("relnatts", int(columns.len() as i64)),
        ]));
    }
    for def in catalog.tables.values() {
        let ns = namespace_oid(catalog, &def.schema);
        let indexes = table_indexes(def);
        out.push(CatalogRow::from([
            ("oid", int(i64::from(def.oid))),
            ("relname", text(&def.name)),
            ("relnamespace", int(ns)),
            ("relowner", int(OWNER_OID)),
            ("relam", int(HEAP_AM_OID)),
            ("relkind", text("r")),
            ("relpersistence", text("p")),
            ("relreplident", text("d")),
            ("relispopulated", boolean(true)),
            ("relhasindex", boolean(!indexes.is_empty())),
            ("relnatts", int(def.columns.len() as i64)),
            ("relchecks", int(def.checks.len() as i64)),
            (
                "reloptions",
                if def.reloptions.is_empty() {
                    ScalarValue::new_null_list(DataType::Utf8, true, 1)
                } else {
                    let items: Vec<ScalarValue> =
                        def.reloptions.iter().map(|o| text(o.as_str())).collect();
                    ScalarValue::List(ScalarValue::new_list_nullable(&items, &DataType::Utf8))
                },
            ),
        ]));
        for (oid, name, cols, _, _) in indexes {
            out.push(CatalogRow::from([
                ("oid", int(oid)),
                ("relname", text(name)),
                ("relnamespace", int(ns)),
                ("relowner", int(OWNER_OID)),
                ("relam", int(BTREE_AM_OID)),
                ("relkind", text("i")),
                ("relpersistence", text("p")),
                ("relreplident", text("n")),
                ("relispopulated", boolean(true)),
                ("relnatts", int(cols.len() as i64)),
            ]));
        }
    }
    for seq in catalog.sequences.values() {
        let (schema, name) = seq.name.split_once('.').unwrap_or(("public", &seq.name));
        out.push(CatalogRow::from([
            ("oid", int(i64::from(seq.oid))),
            ("relname", text(name)),
            ("relnamespace", int(namespace_oid(catalog, schema))),
            ("relowner", int(OWNER_OID)),
            ("relkind", text("S")),
            ("relpersistence", text("p")),
            ("relreplident", text("n")),
            ("relispopulated", boolean(true)),
        ]));
    }
    out
}

/// PostgreSQL's type oid and type modifier of a column type.
pub fn pg_type_and_typmod(ty: &SqlType) -> (i64, i64) {
    match ty {
        SqlType::Bool => (16, -1),
        SqlType::Int16 => (21, -1),
        SqlType::Int32 => (23, -1),
        SqlType::Int64 => (20, -1),
        SqlType::Float32 => (700, -1),
        SqlType::Float64 => (701, -1),
        SqlType::Numeric { precision, scale }
            if crate::numeric::is_unconstrained(*precision, *scale) =>
        {
            (1700, -1)
        }
        SqlType::Numeric { precision, scale } => (
            1700,
            ((i64::from(*precision) << 16) | (i64::from(*scale) & 0x7ff)) + 4,
        ),
        SqlType::Char(n) => (1042, i64::from(*n) + 4),
        SqlType::Varchar(Some(n)) => (1043, i64::from(*n) + 4),
        SqlType::Varchar(None) => (1043, -1),
        SqlType::Text => (25, -1),
        SqlType::Bytea => (17, -1),
        SqlType::Date => (1082, -1),
        SqlType::Time => (1083, -1),
        SqlType::Timestamp => (1114, -1),
        SqlType::TimestampTz => (1184, -1),
        SqlType::Interval => (1186, -1),
        SqlType::Array(element) => {
            let (element, typmod) = pg_type_and_typmod(element.element_type());
            (array_type_oid(element), typmod)
        }
    }
}

/// The oid of the array type whose elements have type `element`.
fn array_type_oid(element: i64) -> i64 {
    ARRAY_TYPES
        .iter()
        .find(|(e, _)| *e == element)
        .map_or(0, |(_, a)| *a)
}

/// The element type of an array type.
fn array_element_oid(array: i64) -> Option<i64> {
    ARRAY_TYPES
        .iter()
        .find(|(_, a)| *a == array)
        .map(|(e, _)| *e)
}

/// Element type oids and the oids of their array types.
const ARRAY_TYPES: [(i64, i64); 16] = [
    (16, 1000),
    (17, 1001),
    (21, 1005),
    (23, 1007),
    (25, 1009),
    (1042, 1014),
    (1043, 1015),
    (20, 1016),
    (700, 1021),
    (701, 1022),
    (1114, 1115),
    (1082, 1182),
    (1083, 1183),
    (1184, 1185),
    (1186, 1187),
    (1700, 1231),
];

fn attributes(catalog: &Catalog, views: &[(&ViewDef, Vec<ViewColumn>)]) -> Vec<CatalogRow> {
    let mut out = Vec::new();
    for (def, columns) in views {
        for (pos, column) in columns.iter().enumerate() {
            // A table column shown unchanged keeps its declared type (`varchar(20)`).
            let (typid, typmod) = pg_type_and_typmod(column.declared_type());
            out.push(CatalogRow::from([
                ("attrelid", int(i64::from(def.oid))),
                ("attname", text(&column.name)),
                ("atttypid", int(typid)),
                ("attnum", int(pos as i64 + 1)),
                ("atttypmod", int(typmod)),
                ("attnotnull", boolean(false)),
                ("atthasdef", boolean(false)),
                ("attisdropped", boolean(false)),
                ("attidentity", text("")),
                ("attstorage", text(default_storage(typid).to_string())),
                ("attgenerated", text("")),
                ("attislocal", boolean(true)),
                ("attstattarget", int(-1)),
                ("attlen", int(-1)),
            ]));
        }
    }
    for def in catalog.tables.values() {
        for (pos, col) in def.columns.iter().enumerate() {
            let (typid, typmod) = pg_type_and_typmod(&col.ty);
            let identity = if col.identity_always {
                "a"
            } else if col
                .default
                .as_deref()
                .is_some_and(|d| d.starts_with("nextval("))
                && is_identity(catalog, def, pos)
            {
                "d"
            } else {
                ""
            };
            out.push(CatalogRow::from([
                ("attrelid", int(i64::from(def.oid))),
                ("attname", text(&col.name)),
                ("atttypid", int(if col.dropped { 0 } else { typid })),
                ("attnum", int(pos as i64 + 1)),
                ("atttypmod", int(typmod)),
                ("attnotnull", boolean(!col.nullable)),
                ("atthasdef", boolean(col.default.is_some() && !col.dropped)),
                ("attisdropped", boolean(col.dropped)),
                ("attidentity", text(identity)),
                (
                    "attstorage",
                    text(col.storage.unwrap_or(default_storage(typid)).to_string()),
                ),
                ("attgenerated", text("")),
                ("attislocal", boolean(true)),
                ("attstattarget", int(-1)),
                ("attlen", int(-1)),
            ]));
        }
    }
    out
}

/// PostgreSQL's TOAST strategy of a type (`pg_type.typstorage`): `p` for fixed-size types,
/// `m` for numeric, `x` for the other variable-size ones (text, bytea, json, arrays).
fn default_storage(typid: i64) -> char {
    match typid {
        1700 => 'm',
        17 | 25 | 114 | 1042 | 1043 | 3802 => 'x',
        // Arrays.
        199 | 1000 | 1001 | 1005 | 1007 | 1009 | 1014 | 1015 | 1016 | 1021 | 1022 | 1115 | 1182
        | 1183 | 1185 | 1187 | 1231 | 1270 | 2951 | 3807 => 'x',
        _ => 'p',
    }
}

/// Identity columns are the ones declared GENERATED … AS IDENTITY; SERIAL columns only
/// have a nextval default. Basalt records ALWAYS identities; BY DEFAULT identities and
/// SERIAL look alike, so both are shown as defaults, as PostgreSQL shows SERIAL.
fn is_identity(_catalog: &Catalog, _def: &TableDef, _pos: usize) -> bool {
    false
}

fn attrdefs(catalog: &Catalog) -> Vec<CatalogRow> {
    let mut out = Vec::new();
    let mut oid = ATTRDEF_OID_BASE;
    for def in catalog.tables.values() {
        for (pos, col) in def.live_columns() {
            if let Some(d) = &col.default {
                oid += 1;
                out.push(CatalogRow::from([
                    ("oid", int(oid)),
                    ("adrelid", int(i64::from(def.oid))),
                    ("adnum", int(pos as i64 + 1)),
                    ("adbin", text(d)),
                ]));
            }
        }
    }
    out
}

/// Column numbers (1-based) as PostgreSQL's int2[] / int2vector.
fn int2_array(cols: &[usize]) -> ScalarValue {
    let values: Vec<ScalarValue> = cols
        .iter()
        .map(|c| ScalarValue::Int16(Some(*c as i16 + 1)))
        .collect();
    ScalarValue::List(ScalarValue::new_list_nullable(&values, &DataType::Int16))
}

/// `n` zeros as an int2 array (per-column options, classes and collations Basalt does not
/// have).
fn zeros_array(n: usize) -> ScalarValue {
    let values: Vec<ScalarValue> = (0..n).map(|_| ScalarValue::Int16(Some(0))).collect();
    ScalarValue::List(ScalarValue::new_list_nullable(&values, &DataType::Int16))
}

/// Columns that are arrays in PostgreSQL (int2vector / int2[]), whatever type the template
/// has for them.
fn array_column(table_field: &str) -> bool {
    matches!(
        table_field,
        "indkey" | "indclass" | "indoption" | "indcollation" | "conkey" | "confkey"
    )
}

fn indexes(catalog: &Catalog) -> Vec<CatalogRow> {
    let mut out = Vec::new();
    for def in catalog.tables.values() {
        for (oid, _, cols, unique, primary) in table_indexes(def) {
            out.push(CatalogRow::from([
                ("indexrelid", int(oid)),
                ("indrelid", int(i64::from(def.oid))),
                ("indnatts", int(cols.len() as i64)),
                ("indnkeyatts", int(cols.len() as i64)),
                ("indisunique", boolean(unique)),
                ("indisprimary", boolean(primary)),
                ("indimmediate", boolean(true)),
                ("indisvalid", boolean(true)),
                ("indisready", boolean(true)),
                ("indislive", boolean(true)),
                ("indkey", int2_array(&cols)),
                ("indclass", zeros_array(cols.len())),
                ("indoption", zeros_array(cols.len())),
                ("indcollation", zeros_array(cols.len())),
            ]));
        }
    }
    out
}

fn constraints(catalog: &Catalog) -> Vec<CatalogRow> {
    let mut out = Vec::new();
    let mut check_oid = CHECK_OID_BASE;
    for def in catalog.tables.values() {
        let ns = namespace_oid(catalog, &def.schema);
        for (oid, name, cols, unique, primary) in table_indexes(def) {
            let is_constraint = primary
                || def
                    .indexes
                    .iter()
                    .any(|i| i64::from(i.oid) == oid && i.constraint);
            if !unique || !is_constraint {
                continue;
            }
            out.push(CatalogRow::from([
                ("oid", int(oid + CONSTRAINT_OID_OFFSET)),
                ("conname", text(name)),
                ("connamespace", int(ns)),
                ("contype", text(if primary { "p" } else { "u" })),
                ("convalidated", boolean(true)),
                ("conrelid", int(i64::from(def.oid))),
                ("conindid", int(oid)),
                ("conislocal", boolean(true)),
                ("conkey", int2_array(&cols)),
            ]));
        }
        for fk in &def.foreign_keys {
            let Ok(parent) = catalog.table(fk.parent) else {
                continue;
            };
            let action = |a: basalt_storage::ReferentialAction| {
                text(match a {
                    basalt_storage::ReferentialAction::NoAction => "a",
                    basalt_storage::ReferentialAction::Restrict => "r",
                    basalt_storage::ReferentialAction::Cascade => "c",
                    basalt_storage::ReferentialAction::SetNull => "n",
                    basalt_storage::ReferentialAction::SetDefault => "d",
                })
            };
            out.push(CatalogRow::from([
                ("oid", int(i64::from(fk.oid))),
                ("conname", text(&fk.name)),
                ("connamespace", int(ns)),
                ("contype", text("f")),
                ("condeferrable", boolean(fk.deferrable)),
                ("condeferred", boolean(fk.deferred)),
                ("convalidated", boolean(true)),
                ("conrelid", int(i64::from(def.oid))),
                ("confrelid", int(i64::from(parent.oid))),
                ("confupdtype", action(fk.on_update)),
                ("confdeltype", action(fk.on_delete)),
                ("confmatchtype", text(if fk.match_full { "f" } else { "s" })),
                ("conislocal", boolean(true)),
                ("conkey", int2_array(&fk.columns)),
                ("confkey", int2_array(&fk.parent_columns)),
            ]));
        }
        for c in &def.checks {
            check_oid += 1;
            out.push(CatalogRow::from([
                ("oid", int(check_oid)),
                ("conname", text(&c.name)),
                ("connamespace", int(ns)),
                ("contype", text("c")),
                ("convalidated", boolean(true)),
                ("conrelid", int(i64::from(def.oid))),
                ("conislocal", boolean(true)),
                ("conbin", text(&c.expr)),
            ]));
        }
    }
    out
}

/// Columns PostgreSQL has that the crate's layout lacks (clients such as SQLAlchemy read
/// them); they are NULL for Basalt's objects.
fn with_extra_columns(table: &str, template: &SchemaRef) -> SchemaRef {
    let extra: &[(&str, DataType)] = match table {
        "pg_class" => &[
            (
                "reloptions",
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            ),
            ("relacl", DataType::Utf8),
        ],
        _ => &[],
    };
    let mut fields: Vec<Field> = template
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    for (name, ty) in extra {
        if template.field_with_name(name).is_err() {
            fields.push(Field::new(*name, ty.clone(), true));
        }
    }
    Arc::new(Schema::new(fields))
}

/// A batch in the crate's column layout, each column filled from the rows (converted to the
/// column's type) or with a neutral default.
fn fill(template: &SchemaRef, rows: &[CatalogRow]) -> DfResult<RecordBatch> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(template.fields().len());
    let mut fields = Vec::with_capacity(template.fields().len());
    for f in template.fields() {
        let list = DataType::List(Arc::new(Field::new_list_field(DataType::Int16, true)));
        let ty = if array_column(f.name()) {
            &list
        } else {
            f.data_type()
        };
        let mut values = Vec::with_capacity(rows.len());
        for r in rows {
            let v = match r.get(f.name().as_str()) {
                Some(v) => v.cast_to(ty)?,
                None => neutral(ty, f.is_nullable())?,
            };
            values.push(v);
        }
        let array = if values.is_empty() {
            new_null_array(ty, 0)
        } else {
            ScalarValue::iter_to_array(values)?
        };
        fields.push(Field::new(f.name(), ty.clone(), true));
        columns.push(array);
    }
    let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns,
        &options,
    )?)
}

fn neutral(ty: &DataType, nullable: bool) -> DfResult<ScalarValue> {
    if nullable {
        return ScalarValue::try_from(ty);
    }
    Ok(match ty {
        DataType::Utf8 => text(""),
        DataType::Boolean => boolean(false),
        t => ScalarValue::new_zero(t).or_else(|_| ScalarValue::try_from(t))?,
    })
}

/// `pg_get_indexdef(oid [, col, pretty])` and `pg_get_constraintdef(oid [, pretty])` for
/// Basalt's indexes and constraints (they replace the crate's stand-in functions of the same name).
pub fn register_functions(ctx: &SessionContext, engine: &Arc<Engine>) {
    // pg_attrdef.adbin and pg_constraint.conbin hold SQL text already: pg_get_expr returns it.
    ctx.register_udf(TextFn::udf(
        "pg_get_expr",
        Volatility::Stable,
        |arrays, _rows| {
            let first = arrays.first().ok_or_else(|| {
                DataFusionError::Execution("pg_get_expr needs an expression".into())
            })?;
            Ok(datafusion::arrow::compute::cast(first, &DataType::Utf8)?)
        },
    ));
    let e = Arc::clone(engine);
    ctx.register_udf(TextFn::udf(
        "pg_get_indexdef",
        Volatility::Stable,
        move |arrays, _rows| {
            let catalog = e.catalog();
            lookup_text(arrays, |oid| index_def(&catalog, oid))
        },
    ));
    let e = Arc::clone(engine);
    ctx.register_udf(TextFn::udf(
        "pg_get_constraintdef",
        Volatility::Stable,
        move |arrays, _rows| {
            let catalog = e.catalog();
            lookup_text(arrays, |oid| constraint_def(&catalog, oid))
        },
    ));
    let e = Arc::clone(engine);
    ctx.register_udf(TextFn::udf(
        "pg_get_viewdef",
        Volatility::Stable,
        move |arrays, _rows| view_def_udf(&e.catalog(), arrays),
    ));
    let e = Arc::clone(engine);
    ctx.register_udf(datafusion::logical_expr::create_udf(
        "pg_regclass_oid",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(move |args| regclass_oid(&e.catalog(), args)),
    ));
    // The functions created in Basalt, for psql's `\df` and `\sf` (NULL for other oids;
    // any function outside `public` and the session's temporary schema is not visible).
    type Describe = fn(&basalt_storage::catalog::FunctionDef) -> String;
    let describers: [(&'static str, Describe); 4] = [
        ("pg_get_function_result", function_result),
        ("pg_get_function_arguments", |f| function_arguments(f, true)),
        ("pg_get_function_identity_arguments", |f| {
            function_arguments(f, false)
        }),
        ("pg_get_functiondef", function_def),
    ];
    for (name, describe) in describers {
        let e = Arc::clone(engine);
        ctx.register_udf(TextFn::udf(
            name,
            Volatility::Stable,
            move |arrays, _rows| {
                let catalog = e.catalog();
                lookup_text(arrays, |oid| function_by_oid(&catalog, oid).map(describe))
            },
        ));
    }
    // A body written as SQL-standard `BEGIN ATOMIC … END` (prosqlbody): Basalt keeps every
    // body as text (prosrc), so there is none, as PostgreSQL answers for such functions.
    ctx.register_udf(TextFn::udf(
        "pg_get_function_sqlbody",
        Volatility::Stable,
        |arrays, _rows| lookup_text(arrays, |_| None),
    ));
    let e = Arc::clone(engine);
    ctx.register_udf(datafusion::logical_expr::create_udf(
        "pg_function_is_visible",
        vec![DataType::Int64],
        DataType::Boolean,
        Volatility::Stable,
        Arc::new(move |args| {
            use datafusion::arrow::array::{BooleanArray, Int64Array};
            let catalog = e.catalog();
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let oids = datafusion::arrow::compute::cast(&arrays[0], &DataType::Int64)?;
            let oids = oids
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| DataFusionError::Execution("oid expected".into()))?;
            // Built-in functions (pg_catalog) are visible; Basalt's are in `public` or a
            // temporary schema. (Looked up by oid once per call: psql asks for every row of
            // pg_proc.)
            let schemas: HashMap<i64, &str> = catalog
                .functions
                .values()
                .flatten()
                .map(|f| (i64::from(f.oid), f.schema.as_str()))
                .collect();
            let out: BooleanArray = oids
                .iter()
                .map(|o| {
                    o.map(|oid| match schemas.get(&oid) {
                        Some(schema) => {
                            *schema == basalt_storage::catalog::DEFAULT_SCHEMA
                                || schema.starts_with(crate::temp::TEMP_SCHEMA_PREFIX)
                        }
                        None => true,
                    })
                })
                .collect();
            let out: ArrayRef = Arc::new(out);
            if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
                return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
            }
            Ok(ColumnarValue::Array(out))
        }),
    ));
    // Basalt has no rules (CREATE RULE is refused): no rule oid has a definition, and
    // PostgreSQL answers NULL for an oid that is not a rule's. (psql's `\d+` of a view asks
    // for the rules on it.)
    ctx.register_udf(TextFn::udf(
        "pg_get_ruledef",
        Volatility::Stable,
        |arrays, _rows| lookup_text(arrays, |_| None),
    ));
    ctx.register_udf(format_type());
}

/// `pg_get_viewdef(view [, pretty])`: the view named by its oid or (the older form) by its
/// name as text, NULL for another relation's oid. The second argument (`pretty` or a line
/// width) changes nothing: Basalt shows the query as it keeps it.
fn view_def_udf(catalog: &Catalog, arrays: &[ArrayRef]) -> DfResult<ArrayRef> {
    use datafusion::arrow::array::Array;
    let first = arrays
        .first()
        .ok_or_else(|| DataFusionError::Execution("pg_get_viewdef needs a view".into()))?;
    let by_oid = |oid: i64| {
        catalog
            .views
            .values()
            .find(|v| i64::from(v.oid) == oid)
            .map(view_definition)
    };
    if !matches!(
        first.data_type(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    ) {
        return lookup_text(&arrays[..1], by_oid);
    }
    let names = datafusion::arrow::compute::cast(first, &DataType::Utf8)?;
    let names = names
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| DataFusionError::Execution("pg_get_viewdef expects text".into()))?;
    let mut out = Vec::with_capacity(names.len());
    for i in 0..names.len() {
        if names.is_null(i) {
            out.push(None);
            continue;
        }
        let text = names.value(i);
        let undefined =
            || crate::error::SqlError::UndefinedTable(text.to_owned()).into_datafusion();
        let parts = relation_name_parts(text).ok_or_else(undefined)?;
        let (schema, name) = match parts.as_slice() {
            [schema, name] => (Some(schema.as_str()), name.as_str()),
            [name] => (None, name.as_str()),
            _ => return Err(undefined()),
        };
        // (A name written as a constant is resolved as `'name'::regclass` before the call,
        // the session's temporary schema first; here an unqualified name is in `public`.)
        let schema = schema.unwrap_or(basalt_storage::catalog::DEFAULT_SCHEMA);
        let oid = relation_oid(catalog, schema, name).ok_or_else(undefined)?;
        out.push(by_oid(i64::from(oid)));
    }
    Ok(Arc::new(StringArray::from(out)))
}

/// The oid of the table, view, index or sequence `schema.name` in Basalt's catalog.
fn relation_oid(catalog: &Catalog, schema: &str, name: &str) -> Option<i32> {
    let oid = if let Some(t) = catalog.table_by_name(schema, name) {
        t.oid
    } else if let Some(v) = catalog.view_by_name(schema, name) {
        v.oid
    } else if let Some((_, i)) = catalog.index_by_name(schema, name) {
        i.oid
    } else if let Some(q) = catalog.sequences.get(&format!("{schema}.{name}")) {
        q.oid
    } else {
        let pk = catalog.tables.values().find(|t| {
            t.schema == schema
                && t.primary_key.is_some()
                && table_indexes(t).first().is_some_and(|(_, n, ..)| n == name)
        })?;
        return i32::try_from(pk_index_oid(pk)).ok();
    };
    i32::try_from(oid).ok()
}

/// PostgreSQL's fixed oids of the system catalogs tools name as `'pg_class'::regclass`.
const SYSTEM_CATALOG_OIDS: [(&str, i32); 18] = [
    ("pg_am", 2601),
    ("pg_attrdef", 2604),
    ("pg_attribute", 1249),
    ("pg_authid", 1260),
    ("pg_class", 1259),
    ("pg_collation", 3456),
    ("pg_constraint", 2606),
    ("pg_database", 1262),
    ("pg_depend", 2608),
    ("pg_description", 2609),
    ("pg_extension", 3079),
    ("pg_index", 2610),
    ("pg_inherits", 2611),
    ("pg_namespace", 2615),
    ("pg_proc", 1255),
    ("pg_rewrite", 2618),
    ("pg_trigger", 2620),
    ("pg_type", 1247),
];

/// `'name'::regclass` (rewritten to `pg_regclass_oid(name, temp_schema)`): the oid of the
/// table, view, index or sequence the text names, as PostgreSQL reads it (`s.t`, `"T"`, or
/// an oid in digits); an unqualified name is looked up in the session's temporary schema,
/// then in `public`, then among the system catalogs. A name that names nothing is an error
/// (42P01), as in PostgreSQL; a system catalog Basalt has no oid for is NULL.
fn regclass_oid(catalog: &Catalog, args: &[ColumnarValue]) -> DfResult<ColumnarValue> {
    use datafusion::arrow::array::{Array, Int32Array};
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let as_text = |i: usize| -> DfResult<ArrayRef> {
        let a = arrays
            .get(i)
            .ok_or_else(|| DataFusionError::Execution("pg_regclass_oid: two arguments".into()))?;
        Ok(datafusion::arrow::compute::cast(a, &DataType::Utf8)?)
    };
    let (names, temps) = (as_text(0)?, as_text(1)?);
    let (Some(names), Some(temps)) = (
        names.as_any().downcast_ref::<StringArray>(),
        temps.as_any().downcast_ref::<StringArray>(),
    ) else {
        return Err(DataFusionError::Execution(
            "pg_regclass_oid expects text".into(),
        ));
    };
    let relation = |schema: &str, name: &str| relation_oid(catalog, schema, name);
    let system = |name: &str| {
        SYSTEM_CATALOG_OIDS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, o)| *o)
    };
    let mut out = Vec::with_capacity(names.len());
    for i in 0..names.len() {
        if names.is_null(i) {
            out.push(None);
            continue;
        }
        let text = names.value(i).trim();
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            out.push(Some(text.parse::<u32>().map(|o| o as i32).map_err(
                |_| {
                    SqlError::InvalidText(format!("OID out of range: \"{text}\"")).into_datafusion()
                },
            )?));
            continue;
        }
        let undefined = || SqlError::UndefinedTable(text.to_owned()).into_datafusion();
        let parts = relation_name_parts(text).ok_or_else(undefined)?;
        let found = match parts.as_slice() {
            [schema, name] if schema == "pg_catalog" => {
                let known = system(name);
                if known.is_none() && !name.starts_with("pg_") {
                    return Err(undefined());
                }
                out.push(known);
                continue;
            }
            [schema, name] => relation(schema, name),
            [name] => {
                let temp = (!temps.is_null(i)).then(|| temps.value(i));
                let local = temp
                    .and_then(|t| relation(t, name))
                    .or_else(|| relation(basalt_storage::catalog::DEFAULT_SCHEMA, name));
                if local.is_none() && name.starts_with("pg_") {
                    out.push(system(name));
                    continue;
                }
                local
            }
            _ => None,
        };
        out.push(Some(found.ok_or_else(undefined)?));
    }
    let out: ArrayRef = Arc::new(Int32Array::from(out));
    // Constant arguments give a constant.
    if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
        return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
    }
    Ok(ColumnarValue::Array(out))
}

/// The parts of a relation name written as text (`s.v`, `"My View"`): unquoted parts fold
/// to lower case, as PostgreSQL reads a `regclass` name. `None` when it is malformed.
pub(crate) fn relation_name_parts(text: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut chars = text.trim().chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    '"' => break,
                    c => part.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                part.push(c.to_ascii_lowercase());
                chars.next();
            }
        }
        if part.is_empty() {
            return None;
        }
        parts.push(part);
        match chars.next() {
            None => return Some(parts),
            Some('.') => continue,
            Some(_) => return None,
        }
    }
}

/// `format_type(oid, typmod)`: datafusion-pg-catalog's, with PostgreSQL's spelling of
/// numeric modifiers (`numeric(3,0)`, and a negative scale such as `numeric(3,-6)`, which
/// the typmod keeps in its low 11 bits).
fn format_type() -> datafusion::logical_expr::ScalarUDF {
    use datafusion::arrow::array::{Array, Int64Array};
    let inner = datafusion_pg_catalog::pg_catalog::format_type::create_format_type_udf();
    TextFn::udf("format_type", Volatility::Stable, move |arrays, rows| {
        let as_i64 = |a: &ArrayRef| datafusion::arrow::compute::cast(a, &DataType::Int64);
        let (Some(oids), Some(mods)) = (arrays.first(), arrays.get(1)) else {
            return format_with(&inner, arrays.to_vec(), rows);
        };
        let (oids, mods) = (as_i64(oids)?, as_i64(mods)?);
        let (Some(oids), Some(mods)) = (
            oids.as_any().downcast_ref::<Int64Array>(),
            mods.as_any().downcast_ref::<Int64Array>(),
        ) else {
            return format_with(&inner, arrays.to_vec(), rows);
        };
        // An array type with a modifier is its element type with it, then `[]`
        // (`character varying(3)[]`).
        let element_of = |i: usize| {
            (oids.is_valid(i) && mods.is_valid(i) && mods.value(i) >= 0)
                .then(|| array_element_oid(oids.value(i)))
                .flatten()
        };
        let formatted_oids: Int64Array = (0..oids.len())
            .map(|i| element_of(i).or_else(|| oids.is_valid(i).then(|| oids.value(i))))
            .collect();
        let formatted = format_with(
            &inner,
            vec![Arc::new(formatted_oids.clone()), Arc::new(mods.clone())],
            rows,
        )?;
        let Some(texts) = formatted.as_any().downcast_ref::<StringArray>() else {
            return Ok(formatted);
        };
        let out: StringArray = (0..texts.len())
            .map(|i| {
                let numeric = formatted_oids.is_valid(i) && formatted_oids.value(i) == 1700;
                let text = if numeric && mods.is_valid(i) && mods.value(i) >= 4 {
                    let m = mods.value(i) - 4;
                    // The scale is an 11-bit two's complement number.
                    let scale = ((m & 0x7ff) ^ 0x400) - 0x400;
                    Some(format!("numeric({},{scale})", (m >> 16) & 0xffff))
                } else {
                    texts.is_valid(i).then(|| texts.value(i).to_owned())
                };
                match element_of(i) {
                    Some(_) => text.map(|t| format!("{t}[]")),
                    None => text,
                }
            })
            .collect();
        Ok(Arc::new(out))
    })
}

/// datafusion-pg-catalog's `format_type` on `args`.
fn format_with(
    inner: &datafusion::logical_expr::ScalarUDF,
    args: Vec<ArrayRef>,
    rows: usize,
) -> DfResult<ArrayRef> {
    use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs};
    let arg_fields = args
        .iter()
        .map(|a| Arc::new(Field::new("arg", a.data_type().clone(), true)))
        .collect();
    inner
        .invoke_with_args(ScalarFunctionArgs {
            args: args.into_iter().map(ColumnarValue::Array).collect(),
            arg_fields,
            number_rows: rows,
            return_field: Arc::new(Field::new("format_type", DataType::Utf8, true)),
            config_options: Arc::new(datafusion::config::ConfigOptions::default()),
        })?
        .into_array(rows)
}

fn lookup_text(arrays: &[ArrayRef], f: impl Fn(i64) -> Option<String>) -> DfResult<ArrayRef> {
    let first = arrays
        .first()
        .ok_or_else(|| DataFusionError::Execution("oid expected".into()))?;
    let oids = datafusion::arrow::compute::cast(first, &DataType::Int64)?;
    let oids = oids
        .as_any()
        .downcast_ref::<datafusion::arrow::array::Int64Array>()
        .ok_or_else(|| DataFusionError::Execution("oid expected".into()))?;
    let out: StringArray = oids.iter().map(|o| o.and_then(&f)).collect();
    Ok(Arc::new(out))
}

fn column_list(def: &TableDef, cols: &[usize]) -> String {
    cols.iter()
        .map(|&c| def.columns[c].name.clone())
        .collect::<Vec<_>>()
        .join(", ")
}

fn index_def(catalog: &Catalog, oid: i64) -> Option<String> {
    for def in catalog.tables.values() {
        for (ioid, name, cols, unique, _) in table_indexes(def) {
            if ioid == oid {
                return Some(format!(
                    "CREATE {}INDEX {name} ON {}.{} USING btree ({})",
                    if unique { "UNIQUE " } else { "" },
                    def.schema,
                    def.name,
                    column_list(def, &cols)
                ));
            }
        }
    }
    None
}

fn constraint_def(catalog: &Catalog, oid: i64) -> Option<String> {
    let rows = constraints(catalog);
    let row = rows.iter().find(|r| r.get("oid") == Some(&int(oid)))?;
    let relid = match row.get("conrelid")? {
        ScalarValue::Int64(Some(v)) => *v,
        _ => return None,
    };
    let def = catalog
        .tables
        .values()
        .find(|t| i64::from(t.oid) == relid)?;
    if let Some(fk) = def.foreign_keys.iter().find(|f| i64::from(f.oid) == oid) {
        return foreign_key_def(catalog, def, fk);
    }
    match row.get("contype")? {
        ScalarValue::Utf8(Some(t)) if t == "c" => match row.get("conbin")? {
            ScalarValue::Utf8(Some(expr)) => Some(format!("CHECK ({expr})")),
            _ => None,
        },
        ScalarValue::Utf8(Some(t)) => {
            let index = match row.get("conindid")? {
                ScalarValue::Int64(Some(v)) => *v,
                _ => return None,
            };
            let (_, _, cols, _, _) = table_indexes(def).into_iter().find(|(o, ..)| *o == index)?;
            let kind = if t == "p" { "PRIMARY KEY" } else { "UNIQUE" };
            Some(format!("{kind} ({})", column_list(def, &cols)))
        }
        _ => None,
    }
}

/// PostgreSQL's text of a FOREIGN KEY constraint, as `pg_get_constraintdef` gives it.
fn foreign_key_def(
    catalog: &Catalog,
    def: &TableDef,
    fk: &basalt_storage::ForeignKeyDef,
) -> Option<String> {
    use basalt_storage::ReferentialAction as A;
    let parent = catalog.table(fk.parent).ok()?;
    let parent_name = if parent.schema == basalt_storage::catalog::DEFAULT_SCHEMA
        || crate::temp::is_temp_schema(&parent.schema)
    {
        parent.name.clone()
    } else {
        format!("{}.{}", parent.schema, parent.name)
    };
    let mut out = format!(
        "FOREIGN KEY ({}) REFERENCES {parent_name}({})",
        column_list(def, &fk.columns),
        column_list(parent, &fk.parent_columns)
    );
    if fk.match_full {
        out.push_str(" MATCH FULL");
    }
    if fk.on_update != A::NoAction {
        out.push_str(" ON UPDATE ");
        out.push_str(fk.on_update.sql());
    }
    if fk.on_delete != A::NoAction {
        out.push_str(" ON DELETE ");
        out.push_str(fk.on_delete.sql());
    }
    if fk.deferrable {
        out.push_str(" DEFERRABLE");
    }
    if fk.deferred {
        out.push_str(" INITIALLY DEFERRED");
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use basalt_storage::catalog::{FunctionArgDef, FunctionDef};

    fn function(body: &str) -> FunctionDef {
        FunctionDef {
            oid: 16_400,
            schema: "public".into(),
            name: "f".into(),
            args: vec![FunctionArgDef {
                name: Some("n".into()),
                ty: "NUMERIC(10, 2)".into(),
                type_name: "numeric(10,2)".into(),
                default: Some("'1.5'".into()),
            }],
            returns: "VARCHAR(20)".into(),
            returns_set: false,
            body: body.into(),
            strict: true,
            volatile: false,
            stable: true,
            language: Some("plpgsql".into()),
        }
    }

    #[test]
    fn function_definitions_read_as_postgresql_prints_them() {
        let def = function_def(&function("BEGIN RETURN 'x'; END"));
        assert_eq!(
            def,
            "CREATE OR REPLACE FUNCTION public.f(n numeric DEFAULT '1.5'::numeric)\n \
             RETURNS character varying\n LANGUAGE plpgsql\n STABLE STRICT\n\
             AS $function$BEGIN RETURN 'x'; END$function$\n"
        );
        // A body holding the usual tag gets another one.
        let def = function_def(&function("SELECT '$function$'"));
        assert!(
            def.ends_with("AS $functionx$SELECT '$function$'$functionx$\n"),
            "{def}"
        );
    }

    #[test]
    fn function_types_drop_their_modifiers() {
        assert_eq!(
            function_type("varchar(20)"),
            ("character varying".into(), 1043)
        );
        assert_eq!(function_type("numeric(10,2)[]"), ("numeric[]".into(), 1231));
        assert_eq!(function_type("trigger"), ("trigger".into(), 2279));
    }
}
