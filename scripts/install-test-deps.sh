#!/usr/bin/env bash
# Install everything the Basalt test suites need (Debian 12, run as root, no sudo).
# Idempotent: skips whatever is already installed, so re-runs are fast.
#
#   bash scripts/install-test-deps.sh            # all deps
#   SKIP_SLT_BIN=1 bash scripts/install-test-deps.sh   # skip `cargo install sqllogictest-bin`
set -euo pipefail

log() { echo "[install-test-deps] $*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-deps.sh must run as root (apt-get install)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive

# ---------------------------------------------------------------- apt packages
APT_PKGS=(postgresql-15 postgresql-client-15 mariadb-server mariadb-client sysbench libmariadb-dev pkg-config)
missing=()
for p in "${APT_PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
else
  log "apt packages already installed: ${APT_PKGS[*]}"
fi
if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
  echo "initdb not found at /usr/lib/postgresql/15/bin/initdb after install" >&2
  exit 1
fi

# ---------------------------------------------------------------- python packages
PY="${PYTHON:-python3}"
if ! "$PY" - <<'PYEOF' 2>/dev/null
import importlib, sys
import pytest, psycopg, asyncpg, sqlalchemy, pandas
import pymysql, mysql.connector, MySQLdb, duckdb
import shutil
if shutil.which("tpchgen-cli") is None:
    sys.exit(1)
from psycopg import pq  # binary/c implementation importable
if int(sqlalchemy.__version__.split(".")[0]) < 2:
    sys.exit(1)
PYEOF
then
  log "pip install python test deps"
  "$PY" -m pip install --quiet "pytest" "psycopg[binary]>=3.1" "asyncpg" "sqlalchemy>=2" "pandas" \
    "pymysql" "mysql-connector-python" "mysqlclient" "duckdb" "tpchgen-cli"
else
  log "python deps already installed"
fi

# ---------------------------------------------------------------- sqllogictest runner
export PATH="$HOME/.cargo/bin:$PATH"
if command -v sqllogictest >/dev/null 2>&1; then
  log "sqllogictest already on PATH: $(command -v sqllogictest)"
elif [ "${SKIP_SLT_BIN:-0}" = "1" ]; then
  log "SKIP_SLT_BIN=1: not installing sqllogictest-bin"
else
  log "cargo install sqllogictest-bin --locked (light release profile)"
  # The runner waits on the servers it tests: opt-level 1, no LTO and parallel codegen
  # build it in 2m07s instead of 2m29s here, and it runs the slt files as fast. (--debug
  # builds in 1m17s but spends 7x the CPU per record.)
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_LTO=false \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_DEBUG=false \
    cargo install sqllogictest-bin --locked
fi

# ---------------------------------------------------------------- node packages (mysql2)
cd "$(dirname "$0")/.."
if [ -f tests/mysql/node/package.json ] && command -v npm >/dev/null 2>&1; then
  if [ ! -d tests/mysql/node/node_modules/mysql2 ]; then
    log "npm ci (tests/mysql/node)"
    (cd tests/mysql/node && npm ci --no-audit --no-fund --silent)
  else
    log "node packages already installed"
  fi
fi

log "done"
