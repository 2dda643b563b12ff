//! The PostgreSQL wire protocol (pgwire): one [`Session`] per connection.
//!
//! The transaction status in every ReadyForQuery comes from the session, the one authority
//! on transaction state, so clients always see `I`, `T` or `E` as PostgreSQL would send it.

use std::fmt::Debug;
use std::sync::Arc;

use arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch, into_pg_type};
use async_trait::async_trait;
use basalt_sql::format::pg_text_column_in;
use basalt_sql::format::TextStyle;
use basalt_sql::rewrite::display_name;
use basalt_sql::session::{Notice, Prepared, DATABASE_NAME};
use basalt_sql::{Database, Output, Session, SqlError, TxnStatus};
use bytes::Bytes;
use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::ScalarValue;
use futures::future::{select, Either};
use futures::{stream, Sink, SinkExt};
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::copy::{send_copy_in_response, send_copy_out_response, CopyHandler};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{
    send_execution_response, send_query_response, send_ready_for_query, ExtendedQueryHandler,
    SimpleQueryHandler,
};
use pgwire::api::results::{CopyResponse, FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionHandle, ConnectionManager, PgWireConnectionState,
    PgWireServerHandlers, Type, DEFAULT_NAME,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};
use pgwire::messages::data::DataRow;
use pgwire::messages::extendedquery::Sync as PgSync;
use pgwire::messages::response::{EmptyQueryResponse, ReadyForQuery, TransactionStatus};
use pgwire::messages::simplequery::Query;
use pgwire::messages::startup::ParameterStatus;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::sync::Mutex;

use crate::pgcodec;

pub struct PgConnection {
    session: Arc<Mutex<Session>>,
    parser: Arc<PgQueryParser>,
    manager: Arc<ConnectionManager>,
}

pub struct PgHandlers {
    conn: Arc<PgConnection>,
    cancel: Arc<DefaultCancelHandler>,
    /// The session's clock, for the connection's task (`basalt_sql::clock::CLOCK`).
    pub clock: Arc<basalt_sql::clock::SessionClock>,
}

impl PgHandlers {
    pub fn new(
        db: &Arc<Database>,
        manager: &Arc<ConnectionManager>,
    ) -> Result<PgHandlers, SqlError> {
        let session = db.session()?;
        let clock = session.clock();
        let session = Arc::new(Mutex::new(session));
        let parser = Arc::new(PgQueryParser {
            session: Arc::clone(&session),
        });
        let conn = Arc::new(PgConnection {
            session,
            parser,
            manager: Arc::clone(manager),
        });
        Ok(PgHandlers {
            conn,
            cancel: Arc::new(DefaultCancelHandler::new(Arc::clone(manager))),
            clock,
        })
    }
}

impl PgWireServerHandlers for PgHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.conn)
    }
    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::clone(&self.conn)
    }
    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        Arc::clone(&self.conn)
    }
    fn copy_handler(&self) -> Arc<impl CopyHandler> {
        Arc::clone(&self.conn)
    }
    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        Arc::clone(&self.cancel)
    }
}

/// Trust authentication (loopback by default); the security issue adds users and SCRAM.
#[async_trait]
impl NoopStartupHandler for PgConnection {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(Arc::clone(&self.manager))
    }

    async fn post_startup<C>(
        &self,
        client: &mut C,
        _message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let db = client
            .metadata()
            .get(pgwire::api::METADATA_DATABASE)
            .cloned();
        let parameters: Vec<(String, String)> = client
            .metadata()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let reported = {
            let mut session = self.session.lock().await;
            for (name, value) in &parameters {
                if let Err(e) = session.apply_startup_parameter(name, value) {
                    let mut info = error_info(&e);
                    info.severity = "FATAL".into();
                    return Err(PgWireError::UserError(Box::new(info)));
                }
            }
            reported_settings(&session)
        };
        // pgwire reported its own defaults (TimeZone Etc/UTC, DateStyle ISO, YMD); the
        // session's values, with what the client asked for, replace them.
        send_parameter_status(client, reported).await?;
        if let Some(db) = db {
            if db != DATABASE_NAME {
                return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                    "FATAL".into(),
                    "3D000".into(),
                    format!("database \"{db}\" does not exist (Basalt serves one database, \"{DATABASE_NAME}\")"),
                ))));
            }
        }
        Ok(())
    }
}

