"""The architecture, checked by walking imports with ast: the domain stays framework-free, its
modules import only from their own layer or below (the order is written once, in
idp/layers.py), and only the HTTP faces and the application factory import the faces."""

from __future__ import annotations

import ast
from pathlib import Path

from idp.layers import LAYERS, NAMESPACES, layers_of, rank

ROOT = Path(__file__).resolve().parents[2]
IDP = ROOT / "idp"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(IDP.rglob("*.py"))}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def idp_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of a module of idp/, ``from idp import audit`` read as
    ``idp.audit`` and ``from idp.models import User`` as ``idp.models``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "idp"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "idp":
            for alias in node.names:
                inner = f"{node.module}.{alias.name}"
                found.append((node.lineno, inner if inner in MODULES else node.module))
    return found


def test_idp_never_imports_flask():
    files = list(IDP.rglob("*.py"))
    assert len(files) > 10
    offenders = {
        str(path.relative_to(IDP)): sorted(
            m for m in imported_modules(path) if m.split(".")[0] in ("flask", "werkzeug", "flask_wtf")
        )
        for path in files
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_every_module_belongs_to_exactly_one_layer():
    homeless = {name: len(layers_of(name)) for name in MODULES if name not in NAMESPACES and len(layers_of(name)) != 1}
    assert homeless == {}


def test_every_layer_entry_names_a_module_or_package():
    stale = [
        name
        for layer in LAYERS
        for name in layer.modules
        if not any(module == name or module.startswith(name + ".") for module in MODULES)
    ]
    assert stale == []


def test_namespaces_import_nothing():
    """``idp`` and ``idp.oauth`` span layers, so their ``__init__`` can belong to none."""
    assert {name: sorted(imported_modules(MODULES[name]) - {"__future__"}) for name in NAMESPACES} == {
        name: [] for name in NAMESPACES
    }


def climbs(name: str, path: Path) -> list[str]:
    """The imports of module ``name`` (its source at ``path``) that reach a higher layer."""
    return [
        f"{name}:{line} imports {target} ({LAYERS[rank(name)].name} -> {LAYERS[rank(target)].name})"
        for line, target in idp_imports(path)
        if target not in NAMESPACES and rank(target) > rank(name)
    ]


def test_no_import_climbs_a_layer():
    assert [climb for name, path in MODULES.items() if name not in NAMESPACES for climb in climbs(name, path)] == []


def test_a_climb_is_named(tmp_path):
    """What the SSO tickets did before they read the user themselves: sessions (mechanisms)
    importing the accounts service."""
    source = tmp_path / "tickets.py"
    source.write_text("from idp.crypto import new_token\nfrom idp.accounts.users import UserService\n")
    assert climbs("idp.sessions.tickets", source) == [
        "idp.sessions.tickets:2 imports idp.accounts.users (mechanisms -> accounts)"
    ]


def test_only_the_faces_and_the_app_import_blueprints():
    files = [
        path
        for path in ROOT.rglob("*.py")
        if path.relative_to(ROOT).parts[0] not in ("blueprints", "tests", ".venv") and path.name != "app.py"
    ]
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m.split(".")[0] == "blueprints")
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
