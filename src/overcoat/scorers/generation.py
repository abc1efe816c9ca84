"""Candidate pools from a causal LM: n sampled responses per item, seeded and cached.

The model is loaded exactly as ``loglik:`` loads it (:class:`~.causal_lm.CausalLM`: a local
folder, a hub id, a ``.gguf`` file, or the bundled ``smollm2`` alias), and the prompt is the one
``loglik:`` scores a response after: the item's dialogue through the chat template with the
generation prompt, or ``User: …\\n\\nAssistant: `` without one. So ``loglik:MODEL`` scores each
sample under the very distribution it was drawn from.

* **Sampling** - ``transformers`` ``generate`` with ``do_sample``, ``temperature``, ``top_p``
  (no top-k), ``max_new_tokens`` and ``num_return_sequences=n``: the n samples of one item are one
  call. Generation stops at the model's end-of-sequence token(s); a sample that reaches
  ``max_new_tokens`` first is kept as is (counted). The text is the decoded new tokens without
  special tokens, stripped of surrounding whitespace.
* **Seeds** - each item's samples come from torch's generator seeded with
  :func:`item_seed`\\ (global seed, item id), inside ``torch.random.fork_rng`` (the caller's random
  state is left as it was). Items are generated one at a time, so an item's samples do not depend
  on which other items are generated, in what order, or how many. (Float rounding differs across
  hardware and library versions, so another machine may draw other samples; the cache key holds
  the torch and transformers versions.)
* **Prompts** longer than the model's limit minus ``max_new_tokens`` lose tokens on the left
  (oldest context first); counted.
* **Cache** - a content-addressed folder (:class:`GenerationCache`): one JSON file per (generation
  signature, item seed, item content). The signature holds the model and its revision hash, the
  template, the length limit, dtype, n, temperature, top_p, max_new_tokens and the torch and
  transformers versions. A rerun with the same model, seed and settings generates nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..data.model import Dataset, loads_messages
from ..errors import OvercoatError, SettingError, SpecError
from . import transformers_models as H
from ._common import package_version
from ._spec import split_args
from .cache import default_cache_path, item_digest
from .causal_lm import _COMMON, CausalLM

__all__ = [
    "GenerationCache",
    "GenerationSettings",
    "Generator",
    "PoolResult",
    "default_generation_cache",
    "generate_pool",
    "item_seed",
]

#: the options a ``--model`` spec may carry (as for ``loglik:``; batching options do not apply)
MODEL_OPTIONS = {
    k: v for k, v in {**_COMMON, "gguf_file": str}.items() if k not in ("max_batch", "max_tokens")
}


@dataclass(frozen=True)
class GenerationSettings:
    """How to sample: ``n`` responses per item at ``temperature`` with nucleus ``top_p``, at most
    ``max_new_tokens`` tokens each; ``seed`` is the global seed (see :func:`item_seed`)."""

    n: int = 8
    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 64
    seed: int = 0

    def check(self) -> None:
        if not (isinstance(self.n, int) and self.n >= 1):
            raise SettingError(f"{{n}} must be at least 1, got {SettingError.literal(self.n)}")
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise SettingError(
                "{temperature} must be a positive number (sampling), got "
                + SettingError.literal(self.temperature)
            )
        if not (0 < self.top_p <= 1):
            raise SettingError(
                f"{{top_p}} must lie in (0, 1], got {SettingError.literal(self.top_p)}"
            )
        if not (isinstance(self.max_new_tokens, int) and self.max_new_tokens >= 1):
            raise SettingError(
                f"{{max_new_tokens}} must be at least 1, got "
                f"{SettingError.literal(self.max_new_tokens)}"
            )


def item_seed(seed: int, item_id: str) -> int:
    """The torch seed of one item: 63 bits of SHA-256 over (global seed, item id)."""
    h = hashlib.sha256(f"overcoat-generate-v1\0{int(seed)}\0{item_id}".encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


@dataclass
class Samples:
    """The n samples of one item: texts, new-token counts, and whether each hit the limit."""

    texts: list[str]
    n_tokens: list[int]
    hit_max: list[bool]


class Generator(CausalLM):
    """A causal LM that samples responses (loading and prompts shared with ``loglik:``)."""

    @classmethod
    def from_spec(cls, spec: str) -> Generator:
        """``MODEL[,template=..,device=..,dtype=..,maxlen=..,gguf_file=..,revision=..]``."""
        pos, opts = split_args(spec, spec, MODEL_OPTIONS, max_positional=1)
        if not pos or not pos[0].strip():
            raise SpecError(f"model spec {spec!r}: give a model, e.g. smollm2")
        return cls(pos[0], spec=spec, **opts)

    def signature(self, settings: GenerationSettings) -> str:
        """Everything that decides the samples except the seed (which goes into the cache key)."""
        return (
            f"generate|{self.signature_part()}|dtype:{H.dtype_name(self.dtype)}"
            f"|n:{settings.n}|temperature:{settings.temperature:g}|top_p:{settings.top_p:g}"
            f"|top_k:none|max_new_tokens:{settings.max_new_tokens}"
            f"|torch:{package_version('torch')}|transformers:{package_version('transformers')}"
        )

    def _eos_ids(self, model) -> set[int]:
        ids: set[int] = set()
        for v in (
            getattr(model.generation_config, "eos_token_id", None),
            self.tokenizer.eos_token_id,
        ):
            if isinstance(v, int):
                ids.add(v)
            elif isinstance(v, (list, tuple)):
                ids.update(int(x) for x in v)
        return ids

    def sample(
        self, input_text: str, messages, *, seed: int, settings: GenerationSettings
    ) -> Samples:
        """``settings.n`` samples for one prompt, drawn with torch seeded to ``seed``."""
        torch = H.require("torch")
        transformers = H.require("transformers")
        model = self.model
        tok = self.tokenizer
        pad_id = H.set_pad_token(tok, model)
        prompt = self.prompt_text(input_text, messages)
        ids = list(
            tok(prompt, add_special_tokens=self.template == "plain", verbose=False)["input_ids"]
        )
        room = self.maxlen - settings.max_new_tokens
        if room < 1:
            raise SettingError(
                f"{{max_new_tokens}} ({settings.max_new_tokens}) leaves no room for the prompt "
                f"in the model's {self.maxlen} positions"
            )
        if len(ids) > room:
            ids = ids[-room:]
            self.n_truncated += 1
        eos = self._eos_ids(model)
        config = transformers.GenerationConfig(
            do_sample=True,
            temperature=float(settings.temperature),
            top_p=float(settings.top_p),
            top_k=0,
            max_new_tokens=int(settings.max_new_tokens),
            num_return_sequences=int(settings.n),
            pad_token_id=pad_id,
            eos_token_id=sorted(eos) or None,
        )
        x = torch.tensor([ids], dtype=torch.long, device=self.device)
        devices = [torch.device(self.device)] if str(self.device).startswith("cuda") else []
        with torch.inference_mode(), torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            out = model.generate(
                input_ids=x, attention_mask=torch.ones_like(x), generation_config=config
            )
        texts, n_tokens, hit_max = [], [], []
        for row in out[:, len(ids) :].tolist():
            stop = next((k for k, t in enumerate(row) if t in eos), None)
            new = row if stop is None else row[:stop]
            texts.append(tok.decode(new, skip_special_tokens=True).strip())
            n_tokens.append(len(new))
            hit_max.append(stop is None)
        return Samples(texts, n_tokens, hit_max)


# -- cache ----------------------------------------------------------------------------------------
def default_generation_cache() -> Path | None:
    """``generations/`` beside the score cache (:func:`~.cache.default_cache_path`); ``None`` when
    caching is disabled (``OVERCOAT_CACHE=off``)."""
    scores = default_cache_path()
    return None if scores is None else scores.parent / "generations"


class GenerationCache:
    """Samples on disk, one JSON file per key, under ``folder/ab/abcdef….json``.

    The key is SHA-256 over (signature, item seed, item content digest); each file also holds the
    signature and the seed and is used only when both match and it has n texts. Files are written
    to a temporary name and renamed, so an interrupted run leaves whole entries only (and resumes
    from them); an unreadable file is a miss and is rewritten."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder).expanduser()

    @staticmethod
    def key(signature: str, seed: int, digest: bytes) -> str:
        h = hashlib.sha256()
        h.update(b"overcoat-generation-v1\0")
        h.update(signature.encode())
        h.update(b"\0%d\0" % seed)
        h.update(digest)
        return h.hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str, signature: str, seed: int, n: int) -> Samples | None:
        try:
            doc = json.loads(self._path(key).read_text(encoding="utf-8"))
            if doc["signature"] != signature or doc["seed"] != seed or len(doc["texts"]) != n:
                return None
            return Samples(
                [str(t) for t in doc["texts"]],
                [int(k) for k in doc["n_tokens"]],
                [bool(b) for b in doc["hit_max"]],
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, signature: str, seed: int, samples: Samples) -> None:
        path = self._path(key)
        doc = {
            "signature": signature,
            "seed": seed,
            "texts": samples.texts,
            "n_tokens": samples.n_tokens,
            "hit_max": samples.hit_max,
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".gen.", suffix=".tmp", dir=str(path.parent))
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(doc, f, ensure_ascii=False)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as e:
            raise OvercoatError(
                f"generation cache {self.folder}: cannot write ({e.strerror or e}); "
                "point --cache elsewhere or use --no-cache"
            ) from None


