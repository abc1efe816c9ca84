"""``scores:PATH[#SCORER][,OPTION=VALUE...]`` — scores people already have, loaded as a scorer.

The file (JSONL/JSON/CSV/Parquet, see :func:`overcoat.data.scores_file.read_scores_file`) has
``item_id``, ``response_id``, ``score`` and optionally ``scorer`` and ``content_hash``, or one row
per pair with ``chosen_score``, ``rejected_score``; when it holds several scorers, ``#NAME`` picks
one. Options after ``#`` (the README's "Scorer specs": the path runs to ``#``):

``higher_is_better=false``  (or ``lower_is_better=true``) the scores are losses/distances
                            (default: the file's ``higher_is_better`` column, else true);
``match=auto|content|ids``  how file rows find the data's responses.

Matching (``auto``): by content (:func:`~overcoat.data.scores_file.content_hash` of input +
response) when the file has content hashes or texts, else by ``(item_id, response_id)``. Matching by
ids is refused when the data has no ids of its own (they are then line or record numbers, and a
file numbered from 0 would silently pair every score with the wrong response) unless
``match=ids`` says the file uses those very numbers. No response matched is an error naming one
unmatched id from each side; a partial match is a note the user sees, and the unmatched responses
are missing (NaN), never 0.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from ..errors import DataError, SpecError
from ._spec import split_args, split_location
from .base import DataRows, Scorer, ScoringBatch
from .registry import register

MATCH_MODES = ("auto", "content", "ids")


def _resp(iid, rid, h=None) -> str:
    if iid is None:
        return f"response {rid!r} with content hash {h!r}"
    return f"item {iid!r} response {rid!r}" + (f" (content hash {h!r})" if h else "")


class PrecomputedScorer(Scorer):
    cacheable = False

    def __init__(
        self,
        path: str,
        scorer: str | None = None,
        higher_is_better: bool | None = None,
        match: str = "auto",
    ):
        from ..data.scores_file import read_scores_file

        if match not in MATCH_MODES:
            raise SpecError(
                f"scores:{path}: match must be one of {', '.join(MATCH_MODES)}, got {match!r}"
            )
        self.path = path
        self.match = match
        table = read_scores_file(path)
        names = [n for n in pc.unique(table.column("scorer")).to_pylist() if n is not None]
        if scorer is None and len(names) > 1:
            raise SpecError(
                f"{path}: holds scores of several scorers ({', '.join(names)}); "
                f"pick one with scores:{path}#NAME"
            )
        if scorer is not None:
            if scorer not in names:
                raise SpecError(f"{path}: no scorer {scorer!r} (has: {', '.join(names) or 'none'})")
            table = table.filter(pc.equal(table.column("scorer"), scorer))
        self.scorer_name = scorer or (names[0] if names else Path(path).stem)
        self.name = self.scorer_name
        in_file = {v for v in table.column("higher_is_better").to_pylist() if v is not None}
        if higher_is_better is None and len(in_file) > 1:
            raise SpecError(
                f"{path}: column higher_is_better is both true and false for scorer "
                f"{self.scorer_name!r}; say which with "
                f"scores:{path}#higher_is_better=true|false"
            )
        # the spec decides; else the file (overcoat score writes it: TER is lower-is-better)
        self.higher_is_better = (
            higher_is_better
            if higher_is_better is not None
            else (in_file.pop() if in_file else True)
        )
        self._rows = list(
            zip(
                table.column("item_id").to_pylist(),
                table.column("response_id").to_pylist(),
                table.column("content_hash").to_pylist(),
                table.column("score").to_pylist(),
            )
        )
        self._has_hash = any(h is not None for _, _, h, _ in self._rows)
        if match == "content" and not self._has_hash:
            raise SpecError(
                f"scores:{path}: match=content needs content hashes (column "
                "content_hash, as overcoat score writes) or the texts in the file"
            )
        self._bound: dict[tuple[str, str], float] | None = None
        self._digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]

    def signature(self) -> str:
        extra = "" if self.higher_is_better else "|lower_is_better"
        return (
            f"scores|file:{Path(self.path).name}|scorer:{self.scorer_name}"
            f"|sha256:{self._digest}{extra}"
        )

    # -- matching ------------------------------------------------------------------------------
    def bind(self, rows: DataRows) -> list[str]:
        """Match the file's scores to the data's responses (see the module docstring)."""
        from ..data.scores_file import content_hash

        mode = self.match
        if mode == "auto":
            mode = "content" if self._has_hash else "ids"
        n_default = int(rows.info.get("default_ids") or 0)
        if mode == "ids" and n_default and self.match != "ids":
            what = {"record": "record numbers", "row": "row numbers"}.get(
                str(rows.info.get("default_ids_from")), "line numbers"
            )
            raise DataError(
                f"cannot match these scores to {rows.name!r} safely: {n_default} of its items "
                f"have no id of their own (their ids are {what}) and the file has no content "
                "hashes; write the scores with overcoat score (it adds content_hash), put the "
                "input and response texts in the file, give the data an id column, or write "
                f"scores:{self.path}#match=ids if the file's item_ids are those {what}",
                path=self.path,
            )
        n = len(rows.responses)
        bound: dict[tuple[str, str], float] = {}
        used: set[int] = set()
        data_hashes: list[str | None] = [None] * n
        if mode == "content":
            by_full: dict[tuple, int] = {}
            by_hash: dict[str, list[int]] = {}
            for k, (iid, rid, h, _) in enumerate(self._rows):
                if h is not None:
                    by_full.setdefault((iid, rid, h), k)
                    by_hash.setdefault(h, []).append(k)
            for r, (iid, rid, inp, text) in enumerate(
                zip(rows.item_ids, rows.response_ids, rows.inputs, rows.responses)
            ):
                h = data_hashes[r] = content_hash(inp, text)
                hit = by_full.get((iid, rid, h))
                if hit is None:
                    ks = by_hash.get(h, [])
                    if ks and len({self._rows[j][3] for j in ks}) == 1:
                        hit = ks[0]
                        used.update(ks)
                if hit is not None:
                    bound[(iid, rid)] = self._rows[hit][3]
                    used.add(hit)
            how = "content hash (input + response)"
        else:
            index = {
                (iid, rid): k for k, (iid, rid, _, _) in enumerate(self._rows) if iid is not None
            }
            for iid, rid in zip(rows.item_ids, rows.response_ids):
                hit = index.get((iid, rid))
                if hit is not None:
                    bound[(iid, rid)] = self._rows[hit][3]
                    used.add(hit)
            how = "item_id and response_id"
        self._bound = bound
        matched = sum((i, r) in bound for i, r in zip(rows.item_ids, rows.response_ids))
        miss_data = next(
            (
                (i, r, data_hashes[k])
                for k, (i, r) in enumerate(zip(rows.item_ids, rows.response_ids))
                if (i, r) not in bound
            ),
            None,
        )
        miss_file = next((self._rows[k][:3] for k in range(len(self._rows)) if k not in used), None)
        n_unused = len(self._rows) - len(used)
        if matched == 0:
            ex = []
            if miss_data:
                ex.append(f"the data has {_resp(*miss_data)}")
            if miss_file:
                ex.append(f"the file has {_resp(*miss_file)}")
            raise DataError(
                f"0 of the {n} responses of {rows.name!r} matched any of the file's "
                f"{len(self._rows)} scores by {how}; e.g. "
                + ", ".join(ex)
                + self._hint(mode, n_default),
                path=self.path,
            )
        notes = []
        if matched < n and miss_data:
            notes.append(
                f"{self.name}: scores:{self.path} covers {matched} of {n} responses "
                f"(matched by {how}); {n - matched} have no score (missing, left out "
                f"of every statistic), e.g. {_resp(*miss_data)}"
            )
        if n_unused and miss_file:
            notes.append(
                f"{self.name}: {n_unused} of the {len(self._rows)} scores in "
                f"scores:{self.path} match no response of {rows.name!r}, e.g. "
                f"{_resp(*miss_file)}"
            )
        return notes

    @staticmethod
    def _hint(mode: str, n_default: int) -> str:
        if mode == "content":
            return " (was the file scored on other texts?)"
        if n_default:
            return " (the data's ids are its line or record numbers)"
        return ""

    def score_batch(self, batch: ScoringBatch) -> np.ndarray:
        if self._bound is None:
            raise SpecError(
                f"scores:{self.path}: match the file to a data set first (score it "
                "with overcoat.api.score or overcoat.scorers.engine.score_dataset)"
            )
        return np.array(
            [self._bound.get((i, r), np.nan) for i, r in zip(batch.item_ids, batch.response_ids)],
            dtype=float,
        )


@register(
    "scores",
    "precomputed scores file: scores:PATH[#SCORER][,higher_is_better=false]"
    "[,match=auto|content|ids]",
)
def _scores(arg: str):
    if not arg:
        raise SpecError("scores: needs a path, e.g. scores:my_scores.jsonl")
    path, rest = (arg, None) if Path(arg).exists() else split_location(arg, "#")
    names, o = split_args(
        rest or "",
        f"scores:{arg}",
        {"higher_is_better": bool, "lower_is_better": bool, "match": str},
        max_positional=1,
        noun="scorer name",
    )
    name = names[0] if names else None
    if (
        "higher_is_better" in o
        and "lower_is_better" in o
        and o["higher_is_better"] == o["lower_is_better"]
    ):
        raise SpecError(f"scores:{arg}: higher_is_better and lower_is_better contradict")
    hib = (
        o["higher_is_better"]
        if "higher_is_better" in o
        else (not o["lower_is_better"] if "lower_is_better" in o else None)
    )
    return PrecomputedScorer(path, name, higher_is_better=hib, match=o.get("match", "auto"))
