"""``hf:`` reward models on tiny random Llama classifiers built offline (see conftest.py)."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from overcoat.data.builder import DatasetBuilder  # noqa: E402
from overcoat.errors import SpecError  # noqa: E402
from overcoat.scorers import transformers_models as TM  # noqa: E402
from overcoat.scorers.base import ScoringBatch  # noqa: E402
from overcoat.scorers.engine import score_dataset  # noqa: E402
from overcoat.scorers.registry import get_scorer  # noqa: E402
from overcoat.scorers.reward_model import RewardModelScorer  # noqa: E402

pytestmark = pytest.mark.models

ROWS = [  # (input, messages or None, response): varied lengths
    ("what is the capital of france ?", None, "paris is the capital of france ."),
    ("tell me a joke .", None, "why did the chicken cross the road ? to get to the other side !"),
    ("hello", None, "hi"),
    (
        "how do i bake bread ?",
        None,
        "mix flour , water , salt and yeast ; knead it , let it rise and bake it . " * 2,
    ),
    (
        "",
        [
            {"role": "system", "content": "good answer"},
            {"role": "user", "content": "how do i bake bread ?"},
            {"role": "assistant", "content": "mix flour and water ."},
            {"role": "user", "content": "and then ?"},
        ],
        "knead it , let it rise and bake it .",
    ),
    ("what is the capital of france ?", None, "i can not help with that . sorry"),
    ("a dog ran in the park", None, "the bird sang ."),
    ("yes", None, "no"),
    ("tell me a joke .", None, ""),
    ("thank you very much", None, "you are welcome ."),
]


def make_batch(rows=ROWS) -> ScoringBatch:
    return ScoringBatch(
        inputs=[r[0] for r in rows],
        responses=[r[2] for r in rows],
        references=[[] for _ in rows],
        messages=[r[1] for r in rows],
    )


def chat_text(inp, messages, resp) -> str:
    """The tiny tokenizer's chat template, written out by hand."""
    turns = messages or [{"role": "user", "content": inp}]
    turns = turns + [{"role": "assistant", "content": resp}]
    return "[BOS]" + "".join(f"<|{t['role']}|> {t['content']} <|end|> " for t in turns)


def plain_text(inp, messages, resp) -> str:
    turns = messages or [{"role": "user", "content": inp}]
    return "\n\n".join(
        [f"{t['role'].capitalize()}: {t['content']}" for t in turns] + [f"Assistant: {resp}"]
    )


def hand_logits(folder, text, *, special: bool, maxlen: int | None = None) -> np.ndarray:
    """One unpadded example through the model, by hand."""
    from transformers import AutoTokenizer, LlamaForSequenceClassification

    tok = AutoTokenizer.from_pretrained(folder)
    model = LlamaForSequenceClassification.from_pretrained(folder).eval()
    ids = tok(text, add_special_tokens=special)["input_ids"]
    if maxlen is not None:
        ids = ids[:maxlen]
    with torch.inference_mode():
        return model(torch.tensor([ids])).logits[0].double().numpy()


# -- correctness against a hand-written forward pass --------------------------------------------
@pytest.mark.parametrize("head", [0, 1, 2])
def test_scores_equal_hand_forward_pass(rm_dir, head):
    sc = get_scorer(f"hf:{rm_dir},head={head}")
    got = sc.score_batch(make_batch())
    want = [hand_logits(rm_dir, chat_text(*r), special=False)[head] for r in ROWS]
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    assert len(set(np.round(got, 4))) == len(ROWS)  # the rows really differ
    assert f"|head:{head}|template:chat|" in sc.signature()


def test_head_out_of_range(rm_dir):
    sc = get_scorer(f"hf:{rm_dir},head=3")
    with pytest.raises(SpecError, match=r"head=3 is out of range: the model has 3 output"):
        sc.score_batch(make_batch())
    with pytest.raises(SpecError, match="head must be >= 0"):
        get_scorer(f"hf:{rm_dir},head=-1")


