//! Row-valued IN with a subquery, `(a, b) [NOT] IN (SELECT x, y …)`, which DataFusion does
//! not plan (its IN subqueries return one column), written as the EXISTS that means the
//! same where the result only filters rows: a conjunct of WHERE, where a NULL result drops
//! the row as FALSE does. Elsewhere (a select list, HAVING) it stays refused.
//!
//! `(a, b) IN (q)` holds when some row of `q` equals (a, b) in every column:
//! `EXISTS (SELECT 1 FROM (q) r (c1, c2) WHERE a = r.c1 AND b = r.c2)`. `(a, b) NOT IN (q)`
//! holds when every row of `q` differs from (a, b) in some column for certain (one equal or
//! NULL comparison makes it FALSE or NULL): `NOT EXISTS (… WHERE (a <> r.c1 OR b <> r.c2)
//! IS NOT TRUE)`. The row `(a, b)` is read in the outer query, as in the IN it replaces: the
//! derived table's column names cannot capture its columns.

use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, SetExpr};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::error::{SqlError, SqlResult};

const ALIAS: &str = "__basalt_row_in";

/// Rewrites the row-valued IN subqueries among the WHERE conjuncts of `body`'s SELECTs
/// (nested queries are reached by the caller's visitor).
pub fn rewrite(body: &mut SetExpr) -> SqlResult<()> {
    match body {
        SetExpr::Select(s) => {
            // Not HAVING: an aggregate in the row would move into the subquery.
            match s.selection.as_mut() {
                Some(w) => conjuncts(w),
                None => Ok(()),
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            rewrite(left)?;
            rewrite(right)
        }
        _ => Ok(()),
    }
}

fn conjuncts(e: &mut Expr) -> SqlResult<()> {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts(left)?;
            conjuncts(right)
        }
        Expr::Nested(inner) => conjuncts(inner),
        Expr::InSubquery {
            expr,
            subquery,
            negated,
        } => {
            let Expr::Tuple(items) = expr.as_ref() else {
                return Ok(());
            };
            if items.len() < 2 {
                return Ok(());
            }
            let columns: Vec<String> = (1..=items.len())
                .map(|i| format!("__basalt_row_{i}"))
                .collect();
            let pairs = items.iter().zip(&columns);
            let condition = if *negated {
                let differs: Vec<String> = pairs
                    .map(|(a, c)| format!("({a}) <> {ALIAS}.{c}"))
                    .collect();
                format!("({}) IS NOT TRUE", differs.join(" OR "))
            } else {
                let equal: Vec<String> =
                    pairs.map(|(a, c)| format!("({a}) = {ALIAS}.{c}")).collect();
                equal.join(" AND ")
            };
            let text = format!(
                "{}EXISTS (SELECT 1 FROM ({subquery}) AS {ALIAS} ({}) WHERE {condition})",
                if *negated { "NOT " } else { "" },
                columns.join(", ")
            );
            *e = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(&text)
                .and_then(|mut p| p.parse_expr())
                .map_err(|err| SqlError::Internal(format!("row IN rewrite: {err}")))?;
            Ok(())
        }
        _ => Ok(()),
    }
}
