"""The backend registry (shared/backends.py) has one entry for each value a backend
setting accepts, and nothing else picks adapters."""

from __future__ import annotations

import re
import typing

from shared.backends import QUEUES, RESULTS, STORES
from shared.settings import Settings
from tests.support.processes import ROOT


def accepted(field: str) -> set[str]:
    return set(typing.get_args(Settings.model_fields[field].annotation))


def test_every_backend_a_setting_accepts_has_one_entry() -> None:
    assert set(STORES) == accepted("status_backend")
    assert set(RESULTS) == accepted("result_backend")
    assert set(QUEUES) == accepted("queue_backend")


def test_nothing_else_chooses_adapters_by_backend_name() -> None:
    chains = re.compile(r"_backend\s*==")
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("shared", "functions", "dtq")
        for path in (ROOT / folder).rglob("*.py")
        if chains.search(path.read_text())
    ]
    assert offenders == [], "pick adapters from shared/backends.py, not with if-chains"
