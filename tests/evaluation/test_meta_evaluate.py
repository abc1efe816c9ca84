"""Meta-evaluation orchestration: numbers equal the pure metaeval functions; benchmark rules;
the main job end to end."""

import json

import numpy as np
import pytest

from overcoat import api
from overcoat.cli import main
from overcoat.evaluation import MetaEvalSettings, meta_evaluate
from overcoat.metaeval import pairwise_accuracy, pearson, tie_calibrated_accuracy

FIX = "tests/data/fixtures"


@pytest.fixture(scope="module")
def ted_subset():
    ds = api.load("ted-ende")
    ds = ds.filter_items(ds.items.column("item_id").to_pylist()[:80])
    return api.score(ds, ["chrf", "length", "random"], progress=False)


def test_numbers_equal_the_pure_functions(ted_subset):
    res = meta_evaluate(ted_subset, MetaEvalSettings(n_resamples=200, seed=3))
    H = ted_subset.dataset.human_matrix()
    for name in ("chrF", "length", "random"):
        M = ted_subset.matrix(name)
        seg = res.segment[name]
        r = tie_calibrated_accuracy(H, M, group="item")
        assert seg["acc_eq"]["statistic"] == pytest.approx(r.statistic)
        assert seg["acc_eq"]["epsilon"] == pytest.approx(r.epsilon)
        assert seg["acc_eq"]["all_ties_baseline"] == pytest.approx(r.all_ties_baseline)
        lo, hi = seg["acc_eq"]["confidence_interval"]
        assert lo <= r.statistic <= hi
        assert seg["pairwise_accuracy_strict"]["statistic"] == pytest.approx(
            pairwise_accuracy(H, M, ties="strict").statistic
        )
        assert seg["pearson"]["statistic"] == pytest.approx(pearson(H, M).statistic)
        assert "soft_pairwise_accuracy" in res.system[name]
    sig = res.significance
    assert sig["names"] == ["chrF", "length", "random"]
    assert all(s["cluster"] >= 1 for s in res.scorers)
    # deterministic under the seed
    again = meta_evaluate(ted_subset, MetaEvalSettings(n_resamples=200, seed=3))
    assert again.to_json()["segment_level"] == res.to_json()["segment_level"]


def test_lower_is_better_scorers_are_oriented():
    ds = api.load("ted-ende")
    ds = ds.filter_items(ds.items.column("item_id").to_pylist()[:30])
    sc = api.score(ds, ["length", "python:tests/neg_length.py:neg_length"], progress=False)
    res = meta_evaluate(sc, MetaEvalSettings(n_resamples=50, significance=False))
    a = res.segment["length"]["pairwise_accuracy_strict"]["statistic"]
    b = res.segment["neg_length"]["pairwise_accuracy_strict"]["statistic"]
    assert a == pytest.approx(b)


