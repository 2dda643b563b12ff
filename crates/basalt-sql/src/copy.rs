//! COPY … FROM STDIN and COPY … TO STDOUT, in PostgreSQL's text and CSV formats.
//!
//! COPY FROM streams: data arrives in chunks, complete lines are parsed into batches of
//! `COPY_BATCH_ROWS` text columns, converted to the table's types with the same rules as
//! INSERT, and written into the statement's transaction. A bad line fails the whole COPY
//! (nothing of it is kept), reported when the client ends the data, as PostgreSQL does.

use std::sync::Arc;

use basalt_storage::{TableDef, Transaction};
use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Ident, Query,
};

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::ddl::resolve_table;
use crate::error::{SqlError, SqlResult};
use crate::format::pg_text_column;
use crate::session::{Output, Session};

const COPY_BATCH_ROWS: usize = 8192;
/// The longest line COPY accepts (a bound on buffered bytes per row).
const COPY_LINE_BYTES_MAX: usize = 64 << 20;

#[derive(Debug, Clone)]
pub struct CopyFormat {
    pub binary: bool,
    pub csv: bool,
    pub delimiter: char,
    pub null: String,
    pub header: bool,
    pub quote: char,
    pub escape: char,
}

/// The tokens of a COPY statement whose boolean options (`FREEZE on`, `HEADER 1`) are spelled
/// as PostgreSQL allows but sqlparser does not (it takes only TRUE and FALSE), with those
/// values rewritten as TRUE/FALSE; `None` when `sql` is not such a statement.
pub fn with_boolean_option_words(sql: &str) -> Option<Vec<TokenWithSpan>> {
    let mut tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize_with_location()
        .ok()?;
    let word = |t: &Token| match t {
        Token::Word(w) => Some(w.value.to_lowercase()),
        _ => None,
    };
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
        .collect();
    if word(&tokens[*significant.first()?].token)? != "copy" {
        return None;
    }
    let mut depth = 0usize;
    let mut after_from_or_to = false;
    let mut changed = false;
    for (n, &i) in significant.iter().enumerate() {
        match &tokens[i].token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            t if depth == 0 && matches!(word(t).as_deref(), Some("from" | "to")) => {
                after_from_or_to = true
            }
            t if depth == 1 && after_from_or_to => {
                let is_option = matches!(word(t).as_deref(), Some("freeze" | "header"));
                let Some(&v) = significant.get(n + 1).filter(|_| is_option) else {
                    continue;
                };
                let value = match &tokens[v].token {
                    Token::Number(n, _) => n.clone(),
                    other => word(other).unwrap_or_default(),
                };
                let replacement = match value.as_str() {
                    "on" | "1" => "TRUE",
                    "off" | "0" => "FALSE",
                    _ => continue,
                };
                tokens[v].token = Token::make_keyword(replacement);
                changed = true;
            }
            _ => {}
        }
    }
    changed.then_some(tokens)
}

