"""End-to-end test of the burnrate binary with the real anthropic and openai clients.

client_app.py calls fake_provider.py with the real SDKs and exports its spans to
burnrate, which forwards them to the upstream receiver and turns them into metrics.
Every expected figure comes from fake_provider.CASES and the price list below. A series
is found by its common labels plus the metric's own label; further labels are accepted
as long as exactly one series matches.

Run from the repository root after `cargo build`:

    "$(scripts/python-env.sh | tail -n 1)" -m pytest tests/e2e
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

import prometheus_text
from conftest import (
    DEPLOYMENT_ENVIRONMENT,
    LEDGER_TIME_ZONE,
    REPO_ROOT,
    http_get,
    run_client_app,
)
from fake_provider import CASES, Case

# Calls per service, in the order client_app makes them.
RUNS = {
    "checkout": ["anthropic_cache", "anthropic_stream", "anthropic_429"],
    "search": ["openai_reasoning", "openai_stream"],
}
# Export compression per service, so both plain and gzip requests are received.
COMPRESSION = {"checkout": None, "search": "gzip"}
TOKEN_TYPES = ["input", "output", "cache_read", "cache_creation", "reasoning"]
# USD per million tokens. Reasoning tokens are billed at the output price.
PRICES_USD_PER_MILLION = {
    "claude-sonnet-4-5": {
        "input": 3.00,
        "output": 15.00,
        "cache_read": 0.30,
        "cache_creation": 3.75,
    },
    "o4-mini": {"input": 1.10, "output": 4.40, "cache_read": 0.275},
    "gpt-4o-mini": {"input": 0.15, "output": 0.60, "cache_read": 0.075},
}
OUTCOMES = {200: "ok", 429: "rate_limited"}
METRICS_TIMEOUT_SECONDS = 30
FORWARD_TIMEOUT_SECONDS = 30
COST_TOLERANCE_USD = 5e-7
RATIO_TOLERANCE = 1e-9
ANTHROPIC_RESET_TOLERANCE_SECONDS = 2.0
# burnrate may date an OpenAI reset from the span's end or from when the span arrived.
# The two differ by up to 5 s, the batch span processor's default export delay.
OPENAI_RESET_TOLERANCE_SECONDS = 6.0


@dataclass(frozen=True, order=True)
class Series:
    """The common labels of burnrate's LLM metrics."""

    provider: str
    model: str
    service: str

    def labels(self, **extra: str) -> dict[str, str]:
        return {
            "gen_ai_provider_name": self.provider,
            "gen_ai_request_model": self.model,
            "service_name": self.service,
            **extra,
        }


def normalize_model(model: str) -> str:
    """Remove a date suffix: `-20250929` (Anthropic) or `-2025-04-16` (OpenAI)."""
    return re.sub(r"-(\d{8}|\d{4}-\d{2}-\d{2})$", "", model)


def series_of(case: Case, service: str) -> Series:
    model = normalize_model(case.response_model)
    assert model == case.request_model, (
        f"case table: {case.name} normalizes to {model}, not {case.request_model}"
    )
    return Series(case.provider, model, service)


def token_partition(case: Case) -> dict[str, int]:
    """Split a successful call's usage into burnrate's non-overlapping token types."""
    usage = case.usage
    if case.provider == "anthropic":
        # Anthropic's input_tokens already excludes cache reads and writes.
        return {
            "input": usage["input_tokens"],
            "output": usage["output_tokens"],
            "cache_read": usage["cache_read_input_tokens"],
            "cache_creation": usage["cache_creation_input_tokens"],
            "reasoning": 0,
        }
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
    return {
        "input": usage["prompt_tokens"] - cached,
        "output": usage["completion_tokens"] - reasoning,
        "cache_read": cached,
        "cache_creation": 0,
        "reasoning": reasoning,
    }


def cost_usd(model: str, tokens: dict[str, int]) -> float:
    prices = PRICES_USD_PER_MILLION[model]
    total = tokens["input"] * prices["input"] + tokens["output"] * prices["output"]
    total += tokens["reasoning"] * prices["output"]
    total += tokens["cache_read"] * prices["cache_read"]
    total += tokens["cache_creation"] * prices.get("cache_creation", 0.0)
    return total / 1_000_000


