"""A limit on how long a client may take to send a request's head (line and headers).

uvicorn times out idle keep-alive connections, but not a client that opens a connection
and then sends its headers a byte at a time (a "slow loris"): each such connection is
held for ever. This protocol is uvicorn's own h11 protocol with one timer more: whenever
the connection waits for a request's head (at connect, and once a response is done), the
head must be complete within ``head_timeout`` seconds or the connection is closed. The
body has its own limit (dtq/host/web.py, 408). Written here because uvicorn offers no
such setting; it relies only on the protocol's documented hooks and ``cycle``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)


class HeadTimeoutProtocol(H11Protocol):
    head_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def _waiting_for_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_overdue)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_overdue(self) -> None:
        self._head_timer = None
        if self._waiting_for_head() and self.transport is not None:
            log.info("closed a connection whose request head took over %gs", self.head_timeout)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._waiting_for_head():
            self._arm()  # a new head begins (after a keep-alive pause): its time starts
        super().data_received(data)
        if not self._waiting_for_head():
            self._disarm()  # the head is complete: the body has its own limit

    def handle_websocket_upgrade(self, event: Any) -> None:
        self._disarm()  # the connection is the WebSocket protocol's from here on
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def head_timeout_protocol(seconds: float) -> type[HeadTimeoutProtocol]:
    """The protocol class for uvicorn's ``http=`` with a head timeout of ``seconds``."""
    return type("HeadTimeoutProtocol", (HeadTimeoutProtocol,), {"head_timeout": seconds})
