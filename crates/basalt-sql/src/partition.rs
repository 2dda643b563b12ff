//! Declarative partitioning, as PostgreSQL has it: `PARTITION BY LIST | RANGE (key)` makes a
//! table whose rows live in its partitions, `CREATE TABLE … PARTITION OF … FOR VALUES …`
//! adds one. A row written to the partitioned table is routed down the tree to the leaf whose
//! bound accepts it; a row written to a partition directly must satisfy that partition's
//! bound and every bound above it (the partition constraint). Scans of a partitioned table
//! read its leaves in bound order (see [`leaves`]).
//!
//! Bounds are kept in the catalog as the SQL literals written; they are compiled to values of
//! the key's type per statement, so routing compares exactly what PostgreSQL compares.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use basalt_common::{SqlType, Value};
use basalt_storage::{
    Catalog, PartitionBound, PartitionKey, PartitionOf, PartitionStrategy, TableDef,
};
use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::sql::sqlparser::ast::{
    Expr, ForValues, FunctionArg, FunctionArgExpr, FunctionArguments, PartitionBoundValue,
};

use crate::error::{SqlError, SqlResult};
use crate::eval::{compile, compile_default, empty_batch, eval, physical_schema, to_column_type};
use crate::session::Session;

const MINVALUE: &str = "MINVALUE";
const MAXVALUE: &str = "MAXVALUE";

fn invalid_definition(message: String) -> SqlError {
    SqlError::Detailed {
        sqlstate: "42P17",
        message,
        detail: String::new(),
        hint: None,
    }
}

// ---- DDL: keys and bounds ------------------------------------------------------------------

/// `PARTITION BY RANGE (a, (b + 0))`, which the parser reads as a call of `range`.
pub(crate) fn key_from_ast(s: &Session, def: &TableDef, by: &Expr) -> SqlResult<PartitionKey> {
    let Expr::Function(f) = by else {
        return Err(SqlError::Syntax {
            message: format!("syntax error at or near \"{by}\""),
            position: None,
        });
    };
    let strategy_name = f.name.to_string().to_lowercase();
    let strategy = match strategy_name.as_str() {
        "list" => PartitionStrategy::List,
        "range" => PartitionStrategy::Range,
        "hash" => PartitionStrategy::Hash,
        other => {
            return Err(SqlError::Detailed {
                sqlstate: "22023",
                message: format!("unrecognized partitioning strategy \"{other}\""),
                detail: String::new(),
                hint: None,
            })
        }
    };
    let FunctionArguments::List(list) = &f.args else {
        return Err(SqlError::Syntax {
            message: "syntax error at or near \")\"".into(),
            position: None,
        });
    };
    let mut exprs = Vec::new();
    let mut opclasses = Vec::new();
    let catalog = s.engine().catalog();
    for arg in &list.args {
        let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = arg else {
            return Err(SqlError::Syntax {
                message: format!("syntax error at or near \"{arg}\""),
                position: None,
            });
        };
        let (e, opclass): (&Expr, Option<String>) = match crate::token_forms::opclass_of(e) {
            Some((inner, name)) => (inner, Some(name)),
            None => (e, None),
        };
        let text = match e {
            Expr::Identifier(i) => {
                let name = crate::ddl::ident(i);
                let Some(pos) = def.column_position(&name) else {
                    return Err(SqlError::UndefinedColumn(format!(
                        "column \"{name}\" named in partition key does not exist"
                    )));
                };
                if strategy == PartitionStrategy::Hash
                    && opclass.is_none()
                    && matches!(def.columns[pos].ty, SqlType::Char(_))
                {
                    return Err(SqlError::unsupported(
                        "hash partitioning by a character(n) column is not supported",
                    ));
                }
                crate::eval::quote_ident(&name)
            }
            Expr::Nested(inner) => inner.to_string(),
            other => other.to_string(),
        };
        let key_type = compile(s, &text, &physical_schema(def), Some(&def.name))?
            .data_type(&physical_schema(def))?;
        let opclass = match (strategy, opclass) {
            (PartitionStrategy::Hash, Some(name)) => {
                let (key, class) =
                    crate::opclass::find_hash(&catalog, &name, s.default_schema().as_deref())?;
                let ty = SqlType::from_arrow(&key_type).map(|t| t.pg_name());
                if ty.as_deref() != Some(class.for_type.as_str()) {
                    return Err(SqlError::Detailed {
                        sqlstate: "42804",
                        message: format!(
                            "operator class \"{name}\" does not accept data type {}",
                            ty.unwrap_or_else(|| key_type.to_string())
                        ),
                        detail: String::new(),
                        hint: None,
                    });
                }
                Some(key)
            }
            (PartitionStrategy::Hash, None) => {
                if !builtin_hash(&key_type) {
                    return Err(SqlError::unsupported(format!(
                        "hash partitioning by a key of type {} is supported with an operator \
                         class (CREATE OPERATOR CLASS … USING hash) only; Basalt hashes \
                         smallint, integer, bigint, date, text and varchar keys itself",
                        SqlType::from_arrow(&key_type)
                            .map_or_else(|| key_type.to_string(), |t| t.pg_name())
                    )));
                }
                None
            }
            (_, Some(_)) => {
                return Err(SqlError::unsupported(
                    "operator classes in a LIST or RANGE partition key are not supported",
                ))
            }
            (_, None) => None,
        };
        exprs.push(text);
        opclasses.push(opclass);
    }
    if strategy == PartitionStrategy::List && exprs.len() > 1 {
        return Err(invalid_definition(
            "cannot use \"list\" partition strategy with more than one column".into(),
        ));
    }
    Ok(PartitionKey {
        strategy,
        exprs,
        opclasses,
    })
}

