"""The implementations each port contract runs against.

Each contract module parametrises over the names below; a new implementation joins
every contract test of its port by adding one entry (and one branch in ``Backends``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from shared.adapters.azure.servicebus_queue import ServiceBusJobQueue
from shared.adapters.sqlite import Database, SqliteJobQueue, SqliteResultStore, SqliteStatusStore
from shared.backends import RESULTS, STORES, Resources
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
from tests.support.servicebus_fake import FakeNamespace

QUEUE_BACKENDS = ["sqlite", "servicebus-fake", "servicebus"]
STATUS_BACKENDS = ["sqlite", "table"]
RESULT_BACKENDS = ["sqlite", "cosmos"]
KEY_BACKENDS = ["sqlite", "table"]
API_KEY_BACKENDS = ["sqlite", "table"]
RATE_BACKENDS = ["sqlite", "table"]
SLOT_BACKENDS = ["sqlite", "table"]
WEBHOOK_BACKENDS = ["sqlite", "table"]
SCHEDULE_BACKENDS = ["sqlite", "table"]

T = TypeVar("T")


class Backends:
    """Makes fresh implementations for one test; several objects of one kind share their
    storage, as separate processes would."""

    def __init__(
        self, request: pytest.FixtureRequest, tmp_path: Path, queue_kind: str = "sqlite"
    ) -> None:
        self.request = request
        self.queue_kind = queue_kind
        self.namespace: FakeNamespace | None = None
        self.path = tmp_path / "contract.sqlite3"
        self.unique = "t" + uuid.uuid4().hex[:16]
        self.databases: list[Database] = []
        self.closables: list[Any] = []
        self.cleanups: list[Callable[[], object]] = []
        self.real_queue_created = False
        self.real_queue_options: dict[str, Any] = {}
        #: The duplicate detection window of the queue made last (raised on a real namespace).
        self.duplicate_window = 600.0
        #: Extra seconds to allow for a round trip to a remote broker (0 locally).
        self.slack = 0.0
        #: What the Azure adapters made here counted (shared/usage.py).
        self.usage = Usage()

    def database(self) -> Database:
        db = Database(self.path)
        self.databases.append(db)
        return db

    def queue(self, db: Database | None = None, **options: Any) -> JobQueue:
        """A queue object; each call is another client (another process) on the same queue.
        Its ``lock_duration`` is the queue's real one (a real namespace's is 5 s at
        least), which tests read rather than assume."""
        options = {"lock_duration": 1.0, "max_delivery_count": 3, **options}
        window = options.pop("duplicate_window", 600.0)
        if self.queue_kind == "servicebus-fake":
            if self.namespace is None:
                # Service Bus promises no order without sessions: neither does the fake here.
                self.namespace = FakeNamespace(ordered=False)
            self.namespace.create_queue(
                "contract",
                lock_duration=options["lock_duration"],
                max_delivery_count=options["max_delivery_count"],
                duplicate_window=window,
            ) if "contract" not in self.namespace.queues else None
            self.duplicate_window = window
            client = self.namespace.client()
            queue: JobQueue = ServiceBusJobQueue(
                client, "contract", admin=client, usage=self.usage, **options
            )
            self.closables.append(queue)
            return queue
        if self.queue_kind == "servicebus":
            return self._real_servicebus_queue(window, **options)
        self.duplicate_window = window
        return SqliteJobQueue(
            db or self.database(), "contract", duplicate_detection_window=window, **options
        )

    def _real_servicebus_queue(self, window: float, **options: Any) -> JobQueue:
        """A queue of its own in the namespace of ``ServiceBusConnection`` (a connection
        string with Manage rights) or ``ServiceBusConnection__fullyQualifiedNamespace``
        (identity-based, as the deployed app connects: DefaultAzureCredential, pinned to
        ``ServiceBusConnection__clientId`` when set; the identity needs *Azure Service Bus
        Data Owner* to create and delete the queue). Service Bus locks last 5 s and
        duplicate windows 20 s at least: shorter ones asked for are raised to those, and
        the tests read the queue's real values."""
        settings = Settings.load(None)
        if not (settings.servicebus_connection or settings.servicebus_namespace):
            pytest.skip(
                "set ServiceBusConnection or ServiceBusConnection__fullyQualifiedNamespace"
                " to run the queue contract on a real namespace"
            )
        from azure.servicebus.management import ServiceBusAdministrationClient as SyncAdmin

        from shared.adapters.azure import connections

        self.slack = 2.0
        if self.real_queue_created:  # another client of the queue this test made
            options.update(self.real_queue_options)
        else:
            options["lock_duration"] = max(5.0, options["lock_duration"])
            self.duplicate_window = window = max(20.0, window)
            self.real_queue_options = dict(options)
            if settings.servicebus_connection:
                setup = SyncAdmin.from_connection_string(settings.servicebus_connection)
            else:
                from azure.identity import DefaultAzureCredential

                assert settings.servicebus_namespace
                setup = SyncAdmin(
                    settings.servicebus_namespace,
                    credential=DefaultAzureCredential(
                        managed_identity_client_id=settings.servicebus_client_id
                    ),
                )
            setup.create_queue(
                self.unique,
                lock_duration=timedelta(seconds=options["lock_duration"]),
                max_delivery_count=options["max_delivery_count"],
                requires_duplicate_detection=True,
                duplicate_detection_history_time_window=timedelta(seconds=window),
            )
            self.real_queue_created = True
            self.cleanups.append(lambda: setup.delete_queue(self.unique))
        client, admin = connections.servicebus_clients(settings.service_bus)
        queue = ServiceBusJobQueue(client, self.unique, admin=admin, usage=self.usage, **options)
        self.closables.append(queue)
        return queue

    def settings(self, kind: str) -> Settings:
        if kind == "table":
            azurite = self.request.getfixturevalue("azurite")
            return Settings.load(
                None,
                status_backend="table",
                status_table=self.unique,
                table_connection=azurite.connection_string,
            )
        if kind == "cosmos":
            cosmos = self.request.getfixturevalue("cosmos_server")
            return Settings.load(
                None,
                result_backend="cosmos",
                cosmos_results_container=self.unique,
                cosmos_connection=cosmos.connection_string,
            )
        return Settings.load(None)

    def status(self, kind: str) -> StatusStore:
        store = (
            SqliteStatusStore(self.database())
            if kind == "sqlite"
            else STORES[kind].status(Resources(self.settings(kind), self.usage, self.database))
        )
        self.closables.append(store)
        return store

    def results(self, kind: str) -> ResultStore:
        store = (
            SqliteResultStore(self.database())
            if kind == "sqlite"
            else RESULTS[kind](Resources(self.settings(kind), self.usage, self.database))
        )
        self.closables.append(store)
        return store

    def _store(self, kind: str, table_setting: str, store: str) -> Any:
        """A store built by the backend registry (shared/backends.py), as the runtime
        builds it; on Table storage in a table of its own for this test."""
        settings = self.settings(kind)
        if kind == "table":
            name = self.unique + table_setting.removesuffix("_table").replace("_", "")
            settings = settings.model_copy(update={table_setting: name})
        stores = STORES[settings.status_backend]
        store = getattr(stores, store)(Resources(settings, self.usage, self.database))
        self.closables.append(store)
        return store

    def keys(self, kind: str) -> IdempotencyKeys:
        return self._store(kind, "idempotency_table", "idempotency_keys")

    def api_keys(self, kind: str) -> ApiKeyStore:
        return self._store(kind, "api_keys_table", "api_keys")

    def rates(self, kind: str) -> RateCounters:
        return self._store(kind, "rates_table", "rate_counters")

    def slots(self, kind: str) -> RunSlots:
        return self._store(kind, "slots_table", "run_slots")

    def webhooks(self, kind: str) -> WebhookStore:
        return self._store(kind, "webhooks_table", "webhooks")

    def schedules(self, kind: str) -> ScheduleStore:
        return self._store(kind, "schedules_table", "schedules")

    async def aclose(self) -> None:
        for closable in self.closables:
            await closable.close()
        for db in self.databases:
            db.close()
        for cleanup in self.cleanups:
            cleanup()


def port_fixture(make: Callable[[Backends, str], T], kinds: list[str]) -> Any:
    """A fixture that gives each test a maker of fresh implementations of one port, once
    for every implementation in ``kinds``; a contract module binds it to its name:
    ``new_keys = port_fixture(Backends.keys, KEY_BACKENDS)``."""

    @pytest.fixture(params=kinds)
    def new(request: pytest.FixtureRequest, backends: Backends) -> Callable[[], T]:
        return lambda: make(backends, request.param)

    return new
