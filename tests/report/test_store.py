"""The results store (report/store.py): path rule, what a run records, best-known selection,
refusing foreign / newer files untouched, one transaction per write."""

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overcoat.report.store import (
    APPLICATION_ID,
    MIGRATIONS,
    SCHEMA_VERSION,
    ResultRow,
    ResultsStore,
    RunRecord,
    StoreError,
    default_store_path,
    known_statistics,
    leaderboard_rows,
    record_from_doc,
    store_path,
)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _run(
    data="d1",
    dhash="sha256:aaaa",
    when="2026-01-01T00:00:00.000000+00:00",
    rows=(("A", "a|1", "acc", 0.5),),
    run_id=None,
):
    kw = {"run_id": run_id} if run_id else {}
    return RunRecord(
        command="meta-eval",
        command_line="overcoat meta-eval -d x",
        overcoat_version="0.0.test",
        data_name=data,
        data_hash=dhash,
        data={"name": data},
        settings={"seed": 0},
        seed=0,
        results=[
            ResultRow(scorer=n, signature=s, level="segment", statistic=k, value=v, headline=True)
            for n, s, k, v in rows
        ],
        created_utc=when,
        **kw,
    )


# -- where -------------------------------------------------------------------------------------
def test_store_path_rule():
    home = Path.home()
    assert default_store_path({}) == home / ".local/share/overcoat/results.sqlite"
    assert default_store_path({"XDG_DATA_HOME": "/x/y"}) == Path("/x/y/overcoat/results.sqlite")
    # XDG: a relative XDG_DATA_HOME is ignored
    assert (
        default_store_path({"XDG_DATA_HOME": "rel"})
        == home / ".local/share/overcoat/results.sqlite"
    )
    env = {"OVERCOAT_RESULTS_DB": "/e/r.sqlite", "XDG_DATA_HOME": "/x"}
    assert store_path(None, env) == Path("/e/r.sqlite")
    assert store_path("/o/s.sqlite", env) == Path("/o/s.sqlite")
    assert store_path(None, {"XDG_DATA_HOME": "/x"}) == Path("/x/overcoat/results.sqlite")


def test_tests_never_use_the_users_store():
    p = store_path()
    assert Path(os.environ["OVERCOAT_RESULTS_DB"]) == p
    assert not str(p).startswith(str(Path.home() / ".local"))


# -- what a run records ------------------------------------------------------------------------
def _metaeval_doc():
    est = lambda v, lo, hi, **kw: {"statistic": v, "confidence_interval": [lo, hi], **kw}  # noqa: E731
    return {
        "schema_version": 1,
        "overcoat_version": "9.9",
        "data": {"name": "toy", "n_items": 3},
        "settings": {"group": "item", "seed": 7, "n_resamples": 10},
        "scorers": [
            {"name": "A", "signature": "a|v1", "cluster": 1},
            {"name": "B", "signature": "b|v1", "cluster": 2},
            {"name": "C", "signature": "c|v1", "cluster": 1},
        ],
        "primary_statistic": "acc_eq",
        "segment_level": {
            "A": {
                "acc_eq": est(0.7, 0.6, 0.8, n_pairs=30, n_groups=3),
                "pearson": est(0.2, 0.1, 0.3, n_groups=3),
            },
            "B": {
                "acc_eq": est(0.5, 0.4, 0.6, n_pairs=30),
                "pearson": est(None, None, None, n_groups=3),
            },
            "C": {"acc_eq": est(0.7, 0.5, 0.9, n_pairs=30), "pearson": est(0.4, 0.3, 0.5)},
        },
        "system_level": {"A": {"system_pearson": est(0.9, 0.8, 1.0, n_systems=4)}},
        "benchmark_rules": {"A": {"rule": "RewardBench 2 (best-of-n)", "overall": 0.61}},
        "significance": {"statistic": "acc_eq"},
        "ranking": None,
        "notes": [],
    }


