"""The domain stays framework-free: this test walks idp/ with ast and fails on a flask import."""

from __future__ import annotations

import ast
from pathlib import Path

IDP = Path(__file__).resolve().parents[2] / "idp"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_idp_never_imports_flask():
    files = list(IDP.rglob("*.py"))
    assert len(files) > 10
    offenders = {
        str(path.relative_to(IDP)): sorted(m for m in imported_modules(path)
                                           if m.split(".")[0] in ("flask", "werkzeug", "flask_wtf"))
        for path in files
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_otp_imports_nothing_above_it():
    """The OTP service sits below accounts, factors and flows (they decide who may get a code
    for what); a cycle back up would make every change to them a change to it."""
    above = ("idp.accounts", "idp.factors", "idp.flows", "idp.oauth", "idp.dialects", "idp.admin", "idp.services")
    offenders = {
        str(path.relative_to(IDP)): sorted(m for m in imported_modules(path) if m.startswith(above))
        for path in (IDP / "otp").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
