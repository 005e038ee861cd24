"""A job's log: the last lines its handler wrote with ``ctx.log`` (docs/job-types.md).

The lines live on the job's record (``Job.logs``), capped in number and length, and
trimmed further, oldest first, when the job would pass the size a status row holds.
They are not in the job's public body nor in pushed events: readers ask
``GET /api/v1/jobs/{id}/logs``. A run buffers its lines (:class:`LogBuffer`) and
stores them with the next write it makes anyway (a progress report, a lease renewal,
the settling of its attempt), or at most ``LOG_FLUSH_SECONDS`` after the first
buffered line, with a write of their own (which renews the lease too).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Final

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from shared.jobs import Job

log = logging.getLogger(__name__)

#: Lines a job keeps; older ones are dropped first.
MAX_LOG_LINES: Final = 100
#: Longest line kept, in characters (longer ones are cut).
MAX_LOG_LINE_CHARS: Final = 500
#: Longest a logged line waits in its run's buffer before it is written.
LOG_FLUSH_SECONDS: Final = 1.0


class LogLine(BaseModel):
    """One line of a job's log."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    message: str


def log_line(message: str, at: datetime) -> LogLine:
    return LogLine(at=at, message=message[:MAX_LOG_LINE_CHARS])


def fitted(job: Job) -> Job:
    """``job`` with its oldest log lines dropped until its JSON fits a status row
    (``shared.ports.MAX_JOB_UTF16_BYTES``); as it is when it fits, or when dropping
    lines cannot help (the store then refuses it as before)."""
    # Imported here: shared.ports imports shared.jobs, which imports this module.
    from shared.ports import MAX_JOB_UTF16_BYTES, utf16_bytes

    over = utf16_bytes(job.model_dump_json()) - MAX_JOB_UTF16_BYTES
    if over <= 0 or not job.logs:
        return job
    logs = list(job.logs)
    while logs and over > 0:
        over -= utf16_bytes(logs.pop(0).model_dump_json()) + 2  # the line and a comma
    return job.model_copy(update={"logs": logs})


class LogBuffer:
    """The lines a run logged that are not stored yet.

    ``add`` keeps a line (never a write of its own); the run's writes ``take`` the
    buffered lines and ``restore`` them if the write fails. ``flush`` (a write the run
    makes for them) is started ``delay`` seconds after the first line that found the
    buffer empty, so a line is stored at most about ``delay`` late and a chatty handler
    costs at most one extra write a second."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        flush: Callable[[], Awaitable[object]],
        delay: float = LOG_FLUSH_SECONDS,
    ) -> None:
        self.clock = clock
        self.flush = flush
        self.delay = delay
        self.lines: list[LogLine] = []
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Future[None] | None = None
        self.closed = False

    def add(self, message: str) -> None:
        self.lines.append(log_line(message, self.clock()))
        del self.lines[:-MAX_LOG_LINES]
        self._arm()

    def take(self) -> list[LogLine]:
        lines, self.lines = self.lines, []
        return lines

    def restore(self, lines: Sequence[LogLine]) -> None:
        """Put back lines a failed write took (before any logged since)."""
        self.lines[:0] = lines
        del self.lines[:-MAX_LOG_LINES]

    async def close(self) -> None:
        """Stop flushing (the run is over: its settling takes what is left), after a
        flush under way has ended."""
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None:
            await asyncio.wait([self._task])

    def _arm(self) -> None:
        if self.closed or self._timer is not None or self._task is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # logged from another thread: stored with the next write
            return
        self._timer = loop.call_later(self.delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        if self.lines and not self.closed:
            self._task = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        try:
            await self.flush()
        except Exception as exc:  # the lines wait for a later write
            log.info("job log lines not written yet (%r)", exc)
        finally:
            self._task = None
            if self.lines:
                self._arm()
