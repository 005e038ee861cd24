"""The README's commands, run as a newcomer runs them, so the docs cannot drift.

Every ``sh`` block after the quick start is pasted, in order, into one bash session in a
fresh folder (with ``.venv`` linked to this checkout's), against a local host this test
starts there on a free port the way ``DTQ_TRACES_DIR=.dtq/traces ./dev run`` would (cwd
the folder, data in ``.dtq``). The README is not edited: only its default URL is
rewritten to the test host's. Each command must exit 0 and every HTTP answer must be
below 400, unless ``EXPECTED`` says what the README itself says it answers. Then what
the README promises of the jobs it made is checked through the API.

Two kinds of command are not run, by ``SKIPPED`` (each shows as a skipped test):
``./dev`` (the quick start's host and suite: this test's host stands in for the former)
and ``azd`` (it needs an Azure subscription).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.api import Api
from tests.support.processes import NO_INTERNET, ROOT, free_port, stop_process, wait_healthy

pytestmark = pytest.mark.e2e

README = ROOT / "README.md"
DEFAULT_URL = "http://127.0.0.1:7071"

#: Commands not run, each with the visible reason.
SKIPPED = [
    (
        re.compile(r"(^|\s)\./dev( |$)"),
        "starts the local host or the suite: the test's host stands in",
    ),
    (re.compile(r"^azd( |$)"), "needs an Azure subscription"),
]

#: What the README says a command answers, where that is not "exit 0, HTTP below 400":
#: (a piece of the command, its exit code, the HTTP statuses of its requests).
EXPECTED: list[tuple[str, int, list[int] | None]] = [
    ('-H "If-None-Match: $ETAG"', 0, [304]),
    ("/api/v1/jobs/$JOB/result", 0, [200]),
    ("-X DELETE http://127.0.0.1:7071/api/v1/jobs/$SLOW", 0, [202]),
    ("dtq watch $SLOW ", 3, None),
    ("dtq watch $FAILING   # exit 1", 1, None),
    ("dtq watch $DOOMED ", 1, None),
    ("""-d '{"job_type": "echo", "payload": {}}'\n""", 0, [422]),
]


@dataclass
class Ran:
    """One README command and what it did."""

    command: str
    rc: int | None = None
    statuses: list[int] = field(default_factory=list)
    output: str = ""


def sh_blocks(text: str) -> list[str]:
    """The ``sh`` code blocks of a Markdown text, in order."""
    return re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M)


def quick_start_block(text: str) -> str:
    section = text.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    return sh_blocks(section)[0]


def commands(block: str) -> list[str]:
    """A block's commands: comment lines dropped, continued lines (``\\``) joined."""
    out: list[str] = []
    current = ""
    for line in block.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line + "\n"
        if not line.endswith("\\"):
            out.append(current)
            current = ""
    assert not current, f"a command continues past its block: {current}"
    return out


def walkthrough() -> list[str]:
    """Every command of the ``sh`` blocks after the quick start's, in order."""
    text = README.read_text()
    quick = quick_start_block(text)
    after = text.split(quick, 1)[1]
    return [c for block in sh_blocks(after) for c in commands(block)]


def skip_reason(command: str) -> str | None:
    return next((why for rule, why in SKIPPED if rule.search(command)), None)


def test_the_quick_start_is_the_two_commands() -> None:
    lines = commands(quick_start_block(README.read_text()))
    assert [line.split("#")[0].strip() for line in lines] == ["./dev run", "./dev test"]


