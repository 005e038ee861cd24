"""The parts of host.json the local host honours, so both hosts behave alike."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def parse_timespan(value: str) -> float:
    """Seconds in a .NET TimeSpan string such as ``00:05:00`` or ``1.02:00:00``."""
    days = 0
    text = value.strip()
    if "." in text.split(":")[0]:
        day_text, text = text.split(".", 1)
        days = int(day_text)
    parts = [float(p) for p in text.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0.0)
    hours, minutes, seconds = parts
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


@dataclass(frozen=True)
class HostConfig:
    route_prefix: str = "api"
    #: Concurrent invocations of one queue trigger in one worker process.
    max_concurrent_calls: int = 16
    #: How long the host keeps renewing a message's lock while the function runs.
    max_auto_lock_renewal: float = 300.0
    auto_complete_messages: bool = True
    function_timeout: float | None = 600.0

    @classmethod
    def load(cls, app_dir: Path) -> HostConfig:
        path = app_dir / "host.json"
        if not path.is_file():
            return cls()
        data: dict[str, Any] = json.loads(path.read_text())
        extensions = data.get("extensions", {})
        service_bus = extensions.get("serviceBus", {})
        timeout = data.get("functionTimeout")
        return cls(
            route_prefix=extensions.get("http", {}).get("routePrefix", "api").strip("/"),
            max_concurrent_calls=int(
                service_bus.get("maxConcurrentCalls", 16 * (os.cpu_count() or 1))
            ),
            max_auto_lock_renewal=parse_timespan(
                service_bus.get("maxAutoLockRenewalDuration", "00:05:00")
            ),
            auto_complete_messages=bool(service_bus.get("autoCompleteMessages", True)),
            function_timeout=None if timeout in (None, "-1") else parse_timespan(timeout),
        )
