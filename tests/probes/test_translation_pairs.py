"""The translation-pairs experiment: pairs from MQM data (bundled and a user TSV), the pair data
set, the leaderboard against a slow reference, the CLI end to end with fast scorers, bad input."""

import json
import math

import numpy as np
import pytest

from overcoat import api
from overcoat.cli import main
from overcoat.errors import OvercoatError, SettingError
from overcoat.probes.translation_pairs import (
    default_pair_scorers,
    derive_translation_pairs,
    pairs_leaderboard,
    pairs_rows,
)
from overcoat.report.writers import jsonable
from overcoat.scorers.registry import get_scorer

MQM_HEADER = "system\tdoc\tdoc_id\tseg_id\trater\tsource\ttarget\tcategory\tseverity\n"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OVERCOAT_CACHE", str(tmp_path / "cache.sqlite"))


def mqm_file(tmp_path, rows, name="m.tsv"):
    """rows: (system, seg, target, severity) -> an MQM TSV with one rater."""
    lines = [MQM_HEADER]
    for system, seg, target, sev in rows:
        cat = "No-error" if sev == "No-error" else "Accuracy/Mistranslation"
        lines.append(f"{system}\td\t{seg}\t{seg}\tr1\tsource {seg}\t{target}\t{cat}\t{sev}\n")
    p = tmp_path / name
    p.write_text("".join(lines), encoding="utf-8")
    return p


def small_mqm(tmp_path):
    # seg 1: A clean (0), B one major (-5), C one minor (-1), D = A's text with a major (-5)
    # seg 2: A two majors (-10), B clean (0), C clean (0)
    return mqm_file(
        tmp_path,
        [
            ("A", 1, "good one", "No-error"),
            ("B", 1, "bad one here", "Major"),
            ("C", 1, "okay one", "Minor"),
            ("D", 1, "good one", "Major"),
            ("A", 2, "awful two x", "Major"),
            ("A", 2, "awful two x", "Major"),
            ("B", 2, "fine two", "No-error"),
            ("C", 2, "fine too", "No-error"),
        ],
    )


def test_pairs_from_a_hand_made_mqm_file(tmp_path):
    ds = api.load(f"mqm:{small_mqm(tmp_path)}")
    ps = derive_translation_pairs(ds, min_gap=1.0, easy_gap=5.0)
    got = sorted(
        (r["segment"], r["chosen_system"], r["rejected_system"], r["gap"], r["bucket"])
        for r in pairs_rows(ps)
    )
    # seg 1: A>B 5 easy, C>B 4 hard, C>D 4 hard; A-C (gap 1) too close, A-D identical text,
    # B-D tied; seg 2: B>A, C>A 10 easy, B-C tied
    assert got == [
        ("1", "A", "B", 5.0, "easy"),
        ("1", "C", "B", 4.0, "hard"),
        ("1", "C", "D", 4.0, "hard"),
        ("2", "B", "A", 10.0, "easy"),
        ("2", "C", "A", 10.0, "easy"),
    ]
    d = ps.derived
    assert (d.n_candidates, d.n_tied, d.n_small, d.n_identical) == (9, 2, 1, 1)
    # the pair data set: chosen then rejected, label a, the segment's source as input
    pairs = ps.pairs
    assert pairs.n_items == 5 and pairs.n_responses == 10
    assert set(pairs.judgments.table.column("label").to_pylist()) == {"a"}
    row = pairs_rows(ps)[0]
    assert row["prompt"] == "source 1" and row["chosen"] == "good one"
    assert row["chosen_mqm"] == 0.0 and row["rejected_mqm"] == -5.0
    # kept when asked: the identical-text pair A/D (gap 5)
    ps2 = derive_translation_pairs(ds, keep_identical=True)
    assert ps2.derived.n_pairs == 6 and ps2.derived.n_identical == 0