@pytest.mark.parametrize(
    "command", [c for c in walkthrough() if skip_reason(c)], ids=lambda c: c.split("#")[0][:40]
)
def test_commands_not_run(command: str) -> None:
    pytest.skip(f"{command.strip()!r}: {skip_reason(command)}")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A fresh folder with the app and ``.venv`` (this checkout's) and a host started in it as
    ``DTQ_TRACES_DIR=.dtq/traces ./dev run`` starts one, on a free port."""
    home = tmp_path_factory.mktemp("readme")
    # The checkout as the README's reader has it: the app folder, with its .venv.
    for name in (".venv", "function_app.py", "host.json", "functions", "shared", "static-web"):
        (home / name).symlink_to(ROOT / name)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DTQ_")},
        **NO_INTERNET,
        "DTQ_TRACES_DIR": ".dtq/traces",
        "DTQ_SHUTDOWN_GRACE_SECONDS": "2",
        "DTQ_RETRY_BACKOFF_BASE_SECONDS": "0.1",
        "DTQ_CANCEL_CHECK_SECONDS": "0.5",
    }
    log_path = home / "serve.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dtq.cli",
                "serve",
                "--port",
                str(port),
                "--app-dir",
                str(ROOT),
            ],
            cwd=home,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url, proc, 30, log_path)
        yield home, base_url
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def ran(folder: tuple[Path, str]) -> list[Ran]:
    """The README's commands, pasted in order into one bash session in ``folder``."""
    home, base_url = folder
    runs = [Ran(c) for c in walkthrough() if not skip_reason(c)]
    logs = home / "walkthrough"
    logs.mkdir()
    script = [
        'exec 3>>"$DTQ_README_LOG"',
        # Each request's HTTP status, from the headers curl dumps (the README's own flags kept).
        'curl() { rm -f "$DTQ_README_LOG.h"; command curl -D "$DTQ_README_LOG.h" "$@"; local rc=$?;'
        ' printf "@@http %s\\n" "$(sed -n "s/^HTTP\\/[0-9.]* \\([0-9]*\\).*/\\1/p" '
        '"$DTQ_README_LOG.h" 2>/dev/null | tail -1)" >&3; return $rc; }',
    ]
    for n, run in enumerate(runs):
        # eval: a command bash cannot parse fails alone (exit 2), as when pasted.
        (logs / f"{n}.sh").write_text(run.command.replace(DEFAULT_URL, base_url))
        script += [
            f"printf '@@cmd {n}\\n' >&3",
            f'{{ eval "$(cat "{logs}/{n}.sh")"; }} >"{logs}/{n}.out" 2>&1',
            f"printf '@@rc {n} %d\\n' $? >&3",
        ]
    script.append('printf \'@@vars JOB=%s FAILING=%s SLOW=%s\\n\' "$JOB" "$FAILING" "$SLOW" >&3')
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DTQ_")},
        "DTQ_URL": base_url,  # for the dtq commands; the curl commands are rewritten
        "DTQ_CONFIG": str(home / "no-config.toml"),
        "DTQ_README_LOG": str(logs / "log"),
    }
    subprocess.run(["bash", "-c", "\n".join(script)], cwd=home, env=env, timeout=240, check=False)
    current: Ran | None = None
    for line in (logs / "log").read_text().splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "@@cmd":
            current = runs[int(rest)]
        elif kind == "@@http" and current is not None:
            current.statuses.append(int(rest) if rest.isdigit() else 0)
        elif kind == "@@rc" and current is not None:
            current.rc = int(rest.split()[1])
            current.output = (logs / f"{rest.split()[0]}.out").read_text()
        elif kind == "@@vars":
            VARS.update(dict(item.split("=", 1) for item in rest.split()))
    return runs


VARS: dict[str, str] = {}


def expected(command: str) -> tuple[int, list[int] | None]:
    found = [(rc, st) for piece, rc, st in EXPECTED if piece in command]
    assert len(found) <= 1, f"EXPECTED names {command!r} more than once"
    return found[0] if found else (0, None)


def test_every_expectation_names_one_command() -> None:
    every = walkthrough()
    for piece, _, _ in EXPECTED:
        assert sum(piece in c for c in every) == 1, f"{piece!r} is not one command of the README"


def test_every_command_does_what_the_readme_says(ran: list[Ran]) -> None:
    wrong = []
    for run in ran:
        rc, statuses = expected(run.command)
        good_http = (
            run.statuses == statuses
            if statuses is not None
            else all(0 < s < 400 for s in run.statuses)
        )
        if run.rc != rc or not good_http:
            wrong.append(
                f"{run.command.strip()}\n  exit {run.rc} (want {rc}), HTTP {run.statuses}"
                f" (want {statuses or 'below 400'})\n  {run.output.strip()[-600:]}"
            )
    assert not wrong, "\n\n".join(wrong)


def test_the_jobs_end_as_the_readme_says(ran: list[Ran], folder: tuple[Path, str]) -> None:
    _, base_url = folder
    dlq_list = next(r for r in ran if "/api/v1/dlq?job_type=simulate" in r.command)
    assert VARS["FAILING"] and VARS["FAILING"] in dlq_list.output, "the DLQ lists the failed job"
    with Api(base_url) as api:
        failing = api.wait(VARS["FAILING"])
        slow = api.wait(VARS["SLOW"])
    assert (failing["state"], failing["attempt"]) == ("completed", 5), "completes on its 5th"
    assert slow["state"] == "cancelled"
    assert slow["started_at"], "the job was running when it was cancelled"


def test_dtq_trace_prints_the_tree_as_the_readme_says(ran: list[Ran]) -> None:
    traced = next(r for r in ran if "dtq trace $JOB" in r.command)
    assert traced.output.startswith("trace "), traced.output
    assert f"of job {VARS['JOB']}" in traced.output.splitlines()[0]


def test_timestamps_are_all_in_one_form(ran: list[Ran]) -> None:
    # Every time the README's commands show ends in Z, as the jobs' own timestamps do.
    offsets = {
        m.group(0)
        for run in ran
        for m in re.finditer(r'"[a-z_]+": ?"[0-9T:.-]+\+00:00"', run.output)
    }
    assert not offsets, sorted(offsets)[:10]
