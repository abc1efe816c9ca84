"""mt-metrics-eval (MTME) test-set directories, one language pair at a time.

Layout, relative to a test-set directory such as ``wmt22/`` (``LP`` is e.g. ``en-de``)::

    sources/LP.txt                    one source segment per line
    references/LP.REF.txt             one file per reference (REF: refA, refB ...)
    system-outputs/LP/SYS.txt         one file per system (references may appear here too)
    documents/LP.docs                 optional: "DOMAIN DOC" per segment
    human-scores/LP.NAME.seg.score    "SYS SCORE" lines: per system, one per segment, in order;
                                      SCORE may be None. NAME is the method (mqm, wmt-z ...);
                                      a bare LP.seg.score is accepted too
    human-scores/LP.NAME.sys.score    "SYS SCORE": one per system (kept in info["system_scores"])

Items are the segments (``item_id`` ``"LP:N"``, N the 1-based line; metadata ``lp``, and ``domain``,
``doc`` when ``documents/`` has them), with the chosen reference. Responses are the system
outputs; an empty output line is skipped (counted in ``info["empty_outputs"]``). Human segment
scores become pointwise judgments (rater None); ``None`` gives no judgment.
"""

from __future__ import annotations

import os
from pathlib import Path

from ...errors import DataError
from ..benchmark_fields import MTME
from ..builder import DatasetBuilder, score_field
from ..io import iter_lines
from ..model import Dataset

#: which human score wins when none is named (first present); then alphabetical
HUMAN_PREFERENCE = ("", "mqm", "esa", "wmt-appraise", "wmt-z", "wmt-raw", "psqm", "da-sqm")


def _lines(path: Path) -> list[str]:
    return [line for _, line in iter_lines(path)]


def language_pairs(root: str | os.PathLike) -> list[str]:
    """The language pairs of an MTME test-set directory (from ``sources/*.txt``)."""
    d = Path(root) / "sources"
    return sorted(p.name[:-4] for p in d.glob("*.txt")) if d.is_dir() else []


def _human_names(root: Path, lp: str, level: str) -> list[str]:
    d = root / "human-scores"
    if not d.is_dir():
        return []
    out = []
    suffix = f".{level}.score"
    for p in d.iterdir():
        n = p.name
        if n == f"{lp}{suffix}":
            out.append("")
        elif n.startswith(f"{lp}.") and n.endswith(suffix):
            out.append(n[len(lp) + 1 : -len(suffix)])
    return out


def _score_file(root: Path, lp: str, name: str, level: str) -> Path:
    return (
        root
        / "human-scores"
        / (f"{lp}.{level}.score" if not name else f"{lp}.{name}.{level}.score")
    )


def _split_score_line(line: str, path: Path, n: int) -> tuple[str, str]:
    parts = line.split("\t") if "\t" in line else line.rsplit(None, 1)
    parts = [p.strip() for p in parts]
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise DataError("expected 'SYSTEM<TAB>SCORE'", path=str(path), line=n)
    return parts[0], parts[1]


