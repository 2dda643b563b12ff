//! A client session: its DataFusion context, its transaction state and its settings.
//!
//! Transaction states follow PostgreSQL: `Idle` (each statement is its own transaction),
//! `InBlock` after BEGIN, and `Failed` after an error inside a block, where every statement
//! but COMMIT/ROLLBACK fails with 25P02 until the block ends.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use basalt_storage::{Catalog, Engine, StorageConfig, Transaction};
use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionConfig;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    Expr, ObjectName, Query, Set, SetExpr, Statement, TransactionMode, Value as AstValue,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_pg_catalog::sql::rules::SqlStatementRewriteRule;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;

use crate::copy::CopyIn;
use crate::error::{SqlError, SqlResult};
use crate::provider::{BasaltCatalog, TxnSlot};
use crate::{ddl, dml, functions, params};

/// The name of the one database (PostgreSQL catalog) Basalt serves.
pub const DATABASE_NAME: &str = "basalt";
/// What `SELECT version()` and `server_version` report.
pub const SERVER_VERSION: &str = "15.0 (Basalt 0.1.0)";

/// The shared state of a running server: storage plus what every session needs.
pub struct Database {
    pub engine: Arc<Engine>,
    /// The catalog-query rewriter of datafusion-pg-catalog, used as a fallback: it replaces
    /// subqueries DataFusion cannot plan with NULL.
    compat: PostgresCompatibilityParser,
    /// The same rewrites minus that one, tried first so that answers stay complete.
    catalog_rules: Vec<Arc<dyn SqlStatementRewriteRule>>,
    /// MySQL connections, for `SHOW PROCESSLIST`.
    pub(crate) processes: parking_lot::Mutex<BTreeMap<u32, crate::mysql::Process>>,
    pub(crate) started: std::time::Instant,
    /// Every session's initial `basalt.engine` (`basalt serve --engine`).
    pub default_engine: crate::colscan::EngineChoice,
    /// New tables are loaded into the column engine (`basalt serve --columnar-tables all`).
    pub columnar_new_tables: bool,
}

impl Database {
    pub fn open(config: StorageConfig) -> SqlResult<Arc<Database>> {
        Database::open_with(config, crate::colscan::EngineChoice::Auto, false)
    }

    /// Opens with the column-engine defaults: the sessions' initial engine choice, and
    /// whether every new table is loaded into the column engine.
    pub fn open_with(
        config: StorageConfig,
        default_engine: crate::colscan::EngineChoice,
        columnar_new_tables: bool,
    ) -> SqlResult<Arc<Database>> {
        use datafusion_pg_catalog::sql::rules::*;
        let engine = Engine::open(config)?;
        let catalog_rules: Vec<Arc<dyn SqlStatementRewriteRule>> = vec![
            Arc::new(AliasDuplicatedProjectionRewrite),
            Arc::new(ResolveUnqualifiedIdentifier),
            Arc::new(RewriteArrayAnyAllOperation),
            Arc::new(PrependUnqualifiedPgTableName),
            Arc::new(StripCallableQualifier),
            Arc::new(FixArrayLiteral),
            Arc::new(CurrentUserVariableToSessionUserFunctionCall),
            Arc::new(StripCollate),
            Arc::new(RewritePgCatalogOperator),
            Arc::new(RewriteRegCastToSubquery::new()),
            Arc::new(FixVersionColumnName),
        ];
        Ok(Arc::new(Database {
            engine,
            compat: PostgresCompatibilityParser::new(),
            catalog_rules,
            processes: parking_lot::Mutex::new(BTreeMap::new()),
            started: std::time::Instant::now(),
            default_engine,
            columnar_new_tables,
        }))
    }

    /// A client tool's catalog query, rewritten faithfully: correlated scalar subqueries
    /// are aggregated so DataFusion plans them, and nothing is dropped.
    fn catalog_statements(
        &self,
        sql: &str,
        temp_schema: Option<&str>,
    ) -> SqlResult<Vec<Statement>> {
        parse_sql(sql)?
            .into_iter()
            .map(|mut s| {
                // Before the rules, whose form of `'t'::regclass` is NULL for a missing `t`.
                crate::rewrite::regclass_literals(&mut s, temp_schema);
                for rule in &self.catalog_rules {
                    s = rule.rewrite(s);
                }
                crate::rewrite::aggregate_scalar_subqueries(&mut s);
                tracing::debug!("catalog query rewritten: {s}");
                Ok(s)
            })
            .collect()
    }

    pub fn session(self: &Arc<Self>) -> SqlResult<Session> {
        Session::new(Arc::clone(self), Dialect::Postgres, None)
    }

    /// A session of a MySQL connection: MySQL dialect, autocommit, no database selected.
    pub fn mysql_session(self: &Arc<Self>, info: crate::mysql::ConnInfo) -> SqlResult<Session> {
        self.processes.lock().insert(
            info.connection_id,
            crate::mysql::Process {
                info: info.clone(),
                db: None,
                command: "Sleep",
                since: std::time::Instant::now(),
                query: None,
            },
        );
        Session::new(Arc::clone(self), Dialect::MySql, Some(info))
    }

    pub fn shutdown(&self) -> SqlResult<()> {
        Ok(self.engine.shutdown()?)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnStatus {
    Idle,
    InBlock,
    Failed,
}

enum TxnState {
    Idle,
    InBlock(Arc<Transaction>),
    /// An error happened in the block; the transaction is kept for ROLLBACK TO SAVEPOINT.
    Failed(Arc<Transaction>),
}

/// What a statement produced.
pub enum Output {
    /// Rows, with the command tag to which the protocol appends the row count
    /// (`SELECT`, or `INSERT 0` / `UPDATE` / `DELETE` for RETURNING).
    Rows {
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        tag: String,
    },
    /// A complete command tag (`INSERT 0 3`, `CREATE TABLE`, `BEGIN` ...).
    Command(String),
    /// COPY FROM STDIN: the protocol streams data into [`Session::copy_data`].
    CopyIn { columns: usize, text_format: bool },
    /// COPY TO STDOUT: the formatted data, one chunk per line (the protocol sends one
    /// CopyData message per chunk and counts them for the command tag).
    CopyOut {
        lines: Vec<Vec<u8>>,
        columns: usize,
        text_format: bool,
    },
}

/// A statement parsed once and executed many times (extended query protocol).
#[derive(Clone)]
pub struct Prepared {
    pub statement: Option<Statement>,
    /// Types of `$1..$n` as far as Basalt can infer them.
    pub param_types: Vec<Option<DataType>>,
    /// The columns a query returns (`None` for commands without rows).
    pub schema: Option<SchemaRef>,
    plan: Option<(LogicalPlan, Arc<Catalog>)>,
    /// For catalog queries: datafusion-pg-catalog's lossy form, run if this one fails.
    fallback: Option<Statement>,
    /// A MySQL command (`SHOW …`, `SET …`) prepared as text and run as such.
    pub(crate) raw: Option<String>,
    /// The fast-path form of the statement, when it has one, and its number of parameters.
    fast: Option<(crate::fastpath::FastPath, usize)>,
}

impl Prepared {
    /// A statement with nothing to run (an empty query).
    pub fn empty() -> Prepared {
        Prepared {
            statement: None,
            param_types: vec![],
            schema: None,
            plan: None,
            fallback: None,
            raw: None,
            fast: None,
        }
    }
}

/// The SQL dialect a session parses, chosen by the protocol it was opened through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    MySql,
}

pub struct Session {
    pub(crate) db: Arc<Database>,
    /// The start times of the current transaction and statement (`now()`, `'now'`).
    clock: Arc<crate::clock::SessionClock>,
    dialect: Dialect,
    pub(crate) my: crate::mysql::MyState,
    first_generated: functions::FirstGenerated,
    pub(crate) ctx: SessionContext,
    pub(crate) slot: Arc<TxnSlot>,
    state: TxnState,
    /// Session settings (SET/SHOW, current_setting()); shared with the SQL functions.
    settings: Arc<parking_lot::Mutex<BTreeMap<String, String>>>,
    pub(crate) copy: Option<CopyIn>,
    /// The statement being executed and whether it runs in its own transaction; set while it
    /// runs, so that a statement abandoned midway (query cancel) is rolled back.
    running: Option<(Arc<Transaction>, bool)>,
    /// Savepoints of the open block, oldest first: (name, undo position, whether the block
    /// was READ ONLY when the savepoint was set — RELEASE and ROLLBACK TO restore it).
    savepoints: Vec<(String, usize, bool)>,
    /// Objects created in the open block, each with the number of savepoints set when it
    /// was created: ROLLBACK removes them all, ROLLBACK TO the ones after the savepoint.
    created_in_block: Vec<(usize, crate::ddl_undo::Created)>,
    /// The block's own writes to tables the running DDL statement dropped (by table), kept
    /// so that rolling the drop back restores them too.
    discarded_writes: HashMap<basalt_common::TableId, basalt_storage::txn::TableWrites>,
    /// The tables the running DDL statement truncated.
    truncated_now: Vec<basalt_common::TableId>,
    /// Whether the open transaction block has run a statement (PostgreSQL's "first
    /// snapshot"): its access mode can no longer become READ WRITE.
    block_has_run: bool,
    /// Statements run on the fast path (`SHOW basalt.fast_path_statements`).
    fast_statements: u64,
    /// `SET basalt.fast_path = on|off`.
    fast_path: bool,
    /// Whether the current statement read the column engine; statements that did not are
    /// transactional work, which analytics yield the CPU to ([`crate::analytics`]).
    analytical: std::sync::atomic::AtomicBool,
    /// Whether the session's last query read the column engine: its next one is planned on
    /// the analytics runtime ([`crate::analytics::run_logical`]).
    analytical_session: std::sync::atomic::AtomicBool,
    /// DEFAULT expressions compiled once (see [`crate::eval::compile_default`]), by SQL text.
    pub(crate) compiled_defaults: parking_lot::Mutex<HashMap<String, Arc<dyn PhysicalExpr>>>,
    /// `SET datestyle` ([`crate::datetime::DateStyle::to_bits`]); shared with the analyzer
    /// rule that reads date and time literals.
    /// The session's [`crate::format::TextStyle`] (DateStyle and extra_float_digits).
    text_style: Arc<crate::format::SharedStyle>,
    /// The schema of this session's temporary tables, once it has one ([`crate::temp`]).
    temp_schema: Option<String>,
    /// Notices and warnings raised by the statements of the current request, with the index
    /// of the statement that raised each ([`Session::take_notices`]).
    notices: Vec<(usize, Notice)>,
    /// Notices raised where the session is only read (PL/pgSQL's RAISE in a trigger run
    /// while rows are written), joined to `notices` when they are taken.
    raised: crate::plpgsql::Raised,
    /// AFTER ROW trigger events of the running statement, run when it ends.
    pub(crate) after_rows: parking_lot::Mutex<Vec<crate::trigger::Queued>>,
    /// The index of the running statement within its request.
    statement_index: usize,
    /// The open block is the implicit one of a query string of several statements
    /// ([`Session::execute`]): it commits when the string ends, and rolls back when one
    /// of its statements fails.
    implicit_block: bool,
    /// What `RESET` returns each setting to: the server's default, or the value the client
    /// sent in its startup packet.
    reset_values: BTreeMap<String, String>,
    /// SQL-level prepared statements (`PREPARE name (types) AS …`), by name: the statement
    /// and its declared parameter types.
    sql_prepared: HashMap<String, (Statement, Vec<datafusion::sql::sqlparser::ast::DataType>)>,
    /// Open SQL cursors (`DECLARE … CURSOR`), by name.
    cursors: HashMap<String, crate::cursor::Cursor>,
}

/// A NOTICE or WARNING for the client (PostgreSQL's NoticeResponse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub severity: &'static str,
    pub code: &'static str,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// The 1-based character position in the query it is about.
    pub position: Option<usize>,
}

impl Drop for Session {
    /// A session's temporary tables end with it, and so do the objects its open block
    /// created (the block is rolled back).
    fn drop(&mut self) {
        let created: Vec<crate::ddl_undo::Created> = std::mem::take(&mut self.created_in_block)
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        if !created.is_empty() {
            let engine = Arc::clone(&self.db.engine);
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    if let Err(e) = crate::ddl_undo::undo(&engine, &created).await {
                        tracing::warn!("removing objects of a rolled-back block failed: {e}");
                    }
                });
            }
        }
        let Some(schema) = self.temp_schema.take() else {
            return;
        };
        let engine = Arc::clone(&self.db.engine);
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    if let Err(e) = crate::temp::drop_schema_objects(&engine, &schema).await {
                        tracing::warn!("dropping temporary schema {schema} failed: {e}");
                    }
                });
            }
            Err(_) => {
                tracing::warn!("temporary schema {schema} is left for the next start-up to drop")
            }
        }
    }
}

