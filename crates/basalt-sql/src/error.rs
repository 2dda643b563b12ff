//! The SQL layer's error type. Each variant knows its SQLSTATE; the protocol edge maps it to
//! the wire (PostgreSQL ErrorResponse now, MySQL error packets later) in one place.

use basalt_storage::StorageError;
use datafusion::error::DataFusionError;

#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// A syntax error; `position` is the 1-based character offset in the query text.
    #[error("{message}")]
    Syntax {
        message: String,
        position: Option<usize>,
    },
    #[error("relation \"{0}\" does not exist")]
    UndefinedTable(String),
    /// The same error where PostgreSQL gives no position (ALTER SEQUENCE).
    #[error("relation \"{0}\" does not exist")]
    UnlocatedTable(String),
    /// DROP TABLE's wording for the same error.
    #[error("table \"{0}\" does not exist")]
    NoSuchTable(String),
    /// DROP VIEW's wording for the same error.
    #[error("view \"{0}\" does not exist")]
    NoSuchView(String),
    /// DROP TABLE of a view, DROP VIEW of a table, INSERT into a view.
    #[error("{0}")]
    WrongObjectType(String),
    /// A named object other than a relation that does not exist (a constraint, …).
    #[error("{0}")]
    UndefinedObject(String),
    /// A server file that cannot be read (COPY FROM 'file').
    #[error("{0}")]
    FileAccess(String),
    /// A recursive query PostgreSQL refuses (aggregates in the recursive term).
    #[error("{0}")]
    InvalidRecursion(String),
    #[error("{0}")]
    UndefinedColumn(String),
    #[error("schema \"{0}\" does not exist")]
    UndefinedSchema(String),
    #[error("index \"{0}\" does not exist")]
    UndefinedIndex(String),
    #[error("{0}")]
    UndefinedFunction(String),
    #[error("relation \"{0}\" already exists")]
    DuplicateTable(String),
    #[error("schema \"{0}\" already exists")]
    DuplicateSchema(String),
    /// A constraint (or other object) name already taken (42710).
    #[error("{0}")]
    DuplicateObject(String),
    #[error("column \"{0}\" of relation \"{1}\" already exists")]
    DuplicateColumn(String, String),
    /// A query that creates a table or view names two of its columns alike.
    #[error("column \"{0}\" specified more than once")]
    RepeatedColumnName(String),
    /// A column named twice in a list of a clause (SEARCH, CYCLE).
    #[error("{0}")]
    DuplicateColumnUse(String),
    #[error("{0}")]
    InvalidTableDefinition(String),
    #[error("duplicate key value violates unique constraint \"{constraint}\"")]
    UniqueViolation { constraint: String, detail: String },
    #[error(
        "null value in column \"{column}\" of relation \"{table}\" violates not-null constraint"
    )]
    NotNullViolation {
        column: String,
        table: String,
        /// PostgreSQL's `Failing row contains (…).` (empty: none).
        detail: String,
    },
    #[error("new row for relation \"{table}\" violates check constraint \"{constraint}\"")]
    CheckViolation {
        table: String,
        constraint: String,
        /// PostgreSQL's `Failing row contains (…).` (empty: none).
        detail: String,
    },
    #[error("value too long for type {0}")]
    StringTooLong(String),
    #[error("{0}")]
    OutOfRange(String),
    /// A value too large for a numeric type, with PostgreSQL's DETAIL saying what fits.
    #[error("numeric field overflow")]
    NumericOverflow { detail: String },
    #[error("{0}")]
    InvalidText(String),
    #[error("division by zero")]
    DivisionByZero,
    #[error("{0}")]
    DataException(String),
    #[error("{0}")]
    DatatypeMismatch(String),
    #[error("could not serialize access due to concurrent update")]
    SerializationFailure,
    #[error("current transaction is aborted, commands ignored until end of transaction block")]
    InFailedTransaction,
    #[error("{0}")]
    ActiveTransaction(String),
    #[error("{0}")]
    FeatureNotSupported(String),
    #[error("{0}")]
    ProtocolViolation(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    /// A write in a READ ONLY transaction (25006).
    #[error("{0}")]
    ReadOnlyTransaction(String),
    /// width_bucket's refused arguments (2201G).
    #[error("{0}")]
    InvalidArgumentForWidthBucket(String),
    /// A syntax error with PostgreSQL's HINT line.
    #[error("{message}")]
    SyntaxHint { message: String, hint: String },
    /// MySQL's DECIMAL precision above 65.
    #[error("{0}")]
    TooBigPrecision(String),
    /// A parameter refused, with PostgreSQL's HINT line.
    #[error("{message}")]
    InvalidParameterHint { message: String, hint: String },
    #[error("{0}")]
    NullNotAllowed(String),
    #[error("{0}")]
    InvalidEscape(String),
    /// A name PostgreSQL keeps for itself (`pg_` schemas).
    #[error("{message}")]
    ReservedName { message: String, detail: String },
    /// A statement beyond one of PostgreSQL's fixed limits (54000).
    #[error("{0}")]
    ProgramLimit(String),
    /// A setting's value refused, with PostgreSQL's DETAIL line saying why.
    #[error("{message}")]
    InvalidSetting { message: String, detail: String },
    #[error("{0}")]
    DependentObjects(String),
    #[error("{0}")]
    GeneratedAlways(String),
    #[error("canceling statement due to user request")]
    QueryCanceled,
    #[error("{0}")]
    CopyFailed(String),
    #[error("{0}")]
    CardinalityViolation(String),
    #[error("{0}")]
    DatetimeOverflow(String),
    #[error("{0}")]
    NoActiveTransaction(String),
    #[error("{0}")]
    TooManyColumns(String),
    #[error("{0}")]
    CharacterNotInRepertoire(String),
    #[error("{0}")]
    NoSuchSavepoint(String),
    #[error("{0}")]
    InvalidDatetime(String),
    #[error("{0}")]
    InvalidRegex(String),
    /// A date whose month or day field is out of range, perhaps read in the wrong field order.
    #[error("date/time field value out of range: \"{0}\"")]
    DatestyleMismatch(String),
    /// An error PostgreSQL reports with the position of the offending text in the query
    /// (a literal that does not convert, an unknown relation).
    #[error("{inner}")]
    Positioned {
        inner: Box<SqlError>,
        position: usize,
    },
    /// An error found on the parsed statement, at a (1-based) line and column of its text
    /// (or, with `word`, at that word's first appearance from there: a keyword has no
    /// position in the tree); [`locate`] turns it into [`SqlError::Positioned`] once the
    /// text is at hand.
    #[error("{inner}")]
    Located {
        inner: Box<SqlError>,
        line: u64,
        column: u64,
        word: Option<&'static str>,
        /// Report at the `(` after this word that follows the point instead: a window
        /// specification's, after `OVER` (a call's span ends before its OVER clause) or
        /// after `AS` (a WINDOW clause's definition).
        paren_after: Option<&'static str>,
    },
    /// A FOREIGN KEY constraint violated (23503), with PostgreSQL's DETAIL and MySQL's own
    /// number and wording (1451, 1452).
    #[error("{message}")]
    ForeignKeyViolation {
        message: String,
        detail: String,
        mysql_code: u16,
        mysql_message: String,
    },
    /// A FOREIGN KEY that does not match a unique constraint of its table (42830).
    #[error("{0}")]
    InvalidForeignKey(String),
    /// An error of any SQLSTATE with a DETAIL line.
    #[error("{message}")]
    Detailed {
        sqlstate: &'static str,
        message: String,
        detail: String,
        hint: Option<String>,
    },
    #[error("{0}")]
    Storage(StorageError),
    #[error("{0}")]
    Internal(String),
    /// An error with MySQL's own number (raised by MySQL commands and MySQL-declared types);
    /// PostgreSQL clients see its SQLSTATE.
    #[error("{message}")]
    MySql {
        code: u16,
        sqlstate: &'static str,
        message: String,
    },
}

