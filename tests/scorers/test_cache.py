"""ScoreCache: keys, bulk get/put, NaN handling, housekeeping, location, concurrency."""

from __future__ import annotations

import json
import math
import pickle
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overcoat.errors import OvercoatError
from overcoat.scorers.cache import (
    ScoreCache,
    content_key,
    default_cache_path,
    item_digest,
    open_cache,
    pair_key,
    response_key,
    response_keys,
)


def _keys(n, salt="k"):
    return [content_key(f"{salt}{i}", "r") for i in range(n)]


# -- hashing ----------------------------------------------------------------------------------
def test_shifted_boundaries_do_not_collide():
    keys = {
        content_key("ab", "c"),
        content_key("a", "bc"),
        content_key("abc", ""),
        content_key("", "abc"),
        content_key("x", "y", ["ab", "c"]),
        content_key("x", "y", ["a", "bc"]),
        content_key("x", "y", ["abc"]),
        content_key("x", "y", ["abc", ""]),
        content_key("x", "y", []),
        content_key("x", "y", [""]),
        content_key("xy", "", []),
        content_key("x", "y", messages="[]"),
        content_key("x", "y", messages=[]),  # list form == its JSON: same key as "[]"
    }
    assert len(keys) == 12
    assert content_key("x", "y", messages=[]) == content_key("x", "y", messages="[]")
    assert content_key("x", "y", messages=None) != content_key("x", "y", messages="null")


def test_pair_keys_are_ordered_and_distinct_from_response_keys():
    d = item_digest("src", None, ["ref"])
    assert pair_key(d, "a", "b") != pair_key(d, "b", "a")
    assert pair_key(d, "ab", "c") != pair_key(d, "a", "bc")
    assert response_key(d, "a") != pair_key(d, "a", "")
    assert len(pair_key(d, "a", "b")) == 32 and len(response_key(d, "a")) == 32


texts = st.text(alphabet=st.sampled_from("ab\x00é😀"), max_size=4)
rows = st.tuples(
    texts,
    texts,
    st.lists(texts, max_size=3),
    st.one_of(
        st.none(),
        st.lists(
            st.fixed_dictionaries(
                {"role": st.sampled_from(["user", "assistant"]), "content": texts}
            ),
            max_size=2,
        ),
    ),
)


@settings(max_examples=300, deadline=None)
@given(rows, rows)
def test_key_equal_iff_content_equal(r1, r2):
    k1 = content_key(r1[0], r1[1], r1[2], messages=r1[3])
    k2 = content_key(r2[0], r2[1], r2[2], messages=r2[3])
    # messages compare as their JSON text: the same dicts with another key order are a
    # (documented) cache miss, never a collision
    same = r1[:3] == r2[:3] and json.dumps(r1[3]) == json.dumps(r2[3])
    assert (k1 == k2) == same


def test_bulk_response_keys_match_single():
    digs = [item_digest("a", None, []), item_digest("b", "[]", ["r"])]
    rows, texts = [0, 1, 1, 0], ["x", "", "yé", "\ud800"]
    assert response_keys(digs, rows, texts) == [
        response_key(digs[i], t) for i, t in zip(rows, texts)
    ]


def test_lone_surrogates_hash():
    assert content_key("\ud800", "x") != content_key("\udc00", "x")


# -- get / put --------------------------------------------------------------------------------
def test_put_get_roundtrip_and_misses(tmp_path):
    c = ScoreCache(tmp_path / "c.sqlite")
    keys = _keys(10)
    assert c.get_many("sig", keys) == {}
    assert c.put_many("sig", keys[:6], np.arange(6.0)) == 6
    got = c.get_many("sig", keys)
    assert got == {keys[i]: float(i) for i in range(6)}
    scores, found = c.lookup("sig", keys)
    assert found.tolist() == [True] * 6 + [False] * 4
    assert scores[:6].tolist() == list(range(6)) and np.isnan(scores[6:]).all()
    # another signature is a different namespace
    assert c.get_many("other", keys) == {}
    c.put_many("sig", keys[:1], [42.0])  # overwrite
    assert c.get_many("sig", keys[:1]) == {keys[0]: 42.0}
    c.close()
    # persistent: a new object (a new process, as far as SQLite is concerned) sees it
    with ScoreCache(tmp_path / "c.sqlite") as c2:
        assert len(c2.get_many("sig", keys)) == 6
        assert c2.count("sig") == 6 and c2.count() == 6


def test_nan_is_stored_as_missing_and_returned_as_nan(tmp_path):
    c = ScoreCache(tmp_path / "c.sqlite")
    k = _keys(2)
    c.put_many("s", k, [float("nan"), 1.5])
    got = c.get_many("s", k)
    assert set(got) == set(k) and math.isnan(got[k[0]]) and got[k[1]] == 1.5


def test_exact_float_roundtrip(tmp_path):
    c = ScoreCache(tmp_path / "c.sqlite")
    # (-0.0 comes back as +0.0: SQLite stores integral REALs as integers; the engine
    # normalises fresh results the same way)
    vals = np.array([0.1, 1 / 3, 0.0, 5e-324, 1e-308, 1e308, np.pi, -7.25, 2.0**60])
    k = _keys(len(vals))
    c.put_many("s", k, vals)
    s, f = c.lookup("s", k)
    assert f.all() and s.tobytes() == vals.tobytes()