/// Whether Basalt hashes keys of this type as PostgreSQL's default hash operator class does.
fn builtin_hash(ty: &DataType) -> bool {
    matches!(
        ty,
        DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::Date32 | DataType::Utf8
    )
}

/// The bound of a new partition of `parent`, checked against its key and siblings.
pub(crate) fn bound_from_ast(
    s: &Session,
    catalog: &Catalog,
    parent: &TableDef,
    name: &str,
    values: &ForValues,
    at: Option<datafusion::sql::sqlparser::tokenizer::Location>,
) -> SqlResult<PartitionBound> {
    let Some(key) = &parent.partition_key else {
        return Err(SqlError::Detailed {
            sqlstate: "42809",
            message: format!("\"{}\" is not partitioned", parent.name),
            detail: String::new(),
            hint: None,
        });
    };
    let bound = match (values, key.strategy) {
        (ForValues::Default, PartitionStrategy::List | PartitionStrategy::Range) => {
            PartitionBound::Default
        }
        (ForValues::In(list), PartitionStrategy::List) => {
            PartitionBound::List(list.iter().map(|e| e.to_string()).collect())
        }
        (ForValues::From { from, to }, PartitionStrategy::Range) => {
            let text = |side: &[PartitionBoundValue], which: &str| -> SqlResult<Vec<String>> {
                if side.len() != key.exprs.len() {
                    return Err(invalid_definition(format!(
                        "{which} must specify exactly one value per partitioning column"
                    )));
                }
                let out: Vec<String> = side
                    .iter()
                    .map(|v| match v {
                        PartitionBoundValue::MinValue => MINVALUE.to_owned(),
                        PartitionBoundValue::MaxValue => MAXVALUE.to_owned(),
                        PartitionBoundValue::Expr(e) => e.to_string(),
                    })
                    .collect();
                // MINVALUE/MAXVALUE make every later column irrelevant; PostgreSQL insists
                // they say so.
                // The error points at the first bound that breaks the rule: an expression
                // by its position, a MINVALUE or MAXVALUE keyword (which has no position in
                // the tree) as the next such word after the last expression before it.
                for (i, pair) in out.windows(2).enumerate() {
                    for edge in [MINVALUE, MAXVALUE] {
                        if pair[0] == edge && pair[1] != edge {
                            use datafusion::sql::sqlparser::ast::Spanned;
                            let e = invalid_definition(format!(
                                "every bound following {edge} must also be {edge}"
                            ));
                            let last_expr = side[..=i].iter().rev().find_map(|v| match v {
                                PartitionBoundValue::Expr(x) => Some(x.span().end),
                                _ => None,
                            });
                            return Err(match (side.get(i + 1), last_expr) {
                                (Some(PartitionBoundValue::Expr(x)), _) => e.at(x.span()),
                                (Some(PartitionBoundValue::MinValue), Some(after)) => {
                                    e.at_word(after, "minvalue")
                                }
                                (Some(PartitionBoundValue::MaxValue), Some(after)) => {
                                    e.at_word(after, "maxvalue")
                                }
                                _ => e,
                            });
                        }
                    }
                }
                Ok(out)
            };
            PartitionBound::Range {
                from: text(from, "FROM")?,
                to: text(to, "TO")?,
            }
        }
        (ForValues::Default, PartitionStrategy::Hash) => {
            return Err(SqlError::Detailed {
                sqlstate: "42P16",
                message: "a hash-partitioned table may not have a default partition".into(),
                detail: String::new(),
                hint: None,
            })
        }
        (ForValues::With { modulus, remainder }, PartitionStrategy::Hash) => {
            if *modulus == 0 || *modulus > i32::MAX as u64 {
                return Err(invalid_definition(
                    "modulus for hash partition must be an integer value greater than zero".into(),
                ));
            }
            if remainder >= modulus {
                return Err(invalid_definition(
                    "remainder for hash partition must be less than modulus".into(),
                ));
            }
            PartitionBound::Hash {
                modulus: *modulus,
                remainder: *remainder,
            }
        }
        (_, strategy) => {
            return Err(invalid_definition(format!(
                "invalid bound specification for a {} partition",
                strategy.sql().to_lowercase()
            )))
        }
    };
    let node = Level::compile(s, catalog, parent)?;
    let new = node.compile_bound(s, &bound)?;
    match (&bound, &new) {
        (PartitionBound::Default, _) => {
            if let Some(existing) = node.children.iter().find(|c| c.bound.is_default()) {
                return Err(invalid_definition(format!(
                    "partition \"{name}\" conflicts with existing default partition \"{}\"",
                    existing.def.name
                )));
            }
        }
        (PartitionBound::Range { from, to }, Compiled::Range { low, high })
            if compare_bounds(low, high) != Ordering::Less =>
        {
            return Err(SqlError::Detailed {
                sqlstate: "42P17",
                message: format!("empty range bound specified for partition \"{name}\""),
                detail: format!(
                    "Specified lower bound ({}) is greater than or equal to upper bound ({}).",
                    from.join(", "),
                    to.join(", ")
                ),
                hint: None,
            });
        }
        (PartitionBound::Hash { modulus, remainder }, _) => {
            // Each modulus divides the next larger one, so that a row's remainder by the
            // largest decides its partition. As PostgreSQL does, the new bound is checked
            // against the greatest existing bound below it and the one after that, in
            // (modulus, remainder) order.
            let mut hashed: Vec<(u64, u64, &str)> = node
                .children
                .iter()
                .filter_map(|c| match c.bound {
                    Compiled::Hash { modulus, remainder } => {
                        Some((modulus, remainder, c.def.name.as_str()))
                    }
                    _ => None,
                })
                .collect();
            hashed.sort();
            let below = hashed
                .iter()
                .rposition(|(m, r, _)| (*m, *r) <= (*modulus, *remainder));
            let not_divisible = below.and_then(|i| {
                let (m, _, name) = hashed[i];
                (modulus % m != 0).then(|| {
                    format!(
                        "The new modulus {modulus} is not divisible by {m}, the modulus of \
                         existing partition \"{name}\"."
                    )
                })
            });
            let next = below.map_or(0, |i| i + 1);
            let not_factor = hashed.get(next).and_then(|&(m, _, name)| {
                (m % modulus != 0).then(|| {
                    format!(
                        "The new modulus {modulus} is not a factor of {m}, the modulus of \
                         existing partition \"{name}\"."
                    )
                })
            });
            if let Some(detail) = not_divisible.or(not_factor) {
                return Err(SqlError::Detailed {
                    sqlstate: "42P17",
                    message: "every hash partition modulus must be a factor of the next \
                              larger modulus"
                        .into(),
                    detail,
                    hint: None,
                });
            }
        }
        _ => {}
    }
    for child in &node.children {
        if child.bound.overlaps(&new) {
            let e = invalid_definition(format!(
                "partition \"{name}\" would overlap partition \"{}\"",
                child.def.name
            ));
            // PostgreSQL points a hash bound's overlap at its WITH.
            return Err(match (&bound, at) {
                (PartitionBound::Hash { .. }, Some(at)) => e.at_word(at, "with"),
                _ => e,
            });
        }
    }
    Ok(bound)
}

