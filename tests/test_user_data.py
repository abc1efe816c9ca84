"""A user's own data without reading the source: JSON arrays, community shapes, unambiguous format
detection, score files matched safely (content hashes, refusal of line-number ids, coverage),
``python:`` scorers from the working directory, lower-is-better score files."""

import hashlib
import json
import math

import numpy as np
import pytest

from overcoat import api
from overcoat.cli import main
from overcoat.data.loaders import detect_row_format, row_format_candidates
from overcoat.data.scores_file import content_hash, read_scores_file
from overcoat.data.spec import load_data
from overcoat.errors import DataError, SpecError
from overcoat.evaluation import MetaEvalSettings, meta_evaluate
from overcoat.metaeval.system import soft_pairwise_accuracy

# six preference pairs; the chosen answer is longer in pairs 1-4 and shorter in pairs 5-6
PAIRS = [
    {"prompt": f"question {i}", "chosen": "a good and long answer " + "x " * i, "rejected": "bad"}
    for i in range(1, 5)
] + [
    {"prompt": f"question {i}", "chosen": "ok", "rejected": "a long rambling wrong answer"}
    for i in range(5, 7)
]


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.fixture
def prefs(tmp_path):
    p = tmp_path / "prefs.json"
    p.write_text(json.dumps(PAIRS))  # what json.dump writes: every record on line 1
    return p


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def settings():
    return MetaEvalSettings(n_resamples=20, significance=False)


# -- JSON arrays and default ids ---------------------------------------------------------------
def test_json_array_rows_are_numbered_by_record(prefs, tmp_path):
    ds = load_data(str(prefs))
    assert ds.items.column("item_id").to_pylist() == ["1", "2", "3", "4", "5", "6"]
    assert ds.info["default_ids"] == 6 and ds.info["default_ids_from"] == "record"
    # the same records indented (one per several lines) get the same ids
    p = tmp_path / "indented.json"
    p.write_text(json.dumps(PAIRS, indent=2))
    assert load_data(str(p)).items.column("item_id").to_pylist() == ["1", "2", "3", "4", "5", "6"]
    # JSON Lines: line numbers, as before; explicit ids are not counted as defaults
    rows = [dict(PAIRS[0], id="a"), PAIRS[1]]
    ds = load_data(str(write_jsonl(tmp_path / "mixed.jsonl", rows)))
    assert ds.items.column("item_id").to_pylist() == ["a", "2"]
    assert ds.info["default_ids"] == 1 and ds.info["default_ids_from"] == "line"
    ds = load_data(
        str(write_jsonl(tmp_path / "ids.jsonl", [dict(r, id=f"q{k}") for k, r in enumerate(PAIRS)]))
    )
    assert "default_ids" not in ds.info


# -- community shapes without --map ------------------------------------------------------------
def test_arena_winner_shape(tmp_path):
    rows = [
        {"prompt": "hi", "response_a": "hello", "response_b": "go away", "winner": "model_a"},
        {"prompt": "2+2?", "response_a": "5", "response_b": "4", "winner": "model_b"},
        {"prompt": "x", "response_a": "y", "response_b": "z", "winner": "tie"},
    ]
    ds = load_data(str(write_jsonl(tmp_path / "arena.jsonl", rows)))
    assert ds.judgments.table.column("label").to_pylist() == ["a", "b", "tie"]
    assert ds.responses.column("response_id").to_pylist() == ["a", "b"] * 3
    bad = write_jsonl(tmp_path / "bad.jsonl", [dict(rows[0], winner="model_c")])
    with pytest.raises(DataError) as e:
        load_data(str(bad))
    assert str(e.value) == (
        f"{bad}, line 1, field 'winner': label must be a, b or tie (also A>B, "
        "B>A, A=B), got 'model_c'"
    )


def test_chat_messages_with_shared_prefix(tmp_path):
    user = {"role": "user", "content": "Hi"}
    rows = [
        {
            "chosen": [user, {"role": "assistant", "content": "Hello! How can I help?"}],
            "rejected": [user, {"role": "assistant", "content": "What."}],
        }
    ]
    p = tmp_path / "chat.json"
    p.write_text(json.dumps(rows))
    ds = load_data(str(p))
    assert ds.items.column("input").to_pylist() == ["Hi"]
    assert json.loads(ds.items.column("messages")[0].as_py()) == [user]
    assert ds.responses.column("text").to_pylist() == ["Hello! How can I help?", "What."]
    rows[0]["rejected"][0] = {"role": "user", "content": "Hey"}
    p.write_text(json.dumps(rows))
    with pytest.raises(DataError) as e:
        load_data(str(p))
    assert str(e.value) == (
        f"{p}, line 1, field 'rejected': chosen and rejected conversations "
        "differ before the final reply"
    )


