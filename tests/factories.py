"""Users, applications and auth sources for tests, built through the real services.

Everything goes through the services the app itself uses (``UserService.create``,
``ClientService.create_application`` / ``create_auth_source``, ``FactorService``), so a test's
data obeys the same rules (normalised contacts, hashed passwords and secrets, audit events)
as data made through the admin API. Defaults are unique where uniqueness matters and the
seed documents' own values where a test speaks their wire examples::

    from tests.factories import applications, auth_sources, users

    sms = auth_sources.create(services, kind="sms")
    shop = applications.create(services, type="web", mfa="required", auth_sources=[sms])
    ada = users.create(services, username="ada", with_verified_phone=True, with_sms_factor=True)

``auth_sources``, ``applications`` and ``users`` are classes only to group their functions.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import timedelta

import pyotp

from idp.context import RequestContext
from idp.models import Application, AuthSource, User

CTX = RequestContext(ip="127.0.0.1")
PASSWORD = "correct horse battery"  # what ``with_password=True`` sets
SECRET = "secret"  # the client secret of a confidential application, unless given
REDIRECT_URI = "https://rp.example/cb"

# the identifiers of the Tencent CIAM documents ("OTP Authentication by SMS and Email",
# "Send OTP Verification Code"), under which their sample requests run unchanged
TENANT_CLIENT_ID, TENANT_CLIENT_SECRET = "TENANT_CLIENT_ID", "TENANT_CLIENT_SECRET"
CLIENT_4_ID, CLIENT_4_SECRET = "CLIENT_4_ID", "CLIENT_4_SECRET"
SPA_CLIENT_ID = "SPA_CLIENT_ID"
MOCK_SMS_OTP_AUTH_SOURCE_ID = "MOCK_SMS_OTP_AUTH_SOURCE_ID"
MOCK_EMAIL_OTP_AUTH_SOURCE_ID = "MOCK_EMAIL_OTP_AUTH_SOURCE_ID"

UNIQUE = "<unique>"  # the default username: ``user-N``
_serial = itertools.count(1)


def _next() -> int:
    return next(_serial)


class auth_sources:
    @staticmethod
    def create(services, kind: str = "sms", *, id: str | None = None, **fields) -> AuthSource:
        """An SMS or email auth source (code length 6 and lifetime 60 s unless ``fields`` say)."""
        return services.clients.create_auth_source({"kind": kind, "id": id, **fields}, CTX)

    @staticmethod
    def both(services) -> list[AuthSource]:
        """One SMS and one email source (unique ids)."""
        return [auth_sources.create(services, "sms"), auth_sources.create(services, "email")]


class applications:
    @staticmethod
    def create(
        services,
        type: str = "web",
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        name: str | None = None,
        mfa: str = "off",
        login_methods: Iterable[str] | None = None,
        auto_signup: bool = False,
        auth_sources: Iterable[AuthSource | str] = (),
        redirect_uris: Iterable[str] | None = None,
        scopes: Iterable[str] | None = None,
        **fields,
    ) -> Application:
        """An application registered like the admin API registers one. Confidential types
        (web, m2m) get ``client_secret`` (default ``SECRET``); ``auth_sources`` are AuthSource
        rows or their ids; ``redirect_uris`` default to ``REDIRECT_URI`` (none for m2m);
        ``scopes`` default to the service's own default. Other ``fields``
        (``post_logout_redirect_uris``, ``first_party``, ``remember_device_days``,
        ``grant_types``...) pass through unchanged."""
        client_id = client_id or f"app-{_next()}"
        data = {
            "client_id": client_id,
            "name": name or client_id,
            "type": type,
            "mfa": mfa,
            "auto_signup": auto_signup,
            "auth_source_ids": [s if isinstance(s, str) else s.id for s in auth_sources],
            "redirect_uris": list(
                redirect_uris if redirect_uris is not None else ([] if type == "m2m" else [REDIRECT_URI])
            ),
            **fields,
        }
        if type in ("web", "m2m"):
            data["client_secret"] = client_secret or SECRET
        if login_methods is not None:
            data["login_methods"] = list(login_methods)
        if scopes is not None:
            data["scopes"] = list(scopes)
        return services.clients.create_application(data, CTX)[0]

    @staticmethod
    def seed_documents(services) -> None:
        """The applications and auth sources of the Tencent CIAM documents, under their ids:
        two confidential clients (``TENANT_CLIENT_ID``, ``CLIENT_4_ID``) and a public one
        (``SPA_CLIENT_ID``), each linked to both mock OTP auth sources, scope ``openid``."""
        sources = [
            auth_sources.create(services, "sms", id=MOCK_SMS_OTP_AUTH_SOURCE_ID),
            auth_sources.create(services, "email", id=MOCK_EMAIL_OTP_AUTH_SOURCE_ID),
        ]
        for client_id, secret in ((TENANT_CLIENT_ID, TENANT_CLIENT_SECRET), (CLIENT_4_ID, CLIENT_4_SECRET)):
            applications.create(
                services,
                client_id=client_id,
                client_secret=secret,
                auth_sources=sources,
                redirect_uris=[],
                scopes=["openid"],
            )
        applications.create(
            services,
            "spa",
            client_id=SPA_CLIENT_ID,
            name="spa",
            auth_sources=sources,
            redirect_uris=[],
            scopes=["openid"],
        )


class users:
    @staticmethod
    def create(
        services,
        username: str | None = UNIQUE,
        *,
        with_password: bool | str = True,
        with_verified_phone: bool | str = False,
        with_verified_email: bool | str = False,
        with_sms_factor: bool = False,
        with_email_factor: bool = False,
        with_totp: bool = False,
        locked: bool = False,
        **fields,
    ) -> User:
        """A person, made like the admin API makes one.

        - ``username``: default a unique ``user-N``; None makes a person without one.
        - ``with_password``: True sets ``PASSWORD``, a string sets that password, False none.
        - ``with_verified_phone`` / ``with_verified_email``: True gives a unique verified
          number / address, a string that one (stored normalised, verified).
        - ``with_sms_factor`` / ``with_email_factor``: enrol that second factor (needs the
          verified contact); ``with_totp``: an authenticator app, ready (``users.totp(...)``
          gives its codes).
        - ``locked``: the administrator's lock (status ``locked``), not the brute-force one.
        - other ``fields`` are profile fields (``name``, ``email``, ``phone_number``,
          ``phone_verified``, ``locale``...) and pass through unchanged.
        """
        n = _next()
        data = dict(fields)
        if username is not None:
            data["username"] = f"user-{n}" if username is UNIQUE else username
        if with_password:
            data["password"] = PASSWORD if with_password is True else with_password
        if with_verified_phone:
            data["phone_number"] = f"+86136{n:08d}" if with_verified_phone is True else with_verified_phone
            data["phone_verified"] = True
        if with_verified_email:
            data["email"] = f"user-{n}@example.com" if with_verified_email is True else with_verified_email
            data["email_verified"] = True
        if locked:
            data["status"] = "locked"
        user = services.users.create(data, CTX)
        if with_sms_factor:
            services.factors.add_otp(user.sub, "sms", CTX)
        if with_email_factor:
            services.factors.add_otp(user.sub, "email", CTX)
        if with_totp:
            users.enrol_totp(services, user)
        return user

    @staticmethod
    def enrol_totp(services, user: User) -> pyotp.TOTP:
        """A ready TOTP factor, confirmed with the code of the previous 30 s step, so the code
        of the current step is still unused (each step is accepted once)."""
        setup = services.factors.start_totp(user.sub, CTX)
        earlier = RequestContext(ip=CTX.ip, now=RequestContext().now - timedelta(seconds=30))
        services.factors.confirm_totp(user.sub, pyotp.TOTP(setup.secret).at(earlier.now), earlier)
        return pyotp.TOTP(setup.secret)

    @staticmethod
    def totp(services, user: User) -> pyotp.TOTP:
        """The authenticator app of ``user``'s TOTP factor (its secret, read back)."""
        factor = services.factors.get(user.sub, "totp")
        assert factor is not None and factor.secret, "the user has no TOTP factor"
        return pyotp.TOTP(services.factors.cipher.unseal(factor.secret))
