#!/usr/bin/env bash
# A fleet question on a real Spark: two clusters' cases, written by a real
# etcd 3.4 (examples/scale_writer, different seeds), ingested and exported
# into ONE Parquet dataset with different --cluster names, then asked on
# Spark in local mode (PyPI pyspark, Java from Debian's
# default-jre-headless):
#
#   which clusters saw FailedMount for the same ConfigMap (namespace and
#   name) in the last day before the newest Event of the fleet?
#
# The answer is checked against the same question asked of the two SQLite
# databases; the script fails when they differ.
#
#   scripts/fleet-spark.sh                 # 4000 revisions per cluster
#   REVISIONS=20000 scripts/fleet-spark.sh
#   KEEP=1 scripts/fleet-spark.sh          # keep the work dir (cases, dataset)
#
# Needs etcd/etcdctl 3.4, python3 with venv, Java 17 or newer (installed
# with apt-get when missing). pyspark goes into target/spark-venv.
set -euo pipefail
cd "$(dirname "$0")/.."

REVISIONS="${REVISIONS:-4000}"
PROFILE="${PROFILE:-debug}"
VENV=target/spark-venv
PYSPARK=pyspark==4.3.0
t0=$SECONDS

if ! command -v java >/dev/null; then
  echo "== installing default-jre-headless" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends default-jre-headless >/dev/null
fi
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -m pip freeze 2>/dev/null | grep -qx "$PYSPARK"; then
  echo "== installing $PYSPARK into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$PYSPARK"
fi
t_install=$((SECONDS - t0))

WORK="$(mktemp -d "${TMPDIR:-/tmp}/evf-fleet.XXXXXX")"
if [ "${KEEP:-0}" = 1 ]; then
  echo "fleet-spark.sh: keeping work dir $WORK" >&2
else
  trap 'rm -rf "$WORK"' EXIT
fi

cargo_flags=()
[ "$PROFILE" = release ] && cargo_flags+=(--release)
echo "== building ($PROFILE)" >&2
cargo build "${cargo_flags[@]}" --quiet --bin evforensics --example scale_writer >&2
BIN="target/$PROFILE"

t1=$SECONDS
LAKE="$WORK/lake"
for spec in prod-eu:11 prod-us:23; do
  cluster="${spec%%:*}"
  seed="${spec##*:}"
  echo "== $cluster: $REVISIONS Event revisions into a real etcd (seed $seed), ingest, export" >&2
  mkdir -p "$WORK/$cluster"
  "$BIN/examples/scale_writer" --revisions "$REVISIONS" --seed "$seed" \
    --out "$WORK/$cluster/snapshot.db" >"$WORK/$cluster/writer.out" 2>&1 ||
    { cat "$WORK/$cluster/writer.out" >&2; exit 1; }
  "$BIN/evforensics" ingest --db "$WORK/$cluster.sqlite" "$WORK/$cluster/snapshot.db" >/dev/null
  "$BIN/evforensics" export --db "$WORK/$cluster.sqlite" --format parquet \
    --out "$LAKE" --cluster "$cluster"
done
t_cases=$((SECONDS - t1))

t2=$SECONDS
echo "== the fleet question on Spark (local mode)" >&2
export SPARK_LOCAL_IP=127.0.0.1
# From the work dir: Spark's metastore leaves derby.log where it runs.
PYTHON="$PWD/$VENV/bin/python"
DDL="$PWD/docs/athena.sql"
(cd "$WORK" && "$PYTHON" - "$LAKE" "$WORK" "$DDL" "$WORK/prod-eu.sqlite" "$WORK/prod-us.sqlite") <<'PY'
import datetime
import os
import re
import sqlite3
import sys

from pyspark.sql import SparkSession

