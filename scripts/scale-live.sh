#!/usr/bin/env bash
# Live-pull speed check: write REVISIONS (default 200000) Kubernetes Event
# revisions into a private real etcd, keep it running, then time
#   1. etcdctl get --prefix /registry/events/ -w json   (fetch only, no decoding)
#   2. evforensics ingest --endpoints …                 (full pull: every revision
#      since the last compaction, decoded and loaded into SQLite)
# on the same etcd. The issue's target: 2 takes no longer than 1.
#
#   scripts/scale-live.sh
#   REVISIONS=50000 scripts/scale-live.sh
#   KEEP=1 scripts/scale-live.sh     # keep the work dir
#   TMPFS=1 scripts/scale-live.sh    # etcd data dir on /dev/shm
#
# Needs etcd/etcdctl 3.4 and GNU time (/usr/bin/time), like scripts/scale.sh.
set -euo pipefail

cd "$(dirname "$0")/.."
REVISIONS="${REVISIONS:-200000}"
CONCURRENCY="${CONCURRENCY:-256}"

SCRIPT=scale-live.sh
# shellcheck source=scripts/scale-common.sh
source scripts/scale-common.sh

WORK="$(mktemp -d "${TMPDIR:-/tmp}/evf-scale-live.XXXXXX")"
WRITER_PID=""
cleanup() {
    touch "$WORK/release"
    if [ -n "$WRITER_PID" ]; then wait "$WRITER_PID" 2>/dev/null || true; fi
    if [ "${KEEP:-0}" != 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
[ "${KEEP:-0}" = 1 ] && echo "scale-live.sh: keeping work dir $WORK" >&2

echo "== building (release)" >&2
cargo build --release --bin evforensics --example scale_writer >&2

echo "== writing $REVISIONS revisions into a real etcd (kept running)" >&2
WRITER_ARGS=(--revisions "$REVISIONS" --out "$WORK/snapshot.db" --concurrency "$CONCURRENCY" --hold "$WORK/release")
[ "${TMPFS:-0}" = 1 ] && WRITER_ARGS+=(--tmpfs)
target/release/examples/scale_writer "${WRITER_ARGS[@]}" >"$WORK/writer.out" &
WRITER_PID=$!
while ! grep -q '^SCALE ' "$WORK/writer.out" 2>/dev/null; do
    if ! kill -0 "$WRITER_PID" 2>/dev/null; then
        echo "scale-live.sh: the writer exited early" >&2
        exit 1
    fi
    sleep 0.5
done
SCALE_LINE="$(grep '^SCALE ' "$WORK/writer.out" | tail -1)"
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $SCALE_LINE"; }
WRITTEN="$(field revisions)"
WRITE_SECONDS="$(field write_seconds)"
ENDPOINT="$(field endpoint)"

seconds_of() {
    local elapsed
    elapsed="$(sed -n 's/.*Elapsed (wall clock) time.*: \([0-9:.]*\)$/\1/p' "$1")"
    awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }' <<<"$elapsed"
}
rss_of() { sed -n 's/.*Maximum resident set size (kbytes): \([0-9]*\)/\1/p' "$1"; }
# CPU seconds the etcd server has used so far (user + system), so that each
# step shows what it cost the server, not only the client.
ETCD_PID="$(pgrep -f -- "--listen-client-urls $ENDPOINT" | head -1 || true)"
TICKS="$(getconf CLK_TCK)"
etcd_cpu() {
    if [ -n "$ETCD_PID" ] && [ -r "/proc/$ETCD_PID/stat" ]; then
        awk -v t="$TICKS" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$ETCD_PID/stat"
    else
        echo n/a
    fi
}
cpu_between() {
    if [ "$1" = n/a ] || [ "$2" = n/a ]; then
        echo n/a
    else
        awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'
    fi
}

echo "== etcdctl get --prefix /registry/events/ -w json (fetch only)" >&2
CPU0="$(etcd_cpu)"
/usr/bin/time -v -o "$WORK/time-etcdctl.txt" \
    env ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINT" --command-timeout 600s \
    get --prefix /registry/events/ -w json >"$WORK/get.json"
CPU1="$(etcd_cpu)"
GET_BYTES="$(stat -c %s "$WORK/get.json")"
rm -f "$WORK/get.json"

echo "== evforensics ingest --endpoints $ENDPOINT" >&2
EVF_TRACE=1 /usr/bin/time -v -o "$WORK/time-live.txt" \
    target/release/evforensics ingest --no-progress --db "$WORK/live.sqlite" \
    --endpoints "$ENDPOINT" --command-timeout 60s 2>"$WORK/live.trace" | tee "$WORK/live.out"
CPU2="$(etcd_cpu)"
trace_at() { sed -n "s/^evforensics trace \([0-9.]*\) $1.*/\1/p" "$WORK/live.trace" | head -1; }
PULL_S="$(awk -v a="$(trace_at connected)" -v b="$(trace_at 'head checked')" 'BEGIN { printf "%.2f", b - a }')"

echo "== evforensics ingest of a snapshot of the same etcd (the loader alone)" >&2
/usr/bin/time -v -o "$WORK/time-snap.txt" \
    target/release/evforensics ingest --no-progress --db "$WORK/snap.sqlite" "$WORK/snapshot.db" >/dev/null
SNAP_S="$(seconds_of "$WORK/time-snap.txt")"

ETCDCTL_S="$(seconds_of "$WORK/time-etcdctl.txt")"
LIVE_S="$(seconds_of "$WORK/time-live.txt")"
LIVE_RSS="$(rss_of "$WORK/time-live.txt")"
LOADED="$(sed -n 's/.*event revisions: \([0-9]*\) loaded.*/\1/p' "$WORK/live.out" | head -1)"
TOMBS="$(sed -n 's/.*tombstones: \([0-9]*\).*/\1/p' "$WORK/live.out" | head -1)"
RATE="$(awk -v n="$LOADED" -v s="$LIVE_S" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "n/a" }')"
RATIO="$(awk -v a="$LIVE_S" -v b="$ETCDCTL_S" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')"

echo
echo "== scale-live result"
printf '%-36s %s\n' "etcd" "$(etcd --version | sed -n 1p)"
printf '%-36s %s (%s s to write)\n' "revisions written" "$WRITTEN" "$WRITE_SECONDS"
printf '%-36s %s s (%s bytes of JSON)\n' "etcdctl get --prefix -w json" "$ETCDCTL_S" "$GET_BYTES"
printf '%-36s %s s (%s event revisions, %s tombstones, %s/s)\n' "evforensics ingest --endpoints" "$LIVE_S" "$LOADED" "$TOMBS" "$RATE"
printf '%-36s %s\n' "live pull / etcdctl fetch" "$RATIO"
printf '%-36s %s s during the fetch, %s s during the live pull\n' "etcd server CPU (user + system)" \
    "$(cpu_between "$CPU0" "$CPU1")" "$(cpu_between "$CPU1" "$CPU2")"
printf '%-36s %s s (the API reads, overlapping decoding and loading)\n' "  of which range+watch+check" "$PULL_S"
printf '%-36s %s s\n' "snapshot ingest, same data" "$SNAP_S"
printf '%-36s %s KiB (%s MiB)\n' "peak RSS (live pull)" "$LIVE_RSS" "$((LIVE_RSS / 1024))"
