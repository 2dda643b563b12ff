//! PostgreSQL's `bytea` forms of the string functions (`substr`/`SUBSTRING`, `btrim`,
//! `ltrim`, `rtrim`/`TRIM(… FROM …)`, `overlay`) and its bit and byte functions
//! (`get_bit`, `set_bit`, `get_byte`, `set_byte`, `bit_count`).
//!
//! DataFusion's string functions refuse binary arguments. Each is wrapped: a call whose
//! first argument is `bytea` runs PostgreSQL's bytea function, any other call runs
//! DataFusion's own, unchanged. `SUBSTRING` and `OVERLAY` syntax reach the wrappers through
//! [`ByteaPlanner`], which must come before DataFusion's planners.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, Int32Array, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult};
use datafusion::logical_expr::type_coercion::functions::fields_with_udf;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use crate::error::SqlError;
use crate::functions::{all_scalar, columnar_result};

/// The type of one parameter of a bytea function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param {
    Bytes,
    Int,
}

/// A bytea function's body: its arguments (already coerced to its parameters) and row count.
type Body = fn(&[ArrayRef], usize) -> Result<ArrayRef, SqlError>;

/// One bytea form of a function: its parameters, result type and body.
struct Form {
    params: &'static [Param],
    result: DataType,
    body: Body,
}

/// A DataFusion string function with PostgreSQL's bytea forms added.
struct ByteaAware {
    inner: Arc<ScalarUDF>,
    forms: Vec<Form>,
    signature: Signature,
}

impl std::fmt::Debug for ByteaAware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ByteaAware({})", self.inner.name())
    }
}
impl PartialEq for ByteaAware {
    fn eq(&self, other: &Self) -> bool {
        self.inner.name() == other.inner.name()
    }
}
impl Eq for ByteaAware {}
impl Hash for ByteaAware {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.inner.name().hash(state);
    }
}

fn is_binary(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView
    )
}

impl ByteaAware {
    fn udf(inner: Arc<ScalarUDF>, forms: Vec<Form>) -> ScalarUDF {
        ScalarUDF::from(ByteaAware {
            inner,
            forms,
            signature: Signature::user_defined(Volatility::Immutable),
        })
    }

    /// The bytea form a call with these argument types takes, if its first is a bytea.
    fn form(&self, types: &[DataType]) -> Option<DfResult<&Form>> {
        if !types.first().is_some_and(is_binary) {
            return None;
        }
        Some(
            self.forms
                .iter()
                .find(|f| f.params.len() == types.len())
                .ok_or_else(|| {
                    let listed = std::iter::once("bytea")
                        .chain(types[1..].iter().map(|t| {
                            if is_binary(t) {
                                "bytea"
                            } else {
                                "integer"
                            }
                        }))
                        .collect::<Vec<_>>()
                        .join(", ");
                    SqlError::UndefinedFunction(format!(
                        "function {}({listed}) does not exist",
                        self.inner.name()
                    ))
                    .into_datafusion()
                }),
        )
    }
}

impl ScalarUDFImpl for ByteaAware {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        match self.form(arg_types) {
            Some(form) => Ok(form?
                .params
                .iter()
                .map(|p| match p {
                    Param::Bytes => DataType::Binary,
                    Param::Int => DataType::Int64,
                })
                .collect()),
            None => {
                let fields: Vec<FieldRef> = arg_types
                    .iter()
                    .map(|t| Arc::new(Field::new("a", t.clone(), true)))
                    .collect();
                Ok(fields_with_udf(&fields, self.inner.as_ref())?
                    .iter()
                    .map(|f| f.data_type().clone())
                    .collect())
            }
        }
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match self.form(arg_types) {
            Some(form) => Ok(form?.result.clone()),
            None => self.inner.return_type(arg_types),
        }
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        match self.form(&types) {
            Some(form) => Ok(Arc::new(Field::new(
                self.name(),
                form?.result.clone(),
                true,
            ))),
            None => self.inner.return_field_from_args(args),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let types: Vec<DataType> = args.args.iter().map(|a| a.data_type()).collect();
        let Some(form) = self.form(&types) else {
            return self.inner.invoke_with_args(args);
        };
        let form = form?;
        let scalar = all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out = (form.body)(&arrays, args.number_rows).map_err(SqlError::into_datafusion)?;
        columnar_result(out, scalar)
    }
}

