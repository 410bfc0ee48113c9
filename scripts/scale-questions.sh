#!/usr/bin/env bash
# Speed of every question: build the scale case (REVISIONS Event revisions
# written into a private real etcd, plus TREES Deployments with their
# ReplicaSets, Pods and Events, and an audit log of AUDIT_REQUESTS requests
# about them), ingest it, then time each timeline filter, each saved query
# and event_causes for one object under /usr/bin/time -v (wall time, peak
# RSS), and print a table.
#
#   scripts/scale-questions.sh                      # 200k revisions
#   REVISIONS=2000000 scripts/scale-questions.sh
#   KEEP=1 scripts/scale-questions.sh               # keep the work dir
#
# Needs etcd/etcdctl 3.4 and GNU time (see scripts/scale-common.sh).
set -euo pipefail

cd "$(dirname "$0")/.."
REVISIONS="${REVISIONS:-200000}"
TREES="${TREES:-500}"
AUDIT_REQUESTS="${AUDIT_REQUESTS:-50000}"
CONCURRENCY="${CONCURRENCY:-256}"

SCRIPT=scale-questions.sh
# shellcheck source=scripts/scale-common.sh
source scripts/scale-common.sh

WORK="$(mktemp -d "${TMPDIR:-/tmp}/evf-questions.XXXXXX")"
if [ "${KEEP:-0}" = 1 ]; then
    echo "$SCRIPT: keeping work dir $WORK" >&2
else
    trap 'rm -rf "$WORK"' EXIT
fi

echo "== building (release)" >&2
cargo build --release --bin evforensics --example scale_writer >&2
EVF=target/release/evforensics

echo "== writing $REVISIONS revisions, $TREES object trees and $AUDIT_REQUESTS audit requests" >&2
target/release/examples/scale_writer --revisions "$REVISIONS" --out "$WORK/snapshot.db" \
    --concurrency "$CONCURRENCY" --object-trees "$TREES" \
    --audit-out "$WORK/audit.log" --audit-requests "$AUDIT_REQUESTS" | tee "$WORK/writer.out"
TREES_LINE="$(grep '^TREES ' "$WORK/writer.out" | tail -1)"
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $TREES_LINE"; }
DEPLOYMENT="$(field deployment)"
POD="$(field pod)"
POD_UID="$(field pod_uid)"
POD_NAME="${POD##*/}"
NAMESPACE="$(cut -d/ -f2 <<<"$DEPLOYMENT")"

# seconds and peak RSS (MiB) of a /usr/bin/time -v report
seconds() {
    sed -n 's/.*Elapsed (wall clock) time.*: \([0-9:.]*\)$/\1/p' "$1" |
        awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }'
}
rss_mib() { sed -n 's/.*Maximum resident set size (kbytes): \([0-9]*\)/\1/p' "$1" | awk '{ printf "%.0f", $1 / 1024 }'; }

echo "== evforensics ingest" >&2
set +e
/usr/bin/time -v -o "$WORK/ingest.time" "$EVF" ingest --db "$WORK/case.sqlite" \
    "$WORK/snapshot.db" "$WORK/audit.log" >"$WORK/ingest.out" 2>&1
STATUS=$?
set -e
if [ "$STATUS" -ne 0 ] && [ "$STATUS" -ne 3 ]; then
    cat "$WORK/ingest.out" "$WORK/ingest.time" >&2
    exit "$STATUS"
fi
INGEST_S="$(seconds "$WORK/ingest.time")"
INGEST_RSS="$(rss_mib "$WORK/ingest.time")"
DB_MIB="$(($(stat -c %s "$WORK/case.sqlite") / 1048576))"

ROWS=()
# ask NAME ARGS...: runs evforensics ARGS, output to a file (lines counted)
ask() {
    local name="$1"
    shift
    set +e
    /usr/bin/time -v -o "$WORK/q.time" "$EVF" "$@" >"$WORK/q.out" 2>"$WORK/q.err"
    local status=$?
    set -e
    if [ "$status" -ne 0 ]; then
        echo "$SCRIPT: $name exited $status: $(head -3 "$WORK/q.err")" >&2
    fi
    ROWS+=("$(printf '%-34s %9s %8s %9s' "$name" "$(seconds "$WORK/q.time")" "$(rss_mib "$WORK/q.time")" "$(wc -l <"$WORK/q.out")")")
    rm -f "$WORK/q.out"
}

DB=(--db "$WORK/case.sqlite")
echo "== questions" >&2
ask "timeline --namespace" timeline "${DB[@]}" --namespace "$NAMESPACE"
ask "timeline --object deployment/…" timeline "${DB[@]}" --object "$DEPLOYMENT"
ask "timeline --object pod/…" timeline "${DB[@]}" --object "$POD"
ask "timeline --uid (a Pod)" timeline "${DB[@]}" --uid "$POD_UID"
ask "timeline --since 5m" timeline "${DB[@]}" --since 5m
ask "timeline --reason ScalingReplicaSet" timeline "${DB[@]}" --reason ScalingReplicaSet
ask "timeline --type Warning --since 5m" timeline "${DB[@]}" --type Warning --since 5m
ask "timeline --user alice" timeline "${DB[@]}" --user alice
ask "timeline (everything, text)" timeline "${DB[@]}"
ask "timeline (everything, jsonl)" timeline "${DB[@]}" --format jsonl
for q in $("$EVF" query --list | awk '{ print $1 }'); do
    ask "query $q" query "${DB[@]}" --format csv "$q"
done
ask "event_causes of one Pod" query "${DB[@]}" --format csv \
    "SELECT * FROM event_causes WHERE event_object_name = '$POD_NAME'"

echo
echo "== scale questions"
printf '%-28s %s\n' "revisions written" "$REVISIONS (+ $TREES object trees, $AUDIT_REQUESTS audit requests)"
printf '%-28s %s s, peak RSS %s MiB, database %s MiB\n' "ingest" "$INGEST_S" "$INGEST_RSS" "$DB_MIB"
printf '%-34s %9s %8s %9s\n' "question" "seconds" "RSS MiB" "lines"
printf '%s\n' "${ROWS[@]}"