def expected_requests() -> dict[tuple[Series, str], int]:
    counts: dict[tuple[Series, str], int] = {}
    for service, names in RUNS.items():
        for name in names:
            key = (series_of(CASES[name], service), OUTCOMES[CASES[name].status])
            counts[key] = counts.get(key, 0) + 1
    return counts


def expected_tokens() -> dict[tuple[Series, str], int]:
    totals: dict[tuple[Series, str], int] = {}
    for service, names in RUNS.items():
        for case in (CASES[name] for name in names if CASES[name].status == 200):
            for token_type, count in token_partition(case).items():
                key = (series_of(case, service), token_type)
                totals[key] = totals.get(key, 0) + count
    return totals


def expected_costs() -> dict[Series, float]:
    costs: dict[Series, float] = {}
    for service, names in RUNS.items():
        for case in (CASES[name] for name in names if CASES[name].status == 200):
            series = series_of(case, service)
            costs[series] = costs.get(series, 0.0) + cost_usd(
                series.model, token_partition(case)
            )
    return costs


def all_series() -> list[Series]:
    return sorted(
        {
            series_of(CASES[name], service)
            for service, names in RUNS.items()
            for name in names
        }
    )


def limit_kinds(series: Series) -> list[str]:
    return (
        ["requests", "tokens", "input_tokens", "output_tokens"]
        if series.provider == "anthropic"
        else ["requests", "tokens"]
    )


RATELIMIT_PARAMS = [
    (series, kind) for series in all_series() for kind in limit_kinds(series)
]
TOKEN_PARAMS = [
    (series, token_type) for series in all_series() for token_type in TOKEN_TYPES
]


def param_id(value) -> str:
    return f"{value.service}-{value.model}" if isinstance(value, Series) else str(value)


EXPECTED_REQUESTS = expected_requests()
EXPECTED_TOKENS = expected_tokens()
EXPECTED_COSTS = expected_costs()


@dataclass(repr=False)
class Scenario:
    """What one run of both services produced: recorded spans, responses sent and one scrape."""

    recorded_runs: list[dict]
    sent_responses: list
    started_at_unix: float
    samples: list[prometheus_text.Sample]
    scraped_at_unix: float
    metrics_text: str

    def __repr__(self) -> str:
        # pytest prints fixture values in failure reports; the full scrape would drown the message.
        spans = sum(len(run["spans"]) for run in self.recorded_runs)
        responses, samples = len(self.sent_responses), len(self.samples)
        return f"Scenario({spans} recorded spans, {responses} responses, {samples} samples)"

    def matching(
        self, name: str, labels: dict[str, str]
    ) -> list[prometheus_text.Sample]:
        return prometheus_text.find(self.samples, name, labels)

    def one_sample(self, name: str, labels: dict[str, str]) -> prometheus_text.Sample:
        """Return the one series of `name` with `labels`, or fail showing every scraped line of `name`."""
        found = self.matching(name, labels)
        if len(found) != 1:
            lines = (
                "\n".join(s.line for s in self.samples if s.name == name)
                or "(no series of this metric)"
            )
            pytest.fail(
                f"expected exactly one {name} series with {labels}, found {len(found)}; scraped:\n{lines}"
            )
        return found[0]

    def newest_response(self, series: Series):
        """Return the last response the fake sent for a call of `series`."""
        service_of_case = {
            name: service for service, names in RUNS.items() for name in names
        }
        responses = [
            response
            for response in self.sent_responses
            if series_of(CASES[response.case], service_of_case[response.case]) == series
        ]
        assert responses, f"the fake provider sent no response for {series}"
        return responses[-1]


def scrape(metrics_url: str) -> tuple[list[prometheus_text.Sample], float, str]:
    scraped_at = time.time()
    status, text = http_get(metrics_url)
    assert status == 200, f"GET {metrics_url} returned {status}: {text[:500]}"
    return prometheus_text.parse(text), scraped_at, text


