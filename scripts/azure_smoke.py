#!/usr/bin/env python3
"""Prove a real deployment end to end, then tear it down (``make azure-smoke``).

Needs an Azure subscription you may deploy to (Owner, or Contributor plus User Access
Administrator), ``azd`` and ``az`` signed in (``azd auth login``, ``az login``),
AZURE_SUBSCRIPTION_ID set, and ``pip install pysignalr`` for the SignalR step. It:

1. provisions and deploys with ``azd up`` into a new azd environment (``--env``);
2. creates an API key in the deployed keys table with your own sign-in (the deploying
   user holds Storage Table Data Contributor there; docs/deploy.md);
3. submits with the key through the documented URL (``API_URL``, the function app) and
   follows the job to ``completed`` (docs/deploy.md, "Reaching the API");
4. watches the same kind of job's progress through SignalR with a real Python client
   (pysignalr): ``POST /api/negotiate``, then the service's WebSocket;
5. a retry: a job failing its first attempt completes on its second;
6. a dead letter and its requeue: a permanently failing job lands in the DLQ, is
   requeued, runs again (and, failing permanently by design, fails again);
7. a timer's effect: the reconcile timer's invocations in Application Insights;
8. prints what it saw, and ``azd down --purge --force`` unless ``--keep``.

It cannot run where it was written (no Azure there); tests/infra/test_smoke.py checks
that it imports and answers ``--help``, and skips the real run visibly unless
AZURE_SUBSCRIPTION_ID (and DTQ_AZURE_SMOKE=1) are set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REQUIRED_TOOLS = ("azd", "az")


class SmokeFailure(Exception):
    """A step saw something other than what the docs promise."""


def say(step: str, text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {step}: {text}", flush=True)


def sh(*args: str, env: dict[str, str] | None = None, capture: bool = False) -> str:
    done = subprocess.run(
        args, cwd=ROOT, env=env, text=True, capture_output=capture, check=False, timeout=3600
    )
    if done.returncode != 0:
        detail = (done.stderr or "")[-2000:] if capture else ""
        raise SmokeFailure(f"{' '.join(args[:3])} ... exited {done.returncode}: {detail}")
    return done.stdout if capture else ""


def azd_values(env_name: str) -> dict[str, str]:
    out = sh(
        "azd", "env", "get-values", "--environment", env_name, "--output", "json", capture=True
    )
    return dict(json.loads(out))


def provision(env_name: str, location: str, subscription: str) -> dict[str, str]:
    say("provision", f"azd env {env_name} in {location}")
    sh("azd", "env", "new", env_name, "--subscription", subscription, "--location", location)
    sh("azd", "up", "--environment", env_name, "--no-prompt")
    values = azd_values(env_name)
    for name in ("API_URL", "WEB_URL", "AZURE_RESOURCE_GROUP"):
        if not values.get(name):
            raise SmokeFailure(f"azd did not output {name}")
    say("provision", f"API_URL={values['API_URL']} WEB_URL={values['WEB_URL']}")
    return values


def create_key() -> str:
    """A key made by ``dtq keys create`` against the deployed tables, with the settings
    the postprovision hook wrote (identity-based: your ``az login``)."""
    settings = json.loads((ROOT / "local.settings.azure.json").read_text())["Values"]
    env = {**os.environ, **{k: str(v) for k, v in settings.items()}}
    out = sh(
        sys.executable, "-m", "dtq.cli", "keys", "create", "--tenant", "smoke",
        "--name", "azure-smoke", "--json", env=env, capture=True,
    )  # fmt: skip
    return str(json.loads(out.strip().splitlines()[-1])["token"])


def follow(client: Any, job_id: str, until: set[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(job_id)
        if job["state"] in until:
            return dict(job)
        if time.monotonic() > deadline:
            raise SmokeFailure(f"job {job_id} still {job['state']} after {timeout:.0f}s")
        time.sleep(2)


def submit_and_complete(client: Any, seen: dict[str, Any]) -> None:
    job = client.submit("echo", {"message": "smoke"})
    say("submit", f"202 job {job['job_id']} ({job['state']})")
    from shared.jobs import TERMINAL_STATES

    done = follow(client, job["job_id"], {s.value for s in TERMINAL_STATES}, 180)
    if done["state"] != "completed":
        raise SmokeFailure(f"echo ended {done['state']}")
    seen["submit"] = {"job_id": job["job_id"], "state": done["state"]}
    say("submit", "completed")


async def _signalr_progress(api_url: str, key: str, client: Any) -> list[float]:
    import httpx
    from pysignalr.client import SignalRClient

    from shared.jobs import TERMINAL_STATES
    from shared.push import PUSH_ID_HEADER, TARGET

    terminal = {s.value for s in TERMINAL_STATES}

    job = client.submit("simulate", {"duration_ms": 8000, "steps": 4}, delay_seconds=5)
    push_id = secrets.token_hex(16)
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            f"{api_url}/api/negotiate",
            params={"job_id": job["job_id"]},
            headers={"Authorization": f"Bearer {key}", PUSH_ID_HEADER: push_id},
        )
    answer.raise_for_status()
    info = answer.json()
    seen: list[float] = []
    finished = asyncio.Event()

    async def on_update(arguments: list[dict[str, Any]]) -> None:
        for update in arguments:
            if isinstance(update.get("progress"), int):
                seen.append(float(update["progress"]))
            if update.get("state") in terminal:
                finished.set()

    token = info["accessToken"]

    async def access_token() -> str:
        return str(token)

    signalr = SignalRClient(info["url"], access_token_factory=access_token)
    signalr.on(TARGET, on_update)
    runner = asyncio.create_task(signalr.run())
    try:
        await asyncio.wait_for(finished.wait(), timeout=120)
    finally:
        runner.cancel()
    return seen


def signalr_progress(api_url: str, key: str, client: Any, seen: dict[str, Any]) -> None:
    try:
        import pysignalr  # noqa: F401
    except ImportError as exc:
        raise SmokeFailure("pip install pysignalr (a Python SignalR client)") from exc
    progress = asyncio.run(_signalr_progress(api_url, key, client))
    if not progress:
        raise SmokeFailure("no progress arrived through SignalR")
    seen["signalr"] = {"progress": progress}
    say("signalr", f"progress pushed: {progress}")


def retry(client: Any, seen: dict[str, Any]) -> None:
    job = client.submit("simulate", {"duration_ms": 100, "fail_first": 1}, max_attempts=3)
    done = follow(client, job["job_id"], {"completed", "failed"}, 300)
    if done["state"] != "completed" or int(done.get("attempt", 0)) < 2:
        raise SmokeFailure(f"retry: {done['state']} after attempt {done.get('attempt')}")
    seen["retry"] = {"job_id": job["job_id"], "attempts": done.get("attempt")}
    say("retry", f"completed on attempt {done.get('attempt')}")


def dead_letter_and_requeue(client: Any, seen: dict[str, Any]) -> None:
    job = client.submit("simulate", {"duration_ms": 0, "fail_permanently": True})
    job_id = job["job_id"]
    follow(client, job_id, {"failed"}, 300)
    if not any(d["job_id"] == job_id for d in client.dead_letters(limit=100)["items"]):
        raise SmokeFailure(f"{job_id} failed but is not in the DLQ")
    say("dlq", f"{job_id} dead-lettered")
    requeued = client.requeue(job_id)
    say("dlq", f"requeued: {requeued.get('state')}")
    again = follow(client, job_id, {"failed"}, 300)
    seen["dead_letter"] = {"job_id": job_id, "requeued_attempt": again.get("attempt")}
    say("dlq", f"failed again on attempt {again.get('attempt')} (as it must)")


def timer_effect(values: dict[str, str], seen: dict[str, Any]) -> None:
    """The reconcile timer runs every minute (DTQ_RECONCILE_SCHEDULE); its invocations
    show in Application Insights as requests named after the function."""
    query = (
        "requests | where timestamp > ago(30m) and name has 'reconcile_dead_letters'"
        " | summarize runs=count(), ok=countif(success == true)"
    )
    app = sh(
        "az", "monitor", "app-insights", "component", "show", "--resource-group",
        values["AZURE_RESOURCE_GROUP"], "--query", "[0].appId", "--output", "tsv", capture=True,
    ).strip()  # fmt: skip
    deadline = time.monotonic() + 600  # ingestion takes minutes
    while True:
        out = sh(
            "az", "monitor", "app-insights", "query", "--app", app,
            "--analytics-query", query, "--output", "json", capture=True,
        )  # fmt: skip
        rows = json.loads(out)["tables"][0]["rows"]
        runs, ok = (rows[0] if rows else [0, 0])[:2]
        if runs:
            seen["timer"] = {"reconcile_runs": runs, "succeeded": ok}
            say("timer", f"reconcile_dead_letters ran {runs} times ({ok} succeeded)")
            return
        if time.monotonic() > deadline:
            raise SmokeFailure("no reconcile timer run in Application Insights after 10 min")
        time.sleep(30)


def teardown(env_name: str) -> None:
    say("teardown", f"azd down {env_name}")
    sh("azd", "down", "--environment", env_name, "--purge", "--force")


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="azure_smoke.py",
        description="Provision dtq with azd, drive every path against it, tear it down.",
        epilog="Needs AZURE_SUBSCRIPTION_ID, azd and az signed in, and pysignalr.",
    )
    cli.add_argument("--env", default=f"dtq-smoke-{secrets.token_hex(3)}", help="azd env name")
    cli.add_argument("--location", default="swedencentral", help="a Flex Consumption region")
    cli.add_argument("--keep", action="store_true", help="leave the deployment running")
    cli.add_argument(
        "--existing", action="store_true", help="use an azd env already provisioned (--env)"
    )
    return cli


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    subscription = os.environ.get("AZURE_SUBSCRIPTION_ID", "")
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t) is None]
    if not subscription or missing:
        print(
            f"azure_smoke: needs AZURE_SUBSCRIPTION_ID and {', '.join(REQUIRED_TOOLS)}"
            f" (missing: {', '.join(missing) or 'AZURE_SUBSCRIPTION_ID'})",
            file=sys.stderr,
        )
        return 2
    sys.path.insert(0, str(ROOT))
    from dtq.client import ApiClient

    seen: dict[str, Any] = {"env": args.env}
    code = 1
    try:
        values = (
            azd_values(args.env)
            if args.existing
            else provision(args.env, args.location, subscription)
        )
        key = create_key()
        client = ApiClient(values["API_URL"], key)
        submit_and_complete(client, seen)
        signalr_progress(values["API_URL"], key, client, seen)
        retry(client, seen)
        dead_letter_and_requeue(client, seen)
        timer_effect(values, seen)
        code = 0
    except SmokeFailure as exc:
        seen["failure"] = str(exc)
        say("FAILED", str(exc))
    finally:
        if not args.keep and not args.existing:
            try:
                teardown(args.env)
            except SmokeFailure as exc:
                seen["teardown_failure"] = str(exc)
                say("teardown", f"FAILED: {exc} (delete rg of {args.env} by hand)")
        print(json.dumps(seen, indent=2))
    return code


if __name__ == "__main__":
    sys.exit(main())
