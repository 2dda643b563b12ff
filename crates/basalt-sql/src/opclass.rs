//! `CREATE OPERATOR CLASS … USING hash` and `DROP OPERATOR CLASS`: a user's hash operator
//! class names the function hash partitioning calls for a key column
//! (`PARTITION BY HASH (a my_ops)`): support function 2, `f(value, seed int8) RETURNS int8`.
//! Its operators are PostgreSQL's own equality (strategy 1), which Basalt's `=` is.

use basalt_storage::catalog::{Catalog, OpClassDef, OpClassFunction};
use datafusion::sql::sqlparser::ast::{
    CreateOperatorClass, DropBehavior, DropOperatorClass, Ident, ObjectName, OperatorClassItem,
};

use crate::ddl::qualified;
use crate::error::{SqlError, SqlResult};
use crate::session::{object_name_parts, Output, Session};

fn missing(name: &str, method: &str) -> SqlError {
    SqlError::UndefinedObject(format!(
        "operator class \"{name}\" does not exist for access method \"{method}\""
    ))
}

/// The operator class `name` (as written) of the hash method, with its catalog key.
pub fn find_hash<'c>(
    catalog: &'c Catalog,
    name: &str,
    default_schema: Option<&str>,
) -> SqlResult<(String, &'c OpClassDef)> {
    let written = ObjectName::from(name.split('.').map(Ident::new).collect::<Vec<_>>());
    let (schema, n) = qualified(&written, default_schema)?;
    let key = format!("{schema}.{n}");
    match catalog.opclasses.get(&key) {
        Some(c) if c.method == "hash" => Ok((key, c)),
        _ => Err(missing(name, "hash")),
    }
}

pub async fn create(s: &mut Session, c: CreateOperatorClass) -> SqlResult<Output> {
    let method = c.using.value.to_lowercase();
    if method != "hash" {
        return Err(SqlError::unsupported(format!(
            "operator classes for access method \"{method}\" are not supported: Basalt \
             keeps hash operator classes, for hash partitioning"
        )));
    }
    if c.default {
        return Err(SqlError::unsupported(
            "DEFAULT operator classes are not supported: name the operator class in the \
             partition key",
        ));
    }
    if c.family.is_some() {
        return Err(SqlError::unsupported(
            "operator classes in a named FAMILY are not supported",
        ));
    }
    let default_schema = s.default_schema();
    let (schema, name) = qualified(&c.name, default_schema.as_deref())?;
    let for_type = crate::types::column_type(&c.for_type)?.ty;
    let catalog = s.engine().catalog();
    let mut functions = Vec::new();
    for item in &c.items {
        match item {
            OperatorClassItem::Operator {
                strategy_number,
                operator_name,
                ..
            } => {
                if *strategy_number != 1 || operator_name.to_string() != "=" {
                    return Err(SqlError::Detailed {
                        sqlstate: "42P17",
                        message: format!(
                            "invalid operator number {strategy_number}, must be between 1 and 1"
                        ),
                        detail: String::new(),
                        hint: None,
                    });
                }
            }
            OperatorClassItem::Function {
                support_number,
                function_name,
                argument_types,
                ..
            } => {
                let types: Vec<String> = argument_types
                    .iter()
                    .map(|t| crate::types::column_type(t).map(|c| c.ty.pg_name()))
                    .collect::<SqlResult<_>>()?;
                let (fschema, fname) = qualified(function_name, default_schema.as_deref())?;
                let f = catalog
                    .functions
                    .get(&format!("{fschema}.{fname}"))
                    .and_then(|list| list.iter().find(|f| f.arg_types() == types))
                    .ok_or_else(|| {
                        SqlError::UndefinedFunction(format!(
                            "function {fname}({}) does not exist",
                            types.join(", ")
                        ))
                    })?;
                let int8 = basalt_common::SqlType::Int64.pg_name();
                let expected = match support_number {
                    1 => (vec![for_type.pg_name()], "integer"),
                    2 => (vec![for_type.pg_name(), int8.clone()], "bigint"),
                    n => {
                        return Err(SqlError::Detailed {
                            sqlstate: "42P17",
                            message: format!(
                                "invalid function number {n}, must be between 1 and 3"
                            ),
                            detail: String::new(),
                            hint: None,
                        })
                    }
                };
                let returns = crate::plpgsql::declared_type(&f.returns)?.pg_name();
                if types != expected.0
                    || returns != crate::plpgsql::declared_type(expected.1)?.pg_name()
                {
                    return Err(SqlError::Detailed {
                        sqlstate: "42P17",
                        message: format!(
                            "hash function {support_number} must take ({}) and return {}",
                            expected.0.join(", "),
                            expected.1
                        ),
                        detail: String::new(),
                        hint: None,
                    });
                }
                functions.push(OpClassFunction {
                    number: *support_number,
                    schema: fschema,
                    name: fname,
                    arg_types: types,
                });
            }
            OperatorClassItem::Storage { .. } => {
                return Err(SqlError::Detailed {
                    sqlstate: "42P17",
                    message: "storage type cannot be different from data type for access \
                              method \"hash\""
                        .into(),
                    detail: String::new(),
                    hint: None,
                })
            }
        }
    }
    let def = OpClassDef {
        schema: schema.clone(),
        name: name.clone(),
        oid: 0,
        method,
        for_type: for_type.pg_name(),
        functions,
    };
    s.engine()
        .ddl(move |c: &mut Catalog| {
            if !c.schemas.contains_key(&schema) {
                return Err(SqlError::UndefinedSchema(schema.clone()));
            }
            let key = format!("{schema}.{name}");
            if c.opclasses.contains_key(&key) {
                return Err(SqlError::Detailed {
                    sqlstate: "42710",
                    message: format!(
                        "operator class \"{name}\" for access method \"hash\" already exists"
                    ),
                    detail: String::new(),
                    hint: None,
                });
            }
            let mut def = def;
            def.oid = c.allocate_oid();
            c.opclasses.insert(key, def);
            Ok::<_, SqlError>(vec![])
        })
        .await?;
    Ok(Output::Command("CREATE OPERATOR CLASS".into()))
}

