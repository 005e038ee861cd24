"""``dtq serve`` and ``dtq worker``: the local host's processes.

``dtq serve`` runs the HTTP functions and the web UI in one process and supervises
``--workers`` worker processes (restarting any that die). Each ``dtq worker``
process runs every queue trigger of the app. All processes share the embedded
backend's SQLite file, so extra ``dtq worker`` processes can join at any time.

Unless the environment names a real Azure SignalR Service, ``dtq serve`` serves its own
at ``/signalr`` (dtq/host/signalr.py) and sets ``AzureSignalRConnectionString`` to it for
itself and its workers, so job changes are published to the events queue, the workers
run ``push_job_events`` and the web process runs ``negotiate`` (docs/observability.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dtq.host.bindings import SignalRBindings
from dtq.host.catalog import build_catalog, load_app
from dtq.host.config import HostConfig
from dtq.host.listener import QueueListener
from dtq.host.signalr_keys import LocalSignalR, joined_service, local_service, note_service
from dtq.host.timers import TimerRunner
from functions.runtime import install
from shared import telemetry, traces
from shared.composition import Runtime
from shared.errors import BackendUnavailable
from shared.metrics import multiprocess_dir, prepare_multiprocess
from shared.ports import JobQueue, WorkerBeat
from shared.push import PublishingStatusStore
from shared.settings import Settings, environment_overrides, host_json_overrides

log = logging.getLogger("dtq.host")


def configure_logging(settings: Settings) -> None:
    telemetry.configure_logging(settings.log_level, settings.log_format)


# --- worker processes -------------------------------------------------------------


async def run_worker(settings: Settings, app_dir: Path) -> None:
    """Run the app's queue triggers until SIGTERM/SIGINT, then drain gracefully."""
    settings = joined_service(settings)  # the push path of the host on this data folder
    config = HostConfig.load(app_dir, host_json_overrides(app_dir / "local.settings.json"))
    app = load_app(app_dir)  # first: puts the app folder on sys.path for job type modules
    prepare_multiprocess(multiprocess_dir(settings.data_dir), os.environ, clear=False)
    runtime = Runtime.from_settings(settings, prometheus_dir=multiprocess_dir(settings.data_dir))
    install(runtime)
    local = LocalSignalR.parse(settings.signalr_connection)  # set by dtq serve
    catalog = build_catalog(app, settings, local_signalr=local is not None)
    bindings = SignalRBindings(local) if local is not None else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    listeners = [
        QueueListener(f, _trigger_queue(runtime, f.queue_name), config, bindings)
        for f in catalog.queues
    ]
    beating = asyncio.create_task(_heartbeat(runtime, listeners, stop))
    log.info(
        "worker %d ready: %s (%d concurrent calls each)",
        os.getpid(),
        ", ".join(f"{f.name} <- {f.queue_name}" for f in catalog.queues) or "no queue triggers",
        config.max_concurrent_calls,
    )
    try:
        await asyncio.gather(*(lst.run(stop, settings.shutdown_grace_seconds) for lst in listeners))
    finally:
        beating.cancel()
        with contextlib.suppress(BaseException):
            await beating
        if bindings is not None:
            await bindings.close()
        await runtime.close()
        telemetry.flush()
        install(None)
    log.info("worker %d stopped", os.getpid())


def _trigger_queue(runtime: Runtime, name: str) -> JobQueue:
    """The queue a trigger receives from: a job queue, or the events queue the status
    store publishes to (push_job_events)."""
    status = runtime.status
    if isinstance(status, PublishingStatusStore) and name == runtime.settings.events_queue:
        return status.events
    return runtime.queue(name)


#: Seconds between a worker process's heartbeats; /api/v1/stats lists the workers seen
#: within three of them.
HEARTBEAT_SECONDS = 5.0


async def _heartbeat(runtime: Runtime, listeners: list[QueueListener], stop: asyncio.Event) -> None:
    registry = runtime.enable_worker_registry()
    worker_id = f"{socket.gethostname()}:{os.getpid()}"
    started = datetime.now(UTC)
    try:
        while not stop.is_set():
            with contextlib.suppress(BackendUnavailable):
                await registry.beat(
                    WorkerBeat(
                        worker_id=worker_id,
                        pid=os.getpid(),
                        hostname=socket.gethostname(),
                        started_at=started,
                        last_seen=datetime.now(UTC),
                        in_flight=sum(len(lst.in_flight) for lst in listeners),
                        invocations=sum(lst.invocations for lst in listeners),
                        queues=[lst.function.queue_name for lst in listeners],
                    )
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), HEARTBEAT_SECONDS)
    finally:
        with contextlib.suppress(BaseException):
            await registry.forget(worker_id)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask Linux to SIGTERM this child when its parent dies (PR_SET_PDEATHSIG)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


