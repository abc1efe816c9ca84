"""Text perturbations: what each one does, determinism per key, the registry."""

import pytest

from overcoat.probes import perturbations as pt

TEXT = "Paris is the capital of France. It lies on the Seine. Many people visit it."
PROMPT = "What is the capital of France?"


def run(name, text=TEXT, seed=0):
    return pt.apply_perturbation(name, [text], [PROMPT], seed=seed)[0]


def test_each_builtin_changes_the_text_as_documented():
    assert run("filler").startswith(TEXT) and len(run("filler")) > len(TEXT) + 50
    assert run("confident").startswith(TEXT) and any(s in run("confident") for s in pt._CONFIDENT)
    assert any(s in run("flattery") for s in pt._FLATTERY)
    md = run("markdown")
    assert md.startswith("**Answer**") and md.count("\n- ") == 3
    rep = run("repeat")
    assert rep.startswith(TEXT) and rep[len(TEXT) :].strip() in pt._sentences(TEXT)
    assert run("copy_prompt") == PROMPT + "\n\n" + TEXT
    assert len(run("truncate").split()) == len(TEXT.split()) // 2
    hg = run("homoglyphs")
    assert hg != TEXT and len(hg) == len(TEXT)
    assert hg.translate({ord(v): k for k, v in pt._HOMOGLYPHS.items()}) == TEXT
    assert any(s in run("judge_injection") for s in pt._INJECTION)


def test_deterministic_per_key_independent_of_batch():
    texts = [TEXT, "Short answer.", "Another one here. Yes."]
    prompts = [PROMPT] * 3
    keys = ["a", "b", "c"]
    full = pt.apply_perturbation("homoglyphs", texts, prompts, seed=4, keys=keys)
    alone = pt.apply_perturbation("homoglyphs", texts[2:], prompts[2:], seed=4, keys=keys[2:])
    assert full[2] == alone[0]
    assert pt.apply_perturbation("homoglyphs", texts, prompts, seed=4, keys=keys) == full
    seeds = {run("confident", seed=s) for s in range(12)}
    assert len(seeds) > 1  # the seed matters


def test_empty_text_does_not_crash():
    for name in pt.perturbation_names():
        assert isinstance(run(name, text=""), str)


def test_registry():
    def shout(text, prompt, rng):
        return text.upper()

    pt.register_perturbation("test_shout", shout)
    try:
        assert run("test_shout") == TEXT.upper()
        with pytest.raises(ValueError, match="exists"):
            pt.register_perturbation("test_shout", shout)
        with pytest.raises(ValueError, match="built-in"):
            pt.register_perturbation("filler", shout, replace=True)
        with pytest.raises(ValueError, match="must be one of"):
            pt.get_perturbation("nope")
        pt.register_perturbation("test_bad", lambda t, p, r: 3)
        with pytest.raises(TypeError, match="not str"):
            run("test_bad")
    finally:
        pt.PERTURBATIONS.pop("test_shout", None)
        pt.PERTURBATIONS.pop("test_bad", None)
