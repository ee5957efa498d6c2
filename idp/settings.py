"""One typed Settings, read once from the environment.

Every knob of Gatehouse is here with its default; README.md documents the same table.
Profiles: ``development`` (default), ``test`` and ``production``. Production refuses the
embedded conveniences (embedded Redis, generated secret key, outbox sender).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class SettingsError(RuntimeError):
    """A configuration that must not start (raised at boot, with a clear message)."""


PROFILES = ("development", "test", "production")

# The token signing algorithms (RFC 7518 3.3 RS256 with RSA-2048, 3.4 ES256 with P-256, RFC 8037
# EdDSA with Ed25519). RS256 first: OpenID Connect Discovery 1.0 requires it of every provider.
JWT_ALGORITHMS = ("RS256", "ES256", "EdDSA")


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc


def _str(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _list(name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return tuple(item.strip().lower() for item in raw.split(",") if item.strip())


def limit_on(value: int) -> bool:
    """Whether a limit, window or duration is on: ``GATEHOUSE_LIMIT_<NAME>=0`` switches its
    rule off (README "Limits")."""
    return value > 0


def reached(count: int, limit: int) -> bool:
    """The one reading of a count limit: ``count`` (what is already used or failed in the
    window: sends, wrong codes, failed sign-ins, captcha images) has reached ``limit``, so the
    rule applies to the next one. A limit of 0 is no limit: never reached."""
    return limit_on(limit) and count >= limit


# ``reached`` for the Lua scripts that count and decide in one atomic step inside Redis (send
# limits, wrong codes, failed sign-ins, captcha images): each script starts with it and calls it
# for every comparison. tests/unit/test_limits_off.py checks that both read a limit alike.
LUA_REACHED = "local function reached(count, limit) return limit > 0 and count >= limit end\n"


@dataclass(frozen=True)
class Limits:
    """Send and verification limits, each a ``GATEHOUSE_LIMIT_<NAME>`` setting (README
    "Limits"). Windows and durations are in seconds. Every one of them switches its rule off
    at 0 (``reached``, ``limit_on``); a negative value is refused when the settings are made."""

    # per phone number / email address (the free-quota rule of Tencent CIAM, "Send OTP
    # Verification Code": one SMS per number in 30 seconds, 50 a day)
    target_interval: int = 30
    target_daily: int = 50
    # against SMS pumping and scripted abuse, per hour
    ip_hourly: int = 30
    client_hourly: int = 5000
    prefix_hourly: int = 20
    country_hourly: int = 2000
    # global quotas per day
    sms_daily_quota: int = 100_000
    email_daily_quota: int = 100_000
    # wrong-code budget: per otp_token, and per target and usage across resends within the
    # window (a window of 0 counts nothing across resends, so ``target_failures`` never applies)
    token_attempts: int = 5
    target_failures: int = 10
    target_failure_window: int = 3600
    # brute-force policy (idp/guard/bruteforce.py): failed logins, wrong passwords and
    # wrong codes alike, counted within ``login_failure_window`` seconds (0: nothing is
    # counted, so neither captcha nor lock ever applies)
    login_captcha_after: int = 3  # per identifier and client IP
    login_captcha_after_identifier: int = 5  # per identifier, from any IP
    login_captcha_after_ip: int = 20  # per client IP, over all identifiers (spraying)
    login_lock_after: int = 10  # per identifier: then locked for every IP
    login_failure_window: int = 900
    login_lock_seconds: int = 900  # never extended by attempts made during it; 0: never lock
    # image captchas handed out (CloudBase /auth/v1/captcha/data) per client IP per minute
    captcha_ip_per_minute: int = 30

    def __post_init__(self) -> None:
        negative = [f"GATEHOUSE_LIMIT_{f.name.upper()}" for f in fields(self) if getattr(self, f.name) < 0]
        if negative:
            raise SettingsError(f"{', '.join(negative)} must be 0 (off) or more")


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    secret_key: str = ""
    secret_key_generated: bool = False
    issuer: str = "http://127.0.0.1:5000"
    database_url: str = ""
    redis_url: str = ""
    redis_timeout: float = 2.0
    instance_path: Path = ROOT / "instance"
    admin_token: str = ""
    default_region: str = "CN"
    trusted_proxies: int = 0
    # delivery
    sms_sender: str = "outbox"  # outbox | webhook | twilio | tencent
    email_sender: str = "outbox"  # outbox | smtp
    outbox_path: Path = ROOT / "instance" / "outbox.jsonl"
    smtp_url: str = ""
    smtp_from: str = "Gatehouse <no-reply@localhost>"
    sms_webhook_url: str = ""
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from: str = ""
    twilio_base_url: str = "https://api.twilio.com"
    tencent_sms_secret_id: str = ""
    tencent_sms_secret_key: str = ""
    tencent_sms_app_id: str = ""
    tencent_sms_sign: str = ""
    tencent_sms_template_id: str = ""
    tencent_sms_region: str = "ap-guangzhou"
    tencent_sms_endpoint: str = "https://sms.tencentcloudapi.com"
    delivery_timeout: float = 5.0
    # seconds between two runs of each process's back-channel logout worker; 0: no worker
    # thread (``flask logout deliver`` then sends what is due); the test profile runs none
    logout_worker_interval: int = 5
    email_blocklist: tuple[str, ...] = ("mailinator.com", "example.invalid")
    # tokens
    access_token_ttl: int = 300  # an application may choose its own, up to longest_access_token_ttl
    id_token_ttl: int = 1800
    refresh_token_ttl: int = 30 * 24 * 3600
    otp_token_ttl: int = 300
    # the access tokens' signing algorithm for applications that name none (``access_token_alg``)
    jwt_alg: str = "RS256"  # one of JWT_ALGORITHMS
    # argon2id cost for people's passwords (OWASP Password Storage Cheat Sheet defaults)
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19 * 1024
    argon2_parallelism: int = 1
    # hosted pages: the SSO session lives this long after sign-in (absolute, seconds)
    session_ttl: int = 12 * 3600
    # operations: the bearer token /metrics asks for (unset: open), and the log line format
    metrics_token: str = ""
    log_format: str = "text"  # text | json
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        if self.jwt_alg not in JWT_ALGORITHMS:
            raise SettingsError(f"GATEHOUSE_JWT_ALG must be one of {', '.join(JWT_ALGORITHMS)}, got {self.jwt_alg!r}")

    @property
    def longest_access_token_ttl(self) -> int:
        """No access token lives longer (an application's own lifetime included): a revoked
        grant's flag must outlive every access token the grant gave."""
        return max(self.access_token_ttl, 3600)

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def uses_embedded_redis(self) -> bool:
        return not self.redis_url

    def with_overrides(self, overrides: dict[str, Any] | None) -> Settings:
        if not overrides:
            return self
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise SettingsError(f"unknown settings: {sorted(unknown)}")
        return replace(self, **overrides)

    def check(self) -> Settings:
        """Refuse unsafe production configurations with a message that says what to set."""
        if not self.production:
            return self
        problems = []
        if self.uses_embedded_redis:
            problems.append("REDIS_URL is unset (the embedded Redis is for development only)")
        if self.secret_key_generated:
            problems.append("GATEHOUSE_SECRET_KEY is unset (a generated key changes on restart)")
        if "outbox" in (self.sms_sender, self.email_sender):
            problems.append(
                "the dev outbox delivers SMS/email (set GATEHOUSE_SMS_SENDER and "
                "GATEHOUSE_EMAIL_SENDER to a real provider)"
            )
        if problems:
            raise SettingsError("refusing to start in production: " + "; ".join(problems))
        return self


def _limits_from_env() -> Limits:
    base = Limits()
    values = {}
    for f in fields(Limits):
        values[f.name] = _int(f"GATEHOUSE_LIMIT_{f.name.upper()}", getattr(base, f.name))
    return Limits(**values)


def load_settings() -> Settings:
    """Read the environment once. Call at app creation, never per request."""
    instance = Path(_str("GATEHOUSE_INSTANCE_PATH", str(ROOT / "instance")))
    env = _env()
    secret = os.environ.get("GATEHOUSE_SECRET_KEY", "")
    generated = not secret
    if generated:
        # no secret is generated and written to disk outside development: every instance must
        # share one key (a code hashed on one is checked on another), and a key one instance
        # wrote to its own disk is neither shared nor backed up
        secret = _dev_secret(instance) if env == "development" else secrets.token_urlsafe(48)
    return Settings(
        env=env,
        secret_key=secret,
        secret_key_generated=generated,
        issuer=_str("GATEHOUSE_ISSUER", "http://127.0.0.1:5000").rstrip("/"),
        database_url=_str("DATABASE_URL", f"sqlite:///{instance / 'gatehouse.db'}"),
        redis_url=os.environ.get("REDIS_URL", ""),
        instance_path=instance,
        admin_token=os.environ.get("GATEHOUSE_ADMIN_TOKEN", ""),
        default_region=_str("GATEHOUSE_DEFAULT_REGION", "CN").upper(),
        trusted_proxies=_int("GATEHOUSE_TRUSTED_PROXIES", 0),
        sms_sender=_str("GATEHOUSE_SMS_SENDER", "outbox"),
        email_sender=_str("GATEHOUSE_EMAIL_SENDER", "smtp" if os.environ.get("SMTP_URL") else "outbox"),
        outbox_path=Path(_str("GATEHOUSE_OUTBOX", str(instance / "outbox.jsonl"))),
        smtp_url=os.environ.get("SMTP_URL", ""),
        smtp_from=_str("GATEHOUSE_SMTP_FROM", "Gatehouse <no-reply@localhost>"),
        sms_webhook_url=os.environ.get("GATEHOUSE_SMS_WEBHOOK_URL", ""),
        twilio_account_sid=os.environ.get("TWILIO_ACCOUNT_SID", ""),
        twilio_auth_token=os.environ.get("TWILIO_AUTH_TOKEN", ""),
        twilio_from=os.environ.get("TWILIO_FROM", ""),
        twilio_base_url=_str("TWILIO_BASE_URL", "https://api.twilio.com"),
        tencent_sms_secret_id=os.environ.get("TENCENT_SMS_SECRET_ID", ""),
        tencent_sms_secret_key=os.environ.get("TENCENT_SMS_SECRET_KEY", ""),
        tencent_sms_app_id=os.environ.get("TENCENT_SMS_APP_ID", ""),
        tencent_sms_sign=os.environ.get("TENCENT_SMS_SIGN", ""),
        tencent_sms_template_id=os.environ.get("TENCENT_SMS_TEMPLATE_ID", ""),
        tencent_sms_region=_str("TENCENT_SMS_REGION", "ap-guangzhou"),
        tencent_sms_endpoint=_str("TENCENT_SMS_ENDPOINT", "https://sms.tencentcloudapi.com"),
        delivery_timeout=float(_int("GATEHOUSE_DELIVERY_TIMEOUT_MS", 5000)) / 1000,
        logout_worker_interval=_int("GATEHOUSE_LOGOUT_WORKER_INTERVAL", 0 if env == "test" else 5),
        email_blocklist=_list("GATEHOUSE_EMAIL_BLOCKLIST", Settings.email_blocklist),
        access_token_ttl=_int("GATEHOUSE_ACCESS_TOKEN_TTL", 300),
        id_token_ttl=_int("GATEHOUSE_ID_TOKEN_TTL", 1800),
        refresh_token_ttl=_int("GATEHOUSE_REFRESH_TOKEN_TTL", 30 * 24 * 3600),
        # case matters in a JWS ``alg`` (RFC 7515 4.1.1): ``es256`` is refused, not guessed
        jwt_alg=_str("GATEHOUSE_JWT_ALG", "RS256").strip(),
        session_ttl=_int("GATEHOUSE_SESSION_TTL", 12 * 3600),
        argon2_time_cost=_int("GATEHOUSE_ARGON2_TIME_COST", 2),
        argon2_memory_kib=_int("GATEHOUSE_ARGON2_MEMORY_KIB", 19 * 1024),
        argon2_parallelism=_int("GATEHOUSE_ARGON2_PARALLELISM", 1),
        metrics_token=os.environ.get("GATEHOUSE_METRICS_TOKEN", ""),
        log_format=_log_format(),
        limits=_limits_from_env(),
    )


LOG_FORMATS = ("text", "json")


def _log_format() -> str:
    value = _str("GATEHOUSE_LOG_FORMAT", "text").strip().lower()
    if value not in LOG_FORMATS:
        raise SettingsError(f"GATEHOUSE_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {value!r}")
    return value


def _env() -> str:
    """The profile. A typo ("prod", "Production ") must not quietly start a development
    server with the outbox and embedded Redis, so anything unknown is refused."""
    env = _str("GATEHOUSE_ENV", "development").strip().lower()
    if env not in PROFILES:
        raise SettingsError(f"GATEHOUSE_ENV must be one of {', '.join(PROFILES)}, got {env!r}")
    return env


def _dev_secret(instance: Path) -> str:
    """Development only: a random key kept under instance/ so restarts keep sessions.

    Production refuses a generated key (Settings.check), so this never runs there for real.
    """
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    try:
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(key)
        path.chmod(0o600)
    except OSError:
        pass
    return key
