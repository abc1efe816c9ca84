"""Errors that the CLI turns into one-line messages with exit code 2."""

from __future__ import annotations


class OvercoatError(Exception):
    """Base class: a user-facing error (bad input, bad spec). Never shown as a traceback."""


class DataError(OvercoatError):
    """Bad input data. Names the file, the line (1-based, when known) and the field."""

    #: how the position is named: "line" for text files, "row" for Parquet / Hugging Face rows
    position_word = "line"

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ):
        self.path = path
        self.line = line
        self.field = field
        self.detail = message
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = []
        if self.path is not None:
            where.append(str(self.path))
        if self.line is not None:
            where.append(f"{self.position_word} {self.line}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.detail}" if prefix else self.detail


class SpecError(OvercoatError):
    """A scorer or data spec string that cannot be resolved."""


class SettingError(OvercoatError):
    """A bad setting of a library call, naming the parameter (``ties``), not a command-line flag.

    ``template`` refers to settings as ``{name}`` or ``{name=value}``; the library renders them as
    ``name`` / ``name=value``, and the CLI (:func:`SettingError.render`) as the flag the user
    typed (``--ties`` / ``--level system``), so CLI wording stays in the CLI.
    """

    def __init__(self, template: str):
        self.template = template
        super().__init__(
            self.render(lambda name, value: name if value is None else f"{name}={value}")
        )

    @staticmethod
    def literal(x: object) -> str:
        """``str(x)`` safe to put in a template (braces doubled)."""
        return str(x).replace("{", "{{").replace("}", "}}")

    def render(self, setting) -> str:
        """The message with each ``{name}`` / ``{name=value}`` replaced by
        ``setting(name, value or None)``."""

        class _Fill(dict):
            def __missing__(self, key: str) -> str:
                name, eq, value = key.partition("=")
                return setting(name, value if eq else None)

        return self.template.format_map(_Fill())
