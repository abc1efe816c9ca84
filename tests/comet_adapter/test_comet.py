"""The COMET scorer against unbabel-comet itself, on tiny untrained checkpoints (conftest.py).

Runs in the COMET environment (``bash scripts/ci_comet.sh``); skipped where unbabel-comet is not
installed. No downloads: the encoder is the bundled all-MiniLM-L6-v2 and the hub is offline.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
import warnings

import pytest

try:
    importlib.metadata.version("unbabel-comet")
except importlib.metadata.PackageNotFoundError:
    pytest.skip(
        "unbabel-comet is not installed (it has its own environment: scripts/ci_comet.sh)",
        allow_module_level=True,
    )
comet = pytest.importorskip("comet")

import numpy as np  # noqa: E402

from overcoat.data.builder import DatasetBuilder  # noqa: E402
from overcoat.errors import DataError, SpecError  # noqa: E402
from overcoat.scorers.base import ScoringBatch  # noqa: E402
from overcoat.scorers.engine import score_dataset  # noqa: E402
from overcoat.scorers.registry import get_scorer  # noqa: E402

pytestmark = [pytest.mark.comet, pytest.mark.models]

SRC = [
    "Der Hund bellt.",
    "Guten Morgen, wie geht es dir heute?",
    "Das ist ein Test.",
    "Ich habe keine Zeit.",
    "Wo ist der Bahnhof?",
    "Die Katze schläft auf dem Sofa, während draußen der Regen fällt und niemand zu Hause ist.",
    "Danke!",
    "Kannst du mir helfen?",
]
MT = [
    "The dog barks.",
    "Good morning, how are you today?",
    "This is a test.",
    "I have no time.",
    "Where is the station?",
    "The cat sleeps on the sofa while it rains outside and nobody is at home.",
    "Thanks!",
    "Can you help me?",
]
REFS = [
    ["The dog is barking.", "The dog barks."],
    ["Good morning, how are you doing today?"],
    ["That is a test.", "This is a test.", "It is a test."],
    ["I don't have time."],
    ["Where is the train station?"],
    ["The cat is sleeping on the couch while the rain falls outside and no one is home."],
    ["Thank you!", "Thanks!"],
    ["Could you help me?"],
]


def batch(refs=REFS) -> ScoringBatch:
    return ScoringBatch(list(SRC), list(MT), [list(r) for r in refs])


_LOADED: dict = {}


def direct(folder, samples, batch_size=16):
    """unbabel-comet's own scores for ``samples``."""
    if folder not in _LOADED:
        _LOADED[folder] = comet.load_from_checkpoint(str(folder / "checkpoints" / "model.ckpt"))
    model = _LOADED[folder]
    with warnings.catch_warnings():  # Lightning's deprecation noise
        warnings.simplefilter("ignore")
        out = model.predict(samples, batch_size=batch_size, gpus=0, progress_bar=False)
    return np.array(out.scores)


@pytest.fixture(scope="module")
def scorers(comet_ckpts):
    return {k: get_scorer(f"comet:{p},gpus=0") for k, p in comet_ckpts.items()}


# -- equal to comet's own predict ------------------------------------------------------------------
def test_reference_based_equals_comet_predict(comet_ckpts, scorers):
    sc = scorers["da"]
    assert sc.needs_references is True and sc.parallel_safe is False and sc.higher_is_better
    got = sc.score_batch(batch())
    want = direct(
        comet_ckpts["da"], [{"src": s, "mt": m, "ref": r[0]} for s, m, r in zip(SRC, MT, REFS)]
    )
    assert got.dtype == np.float64 and got.shape == (len(MT),)
    assert np.array_equal(got, want)  # same samples, same batches: bit-identical
    assert len(set(got.tolist())) == len(MT)  # the untrained head still separates rows


def test_checkpoint_file_and_folder_are_the_same_model(comet_ckpts, scorers):
    ckpt = comet_ckpts["da"] / "checkpoints" / "model.ckpt"
    sc = get_scorer(f"comet:{ckpt},gpus=0")
    assert sc.signature() == scorers["da"].signature()
    assert np.array_equal(sc.score_batch(batch()), scorers["da"].score_batch(batch()))


