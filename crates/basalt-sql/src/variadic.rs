//! `VARIADIC` arguments: `concat(VARIADIC arr)`, `concat_ws(sep, VARIADIC arr)` and
//! `format(fmt, VARIADIC arr)` take the elements of an array as their variadic arguments,
//! as in PostgreSQL.
//!
//! sqlparser does not read `VARIADIC`, so the text `f(a, VARIADIC x)` is read as
//! `f(a, basalt_variadic(x))` ([`variadic_arguments`]); the rewriter turns such a call into
//! the function's array form ([`array_form`]), whose output column keeps the function's name.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectName,
    ObjectNamePart, Value,
};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::error::{SqlError, SqlResult};

/// The name a `VARIADIC` argument is wrapped in between the tokenizer and the rewriter.
pub const MARK: &str = "basalt_variadic";

/// The tokens of `sql` with each `VARIADIC x` argument written as `basalt_variadic(x)`;
/// `None` when there is none. The argument runs to the call's closing parenthesis (PostgreSQL
/// requires `VARIADIC` on the last argument).
pub fn variadic_arguments(sql: &str) -> Option<Vec<TokenWithSpan>> {
    let (tokens, significant) = crate::session::significant_tokens(sql)?;
    let is_variadic = |k: usize| {
        crate::session::token_word(&tokens[significant[k]]).as_deref() == Some("variadic")
            && k > 0
            && matches!(
                tokens[significant[k - 1]].token,
                Token::LParen | Token::Comma
            )
    };
    // Token indices of the VARIADIC words and of the parentheses that close their calls.
    let mut marks = Vec::new();
    let mut closes = Vec::new();
    for k in 0..significant.len() {
        if !is_variadic(k) {
            continue;
        }
        let mut depth = 0usize;
        let close = significant[k + 1..]
            .iter()
            .find(|&&i| match tokens[i].token {
                Token::LParen | Token::LBracket => {
                    depth += 1;
                    false
                }
                Token::RParen | Token::RBracket if depth > 0 => {
                    depth -= 1;
                    false
                }
                Token::RParen => true,
                _ => false,
            })?;
        marks.push(significant[k]);
        closes.push(*close);
    }
    if marks.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(tokens.len() + 2 * marks.len());
    for (i, t) in tokens.into_iter().enumerate() {
        let span = t.span;
        if marks.contains(&i) {
            out.push(TokenWithSpan::new(Token::make_word(MARK, None), span));
            out.push(TokenWithSpan::new(Token::LParen, span));
            continue;
        }
        for _ in closes.iter().filter(|&&c| c == i) {
            out.push(TokenWithSpan::new(Token::RParen, span));
        }
        out.push(t);
    }
    Some(out)
}

/// The argument of a `basalt_variadic(x)` mark.
fn marked(arg: &FunctionArg) -> Option<&Expr> {
    let FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Function(f))) = arg else {
        return None;
    };
    if !f.name.to_string().eq_ignore_ascii_case(MARK) {
        return None;
    }
    match &f.args {
        FunctionArguments::List(list) => match list.args.as_slice() {
            [FunctionArg::Unnamed(FunctionArgExpr::Expr(x))] => Some(x),
            _ => None,
        },
        _ => None,
    }
}

/// The array form of a call with a `VARIADIC` argument (`concat(VARIADIC a)` is
/// `concat_variadic(a)`); `Ok(None)` when the call has none.
pub fn array_form(f: &Function) -> SqlResult<Option<Expr>> {
    let FunctionArguments::List(list) = &f.args else {
        return Ok(None);
    };
    let Some(position) = list.args.iter().position(|a| marked(a).is_some()) else {
        return Ok(None);
    };
    let name = f.name.to_string().to_lowercase();
    let fixed = match name.as_str() {
        "concat" | "pg_catalog.concat" => 0,
        "concat_ws" | "pg_catalog.concat_ws" | "format" | "pg_catalog.format" => 1,
        _ => {
            return Err(SqlError::unsupported(format!(
                "VARIADIC arguments are supported for concat, concat_ws and format, not {name}"
            )))
        }
    };
    if position != fixed || list.args.len() != fixed + 1 {
        return Err(SqlError::UndefinedFunction(format!(
            "function {name} with a VARIADIC argument in that position does not exist"
        )));
    }
    let array = marked(&list.args[position]).cloned().ok_or_else(|| {
        SqlError::Internal("VARIADIC argument disappeared while rewriting".into())
    })?;
    if let Expr::Value(v) = &array {
        if !matches!(v.value, Value::Null) {
            return Err(not_an_array().at(v.span));
        }
    }
    let mut call = f.clone();
    let base = name.rsplit('.').next().unwrap_or(&name).to_owned();
    call.name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(format!(
        "{base}_variadic"
    )))]);
    if let FunctionArguments::List(l) = &mut call.args {
        l.args[position] = FunctionArg::Unnamed(FunctionArgExpr::Expr(array));
    }
    Ok(Some(Expr::Function(call)))
}

