"""ServiceMonitor, PrometheusRule and the Grafana dashboard.

Every PromQL expression is parsed (promql-parser) and may only use metrics the
service exports, with the labels they carry, so a renamed metric breaks this
test instead of silently blanking an alert or a panel.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
from prometheus_client import CollectorRegistry

from mrtfeed.observe.metrics import ServiceMetrics
from tests.helm.conftest import SCENARIOS
from tests.support.helm import CHART, Helm, by_kind, one

# The metric names and labels agreed with the service (DOMAIN.md §6).
METRIC_LABELS: dict[str, set[str]] = {
    "mrtfeed_files_processed_total": {"outcome"},
    "mrtfeed_downloads_total": {"outcome"},
    "mrtfeed_listings_total": {"project", "outcome"},
    "mrtfeed_events_total": {"event_type"},
    "mrtfeed_records_malformed_total": {"reason"},
    "mrtfeed_files_quarantined_total": set(),
    "mrtfeed_collector_last_file_timestamp_seconds": {"project", "collector", "kind"},
    "mrtfeed_pipeline_lag_seconds": set(),
    "mrtfeed_files_missing_total": {"project", "collector", "kind"},
    "mrtfeed_kafka_messages_sent_total": {"topic", "outcome"},
    "mrtfeed_kafka_send_latency_seconds_bucket": {"le"},
    "mrtfeed_queue_depth": {"queue"},
    "mrtfeed_workers_busy": set(),
    "mrtfeed_build_info": {"version", "python"},
    "up": set(),
}
# Labels Prometheus adds to every series scraped through the ServiceMonitor.
TARGET_LABELS = {"job", "namespace", "pod", "instance", "service", "endpoint", "container"}


def exported_names() -> set[str]:
    """Sample names the service's registry exposes (label-less families included)."""
    registry = ServiceMetrics(CollectorRegistry()).registry
    names: set[str] = set()
    for family in registry.collect():
        suffixes = {
            "counter": ["_total"],
            "histogram": ["_bucket", "_sum", "_count"],
            "info": ["_info"],
        }.get(family.type, [""])
        names.update(family.name + suffix for suffix in suffixes)
    return names


def check_expr(expr: str) -> set[str]:
    """Parse a PromQL expression; return the metric names it selects.

    Fails on a metric outside METRIC_LABELS or a label the metric does not carry.
    """
    tree = promql_parser.parse(expr)
    names: set[str] = set()
    problems: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name is None:  # a selector by matchers only ({__name__=~"..."})
                problems.append("a selector without a metric name: nothing to check it against")
                return
            names.add(node.name)
            allowed = METRIC_LABELS.get(node.name)
            if allowed is None:
                problems.append(f"unknown metric {node.name}")
                return
            problems.extend(
                f"{node.name} has no label {matcher.name}"
                for matcher in node.matchers.matchers
                if matcher.name not in allowed | TARGET_LABELS
            )
        if isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            known = set().union(*METRIC_LABELS.values()) | TARGET_LABELS
            problems.extend(f"unknown label {x}" for x in node.modifier.labels if x not in known)

    promql_parser.walk(tree, visit)
    assert not problems, f"{expr}: {problems}"
    return names


def test_agreed_metrics_are_exported_by_the_service() -> None:
    assert set(METRIC_LABELS) - {"up"} <= exported_names()


def test_expression_check_catches_mistakes() -> None:
    with pytest.raises(AssertionError, match="unknown metric"):
        check_expr("rate(mrtfeed_download_total[5m])")
    with pytest.raises(AssertionError, match="has no label"):
        check_expr('mrtfeed_pipeline_lag_seconds{collector="rrc00"}')
    with pytest.raises(ValueError):
        check_expr("sum(rate(mrtfeed_downloads_total[5m])")


def test_monitoring_needs_the_operator_crds(helm: Helm, tmp_path: Path) -> None:
    """Without the CRDs nothing is rendered (it would fail the install) and NOTES say why."""
    docs = helm.template([SCENARIOS["monitoring"]], api_versions=())
    assert not by_kind(docs, "ServiceMonitor") and not by_kind(docs, "PrometheusRule")
    notes = helm.notes([SCENARIOS["monitoring"]], tmp_path)
    assert "no ServiceMonitor was created" in notes
    assert "no PrometheusRule was created" in notes


def test_monitoring_is_off_by_default(helm: Helm) -> None:
    docs = helm.template()
    for kind in ("ServiceMonitor", "PrometheusRule"):
        assert not by_kind(docs, kind)
    assert len(by_kind(docs, "ConfigMap")) == 1


