"""What every Table storage adapter shares: its table, created on first use when
missing, and OData literal quoting."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from shared.adapters.azure.errors import translated
from shared.errors import ValidationFailed

_SAFE_KEY = re.compile(r"[A-Za-z0-9_.@-]{1,200}")


def tenant_key(tenant_id: str) -> str:
    """``tenant_id``, checked to be usable inside a PartitionKey (no ``~``, ``/``, ``#``,
    ``?`` or control characters), or ValidationFailed."""
    if not _SAFE_KEY.fullmatch(tenant_id):
        raise ValidationFailed(f"tenant id {tenant_id!r} cannot be a Table key")
    return tenant_id


def odata_quote(value: str) -> str:
    """A string literal for an OData filter."""
    return "'" + value.replace("'", "''") + "'"


class TableAdapter:
    def __init__(self, service: Any, table_name: str) -> None:
        self.service = service
        self.table_name = table_name
        self.table = service.get_table_client(table_name)
        self._ready = False
        self._ready_lock: asyncio.Lock | None = None

    async def _ensure_table(self) -> None:
        if self._ready:
            return
        if self._ready_lock is None:
            self._ready_lock = asyncio.Lock()
        async with self._ready_lock:
            if not self._ready:
                with translated(f"table {self.table_name}"):
                    await self.service.create_table_if_not_exists(self.table_name)
                self._ready = True

    async def close(self) -> None:
        await self.table.close()
        await self.service.close()
