"""The per-process Runtime the triggers use, built on first use (never at import)."""

from __future__ import annotations

import threading

from shared.composition import Runtime
from shared.settings import Settings

_lock = threading.Lock()
_runtime: Runtime | None = None


def runtime() -> Runtime:
    """This process's Runtime, built from the settings on first call."""
    global _runtime
    if _runtime is None:
        with _lock:
            if _runtime is None:
                _runtime = Runtime.from_settings(Settings.load())
    return _runtime


def install(rt: Runtime | None) -> None:
    """Use ``rt`` from now on (the local host and tests build their own)."""
    global _runtime
    with _lock:
        _runtime = rt
