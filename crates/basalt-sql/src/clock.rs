//! `now()` and PostgreSQL's other clock functions as microsecond `timestamptz` values, the
//! unit Basalt stores (DataFusion's `now()` counts nanoseconds, whose range ends in 2262, so
//! comparing it with `timestamp '9999-12-31'` would overflow).
//!
//! As in PostgreSQL, `now()`, `current_timestamp` and `transaction_timestamp()` are the time
//! the transaction started (one value for every statement of a `BEGIN` … `COMMIT` block),
//! `statement_timestamp()` the time the statement started, and `clock_timestamp()` reads
//! the clock at each call. Each session keeps its two times in a [`SessionClock`]; the
//! functions read it when the plan is simplified, so the value is a constant of the
//! statement. The text input `'now'` reads the same transaction time through [`CLOCK`],
//! set for the task that serves the session's connection.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use basalt_common::types::TIMESTAMPTZ_ZONE;

/// The start times of a session's current transaction and statement, in microseconds
/// since 1970 (UTC), and whether a statement or a transaction block is under way.
#[derive(Debug, Default)]
pub struct SessionClock {
    transaction: AtomicI64,
    statement: AtomicI64,
    /// A statement runs or a block is open: `transaction` is the current one's.
    active: AtomicBool,
    /// The session's TimeZone, for code that reads date/time text without the session at
    /// hand (set with the session's text style).
    zone: parking_lot::RwLock<crate::zone::SessionZone>,
}

impl SessionClock {
    /// A statement starts now; outside a transaction block (`in_block` false) it is its own
    /// transaction.
    pub fn statement_started(&self, in_block: bool) {
        let now = chrono::Utc::now().timestamp_micros();
        self.statement.store(now, Ordering::Relaxed);
        if !in_block {
            self.transaction.store(now, Ordering::Relaxed);
        }
        self.active.store(true, Ordering::Relaxed);
    }

    /// The statement ended; `in_block`: a transaction block is still open.
    pub fn statement_finished(&self, in_block: bool) {
        self.active.store(in_block, Ordering::Relaxed);
    }

    /// A transaction block opens in the running statement (`BEGIN`, a string of several
    /// statements): it started when the statement did.
    pub fn block_opened(&self) {
        self.transaction
            .store(self.statement.load(Ordering::Relaxed), Ordering::Relaxed);
        self.active.store(true, Ordering::Relaxed);
    }

    /// A chained transaction starts now (`COMMIT AND CHAIN`, `ROLLBACK AND CHAIN`).
    pub fn chained(&self) {
        self.transaction
            .store(chrono::Utc::now().timestamp_micros(), Ordering::Relaxed);
    }

    pub fn set_zone(&self, zone: crate::zone::SessionZone) {
        *self.zone.write() = zone;
    }

    pub fn transaction(&self) -> i64 {
        self.transaction.load(Ordering::Relaxed)
    }

    pub fn statement(&self) -> i64 {
        self.statement.load(Ordering::Relaxed)
    }

    /// The current transaction's start, when one is under way.
    fn current_transaction(&self) -> Option<i64> {
        self.active
            .load(Ordering::Relaxed)
            .then(|| self.transaction())
    }
}

tokio::task_local! {
    /// The clock of the session the current task serves (a connection's task), for code
    /// that runs without the session at hand: the text input `'now'`.
    pub static CLOCK: Arc<SessionClock>;
}

/// The current transaction's start time, for `'now'`: the session's when this task serves
/// one and a statement or block is under way, else the current time (a statement parsed
/// before it runs, outside any block, reads the clock).
pub fn transaction_micros() -> i64 {
    CLOCK
        .try_with(|c| c.current_transaction())
        .ok()
        .flatten()
        .unwrap_or_else(|| chrono::Utc::now().timestamp_micros())
}

/// The TimeZone of the session this task serves (UTC when it serves none).
pub fn session_zone() -> crate::zone::SessionZone {
    CLOCK.try_with(|c| *c.zone.read()).unwrap_or_default()
}

/// Which time a clock function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Reads {
    Transaction,
    Statement,
    /// The clock at each call (clock_timestamp).
    EachCall,
}

#[derive(Debug)]
struct PgClock {
    name: &'static str,
    aliases: Vec<String>,
    reads: Reads,
    clock: Arc<SessionClock>,
    signature: Signature,
}

impl PartialEq for PgClock {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.clock, &other.clock)
    }
}

impl Eq for PgClock {}

impl std::hash::Hash for PgClock {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        Arc::as_ptr(&self.clock).hash(state);
    }
}

fn timestamptz() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(TIMESTAMPTZ_ZONE.into()))
}

fn value(micros: i64) -> ScalarValue {
    ScalarValue::TimestampMicrosecond(Some(micros), Some(TIMESTAMPTZ_ZONE.into()))
}

/// The clock functions of a PostgreSQL session, reading its `clock`.
pub fn udfs(clock: &Arc<SessionClock>) -> Vec<ScalarUDF> {
    let udf = |name, aliases: &[&str], reads| {
        ScalarUDF::from(PgClock {
            name,
            aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
            reads,
            clock: Arc::clone(clock),
            signature: Signature::nullary(if reads == Reads::EachCall {
                Volatility::Volatile
            } else {
                Volatility::Stable
            }),
        })
    };
    vec![
        udf(
            "now",
            &["current_timestamp", "transaction_timestamp"],
            Reads::Transaction,
        ),
        udf("statement_timestamp", &[], Reads::Statement),
        udf("clock_timestamp", &[], Reads::EachCall),
    ]
}

impl ScalarUDFImpl for PgClock {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(timestamptz())
    }
    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> DfResult<FieldRef> {
        Ok(Arc::new(Field::new(self.name, timestamptz(), false)))
    }
    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        // The statement's start time is put in when the plan is simplified; refusing here
        // keeps the planner's constant folding from reading the clock once per call.
        if self.reads != Reads::EachCall {
            return Err(datafusion::error::DataFusionError::Internal(format!(
                "{}() is replaced by the statement's start time when planned",
                self.name
            )));
        }
        Ok(ColumnarValue::Scalar(value(
            chrono::Utc::now().timestamp_micros(),
        )))
    }
    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> DfResult<ExprSimplifyResult> {
        let micros = match self.reads {
            Reads::Transaction => self.clock.transaction(),
            Reads::Statement => self.clock.statement(),
            Reads::EachCall => return Ok(ExprSimplifyResult::Original(args)),
        };
        // A clock never started (a plan simplified outside any statement): the time of the
        // plan, as DataFusion keeps it.
        let micros = match (micros, info.query_execution_start_time()) {
            (0, Some(start)) => start.timestamp_micros(),
            (m, _) => m,
        };
        Ok(ExprSimplifyResult::Simplified(Expr::Literal(
            value(micros),
            None,
        )))
    }
}
