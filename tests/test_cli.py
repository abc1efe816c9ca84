"""The CLI end to end: scoring, meta-eval JSON, and every bad-input case (one line, exit 2, no
traceback, no half-written output)."""

import gzip
import json
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pyarrow.parquet as pq
import pytest

from overcoat.cli import main


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OVERCOAT_CACHE", str(tmp_path / "cache.sqlite"))


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rows(n=3):
    out = []
    for i in range(n):
        for s, sc in (("sysA", 1.0 + i), ("sysB", 2.0)):
            out.append(
                json.dumps(
                    {
                        "item_id": f"i{i}",
                        "input": f"source {i}",
                        "response_id": s,
                        "response": f"output {s} {i}",
                        "reference": f"output sysB {i}",
                        "score": sc,
                    }
                )
            )
    return out


def run_cli(args, capsys):
    code = main(args)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_score_writes_all_formats(tmp_path, capsys):
    import csv

    items = range(4)
    data = _write(tmp_path / "d.jsonl", _graded_rows(items))
    for ext in ("parquet", "jsonl", "csv"):
        out = tmp_path / f"s.{ext}"
        code, _, err = run_cli(
            [
                "score",
                "--data",
                str(data),
                "--scorer",
                "chrf",
                "--scorer",
                "length",
                "--out",
                str(out),
                "-q",
            ],
            capsys,
        )
        assert code == 0, err
    # the expected scores, computed here: words per response, and sacreBLEU's own sentence chrF
    _, L, C = _graded_matrices(items)
    want = {
        (f"g{i}", name, scorer): float(M[k, s])
        for k, i in enumerate(items)
        for s, name in enumerate(_SYSTEMS)
        for scorer, M in (("chrF", C), ("length", L))
    }
    got = {}
    t = pq.read_table(tmp_path / "s.parquet").to_pylist()
    got["parquet"] = t
    got["jsonl"] = [json.loads(x) for x in (tmp_path / "s.jsonl").read_text().splitlines()]
    with open(tmp_path / "s.csv", newline="", encoding="utf-8") as f:
        got["csv"] = [{**r, "score": float(r["score"])} for r in csv.DictReader(f)]
    for fmt, rows in got.items():
        assert len(rows) == 24, fmt
        assert {(r["item_id"], r["response_id"], r["scorer"]) for r in rows} == set(want), fmt
        for r in rows:
            assert r["score"] == pytest.approx(
                want[r["item_id"], r["response_id"], r["scorer"]], rel=1e-12
            ), (fmt, r)
            assert r["signature"].startswith({"chrF": "chrf|", "length": "length|"}[r["scorer"]])
    assert len({r["score"] for r in got["csv"] if r["scorer"] == "chrF"}) > 4  # real variety

    # the three files hold the same rows in the same order
    def key(rows):
        return [
            (r["item_id"], r["response_id"], r["scorer"], r["signature"], r["score"]) for r in rows
        ]

    assert key(got["parquet"]) == key(got["jsonl"])
    assert [k[:4] for k in key(got["csv"])] == [k[:4] for k in key(got["jsonl"])]


