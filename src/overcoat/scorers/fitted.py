"""Fitted scorers as one spec string: ``calibrated:FILE`` and ``combo:FILE``.

``overcoat calibrate --save FILE`` and ``overcoat fit --save FILE`` write the JSON files defined
here (:func:`calibration_file`, :func:`combination_file`); this module reads them back
(:func:`read_calibration_file`, :func:`read_combination_file`) and applies them. The fitting lives
in :mod:`overcoat.metaeval` (``calibration``, ``combination``); applying a fitted model is a line
of numpy each, kept here so that scorers never import the layers above them.

``calibrated:FILE[,scorer=NAME][,method=temperature|platt|isotonic][,check=false][,inner=SPEC]``
wraps the scorer recorded in the file (``scorer=`` picks one when the file holds several;
``inner=SPEC``, always the last part, replaces the recorded spec, e.g. a model that moved; its
signature must equal the recorded one unless ``check=false``). What it returns, with ``s`` the
inner scorer's score *oriented* as at fit time (negated for lower-is-better scorers) and ``Δ`` the
difference of two such scores:

* ``method=temperature`` (default): the pointwise score ``s / T``, so that ``σ(value_A − value_B)
  = σ(Δ / T)`` is the calibrated probability that A is preferred;
* ``method=platt``: the pointwise score ``a · s``. Platt's intercept ``b`` is an order effect of a
  presented pair (A first), which a score of one response cannot carry: ``σ(value_A − value_B)`` is
  Platt's probability without it (``overcoat calibrate`` presents pairs in a random order, so for a
  pointwise scorer ``b`` is near 0);
* ``method=isotonic``: the isotonic map ``g`` is a map of score *differences*, not of scores, so
  this is a pairwise scorer: P(A preferred) ``= g(s_A − s_B)``;
* a pairwise judge inside: a pairwise judge again, P(A preferred) ``= calibrator(logit p)`` with
  ``p`` the judge's own probability clipped to [1e-6, 1 − 1e-6] (the evidence ``overcoat
  calibrate`` fitted on; :func:`probability_logit`).

``combo:FILE`` (``[,check=false]``) is the Bradley–Terry combination of ``overcoat fit``: it runs
every component scorer and returns ``sum_i w_i s_i / scale_i`` (``s_i`` oriented as above,
``scale_i`` the standard deviation of that scorer's scores at fit time), so that the difference of
two responses' values is the fitted preference logit.

Both scorers' signatures hold the file's SHA-256 and the signatures of the scorers inside, so a
changed file or inner scorer never reuses cached scores. A file that cannot be used is a one-line
error naming the file and the field.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit

from ..errors import DataError, OvercoatError, SpecError
from ._spec import split_args, split_inner
from .base import DataRows, PairwiseScorer, Scorer, ScoringBatch
from .registry import get_scorer, register

__all__ = [
    "CALIBRATION_FORMAT",
    "COMBINATION_FORMAT",
    "FORMAT_VERSION",
    "CalibratedJudge",
    "CalibratedScorer",
    "CombinationScorer",
    "calibration_file",
    "combination_file",
    "probability_logit",
    "read_calibration_file",
    "read_combination_file",
]

CALIBRATION_FORMAT = "overcoat-calibration"
COMBINATION_FORMAT = "overcoat-combination"
FORMAT_VERSION = 1
METHODS = ("temperature", "platt", "isotonic")
#: a judge's probability is clipped to [eps, 1 - eps] before its logit is taken
PROBABILITY_EPS = 1e-6


def probability_logit(p: np.ndarray) -> np.ndarray:
    """``logit(clip(p, eps, 1 - eps))``: a pairwise judge's probability as calibration evidence
    (NaN stays NaN)."""
    q = np.clip(np.asarray(p, dtype=float), PROBABILITY_EPS, 1 - PROBABILITY_EPS)
    return np.log(q) - np.log1p(-q)


# -- the file formats (written by overcoat calibrate / fit --save) -------------------------------


def calibration_file(scorers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The calibration file: ``scorers`` maps a display name to ``{spec, signature, kind
    ("pointwise" | "pairwise"), higher_is_better, calibrators: {method: parameters}}`` (the
    parameters as :meth:`overcoat.metaeval.calibration.TemperatureScaling.to_dict` and its
    siblings write them) and any extra fields (``fitted_on``)."""
    return {"format": CALIBRATION_FORMAT, "version": FORMAT_VERSION, "scorers": scorers}


