"""The local backend: a chat model loaded with transformers (a folder, a ``.gguf`` file, or a
built-in alias such as ``smollm2``, the bundled SmolLM2-135M-Instruct GGUF), greedy decoding one
prompt at a time; with logprobs, the full next-token distribution."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...errors import SpecError
from .._common import first_line, refuse_remote_code, require, resolve_device, resolve_dtype
from ..transformers_models import ALIASES, alias_path
from .backend import Completion
from .parsing import norm_token


class LocalBackend:
    """A local chat model through transformers: greedy decoding, one prompt at a time."""

    def __init__(
        self,
        path: str,
        *,
        max_tokens: int,
        temperature: float,
        logprobs: bool,
        device: str | None,
        dtype: str | None,
        trust_remote_code: bool = False,
    ):
        p = Path(path).expanduser()
        if not p.exists() and path.strip().lower() in ALIASES:
            # a built-in model alias (judge:local:smollm2 = the bundled SmolLM2-135M GGUF)
            folder, fname = alias_path(path.strip().lower())
            p = Path(folder) / fname
        if not p.exists():
            raise SpecError(f"judge:local: no such file or folder {path!r}")
        self.path = p.resolve()
        self.trust_remote_code = bool(trust_remote_code)
        if not (p.is_file() and p.suffix.lower() == ".gguf"):
            refuse_remote_code(self.path, f"judge:local:{path}", trust=self.trust_remote_code)
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.logprobs = logprobs
        self.device_opt = device
        self.dtype_opt = dtype
        self._model: Any = None
        self._tok: Any = None
        self._label_ids: dict[tuple, dict[str, list[int]]] = {}
        self._lock = threading.Lock()

    def __getstate__(self):
        drop: dict[str, Any] = {
            "_model": None,
            "_tok": None,
            "_torch": None,
            "_label_ids": {},
            "_lock": None,
        }
        return {**self.__dict__, **drop}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def display(self) -> str:
        return "local"

    def weights_digest(self) -> str:
        """sha256[:12] over the small files and the size + head + tail of the large ones."""
        h = hashlib.sha256()
        files = (
            [self.path]
            if self.path.is_file()
            else sorted(f for f in self.path.rglob("*") if f.is_file())
        )
        for f in files:
            size = f.stat().st_size
            h.update(f"{f.name}\0{size}\0".encode())
            with open(f, "rb") as fh:
                if size <= 1 << 20:
                    h.update(fh.read())
                else:
                    h.update(fh.read(1 << 16))
                    fh.seek(size - (1 << 16))
                    h.update(fh.read())
        return h.hexdigest()[:12]

    def _load(self):
        if self._model is not None:
            return
        torch = require("torch")
        transformers = require("transformers")
        device = resolve_device(self.device_opt)
        dtype = resolve_dtype(self.dtype_opt, device)
        kw: dict[str, Any] = {"trust_remote_code": bool(getattr(self, "trust_remote_code", False))}
        where = str(self.path)
        if self.path.is_file():
            if self.path.suffix.lower() != ".gguf":
                raise SpecError(f"judge:local: {where!r} is a file but not a .gguf file")
            where = str(self.path.parent)
            kw["gguf_file"] = self.path.name
        try:
            tok = transformers.AutoTokenizer.from_pretrained(where, **kw)
            model = transformers.AutoModelForCausalLM.from_pretrained(where, dtype=dtype, **kw)
        except Exception as e:  # noqa: BLE001 - any loading failure: one line
            raise SpecError(
                f"judge:local: cannot load {str(self.path)!r} "
                f"({type(e).__name__}: {first_line(str(e))[:200]})"
            ) from None
        model.to(device).eval()
        self._torch, self._tok, self._model, self._device = torch, tok, model, device

    def _encode(self, messages: list[dict]):
        tok = self._tok
        if getattr(tok, "chat_template", None):
            enc = tok.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
            ids = enc["input_ids"]
        else:  # no chat template: plain text blocks, the answer follows
            text = "\n\n".join(m["content"] for m in messages) + "\n\n"
            ids = tok(text, return_tensors="pt")["input_ids"]
        return ids.to(self._device)

    def _ids_for(self, labels: dict[str, float]) -> dict[str, list[int]]:
        key = tuple(sorted(labels))
        if key not in self._label_ids:
            tok = self._tok
            vocab = len(tok)
            pieces = tok.batch_decode([[i] for i in range(vocab)])
            out: dict[str, list[int]] = {k: [] for k in labels}
            for i, s in enumerate(pieces):
                k = norm_token(s)
                if k in out:
                    out[k].append(i)
            self._label_ids[key] = out
        return self._label_ids[key]

    def complete_many(
        self,
        prompts: list[list[dict]],
        labels: dict[str, float],
        on_answer: Callable[[int, Completion], None] | None = None,
    ) -> list[Completion]:
        with self._lock:
            self._load()
            out = []
            for k, p in enumerate(prompts):
                c = self._one(p, labels)
                if on_answer is not None:
                    on_answer(k, c)
                out.append(c)
            return out

    def _one(self, messages: list[dict], labels: dict[str, float]) -> Completion:
        torch, tok, model = self._torch, self._tok, self._model
        ids = self._encode(messages)
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        gen_kw = {
            "max_new_tokens": self.max_tokens,
            "pad_token_id": pad,
            "return_dict_in_generate": True,
            "output_logits": self.logprobs,
        }
        if self.temperature > 0:
            gen_kw.update(do_sample=True, temperature=self.temperature)
        else:
            gen_kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **gen_kw)
        new = out.sequences[0, ids.shape[1] :].tolist()
        special = set(tok.all_special_ids)
        keep = [i for i in new if i not in special]
        text = tok.decode(keep, skip_special_tokens=True)
        if not self.logprobs:
            return Completion(text)
        label_ids = self._ids_for(labels)
        tokens: list[tuple[str, dict[str, float]]] = []
        prev = ""
        for step, tid in enumerate(new):
            if tid in special:
                continue
            cur = tok.decode(keep[: len(tokens) + 1], skip_special_tokens=True)
            piece = cur[len(prev) :] if cur.startswith(prev) else tok.decode([tid])
            prev = cur
            lp = torch.log_softmax(out.logits[step][0].float(), dim=-1)
            # every label's probability is the sum over the token ids that read as it; the
            # generated token itself is listed only when it is not one of them
            alts = {
                lab: float(torch.logsumexp(lp[idl], dim=0)) for lab, idl in label_ids.items() if idl
            }
            if norm_token(piece) not in alts:
                alts[piece] = float(lp[tid])
            tokens.append((piece, alts))
        return Completion(text, tokens)

    def close(self) -> None:
        pass
