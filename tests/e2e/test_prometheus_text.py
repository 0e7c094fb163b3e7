"""Tests of the exposition parser that the end-to-end test scrapes burnrate with."""

import math

import pytest

import prometheus_text

SAMPLE_EXPOSITION = r"""
# HELP burnrate_llm_requests_total LLM calls by outcome.
# TYPE burnrate_llm_requests_total counter
burnrate_llm_requests_total{gen_ai_provider_name="anthropic",gen_ai_request_model="claude-sonnet-4-5",service_name="checkout",outcome="ok"} 2
burnrate_llm_requests_total{gen_ai_provider_name="anthropic",gen_ai_request_model="claude-sonnet-4-5",service_name="checkout",outcome="rate_limited"} 1 1764864000000
# TYPE burnrate_llm_cost_usd_total counter
burnrate_llm_cost_usd_total{service_name="say \"hi\"\\now",gen_ai_request_model="a\nb"} 2.5350e-02
burnrate_ratelimit_reset_seconds { limit = "requests" , service_name="x", } 0
burnrate_ratelimit_utilization_ratio NaN
burnrate_up +Inf
burnrate_down -Inf
"""


def test_parse_sample_exposition():
    samples = prometheus_text.parse(SAMPLE_EXPOSITION)

    assert [s.name for s in samples] == [
        "burnrate_llm_requests_total",
        "burnrate_llm_requests_total",
        "burnrate_llm_cost_usd_total",
        "burnrate_ratelimit_reset_seconds",
        "burnrate_ratelimit_utilization_ratio",
        "burnrate_up",
        "burnrate_down",
    ]
    assert samples[0].labels == {
        "gen_ai_provider_name": "anthropic",
        "gen_ai_request_model": "claude-sonnet-4-5",
        "service_name": "checkout",
        "outcome": "ok",
    }
    assert samples[0].value == 2
    assert samples[1].value == 1, "the timestamp after the value must be ignored"
    assert samples[2].labels == {
        "service_name": 'say "hi"\\now',
        "gen_ai_request_model": "a\nb",
    }
    assert samples[2].value == pytest.approx(0.02535)
    assert samples[3].labels == {"limit": "requests", "service_name": "x"}
    assert math.isnan(samples[4].value)
    assert samples[5].value == math.inf
    assert samples[6].value == -math.inf


def test_find_matches_label_subset():
    samples = prometheus_text.parse(SAMPLE_EXPOSITION)

    found = prometheus_text.find(
        samples, "burnrate_llm_requests_total", {"outcome": "rate_limited"}
    )

    assert [s.value for s in found] == [1]
    assert (
        prometheus_text.find(
            samples, "burnrate_llm_requests_total", {"outcome": "error"}
        )
        == []
    )


@pytest.mark.parametrize(
    "line",
    [
        'metric{label="unterminated} 1',
        'metric{label="bad escape \\t"} 1',
        "metric{label=unquoted} 1",
        'metric{a="1",a="2"} 1',
        "metric not_a_number",
        "metric 1 2 3",
        '{label="x"} 1',
    ],
)
def test_parse_rejects_invalid_line(line):
    with pytest.raises(prometheus_text.ParseError):
        prometheus_text.parse(line)
