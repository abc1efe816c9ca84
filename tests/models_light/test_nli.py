"""nli: with a tiny random NLI cross-encoder built offline in the test."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from overcoat.errors import SpecError  # noqa: E402
from overcoat.scorers.base import ScoringBatch  # noqa: E402
from overcoat.scorers.nli import find_entailment_label, split_sentences  # noqa: E402
from overcoat.scorers.registry import get_scorer  # noqa: E402

pytestmark = pytest.mark.models

_VOCAB = (
    "the a cat dog bird sat ran flew on over mat house tree is was big small red blue "
    "and then it . , ! ?"
)
WORDS = _VOCAB.split()
MAX_LEN = 32
ID2LABEL = {0: "neutral", 1: "ENTAILMENT", 2: "contradiction"}


def _build(folder, id2label=ID2LABEL):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + WORDS)}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tk.normalizer = normalizers.Lowercase()
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tk,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_max_length=MAX_LEN,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )
    tok.save_pretrained(folder)
    cfg = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=len(id2label),
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
        initializer_range=0.5,
    )
    torch.manual_seed(0)
    transformers.BertForSequenceClassification(cfg).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = _build(tmp_path_factory.mktemp("tiny_nli"))
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(folder).eval()
    return str(folder), tok, model


def _p(tiny, premise, hypothesis):
    """Hand computation: softmax of the logits of one (premise, hypothesis) pair, P(label 1)."""
    _, tok, model = tiny
    enc = tok(premise, hypothesis, return_tensors="pt")
    assert enc["input_ids"].shape[1] <= MAX_LEN
    with torch.no_grad():
        logits = model(**enc).logits[0].double()
    return float(torch.softmax(logits, -1)[1])


def test_sentence_splitter():
    assert split_sentences("The cat sat. The dog ran! Did it? Yes.") == [
        "The cat sat.",
        "The dog ran!",
        "Did it?",
        "Yes.",
    ]
    assert split_sentences("e.g. this stays. Pi is 3.14 here.\n- bullet one\n\n...") == [
        "e.g. this stays.",
        "Pi is 3.14 here.",
        "- bullet one",
    ]
    assert split_sentences('He said "go." Then left.') == ['He said "go."', "Then left."]
    assert split_sentences("猫が座った。犬が走った。") == ["猫が座った。", "犬が走った。"]
    assert split_sentences("  ") == [] and split_sentences("?!") == []


def test_entailment_label_lookup():
    assert find_entailment_label({0: "contradiction", 1: "entailment", 2: "neutral"}) == 1
    assert find_entailment_label({0: "ENTAILMENT", 1: "not_entailment"}) == 0
    with pytest.raises(SpecError):
        find_entailment_label({0: "LABEL_0", 1: "LABEL_1"})


def test_score_equals_hand_computation_min_and_mean(tiny):
    folder = tiny[0]
    premise = "the cat sat on the mat . the dog ran"
    resp = ["The cat sat. The dog flew over the house.", "A red bird."]
    s_min = get_scorer(f"nli:{folder}")
    s_mean = get_scorer(f"nli:{folder},agg=mean")
    assert not s_min.needs_references
    b = ScoringBatch([premise, premise], resp, [[], []])
    got_min = s_min.score_batch(b)
    got_mean = s_mean.score_batch(b)
    sents0 = ["The cat sat.", "The dog flew over the house."]
    p0 = [_p(tiny, premise, s) for s in sents0]
    p1 = _p(tiny, premise, "A red bird.")
    np.testing.assert_allclose(got_min, [min(p0), p1], atol=1e-6)
    np.testing.assert_allclose(got_mean, [np.mean(p0), p1], atol=1e-6)
    assert got_min[0] != got_mean[0]
    # batch composition does not matter
    np.testing.assert_allclose(
        s_min.score_batch(ScoringBatch([premise], [resp[1]], [[]])), got_min[1:], atol=1e-6
    )


def test_premise_reference_max_over_references(tiny):
    folder = tiny[0]
    s = get_scorer(f"nli:{folder},premise=reference")
    assert s.needs_references
    refs = ["the cat sat on the mat", "a blue bird flew over the tree"]
    got = s.score_batch(ScoringBatch(["ignored"], ["the bird flew ."], [refs]))
    want = max(_p(tiny, r, "the bird flew .") for r in refs)
    np.testing.assert_allclose(got, [want], atol=1e-6)


def test_long_premise_is_chunked(tiny):
    folder = tiny[0]
    text = (
        "the cat sat on the mat and then the dog ran over the house and it was big "
        "and the red bird flew over the small blue tree"
    )
    words = text.split()
    premise = " ".join(words * 3)  # 84 word-level tokens >> MAX_LEN
    hyp = "the bird flew ."
    s = get_scorer(f"nli:{folder}")
    got = s.score_batch(ScoringBatch([premise], [hyp], [[]]))[0]
    # window 32 = 3 special tokens + 4 hypothesis tokens + 25 premise tokens per chunk
    budget = MAX_LEN - 3 - 4
    all_w = premise.split()
    chunks = [" ".join(all_w[k : k + budget]) for k in range(0, len(all_w), budget)]
    assert len(chunks) == 4
    want = max(_p(tiny, c, hyp) for c in chunks)
    assert got == pytest.approx(want, abs=1e-6)
    # a smaller window via max_length gives more chunks (and still their max)
    s16 = get_scorer(f"nli:{folder},max_length=16")
    b16 = 16 - 3 - 4
    chunks16 = [" ".join(all_w[k : k + b16]) for k in range(0, len(all_w), b16)]
    want16 = max(_p(tiny, c, hyp) for c in chunks16)
    assert s16.score_batch(ScoringBatch([premise], [hyp], [[]]))[0] == pytest.approx(
        want16, abs=1e-6
    )
    assert "maxlen:16" in s16.signature() and "maxlen:32" in s.signature()


def test_entail_label_override_and_signature(tiny, tmp_path):
    folder = tiny[0]
    s = get_scorer(f"nli:{folder},entail_label=2")
    premise, hyp = "the cat sat", "the cat sat ."
    got = s.score_batch(ScoringBatch([premise], [hyp], [[]]))[0]
    _, tok, model = tiny
    with torch.no_grad():
        want = float(
            torch.softmax(model(**tok(premise, hyp, return_tensors="pt")).logits[0].double(), -1)[2]
        )
    assert got == pytest.approx(want, abs=1e-6)
    sig = s.signature()
    assert "label:2" in sig and "agg:min" in sig and "hash:" in sig and "split:" in sig
    assert get_scorer(f"nli:{folder}").signature() != sig
    with pytest.raises(SpecError):
        get_scorer(f"nli:{folder},entail_label=7").signature()
    # a model whose labels do not say which one is entailment
    odd = _build(tmp_path / "odd", {0: "LABEL_0", 1: "LABEL_1"})
    with pytest.raises(SpecError):
        get_scorer(f"nli:{odd}").signature()


def test_empty_response_is_missing_and_errors(tiny):
    folder = tiny[0]
    s = get_scorer(f"nli:{folder}")
    got = s.score_batch(ScoringBatch(["the cat", "the cat"], ["...", "the cat ."], [[], []]))
    assert np.isnan(got[0]) and not np.isnan(got[1])
    with pytest.raises(SpecError):
        get_scorer("nli")
    with pytest.raises(SpecError):
        get_scorer(f"nli:{folder},agg=max")


def test_nli_through_score_dataset(tiny, tmp_path):
    from overcoat.data.builder import DatasetBuilder
    from overcoat.scorers.engine import score_dataset

    folder = tiny[0]
    b = DatasetBuilder("tiny")
    b.add_item("i1", "the cat sat on the mat")
    b.add_item("i2", "the dog ran over the house")
    b.add_response("i1", "r1", "The cat sat. It was red.")
    b.add_response("i2", "r1", "the dog ran .")
    r = score_dataset(b.build(), f"nli:{folder}", cache=str(tmp_path / "c.sqlite"), batch_size=1)
    want = [
        min(
            _p(tiny, "the cat sat on the mat", "The cat sat."),
            _p(tiny, "the cat sat on the mat", "It was red."),
        ),
        _p(tiny, "the dog ran over the house", "the dog ran ."),
    ]
    np.testing.assert_allclose(r.scores, want, atol=1e-6)