impl SqlError {
    /// The PostgreSQL SQLSTATE of this error.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            SqlError::Syntax { .. } | SqlError::SyntaxHint { .. } => "42601",
            SqlError::UndefinedTable(_)
            | SqlError::UnlocatedTable(_)
            | SqlError::NoSuchTable(_)
            | SqlError::NoSuchView(_) => "42P01",
            SqlError::WrongObjectType(_) => "42809",
            SqlError::InvalidRecursion(_) => "42P19",
            SqlError::FileAccess(_) => "58P01",
            SqlError::UndefinedColumn(_) => "42703",
            SqlError::UndefinedSchema(_) => "3F000",
            SqlError::UndefinedIndex(_) | SqlError::UndefinedObject(_) => "42704",
            SqlError::UndefinedFunction(_) => "42883",
            SqlError::DuplicateTable(_) => "42P07",
            SqlError::DuplicateSchema(_) => "42P06",
            SqlError::DuplicateObject(_) => "42710",
            SqlError::DuplicateColumn(..)
            | SqlError::RepeatedColumnName(_)
            | SqlError::DuplicateColumnUse(_) => "42701",
            SqlError::InvalidTableDefinition(_) => "42P16",
            SqlError::UniqueViolation { .. } => "23505",
            SqlError::NotNullViolation { .. } => "23502",
            SqlError::CheckViolation { .. } => "23514",
            SqlError::StringTooLong(_) => "22001",
            SqlError::OutOfRange(_) | SqlError::NumericOverflow { .. } => "22003",
            SqlError::InvalidText(_) => "22P02",
            SqlError::DivisionByZero => "22012",
            SqlError::DataException(_) => "22000",
            SqlError::DatatypeMismatch(_) => "42804",
            SqlError::SerializationFailure => "40001",
            SqlError::InFailedTransaction => "25P02",
            SqlError::ActiveTransaction(_) => "25001",
            SqlError::ReadOnlyTransaction(_) => "25006",
            SqlError::InvalidArgumentForWidthBucket(_) => "2201G",
            SqlError::FeatureNotSupported(_) => "0A000",
            SqlError::ProtocolViolation(_) => "08P01",
            SqlError::InvalidParameterValue(_)
            | SqlError::TooBigPrecision(_)
            | SqlError::InvalidSetting { .. }
            | SqlError::InvalidParameterHint { .. } => "22023",
            SqlError::NullNotAllowed(_) => "22004",
            SqlError::InvalidEscape(_) => "22025",
            SqlError::ReservedName { .. } => "42939",
            SqlError::ProgramLimit(_) => "54000",
            SqlError::DependentObjects(_) => "2BP01",
            SqlError::GeneratedAlways(_) => "428C9",
            SqlError::QueryCanceled | SqlError::CopyFailed(_) => "57014",
            SqlError::CardinalityViolation(_) => "21000",
            SqlError::DatetimeOverflow(_) => "22008",
            SqlError::NoActiveTransaction(_) => "25P01",
            SqlError::TooManyColumns(_) => "54011",
            SqlError::CharacterNotInRepertoire(_) => "22021",
            SqlError::NoSuchSavepoint(_) => "3B001",
            SqlError::InvalidDatetime(_) => "22007",
            SqlError::DatestyleMismatch(_) => "22008",
            SqlError::InvalidRegex(_) => "2201B",
            SqlError::Positioned { inner, .. } | SqlError::Located { inner, .. } => {
                inner.sqlstate()
            }
            SqlError::ForeignKeyViolation { .. } => "23503",
            SqlError::InvalidForeignKey(_) => "42830",
            SqlError::Detailed { sqlstate, .. } => sqlstate,
            SqlError::Storage(e) => {
                match e {
                    StorageError::SerializationFailure | StorageError::TableDropped(_) => "40001",
                    StorageError::UniqueViolation { .. }
                    | StorageError::UniqueIndexBuild { .. } => "23505",
                    StorageError::ExclusionViolation { .. }
                    | StorageError::ExclusionBuild { .. } => "23P01",
                    StorageError::NullInKey { .. } => "23502",
                    StorageError::NoSuchSequence(_) => "42P01",
                    StorageError::SequenceExhausted { .. } => "2200H",
                    StorageError::SequenceOutOfBounds { .. } => "22003",
                    StorageError::TransactionTooLarge(_) => "54000",
                    StorageError::WalUnavailable
                    | StorageError::Io { .. }
                    | StorageError::DataDirInUse { .. } => "58030",
                    StorageError::Corrupt(_) => "XX001",
                    StorageError::Internal(_) => "XX000",
                }
            }
            SqlError::Internal(_) => "XX000",
            SqlError::MySql { sqlstate, .. } => sqlstate,
        }
    }

    /// PostgreSQL's DETAIL field, where there is one.
    pub fn detail(&self) -> Option<String> {
        match self {
            SqlError::UniqueViolation { detail, .. }
            | SqlError::Storage(StorageError::UniqueViolation { detail, .. }) => {
                Some(detail.clone())
            }
            SqlError::InvalidSetting { detail, .. }
            | SqlError::ReservedName { detail, .. }
            | SqlError::NumericOverflow { detail }
            | SqlError::ForeignKeyViolation { detail, .. } => Some(detail.clone()),
            SqlError::Detailed { detail, .. }
            | SqlError::NotNullViolation { detail, .. }
            | SqlError::CheckViolation { detail, .. } => {
                (!detail.is_empty()).then(|| detail.clone())
            }
            SqlError::Positioned { inner, .. } | SqlError::Located { inner, .. } => inner.detail(),
            _ => None,
        }
    }

    /// PostgreSQL's HINT field, where there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            SqlError::DatestyleMismatch(_) => {
                Some("Perhaps you need a different \"datestyle\" setting.".into())
            }
            SqlError::InvalidParameterHint { hint, .. } | SqlError::SyntaxHint { hint, .. } => {
                Some(hint.clone())
            }
            SqlError::Positioned { inner, .. } | SqlError::Located { inner, .. } => inner.hint(),
            SqlError::Detailed { hint, .. } => hint.clone(),
            _ => None,
        }
    }

    /// Whether a failing statement must end the whole session (never, today: every error is
    /// confined to its statement and transaction).
    pub fn position(&self) -> Option<usize> {
        match self {
            SqlError::Syntax { position, .. } => *position,
            SqlError::Positioned { position, .. } => Some(*position),
            _ => None,
        }
    }

    /// This error, reported at where `span` starts in the statement's text.
    pub fn at(self, span: datafusion::sql::sqlparser::tokenizer::Span) -> SqlError {
        SqlError::Located {
            inner: Box::new(self),
            line: span.start.line,
            column: span.start.column,
            word: None,
            paren_after: None,
        }
    }

    /// This error, reported at the first whole `word` (case-insensitive) at or after `from`
    /// in the statement's text.
    pub fn at_word(
        self,
        from: datafusion::sql::sqlparser::tokenizer::Location,
        word: &'static str,
    ) -> SqlError {
        SqlError::Located {
            inner: Box::new(self),
            line: from.line,
            column: from.column,
            word: Some(word),
            paren_after: None,
        }
    }

    /// This error, reported at the `(` after the first `word` after where `span` starts:
    /// the window specification of a call `f(x) OVER (…)` (`word` "over") or of a
    /// definition `WINDOW w AS (…)` (`word` "as").
    pub fn at_paren_after(
        self,
        span: datafusion::sql::sqlparser::tokenizer::Span,
        word: &'static str,
    ) -> SqlError {
        SqlError::Located {
            inner: Box::new(self),
            line: span.start.line,
            column: span.start.column,
            word: None,
            paren_after: Some(word),
        }
    }

    pub fn unsupported(what: impl Into<String>) -> SqlError {
        SqlError::FeatureNotSupported(what.into())
    }
}