def combination_file(
    model: dict[str, Any],
    specs: Sequence[str],
    signatures: Sequence[str],
    higher_is_better: Sequence[bool],
) -> dict[str, Any]:
    """The combination file: the model's dict
    (:meth:`overcoat.metaeval.combination.PreferenceCombination.to_dict`: names, weights, scale,
    l2, n_pairs) with each component's spec, signature and orientation."""
    return {
        "format": COMBINATION_FORMAT,
        "version": FORMAT_VERSION,
        **model,
        "scorers": list(specs),
        "signatures": list(signatures),
        "higher_is_better": [bool(b) for b in higher_is_better],
    }


@dataclass(frozen=True)
class CalibrationEntry:
    """One scorer's calibrators, checked."""

    name: str
    spec: str
    signature: str
    kind: str
    higher_is_better: bool
    calibrators: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class CombinationModel:
    """A combination file, checked."""

    names: tuple[str, ...]
    weights: np.ndarray
    scale: np.ndarray
    specs: tuple[str, ...]
    signatures: tuple[str, ...]
    higher_is_better: tuple[bool, ...]

    def score(self, oriented: np.ndarray) -> np.ndarray:
        """Combined score of responses: ``oriented`` has the scorers on its last axis."""
        return (oriented / self.scale) @ self.weights


class _Reader:
    """Field access that turns every problem into a DataError naming the file and the field."""

    def __init__(self, path: str):
        from ..data.io import read_bytes

        self.path = path
        raw = read_bytes(path)
        self.digest = hashlib.sha256(raw).hexdigest()[:16]
        try:
            self.doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DataError(f"not a JSON file ({e})", path=path) from None
        if not isinstance(self.doc, dict):
            raise DataError("expected a JSON object", path=path)

    def fail(self, field: str, message: str) -> DataError:
        return DataError(message, path=self.path, field=field)

    def get(self, obj: dict, key: str, field: str, kind: type | tuple[type, ...]):
        if not isinstance(obj, dict) or key not in obj:
            raise self.fail(field, "missing")
        v = obj[key]
        if kind is float:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
                raise self.fail(field, f"needs a finite number, got {v!r}")
            return float(v)
        if not isinstance(v, kind) or (kind is not bool and isinstance(v, bool)):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(field, f"needs a {names}, got {type(v).__name__} {v!r}"[:200])
        return v

    def numbers(self, obj: dict, key: str, field: str, n: int | None = None) -> np.ndarray:
        v = self.get(obj, key, field, list)
        if not v or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x) for x in v
        ):
            raise self.fail(field, "needs a non-empty list of finite numbers")
        if n is not None and len(v) != n:
            raise self.fail(field, f"needs {n} numbers, got {len(v)}")
        return np.asarray(v, dtype=float)

    def header(self, fmt: str, writer: str) -> None:
        got = self.doc.get("format")
        if got != fmt:
            raise self.fail("format", f"expected {fmt!r} (written by {writer}), got {got!r}")
        version = self.doc.get("version")
        if version != FORMAT_VERSION:
            raise self.fail(
                "version", f"this overcoat reads version {FORMAT_VERSION}, got {version!r}"
            )


def _check_calibrator(r: _Reader, method: str, params: Any, field: str) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise r.fail(field, "needs a JSON object of parameters")
    if method == "temperature":
        t = r.get(params, "temperature", f"{field}.temperature", float)
        if t == 0:
            raise r.fail(f"{field}.temperature", "must not be 0")
        return {"temperature": t}
    if method == "platt":
        return {
            "slope": r.get(params, "slope", f"{field}.slope", float),
            "intercept": r.get(params, "intercept", f"{field}.intercept", float),
        }
    x = r.numbers(params, "x", f"{field}.x")
    y = r.numbers(params, "y", f"{field}.y", len(x))
    if (np.diff(x) <= 0).any():
        raise r.fail(f"{field}.x", "must be strictly increasing")
    if (np.diff(y) < 0).any() or y[0] < 0 or y[-1] > 1:
        raise r.fail(f"{field}.y", "must be non-decreasing probabilities in [0, 1]")
    return {"x": x, "y": y}