// ---- the tree, compiled for one statement ------------------------------------------------------

/// A bound as values of the key's types.
#[derive(Debug, Clone)]
enum Compiled {
    Default,
    List {
        values: Vec<ScalarValue>,
        null: bool,
    },
    Range {
        low: Vec<Datum>,
        high: Vec<Datum>,
    },
    /// Rows whose key hashes to `remainder` modulo `modulus`; the row's hash is the last
    /// value of its key ([`Level::keys`]).
    Hash {
        modulus: u64,
        remainder: u64,
    },
}

#[derive(Debug, Clone)]
enum Datum {
    Min,
    Max,
    Value(ScalarValue),
}

impl Compiled {
    fn is_default(&self) -> bool {
        matches!(self, Compiled::Default)
    }

    /// Whether a key (one value per key column) falls inside this bound; a default bound
    /// answers false (it takes what its siblings do not).
    fn accepts(&self, key: &[ScalarValue]) -> bool {
        match self {
            Compiled::Default => false,
            Compiled::List { values, null } => match key.first() {
                Some(v) if v.is_null() => *null,
                Some(v) => values.iter().any(|x| x == v),
                None => false,
            },
            Compiled::Range { low, high } => {
                if key.iter().any(ScalarValue::is_null) {
                    return false;
                }
                compare_key(key, low) != Ordering::Less && compare_key(key, high) == Ordering::Less
            }
            Compiled::Hash { modulus, remainder } => {
                matches!(key.last(), Some(ScalarValue::UInt64(Some(h))) if h % modulus == *remainder)
            }
        }
    }

    fn overlaps(&self, other: &Compiled) -> bool {
        match (self, other) {
            (
                Compiled::List { values, null },
                Compiled::List {
                    values: other_values,
                    null: other_null,
                },
            ) => (*null && *other_null) || values.iter().any(|v| other_values.contains(v)),
            (
                Compiled::Range { low, high },
                Compiled::Range {
                    low: other_low,
                    high: other_high,
                },
            ) => {
                compare_bounds(low, other_high) == Ordering::Less
                    && compare_bounds(other_low, high) == Ordering::Less
            }
            (
                Compiled::Hash { modulus, remainder },
                Compiled::Hash {
                    modulus: other_modulus,
                    remainder: other_remainder,
                },
            ) => {
                if modulus <= other_modulus {
                    other_remainder % modulus == *remainder
                } else {
                    remainder % other_modulus == *other_remainder
                }
            }
            _ => false,
        }
    }
}

fn compare_values(a: &ScalarValue, b: &ScalarValue) -> Ordering {
    a.partial_cmp(b).unwrap_or(Ordering::Equal)
}

