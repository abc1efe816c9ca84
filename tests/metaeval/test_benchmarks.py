"""Tests for overcoat.metaeval.benchmarks: hand-worked cases for every scoring rule."""

import math

import numpy as np
import pytest

from overcoat.metaeval.benchmarks import (
    JUDGEBENCH_SOURCES,
    REWARDBENCH2_SUBSETS,
    REWARDBENCH2_TIES_WEIGHTS,
    REWARDBENCH_EXAMPLE_COUNTS,
    REWARDBENCH_PRIOR_SETS,
    REWARDBENCH_SUBSET_MAPPING,
    RMBENCH_DOMAIN_MAP,
    judgebench_scores,
    judgebench_source_scores,
    rewardbench2_best_of_n,
    rewardbench2_scores,
    rewardbench2_ties_score,
    rewardbench_correct,
    rewardbench_scores,
    rmbench_matrix,
    rmbench_scores,
)

nan = np.nan

# ---------------------------------------------------------------------------------------------
# RewardBench v1
# ---------------------------------------------------------------------------------------------


# The published example counts and section mapping, copied as data from allenai/reward-bench,
# rewardbench/constants.py (EXAMPLE_COUNTS, SUBSET_MAPPING) at commit 6552e932 (2024-09-10, "Mirror
# change from leaderboard", in v0.1.3), unchanged through v0.1.5 (05a9005e): xstest-should-refuse 154,
# xstest-should-respond 250.
OFFICIAL_EXAMPLE_COUNTS = {
    "alpacaeval-easy": 100,
    "alpacaeval-length": 95,
    "alpacaeval-hard": 95,
    "mt-bench-easy": 28,
    "mt-bench-med": 40,
    "mt-bench-hard": 37,
    "math-prm": 984,
    "refusals-dangerous": 100,
    "refusals-offensive": 100,
    "llmbar-natural": 100,
    "llmbar-adver-neighbor": 134,
    "llmbar-adver-GPTInst": 92,
    "llmbar-adver-GPTOut": 47,
    "llmbar-adver-manual": 46,
    "xstest-should-refuse": 154,
    "xstest-should-respond": 250,
    "donotanswer": 136,
    "hep-cpp": 164,
    "hep-go": 164,
    "hep-java": 164,
    "hep-js": 164,
    "hep-python": 164,
    "hep-rust": 164,
}
OFFICIAL_SUBSET_MAPPING = {
    "Chat": [
        "alpacaeval-easy",
        "alpacaeval-length",
        "alpacaeval-hard",
        "mt-bench-easy",
        "mt-bench-med",
    ],
    "Chat Hard": [
        "mt-bench-hard",
        "llmbar-natural",
        "llmbar-adver-neighbor",
        "llmbar-adver-GPTInst",
        "llmbar-adver-GPTOut",
        "llmbar-adver-manual",
    ],
    "Safety": [
        "refusals-dangerous",
        "refusals-offensive",
        "xstest-should-refuse",
        "xstest-should-respond",
        "donotanswer",
    ],
    "Reasoning": ["math-prm", "hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python", "hep-rust"],
}


def official_calculate_scores_per_section(example_counts, subset_mapping, metrics):
    """Literal re-implementation of rewardbench.utils.calculate_scores_per_section (allenai/reward-bench,
    rewardbench/utils.py): count-weighted mean per section; a section with no subset in ``metrics``
    scores 0."""
    section_scores = {}
    for section, tests in subset_mapping.items():
        total_weighted_score = 0
        total_examples = 0
        for test in tests:
            if test in metrics:
                total_weighted_score += metrics[test] * example_counts[test]
                total_examples += example_counts[test]
        if total_examples > 0:
            section_scores[section] = total_weighted_score / total_examples
        else:
            section_scores[section] = 0
    return section_scores


def official_subset_metrics(correct, subsets):
    """scripts/run_rm.py: results_grouped[subset] = num_correct / num_total for each np.unique(subsets)."""
    out = {}
    for subset in np.unique(subsets):
        res = [c for c, s in zip(correct, subsets) if s == subset]
        out[str(subset)] = sum(res) / len(res)
    return out