fn not_an_array() -> SqlError {
    SqlError::DatatypeMismatch("VARIADIC argument must be an array".into())
}

/// Which function an array form stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Concat,
    ConcatWs,
    Format,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ArrayForm {
    kind: Kind,
    signature: Signature,
}

/// `concat_variadic`, `concat_ws_variadic` and `format_variadic`.
pub fn udfs() -> Vec<ScalarUDF> {
    [Kind::Concat, Kind::ConcatWs, Kind::Format]
        .into_iter()
        .map(|kind| {
            ScalarUDF::from(ArrayForm {
                kind,
                signature: Signature::any(
                    if kind == Kind::Concat { 1 } else { 2 },
                    Volatility::Stable,
                ),
            })
        })
        .collect()
}

impl ScalarUDFImpl for ArrayForm {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Concat => "concat_variadic",
            Kind::ConcatWs => "concat_ws_variadic",
            Kind::Format => "format_variadic",
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match arg_types.last() {
            Some(
                DataType::List(_)
                | DataType::LargeList(_)
                | DataType::FixedSizeList(..)
                | DataType::Null,
            ) => Ok(DataType::Utf8),
            _ => Err(not_an_array().into_datafusion()),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = crate::functions::all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out = self
            .run(&arrays, args.number_rows)
            .map_err(SqlError::into_datafusion)?;
        crate::functions::columnar_result(out, scalar)
    }
}

impl ArrayForm {
    fn run(&self, arrays: &[ArrayRef], rows: usize) -> SqlResult<ArrayRef> {
        let (leading, list) = match arrays {
            [list] => (None, list),
            [leading, list] => (Some(cast(leading, &DataType::Utf8)?), list),
            _ => return Err(SqlError::Internal("VARIADIC call arity".into())),
        };
        let list = match list.data_type() {
            DataType::Null => None,
            _ => Some(cast(list, &DataType::new_list(element_type(list), true))?),
        };
        let mut out: Vec<Option<String>> = Vec::with_capacity(rows);
        for row in 0..rows {
            let first = leading
                .as_ref()
                .map(|l| (!l.is_null(row)).then(|| l.as_string::<i32>().value(row)));
            let elements = match &list {
                Some(l) if !l.is_null(row) => Some(l.as_list::<i32>().value(row)),
                _ => None,
            };
            out.push(self.row(first, elements.as_ref())?);
        }
        Ok(Arc::new(StringArray::from(out)))
    }

    /// One row: `first` is the separator or format (absent for concat), `elements` the
    /// array's values (`None` for a NULL array).
    fn row(
        &self,
        first: Option<Option<&str>>,
        elements: Option<&ArrayRef>,
    ) -> SqlResult<Option<String>> {
        let texts = match elements {
            Some(e) => crate::format::pg_text_column(e)?,
            None => Vec::new(),
        };
        Ok(match (self.kind, first) {
            (Kind::Concat, _) => elements.map(|_| texts.into_iter().flatten().collect()),
            (Kind::ConcatWs, Some(Some(sep))) => {
                elements.map(|_| texts.into_iter().flatten().collect::<Vec<_>>().join(sep))
            }
            (Kind::Format, Some(Some(fmt))) => {
                let ints = match elements {
                    Some(e) if e.data_type().is_integer() => {
                        let c = cast(e, &DataType::Int64)?;
                        c.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                            .iter()
                            .collect()
                    }
                    _ => vec![None; texts.len()],
                };
                Some(crate::pgformat::format_row(fmt, &texts, &ints)?)
            }
            _ => None,
        })
    }
}

/// The element type of a list column.
fn element_type(list: &ArrayRef) -> DataType {
    match list.data_type() {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            f.data_type().clone()
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variadic_argument_is_marked_up_to_its_call_end() {
        let tokens = variadic_arguments("select format('%s', variadic array[f(1), 2]) x")
            .unwrap_or_default();
        let text: String = tokens.iter().map(|t| t.token.to_string()).collect();
        assert_eq!(
            text,
            "select format('%s', basalt_variadic( array[f(1), 2])) x"
        );
        assert!(variadic_arguments("select variadic from t").is_none());
    }
}