def test_map_option(tmp_path, capsys):
    rows = [json.dumps({"question": "q", "chosen": "good answer", "rejected": "bad"})]
    data = _write(tmp_path / "p.jsonl", rows)
    code, _, err = run_cli(
        [
            "score",
            "--data",
            str(data),
            "--map",
            "prompt=question",
            "--scorer",
            "length",
            "--out",
            str(tmp_path / "o.jsonl"),
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    got = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert sorted(r["score"] for r in got) == [1.0, 2.0]


# A small graded data set whose numbers the tests below derive with plain loops: 12 items, three
# systems; human scores (with gold ties) and response lengths in words chosen by hand.
_GRADED = [  # (human A, B, C), (words A, B, C)
    ((1, 2, 2), (3, 5, 5)),
    ((0, 1, 2), (2, 4, 6)),
    ((2, 0, 1), (6, 1, 3)),
    ((1, 1, 0), (4, 4, 2)),
    ((2, 1, 1), (5, 2, 4)),
    ((0, 0, 2), (1, 3, 7)),
    ((1, 1, 1), (2, 2, 3)),
    ((2, 1, 0), (4, 6, 5)),
    ((0, 2, 1), (3, 6, 4)),
    ((1, 0, 0), (5, 3, 3)),
    ((2, 2, 0), (6, 5, 1)),
    ((0, 1, 1), (2, 3, 3)),
]
_VOCAB = "the quick brown fox jumps over a lazy dog today".split()
_SYSTEMS = ("sysA", "sysB", "sysC")


def _graded_text(i, s, k):
    step = (1, 3, 7)[s]
    return " ".join(_VOCAB[(i + t * step) % 10] for t in range(k))


def _graded_reference(i):
    return " ".join(_VOCAB[(i + t) % 10] for t in range(6))


def _graded_rows(items):
    out = []
    for i in items:
        human, words = _GRADED[i]
        for s, name in enumerate(_SYSTEMS):
            out.append(
                json.dumps(
                    {
                        "item_id": f"g{i}",
                        "input": f"source {i}",
                        "response_id": name,
                        "response": _graded_text(i, s, words[s]),
                        "reference": _graded_reference(i),
                        "score": human[s],
                    }
                )
            )
    return out


def _graded_matrices(items):
    """Human scores, word counts and sacreBLEU's own sentence chrF, as (n_items, 3) matrices."""
    from sacrebleu.metrics import CHRF

    chrf = CHRF()
    H = np.array([_GRADED[i][0] for i in items], float)
    L = np.array([_GRADED[i][1] for i in items], float)
    C = np.array(
        [
            [
                chrf.sentence_score(
                    _graded_text(i, s, _GRADED[i][1][s]), [_graded_reference(i)]
                ).score
                for s in range(3)
            ]
            for i in items
        ]
    )
    return H, L, C


def _loop_groups(H, M, group, rows):
    """Pair lists (d_h, d_m): per item, all cells pooled ("none") or per column ("system")."""
    H, M = np.asarray(H).tolist(), np.asarray(M).tolist()  # plain floats: fast loops
    r = len(H[0])
    if group == "item":
        cells = [[(H[i][j], M[i][j]) for j in range(r)] for i in rows]
    elif group == "none":
        cells = [[(H[i][j], M[i][j]) for i in rows for j in range(r)]]
    else:
        cells = [[(H[i][j], M[i][j]) for i in rows] for j in range(r)]
    return [
        [
            (c[a][0] - c[b][0], c[a][1] - c[b][1])
            for a in range(len(c))
            for b in range(a + 1, len(c))
        ]
        for c in cells
    ]


def _loop_acc_eq(groups, eps):
    """Macro average over groups of the share of pairs where metric and human agree at eps."""
    vals = []
    for pairs in groups:
        agree = sum(
            (abs(dm) <= eps) if dh == 0 else (abs(dm) > eps and (dh > 0) == (dm > 0))
            for dh, dm in pairs
        )
        vals.append(Fraction(int(agree), len(pairs)))
    return sum(vals) / len(vals)


def _loop_calibrate(groups):
    """(smallest epsilon reaching the maximum, maximum) over 0 and every |d_m|."""
    best = None
    for eps in sorted({0.0} | {abs(dm) for pairs in groups for _, dm in pairs}):
        v = _loop_acc_eq(groups, eps)
        if best is None or v > best[1]:
            best = (eps, v)
    return best


def _loop_strict_accuracy(H, M):
    """Mean over items of the share of human-preference pairs the metric orders the same way."""
    vals = []
    for pairs in _loop_groups(H, M, "item", range(H.shape[0])):
        pref = [(dh, dm) for dh, dm in pairs if dh != 0]
        if pref:
            vals.append(
                Fraction(sum(dm != 0 and (dm > 0) == (dh > 0) for dh, dm in pref), len(pref))
            )
    return sum(vals) / len(vals)


def test_meta_eval_json_schema(tmp_path, capsys):
    items = range(8)
    data = _write(tmp_path / "d.jsonl", _graded_rows(items))
    out = tmp_path / "r.json"
    code, stdout, err = run_cli(
        [
            "meta-eval",
            "--data",
            str(data),
            "--scorer",
            "chrf",
            "--scorer",
            "length",
            "--resamples",
            "50",
            "--json",
            str(out),
            "--permute",
            "items",
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == 1
    assert doc["primary_statistic"] == "acc_eq"
    assert [s["name"] for s in doc["scorers"]] == ["chrF", "length"]
    assert doc["settings"]["seed"] == 0 and doc["settings"]["n_resamples"] == 50
    H, L, C = _graded_matrices(items)
    # data block: 8 items x 3 pairs; gold ties counted by hand from the human scores
    gold = sum(dh == 0 for g in _loop_groups(H, H, "item", range(8)) for dh, _ in g)
    assert gold == 7  # items 0, 3, 4, 5: one each; item 6: all three
    assert doc["data"]["n_items"] == 8 and doc["data"]["n_responses"] == 24
    assert doc["data"]["n_pairs"] == 24
    assert doc["data"]["gold_tie_rate"] == pytest.approx(gold / 24, abs=1e-12)
    n = 8
    draws = np.random.default_rng(0)
    idx = [draws.integers(0, n, n) for _ in range(50)]  # the canonical bootstrap resamples
    stats = {}
    for name, M in (("chrF", C), ("length", L)):
        seg = doc["segment_level"][name]
        eps, best = _loop_calibrate(_loop_groups(H, M, "item", range(n)))
        e = seg["acc_eq"]
        assert e["statistic"] == pytest.approx(float(best), abs=1e-12)
        assert e["epsilon"] == pytest.approx(eps, abs=1e-9)
        assert e["all_ties_baseline"] == pytest.approx(
            float(_loop_acc_eq(_loop_groups(H, M, "item", range(n)), float("inf"))), abs=1e-12
        )
        assert (e["n_pairs"], e["n_groups"], e["n_dropped"]) == (24, 8, 0)
        boot = [float(_loop_calibrate(_loop_groups(H[r], M[r], "item", range(n)))[1]) for r in idx]
        assert e["confidence_interval"] == pytest.approx(
            list(np.percentile(boot, [2.5, 97.5])), abs=1e-9
        )
        assert e["standard_error"] == pytest.approx(np.std(boot, ddof=1), abs=1e-9)
        assert seg["pairwise_accuracy_strict"]["statistic"] == pytest.approx(
            float(_loop_strict_accuracy(H, M)), abs=1e-12
        )
        stats[name] = float(best)
        # the console table shows the same number
        line = next(x for x in stdout.splitlines() if f" {name} " in x)
        assert f"{float(best):.4f}" in line
    assert stats["length"] != pytest.approx(stats["chrF"], abs=1e-3)  # the scorers differ
    sig = doc["significance"]
    assert sig["names"] == ["chrF", "length"]
    np.testing.assert_allclose(sig["statistics"], [stats["chrF"], stats["length"]], atol=1e-12)
    # one-sided paired permutation p-values by a loop: each scorer z-scored (as mt-metrics-eval),
    # one coin per item and resample (the canonical swap draws), rows swapped, refitted
    z = {k: (M - M.mean()) / M.std() for k, M in (("chrF", C), ("length", L))}
    coins = np.random.default_rng(0)
    null = []
    for _ in range(50):
        c = coins.integers(0, 2, n).astype(bool)[:, None]
        pa, pb = np.where(c, z["length"], z["chrF"]), np.where(c, z["chrF"], z["length"])
        null.append(
            float(
                _loop_calibrate(_loop_groups(H, pa, "item", range(n)))[1]
                - _loop_calibrate(_loop_groups(H, pb, "item", range(n)))[1]
            )
        )
    delta = stats["chrF"] - stats["length"]
    assert sig["pvalues"][0][1] == pytest.approx(
        (1 + sum(x >= delta - 1e-9 for x in null)) / 51, abs=1e-12
    )
    assert sig["pvalues"][1][0] == pytest.approx(
        (1 + sum(-x >= -delta - 1e-9 for x in null)) / 51, abs=1e-12
    )


BAD_CASES = {
    "malformed_json": (
        [
            '{"item_id": "i0", "input": "x", "response": "y"',
        ],
        "line 1",
        "malformed JSON",
    ),
    "missing_field": ([json.dumps({"item_id": "i0", "response": "y"})], "line 1", "input"),
    "empty_response": (
        [json.dumps({"item_id": "i0", "input": "x", "response": "  "})],
        "line 1",
        "empty",
    ),
    "nan_score": (
        [
            json.dumps({"item_id": "i0", "input": "x", "response": "y"}),
            '{"item_id": "i1", "input": "x", "response": "y", "score": NaN}',
        ],
        "line 2",
        "score",
    ),
    "duplicate_ids": (
        [
            json.dumps(
                {"item_id": "i0", "input": "x", "response_id": "a", "response": "y", "score": 1}
            ),
            json.dumps(
                {"item_id": "i0", "input": "x", "response_id": "a", "response": "z", "score": 2}
            ),
        ],
        "line 2",
        "duplicate",
    ),
    "mistyped_field": (
        [json.dumps({"item_id": "i0", "input": "x", "response": 5})],
        "line 1",
        "response",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_jsonl_input_is_one_line_exit_2_no_output(case, tmp_path, capsys):
    lines, where, what = BAD_CASES[case]
    data = _write(tmp_path / "bad.jsonl", lines)
    out = tmp_path / "out.parquet"
    code, _, err = run_cli(
        ["score", "--data", str(data), "--scorer", "length", "--out", str(out), "-q"], capsys
    )
    assert code == 2
    msg = err.strip()
    assert "\n" not in msg and msg.startswith("overcoat: error: ")
    assert str(data) in msg and where in msg and what.lower() in msg.lower(), msg
    assert "Traceback" not in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_unknown_scorer_spec(tmp_path, capsys):
    data = _write(tmp_path / "d.jsonl", _rows())
    code, _, err = run_cli(
        [
            "score",
            "--data",
            str(data),
            "--scorer",
            "bleurt-xxl",
            "--out",
            str(tmp_path / "o.jsonl"),
        ],
        capsys,
    )
    assert code == 2 and "unknown scorer spec 'bleurt-xxl'" in err
    assert not (tmp_path / "o.jsonl").exists()


def test_non_utf8_and_truncated_gzip(tmp_path, capsys):
    p = tmp_path / "latin.jsonl"
    p.write_bytes(
        b'{"item_id": "i0", "input": "x", "response": "y"}\n'
        b'{"item_id": "i1", "input": "caf\xe9", "response": "y"}\n'
    )
    code, _, err = run_cli(
        ["score", "--data", str(p), "--scorer", "length", "--out", str(tmp_path / "o.jsonl")],
        capsys,
    )
    assert code == 2 and "line 2" in err and "UTF-8" in err
    g = tmp_path / "t.jsonl.gz"
    g.write_bytes(gzip.compress("\n".join(_rows(50)).encode())[:-20])
    code, _, err = run_cli(
        ["score", "--data", str(g), "--scorer", "length", "--out", str(tmp_path / "o.jsonl")],
        capsys,
    )
    assert code == 2 and "truncated gzip" in err and str(g) in err


def test_judgment_naming_unknown_response(tmp_path, capsys):
    rows = [
        json.dumps(
            {"item_id": "i0", "prompt": "p", "response_a": "x", "response_b": "y", "label": "c"}
        )
    ]
    data = _write(tmp_path / "pw.jsonl", rows)
    code, _, err = run_cli(["meta-eval", "--data", str(data), "--scorer", "length"], capsys)
    assert code == 2 and str(data) in err and "line 1" in err and "label" in err


def test_nan_in_scores_file(tmp_path, capsys):
    data = _write(tmp_path / "d.jsonl", _rows())
    scores = _write(
        tmp_path / "s.jsonl",
        [
            json.dumps({"item_id": "i0", "response_id": "sysA", "score": 1.0}),
            '{"item_id": "i0", "response_id": "sysB", "score": Infinity}',
        ],
    )
    code, _, err = run_cli(
        [
            "score",
            "--data",
            str(data),
            "--scorer",
            f"scores:{scores}",
            "--out",
            str(tmp_path / "o.jsonl"),
        ],
        capsys,
    )
    assert code == 2 and str(scores) in err and "line 2" in err and "score" in err


def test_precomputed_scores_roundtrip(tmp_path, capsys):
    data = _write(tmp_path / "d.jsonl", _rows())
    out = tmp_path / "o.jsonl"
    assert (
        run_cli(
            ["score", "--data", str(data), "--scorer", "chrf", "--out", str(out), "-q"], capsys
        )[0]
        == 0
    )
    out2 = tmp_path / "o2.jsonl"
    code, _, err = run_cli(
        ["score", "--data", str(data), "--scorer", f"scores:{out}", "--out", str(out2), "-q"],
        capsys,
    )
    assert code == 0, err
    a = [json.loads(x)["score"] for x in out.read_text().splitlines()]
    b = [json.loads(x)["score"] for x in out2.read_text().splitlines()]
    assert a == b


def test_subprocess_has_no_traceback(tmp_path):
    data = _write(tmp_path / "bad.jsonl", ["{not json"])
    env = {**os.environ, "OVERCOAT_CACHE": str(tmp_path / "c.sqlite")}
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "overcoat.cli",
            "score",
            "--data",
            str(data),
            "--scorer",
            "length",
            "--out",
            str(tmp_path / "o.jsonl"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert p.returncode == 2
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_datasets_lists_bundled(capsys):
    code, out, _ = run_cli(["datasets"], capsys)
    assert code == 0
    for name in ("ted-ende", "ted-zhen", "hh-harmless", "Apache-2.0", "MIT"):
        assert name in out


def test_meta_eval_dev_split_and_k_folds(tmp_path, capsys):
    items, dev_items = range(8), range(8, 12)
    data = _write(tmp_path / "d.jsonl", _graded_rows(items))
    dev = _write(tmp_path / "dev.jsonl", _graded_rows(dev_items))
    out = tmp_path / "r.json"
    code, _, err = run_cli(
        [
            "meta-eval",
            "--data",
            str(data),
            "--dev",
            str(dev),
            "--k-folds",
            "2",
            "--scorer",
            "chrf",
            "--scorer",
            "length",
            "--resamples",
            "30",
            "--json",
            str(out),
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    doc = json.loads(out.read_text())
    H, L, C = _graded_matrices(items)
    Hd, Ld, Cd = _graded_matrices(dev_items)
    folds = np.array_split(np.random.default_rng(0).permutation(8), 2)  # seeded item folds
    for name, M, Md in (("chrF", C, Cd), ("length", L, Ld)):
        seg = doc["segment_level"][name]
        insample = float(_loop_calibrate(_loop_groups(H, M, "item", items))[1])
        # epsilon fitted on the dev items, acc_eq evaluated on the data at that epsilon
        eps_dev, _ = _loop_calibrate(_loop_groups(Hd, Md, "item", range(4)))
        d = seg["acc_eq_dev_calibrated"]
        assert d["epsilon"] == pytest.approx(eps_dev, abs=1e-9)
        assert d["statistic"] == pytest.approx(
            float(_loop_acc_eq(_loop_groups(H, M, "item", items), eps_dev)), abs=1e-12
        )
        assert d["in_sample_statistic"] == pytest.approx(insample, abs=1e-12)
        # 2 folds: each fitted on the other fold; held-out items pooled in one macro average
        x = seg["acc_eq_cross_fitted"]
        held, fold_vals, epss = [], [], []
        for test in folds:
            train = [i for i in range(8) if i not in set(test)]
            eps, _ = _loop_calibrate(_loop_groups(H, M, "item", train))
            epss.append(eps)
            g = _loop_groups(H, M, "item", test)
            fold_vals.append(float(_loop_acc_eq(g, eps)))
            held += [_loop_acc_eq([p], eps) for p in g]
        assert x["k_folds"] == 2
        np.testing.assert_allclose(x["epsilons"], epss, rtol=0, atol=1e-9)
        np.testing.assert_allclose(x["fold_statistics"], fold_vals, rtol=0, atol=1e-12)
        assert x["statistic"] == pytest.approx(float(sum(held) / len(held)), abs=1e-12)
        assert x["in_sample_statistic"] == pytest.approx(insample, abs=1e-12)
    assert doc["segment_level"]["chrF"]["acc_eq_cross_fitted"]["statistic"] != pytest.approx(
        doc["segment_level"]["chrF"]["acc_eq"]["statistic"], abs=1e-6
    )  # held-out differs


@pytest.mark.parametrize("group", ["none", "system"])
def test_meta_eval_other_groupings(group, tmp_path, capsys):
    items = range(8)
    data = _write(tmp_path / "d.jsonl", _graded_rows(items))
    out = tmp_path / "r.json"
    code, _, err = run_cli(
        [
            "meta-eval",
            "--data",
            str(data),
            "--group",
            group,
            "--scorer",
            "chrf",
            "--scorer",
            "length",
            "--resamples",
            "30",
            "--json",
            str(out),
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    doc = json.loads(out.read_text())
    assert doc["settings"]["group"] == group
    H, L, C = _graded_matrices(items)
    n_groups, n_pairs = (1, 276) if group == "none" else (3, 84)  # C(24, 2); 3 x C(8, 2)
    for name, M in (("chrF", C), ("length", L)):
        e = doc["segment_level"][name]["acc_eq"]
        groups = _loop_groups(H, M, group, items)
        assert sum(map(len, groups)) == n_pairs
        eps, best = _loop_calibrate(groups)
        assert e["statistic"] == pytest.approx(float(best), abs=1e-12)
        assert e["epsilon"] == pytest.approx(eps, abs=1e-9)
        assert (e["n_pairs"], e["n_groups"]) == (n_pairs, n_groups)
        assert e["all_ties_baseline"] == pytest.approx(
            float(_loop_acc_eq(groups, float("inf"))), abs=1e-12
        )
        item_level = float(_loop_calibrate(_loop_groups(H, M, "item", items))[1])
        assert e["statistic"] != pytest.approx(item_level, abs=1e-6)  # the grouping is used


def test_bad_option_values_are_one_line_errors(tmp_path, capsys):
    data = _write(tmp_path / "d.jsonl", _rows(3))
    code, _, err = run_cli(
        ["meta-eval", "--data", str(data), "--scorer", "chrf", "--ties", "sometimes"], capsys
    )
    assert code == 2 and "--ties must be one of" in err and "Traceback" not in err


def test_max_items_is_a_seeded_sample(tmp_path, capsys):
    data = _write(tmp_path / "d.jsonl", _rows(10))
    docs = []
    for k in range(2):
        out = tmp_path / f"r{k}.json"
        assert (
            run_cli(
                [
                    "meta-eval",
                    "--data",
                    str(data),
                    "--scorer",
                    "chrf",
                    "--max-items",
                    "4",
                    "--resamples",
                    "20",
                    "--json",
                    str(out),
                    "-q",
                ],
                capsys,
            )[0]
            == 0
        )
        docs.append(json.loads(out.read_text()))
    assert docs[0]["data"]["n_items"] == 4
    assert docs[0]["data"]["sampled_items"] == "4 of 10, seed 0"
    assert docs[0]["segment_level"] == docs[1]["segment_level"]


# -- overcoat scorers / cache / -v ------------------------------------------------------------------
def test_scorers_says_what_is_usable_and_how_to_install_the_rest(monkeypatch, capsys):
    import overcoat.scorers.requirements as R

    real = R.installed
    monkeypatch.setattr(R, "installed", lambda m: m != "comet" and real(m))
    code, out, _ = run_cli(["scorers"], capsys)
    assert code == 0 and "…" not in out
    rows = {
        ln.split("│")[1].strip(): ln.split("│")[2].strip()
        for ln in out.splitlines()
        if ln.startswith("│") and ln.split("│")[1].strip()
    }
    assert rows["bleu"] == "yes" and rows["length"] == "yes" and rows["comet"] == "no"
    hint = [ln for ln in out.splitlines() if ln.strip().startswith("comet:")]
    assert len(hint) == 1 and "pip install 'overcoat[comet]'" in hint[0]
    n_no = sum(v == "no" for v in rows.values())
    assert f"{len(rows) - n_no} of {len(rows)} scorers usable" in out


def test_cache_command_lists_and_clears(tmp_path, capsys):
    data = _write(tmp_path / "d.jsonl", _rows(3))
    c = str(tmp_path / "c.sqlite")
    assert (
        run_cli(
            [
                "score",
                "-d",
                str(data),
                "-s",
                "chrf",
                "-s",
                "length",
                "-o",
                str(tmp_path / "o.jsonl"),
                "-q",
                "--cache",
                c,
            ],
            capsys,
        )[0]
        == 0
    )
    code, out, _ = run_cli(["cache", "--cache", c], capsys)
    assert code == 0 and "12 scores" in out
    assert "length|unit:words" in out and "chrf|" in out
    code, out, _ = run_cli(["cache", "--cache", c, "--clear", "--signature", "length|"], capsys)
    assert code == 0 and "deleted 6 cached scores" in out
    from overcoat.scorers.cache import ScoreCache

    st = ScoreCache(c).stats()
    assert st["entries"] == 6 and list(st["signatures"])[0].startswith("chrf|")
    code, _, err = run_cli(["cache", "--cache", c, "--clear", "--signature", "nope"], capsys)
    assert code == 2 and "matches 0 of the 1 signatures" in err
    code, out, _ = run_cli(["cache", "--cache", c, "--clear"], capsys)
    assert code == 0 and "deleted 6" in out and ScoreCache(c).stats()["entries"] == 0
    code, out, _ = run_cli(["cache", "--cache", str(tmp_path / "none.sqlite")], capsys)
    assert code == 0 and "no score cache" in out and not (tmp_path / "none.sqlite").exists()


def test_system_level_note_on_preference_data_only_with_verbose(tmp_path, capsys):
    rows = [
        json.dumps({"prompt": f"p{i}", "chosen": "a longer answer", "rejected": "no"})
        for i in range(4)
    ]
    data = _write(tmp_path / "p.jsonl", rows)
    args = ["meta-eval", "-d", str(data), "-s", "length", "--resamples", "10", "-q"]
    code, out, err = run_cli(args, capsys)
    assert code == 0 and "system level skipped" not in out + err
    code, out, err = run_cli(["-v", *args], capsys)
    assert code == 0 and "overcoat: note: system level skipped" in err


def test_hub_probe_goes_offline_fast_when_unreachable(monkeypatch):
    import overcoat.hub as hub

    monkeypatch.setattr(hub, "_checked", {})
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    assert hub.offline_unless_reachable() is True
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert "127.0.0.1" in hub.unreachable_note()
    from overcoat.scorers._common import weights_error

    assert "could not be reached" in str(weights_error("org/model", OSError()))
