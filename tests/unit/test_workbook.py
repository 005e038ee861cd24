"""The Azure Monitor workbook asks for what the app emits: every metric name its
queries read is one the app's OpenTelemetry instruments create, and every chart the
operator needs is there."""

from __future__ import annotations

import json
import re
from pathlib import Path

from shared.metrics import OTEL_INSTRUMENTS

WORKBOOK = Path(__file__).resolve().parents[2] / "infra" / "workbook" / "dtq.workbook.json"


def test_the_workbook_reads_only_metrics_the_app_emits() -> None:
    book = json.loads(WORKBOOK.read_text())
    assert book["version"] == "Notebook/1.0"
    queries = [i["content"]["query"] for i in book["items"] if i["type"] == 3]
    read = {m for q in queries for m in re.findall(r'name == "(dtq\.[a-z_.]+)"', q)}
    emitted = {name for _, name, _, _ in OTEL_INSTRUMENTS.values()}
    assert read and read <= emitted, read - emitted
    names = {i["name"] for i in book["items"]}
    # Throughput, failures by type, queue depth, p95 duration.
    assert {"throughput", "failures-by-type", "queue-depth", "run-duration"} <= names
    assert any("percentile(duration, 95)" in q for q in queries)
    assert all(q.count("(") == q.count(")") for q in queries)
