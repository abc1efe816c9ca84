"""Perturbation and synthetic-style probes on a seeded, item-stratified sample of preference pairs:
the sample itself (deterministic, proportional per item, every pair equally likely), the probe on
the sample equal to the full computation restricted to it (and to the full computation when the
sample is everything), the statistics that are never sampled unchanged, the sample size in the
JSON and the tables, and the progress callbacks."""

import dataclasses
import json
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overcoat import api
from overcoat.data.builder import DatasetBuilder
from overcoat.metaeval.robustness import perturbation_sensitivity
from overcoat.metaeval.style import style_matrix
from overcoat.probes.spurious import (
    Rewrites,
    perturbation_probe,
    perturbed_dataset,
    preference_pairs,
    response_lengths,
    sample_pairs,
)
from overcoat.probes.style import SYNTHETIC_STYLES, synthetic_style_matrix
from overcoat.report.probes import perturbation_table, style_tables
from overcoat.report.writers import jsonable
from overcoat.scorers.base import PairwiseScorer

WORDS = "the a cat dog sat ran on under mat tree quickly slowly. big small red".split()


def ranked_dataset(n_items=12, sizes=(2, 3, 4, 5), seed=0):
    """Items with 2..5 responses of random text and distinct human scores (so 1..10 preference
    pairs per item, and a few human ties left out of the pairs)."""
    rng = np.random.default_rng(seed)
    b = DatasetBuilder("ranked")
    for i in range(n_items):
        b.add_item(f"i{i}", f"question {i} about {' '.join(rng.choice(WORDS, 3))}")
        k = sizes[i % len(sizes)]
        for j in range(k):
            text = " ".join(rng.choice(WORDS, int(rng.integers(2, 14))))
            b.add_response(f"i{i}", f"r{j}", text.capitalize() + ".")
            b.add_score(f"i{i}", f"r{j}", float(rng.integers(0, 4)))
    return b.build()


def lengths(d):
    return response_lengths(d)


# -- the sample ----------------------------------------------------------------------------


def test_sample_is_deterministic_proportional_and_in_pair_order():
    ds = ranked_dataset()
    item, pref, disp = preference_pairs(ds)
    N = item.size
    a = sample_pairs(ds, 10, seed=3)
    b = sample_pairs(ds, 10, seed=3)
    assert a.n_sampled == 10 and a.n_total == N and a.sampled
    for x, y in ((a.item, b.item), (a.preferred, b.preferred), (a.dispreferred, b.dispreferred)):
        np.testing.assert_array_equal(x, y)
    # a different seed draws another sample
    assert any(
        not np.array_equal(sample_pairs(ds, 10, seed=s).dispreferred, a.dispreferred)
        for s in range(4, 8)
    )
    # every sampled pair is a pair, in the order of preference_pairs
    full = list(zip(item.tolist(), pref.tolist(), disp.tolist()))
    where = [
        full.index(p) for p in zip(a.item.tolist(), a.preferred.tolist(), a.dispreferred.tolist())
    ]
    assert where == sorted(set(where))
    # stratified: each item gets its share n*m/N rounded down or up
    m = Counter(item.tolist())
    got = Counter(a.item.tolist())
    for it, mi in m.items():
        share = 10 * mi / N
        assert np.floor(share) <= got.get(it, 0) <= np.ceil(share)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60), st.integers(0, 2**31 - 1))
def test_sample_size_and_strata_for_any_n(n, seed):
    ds = ranked_dataset(n_items=9, seed=1)
    item = preference_pairs(ds)[0]
    N = item.size
    s = sample_pairs(ds, n, seed=seed)
    assert s.n_sampled == min(n, N) and s.n_total == N
    assert len(set(zip(s.item.tolist(), s.preferred.tolist(), s.dispreferred.tolist()))) == (
        s.n_sampled
    )
    m, got = Counter(item.tolist()), Counter(s.item.tolist())
    for it, mi in m.items():
        share = min(n, N) * mi / N
        assert np.floor(share) <= got.get(it, 0) <= np.ceil(share)