def test_plain_template(rm_dir, rm_plain_dir):
    batch = make_batch()
    want = [hand_logits(rm_plain_dir, plain_text(*r), special=True)[0] for r in ROWS]
    auto = get_scorer(f"hf:{rm_plain_dir}")  # no chat template -> plain
    assert "|template:plain|" in auto.signature()
    np.testing.assert_allclose(auto.score_batch(batch), want, atol=1e-5, rtol=0)
    forced = get_scorer(f"hf:{rm_dir},template=plain")  # same weights, template ignored
    assert "|template:plain|" in forced.signature()
    np.testing.assert_allclose(forced.score_batch(batch), want, atol=1e-5, rtol=0)
    chat = get_scorer(f"hf:{rm_dir}").score_batch(batch)
    assert np.abs(chat - np.array(want)).max() > 1e-3
    with pytest.raises(SpecError, match="has no chat template"):
        get_scorer(f"hf:{rm_plain_dir},template=chat").signature()


# -- batch size and order -----------------------------------------------------------------------
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    perm=st.permutations(range(len(ROWS))),
    max_batch=st.sampled_from([1, 2, 3, 16]),
    max_tokens=st.sampled_from([0, 40, 200]),
)
def test_batch_size_and_order_invariance(rm_dir, perm, max_batch, max_tokens):
    ref = RewardModelScorer(rm_dir, max_batch=1, sort_by_length=False).score_batch(make_batch())
    rows = [ROWS[i] for i in perm]
    sc = get_scorer(f"hf:{rm_dir},max_batch={max_batch},max_tokens={max_tokens}")
    got = sc.score_batch(make_batch(rows))
    np.testing.assert_allclose(got, ref[list(perm)], atol=1e-5, rtol=0)


def test_explicit_batch_sizes_and_permutation(rm_dir):
    batch = make_batch()
    ref = get_scorer(f"hf:{rm_dir},max_batch=1").score_batch(batch)
    for mb in (3, 16):
        np.testing.assert_allclose(
            get_scorer(f"hf:{rm_dir},max_batch={mb}").score_batch(batch), ref, atol=1e-5, rtol=0
        )
    perm = np.random.default_rng(0).permutation(len(ROWS))
    got = get_scorer(f"hf:{rm_dir},max_batch=3").score_batch(make_batch([ROWS[i] for i in perm]))
    np.testing.assert_allclose(got, ref[perm], atol=1e-5, rtol=0)


def test_missing_pad_token_uses_eos(tmp_path, rm_dir):
    """A tokenizer without a pad token and a config without pad_token_id still batch correctly
    (pad = eos, and the model is told so that last-token pooling works)."""
    from transformers import AutoTokenizer, LlamaForSequenceClassification

    folder = tmp_path / "nopad"
    model = LlamaForSequenceClassification.from_pretrained(rm_dir)
    model.config.pad_token_id = None
    model.save_pretrained(folder)
    tok = AutoTokenizer.from_pretrained(rm_dir)
    tok.pad_token = None
    tok.save_pretrained(folder)
    assert AutoTokenizer.from_pretrained(folder).pad_token is None
    batch = make_batch()
    one = get_scorer(f"hf:{folder},max_batch=1").score_batch(batch)
    many = get_scorer(f"hf:{folder},max_batch=16").score_batch(batch)
    np.testing.assert_allclose(many, one, atol=1e-5, rtol=0)
    assert TM.load_tokenizer(TM.resolve_model(str(folder))).pad_token == "[EOS]"