impl From<StorageError> for SqlError {
    fn from(e: StorageError) -> SqlError {
        let message = e.to_string();
        match e {
            StorageError::UniqueViolation { constraint, detail } => {
                SqlError::UniqueViolation { constraint, detail }
            }
            StorageError::SerializationFailure => SqlError::SerializationFailure,
            StorageError::ExclusionViolation { detail, .. }
            | StorageError::ExclusionBuild { detail, .. } => SqlError::Detailed {
                sqlstate: "23P01",
                message,
                detail,
                hint: None,
            },
            other => SqlError::Storage(other),
        }
    }
}

impl From<DataFusionError> for SqlError {
    fn from(e: DataFusionError) -> SqlError {
        classify_datafusion(e)
    }
}

impl From<datafusion::arrow::error::ArrowError> for SqlError {
    fn from(e: datafusion::arrow::error::ArrowError) -> SqlError {
        classify_datafusion(DataFusionError::ArrowError(Box::new(e), None))
    }
}

/// PostgreSQL's error for a column reference that names no column: `column "c" does not
/// exist`, or `column t.c does not exist` when qualified, with its hint of the one or two
/// closest columns in reach (errorMissingColumn: Levenshtein distance at most 3 and at most
/// half the name's length, a qualifier that names another table adding its own distance;
/// more than two equally close candidates suggest none).
fn missing_column(
    field: &datafusion::common::Column,
    valid: &[datafusion::common::Column],
) -> SqlError {
    const MAX_FUZZY_DISTANCE: usize = 3;
    let name = field.name.as_str();
    let message = match &field.relation {
        Some(r) => format!("column {}.{name} does not exist", r.table()),
        None => format!("column \"{name}\" does not exist"),
    };
    let mut best = MAX_FUZZY_DISTANCE + 1;
    let mut first: Option<&datafusion::common::Column> = None;
    let mut second: Option<&datafusion::common::Column> = None;
    for candidate in valid {
        let Some(table) = candidate.relation.as_ref().map(|r| r.table()) else {
            continue;
        };
        let penalty = match &field.relation {
            Some(r) => levenshtein(r.table(), table),
            None => 0,
        };
        if penalty > best || candidate.name.is_empty() {
            continue;
        }
        let distance = levenshtein(&candidate.name, name);
        if distance > name.chars().count() / 2 {
            continue;
        }
        let distance = distance + penalty;
        if distance < best {
            best = distance;
            first = Some(candidate);
            second = None;
        } else if distance == best {
            if second.is_some() {
                // Too many at this distance: only a closer one is worth suggesting.
                first = None;
                second = None;
            } else if first.is_some() {
                second = Some(candidate);
            }
        }
    }
    let qualified = |c: &datafusion::common::Column| {
        format!(
            "\"{}.{}\"",
            c.relation.as_ref().map(|r| r.table()).unwrap_or_default(),
            c.name
        )
    };
    let hint = match (first, second) {
        (Some(a), None) => format!(
            "Perhaps you meant to reference the column {}.",
            qualified(a)
        ),
        (Some(a), Some(b)) => format!(
            "Perhaps you meant to reference the column {} or the column {}.",
            qualified(a),
            qualified(b)
        ),
        _ => return SqlError::UndefinedColumn(message),
    };
    SqlError::Detailed {
        sqlstate: "42703",
        message,
        detail: String::new(),
        hint: Some(hint),
    }
}