/// A key against a range bound, column by column; MINVALUE is below and MAXVALUE above every
/// value.
fn compare_key(key: &[ScalarValue], bound: &[Datum]) -> Ordering {
    for (k, b) in key.iter().zip(bound) {
        let o = match b {
            Datum::Min => Ordering::Greater,
            Datum::Max => Ordering::Less,
            Datum::Value(v) => compare_values(k, v),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

fn compare_bounds(a: &[Datum], b: &[Datum]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x, y) {
            (Datum::Min, Datum::Min) | (Datum::Max, Datum::Max) => Ordering::Equal,
            (Datum::Min, _) | (_, Datum::Max) => Ordering::Less,
            (Datum::Max, _) | (_, Datum::Min) => Ordering::Greater,
            (Datum::Value(x), Datum::Value(y)) => compare_values(x, y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

struct Child {
    def: TableDef,
    bound: Compiled,
}

/// One partitioned table: its key compiled over its own columns, and its partitions.
struct Level {
    def: TableDef,
    key: Vec<Arc<dyn PhysicalExpr>>,
    key_types: Vec<DataType>,
    key_text: Vec<String>,
    /// How each key column is hashed, for a table partitioned by hash.
    hashes: Option<Vec<ColumnHash>>,
    children: Vec<Child>,
}

/// How a hash partition key column is hashed.
enum ColumnHash {
    /// PostgreSQL's hash of the column's type ([`crate::pghash`]).
    Builtin,
    /// The operator class's support function 2 called on the column, compiled over the
    /// table's row.
    Function(Arc<dyn PhysicalExpr>),
}

impl Level {
    fn compile(s: &Session, catalog: &Catalog, def: &TableDef) -> SqlResult<Level> {
        let key = def
            .partition_key
            .as_ref()
            .ok_or_else(|| SqlError::Internal(format!("\"{}\" is not partitioned", def.name)))?;
        let schema = physical_schema(def);
        let mut exprs = Vec::new();
        let mut types = Vec::new();
        for text in &key.exprs {
            let e = compile(s, text, &schema, Some(&def.name))?;
            types.push(e.data_type(&schema)?);
            exprs.push(e);
        }
        let hashes = if key.strategy == PartitionStrategy::Hash {
            let mut hashes = Vec::new();
            for (i, text) in key.exprs.iter().enumerate() {
                let class = key.opclasses.get(i).cloned().flatten();
                hashes.push(match class {
                    None => ColumnHash::Builtin,
                    Some(class) => {
                        let call = support_call(catalog, &class, text)?;
                        let call = s.inline_expression(&call)?;
                        ColumnHash::Function(compile(s, &call, &schema, Some(&def.name))?)
                    }
                });
            }
            Some(hashes)
        } else {
            None
        };
        let mut level = Level {
            def: def.clone(),
            key: exprs,
            key_types: types,
            key_text: key.exprs.clone(),
            hashes,
            children: Vec::new(),
        };
        for child in catalog.partitions(def.id) {
            let Some(of) = &child.partition_of else {
                continue;
            };
            let bound = level.compile_bound(s, &of.bound)?;
            level.children.push(Child {
                def: child.clone(),
                bound,
            });
        }
        Ok(level)
    }

    fn compile_value(&self, s: &Session, column: usize, text: &str) -> SqlResult<ScalarValue> {
        let ty = &self.key_types[column];
        let sql_type = SqlType::from_arrow(ty).ok_or_else(|| {
            SqlError::unsupported(format!("partition key of type {ty} is not supported"))
        })?;
        let expr = compile_default(s, text)?;
        let value: ArrayRef = eval(&expr, &empty_batch(1)?)?;
        let value = to_column_type(&value, &sql_type, &self.key_text[column], s.date_order())?;
        Ok(ScalarValue::try_from_array(&value, 0)?)
    }

    fn compile_bound(&self, s: &Session, bound: &PartitionBound) -> SqlResult<Compiled> {
        Ok(match bound {
            PartitionBound::Default => Compiled::Default,
            PartitionBound::List(items) => {
                let mut values = Vec::new();
                let mut null = false;
                for item in items {
                    let v = self.compile_value(s, 0, item)?;
                    if v.is_null() {
                        null = true;
                    } else if !values.contains(&v) {
                        values.push(v);
                    }
                }
                Compiled::List { values, null }
            }
            PartitionBound::Range { from, to } => {
                let side = |items: &[String]| -> SqlResult<Vec<Datum>> {
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| {
                            Ok(match item.as_str() {
                                MINVALUE => Datum::Min,
                                MAXVALUE => Datum::Max,
                                _ => {
                                    let v = self.compile_value(s, i, item)?;
                                    if v.is_null() {
                                        return Err(invalid_definition(
                                            "cannot use NULL in a range partition bound".into(),
                                        ));
                                    }
                                    Datum::Value(v)
                                }
                            })
                        })
                        .collect()
                };
                Compiled::Range {
                    low: side(from)?,
                    high: side(to)?,
                }
            }
            PartitionBound::Hash { modulus, remainder } => Compiled::Hash {
                modulus: *modulus,
                remainder: *remainder,
            },
        })
    }

    /// The key of each row (rows in this table's layout). For a table partitioned by hash,
    /// the row's hash follows the key's values.
    fn keys(&self, rows: &[Vec<Value>]) -> SqlResult<Vec<Vec<ScalarValue>>> {
        let batch = crate::dml::rows_batch(&self.def, rows)?;
        let arrays: Vec<ArrayRef> = self
            .key
            .iter()
            .map(|e| eval(e, &batch))
            .collect::<SqlResult<_>>()?;
        let mut keys: Vec<Vec<ScalarValue>> = (0..rows.len())
            .map(|r| {
                arrays
                    .iter()
                    .map(|a| Ok(ScalarValue::try_from_array(a, r)?))
                    .collect()
            })
            .collect::<SqlResult<_>>()?;
        let Some(hashes) = &self.hashes else {
            return Ok(keys);
        };
        let mut by_function = Vec::with_capacity(hashes.len());
        for h in hashes {
            by_function.push(match h {
                ColumnHash::Builtin => None,
                ColumnHash::Function(f) => {
                    let a = eval(f, &batch)?;
                    Some(datafusion::arrow::compute::cast(&a, &DataType::Int64)?)
                }
            });
        }
        for (r, key) in keys.iter_mut().enumerate() {
            let mut row_hash = 0u64;
            for (c, value) in key.iter().enumerate() {
                if value.is_null() {
                    continue; // PostgreSQL leaves NULLs out of the row's hash
                }
                let h = match &by_function[c] {
                    None => builtin_hash_of(value)?,
                    Some(a) => {
                        let a = a
                            .as_any()
                            .downcast_ref::<datafusion::arrow::array::Int64Array>()
                            .ok_or_else(|| SqlError::Internal("hash support result".into()))?;
                        if a.is_null(r) {
                            continue;
                        }
                        a.value(r) as u64
                    }
                };
                row_hash = crate::pghash::combine(row_hash, h);
            }
            key.push(ScalarValue::UInt64(Some(row_hash)));
        }
        Ok(keys)
    }

    /// The partition that takes a row with this key.
    fn choose(&self, key: &[ScalarValue]) -> Option<usize> {
        self.children
            .iter()
            .position(|c| c.bound.accepts(key))
            .or_else(|| self.children.iter().position(|c| c.bound.is_default()))
    }

    /// Whether the partition `child` (by table id) accepts the key.
    fn child_accepts(&self, child: basalt_common::TableId, key: &[ScalarValue]) -> bool {
        self.choose(key)
            .is_some_and(|i| self.children.get(i).is_some_and(|c| c.def.id == child))
    }

    /// PostgreSQL's `(a, (b + 0)) = (a, 11)` for a row no partition takes.
    fn describe_key(&self, key: &[ScalarValue]) -> SqlResult<String> {
        let key = &key[..self.key_text.len().min(key.len())];
        let names: Vec<String> = self
            .key_text
            .iter()
            .map(|t| {
                let plain = t.trim_matches('"');
                if self.def.column_position(plain).is_some() {
                    plain.to_owned()
                } else if t.contains('(') && !t.starts_with('(') && !t.contains(' ') {
                    t.clone()
                } else {
                    format!("({t})")
                }
            })
            .collect();
        let values: Vec<String> = key
            .iter()
            .map(|v| {
                let array = v.to_array()?;
                Ok(crate::format::pg_text_column(&array)?
                    .pop()
                    .flatten()
                    .unwrap_or_else(|| "null".into()))
            })
            .collect::<SqlResult<_>>()?;
        Ok(format!("({}) = ({})", names.join(", "), values.join(", ")))
    }
}

/// `f(CAST((key) AS type), seed)`: the call of an operator class's support function 2 on a
/// key column.
fn support_call(catalog: &Catalog, class: &str, key: &str) -> SqlResult<String> {
    let c = catalog.opclasses.get(class).ok_or_else(|| {
        SqlError::UndefinedObject(format!("operator class {class} does not exist"))
    })?;
    let f = c.functions.iter().find(|f| f.number == 2).ok_or_else(|| {
        SqlError::Detailed {
            sqlstate: "42P17",
            message: format!(
                "operator class \"{}\" of access method hash is missing support function 2 for type {}",
                c.name, c.for_type
            ),
            detail: String::new(),
            hint: None,
        }
    })?;
    Ok(format!(
        "{}.{}(CAST(({key}) AS {}), CAST({} AS bigint))",
        crate::eval::quote_ident(&f.schema),
        crate::eval::quote_ident(&f.name),
        c.for_type,
        crate::pghash::PARTITION_SEED as i64
    ))
}

/// PostgreSQL's extended hash of a key value of a type [`builtin_hash`] accepts.
fn builtin_hash_of(v: &ScalarValue) -> SqlResult<u64> {
    use crate::pghash::{hash_bytes, hash_int4, hash_int8, PARTITION_SEED};
    Ok(match v {
        ScalarValue::Int16(Some(x)) => hash_int4(i32::from(*x), PARTITION_SEED),
        ScalarValue::Int32(Some(x)) => hash_int4(*x, PARTITION_SEED),
        // PostgreSQL counts days from 2000-01-01, Arrow from 1970-01-01.
        ScalarValue::Date32(Some(x)) => hash_int4(x.wrapping_sub(10_957), PARTITION_SEED),
        ScalarValue::Int64(Some(x)) => hash_int8(*x, PARTITION_SEED),
        ScalarValue::Utf8(Some(x)) => hash_bytes(x.as_bytes(), PARTITION_SEED),
        other => {
            return Err(SqlError::unsupported(format!(
                "hash partitioning by a key of type {} is not supported",
                other.data_type()
            )))
        }
    })
}

// ---- rows between layouts ---------------------------------------------------------------------

/// A row of `from` laid out as a row of `to`, column by column by name (partitions may order
/// their columns differently from their parent, or have dropped columns in other places).
pub(crate) fn convert_row(from: &TableDef, to: &TableDef, row: &[Value]) -> Vec<Value> {
    let positions: HashMap<&str, usize> = from
        .live_columns()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    to.columns
        .iter()
        .map(|c| {
            if c.dropped {
                return Value::Null;
            }
            positions
                .get(c.name.as_str())
                .and_then(|&i| row.get(i))
                .cloned()
                .unwrap_or(Value::Null)
        })
        .collect()
}

/// `Failing row contains (…)`: a stored row in PostgreSQL's text form.
pub(crate) fn failing_row(def: &TableDef, row: &[Value]) -> String {
    let batch = match crate::dml::rows_batch(def, std::slice::from_ref(&row.to_vec())) {
        Ok(b) => b,
        Err(_) => return String::new(),
    };
    let mut parts = Vec::new();
    for (pos, _) in def.live_columns() {
        let text = crate::format::pg_text_column(batch.column(pos))
            .ok()
            .and_then(|mut v| v.pop().flatten())
            .unwrap_or_else(|| "null".into());
        parts.push(text);
    }
    format!("Failing row contains ({}).", parts.join(", "))
}

// ---- routing ------------------------------------------------------------------------------

/// Where the rows written to `def` go: the tables that take them, and for each row (in
/// order) the index of its table and the row in that table's layout. Rows written to a
/// partitioned table are routed to its leaves; rows written to a partition directly are
/// checked against its partition constraint.
pub(crate) type Placement = (Vec<TableDef>, Vec<(usize, Vec<Value>)>);

pub(crate) fn place(
    s: &Session,
    catalog: &Catalog,
    def: &TableDef,
    rows: Vec<Vec<Value>>,
) -> SqlResult<Placement> {
    if def.partition_key.is_none() {
        if def.partition_of.is_some() {
            check_partition_constraint(s, catalog, def, &rows)?;
        }
        return Ok((
            vec![def.clone()],
            rows.into_iter().map(|r| (0, r)).collect(),
        ));
    }
    if def.partition_of.is_some() {
        check_partition_constraint(s, catalog, def, &rows)?;
    }
    let mut leaves = Vec::new();
    let mut out: Vec<Option<(usize, Vec<Value>)>> = vec![None; rows.len()];
    let indexed: Vec<(usize, Vec<Value>)> = rows.into_iter().enumerate().collect();
    route_into(s, catalog, def, indexed, &mut leaves, &mut out)?;
    let placed = out
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| SqlError::Internal("a routed row was lost".into()))?;
    Ok((leaves, placed))
}

fn route_into(
    s: &Session,
    catalog: &Catalog,
    def: &TableDef,
    rows: Vec<(usize, Vec<Value>)>,
    leaves: &mut Vec<TableDef>,
    out: &mut [Option<(usize, Vec<Value>)>],
) -> SqlResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    if def.partition_key.is_none() {
        let leaf = match leaves.iter().position(|d| d.id == def.id) {
            Some(i) => i,
            None => {
                leaves.push(def.clone());
                leaves.len() - 1
            }
        };
        for (i, row) in rows {
            if let Some(slot) = out.get_mut(i) {
                *slot = Some((leaf, row));
            }
        }
        return Ok(());
    }
    let level = Level::compile(s, catalog, def)?;
    let plain: Vec<Vec<Value>> = rows.iter().map(|(_, r)| r.clone()).collect();
    let keys = level.keys(&plain)?;
    let mut groups: Vec<Vec<(usize, Vec<Value>)>> = vec![Vec::new(); level.children.len()];
    for ((i, row), key) in rows.into_iter().zip(keys) {
        let Some(c) = level.choose(&key) else {
            return Err(SqlError::Detailed {
                sqlstate: "23514",
                message: format!(
                    "no partition of relation \"{}\" found for row",
                    level.def.name
                ),
                detail: format!(
                    "Partition key of the failing row contains {}.",
                    level.describe_key(&key)?
                ),
                hint: None,
            });
        };
        groups[c].push((i, convert_row(def, &level.children[c].def, &row)));
    }
    for (child, rows) in level.children.iter().zip(groups) {
        route_into(s, catalog, &child.def, rows, leaves, out)?;
    }
    Ok(())
}

/// Rows written straight to a partition must fall inside its bound and every bound above it.
pub(crate) fn check_partition_constraint(
    s: &Session,
    catalog: &Catalog,
    def: &TableDef,
    rows: &[Vec<Value>],
) -> SqlResult<()> {
    let mut current = def.clone();
    let mut current_rows: Vec<Vec<Value>> = rows.to_vec();
    while let Some(PartitionOf { parent, .. }) = &current.partition_of {
        let Ok(parent) = catalog.table(*parent) else {
            break;
        };
        let level = Level::compile(s, catalog, parent)?;
        let parent_rows: Vec<Vec<Value>> = current_rows
            .iter()
            .map(|r| convert_row(&current, parent, r))
            .collect();
        let keys = level.keys(&parent_rows)?;
        for (i, key) in keys.iter().enumerate() {
            if !level.child_accepts(current.id, key) {
                return Err(SqlError::Detailed {
                    sqlstate: "23514",
                    message: format!(
                        "new row for relation \"{}\" violates partition constraint",
                        def.name
                    ),
                    detail: failing_row(def, &rows[i]),
                    hint: None,
                });
            }
        }
        current = parent.clone();
        current_rows = parent_rows;
    }
    Ok(())
}

/// Whether a row of partition `def` still belongs in it under `root` (an ancestor): the
/// test for moving a row an UPDATE changed.
pub(crate) fn still_belongs(
    s: &Session,
    catalog: &Catalog,
    root: &TableDef,
    def: &TableDef,
    row: &[Value],
) -> SqlResult<bool> {
    let mut current = def.clone();
    let mut current_row = row.to_vec();
    while current.id != root.id {
        let Some(PartitionOf { parent, .. }) = &current.partition_of else {
            break;
        };
        let parent = catalog.table(*parent)?;
        let level = Level::compile(s, catalog, parent)?;
        let parent_row = convert_row(&current, parent, &current_row);
        let key = level
            .keys(std::slice::from_ref(&parent_row))?
            .pop()
            .unwrap_or_default();
        if !level.child_accepts(current.id, &key) {
            return Ok(false);
        }
        current = parent.clone();
        current_row = parent_row;
    }
    Ok(true)
}

// ---- scan order ---------------------------------------------------------------------------

/// A bound literal, enough to put partitions in PostgreSQL's bound order without compiling.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum SortLit {
    Min,
    Number(f64),
    Text(String),
    Max,
}

fn sort_lit(text: &str) -> Option<SortLit> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("null") {
        return None;
    }
    if t == MINVALUE {
        return Some(SortLit::Min);
    }
    if t == MAXVALUE {
        return Some(SortLit::Max);
    }
    if let Ok(n) = t.parse::<f64>() {
        return Some(SortLit::Number(n));
    }
    let unquoted = t
        .strip_prefix('\'')
        .and_then(|r| r.strip_suffix('\''))
        .map(|r| r.replace("''", "'"));
    Some(SortLit::Text(unquoted.unwrap_or_else(|| t.to_owned())))
}

