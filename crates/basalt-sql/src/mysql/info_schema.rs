//! MySQL's `information_schema` for MySQL sessions: SCHEMATA, TABLES, VIEWS, COLUMNS,
//! STATISTICS and KEY_COLUMN_USAGE with MySQL's column names (lower case: Basalt folds identifiers,
//! and MySQL compares these names case-insensitively), built from the catalog each time a
//! query reads them. PostgreSQL sessions keep the SQL-standard information_schema.

use std::sync::Arc;

use async_trait::async_trait;
use basalt_common::SqlType;
use basalt_storage::{Catalog, Engine, ViewDef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::Result as DfResult;

use crate::view::{PlannerRef, ViewColumn};

use super::commands::{
    index_column_details, index_columns, is_auto_increment, key_of, mysql_type_name,
};

const TABLES: &[&str] = &[
    "schemata",
    "tables",
    "views",
    "columns",
    "statistics",
    "key_column_usage",
];

pub struct MyInformationSchema {
    engine: Arc<Engine>,
    /// Plans views, for their columns in COLUMNS.
    planner: PlannerRef,
}

impl std::fmt::Debug for MyInformationSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MyInformationSchema")
    }
}

impl MyInformationSchema {
    pub fn new(engine: Arc<Engine>, planner: PlannerRef) -> Self {
        MyInformationSchema { engine, planner }
    }
}

type Cell = Option<String>;

fn s(v: &str) -> Cell {
    Some(v.to_owned())
}

fn build(names: &[&str], ints: &[&str], rows: &[Vec<Cell>]) -> DfResult<RecordBatch> {
    Ok(super::commands::text_table(names, ints, rows)?)
}

/// MySQL's DATA_TYPE (the type name without modifiers).
fn data_type(ty: &SqlType, declared: Option<&str>) -> String {
    let full = mysql_type_name(ty, declared);
    full.split(['(', ' ']).next().unwrap_or("").to_owned()
}

/// MySQL's full type of a view column (`varchar(20)`), declared where the view shows a
/// table column unchanged.
pub(crate) fn view_column_type(column: &ViewColumn) -> String {
    mysql_type_name(
        column.declared_type(),
        column.source.as_ref().and_then(|c| c.mysql_type.as_deref()),
    )
}

