"""`metrics:` in a plan: located errors from `warroom check` (and the same from
`load`), and the pure parts — query shapes, which requests a poll makes, and
reading Prometheus's answers (empty, NaN, errors: no data with a reason)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLE
from warroom.domain import metrics as mx
from warroom.domain.plan import PlanInvalid, parse_plan_text
from warroom.planfile import read_plan

WARROOM = str(Path(sys.executable).parent / "warroom")
PROM_SAMPLE = ROOT / "sample_data" / "release-v2.5.0-prometheus.yaml"
GROUPED = "sum by (service) (rate(http_requests_total[1m]))"


def with_metrics(block: str, service_metrics: str = "") -> str:
    text = SAMPLE.read_text(encoding="utf-8")
    text = text.replace("\ntriggers:\n", f"\n{block}\ntriggers:\n", 1)
    if service_metrics:
        marker = "    steps: [Deploy 1.4.0, Verify log shipping]\n"
        text = text.replace(marker, marker + service_metrics, 1)
    return text


def check(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    plan = tmp_path / "plan.yaml"
    plan.write_text(text, encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if k not in {"PROM_TOKEN", "PROM_USER"}}
    proc = subprocess.run(
        [WARROOM, "check", str(plan)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**environ, **(env or {})},
        check=False,
        cwd=tmp_path,
    )
    assert "Traceback" not in proc.stderr
    return proc.returncode, proc.stderr


def line_of(text: str, needle: str) -> int:
    """The last line holding `needle` (the sample's commented example block comes first)."""
    return max(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_every_sample_plan_checks() -> None:
    for path in sorted((ROOT / "sample_data").glob("*.yaml")):
        read_plan(str(path))  # raises PlanInvalid when not
    source = read_plan(str(PROM_SAMPLE)).plan.metrics_source()
    assert source is not None and set(source.metrics()) == {"error_rate", "p99_ms"}
    assert "$service" in source.queries_for("logging-service")["error_rate"]


def test_an_unset_environment_variable_is_a_located_error(tmp_path: Path) -> None:
    text = with_metrics(
        'metrics:\n  prometheus: {url: "http://prom:9090", bearer_token_env: PROM_TOKEN}\n'
        f"  queries: {{error_rate: '{GROUPED}'}}\n"
    )
    code, err = check(tmp_path, text)
    at = line_of(text, "bearer_token_env")
    assert code == 1
    assert (
        f"plan.yaml:{at}: metrics.prometheus.bearer_token_env: the environment variable PROM_TOKEN is not set"
        in err
    )
    assert check(tmp_path, text, {"PROM_TOKEN": "s3cret"})[0] == 0
    # The same refusal from load, before it writes anything.
    plan = tmp_path / "plan.yaml"
    proc = subprocess.run(
        [WARROOM, "load", str(plan), "--as", "sarah", "--db", f"sqlite:///{tmp_path}/w.db"],
        capture_output=True, text=True, timeout=60, check=False,
        env={k: v for k, v in os.environ.items() if k != "PROM_TOKEN"},
    )  # fmt: skip
    assert proc.returncode == 1 and "PROM_TOKEN is not set" in proc.stderr
    assert not (tmp_path / "w.db").exists()


def test_basic_auth_names_both_variables(tmp_path: Path) -> None:
    text = with_metrics(
        'metrics:\n  prometheus:\n    url: "https://prom.example:9090"\n'
        "    basic_auth: {username_env: PROM_USER, password_env: PROM_PASSWORD}\n"
        f"  queries: {{error_rate: '{GROUPED}'}}\n"
    )
    code, err = check(tmp_path, text, {"PROM_PASSWORD": "x"})
    assert code == 1 and "metrics.prometheus.basic_auth.username_env" in err
    assert "PROM_PASSWORD" not in err


def test_a_malformed_url_is_a_located_error(tmp_path: Path) -> None:
    text = with_metrics(
        'metrics:\n  prometheus: {url: "prom:9090/api"}\n'
        f"  queries: {{error_rate: '{GROUPED}'}}\n"
    )
    code, err = check(tmp_path, text)
    assert code == 1
    at = line_of(text, "prom:9090/api")
    assert f"plan.yaml:{at}: metrics.prometheus.url: bad prometheus url" in err


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ('rate(http_requests_total{service="$svc"}[1m])', "unknown placeholder $svc"),
        ('rate(x{service="${service}"}[1m])', "write the placeholder as $service"),
        (
            "sum(rate(http_requests_total[1m]))",
            "the query neither uses $service nor groups by the label",
        ),
    ],
)
def test_a_bad_query_is_a_located_error(tmp_path: Path, query: str, says: str) -> None:
    text = with_metrics(
        'metrics:\n  prometheus: {url: "http://127.0.0.1:9090"}\n'
        f"  queries:\n    error_rate: '{query}'\n"
    )
    code, err = check(tmp_path, text)
    assert code == 1
    at = line_of(text, "error_rate: '")
    assert f"plan.yaml:{at}: metrics.queries.error_rate: {says}" in err


