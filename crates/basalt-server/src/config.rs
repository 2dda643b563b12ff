//! Server configuration: command-line flags, `BASALT_*` environment variables and an
//! optional TOML file, in that order of precedence, over built-in defaults.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

pub const DEFAULT_DATA_DIR: &str = "./basalt-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1";
pub const DEFAULT_PG_PORT: u16 = 5433;
pub const DEFAULT_MYSQL_PORT: u16 = 3307;
pub const DEFAULT_HTTP_PORT: u16 = 8080;
/// Checkpoint after this many WAL bytes (64 MiB); 0 = only at clean shutdown.
pub const DEFAULT_CHECKPOINT_WAL_BYTES: u64 = 64 << 20;
pub const DEFAULT_ANALYTICS_NICE: i32 = 19;
/// Percent of the machine's CPU time analytics may use while transactions run.
pub const DEFAULT_ANALYTICS_CPU: u64 = 10;

#[derive(Parser, Debug)]
#[command(
    name = "basalt",
    version,
    about = "Basalt: an HTAP database server that PostgreSQL clients use.",
    long_about = "Basalt: an HTAP database server. One process, one commit timestamp; \
                  PostgreSQL wire protocol on --pg-port, health endpoint on --http-port.\n\n\
                  Every option can also be set with its BASALT_* environment variable or in a \
                  TOML file given with --config (keys: data_dir, listen, pg_port, mysql_port, \
                  http_port, checkpoint_wal_bytes, engine, columnar_tables, analytics_nice, analytics_cpu). Flags win over the environment, which wins \
                  over the file."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start the server (creates the data directory if needed and recovers it).
    Serve(ServeArgs),
}

#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "BASALT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (WAL, checkpoints) [default: ./basalt-data]
    #[arg(long, env = "BASALT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1]
    #[arg(long, env = "BASALT_LISTEN")]
    pub listen: Option<String>,
    /// PostgreSQL protocol port [default: 5433]
    #[arg(long, env = "BASALT_PG_PORT")]
    pub pg_port: Option<u16>,
    /// MySQL protocol port (user root, no password, from loopback) [default: 3307]
    #[arg(long, env = "BASALT_MYSQL_PORT")]
    pub mysql_port: Option<u16>,
    /// HTTP port (GET /health) [default: 8080]
    #[arg(long, env = "BASALT_HTTP_PORT")]
    pub http_port: Option<u16>,
    /// Take a checkpoint after this many bytes of WAL; 0 = only at clean shutdown
    /// [default: 67108864]
    #[arg(long, env = "BASALT_CHECKPOINT_WAL_BYTES")]
    pub checkpoint_wal_bytes: Option<u64>,
    /// Every session's initial engine choice (SET basalt.engine): auto, row or column
    /// [default: auto]
    #[arg(long, env = "BASALT_ENGINE")]
    pub engine: Option<String>,
    /// Which new tables are loaded into the column engine at CREATE TABLE: none or all
    /// [default: none]
    #[arg(long, env = "BASALT_COLUMNAR_TABLES")]
    pub columnar_tables: Option<String>,
    /// Nice value (0-19) of the threads that run queries reading the column engine, so that
    /// analytics yield the CPU to transactions; 19 also uses SCHED_IDLE; 0 = same priority
    /// [default: 19]
    #[arg(long, env = "BASALT_ANALYTICS_NICE", value_parser = clap::value_parser!(i32).range(0..=19))]
    pub analytics_nice: Option<i32>,
    /// Percent (1-100) of the machine's CPU time that queries reading the column engine may
    /// use while transactional statements are running; 100 = no limit [default: 10]
    #[arg(long, env = "BASALT_ANALYTICS_CPU", value_parser = clap::value_parser!(u64).range(1..=100))]
    pub analytics_cpu: Option<u64>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    pg_port: Option<u16>,
    mysql_port: Option<u16>,
    http_port: Option<u16>,
    checkpoint_wal_bytes: Option<u64>,
    engine: Option<String>,
    columnar_tables: Option<String>,
    analytics_nice: Option<i32>,
    analytics_cpu: Option<u64>,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: String,
    pub pg_port: u16,
    pub mysql_port: u16,
    pub http_port: u16,
    pub checkpoint_wal_bytes: u64,
    pub engine: basalt_sql::colscan::EngineChoice,
    pub columnar_new_tables: bool,
    pub analytics_nice: i32,
    pub analytics_cpu: u64,
}