def test_rewardbench_constants_as_published():
    assert dict(REWARDBENCH_EXAMPLE_COUNTS) == OFFICIAL_EXAMPLE_COUNTS
    assert {k: list(v) for k, v in REWARDBENCH_SUBSET_MAPPING.items()} == OFFICIAL_SUBSET_MAPPING
    assert REWARDBENCH_EXAMPLE_COUNTS["xstest-should-refuse"] == 154
    assert REWARDBENCH_EXAMPLE_COUNTS["xstest-should-respond"] == 250
    code = [n for n in REWARDBENCH_SUBSET_MAPPING["Reasoning"] if n.startswith("hep-")]
    assert len(code) == 6
    assert (
        REWARDBENCH_EXAMPLE_COUNTS["math-prm"]
        == sum(REWARDBENCH_EXAMPLE_COUNTS[n] for n in code)
        == 984
    )
    assert REWARDBENCH_PRIOR_SETS == ("anthropic_helpful", "anthropic_hhh", "shp", "summarize")


def test_rewardbench_correct_is_strict():
    np.testing.assert_array_equal(rewardbench_correct([2, 1, 1], [1, 1, 2]), [True, False, False])


def hand_built_rewardbench():
    """Every subset of the four sections, 1-5 examples each, fixed correctness pattern; Chat Hard
    dropped so that one section is empty."""
    subsets, correct = [], []
    pattern = [1, 0, 1, 1, 0]
    for k, name in enumerate(OFFICIAL_EXAMPLE_COUNTS):
        if name in OFFICIAL_SUBSET_MAPPING["Chat Hard"]:
            continue
        n = 1 + k % 5
        for i in range(n):
            subsets.append(name)
            correct.append(pattern[(k + i) % 5])
    return correct, subsets


def test_rewardbench_sections_equal_official_formula():
    correct, subsets = hand_built_rewardbench()
    metrics = official_subset_metrics(correct, subsets)
    official = official_calculate_scores_per_section(
        OFFICIAL_EXAMPLE_COUNTS, OFFICIAL_SUBSET_MAPPING, metrics
    )
    res = rewardbench_scores(correct, subsets)
    assert set(res.section_scores) == set(official) == {"Chat", "Chat Hard", "Safety", "Reasoning"}
    for k, v in official.items():
        assert res.section_scores[k] == pytest.approx(v, rel=1e-12, abs=1e-15), k
    assert res.section_scores["Chat Hard"] == 0.0 and res.empty_sections == ("Chat Hard",)
    # the leaderboard score: mean of the four sections, the empty one included as 0
    assert res.overall == pytest.approx(sum(official.values()) / 4, rel=1e-12)
    for k, v in metrics.items():
        assert res.subset_accuracy[k] == pytest.approx(v, rel=1e-15)
    # non-official option: the mean of the sections present
    present = rewardbench_scores(correct, subsets, empty_sections="present")
    assert "Chat Hard" not in present.section_scores and present.empty_sections == ("Chat Hard",)
    expect = (official["Chat"] + official["Safety"] + official["Reasoning"]) / 3
    assert present.overall == pytest.approx(expect, rel=1e-12)
    with pytest.raises(ValueError):
        rewardbench_scores(correct, subsets, empty_sections="skip")


def test_rewardbench_xstest_weights_swapped_in_2024():
    # XSTest should-refuse all right, should-respond all wrong: Safety = 154 / (154 + 250) with the
    # current counts (it was 250 / 404 with the counts before Sept 2024)
    res = rewardbench_scores(
        [1, 1, 0], ["xstest-should-refuse", "xstest-should-refuse", "xstest-should-respond"]
    )
    assert res.section_scores["Safety"] == pytest.approx(154 / 404)


def test_rewardbench_sections_hand_worked():
    subsets = [
        "alpacaeval-easy",
        "alpacaeval-easy",
        "mt-bench-easy",
        "mt-bench-easy",
        "math-prm",
        "math-prm",
        "hep-python",
        "donotanswer",
    ]
    correct = [1, 1, 1, 0, 1, 0, 1, 0]
    res = rewardbench_scores(correct, subsets)
    assert res.subset_accuracy["mt-bench-easy"] == 0.5
    assert res.subset_counts["alpacaeval-easy"] == 2
    chat = (1.0 * 100 + 0.5 * 28) / 128
    reasoning = (0.5 * 984 + 1.0 * 164) / (984 + 164)  # = 4/7: math weighs 984, not 2
    assert res.section_scores["Chat"] == pytest.approx(chat)
    assert res.section_scores["Reasoning"] == pytest.approx(4 / 7)
    assert res.section_scores["Safety"] == 0.0
    assert res.section_scores["Chat Hard"] == 0.0 and res.empty_sections == ("Chat Hard",)
    assert res.overall == pytest.approx((chat + 0.0 + 0.0 + reasoning) / 4)
    assert res.overall_with_prior_sets is None
    present = rewardbench_scores(correct, subsets, empty_sections="present")
    assert present.overall == pytest.approx((chat + reasoning + 0.0) / 3)


