"""Signing in through another identity provider: Gatehouse as a relying party.

1. ``start``: the application must offer the provider; one sign-in's ``state``, ``nonce`` and
   PKCE verifier are kept in Redis (single use, 5 minutes), bound to the authorize request and
   to the browser that started it (``binding``, a secret the face keeps in its signed session:
   a callback carried to another browser is refused, RFC 6749 10.12), and the browser goes
   upstream.
2. ``arrive`` spends that record (a replayed callback finds nothing); ``complete`` asks the
   upstream who came back (``Upstream.identity``) and decides:
   - a link (provider, upstream subject) exists: that person signs in (``amr`` ``fed``), if
     their account may (locked, disabled or temporarily locked accounts are refused as on
     every way in);
   - no link, and no account has that email: a new account (the email verified only when the
     upstream says so) and its link;
   - an account already has that email: never linked silently. ``LinkRequired``: the
     upstream person waits in Redis (10 minutes) while the owner signs in to the account with
     a password or a code in the same browser; ``link_after_sign_in`` then links and signs in.
3. ``unlink``: refused while the link is the person's only way in.

Every step writes an audit event (``login.federated``, ``federation.link``,
``federation.unlink``; ``login.failure`` with the reason), never a token.
"""

from __future__ import annotations

import builtins
import hmac
import json
from dataclasses import asdict, dataclass
from typing import Any

import redis
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp import audit
from idp.accounts.users import UserService, new_sub
from idp.clock import Clock, SystemClock
from idp.contacts import normalise_email
from idp.context import RequestContext
from idp.crypto import hash_secret, new_token
from idp.db import Database
from idp.errors import IdpError, Kind, error
from idp.federation.links import FederatedLinks, LinkView
from idp.federation.providers import IdentityProviders
from idp.federation.registry import upstream_for
from idp.federation.upstream import UpstreamIdentity, UpstreamRequest
from idp.flows.results import Completed
from idp.guard.bruteforce import BruteForceGuard
from idp.models import Application, FederatedLink, IdentityProvider, Passkey, User
from idp.store import Keys, decoded, guarded

REQUEST_TTL = 300  # seconds between the redirect upstream and the callback
PENDING_LINK_TTL = 600  # seconds the owner of an existing account has to sign in and link
AMR = "fed"
LINKING_AMR = ("pwd", "otp")  # the sign-ins that prove an existing account: a password or a code
NAME_MAX = 200


@dataclass(frozen=True)
class Arrival:
    """A callback matched to the sign-in it belongs to (its record already spent)."""

    provider_id: str
    client_id: str
    authz_id: str | None
    request: UpstreamRequest


@dataclass(frozen=True)
class LinkRequired:
    """An account already has the upstream person's email: its owner must sign in to link."""

    token: str
    email: str
    provider_name: str