/// The edit distance of two names (insertions, deletions and substitutions each cost 1).
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Maps a DataFusion error to the SQLSTATE PostgreSQL would give for the same mistake.
/// DataFusion reports most user errors as plan or execution errors with a message, so the
/// message is the signal.
fn classify_datafusion(e: DataFusionError) -> SqlError {
    let e = e.find_root();
    if let DataFusionError::External(inner) = e {
        if let Some(sql) = inner.downcast_ref::<SqlErrorBox>() {
            return sql.0.clone_shallow();
        }
    }
    if let DataFusionError::SchemaError(se, _) = e {
        match se.as_ref() {
            datafusion::common::SchemaError::FieldNotFound {
                field,
                valid_fields,
            } => return missing_column(field, valid_fields),
            datafusion::common::SchemaError::AmbiguousReference { field } => {
                return SqlError::Detailed {
                    sqlstate: "42702",
                    message: format!("column reference \"{}\" is ambiguous", field.name),
                    detail: String::new(),
                    hint: None,
                };
            }
            _ => {}
        }
    }
    let msg = strip_prefixes(&e.to_string());
    let lower = msg.to_lowercase();
    if let DataFusionError::SQL(parser_err, _) = e {
        return SqlError::Syntax {
            message: format!("syntax error: {parser_err}"),
            position: None,
        };
    }
    if lower.contains("divide by zero") || lower.contains("division by zero") {
        return SqlError::DivisionByZero;
    }
    if lower.contains("table '") && lower.contains("not found") || lower.contains("table not found")
    {
        let name = quoted(&msg).unwrap_or_default();
        let name = name.strip_prefix("basalt.").unwrap_or(&name);
        let name = name.strip_prefix("public.").unwrap_or(name);
        let name = name.replace(crate::session::ONLY_MARK, "");
        return SqlError::UndefinedTable(name);
    }
    if let Some(v) = msg
        .strip_prefix("Cannot cast value '")
        .and_then(|r| r.split("' to value of Boolean").next())
    {
        return SqlError::InvalidText(format!("invalid input syntax for type boolean: \"{v}\""));
    }
    if let Some(rest) = msg.strip_prefix("Cannot cast string '") {
        if let Some((v, ty)) = rest.split_once("' to value of ") {
            let ty = ty.trim_end_matches(" type");
            let looks_like_date = v.chars().filter(char::is_ascii_digit).count() >= 4;
            return match ty {
                "Date32" | "Date64" if looks_like_date => SqlError::DatetimeOverflow(format!(
                    "date/time field value out of range: \"{v}\""
                )),
                t if t.starts_with("Timestamp") && looks_like_date => SqlError::DatetimeOverflow(
                    format!("date/time field value out of range: \"{v}\""),
                ),
                t if t.starts_with("Date")
                    || t.starts_with("Time")
                    || t.starts_with("Interval") =>
                {
                    SqlError::InvalidDatetime(format!(
                        "invalid input syntax for type {}: \"{v}\"",
                        pg_type_word(t)
                    ))
                }
                t if t.starts_with("Int") && is_integer_text(v) => SqlError::OutOfRange(format!(
                    "value \"{v}\" is out of range for type {}",
                    pg_type_word(t)
                )),
                t => SqlError::InvalidText(format!(
                    "invalid input syntax for type {}: \"{v}\"",
                    pg_type_word(t)
                )),
            };
        }
    }
    // Arrow's overflowing cast to an integer type: "value of 2147483648 is out of range Int32".
    if let Some(ty) = msg
        .strip_prefix("value of ")
        .and_then(|r| r.split_once(" is out of range "))
        .map(|(_, ty)| ty.trim())
    {
        if let Some(word) = integer_word(ty) {
            return SqlError::OutOfRange(format!("{word} out of range"));
        }
    }
    // Arrow's overflowing cast of a number: "Can't cast value 4567890123456789 to type Int32".
    if let Some(ty) = msg
        .strip_prefix("Can't cast value ")
        .and_then(|r| r.rsplit_once(" to type "))
        .map(|(_, ty)| ty.trim())
    {
        if let Some(word) = integer_word(ty) {
            return SqlError::OutOfRange(format!("{word} out of range"));
        }
    }
    // DataFusion's abs of the smallest integer: "Int64Array overflow on abs(-9223…)".
    if let Some((ty, _)) = msg.split_once("Array overflow on abs(") {
        if let Some(word) = integer_word(ty) {
            return SqlError::OutOfRange(format!("{word} out of range"));
        }
    }
    // DataFusion's wording of errors PostgreSQL words otherwise.
    if msg.starts_with("negative count not allowed") {
        return SqlError::Detailed {
            sqlstate: "22011",
            message: "negative substring length not allowed".into(),
            detail: String::new(),
            hint: None,
        };
    }
    if msg == "NTILE requires a positive integer" {
        return SqlError::Detailed {
            sqlstate: "22014",
            message: "argument of ntile must be greater than zero".into(),
            detail: String::new(),
            hint: None,
        };
    }
    if let Some(rest) = msg.strip_prefix("Parser error: Invalid input syntax for type interval") {
        return SqlError::InvalidDatetime(format!("invalid input syntax for type interval{rest}"));
    }
    if msg == "Step cannot be zero" || msg == "Step interval cannot be zero" {
        return SqlError::InvalidParameterValue("step size cannot equal zero".into());
    }
    if msg.starts_with("Overflow happened on FACTORIAL(") {
        return SqlError::OutOfRange("value overflows numeric format".into());
    }
    if lower.contains("scalar subquery returned more than one row") {
        return SqlError::CardinalityViolation(
            "more than one row returned by a subquery used as an expression".into(),
        );
    }
    if lower.contains("invalid function") || lower.contains("unknown function") {
        return SqlError::UndefinedFunction(msg);
    }
    // A DataFusion function that computes in nanoseconds, given a timestamp beyond
    // 1677..2262.
    if lower.contains("to timestamp(ns)") && lower.contains("exceeds the representable") {
        return SqlError::DatetimeOverflow("timestamp out of range".into());
    }
    if lower.contains("overflow")
        || lower.contains("out of range")
        || lower.contains("too large to store")
        || lower.contains("can't cast value") && !lower.contains("to type utf8")
        || lower.contains("is too large")
        || lower.contains("cannot be represented")
    {
        return SqlError::OutOfRange(msg);
    }
    if lower.contains("cannot cast string")
        || lower.contains("cannot parse")
        || lower.contains("error parsing")
        || lower.contains("invalid input syntax")
        || lower.contains("parser error")
        || lower.contains("failed to parse")
    {
        return SqlError::InvalidText(msg);
    }
    if lower.contains("not implemented") || lower.contains("unsupported") {
        return SqlError::FeatureNotSupported(msg);
    }
    if lower.contains("type coercion")
        || lower.contains("cannot be cast")
        || lower.contains("cannot infer common")
    {
        return SqlError::DatatypeMismatch(msg);
    }
    match e {
        DataFusionError::Plan(_) | DataFusionError::SchemaError(..) => SqlError::Syntax {
            message: msg,
            position: None,
        },
        DataFusionError::NotImplemented(_) => SqlError::FeatureNotSupported(msg),
        DataFusionError::ResourcesExhausted(_) => SqlError::Internal(msg),
        DataFusionError::Execution(_) | DataFusionError::ArrowError(..) => {
            SqlError::DataException(msg)
        }
        _ => SqlError::Internal(msg),
    }
}

