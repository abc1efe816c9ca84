"""WMT MQM annotations (Google's ``wmt-mqm-human-evaluation`` TSV format) -> segment scores.

Columns: ``system doc doc_id seg_id rater source target category severity [comment]``, one row per
annotated error (a ``No-error`` row for a clean segment). Error spans are marked ``<v>…</v>`` in
``target`` (or ``source``); the marks are stripped to get the plain text.

The WMT23 side-by-side files (``system doc docSegId globalSegId rater source target category
severity``) are read too: ``globalSegId`` is the segment id and ``docSegId`` the position in the
document. Their ``HOTW-test`` rows are the annotation tool's attention checks (a planted error the
rater found): weight 0, as mt-metrics-eval's converter, and counted per rater in
``info["attention_checks"]``. ``Source issue`` rows weigh what their severity weighs (mt-metrics-eval's
convention).

Segment score (Freitag et al. 2021, the repository's README): the sum of error weights for one
rater — Major = 5, Minor = 1, Minor ``Fluency/Punctuation`` = 0.1, ``Non-translation`` (any
severity) = 25, Neutral and No-error = 0 — then the mean over the segment's raters, negated so that
higher is better (0 is perfect). Rater ids are kept (one pointwise judgment per rater).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from ..errors import DataError
from .builder import DatasetBuilder
from .io import read_text
from .model import Dataset

MQM_COLUMNS = (
    "system",
    "doc",
    "doc_id",
    "seg_id",
    "rater",
    "source",
    "target",
    "category",
    "severity",
)
#: the WMT23 side-by-side layout's names for doc_id and seg_id
_SXS_NAMES = {"doc_id": "docSegId", "seg_id": "globalSegId"}
ATTENTION_CHECK = "hotw-test"
_MARK = re.compile(r"</?v>")


@dataclass(frozen=True)
class MQMWeights:
    """The published MQM weighting (defaults) — overridable for other conventions."""

    major: float = 5.0
    minor: float = 1.0
    minor_punctuation: float = 0.1
    non_translation: float = 25.0

    def weight(self, category: str, severity: str) -> float:
        sev = severity.strip().lower()
        cat = category.strip()
        if cat.lower().startswith("non-translation"):
            return self.non_translation
        if sev == "major":
            return self.major
        if sev == "minor":
            return self.minor_punctuation if cat == "Fluency/Punctuation" else self.minor
        if sev in ("neutral", "no-error", ATTENTION_CHECK):
            return 0.0
        raise ValueError(f"unknown severity {severity!r}")


def strip_marks(text: str) -> str:
    return _MARK.sub("", text)


def read_mqm_rows(path: str):
    """Yield (line_no, row dict) from an MQM TSV (header required)."""
    text = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    try:
        header = next(reader)
    except StopIteration:
        raise DataError("empty file", path=path, line=1) from None
    names = {c: c for c in MQM_COLUMNS}
    if "seg_id" not in header and _SXS_NAMES["seg_id"] in header:  # WMT23 side-by-side layout
        names.update(_SXS_NAMES)
    missing = [names[c] for c in MQM_COLUMNS if names[c] not in header]
    if missing:
        raise DataError(
            f"missing MQM column(s) {', '.join(missing)} in header",
            path=path,
            line=1,
            field=missing[0],
        )
    pos = {c: header.index(names[c]) for c in MQM_COLUMNS}
    for row in reader:
        line = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) < len(header) - ("comment" in header):
            raise DataError(
                f"expected {len(header)} tab-separated fields, got {len(row)}",
                path=path,
                line=line,
                field=header[min(len(row), len(header) - 1)],
            )
        yield line, {c: row[i] for c, i in pos.items()}


def load_mqm_tsv(
    path: str, *, weights: MQMWeights | None = None, lp: str | None = None, name: str | None = None
) -> Dataset:
    """Load an MQM TSV: items = segments (input = source), responses = every system's output,
    pointwise judgments = negated per-rater MQM scores (see the module docstring)."""
    weights = weights or MQMWeights()
    # (system, seg) -> rater -> [sum, first line]; also texts
    per_rater: dict[tuple[str, str], dict[str, float]] = {}
    first_line: dict[tuple[str, str], int] = {}
    seg_info: dict[str, tuple[str, dict, int]] = {}
    targets: dict[tuple[str, str], str] = {}
    checks: dict[str, int] = {}
    for line, r in read_mqm_rows(path):
        seg = r["seg_id"].strip()
        if not seg:
            raise DataError("empty seg_id", path=path, line=line, field="seg_id")
        system = r["system"].strip()
        if not system:
            raise DataError("empty system", path=path, line=line, field="system")
        try:
            w = weights.weight(r["category"], r["severity"])
        except ValueError as e:
            raise DataError(str(e), path=path, line=line, field="severity") from None
        if r["severity"].strip().lower() == ATTENTION_CHECK:
            checks[r["rater"]] = checks.get(r["rater"], 0) + 1
        key = (system, seg)
        raters = per_rater.setdefault(key, {})
        raters[r["rater"]] = raters.get(r["rater"], 0.0) + w
        first_line.setdefault(key, line)
        if seg not in seg_info:
            meta = {"doc": r["doc"], "doc_id": r["doc_id"]}
            if lp:
                meta["lp"] = lp
            seg_info[seg] = (strip_marks(r["source"]), meta, line)
        if key not in targets:
            targets[key] = strip_marks(r["target"])
    info: dict[str, object] = {"judgment": "MQM (negated; higher is better)", "lp": lp}
    if checks:
        info["attention_checks"] = dict(sorted(checks.items()))
    b = DatasetBuilder(name or "mqm", path=path, info=info)
    for seg in sorted(seg_info, key=_seg_sort_key):
        src, meta, line = seg_info[seg]
        b.add_item(seg, src, metadata=meta, line=line, field="source")
    for key in sorted(per_rater, key=lambda k: (_seg_sort_key(k[1]), k[0])):
        system, seg = key
        b.add_response(seg, system, targets[key], line=first_line[key], field="target")
        for rater, total in per_rater[key].items():
            b.add_score(seg, system, -total, rater=rater or None, line=first_line[key])
    return b.build()


def _seg_sort_key(seg: str):
    return (0, int(seg), "") if seg.isdigit() else (1, 0, seg)


def read_avg_seg_scores(path: str) -> dict[tuple[str, str], float | None]:
    """Google's ``*.avg_seg_scores.tsv`` (``system score seg_id``, whitespace-separated; ``None``
    where a segment was not rated) -> {(system, seg_id): score}."""
    out: dict[tuple[str, str], float | None] = {}
    for n, line in enumerate(read_text(path).splitlines(), start=1):
        parts = line.split()
        if n == 1 and parts[:1] == ["system"]:
            continue
        if not parts:
            continue
        if len(parts) != 3:
            raise DataError(f"expected 3 fields, got {len(parts)}", path=path, line=n)
        system, score, seg = parts
        out[(system, seg)] = None if score == "None" else float(score)
    return out
