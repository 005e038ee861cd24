"""One run of an attempt at a time, on the local host: a job runs longer than the lock
renewal cap plus the lock duration, so its message is delivered again while it runs
(as the Functions host would deliver it), and the attempt still runs exactly once."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pytest

from tests.support.api import Api
from tests.support.processes import JOB_MESSAGES, running_host

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: The lock is renewed for 2 s (the Functions host's app-setting override of host.json),
#: a lock lasts 1 s (so the lease lasts 2 s, renewed every 0.5 s): the message comes
#: again about 3 s into a 7 s job.
RENEWAL_CAP, LOCK, JOB_SECONDS = 2, 1, 7
RENEWAL_OVERRIDE = "AzureFunctionsJobHost__extensions__serviceBus__maxAutoLockRenewalDuration"
ENV = {RENEWAL_OVERRIDE: f"00:00:0{RENEWAL_CAP}", "DTQ_QUEUE_LOCK_SECONDS": str(LOCK)}


def queued_messages(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "dtq.sqlite3") as db:
        return int(db.execute(JOB_MESSAGES).fetchone()[0])


def test_a_job_longer_than_the_lock_renewal_cap_runs_its_attempt_once(tmp_path: Path) -> None:
    assert JOB_SECONDS > RENEWAL_CAP + LOCK
    with (
        running_host(tmp_path, workers=2, env=ENV) as host,
        Api(host.base_url) as api,
    ):
        payload = {"duration_ms": JOB_SECONDS * 1000, "steps": JOB_SECONDS}
        job_id = api.submit("simulate", payload)["job_id"]
        done = api.wait(job_id, {"completed", "failed"}, timeout=JOB_SECONDS + 20)
        # The copies that waited for the lease come after the end, find the job done,
        # and are completed: the queue drains.
        deadline = time.monotonic() + 10
        while queued_messages(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert queued_messages(tmp_path) == 0
        after = api.get(job_id)
        metrics = api.http.get(f"{host.base_url}/api/metrics").text
        log = host.log()

    started = re.findall(rf"job {job_id} attempt (\d+) started", log)
    assert started == ["1"], f"one started run of attempt 1, not {started}"
    deferred = re.findall(rf"job {job_id} attempt 1 is leased by another run", log)
    assert deferred, "the message was delivered again while the attempt ran"
    assert f"job {job_id} attempt 1: its lease lapsed" not in log
    assert not re.search(rf"job {job_id} attempt 1 was settled elsewhere", log)
    assert done["state"] == "completed", done
    assert (done["attempt"], done["errors"], done["error"]) == (1, [], None)
    assert done["delivery_count"] == 1 and done["stage"] == "completed", "never taken over"
    assert after["updated_at"] == done["updated_at"], "nothing changed the job afterwards"
    assert done["lease_until"] is None and done["lease_holder"] is None

    assert re.search(r'^dtq_jobs_completed_total\{job_type="simulate"\} 1\.0$', metrics, re.M)
    runs = re.search(
        r'^dtq_job_run_seconds_count\{job_type="simulate",outcome="completed"\} (\S+)$',
        metrics,
        re.M,
    )
    assert runs and float(runs[1]) == 1.0, "one run finished"
