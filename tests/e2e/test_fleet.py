"""End-to-end test of fleet-wide alerting: three burnrate instances, one Prometheus.

Each instance gets the spans of a different service from the real anthropic and
openai clients, as one sidecar per pod would. One Prometheus scrapes all three
and loads rules/burnrate.yaml unchanged plus a fleet rule that sums daily spend
across instances. The fleet budget lies above every single instance's spend and
above the first two instances together, but below all three: the rule must
stay quiet until the third instance's spend arrives, and fire after it.
"""

from __future__ import annotations

import json
import math
import time

import pytest

import prometheus_text
from conftest import REPO_ROOT, http_get, launch_burnrate, run_client_app, terminate_process
from prometheus_server import PROMETHEUS_BIN, Prometheus
from test_real_clients import RUNS

# Service and client cases of each instance. The third repeats the first one's
# cases under another service, so its spend is known before it is fed.
INSTANCE_RUNS = [
    ("checkout", RUNS["checkout"]),
    ("search", RUNS["search"]),
    ("support", RUNS["checkout"]),
]
FLEET_ALERT = "LLMFleetDailySpendOverBudget"
METRICS_TIMEOUT_SECONDS = 30
ALERT_TIMEOUT_SECONDS = 30
# Rule evaluations (1 s apart) during which the alert must stay quiet.
QUIET_SECONDS = 5
DEFAULT_RULE_GROUPS = {"burnrate-rate-limits", "burnrate-spend"}


def scrape_samples(instance) -> list[prometheus_text.Sample]:
    status, text = http_get(instance.metrics_url)
    assert status == 200, f"GET {instance.metrics_url} returned {status}"
    return prometheus_text.parse(text)


def total(samples: list[prometheus_text.Sample], name: str, labels: dict) -> float:
    return sum(sample.value for sample in prometheus_text.find(samples, name, labels))


def feed_and_wait(instance, fake_provider, service: str, cases: list[str], output) -> float:
    """Send the service's calls to the instance, wait until it counted them all,
    and return its daily spend in USD."""
    run_client_app(fake_provider.base_url, instance.grpc_endpoint, service, cases, output)
    deadline = time.monotonic() + METRICS_TIMEOUT_SECONDS
    samples = scrape_samples(instance)
    while time.monotonic() < deadline:
        counted = total(samples, "burnrate_llm_requests_total", {"service_name": service})
        if counted >= len(cases):
            break
        time.sleep(0.2)
        samples = scrape_samples(instance)
    counted = total(samples, "burnrate_llm_requests_total", {"service_name": service})
    assert counted == len(cases), f"{service}: {counted} calls counted, expected {len(cases)}"
    return total(samples, "burnrate_spend_usd", {"period": "day"})


def fleet_rule(budget_usd: float) -> str:
    rule = {
        "groups": [
            {
                "name": "fleet-spend",
                "rules": [
                    {
                        "alert": FLEET_ALERT,
                        "expr": f'sum(burnrate_spend_usd{{period="day"}}) > {budget_usd!r}',
                        "labels": {"severity": "critical"},
                    }
                ],
            }
        ]
    }
    return json.dumps(rule, indent=2) + "\n"


def firing_fleet_alerts(prometheus: Prometheus) -> list[dict]:
    return prometheus.query(f'ALERTS{{alertname="{FLEET_ALERT}", alertstate="firing"}}')