# -- format detection --------------------------------------------------------------------------
RMB = {"id": 1, "prompt": "p", "chosen": ["a", "b", "c"], "rejected": ["d", "e", "f"]}


@pytest.mark.parametrize(
    "row,fits",
    [
        (dict(RMB, domain="chat"), ["rmbench"]),
        (RMB, ["rewardbench2", "rmbench"]),  # RM-Bench file without its domain
        (dict(RMB, num_correct=3, subset="Ties"), ["rewardbench2"]),
        (dict(RMB, num_correct=3, domain="chat"), ["rewardbench2", "rmbench"]),
        (dict(RMB, chosen=["a"]), ["rewardbench2"]),  # one chosen: only best-of-n fits
        ({"prompt": "p", "chosen": "a", "rejected": "b"}, ["table"]),
        ({"prompt": "p", "chosen": "a", "rejected": "b", "subset": "hep-go"}, ["rewardbench"]),
        ({"prompt": "p", "chosen": "a", "rejected": "b", "chosen_model": "m"}, ["rewardbench"]),
        ({"chosen": "\n\nHuman: hi\n\nAssistant: a", "rejected": "x"}, ["hh-rlhf"]),
        ({"question": "q", "response_A": "a", "response_B": "b", "label": "A>B"}, ["judgebench"]),
        (
            {"prompt": "p", "response_A": "a", "response_B": "b", "chosen": "a", "rejected": "b"},
            ["judgebench"],
        ),
    ],
)
def test_row_format_candidates(row, fits):
    assert row_format_candidates(row) == fits


def test_ambiguous_format_asks_for_format(tmp_path, capsys):
    p = tmp_path / "rm.json"
    p.write_text(json.dumps([RMB, dict(RMB, id=2)]))
    with pytest.raises(SpecError) as e:
        detect_row_format(RMB, str(p))
    msg = (
        f"{p}: the first record fits several formats (rewardbench2, rmbench); say which with "
        f"FORMAT:PATH, e.g. rewardbench2:{p}"
    )
    assert str(e.value) == msg
    code, out, err = run_cli(["meta-eval", "-d", p, "-s", "length", "-q"], capsys)
    assert code == 2 and err.strip() == f"overcoat: error: {msg}" and out == ""
    # naming the format settles it: RM-Bench's own scoring, six responses per item
    ds = load_data(f"rmbench:{p}")
    assert ds.info["format"] == "rmbench" and ds.n_responses == 12
    # and RM-Bench's domain field alone identifies it
    p2 = tmp_path / "rm2.json"
    p2.write_text(json.dumps([dict(RMB, domain="math")]))
    assert load_data(str(p2)).info["format"] == "rmbench"


# -- content hashes ----------------------------------------------------------------------------
def test_content_hash_is_the_documented_formula():
    ref = hashlib.sha256(json.dumps(["question 1", "an answer"]).encode()).hexdigest()[:16]
    assert content_hash("question 1", "an answer") == ref
    assert content_hash("question 1", "an answer") != content_hash("question 1", "an answe")
    assert content_hash("q\u00e9", "r") == hashlib.sha256(b'["q\\u00e9", "r"]').hexdigest()[:16]


def test_score_writes_content_hashes_and_scores_file_finds_them(prefs, tmp_path, capsys):
    out = tmp_path / "s.jsonl"
    assert run_cli(["score", "-d", prefs, "-s", "length", "-o", out, "-q"], capsys)[0] == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    ds = load_data(str(prefs))
    inputs = dict(zip(ds.items.column("item_id").to_pylist(), ds.items.column("input").to_pylist()))
    texts = ds.responses.column("text").to_pylist()
    assert [r["content_hash"] for r in rows] == [
        content_hash(inputs[r["item_id"]], t) for r, t in zip(rows, texts)
    ]
    # shift every id to 0-based and shuffle: content still finds each response
    shifted = [dict(r, item_id=str(int(r["item_id"]) - 1)) for r in reversed(rows)]
    write_jsonl(tmp_path / "shifted.jsonl", shifted)
    direct = api.score(ds, ["length"], cache=None, progress=False).scores["length"]
    via = api.score(ds, [f"scores:{tmp_path / 'shifted.jsonl'}"], cache=None, progress=False)
    assert via.scores["length"].tolist() == direct.tolist()
    assert via.stats["length"]["notes"] == []


