"""Sign-up, for every face: Tencent CIAM ``POST /signup``, CloudBase ``/auth/v1/signup``, the
hosted sign-up page, and the automatic sign-up of a code login (``auto_signup``).

- ``send_code``: a sign-up code goes only to a contact no account uses (Tencent CIAM, Send
  OTP Verification Code: ``phone_number_is_used`` / ``email_is_used``; OneAccess
  ``REGISTER_SMS``; CloudBase ``target: NOT_USER``). The one place that rule is decided.
- ``sign_up``: a new user whose phone number or email address is proven (a code, a
  verification_token: any ``Proof``) and marked verified, with an optional username,
  password and profile; or, without a proof, a username and a password. The result is the
  login flow's ``Completed``: the person who just proved the contact is signed in.

One unit of work: the input is checked first (profile, username, password policy), the proof
is verified without being spent, then one transaction adds the user and the audit event and
spends the proof just before it commits. A refused request creates nobody and spends nothing;
of concurrent sign-ups with one proof exactly one wins.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from idp import audit
from idp.accounts.audited import refusals_audited
from idp.accounts.profile import FIELDS as PROFILE_FIELDS
from idp.accounts.profile import check_username
from idp.accounts.profile import checked as checked_profile
from idp.accounts.proofs import ContactCode, Proof, bind
from idp.accounts.users import CONTACT_COLUMN, VERIFIED_COLUMN, UserService, new_sub
from idp.clock import Clock, SystemClock
from idp.context import RequestContext
from idp.db import Database
from idp.errors import invalid
from idp.flows.results import Completed
from idp.models import Application, User
from idp.otp.service import OtpService, SendResult

# a new user's profile: the username comes as its own argument
SIGNUP_PROFILE_FIELDS = tuple(name for name in PROFILE_FIELDS if name != "username")


class SignUpFlow:
    def __init__(self, db: Database, users: UserService, otp: OtpService, clock: Clock | None = None) -> None:
        self.db = db
        self.users = users
        self.otp = otp
        self.clock = clock or SystemClock()

    def send_code(
        self,
        client: Application,
        ctx: RequestContext,
        channel: str,
        raw_target: str,
        auth_source_id: str | None,
        *,
        usage: str = "signup",
    ) -> SendResult:
        """Send a code to a phone number or email address no account uses: a sign-up code, or
        (``usage``) another code a face wants only for a free contact.

        Raises contact.*, otp.invalid_auth_source, otp.invalid_usage, account.phone_taken,
        account.email_taken, otp.rate_limited, otp.quota_exhausted, otp.delivery_failed,
        store.unavailable.
        """
        target = self.otp.normalise_target(channel, raw_target)
        self.otp.code_policy(client, channel, usage, auth_source_id)  # a bad auth source is said first
        self.users.ensure_contact_free(channel, target)
        return self.otp.send(client, channel, target, usage, auth_source_id, ctx)

    @refusals_audited("user.signup")
    def sign_up(
        self,
        client: Application,
        ctx: RequestContext,
        proof: Proof | ContactCode | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        profile: dict[str, Any] | None = None,
    ) -> Completed:
        """A new user: the contact ``proof`` proves (a ``usage=signup`` code, or a flow's proof),
        marked verified, with optional username, password and profile; or, with no proof, a
        username and a password. Audited as ``user.signup``.

        Raises signup.identifier_required, account.invalid_field, account.invalid_<field>,
        password.too_short/too_long/too_common, request.invalid, contact.*, the proof's errors
        (otp.*, verification.invalid_token), account.username_taken/phone_taken/email_taken,
        store.unavailable.
        """
        fields = checked_profile(profile or {}, SIGNUP_PROFILE_FIELDS)
        if username is not None:
            check_username(username)
            fields["username"] = username
        if proof is None and (not username or password is None):
            raise invalid("signup.identifier_required")
        password_hash = self.users.passwords.hash(password) if password is not None else None
        bound = bind(self.otp, client, ctx, "signup", proof) if proof is not None else None
        amr = ["pwd"]
        if bound is not None:
            contact = bound.contact()  # its shape only: the proof is checked once, when it is spent
            # a contact some account already holds fails the insert below (unique columns),
            # before the proof is spent: no lookup of its own needed
            fields[CONTACT_COLUMN[contact.channel]] = contact.target
            fields[VERIFIED_COLUMN[contact.channel]] = True
            amr = ["otp", contact.channel]
        user = User(sub=new_sub(), password_hash=password_hash, **fields)
        try:
            with self.db.transaction() as session:
                session.add(user)
                session.flush()  # a duplicate username/contact fails here, before the proof is spent
                audit.record(
                    session,
                    "user.signup",
                    ctx,
                    sub=user.sub,
                    client_id=client.client_id,
                    method=f"otp_{amr[1]}" if bound is not None else "password",
                )
                if bound is not None:
                    # checks and spends in one call: a wrong code (counted) or a lost race
                    # rolls the user back
                    bound.spend()
        except IntegrityError as exc:
            if bound is not None:
                bound.check()  # only the holder of a right proof learns the contact is taken
            raise self.users.duplicate_error(fields) from exc
        return Completed(user, amr, int(self.clock.time()))