def test_signature(comet_ckpts, scorers):
    sig = scorers["da"].signature()
    sha = hashlib.sha256((comet_ckpts["da"] / "checkpoints" / "model.ckpt").read_bytes())
    assert sig == (
        f"comet|model:{comet_ckpts['da'].resolve()}|ckpt_sha256:{sha.hexdigest()[:12]}"
        f"|comet:{importlib.metadata.version('unbabel-comet')}"
        f"|class:regression_metric|refs:first"
    )
    assert "batch" not in sig and "gpus" not in sig
    assert get_scorer(f"comet:{comet_ckpts['da']},multiref=max").signature().endswith("refs:max")
    assert scorers["qe"].signature().endswith("|class:referenceless_regression_metric|refs:no")
    assert scorers["xcomet"].signature().endswith("|class:unified_metric|refs:first-if-present")
    assert scorers["da"].name == "tiny-da"
    # distinct models, distinct signatures
    assert len({s.signature() for s in scorers.values()}) == len(scorers)


@pytest.mark.parametrize("kind", ["qe", "kiwi"])
def test_reference_free_scores_without_references(comet_ckpts, scorers, kind):
    sc = scorers[kind]
    assert sc.needs_references is False
    no_refs = sc.score_batch(batch(refs=[[] for _ in MT]))
    want = direct(comet_ckpts[kind], [{"src": s, "mt": m} for s, m in zip(SRC, MT)])
    assert np.array_equal(no_refs, want)
    assert np.array_equal(sc.score_batch(batch()), no_refs)  # references are not used
    assert np.isfinite(no_refs).all()


def test_unified_model_uses_references_when_present(comet_ckpts, scorers):
    sc = scorers["xcomet"]
    assert sc.needs_references is False
    refs = [r if k % 2 == 0 else [] for k, r in enumerate(REFS)]
    got = sc.score_batch(batch(refs=refs))
    with_ref = direct(
        comet_ckpts["xcomet"], [{"src": s, "mt": m, "ref": r[0]} for s, m, r in zip(SRC, MT, REFS)]
    )
    without = direct(comet_ckpts["xcomet"], [{"src": s, "mt": m} for s, m in zip(SRC, MT)])
    for k in range(len(MT)):
        want = with_ref[k] if k % 2 == 0 else without[k]
        assert got[k] == pytest.approx(want, abs=1e-6)  # different batch mates: float32 noise
    assert not np.allclose(with_ref, without)


# -- options ---------------------------------------------------------------------------------------
def test_batch_size_does_not_change_scores(comet_ckpts, scorers):
    base = scorers["da"].score_batch(batch())
    for bs in (1, 3):
        sc = get_scorer(f"comet:{comet_ckpts['da']},batch_size={bs},gpus=0")
        assert sc.signature() == scorers["da"].signature()
        np.testing.assert_allclose(sc.score_batch(batch()), base, rtol=0, atol=1e-6)


def test_multiref(comet_ckpts):
    path = comet_ckpts["da"]
    flat = [(k, {"src": SRC[k], "mt": MT[k], "ref": r}) for k in range(len(MT)) for r in REFS[k]]
    each = direct(path, [s for _, s in flat])
    owner = np.array([k for k, _ in flat])
    want_max = np.array([each[owner == k].max() for k in range(len(MT))])
    want_mean = np.array([each[owner == k].mean() for k in range(len(MT))])
    for mode, want in (("max", want_max), ("mean", want_mean)):
        got = get_scorer(f"comet:{path},multiref={mode},gpus=0").score_batch(batch())
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    first = get_scorer(f"comet:{path},gpus=0").score_batch(batch())
    only_first = get_scorer(f"comet:{path},gpus=0").score_batch(batch([r[:1] for r in REFS]))
    assert np.array_equal(first, only_first)
    assert (want_max >= first - 1e-6).all() and (want_max > first + 1e-6).any()


@pytest.mark.parametrize(
    "opts, msg",
    [
        ("gpus=2", "gpus must be 0 or 1"),
        ("multiref=min", "multiref must be one of"),
        ("batch_size=0", "batch_size must be >= 1"),
        ("beam=3", "unknown option 'beam'"),
        ("batch_size=x", "needs a int"),
    ],
)
def test_bad_options(comet_ckpts, opts, msg):
    with pytest.raises(SpecError, match=re.escape(msg)) as e:
        get_scorer(f"comet:{comet_ckpts['da']},{opts}")
    assert "\n" not in str(e.value)


