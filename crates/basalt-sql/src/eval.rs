//! Evaluating SQL expressions over Arrow batches (defaults, CHECK constraints, SET clauses,
//! RETURNING), and converting computed columns to a table's stored types.

use std::sync::Arc;

use basalt_common::value::value_at;
use basalt_common::{SqlType, Value};
use basalt_storage::TableDef;
use datafusion::arrow::array::{new_null_array, Array, ArrayRef, StringArray};
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::util::display::FormatOptions;
use datafusion::common::DFSchema;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::sql::sqlparser::ast::Expr as AstExpr;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::error::{SqlError, SqlResult};
use crate::session::Session;

/// Parses one SQL expression (PostgreSQL dialect).
pub fn parse_expr(sql: &str) -> SqlResult<AstExpr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| SqlError::Syntax { message: format!("syntax error in expression: {e}"), position: None })
}

/// Arrow schema of a table's full physical row (dropped columns keep a placeholder name).
pub fn physical_schema(def: &TableDef) -> SchemaRef {
    Arc::new(Schema::new(
        def.columns
            .iter()
            .map(|c| Field::new(&c.name, c.ty.to_arrow(), true))
            .collect::<Vec<_>>(),
    ))
}

/// Compiles an expression over the given schema, qualified by `qualifier` when given.
pub fn compile(
    s: &Session,
    sql: &str,
    schema: &SchemaRef,
    qualifier: Option<&str>,
) -> SqlResult<Arc<dyn PhysicalExpr>> {
    let df_schema = match qualifier {
        Some(q) => DFSchema::try_from_qualified_schema(q, schema)?,
        None => DFSchema::try_from(schema.as_ref().clone())?,
    };
    let expr = s.ctx.parse_sql_expr(sql, &df_schema)?;
    Ok(s.ctx.create_physical_expr(expr, &df_schema)?)
}

/// Compiles over a schema with several qualified parts (e.g. the table and `excluded`).
pub fn compile_multi(
    s: &Session,
    sql: &str,
    parts: &[(&str, SchemaRef)],
) -> SqlResult<Arc<dyn PhysicalExpr>> {
    let mut df_schema = DFSchema::empty();
    for (q, schema) in parts {
        let part = DFSchema::try_from_qualified_schema(*q, schema)?;
        df_schema = df_schema.join(&part)?;
    }
    let expr = s.ctx.parse_sql_expr(sql, &df_schema)?;
    Ok(s.ctx.create_physical_expr(expr, &df_schema)?)
}

/// Evaluates an expression to a full-length array.
pub fn eval(expr: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> SqlResult<ArrayRef> {
    Ok(expr.evaluate(batch)?.into_array(batch.num_rows())?)
}

/// A batch with no columns and `rows` rows, to evaluate constant expressions against.
pub fn empty_batch(rows: usize) -> SqlResult<RecordBatch> {
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(Arc::new(Schema::empty()), vec![], &options)?)
}

pub fn validate_table_expr(s: &Session, def: &TableDef, sql: &str) -> SqlResult<()> {
    compile(s, sql, &physical_schema(def), Some(&def.name)).map(|_| ())
}

pub fn validate_default(s: &Session, sql: &str) -> SqlResult<()> {
    compile(s, sql, &Arc::new(Schema::empty()), None).map(|_| ())
}

/// Converts a computed column to the stored type of a column, with PostgreSQL's errors:
/// out-of-range numbers (22003), malformed text (22P02), over-long strings (22001).
pub fn to_column_type(array: &ArrayRef, ty: &SqlType, column: &str) -> SqlResult<ArrayRef> {
    let target = ty.to_arrow();
    let array = if array.data_type() == &DataType::Null {
        new_null_array(&target, array.len())
    } else if *ty == SqlType::Bytea && is_string(array.data_type()) {
        bytea_from_text(array)?
    } else if array.data_type() == &target {
        Arc::clone(array)
    } else {
        let options = CastOptions { safe: false, format_options: FormatOptions::default() };
        cast_with_options(array, &target, &options).map_err(|e| {
            let msg = e.to_string();
            let lower = msg.to_lowercase();
            if lower.contains("overflow") || lower.contains("can't cast value") || lower.contains("too large") || lower.contains("out of range") {
                SqlError::OutOfRange(format!("{} out of range", type_word(ty)))
            } else if is_string(array.data_type()) {
                SqlError::InvalidText(format!(
                    "invalid input syntax for type {}: {}",
                    ty.pg_name(),
                    first_bad_text(array, &target).unwrap_or_default()
                ))
            } else {
                SqlError::DatatypeMismatch(format!(
                    "column \"{column}\" is of type {} but expression is of type {}",
                    ty.pg_name(),
                    array.data_type()
                ))
            }
        })?
    };
    enforce_length(&array, ty)
}