impl CopyFormat {
    fn parse(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> SqlResult<CopyFormat> {
        let mut csv = false;
        let mut binary = false;
        let mut delimiter = None;
        let mut null = None;
        let mut header = false;
        let mut quote = '"';
        let mut escape = None;
        for o in options {
            match o {
                CopyOption::Format(f) => match f.value.to_lowercase().as_str() {
                    "csv" => csv = true,
                    "text" => csv = false,
                    "binary" => binary = true,
                    other => {
                        return Err(SqlError::unsupported(format!(
                            "COPY format \"{other}\" is not supported"
                        )))
                    }
                },
                CopyOption::Delimiter(c) => delimiter = Some(*c),
                CopyOption::Null(s) => null = Some(s.clone()),
                CopyOption::Header(h) => header = *h,
                // Rows are loaded with ordinary MVCC visibility: Basalt keeps no per-row
                // frozen state, so FREEZE changes nothing it could speed up.
                CopyOption::Freeze(_) => {}
                CopyOption::Quote(c) => quote = *c,
                CopyOption::Escape(c) => escape = Some(*c),
                CopyOption::Encoding(e)
                    if e.eq_ignore_ascii_case("utf8") || e.eq_ignore_ascii_case("utf-8") => {}
                other => {
                    return Err(SqlError::unsupported(format!(
                        "COPY option {other} is not supported"
                    )))
                }
            }
        }
        for o in legacy {
            match o {
                CopyLegacyOption::Csv(opts) => {
                    csv = true;
                    for c in opts {
                        match c {
                            CopyLegacyCsvOption::Header => header = true,
                            CopyLegacyCsvOption::Quote(q) => quote = *q,
                            CopyLegacyCsvOption::Escape(e) => escape = Some(*e),
                            other => {
                                return Err(SqlError::unsupported(format!(
                                    "COPY option {other} is not supported"
                                )))
                            }
                        }
                    }
                }
                CopyLegacyOption::Delimiter(c) => delimiter = Some(*c),
                CopyLegacyOption::Null(s) => null = Some(s.clone()),
                CopyLegacyOption::Binary => binary = true,
                other => {
                    return Err(SqlError::unsupported(format!(
                        "COPY option {other} is not supported"
                    )))
                }
            }
        }
        Ok(CopyFormat {
            binary,
            csv,
            delimiter: delimiter.unwrap_or(if csv { ',' } else { '\t' }),
            null: null.unwrap_or_else(|| if csv { String::new() } else { "\\N".into() }),
            header,
            quote,
            escape: escape.unwrap_or(quote),
        })
    }
}

/// A COPY FROM STDIN in progress.
pub struct CopyIn {
    def: TableDef,
    targets: Vec<usize>,
    format: CopyFormat,
    txn: Arc<Transaction>,
    autocommit: bool,
    partial: Vec<u8>,
    rows: Vec<Vec<Option<String>>>,
    header_pending: bool,
    copied: usize,
    line_no: usize,
    error: Option<SqlError>,
    /// Binary format: rows decoded so far, and whether the file header was read.
    binary_rows: Vec<Vec<basalt_common::Value>>,
    binary_header_done: bool,
    binary_done: bool,
    /// Binary format: buffered bytes needed before the pending tuple can be parsed.
    binary_need: usize,
    /// CSV: whether the buffered partial line ends inside a quoted field.
    csv_in_quotes: bool,
}

#[allow(clippy::too_many_arguments)]
pub async fn start(
    s: &mut Session,
    txn: &Arc<Transaction>,
    source: CopySource,
    to: bool,
    target: CopyTarget,
    options: Vec<CopyOption>,
    legacy: Vec<CopyLegacyOption>,
    values: Vec<Option<String>>,
) -> SqlResult<Output> {
    let format = CopyFormat::parse(&options, &legacy)?;
    if !values.is_empty() {
        return Err(SqlError::unsupported("inline COPY data is not supported"));
    }
    if to {
        if format.binary {
            return Err(SqlError::unsupported(
                "COPY TO in binary format is not supported yet; use text or csv",
            ));
        }
        if !matches!(target, CopyTarget::Stdout) {
            return Err(SqlError::unsupported(
                "COPY TO a server file or program is not supported; use STDOUT",
            ));
        }
        return copy_out(s, source, &format).await;
    }
    let file = match target {
        CopyTarget::Stdin => None,
        CopyTarget::File { filename } => Some(filename),
        _ => {
            return Err(SqlError::unsupported(
                "COPY FROM a program is not supported; use STDIN or a file",
            ))
        }
    };
    let CopySource::Table {
        table_name,
        columns,
    } = source
    else {
        return Err(SqlError::Syntax {
            message: "COPY FROM needs a table".into(),
            position: None,
        });
    };
    let def = resolve_table(
        &s.engine().catalog(),
        &table_name,
        s.default_schema().as_deref(),
    )?;
    let targets = column_targets(&def, &columns)?;
    let n = targets.len();
    let text_format = !format.binary;
    s.copy = Some(CopyIn {
        def,
        targets,
        header_pending: format.header,
        format,
        txn: Arc::clone(txn),
        autocommit: false,
        partial: Vec::new(),
        rows: Vec::new(),
        copied: 0,
        line_no: 0,
        error: None,
        binary_rows: Vec::new(),
        binary_header_done: false,
        binary_done: false,
        binary_need: 0,
        csv_in_quotes: false,
    });
    match file {
        None => Ok(Output::CopyIn {
            columns: n,
            text_format,
        }),
        Some(path) => copy_from_file(s, &path).await,
    }
}

/// COPY … FROM 'file': the server reads the file (as PostgreSQL does for a superuser) and
/// feeds it through the same parser as COPY FROM STDIN, inside the statement.
async fn copy_from_file(s: &mut Session, path: &str) -> SqlResult<Output> {
    if !std::path::Path::new(path).is_absolute() {
        s.copy = None;
        return Err(SqlError::FeatureNotSupported(
            "COPY FROM a relative path is not supported; give an absolute path".into(),
        ));
    }
    let owned = path.to_owned();
    let read = tokio::task::spawn_blocking(move || std::fs::read(owned))
        .await
        .map_err(|e| SqlError::Internal(format!("reading a COPY file: {e}")));
    let data = match read {
        Ok(Ok(data)) => data,
        Ok(Err(e)) => {
            s.copy = None;
            return Err(SqlError::FileAccess(format!(
                "could not open file \"{path}\" for reading: {e}"
            )));
        }
        Err(e) => {
            s.copy = None;
            return Err(e);
        }
    };
    const CHUNK_BYTES: usize = 1 << 16;
    for chunk in data.chunks(CHUNK_BYTES) {
        s.copy_data(chunk);
    }
    let Some(mut c) = s.copy.take() else {
        return Err(SqlError::Internal("COPY state lost".into()));
    };
    let copied = c.end_of_data(s)?;
    Ok(Output::Command(format!("COPY {copied}")))
}

fn column_targets(def: &TableDef, columns: &[Ident]) -> SqlResult<Vec<usize>> {
    if columns.is_empty() {
        return Ok(def.live_columns().map(|(i, _)| i).collect());
    }
    columns
        .iter()
        .map(|c| {
            let name = if c.quote_style.is_some() {
                c.value.clone()
            } else {
                c.value.to_lowercase()
            };
            def.column_position(&name).ok_or_else(|| {
                SqlError::UndefinedColumn(format!(
                    "column \"{name}\" of relation \"{}\" does not exist",
                    def.name
                ))
            })
        })
        .collect()
}

impl Session {
    /// Marks the COPY started by the current statement as owning its (autocommit)
    /// transaction, committed at [`Session::copy_done`].
    pub(crate) fn adopt_copy(&mut self, autocommit: bool) {
        if let Some(c) = self.copy.as_mut() {
            c.autocommit = autocommit;
        }
    }

