//! Evaluating SQL expressions over Arrow batches (defaults, CHECK constraints, SET clauses,
//! RETURNING), and converting computed columns to a table's stored types.

use std::sync::Arc;

use basalt_common::types::NUMERIC_MAX_PRECISION;
use basalt_common::value::value_at;
use basalt_common::{SqlType, Value};
use basalt_storage::TableDef;
use datafusion::arrow::array::{new_null_array, Array, ArrayRef, StringArray};
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::util::display::FormatOptions;
use datafusion::common::tree_node::TreeNode;
use datafusion::common::DFSchema;
use datafusion::execution::SessionState;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{Expr, Volatility};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::sql::sqlparser::ast::Expr as AstExpr;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::datetime::DateInput;
use crate::error::{SqlError, SqlResult};
use crate::session::Session;

/// An identifier quoted for SQL text Basalt generates (embedded quotes doubled), so a name
/// can never end the quoting and inject SQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Parses one SQL expression (PostgreSQL dialect).
pub fn parse_expr(sql: &str) -> SqlResult<AstExpr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| {
            let e = p.parse_expr()?;
            p.expect_token(&datafusion::sql::sqlparser::tokenizer::Token::EOF)?;
            Ok(e)
        })
        .map_err(|e| SqlError::Syntax {
            message: format!("syntax error in expression: {e}"),
            position: None,
        })
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
    Ok(plan_expr(&s.ctx.state(), sql, df_schema)?.0)
}

/// [`compile`] in a given session state (PL/pgSQL code running away from its session).
pub fn compile_in(state: &SessionState, sql: &str) -> SqlResult<Arc<dyn PhysicalExpr>> {
    Ok(plan_expr(state, sql, DFSchema::empty())?.0)
}

/// DEFAULT expressions compiled and kept per session, at most this many.
const COMPILED_DEFAULTS_MAX: usize = 256;

/// Compiles a DEFAULT expression, once per session when that is safe: one that reads the
/// clock (`now()`, `current_date`) gets the time of the statement that uses it, so it is
/// compiled for every statement; volatile ones (`nextval`, `random`) run per row and are kept.
pub fn compile_default(s: &Session, sql: &str) -> SqlResult<Arc<dyn PhysicalExpr>> {
    if let Some(expr) = s.compiled_defaults.lock().get(sql) {
        return Ok(Arc::clone(expr));
    }
    let (physical, time_dependent) = plan_expr(&s.ctx.state(), sql, DFSchema::empty())?;
    if !time_dependent {
        let mut cache = s.compiled_defaults.lock();
        if cache.len() >= COMPILED_DEFAULTS_MAX {
            cache.clear();
        }
        cache.insert(sql.to_owned(), Arc::clone(&physical));
    }
    Ok(physical)
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
    Ok(plan_expr(&s.ctx.state(), sql, df_schema)?.0)
}

/// Plans `sql` over `df_schema`; also says whether it reads the clock. DataFusion's stable
/// functions (`now()`, `current_date`) only run once folded into the statement's start time,
/// as its query planner does: such expressions are folded here, at the current time.
fn plan_expr(
    state: &SessionState,
    sql: &str,
    df_schema: DFSchema,
) -> SqlResult<(Arc<dyn PhysicalExpr>, bool)> {
    let expr = state.create_logical_expr(sql, &df_schema)?;
    let expr = analyze_expr(state, expr, &df_schema)?;
    let time_dependent = expr.exists(|e| {
        Ok(matches!(e, Expr::ScalarFunction(f)
            if f.func.signature().volatility == Volatility::Stable))
    })?;
    let df_schema = Arc::new(df_schema);
    let expr = if time_dependent {
        let context = SimplifyContext::builder()
            .with_schema(Arc::clone(&df_schema))
            .with_current_time()
            .with_config_options(Arc::clone(state.config().options()))
            .build();
        ExprSimplifier::new(context).simplify(expr)?
    } else {
        expr
    };
    Ok((
        state.create_physical_expr(expr, &df_schema)?,
        time_dependent,
    ))
}

