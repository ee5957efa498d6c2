"""Every operation of ``/openapi.json`` fuzzed by schemathesis against the app (WSGI, no
network): requests generated from the document, valid ones and invalid ones, with the
credentials each operation's security names. Whatever is sent, the answer is never a 5xx, its
status is one the document lists for the operation, its media type is documented, and its body
conforms to the documented schema (the face's error shape for an error).

Bounded (``EXAMPLES`` per operation and mode, seeded) so that the run stays well under a
minute; it runs on whichever stores the suite runs on (SQLite or PostgreSQL with
TEST_DATABASE_URL, the embedded Redis or TEST_REDIS_URL).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.timeout(240)  # a hang fails the test instead of the run

EXAMPLES = 6  # per operation and generation mode
SEED = 20261207
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)


def _authorization(document: dict, operation, credentials) -> str | None:
    """The credential of the operation's first security scheme (none for the OneAccess calls,
    which carry their caller in headers)."""
    for requirement in document["paths"][operation.path][operation.method.lower()].get("security", []):
        for name in requirement:
            return {
                "adminBearer": credentials.admin_bearer,
                "clientBasic": credentials.client_basic,
                "userBearer": credentials.user_bearer,
            }[name]
    return None


def _fuzz(operation, mode, headers: dict[str, str], statuses: Counter):
    """The seeded, bounded Hypothesis test of one operation in one generation mode."""

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        statuses[response.status_code] += 1

    return run


def test_every_documented_operation_answers_as_documented(target):
    app, credentials = target
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    document = app.test_client().get("/openapi.json").json
    schema.validate()
    operations = [result.ok() for result in schema.get_all_operations()]
    failures: list[str] = []
    started = time.perf_counter()
    statuses: defaultdict[str, Counter] = defaultdict(Counter)
    for operation in operations:
        authorization = _authorization(document, operation, credentials)
        headers = {"Authorization": authorization} if authorization else {}
        if operation.path.startswith("/api/v2/"):  # a OneAccess call names a real application
            headers["X-client-id"] = credentials.client_id
        for mode in MODES:
            run = _fuzz(operation, mode, headers, statuses[operation.label])
            try:
                run()
            except Unsatisfiable:  # nothing in this operation can be made invalid (no body, no parameter)
                assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup included
                found = exc.exceptions if isinstance(exc, BaseExceptionGroup) else (exc,)
                text = "\n".join(f"{type(e).__name__}: {e}" for e in found)
                failures.append(f"--- {operation.label} ({mode.value})\n{text[:2000]}")
    seconds = time.perf_counter() - started
    sent = sum(sum(c.values()) for c in statuses.values())
    print(f"\n{len(operations)} operations, {sent} requests in {seconds:.1f} s")
    for label, counts in sorted(statuses.items()):
        print(f"{label}: {dict(sorted(counts.items()))}")
    assert len(operations) >= 50
    assert not failures, f"{len(failures)} failure(s):\n\n" + "\n\n".join(failures)
