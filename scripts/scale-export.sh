#!/usr/bin/env bash
# Export speed: write REVISIONS (default 200000) Event revisions into a
# private real etcd (examples/scale_writer.rs, as scripts/scale.sh does),
# ingest its snapshot, then time `evforensics export` of every format under
# /usr/bin/time -v (wall time, records per second, peak RSS). The output
# goes to a file in the work dir, removed at the end (KEEP=1 keeps it).
#
#   scripts/scale-export.sh
#   REVISIONS=50000 RUNS=3 scripts/scale-export.sh
#   DB=case.sqlite scripts/scale-export.sh     # an existing database instead
set -euo pipefail

cd "$(dirname "$0")/.."
REVISIONS="${REVISIONS:-200000}"
RUNS="${RUNS:-1}"
FORMATS="${FORMATS:-es-bulk otlp-logs otlp-traces jaeger}"

SCRIPT=scale-export.sh
# shellcheck source=scripts/scale-common.sh
source scripts/scale-common.sh

WORK="$(mktemp -d "${TMPDIR:-/tmp}/evf-scale-export.XXXXXX")"
if [ "${KEEP:-0}" = 1 ]; then
    echo "$SCRIPT: keeping work dir $WORK" >&2
else
    trap 'rm -rf "$WORK"' EXIT
fi

echo "== building (release)" >&2
cargo build --release --bin evforensics --example scale_writer >&2

if [ -n "${DB:-}" ]; then
    CASE="$DB"
else
    echo "== writing $REVISIONS revisions into a real etcd" >&2
    cargo run --release --quiet --example scale_writer -- \
        --revisions "$REVISIONS" --out "$WORK/snapshot.db" >&2
    echo "== ingest" >&2
    target/release/evforensics ingest --db "$WORK/case.sqlite" "$WORK/snapshot.db" >&2
    rm -f "$WORK/snapshot.db"
    CASE="$WORK/case.sqlite"
fi

echo
echo "== export result ($(target/release/evforensics --version))"
printf '%-12s %10s %9s %12s %10s %12s\n' format records wall_s records/s rss_MiB out_MiB
for format in $FORMATS; do
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -v -o "$WORK/time.txt" \
            target/release/evforensics export --db "$CASE" --format "$format" \
            --out "$WORK/out.$format" 2>"$WORK/stderr.txt" || {
            cat "$WORK/stderr.txt" "$WORK/time.txt" >&2
            exit 1
        }
        RECORDS="$(sed -n 's/^exported \([0-9]*\) Event revisions and \([0-9]*\) audit.*/\1 \2/p' "$WORK/stderr.txt" | awk '{ print $1 + $2 }')"
        ELAPSED="$(sed -n 's/.*Elapsed (wall clock) time.*: \([0-9:.]*\)$/\1/p' "$WORK/time.txt")"
        WALL="$(awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }' <<<"$ELAPSED")"
        RSS_KB="$(sed -n 's/.*Maximum resident set size (kbytes): \([0-9]*\)/\1/p' "$WORK/time.txt")"
        RATE="$(awk -v n="$RECORDS" -v s="$WALL" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "n/a" }')"
        OUT_MIB="$(du -m "$WORK/out.$format" | cut -f1)"
        printf '%-12s %10s %9s %12s %10s %12s\n' "$format" "$RECORDS" "$WALL" "$RATE" "$((RSS_KB / 1024))" "$OUT_MIB"
        rm -f "$WORK/out.$format"
    done
done