impl Session {
    fn new(
        db: Arc<Database>,
        dialect: Dialect,
        info: Option<crate::mysql::ConnInfo>,
    ) -> SqlResult<Session> {
        let mut config = SessionConfig::new()
            .with_default_catalog_and_schema(DATABASE_NAME, basalt_storage::catalog::DEFAULT_SCHEMA)
            .with_create_default_catalog_and_schema(false)
            // PostgreSQL sessions get DataFusion's information_schema through
            // `PgInformationSchema`, registered below.
            .with_information_schema(false)
            .with_target_partitions(2);
        let opts = config.options_mut();
        opts.sql_parser.map_string_types_to_utf8view = false;
        opts.sql_parser.parse_float_as_decimal = true;
        opts.execution.time_zone = Some("+00:00".into());
        // A window's rows come out in its sort order (PARTITION BY keys, then ORDER BY), as
        // PostgreSQL's WindowAgg returns them: hash-repartitioning the input would interleave
        // the partitions. The window then runs on one core (see `crate::winorder`).
        opts.optimizer.repartition_windows = false;
        if dialect == Dialect::Postgres {
            // A subquery's ORDER BY orders the rows its outer query reads, as in PostgreSQL:
            // `SELECT string_agg(x, ',') FROM (SELECT x FROM t ORDER BY x) s` aggregates them
            // in that order (DataFusion would drop a subquery's ORDER BY without LIMIT).
            opts.sql_parser.enable_subquery_sort_elimination = false;
        }
        if dialect == Dialect::MySql {
            // MySQL sorts NULL as the smallest value: first ascending, last descending.
            opts.sql_parser.default_null_ordering = "nulls_min".into();
        }
        let mut builder = crate::subquery::with_planner(
            datafusion::execution::session_state::SessionStateBuilder::new()
                .with_config(config)
                .with_default_features()
                .with_physical_optimizer_rule(Arc::new(crate::colscan::JoinFilterWaits))
                .with_physical_optimizer_rule(Arc::new(crate::winorder::SortedWindows))
                .with_physical_optimizer_rule(Arc::new(crate::pgsort::InOrderStreams)),
        );
        if dialect == Dialect::Postgres {
            // Rows with equal sort keys in PostgreSQL's order (MySQL orders them otherwise).
            builder = builder.with_physical_optimizer_rule(Arc::new(crate::pgsort::PgTieOrder));
            // Before DataFusion's own: `SUBSTRING` and `OVERLAY` of a bytea.
            if let Some(planners) = builder.expr_planners() {
                planners.insert(0, Arc::new(crate::bytea::ByteaPlanner::new()));
                planners.insert(0, Arc::new(crate::unknown::ArrayLiteralTypes));
            }
        }
        // Windows ordered by an interval or a time get their keys before DataFusion's type
        // coercion, which refuses RANGE offsets over them.
        if dialect == Dialect::Postgres {
            let mut rules = datafusion::optimizer::Analyzer::new().rules;
            let coercion = rules
                .iter()
                .position(|r| r.name() == "type_coercion")
                .unwrap_or(rules.len());
            rules.insert(coercion, Arc::new(crate::interval_order::RangeKeys));
            rules.insert(coercion, Arc::new(crate::unknown::UnknownSetOperands));
            rules.insert(coercion, Arc::new(crate::bytea::ByteaLike));
            rules.insert(coercion, Arc::new(crate::bytea::ByteaStringAgg));
            builder = builder.with_analyzer_rules(rules);
        }
        let state = builder.build();
        let mut state = state;
        if dialect == Dialect::Postgres {
            use datafusion::execution::FunctionRegistry;
            state.register_expr_planner(Arc::new(crate::unknown::UnknownLiterals))?;
        }
        let ctx = SessionContext::new_with_state(state);
        let clock = Arc::new(crate::clock::SessionClock::default());
        let slot = Arc::new(TxnSlot::default());
        slot.mysql_metadata.store(
            dialect == Dialect::MySql,
            std::sync::atomic::Ordering::Relaxed,
        );
        ctx.register_catalog(
            DATABASE_NAME,
            Arc::new(BasaltCatalog::new(
                Arc::clone(&db.engine),
                Arc::clone(&slot),
                ctx.state_weak_ref(),
            )),
        );
        setup_pg_catalog(&ctx, DATABASE_NAME, EmptyContextProvider)
            .map_err(|e| SqlError::Internal(format!("pg_catalog setup: {e}")))?;
        let shared_settings = Arc::new(parking_lot::Mutex::new(BTreeMap::new()));
        let first_generated = functions::register(&ctx, &db.engine);
        functions::register_settings(&ctx, &shared_settings);
        crate::pg_catalog::register_functions(&ctx, &db.engine);
        if let (Some(catalog), Dialect::Postgres) = (ctx.catalog(DATABASE_NAME), dialect) {
            let inner = datafusion::catalog::information_schema::InformationSchemaProvider::new(
                Arc::clone(ctx.state().catalog_list()),
            );
            catalog
                .register_schema(
                    "information_schema",
                    Arc::new(crate::pg_catalog::PgInformationSchema::new(
                        Arc::new(inner),
                        Arc::clone(&db.engine),
                        ctx.state_weak_ref(),
                    )),
                )
                .map_err(|e| SqlError::Internal(format!("information_schema setup: {e}")))?;
        }
        if let Some(catalog) = ctx.catalog(DATABASE_NAME) {
            if let Some(inner) = catalog.schema("pg_catalog") {
                let overlay = crate::pg_catalog::PgCatalogOverlay::new(
                    inner,
                    Arc::clone(&db.engine),
                    ctx.state_weak_ref(),
                );
                catalog
                    .register_schema("pg_catalog", Arc::new(overlay))
                    .map_err(|e| SqlError::Internal(format!("pg_catalog setup: {e}")))?;
            }
        }
        if dialect == Dialect::MySql {
            // MySQL's VARIANCE, STD and STDDEV are the population statistics.
            register_aggregate_as(&ctx, "var_pop", "variance");
            register_aggregate_as(&ctx, "stddev_pop", "std");
            register_aggregate_as(&ctx, "stddev_pop", "stddev");
            if let Some(catalog) = ctx.catalog(DATABASE_NAME) {
                catalog
                    .register_schema(
                        "information_schema",
                        Arc::new(crate::mysql::info_schema::MyInformationSchema::new(
                            Arc::clone(&db.engine),
                            ctx.state_weak_ref(),
                        )),
                    )
                    .map_err(|e| SqlError::Internal(format!("information_schema setup: {e}")))?;
            }
        }
        let text_style = Arc::new(crate::format::SharedStyle::default());
        ctx.add_analyzer_rule(Arc::new(crate::setops::MultisetSetOps));
        ctx.add_analyzer_rule(Arc::new(crate::interval_order::IntervalComparisons));
        // Before the integer rule, which turns casts to integers into casts of rounded values.
        ctx.add_analyzer_rule(Arc::new(crate::numeric::PgNumeric {
            text_input: dialect == Dialect::Postgres,
        }));
        ctx.add_analyzer_rule(Arc::new(crate::analyzer::CheckedIntegerArithmetic::new(
            Arc::clone(&text_style),
            dialect == Dialect::Postgres,
        )));
        ctx.add_analyzer_rule(Arc::new(crate::subquery::DeferNullableIn));
        ctx.add_analyzer_rule(Arc::new(crate::exclusion::FrameExclusions));
        ctx.add_analyzer_rule(Arc::new(crate::pgagg::SlidingFrames {
            pg_rules: dialect == Dialect::Postgres,
        }));
        if dialect == Dialect::Postgres {
            ctx.add_analyzer_rule(Arc::new(crate::aggorder::SubqueryOrderAggregates));
        }
        ctx.add_analyzer_rule(Arc::new(crate::shared::ShareRepeatedSubqueries));
        if dialect == Dialect::Postgres {
            for udf in crate::regexp::PgRegexp::udfs()
                .into_iter()
                .chain(crate::regexp::PgSubstring::udfs())
                .chain(crate::regexp::PgRegexpList::udfs())
            {
                ctx.register_udf(udf);
            }
            ctx.register_udf(crate::pgformat::PgFormat::udf());
            for udf in crate::tochar::udfs(&text_style) {
                ctx.register_udf(udf);
            }
            // Float variance and standard deviation with PostgreSQL's transition (`variance`
            // is the sample variance), `every` as `bool_and`, and the transition functions.
            for udaf in crate::pgagg::spread_udafs(&ctx) {
                ctx.register_udaf(udaf);
            }
            for udaf in crate::ordered_set::udafs() {
                ctx.register_udaf(udaf);
            }
            for udwf in crate::pgshift::udwfs() {
                ctx.register_udwf(udwf);
            }
            register_aggregate_as(&ctx, "bool_and", "every");
            for udf in crate::pgagg::transition_udfs() {
                ctx.register_udf(udf);
            }
            for udf in crate::pgmath::udfs() {
                ctx.register_udf(udf);
            }
            for udf in crate::pgbytes::udfs()
                .into_iter()
                .chain(crate::clock::udfs(&clock))
                .chain(crate::bytea::udfs())
                .chain(crate::variadic::udfs())
                .chain(crate::fromchar::udfs(&ctx))
                .chain([
                    crate::datebin::udf(),
                    crate::datebin::date_trunc_udf(),
                    crate::make_timestamp::udf(),
                    crate::make_timestamp::make_date_udf(),
                    crate::make_timestamp::make_time_udf(),
                    crate::precision::udf(),
                    crate::numeric::typmod_udf(),
                    crate::datetime::isfinite_udf(),
                    crate::arrays::array_length_udf(),
                    crate::subscript_assign::udf(),
                    crate::srf::generate_series_udf(&text_style),
                    crate::srf::PgGenerateSeries::udf_in_zone(&text_style),
                ])
            {
                ctx.register_udf(udf);
            }
            for udf in crate::pgfloat::udfs()
                .into_iter()
                .chain(crate::pgmath::gcd_lcm_udfs())
            {
                ctx.register_udf(udf);
            }
            ctx.register_udf(
                datafusion::functions::math::ceil()
                    .as_ref()
                    .clone()
                    .with_aliases(["ceiling"]),
            );
            for udf in crate::pgformat::quote_udfs() {
                ctx.register_udf(udf);
            }
            crate::srf::register_generate_series_table(&ctx);
            for udf in crate::zone::local_clock_udfs(&clock, &text_style) {
                ctx.register_udf(udf);
            }
            ctx.register_udf(crate::zone::at_time_zone_udf());
            // Before the date/time input rule, which reads text the casts it adds hold.
            ctx.add_analyzer_rule(Arc::new(crate::zone::SessionZoneRule::new(Arc::clone(
                &text_style,
            ))));
            ctx.add_analyzer_rule(Arc::new(crate::analyzer::PgDateTimeInput::new(Arc::clone(
                &text_style,
            ))));
        }
        let mut settings = BTreeMap::new();
        for (k, v) in [
            ("server_version", SERVER_VERSION),
            ("server_encoding", "UTF8"),
            ("client_encoding", "UTF8"),
            ("datestyle", "ISO, MDY"),
            ("timezone", "UTC"),
            ("search_path", "\"$user\", public"),
            ("standard_conforming_strings", "on"),
            ("escape_string_warning", "on"),
            ("transaction_isolation", "repeatable read"),
            ("default_transaction_isolation", "repeatable read"),
            ("integer_datetimes", "on"),
            ("intervalstyle", "postgres"),
            ("application_name", ""),
            ("extra_float_digits", "1"),
            ("bytea_output", "hex"),
            ("max_identifier_length", "63"),
            ("lock_timeout", "0"),
            ("statement_timeout", "0"),
            ("default_table_access_method", "heap"),
            ("lc_collate", "C.UTF-8"),
            ("lc_ctype", "C.UTF-8"),
            ("is_superuser", "on"),
            ("session_authorization", "postgres"),
            ("max_connections", "100"),
            ("idle_in_transaction_session_timeout", "0"),
            ("default_transaction_read_only", "off"),
            ("transaction_read_only", "off"),
            ("transaction_deferrable", "off"),
            ("default_transaction_deferrable", "off"),
            ("basalt.fast_path", "on"),
        ] {
            settings.insert(k.to_owned(), v.to_owned());
        }
        settings.insert("basalt.engine".into(), db.default_engine.name().into());
        slot.set_engine(db.default_engine);
        let my = crate::mysql::MyState::new(info.unwrap_or(crate::mysql::ConnInfo {
            connection_id: 0,
            user: "postgres".into(),
            host: String::new(),
        }));
        ctx.register_udf(crate::mysql::functions::div_udf(Arc::clone(
            &my.div_by_zero,
        )));
        let session = Session {
            db,
            dialect,
            my,
            first_generated,
            ctx,
            slot,
            state: TxnState::Idle,
            settings: {
                *shared_settings.lock() = settings;
                shared_settings
            },
            copy: None,
            running: None,
            savepoints: Vec::new(),
            created_in_block: Vec::new(),
            discarded_writes: HashMap::new(),
            truncated_now: Vec::new(),
            block_has_run: false,
            fast_statements: 0,
            compiled_defaults: parking_lot::Mutex::new(HashMap::new()),
            fast_path: true,
            analytical: std::sync::atomic::AtomicBool::new(false),
            analytical_session: std::sync::atomic::AtomicBool::new(false),
            text_style,
            temp_schema: None,
            notices: Vec::new(),
            raised: Arc::default(),
            after_rows: parking_lot::Mutex::new(Vec::new()),
            statement_index: 0,
            implicit_block: false,
            reset_values: BTreeMap::new(),
            sql_prepared: HashMap::new(),
            cursors: HashMap::new(),
            clock,
        };
        if dialect == Dialect::MySql {
            session.set_default_schema(None);
        }
        let mut session = session;
        session.reset_values = session.settings.lock().clone();
        Ok(session)
    }

    pub fn is_mysql(&self) -> bool {
        self.dialect == Dialect::MySql
    }

    /// The session's clock, for the task that serves its connection (`clock::CLOCK`).
    pub fn clock(&self) -> Arc<crate::clock::SessionClock> {
        Arc::clone(&self.clock)
    }

    /// Raises a notice for the client, sent before the running statement's result.
    pub(crate) fn notice(&mut self, severity: &'static str, code: &'static str, message: String) {
        self.push_notice(severity, code, message, None);
    }

    /// A notice with PostgreSQL's DETAIL line.
    pub(crate) fn notice_with_detail(
        &mut self,
        severity: &'static str,
        code: &'static str,
        message: String,
        detail: String,
    ) {
        self.push_notice(severity, code, message, Some(detail));
    }

    fn push_notice(
        &mut self,
        severity: &'static str,
        code: &'static str,
        message: String,
        detail: Option<String>,
    ) {
        self.notices.push((
            self.statement_index,
            Notice {
                severity,
                code,
                message,
                detail,
                hint: None,
                position: None,
            },
        ));
    }

    /// PostgreSQL's notice for `DROP … IF EXISTS` of an object that does not exist.
    pub(crate) fn skipping_notice(&mut self, kind: &str, name: &str) {
        if !self.is_mysql() {
            self.notice(
                "NOTICE",
                "00000",
                format!("{kind} \"{name}\" does not exist, skipping"),
            );
        }
    }

    /// The text to parse for `sql` (its string literals read as PostgreSQL reads them, see
    /// [`crate::literals`]); `None` when it is `sql` itself. The lexer's warnings become
    /// notices of the first statement.
    fn read_literals(&mut self, sql: &str) -> SqlResult<Option<String>> {
        let on = |name: &str, default: bool| {
            self.setting(name).map_or(default, |v| {
                !matches!(v.to_lowercase().as_str(), "off" | "false" | "no" | "0")
            })
        };
        let settings = crate::literals::LiteralSettings {
            standard_conforming_strings: on("standard_conforming_strings", true),
            escape_string_warning: on("escape_string_warning", true),
        };
        let (text, warnings) = crate::literals::normalize(sql, settings)?;
        for w in warnings {
            self.notices.push((
                0,
                Notice {
                    severity: "WARNING",
                    code: "22P06",
                    message: w.message,
                    detail: None,
                    hint: Some(w.hint),
                    position: Some(w.position),
                },
            ));
        }
        Ok(text)
    }

    /// The notices raised since the last call, each with the index of its statement in the
    /// request (0 for the only statement of an extended-protocol execution).
    pub fn take_notices(&mut self) -> Vec<(usize, Notice)> {
        let raised = std::mem::take(&mut *self.raised.lock());
        let mut all = std::mem::take(&mut self.notices);
        all.extend(raised);
        // Stable: each statement's notices keep the order they were raised in.
        all.sort_by_key(|(statement, _)| *statement);
        all
    }

    /// Registers the scalar functions that run these PL/pgSQL functions for the statement
    /// about to be planned ([`crate::plcall`]).
    pub(crate) fn register_plpgsql(
        &self,
        functions: &[basalt_storage::catalog::FunctionDef],
    ) -> SqlResult<()> {
        for f in functions {
            self.ctx
                .register_udf(crate::plcall::udf(f, self.plpgsql_host())?);
        }
        Ok(())
    }

    /// What PL/pgSQL code needs of the session to run, away from it: the planner's state,
    /// the date order, and where its RAISE notices go.
    pub(crate) fn plpgsql_host(&self) -> crate::plpgsql::Host {
        crate::plpgsql::Host {
            state: self.ctx.state(),
            date_order: self.date_order(),
            notices: (!self.is_mysql()).then(|| (Arc::clone(&self.raised), self.statement_index)),
        }
    }

    /// The schema of this session's temporary tables, created on first use.
    /// The session's temporary schema, if it has made one.
    pub(crate) fn temp_schema_name(&self) -> Option<String> {
        self.temp_schema.clone()
    }

    pub(crate) async fn temp_schema(&mut self) -> SqlResult<String> {
        if let Some(s) = &self.temp_schema {
            return Ok(s.clone());
        }
        let mut schema = String::new();
        self.db
            .engine
            .ddl(|c: &mut basalt_storage::catalog::Catalog| {
                // A fresh name: never another session's schema or one left behind.
                schema = crate::temp::new_temp_schema_name();
                while c.schemas.contains_key(&schema) {
                    schema = crate::temp::new_temp_schema_name();
                }
                crate::ddl::add_schema(c, &schema);
                Ok::<_, SqlError>(vec![])
            })
            .await?;
        self.temp_schema = Some(schema.clone());
        Ok(schema)
    }

    /// Points unqualified names of this session's temporary tables at its temporary schema,
    /// and refuses names in another session's (`sql` is the statement's text, which shows
    /// cheaply whether a temporary schema is named at all).
    pub(crate) fn resolve_temp_tables(&self, stmt: &mut Statement, sql: &str) -> SqlResult<()> {
        if sql
            .to_ascii_lowercase()
            .contains(crate::temp::TEMP_SCHEMA_PREFIX)
        {
            crate::temp::check_other_sessions(stmt, self.temp_schema.as_deref())?;
        }
        self.resolve_temp_names(stmt);
        // PostgreSQL searches pg_catalog before the search path (after the temporary
        // schema): an unqualified `pg_class` is the system catalog.
        if sql.to_ascii_lowercase().contains("pg_") {
            let system: std::collections::HashSet<String> = self
                .ctx
                .catalog(DATABASE_NAME)
                .and_then(|c| c.schema("pg_catalog"))
                .map(|s| s.table_names())
                .unwrap_or_default()
                .into_iter()
                .filter(|n| n.starts_with("pg_"))
                .collect();
            crate::temp::qualify_temp_tables(stmt, "pg_catalog", &system);
        }
        Ok(())
    }

    /// Points unqualified names of this session's temporary tables and views at its
    /// temporary schema.
    fn resolve_temp_names(&self, stmt: &mut Statement) {
        let Some(schema) = &self.temp_schema else {
            return;
        };
        // Temporary tables and temporary views.
        let catalog = self.engine().catalog();
        let tables: std::collections::HashSet<String> = catalog
            .tables
            .values()
            .filter(|t| &t.schema == schema)
            .map(|t| t.name.clone())
            .chain(
                catalog
                    .views
                    .values()
                    .filter(|v| &v.schema == schema)
                    .map(|v| v.name.clone()),
            )
            .collect();
        crate::temp::qualify_temp_tables(stmt, schema, &tables);
    }

    /// The session's `DateStyle`: how dates and timestamps print and how ambiguous ones read.
    pub fn date_style(&self) -> crate::datetime::DateStyle {
        self.text_style().dates
    }

    /// How the session prints values as text (DateStyle, extra_float_digits).
    pub fn text_style(&self) -> crate::format::TextStyle {
        self.text_style.load()
    }

    fn set_text_style(&self, style: crate::format::TextStyle) {
        self.text_style.store(style);
        self.clock.set_zone(style.zone);
    }

    /// The field order for reading date text, or `None` in a MySQL session (MySQL's own
    /// reading of dates applies there).
    /// How the session reads date/time text: DateStyle's field order and its TimeZone.
    pub fn date_input(&self) -> crate::datetime::DateInput {
        let style = self.text_style();
        crate::datetime::DateInput {
            order: style.dates.order,
            zone: style.zone,
        }
    }

    pub(crate) fn date_order(&self) -> Option<crate::datetime::DateInput> {
        let style = self.text_style();
        (!self.is_mysql()).then_some(crate::datetime::DateInput {
            order: style.dates.order,
            zone: style.zone,
        })
    }

