"""Local traces: the spans the local host's processes write as JSON lines (with
``DTQ_TRACES_DIR``), and how ``dtq trace JOB_ID`` finds and reads a job's trace."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from shared.settings_groups import Telemetry


class JsonLinesExporter(SpanExporter):
    """Finished spans as JSON lines in ``<folder>/spans-<pid>.jsonl``: one file per
    process, so the local host's processes never interleave their writes."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"spans-{os.getpid()}.jsonl"

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        with self.path.open("a", encoding="utf-8") as out:
            for span in spans:
                out.write(json.dumps(_span_record(span)) + "\n")
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _span_record(span: Any) -> dict[str, Any]:
    ctx = span.get_span_context()
    parent = span.parent
    return {
        "name": span.name,
        "trace_id": format(ctx.trace_id, "032x"),
        "span_id": format(ctx.span_id, "016x"),
        "parent_id": format(parent.span_id, "016x") if parent is not None else None,
        "kind": span.kind.name,
        "start": span.start_time,
        "end": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
        "pid": os.getpid(),
    }


#: The file in the data folder that names the folder the local host writes its spans to,
#: so ``dtq trace`` finds them without DTQ_TRACES_DIR in its own shell.
TRACES_NOTE = "traces-dir"


def note_traces_dir(settings: Telemetry) -> None:
    """Record where this host writes its spans (absolute: a relative DTQ_TRACES_DIR is
    the host's working folder's), for :func:`local_traces_dir`."""
    if settings.traces_dir is None:
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / TRACES_NOTE).write_text(f"{settings.traces_dir.resolve()}\n")


def local_traces_dir(settings: Telemetry) -> Path:
    """Where ``dtq trace`` reads spans: DTQ_TRACES_DIR if set, else the folder the local
    host on this data folder last wrote to, else ``<data dir>/traces``."""
    if settings.traces_dir is not None:
        return settings.traces_dir
    note = settings.data_dir / TRACES_NOTE
    if note.is_file():
        noted = note.read_text(encoding="utf-8").strip()
        if noted:
            return Path(noted)
    return settings.data_dir / "traces"


def read_spans(folder: Path) -> list[dict[str, Any]]:
    """Every span the local host's processes wrote to ``folder``."""
    spans: list[dict[str, Any]] = []
    for path in sorted(folder.glob("spans-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                spans.append(json.loads(line))
    return spans


def job_trace(spans: list[dict[str, Any]], job_id: str) -> list[dict[str, Any]]:
    """The spans of ``job_id``: those naming it, the spans below them (provider calls,
    retries) and above them (its submit request). A caller that submits many jobs under
    one parent puts them all in one trace; the other jobs' spans are left out."""
    by_id = {s["span_id"]: s for s in spans}
    mine = {s["span_id"] for s in spans if s["attributes"].get("dtq.job_id") == job_id}
    keep = set(mine)
    grew = True
    while grew:  # descendants of the job's own spans
        more = {s["span_id"] for s in spans if s["parent_id"] in keep and s["span_id"] not in keep}
        keep |= more
        grew = bool(more)
    for span_id in mine:  # and the chain above them
        parent = by_id[span_id]["parent_id"]
        while parent in by_id and parent not in keep:
            keep.add(parent)
            parent = by_id[parent]["parent_id"]
    return sorted((s for s in spans if s["span_id"] in keep), key=lambda s: s["start"])
