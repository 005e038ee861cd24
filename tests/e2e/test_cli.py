"""The ``dtq`` CLI against a running local host, as a user runs it: a child process
per command, the API's URL from DTQ_URL (or --url), output and exit codes checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import module_host
from tests.support.polling import wait_job
from tests.support.processes import ROOT, LocalHost, create_key, free_port, running_host

pytestmark = pytest.mark.e2e


cli_host = module_host("dtq-cli", {"DTQ_CANCEL_CHECK_SECONDS": "0.5"})


def dtq(
    host: LocalHost | None, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DTQ_")}
    environment["DTQ_CONFIG"] = "/nonexistent/dtq.toml"  # nothing from the user's own config
    if host is not None:
        environment["DTQ_URL"] = host.base_url
    return subprocess.run(
        [sys.executable, "-m", "dtq.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        input=stdin,
        env={**environment, **(env or {})},
    )


#: Submit a job that fails for good on its only attempt (into the DLQ), as JSON.
FAILS_AT_ONCE = (
    "submit",
    "simulate",
    '{"duration_ms": 10, "fail_permanently": true}',
    "--max-attempts",
    "1",
    "--json",
)


def test_submit_and_watch_to_completion(cli_host: LocalHost) -> None:
    # A second per step: while the job moves, the watch reads every 0.25-0.6 s.
    done = dtq(
        cli_host, "submit", "simulate", "--set", "duration_ms=3000", "--set", "steps=3", "--watch"
    )
    assert done.returncode == 0, done.stderr
    running = [line for line in done.stdout.splitlines() if "running" in line]
    assert any(" 33%" in line for line in running), f"a line per progress change: {running}"
    assert any(" 67%" in line for line in running), f"a line per progress change: {running}"
    assert "completed after" in done.stdout
    assert '"steps": 3' in done.stdout, "the result is printed"


def test_watch_exit_codes_say_how_the_job_ended(cli_host: LocalHost) -> None:
    job_id = json.loads(dtq(cli_host, *FAILS_AT_ONCE).stdout)["job_id"]
    watched = dtq(cli_host, "watch", job_id)
    assert watched.returncode == 1, watched.stdout
    assert "PermanentJobError" in watched.stdout

    slow = json.loads(
        dtq(
            cli_host,
            "submit",
            "simulate",
            "--set",
            "duration_ms=30000",
            "--set",
            "steps=300",
            "--json",
        ).stdout
    )
    wait_job(cli_host, slow["job_id"], {"running"})
    cancelled = dtq(cli_host, "cancel", slow["job_id"])
    assert cancelled.returncode == 0 and slow["job_id"] in cancelled.stdout
    assert dtq(cli_host, "watch", slow["job_id"], "--timeout", "20").returncode == 3

    scheduled = json.loads(
        dtq(
            cli_host, "submit", "echo", "--set", "message=later", "--delay", "3600", "--json"
        ).stdout
    )
    assert scheduled["state"] == "scheduled"
    gave_up = dtq(cli_host, "watch", scheduled["job_id"], "--timeout", "1")
    assert gave_up.returncode == 7 and "still running" in gave_up.stderr


def test_json_output_is_the_apis_json(cli_host: LocalHost) -> None:
    payload = '{"message": "from stdin"}'
    # An older echo job, so a page of one has a next page whatever ran before.
    assert dtq(cli_host, "submit", "echo", "--set", "message=older").returncode == 0
    args = ["submit", "echo", "-", "--priority", "high", "--idempotency-key", "cli-1", "--json"]
    job = json.loads(dtq(cli_host, *args, stdin=payload).stdout)
    assert (job["payload"], job["priority"]) == ({"message": "from stdin"}, "high")
    again = json.loads(dtq(cli_host, *args, stdin=payload).stdout)
    assert again["job_id"] == job["job_id"], "the same idempotency key gives back the same job"
    wait_job(cli_host, job["job_id"], {"completed"})
    got = json.loads(dtq(cli_host, "get", job["job_id"], "--json").stdout)
    assert got["result"] == {"message": "from stdin"}
    listed = json.loads(dtq(cli_host, "list", "--type", "echo", "--limit", "1", "--json").stdout)
    assert listed["items"][0]["job_id"] == job["job_id"] and listed["next_cursor"]


def test_list_pages_and_filters_for_people(cli_host: LocalHost) -> None:
    ids = [
        json.loads(dtq(cli_host, "submit", "echo", "--set", f"message=m{i}", "--json").stdout)[
            "job_id"
        ]
        for i in range(3)
    ]
    for job_id in ids:
        wait_job(cli_host, job_id, {"completed"})
    first = dtq(cli_host, "list", "--type", "echo", "--limit", "2")
    assert first.returncode == 0
    assert first.stdout.splitlines()[0].split()[:3] == ["JOB", "ID", "TYPE"]
    assert ids[2] in first.stdout and ids[1] in first.stdout and ids[0] not in first.stdout
    more = [line for line in first.stdout.splitlines() if line.startswith("more: ")]
    assert more, "a full page says how to get the next"
    second = dtq(cli_host, *more[0].removeprefix("more: dtq ").split())
    assert ids[0] in second.stdout


def test_dlq_list_requeue_and_purge(cli_host: LocalHost) -> None:
    # fail_first 1 with one attempt: into the DLQ; requeued, it succeeds.
    job = json.loads(
        dtq(
            cli_host,
            "submit",
            "simulate",
            "--set",
            "duration_ms=10",
            "--set",
            "fail_first=1",
            "--max-attempts",
            "1",
            "--json",
        ).stdout
    )
    wait_job(cli_host, job["job_id"], {"failed"})
    listed = dtq(cli_host, "dlq", "list", "--type", "simulate")
    assert job["job_id"] in listed.stdout and "MaxAttemptsExceeded" in listed.stdout
    requeued = dtq(cli_host, "dlq", "requeue", job["job_id"])
    assert requeued.returncode == 0 and "requeued 1 job(s)" in requeued.stdout
    assert wait_job(cli_host, job["job_id"], {"completed"})["requeues"] == 1

    doomed = json.loads(dtq(cli_host, *FAILS_AT_ONCE).stdout)
    wait_job(cli_host, doomed["job_id"], {"failed"})
    refused = dtq(cli_host, "dlq", "purge", "--all", "--type", "simulate")
    assert refused.returncode == 2 and "--yes" in refused.stderr, (
        "no prompt without a terminal: it asks for --yes"
    )
    purged = dtq(cli_host, "dlq", "purge", "--all", "--type", "simulate", "--yes", "--json")
    assert doomed["job_id"] in json.loads(purged.stdout)["job_ids"]
    assert httpx.get(f"{cli_host.base_url}/api/v1/jobs/{doomed['job_id']}").status_code == 404


def test_stats_and_health(cli_host: LocalHost) -> None:
    stats = dtq(cli_host, "stats")
    assert stats.returncode == 0
    assert (
        "dead-letter queue:" in stats.stdout
        and "dtq-jobs-high" in stats.stdout
        and "WORKER" in stats.stdout
    )
    figures = json.loads(dtq(cli_host, "stats", "--json").stdout)
    assert figures["jobs"]["total"] >= 1
    health = dtq(cli_host, "health")
    assert health.returncode == 0 and "status_store" in health.stdout


def test_bad_input_is_explained_with_its_field(cli_host: LocalHost) -> None:
    bad = dtq(cli_host, "submit", "simulate", "--set", "duration_ms=10", "--set", "steps=0")
    assert bad.returncode == 2
    assert "payload.steps" in bad.stderr and "greater than or equal to 1" in bad.stderr
    not_json = dtq(cli_host, "submit", "echo", "{not json")
    assert not_json.returncode == 2 and "not valid JSON" in not_json.stderr
    unknown = dtq(cli_host, "get", "01kzzzzzzzzzzzzzzzzzzzzzzz")
    assert unknown.returncode == 4 and "404" in unknown.stderr
    usage = dtq(cli_host, "dlq", "requeue")
    assert usage.returncode == 2 and "--all" in usage.stderr
    clash = dtq(cli_host, "submit", "echo", "--set", "a=1", "--set", "a.b=2")
    assert clash.returncode == 2 and "already a value" in clash.stderr
    missing = dtq(cli_host, "submit", "echo", "@/nonexistent/payload.json")
    assert missing.returncode == 2 and "cannot read the payload file" in missing.stderr


def test_callback_url_and_the_webhook_secret(cli_host: LocalHost) -> None:
    """``submit --callback-url`` sends it (a loopback target is refused with its field:
    this host does not allow private targets); ``webhook-secret`` prints the tenant's
    secret, and ``--rotate`` a new one, the old one still signing unless kept 0 s."""
    refused = dtq(
        cli_host, "submit", "echo", "--set", "message=hi", "--callback-url", "http://127.0.0.1:9/h"
    )
    assert refused.returncode == 2 and "callback_url" in refused.stderr, refused.stderr
    taken = dtq(
        cli_host,
        "submit",
        "echo",
        "--set",
        "message=hi",
        "--callback-url",
        "https://hooks.example.com/d",
        "--json",
    )
    assert taken.returncode == 0, taken.stderr
    job = json.loads(dtq(cli_host, "get", json.loads(taken.stdout)["job_id"], "--json").stdout)
    assert job["callback_url"] == "https://hooks.example.com/d"

    first = dtq(cli_host, "webhook-secret")
    assert first.returncode == 0 and first.stdout.startswith("whsec_"), first.stdout
    assert dtq(cli_host, "webhook-secret").stdout == first.stdout  # made once, then kept
    rotated = dtq(cli_host, "webhook-secret", "--rotate").stdout.splitlines()
    assert rotated[0].startswith("whsec_") and rotated[0] != first.stdout.strip()
    assert "previous secret also signs until" in rotated[1]
    leaked = dtq(cli_host, "webhook-secret", "--rotate", "--keep-previous", "0", "--json")
    assert json.loads(leaked.stdout)["previous_signs_until"] is None


def test_schedules_created_listed_shown_paused_resumed_and_deleted(cli_host: LocalHost) -> None:
    """``dtq schedules``: a bad cron is a 2 naming the field; a schedule is created,
    listed, shown with its next fire times (in its zone), paused, resumed and deleted."""
    bad = dtq(
        cli_host, "schedules", "create", "n", "echo", "--set", "message=hi", "--cron", "61 * * * *"
    )
    assert bad.returncode == 2 and "cron" in bad.stderr, bad.stderr
    neither = dtq(cli_host, "schedules", "create", "n", "echo", "--set", "message=hi")
    assert neither.returncode == 2 and "--cron" in neither.stderr
    made = dtq(
        cli_host,
        "schedules",
        "create",
        "nightly",
        "echo",
        '{"message": "hi"}',
        "--cron",
        "30 1 * * *",
        "--tz",
        "Europe/London",
        "--overlap",
        "skip",
        "--json",
    )
    assert made.returncode == 0, made.stderr
    s = json.loads(made.stdout)
    sid = s["schedule_id"]
    assert (s["cron"], s["timezone"], s["overlap"]) == ("30 1 * * *", "Europe/London", "skip")
    assert s["template"]["payload"] == {"message": "hi"}
    listed = dtq(cli_host, "schedules", "list")
    assert sid in listed.stdout and "nightly" in listed.stdout, listed.stdout
    shown = dtq(cli_host, "schedules", "get", sid, "--preview", "2")
    assert shown.returncode == 0 and "next: " in shown.stdout, shown.stderr
    assert shown.stdout.count("T00:30:00Z") + shown.stdout.count("T01:30:00Z") == 2
    assert "paused" in dtq(cli_host, "schedules", "pause", sid).stdout
    resumed = json.loads(dtq(cli_host, "schedules", "resume", sid, "--json").stdout)
    assert resumed["paused"] is False and resumed["next_fire_at"]
    assert dtq(cli_host, "schedules", "delete", sid).stdout.strip() == f"deleted {sid}"
    assert dtq(cli_host, "schedules", "get", sid).returncode == 4


def test_a_stopped_server_is_reported_with_advice() -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    down = dtq(None, "list", "--url", nobody)
    assert down.returncode == 5
    assert f"cannot reach {nobody}" in down.stderr and "dtq serve" in down.stderr


def test_keys_come_from_flags_the_environment_or_the_config_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"DTQ_REQUIRE_API_KEYS": "true"}
    token = create_key(data_dir, "acme", env)
    with running_host(data_dir, env=env) as host:
        refused = dtq(host, "list")
        assert refused.returncode == 6 and "--api-key" in refused.stderr
        assert dtq(host, "list", "--api-key", token).returncode == 0
        assert dtq(host, "list", env={"DTQ_API_KEY": token}).returncode == 0
        config = tmp_path / "config.toml"
        here = f'url = "{host.base_url}"\napi_key = "{token}"\n'
        config.write_text(f'url = "http://127.0.0.1:1"\n\n[profiles.here]\n{here}')
        by_profile = dtq(None, "list", "--config", str(config), "--profile", "here")
        assert by_profile.returncode == 0, by_profile.stderr
        assert dtq(None, "list", "--config", str(config)).returncode == 5, (
            "the top-level url, which is down"
        )
        assert dtq(None, "list", "--config", str(config), "--profile", "nope").returncode == 2


def test_help_has_examples() -> None:
    for command in ("submit", "watch", "dlq", "list"):
        shown = dtq(None, command, "--help")
        assert shown.returncode == 0 and "example" in shown.stdout, command
    assert "dtq submit echo --set message=hi --watch" in dtq(None, "--help").stdout


def _span(name: str, span_id: str, parent: str | None, start: int, **attributes: str) -> str:
    return json.dumps(
        {
            "name": name,
            "trace_id": "a" * 32,
            "span_id": span_id,
            "parent_id": parent,
            "kind": "INTERNAL",
            "start": start,
            "end": start + 1_000_000,
            "status": "UNSET",
            "attributes": attributes,
            "pid": 1,
        }
    )


def _spans_of(job_id: str, count: int) -> str:
    """A submit span and ``count`` attempts of ``job_id``, as the host writes them."""
    lines = [_span("POST /api/v1/jobs", "0" * 16, None, 0, **{"dtq.job_id": job_id})]
    lines += [
        _span(f"attempt {n}", f"{n + 1:016x}", "0" * 16, n * 10**6, **{"dtq.job_id": job_id})
        for n in range(count)
    ]
    return "\n".join(lines) + "\n"


def test_trace_finds_the_spans_where_the_local_host_writes_them(tmp_path: Path) -> None:
    # As after `DTQ_TRACES_DIR=.dtq/traces ./dev run`: the shell running `dtq trace` has
    # no DTQ_TRACES_DIR, so the CLI reads where the host on that data folder wrote.
    data_dir = tmp_path / ".dtq"
    (data_dir / "traces").mkdir(parents=True)
    (data_dir / "traces" / "spans-1.jsonl").write_text(_spans_of("job1", 2))
    shown = dtq(None, "trace", "job1", "--data-dir", str(data_dir))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == f"trace {'a' * 32} of job job1"

    # A folder elsewhere, as the host noted it in its data folder at startup.
    elsewhere = tmp_path / "spans"
    elsewhere.mkdir()
    (elsewhere / "spans-2.jsonl").write_text(_spans_of("job2", 1))
    (data_dir / "traces-dir").write_text(f"{elsewhere}\n")
    shown = dtq(None, "trace", "job2", "--data-dir", str(data_dir))
    assert shown.returncode == 0, shown.stderr
    assert "attempt 0" in shown.stdout


def test_host_notes_its_traces_dir_for_the_cli(tmp_path: Path) -> None:
    # A relative DTQ_TRACES_DIR is the host's working folder's: the note says so.
    from shared.settings import Settings
    from shared.traces import local_traces_dir, note_traces_dir

    os.chdir(tmp_path)
    try:
        host = Settings(data_dir=Path("data"), traces_dir=Path("t/traces"))
        note_traces_dir(host.telemetry)
        cli = Settings(data_dir=tmp_path / "data")
        assert local_traces_dir(cli.telemetry) == tmp_path / "t" / "traces"
    finally:
        os.chdir(ROOT)


def test_a_closed_pipe_ends_the_output_quietly(cli_host: LocalHost, tmp_path: Path) -> None:
    # `dtq trace ID | head`, `dtq list | head`: the reader is gone before dtq writes.
    traces = tmp_path / "traces"
    traces.mkdir()
    (traces / "spans-1.jsonl").write_text(_spans_of("job1", 3000))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DTQ_")}
    for args in (
        ["trace", "job1", "--traces-dir", str(traces)],
        ["types"],
        ["list", "--json"],
    ):
        proc = subprocess.Popen(
            [sys.executable, "-m", "dtq.cli", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**environment, "DTQ_URL": cli_host.base_url, "DTQ_CONFIG": "/nonexistent"},
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # as `head` does once it has its lines
        errors = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 141, errors
        assert "Traceback" not in errors and "BrokenPipe" not in errors, errors


def test_serve_says_its_url_first(cli_host: LocalHost) -> None:
    # `./dev run`: the line that matters is the first one the user sees.
    lines = cli_host.log().splitlines()
    url = f"dtq serve: http://127.0.0.1:{cli_host.port}/"
    at = next(i for i, line in enumerate(lines) if line.startswith(url))
    assert lines[:at] == [], "nothing before the URL"
