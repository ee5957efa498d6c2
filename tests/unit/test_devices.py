"""RememberedDevices: the credential that lets a browser skip the second factor ("remember this
device")."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from idp.context import RequestContext
from idp.crypto import hash_secret
from idp.errors import IdpError, Kind
from idp.factors.devices import expires_in
from idp.models import AuditEvent, RememberedDevice
from tests.factories import users

CTX = RequestContext(ip="10.0.0.1", user_agent="Firefox")


@pytest.fixture
def alice(services):
    return users.create(services, "alice", with_password=False)


@pytest.fixture
def bob(services):
    return users.create(services, "bob", with_password=False)


def events(services, type_: str) -> list[AuditEvent]:
    return list(services.db.session.scalars(select(AuditEvent).where(AuditEvent.type == type_)))


def test_remember_and_check(services, alice):
    raw = services.devices.remember(alice.sub, CTX)
    assert len(raw) >= 43  # 256 bits
    row = services.db.session.scalar(select(RememberedDevice))
    assert row.token_hash == hash_secret(raw) and raw not in row.token_hash
    assert (row.user_agent, row.ip, row.last_used_at) == ("Firefox", "10.0.0.1", None)
    assert 29 * 86400 < expires_in(row, services.clock.now()) <= 30 * 86400
    assert services.devices.is_remembered(alice.sub, raw) is True
    listed = services.devices.list(alice.sub)
    assert [d.id for d in listed] == [row.id] and listed[0].last_used_at is not None
    assert events(services, "device.remember")[0].details["days"] == 30


def test_other_user_garbage_and_none(services, alice, bob):
    raw = services.devices.remember(alice.sub, CTX)
    assert services.devices.is_remembered(bob.sub, raw) is False
    assert services.devices.is_remembered(alice.sub, None) is False
    assert services.devices.is_remembered(alice.sub, "") is False
    assert services.devices.is_remembered(alice.sub, "x" * 500) is False
    assert services.devices.is_remembered(alice.sub, raw + "x") is False


def test_days(services, alice):
    services.devices.remember(alice.sub, CTX, days=7)
    assert 6 * 86400 < expires_in(services.devices.list(alice.sub)[0], services.clock.now()) <= 7 * 86400


def test_expired(services, alice, clock):
    raw = services.devices.remember(alice.sub, replace(CTX, now=clock.now()), days=7)
    clock.advance(7 * 86400 - 1)
    assert services.devices.is_remembered(alice.sub, raw) is True
    clock.advance(2)
    assert services.devices.is_remembered(alice.sub, raw) is False
    assert services.devices.list(alice.sub) == []


def test_revoke(services, alice, bob):
    raw = services.devices.remember(alice.sub, CTX)
    device = services.devices.list(alice.sub)[0]
    with pytest.raises(IdpError) as caught:  # not bob's to revoke
        services.devices.revoke(bob.sub, device.id, CTX)
    assert (caught.value.code, caught.value.kind) == ("device.not_found", Kind.NOT_FOUND)
    services.devices.revoke(alice.sub, device.id, CTX)
    assert services.devices.is_remembered(alice.sub, raw) is False
    assert services.devices.list(alice.sub) == []
    with pytest.raises(IdpError, match=r"device\.not_found"):
        services.devices.revoke(alice.sub, device.id, CTX)
    assert len(events(services, "device.revoke")) == 1


def test_revoke_all(services, alice, bob):
    raws = [services.devices.remember(alice.sub, CTX) for _ in range(3)]
    kept = services.devices.remember(bob.sub, CTX)
    assert services.devices.revoke_all(alice.sub, CTX) == 3
    assert not any(services.devices.is_remembered(alice.sub, raw) for raw in raws)
    assert services.devices.is_remembered(bob.sub, kept) is True
    assert events(services, "device.revoke_all")[0].details["count"] == 3
