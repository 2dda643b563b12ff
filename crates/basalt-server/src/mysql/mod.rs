//! The MySQL client/server protocol: one [`Session`] in the MySQL dialect per connection.
//!
//! Basalt speaks the protocol with its own small codec rather than through `opensrv-mysql`:
//! that crate sends every column with one character set (so BLOB and TEXT look alike to
//! drivers), always reports zero warnings, panics on out-of-order continuation packets, has
//! no limit on packet size, and answers unknown commands with OK. See docs/mysql.md.
//!
//! Authentication: `mysql_native_password` and `caching_sha2_password` exchanges are
//! understood; until users exist, `root` with an empty password is accepted from loopback
//! addresses and everything else is refused with 1045.

mod packet;
mod rows;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use basalt_sql::mysql::{ConnInfo, MyError};
use basalt_sql::session::Prepared;
use basalt_sql::{Database, Output, Session, SqlError};
use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

use packet::{put_lenenc_int, Cursor, Malformed, PacketError, PacketReader, PacketWriter};
use rows::{binary_row, column_definition, column_meta, text_row, ColumnMeta};

/// What `SELECT VERSION()` and the handshake report on the MySQL port.
pub use basalt_sql::mysql::MYSQL_SERVER_VERSION;

/// `max_allowed_packet`: larger packets end the connection with error 1153.
pub const MAX_ALLOWED_PACKET: usize = 64 << 20;
/// Prepared statements one connection may hold (MySQL's `max_prepared_stmt_count` default).
const MAX_STATEMENTS: usize = 16_382;
/// How long a new connection may take to authenticate (MySQL's `connect_timeout`).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Bytes of result rows buffered before they are sent.
const FLUSH_BYTES: usize = 256 << 10;

// Capability flags.
const CLIENT_LONG_PASSWORD: u32 = 1;
const CLIENT_FOUND_ROWS: u32 = 2;
const CLIENT_LONG_FLAG: u32 = 4;
const CLIENT_CONNECT_WITH_DB: u32 = 8;
const CLIENT_LOCAL_FILES: u32 = 128;
const CLIENT_IGNORE_SPACE: u32 = 256;
const CLIENT_PROTOCOL_41: u32 = 512;
const CLIENT_INTERACTIVE: u32 = 1024;
const CLIENT_SSL: u32 = 2048;
const CLIENT_TRANSACTIONS: u32 = 8192;
const CLIENT_SECURE_CONNECTION: u32 = 32768;
const CLIENT_MULTI_STATEMENTS: u32 = 1 << 16;
const CLIENT_MULTI_RESULTS: u32 = 1 << 17;
const CLIENT_PS_MULTI_RESULTS: u32 = 1 << 18;
const CLIENT_PLUGIN_AUTH: u32 = 1 << 19;
const CLIENT_CONNECT_ATTRS: u32 = 1 << 20;
const CLIENT_PLUGIN_AUTH_LENENC: u32 = 1 << 21;
const CLIENT_DEPRECATE_EOF: u32 = 1 << 24;

const SERVER_CAPABILITIES: u32 = CLIENT_LONG_PASSWORD
    | CLIENT_FOUND_ROWS
    | CLIENT_LONG_FLAG
    | CLIENT_CONNECT_WITH_DB
    | CLIENT_LOCAL_FILES
    | CLIENT_IGNORE_SPACE
    | CLIENT_PROTOCOL_41
    | CLIENT_INTERACTIVE
    | CLIENT_TRANSACTIONS
    | CLIENT_SECURE_CONNECTION
    | CLIENT_MULTI_STATEMENTS
    | CLIENT_MULTI_RESULTS
    | CLIENT_PS_MULTI_RESULTS
    | CLIENT_PLUGIN_AUTH
    | CLIENT_CONNECT_ATTRS
    | CLIENT_PLUGIN_AUTH_LENENC
    | CLIENT_DEPRECATE_EOF;

// Server status flags.
const SERVER_STATUS_IN_TRANS: u16 = 1;
const SERVER_STATUS_AUTOCOMMIT: u16 = 2;
const SERVER_MORE_RESULTS_EXISTS: u16 = 8;

