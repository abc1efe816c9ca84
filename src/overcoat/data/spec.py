"""Data specs: one string that says where a data set is and how to read it.

Grammar (checked in this order)::

    NAME                       a bundled data set (overcoat.data.bundled.BUNDLED)
    FORMAT:PATH                FORMAT is one of
        jsonl | json | csv | tsv | parquet     container forced; row format detected
        table                                  generic pointwise/pairwise table
        rewardbench | rewardbench2 | rmbench | judgebench | hh-rlhf
                                               that row parser (a file, or a save_to_disk folder;
                                               rmbench also: a folder of RM-Bench's per-domain
                                               files, or PATH,PATH,...)
        mtme                                   mtme:DIR or mtme:DIR:LP (mt-metrics-eval test set)
        mqm                                    mqm:PATH (WMT MQM ratings TSV)
        hf                                     hf:NAME or hf:NAME:SPLIT (Hugging Face hub id or
                                               a save_to_disk folder)
    PATH                       a file: container by extension (.jsonl .json .csv .tsv .parquet,
                               optionally .gz), row format from the columns (a .tsv with MQM
                               columns is read as MQM); a directory: an mt-metrics-eval test set
                               or a save_to_disk folder

FORMAT is case-insensitive; aliases such as ``reward-bench``, ``rm-bench``, ``hh`` are accepted.
``mapping`` renames columns (``{"prompt": "question"}``: our ``prompt`` is their ``question``);
other keyword options go to the loader (``lp``, ``reference``, ``exclude_systems``, ``split``,
``skip_bad``, ``name`` ...). Anything unresolvable is a one-line
:class:`~overcoat.errors.SpecError` or :class:`~overcoat.errors.DataError`.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

from ..errors import DataError, SpecError
from .loaders import FORMAT_ALIASES, ROW_PARSERS, load_file, load_mtme
from .loaders.hf_datasets import _is_saved_dataset, load_hf
from .loaders.rows import FILE_FORMATS, parse_mapping
from .model import Dataset

SPEC_FORMATS = FILE_FORMATS + (
    "table",
    "rewardbench",
    "rewardbench2",
    "rmbench",
    "judgebench",
    "hh-rlhf",
    "mtme",
    "mqm",
    "hf",
)

_FORMAT_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9_-]+$")


def _canonical(word: str) -> str | None:
    w = word.strip().lower()
    w = {"ndjson": "jsonl", "huggingface": "hf", "mt-metrics-eval": "mtme"}.get(w, w)
    w = FORMAT_ALIASES.get(w, w)
    return w if w in SPEC_FORMATS else None


def split_spec(spec: str) -> tuple[str | None, str]:
    """``(format or None, rest)``; an unknown ``WORD:...`` prefix is a :class:`SpecError` unless
    the whole spec is an existing path."""
    if ":" in spec:
        prefix, rest = spec.split(":", 1)
        fmt = _canonical(prefix)
        if fmt is not None:
            return fmt, rest
        if not Path(spec).exists() and _FORMAT_WORD.match(prefix):
            raise SpecError(
                f"unknown data format {prefix!r} in {spec!r} (known: "
                f"{', '.join(SPEC_FORMATS)}; or give a path)"
            )
    return None, spec


def _call(fn, what: str, *args, **kwargs):
    """Call a loader, turning an option it does not take into a one-line SpecError."""
    params = inspect.signature(fn).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        accepted = [n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
        for k in kwargs:
            if k not in params:
                raise SpecError(
                    f"option {k!r} does not apply to {what} data (its options: "
                    f"{', '.join(accepted[1:])})"
                )
    return fn(*args, **kwargs)


def _looks_like_mqm(path: Path) -> bool:
    name = path.name.lower()
    if not (name.endswith(".tsv") or name.endswith(".tsv.gz")):
        return False
    try:
        from .io import iter_lines

        for _, line in iter_lines(path):
            cols = {c.strip().lower() for c in line.split("\t")}
            return {"severity", "category"} <= cols and "system" in cols
    except DataError:
        return False
    return False


def _load_mqm(path: str, **options) -> Dataset:
    try:
        from .mqm import load_mqm_tsv
    except ImportError:
        raise SpecError("the MQM loader (overcoat.data.mqm) is not available") from None
    return _call(load_mqm_tsv, "mqm", path, **options)


def _no_mapping(mapping, what: str):
    if mapping:
        raise SpecError(f"a column mapping does not apply to {what} data")


def load_data(spec: str, *, mapping: dict[str, str] | None = None, **options) -> Dataset:
    """Load a data set from a spec string (see the module docstring for the grammar)."""
    if not isinstance(spec, str) or not spec.strip():
        raise SpecError("empty data spec")
    # Hook for bundled data sets (filled in by overcoat.data.bundled).
    try:
        from .bundled import BUNDLED
    except ImportError:
        BUNDLED = {}
    if spec in BUNDLED:
        if mapping:
            raise SpecError(
                f"a column mapping (--map) does not apply to the bundled data set "
                f"{spec!r}: its columns are fixed"
            )
        return BUNDLED[spec]()

    mapping = parse_mapping(mapping)
    fmt, rest = split_spec(spec)
    if fmt is None and BUNDLED and not Path(spec).exists() and re.fullmatch(r"[\w-]+", spec):
        raise SpecError(
            f"no bundled data set and no file named {spec!r} (bundled: "
            f"{', '.join(BUNDLED)}; or give a path)"
        )
    if fmt is not None and not rest:
        raise SpecError(f"nothing after {fmt!r}: write {fmt.upper()}:PATH")

    if fmt == "hf":
        name, split = rest, options.pop("split", None)
        if ":" in rest and not Path(rest).exists():
            name, split = rest.rsplit(":", 1)
        return _call(load_hf, "hf", name, split, mapping=mapping, **options)
    if fmt == "mtme":
        _no_mapping(mapping, "mtme")
        root = rest
        if not Path(rest).is_dir() and ":" in rest:
            head, lp = rest.rsplit(":", 1)
            if Path(head).is_dir():
                root = head
                options.setdefault("lp", lp)
        return _set_source(_call(load_mtme, "mtme", root, **options), spec)
    if fmt == "mqm":
        _no_mapping(mapping, "mqm")
        return _load_mqm(rest, **options)

    path = Path(rest)
    if fmt is None and path.is_dir():
        if (path / "sources").is_dir() and (path / "system-outputs").is_dir():
            _no_mapping(mapping, "mtme")
            return _set_source(_call(load_mtme, "mtme", rest, **options), spec)
        if _is_saved_dataset(path):
            return _call(load_hf, "hf", rest, mapping=mapping, **options)
        raise DataError(
            "a directory that is neither an mt-metrics-eval test set (sources/, "
            "system-outputs/) nor a data set saved with datasets' save_to_disk",
            path=rest,
        )
    if fmt in ROW_PARSERS and _is_saved_dataset(path):
        return _call(load_hf, "hf", rest, format=fmt, mapping=mapping, **options)
    if fmt == "rmbench" and (path.is_dir() or ("," in rest and not path.exists())):
        # RM-Bench's per-domain files: a folder of them, or A,B,... (ids become DOMAIN:ID)
        from .loaders.rmbench import load_rmbench

        return _set_source(_call(load_rmbench, "rmbench", rest, mapping=mapping, **options), spec)
    if fmt is None and _looks_like_mqm(path):
        _no_mapping(mapping, "mqm")
        return _load_mqm(rest, **options)
    if fmt in FILE_FORMATS:
        ds = load_file(rest, fmt, mapping=mapping, **options)
    elif fmt in ROW_PARSERS:
        options.pop("format", None)
        ds = load_file(rest, mapping=mapping, format=fmt, **options)
    else:
        ds = load_file(rest, mapping=mapping, **options)
    return _set_source(ds, spec)


def _set_source(ds: Dataset, spec: str) -> Dataset:
    return dataclasses.replace(ds, source=spec) if ds.source != spec else ds
