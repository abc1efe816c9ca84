"""The ranking rule: a leaderboard whose primary statistic (tie-calibrated acc_eq) sits at the
all-ties baseline for most scorers is ranked by the next informative statistic, and says so; a
constant or random scorer is never placed above a scorer with real signal without a visible reason."""

import numpy as np
import pytest

from overcoat.data.builder import DatasetBuilder
from overcoat.data.scored import ScoredDataset
from overcoat.evaluation import MetaEvalSettings, at_no_signal, meta_evaluate, rank_statistic
from overcoat.metaeval import kendall_tau, tie_calibrated_accuracy
from overcoat.report.console import leaderboard_order, leaderboard_table, ranking_note
from overcoat.report.writers import jsonable


def collapsing_data(n_items=200, n_sys=6, seed=2):
    """Human scores with many gold ties (MQM-like: 70% of the outputs have no error, score 0, the
    others -1): tie calibration then (almost) calls every pair a tie. 'signal' is the human score
    plus noise, 'random' is noise, 'constant' is constant. With this seed random's acc_eq is a hair
    above signal's, as random's is above chrF's and BLEU's on TED en-de."""
    rng = np.random.default_rng(seed)
    H = np.where(rng.random((n_items, n_sys)) < 0.7, 0.0, -1.0)
    scores = {
        "constant": np.full_like(H, 3.0),
        "random": rng.random(H.shape),
        "signal": H + rng.normal(0, 2.0, H.shape),
    }
    b = DatasetBuilder("collapse")
    for i in range(n_items):
        b.add_item(f"i{i}", f"source {i}")
        for j in range(n_sys):
            b.add_response(f"i{i}", f"sys{j}", f"output {i} {j}")
            b.add_score(f"i{i}", f"sys{j}", H[i, j])
    ds = b.build()
    sd = ScoredDataset(ds)
    order = {(r["item_id"], r["response_id"]): k for k, r in enumerate(ds.responses.to_pylist())}
    for name, M in scores.items():
        v = np.empty(ds.n_responses)
        for i in range(n_items):
            for j in range(n_sys):
                v[order[(f"i{i}", f"sys{j}")]] = M[i, j]
        sd.scores[name] = v
        sd.signatures[name] = name
        sd.higher_is_better[name] = True
    return sd, H, scores


@pytest.fixture(scope="module")
def collapse():
    return collapsing_data()


def test_the_data_collapses_acc_eq(collapse):
    sd, H, scores = collapse
    r = {n: tie_calibrated_accuracy(H, M, group="item") for n, M in scores.items()}
    base = r["constant"].all_ties_baseline
    assert r["constant"].statistic == pytest.approx(base)
    # every scorer is within a hair of the all-ties baseline, random above signal
    assert all(abs(x.statistic - base) < 0.001 for x in r.values())
    assert r["random"].statistic > r["signal"].statistic
    # but the signal scorer clearly correlates with the humans, the others do not
    assert kendall_tau(H, scores["signal"], group="item").statistic > 0.2
    assert abs(kendall_tau(H, scores["random"], group="item").statistic) < 0.1


def test_without_the_rule_noise_ranks_first(collapse):
    sd, _, _ = collapse
    res = meta_evaluate(sd, MetaEvalSettings(n_resamples=200, rank_fallback=False, level="segment"))
    board = leaderboard_order(jsonable(res.to_json()))
    assert res.primary == "acc_eq" and res.ranking is None
    assert board[0] == "random"  # what the rule is there to prevent


def test_rule_ranks_by_kendall_and_says_so(collapse):
    sd, H, scores = collapse
    res = meta_evaluate(sd, MetaEvalSettings(n_resamples=200, level="segment"))
    assert res.primary == "kendall_tau_b"
    rk = res.ranking
    assert rk["requested"] == "acc_eq" and rk["statistic"] == "kendall_tau_b" and rk["informative"]
    assert rk["at_no_signal"]["acc_eq"] == ["constant", "random", "signal"]
    assert rk["collapsed"] == ["acc_eq"]
    assert set(rk["at_no_signal"]["kendall_tau_b"]) == {"constant", "random"}
    board = leaderboard_order(jsonable(res.to_json()))
    assert board[0] == "signal"
    assert board[-1] == "constant"  # undefined tau (a constant per item): last
    # significance and clusters are computed on the statistic the table is ranked by
    assert res.significance["statistic"] == "kendall_tau_b"
    cl = {s["name"]: s["cluster"] for s in res.scorers}
    assert cl["signal"] == 1 and cl["random"] > 1
    doc = jsonable(res.to_json())
    assert doc["primary_statistic"] == "kendall_tau_b" and doc["ranking"]["requested"] == "acc_eq"
    # the table title says why, and acc_eq with its epsilon and baseline stay visible
    note = ranking_note(doc)
    assert note.startswith("ranked by Kendall τb, not acc_eq (tie-cal.)")
    t = leaderboard_table(doc)
    assert note in str(t.title)
    heads = [c.header for c in t.columns]
    assert heads[2].startswith("Kendall τb") and "acc_eq (tie-cal.)" in heads and "ε" in heads
    assert any("no-signal" in n for n in res.notes)