/// A bytea function PostgreSQL has and DataFusion does not.
struct ByteaFn {
    name: &'static str,
    form: Form,
    signature: Signature,
}

impl std::fmt::Debug for ByteaFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}
impl PartialEq for ByteaFn {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for ByteaFn {}
impl Hash for ByteaFn {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ByteaFn {
    fn udf(name: &'static str, form: Form) -> ScalarUDF {
        ScalarUDF::from(ByteaFn {
            name,
            form,
            signature: Signature::user_defined(Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for ByteaFn {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        let params = self.form.params;
        let fits = arg_types.len() == params.len()
            && arg_types.iter().zip(params).all(|(t, p)| match p {
                Param::Bytes => is_binary(t) || matches!(t, DataType::Utf8 | DataType::Null),
                Param::Int => t.is_integer() || matches!(t, DataType::Null),
            });
        if !fits {
            let listed = arg_types
                .iter()
                .map(|t| {
                    basalt_common::types::SqlType::from_arrow(t)
                        .map_or("unknown".into(), |s| s.pg_name())
                })
                .collect::<Vec<_>>()
                .join(", ");
            return Err(SqlError::UndefinedFunction(format!(
                "function {}({listed}) does not exist",
                self.name
            ))
            .into_datafusion());
        }
        Ok(params
            .iter()
            .map(|p| match p {
                Param::Bytes => DataType::Binary,
                Param::Int => DataType::Int64,
            })
            .collect())
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.form.result.clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out = (self.form.body)(&arrays, args.number_rows).map_err(SqlError::into_datafusion)?;
        columnar_result(out, scalar)
    }
}

/// Plans `SUBSTRING(…)` and `OVERLAY(…)` with the bytea-aware functions.
#[derive(Debug)]
pub struct ByteaPlanner {
    substr: Arc<ScalarUDF>,
    overlay: Arc<ScalarUDF>,
}

impl ByteaPlanner {
    pub fn new() -> ByteaPlanner {
        ByteaPlanner {
            substr: Arc::new(substr_udf()),
            overlay: Arc::new(overlay_udf()),
        }
    }
}

impl Default for ByteaPlanner {
    fn default() -> Self {
        Self::new()
    }
}

impl ExprPlanner for ByteaPlanner {
    fn plan_substring(&self, args: Vec<Expr>) -> DfResult<PlannerResult<Vec<Expr>>> {
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(Arc::clone(&self.substr), args),
        )))
    }
    fn plan_overlay(&self, args: Vec<Expr>) -> DfResult<PlannerResult<Vec<Expr>>> {
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(Arc::clone(&self.overlay), args),
        )))
    }
}

const BYTES_INT: &[Param] = &[Param::Bytes, Param::Int];
const BYTES_INT_INT: &[Param] = &[Param::Bytes, Param::Int, Param::Int];
const BYTES_BYTES: &[Param] = &[Param::Bytes, Param::Bytes];

fn substr_udf() -> ScalarUDF {
    ByteaAware::udf(
        datafusion::functions::unicode::substr(),
        vec![
            Form {
                params: BYTES_INT,
                result: DataType::Binary,
                body: substr_bytes,
            },
            Form {
                params: BYTES_INT_INT,
                result: DataType::Binary,
                body: substr_bytes,
            },
        ],
    )
}

fn overlay_udf() -> ScalarUDF {
    ByteaAware::udf(
        datafusion::functions::core::overlay(),
        vec![
            Form {
                params: &[Param::Bytes, Param::Bytes, Param::Int],
                result: DataType::Binary,
                body: overlay_bytes,
            },
            Form {
                params: &[Param::Bytes, Param::Bytes, Param::Int, Param::Int],
                result: DataType::Binary,
                body: overlay_bytes,
            },
        ],
    )
}

fn trim_udf(inner: Arc<ScalarUDF>, body: Body) -> ScalarUDF {
    ByteaAware::udf(
        inner,
        vec![Form {
            params: BYTES_BYTES,
            result: DataType::Binary,
            body,
        }],
    )
}

