//! Domains: `CREATE`, `ALTER` and `DROP DOMAIN`, columns declared with a domain, the
//! domain's NOT NULL and CHECK constraints on the values written to such columns, and
//! `COMMENT ON CONSTRAINT` (of a table or of a domain).
//!
//! A column declared with a domain stores the domain's base type and names the domain in
//! `ColumnDef::domain`; every write checks the domain's constraints as it stands then, as
//! PostgreSQL does when it coerces a value to the domain.

use std::ops::ControlFlow;
use std::sync::Arc;

use basalt_common::SqlType;
use basalt_storage::{Catalog, DomainCheckDef, DomainDef, TableDef};
use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, DataType, DropBehavior, DropDomain, Expr, Statement,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::custom::AlterDomainAction;
use crate::error::{SqlError, SqlResult};
use crate::eval::{compile, eval};
use crate::session::{object_name_parts, Output, Session};

/// The domain a column type names, if it names one.
pub fn of_type<'a>(
    catalog: &'a Catalog,
    dt: &DataType,
    default_schema: Option<&str>,
) -> Option<&'a DomainDef> {
    let DataType::Custom(name, modifiers) = dt else {
        return None;
    };
    if !modifiers.is_empty() {
        return None;
    }
    let key = key_of(&object_name_parts(name), default_schema).ok()?;
    catalog.domains.get(&key)
}

/// The catalog key `schema.name` of a domain name written as `parts`.
fn key_of(parts: &[String], default_schema: Option<&str>) -> SqlResult<String> {
    match parts {
        [name] => Ok(format!(
            "{}.{name}",
            default_schema.unwrap_or(basalt_storage::catalog::DEFAULT_SCHEMA)
        )),
        [schema, name] => Ok(format!("{schema}.{name}")),
        _ => Err(SqlError::Syntax {
            message: format!(
                "improper qualified name (too many dotted names): {}",
                parts.join(".")
            ),
            position: None,
        }),
    }
}

fn type_missing(parts: &[String]) -> SqlError {
    SqlError::UndefinedObject(format!("type \"{}\" does not exist", parts.join(".")))
}

/// The one-column schema a domain's CHECK expressions are compiled over.
fn value_schema(base: &SqlType) -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "value",
        base.to_arrow(),
        true,
    )]))
}

/// The name PostgreSQL gives an unnamed CHECK constraint of domain `domain`.
fn check_name(domain: &str, taken: &[DomainCheckDef]) -> String {
    let base = format!("{domain}_check");
    if !taken.iter().any(|c| c.name == base) {
        return base;
    }
    (1..)
        .map(|i| format!("{base}{i}"))
        .find(|n| !taken.iter().any(|c| &c.name == n))
        .unwrap_or(base)
}

pub async fn create_domain(
    s: &mut Session,
    name: &[String],
    data_type: &str,
    default: Option<&str>,
    not_null: bool,
    checks: &[(Option<String>, String)],
) -> SqlResult<Output> {
    let key = key_of(name, s.default_schema().as_deref())?;
    let (schema, domain) = key.split_once('.').unwrap_or_default();
    let (schema, domain) = (schema.to_owned(), domain.to_owned());
    let catalog = s.engine().catalog();
    if !catalog.schemas.contains_key(&schema) {
        return Err(SqlError::UndefinedSchema(schema));
    }
    if catalog.domains.contains_key(&key) {
        return Err(SqlError::DuplicateObject(format!(
            "type \"{domain}\" already exists"
        )));
    }
    let dt = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(data_type)
        .and_then(|mut p| p.parse_data_type())
        .map_err(|e| SqlError::Syntax {
            message: e.to_string(),
            position: None,
        })?;
    if of_type(&catalog, &dt, s.default_schema().as_deref()).is_some() {
        return Err(SqlError::unsupported(
            "domains over other domains are not supported",
        ));
    }
    let ct = crate::types::column_type(&dt)?;
    if ct.serial {
        return Err(SqlError::UndefinedObject(format!(
            "type \"{data_type}\" does not exist"
        )));
    }
    let base = ct.ty;
    let mut defs: Vec<DomainCheckDef> = Vec::new();
    for (cname, expr) in checks {
        compile(s, expr, &value_schema(&base), None)?;
        let cname = cname.clone().unwrap_or_else(|| check_name(&domain, &defs));
        defs.push(DomainCheckDef {
            name: cname,
            expr: expr.clone(),
            not_valid: false,
            comment: None,
        });
    }
    if let Some(d) = default {
        crate::eval::compile_default(s, d)?;
    }
    let default = default.map(str::to_owned);
    s.engine()
        .ddl(move |c: &mut Catalog| {
            if c.domains.contains_key(&key) {
                return Err(SqlError::DuplicateObject(format!(
                    "type \"{domain}\" already exists"
                )));
            }
            let oid = c.allocate_oid();
            c.domains.insert(
                key,
                DomainDef {
                    schema,
                    name: domain,
                    oid,
                    base,
                    not_null,
                    default,
                    checks: defs,
                },
            );
            Ok(vec![])
        })
        .await?;
    Ok(Output::Command("CREATE DOMAIN".into()))
}