def test_service_queries_and_label_names_are_checked(tmp_path: Path) -> None:
    text = with_metrics(
        'metrics:\n  prometheus: {url: "http://127.0.0.1:9090"}\n  service_label: __name\n',
        "    metrics: {p99_ms: 'histogram_quantile(0.99, x{job=\"$job\"})', latency_ms: 'up'}\n",
    )
    code, err = check(tmp_path, text)
    assert code == 1
    assert "metrics.service_label: bad label name '__name'" in err
    assert "services[2].metrics.latency_ms: latency_ms is the health probe's own round trip" in err
    # Without a release Prometheus, a service's queries have nowhere to go.
    bare = with_metrics("", "    metrics: {error_rate: 'up{service=\"$service\"}'}\n")
    with pytest.raises(PlanInvalid) as info:
        parse_plan_text(bare)
    assert "services[2].metrics: a service's queries need the release's Prometheus" in str(
        info.value.render()
    )


# ---------------------------------------------------------------- pure parts


def source(**queries: str) -> mx.MetricsSource:
    return mx.MetricsSource(
        url="http://p:9090",
        queries=queries,
        overrides={"b": {"error_rate": 'x{service="$service"}'}},
    )


def test_a_grouped_query_is_one_request_for_every_service() -> None:
    requests = mx.plan_queries(source(error_rate=GROUPED, p99_ms=GROUPED + " * 2"), ["a", "b", "c"])
    grouped = sorted((r.metric, r.services) for r in requests if r.grouped)
    assert grouped == [("error_rate", ("a", "c")), ("p99_ms", ("a", "b", "c"))]
    (own,) = [r for r in requests if not r.grouped]
    assert own.query == 'x{service="b"}' and own.services == ("b",)


def vector(*series: tuple[dict[str, str], str]) -> dict[str, object]:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": labels, "value": [1.0, value]} for labels, value in series],
        },
    }


def test_answers_split_by_service_and_no_data_has_its_reason() -> None:
    request = mx.Request("error_rate", GROUPED, ("a", "b", "c"), grouped=True)
    readings, count = mx.read_vector(
        vector(({"service": "a"}, "0.02"), ({"service": "b"}, "NaN")), request, "service"
    )
    assert count == 2
    assert readings["a"] == mx.Reading(0.02)
    assert readings["b"].value is None and "NaN" in (readings["b"].why or "")
    assert "no series with service='c'" in (readings["c"].why or "")
    own = mx.Request("p99_ms", "q", ("a",), grouped=False)
    assert "empty result" in (mx.read_vector(vector(), own, "service")[0]["a"].why or "")
    error = {"status": "error", "errorType": "bad_data", "error": "parse error at char 3"}
    with pytest.raises(mx.AnswerError, match="bad_data: parse error"):
        mx.read_vector(error, own, "service")
    scalar = {"status": "success", "data": {"resultType": "scalar", "result": [1, "7"]}}
    assert mx.read_vector(scalar, own, "service")[0]["a"] == mx.Reading(7.0)
