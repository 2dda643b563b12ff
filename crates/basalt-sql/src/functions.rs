//! SQL functions Basalt adds to DataFusion: sequences (`nextval`, `currval`, `setval`) and the
//! PostgreSQL server functions clients call (`version()`).

use std::any::Any;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use basalt_storage::Engine;
use datafusion::arrow::array::{Array, ArrayRef, Int64Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{
    create_udf, ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TypeSignature, Volatility,
};

use parking_lot::Mutex;

use crate::error::SqlError;
use crate::session::SERVER_VERSION;

/// The first value `nextval` produced since the slot was last cleared (MySQL's
/// `LAST_INSERT_ID()` of an INSERT that generated AUTO_INCREMENT values).
pub type FirstGenerated = Arc<Mutex<Option<i64>>>;

pub fn register(ctx: &SessionContext, engine: &Arc<Engine>) -> FirstGenerated {
    let session_values = Arc::new(Mutex::new(HashMap::new()));
    let first: FirstGenerated = Arc::new(Mutex::new(None));
    for kind in [SeqKind::Nextval, SeqKind::Currval, SeqKind::Setval] {
        ctx.register_udf(ScalarUDF::from(SequenceFn::new(
            kind,
            Arc::clone(engine),
            Arc::clone(&session_values),
            Arc::clone(&first),
        )));
    }
    ctx.register_udf(ScalarUDF::from(VersionFn::new()));
    ctx.register_udf(crate::domain::DomainValue::udf());
    ctx.register_udf(ScalarUDF::from(PgTypeof {
        signature: Signature::any(1, Volatility::Immutable),
    }));
    ctx.register_udf(create_udf(
        "pg_sleep",
        vec![DataType::Float64],
        DataType::Utf8,
        Volatility::Volatile,
        Arc::new(pg_sleep),
    ));
    ctx.register_udf(crate::srf::PgGenerateSeries::udf());
    ctx.register_udf(crate::undefined_fn::UndefinedFunction::udf());
    ctx.register_udf(crate::extract::PgExtract::udf(true));
    ctx.register_udf(crate::extract::PgExtract::udf(false));
    ctx.register_udf(crate::analyzer::interval_mul_udf());
    ctx.register_udf(create_udf(
        "chr",
        vec![DataType::Int64],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(pg_chr),
    ));
    ctx.register_udf(TextFn::udf(
        "json_build_object",
        Volatility::Immutable,
        json_build_object,
    ));
    ctx.register_udf(create_udf(
        "pg_collation_is_visible",
        vec![DataType::Int64],
        DataType::Boolean,
        Volatility::Stable,
        Arc::new(|_args: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
        }),
    ));
    // Object comments: Basalt has no COMMENT ON, so no object has a description (psql's
    // `\d+` and `\dt+` ask for them).
    for (name, args) in [
        ("col_description", vec![DataType::Int64, DataType::Int64]),
        ("obj_description", vec![DataType::Int64, DataType::Utf8]),
        ("shobj_description", vec![DataType::Int64, DataType::Utf8]),
    ] {
        ctx.register_udf(create_udf(
            name,
            args,
            DataType::Utf8,
            Volatility::Stable,
            Arc::new(|_args: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
        ));
    }
    let seq_engine = Arc::clone(engine);
    ctx.register_udf(create_udf(
        "pg_get_serial_sequence",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| serial_sequence(&seq_engine, args)),
    ));
    let name_engine = Arc::clone(engine);
    ctx.register_udf(create_udf(
        "pg_regclass_name",
        vec![DataType::Int64],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| regclass_name(&name_engine, args)),
    ));
    ctx.register_udf(create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int64,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| map_text(args, |name| type_oid(name).map(i64::from))),
    ));
    first
}

