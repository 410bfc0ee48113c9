"""Reads an evforensics Parquet dataset back with DuckDB and pyarrow and
compares it with the SQLite database it was exported from, row by row.

    python parquet_check.py LAKE DB CLUSTER

Exits 0 and prints one `OK table rows` line per table when everything
agrees; otherwise prints each disagreement and exits 1. Timestamps are
compared as microseconds since the epoch, computed here from the database's
text with Python's own parser (not the exporter's).
"""

import datetime
import glob
import json
import os
import sqlite3
import sys

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

TABLES = {
    # table: (source of its columns in SQLite, time column)
    "events": ("events", "occurred_at"),
    "audit_events": ("audit_events", "request_received_timestamp"),
    "objects": ("objects", "creation_timestamp"),
}
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
problems = []


def problem(msg):
    problems.append(msg)
    if len(problems) < 40:
        print("MISMATCH:", msg)


def micros(text):
    if text is None:
        return None
    dt = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (dt - EPOCH) // datetime.timedelta(microseconds=1)


def main():
    lake, db, cluster = sys.argv[1:4]
    sq = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    schema_version = sq.execute("PRAGMA user_version").fetchone()[0]
    sources = {r[0]: r[1] for r in sq.execute("SELECT id, sha256 FROM sources")}
    con = duckdb.connect()
    for table, (sql_table, time_col) in TABLES.items():
        files = sorted(glob.glob(f"{lake}/{table}/cluster={cluster}/date=*/*.parquet"))
        expected_rows = sq.execute(f"SELECT count(*) FROM {sql_table}").fetchone()[0]
        if not files:
            if expected_rows:
                problem(f"{table}: no files for {expected_rows} rows")
            print(f"OK {table} 0")
            continue
        # The file's schema, as Parquet types it.
        pf = pq.ParquetFile(files[0])
        arrow_schema = pf.schema_arrow
        columns = arrow_schema.names
        sq_cols = [r[1] for r in sq.execute(f"SELECT * FROM pragma_table_info('{sql_table}')")]
        want = sq_cols[:2] + ["source_sha256"] + sq_cols[2:]
        if columns != want:
            problem(f"{table}: columns {columns} != {want}")
        types = {}
        for i, name in enumerate(columns):
            col = pf.metadata.schema.column(i)
            t = arrow_schema.field(name).type
            types[name] = t
            if pa.types.is_timestamp(t):
                lt = str(col.logical_type)
                if t != pa.timestamp("us", tz="UTC") or col.physical_type != "INT64" or "isAdjustedToUTC=true" not in lt or "microseconds" not in lt:
                    problem(f"{table}.{name}: {t} {col.physical_type} {lt}")
            elif pa.types.is_integer(t) and (t != pa.int64() or col.physical_type != "INT64"):
                problem(f"{table}.{name}: {t} {col.physical_type}")
        time_cols = [n for n, t in types.items() if pa.types.is_timestamp(t)]
        if time_col not in time_cols:
            problem(f"{table}: {time_col} is not a timestamp column")

        # Provenance in every file's key-value metadata; rows sorted within.
        for f in files:
            md = {k.decode(): v.decode() for k, v in pq.ParquetFile(f).metadata.metadata.items()}
            if set(md.get("evforensics.source_sha256", "").split(",")) != set(sources.values()):
                problem(f"{f}: source_sha256 {md.get('evforensics.source_sha256')}")
            if md.get("evforensics.schema_version") != str(schema_version):
                problem(f"{f}: schema_version {md.get('evforensics.schema_version')}")
            if not md.get("evforensics.tool_version", "").startswith("evforensics "):
                problem(f"{f}: tool_version {md.get('evforensics.tool_version')}")
            if md.get("evforensics.cluster") != cluster or md.get("evforensics.table") != table:
                problem(f"{f}: cluster/table {md.get('evforensics.cluster')} {md.get('evforensics.table')}")
            json.loads(md["evforensics.sources"])
            ts = pq.read_table(f, columns=[time_col]).column(0).cast(pa.int64()).to_pylist()
            keyed = [(-1 if t is None else 0, t or 0) for t in ts]
            if keyed != sorted(keyed):
                problem(f"{f}: not sorted by {time_col}")
            date = os.path.basename(os.path.dirname(f))[len("date="):]
            for t in ts:
                want_date = "__HIVE_DEFAULT_PARTITION__" if t is None else (EPOCH + datetime.timedelta(microseconds=t)).date().isoformat()
                if want_date != date:
                    problem(f"{f}: a row of {want_date} in date={date}")
                    break

        # DuckDB over the whole dataset, as the README says to read it.
        sel = ", ".join(
            f'epoch_us("{c}") AS "{c}"' if c in time_cols else f'"{c}"' for c in columns
        )
        rel = f"read_parquet('{lake}/{table}/**/*.parquet', hive_partitioning = true)"
        duck = con.execute(
            f"SELECT {sel}, date::VARCHAR FROM {rel} WHERE cluster = ? ORDER BY id", [cluster]
        ).fetchall()
        # pyarrow's dataset reader, the partitions as Hive's.
        dataset = ds.dataset(f"{lake}/{table}/cluster={cluster}", format="parquet", partitioning="hive")
        arrow = dataset.to_table()
        arrow = arrow.select(columns)
        for c in time_cols:
            arrow = arrow.set_column(arrow.schema.get_field_index(c), c, arrow.column(c).cast(pa.int64()))
        arrow_rows = sorted(arrow.to_pylist(), key=lambda r: r["id"])

        sq_rows = sq.execute(f"SELECT * FROM {sql_table} ORDER BY id").fetchall()
        if not (len(duck) == len(arrow_rows) == len(sq_rows) == expected_rows):
            problem(f"{table}: rows duckdb {len(duck)} pyarrow {len(arrow_rows)} sqlite {len(sq_rows)}")
        for d, a, s in zip(duck, arrow_rows, sq_rows):
            want = list(s[:2]) + [sources[s[1]]] + list(s[2:])
            want = [micros(v) if columns[i] in time_cols else v for i, v in enumerate(want)]
            got_duck = list(d[: len(columns)])
            got_arrow = [a[c] for c in columns]
            if got_duck != want:
                diff = [(columns[i], g, w) for i, (g, w) in enumerate(zip(got_duck, want)) if g != w]
                problem(f"{table} id {s[0]}: duckdb differs: {diff[:3]}")
            if got_arrow != want:
                diff = [(columns[i], g, w) for i, (g, w) in enumerate(zip(got_arrow, want)) if g != w]
                problem(f"{table} id {s[0]}: pyarrow differs: {diff[:3]}")
            t = want[columns.index(time_col)]
            want_date = None if t is None else (EPOCH + datetime.timedelta(microseconds=t)).date().isoformat()
            if d[len(columns)] != want_date:
                problem(f"{table} id {s[0]}: duckdb date {d[len(columns)]} != {want_date}")
        print(f"OK {table} {len(sq_rows)}")
    if problems:
        print(f"{len(problems)} mismatches")
        sys.exit(1)


main()
