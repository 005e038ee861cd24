"""What the local host learns from the app object: its functions, by trigger kind."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func

from dtq.host.bindings import SignalRBinding
from dtq.host.indexing import check_function
from shared.settings import Settings

_PARAM = re.compile(r"^\{(\*)?([A-Za-z_][A-Za-z0-9_]*)(?::[^}?]*)?(\?)?\}$")


@dataclass(frozen=True)
class HttpFunction:
    name: str
    template: str
    methods: frozenset[str]
    arg_name: str
    fn: Callable[..., Any]
    pattern: re.Pattern[str]
    #: Sort key: literal segments before parameters, as the Functions host routes.
    precedence: tuple[int, ...]
    #: Its SignalR bindings, which the local host plays (dtq/host/bindings.py).
    signalr: tuple[SignalRBinding, ...] = ()

    def match(self, path: str) -> dict[str, str] | None:
        m = self.pattern.fullmatch(path)
        return None if m is None else {k: v for k, v in m.groupdict().items() if v is not None}


@dataclass(frozen=True)
class QueueFunction:
    name: str
    queue_name: str
    connection: str
    arg_name: str
    fn: Callable[..., Any]
    #: ``cardinality: many``: the function takes a list of messages (a batch).
    many: bool = False
    signalr: tuple[SignalRBinding, ...] = ()


@dataclass(frozen=True)
class TimerFunction:
    name: str
    #: NCRONTAB with seconds: "{second} {minute} {hour} {day} {month} {day-of-week}".
    schedule: str
    arg_name: str
    fn: Callable[..., Any]
    run_on_startup: bool = False


#: The SignalR bindings. The local host plays them against its own SignalR service
#: (dtq/host/signalr.py); where the app is configured for Azure SignalR Service
#: instead, it cannot reach that service's clients and leaves these functions out.
SIGNALR_BINDINGS = frozenset({"signalR", "signalRConnectionInfo"})
#: Kept for callers that ask which bindings only Azure provides.
AZURE_ONLY_BINDINGS = SIGNALR_BINDINGS


@dataclass(frozen=True)
class Catalog:
    http: list[HttpFunction]
    queues: list[QueueFunction]
    timers: list[TimerFunction] = field(default_factory=list)
    #: Functions not run here, with the bindings that keep them out.
    skipped: dict[str, list[str]] = field(default_factory=dict)
    #: The routes of the HTTP functions among them (the host answers them 204: not here).
    skipped_http: list[HttpFunction] = field(default_factory=list)

    def azure_only(self, method: str, path: str) -> HttpFunction | None:
        """The Azure-only HTTP function ``method path`` would reach, if any."""
        return next(
            (f for f in self.skipped_http if method in f.methods and f.match(path) is not None),
            None,
        )

    def route(self, method: str, path: str) -> tuple[HttpFunction | None, dict[str, str], bool]:
        """The function for ``method path``, its route params, and whether the path
        matched any route at all (for 405 versus 404)."""
        path_matched = False
        for fn in self.http:
            params = fn.match(path)
            if params is None:
                continue
            path_matched = True
            if method in fn.methods:
                return fn, params, True
        return None, {}, path_matched


def compile_route(template: str) -> tuple[re.Pattern[str], tuple[int, ...]]:
    """A Functions route template (``v1/jobs/{job_id}``, ``{*rest}``, ``{id?}``) as a regex."""
    parts: list[str] = []
    precedence: list[int] = []
    for segment in template.strip("/").split("/"):
        m = _PARAM.match(segment)
        if m is None:
            parts.append("/" + re.escape(segment))
            precedence.append(0)
        elif m.group(1):  # catch-all
            parts.append(f"(?:/(?P<{m.group(2)}>.*))?")
            precedence.append(3)
        elif m.group(3):  # optional
            parts.append(f"(?:/(?P<{m.group(2)}>[^/]+))?")
            precedence.append(2)
        else:
            parts.append(f"/(?P<{m.group(2)}>[^/]+)")
            precedence.append(1)
    return re.compile("".join(parts)), tuple(precedence)


def _resolve(value: str, settings: Settings) -> str:
    """``%Name%`` binding expressions resolved from app settings."""
    return re.sub(r"%([^%]+)%", lambda m: settings.app_setting(m.group(1)), value)


def load_app(app_dir: Path, module: str = "function_app") -> func.FunctionApp:
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    app = importlib.import_module(module).app
    if not isinstance(app, func.FunctionApp):
        raise TypeError(f"{module}.app is not an azure.functions.FunctionApp")
    return app


def _signalr_bindings(function: Any, settings: Settings) -> tuple[SignalRBinding, ...]:
    found = []
    for binding in function.get_bindings():
        if str(binding.type) in SIGNALR_BINDINGS:
            spec = binding.get_dict_repr()
            found.append(
                SignalRBinding(
                    name=str(binding.name),
                    type=str(binding.type),
                    hub=_resolve(str(spec.get("hubName", "")), settings),
                    user_id=str(spec.get("userId", "")),
                )
            )
    return tuple(found)


def build_catalog(
    app: func.FunctionApp, settings: Settings, *, local_signalr: bool = False
) -> Catalog:
    """Index the app's functions. ``get_functions()`` may run once per app object.

    With ``local_signalr`` the functions with SignalR bindings run here, against the
    local host's SignalR service; without it they are left out (``skipped``).

    Every function is first held to the Python worker's indexing rules
    (dtq/host/indexing.py): an app Azure would refuse raises
    :class:`~dtq.host.indexing.FunctionRefused` here too, Azure-only functions included."""
    http: list[HttpFunction] = []
    queues: list[QueueFunction] = []
    timers: list[TimerFunction] = []
    skipped: dict[str, list[str]] = {}
    skipped_http: list[HttpFunction] = []
    functions = app.get_functions()
    for function in functions:
        check_function(function)
    for function in functions:
        trigger: Any = function.get_trigger()
        user_fn = function.get_user_function()
        name = str(function.get_function_name())
        uses = sorted({str(b.type) for b in function.get_bindings()} & SIGNALR_BINDINGS)
        azure_only = uses if not local_signalr else []
        if azure_only:
            skipped[name] = azure_only
        signalr = _signalr_bindings(function, settings) if uses and local_signalr else ()
        if trigger.type == "httpTrigger":
            template = str(trigger.route or name).strip("/")
            pattern, precedence = compile_route(template)
            methods = trigger.methods or [
                "GET",
                "POST",
                "PUT",
                "PATCH",
                "DELETE",
                "HEAD",
                "OPTIONS",
            ]
            (skipped_http if azure_only else http).append(
                HttpFunction(
                    name=name,
                    template=template,
                    methods=frozenset(str(getattr(m, "value", m)).upper() for m in methods),
                    arg_name=trigger.name,
                    fn=user_fn,
                    pattern=pattern,
                    precedence=precedence,
                    signalr=signalr,
                )
            )
        elif azure_only:
            continue
        elif trigger.type == "serviceBusTrigger":
            queues.append(
                QueueFunction(
                    name=name,
                    queue_name=_resolve(trigger.queue_name, settings),
                    connection=trigger.connection,
                    arg_name=trigger.name,
                    fn=user_fn,
                    many=str(getattr(trigger.cardinality, "value", trigger.cardinality)).lower()
                    == "many",
                    signalr=signalr,
                )
            )
        elif trigger.type == "timerTrigger":
            timers.append(
                TimerFunction(
                    name=name,
                    schedule=_resolve(trigger.schedule, settings),
                    arg_name=trigger.name,
                    fn=user_fn,
                    run_on_startup=bool(getattr(trigger, "run_on_startup", False)),
                )
            )
        else:
            raise NotImplementedError(
                f"the local host cannot run {function.get_function_name()!r}: "
                f"trigger type {trigger.type!r} is not supported yet"
            )
    http.sort(key=lambda f: f.precedence)
    return Catalog(
        http=http, queues=queues, timers=timers, skipped=skipped, skipped_http=skipped_http
    )


async def invoke(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Call a function as the Python worker does: coroutines awaited, others on a thread."""
    if inspect.iscoroutinefunction(fn):
        return await fn(**kwargs)
    return await asyncio.to_thread(fn, **kwargs)