// Commands.
const COM_QUIT: u8 = 0x01;
const COM_INIT_DB: u8 = 0x02;
const COM_QUERY: u8 = 0x03;
const COM_FIELD_LIST: u8 = 0x04;
const COM_STATISTICS: u8 = 0x09;
const COM_PING: u8 = 0x0E;
const COM_STMT_PREPARE: u8 = 0x16;
const COM_STMT_EXECUTE: u8 = 0x17;
const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
const COM_STMT_CLOSE: u8 = 0x19;
const COM_STMT_RESET: u8 = 0x1A;
const COM_SET_OPTION: u8 = 0x1B;
const COM_RESET_CONNECTION: u8 = 0x1F;

const NATIVE_PASSWORD: &str = "mysql_native_password";
const CACHING_SHA2: &str = "caching_sha2_password";

static NEXT_CONNECTION_ID: AtomicU32 = AtomicU32::new(1);

pub async fn accept_loop(listener: TcpListener, db: Arc<Database>) -> Result<(), String> {
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("MySQL accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let db = Arc::clone(&db);
        tokio::spawn(async move {
            let id = NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed);
            match serve(socket, peer, db, id).await {
                Ok(()) | Err(PacketError::Closed) => {}
                Err(e) => tracing::debug!("MySQL connection {id} from {peer} ended: {e}"),
            }
        });
    }
}

/// A prepared statement of one connection.
struct Statement {
    prepared: Prepared,
    params: usize,
    /// Parameter types from the last execution that sent them (type, unsigned).
    types: Vec<(u8, bool)>,
    long_data: HashMap<usize, Vec<u8>>,
}

struct Connection<W> {
    writer: PacketWriter<W>,
    caps: u32,
    session: Session,
    statements: HashMap<u32, Statement>,
    next_statement: u32,
}