/// The columns declared with the domain `key`, as (table, column name).
fn dependents<'a>(catalog: &'a Catalog, key: &str) -> Vec<(&'a TableDef, String)> {
    catalog
        .tables
        .values()
        .flat_map(|t| {
            t.live_columns()
                .filter(|(_, c)| c.domain.as_deref() == Some(key))
                .map(move |(_, c)| (t, c.name.clone()))
        })
        .collect()
}

pub async fn drop_domain(s: &mut Session, drop: DropDomain) -> SqlResult<Output> {
    let parts = object_name_parts(&drop.name);
    let key = key_of(&parts, s.default_schema().as_deref())?;
    let catalog = s.engine().catalog();
    let Some(domain) = catalog.domains.get(&key) else {
        if drop.if_exists {
            s.notice(
                "NOTICE",
                "00000",
                format!("type \"{}\" does not exist, skipping", parts.join(".")),
            );
            return Ok(Output::Command("DROP DOMAIN".into()));
        }
        return Err(type_missing(&parts));
    };
    let users = dependents(&catalog, &key);
    if !users.is_empty() {
        if matches!(drop.drop_behavior, Some(DropBehavior::Cascade)) {
            return Err(SqlError::unsupported(
                "DROP DOMAIN … CASCADE of a domain that columns use is not supported; drop or alter those columns first",
            ));
        }
        let lines: Vec<String> = users
            .iter()
            .map(|(t, c)| {
                format!(
                    "column {c} of table {} depends on type {}",
                    t.name, domain.name
                )
            })
            .collect();
        return Err(SqlError::Detailed {
            sqlstate: "2BP01",
            message: format!(
                "cannot drop type {} because other objects depend on it",
                domain.name
            ),
            detail: lines.join("\n"),
            hint: Some("Use DROP ... CASCADE to drop the dependent objects too.".into()),
        });
    }
    s.engine()
        .ddl(move |c: &mut Catalog| {
            c.domains.remove(&key);
            Ok::<_, SqlError>(vec![])
        })
        .await?;
    Ok(Output::Command("DROP DOMAIN".into()))
}

pub async fn alter_domain(
    s: &mut Session,
    name: &[String],
    action: &AlterDomainAction,
) -> SqlResult<Output> {
    let key = key_of(name, s.default_schema().as_deref())?;
    let catalog = s.engine().catalog();
    let Some(domain) = catalog.domains.get(&key) else {
        return Err(type_missing(name));
    };
    let mut new = domain.clone();
    let in_use = !dependents(&catalog, &key).is_empty();
    match action {
        AlterDomainAction::AddCheck {
            name: cname,
            expr,
            not_valid,
        } => {
            compile(s, expr, &value_schema(&new.base), None)?;
            let cname = cname
                .clone()
                .unwrap_or_else(|| check_name(&new.name, &new.checks));
            if new.checks.iter().any(|c| c.name == cname) {
                return Err(SqlError::DuplicateObject(format!(
                    "constraint \"{cname}\" for domain \"{}\" already exists",
                    new.name
                )));
            }
            if in_use && !not_valid {
                return Err(SqlError::unsupported(
                    "ALTER DOMAIN … ADD CONSTRAINT on a domain that columns use needs NOT VALID in Basalt (existing values are not re-checked)",
                ));
            }
            new.checks.push(DomainCheckDef {
                name: cname,
                expr: expr.clone(),
                not_valid: *not_valid,
                comment: None,
            });
        }
        AlterDomainAction::DropConstraint {
            name: cname,
            if_exists,
        } => {
            let before = new.checks.len();
            new.checks.retain(|c| &c.name != cname);
            if new.checks.len() == before {
                if *if_exists {
                    s.notice(
                        "NOTICE",
                        "00000",
                        format!(
                            "constraint \"{cname}\" of domain \"{}\" does not exist, skipping",
                            new.name
                        ),
                    );
                    return Ok(Output::Command("ALTER DOMAIN".into()));
                }
                return Err(SqlError::UndefinedObject(format!(
                    "constraint \"{cname}\" of domain \"{}\" does not exist",
                    new.name
                )));
            }
        }
        AlterDomainAction::SetNotNull(on) => {
            if *on && in_use {
                return Err(SqlError::unsupported(
                    "ALTER DOMAIN … SET NOT NULL on a domain that columns use is not supported",
                ));
            }
            new.not_null = *on;
        }
        AlterDomainAction::SetDefault(_) => {
            return Err(SqlError::unsupported(
                "ALTER DOMAIN … SET/DROP DEFAULT is not supported",
            ));
        }
    }
    s.engine()
        .ddl(move |c: &mut Catalog| {
            c.domains.insert(key, new);
            Ok::<_, SqlError>(vec![])
        })
        .await?;
    Ok(Output::Command("ALTER DOMAIN".into()))
}