def test_leaderboard_equals_a_slow_count_and_is_deterministic(tmp_path):
    ds = api.load("ted-ende")
    ps = derive_translation_pairs(ds, max_segments=30, max_per_segment=4, seed=3)
    again = derive_translation_pairs(ds, max_segments=30, max_per_segment=4, seed=3)
    assert pairs_rows(ps) == pairs_rows(again)
    assert pairs_rows(ps) != pairs_rows(derive_translation_pairs(ds, max_segments=30, seed=4))
    scored = api.score(ps.pairs, ["chrf", "length"], cache=None, progress=False)
    scores = {n: (s[0::2], s[1::2]) for n, s in scored.scores.items()}
    lb = pairs_leaderboard(ps, scores, n_resamples=50, seed=1)
    lb2 = pairs_leaderboard(ps, scores, n_resamples=50, seed=1)
    assert json.dumps(jsonable(lb)) == json.dumps(jsonable(lb2))  # (NaN diagonals: as JSON)
    for bucket, mask in (("all", None), ("easy", ps.derived.easy), ("hard", ~ps.derived.easy)):
        for name, (c, r) in scores.items():
            sel = np.ones(len(c), bool) if mask is None else mask
            want = float(np.mean(c[sel] > r[sel]))  # strict: a tie is wrong
            e = lb[bucket]["scorers"][name]
            assert e["statistic"] == pytest.approx(want)
            assert e["n_pairs"] == int(sel.sum())
            assert e["n_ties"] == int((c[sel] == r[sel]).sum())
            lo, hi = e["confidence_interval"]
            assert lo <= e["statistic"] <= hi
        assert lb[bucket]["significance"]["names"] == ["chrF", "length"]
    assert lb["easy"]["n_pairs"] + lb["hard"]["n_pairs"] == lb["all"]["n_pairs"]
    assert lb["all"]["n_segments"] == 30


def test_cli_end_to_end_with_fast_scorers(tmp_path, capsys):
    out, pairs = tmp_path / "tp.json", tmp_path / "pairs.jsonl"
    args = [
        "translation-pairs",
        "-d",
        "ted-zhen",
        "-s",
        "chrf",
        "-s",
        "length",
        "--max-segments",
        "40",
        "--pairs-per-segment",
        "3",
        "--resamples",
        "30",
        "-q",
        "--json",
        str(out),
        "--pairs-out",
        str(pairs),
    ]
    assert main(args) == 0, capsys.readouterr().err
    stdout = capsys.readouterr().out
    assert "translation pairs" in stdout and "chrF" in stdout and "hard" in stdout
    doc = json.loads(out.read_text())
    assert doc["kind"] == "translation-pairs" and doc["schema_version"] == 1
    assert doc["settings"]["min_gap"] == 1.0 and doc["settings"]["easy_gap"] == 5.0
    assert doc["data"]["n_pairs"] == doc["buckets"]["all"]["n_pairs"] <= 120
    assert doc["data"]["n_easy"] + doc["data"]["n_hard"] == doc["data"]["n_pairs"]
    assert {s["name"] for s in doc["scorers"]} == {"chrF", "length"}
    for s in doc["scorers"]:
        assert set(s["clusters"]) == {"all", "easy", "hard"}
    rows = [json.loads(x) for x in pairs.read_text().splitlines()]
    assert len(rows) == doc["data"]["n_pairs"]
    assert all(r["chosen_mqm"] - r["rejected_mqm"] > 1.0 for r in rows)
    # the written pairs load back as preference data and meta-evaluate like any pairs
    back = api.load(str(pairs))
    assert back.n_items == len(rows) and back.judgments.kind == "pairwise"
    # same seed, same document (but the time)
    out2 = tmp_path / "tp2.json"
    assert main([*args[:-4], "--json", str(out2)]) == 0
    d1, d2 = json.loads(out.read_text()), json.loads(out2.read_text())
    d1.pop("seconds"), d2.pop("seconds")
    assert d1 == d2


