//! Literals typed in arithmetic as PostgreSQL types them. An integer literal that fits 32
//! bits is an `integer`. And PostgreSQL's `unknown` type: a string literal written without a type (`'-10'`) takes the
//! type its context gives it. In arithmetic that is the other operand's type (`f1 * '-10'`
//! multiplies two double precision values, `n + '1.5'` adds numerics), where DataFusion
//! would refuse to compute with text. This planner casts such a literal while the
//! expression is planned, when the other operand's type is known from the schema; the cast
//! then reads the text with PostgreSQL's input function for that type (see
//! [`crate::analyzer`] and [`crate::numeric`]), so `'abc'` is "invalid input syntax" as in
//! PostgreSQL. Function arguments are resolved by the functions themselves (see
//! [`crate::pgfloat`]).

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, Result as DfResult, ScalarValue};
use datafusion::logical_expr::expr::Cast;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{Expr, ExprSchemable};
use datafusion::sql::sqlparser::ast::BinaryOperator;

use basalt_common::types::{NUMERIC_DEFAULT_PRECISION, NUMERIC_DEFAULT_SCALE};

#[derive(Debug, Default)]
pub struct UnknownLiterals;

/// A string literal as SQL text wrote it (not yet given a type).
fn is_unknown(e: &Expr) -> bool {
    matches!(e, Expr::Literal(ScalarValue::Utf8(Some(_)), _))
}

/// The type an untyped string next to `other` takes in arithmetic, where PostgreSQL gives
/// it one: the same number type (numeric without its precision, as a bare `numeric`).
fn arithmetic_type(other: &Expr, schema: &DFSchema) -> Option<DataType> {
    match other.get_type(schema).ok()? {
        t @ (DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::Float32
        | DataType::Float64) => Some(t),
        DataType::Decimal128(_, _) => Some(DataType::Decimal128(
            NUMERIC_DEFAULT_PRECISION,
            NUMERIC_DEFAULT_SCALE,
        )),
        _ => None,
    }
}

/// An integer literal is an `integer` in PostgreSQL when its value fits 32 bits (DataFusion
/// makes every one a 64-bit integer), so `i4 / 2` divides integers and `i4 * -1` overflows
/// as PostgreSQL's does. Done where the other operand is a smallint or integer, whose
/// arithmetic would otherwise become 64-bit.
fn integer_literal(e: Expr, other: &Expr, schema: &DFSchema) -> Expr {
    let Expr::Literal(ScalarValue::Int64(Some(v)), _) = &e else {
        return e;
    };
    let Ok(small) = i32::try_from(*v) else {
        return e;
    };
    match other.get_type(schema) {
        Ok(DataType::Int16 | DataType::Int32) => {
            Expr::Literal(ScalarValue::Int32(Some(small)), None)
        }
        _ => e,
    }
}

impl ExprPlanner for UnknownLiterals {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> DfResult<PlannerResult<RawBinaryExpr>> {
        if !matches!(
            expr.op,
            BinaryOperator::Plus
                | BinaryOperator::Minus
                | BinaryOperator::Multiply
                | BinaryOperator::Divide
                | BinaryOperator::Modulo
        ) {
            return Ok(PlannerResult::Original(expr));
        }
        let RawBinaryExpr { op, left, right } = expr;
        let left = integer_literal(left, &right, schema);
        let right = integer_literal(right, &left, schema);
        let cast = |e: Expr, t: DataType| Expr::Cast(Cast::new(Box::new(e), t));
        let (left, right) = match (is_unknown(&left), is_unknown(&right)) {
            (true, false) => match arithmetic_type(&right, schema) {
                Some(t) => (cast(left, t), right),
                None => (left, right),
            },
            (false, true) => match arithmetic_type(&left, schema) {
                Some(t) => (left, cast(right, t)),
                None => (left, right),
            },
            _ => (left, right),
        };
        Ok(PlannerResult::Original(RawBinaryExpr { op, left, right }))
    }
}
