#!/usr/bin/env bash
# The real consumers the export tests read their output with, in a Python
# venv at target/consumers-venv (pinned; one package a line):
#
#   scripts/consumers-venv.sh          # create or update it
#
# tests/export_parquet.rs reads the Parquet dataset back with DuckDB and
# pyarrow from this venv, and fails naming this script when it is missing.
# Needs python3 with the venv module (Debian: python3-venv).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=target/consumers-venv
PACKAGES=(
  duckdb==2.0.0
  pyarrow==26.0.1
)

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# Installed already at these versions: nothing to fetch.
if "$VENV/bin/python" -m pip freeze 2>/dev/null | sort >"$VENV/.have" &&
  printf '%s\n' "${PACKAGES[@]}" | sort | comm -23 - "$VENV/.have" | grep -q .; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PACKAGES[@]}"
fi
rm -f "$VENV/.have"
"$VENV/bin/python" -c 'import duckdb, pyarrow; print("consumers venv: duckdb", duckdb.__version__, "pyarrow", pyarrow.__version__)'
