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

/// A string literal compared with, contained in or appended to an array takes the array's
/// type (`a > '{1}'`, `a @> '{2}'`): PostgreSQL reads it as array input. One compared with
/// an interval is an interval (`i > '1 day'`), which DataFusion would not compare with text.
fn typed_operand(expr: &RawBinaryExpr, schema: &DFSchema) -> Option<RawBinaryExpr> {
    if !matches!(
        expr.op,
        BinaryOperator::Eq
            | BinaryOperator::NotEq
            | BinaryOperator::Lt
            | BinaryOperator::LtEq
            | BinaryOperator::Gt
            | BinaryOperator::GtEq
            | BinaryOperator::AtArrow
            | BinaryOperator::ArrowAt
            | BinaryOperator::StringConcat
    ) {
        return None;
    }
    let comparison = !matches!(
        expr.op,
        BinaryOperator::AtArrow | BinaryOperator::ArrowAt | BinaryOperator::StringConcat
    );
    let list = |e: &Expr| {
        e.get_type(schema).ok().filter(|t| {
            matches!(t, DataType::List(_)) || (comparison && matches!(t, DataType::Interval(_)))
        })
    };
    let cast = |e: &Expr, t: DataType| Expr::Cast(Cast::new(Box::new(e.clone()), t));
    let (left, right) = match (is_unknown(&expr.left), is_unknown(&expr.right)) {
        (true, false) => (cast(&expr.left, list(&expr.right)?), expr.right.clone()),
        (false, true) => (expr.left.clone(), cast(&expr.right, list(&expr.left)?)),
        _ => return None,
    };
    Some(RawBinaryExpr {
        op: expr.op.clone(),
        left,
        right,
    })
}

impl ExprPlanner for UnknownLiterals {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> DfResult<PlannerResult<RawBinaryExpr>> {
        if let Some(expr) = typed_operand(&expr, schema) {
            // DataFusion's planner for array operators has seen the operands before this
            // one typed the string; containment is planned here.
            use datafusion::functions_nested::expr_fn::array_has_all;
            return Ok(match expr.op {
                BinaryOperator::AtArrow => {
                    PlannerResult::Planned(array_has_all(expr.left, expr.right))
                }
                BinaryOperator::ArrowAt => {
                    PlannerResult::Planned(array_has_all(expr.right, expr.left))
                }
                _ => PlannerResult::Original(expr),
            });
        }
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

/// `ARRAY[1, 2]` is an `integer[]` in PostgreSQL: integer literals that fit 32 bits, among
/// elements that are all integers of at most 32 bits, are `integer`s (DataFusion makes
/// each one 64-bit). Placed before DataFusion's planner of array literals.
#[derive(Debug, Default)]
pub struct ArrayLiteralTypes;

impl ExprPlanner for ArrayLiteralTypes {
    fn plan_array_literal(
        &self,
        exprs: Vec<Expr>,
        schema: &DFSchema,
    ) -> DfResult<PlannerResult<Vec<Expr>>> {
        let small = |e: &Expr| match e {
            Expr::Literal(ScalarValue::Int64(Some(v)), _) => i32::try_from(*v).is_ok(),
            e => matches!(e.get_type(schema), Ok(DataType::Int16 | DataType::Int32)),
        };
        if exprs.is_empty() || !exprs.iter().all(small) {
            return Ok(PlannerResult::Original(exprs));
        }
        let narrowed = exprs
            .into_iter()
            .map(|e| match e {
                Expr::Literal(ScalarValue::Int64(Some(v)), _) => {
                    Expr::Literal(ScalarValue::Int32(i32::try_from(v).ok()), None)
                }
                e => e,
            })
            .collect();
        Ok(PlannerResult::Original(narrowed))
    }
}

/// A string literal in a UNION branch takes the type of the other branches' column, as
/// PostgreSQL resolves an `unknown` (`SELECT 1 UNION SELECT '2'` is an integer column;
/// `SELECT 1.5 UNION SELECT 'foo'` fails to read 'foo' as numeric). DataFusion would make
/// the column text. Runs before type coercion, which then unifies the branches.
#[derive(Debug, Default)]
pub struct UnknownSetOperands;

impl datafusion::optimizer::AnalyzerRule for UnknownSetOperands {
    fn analyze(
        &self,
        plan: datafusion::logical_expr::LogicalPlan,
        _config: &datafusion::common::config::ConfigOptions,
    ) -> DfResult<datafusion::logical_expr::LogicalPlan> {
        use datafusion::common::tree_node::Transformed;
        use datafusion::logical_expr::LogicalPlan;
        // The plans above a retyped UNION take its new column types.
        crate::analyzer::retype_nodes(
            plan,
            |p| match p {
                LogicalPlan::Union(u) => type_union_literals(u),
                other => Ok(Transformed::no(other)),
            },
            |p| matches!(p, LogicalPlan::Union(_)),
        )
    }

