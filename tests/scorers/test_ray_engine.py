"""``--engine ray``: the Ray executor gives bit-for-bit the local engine's scores and fills
the score cache the same way; the CLI's ``--engine ray`` and its errors.

One local Ray instance (2 CPUs, small object store) serves the whole module; every scoring run
starts its own actors (a few seconds each), so the data is small. (``kill -9`` of a Ray run:
``test_ray_crash.py``.)
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from overcoat import api  # noqa: E402
from overcoat.cli import main  # noqa: E402
from overcoat.errors import OvercoatError  # noqa: E402
from overcoat.scorers.engine import compare_pairs, score_dataset  # noqa: E402
from overcoat.scorers.registry import get_scorer, spec_of  # noqa: E402

import _slow_scorer as H  # noqa: E402

PY = f"python:{HERE / '_ray_scorers.py'}"
N_ITEMS = 12
BATCH = 24


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip(
        "ray", reason="Ray is not installed (pip install 'overcoat[ray]'; the test extra has it)"
    )
    import os

    # workers (started with this environment) import this folder's helper modules (a pickled
    # scorer) and overcoat like the test process does; no runtime_env, so that Ray's prestarted
    # workers can serve the actors
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), *sys.path])
    try:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            object_store_memory=150 * 2**20,
            log_to_driver=False,
        )
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    """The first items of TED en-de as a flat Parquet file (item, source, response, reference)."""
    ds = api.load("ted-ende")
    t = ds.response_inputs()
    ids = ds.items.column("item_id").to_pylist()[:N_ITEMS]
    rows = [
        {
            "item_id": r["item_id"],
            "input": r["input"],
            "response_id": r["response_id"],
            "response": r["text"],
            "reference": r["references"][0],
        }
        for r in t.to_pylist()
        if r["item_id"] in set(ids)
    ]
    path = tmp_path_factory.mktemp("data") / "ted.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.fixture(scope="module")
def dataset(data_file):
    return api.load(str(data_file))


def ray_executor(actors: int = 1, **kw):
    """Two actors where results may arrive out of order matters, else one (2 CPUs in CI)."""
    from overcoat.scorers.ray_executor import RayExecutor

    return RayExecutor(actors=actors, **kw)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-for-bit: same NaN positions, same values, same sign of zero."""
    return (
        a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True) and a.tobytes() == b.tobytes()
    )


# -- equality with the local engine -----------------------------------------------------------
# (length: in the CLI test below); two actors once, so that results arrive out of order
@pytest.mark.parametrize("spec, actors", [("chrf", 2), ("bleu", 1), (f"{PY}:odd", 1)])
def test_same_scores_and_cache_as_local_engine(ray_local, dataset, tmp_path, spec, actors):
    local = score_dataset(dataset, spec, cache=tmp_path / "local.sqlite", batch_size=BATCH)
    ex = ray_executor(actors=actors)
    remote = score_dataset(
        dataset, spec, cache=tmp_path / "ray.sqlite", batch_size=BATCH, executor=ex
    )
    assert len(local.scores) == dataset.n_responses > 3 * BATCH
    assert same(remote.scores, local.scores)
    assert remote.signature == local.signature
    assert (remote.n_unique, remote.n_cached, remote.n_scored, remote.n_missing) == (
        local.n_unique,
        local.n_cached,
        local.n_scored,
        local.n_missing,
    )
    assert remote.workers == actors and any("Ray actors" in n for n in remote.notes)
    if spec.endswith(":odd"):  # the case that has them: missing scores and -0.0 survive
        assert 0 < remote.n_missing < len(remote.scores)
    # the Ray run filled the cache as the local engine does: the same (signature, key, score)
    # rows; a rerun with the local engine scores nothing new, only what is missing (NaN is not
    # cached), exactly as a rerun on the local engine's cache does
    assert cache_rows(tmp_path / "ray.sqlite") == cache_rows(tmp_path / "local.sqlite")
    again = score_dataset(dataset, spec, cache=tmp_path / "local.sqlite", batch_size=BATCH)
    rerun = score_dataset(dataset, spec, cache=tmp_path / "ray.sqlite", batch_size=BATCH)
    assert (rerun.n_scored, rerun.n_cached) == (again.n_scored, again.n_cached)
    assert rerun.n_cached == len(cache_rows(tmp_path / "ray.sqlite")) > 0
    assert rerun.n_scored == (0 if local.n_missing == 0 else rerun.n_unique - rerun.n_cached)
    assert same(rerun.scores, local.scores)