fn is_string(dt: &DataType) -> bool {
    matches!(dt, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn type_word(ty: &SqlType) -> String {
    match ty {
        SqlType::Int16 => "smallint".into(),
        SqlType::Int32 => "integer".into(),
        SqlType::Int64 => "bigint".into(),
        SqlType::Numeric { .. } => "numeric field".into(),
        other => other.pg_name(),
    }
}

fn first_bad_text(array: &ArrayRef, target: &DataType) -> Option<String> {
    let strings = cast_with_options(array, &DataType::Utf8, &CastOptions::default()).ok()?;
    let strings = strings.as_any().downcast_ref::<StringArray>()?;
    let options = CastOptions { safe: false, format_options: FormatOptions::default() };
    for i in 0..strings.len() {
        if strings.is_null(i) {
            continue;
        }
        let one: ArrayRef = Arc::new(StringArray::from(vec![strings.value(i)]));
        if cast_with_options(&one, target, &options).is_err() {
            return Some(format!("\"{}\"", strings.value(i)));
        }
    }
    None
}

/// VARCHAR(n)/CHAR(n): reject longer values; CHAR(n) pads with blanks.
fn enforce_length(array: &ArrayRef, ty: &SqlType) -> SqlResult<ArrayRef> {
    let Some(max) = ty.max_chars() else { return Ok(Arc::clone(array)) };
    let Some(strings) = array.as_any().downcast_ref::<StringArray>() else {
        return Ok(Arc::clone(array));
    };
    let max = max as usize;
    let mut needs_pad = false;
    for v in strings.iter().flatten() {
        let n = v.chars().count();
        if n > max {
            // PostgreSQL allows trailing blanks beyond the limit; they are cut.
            if v.trim_end_matches(' ').chars().count() > max {
                return Err(SqlError::StringTooLong(ty.pg_name()));
            }
            needs_pad = true;
        }
        if matches!(ty, SqlType::Char(_)) && n != max {
            needs_pad = true;
        }
    }
    if !needs_pad {
        return Ok(Arc::clone(array));
    }
    let is_char = matches!(ty, SqlType::Char(_));
    let out: StringArray = strings
        .iter()
        .map(|v| {
            v.map(|v| {
                let mut s: String = v.chars().take(max).collect();
                if is_char {
                    let n = s.chars().count();
                    s.extend(std::iter::repeat_n(' ', max - n));
                }
                s
            })
        })
        .collect();
    Ok(Arc::new(out))
}

/// PostgreSQL bytea input: `\x` hex, or the escape format (`\\`, `\ooo`).
fn bytea_from_text(array: &ArrayRef) -> SqlResult<ArrayRef> {
    let strings = cast_with_options(array, &DataType::Utf8, &CastOptions::default())?;
    let strings = strings
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| SqlError::Internal("bytea input is not text".into()))?;
    let mut out = datafusion::arrow::array::BinaryBuilder::new();
    for v in strings.iter() {
        match v {
            None => out.append_null(),
            Some(text) => out.append_value(parse_bytea(text)?),
        }
    }
    Ok(Arc::new(out.finish()))
}

pub fn parse_bytea(text: &str) -> SqlResult<Vec<u8>> {
    let bad = || SqlError::InvalidText("invalid input syntax for type bytea".into());
    if let Some(hex) = text.strip_prefix("\\x") {
        let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        if digits.len() % 2 != 0 {
            return Err(bad());
        }
        return digits
            .chunks(2)
            .map(|p| {
                let s = std::str::from_utf8(p).map_err(|_| bad())?;
                u8::from_str_radix(s, 16).map_err(|_| bad())
            })
            .collect();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
        } else if bytes.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else {
            let oct = bytes.get(i + 1..i + 4).ok_or_else(bad)?;
            let s = std::str::from_utf8(oct).map_err(|_| bad())?;
            out.push(u8::from_str_radix(s, 8).map_err(|_| bad())?);
            i += 4;
        }
    }
    Ok(out)
}

/// Row `i` of a batch whose columns are already in the table's stored types.
pub fn row_values(columns: &[ArrayRef], types: &[SqlType], i: usize) -> SqlResult<Vec<Value>> {
    columns
        .iter()
        .zip(types)
        .map(|(a, ty)| value_at(a.as_ref(), i, ty).map_err(SqlError::from))
        .collect()
}