@pytest.mark.parametrize("n_stored,n_asked", [(50, 5000), (5000, 50), (3000, 3000)])
def test_get_many_scan_and_probe_paths_agree(tmp_path, n_stored, n_asked):
    c = ScoreCache(tmp_path / "c.sqlite")
    stored = _keys(n_stored, "s")
    c.put_many("sig", stored, np.arange(n_stored, dtype=float))
    c.put_many("noise", _keys(100, "s"), np.zeros(100))
    asked = stored[: n_asked // 2] + _keys(n_asked - n_asked // 2, "q")
    got = c.get_many("sig", asked, chunk_size=7)
    expect = {k: float(i) for i, k in enumerate(stored) if k in set(asked)}
    assert got == expect


def test_wal_mode_and_schema(tmp_path):
    p = tmp_path / "c.sqlite"
    ScoreCache(p).put_many("s", _keys(1), [1.0])
    con = sqlite3.connect(p)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_stats_and_clear(tmp_path):
    c = ScoreCache(tmp_path / "c.sqlite")
    c.put_many("a", _keys(3), [1, 2, 3])
    c.put_many("b", _keys(2), [1, 2])
    st_ = c.stats()
    assert st_["entries"] == 5 and st_["signatures"] == {"a": 3, "b": 2} and st_["bytes"] > 0
    assert c.clear("a") == 3
    assert c.stats()["signatures"] == {"b": 2}
    assert c.clear("nope") == 0
    assert c.clear() == 2
    assert c.stats()["entries"] == 0
    c.put_many("a", _keys(1), [9.0])  # signature re-created after a clear
    assert c.get_many("a", _keys(1)) == {_keys(1)[0]: 9.0}


def test_memory_cache_and_pickle(tmp_path):
    m = ScoreCache(":memory:")
    m.put_many("s", _keys(2), [1, 2])
    assert m.count("s") == 2
    c = ScoreCache(tmp_path / "c.sqlite")
    c.put_many("s", _keys(2), [1, 2])
    c2 = pickle.loads(pickle.dumps(c))
    assert c2.count("s") == 2


def test_put_many_length_mismatch(tmp_path):
    c = ScoreCache(tmp_path / "c.sqlite")
    with pytest.raises(ValueError):
        c.put_many("s", _keys(3), [1.0])


def test_not_a_database(tmp_path):
    p = tmp_path / "junk.sqlite"
    p.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(OvercoatError, match="not a valid SQLite"):
        ScoreCache(p).get_many("s", _keys(1))


# -- location ---------------------------------------------------------------------------------
def test_default_location(monkeypatch, tmp_path):
    monkeypatch.setenv("OVERCOAT_CACHE", str(tmp_path / "x.sqlite"))
    assert default_cache_path() == tmp_path / "x.sqlite"
    for off in ("off", "NONE", "0", "false"):
        monkeypatch.setenv("OVERCOAT_CACHE", off)
        assert default_cache_path() is None
        assert open_cache("default") == (None, False)
    monkeypatch.delenv("OVERCOAT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "xdg" / "overcoat" / "scores.sqlite"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_path() == tmp_path / "home" / ".cache" / "overcoat" / "scores.sqlite"


def test_open_cache_variants(monkeypatch, tmp_path):
    assert open_cache(None) == (None, False)
    c = ScoreCache(tmp_path / "a.sqlite")
    assert open_cache(c) == (c, False)
    got, owned = open_cache(str(tmp_path / "b.sqlite"))
    assert isinstance(got, ScoreCache) and owned
    monkeypatch.setenv("OVERCOAT_CACHE", str(tmp_path / "d" / "e.sqlite"))
    got, owned = open_cache("default")
    assert got.path == str(tmp_path / "d" / "e.sqlite") and owned
    with pytest.raises(TypeError):
        open_cache(3.5)


def test_default_cache_unwritable_warns_and_disables(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("OVERCOAT_CACHE", str(blocker / "sub" / "c.sqlite"))
    with pytest.warns(UserWarning, match="score cache disabled"):
        assert open_cache("default") == (None, False)


# -- concurrency ------------------------------------------------------------------------------
WRITER = textwrap.dedent("""
    import sys
    from overcoat.scorers.cache import ScoreCache, content_key
    path, who, n_tx, per_tx = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    c = ScoreCache(path, timeout=60)
    for t in range(n_tx):
        # half the keys are shared by both writers (same value), half are private
        ks = [content_key(f"shared{t}.{i}", "r") for i in range(per_tx // 2)]
        ks += [content_key(f"w{who}.{t}.{i}", "r") for i in range(per_tx - per_tx // 2)]
        c.put_many("sig", ks, [float(t)] * len(ks))
        got = c.get_many("sig", ks)
        assert len(got) == len(ks), (who, t)
    print("ok", who)
""")


def test_two_processes_write_concurrently(tmp_path):
    p = str(tmp_path / "shared.sqlite")
    n_tx, per_tx = 150, 40
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, p, str(w), str(n_tx), str(per_tx)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in (1, 2)
    ]
    outs = [pr.communicate(timeout=120) for pr in procs]
    for pr, (out, err) in zip(procs, outs):
        assert pr.returncode == 0, err
        assert out.startswith("ok")
    c = ScoreCache(p)
    assert c.count("sig") == n_tx * (per_tx // 2) + 2 * n_tx * (per_tx - per_tx // 2)
    k = content_key("shared7.3", "r")
    assert c.get_many("sig", [k]) == {k: 7.0}
    assert sqlite3.connect(p).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
