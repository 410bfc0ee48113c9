#!/usr/bin/env bash
# The real consumers the export tests check against, in a Python venv at
# target/consumers-venv: the OpenTelemetry protobuf schema and protobuf's
# json_format (strict OTLP/JSON parsing), PyYAML (Metricbeat's fields.yml),
# DuckDB and pyarrow (the Parquet dataset read back). Needs python3 with
# the venv module (Debian: python3-venv).
# One pinned package a line; the tests name this script when the venv is
# missing. Re-running it installs only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/consumers-venv
packages=(
  "opentelemetry-proto==1.45.2"
  "protobuf==7.36.2"
  "PyYAML==6.0.3"
  "duckdb==2.0.0"
  "pyarrow==26.0.1"
)

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${packages[@]}"
"$venv/bin/python" -c 'import opentelemetry.proto.collector.logs.v1.logs_service_pb2, google.protobuf, yaml, duckdb, pyarrow; print("consumers venv:", google.protobuf.__version__)'