# -- unsafe matches refused; zero matches an error; partial matches counted --------------------
def zero_based_scores(path):
    """Scores made with 0-based ids for PAIRS: chosen 1, rejected 0 in every pair (accuracy 1)."""
    return write_jsonl(
        path,
        [
            {"item_id": i, "response_id": rid, "score": s}
            for i in range(len(PAIRS))
            for rid, s in (("chosen", 1.0), ("rejected", 0.0))
        ],
    )


def test_line_number_ids_are_not_matched_by_position(prefs, tmp_path, capsys):
    sc = zero_based_scores(tmp_path / "scores.jsonl")
    code, out, err = run_cli(["meta-eval", "-d", prefs, "-s", f"scores:{sc}", "-q"], capsys)
    assert code == 2 and out == ""
    assert err.strip() == (
        f"overcoat: error: {sc}: cannot match these scores to 'prefs' safely: 6 of its items "
        "have no id of their own (their ids are record numbers) and the file has no content "
        "hashes; write the scores with overcoat score (it adds content_hash), put the input and "
        "response texts in the file, give the data an id column, or write "
        f"scores:{sc}#match=ids if the file's item_ids are those record numbers"
    )


def test_match_ids_opt_in_shows_partial_coverage(prefs, tmp_path, capsys):
    sc = zero_based_scores(tmp_path / "scores.jsonl")
    js = tmp_path / "r.json"
    code, out, err = run_cli(
        [
            "meta-eval",
            "-d",
            prefs,
            "-s",
            f"scores:{sc}#match=ids",
            "-q",
            "--resamples",
            "20",
            "--json",
            js,
        ],
        capsys,
    )
    assert code == 0, err
    doc = json.loads(js.read_text())
    (s,) = doc["scorers"]
    assert s["coverage"] == {"scored": 10, "total": 12} and s["n_missing"] == 2
    acc = doc["segment_level"]["scores"]["pairwise_accuracy_strict"]
    assert acc["statistic"] == 1.0 and acc["n_pairs"] == 5 and acc["n_dropped"] == 1
    assert f"scores: scores:{sc} covers 10 of 12 responses" in " ".join(doc["notes"])
    assert "scores: 2 of the 12 scores in scores:" in " ".join(
        doc["notes"]
    ) and "e.g. item '0' response 'chosen'" in " ".join(doc["notes"])
    assert "10/12" in out and "scored" in out
    assert "e.g. item '6' response 'chosen'" in " ".join(out.split())


def test_zero_matches_is_an_error_naming_both_sides(tmp_path, capsys):
    data = write_jsonl(tmp_path / "d.jsonl", [dict(r, id=f"q{k}") for k, r in enumerate(PAIRS)])
    sc = write_jsonl(
        tmp_path / "s.jsonl",
        [{"item_id": k, "response_id": "chosen", "score": 1} for k in range(3)],
    )
    code, out, err = run_cli(["meta-eval", "-d", data, "-s", f"scores:{sc}", "-q"], capsys)
    assert code == 2 and out == ""
    assert err.strip() == (
        f"overcoat: error: {sc}: 0 of the 12 responses of 'd' matched any of the file's 3 scores "
        "by item_id and response_id; e.g. the data has item 'q0' response 'chosen', the file has "
        "item '0' response 'chosen'"
    )
    # by content: a file scored on other texts
    h = write_jsonl(
        tmp_path / "h.jsonl",
        [
            {
                "item_id": "q0",
                "response_id": "chosen",
                "score": 1,
                "content_hash": "0123456789abcdef",
            }
        ],
    )
    with pytest.raises(DataError) as e:
        api.score(load_data(str(data)), [f"scores:{h}"], cache=None, progress=False)
    assert str(e.value).startswith(
        f"{h}: 0 of the 12 responses of 'd' matched any of the "
        "file's 1 scores by content hash (input + response); e.g. "
        "the data has item 'q0' response 'chosen' (content hash '"
    )
    assert str(e.value).endswith(
        "the file has item 'q0' response 'chosen' (content hash "
        "'0123456789abcdef') (was the file scored on other texts?)"
    )