# -- truncation ---------------------------------------------------------------------------------
def test_truncation_is_counted_and_logged(rm_dir, caplog):
    sc = get_scorer(f"hf:{rm_dir},maxlen=12")
    assert "|maxlen:12|trunc:right|" in sc.signature()
    texts = [chat_text(*r) for r in ROWS]
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(rm_dir)
    n_long = sum(len(tok(t, add_special_tokens=False)["input_ids"]) > 12 for t in texts)
    assert 0 < n_long < len(ROWS)
    with caplog.at_level(logging.WARNING, logger="overcoat.scorers"):
        got = sc.score_batch(make_batch())
    assert sc.n_truncated == n_long
    assert f"{n_long} of {len(ROWS)} inputs truncated to 12 tokens" in caplog.text
    want = [hand_logits(rm_dir, t, special=False, maxlen=12)[0] for t in texts]
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    sc.score_batch(make_batch())
    assert sc.n_truncated == 2 * n_long  # cumulative


def test_default_maxlen_is_the_model_limit(rm_dir):
    sc = get_scorer(f"hf:{rm_dir}")
    assert sc.maxlen == 64 and "|maxlen:64|" in sc.signature()
    long = ("the cat sat on the mat . " * 30, None, "yes")
    out = sc.score_batch(make_batch([long, ROWS[0]]))
    assert sc.n_truncated == 1 and np.isfinite(out).all()
    left = get_scorer(f"hf:{rm_dir},truncation=left")
    assert "|trunc:left|" in left.signature()
    assert left.score_batch(make_batch([long]))[0] != pytest.approx(out[0], abs=1e-6)


# -- dtype / device / options -------------------------------------------------------------------
def test_device_dtype_options(rm_dir):
    sc = get_scorer(f"hf:{rm_dir},device=cpu,dtype=fp32")
    assert sc.signature().endswith("|dtype:float32") and sc.device == "cpu"
    assert sc.parallel_safe is False
    bf = get_scorer(f"hf:{rm_dir},device=cpu,dtype=bf16")
    assert bf.signature().endswith("|dtype:bfloat16")
    np.testing.assert_allclose(
        bf.score_batch(make_batch()), sc.score_batch(make_batch()), atol=0.1, rtol=0.1
    )


@pytest.mark.parametrize(
    "spec, msg",
    [
        ("hf:", "give a model"),
        ("hf:{d},colour=red", "unknown option 'colour'"),
        ("hf:{d},truncation=middle", "truncation must be right or left"),
        ("hf:{d},template=fancy", "template must be auto, chat or plain"),
        ("hf:{d},max_batch=0", "max_batch must be >= 1"),
        ("hf:{d},dtype=fp8", "unknown dtype"),
        ("hf:{d},other", "at most 1 model"),
    ],
)
def test_bad_specs(rm_dir, spec, msg):
    with pytest.raises(SpecError, match=msg):
        get_scorer(spec.format(d=rm_dir))


def test_signature_has_content_revision(rm_dir, tmp_path):
    sig = get_scorer(f"hf:{rm_dir}").signature()
    assert sig.startswith("hf|model:") and "|rev:sha256:" in sig
    copy = tmp_path / "copy"
    shutil.copytree(rm_dir, copy)
    # same content elsewhere: same revision
    rev = get_scorer(f"hf:{copy}").signature().split("|")[2]
    assert rev == sig.split("|")[2]


