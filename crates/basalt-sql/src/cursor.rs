//! SQL cursors: `DECLARE name CURSOR FOR query`, `FETCH`, `MOVE` and `CLOSE`.
//!
//! A cursor's rows are computed at DECLARE, under the snapshot of that moment, which is
//! what PostgreSQL's default (insensitive) cursors show; FETCH then moves over them as
//! PostgreSQL's portal does: the position is 0 before the first row, n on row n, and
//! count + 1 after the last.
//!
//! A query that fails on its data (SQLSTATE class 22: division by zero, overflow, invalid
//! input) fails at the first FETCH or MOVE instead of at DECLARE, where PostgreSQL, which
//! computes rows as they are fetched, reports it; the cursor is then dead, as PostgreSQL's
//! failed portal is (`portal "c" cannot be run`, 55000).

use datafusion::arrow::array::{RecordBatch, UInt32Array};
use datafusion::arrow::compute::take_record_batch;

use crate::custom::FetchDirection;
use crate::error::{SqlError, SqlResult};

pub struct Cursor {
    pub rows: RecordBatch,
    pos: usize,
    /// `SCROLL` (`Some(true)`), `NO SCROLL` (`Some(false)`) or neither.
    scroll: Option<bool>,
    /// `WITH HOLD`: survives the COMMIT of its transaction.
    pub hold: bool,
    /// Declared in the transaction block still open (dropped if it rolls back).
    pub in_block: bool,
    /// The number of savepoints set when it was declared: ROLLBACK TO a savepoint set
    /// before it closes it.
    pub depth: usize,
    /// The error computing the rows gave, reported by the first FETCH or MOVE.
    pending: Option<SqlError>,
    /// A FETCH failed: the cursor cannot be read any more.
    dead: bool,
}

impl Cursor {
    pub fn new(rows: RecordBatch, scroll: Option<bool>, hold: bool, in_block: bool) -> Cursor {
        Cursor {
            rows,
            pos: 0,
            scroll,
            hold,
            in_block,
            depth: 0,
            pending: None,
            dead: false,
        }
    }

    /// A cursor whose query failed on its data with `error` (see the module comment).
    pub fn failed(
        rows: RecordBatch,
        error: SqlError,
        scroll: Option<bool>,
        hold: bool,
        in_block: bool,
    ) -> Cursor {
        Cursor {
            pending: Some(error),
            ..Cursor::new(rows, scroll, hold, in_block)
        }
    }

    /// Whether a query's error waits for the first FETCH instead of failing DECLARE.
    pub fn defers(error: &SqlError) -> bool {
        error.sqlstate().starts_with("22")
    }