    /// Applies a parameter a PostgreSQL client sent in its startup packet (libpq sends
    /// `PGDATESTYLE` as `datestyle`, `PGTZ` as `timezone`). Parameters Basalt has no use for
    /// are ignored.
    pub fn apply_startup_parameter(&mut self, name: &str, value: &str) -> SqlResult<()> {
        match name.to_lowercase().as_str() {
            // The user the client connected as: `current_user`, `session_user`.
            "user" if !value.is_empty() => {
                let key = "session_authorization".to_owned();
                self.settings.lock().insert(key.clone(), value.to_owned());
                self.reset_values.insert(key, value.to_owned());
                Ok(())
            }
            n @ ("datestyle" | "application_name" | "extra_float_digits" | "intervalstyle"
            | "timezone") => self.apply_startup_setting(n, value),
            // libpq's PGOPTIONS: `-c name=value` (or `--name=value`) for any setting.
            "options" => {
                for (n, v) in startup_options(value)? {
                    self.apply_startup_setting(&n, &v)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A setting a client gave at connection: it is also what RESET returns to.
    fn apply_startup_setting(&mut self, name: &str, value: &str) -> SqlResult<()> {
        let name = name.to_lowercase();
        self.apply_setting(&name, value.to_owned())?;
        if let Some(v) = self.settings.lock().get(&name) {
            self.reset_values.insert(name.clone(), v.clone());
        }
        Ok(())
    }

    /// Where unqualified table names live: `public` for PostgreSQL, the current database
    /// for MySQL (`None` until one is selected).
    pub fn default_schema(&self) -> Option<String> {
        match self.dialect {
            Dialect::Postgres => Some(basalt_storage::catalog::DEFAULT_SCHEMA.to_owned()),
            Dialect::MySql => self.my.database.clone(),
        }
    }

    /// Points the planner's unqualified names at `schema` (a schema no table lives in when
    /// `None`: MySQL statements check for a selected database before planning).
    pub(crate) fn set_default_schema(&self, schema: Option<&str>) {
        let state = self.ctx.state_ref();
        let mut state = state.write();
        state.config_mut().options_mut().catalog.default_schema =
            schema.unwrap_or("__basalt_no_database__").to_owned();
    }

    /// Whether FOREIGN KEY constraints are checked: always in PostgreSQL sessions; in MySQL
    /// sessions unless `foreign_key_checks` is off (as dump files set it while they load).
    pub(crate) fn foreign_key_checks(&self) -> bool {
        !(self.is_mysql()
            && self
                .my
                .vars
                .get("foreign_key_checks")
                .is_some_and(|v| v == "0"))
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.db.engine
    }

    pub fn status(&self) -> TxnStatus {
        match self.state {
            TxnState::Idle => TxnStatus::Idle,
            TxnState::InBlock(_) => TxnStatus::InBlock,
            TxnState::Failed(_) => TxnStatus::Failed,
        }
    }

    /// Parses SQL text into statements, with PostgreSQL-style positions on syntax errors.
    pub fn parse(&self, sql: &str) -> SqlResult<Vec<Statement>> {
        parse_sql(sql)
    }

    /// Parses SQL; catalog queries of client tools go through the PostgreSQL-compatibility
    /// rewriter (it turns `::regclass`, `OPERATOR(pg_catalog.~)`, `array(select …)` … into
    /// forms DataFusion plans). User queries are never rewritten by it: some of its rules
    /// change results (they replace unsupported subqueries), acceptable only for catalogs.
    fn parse_for_execution(&self, sql: &str) -> SqlResult<Vec<Statement>> {
        if is_introspection(sql) {
            let temp = self.temp_schema_name();
            if let Ok(statements) = self.db.catalog_statements(sql, temp.as_deref()) {
                return Ok(statements);
            }
            if let Ok(statements) = self.db.compat.parse(sql) {
                return Ok(statements);
            }
        }
        self.parse(sql)
    }

    /// A catalog query that DataFusion could not run as written is retried in the form
    /// datafusion-pg-catalog rewrites it to (unsupported subqueries answered as NULL).
    async fn retry_catalog_query(
        &mut self,
        sql: &str,
        index: usize,
        before: TxnStatus,
    ) -> Option<SqlResult<Output>> {
        let stmt = self.db.compat.parse(sql).ok()?.into_iter().nth(index)?;
        if !matches!(stmt, Statement::Query(_)) {
            return None;
        }
        // The failed attempt was a read: it must not leave a block in the failed state.
        if before == TxnStatus::InBlock {
            if let TxnState::Failed(t) = &self.state {
                self.state = TxnState::InBlock(Arc::clone(t));
            }
        }
        Some(self.execute_statement(stmt).await)
    }

    /// Runs every statement of a simple query; stops at the first error, as PostgreSQL does.
    pub async fn execute(&mut self, sql: &str) -> Vec<SqlResult<Output>> {
        let out = self.execute_statements(sql).await;
        self.clock
            .statement_finished(self.status() != TxnStatus::Idle);
        out
    }

    async fn execute_statements(&mut self, sql: &str) -> Vec<SqlResult<Output>> {
        self.recover_abandoned();
        self.statement_index = 0;
        if self.is_mysql() {
            return self.execute_mysql(sql).await;
        }
        let read = match self.read_literals(sql) {
            Ok(read) => read,
            Err(e) => {
                self.fail_block();
                return vec![Err(e)];
            }
        };
        let sql: &str = read.as_deref().unwrap_or(sql);
        let statements = match self.parse_for_execution(sql) {
            Ok(s) => s,
            Err(e) => {
                self.fail_block();
                return vec![Err(crate::error::locate(e, sql))];
            }
        };
        let introspection = is_introspection(sql);
        // Several statements in one query string run as one transaction, as in PostgreSQL
        // (a COPY FROM STDIN among them reads its rows after the string has run: not then).
        let several = statements.len() > 1
            && !statements
                .iter()
                .any(|s| matches!(s, Statement::Copy { to: false, .. }));
        let mut out = Vec::with_capacity(statements.len());
        for (index, mut stmt) in statements.into_iter().enumerate() {
            self.statement_index = index;
            self.clock
                .statement_started(self.status() != TxnStatus::Idle);
            if several && self.status() == TxnStatus::Idle && !ends_block(&stmt) {
                self.begin_implicit();
            }
            if self.implicit_block {
                if let Some(result) = self.implicit_block_control(&stmt).await {
                    let failed = result.is_err();
                    out.push(result.map_err(|e| crate::error::locate(e, sql)));
                    if failed {
                        if let Err(e) = self.end_implicit(false).await {
                            out.push(Err(e));
                        }
                        break;
                    }
                    continue;
                }
            }
            let before = self.status();
            let is_query = matches!(stmt, Statement::Query(_));
            let mut result = match self
                .expand_sql_execute(&mut stmt)
                .and_then(|()| self.resolve_temp_tables(&mut stmt, sql))
                .map(|()| {
                    let temp = self.temp_schema_name();
                    crate::rewrite::regclass_literals(&mut stmt, temp.as_deref())
                })
                .and_then(|()| crate::rewrite::rewrite(&mut stmt))
                .and_then(|()| self.user_functions(&mut stmt))
                .and_then(|()| self.inline_functions(&mut stmt))
            {
                Ok(()) => match self.run_fast_simple(&stmt).await {
                    Some(r) => r,
                    None => Box::pin(self.execute_statement(stmt)).await,
                },
                Err(e) => {
                    self.fail_block();
                    Err(e)
                }
            };
            // A relation that does not exist (`'t'::regclass` of a missing `t`) is the
            // query's own error: the lossy form would answer NULL instead.
            let lossy_retry = introspection
                && is_query
                && result.as_ref().is_err_and(|e| e.sqlstate() != "42P01");
            if let (Err(e), true) = (&result, lossy_retry) {
                tracing::debug!("catalog query failed as written ({e}); retrying the lossy form");
                if let Some(retried) = self.retry_catalog_query(sql, index, before).await {
                    result = retried;
                }
            }
            let failed = result.is_err();
            out.push(result.map_err(|e| crate::error::locate(e, sql)));
            if failed {
                if self.implicit_block {
                    if let Err(e) = self.end_implicit(false).await {
                        out.push(Err(e));
                    }
                }
                break;
            }
        }
        if self.implicit_block {
            if let Err(e) = self.end_implicit(true).await {
                out.push(Err(e));
            }
        }
        out
    }

    /// Opens the implicit block of a query string of several statements.
    fn begin_implicit(&mut self) {
        self.open_block(None);
        self.implicit_block = true;
    }

    /// Ends the implicit block: commits it, or rolls it back (with what it created).
    async fn end_implicit(&mut self, commit: bool) -> SqlResult<()> {
        self.implicit_block = false;
        if commit && self.status() == TxnStatus::InBlock {
            return self.commit(false).await.map(|_| ());
        }
        let created = std::mem::take(&mut self.created_in_block);
        self.rollback();
        self.end_block(false);
        self.remove_created(created).await
    }

    /// Transaction statements in an implicit block, as PostgreSQL has them there: BEGIN
    /// makes the block an explicit one, COMMIT and ROLLBACK end it with a warning that
    /// there was no (explicit) transaction, and savepoints and AND CHAIN are refused.
    async fn implicit_block_control(&mut self, stmt: &Statement) -> Option<SqlResult<Output>> {
        let refuse = |what: &str| {
            Some(Err(SqlError::NoActiveTransaction(format!(
                "{what} can only be used in transaction blocks"
            ))))
        };
        match stmt {
            Statement::StartTransaction { modes, begin, .. } => {
                self.implicit_block = false;
                if let Some(read_only) = access_mode(modes) {
                    self.set_read_only(read_only);
                }
                Some(Ok(Output::Command(
                    if *begin { "BEGIN" } else { "START TRANSACTION" }.into(),
                )))
            }
            Statement::Commit { chain: true, .. } => refuse("COMMIT AND CHAIN"),
            Statement::Rollback {
                chain: true,
                savepoint: None,
            } => refuse("ROLLBACK AND CHAIN"),
            Statement::Savepoint { .. } => refuse("SAVEPOINT"),
            Statement::ReleaseSavepoint { .. } => refuse("RELEASE SAVEPOINT"),
            Statement::Rollback {
                savepoint: Some(_), ..
            } => refuse("ROLLBACK TO SAVEPOINT"),
            Statement::Commit { .. } | Statement::Rollback { .. } => {
                let commit = matches!(stmt, Statement::Commit { .. });
                self.notice(
                    "WARNING",
                    "25P01",
                    "there is no transaction in progress".into(),
                );
                let tag = if commit { "COMMIT" } else { "ROLLBACK" };
                Some(
                    self.end_implicit(commit)
                        .await
                        .map(|()| Output::Command(tag.into())),
                )
            }
            _ => None,
        }
    }

    /// At the end of a transaction block: its cursors close, except those declared WITH
    /// HOLD when it commits.
    fn close_block_cursors(&mut self, committed: bool) {
        self.cursors
            .retain(|_, c| c.hold && (committed || !c.in_block));
        for c in self.cursors.values_mut() {
            c.in_block = false;
        }
    }

    /// The columns a FETCH from cursor `name` returns.
    pub(crate) fn cursor_schema(&self, name: &str) -> Option<SchemaRef> {
        self.cursors.get(name).map(|c| c.rows.schema())
    }

    /// `DECLARE name [NO] SCROLL CURSOR [WITH HOLD] FOR query`: the query's rows, read now.
    async fn declare_cursor(
        &mut self,
        decl: datafusion::sql::sqlparser::ast::Declare,
    ) -> SqlResult<Output> {
        let Some(query) = decl.for_query else {
            return Err(SqlError::unsupported(
                "DECLARE outside PL/pgSQL declares cursors only",
            ));
        };
        let name = decl
            .names
            .first()
            .map(crate::ddl::ident)
            .unwrap_or_default();
        let hold = decl.hold == Some(true);
        let in_block = self.status() != TxnStatus::Idle;
        let depth = self.savepoints.len();
        if !in_block && !hold {
            return Err(SqlError::NoActiveTransaction(
                "DECLARE CURSOR can only be used in transaction blocks".into(),
            ));
        }
        if self.cursors.contains_key(&name) {
            return Err(SqlError::Detailed {
                sqlstate: "42P03",
                message: format!("cursor \"{name}\" already exists"),
                detail: String::new(),
                hint: None,
            });
        }
        let plan = self.plan(Statement::Query(query)).await?;
        let columns = Arc::new(plan.schema().as_arrow().clone());
        let cursor = match self.run_plan(plan).await {
            Ok((schema, batches)) => {
                let rows = datafusion::arrow::compute::concat_batches(&schema, &batches)?;
                crate::cursor::Cursor::new(rows, decl.scroll, hold, in_block)
            }
            Err(e) if crate::cursor::Cursor::defers(&e) => {
                let rows = RecordBatch::new_empty(columns);
                crate::cursor::Cursor::failed(rows, e, decl.scroll, hold, in_block)
            }
            Err(e) => return Err(e),
        };
        let mut cursor = cursor;
        cursor.depth = depth;
        self.cursors.insert(name, cursor);
        Ok(Output::Command("DECLARE CURSOR".into()))
    }

    fn fetch_cursor(
        &mut self,
        moves: bool,
        name: &str,
        direction: &crate::custom::FetchDirection,
    ) -> SqlResult<Output> {
        let cursor = self
            .cursors
            .get_mut(name)
            .ok_or_else(|| crate::cursor::no_such_cursor(name))?;
        let rows = cursor.fetch(name, direction)?;
        if moves {
            return Ok(Output::Command(format!("MOVE {}", rows.num_rows())));
        }
        Ok(Output::Rows {
            schema: rows.schema(),
            batches: vec![rows],
            tag: "FETCH".into(),
        })
    }

    /// `EXECUTE name (args)` replaced by the statement `PREPARE name` kept, its parameters
    /// replaced by the arguments (cast to the declared types), so that it runs — and is
    /// described to extended-protocol clients — as that statement.
    fn expand_sql_execute(&self, stmt: &mut Statement) -> SqlResult<()> {
        let Statement::Execute {
            name: Some(name),
            parameters,
            immediate: false,
            ..
        } = stmt
        else {
            return Ok(());
        };
        if self.is_mysql() {
            return Ok(());
        }
        let key = object_name_parts(name).pop().unwrap_or_default();
        let Some((prepared, types)) = self.sql_prepared.get(&key) else {
            return Err(SqlError::Detailed {
                sqlstate: "26000",
                message: format!("prepared statement \"{key}\" does not exist"),
                detail: String::new(),
                hint: None,
            });
        };
        let expected = types.len().max(crate::params::count(prepared));
        if parameters.len() != expected {
            return Err(SqlError::Detailed {
                sqlstate: "42601",
                message: format!("wrong number of parameters for prepared statement \"{key}\""),
                detail: format!(
                    "Expected {expected} parameters but got {}.",
                    parameters.len()
                ),
                hint: None,
            });
        }
        let args: Vec<Expr> = parameters
            .iter()
            .enumerate()
            .map(|(i, p)| match types.get(i) {
                Some(t) => crate::eval::parse_expr(&format!("CAST(({p}) AS {t})")),
                None => Ok(Expr::Nested(Box::new(p.clone()))),
            })
            .collect::<SqlResult<_>>()?;
        let mut expanded = prepared.clone();
        crate::params::replace_placeholders(&mut expanded, &args);
        *stmt = expanded;
        Ok(())
    }

    /// `PREPARE name [(types)] AS statement`, kept for EXECUTE; a query is planned now, so
    /// that its errors come at PREPARE, as in PostgreSQL.
    async fn sql_prepare(
        &mut self,
        name: &datafusion::sql::sqlparser::ast::Ident,
        data_types: Vec<datafusion::sql::sqlparser::ast::DataType>,
        statement: Statement,
    ) -> SqlResult<Output> {
        let key = crate::ddl::ident(name);
        if self.sql_prepared.contains_key(&key) {
            return Err(SqlError::Detailed {
                sqlstate: "42P05",
                message: format!("prepared statement \"{key}\" already exists"),
                detail: String::new(),
                hint: None,
            });
        }
        if matches!(statement, Statement::Query(_)) {
            let args: Vec<Expr> = (0..crate::params::count(&statement).max(data_types.len()))
                .map(|i| match data_types.get(i) {
                    Some(t) => crate::eval::parse_expr(&format!("CAST(NULL AS {t})")),
                    None => crate::eval::parse_expr("NULL"),
                })
                .collect::<SqlResult<_>>()?;
            let mut probe = statement.clone();
            crate::params::replace_placeholders(&mut probe, &args);
            let text = probe.to_string();
            self.resolve_temp_tables(&mut probe, &text)?;
            crate::rewrite::rewrite(&mut probe)?;
            self.inline_functions(&mut probe)?;
            self.plan(probe).await?;
        }
        self.sql_prepared.insert(key, (statement, data_types));
        Ok(Output::Command("PREPARE".into()))
    }

    /// `DEALLOCATE [PREPARE] name | ALL`. A name this session did not PREPARE may be a
    /// protocol-level statement of the client's driver (psycopg deallocates its own this
    /// way), which the wire layer keeps: that is accepted as PostgreSQL accepts it.
    fn sql_deallocate(&mut self, name: &datafusion::sql::sqlparser::ast::Ident) -> Output {
        if name.quote_style.is_none() && name.value.eq_ignore_ascii_case("all") {
            self.sql_prepared.clear();
        } else {
            self.sql_prepared.remove(&crate::ddl::ident(name));
        }
        Output::Command("DEALLOCATE".into())
    }

    /// Calls of user SQL functions replaced by their bodies ([`crate::sqlfunc`]).
    /// `current_user`, `session_user`, `current_role` and `user` (PostgreSQL sessions): the
    /// user the client connected as.
    fn user_functions(&self, stmt: &mut Statement) -> SqlResult<()> {
        if !self.is_mysql() {
            crate::rewrite::session_user_calls(stmt);
        }
        Ok(())
    }

    /// `sql`, an expression, with the calls of user functions in it inlined (and the
    /// PL/pgSQL ones registered), for code that compiles expressions itself.
    pub(crate) fn inline_expression(&self, sql: &str) -> SqlResult<String> {
        let mut stmt = parse_sql(&format!("SELECT {sql}"))?
            .pop()
            .ok_or_else(|| SqlError::Internal("empty expression".into()))?;
        self.inline_functions(&mut stmt)?;
        if let Statement::Query(q) = &stmt {
            if let datafusion::sql::sqlparser::ast::SetExpr::Select(sel) = q.body.as_ref() {
                if let [datafusion::sql::sqlparser::ast::SelectItem::UnnamedExpr(e)] =
                    sel.projection.as_slice()
                {
                    return Ok(e.to_string());
                }
            }
        }
        Err(SqlError::Internal(format!("not an expression: {sql}")))
    }

    fn inline_functions(&self, stmt: &mut Statement) -> SqlResult<()> {
        let catalog = self.engine().catalog();
        if !catalog.functions.is_empty() {
            let plpgsql = crate::sqlfunc::inline(stmt, &catalog, self.default_schema().as_deref())?;
            self.register_plpgsql(&plpgsql)?;
        }
        crate::domain::rewrite_casts(stmt, &catalog, self.default_schema().as_deref())
    }

    /// Runs one parsed statement in the session's transaction context.
    pub async fn execute_statement(&mut self, stmt: Statement) -> SqlResult<Output> {
        if let Some(crate::custom::Custom::Deferrable {
            deferrable,
            session,
            statement,
        }) = crate::custom::decode(&stmt)
        {
            return Box::pin(self.with_deferrable_mode(deferrable, session, &statement)).await;
        }
        if self.is_mysql() {
            let ddl = matches!(
                stmt,
                Statement::CreateTable(_)
                    | Statement::CreateView(_)
                    | Statement::AlterTable(_)
                    | Statement::Drop { .. }
                    | Statement::CreateIndex(_)
                    | Statement::Truncate(_)
                    | Statement::CreateSchema { .. }
                    | Statement::StartTransaction { .. }
            );
            if ddl {
                // MySQL commits the open transaction before DDL and before a new BEGIN.
                self.mysql_implicit_commit().await?;
            }
        }
        match &stmt {
            Statement::StartTransaction { modes, begin, .. } => {
                let tag = if *begin || self.is_mysql() {
                    "BEGIN"
                } else {
                    "START TRANSACTION"
                };
                return self.begin(modes, tag);
            }
            Statement::Commit { chain, .. } => {
                let chain = *chain;
                return self.commit(chain).await;
            }
            Statement::Rollback {
                chain,
                savepoint: None,
            } => {
                let chain = *chain;
                let created = std::mem::take(&mut self.created_in_block);
                let out = self.rollback_statement(chain)?;
                self.remove_created(created).await?;
                return Ok(out);
            }
            Statement::Rollback {
                savepoint: Some(name),
                ..
            } => {
                let name = crate::ddl::ident(name);
                // What was created after the savepoint goes with it, and what was dropped
                // comes back, before the transaction's writes are rolled back: the writes to
                // a table that comes back are undone with the others.
                if self.block_txn().is_some() {
                    let depth = self.find_savepoint(&name)? + 1;
                    let (undone, kept) = std::mem::take(&mut self.created_in_block)
                        .into_iter()
                        .partition(|(d, _)| *d >= depth);
                    self.created_in_block = kept;
                    self.remove_created(undone).await?;
                }
                return self.rollback_to_savepoint(&name);
            }
            _ => {}
        }
        if let TxnState::Failed(_) = self.state {
            return Err(SqlError::InFailedTransaction);
        }
        match &stmt {
            Statement::Savepoint { name } => return self.savepoint(&crate::ddl::ident(name)),
            Statement::ReleaseSavepoint { name } => {
                return self.release_savepoint(&crate::ddl::ident(name))
            }
            _ => {}
        }
        if let Some(crate::custom::Custom::SetConstraints { deferred, names }) =
            crate::custom::decode(&stmt)
        {
            let result = self.set_constraints(deferred, &names).await;
            if result.is_err() {
                self.fail_block();
            }
            return result;
        }
        let result = match &stmt {
            Statement::Reset(r) => Some(self.reset(&r.reset)),
            Statement::Set(set) if crate::custom::decode(&stmt).is_none() => Some(self.set(set)),
            Statement::ShowVariable { variable } => Some(self.show(variable)),
            _ => None,
        };
        if let Some(result) = result {
            // A refused setting fails the block, as any failed statement does.
            if result.is_err() {
                self.fail_block();
            }
            return result;
        }
        self.mysql_implicit_begin();
        let (txn, autocommit) = match &self.state {
            TxnState::InBlock(t) => (Arc::clone(t), false),
            _ => (Arc::new(self.db.engine.begin()), true),
        };
        txn.begin_statement();
        self.slot.set(Some(Arc::clone(&txn)));
        self.running = Some((Arc::clone(&txn), autocommit));
        let result = self.dispatch(stmt, &txn).await;
        self.running = None;
        self.slot.set(None);
        self.slot.set_key_table(None);
        if let Ok(Output::CopyIn { .. }) = result {
            // COPY FROM continues with the data the client sends next.
            self.adopt_copy(autocommit);
            return result;
        }
        self.finish_statement(txn, autocommit, result).await
    }

    /// Ends a statement: commits it when it ran in its own transaction, or undoes it after
    /// an error (a block then fails, as PostgreSQL's does).
    async fn finish_statement(
        &mut self,
        txn: Arc<Transaction>,
        autocommit: bool,
        result: SqlResult<Output>,
    ) -> SqlResult<Output> {
        self.end_of_statement();
        // AFTER ROW triggers of rows written where no statement ran them (COPY).
        let result = match result {
            Ok(output) => crate::trigger::run_queued(self).map(|()| output),
            Err(e) => {
                self.after_rows.lock().clear();
                Err(e)
            }
        };
        let result = match result {
            Ok(output) => self
                .check_statement_constraints(&txn, autocommit)
                .await
                .map(|_| output),
            Err(e) => Err(e),
        };
        match result {
            Ok(output) => {
                if autocommit {
                    self.db.engine.commit(&txn).await?;
                }
                Ok(output)
            }
            Err(e) => {
                txn.rollback_statement(&self.db.engine.catalog());
                if !autocommit {
                    self.state = self.state_after_error(txn, &e);
                }
                Err(e)
            }
        }
    }

    /// `SET CONSTRAINTS {ALL | names} {DEFERRED | IMMEDIATE}` (`names` empty: ALL), for the
    /// rest of the transaction block; IMMEDIATE runs the checks deferred so far at once.
    async fn set_constraints(
        &mut self,
        deferred: bool,
        names: &[Vec<String>],
    ) -> SqlResult<Output> {
        let tag = Output::Command("SET CONSTRAINTS".into());
        let Some(txn) = self.block_txn().cloned() else {
            self.notice(
                "WARNING",
                "25P01",
                "SET CONSTRAINTS can only be used in transaction blocks".into(),
            );
            return Ok(tag);
        };
        let catalog = self.db.engine.catalog();
        let mut resolved = Vec::new();
        for parts in names {
            let (schemas, name) = match parts.as_slice() {
                [name] => {
                    let mut schemas: Vec<String> = self.temp_schema.iter().cloned().collect();
                    schemas.extend(self.default_schema());
                    (schemas, name)
                }
                [schema, name] => (vec![schema.clone()], name),
                _ => {
                    return Err(SqlError::Syntax {
                        message: format!("improper qualified name: {}", parts.join(".")),
                        position: None,
                    })
                }
            };
            let found = catalog
                .tables
                .values()
                .filter(|t| schemas.contains(&t.schema))
                .find_map(|t| Some((t, constraint_deferrable(t, name)?)));
            match found {
                Some((table, true)) => {
                    resolved.push(name.clone());
                    // A partitioned table's UNIQUE constraint is its partitions' ones.
                    resolved.extend(partition_constraints(&catalog, table, name));
                }
                Some((_, false)) => {
                    return Err(SqlError::WrongObjectType(format!(
                        "constraint \"{name}\" is not deferrable"
                    )))
                }
                None => {
                    return Err(SqlError::UndefinedObject(format!(
                        "constraint \"{name}\" does not exist"
                    )))
                }
            }
        }
        let named = (!names.is_empty()).then_some(resolved.as_slice());
        if !deferred {
            crate::foreign::enforce_immediate(self, &txn, &resolved).await?;
        }
        txn.set_constraint_mode(named, deferred);
        if !deferred {
            let engine = Arc::clone(&self.db.engine);
            txn.check_deferrable_unique(&catalog, &move |id| engine.table(id), true)?;
        }
        Ok(tag)
    }

    /// The end-of-statement checks of a statement that ended well: FOREIGN KEYs and
    /// deferrable UNIQUE constraints not deferred, and in its own transaction those of
    /// deferred FOREIGN KEYs too (deferred UNIQUE ones are checked by the commit).
    pub(crate) async fn check_statement_constraints(
        &self,
        txn: &Arc<Transaction>,
        autocommit: bool,
    ) -> SqlResult<()> {
        crate::foreign::enforce_statement(self, txn).await?;
        let catalog = self.db.engine.catalog();
        if catalog.has_deferrable_unique() {
            let engine = Arc::clone(&self.db.engine);
            txn.check_deferrable_unique(&catalog, &move |id| engine.table(id), false)?;
        }
        if autocommit {
            crate::foreign::enforce_commit(self, txn).await?;
        }
        Ok(())
    }

    fn fast_path_enabled(&self) -> bool {
        // A forced column engine must see every query: the fast path reads the row engine.
        self.fast_path
            && !self.is_mysql()
            && self.slot.engine() != crate::colscan::EngineChoice::Column
    }

    /// A simple-query statement on the fast path, if it has one (`None`: run it the
    /// general way).
    async fn run_fast_simple(&mut self, stmt: &Statement) -> Option<SqlResult<Output>> {
        if !self.fast_path_enabled() {
            return None;
        }
        let shape = crate::fastpath::shape(stmt)?;
        let fast = crate::fastpath::bind(self, &shape, None)?;
        self.run_fast(&fast, &[]).await
    }

    /// Runs a bound fast-path statement in the session's transaction context, exactly as
    /// [`Session::execute_statement`] runs a statement; `None` when it cannot run on the
    /// fast path (the table changed, values of other types, a failed block).
    async fn run_fast(
        &mut self,
        fast: &crate::fastpath::FastPath,
        params: &[ScalarValue],
    ) -> Option<SqlResult<Output>> {
        if matches!(self.state, TxnState::Failed(_)) || !self.fast_path_enabled() {
            return None;
        }
        // A read-only transaction refuses writes on the general path, with its error.
        if fast.writes() && self.read_only() {
            return None;
        }
        if self.status() != TxnStatus::Idle {
            self.block_has_run = true;
        }
        let catalog = self.db.engine.catalog();
        let def = fast.current_def(&catalog)?;
        if !fast.accepts(def, params) {
            return None;
        }
        let store = self.db.engine.table(def.id)?;
        let (txn, autocommit) = match &self.state {
            TxnState::InBlock(t) => (Arc::clone(t), false),
            _ => (Arc::new(self.db.engine.begin()), true),
        };
        if fast.writes() {
            txn.begin_statement();
        }
        self.running = Some((Arc::clone(&txn), autocommit));
        let result = fast.run(self, def, &store, &txn, params);
        self.running = None;
        self.fast_statements += 1;
        Some(self.finish_statement(txn, autocommit, result).await)
    }

    /// PostgreSQL fails the whole block; MySQL undoes the statement and goes on, except
    /// after a write conflict, which (like an InnoDB deadlock) rolls the transaction back.
    fn state_after_error(&mut self, txn: Arc<Transaction>, e: &SqlError) -> TxnState {
        if !self.is_mysql() {
            return TxnState::Failed(txn);
        }
        if e.sqlstate() == "40001" {
            self.savepoints.clear();
            return TxnState::Idle;
        }
        TxnState::InBlock(txn)
    }

    /// MySQL with autocommit off: the first statement opens a transaction.
    pub(crate) fn mysql_implicit_begin(&mut self) {
        if self.is_mysql() && !self.my.autocommit {
            if let TxnState::Idle = self.state {
                self.set_read_only(self.default_read_only());
                self.block_has_run = false;
                self.state = TxnState::InBlock(Arc::new(self.db.engine.begin()));
            }
        }
    }

    /// Commits an open transaction (MySQL's implicit commit before DDL, BEGIN, and when
    /// autocommit is switched on).
    pub(crate) async fn mysql_implicit_commit(&mut self) -> SqlResult<()> {
        if let TxnState::InBlock(_) = self.state {
            self.commit(false).await?;
        }
        Ok(())
    }

    pub(crate) async fn set_mysql_autocommit(&mut self, on: bool) -> SqlResult<()> {
        if on && !self.my.autocommit {
            self.mysql_implicit_commit().await?;
        }
        self.my.autocommit = on;
        Ok(())
    }

    /// Whether a transaction is open (MySQL's SERVER_STATUS_IN_TRANS).
    pub fn in_transaction(&self) -> bool {
        !matches!(self.state, TxnState::Idle)
    }

    /// Runs PostgreSQL-dialect SQL text (for MySQL commands implemented by their
    /// PostgreSQL equivalents, such as CREATE DATABASE → CREATE SCHEMA).
    pub(crate) async fn run_pg_text(&mut self, sql: &str) -> SqlResult<Output> {
        let mut last = Output::Command(String::new());
        for stmt in parse_sql(sql)? {
            last = self.execute_statement(stmt).await?;
        }
        Ok(last)
    }

    /// Records an AUTO_INCREMENT value generated outside `nextval` (MySQL's 0/NULL).
    pub(crate) fn note_generated(&self, value: i64) {
        self.first_generated.lock().get_or_insert(value);
    }

    /// Clears the slot that records the first AUTO_INCREMENT value a statement generates.
    pub(crate) fn take_first_generated(&self) -> Option<i64> {
        self.first_generated.lock().take()
    }

    async fn dispatch(&mut self, stmt: Statement, txn: &Arc<Transaction>) -> SqlResult<Output> {
        if self.status() != TxnStatus::Idle {
            self.block_has_run = true;
        }
        if self.read_only() {
            if let Some(command) = self.write_command(&stmt) {
                return Err(SqlError::ReadOnlyTransaction(format!(
                    "cannot execute {command} in a read-only transaction"
                )));
            }
        }
        if let Some(crate::custom::Custom::AlterSequence {
            if_exists,
            name,
            options,
        }) = crate::custom::decode(&stmt)
        {
            return crate::ddl::alter_sequence(self, if_exists, &name, &options).await;
        }
        if let Some(crate::custom::Custom::Fetch {
            moves,
            name,
            direction,
        }) = crate::custom::decode(&stmt)
        {
            return self.fetch_cursor(moves, &name, &direction);
        }
        match crate::custom::decode(&stmt) {
            Some(crate::custom::Custom::CreateDomain {
                name,
                data_type,
                default,
                not_null,
                checks,
            }) => {
                let before = self.catalog_in_block();
                let out = crate::domain::create_domain(
                    self,
                    &name,
                    &data_type,
                    default.as_deref(),
                    not_null,
                    &checks,
                )
                .await;
                self.record_created(before, out.is_ok());
                return out;
            }
            Some(crate::custom::Custom::AlterDomain { name, action }) => {
                return crate::domain::alter_domain(self, &name, &action).await
            }
            Some(crate::custom::Custom::CommentOnConstraint {
                constraint,
                on_domain,
                object,
                comment,
            }) => {
                return crate::domain::comment_on_constraint(
                    self,
                    &constraint,
                    on_domain,
                    &object,
                    comment.as_deref(),
                )
                .await
            }
            _ => {}
        }
        if let Some(crate::custom::Custom::SetStorage {
            if_exists,
            table,
            column,
            storage,
        }) = crate::custom::decode(&stmt)
        {
            return crate::ddl::set_storage(self, if_exists, &table, &column, &storage).await;
        }
        match stmt {
            Statement::Query(q) if crate::cte::runs_itself(&q) => {
                crate::cte::run(self, txn, *q).await
            }
            Statement::Query(q) => self.query(*q).await,
            Statement::Insert(insert) => dml::insert(self, txn, insert).await,
            Statement::Update(update) => dml::update(self, txn, update).await,
            Statement::Delete(delete) => dml::delete(self, txn, delete).await,
            Statement::Copy {
                source,
                to,
                target,
                options,
                legacy_options,
                values,
            } => {
                crate::copy::start(
                    self,
                    txn,
                    source,
                    to,
                    target,
                    options,
                    legacy_options,
                    values,
                )
                .await
            }
            Statement::Explain {
                statement,
                analyze,
                verbose,
                ..
            } => self.explain(*statement, analyze, verbose).await,
            Statement::Prepare {
                name,
                data_types,
                statement,
            } if !self.is_mysql() => {
                // Boxed: its planning would otherwise enlarge every statement's future.
                Box::pin(self.sql_prepare(&name, data_types, *statement)).await
            }
            Statement::Deallocate { name, .. } if !self.is_mysql() => {
                Ok(self.sql_deallocate(&name))
            }
            Statement::Declare { mut stmts }
                if !self.is_mysql()
                    && stmts.len() == 1
                    && matches!(
                        stmts[0].declare_type,
                        Some(datafusion::sql::sqlparser::ast::DeclareType::Cursor)
                    ) =>
            {
                Box::pin(self.declare_cursor(stmts.remove(0))).await
            }
            Statement::Close { cursor } if !self.is_mysql() => match cursor {
                datafusion::sql::sqlparser::ast::CloseCursor::All => {
                    self.cursors.clear();
                    Ok(Output::Command("CLOSE CURSOR ALL".into()))
                }
                datafusion::sql::sqlparser::ast::CloseCursor::Specific { name } => {
                    let name = crate::ddl::ident(&name);
                    match self.cursors.remove(&name) {
                        Some(_) => Ok(Output::Command("CLOSE CURSOR".into())),
                        None => Err(crate::cursor::no_such_cursor(&name)),
                    }
                }
            },
            Statement::Vacuum(_) | Statement::Analyze(_) => {
                crate::maintenance::run(self, txn, &stmt).await
            }
            other => {
                let before = self.catalog_in_block();
                let out = ddl::execute(self, txn, other).await;
                self.record_created(before, out.is_ok());
                // This transaction's earlier writes remain valid under its own DDL.
                txn.adopt_definitions(&self.db.engine.catalog());
                out
            }
        }
    }

    /// Opens a transaction block, READ ONLY as `read_only` says or else as the session's
    /// default.
    fn open_block(&mut self, read_only: Option<bool>) {
        self.clock.block_opened();
        let default = self.default_read_only();
        self.set_read_only(read_only.unwrap_or(default));
        self.reset_deferrable();
        self.block_has_run = false;
        self.state = TxnState::InBlock(Arc::new(self.db.engine.begin()));
    }

    fn begin(&mut self, modes: &[TransactionMode], tag: &str) -> SqlResult<Output> {
        match self.state {
            TxnState::Idle => {
                self.open_block(access_mode(modes));
                Ok(Output::Command(tag.into()))
            }
            // PostgreSQL warns and stays in the block.
            _ => {
                if !self.is_mysql() {
                    self.notice(
                        "WARNING",
                        "25001",
                        "there is already a transaction in progress".into(),
                    );
                }
                Ok(Output::Command(tag.into()))
            }
        }
    }

    /// A transaction statement written with `[NOT] DEFERRABLE` (`statement`, its text
    /// without the mode). The mode changes nothing in Basalt (a read-only transaction on
    /// Basalt's snapshots never fails, which is what PostgreSQL's DEFERRABLE waits for), but
    /// `SHOW transaction_deferrable` reports it as PostgreSQL does.
    async fn with_deferrable_mode(
        &mut self,
        deferrable: bool,
        session: bool,
        statement: &str,
    ) -> SqlResult<Output> {
        let value = if deferrable { "on" } else { "off" };
        let lower = statement.to_lowercase();
        let set_transaction = !session && lower.starts_with("set");
        let was_idle = self.status() == TxnStatus::Idle;
        if set_transaction && !was_idle {
            if !self.savepoints.is_empty() {
                return Err(SqlError::ActiveTransaction(
                    "SET TRANSACTION [NOT] DEFERRABLE cannot be called within a subtransaction"
                        .into(),
                ));
            }
            if self.block_has_run {
                return Err(SqlError::ActiveTransaction(
                    "SET TRANSACTION [NOT] DEFERRABLE must be called before any query".into(),
                ));
            }
        }
        // `SET [SESSION CHARACTERISTICS AS] TRANSACTION DEFERRABLE`: no other mode to set.
        let only_mode = lower.starts_with("set") && lower.ends_with("transaction");
        let mut stmts = if only_mode {
            Vec::new()
        } else {
            parse_sql(statement)?
        };
        let out = match stmts.pop() {
            Some(stmt) => Box::pin(self.execute_statement(stmt)).await?,
            // The mode was the statement's only one.
            None if session => Output::Command("SET".into()),
            None => {
                if self.status() == TxnStatus::Idle {
                    self.notice(
                        "WARNING",
                        "25P01",
                        "SET TRANSACTION can only be used in transaction blocks".into(),
                    );
                }
                Output::Command("SET".into())
            }
        };
        let idle = self.status() == TxnStatus::Idle;
        let mut settings = self.settings.lock();
        if session {
            settings.insert("default_transaction_deferrable".into(), value.into());
        }
        // An open block keeps its mode when the default changes (a BEGIN written inside it
        // sets the mode, as in PostgreSQL); SET TRANSACTION outside a block lasts for no
        // transaction.
        if session == idle {
            settings.insert("transaction_deferrable".into(), value.into());
        }
        Ok(out)
    }

    /// The error for `COMMIT/ROLLBACK AND CHAIN` outside a transaction block.
    fn chain_outside_block(word: &str) -> SqlError {
        SqlError::NoActiveTransaction(format!(
            "{word} AND CHAIN can only be used in transaction blocks"
        ))
    }

    /// COMMIT [AND CHAIN]: a chained commit opens the next transaction block at once.
    async fn commit(&mut self, chain: bool) -> SqlResult<Output> {
        if chain && self.status() == TxnStatus::Idle {
            return Err(Session::chain_outside_block("COMMIT"));
        }
        self.savepoints.clear();
        let created = std::mem::take(&mut self.created_in_block);
        let out = match std::mem::replace(&mut self.state, TxnState::Idle) {
            TxnState::InBlock(txn) => {
                if let Err(e) = crate::foreign::enforce_commit(self, &txn).await {
                    // The transaction ends rolled back, as PostgreSQL's does.
                    self.close_block_cursors(false);
                    self.end_block(false);
                    self.remove_created(created).await?;
                    return Err(e);
                }
                if let Err(e) = self.db.engine.commit(&txn).await {
                    self.close_block_cursors(false);
                    self.remove_created(created).await?;
                    return Err(e.into());
                }
                self.close_block_cursors(true);
                Output::Command("COMMIT".into())
            }
            TxnState::Failed(_) => {
                self.close_block_cursors(false);
                self.remove_created(created).await?;
                Output::Command("ROLLBACK".into())
            }
            TxnState::Idle => {
                if !self.is_mysql() {
                    self.notice(
                        "WARNING",
                        "25P01",
                        "there is no transaction in progress".into(),
                    );
                }
                Output::Command("COMMIT".into())
            }
        };
        self.end_block(chain);
        Ok(out)
    }

    /// After COMMIT or ROLLBACK: a chained block opens at once with the same access mode;
    /// otherwise the next transaction starts from the session default.
    fn end_block(&mut self, chain: bool) {
        self.block_has_run = false;
        if chain {
            self.clock.chained();
            self.state = TxnState::InBlock(Arc::new(self.db.engine.begin()));
        } else {
            self.set_read_only(self.default_read_only());
            self.reset_deferrable();
        }
    }

    /// A new transaction's DEFERRABLE mode: the session default.
    fn reset_deferrable(&self) {
        let mut settings = self.settings.lock();
        let default = settings
            .get("default_transaction_deferrable")
            .cloned()
            .unwrap_or_else(|| "off".into());
        settings.insert("transaction_deferrable".into(), default);
    }

    /// Whether the statement about to run is bound by a READ ONLY access mode: the open
    /// block's, or outside a block the session default.
    fn read_only(&self) -> bool {
        if self.status() == TxnStatus::Idle {
            return self.default_read_only();
        }
        self.setting_is_on("transaction_read_only")
    }

    /// The access mode a new transaction starts with: PostgreSQL's
    /// `default_transaction_read_only`, MySQL's session `transaction_read_only`.
    fn default_read_only(&self) -> bool {
        if self.is_mysql() {
            return self
                .my
                .vars
                .get("transaction_read_only")
                .map(String::as_str)
                == Some("1");
        }
        self.setting_is_on("default_transaction_read_only")
    }

    fn set_read_only(&self, on: bool) {
        let value = if on { "on" } else { "off" };
        self.settings
            .lock()
            .insert("transaction_read_only".into(), value.into());
    }

    fn setting_is_on(&self, name: &str) -> bool {
        self.settings
            .lock()
            .get(name)
            .is_some_and(|v| matches!(v.to_lowercase().as_str(), "on" | "true" | "yes" | "1"))
    }

    /// PostgreSQL's name for a statement that a read-only transaction refuses (`None`: the
    /// statement only reads, or writes rows of this session's temporary tables; DDL is
    /// refused even on those).
    fn write_command(&self, stmt: &Statement) -> Option<String> {
        use datafusion::sql::sqlparser::ast::{FromTable, ObjectName, TableFactor, TableObject};
        let temp = |name: &ObjectName| {
            let schema = name.0.first().and_then(|p| p.as_ident()).map(|i| &i.value);
            name.0.len() > 1 && schema.is_some() && schema == self.temp_schema.as_ref()
        };
        let table_of = |f: &TableFactor| match f {
            TableFactor::Table { name, .. } => temp(name),
            _ => false,
        };
        Some(match stmt {
            Statement::Insert(i) => match &i.table {
                TableObject::TableName(n) if temp(n) => return None,
                _ => "INSERT".into(),
            },
            Statement::Update(u) if table_of(&u.table.relation) => return None,
            Statement::Update(_) => "UPDATE".into(),
            Statement::Delete(d) => {
                let tables = match &d.from {
                    FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
                };
                if !tables.is_empty() && tables.iter().all(|t| table_of(&t.relation)) {
                    return None;
                }
                "DELETE".into()
            }
            Statement::Merge { .. } => "MERGE".into(),
            // A write with a WITH clause, or a query with a WITH query that writes (named
            // after the main statement, as PostgreSQL names it).
            Statement::Query(q) => match q.body.as_ref() {
                SetExpr::Insert(stmt) | SetExpr::Update(stmt) | SetExpr::Delete(stmt) => {
                    return self.write_command(stmt)
                }
                SetExpr::Merge(_) => "MERGE".into(),
                _ if crate::cte::modifies_data(q) => "SELECT".into(),
                _ => return None,
            },
            // DDL is refused whatever it names, temporary objects included.
            Statement::CreateTable(c) if c.query.is_some() => "CREATE TABLE AS".into(),
            Statement::CreateTable(_) => "CREATE TABLE".into(),
            Statement::CreateView(_) => "CREATE VIEW".into(),
            Statement::CreateFunction(_) => "CREATE FUNCTION".into(),
            Statement::DropFunction(_) => "DROP FUNCTION".into(),
            Statement::CreateTrigger(_) => "CREATE TRIGGER".into(),
            Statement::DropTrigger(_) => "DROP TRIGGER".into(),
            Statement::CreateIndex(_) => "CREATE INDEX".into(),
            Statement::CreateSchema { .. } => "CREATE SCHEMA".into(),
            Statement::AlterTable(_) => "ALTER TABLE".into(),
            Statement::Drop { object_type, .. } => format!("DROP {object_type}"),
            Statement::Truncate(_) => "TRUNCATE TABLE".into(),
            Statement::Copy {
                to: false,
                source: datafusion::sql::sqlparser::ast::CopySource::Table { table_name, .. },
                ..
            } if temp(table_name) => return None,
            Statement::Copy { to: false, .. } => "COPY FROM".into(),
            Statement::Set(_)
                if matches!(
                    crate::custom::decode(stmt),
                    Some(crate::custom::Custom::AlterSequence { .. })
                ) =>
            {
                "ALTER SEQUENCE".into()
            }
            Statement::Set(_) => match crate::custom::decode(stmt)? {
                crate::custom::Custom::CreateDomain { .. } => "CREATE DOMAIN".into(),
                crate::custom::Custom::AlterDomain { .. } => "ALTER DOMAIN".into(),
                crate::custom::Custom::CommentOnConstraint { .. } => "COMMENT".into(),
                _ => "ALTER TABLE".into(),
            },
            _ => return None,
        })
    }

    /// ROLLBACK [AND CHAIN] as a statement (with PostgreSQL's warning outside a block).
    fn rollback_statement(&mut self, chain: bool) -> SqlResult<Output> {
        if self.status() == TxnStatus::Idle {
            if chain {
                return Err(Session::chain_outside_block("ROLLBACK"));
            }
            if !self.is_mysql() {
                self.notice(
                    "WARNING",
                    "25P01",
                    "there is no transaction in progress".into(),
                );
            }
        }
        let out = self.rollback();
        self.end_block(chain);
        Ok(out)
    }

    pub(crate) fn rollback_block(&mut self) {
        self.rollback();
    }

    fn rollback(&mut self) -> Output {
        self.close_block_cursors(false);
        self.savepoints.clear();
        self.state = TxnState::Idle;
        Output::Command("ROLLBACK".into())
    }

    /// The catalog (and every table's store) before a DDL statement of a PostgreSQL
    /// transaction block, to compare with the catalog after it.
    fn catalog_in_block(&mut self) -> Option<crate::ddl_undo::Before> {
        self.discarded_writes.clear();
        self.truncated_now.clear();
        if self.status() == TxnStatus::Idle || self.is_mysql() {
            return None;
        }
        let catalog = self.db.engine.catalog();
        let stores = catalog
            .tables
            .keys()
            .filter_map(|id| self.db.engine.table(*id).map(|t| (*id, t)))
            .collect();
        let sequence_values = catalog
            .sequences
            .keys()
            .filter_map(|name| Some((name.clone(), self.db.engine.sequence_last(name)?)))
            .collect();
        Some(crate::ddl_undo::Before {
            catalog,
            stores,
            sequence_values,
        })
    }

    /// Keeps the block's writes a DROP took from the transaction (see `discarded_writes`).
    pub(crate) fn keep_discarded(
        &mut self,
        table: basalt_common::TableId,
        writes: Option<basalt_storage::txn::TableWrites>,
    ) {
        if let Some(w) = writes {
            self.discarded_writes.insert(table, w);
        }
    }

    /// Notes the tables a TRUNCATE emptied (their rows come back if the block rolls back).
    pub(crate) fn note_truncated(&mut self, tables: &[basalt_common::TableId]) {
        self.truncated_now.extend_from_slice(tables);
    }

    /// Records what a DDL statement of the block created, dropped and truncated. A failed
    /// statement gives back the writes it took.
    fn record_created(&mut self, before: Option<crate::ddl_undo::Before>, ok: bool) {
        let mut writes = std::mem::take(&mut self.discarded_writes);
        let truncated = std::mem::take(&mut self.truncated_now);
        let Some(before) = before else {
            return;
        };
        let after = self.db.engine.catalog();
        if !ok {
            if let Some(txn) = self.block_txn() {
                for (id, w) in writes {
                    if after.tables.contains_key(&id) {
                        txn.restore_table(id, w);
                    }
                }
            }
            return;
        }
        let depth = self.savepoints.len();
        let mut changes = crate::ddl_undo::created_between(&before.catalog, &after);
        changes.extend(crate::ddl_undo::dropped_between(
            &before,
            &after,
            &mut writes,
        ));
        changes.extend(crate::ddl_undo::truncated(&before, &truncated, &mut writes));
        let engine = Arc::clone(&self.db.engine);
        changes.extend(crate::ddl_undo::altered_between(&before, &after, |id| {
            engine.table(id)
        }));
        self.created_in_block
            .extend(changes.into_iter().map(|c| (depth, c)));
    }

    /// Removes objects a rolled-back block (or subtransaction) created, with their rows,
    /// and puts back the tables it dropped, with their rows and the block's writes to them.
    async fn remove_created(
        &mut self,
        created: Vec<(usize, crate::ddl_undo::Created)>,
    ) -> SqlResult<()> {
        if created.is_empty() {
            return Ok(());
        }
        let created: Vec<crate::ddl_undo::Created> = created.into_iter().map(|(_, c)| c).collect();
        if let Some(txn) = self.block_txn() {
            for c in &created {
                if let crate::ddl_undo::Created::Table(id) = c {
                    txn.discard_table(*id);
                }
            }
        }
        crate::ddl_undo::undo(&self.db.engine, &created).await?;
        if let Some(txn) = self.block_txn() {
            let catalog = self.db.engine.catalog();
            for c in &created {
                if let crate::ddl_undo::Created::Dropped(d)
                | crate::ddl_undo::Created::Truncated(d) = c
                {
                    if let (true, Some(w)) = (catalog.tables.contains_key(&d.0.def.id), &d.0.writes)
                    {
                        txn.restore_table(d.0.def.id, w.clone());
                    }
                }
            }
            txn.adopt_definitions(&catalog);
        }
        Ok(())
    }

    fn block_txn(&self) -> Option<&Arc<Transaction>> {
        match &self.state {
            TxnState::InBlock(t) | TxnState::Failed(t) => Some(t),
            TxnState::Idle => None,
        }
    }

    fn savepoint(&mut self, name: &str) -> SqlResult<Output> {
        let Some(txn) = self.block_txn() else {
            return Err(SqlError::NoActiveTransaction(
                "SAVEPOINT can only be used in transaction blocks".into(),
            ));
        };
        let mark = txn.savepoint();
        let read_only = self.read_only();
        self.savepoints.push((name.to_owned(), mark, read_only));
        Ok(Output::Command("SAVEPOINT".into()))
    }

    fn find_savepoint(&self, name: &str) -> SqlResult<usize> {
        self.savepoints
            .iter()
            .rposition(|(n, _, _)| n == name)
            .ok_or_else(|| {
                SqlError::NoSuchSavepoint(format!("savepoint \"{name}\" does not exist"))
            })
    }

    fn release_savepoint(&mut self, name: &str) -> SqlResult<Output> {
        let Some(txn) = self.block_txn().cloned() else {
            return Err(SqlError::NoActiveTransaction(
                "RELEASE SAVEPOINT can only be used in transaction blocks".into(),
            ));
        };
        let i = self.find_savepoint(name)?;
        txn.release_savepoints(self.savepoints.len() - i);
        // The access mode set inside the released subtransaction ends with it.
        self.set_read_only(self.savepoints[i].2);
        self.savepoints.truncate(i);
        // Objects created in the released subtransactions now belong to the one around them,
        // and so do the cursors declared there.
        for (depth, _) in &mut self.created_in_block {
            *depth = (*depth).min(i);
        }
        for c in self.cursors.values_mut() {
            c.depth = c.depth.min(i);
        }
        Ok(Output::Command("RELEASE".into()))
    }

    /// Undoes everything after the savepoint and leaves the failed state, as PostgreSQL does.
    fn rollback_to_savepoint(&mut self, name: &str) -> SqlResult<Output> {
        let Some(txn) = self.block_txn().cloned() else {
            return Err(SqlError::NoActiveTransaction(
                "ROLLBACK TO SAVEPOINT can only be used in transaction blocks".into(),
            ));
        };
        let i = self.find_savepoint(name)?;
        let mark = self.savepoints[i].1;
        self.set_read_only(self.savepoints[i].2);
        txn.rollback_to(&self.db.engine.catalog(), mark);
        txn.release_savepoints(self.savepoints.len() - i - 1);
        self.savepoints.truncate(i + 1);
        // Cursors declared after the savepoint close (what their FETCHes did stays).
        self.cursors.retain(|_, c| c.depth <= i);
        self.state = TxnState::InBlock(txn);
        Ok(Output::Command("ROLLBACK".into()))
    }

    /// Rolls back a statement whose execution was abandoned midway (the client cancelled
    /// it): its writes are undone and a transaction block enters the failed state.
    pub fn abort_statement(&mut self) {
        self.slot.set(None);
        self.slot.set_key_table(None);
        if let Some((txn, autocommit)) = self.running.take() {
            txn.rollback_statement(&self.db.engine.catalog());
            if !autocommit {
                self.state = if self.is_mysql() {
                    TxnState::InBlock(txn)
                } else {
                    TxnState::Failed(txn)
                };
            }
        } else {
            self.fail_block();
        }
    }

    /// A statement whose future was dropped midway (cancelled) left its marker: undo it.
    fn recover_abandoned(&mut self) {
        if self.running.is_some() {
            self.abort_statement();
        }
    }

    /// After an error outside statement execution (e.g. a parse error) inside a block.
    pub fn fail_block(&mut self) {
        if self.is_mysql() {
            return;
        }
        if let TxnState::InBlock(t) = &self.state {
            self.state = TxnState::Failed(Arc::clone(t));
        }
    }

    fn set(&mut self, set: &Set) -> SqlResult<Output> {
        match set {
            Set::SingleAssignment {
                variable, values, ..
            } => {
                let name = variable.to_string().to_lowercase();
                let value = values
                    .iter()
                    .map(setting_text)
                    .collect::<Vec<_>>()
                    .join(", ");
                self.apply_setting(&name, value)?;
            }
            Set::SetTimeZone { value, .. } => {
                let value = match value {
                    // SET TIME ZONE INTERVAL '-08:00' HOUR TO MINUTE: hours east of UTC.
                    Expr::Interval(interval) => {
                        use datafusion::sql::sqlparser::ast::DateTimeField;
                        let text = setting_text(&interval.value);
                        let hours = interval_hours(&text).ok_or_else(|| {
                            SqlError::InvalidParameterValue(format!(
                                "invalid interval value for time zone: {value}"
                            ))
                        })?;
                        // The first field counts the qualifier's unit (`'30' MINUTE`,
                        // `'1:30' MINUTE TO SECOND`).
                        let per_hour = match (&interval.leading_field, &interval.last_field) {
                            (None | Some(DateTimeField::Hour), None)
                            | (Some(DateTimeField::Hour), Some(DateTimeField::Minute)) => 1.0,
                            (Some(DateTimeField::Minute), None) => 60.0,
                            _ => {
                                return Err(SqlError::Syntax {
                                    message: "time zone interval must be HOUR or HOUR TO MINUTE"
                                        .into(),
                                    position: None,
                                })
                            }
                        };
                        (hours / per_hour).to_string()
                    }
                    _ => setting_text(value),
                };
                self.apply_setting("timezone", value)?;
            }
            Set::SetNames { charset_name, .. } => {
                self.apply_setting("client_encoding", charset_name.to_string())?;
            }
            Set::SetTransaction { modes, session, .. } => {
                let Some(read_only) = access_mode(modes) else {
                    return Ok(Output::Command("SET".into()));
                };
                let value = if read_only { "on" } else { "off" };
                if !*session && self.status() == TxnStatus::Idle && !self.is_mysql() {
                    self.notice(
                        "WARNING",
                        "25P01",
                        "SET TRANSACTION can only be used in transaction blocks".into(),
                    );
                }
                if *session {
                    self.apply_setting("default_transaction_read_only", value.into())?;
                } else {
                    self.apply_setting("transaction_read_only", value.into())?;
                }
            }
            Set::SetSessionParam(_) | Set::SetRole { .. } | Set::SetSessionAuthorization(_) => {}
            other => return Err(SqlError::unsupported(format!("unsupported SET: {other}"))),
        }
        Ok(Output::Command("SET".into()))
    }

    /// `RESET name` / `RESET ALL`: back to the value the session started with.
    fn reset(&mut self, what: &datafusion::sql::sqlparser::ast::Reset) -> SqlResult<Output> {
        use datafusion::sql::sqlparser::ast::Reset;
        let names: Vec<String> = match what {
            // As in PostgreSQL, RESET ALL leaves the transaction's own settings alone.
            Reset::ALL => self
                .reset_values
                .keys()
                .filter(|k| !k.starts_with("transaction_"))
                .cloned()
                .collect(),
            Reset::ConfigurationParameter(name) => {
                vec![show_name(
                    &name
                        .0
                        .iter()
                        .filter_map(|p| p.as_ident().cloned())
                        .collect::<Vec<_>>(),
                )]
            }
        };
        for name in names {
            match self.reset_values.get(&name).cloned() {
                Some(value) => self.apply_setting(&name, value)?,
                None if self.settings.lock().remove(&name).is_some() => {}
                None => {
                    return Err(SqlError::InvalidParameterValue(format!(
                        "unrecognized configuration parameter \"{name}\""
                    )))
                }
            }
        }
        Ok(Output::Command("RESET".into()))
    }

    fn apply_setting(&mut self, name: &str, value: String) -> SqlResult<()> {
        let name = if name == "time zone" {
            "timezone"
        } else {
            name
        };
        if name == "client_encoding" {
            let v = value.trim_matches('\'').to_uppercase().replace('-', "");
            if v != "UTF8" && v != "UNICODE" {
                return Err(SqlError::InvalidParameterValue(format!(
                    "client encoding {value} is not supported; Basalt speaks UTF8 only"
                )));
            }
        }
        let value = value.trim_matches('\'').to_owned();
        if name == "transaction_read_only" || name == "default_transaction_read_only" {
            let on = match value.to_lowercase().as_str() {
                "on" | "true" | "yes" | "1" => true,
                "off" | "false" | "no" | "0" => false,
                _ => {
                    return Err(SqlError::InvalidParameterValue(format!(
                        "parameter \"{name}\" requires a Boolean value"
                    )))
                }
            };
            if name == "transaction_read_only" {
                if self.status() == TxnStatus::Idle {
                    // Outside a block it would last only for this statement.
                    return Ok(());
                }
                if !on && self.read_only() && !self.savepoints.is_empty() {
                    return Err(SqlError::ActiveTransaction(
                        "cannot set transaction read-write mode inside a read-only transaction"
                            .into(),
                    ));
                }
                if !on && self.read_only() && self.block_has_run {
                    return Err(SqlError::ActiveTransaction(
                        "transaction read-write mode must be set before any query".into(),
                    ));
                }
                self.set_read_only(on);
                return Ok(());
            }
            let value = if on { "on" } else { "off" };
            self.settings.lock().insert(name.to_owned(), value.into());
            if self.status() == TxnStatus::Idle {
                self.set_read_only(on);
            }
            return Ok(());
        }
        if name == "basalt.engine" {
            let choice = crate::colscan::EngineChoice::parse(&value).ok_or_else(|| {
                SqlError::InvalidParameterValue(format!(
                    "invalid value for parameter \"basalt.engine\": \"{value}\" (expected auto, row or column)"
                ))
            })?;
            self.slot.set_engine(choice);
            self.settings
                .lock()
                .insert(name.to_owned(), choice.name().to_owned());
            return Ok(());
        }
        if name == "datestyle" {
            let style = crate::datetime::DateStyle::parse(&value, self.date_style())?;
            self.set_text_style(crate::format::TextStyle {
                dates: style,
                ..self.text_style()
            });
            self.settings.lock().insert(name.to_owned(), style.name());
            return Ok(());
        }
        if name == "timezone" {
            let value = match value.to_lowercase().as_str() {
                // SET TIME ZONE LOCAL / DEFAULT: the zone the session started with.
                "local" | "default" => self
                    .reset_values
                    .get("timezone")
                    .cloned()
                    .unwrap_or_else(|| "UTC".into()),
                _ => value,
            };
            let (zone, shown) =
                crate::zone::SessionZone::parse_setting(&value).ok_or_else(|| {
                    SqlError::InvalidParameterValue(format!(
                        "invalid value for parameter \"TimeZone\": \"{value}\""
                    ))
                })?;
            self.set_text_style(crate::format::TextStyle {
                zone,
                ..self.text_style()
            });
            self.settings.lock().insert(name.to_owned(), shown);
            return Ok(());
        }
        if name == "intervalstyle" {
            let style = crate::format::IntervalStyle::parse(&value).ok_or_else(|| {
                SqlError::InvalidParameterHint {
                    message: format!("invalid value for parameter \"{name}\": \"{value}\""),
                    hint: "Available values: postgres, postgres_verbose, sql_standard, iso_8601."
                        .into(),
                }
            })?;
            self.set_text_style(crate::format::TextStyle {
                intervals: style,
                ..self.text_style()
            });
            self.settings
                .lock()
                .insert(name.to_owned(), style.name().to_owned());
            return Ok(());
        }
        if name == "bytea_output" {
            let escape = match value.trim().to_lowercase().as_str() {
                "hex" => false,
                "escape" => true,
                _ => {
                    return Err(SqlError::InvalidParameterHint {
                        message: format!(
                            "invalid value for parameter \"bytea_output\": \"{value}\""
                        ),
                        hint: "Available values: escape, hex.".into(),
                    })
                }
            };
            self.set_text_style(crate::format::TextStyle {
                bytea_escape: escape,
                ..self.text_style()
            });
            let shown = if escape { "escape" } else { "hex" };
            self.settings.lock().insert(name.to_owned(), shown.into());
            return Ok(());
        }
        if name == "extra_float_digits" {
            let digits = value
                .trim()
                .parse::<i32>()
                .map_err(|_| {
                    SqlError::InvalidParameterValue(format!(
                        "invalid value for parameter \"extra_float_digits\": \"{value}\""
                    ))
                })
                .and_then(|d| {
                    if (-15..=3).contains(&d) {
                        Ok(d as i8)
                    } else {
                        Err(SqlError::InvalidParameterValue(format!(
                            "{d} is outside the valid range for parameter \"extra_float_digits\" (-15 .. 3)"
                        )))
                    }
                })?;
            self.set_text_style(crate::format::TextStyle {
                float_digits: digits,
                ..self.text_style()
            });
            self.settings
                .lock()
                .insert(name.to_owned(), digits.to_string());
            return Ok(());
        }
        if name == "basalt.fast_path" {
            self.fast_path = match value.to_lowercase().as_str() {
                "on" | "true" | "yes" | "1" => true,
                "off" | "false" | "no" | "0" => false,
                _ => {
                    return Err(SqlError::InvalidParameterValue(format!(
                        "parameter \"{name}\" requires a Boolean value"
                    )))
                }
            };
        }
        self.settings.lock().insert(name.to_owned(), value);
        Ok(())
    }

    fn show(&self, variable: &[datafusion::sql::sqlparser::ast::Ident]) -> SqlResult<Output> {
        let name = show_name(variable);
        let counter = match name.as_str() {
            "basalt.fast_path_statements" => Some(self.fast_statements),
            "basalt.column_scans" => {
                Some(crate::colscan::COLUMN_SCANS.load(std::sync::atomic::Ordering::Relaxed))
            }
            "basalt.analytics_pauses" => {
                Some(crate::analytics::PAUSES.load(std::sync::atomic::Ordering::Relaxed))
            }
            _ => None,
        };
        if let Some(count) = counter {
            let schema = show_schema(&name);
            let batch = RecordBatch::try_new(
                Arc::clone(&schema),
                vec![Arc::new(StringArray::from(vec![count.to_string()]))],
            )?;
            return Ok(Output::Rows {
                schema,
                batches: vec![batch],
                tag: "SHOW".into(),
            });
        }
        if name == "all" {
            let schema = show_schema(&name);
            let settings = self.settings.lock();
            let names: Vec<&str> = settings.keys().map(String::as_str).collect();
            let values: Vec<&str> = settings.values().map(String::as_str).collect();
            let batch = RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(StringArray::from(names)),
                    Arc::new(StringArray::from(values)),
                ],
            )?;
            return Ok(Output::Rows {
                schema,
                batches: vec![batch],
                tag: "SHOW".into(),
            });
        }
        let value = self.settings.lock().get(&name).cloned().ok_or_else(|| {
            SqlError::InvalidParameterValue(format!(
                "unrecognized configuration parameter \"{name}\""
            ))
        })?;
        let schema = show_schema(&name);
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(StringArray::from(vec![value]))],
        )?;
        Ok(Output::Rows {
            schema,
            batches: vec![batch],
            tag: "SHOW".into(),
        })
    }