def test_every_pair_is_equally_likely():
    # over many seeds each pair is drawn with probability n/N (binomial: 4 SDs)
    ds = ranked_dataset(n_items=6, sizes=(2, 5, 3))
    item, pref, disp = preference_pairs(ds)
    N, n, runs = item.size, 7, 3000
    index = {p: k for k, p in enumerate(zip(item.tolist(), pref.tolist(), disp.tolist()))}
    hits = np.zeros(N)
    for seed in range(runs):
        s = sample_pairs(ds, n, seed=seed)
        for p in zip(s.item.tolist(), s.preferred.tolist(), s.dispreferred.tolist()):
            hits[index[p]] += 1
    p = n / N
    sd = np.sqrt(runs * p * (1 - p))
    assert np.all(np.abs(hits - runs * p) < 4 * sd), hits / runs


def test_all_or_more_is_every_pair_in_order():
    ds = ranked_dataset()
    item, pref, disp = preference_pairs(ds)
    for n in (None, item.size, item.size + 5):
        s = sample_pairs(ds, n, seed=9)
        assert not s.sampled and s.n_sampled == s.n_total == item.size
        np.testing.assert_array_equal(s.item, item)
        np.testing.assert_array_equal(s.preferred, pref)
        np.testing.assert_array_equal(s.dispreferred, disp)
    with pytest.raises(ValueError, match="at least 1"):
        sample_pairs(ds, 0)


def test_response_rows_name_the_pairs_responses():
    ds = ranked_dataset()
    s = sample_pairs(ds, 8, seed=2)
    layout = ds.layout()
    r, c = layout.positions()
    cell = {(int(a), int(b)): k for k, (a, b) in enumerate(zip(r, c))}
    want = sorted({cell[(int(i), int(d))] for i, d in zip(s.item, s.dispreferred)})
    assert s.response_rows(ds).tolist() == want
    both = {
        cell[(int(i), int(x))]
        for i, p, d in zip(s.item, s.preferred, s.dispreferred)
        for x in (p, d)
    }
    assert s.response_rows(ds, "both").tolist() == sorted(both)
    items = sorted(k for k, a in enumerate(r) if a in set(s.item.tolist()))
    assert s.response_rows(ds, "items").tolist() == items
    with pytest.raises(ValueError, match="side"):
        s.response_rows(ds, "left")


def test_rewrites_of_a_subset_are_the_full_rewrites_texts():
    ds = ranked_dataset()
    rows = np.array([1, 4, 5, 9])
    rw = Rewrites(ds, seed=4)
    sub = rw(("filler", "markdown"), rows)
    full = perturbed_dataset(perturbed_dataset(ds, "filler", seed=4), "markdown", seed=4)
    texts = full.responses.column("text").to_pylist()
    assert sub.responses.column("text").to_pylist() == [texts[i] for i in rows]
    assert rw(("filler", "markdown"), rows) is sub  # made once
    M = rw.scatter(sub, lengths(sub))
    Mfull = ds.to_matrix(lengths(full))
    r, c = ds.layout().positions()
    np.testing.assert_array_equal(M[r[rows], c[rows]], Mfull[r[rows], c[rows]])
    assert np.isnan(M).sum() == np.isnan(Mfull).sum() + ds.n_responses - rows.size
    # every row: the full copy itself
    assert rw(("filler",), np.arange(ds.n_responses)) is rw(("filler",))


# -- the probes on the sample --------------------------------------------------------------


def full_reference(ds, names, seed, n_resamples, pairs=None):
    """The computation before sampling: every response rewritten and rescored, then the pairs."""
    item, pref, disp = preference_pairs(ds) if pairs is None else pairs
    before = ds.to_matrix(lengths(ds))
    out = {}
    for name in names:
        after = ds.to_matrix(lengths(perturbed_dataset(ds, name, seed=seed)))
        out[name] = perturbation_sensitivity(
            before[item, pref],
            before[item, disp],
            after[item, disp],
            groups=item,
            n_resamples=n_resamples,
            seed=seed,
        )
    return out


def test_probe_on_everything_equals_the_full_computation_exactly():
    ds = ranked_dataset()
    names = ["filler", "truncate", "repeat"]
    want = full_reference(ds, names, seed=5, n_resamples=200)
    for n in (None, 10_000):
        got = perturbation_probe(
            ds,
            lengths(ds),
            lengths,
            names,
            seed=5,
            n_resamples=200,
            pairs=sample_pairs(ds, n, seed=5),
        )
        assert got == want  # dataclass equality: every estimate, CI and count
    assert perturbation_probe(ds, lengths(ds), lengths, names, seed=5, n_resamples=200) == want