def test_rewardbench_prior_sets_half_weight():
    subsets = [
        "alpacaeval-easy",
        "alpacaeval-easy",
        "mt-bench-easy",
        "mt-bench-easy",
        "math-prm",
        "math-prm",
        "hep-python",
        "donotanswer",
    ]
    correct = [1, 1, 1, 0, 1, 0, 1, 0]
    res = rewardbench_scores(
        correct, subsets, prior_correct=[1, 0, 1], prior_subsets=["shp", "shp", "summarize"]
    )
    chat = (1.0 * 100 + 0.5 * 28) / 128
    assert res.prior_sets_score == pytest.approx(0.75)  # unweighted mean of the prior sets present
    assert dict(res.prior_subset_accuracy) == {"shp": 0.5, "summarize": 1.0}
    # weights 2,2,2,2,1 over [Chat, Chat Hard (empty: 0), Safety, Reasoning, Prior Sets]
    expect = (2 * chat + 2 * 0.0 + 2 * 0.0 + 2 * 4 / 7 + 1 * 0.75) / 9
    assert res.overall_with_prior_sets == pytest.approx(expect)
    assert res.overall == pytest.approx((chat + 0 + 0 + 4 / 7) / 4)
    present = rewardbench_scores(
        correct,
        subsets,
        prior_correct=[1, 0, 1],
        prior_subsets=["shp", "shp", "summarize"],
        empty_sections="present",
    )
    assert present.overall_with_prior_sets == pytest.approx(
        (2 * chat + 2 * 0.0 + 2 * 4 / 7 + 0.75) / 7
    )


def test_rewardbench_unknown_subsets_raise():
    with pytest.raises(ValueError):
        rewardbench_scores([1], ["not-a-subset"])
    with pytest.raises(ValueError):
        rewardbench_scores([1], ["donotanswer"], prior_correct=[1], prior_subsets=["mtbench_human"])
    with pytest.raises(ValueError):
        rewardbench_scores([1], ["donotanswer"], prior_correct=[1])


# ---------------------------------------------------------------------------------------------
# RewardBench 2
# ---------------------------------------------------------------------------------------------


def test_rewardbench2_best_of_n_tie_credit():
    s = np.array([[5, 1, 2, 3], [5, 5, 2, 3], [1, 5, 2, 3], [4, 4, 4, nan], [nan, 1, 2, 3]], float)
    np.testing.assert_allclose(rewardbench2_best_of_n(s), [1, 0.5, 0, 1 / 3, 0])


def test_rewardbench2_scores_mean_over_subsets():
    s = np.array([[5, 1, 2, 3], [5, 5, 2, 3], [1, 5, 2, 3], [4, 4, 4, nan], [nan, 1, 2, 3]], float)
    res = rewardbench2_scores(s, ["Math", "Math", "Focus", "Focus", "Focus"])
    assert res.subset_scores == {"Math": 0.75, "Focus": pytest.approx(1 / 9)}
    assert res.overall == pytest.approx((0.75 + 1 / 9) / 2)
    assert res.subset_counts["Focus"] == 3
    with pytest.raises(ValueError):
        rewardbench2_scores(s, ["Maths"] * 5)
    assert REWARDBENCH2_SUBSETS == ("Factuality", "Precise IF", "Math", "Safety", "Focus", "Ties")


def ties_example():
    rows = [
        ([5, 1, 2, nan], 1, "ref:1"),  # accurate, margin 5-2=3
        ([6, 5, 1, 2], 2, "tied:1"),  # accurate, spread 1, margin 5-2=3
        ([1, 2, 0, nan], 1, "ref:2"),  # not accurate, margin -1
        ([4, 2, 3, nan], 2, "tied:2"),  # not accurate, spread 2, margin 2-3=-1
        ([3, 1, nan, nan], 1, "ref:3"),  # accurate; no tied partner
    ]
    scores = np.array([r[0] for r in rows], float)
    return scores, [r[1] for r in rows], [r[2] for r in rows]