def cache_rows(path) -> list[tuple]:
    with sqlite3.connect(path) as con:
        return sorted(
            con.execute(
                "SELECT signature, key, score FROM scores JOIN signatures ON sig = id"
            ).fetchall()
        )


def test_scorer_without_spec_is_pickled_to_actors(ray_local, dataset, tmp_path):
    sc = H.ContentScorer()
    assert spec_of(sc) is None and spec_of(get_scorer("chrf")) == "chrf"
    want = score_dataset(dataset, H.ContentScorer(), cache=None, batch_size=BATCH)
    got = score_dataset(dataset, sc, cache=None, batch_size=BATCH, executor=ray_executor())
    assert same(got.scores, want.scores)
    assert sc.n_rows == 0  # scored by the actors' copies, not by this object
    assert any("pickled" in n for n in got.notes)


def test_at_most_one_uncommitted_batch_per_actor(ray_local, tmp_path):
    """What a kill can lose: whenever the engine has committed k batches (``on_batch``, before it
    asks for the next result), at most k + actors - 1 batches have started scoring, however long
    the engine takes (it sleeps here, so that actors that could run ahead would)."""
    ids = tmp_path / "ids"
    ds = H.make_dataset(60)
    bs, actors, seen = 5, 2, []

    def started() -> int:
        return len(ids.read_text().splitlines()) if ids.exists() else 0

    def on_batch(done: int, total: int) -> None:
        k = done // bs
        seen.append((k, started()))
        time.sleep(0.2)
        seen.append((k, started()))

    res = score_dataset(
        ds,
        H.ContentScorer(ids_path=str(ids)),
        cache=tmp_path / "c.sqlite",
        batch_size=bs,
        executor=ray_executor(actors=actors),
        on_batch=on_batch,
    )
    assert res.n_scored == 60 and started() == 60 // bs  # each batch scored once
    assert len(seen) == 2 * (60 // bs)
    assert all(n <= k + actors - 1 for k, n in seen), seen


def test_pairwise_scorer(ray_local, tmp_path):
    ds = H.make_dataset(40, per_item=4)
    pairs = [(f"i{i}", "s0", "s1") for i in range(10)] + [(f"i{i}", "s1", "s0") for i in range(10)]
    want = compare_pairs(ds, H.ContentJudge(), pairs, cache=None, batch_size=3)
    got = compare_pairs(
        ds, H.ContentJudge(), pairs, cache=None, batch_size=3, executor=ray_executor()
    )
    assert same(got.scores, want.scores)


def test_scorer_error_is_the_same_one_line(ray_local, dataset):
    spec = f"{PY}:raises"
    with pytest.raises(OvercoatError) as local:
        score_dataset(dataset, spec, cache=None, batch_size=BATCH)
    with pytest.raises(OvercoatError) as remote:
        score_dataset(dataset, spec, cache=None, batch_size=BATCH, executor=ray_executor())
    assert "no e please" in str(remote.value) and "\n" not in str(remote.value)
    assert str(remote.value).split(" raised on ")[0] == str(local.value).split(" raised on ")[0]


def test_llm_judge_stays_in_this_process():
    from overcoat.scorers.ray_executor import _how_to_build

    class Judge(H.ContentScorer):
        def report(self):
            return {}

    how, note = _how_to_build(Judge())
    assert how == "here" and "LLM judge" in note
    assert _how_to_build(get_scorer("chrf")) == ("spec", "chrf")


@pytest.mark.models
def test_tiny_torch_reward_model(ray_local, dataset, tmp_path):
    """An ``hf:`` reward model (a tiny random Llama classifier, built offline) loads in the actor
    from its spec and gives the local engine's scores bit for bit (same batches, same padding)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import importlib.util

    from transformers import LlamaForSequenceClassification

    spec_ = importlib.util.spec_from_file_location(
        "_models_conftest", HERE.parent / "models" / "conftest.py"
    )
    assert spec_ is not None and spec_.loader is not None
    m = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(m)
    tok = m.build_tokenizer(chat=False)
    torch.manual_seed(0)
    model = LlamaForSequenceClassification(m.llama_config(len(tok), num_labels=1)).eval()
    folder = m.save(model, tok, tmp_path / "rm")
    spec = f"hf:{folder},max_batch=8"
    local = score_dataset(dataset, spec, cache=None, batch_size=BATCH)
    remote = score_dataset(dataset, spec, cache=None, batch_size=BATCH, executor=ray_executor())
    assert not np.isnan(local.scores).any()
    assert same(remote.scores, local.scores)


# -- the CLI ----------------------------------------------------------------------------------
def cli(args, capsys):
    code = main(args)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_cli_score_engine_ray_parquet(ray_local, data_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OVERCOAT_CACHE", str(tmp_path / "cli.sqlite"))
    args = ["score", "-d", str(data_file), "-s", "chrf", "-s", "length", "-q"]
    args += ["--batch-size", str(BATCH)]
    code, out, err = cli(
        [*args, "-o", str(tmp_path / "ray.parquet"), "--engine", "ray", "--ray-actors", "2"], capsys
    )
    assert code == 0, err
    code, out, err = cli([*args, "-o", str(tmp_path / "local.parquet"), "--no-cache"], capsys)
    assert code == 0, err
    a = pq.read_table(tmp_path / "ray.parquet")
    b = pq.read_table(tmp_path / "local.parquet")
    assert a.num_rows == b.num_rows > 0
    for col in b.column_names:
        if col.startswith(("chrF", "length")) and pa.types.is_floating(b.schema.field(col).type):
            assert same(np.asarray(a.column(col)), np.asarray(b.column(col))), col
    assert a.equals(b)


@pytest.mark.parametrize(
    "extra, want",
    [
        (["--engine", "spark"], "unknown engine 'spark' (known: local, ray)"),
        (["--ray-address", "auto"], "--ray-address needs --engine ray"),
        (["--engine", "ray", "-j", "2"], "--workers is for --engine local"),
        (["--engine", "ray", "--ray-address", "nohost"], "expected 'auto', HOST:PORT"),
        (["--engine", "ray", "--ray-address", "127.0.0.1:1"], "cannot reach a Ray cluster"),
    ],
)
def test_cli_bad_engine_options(data_file, tmp_path, capsys, extra, want):
    out = tmp_path / "s.parquet"
    code, _, err = cli(
        ["score", "-d", str(data_file), "-s", "length", "-o", str(out), *extra], capsys
    )
    assert code == 2
    assert want in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_ray_missing_names_the_extra(monkeypatch, data_file, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    code, _, err = cli(
        [
            "score",
            "-d",
            str(data_file),
            "-s",
            "length",
            "-o",
            str(tmp_path / "s.parquet"),
            "--engine",
            "ray",
        ],
        capsys,
    )
    assert code == 2 and "pip install 'overcoat[ray]'" in err and err.count("\n") == 1


def test_run_engine_ray_option_is_checked(tmp_path, capsys):
    code, _, err = cli(["run", "--out-dir", str(tmp_path), "--engine", "spark"], capsys)
    assert code == 2 and "unknown engine 'spark'" in err
    assert json.dumps(sorted(p.name for p in tmp_path.iterdir())) == "[]"
