//! MySQL system variables: the values drivers and tools read at connect (`@@version`,
//! `@@autocommit`, `@@max_allowed_packet` …), session overrides set with `SET`, and
//! `SHOW VARIABLES`.

use datafusion::common::ScalarValue;

use super::{MyState, MYSQL_SERVER_VERSION};
use crate::error::{SqlError, SqlResult};

/// Global defaults, by lowercase name. Values that are numbers are returned as integers.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("auto_increment_increment", "1"),
    ("auto_increment_offset", "1"),
    ("autocommit", "1"),
    ("character_set_client", "utf8mb4"),
    ("character_set_connection", "utf8mb4"),
    ("character_set_database", "utf8mb4"),
    ("character_set_filesystem", "binary"),
    ("character_set_results", "utf8mb4"),
    ("character_set_server", "utf8mb4"),
    ("character_set_system", "utf8mb3"),
    ("collation_connection", "utf8mb4_general_ci"),
    ("collation_database", "utf8mb4_general_ci"),
    ("collation_server", "utf8mb4_general_ci"),
    ("default_storage_engine", "Basalt"),
    ("default_tmp_storage_engine", "Basalt"),
    ("div_precision_increment", "4"),
    ("foreign_key_checks", "1"),
    ("group_concat_max_len", "1024"),
    ("have_ssl", "DISABLED"),
    ("hostname", "basalt"),
    ("init_connect", ""),
    ("innodb_lock_wait_timeout", "50"),
    ("interactive_timeout", "28800"),
    ("license", "Apache-2.0"),
    ("lower_case_table_names", "0"),
    ("max_allowed_packet", "67108864"),
    ("max_connections", "151"),
    ("max_execution_time", "0"),
    ("max_prepared_stmt_count", "16382"),
    ("net_buffer_length", "16384"),
    ("net_read_timeout", "30"),
    ("net_write_timeout", "60"),
    ("performance_schema", "0"),
    ("port", "3307"),
    ("protocol_version", "10"),
    ("query_cache_size", "0"),
    ("query_cache_type", "OFF"),
    ("secure_file_priv", ""),
    ("session_track_schema", "ON"),
    // Basalt listens on TCP only: no socket (NULL to SQL).
    ("socket", ""),
    ("sql_auto_is_null", "0"),
    ("sql_mode", "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"),
    ("sql_safe_updates", "0"),
    ("sql_select_limit", "18446744073709551615"),
    ("sql_warnings", "0"),
    ("system_time_zone", "UTC"),
    ("time_zone", "+00:00"),
    ("transaction_isolation", "REPEATABLE-READ"),
    ("transaction_read_only", "0"),
    ("tx_isolation", "REPEATABLE-READ"),
    ("tx_read_only", "0"),
    ("unique_checks", "1"),
    ("use_secondary_engine", "ON"),
    ("version", MYSQL_SERVER_VERSION),
    ("version_comment", "Basalt HTAP database"),
    ("version_compile_machine", "x86_64"),
    ("version_compile_os", "Linux"),
    ("wait_timeout", "28800"),
    ("warning_count", "0"),
    ("error_count", "0"),
];

/// Variables SHOW VARIABLES prints as ON/OFF (SELECT @@x gives 1/0).
pub const BOOLEAN: &[&str] = &[
    "autocommit",
    "foreign_key_checks",
    "unique_checks",
    "sql_auto_is_null",
    "sql_safe_updates",
    "sql_warnings",
    "transaction_read_only",
    "tx_read_only",
    "performance_schema",
];

fn canonical(name: &str) -> String {
    let n = name.to_lowercase();
    match n.as_str() {
        "tx_isolation" => "transaction_isolation".into(),
        "tx_read_only" => "transaction_read_only".into(),
        _ => n,
    }
}

pub fn default_of(name: &str) -> Option<&'static str> {
    let n = canonical(name);
    DEFAULTS.iter().find(|(k, _)| *k == n).map(|(_, v)| *v)
}

