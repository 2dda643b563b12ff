"""A `basalt serve` process on free ports, for tests that need a server of their own
(crash tests, the TPC-H differential test).

Environment: BASALT_BIN (the server binary), BASALT_STARTUP_TIMEOUT (seconds to wait for
/health, default 60).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import psycopg
import pytest

BASALT_BIN = os.environ.get("BASALT_BIN")
STARTUP_TIMEOUT_S = float(os.environ.get("BASALT_STARTUP_TIMEOUT", "60"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `basalt serve` process on a given data dir."""

    def __init__(self, data_dir: str, log_dir: str, env_extra: dict | None = None,
                 extra_args: tuple[str, ...] = ()):
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.env = dict(os.environ)
        self.env.update(env_extra or {})
        self.proc: subprocess.Popen | None = None
        self.extra_args = list(extra_args)
        self.starts = 0
        self.log_path = None
        self.pg_port = self.http_port = self.mysql_port = None

    def spawn(self):
        self.pg_port, self.http_port, self.mysql_port = free_port(), free_port(), free_port()
        while len({self.pg_port, self.http_port, self.mysql_port}) < 3:
            self.http_port, self.mysql_port = free_port(), free_port()
        self.starts += 1
        self.log_path = os.path.join(self.log_dir, f"server-{self.starts}.log")
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [BASALT_BIN, "serve", "--data-dir", self.data_dir, "--listen", "127.0.0.1",
             "--pg-port", str(self.pg_port), "--http-port", str(self.http_port),
             "--mysql-port", str(self.mysql_port), *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env)
        log.close()

    def start(self):
        self.spawn()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        url = f"http://127.0.0.1:{self.http_port}/health"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited with code {self.proc.returncode} during start-up\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.05)
        self.kill()
        pytest.fail(f"server did not report healthy within {STARTUP_TIMEOUT_S}s\n{self.log_tail()}")

    def kill(self):
        """SIGKILL (never a clean shutdown) and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        self.proc = None

    def connect(self, **kw):
        return psycopg.connect(host="127.0.0.1", port=self.pg_port, dbname="basalt", user=os.environ.get("BASALT_PG_USER", "postgres"),
                               connect_timeout=10, **kw)

    def log_tail(self, n=4000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
            return "---- server log (tail) ----\n" + data[-n:].decode("utf-8", "replace")
        except OSError:
            return "(no server log)"
