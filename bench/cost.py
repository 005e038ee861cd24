"""Billable operations per job, counted on a real run, and the price of a million jobs.

Runs jobs of several kinds (by job type and outcome) through the app's own functions:
each job is submitted through Submissions and run by the Service Bus trigger of
``function_app.py`` under the local host's queue listener (the same settlement rules as
the Functions host). Status lives in Azurite (Table storage), results in the Cosmos DB
server, the queue on the in-memory Service Bus namespace of the tests. The Azure
adapters count what they send (``shared/usage.py``): Table and Cosmos requests at the
SDK's HTTP pipeline (retries included), Service Bus per operation. Table requests are
also told apart by what they do (``Usage.details``): entity-group transactions and the
entities they carry (job rows, index rows, counters), counter reads, transactions the
service refused (each is tried again) and the rest, so the script prints what the list
indexes and counters of issue 21 add. Table storage bills a transaction per request, so
a ``$batch`` of up to 100 entities is priced as one.

Cosmos DB request units: the emulator reports a flat 1 RU per request, so by default
the script prices Cosmos requests with the RU estimates in ``ESTIMATED_RU`` below;
with ``--cosmos-connection`` pointing at a real account it uses the charges the
service reports. Prices are the list prices in ``PRICES`` (edit them to your region
and offer); the figures for a deployment also depend on how often clients poll.

    .venv/bin/python bench/cost.py --jobs 50
    .venv/bin/python bench/cost.py --jobs 50 --separate-submitter
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dtq.host.catalog import QueueFunction, build_catalog, load_app  # noqa: E402
from dtq.host.config import HostConfig  # noqa: E402
from dtq.host.listener import QueueListener  # noqa: E402
from functions.runtime import install  # noqa: E402
from shared.adapters.azure.servicebus_queue import ServiceBusJobQueue  # noqa: E402
from shared.composition import Runtime  # noqa: E402
from shared.retries import RetryPolicy  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.submissions import Submission  # noqa: E402
from shared.usage import Meter  # noqa: E402

Details = dict[tuple[str, str], int]
from tests.support.emulators import Azurite, CosmosServer  # noqa: E402
from tests.support.servicebus_fake import FakeNamespace  # noqa: E402

#: US dollars, pay-as-you-go list prices (East US) as published by Azure in 2025;
#: check https://azure.microsoft.com/pricing/calculator/ for yours.
PRICES = {
    # Service Bus Standard: per million operations between 13 M and 100 M a month
    # (the first 13 M are included in the base charge of about $10 a month; $0.50 per
    # million from 100 M to 2,500 M).
    "servicebus_per_million_ops": 0.80,
    # Table storage (general-purpose v2, LRS): $0.00036 per 10,000 transactions.
    "table_per_million_transactions": 0.036,
    # Cosmos DB serverless: per million request units.
    "cosmos_per_million_ru": 0.25,
    # Functions Flex Consumption, on demand: per million executions.
    "functions_per_million_executions": 0.40,
}

#: Request units per Cosmos DB request when the server does not report real ones:
#: a point read of an item up to 1 KB costs 1 RU (Microsoft's reference figure); an
#: insert of such an item with indexing off (the results container indexes nothing)
#: costs about 5 RU. Larger items cost more.
ESTIMATED_RU = {"GET": 1.0, "POST": 5.0, "PUT": 5.0, "DELETE": 5.0}


@dataclass(frozen=True)
class Scenario:
    name: str
    job_type: str
    payload: dict[str, Any]


SCENARIOS = [
    Scenario("echo, completed", "echo", {"message": "hello"}),
    Scenario("simulate 4 steps, completed", "simulate", {"duration_ms": 0, "steps": 4}),
    Scenario("simulate, 1 retry, completed", "simulate", {"duration_ms": 0, "fail_first": 1}),
    Scenario(
        "simulate, failed permanently", "simulate", {"fail_permanently": True, "duration_ms": 0}
    ),
]


def queue_function(settings: Settings) -> QueueFunction:
    catalog = build_catalog(load_app(ROOT), settings)
    return next(q for q in catalog.queues if q.queue_name == settings.jobs_queue)


def service_bus_queue(namespace: FakeNamespace, settings: Settings, runtime: Runtime) -> Any:
    queue = ServiceBusJobQueue(
        namespace.client(),
        settings.jobs_queue,
        lock_duration=60,
        max_delivery_count=settings.queue_max_delivery_count,
        usage=runtime.usage,
    )
    runtime.use_queue(queue)
    return queue


async def run_scenario(
    scenario: Scenario,
    jobs: int,
    settings: Settings,
    function: QueueFunction,
    separate_submitter: bool = False,
) -> tuple[dict[tuple[str, str], Meter], Details, Counter[str], int]:
    """Run ``jobs`` jobs and count what they used. By default one process submits them
    all, then runs them; with ``separate_submitter`` another process submits them while
    the first runs them, as the HTTP and the queue functions do on separate instances
    (both write the queued counters, so their transactions can refuse each other)."""
    namespace = FakeNamespace()
    namespace.create_queue(
        settings.jobs_queue, max_delivery_count=settings.queue_max_delivery_count
    )
    runtime = Runtime.from_settings(settings)
    queue = service_bus_queue(namespace, settings, runtime)
    submitter = runtime
    if separate_submitter:
        submitter = Runtime.from_settings(settings)
        service_bus_queue(namespace, settings, submitter)
    for rt in {id(runtime): runtime, id(submitter): submitter}.values():
        rt.usage.table_details = True  # read each transaction's body (bench only)
    worker = runtime.worker
    worker.backoffs = replace(worker.backoffs, retry=RetryPolicy(0.01, 0.05))  # due at once
    install(runtime)
    watcher = Runtime.from_settings(settings)  # reads job states; its reads are not a job's cost
    counted = [runtime] if submitter is runtime else [runtime, submitter]
    try:
        for rt in counted:
            await rt.status.ping()  # set-up: the table, the database, the container
            await rt.results.ping()
            rt.usage.reset()

        async def submit_all() -> list[str]:
            return [
                (
                    await submitter.submissions.submit(
                        "local", Submission(scenario.job_type, scenario.payload)
                    )
                ).job_id
                for _ in range(jobs)
            ]

        if not separate_submitter:
            ids = await submit_all()
        listener = QueueListener(function, queue, HostConfig(max_concurrent_calls=16))
        stop = asyncio.Event()
        listening = asyncio.create_task(listener.run(stop, grace=5))
        if separate_submitter:
            ids = await submit_all()
        states: Counter[str] = Counter()
        while True:
            states = Counter([(await watcher.status.get("local", i)).state.value for i in ids])
            if (
                sum(n for s, n in states.items() if s in ("completed", "failed", "cancelled"))
                == jobs
            ):
                break
            await asyncio.sleep(0.2)
        stop.set()
        await listening
        meters: dict[tuple[str, str], Meter] = {}
        details: Counter[tuple[str, str]] = Counter()
        for rt in counted:
            for key, m in rt.usage.snapshot().items():
                was = meters.get(key, Meter())
                meters[key] = Meter(was.calls + m.calls, was.units + m.units)
            details.update(rt.usage.details())
        return meters, dict(details), states, listener.invocations
    finally:
        install(None)
        for rt in {id(r): r for r in (runtime, submitter, watcher)}.values():
            with contextlib.suppress(Exception):
                await rt.close()


def cosmos_ru(meters: dict[tuple[str, str], Meter], real: bool) -> float:
    return sum(
        m.units if real else m.calls * ESTIMATED_RU.get(op, 5.0)
        for (service, op), m in meters.items()
        if service == "cosmos"
    )


def table_breakdown(meters: dict[tuple[str, str], Meter], details: Details, jobs: int) -> None:
    """What the Table requests did, per job: the index and counters' share (issue 21)."""

    def detail(name: str) -> float:
        return details.get(("table", name), 0) / jobs

    by_method = {op: m.calls / jobs for (s, op), m in meters.items() if s == "table"}
    transactions, failed = detail("transactions"), detail("transactions failed")
    reads = detail("counter reads")
    other = dict(by_method)
    other["POST"] = other.get("POST", 0.0) - transactions
    other["GET"] = other.get("GET", 0.0) - reads
    rest = ", ".join(f"{op} {n:.2f}" for op, n in sorted(other.items()) if round(n, 2))
    price = PRICES["table_per_million_transactions"]
    on_counter = detail("transactions failed on counter")
    on_row = detail("transactions failed on row")
    elsewhere = failed - on_counter - on_row
    print(
        f"Table requests per job: {transactions - failed:.2f} committed transactions"
        f" ($batch: job row, index rows, counters), {reads:.2f} counter reads,"
        f" {failed:.2f} refused transactions ({on_counter:.2f} on a counter, tried again;"
        f" {on_row:.2f} on the job row, the caller's answer"
        f"{f'; {elsewhere:.2f} elsewhere' if round(elsewhere, 2) else ''}), other"
        f" {sum(other.values()):.2f} ({rest or 'none'})"
    )
    written = {
        kind: detail(f"transaction operations on {kind}")
        - detail(f"failed transaction operations on {kind}")
        + detail(f"single writes on {kind}")
        for kind in ("row", "index", "counter")
    }
    single = sum(detail(f"single writes on {kind}") for kind in written)
    carried = (sum(written.values()) - single) / max(transactions - failed, 1e-9)
    print(
        f"entities written per job: {written['row']:.2f} job rows, {written['index']:.2f}"
        f" index rows, {written['counter']:.2f} counters"
        f" ({carried:.1f} per committed transaction)"
    )
    print(
        f"what the counters add per million jobs: counter reads ${reads * price:.3f},"
        f" transactions refused on a counter ${on_counter * price:.3f},"
        f" together ${(reads + on_counter) * price:.3f}"
    )