def test_service_monitor_scrapes_the_metrics_service(helm: Helm) -> None:
    docs = helm.template([SCENARIOS["monitoring"]])
    monitor = one(docs, "ServiceMonitor")
    service = one(docs, "Service")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["bgp"]}
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert endpoint["path"] == "/metrics"
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == ("60s", "20s")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def alert_rules(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    [group] = one(docs, "PrometheusRule")["spec"]["groups"]
    return {rule["alert"]: rule for rule in group["rules"]}


def test_alert_rules(helm: Helm) -> None:
    docs = helm.template([SCENARIOS["monitoring"]])
    rules = alert_rules(docs)
    assert {
        "MrtfeedDown",
        "MrtfeedUpdatesStale",
        "MrtfeedRibsStale",
        "MrtfeedPipelineLagHigh",
        "MrtfeedDownloadErrors",
        "MrtfeedListingErrors",
        "MrtfeedFileErrors",
        "MrtfeedKafkaSendErrors",
    } <= set(rules)
    job = one(docs, "Service")["metadata"]["name"]
    for name, rule in rules.items():
        names = check_expr(rule["expr"])
        assert names, name
        # Each rule looks at this release's series only.
        assert f'job="{job}"' in rule["expr"] and 'namespace="bgp"' in rule["expr"], name
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        assert rule["labels"]["team"] == "bgp", name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
    # 90m from the scenario's updatesStaleAfter, 12h default for RIBs.
    assert rules["MrtfeedUpdatesStale"]["expr"].endswith("> 5400")
    assert 'kind="updates"' in rules["MrtfeedUpdatesStale"]["expr"]
    assert rules["MrtfeedRibsStale"]["expr"].endswith("> 43200")
    # Files already done by another replica are not failures.
    assert 'outcome!="skipped"' in rules["MrtfeedFileErrors"]["expr"]


def test_alert_thresholds_accept_durations_and_refuse_garbage(helm: Helm) -> None:
    docs = helm.template(
        [SCENARIOS["monitoring"]],
        sets=[
            "metrics.prometheusRule.ribsStaleAfter=1d",
            "metrics.prometheusRule.updatesStaleAfter=600",
        ],
    )
    rules = alert_rules(docs)
    assert rules["MrtfeedRibsStale"]["expr"].endswith("> 86400")
    assert rules["MrtfeedUpdatesStale"]["expr"].endswith("> 600")
    assert "ribsStaleAfter" in helm.template_error(
        [SCENARIOS["monitoring"]], sets=["metrics.prometheusRule.ribsStaleAfter=soon"]
    )


def test_extra_rules_are_appended(helm: Helm) -> None:
    docs = helm.template(
        [SCENARIOS["monitoring"]],
        sets=[
            "metrics.prometheusRule.extraRules[0].alert=Custom",
            "metrics.prometheusRule.extraRules[0].expr=vector(1)",
        ],
    )
    assert alert_rules(docs)["Custom"]["expr"] == "vector(1)"


def dashboard_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CHART / "dashboards" / "mrtfeed.json").read_text())
    return data


def test_dashboard_configmap_for_the_grafana_sidecar(helm: Helm) -> None:
    docs = helm.template([SCENARIOS["monitoring"]])
    [dashboard] = [d for d in by_kind(docs, "ConfigMap") if "mrtfeed.json" in d["data"]]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "BGP"}
    assert json.loads(dashboard["data"]["mrtfeed.json"]) == dashboard_json()


def test_dashboard_queries_use_exported_metrics() -> None:
    dashboard = dashboard_json()
    assert dashboard["uid"] == "mrtfeed-overview"
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "namespace"} <= variables
    used: set[str] = set()
    ids = set()
    for panel in dashboard["panels"]:
        ids.add(panel["id"])
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            expr = target["expr"]
            assert 'namespace=~"$namespace"' in expr, panel["title"]
            # Grafana's variables are not PromQL: put in what Grafana would.
            concrete = expr.replace("$__rate_interval", "5m").replace("$namespace", ".*")
            used |= check_expr(concrete)
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
    assert len(ids) == len(dashboard["panels"])
    # Every metric the service agreed to export is on the dashboard.
    assert set(METRIC_LABELS) - {"up"} <= used


def test_dashboard_can_go_to_another_namespace(helm: Helm) -> None:
    docs = helm.template(
        sets=["metrics.dashboard.enabled=true", "metrics.dashboard.namespace=grafana"]
    )
    [dashboard] = [d for d in by_kind(docs, "ConfigMap") if "mrtfeed.json" in d["data"]]
    assert dashboard["metadata"]["namespace"] == "grafana"
    assert re.fullmatch(r"[a-z0-9-]+", dashboard["metadata"]["name"])
