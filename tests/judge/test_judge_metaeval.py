"""A pairwise LLM judge meta-evaluated on preference data, end to end over HTTP (127.0.0.1)."""

import json

import pytest

from overcoat import api
from overcoat.cli import main
from overcoat.errors import SpecError
from overcoat.evaluation import MetaEvalSettings, meta_evaluate

from fake_server import FakeChatServer, answer

pytestmark = pytest.mark.judge

FAST = "timeout=2,backoff=0.001,max_backoff=0.05"


def prefers_good(req):
    """Picks whichever shown answer contains GOOD: [[A]] when it is shown first."""
    text = req.user
    g, b = text.find("GOOD"), text.find("BAD")
    return answer("[[A]]" if g < b else "[[B]]")


def _data(tmp_path):
    rows = [
        {"prompt": f"question {i}", "chosen": f"GOOD answer {i}", "rejected": f"BAD answer {i}"}
        for i in range(3)
    ]
    rows.append({"prompt": "question 3", "chosen": "BAD answer 3", "rejected": "GOOD answer 3"})
    p = tmp_path / "pairs.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return p


def test_pairwise_judge_accuracy_by_hand(tmp_path):
    with FakeChatServer(prefers_good) as srv:
        ds = api.load(str(_data(tmp_path)))
        sc = api.score(ds, [f"judge-pair:{srv.url}#m,{FAST}", "length"], cache=None, progress=False)
        res = meta_evaluate(sc, MetaEvalSettings(n_resamples=50))
        name = next(n for n in sc.scores if n != "length")
        # the judge is right on the 3 items whose chosen answer says GOOD, wrong on the last
        assert res.segment[name]["pairwise_accuracy_strict"]["statistic"] == pytest.approx(0.75)
        # both presentation orders were asked for every pair
        assert len(srv.chat_requests()) == 8


def test_pairwise_judge_through_the_cli(tmp_path, capsys):
    out = tmp_path / "r.json"
    with FakeChatServer(prefers_good) as srv:
        code = main(
            [
                "meta-eval",
                "--data",
                str(_data(tmp_path)),
                "--scorer",
                f"judge-pair:{srv.url}#m,{FAST}",
                "--resamples",
                "20",
                "--json",
                str(out),
                "--no-cache",
                "-q",
            ]
        )
    assert code == 0, capsys.readouterr().err
    doc = json.loads(out.read_text())
    (entry,) = doc["segment_level"].values()
    assert entry["pairwise_accuracy_strict"]["statistic"] == pytest.approx(0.75)


def test_pairwise_judge_needs_preference_data(tmp_path):
    with FakeChatServer(prefers_good) as srv:
        ds = api.load("ted-ende")
        with pytest.raises(SpecError, match="needs preference data"):
            api.score(ds, [f"judge-pair:{srv.url}#m,{FAST}"], cache=None, progress=False)
        with pytest.raises(SpecError, match="use it with overcoat meta-eval"):
            api.resolve_scorers([f"judge-pair:{srv.url}#m,{FAST}"])