impl Config {
    pub fn resolve(args: ServeArgs) -> Result<Config, String> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let engine_text = args.engine.or(file.engine).unwrap_or_else(|| "auto".into());
        let engine = match engine_text.to_lowercase().as_str() {
            "auto" => basalt_sql::colscan::EngineChoice::Auto,
            "row" => basalt_sql::colscan::EngineChoice::Row,
            "column" => basalt_sql::colscan::EngineChoice::Column,
            _ => {
                return Err(format!(
                    "invalid engine {engine_text:?} (expected auto, row or column)"
                ))
            }
        };
        let columnar_text = args
            .columnar_tables
            .or(file.columnar_tables)
            .unwrap_or_else(|| "none".into());
        let columnar_new_tables = match columnar_text.to_lowercase().as_str() {
            "none" => false,
            "all" => true,
            _ => {
                return Err(format!(
                    "invalid columnar_tables {columnar_text:?} (expected none or all)"
                ))
            }
        };
        let analytics_nice = in_range(
            "analytics_nice",
            args.analytics_nice
                .or(file.analytics_nice)
                .unwrap_or(DEFAULT_ANALYTICS_NICE),
            0..=19,
        )?;
        let analytics_cpu = in_range(
            "analytics_cpu",
            args.analytics_cpu
                .or(file.analytics_cpu)
                .unwrap_or(DEFAULT_ANALYTICS_CPU),
            1..=100,
        )?;
        Ok(Config {
            engine,
            columnar_new_tables,
            analytics_nice,
            analytics_cpu,
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.into()),
            pg_port: args.pg_port.or(file.pg_port).unwrap_or(DEFAULT_PG_PORT),
            mysql_port: args
                .mysql_port
                .or(file.mysql_port)
                .unwrap_or(DEFAULT_MYSQL_PORT),
            http_port: args
                .http_port
                .or(file.http_port)
                .unwrap_or(DEFAULT_HTTP_PORT),
            checkpoint_wal_bytes: args
                .checkpoint_wal_bytes
                .or(file.checkpoint_wal_bytes)
                .unwrap_or(DEFAULT_CHECKPOINT_WAL_BYTES),
        })
    }
}

/// `value` of setting `name`, or an error naming the range it must be in (flags are checked
/// by clap; this catches the file).
fn in_range<T: PartialOrd + std::fmt::Display>(
    name: &str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, String> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "invalid {name} {value} (expected {} to {})",
            range.start(),
            range.end()
        ))
    }
}

fn read_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("invalid config file {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_file_and_defaults_fill_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("basalt.toml");
        std::fs::write(&path, "pg_port = 6000\nhttp_port = 6001\n").unwrap();
        let args = ServeArgs {
            config: Some(path),
            pg_port: Some(7000),
            ..Default::default()
        };
        let c = Config::resolve(args).unwrap();
        assert_eq!(c.pg_port, 7000);
        assert_eq!(c.http_port, 6001);
        assert_eq!(c.listen, DEFAULT_LISTEN);
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("basalt.toml");
        std::fs::write(&path, "pg_prot = 1\n").unwrap();
        let err = Config::resolve(ServeArgs {
            config: Some(path),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.contains("pg_prot"), "{err}");
    }

    #[test]
    fn analytics_nice_defaults_to_19_and_must_be_0_to_19() {
        assert_eq!(
            Config::resolve(ServeArgs::default())
                .unwrap()
                .analytics_nice,
            19
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("basalt.toml");
        std::fs::write(&path, "analytics_nice = 25\n").unwrap();
        let err = Config::resolve(ServeArgs {
            config: Some(path),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.contains("analytics_nice"), "{err}");
    }

    #[test]
    fn analytics_cpu_defaults_to_10_and_must_be_1_to_100() {
        assert_eq!(
            Config::resolve(ServeArgs::default()).unwrap().analytics_cpu,
            10
        );
        for bad in ["analytics_cpu = 0\n", "analytics_cpu = 101\n"] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("basalt.toml");
            std::fs::write(&path, bad).unwrap();
            let err = Config::resolve(ServeArgs {
                config: Some(path),
                ..Default::default()
            })
            .unwrap_err();
            assert!(err.contains("analytics_cpu"), "{err}");
        }
    }
}
