"""scripts/azure_smoke.py (``make azure-smoke``): it cannot run without a subscription,
so here it is imported and asked for --help, refuses to start without one, and the real
run is skipped visibly unless AZURE_SUBSCRIPTION_ID and DTQ_AZURE_SMOKE=1 are set."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "azure_smoke.py"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def test_it_imports_and_covers_every_path_the_issue_names() -> None:
    spec = importlib.util.spec_from_file_location("azure_smoke", SCRIPT)
    assert spec and spec.loader
    smoke = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(smoke)
    for step in (
        "provision",
        "create_key",
        "submit_and_complete",
        "signalr_progress",
        "retry",
        "dead_letter_and_requeue",
        "timer_effect",
        "teardown",
    ):
        assert callable(getattr(smoke, step)), step
    assert re.search(
        r"^azure-smoke:\n\t.*scripts/azure_smoke\.py", (ROOT / "Makefile").read_text(), re.M
    )


def test_help_answers_without_azure() -> None:
    done = run("--help")
    assert done.returncode == 0, done.stderr
    assert "--keep" in done.stdout and "AZURE_SUBSCRIPTION_ID" in done.stdout


def test_it_refuses_to_start_without_a_subscription() -> None:
    env = {k: v for k, v in os.environ.items() if k != "AZURE_SUBSCRIPTION_ID"}
    done = run("--env", "never-created", env=env)
    assert done.returncode == 2 and "AZURE_SUBSCRIPTION_ID" in done.stderr


@pytest.mark.skipif(
    not (os.environ.get("AZURE_SUBSCRIPTION_ID") and os.environ.get("DTQ_AZURE_SMOKE") == "1"),
    reason="a real deployment: set AZURE_SUBSCRIPTION_ID and DTQ_AZURE_SMOKE=1 (and sign in "
    "with azd and az) to provision, drive and tear down dtq in Azure",
)
def test_a_real_deployment_works_end_to_end() -> None:
    assert shutil.which("azd") and shutil.which("az"), "azd and az on PATH"
    done = subprocess.run([sys.executable, str(SCRIPT)], cwd=ROOT, timeout=7200)
    assert done.returncode == 0