fn scramble() -> [u8; 20] {
    use std::hash::{BuildHasher, Hasher};
    let mut out = [0u8; 20];
    let state = std::collections::hash_map::RandomState::new();
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h = state.build_hasher();
        h.write_usize(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        let v = h.finish().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    // Printable, never NUL: some clients treat the scramble as a C string.
    for b in &mut out {
        *b = 0x21 + (*b % 0x5D);
    }
    out
}

struct Handshake {
    caps: u32,
    user: String,
    auth: Vec<u8>,
    db: Option<String>,
    plugin: String,
}

fn parse_handshake(payload: &[u8]) -> Result<Handshake, Malformed> {
    let mut c = Cursor::new(payload);
    let caps = c.u32()?;
    if caps & CLIENT_PROTOCOL_41 == 0 {
        return Err(Malformed);
    }
    let _max_packet = c.u32()?;
    let _charset = c.u8()?;
    c.take(23)?;
    let user = String::from_utf8_lossy(c.nul_terminated()).into_owned();
    let auth = if caps & CLIENT_PLUGIN_AUTH_LENENC != 0 {
        c.lenenc_bytes()?.to_vec()
    } else if caps & CLIENT_SECURE_CONNECTION != 0 {
        let n = usize::from(c.u8()?);
        c.take(n)?.to_vec()
    } else {
        c.nul_terminated().to_vec()
    };
    let db = if caps & CLIENT_CONNECT_WITH_DB != 0 && c.remaining() > 0 {
        let d = c.nul_terminated();
        (!d.is_empty()).then(|| String::from_utf8_lossy(d).into_owned())
    } else {
        None
    };
    let plugin = if caps & CLIENT_PLUGIN_AUTH != 0 && c.remaining() > 0 {
        String::from_utf8_lossy(c.nul_terminated()).into_owned()
    } else {
        NATIVE_PASSWORD.to_owned()
    };
    Ok(Handshake {
        caps,
        user,
        auth,
        db,
        plugin,
    })
}

fn initial_handshake(id: u32, scramble: &[u8; 20]) -> Vec<u8> {
    let mut p = Vec::with_capacity(128);
    p.push(10);
    p.extend_from_slice(MYSQL_SERVER_VERSION.as_bytes());
    p.push(0);
    p.extend_from_slice(&id.to_le_bytes());
    p.extend_from_slice(&scramble[..8]);
    p.push(0);
    p.extend_from_slice(&(SERVER_CAPABILITIES as u16).to_le_bytes());
    p.push(rows::UTF8MB4 as u8);
    p.extend_from_slice(&SERVER_STATUS_AUTOCOMMIT.to_le_bytes());
    p.extend_from_slice(&((SERVER_CAPABILITIES >> 16) as u16).to_le_bytes());
    p.push(21);
    p.extend_from_slice(&[0; 10]);
    p.extend_from_slice(&scramble[8..]);
    p.push(0);
    p.extend_from_slice(NATIVE_PASSWORD.as_bytes());
    p.push(0);
    p
}

fn err_packet(code: u16, sqlstate: &str, message: &str) -> Vec<u8> {
    let mut p = Vec::with_capacity(16 + message.len());
    p.push(0xFF);
    p.extend_from_slice(&code.to_le_bytes());
    p.push(b'#');
    let mut state = [b'H', b'Y', b'0', b'0', b'0'];
    for (i, b) in sqlstate.bytes().take(5).enumerate() {
        state[i] = b;
    }
    p.extend_from_slice(&state);
    p.extend_from_slice(message.as_bytes());
    p
}

async fn serve(
    socket: TcpStream,
    peer: SocketAddr,
    db: Arc<Database>,
    id: u32,
) -> Result<(), PacketError> {
    let (read_half, write_half) = socket.into_split();
    let mut reader = PacketReader::new(read_half, MAX_ALLOWED_PACKET);
    let mut writer = PacketWriter::new(write_half);
    let salt = scramble();
    writer.seq = 0;
    writer.packet(&initial_handshake(id, &salt));
    writer.flush().await?;

    // Like MySQL's connect_timeout: a client that does not answer the greeting is dropped.
    let (payload, seq) = match tokio::time::timeout(CONNECT_TIMEOUT, reader.read(1)).await {
        Ok(r) => r?,
        Err(_) => return Ok(()),
    };
    writer.seq = seq.wrapping_add(1);
    if payload.len() >= 4 {
        let caps = u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]);
        if caps & CLIENT_SSL != 0 {
            writer.packet(&err_packet(
                3159,
                "08004",
                "SSL connections are not supported yet; connect without TLS (--ssl-mode=DISABLED)",
            ));
            writer.flush().await?;
            return Ok(());
        }
    }
    let Ok(mut hs) = parse_handshake(&payload) else {
        writer.packet(&err_packet(1043, "08S01", "Bad handshake"));
        writer.flush().await?;
        return Ok(());
    };
    if hs.plugin != NATIVE_PASSWORD && hs.plugin != CACHING_SHA2 {
        // Ask for a plugin Basalt understands.
        let mut p = vec![0xFE];
        p.extend_from_slice(NATIVE_PASSWORD.as_bytes());
        p.push(0);
        p.extend_from_slice(&salt);
        p.push(0);
        writer.packet(&p);
        writer.flush().await?;
        let (auth, seq) = match tokio::time::timeout(CONNECT_TIMEOUT, reader.read(writer.seq)).await
        {
            Ok(r) => r?,
            Err(_) => return Ok(()),
        };
        writer.seq = seq.wrapping_add(1);
        hs.auth = auth;
        hs.plugin = NATIVE_PASSWORD.to_owned();
    }
    let empty_password = hs.auth.is_empty() || hs.auth == [0];
    let loopback = peer.ip().is_loopback();
    if !(hs.user == "root" && empty_password && loopback) {
        let msg = format!(
            "Access denied for user '{}'@'{}' (using password: {}); Basalt accepts root without a password from loopback until users are added",
            hs.user,
            peer.ip(),
            if empty_password { "NO" } else { "YES" }
        );
        writer.packet(&err_packet(1045, "28000", &msg));
        writer.flush().await?;
        return Ok(());
    }
    let info = ConnInfo {
        connection_id: id,
        user: hs.user.clone(),
        host: peer.to_string(),
    };
    let session = match db.mysql_session(info) {
        Ok(s) => s,
        Err(e) => {
            let e = MyError::from(&e);
            writer.packet(&err_packet(e.code, e.sqlstate, &e.message));
            writer.flush().await?;
            return Ok(());
        }
    };
    let mut conn = Connection {
        writer,
        caps: hs.caps & SERVER_CAPABILITIES,
        session,
        statements: HashMap::new(),
        next_statement: 1,
    };
    conn.session
        .set_mysql_found_rows(hs.caps & CLIENT_FOUND_ROWS != 0);
    if let Some(name) = &hs.db {
        if let Err(e) = conn.session.use_database(name) {
            conn.send_error(&e);
            conn.writer.flush().await?;
            return Ok(());
        }
    }
    conn.send_ok(0, 0, 0);
    conn.writer.flush().await?;
    let result = conn.run(&mut reader).await;
    conn.session.close();
    result
}

