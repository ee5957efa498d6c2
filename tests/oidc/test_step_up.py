"""Step-up at the authorization endpoint: an SSO session signed in with one factor does not
satisfy an application whose MFA policy asks this person for a second one."""

from __future__ import annotations

import pytest

from idp.context import RequestContext
from tests.factories import users
from tests.oidc.test_authorize import at_client, authorize, make_app, sign_in

CTX = RequestContext(ip="127.0.0.1")


@pytest.fixture
def user(services):
    return users.create(services, "ada")


def goes_to_login(response) -> bool:
    return response.status_code == 302 and "/login?authz=" in response.headers["Location"]


@pytest.mark.parametrize("policy", ["off", "optional"])
def test_one_factor_session_is_enough_when_no_second_factor_is_expected(client, services, user, policy):
    client_id, _ = make_app(services, mfa=policy)  # optional, and the person enrolled nothing
    sign_in(client, services, user, amr=("pwd",))
    assert "code" in at_client(authorize(client, client_id))


def test_required_policy_sends_a_one_factor_session_back_to_sign_in(client, services, user):
    client_id, _ = make_app(services, mfa="required")
    sign_in(client, services, user, amr=("pwd",))
    assert goes_to_login(authorize(client, client_id))


def test_optional_policy_steps_up_once_the_person_has_a_factor(client, services, user):
    client_id, _ = make_app(services, mfa="optional")
    services.users.update(user.sub, {"email": "ada@example.com", "email_verified": True}, CTX)
    services.factors.add_otp(user.sub, "email", CTX)
    sign_in(client, services, user, amr=("pwd",))
    assert goes_to_login(authorize(client, client_id))


def test_a_session_with_mfa_satisfies_the_required_policy(client, services, user):
    client_id, _ = make_app(services, mfa="required")
    sign_in(client, services, user, amr=("pwd", "sms", "mfa"))
    assert "code" in at_client(authorize(client, client_id))


def test_prompt_none_without_the_second_factor_is_login_required(client, services, user):
    client_id, _ = make_app(services, mfa="required")
    sign_in(client, services, user, amr=("pwd",))
    assert at_client(authorize(client, client_id, prompt="none"))["error"] == "login_required"


def test_the_old_session_cannot_finish_the_request_but_a_new_sign_in_can(client, services, user):
    client_id, _ = make_app(services, mfa="required")
    sign_in(client, services, user, amr=("pwd",))
    authz_id = authorize(client, client_id).headers["Location"].split("authz=")[1]
    again = client.get("/oauth2/authorize/continue", query_string={"authz": authz_id})
    assert goes_to_login(again)  # no loop-hole: continuing with the same session is refused
    sign_in(client, services, user, amr=("pwd", "otp", "mfa"))  # what the login + MFA pages produce
    done = client.get("/oauth2/authorize/continue", query_string={"authz": authz_id})
    assert "code" in at_client(done)
