"""Which adapters each backend setting means: one entry per backend, so a new backend is
a new entry here, not an edit of every place that picks one.

Three settings choose (shared/settings.py): ``status_backend`` picks the stores kept
beside the jobs (status, idempotency keys, rate counters, running slots, API keys,
webhook secrets and outbox, schedules),
``result_backend`` the result store, ``queue_backend`` the queues. The embedded entries
use one SQLite file; the Azure entries import their SDKs only when chosen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from shared.adapters.sqlite import (
    Database,
    SqliteIdempotencyKeys,
    SqliteJobQueue,
    SqliteResultStore,
    SqliteStatusStore,
)
from shared.adapters.sqlite.api_keys import SqliteApiKeyStore
from shared.adapters.sqlite.rates import SqliteRateCounters
from shared.adapters.sqlite.schedules import SqliteScheduleStore
from shared.adapters.sqlite.slots import SqliteRunSlots
from shared.adapters.sqlite.webhooks import SqliteWebhookStore
from shared.ports import (
    ApiKeyStore,
    IdempotencyKeys,
    JobQueue,
    RateCounters,
    ResultStore,
    RunSlots,
    StatusStore,
    WebhookStore,
)
from shared.schedules.port import ScheduleStore
from shared.settings import Settings
from shared.usage import Usage


@dataclass(frozen=True)
class Resources:
    """What every adapter may need: the settings, the billable-operation meter of the
    Azure adapters, and the embedded database (opened on first use)."""

    settings: Settings
    usage: Usage
    sqlite: Callable[[], Database]


class Stores(Protocol):
    """The stores a ``status_backend`` keeps beside the jobs."""

    #: How often a long-poll reads a job while it waits for a change, in seconds.
    change_poll_seconds: float

    def status(self, r: Resources) -> StatusStore: ...
    def idempotency_keys(self, r: Resources) -> IdempotencyKeys: ...
    def rate_counters(self, r: Resources) -> RateCounters: ...
    def run_slots(self, r: Resources) -> RunSlots: ...
    def api_keys(self, r: Resources) -> ApiKeyStore: ...
    def webhooks(self, r: Resources) -> WebhookStore: ...
    def schedules(self, r: Resources) -> ScheduleStore: ...


class SqliteStores:
    #: A local read costs a fraction of a millisecond and nothing else.
    change_poll_seconds = 0.025

    def status(self, r: Resources) -> StatusStore:
        return SqliteStatusStore(r.sqlite())

    def idempotency_keys(self, r: Resources) -> IdempotencyKeys:
        return SqliteIdempotencyKeys(r.sqlite())

    def rate_counters(self, r: Resources) -> RateCounters:
        return SqliteRateCounters(r.sqlite())

    def run_slots(self, r: Resources) -> RunSlots:
        return SqliteRunSlots(r.sqlite())

    def api_keys(self, r: Resources) -> ApiKeyStore:
        return SqliteApiKeyStore(r.sqlite())

    def webhooks(self, r: Resources) -> WebhookStore:
        return SqliteWebhookStore(r.sqlite())

    def schedules(self, r: Resources) -> ScheduleStore:
        return SqliteScheduleStore(r.sqlite())


class TableStores:
    """Azure Table storage: one table per store, one shared TableServiceClient."""

    #: Each read is a billed transaction, and an account serves 20,000 a second.
    change_poll_seconds = 0.5

    @staticmethod
    def _service(r: Resources):  # type: ignore[no-untyped-def]
        from shared.adapters.azure import connections

        return connections.table_service(r.settings.table_storage, r.usage)

    def status(self, r: Resources) -> StatusStore:
        from shared.adapters.azure.table_status import TableStatusStore

        s = r.settings
        return TableStatusStore(self._service(r), s.status_table, shards=s.status_table_shards)

    def idempotency_keys(self, r: Resources) -> IdempotencyKeys:
        from shared.adapters.azure.table_idempotency import TableIdempotencyKeys

        return TableIdempotencyKeys(self._service(r), r.settings.idempotency_table)

    def rate_counters(self, r: Resources) -> RateCounters:
        from shared.adapters.azure.table_rates import TableRateCounters

        return TableRateCounters(self._service(r), r.settings.rates_table)

    def run_slots(self, r: Resources) -> RunSlots:
        from shared.adapters.azure.table_slots import TableRunSlots

        return TableRunSlots(self._service(r), r.settings.slots_table)

    def api_keys(self, r: Resources) -> ApiKeyStore:
        from shared.adapters.azure.table_api_keys import TableApiKeyStore

        return TableApiKeyStore(self._service(r), r.settings.api_keys_table)

    def webhooks(self, r: Resources) -> WebhookStore:
        from shared.adapters.azure.table_webhooks import TableWebhookStore

        return TableWebhookStore(self._service(r), r.settings.webhooks_table)

    def schedules(self, r: Resources) -> ScheduleStore:
        from shared.adapters.azure.table_schedules import TableScheduleStore

        return TableScheduleStore(self._service(r), r.settings.schedules_table)


def sqlite_results(r: Resources) -> ResultStore:
    return SqliteResultStore(r.sqlite())


def cosmos_results(r: Resources) -> ResultStore:
    from shared.adapters.azure import connections
    from shared.adapters.azure.cosmos_results import CosmosResultStore

    s = r.settings
    client, may_create = connections.cosmos_client(s.cosmos, r.usage)
    return CosmosResultStore(
        client,
        s.cosmos_database,
        s.cosmos_results_container,
        ttl_seconds=s.result_ttl_seconds,
        create_if_missing=may_create,
    )


def sqlite_queue(r: Resources, name: str) -> JobQueue:
    s = r.settings
    return SqliteJobQueue(
        r.sqlite(),
        name,
        lock_duration=s.queue_lock_seconds,
        max_delivery_count=s.queue_max_delivery_count,
        duplicate_detection_window=s.queue_duplicate_window_seconds,
    )


def servicebus_queue(r: Resources, name: str) -> JobQueue:
    from shared.adapters.azure import connections
    from shared.adapters.azure.servicebus_queue import ServiceBusJobQueue

    s = r.settings
    client, admin = connections.servicebus_clients(s.service_bus)
    return ServiceBusJobQueue(
        client,
        name,
        lock_duration=s.queue_lock_seconds,
        max_delivery_count=s.queue_max_delivery_count,
        admin=admin,
        usage=r.usage,
    )


#: status_backend -> the stores beside the jobs.
STORES: dict[str, Stores] = {"sqlite": SqliteStores(), "table": TableStores()}
#: result_backend -> the result store.
RESULTS: dict[str, Callable[[Resources], ResultStore]] = {
    "sqlite": sqlite_results,
    "cosmos": cosmos_results,
}
#: queue_backend -> a queue by name.
QUEUES: dict[str, Callable[[Resources, str], JobQueue]] = {
    "sqlite": sqlite_queue,
    "servicebus": servicebus_queue,
}


@asynccontextmanager
async def bare_status_store(settings: Settings) -> AsyncIterator[StatusStore]:
    """The job store of ``settings`` alone (no live-update or webhook decorators), for
    the maintenance commands (``dtq rebuild-index``); closed with its database after."""
    databases: list[Database] = []

    def sqlite() -> Database:
        if not databases:
            databases.append(Database(settings.sqlite_path))
        return databases[0]

    store = STORES[settings.status_backend].status(Resources(settings, Usage(), sqlite))
    try:
        yield store
    finally:
        await store.close()
        for db in databases:
            db.close()
