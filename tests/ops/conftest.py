"""Helpers for the operations tests: reading the app's own ``/metrics``."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

# the hosted pages' fixtures: an application with both auth sources, pending authorize requests
from tests.web.conftest import authz, make_app, sources, web_app  # noqa: F401


def families(client, headers=None) -> dict:
    """The exposition of ``client``'s app, parsed: family name -> family."""
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return {family.name: family for family in text_string_to_metric_families(response.get_data(as_text=True))}


def value(client, sample: str, **labels: str) -> float:
    """The value of one sample (``gatehouse_otp_sent_total`` with exactly these labels); 0
    when that label set has not been counted yet."""
    total = 0.0
    for family in families(client).values():
        for found in family.samples:
            if found.name == sample and found.labels == labels:
                total += found.value
    return total