    pub fn setting(&self, name: &str) -> Option<String> {
        self.settings.lock().get(name).cloned()
    }

    /// Plans a parsed statement with DataFusion.
    pub(crate) async fn plan(&self, mut stmt: Statement) -> SqlResult<LogicalPlan> {
        use std::sync::atomic::Ordering::Relaxed;
        if !self.is_mysql() {
            // Frame offsets written as expressions: computed once, as literals (before the
            // tableoid flag is set: computing them plans queries of their own).
            let offsets = crate::frame_offsets::offsets_to_compute(&stmt);
            if !offsets.is_empty() {
                let mut values = Vec::with_capacity(offsets.len());
                for (text, range) in offsets {
                    let value = Box::pin(self.offset_value(&text, range)).await?;
                    values.push(((text, range), value));
                }
                crate::frame_offsets::substitute(&mut stmt, &values)?;
            }
        }
        let tableoid = crate::rewrite::mentions_tableoid(&stmt);
        if tableoid {
            let catalog = self.engine().catalog();
            let default_schema = self.default_schema();
            let is_table = |name: &ObjectName| {
                crate::ddl::qualified(name, default_schema.as_deref())
                    .is_ok_and(|(schema, table)| catalog.table_by_name(&schema, &table).is_some())
            };
            crate::rewrite::exclude_tableoid(&mut stmt, &is_table);
        }
        self.slot.tableoid.store(tableoid, Relaxed);
        let state = self.ctx.state();
        if !self.is_mysql() {
            // Chains of USING/NATURAL joins with a RIGHT or FULL join: PostgreSQL's merged
            // join columns.
            if let Some(rewritten) = crate::using_join::rewrite(&state, &stmt).await {
                stmt = rewritten;
            }
        }
        let mut plan = state
            .statement_to_plan(DfStatement::Statement(Box::new(stmt.clone())))
            .await;
        if let Some(name) = plan
            .as_ref()
            .err()
            .and_then(crate::undefined_fn::unknown_function)
        {
            // Plan once more with the unknown calls standing in, for PostgreSQL's message
            // naming the argument types; any other outcome keeps the first error.
            let mut stand_in = stmt.clone();
            if crate::undefined_fn::stand_in_calls(&mut stand_in, &name) {
                if let Err(e) = state
                    .statement_to_plan(DfStatement::Statement(Box::new(stand_in)))
                    .await
                {
                    if crate::undefined_fn::is_undefined_function(&e) {
                        plan = Err(e);
                    }
                }
            }
        }
        if let Some(message) = plan.as_ref().err().map(|e| e.to_string()) {
            if crate::aliases::is_alias_count_error(&message) {
                // `FROM t AS x(a)`: the columns the alias does not name keep their names.
                match crate::aliases::fill(&state, &stmt).await {
                    Some(Ok(filled)) => {
                        plan = state
                            .statement_to_plan(DfStatement::Statement(Box::new(filled.clone())))
                            .await;
                        stmt = filled;
                    }
                    Some(Err(e)) => {
                        self.slot.tableoid.store(false, Relaxed);
                        return Err(e);
                    }
                    None => {}
                }
            }
        }
        if let Some(message) = plan.as_ref().err().map(|e| e.to_string()) {
            if crate::aliases::is_ambiguous_output_name(&message) {
                // `SELECT a::text AS a … ORDER BY t.a`: planned with the output column
                // renamed, then given its name back.
                if let Some((renamed, names)) = crate::aliases::rename_shadowed_outputs(&stmt) {
                    if let Ok(p) = state
                        .statement_to_plan(DfStatement::Statement(Box::new(renamed)))
                        .await
                    {
                        plan = crate::aliases::restore_output_names(p, &names);
                    }
                }
            }
        }
        if plan.is_err() || crate::wholerow::has_expression_wildcard(&stmt) {
            // `SELECT t FROM t`, `row_to_json(t)`: whole-row references, planned again as
            // rows; any other outcome keeps the first error.
            if let Some(rows) = crate::wholerow::expand(&state, &stmt).await {
                if let Ok(p) = state
                    .statement_to_plan(DfStatement::Statement(Box::new(rows)))
                    .await
                {
                    plan = Ok(p);
                }
            }
        }
        self.slot.tableoid.store(false, Relaxed);
        let plan = match plan {
            Ok(p) => p,
            Err(e) if self.is_mysql() => return Err(e.into()),
            Err(e) => {
                let catalog = self.engine().catalog();
                let default_schema = self.default_schema();
                let has_column = |name: &ObjectName, column: &str| {
                    let (schema, table) =
                        crate::ddl::qualified(name, default_schema.as_deref()).ok()?;
                    let def = catalog.table_by_name(&schema, &table)?;
                    Some(def.column_position(column).is_some())
                };
                return Err(crate::scope::from_clause_entry(
                    SqlError::from(e),
                    &stmt,
                    has_column,
                ));
            }
        };
        Ok(crate::scope::inner_scope_first(plan, &stmt)?)
    }