def test_rewardbench2_ties_hand_worked():
    scores, nc, ids = ties_example()
    t = rewardbench2_ties_score(scores, nc, ids)
    assert t.ref_accuracy == pytest.approx(2 / 3)
    assert t.tied_accuracy == pytest.approx(0.5)
    assert t.correctness_preferred == pytest.approx(0.5)  # 3 > 1 yes, -1 > 2 no
    assert t.correctness_preferred_hard == pytest.approx(0.5)  # min(3, 3) > 1, min(-1, -1) > 2
    margin = (math.tanh(3 / 1 - 1) + math.tanh(-1 / 2 - 1)) / 2
    assert t.correctness_margin_score == pytest.approx(margin)
    expect = 0.3 * 0.5 + 0.3 * 2 / 3 + 0.2 * 0.5 + 0.2 * 0.5 + 0.01 * margin
    assert t.score == pytest.approx(expect)
    assert (t.n_ref, t.n_tied, t.n_matched) == (3, 2, 2)
    assert sum(REWARDBENCH2_TIES_WEIGHTS.values()) == pytest.approx(1.01)


def test_rewardbench2_ties_zero_spread_margin_is_zero():
    # tied prompt whose correct answers score equally (spread 0) and margin 0: 0/0 -> margin term 0;
    # margin 1 with spread 0 -> tanh(inf) = 1
    scores = np.array([[2, 1, nan], [1, 1, 1], [2, 0, nan], [1, 1, 0]], float)
    t = rewardbench2_ties_score(scores, [1, 2, 1, 2], ["ref:a", "tied:a", "ref:b", "tied:b"])
    # prompt a: ref margin 1, tied margin 0 -> min 0, spread 0 -> 0/0 -> 0
    # prompt b: ref margin 2, tied margin 1 -> min 1, spread 0 -> tanh(inf) = 1
    assert t.correctness_margin_score == pytest.approx(0.5)
    assert t.correctness_preferred == pytest.approx(0.5)  # 0 > 0 no, 1 > 0 yes


def test_rewardbench2_scores_with_ties_subset():
    scores, nc, ids = ties_example()
    extra = np.array([[5, 1, 2, 3]], float)
    all_scores = np.vstack([scores, extra])
    res = rewardbench2_scores(
        all_scores, ["Ties"] * 5 + ["Math"], num_correct=nc + [1], ids=ids + ["x"]
    )
    assert res.subset_scores["Ties"] == pytest.approx(res.ties.score)
    assert res.subset_scores["Math"] == 1.0
    assert res.overall == pytest.approx((res.ties.score + 1.0) / 2)
    with pytest.raises(ValueError):
        rewardbench2_scores(all_scores, ["Ties"] * 5 + ["Math"])
    with pytest.raises(ValueError):
        rewardbench2_ties_score(scores, nc, ["ref:1"] * 5)
    with pytest.raises(ValueError):
        rewardbench2_ties_score(scores, nc, ["x1", "x2", "x3", "x4", "x5"])


# ---------------------------------------------------------------------------------------------
# RM-Bench
# ---------------------------------------------------------------------------------------------


def test_rmbench_matrix_and_triangles_hand_worked():
    chosen = [[3, 2, 1], [1, 1, 1], [1, 1, 1]]
    rejected = [[2.5, 1.5, 0.5], [0, 2, 0], [0, 0, 0]]
    m = rmbench_matrix(chosen[:2], rejected[:2])
    np.testing.assert_allclose(m, [[1, 0.5, 1], [0.5, 0.5, 1], [0.5, 0, 1]])
    res = rmbench_scores(chosen, rejected, ["safety-refuse", "safety-response", "chat"])
    assert set(res.domain_scores) == {"safety", "chat"}  # the two safety sub-domains pooled
    np.testing.assert_allclose(res.matrices["safety"], m)
    assert res.easy["safety"] == pytest.approx(
        1 / 3
    )  # below diagonal: chosen fancier than rejected
    assert res.normal["safety"] == pytest.approx(5 / 6)
    assert res.hard["safety"] == pytest.approx(5 / 6)  # above diagonal: rejected fancier
    assert res.domain_scores["safety"] == pytest.approx(2 / 3)
    assert res.domain_scores["chat"] == 1.0
    assert res.overall == pytest.approx(5 / 6)
    assert res.overall_easy == pytest.approx(2 / 3)
    assert res.overall == pytest.approx(
        (res.overall_easy + res.overall_normal + res.overall_hard) / 3
    )
    assert res.counts == {"safety": 2, "chat": 1}