def test_partial_match_statistics_use_matched_pairs_only(tmp_path):
    """Explicit ids; pairs q0..q3 scored right, q4 wrong, q5 unscored: accuracy 4/5, not 4/6."""
    data = write_jsonl(tmp_path / "d.jsonl", [dict(r, id=f"q{k}") for k, r in enumerate(PAIRS)])
    rows = []
    for k in range(5):
        good = k < 4
        rows += [
            {"item_id": f"q{k}", "response_id": "chosen", "score": 1.0 if good else 0.0},
            {"item_id": f"q{k}", "response_id": "rejected", "score": 0.0 if good else 1.0},
        ]
    sc = write_jsonl(tmp_path / "s.jsonl", rows)
    scored = api.score(load_data(str(data)), [f"scores:{sc}"], cache=None, progress=False)
    assert np.isnan(scored.scores["s"][-2:]).all() and not np.isnan(scored.scores["s"][:-2]).any()
    res = meta_evaluate(scored, settings()).to_json()
    acc = res["segment_level"]["s"]["pairwise_accuracy_strict"]
    assert acc["statistic"] == pytest.approx(4 / 5) and acc["n_pairs"] == 5
    assert res["scorers"][0]["coverage"] == {"scored": 10, "total": 12}
    assert (
        f"s: scores:{sc} covers 10 of 12 responses (matched by item_id "
        "and response_id); 2 have no score (missing, left out of every "
        "statistic), e.g. item 'q5' response 'chosen'"
    ) in res["notes"]


# -- wide score files ---------------------------------------------------------------------------
def test_wide_scores_by_content_and_by_id(prefs, tmp_path):
    ds = load_data(str(prefs))
    wide = [
        dict(r, chosen_score=float(len(r["chosen"])), rejected_score=float(len(r["rejected"])))
        for r in PAIRS
    ]
    p = tmp_path / "wide.json"
    p.write_text(json.dumps(wide[::-1]))  # order does not matter: content does
    t = read_scores_file(p)
    assert t.column("response_id").to_pylist()[:2] == ["chosen", "rejected"]
    assert t.column("item_id").to_pylist() == [None] * 12
    s = api.score(ds, [f"scores:{p}"], cache=None, progress=False).scores["wide"]
    assert s.tolist() == [float(len(x)) for r in PAIRS for x in (r["chosen"], r["rejected"])]
    # ids only: matched by id on data with ids of its own
    data = write_jsonl(tmp_path / "d.jsonl", [dict(r, id=f"q{k}") for k, r in enumerate(PAIRS)])
    ids = write_jsonl(
        tmp_path / "ids.jsonl",
        [{"id": f"q{k}", "chosen_score": 2 * k, "rejected_score": -k} for k in range(6)],
    )
    s = api.score(load_data(str(data)), [f"scores:{ids}"], cache=None, progress=False)
    assert s.scores["ids"].tolist() == [x for k in range(6) for x in (2.0 * k, -1.0 * k)]
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"chosen_score": 1, "rejected_score": 0}])
    with pytest.raises(DataError) as e:
        read_scores_file(bad)
    assert str(e.value) == (
        f"{bad}, line 1, field 'item_id': a wide scores row needs item_id "
        "(or id), or the prompt, chosen and rejected texts, to be matched to "
        "the data"
    )


