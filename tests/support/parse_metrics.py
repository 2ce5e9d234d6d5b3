"""Parse Prometheus/OpenMetrics text from stdin with the reference Python parser and print
the samples as JSON lines: {"name", "labels", "value"}. Exits non-zero on a parse error."""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

text = sys.stdin.read()
for family in text_string_to_metric_families(text):
    for sample in family.samples:
        print(json.dumps({"name": sample.name, "type": family.type, "labels": sample.labels, "value": sample.value}))