def request_counts_reached(samples: list[prometheus_text.Sample]) -> bool:
    for (series, outcome), count in EXPECTED_REQUESTS.items():
        found = prometheus_text.find(
            samples, "burnrate_llm_requests_total", series.labels(outcome=outcome)
        )
        if sum(sample.value for sample in found) < count:
            return False
    return True


def scrape_until_counted(
    metrics_url: str,
) -> tuple[list[prometheus_text.Sample], float, str]:
    """Scrape every 0.2 s until the expected request counts are reached, or time out.

    Returns the last scrape either way, so the asserts show what burnrate exposed.
    """
    deadline = time.monotonic() + METRICS_TIMEOUT_SECONDS
    samples, scraped_at, text = scrape(metrics_url)
    while not request_counts_reached(samples) and time.monotonic() < deadline:
        time.sleep(0.2)
        samples, scraped_at, text = scrape(metrics_url)
    return samples, scraped_at, text


@pytest.fixture(scope="module")
def scenario(burnrate, fake_provider, tmp_path_factory) -> Scenario:
    output_dir = tmp_path_factory.mktemp("client_app")
    started_at = time.time()
    recorded_runs = []
    for service, names in RUNS.items():
        output = output_dir / f"{service}.json"
        recorded_runs.append(
            run_client_app(
                fake_provider.base_url,
                burnrate.grpc_endpoint,
                service,
                names,
                output,
                compression=COMPRESSION[service],
            )
        )
    samples, scraped_at, text = scrape_until_counted(burnrate.metrics_url)
    # Kept for reading after the run; the assertions use the parsed samples.
    (REPO_ROOT / "target" / "e2e-metrics.txt").write_text(text)
    return Scenario(
        recorded_runs,
        fake_provider.sent_responses(),
        started_at,
        samples,
        scraped_at,
        text,
    )


@pytest.mark.parametrize(("series", "outcome"), sorted(EXPECTED_REQUESTS), ids=param_id)
def test_request_count(scenario, series, outcome):
    expected = EXPECTED_REQUESTS[(series, outcome)]
    sample = scenario.one_sample(
        "burnrate_llm_requests_total", series.labels(outcome=outcome)
    )
    assert sample.value == expected, (
        f"expected {expected} calls, each counted once; scraped: {sample.line}"
    )


@pytest.mark.parametrize("series", all_series(), ids=param_id)
def test_no_unexpected_outcome(scenario, series):
    expected_outcomes = {outcome for (s, outcome) in EXPECTED_REQUESTS if s == series}
    found = scenario.matching("burnrate_llm_requests_total", series.labels())
    unexpected = [
        s.line
        for s in found
        if s.labels.get("outcome") not in expected_outcomes and s.value != 0
    ]
    assert not unexpected, (
        f"only outcomes {sorted(expected_outcomes)} were expected; scraped: {unexpected}"
    )


@pytest.mark.parametrize(("series", "token_type"), TOKEN_PARAMS, ids=param_id)
def test_token_count(scenario, series, token_type):
    expected = EXPECTED_TOKENS.get((series, token_type), 0)
    labels = series.labels(gen_ai_token_type=token_type)
    if expected == 0:
        found = scenario.matching("burnrate_llm_tokens_total", labels)
        assert all(s.value == 0 for s in found), (
            f"expected no {token_type} tokens; scraped: {[s.line for s in found]}"
        )
        return
    sample = scenario.one_sample("burnrate_llm_tokens_total", labels)
    assert sample.value == expected, (
        f"expected {expected} {token_type} tokens; scraped: {sample.line}"
    )


@pytest.mark.parametrize("series", sorted(EXPECTED_COSTS), ids=param_id)
def test_cost(scenario, series):
    expected = EXPECTED_COSTS[series]
    sample = scenario.one_sample("burnrate_llm_cost_usd_total", series.labels())
    assert abs(sample.value - expected) < COST_TOLERANCE_USD, (
        f"expected {expected:.7f} USD; scraped: {sample.line}"
    )