def test_no_fallback_when_most_scorers_have_signal():
    # strong scorers: acc_eq separates them from the baseline, nothing changes
    rng = np.random.default_rng(0)
    H = rng.normal(size=(60, 5))
    seg = {}
    for k, noise in enumerate((0.1, 0.3, 0.5)):
        M = H + rng.normal(0, noise, H.shape)
        r = tie_calibrated_accuracy(H, M, group="item")
        seg[f"m{k}"] = {
            "acc_eq": {
                "statistic": r.statistic,
                "all_ties": r.all_ties,
                "all_ties_baseline": r.all_ties_baseline,
                "confidence_interval": [r.statistic - 0.02, r.statistic + 0.02],
            },
            "kendall_tau_b": {"statistic": 0.5, "confidence_interval": [0.4, 0.6]},
        }
    used, info = rank_statistic(seg, "acc_eq", list(seg))
    assert used == "acc_eq" and info["collapsed"] == [] and info["at_no_signal"]["acc_eq"] == []


def test_rank_statistic_chain_and_all_collapsed():
    def acc(lo, base=0.5, flag=False):
        return {
            "statistic": lo + 0.01,
            "confidence_interval": [lo, lo + 0.02],
            "all_ties_baseline": base,
            "all_ties": flag,
        }

    def cor(lo):
        return {"statistic": lo + 0.05, "confidence_interval": [lo, lo + 0.1]}

    seg = {
        "a": {"acc_eq": acc(0.49), "kendall_tau_b": cor(-0.05), "pearson": cor(0.1)},
        "b": {"acc_eq": acc(0.6, flag=True), "kendall_tau_b": cor(-0.02), "pearson": cor(0.2)},
        "c": {"acc_eq": acc(0.55), "kendall_tau_b": cor(0.3), "pearson": cor(-0.04)},
    }
    used, info = rank_statistic(seg, "acc_eq", ["a", "b", "c"])
    # acc_eq: a (CI reaches 0.5) and b (flag) at baseline; tau: a, b contain 0; pearson: only c
    assert used == "pearson" and info["collapsed"] == ["acc_eq", "kendall_tau_b"]
    assert info["at_no_signal"] == {
        "acc_eq": ["a", "b"],
        "kendall_tau_b": ["a", "b"],
        "pearson": ["c"],
    }
    for k in seg:
        seg[k]["pearson"] = cor(-0.01)
    used, info = rank_statistic(seg, "acc_eq", ["a", "b", "c"])
    assert used == "acc_eq" and not info["informative"]
    assert ranking_note({"ranking": info}).startswith("not informative")
    # exactly half at no signal is not a collapse
    used, _ = rank_statistic(
        {"a": {"acc_eq": acc(0.49)}, "b": {"acc_eq": acc(0.6)}}, "acc_eq", ["a", "b"]
    )
    assert used == "acc_eq"


def test_at_no_signal_cases():
    assert at_no_signal("acc_eq", None) and at_no_signal("pearson", {"statistic": None})
    assert at_no_signal(
        "acc_eq",
        {"statistic": 0.5, "all_ties": True, "all_ties_baseline": 0.5, "confidence_interval": None},
    )
    assert not at_no_signal(
        "acc_eq",
        {
            "statistic": 0.6,
            "all_ties": False,
            "all_ties_baseline": 0.5,
            "confidence_interval": [0.55, 0.65],
        },
    )
    assert at_no_signal("kendall_tau_b", {"statistic": 0.01, "confidence_interval": [-0.02, 0.04]})
    assert not at_no_signal(
        "kendall_tau_b", {"statistic": -0.2, "confidence_interval": [-0.3, -0.1]}
    )
    # no CI (--group none): only an undefined value or the all-ties flag count
    assert not at_no_signal("pearson", {"statistic": 0.0, "confidence_interval": None})