    /// The value of a window frame offset expression (`frame_offsets`).
    async fn offset_value(&self, text: &str, range: bool) -> SqlResult<ScalarValue> {
        let sql = crate::frame_offsets::offset_query(text, range);
        let Some(Statement::Query(q)) = parse_sql(&sql)?.pop() else {
            return Err(SqlError::Internal(format!("frame offset query: {sql}")));
        };
        let (schema, batches) = self.run_query(*q).await?;
        match batches.iter().find(|b| b.num_rows() > 0) {
            Some(b) => Ok(ScalarValue::try_from_array(b.column(0), 0)?),
            None => Ok(ScalarValue::try_from(schema.field(0).data_type())?),
        }
    }

    /// Runs a query to completion and returns its batches.
    pub(crate) async fn run_query(&self, q: Query) -> SqlResult<(SchemaRef, Vec<RecordBatch>)> {
        let plan = self.plan(Statement::Query(Box::new(q))).await?;
        self.run_plan(plan).await
    }

    pub(crate) async fn run_plan(
        &self,
        plan: LogicalPlan,
    ) -> SqlResult<(SchemaRef, Vec<RecordBatch>)> {
        use std::sync::atomic::Ordering::Relaxed;
        let (schema, batches, analytical) = crate::analytics::run_logical(
            self.ctx.clone(),
            plan,
            self.analytical_session.load(Relaxed),
        )
        .await?;
        self.analytical_session.store(analytical, Relaxed);
        if analytical {
            self.analytical.store(true, Relaxed);
        }
        Ok((schema, batches))
    }