# -- lower is better ---------------------------------------------------------------------------
def test_scores_lower_is_better(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", [dict(r, id=f"q{k}") for k, r in enumerate(PAIRS)])
    # a loss: chosen has the lower value in pairs q0..q4, the higher in q5
    sc = write_jsonl(
        tmp_path / "loss.jsonl",
        [
            {"item_id": f"q{k}", "response_id": rid, "score": v}
            for k in range(6)
            for rid, v in (("chosen", 0.1 if k < 5 else 0.9), ("rejected", 0.5))
        ],
    )
    ds = load_data(str(data))
    for spec, expected, hib in (
        (f"scores:{sc}", 1 / 6, True),
        (f"scores:{sc}#higher_is_better=false", 5 / 6, False),
        (f"scores:{sc}#lower_is_better=true", 5 / 6, False),
    ):
        scored = api.score(ds, [spec], cache=None, progress=False)
        res = meta_evaluate(scored, settings()).to_json()
        assert res["segment_level"]["loss"]["pairwise_accuracy_strict"][
            "statistic"
        ] == pytest.approx(expected)
        assert res["scorers"][0]["higher_is_better"] is hib
    with pytest.raises(SpecError) as e:
        api.resolve_scorers([f"scores:{sc}#higher_is_better=false,lower_is_better=false"])
    assert "contradict" in str(e.value)
    with pytest.raises(SpecError) as e:
        api.resolve_scorers([f"scores:{sc}#match=lines"])
    assert str(e.value) == f"scores:{sc}: match must be one of auto, content, ids, got 'lines'"


# -- nothing computed on nothing ----------------------------------------------------------------
def test_spa_on_no_complete_item_is_nan():
    H = np.array([[1.0, 2.0, np.nan], [np.nan, 1.0, 3.0]])
    M = np.array([[0.5, 0.1, 0.2], [0.3, 0.2, 0.1]])
    r = soft_pairwise_accuracy(H, M, n_permutations=10)
    assert math.isnan(r.statistic) and r.n_items == 0


def test_benchmark_rule_without_scores_is_null(tmp_path):
    rows = [
        {"id": k, "prompt": f"p{k}", "chosen": f"c{k}", "rejected": f"r{k}", "subset": "hep-go"}
        for k in range(3)
    ]
    ds = load_data(str(write_jsonl(tmp_path / "rb.jsonl", rows)))
    assert ds.info["format"] == "rewardbench"
    sc = write_jsonl(
        tmp_path / "one.jsonl",
        [
            {"item_id": 0, "response_id": "chosen", "score": 1},
            {"item_id": 0, "response_id": "rejected", "score": 0},
        ],
    )
    scored = api.score(ds, [f"scores:{sc}"], cache=None, progress=False)
    res = meta_evaluate(scored, settings()).to_json()
    rule = res["benchmark_rules"]["one"]
    # the scored item (hep-go) is right: Reasoning 1; the three empty sections score 0 and are
    # averaged in, as the official calculate_scores_per_section does
    assert rule["sections"]["Reasoning"] == 1.0 and rule["overall"] == 0.25
    assert rule["n_items"] == 1 and rule["n_items_total"] == 3
    assert (
        "one: the rewardbench rule is computed on the 1 of 3 items whose responses all have "
        "a score" in res["notes"]
    )
    scored.scores["one"][:] = np.nan
    res = meta_evaluate(scored, settings()).to_json()
    assert res["benchmark_rules"]["one"] == {
        "rule": "rewardbench",
        "overall": None,
        "n_items": 0,
        "n_items_total": 3,
    }
    assert res["segment_level"]["one"]["pairwise_accuracy_strict"]["statistic"] is None


# -- python: scorers ---------------------------------------------------------------------------
SCORER_SRC = """
def words(x, r, refs):
    return len(r.split())

def boom(x, r, refs):
    if r == "bad" and x == "question 3":
        raise ValueError("cannot score this\\nsecond line")
    return 1.0

def text(x, r, refs):
    return "good"
"""


def test_python_scorer_from_working_directory(prefs, tmp_path, monkeypatch, capsys):
    (tmp_path / "ocuserscorer.py").write_text(SCORER_SRC)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", ".")])
    ds = load_data(str(prefs))
    expected = [float(len(t.split())) for t in ds.responses.column("text").to_pylist()]
    for spec in (
        "python:ocuserscorer:words",
        "python:ocuserscorer.py:words",
        f"python:{tmp_path / 'ocuserscorer.py'}:words",
    ):
        got = api.score(ds, [spec], cache=None, progress=False).scores["words"]
        assert got.tolist() == expected
    code, out, err = run_cli(
        ["score", "-d", prefs, "-s", "python:ocuserscorer:boom", "-o", tmp_path / "o.jsonl", "-q"],
        capsys,
    )
    assert code == 2 and not (tmp_path / "o.jsonl").exists()
    assert err.strip() == (
        "overcoat: error: python:ocuserscorer:boom raised on item '3' "
        "response 'rejected': ValueError: cannot score this"
    )
    code, out, err = run_cli(
        ["score", "-d", prefs, "-s", "python:ocuserscorer:text", "-o", tmp_path / "o.jsonl", "-q"],
        capsys,
    )
    assert code == 2 and err.strip() == (
        "overcoat: error: python:ocuserscorer:text returned str 'good' for item '1' response "
        "'chosen'; it must return a number (or None for no score)"
    )


def test_scorer_without_any_scored_pair_is_in_no_cluster(prefs):
    scored = api.score(load_data(str(prefs)), ["length", "random"], cache=None, progress=False)
    scored.scores["random"][:] = np.nan
    res = meta_evaluate(scored, MetaEvalSettings(n_resamples=20)).to_json()
    assert [s["cluster"] for s in res["scorers"]] == [1, None]
    assert [s["coverage"] for s in res["scorers"]] == [
        {"scored": 12, "total": 12},
        {"scored": 0, "total": 12},
    ]
    assert res["significance"]["clusters"] == [["length"]]
    assert res["segment_level"]["random"]["pairwise_accuracy_strict"]["statistic"] is None
    assert (
        "no pairwise_accuracy_strict for random (no pair with both scores): left out of the "
        "significance clusters" in res["notes"]
    )


def test_wide_scores_with_chats_match_chat_data(tmp_path):
    u = {"role": "user", "content": "Hi"}
    rows = [
        {
            "chosen": [
                {"role": "system", "content": "Be kind."},
                u,
                {"role": "assistant", "content": "Hello!"},
            ],
            "rejected": [
                {"role": "system", "content": "Be kind."},
                u,
                {"role": "assistant", "content": "Go away."},
            ],
        },
        {
            "chosen": [u, {"role": "assistant", "content": "Hey."}],
            "rejected": [u, {"role": "assistant", "content": "..."}],
        },
    ]
    data = write_jsonl(tmp_path / "chat.jsonl", rows)
    wide = write_jsonl(
        tmp_path / "w.jsonl",
        [dict(r, chosen_score=k + 0.5, rejected_score=-k) for k, r in enumerate(rows)][::-1],
    )
    ds = load_data(str(data))
    scored = api.score(ds, [f"scores:{wide}"], cache=None, progress=False)
    assert scored.scores["w"].tolist() == [0.5, 0.0, 1.5, -1.0]
    assert scored.stats["w"]["notes"] == []


def test_score_file_remembers_lower_is_better(tmp_path, capsys):
    """TER written by overcoat score and read back by scores: is still lower-is-better."""
    rows = [
        {
            "item_id": f"i{k}",
            "input": f"source {k}",
            "response_id": s,
            "response": f"the cat sat on mat {k}" if s == "a" else f"cat {k}",
            "reference": f"the cat sat on the mat {k}",
            "score": 2.0 if s == "a" else 1.0,
        }
        for k in range(4)
        for s in ("a", "b")
    ]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    out = tmp_path / "s.jsonl"
    assert (
        run_cli(["score", "-d", data, "-s", "ter", "-s", "chrf", "-o", out, "-q"], capsys)[0] == 0
    )
    written = [json.loads(x) for x in out.read_text().splitlines()]
    assert {(r["scorer"], r["higher_is_better"]) for r in written} == {
        ("TER", False),
        ("chrF", True),
    }
    ds = load_data(str(data))
    direct = meta_evaluate(api.score(ds, ["ter"], cache=None, progress=False), settings())
    back = api.score(ds, [f"scores:{out}#TER"], cache=None, progress=False)
    assert back.higher_is_better == {"TER": False}
    via = meta_evaluate(back, settings())
    assert (
        via.segment["TER"]["pairwise_accuracy_strict"]["statistic"]
        == direct.segment["TER"]["pairwise_accuracy_strict"]["statistic"]
        == 1.0
    )
    forced = api.score(ds, [f"scores:{out}#TER,higher_is_better=true"], cache=None, progress=False)
    assert forced.higher_is_better == {"TER": True}
    assert (
        meta_evaluate(forced, settings()).segment["TER"]["pairwise_accuracy_strict"]["statistic"]
        == 0.0
    )
