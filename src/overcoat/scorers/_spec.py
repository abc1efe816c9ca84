"""The one grammar of scorer spec strings (documented in the README, "Scorer specs").

::

    SPEC := PREFIX [":" ARG]
    ARG  := [LOCATION "#"] PART ("," PART)*        (LOCATION only where a scorer takes one)
    PART := KEY "=" VALUE                          an option
          | TEXT                                   a positional argument (a model name or path)

* Parts are separated by commas; blank parts are skipped and white space around a part is
  dropped.
* A part is an option when it starts with a word (letters, digits, ``_``, ``-``) followed by
  ``=``; ``-`` and ``_`` in keys are the same (``max-batch=8`` is ``max_batch=8``). Values are
  typed: integers, numbers, booleans (``true/false/1/0/yes/no``) or text. Unknown keys and
  values of the wrong type are errors naming the spec.
* Every other part is positional, in order (options may stand between them); each scorer says
  how many it takes (``hf:`` one model, ``dpo:`` two, ``bleu`` none).
* ``judge:`` and ``scores:`` first take a location, a URL or a file path that runs to the first
  ``#`` (it may hold commas); the parts follow the ``#``. ``judge:local:PATH`` and a ``scores:``
  path without ``#`` have no parts after them (``scores:``) or end at the first comma
  (``judge:local:``).
* ``regex:PATTERN`` and ``python:MODULE:FUNCTION`` take their whole ARG as it is.
* A wrapper's ``inner=SPEC`` part (``calibrated:``) comes last and takes the rest of the spec as
  it is, commas included: ``calibrated:cal.json,method=platt,inner=bleu:tokenize=zh,lowercase=1``.
"""

from __future__ import annotations

import re

from ..errors import SpecError

#: a part that is an option: a word, then ``=``
_OPTION = re.compile(r"^\s*[\w-]+\s*=")


def is_option(part: str) -> bool:
    return bool(_OPTION.match(part))


def _typed(key: str, value: str, typ: type, spec: str):
    value = value.strip()
    try:
        if typ is bool:
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        return typ(value)
    except ValueError:
        raise SpecError(
            f"scorer spec {spec!r}: option {key!r} needs a {typ.__name__}, got {value!r}"
        ) from None


def split_args(
    arg: str,
    spec: str,
    allowed: dict[str, type],
    *,
    max_positional: int = 0,
    noun: str = "model name",
) -> tuple[list[str], dict]:
    """``"NAME[,NAME2][,KEY=VALUE...]"`` -> (positional parts, typed options).

    ``spec`` is the spec as shown in error messages; ``noun`` names the positional parts in them.
    """
    positional: list[str] = []
    options: dict = {}
    for part in arg.split(",") if arg else []:
        if not part.strip():
            continue
        if not is_option(part):
            if not max_positional:
                raise SpecError(f"scorer spec {spec!r}: option {part!r} is not KEY=VALUE")
            positional.append(part.strip())
            continue
        key, _, value = part.partition("=")
        key = key.strip().replace("-", "_")
        if key not in allowed:
            raise SpecError(
                f"scorer spec {spec!r}: unknown option {key!r} "
                f"(known: {', '.join(sorted(allowed))})"
            )
        options[key] = _typed(key, value, allowed[key], spec)
    if len(positional) > max_positional:
        raise SpecError(
            f"scorer spec {spec!r}: expected at most {max_positional} {noun}(s), "
            f"got {len(positional)} ({', '.join(positional)})"
        )
    return positional, options


def parse_options(arg: str, spec: str, allowed: dict[str, type]) -> dict:
    """``"tokenize=zh,lowercase=true"`` -> typed dict (a spec that takes no positional part)."""
    return split_args(arg, spec, allowed)[1]


def model_and_options(arg: str, spec: str, allowed: dict[str, type]) -> tuple[str, dict]:
    """``"MODEL[,KEY=VALUE...]"`` -> (MODEL or ``""`` when not given, typed options)."""
    positional, options = split_args(arg, spec, allowed, max_positional=1)
    return (positional[0] if positional else ""), options


def split_inner(arg: str, key: str = "inner") -> tuple[str, str | None]:
    """``"PARTS,inner=SPEC"`` -> (PARTS, SPEC): the first part that is the option ``key`` and
    everything after it (commas included) are the inner spec; (arg, None) when there is none."""
    parts = arg.split(",")
    head = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for i, part in enumerate(parts):
        if head.match(part):
            rest = ",".join(parts[i:]).partition("=")[2].strip()
            return ",".join(parts[:i]), rest
    return arg, None


def split_location(arg: str, sep: str = "#") -> tuple[str, str | None]:
    """``"LOCATION#PARTS"`` -> (LOCATION, PARTS); (arg, None) when ``sep`` is absent."""
    location, found, rest = arg.partition(sep)
    return (location, rest) if found else (arg, None)


def check_positive(spec: str, **values) -> None:
    """SpecError for the first given value below 1 (None means unset)."""
    for k, v in values.items():
        if v is not None and v < 1:
            raise SpecError(f"scorer spec {spec!r}: {k} must be >= 1, got {v}")
