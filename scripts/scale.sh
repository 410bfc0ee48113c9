#!/usr/bin/env bash
# Scale check: write REVISIONS (default 200000) Kubernetes Event revisions
# into a private real etcd, snapshot it, and time `evforensics ingest` on it.
#
#   scripts/scale.sh                 # 200k revisions
#   REVISIONS=50000 scripts/scale.sh
#   KEEP=1 scripts/scale.sh          # keep the work dir (snapshot, sqlite)
#   TMPFS=1 scripts/scale.sh         # etcd data dir on /dev/shm (faster writes)
#
# Needs etcd/etcdctl 3.4 (apt-get install etcd-server etcd-client) and GNU
# time (/usr/bin/time; installed with apt-get if missing). The etcd server
# runs on a free loopback port with a temp data dir and is stopped by the
# writer before ingest starts.
set -euo pipefail

cd "$(dirname "$0")/.."
REVISIONS="${REVISIONS:-200000}"
CONCURRENCY="${CONCURRENCY:-256}"

SCRIPT=scale.sh
# shellcheck source=scripts/scale-common.sh
source scripts/scale-common.sh

WORK="$(mktemp -d "${TMPDIR:-/tmp}/evf-scale.XXXXXX")"
if [ "${KEEP:-0}" = 1 ]; then
    echo "scale.sh: keeping work dir $WORK" >&2
else
    trap 'rm -rf "$WORK"' EXIT
fi

echo "== building (release)" >&2
cargo build --release --bin evforensics --example scale_writer >&2

echo "== writing $REVISIONS revisions into a real etcd" >&2
WRITER_ARGS=(--revisions "$REVISIONS" --out "$WORK/snapshot.db" --concurrency "$CONCURRENCY")
[ "${TMPFS:-0}" = 1 ] && WRITER_ARGS+=(--tmpfs)
cargo run --release --quiet --example scale_writer -- "${WRITER_ARGS[@]}" | tee "$WORK/writer.out"
SCALE_LINE="$(grep '^SCALE ' "$WORK/writer.out" | tail -1)"
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $SCALE_LINE"; }
WRITTEN="$(field revisions)"
WRITE_SECONDS="$(field write_seconds)"
SNAPSHOT_BYTES="$(field snapshot_bytes)"

echo "== evforensics ingest" >&2
set +e
/usr/bin/time -v -o "$WORK/time.txt" \
    target/release/evforensics ingest --db "$WORK/out.sqlite" "$WORK/snapshot.db"
STATUS=$?
set -e
if [ "$STATUS" -ne 0 ]; then
    echo "scale.sh: evforensics ingest exited with status $STATUS" >&2
    cat "$WORK/time.txt" >&2 || true
    exit "$STATUS"
fi

# GNU time: "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:12.34"
ELAPSED="$(sed -n 's/.*Elapsed (wall clock) time.*: \([0-9:.]*\)$/\1/p' "$WORK/time.txt")"
SECONDS_INGEST="$(awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }' <<<"$ELAPSED")"
RSS_KB="$(sed -n 's/.*Maximum resident set size (kbytes): \([0-9]*\)/\1/p' "$WORK/time.txt")"

if [ ! -s "$WORK/out.sqlite" ]; then
    echo "scale.sh: evforensics ingest exited 0 but wrote no $WORK/out.sqlite" >&2
    exit 1
fi

# Revisions loaded, from the database (sources.event_revisions, see
# docs/schema.md); without sqlite3, the number written (the snapshot is not
# compacted, so it holds every revision written).
LOADED=""
LOADED_NOTE="sources.event_revisions"
if command -v sqlite3 >/dev/null 2>&1; then
    LOADED="$(sqlite3 "$WORK/out.sqlite" 'SELECT SUM(event_revisions) FROM sources;' 2>/dev/null || true)"
    [ -n "$LOADED" ] || LOADED_NOTE="could not read sources.event_revisions; using revisions written"
else
    LOADED_NOTE="sqlite3 not installed; using revisions written"
fi
[ -n "$LOADED" ] || LOADED="$WRITTEN"
RATE="$(awk -v n="$LOADED" -v s="$SECONDS_INGEST" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "n/a" }')"

echo
echo "== scale result"
printf '%-28s %s\n' "etcd" "$(etcd --version | sed -n 1p)"
printf '%-28s %s (%s s to write, %s bytes snapshot)\n' "revisions written" "$WRITTEN" "$WRITE_SECONDS" "$SNAPSHOT_BYTES"
printf '%-28s %s (%s)\n' "revisions loaded" "$LOADED" "$LOADED_NOTE"
printf '%-28s %s s\n' "ingest wall time" "$SECONDS_INGEST"
printf '%-28s %s\n' "revisions per second" "$RATE"
printf '%-28s %s KiB (%s MiB)\n' "peak RSS" "$RSS_KB" "$((RSS_KB / 1024))"