/// Sends the notices the statement at `index` of a request raised (and drops them).
async fn send_notices<C>(
    client: &mut C,
    notices: &mut Vec<(usize, Notice)>,
    index: usize,
) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let mine: Vec<Notice> = notices
        .iter()
        .filter(|(i, _)| *i <= index)
        .map(|(_, n)| n.clone())
        .collect();
    notices.retain(|(i, _)| *i > index);
    for n in mine {
        let mut info = ErrorInfo::new(n.severity.into(), n.code.into(), n.message);
        info.detail = n.detail;
        info.hint = n.hint;
        info.position = n.position.map(|p| p.to_string());
        client
            .feed(PgWireBackendMessage::NoticeResponse(info.into()))
            .await?;
    }
    Ok(())
}

fn tx_status(s: TxnStatus) -> TransactionStatus {
    match s {
        TxnStatus::Idle => TransactionStatus::Idle,
        TxnStatus::InBlock => TransactionStatus::Transaction,
        TxnStatus::Failed => TransactionStatus::Error,
    }
}

pub fn error_info(e: &SqlError) -> ErrorInfo {
    // The protocol's strings end at a NUL byte: one inside a message (a binary value quoted
    // in it) would cut the message and break the framing the client reads.
    let clean = |s: String| match s.contains('\0') {
        true => s.replace('\0', "\\x00"),
        false => s,
    };
    let mut info = ErrorInfo::new("ERROR".into(), e.sqlstate().into(), clean(e.to_string()));
    info.detail = e.detail().map(clean);
    info.hint = e.hint().map(clean);
    info.position = e.position().map(|p| p.to_string());
    info
}

fn user_error(e: &SqlError) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(e)))
}

/// The settings PostgreSQL reports to the client (ParameterStatus) when they change, with
/// their values now.
fn reported_settings(session: &Session) -> Vec<(&'static str, String)> {
    [
        ("standard_conforming_strings", "standard_conforming_strings"),
        ("TimeZone", "timezone"),
        ("DateStyle", "datestyle"),
        ("IntervalStyle", "intervalstyle"),
    ]
    .into_iter()
    .map(|(shown, name)| (shown, session.setting(name).unwrap_or_default()))
    .collect()
}

/// Reports `settings` to the client (ParameterStatus).
async fn send_parameter_status<C>(
    client: &mut C,
    settings: Vec<(&'static str, String)>,
) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for (name, value) in settings {
        client
            .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                name.to_owned(),
                value,
            )))
            .await?;
    }
    Ok(())
}

