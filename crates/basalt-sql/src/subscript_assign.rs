//! Assignment to array elements: `INSERT INTO t (a[1], a[2]) VALUES (…)` and
//! `UPDATE t SET a[3] = …` (also in `ON CONFLICT DO UPDATE SET`), as PostgreSQL does them.
//!
//! sqlparser reads neither form, so [`subscripted_targets`] (a token-level rewrite, tried
//! when a statement does not parse) writes each subscripted target `a[i]` as one quoted
//! name that carries the subscript after [`MARK`]. [`rewrite`] then turns the marked
//! targets back into assignments of the whole column: `a = basalt_array_assign(a, i, v, …)`
//! for an UPDATE, and for an INSERT a value of the column built from NULL, row by row (a
//! VALUES list) or over the query the rows come from. Several elements of one column are
//! assigned in the order they are written, and the column's domain (if any) checks the
//! finished array, as in PostgreSQL.
//!
//! [`ArrayAssign`] assigns: an element past the end extends the array with NULLs; one
//! before the start of a NULL array starts it there. Basalt's arrays start at 1, so an
//! assignment that would leave another lower bound (`a[0] := …`, or `a[3]` of a NULL
//! array alone) is refused with 0A000, as are slices and elements of multidimensional
//! arrays.

use std::sync::Arc;

use datafusion::arrow::array::{new_null_array, Array, ArrayRef, AsArray, ListArray};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type};
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::sql::sqlparser::ast::{
    Assignment, AssignmentTarget, Expr, Ident, ObjectName, OnConflictAction, OnInsert, Query,
    SetExpr, Statement,
};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Word};

use crate::error::{SqlError, SqlResult};

/// Separates a column's name from the subscripts written after it, in a marked target.
pub const MARK: char = '\0';

/// The function that assigns elements: `basalt_array_assign(array, i1, v1, i2, v2, …)`.
pub const FUNCTION: &str = "basalt_array_assign";

/// Arrays longer than this are refused, as PostgreSQL refuses them (`MaxArraySize`).
const MAX_ELEMENTS: i64 = 134_217_727;

/// The most elements one batch of assignments builds at once (the arrays of its rows
/// together): past it the statement is refused rather than hold that much memory.
const MAX_BATCH_ELEMENTS: usize = 1 << 24;

fn too_large() -> SqlError {
    SqlError::Detailed {
        sqlstate: "54000",
        message: format!("array size exceeds the maximum allowed ({MAX_ELEMENTS})"),
        detail: String::new(),
        hint: None,
    }
}

fn batch_too_large() -> SqlError {
    SqlError::Detailed {
        sqlstate: "54000",
        message: format!(
            "assigning these array elements would build more than {MAX_BATCH_ELEMENTS} \
             elements at once"
        ),
        detail: String::new(),
        hint: None,
    }
}

// ---- tokens ---------------------------------------------------------------------------------

