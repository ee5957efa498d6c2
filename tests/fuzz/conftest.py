"""Hypothesis keeps nothing in the working tree: every fuzz test runs with ``database=None``
(no example database), and the little it still caches (constants read from the source) goes to
a temporary folder of this run instead of ``.hypothesis/``."""

from __future__ import annotations

import pytest
from hypothesis.configuration import set_hypothesis_home_dir


@pytest.fixture(scope="session", autouse=True)
def hypothesis_home(tmp_path_factory):
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    yield
    set_hypothesis_home_dir(None)
