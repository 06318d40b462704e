"""Every PromQL query crunch ships, parsed by Prometheus' own checker.

Helm and kustomize see these queries as strings: a typo in one renders, validates and
deploys, and fails only when Prometheus, KEDA, the adapter or Grafana first runs it.
`promtool check rules` parses the PrometheusRule as Prometheus loads it, and every
other query wrapped as a recording rule: the KEDA triggers (with the balancer's), the
adapter rule filled in as the adapter fills it, and the Grafana dashboard's panels with
Grafana's variables interpolated."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.packaging.kube import K8S, by_kind, docs, helm_template, load_yaml_file
from tests.support import promtool

ALL_ON = (
    "--set", "prometheusRule.enabled=true",
    "--set", "grafanaDashboard.enabled=true",
)  # fmt: skip
# What Grafana puts in place of the dashboard's variables, and the adapter in place of
# its rule's template fields, for one pod of crunch-web.
GRAFANA = {"$namespace": "crunch", "$service": "crunch-web", "$__rate_interval": "1m"}
ADAPTER = {
    "<<.Series>>": "crunch_saturation",
    "<<.LabelMatchers>>": 'namespace="crunch",pod=~"crunch-web-7d9c-x1|crunch-web-7d9c-x2"',
    "<<.GroupBy>>": "pod",
}


def _check(tmp_path: Path, groups: list[dict[str, Any]]) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(json.dumps({"groups": groups}))  # JSON is YAML
    result = promtool.check("rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _interpolate(expr: str, values: dict[str, str]) -> str:
    for name, value in sorted(values.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(name, value)
    return expr


def _recording(name: str, queries: dict[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "rules": [
            {"record": f"crunch_check:{re.sub(r'[^a-z0-9_]', '_', key.lower())}", "expr": q}
            for key, q in queries.items()
        ],
    }


def test_the_prometheus_rule_loads_as_prometheus_loads_it(tmp_path: Path) -> None:
    (rule,) = by_kind(docs(helm_template(*ALL_ON)), "PrometheusRule").values()
    _check(tmp_path, rule["spec"]["groups"])


def test_the_keda_triggers_parse(tmp_path: Path) -> None:
    items = docs(helm_template("--set", "autoscaling.mode=keda", "--set", "balancer.enabled=true"))
    queries = {
        f"{name}_{i}": trigger["metadata"]["query"]
        for name, so in by_kind(items, "ScaledObject").items()
        for i, trigger in enumerate(so["spec"]["triggers"])
    }
    # Each service's saturation and its balancer's held requests.
    assert len(queries) == 6, queries
    _check(tmp_path, [_recording("keda", queries)])


def test_the_adapter_rule_parses_as_the_adapter_fills_it(tmp_path: Path) -> None:
    config = load_yaml_file(K8S / "overlays" / "prometheus-adapter" / "adapter" / "config.yaml")
    queries = {}
    for i, rule in enumerate(config[0]["rules"]):
        queries[f"series_{i}"] = rule["seriesQuery"]
        queries[f"metrics_{i}"] = _interpolate(rule["metricsQuery"], ADAPTER)
    assert not any("<<" in q for q in queries.values()), queries
    _check(tmp_path, [_recording("adapter", queries)])


def test_the_dashboard_panels_parse(tmp_path: Path) -> None:
    (cm,) = by_kind(docs(helm_template(*ALL_ON)), "ConfigMap").values()
    dashboard = json.loads(cm["data"]["crunch.json"])
    queries = {
        f"panel_{p['id']}_{j}": _interpolate(t["expr"], GRAFANA)
        for p in dashboard["panels"]
        for j, t in enumerate(p.get("targets", []))
    }
    assert queries and not any("$" in q for q in queries.values()), queries
    _check(tmp_path, [_recording("dashboard", queries)])