def open_generation_cache(cache) -> GenerationCache | None:
    """``"default"`` -> :func:`default_generation_cache`; ``None``/``False`` -> no cache; a path
    -> that folder; a :class:`GenerationCache` -> itself."""
    if cache is None or cache is False:
        return None
    if isinstance(cache, GenerationCache):
        return cache
    if isinstance(cache, str) and cache == "default":
        folder = default_generation_cache()
        return None if folder is None else GenerationCache(folder)
    if isinstance(cache, (str, os.PathLike)):
        p = Path(cache).expanduser()
        if p.exists() and not p.is_dir():
            raise OvercoatError(f"generation cache {p} is a file, not a folder")
        return GenerationCache(p)
    raise TypeError(f"cache must be 'default', a folder, a GenerationCache or None, not {cache!r}")


# -- pools ----------------------------------------------------------------------------------------
@dataclass
class PoolResult:
    """The samples of every item (``item_id -> Samples``, in the data set's item order) and what
    it took: items generated now, items from the cache, prompts cut on the left, samples that hit
    ``max_new_tokens``, empty samples."""

    samples: dict[str, Samples]
    signature: str
    n_generated: int = 0
    n_cached: int = 0
    n_truncated_prompts: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def n_hit_max(self) -> int:
        return sum(sum(s.hit_max) for s in self.samples.values())

    @property
    def n_empty(self) -> int:
        return sum(sum(1 for t in s.texts if not t) for s in self.samples.values())


