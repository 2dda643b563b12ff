//! Basalt's SQL layer: sessions, statement dispatch, DDL and DML, and the DataFusion
//! integration that runs queries over the row engine.
//!
//! Data flow: a protocol hands a session SQL text (or a parsed statement with parameters);
//! the session parses it with the PostgreSQL dialect, runs transaction control itself, DDL
//! through the storage catalog, DML by planning the affected rows with DataFusion and
//! writing them into the transaction, and SELECT through DataFusion over Basalt
//! `TableProvider`s that read the statement's snapshot.
//!
//! Invariants: a statement either applies all of its writes or none (statement-level
//! atomicity); a failed statement inside a transaction block puts the block in the failed
//! state until ROLLBACK, as in PostgreSQL.

pub mod aggorder;
pub mod aliases;
pub mod analytics;
pub mod analyzer;
pub mod append;
pub mod arrays;
pub mod bytea;
pub mod clock;
pub mod colscan;
pub mod copy;
pub mod cte;
pub mod cursor;
pub mod custom;
pub mod datebin;
pub mod datetime;
pub mod ddl;
pub mod ddl_undo;
pub mod dml;
pub mod domain;
pub mod error;
pub mod eval;
pub mod exclusion;
pub mod extract;
pub mod fastpath;
pub mod foreign;
pub mod format;
pub mod frame;
pub mod frame_offsets;
pub mod fromchar;
pub mod functions;
pub mod interval_order;
pub mod lateral;
pub mod literals;
pub mod maintenance;
pub mod make_timestamp;
pub mod mysql;
pub mod numeric;
pub mod opclass;
pub mod ordered_set;
pub mod params;
pub mod partition;
pub mod pg_catalog;
pub mod pgagg;
pub mod pgbytes;
pub mod pgfloat;
pub mod pgformat;
pub mod pghash;
pub mod pgmath;
pub mod pgshift;
pub mod pgsort;
pub mod placement;
pub mod plcall;
pub mod plpgsql;
pub mod precision;
pub mod provider;
pub mod recursion;
pub mod regexp;
pub mod rewrite;
pub mod rowin;
pub mod scope;
pub mod search_cycle;
pub mod session;
pub mod setops;
pub mod shared;
pub mod sqlfunc;
pub mod srf;
pub mod subquery;
pub mod subscript_assign;
pub mod temp;
pub mod tochar;
pub mod token_forms;
pub mod trigger;
pub mod types;
pub mod undefined_fn;
pub mod unknown;
pub mod using_join;
pub mod variadic;
pub mod view;
pub mod wholerow;
pub mod winorder;
pub mod wire;
pub mod zone;

pub use error::{SqlError, SqlResult};
pub use session::{Database, Output, Session, TxnStatus};
