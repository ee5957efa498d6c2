"""The test suite's own rules, checked on its source with ast: a test moves the clock instead
of waiting (no ``sleep`` longer than half a second), and what the services are built with
(clock, captcha answers, hasher cost) is injected, never patched into them afterwards."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
LONGEST_SLEEP = 0.5  # seconds: a short wait for a real Redis TTL or a server to start


def calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            yield node


def name_of(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def test_no_test_sleeps_longer_than_half_a_second():
    files = list(TESTS.rglob("*.py"))
    assert len(files) > 50
    offenders = []
    for path in files:
        for call in calls(path):
            if name_of(call.func) != "sleep":
                continue
            seconds = call.args[0] if call.args else None
            if (
                not (isinstance(seconds, ast.Constant) and isinstance(seconds.value, int | float))
                or seconds.value > LONGEST_SLEEP
            ):
                offenders.append(f"{path.relative_to(TESTS)}:{call.lineno}")
    assert offenders == []


def test_the_services_parts_are_injected_not_patched():
    """``monkeypatch.setattr`` on the captcha's answers, the password hasher or the clock: use
    the ``captcha_answers`` / ``clock`` fixtures and the argon2 settings instead."""
    patched = ("_new_answer", "verify_password", "hasher", "Passwords", "clock", "time", "SystemClock")
    offenders = []
    for path in TESTS.rglob("*.py"):
        for call in calls(path):
            if name_of(call.func) != "setattr" or len(call.args) < 2:
                continue
            target = call.args[1]
            named = target.value if isinstance(target, ast.Constant) else ast.unparse(target)
            if any(part in str(named) for part in patched):
                offenders.append(f"{path.relative_to(TESTS)}:{call.lineno}: {named}")
    assert offenders == []