impl<W: AsyncWrite + Unpin + Send> Connection<W> {
    async fn run<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut PacketReader<R>,
    ) -> Result<(), PacketError> {
        loop {
            let payload = match reader.read(0).await {
                Ok((p, _)) => p,
                Err(PacketError::TooLarge) => {
                    self.writer.seq = 1;
                    self.writer.packet(&err_packet(
                        1153,
                        "08S01",
                        "Got a packet bigger than 'max_allowed_packet' bytes",
                    ));
                    let _ = self.writer.flush().await;
                    return Err(PacketError::TooLarge);
                }
                Err(e) => return Err(e),
            };
            self.writer.seq = 1;
            let Some((&command, body)) = payload.split_first() else {
                return Err(PacketError::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "empty command packet",
                )));
            };
            match command {
                COM_QUIT => return Ok(()),
                COM_PING => self.send_ok(0, 0, 0),
                COM_QUERY => self.query(body).await?,
                COM_INIT_DB => {
                    let name = String::from_utf8_lossy(body).into_owned();
                    match self.session.use_database(name.trim_end_matches('\0')) {
                        Ok(()) => self.send_ok(0, 0, 0),
                        Err(e) => self.send_error(&e),
                    }
                }
                COM_FIELD_LIST => self.field_list(body),
                COM_STATISTICS => {
                    let stats = self.session.mysql_statistics();
                    self.writer.packet(stats.as_bytes());
                }
                COM_STMT_PREPARE => self.prepare(body).await,
                COM_STMT_EXECUTE => {
                    if let Err(Malformed) = self.execute(body).await? {
                        self.send_raw_error(
                            1210,
                            "HY000",
                            "Incorrect arguments to mysqld_stmt_execute",
                        );
                    }
                }
                COM_STMT_SEND_LONG_DATA => {
                    // No response, by the protocol.
                    let mut c = Cursor::new(body);
                    if let (Ok(id), Ok(param)) = (c.u32(), c.u16()) {
                        if let Some(st) = self.statements.get_mut(&id) {
                            let buf = st.long_data.entry(usize::from(param)).or_default();
                            if buf.len() + c.remaining() > MAX_ALLOWED_PACKET {
                                return Err(PacketError::TooLarge);
                            }
                            buf.extend_from_slice(c.rest());
                        }
                    }
                    continue;
                }
                COM_STMT_CLOSE => {
                    if let Ok(id) = Cursor::new(body).u32() {
                        self.statements.remove(&id);
                    }
                    continue;
                }
                COM_STMT_RESET => {
                    let id = Cursor::new(body).u32().unwrap_or(0);
                    match self.statements.get_mut(&id) {
                        Some(st) => {
                            st.long_data.clear();
                            self.send_ok(0, 0, 0);
                        }
                        None => self.send_raw_error(
                            1243,
                            "HY000",
                            &format!("Unknown prepared statement handler ({id}) given to mysqld_stmt_reset"),
                        ),
                    }
                }
                COM_SET_OPTION => self.send_eof(self.status_flags()),
                COM_RESET_CONNECTION => {
                    self.statements.clear();
                    self.session.reset_mysql();
                    self.send_ok(0, 0, 0);
                }
                other => {
                    self.send_raw_error(1047, "08S01", &format!("Unknown command {other:#04x}"))
                }
            }
            self.writer.flush().await?;
        }
    }

    fn status_flags(&self) -> u16 {
        let mut s = 0;
        if self.session.mysql_autocommit() {
            s |= SERVER_STATUS_AUTOCOMMIT;
        }
        if self.session.in_transaction() {
            s |= SERVER_STATUS_IN_TRANS;
        }
        s
    }

    fn deprecate_eof(&self) -> bool {
        self.caps & CLIENT_DEPRECATE_EOF != 0
    }

    fn send_ok(&mut self, affected: u64, insert_id: u64, extra_status: u16) {
        self.send_ok_info(affected, insert_id, extra_status, "");
    }

    /// An OK packet; `info` is the human-readable text clients show ("Records: 3 …").
    fn send_ok_info(&mut self, affected: u64, insert_id: u64, extra_status: u16, info: &str) {
        let mut p = vec![0];
        put_lenenc_int(&mut p, affected);
        put_lenenc_int(&mut p, insert_id);
        p.extend_from_slice(&(self.status_flags() | extra_status).to_le_bytes());
        p.extend_from_slice(&self.session.mysql_warning_count().to_le_bytes());
        if !info.is_empty() {
            // Servers send the info text length-prefixed (clients read it so).
            packet::put_lenenc_bytes(&mut p, info.as_bytes());
        }
        self.writer.packet(&p);
    }

    fn send_eof(&mut self, status: u16) {
        let warnings = self.session.mysql_warning_count();
        let mut p = vec![0xFE];
        if self.deprecate_eof() {
            put_lenenc_int(&mut p, 0);
            put_lenenc_int(&mut p, 0);
            p.extend_from_slice(&status.to_le_bytes());
            p.extend_from_slice(&warnings.to_le_bytes());
        } else {
            p.extend_from_slice(&warnings.to_le_bytes());
            p.extend_from_slice(&status.to_le_bytes());
        }
        self.writer.packet(&p);
    }

    /// The EOF packet that closes column definitions (absent with CLIENT_DEPRECATE_EOF).
    fn send_columns_eof(&mut self) {
        if !self.deprecate_eof() {
            let warnings = self.session.mysql_warning_count();
            let mut p = vec![0xFE];
            p.extend_from_slice(&warnings.to_le_bytes());
            p.extend_from_slice(&self.status_flags().to_le_bytes());
            self.writer.packet(&p);
        }
    }

    fn send_error(&mut self, e: &SqlError) {
        let e = MyError::from(e);
        self.writer
            .packet(&err_packet(e.code, e.sqlstate, &e.message));
    }

    fn send_raw_error(&mut self, code: u16, sqlstate: &str, message: &str) {
        self.writer.packet(&err_packet(code, sqlstate, message));
    }

    async fn query(&mut self, body: &[u8]) -> Result<(), PacketError> {
        // Lossless: raw bytes in string literals (BLOB data) survive as binary strings.
        let sql = basalt_sql::mysql::decode_query(body);
        let results = self.session.execute(&sql).await;
        let n = results.len();
        for (i, result) in results.into_iter().enumerate() {
            let more = if i + 1 < n {
                SERVER_MORE_RESULTS_EXISTS
            } else {
                0
            };
            match result {
                Ok(output) => self.send_output(output, more, false, None).await?,
                Err(e) => {
                    self.send_error(&e);
                    break;
                }
            }
        }
        if n == 0 {
            // An empty query: MySQL answers 1065.
            self.send_raw_error(1065, "42000", "Query was empty");
        }
        Ok(())
    }

    /// Sends a statement's result; `described` are the columns a prepared statement was
    /// described with, which the client decodes binary rows by.
    async fn send_output(
        &mut self,
        output: Output,
        more: u16,
        binary: bool,
        described: Option<&SchemaRef>,
    ) -> Result<(), PacketError> {
        match output {
            Output::Rows {
                schema, batches, ..
            } => {
                let schema = match described {
                    Some(d)
                        if d.fields().len() == schema.fields().len()
                            && d.fields()
                                .iter()
                                .zip(schema.fields())
                                .all(|(a, b)| a.data_type() == b.data_type()) =>
                    {
                        d
                    }
                    _ => &schema,
                };
                self.send_resultset(schema, &batches, more, binary).await
            }
            Output::Command(tag) => {
                let affected = self.session.mysql_affected_rows(&tag);
                let insert_id = self.session.mysql_last_insert_id_of_statement();
                let info = self.session.mysql_info().to_owned();
                self.send_ok_info(affected, insert_id, more, &info);
                Ok(())
            }
            Output::CopyIn { .. } | Output::CopyOut { .. } => {
                self.send_raw_error(1235, "42000", "COPY is served on the PostgreSQL port only");
                Ok(())
            }
        }
    }

    fn send_column_definitions(&mut self, metas: &[ColumnMeta]) {
        let mut p = Vec::new();
        put_lenenc_int(&mut p, metas.len() as u64);
        self.writer.packet(&p);
        for m in metas {
            self.writer.packet(&column_definition(m, "", "", None));
        }
        self.send_columns_eof();
    }

    async fn send_resultset(
        &mut self,
        schema: &SchemaRef,
        batches: &[RecordBatch],
        more: u16,
        binary: bool,
    ) -> Result<(), PacketError> {
        let metas: Vec<ColumnMeta> = schema.fields().iter().map(|f| column_meta(f)).collect();
        self.send_column_definitions(&metas);
        let mut row = Vec::with_capacity(256);
        for batch in batches {
            if binary {
                let arrays: Vec<ArrayRef> = batch.columns().to_vec();
                for r in 0..batch.num_rows() {
                    row.clear();
                    binary_row(&metas, &arrays, r, &mut row);
                    self.writer.packet(&row);
                    if self.writer.buffered() > FLUSH_BYTES {
                        self.writer.flush().await?;
                    }
                }
            } else {
                let columns: Vec<_> = batch
                    .columns()
                    .iter()
                    .zip(&metas)
                    .map(|(a, m)| rows::text_column_as(m, a))
                    .collect();
                for r in 0..batch.num_rows() {
                    row.clear();
                    text_row(&columns, r, &mut row);
                    self.writer.packet(&row);
                    if self.writer.buffered() > FLUSH_BYTES {
                        self.writer.flush().await?;
                    }
                }
            }
        }
        let status = self.status_flags() | more;
        self.send_eof(status);
        Ok(())
    }

    fn field_list(&mut self, body: &[u8]) {
        let mut c = Cursor::new(body);
        let table = String::from_utf8_lossy(c.nul_terminated()).into_owned();
        match self.session.mysql_field_list(&table) {
            Ok((schema, defaults)) => {
                for (f, d) in schema.fields().iter().zip(defaults) {
                    let m = column_meta(f);
                    let db = self.session.mysql_database().unwrap_or_default();
                    let d = d.unwrap_or_default();
                    self.writer
                        .packet(&column_definition(&m, &table, &db, Some(d.as_bytes())));
                }
                let status = self.status_flags();
                self.send_eof(status);
            }
            Err(e) => self.send_error(&e),
        }
    }

    async fn prepare(&mut self, body: &[u8]) {
        let sql = basalt_sql::mysql::decode_query(body);
        if self.statements.len() >= MAX_STATEMENTS {
            self.send_raw_error(
                1461,
                "42000",
                "Can't create more than max_prepared_stmt_count statements (current value: 16382)",
            );
            return;
        }
        let prepared = match self.session.prepare(&sql, &[]).await {
            Ok(p) => p,
            Err(e) => {
                self.send_error(&e);
                return;
            }
        };
        let id = self.next_statement;
        self.next_statement = self.next_statement.wrapping_add(1).max(1);
        let params = prepared.param_types.len();
        let metas: Vec<ColumnMeta> = prepared
            .schema
            .as_ref()
            .map(|s| s.fields().iter().map(|f| column_meta(f)).collect())
            .unwrap_or_default();
        let mut p = vec![0];
        p.extend_from_slice(&id.to_le_bytes());
        p.extend_from_slice(&(metas.len() as u16).to_le_bytes());
        p.extend_from_slice(&(params as u16).to_le_bytes());
        p.push(0);
        p.extend_from_slice(&self.session.mysql_warning_count().to_le_bytes());
        self.writer.packet(&p);
        if params > 0 {
            let param_meta = ColumnMeta {
                name: "?".into(),
                ty: rows::T_VAR_STRING,
                flags: 0,
                charset: rows::BINARY_CHARSET,
                length: 0,
                decimals: 0,
                unsigned: false,
            };
            for _ in 0..params {
                self.writer
                    .packet(&column_definition(&param_meta, "", "", None));
            }
            self.send_columns_eof();
        }
        if !metas.is_empty() {
            for m in &metas {
                self.writer.packet(&column_definition(m, "", "", None));
            }
            self.send_columns_eof();
        }
        self.statements.insert(
            id,
            Statement {
                prepared,
                params,
                types: Vec::new(),
                long_data: HashMap::new(),
            },
        );
    }

    /// COM_STMT_EXECUTE; `Ok(Err(Malformed))` when the parameters cannot be decoded.
    async fn execute(&mut self, body: &[u8]) -> Result<Result<(), Malformed>, PacketError> {
        let mut c = Cursor::new(body);
        let (Ok(id), Ok(_flags), Ok(_iterations)) = (c.u32(), c.u8(), c.u32()) else {
            return Ok(Err(Malformed));
        };
        let Some(st) = self.statements.get_mut(&id) else {
            self.send_raw_error(
                1243,
                "HY000",
                &format!("Unknown prepared statement handler ({id}) given to mysqld_stmt_execute"),
            );
            return Ok(Ok(()));
        };
        let values = match decode_params(&mut c, st) {
            Ok(v) => v,
            Err(Malformed) => return Ok(Err(Malformed)),
        };
        st.long_data.clear();
        let prepared = st.prepared.clone();
        let result = self.session.execute_prepared(&prepared, values).await;
        match result {
            Ok(output) => {
                self.send_output(output, 0, true, prepared.schema.as_ref())
                    .await?
            }
            Err(e) => self.send_error(&e),
        }
        Ok(Ok(()))
    }
}

