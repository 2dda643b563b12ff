//! Basalt errors as MySQL reports them: error number, SQLSTATE and MySQL's wording, so that
//! drivers and applications that branch on `1062` or `1146` work unchanged.

use basalt_storage::StorageError;

use crate::error::SqlError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyError {
    pub code: u16,
    pub sqlstate: &'static str,
    pub message: String,
}

fn my(code: u16, sqlstate: &'static str, message: impl Into<String>) -> MyError {
    MyError {
        code,
        sqlstate,
        message: message.into(),
    }
}

/// The first double-quoted name in a PostgreSQL-worded message.
fn quoted(msg: &str) -> Option<&str> {
    let start = msg.find('"')? + 1;
    let len = msg[start..].find('"')?;
    Some(&msg[start..start + len])
}

/// `Key (a, b)=(1, x) already exists.` → `1-x` (MySQL joins key parts with '-').
fn duplicate_value(detail: &str) -> String {
    let Some(eq) = detail.find(")=(") else {
        return String::new();
    };
    let rest = &detail[eq + 3..];
    let end = rest.rfind(") already exists").unwrap_or(rest.len());
    rest[..end].split(", ").collect::<Vec<_>>().join("-")
}

fn key_name(constraint: &str) -> String {
    match constraint.strip_suffix("_pkey") {
        Some(table) => format!("{table}.PRIMARY"),
        None => constraint.to_owned(),
    }
}