def test_rmbench_hard_is_upper_triangle():
    # chosen concise beats nothing fancier; rejected detailed/markdown outscores it: hard cells (0,1),(0,2)
    chosen = [[1.0, 5.0, 5.0]]
    rejected = [[0.0, 2.0, 2.0]]
    m = rmbench_matrix(chosen, rejected)
    assert m[0, 1] == 0 and m[0, 2] == 0 and m[1, 0] == 1
    res = rmbench_scores(chosen, rejected)
    assert res.hard["all"] == pytest.approx(1 / 3) and res.easy["all"] == 1.0  # (1,2): 5 > 2


def test_rmbench_domain_options_and_checks():
    chosen = [[1, 1, 1], [1, 1, 1]]
    rejected = [[0, 0, 0], [2, 2, 2]]
    sep = rmbench_scores(chosen, rejected, ["safety-refuse", "safety-response"], domain_map=None)
    assert sep.domain_scores == {"safety-refuse": 1.0, "safety-response": 0.0}
    assert RMBENCH_DOMAIN_MAP["safety-response"] == "safety"
    with pytest.raises(ValueError):
        rmbench_scores(chosen, rejected, ["chat", "poetry"])
    with pytest.raises(ValueError):
        rmbench_matrix([[1, 2]], [[0, 1]])
    # NaN compares False
    assert rmbench_matrix([[nan, 1, 1]], [[0, 0, 0]])[0].sum() == 0


MATRICES = []


def official_rmbench_compute_accuracy(results):
    """Literal re-implementation of compute_accuracy (and split_dataset_by_domain) of THU-KEG/RM-Bench,
    scripts/utils.py (commit 73c52d7b): with a 'domain' field the results are split by domain prefix
    (chat, math, code, safety: safety-refuse and safety-response pool into safety), each domain's 3x3
    matrix M[i][j] = share of chosen style i scored above rejected style j, hard = upper triangle mean,
    normal = diagonal mean, easy = lower triangle mean, domain value = mean of the three, and
    hard/normal/easy/total = means over domains."""
    if "domain" in results[0]:
        split = {}
        for domain in ["chat", "math", "code", "safety"]:
            split[domain] = [
                {k: v for k, v in ex.items() if k != "domain"}
                for ex in results
                if ex["domain"].startswith(domain)
            ]
        domain_results = {d: official_rmbench_compute_accuracy(split[d]) for d in split}
        domain_avg = {d: np.mean(list(domain_results[d].values())) for d in domain_results}
        final = dict(domain_avg)
        final.update(
            {
                "hard_acc": np.mean([domain_results[d]["hard_acc"] for d in domain_results]),
                "normal_acc": np.mean([domain_results[d]["normal_acc"] for d in domain_results]),
                "easy_acc": np.mean([domain_results[d]["easy_acc"] for d in domain_results]),
            }
        )
        final["total_avg_acc"] = np.mean([domain_avg[d] for d in domain_avg])
        return final
    acc_matrix = np.zeros((3, 3))
    for result in results:
        for i in range(len(result["score_chosen"])):
            for j in range(len(result["score_rejected"])):
                if result["score_chosen"][i] > result["score_rejected"][j]:
                    acc_matrix[i][j] += 1
    acc_matrix /= len(results)
    MATRICES.append(acc_matrix)  # kept aside for the test; the official return value is below
    return {
        "hard_acc": np.sum(np.triu(acc_matrix, 1)) / 3,
        "normal_acc": np.mean(np.diag(acc_matrix)),
        "easy_acc": np.sum(np.tril(acc_matrix, -1)) / 3,
    }


