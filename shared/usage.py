"""Usage: the billable operations the Azure adapters perform, counted as they happen.

Azure bills Service Bus per operation, Table storage per transaction and Cosmos DB per
request unit. Each Azure adapter records what it sends here (the HTTP clients through
a response hook, so SDK retries count too; Service Bus per call, since its AMQP
client has no hook), and ``bench/cost.py`` turns the counts into a price per million
jobs. Counting is a few dictionary updates per request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Cosmos DB answers every request with its charge in this header.
REQUEST_CHARGE_HEADER = "x-ms-request-charge"


@dataclass(frozen=True)
class Meter:
    """What one (service, operation) pair used: calls, and units where the service
    reports them (Cosmos DB request units)."""

    calls: int = 0
    units: float = 0.0


class Usage:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._meters: dict[tuple[str, str], Meter] = {}

    def record(self, service: str, operation: str, calls: int = 1, units: float = 0.0) -> None:
        with self._lock:
            m = self._meters.get((service, operation), Meter())
            self._meters[(service, operation)] = Meter(m.calls + calls, m.units + units)

    def snapshot(self) -> dict[tuple[str, str], Meter]:
        with self._lock:
            return dict(self._meters)

    def reset(self) -> None:
        with self._lock:
            self._meters.clear()

    def http_hook(self, service: str) -> Callable[[Any], None]:
        """An azure-core ``raw_response_hook`` recording each HTTP response of ``service``
        under its method (``GET``, ``POST``, ...), with any Cosmos DB request charge."""

        def hook(response: Any) -> None:
            http = response.http_response
            charge = http.headers.get(REQUEST_CHARGE_HEADER)
            try:
                units = float(charge) if charge else 0.0
            except ValueError:
                units = 0.0
            self.record(service, response.http_request.method, 1, units)

        return hook