/// Tells the client the reported settings a statement changed (`before` is
/// [`reported_settings`] before it ran): psql reads literals by
/// standard_conforming_strings, drivers read timestamps by TimeZone and DateStyle.
async fn report_changed_settings<C>(
    client: &mut C,
    before: &[(&'static str, String)],
    session: &Session,
) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let changed = reported_settings(session)
        .into_iter()
        .zip(before)
        .filter(|((_, now), (_, was))| now != was)
        .map(|(now, _)| now)
        .collect();
    send_parameter_status(client, changed).await
}

fn is_empty_query(q: &str) -> bool {
    q.chars().all(|c| c == ';' || c.is_whitespace())
}

/// Result column descriptions: Basalt's own type mapping, arrow-pg's for other types.
fn result_fields(schema: &SchemaRef, format: &Format) -> PgWireResult<Vec<FieldInfo>> {
    let mut fallback: Option<Vec<FieldInfo>> = None;
    let mut out = Vec::with_capacity(schema.fields().len());
    for (i, f) in schema.fields().iter().enumerate() {
        out.push(match pgcodec::pg_type(f) {
            Some(t) => FieldInfo::new(
                display_name(f.name()).to_owned(),
                None,
                None,
                t,
                format.format_for(i),
            ),
            None => {
                if fallback.is_none() {
                    fallback = Some(arrow_schema_to_pg_fields(schema, format, None)?);
                }
                match fallback.as_ref().and_then(|fb| fb.get(i)) {
                    Some(field) => FieldInfo::new(
                        display_name(f.name()).to_owned(),
                        field.table_id(),
                        field.column_id(),
                        field.datatype().clone(),
                        field.format(),
                    )
                    .with_format_options(Arc::clone(field.format_options())),
                    None => {
                        return Err(PgWireError::ApiError("no type for a result column".into()))
                    }
                }
            }
        });
    }
    Ok(out)
}

/// Encodes result batches: text-format columns as PostgreSQL prints values, binary-format
/// columns in PostgreSQL's binary encodings.
fn rows_response(
    schema: &SchemaRef,
    batches: Vec<RecordBatch>,
    format: &Format,
    tag: &str,
    text_style: TextStyle,
) -> PgWireResult<QueryResponse> {
    let fields = Arc::new(result_fields(schema, format)?);
    let formats: Vec<FieldFormat> = (0..schema.fields().len())
        .map(|i| format.format_for(i))
        .collect();
    let text_columns: Vec<bool> = formats.iter().map(|f| *f == FieldFormat::Text).collect();
    let mut rows: Vec<PgWireResult<DataRow>> = Vec::new();
    for batch in batches {
        if let Some(encoded) = pgcodec::encode_batch(schema, &batch, &formats, text_style)
            .map_err(|e| user_error(&e))?
        {
            rows.extend(encoded.into_iter().map(Ok));
            continue;
        }
        let batch = if text_columns.iter().any(|t| *t) {
            pg_text_batch(&batch, &text_columns, text_style).map_err(|e| user_error(&e))?
        } else {
            batch
        };
        rows.extend(encode_recordbatch(Arc::clone(&fields), batch));
    }
    let mut resp = QueryResponse::new(fields, stream::iter(rows));
    resp.set_command_tag(tag);
    Ok(resp)
}

/// Replaces the text-format columns of a batch by their PostgreSQL text rendering.
fn pg_text_batch(
    batch: &RecordBatch,
    text_columns: &[bool],
    text_style: TextStyle,
) -> Result<RecordBatch, SqlError> {
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (i, (field, column)) in batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .enumerate()
    {
        if text_columns.get(i).copied().unwrap_or(false) {
            let text: StringArray = pg_text_column_in(column, text_style)?.into_iter().collect();
            fields.push(Field::new(field.name(), DataType::Utf8, true));
            columns.push(Arc::new(text));
        } else {
            fields.push(field.as_ref().clone());
            columns.push(Arc::clone(column));
        }
    }
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns,
        &options,
    )?)
}

fn copy_out_response(lines: Vec<Vec<u8>>, columns: usize) -> CopyResponse {
    let chunks: Vec<PgWireResult<CopyData>> = lines
        .into_iter()
        .map(|l| Ok(CopyData::new(Bytes::from(l))))
        .collect();
    CopyResponse::new(0, columns, stream::iter(chunks))
}

/// Runs a future unless the client cancels (CancelRequest) first.
async fn cancellable<C, F, T>(client: &C, fut: F) -> Option<T>
where
    C: ClientInfo,
    F: std::future::Future<Output = T>,
{
    let handle = client.session_extensions().get::<Arc<ConnectionHandle>>();
    match handle {
        Some(h) => {
            let rx = h.start_query().await;
            let fut = std::pin::pin!(fut);
            match select(fut, rx).await {
                Either::Left((v, _)) => Some(v),
                Either::Right((Ok(()), _)) => None,
                Either::Right((Err(_), f)) => Some(f.await),
            }
        }
        None => Some(fut.await),
    }
}