/// `chr(n)`: the character with code point `n`, refused as PostgreSQL refuses it (54000)
/// for 0, negative numbers and what is not a Unicode scalar value.
fn pg_chr(args: &[ColumnarValue]) -> DfResult<ColumnarValue> {
    use datafusion::arrow::array::StringBuilder;
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let codes = arrays
        .first()
        .and_then(|a| a.as_any().downcast_ref::<Int64Array>())
        .ok_or_else(|| DataFusionError::Internal("chr takes an integer".into()))?;
    let limit = |message: String| {
        SqlError::Detailed {
            sqlstate: "54000",
            message,
            detail: String::new(),
            hint: None,
        }
        .into_datafusion()
    };
    let mut out = StringBuilder::with_capacity(codes.len(), codes.len());
    for code in codes.iter() {
        let Some(code) = code else {
            out.append_null();
            continue;
        };
        if code < 0 {
            return Err(limit("character number must be positive".into()));
        }
        if code == 0 {
            return Err(limit("null character not permitted".into()));
        }
        if code > 0x10_FFFF {
            return Err(limit(format!(
                "requested character too large for encoding: {code}"
            )));
        }
        match u32::try_from(code).ok().and_then(char::from_u32) {
            Some(c) => out.append_value(c.to_string()),
            None => {
                return Err(limit(format!(
                    "requested character not valid for encoding: {code}"
                )))
            }
        }
    }
    let array: ArrayRef = Arc::new(out.finish());
    Ok(
        if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)
        } else {
            ColumnarValue::Array(array)
        },
    )
}

/// `current_setting(name [, missing_ok])`: a session setting, as SHOW reports it.
pub fn register_settings(
    ctx: &SessionContext,
    settings: &Arc<Mutex<std::collections::BTreeMap<String, String>>>,
) {
    ctx.register_udf(ScalarUDF::from(CurrentSetting {
        settings: Arc::clone(settings),
        signature: Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Utf8]),
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Boolean]),
            ],
            Volatility::Stable,
        ),
    }));
}

struct CurrentSetting {
    settings: Arc<Mutex<std::collections::BTreeMap<String, String>>>,
    signature: Signature,
}

impl std::fmt::Debug for CurrentSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("current_setting")
    }
}
impl PartialEq for CurrentSetting {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.settings, &other.settings)
    }
}
impl Eq for CurrentSetting {}
impl Hash for CurrentSetting {
    fn hash<H: Hasher>(&self, state: &mut H) {
        "current_setting".hash(state);
    }
}

impl ScalarUDFImpl for CurrentSetting {
    fn name(&self) -> &str {
        "current_setting"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let missing_ok = matches!(
            args.args.get(1),
            Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
        );
        let arrays = ColumnarValue::values_to_arrays(&args.args[..1])?;
        let names = datafusion::arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
        let names = names
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| DataFusionError::Execution("setting name must be text".into()))?;
        let map = self.settings.lock();
        let mut out = Vec::with_capacity(names.len());
        for n in names.iter() {
            let v = n.and_then(|n| map.get(&n.to_lowercase()).cloned());
            if let (None, Some(n), false) = (&v, n, missing_ok) {
                return Err(SqlError::InvalidParameterValue(format!(
                    "unrecognized configuration parameter \"{n}\""
                ))
                .into_datafusion());
            }
            out.push(v);
        }
        Ok(ColumnarValue::Array(Arc::new(StringArray::from(out))))
    }
}

/// `oid::regclass` as text: the name of the table or view with that object id (qualified
/// when it is outside `public`), or the number itself when there is none, as PostgreSQL
/// prints an unknown oid.
fn regclass_name(engine: &Engine, args: &[ColumnarValue]) -> DfResult<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let oids = datafusion::arrow::compute::cast(&arrays[0], &DataType::Int64)?;
    let Some(oids) = oids
        .as_any()
        .downcast_ref::<datafusion::arrow::array::Int64Array>()
    else {
        return Err(DataFusionError::Execution("regclass expects an oid".into()));
    };
    let catalog = engine.catalog();
    let out: StringArray = oids
        .iter()
        .map(|oid| {
            let oid = oid?;
            let named = |schema: &str, name: &str| {
                if schema == basalt_storage::catalog::DEFAULT_SCHEMA {
                    crate::pgformat::quote_ident(name)
                } else {
                    format!(
                        "{}.{}",
                        crate::pgformat::quote_ident(schema),
                        crate::pgformat::quote_ident(name)
                    )
                }
            };
            let found = catalog
                .tables
                .values()
                .find(|t| i64::from(t.oid) == oid)
                .map(|t| named(&t.schema, &t.name))
                .or_else(|| {
                    catalog
                        .views
                        .values()
                        .find(|v| i64::from(v.oid) == oid)
                        .map(|v| named(&v.schema, &v.name))
                });
            Some(found.unwrap_or_else(|| oid.to_string()))
        })
        .collect();
    Ok(ColumnarValue::Array(Arc::new(out)))
}

