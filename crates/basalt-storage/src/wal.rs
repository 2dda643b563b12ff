//! The write-ahead log: append-only segment files of checksummed records, with group commit.
//!
//! Frame: `len: u32 LE | crc32c(payload): u32 LE | payload`. One record per committed
//! transaction or DDL change; a transaction larger than `PART_BYTES` is logged as
//! `CommitPart` records followed by its `Commit`, all appended together under the commit
//! lock, and recovery applies the parts only with the `Commit` that ends them. Segments are named by the LSN (byte position in the whole log)
//! of their first record, so recovery reads them in order and a checkpoint can delete the
//! segments wholly before its start LSN.
//!
//! Group commit: committers append framed records to an in-memory queue (under the engine's
//! commit lock, so log order is commit order) and wait; one flusher thread writes everything
//! queued, fsyncs once, and then publishes the new durable LSN and timestamp. Every commit
//! that queued while the previous fsync ran shares the next one. Bounds: the queue holds at
//! most `QUEUE_BYTES_MAX` bytes; committers beyond that wait for the flusher.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use basalt_common::{CommitTs, Row, TableId};
use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

use crate::catalog::Catalog;
use crate::codec::{encode_row, put_bytes, put_u32, put_u64, Key, Reader};
use crate::StorageError;

pub const SEGMENT_BYTES_MAX: u64 = 64 << 20;
const QUEUE_BYTES_MAX: usize = 64 << 20;
const FRAME_HEADER_BYTES: usize = 8;
/// A record larger than this is corrupt by definition (a transaction larger than this is
/// refused before it is logged).
pub const RECORD_BYTES_MAX: usize = 1 << 30;

/// Size at which a transaction's log record is cut into parts, so that a COPY of millions of
/// rows is logged in bounded pieces rather than one record held whole in memory.
pub const PART_BYTES: usize = 8 << 20;

const KIND_COMMIT: u8 = 1;
const KIND_CATALOG: u8 = 2;
const KIND_COMMIT_PART: u8 = 3;
/// kind u8 | ts u64 | op count u32
const COMMIT_HEADER_BYTES: usize = 13;

#[derive(Debug, Clone)]
pub struct WalOp {
    pub table: TableId,
    pub key: Key,
    pub row: Option<Row>,
}

#[derive(Debug)]
pub enum WalRecord {
    Commit {
        ts: CommitTs,
        ops: Vec<WalOp>,
    },
    /// Leading changes of a transaction too large for one record; its `Commit` follows.
    /// `recover` merges parts into their `Commit` and never returns them.
    CommitPart {
        ts: CommitTs,
        ops: Vec<WalOp>,
    },
    /// A DDL change: the whole new catalog, and the tables whose rows it removed.
    Catalog {
        ts: CommitTs,
        catalog: Box<Catalog>,
        truncated: Vec<TableId>,
    },
}

impl WalRecord {
    pub fn ts(&self) -> CommitTs {
        match self {
            WalRecord::Commit { ts, .. }
            | WalRecord::CommitPart { ts, .. }
            | WalRecord::Catalog { ts, .. } => *ts,
        }
    }

    pub fn encode(&self) -> Result<Vec<u8>, StorageError> {
        let mut out = Vec::new();
        match self {
            WalRecord::Commit { ts, ops } | WalRecord::CommitPart { ts, ops } => {
                let mut enc = CommitEncoder::new(*ts);
                for op in ops {
                    enc.put(op.table, &op.key, op.row.as_deref());
                }
                out = enc.finish(matches!(self, WalRecord::Commit { .. }));
            }
            WalRecord::Catalog {
                ts,
                catalog,
                truncated,
            } => {
                out.push(KIND_CATALOG);
                put_u64(&mut out, ts.0);
                put_u32(&mut out, truncated.len() as u32);
                for t in truncated {
                    put_u32(&mut out, t.0);
                }
                let json = serde_json::to_vec(catalog.as_ref())
                    .map_err(|e| StorageError::Internal(format!("catalog encoding: {e}")))?;
                put_bytes(&mut out, &json);
            }
        }
        if out.len() > RECORD_BYTES_MAX {
            return Err(StorageError::TransactionTooLarge(out.len()));
        }
        Ok(out)
    }