# -- the engine ----------------------------------------------------------------------
def dataset(with_refs=True):
    b = DatasetBuilder("tiny-mt")
    for k, (s, refs) in enumerate(zip(SRC, REFS)):
        b.add_item(f"i{k}", s, references=refs if with_refs else ())
        b.add_response(f"i{k}", "sysA", MT[k])
        b.add_response(f"i{k}", "sysB", MT[(k + 1) % len(MT)])
        b.add_response(f"i{k}", "copy", MT[k])  # same content as sysA: scored once
    return b.build()


def test_score_dataset_with_cache(tmp_path, comet_ckpts, scorers):
    ds = dataset()
    cache = tmp_path / "scores.sqlite"
    first = score_dataset(ds, f"comet:{comet_ckpts['da']},gpus=0", cache=cache, batch_size=5)
    n = 3 * len(MT)
    assert (first.n_total, first.n_unique, first.n_scored, first.n_cached) == (
        n,
        2 * len(MT),
        2 * len(MT),
        0,
    )
    assert first.signature == scorers["da"].signature()
    t = ds.response_inputs()
    want = scorers["da"].score_batch(
        ScoringBatch(
            t.column("input").to_pylist(),
            t.column("text").to_pylist(),
            t.column("references").to_pylist(),
        )
    )
    np.testing.assert_allclose(first.scores, want, rtol=0, atol=1e-6)
    again = score_dataset(ds, f"comet:{comet_ckpts['da']},batch_size=2,gpus=0", cache=cache)
    assert (again.n_cached, again.n_scored) == (2 * len(MT), 0)
    assert again.scores.tobytes() == first.scores.tobytes()


def test_references_required(comet_ckpts, scorers):
    with pytest.raises(DataError, match="needs references"):
        score_dataset(dataset(with_refs=False), scorers["da"], cache=None)
    with pytest.raises(DataError, match="needs references"):
        scorers["da"].score_batch(batch(refs=[[] for _ in MT]))
    r = score_dataset(dataset(with_refs=False), scorers["qe"], cache=None)
    assert np.isfinite(r.scores).all()


# -- weights that cannot be had ------------------------------------------------------
@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache (offline); COMET's legacy cache folder under a temp HOME."""
    import huggingface_hub.constants as C

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(C, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path / "hub"


def test_hub_name_from_the_cache(hub_cache, comet_ckpts, scorers):
    """A name resolves through the Hugging Face cache (as comet.download_model leaves it); the
    checkpoint's hash is then read from its blob name."""
    src = comet_ckpts["da"]
    repo = hub_cache / "models--Org--tiny-da"
    snap = repo / "snapshots" / ("0" * 40)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    for rel in ("hparams.yaml", "checkpoints/model.ckpt"):
        data = (src / rel).read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        (snap / rel).parent.mkdir(parents=True, exist_ok=True)
        (snap / rel).symlink_to(blob)
    sc = get_scorer("comet:Org/tiny-da,gpus=0")
    assert sc.name == "tiny-da" and sc.needs_references
    local_sig = scorers["da"].signature()
    assert sc.signature() == local_sig.replace(f"model:{src.resolve()}", "model:Org/tiny-da")
    assert np.array_equal(sc.score_batch(batch()), scorers["da"].score_batch(batch()))


def test_missing_hub_model_is_one_line_spec_error(hub_cache):
    with pytest.raises(SpecError) as e:
        get_scorer("comet:Unbabel/overcoat-no-such-model")
    msg = str(e.value)
    assert "\n" not in msg and "Unbabel/overcoat-no-such-model" in msg and "local path" in msg


@pytest.mark.parametrize("make", ["missing", "no_hparams", "empty_folder"])
def test_bad_local_checkpoint_is_one_line_spec_error(tmp_path, comet_ckpts, make):
    if make == "missing":
        spec = f"comet:{tmp_path / 'nope' / 'model.ckpt'}"
    elif make == "no_hparams":
        (tmp_path / "m" / "checkpoints").mkdir(parents=True)
        (tmp_path / "m" / "checkpoints" / "model.ckpt").write_bytes(b"x")
        spec = f"comet:{tmp_path / 'm'}"
    else:
        spec = f"comet:{tmp_path}"
    with pytest.raises(SpecError) as e:
        get_scorer(spec)
    assert "\n" not in str(e.value)


def test_no_model_named():
    with pytest.raises(SpecError, match="needs a model"):
        get_scorer("comet")
