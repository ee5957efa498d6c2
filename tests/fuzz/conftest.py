"""Hypothesis keeps nothing in the working tree: every fuzz test runs with ``database=None``
(no example database), and the little it still caches (constants read from the source) goes to
a temporary folder of this run instead of ``.hypothesis/``. ``target`` is the app under
fuzzing, with a credential of every kind (both fuzz runs share it)."""

from __future__ import annotations

import base64

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from tests.conftest import ADMIN_TOKEN
from tests.factories import PASSWORD, TENANT_CLIENT_ID, TENANT_CLIENT_SECRET, applications, users
from tests.fuzz.strategies import Credentials


@pytest.fixture(scope="session", autouse=True)
def hypothesis_home(tmp_path_factory):
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    yield
    set_hypothesis_home_dir(None)


# -- the app under fuzzing ------------------------------------------------------------------
@pytest.fixture
def target(app, services):
    """The app with real records behind every kind of credential: the seeded Tencent CIAM
    applications and auth sources, and a person signed in through CloudBase's password
    sign-in (an access token with scope openid)."""
    app.config["TESTING"] = True  # a view's exception reaches the test, with its request
    applications.seed_documents(services)
    person = users.create(services, with_verified_phone=True)
    client_basic = "Basic " + base64.b64encode(f"{TENANT_CLIENT_ID}:{TENANT_CLIENT_SECRET}".encode()).decode()
    signed_in = app.test_client().post(
        "/auth/v1/signin",
        json={"username": person.username, "password": PASSWORD},
        headers={"Authorization": client_basic},
    )
    assert signed_in.status_code == 200, signed_in.get_data()
    credentials = Credentials(
        client_basic=client_basic,
        client_id=TENANT_CLIENT_ID,
        user_bearer=f"Bearer {signed_in.json['access_token']}",
        admin_bearer=f"Bearer {ADMIN_TOKEN}",
    )
    return app, credentials
