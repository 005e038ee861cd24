"""The job state machine: every pair of states, legal or not."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta

import pytest

from shared.constants import MAX_STAGE_CHARS
from shared.errors import IllegalTransition
from shared.jobs import (
    TERMINAL_STATES,
    TRANSITIONS,
    DeadLetter,
    Job,
    JobState,
    lease_timing,
    new_job_id,
)


def job_in(state: JobState) -> Job:
    return Job.new(tenant_id="t", job_type="echo", payload={}, max_attempts=3).model_copy(
        update={"state": state}
    )


LEGAL = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}


@pytest.mark.parametrize(("source", "target"), sorted(LEGAL))
def test_legal_transitions(source: JobState, target: JobState) -> None:
    moved = job_in(source).moved_to(target)
    assert moved.state is target
    assert (moved.finished_at is not None) == target.terminal


@pytest.mark.parametrize(
    ("source", "target"),
    sorted(set(itertools.product(JobState, JobState)) - LEGAL),
)
def test_illegal_transitions_are_refused(source: JobState, target: JobState) -> None:
    with pytest.raises(IllegalTransition) as info:
        job_in(source).moved_to(target)
    assert (info.value.current, info.value.target) == (source.value, target.value)


def test_terminal_states_have_no_way_out_but_a_requeue_of_a_failed_job() -> None:
    assert {s for s in JobState if not TRANSITIONS[s]} == {JobState.COMPLETED, JobState.CANCELLED}
    assert {JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED} == TERMINAL_STATES
    assert TRANSITIONS[JobState.FAILED] == {JobState.QUEUED}


def test_a_requeued_job_forgets_its_dead_letter_but_keeps_its_history() -> None:
    failed = job_in(JobState.RUNNING).moved_to(JobState.FAILED, progress=40)
    failed = failed.model_copy(
        update={
            "dead_letter": DeadLetter(
                reason="MaxAttemptsExceeded", description="x", at=failed.updated_at
            ),
            "errors": [failed.failure("E", "boom", retryable=True, now=failed.updated_at)],
        }
    )
    again = failed.moved_to(JobState.QUEUED)
    assert again.dead_letter is None and again.finished_at is None and again.progress == 0
    assert len(again.errors) == 1, "the failed attempts stay on record"


def test_the_expected_paths_exist() -> None:
    assert JobState.RUNNING in TRANSITIONS[JobState.QUEUED]
    assert JobState.RETRYING in TRANSITIONS[JobState.RUNNING]
    assert JobState.RUNNING in TRANSITIONS[JobState.RETRYING]
    assert JobState.QUEUED in TRANSITIONS[JobState.SCHEDULED]
    assert JobState.COMPLETED not in TRANSITIONS[JobState.QUEUED], "must run before completing"


def test_completion_sets_progress_100_and_clears_next_attempt() -> None:
    running = job_in(JobState.RUNNING).model_copy(update={"progress": 40})
    done = running.moved_to(JobState.COMPLETED)
    assert done.progress == 100 and done.next_attempt_at is None
    failed = running.moved_to(JobState.FAILED)
    assert failed.progress == 40, "a failed job keeps the progress it reached"


def test_moved_to_returns_a_copy() -> None:
    queued = job_in(JobState.QUEUED)
    queued.moved_to(JobState.RUNNING)
    assert queued.state is JobState.QUEUED


def test_progress_is_monotonic_and_clamped() -> None:
    job = job_in(JobState.RUNNING)
    job = job.with_progress(30, "a")
    assert (job.progress, job.stage) == (30, "a")
    job = job.with_progress(10, "b")
    assert (job.progress, job.stage) == (30, "b"), "progress never goes backwards"
    assert job.with_progress(250, None).progress == 100
    assert job.with_progress(-5, None).progress == 30
    assert job.with_progress(50, None).stage == "b", "None keeps the stage"
    assert len(job.with_progress(50, "x" * 1000).stage) == MAX_STAGE_CHARS


@pytest.mark.parametrize("state", [s for s in JobState if s is not JobState.RUNNING])
def test_progress_only_while_running(state: JobState) -> None:
    with pytest.raises(IllegalTransition):
        job_in(state).with_progress(10, "x")


def test_job_ids_sort_by_creation_time_and_are_unique() -> None:
    ids = []
    for _ in range(5):
        ids.append(new_job_id())
        time.sleep(0.002)
    assert ids == sorted(ids)
    many = {new_job_id() for _ in range(5000)}
    assert len(many) == 5000
    assert all(len(i) == 26 and i == i.lower() for i in ids)


def test_trace_ids_are_w3c_shaped() -> None:
    job = job_in(JobState.QUEUED)
    assert len(job.trace_id) == 32 and int(job.trace_id, 16) != 0


def test_public_shape_hides_the_etag() -> None:
    job = job_in(JobState.QUEUED).model_copy(update={"etag": "7"})
    public = job.to_public()
    assert "etag" not in public
    assert public["state"] == "queued" and public["created_at"].endswith("Z")


@pytest.mark.parametrize("target", sorted(TRANSITIONS[JobState.RUNNING] - {JobState.RUNNING}))
def test_leaving_running_ends_the_lease(target: JobState) -> None:
    until = datetime.now(UTC) + timedelta(seconds=60)
    running = job_in(JobState.RUNNING).model_copy(
        update={"lease_until": until, "lease_holder": "run-1"}
    )
    moved = running.moved_to(target)
    assert (moved.lease_until, moved.lease_holder) == (None, None)
    taken = running.moved_to(JobState.RUNNING, lease_until=until, lease_holder="run-2")
    assert (taken.lease_until, taken.lease_holder) == (until, "run-2")


@pytest.mark.parametrize("state", [s for s in JobState if s is not JobState.RUNNING])
def test_only_a_running_job_has_its_lease_moved(state: JobState) -> None:
    with pytest.raises(IllegalTransition):
        job_in(state).with_lease(datetime.now(UTC))


def test_renewing_a_lease_is_not_a_change_of_the_job() -> None:
    running = job_in(JobState.RUNNING)
    later = datetime.now(UTC) + timedelta(seconds=60)
    renewed = running.with_lease(later)
    assert renewed.lease_until == later and renewed.updated_at == running.updated_at


def test_lease_timing_defaults_to_the_queue_lock_and_refuses_a_renewal_past_it() -> None:
    assert lease_timing(30) == (60, 15)
    assert lease_timing(30, lease_seconds=20) == (20, 5)
    assert lease_timing(30, lease_seconds=20, renew_seconds=8) == (20, 8)
    with pytest.raises(ValueError, match="renew interval"):
        lease_timing(30, lease_seconds=10, renew_seconds=10)


def test_the_http_clients_terminal_states_are_the_servers() -> None:
    """dtq/client.py keeps its own copy (it is installed without the app's modules)."""
    from dtq.client import TERMINAL

    assert {s.value for s in TERMINAL_STATES} == TERMINAL
