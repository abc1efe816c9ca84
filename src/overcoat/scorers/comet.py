"""COMET, CometKiwi and XCOMET through ``unbabel-comet`` (never re-implemented).

Spec: ``comet:NAME_OR_PATH[,batch_size=N,gpus=0|1,multiref=first|max|mean,local_files_only=B]``

* ``NAME_OR_PATH`` is a Hugging Face model name (``Unbabel/wmt22-comet-da``,
  ``Unbabel/wmt22-cometkiwi-da``, ``Unbabel/XCOMET-XL``; fetched with ``comet.download_model``
  when the hub is reachable or already cached) or a local checkpoint: a ``.ckpt`` file with
  ``hparams.yaml`` in the folder above it, or a folder holding ``checkpoints/model.ckpt`` and
  ``hparams.yaml`` (COMET's layout). Loading is ``comet.load_from_checkpoint``; scores are the
  segment scores of ``model.predict(samples, batch_size, gpus)``.
* Whether references are needed is read from the checkpoint: regression and ranking metrics
  (COMET-DA) need them; referenceless regression (COMET-QE) and unified models trained with the
  source (CometKiwi: ``[mt, src]``) do not. A unified model with ``[mt, src, ref]`` (XCOMET) uses
  a reference when the row has one and scores the row without (quality estimation) otherwise.
* COMET takes one reference per segment. ``multiref=first`` (default) uses the first
  reference of each row; ``multiref=max`` / ``multiref=mean`` score the response against every
  reference and keep the maximum / mean.
* ``batch_size`` (default 16) and ``gpus`` (default 1 when CUDA is available, else 0) do not
  change the scores beyond float32 rounding (about 1e-7: padding differs between batches), so
  neither is part of the signature. Multi-GPU prediction is not supported (``gpus`` is 0 or 1).
* ``local_files_only=true`` (or ``HF_HUB_OFFLINE=1``) looks a name up only in the Hugging Face
  cache and COMET's legacy cache, without network; it is also passed to ``load_from_checkpoint``
  for the encoder's config and tokenizer (``pretrained_model`` in ``hparams.yaml``). The spec
  grammar (commas, options) is the README's "Scorer specs".

The signature is ``comet|model:NAME|ckpt_sha256:HASH12|comet:VERSION|class:ID|refs:MODE``:
``HASH12`` is the first 12 hex digits of the checkpoint file's SHA-256 (read from the Hugging Face
cache's blob name when the file is a cached hub download, hashed otherwise, once per process).

``unbabel-comet`` pins ``numpy<2`` and ``transformers<5``; install it in its own environment
(see the README). Nothing here imports ``comet`` or ``torch`` until a scorer is created.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import logging
import os
import re
import warnings
from pathlib import Path

import numpy as np

from ..errors import DataError, SpecError
from ._common import weights_error
from ._spec import model_and_options
from .base import Scorer, ScoringBatch
from .registry import register

_OPTIONS = {"batch_size": int, "gpus": int, "multiref": str, "local_files_only": bool}
_MULTIREF = ("first", "max", "mean")
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_SHA_MEMO: dict[tuple, str] = {}
_LIGHTNING_LOGGERS = (
    "pytorch_lightning",
    "lightning.pytorch",
    "lightning_fabric",
    "comet",
    "lightning",
    "lightning.fabric",
)


def comet_version() -> str | None:
    try:
        return importlib.metadata.version("unbabel-comet")
    except importlib.metadata.PackageNotFoundError:
        return None


def _require_comet():
    """Import ``comet`` (unbabel-comet) or raise a one-line SpecError saying how to install it."""
    if comet_version() is None:
        raise SpecError(
            "the comet scorer needs the 'unbabel-comet' package, which pins numpy<2 "
            "and transformers<5: install it in its own virtual environment with "
            "pip install torch, then pip install 'overcoat[comet]'"
        )
    with warnings.catch_warnings():  # pkg_resources deprecation from torchmetrics 0.10
        warnings.simplefilter("ignore")
        import comet
    if not hasattr(comet, "load_from_checkpoint"):  # e.g. a folder named comet shadows it
        raise SpecError(
            f"'import comet' found {getattr(comet, '__path__', comet)!r}, not unbabel-comet"
        )
    return comet


# -- checkpoints --------------------------------------------------------------------------------
def _looks_like_path(name: str) -> bool:
    """A local path rather than a hub name (``org/name`` or a legacy ``name``)."""
    return name.endswith(".ckpt") or name.startswith((".", "/", "~")) or not _HUB_NAME.match(name)


def _root_cause(err: BaseException) -> BaseException:
    """comet.download_model re-raises a KeyError while handling the hub's own error."""
    seen = {id(err)}
    while err.__context__ is not None and id(err.__context__) not in seen:
        err = err.__context__
        seen.add(id(err))
    return err