    pub fn copy_in_progress(&self) -> bool {
        self.copy.is_some()
    }

    /// Feeds a chunk of COPY data. Errors are kept and reported by [`Session::copy_done`].
    pub fn copy_data(&mut self, data: &[u8]) {
        let Some(mut c) = self.copy.take() else {
            return;
        };
        if c.error.is_none() {
            if let Err(e) = c.feed(self, data) {
                c.error = Some(e);
            }
        }
        self.copy = Some(c);
    }

    /// Ends COPY FROM: flushes the last rows, commits in autocommit mode, and returns the
    /// number of rows copied.
    pub async fn copy_done(&mut self) -> SqlResult<usize> {
        let Some(mut c) = self.copy.take() else {
            return Err(SqlError::ProtocolViolation("no COPY in progress".into()));
        };
        let result = c.end_of_data(self);
        self.finish_copy(&c, result.is_ok()).await?;
        result
    }

    /// The client aborted COPY FROM.
    pub async fn copy_fail(&mut self, message: &str) -> SqlError {
        if let Some(c) = self.copy.take() {
            let _ = self.finish_copy(&c, false).await;
        }
        SqlError::CopyFailed(format!("COPY from stdin failed: {message}"))
    }

    async fn finish_copy(&mut self, c: &CopyIn, ok: bool) -> SqlResult<()> {
        let checked = if ok {
            self.check_statement_constraints(&c.txn, c.autocommit).await
        } else {
            Ok(())
        };
        if ok && checked.is_ok() {
            if c.autocommit {
                self.engine().commit(&c.txn).await?;
            }
            return Ok(());
        }
        c.txn.rollback_statement(&self.engine().catalog());
        if !c.autocommit {
            self.fail_block();
        }
        checked
    }
}

impl CopyIn {
    /// The data has ended: reports an error met on the way, parses the last line, checks
    /// the binary trailer, writes the rows still buffered; returns the rows copied.
    fn end_of_data(&mut self, s: &Session) -> SqlResult<usize> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if self.format.binary {
            if !self.binary_done {
                return Err(SqlError::InvalidText(
                    "COPY binary data ended without its trailer".into(),
                ));
            }
        } else if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line)?;
        }
        self.flush(s)?;
        Ok(self.copied)
    }

    fn feed(&mut self, s: &Session, data: &[u8]) -> SqlResult<()> {
        if self.format.binary {
            return self.feed_binary(s, data);
        }
        let mut start = 0;
        // CSV fields may contain newlines inside quotes: the quote state carries over from
        // the previous chunk (kept, not re-scanned, so a long line costs linear time).
        let mut in_quotes = self.csv_in_quotes;
        let quote = self.format.quote as u8;
        for (i, &b) in data.iter().enumerate() {
            if self.format.csv && b == quote {
                in_quotes = !in_quotes;
            }
            if b == b'\n' && !in_quotes {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&data[start..i]);
                start = i + 1;
                self.line(&line)?;
                if self.rows.len() >= COPY_BATCH_ROWS {
                    self.flush(s)?;
                }
            }
        }
        self.csv_in_quotes = in_quotes;
        self.partial.extend_from_slice(&data[start..]);
        if self.partial.len() > COPY_LINE_BYTES_MAX {
            return Err(SqlError::DataException(format!(
                "COPY line {} is longer than {COPY_LINE_BYTES_MAX} bytes",
                self.line_no + 1
            )));
        }
        Ok(())
    }

    fn line(&mut self, raw: &[u8]) -> SqlResult<()> {
        self.line_no += 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = std::str::from_utf8(raw).map_err(|_| {
            SqlError::InvalidText(format!(
                "invalid byte sequence for encoding \"UTF8\" (COPY line {})",
                self.line_no
            ))
        })?;
        if self.header_pending {
            self.header_pending = false;
            return Ok(());
        }
        if !self.format.csv && text == "\\." {
            return Ok(()); // end-of-data marker of the text format
        }
        let fields = if self.format.csv {
            split_csv(text, &self.format)
        } else {
            split_text(text, &self.format)
        }
        .map_err(|m| SqlError::InvalidText(format!("{m} (COPY line {})", self.line_no)))?;
        if fields.len() != self.targets.len() {
            let which = if fields.len() < self.targets.len() {
                "missing data for column"
            } else {
                "extra data after last expected column"
            };
            return Err(SqlError::InvalidText(format!(
                "{which} (COPY {}, line {})",
                self.def.name, self.line_no
            )));
        }
        self.rows.push(fields);
        Ok(())
    }

    /// PostgreSQL's binary COPY format: a signature header, then per tuple a field count
    /// and length-prefixed fields in each type's binary encoding, then a -1 trailer.
    fn feed_binary(&mut self, s: &Session, data: &[u8]) -> SqlResult<()> {
        const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
        self.partial.extend_from_slice(data);
        if self.partial.len() < self.binary_need {
            // The pending tuple is still incomplete: parse it once, when it can finish.
            if self.partial.len() > COPY_LINE_BYTES_MAX {
                return Err(SqlError::InvalidText(
                    "invalid COPY binary data: row too large".into(),
                ));
            }
            return Ok(());
        }
        let buf = std::mem::take(&mut self.partial);
        let mut pos = 0usize;
        let bad = |m: &str| SqlError::InvalidText(format!("invalid COPY binary data: {m}"));
        let read_i32 = |buf: &[u8], at: usize| -> Option<i32> {
            Some(i32::from_be_bytes(buf.get(at..at + 4)?.try_into().ok()?))
        };
        if !self.binary_header_done {
            if buf.len() < SIGNATURE.len() + 8 {
                self.partial = buf;
                return Ok(());
            }
            if &buf[..SIGNATURE.len()] != SIGNATURE {
                return Err(bad("missing PGCOPY signature"));
            }
            let ext = read_i32(&buf, SIGNATURE.len() + 4).ok_or_else(|| bad("header"))?;
            let header_len =
                SIGNATURE.len() + 8 + usize::try_from(ext).map_err(|_| bad("header extension"))?;
            if buf.len() < header_len {
                self.partial = buf;
                return Ok(());
            }
            pos = header_len;
            self.binary_header_done = true;
        }
        let types: Vec<basalt_common::SqlType> = self
            .targets
            .iter()
            .map(|&t| self.def.columns[t].ty.clone())
            .collect();
        let mut need = 0usize;
        while !self.binary_done {
            let Some(count) = buf
                .get(pos..pos + 2)
                .map(|b| i16::from_be_bytes([b[0], b[1]]))
            else {
                need = 2;
                break;
            };
            if count == -1 {
                self.binary_done = true;
                pos = buf.len();
                break;
            }
            if count as usize != types.len() {
                return Err(bad(&format!(
                    "row has {count} fields, expected {}",
                    types.len()
                )));
            }
            let mut at = pos + 2;
            let mut row = Vec::with_capacity(types.len());
            let mut complete = true;
            for ty in &types {
                let Some(len) = read_i32(&buf, at) else {
                    need = at + 4 - pos;
                    complete = false;
                    break;
                };
                at += 4;
                if len < 0 {
                    row.push(basalt_common::Value::Null);
                    continue;
                }
                let len = len as usize;
                let Some(field) = buf.get(at..at + len) else {
                    need = at + len - pos;
                    complete = false;
                    break;
                };
                row.push(crate::wire::decode_binary(ty, field)?);
                at += len;
            }
            if !complete {
                break;
            }
            pos = at;
            self.binary_rows.push(row);
            if self.binary_rows.len() >= COPY_BATCH_ROWS {
                self.flush(s)?;
            }
        }
        self.partial = buf[pos..].to_vec();
        self.binary_need = need;
        if self.partial.len() > COPY_LINE_BYTES_MAX || need > COPY_LINE_BYTES_MAX {
            return Err(bad("row too large"));
        }
        Ok(())
    }

    fn flush(&mut self, s: &Session) -> SqlResult<()> {
        if !self.binary_rows.is_empty() {
            let rows = std::mem::take(&mut self.binary_rows);
            let mut fields = Vec::new();
            let mut columns: Vec<ArrayRef> = Vec::new();
            for (j, &t) in self.targets.iter().enumerate() {
                let ty = &self.def.columns[t].ty;
                let mut b = basalt_common::value::ColumnBuilder::new(ty, rows.len());
                for r in &rows {
                    b.push(&r[j]);
                }
                columns.push(b.finish());
                fields.push(Field::new(format!("c{j}"), ty.to_arrow(), true));
            }
            let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
            let txn = Arc::clone(&self.txn);
            self.copied += crate::dml::insert_columns(s, &txn, &self.def, &self.targets, &[batch])?;
        }
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        let columns: Vec<ArrayRef> = (0..self.targets.len())
            .map(|j| {
                Arc::new(
                    rows.iter()
                        .map(|r| r[j].as_deref())
                        .collect::<StringArray>(),
                ) as ArrayRef
            })
            .collect();
        let fields: Vec<Field> = (0..columns.len())
            .map(|j| Field::new(format!("c{j}"), DataType::Utf8, true))
            .collect();
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        let txn = Arc::clone(&self.txn);
        self.copied += crate::dml::insert_columns(s, &txn, &self.def, &self.targets, &[batch])?;
        Ok(())
    }
}

