"""The console's one-user page lists the person's linked identity providers; deleting the
person takes their links."""

from __future__ import annotations

from sqlalchemy import select

from idp.models import FederatedLink
from tests.factories import users
from tests.web.conftest import CTX
from tests.web.test_console import sign_in


def link(services, sub: str, subject: str = "upstream-subject-42") -> str:
    provider = services.identity_providers.create(
        {
            "name": "Acme SSO",
            "kind": "oidc",
            "issuer": "https://sso.acme.example",
            "client_id": "c",
            "client_secret": "s",
        },
        CTX,
    )
    with services.db.transaction() as session:
        services.federation.links.add(session, provider.id, subject, sub, "p@example.com")
    return provider.id


def test_the_user_page_lists_linked_identity_providers(client, services):
    users.create(services, "root", roles=["admin"])
    person = users.create(services, "linked-person")
    link(services, person.sub)
    sign_in(client, "root")
    page = client.get(f"/admin/users/{person.sub}").get_data(as_text=True)
    assert "Linked identity providers" in page and "Acme SSO" in page and "upstream-subject-42" in page


def test_deleting_a_user_takes_their_links(client, services, admin_headers):
    person = users.create(services, "leaving")
    link(services, person.sub)
    assert client.delete(f"/admin/api/v1/users/{person.sub}", headers=admin_headers).status_code == 204
    assert services.db.session.scalars(select(FederatedLink)).all() == []