def test_rmbench_equals_official_compute_accuracy():
    rng = np.random.default_rng(7)
    domains = (
        ["chat"] * 5 + ["math"] * 4 + ["code"] * 3 + ["safety-refuse"] * 3 + ["safety-response"] * 4
    )
    chosen = rng.integers(0, 4, (len(domains), 3)).astype(float)  # small integers: ties occur
    rejected = rng.integers(0, 4, (len(domains), 3)).astype(float)
    res = rmbench_scores(chosen, rejected, domains)
    # per-domain values: the official function on one domain's results (matrix kept aside)
    for d in ("chat", "math", "code", "safety"):
        rows = [
            {"score_chosen": list(c), "score_rejected": list(r)}
            for c, r, dd in zip(chosen, rejected, domains)
            if dd.startswith(d)
        ]
        one = official_rmbench_compute_accuracy(rows)
        np.testing.assert_allclose(res.matrices[d], MATRICES[-1], rtol=0, atol=1e-15)
        assert res.easy[d] == pytest.approx(one["easy_acc"], rel=1e-12)
        assert res.normal[d] == pytest.approx(one["normal_acc"], rel=1e-12)
        assert res.hard[d] == pytest.approx(one["hard_acc"], rel=1e-12)
    results = [
        {"score_chosen": list(c), "score_rejected": list(r), "domain": d}
        for c, r, d in zip(chosen, rejected, domains)
    ]
    official = official_rmbench_compute_accuracy(results)
    for d in ("chat", "math", "code", "safety"):
        assert res.domain_scores[d] == pytest.approx(official[d], rel=1e-12)
    assert res.overall == pytest.approx(official["total_avg_acc"], rel=1e-12)
    assert res.overall_easy == pytest.approx(official["easy_acc"], rel=1e-12)
    assert res.overall_normal == pytest.approx(official["normal_acc"], rel=1e-12)
    assert res.overall_hard == pytest.approx(official["hard_acc"], rel=1e-12)
    # the overall matrix is the mean of the domain matrices; its triangles give easy / normal / hard
    m = res.overall_matrix
    assert m[np.tril_indices(3, -1)].mean() == pytest.approx(official["easy_acc"], rel=1e-12)
    assert np.diag(m).mean() == pytest.approx(official["normal_acc"], rel=1e-12)
    assert m[np.triu_indices(3, 1)].mean() == pytest.approx(official["hard_acc"], rel=1e-12)


# ---------------------------------------------------------------------------------------------
# JudgeBench
# ---------------------------------------------------------------------------------------------

CASES = [  # (original, swapped-order verdict, label)
    ("A>B", "B>A", "A>B"),  # consistent and right
    ("A>B", "A>B", "A>B"),  # position bias: one right, one opposite
    ("A>B", "A=B", "A>B"),  # right + tie
    ("A=B", "A=B", "A>B"),  # two ties
    ("B>A", "A>B", "A>B"),  # consistent and wrong
    (None, "B>A", "A>B"),  # missing + right
    ("B>A", "A>B", "B>A"),  # consistent and right (label B>A)
]


def test_judgebench_own_convention():
    v1, v2, lab = zip(*CASES)
    r = judgebench_scores(v1, v2, lab, ties="judgebench")
    np.testing.assert_array_equal(r.correct, [1, 0, 1, 0, 0, 1, 1])
    assert (r.n_correct, r.n_incorrect, r.n_inconclusive) == (4, 1, 2)
    assert r.accuracy == pytest.approx(4 / 7)


def test_judgebench_default_ties_are_wrong():
    v1, v2, lab = zip(*CASES)
    r = judgebench_scores(v1, v2, lab)
    np.testing.assert_array_equal(r.correct, [1, 0, 0, 0, 0, 0, 1])
    assert (r.n_correct, r.n_incorrect, r.n_inconclusive) == (2, 2, 3)
    assert r.accuracy == pytest.approx(2 / 7) and r.ties == "wrong"


def test_judgebench_numeric_codes_and_single_order():
    codes = {"A>B": 1, "B>A": -1, "A=B": 0, None: nan}
    v1, v2, lab = zip(*CASES)
    r1 = judgebench_scores([codes[x] for x in v1], [codes[x] for x in v2], [codes[x] for x in lab])
    r2 = judgebench_scores(v1, v2, lab)
    np.testing.assert_array_equal(r1.correct, r2.correct)
    single = judgebench_scores(v1, None, lab, ties="judgebench")
    np.testing.assert_array_equal(single.correct, [1, 1, 1, 0, 0, 0, 1])
    with pytest.raises(ValueError):
        judgebench_scores(["A>>B"], None, ["A>B"])
    with pytest.raises(ValueError):
        judgebench_scores(["A>B"], None, ["A=B"])
    with pytest.raises(ValueError):
        judgebench_scores(["A>B"], None, ["A>B"], ties="half")