def read_calibration_file(path: str) -> tuple[dict[str, CalibrationEntry], str]:
    """(entries by scorer name, the file's SHA-256 prefix) of a calibration file, checked."""
    r = _Reader(path)
    r.header(CALIBRATION_FORMAT, "overcoat calibrate --save")
    scorers = r.get(r.doc, "scorers", "scorers", dict)
    if not scorers:
        raise r.fail("scorers", "holds no scorer")
    out = {}
    for name, e in scorers.items():
        f = f"scorers.{name}"
        if not isinstance(e, dict):
            raise r.fail(f, "needs a JSON object")
        kind = r.get(e, "kind", f"{f}.kind", str)
        if kind not in ("pointwise", "pairwise"):
            raise r.fail(f"{f}.kind", f"must be pointwise or pairwise, got {kind!r}")
        cals = r.get(e, "calibrators", f"{f}.calibrators", dict)
        unknown = sorted(set(cals) - set(METHODS))
        if unknown:
            raise r.fail(
                f"{f}.calibrators",
                f"unknown method {unknown[0]!r} (known: {', '.join(METHODS)})",
            )
        out[name] = CalibrationEntry(
            name=name,
            spec=r.get(e, "spec", f"{f}.spec", str),
            signature=r.get(e, "signature", f"{f}.signature", str),
            kind=kind,
            higher_is_better=r.get(e, "higher_is_better", f"{f}.higher_is_better", bool),
            calibrators={
                m: _check_calibrator(r, m, p, f"{f}.calibrators.{m}") for m, p in cals.items()
            },
        )
    return out, r.digest


def read_combination_file(path: str) -> tuple[CombinationModel, str]:
    """(the model, the file's SHA-256 prefix) of a combination file, checked."""
    r = _Reader(path)
    r.header(COMBINATION_FORMAT, "overcoat fit --save")
    model = r.get(r.doc, "model", "model", str)
    if model != "bradley-terry-combination":
        raise r.fail("model", f"expected 'bradley-terry-combination', got {model!r}")
    names = r.get(r.doc, "names", "names", list)
    k = len(names)
    if k == 0 or not all(isinstance(n, str) for n in names):
        raise r.fail("names", "needs a non-empty list of scorer names")

    def strings(key: str) -> tuple[str, ...]:
        v = r.get(r.doc, key, key, list)
        if len(v) != k or not all(isinstance(x, str) for x in v):
            raise r.fail(key, f"needs {k} strings, one per name")
        return tuple(v)

    hib = r.get(r.doc, "higher_is_better", "higher_is_better", list)
    if len(hib) != k or not all(isinstance(b, bool) for b in hib):
        raise r.fail("higher_is_better", f"needs {k} booleans, one per name")
    scale = r.numbers(r.doc, "scale", "scale", k)
    if (scale <= 0).any():
        raise r.fail("scale", "must be positive")
    return (
        CombinationModel(
            names=tuple(names),
            weights=r.numbers(r.doc, "weights", "weights", k),
            scale=scale,
            specs=strings("scorers"),
            signatures=strings("signatures"),
            higher_is_better=tuple(hib),
        ),
        r.digest,
    )


# -- the scorers ---------------------------------------------------------------------------------

_LOADING: set[str] = set()


def _inner(spec: str, path: str, field: str) -> Scorer | PairwiseScorer:
    """The scorer a file names; a file that (through others) names itself is an error."""
    key = os.path.realpath(path)
    if key in _LOADING:
        raise DataError(f"spec {spec!r} leads back to this file", path=path, field=field)
    _LOADING.add(key)
    try:
        return get_scorer(spec)
    except DataError:
        raise
    except OvercoatError as e:
        raise DataError(f"cannot build scorer {spec!r}: {e}", path=path, field=field) from None
    finally:
        _LOADING.discard(key)


def _check_signature(
    scorer: Scorer | PairwiseScorer, recorded: str, path: str, field: str, check: bool
) -> str:
    sig = scorer.signature()
    if check and sig != recorded:
        raise DataError(
            f"the scorer's signature is now {sig!r}, not the one it was fitted with "
            f"({recorded!r}); add check=false to the spec to use it anyway",
            path=path,
            field=field,
        )
    return sig