class WorkerSupervisor:
    """Starts ``count`` worker processes and restarts any that exit unexpectedly."""

    def __init__(self, count: int, settings: Settings, app_dir: Path) -> None:
        self.count = count
        self.settings = settings
        self.app_dir = app_dir
        self.processes: list[subprocess.Popen[bytes]] = []
        self._stopping = False
        self._watch: asyncio.Task[None] | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, **environment_overrides(self.settings)}
        cmd = [sys.executable, "-m", "dtq.cli", "worker", "--app-dir", str(self.app_dir)]
        preexec = _die_with_parent if sys.platform.startswith("linux") else None
        # A process group of its own: Ctrl-C in the terminal reaches only this host, which
        # stops its workers itself (SIGTERM, with the grace period), never half-started
        # workers directly (KeyboardInterrupt tracebacks, restarts before shutdown).
        return subprocess.Popen(cmd, env=env, preexec_fn=preexec, process_group=0)

    def start(self) -> None:
        self.processes = [self._spawn() for _ in range(self.count)]
        # debug: the URL line that follows says how many (./dev run shows that line first)
        log.debug("started %d worker processes: %s", self.count, [p.pid for p in self.processes])
        self._watch = asyncio.create_task(self._watch_loop())

    async def _watch_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(0.5)
            for i, proc in enumerate(self.processes):
                if proc.poll() is not None and not self._stopping:
                    log.warning(
                        "worker %d exited with %s; restarting it", proc.pid, proc.returncode
                    )
                    self.processes[i] = self._spawn()

    async def stop(self, grace: float) -> None:
        self._stopping = True
        if self._watch:
            self._watch.cancel()
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace + 5
        while time.monotonic() < deadline and any(p.poll() is None for p in self.processes):
            await asyncio.sleep(0.1)
        for proc in self.processes:
            if proc.poll() is None:
                log.error("worker %d did not stop in time; killing it", proc.pid)
                proc.kill()
                proc.wait()


# --- the HTTP host ----------------------------------------------------------------


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 7071
    workers: int = 2
    app_dir: Path = Path(".")


async def run_serve(settings: Settings, options: ServeOptions) -> None:
    import uvicorn

    from dtq.host.guard import allowed_hosts
    from dtq.host.signalr import SignalRService
    from dtq.host.timeouts import head_timeout_protocol
    from dtq.host.web import create_web_app

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:  # the host handles signals itself
            yield

    config = HostConfig.load(
        options.app_dir, host_json_overrides(options.app_dir / "local.settings.json")
    )
    app = load_app(options.app_dir)  # first: puts the app folder on sys.path
    settings, local = local_service(settings, options.host, options.port)
    if local is not None:
        note_service(settings, local)  # for `dtq worker` processes started apart
    # Before any Prometheus metric exists: the workers started below inherit it.
    prepare_multiprocess(multiprocess_dir(settings.data_dir), os.environ, clear=True)
    runtime = Runtime.from_settings(settings, prometheus_dir=multiprocess_dir(settings.data_dir))
    traces.note_traces_dir(settings.telemetry)  # `dtq trace` reads where this host writes
    runtime.enable_worker_registry()  # /api/v1/stats lists the worker processes
    install(runtime)
    catalog = build_catalog(app, settings, local_signalr=local is not None)
    for name, bindings in catalog.skipped.items():
        log.debug("%s runs in Azure only (%s bindings): not served here", name, ", ".join(bindings))
    if local is None:
        log.warning(
            "AzureSignalRConnectionString names Azure SignalR Service: this host leaves"
            " negotiate (answered 204) and push_job_events to Azure; the UI polls and job"
            " events pile up in %s",
            settings.events_queue,
        )
    hosts = allowed_hosts(options.host, settings.allowed_hosts.split(","))
    hub = SignalRService(local) if local is not None else None
    web = create_web_app(
        catalog, config.route_prefix, options.app_dir / "static-web", hosts, signalr=hub
    )
    server = Server(
        uvicorn.Config(
            web,
            host=options.host,
            port=options.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            http=head_timeout_protocol(settings.request_head_timeout_seconds),
        )
    )
    loop = asyncio.get_running_loop()

    def request_exit() -> None:
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_exit)
    supervisor = WorkerSupervisor(options.workers, settings, options.app_dir)
    if options.workers:
        supervisor.start()
    ready = asyncio.create_task(_announce(server, options, settings))
    stop_timers = asyncio.Event()
    timers = asyncio.create_task(TimerRunner(catalog.timers).run(stop_timers))
    try:
        await server.serve()
    finally:
        if hub is not None:
            hub.close_all()
        ready.cancel()
        stop_timers.set()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(timers, 10)
        log.info("shutting down: stopping workers")
        await supervisor.stop(settings.shutdown_grace_seconds)
        await runtime.close()
        shutil.rmtree(multiprocess_dir(settings.data_dir), ignore_errors=True)
        telemetry.flush()
        install(None)


async def _announce(server: object, options: ServeOptions, settings: Settings) -> None:
    while not getattr(server, "started", False):
        await asyncio.sleep(0.05)
    print(
        f"dtq serve: http://{options.host}:{options.port}/ (API at /api/v1, "
        f"{options.workers} worker processes, data in {settings.data_dir})",
        flush=True,
    )
