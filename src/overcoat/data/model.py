"""One columnar data model for what is judged and how humans judged it.

A :class:`Dataset` holds three Arrow tables:

``items``
    ``item_id`` (string), ``input`` (string: prompt / source / dialogue rendered as text),
    ``messages`` (string, nullable: the input as a JSON list of ``{role, content}`` chat messages),
    ``references`` (list<string>), and any metadata columns (``subset``, ``lp``, ``domain``,
    ``doc`` ...; strings).
``responses``
    ``item_id``, ``response_id`` (system name or candidate name), ``text``.
``judgments``
    a :class:`Judgments`: either *pointwise* (``item_id, response_id, rater, score``; higher is
    better: MQM negated, DA, Likert, correctness 0/1) or *pairwise* (``item_id, response_a,
    response_b, label, rater`` with label ``a``, ``b`` or ``tie``). ``rater`` may be null.

The two judgment shapes convert both ways:

* pointwise -> pairwise (:meth:`Judgments.to_pairwise`): per item, scores are averaged over raters
  (or kept per rater), then every within-item pair of responses becomes a preference, a ``tie``
  where the scores are equal.
* pairwise -> pointwise (:meth:`Judgments.to_pointwise`): a response's score is its win rate within
  its item, wins + ½ ties over comparisons. For the common case of two responses per item this is
  exactly 1/0 (or ½/½ for a tie), so a preference pair becomes a two-column human matrix.

Everything is columnar so that a million responses load and align quickly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

POINTWISE = "pointwise"
PAIRWISE = "pairwise"

ITEM_COLUMNS = ("item_id", "input", "messages", "references")

POINTWISE_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("response_id", pa.string()),
        ("rater", pa.string()),
        ("score", pa.float64()),
    ]
)
PAIRWISE_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("response_a", pa.string()),
        ("response_b", pa.string()),
        ("label", pa.string()),
        ("rater", pa.string()),
    ]
)
RESPONSE_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("response_id", pa.string()),
        ("text", pa.string()),
    ]
)


@dataclass(frozen=True)
class Judgments:
    """Human judgments, pointwise or pairwise (see module docstring)."""

    kind: str
    table: pa.Table

    def __post_init__(self):
        if self.kind not in (POINTWISE, PAIRWISE):
            raise ValueError(f"unknown judgment kind {self.kind!r}")

    def __len__(self) -> int:
        return self.table.num_rows

    @property
    def raters(self) -> list[str]:
        col = self.table.column("rater")
        return sorted(v for v in pc.unique(col).to_pylist() if v is not None)

    # -- conversions ---------------------------------------------------------------------------
    def mean_scores(self) -> pa.Table:
        """Pointwise only: ``item_id, response_id, score`` with the mean over raters."""
        if self.kind != POINTWISE:
            return self.to_pointwise().mean_scores()
        g = self.table.group_by(["item_id", "response_id"], use_threads=False)
        out = g.aggregate([("score", "mean")])
        return out.rename_columns(["item_id", "response_id", "score"]).select(
            ["item_id", "response_id", "score"]
        )

    def rater_matrix(self) -> tuple[list[str], list[tuple[str, str]], np.ndarray]:
        """Pointwise only: the reliability matrix of inter-annotator statistics.

        Returns ``(raters, units, X)``: rater ids (sorted), units = ``(item_id, response_id)``
        cells that some rater scored (in first-seen order), and ``X`` of shape (raters, units) with
        NaN where a rater did not score a cell. A rater who scored a cell twice is an error."""
        if self.kind != POINTWISE:
            raise ValueError(
                "a rater matrix needs pointwise judgments (one score per rater and response)"
            )
        rater = self.table.column("rater").to_pylist()
        if any(r is None for r in rater):
            raise ValueError("judgments without rater ids: inter-annotator statistics need them")
        items = self.table.column("item_id").to_pylist()
        resps = self.table.column("response_id").to_pylist()
        score = self.table.column("score").to_numpy(zero_copy_only=False).astype(float)
        raters = sorted(set(rater))
        r_of = {r: i for i, r in enumerate(raters)}
        u_of: dict[tuple[str, str], int] = {}
        for key in zip(items, resps):
            u_of.setdefault(key, len(u_of))
        X = np.full((len(raters), len(u_of)), np.nan)
        for r, key, v in zip(rater, zip(items, resps), score):
            i, j = r_of[r], u_of[key]
            if not np.isnan(X[i, j]):
                raise ValueError(f"rater {r!r} scored item {key[0]!r} response {key[1]!r} twice")
            X[i, j] = v
        return raters, list(u_of), X

    def to_pairwise(self, *, per_rater: bool = False) -> Judgments:
        """All within-item pairs of responses; a tie where human scores are equal.

        With ``per_rater=False`` scores are first averaged over raters (one preference per pair);
        with ``per_rater=True`` each rater's scores give their own pairs (rater kept).
        """
        if self.kind == PAIRWISE:
            return self
        if per_rater:
            t = self.table
            rater = t.column("rater")
        else:
            t = self.mean_scores()
            rater = pa.nulls(t.num_rows, pa.string())
        n = t.num_rows
        if n == 0:
            return Judgments(PAIRWISE, PAIRWISE_SCHEMA.empty_table())
        # group rows by (item, rater): sort by group code, then all pairs within each group
        item_codes = _codes(t.column("item_id"))
        rater_codes = _codes(pc.fill_null(rater, "\x00"))
        group = item_codes * (int(rater_codes.max()) + 1) + rater_codes
        order = np.argsort(group, kind="stable")
        g_sorted = group[order]
        starts = np.flatnonzero(np.r_[True, g_sorted[1:] != g_sorted[:-1]])
        sizes = np.diff(np.r_[starts, n])
        a_idx, b_idx = [], []
        for size in np.unique(sizes):
            if size < 2:
                continue
            ia, ib = np.triu_indices(int(size), 1)
            st = starts[sizes == size]
            a_idx.append((st[:, None] + ia[None, :]).ravel())
            b_idx.append((st[:, None] + ib[None, :]).ravel())
        if not a_idx:
            return Judgments(PAIRWISE, PAIRWISE_SCHEMA.empty_table())
        a = order[np.concatenate(a_idx)]
        b = order[np.concatenate(b_idx)]
        # keep the original row order of pairs (by first response, then second)
        o = np.lexsort((b, a))
        a, b = a[o], b[o]
        score = t.column("score").to_numpy(zero_copy_only=False)
        sa, sb = score[a], score[b]
        label = np.where(sa > sb, "a", np.where(sb > sa, "b", "tie"))
        ta, tb = pa.array(a), pa.array(b)
        table = pa.table(
            {
                "item_id": t.column("item_id").take(ta),
                "response_a": t.column("response_id").take(ta),
                "response_b": t.column("response_id").take(tb),
                "label": pa.array(label, pa.string()),
                "rater": rater.take(ta) if per_rater else pa.nulls(len(a), pa.string()),
            },
            schema=PAIRWISE_SCHEMA,
        )
        return Judgments(PAIRWISE, table)

    def to_pointwise(self) -> Judgments:
        """Win rate within item: (wins + ½ ties) / comparisons, per response (raters pooled)."""
        if self.kind == POINTWISE:
            return self
        t = self.table
        items = t.column("item_id").to_pylist()
        a = t.column("response_a").to_pylist()
        b = t.column("response_b").to_pylist()
        lab = t.column("label").to_pylist()
        wins: dict[tuple, float] = {}
        games: dict[tuple, int] = {}
        for it, ra, rb, la in zip(items, a, b, lab):
            ka, kb = (it, ra), (it, rb)
            games[ka] = games.get(ka, 0) + 1
            games[kb] = games.get(kb, 0) + 1
            wa = 1.0 if la == "a" else (0.5 if la == "tie" else 0.0)
            wins[ka] = wins.get(ka, 0.0) + wa
            wins[kb] = wins.get(kb, 0.0) + (1.0 - wa)
        keys = list(games)
        return Judgments(
            POINTWISE,
            pa.table(
                {
                    "item_id": [k[0] for k in keys],
                    "response_id": [k[1] for k in keys],
                    "rater": [None] * len(keys),
                    "score": [wins[k] / games[k] for k in keys],
                },
                schema=POINTWISE_SCHEMA,
            ),
        )


@dataclass(frozen=True)
class Dataset:
    """Items, responses and (optionally) human judgments, all columnar."""

    name: str
    items: pa.Table
    responses: pa.Table
    judgments: Judgments | None = None
    source: str | None = None  # path or spec it was loaded from
    info: dict = field(default_factory=dict)  # free metadata: license, citation, language pair

    # -- basic views ---------------------------------------------------------------------------
    @property
    def n_items(self) -> int:
        return self.items.num_rows

    @property
    def n_responses(self) -> int:
        return self.responses.num_rows

    def metadata_columns(self) -> list[str]:
        return [c for c in self.items.column_names if c not in ITEM_COLUMNS]

    def has_references(self) -> bool:
        refs = self.items.column("references")
        return bool(pc.sum(pc.list_value_length(refs)).as_py() or 0)

    def response_ids(self) -> list[str]:
        """Distinct response ids in first-appearance order (systems for WMT data)."""
        seen: dict[str, None] = {}
        for r in self.responses.column("response_id").to_pylist():
            seen.setdefault(r, None)
        return list(seen)

    def response_inputs(self) -> pa.Table:
        """The responses joined with their item's input, messages and references (row-aligned)."""
        idx = pc.index_in(self.responses.column("item_id"), value_set=self.items.column("item_id"))
        take = self.items.select(["input", "messages", "references"]).take(idx)
        return pa.table(
            {
                "item_id": self.responses.column("item_id"),
                "response_id": self.responses.column("response_id"),
                "input": take.column("input"),
                "messages": take.column("messages"),
                "references": take.column("references"),
                "text": self.responses.column("text"),
            }
        )

    def filter_items(self, mask_or_ids) -> Dataset:
        """Keep a subset of items (boolean mask over items, or an iterable of item ids)."""
        if (
            isinstance(mask_or_ids, (np.ndarray, list))
            and len(mask_or_ids) == self.n_items
            and np.asarray(mask_or_ids).dtype == bool
        ):
            keep_ids = pa.array(
                np.asarray(self.items.column("item_id").to_pylist(), dtype=object)[
                    np.asarray(mask_or_ids)
                ],
                pa.string(),
            )
        else:
            keep_ids = pa.array(list(mask_or_ids), pa.string())
        items = self.items.filter(pc.is_in(self.items.column("item_id"), value_set=keep_ids))
        responses = self.responses.filter(
            pc.is_in(self.responses.column("item_id"), value_set=keep_ids)
        )
        judg = None
        if self.judgments is not None:
            jt = self.judgments.table
            judg = Judgments(
                self.judgments.kind, jt.filter(pc.is_in(jt.column("item_id"), value_set=keep_ids))
            )
        return replace(self, items=items, responses=responses, judgments=judg)

    def sample_items(self, n: int, *, seed: int = 0) -> Dataset:
        """A seeded random subset of ``n`` items (all of them when ``n >= n_items``), kept in
        their original order."""
        if n >= self.n_items:
            return self
        rng = np.random.default_rng(seed)
        keep = np.zeros(self.n_items, dtype=bool)
        keep[rng.choice(self.n_items, size=n, replace=False)] = True
        out = self.filter_items(keep)
        return replace(
            out, info={**out.info, "sampled_items": f"{n} of {self.n_items}, seed {seed}"}
        )

    def filter_responses(self, exclude: Iterable[str]) -> Dataset:
        """Drop responses (and their judgments) whose response_id is in ``exclude``."""
        ex = pa.array(list(exclude), pa.string())
        responses = self.responses.filter(
            pc.invert(pc.is_in(self.responses.column("response_id"), value_set=ex))
        )
        judg = None
        if self.judgments is not None:
            jt = self.judgments.table
            if self.judgments.kind == POINTWISE:
                m = pc.invert(pc.is_in(jt.column("response_id"), value_set=ex))
            else:
                m = pc.and_(
                    pc.invert(pc.is_in(jt.column("response_a"), value_set=ex)),
                    pc.invert(pc.is_in(jt.column("response_b"), value_set=ex)),
                )
            judg = Judgments(self.judgments.kind, jt.filter(m))
        return replace(self, responses=responses, judgments=judg)

    def with_reference_from(self, response_id: str, *, drop: Iterable[str] = ()) -> Dataset:
        """Use response ``response_id``'s text as each item's reference (WMT practice: a human
        translation is the reference) and drop it, and any ids in ``drop``, from the responses."""
        rt = self.responses.filter(pc.equal(self.responses.column("response_id"), response_id))
        if rt.num_rows == 0:
            raise ValueError(f"no response {response_id!r} in data set {self.name!r}")
        ref_of = dict(zip(rt.column("item_id").to_pylist(), rt.column("text").to_pylist()))
        refs = [
            [ref_of[i]] if i in ref_of else [] for i in self.items.column("item_id").to_pylist()
        ]
        idx = self.items.column_names.index("references")
        items = self.items.set_column(idx, "references", pa.array(refs, pa.list_(pa.string())))
        out = replace(self, items=items).filter_responses([response_id, *drop])
        return replace(out, info={**self.info, "reference": response_id})

    # -- matrix form (what metaeval consumes) -------------------------------------------------
    def layout(self) -> MatrixLayout:
        """Row = item (in items order), column = response id (or position within item)."""
        return MatrixLayout.from_tables(
            self.items.column("item_id"),
            self.responses.column("item_id"),
            self.responses.column("response_id"),
        )

    def human_matrix(self, layout: MatrixLayout | None = None) -> np.ndarray:
        """Human scores as an (n_items, n_columns) float array, NaN where missing.

        Pointwise judgments use the mean over raters; pairwise judgments use the win rate
        (see :meth:`Judgments.to_pointwise`).
        """
        if self.judgments is None:
            raise ValueError(f"data set {self.name!r} has no human judgments")
        layout = layout or self.layout()
        t = self.judgments.to_pointwise().mean_scores()
        return layout.scatter(
            t.column("item_id"),
            t.column("response_id"),
            t.column("score").to_numpy(zero_copy_only=False),
        )

    def to_matrix(self, scores: np.ndarray, layout: MatrixLayout | None = None) -> np.ndarray:
        """Scatter per-response ``scores`` (aligned with the responses table) into matrix form."""
        layout = layout or self.layout()
        return layout.scatter(
            self.responses.column("item_id"),
            self.responses.column("response_id"),
            np.asarray(scores, float),
        )


