"""Shared fixtures: every test's score cache in a temporary folder (never the user's ~/.cache), and
helpers that several test packages use."""

import atexit
import os
import shutil
import tempfile

import pytest

# Tests never reach a model or data hub: look-ups of hub ids fail at once instead of probing the
# network (tests that exercise the probe point it at 127.0.0.1 themselves).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# The results store (overcoat leaderboard) is never the user's: every CLI run in the tests records
# into a temporary one. Set at import, so that processes started before any test fixture (session
# fixtures, subprocesses) inherit it; XDG_DATA_HOME too, so that even the default path is temporary.
_STORE_DIR = tempfile.mkdtemp(prefix="overcoat-test-store-")
atexit.register(shutil.rmtree, _STORE_DIR, True)
os.environ["OVERCOAT_RESULTS_DB"] = os.path.join(_STORE_DIR, "results.sqlite")
os.environ["XDG_DATA_HOME"] = os.path.join(_STORE_DIR, "xdg-data")


@pytest.fixture(autouse=True)
def _isolated_score_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("OVERCOAT_CACHE", str(tmp_path_factory.mktemp("cache") / "scores.sqlite"))


@pytest.fixture(autouse=True)
def _isolated_results_store(tmp_path_factory, monkeypatch):
    """Each test's own results store (``OVERCOAT_RESULTS_DB``), created on its first write."""
    monkeypatch.setenv(
        "OVERCOAT_RESULTS_DB", str(tmp_path_factory.mktemp("store") / "results.sqlite")
    )


@pytest.fixture
def err():
    """``err(fn, *args, **kwargs)``: the message of the one-line :class:`DataError` that the call
    raises (the test fails if it raises nothing, or anything else)."""
    from overcoat.errors import DataError

    def _err(fn, *a, **kw) -> str:
        with pytest.raises(DataError) as e:
            fn(*a, **kw)
        return str(e.value)

    return _err