/// Sort rank of a partition among its siblings: ranges by lower bound, lists by their lowest
/// value, a list of only NULL after those, the default partition last (PostgreSQL's order).
fn rank(bound: &PartitionBound) -> (u8, Vec<SortLit>) {
    match bound {
        PartitionBound::Range { from, .. } => {
            (0, from.iter().filter_map(|t| sort_lit(t)).collect())
        }
        PartitionBound::List(items) => {
            let mut lits: Vec<SortLit> = items.iter().filter_map(|t| sort_lit(t)).collect();
            lits.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
            match lits.into_iter().next() {
                Some(first) => (0, vec![first]),
                None => (1, vec![]),
            }
        }
        PartitionBound::Hash { modulus, remainder } => (
            0,
            vec![
                SortLit::Number(*modulus as f64),
                SortLit::Number(*remainder as f64),
            ],
        ),
        PartitionBound::Default => (2, vec![]),
    }
}

/// The tables holding the rows of `def`: itself when it is not partitioned, else its leaf
/// partitions, depth first in bound order.
pub fn leaves(catalog: &Catalog, def: &TableDef) -> Vec<TableDef> {
    let mut out = Vec::new();
    collect_leaves(catalog, def, &mut out, 0);
    out
}

fn collect_leaves(catalog: &Catalog, def: &TableDef, out: &mut Vec<TableDef>, depth: usize) {
    if def.partition_key.is_none() || depth > 64 {
        out.push(def.clone());
        return;
    }
    let mut children: Vec<&TableDef> = catalog.partitions(def.id).collect();
    children.sort_by(|a, b| {
        let ra = a.partition_of.as_ref().map(|p| rank(&p.bound));
        let rb = b.partition_of.as_ref().map(|p| rank(&p.bound));
        ra.partial_cmp(&rb).unwrap_or(Ordering::Equal)
    });
    for child in children {
        collect_leaves(catalog, child, out, depth + 1);
    }
}