/// The tokens of `sql` with each subscripted target of an INSERT column list or of a SET
/// clause written as one marked name; `None` when there is none.
pub fn subscripted_targets(sql: &str) -> Option<Vec<TokenWithSpan>> {
    let (tokens, significant) = crate::session::significant_tokens(sql)?;
    let t: Vec<TokenWithSpan> = significant.into_iter().map(|i| tokens[i].clone()).collect();
    let word = |i: usize| t.get(i).and_then(crate::session::token_word);
    let mut targets: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < t.len() {
        match word(i).as_deref() {
            // INSERT INTO name [AS alias | alias] ( columns )
            Some("insert") if word(i + 1).as_deref() == Some("into") => {
                i += 2;
                // The table's name (parts joined by periods), then `[AS] alias`.
                let mut j = i;
                let is_word = |k: usize| matches!(t.get(k).map(|x| &x.token), Some(Token::Word(_)));
                if is_word(j) {
                    j += 1;
                    while t.get(j).map(|x| &x.token) == Some(&Token::Period) && is_word(j + 1) {
                        j += 2;
                    }
                    if word(j).as_deref() == Some("as") && is_word(j + 1) {
                        j += 2;
                    } else if matches!(
                        t.get(j).map(|x| &x.token),
                        Some(Token::Word(w)) if w.keyword == datafusion::sql::sqlparser::keywords::Keyword::NoKeyword
                    ) {
                        j += 1;
                    }
                }
                if t.get(j).map(|x| &x.token) == Some(&Token::LParen) {
                    let mut k = j + 1;
                    while k < t.len() && t[k].token != Token::RParen {
                        let item = matches!(t[k - 1].token, Token::LParen | Token::Comma);
                        if item && matches!(t[k].token, Token::Word(_)) {
                            if let Some(end) = subscripts_end(&t, k + 1) {
                                targets.push((k, end));
                                k = end;
                                continue;
                            }
                        }
                        k += 1;
                    }
                    i = k;
                }
            }
            // SET a[i] = …, b = …: targets at the SET clause's own level.
            Some("set") => {
                let mut k = i + 1;
                let mut depth = 0usize;
                while k < t.len() {
                    match &t[k].token {
                        Token::LParen | Token::LBracket => depth += 1,
                        Token::RParen | Token::RBracket if depth > 0 => depth -= 1,
                        Token::RParen => break,
                        Token::SemiColon => break,
                        _ => {}
                    }
                    let item = depth == 0
                        && (k == i + 1 || matches!(t[k - 1].token, Token::Comma))
                        && matches!(t[k].token, Token::Word(_));
                    if item {
                        if let Some(end) = subscripts_end(&t, k + 1) {
                            if t.get(end).map(|x| &x.token) == Some(&Token::Eq) {
                                targets.push((k, end));
                                k = end;
                                continue;
                            }
                        }
                    }
                    if depth == 0
                        && matches!(word(k).as_deref(), Some("where" | "from" | "returning"))
                    {
                        break;
                    }
                    k += 1;
                }
                i = k;
            }
            _ => i += 1,
        }
    }
    if targets.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(t.len());
    let mut k = 0;
    for (start, end) in targets {
        out.extend(t[k..start].iter().cloned());
        let Token::Word(w) = &t[start].token else {
            return None;
        };
        let name = match w.quote_style {
            Some(_) => w.value.clone(),
            None => w.value.to_lowercase(),
        };
        let subscripts: Vec<String> = t[start + 1..end]
            .iter()
            .map(|x| x.token.to_string())
            .collect();
        let marked = format!("{name}{MARK}{}", subscripts.join(" "));
        out.push(TokenWithSpan::new(
            Token::Word(Word {
                value: marked,
                quote_style: Some('"'),
                keyword: datafusion::sql::sqlparser::keywords::Keyword::NoKeyword,
            }),
            t[start].span,
        ));
        k = end;
    }
    out.extend(t[k..].iter().cloned());
    Some(out)
}

/// The end (exclusive) of the bracketed subscripts starting at `from`, if any.
fn subscripts_end(t: &[TokenWithSpan], from: usize) -> Option<usize> {
    let mut k = from;
    while t.get(k).map(|x| &x.token) == Some(&Token::LBracket) {
        let mut depth = 0usize;
        loop {
            match &t.get(k)?.token {
                Token::LBracket => depth += 1,
                Token::RBracket => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            k += 1;
        }
        k += 1;
    }
    (k > from).then_some(k)
}

// ---- statements -----------------------------------------------------------------------------

/// A marked target: the column and the subscript written (one, not a slice).
fn marked(name: &ObjectName) -> Option<SqlResult<(Ident, Expr)>> {
    let [part] = name.0.as_slice() else {
        return None;
    };
    let ident = part.as_ident()?;
    let (column, subscripts) = ident.value.split_once(MARK)?;
    Some(subscript_of(subscripts).map(|s| (Ident::with_quote('"', column), s)))
}

/// The one subscript of `[i]` (text of its tokens, space-separated).
fn subscript_of(text: &str) -> SqlResult<Expr> {
    let inner = text
        .trim()
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(text);
    if inner.contains(" ] [ ") || inner.contains("][") {
        return Err(SqlError::unsupported(
            "assignment to an element of a multidimensional array is not supported",
        ));
    }
    if inner.split_whitespace().any(|w| w == ":") {
        return Err(SqlError::unsupported(
            "assignment to an array slice is not supported",
        ));
    }
    crate::eval::parse_expr(inner)
}

fn call(base: Expr, pairs: Vec<(Expr, Expr)>) -> SqlResult<Expr> {
    use datafusion::sql::sqlparser::ast::{
        Function, FunctionArgumentList, FunctionArguments, ObjectNamePart,
    };
    let mut args = vec![base];
    for (i, v) in pairs {
        args.push(i);
        args.push(v);
    }
    let name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(FUNCTION))]);
    Ok(Expr::Function(Function {
        name,
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| {
                    datafusion::sql::sqlparser::ast::FunctionArg::Unnamed(
                        datafusion::sql::sqlparser::ast::FunctionArgExpr::Expr(a),
                    )
                })
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    }))
}