@dataclass(frozen=True)
class MatrixLayout:
    """Maps (item_id, response_id) to (row, column) of the matrix form.

    Columns are response ids when ids repeat across items (WMT systems, ``chosen``/``rejected``);
    when ids are nearly unique per response (more than 4x the largest item) columns are the
    response's position within its item instead.
    """

    item_ids: pa.Array
    column_ids: list[str] | None  # None: columns are positions within item
    keys: pa.Table  # item_id, response_id, row, col (one per response)
    n_rows: int
    n_cols: int

    @classmethod
    def from_tables(cls, item_ids, resp_item_ids, resp_ids) -> MatrixLayout:
        item_ids = _as_array(item_ids)
        resp_item_ids = _as_array(resp_item_ids)
        resp_ids = _as_array(resp_ids)
        rows = pc.index_in(resp_item_ids, value_set=item_ids).to_numpy(zero_copy_only=False)
        rows = np.asarray(rows, dtype=np.int64)
        enc = pc.dictionary_encode(resp_ids)
        codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        n_unique = len(enc.dictionary)
        n_rows = len(item_ids)
        per_item = np.bincount(rows, minlength=n_rows) if len(rows) else np.zeros(n_rows, int)
        max_per_item = int(per_item.max()) if len(per_item) else 0
        if n_unique <= max(4 * max_per_item, 1):
            column_ids, cols, n_cols = enc.dictionary.to_pylist(), codes, n_unique
        else:  # by position within item (responses order)
            order = np.argsort(rows, kind="stable")
            starts = np.concatenate([[0], np.cumsum(per_item)[:-1]]).astype(np.int64)
            cols = np.empty_like(rows)
            cols[order] = np.arange(len(rows)) - np.repeat(starts, per_item)
            column_ids, n_cols = None, max_per_item
        keys = pa.table(
            {"item_id": resp_item_ids, "response_id": resp_ids, "__row": rows, "__col": cols}
        )
        return cls(item_ids, column_ids, keys, n_rows, n_cols)

    def scatter(self, item_ids, response_ids, values: np.ndarray) -> np.ndarray:
        """Place ``values`` for (item_id, response_id) keys into an (n_rows, n_cols) NaN matrix.

        Keys that name no response of the layout are ignored.
        """
        out = np.full((self.n_rows, self.n_cols), np.nan)
        values = np.asarray(values, dtype=float)
        if len(values) == 0:
            return out
        q = pa.table(
            {"item_id": _as_array(item_ids), "response_id": _as_array(response_ids), "__v": values}
        )
        j = q.join(self.keys, keys=["item_id", "response_id"], join_type="inner", use_threads=False)
        r = j.column("__row").to_numpy(zero_copy_only=False)
        c = j.column("__col").to_numpy(zero_copy_only=False)
        out[r, c] = j.column("__v").to_numpy(zero_copy_only=False)
        return out

    def positions(self) -> tuple[np.ndarray, np.ndarray]:
        """(row, col) of every response, in responses order."""
        return (
            self.keys.column("__row").to_numpy(zero_copy_only=False),
            self.keys.column("__col").to_numpy(zero_copy_only=False),
        )


def _as_array(a) -> pa.Array:
    if isinstance(a, pa.ChunkedArray):
        return a.combine_chunks() if a.num_chunks else pa.array([], a.type)
    if isinstance(a, pa.Array):
        return a
    return pa.array(list(a), pa.string())


def _codes(col) -> np.ndarray:
    """Integer codes of a string column (dictionary encoding)."""
    enc = pc.dictionary_encode(_as_array(col))
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)


def messages_to_text(messages: list[dict]) -> str:
    """Render chat messages as plain text (``Role: content`` blocks)."""
    parts = []
    for m in messages:
        role = str(m.get("role", "user")).strip().capitalize()
        parts.append(f"{role}: {m.get('content', '')}")
    return "\n\n".join(parts)


def dumps_messages(messages: list[dict] | None) -> str | None:
    return None if messages is None else json.dumps(messages, ensure_ascii=False)


def loads_messages(s: str | None) -> list[dict] | None:
    return None if s is None else json.loads(s)