/// The stored tables a scan of `def` reads: the leaf partitions of a partitioned table;
/// otherwise the table itself, then the tables that inherit from it, breadth first in
/// object-id order, each once (PostgreSQL's order of expansion).
pub fn members(catalog: &Catalog, def: &TableDef) -> Vec<TableDef> {
    if def.partition_key.is_some() {
        return leaves(catalog, def);
    }
    let mut out = vec![def.clone()];
    let mut next = 0;
    while next < out.len() && out.len() < 10_000 {
        let id = out[next].id;
        next += 1;
        for child in catalog.inheritors(id) {
            if out.iter().all(|t| t.id != child.id) {
                out.push(child.clone());
            }
        }
    }
    out
}

/// Whether a scan of `def` reads other tables than itself.
pub fn has_members(catalog: &Catalog, def: &TableDef) -> bool {
    def.partition_key.is_some() || !catalog.inheritors(def.id).is_empty()
}

/// The tables that inherit from `root`, directly or not, in the order PostgreSQL reports
/// them when DROP meets them: depth first in object-id order, a table with several parents
/// after the last of them; each with the parent it is reported under.
pub fn heirs(catalog: &Catalog, root: &TableDef) -> Vec<(TableDef, String)> {
    let below: Vec<basalt_common::TableId> = descendants(catalog, root)
        .iter()
        .filter(|d| d.partition_of.is_none())
        .map(|d| d.id)
        .collect();
    let mut emitted = vec![root.id];
    let mut out = Vec::new();
    visit_heirs(catalog, root, &below, &mut emitted, &mut out, 0);
    out
}

