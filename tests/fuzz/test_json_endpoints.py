"""Seeded fuzzing of every JSON endpoint: whatever a client sends, the answer is never a 5xx,
is JSON at every status (404, 405 and 413 included) and, for an error, is in the face's own
wire shape (RFC 6749 5.2 for OAuth, each vendor's for its face; see tests/fuzz/faces.py).

The endpoints come from the app's URL map, so a new JSON route is fuzzed without a change
here. Each (rule, method) pair gets 200 Hypothesis examples spread over the seven input
classes of tests/fuzz/strategies.py; a failing request is shrunk by Hypothesis to a minimal
one and reported with the answer it got. All faces' failures are collected before the test
fails, so one run lists every endpoint that misbehaves.
"""

from __future__ import annotations

import time
import zlib
from collections import Counter
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tests.factories import (
    TENANT_CLIENT_ID,
)
from tests.fuzz.faces import FACES, METHODS, Endpoint, allowed_methods, assert_face_shape, json_endpoints, response_json
from tests.fuzz.strategies import (
    AUTHORIZE_PARAMS,
    INPUT_CLASSES,
    QUERY_VALUES,
    Credentials,
    FuzzRequest,
    requests_for,
)

pytestmark = pytest.mark.timeout(120)  # a hang fails the test instead of the run

EXAMPLES = 200  # requests per endpoint, at least
PER_CLASS = -(-EXAMPLES // len(INPUT_CLASSES))  # 29 per input class: 203 per endpoint
SEED = 20240611


def fuzz_settings(examples: int = EXAMPLES):
    """Seeded and bounded: the same requests on every run, nothing saved to .hypothesis/."""
    return settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=False,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=True,
        print_blob=False,
    )


# -- what a failure is ------------------------------------------------------------------------
# one exception type per broken rule, raised from its own line: Hypothesis shrinks and reports
# each distinct failure of an endpoint separately
class ViewRaised(AssertionError):
    """The view raised instead of answering (a 500 in production)."""


class ServerError(AssertionError):
    """A 5xx answer to a client's mistake."""


class NotJson(AssertionError):
    """A JSON route answered something that is not JSON."""


class WrongShape(AssertionError):
    """An error body that is not in the face's shape."""


class WrongMethodAnswer(AssertionError):
    """A method the route does not answer, not refused with 405 (RFC 9110 15.5.6)."""


class HeaderInjected(AssertionError):
    """A query parameter's CR/LF became a response header (response splitting)."""


def send(client, request: FuzzRequest):
    return client.open(
        request.path,
        method=request.method,
        query_string=request.query_string,
        headers=request.headers,
        data=request.body,
    )


def answered(request: FuzzRequest, response) -> str:
    text = response.get_data()[:200].decode("utf-8", "replace")
    return f"{request.describe()}\nstatus: {response.status_code}\nresponse: {text!r}"


def check(app, client, endpoint: Endpoint, request: FuzzRequest) -> None:
    """Send ``request``; raise the failure it shows, with the request that caused it."""
    try:
        response = send(client, request)
    except Exception as exc:
        raise ViewRaised(f"{request.describe()}\nraised: {type(exc).__name__}: {str(exc)[:200]}") from exc
    if response.status_code >= 500:
        raise ServerError(answered(request, response))
    if response.status_code == 204:  # No Content: nothing to parse
        assert not response.get_data(), answered(request, response)
        return
    try:
        body = response_json(response)
    except (AssertionError, ValueError) as exc:
        raise NotJson(f"{answered(request, response)}\n{exc}") from None
    if response.status_code >= 400:
        try:
            assert_face_shape(endpoint.face, response.status_code, body)
        except AssertionError as exc:
            raise WrongShape(f"{answered(request, response)}\nnot in the {endpoint.face} shape: {exc}") from None
    wrong_method = request.input_class == "method" and request.method not in allowed_methods(app, unquote(request.path))
    if wrong_method and response.status_code != 405:
        raise WrongMethodAnswer(answered(request, response))