# -- safety and errors --------------------------------------------------------------------------
def test_trust_remote_code_refused_by_default(rm_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = tmp_path / "custom"
    shutil.copytree(rm_dir, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["auto_map"] = {
        "AutoConfig": "my_code.MyConfig",
        "AutoModelForSequenceClassification": "my_code.MyModel",
    }
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / "my_code.py").write_text("raise SystemExit('custom code must not run')\n")
    sc = get_scorer(f"hf:{folder}")
    with pytest.raises(SpecError, match="trust_remote_code=true") as e:
        sc.signature()
    assert "\n" not in str(e.value)
    with pytest.raises(SpecError, match="trust_remote_code"):
        sc.score_batch(make_batch())


@pytest.mark.parametrize(
    "name", ["/nonexistent/overcoat/reward-model", "no-such-org-overcoat/no-such-reward-model"]
)
def test_missing_weights_is_one_line(name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    sc = get_scorer(f"hf:{name}")
    with pytest.raises(SpecError) as e:
        sc.signature()
    msg = str(e.value)
    assert "\n" not in msg and name in msg and "local path" in msg and "offline" in msg
    with pytest.raises(SpecError, match="local path"):
        sc.score_batch(make_batch())


def test_local_folder_without_weights(tmp_path, rm_dir):
    folder = tmp_path / "noweights"
    shutil.copytree(rm_dir, folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(SpecError) as e:
        get_scorer(f"hf:{folder}").score_batch(make_batch())
    assert "\n" not in str(e.value) and str(folder) in str(e.value)


# -- through the engine -------------------------------------------------------------------------
def test_score_dataset_works_and_caches(rm_dir, tmp_path):
    rows = [r for r in ROWS if r[2]]  # data sets have no empty responses
    b = DatasetBuilder("tiny")
    for k, (inp, msgs, _) in enumerate(rows):
        b.add_item(f"i{k}", msgs if msgs else inp)
    for k, (_, _, resp) in enumerate(rows):
        b.add_response(f"i{k}", "a", resp)
        b.add_response(f"i{k}", "b", rows[(k + 1) % len(rows)][2])
    ds = b.build()
    cache = tmp_path / "scores.sqlite"
    spec = f"hf:{rm_dir}"
    r1 = score_dataset(ds, spec, cache=cache, batch_size=3)
    assert r1.n_scored == r1.n_unique == 2 * len(rows) and np.isfinite(r1.scores).all()
    assert r1.signature.startswith("hf|model:")
    want = get_scorer(spec).score_batch(make_batch(rows))
    rt = ds.response_inputs()
    idx_a = [i for i, r in enumerate(rt.column("response_id").to_pylist()) if r == "a"]
    np.testing.assert_allclose(r1.scores[idx_a], want, atol=1e-5, rtol=0)
    r2 = score_dataset(ds, spec, cache=cache, batch_size=64)
    assert r2.n_cached == r1.n_unique and r2.n_scored == 0
    np.testing.assert_array_equal(r2.scores, r1.scores)
    r3 = score_dataset(ds, spec, cache=None, batch_size=64)
    np.testing.assert_allclose(r3.scores, r1.scores, atol=1e-5, rtol=0)


# -- helpers ------------------------------------------------------------------------------------
@settings(max_examples=50, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 50), max_size=40),
    max_batch=st.integers(1, 8),
    max_tokens=st.sampled_from([0, 10, 64, 1000]),
)
def test_plan_batches(lengths, max_batch, max_tokens):
    plan = TM.plan_batches(lengths, max_batch, max_tokens)
    flat = [i for b in plan for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)
    for b in plan:
        assert 1 <= len(b) <= max_batch
        if max_tokens and len(b) > 1:
            assert max(max(lengths[i], 1) for i in b) * len(b) <= max_tokens
    naive = TM.plan_batches(lengths, max_batch, None, sort=False)
    assert [i for b in naive for i in b] == list(range(len(lengths)))


def test_bin_checkpoint_loads(rm_dir, tmp_path):
    """A folder with a pytorch_model.bin only (transformers reads it with weights_only=True)."""
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, LlamaForSequenceClassification

    folder = tmp_path / "bin"
    folder.mkdir()
    model = LlamaForSequenceClassification.from_pretrained(rm_dir)
    model.config.save_pretrained(folder)
    torch.save(load_file(f"{rm_dir}/model.safetensors"), folder / "pytorch_model.bin")
    AutoTokenizer.from_pretrained(rm_dir).save_pretrained(folder)
    np.testing.assert_allclose(
        get_scorer(f"hf:{folder}").score_batch(make_batch()),
        get_scorer(f"hf:{rm_dir}").score_batch(make_batch()),
        atol=1e-6,
        rtol=0,
    )


def test_registration_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys; from overcoat.scorers.registry import available_scorers, get_scorer; "
        "names = available_scorers(); assert {'hf', 'loglik', 'dpo'} <= set(names), names; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
