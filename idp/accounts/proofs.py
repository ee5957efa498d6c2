"""Proofs that someone controls a phone number or email address.

Sign-up, sign-in by code, password reset and contact changes all act on "a contact the
caller has proven"; how it was proven is the face's: a one-time code with its ``otp_token``
(Tencent CIAM, the hosted pages, ZITADEL), or a Tencent CloudBase ``verification_token``
(supplied by ``idp.flows.verification``). The commands take any ``Proof``:

- ``contact()`` names the contact, checking only its shape: nothing is counted or spent;
- ``check()`` verifies without spending (a wrong code counts against the contact, as every
  wrong code does);
- ``spend()`` verifies and spends in one atomic step: of concurrent spenders exactly one
  succeeds, so a command spends its proof last, inside its transaction, and a lost race
  rolls the whole change back.

A ``CodeProof`` can also ``give_back()`` the code it spent, for a caller whose request then
failed on a store outage (a request that answers 503 spends nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from idp.accounts.users import CONTACT_COLUMN
from idp.context import RequestContext
from idp.errors import invalid
from idp.guard.bruteforce import LOOK_UP, LookUp
from idp.models import Application
from idp.otp.service import OtpService


@dataclass(frozen=True)
class Contact:
    channel: str  # "sms" | "email"
    target: str  # normalised: E.164 or the lower-cased address


class Proof(Protocol):
    def contact(self) -> Contact: ...

    def check(self) -> Contact: ...

    def spend(self) -> None: ...


@dataclass(frozen=True)
class ContactCode:
    """A phone number or email address with the code sent to it, as a face received them."""

    channel: str  # "sms" | "email"
    target: str | None  # as typed; normalised by the proof
    otp_token: str | None
    code: str | None
    auth_source_id: str | None = None


class CodeProof:
    """A ``ContactCode`` for the code's ``usage``, checked by the OTP service for ``client``."""

    def __init__(
        self, otp: OtpService, client: Application, ctx: RequestContext, usage: str, given: ContactCode
    ) -> None:
        self.otp, self.client, self.ctx, self.usage, self.given = otp, client, ctx, usage, given
        self._contact: Contact | None = None
        self._source = ""
        self._guarded_as: str | LookUp | None = LOOK_UP
        self._spent = False

    def guarded_as(self, sub: str | None) -> None:
        """The caller has looked the contact's account up (``sub``, or None) and asked the
        brute-force guard itself: the code checks need not do either again."""
        self._guarded_as = sub

    def contact(self) -> Contact:
        """Raises request.invalid (channel), otp.auth_source_required, otp.invalid_auth_source,
        contact.malformed_phone/_email, contact.blocked_email."""
        if self._contact is None:
            channel = self.given.channel
            if channel not in CONTACT_COLUMN:
                raise invalid("request.invalid", "channel must be sms or email")
            policy = self.otp.code_policy(self.client, channel, self.usage, self.given.auth_source_id)
            self._source = policy.auth_source_id
            self._contact = Contact(channel, self.otp.normalise_target(channel, self.given.target or ""))
        return self._contact

    def check(self) -> Contact:
        """Raises what ``contact`` raises, account.locked, otp.unknown_token, otp.mismatch,
        otp.wrong_code, otp.expired_code, otp.too_many_failures."""
        return self._verify(consume=False)

    def spend(self) -> None:
        """Raises what ``check`` raises (otp.unknown_token when another request spent it)."""
        self._verify(consume=True)
        self._spent = True

    def give_back(self) -> bool:
        """Make the code this proof spent usable again (nothing when it spent none, or gave it
        back already). True when it went back. Raises store.unavailable."""
        if not self._spent or self._contact is None:
            return False
        self._spent = False
        contact = self._contact
        return self.otp.give_back(self.given.otp_token or "", self.usage, contact.channel, contact.target)

    def _verify(self, *, consume: bool) -> Contact:
        contact = self.contact()
        self.otp.verify(
            self.client,
            contact.channel,
            contact.target,
            self.usage,
            self._source,
            self.given.otp_token or "",
            self.given.code or "",
            consume=consume,
            ctx=self.ctx,
            guarded_as=self._guarded_as,
        )
        return contact


def bind(
    otp: OtpService, client: Application | None, ctx: RequestContext, usage: str, proof: Proof | ContactCode
) -> Proof:
    """A face's ``ContactCode`` as a ``Proof`` (a flow's proofs come bound already).
    Raises request.invalid when there is no client to check a code for."""
    if not isinstance(proof, ContactCode):
        return proof
    if client is None:
        raise invalid("request.invalid", "a code is checked for the client that sent it")
    return CodeProof(otp, client, ctx, usage, proof)
