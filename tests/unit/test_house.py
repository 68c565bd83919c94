"""The house shows its architecture (issue 24): kit/'s top level reads as the flow, in at most 14
entries, each a package named in an import-linter contract; no module over 400 lines, no function
over 60 (measured over the AST: end_lineno - lineno + 1), and the file that makes the typer app at
most 250 lines."""

from __future__ import annotations

import ast
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
KIT = ROOT / "kit"
NOT_COUNTED = {"__init__.py", "__main__.py", "py.typed"}


def tracked_top_level() -> set[str]:
    """kit/'s tracked entries (git's view: caches and editor files do not count)."""
    # safe.directory: a user other than the checkout's owner (the quick tier runs unprivileged too)
    listed = subprocess.run(["git", "-c", f"safe.directory={ROOT}", "ls-files", "kit"], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    return {line.split("/")[1] for line in listed.stdout.splitlines()}


def test_kit_has_at_most_14_top_level_entries() -> None:
    entries = tracked_top_level() - NOT_COUNTED
    assert len(entries) <= 14, sorted(entries)


def test_every_top_level_package_is_in_an_import_contract() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    named = " ".join(str(contract) for contract in contracts)
    packages = [entry for entry in tracked_top_level() - NOT_COUNTED if (KIT / entry / "__init__.py").is_file()]
    missing = [name for name in packages if f"kit.{name}" not in named]
    assert packages and missing == []


def test_no_module_over_400_lines_and_no_function_over_60() -> None:
    long_modules, long_functions = [], []
    for path in sorted(KIT.rglob("*.py")):
        text = path.read_text()
        if len(text.splitlines()) > 400:
            long_modules.append(f"{path.relative_to(ROOT)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 60:
                    long_functions.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {length} lines")
    assert long_modules == [] and long_functions == []


def test_the_typer_app_file_is_at_most_250_lines() -> None:
    makers = [path for path in KIT.rglob("*.py") if "typer.Typer(" in path.read_text()]
    assert [path.relative_to(ROOT).as_posix() for path in makers] == ["kit/cli/app.py"]
    assert len(makers[0].read_text().splitlines()) <= 250
