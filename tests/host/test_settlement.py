"""The app's own queue trigger (functions/run_job.py) run by the local host's listener
on the SQLite queue: settlement is the Functions host's (complete on return, abandon on
raise, dead-letter only past maxDeliveryCount), whatever the job's outcome."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from dtq.host.catalog import QueueFunction
from dtq.host.config import HostConfig
from dtq.host.listener import QueueListener
from functions.run_job import bp as run_job_bp
from shared.composition import Runtime
from shared.jobs import JobState
from shared.jobtypes import JobContext, default_registry
from shared.jobtypes.errors import PermanentJobError
from shared.messages import JobMessage
from shared.ports import JobQueue, OutgoingMessage
from shared.settings import Settings
from shared.submissions import Submission
from tests.support.triggers import Nothing, installed, user_function

MAX_DELIVERIES = 3


class Setup:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.queue: JobQueue = runtime.queue(runtime.settings.jobs_queue)
        self.runs: list[int] = []
        #: Every dead_letter call made on the queue (the listener must make none).
        self.dead_letter_calls: list[str] = []


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    registry = default_registry()
    made: Setup | None = None

    async def refuse(payload: Nothing, ctx: JobContext) -> None:
        assert made is not None
        made.runs.append(ctx.attempt)
        raise PermanentJobError("cannot ever work")

    registry.register("refuse", Nothing, refuse)
    settings = Settings.load(
        None, data_dir=tmp_path, queue_max_delivery_count=MAX_DELIVERIES, queue_lock_seconds=5
    )
    runtime = Runtime.from_settings(settings, registry=registry)
    made = Setup(runtime)
    real_dead_letter = made.queue.dead_letter

    async def spy(message: Any, *args: Any, **kwargs: Any) -> None:
        made.dead_letter_calls.append(message.message_id)
        await real_dead_letter(message, *args, **kwargs)

    made.queue.dead_letter = spy  # type: ignore[method-assign]
    async with installed(runtime):
        yield made


async def listen_until(setup: Setup, condition: Callable[[], Any], timeout: float = 10) -> None:
    function = QueueFunction(
        name="run_job",
        queue_name=setup.runtime.settings.jobs_queue,
        connection="ServiceBusConnection",
        arg_name="msg",
        fn=user_function(run_job_bp, "run_job"),
    )
    listener = QueueListener(function, setup.queue, HostConfig())
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop, grace=1))
    try:
        async with asyncio.timeout(timeout):
            while not await condition() or listener.in_flight:
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task


async def test_a_permanent_failure_fails_the_job_and_completes_its_message(setup: Setup) -> None:
    job = await setup.runtime.submissions.submit("local", Submission("refuse", {}, max_attempts=5))

    async def settled() -> bool:
        depth = await setup.queue.depth()
        return depth.active + depth.scheduled == 0

    await listen_until(setup, settled)
    failed = await setup.runtime.status.get("local", job.job_id)
    assert failed.state is JobState.FAILED and failed.attempt == 1 and setup.runs == [1]
    assert failed.dead_letter is not None and failed.dead_letter.reason == "PermanentFailure"
    assert failed.delivery_count == 1, "completed on its first delivery, not abandoned"
    assert (await setup.queue.depth()).dead_lettered == 0, "dtq's DLQ is the job record"
    assert setup.dead_letter_calls == []


async def test_a_redelivery_of_an_attempt_that_failed_the_job_is_completed(setup: Setup) -> None:
    job = await setup.runtime.submissions.submit("local", Submission("refuse", {}, max_attempts=1))

    async def failed() -> bool:
        return (await setup.runtime.status.get("local", job.job_id)).state is JobState.FAILED

    await listen_until(setup, failed)
    # The same attempt once more (as after a crash before its message was settled).
    again = JobMessage(job.job_id, "local", 1).outgoing(message_id="again")
    await setup.queue.send([again])

    async def drained() -> bool:
        depth = await setup.queue.depth()
        return depth.active + depth.scheduled == 0

    await listen_until(setup, drained)
    assert setup.runs == [1], "nothing ran again"
    assert (await setup.queue.depth()).dead_lettered == 0
    assert setup.dead_letter_calls == []


async def test_a_poison_message_is_abandoned_until_the_queue_dead_letters_it(
    setup: Setup,
) -> None:
    await setup.queue.send([OutgoingMessage("poison-1", b"{not json")])

    async def dead() -> bool:
        return (await setup.queue.depth()).dead_lettered == 1

    await listen_until(setup, dead)
    [letter] = await setup.queue.peek_dead_letters()
    assert letter.message_id == "poison-1"
    assert letter.dead_letter_reason == "MaxDeliveryCountExceeded"
    assert letter.delivery_count == MAX_DELIVERIES, "delivered and abandoned each time"
    assert setup.dead_letter_calls == [], "the queue dead-lettered it, not the listener"