fn visit_heirs(
    catalog: &Catalog,
    table: &TableDef,
    below: &[basalt_common::TableId],
    emitted: &mut Vec<basalt_common::TableId>,
    out: &mut Vec<(TableDef, String)>,
    depth: usize,
) {
    if depth > 64 {
        return;
    }
    for child in catalog.inheritors(table.id) {
        let ready = child
            .inherits
            .iter()
            .all(|p| emitted.contains(p) || !below.contains(p) && *p != table.id);
        if emitted.contains(&child.id) || !ready {
            continue;
        }
        emitted.push(child.id);
        out.push((child.clone(), table.name.clone()));
        visit_heirs(catalog, child, below, emitted, out, depth + 1);
    }
}

/// Every partition or inheriting table below `def` (all levels), for DROP and TRUNCATE.
pub fn descendants(catalog: &Catalog, def: &TableDef) -> Vec<TableDef> {
    let mut out: Vec<TableDef> = Vec::new();
    let mut queue = vec![def.id];
    while let Some(id) = queue.pop() {
        let children = catalog
            .partitions(id)
            .chain(catalog.inheritors(id))
            .filter(|c| c.id != def.id);
        for child in children {
            if out.iter().all(|t| t.id != child.id) {
                queue.push(child.id);
                out.push(child.clone());
            }
        }
    }
    out
}

// ---- attaching ------------------------------------------------------------------------------

