"""Hugging Face ``datasets``: by hub name (``allenai/reward-bench``) or a local folder.

``load_hf(name, split)`` loads a data set with :func:`datasets.load_dataset` (or
:func:`datasets.load_from_disk` for a folder written by ``save_to_disk``) and hands its rows to the
row parser named by ``format`` (default: detected from the columns, see
:func:`~overcoat.data.loaders.detect_row_format`). Positions in errors are ``row N`` (index + 1).

Without the ``datasets`` package, or without access to the hub, the error is one line that says
what to do (``pip install 'overcoat[hf]'``; download the data and give a local path).
"""

from __future__ import annotations

import os
from pathlib import Path

from ...errors import DataError
from ..model import Dataset
from .rows import apply_mapping, arrow_source

INSTALL_HINT = "pip install 'overcoat[hf]'"

_NETWORK_HINTS = (
    "connect",
    "offline",
    "timeout",
    "timed out",
    "network",
    "resolve",
    "unreachable",
    "localentrynotfound",
    "max retries",
    "name or service",
    "temporary failure",
    "proxy",
)


def _import_datasets():
    try:
        import datasets
    except ImportError:
        raise DataError(
            "reading Hugging Face data sets needs the 'datasets' package; install it "
            f"with: {INSTALL_HINT}"
        ) from None
    return datasets


def _is_network_error(e: BaseException | None) -> bool:
    seen = 0
    while e is not None and seen < 8:
        if isinstance(e, (ConnectionError, TimeoutError)):
            return True
        text = f"{type(e).__name__} {e}".lower()
        if any(h in text for h in _NETWORK_HINTS):
            return True
        e = e.__cause__ or e.__context__
        seen += 1
    return False


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


def _is_saved_dataset(p: Path) -> bool:
    return p.is_dir() and (
        (p / "dataset_info.json").is_file()
        or (p / "state.json").is_file()
        or (p / "dataset_dict.json").is_file()
    )


def open_hf(
    name: str,
    split: str | None = None,
    *,
    config: str | None = None,
    revision: str | None = None,
    cache_dir: str | None = None,
    data_files=None,
):
    """The ``datasets.Dataset`` for ``name`` (hub id, or a folder from ``save_to_disk``) and
    ``split``; a one-line :class:`DataError` when it cannot be had."""
    datasets = _import_datasets()
    where = f"hf:{name}" + (f":{split}" if split else "")
    try:
        if _is_saved_dataset(Path(name)):
            ds = datasets.load_from_disk(name)
        else:
            kw = {
                k: v
                for k, v in (
                    ("revision", revision),
                    ("cache_dir", cache_dir),
                    ("data_files", data_files),
                )
                if v
            }
            if not Path(name).exists():
                from ...hub import offline_unless_reachable

                offline_unless_reachable()  # no network: fail in seconds, not after retries
            ds = datasets.load_dataset(name, config, split=split, **kw)
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - datasets / huggingface_hub raise many kinds
        if _is_network_error(e):
            raise DataError(
                f"cannot reach the Hugging Face Hub ({_first_line(e)}); download the "
                "data and give its local path instead (a .jsonl/.parquet file, or a "
                "folder saved with save_to_disk)",
                path=where,
            ) from None
        if type(e).__name__ in (
            "DatasetNotFoundError",
            "FileNotFoundError",
            "RepositoryNotFoundError",
        ):
            raise DataError(
                f"data set not found ({_first_line(e)}); check the name, or give a local path",
                path=where,
            ) from None
        raise DataError(
            f"cannot load the data set ({type(e).__name__}: {_first_line(e)})", path=where
        ) from None
    if isinstance(ds, datasets.DatasetDict) or (
        hasattr(ds, "keys") and not hasattr(ds, "features")
    ):
        splits = list(ds.keys())
        if split is not None:
            if split not in splits:
                raise DataError(f"no split {split!r} (splits: {', '.join(splits)})", path=where)
            ds = ds[split]
        elif len(splits) == 1:
            ds = ds[splits[0]]
        else:
            raise DataError(
                f"several splits ({', '.join(splits)}); pick one with hf:{name}:SPLIT", path=where
            )
    if isinstance(ds, getattr(datasets, "IterableDataset", ())):
        raise DataError(
            "streaming data sets are not supported; load it without streaming", path=where
        )
    return ds


def hf_table(ds):
    """The rows of a ``datasets.Dataset`` as one Arrow table (indices mappings applied)."""
    import pyarrow as pa

    batches = list(ds.with_format("arrow").iter(batch_size=4096))
    if not batches:
        return pa.table({c: pa.array([], pa.null()) for c in ds.column_names})
    tables = [b if isinstance(b, pa.Table) else pa.Table.from_batches([b]) for b in batches]
    return pa.concat_tables(tables)


def load_hf(
    name: str,
    split: str | None = None,
    *,
    format: str | None = None,
    mapping: dict[str, str] | None = None,
    config: str | None = None,
    revision: str | None = None,
    cache_dir: str | None = None,
    data_files=None,
    dataset_name: str | None = None,
    **options,
) -> Dataset:
    """A Hugging Face data set (hub id or ``save_to_disk`` folder) as a Dataset.

    ``format``: the row parser (table, rewardbench, rewardbench2, rmbench, judgebench, hh-rlhf);
    default: detected from the columns. ``data_files`` is passed to ``load_dataset`` (for the
    generic ``json``/``parquet``/``csv`` builders). ``options`` go to the row parser (e.g.
    ``skip_bad``).
    """
    from . import parse_rows

    where = f"hf:{name}" + (f":{split}" if split else "")
    ds = open_hf(
        name, split, config=config, revision=revision, cache_dir=cache_dir, data_files=data_files
    )
    src = apply_mapping(arrow_source(hf_table(ds), where), mapping)
    base = dataset_name or (
        Path(name).name if os.sep in name and Path(name).exists() else name.split("/")[-1]
    )
    ds_out = parse_rows(src, format, name=base + (f":{split}" if split else ""), **options)
    ds_out.info.setdefault("hf", {"name": name, "split": split, "config": config})
    return ds_out
