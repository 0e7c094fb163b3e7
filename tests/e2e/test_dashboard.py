"""End-to-end test of the Grafana dashboard in deploy/grafana-dashboard.json.

Debian's Prometheus (/usr/bin/prometheus, installed by scripts/debian-tools.sh)
scrapes a burnrate fed with the real anthropic and openai clients' spans, as
in test_real_clients.py, every second. Every PromQL query of the dashboard then
runs against Prometheus' HTTP API, with Grafana's variables replaced, and must
return data.

The dashboard JSON is also checked against the rules of the schemaVersion it
declares (39), as listed in test_dashboard_model_checks.
"""

from __future__ import annotations

import json
import re

import pytest

from conftest import REPO_ROOT, http_get, run_client_app
from prometheus_server import PROMETHEUS_BIN, Prometheus
from test_real_clients import COMPRESSION, RUNS

DASHBOARD_PATH = REPO_ROOT / "deploy" / "grafana-dashboard.json"
# Grafana's variables and the values they take in the queries: $service's
# "All" value, and a range window that contains many 1 s scrapes.
VARIABLES = {"$__rate_interval": "30s", "${service}": ".*", "$service": ".*"}
# The schemaVersion the dashboard declares and the checks below apply to.
SCHEMA_VERSION = 39
# Panel types built into Grafana that this dashboard may use.
PANEL_TYPES = {"row", "stat", "timeseries", "bargauge", "table", "gauge", "text"}
GRID_COLUMNS = 24
MAX_UID_LENGTH = 40
DATASOURCE_REFERENCE = {"type": "prometheus", "uid": "${datasource}"}
# Queries of metrics that burnrate exposes only after a delay longer than this
# test, with the reason. They must still run without an error.


def load_dashboard() -> dict:
    return json.loads(DASHBOARD_PATH.read_text())


def dashboard_queries() -> list[tuple[str, str, str]]:
    """Return (panel title, refId, expression) of every query in the dashboard."""
    return [
        (panel["title"], target["refId"], target["expr"])
        for panel in load_dashboard()["panels"]
        for target in panel.get("targets", [])
    ]


def substitute_variables(expression: str) -> str:
    for variable, value in VARIABLES.items():
        expression = expression.replace(variable, value)
    return expression


@pytest.fixture(scope="module")
def prometheus(burnrate, fake_provider, tmp_path_factory):
    if not PROMETHEUS_BIN.is_file():
        pytest.fail(f"{PROMETHEUS_BIN} not found; run scripts/debian-tools.sh")
    work_dir = tmp_path_factory.mktemp("prometheus")
    target = burnrate.metrics_url.removeprefix("http://").removesuffix("/metrics")
    server = Prometheus(work_dir, [target])
    try:
        server.wait_until_ready()
        output_dir = tmp_path_factory.mktemp("client_app")
        for service, cases in RUNS.items():
            run_client_app(
                fake_provider.base_url,
                burnrate.grpc_endpoint,
                service,
                cases,
                output_dir / f"{service}.json",
                compression=COMPRESSION[service],
            )
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("title", "ref_id", "expression"),
    dashboard_queries(),
    ids=[f"{title}/{ref_id}" for title, ref_id, _ in dashboard_queries()],
)
def test_dashboard_query_returns_data(prometheus, title, ref_id, expression):
    query = substitute_variables(expression)
    assert "$" not in query, f"unreplaced Grafana variable in {query!r}"
    result = prometheus.query_until_data(query)
    assert result, f"panel {title!r} query {ref_id} returned no data: {query}"


def test_service_variable_lists_services(prometheus):
    variable = next(
        v for v in load_dashboard()["templating"]["list"] if v["name"] == "service"
    )
    match = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["definition"])
    assert match, f"unexpected variable definition {variable['definition']!r}"
    metric, label = match.groups()
    url = f"{prometheus.url}/api/v1/label/{label}/values?match[]={metric}"
    status, body = http_get(url)
    assert status == 200, body
    assert set(json.loads(body)["data"]) >= set(RUNS)


def test_dashboard_model_checks():
    """Check the dashboard against Grafana's JSON model for schemaVersion 39.

    It checks the declared schemaVersion and the required top-level keys
    (title, uid, schemaVersion, panels, templating.list, time.from and
    time.to). The uid has at most 40 characters, and the `rows` key of
    schemaVersion 15 and older is absent. Panel ids are unique, panel types
    are built in (not the deprecated `graph`), and every panel lies inside
    the 24-column grid without overlapping another. Every panel and query
    uses the `${datasource}` variable, and refIds are unique within a panel,
    each with an expression. Variable names are unique, and a `datasource`
    variable selects the `prometheus` plugin.
    """
    dashboard = load_dashboard()
    assert dashboard["schemaVersion"] == SCHEMA_VERSION
    for key in ("title", "uid", "panels", "templating"):
        assert key in dashboard, f"missing top-level key {key!r}"
    assert set(dashboard["time"]) >= {"from", "to"}
    assert len(dashboard["uid"]) <= MAX_UID_LENGTH
    assert "rows" not in dashboard

    panels = dashboard["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {ids}"
    occupied: dict[tuple[int, int], str] = {}
    for panel in panels:
        assert panel["type"] in PANEL_TYPES, f"{panel['title']}: type {panel['type']}"
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["w"] > 0, panel["title"]
        assert grid["h"] > 0, panel["title"]
        assert grid["x"] + grid["w"] <= GRID_COLUMNS, f"{panel['title']} is wider than the grid"
        for column in range(grid["x"], grid["x"] + grid["w"]):
            for row in range(grid["y"], grid["y"] + grid["h"]):
                other = occupied.setdefault((column, row), panel["title"])
                assert other == panel["title"], f"{panel['title']} overlaps {other}"
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE_REFERENCE, panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), f"{panel['title']}: refIds {ref_ids}"
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE_REFERENCE, panel["title"]
            assert target["expr"].strip(), f"{panel['title']}: empty expression"

    variables = dashboard["templating"]["list"]
    names = [variable["name"] for variable in variables]
    assert len(names) == len(set(names)), f"duplicate variables: {names}"
    datasource = next(v for v in variables if v["name"] == "datasource")
    assert datasource["type"] == "datasource"
    assert datasource["query"] == "prometheus"


def test_provisioning_config_map_has_dashboard():
    """deploy/grafana-dashboard.yaml carries the dashboard JSON unchanged."""
    import yaml

    config_map = yaml.safe_load((REPO_ROOT / "deploy" / "grafana-dashboard.yaml").read_text())
    assert config_map["kind"] == "ConfigMap"
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["burnrate.json"]) == load_dashboard()
