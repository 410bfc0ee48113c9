#!/usr/bin/env bash
# WAL replay speed check: write REVISIONS (default 200000) Kubernetes Event
# revisions into a private real etcd the way kube-apiserver does (creates
# `If ModRevision == 0` with a lease, count updates `If ModRevision ==
# previous`, STALE_PERCENT % stale proposals whose compare fails, a new
# lease every REVISIONS/10 writes, each expiring EXPIRE_AFTER writes after
# its last use (its Events deleted, as --event-ttl does), and the
# apiserver's compactor every COMPACT_EVERY writes: physical compactions, so
# most history is gone from the tree), snapshot it, stop it cleanly and copy
# its data directory (member/snap/db + member/wal), then time
#   1. evforensics ingest SNAPSHOT   (the db alone)
#   2. evforensics ingest DATA_DIR   (the db, then the WAL replayed)
# The issue's target: reading the WAL adds no more than 50 % to the time of
# ingesting the same revisions from a snapshot, and memory does not grow
# with the WAL's size beyond the key histories.
#
#   scripts/scale-wal.sh
#   REVISIONS=50000 scripts/scale-wal.sh
#   COMPACT_EVERY=0 EXPIRE_AFTER=0 scripts/scale-wal.sh   # both hold the same revisions
#   KEEP=1 scripts/scale-wal.sh            # keep the work dir
#   TMPFS=1 scripts/scale-wal.sh           # etcd data dir on /dev/shm
#
# etcd keeps its defaults (64 MB segments, --max-wals 5, --snapshot-count
# 100000): at ~940 bytes per entry 200,000 writes fill 3 segments (five
# hold ~340,000), none purged, so the WAL starts at raft index 1 and holds
# every write. The result says where the WAL starts (a first index above
# 1: segments were purged). Needs etcd/etcdctl 3.4, GNU time and sqlite3.
# RUNS (default 3) ingests of each input, alternating; medians printed.
set -euo pipefail

cd "$(dirname "$0")/.."
REVISIONS="${REVISIONS:-200000}"
CONCURRENCY="${CONCURRENCY:-256}"
STALE_PERCENT="${STALE_PERCENT:-3}"
COMPACT_EVERY="${COMPACT_EVERY:-$((REVISIONS / 20))}"
PER_LEASE="$((REVISIONS / 10 > 0 ? REVISIONS / 10 : 1))"
EXPIRE_AFTER="${EXPIRE_AFTER:-$PER_LEASE}"

SCRIPT=scale-wal.sh
# shellcheck source=scripts/scale-common.sh
source scripts/scale-common.sh
if ! command -v sqlite3 >/dev/null 2>&1; then
    echo "$SCRIPT: sqlite3 not found: apt-get install sqlite3" >&2
    exit 1
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/evf-scale-wal.XXXXXX")"
if [ "${KEEP:-0}" = 1 ]; then
    echo "$SCRIPT: keeping work dir $WORK" >&2
else
    trap 'rm -rf "$WORK"' EXIT
fi

echo "== building (release)" >&2
cargo build --release --bin evforensics --example scale_writer >&2

echo "== writing $REVISIONS revisions into a real etcd (apiserver txns, $STALE_PERCENT % stale, leases expiring after $EXPIRE_AFTER, compactor every $COMPACT_EVERY)" >&2
WRITER_ARGS=(--revisions "$REVISIONS" --out "$WORK/snapshot.db" --concurrency "$CONCURRENCY"
    --stale-percent "$STALE_PERCENT" --compact-every "$COMPACT_EVERY"
    --writes-per-lease "$PER_LEASE" --expire-after "$EXPIRE_AFTER" --data-dir-out "$WORK/data")
[ "${TMPFS:-0}" = 1 ] && WRITER_ARGS+=(--tmpfs)
target/release/examples/scale_writer "${WRITER_ARGS[@]}" | tee "$WORK/writer.out"
SCALE_LINE="$(grep '^SCALE ' "$WORK/writer.out" | tail -1)"
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $SCALE_LINE"; }

