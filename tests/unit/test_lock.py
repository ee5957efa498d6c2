"""requirements.lock (``make lock``) pins, with hashes, every dependency pyproject.toml declares,
so ``make install`` on a fresh machine installs what CI tested and nothing else."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def locked() -> dict[str, tuple[Version, list[str]]]:
    """name -> (pinned version, sha256 hashes), from the lock's ``name==version \\ --hash=...`` blocks."""
    pins: dict[str, tuple[Version, list[str]]] = {}
    name = None
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        stripped = line.strip()
        if match := PIN.match(line):
            name = canonicalize_name(match[1])
            pins[name] = (Version(match[2]), [])
        elif stripped.startswith("--hash=sha256:") and name:
            pins[name][1].append(stripped.removeprefix("--hash=sha256:").rstrip(" \\"))
        elif stripped and not stripped.startswith(("#", "--hash")):
            raise AssertionError(f"unexpected line in requirements.lock: {line!r}")
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(spec) for spec in project["dependencies"] + project["optional-dependencies"]["dev"]]


def test_every_declared_dependency_is_pinned_within_its_range():
    pins = locked()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is missing from requirements.lock: run `make lock`"
        version = pins[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {name}=={version}, outside {requirement}: run `make lock`"
        )


def test_the_extras_asked_for_are_locked_too():
    """``psycopg[binary]`` needs psycopg-binary in the lock, or a fresh install has no driver."""
    pins = locked()
    for requirement in declared():
        for extra in requirement.extras:
            for spec in metadata.requires(requirement.name) or []:
                needed = Requirement(spec)
                if needed.marker and needed.marker.evaluate({"extra": extra}):
                    assert canonicalize_name(needed.name) in pins, f"{needed.name} ({requirement}) is not locked"


def test_every_pin_is_exact_and_hashed():
    pins = locked()
    assert len(pins) > 30
    for name, (_version, hashes) in pins.items():
        assert hashes, f"{name} has no hash"
        assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in hashes), name


def test_make_install_installs_the_lock_with_hashes_only():
    makefile = (ROOT / "Makefile").read_text()
    assert "$(VENV)/.installed: $(LOCK)" in makefile  # reinstalled when the lock changes
    assert "pip install --quiet --require-hashes -r $(LOCK)" in makefile
    assert "-e ." not in makefile
