"""Property tests: the state machine and the SQLite queue under random operation sequences."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from shared.adapters.sqlite import Database, SqliteJobQueue
from shared.control import MessageLockLost
from shared.errors import IllegalTransition
from shared.jobs import TRANSITIONS, Job, JobState
from shared.ports import OutgoingMessage, ReceivedMessage

# --- state machine ----------------------------------------------------------------


@given(
    st.lists(
        st.one_of(
            st.sampled_from(list(JobState)).map(lambda s: ("move", s)),
            st.integers(-50, 150).map(lambda p: ("progress", p)),
        ),
        max_size=30,
    )
)
def test_any_sequence_of_changes_keeps_the_state_machine_invariants(steps: list) -> None:  # type: ignore[type-arg]
    job = Job.new(tenant_id="t", job_type="echo", payload={}, max_attempts=3)
    for kind, value in steps:
        before = job
        try:
            job = job.moved_to(value) if kind == "move" else job.with_progress(value, "s")
        except IllegalTransition:
            if kind == "move":
                assert value not in TRANSITIONS[before.state]
            else:
                assert before.state is not JobState.RUNNING
            assert job is before
            continue
        if kind == "move":
            assert value in TRANSITIONS[before.state], "an illegal move was allowed"
            assert not before.terminal or (before.state, value) == (
                JobState.FAILED,
                JobState.QUEUED,
            ), "a terminal job changed state (other than a requeue)"
        else:
            assert job.progress >= before.progress, "progress went backwards"
        assert 0 <= job.progress <= 100
        assert (job.finished_at is not None) == job.terminal
        if job.state is JobState.COMPLETED:
            assert job.progress == 100


# --- the SQLite queue against a model ------------------------------------------------

LOCK = 10.0
MAX_DELIVERIES = 3


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class QueueMachine(RuleBasedStateMachine):
    """Random interleavings of send, receive, complete, abandon, renew and lock expiry.

    The model tracks each message's visibility, delivery count and holder; the queue must
    agree with it after every step, lose nothing, and never hand out a message twice."""

    held = Bundle("held")

    @initialize()
    def start(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.clock = Clock()
        self.loop = asyncio.new_event_loop()
        self.db = Database(Path(self.tmp.name) / "q.sqlite3")
        self.queue = SqliteJobQueue(
            self.db, "q", lock_duration=LOCK, max_delivery_count=MAX_DELIVERIES, clock=self.clock
        )
        self.sent = 0
        # message id -> (visible_at, delivery_count, lock token or None)
        self.model: dict[str, tuple[float, int, str | None]] = {}
        self.completed: set[str] = set()
        self.dead: set[str] = set()

    def teardown(self) -> None:
        if hasattr(self, "db"):
            self.db.close()
            self.loop.close()
            self.tmp.cleanup()

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    @rule(delay=st.sampled_from([None, 0.0, 5.0, 30.0]))
    def send(self, delay: float | None) -> None:
        from datetime import UTC, datetime

        message_id = f"m{self.sent}"
        self.sent += 1
        at = None if delay is None else datetime.fromtimestamp(self.clock.now + delay, UTC)
        self.run(self.queue.send([OutgoingMessage(message_id, b"x", scheduled_enqueue_time=at)]))
        self.model[message_id] = (self.clock.now + (delay or 0.0), 0, None)

    @rule(target=held, n=st.integers(1, 4))
    def receive(self, n: int):  # type: ignore[no-untyped-def]
        now = self.clock.now
        ready = sorted(
            (visible, int(mid[1:]), mid)
            for mid, (visible, _, _) in self.model.items()
            if visible <= now
        )
        expected: list[str] = []
        for _, _, mid in ready[:n]:
            if self.model[mid][1] >= MAX_DELIVERIES:
                del self.model[mid]
                self.dead.add(mid)
            else:
                expected.append(mid)
        got = self.run(self.queue.receive(n, max_wait=0))
        assert [m.message_id for m in got] == expected
        for m in got:
            _, count, _ = self.model[m.message_id]
            assert m.delivery_count == count + 1
            self.model[m.message_id] = (now + LOCK, count + 1, m.lock_token)
        return got[0] if got else None

    def _is_held(self, m: ReceivedMessage | None) -> bool:
        if m is None or m.message_id not in self.model:
            return False
        visible, _, token = self.model[m.message_id]
        return token == m.lock_token and visible > self.clock.now

    @rule(m=consumes(held))
    def complete(self, m: ReceivedMessage | None) -> None:
        if m is None:
            return
        if self._is_held(m):
            self.run(self.queue.complete(m))
            del self.model[m.message_id]
            self.completed.add(m.message_id)
        else:
            with pytest.raises(MessageLockLost):
                self.run(self.queue.complete(m))

    @rule(m=consumes(held))
    def abandon(self, m: ReceivedMessage | None) -> None:
        if m is None:
            return
        if self._is_held(m):
            self.run(self.queue.abandon(m))
            _, count, _ = self.model[m.message_id]
            if count >= MAX_DELIVERIES:
                del self.model[m.message_id]
                self.dead.add(m.message_id)
            else:
                self.model[m.message_id] = (self.clock.now, count, None)
        else:
            with pytest.raises(MessageLockLost):
                self.run(self.queue.abandon(m))

    @rule(m=held)
    def renew(self, m: ReceivedMessage | None) -> None:
        if m is None:
            return
        if self._is_held(m):
            self.run(self.queue.renew_lock(m))
            _, count, token = self.model[m.message_id]
            self.model[m.message_id] = (self.clock.now + LOCK, count, token)
        else:
            with pytest.raises(MessageLockLost):
                self.run(self.queue.renew_lock(m))

    @rule(seconds=st.sampled_from([1.0, 6.0, 11.0, 31.0]))
    def time_passes(self, seconds: float) -> None:
        self.clock.now += seconds

    @precondition(lambda self: hasattr(self, "queue"))
    @invariant()
    def nothing_is_lost(self) -> None:
        depth = self.run(self.queue.depth())
        assert depth.active + depth.scheduled == len(self.model)
        assert depth.dead_lettered == len(self.dead)
        assert len(self.model) + len(self.completed) + len(self.dead) == self.sent
        dead = {m.message_id for m in self.run(self.queue.peek_dead_letters(100))}
        assert dead == self.dead


QueueMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_sqlite_queue_keeps_its_invariants = QueueMachine.TestCase