def load_mtme(
    root: str | os.PathLike,
    lp: str | None = None,
    *,
    reference: str | None = None,
    human: str | None = "auto",
    exclude_systems=(),
    include_references: bool = False,
    name: str | None = None,
) -> Dataset:
    """One language pair of an mt-metrics-eval test set (see the module docstring).

    ``lp``: the language pair (optional when the directory has only one). ``reference``: which
    reference the items carry (default: the first by name). ``human``: the human score name
    (``mqm``, ``wmt-z`` ...; ``"auto"`` picks by :data:`HUMAN_PREFERENCE`; None: no judgments).
    ``exclude_systems``: system names to leave out. References found among the system outputs
    are left out too unless ``include_references=True``.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(
            "not a directory (an mt-metrics-eval test set is a directory)", path=str(root)
        )
    if not (root / "sources").is_dir():
        raise DataError(
            "not an mt-metrics-eval test-set directory (no sources/ folder)", path=str(root)
        )
    lps = language_pairs(root)
    if lp is None:
        if len(lps) != 1:
            raise DataError(
                f"{len(lps)} language pairs ({', '.join(lps) or 'none'}); pick one "
                f"with lp=LP (spec mtme:PATH:LP)",
                path=str(root),
            )
        lp = lps[0]
    elif lp not in lps:
        raise DataError(
            f"no sources/{lp}.txt (language pairs: {', '.join(lps) or 'none'})", path=str(root)
        )

    src_path = root / "sources" / f"{lp}.txt"
    sources = _lines(src_path)
    n = len(sources)

    def check_count(path: Path, lines: list, what: str):
        if len(lines) != n:
            raise DataError(f"{what} has {len(lines)} lines but the source has {n}", path=str(path))

    docs = None
    doc_path = root / "documents" / f"{lp}.docs"
    if doc_path.is_file():
        docs = []
        for k, line in iter_lines(doc_path):
            parts = line.split(None, 1)
            if len(parts) != 2:
                raise DataError("expected 'DOMAIN DOC'", path=str(doc_path), line=k)
            docs.append((parts[0], parts[1].strip()))
        check_count(doc_path, docs, "the documents file")

    ref_dir = root / "references"
    ref_names = (
        sorted(p.name[len(lp) + 1 : -4] for p in ref_dir.glob(f"{lp}.*.txt"))
        if ref_dir.is_dir()
        else []
    )
    if reference is not None and reference not in ref_names:
        raise DataError(
            f"no reference {reference!r} (references: {', '.join(ref_names) or 'none'})",
            path=str(ref_dir / f"{lp}.*.txt"),
        )
    ref_name = reference if reference is not None else (ref_names[0] if ref_names else None)
    refs = None
    if ref_name is not None:
        ref_path = ref_dir / f"{lp}.{ref_name}.txt"
        refs = _lines(ref_path)
        check_count(ref_path, refs, "the reference")

    sys_dir = root / "system-outputs" / lp
    if not sys_dir.is_dir():
        raise DataError(f"no system-outputs/{lp}/ folder", path=str(root))
    all_systems = sorted(p.name[:-4] for p in sys_dir.glob("*.txt"))
    excluded = set(exclude_systems or ()) | (set() if include_references else set(ref_names))
    systems = [s for s in all_systems if s not in excluded]

    info = {
        "format": MTME.format,
        "test_set": root.name,
        "lp": lp,
        "reference": ref_name,
        "references": ref_names,
        "systems": systems,
        "excluded_systems": sorted(excluded & set(all_systems)),
    }
    b = DatasetBuilder(name or f"{root.name}.{lp}", path=str(root), info=info)
    ids = [f"{lp}:{i + 1}" for i in range(n)]
    for i, text in enumerate(sources):
        meta = {"lp": lp}
        if docs is not None:
            meta["domain"], meta["doc"] = docs[i]
        b.add_item(
            ids[i],
            text,
            references=[refs[i]] if refs is not None else (),
            metadata=meta,
            line=i + 1,
        )

    empty = 0
    for s in systems:
        path = sys_dir / f"{s}.txt"
        outs = _lines(path)
        check_count(path, outs, "the system output")
        b.path = str(path)
        for i, text in enumerate(outs):
            if not text.strip():
                empty += 1
                continue
            b.add_response(ids[i], s, text, line=i + 1)
    b.info["empty_outputs"] = empty

    names = _human_names(root, lp, "seg")
    if human == "auto":
        pref = [h for h in HUMAN_PREFERENCE if h in names]
        human = pref[0] if pref else (sorted(names)[0] if names else None)
    elif human is not None and human not in names:
        shown = ", ".join(h or "(bare LP.seg.score)" for h in sorted(names)) or "none"
        raise DataError(
            f"no human scores {human!r} for {lp} (available: {shown})",
            path=str(root / "human-scores"),
        )
    b.info["human"] = human
    if human is not None:
        _read_seg_scores(
            b, _score_file(root, lp, human, "seg"), ids, set(all_systems), excluded, lp
        )
        sys_file = _score_file(root, lp, human, "sys")
        if sys_file.is_file():
            b.info["system_scores"] = _read_sys_scores(sys_file, set(all_systems) | excluded, lp)
    b.path = str(root)
    return b.build()


def _read_seg_scores(
    b: DatasetBuilder, path: Path, ids: list[str], known: set[str], excluded: set[str], lp: str
) -> None:
    n = len(ids)
    counts: dict[str, int] = {}
    b.path = str(path)
    for ln, line in iter_lines(path):
        if not line.strip():
            continue
        sys, val = _split_score_line(line, path, ln)
        k = counts.get(sys, 0)
        counts[sys] = k + 1
        if sys not in known:
            if sys in excluded:
                continue
            raise DataError(
                f"score for unknown system {sys!r} (no system-outputs/{lp}/{sys}.txt)",
                path=str(path),
                line=ln,
                field="system",
            )
        if k >= n:
            raise DataError(
                f"more than {n} segment scores for system {sys!r} (the source has {n} segments)",
                path=str(path),
                line=ln,
                field="score",
            )
        if val == "None":
            continue
        score_field(val, path=str(path), line=ln, field="score")
        if sys in excluded or not b.has_response(ids[k], sys):  # excluded, or empty output
            continue
        b.add_score(ids[k], sys, val, line=ln, field="score")
    for sys, c in counts.items():
        if c != n:
            raise DataError(
                f"{c} segment scores for system {sys!r}, expected {n} (one per segment)",
                path=str(path),
            )


def _read_sys_scores(path: Path, known: set[str], lp: str) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for ln, line in iter_lines(path):
        if not line.strip():
            continue
        sys, val = _split_score_line(line, path, ln)
        if sys in out:
            raise DataError(
                f"duplicate score for system {sys!r}", path=str(path), line=ln, field="system"
            )
        if sys not in known:
            raise DataError(
                f"score for unknown system {sys!r} (no system-outputs/{lp}/{sys}.txt)",
                path=str(path),
                line=ln,
                field="system",
            )
        out[sys] = (
            None if val == "None" else score_field(val, path=str(path), line=ln, field="score")
        )
    return out
