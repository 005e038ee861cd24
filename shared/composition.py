"""The composition root: builds the ports chosen by the settings (from the backend
registry, shared/backends.py) and the services on them, one per noun: submissions,
queries, dead letters, retention, the reconciler, stats and health (and the worker).

Nothing connects anywhere until :meth:`Runtime.from_settings` is called; the
function triggers call it once per process, on their first invocation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shared import telemetry
from shared.access import Access, operator_key_ids
from shared.adapters.sqlite import Database
from shared.adapters.sqlite.workers import SqliteWorkerRegistry
from shared.admission import SubmissionRate, SubmissionRules
from shared.attempts import RunTiming
from shared.backends import QUEUES, RESULTS, STORES, Resources
from shared.dead_letters import DeadLetters
from shared.health import Health
from shared.jobs import Priority
from shared.jobtypes import JobTypeRegistry, default_registry
from shared.jobtypes.discovery import load_job_types
from shared.limits import Limits, TenantLimits
from shared.maintenance import Reconciler, Retention
from shared.metrics import Metrics
from shared.pauses import Pauses
from shared.ports import (
    IdempotencyKeys,
    JobQueue,
    RateCounters,
    ResultStore,
    StatusStore,
    WorkerRegistry,
)
from shared.priorities import PriorityQueues
from shared.providers import MODULES as PROVIDER_MODULES
from shared.providers import ProviderClient
from shared.push import PublishingStatusStore
from shared.queries import Queries
from shared.quotas import ProviderQuotas
from shared.retries import RetryPolicy
from shared.runcap import RunningCap
from shared.schedules.service import Schedules
from shared.settings import Settings
from shared.settling import Backoffs
from shared.stats import Stats
from shared.submissions import Submissions
from shared.usage import Usage
from shared.webhooks.outbox import WebhookOutbox
from shared.webhooks.service import Webhooks
from shared.worker import Worker


@dataclass
class Runtime:
    """Everything one process built from the settings: the ports, and the services the
    triggers call (each trigger calls the one it needs)."""

    settings: Settings
    status: StatusStore
    results: ResultStore
    queues: dict[str, JobQueue]
    registry: JobTypeRegistry
    submissions: Submissions
    queries: Queries
    dead_letters: DeadLetters
    retention: Retention
    reconciler: Reconciler
    stats: Stats
    health: Health
    worker: Worker
    keys: IdempotencyKeys
    rates: RateCounters
    access: Access
    #: Billable operations of the Azure adapters (see :mod:`shared.usage`).
    usage: Usage = field(default_factory=Usage)
    #: The HTTP client of the provider job types.
    providers: ProviderClient | None = None
    #: Heartbeats of worker processes: only the local host sets this up.
    workers: WorkerRegistry | None = None
    #: Counters and timings (Prometheus on the local host, OpenTelemetry everywhere).
    metrics: Metrics = field(default_factory=Metrics)
    #: Completion webhooks: deliveries, the sweep, the tenants' secrets.
    webhooks: Webhooks | None = None
    #: Recurring schedules (docs/schedules.md).
    schedules: Schedules | None = None
    #: Paused job types and priorities (docs/pauses.md).
    pauses: Pauses | None = None
    _sqlite: Callable[[], Database] | None = None
    _databases: list[Database] = field(default_factory=list)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        registry: JobTypeRegistry | None = None,
        *,
        prometheus_dir: Path | None = None,
        prometheus: bool = False,
    ) -> Runtime:
        """Everything the settings name. ``prometheus``: keep Prometheus metrics too
        (the local host), across processes when ``prometheus_dir`` is given."""
        telemetry.configure(settings.telemetry)
        metrics = Metrics(
            prometheus=prometheus or prometheus_dir is not None, multiprocess_dir=prometheus_dir
        )
        databases: list[Database] = []
        usage = Usage()

        def sqlite() -> Database:
            if not databases:
                databases.append(Database(settings.sqlite_path))
            return databases[0]

        r = Resources(settings, usage, sqlite)
        stores = STORES[settings.status_backend]
        status: StatusStore = stores.status(r)
        rates = stores.rate_counters(r)
        # Quotas count in the rate counters, pauses are markers: shared/quotas.py.
        quotas = ProviderQuotas(settings.providers.quotas(), rates, markers=status)
        providers = ProviderClient(
            settings.provider_timeout_seconds, metrics=metrics, quotas=quotas
        )
        registry = registry or build_registry(settings, providers)
        pauses = Pauses(status, registry.names, *settings.pause_timing)
        new_queue = QUEUES[settings.queue_backend]
        # A job's end starts its webhook's delivery (shared/webhooks/outbox.py).
        status = outbox = WebhookOutbox(
            status, stores.webhooks(r), new_queue(r, settings.webhooks_queue)
        )
        if settings.push_enabled:  # every change also goes to SignalR (shared/push.py)
            status = PublishingStatusStore(status, new_queue(r, settings.events_queue))
        results = RESULTS[settings.result_backend](r)
        keys = stores.idempotency_keys(r)
        slots = stores.run_slots(r)
        tenant_limits = _tenant_limits(settings)
        access = Access(
            stores.api_keys(r),
            require_keys=settings.require_api_keys,
            default_tenant=settings.default_tenant,
            trust_client_principal=settings.trust_client_principal,
            operator_keys=operator_key_ids(settings.operator_key_ids),
        )
        high, low = settings.jobs_queue_high, settings.jobs_queue_low
        names = {Priority.HIGH: high, Priority.NORMAL: settings.jobs_queue, Priority.LOW: low}
        by_name = {name: new_queue(r, name) for name in set(names.values())}
        queue = PriorityQueues({p: by_name[name] for p, name in names.items()})
        queries = Queries(
            status=status,
            results=results,
            registry=registry,
            change_poll_seconds=stores.change_poll_seconds,
        )
        submissions = Submissions(
            status=status,
            queue=queue,
            rules=SubmissionRules(
                registry,
                default_max_attempts=settings.default_max_attempts,
                max_timeout_seconds=settings.job_timeout_seconds,
                callback_urls=settings.callback_urls,
                allow_private_callbacks=settings.webhook_allow_private,
            ),
            keys=keys,
            idempotency_window_seconds=settings.idempotency_window_seconds,
            rate=SubmissionRate(tenant_limits, rates),
            metrics=metrics,
        )
        dead_letters = DeadLetters(
            status=status,
            queue=queue,
            queries=queries,
            default_max_attempts=settings.default_max_attempts,
        )
        schedule_store = stores.schedules(r)
        retention = Retention(
            status=status,
            results=results,
            keys=keys,
            rates=rates,
            schedules=schedule_store,
            retention_seconds=settings.retention_seconds,
            result_ttl_seconds=settings.result_ttl_seconds,
        )
        worker = Worker(
            status=status,
            results=results,
            queue=queue,
            registry=registry,
            timing=RunTiming(
                *settings.lease_timing,
                cancel_check_seconds=settings.cancel_check_seconds,
                timeout_seconds=settings.job_timeout_seconds,
            ),
            backoffs=Backoffs(
                RetryPolicy(
                    settings.retry_backoff_base_seconds,
                    settings.retry_backoff_max_seconds,
                    settings.retry_after_max_seconds,
                ),
                outage_base_seconds=settings.outage_backoff_base_seconds,
                outage_max_seconds=settings.outage_backoff_max_seconds,
            ),
            cap=RunningCap(tenant_limits, slots),
            metrics=metrics,
            pauses=pauses,
        )
        return cls(
            settings=settings,
            status=status,
            results=results,
            queues=by_name,
            registry=registry,
            submissions=submissions,
            queries=queries,
            dead_letters=dead_letters,
            retention=retention,
            reconciler=Reconciler(status=status, queue=queue, metrics=metrics),
            stats=Stats(status=status, queue=queue, pauses=pauses),
            health=Health(status=status, results=results, queue=queue),
            worker=worker,
            keys=keys,
            rates=rates,
            access=access,
            usage=usage,
            providers=providers,
            metrics=metrics,
            webhooks=Webhooks.from_settings(settings, status, outbox.store, outbox.queue),
            schedules=Schedules.from_settings(settings, schedule_store, submissions, status),
            pauses=pauses,
            _databases=databases,
            _sqlite=sqlite,
        )

    def enable_worker_registry(self) -> WorkerRegistry:
        """Keep worker heartbeats in the embedded database (the local host does this;
        the data folder then holds a SQLite file even if every backend is Azure)."""
        if self.workers is None:
            assert self._sqlite is not None
            self.workers = SqliteWorkerRegistry(self._sqlite())
        return self.workers

    def use_queue(self, queue: JobQueue) -> None:
        """Carry every priority on ``queue``, in place of the configured queues (tests
        and the cost bench put a fake Service Bus queue here)."""
        queues = PriorityQueues.single(queue)
        self.queues = {queue.queue_name: queue}
        self.submissions.queues = self.dead_letters.queues = queues
        self.reconciler.queues = self.stats.queues = self.health.queues = queues
        self.worker.queues = queues

    def queue(self, name: str) -> JobQueue:
        if self.webhooks is not None and name == self.webhooks.queue.queue_name:
            return self.webhooks.queue
        try:
            return self.queues[name]
        except KeyError:
            raise KeyError(f"no queue named {name!r} is configured") from None

    async def close(self) -> None:
        for queue in self.queues.values():
            await queue.close()
        await self.status.close()
        await self.results.close()
        await self.keys.close()
        await self.rates.close()
        if self.worker.cap is not None:
            await self.worker.cap.slots.close()
        await self.access.keys.close()
        if self.providers is not None:
            await self.providers.close()
        for service in (self.webhooks, self.schedules):
            if service is not None:
                await service.close()
        for db in self._databases:
            db.close()


def build_registry(settings: Settings, providers: ProviderClient) -> JobTypeRegistry:
    """Every job type this deployment runs: the offline built-ins, then the providers'
    and the user's own modules, loaded the same way (shared/jobtypes/discovery.py)."""
    registry = default_registry(settings, providers)
    load_job_types(registry, ",".join([*PROVIDER_MODULES, settings.job_type_modules]))
    return registry


def _tenant_limits(settings: Settings) -> TenantLimits:
    tenants = Limits(settings.tenant_submissions_per_minute, settings.tenant_max_running)
    return TenantLimits(
        default_tenant=settings.default_tenant,
        keyless=Limits(
            settings.default_tenant_submissions_per_minute, settings.default_tenant_max_running
        ),
        tenants=tenants,
        overrides=TenantLimits.parse_overrides(settings.tenant_limits, tenants),
    )