/// Decodes COM_STMT_EXECUTE parameters into values.
fn decode_params(c: &mut Cursor<'_>, st: &mut Statement) -> Result<Vec<ScalarValue>, Malformed> {
    let n = st.params;
    if n == 0 {
        return Ok(Vec::new());
    }
    let nulls = c.take(n.div_ceil(8))?.to_vec();
    let bound = c.u8()?;
    if bound == 1 {
        let mut types = Vec::with_capacity(n);
        for _ in 0..n {
            let t = c.u8()?;
            let flags = c.u8()?;
            types.push((t, flags & 0x80 != 0));
        }
        st.types = types;
    }
    if st.types.len() != n {
        return Err(Malformed);
    }
    let mut values = Vec::with_capacity(n);
    for i in 0..n {
        if nulls[i / 8] & (1 << (i % 8)) != 0 {
            values.push(ScalarValue::Null);
            continue;
        }
        let (ty, unsigned) = st.types[i];
        if let Some(data) = st.long_data.get(&i) {
            values.push(bytes_value(ty, data.clone()));
            continue;
        }
        values.push(decode_value(c, ty, unsigned)?);
    }
    Ok(values)
}

fn bytes_value(ty: u8, data: Vec<u8>) -> ScalarValue {
    let binary = matches!(
        ty,
        rows::T_TINY_BLOB
            | rows::T_MEDIUM_BLOB
            | rows::T_LONG_BLOB
            | rows::T_BLOB
            | rows::T_GEOMETRY
    );
    match String::from_utf8(data) {
        Ok(s) if !binary => ScalarValue::Utf8(Some(s)),
        Ok(s) => ScalarValue::Binary(Some(s.into_bytes())),
        Err(e) => ScalarValue::Binary(Some(e.into_bytes())),
    }
}

