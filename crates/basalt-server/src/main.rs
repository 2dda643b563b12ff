//! The `basalt` binary: configuration, start-up (recovery), the PostgreSQL listener, the HTTP
//! health endpoint, and clean shutdown (checkpoint) on SIGINT/SIGTERM.

mod config;
mod mysql;
mod pg;
mod pgcodec;
mod pgsocket;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use axum::routing::get;
use basalt_sql::Database;
use basalt_storage::StorageConfig;
use clap::Parser;
use pgwire::api::ConnectionManager;
use tokio::net::TcpListener;

use crate::config::{Cli, Command, Config};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BASALT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let Command::Serve(args) = cli.command;
    let config = match Config::resolve(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("basalt: {e}");
            return ExitCode::from(2);
        }
    };
    // Planning and running a statement nests deeply (DataFusion's recursive planner, large
    // futures in builds without optimization): 16 MiB stacks instead of tokio's 2 MiB, so
    // that a deep statement is refused by the planner's own limits, not by a stack overflow
    // that aborts the server.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(16 << 20)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("basalt: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("basalt: {e}");
            ExitCode::from(1)
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let storage = StorageConfig {
        data_dir: config.data_dir.clone(),
        checkpoint_wal_bytes: config.checkpoint_wal_bytes,
        fsync: true,
    };
    let data_dir = config.data_dir.display().to_string();
    let (engine, columnar_new_tables) = (config.engine, config.columnar_new_tables);
    basalt_sql::analytics::set_nice(config.analytics_nice);
    basalt_sql::analytics::set_cpu_percent(config.analytics_cpu);
    let db = tokio::task::spawn_blocking(move || {
        Database::open_with(storage, engine, columnar_new_tables)
    })
    .await
    .map_err(|e| format!("start-up failed: {e}"))?
    .map_err(|e| format!("cannot open data directory {data_dir}: {e}"))?;
    basalt_sql::temp::drop_leftover_temp_schemas(&db.engine)
        .await
        .map_err(|e| format!("cannot drop the temporary tables of an earlier run: {e}"))?;
    let pg_addr: SocketAddr = format!("{}:{}", config.listen, config.pg_port)
        .parse()
        .map_err(|e| format!("invalid listen address {}: {e}", config.listen))?;
    let http_addr: SocketAddr = format!("{}:{}", config.listen, config.http_port)
        .parse()
        .map_err(|e| format!("invalid listen address {}: {e}", config.listen))?;
    let pg_listener = TcpListener::bind(pg_addr)
        .await
        .map_err(|e| format!("cannot listen on {pg_addr}: {e}"))?;
    let http_listener = TcpListener::bind(http_addr)
        .await
        .map_err(|e| format!("cannot listen on {http_addr}: {e}"))?;
    tracing::info!("PostgreSQL protocol on {pg_addr} (database \"basalt\")");
    tracing::info!("HTTP on {http_addr} (GET /health)");
    let mysql_addr: SocketAddr = format!("{}:{}", config.listen, config.mysql_port)
        .parse()
        .map_err(|e| format!("invalid listen address {}: {e}", config.listen))?;
    let mysql_listener = TcpListener::bind(mysql_addr)
        .await
        .map_err(|e| format!("cannot listen on {mysql_addr}: {e}"))?;
    tracing::info!("MySQL protocol on {mysql_addr} (user root, no password, from loopback)");
    let mysql_db = Arc::clone(&db);
    tokio::spawn(async move {
        if let Err(e) = mysql::accept_loop(mysql_listener, mysql_db).await {
            tracing::error!("MySQL listener stopped: {e}");
        }
    });
    let app = axum::Router::new().route("/health", get(|| async { "ok\n" }));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(http_listener, app).await {
            tracing::error!("HTTP server stopped: {e}");
        }
    });
    let manager = Arc::new(ConnectionManager::new());
    let accept = accept_loop(pg_listener, Arc::clone(&db), manager);
    tokio::select! {
        r = accept => r?,
        _ = shutdown_signal() => tracing::info!("shutting down"),
    }
    let db2 = Arc::clone(&db);
    tokio::task::spawn_blocking(move || db2.shutdown())
        .await
        .map_err(|e| format!("shutdown failed: {e}"))?
        .map_err(|e| format!("shutdown checkpoint failed: {e}"))?;
    tracing::info!("clean shutdown complete");
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    db: Arc<Database>,
    manager: Arc<ConnectionManager>,
) -> Result<(), String> {
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: keep serving existing clients.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let handlers = match pg::PgHandlers::new(&db, &manager) {
            Ok(h) => h,
            Err(e) => {
                tracing::error!("cannot create a session for {peer}: {e}");
                continue;
            }
        };
        // The connection's task knows its session's clock ('now' reads the transaction's
        // start through it).
        let clock = Arc::clone(&handlers.clock);
        tokio::spawn(basalt_sql::clock::CLOCK.scope(clock, async move {
            if let Err(e) = pgsocket::process_socket(socket, handlers).await {
                tracing::debug!("connection from {peer} ended: {e}");
            }
        }));
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
