//! PostgreSQL's error for a call to a function that does not exist:
//! `function f(integer, text) does not exist`, with the argument types and a HINT.
//!
//! DataFusion refuses an unknown name before it has planned the arguments, so it cannot say
//! their types. When planning fails that way, the statement is planned once more with each
//! call to the unknown name replaced by a call to [`UndefinedFunction`], whose return type
//! is asked for once the arguments are planned: it answers with PostgreSQL's error.

use std::ops::ControlFlow;

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::sql::sqlparser::ast::{
    CastKind, DataType as SqlDataType, Expr, FunctionArg, FunctionArgExpr, FunctionArgumentClause,
    FunctionArgumentList, FunctionArguments, Ident, ObjectName, Statement, Value, VisitMut,
    VisitorMut,
};

use crate::error::SqlError;

/// The name the stand-in function is registered under.
const STAND_IN: &str = "basalt_undefined_function";

const HINT: &str =
    "No function matches the given name and argument types. You might need to add explicit type casts.";

/// PostgreSQL's hint for a call with an ORDER BY of several keys, and the mark the stand-in
/// gets for it before the function's name.
const AGGREGATE_ORDER_HINT: &str = "No aggregate function matches the given name and argument \
     types. Perhaps you misplaced ORDER BY; ORDER BY must appear after all regular arguments \
     of the aggregate.";
const AGGREGATE_ORDER: &str = "\u{1}";

/// The function name of DataFusion's "Invalid function 'name'" planning error.
pub fn unknown_function(e: &DataFusionError) -> Option<String> {
    let msg = e.find_root().to_string();
    let (_, rest) = msg.split_once("Invalid function '")?;
    let end = rest.find('\'')?;
    Some(rest[..end].to_owned())
}

/// Whether planning failed with the stand-in's error.
pub fn is_undefined_function(e: &DataFusionError) -> bool {
    match e.find_root() {
        DataFusionError::External(inner) => inner
            .downcast_ref::<crate::error::SqlErrorBox>()
            .is_some_and(|b| b.0.sqlstate() == "42883"),
        _ => false,
    }
}

/// Replaces every call to `name` in `stmt` by a call to the stand-in, with the name as its
/// first argument and the call's argument expressions after it (DISTINCT, ORDER BY, FILTER
/// and OVER dropped: PostgreSQL looks the function up by name and argument types alone).
/// Returns whether a call was replaced.
pub fn stand_in_calls(stmt: &mut Statement, name: &str) -> bool {
    let mut v = Replace {
        name,
        replaced: false,
    };
    let _ = VisitMut::visit(stmt, &mut v);
    v.replaced
}

struct Replace<'a> {
    name: &'a str,
    replaced: bool,
}

impl VisitorMut for Replace<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::Function(f) = expr else {
            return ControlFlow::Continue(());
        };
        if display_name(&f.name) != self.name {
            return ControlFlow::Continue(());
        }
        // `agg(a, b ORDER BY x, y)`: PostgreSQL's hint says the ORDER BY may be misplaced.
        let ordered = matches!(&f.args, FunctionArguments::List(l) if l.clauses.iter().any(|c| {
            matches!(c, FunctionArgumentClause::OrderBy(keys) if keys.len() > 1)
        }));
        let marker = if ordered { AGGREGATE_ORDER } else { "" };
        let mut args = vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::value(
            Value::SingleQuotedString(format!("{marker}{}", display_name(&f.name))),
        )))];
        if let FunctionArguments::List(list) =
            std::mem::replace(&mut f.args, FunctionArguments::None)
        {
            for arg in list.args {
                let (FunctionArg::Unnamed(a)
                | FunctionArg::Named { arg: a, .. }
                | FunctionArg::ExprNamed { arg: a, .. }) = arg;
                if let FunctionArgExpr::Expr(e) = a {
                    args.push(FunctionArg::Unnamed(FunctionArgExpr::Expr(typed_literal(
                        e,
                    ))));
                }
            }
        }
        f.name = ObjectName::from(vec![Ident::new(STAND_IN)]);
        f.args = FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args,
            clauses: vec![],
        });
        f.parameters = FunctionArguments::None;
        f.filter = None;
        f.null_treatment = None;
        f.over = None;
        f.within_group = vec![];
        self.replaced = true;
        ControlFlow::Continue(())
    }
}

/// An integer literal that fits in 32 bits is an `integer` to PostgreSQL (Basalt plans all
/// integer literals as `bigint`), so the message names the type PostgreSQL would.
fn typed_literal(e: Expr) -> Expr {
    let small = match &e {
        Expr::Value(v) => matches!(&v.value, Value::Number(n, _) if n.parse::<i32>().is_ok()),
        _ => false,
    };
    if !small {
        return e;
    }
    Expr::Cast {
        kind: CastKind::DoubleColon,
        expr: Box::new(e),
        data_type: SqlDataType::Integer(None),
        array: false,
        format: None,
    }
}

/// An identifier as the planner compares it: unquoted names fold to lower case.
fn normalized(id: &Ident) -> String {
    if id.quote_style.is_some() {
        id.value.clone()
    } else {
        id.value.to_lowercase()
    }
}

/// The name as PostgreSQL prints it in the error: schema-qualified when written so, with
/// unquoted parts folded to lower case.
fn display_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|p| {
            p.as_ident()
                .map(normalized)
                .unwrap_or_else(|| p.to_string())
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The stand-in for a function that does not exist: planning a call raises PostgreSQL's
/// error, naming the types of the arguments.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct UndefinedFunction {
    signature: Signature,
}

impl UndefinedFunction {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::from(UndefinedFunction {
            signature: Signature::variadic_any(Volatility::Volatile),
        })
    }
}

impl ScalarUDFImpl for UndefinedFunction {
    fn name(&self) -> &str {
        STAND_IN
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Err(
            SqlError::UndefinedFunction(format!("function {STAND_IN} does not exist"))
                .into_datafusion(),
        )
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        let name = match args.scalar_arguments.first() {
            Some(Some(ScalarValue::Utf8(Some(n)))) => n.clone(),
            _ => STAND_IN.to_owned(),
        };
        let (name, hint) = match name.strip_prefix(AGGREGATE_ORDER) {
            Some(bare) => (bare.to_owned(), AGGREGATE_ORDER_HINT),
            None => (name, HINT),
        };
        let types = args
            .arg_fields
            .iter()
            .skip(1)
            .map(|f| crate::functions::pg_type_of(f.data_type()))
            .collect::<Vec<_>>()
            .join(", ");
        Err(SqlError::Detailed {
            sqlstate: "42883",
            message: format!("function {name}({types}) does not exist"),
            detail: String::new(),
            hint: Some(hint.to_owned()),
        }
        .into_datafusion())
    }
    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Err(
            SqlError::UndefinedFunction(format!("function {STAND_IN} does not exist"))
                .into_datafusion(),
        )
    }
}