def report(
    scenario: Scenario,
    jobs: int,
    meters: dict[tuple[str, str], Meter],
    details: Details,
    states: Counter[str],
    invocations: int,
    real_cosmos: bool,
) -> float:
    print(f"\n## {scenario.name}: {jobs} jobs, {dict(states)}")
    print(f"{'operation':<28} {'per job':>8}")
    for (service, op), m in sorted(meters.items()):
        print(f"{service + ' ' + op:<28} {m.calls / jobs:>8.2f}")
    sb_ops = sum(m.calls for (s, _), m in meters.items() if s == "servicebus") / jobs
    table_tx = sum(m.calls for (s, _), m in meters.items() if s == "table") / jobs
    ru = cosmos_ru(meters, real_cosmos) / jobs
    executions = 1 + invocations / jobs  # the HTTP submit plus each trigger run
    cost = {
        "Service Bus": sb_ops * PRICES["servicebus_per_million_ops"],
        "Table storage": table_tx * PRICES["table_per_million_transactions"],
        "Cosmos DB": ru * PRICES["cosmos_per_million_ru"],
        "Functions executions": executions * PRICES["functions_per_million_executions"],
    }
    print(
        f"per job: {sb_ops:.2f} Service Bus ops, {table_tx:.2f} Table transactions, "
        f"{ru:.1f} RU{'' if real_cosmos else ' (estimated)'}, {executions:.2f} executions"
    )
    table_breakdown(meters, details, jobs)
    print(f"{'cost per million jobs (USD)':<28} {'':>8}")
    for name, usd in cost.items():
        print(f"{name:<28} {usd:>8.2f}")
    total = sum(cost.values())
    print(f"{'total':<28} {total:>8.2f}")
    return total


