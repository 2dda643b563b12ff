//! VACUUM and ANALYZE in PostgreSQL's grammar (sqlparser reads them in Redshift's and Hive's).
//!
//! VACUUM removes row versions no snapshot can see any more, now, for the named table (or
//! every table); the background collector does the same every few seconds. ANALYZE checks
//! its table and columns and returns: Basalt's planner keeps no stored statistics, so there
//! is nothing to collect. Both are recognised at the start of a statement, before the generic
//! parser, and carried to the session as sqlparser's `Vacuum` and `Analyze` statements.

use std::sync::Arc;

use basalt_storage::Transaction;
use datafusion::sql::sqlparser::ast::{Analyze, ObjectName, Statement, VacuumStatement};
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use crate::ddl::resolve_table;
use crate::error::{SqlError, SqlResult};
use crate::session::{Output, Session, TxnStatus};

const VACUUM_OPTIONS: &[&str] = &[
    "full",
    "freeze",
    "verbose",
    "analyze",
    "analyse",
    "disable_page_skipping",
    "skip_locked",
    "index_cleanup",
    "process_main",
    "process_toast",
    "truncate",
    "parallel",
    "skip_database_stats",
    "only_database_stats",
    "buffer_usage_limit",
];
const ANALYZE_OPTIONS: &[&str] = &["verbose", "skip_locked", "buffer_usage_limit"];

/// Parses a VACUUM or ANALYZE statement when the parser stands at one; `None` otherwise.
pub fn parse(p: &mut Parser) -> Result<Option<SqlResult<Statement>>, ParserError> {
    let word = match &p.peek_token_ref().token {
        Token::Word(w) => w.value.to_lowercase(),
        _ => return Ok(None),
    };
    let vacuum = match word.as_str() {
        "vacuum" => true,
        "analyze" | "analyse" => false,
        _ => return Ok(None),
    };
    p.next_token();
    let allowed = if vacuum {
        VACUUM_OPTIONS
    } else {
        ANALYZE_OPTIONS
    };
    let mut full = false;
    let mut analyze = !vacuum;
    if p.consume_token(&Token::LParen) {
        loop {
            let name = p.parse_identifier()?.value.to_lowercase();
            if !allowed.contains(&name.as_str()) {
                let what = if vacuum { "VACUUM" } else { "ANALYZE" };
                return Ok(Some(Err(SqlError::Syntax {
                    message: format!("unrecognized {what} option \"{name}\""),
                    position: None,
                })));
            }
            let mut value_on = true;
            if !matches!(p.peek_token_ref().token, Token::Comma | Token::RParen) {
                let value = p.next_token().token.to_string().to_lowercase();
                value_on = !matches!(value.as_str(), "false" | "off" | "0");
            }
            full |= name == "full" && value_on;
            analyze |= matches!(name.as_str(), "analyze" | "analyse") && value_on;
            if !p.consume_token(&Token::Comma) {
                p.expect_token(&Token::RParen)?;
                break;
            }
        }
    } else {
        // VACUUM [FULL] [FREEZE] [VERBOSE] [ANALYZE] / ANALYZE [VERBOSE], in this order.
        let words: &[&str] = if vacuum {
            &["full", "freeze", "verbose", "analyze"]
        } else {
            &["verbose"]
        };
        for w in words {
            let here = match &p.peek_token_ref().token {
                Token::Word(word) => word.value.to_lowercase(),
                _ => String::new(),
            };
            if here == *w || (*w == "analyze" && here == "analyse") {
                p.next_token();
                full |= *w == "full";
                analyze |= *w == "analyze";
            }
        }
    }
    let mut tables: Vec<(ObjectName, Vec<datafusion::sql::sqlparser::ast::Ident>)> = Vec::new();
    if !matches!(p.peek_token_ref().token, Token::EOF | Token::SemiColon) {
        loop {
            let name = p.parse_object_name(false)?;
            let mut columns = Vec::new();
            if p.consume_token(&Token::LParen) {
                columns = p.parse_comma_separated(|p| p.parse_identifier())?;
                p.expect_token(&Token::RParen)?;
            }
            tables.push((name, columns));
            if !p.consume_token(&Token::Comma) {
                break;
            }
        }
    }
    if !analyze && tables.iter().any(|(_, columns)| !columns.is_empty()) {
        return Ok(Some(Err(SqlError::unsupported(
            "ANALYZE option must be specified when a column list is provided",
        ))));
    }
    if tables.len() > 1 {
        return Ok(Some(Err(SqlError::unsupported(
            "VACUUM or ANALYZE of several tables in one statement is not supported yet; \
             name one table per statement",
        ))));
    }
    let (table_name, columns) = match tables.pop() {
        Some((name, columns)) => (Some(name), columns),
        None => (None, Vec::new()),
    };
    Ok(Some(Ok(if vacuum {
        Statement::Vacuum(VacuumStatement {
            full,
            sort_only: false,
            delete_only: false,
            reindex: false,
            recluster: false,
            table_name,
            threshold: None,
            boost: false,
        })
    } else {
        Statement::Analyze(Analyze {
            table_name,
            partitions: None,
            for_columns: false,
            columns,
            cache_metadata: false,
            noscan: false,
            compute_statistics: false,
            has_table_keyword: false,
        })
    })))
}

/// Runs a VACUUM or ANALYZE carried by [`parse`].
pub async fn run(s: &mut Session, _txn: &Arc<Transaction>, stmt: &Statement) -> SqlResult<Output> {
    let catalog = s.engine().catalog();
    let schema = s.default_schema();
    match stmt {
        Statement::Vacuum(v) => {
            if s.status() == TxnStatus::InBlock {
                return Err(SqlError::ActiveTransaction(
                    "VACUUM cannot run inside a transaction block".into(),
                ));
            }
            let table = match &v.table_name {
                Some(name) => Some(resolve_table(&catalog, name, schema.as_deref())?.id),
                None => None,
            };
            // A whole-table pass: off the runtime's threads.
            let engine = Arc::clone(s.engine());
            let removed = tokio::task::spawn_blocking(move || engine.vacuum(table))
                .await
                .map_err(|e| SqlError::Internal(format!("VACUUM: {e}")))?;
            tracing::debug!("VACUUM removed {removed} row versions");
            Ok(Output::Command("VACUUM".into()))
        }
        Statement::Analyze(a) => {
            if let Some(name) = &a.table_name {
                let def = resolve_table(&catalog, name, schema.as_deref())?;
                for c in &a.columns {
                    let col = crate::ddl::ident(c);
                    if def.column_position(&col).is_none() {
                        return Err(SqlError::UndefinedColumn(format!(
                            "column \"{col}\" of relation \"{}\" does not exist",
                            def.name
                        )));
                    }
                }
            }
            Ok(Output::Command("ANALYZE".into()))
        }
        other => Err(SqlError::Internal(format!(
            "not a maintenance statement: {other}"
        ))),
    }
}