def _oriented(s: np.ndarray, higher_is_better: bool) -> np.ndarray:
    s = np.asarray(s, dtype=float)
    return s if higher_is_better else -s


class _CalibratedWrapper:
    """What both calibrated wrappers take from the inner scorer and the file: its name, its
    capabilities, the fitted parameters and the signature (file digest + inner signature)."""

    inner: Any
    method: str
    digest: str
    params: dict
    inner_higher: bool
    name: str
    needs_references: bool
    parallel_safe: bool
    cacheable: bool
    cache_missing: bool
    _sig: str

    def _wrap(
        self, inner, entry: CalibrationEntry, method: str, digest: str, inner_sig: str
    ) -> None:
        self.inner, self.method, self.digest = inner, method, digest
        self.params = entry.calibrators[method]
        self.inner_higher = entry.higher_is_better
        self.name = f"{inner.name}@{method}"
        self.needs_references = inner.needs_references
        self.parallel_safe = inner.parallel_safe
        self.cacheable = inner.cacheable
        self.cache_missing = inner.cache_missing
        self._sig = (
            f"calibrated|method:{method}|sha256:{digest}|scorer:{entry.name}|inner:({inner_sig})"
        )

    def signature(self) -> str:
        return self._sig


class CalibratedScorer(_CalibratedWrapper, Scorer):
    """A pointwise scorer times a fitted factor: ``s / T`` (temperature) or ``a · s`` (Platt)."""

    higher_is_better = True

    def __init__(
        self, inner: Scorer, entry: CalibrationEntry, method: str, digest: str, inner_sig: str
    ):
        self._wrap(inner, entry, method, digest, inner_sig)
        params = self.params
        self.factor = 1.0 / params["temperature"] if method == "temperature" else params["slope"]

    def bind(self, rows: DataRows) -> list[str]:
        return self.inner.bind(rows)

    def score_batch(self, batch: ScoringBatch) -> np.ndarray:
        return self.factor * _oriented(self.inner.score_batch(batch), self.inner_higher)


class CalibratedJudge(_CalibratedWrapper, PairwiseScorer):
    """P(A preferred) from a fitted calibrator of the evidence: a judge's ``logit p``, or the
    oriented score difference ``s_A − s_B`` of a pointwise scorer (isotonic)."""

    def __init__(
        self,
        inner: Scorer | PairwiseScorer,
        entry: CalibrationEntry,
        method: str,
        digest: str,
        inner_sig: str,
    ):
        self._wrap(inner, entry, method, digest, inner_sig)

    def probability(self, evidence: np.ndarray) -> np.ndarray:
        """The calibrator applied to evidence (NaN stays NaN)."""
        p = self.params
        if self.method == "temperature":
            return expit(evidence / p["temperature"])
        if self.method == "platt":
            return expit(p["slope"] * evidence + p["intercept"])
        return np.where(np.isnan(evidence), np.nan, np.interp(evidence, p["x"], p["y"]))

    def compare_batch(self, inputs, responses_a, responses_b, references) -> np.ndarray:
        if isinstance(self.inner, PairwiseScorer):
            p = self.inner.compare_batch(inputs, responses_a, responses_b, references)
            return self.probability(probability_logit(p))
        n = len(inputs)
        both = ScoringBatch(
            list(inputs) * 2, list(responses_a) + list(responses_b), list(references) * 2
        )
        s = _oriented(self.inner.score_batch(both), self.inner_higher)
        return self.probability(s[:n] - s[n:])


class CombinationScorer(Scorer):
    """``sum_i w_i s_i / scale_i`` over the component scorers of a combination file."""

    higher_is_better = True

    def __init__(self, model: CombinationModel, components: list[Scorer], digest: str, sigs):
        self.model, self.components, self.digest = model, components, digest
        self.name = "combo(" + "+".join(model.names) + ")"
        self.needs_references = any(c.needs_references for c in components)
        self.parallel_safe = all(c.parallel_safe for c in components)
        self.cacheable = all(c.cacheable for c in components)
        self._sig = f"combo|sha256:{digest}|inner:" + "+".join(f"({s})" for s in sigs)

    def signature(self) -> str:
        return self._sig

    def bind(self, rows: DataRows) -> list[str]:
        return [note for c in self.components for note in c.bind(rows)]

    def score_batch(self, batch: ScoringBatch) -> np.ndarray:
        X = np.stack(
            [
                _oriented(c.score_batch(batch), hib)
                for c, hib in zip(self.components, self.model.higher_is_better)
            ],
            axis=-1,
        )
        return self.model.score(X)


