"""A job on the Service Bus adapter, run as the local host runs it with
``DTQ_QUEUE_BACKEND=servicebus``: the worker trigger gets each message through the
listener's ``to_binding``. The SDK counts deliveries from 0, dtq from 1."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from dtq.host.listener import to_binding
from functions.run_job import bp as run_job_bp
from shared.jobs import JobState
from shared.submissions import Submission
from tests.support.triggers import Nothing, on_servicebus, user_function


async def test_a_redelivery_after_a_crash_is_delivery_2_and_takes_the_job_over(
    tmp_path: Path,
) -> None:
    first_run_started = asyncio.Event()
    runs: list[int] = []

    async def hangs_first_time(payload: Nothing, ctx: Any) -> dict[str, int]:
        runs.append(ctx.attempt)
        if len(runs) == 1:
            first_run_started.set()
            await asyncio.Event().wait()  # the process dies in here
        return {"runs": len(runs)}

    run_job = user_function(run_job_bp, "run_job")
    async with on_servicebus(
        tmp_path, "hangs", hangs_first_time, lock_duration=0.3, max_delivery_count=5
    ) as (rt, queue):
        job = await rt.submissions.submit("local", Submission("hangs", {}))
        [first] = await queue.receive(1, max_wait=1)
        assert first.delivery_count == 1
        crashed = asyncio.create_task(run_job(to_binding(first)))
        await asyncio.wait_for(first_run_started.wait(), 5)
        crashed.cancel()  # no settlement, no lock renewal: the lock expires
        with contextlib.suppress(asyncio.CancelledError):
            await crashed
        assert (await rt.status.get("local", job.job_id)).state is JobState.RUNNING

        [second] = await queue.receive(1, max_wait=2)
        assert second.message_id == first.message_id
        assert second.delivery_count == 2
        await run_job(to_binding(second))
        await queue.complete(second)

        done = await rt.status.get("local", job.job_id)
        assert done.state is JobState.COMPLETED, "the redelivery took the attempt over"
        assert (done.attempt, done.delivery_count, runs) == (1, 2, [1, 1])