/// Splits a text-format line: delimiter-separated, backslash escapes, `\N` (or the NULL
/// string) for NULL.
fn split_text(line: &str, f: &CopyFormat) -> Result<Vec<Option<String>>, String> {
    let mut out = Vec::new();
    for raw in line.split(f.delimiter) {
        if raw == f.null {
            out.push(None);
            continue;
        }
        let mut s = String::with_capacity(raw.len());
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '\\' {
                s.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => s.push('\n'),
                Some('t') => s.push('\t'),
                Some('r') => s.push('\r'),
                Some('b') => s.push('\u{8}'),
                Some('f') => s.push('\u{c}'),
                Some('v') => s.push('\u{b}'),
                Some('\\') => s.push('\\'),
                Some(d @ '0'..='7') => {
                    let mut v = d.to_digit(8).unwrap_or(0);
                    for _ in 0..2 {
                        match chars.peek().and_then(|c| c.to_digit(8)) {
                            Some(x) => {
                                v = v * 8 + x;
                                chars.next();
                            }
                            None => break,
                        }
                    }
                    s.push(char::from_u32(v).ok_or("invalid octal escape")?);
                }
                Some(other) => s.push(other),
                None => return Err("unterminated backslash escape".into()),
            }
        }
        out.push(Some(s));
    }
    Ok(out)
}