lake, work, ddl, *dbs = sys.argv[1:]
spark = (
    SparkSession.builder.master("local[2]")
    .appName("evforensics-fleet")
    .enableHiveSupport()
    .config("spark.sql.warehouse.dir", f"{work}/warehouse")
    .config("spark.hadoop.javax.jdo.option.ConnectionURL", f"jdbc:derby:;databaseName={work}/metastore_db;create=true")
    .config("spark.sql.session.timeZone", "UTC")
    .config("spark.ui.enabled", "false")
    .config("spark.ui.showConsoleProgress", "false")
    .getOrCreate()
)
spark.sparkContext.setLogLevel("ERROR")
# The dataset as it is: Spark discovers cluster= and date= as columns.
spark.read.parquet(f"{lake}/events").createOrReplaceTempView("events")
QUESTION = r"""
WITH newest AS (SELECT max(occurred_at) AS t FROM events),
failed AS (
  SELECT cluster, involved_namespace AS namespace,
         regexp_extract(message, 'configmap "([^"]+)"', 1) AS configmap, occurred_at
  FROM events, newest
  WHERE reason = 'FailedMount' AND occurred_at >= newest.t - INTERVAL 1 DAY
    AND date >= date_sub(to_date(newest.t), 1))
SELECT namespace, configmap, sort_array(collect_set(cluster)) AS clusters, count(*) AS events
FROM failed WHERE configmap <> ''
GROUP BY namespace, configmap
HAVING size(collect_set(cluster)) >= 2
ORDER BY events DESC, namespace, configmap
"""
rows = spark.sql(QUESTION).collect()
spark_answer = [(r.namespace, r.configmap, tuple(r.clusters), r.events) for r in rows]
print(f"{len(spark_answer)} ConfigMaps whose mounts failed in more than one cluster in the last day:")
for ns, cm, clusters, n in spark_answer[:10]:
    print(f"  {ns}/{cm}: {', '.join(clusters)} ({n} Event revisions)")
partitions = spark.sql("SELECT cluster, date, count(*) AS n FROM events GROUP BY 1, 2 ORDER BY 1, 2").collect()
print("rows per partition:", ", ".join(f"{r.cluster}/{r.date}: {r.n}" for r in partitions))

# The same question of the databases, in Python.
def when(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))

cons = {c: sqlite3.connect(f"file:{db}?mode=ro", uri=True) for c, db in zip(["prod-eu", "prod-us"], dbs)}
newest = max(c.execute("SELECT max(occurred_at) FROM events").fetchone()[0] for c in cons.values())
limit = when(newest) - datetime.timedelta(days=1)
found = {}
for cluster, con in cons.items():
    for ns, msg, at in con.execute(
        "SELECT involved_namespace, message, occurred_at FROM events WHERE reason = 'FailedMount' AND occurred_at IS NOT NULL"
    ):
        m = re.search(r'configmap "([^"]+)"', msg or "")
        if m and when(at) >= limit:
            found.setdefault((ns, m.group(1)), []).append(cluster)
expected = [
    (ns, cm, tuple(sorted(set(hits))), len(hits)) for (ns, cm), hits in found.items() if len(set(hits)) >= 2
]
expected.sort(key=lambda r: (-r[3], r[0], r[1]))
if spark_answer != expected:
    print("Spark's answer differs from the databases':", spark_answer[:5], expected[:5], file=sys.stderr)
    sys.exit(1)
if not expected:
    print("the question found nothing: the cases share no ConfigMap", file=sys.stderr)
    sys.exit(1)
print("Spark's answer equals the databases'")

# The README's Athena DDL (docs/athena.sql), on Spark's Hive metastore:
# its column types read the files (partition projection is Athena's own).
for stmt in open(ddl).read().split(";\n"):
    body = "\n".join(l for l in stmt.splitlines() if not l.startswith("--")).strip()
    if not body:
        continue
    table = re.search(r"evforensics_(\w+)", body).group(1)
    if not os.path.isdir(f"{lake}/{table}"):
        continue
    spark.sql(body.replace("s3://BUCKET/lake/", f"file://{lake}/"))
    spark.sql(f"MSCK REPAIR TABLE evforensics_{table}")
    via_ddl = spark.sql(f"SELECT cluster, count(*) AS n, max({'occurred_at' if table == 'events' else 'mod_revision' if table == 'objects' else 'stage_timestamp'}) AS m FROM evforensics_{table} GROUP BY 1 ORDER BY 1").collect()
    direct = spark.read.parquet(f"{lake}/{table}").groupBy("cluster").count().orderBy("cluster").collect()
    if [(r.cluster, r.n) for r in via_ddl] != [(r.cluster, r["count"]) for r in direct]:
        print(f"docs/athena.sql's {table} reads {via_ddl}, the files hold {direct}", file=sys.stderr)
        sys.exit(1)
    print(f"docs/athena.sql: evforensics_{table} reads the files ({', '.join(f'{r.cluster}: {r.n}' for r in via_ddl)})")
spark.stop()
PY
t_spark=$((SECONDS - t2))
echo "fleet-spark.sh: install ${t_install} s, two cases (etcd, ingest, export) ${t_cases} s, Spark ${t_spark} s, total $((SECONDS - t0)) s"
