//! MySQL's `/`: exact division of integers and decimals with four more fraction digits
//! (`div_precision_increment`), `x / 0` is NULL with warning 1365, and a DOUBLE when either
//! side is floating point or text.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Decimal128Builder, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Decimal128Type};
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// Extra fraction digits of a division (MySQL's `div_precision_increment` default).
const DIV_INCREMENT: i8 = 4;
const MAX_SCALE: i8 = 30;

#[derive(Debug)]
pub struct MySqlDiv {
    signature: Signature,
    /// Divisions by zero since the session last looked (each is a warning 1365).
    pub by_zero: Arc<AtomicU64>,
}

impl PartialEq for MySqlDiv {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.by_zero, &other.by_zero)
    }
}
impl Eq for MySqlDiv {}
impl std::hash::Hash for MySqlDiv {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        "mysql_div".hash(state);
    }
}

pub fn div_udf(by_zero: Arc<AtomicU64>) -> ScalarUDF {
    ScalarUDF::from(MySqlDiv {
        signature: Signature::any(2, Volatility::Immutable),
        by_zero,
    })
}

fn is_exact(t: &DataType) -> bool {
    t.is_integer() || matches!(t, DataType::Decimal128(_, _) | DataType::Null)
}

fn scale_of(t: &DataType) -> i8 {
    match t {
        DataType::Decimal128(_, s) => (*s).max(0),
        _ => 0,
    }
}

impl ScalarUDFImpl for MySqlDiv {
    fn name(&self) -> &str {
        "mysql_div"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> DfResult<DataType> {
        if args.iter().all(is_exact) {
            let s = (scale_of(&args[0]) + DIV_INCREMENT).min(MAX_SCALE);
            Ok(DataType::Decimal128(38, s))
        } else {
            Ok(DataType::Float64)
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let n = args.number_rows;
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(n))
            .collect::<DfResult<_>>()?;
        let (a, b) = (&arrays[0], &arrays[1]);
        let mut zeros = 0u64;
        let out: ArrayRef = match args.return_field.data_type() {
            DataType::Decimal128(p, s) => {
                let (sa, sb) = (scale_of(a.data_type()), scale_of(b.data_type()));
                let a = cast(a, &DataType::Decimal128(38, sa))?;
                let b = cast(b, &DataType::Decimal128(38, sb))?;
                let (a, b) = (
                    a.as_primitive::<Decimal128Type>(),
                    b.as_primitive::<Decimal128Type>(),
                );
                let mut builder = Decimal128Builder::with_capacity(n);
                // a/10^sa ÷ b/10^sb at scale s: a · 10^(sb + s − sa) / b, rounded half away from 0.
                let shift =
                    u32::try_from(i32::from(sb) + i32::from(*s) - i32::from(sa)).unwrap_or(0);
                for i in 0..n {
                    if a.is_null(i) || b.is_null(i) {
                        builder.append_null();
                        continue;
                    }
                    let (x, y) = (a.value(i), b.value(i));
                    if y == 0 {
                        zeros += 1;
                        builder.append_null();
                        continue;
                    }
                    let exact = 10i128
                        .checked_pow(shift)
                        .and_then(|m| x.checked_mul(m))
                        .map(|num| {
                            let q = num / y;
                            let r = num % y;
                            if r.unsigned_abs() * 2 >= y.unsigned_abs() {
                                q + if (num < 0) == (y < 0) { 1 } else { -1 }
                            } else {
                                q
                            }
                        });
                    match exact {
                        Some(v) => builder.append_value(v),
                        None => {
                            let f = (x as f64 / 10f64.powi(i32::from(sa)))
                                / (y as f64 / 10f64.powi(i32::from(sb)));
                            builder.append_value((f * 10f64.powi(i32::from(*s))).round() as i128);
                        }
                    }
                }
                Arc::new(builder.finish().with_precision_and_scale(*p, *s)?)
            }
            _ => {
                let a = cast(a, &DataType::Float64)?;
                let b = cast(b, &DataType::Float64)?;
                let (a, b) = (
                    a.as_primitive::<datafusion::arrow::datatypes::Float64Type>(),
                    b.as_primitive::<datafusion::arrow::datatypes::Float64Type>(),
                );
                let values: Float64Array = (0..n)
                    .map(|i| {
                        if a.is_null(i) || b.is_null(i) {
                            None
                        } else if b.value(i) == 0.0 {
                            zeros += 1;
                            None
                        } else {
                            Some(a.value(i) / b.value(i))
                        }
                    })
                    .collect();
                Arc::new(values)
            }
        };
        if zeros > 0 {
            self.by_zero.fetch_add(zeros, Ordering::Relaxed);
        }
        Ok(ColumnarValue::Array(out))
    }
}
