//! `date_bin(stride, source, origin)` and `date_trunc(field, source)` as PostgreSQL has them:
//! the stride is checked as PostgreSQL checks it (DataFusion's function also bins by months
//! and reads a negative stride), and the stride or field may differ from row to row
//! (DataFusion's functions take a constant only; a column is computed row by row).

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, FieldRef, IntervalMonthDayNanoType, IntervalUnit};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

use crate::error::SqlError;

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgDateBin {
    inner: Arc<ScalarUDF>,
    /// Whether the first argument is a stride to check (date_bin).
    stride: bool,
}

/// `date_bin` for PostgreSQL sessions, in place of DataFusion's.
pub fn udf() -> ScalarUDF {
    ScalarUDF::from(PgDateBin {
        inner: datafusion::functions::datetime::date_bin(),
        stride: true,
    })
}

/// `date_trunc` for PostgreSQL sessions, in place of DataFusion's.
pub fn date_trunc_udf() -> ScalarUDF {
    ScalarUDF::from(PgDateBin {
        inner: datafusion::functions::datetime::date_trunc(),
        stride: false,
    })
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// PostgreSQL's checks of a stride of `months`, `days` and `nanos`.
fn check_stride(months: i32, days: i32, nanos: i64) -> Result<(), SqlError> {
    if months != 0 {
        return Err(SqlError::FeatureNotSupported(
            "timestamps cannot be binned into intervals containing months or years".into(),
        ));
    }
    let micros = i64::from(days)
        .checked_mul(MICROS_PER_DAY)
        .and_then(|d| d.checked_add(nanos / 1000))
        .ok_or_else(|| SqlError::DatetimeOverflow("interval out of range".into()))?;
    if micros <= 0 {
        return Err(SqlError::DatetimeOverflow(
            "stride must be greater than zero".into(),
        ));
    }
    Ok(())
}

fn check(stride: &ColumnarValue) -> Result<(), SqlError> {
    match stride {
        ColumnarValue::Scalar(ScalarValue::IntervalMonthDayNano(Some(v))) => {
            check_stride(v.months, v.days, v.nanoseconds)
        }
        ColumnarValue::Scalar(ScalarValue::IntervalDayTime(Some(v))) => {
            check_stride(0, v.days, i64::from(v.milliseconds) * 1_000_000)
        }
        ColumnarValue::Scalar(ScalarValue::IntervalYearMonth(Some(m))) => check_stride(*m, 0, 0),
        ColumnarValue::Array(a)
            if a.data_type() == &DataType::Interval(IntervalUnit::MonthDayNano) =>
        {
            let values = a.as_primitive::<IntervalMonthDayNanoType>();
            (0..values.len())
                .filter(|&i| values.is_valid(i))
                .try_for_each(|i| {
                    let v = values.value(i);
                    check_stride(v.months, v.days, v.nanoseconds)
                })
        }
        _ => Ok(()),
    }
}

impl ScalarUDFImpl for PgDateBin {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        self.inner.return_type(arg_types)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        self.inner.return_field_from_args(args)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        if let (true, Some(stride)) = (self.stride, args.args.first()) {
            check(stride).map_err(SqlError::into_datafusion)?;
        }
        let Some(ColumnarValue::Array(first)) = args.args.first() else {
            return self.inner.invoke_with_args(args);
        };
        // A stride or field that differs by row: one call of DataFusion's function per row.
        let first = Arc::clone(first);
        let mut out = Vec::with_capacity(args.number_rows);
        for row in 0..args.number_rows {
            let mut row_args = Vec::with_capacity(args.args.len());
            for a in &args.args {
                row_args.push(ColumnarValue::Scalar(match a {
                    ColumnarValue::Scalar(s) => s.clone(),
                    ColumnarValue::Array(array) => ScalarValue::try_from_array(array, row)?,
                }));
            }
            if first.is_null(row) {
                out.push(ScalarValue::try_from(args.return_field.data_type())?);
                continue;
            }
            let value = self.inner.invoke_with_args(ScalarFunctionArgs {
                args: row_args,
                arg_fields: args.arg_fields.clone(),
                number_rows: 1,
                return_field: Arc::clone(&args.return_field),
                config_options: Arc::clone(&args.config_options),
            })?;
            out.push(match value {
                ColumnarValue::Scalar(s) => s,
                ColumnarValue::Array(a) => ScalarValue::try_from_array(&a, 0)?,
            });
        }
        Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stride_is_checked_as_in_postgresql() {
        assert!(check_stride(0, 0, 15 * 60 * 1_000_000_000).is_ok());
        assert!(matches!(
            check_stride(5, 0, 0),
            Err(SqlError::FeatureNotSupported(_))
        ));
        assert!(check_stride(0, 0, 0).is_err());
        assert!(check_stride(0, -2, 0).is_err());
        assert!(matches!(
            check_stride(0, 200_000_000, 0),
            Err(SqlError::DatetimeOverflow(m)) if m == "interval out of range"
        ));
    }
}