def _path(positional: list[str], options: dict, spec: str) -> str:
    given = positional + ([options["path"]] if "path" in options else [])
    if len(given) != 1:
        raise SpecError(f"scorer spec {spec!r}: name one file (FILE or path=FILE)")
    return given[0]


@register(
    "calibrated",
    "a scorer with a calibrator of overcoat calibrate --save: "
    "calibrated:FILE[,scorer=NAME][,method=temperature|platt|isotonic][,inner=SPEC]",
)
def _calibrated(arg: str) -> Scorer | PairwiseScorer:
    spec = f"calibrated:{arg}"
    head, inner_spec = split_inner(arg)
    pos, opts = split_args(
        head,
        spec,
        {"path": str, "scorer": str, "method": str, "check": bool},
        max_positional=1,
        noun="file",
    )
    path = _path(pos, opts, spec)
    method = opts.get("method", "temperature")
    if method not in METHODS:
        raise SpecError(
            f"scorer spec {spec!r}: method must be one of {', '.join(METHODS)}, got {method!r}"
        )
    entries, digest = read_calibration_file(path)
    if "scorer" in opts:
        if opts["scorer"] not in entries:
            raise DataError(
                f"no scorer {opts['scorer']!r} (has: {', '.join(entries)})",
                path=path,
                field="scorers",
            )
        entry = entries[opts["scorer"]]
    elif len(entries) == 1:
        entry = next(iter(entries.values()))
    else:
        raise DataError(
            f"holds calibrators of several scorers ({', '.join(entries)}); pick one with "
            f"{spec},scorer=NAME",
            path=path,
            field="scorers",
        )
    f = f"scorers.{entry.name}"
    if method not in entry.calibrators:
        raise DataError(
            f"has no {method} calibrator (has: {', '.join(entry.calibrators) or 'none'})",
            path=path,
            field=f"{f}.calibrators",
        )
    inner = _inner(inner_spec or entry.spec, path, f"{f}.spec")
    kind = "pairwise" if isinstance(inner, PairwiseScorer) else "pointwise"
    if kind != entry.kind:
        raise DataError(
            f"was fitted on a {entry.kind} scorer, and {inner_spec or entry.spec!r} is {kind}",
            path=path,
            field=f"{f}.kind",
        )
    sig = _check_signature(inner, entry.signature, path, f"{f}.signature", opts.get("check", True))
    if isinstance(inner, Scorer) and method != "isotonic":
        return CalibratedScorer(inner, entry, method, digest, sig)
    if isinstance(inner, Scorer) and type(inner).bind is not Scorer.bind:
        raise SpecError(
            f"scorer spec {spec!r}: isotonic calibration compares two responses' scores, and "
            f"{inner.name!r} scores by data-set ids; use method=temperature or platt"
        )
    return CalibratedJudge(inner, entry, method, digest, sig)


@register("combo", "a learned combination of overcoat fit --save: combo:FILE[,check=false]")
def _combo(arg: str) -> Scorer:
    spec = f"combo:{arg}"
    pos, opts = split_args(arg, spec, {"path": str, "check": bool}, max_positional=1, noun="file")
    path = _path(pos, opts, spec)
    model, digest = read_combination_file(path)
    components: list[Scorer] = []
    sigs = []
    for i, (s, recorded) in enumerate(zip(model.specs, model.signatures)):
        c = _inner(s, path, f"scorers[{i}]")
        if not isinstance(c, Scorer):
            raise DataError(
                f"{s!r} is a pairwise judge; a combination needs pointwise scorers",
                path=path,
                field=f"scorers[{i}]",
            )
        sigs.append(
            _check_signature(c, recorded, path, f"signatures[{i}]", opts.get("check", True))
        )
        components.append(c)
    return CombinationScorer(model, components, digest, sigs)
