# Shared by the bench/*.sh scripts (sourced, from the repository root).
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/basalt-target}"
# The server binary: BASALT_BIN, or the release build, built if missing.
BASALT_BIN="${BASALT_BIN:-$CARGO_TARGET_DIR/release/basalt}"
if [ ! -x "$BASALT_BIN" ]; then
  echo "building Basalt (release)…" >&2
  cargo build --release --bin basalt >&2 || exit 1
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