/// PostgreSQL's name of an Arrow integer type.
fn integer_word(arrow: &str) -> Option<&'static str> {
    match arrow {
        "Int16" => Some("smallint"),
        "Int32" => Some("integer"),
        "Int64" => Some("bigint"),
        _ => None,
    }
}

/// Whether text is an integer as PostgreSQL's integer input reads it (blanks, a sign,
/// digits), so that a failed cast means the value is out of range, not malformed.
pub(crate) fn is_integer_text(v: &str) -> bool {
    let t = v.trim_matches(|c: char| c.is_ascii_whitespace());
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

pub(crate) fn pg_type_word(arrow: &str) -> &'static str {
    if let Some(word) = integer_word(arrow) {
        return word;
    }
    match arrow {
        t if t.starts_with("Date") => "date",
        t if t.starts_with("Timestamp") => "timestamp",
        t if t.starts_with("Time") => "time",
        t if t.starts_with("Interval") => "interval",
        t if t.starts_with("Int") => "integer",
        t if t.starts_with("Float") => "double precision",
        t if t.starts_with("Decimal") => "numeric",
        _ => "text",
    }
}

fn strip_prefixes(s: &str) -> String {
    let mut s = s.trim();
    let mut before = "";
    while before != s {
        before = s;
        s = strip_prefixes_once(s);
    }
    // DataFusion's internal errors ask the reader to report them to DataFusion; the client
    // of Basalt gets the error itself (XX000).
    if let Some(cut) = s.find("\nThis issue was likely caused by a bug in DataFusion") {
        s = s[..cut].trim_end_matches('.');
    }
    s.to_owned()
}

fn strip_prefixes_once(mut s: &str) -> &str {
    for p in [
        "Error during planning: ",
        "Execution error: ",
        "Arrow error: ",
        "Schema error: ",
        "Invalid argument error: ",
        "Cast error: ",
        "Compute error: ",
        "Optimizer rule 'simplify_expressions' failed\ncaused by\n",
        "This feature is not implemented: ",
        "External error: ",
        "Internal error: ",
    ] {
        while let Some(rest) = s.strip_prefix(p) {
            s = rest;
        }
    }
    s
}

fn quoted(s: &str) -> Option<String> {
    let start = s.find('\'')? + 1;
    let end = s[start..].find('\'')? + start;
    Some(s[start..end].to_owned())
}

/// Carries a [`SqlError`] through DataFusion (from inside a UDF or a scan) intact.
#[derive(Debug)]
pub struct SqlErrorBox(pub SqlError);

impl std::fmt::Display for SqlErrorBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SqlErrorBox {}

impl SqlError {
    pub fn into_datafusion(self) -> DataFusionError {
        DataFusionError::External(Box::new(SqlErrorBox(self)))
    }

