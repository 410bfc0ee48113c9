"""Checks an Elasticsearch _bulk NDJSON export field by field against
Metricbeat's kubernetes.event field definitions (its fields.yml):
`check_es_bulk.py FIELDS_YML FILE`.

Every field under kubernetes.event must be one fields.yml defines, with a
value of its type (keyword/text: string; long: integer; date: an RFC 3339
time; group: object). Allowed beyond fields.yml, as Metricbeat's event.go
itself emits them: metadata.generate_name, and the objects metadata.labels
and metadata.annotations, whose keys must be de-dotted (no '.') and whose
values strings. Action lines are `create` with an `_index` and an `_id`; ids
are unique. Prints the number of documents per dataset."""
import json
import re
import sys
from collections import Counter

import yaml

DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
EMITTED_BY_EVENT_GO = {"metadata.generate_name": "keyword"}
DEDOTTED_OBJECTS = {"metadata.labels", "metadata.annotations"}


def definitions(path):
    with open(path, encoding="utf-8") as f:
        root = yaml.safe_load(f)
    out = {}

    def walk(fields, prefix):
        for field in fields:
            name = prefix + field["name"]
            out[name] = field["type"]
            walk(field.get("fields", []), name + ".")

    assert root[0]["name"] == "event"
    walk(root[0]["fields"], "")
    return out


def check_value(path, kind, value):
    if kind in ("keyword", "text"):
        assert isinstance(value, str), (path, value)
    elif kind == "long":
        assert isinstance(value, int) and not isinstance(value, bool), (path, value)
    elif kind == "date":
        assert isinstance(value, str) and DATE.match(value), (path, value)
    elif kind == "group":
        assert isinstance(value, dict), (path, value)
    else:
        raise AssertionError(f"{path}: type {kind} not handled")


def check_event(doc, defs, path=""):
    for key, value in doc.items():
        name = path + key
        if name in DEDOTTED_OBJECTS:
            assert isinstance(value, dict) and value, (name, value)
            for k, v in value.items():
                assert "." not in k, (name, k)
                assert isinstance(v, str), (name, k, v)
            continue
        kind = defs.get(name) or EMITTED_BY_EVENT_GO.get(name)
        assert kind is not None, f"kubernetes.event.{name} is not a Metricbeat field"
        check_value(name, kind, value)
        if kind == "group":
            check_event(value, defs, name + ".")


def main(fields_yml, path):
    defs = definitions(fields_yml)
    datasets = Counter()
    ids = set()
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    assert lines[-1] == "", "the file ends with a newline"
    lines = lines[:-1]
    assert len(lines) % 2 == 0, "action and document lines in pairs"
    for i in range(0, len(lines), 2):
        action = json.loads(lines[i])
        doc = json.loads(lines[i + 1])
        assert list(action) == ["create"], action
        meta = action["create"]
        assert set(meta) == {"_index", "_id"} and meta["_id"] not in ids, meta
        ids.add(meta["_id"])
        assert DATE.match(doc["@timestamp"]), doc["@timestamp"]
        assert doc["event"]["module"] == "kubernetes"
        dataset = doc["event"]["dataset"]
        datasets[dataset] += 1
        prov = doc["evforensics"]["source"]
        assert re.match(r"^[0-9a-f]{64}$", prov["sha256"]), prov
        if dataset == "kubernetes.event":
            assert doc["metricset"] == {"name": "event"}
            assert set(doc["kubernetes"]) == {"event"}
            check_event(doc["kubernetes"]["event"], defs)
            etcd = doc["evforensics"]["etcd"]
            assert etcd["key"].startswith("/") and isinstance(etcd["revision"], int)
            assert doc["evforensics"]["recovered_from"] in ("tree", "free-page", "live", "snap-db", "wal")
        else:
            assert dataset == "kubernetes.audit_logs", dataset
            audit = doc["kubernetes"]["audit"]
            assert audit["auditID"] and audit["stage"], audit
            assert prov["file"] and isinstance(prov["line"], int)
    print(json.dumps(dict(sorted(datasets.items()))))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
