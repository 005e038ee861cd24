"""The local host's settlement rules, in process, on the real SQLite queue."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from dtq.host.catalog import QueueFunction
from dtq.host.config import HostConfig
from dtq.host.listener import QueueListener
from shared.adapters.sqlite import Database, SqliteJobQueue
from shared.ports import OutgoingMessage
from shared.settings import host_json_overrides


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[SqliteJobQueue]:
    db = Database(tmp_path / "q.sqlite3")
    q = SqliteJobQueue(db, "jobs", lock_duration=0.6, max_delivery_count=3)
    yield q
    await q.close()
    db.close()


def listener_for(queue: SqliteJobQueue, fn: Callable[..., Any], **config: Any) -> QueueListener:
    function = QueueFunction(
        name=fn.__name__, queue_name="jobs", connection="c", arg_name="msg", fn=fn
    )
    return QueueListener(function, queue, replace(HostConfig(), **config))


async def run_until(
    listener: QueueListener, condition: Callable[[], bool], timeout: float = 10
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop, grace=1))
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task


async def test_returning_completes_the_message(queue: SqliteJobQueue) -> None:
    seen: list[tuple[bytes, int, str]] = []

    async def fn(msg: func.ServiceBusMessage) -> None:
        seen.append((msg.get_body(), msg.delivery_count, msg.application_properties["k"]))

    await queue.send([OutgoingMessage("m1", b"body", {"k": "v"})])
    await run_until(listener_for(queue, fn), lambda: bool(seen))
    assert seen == [(b"body", 1, "v")]
    depth = await queue.depth()
    assert (depth.active, depth.dead_lettered) == (0, 0)


async def test_sync_functions_run_too(queue: SqliteJobQueue) -> None:
    seen: list[str] = []

    def fn(msg: func.ServiceBusMessage) -> None:
        seen.append(msg.message_id)

    await queue.send([OutgoingMessage("sync-1", b"x")])
    await run_until(listener_for(queue, fn), lambda: bool(seen))
    assert seen == ["sync-1"]


async def test_raising_abandons_until_dead_lettered(queue: SqliteJobQueue) -> None:
    deliveries: list[int] = []

    async def fn(msg: func.ServiceBusMessage) -> None:
        deliveries.append(msg.delivery_count)
        raise RuntimeError("boom")

    await queue.send([OutgoingMessage("poison", b"x")])
    listener = listener_for(queue, fn)
    await run_until(listener, lambda: len(deliveries) == 3 and not listener.in_flight)
    assert (await queue.depth()).dead_lettered == 1
    assert deliveries == [1, 2, 3], "abandoned at once each time, then dead-lettered"
    [letter] = await queue.peek_dead_letters()
    assert letter.dead_letter_reason == "MaxDeliveryCountExceeded"


async def test_lock_is_renewed_while_the_function_runs(queue: SqliteJobQueue) -> None:
    calls: list[int] = []

    async def fn(msg: func.ServiceBusMessage) -> None:
        calls.append(msg.delivery_count)
        await asyncio.sleep(2.0)  # more than three lock durations

    await queue.send([OutgoingMessage("long", b"x")])
    listener = listener_for(queue, fn)
    await run_until(listener, lambda: bool(calls) and not listener.in_flight, timeout=10)
    assert calls == [1], "renewal kept the message from being delivered again"
    assert (await queue.depth()).active == 0


async def test_function_timeout_abandons(queue: SqliteJobQueue) -> None:
    calls: list[int] = []

    async def fn(msg: func.ServiceBusMessage) -> None:
        calls.append(msg.delivery_count)
        if msg.delivery_count == 1:
            await asyncio.sleep(5)

    await queue.send([OutgoingMessage("slow", b"x")])
    listener = listener_for(queue, fn, function_timeout=0.3)
    await run_until(listener, lambda: calls == [1, 2] and not listener.in_flight)
    assert (await queue.depth()).active == 0


async def test_concurrency_is_capped_by_max_concurrent_calls(queue: SqliteJobQueue) -> None:
    running = 0
    peak = 0
    done = 0

    async def fn(msg: func.ServiceBusMessage) -> None:
        nonlocal running, peak, done
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        done += 1

    await queue.send([OutgoingMessage(f"m{i}", b"x") for i in range(20)])
    await run_until(listener_for(queue, fn, max_concurrent_calls=3), lambda: done == 20)
    assert peak == 3


async def test_shutdown_abandons_what_outlives_the_grace_period(queue: SqliteJobQueue) -> None:
    started = asyncio.Event()

    async def fn(msg: func.ServiceBusMessage) -> None:
        started.set()
        await asyncio.sleep(30)

    await queue.send([OutgoingMessage("stuck", b"x")])
    listener = listener_for(queue, fn)
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop, grace=0.2))
    await asyncio.wait_for(started.wait(), 5)
    stop.set()
    await asyncio.wait_for(task, 5)
    # Abandoned, not waiting for its lock to expire: receivable at once, delivery 2 next.
    [again] = await queue.receive(max_messages=1, max_wait=0.2)
    assert again.message_id == "stuck" and again.delivery_count == 2


def test_app_settings_override_host_json_as_in_the_functions_host(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text(
        json.dumps(
            {
                "functionTimeout": "00:11:00",
                "extensions": {
                    "serviceBus": {
                        "maxAutoLockRenewalDuration": "00:11:00",
                        "maxConcurrentCalls": 16,
                    }
                },
            }
        )
    )
    config = HostConfig.load(
        tmp_path,
        {
            "AzureFunctionsJobHost__extensions__serviceBus__maxAutoLockRenewalDuration": "00:00:02",
            "azurefunctionsjobhost__Extensions__SERVICEBUS__maxConcurrentCalls": "3",
            "AzureFunctionsJobHost__functionTimeout": "00:00:30",
            "DTQ_QUEUE_LOCK_SECONDS": "1",
        },
    )
    assert (config.max_auto_lock_renewal, config.max_concurrent_calls) == (2.0, 3)
    assert config.function_timeout == 30.0
    assert HostConfig.load(tmp_path).max_auto_lock_renewal == 660.0


def test_host_json_overrides_come_from_the_environment_over_local_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "AzureFunctionsJobHost__extensions__serviceBus__maxAutoLockRenewalDuration"
    local = tmp_path / "local.settings.json"
    local.write_text(
        json.dumps(
            {
                "Values": {
                    name: "00:00:05",
                    "AzureFunctionsJobHost__functionTimeout": "00:01:00",
                    "DTQ_LOG_LEVEL": "DEBUG",
                }
            }
        )
    )
    monkeypatch.setenv(name, "00:00:02")
    assert host_json_overrides(local) == {
        name: "00:00:02",
        "AzureFunctionsJobHost__functionTimeout": "00:01:00",
    }
