"""deploy/grafana/gpu-dashboard.json: Grafana's dashboard shape, and every query
returns data from the real Prometheus of this session.

No Grafana server can be had here (Debian, PyPI and npm ship none), so what
Grafana would do is done by hand: template variables are substituted the way
Grafana expands "All" on a multi-value variable, and each panel's PromQL goes
to Prometheus's HTTP API as an instant and as a range query.
"""

import json
import re
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from course_utils.telemetry.promserver import PromQLError

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "gpu-dashboard.json"
BUILTINS = {"__range": "5m", "__range_s": "300", "__rate_interval": "1m", "__interval": "15s"}
VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}")


def load():
    return json.loads(DASHBOARD.read_text())


def panels(dash):
    return [p for p in dash["panels"] if p["type"] != "row"]


def all_targets(dash):
    return [(p["title"], t) for p in panels(dash) for t in p["targets"]]


def variables(dash):
    return {v["name"]: v for v in dash["templating"]["list"]}


def test_the_dashboard_has_grafanas_shape():
    dash = load()
    for key, kind in (
        ("title", str),
        ("uid", str),
        ("schemaVersion", int),
        ("panels", list),
        ("templating", dict),
        ("time", dict),
    ):
        assert isinstance(dash[key], kind), key
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", dash["uid"])
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells = set()
    for p in dash["panels"]:
        g = p["gridPos"]
        assert g["w"] >= 1 and g["h"] >= 1 and 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, f"{p['title']} overlaps another panel"
        cells |= mine
    for p in panels(dash):
        assert p["type"] in {"timeseries", "stat", "table", "gauge", "bargauge"}, p["type"]
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        ref_ids = [t["refId"] for t in p["targets"]]
        assert ref_ids and len(ref_ids) == len(set(ref_ids)), p["title"]


def test_it_covers_what_the_issue_asks_for():
    exprs = " ".join(t["expr"] for _, t in all_targets(load()))
    for metric in (
        "DCGM_FI_DEV_GPU_UTIL",
        "DCGM_FI_DEV_FB_USED",
        "DCGM_FI_DEV_POWER_USAGE",
        "DCGM_FI_DEV_ENFORCED_POWER_LIMIT",
        "DCGM_FI_DEV_GPU_TEMP",
        "course_gpu_process_memory_used_bytes",
    ):
        assert metric in exprs, metric
    assert "by (job)" in exprs and '"$job"' in exprs


def test_every_variable_used_is_defined():
    dash = load()
    defined = set(variables(dash)) | set(BUILTINS)
    texts = [t["expr"] for _, t in all_targets(dash)] + [json.dumps(p["datasource"]) for p in panels(dash)]
    texts += [v.get("definition", "") for v in dash["templating"]["list"]]
    used = {a or b for text in texts for a, b in VARIABLE.findall(text)}
    assert used <= defined, used - defined


def substitute(expr: str, values: dict[str, str]) -> str:
    return VARIABLE.sub(lambda m: values[m.group(1) or m.group(2)], expr)


@pytest.fixture(scope="module")
def values(stack):
    """Variable values as Grafana sends them with every variable on "All"."""
    return {**BUILTINS, "job": "(course-gpus|other-job)", "Hostname": ".*", "gpu": ".*"}


@pytest.mark.integration
def test_template_variable_queries_return_values(stack, values):
    import urllib.request

    for name, var in variables(load()).items():
        if var["type"] != "query":
            continue
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", var["query"]["query"])
        assert m, f"variable {name}: only label_values(selector, label) is used"
        selector, label = substitute(m.group(1), values), m.group(2)
        url = f"{stack.prometheus.url}/api/v1/label/{label}/values?match[]={quote(selector)}"
        found = json.load(urllib.request.urlopen(url, timeout=5))["data"]
        assert found, f"variable {name}: no values for {selector}"


@pytest.mark.integration
@pytest.mark.parametrize("title_target", all_targets(load()), ids=lambda tt: f"{tt[0]}-{tt[1]['refId']}")
def test_every_panel_query_parses_and_returns_data(stack, values, title_target):
    title, target = title_target
    expr = substitute(target["expr"], values)
    try:
        instant = stack.prometheus.query(expr)
        now = time.time()
        ranged = stack.prometheus.query_range(expr, now - 60, now, 1)
    except PromQLError as exc:
        pytest.fail(f"panel {title!r}: {exc}")
    assert instant, f"panel {title!r}: {expr} returned no series"
    assert any(series["values"] for series in ranged), f"panel {title!r}: no data in the last minute"
