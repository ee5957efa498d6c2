"""Signing in through another identity provider from an app's own screens, in the three steps
of CloudBase's HTTP API ("Third-party login": generate the provider redirect URI, grant a
provider token, sign in with the provider token).

The app, not Gatehouse, receives the upstream's redirect, and that API carries nothing but the
code back: no ``state`` for Gatehouse to find a PKCE verifier or ``nonce`` by. So these
sign-ins use neither (both are optional for a confidential client's code flow: RFC 6749 4.1,
OpenID Connect Core 1.0 3.1.2.1); what protects them instead is that the upstream's
``redirect_uri`` must be one the application registered (exact match), that the code is
exchanged with Gatehouse's own client secret at the upstream, and the app's own ``state``,
which the upstream echoes to it. A code the provider's SDK gave the app without a redirect
(WeChat's mobile SDK, Sign in with Apple on iOS) is exchanged without one.

The person the upstream names waits in Redis behind an opaque ``provider_token`` (single use,
bound to the application that asked) until the app signs in with it; from there on it is the
same decision as on the hosted pages (``FederatedSignIn.settle``), except that an existing
account is never linked here: linking needs its owner to sign in, which the hosted pages do.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from idp.context import RequestContext
from idp.crypto import hash_secret, new_token
from idp.errors import IdpError, error
from idp.federation.registry import upstream_for
from idp.federation.upstream import UpstreamIdentity, UpstreamRequest
from idp.flows.federated import FederatedSignIn, LinkRequired
from idp.flows.results import Completed
from idp.models import Application
from idp.store import Keys

PROVIDER_TOKEN_TTL = 600  # seconds between granting a provider_token and signing in with it


@dataclass(frozen=True)
class ProviderGrant:
    provider_token: str
    expires_in: int
    provider_id: str
    person: UpstreamIdentity


class ProviderTokens:
    def __init__(self, federation: FederatedSignIn) -> None:
        self.federation = federation

    def authorization_uri(
        self, client: Application, provider_id: str, redirect_uri: str | None, state: str | None
    ) -> str:
        """Where the app sends the person. Raises federation.not_offered,
        federation.redirect_uri_mismatch, federation.unavailable."""
        provider = self.federation.offered_provider(client, provider_id)
        request = UpstreamRequest(
            state=state or new_token(16),
            nonce="",
            code_verifier="",
            redirect_uri=self._registered(client, redirect_uri),
        )
        return upstream_for(provider.kind).authorization_url(self.federation.providers.config(provider), request)

    def grant(
        self, client: Application, ctx: RequestContext, provider_id: str, code: str, redirect_uri: str | None
    ) -> ProviderGrant:
        """Exchange the upstream's ``code`` and keep who it names behind a new provider_token.
        ``redirect_uri`` is where the code was sent, one the application registered; none for a
        code the provider's own SDK handed the app (WeChat's mobile SDK, Sign in with Apple on
        iOS), which the provider then exchanges without one (RFC 6749 4.1.3 asks for it only
        when the authorization request carried one). Raises federation.not_offered,
        federation.redirect_uri_mismatch, federation.denied, federation.invalid_response,
        federation.unavailable, store.unavailable."""
        provider = self.federation.offered_provider(client, provider_id)
        if redirect_uri:
            self._registered(client, redirect_uri)
        request = UpstreamRequest(state="", nonce="", code_verifier="", redirect_uri=redirect_uri or "")
        try:
            person = upstream_for(provider.kind).identity(
                self.federation.providers.config(provider), request, {"code": code, "state": ""}
            )
        except IdpError as exc:
            self.federation.refused(client.client_id, ctx, exc, provider.id)
            raise
        token = new_token(32)
        record = {"client_id": client.client_id, "provider_id": provider.id, "person": asdict(person)}
        self.federation.keep(Keys.federation_provider_token(hash_secret(token)), record, PROVIDER_TOKEN_TTL)
        return ProviderGrant(token, PROVIDER_TOKEN_TTL, provider.id, person)

    def sign_in(
        self, client: Application, ctx: RequestContext, provider_token: str, *, can_sign_up: bool = True
    ) -> Completed:
        """Spend ``provider_token`` (granted to this application) and sign its person in,
        creating the account on a first visit unless ``can_sign_up`` is false. Raises
        federation.invalid_provider_token, federation.not_offered, federation.link_required,
        account.user_not_found, account.abnormal_status, account.locked, store.unavailable."""
        record = self.federation.take(Keys.federation_provider_token(hash_secret(provider_token)))
        if record is None or record["client_id"] != client.client_id:
            raise error("federation.invalid_provider_token")
        provider = self.federation.offered_provider(client, record["provider_id"])
        person = UpstreamIdentity(**record["person"])
        done = self.federation.settle(client, provider, person, ctx, can_link=False, can_sign_up=can_sign_up)
        assert not isinstance(done, LinkRequired)  # can_link=False raises instead
        return done

    @staticmethod
    def _registered(client: Application, redirect_uri: str | None) -> str:
        """``redirect_uri`` if the application registered it (exact match). Raises
        federation.redirect_uri_mismatch."""
        if not redirect_uri or not client.check_redirect_uri(redirect_uri):
            raise error("federation.redirect_uri_mismatch")
        return redirect_uri