    fn name(&self) -> &str {
        "basalt_unknown_set_operands"
    }
}

/// The type an untyped string in a UNION column takes beside `t`, where PostgreSQL gives
/// it one.
fn set_operand_type(t: &DataType) -> Option<DataType> {
    match t {
        DataType::Decimal128(_, _) => Some(DataType::Decimal128(
            NUMERIC_DEFAULT_PRECISION,
            NUMERIC_DEFAULT_SCALE,
        )),
        DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::Float32
        | DataType::Float64
        | DataType::Boolean
        | DataType::Date32
        | DataType::Timestamp(_, _)
        | DataType::Time64(_)
        | DataType::Interval(_) => Some(t.clone()),
        _ => None,
    }
}

fn type_union_literals(
    u: datafusion::logical_expr::Union,
) -> DfResult<datafusion::common::tree_node::Transformed<datafusion::logical_expr::LogicalPlan>> {
    use datafusion::common::tree_node::Transformed;
    use datafusion::logical_expr::{LogicalPlan, Projection, Union};
    use std::sync::Arc;
    // Each branch's column expressions when the branch is a projection.
    let literal_at = |input: &LogicalPlan, i: usize| -> bool {
        match input {
            LogicalPlan::Projection(p) => p.expr.get(i).is_some_and(|e| {
                let inner = match e {
                    Expr::Alias(a) => a.expr.as_ref(),
                    e => e,
                };
                is_unknown(inner)
            }),
            _ => false,
        }
    };
    let width = u.schema.fields().len();
    let mut targets: Vec<Option<DataType>> = vec![None; width];
    let mut any = false;
    for (i, target) in targets.iter_mut().enumerate() {
        let mut others: Vec<DataType> = Vec::new();
        let mut literals = 0;
        for input in &u.inputs {
            if literal_at(input, i) {
                literals += 1;
            } else if let Some(f) = input.schema().fields().get(i) {
                if f.data_type() != &DataType::Null {
                    others.push(f.data_type().clone());
                }
            }
        }
        let Some(first) = others.first() else {
            continue;
        };
        if literals > 0 && others.iter().all(|t| t == first) {
            *target = set_operand_type(first);
            any |= target.is_some();
        }
    }
    if !any {
        return Ok(Transformed::no(LogicalPlan::Union(u)));
    }
    let mut inputs = Vec::with_capacity(u.inputs.len());
    for input in u.inputs {
        let LogicalPlan::Projection(p) = input.as_ref() else {
            inputs.push(input);
            continue;
        };
        let mut changed = false;
        let exprs: Vec<Expr> = p
            .expr
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let (inner, name) = match e {
                    Expr::Alias(a) => (a.expr.as_ref(), a.name.clone()),
                    e => (e, e.schema_name().to_string()),
                };
                match &targets[i] {
                    Some(t) if is_unknown(inner) => {
                        changed = true;
                        Expr::Cast(Cast::new(Box::new(inner.clone()), t.clone())).alias(name)
                    }
                    _ => e.clone(),
                }
            })
            .collect();
        if changed {
            let projection = Projection::try_new(exprs, Arc::clone(&p.input))?;
            inputs.push(Arc::new(LogicalPlan::Projection(projection)));
        } else {
            inputs.push(input);
        }
    }
    let mut union = Union::try_new_with_loose_types(inputs)?;
    // A column is nullable when a branch's is (a cast literal may be, the first branch's
    // constant not).
    let fields: Vec<_> = union
        .schema
        .iter()
        .enumerate()
        .map(|(i, (q, f))| {
            let nullable = union.inputs.iter().any(|input| {
                input
                    .schema()
                    .fields()
                    .get(i)
                    .is_none_or(|f| f.is_nullable())
            });
            (
                q.cloned(),
                Arc::new(f.as_ref().clone().with_nullable(nullable)),
            )
        })
        .collect();
    union.schema = Arc::new(DFSchema::new_with_metadata(
        fields,
        union.schema.metadata().clone(),
    )?);
    Ok(Transformed::yes(LogicalPlan::Union(union)))
}
