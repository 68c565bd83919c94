"""product.md section 3's layering is a checked contract: the import-linter contracts in
pyproject.toml hold (CI also runs `lint-imports`), and no module of kit/ takes part in an import
cycle (type-only imports aside)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent.parent


def test_the_import_contracts_hold() -> None:
    done = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    declared = (ROOT / "pyproject.toml").read_text().count("[[tool.importlinter.contracts]]")
    assert declared >= 5 and f"{declared} kept, 0 broken" in done.stdout


def test_no_import_cycle_in_kit() -> None:
    graph = grimp.build_graph("kit", exclude_type_checking_imports=True)
    modules = sorted(graph.modules)
    cycles = []
    for module in modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.startswith("kit") and graph.find_shortest_chain(importer=imported, imported=module):
                cycles.append(f"{module} <-> {imported}")
    assert cycles == []