def local_day(unix_seconds: float):
    return datetime.fromtimestamp(unix_seconds, ZoneInfo(LEDGER_TIME_ZONE)).date()


@pytest.mark.parametrize("series", sorted(EXPECTED_COSTS), ids=param_id)
def test_spend_of_day_and_month(scenario, series):
    expected = EXPECTED_COSTS[series]
    month = scenario.one_sample("burnrate_spend_usd", series.labels(period="month"))
    day = scenario.one_sample("burnrate_spend_usd", series.labels(period="day"))
    same_day = local_day(scenario.started_at_unix) == local_day(scenario.scraped_at_unix)
    if same_day:
        assert abs(day.value - expected) < COST_TOLERANCE_USD, (
            f"expected {expected:.7f} USD spent today in {LEDGER_TIME_ZONE}; scraped: {day.line}"
        )
    if same_day or local_day(scenario.scraped_at_unix).day != 1:
        assert abs(month.value - expected) < COST_TOLERANCE_USD, (
            f"expected {expected:.7f} USD spent this month; scraped: {month.line}"
        )


def test_budgets_sum_their_series(scenario):
    checkout = sum(cost for series, cost in EXPECTED_COSTS.items() if series.service == "checkout")
    everything = sum(EXPECTED_COSTS.values())
    expected = [
        ("burnrate_budget_usd", "checkout-month", "month", 0.01),
        ("burnrate_budget_usd", "all-day", "day", 5.0),
        ("burnrate_budget_spend_usd", "checkout-month", "month", checkout),
        ("burnrate_budget_spend_usd", "all-day", "day", everything),
    ]
    same_day = local_day(scenario.started_at_unix) == local_day(scenario.scraped_at_unix)
    for name, budget, period, value in expected:
        if name == "burnrate_budget_spend_usd" and not same_day:
            continue
        sample = scenario.one_sample(name, {"budget": budget, "period": period})
        assert abs(sample.value - value) < COST_TOLERANCE_USD, (
            f"expected {value:.7f} for budget {budget}; scraped: {sample.line}"
        )


@pytest.mark.parametrize("series", all_series(), ids=param_id)
def test_allowlisted_label_and_window(scenario, series):
    requests = scenario.matching("burnrate_llm_requests_total", series.labels())
    assert requests and all(
        s.labels.get("deployment_environment") == DEPLOYMENT_ENVIRONMENT for s in requests
    ), f"every series should carry deployment_environment={DEPLOYMENT_ENVIRONMENT}: {[s.line for s in requests]}"
    late = scenario.one_sample("burnrate_llm_late_calls_total", series.labels())
    assert late.value == 0, f"no span arrives a minute late here; scraped: {late.line}"
    total = sum(count for (s, _), count in EXPECTED_REQUESTS.items() if s == series)
    per_minute = scenario.one_sample("burnrate_llm_requests_per_minute", series.labels())
    # Calls leave the window 60 s after they ended, so a slow run may show fewer.
    assert 0 <= per_minute.value <= total, (
        f"at most the {total} calls made can be in the last minute; scraped: {per_minute.line}"
    )


def newest_window(scenario: Scenario, series: Series, kind: str):
    return CASES[scenario.newest_response(series).case].rate_limits[kind]


@pytest.mark.parametrize(("series", "kind"), RATELIMIT_PARAMS, ids=param_id)
def test_ratelimit_limit(scenario, series, kind):
    expected = newest_window(scenario, series, kind).limit
    sample = scenario.one_sample("burnrate_ratelimit_limit", series.labels(limit=kind))
    assert sample.value == expected, (
        f"expected {expected} from the newest response; scraped: {sample.line}"
    )


@pytest.mark.parametrize(("series", "kind"), RATELIMIT_PARAMS, ids=param_id)
def expected_remaining(scenario: Scenario, series: Series, kind: str) -> int:
    """The newest response's remaining count, or the full limit once its reset time has passed
    (the `1ms` and `2ms` OpenAI request windows), because the provider has refilled the window."""
    window = newest_window(scenario, series, kind)
    if expected_reset_seconds(scenario, series, kind) <= 0:
        return window.limit
    return window.remaining


