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
# A question that takes longer is stopped and shown as "> N s".
QUESTION_TIMEOUT="${QUESTION_TIMEOUT:-300}"

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
    rm -f "$WORK/q.time"
    timeout "$QUESTION_TIMEOUT" /usr/bin/time -v -o "$WORK/q.time" "$EVF" "$@" >"$WORK/q.out" 2>"$WORK/q.err"
    local status=$?
    set -e
    if [ "$status" -eq 124 ]; then
        ROWS+=("$(printf '%-34s %9s %8s %9s' "$name" "> $QUESTION_TIMEOUT" "-" "-")")
        rm -f "$WORK/q.out"
        return
    fi
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

# Before: the filter of schema version 5 (an EXISTS over the owner tree for
# every row of the timeline view), on the same database, for comparison.
legacy_object_sql() { # KIND NAMESPACE NAME
    cat <<SQL
WITH RECURSIVE
  roots(kind, namespace, name, uid) AS (SELECT '$1', '$2', '$3', NULL),
  tree(kind, namespace, name, uid, depth) AS (
    SELECT r.kind, r.namespace, r.name, r.uid, 0 FROM roots r
    UNION
    SELECT o.kind, o.namespace, o.name, o.uid, 0 FROM objects o, roots r
      WHERE (r.uid IS NOT NULL AND o.uid = r.uid)
         OR (r.uid IS NULL AND o.name = r.name AND o.kind = r.kind
             AND (r.namespace IS NULL OR o.namespace IS r.namespace))
    UNION
    SELECT o.kind, o.namespace, o.name, o.uid, t.depth + 1
      FROM tree t JOIN objects o ON o.owner_references IS NOT NULL
      JOIN json_each(o.owner_references) w
      WHERE t.depth < 16
        AND ((t.uid IS NOT NULL AND json_extract(w.value, '\$.uid') = t.uid)
          OR (coalesce(json_extract(w.value, '\$.uid'), '') = ''
              AND json_extract(w.value, '\$.kind') = t.kind
              AND json_extract(w.value, '\$.name') = t.name
              AND (t.namespace IS NULL OR o.namespace IS t.namespace))))
SELECT tl.time, tl.source, tl.object_kind, tl.object_name, tl.reason, tl.verb FROM timeline tl
WHERE EXISTS (SELECT 1 FROM tree t WHERE (t.uid IS NOT NULL AND tl.object_uid = t.uid)
               OR (t.name IS NOT NULL AND tl.object_kind = t.kind AND tl.object_name = t.name
                   AND (t.namespace IS NULL OR tl.object_namespace IS t.namespace)))
ORDER BY tl.time, tl.revision IS NULL, tl.revision, tl.sub_revision, tl.line, tl.source, tl.file, tl.event_id, tl.audit_event_id
SQL
}
if [ "${LEGACY:-1}" = 1 ]; then
    IFS=/ read -r _ D_NS D_NAME <<<"$DEPLOYMENT"
    IFS=/ read -r _ P_NS P_NAME <<<"$POD"
    ask "before: --object deployment/… (v5)" query "${DB[@]}" --format csv "$(legacy_object_sql Deployment "$D_NS" "$D_NAME")"
    ask "before: --object pod/… (v5)" query "${DB[@]}" --format csv "$(legacy_object_sql Pod "$P_NS" "$P_NAME")"
fi

echo
echo "== scale questions"
printf '%-28s %s\n' "revisions written" "$REVISIONS (+ $TREES object trees, $AUDIT_REQUESTS audit requests)"
printf '%-28s %s s, peak RSS %s MiB, database %s MiB\n' "ingest" "$INGEST_S" "$INGEST_RSS" "$DB_MIB"
printf '%-34s %9s %8s %9s\n' "question" "seconds" "RSS MiB" "lines"
printf '%s\n' "${ROWS[@]}"
