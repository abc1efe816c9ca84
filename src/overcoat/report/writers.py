"""Writing results: score tables (Parquet / JSONL / CSV) and JSON documents, always atomically."""

from __future__ import annotations

import gzip
import json
import math
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..data.io import atomic_path, atomic_write
from ..errors import OvercoatError

SCORE_FORMATS = (".parquet", ".jsonl", ".csv")


def score_format(path: str | Path) -> str:
    p = str(path).lower()
    for ext in SCORE_FORMATS:
        if p.endswith(ext) or p.endswith(ext + ".gz"):
            return ext
    raise OvercoatError(f"{path}: output must end in .parquet, .jsonl or .csv")


def scores_table(
    item_ids: list[str],
    response_ids: list[str],
    columns: dict[str, tuple[str, np.ndarray]],
    content_hashes: list[str] | None = None,
    higher_is_better: dict[str, bool] | None = None,
) -> pa.Table:
    """Long format: one row per (response, scorer): item_id, response_id, scorer, signature, score,
    and ``content_hash`` (:func:`overcoat.data.scores_file.content_hash` of input + response) when
    given, so that ``scores:FILE`` finds the responses again even where ids are line numbers; and
    ``higher_is_better`` per scorer when given (so that ``scores:FILE`` orients TER right)."""
    rows: dict[str, list] = {
        "item_id": [],
        "response_id": [],
        "scorer": [],
        "signature": [],
        "score": [],
    }
    if content_hashes is not None:
        rows["content_hash"] = []
    if higher_is_better is not None:
        rows["higher_is_better"] = []
    for name, (sig, scores) in columns.items():
        rows["item_id"].extend(item_ids)
        rows["response_id"].extend(response_ids)
        rows["scorer"].extend([name] * len(item_ids))
        rows["signature"].extend([sig] * len(item_ids))
        rows["score"].extend(
            None if (s is None or math.isnan(s)) else float(s)
            for s in np.asarray(scores, dtype=float).tolist()
        )
        if content_hashes is not None:
            rows["content_hash"].extend(content_hashes)
        if higher_is_better is not None:
            rows["higher_is_better"].extend([bool(higher_is_better[name])] * len(item_ids))
    return pa.table(
        rows,
        schema=pa.schema(
            [
                ("item_id", pa.string()),
                ("response_id", pa.string()),
                ("scorer", pa.string()),
                ("signature", pa.string()),
                ("score", pa.float64()),
            ]
            + ([("content_hash", pa.string())] if content_hashes is not None else [])
            + ([("higher_is_better", pa.bool_())] if higher_is_better is not None else [])
        ),
    )


def write_table(table: pa.Table, path: str | Path) -> None:
    """Write ``table`` to ``path`` (format from the extension, gzipped when the name ends in
    ``.gz``); never leaves a partial file."""
    fmt = score_format(path)
    gz = str(path).lower().endswith(".gz")
    if fmt in (".parquet", ".csv"):
        if fmt == ".parquet":
            import pyarrow.parquet as pq

            write = pq.write_table
        else:
            import pyarrow.csv as pcsv

            write = pcsv.write_csv
        with atomic_path(path) as tmp:
            if gz:
                with pa.CompressedOutputStream(str(tmp), "gzip") as sink:
                    write(table, sink)
            else:
                write(table, str(tmp))
        return
    with (
        atomic_write(path, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) if gz else nullcontext(raw) as f,
    ):
        for row in table.to_pylist():
            f.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))


def jsonable(x: Any) -> Any:
    """Plain JSON types: numpy arrays/scalars converted, NaN/inf -> None."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def write_json(obj: Any, path: str | Path) -> None:
    """JSON with NaN/inf written as null; atomic."""
    with atomic_write(path, "w") as f:
        json.dump(jsonable(obj), f, indent=2, ensure_ascii=False)
        f.write("\n")
