"""Shared fixtures: every test's score cache in a temporary folder (never the user's ~/.cache), and
helpers that several test packages use."""

import os

import pytest

# Tests never reach a model or data hub: look-ups of hub ids fail at once instead of probing the
# network (tests that exercise the probe point it at 127.0.0.1 themselves).
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_score_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("OVERCOAT_CACHE", str(tmp_path_factory.mktemp("cache") / "scores.sqlite"))


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