    /// A copy for re-raising: storage errors keep their class and text.
    fn clone_shallow(&self) -> SqlError {
        match self {
            SqlError::Storage(e) => SqlError::Internal(e.to_string()),
            SqlError::UniqueViolation { constraint, detail } => SqlError::UniqueViolation {
                constraint: constraint.clone(),
                detail: detail.clone(),
            },
            SqlError::SerializationFailure => SqlError::SerializationFailure,
            SqlError::UndefinedTable(s) => SqlError::UndefinedTable(s.clone()),
            SqlError::OutOfRange(s) => SqlError::OutOfRange(s.clone()),
            SqlError::NumericOverflow { detail } => SqlError::NumericOverflow {
                detail: detail.clone(),
            },
            SqlError::InvalidText(s) => SqlError::InvalidText(s.clone()),
            SqlError::InvalidDatetime(s) => SqlError::InvalidDatetime(s.clone()),
            SqlError::DatetimeOverflow(s) => SqlError::DatetimeOverflow(s.clone()),
            SqlError::DatestyleMismatch(s) => SqlError::DatestyleMismatch(s.clone()),
            SqlError::DivisionByZero => SqlError::DivisionByZero,
            SqlError::InvalidRegex(s) => SqlError::InvalidRegex(s.clone()),
            SqlError::NullNotAllowed(s) => SqlError::NullNotAllowed(s.clone()),
            SqlError::ProgramLimit(s) => SqlError::ProgramLimit(s.clone()),
            SqlError::InvalidArgumentForWidthBucket(s) => {
                SqlError::InvalidArgumentForWidthBucket(s.clone())
            }
            SqlError::SyntaxHint { message, hint } => SqlError::SyntaxHint {
                message: message.clone(),
                hint: hint.clone(),
            },
            SqlError::InvalidParameterHint { message, hint } => SqlError::InvalidParameterHint {
                message: message.clone(),
                hint: hint.clone(),
            },
            SqlError::InvalidSetting { message, detail } => SqlError::InvalidSetting {
                message: message.clone(),
                detail: detail.clone(),
            },
            SqlError::ForeignKeyViolation {
                message,
                detail,
                mysql_code,
                mysql_message,
            } => SqlError::ForeignKeyViolation {
                message: message.clone(),
                detail: detail.clone(),
                mysql_code: *mysql_code,
                mysql_message: mysql_message.clone(),
            },
            SqlError::Detailed {
                sqlstate,
                message,
                detail,
                hint,
            } => SqlError::Detailed {
                sqlstate,
                message: message.clone(),
                detail: detail.clone(),
                hint: hint.clone(),
            },
            SqlError::InvalidParameterValue(s) => SqlError::InvalidParameterValue(s.clone()),
            SqlError::FeatureNotSupported(s) => SqlError::FeatureNotSupported(s.clone()),
            SqlError::Internal(s) => SqlError::Internal(s.clone()),
            SqlError::MySql {
                code,
                sqlstate,
                message,
            } => SqlError::MySql {
                code: *code,
                sqlstate,
                message: message.clone(),
            },
            other => SqlError::DataException(other.to_string()),
        }
    }
}

pub type SqlResult<T> = Result<T, SqlError>;

/// Gives an error the position PostgreSQL reports with it: where the literal that did not
/// convert, or the relation or column that does not exist, is written in `sql` (1-based,
/// in characters). Errors that already carry a position, or whose text cannot be found,
/// are returned as they are.
/// The 1-based character position of the first whole `word` (case-insensitive) in `sql` at
/// or after position `from`.
fn next_word(sql: &str, from: usize, word: &str) -> Option<usize> {
    let chars: Vec<char> = sql.chars().collect();
    let target: Vec<char> = word.chars().flat_map(char::to_lowercase).collect();
    let is_word = |c: &char| c.is_alphanumeric() || *c == '_';
    let start = from.saturating_sub(1);
    (start..chars.len()).find_map(|i| {
        let candidate = chars.get(i..i + target.len())?;
        let same = candidate
            .iter()
            .flat_map(|c| c.to_lowercase())
            .eq(target.iter().copied());
        let before_ok = i == 0 || !chars.get(i - 1).is_some_and(is_word);
        let after_ok = !chars.get(i + target.len()).is_some_and(is_word);
        (same && before_ok && after_ok).then_some(i + 1)
    })
}

pub fn locate(e: SqlError, sql: &str) -> SqlError {
    if let SqlError::Located {
        inner,
        line,
        column,
        word,
        paren_after,
    } = e
    {
        if line == 0 {
            return *inner;
        }
        let mut position = crate::session::char_position(sql, line as usize, column as usize);
        if let Some(word) = word {
            match next_word(sql, position, word) {
                Some(at) => position = at,
                None => return *inner,
            }
        }
        if let Some(word) = paren_after {
            match paren_after_word(sql, position, word) {
                Some(p) => position = p,
                None => return *inner,
            }
        }
        return SqlError::Positioned { inner, position };
    }
    if e.position().is_some() {
        return e;
    }
    let at = match &e {
        SqlError::InvalidText(m)
        | SqlError::InvalidDatetime(m)
        | SqlError::DatetimeOverflow(m)
        | SqlError::OutOfRange(m) => quoted_value(m).and_then(|v| find_literal(sql, v)),
        SqlError::DatestyleMismatch(v) => find_literal(sql, v),
        // A RANGE frame's offsets that do not suit its ORDER BY key (interval_order), at the
        // first offset as PostgreSQL reports it.
        SqlError::Detailed {
            sqlstate: "0A000",
            message,
            ..
        } if message.starts_with("RANGE with offset PRECEDING/FOLLOWING is not supported") => {
            range_offset_at(sql, message)
        }
        // A name in a query, or one in a string (`'t'::regclass`).
        SqlError::UndefinedTable(name) => {
            find_relation(sql, name).or_else(|| find_literal(sql, name))
        }
        SqlError::Detailed {
            sqlstate: "42883",
            message,
            ..
        } => message
            .strip_prefix("function ")
            .and_then(|m| m.split_once('('))
            .and_then(|(name, _)| find_word(sql, name.rsplit('.').next().unwrap_or(name))),
        SqlError::UndefinedColumn(m)
        | SqlError::Detailed {
            sqlstate: "42703",
            message: m,
            ..
        } if m.ends_with("does not exist") && !m.contains(" of ") => double_quoted(m)
            .or_else(|| m.strip_prefix("column ")?.strip_suffix(" does not exist"))
            .and_then(|c| find_word(sql, c)),
        SqlError::Detailed {
            sqlstate: "42702",
            message: m,
            ..
        } => double_quoted(m).and_then(|c| find_word(sql, c)),
        // `q.c` whose qualifier is no FROM entry in reach (scope::from_clause_entry).
        SqlError::Detailed {
            sqlstate: "42P01",
            message: m,
            ..
        } if m.contains("FROM-clause entry for table") => {
            double_quoted(m).and_then(|q| find_qualifier(sql, q))
        }
        _ => None,
    };
    // A WITH item read where it is not in scope (before its definition, inside a sibling):
    // PostgreSQL says so.
    let e = match e {
        SqlError::UndefinedTable(name) if names_with_item(sql, &name) => SqlError::Detailed {
            sqlstate: "42P01",
            message: format!("relation \"{name}\" does not exist"),
            detail: format!(
                "There is a WITH item named \"{name}\", but it cannot be referenced from this \
                 part of the query."
            ),
            hint: Some(
                "Use WITH RECURSIVE, or re-order the WITH items to remove forward references."
                    .into(),
            ),
        },
        e => e,
    };
    match at.and_then(|byte| sql.get(..byte)) {
        Some(before) => SqlError::Positioned {
            position: before.chars().count() + 1,
            inner: Box::new(e),
        },
        None => e,
    }
}

