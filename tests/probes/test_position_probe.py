"""Position bias through api.probe: a fake pairwise judge with a known bias (a Python
PairwiseScorer), hand cases, and pointwise scorers reported as not applicable."""

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

from overcoat import api
from overcoat.data.builder import DatasetBuilder
from overcoat.probes.position import NOT_APPLICABLE, judged_pairs
from overcoat.scorers.base import PairwiseScorer


def _coin(*parts: str) -> float:
    """A deterministic uniform number from the texts (so the fake judge is a pure function)."""
    h = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") / 2**64


class FakeJudge(PairwiseScorer):
    """Knows the truth (a response containing 'good' is better); with probability ``bias`` per
    question it answers "the first one" regardless."""

    name = "fake-judge"
    cacheable = False

    def __init__(self, bias: float):
        self.bias = bias
        self.asked: list[tuple[str, str]] = []

    def signature(self) -> str:
        return f"fake-judge|bias:{self.bias}"

    def verdict(self, inp, first, second) -> float:
        if _coin(inp, first, second) < self.bias:
            return 1.0
        g1, g2 = "good" in first, "good" in second
        return 1.0 if g1 and not g2 else 0.0 if g2 and not g1 else 0.5

    def compare_batch(self, inputs, responses_a, responses_b, references):
        self.asked += list(zip(responses_a, responses_b))
        return np.array([self.verdict(*t) for t in zip(inputs, responses_a, responses_b)])


def pref_data(n=200):
    b = DatasetBuilder("prefs")
    for i in range(n):
        b.add_item(f"i{i}", f"question {i}")
        b.add_response(f"i{i}", "x", f"good answer {i}")
        b.add_response(f"i{i}", "y", f"bad answer {i}")
        # the human-preferred response is A in even items, B in odd ones
        if i % 2 == 0:
            b.add_preference(f"i{i}", "x", "y", "a")
        else:
            b.add_preference(f"i{i}", "y", "x", "b")
    return b.build()


def test_fake_judge_position_bias_equals_a_loop():
    ds = pref_data()
    judge = FakeJudge(0.3)
    doc = api.probe(ds, {"fake": judge}, n_resamples=200, seed=1, cache=None, progress=False)
    r = doc["position_bias"]["fake"]
    assert r["applicable"] is True and r["n_pairs"] == 200 and r["n_missing"] == 0
    # the probe asked both orders of every judged pair, one order per question
    pairs = judged_pairs(ds)
    text = dict(
        zip(
            zip(
                ds.responses.column("item_id").to_pylist(),
                ds.responses.column("response_id").to_pylist(),
            ),
            ds.responses.column("text").to_pylist(),
        )
    )
    q = dict(zip(ds.items.column("item_id").to_pylist(), ds.items.column("input").to_pylist()))
    cons = first = 0.0
    for it, a, b in pairs:
        ta, tb = text[(it, a)], text[(it, b)]
        v1 = judge.verdict(q[it], ta, tb)  # P(A better), A first
        v2 = judge.verdict(q[it], tb, ta)  # P(B better), B first
        w1 = "A" if v1 > 0.5 else "B" if v1 < 0.5 else "tie"
        w2 = "B" if v2 > 0.5 else "A" if v2 < 0.5 else "tie"
        cons += w1 == w2
        first += (v1 > 0.5) + (v2 > 0.5) + 0.5 * ((v1 == 0.5) + (v2 == 0.5))
    assert r["consistency"]["statistic"] == pytest.approx(cons / len(pairs))
    assert r["first_position_rate"]["statistic"] == pytest.approx(first / (2 * len(pairs)))
    # the known bias: consistent on 1 - b of pairs (1 - b of second questions are honest),
    # first-position rate 1/2 + b/2; the CIs cover the truth
    for key, truth in (("consistency", 0.7), ("flip_rate", 0.3), ("first_position_rate", 0.65)):
        lo, hi = r[key]["confidence_interval"]
        assert lo <= truth <= hi, (key, r[key])
    assert r["accuracy_preferred_first"]["statistic"] == 1.0
    assert r["accuracy_preferred_second"]["statistic"] == pytest.approx(cons / len(pairs))
    assert r["signature"] == "fake-judge|bias:0.3"


def test_always_first_and_honest_judges_by_hand():
    ds = pref_data(10)
    doc = api.probe(
        ds,
        {
            "first": FakeJudge(1.0),
            "honest": FakeJudge(0.0),
            "length": api.resolve_scorers(["length"])["length"],
        },
        n_resamples=50,
        cache=None,
        progress=False,
    )
    f, h = doc["position_bias"]["first"], doc["position_bias"]["honest"]
    assert (f["consistency"]["statistic"], f["flip_rate"]["statistic"]) == (0.0, 1.0)
    assert f["first_position_rate"]["statistic"] == 1.0
    assert f["accuracy_preferred_first"]["statistic"] == 1.0
    assert f["accuracy_preferred_second"]["statistic"] == 0.0
    assert (h["consistency"]["statistic"], h["first_position_rate"]["statistic"]) == (1.0, 0.5)
    assert h["accuracy_both_orders"]["statistic"] == 1.0
    assert doc["position_bias"]["length"] == {"applicable": False, "reason": NOT_APPLICABLE}


def test_pointwise_scorers_get_no_number(capsys):
    from overcoat.cli import main

    ds_spec = f"{Path(__file__).parents[1] / 'data' / 'fixtures' / 'pairwise.jsonl'}"
    code = main(["probe", "-d", ds_spec, "-s", "length", "--resamples", "10", "-q"])
    out = capsys.readouterr().out
    assert code == 0
    assert "position bias: not applicable" in out


@pytest.mark.judge
def test_judge_pair_asked_in_one_order_per_question():
    here = Path(__file__).parents[1] / "judge"
    sys.path.insert(0, str(here))
    try:
        from fake_server import FakeChatServer, answer
    finally:
        sys.path.remove(str(here))
    ds = pref_data(6)

    def handler(req):  # answers "the first one" whatever it is shown
        return answer("[[A]]")

    with FakeChatServer(handler) as srv:
        spec = f"judge-pair:{srv.url}#m,timeout=2,backoff=0.001,max_backoff=0.05"
        judge = api.resolve_scorers([spec], allow_pairwise=True)
        doc = api.probe(ds, judge, n_resamples=20, cache=None, progress=False)
        # scoring asks both orders (2 per pair), the probe one order per question (2 per pair)
        assert len(srv.chat_requests()) == 6 * 2 + 6 * 2
    (r,) = doc["position_bias"].values()
    assert r["consistency"]["statistic"] == 0.0 and r["first_position_rate"]["statistic"] == 1.0
    assert "|orders:one" in r["signature"]
    (sig,) = doc["signatures"].values()
    assert "|orders:both" in sig