impl From<&SqlError> for MyError {
    fn from(e: &SqlError) -> MyError {
        let text = e.to_string();
        match e {
            SqlError::Positioned { inner, .. } => MyError::from(inner.as_ref()),
            // An aggregate where none may be (WHERE, FILTER, inside another aggregate).
            SqlError::Located { inner, .. } if inner.sqlstate() == "42803" => {
                my(1111, "HY000", "Invalid use of group function")
            }
            SqlError::Located { inner, .. } if inner.sqlstate() == "42712" => {
                MyError::from(inner.as_ref())
            }
            SqlError::MySql {
                code,
                sqlstate,
                message,
            } => my(*code, sqlstate, message.clone()),
            SqlError::Syntax { message, .. } if message.starts_with("INSERT has more") => my(
                1136,
                "21S01",
                "Column count doesn't match value count at row 1",
            ),
            SqlError::Syntax { message, .. } => my(
                1064,
                "42000",
                format!("You have an error in your SQL syntax; {message}"),
            ),
            SqlError::UndefinedTable(t) => {
                my(1146, "42S02", format!("Table '{t}' doesn't exist"))
            }
            SqlError::NoSuchTable(t) | SqlError::NoSuchView(t) => {
                my(1051, "42S02", format!("Unknown table '{t}'"))
            }
            SqlError::WrongObjectType(m) => my(1347, "HY000", m.clone()),
            SqlError::InvalidRecursion(m) => my(3575, "HY000", m.clone()),
            SqlError::FileAccess(m) => my(29, "HY000", m.clone()),
            SqlError::UndefinedColumn(msg)
            | SqlError::Detailed {
                sqlstate: "42703",
                message: msg,
                ..
            } => {
                let name = quoted(msg)
                    .map(str::to_owned)
                    .or_else(|| {
                        msg.split("No field named ")
                            .nth(1)
                            .map(|r| r.split(". ").next().unwrap_or(r).trim_end_matches('.').to_owned())
                    })
                    .or_else(|| {
                        // PostgreSQL's form for a qualified name: column t.c does not exist
                        msg.strip_prefix("column ")?
                            .strip_suffix(" does not exist")
                            .map(str::to_owned)
                    })
                    .unwrap_or_else(|| msg.clone());
                my(1054, "42S22", format!("Unknown column '{name}' in 'field list'"))
            }
            SqlError::Detailed {
                sqlstate: "42P01",
                message,
                ..
            } => {
                let t = quoted(message).unwrap_or(message);
                my(1146, "42S02", format!("Table '{t}' doesn't exist"))
            }
            SqlError::Detailed {
                sqlstate: "42712",
                message,
                ..
            } => {
                let t = quoted(message).unwrap_or(message);
                my(1066, "42000", format!("Not unique table/alias: '{t}'"))
            }
            SqlError::UndefinedSchema(s) => my(1049, "42000", format!("Unknown database '{s}'")),
            SqlError::DuplicateTable(t) => {
                my(1050, "42S01", format!("Table '{t}' already exists"))
            }
            SqlError::DuplicateSchema(s) => my(
                1007,
                "HY000",
                format!("Can't create database '{s}'; database exists"),
            ),
            SqlError::DuplicateColumn(c, _) | SqlError::RepeatedColumnName(c) => {
                my(1060, "42S21", format!("Duplicate column name '{c}'"))
            }
            SqlError::UniqueViolation { constraint, detail }
            | SqlError::Storage(StorageError::UniqueViolation { constraint, detail }) => my(
                1062,
                "23000",
                format!(
                    "Duplicate entry '{}' for key '{}'",
                    duplicate_value(detail),
                    key_name(constraint)
                ),
            ),
            SqlError::ForeignKeyViolation {
                mysql_code,
                mysql_message,
                ..
            } => my(*mysql_code, "23000", mysql_message.clone()),
            SqlError::Storage(StorageError::UniqueIndexBuild { index, .. }) => my(
                1062,
                "23000",
                format!("Duplicate entry for key '{}'", key_name(index)),
            ),
            SqlError::Storage(StorageError::NullInKey { .. }) => {
                my(1138, "22004", "Invalid use of NULL value")
            }
            SqlError::InvalidTableDefinition(msg) if msg.starts_with("multiple primary keys") => {
                my(1068, "42000", "Multiple primary key defined")
            }
            SqlError::NotNullViolation { column, .. } => {
                my(1048, "23000", format!("Column '{column}' cannot be null"))
            }
            SqlError::CheckViolation { constraint, .. } => my(
                3819,
                "HY000",
                format!("Check constraint '{constraint}' is violated."),
            ),
            SqlError::StringTooLong(_) => my(1406, "22001", format!("Data too long: {text}")),
            SqlError::OutOfRange(_) | SqlError::NumericOverflow { .. } => my(1264, "22003", format!("Out of range value: {text}")),
            SqlError::InvalidText(_) | SqlError::DatatypeMismatch(_) => {
                my(1366, "HY000", format!("Incorrect value: {text}"))
            }
            SqlError::InvalidDatetime(_) | SqlError::DatetimeOverflow(_) => {
                my(1292, "22007", format!("Incorrect datetime value: {text}"))
            }
            SqlError::DivisionByZero => my(1365, "22012", "Division by 0"),
            SqlError::SerializationFailure
            | SqlError::Storage(StorageError::SerializationFailure)
            | SqlError::Storage(StorageError::TableDropped(_)) => my(
                1213,
                "40001",
                "Deadlock found when trying to get lock; try restarting transaction (a concurrent transaction changed the same row first)",
            ),
            SqlError::FeatureNotSupported(msg) => my(
                1235,
                "42000",
                format!("This version of Basalt doesn't yet support this: {msg}"),
            ),
            SqlError::UndefinedFunction(msg) => my(1305, "42000", msg.clone()),
            SqlError::CardinalityViolation(_) => {
                my(1242, "21000", "Subquery returns more than 1 row")
            }
            SqlError::QueryCanceled => my(1317, "70100", "Query execution was interrupted"),
            SqlError::InvalidParameterValue(msg) => my(1231, "42000", msg.clone()),
            SqlError::TooBigPrecision(msg) => my(1426, "42000", msg.clone()),
            SqlError::ReadOnlyTransaction(_) => my(
                1792,
                "25006",
                "Cannot execute statement in a READ ONLY transaction.",
            ),
            SqlError::UndefinedIndex(i) => my(
                1091,
                "42000",
                format!("Can't DROP '{i}'; check that column/key exists"),
            ),
            SqlError::TooManyColumns(_) => my(1117, "HY000", "Too many columns"),
            SqlError::CharacterNotInRepertoire(_) => {
                my(1366, "HY000", format!("Incorrect string value: {text}"))
            }
            SqlError::Storage(StorageError::TransactionTooLarge(_)) => my(
                1197,
                "HY000",
                format!("Multi-statement transaction required more than the allowed memory: {text}"),
            ),
            _ => my(1105, "HY000", text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_key_reads_like_mysql() {
        let e = SqlError::UniqueViolation {
            constraint: "users_pkey".into(),
            detail: "Key (id)=(7) already exists.".into(),
        };
        let m = MyError::from(&e);
        assert_eq!(m.code, 1062);
        assert_eq!(m.sqlstate, "23000");
        assert_eq!(m.message, "Duplicate entry '7' for key 'users.PRIMARY'");
        let e = SqlError::UniqueViolation {
            constraint: "u_ab".into(),
            detail: "Key (a, b)=(1, x) already exists.".into(),
        };
        assert_eq!(
            MyError::from(&e).message,
            "Duplicate entry '1-x' for key 'u_ab'"
        );
    }

    #[test]
    fn unknown_column_names_the_column() {
        let e = SqlError::UndefinedColumn("column \"nope\" does not exist".into());
        assert_eq!(
            MyError::from(&e).message,
            "Unknown column 'nope' in 'field list'"
        );
        assert_eq!(MyError::from(&e).code, 1054);
    }
}