/// The session's analyzer rules (type coercion; PostgreSQL's integer overflow, numeric
/// special values and text casts) applied to one expression over `schema`, as they apply to
/// every planned query: RETURNING, ON CONFLICT, CHECK and DEFAULT expressions need them too.
fn analyze_expr(state: &SessionState, expr: Expr, schema: &DFSchema) -> SqlResult<Expr> {
    use datafusion::logical_expr::{EmptyRelation, LogicalPlan, LogicalPlanBuilder};
    let input = LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: true,
        schema: Arc::new(schema.clone()),
    });
    let plan = LogicalPlanBuilder::from(input)
        .project(vec![expr])?
        .build()?;
    let analyzed = state
        .analyzer()
        .execute_and_check(plan, state.config().options(), |_, _| {})?;
    match analyzed {
        LogicalPlan::Projection(p) => p
            .expr
            .into_iter()
            .next()
            .map(Expr::unalias)
            .ok_or_else(|| SqlError::Internal("analyzed expression lost".into())),
        other => Err(SqlError::Internal(format!(
            "analyzed expression became {}",
            other.display()
        ))),
    }
}

/// Evaluates an expression to a full-length array.
pub fn eval(expr: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> SqlResult<ArrayRef> {
    Ok(expr.evaluate(batch)?.into_array(batch.num_rows())?)
}

/// A batch with no columns and `rows` rows, to evaluate constant expressions against.
pub fn empty_batch(rows: usize) -> SqlResult<RecordBatch> {
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &options,
    )?)
}

pub fn validate_table_expr(s: &Session, def: &TableDef, sql: &str) -> SqlResult<()> {
    compile(s, sql, &physical_schema(def), Some(&def.name)).map(|_| ())
}

pub fn validate_default(s: &Session, sql: &str) -> SqlResult<()> {
    compile(s, sql, &Arc::new(Schema::empty()), None).map(|_| ())
}

/// Converts a computed column to the stored type of a column, with PostgreSQL's errors:
/// out-of-range numbers (22003), malformed text (22P02), over-long strings (22001). Text
/// stored into a date or timestamp column is read as PostgreSQL reads it, in the DateStyle
/// field order `date_order` (`None`: Arrow's ISO reading, for MySQL sessions).
/// A column of values converted to the stored type of column `col`, rounded to its declared
/// fractional-seconds precision.
pub fn to_column(
    array: &ArrayRef,
    col: &basalt_storage::catalog::ColumnDef,
    date_order: Option<DateInput>,
) -> SqlResult<ArrayRef> {
    let array = to_column_type(array, &col.ty, &col.name, date_order)?;
    match col.precision {
        Some(p) => crate::precision::apply(&array, p),
        None => Ok(array),
    }
}

/// Converts a computed column to an array column of `element`s: text is read as
/// PostgreSQL's array input, a list gets each element converted as a value stored in a
/// column of the element type would be (lengths checked, numbers rounded to the scale).
fn to_array_column_type(
    array: &ArrayRef,
    element: &SqlType,
    column: &str,
    date_order: Option<DateInput>,
) -> SqlResult<ArrayRef> {
    use datafusion::arrow::array::ListArray;
    use datafusion::arrow::datatypes::Field;
    let ty = SqlType::Array(Box::new(element.clone()));
    let target = ty.to_arrow();
    let list = match array.data_type() {
        DataType::Null => return Ok(new_null_array(&target, array.len())),
        t if is_string(t) => {
            crate::analyzer::text_to_array(array, &target, date_order.unwrap_or_default())?
        }
        DataType::List(_) => Arc::clone(array),
        DataType::LargeList(f) | DataType::FixedSizeList(f, _) => cast_with_options(
            array,
            &DataType::List(Arc::new(Field::new_list_field(f.data_type().clone(), true))),
            &CastOptions::default(),
        )?,
        other => {
            return Err(SqlError::DatatypeMismatch(format!(
                "column \"{column}\" is of type {} but expression is of type {}",
                ty.pg_name(),
                SqlType::from_arrow(other).map_or_else(|| other.to_string(), |t| t.pg_name())
            )))
        }
    };
    let list = list
        .as_any()
        .downcast_ref::<ListArray>()
        .ok_or_else(|| SqlError::Internal("array column conversion".into()))?;
    let mut values = Arc::clone(list.values());
    if matches!(values.data_type(), DataType::List(_)) && !matches!(element, SqlType::Array(_)) {
        return Err(SqlError::FeatureNotSupported(format!(
            "column \"{column}\" is of type {} and holds one-dimensional arrays: \
             a multidimensional array needs a column declared {}[]",
            ty.pg_name(),
            ty.pg_name()
        )));
    }
    if values.data_type() == &DataType::Null {
        values = new_null_array(&element.to_arrow(), values.len());
    }
    let values = to_column_type(&values, element, column, date_order)?;
    Ok(Arc::new(ListArray::try_new(
        Arc::new(Field::new_list_field(element.to_arrow(), true)),
        list.offsets().clone(),
        values,
        list.nulls().cloned(),
    )?))
}