fn rows_for(
    name: &str,
    catalog: &Catalog,
    views: &[(&ViewDef, Vec<ViewColumn>)],
) -> DfResult<RecordBatch> {
    let mut tables: Vec<_> = catalog
        .tables
        .values()
        .filter(|t| t.schema != "pg_catalog")
        .collect();
    tables.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    match name {
        "schemata" => {
            let mut rows: Vec<Vec<Cell>> = catalog
                .schemas
                .keys()
                .filter(|n| n.as_str() != "pg_catalog")
                .map(|n| {
                    vec![
                        s("def"),
                        s(n),
                        s("utf8mb4"),
                        s("utf8mb4_general_ci"),
                        None,
                        s("NO"),
                    ]
                })
                .collect();
            rows.push(vec![
                s("def"),
                s("information_schema"),
                s("utf8mb3"),
                s("utf8mb3_general_ci"),
                None,
                s("NO"),
            ]);
            build(
                &[
                    "catalog_name",
                    "schema_name",
                    "default_character_set_name",
                    "default_collation_name",
                    "sql_path",
                    "default_encryption",
                ],
                &[],
                &rows,
            )
        }
        "tables" => {
            let mut rows: Vec<Vec<Cell>> = tables
                .iter()
                .map(|t| {
                    vec![
                        s("def"),
                        s(&t.schema),
                        s(&t.name),
                        s("BASE TABLE"),
                        s("Basalt"),
                        s("10"),
                        s("Dynamic"),
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        s("utf8mb4_general_ci"),
                        None,
                        s(""),
                        s(""),
                    ]
                })
                .collect();
            // A view has no engine, rows or sizes; its comment is "VIEW", as in MySQL.
            for v in crate::view::in_order(catalog) {
                let mut row = vec![s("def"), s(&v.schema), s(&v.name), s("VIEW")];
                row.resize(19, None);
                row.push(s("VIEW"));
                rows.push(row);
            }
            rows.sort_by(|a, b| (&a[1], &a[2]).cmp(&(&b[1], &b[2])));
            build(
                &[
                    "table_catalog",
                    "table_schema",
                    "table_name",
                    "table_type",
                    "engine",
                    "version",
                    "row_format",
                    "table_rows",
                    "avg_row_length",
                    "data_length",
                    "max_data_length",
                    "index_length",
                    "data_free",
                    "auto_increment",
                    "create_time",
                    "update_time",
                    "table_collation",
                    "checksum",
                    "create_options",
                    "table_comment",
                ],
                &[
                    "version",
                    "table_rows",
                    "avg_row_length",
                    "data_length",
                    "max_data_length",
                    "index_length",
                    "data_free",
                    "auto_increment",
                    "checksum",
                ],
                &rows,
            )
        }
        "views" => {
            let rows: Vec<Vec<Cell>> = crate::view::in_order(catalog)
                .into_iter()
                .map(|v| {
                    vec![
                        s("def"),
                        s(&v.schema),
                        s(&v.name),
                        Some(super::commands::view_query_text(v)),
                        s("NONE"),
                        s("NO"),
                        s("root@%"),
                        s("DEFINER"),
                        s("utf8mb4"),
                        s("utf8mb4_general_ci"),
                    ]
                })
                .collect();
            build(
                &[
                    "table_catalog",
                    "table_schema",
                    "table_name",
                    "view_definition",
                    "check_option",
                    "is_updatable",
                    "definer",
                    "security_type",
                    "character_set_client",
                    "collation_connection",
                ],
                &[],
                &rows,
            )
        }
        "columns" => {
            let mut rows = Vec::new();
            for (v, columns) in views {
                for (ordinal, column) in columns.iter().enumerate() {
                    let ty = column.declared_type();
                    let full = view_column_type(column);
                    let text = matches!(ty, SqlType::Char(_) | SqlType::Varchar(_) | SqlType::Text);
                    let mut row = vec![
                        s("def"),
                        s(&v.schema),
                        s(&v.name),
                        s(&column.name),
                        Some((ordinal + 1).to_string()),
                        None,
                        s(if column.nullable { "YES" } else { "NO" }),
                        Some(full.split(['(', ' ']).next().unwrap_or("").to_owned()),
                    ];
                    let chars = ty.max_chars().map(|n| n.to_string());
                    let octets = ty.max_chars().map(|n| (u64::from(n) * 4).to_string());
                    let long = text.then(|| "65535".to_owned());
                    row.extend([chars.or(long.clone()), octets.or(long), None, None, None]);
                    row.extend([
                        if text { s("utf8mb4") } else { None },
                        if text { s("utf8mb4_general_ci") } else { None },
                        Some(full),
                        s(""),
                        s(""),
                        s("select,insert,update,references"),
                        s(""),
                        s(""),
                    ]);
                    rows.push(row);
                }
            }
            for t in &tables {
                for (ordinal, (pos, c)) in t.live_columns().enumerate() {
                    let declared = c.mysql_type.as_deref();
                    let text =
                        matches!(c.ty, SqlType::Char(_) | SqlType::Varchar(_) | SqlType::Text);
                    let (precision, scale) = match c.ty {
                        SqlType::Numeric { precision, scale } => {
                            (Some(precision.to_string()), Some(scale.to_string()))
                        }
                        SqlType::Int16 => (s("5"), s("0")),
                        SqlType::Int32 => (s("10"), s("0")),
                        SqlType::Int64 => (s("19"), s("0")),
                        SqlType::Float32 => (s("12"), None),
                        SqlType::Float64 => (s("22"), None),
                        _ => (None, None),
                    };
                    let key = key_of(t, pos);
                    let auto = is_auto_increment(c);
                    rows.push(vec![
                        s("def"),
                        s(&t.schema),
                        s(&t.name),
                        s(&c.name),
                        Some((ordinal + 1).to_string()),
                        if auto { None } else { c.default.clone() },
                        s(if c.nullable { "YES" } else { "NO" }),
                        Some(data_type(&c.ty, declared)),
                        c.ty.max_chars()
                            .map(|n| n.to_string())
                            .or_else(|| text.then(|| "65535".to_owned())),
                        c.ty.max_chars()
                            .map(|n| (u64::from(n) * 4).to_string())
                            .or_else(|| text.then(|| "65535".to_owned())),
                        precision,
                        scale,
                        None,
                        if text { s("utf8mb4") } else { None },
                        if text { s("utf8mb4_general_ci") } else { None },
                        Some(mysql_type_name(&c.ty, declared)),
                        s(key),
                        s(if auto { "auto_increment" } else { "" }),
                        s("select,insert,update,references"),
                        s(""),
                        s(""),
                    ]);
                }
            }
            // By table (a stable sort: each table's columns stay in their order).
            rows.sort_by(|a, b| (&a[1], &a[2]).cmp(&(&b[1], &b[2])));
            build(
                &[
                    "table_catalog",
                    "table_schema",
                    "table_name",
                    "column_name",
                    "ordinal_position",
                    "column_default",
                    "is_nullable",
                    "data_type",
                    "character_maximum_length",
                    "character_octet_length",
                    "numeric_precision",
                    "numeric_scale",
                    "datetime_precision",
                    "character_set_name",
                    "collation_name",
                    "column_type",
                    "column_key",
                    "extra",
                    "privileges",
                    "column_comment",
                    "generation_expression",
                ],
                &[
                    "ordinal_position",
                    "character_maximum_length",
                    "character_octet_length",
                    "numeric_precision",
                    "numeric_scale",
                    "datetime_precision",
                ],
                &rows,
            )
        }
        "statistics" => {
            let mut rows = Vec::new();
            for t in &tables {
                for ic in index_columns(t) {
                    let mut row = vec![
                        s("def"),
                        s(&t.schema),
                        s(&t.name),
                        s(if ic.unique { "0" } else { "1" }),
                        s(&t.schema),
                        s(ic.name),
                    ];
                    row.extend(index_column_details(t, &ic));
                    rows.push(row);
                }
            }
            build(
                &[
                    "table_catalog",
                    "table_schema",
                    "table_name",
                    "non_unique",
                    "index_schema",
                    "index_name",
                    "seq_in_index",
                    "column_name",
                    "collation",
                    "cardinality",
                    "sub_part",
                    "packed",
                    "nullable",
                    "index_type",
                    "comment",
                    "index_comment",
                    "is_visible",
                    "expression",
                ],
                &["non_unique", "seq_in_index", "cardinality", "sub_part"],
                &rows,
            )
        }
        _ => {
            // key_column_usage: primary keys and unique constraints (no foreign keys yet).
            let mut rows = Vec::new();
            for t in &tables {
                for ic in index_columns(t)
                    .iter()
                    .filter(|ic| ic.unique && ic.constraint)
                {
                    rows.push(vec![
                        s("def"),
                        s(&t.schema),
                        s(ic.name),
                        s("def"),
                        s(&t.schema),
                        s(&t.name),
                        s(&t.columns[ic.pos].name),
                        Some(ic.seq.to_string()),
                        None,
                        None,
                        None,
                        None,
                    ]);
                }
            }
            build(
                &[
                    "constraint_catalog",
                    "constraint_schema",
                    "constraint_name",
                    "table_catalog",
                    "table_schema",
                    "table_name",
                    "column_name",
                    "ordinal_position",
                    "position_in_unique_constraint",
                    "referenced_table_schema",
                    "referenced_table_name",
                    "referenced_column_name",
                ],
                &["ordinal_position", "position_in_unique_constraint"],
                &rows,
            )
        }
    }
}

#[async_trait]
impl SchemaProvider for MyInformationSchema {
    fn table_names(&self) -> Vec<String> {
        TABLES.iter().map(|t| (*t).to_owned()).collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let lower = name.to_ascii_lowercase();
        if lower == crate::colscan::STATUS_TABLE {
            return crate::colscan::status_table(&self.engine).map(Some);
        }
        if !TABLES.contains(&lower.as_str()) {
            return Ok(None);
        }
        let catalog = self.engine.catalog();
        let views = if lower == "columns" {
            crate::view::planned_views(&self.planner, crate::view::in_order(&catalog)).await
        } else {
            vec![]
        };
        let batch = rows_for(&lower, &catalog, &views)?;
        Ok(Some(Arc::new(MemTable::try_new(
            batch.schema(),
            vec![vec![batch]],
        )?)))
    }

    fn table_exist(&self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        TABLES.contains(&lower.as_str()) || lower == crate::colscan::STATUS_TABLE
    }
}