    /// Moves as `direction` says and returns the rows passed over (FETCH returns them,
    /// MOVE counts them).
    pub fn fetch(&mut self, name: &str, direction: &FetchDirection) -> SqlResult<RecordBatch> {
        if self.dead {
            return Err(SqlError::Detailed {
                sqlstate: "55000",
                message: format!("portal \"{name}\" cannot be run"),
                detail: String::new(),
                hint: None,
            });
        }
        if let Some(error) = self.pending.take() {
            self.dead = true;
            return Err(error);
        }
        let n = self.rows.num_rows();
        let backward = match direction {
            FetchDirection::Backward(_) => true,
            FetchDirection::Absolute(k) => (*k as i128) < self.pos as i128 || *k < 0,
            FetchDirection::Relative(k) => *k < 0,
            FetchDirection::Forward(_) => false,
        };
        if backward && self.scroll == Some(false) {
            return Err(SqlError::Detailed {
                sqlstate: "55000",
                message: "cursor can only scan forward".into(),
                detail: String::new(),
                hint: Some("Declare it with SCROLL option to enable backward scan.".into()),
            });
        }
        let mut picked: Vec<u32> = Vec::new();
        let land = |target: i128, pos: &mut usize, picked: &mut Vec<u32>| {
            if target < 1 {
                *pos = 0;
            } else if target > n as i128 {
                *pos = n + 1;
            } else {
                *pos = target as usize;
                picked.push((target - 1) as u32);
            }
        };
        match direction {
            FetchDirection::Forward(Some(0))
            | FetchDirection::Backward(Some(0))
            | FetchDirection::Relative(0) => {
                if (1..=n).contains(&self.pos) {
                    picked.push((self.pos - 1) as u32);
                }
            }
            FetchDirection::Forward(count) => {
                let count = count.map_or(u64::MAX, |c| c.max(0) as u64);
                let mut taken = 0u64;
                while taken < count {
                    if self.pos >= n {
                        self.pos = n + 1;
                        break;
                    }
                    self.pos += 1;
                    picked.push((self.pos - 1) as u32);
                    taken += 1;
                }
            }
            FetchDirection::Backward(count) => {
                let count = count.map_or(u64::MAX, |c| c.max(0) as u64);
                let mut taken = 0u64;
                while taken < count {
                    if self.pos <= 1 {
                        self.pos = 0;
                        break;
                    }
                    self.pos -= 1;
                    picked.push((self.pos - 1) as u32);
                    taken += 1;
                }
            }
            FetchDirection::Absolute(k) => {
                let target = if *k >= 0 {
                    *k as i128
                } else {
                    n as i128 + 1 + *k as i128
                };
                if *k == 0 {
                    self.pos = 0;
                } else {
                    land(target, &mut self.pos, &mut picked);
                }
            }
            FetchDirection::Relative(k) => {
                land(self.pos as i128 + *k as i128, &mut self.pos, &mut picked);
            }
        }
        let indices = UInt32Array::from(picked);
        Ok(take_record_batch(&self.rows, &indices)?)
    }
}

pub fn no_such_cursor(name: &str) -> SqlError {
    SqlError::Detailed {
        sqlstate: "34000",
        message: format!("cursor \"{name}\" does not exist"),
        detail: String::new(),
        hint: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, Int32Array};
    use std::sync::Arc;

    fn cursor(n: i32) -> Cursor {
        let a = Int32Array::from((1..=n).collect::<Vec<_>>());
        let rows = RecordBatch::try_from_iter(vec![("a", Arc::new(a) as _)]).unwrap();
        Cursor::new(rows, None, false, true)
    }

    fn values(b: &RecordBatch) -> Vec<i32> {
        let a = b.column(0).as_any().downcast_ref::<Int32Array>().unwrap();
        (0..a.len()).map(|i| a.value(i)).collect()
    }

    #[test]
    fn moves_as_postgresql_portals_do() {
        use FetchDirection::*;
        let mut c = cursor(5);
        assert_eq!(
            values(&c.fetch("c", &Forward(Some(2))).unwrap()),
            vec![1, 2]
        );
        assert_eq!(values(&c.fetch("c", &Forward(Some(0))).unwrap()), vec![2]);
        assert_eq!(values(&c.fetch("c", &Backward(Some(1))).unwrap()), vec![1]);
        assert_eq!(
            values(&c.fetch("c", &Backward(Some(1))).unwrap()),
            Vec::<i32>::new()
        );
        assert_eq!(
            values(&c.fetch("c", &Forward(None)).unwrap()),
            vec![1, 2, 3, 4, 5]
        );
        assert_eq!(
            values(&c.fetch("c", &Forward(Some(1))).unwrap()),
            Vec::<i32>::new()
        );
        assert_eq!(
            values(&c.fetch("c", &Backward(Some(2))).unwrap()),
            vec![5, 4]
        );
        assert_eq!(values(&c.fetch("c", &Absolute(-1)).unwrap()), vec![5]);
        assert_eq!(values(&c.fetch("c", &Absolute(2)).unwrap()), vec![2]);
        assert_eq!(values(&c.fetch("c", &Relative(2)).unwrap()), vec![4]);
        assert_eq!(
            values(&c.fetch("c", &Relative(9)).unwrap()),
            Vec::<i32>::new()
        );
        assert_eq!(
            values(&c.fetch("c", &Backward(None)).unwrap()),
            vec![5, 4, 3, 2, 1]
        );
        let mut forward_only = cursor(3);
        forward_only.scroll = Some(false);
        assert!(forward_only.fetch("c", &Backward(Some(1))).is_err());
    }
}