/// Where the RANGE offset an error is about starts in `sql` (a byte offset): the first
/// frame's starting offset, or its ending one where the error names an offset type the
/// starting offset is not written as.
fn range_offset_at(sql: &str, message: &str) -> Option<usize> {
    let token_after = |word: &str, from: usize| -> Option<(usize, &str)> {
        let at = next_word(sql, from, word)?;
        let after = sql.char_indices().nth(at - 1 + word.len())?.0;
        let rest = &sql[after..];
        let start = after + (rest.len() - rest.trim_start().len());
        Some((start, &sql[start..]))
    };
    let range = next_word(sql, 1, "range")?;
    let (start, first) = token_after("between", range)?;
    let offset_type = message.split(" and offset type ").nth(1);
    let written_as = |t: &str| match t {
        "interval" => first.starts_with('\'') || first.to_lowercase().starts_with("interval"),
        "numeric" => first
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()
            .is_some_and(|n| n.contains('.')),
        _ => first.starts_with(|c: char| c.is_ascii_digit()),
    };
    match offset_type {
        Some(t) if !written_as(t) => {
            let chars_before = sql[..start].chars().count() + 1;
            token_after("and", chars_before).map(|(end, _)| end)
        }
        _ => Some(start),
    }
}

/// The 1-based character position of the `(` after the first `word` (ASCII, any case) at
/// or after the 1-based character position `from` of `sql`.
fn paren_after_word(sql: &str, from: usize, word: &str) -> Option<usize> {
    let chars: Vec<char> = sql.chars().collect();
    let start = from.checked_sub(1)?;
    let n = word.chars().count();
    let at = (start..chars.len()).find(|&i| {
        chars
            .get(i..i + n)
            .is_some_and(|w| w.iter().collect::<String>().eq_ignore_ascii_case(word))
    })?;
    let paren = (at + n..chars.len()).find(|&i| chars.get(i) == Some(&'('))?;
    Some(paren + 1)
}

/// The first `"name"` of a message.
fn double_quoted(message: &str) -> Option<&str> {
    let start = message.find('"')? + 1;
    let end = message[start..].find('"')? + start;
    message.get(start..end)
}

/// The value in `…: "value"` at the end of a message, or in `[value] "…" is out of range …`.
fn quoted_value(message: &str) -> Option<&str> {
    if let Some(rest) = message
        .strip_prefix("value \"")
        .or_else(|| message.strip_prefix('"'))
    {
        // `value "…" is out of range for type …`, `"…" is out of range for type …`
        return rest.rsplit_once("\" is out of range").map(|(v, _)| v);
    }
    let start = message.find(": \"")? + 3;
    let rest = message.get(start..)?;
    rest.strip_suffix('"')
}

/// Where `'value'` is written as a string literal (quotes doubled inside).
fn find_literal(sql: &str, value: &str) -> Option<usize> {
    sql.find(&format!("'{}'", value.replace('\'', "''")))
}

/// Where a missing relation `name` is referenced: its first whole-word occurrence that is
/// not the name of a WITH item being defined (`name AS (`, `name(a, b) AS (`), since a
/// query names its WITH items before it reads them; the first occurrence when every one is.
fn find_relation(sql: &str, name: &str) -> Option<usize> {
    let first = find_word(sql, name)?;
    let mut at = first;
    loop {
        if !defines_with_item(&sql[at + name.len()..]) {
            return Some(at);
        }
        let next = at + name.len();
        match find_word(&sql[next..], name) {
            Some(i) => at = next + i,
            None => return Some(first),
        }
    }
}

/// Whether the statement defines a WITH item called `name`.
fn names_with_item(sql: &str, name: &str) -> bool {
    let mut from = 0;
    while let Some(i) = sql.get(from..).and_then(|rest| find_word(rest, name)) {
        let end = from + i + name.len();
        if defines_with_item(&sql[end..]) {
            return true;
        }
        from = end;
    }
    false
}