def test_record_from_metaeval_doc():
    rec = record_from_doc(
        _metaeval_doc(), command="meta-eval", command_line="overcoat x", data_hash="sha256:ff"
    )
    assert (rec.data_name, rec.data_hash, rec.seed, rec.overcoat_version) == (
        "toy",
        "sha256:ff",
        7,
        "9.9",
    )
    got = {(r.scorer, r.statistic): r for r in rec.results}
    assert len(got) == 8  # 3 x 2 segment, 1 system, 1 benchmark rule
    a = got["A", "acc_eq"]
    assert (a.value, a.ci_low, a.ci_high, a.n, a.cluster, a.headline) == (
        0.7,
        0.6,
        0.8,
        30,
        1,
        True,
    )
    assert a.signature == "a|v1" and a.level == "segment" and a.variant == "group=item"
    # ranks within the run: A and C tie at 0.7 -> both 1, B 3; an undefined value has no rank
    assert [got[n, "acc_eq"].rank for n in "ABC"] == [1, 3, 1]
    assert [got[n, "pearson"].rank for n in "ABC"] == [2, None, 1]
    # clusters belong to the significance statistic only
    assert got["A", "pearson"].cluster is None and not got["A", "pearson"].headline
    assert got["B", "pearson"].value is None and got["A", "pearson"].n == 3
    s = got["A", "system_pearson"]
    assert (s.level, s.n, s.variant) == ("system", 4, "")
    b = got["A", "rewardbench_2_overall"]
    assert (b.level, b.value, b.ci_low) == ("benchmark", 0.61, None)
    assert "data:toy@sha256:ff" in rec.run_signature and "seed:7" in rec.run_signature


def _rank_reference(values):
    out = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        better = 0
        for w in values:
            if w is not None and w > v:
                better += 1
        out.append(better + 1)
    return out


@given(st.lists(st.one_of(st.none(), st.integers(0, 4).map(lambda k: k / 4)), min_size=1))
@settings(max_examples=60, deadline=None)
def test_ranks_match_a_loop(values):
    doc = _metaeval_doc()
    doc["scorers"] = [{"name": f"s{i}", "signature": f"s{i}|1"} for i in range(len(values))]
    doc["segment_level"] = {f"s{i}": {"acc_eq": {"statistic": v}} for i, v in enumerate(values)}
    doc["system_level"], doc["benchmark_rules"] = {}, {}
    rec = record_from_doc(doc, command="c", command_line="l", data_hash="h")
    assert [r.rank for r in rec.results] == _rank_reference(values)


def test_record_from_pairs_and_fit_docs():
    pairs = {
        "kind": "translation-pairs",
        "data": {"name": "ted-ende"},
        "settings": {"min_gap": 1.0, "easy_gap": 5.0, "seed": 0, "ties": "strict"},
        "scorers": [{"name": "chrF", "signature": "chrf|x"}],
        "buckets": {
            "all": {
                "scorers": {
                    "chrF": {
                        "statistic": 0.6,
                        "confidence_interval": [0.5, 0.7],
                        "n_pairs": 90,
                        "cluster": 1,
                    }
                }
            },
            "easy": {
                "scorers": {
                    "chrF": {"statistic": 0.8, "confidence_interval": [0.7, 0.9], "n_pairs": 30}
                }
            },
            "hard": {"scorers": {}},
        },
    }
    rec = record_from_doc(
        pairs, command="translation-pairs", command_line="l", data_hash="sha256:1"
    )
    got = {r.statistic: r for r in rec.results}
    assert set(got) == {"pair_accuracy", "pair_accuracy_easy"}
    assert got["pair_accuracy"].headline and not got["pair_accuracy_easy"].headline
    assert (got["pair_accuracy"].n, got["pair_accuracy"].cluster) == (90, 1)
    # the pairs derived depend on the gaps: another min_gap is other data
    other = dict(pairs, settings=dict(pairs["settings"], min_gap=2.0))
    h2 = record_from_doc(other, command="t", command_line="l", data_hash="sha256:1").data_hash
    assert rec.data_hash.startswith("pairs:sha256:") and h2 != rec.data_hash

    fit = {
        "kind": "fit",
        "data": "ted-ende",
        "statistic": "pairwise_accuracy",
        "n_folds": 5,
        "l2": 1.0,
        "seed": 3,
        "scorers": {
            "combination (cross-fitted)": {"statistic": 0.55, "confidence_interval": [0.5, 0.6]},
            "BLEU": {"statistic": 0.52, "confidence_interval": [0.5, 0.55]},
            "chrF": {"statistic": 0.53, "confidence_interval": [0.5, 0.56]},
        },
        "signatures": {"BLEU": "bleu|x", "chrF": "chrf|x"},
    }
    rec = record_from_doc(fit, command="fit", command_line="l", data_hash="sha256:1")
    got = {r.scorer: r for r in rec.results}
    assert got["BLEU"].signature == "bleu|x" and rec.seed == 3 and rec.data_name == "ted-ende"
    assert got["combination (cross-fitted)"].signature == ("combo|bt|folds=5,l2=1.0|bleu|x;chrf|x")
    assert [got[n].rank for n in ("combination (cross-fitted)", "BLEU", "chrF")] == [1, 3, 2]


