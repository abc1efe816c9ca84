"""The columnar fast path for big pointwise tables gives exactly what the row path gives."""

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overcoat.data.loaders import fast, load_file, tabular
from overcoat.data.loaders.fast import fast_pointwise
from overcoat.errors import DataError


def _load(path, *, use_fast: bool, monkeypatch, **kw):
    with monkeypatch.context() as m:
        m.setattr(fast, "MIN_ROWS", 0)
        if not use_fast:
            m.setattr(tabular, "fast_pointwise", lambda *a, **k: None)
        try:
            return load_file(path, **kw)
        except DataError as e:
            return str(e)


def _same(a, b):
    if isinstance(a, str) or isinstance(b, str):
        assert a == b
        return
    assert a.name == b.name and a.source == b.source and a.info == b.info
    assert a.items.equals(b.items), (a.items.to_pylist()[:3], b.items.to_pylist()[:3])
    assert a.responses.equals(b.responses)
    assert (a.judgments is None) == (b.judgments is None)
    if a.judgments is not None:
        assert a.judgments.table.equals(b.judgments.table)


text = st.sampled_from(["hello", " padded ", "", "   ", "Ünïcode ✓", "two\nlines"])
ident = st.one_of(st.sampled_from(["a", "b", " c ", "", "7"]), st.integers(0, 3))
score = st.one_of(
    st.none(),
    st.integers(-5, 5),
    st.floats(-10, 10, allow_nan=False),
    st.sampled_from([math.nan, math.inf]),
)
row = st.fixed_dictionaries(
    {"item_id": ident, "input": st.sampled_from(["src 1", "src 2", ""]), "response": text},
    optional={
        "system": ident,
        "score": score,
        "rater": st.sampled_from(["r1", "r2", "", None]),
        "reference": st.sampled_from(["ref", "", None, "other"]),
        "domain": st.sampled_from(["news", None]),
        "year": st.integers(2019, 2024),
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(row, min_size=1, max_size=12))
def test_fast_equals_row_path_jsonl(tmp_path_factory, monkeypatch, rows):
    p = tmp_path_factory.mktemp("fp") / "t.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _same(
        _load(p, use_fast=True, monkeypatch=monkeypatch),
        _load(p, use_fast=False, monkeypatch=monkeypatch),
    )


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(row, min_size=1, max_size=12))
def test_fast_equals_row_path_parquet(tmp_path_factory, monkeypatch, rows):
    keys = sorted({k for r in rows for k in r})
    try:
        t = pa.Table.from_pylist([{k: r.get(k) for k in keys} for r in rows])
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return  # mixed types in a column: not a Parquet file anyone can write
    p = tmp_path_factory.mktemp("fp") / "t.parquet"
    pq.write_table(t, p)
    _same(
        _load(p, use_fast=True, monkeypatch=monkeypatch),
        _load(p, use_fast=False, monkeypatch=monkeypatch),
    )


tidy_row = st.fixed_dictionaries(
    {
        "item_id": st.sampled_from(["a", "b", "c"]),
        "input": st.sampled_from(["x", "y"]),
        "response": st.sampled_from(["r1", "r2", " r3"]),
        "system": st.one_of(st.none(), st.sampled_from(["s1", "s2", " s3 "])),
        "score": st.one_of(st.none(), st.floats(-3, 3, allow_nan=False)),
        "rater": st.one_of(st.none(), st.sampled_from(["u1", "u2", " "])),
        "reference": st.one_of(st.none(), st.sampled_from(["", "ref a", "ref b"])),
        "doc": st.sampled_from(["d1", "d2"]),
        "n": st.integers(0, 3),
    }
)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(tidy_row, min_size=1, max_size=10))
def test_fast_equals_row_path_on_mostly_valid_tables(tmp_path_factory, monkeypatch, rows):
    p = tmp_path_factory.mktemp("fp") / "t.parquet"
    pq.write_table(pa.Table.from_pylist(rows), p)
    _same(
        _load(p, use_fast=True, monkeypatch=monkeypatch),
        _load(p, use_fast=False, monkeypatch=monkeypatch),
    )


def test_fast_path_is_taken_for_big_tables(tmp_path, monkeypatch):
    n = 5000
    recs = [
        {
            "item_id": f"i{i // 10}",
            "source": f"src {i // 10}",
            "system": f"s{i % 10}",
            "hypothesis": f"out {i}",
            "score": float(i % 7),
            "lp": "en-de",
            "reference": f"ref {i // 10}",
        }
        for i in range(n)
    ]
    p = tmp_path / "big.parquet"
    pq.write_table(pa.Table.from_pylist(recs), p)
    calls = []
    real = fast_pointwise

    def spy(*a, **k):
        out = real(*a, **k)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(tabular, "fast_pointwise", spy)
    ds = load_file(p)
    assert calls == [True]
    assert ds.n_items == 500 and ds.n_responses == n
    assert ds.human_matrix().shape == (500, 10)
    assert ds.items.column("references")[3].as_py() == ["ref 3"]
    # one bad row: the fast path declines and the row path names it
    recs[4321]["score"] = math.nan
    pq.write_table(pa.Table.from_pylist(recs), p)
    calls.clear()
    with pytest.raises(DataError) as e:
        load_file(p)
    assert calls == [False]
    assert str(e.value) == f"{p}, row 4322, field 'score': score is not finite (nan)"


