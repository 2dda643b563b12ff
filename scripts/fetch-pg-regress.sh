#!/usr/bin/env bash
# PostgreSQL 15's regression tests (src/test/regress: sql/, expected/, data/) from Debian's
# postgresql-15 source package, for tests/conformance/pg_regress.py.
#
#   bash scripts/fetch-pg-regress.sh [DIR]    # default /var/tmp/basalt-pgregress
#
# Prints the directory. Idempotent: does nothing when DIR already holds the files. Adds a
# deb-src entry for Debian's main archive if there is none (apt-get source needs it).
set -euo pipefail
# Outside root's home: PostgreSQL's server reads the data files (COPY … FROM file) as its
# own user, so every directory on the way must be open to it.
DIR="${1:-/var/tmp/basalt-pgregress}"
if [ -f "$DIR/sql/test_setup.sql" ] && [ -d "$DIR/data" ]; then
  echo "$DIR"
  exit 0
fi
SRC_LIST=/etc/apt/sources.list.d/basalt-debian-src.sources
if ! grep -rqs "deb-src" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  cat > "$SRC_LIST" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
apt-get update -qq >&2
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && apt-get source --download-only -qq postgresql-15 >&2)
TARBALL=$(ls "$WORK"/postgresql-15_*.orig.tar.* | head -1)
mkdir -p "$WORK/x"
tar -xf "$TARBALL" -C "$WORK/x" --wildcards '*/src/test/regress/sql/*' \
  '*/src/test/regress/expected/*' '*/src/test/regress/data/*'
mkdir -p "$DIR"
cp -r "$WORK"/x/*/src/test/regress/{sql,expected,data} "$DIR/"
chmod -R a+rX "$DIR"
echo "$DIR"