def test_unknown_document_is_refused():
    with pytest.raises(StoreError, match="cannot record a probe document"):
        record_from_doc({"kind": "probe"}, command="probe", command_line="l", data_hash="h")


# -- the database ------------------------------------------------------------------------------
def test_record_and_read_back(tmp_path):
    path = tmp_path / "sub" / "r.sqlite"
    s = ResultsStore(path)
    assert s.rows() == [] and not path.exists()  # reading creates nothing
    run = _run(rows=(("A", "a|1", "acc", 0.5), ("B", "b|1", "acc", None)))
    run.results[0].ci_low, run.results[0].ci_high, run.results[0].n = 0.4, 0.6, 12
    assert s.record([run]) == 2
    rows = s.rows()
    assert [(r["scorer"], r["value"], r["ci_low"], r["ci_high"], r["n"]) for r in rows] == [
        ("A", 0.5, 0.4, 0.6, 12),
        ("B", None, None, None, None),
    ]
    assert rows[0]["run_id"] == run.run_id and rows[0]["n_results"] == 2
    assert rows[0]["command_line"] == "overcoat meta-eval -d x"
    (r,) = s.runs()
    assert r["settings"] == {"seed": 0} and r["data"] == {"name": "d1"}
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    con.close()


def test_a_write_is_all_or_nothing(tmp_path):
    s = ResultsStore(tmp_path / "r.sqlite")
    s.record([_run(run_id="x1")])
    # the second run of this write collides (same run id): the whole write is rolled back
    with pytest.raises(StoreError, match="cannot write the results store"):
        s.record([_run(run_id="x2"), _run(run_id="x1")])
    assert [r["run_id"] for r in s.rows()] == ["x1"]


def test_not_sqlite_is_refused_untouched(tmp_path):
    p = tmp_path / "r.sqlite"
    p.write_text("run_id,value\n1,0.5\n")
    before = _sha(p)
    with pytest.raises(
        StoreError, match=r"r\.sqlite: not an overcoat results store \(not an SQLite"
    ):
        ResultsStore(p).rows()
    with pytest.raises(StoreError):
        ResultsStore(p).record([_run()])
    assert _sha(p) == before and sorted(x.name for x in tmp_path.iterdir()) == ["r.sqlite"]


def test_foreign_sqlite_is_refused_untouched(tmp_path):
    p = tmp_path / "cache.sqlite"
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE scores (k TEXT, v REAL)")
    con.commit()
    con.close()
    before = _sha(p)
    for call in (lambda s: s.rows(), lambda s: s.record([_run()])):
        with pytest.raises(StoreError, match="another program: tables scores"):
            call(ResultsStore(p))
    assert _sha(p) == before


def test_newer_schema_is_refused_untouched(tmp_path):
    p = tmp_path / "r.sqlite"
    ResultsStore(p).record([_run()])
    con = sqlite3.connect(p)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    before = _sha(p)
    for call in (lambda s: s.rows(), lambda s: s.record([_run()])):
        with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1} is newer"):
            call(ResultsStore(p))
    assert _sha(p) == before


