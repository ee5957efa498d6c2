"""The committed catalogues are complete and compiled (make translations)."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2] / "translations"
LOCALES = ["zh_Hans"]


def _read(path: Path, reader):
    with path.open("rb") as fh:
        return reader(fh)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_is_translated(locale):
    template = _read(ROOT / "messages.pot", read_po)
    catalogue = _read(ROOT / locale / "LC_MESSAGES" / "messages.po", read_po)
    missing = [m.id for m in template if m.id and not (catalogue.get(m.id) and catalogue.get(m.id).string)]
    fuzzy = [m.id for m in catalogue if m.id and m.fuzzy]
    assert missing == []
    assert fuzzy == []


@pytest.mark.parametrize("locale", LOCALES)
def test_compiled_catalogue_matches_the_po(locale):
    """The .mo is what Flask-Babel loads: it must hold exactly the .po's translations."""
    folder = ROOT / locale / "LC_MESSAGES"
    po = {m.id: m.string for m in _read(folder / "messages.po", read_po) if m.id and m.string}
    mo = {m.id: m.string for m in _read(folder / "messages.mo", read_mo) if m.id}
    assert mo == po


def test_placeholders_survive_translation():
    catalogue = _read(ROOT / "zh_Hans" / "LC_MESSAGES" / "messages.po", read_po)
    for message in catalogue:
        if message.id and "%(" in message.id:
            for name in ("app", "seconds", "status", "target"):
                assert (f"%({name})s" in message.id) == (f"%({name})s" in message.string), message.id


def test_template_is_up_to_date(tmp_path, monkeypatch):
    """A string added to a page without `make translations` would show in English to everyone."""
    from babel.messages.frontend import CommandLineInterface

    monkeypatch.chdir(ROOT.parent)
    fresh = tmp_path / "messages.pot"
    CommandLineInterface().run(
        [
            "pybabel",
            "-q",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "--no-location",
            "-o",
            str(fresh),
            ".",
        ]
    )
    extracted = {m.id for m in _read(fresh, read_po) if m.id}
    committed = {m.id for m in _read(ROOT / "messages.pot", read_po) if m.id}
    assert extracted == committed, "run `make translations` and translate the new strings"