    /// Tells the analytics quota that transactional work ran, unless the statement just
    /// ended read the column engine.
    fn end_of_statement(&self) {
        if !self
            .analytical
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            crate::analytics::note_transactional(crate::provider::session_key(&self.slot));
        }
    }

    pub(crate) async fn query(&mut self, mut q: Query) -> SqlResult<Output> {
        // FOR UPDATE/SHARE take no locks under snapshot isolation: a later write to a row
        // changed concurrently still fails with 40001 (first committer wins).
        q.locks.clear();
        let (schema, batches) = self.run_query(q).await?;
        Ok(Output::Rows {
            schema,
            batches,
            tag: "SELECT".into(),
        })
    }

    async fn explain(
        &mut self,
        stmt: Statement,
        analyze: bool,
        verbose: bool,
    ) -> SqlResult<Output> {
        let Statement::Query(q) = stmt else {
            return Err(SqlError::unsupported(
                "EXPLAIN is supported for queries only",
            ));
        };
        let plan = self.plan(Statement::Query(q)).await?;
        let df = self.ctx.execute_logical_plan(plan).await?;
        let df = df.explain(verbose, analyze)?;
        let batches = df.collect().await?;
        // One text column, one line per row, like PostgreSQL's "QUERY PLAN".
        let mut lines = Vec::new();
        for b in &batches {
            let kinds = b.column(0).as_any().downcast_ref::<StringArray>();
            let plans = b.column(1).as_any().downcast_ref::<StringArray>();
            if let (Some(kinds), Some(plans)) = (kinds, plans) {
                for i in 0..b.num_rows() {
                    let kind = kinds.value(i);
                    if kind == "physical_plan" || analyze || verbose {
                        if verbose || analyze {
                            lines.push(format!("{kind}:"));
                        }
                        lines.extend(plans.value(i).lines().map(str::to_owned));
                    }
                }
            }
        }
        let schema = Arc::new(Schema::new(vec![Field::new(
            "QUERY PLAN",
            DataType::Utf8,
            false,
        )]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(StringArray::from(lines))],
        )?;
        Ok(Output::Rows {
            schema,
            batches: vec![batch],
            tag: "EXPLAIN".into(),
        })
    }

    // ---- extended query protocol ----------------------------------------------------------

    /// Parses and describes one statement with `$n` placeholders.
    pub async fn prepare(
        &mut self,
        sql: &str,
        client_types: &[Option<DataType>],
    ) -> SqlResult<Prepared> {
        if self.is_mysql() {
            return self.prepare_mysql(sql, client_types).await;
        }
        let read = self.read_literals(sql)?;
        let sql: &str = read.as_deref().unwrap_or(sql);
        let mut statements = self.parse(sql)?;
        if statements.len() > 1 {
            return Err(SqlError::Syntax {
                message: "cannot insert multiple commands into a prepared statement".into(),
                position: None,
            });
        }
        if is_introspection(sql) {
            let temp = self.temp_schema_name();
            if let Ok(rewritten) = self.db.catalog_statements(sql, temp.as_deref()) {
                statements = rewritten;
            }
        }
        let Some(stmt) = statements.pop() else {
            return Ok(Prepared::empty());
        };
        self.prepare_statement(sql, stmt, client_types).await
    }

    /// Describes and plans one parsed statement.
    pub(crate) async fn prepare_statement(
        &mut self,
        sql: &str,
        mut stmt: Statement,
        client_types: &[Option<DataType>],
    ) -> SqlResult<Prepared> {
        params::check_parameter_numbers(&stmt)?;
        self.expand_sql_execute(&mut stmt)?;
        self.resolve_temp_tables(&mut stmt, sql)?;
        let temp = self.temp_schema_name();
        crate::rewrite::regclass_literals(&mut stmt, temp.as_deref());
        crate::rewrite::rewrite(&mut stmt)?;
        self.user_functions(&mut stmt)?;
        self.inline_functions(&mut stmt)?;
        if let Statement::Query(q) = &mut stmt {
            q.locks.clear();
        }
        let shape = crate::fastpath::shape(&stmt);
        let described = match params::describe(self, &mut stmt, client_types).await {
            Err(e) if is_introspection(sql) => {
                // As for simple queries: fall back to datafusion-pg-catalog's lossy rewrite.
                let fallback = self.db.compat.parse(sql).ok().and_then(|mut v| v.pop());
                match fallback {
                    Some(mut alt) => {
                        let described = params::describe(self, &mut alt, client_types).await;
                        stmt = alt;
                        described
                    }
                    None => Err(e),
                }
            }
            other => other,
        };
        let (param_types, mut schema, plan) = described?;
        if let (Statement::ShowVariable { variable }, None) = (&stmt, &schema) {
            schema = Some(show_schema(&show_name(variable)));
        }
        let fast = shape
            .and_then(|sh| crate::fastpath::bind(self, &sh, schema.as_ref()))
            .map(|f| (f, params::count(&stmt)));
        let plan = plan.map(|p| (p, self.db.engine.catalog()));
        let fallback = if is_introspection(sql) {
            self.db.compat.parse(sql).ok().and_then(|mut v| v.pop())
        } else {
            None
        };
        Ok(Prepared {
            statement: Some(stmt),
            param_types,
            schema,
            plan,
            fallback,
            raw: None,
            fast,
        })
    }

    /// Executes a prepared statement with bound parameter values.
    pub async fn execute_prepared(
        &mut self,
        prepared: &Prepared,
        values: Vec<ScalarValue>,
    ) -> SqlResult<Output> {
        let out = self.execute_bound(prepared, values).await;
        self.clock
            .statement_finished(self.status() != TxnStatus::Idle);
        out
    }

    async fn execute_bound(
        &mut self,
        prepared: &Prepared,
        values: Vec<ScalarValue>,
    ) -> SqlResult<Output> {
        self.recover_abandoned();
        self.statement_index = 0;
        self.clock
            .statement_started(self.status() != TxnStatus::Idle);
        if let Some(raw) = &prepared.raw {
            return self
                .execute(raw)
                .await
                .pop()
                .unwrap_or_else(|| Ok(Output::Command(String::new())));
        }
        let Some(stmt) = &prepared.statement else {
            return Ok(Output::Command(String::new()));
        };
        if self.is_mysql() {
            return Box::pin(self.execute_prepared_mysql(prepared, stmt, values)).await;
        }
        if let Some((fast, expected)) = &prepared.fast {
            if values.len() == *expected {
                if let Some(result) = self.run_fast(fast, &values).await {
                    return result;
                }
            }
        }
        // The general path's future is large: it lives on the heap, so that the fast path
        // does not move it around.
        Box::pin(self.execute_prepared_general(prepared, stmt, values)).await
    }

    async fn execute_prepared_general(
        &mut self,
        prepared: &Prepared,
        stmt: &Statement,
        values: Vec<ScalarValue>,
    ) -> SqlResult<Output> {
        let expected = params::count(stmt);
        if values.len() != expected {
            return Err(SqlError::ProtocolViolation(format!(
                "bind message supplies {} parameters, but prepared statement requires {expected}",
                values.len()
            )));
        }
        let before = self.status();
        let result = self.run_prepared(prepared, stmt, values.clone()).await;
        match (&result, &prepared.fallback) {
            (Err(e), Some(fallback)) => {
                // A catalog query DataFusion could not run as written: retry the lossy form,
                // but only if it returns the columns already described to the client.
                tracing::debug!(
                    "prepared catalog query failed as written ({e}); retrying the lossy form"
                );
                if before == TxnStatus::InBlock {
                    if let TxnState::Failed(t) = &self.state {
                        self.state = TxnState::InBlock(Arc::clone(t));
                    }
                }
                let stmt = params::substitute(fallback.clone(), &values)?;
                match self.execute_statement(stmt).await {
                    Ok(Output::Rows {
                        schema,
                        batches,
                        tag,
                    }) if same_columns(&schema, prepared.schema.as_ref()) => Ok(Output::Rows {
                        schema,
                        batches,
                        tag,
                    }),
                    Ok(_) | Err(_) => {
                        self.fail_block();
                        result
                    }
                }
            }
            _ => result,
        }
    }

    pub(crate) async fn run_prepared(
        &mut self,
        prepared: &Prepared,
        stmt: &Statement,
        values: Vec<ScalarValue>,
    ) -> SqlResult<Output> {
        // A cached plan of a plain query runs with the values bound in; anything else runs
        // as a statement with the values substituted as literals.
        if let (Some((plan, catalog)), TxnStateKind::Runnable) = (&prepared.plan, self.state_kind())
        {
            if Arc::ptr_eq(catalog, &self.db.engine.catalog()) {
                let plan = plan.clone().with_param_values(ParamValues::List(
                    values.into_iter().map(Into::into).collect(),
                ))?;
                return self.run_cached_plan(plan).await;
            }
        }
        let stmt = params::substitute(stmt.clone(), &values)?;
        self.execute_statement(stmt).await
    }

    async fn run_cached_plan(&mut self, plan: LogicalPlan) -> SqlResult<Output> {
        let (txn, autocommit) = match &self.state {
            TxnState::InBlock(t) => {
                self.block_has_run = true;
                (Arc::clone(t), false)
            }
            _ => (Arc::new(self.db.engine.begin()), true),
        };
        self.slot.set(Some(Arc::clone(&txn)));
        self.running = Some((txn, autocommit));
        let result = self.run_plan(plan).await;
        self.running = None;
        self.slot.set(None);
        self.end_of_statement();
        match result {
            Ok((schema, batches)) => Ok(Output::Rows {
                schema,
                batches,
                tag: "SELECT".into(),
            }),
            Err(e) => {
                self.fail_block();
                Err(e)
            }
        }
    }

    fn state_kind(&self) -> TxnStateKind {
        match self.state {
            TxnState::Failed(_) => TxnStateKind::Failed,
            _ => TxnStateKind::Runnable,
        }
    }
}