def _cached_checkpoint(model: str) -> Path:
    """Offline: the Hugging Face cache's snapshot, or COMET's legacy cache folder (no network;
    ``comet.download_model`` would try its legacy URL download even offline)."""
    from huggingface_hub import snapshot_download

    try:
        return (
            Path(snapshot_download(repo_id=model, local_files_only=True))
            / "checkpoints"
            / "model.ckpt"
        )
    except Exception as err:
        from comet.models.download_utils import get_cache_folder

        legacy = Path(get_cache_folder()) / model / "checkpoints" / "model.ckpt"
        if legacy.is_file():
            return legacy
        raise err


def find_checkpoint(path: Path) -> Path:
    """A local ``.ckpt`` file, or the checkpoint inside a COMET model folder."""
    if path.is_file():
        ckpt = path
    else:
        ckpt = path / "checkpoints" / "model.ckpt"
        if not ckpt.is_file():
            found = (
                sorted((path / "checkpoints").glob("*.ckpt"))
                if (path / "checkpoints").is_dir()
                else []
            )
            if len(found) != 1:
                raise SpecError(
                    f"no COMET checkpoint in {str(path)!r}: expected "
                    f"checkpoints/model.ckpt and hparams.yaml in that folder"
                )
            ckpt = found[0]
    hp = ckpt.parents[1] / "hparams.yaml" if len(ckpt.parents) > 1 else None
    if hp is None or not hp.is_file():  # where comet.load_from_checkpoint looks
        raise SpecError(
            f"COMET checkpoint {str(ckpt)!r} has no hparams.yaml two folders up "
            f"(COMET's layout: MODEL/hparams.yaml and MODEL/checkpoints/model.ckpt)"
        )
    return ckpt


def checkpoint_sha256(ckpt: Path) -> str:
    """SHA-256 of the checkpoint file (the blob name of a Hugging Face cache download)."""
    real = Path(os.path.realpath(ckpt))
    if re.fullmatch(r"[0-9a-f]{64}", real.name) and real.parent.name == "blobs":
        return real.name
    st = real.stat()
    key = (str(real), st.st_size, st.st_mtime_ns)
    if key not in _SHA_MEMO:
        h = hashlib.sha256()
        with open(real, "rb") as f:
            for block in iter(lambda: f.read(1 << 24), b""):
                h.update(block)
        _SHA_MEMO[key] = h.hexdigest()
    return _SHA_MEMO[key]


def read_hparams(ckpt: Path) -> dict:
    import yaml  # a dependency of unbabel-comet

    # safe_load: plain data only (FullLoader builds Python objects). Read here, before COMET's
    # own loader sees the file, so a file with Python tags is refused up front.
    try:
        with open(ckpt.parents[1] / "hparams.yaml", encoding="utf-8") as f:
            hp = yaml.safe_load(f) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SpecError(
            f"{str(ckpt.parents[1] / 'hparams.yaml')!r} is not a plain-data COMET "
            f"hparams file ({first})"
        ) from None
    if not isinstance(hp, dict) or "class_identifier" not in hp:
        raise SpecError(
            f"{str(ckpt.parents[1] / 'hparams.yaml')!r} is not a COMET hparams "
            f"file (no class_identifier)"
        )
    return hp