def test_rewardbench_rule_by_hand(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert (
        main(
            [
                "meta-eval",
                "--data",
                f"rewardbench:{FIX}/rewardbench.jsonl",
                "--scorer",
                "length",
                "--resamples",
                "20",
                "--json",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    doc = json.loads(out.read_text())
    rb = doc["benchmark_rules"]["length"]
    # the longer answer is chosen in alpacaeval-easy and refusals-dangerous, not in hep-python;
    # Chat Hard has no data: 0 and averaged in, as reward-bench's calculate_scores_per_section
    assert rb["sections"] == {"Chat": 1.0, "Chat Hard": 0.0, "Safety": 1.0, "Reasoning": 0.0}
    assert rb["overall"] == pytest.approx(2 / 4)
    assert rb["empty_sections"] == ["Chat Hard"] and rb["empty_sections_rule"] == "official"
    assert rb["subsets"] == {"alpacaeval-easy": 1.0, "hep-python": 0.0, "refusals-dangerous": 1.0}
    assert rb["subset_counts"] == {"alpacaeval-easy": 1, "hep-python": 1, "refusals-dangerous": 1}
    assert any("no data for Chat Hard" in n for n in doc["notes"])
    assert doc["primary_statistic"] == "pairwise_accuracy_strict"
    out_text = capsys.readouterr().out
    assert "hep-python" in out_text and "Chat Hard" in out_text  # subset and section tables


def test_rewardbench_present_sections_and_prior_sets(tmp_path):
    prior = tmp_path / "prior.jsonl"
    rows = [
        ("shp", "a longer chosen reply", "short"),
        ("shp", "short", "a longer rejected reply"),
        ("summarize", "the longer summary", "brief"),
        ("anthropic_harmless", "long long", "x"),
    ]
    prior.write_text(
        "".join(
            json.dumps({"prompt": "p", "chosen": c, "rejected": r, "subset": s, "id": k}) + "\n"
            for k, (s, c, r) in enumerate(rows)
        )
    )
    out = tmp_path / "r.json"
    assert (
        main(
            [
                "meta-eval",
                "--data",
                f"rewardbench:{FIX}/rewardbench.jsonl",
                "--scorer",
                "length",
                "--resamples",
                "20",
                "--json",
                str(out),
                "-q",
                "--rewardbench-empty-sections",
                "present",
                "--prior-sets",
                f"rewardbench:{prior}",
            ]
        )
        == 0
    )
    rb = json.loads(out.read_text())["benchmark_rules"]["length"]
    assert rb["sections"] == {"Chat": 1.0, "Safety": 1.0, "Reasoning": 0.0}
    assert rb["overall"] == pytest.approx(2 / 3) and rb["empty_sections_rule"] == "present"
    # Prior Sets: unweighted mean of shp (1/2) and summarize (1/1); anthropic_harmless is not one
    assert rb["prior_subsets"] == {"shp": 0.5, "summarize": 1.0}
    assert rb["prior_sets"] == pytest.approx(0.75)
    assert rb["prior_sets_ignored"] == {"anthropic_harmless": 1}
    # weights 2,2,2,2,1 over the sections present (non-official option) and Prior Sets
    assert rb["overall_with_prior_sets"] == pytest.approx((2 * 1 + 2 * 1 + 2 * 0 + 0.75) / 7)
    assert (
        main(
            [
                "meta-eval",
                "--data",
                f"rewardbench:{FIX}/rewardbench.jsonl",
                "--scorer",
                "length",
                "-q",
                "--rewardbench-empty-sections",
                "none",
            ]
        )
        == 2
    )
    assert (
        main(
            [
                "meta-eval",
                "--data",
                f"judgebench:{FIX}/judgebench.jsonl",
                "--scorer",
                "length",
                "-q",
                "--prior-sets",
                f"rewardbench:{prior}",
            ]
        )
        == 2
    )


def test_rmbench_and_judgebench_rules_in_full(tmp_path):
    from overcoat.metaeval import benchmarks as bench

    sc = api.score(api.load(f"rmbench:{FIX}/rmbench.json"), ["length"], progress=False)
    res = meta_evaluate(sc, MetaEvalSettings(n_resamples=20))
    rm = res.benchmark["length"]
    cols = sc.dataset.layout().column_ids
    M = sc.matrix("length")
    ch = M[:, [cols.index(f"chosen-{s}") for s in ("concise", "detailed", "markdown")]]
    rj = M[:, [cols.index(f"rejected-{s}") for s in ("concise", "detailed", "markdown")]]
    lib = bench.rmbench_scores(ch, rj, sc.dataset.items.column("domain").to_pylist())
    np.testing.assert_allclose(rm["matrix"], lib.overall_matrix)
    for d in lib.matrices:
        np.testing.assert_allclose(rm["matrices"][d], lib.matrices[d])
        assert rm["domain_easy"][d] == lib.easy[d] and rm["domain_hard"][d] == lib.hard[d]
    assert (rm["easy"], rm["normal"], rm["hard"], rm["overall"]) == (
        lib.overall_easy,
        lib.overall_normal,
        lib.overall_hard,
        lib.overall,
    )
    assert rm["styles"] == ["concise", "detailed_plain", "detailed_markdown"]

    sc = api.score(api.load(f"judgebench:{FIX}/judgebench.jsonl"), ["length"], progress=False)
    jb = meta_evaluate(sc, MetaEvalSettings(n_resamples=20)).benchmark["length"]
    # the correct answer is the longer one in the mmlu-pro pair, the shorter in the math pair
    assert jb["ties"] == "judgebench" and jb["overall"] == 0.5
    assert jb["sources"] == {"knowledge": 1.0, "reasoning": None, "math": 0.0, "coding": None}
    assert jb["source_counts"] == {"knowledge": 1, "reasoning": 0, "math": 1, "coding": 0}
    jw = meta_evaluate(sc, MetaEvalSettings(n_resamples=20, judgebench_ties="wrong")).benchmark[
        "length"
    ]
    assert jw["ties"] == "wrong" and jw["overall_ties_judgebench"] == jb["overall"]


def test_hh_pairs_view(capsys):
    ds = api.load("hh-harmless")
    assert ds.n_items == 2303 and ds.info["skipped"] == {"empty_reply": 4, "prefix_mismatch": 5}
    sc = api.score(ds, ["length", "random"], progress=False)
    res = meta_evaluate(sc, MetaEvalSettings(n_resamples=100))
    M = sc.matrix("length")
    chosen_longer = np.mean(M[:, 0] > M[:, 1])
    assert res.primary == "pairwise_accuracy_strict"
    assert res.segment["length"]["pairwise_accuracy_strict"]["statistic"] == pytest.approx(
        chosen_longer
    )
    assert res.system == {}


def _avg_seg_scores(lp):
    """Google's own per-segment MQM averages (shipped beside the ratings): {seg_id: {system: score}}."""
    import gzip
    from collections import defaultdict

    from overcoat.data.bundled import bundled_path

    out = defaultdict(dict)
    with gzip.open(bundled_path("wmt21-ted-mqm", f"mqm_ted_{lp}.avg_seg_scores.tsv.gz"), "rt") as f:
        next(f)  # header
        for line in f:
            system, score, seg = line.split()
            if score != "None":
                out[seg][system] = float(score)
    return out


def _raw_hh_replies(lines):
    """Final assistant replies of the raw HH-RLHF records on the given (1-based) lines."""
    import gzip

    from overcoat.data.bundled import bundled_path

    out = {}
    with gzip.open(bundled_path("hh-rlhf-harmless-test", "test.jsonl.gz"), "rt") as f:
        for k, line in enumerate(f, 1):
            if k in lines:
                r = json.loads(line)
                out[k] = tuple(r[x].rsplit("\n\nAssistant:", 1)[1] for x in ("chosen", "rejected"))
    return [out[k] for k in sorted(lines)]


def test_main_job_end_to_end(tmp_path, capsys, monkeypatch):
    """``overcoat run`` on a slice of each bundled data set (first 10 TED segments: TER dominates
    the time; first 150 HH pairs); the numbers are checked against the data files themselves."""
    real_load = api.load
    keep = {"ted-ende": 10, "ted-zhen": 10, "hh-harmless": 150}

    def sliced(spec, **kw):
        ds = real_load(spec, **kw)
        return ds.filter_items(ds.items.column("item_id").to_pylist()[: keep[spec]])

    monkeypatch.setattr(api, "load", sliced)
    code = main(["run", "--out-dir", str(tmp_path), "--resamples", "30", "-j", "1", "-q"])
    out = capsys.readouterr().out
    assert code == 0
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["datasets"] == ["ted-ende", "ted-zhen", "hh-harmless"]
    for name in keep:
        doc = json.loads((tmp_path / f"{name}.meta-eval.json").read_text())
        assert doc == run["results"][name]
        assert doc["schema_version"] == 1 and doc["settings"]["n_resamples"] == 30
        assert doc["data"]["n_items"] == keep[name]
        assert name in out
    # TED: the gold-tie rate of the first 10 segments from Google's per-segment MQM averages
    # (the reference translations ref-A, and for zh-en ref-B, are not evaluated)
    for name, lp, n_sys, refs in (
        ("ted-ende", "ende", 13, {"ref-A"}),
        ("ted-zhen", "zhen", 13, {"ref-A", "ref-B"}),
    ):
        doc = run["results"][name]
        seg = _avg_seg_scores(lp)
        pairs = ties = 0
        for sid in real_load(name).items.column("item_id").to_pylist()[:10]:
            v = [x for s, x in seg[sid].items() if s not in refs]
            assert len(v) == n_sys
            pairs += len(v) * (len(v) - 1) // 2
            ties += sum(abs(a - b) < 1e-9 for k, a in enumerate(v) for b in v[k + 1 :])
        assert doc["data"]["n_pairs"] == pairs == 10 * 78
        assert doc["data"]["gold_tie_rate"] == pytest.approx(ties / pairs, abs=1e-12)
        assert {s["name"] for s in doc["scorers"]} == {"BLEU", "chrF", "TER", "length", "random"}
    assert run["results"]["ted-ende"]["data"]["gold_tie_rate"] != pytest.approx(
        run["results"]["ted-zhen"]["data"]["gold_tie_rate"], abs=1e-3
    )
    # HH: length's preference accuracy = share of pairs whose chosen reply has more words, from
    # the raw records (a tie counts wrong)
    hh = run["results"]["hh-harmless"]
    # item ids are "hh-<line>"; the loader leaves out malformed records, so lines are skipped
    ids = real_load("hh-harmless").items.column("item_id").to_pylist()[:150]
    lines = {int(i.removeprefix("hh-")) for i in ids}
    assert max(lines) > 150  # the slice spans skipped records
    replies = _raw_hh_replies(lines)
    longer = np.mean([len(c.split()) > len(r.split()) for c, r in replies])
    assert hh["primary_statistic"] == "pairwise_accuracy_strict"
    assert hh["segment_level"]["length"]["pairwise_accuracy_strict"]["statistic"] == pytest.approx(
        longer, abs=1e-12
    )
    assert {s["name"] for s in hh["scorers"]} == {"length", "random"}


def test_rewardbench2_rule_with_ties_by_hand(tmp_path):
    rows = [
        {
            "id": "f1",
            "subset": "Factuality",
            "prompt": "q",
            "num_correct": 1,
            "chosen": ["v 5"],
            "rejected": ["v 5 ", "v 1", "v 0"],
        },
        {
            "id": "ref:p1",
            "subset": "Ties",
            "prompt": "p",
            "num_correct": 1,
            "chosen": ["v 5"],
            "rejected": ["v 1", "v 2"],
        },
        {
            "id": "tied:p1",
            "subset": "Ties",
            "prompt": "p",
            "num_correct": 2,
            "chosen": ["v 6", "v 4"],
            "rejected": ["v 1", "v 3"],
        },
    ]
    data = tmp_path / "rb2.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    scorer = tmp_path / "value.py"
    scorer.write_text("def value(inp, resp, refs):\n    return float(resp.split()[1])\n")
    ds = api.load(f"rewardbench2:{data}")
    sc = api.score(ds, [f"python:{scorer}:value"], progress=False)
    res = meta_evaluate(sc, MetaEvalSettings(n_resamples=20, significance=False))
    rb = res.benchmark["value"]
    # Factuality: chosen ties the maximum with one rejected answer -> 1/2 credit
    assert rb["subsets"]["Factuality"] == pytest.approx(0.5)
    # Ties: ref and tied both accurate; tied margin 1 (4 - 3) < spread 2 (6 - 4): preferred and
    # preferred_hard 0; margin score tanh(min(3, 1) / 2 - 1)
    ties = 0.30 + 0.30 + 0.01 * np.tanh(1 / 2 - 1)
    assert rb["subsets"]["Ties"] == pytest.approx(ties)
    assert rb["overall"] == pytest.approx((0.5 + ties) / 2)


def test_judgebench_ties_flag(tmp_path):
    out = tmp_path / "j.json"
    assert (
        main(
            [
                "meta-eval",
                "--data",
                f"judgebench:{FIX}/judgebench.jsonl",
                "--scorer",
                "length",
                "--resamples",
                "20",
                "-q",
                "--judgebench-ties",
                "wrong",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    jb = json.loads(out.read_text())["benchmark_rules"]["length"]
    assert jb["ties"] == "wrong" and jb["sources"]["knowledge"] == 1.0
    assert json.loads(out.read_text())["settings"]["judgebench_ties"] == "wrong"
    assert (
        main(
            [
                "meta-eval",
                "--data",
                f"judgebench:{FIX}/judgebench.jsonl",
                "--scorer",
                "length",
                "-q",
                "--judgebench-ties",
                "half",
            ]
        )
        == 2
    )