# -- best-known ---------------------------------------------------------------------------------
def test_best_known_is_the_latest_run_not_the_best_value(tmp_path):
    s = ResultsStore(tmp_path / "r.sqlite")
    old = _run(when="2026-01-01T00:00:00.000000+00:00", rows=(("A", "a|1", "acc", 0.9),))
    new = _run(when="2026-02-01T00:00:00.000000+00:00", rows=(("A", "a|1", "acc", 0.6),))
    other_sig = _run(when="2026-01-15T00:00:00.000000+00:00", rows=(("A", "a|2", "acc", 0.7),))
    other_data = _run(dhash="sha256:bbbb", rows=(("A", "a|1", "acc", 0.1),))
    s.record([new, old])  # recorded in any order: the time decides
    s.record([other_sig, other_data])
    rows = leaderboard_rows(s.rows())
    got = sorted((r["signature"], r["data_hash"], r["value"]) for r in rows)
    assert got == [
        ("a|1", "sha256:aaaa", 0.6),
        ("a|1", "sha256:bbbb", 0.1),
        ("a|2", "sha256:aaaa", 0.7),
    ]
    hist = leaderboard_rows(s.rows(), all_runs=True, scorer="a|1", data="d1")
    # history: per data hash, newest first
    assert [r["value"] for r in hist] == [0.6, 0.9, 0.1]
    # a data hash prefix needs 4 hex digits
    assert leaderboard_rows(s.rows(), all_runs=True, data="sha256:bb") == []
    for q in ("sha256:bbbb", "bbbb"):
        assert [r["value"] for r in leaderboard_rows(s.rows(), all_runs=True, data=q)] == [0.1]


_keys = st.tuples(
    st.sampled_from(["a|1", "b|1"]), st.sampled_from(["h1", "h2"]), st.sampled_from(["acc", "tau"])
)


@given(
    st.lists(
        st.tuples(
            st.integers(0, 5), st.lists(_keys, min_size=1, max_size=4, unique=True), st.floats(0, 1)
        ),
        min_size=1,
        max_size=6,
    )
)
@settings(max_examples=40, deadline=None)
def test_best_known_matches_a_loop(runs):
    """leaderboard_rows on rows newest-first (as the store returns them) == for each key, the row
    of the run with the latest time, later-recorded first among equal times."""
    rows = []
    for order, (t, keys, v) in enumerate(runs):
        for sig, h, stat in keys:
            rows.append(
                {
                    "run_id": f"r{order}",
                    "created_utc": f"2026-01-0{t + 1}",
                    "order": order,
                    "signature": sig,
                    "scorer": sig[0],
                    "data_hash": h,
                    "data_name": h,
                    "statistic": stat,
                    "variant": "",
                    "level": "segment",
                    "headline": True,
                    "value": v,
                }
            )
    newest_first = sorted(rows, key=lambda r: (r["created_utc"], r["order"]), reverse=True)
    expected = {}
    for r in rows:
        k = (r["signature"], r["data_hash"], r["statistic"])
        e = expected.get(k)
        if e is None or (r["created_utc"], r["order"]) > (e["created_utc"], e["order"]):
            expected[k] = r
    got = leaderboard_rows(newest_first)
    assert sorted(
        (r["signature"], r["data_hash"], r["statistic"], r["run_id"]) for r in got
    ) == sorted((*k, r["run_id"]) for k, r in expected.items())
    assert len(leaderboard_rows(newest_first, all_runs=True)) == len(rows)
    assert known_statistics(rows) == sorted({r["statistic"] for r in rows})


def test_migrations_bring_an_unversioned_store_to_the_current_schema(tmp_path):
    assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION + 1))
    p = tmp_path / "r.sqlite"
    con = sqlite3.connect(p)  # ours (application id), before any table: version 0
    con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    con.commit()
    con.close()
    before = _sha(p)
    assert ResultsStore(p).rows() == [] and _sha(p) == before  # reading writes nothing
    ResultsStore(p).record([_run(run_id="m1")])
    assert [r["run_id"] for r in ResultsStore(p).rows()] == ["m1"]
    con = sqlite3.connect(p)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    con.close()
