"""Checks a Jaeger JSON file against Jaeger's JSON model (the query API's
`{"data": [Trace]}` that the UI's Search → Upload reads; model/json in
jaeger: Trace{traceID, spans, processes, warnings}, Span{traceID, spanID,
flags?, operationName, references, startTime, duration, tags, logs,
processID, warnings}, Reference{refType CHILD_OF|FOLLOWS_FROM, traceID,
spanID}, KeyValue{key, type string|bool|int64|float64|binary, value},
Log{timestamp, fields}, Process{serviceName, tags}), strictly (no other
keys), and what the UI's trace transform needs: every processID among the
trace's processes, every referenced span in the trace, spans of one trace
only, a root span. `check_jaeger.py FILE`; prints traces and spans."""
import json
import re
import sys

HEX = re.compile(r"^[0-9a-f]{1,32}$")
TAG_TYPES = {"string": str, "bool": bool, "int64": int, "float64": float, "binary": str}


def keys(obj, required, optional=()):
    assert isinstance(obj, dict), obj
    missing = set(required) - set(obj)
    extra = set(obj) - set(required) - set(optional)
    assert not missing and not extra, (missing, extra, obj)


def check_kv(kv):
    keys(kv, ["key", "type", "value"])
    assert isinstance(kv["key"], str)
    assert isinstance(kv["value"], TAG_TYPES[kv["type"]]), kv


def main(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    keys(doc, ["data"], ["total", "limit", "offset", "errors"])
    spans_seen = 0
    for trace in doc["data"]:
        keys(trace, ["traceID", "spans", "processes"], ["warnings"])
        assert HEX.match(trace["traceID"])
        for pid, process in trace["processes"].items():
            keys(process, ["serviceName"], ["tags"])
            assert process["serviceName"]
            for t in process.get("tags") or []:
                check_kv(t)
        ids = {s["spanID"] for s in trace["spans"]}
        assert len(ids) == len(trace["spans"]), "span ids unique in a trace"
        roots = 0
        for span in trace["spans"]:
            keys(
                span,
                ["traceID", "spanID", "operationName", "references", "startTime", "duration", "processID"],
                ["flags", "tags", "logs", "warnings", "process", "parentSpanID"],
            )
            assert span["traceID"] == trace["traceID"]
            assert HEX.match(span["spanID"])
            assert isinstance(span["startTime"], int) and span["startTime"] > 0
            assert isinstance(span["duration"], int) and span["duration"] >= 0
            assert span["processID"] in trace["processes"], span["processID"]
            for ref in span["references"]:
                keys(ref, ["refType", "traceID", "spanID"])
                assert ref["refType"] in ("CHILD_OF", "FOLLOWS_FROM")
                assert ref["traceID"] == trace["traceID"] and ref["spanID"] in ids, ref
            if not span["references"]:
                roots += 1
            for t in span.get("tags") or []:
                check_kv(t)
            for log in span.get("logs") or []:
                keys(log, ["timestamp", "fields"])
                assert isinstance(log["timestamp"], int)
                for t in log["fields"]:
                    check_kv(t)
            spans_seen += 1
        assert roots >= 1, "a trace has a root span"
    print(len(doc["data"]), spans_seen)


if __name__ == "__main__":
    main(sys.argv[1])