/// Rewrites the marked targets of an INSERT or UPDATE (see the module comment).
pub fn rewrite(stmt: &mut Statement) -> SqlResult<()> {
    match stmt {
        Statement::Insert(ins) => {
            // In DO UPDATE SET, the row's own value is the target table's (`excluded` is
            // the other one in reach).
            let target = match (&ins.table_alias, &ins.table) {
                (Some(a), _) => Some(a.alias.clone()),
                (None, datafusion::sql::sqlparser::ast::TableObject::TableName(n)) => {
                    n.0.last().and_then(|p| p.as_ident()).cloned()
                }
                _ => None,
            };
            if let Some(OnInsert::OnConflict(c)) = &mut ins.on {
                if let OnConflictAction::DoUpdate(u) = &mut c.action {
                    assignments(&mut u.assignments, target.as_ref())?;
                }
            }
            insert(&mut ins.columns, ins.source.as_deref_mut())
        }
        Statement::Update(upd) => assignments(&mut upd.assignments, None),
        _ => Ok(()),
    }
}

/// `SET a[1] = x, a[2] = y` as `SET a = assign(a, 1, x, 2, y)`, at the first one's place.
fn assignments(list: &mut Vec<Assignment>, qualifier: Option<&Ident>) -> SqlResult<()> {
    let any = list
        .iter()
        .any(|a| matches!(&a.target, AssignmentTarget::ColumnName(n) if marked(n).is_some()));
    if !any {
        return Ok(());
    }
    let plain: Vec<String> = list
        .iter()
        .filter_map(|a| match &a.target {
            AssignmentTarget::ColumnName(n) if marked(n).is_none() => {
                n.0.last().and_then(|p| p.as_ident()).map(crate::ddl::ident)
            }
            _ => None,
        })
        .collect();
    // Each array column: where its assignment goes, and its elements in order.
    let mut arrays: Vec<ArrayAssignment> = Vec::new();
    let mut out: Vec<Assignment> = Vec::with_capacity(list.len());
    for a in std::mem::take(list) {
        let target = match &a.target {
            AssignmentTarget::ColumnName(n) => marked(n).transpose()?,
            AssignmentTarget::Tuple(_) => None,
        };
        let Some((column, subscript)) = target else {
            out.push(a);
            continue;
        };
        if crate::dml::is_default_keyword(&a.value) {
            return Err(SqlError::unsupported(
                "cannot set an array element to DEFAULT",
            ));
        }
        let key = crate::ddl::ident(&column);
        if plain.contains(&key) {
            return Err(SqlError::Detailed {
                sqlstate: "42601",
                message: format!("multiple assignments to same column \"{key}\""),
                detail: String::new(),
                hint: None,
            });
        }
        match arrays
            .iter_mut()
            .find(|(c, _, _)| crate::ddl::ident(c) == key)
        {
            Some((_, _, elements)) => elements.push((subscript, a.value)),
            None => {
                arrays.push((column.clone(), out.len(), vec![(subscript, a.value)]));
                out.push(Assignment {
                    target: AssignmentTarget::ColumnName(ObjectName::from(vec![column])),
                    value: null(),
                });
            }
        }
    }
    for (column, at, elements) in arrays {
        let base = match qualifier {
            Some(q) => Expr::CompoundIdentifier(vec![q.clone(), column]),
            None => Expr::Identifier(column),
        };
        out[at].value = call(base, elements)?;
    }
    *list = out;
    Ok(())
}

/// One array column of a SET clause: the column, where its assignment goes, and its
/// elements (subscript, value) in the order written.
type ArrayAssignment = (Ident, usize, Vec<(Expr, Expr)>);

fn null() -> Expr {
    Expr::Value(datafusion::sql::sqlparser::ast::Value::Null.into())
}

/// What one column of the rewritten INSERT is made of: a value as written, or elements.
enum Part {
    Plain(usize),
    Elements(String, Vec<(usize, Expr)>),
}

