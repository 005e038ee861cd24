"""``./dev run`` on a fresh clone: the install says one line, then the URL is what the user
sees; an install that fails still shows its error.

``dev`` runs in a folder of its own with a stand-in ``.venv``: its ``python`` plays pip
(a page of warnings unless told ``-qq``, as pip does with an unreachable extra index and
setuptools' licence notice) and its ``dtq`` prints the line ``dtq serve`` prints."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

from tests.support.processes import ROOT

URL_LINE = "dtq serve: http://127.0.0.1:7071/ (API at /api/v1, 2 worker processes, data in .dtq)"

FAKE_PIP = """#!/usr/bin/env bash
# pip's verbosity: each -q / --quiet lowers it; warnings show above -2, errors always.
quiet=0
for arg in "$@"; do
  case "$arg" in
    --quiet) quiet=$((quiet + 1)) ;;
    -q*) quiet=$((quiet + ${#arg} - 1)) ;;
  esac
done
if [ -n "${FAKE_PIP_FAILS:-}" ]; then
  echo "ERROR: Could not find a version that satisfies the requirement nothing-here" >&2
  exit 1
fi
if [ "$quiet" -lt 2 ]; then
  for i in $(seq 80); do
    echo "WARNING: Location 'file:///opt/pypi/simple/pkg$i/' is ignored" >&2
  done
  echo "  BuildBackendWarning: \\`project.license\\` as a TOML table is deprecated" >&2
fi
if [ "$quiet" -lt 1 ]; then
  echo "Successfully installed dtq-0.1.0"
fi
"""


def _fresh_clone(tmp_path: Path) -> Path:
    home = tmp_path / "clone"
    (home / ".venv" / "bin").mkdir(parents=True)
    shutil.copy(ROOT / "dev", home / "dev")
    shutil.copy(ROOT / "pyproject.toml", home / "pyproject.toml")
    for name, text in (("python", FAKE_PIP), ("dtq", f"#!/bin/sh\necho '{URL_LINE}'\n")):
        path = home / ".venv" / "bin" / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return home


def _dev_run(home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "dev", "run"],
        cwd=home,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def test_dev_run_shows_one_install_line_then_the_url(tmp_path: Path) -> None:
    home = _fresh_clone(tmp_path)
    ran = _dev_run(home)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == [URL_LINE]
    assert ran.stderr.splitlines() == ["dev: installing dtq[host] into .venv"]
    assert _dev_run(home).stderr == "", "installed once: nothing to say the next time"


def test_dev_run_shows_an_install_error(tmp_path: Path) -> None:
    ran = _dev_run(_fresh_clone(tmp_path), FAKE_PIP_FAILS="1")
    assert ran.returncode != 0
    assert "ERROR: Could not find a version" in ran.stderr
    assert URL_LINE not in ran.stdout