@pytest.fixture(scope="module")
def fleet(burnrate_bin, fake_provider, tmp_path_factory):
    """Start three instances and Prometheus; feed the first two instances only."""
    if not PROMETHEUS_BIN.is_file():
        pytest.fail(f"{PROMETHEUS_BIN} not found; run scripts/debian-tools.sh")
    work_dir = tmp_path_factory.mktemp("fleet")
    instances = []
    prometheus = None
    try:
        for index in range(len(INSTANCE_RUNS)):
            instances.append(launch_burnrate(burnrate_bin, work_dir / f"burnrate-{index}", []))
        spends = []
        for instance, (service, cases) in list(zip(instances, INSTANCE_RUNS))[:2]:
            output = work_dir / f"{service}.json"
            spends.append(feed_and_wait(instance, fake_provider, service, cases, output))
        # The third instance's spend equals the first one's (same cases), so
        # this budget lies between two instances' spend and three's.
        budget_usd = spends[0] + spends[1] + spends[0] / 2
        rule_path = work_dir / "fleet-rules.yaml"
        rule_path.write_text(fleet_rule(budget_usd))
        targets = [
            instance.metrics_url.removeprefix("http://").removesuffix("/metrics")
            for instance in instances
        ]
        prometheus = Prometheus(
            work_dir, targets, [REPO_ROOT / "rules" / "burnrate.yaml", rule_path]
        )
        prometheus.wait_until_ready()
        yield instances, prometheus, spends, budget_usd
    finally:
        if prometheus is not None:
            prometheus.stop()
        for instance in instances:
            terminate_process(instance.process)


def test_fleet_alert_fires_on_sum(fleet, fake_provider, tmp_path):
    instances, prometheus, spends, budget_usd = fleet
    assert spends[0] > 0, "the first instance recorded no spend"
    assert spends[1] > 0, "the second instance recorded no spend"

    # Below the budget: every scrape of the three targets, several rule
    # evaluations, and no firing alert.
    up = prometheus.query_until_data('count(up{job="burnrate"} == 1) == 3')
    assert up, "Prometheus does not scrape all three instances"
    time.sleep(QUIET_SECONDS)
    two_instances = prometheus.query('sum(burnrate_spend_usd{period="day"})')
    assert two_instances, "Prometheus has no burnrate_spend_usd"
    assert float(two_instances[0]["value"][1]) < budget_usd
    assert firing_fleet_alerts(prometheus) == []

    service, cases = INSTANCE_RUNS[2]
    spends.append(
        feed_and_wait(instances[2], fake_provider, service, cases, tmp_path / "third.json")
    )
    assert math.isclose(spends[2], spends[0], rel_tol=1e-12), "the third spend differs"
    assert max(spends) < budget_usd, "one instance alone is over the fleet budget"
    assert sum(spends) > budget_usd, "three instances together are under the budget"

    deadline = time.monotonic() + ALERT_TIMEOUT_SECONDS
    firing = firing_fleet_alerts(prometheus)
    while not firing and time.monotonic() < deadline:
        time.sleep(0.5)
        firing = firing_fleet_alerts(prometheus)
    assert len(firing) == 1, f"{FLEET_ALERT} did not fire within {ALERT_TIMEOUT_SECONDS} s"


def test_fleet_figures_add_up(fleet):
    instances, prometheus, spends, _ = fleet
    per_instance = prometheus.query_until_data(
        'sum by (instance) (burnrate_spend_usd{period="day"})'
    )
    assert len(per_instance) == len(instances)
    fleet_sum = prometheus.query('sum(burnrate_spend_usd{period="day"})')
    summed = sum(float(series["value"][1]) for series in per_instance)
    assert math.isclose(float(fleet_sum[0]["value"][1]), summed, rel_tol=1e-12)
    assert math.isclose(summed, sum(spends), rel_tol=1e-12)

    requests = prometheus.query("sum(burnrate_llm_requests_total)")
    expected_requests = sum(len(cases) for _, cases in INSTANCE_RUNS)
    assert float(requests[0]["value"][1]) == expected_requests

    by_service = prometheus.query("sum by (service_name) (burnrate_llm_requests_total)")
    counts = {s["metric"]["service_name"]: float(s["value"][1]) for s in by_service}
    assert counts == {service: len(cases) for service, cases in INSTANCE_RUNS}


def test_default_rules_load_in_prometheus(fleet):
    _, prometheus, _, _ = fleet
    status, body = http_get(prometheus.url + "/api/v1/rules")
    assert status == 200, body
    groups = {group["name"]: group for group in json.loads(body)["data"]["groups"]}
    assert set(groups) >= DEFAULT_RULE_GROUPS | {"fleet-spend"}
    for name in DEFAULT_RULE_GROUPS:
        for rule in groups[name]["rules"]:
            assert rule["health"] != "err", f"{rule['name']}: {rule.get('lastError')}"