/// The functions registered for PostgreSQL sessions.
pub fn udfs() -> Vec<ScalarUDF> {
    use datafusion::functions::string;
    vec![
        substr_udf(),
        overlay_udf(),
        trim_udf(string::btrim(), |a, _| trim_bytes(a, true, true)),
        trim_udf(string::ltrim(), |a, _| trim_bytes(a, true, false)),
        trim_udf(string::rtrim(), |a, _| trim_bytes(a, false, true)),
        ByteaFn::udf(
            "get_byte",
            Form {
                params: BYTES_INT,
                result: DataType::Int32,
                body: get_byte,
            },
        ),
        ByteaFn::udf(
            "set_byte",
            Form {
                params: BYTES_INT_INT,
                result: DataType::Binary,
                body: set_byte,
            },
        ),
        ByteaFn::udf(
            "get_bit",
            Form {
                params: BYTES_INT,
                result: DataType::Int32,
                body: get_bit,
            },
        ),
        ByteaFn::udf(
            "set_bit",
            Form {
                params: BYTES_INT_INT,
                result: DataType::Binary,
                body: set_bit,
            },
        ),
        ByteaFn::udf(
            "bit_count",
            Form {
                params: &[Param::Bytes],
                result: DataType::Int64,
                body: bit_count,
            },
        ),
    ]
}

/// Argument `i` of a call as bytes, or NULL.
fn bytes_at(arrays: &[ArrayRef], i: usize, row: usize) -> Result<Option<&[u8]>, SqlError> {
    let a = arrays
        .get(i)
        .ok_or_else(|| SqlError::Internal(format!("bytea function without argument {i}")))?;
    if a.is_null(row) {
        return Ok(None);
    }
    match a.data_type() {
        DataType::Binary => Ok(Some(a.as_binary::<i32>().value(row))),
        other => Err(SqlError::Internal(format!(
            "bytea function given {other} for a bytea"
        ))),
    }
}

/// Argument `i` of a call as an integer, or NULL.
fn int_at(arrays: &[ArrayRef], i: usize, row: usize) -> Result<Option<i64>, SqlError> {
    let a = arrays
        .get(i)
        .ok_or_else(|| SqlError::Internal(format!("bytea function without argument {i}")))?;
    if a.is_null(row) {
        return Ok(None);
    }
    let ints = cast(a, &DataType::Int64)?;
    Ok(Some(
        ints.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .value(row),
    ))
}

