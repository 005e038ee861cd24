""".github/workflows, checked offline: the OIDC token subjects the deploy workflow
presents are ones a federated credential exists for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