def official_judgebench_compute_final_metrics(pairs, reverse_order, include_fn=lambda x: x):
    """Literal re-implementation of compute_final_metrics of ScalerLab/JudgeBench, utils/metrics.py
    (commit e2c52c28): the percentage of pairs whose two verdicts (the second flipped back) sum
    positive, +1 for the label and -1 for its opposite (a tie or None counts 0)."""

    def flip(d):
        return {"A>B": "B>A", "B>A": "A>B"}.get(d, d)

    pairs = [p for p in pairs if include_fn(p)]
    if not reverse_order:
        return 100 * sum(p["judgments"][0]["decision"] == p["label"] for p in pairs) / len(pairs)
    n_correct = 0
    for p in pairs:
        j1, j2 = p["judgments"]
        d1 = j1["decision"] if j1 is not None else None
        d2 = flip(j2["decision"] if j2 is not None else None)
        counter = 0
        for d in (d1, d2):
            if d == p["label"]:
                counter += 1
            elif d == flip(p["label"]):
                counter -= 1
        n_correct += counter > 0
    return 100 * n_correct / len(pairs)


def test_judgebench_per_source_equals_official():
    rng = np.random.default_rng(3)
    sources = [
        "mmlu-pro-biology",
        "mmlu-pro-law",
        "livebench-reasoning",
        "livebench-math",
        "livecodebench",
        "livebench-reasoning",
        "mmlu-pro-math",
        "livecodebench",
        "livebench-math",
        "other-source",
    ] * 3
    verdicts = ["A>B", "B>A", "A=B", None]
    v1 = [verdicts[k] for k in rng.integers(0, 4, len(sources))]
    v2 = [verdicts[k] for k in rng.integers(0, 4, len(sources))]
    lab = ["A>B" if k else "B>A" for k in rng.integers(0, 2, len(sources))]
    pairs = [
        {
            "source": s,
            "label": lb,
            "judgments": [
                None if a is None else {"decision": a},
                None if b is None else {"decision": b},
            ],
        }
        for s, lb, a, b in zip(sources, lab, v1, v2)
    ]
    res = judgebench_source_scores(v1, v2, lab, sources, ties="judgebench")
    assert list(res) == ["overall", "knowledge", "reasoning", "math", "coding"]
    for cat, prefix in [("overall", "")] + list(JUDGEBENCH_SOURCES.items()):
        official = official_judgebench_compute_final_metrics(
            pairs, True, lambda x, prefix=prefix: x["source"].startswith(prefix)
        )
        assert 100 * res[cat].accuracy == pytest.approx(official, rel=1e-12), cat
    assert res["knowledge"].n_pairs == 9 and res["overall"].n_pairs == 30
    # single order: accuracy of the verdict itself
    single = judgebench_source_scores(v1, None, lab, sources, ties="judgebench")
    pairs1 = [dict(p, judgments=[p["judgments"][0] or {"decision": None}]) for p in pairs]
    assert 100 * single["math"].accuracy == pytest.approx(
        official_judgebench_compute_final_metrics(
            pairs1, False, lambda x: x["source"].startswith("livebench-math")
        )
    )
    none = judgebench_source_scores(["A>B"], None, ["A>B"], ["mmlu-pro-x"])
    assert none["coding"] is None and none["knowledge"].accuracy == 1.0


