#!/usr/bin/env python3
"""Stand-in for `basalt serve` backed by a real PostgreSQL 15, used only to
validate tests/crash/test_crash.py's SIGKILL/restart/verify logic before the
Basalt binary exists:

    BASALT_BIN=tests/tools/fake_basalt_pg.py python3 -m pytest tests/crash -k sigkill

It accepts `serve --data-dir D --listen ADDR --pg-port P --http-port H`,
initdb's D/pgdata on first use (as the `postgres` user when run as root),
runs the postmaster as a child that receives SIGKILL when this process dies
(PR_SET_PDEATHSIG), creates database `basalt`, and answers GET /health with
200 once connections work. The WAL tests do not apply (PostgreSQL's WAL
layout and recovery rules differ) and fail under this shim by design.
"""
from __future__ import annotations

import argparse
import ctypes
import http.server
import os
import pwd
import signal
import subprocess
import sys
import threading
import time

PG_BIN = os.environ.get("PG_REF_BIN", "/usr/lib/postgresql/15/bin")


def demote_and_pdeathsig(uid, gid):
    def fn():
        if os.getuid() == 0:
            os.setgid(gid)
            os.setuid(uid)
        # after the credential change (which would clear it), so it sticks across exec
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    return fn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["serve"])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--pg-port", type=int, required=True)
    ap.add_argument("--http-port", type=int, required=True)
    a = ap.parse_args()

    pw = pwd.getpwnam("postgres") if os.getuid() == 0 else pwd.getpwuid(os.getuid())
    pre = demote_and_pdeathsig(pw.pw_uid, pw.pw_gid)
    os.makedirs(a.data_dir, exist_ok=True)
    if os.getuid() == 0:
        os.chown(a.data_dir, pw.pw_uid, pw.pw_gid)
        # parent dirs must be traversable by postgres
        p = os.path.dirname(os.path.abspath(a.data_dir))
        os.chmod(p, os.stat(p).st_mode | 0o711)
    pgdata = os.path.join(a.data_dir, "pgdata")
    fresh = not os.path.exists(os.path.join(pgdata, "PG_VERSION"))
    if fresh:
        subprocess.run([f"{PG_BIN}/initdb", "-D", pgdata, "-U", "postgres", "--auth=trust",
                        "--encoding=UTF8", "--locale=C.UTF-8"], check=True, preexec_fn=pre,
                       stdout=subprocess.DEVNULL)

    ready = threading.Event()

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            ok = self.path == "/health" and ready.is_set()
            self.send_response(200 if ok else 503)
            self.end_headers()
            self.wfile.write(b"ok" if ok else b"starting")

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer((a.listen, a.http_port), Health)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    # a previous postmaster killed with SIGKILL may leave backends for a moment:
    # retry until the new postmaster comes up
    import psycopg

    deadline = time.monotonic() + 60
    pm = None
    while time.monotonic() < deadline:
        pm = subprocess.Popen([f"{PG_BIN}/postgres", "-D", pgdata, "-p", str(a.pg_port),
                               "-c", f"listen_addresses={a.listen}", "-c", f"unix_socket_directories={a.data_dir}",
                               "-c", "fsync=on", "-c", "synchronous_commit=on"],
                              preexec_fn=pre, stdin=subprocess.DEVNULL)
        up = False
        for _ in range(200):
            if pm.poll() is not None:
                break
            try:
                with psycopg.connect(host=a.listen, port=a.pg_port, dbname="postgres", user="postgres",
                                     autocommit=True, connect_timeout=2) as c:
                    if not c.execute("SELECT 1 FROM pg_database WHERE datname = 'basalt'").fetchone():
                        c.execute("CREATE DATABASE basalt")
                up = True
                break
            except psycopg.Error:
                time.sleep(0.1)
        if up:
            break
        if pm.poll() is None:
            pm.kill()
            pm.wait()
        time.sleep(0.5)
    else:
        print("fake_basalt_pg: postgres did not start", file=sys.stderr)
        return 1
    ready.set()
    print(f"fake_basalt_pg: serving pg={a.pg_port} http={a.http_port}", flush=True)
    return pm.wait()


if __name__ == "__main__":
    sys.exit(main())
