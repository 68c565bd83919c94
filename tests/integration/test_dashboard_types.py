"""The dashboards checked by Grafana's own published types: no Grafana server can be installed here.

Every grafana/dashboards/*.json becomes a TypeScript file `const dashboard: Checked = <the JSON>;`
and the TypeScript compiler (strict) checks it against `@grafana/schema` at the version of the
compose file's Grafana (grafana/package.json, package-lock.json; `npm ci --prefix grafana`). A
literal checked against a declared type catches a misspelled key (excess property), a wrong enum
value and a missing required field. Two adaptations, in PRELUDE: JSON spells a string enum's value
("absolute"), which TypeScript accepts only as `${ThresholdsMode}`, hence `Json<T>`; and Grafana's
type leaves `gridPos` optional (Grafana places such a panel itself), while a provisioned dashboard
must say where each panel goes, hence `Placed<T>`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need
from tests.unit.test_metrics import DASHBOARDS

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
TSC = GRAFANA / "node_modules" / "typescript" / "bin" / "tsc"
SCHEMA = GRAFANA / "node_modules" / "@grafana" / "schema"

PRELUDE = """\
import type { Dashboard, Panel, RowPanel } from '@grafana/schema';

// JSON writes a string enum's value ("absolute"); TypeScript takes it for the enum only as `${Enum}`.
type Json<T> =
  T extends string ? `${T}` :
  T extends number | boolean | null | undefined ? T :
  T extends Array<infer U> ? Array<Json<U>> :
  T extends object ? { [K in keyof T]: Json<T[K]> } : T;
// Grafana places a panel without gridPos itself; a provisioned dashboard must place every panel.
type Placed<T> = T & Required<Pick<Panel, 'gridPos'>>;
type Checked = Json<Omit<Dashboard, 'panels'> & { panels: Array<Placed<Panel> | Placed<RowPanel>> }>;

"""


@pytest.fixture(scope="module")
def tsc() -> Path:
    need(None if shutil.which("node") else "Node.js is not installed (apt-get install -y nodejs npm)")
    need(None if TSC.is_file() and SCHEMA.is_dir() else
         "grafana/node_modules is missing: npm ci --prefix grafana (versions pinned in grafana/package-lock.json)")
    return TSC


def typecheck(tsc: Path, dashboards: dict[str, dict[str, Any]], workdir: Path) -> subprocess.CompletedProcess[str]:
    """tsc --strict over one generated .ts file per dashboard (name -> JSON)."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name, data in dashboards.items():
        (workdir / f"{name}.ts").write_text(f"{PRELUDE}export const dashboard: Checked = "
                                            f"{json.dumps(data, indent=2)};\n")
    (workdir / "tsconfig.json").write_text(json.dumps({
        "compilerOptions": {"strict": True, "noEmit": True, "target": "es2020", "module": "commonjs",
                            "moduleResolution": "node", "types": [], "skipLibCheck": False,
                            "baseUrl": ".", "paths": {"@grafana/schema": [str(SCHEMA)]}},
        "files": [f"{name}.ts" for name in dashboards]}))
    return subprocess.run(["node", str(tsc), "-p", str(workdir / "tsconfig.json"), "--pretty", "false"],
                          capture_output=True, text=True, timeout=300, cwd=workdir)  # errors name "<name>.ts(...)"


def test_every_dashboard_type_checks_against_grafana_schema(tsc: Path, tmp_path: Path) -> None:
    assert DASHBOARDS
    check = typecheck(tsc, {path.stem: json.loads(path.read_text()) for path in DASHBOARDS}, tmp_path)
    assert check.returncode == 0 and check.stdout == check.stderr == "", check.stdout + check.stderr


def test_the_pinned_versions_are_what_is_installed() -> None:
    lock = json.loads((GRAFANA / "package-lock.json").read_text())["packages"]
    wanted = json.loads((GRAFANA / "package.json").read_text())["devDependencies"]
    assert wanted["@grafana/schema"] in (ROOT / "compose.yaml").read_text()   # the compose Grafana's own types
    for name, version in wanted.items():
        assert lock[f"node_modules/{name}"]["version"] == version, name
        installed = GRAFANA / "node_modules" / name / "package.json"
        if installed.is_file():
            assert json.loads(installed.read_text())["version"] == version, name


def _mutations() -> dict[str, tuple[dict[str, Any], str]]:
    """Copies of kit.json with one mistake each, and what tsc must say about it."""
    original = json.loads((GRAFANA / "dashboards" / "kit.json").read_text())
    cases: dict[str, tuple[dict[str, Any], str]] = {}
    misspelled = json.loads(json.dumps(original))
    panel = misspelled["panels"][1]
    panel["descripton"] = panel.pop("description")
    cases["misspelled_key"] = (misspelled, "'\"descripton\"' does not exist")
    bad_enum = json.loads(json.dumps(original))
    bad_enum["panels"][0]["fieldConfig"]["defaults"]["thresholds"]["mode"] = "absolut"
    cases["bad_enum"] = (bad_enum, "Type '\"absolut\"' is not assignable")
    no_grid = json.loads(json.dumps(original))
    del no_grid["panels"][2]["gridPos"]
    cases["missing_gridpos"] = (no_grid, "Property 'gridPos' is missing")
    top_level = json.loads(json.dumps(original))
    top_level["refersh"] = top_level.pop("refresh")
    cases["misspelled_top_level_key"] = (top_level, "'\"refersh\"' does not exist")
    return cases


def test_a_misspelled_key_a_bad_enum_or_a_missing_gridpos_fails(tsc: Path, tmp_path: Path) -> None:
    cases = _mutations()
    check = typecheck(tsc, {name: data for name, (data, _) in cases.items()}, tmp_path)
    assert check.returncode != 0
    errors: dict[str, list[str]] = {name: [] for name in cases}
    name = ""
    for line in check.stdout.splitlines():
        if line.startswith(" ") and name in errors:  # an error's explanation goes on, indented
            errors[name][-1] += "\n" + line
            continue
        name = line.split(".ts(", 1)[0]
        if name in errors:
            errors[name].append(line)
    for name, (_, expected) in cases.items():
        assert len(errors[name]) == 1 and expected in errors[name][0], (name, check.stdout)
