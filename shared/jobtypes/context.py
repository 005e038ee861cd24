"""What a handler sees of the job it runs."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from shared.jobtypes.errors import JobCancelled, JobTimedOut

#: Writes progress; returns True when the job was cancelled meanwhile.
ProgressSink = Callable[[int, str | None], Awaitable[bool]]
#: Keeps a line of the job's log (stored with the run's next write).
LogSink = Callable[[str], None]

log = logging.getLogger("dtq.jobs")


@dataclass
class JobContext:
    """Passed to every handler with its payload.

    ``report`` records progress (0-100) and a short stage text that every reader
    sees within a second; it raises :class:`JobCancelled` when the job was
    cancelled and :class:`JobTimedOut` past the deadline, so handlers that report
    progress stop at their next progress point.
    """

    job_id: str
    tenant_id: str
    job_type: str
    attempt: int
    max_attempts: int
    trace_id: str
    #: ``time.monotonic()`` value after which the attempt is over, or None.
    deadline: float | None
    _sink: ProgressSink = field(repr=False)
    #: The attempt's time limit in seconds (what ``deadline`` was computed from).
    time_limit: float | None = None
    _cancelled: bool = field(default=False, repr=False)
    #: Where ``log`` lines go (None: the Python log only, e.g. a handler called in a test).
    _log: LogSink | None = field(default=None, repr=False)

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def time_left(self) -> float | None:
        """Seconds until the deadline (None without one)."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def check(self) -> None:
        """Raise if the job was cancelled or its time is up."""
        if self._cancelled:
            raise JobCancelled(f"job {self.job_id} was cancelled")
        left = self.time_left()
        if left is not None and left <= 0:
            raise JobTimedOut(f"job {self.job_id} ran past its deadline")

    async def report(self, progress: int, stage: str | None = None) -> None:
        self.check()
        if await self._sink(progress, stage):
            self._cancelled = True
        self.check()

    def log(self, message: object) -> None:
        """Add a line to the job's log. Never a write of its own: the line goes with the
        run's next write (a progress report, a lease renewal, the attempt's outcome), at
        most about a second later."""
        text = str(message)
        if self._log is None:
            log.info("job %s: %s", self.job_id, text)
        else:
            self._log(text)
