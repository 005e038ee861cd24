"""Operations each backend performs per job, counted on a real run.

Runs JOBS jobs through JobService and Worker in one process, the way the hosts do
(submit; receive, handle, complete), with status in Azurite (Table storage), results
in the Cosmos DB server, and the queue on the in-memory Service Bus namespace of the
tests (its operation counts are those the SDK would send to a namespace). Table and
Cosmos requests are counted at the HTTP transport, so retries and set-up calls count
too; set-up (table and container creation) is reported apart.

    .venv/bin/python bench/operations.py --jobs 50
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from azure.core.pipeline.transport import AioHttpTransport  # noqa: E402

from shared.adapters.azure.servicebus_queue import ServiceBusJobQueue  # noqa: E402
from shared.messages import Delivery, JobMessage  # noqa: E402
from shared.runtime import Runtime  # noqa: E402
from shared.service import Submission  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.support.emulators import Azurite, CosmosServer  # noqa: E402
from tests.support.servicebus_fake import FakeNamespace  # noqa: E402

requests: Counter[str] = Counter()
_send = AioHttpTransport.send


async def counting_send(self: Any, request: Any, **kwargs: Any) -> Any:
    requests[
        f"{request.method} {request.url.split('?')[0].rsplit(':', 1)[-1].split('/', 1)[0]}"
    ] += 1
    return await _send(self, request, **kwargs)


AioHttpTransport.send = counting_send  # type: ignore[method-assign]


def by_service(ports: dict[str, str]) -> Counter[str]:
    out: Counter[str] = Counter()
    for key, n in requests.items():
        method, port = key.split(" ")
        out[f"{ports.get(port, port)} {method}"] += n
    return out


async def run(jobs: int, job_type: str, payload: dict[str, Any]) -> None:
    azurite, cosmos = Azurite().start(), CosmosServer().start()
    ports = {str(azurite.port): "table", str(cosmos.port): "cosmos"}
    try:
        settings = Settings.load(
            None,
            data_dir=Path("/tmp/dtq-ops-bench"),
            status_backend="table",
            table_connection=azurite.connection_string,
            result_backend="cosmos",
            cosmos_connection=cosmos.connection_string,
        )
        namespace = FakeNamespace()
        namespace.create_queue(settings.jobs_queue)
        runtime = Runtime.from_settings(settings)
        fake = namespace.client()
        queue = ServiceBusJobQueue(
            fake, settings.jobs_queue, lock_duration=60, max_delivery_count=10, admin=fake
        )
        runtime.service.queue = runtime.worker.queue = queue

        await runtime.status.ping()  # set-up: create the table, the database, the container
        await runtime.results.ping()
        setup = by_service(ports)
        requests.clear()
        namespace.operations.clear()

        for _ in range(jobs):
            await runtime.service.submit("local", Submission(job_type, payload))
        done = 0
        while done < jobs:
            for message in await queue.receive(16, max_wait=1):
                decoded = JobMessage.decode(message.body, message.application_properties)
                await runtime.worker.handle(
                    Delivery(decoded, message.message_id, message.delivery_count)
                )
                await queue.complete(message)
                done += 1
        counted = by_service(ports)
        servicebus = dict(namespace.operations)
        listed = await runtime.status.list("local", limit=jobs)
        states = Counter(j.state.value for j in listed.items)
        await runtime.close()
    finally:
        azurite.stop()
        cosmos.stop()

    print(f"{jobs} {job_type} jobs {payload}: {dict(states)}")
    print(f"set-up requests (once per process): {dict(setup)}")
    print(f"{'backend operation':<28} {'total':>7} {'per job':>8}")
    rows = sorted(counted.items())
    rows += [(f"servicebus {k}", v) for k, v in sorted(servicebus.items())]
    for name, total in rows:
        print(f"{name:<28} {total:>7} {total / jobs:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(run(args.jobs, "echo", {"message": "hi"}))
    requests.clear()
    asyncio.run(run(args.jobs, "simulate", {"duration_ms": 0, "steps": 4}))


if __name__ == "__main__":
    main()