def test_cli_stratified_sample_is_shown_and_written(tmp_path, capsys):
    out = tmp_path / "tp.json"
    args = ["translation-pairs", "-d", "ted-ende", "-s", "chrf", "-s", "length"]
    args += ["--max-pairs", "25", "--seed", "2", "--resamples", "20", "--json", str(out)]
    assert main(args) == 0, capsys.readouterr().err
    stdout = capsys.readouterr().out
    doc = json.loads(out.read_text())
    d = doc["data"]
    assert doc["settings"]["max_pairs"] == 25 and doc["settings"]["seed"] == 2
    assert (d["n_easy"], d["n_hard"], d["n_pairs"]) == (25, 25, 50)
    assert d["n_easy_found"] > 25 and d["n_hard_found"] > 25
    assert d["n_pairs_found"] == d["n_easy_found"] + d["n_hard_found"]
    assert d["n_pairs_found"] - d["n_pairs"] == d["n_sampled_out"]
    assert doc["buckets"]["easy"]["n_pairs"] == doc["buckets"]["hard"]["n_pairs"] == 25
    assert f"50 of {d['n_pairs_found']} pairs" in stdout.replace("\n", " ")
    # the same pairs as the function that derives them (the sample is the metaeval one)
    ds = api.load("ted-ende")
    ps = derive_translation_pairs(ds, max_pairs=25, seed=2)
    assert ps.derived.n_pairs == 50 and int(ps.derived.easy.sum()) == 25


def test_default_scorers_leave_out_what_cannot_run(tmp_path):
    ds = api.load("wmt23-ende")  # no references

    def resolve(spec):
        if spec.startswith(("loglik:", "judge:", "judge-pair:", "embed")):
            raise OvercoatError(f"{spec}: not installed here")
        return get_scorer(spec)

    picked, skipped = default_pair_scorers(ds, resolve)
    assert list(picked) == ["length"]
    why = {s["spec"].split(":")[0].split(",")[0]: s["reason"] for s in skipped}
    assert "needs references" in why["chrf"] and "needs references" in why["bleu"]
    assert "needs references" in why["ter"] and "not installed" in why["judge-pair"]
    assert "not installed" in why["loglik"] and "comet" in why


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--min-gap", "-1"], "--min-gap must be a number of at least 0"),
        (["--easy-gap", "1"], "--easy-gap must be above --min-gap"),
        (["--ties", "maybe"], "--ties must be one of strict, half"),
        (["--correction", "x"], "--correction must be one of"),
        (["--max-pairs", "0"], "--max-pairs"),
        (["--min-gap", "100", "--easy-gap", "200"], "no two outputs of one segment differ by"),
    ],
)
def test_bad_settings_are_one_line(tmp_path, capsys, extra, needle):
    out = tmp_path / "x.json"
    code = main(
        ["translation-pairs", "-d", "ted-ende", "-s", "length", "-q", "--json", str(out)] + extra
    )
    err = capsys.readouterr().err
    assert code == 2 and needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_bad_data_is_one_line(tmp_path, capsys):
    # preference data has no MQM per output
    code = main(["translation-pairs", "-d", "hh-harmless", "-s", "length", "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "pointwise human scores" in err
    # a broken MQM file names file, line and field
    bad = mqm_file(tmp_path, [("A", 1, "x", "Major"), ("B", 1, "y", "Catastrophic")])
    code = main(["translation-pairs", "-d", f"mqm:{bad}", "-s", "length", "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "line 3" in err and "severity" in err


def test_missing_scores_count_wrong():
    ds = api.load("ted-ende")
    ps = derive_translation_pairs(ds, max_segments=5, seed=0)
    n = ps.derived.n_pairs
    c = np.ones(n)
    r = np.zeros(n)
    c[0] = math.nan
    lb = pairs_leaderboard(ps, {"x": (c, r)}, n_resamples=10)
    e = lb["all"]["scorers"]["x"]
    assert e["n_missing"] == 1 and e["statistic"] == pytest.approx((n - 1) / n)
    with pytest.raises(SettingError):
        pairs_leaderboard(ps, {"x": (c, r)}, ties="never")