/// Splits a CSV line: quoted fields, doubled quotes; an unquoted empty field is NULL.
fn split_csv(line: &str, f: &CopyFormat) -> Result<Vec<Option<String>>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c == f.escape && f.escape != f.quote && chars.peek() == Some(&f.quote) {
                field.push(f.quote);
                chars.next();
            } else if c == f.quote {
                if f.escape == f.quote && chars.peek() == Some(&f.quote) {
                    field.push(f.quote);
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
        } else if c == f.quote {
            quoted = true;
            was_quoted = true;
        } else if c == f.delimiter {
            out.push(csv_value(std::mem::take(&mut field), was_quoted, f));
            was_quoted = false;
        } else {
            field.push(c);
        }
    }
    if quoted {
        return Err("unterminated CSV quoted field".into());
    }
    out.push(csv_value(field, was_quoted, f));
    Ok(out)
}

fn csv_value(field: String, was_quoted: bool, f: &CopyFormat) -> Option<String> {
    if !was_quoted && field == f.null {
        None
    } else {
        Some(field)
    }
}

async fn copy_out(s: &mut Session, source: CopySource, f: &CopyFormat) -> SqlResult<Output> {
    let query: Query = match source {
        CopySource::Query(q) => *q,
        CopySource::Table {
            table_name,
            columns,
        } => {
            let def = resolve_table(
                &s.engine().catalog(),
                &table_name,
                s.default_schema().as_deref(),
            )?;
            let cols = if columns.is_empty() {
                def.live_columns()
                    .map(|(_, c)| crate::eval::quote_ident(&c.name))
                    .collect::<Vec<_>>()
            } else {
                columns
                    .iter()
                    .map(|c| crate::eval::quote_ident(&c.value))
                    .collect()
            };
            let sql = format!(
                "SELECT {} FROM {}.{}",
                cols.join(", "),
                crate::eval::quote_ident(&def.schema),
                crate::eval::quote_ident(&def.name)
            );
            match crate::session::parse_sql(&sql)?.pop() {
                Some(datafusion::sql::sqlparser::ast::Statement::Query(q)) => *q,
                _ => return Err(SqlError::Internal("COPY query".into())),
            }
        }
    };
    let (schema, batches) = s.run_query(query).await?;
    let mut lines = Vec::new();
    if f.header {
        let names: Vec<String> = schema
            .fields()
            .iter()
            .map(|fl| csv_quote(crate::rewrite::display_name(fl.name()), f))
            .collect();
        let mut header = names.join(&f.delimiter.to_string()).into_bytes();
        header.push(b'\n');
        lines.push(header);
    }
    for batch in &batches {
        let columns: Vec<Vec<Option<String>>> = batch
            .columns()
            .iter()
            .map(pg_text_column)
            .collect::<SqlResult<_>>()?;
        for i in 0..batch.num_rows() {
            let mut data = Vec::new();
            let mut first = true;
            for col in &columns {
                if !first {
                    data.extend_from_slice(f.delimiter.to_string().as_bytes());
                }
                first = false;
                match &col[i] {
                    None => data.extend_from_slice(f.null.as_bytes()),
                    Some(v) if f.csv => data.extend_from_slice(csv_quote(v, f).as_bytes()),
                    Some(v) => data.extend_from_slice(text_escape(v, f.delimiter).as_bytes()),
                }
            }
            data.push(b'\n');
            lines.push(data);
        }
    }
    Ok(Output::CopyOut {
        lines,
        columns: schema.fields().len(),
        text_format: true,
    })
}