/// `pg_get_serial_sequence(table, column)`: the sequence a SERIAL/identity column draws from.
fn serial_sequence(engine: &Engine, args: &[ColumnarValue]) -> DfResult<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let tables = datafusion::arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
    let columns = datafusion::arrow::compute::cast(&arrays[1], &DataType::Utf8)?;
    let (Some(tables), Some(columns)) = (
        tables.as_any().downcast_ref::<StringArray>(),
        columns.as_any().downcast_ref::<StringArray>(),
    ) else {
        return Err(DataFusionError::Execution(
            "pg_get_serial_sequence expects text".into(),
        ));
    };
    let catalog = engine.catalog();
    let out: StringArray = (0..tables.len())
        .map(|i| {
            if tables.is_null(i) || columns.is_null(i) {
                return None;
            }
            let name = tables.value(i).trim_matches('"');
            let (schema, table) = name
                .split_once('.')
                .unwrap_or((basalt_storage::catalog::DEFAULT_SCHEMA, name));
            let def = catalog.table_by_name(schema, table)?;
            let pos = def.column_position(columns.value(i))?;
            catalog
                .sequences
                .values()
                .find(|q| q.owned_by == Some((def.id, pos)))
                .map(|q| q.name.clone())
        })
        .collect();
    Ok(ColumnarValue::Array(Arc::new(out)))
}

/// The body of a [`TextFn`]: argument arrays and row count in, a text array out.
type TextBody = dyn Fn(&[ArrayRef], usize) -> DfResult<ArrayRef> + Send + Sync;

/// A SQL function of any arguments that returns text. Catalog and formatting functions
/// (`pg_get_expr`, `pg_get_indexdef`, `json_build_object`, the `::text` rendering …) share
/// this one implementation of DataFusion's UDF trait.
/// Whether every argument of a call is a single value (so the result is one too).
/// The longest `pg_sleep` Basalt honours (a day); PostgreSQL has no bound.
const PG_SLEEP_SECONDS_MAX: f64 = 86_400.0;

/// `pg_sleep(seconds)`: waits, then returns void (shown as an empty value). The statement's
/// worker thread is handed back to the runtime while it sleeps.
fn pg_sleep(args: &[ColumnarValue]) -> DfResult<ColumnarValue> {
    let seconds = match args.first() {
        Some(ColumnarValue::Scalar(ScalarValue::Float64(s))) => s.unwrap_or(0.0),
        Some(ColumnarValue::Array(a)) if !a.is_empty() => {
            let a = datafusion::arrow::array::AsArray::as_primitive::<
                datafusion::arrow::datatypes::Float64Type,
            >(a.as_ref());
            if a.is_null(0) {
                0.0
            } else {
                a.value(0)
            }
        }
        _ => 0.0,
    };
    let seconds = if seconds.is_nan() {
        0.0
    } else {
        seconds.clamp(0.0, PG_SLEEP_SECONDS_MAX)
    };
    let pause = std::time::Duration::from_secs_f64(seconds);
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| std::thread::sleep(pause))
        }
        _ => std::thread::sleep(pause),
    }
    Ok(ColumnarValue::Scalar(ScalarValue::Utf8(
        Some(String::new()),
    )))
}

pub(crate) fn all_scalar(args: &[ColumnarValue]) -> bool {
    args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)))
}

/// A function's result: one value when every argument was a single value, else a column.
pub(crate) fn columnar_result(out: ArrayRef, scalar: bool) -> DfResult<ColumnarValue> {
    if scalar && !out.is_empty() {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
    } else {
        Ok(ColumnarValue::Array(out))
    }
}