/// `COMMENT ON CONSTRAINT constraint ON [DOMAIN] object IS comment`.
pub async fn comment_on_constraint(
    s: &mut Session,
    constraint: &str,
    on_domain: bool,
    object: &[String],
    comment: Option<&str>,
) -> SqlResult<Output> {
    let catalog = s.engine().catalog();
    let comment = comment.map(str::to_owned).filter(|c| !c.is_empty());
    if on_domain {
        let key = key_of(object, s.default_schema().as_deref())?;
        let Some(domain) = catalog.domains.get(&key) else {
            return Err(type_missing(object));
        };
        let Some(at) = domain.checks.iter().position(|c| c.name == constraint) else {
            return Err(SqlError::UndefinedObject(format!(
                "constraint \"{constraint}\" for domain {} does not exist",
                domain.name
            )));
        };
        let mut new = domain.clone();
        new.checks[at].comment = comment;
        s.engine()
            .ddl(move |c: &mut Catalog| {
                c.domains.insert(key, new);
                Ok::<_, SqlError>(vec![])
            })
            .await?;
        return Ok(Output::Command("COMMENT".into()));
    }
    let name = datafusion::sql::sqlparser::ast::ObjectName::from(
        object
            .iter()
            .map(|p| datafusion::sql::sqlparser::ast::Ident::with_quote('"', p))
            .collect::<Vec<_>>(),
    );
    // PostgreSQL names the missing relation without pointing into the statement.
    let def =
        crate::ddl::resolve_table(&catalog, &name, s.default_schema().as_deref()).map_err(|e| {
            match e {
                SqlError::UndefinedTable(t) => SqlError::UnlocatedTable(t),
                other => other,
            }
        })?;
    let exists = def.checks.iter().any(|c| c.name == constraint)
        || def.primary_key_name.as_deref() == Some(constraint)
        || def
            .indexes
            .iter()
            .any(|i| (i.constraint || i.exclusion) && i.name == constraint)
        || def.foreign_keys.iter().any(|f| f.name == constraint);
    if !exists {
        return Err(SqlError::UndefinedObject(format!(
            "constraint \"{constraint}\" for table \"{}\" does not exist",
            def.name
        )));
    }
    let key = basalt_storage::constraint_comment_key(def.oid, constraint);
    s.engine()
        .ddl(move |c: &mut Catalog| {
            match comment {
                Some(text) => c.constraint_comments.insert(key, text),
                None => c.constraint_comments.remove(&key),
            };
            Ok::<_, SqlError>(vec![])
        })
        .await?;
    Ok(Output::Command("COMMENT".into()))
}

/// The NOT NULL and CHECK constraints of the domains of `def`'s columns over a batch of
/// new full-width rows: the first column (in column order) with a violating value fails.
pub fn check_values(s: &Session, def: &TableDef, batch: &RecordBatch) -> SqlResult<()> {
    if batch.num_rows() == 0 || def.live_columns().all(|(_, c)| c.domain.is_none()) {
        return Ok(());
    }
    let catalog = s.engine().catalog();
    for (pos, col) in def.live_columns() {
        let Some(domain) = col.domain.as_ref().and_then(|k| catalog.domains.get(k)) else {
            continue;
        };
        let values = batch.column(pos);
        if domain.not_null && values.null_count() > 0 {
            return Err(SqlError::Detailed {
                sqlstate: "23502",
                message: format!("domain {} does not allow null values", domain.name),
                detail: String::new(),
                hint: None,
            });
        }
        let mut checks: Vec<&DomainCheckDef> = domain.checks.iter().collect();
        checks.sort_by(|a, b| a.name.cmp(&b.name));
        let schema = value_schema(&domain.base);
        let one = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::clone(values)])?;
        for check in checks {
            let expr = compile(s, &check.expr, &schema, None)?;
            let result = eval(&expr, &one)?;
            let Some(bools) = result.as_any().downcast_ref::<BooleanArray>() else {
                return Err(SqlError::DatatypeMismatch(format!(
                    "CHECK constraint \"{}\" is not boolean",
                    check.name
                )));
            };
            if bools.iter().any(|v| v == Some(false)) {
                return Err(SqlError::Detailed {
                    sqlstate: "23514",
                    message: format!(
                        "value for domain {} violates check constraint \"{}\"",
                        domain.name, check.name
                    ),
                    detail: String::new(),
                    hint: None,
                });
            }
        }
    }
    Ok(())
}