enum TxnStateKind {
    Runnable,
    Failed,
}

/// The setting a `SHOW` names.
fn show_name(variable: &[datafusion::sql::sqlparser::ast::Ident]) -> String {
    let name = variable
        .iter()
        .map(|i| i.value.to_lowercase())
        .collect::<Vec<_>>()
        .join(" ");
    match name.as_str() {
        "transaction isolation level" => "transaction_isolation".to_owned(),
        "time zone" => "timezone".to_owned(),
        // A qualified (extension) setting: `basalt.fast_path`.
        _ => name.replace(' ', "."),
    }
}

/// The columns `SHOW name` returns (and describes, as a prepared statement).
fn show_schema(name: &str) -> SchemaRef {
    let fields = if name == "all" {
        vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("setting", DataType::Utf8, false),
        ]
    } else {
        // PostgreSQL heads the column with the parameter's own spelling.
        let heading = match name {
            "datestyle" => "DateStyle",
            "timezone" => "TimeZone",
            "intervalstyle" => "IntervalStyle",
            other => other,
        };
        vec![Field::new(heading, DataType::Utf8, false)]
    };
    Arc::new(Schema::new(fields))
}

/// Whether a result has the column names and types a statement was described with.
fn same_columns(schema: &SchemaRef, described: Option<&SchemaRef>) -> bool {
    let Some(described) = described else {
        return false;
    };
    schema.fields().len() == described.fields().len()
        && schema
            .fields()
            .iter()
            .zip(described.fields())
            .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type())
}

/// Parses SQL with the PostgreSQL dialect; syntax errors carry a 1-based character position.
/// Makes aggregate `existing` callable as `name` too (a dialect's synonym).
fn register_aggregate_as(ctx: &SessionContext, existing: &str, name: &'static str) {
    if let Some(f) = ctx.state().aggregate_functions().get(existing) {
        ctx.register_udaf(f.as_ref().clone().with_aliases([name]));
    }
}

/// The READ ONLY / READ WRITE mode among a statement's transaction modes, if it names one.
fn access_mode(modes: &[TransactionMode]) -> Option<bool> {
    use datafusion::sql::sqlparser::ast::TransactionAccessMode;
    modes.iter().rev().find_map(|m| match m {
        TransactionMode::AccessMode(TransactionAccessMode::ReadOnly) => Some(true),
        TransactionMode::AccessMode(TransactionAccessMode::ReadWrite) => Some(false),
        _ => None,
    })
}

pub fn parse_sql(sql: &str) -> SqlResult<Vec<Statement>> {
    // sqlparser would read `FROM ONLY t` as the table `only` named `t`.
    if let Some(tokens) = inheritance_syntax(sql, false) {
        let statements = Parser::new(&PostgreSqlDialect {})
            .with_tokens_with_locations(tokens)
            .parse_statements()
            .map_err(|e| syntax_error(sql, e))?;
        for stmt in &statements {
            reject_reserved_relation_names(sql, stmt)?;
        }
        return Ok(statements);
    }
    let statements = match parse_statements(sql) {
        Ok(statements) => statements,
        // `WITH RECURSIVE … SEARCH … / CYCLE …`, rewritten as PostgreSQL defines them.
        Err(e) => match crate::search_cycle::parse(sql) {
            Some(parsed) => parsed?,
            None => rewritten_forms(sql, e)?,
        },
    };
    for stmt in &statements {
        reject_reserved_relation_names(sql, stmt)?;
    }
    Ok(statements)
}

/// The statements of `sql` in the forms sqlparser cannot read as written (`e`, its error,
/// when none applies).
fn rewritten_forms(sql: &str, e: SqlError) -> SqlResult<Vec<Statement>> {
    if let Some(statement) = partition_attachment(sql) {
        return Ok(vec![statement]);
    }
    match crate::copy::with_boolean_option_words(sql)
        .or_else(|| inheritance_syntax(sql, true))
        .or_else(|| constraint_clauses(sql))
        .or_else(|| crate::frame::frame_syntax(sql))
        .or_else(|| crate::view::recursive_view(sql))
        .or_else(|| substring_similar(sql))
        .or_else(|| without_c_collation(sql))
        .or_else(|| crate::variadic::variadic_arguments(sql))
        .or_else(|| crate::token_forms::typed_literals(sql))
        .or_else(|| crate::token_forms::trim_without_characters(sql))
        .or_else(|| crate::token_forms::order_by_using(sql))
        .or_else(|| crate::token_forms::nested_joins(sql))
        .or_else(|| crate::token_forms::partition_opclasses(sql))
        .or_else(|| crate::token_forms::join_using_alias(sql))
        .or_else(|| crate::subscript_assign::subscripted_targets(sql))
        .or_else(|| crate::token_forms::table_statement(sql))
    {
        // `COPY … WITH (FREEZE on)`: PostgreSQL's boolean spellings sqlparser lacks;
        // `RANGE '1 year'::interval PRECEDING`, `EXCLUDE TIES`: window frame syntax
        // sqlparser does not read.
        Some(tokens) => Parser::new(&PostgreSqlDialect {})
            .with_tokens_with_locations(tokens)
            .parse_statements()
            .map_err(|_| e),
        None => Err(e),
    }
}

/// A statement that ends a block (COMMIT, ROLLBACK): outside one it opens no implicit
/// block, and PostgreSQL answers it with its warning.
fn ends_block(stmt: &Statement) -> bool {
    matches!(stmt, Statement::Commit { .. } | Statement::Rollback { .. })
}

/// The tokens of `sql` and the positions of those that are not whitespace (for the
/// token-level rewrites of statements sqlparser cannot read as written).
pub(crate) fn significant_tokens(
    sql: &str,
) -> Option<(
    Vec<datafusion::sql::sqlparser::tokenizer::TokenWithSpan>,
    Vec<usize>,
)> {
    let tokens = datafusion::sql::sqlparser::tokenizer::Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize_with_location()
        .ok()?;
    let significant = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
        .collect();
    Some((tokens, significant))
}

/// A word token, lower-cased.
pub(crate) fn token_word(
    t: &datafusion::sql::sqlparser::tokenizer::TokenWithSpan,
) -> Option<String> {
    match &t.token {
        Token::Word(w) => Some(w.value.to_lowercase()),
        _ => None,
    }
}