pub struct TextFn {
    name: &'static str,
    signature: Signature,
    body: Box<TextBody>,
}

impl TextFn {
    pub fn udf(
        name: &'static str,
        volatility: Volatility,
        body: impl Fn(&[ArrayRef], usize) -> DfResult<ArrayRef> + Send + Sync + 'static,
    ) -> ScalarUDF {
        ScalarUDF::from(TextFn {
            name,
            signature: Signature::variadic_any(volatility),
            body: Box::new(body),
        })
    }
}

impl std::fmt::Debug for TextFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}
impl PartialEq for TextFn {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for TextFn {}
impl Hash for TextFn {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for TextFn {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        Ok(ColumnarValue::Array((self.body)(
            &arrays,
            args.number_rows,
        )?))
    }
}

/// `json_build_object(k1, v1, …)`: a JSON object as text.
fn json_build_object(arrays: &[ArrayRef], rows: usize) -> DfResult<ArrayRef> {
    if !arrays.len().is_multiple_of(2) {
        return Err(SqlError::InvalidParameterValue(
            "argument list must have even number of elements".into(),
        )
        .into_datafusion());
    }
    let mut out = Vec::with_capacity(rows);
    for row in 0..rows {
        let mut obj = serde_json::Map::new();
        for pair in arrays.chunks(2) {
            let key = ScalarValue::try_from_array(&pair[0], row)?.to_string();
            let value = ScalarValue::try_from_array(&pair[1], row)?;
            obj.insert(key, json_value(&value));
        }
        out.push(Some(serde_json::Value::Object(obj).to_string()));
    }
    Ok(Arc::new(StringArray::from(out)))
}

fn json_value(v: &ScalarValue) -> serde_json::Value {
    if v.is_null() {
        return serde_json::Value::Null;
    }
    match v {
        ScalarValue::Boolean(Some(b)) => serde_json::Value::Bool(*b),
        ScalarValue::Int8(Some(x)) => (*x).into(),
        ScalarValue::Int16(Some(x)) => (*x).into(),
        ScalarValue::Int32(Some(x)) => (*x).into(),
        ScalarValue::Int64(Some(x)) => (*x).into(),
        ScalarValue::UInt32(Some(x)) => (*x).into(),
        ScalarValue::UInt64(Some(x)) => (*x).into(),
        ScalarValue::Float64(Some(x)) => serde_json::Number::from_f64(*x)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        other => serde_json::Value::String(other.to_string()),
    }
}

/// Applies `f` to a text argument, scalar or array.
fn map_text(args: &[ColumnarValue], f: impl Fn(&str) -> Option<i64>) -> DfResult<ColumnarValue> {
    match args.first() {
        Some(ColumnarValue::Scalar(v)) => {
            let text = match v {
                ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => {
                    s.clone()
                }
                _ => None,
            };
            Ok(ColumnarValue::Scalar(ScalarValue::Int64(
                text.as_deref().and_then(&f),
            )))
        }
        Some(ColumnarValue::Array(a)) => {
            let strings = datafusion::arrow::compute::cast(a, &DataType::Utf8)?;
            let strings = strings
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| DataFusionError::Execution("expected text".into()))?;
            let out: Int64Array = strings.iter().map(|v| v.and_then(&f)).collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }
        None => Err(DataFusionError::Execution("missing argument".into())),
    }
}

