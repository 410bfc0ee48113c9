"""Parses every line of an OTLP/JSON file strictly with the official
OpenTelemetry protobuf schema (opentelemetry-proto) and protobuf's
json_format, unknown fields refused: `check_otlp.py logs|traces FILE`.

OTLP/JSON writes trace and span ids as hex where proto3 JSON has base64
for bytes, so json_format reads them as base64; their hex form is checked
here (32 and 16 hex digits). Prints the number of records or spans."""
import json
import re
import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")


def main(kind, path):
    count = 0
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if kind == "logs":
                msg = ExportLogsServiceRequest()
                json_format.Parse(line, msg, ignore_unknown_fields=False)
                for rl in msg.resource_logs:
                    for sl in rl.scope_logs:
                        for lr in sl.log_records:
                            assert lr.time_unix_nano >= 0
                            assert lr.severity_number in (0, 9, 13, 17, 21), (n, lr.severity_number)
                            count += 1
            else:
                msg = ExportTraceServiceRequest()
                json_format.Parse(line, msg, ignore_unknown_fields=False)
                for rs in json.loads(line)["resourceSpans"]:
                    for ss in rs["scopeSpans"]:
                        for span in ss["spans"]:
                            assert HEX32.match(span["traceId"]), (n, span["traceId"])
                            assert HEX16.match(span["spanId"]), (n, span["spanId"])
                            if "parentSpanId" in span:
                                assert HEX16.match(span["parentSpanId"]), (n, span)
                            assert int(span["endTimeUnixNano"]) >= int(span["startTimeUnixNano"])
                            count += 1
    print(count)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