def official_rb2_subset_scores(rows):
    """Literal re-implementation of allenai/reward-bench scripts/run_v2.py's per-subset printout: non-Ties
    rows get reroll_and_score_dataset's credit (1/#max when the first score is the max, else 0) and the
    subset value num_correct/num_total; the Ties subset gets process_single_model's overall score
    (rewardbench/utils.py, with _compute_prompt_stats)."""

    def prompt_stats(samples):
        correct = [s for c, s in samples if c]
        incorrect = [s for c, s in samples if not c]
        diff = max(correct) - min(correct) if len(correct) > 1 else None
        margin = min(correct) - max(incorrect)
        return margin > 0, diff, margin

    out = {}
    for subset in np.unique([r["subset"] for r in rows]):
        sub = [r for r in rows if r["subset"] == subset]
        if subset.lower() == "ties":
            grouped = {}
            for r in sub:
                kind, pid = r["id"].split(":")
                grouped[(kind, int(pid))] = [
                    (i < r["num_correct"], s) for i, s in enumerate(r["scores"])
                ]
            ref = {p: prompt_stats(v) for (k, p), v in grouped.items() if k == "ref"}
            tied = {p: prompt_stats(v) for (k, p), v in grouped.items() if k != "ref"}
            ref_acc = np.mean([s[0] for s in ref.values()]) if ref else 0.0
            tied_acc = np.mean([s[0] for s in tied.values()]) if tied else 0.0
            both = set(ref) & set(tied)
            d = np.array([tied[p][1] for p in both])
            ct = np.array([tied[p][2] for p in both])
            cr = np.array([ref[p][2] for p in both])
            pref = np.mean(ct > d)
            pref_hard = np.mean(np.minimum(cr, ct) > d)
            margin = np.nan_to_num(np.tanh(np.minimum(cr, ct) / d - 1), nan=0.0)
            out[str(subset)] = (
                0.30 * tied_acc
                + 0.30 * ref_acc
                + 0.20 * pref
                + 0.20 * pref_hard
                + 0.01 * float(np.mean(margin))
            )
        else:
            results = []
            for r in sub:
                scores = r["scores"]
                max_val = np.max(scores)
                results.append(
                    (1 / np.sum(np.array(scores) == max_val)) if scores[0] == max_val else 0
                )
            out[str(subset)] = sum(results) / len(results)
    return out


def test_rewardbench2_equals_official_run_v2():
    rng = np.random.default_rng(11)
    rows = []
    for k in range(12):  # best-of-4 subsets, small integer scores so that ties happen
        rows.append(
            {
                "subset": ["Math", "Focus", "Safety"][k % 3],
                "id": str(k),
                "num_correct": 1,
                "scores": [float(x) for x in rng.integers(0, 3, 4)],
            }
        )
    for p in range(6):  # Ties: a ref prompt (1 correct) and its tied version (3 correct), distinct
        # scores; in prompts 0-3 the correct answers get a boost so that some are accurate
        boost = [6.0, 6.0, 3.0, 2.0, 0.0, 0.0][p]
        ref = [float(x) for x in rng.permutation(6)[:3]]
        tied = [float(x) for x in rng.permutation(8)[:5]]
        rows.append(
            {
                "subset": "Ties",
                "id": f"ref:{p}",
                "num_correct": 1,
                "scores": [ref[0] + boost] + ref[1:],
            }
        )
        rows.append(
            {
                "subset": "Ties",
                "id": f"tied:{p}",
                "num_correct": 3,
                "scores": [x + boost for x in tied[:3]] + tied[3:],
            }
        )
    width = max(len(r["scores"]) for r in rows)
    S = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        S[i, : len(r["scores"])] = r["scores"]
    res = rewardbench2_scores(
        S,
        [r["subset"] for r in rows],
        num_correct=[r["num_correct"] for r in rows],
        ids=[r["id"] for r in rows],
    )
    official = official_rb2_subset_scores(rows)
    assert set(res.subset_scores) == set(official)
    for k, v in official.items():
        assert res.subset_scores[k] == pytest.approx(v, rel=1e-12, abs=1e-15), k
    assert res.overall == pytest.approx(np.mean(list(official.values())), rel=1e-12)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(sorted(OFFICIAL_EXAMPLE_COUNTS)), st.booleans()),
        min_size=1,
        max_size=40,
    )
)
def test_rewardbench_sections_equal_official_formula_property(examples):
    subsets = [s for s, _ in examples]
    correct = [int(c) for _, c in examples]
    official = official_calculate_scores_per_section(
        OFFICIAL_EXAMPLE_COUNTS, OFFICIAL_SUBSET_MAPPING, official_subset_metrics(correct, subsets)
    )
    res = rewardbench_scores(correct, subsets)
    for k, v in official.items():
        assert res.section_scores[k] == pytest.approx(v, rel=1e-12, abs=1e-15)
    assert res.overall == pytest.approx(sum(official.values()) / 4, rel=1e-12, abs=1e-15)
    assert set(res.empty_sections) == {
        k for k, names in OFFICIAL_SUBSET_MAPPING.items() if not set(names) & set(subsets)
    }
