"""Exceptions that steer a delivery or a run inside dtq: neither raised by users nor
answered by the API (those are :mod:`shared.jobtypes.errors` and :mod:`shared.errors`)."""

from __future__ import annotations

from shared.errors import DtqError
from shared.jobtypes.errors import PermanentJobError


class MessageLockLost(DtqError):
    """The message's lock expired or was settled by someone else."""


class ResultTooLarge(PermanentJobError):
    """The handler returned a result larger than the result store keeps."""

    reason = "ResultTooLarge"


class PoisonJob(PermanentJobError):
    """The stored job cannot run at all: its type is unknown here, or its payload no
    longer validates (the type changed since it was submitted)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
