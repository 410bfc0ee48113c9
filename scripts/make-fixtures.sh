#!/usr/bin/env bash
# Regenerates fixtures/sample/ from a real etcd (see fixtures/README.md).
# `scripts/make-fixtures.sh --rollout` regenerates fixtures/rollout/ (the
# README's first example: owners and an audit log) instead.
#
# Needs etcd/etcdctl 3.4 on PATH (apt-get install etcd-server etcd-client).
# Real etcd output is not byte-reproducible (lease ids, bbolt page layout):
# the committed files are the fixtures, and ledger.json goes with them —
# always commit all files of fixtures/sample/ together.
set -euo pipefail

cd "$(dirname "$0")/.."
ARGS=("$@")

for bin in etcd etcdctl; do
    if ! command -v "$bin" >/dev/null 2>&1; then
        echo "make-fixtures.sh: $bin not found: apt-get install etcd-server etcd-client" >&2
        exit 1
    fi
done

etcd --version | sed -n 1p
cargo run --example make_fixture -- "${ARGS[@]}"