/// OIDs of the built-in types Basalt has, for `to_regtype` (NULL for any other name, as
/// PostgreSQL answers for a type that does not exist).
fn type_oid(name: &str) -> Option<u32> {
    let n = name.trim().trim_start_matches("pg_catalog.").to_lowercase();
    Some(match n.as_str() {
        "bool" | "boolean" => 16,
        "bytea" => 17,
        "int8" | "bigint" => 20,
        "int2" | "smallint" => 21,
        "int4" | "integer" | "int" => 23,
        "text" => 25,
        "float4" | "real" => 700,
        "float8" | "double precision" => 701,
        "bpchar" | "character" | "char" => 1042,
        "varchar" | "character varying" => 1043,
        "date" => 1082,
        "time" | "time without time zone" => 1083,
        "timestamp" | "timestamp without time zone" => 1114,
        "timestamptz" | "timestamp with time zone" => 1184,
        "interval" => 1186,
        "numeric" | "decimal" => 1700,
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SeqKind {
    Nextval,
    Currval,
    Setval,
}

/// `nextval('schema.seq')`, `currval(...)`, `setval(..., n)`: volatile, one value per row.
struct SequenceFn {
    kind: SeqKind,
    engine: Arc<Engine>,
    /// The last value `nextval` returned in this session, per sequence (for `currval`).
    session_values: Arc<Mutex<HashMap<String, i64>>>,
    first: FirstGenerated,
    signature: Signature,
}

impl SequenceFn {
    fn new(
        kind: SeqKind,
        engine: Arc<Engine>,
        session_values: Arc<Mutex<HashMap<String, i64>>>,
        first: FirstGenerated,
    ) -> SequenceFn {
        let signature = match kind {
            SeqKind::Setval => Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Int64]),
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Int64, DataType::Boolean]),
                ],
                Volatility::Volatile,
            ),
            _ => Signature::exact(vec![DataType::Utf8], Volatility::Volatile),
        };
        SequenceFn {
            kind,
            engine,
            session_values,
            first,
            signature,
        }
    }
}

impl std::fmt::Debug for SequenceFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.kind)
    }
}

impl PartialEq for SequenceFn {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && Arc::ptr_eq(&self.engine, &other.engine)
    }
}
impl Eq for SequenceFn {}
impl Hash for SequenceFn {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
    }
}

/// Resolves a sequence name as written (`seq`, `schema.seq`, `"Seq"`) to its catalog key.
fn sequence_key(engine: &Engine, name: &str) -> Result<String, SqlError> {
    let cleaned: Vec<String> = name
        .split('.')
        .map(
            |p| match p.strip_prefix('"').and_then(|q| q.strip_suffix('"')) {
                Some(q) => q.to_owned(),
                None => p.to_lowercase(),
            },
        )
        .collect();
    let key = match cleaned.as_slice() {
        [n] => format!("{}.{n}", basalt_storage::catalog::DEFAULT_SCHEMA),
        [s, n] => format!("{s}.{n}"),
        _ => return Err(SqlError::UndefinedTable(name.to_owned())),
    };
    if engine.catalog().sequences.contains_key(&key) {
        Ok(key)
    } else {
        Err(SqlError::UndefinedTable(name.to_owned()))
    }
}

fn string_at(v: &ColumnarValue, row: usize) -> DfResult<Option<String>> {
    Ok(match v {
        ColumnarValue::Scalar(ScalarValue::Utf8(s)) => s.clone(),
        ColumnarValue::Scalar(other) => Some(other.to_string()),
        ColumnarValue::Array(a) => {
            let a = a
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| DataFusionError::Execution("sequence name must be text".into()))?;
            (!a.is_null(row)).then(|| a.value(row).to_owned())
        }
    })
}

fn i64_at(v: &ColumnarValue, row: usize) -> DfResult<Option<i64>> {
    Ok(match v {
        ColumnarValue::Scalar(ScalarValue::Int64(x)) => *x,
        ColumnarValue::Scalar(_) => None,
        ColumnarValue::Array(a) => {
            let a = a
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| DataFusionError::Execution("setval value must be bigint".into()))?;
            (!a.is_null(row)).then(|| a.value(row))
        }
    })
}

