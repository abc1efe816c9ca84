"""Verifiable rewards: math (math-verify), exact match, regex."""

import numpy as np
import pytest

from overcoat.errors import SpecError
from overcoat.scorers.base import ScoringBatch
from overcoat.scorers.registry import get_scorer


def _batch(responses, references, inputs=None):
    return ScoringBatch(
        inputs or ["q"] * len(responses), list(responses), [list(r) for r in references]
    )


def test_math_equivalences():
    pytest.importorskip("math_verify")
    s = get_scorer("math")
    assert s.needs_references and s.parallel_safe
    assert "math-verify:" in s.signature()
    cases = [
        ("The answer is \\boxed{1/2}.", ["0.5"], 1.0),
        ("The answer is \\boxed{1/2}.", ["\\frac{1}{2}"], 1.0),
        ("So we get \\boxed{\\frac{2}{4}}", ["$0.5$"], 1.0),
        ("First 3 apples, then 4 more: 7", ["7"], 1.0),  # last number
        ("answer: 42", ["42.0"], 1.0),
        ("The answer is \\boxed{0.3}.", ["1/2"], 0.0),  # not equivalent
        ("I do not know.", ["1/2"], 0.0),  # nothing to parse -> 0
        ("\\boxed{3}", ["5", "3"], 1.0),  # any reference
        ("", ["2"], 0.0),
    ]
    got = s.score_batch(_batch([c[0] for c in cases], [c[1] for c in cases]))
    np.testing.assert_array_equal(got, [c[2] for c in cases])
    assert not np.isnan(got).any()


def test_math_takes_no_options():
    with pytest.raises(SpecError):
        get_scorer("math:foo=1")


def test_exact_with_and_without_normalisation():
    resp = ["The Eiffel Tower!", "  Paris \n", "paris", "Rome"]
    refs = [["eiffel tower"], ["Paris"], ["Paris"], ["Paris", "Rome"]]
    strict = get_scorer("exact")
    norm = get_scorer("exact:normalize=true")
    assert strict.signature() != norm.signature()
    np.testing.assert_array_equal(strict.score_batch(_batch(resp, refs)), [0, 1, 0, 1])
    np.testing.assert_array_equal(norm.score_batch(_batch(resp, refs)), [1, 1, 1, 1])
    with pytest.raises(SpecError):
        get_scorer("exact:normalise=true")


def test_regex_without_group_is_reference_free():
    s = get_scorer(r"regex:^<think>.*</think>\s*\S")
    assert not s.needs_references and s.parallel_safe
    resp = ["<think>hmm</think> 42", "42", "<think>x</think>"]
    np.testing.assert_array_equal(s.score_batch(_batch(resp, [[], [], []])), [1, 0, 0])


def test_regex_with_capture_group_compares_to_references():
    named = get_scorer(r"regex:(?i)answer:\s*(?P<answer>[^\n.]+)")
    plain = get_scorer(r"regex:#### (\S+)")
    assert named.needs_references and plain.needs_references
    resp = ["Answer: Paris.", "answer: Rome", "no answer here"]
    refs = [["Paris"], ["Paris"], ["Paris"]]
    np.testing.assert_array_equal(named.score_batch(_batch(resp, refs)), [1, 0, 0])
    resp2 = ["so #### 12", "#### 13", "12"]
    np.testing.assert_array_equal(plain.score_batch(_batch(resp2, [["12"]] * 3)), [1, 0, 0])
    # last occurrence with a greedy prefix
    last = get_scorer(r"regex:(?s).*#### (\S+)")
    np.testing.assert_array_equal(last.score_batch(_batch(["#### 1 ... #### 12"], [["12"]])), [1])


def test_invalid_regex_is_one_line_spec_error():
    for bad in ["regex:(", "regex:[a-", "regex:"]:
        with pytest.raises(SpecError) as e:
            get_scorer(bad)
        assert "\n" not in str(e.value)


def test_verifiable_through_engine(tmp_path):
    pytest.importorskip("math_verify")
    from overcoat.scorers.engine import score_dataset

    b = _batch(["\\boxed{1/2}", "0.3", "\\boxed{1/2}"], [["0.5"], ["0.5"], ["0.5"]])
    r = score_dataset(b, "math", cache=str(tmp_path / "c.sqlite"), workers=2, batch_size=1)
    np.testing.assert_array_equal(r.scores, [1, 0, 1])


def test_model_scorer_modules_import_nothing_heavy():
    """Registering embed/bertscore/nli/math/exact/regex imports no optional package."""
    import subprocess
    import sys

    code = (
        "import sys; import overcoat.scorers.embedding, overcoat.scorers.nli, "
        "overcoat.scorers.verifiable; from overcoat.scorers.registry import get_scorer; "
        "get_scorer('exact'); get_scorer('regex:a(b)'); "
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', "
        "'bert_score', 'math_verify', 'sympy') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_optional_package_is_one_line(monkeypatch):
    import overcoat.scorers._common as common

    real = common.installed
    monkeypatch.setattr(
        common, "installed", lambda m: m not in ("sentence_transformers", "bert_score") and real(m)
    )
    for spec, pkg in (("embed", "sentence-transformers"), ("bertscore:minilm", "bert-score")):
        with pytest.raises(SpecError) as e:
            get_scorer(spec)
        assert pkg in str(e.value) and "\n" not in str(e.value)