async def run(jobs: int, cosmos_connection: str | None, separate_submitter: bool = False) -> None:
    azurite = Azurite().start()
    cosmos = None if cosmos_connection else CosmosServer().start()
    try:
        settings = Settings.load(
            None,
            data_dir=Path("/tmp/dtq-cost-bench"),
            status_backend="table",
            table_connection=azurite.connection_string,
            result_backend="cosmos",
            cosmos_connection=cosmos_connection or cosmos.connection_string,  # type: ignore[union-attr]
        )
        function = queue_function(settings)
        totals = []
        for scenario in SCENARIOS:
            meters, details, states, invocations = await run_scenario(
                scenario, jobs, settings, function, separate_submitter
            )
            real = bool(cosmos_connection)
            totals.append(
                (scenario.name, report(scenario, jobs, meters, details, states, invocations, real))
            )
        print("\n| scenario | USD per million jobs |\n|---|---|")
        for name, total in totals:
            print(f"| {name} | {total:.2f} |")
    finally:
        azurite.stop()
        if cosmos is not None:
            cosmos.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument(
        "--cosmos-connection",
        help="a real Cosmos DB account's connection string, to use its reported RU charges",
    )
    parser.add_argument(
        "--separate-submitter",
        action="store_true",
        help="submit the jobs from another process while they run (counter races happen)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # failed jobs are expected here; keep the tables
    asyncio.run(run(args.jobs, args.cosmos_connection, args.separate_submitter))


if __name__ == "__main__":
    main()