def test_refilled_windows_are_covered(scenario):
    """At least one window has reset before the scrape, so the refill rule is exercised."""
    refilled = [
        (series, kind)
        for series, kind in RATELIMIT_PARAMS
        if expected_reset_seconds(scenario, series, kind) <= 0
    ]
    assert refilled, "no rate-limit window reset before the scrape"


@pytest.mark.parametrize(("series", "kind"), RATELIMIT_PARAMS, ids=param_id)
def test_ratelimit_remaining(scenario, series, kind):
    expected = expected_remaining(scenario, series, kind)
    sample = scenario.one_sample(
        "burnrate_ratelimit_remaining", series.labels(limit=kind)
    )
    assert sample.value == expected, (
        f"expected {expected} from the newest response; scraped: {sample.line}"
    )


@pytest.mark.parametrize(("series", "kind"), RATELIMIT_PARAMS, ids=param_id)
def test_ratelimit_utilization(scenario, series, kind):
    window = newest_window(scenario, series, kind)
    expected = 1 - expected_remaining(scenario, series, kind) / window.limit
    sample = scenario.one_sample(
        "burnrate_ratelimit_utilization_ratio", series.labels(limit=kind)
    )
    assert abs(sample.value - expected) < RATIO_TOLERANCE, (
        f"expected {expected!r}; scraped: {sample.line}"
    )


@pytest.mark.parametrize("series", all_series(), ids=param_id)
def test_ratelimit_blocked_seconds(scenario, series):
    """Blocked until the latest reset of an exhausted window or the retry-after deadline."""
    deadlines = [
        expected_reset_seconds(scenario, series, kind)
        for kind in limit_kinds(series)
        if newest_window(scenario, series, kind).remaining == 0
    ]
    newest = scenario.newest_response(series)
    retry_after = CASES[newest.case].retry_after_seconds
    if retry_after is not None:
        deadlines.append(newest.sent_at_unix + retry_after - scenario.scraped_at_unix)
    expected = max([0.0, *deadlines])
    sample = scenario.one_sample("burnrate_ratelimit_blocked_seconds", series.labels())
    assert abs(sample.value - expected) < ANTHROPIC_RESET_TOLERANCE_SECONDS, (
        f"expected {expected:.3f} s; scraped: {sample.line}"
    )
    if series.service == "checkout":
        assert sample.value > 0, f"the 429 with retry-after 17 blocks checkout; scraped: {sample.line}"


def go_duration_seconds(text: str) -> float:
    """Parse a Go duration such as `6m0s`, `1m30.5s` or `1ms`, as OpenAI's reset headers use."""
    units = {
        "h": 3600.0,
        "m": 60.0,
        "s": 1.0,
        "ms": 1e-3,
        "us": 1e-6,
        "µs": 1e-6,
        "ns": 1e-9,
    }
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)", text)
    assert parts and "".join(value + unit for value, unit in parts) == text, (
        f"invalid Go duration {text!r}"
    )
    return sum(float(value) * units[unit] for value, unit in parts)


def expected_reset_seconds(scenario: Scenario, series: Series, kind: str) -> float:
    """Seconds from the scrape until the window resets, by the newest response's header, never below 0."""
    response = scenario.newest_response(series)
    if series.provider == "anthropic":
        header = response.headers[
            "anthropic-ratelimit-" + kind.replace("_", "-") + "-reset"
        ]
        reset_at = (
            datetime.strptime(header, "%Y-%m-%dT%H:%M:%SZ")
            .replace(tzinfo=timezone.utc)
            .timestamp()
        )
    else:
        reset_at = response.sent_at_unix + go_duration_seconds(
            CASES[response.case].rate_limits[kind].reset
        )
    return max(0.0, reset_at - scenario.scraped_at_unix)


