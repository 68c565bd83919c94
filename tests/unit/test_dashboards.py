"""What Grafana's types cannot see in grafana/dashboards/*.json: the datasource every panel and query
uses is the provisioned one, and every `$variable` a panel uses is defined (or one of Grafana's own)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_metrics import DASHBOARDS

ROOT = Path(__file__).resolve().parents[2]
PROVISIONED = ROOT / "grafana" / "provisioning" / "datasources" / "prometheus.yaml"
# Grafana's global variables (https://grafana.com/docs/grafana/latest/dashboards/variables/add-template-variables/)
GLOBAL_VARIABLES = {"__interval", "__interval_ms", "__rate_interval", "__rate_interval_ms", "__range", "__range_s",
                    "__range_ms", "__from", "__to", "__now", "__dashboard", "__org", "__user", "__name",
                    "__timeFilter", "timeFilter"}


def provisioned_datasource() -> dict[str, str]:
    """The one datasource of grafana/provisioning/ (uid and type), read from its YAML lines."""
    text = PROVISIONED.read_text()
    uids, types = re.findall(r"^\s+uid: (\S+)$", text, re.M), re.findall(r"^\s+type: (\S+)$", text, re.M)
    assert len(uids) == len(types) == 1, text
    return {"type": types[0], "uid": uids[0]}


def all_panels(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for panel in items:
        found.append(panel)
        found += all_panels(panel.get("panels", []))
    return found


def texts(data: dict[str, Any]) -> list[str]:
    """Every string Grafana interpolates variables into: queries, legends, titles, descriptions, links."""
    found = []
    for panel in all_panels(data["panels"]):
        found += [panel.get("title", ""), panel.get("description", "")]
        found += [str(t.get(key, "")) for t in panel.get("targets", []) for key in ("expr", "legendFormat")]
        found += [str(link.get("url", "")) for link in panel.get("links", [])]
    for variable in data["templating"]["list"]:
        query = variable.get("query")
        found.append(query.get("query", "") if isinstance(query, dict) else str(query or ""))
    return found


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_panel_and_query_uses_the_provisioned_datasource(path: Path) -> None:
    data, datasource = json.loads(path.read_text()), provisioned_datasource()
    assert datasource == {"type": "prometheus", "uid": "kit-prometheus"}
    for panel in all_panels(data["panels"]):
        if panel["type"] == "row":
            continue
        assert panel.get("datasource") == datasource, panel["title"]
        assert panel.get("targets"), panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource") == datasource, (panel["title"], target.get("refId"))
    for variable in data["templating"]["list"]:
        if variable["type"] == "query":
            assert variable.get("datasource") == datasource, variable["name"]
    for annotation in data.get("annotations", {}).get("list", []):
        assert annotation.get("datasource") in (datasource, {"type": "grafana", "uid": "-- Grafana --"}), annotation


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_variable_used_is_defined(path: Path) -> None:
    data = json.loads(path.read_text())
    defined = [variable["name"] for variable in data["templating"]["list"]]
    assert len(defined) == len(set(defined))
    used = set()
    for text in texts(data):
        # $name, ${name}, ${name:format} and the old [[name]]
        used |= {m[0] or m[1] or m[2] for m in re.findall(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]", text)}
    assert used, "no variable used at all"
    assert used - GLOBAL_VARIABLES <= set(defined), used - GLOBAL_VARIABLES - set(defined)
    # a variable may use only the ones defined before it (Grafana resolves them in order)
    for index, variable in enumerate(data["templating"]["list"]):
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        assert set(re.findall(r"\$\{?(\w+)", text)) <= set(defined[:index]), variable["name"]


def test_a_variable_used_but_not_defined_is_found(tmp_path: Path) -> None:
    data = json.loads(DASHBOARDS[0].read_text())
    data["panels"][0]["targets"][0]["expr"] += ' + on () kit_batch_items{run=~"$runs"}'
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data))
    with pytest.raises(AssertionError, match="runs"):
        test_every_variable_used_is_defined(broken)


def test_a_panel_on_another_datasource_is_found(tmp_path: Path) -> None:
    data = json.loads(DASHBOARDS[0].read_text())
    data["panels"][-1]["datasource"] = {"type": "prometheus", "uid": "other"}
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data))
    with pytest.raises(AssertionError):
        test_every_panel_and_query_uses_the_provisioned_datasource(broken)