seconds_of() {
    local elapsed
    elapsed="$(sed -n 's/.*Elapsed (wall clock) time.*: \([0-9:.]*\)$/\1/p' "$1")"
    awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }' <<<"$elapsed"
}
cpu_of() {
    awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$1"
}
rss_of() { sed -n 's/.*Maximum resident set size (kbytes): \([0-9]*\)/\1/p' "$1"; }
# One ingest into a new database $name.sqlite, under `time -v`; its trace
# lines (EVF_TRACE) go to $name-$run.trace.
timed_ingest() {
    local name="$1" input="$2" run="$3" status
    echo "== evforensics ingest $input (run $run)" >&2
    rm -f "$WORK/$name.sqlite"
    set +e
    EVF_TRACE=1 /usr/bin/time -v -o "$WORK/time-$name-$run.txt" \
        target/release/evforensics ingest --no-progress --db "$WORK/$name.sqlite" "$input" \
        >"$WORK/$name.out" 2>"$WORK/$name-$run.trace"
    status=$?
    set -e
    [ "$run" = 1 ] && cat "$WORK/$name.out"
    # 3: damaged records were skipped (the load went on); anything else fails.
    if [ "$status" -ne 0 ] && [ "$status" -ne 3 ]; then
        echo "$SCRIPT: evforensics ingest $input exited with status $status" >&2
        cat "$WORK/$name-$run.trace" "$WORK/time-$name-$run.txt" >&2 || true
        exit "$status"
    fi
}
# Timings on a shared 2-core machine vary by half from run to run: RUNS
# pairs, alternating, and the medians.
RUNS="${RUNS:-3}"
for run in $(seq 1 "$RUNS"); do
    timed_ingest snap "$WORK/snapshot.db" "$run"
    timed_ingest dir "$WORK/data" "$run"
done

q() { sqlite3 "$WORK/$1.sqlite" "$2"; }
trace_at() { sed -n "s/^evforensics trace \([0-9.]*\) $2.*/\1/p" "$1" | head -1; }
between() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "") printf "%.2f", b - a; else print "n/a" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "n/a" && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
per_second() { awk -v n="$1" -v s="$2" 'BEGIN { if (s != "n/a" && s > 0) printf "%.0f", n / s; else print "n/a" }'; }
maximum() { tr ' ' '\n' | grep -v '^$' | sort -g | tail -1; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# FIGURE NAME: the value of every run, space-separated.
each() {
    local fn="$1" name="$2" run out=""
    for run in $(seq 1 "$RUNS"); do out="$out $($fn "$WORK/time-$name-$run.txt")"; done
    echo "$out"
}
# The WAL's passes in each data-directory run, from its trace: counting
# puts, then the replay (which waits for the loader when its queue is full).
each_pass() {
    local from="$1" to="$2" run out="" t
    for run in $(seq 1 "$RUNS"); do
        t="$WORK/dir-$run.trace"
        out="$out $(between "$(trace_at "$t" "$from")" "$(trace_at "$t" "$to")")"
    done
    echo "$out"
}

SNAP_ALL="$(each seconds_of snap)"
DIR_ALL="$(each seconds_of dir)"
SNAP_S="$(median <<<"$SNAP_ALL")"
DIR_S="$(median <<<"$DIR_ALL")"
SNAP_CPU="$(each cpu_of snap | median)"
DIR_CPU="$(each cpu_of dir | median)"
SNAP_RSS="$(each rss_of snap | maximum)"
DIR_RSS="$(each rss_of dir | maximum)"
# The counting pass runs beside the db's load when the first pass read
# the db: the WAL's time is the two passes' sum, not their span.
COUNT_ALL="$(each_pass 'wal: counting' 'wal: counted')"
REPLAY_ALL="$(each_pass 'wal: replaying' 'wal: replayed')"
WAL_ALL="$(paste -d' ' <(tr ' ' '\n' <<<"$COUNT_ALL" | grep -v '^$') <(tr ' ' '\n' <<<"$REPLAY_ALL" | grep -v '^$') |
    awk '{ if ($1 == "n/a" || $2 == "n/a") printf " n/a"; else printf " %.2f", $1 + $2 }')"
COUNT_S="$(median <<<"$COUNT_ALL")"
REPLAY_S="$(median <<<"$REPLAY_ALL")"
WAL_S="$(median <<<"$WAL_ALL")"

SNAP_REVS="$(q snap 'SELECT count(*) FROM events')"
DIR_REVS="$(q dir 'SELECT count(*) FROM events')"
SNAP_TOMBS="$(q snap 'SELECT count(*) FROM deletions')"
DIR_TOMBS="$(q dir 'SELECT count(*) FROM deletions')"
WAL_ONLY="$(q dir "SELECT count(*) FROM events WHERE recovered_from = 'wal'")"
WAL_HELD="$(q dir 'SELECT count(*) FROM event_revisions WHERE raft_index IS NOT NULL')"
IFS='|' read -r WAL_FILES WAL_BYTES FIRST_INDEX LAST_INDEX COMMITTED REPLACED UNCOMMITTED \
    APPLIED REPLAYED FAILED UNRESOLVED CONTRADICTIONS DAMAGED <<<"$(q dir \
    'SELECT files, bytes, first_index, last_index, committed_entries, replaced_entries,
            uncommitted_entries, applied_writes, replayed_records, failed_compares, unresolved,
            contradictions, damaged FROM wal_replays')"