def fuzz_endpoint(app, credentials: Credentials, endpoint: Endpoint, counts: Counter) -> list[str]:
    """At least 200 requests to ``endpoint``, an equal share per input class (each class is its
    own Hypothesis run, so a failure in one does not end the search in the others). Returns
    the shrunk failures, one message each."""
    client = app.test_client()
    wrong = tuple(m for m in METHODS if m not in allowed_methods(app, unquote(endpoint.plain_path())))
    assert wrong, f"{endpoint}: every method is answered, none is wrong"
    failures = []
    for input_class, strategy in requests_for(endpoint, credentials, wrong).items():

        @seed(SEED + zlib.crc32(f"{endpoint} {input_class}".encode()))
        @fuzz_settings(PER_CLASS)
        @given(request=strategy)
        def run(request: FuzzRequest) -> None:
            counts[request.input_class] += 1
            check(app, client, endpoint, request)

        try:
            run()
        except Exception as exc:
            failures.extend(failures_of(exc))
    return failures


def failures_of(exc: BaseException) -> list[str]:
    """The messages of Hypothesis' failure, or of each of its distinct failures."""
    if isinstance(exc, BaseExceptionGroup):
        return [message for inner in exc.exceptions for message in failures_of(inner)]
    return [f"{type(exc).__name__}: {exc}"]


def test_every_json_route_is_enumerated(app):
    endpoints = json_endpoints(app)
    routes = {e.rule for e in endpoints}
    assert endpoints
    for route in ("/oauth2/token", "/admin/api/v1/users", "/auth/v1/signin", "/otp/send"):
        assert route in routes
    assert {e.face for e in endpoints} == set(FACES)
    assert not routes & {"/oauth2/authorize", "/oauth2/authorize/continue", "/oauth2/logout"}
    assert ("PATCH", "/userinfo") in {(e.method, e.rule) for e in endpoints}


@pytest.mark.parametrize("face", FACES)
def test_hostile_requests_get_json_in_the_face_shape(target, face):
    app, credentials = target
    endpoints = [e for e in json_endpoints(app) if e.face == face]
    assert endpoints
    failures: list[str] = []
    summary = []
    for endpoint in endpoints:
        counts: Counter = Counter()
        started = time.perf_counter()
        found = fuzz_endpoint(app, credentials, endpoint, counts)
        failures.extend(f"--- {endpoint}\n{message}" for message in found)
        if not found:  # a failing class stops at its first failure, and shrinks it
            assert sum(counts.values()) >= EXAMPLES, f"{endpoint}: {counts}"
            assert set(counts) == set(INPUT_CLASSES), f"{endpoint}: a class never ran: {counts}"
        seconds = time.perf_counter() - started
        summary.append(
            f"{endpoint}: {sum(counts.values())} requests in {seconds:.1f} s, {dict(sorted(counts.items()))}"
        )
    print(f"\n{face}: {len(endpoints)} endpoints\n" + "\n".join(summary))
    assert not failures, f"{len(failures)} failure(s) on the {face} face:\n\n" + "\n\n".join(failures)


# -- the authorization endpoint (HTML): CR/LF and control characters in its parameters ----------
_authorize_values = st.one_of(st.sampled_from(QUERY_VALUES), st.sampled_from(["code", "openid", TENANT_CLIENT_ID]))


def test_authorize_query_strings_never_fail_or_split_headers(target):
    """``/oauth2/authorize`` answers a browser (a page or a redirect, OpenID Connect Core 3.1.2),
    so only "no 5xx" and "no injected header" hold, whatever its parameters hold."""
    app, _credentials = target
    client = app.test_client()
    counts: Counter = Counter()

    @seed(SEED)
    @fuzz_settings()
    @given(
        params=st.lists(st.tuples(st.sampled_from(AUTHORIZE_PARAMS), _authorize_values), min_size=1, max_size=6).map(
            lambda pairs: [("client_id", TENANT_CLIENT_ID), ("response_type", "code"), *pairs]
        ),
        method=st.sampled_from(["GET", "GET", "POST"]),
    )
    def run(params, method) -> None:
        counts[method] += 1
        query = "&".join(f"{k}={v}" for k, v in params)
        request = FuzzRequest("query", method, "/oauth2/authorize", query)
        try:
            response = send(client, request)
        except Exception as exc:
            raise ViewRaised(f"{request.describe()}\nraised: {type(exc).__name__}: {str(exc)[:200]}") from exc
        if response.status_code >= 500:
            raise ServerError(answered(request, response))
        if "X-Injected" in response.headers or "\n" in str(response.headers.get("Location", "")):
            raise HeaderInjected(answered(request, response))

    run()
    assert sum(counts.values()) >= EXAMPLES
