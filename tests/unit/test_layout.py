"""The layout docs/architecture.md describes, held to the tree: the function app imports
no tool, the tools refuse a folder without an app, the README's table of paths names
every folder, and a module over 300 lines says in docs/architecture.md why.

(The import rules between the core, its adapters and the triggers are import-linter
contracts in pyproject.toml, run by ./dev lint.)"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from tests.support.processes import ROOT

LONG = 300


def tracked() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [ROOT / line for line in out.splitlines() if (ROOT / line).exists()]


def test_the_function_app_module_imports_no_tool() -> None:
    tree = ast.parse((ROOT / "function_app.py").read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert "dtq" not in imported


def test_the_tools_refuse_a_folder_without_a_function_app(tmp_path: Path) -> None:
    for command in (["serve", "--port", "0"], ["worker"], ["keys", "list"]):
        done = subprocess.run(
            [sys.executable, "-m", "dtq.cli", *command],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert "is not a function app folder (no function_app.py or host.json)" in done.stderr
        assert "Traceback" not in done.stderr


def readme_paths() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("| path | what |", 1)[1].split("\n\n", 1)[0]
    paths: set[str] = set()
    for row in table.splitlines()[2:]:
        first = row.split("|")[1]
        paths |= {p.rstrip("/") for p in re.findall(r"`([^`]+)`", first)}
    return paths


def test_the_readmes_table_of_paths_matches_the_tree() -> None:
    named = readme_paths()
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert missing == [], f"the README names paths that do not exist: {missing}"
    folders = {
        path.relative_to(ROOT).parts[0]
        for path in tracked()
        if len(path.relative_to(ROOT).parts) > 1
    }
    covered = {p.split("/")[0] for p in named}
    assert sorted(folders - covered) == [], "every top-level folder has a row in the README"


def test_a_module_over_300_lines_says_why() -> None:
    architecture = (ROOT / "docs" / "architecture.md").read_text()
    section = architecture.split("## Modules over 300 lines", 1)
    assert len(section) == 2, "docs/architecture.md has a section 'Modules over 300 lines'"
    explained = set(re.findall(r"^- `([^`]+\.py)`", section[1].split("\n## ", 1)[0], re.M))
    long = {
        str(path.relative_to(ROOT))
        for path in tracked()
        if path.suffix == ".py"
        and path.relative_to(ROOT).parts[0] in ("shared", "functions", "dtq")
        and len(path.read_text().splitlines()) > LONG
    }
    assert sorted(long - explained) == [], "over 300 lines: split it, or say why"
    assert sorted(explained - long) == [], "listed as long, but no longer is"
