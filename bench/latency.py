"""Latency through `dtq serve` (2 worker processes, embedded SQLite backend).

Idle, one client:

- submit: POST /api/v1/jobs round trip;
- submit-to-completed: from sending the POST until GET shows `completed` (polled every
  2 ms);
- progress-visible: a `simulate` job reports progress every 100 ms; for each report the
  delay from the worker's write (the job's `updated_at`) until GET first shows it.

Live, with `--jobs` (10) `simulate` jobs changing at once (each reports progress every
`--step-ms`, 100 ms):

- page, push: the web UI in headless Chromium (Debian's, driven by Playwright as the
  browser tests do) on the host's own SignalR hub; for every status a row of the job
  list shows, the delay from the worker's write (`updated_at`) to the DOM change,
  timestamped in the page by a MutationObserver (`performance.timeOrigin +
  performance.now()`: the machine's clock, as the worker's);
- page, polling: the same page when negotiate fails (answered 503 by the browser), so it
  falls back to ETag polling every second: the alternative push replaces;
- long-poll: one API client per job waiting with `If-None-Match` and `Prefer: wait=30`;
  the delay from the change (`updated_at`) to the answer's arrival.

Only the statuses a reader is shown count: push sends each job's newest state of a
batch, polling whatever is current at the poll, so "shown" says how many of the
workers' writes reached the reader as such, and "gap p50" how long a job's view on the
reader typically stays as it is (a poll shows a write only a few ms old, once a second).

    .venv/bin/python bench/latency.py --samples 200
    .venv/bin/python bench/latency.py --samples 0 --rounds 3    # the live part only
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.browser import chromium_executable
from tests.support.browser import launch as launch_chromium
from tests.support.processes import LocalHost

#: In the page: every (job, updated_at) a row of the job list shows, first seen when.
OBSERVE = """() => {
  window.dtqSeen = [];
  const known = new Set();
  const scan = () => {
    const at = performance.timeOrigin + performance.now();
    for (const tr of document.querySelectorAll("#jobs tr[data-job-id]")) {
      const stamp = tr.querySelector("time")?.getAttribute("datetime");
      const key = `${tr.dataset.jobId} ${stamp}`;
      if (stamp && !known.has(key)) {
        known.add(key);
        window.dtqSeen.push([tr.dataset.jobId, stamp, tr.dataset.state, at]);
      }
    }
  };
  // When the page hears of a change (pushed, or a poll's answer), before any view renders.
  window.dtqHeard = [];
  window.addEventListener("dtq:job", (event) => {
    const { job, source } = event.detail;
    const at = performance.timeOrigin + performance.now();
    if (source === "push") window.dtqHeard.push([job.job_id, job.updated_at, job.state, at]);
  }, true);
  new MutationObserver(scan).observe(document.querySelector("#jobs"),
    { subtree: true, childList: true, attributes: true, characterData: true });
}"""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def stamp(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def gaps(rows: list[list[Any]], ids: set[str]) -> list[float]:
    """Seconds between consecutive updates of one job a reader got (rows: job id,
    updated_at, state, at in ms since the epoch)."""
    out: list[float] = []
    last: dict[str, float] = {}
    for job_id, _, state, at in sorted(rows, key=lambda row: float(row[3])):
        if job_id in ids and state != "queued":
            if job_id in last:
                out.append((at - last[job_id]) / 1000)
            last[job_id] = at
    return out


def submit_simulated(api: httpx.Client, jobs: int, steps: int, step_ms: int) -> list[str]:
    """``jobs`` simulate jobs in one request, so they start (and change) together."""
    payload = {"duration_ms": steps * step_ms, "steps": steps}
    answer = api.post(
        "/jobs:batch", json={"jobs": [{"job_type": "simulate", "payload": payload}] * jobs}
    )
    answer.raise_for_status()
    return [item["job"]["job_id"] for item in answer.json()["items"]]


def wait_finished(api: httpx.Client, ids: list[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(api.get(f"/jobs/{i}").json()["state"] == "completed" for i in ids):
            return
        time.sleep(0.2)
    raise TimeoutError("the jobs did not complete")


def idle(host: LocalHost, samples: int) -> list[tuple[str, list[float]]]:
    submit: list[float] = []
    done: list[float] = []
    visible: list[float] = []
    with httpx.Client(base_url=f"{host.base_url}/api/v1", timeout=10) as api:
        for i in range(samples):
            t0 = time.perf_counter()
            job = api.post(
                "/jobs", json={"job_type": "echo", "payload": {"message": str(i)}}
            ).json()
            submit.append(time.perf_counter() - t0)
            while api.get(f"/jobs/{job['job_id']}").json()["state"] != "completed":
                time.sleep(0.002)
            done.append(time.perf_counter() - t0)
            time.sleep(0.05)  # idle between samples
        steps = max(10, samples // 4)
        job = api.post(
            "/jobs",
            json={"job_type": "simulate", "payload": {"duration_ms": steps * 100, "steps": steps}},
        ).json()
        seen: set[str] = set()
        while True:
            current = api.get(f"/jobs/{job['job_id']}").json()
            now = time.time()
            fresh = current["updated_at"] not in seen
            if current["state"] == "running" and current["progress"] > 0 and fresh:
                seen.add(current["updated_at"])
                visible.append(max(0.0, now - stamp(current["updated_at"])))
            if current["state"] in ("completed", "failed"):
                break
            time.sleep(0.002)
    return [
        ("submit (POST round trip)", submit),
        ("submit to completed", done),
        ("progress write to visible in GET", visible),
    ]


def page_delays(
    browser: Any, host: LocalHost, push: bool, jobs: int, steps: int, step_ms: int
) -> tuple[list[float], list[float], list[float], int]:
    """Delays (s) from a worker's write to the job list showing it, and to the page
    hearing of it by push (before any view renders it); the gaps between a job's updates
    on the page; how many writes the jobs made that a reader could be shown (start, each
    step, completion)."""
    context = browser.new_context(base_url=host.base_url)
    try:
        page = context.new_page()
        if not push:
            page.route("**/api/negotiate", lambda route: route.fulfill(status=503))
        page.goto("/")
        mode = "pushed (SignalR)" if push else "polling"
        page.wait_for_function(
            "mode => document.querySelector('#live-mode').textContent.includes(mode)", arg=mode
        )
        page.evaluate(OBSERVE)
        with httpx.Client(base_url=f"{host.base_url}/api/v1", timeout=10) as api:
            ids = submit_simulated(api, jobs, steps, step_ms)
            page.wait_for_function(
                """ids => ids.every((id) =>
                  document.querySelector(`#jobs tr[data-job-id="${id}"]`)?.dataset.state
                  === "completed")""",
                arg=ids,
                timeout=120_000,
            )
        seen, heard = page.evaluate("() => [window.dtqSeen, window.dtqHeard]")
    finally:
        context.close()
    mine = set(ids)

    def delays(rows: list[list[Any]]) -> list[float]:
        return [
            max(0.0, at / 1000 - stamp(updated))
            for job_id, updated, state, at in rows
            if job_id in mine and state != "queued"  # queued: written by the API, not a worker
        ]

    return delays(seen), delays(heard), gaps(seen, mine), jobs * (steps + 2)


def long_poll_delays(
    host: LocalHost, jobs: int, steps: int, step_ms: int
) -> tuple[list[float], list[float], int]:
    """One client per job: GET /jobs/{id} with If-None-Match and Prefer: wait=30 until
    the job ends; the delay from each answered change's updated_at to the answer."""
    delays: list[float] = []
    answers: list[list[Any]] = []
    lock = threading.Lock()
    with httpx.Client(base_url=f"{host.base_url}/api/v1", timeout=40) as api:
        ids = submit_simulated(api, jobs, steps, step_ms)

        def follow(job_id: str) -> None:
            with httpx.Client(base_url=f"{host.base_url}/api/v1", timeout=40) as client:
                answer = client.get(f"/jobs/{job_id}")
                etag, last = answer.headers["ETag"], answer.json()["updated_at"]
                while True:
                    answer = client.get(
                        f"/jobs/{job_id}", headers={"If-None-Match": etag, "Prefer": "wait=30"}
                    )
                    now = time.time()
                    if answer.status_code == 304:
                        continue
                    job = answer.json()
                    etag = answer.headers["ETag"]
                    # A lease renewal or a log line changes the ETag, not updated_at.
                    if job["updated_at"] != last and job["state"] != "queued":
                        last = job["updated_at"]
                        with lock:
                            delays.append(max(0.0, now - stamp(last)))
                            answers.append([job_id, last, job["state"], now * 1000])
                    if job["state"] in ("completed", "failed", "cancelled"):
                        return

        threads = [threading.Thread(target=follow, args=(i,)) for i in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return delays, gaps(answers, set(ids)), jobs * (steps + 2)


def launch(playwright: Any, profile: str) -> Any:
    executable = chromium_executable()
    if executable is None:
        raise SystemExit(
            "Debian's chromium is needed for the page's figures (apt-get install chromium)"
        )
    return launch_chromium(playwright, executable, profile)


def live(
    host: LocalHost, tmp: Path, jobs: int, steps: int, step_ms: int, rounds: int
) -> list[tuple[str, list[float], list[float], int]]:
    from playwright.sync_api import sync_playwright

    pushed: list[float] = []
    heard: list[float] = []
    polled: list[float] = []
    waited: list[float] = []
    spacing: dict[str, list[float]] = {"push": [], "poll": [], "wait": []}
    writes = {"push": 0, "poll": 0, "wait": 0}
    with sync_playwright() as playwright:
        browser = launch(playwright, str(tmp / "chromium"))
        try:
            # Alternated, so that a noisy moment of the shared machine hits both paths.
            for _ in range(rounds):
                delays, events, apart, made = page_delays(browser, host, True, jobs, steps, step_ms)
                spacing["push"] += apart
                pushed += delays
                heard += events
                writes["push"] += made
                delays, _, apart, made = page_delays(browser, host, False, jobs, steps, step_ms)
                spacing["poll"] += apart
                polled += delays
                writes["poll"] += made
                delays, apart, made = long_poll_delays(host, jobs, steps, step_ms)
                spacing["wait"] += apart
                waited += delays
                writes["wait"] += made
        finally:
            browser.close()
    return [
        ("page, push (SignalR)", pushed, spacing["push"], writes["push"]),
        ("  of which: event in the page", heard, [], writes["push"]),
        ("page, polling fallback", polled, spacing["poll"], writes["poll"]),
        ("long-poll (Prefer: wait=30)", waited, spacing["wait"], writes["wait"]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=200, help="idle samples (0: none)")
    parser.add_argument("--jobs", type=int, default=10, help="jobs changing at once (0: none)")
    parser.add_argument("--steps", type=int, default=30, help="progress reports per job")
    parser.add_argument("--step-ms", type=int, default=100, help="between progress reports")
    parser.add_argument("--rounds", type=int, default=2, help="live rounds of each reader")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dtq-latency-") as tmp:
        host = LocalHost(data_dir=Path(tmp), workers=2, env={"DTQ_LOG_LEVEL": "WARNING"})
        host.start()
        try:
            quiet = idle(host, args.samples) if args.samples else []
            busy = (
                live(host, Path(tmp), args.jobs, args.steps, args.step_ms, args.rounds)
                if args.jobs
                else []
            )
        finally:
            host.stop()
    if quiet:
        print(f"idle latency through dtq serve ({args.samples} samples; ms)")
        print(f"{'measure':<34} {'p50':>7} {'p99':>7} {'max':>7}")
        for name, values in quiet:
            print(
                f"{name:<34} {pct(values, 50):>7.1f} {pct(values, 99):>7.1f}"
                f" {max(values) * 1000:>7.1f}"
            )
    if busy:
        print(
            f"\nstatus write to reader, {args.jobs} jobs changing at once (a report every"
            f" {args.step_ms} ms each, {args.rounds} round(s); ms)"
        )
        print(
            f"{'reader':<30} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7} {'shown':>10}"
            f" {'gap p50':>8}"
        )
        for name, values, apart, made in busy:
            if not values:
                print(f"{name:<30} {'(none shown)':>31}")
                continue
            print(
                f"{name:<30} {pct(values, 50):>7.1f} {pct(values, 90):>7.1f}"
                f" {pct(values, 99):>7.1f} {max(values) * 1000:>7.1f}"
                f" {f'{len(values)}/{made}':>10} {f'{pct(apart, 50):.0f}' if apart else '':>8}"
            )


if __name__ == "__main__":
    main()
