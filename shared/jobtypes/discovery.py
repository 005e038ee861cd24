"""User-defined job types, found without touching dtq's code.

Two ways, both calling a module-level ``register(registry)``:

- the setting ``DTQ_JOB_TYPE_MODULES``: comma-separated importable module names
  (the module must be importable: on ``sys.path``, e.g. beside ``function_app.py``);
- the entry point group ``dtq.job_types`` of an installed package, for example in its
  ``pyproject.toml``: ``[project.entry-points."dtq.job_types"] mine = "mypkg.jobs:register"``.

See docs/job-types.md.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from shared.jobtypes.registry import JobTypeRegistry

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "dtq.job_types"


def module_names(setting: str) -> list[str]:
    return [name.strip() for name in setting.split(",") if name.strip()]


def load_job_types(registry: JobTypeRegistry, modules: str) -> list[str]:
    """Register the job types of every configured module and entry point; returns their
    sources. A module that fails to import or register stops start-up with its error:
    a worker that silently lacks a job type would dead-letter its jobs."""
    sources: list[str] = []
    registrars: list[tuple[str, Callable[..., Any]]] = []
    for name in module_names(modules):
        module = importlib.import_module(name)
        register = getattr(module, "register", None)
        if not callable(register):
            raise TypeError(f"job type module {name!r} has no register(registry) function")
        registrars.append((name, register))
    for point in entry_points(group=ENTRY_POINT_GROUP):
        registrars.append((f"{point.name} = {point.value}", point.load()))
    for source, register in registrars:
        register(registry)
        sources.append(source)
        # dtq's own modules (the providers) every time; the user's are worth a line.
        level = logging.DEBUG if source.startswith("shared.") else logging.INFO
        log.log(level, "job types from %s registered", source)
    return sources
