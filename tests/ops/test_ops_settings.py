"""The operations settings (README "Configuration"): ``GATEHOUSE_METRICS_TOKEN`` and
``GATEHOUSE_LOG_FORMAT``, read from the environment; an unknown log format refuses to start."""

from __future__ import annotations

import pytest

from idp.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def instance(monkeypatch, tmp_path):
    monkeypatch.setenv("GATEHOUSE_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("GATEHOUSE_METRICS_TOKEN", raising=False)
    monkeypatch.delenv("GATEHOUSE_LOG_FORMAT", raising=False)


def test_defaults_are_an_open_metrics_page_and_text_logs():
    settings = load_settings()
    assert (settings.metrics_token, settings.log_format) == ("", "text")


def test_both_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("GATEHOUSE_METRICS_TOKEN", "scrape-token")
    monkeypatch.setenv("GATEHOUSE_LOG_FORMAT", " JSON ")
    settings = load_settings()
    assert (settings.metrics_token, settings.log_format) == ("scrape-token", "json")


@pytest.mark.parametrize("value", ["yaml", "logfmt", "jsonl"])
def test_an_unknown_log_format_is_refused_with_its_name(monkeypatch, value):
    monkeypatch.setenv("GATEHOUSE_LOG_FORMAT", value)
    with pytest.raises(SettingsError, match="GATEHOUSE_LOG_FORMAT"):
        load_settings()
