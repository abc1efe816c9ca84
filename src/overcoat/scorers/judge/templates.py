"""Judge prompt templates: Jinja files (sandboxed) with an optional settings header and
``system`` / ``user`` blocks (see :mod:`overcoat.scorers.judge`)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import SpecError
from .._common import first_line

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
BUILTIN_TEMPLATES = {
    "chat": "chat_rating.jinja",
    "gemba-mqm": "gemba_mqm.jinja",
    "arena": "arena_pairwise.jinja",
    "translation": "translation_rating.jinja",
    "translation-pair": "translation_pairwise.jinja",
}

_HEADER = re.compile(r"^\s*\{#-?\s*overcoat:(.*?)-?#\}", re.DOTALL)


@dataclass
class JudgeTemplate:
    name: str
    text: str
    settings: dict = field(default_factory=dict)
    _tmpl: object = None

    @property
    def sha(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:12]

    @classmethod
    def load(cls, name_or_path: str) -> JudgeTemplate:
        if name_or_path in BUILTIN_TEMPLATES:
            path = TEMPLATE_DIR / BUILTIN_TEMPLATES[name_or_path]
            name = name_or_path
        else:
            path = Path(name_or_path).expanduser()
            if not path.is_file():
                known = ", ".join(sorted(BUILTIN_TEMPLATES))
                raise SpecError(
                    f"judge template {name_or_path!r} is neither a built-in ({known}) nor a file"
                )
            name = path.name
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise SpecError(
                f"cannot read judge template {str(path)!r} ({type(e).__name__})"
            ) from None
        return cls(name, text, _header_settings(text, name))

    def _compiled(self):
        if self._tmpl is None:
            try:
                import jinja2
                from jinja2.sandbox import SandboxedEnvironment
            except ImportError:
                raise SpecError(
                    "judge templates need the 'jinja2' package: pip install jinja2"
                ) from None
            env = SandboxedEnvironment(
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=False,
                autoescape=False,
            )
            try:
                self._tmpl = env.from_string(self.text)
            except jinja2.TemplateError as e:
                raise SpecError(
                    f"judge template {self.name!r}: {type(e).__name__}: {first_line(str(e))}"
                ) from None
        return self._tmpl

    def render(self, variables: dict) -> list[dict]:
        """Chat messages: a system message from ``{% block system %}`` (if any) and the user
        message from ``{% block user %}`` (else the whole rendering)."""
        import jinja2

        t = self._compiled()
        try:
            msgs = []
            if "system" in t.blocks:
                sys_txt = "".join(t.blocks["system"](t.new_context(dict(variables)))).strip()
                if sys_txt:
                    msgs.append({"role": "system", "content": sys_txt})
            if "user" in t.blocks:
                user = "".join(t.blocks["user"](t.new_context(dict(variables))))
            else:
                user = t.render(**variables)
        except jinja2.TemplateError as e:
            raise SpecError(
                f"judge template {self.name!r}: {type(e).__name__}: {first_line(str(e))}"
            ) from None
        msgs.append({"role": "user", "content": user.strip()})
        return msgs

    def __getstate__(self):
        return {**self.__dict__, "_tmpl": None}


def _header_settings(text: str, name: str) -> dict:
    m = _HEADER.match(text)
    if not m:
        return {}
    out = {}
    for part in m.group(1).replace(",", " ").split():
        k, eq, v = part.partition("=")
        if not eq:
            raise SpecError(f"judge template {name!r}: header setting {part!r} is not KEY=VALUE")
        out[k.strip()] = v.strip()
    return out
