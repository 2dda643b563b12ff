//! `now()` and PostgreSQL's other clock functions as microsecond `timestamptz` values, the
//! unit Basalt stores (DataFusion's `now()` counts nanoseconds, whose range ends in 2262, so
//! comparing it with `timestamp '9999-12-31'` would overflow).
//!
//! `now()`, `current_timestamp`, `transaction_timestamp()` and `statement_timestamp()` are
//! the time the statement started (one value in the whole statement); `clock_timestamp()`
//! reads the clock at each call.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use basalt_common::types::TIMESTAMPTZ_ZONE;

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgClock {
    name: &'static str,
    aliases: Vec<String>,
    /// Read at each call (clock_timestamp) rather than once per statement.
    each_call: bool,
    signature: Signature,
}

fn timestamptz() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(TIMESTAMPTZ_ZONE.into()))
}

fn value(micros: i64) -> ScalarValue {
    ScalarValue::TimestampMicrosecond(Some(micros), Some(TIMESTAMPTZ_ZONE.into()))
}

/// The clock functions, for PostgreSQL sessions.
pub fn udfs() -> Vec<ScalarUDF> {
    let clock = |name, aliases: &[&str], each_call| {
        ScalarUDF::from(PgClock {
            name,
            aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
            each_call,
            signature: Signature::nullary(if each_call {
                Volatility::Volatile
            } else {
                Volatility::Stable
            }),
        })
    };
    vec![
        clock(
            "now",
            &[
                "current_timestamp",
                "transaction_timestamp",
                "statement_timestamp",
            ],
            false,
        ),
        clock("clock_timestamp", &[], true),
    ]
}

impl ScalarUDFImpl for PgClock {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(timestamptz())
    }
    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> DfResult<FieldRef> {
        Ok(Arc::new(Field::new(self.name, timestamptz(), false)))
    }
    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        // The statement's start time is put in when the plan is simplified; refusing here
        // keeps the planner's constant folding from reading the clock once per call.
        if !self.each_call {
            return Err(datafusion::error::DataFusionError::Internal(format!(
                "{}() is replaced by the statement's start time when planned",
                self.name
            )));
        }
        Ok(ColumnarValue::Scalar(value(
            chrono::Utc::now().timestamp_micros(),
        )))
    }
    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> DfResult<ExprSimplifyResult> {
        match (self.each_call, info.query_execution_start_time()) {
            (false, Some(start)) => Ok(ExprSimplifyResult::Simplified(Expr::Literal(
                value(start.timestamp_micros()),
                None,
            ))),
            _ => Ok(ExprSimplifyResult::Original(args)),
        }
    }
}