/// Builds a bytea column row by row; a row's `None` is NULL.
fn bytes_rows(
    rows: usize,
    mut row: impl FnMut(usize) -> Result<Option<Vec<u8>>, SqlError>,
) -> Result<ArrayRef, SqlError> {
    let mut out = BinaryBuilder::with_capacity(rows, 0);
    for r in 0..rows {
        match row(r)? {
            Some(v) => out.append_value(v),
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn negative_length() -> SqlError {
    SqlError::Detailed {
        sqlstate: "22011",
        message: "negative substring length not allowed".into(),
        detail: String::new(),
        hint: None,
    }
}

/// PostgreSQL's `bytea_substring`: `count` bytes from the 1-based `start` (which may be
/// before the first byte), or the rest when `count` is `None`.
pub fn substring(bytes: &[u8], start: i64, count: Option<i64>) -> Result<&[u8], SqlError> {
    let first = start.max(1);
    let end = match count {
        Some(c) if c < 0 => return Err(negative_length()),
        Some(c) => start.saturating_add(c),
        None => i64::MAX,
    };
    if end <= first {
        return Ok(&[]);
    }
    let len = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
    let from = (first - 1).min(len);
    let to = (end - 1).min(len);
    let (from, to) = (
        usize::try_from(from).unwrap_or(0),
        usize::try_from(to).unwrap_or(0),
    );
    Ok(&bytes[from..to.max(from)])
}

fn substr_bytes(a: &[ArrayRef], rows: usize) -> Result<ArrayRef, SqlError> {
    bytes_rows(rows, |r| {
        let (Some(bytes), Some(start)) = (bytes_at(a, 0, r)?, int_at(a, 1, r)?) else {
            return Ok(None);
        };
        let count = if a.len() > 2 {
            match int_at(a, 2, r)? {
                Some(c) => Some(c),
                None => return Ok(None),
            }
        } else {
            None
        };
        Ok(Some(substring(bytes, start, count)?.to_vec()))
    })
}

/// PostgreSQL's `byteaoverlay`: `placing` in place of `count` bytes from `start` (by
/// default as many as `placing` has).
fn overlay_bytes(a: &[ArrayRef], rows: usize) -> Result<ArrayRef, SqlError> {
    bytes_rows(rows, |r| {
        let (Some(bytes), Some(placing), Some(start)) =
            (bytes_at(a, 0, r)?, bytes_at(a, 1, r)?, int_at(a, 2, r)?)
        else {
            return Ok(None);
        };
        let count = if a.len() > 3 {
            match int_at(a, 3, r)? {
                Some(c) => c,
                None => return Ok(None),
            }
        } else {
            i64::try_from(placing.len()).unwrap_or(i64::MAX)
        };
        let after = start
            .checked_add(count)
            .ok_or_else(|| SqlError::OutOfRange("integer out of range".into()))?;
        let mut out = substring(bytes, 1, Some(start - 1))?.to_vec();
        out.extend_from_slice(placing);
        out.extend_from_slice(substring(bytes, after, None)?);
        Ok(Some(out))
    })
}

fn trim_bytes(a: &[ArrayRef], leading: bool, trailing: bool) -> Result<ArrayRef, SqlError> {
    let rows = a.first().map_or(0, |x| x.len());
    bytes_rows(rows, |r| {
        let (Some(bytes), Some(set)) = (bytes_at(a, 0, r)?, bytes_at(a, 1, r)?) else {
            return Ok(None);
        };
        let mut from = 0;
        let mut to = bytes.len();
        if leading {
            while from < to && set.contains(&bytes[from]) {
                from += 1;
            }
        }
        if trailing {
            while to > from && set.contains(&bytes[to - 1]) {
                to -= 1;
            }
        }
        Ok(Some(bytes[from..to].to_vec()))
    })
}

/// PostgreSQL's error for a byte or bit index outside the value.
fn index_out_of_range(index: i64, last: i64) -> SqlError {
    SqlError::Detailed {
        sqlstate: "2202E",
        message: format!("index {index} out of valid range, 0..{last}"),
        detail: String::new(),
        hint: None,
    }
}

/// The position `index` names in a value of `len` units, checked as PostgreSQL checks it.
fn checked_index(index: i64, len: usize) -> Result<usize, SqlError> {
    let last = i64::try_from(len).unwrap_or(i64::MAX) - 1;
    if index < 0 || index > last {
        return Err(index_out_of_range(index, last));
    }
    usize::try_from(index).map_err(|_| index_out_of_range(index, last))
}

fn get_byte(a: &[ArrayRef], rows: usize) -> Result<ArrayRef, SqlError> {
    let out = (0..rows)
        .map(|r| {
            let (Some(bytes), Some(n)) = (bytes_at(a, 0, r)?, int_at(a, 1, r)?) else {
                return Ok(None);
            };
            Ok(Some(i32::from(bytes[checked_index(n, bytes.len())?])))
        })
        .collect::<Result<Int32Array, SqlError>>()?;
    Ok(Arc::new(out))
}

fn set_byte(a: &[ArrayRef], rows: usize) -> Result<ArrayRef, SqlError> {
    bytes_rows(rows, |r| {
        let (Some(bytes), Some(n), Some(value)) =
            (bytes_at(a, 0, r)?, int_at(a, 1, r)?, int_at(a, 2, r)?)
        else {
            return Ok(None);
        };
        let mut out = bytes.to_vec();
        // PostgreSQL stores the new value's low 8 bits.
        out[checked_index(n, bytes.len())?] = (value & 0xff) as u8;
        Ok(Some(out))
    })
}

fn get_bit(a: &[ArrayRef], rows: usize) -> Result<ArrayRef, SqlError> {
    let out = (0..rows)
        .map(|r| {
            let (Some(bytes), Some(n)) = (bytes_at(a, 0, r)?, int_at(a, 1, r)?) else {
                return Ok(None);
            };
            let bit = checked_index(n, bytes.len().saturating_mul(8))?;
            Ok(Some(i32::from((bytes[bit / 8] >> (bit % 8)) & 1)))
        })
        .collect::<Result<Int32Array, SqlError>>()?;
    Ok(Arc::new(out))
}

fn set_bit(a: &[ArrayRef], rows: usize) -> Result<ArrayRef, SqlError> {
    bytes_rows(rows, |r| {
        let (Some(bytes), Some(n), Some(value)) =
            (bytes_at(a, 0, r)?, int_at(a, 1, r)?, int_at(a, 2, r)?)
        else {
            return Ok(None);
        };
        let bit = checked_index(n, bytes.len().saturating_mul(8))?;
        if value != 0 && value != 1 {
            return Err(SqlError::InvalidParameterValue(
                "new bit must be 0 or 1".into(),
            ));
        }
        let mut out = bytes.to_vec();
        let mask = 1u8 << (bit % 8);
        if value == 1 {
            out[bit / 8] |= mask;
        } else {
            out[bit / 8] &= !mask;
        }
        Ok(Some(out))
    })
}

fn bit_count(a: &[ArrayRef], rows: usize) -> Result<ArrayRef, SqlError> {
    let out = (0..rows)
        .map(|r| {
            Ok(bytes_at(a, 0, r)?
                .map(|bytes| bytes.iter().map(|b| i64::from(b.count_ones())).sum::<i64>()))
        })
        .collect::<Result<Int64Array, SqlError>>()?;
    Ok(Arc::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::BinaryArray;

    #[test]
    fn substring_follows_postgresql_bounds() {
        let s = b"string";
        assert_eq!(substring(s, 2, Some(2147483646)).ok(), Some(&b"tring"[..]));
        assert_eq!(
            substring(s, -10, Some(2147483646)).ok(),
            Some(&b"string"[..])
        );
        assert_eq!(substring(s, -1, Some(3)).ok(), Some(&b"s"[..]));
        assert_eq!(substring(s, 3, None).ok(), Some(&b"ring"[..]));
        assert_eq!(substring(s, 10, Some(2)).ok(), Some(&b""[..]));
        assert!(substring(s, 1, Some(-1)).is_err());
    }

    #[test]
    fn bit_functions_check_their_index() {
        let bytes: ArrayRef = Arc::new(BinaryArray::from(vec![&[0x12u8, 0x34][..]]));
        let at = |n: i64| -> Vec<ArrayRef> {
            vec![Arc::clone(&bytes), Arc::new(Int64Array::from(vec![n]))]
        };
        let bit = get_bit(&at(4), 1).ok();
        assert_eq!(
            bit.as_ref().map(|b| b
                .as_primitive::<datafusion::arrow::datatypes::Int32Type>()
                .value(0)),
            Some(1)
        );
        assert!(get_bit(&at(16), 1).is_err());
        assert!(get_byte(&at(2), 1).is_err());
        assert!(get_byte(&at(-1), 1).is_err());
    }
}

/// `bytea LIKE bytea`: PostgreSQL matches byte by byte (`_` is one byte); DataFusion has no
/// LIKE for binary values. Both sides are read as Latin-1 text (one character per byte, so
/// `_`, `%` and the escape character match as they would on the bytes) and matched as text.
/// Runs before type coercion, which refuses binary operands.
#[derive(Debug, Default)]
pub struct ByteaLike;

impl datafusion::optimizer::AnalyzerRule for ByteaLike {
    fn analyze(
        &self,
        plan: datafusion::logical_expr::LogicalPlan,
        _config: &datafusion::common::config::ConfigOptions,
    ) -> DfResult<datafusion::logical_expr::LogicalPlan> {
        use datafusion::common::tree_node::Transformed;
        use datafusion::logical_expr::ExprSchemable;
        let binary = |t: &DataType| {
            matches!(
                t,
                DataType::Binary | DataType::LargeBinary | DataType::BinaryView
            )
        };
        crate::analyzer::rewrite_expressions(plan, |e, schema| match e {
            Expr::Like(mut like)
                if binary(&like.expr.get_type(schema)?)
                    && binary(&like.pattern.get_type(schema)?) =>
            {
                let udf = Arc::new(latin1_udf());
                like.expr = Box::new(udf.call(vec![*like.expr]));
                like.pattern = Box::new(udf.call(vec![*like.pattern]));
                Ok(Transformed::yes(Expr::Like(like)))
            }
            other => Ok(Transformed::no(other)),
        })
    }

    fn name(&self) -> &str {
        "basalt_bytea_like"
    }
}

/// The bytes of a bytea as Latin-1 text: each byte the character of that code point.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Latin1 {
    signature: Signature,
}

fn latin1_udf() -> ScalarUDF {
    ScalarUDF::from(Latin1 {
        signature: Signature::any(1, Volatility::Immutable),
    })
}

impl ScalarUDFImpl for Latin1 {
    fn name(&self) -> &str {
        "basalt_bytea_as_latin1"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let bytes = cast(&arrays[0], &DataType::Binary)?;
        let bytes = bytes.as_binary::<i32>();
        let text: datafusion::arrow::array::StringArray = bytes
            .iter()
            .map(|v| v.map(|b| b.iter().map(|&x| char::from(x)).collect::<String>()))
            .collect();
        columnar_result(Arc::new(text), scalar)
    }
}

/// `string_agg(bytea, bytea)`: the bytes of the values joined by the delimiter's bytes, as
/// PostgreSQL concatenates them. DataFusion's `string_agg` reads the values as text (the
/// hex text of each bytea), so such calls get this aggregate instead; its name stays
/// `string_agg`. Runs before type coercion.
#[derive(Debug, Default)]
pub struct ByteaStringAgg;

impl datafusion::optimizer::AnalyzerRule for ByteaStringAgg {
    fn analyze(
        &self,
        plan: datafusion::logical_expr::LogicalPlan,
        _config: &datafusion::common::config::ConfigOptions,
    ) -> DfResult<datafusion::logical_expr::LogicalPlan> {
        use datafusion::common::tree_node::Transformed;
        use datafusion::logical_expr::{Aggregate, ExprSchemable, LogicalPlan};
        // The plans above take the aggregate's new type (bytea).
        crate::analyzer::retype_nodes(
            plan,
            |p| {
                let LogicalPlan::Aggregate(a) = p else {
                    return Ok(Transformed::no(p));
                };
                let schema = Arc::clone(a.input.schema());
                let mut replaced = false;
                let aggr_expr = a
                    .aggr_expr
                    .iter()
                    .map(|e| {
                        let (inner, alias) = match e {
                            Expr::Alias(al) => (al.expr.as_ref(), Some(al.name.clone())),
                            e => (e, None),
                        };
                        let Expr::AggregateFunction(f) = inner else {
                            return Ok(e.clone());
                        };
                        let bytes = f.func.name() == "string_agg"
                            && f.params.args.first().is_some_and(|arg| {
                                matches!(
                                    arg.get_type(&schema),
                                    Ok(DataType::Binary
                                        | DataType::LargeBinary
                                        | DataType::BinaryView)
                                )
                            });
                        if !bytes {
                            return Ok(e.clone());
                        }
                        // The accumulator takes the rows as they come.
                        if !f.params.order_by.is_empty() {
                            return Err(SqlError::unsupported(
                                "string_agg of bytea values with ORDER BY is not supported",
                            )
                            .into_datafusion());
                        }
                        replaced = true;
                        let mut f = f.clone();
                        f.func = Arc::new(datafusion::logical_expr::AggregateUDF::from(BytesAgg {
                            signature: Signature::any(2, Volatility::Immutable),
                        }));
                        let name = alias.unwrap_or_else(|| inner.schema_name().to_string());
                        Ok(Expr::AggregateFunction(f).alias(name))
                    })
                    .collect::<DfResult<Vec<_>>>()?;
                if !replaced {
                    return Ok(Transformed::no(LogicalPlan::Aggregate(a)));
                }
                let a = Aggregate::try_new(Arc::clone(&a.input), a.group_expr.clone(), aggr_expr)?;
                Ok(Transformed::yes(LogicalPlan::Aggregate(a)))
            },
            |p| matches!(p, LogicalPlan::Aggregate(_)),
        )
    }

    fn name(&self) -> &str {
        "basalt_bytea_string_agg"
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct BytesAgg {
    signature: Signature,
}

impl datafusion::logical_expr::AggregateUDFImpl for BytesAgg {
    fn name(&self) -> &str {
        "string_agg"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Binary)
    }
    fn state_fields(
        &self,
        args: datafusion::logical_expr::function::StateFieldsArgs,
    ) -> DfResult<Vec<FieldRef>> {
        use datafusion::logical_expr::utils::format_state_name;
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "bytes"),
                DataType::Binary,
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "first_delimiter"),
                DataType::Binary,
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "seen"),
                DataType::Boolean,
                true,
            )),
        ])
    }
    fn accumulator(
        &self,
        args: datafusion::logical_expr::function::AccumulatorArgs,
    ) -> DfResult<Box<dyn datafusion::logical_expr::Accumulator>> {
        if args.is_distinct {
            return Err(SqlError::unsupported(
                "string_agg(DISTINCT …) of bytea values is not supported",
            )
            .into_datafusion());
        }
        Ok(Box::<BytesConcat>::default())
    }
}

