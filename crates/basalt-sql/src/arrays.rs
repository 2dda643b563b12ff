//! Array functions as PostgreSQL has them, where DataFusion's differ.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

use crate::error::SqlError;

/// `array_length(array, dimension)`: an `integer`, NULL for an empty array or a dimension
/// it does not have. (DataFusion's is an unsigned 0 for an empty array, and fails on a
/// dimension an empty array does not reach.)
#[derive(Debug, PartialEq, Eq, Hash)]
struct PgArrayLength {
    signature: Signature,
}

pub fn array_length_udf() -> ScalarUDF {
    ScalarUDF::from(PgArrayLength {
        // One argument (DataFusion's form) is the first dimension.
        signature: Signature::one_of(
            vec![TypeSignature::Any(1), TypeSignature::Any(2)],
            Volatility::Immutable,
        ),
    })
}

/// The length of dimension `dim` (1-based) of the array `items`: each inner dimension is
/// read from the first element, as PostgreSQL's arrays are rectangular.
fn dimension_length(items: ArrayRef, dim: i64) -> Option<i32> {
    let mut level = items;
    for _ in 1..dim {
        let inner = level.as_list_opt::<i32>()?;
        if inner.is_empty() || inner.is_null(0) {
            return None;
        }
        level = inner.value(0);
    }
    (dim >= 1 && !level.is_empty()).then(|| i32::try_from(level.len()).ok())?
}

impl ScalarUDFImpl for PgArrayLength {
    fn name(&self) -> &str {
        "array_length"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match arg_types.first() {
            Some(DataType::List(_) | DataType::Null) => Ok(DataType::Int32),
            Some(other) => Err(SqlError::UndefinedFunction(format!(
                "function array_length({}, integer) does not exist",
                crate::functions::pg_type_of(other)
            ))
            .into_datafusion()),
            None => Err(SqlError::UndefinedFunction(
                "function array_length() does not exist".into(),
            )
            .into_datafusion()),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = crate::functions::all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let dims = match arrays.get(1) {
            Some(d) => datafusion::arrow::compute::cast(d, &DataType::Int64)?,
            None => Arc::new(datafusion::arrow::array::Int64Array::from(vec![
                1;
                arrays[0]
                    .len()
            ])),
        };
        let dims = dims.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let out: Int32Array = match arrays[0].as_list_opt::<i32>() {
            Some(lists) => (0..lists.len())
                .map(|i| {
                    if lists.is_null(i) || dims.is_null(i) {
                        return None;
                    }
                    dimension_length(lists.value(i), dims.value(i))
                })
                .collect(),
            None => (0..arrays[0].len()).map(|_| None).collect(),
        };
        crate::functions::columnar_result(Arc::new(out), scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::ListArray;
    use datafusion::arrow::datatypes::Int32Type;

    #[test]
    fn lengths_of_dimensions() {
        let list = |rows: Vec<Option<Vec<Option<i32>>>>| -> ArrayRef {
            Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(rows))
        };
        let flat = list(vec![Some(vec![Some(1), None, Some(3)])])
            .as_list::<i32>()
            .value(0);
        assert_eq!(dimension_length(Arc::clone(&flat), 1), Some(3));
        assert_eq!(dimension_length(Arc::clone(&flat), 2), None);
        assert_eq!(dimension_length(Arc::clone(&flat), 0), None);
        let empty = list(vec![Some(vec![])]).as_list::<i32>().value(0);
        assert_eq!(dimension_length(empty, 1), None);
        // {{1,2},{3,4},{5,6}}: three rows of two.
        let nested = list(vec![
            Some(vec![Some(1), Some(2)]),
            Some(vec![Some(3), Some(4)]),
            Some(vec![Some(5), Some(6)]),
        ]);
        assert_eq!(dimension_length(Arc::clone(&nested), 1), Some(3));
        assert_eq!(dimension_length(nested, 2), Some(2));
    }
}
