"""The Grafana dashboard (ops/grafana/gatehouse.json) reads only what the app exports: every
metric name in its PromQL expressions is a sample name of ``/metrics``, and each family the
app exports has a panel."""

from __future__ import annotations

import json
import re
from pathlib import Path

from idp import metrics
from tests.ops.conftest import families

DASHBOARD = Path(__file__).resolve().parents[2] / "ops" / "grafana" / "gatehouse.json"
METRIC_NAME = re.compile(r"\bgatehouse_[a-z0-9_]+\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}


def expressions() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]


def exported_sample_names(client) -> set[str]:
    names = set()
    for name, family in families(client).items():
        names.update(name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    return names


def test_every_metric_the_dashboard_reads_is_exported(client):
    used = {name for expr in expressions() for name in METRIC_NAME.findall(expr)}
    assert used, "the dashboard reads no Gatehouse metric"
    assert used - exported_sample_names(client) == set()


def test_every_family_has_a_panel():
    text = " ".join(expressions())
    assert [family for family in metrics.FAMILIES if family not in text] == []


def test_panels_are_what_an_operator_asked_for():
    titles = " | ".join(panel["title"] for panel in json.loads(DASHBOARD.read_text())["panels"])
    for words in ("by status", "p50", "p99", "by channel", "by country", "by rule", "Sign-ins", "Store errors"):
        assert words in titles
