"""CaptchaService on a real Redis: images, hashed answers, one attempt, single-use passes."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from idp.context import RequestContext
from idp.crypto import hash_secret
from idp.errors import IdpError
from idp.guard.captcha import ALPHABET, CHALLENGE_TTL, PASS_TTL, CaptchaService
from idp.store import Keys

CTX = RequestContext(ip="127.0.0.1", client_id="app-1")
ANSWER = "K7HM3"


@pytest.fixture
def captcha_answers():
    """The services' captchas all say ANSWER (the image is still drawn and only an HMAC kept)."""
    return lambda: ANSWER


@pytest.fixture
def captcha(services):
    return services.captcha


def answer_of(captcha: CaptchaService):
    return captcha.new(CTX), ANSWER


def test_challenge_is_a_png_data_uri(captcha):
    challenge = captcha.new(CTX)
    prefix = "data:image/png;base64,"
    assert challenge.image_data_uri.startswith(prefix)
    image = Image.open(io.BytesIO(base64.b64decode(challenge.image_data_uri[len(prefix) :])))
    assert (image.format, image.size) == ("PNG", (160, 60))
    assert challenge.expires_in == CHALLENGE_TTL == 300


def test_answers_use_the_unambiguous_alphabet(services):
    captcha = CaptchaService(services.settings, services.redis)  # the random answers of production
    for _ in range(50):
        answer = captcha._new_answer()
        assert 4 <= len(answer) <= 6
        assert set(answer) <= set(ALPHABET)
    assert not set("0O1IL2Z5S8B") & set(ALPHABET)


def test_only_an_hmac_of_the_answer_is_stored(captcha, services):
    challenge, answer = answer_of(captcha)
    key = Keys.captcha_challenge(hash_secret(challenge.token))
    stored = services.redis.get(key)
    assert answer not in stored and challenge.token not in stored
    assert 0 < services.redis.ttl(key) <= CHALLENGE_TTL
    assert all(challenge.token not in k for k in list(services.redis.scan_iter("gh:captcha:*")))


def test_right_answer_gives_a_single_use_captcha_token(captcha, services):
    challenge, answer = answer_of(captcha)
    token = captcha.solve(challenge.token, f"  {answer.lower()} ", CTX)  # case and spaces do not matter
    assert 0 < services.redis.ttl(Keys.captcha_pass(hash_secret(token))) <= PASS_TTL
    assert captcha.redeem(token, CTX) is True
    assert captcha.redeem(token, CTX) is False


def test_one_attempt_per_challenge(captcha):
    challenge, answer = answer_of(captcha)
    with pytest.raises(IdpError) as wrong:
        captcha.solve(challenge.token, "AAAAA", CTX)
    assert wrong.value.code == "captcha.wrong_answer"
    with pytest.raises(IdpError) as gone:
        captcha.solve(challenge.token, answer, CTX)
    assert gone.value.code == "captcha.unknown_token"


def test_a_solved_challenge_cannot_be_solved_again(captcha):
    challenge, answer = answer_of(captcha)
    captcha.solve(challenge.token, answer, CTX)
    with pytest.raises(IdpError) as again:
        captcha.solve(challenge.token, answer, CTX)
    assert again.value.code == "captcha.unknown_token"


@pytest.mark.parametrize("token", ["", "nope", "x" * 500])
def test_unknown_challenge(captcha, token):
    with pytest.raises(IdpError) as exc:
        captcha.solve(token, "ABCDE", CTX)
    assert exc.value.code == "captcha.unknown_token"


def test_bound_to_the_application(captcha):
    other = RequestContext(ip="127.0.0.1", client_id="app-2")
    challenge, answer = answer_of(captcha)
    with pytest.raises(IdpError):
        captcha.solve(challenge.token, answer, other)
    challenge, answer = answer_of(captcha)
    token = captcha.solve(challenge.token, answer, CTX)
    assert captcha.redeem(token, other) is False
    assert captcha.redeem(token, CTX) is False  # spent by the foreign attempt


@pytest.mark.parametrize("token", [None, "", "unknown", "x" * 500])
def test_redeem_of_nothing_is_false(captcha, token):
    assert captcha.redeem(token, CTX) is False


def test_length_is_bounded(services):
    with pytest.raises(ValueError, match="4 to 6"):
        CaptchaService(services.settings, services.redis, length=7)
    assert len(CaptchaService(services.settings, services.redis, length=4)._new_answer()) == 4