    pub fn decode(payload: &[u8]) -> Result<WalRecord, StorageError> {
        let mut r = Reader::new(payload);
        let kind = r.u8()?;
        let ts = CommitTs(r.u64()?);
        let record = match kind {
            KIND_COMMIT | KIND_COMMIT_PART => {
                let n = r.u32()? as usize;
                let mut ops = Vec::with_capacity(n.min(payload.len()));
                for _ in 0..n {
                    let table = TableId(r.u32()?);
                    let key: Key = r.bytes()?.into();
                    let row = match r.u8()? {
                        0 => None,
                        _ => Some(r.row()?),
                    };
                    ops.push(WalOp { table, key, row });
                }
                if kind == KIND_COMMIT {
                    WalRecord::Commit { ts, ops }
                } else {
                    WalRecord::CommitPart { ts, ops }
                }
            }
            KIND_CATALOG => {
                let n = r.u32()? as usize;
                let mut truncated = Vec::with_capacity(n.min(payload.len()));
                for _ in 0..n {
                    truncated.push(TableId(r.u32()?));
                }
                let catalog = serde_json::from_slice(r.bytes()?)
                    .map_err(|e| StorageError::Corrupt(format!("catalog record: {e}")))?;
                WalRecord::Catalog {
                    ts,
                    catalog: Box::new(catalog),
                    truncated,
                }
            }
            k => return Err(StorageError::Corrupt(format!("unknown record kind {k}"))),
        };
        if !r.is_empty() {
            return Err(StorageError::Corrupt("trailing bytes after record".into()));
        }
        Ok(record)
    }
}

/// Encodes one transaction's changes as it goes: `put` hands back a finished `CommitPart`
/// payload whenever the record reaches `PART_BYTES`, and `finish` the final record.
pub struct CommitEncoder {
    ts: CommitTs,
    out: Vec<u8>,
    ops: u32,
}

impl CommitEncoder {
    pub fn new(ts: CommitTs) -> CommitEncoder {
        let mut out = Vec::new();
        out.push(KIND_COMMIT);
        put_u64(&mut out, ts.0);
        put_u32(&mut out, 0);
        CommitEncoder { ts, out, ops: 0 }
    }

    fn put(&mut self, table: TableId, key: &[u8], row: Option<&[basalt_common::Value]>) {
        put_u32(&mut self.out, table.0);
        put_bytes(&mut self.out, key);
        match row {
            Some(row) => {
                self.out.push(1);
                encode_row(row, &mut self.out);
            }
            None => self.out.push(0),
        }
        self.ops += 1;
    }

    /// Adds one change; returns a full `CommitPart` payload to log when the record is big.
    pub fn push(
        &mut self,
        table: TableId,
        key: &[u8],
        row: Option<&[basalt_common::Value]>,
    ) -> Option<Vec<u8>> {
        self.put(table, key, row);
        if self.out.len() < PART_BYTES {
            return None;
        }
        let ts = self.ts;
        Some(std::mem::replace(self, CommitEncoder::new(ts)).finish(false))
    }

    /// The record: the final `Commit` (`last`) or a `CommitPart`.
    pub fn finish(mut self, last: bool) -> Vec<u8> {
        self.out[0] = if last { KIND_COMMIT } else { KIND_COMMIT_PART };
        self.out[9..COMMIT_HEADER_BYTES].copy_from_slice(&self.ops.to_le_bytes());
        self.out
    }
}

pub fn frame(payload: &[u8], out: &mut Vec<u8>) {
    put_u32(out, payload.len() as u32);
    put_u32(out, crc32c::crc32c(payload));
    out.extend_from_slice(payload);
}

pub fn segment_path(dir: &Path, start_lsn: u64) -> PathBuf {
    dir.join(format!("{start_lsn:020}.wal"))
}