fn text_escape(v: &str, delimiter: char) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' if delimiter == '\t' => s.push_str("\\t"),
            c if c == delimiter => {
                s.push('\\');
                s.push(c);
            }
            c => s.push(c),
        }
    }
    s
}

fn csv_quote(v: &str, f: &CopyFormat) -> String {
    let needs = v.is_empty()
        || v.contains(f.delimiter)
        || v.contains(f.quote)
        || v.contains('\n')
        || v.contains('\r')
        || v == f.null;
    if !needs {
        return v.to_owned();
    }
    let q = f.quote.to_string();
    format!(
        "{q}{}{q}",
        v.replace(f.quote, &format!("{}{}", f.escape, f.quote))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boolean_options_take_postgresql_spellings() {
        let parsed = |sql: &str| crate::session::parse_sql(sql).map(|s| s[0].to_string());
        assert_eq!(
            parsed("copy t from stdin with (freeze on, header off)").unwrap(),
            "COPY t FROM STDIN (FREEZE, HEADER FALSE)"
        );
        assert_eq!(
            parsed("COPY t (a) FROM STDIN (FORMAT csv, HEADER 1)").unwrap(),
            "COPY t (a) FROM STDIN (FORMAT csv, HEADER)"
        );
        // Only option values are rewritten, and only in COPY.
        assert!(with_boolean_option_words("select 'on' from t").is_none());
        assert!(with_boolean_option_words("copy t from stdin (freeze true)").is_none());
        assert!(parsed("copy t from stdin with (freeze maybe)").is_err());
    }

    fn text() -> CopyFormat {
        CopyFormat {
            binary: false,
            csv: false,
            delimiter: '\t',
            null: "\\N".into(),
            header: false,
            quote: '"',
            escape: '"',
        }
    }

    fn csv() -> CopyFormat {
        CopyFormat {
            binary: false,
            csv: true,
            delimiter: ',',
            null: String::new(),
            header: false,
            quote: '"',
            escape: '"',
        }
    }

    #[test]
    fn text_format_splits_and_unescapes() {
        let r = split_text("1\ta\\tb\t\\N\tx\\\\y", &text()).unwrap();
        assert_eq!(
            r,
            vec![
                Some("1".into()),
                Some("a\tb".into()),
                None,
                Some("x\\y".into())
            ]
        );
    }

    #[test]
    fn csv_format_handles_quotes_and_nulls() {
        let r = split_csv("1,\"a,b\",,\"\",\"say \"\"hi\"\"\"", &csv()).unwrap();
        assert_eq!(
            r,
            vec![
                Some("1".into()),
                Some("a,b".into()),
                None,
                Some(String::new()),
                Some("say \"hi\"".into())
            ]
        );
        assert!(split_csv("\"open", &csv()).is_err());
    }

    #[test]
    fn csv_output_round_trips() {
        let f = csv();
        for v in ["plain", "a,b", "say \"hi\"", "", "line\nbreak"] {
            let quoted = csv_quote(v, &f);
            assert_eq!(split_csv(&quoted, &f).unwrap(), vec![Some(v.to_owned())]);
        }
    }
}