class FederatedSignIn:
    def __init__(
        self,
        db: Database,
        redis_client: redis.Redis,
        users: UserService,
        providers: IdentityProviders,
        links: FederatedLinks,
        guard: BruteForceGuard,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.redis = redis_client
        self.users = users
        self.providers = providers
        self.links = links
        self.guard = guard
        self.clock = clock or SystemClock()

    # -- 1. to the upstream ---------------------------------------------------------------
    def offered(self, client: Application) -> builtins.list[IdentityProvider]:
        """The providers the login page of ``client`` shows, in its order."""
        return self.providers.offered_by(client)

    def start(
        self, client: Application, ctx: RequestContext, provider_id: str, *, authz_id: str | None, binding: str
    ) -> str:
        """The upstream's authorization URL for this sign-in. Raises federation.not_offered,
        federation.unavailable (discovery), store.unavailable."""
        try:
            provider = self.offered_provider(client, provider_id)
            request = UpstreamRequest(
                state=new_token(24),
                nonce=new_token(24),
                code_verifier=new_token(48),
                redirect_uri=self.providers.redirect_uri(provider.id),
            )
            url = upstream_for(provider.kind).authorization_url(self.providers.config(provider), request)
            record = {
                "provider_id": provider.id,
                "client_id": client.client_id,
                "authz_id": authz_id,
                "binding": hash_secret(binding),
                "request": asdict(request),
            }
            self.keep(Keys.federation_request(hash_secret(request.state)), record, REQUEST_TTL)
        except IdpError as exc:
            self.refused(client.client_id, ctx, exc, provider_id)
            raise
        return url

    def offered_provider(self, client: Application, provider_id: str) -> IdentityProvider:
        """The provider ``provider_id`` if ``client`` offers it. Raises federation.not_offered."""
        provider = self.providers.find(provider_id) if provider_id in (client.identity_provider_ids or []) else None
        if provider is None:
            raise error("federation.not_offered")
        return provider

    # -- 2. back from the upstream ------------------------------------------------------------
    def arrive(self, state: str | None, binding: str | None, ctx: RequestContext) -> Arrival:
        """Spend the sign-in ``state`` names; it must have been started in this browser.
        Raises federation.invalid_state (unknown, spent, expired, another browser's),
        store.unavailable."""
        record = self.take(Keys.federation_request(hash_secret(state or "-")) if state else None)
        if record is None or not binding or not hmac.compare_digest(record["binding"], hash_secret(binding)):
            exc = error("federation.invalid_state")
            client_id = record["client_id"] if record else None
            audit.failure(self.db, "login.failure", ctx, exc, client_id=client_id, method=AMR)
            raise exc
        return Arrival(
            record["provider_id"], record["client_id"], record["authz_id"], UpstreamRequest(**record["request"])
        )

    def complete(
        self, arrival: Arrival, client: Application, callback: dict[str, str], ctx: RequestContext
    ) -> Completed | LinkRequired:
        """Who came back, and what that means (see the module's rules). Raises
        federation.not_offered, federation.denied, federation.invalid_response,
        federation.unavailable, account.abnormal_status, account.locked, account.*_taken,
        store.unavailable."""
        try:
            provider = self.offered_provider(client, arrival.provider_id)
            person = upstream_for(provider.kind).identity(self.providers.config(provider), arrival.request, callback)
        except IdpError as exc:
            self.refused(client.client_id, ctx, exc, arrival.provider_id)
            raise
        return self.settle(client, provider, person, ctx, can_link=True)

    def settle(
        self,
        client: Application,
        provider: IdentityProvider,
        person: UpstreamIdentity,
        ctx: RequestContext,
        *,
        can_link: bool,
        can_sign_up: bool = True,
    ) -> Completed | LinkRequired:
        """What the upstream person's arrival means (the module's rules). A face that cannot
        take the owner of an existing account through a sign-in (``can_link`` false: the JSON
        faces) gets federation.link_required instead of ``LinkRequired``; without
        ``can_sign_up`` an unknown person gets account.user_not_found. Raises as ``complete``."""
        user: User | None = None
        try:
            link = self.links.find(provider.id, person.subject)
            if link is not None:
                user = self._linked_user(link, ctx)
                return self._signed_in(user, provider, ctx, client.client_id, link=link)
            existing = self._owner_of(person.email)
            if existing is not None:
                if not can_link:
                    raise error("federation.link_required")
                return self._link_required(provider, person, existing, client.client_id, ctx)
            if not can_sign_up:
                raise error("account.user_not_found")
            user = self._sign_up(provider, person, ctx, client.client_id)
            return Completed(user, [AMR], int(self.clock.time()))
        except IdpError as exc:
            self.refused(client.client_id, ctx, exc, provider.id, user)
            raise

    def _linked_user(self, link: FederatedLink, ctx: RequestContext) -> User:
        user = self.users.by_sub(link.sub)
        if user is None:
            raise error("account.not_found")
        self.guard.check(user.sub, ctx, sub=user.sub, captcha=False)  # a temporary lock holds here too
        self.users.ensure_active(user)
        return user

    def _signed_in(
        self, user: User, provider: IdentityProvider, ctx: RequestContext, client_id: str, *, link: FederatedLink
    ) -> Completed:
        with self.db.transaction() as session:
            self.links.used(session, link.pk)
            _record_sign_in(session, user, provider, ctx, client_id)
        return Completed(user, [AMR], int(self.clock.time()))

    def _owner_of(self, email: str | None) -> User | None:
        """The account already holding ``email`` as a verified address, if any."""
        address = _address(email)
        owner = self.users.by_contact("email", address) if address else None
        return owner if owner is not None and owner.email_verified else None

    def _sign_up(
        self, provider: IdentityProvider, person: UpstreamIdentity, ctx: RequestContext, client_id: str
    ) -> User:
        """A new account and its link, in one unit of work. An address some account holds
        unverified is left off the new account (it stays the other account's to prove)."""
        address = _address(person.email)
        if address and self.users.by_contact("email", address) is not None:
            address = None
        name = " ".join((person.name or "").split())[:NAME_MAX] or None
        user = User(sub=new_sub(), email=address, email_verified=bool(address) and person.email_verified, name=name)
        try:
            with self.db.transaction() as session:
                session.add(user)
                session.flush()
                self.links.add(session, provider.id, person.subject, user.sub, address)
                audit.record(session, "user.signup", ctx, sub=user.sub, client_id=client_id, method="federated")
                audit.record(
                    session, "federation.link", ctx, sub=user.sub, client_id=client_id, provider_id=provider.id
                )
                _record_sign_in(session, user, provider, ctx, client_id)
        except IntegrityError as exc:  # the same upstream person arriving twice at once
            raise error("account.conflict") from exc
        return user

    def _link_required(
        self, provider: IdentityProvider, person: UpstreamIdentity, owner: User, client_id: str, ctx: RequestContext
    ) -> LinkRequired:
        token = new_token(24)
        record = {
            "provider_id": provider.id,
            "subject": person.subject,
            "email": owner.email,
            "sub": owner.sub,
            "client_id": client_id,
        }
        self.keep(Keys.federation_pending_link(hash_secret(token)), record, PENDING_LINK_TTL)
        audit.write(
            self.db,
            "federation.link",
            ctx,
            result="pending",
            sub=owner.sub,
            client_id=client_id,
            provider_id=provider.id,
        )
        return LinkRequired(token, owner.email or "", provider.name)

    # -- linking an existing account -------------------------------------------------------------
    def link_after_sign_in(self, token: str, done: Completed, client: Application, ctx: RequestContext) -> Completed:
        """The owner of the account the upstream person's email belongs to signed in (``done``,
        with a password or a code): link, and go on signed in with ``fed`` added to ``amr``.
        Someone else signing in, or another way in, links nothing (the waiting link is spent
        either way). Raises store.unavailable."""
        record = self.take(Keys.federation_pending_link(hash_secret(token)) if token else None)
        if record is None:
            return done
        if record["sub"] != done.user.sub or not set(done.amr) & set(LINKING_AMR):
            audit.write(
                self.db,
                "federation.link",
                ctx,
                result="failure",
                reason="another_account" if record["sub"] != done.user.sub else "weak_sign_in",
                sub=done.user.sub,
                client_id=client.client_id,
                provider_id=record["provider_id"],
            )
            return done
        try:
            with self.db.transaction() as session:
                self.links.add(session, record["provider_id"], record["subject"], done.user.sub, record["email"])
                audit.record(
                    session,
                    "federation.link",
                    ctx,
                    sub=done.user.sub,
                    client_id=client.client_id,
                    provider_id=record["provider_id"],
                )
        except IntegrityError:  # linked meanwhile (another tab): nothing left to do
            return done
        return Completed(done.user, [*done.amr, AMR], done.auth_time)

    # -- the account page ------------------------------------------------------------------------
    def links_of(self, sub: str) -> builtins.list[LinkView]:
        return self.links.of(sub)

    def unlink(self, sub: str, provider_id: str, ctx: RequestContext) -> None:
        """Remove the person's link(s) to ``provider_id``, unless it is their only way in: no
        password, no verified email or phone number to receive a login code, no passkey and no
        other link. Raises federation.link_not_found, federation.last_way_in, account.not_found."""
        user = self.users.by_sub(sub)
        if user is None:
            raise error("account.not_found")
        with self.db.transaction() as session:
            links = list(session.scalars(select(FederatedLink).where(FederatedLink.sub == sub)))
            removed = [link for link in links if link.provider_id == provider_id]
            if not removed:
                raise error("federation.link_not_found")
            if len(removed) == len(links) and not self._other_way_in(user):
                exc = error("federation.last_way_in")
                audit.failure(self.db, "federation.unlink", ctx, exc, sub=sub, provider_id=provider_id)
                raise exc
            for link in removed:
                session.delete(link)
            audit.record(session, "federation.unlink", ctx, sub=sub, provider_id=provider_id)

    def _other_way_in(self, user: User) -> bool:
        if user.password_hash or (user.email and user.email_verified) or (user.phone_number and user.phone_verified):
            return True
        passkeys = self.db.session.scalar(select(func.count()).select_from(Passkey).where(Passkey.sub == user.sub))
        return bool(passkeys)

    # -- helpers -----------------------------------------------------------------------------------
    @guarded
    def keep(self, key: str, record: dict[str, Any], ttl: int) -> None:
        self.redis.set(key, json.dumps(record), ex=ttl)

    @guarded
    def take(self, key: str | None) -> dict[str, Any] | None:
        """GETDEL: of two callbacks carrying the same state exactly one gets it."""
        if key is None:
            return None
        raw = decoded(self.redis.getdel(key))
        return json.loads(raw) if raw else None

    def refused(
        self, client_id: str, ctx: RequestContext, exc: IdpError, provider_id: str, user: User | None = None
    ) -> None:
        """``login.failure`` with the reason; an unreachable upstream is recorded too (the
        database is up: only the upstream is not)."""
        fields = {"client_id": client_id, "sub": user.sub if user else None, "method": AMR, "provider_id": provider_id}
        if exc.code == "federation.unavailable":
            audit.write(self.db, "login.failure", ctx, result="failure", reason=exc.code, **fields)
        elif exc.kind is not Kind.UNAVAILABLE:
            audit.failure(self.db, "login.failure", ctx, exc, **fields)


def _record_sign_in(
    session: Session, user: User, provider: IdentityProvider, ctx: RequestContext, client_id: str
) -> None:
    """``login.federated``: a success through an upstream (counted with the other sign-ins)."""
    audit.record(
        session,
        "login.federated",
        ctx,
        sub=user.sub,
        client_id=client_id,
        provider_id=provider.id,
        method=AMR,
        amr=[AMR],
    )


def _address(email: str | None) -> str | None:
    if not email:
        return None
    try:
        return normalise_email(email, ())
    except IdpError:
        return None