/// WAL segment files in `dir`, by start LSN.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))? {
        let entry = entry.map_err(|e| StorageError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if let Some(stem) = name.strip_suffix(".wal") {
            if let Ok(lsn) = stem.parse::<u64>() {
                out.push((lsn, entry.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// What recovery read from the log.
pub struct Recovered {
    pub records: Vec<WalRecord>,
    /// LSN just past the last good record: where appending continues.
    pub end_lsn: u64,
    /// The newest timestamp in the log, counting the parts of a transaction a crash cut
    /// short: new commits must be later, or their `Commit` would adopt those parts.
    pub max_ts: u64,
}

/// Reads every record of the segments starting at or after `from_lsn`.
///
/// A damaged record at the very end of the last segment is a write torn by a crash: it was
/// never acknowledged, so it is cut off. A damaged record anywhere else means acknowledged
/// data is unreadable: recovery stops with an error naming the file and offset.
pub fn recover(dir: &Path, from_lsn: u64) -> Result<Recovered, StorageError> {
    let segments = list_segments(dir)?;
    let mut records = Vec::new();
    // Parts of a transaction whose `Commit` has not been read yet.
    let mut parts: Option<(CommitTs, Vec<WalOp>)> = None;
    let mut max_ts = 0;
    let mut end_lsn = from_lsn;
    let live: Vec<_> = segments
        .iter()
        .filter(|(lsn, _)| *lsn >= from_lsn)
        .collect();
    for (i, (start, path)) in live.iter().enumerate() {
        let is_last = i + 1 == live.len();
        let bytes = fs::read(path).map_err(|e| StorageError::io(path, e))?;
        let mut pos = 0usize;
        while pos < bytes.len() {
            match read_frame(&bytes, pos) {
                Ok((payload, next)) => {
                    let record = WalRecord::decode(payload).map_err(|e| {
                        StorageError::Corrupt(format!(
                            "{}: undecodable record at offset {pos}: {e}",
                            path.display()
                        ))
                    })?;
                    max_ts = max_ts.max(record.ts().0);
                    match record {
                        WalRecord::CommitPart { ts, ops } => match &mut parts {
                            Some((pts, pops)) if *pts == ts => pops.extend(ops),
                            _ => parts = Some((ts, ops)),
                        },
                        WalRecord::Commit { ts, mut ops } => {
                            if let Some((pts, mut pops)) = parts.take() {
                                if pts == ts {
                                    pops.append(&mut ops);
                                    ops = pops;
                                }
                            }
                            records.push(WalRecord::Commit { ts, ops });
                        }
                        other => {
                            // Parts not ended by their commit belong to a transaction cut
                            // short by a crash: never acknowledged, so dropped.
                            parts = None;
                            records.push(other);
                        }
                    }
                    pos = next;
                }
                Err(frame_end) => {
                    // A damaged record is a torn tail only if it is the last thing in the log:
                    // a valid record after it means acknowledged data would be cut off.
                    let torn_tail =
                        is_last && frame_end >= bytes.len() && !valid_frame_after(&bytes, pos);
                    if !torn_tail {
                        return Err(StorageError::Corrupt(format!(
                            "{}: checksum mismatch or damaged record at offset {pos}; the log \
                             after this point holds acknowledged commits, refusing to start \
                             (restore the file or move it away to accept the loss)",
                            path.display()
                        )));
                    }
                    tracing::warn!(
                        "{}: cutting off a torn record at offset {pos} ({} bytes)",
                        path.display(),
                        bytes.len() - pos
                    );
                    let f = OpenOptions::new()
                        .write(true)
                        .open(path)
                        .map_err(|e| StorageError::io(path, e))?;
                    f.set_len(pos as u64)
                        .map_err(|e| StorageError::io(path, e))?;
                    f.sync_all().map_err(|e| StorageError::io(path, e))?;
                    break;
                }
            }
        }
        end_lsn = start + pos as u64;
    }
    Ok(Recovered {
        records,
        end_lsn,
        max_ts,
    })
}

/// Whether any complete, checksum-valid frame starts after `pos`.
fn valid_frame_after(bytes: &[u8], pos: usize) -> bool {
    (pos + 1..bytes.len().saturating_sub(FRAME_HEADER_BYTES)).any(|p| {
        matches!(read_frame(bytes, p), Ok((payload, _)) if !payload.is_empty() && WalRecord::decode(payload).is_ok())
    })
}

/// Reads the frame at `pos`. On damage returns the offset where the damaged frame claims to
/// end (or the buffer end when its header is cut).
fn read_frame(bytes: &[u8], pos: usize) -> Result<(&[u8], usize), usize> {
    let header = bytes
        .get(pos..pos + FRAME_HEADER_BYTES)
        .ok_or(bytes.len())?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let start = pos + FRAME_HEADER_BYTES;
    let end = start.saturating_add(len);
    let payload = bytes.get(start..end).ok_or(end)?;
    if len > RECORD_BYTES_MAX || crc32c::crc32c(payload) != crc {
        return Err(end);
    }
    Ok((payload, end))
}

enum Chunk {
    Bytes(Vec<u8>),
    /// Start a new segment at this LSN.
    Rotate(u64),
}

struct Queue {
    chunks: Vec<Chunk>,
    queued_bytes: usize,
    end_lsn: u64,
    last_ts: u64,
    segment_start: u64,
    shutdown: bool,
}

/// What is on disk: every record up to `lsn`, the newest with timestamp `ts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durable {
    pub lsn: u64,
    pub ts: u64,
    pub failed: bool,
}

pub struct Wal {
    dir: PathBuf,
    queue: Mutex<Queue>,
    queue_cond: Condvar,
    durable: Mutex<Durable>,
    durable_cond: Condvar,
    durable_tx: watch::Sender<Durable>,
    fsync: bool,
    flusher: Mutex<Option<JoinHandle<()>>>,
    /// fdatasync calls made (each shared by every commit queued before it).
    syncs: std::sync::atomic::AtomicU64,
}

impl Wal {
    /// Opens the log for appending at `end_lsn` (from recovery); `ts` is the newest durable
    /// commit timestamp.
    pub fn open(dir: &Path, end_lsn: u64, ts: u64, fsync: bool) -> Result<Arc<Wal>, StorageError> {
        let segments = list_segments(dir)?;
        let segment_start = segments.last().map_or(end_lsn, |(s, _)| *s);
        let durable = Durable {
            lsn: end_lsn,
            ts,
            failed: false,
        };
        let (durable_tx, _) = watch::channel(durable);
        let wal = Arc::new(Wal {
            dir: dir.to_owned(),
            queue: Mutex::new(Queue {
                chunks: Vec::new(),
                queued_bytes: 0,
                end_lsn,
                last_ts: ts,
                segment_start,
                shutdown: false,
            }),
            queue_cond: Condvar::new(),
            durable: Mutex::new(durable),
            durable_cond: Condvar::new(),
            durable_tx,
            fsync,
            flusher: Mutex::new(None),
            syncs: std::sync::atomic::AtomicU64::new(0),
        });
        let file = open_segment(dir, segment_start)?;
        let w = Arc::clone(&wal);
        let handle = std::thread::Builder::new()
            .name("basalt-wal".into())
            .spawn(move || w.flush_loop(file))
            .map_err(|e| StorageError::io(dir, e))?;
        *wal.flusher.lock() = Some(handle);
        Ok(wal)
    }

    /// Queues one record; returns the LSN that must be durable before it is acknowledged.
    /// Call with the engine's commit lock held, so that log order is timestamp order.
    pub fn append(&self, payload: &[u8], ts: CommitTs) -> Result<u64, StorageError> {
        self.queue_record(payload, Some(ts))
    }

    /// Queues a `CommitPart` record: durable like any other, but it publishes no timestamp,
    /// since the transaction is not installed until its final record is queued.
    pub fn append_part(&self, payload: &[u8]) -> Result<u64, StorageError> {
        self.queue_record(payload, None)
    }

    fn queue_record(&self, payload: &[u8], ts: Option<CommitTs>) -> Result<u64, StorageError> {
        if payload.len() > RECORD_BYTES_MAX {
            return Err(StorageError::TransactionTooLarge(payload.len()));
        }
        let mut q = self.queue.lock();
        while q.queued_bytes > QUEUE_BYTES_MAX && !q.shutdown {
            self.queue_cond.wait(&mut q);
        }
        if q.shutdown || self.durable.lock().failed {
            return Err(StorageError::WalUnavailable);
        }
        let mut buf = Vec::with_capacity(payload.len() + FRAME_HEADER_BYTES);
        frame(payload, &mut buf);
        q.end_lsn += buf.len() as u64;
        q.queued_bytes += buf.len();
        if let Some(ts) = ts {
            q.last_ts = ts.0;
        }
        let end = q.end_lsn;
        q.chunks.push(Chunk::Bytes(buf));
        if end - q.segment_start >= SEGMENT_BYTES_MAX {
            q.segment_start = end;
            q.chunks.push(Chunk::Rotate(end));
        }
        self.queue_cond.notify_all();
        Ok(end)
    }

    /// Starts a new segment at the current end; returns its start LSN. Records appended
    /// after this call land in the new segment.
    pub fn rotate(&self) -> u64 {
        let mut q = self.queue.lock();
        let end = q.end_lsn;
        if q.segment_start != end {
            q.segment_start = end;
            q.chunks.push(Chunk::Rotate(end));
            self.queue_cond.notify_all();
        }
        end
    }

    pub fn durable(&self) -> Durable {
        *self.durable.lock()
    }

    /// Waits (without blocking the async runtime) until `lsn` is on disk.
    pub async fn wait_durable(&self, lsn: u64) -> Result<(), StorageError> {
        let mut rx = self.durable_tx.subscribe();
        loop {
            let d = *rx.borrow_and_update();
            if d.failed {
                return Err(StorageError::WalUnavailable);
            }
            if d.lsn >= lsn {
                return Ok(());
            }
            if rx.changed().await.is_err() {
                return Err(StorageError::WalUnavailable);
            }
        }
    }

    /// Blocking form of [`Wal::wait_durable`], for background threads.
    pub fn wait_durable_blocking(&self, lsn: u64) -> Result<(), StorageError> {
        let mut d = self.durable.lock();
        while d.lsn < lsn && !d.failed {
            self.durable_cond.wait(&mut d);
        }
        if d.failed {
            return Err(StorageError::WalUnavailable);
        }
        Ok(())
    }

    /// Flushes everything queued and stops the flusher thread.
    pub fn shutdown(&self) {
        {
            let mut q = self.queue.lock();
            q.shutdown = true;
            self.queue_cond.notify_all();
        }
        if let Some(h) = self.flusher.lock().take() {
            let _ = h.join();
        }
    }

    fn flush_loop(self: Arc<Self>, mut file: File) {
        loop {
            let (chunks, lsn, ts, stop) = {
                let mut q = self.queue.lock();
                while q.chunks.is_empty() && !q.shutdown {
                    self.queue_cond.wait(&mut q);
                }
                let chunks = std::mem::take(&mut q.chunks);
                q.queued_bytes = 0;
                self.queue_cond.notify_all();
                (chunks, q.end_lsn, q.last_ts, q.shutdown)
            };
            if !chunks.is_empty() {
                if let Err(e) = self.write_chunks(&mut file, chunks) {
                    // The log can no longer promise durability: fail every waiting and future
                    // commit rather than acknowledge what may not be on disk.
                    tracing::error!("WAL write failed, refusing further commits: {e}");
                    let mut d = self.durable.lock();
                    d.failed = true;
                    self.durable_tx.send_replace(*d);
                    self.durable_cond.notify_all();
                    return;
                }
                let mut d = self.durable.lock();
                *d = Durable {
                    lsn,
                    ts,
                    failed: false,
                };
                self.durable_tx.send_replace(*d);
                self.durable_cond.notify_all();
            }
            if stop {
                return;
            }
        }
    }

    fn write_chunks(&self, file: &mut File, chunks: Vec<Chunk>) -> Result<(), StorageError> {
        for chunk in chunks {
            match chunk {
                Chunk::Bytes(b) => file
                    .write_all(&b)
                    .map_err(|e| StorageError::io(&self.dir, e))?,
                Chunk::Rotate(start) => {
                    self.sync(file)?;
                    *file = open_segment(&self.dir, start)?;
                    sync_dir(&self.dir)?;
                }
            }
        }
        self.sync(file)
    }

    fn sync(&self, file: &File) -> Result<(), StorageError> {
        if self.fsync {
            file.sync_data()
                .map_err(|e| StorageError::io(&self.dir, e))?;
            self.syncs
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    /// How many fsyncs the log has made.
    pub fn sync_count(&self) -> u64 {
        self.syncs.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn open_segment(dir: &Path, start: u64) -> Result<File, StorageError> {
    let path = segment_path(dir, start);
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| StorageError::io(&path, e))
}

pub fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| StorageError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use basalt_common::Value;

    fn commit(ts: u64, n: i64) -> WalRecord {
        WalRecord::Commit {
            ts: CommitTs(ts),
            ops: vec![WalOp {
                table: TableId(1),
                key: crate::codec::encode_rowid(n),
                row: Some(vec![Value::Int64(n), Value::Text("x".repeat(10))].into()),
            }],
        }
    }

    fn write_log(dir: &Path, n: u64) -> PathBuf {
        let mut buf = Vec::new();
        for i in 1..=n {
            frame(&commit(i, i as i64).encode().unwrap(), &mut buf);
        }
        let path = segment_path(dir, 0);
        fs::write(&path, &buf).unwrap();
        path
    }

    #[test]
    fn torn_tail_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_log(dir.path(), 5);
        let len = fs::metadata(&path).unwrap().len();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 3).unwrap();
        let r = recover(dir.path(), 0).unwrap();
        assert_eq!(r.records.len(), 4);
        assert_eq!(fs::metadata(&path).unwrap().len(), r.end_lsn);
    }

    #[test]
    fn corrupt_middle_record_stops_recovery_with_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_log(dir.path(), 5);
        let mut bytes = fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xFF;
        fs::write(&path, &bytes).unwrap();
        let err = recover(dir.path(), 0)
            .err()
            .expect("corruption must be reported");
        let msg = err.to_string();
        assert!(msg.contains("offset"), "{msg}");
        assert!(msg.contains(".wal"), "{msg}");
    }

    #[test]
    fn damaged_length_before_valid_records_is_corruption_not_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_log(dir.path(), 5);
        let mut bytes = fs::read(&path).unwrap();
        // Make the first record claim to run past the end of the file.
        bytes[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        fs::write(&path, &bytes).unwrap();
        assert!(
            recover(dir.path(), 0).is_err(),
            "acknowledged records after the damage must not be cut off"
        );
    }

    fn op(n: i64) -> WalOp {
        WalOp {
            table: TableId(1),
            key: crate::codec::encode_rowid(n),
            row: Some(vec![Value::Int64(n)].into()),
        }
    }

    #[test]
    fn parts_join_their_commit_and_orphan_parts_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut buf = Vec::new();
        let record = |r: WalRecord, buf: &mut Vec<u8>| frame(&r.encode().unwrap(), buf);
        // ts 1: two parts and the commit; ts 2: a part cut off by a crash, then ts 3 (written
        // after restart); ts 4: a part at the very end.
        record(
            WalRecord::CommitPart {
                ts: CommitTs(1),
                ops: vec![op(1), op(2)],
            },
            &mut buf,
        );
        record(
            WalRecord::CommitPart {
                ts: CommitTs(1),
                ops: vec![op(3)],
            },
            &mut buf,
        );
        record(
            WalRecord::Commit {
                ts: CommitTs(1),
                ops: vec![op(4)],
            },
            &mut buf,
        );
        record(
            WalRecord::CommitPart {
                ts: CommitTs(2),
                ops: vec![op(5)],
            },
            &mut buf,
        );
        record(
            WalRecord::Commit {
                ts: CommitTs(3),
                ops: vec![op(6)],
            },
            &mut buf,
        );
        record(
            WalRecord::CommitPart {
                ts: CommitTs(4),
                ops: vec![op(7)],
            },
            &mut buf,
        );
        fs::write(segment_path(dir.path(), 0), &buf).unwrap();
        let r = recover(dir.path(), 0).unwrap();
        let commits: Vec<(u64, Vec<Key>)> = r
            .records
            .iter()
            .map(|rec| match rec {
                WalRecord::Commit { ts, ops } => {
                    (ts.0, ops.iter().map(|o| o.key.clone()).collect())
                }
                other => panic!("unexpected record {:?}", other.ts()),
            })
            .collect();
        let keys = |ns: &[i64]| {
            ns.iter()
                .map(|n| crate::codec::encode_rowid(*n))
                .collect::<Vec<_>>()
        };
        assert_eq!(commits, vec![(1, keys(&[1, 2, 3, 4])), (3, keys(&[6]))]);
        assert_eq!(
            r.max_ts, 4,
            "the orphan part's timestamp must not be reused"
        );
    }

    #[test]
    fn encoder_cuts_large_transactions_into_parts() {
        let mut enc = CommitEncoder::new(CommitTs(9));
        let row: Row = vec![Value::Text("y".repeat(1 << 16))].into();
        let mut parts = Vec::new();
        for n in 0..300 {
            if let Some(p) = enc.push(TableId(1), &crate::codec::encode_rowid(n), Some(&row)) {
                parts.push(p);
            }
        }
        let last = enc.finish(true);
        assert!(parts.len() >= 2, "{} parts", parts.len());
        assert!(parts.iter().all(|p| p.len() < PART_BYTES + (1 << 17)));
        let mut total = 0;
        for p in &parts {
            match WalRecord::decode(p).unwrap() {
                WalRecord::CommitPart { ts, ops } => {
                    assert_eq!(ts, CommitTs(9));
                    total += ops.len();
                }
                _ => panic!("a part must decode as CommitPart"),
            }
        }
        match WalRecord::decode(&last).unwrap() {
            WalRecord::Commit { ops, .. } => total += ops.len(),
            _ => panic!("the last record must be a Commit"),
        }
        assert_eq!(total, 300);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_commits_share_fsyncs() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), 0, 0, true).unwrap();
        let commits = 200u64;
        let mut waiters = Vec::new();
        for i in 1..=commits {
            let lsn = wal
                .append(&commit(i, i as i64).encode().unwrap(), CommitTs(i))
                .unwrap();
            let w = Arc::clone(&wal);
            waiters.push(tokio::spawn(async move { w.wait_durable(lsn).await }));
        }
        for w in waiters {
            w.await.unwrap().unwrap();
        }
        let syncs = wal.sync_count();
        assert!(
            syncs >= 1 && syncs < commits / 2,
            "{syncs} fsyncs for {commits} concurrent commits"
        );
        wal.shutdown();
    }

    #[tokio::test]
    async fn group_commit_makes_appends_durable() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path(), 0, 0, true).unwrap();
        let mut last = 0;
        for i in 1..=10u64 {
            last = wal
                .append(&commit(i, i as i64).encode().unwrap(), CommitTs(i))
                .unwrap();
        }
        wal.wait_durable(last).await.unwrap();
        assert_eq!(wal.durable().ts, 10);
        wal.shutdown();
        let r = recover(dir.path(), 0).unwrap();
        assert_eq!(r.records.len(), 10);
        assert_eq!(r.end_lsn, last);
    }
}