def reference_mode(hparams: dict) -> str:
    """``required``, ``optional`` (used when present) or ``unused``, as COMET's classes decide."""
    cls = hparams.get("class_identifier")
    if cls in ("regression_metric", "ranking_metric"):
        return "required"
    if cls == "referenceless_regression_metric":
        return "unused"
    if cls in ("unified_metric", "xcomet_metric"):
        segs = list(hparams.get("input_segments") or ["mt", "src", "ref"])
        if cls == "xcomet_metric":
            segs = ["mt", "src", "ref"]
        if "ref" not in segs:
            return "unused"
        return "optional" if "src" in segs else "required"
    raise SpecError(f"unknown COMET model class {cls!r} in hparams.yaml")


@contextlib.contextmanager
def _quiet():
    """Silence Lightning's banners, tips and deprecation noise around predict()."""
    saved = []
    for name in _LIGHTNING_LOGGERS:
        lg = logging.getLogger(name)
        saved.append((lg, lg.level))
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in saved:
            lg.setLevel(level)


# -- the scorer ---------------------------------------------------------------------------------
class CometScorer(Scorer):
    """A COMET-family checkpoint scored with ``model.predict``."""

    higher_is_better = True
    parallel_safe = False

    def __init__(
        self,
        model: str,
        *,
        batch_size: int = 16,
        gpus: int | None = None,
        multiref: str = "first",
        local_files_only: bool = False,
    ):
        comet = _require_comet()
        if batch_size < 1:
            raise SpecError(f"comet: batch_size must be >= 1, got {batch_size}")
        if gpus not in (None, 0, 1):
            raise SpecError(f"comet: gpus must be 0 or 1, got {gpus} (multi-GPU is not supported)")
        if multiref not in _MULTIREF:
            raise SpecError(
                f"comet: multiref must be one of {', '.join(_MULTIREF)}, got {multiref!r}"
            )
        self.model_name = model
        self.batch_size = batch_size
        self.gpus = gpus
        self.multiref = multiref
        self.local_files_only = local_files_only
        self.checkpoint = self._locate(comet, model)
        self.hparams = read_hparams(self.checkpoint)
        self.ref_mode = reference_mode(self.hparams)
        self.name = self._short_name()
        self._model = None
        self._sig: str | None = None

    # -- resolution ---
    def _locate(self, comet, model: str) -> Path:
        local = Path(model).expanduser()
        if local.exists():
            return find_checkpoint(local.absolute())  # absolute, symlinks kept (HF cache)
        if _looks_like_path(model):
            raise SpecError(
                f"comet: no checkpoint at {model!r} (give a .ckpt file or a COMET "
                f"model folder with checkpoints/model.ckpt and hparams.yaml)"
            )
        from ..hub import offline_unless_reachable

        offline = self.local_files_only or offline_unless_reachable()
        try:
            with _quiet():
                ckpt = _cached_checkpoint(model) if offline else Path(comet.download_model(model))
        except Exception as err:  # noqa: BLE001 - hub unreachable, unknown or gated model, offline mode
            cause = _root_cause(err)
            if type(cause).__name__ == "GatedRepoError":
                raise SpecError(
                    f"cannot load model {model!r}: it is gated on the Hugging Face "
                    f"hub (accept its licence there and log in with 'hf auth login'),"
                    f" or pass a local path to the weights instead"
                ) from None
            raise weights_error(model, cause) from None
        return find_checkpoint(ckpt)

    def _short_name(self) -> str:
        if Path(self.model_name).expanduser().exists():
            folder = self.checkpoint.parents[1]
            return folder.name or "comet"
        return self.model_name.rstrip("/").rsplit("/", 1)[-1]

    @property
    def needs_references(self) -> bool:  # type: ignore[override]
        return self.ref_mode == "required"

    @property
    def model_label(self) -> str:
        """The hub name, or the local model folder (the same for the folder and its .ckpt)."""
        if not Path(self.model_name).expanduser().exists():
            return self.model_name
        ck = self.checkpoint
        if ck.name == "model.ckpt" and ck.parent.name == "checkpoints":
            return str(ck.parents[1].resolve())
        return str(ck.parent.resolve() / ck.name)

    def signature(self) -> str:
        if self._sig is None:
            refs = "no" if self.ref_mode == "unused" else self.multiref
            if self.ref_mode == "optional":
                refs += "-if-present"
            self._sig = (
                f"comet|model:{self.model_label}"
                f"|ckpt_sha256:{checkpoint_sha256(self.checkpoint)[:12]}"
                f"|comet:{comet_version()}|class:{self.hparams['class_identifier']}"
                f"|refs:{refs}"
            )
        return self._sig

    def __getstate__(self):
        return {**self.__dict__, "_model": None}

    # -- model ---
    @property
    def model(self):
        if self._model is None:
            comet = _require_comet()
            try:
                with _quiet():
                    self._model = comet.load_from_checkpoint(
                        str(self.checkpoint), local_files_only=self.local_files_only
                    )
            except (OSError, ValueError) as err:
                enc = self.hparams.get("pretrained_model")
                raise SpecError(
                    f"cannot load COMET checkpoint {self.model_name!r}: its encoder "
                    f"{enc!r} (config and tokenizer) is not available locally and could not be "
                    f"fetched ({type(err).__name__}); put it in the Hugging Face cache or set "
                    f"pretrained_model in hparams.yaml to a local folder"
                ) from None
        return self._model

    def _gpus(self) -> int:
        if self.gpus is not None:
            return self.gpus
        import torch

        return 1 if torch.cuda.is_available() else 0

    def predict(self, samples: list[dict]) -> list[float]:
        """Segment scores of ``model.predict`` for COMET samples (dicts with src, mt[, ref])."""
        if not samples:
            return []
        with _quiet():
            out = self.model.predict(
                samples,
                batch_size=self.batch_size,
                gpus=self._gpus(),
                progress_bar=False,
                num_workers=0,
            )
        return [float(s) for s in out.scores]

    def score_batch(self, batch: ScoringBatch) -> np.ndarray:
        n = len(batch)
        refs = batch.references if batch.references else [[] for _ in range(n)]
        out = np.full(n, np.nan)
        if self.ref_mode == "unused":
            out[:] = self.predict(
                [{"src": s, "mt": h} for s, h in zip(batch.inputs, batch.responses)]
            )
            return out
        with_ref = [i for i in range(n) if refs[i]]
        without = [i for i in range(n) if not refs[i]]
        if without and self.ref_mode == "required":
            raise DataError(
                f"scorer {self.name!r} needs references but row {without[0]} has none",
                field="references",
            )
        if without:
            out[without] = self.predict(
                [{"src": batch.inputs[i], "mt": batch.responses[i]} for i in without]
            )
        if not with_ref:
            return out
        use = {
            i: (list(refs[i][:1]) if self.multiref == "first" else list(refs[i])) for i in with_ref
        }
        owner, samples = [], []
        for i in with_ref:
            for r in use[i]:
                owner.append(i)
                samples.append({"src": batch.inputs[i], "mt": batch.responses[i], "ref": r})
        scores = np.asarray(self.predict(samples), dtype=float)
        owner_a = np.asarray(owner)
        for i in with_ref:
            vals = scores[owner_a == i]
            out[i] = (
                vals.max()
                if self.multiref == "max"
                else vals.mean()
                if self.multiref == "mean"
                else vals[0]
            )
        return out


@register(
    "comet",
    "COMET / CometKiwi / XCOMET via unbabel-comet (own environment): "
    "comet:NAME_OR_PATH[,batch_size=N,gpus=0|1,multiref=first|max|mean]",
)
def _comet(arg: str):
    spec = f"comet:{arg}"
    name, opts = model_and_options(arg, spec, _OPTIONS)
    if not name:
        raise SpecError(
            "comet needs a model: comet:Unbabel/wmt22-comet-da or comet:PATH/TO/CHECKPOINT"
        )
    return CometScorer(name, **opts)