#[async_trait]
impl SimpleQueryHandler for PgConnection {
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        client.set_state(PgWireConnectionState::QueryInProgress);
        let mut session = self.session.lock().await;
        let reported_before = reported_settings(&session);
        if is_empty_query(&query.query) {
            client
                .feed(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ))
                .await?;
        } else if query.query.contains('\u{FFFD}') {
            // The protocol layer replaced bytes that are not UTF-8: refuse, as PostgreSQL does.
            let e = SqlError::CharacterNotInRepertoire(
                "invalid byte sequence for encoding \"UTF8\"".into(),
            );
            client
                .feed(PgWireBackendMessage::ErrorResponse(error_info(&e).into()))
                .await?;
            session.fail_block();
        } else {
            let results = match cancellable(client, session.execute(&query.query)).await {
                Some(r) => r,
                None => {
                    session.abort_statement();
                    vec![Err(SqlError::QueryCanceled)]
                }
            };
            let mut notices = session.take_notices();
            for (index, r) in results.into_iter().enumerate() {
                send_notices(client, &mut notices, index).await?;
                match r {
                    Ok(Output::Rows {
                        schema,
                        batches,
                        tag,
                    }) => {
                        let resp = rows_response(
                            &schema,
                            batches,
                            &Format::UnifiedText,
                            &tag,
                            session.text_style(),
                        )?;
                        send_query_response(client, resp, true).await?;
                    }
                    Ok(Output::Command(tag)) => {
                        send_execution_response(client, Tag::new(&tag)).await?
                    }
                    Ok(Output::CopyIn {
                        columns,
                        text_format,
                    }) => {
                        let format = if text_format { 0 } else { 1 };
                        send_copy_in_response(
                            client,
                            CopyResponse::new(format, columns, stream::empty()),
                        )
                        .await?;
                        client.set_state(PgWireConnectionState::CopyInProgress(false));
                    }
                    Ok(Output::CopyOut { lines, columns, .. }) => {
                        // Sends CopyOutResponse, the data, CopyDone and CommandComplete.
                        send_copy_out_response(client, copy_out_response(lines, columns)).await?;
                    }
                    Err(e) => {
                        client
                            .feed(PgWireBackendMessage::ErrorResponse(error_info(&e).into()))
                            .await?;
                    }
                }
            }
        }
        report_changed_settings(client, &reported_before, &session).await?;
        let status = tx_status(session.status());
        client.set_transaction_status(status);
        if !matches!(client.state(), PgWireConnectionState::CopyInProgress(_)) {
            client.set_state(PgWireConnectionState::ReadyForQuery);
            send_ready_for_query(client, status).await?;
        }
        Ok(())
    }

    async fn do_query<C>(&self, _client: &mut C, _query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // on_query handles simple queries itself (it needs the session's transaction state).
        Err(PgWireError::ApiError(
            "simple queries are handled by on_query".into(),
        ))
    }
}

pub struct PgQueryParser {
    session: Arc<Mutex<Session>>,
}

#[async_trait]
impl QueryParser for PgQueryParser {
    type Statement = Arc<Prepared>;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let client_types: Vec<Option<DataType>> = types
            .iter()
            .map(|t| t.as_ref().and_then(pgcodec::data_type_of))
            .collect();
        let mut session = self.session.lock().await;
        match session.prepare(sql, &client_types).await {
            Ok(p) if p.statement.is_none() => Ok(None),
            Ok(p) => Ok(Some(Arc::new(p))),
            Err(e) => {
                session.fail_block();
                Err(user_error(&e))
            }
        }
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        stmt.param_types.iter().map(param_pg_type).collect()
    }

    fn get_result_schema(
        &self,
        stmt: &Self::Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        match &stmt.schema {
            Some(schema) => result_fields(schema, column_format.unwrap_or(&Format::UnifiedText)),
            None => Ok(vec![]),
        }
    }
}

