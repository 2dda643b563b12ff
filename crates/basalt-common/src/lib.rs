//! Basalt's shared vocabulary: the SQL type system, stored values, timestamps and ids.
//!
//! Every other crate speaks in these terms. Invariants kept here:
//! - a [`SqlType`] maps to exactly one Arrow [`DataType`](datafusion::arrow::datatypes::DataType),
//!   so the row engine, the column engine and DataFusion agree on the physical form of a column;
//! - timestamps are newtypes ([`CommitTs`], [`ReadTs`]) so a read timestamp can never be passed
//!   where a commit timestamp is expected.

pub mod ids;
pub mod types;
pub mod value;

pub use ids::{CommitTs, IndexId, Lsn, ReadTs, TableId, TxnId};
pub use types::SqlType;
pub use value::{Row, Value};