/// Whether the text after a name is a WITH item's definition: an optional column list, then
/// `AS` and (after an optional `[NOT] MATERIALIZED`) a parenthesis.
fn defines_with_item(rest: &str) -> bool {
    let mut rest = rest.trim_start();
    if let Some(columns) = rest.strip_prefix('(') {
        match columns.find(')') {
            Some(end) => rest = columns[end + 1..].trim_start(),
            None => return false,
        }
    }
    let lower = rest.to_ascii_lowercase();
    let Some(after_as) = lower.strip_prefix("as") else {
        return false;
    };
    if !after_as.starts_with(|c: char| c.is_whitespace() || c == '(') {
        return false;
    }
    let after_as = after_as.trim_start();
    let after = after_as
        .strip_prefix("not")
        .map(str::trim_start)
        .unwrap_or(after_as);
    let after = after
        .strip_prefix("materialized")
        .map(str::trim_start)
        .unwrap_or(after);
    after.starts_with('(')
}

/// Where `name` is written as a whole word outside string literals, in any case.
/// Where `q.` is first written as a qualifier (a whole word followed by a point).
fn find_qualifier(sql: &str, q: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = sql.get(from..).and_then(|rest| find_word(rest, q)) {
        let at = from + i;
        if sql.as_bytes().get(at + q.len()) == Some(&b'.') {
            return Some(at);
        }
        from = at + q.len();
    }
    None
}

fn find_word(sql: &str, name: &str) -> Option<usize> {
    if name.is_empty() {
        return None;
    }
    let lower = sql.to_lowercase();
    if lower.len() != sql.len() {
        return None; // case folding changed byte offsets
    }
    let needle = name.to_lowercase();
    let bytes = lower.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80;
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            in_string = !in_string;
        } else if !in_string
            && bytes[i..].starts_with(needle.as_bytes())
            && (i == 0 || !is_word(bytes[i - 1]) && bytes[i - 1] != b'.')
            && bytes.get(i + needle.len()).is_none_or(|&b| !is_word(b))
        {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// For AST walks that replace nodes: puts `result`'s replacement in place of `target`, or
/// keeps the error in `error` and stops the walk.
pub(crate) fn replace_or_stop<T>(
    target: &mut T,
    result: SqlResult<Option<T>>,
    error: &mut Option<SqlError>,
) -> std::ops::ControlFlow<()> {
    match result {
        Ok(Some(new)) => {
            *target = new;
            std::ops::ControlFlow::Continue(())
        }
        Ok(None) => std::ops::ControlFlow::Continue(()),
        Err(err) => {
            *error = Some(err);
            std::ops::ControlFlow::Break(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datafusion_internal_errors_do_not_ask_to_report_them_to_datafusion() {
        let e = datafusion::common::internal_datafusion_err!("Cannot run range queries");
        let e = classify_datafusion(e);
        assert_eq!(e.sqlstate(), "XX000");
        assert_eq!(e.to_string(), "Cannot run range queries");
    }

    #[test]
    fn a_missing_relation_is_located_where_it_is_read_not_where_a_with_item_is_named() {
        let sql = "WITH outermost(x) AS (SELECT 1 UNION (SELECT * FROM outermost)) SELECT 1";
        assert_eq!(find_relation(sql, "outermost"), Some(52));
        let sql = "WITH t AS MATERIALIZED (SELECT * FROM t) SELECT 1";
        assert_eq!(find_relation(sql, "t"), Some(38));
        // `FROM t AS x` reads t; a name only ever defined points at its definition
        assert_eq!(find_relation("SELECT * FROM t AS x", "t"), Some(14));
        assert_eq!(find_relation("WITH t AS (SELECT 1) SELECT 2", "t"), Some(5));
    }

    #[test]
    fn a_with_item_read_out_of_scope_is_explained() {
        let sql = "WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a";
        let e = locate(SqlError::UndefinedTable("b".into()), sql);
        assert_eq!(e.position(), Some(26));
        let text = format!("{e:?}");
        assert!(text.contains("There is a WITH item named"), "{text}");
        // a table that is simply missing gets no such detail
        let e = locate(SqlError::UndefinedTable("c".into()), "SELECT * FROM c");
        assert!(!format!("{e:?}").contains("WITH item"));
    }

    #[test]
    fn a_missing_relation_named_in_a_string_points_at_the_string() {
        let e = locate(
            SqlError::UndefinedTable("nosuch".into()),
            "SELECT pg_get_viewdef('nosuch'::regclass)",
        );
        assert_eq!(e.position(), Some(23));
    }

    #[test]
    fn a_missing_column_suggests_the_closest_ones_in_reach() {
        use datafusion::common::Column;
        let valid = [
            Column::new(Some("t1"), "unique1"),
            Column::new(Some("t1"), "two"),
            Column::new(Some("t2"), "unique1"),
            Column::new(Some("t2"), "two"),
        ];
        let text = |e: SqlError| format!("{e:?}");
        let e = missing_column(&Column::new(Some("t2"), "uunique1"), &valid);
        assert!(text(e).contains("column t2.uunique1 does not exist"));
        let e = missing_column(&Column::new(Some("t1"), "uunique1"), &valid);
        assert!(text(e).contains("Perhaps you meant to reference the column \\\"t1.unique1\\\"."));
        let e = missing_column(&Column::new_unqualified("uunique1"), &valid);
        assert!(text(e).contains("\\\"t1.unique1\\\" or the column \\\"t2.unique1\\\""));
        // nothing close: no hint
        let e = missing_column(&Column::new_unqualified("zzz"), &valid);
        assert!(matches!(e, SqlError::UndefinedColumn(m) if m == "column \"zzz\" does not exist"));
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }

    #[test]
    fn syntax_error_after_an_expression_points_at_its_word() {
        let sql = "CREATE TABLE t (b bool DEFAULT 1   in (1, 2))";
        assert_eq!(next_word(sql, 33, "IN"), Some(36));
        // whole words only, case-insensitive
        assert_eq!(next_word("select inx, x in (1)", 1, "in"), Some(15));
        assert_eq!(next_word("select 1", 1, "in"), None);
        let e = SqlError::Syntax {
            message: "syntax error at or near \"IN\"".into(),
            position: None,
        };
        let from = datafusion::sql::sqlparser::tokenizer::Location::new(1, 33);
        let located = locate(e.at_word(from, "in"), sql);
        assert_eq!(located.position(), Some(36));
    }
}
