"""Lexical scorers equal the libraries' own sentence-level values."""

import numpy as np
import pytest
import sacrebleu
from rouge_score import rouge_scorer

from overcoat.data.bundled import bundled_datasets
from overcoat.errors import SpecError
from overcoat.scorers.base import ScoringBatch
from overcoat.scorers.registry import get_scorer


@pytest.fixture(scope="module")
def ted_batch():
    ds = bundled_datasets()["ted-zhen"].load()
    rows = ds.response_inputs().slice(0, 1500)
    return ScoringBatch(
        rows.column("input").to_pylist(),
        rows.column("text").to_pylist(),
        rows.column("references").to_pylist(),
    )


def test_bleu_equals_sacrebleu_sentence_bleu(ted_batch):
    ours = get_scorer("bleu").score_batch(ted_batch)
    ref = [
        sacrebleu.sentence_bleu(h, r).score
        for h, r in zip(ted_batch.responses, ted_batch.references)
    ]
    assert np.array_equal(ours, np.array(ref))


@pytest.mark.slow
def test_chrf_equals_sacrebleu_sentence_chrf(ted_batch):
    ours = get_scorer("chrf").score_batch(ted_batch)
    ref = [
        sacrebleu.sentence_chrf(h, r).score
        for h, r in zip(ted_batch.responses, ted_batch.references)
    ]
    assert np.array_equal(ours, np.array(ref))
    ours_pp = get_scorer("chrf++").score_batch(ted_batch)
    ref_pp = [
        sacrebleu.sentence_chrf(h, r, word_order=2).score
        for h, r in zip(ted_batch.responses, ted_batch.references)
    ]
    assert np.array_equal(ours_pp, np.array(ref_pp))


@pytest.mark.slow
def test_ter_equals_sacrebleu_sentence_ter(ted_batch):
    s = get_scorer("ter")
    assert s.higher_is_better is False
    b = ted_batch.subset(range(0, len(ted_batch), 5))  # TER is slow: every 5th of 1,500
    ours = s.score_batch(b)
    ref = [sacrebleu.sentence_ter(h, r).score for h, r in zip(b.responses, b.references)]
    assert np.array_equal(ours, np.array(ref))


@pytest.mark.parametrize("spec", ["bleu", "chrf", "ter"])
def test_reference_statistics_kept_between_batches_change_nothing(spec, monkeypatch):
    # several references per row, references shared by rows and batches; the kept reference
    # statistics are dropped when there are more than _REF_INFO_MAX (here 2) of them
    hyps = ["the cat sat on the mat", "a cat is on a mat", "dogs bark", "the cat sat", "mat"]
    refs = [
        ["the cat sat on the mat", "there is a cat on the mat"],
        ["the cat sat on the mat", "there is a cat on the mat"],
        ["the dog barks"],
        ["the cat sat on the mat", "there is a cat on the mat"],
        ["the dog barks"],
    ]
    s = get_scorer(spec)
    monkeypatch.setattr(type(s), "_REF_INFO_MAX", 2)
    b = ScoringBatch(["q"] * 5, hyps, refs)
    first = s.score_batch(b)
    again = s.score_batch(b.subset([4, 3, 2, 1, 0]))
    fn = {"bleu": sacrebleu.sentence_bleu, "chrf": sacrebleu.sentence_chrf}.get(
        spec, sacrebleu.sentence_ter
    )
    expected = np.array([fn(h, r).score for h, r in zip(hyps, refs)])
    assert np.array_equal(first, expected) and np.array_equal(again, expected[::-1])


def test_rouge_l_equals_rouge_score():
    b = ScoringBatch(
        ["x", "y"],
        ["the cat sat", "a dog barked"],
        [["the cat sat on the mat", "cats sit"], ["the dog barked loudly"]],
    )
    ours = get_scorer("rouge-l").score_batch(b)
    rs = rouge_scorer.RougeScorer(["rougeL"])
    ref = [rs.score_multi(r, h)["rougeL"].fmeasure for h, r in zip(b.responses, b.references)]
    assert np.array_equal(ours, np.array(ref))
    assert ours[0] == pytest.approx(2 * 1.0 * 0.5 / 1.5)  # P=3/3, R=3/6


def test_signatures_are_sacrebleu_style():
    assert (
        get_scorer("bleu").signature()
        == f"bleu|nrefs:var|case:mixed|eff:yes|tok:13a|smooth:exp|version:{sacrebleu.__version__}"
    )
    assert "tok:zh" in get_scorer("bleu:tokenize=zh").signature()
    assert "nw:2" in get_scorer("chrf++").signature()


def test_options_are_validated():
    with pytest.raises(SpecError, match="unknown option 'tokenise'"):
        get_scorer("bleu:tokenise=zh")
    with pytest.raises(SpecError, match="needs a int"):
        get_scorer("chrf:char_order=six")
    with pytest.raises(SpecError, match="unknown scorer spec 'blue'"):
        get_scorer("blue")


def test_length_and_random_baselines():
    b = ScoringBatch(["p", "p", "q"], ["one two three", "one", "ab cd"], [[], [], []])
    assert list(get_scorer("length").score_batch(b)) == [3, 1, 2]
    assert list(get_scorer("length:unit=chars").score_batch(b)) == [13, 3, 5]
    r = get_scorer("random:seed=7")
    full = r.score_batch(b)
    assert np.all((full >= 0) & (full < 1))
    # independent of batch composition and order
    assert r.score_batch(b.subset([2, 0]))[0] == full[2]
    assert not np.array_equal(full, get_scorer("random:seed=8").score_batch(b))


def test_python_callable_scorer(tmp_path):
    mod = tmp_path / "myscore.py"
    mod.write_text(
        "def overlap(inp, resp, refs):\n"
        "    return float(len(set(inp.split()) & set(resp.split())))\n"
        "def batch(inps, resps, refs):\n    return [len(r) for r in resps]\n"
        "batch.batched = True\n"
    )
    b = ScoringBatch(["a b c", "x"], ["a c d", "y"], [[], []])
    assert list(get_scorer(f"python:{mod}:overlap").score_batch(b)) == [2.0, 0.0]
    s = get_scorer(f"python:{mod}:batch")
    assert list(s.score_batch(b)) == [5.0, 1.0]
    assert "sha256:" in s.signature()
    with pytest.raises(SpecError, match="has no callable 'nope'"):
        get_scorer(f"python:{mod}:nope")
    with pytest.raises(SpecError, match="cannot import"):
        get_scorer("python:no_such_module_xyz:f")