/// The tokens of `sql` with the constraint clauses sqlparser does not read in a column or
/// table definition rewritten into a mark on the constraint's name (an unnamed constraint
/// gets the mark alone as its name): `CHECK (…) NO INHERIT` ([`crate::ddl::NO_INHERIT_MARK`])
/// a column's `UNIQUE NULLS NOT DISTINCT` ([`crate::ddl::NULLS_NOT_DISTINCT_MARK`]; `NULLS
/// DISTINCT`, the default, is dropped), and `EXCLUDE [USING btree] (col WITH = [, …])`,
/// which is `UNIQUE (col, …)` with PostgreSQL's exclusion errors
/// ([`crate::ddl::EXCLUDE_MARK`]); `None` when there is none.
fn constraint_clauses(
    sql: &str,
) -> Option<Vec<datafusion::sql::sqlparser::tokenizer::TokenWithSpan>> {
    use datafusion::sql::sqlparser::tokenizer::{TokenWithSpan, Whitespace, Word};
    let (mut tokens, significant) = significant_tokens(sql)?;
    let word = |tokens: &[TokenWithSpan], k: usize| {
        significant.get(k).and_then(|&i| token_word(&tokens[i]))
    };
    let is = |tokens: &[TokenWithSpan], k: usize, t: &Token| {
        significant.get(k).is_some_and(|&i| tokens[i].token == *t)
    };
    let marked = |value: String, mark: &str| {
        Token::Word(Word {
            value: value + mark,
            quote_style: Some('"'),
            keyword: datafusion::sql::sqlparser::keywords::Keyword::NoKeyword,
        })
    };
    let mut drop = Vec::new();
    // (token index of the constraint's keyword, mark) for unnamed constraints.
    let mut named_before: Vec<(usize, &str)> = Vec::new();
    // Tokens written in place of a token (which is dropped).
    let mut replaced: Vec<(usize, Vec<Token>)> = Vec::new();
    for k in 0..significant.len() {
        // The clause's tokens (significant positions) and the mark it leaves, if any.
        let (clause, mark): (Vec<usize>, Option<&str>) = match word(&tokens, k).as_deref() {
            Some("check") if is(&tokens, k + 1, &Token::LParen) => {
                let mut depth = 0usize;
                let mut close = None;
                for (j, &i) in significant.iter().enumerate().skip(k + 1) {
                    match tokens[i].token {
                        Token::LParen => depth += 1,
                        Token::RParen => {
                            depth -= 1;
                            if depth == 0 {
                                close = Some(j);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let Some(close) = close else { continue };
                if word(&tokens, close + 1).as_deref() != Some("no")
                    || word(&tokens, close + 2).as_deref() != Some("inherit")
                {
                    continue;
                }
                (
                    vec![close + 1, close + 2],
                    Some(crate::ddl::NO_INHERIT_MARK),
                )
            }
            Some("unique") if word(&tokens, k + 1).as_deref() == Some("nulls") => {
                let not = word(&tokens, k + 2).as_deref() == Some("not");
                let last = if not { k + 3 } else { k + 2 };
                // A table constraint's column list follows: sqlparser reads that form.
                if word(&tokens, last).as_deref() != Some("distinct")
                    || is(&tokens, last + 1, &Token::LParen)
                {
                    continue;
                }
                let mark = not.then_some(crate::ddl::NULLS_NOT_DISTINCT_MARK);
                ((k + 1..=last).collect(), mark)
            }
            Some("exclude") => {
                let mut open = k + 1;
                if word(&tokens, open).as_deref() == Some("using") {
                    if !matches!(word(&tokens, open + 1).as_deref(), Some("btree" | "hash")) {
                        continue;
                    }
                    open += 2;
                }
                if !is(&tokens, open, &Token::LParen) {
                    continue;
                }
                // `col WITH =`, separated by commas, up to the closing parenthesis.
                let mut columns = Vec::new();
                let mut j = open + 1;
                let close = loop {
                    let column = significant.get(j).map(|&i| &tokens[i].token);
                    let ok = matches!(column, Some(Token::Word(_)))
                        && word(&tokens, j + 1).as_deref() == Some("with")
                        && is(&tokens, j + 2, &Token::Eq);
                    if !ok {
                        break None;
                    }
                    columns.extend(column.cloned());
                    if is(&tokens, j + 3, &Token::RParen) {
                        break Some(j + 3);
                    }
                    if !is(&tokens, j + 3, &Token::Comma) {
                        break None;
                    }
                    j += 4;
                };
                let Some(close) = close else { continue };
                let mut unique = vec![Token::make_keyword("UNIQUE"), Token::LParen];
                for (n, c) in columns.into_iter().enumerate() {
                    if n > 0 {
                        unique.push(Token::Comma);
                    }
                    unique.push(c);
                }
                unique.push(Token::RParen);
                replaced.push((significant[k], unique));
                ((k + 1..=close).collect(), Some(crate::ddl::EXCLUDE_MARK))
            }
            _ => continue,
        };
        drop.extend(clause.iter().map(|&j| significant[j]));
        let Some(mark) = mark else { continue };
        if k >= 2 && word(&tokens, k - 2).as_deref() == Some("constraint") {
            let i = significant[k - 1];
            if let Token::Word(w) = &tokens[i].token {
                let name = if w.quote_style.is_some() {
                    w.value.clone()
                } else {
                    w.value.to_lowercase()
                };
                tokens[i].token = marked(name, mark);
            }
        } else {
            named_before.push((significant[k], mark));
        }
    }
    if drop.is_empty() && replaced.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(tokens.len() + 4 * named_before.len());
    for (i, t) in tokens.into_iter().enumerate() {
        if let Some(&(_, mark)) = named_before.iter().find(|(at, _)| *at == i) {
            for extra in [
                Token::make_keyword("CONSTRAINT"),
                Token::Whitespace(Whitespace::Space),
                marked(String::new(), mark),
                Token::Whitespace(Whitespace::Space),
            ] {
                out.push(TokenWithSpan::wrap(extra));
            }
        }
        if let Some((_, instead)) = replaced.iter_mut().find(|(at, _)| *at == i) {
            out.extend(std::mem::take(instead).into_iter().map(TokenWithSpan::wrap));
        } else if !drop.contains(&i) {
            out.push(t);
        }
    }
    Some(out)
}

/// Suffix of a table name read with `ONLY` (`FROM ONLY parent`): the scan reads the table
/// itself, not the tables that inherit from it. A NUL never occurs in a name from SQL text.
pub const ONLY_MARK: &str = "\0only";

/// The tokens of `sql` with PostgreSQL's inheritance syntax after FROM, JOIN and UPDATE
/// (`ONLY name`, `name*`) in a form sqlparser reads: `ONLY` folded into the name as
/// [`ONLY_MARK`], the `*` (the default, inheriting tables included) dropped; `None` when
/// there is neither. The `*` is looked for only with `stars` (for statements sqlparser could
/// not read otherwise: `FROM x * 2` may be an expression inside `EXTRACT`).
fn inheritance_syntax(
    sql: &str,
    stars: bool,
) -> Option<Vec<datafusion::sql::sqlparser::tokenizer::TokenWithSpan>> {
    let (mut tokens, significant) = significant_tokens(sql)?;
    let word = |tokens: &[datafusion::sql::sqlparser::tokenizer::TokenWithSpan], k: usize| {
        significant.get(k).and_then(|&i| token_word(&tokens[i]))
    };
    let mut drop = Vec::new();
    for k in 1..significant.len() {
        let introduces = |k: usize| {
            matches!(
                word(&tokens, k).as_deref(),
                Some("from" | "join" | "update")
            )
        };
        let only = word(&tokens, k).as_deref() == Some("only") && introduces(k - 1);
        let start = if only { k + 1 } else { k };
        if !(only || introduces(k - 1)) {
            continue;
        }
        // The name: one word, or two joined by a period.
        let is_word = |k: usize| {
            significant
                .get(k)
                .is_some_and(|&i| matches!(tokens[i].token, Token::Word(_)))
        };
        if !is_word(start) {
            continue;
        }
        let mut last = start;
        if significant
            .get(start + 1)
            .is_some_and(|&i| tokens[i].token == Token::Period)
            && is_word(start + 2)
        {
            last = start + 2;
        }
        if only {
            drop.push(significant[k]);
            if let Token::Word(w) = &mut tokens[significant[last]].token {
                if w.quote_style.is_none() {
                    w.value = w.value.to_lowercase();
                }
                w.value.push_str(ONLY_MARK);
                w.quote_style = Some('"');
                w.keyword = datafusion::sql::sqlparser::keywords::Keyword::NoKeyword;
            }
        }
        if let Some(&star) = significant.get(last + 1).filter(|_| stars) {
            if tokens[star].token == Token::Mul {
                drop.push(star);
            }
        }
    }
    if drop.is_empty() {
        return None;
    }
    Some(
        tokens
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !drop.contains(i))
            .map(|(_, t)| t)
            .collect(),
    )
}

/// The tokens of `sql` without its `COLLATE "C"` (or `"POSIX"`) clauses, which sqlparser
/// cannot read after a cast; `None` when there is none. Basalt compares text byte by byte,
/// which is the C collation: the clause changes nothing.
fn without_c_collation(
    sql: &str,
) -> Option<Vec<datafusion::sql::sqlparser::tokenizer::TokenWithSpan>> {
    let (tokens, significant) = significant_tokens(sql)?;
    let mut drop = Vec::new();
    for w in significant.windows(2) {
        let collate = token_word(&tokens[w[0]]).as_deref() == Some("collate");
        let c = matches!(&tokens[w[1]].token,
            Token::Word(word) if word.quote_style == Some('"')
                && matches!(word.value.as_str(), "C" | "POSIX"));
        if collate && c {
            drop.extend([w[0], w[1]]);
        }
    }
    if drop.is_empty() {
        return None;
    }
    Some(
        tokens
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !drop.contains(i))
            .map(|(_, t)| t)
            .collect(),
    )
}

/// `ALTER TABLE parent ATTACH PARTITION child FOR VALUES …` (or `DEFAULT`), and `DETACH
/// PARTITION child`, which sqlparser reads only in ClickHouse's form: the statement as an
/// `ALTER TABLE` whose operation names the child and carries the bound's text (checked here
/// by parsing it as `CREATE TABLE child PARTITION OF parent …`, read again by the DDL).
fn partition_attachment(sql: &str) -> Option<Statement> {
    use datafusion::sql::sqlparser::ast::{
        AlterTable, AlterTableOperation, Partition, Value as AstValue,
    };
    let (tokens, significant) = significant_tokens(sql)?;
    let word = |k: usize| significant.get(k).and_then(|&i| token_word(&tokens[i]));
    if word(0).as_deref() != Some("alter") || word(1).as_deref() != Some("table") {
        return None;
    }
    let k = (2..significant.len()).find(|&k| {
        matches!(word(k).as_deref(), Some("attach" | "detach"))
            && word(k + 1).as_deref() == Some("partition")
    })?;
    let attach = word(k).as_deref() == Some("attach");
    let text = |from: usize, to: usize| -> String {
        tokens[from..to.min(tokens.len())]
            .iter()
            .map(|t| t.token.to_string())
            .collect::<String>()
            .trim()
            .to_owned()
    };
    let mut start = 2;
    let if_exists = word(2).as_deref() == Some("if") && word(3).as_deref() == Some("exists");
    if if_exists {
        start += 2;
    }
    let only = word(start).as_deref() == Some("only");
    if only {
        start += 1;
    }
    let parent = text(significant[start], significant[k]);
    let child_start = k + 2;
    let mut end = child_start;
    while end < significant.len()
        && !matches!(
            word(end).as_deref(),
            Some("for" | "default" | "concurrently" | "finalize")
        )
        && tokens[significant[end]].token != Token::SemiColon
    {
        end += 1;
    }
    let child = text(
        *significant.get(child_start)?,
        significant.get(end).copied().unwrap_or(tokens.len()),
    );
    let rest = match significant.get(end) {
        Some(&i) => text(i, tokens.len()),
        None => String::new(),
    };
    let rest = rest.trim_end_matches(';').trim().to_owned();
    let child_name = parse_object_name_text(&child)?;
    let parent_name = parse_object_name_text(&parent)?;
    let child_expr = Expr::CompoundIdentifier(
        child_name
            .0
            .iter()
            .filter_map(|p| p.as_ident().cloned())
            .collect(),
    );
    let operation = if attach {
        let probe = format!("CREATE TABLE {child} PARTITION OF {parent} {rest}");
        match parse_statements(&probe).ok()?.as_slice() {
            [Statement::CreateTable(ct)] if ct.for_values.is_some() => {}
            _ => return None,
        }
        AlterTableOperation::AttachPartition {
            partition: Partition::Partitions(vec![
                child_expr,
                Expr::value(AstValue::SingleQuotedString(rest)),
            ]),
        }
    } else {
        if !matches!(
            rest.to_lowercase().as_str(),
            "" | "concurrently" | "finalize"
        ) {
            return None;
        }
        AlterTableOperation::DetachPartition {
            partition: Partition::Partitions(vec![child_expr]),
        }
    };
    Some(Statement::AlterTable(AlterTable {
        name: parent_name,
        if_exists,
        only,
        operations: vec![operation],
        location: None,
        on_cluster: None,
        table_type: None,
        end_token: datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
    }))
}

/// A (possibly qualified, possibly quoted) name as sqlparser reads it.
fn parse_object_name_text(text: &str) -> Option<ObjectName> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(text)
        .ok()?
        .parse_object_name(false)
        .ok()
}

/// The tokens of `sql` with the SQL standard's `SUBSTRING(s SIMILAR pattern ESCAPE e)`
/// written as PostgreSQL's older equivalent `SUBSTRING(s FROM pattern FOR e)`, which
/// sqlparser reads; `None` when there is no such call.
fn substring_similar(
    sql: &str,
) -> Option<Vec<datafusion::sql::sqlparser::tokenizer::TokenWithSpan>> {
    #[derive(PartialEq)]
    enum Paren {
        Other,
        Substring,
        AfterSimilar,
    }
    let (mut tokens, significant) = significant_tokens(sql)?;
    let mut changed = false;
    let mut parens: Vec<Paren> = Vec::new();
    for (k, &i) in significant.iter().enumerate() {
        let word = token_word(&tokens[i]);
        let next = significant.get(k + 1).and_then(|&j| token_word(&tokens[j]));
        match (&tokens[i].token, parens.last_mut()) {
            (Token::LParen, _) => {
                let after_substring = k > 0
                    && token_word(&tokens[significant[k - 1]]).as_deref() == Some("substring");
                parens.push(if after_substring {
                    Paren::Substring
                } else {
                    Paren::Other
                });
            }
            (Token::RParen, _) => {
                parens.pop();
            }
            // Not `x SIMILAR TO y`, a predicate inside the call's first argument.
            (Token::Word(_), Some(p @ Paren::Substring))
                if word.as_deref() == Some("similar") && next.as_deref() != Some("to") =>
            {
                tokens[i].token = Token::make_keyword("FROM");
                *p = Paren::AfterSimilar;
                changed = true;
            }
            (Token::Word(_), Some(Paren::AfterSimilar)) if word.as_deref() == Some("escape") => {
                tokens[i].token = Token::make_keyword("FOR");
            }
            _ => {}
        }
    }
    changed.then_some(tokens)
}

/// The names of the UNIQUE constraints that the partitions below `table` took from its
/// constraint `name` (the same columns).
fn partition_constraints(
    catalog: &Catalog,
    table: &basalt_storage::TableDef,
    name: &str,
) -> Vec<String> {
    let Some(index) = table
        .indexes
        .iter()
        .find(|i| i.constraint && i.name == name)
    else {
        return Vec::new();
    };
    let columns: Vec<&str> = index
        .columns
        .iter()
        .map(|&c| table.columns[c].name.as_str())
        .collect();
    crate::partition::descendants(catalog, table)
        .iter()
        .flat_map(|p| {
            p.indexes
                .iter()
                .filter(|i| i.constraint && i.deferrable)
                .filter(|i| {
                    let names: Vec<&str> = i
                        .columns
                        .iter()
                        .map(|&c| p.columns[c].name.as_str())
                        .collect();
                    names == columns
                })
                .map(|i| i.name.clone())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Whether `table` has a constraint `name`, and if so whether it is deferrable.
fn constraint_deferrable(table: &basalt_storage::TableDef, name: &str) -> Option<bool> {
    if let Some(i) = table
        .indexes
        .iter()
        .find(|i| i.constraint && i.name == name)
    {
        return Some(i.deferrable);
    }
    if let Some(fk) = table.foreign_keys.iter().find(|f| f.name == name) {
        return Some(fk.deferrable);
    }
    let key = table.primary_key.is_some() && table.primary_key_name.as_deref() == Some(name);
    (key || table.checks.iter().any(|c| c.name == name)).then_some(false)
}

/// sqlparser's statement loop, with VACUUM and ANALYZE read in PostgreSQL's grammar.
fn parse_statements(sql: &str) -> SqlResult<Vec<Statement>> {
    let error = |e| reserved_word_error(sql).unwrap_or_else(|| syntax_error(sql, e));
    let mut p = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .map_err(error)?;
    let mut statements = Vec::new();
    let mut expecting_delimiter = false;
    loop {
        while p.consume_token(&Token::SemiColon) {
            expecting_delimiter = false;
        }
        if p.peek_token_ref().token == Token::EOF {
            break;
        }
        if expecting_delimiter {
            let found = p.peek_token();
            return Err(error(
                p.expected::<()>("end of statement", found)
                    .err()
                    .unwrap_or(ParserError::ParserError("expected end of statement".into())),
            ));
        }
        // PostgreSQL's ABORT is ROLLBACK.
        if matches!(&p.peek_token_ref().token, Token::Word(w) if w.value.eq_ignore_ascii_case("abort"))
        {
            p.next_token();
            statements.push(p.parse_rollback().map_err(error)?);
            expecting_delimiter = true;
            continue;
        }
        if let Some(statement) = crate::custom::parse(&mut p).map_err(error)? {
            statements.push(statement);
            expecting_delimiter = true;
            continue;
        }
        let statement = match crate::maintenance::parse(&mut p).map_err(error)? {
            Some(s) => s?,
            None => p.parse_statement().map_err(error)?,
        };
        statements.push(statement);
        expecting_delimiter = true;
    }
    Ok(statements)
}

/// PostgreSQL's reserved key words, which cannot name a table unless quoted. The SQL parser
/// accepts them there, so `SELECT * FROM WHERE x = 1` is refused here, at the word; and
/// `quote_ident` quotes them.
pub(crate) const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "current_catalog",
    "current_date",
    "current_role",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "initially",
    "intersect",
    "into",
    "lateral",
    "leading",
    "limit",
    "localtime",
    "localtimestamp",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "placing",
    "primary",
    "references",
    "returning",
    "select",
    "session_user",
    "some",
    "symmetric",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "when",
    "where",
    "window",
    "with",
];

/// A reserved word where a table name belongs (`FROM WHERE`) is the real mistake behind a
/// later parse error; report it, at its position, as PostgreSQL does.
fn reserved_word_error(sql: &str) -> Option<SqlError> {
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize_with_location()
        .ok()?;
    let words: Vec<_> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    for pair in words.windows(2) {
        let (Token::Word(before), Token::Word(name)) = (&pair[0].token, &pair[1].token) else {
            continue;
        };
        let introduces_table = ["from", "join", "into", "update", "table"]
            .contains(&before.value.to_lowercase().as_str());
        // Words that may follow FROM inside an expression (IS DISTINCT FROM NULL, …) are not
        // table names.
        const VALUES: &[&str] = &[
            "null",
            "true",
            "false",
            "array",
            "case",
            "cast",
            "current_date",
            "current_time",
            "current_timestamp",
            "localtime",
            "localtimestamp",
            "current_user",
            "session_user",
            "user",
        ];
        let lower = name.value.to_lowercase();
        if introduces_table
            && name.quote_style.is_none()
            && RESERVED.contains(&lower.as_str())
            && !VALUES.contains(&lower.as_str())
        {
            let loc = pair[1].span.start;
            return Some(SqlError::Syntax {
                message: format!("syntax error at or near \"{}\"", name.value),
                position: Some(char_position(sql, loc.line as usize, loc.column as usize)),
            });
        }
    }
    None
}

fn reject_reserved_relation_names(sql: &str, stmt: &Statement) -> SqlResult<()> {
    let mut bad: Option<datafusion::sql::sqlparser::ast::Ident> = None;
    let _ = datafusion::sql::sqlparser::ast::visit_relations(stmt, |name| {
        if let [part] = name.0.as_slice() {
            if let Some(ident) = part.as_ident() {
                if ident.quote_style.is_none()
                    && RESERVED.contains(&ident.value.to_lowercase().as_str())
                {
                    bad = Some(ident.clone());
                    return std::ops::ControlFlow::Break(());
                }
            }
        }
        std::ops::ControlFlow::Continue(())
    });
    match bad {
        Some(ident) => {
            let start = ident.span.start;
            let position = (start.line > 0)
                .then(|| char_position(sql, start.line as usize, start.column as usize));
            Err(SqlError::Syntax {
                message: format!("syntax error at or near \"{}\"", ident.value),
                position,
            })
        }
        None => Ok(()),
    }
}

fn syntax_error(sql: &str, e: ParserError) -> SqlError {
    let text = match &e {
        ParserError::ParserError(s) | ParserError::TokenizerError(s) => s.clone(),
        ParserError::RecursionLimitExceeded => {
            return SqlError::Syntax {
                message: "statement is too deeply nested".into(),
                position: None,
            }
        }
    };
    // sqlparser reports "... at Line: L, Column: C".
    if text.contains("found: EOF") {
        // PostgreSQL points just past the end of the statement.
        let message = text
            .strip_prefix("Expected: ")
            .map_or(text.clone(), |r| format!("expected {r}"));
        return SqlError::Syntax {
            message: format!("syntax error at end of input: {message}"),
            position: Some(sql.chars().count() + 1),
        };
    }
    let (message, position) = match text.rfind(" at Line: ") {
        Some(i) => {
            let loc = &text[i + " at Line: ".len()..];
            let mut parts = loc.split(", Column: ");
            let line: usize = parts
                .next()
                .and_then(|l| l.trim().parse().ok())
                .unwrap_or(1);
            let col: usize = parts
                .next()
                .and_then(|c| c.trim().parse().ok())
                .unwrap_or(1);
            (text[..i].to_owned(), Some(char_position(sql, line, col)))
        }
        None => (text, None),
    };
    let message = match message.strip_prefix("Expected: ") {
        Some(rest) => format!("syntax error: expected {rest}"),
        None => format!("syntax error: {message}"),
    };
    SqlError::Syntax { message, position }
}

/// 1-based character offset of a 1-based (line, column).
pub(crate) fn char_position(sql: &str, line: usize, col: usize) -> usize {
    let mut pos = 0;
    for (i, l) in sql.split('\n').enumerate() {
        if i + 1 == line {
            return pos + col.max(1);
        }
        pos += l.chars().count() + 1;
    }
    pos.max(1)
}

/// Queries from client tools that read PostgreSQL's system catalogs get rewritten into a
/// form DataFusion plans (casts to `regclass`, `OPERATOR(pg_catalog.~)`, ...).
fn is_introspection(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    lower.contains("pg_catalog") || lower.contains("pg_") && lower.contains("::reg")
}

/// `-08:00`, `+05:30`, `5`: an interval's text for `SET TIME ZONE INTERVAL …`, as hours.
fn interval_hours(text: &str) -> Option<f64> {
    let text = text.trim();
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let mut hours = 0.0;
    for (i, part) in body.split(':').enumerate() {
        if i > 2 || part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        hours += part.parse::<f64>().ok()? / 60f64.powi(i as i32);
    }
    Some(if negative { -hours } else { hours })
}

fn setting_text(e: &Expr) -> String {
    match e {
        Expr::Value(v) => match &v.value {
            AstValue::SingleQuotedString(s) | AstValue::DoubleQuotedString(s) => s.clone(),
            other => other.to_string(),
        },
        Expr::Identifier(i) => i.value.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn object_name_parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|p| match p.as_ident() {
            Some(ident) if ident.value.ends_with(ONLY_MARK) => ident
                .value
                .strip_suffix(ONLY_MARK)
                .unwrap_or_default()
                .to_owned(),
            Some(ident) if ident.quote_style.is_some() => ident.value.clone(),
            Some(ident) => ident.value.to_lowercase(),
            None => p.to_string(),
        })
        .collect()
}

/// The settings of a startup packet's `options` (libpq's `PGOPTIONS`), read as PostgreSQL
/// reads its command line: words split at blanks (a backslash keeps the next character),
/// each `-c name=value` or `--name=value`. Dashes in names are underscores.
fn startup_options(options: &str) -> SqlResult<Vec<(String, String)>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => word.extend(chars.next()),
            c if c.is_ascii_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let invalid = |message: String| SqlError::Detailed {
        sqlstate: "42601",
        message,
        detail: String::new(),
        hint: Some("Try \"postgres --help\" for more information.".into()),
    };
    let mut out = Vec::new();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        let (setting, form) = if w == "-c" {
            let next = it
                .next()
                .ok_or_else(|| invalid("-c requires a value".into()))?;
            (next.as_str(), "-c ")
        } else if let Some(rest) = w.strip_prefix("-c") {
            (rest, "-c ")
        } else if let Some(rest) = w.strip_prefix("--") {
            (rest, "--")
        } else {
            return Err(invalid(format!(
                "invalid command-line argument for server process: {w}"
            )));
        };
        let (name, value) = setting
            .split_once('=')
            .ok_or_else(|| invalid(format!("{form}{setting} requires a value")))?;
        out.push((name.replace('-', "_").to_lowercase(), value.to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod startup_option_tests {
    use super::startup_options;

    #[test]
    fn pgoptions_as_postgres_reads_them() {
        let got = startup_options("-c intervalstyle=postgres_verbose --search-path=a\\ b -cx=1")
            .expect("valid");
        assert_eq!(
            got,
            vec![
                ("intervalstyle".into(), "postgres_verbose".into()),
                ("search_path".into(), "a b".into()),
                ("x".into(), "1".into()),
            ]
        );
        assert!(startup_options("-c").is_err());
        assert!(startup_options("nonsense").is_err());
    }
}
