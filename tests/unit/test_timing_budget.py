"""The time limits that keep one run per attempt fit together, read from where they are
set: host.json (both hosts read it), the settings' defaults, and the queues' lockDuration
in infra/bicep/main.bicep (docs/retries.md, "Leases")."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dtq.host.config import parse_timespan
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]

#: Time the worker needs after a job's time limit to record the outcome (result, state,
#: retry message), beyond the outage backoff it may wait before handing a message back.
SETTLE_MARGIN_SECONDS = 30.0


def host_json() -> dict[str, float]:
    host = json.loads((ROOT / "host.json").read_text())
    bus = host["extensions"]["serviceBus"]
    return {
        "functionTimeout": parse_timespan(host["functionTimeout"]),
        "maxAutoLockRenewalDuration": parse_timespan(bus["maxAutoLockRenewalDuration"]),
    }


def bicep_lock_seconds() -> float:
    """The job queues' lockDuration as main.bicep passes it to modules/servicebus.bicep."""
    text = (ROOT / "infra" / "bicep" / "main.bicep").read_text()
    [duration] = re.findall(r"^var lockDuration = '(.+)'$", text, re.MULTILINE)
    if "${lockSeconds}" in duration:
        [seconds] = re.findall(r"^var lockSeconds = (\d+)$", text, re.MULTILINE)
        duration = duration.replace("${lockSeconds}", seconds)
    match = re.fullmatch(r"PT(?:(\d+)M)?(?:(\d+)S)?", duration)
    assert match, f"lockDuration {duration!r} is not PTnMnS"
    return int(match[1] or 0) * 60 + int(match[2] or 0)


def defaults() -> Settings:
    return Settings.model_construct()  # the defaults, without the environment


def test_a_job_and_its_settling_fit_in_one_function_invocation() -> None:
    settings = defaults()
    needed = (
        settings.job_timeout_seconds + settings.outage_backoff_max_seconds + SETTLE_MARGIN_SECONDS
    )
    assert needed <= host_json()["functionTimeout"], (
        "a job at its time limit, an outage wait and settling must end before the host"
        " cuts the invocation"
    )


def test_the_message_lock_is_held_for_the_whole_invocation() -> None:
    host = host_json()
    assert host["functionTimeout"] <= host["maxAutoLockRenewalDuration"], (
        "lock renewal must not stop while the function may still run, or the message is"
        " delivered again mid-run"
    )


def test_the_lease_is_renewed_well_within_itself() -> None:
    lease, renew = defaults().lease_timing
    assert renew < lease
    assert 2 * renew <= lease, "a run survives at least one missed renewal"


def test_the_queue_lock_outlasts_the_lease_renew_interval() -> None:
    lock = bicep_lock_seconds()
    settings = defaults()
    assert settings.queue_lock_seconds == lock, (
        "DTQ_QUEUE_LOCK_SECONDS (the embedded queue, and the default lease) matches Azure's"
    )
    _, renew = settings.lease_timing
    assert lock > renew


def test_the_bicep_reader_reads_what_main_bicep_deploys() -> None:
    text = (ROOT / "infra" / "bicep" / "main.bicep").read_text()
    assert "lockDuration: lockDuration" in text, "the job queues get main.bicep's lockDuration"
    assert "DTQ_QUEUE_LOCK_SECONDS: string(lockSeconds)" in text
