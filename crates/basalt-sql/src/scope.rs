//! A name in a subquery is looked up in the subquery's own FROM first, and only then in the
//! queries around it. DataFusion looks outside as soon as the name is ambiguous inside: in
//! `… WHERE x IN (SELECT x FROM b JOIN c USING (x))` the inner `x` would become the outer
//! query's `x`, and the IN would hold for every row. [`inner_scope_first`] puts such a
//! reference back where PostgreSQL has it: a USING column is the join's merged column, and
//! any other ambiguity is refused (42702), as PostgreSQL refuses it. A reference the
//! statement writes qualified (`a.x`) is the outer column it names and stays.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchemaRef, Result as DfResult};
use datafusion::logical_expr::expr::{Exists, InSubquery};
use datafusion::logical_expr::{Expr, JoinConstraint, JoinType, LogicalPlan, Subquery};
use datafusion::sql::sqlparser::ast::{visit_expressions, Expr as AstExpr, Statement};

use crate::error::SqlError;

/// `plan`, as DataFusion planned `stmt`, with its subqueries' references to ambiguous inner
/// names taken back inside (nothing to do when the plan has no outer references).
pub fn inner_scope_first(plan: LogicalPlan, stmt: &Statement) -> DfResult<LogicalPlan> {
    let mut outer = false;
    plan.apply_with_subqueries(|node| {
        outer = has_outer_reference(node)?;
        Ok(if outer {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })?;
    if !outer {
        return Ok(plan);
    }
    let mut qualified = HashSet::new();
    let _ = visit_expressions(stmt, |e| {
        if let AstExpr::CompoundIdentifier(parts) = e {
            if let [.., q, n] = parts.as_slice() {
                qualified.insert((crate::ddl::ident(q), crate::ddl::ident(n)));
            }
        }
        ControlFlow::<()>::Continue(())
    });
    Ok(plan
        .transform_up_with_subqueries(|node| fix_node(node, &qualified))?
        .data)
}

fn has_outer_reference(node: &LogicalPlan) -> DfResult<bool> {
    let mut found = false;
    node.apply_expressions(|e| {
        e.apply(|x| {
            if matches!(x, Expr::OuterReferenceColumn(..)) {
                found = true;
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        })
    })?;
    Ok(found)
}

/// The column pairs of the USING joins under `plan` (not inside its subqueries).
fn using_pairs(plan: &LogicalPlan, out: &mut Vec<(JoinType, Column, Column)>) -> DfResult<()> {
    plan.apply(|p| {
        if let LogicalPlan::Join(j) = p {
            if j.join_constraint == JoinConstraint::Using {
                for (l, r) in &j.on {
                    if let (Expr::Column(l), Expr::Column(r)) = (l, r) {
                        out.push((j.join_type, l.clone(), r.clone()));
                    }
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(())
}

fn fix_node(
    node: LogicalPlan,
    qualified: &HashSet<(String, String)>,
) -> DfResult<Transformed<LogicalPlan>> {
    let rewritten = if has_outer_reference(&node)? {
        let schemas: Vec<DFSchemaRef> = node
            .inputs()
            .iter()
            .map(|i| Arc::clone(i.schema()))
            .collect();
        let mut usings = Vec::new();
        for input in node.inputs() {
            using_pairs(input, &mut usings)?;
        }
        node.map_expressions(|e| {
            e.transform(|x| {
                let Expr::OuterReferenceColumn(_, col) = &x else {
                    return Ok(Transformed::no(x));
                };
                let written = col
                    .relation
                    .as_ref()
                    .is_some_and(|r| qualified.contains(&(r.table().to_owned(), col.name.clone())));
                if written {
                    return Ok(Transformed::no(x));
                }
                let inside: usize = schemas
                    .iter()
                    .map(|s| s.fields_with_unqualified_name(&col.name).len())
                    .sum();
                if inside < 2 {
                    return Ok(Transformed::no(x));
                }
                let Some((join_type, l, r)) = usings.iter().find(|(_, l, _)| l.name == col.name)
                else {
                    return Err(SqlError::Detailed {
                        sqlstate: "42702",
                        message: format!("column reference \"{}\" is ambiguous", col.name),
                        detail: String::new(),
                        hint: None,
                    }
                    .into_datafusion());
                };
                let merged = match join_type {
                    JoinType::Right | JoinType::RightSemi | JoinType::RightAnti => {
                        Expr::Column(r.clone())
                    }
                    JoinType::Full => datafusion::functions::core::expr_fn::coalesce(vec![
                        Expr::Column(l.clone()),
                        Expr::Column(r.clone()),
                    ]),
                    _ => Expr::Column(l.clone()),
                };
                Ok(Transformed::yes(merged))
            })
        })?
    } else {
        Transformed::no(node)
    };
    // The subqueries this node holds list the outer columns they read: a reference put
    // back inside is no longer one of them.
    rewritten.transform_data(|node| {
        node.map_expressions(|e| {
            e.transform(|x| {
                let sq = match &x {
                    Expr::ScalarSubquery(sq) => sq,
                    Expr::Exists(Exists { subquery, .. }) => subquery,
                    Expr::InSubquery(InSubquery { subquery, .. }) => subquery,
                    _ => return Ok(Transformed::no(x)),
                };
                let listed = sq.subquery.all_out_ref_exprs();
                if listed == sq.outer_ref_columns {
                    return Ok(Transformed::no(x));
                }
                Ok(Transformed::yes(match x {
                    Expr::ScalarSubquery(sq) => Expr::ScalarSubquery(relist(sq, listed)),
                    Expr::Exists(Exists { subquery, negated }) => Expr::Exists(Exists {
                        subquery: relist(subquery, listed),
                        negated,
                    }),
                    Expr::InSubquery(InSubquery {
                        expr,
                        subquery,
                        negated,
                    }) => Expr::InSubquery(InSubquery {
                        expr,
                        subquery: relist(subquery, listed),
                        negated,
                    }),
                    other => other,
                }))
            })
        })
    })
}

fn relist(mut sq: Subquery, listed: Vec<Expr>) -> Subquery {
    sq.outer_ref_columns = listed;
    sq
}

/// PostgreSQL's errors for a qualified column reference `q.c` whose qualifier is not a FROM
/// entry in reach (DataFusion says only that the column does not exist): `missing
/// FROM-clause entry for table "q"` when the statement has no such entry, `invalid reference
/// to FROM-clause entry` when it has one out of reach (its hint says so) or when `q` is a
/// table the statement gave another name (its hint names the alias). `has_column(table, c)`
/// says whether a table the statement reads has the column (`None`: unknown); an entry
/// that lacks the column keeps the original error.
pub fn from_clause_entry(
    e: SqlError,
    stmt: &Statement,
    has_column: impl Fn(&datafusion::sql::sqlparser::ast::ObjectName, &str) -> Option<bool>,
) -> SqlError {
    use datafusion::sql::sqlparser::ast::{TableFactor, Visit, Visitor};
    let message = match &e {
        SqlError::UndefinedColumn(m)
        | SqlError::Detailed {
            sqlstate: "42703",
            message: m,
            ..
        } => m.clone(),
        _ => return e,
    };
    let Some((qualifier, column)) = message
        .strip_prefix("column ")
        .and_then(|m| m.strip_suffix(" does not exist"))
        .filter(|m| !m.starts_with('"'))
        .and_then(|m| m.split_once('.'))
    else {
        return e;
    };
    struct Entries(Vec<crate::placement::FromEntry>);
    impl Visitor for Entries {
        type Break = ();
        fn pre_visit_table_factor(&mut self, f: &TableFactor) -> ControlFlow<()> {
            self.0.extend(crate::placement::factor_entry(f));
            ControlFlow::Continue(())
        }
    }
    let mut entries = Entries(Vec::new());
    let _ = stmt.visit(&mut entries);
    // The alias of a USING join (`a JOIN b USING (i) AS x`) is gone from the statement by
    // now (token_forms::join_using_alias): a qualifier may be one.
    let using_join = stmt
        .to_string()
        .to_lowercase()
        .replace(' ', "")
        .contains("using(");
    let invalid = |hint: String| SqlError::Detailed {
        sqlstate: "42P01",
        message: format!("invalid reference to FROM-clause entry for table \"{qualifier}\""),
        detail: String::new(),
        hint: Some(hint),
    };
    if let Some(entry) = entries.0.iter().find(|e| e.name == qualifier) {
        let lacks = entry
            .table
            .as_ref()
            .and_then(|t| has_column(t, column))
            .is_some_and(|has| !has);
        if lacks {
            return e;
        }
        return invalid(format!(
            "There is an entry for table \"{qualifier}\", but it cannot be referenced from \
             this part of the query."
        ));
    }
    let renamed = entries.0.iter().find_map(|e| {
        let own = e
            .table
            .as_ref()?
            .0
            .last()?
            .as_ident()
            .map(crate::ddl::ident)?;
        (own == qualifier && e.name != qualifier).then(|| e.name.clone())
    });
    match renamed {
        Some(alias) => invalid(format!(
            "Perhaps you meant to reference the table alias \"{alias}\"."
        )),
        None if using_join => e,
        None => SqlError::Detailed {
            sqlstate: "42P01",
            message: format!("missing FROM-clause entry for table \"{qualifier}\""),
            detail: String::new(),
            hint: None,
        },
    }
}
