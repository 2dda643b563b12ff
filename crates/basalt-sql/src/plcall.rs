//! Calls of PL/pgSQL functions from SQL: `f(a, b)` in a query runs the function's body once
//! per row ([`crate::plpgsql::run_function`]) through a scalar function registered for the
//! statement, named after the function's oid ([`udf_name`]). The call's arguments are cast
//! to the declared parameter types where [`crate::sqlfunc`] rewrites it.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use basalt_common::value::{value_at, ColumnBuilder};
use basalt_common::{SqlType, Value};
use basalt_storage::catalog::FunctionDef;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::error::{SqlError, SqlResult};
use crate::plpgsql::{Function, Host, Param};

/// The name a call of `f` is rewritten to.
pub fn udf_name(f: &FunctionDef) -> String {
    format!("pg_plpgsql_{}", f.oid)
}

/// The scalar function that runs `f` for the statement `host` describes.
pub fn udf(f: &FunctionDef, host: Host) -> SqlResult<ScalarUDF> {
    let body = crate::plpgsql::parse(&f.body)?;
    let mut params = Vec::with_capacity(f.args.len());
    for a in &f.args {
        params.push((a.name.clone(), crate::plpgsql::declared_type(&a.ty)?));
    }
    let returns = crate::plpgsql::declared_type(&f.returns)?;
    let signature = Signature::exact(
        params.iter().map(|(_, ty)| ty.to_arrow()).collect(),
        if f.volatile {
            Volatility::Volatile
        } else {
            Volatility::Immutable
        },
    );
    Ok(ScalarUDF::from(PlpgsqlCall {
        name: udf_name(f),
        function: f.name.clone(),
        body: Arc::new(body),
        params,
        returns,
        strict: f.strict,
        host: Arc::new(host),
        signature,
    }))
}

struct PlpgsqlCall {
    name: String,
    /// The function's own name, for messages.
    function: String,
    body: Arc<Function>,
    params: Vec<(Option<String>, SqlType)>,
    returns: SqlType,
    strict: bool,
    host: Arc<Host>,
    signature: Signature,
}

impl std::fmt::Debug for PlpgsqlCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}()", self.function)
    }
}

impl PartialEq for PlpgsqlCall {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.host, &other.host)
    }
}

impl Eq for PlpgsqlCall {}

impl Hash for PlpgsqlCall {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl PlpgsqlCall {
    fn row(&self, args: &[datafusion::arrow::array::ArrayRef], row: usize) -> SqlResult<Value> {
        let mut params = Vec::with_capacity(self.params.len());
        for ((name, ty), array) in self.params.iter().zip(args) {
            let value = value_at(array.as_ref(), row, ty)?;
            if self.strict && matches!(value, Value::Null) {
                return Ok(Value::Null);
            }
            params.push(Param {
                name: name.clone(),
                ty: ty.clone(),
                value,
            });
        }
        crate::plpgsql::run_function(&self.host, &self.body, params, &self.returns)
    }
}

impl ScalarUDFImpl for PlpgsqlCall {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.returns.to_arrow())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let mut out = ColumnBuilder::new(&self.returns, rows);
        for row in 0..rows {
            let v = self.row(&arrays, row).map_err(SqlError::into_datafusion)?;
            out.push(&v);
        }
        Ok(ColumnarValue::Array(out.finish()))
    }
}
