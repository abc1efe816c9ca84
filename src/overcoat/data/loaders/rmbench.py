"""RM-Bench rows (``THU-KEG/RM-Bench``).

Each row: ``id, prompt, chosen, rejected`` (+ ``domain`` in the combined file) where ``chosen`` and
``rejected`` are lists of three style variants of the same answer: [concise, detailed plain,
detailed markdown]. One item per row; responses ``chosen-concise``, ``chosen-detailed``,
``chosen-markdown`` and the same for ``rejected``, scored 1 (chosen) / 0 (rejected); ``domain``
becomes item metadata.

RM-Bench ships one file per domain (``chat_filtered.json``, ``code_filtered.json``,
``math_filtered.json``, ``safety-refuse_filtered.json``, ``safety-response_filtered.json``) without a
``domain`` field, and its ids repeat across those files (chat and code share ids), plus a combined
``total_dataset.json`` with a ``domain`` field. So a row's domain is its ``domain`` field, else the
domain its file name starts with; and a row with a known domain gets the item id ``DOMAIN:ID``
(e.g. ``chat:8``), the same whether it was read from its domain's file or from the combined file.
:func:`load_rmbench` reads one file, several files, or a folder of the per-domain files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from ...errors import DataError
from ..benchmark_fields import RMBENCH, RMBENCH_STYLES
from ..builder import DatasetBuilder
from ..model import Dataset
from .common import dataset_name
from .rewardbench import add_graded_rows
from .rows import _EXTENSIONS, Row, RowSource, as_source, open_rows, reported_as_rows

STYLES = RMBENCH_STYLES

#: RM-Bench's domains as its files and ``domain`` fields name them
DOMAINS = ("chat", "code", "math", "safety-refuse", "safety-response")


def domain_of_file(path: str | os.PathLike | None) -> str | None:
    """The RM-Bench domain a file name starts with (``safety-refuse_filtered.json`` ->
    ``safety-refuse``), or None."""
    if path is None:
        return None
    name = Path(str(path)).name.lower()
    for d in sorted(DOMAINS, key=len, reverse=True):
        if name.startswith(d):
            return d
    return None


def _with_domain(src: RowSource, domain: str | None, *, required: bool) -> RowSource:
    """The rows with ``domain`` filled in (the row's own field first) and the id qualified as
    ``DOMAIN:ID``; a row without a domain is an error when ``required`` (several files)."""

    def rows():
        for line, row in src.rows:
            d = row.get("domain") if isinstance(row, dict) else None
            d = domain if d in (None, "") else str(d)
            if d is None:
                if required:
                    raise DataError(
                        "cannot tell this row's RM-Bench domain: no 'domain' field and "
                        f"the file name starts with none of {', '.join(DOMAINS)}",
                        path=src.path,
                        line=line,
                        field=src.name("domain"),
                    )
                yield line, row
                continue
            row = dict(row)
            row["domain"] = d
            for key in ("id", "item_id"):
                if row.get(key) is not None:
                    row[key] = f"{d}:{row[key]}"
                    break
            yield line, row

    return RowSource(src.path, rows(), src.columns, src.unit, src.display)


def _response_id(src: RowSource):
    def response_id(kind: str, k: int, n: int, line: int) -> str:
        if n != len(STYLES):
            raise DataError(
                f"expected {len(STYLES)} style variants (concise, detailed, markdown), got {n}",
                path=src.path,
                line=line,
                field=src.name(kind),
            )
        return f"{kind}-{STYLES[k]}"

    return response_id


def parse_rmbench_rows(
    rows: RowSource | Iterable[Row],
    *,
    path: str | None = None,
    unit: str = "line",
    name: str = "rm-bench",
    domain: str | None = None,
) -> Dataset:
    """RM-Bench rows -> pointwise data set with six responses per item. ``domain``: for rows
    without a ``domain`` field (default: the domain the file name starts with, if any)."""
    src = as_source(rows, path=path, unit=unit)
    src = _with_domain(src, domain or domain_of_file(src.path), required=False)
    with reported_as_rows(src.unit):
        b = DatasetBuilder(name, path=src.path, info={"format": RMBENCH.format})
        add_graded_rows(src, b, _response_id(src))
        return b.build()


def rmbench_files(spec: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """The files an RM-Bench spec names: a list of paths, ``A,B,...`` (when that is not itself a
    path), or a folder (its files whose names start with an RM-Bench domain, in name order; a folder
    without such files but with exactly one data file: that file, e.g. the combined
    ``total_dataset.json``)."""
    if not isinstance(spec, (str, os.PathLike)):
        return [str(p) for p in spec]
    s = str(spec)
    if not Path(s).exists() and "," in s:
        return [p.strip() for p in s.split(",") if p.strip()]
    p = Path(s)
    if not p.is_dir():
        return [s]

    def data_file(f: Path) -> bool:
        n = f.name.lower()
        n = n[:-3] if n.endswith(".gz") else n
        return f.is_file() and Path(n).suffix in _EXTENSIONS

    files = sorted(f for f in p.iterdir() if data_file(f))
    per_domain = [f for f in files if domain_of_file(f) is not None]
    if per_domain:
        return [str(f) for f in per_domain]
    if len(files) == 1:
        return [str(files[0])]
    raise DataError(
        "an RM-Bench folder needs the per-domain files (names starting with "
        f"{', '.join(DOMAINS)}) or one combined file; found "
        f"{len(files)} data files",
        path=s,
    )


def load_rmbench(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    name: str | None = None,
) -> Dataset:
    """RM-Bench data: one file (JSON, JSONL or Parquet, maybe gzipped), several files, or a folder
    of the per-domain files (see :func:`rmbench_files`). With several files every row needs a
    domain (its ``domain`` field or its file name) and item ids are ``DOMAIN:ID``; an id repeated
    within one domain is an error naming the file and line."""
    files = rmbench_files(path)
    if not files:
        raise DataError("no RM-Bench files given", path=str(path))
    if len(files) == 1:
        return parse_rmbench_rows(
            open_rows(files[0], fmt, mapping=mapping), name=name or dataset_name(files[0])
        )
    for f in files:
        if not Path(f).is_file():
            raise DataError("no such file", path=f)
    folder = isinstance(path, (str, os.PathLike)) and Path(str(path)).is_dir()
    b = DatasetBuilder(
        name or (dataset_name(str(path)) if folder else "rm-bench"),
        path=files[0],
        info={"format": RMBENCH.format, "files": list(files)},
    )
    for f in files:
        src = open_rows(f, fmt, mapping=mapping)
        src = _with_domain(src, domain_of_file(f), required=True)
        b.path = src.path  # errors name the file being read
        with reported_as_rows(src.unit):
            add_graded_rows(src, b, _response_id(src))
    b.path = ",".join(files)
    return b.build()
