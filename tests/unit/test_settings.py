"""Settings from the environment (README "Configuration" and "Limits"): defaults, switches,
production refusals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from idp.settings import Limits, Settings, SettingsError, load_settings

PRODUCTION = {
    "GATEHOUSE_ENV": "production",
    "GATEHOUSE_SECRET_KEY": "a-long-random-secret-from-the-vault",
    "DATABASE_URL": "postgresql://gatehouse@db.internal/gatehouse",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "GATEHOUSE_SMS_SENDER": "webhook",
    "GATEHOUSE_SMS_WEBHOOK_URL": "https://sms.internal/send",
    "SMTP_URL": "smtp+starttls://mailer:pw@smtp.internal:587",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path) -> Path:
    """Start every test from an environment that sets nothing Gatehouse reads."""
    for name in list(os.environ):
        if name.startswith(("GATEHOUSE_", "TWILIO_", "TENCENT_SMS_")) or name in (
            "DATABASE_URL",
            "REDIS_URL",
            "SMTP_URL",
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GATEHOUSE_INSTANCE_PATH", str(tmp_path))
    return tmp_path


def set_env(monkeypatch, values: dict[str, str]) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_defaults_are_the_embedded_development_setup(clean_env):
    settings = load_settings()
    assert settings.env == "development"
    assert not settings.production
    assert settings.instance_path == clean_env
    assert settings.database_url == f"sqlite:///{clean_env / 'gatehouse.db'}"
    assert settings.redis_url == ""
    assert settings.uses_embedded_redis
    assert settings.sms_sender == "outbox"
    assert settings.email_sender == "outbox"
    assert settings.outbox_path == clean_env / "outbox.jsonl"
    assert settings.issuer == "http://127.0.0.1:5000"
    assert settings.admin_token == ""
    assert settings.trusted_proxies == 0
    assert settings.limits == Limits()
    assert settings.limits.target_interval == 30
    assert settings.limits.target_daily == 50
    assert settings.check() is settings  # development starts on the embedded parts


def test_development_secret_is_generated_once_and_kept(clean_env):
    first = load_settings()
    assert first.secret_key_generated
    assert len(first.secret_key) >= 32
    assert (clean_env / "secret_key").read_text().strip() == first.secret_key
    assert load_settings().secret_key == first.secret_key  # restarts keep sessions


def test_explicit_secret_key_is_used(monkeypatch, clean_env):
    monkeypatch.setenv("GATEHOUSE_SECRET_KEY", "from-the-environment")
    settings = load_settings()
    assert settings.secret_key == "from-the-environment"
    assert not settings.secret_key_generated
    assert not (clean_env / "secret_key").exists()


def test_production_never_writes_a_generated_secret_to_disk(monkeypatch, clean_env):
    monkeypatch.setenv("GATEHOUSE_ENV", "production")
    settings = load_settings()
    assert settings.secret_key_generated
    assert not (clean_env / "secret_key").exists()


def test_redis_database_and_smtp_urls_switch_backends(monkeypatch):
    set_env(
        monkeypatch,
        {
            "REDIS_URL": "redis://cache:6379/2",
            "DATABASE_URL": "postgresql://u@db/gh",
            "SMTP_URL": "smtp://mail.example:25",
        },
    )
    settings = load_settings()
    assert settings.redis_url == "redis://cache:6379/2"
    assert not settings.uses_embedded_redis
    assert settings.database_url == "postgresql://u@db/gh"
    assert settings.smtp_url == "smtp://mail.example:25"
    assert settings.email_sender == "smtp"
    assert settings.sms_sender == "outbox"  # SMS has no default provider


def test_explicit_email_sender_wins_over_smtp_url(monkeypatch):
    set_env(monkeypatch, {"SMTP_URL": "smtp://mail.example:25", "GATEHOUSE_EMAIL_SENDER": "outbox"})
    assert load_settings().email_sender == "outbox"


def test_other_environment_variables_reach_settings(monkeypatch, tmp_path):
    set_env(
        monkeypatch,
        {
            "GATEHOUSE_ISSUER": "https://id.example.com/",
            "GATEHOUSE_ADMIN_TOKEN": "bootstrap",
            "GATEHOUSE_TRUSTED_PROXIES": "2",
            "GATEHOUSE_DEFAULT_REGION": "gb",
            "GATEHOUSE_OUTBOX": str(tmp_path / "elsewhere.jsonl"),
            "GATEHOUSE_DELIVERY_TIMEOUT_MS": "1500",
            "GATEHOUSE_EMAIL_BLOCKLIST": "Spam.example, ,trash.example",
            "GATEHOUSE_ACCESS_TOKEN_TTL": "600",
        },
    )
    settings = load_settings()
    assert settings.issuer == "https://id.example.com"  # no trailing slash in built URLs
    assert settings.admin_token == "bootstrap"
    assert settings.trusted_proxies == 2
    assert settings.default_region == "GB"
    assert settings.outbox_path == tmp_path / "elsewhere.jsonl"
    assert settings.delivery_timeout == 1.5
    assert settings.email_blocklist == ("spam.example", "trash.example")
    assert settings.access_token_ttl == 600


def test_limits_come_from_the_environment(monkeypatch):
    set_env(monkeypatch, {"GATEHOUSE_LIMIT_TARGET_DAILY": "7", "GATEHOUSE_LIMIT_IP_HOURLY": "0"})
    limits = load_settings().limits
    assert limits.target_daily == 7
    assert limits.ip_hourly == 0
    assert limits.target_interval == Limits().target_interval  # the others keep their defaults


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GATEHOUSE_LIMIT_TARGET_DAILY", "seven"),
        ("GATEHOUSE_TRUSTED_PROXIES", "1.5"),
    ],
)
def test_non_integer_is_refused_with_its_name(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


@pytest.mark.parametrize("env", ["prod", "staging", "PRODUCTION-1"])
def test_unknown_profile_is_refused(monkeypatch, env):
    monkeypatch.setenv("GATEHOUSE_ENV", env)
    with pytest.raises(SettingsError, match="GATEHOUSE_ENV"):
        load_settings()


def test_profile_name_is_case_insensitive(monkeypatch):
    set_env(monkeypatch, {"GATEHOUSE_ENV": "Production"})
    settings = load_settings()
    assert settings.production
    with pytest.raises(SettingsError):
        settings.check()


def test_production_on_embedded_defaults_names_every_problem(monkeypatch):
    monkeypatch.setenv("GATEHOUSE_ENV", "production")
    settings = load_settings()
    with pytest.raises(SettingsError) as excinfo:
        settings.check()
    message = str(excinfo.value)
    assert "REDIS_URL" in message
    assert "GATEHOUSE_SECRET_KEY" in message
    assert "outbox" in message


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("REDIS_URL", "REDIS_URL"),
        ("GATEHOUSE_SECRET_KEY", "GATEHOUSE_SECRET_KEY"),
        ("GATEHOUSE_SMS_SENDER", "outbox"),
        ("SMTP_URL", "outbox"),
    ],
)
def test_production_refuses_each_embedded_part_alone(monkeypatch, missing, named):
    set_env(monkeypatch, {k: v for k, v in PRODUCTION.items() if k != missing})
    settings = load_settings()
    with pytest.raises(SettingsError, match=named) as excinfo:
        settings.check()
    for other in {"REDIS_URL", "GATEHOUSE_SECRET_KEY", "outbox"} - {named}:
        assert other not in str(excinfo.value)


def test_complete_production_config_passes(monkeypatch):
    set_env(monkeypatch, PRODUCTION)
    settings = load_settings()
    assert settings.production
    assert settings.check() is settings
    assert (settings.sms_sender, settings.email_sender) == ("webhook", "smtp")
    assert not settings.secret_key_generated


def test_production_refusal_stops_the_app(monkeypatch):
    from app import create_app

    monkeypatch.setenv("GATEHOUSE_ENV", "production")
    with pytest.raises(SettingsError, match="REDIS_URL"):
        create_app()


def test_overrides_are_checked_by_name():
    settings = Settings()
    assert settings.with_overrides({"issuer": "https://x.example"}).issuer == "https://x.example"
    assert settings.with_overrides(None) is settings
    with pytest.raises(SettingsError, match="isuer"):
        settings.with_overrides({"isuer": "typo"})