def generate_pool(
    dataset: Dataset,
    generator: Generator,
    settings: GenerationSettings,
    *,
    cache=None,
    on_item: Callable[[int, int], None] | None = None,
) -> PoolResult:
    """``settings.n`` samples for every item of ``dataset`` (cached items are not generated).

    ``on_item(done, total)`` is called after each item generated (the progress bar); items found
    in the cache are counted as done before the first call."""
    settings.check()
    store = open_generation_cache(cache)
    t0 = time.perf_counter()
    sig = generator.signature(settings)
    items = dataset.items
    ids: Sequence[str] = items.column("item_id").to_pylist()
    inputs = items.column("input").to_pylist()
    raw_msgs = items.column("messages").to_pylist()
    msgs = [loads_messages(m) for m in raw_msgs]
    refs = items.column("references").to_pylist()
    out: dict[str, Samples | None] = {}
    todo = []
    res = PoolResult({}, sig)
    for k, iid in enumerate(ids):
        seed = item_seed(settings.seed, iid)
        key = GenerationCache.key(sig, seed, item_digest(inputs[k], raw_msgs[k], refs[k] or []))
        hit = store.get(key, sig, seed, settings.n) if store is not None else None
        out[iid] = hit
        if hit is None:
            todo.append((k, seed, key))
        else:
            res.n_cached += 1
    done = res.n_cached
    before = generator.n_truncated
    for k, seed, key in todo:
        s = generator.sample(inputs[k], msgs[k], seed=seed, settings=settings)
        if store is not None:
            store.put(key, sig, seed, s)
        out[ids[k]] = s
        res.n_generated += 1
        done += 1
        if on_item is not None:
            on_item(done, len(ids))
    res.n_truncated_prompts = generator.n_truncated - before
    res.samples = {iid: s for iid, s in out.items() if s is not None}
    res.seconds = time.perf_counter() - t0
    return res