def test_probe_on_a_sample_equals_the_full_computation_on_those_pairs():
    ds = ranked_dataset()
    s = sample_pairs(ds, 9, seed=1)
    seen = []

    def score(d):
        seen.append(d.n_responses)
        return lengths(d)

    got = perturbation_probe(
        ds, lengths(ds), score, ["filler", "confident"], seed=1, n_resamples=100, pairs=s
    )
    want = full_reference(
        ds,
        ["filler", "confident"],
        seed=1,
        n_resamples=100,
        pairs=(s.item, s.preferred, s.dispreferred),
    )
    assert got == want
    assert got["filler"].accuracy_before.n_pairs == 9
    # only the sampled pairs' dispreferred responses were rewritten and rescored
    assert seen == [s.response_rows(ds).size] * 2 and seen[0] < ds.n_responses


def test_synthetic_style_on_everything_equals_the_full_computation():
    ds = ranked_dataset()
    item, pref, disp = preference_pairs(ds)
    base = lengths(ds)
    cols = []
    for chain in SYNTHETIC_STYLES.values():
        d = ds
        for p in chain:
            d = perturbed_dataset(d, p, seed=2)
        cols.append(ds.to_matrix(lengths(d)))
    want = style_matrix(
        np.stack([M[item, pref] for M in cols], axis=1),
        np.stack([M[item, disp] for M in cols], axis=1),
        groups=item,
        styles=tuple(SYNTHETIC_STYLES),
        n_resamples=100,
        seed=2,
    )
    steps = []
    got = synthetic_style_matrix(
        ds,
        base,
        lengths,
        n_resamples=100,
        seed=2,
        pairs=sample_pairs(ds, None),
        on_step=lambda d, t: steps.append((d, t)),
    )
    np.testing.assert_array_equal(got.matrix, want.matrix)
    np.testing.assert_array_equal(got.matrix_ci, want.matrix_ci)
    assert got.easy == want.easy and got.hard == want.hard and got.n_rows == item.size
    assert steps == [(1, 2), (2, 2)]


def test_on_step_is_called_after_each_perturbation():
    ds = ranked_dataset()
    calls = []
    perturbation_probe(
        ds,
        lengths(ds),
        lengths,
        ["filler", "truncate", "flattery"],
        n_resamples=0,
        pairs=sample_pairs(ds, 5),
        on_step=lambda d, t: calls.append((d, t)),
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]


def same(a, b):
    return json.dumps(jsonable(a), sort_keys=True) == json.dumps(jsonable(b), sort_keys=True)


def _doc(ds, n, seed=0):
    return api.probe(
        ds,
        ["length"],
        perturbations=["filler", "truncate"],
        style=True,
        n_resamples=50,
        seed=seed,
        probe_pairs=n,
        cache=None,
        progress=False,
    )


def test_api_probe_reports_the_sample_and_leaves_unsampled_statistics_alone():
    ds = ranked_dataset()
    N = preference_pairs(ds)[0].size
    full, part = _doc(ds, None), _doc(ds, 7)
    assert full["probe_pairs"] == {
        "n_sampled": N,
        "n_total": N,
        "sampled": False,
        "stratified_by": "item",
        "seed": 0,
    }
    assert part["probe_pairs"]["n_sampled"] == 7 and part["probe_pairs"]["sampled"]
    assert part["probe_pairs"]["n_total"] == N
    # length bias is never sampled: the same numbers whatever the sample (NaN as text)
    assert same(part["scorers"], full["scorers"])
    assert part["perturbations"]["length"]["filler"]["accuracy_before"]["n_pairs"] == 7
    assert part["style"]["scorers"]["length"]["n_rows"] == 7
    assert full["perturbations"]["length"]["filler"]["accuracy_before"]["n_pairs"] == N
    # the full run equals the sampled one asked for every pair, and is deterministic
    assert same(_doc(ds, N)["perturbations"], full["perturbations"])
    assert same(_doc(ds, N)["style"], full["style"])
    assert same(_doc(ds, 7)["perturbations"], part["perturbations"])
    # nothing to rescore: nothing sampled
    assert (
        api.probe(ds, ["length"], n_resamples=0, cache=None, progress=False)["probe_pairs"] is None
    )
    # the tables say how many of how many
    title = str(perturbation_table(jsonable(part)).title)
    assert f"7 of {N} pairs" in title and "--probe-pairs all" in title
    assert f"all {N} pairs" in str(perturbation_table(full).title)
    assert f"7 of {N} pairs" in str(style_tables(part)[0].caption)