/// The INSERT's column list with each subscripted column once, and its rows with that
/// column's value built from NULL.
fn insert(columns: &mut Vec<ObjectName>, source: Option<&mut Query>) -> SqlResult<()> {
    let targets: Vec<Option<(Ident, Expr)>> = columns
        .iter()
        .map(|c| marked(c).transpose())
        .collect::<SqlResult<_>>()?;
    if targets.iter().all(Option::is_none) {
        return Ok(());
    }
    let mut new_columns: Vec<ObjectName> = Vec::new();
    let mut parts: Vec<Part> = Vec::new();
    for (k, (c, t)) in columns.iter().zip(targets).enumerate() {
        let Some((column, subscript)) = t else {
            new_columns.push(c.clone());
            parts.push(Part::Plain(k));
            continue;
        };
        let key = crate::ddl::ident(&column);
        let existing = parts.iter_mut().find_map(|p| match p {
            Part::Elements(name, elements) if *name == key => Some(elements),
            _ => None,
        });
        match existing {
            Some(elements) => elements.push((k, subscript)),
            None => {
                new_columns.push(ObjectName::from(vec![column]));
                parts.push(Part::Elements(key, vec![(k, subscript)]));
            }
        }
    }
    let build = |values: &[Expr]| -> SqlResult<Vec<Expr>> {
        parts
            .iter()
            .map(|p| match p {
                Part::Plain(k) => Ok(values[*k].clone()),
                Part::Elements(_, elements) => {
                    let mut pairs = Vec::with_capacity(elements.len());
                    for (k, subscript) in elements {
                        if crate::dml::is_default_keyword(&values[*k]) {
                            return Err(SqlError::unsupported(
                                "cannot set an array element to DEFAULT",
                            ));
                        }
                        pairs.push((subscript.clone(), values[*k].clone()));
                    }
                    call(null(), pairs)
                }
            })
            .collect()
    };
    let Some(q) = source else {
        return Err(SqlError::unsupported(
            "assignment to array elements needs VALUES or a query",
        ));
    };
    match q.body.as_mut() {
        SetExpr::Values(v) => {
            if v.rows.iter().any(|r| r.content.len() != columns.len()) {
                // The INSERT as written reports the count that does not match.
                return Ok(());
            }
            for row in &mut v.rows {
                row.content = build(&row.content)?;
            }
        }
        _ => {
            // INSERT … SELECT: the values come from the query, read as a derived table.
            let names: Vec<String> = (1..=columns.len())
                .map(|i| format!("basalt_v{i}"))
                .collect();
            let values: Vec<Expr> = names
                .iter()
                .map(|n| Expr::CompoundIdentifier(vec![Ident::new("basalt_s"), Ident::new(n)]))
                .collect();
            let exprs = build(&values)?;
            let list = exprs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let text = format!("SELECT {list} FROM ({q}) AS basalt_s({})", names.join(", "));
            match crate::session::parse_sql(&text)?.into_iter().next() {
                Some(Statement::Query(new)) => *q = *new,
                _ => return Err(SqlError::Internal("array element INSERT".into())),
            }
        }
    }
    *columns = new_columns;
    Ok(())
}

// ---- the function ---------------------------------------------------------------------------

/// `basalt_array_assign(array, i1, v1, …)` (see the module comment).
#[derive(Debug, PartialEq, Eq, Hash)]
struct ArrayAssign {
    signature: Signature,
}

