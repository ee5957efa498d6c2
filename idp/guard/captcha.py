"""Image captchas: the proof of a person that the brute-force policy asks for after repeated
failures (CloudBase ``captcha_required``, "User Login API"), and the CloudBase ``/auth/v1/captcha/*``
endpoints that hand them out.

A challenge is 4-6 characters from an alphabet without look-alikes (no 0/O, 1/I/L, 2/Z, 5/S,
8/B), drawn as a PNG by ``captcha.image.ImageCaptcha``. Only an HMAC of the answer (keyed by the
server secret, so a Redis dump cannot be searched offline) is kept, for five minutes.

- ``new`` makes a challenge: its ``token`` and the image as a ``data:`` URI.
- ``solve`` takes the typed answer. Each challenge gets exactly one attempt (read and deleted
  in one GETDEL, so guessing means drawing a new image every time); the right answer gives a
  ``captcha_token``, single use, five minutes, bound to the application that solved it.
- ``redeem`` spends a ``captcha_token`` (GETDEL): True once, False when unknown, used, expired
  or solved for another application.

Redis keys (``idp/store.py``): ``captcha:chal:{sha256(token)}`` and
``captcha:pass:{sha256(captcha_token)}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

import redis

from idp.context import RequestContext
from idp.crypto import hash_secret, new_token
from idp.errors import IdpError, error
from idp.settings import Settings
from idp.store import Keys, decoded, guarded

if TYPE_CHECKING:
    from captcha.image import ImageCaptcha

ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"  # unambiguous in any font: no 0O 1IL 2Z 5S 8B
CHALLENGE_TTL = 300
PASS_TTL = 300
MIN_LENGTH, MAX_LENGTH = 4, 6
MAX_TOKEN_LENGTH = 128


@dataclass(frozen=True)
class CaptchaChallenge:
    token: str
    image_data_uri: str  # data:image/png;base64,...
    expires_in: int


class ChallengeRecord(TypedDict):
    """A challenge as Redis keeps it (JSON, ``captcha:chal:{sha256(token)}``)."""

    digest: str  # HMAC of the answer, bound to the challenge token
    client_id: str  # the application it was drawn for ("" for none)


def wrong_answer() -> IdpError:
    return error("captcha.wrong_answer")


def unknown_token() -> IdpError:
    return error("captcha.unknown_token")


class CaptchaService:
    def __init__(
        self,
        settings: Settings,
        redis_client: redis.Redis,
        *,
        length: int = 5,
        width: int = 160,
        height: int = 60,
        answers: Callable[[], str] | None = None,
    ) -> None:
        if not MIN_LENGTH <= length <= MAX_LENGTH:
            raise ValueError(f"captcha length must be {MIN_LENGTH} to {MAX_LENGTH}")
        self.redis = redis_client
        self.length = length
        self._mac_key = hashlib.sha256(b"gatehouse/captcha/" + settings.secret_key.encode()).digest()
        self._size = (width, height)
        self._drawer: ImageCaptcha | None = None  # made on the first challenge
        # where answers come from: random from the alphabet unless a caller (a test) says otherwise
        self._new_answer = answers or self._random_answer

    def _image(self) -> ImageCaptcha:
        """The drawer, loaded with the first challenge: Pillow and the captcha fonts (about 4 MiB)
        stay out of a worker that never shows a captcha."""
        if self._drawer is None:
            from captcha.image import ImageCaptcha

            self._drawer = ImageCaptcha(width=self._size[0], height=self._size[1])
        return self._drawer

    def _digest(self, token: str, answer: str) -> str:
        """Bound to the challenge token: the same answer under two challenges differs."""
        normalised = answer.strip().upper()
        return hmac.new(self._mac_key, f"{token}:{normalised}".encode(), hashlib.sha256).hexdigest()

    def _random_answer(self) -> str:
        return "".join(secrets.choice(ALPHABET) for _ in range(self.length))

    @guarded
    def new(self, ctx: RequestContext) -> CaptchaChallenge:
        """A new challenge. Raises store.unavailable."""
        answer = self._new_answer()
        token = new_token(24)
        png = self._image().generate(answer, format="png").getvalue()
        record: ChallengeRecord = {"digest": self._digest(token, answer), "client_id": ctx.client_id or ""}
        self.redis.set(Keys.captcha_challenge(hash_secret(token)), json.dumps(record), ex=CHALLENGE_TTL)
        uri = "data:image/png;base64," + base64.b64encode(png).decode()
        return CaptchaChallenge(token, uri, CHALLENGE_TTL)

    @guarded
    def solve(self, token: str, answer: str, ctx: RequestContext) -> str:
        """The ``captcha_token`` for the right answer. One attempt per challenge.

        Raises captcha.unknown_token (unknown, used, expired, another application's),
        captcha.wrong_answer, store.unavailable.
        """
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise unknown_token()
        raw = self.redis.getdel(Keys.captcha_challenge(hash_secret(token)))
        record: ChallengeRecord | None = json.loads(raw) if raw else None
        if record is None or record["client_id"] != (ctx.client_id or ""):
            raise unknown_token()
        if not hmac.compare_digest(record["digest"], self._digest(token, answer or "")):
            raise wrong_answer()
        captcha_token = new_token(32)
        self.redis.set(Keys.captcha_pass(hash_secret(captcha_token)), ctx.client_id or "", ex=PASS_TTL)
        return captcha_token

    @guarded
    def redeem(self, captcha_token: str | None, ctx: RequestContext) -> bool:
        """Spend a ``captcha_token``: True exactly once. Raises store.unavailable."""
        if not captcha_token or len(captcha_token) > MAX_TOKEN_LENGTH:
            return False
        owner = decoded(self.redis.getdel(Keys.captcha_pass(hash_secret(captcha_token))))
        return owner is not None and hmac.compare_digest(owner, ctx.client_id or "")