ENTRIES=$((COMMITTED + REPLACED + UNCOMMITTED))
EXTRA_S="$(awk -v a="$DIR_S" -v b="$SNAP_S" 'BEGIN { printf "%.2f", a - b }')"
# The snapshot's loading rate applied to the data directory's revisions:
# a rough guess of ingesting as many revisions from a snapshot (with
# compaction the snapshot holds fewer; COMPACT_EVERY=0 EXPIRE_AFTER=0 makes
# both hold the same revisions, and this ratio the plain one).
SAME_S="$(awk -v s="$SNAP_S" -v a="$SNAP_REVS" -v b="$DIR_REVS" 'BEGIN { if (a > 0) printf "%.2f", s * b / a; else print "n/a" }')"

echo
echo "== scale-wal result ($RUNS runs of each ingest, alternating; medians)"
printf '%-40s %s\n' "etcd" "$(etcd --version | sed -n 1p)"
printf '%-40s %s (%s creates, %s updates; %s s to write)\n' "Event writes" \
    "$(field revisions)" "$(field creates)" "$(field updates)" "$(field write_seconds)"
printf '%-40s %s failed proposals; %s leases expired (%s revisions of deletes); %s compactions, the last at revision %s (head %s)\n' \
    "apiserver pattern" "$(field failed_proposals)" "$(field expired_leases)" "$(field expiry_revisions)" \
    "$(field compactions)" "$(field compact_revision)" "$(field head_revision)"
printf '%-40s %s files, %s bytes; raft index %s..%s%s\n' "WAL" "$WAL_FILES" "$WAL_BYTES" \
    "$FIRST_INDEX" "$LAST_INDEX" "$([ "$FIRST_INDEX" = 1 ] && echo " (from the first entry: nothing purged)" || echo " (SEGMENTS PURGED: the WAL does not start at index 1)")"
printf '%-40s %s Event revisions with their raft entry\n' "Event writes the WAL holds" "$WAL_HELD"
printf '%-40s %s read (%s committed, %s replaced, %s not known committed); %s writes applied, %s records replayed\n' \
    "WAL entries" "$ENTRIES" "$COMMITTED" "$REPLACED" "$UNCOMMITTED" "$APPLIED" "$REPLAYED"
printf '%-40s %s failed compares, %s unresolved, %s contradictions, %s damaged\n' "WAL replay" \
    "$FAILED" "$UNRESOLVED" "$CONTRADICTIONS" "$DAMAGED"
printf '%-40s %s s (counting %s s, replay %s s): %s WAL records/s; runs:%s\n' "WAL passes (trace)" \
    "$WAL_S" "$COUNT_S" "$REPLAY_S" "$(per_second "$ENTRIES" "$WAL_S")" "$WAL_ALL"
printf '%-40s %s s wall (runs:%s), %s s CPU, %s KiB peak RSS (the most), %s bytes db; %s Event revisions, %s tombstones\n' \
    "ingest of the snapshot" "$SNAP_S" "$SNAP_ALL" "$SNAP_CPU" "$SNAP_RSS" \
    "$(stat -c %s "$WORK/snap.sqlite")" "$SNAP_REVS" "$SNAP_TOMBS"
printf '%-40s %s s wall (runs:%s), %s s CPU, %s KiB peak RSS (the most), %s bytes db; %s Event revisions (%s from the WAL only), %s tombstones\n' \
    "ingest of the data directory" "$DIR_S" "$DIR_ALL" "$DIR_CPU" "$DIR_RSS" \
    "$(stat -c %s "$WORK/dir.sqlite")" "$DIR_REVS" "$WAL_ONLY" "$DIR_TOMBS"
printf '%-40s %s wall, %s CPU (%s s more: %s WAL records/s)\n' "data directory / snapshot" \
    "$(ratio "$DIR_S" "$SNAP_S")" "$(ratio "$DIR_CPU" "$SNAP_CPU")" "$EXTRA_S" "$(per_second "$ENTRIES" "$EXTRA_S")"
printf '%-40s %s (%s s at the snapshot'"'"'s rate for %s revisions)\n' "data directory / same revisions" \
    "$(ratio "$DIR_S" "$SAME_S")" "$SAME_S" "$DIR_REVS"
printf '%-40s %s\n' "peak RSS data directory / snapshot" "$(ratio "$DIR_RSS" "$SNAP_RSS")"
