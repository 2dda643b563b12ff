//! `lag` and `lead` with PostgreSQL's argument types: the value and the default share one
//! type, the common type PostgreSQL resolves for them (`lag(int4, 1, 0.7)` is numeric and
//! gives 0.7, where DataFusion casts the default to the value's type and gives 0).
//!
//! Invariant: the wrapper keeps the name of the function it wraps and only widens (integer
//! to numeric, integer or numeric to double precision); it never narrows the value.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::Result as DfResult;
use datafusion::functions_window::lead_lag::{lag_udwf, lead_udwf};
use datafusion::logical_expr::function::{
    ExpressionArgs, PartitionEvaluatorArgs, WindowUDFFieldArgs,
};
use datafusion::logical_expr::{
    LimitEffect, PartitionEvaluator, ReversedUDWF, Signature, Volatility, WindowUDF, WindowUDFImpl,
};
use datafusion::physical_plan::PhysicalExpr;

use basalt_common::types::{NUMERIC_DEFAULT_PRECISION, NUMERIC_DEFAULT_SCALE};

/// `lag` and `lead`, registered in place of DataFusion's.
pub fn udwfs() -> Vec<WindowUDF> {
    vec![PgShift::wrap(lag_udwf()), PgShift::wrap(lead_udwf())]
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgShift {
    inner: Arc<WindowUDF>,
    signature: Signature,
}

impl PgShift {
    fn wrap(inner: Arc<WindowUDF>) -> WindowUDF {
        WindowUDF::new_from_impl(PgShift {
            inner,
            signature: Signature::user_defined(Volatility::Immutable),
        })
    }
}

fn integer(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
    )
}

/// The type value and default widen to when the default is of a wider number category
/// (integer < numeric < double precision); `None` when the value's type holds the default.
fn widened(value: &DataType, default: &DataType) -> Option<DataType> {
    match (value, default) {
        (v, DataType::Decimal128(_, _)) if integer(v) => Some(DataType::Decimal128(
            NUMERIC_DEFAULT_PRECISION,
            NUMERIC_DEFAULT_SCALE,
        )),
        (v, DataType::Float32 | DataType::Float64)
            if integer(v) || matches!(v, DataType::Decimal128(_, _)) =>
        {
            Some(DataType::Float64)
        }
        _ => None,
    }
}

impl WindowUDFImpl for PgShift {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        let mut types = arg_types.to_vec();
        if let [value, _, default] = arg_types {
            if let Some(common) = widened(value, default) {
                types[0] = common.clone();
                types[2] = common;
            }
        }
        Ok(types)
    }

    fn expressions(&self, expr_args: ExpressionArgs) -> Vec<Arc<dyn PhysicalExpr>> {
        self.inner.expressions(expr_args)
    }

    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> DfResult<Box<dyn PartitionEvaluator>> {
        self.inner.partition_evaluator_factory(args)
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> DfResult<FieldRef> {
        if let [value, _, default] = field_args.input_fields() {
            if let Some(common) = widened(value.data_type(), default.data_type()) {
                return Ok(Arc::new(Field::new(field_args.name(), common, true)));
            }
        }
        self.inner.field(field_args)
    }

    fn reverse_expr(&self) -> ReversedUDWF {
        match self.inner.reverse_expr() {
            ReversedUDWF::Reversed(f) => ReversedUDWF::Reversed(Arc::new(PgShift::wrap(f))),
            other => other,
        }
    }

    fn limit_effect(&self, args: &[Arc<dyn PhysicalExpr>]) -> LimitEffect {
        self.inner.inner().limit_effect(args)
    }
}