/// With `catalog` already holding a new partition of `parent`: the rows of `parent`'s
/// default partition must not belong to the new one (PostgreSQL moves none; it refuses).
pub(crate) fn check_default_rows(
    s: &Session,
    txn: &basalt_storage::Transaction,
    catalog: &Catalog,
    parent: &TableDef,
) -> SqlResult<()> {
    let default = catalog.partitions(parent.id).find(|p| {
        p.partition_of
            .as_ref()
            .is_some_and(|o| o.bound == PartitionBound::Default)
    });
    let Some(default) = default else {
        return Ok(());
    };
    for leaf in leaves(catalog, default) {
        let rows = crate::dml::all_rows(s, txn, &leaf)?;
        if rows.is_empty() {
            continue;
        }
        if check_partition_constraint(s, catalog, &leaf, &rows).is_err() {
            return Err(SqlError::Detailed {
                sqlstate: "23514",
                message: format!(
                    "updated partition constraint for default partition \"{}\" would be violated by some row",
                    default.name
                ),
                detail: String::new(),
                hint: None,
            });
        }
    }
    Ok(())
}

/// `ALTER TABLE parent ATTACH PARTITION child FOR VALUES …`: the child's columns must be
/// the parent's, and its rows (and the default partition's) must fit the new bound.
pub(crate) async fn attach(
    s: &mut Session,
    txn: &basalt_storage::Transaction,
    parent: &TableDef,
    child_name: &datafusion::sql::sqlparser::ast::ObjectName,
    bound_text: &str,
) -> SqlResult<()> {
    let catalog = s.engine().catalog();
    let child = crate::ddl::resolve_table(&catalog, child_name, s.default_schema().as_deref())?;
    if child.partition_of.is_some() {
        return Err(invalid_definition(format!(
            "\"{}\" is already a partition",
            child.name
        )));
    }
    if child.id == parent.id {
        return Err(invalid_definition(format!(
            "cannot attach table \"{}\" as a partition of itself",
            child.name
        )));
    }
    for (_, c) in child.live_columns() {
        if parent.column_position(&c.name).is_none() {
            return Err(SqlError::Detailed {
                sqlstate: "42804",
                message: format!(
                    "table \"{}\" contains column \"{}\" not found in parent \"{}\"",
                    child.name, c.name, parent.name
                ),
                detail: "The new partition may contain only the columns present in parent.".into(),
                hint: None,
            });
        }
    }
    for (_, c) in parent.live_columns() {
        let Some(pos) = child.column_position(&c.name) else {
            return Err(invalid_definition(format!(
                "child table is missing column \"{}\"",
                c.name
            )));
        };
        if child.columns[pos].ty != c.ty {
            return Err(SqlError::Detailed {
                sqlstate: "42804",
                message: format!(
                    "child table \"{}\" has different type for column \"{}\"",
                    child.name, c.name
                ),
                detail: String::new(),
                hint: None,
            });
        }
    }
    let probe = format!(
        "CREATE TABLE {} PARTITION OF {} {bound_text}",
        crate::eval::quote_ident(&child.name),
        crate::eval::quote_ident(&parent.name)
    );
    let values = match crate::session::parse_sql(&probe)?.pop() {
        Some(datafusion::sql::sqlparser::ast::Statement::CreateTable(ct)) => ct.for_values,
        _ => None,
    }
    .ok_or_else(|| SqlError::Syntax {
        message: "syntax error: expected FOR VALUES or DEFAULT".into(),
        position: None,
    })?;
    let bound = bound_from_ast(s, &catalog, parent, &child.name, &values, None)?;
    let of = PartitionOf {
        parent: parent.id,
        bound,
    };
    let mut with_child = catalog.as_ref().clone();
    if let Ok(t) = with_child.table_mut(child.id) {
        t.partition_of = Some(of.clone());
    }
    let attached = with_child.table(child.id)?.clone();
    for leaf in leaves(&with_child, &attached) {
        let rows = crate::dml::all_rows(s, txn, &leaf)?;
        if !rows.is_empty() && check_partition_constraint(s, &with_child, &leaf, &rows).is_err() {
            return Err(SqlError::Detailed {
                sqlstate: "23514",
                message: format!(
                    "partition constraint of relation \"{}\" is violated by some row",
                    leaf.name
                ),
                detail: String::new(),
                hint: None,
            });
        }
    }
    check_default_rows(s, txn, &with_child, parent)?;
    let id = child.id;
    s.engine()
        .ddl(move |c: &mut Catalog| {
            c.table_mut(id)?.partition_of = Some(of);
            Ok::<_, SqlError>(vec![])
        })
        .await?;
    Ok(())
}

/// `ALTER TABLE parent DETACH PARTITION child`: the child becomes a table of its own.
pub(crate) async fn detach(
    s: &mut Session,
    parent: &TableDef,
    child_name: &datafusion::sql::sqlparser::ast::ObjectName,
) -> SqlResult<()> {
    let catalog = s.engine().catalog();
    let child = crate::ddl::resolve_table(&catalog, child_name, s.default_schema().as_deref())?;
    if child.partition_of.as_ref().map(|o| o.parent) != Some(parent.id) {
        return Err(SqlError::Detailed {
            sqlstate: "42P01",
            message: format!(
                "relation \"{}\" is not a partition of relation \"{}\"",
                child.name, parent.name
            ),
            detail: String::new(),
            hint: None,
        });
    }
    let id = child.id;
    s.engine()
        .ddl(move |c: &mut Catalog| {
            c.table_mut(id)?.partition_of = None;
            Ok::<_, SqlError>(vec![])
        })
        .await?;
    Ok(())
}
