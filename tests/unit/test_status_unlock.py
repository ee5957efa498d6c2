"""Status ``active`` means "make this account usable": ``UserService.update`` lifts a temporary
lock of the brute-force policy in the same unit of work as the change (the Redis unlock runs
before the commit; its ``login.unlocked`` event commits with the change, or not at all)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.context import RequestContext
from idp.errors import IdpError
from idp.models import AuditEvent
from tests.factories import users

CTX = RequestContext(ip="192.0.2.1", actor="admin_token")
LOCK = {"login_lock_after": 3, "login_lock_seconds": 600, "login_failure_window": 600}


def lock(services, user) -> None:
    for _ in range(LOCK["login_lock_after"]):
        services.bruteforce.failed(user.username, CTX, sub=user.sub)
    assert services.bruteforce.locked_for(user.sub, sub=user.sub) > 0


def types(services, sub) -> list[str]:
    query = select(AuditEvent.type).where(AuditEvent.sub == sub).order_by(AuditEvent.id)
    return list(services.db.session.scalars(query))


@pytest.mark.limits(**LOCK)
def test_status_active_lifts_the_temporary_lock_with_the_change(services):
    ada = users.create(services, "ada", with_password="a long passphrase", status="locked")
    lock(services, ada)
    updated = services.users.update(ada.sub, {"status": "active"}, CTX)
    assert updated.status == "active"
    assert services.bruteforce.locked_for(ada.sub, sub=ada.sub) == 0
    assert types(services, ada.sub)[-2:] == ["admin.user.update", "login.unlocked"]
    client = services.clients.account_client()
    assert services.login.password(client, CTX, "ada", "a long passphrase").user.sub == ada.sub


@pytest.mark.limits(**LOCK)
def test_other_changes_leave_the_lock(services):
    ada = users.create(services, "ada", with_password="a long passphrase")
    lock(services, ada)
    services.users.update(ada.sub, {"name": "Ada", "status": "disabled"}, CTX)
    assert services.bruteforce.locked_for(ada.sub, sub=ada.sub) > 0
    assert "login.unlocked" not in types(services, ada.sub)


@pytest.mark.limits(**LOCK)
def test_a_refused_change_keeps_the_lock(services):
    users.create(services, "taken", with_password=False)
    ada = users.create(services, "ada", with_password="a long passphrase", status="locked")
    lock(services, ada)
    with pytest.raises(IdpError) as caught:
        services.users.update(ada.sub, {"status": "active", "username": "taken"}, CTX)
    assert caught.value.code == "account.username_taken"
    assert services.bruteforce.locked_for(ada.sub, sub=ada.sub) > 0
    services.db.session.expire_all()
    assert services.users.by_sub(ada.sub).status == "locked"
    assert "login.unlocked" not in types(services, ada.sub)


@pytest.mark.limits(**LOCK)
def test_redis_down_rolls_the_change_back(own_redis, services):
    ada = users.create(services, "ada", with_password="a long passphrase", status="locked")
    own_redis.stop()
    with pytest.raises(IdpError) as caught:
        services.users.update(ada.sub, {"status": "active", "name": "Ada"}, CTX)
    assert caught.value.code == "store.unavailable"
    services.db.session.expire_all()
    stored = services.users.by_sub(ada.sub)
    assert (stored.status, stored.name) == ("locked", None)
    assert "admin.user.update" not in types(services, ada.sub)