def test_cli_probe_pairs_on_bundled_data(tmp_path, capsys, monkeypatch):
    from overcoat.cli import main

    monkeypatch.setenv("OVERCOAT_CACHE", str(tmp_path / "cache.sqlite"))
    monkeypatch.setenv("COLUMNS", "250")
    out = tmp_path / "p.json"
    args = ["probe", "-d", "hh-harmless", "-s", "length", "--perturb", "filler"]
    code = main([*args, "--probe-pairs", "50", "--resamples", "20", "-q", "--json", str(out)])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    doc = json.loads(out.read_text())
    assert doc["probe_pairs"]["n_sampled"] == 50 and doc["probe_pairs"]["n_total"] == 2303
    assert doc["perturbations"]["length"]["filler"]["flip_rate"]["n_pairs"] <= 50
    assert "50 of 2,303 pairs" in cap.out
    code = main([*args, "--probe-pairs", "many", "-q"])
    assert code == 2 and "--probe-pairs" in capsys.readouterr().err


class LengthJudge(PairwiseScorer):
    """P(A better) = 1 when A is longer, 0 when shorter, 1/2 on equal lengths: a pure function of
    the two texts, so a rewritten response changes its verdicts."""

    name = "length-judge"
    cacheable = False

    def signature(self) -> str:
        return "length-judge"

    def compare_batch(self, inputs, responses_a, responses_b, references):
        a = np.array([len(x) for x in responses_a], float)
        b = np.array([len(x) for x in responses_b], float)
        return np.where(a > b, 1.0, np.where(a < b, 0.0, 0.5))


def judged_data(n=40):
    b = DatasetBuilder("judged")
    rng = np.random.default_rng(4)
    for i in range(n):
        b.add_item(f"i{i}", f"question {i}")
        b.add_response(f"i{i}", "x", " ".join(rng.choice(WORDS, int(rng.integers(2, 12)))))
        b.add_response(f"i{i}", "y", " ".join(rng.choice(WORDS, int(rng.integers(2, 12)))))
        b.add_preference(f"i{i}", "x", "y", "a" if i % 3 else "b")
    return b.build()


def test_a_pairwise_judge_rescores_whole_items_of_the_sample():
    ds = judged_data()
    judge = {"j": LengthJudge()}

    def doc(n):
        return api.probe(
            ds,
            judge,
            perturbations=["filler", "truncate"],
            n_resamples=50,
            probe_pairs=n,
            cache=None,
            progress=False,
        )

    full = doc(None)
    # reference: the judge on the fully rewritten data set, then the sampled pairs
    base = api.judge_pairs(ds, LengthJudge(), cache=None, progress=False).scores
    s = sample_pairs(ds, 15, seed=0)
    part = doc(15)
    assert part["probe_pairs"]["n_sampled"] == 15 and part["probe_pairs"]["n_total"] == 40
    for name in ("filler", "truncate"):
        pert = perturbed_dataset(ds, name, seed=0)
        after = ds.to_matrix(
            api.judge_pairs(pert, LengthJudge(), cache=None, progress=False).scores
        )
        before = ds.to_matrix(base)
        for pairs, got in (
            (preference_pairs(ds), full),
            ((s.item, s.preferred, s.dispreferred), part),
        ):
            item, pref, disp = pairs
            want = perturbation_sensitivity(
                before[item, pref],
                before[item, disp],
                after[item, disp],
                groups=item,
                n_resamples=50,
                seed=0,
            )
            assert same(got["perturbations"]["j"][name], dataclasses.asdict(want))


def test_every_builtin_perturbation_equals_the_per_text_seeded_loop():
    # apply_perturbation seeds no generator for the built-ins that draw nothing: same texts
    import hashlib

    from overcoat.probes.perturbations import PERTURBATIONS, apply_perturbation

    ds = ranked_dataset()
    texts = ds.responses.column("text").to_pylist()
    prompts = ["a prompt. With two sentences!"] * len(texts)
    keys = [f"k{i}" for i in range(len(texts))]
    for name, fn in PERTURBATIONS.items():
        want = []
        for t, p, k in zip(texts, prompts, keys):
            d = hashlib.blake2b(k.encode("utf-8"), digest_size=16).digest()
            rng = np.random.default_rng([7, *np.frombuffer(d, dtype="<u8").tolist()])
            want.append(fn(t, p, rng))
        assert apply_perturbation(name, texts, prompts, seed=7, keys=keys) == want, name