/// The bytes joined so far; a partial result keeps the delimiter that came before its
/// first value, which goes between it and an earlier partial result when they merge.
#[derive(Debug, Default)]
struct BytesConcat {
    bytes: Vec<u8>,
    first_delimiter: Option<Vec<u8>>,
    seen: bool,
}

impl BytesConcat {
    fn push(&mut self, delimiter: Option<&[u8]>, value: &[u8]) {
        if self.seen {
            if let Some(d) = delimiter {
                self.bytes.extend_from_slice(d);
            }
        } else {
            self.first_delimiter = delimiter.map(<[u8]>::to_vec);
            self.seen = true;
        }
        self.bytes.extend_from_slice(value);
    }
}

impl datafusion::logical_expr::Accumulator for BytesConcat {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        let (Some(v), Some(d)) = (values.first(), values.get(1)) else {
            return Ok(());
        };
        let v = cast(v, &DataType::Binary)?;
        let v = v.as_binary::<i32>();
        let d = cast(d, &DataType::Binary)?;
        let d = d.as_binary::<i32>();
        for i in 0..v.len() {
            if v.is_null(i) {
                continue;
            }
            let delimiter = (!d.is_null(i)).then(|| d.value(i));
            self.push(delimiter, v.value(i));
        }
        Ok(())
    }
    fn evaluate(&mut self) -> DfResult<datafusion::common::ScalarValue> {
        Ok(datafusion::common::ScalarValue::Binary(
            self.seen.then(|| self.bytes.clone()),
        ))
    }
    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.bytes.capacity()
            + self.first_delimiter.as_ref().map_or(0, Vec::capacity)
    }
    fn state(&mut self) -> DfResult<Vec<datafusion::common::ScalarValue>> {
        use datafusion::common::ScalarValue;
        Ok(vec![
            ScalarValue::Binary(Some(self.bytes.clone())),
            ScalarValue::Binary(self.first_delimiter.clone()),
            ScalarValue::Boolean(Some(self.seen)),
        ])
    }
    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        let [bytes, firsts, seen] = states else {
            return Ok(());
        };
        let bytes = bytes.as_binary::<i32>();
        let firsts = firsts.as_binary::<i32>();
        let seen = seen.as_boolean();
        for i in 0..bytes.len() {
            if seen.is_null(i) || !seen.value(i) {
                continue;
            }
            let first = (!firsts.is_null(i)).then(|| firsts.value(i));
            if self.seen {
                if let Some(d) = first {
                    self.bytes.extend_from_slice(d);
                }
            } else {
                self.first_delimiter = first.map(<[u8]>::to_vec);
                self.seen = true;
            }
            self.bytes.extend_from_slice(bytes.value(i));
        }
        Ok(())
    }
}