pub fn udf() -> ScalarUDF {
    ScalarUDF::from(ArrayAssign {
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

/// The element type of the result: the array's, or (for a NULL array) the values'.
fn element_type(arg_types: &[DataType]) -> DfResult<DataType> {
    match arg_types.first() {
        Some(DataType::List(f)) => match f.data_type() {
            DataType::List(_) => Err(SqlError::unsupported(
                "assignment to an element of a multidimensional array is not supported",
            )
            .into_datafusion()),
            t => Ok(t.clone()),
        },
        Some(DataType::Null) => {
            let values: Vec<DataType> = arg_types
                .iter()
                .skip(2)
                .step_by(2)
                .filter(|t| **t != DataType::Null)
                .cloned()
                .collect();
            Ok(
                datafusion::logical_expr::type_coercion::binary::type_union_resolution(&values)
                    .unwrap_or(DataType::Utf8),
            )
        }
        Some(other) => Err(SqlError::Detailed {
            sqlstate: "42804",
            message: format!(
                "cannot subscript type {} because it does not support subscripting",
                crate::functions::pg_type_of(other)
            ),
            detail: String::new(),
            hint: None,
        }
        .into_datafusion()),
        None => Err(SqlError::Internal(format!("{FUNCTION} without arguments")).into_datafusion()),
    }
}

impl ScalarUDFImpl for ArrayAssign {
    fn name(&self) -> &str {
        FUNCTION
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        if arg_types.len() % 2 != 1 {
            return Err(SqlError::Internal(format!("{FUNCTION} arguments")).into_datafusion());
        }
        let element = element_type(arg_types)?;
        let list = DataType::List(Arc::new(Field::new_list_field(element.clone(), true)));
        Ok(std::iter::once(list)
            .chain((1..arg_types.len()).map(|k| {
                if k % 2 == 1 {
                    DataType::Int64
                } else {
                    element.clone()
                }
            }))
            .collect())
    }
    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match arg_types.first() {
            Some(t @ DataType::List(_)) => Ok(t.clone()),
            _ => Ok(DataType::List(Arc::new(Field::new_list_field(
                element_type(arg_types)?,
                true,
            )))),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = crate::functions::all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        assign(&arrays)
            .map_err(SqlError::into_datafusion)
            .and_then(|out| crate::functions::columnar_result(out, scalar))
    }
}

/// Where an element of the result comes from.
#[derive(Clone, Copy)]
enum Source {
    /// Element `j` of the row's array.
    Old(usize),
    /// Row `i` of value argument `k`.
    New(usize),
    Null,
}

fn assign(arrays: &[ArrayRef]) -> SqlResult<ArrayRef> {
    let Some((base, pairs)) = arrays.split_first() else {
        return Err(SqlError::Internal(format!("{FUNCTION} arguments")));
    };
    let lists = base
        .as_list_opt::<i32>()
        .ok_or_else(|| SqlError::Internal(format!("{FUNCTION} of {}", base.data_type())))?;
    let DataType::List(field) = base.data_type() else {
        return Err(SqlError::Internal(format!(
            "{FUNCTION} of {}",
            base.data_type()
        )));
    };
    let element = field.data_type();
    let subscripts: Vec<&datafusion::arrow::array::PrimitiveArray<Int64Type>> = pairs
        .iter()
        .step_by(2)
        .map(|a| {
            a.as_primitive_opt::<Int64Type>()
                .ok_or_else(|| SqlError::Internal(format!("{FUNCTION} subscript")))
        })
        .collect::<SqlResult<_>>()?;
    let values: Vec<&ArrayRef> = pairs.iter().skip(1).step_by(2).collect();
    let null = new_null_array(element, 1);
    // The interleave sources: the old elements, one value array per pair, the NULL.
    let flat = lists.values();
    let mut sources: Vec<&dyn Array> = vec![flat.as_ref()];
    sources.extend(values.iter().map(|v| v.as_ref() as &dyn Array));
    sources.push(null.as_ref());
    let null_source = sources.len() - 1;
    let mut picks: Vec<(usize, usize)> = Vec::new();
    let mut offsets: Vec<i32> = vec![0];
    for i in 0..base.len() {
        let mut items: Vec<Source> = Vec::new();
        let mut lower = 1i64;
        if lists.is_valid(i) {
            let start = lists.value_offsets()[i] as usize;
            let end = lists.value_offsets()[i + 1] as usize;
            items.extend((start..end).map(Source::Old));
        }
        for (k, subscript) in subscripts.iter().enumerate() {
            if subscript.is_null(i) {
                return Err(SqlError::Detailed {
                    sqlstate: "22004",
                    message: "array subscript in assignment must not be null".into(),
                    detail: String::new(),
                    hint: None,
                });
            }
            let at = subscript.value(i);
            if items.is_empty() {
                lower = at;
                items.push(Source::New(k));
                continue;
            }
            let len = items.len() as i64;
            let upper = lower.checked_add(len - 1).ok_or_else(too_large)?;
            // How many positions the array grows by, refused past PostgreSQL's limit.
            let grow = if at < lower {
                lower.checked_sub(at).ok_or_else(too_large)?
            } else if at > upper {
                at.checked_sub(upper).ok_or_else(too_large)?
            } else {
                0
            };
            if grow > MAX_ELEMENTS - len {
                return Err(too_large());
            }
            if at < lower {
                let mut front = vec![Source::Null; grow as usize];
                front[0] = Source::New(k);
                front.extend(items);
                items = front;
                lower = at;
            } else if at > upper {
                items.extend(std::iter::repeat_n(Source::Null, grow as usize - 1));
                items.push(Source::New(k));
            } else {
                items[(at - lower) as usize] = Source::New(k);
            }
            if picks.len() + items.len() > MAX_BATCH_ELEMENTS {
                return Err(batch_too_large());
            }
        }
        if lower != 1 && !items.is_empty() {
            return Err(SqlError::unsupported(format!(
                "arrays whose subscripts start at {lower} are not supported: Basalt's arrays \
                 start at 1"
            )));
        }
        for s in items {
            picks.push(match s {
                Source::Old(j) => (0, j),
                Source::New(k) => (1 + k, i),
                Source::Null => (null_source, 0),
            });
        }
        let len = i32::try_from(picks.len())
            .map_err(|_| SqlError::OutOfRange("array too large".into()))?;
        offsets.push(len);
    }
    let elements = datafusion::arrow::compute::interleave(&sources, &picks)?;
    let out = ListArray::try_new(
        Arc::clone(field),
        OffsetBuffer::new(offsets.into()),
        elements,
        None::<NullBuffer>,
    )?;
    Ok(Arc::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int32Array, Int64Array};
    use datafusion::arrow::datatypes::Int32Type;

    fn list(rows: Vec<Option<Vec<Option<i32>>>>) -> ArrayRef {
        Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(rows))
    }

    #[test]
    fn elements_replace_extend_and_start_null_arrays() {
        let base = list(vec![Some(vec![Some(1), Some(2)]), None, None]);
        let at: ArrayRef = Arc::new(Int64Array::from(vec![2, 1, 2]));
        let v: ArrayRef = Arc::new(Int32Array::from(vec![20, 10, 30]));
        let at2: ArrayRef = Arc::new(Int64Array::from(vec![4, 2, 1]));
        let v2: ArrayRef = Arc::new(Int32Array::from(vec![40, 11, 31]));
        let out = assign(&[base, at, v, at2, v2]).unwrap();
        let expected = list(vec![
            Some(vec![Some(1), Some(20), None, Some(40)]),
            Some(vec![Some(10), Some(11)]),
            // a[2] then a[1] of a NULL array: it starts at 1 in the end.
            Some(vec![Some(31), Some(30)]),
        ]);
        assert_eq!(out.as_ref(), expected.as_ref());
    }

    #[test]
    fn other_lower_bounds_and_null_subscripts_are_refused() {
        let base = list(vec![None]);
        let at: ArrayRef = Arc::new(Int64Array::from(vec![3]));
        let v: ArrayRef = Arc::new(Int32Array::from(vec![1]));
        assert_eq!(
            assign(&[Arc::clone(&base), at, Arc::clone(&v)])
                .unwrap_err()
                .sqlstate(),
            "0A000"
        );
        let at: ArrayRef = Arc::new(Int64Array::from(vec![None]));
        assert_eq!(
            assign(&[Arc::clone(&base), at, Arc::clone(&v)])
                .unwrap_err()
                .sqlstate(),
            "22004"
        );
        // Subscripts far apart are refused before anything that large is built.
        let far: ArrayRef = Arc::new(Int64Array::from(vec![i64::MIN + 2]));
        let near: ArrayRef = Arc::new(Int64Array::from(vec![i64::MAX]));
        let err = assign(&[base, far, Arc::clone(&v), near, v]).unwrap_err();
        assert_eq!(err.sqlstate(), "54000");
    }

    fn text_of(tokens: Vec<TokenWithSpan>) -> String {
        tokens
            .iter()
            .map(|t| t.token.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn subscripted_targets_become_marked_names() {
        let text = text_of(
            subscripted_targets("insert into t (a, b[1], b[i + 1]) values (1, 2, 3)").unwrap(),
        );
        assert!(text.contains("\"b\0[ 1 ]\""), "{text:?}");
        assert!(text.contains("\"b\0[ i + 1 ]\""), "{text:?}");
        // Statements without such targets are left alone (and the scan ends).
        assert!(subscripted_targets("insert into t select 1 from u where").is_none());
        assert!(subscripted_targets("insert into t values (1").is_none());
        let text = text_of(subscripted_targets("update t set a[2] = 5, c = d[1] where x").unwrap());
        assert!(text.contains("\"a\0[ 2 ]\" ="), "{text:?}");
        assert!(text.contains("d [ 1 ]"), "{text:?}");
    }
}