/// The current value of a system variable as text.
pub fn get(state: &MyState, name: &str, global: bool) -> SqlResult<String> {
    let n = canonical(name);
    match n.as_str() {
        "autocommit" if !global => return Ok(if state.autocommit { "1" } else { "0" }.into()),
        "warning_count" => return Ok(state.warnings.len().to_string()),
        "error_count" => {
            return Ok(state
                .warnings
                .iter()
                .filter(|w| w.level == "Error")
                .count()
                .to_string())
        }
        "last_insert_id" | "identity" => return Ok(state.last_insert_id.to_string()),
        _ => {}
    }
    if !global {
        if let Some(v) = state.vars.get(&n) {
            return Ok(v.clone());
        }
    }
    default_of(&n)
        .map(str::to_owned)
        .ok_or_else(|| unknown(name))
}

pub fn unknown(name: &str) -> SqlError {
    SqlError::MySql {
        code: 1193,
        sqlstate: "HY000",
        message: format!("Unknown system variable '{name}'"),
    }
}

/// The value as SQL sees it: integers for numeric variables, text otherwise.
pub fn scalar(text: &str) -> ScalarValue {
    match text.parse::<i64>() {
        Ok(v) => ScalarValue::Int64(Some(v)),
        Err(_) => match text.parse::<u64>() {
            Ok(v) => ScalarValue::Decimal128(Some(i128::from(v)), 20, 0),
            Err(_) => ScalarValue::Utf8(Some(text.to_owned())),
        },
    }
}

/// Validates and normalises a value being assigned with `SET`.
pub fn normalize_value(name: &str, value: &str) -> SqlResult<String> {
    let n = canonical(name);
    let upper = value.to_uppercase();
    let boolean = |v: &str| -> SqlResult<String> {
        match v {
            "1" | "ON" | "TRUE" => Ok("1".into()),
            "0" | "OFF" | "FALSE" => Ok("0".into()),
            _ => Err(SqlError::MySql {
                code: 1231,
                sqlstate: "42000",
                message: format!("Variable '{n}' can't be set to the value of '{value}'"),
            }),
        }
    };
    match n.as_str() {
        "autocommit"
        | "foreign_key_checks"
        | "unique_checks"
        | "sql_safe_updates"
        | "sql_auto_is_null"
        | "transaction_read_only"
        | "sql_warnings" => boolean(&upper),
        "transaction_isolation" => match upper.replace(' ', "-").as_str() {
            "READ-UNCOMMITTED" | "READ-COMMITTED" | "REPEATABLE-READ" | "SERIALIZABLE" => {
                Ok(upper.replace(' ', "-"))
            }
            _ => Err(SqlError::MySql {
                code: 1231,
                sqlstate: "42000",
                message: format!("Variable '{n}' can't be set to the value of '{value}'"),
            }),
        },
        "use_secondary_engine" => match upper.as_str() {
            "ON" | "1" => Ok("ON".into()),
            "OFF" | "0" => Ok("OFF".into()),
            "FORCED" | "2" => Ok("FORCED".into()),
            _ => Err(SqlError::MySql {
                code: 1231,
                sqlstate: "42000",
                message: format!("Variable '{n}' can't be set to the value of '{value}'"),
            }),
        },
        "character_set_client" | "character_set_connection" | "character_set_results" | "names" => {
            let lower = value.to_lowercase();
            if lower.starts_with("utf8")
                || lower == "binary"
                || lower == "ascii"
                || lower == "latin1"
                || lower == "null"
            {
                Ok(lower)
            } else {
                Err(SqlError::MySql {
                    code: 1115,
                    sqlstate: "42000",
                    message: format!("Unknown character set: '{value}'; Basalt speaks utf8mb4"),
                })
            }
        }
        _ => {
            if default_of(&n).is_none() {
                return Err(unknown(name));
            }
            Ok(value.to_owned())
        }
    }
}
