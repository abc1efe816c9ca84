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


def test_judge_counts_in_the_meta_eval_json_and_clusters(tmp_path, capsys):
    """Failed (by reason), unparsable and one-order counts per scorer, with the endpoint, in the
    JSON; a judge with no usable pair is in no significance cluster."""
    out = tmp_path / "r.json"

    def flaky(req):  # item 0: refused as too long; item 1: no verdict; others: right
        if "question 0" in req.user:
            from fake_server import error

            return error(400, "This model's maximum context length is 2048 tokens")
        if "question 1" in req.user:
            return answer("They are both fine.")
        return prefers_good(req)

    with (
        FakeChatServer(flaky) as srv,
        FakeChatServer(lambda req: answer("no verdict")) as dud,
    ):
        code = main(
            [
                "meta-eval",
                "--data",
                str(_data(tmp_path)),
                "--scorer",
                f"judge-pair:{srv.url}#m,{FAST}",
                "--scorer",
                f"judge-pair:{dud.url}#dud,{FAST}",
                "--scorer",
                "length",
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
    by = {s["name"]: s for s in doc["scorers"]}
    j = by["judge-pair:m"]["judge"]
    assert j["endpoint"] == srv.url
    assert j["n_failed"] == 2 and j["failed_by_reason"] == {"context length exceeded": 2}
    assert j["n_unparsable"] == 2 and j["n_pairs_one_order"] == 0
    assert j["n_pairs_both_orders"] == 2 and j["requests"]["sent"] == 8
    d = by["judge-pair:dud"]
    assert d["judge"]["n_unparsable"] == 8 and d["coverage"]["scored"] == 0
    if "cluster" in d:  # significance ran: the judge without values is in no cluster
        assert d["cluster"] is None
    assert any(
        n.startswith("judge-pair:m — endpoint") and "2 failed (context length exceeded: 2)" in n
        for n in doc["notes"]
    )


def test_fail_fast_through_the_cli_is_one_line_exit_2(tmp_path, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(
        [
            "meta-eval",
            "--data",
            str(_data(tmp_path)),
            "--scorer",
            f"judge-pair:http://127.0.0.1:{port}/v1#m,{FAST}",
            "--resamples",
            "20",
            "--json",
            str(tmp_path / "r.json"),
            "-q",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach judge endpoint" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "r.json").exists()


def test_retry_failed_flag_asks_again_only_for_unparsable_cached_answers(tmp_path):
    state = {"healthy": False}

    def handler(req):
        if "answer 3" in req.user and not state["healthy"]:
            return answer("no idea")
        return prefers_good(req)

    data, cache = str(_data(tmp_path)), tmp_path / "c.sqlite"
    with FakeChatServer(handler) as srv:
        spec = f"judge-pair:{srv.url}#m,{FAST}"

        def run(*extra):
            args = ["meta-eval", "-d", data, "-s", spec, "--resamples", "20", "--cache"]
            return main([*args, str(cache), "-q", *extra])

        assert run() == 0
        first = len(srv.chat_requests())
        assert first == 8  # 4 pairs x 2 orders; the 2 prompts of item 3 unparsable
        state["healthy"] = True
        assert run() == 0
        assert len(srv.chat_requests()) == first  # unparsable answers come from the cache
        assert run("--retry-failed") == 0
        asked = srv.chat_requests()[first:]
        assert len(asked) == 2 and all("answer 3" in r.user for r in asked)