/// The tables whose partition keys use the operator class `key`.
fn users<'c>(catalog: &'c Catalog, key: &str) -> Vec<&'c str> {
    catalog
        .tables
        .values()
        .filter(|t| {
            t.partition_key
                .as_ref()
                .is_some_and(|k| k.opclasses.iter().flatten().any(|o| o == key))
        })
        .map(|t| t.name.as_str())
        .collect()
}

pub async fn drop(s: &mut Session, d: DropOperatorClass) -> SqlResult<Output> {
    let method = d.using.value.to_lowercase();
    if matches!(d.drop_behavior, Some(DropBehavior::Cascade)) {
        return Err(SqlError::unsupported(
            "DROP OPERATOR CLASS … CASCADE is not supported: drop the tables that use it first",
        ));
    }
    let default_schema = s.default_schema();
    let catalog = s.engine().catalog();
    let mut keys = Vec::new();
    for n in &d.names {
        let parts = object_name_parts(n);
        let (schema, name) = qualified(n, default_schema.as_deref())?;
        let key = format!("{schema}.{name}");
        match catalog.opclasses.get(&key) {
            Some(c) if c.method == method => {}
            _ if d.if_exists => {
                s.notice(
                    "NOTICE",
                    "00000",
                    format!(
                        "operator class \"{}\" does not exist for access method \"{method}\", skipping",
                        parts.join(".")
                    ),
                );
                continue;
            }
            _ => return Err(missing(&parts.join("."), &method)),
        }
        if let Some(table) = users(&catalog, &key).first() {
            return Err(SqlError::Detailed {
                sqlstate: "2BP01",
                message: format!(
                    "cannot drop operator class {name} for access method {method} because \
                     other objects depend on it"
                ),
                detail: format!(
                    "table {table} depends on operator class {name} for access method {method}"
                ),
                hint: Some("Use DROP ... CASCADE to drop the dependent objects too.".into()),
            });
        }
        keys.push(key);
    }
    if !keys.is_empty() {
        s.engine()
            .ddl(move |c: &mut Catalog| {
                for k in &keys {
                    c.opclasses.remove(k);
                }
                Ok::<_, SqlError>(vec![])
            })
            .await?;
    }
    Ok(Output::Command("DROP OPERATOR CLASS".into()))
}