/// The name of the function that checks a value cast to a domain: `basalt_domain_value(v,
/// domain, not_null, check_1, name_1, …)` is `v` when `v` satisfies the domain (each check
/// is the domain's CHECK over `v`), and raises the domain's error otherwise.
const DOMAIN_VALUE_FN: &str = "basalt_domain_value";

/// Casts to a domain (`'x'::d`, `CAST(x AS d)`) become casts to its base type checked
/// against the domain's constraints by [`DomainValue`].
pub fn rewrite_casts(
    stmt: &mut Statement,
    catalog: &Catalog,
    default_schema: Option<&str>,
) -> SqlResult<()> {
    if catalog.domains.is_empty() {
        return Ok(());
    }
    let mut error = None;
    let _ = visit_expressions_mut(stmt, |e| {
        let Expr::Cast {
            expr, data_type, ..
        } = e
        else {
            return ControlFlow::Continue(());
        };
        let Some(domain) = of_type(catalog, data_type, default_schema) else {
            return ControlFlow::Continue(());
        };
        match checked_cast(expr, domain) {
            Ok(new) => {
                *e = new;
                ControlFlow::Continue(())
            }
            Err(err) => {
                error = Some(err);
                ControlFlow::Break(())
            }
        }
    });
    error.map_or(Ok(()), Err)
}

fn parse_expr(sql: &str) -> SqlResult<Expr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| SqlError::Syntax {
            message: e.to_string(),
            position: None,
        })
}

fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `CAST(expr AS base)` checked by [`DOMAIN_VALUE_FN`] against `domain`.
fn checked_cast(expr: &Expr, domain: &DomainDef) -> SqlResult<Expr> {
    let cast = parse_expr(&format!("CAST(({expr}) AS {})", domain.base.pg_name()))?;
    let mut args = vec![
        cast.to_string(),
        quoted(&domain.name),
        domain.not_null.to_string(),
    ];
    let mut checks: Vec<&DomainCheckDef> = domain.checks.iter().collect();
    checks.sort_by(|a, b| a.name.cmp(&b.name));
    for check in checks {
        let mut over = parse_expr(&check.expr)?;
        let _ = visit_expressions_mut(&mut over, |e| {
            if matches!(e, Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("value"))
            {
                *e = Expr::Nested(Box::new(cast.clone()));
            }
            ControlFlow::<()>::Continue(())
        });
        args.push(format!("({over})"));
        args.push(quoted(&check.name));
    }
    parse_expr(&format!("{DOMAIN_VALUE_FN}({})", args.join(", ")))
}

/// The function behind [`DOMAIN_VALUE_FN`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DomainValue {
    signature: Signature,
}

impl DomainValue {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::from(DomainValue {
            signature: Signature::variadic_any(Volatility::Immutable),
        })
    }
}

fn text_arg(arg: Option<&ColumnarValue>) -> DfResult<String> {
    match arg {
        Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(t)))) => Ok(t.clone()),
        _ => Err(SqlError::Internal(format!("{DOMAIN_VALUE_FN}: bad arguments")).into_datafusion()),
    }
}

impl ScalarUDFImpl for DomainValue {
    fn name(&self) -> &str {
        DOMAIN_VALUE_FN
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        arg_types.first().cloned().ok_or_else(|| {
            SqlError::Internal(format!("{DOMAIN_VALUE_FN} needs arguments")).into_datafusion()
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let name = text_arg(args.args.get(1))?;
        let not_null = matches!(
            args.args.get(2),
            Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
        );
        let Some(value) = args.args.first() else {
            return Err(
                SqlError::Internal(format!("{DOMAIN_VALUE_FN} needs arguments")).into_datafusion(),
            );
        };
        if not_null && value.to_array(rows)?.null_count() > 0 {
            return Err(SqlError::Detailed {
                sqlstate: "23502",
                message: format!("domain {name} does not allow null values"),
                detail: String::new(),
                hint: None,
            }
            .into_datafusion());
        }
        for pair in args.args.get(3..).unwrap_or_default().chunks(2) {
            let result = pair[0].to_array(rows)?;
            let failed = result
                .as_any()
                .downcast_ref::<BooleanArray>()
                .is_some_and(|b| b.iter().any(|v| v == Some(false)));
            if failed {
                return Err(SqlError::Detailed {
                    sqlstate: "23514",
                    message: format!(
                        "value for domain {name} violates check constraint \"{}\"",
                        text_arg(pair.get(1))?
                    ),
                    detail: String::new(),
                    hint: None,
                }
                .into_datafusion());
            }
        }
        Ok(value.clone())
    }
}