def test_fast_path_with_mapping_and_gzip_jsonl(tmp_path, write):
    recs = [
        {"seg": i // 4, "src": "s", "sys": f"m{i % 4}", "out": f"o{i}", "mqm": -(i % 5)}
        for i in range(3000)
    ]
    p = write("big.jsonl.gz", recs)
    ds = load_file(
        p,
        mapping={
            "item_id": "seg",
            "input": "src",
            "system": "sys",
            "response": "out",
            "score": "mqm",
        },
    )
    assert ds.n_items == 750 and ds.response_ids() == ["m0", "m1", "m2", "m3"]
    np.testing.assert_array_equal(ds.human_matrix()[1], [-4, 0, -1, -2])


# ---------------------------------------------------------------------------------------------
# Valid tables by construction: the fast path answers, and must answer exactly as the row path
# ---------------------------------------------------------------------------------------------


@st.composite
def valid_pointwise_rows(draw):
    """Rows the fast path accepts: distinct item ids, one input per item, one text per (item,
    response id), (item, response id, rater) at most once, non-blank responses, finite or missing
    scores, a consistent reference; ids and texts with padding, integer ids, metadata columns
    (string / integer) whose first row per item counts.  Rows are shuffled across items."""
    n_items = draw(st.integers(1, 5))
    id_pool = ["a", " b", "c ", "7", "item-4", "é5"]
    item_ids = draw(
        st.lists(st.sampled_from(id_pool), min_size=n_items, max_size=n_items, unique_by=str.strip)
    )
    int_ids = draw(st.booleans()) and all(i.strip().isdigit() for i in item_ids)
    with_ref = draw(st.booleans())
    with_rater = draw(st.booleans())
    with_system = draw(st.booleans()) or with_rater
    with_score = draw(st.sampled_from(["none", "int", "float"]))
    rows, item_ref = [], {}
    for iid in item_ids:
        inp = draw(st.sampled_from(["src 1", " src 2 ", "Ünïcode ✓", "two\nlines"]))
        ref = draw(st.sampled_from(["ref", " padded ref ", "r\u00e9f"])) if with_ref else None
        systems = (
            draw(
                st.lists(
                    st.sampled_from(["s1", "s2", " s3 ", "sys-4"]),
                    min_size=1,
                    max_size=3,
                    unique_by=str.strip,
                )
            )
            if with_system
            else [None]
        )
        for sysname in systems:
            text = draw(st.sampled_from(["hello", " padded ", "Ünïcode ✓", "two\nlines", "x"]))
            raters = (
                draw(
                    st.lists(
                        st.sampled_from(["u1", "u2", " u3"]),
                        min_size=1,
                        max_size=2,
                        unique_by=str.strip,
                    )
                )
                if with_rater
                else [None]
            )
            for rater in raters:
                r = {"item_id": int(iid) if int_ids else iid, "input": inp, "response": text}
                if sysname is not None:
                    r["system"] = sysname
                if rater is not None:
                    r["rater"] = rater
                if with_ref:
                    # rows after an item's first repeat its reference or leave it blank
                    r["reference"] = draw(st.sampled_from([ref, ""]))
                    item_ref[r["item_id"]] = ref
                if with_score == "int":
                    r["score"] = draw(st.one_of(st.none(), st.integers(-5, 5)))
                elif with_score == "float":
                    r["score"] = draw(st.one_of(st.none(), st.floats(-10, 10, allow_nan=False)))
                r["doc"] = draw(st.sampled_from(["d1", "d2"]))
                r["year"] = draw(st.integers(2019, 2024))
                rows.append(r)
    order = draw(st.permutations(range(len(rows))))
    rows = [rows[i] for i in order]
    # the first row of each item carries its reference (blank later rows mean "the same")
    seen = set()
    for r in rows:
        if with_ref and r["item_id"] not in seen:
            r["reference"] = item_ref[r["item_id"]]
        seen.add(r["item_id"])
    return rows


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_fast_equals_row_path_on_tables_it_accepts(fmt, tmp_path_factory, monkeypatch):
    taken = []
    real = fast_pointwise

    def spy(*a, **k):
        out = real(*a, **k)
        taken.append(out is not None)
        return out

    @settings(
        max_examples=80,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(valid_pointwise_rows())
    def check(rows):
        p = tmp_path_factory.mktemp("fp") / f"t.{fmt}"
        if fmt == "jsonl":
            p.write_text("".join(json.dumps(r) + "\n" for r in rows))
        else:
            keys = sorted({k for r in rows for k in r})
            pq.write_table(pa.Table.from_pylist([{k: r.get(k) for k in keys} for r in rows]), p)
        with monkeypatch.context() as m:
            m.setattr(tabular, "fast_pointwise", spy)
            n = len(taken)
            fast_ds = _load(p, use_fast=True, monkeypatch=monkeypatch)
            assert len(taken) == n + 1  # the fast path was asked
        _same(fast_ds, _load(p, use_fast=False, monkeypatch=monkeypatch))

    check()
    # the comparison is exercised: every generated table is valid, and the fast path built each
    assert len(taken) >= 50 and all(taken), (sum(taken), len(taken))