fn decode_value(c: &mut Cursor<'_>, ty: u8, unsigned: bool) -> Result<ScalarValue, Malformed> {
    use chrono::NaiveDate;
    Ok(match ty {
        rows::T_NULL => ScalarValue::Null,
        rows::T_TINY => {
            let v = c.u8()?;
            ScalarValue::Int64(Some(if unsigned {
                i64::from(v)
            } else {
                i64::from(v as i8)
            }))
        }
        rows::T_SHORT | rows::T_YEAR => {
            let v = c.u16()?;
            ScalarValue::Int64(Some(if unsigned {
                i64::from(v)
            } else {
                i64::from(v as i16)
            }))
        }
        rows::T_LONG | rows::T_INT24 => {
            let v = c.u32()?;
            ScalarValue::Int64(Some(if unsigned {
                i64::from(v)
            } else {
                i64::from(v as i32)
            }))
        }
        rows::T_LONGLONG => {
            let v = c.u64()?;
            if unsigned && v > i64::MAX as u64 {
                ScalarValue::Decimal128(Some(i128::from(v)), 20, 0)
            } else {
                ScalarValue::Int64(Some(v as i64))
            }
        }
        rows::T_FLOAT => {
            let b = c.take(4)?;
            ScalarValue::Float64(Some(f64::from(f32::from_le_bytes([
                b[0], b[1], b[2], b[3],
            ]))))
        }
        rows::T_DOUBLE => ScalarValue::Float64(Some(f64::from_bits(c.u64()?))),
        rows::T_DATE | rows::T_DATETIME | rows::T_TIMESTAMP => {
            let len = c.u8()?;
            if len == 0 {
                return Ok(ScalarValue::Utf8(Some("0000-00-00 00:00:00".into())));
            }
            let year = c.u16()?;
            let month = c.u8()?;
            let day = c.u8()?;
            let (mut h, mut mi, mut s, mut us) = (0, 0, 0, 0);
            if len >= 7 {
                h = c.u8()?;
                mi = c.u8()?;
                s = c.u8()?;
            }
            if len >= 11 {
                us = c.u32()?;
            }
            let date = NaiveDate::from_ymd_opt(i32::from(year), u32::from(month), u32::from(day))
                .ok_or(Malformed)?;
            if ty == rows::T_DATE && len == 4 {
                let days = date
                    .signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1).ok_or(Malformed)?);
                ScalarValue::Date32(Some(days.num_days() as i32))
            } else {
                let dt = date
                    .and_hms_micro_opt(u32::from(h), u32::from(mi), u32::from(s), us)
                    .ok_or(Malformed)?;
                ScalarValue::TimestampMicrosecond(Some(dt.and_utc().timestamp_micros()), None)
            }
        }
        rows::T_TIME => {
            // As text: a TIME may exceed a day (MySQL's range is ±838 hours), and text
            // converts to both a time of day and a MySQL TIME (interval) column.
            let len = c.u8()?;
            if len == 0 {
                return Ok(ScalarValue::Utf8(Some("00:00:00".into())));
            }
            let neg = c.u8()? != 0;
            let days = i64::from(c.u32()?);
            let h = i64::from(c.u8()?);
            let mi = i64::from(c.u8()?);
            let s = i64::from(c.u8()?);
            let us = if len >= 12 { i64::from(c.u32()?) } else { 0 };
            ScalarValue::Utf8(Some(format!(
                "{}{:02}:{:02}:{:02}.{:06}",
                if neg { "-" } else { "" },
                days * 24 + h,
                mi,
                s,
                us
            )))
        }
        _ => bytes_value(ty, c.lenenc_bytes()?.to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_response_parses_and_rejects_garbage() {
        let mut p = Vec::new();
        let caps = CLIENT_PROTOCOL_41
            | CLIENT_PLUGIN_AUTH
            | CLIENT_SECURE_CONNECTION
            | CLIENT_CONNECT_WITH_DB;
        p.extend_from_slice(&caps.to_le_bytes());
        p.extend_from_slice(&(1u32 << 24).to_le_bytes());
        p.push(45);
        p.extend_from_slice(&[0; 23]);
        p.extend_from_slice(b"root\0");
        p.push(0);
        p.extend_from_slice(b"shop\0");
        p.extend_from_slice(b"mysql_native_password\0");
        let hs = parse_handshake(&p).expect("parses");
        assert_eq!(hs.user, "root");
        assert!(hs.auth.is_empty());
        assert_eq!(hs.db.as_deref(), Some("shop"));
        assert_eq!(hs.plugin, NATIVE_PASSWORD);
        assert!(parse_handshake(&[1, 2, 3]).is_err());
        // A length-encoded auth response longer than the packet.
        let mut bad = p[..32].to_vec();
        bad[..4].copy_from_slice(&(caps | CLIENT_PLUGIN_AUTH_LENENC).to_le_bytes());
        bad.extend_from_slice(b"root\0");
        bad.push(0xFC);
        bad.extend_from_slice(&[0xFF, 0xFF]);
        assert!(parse_handshake(&bad).is_err());
    }

    #[test]
    fn execute_parameters_decode() {
        let mut st = Statement {
            prepared: Prepared::empty(),
            params: 3,
            types: vec![],
            long_data: HashMap::new(),
        };
        let mut body = vec![0b0000_0010, 1];
        body.extend_from_slice(&[rows::T_LONGLONG, 0, rows::T_NULL, 0, rows::T_VAR_STRING, 0]);
        body.extend_from_slice(&42i64.to_le_bytes());
        body.extend_from_slice(&[3, b'a', b'b', b'c']);
        let values = decode_params(&mut Cursor::new(&body), &mut st).expect("decodes");
        assert_eq!(values[0], ScalarValue::Int64(Some(42)));
        assert_eq!(values[1], ScalarValue::Null);
        assert_eq!(values[2], ScalarValue::Utf8(Some("abc".into())));
        // Truncated: the string's length says 3 but one byte follows.
        let truncated = &body[..body.len() - 2];
        assert!(decode_params(&mut Cursor::new(truncated), &mut st).is_err());
    }
}
