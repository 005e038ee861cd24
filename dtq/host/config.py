"""The parts of host.json the local host honours, so both hosts behave alike.

As in the Functions host, an app setting named ``AzureFunctionsJobHost__<path>``
(``__`` between the levels of host.json, names matched case-insensitively) overrides
the value at ``<path>``, e.g.
``AzureFunctionsJobHost__extensions__serviceBus__maxAutoLockRenewalDuration=00:00:02``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.settings import HOST_JSON_OVERRIDE_PREFIX as OVERRIDE_PREFIX


def apply_override(data: dict[str, Any], name: str, value: str) -> None:
    """Set ``value`` in ``data`` at the path an ``AzureFunctionsJobHost__a__b`` app
    setting names (other names are ignored); existing keys match case-insensitively."""
    if not name.lower().startswith(OVERRIDE_PREFIX.lower()):
        return
    path = [p for p in name[len(OVERRIDE_PREFIX) :].split("__") if p]
    if not path:
        return
    node = data
    for part in path[:-1]:
        key = next((k for k in node if k.lower() == part.lower()), part)
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    last = next((k for k in node if k.lower() == path[-1].lower()), path[-1])
    node[last] = value


def _flag(value: Any) -> bool:
    return value.strip().lower() == "true" if isinstance(value, str) else bool(value)


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
    #: Most messages one invocation of a ``cardinality: many`` trigger gets.
    max_message_batch_size: int = 1000

    @classmethod
    def load(cls, app_dir: Path, overrides: Mapping[str, str] | None = None) -> HostConfig:
        """host.json of ``app_dir``, with the ``AzureFunctionsJobHost__...`` app settings
        in ``overrides`` applied over it (see shared.settings.host_json_overrides)."""
        path = app_dir / "host.json"
        data: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
        for name, value in (overrides or {}).items():
            apply_override(data, name, value)
        if not data:
            return cls()
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
            auto_complete_messages=_flag(service_bus.get("autoCompleteMessages", True)),
            function_timeout=None if timeout in (None, "-1") else parse_timespan(timeout),
            max_message_batch_size=int(service_bus.get("maxMessageBatchSize", 1000)),
        )