impl ScalarUDFImpl for SequenceFn {
    fn name(&self) -> &str {
        match self.kind {
            SeqKind::Nextval => "nextval",
            SeqKind::Currval => "currval",
            SeqKind::Setval => "setval",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let mut out = Vec::with_capacity(args.number_rows);
        for row in 0..args.number_rows {
            let Some(name) = string_at(&args.args[0], row)? else {
                out.push(None);
                continue;
            };
            let key = sequence_key(&self.engine, &name).map_err(SqlError::into_datafusion)?;
            let value = match self.kind {
                SeqKind::Nextval => self.engine.nextval(&key).inspect(|v| {
                    self.session_values.lock().insert(key.clone(), *v);
                    self.first.lock().get_or_insert(*v);
                }),
                SeqKind::Currval => match self.session_values.lock().get(&key) {
                    Some(v) => Ok(*v),
                    None => {
                        return Err(SqlError::InvalidParameterValue(format!(
                            "currval of sequence \"{name}\" is not yet defined in this session"
                        ))
                        .into_datafusion())
                    }
                },
                SeqKind::Setval => {
                    let Some(v) = i64_at(&args.args[1], row)? else {
                        out.push(None);
                        continue;
                    };
                    let is_called = match args.args.get(2) {
                        Some(ColumnarValue::Scalar(ScalarValue::Boolean(b))) => b.unwrap_or(true),
                        Some(ColumnarValue::Array(a)) => a
                            .as_any()
                            .downcast_ref::<datafusion::arrow::array::BooleanArray>()
                            .is_none_or(|b| b.is_null(row) || b.value(row)),
                        _ => true,
                    };
                    self.engine.setval(&key, v, is_called).map(|_| v)
                }
            }
            .map_err(|e| SqlError::from(e).into_datafusion())?;
            out.push(Some(value));
        }
        Ok(ColumnarValue::Array(
            Arc::new(Int64Array::from(out)) as ArrayRef
        ))
    }
}

/// `version()`: what PostgreSQL clients print and some parse.
#[derive(Debug, PartialEq, Eq, Hash)]
struct VersionFn {
    signature: Signature,
}

impl VersionFn {
    fn new() -> VersionFn {
        VersionFn {
            signature: Signature::exact(vec![], Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for VersionFn {
    fn name(&self) -> &str {
        "version"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(format!(
            "PostgreSQL {SERVER_VERSION} on x86_64-pc-linux-gnu"
        )))))
    }
}

/// `pg_typeof(x)`: PostgreSQL's name of the argument's type, from the type the value has in
/// Basalt's plan (so `varchar(n)` and `char(n)` values, stored as text, answer `text`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgTypeof {
    signature: Signature,
}

pub(crate) fn pg_type_of(t: &DataType) -> String {
    match t {
        DataType::Null => "unknown".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "integer".into(),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "bigint".into(),
        DataType::Float16 | DataType::Float32 => "real".into(),
        DataType::Float64 => "double precision".into(),
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => "numeric".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text".into(),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "bytea".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Time32(_) | DataType::Time64(_) => "time without time zone".into(),
        DataType::Timestamp(_, None) => "timestamp without time zone".into(),
        DataType::Timestamp(_, Some(_)) => "timestamp with time zone".into(),
        DataType::Interval(_) | DataType::Duration(_) => "interval".into(),
        // One array type for every number of dimensions, as in PostgreSQL.
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            let element = pg_type_of(f.data_type());
            match element.ends_with("[]") {
                true => element,
                false => format!("{element}[]"),
            }
        }
        DataType::Struct(_) => "record".into(),
        other => other.to_string().to_lowercase(),
    }
}

impl ScalarUDFImpl for PgTypeof {
    fn name(&self) -> &str {
        "pg_typeof"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let name = args
            .arg_fields
            .first()
            .map(|f| pg_type_of(f.data_type()))
            .unwrap_or_else(|| "unknown".into());
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))))
    }
}

#[allow(dead_code)]
fn _assert_any(_: &dyn Any) {}

/// Session state a function reads (its text style, its clock), compared and hashed by
/// identity: two such functions are the same when they read the same session's state, so
/// a function struct holding one can derive `PartialEq`, `Eq` and `Hash`.
#[derive(Debug)]
pub(crate) struct ByIdentity<T>(pub Arc<T>);

impl<T> Clone for ByIdentity<T> {
    fn clone(&self) -> Self {
        ByIdentity(Arc::clone(&self.0))
    }
}

impl<T> PartialEq for ByIdentity<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<T> Eq for ByIdentity<T> {}

impl<T> std::hash::Hash for ByIdentity<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.0).hash(state);
    }
}

impl<T> std::ops::Deref for ByIdentity<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