#[async_trait]
impl ExtendedQueryHandler for PgConnection {
    type Statement = Arc<Prepared>;
    type QueryParser = PgQueryParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        Arc::clone(&self.parser)
    }

    async fn on_sync<C>(&self, client: &mut C, _message: PgSync) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        client.portal_store().rm_portal(DEFAULT_NAME);
        let status = tx_status(self.session.lock().await.status());
        client.set_transaction_status(status);
        client
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                status,
            )))
            .await?;
        client.flush().await?;
        Ok(())
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let prepared = Arc::clone(&portal.statement.statement);
        let mut session = self.session.lock().await;
        let values = match bind_values(&prepared, portal, session.date_input()) {
            Ok(v) => v,
            Err(e) => {
                session.fail_block();
                return Err(e);
            }
        };
        let before = session.status();
        // pgwire races this future against the client's CancelRequest itself; a cancelled
        // statement is rolled back by the session when it next runs.
        let reported_before = reported_settings(&session);
        let result = session.execute_prepared(&prepared, values).await;
        let after = session.status();
        let mut notices = session.take_notices();
        send_notices(client, &mut notices, 0).await?;
        report_changed_settings(client, &reported_before, &session).await?;
        match result {
            Ok(Output::Rows {
                schema,
                batches,
                tag,
            }) => Ok(Response::Query(rows_response(
                &schema,
                batches,
                &portal.result_column_format,
                &tag,
                session.text_style(),
            )?)),
            Ok(Output::Command(tag)) => {
                let tag = Tag::new(&tag);
                Ok(match (before, after) {
                    (TxnStatus::Idle, TxnStatus::InBlock) => Response::TransactionStart(tag),
                    (TxnStatus::InBlock | TxnStatus::Failed, TxnStatus::Idle) => {
                        Response::TransactionEnd(tag)
                    }
                    _ => Response::Execution(tag),
                })
            }
            Ok(Output::CopyIn {
                columns,
                text_format,
            }) => Ok(Response::CopyIn(CopyResponse::new(
                if text_format { 0 } else { 1 },
                columns,
                stream::empty(),
            ))),
            Ok(Output::CopyOut { lines, columns, .. }) => {
                Ok(Response::CopyOut(copy_out_response(lines, columns)))
            }
            Err(e) => Err(user_error(&e)),
        }
    }
}

/// The PostgreSQL type announced for a parameter (text when Basalt could not infer one).
fn param_pg_type(t: &Option<DataType>) -> PgWireResult<Type> {
    match t {
        Some(dt) => match pgcodec::pg_type(&Field::new("", dt.clone(), true)) {
            Some(t) => Ok(t),
            None => into_pg_type(dt),
        },
        None => Ok(Type::TEXT),
    }
}

/// Decodes the bound parameter bytes: each in the format and type the client sent it in,
/// converted to the type Basalt inferred for it.
fn bind_values(
    prepared: &Prepared,
    portal: &Portal<Arc<Prepared>>,
    how: basalt_sql::datetime::DateInput,
) -> PgWireResult<Vec<ScalarValue>> {
    let mut out = Vec::with_capacity(portal.parameters.len());
    for (i, bytes) in portal.parameters.iter().enumerate() {
        let target = prepared.param_types.get(i).and_then(|t| t.as_ref());
        let wire_type = match portal.statement.parameter_types.get(i).cloned().flatten() {
            Some(t) if t != Type::UNKNOWN => t,
            _ => param_pg_type(&prepared.param_types.get(i).cloned().flatten())?,
        };
        let binary = portal.parameter_format.format_for(i) == FieldFormat::Binary;
        // With no inferred type, the type the client declared decides (SELECT $1 with a bool).
        let declared = pgcodec::data_type_of(&wire_type);
        let target = target.or(declared.as_ref());
        let v = pgcodec::decode_param(bytes.as_ref(), binary, &wire_type, target, how)
            .map_err(|e| user_error(&e))?;
        out.push(v);
    }
    Ok(out)
}

#[async_trait]
impl CopyHandler for PgConnection {
    async fn on_copy_data<C>(&self, _client: &mut C, copy_data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.session.lock().await.copy_data(&copy_data.data);
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut session = self.session.lock().await;
        let result = session.copy_done().await;
        client.set_transaction_status(tx_status(session.status()));
        match result {
            Ok(rows) => {
                client
                    .send(PgWireBackendMessage::CommandComplete(
                        Tag::new("COPY").with_rows(rows).into(),
                    ))
                    .await?;
                Ok(())
            }
            Err(e) => Err(user_error(&e)),
        }
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut session = self.session.lock().await;
        let e = session.copy_fail(&fail.message).await;
        client.set_transaction_status(tx_status(session.status()));
        user_error(&e)
    }
}