pub fn to_column_type(
    array: &ArrayRef,
    ty: &SqlType,
    column: &str,
    date_order: Option<DateInput>,
) -> SqlResult<ArrayRef> {
    if let Some((precision, scale)) = ty.numeric_typmod_beyond_decimal() {
        let input = SqlType::Numeric {
            precision: NUMERIC_MAX_PRECISION,
            scale: crate::numeric::typmod_input_scale(precision, scale),
        };
        let wide = to_column_type(array, &input, column, date_order)
            .map_err(|e| crate::numeric::typmod_error(e, precision, scale))?;
        return crate::numeric::fit_typmod(&wide, precision, scale);
    }
    if let SqlType::Array(element) = ty {
        return to_array_column_type(array, element, column, date_order);
    }
    let target = ty.to_arrow();
    let array = if array.data_type() == &DataType::Null {
        new_null_array(&target, array.len())
    } else if let Some(order) = date_order
        .filter(|_| is_string(array.data_type()) && crate::datetime::reads_datetime(&target))
    {
        crate::datetime::text_to_datetime(array, &target, order)?
    } else if matches!(target, DataType::Decimal128(_, _))
        && (date_order.is_some() && is_string(array.data_type())
            || matches!(
                array.data_type(),
                DataType::Decimal128(_, _) | DataType::Float32 | DataType::Float64
            ))
    {
        // PostgreSQL's numeric input, and conversions that keep NaN and the infinities.
        if is_string(array.data_type()) {
            crate::numeric::text_to_numeric(array, &target)?
        } else if array.data_type() == &target {
            Arc::clone(array)
        } else {
            crate::numeric::convert(array, &target)?
        }
    } else if matches!(array.data_type(), DataType::Decimal128(_, _))
        && (matches!(target, DataType::Float32 | DataType::Float64) || is_string(&target))
    {
        // Numeric into a float or text column keeps NaN and the infinities.
        if is_string(&target) {
            let text = crate::numeric::to_text(array)?;
            cast_with_options(&text, &target, &CastOptions::default())?
        } else {
            crate::numeric::convert(array, &target)?
        }
    } else if date_order.is_some()
        && is_string(array.data_type())
        && matches!(target, DataType::Float32 | DataType::Float64)
    {
        // PostgreSQL's float input: '1e400' is out of range, not Infinity.
        crate::pgfloat::text_to_float(array, &target)?
    } else if *ty == SqlType::Bytea && is_string(array.data_type()) {
        bytea_from_text(array)?
    } else if *ty == SqlType::Interval && is_string(array.data_type()) {
        interval_from_text(array)?
    } else if array.data_type() == &target {
        Arc::clone(array)
    } else if ty.is_integer()
        && matches!(
            array.data_type(),
            DataType::Float32 | DataType::Float64 | DataType::Decimal128(_, _)
        )
    {
        // PostgreSQL rounds fractional values stored into integer columns.
        let rounded = round_to_integer(array)?;
        return to_column_type(&rounded, ty, column, date_order);
    } else {
        let options = CastOptions {
            safe: false,
            format_options: FormatOptions::default(),
        };
        // Between timestamptz and timestamp, date or time: the session zone's wall clock.
        if let Some(how) = date_order {
            if let Some(shifted) = crate::zone::shift_for_cast(array, &target, how.zone)? {
                return to_column_type(&shifted, ty, column, date_order);
            }
        }
        cast_with_options(array, &target, &options).map_err(|e| {
            let msg = e.to_string();
            let lower = msg.to_lowercase();
            if lower.contains("overflow")
                || lower.contains("can't cast value")
                || lower.contains("too large")
                || lower.contains("out of range")
            {
                match ty {
                    SqlType::Numeric { .. } => {
                        SqlError::OutOfRange("numeric field overflow".into())
                    }
                    _ => SqlError::OutOfRange(format!("{} out of range", type_word(ty))),
                }
            } else if is_string(array.data_type()) {
                let bad = first_bad_text(array, &target).unwrap_or_default();
                if ty.is_integer() && crate::error::is_integer_text(&bad) {
                    SqlError::OutOfRange(format!(
                        "value \"{bad}\" is out of range for type {}",
                        ty.pg_name()
                    ))
                } else {
                    SqlError::InvalidText(format!(
                        "invalid input syntax for type {}: \"{bad}\"",
                        ty.pg_name()
                    ))
                }
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

/// Rounds floats (half to even, like PostgreSQL's rint) and decimals (half away from zero)
/// to whole numbers, as Int64 (then range-checked by the caller's cast).
fn round_to_integer(array: &ArrayRef) -> SqlResult<ArrayRef> {
    use datafusion::arrow::array::{Decimal128Array, Float64Array, Int64Array};
    let out: Int64Array = match array.data_type() {
        DataType::Decimal128(_, scale) => {
            let a = array
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .ok_or_else(|| SqlError::Internal("decimal".into()))?;
            let div = 10i128.checked_pow((*scale).max(0) as u32).unwrap_or(1);
            let mut values = Vec::with_capacity(a.len());
            for v in a.iter() {
                values.push(match v {
                    None => None,
                    Some(v) if crate::numeric::is_special(v) => {
                        let word = if v == crate::numeric::NAN {
                            "NaN"
                        } else {
                            "infinity"
                        };
                        return Err(SqlError::FeatureNotSupported(format!(
                            "cannot convert {word} to integer"
                        )));
                    }
                    Some(v) => {
                        let q = v / div;
                        let r = v % div;
                        let q = if r.abs() * 2 >= div {
                            q + v.signum()
                        } else {
                            q
                        };
                        Some(
                            i64::try_from(q)
                                .map_err(|_| SqlError::OutOfRange("bigint out of range".into()))?,
                        )
                    }
                });
            }
            values.into_iter().collect()
        }
        _ => {
            let f = cast_with_options(array, &DataType::Float64, &CastOptions::default())?;
            let f = f
                .as_any()
                .downcast_ref::<Float64Array>()
                .ok_or_else(|| SqlError::Internal("float".into()))?;
            let mut values = Vec::with_capacity(f.len());
            for v in f.iter() {
                values.push(match v {
                    None => None,
                    Some(x) => {
                        let r = x.round_ties_even();
                        if !r.is_finite() || r < i64::MIN as f64 || r >= i64::MAX as f64 {
                            return Err(SqlError::OutOfRange("bigint out of range".into()));
                        }
                        Some(r as i64)
                    }
                });
            }
            values.into_iter().collect()
        }
    };
    Ok(Arc::new(out))
}

fn is_string(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
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
    let options = CastOptions {
        safe: false,
        format_options: FormatOptions::default(),
    };
    for i in 0..strings.len() {
        if strings.is_null(i) {
            continue;
        }
        let one: ArrayRef = Arc::new(StringArray::from(vec![strings.value(i)]));
        if cast_with_options(&one, target, &options).is_err() {
            return Some(strings.value(i).to_owned());
        }
    }
    None
}

/// VARCHAR(n)/CHAR(n): reject longer values. CHAR(n) values are stored without trailing
/// blanks (PostgreSQL ignores them in comparisons and `length`); output pads them to n.
fn enforce_length(array: &ArrayRef, ty: &SqlType) -> SqlResult<ArrayRef> {
    let Some(max) = ty.max_chars() else {
        return Ok(Arc::clone(array));
    };
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
        if matches!(ty, SqlType::Char(_)) && v.ends_with(' ') {
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
                let s: String = v.chars().take(max).collect();
                if is_char {
                    s.trim_end_matches(' ').to_owned()
                } else {
                    s
                }
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

fn interval_from_text(array: &ArrayRef) -> SqlResult<ArrayRef> {
    let strings = cast_with_options(array, &DataType::Utf8, &CastOptions::default())?;
    let strings = strings
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| SqlError::Internal("interval input is not text".into()))?;
    let mut out = datafusion::arrow::array::IntervalMonthDayNanoBuilder::new();
    for v in strings.iter() {
        match v {
            None => out.append_null(),
            Some(text) => {
                let (m, d, n) = parse_pg_interval(text)
                    .or_else(|| parse_pg_interval(&mysql_day_time(text)?))
                    .ok_or_else(|| {
                        SqlError::InvalidText(format!(
                            "invalid input syntax for type interval: \"{text}\""
                        ))
                    })?;
                out.append_value(datafusion::arrow::datatypes::IntervalMonthDayNano::new(
                    m, d, n,
                ));
            }
        }
    }
    Ok(Arc::new(out.finish()))
}

/// MySQL's `D HH:MM:SS` TIME form as PostgreSQL interval text (`D days HH:MM:SS`).
fn mysql_day_time(text: &str) -> Option<String> {
    let (days, time) = text.trim().split_once(' ')?;
    days.parse::<i64>().ok()?;
    time.contains(':').then(|| format!("{days} days {time}"))
}

pub fn parse_bytea(text: &str) -> SqlResult<Vec<u8>> {
    let bad = || SqlError::InvalidText("invalid input syntax for type bytea".into());
    if let Some(hex) = text.strip_prefix("\\x") {
        let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        if !digits.len().is_multiple_of(2) {
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
    parse_bytea_escape(text)
}

/// bytea's escape format: `\\` is a backslash and `\ooo` (octal, at most 377) a byte.
pub(crate) fn parse_bytea_escape(text: &str) -> SqlResult<Vec<u8>> {
    let bad = || SqlError::InvalidText("invalid input syntax for type bytea".into());
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
            let octal = |d: u8, max: u8| (b'0'..=max).contains(&d);
            if !(octal(oct[0], b'3') && octal(oct[1], b'7') && octal(oct[2], b'7')) {
                return Err(bad());
            }
            out.push((oct[0] - b'0') * 64 + (oct[1] - b'0') * 8 + (oct[2] - b'0'));
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

/// Parses PostgreSQL interval input: `1 day 02:03:04`, `-03:00:00`, `2 years 2 mons`,
/// `1 hour 30 minutes`, `1.5 days` … into (months, days, nanoseconds).
pub fn parse_pg_interval(text: &str) -> Option<(i32, i32, i64)> {
    // Accumulated in i128 so that no input can overflow (out-of-range totals are refused).
    let mut months: i128 = 0;
    let mut days: i128 = 0;
    let mut nanos: i128 = 0;
    let mut tokens = text
        .trim()
        .trim_start_matches('@')
        .split_whitespace()
        .peekable();
    let mut any = false;
    while let Some(tok) = tokens.next() {
        if tok.eq_ignore_ascii_case("ago") {
            months = -months;
            days = -days;
            nanos = -nanos;
            continue;
        }
        if tok.contains(':') {
            nanos += parse_clock(tok)?;
            any = true;
            continue;
        }
        // "<number><unit>" or "<number> <unit>"
        let split = tok
            .find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(tok.len());
        let (num, unit_inline) = tok.split_at(split);
        let value: f64 = num.parse().ok().filter(|v: &f64| v.is_finite())?;
        let unit = if unit_inline.is_empty() {
            tokens.next()?.to_ascii_lowercase()
        } else {
            unit_inline.to_ascii_lowercase()
        };
        let unit = unit.trim_end_matches(',');
        const NS_PER_S: f64 = 1e9;
        match unit {
            "millennium" | "millennia" | "millenniums" => months += (value * 12000.0) as i128,
            "century" | "centuries" => months += (value * 1200.0) as i128,
            "decade" | "decades" => months += (value * 120.0) as i128,
            "y" | "yr" | "yrs" | "year" | "years" => {
                months += (value * 12.0).round() as i128;
            }
            "mon" | "mons" | "month" | "months" => {
                let whole = value.trunc();
                months += whole as i128;
                let frac_days = (value - whole) * 30.0;
                days += frac_days.trunc() as i128;
                nanos += ((frac_days - frac_days.trunc()) * 86_400.0 * NS_PER_S) as i128;
            }
            "w" | "week" | "weeks" => {
                let d = value * 7.0;
                days += d.trunc() as i128;
                nanos += ((d - d.trunc()) * 86_400.0 * NS_PER_S) as i128;
            }
            "d" | "day" | "days" => {
                days += value.trunc() as i128;
                nanos += ((value - value.trunc()) * 86_400.0 * NS_PER_S) as i128;
            }
            "h" | "hr" | "hrs" | "hour" | "hours" => nanos += (value * 3600.0 * NS_PER_S) as i128,
            "m" | "min" | "mins" | "minute" | "minutes" => {
                nanos += (value * 60.0 * NS_PER_S) as i128
            }
            "s" | "sec" | "secs" | "second" | "seconds" => {
                nanos += (value * NS_PER_S).round() as i128
            }
            "ms" | "msec" | "msecs" | "millisecond" | "milliseconds" => {
                nanos += (value * 1e6).round() as i128
            }
            "us" | "usec" | "usecs" | "microsecond" | "microseconds" => {
                nanos += (value * 1e3).round() as i128
            }
            "ns" | "nanosecond" | "nanoseconds" => nanos += value.round() as i128,
            _ => return None,
        }
        any = true;
    }
    if !any {
        return None;
    }
    Some((
        i32::try_from(months).ok()?,
        i32::try_from(days).ok()?,
        i64::try_from(nanos).ok()?,
    ))
}

/// `[-]HH:MM[:SS[.ffffff]]` as nanoseconds.
fn parse_clock(tok: &str) -> Option<i128> {
    let (neg, body) = match tok.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, tok.strip_prefix('+').unwrap_or(tok)),
    };
    let parts: Vec<&str> = body.split(':').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return None;
    }
    let h = i128::from(parts[0].parse::<i64>().ok()?);
    let m = i128::from(parts[1].parse::<i64>().ok()?);
    let s: f64 = match parts.get(2) {
        Some(s) => s.parse().ok()?,
        None => 0.0,
    };
    let total = (h * 3600 + m * 60) * 1_000_000_000 + (s * 1e9).round() as i128;
    Some(if neg { -total } else { total })
}

/// The interval in a form Arrow's interval parser reads exactly.
pub fn interval_literal(months: i32, days: i32, nanos: i64) -> String {
    format!("{months} months {days} days {nanos} nanoseconds")
}

#[cfg(test)]
mod interval_tests {
    use super::parse_pg_interval;

    #[test]
    fn postgres_interval_forms() {
        let h = 3_600_000_000_000i64;
        assert_eq!(
            parse_pg_interval("1 day 02:03:04"),
            Some((0, 1, 2 * h + 3 * 60_000_000_000 + 4_000_000_000))
        );
        assert_eq!(parse_pg_interval("-03:00:00"), Some((0, 0, -3 * h)));
        assert_eq!(parse_pg_interval("2 years 2 mons"), Some((26, 0, 0)));
        assert_eq!(
            parse_pg_interval("1 hour 30 minutes"),
            Some((0, 0, h + h / 2))
        );
        assert_eq!(
            parse_pg_interval("45 minutes"),
            Some((0, 0, 45 * 60_000_000_000))
        );
        assert_eq!(parse_pg_interval("2 days -01:00:00"), Some((0, 2, -h)));
        assert_eq!(parse_pg_interval("banana"), None);
        assert_eq!(parse_pg_interval(""), None);
    }
}