@pytest.mark.parametrize(("series", "kind"), RATELIMIT_PARAMS, ids=param_id)
def test_ratelimit_reset_seconds(scenario, series, kind):
    expected = expected_reset_seconds(scenario, series, kind)
    tolerance = (
        ANTHROPIC_RESET_TOLERANCE_SECONDS
        if series.provider == "anthropic"
        else OPENAI_RESET_TOLERANCE_SECONDS
    )
    sample = scenario.one_sample(
        "burnrate_ratelimit_reset_seconds", series.labels(limit=kind)
    )
    assert sample.value >= 0, (
        f"reset seconds must never be negative; scraped: {sample.line}"
    )
    assert abs(sample.value - expected) <= tolerance, (
        f"expected {expected:.2f} ± {tolerance} s; scraped: {sample.line}"
    )


# Captured request headers that burnrate removes from spans by default.
CREDENTIAL_HEADER_ATTRIBUTES = {
    "http.request.header.x_api_key",
    "http.request.header.authorization",
}


def span_key(span: dict) -> tuple:
    """Return the identity and content of a span, with list attribute values made hashable
    and the credential headers, which burnrate removes, left out."""
    attributes = frozenset(
        (key, tuple(value) if isinstance(value, list) else value)
        for key, value in span["attributes"].items()
        if key not in CREDENTIAL_HEADER_ATTRIBUTES
    )
    return (
        span["trace_id"],
        span["span_id"],
        span["parent_span_id"],
        span["name"],
        attributes,
    )


def test_forwarding_preserves_spans(scenario, upstream):
    recorded = [span for run in scenario.recorded_runs for span in run["spans"]]
    recorded_keys = {span_key(span) for span in recorded}
    received = upstream.wait_for(
        lambda spans: recorded_keys <= {span_key(span) for span in spans},
        FORWARD_TIMEOUT_SECONDS,
    )
    received_keys = {span_key(span) for span in received}

    missing = sorted((key[3], key[1]) for key in recorded_keys - received_keys)
    assert not missing, (
        f"spans recorded by client_app but not received upstream (name, span id): {missing}"
    )
    unexpected = sorted((key[3], key[1]) for key in received_keys - recorded_keys)
    assert not unexpected, (
        f"spans received upstream that client_app did not record (name, span id): {unexpected}"
    )
    assert len(received) == len(recorded), (
        f"upstream received {len(received)} spans for {len(recorded)} recorded"
    )


def test_forwarding_keeps_service_name(scenario, upstream):
    service_by_span = {
        span["span_id"]: run["service_name"]
        for run in scenario.recorded_runs
        for span in run["spans"]
    }
    received = upstream.wait_for(
        lambda spans: len(spans) >= len(service_by_span), FORWARD_TIMEOUT_SECONDS
    )
    wrong = [
        (span["name"], span["span_id"], span["resource"].get("service.name"))
        for span in received
        if span["resource"].get("service.name") != service_by_span.get(span["span_id"])
    ]
    assert not wrong, (
        "spans with a service.name other than the one client_app set "
        f"(name, span id, service.name): {wrong}"
    )


def test_credential_headers_do_not_reach_upstream(scenario, upstream):
    recorded = [span for run in scenario.recorded_runs for span in run["spans"]]
    # Both SDKs send their key in `Authorization` (anthropic 2.17, openai 3.60).
    captured = [
        span["name"] for span in recorded if "http.request.header.authorization" in span["attributes"]
    ]
    assert len(captured) == len(RUNS["checkout"]) + len(RUNS["search"]), (
        f"client_app should have captured the API key header on every HTTP span; captured on: {captured}"
    )
    received = upstream.wait_for(lambda spans: len(spans) >= len(recorded), FORWARD_TIMEOUT_SECONDS)
    leaked = sorted(
        (span["name"], key) for span in received for key in span["attributes"] if key in CREDENTIAL_HEADER_ATTRIBUTES
    )
    assert not leaked, f"credential headers reached the upstream (span, attribute): {leaked}"
    kept = [span for span in received if "http.request.header.anthropic_version" in span["attributes"]]
    assert kept, "the harmless anthropic-version request header should still be forwarded"
