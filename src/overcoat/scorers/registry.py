"""Spec prefix -> scorer factory: :func:`register`, :func:`get_scorer`, :func:`available_scorers`.

Imports go one way: scorer modules import :func:`register` from here; this module imports none
of them by name in its code. The built-in modules are listed in :data:`BUILTIN_MODULES` and
imported (so that they register) on the first look-up; optional dependencies are imported only
when a scorer is created, so that listing every scorer stays light.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from ..errors import OvercoatError, SpecError
from .base import PairwiseScorer, Scorer

ScorerFactory = Callable[[str], "Scorer | PairwiseScorer"]
_REGISTRY: dict[str, tuple[ScorerFactory, str]] = {}

#: built-in scorer modules (in ``overcoat.scorers``) and the prefixes each registers; ``True``
#: marks modules whose import may fail in a light install (their prefixes are then unknown)
BUILTIN_MODULES: dict[str, tuple[tuple[str, ...], bool]] = {
    "baselines": (("length", "random"), False),
    "lexical": (("bleu", "chrf", "chrf++", "ter", "rouge-l"), False),
    "precomputed": (("scores",), False),
    "pycallable": (("python",), False),
    "causal_lm": (("loglik", "dpo"), True),
    "reward_model": (("hf",), True),
    "judge": (("judge", "judge-pair"), False),
    "embedding": (("embed", "bertscore"), False),
    "nli": (("nli",), False),
    "verifiable": (("math", "exact", "regex"), False),
    "comet": (("comet",), True),
    "fitted": (("calibrated", "combo"), False),
}


def register(prefix: str, help: str = "") -> Callable[[ScorerFactory], ScorerFactory]:
    """Register a factory for spec strings ``prefix`` or ``prefix:ARG``.

    The factory receives the part after the first colon ('' when absent).
    """

    def deco(factory: ScorerFactory) -> ScorerFactory:
        _REGISTRY[prefix] = (factory, help)
        return factory

    return deco


def available_scorers() -> dict[str, str]:
    """Every registered prefix and its help text."""
    _load_builtins()
    return {k: h for k, (_, h) in sorted(_REGISTRY.items())}


def get_scorer(spec: str | Scorer | PairwiseScorer) -> Scorer | PairwiseScorer:
    """Resolve a spec string (or pass a Scorer through)."""
    if isinstance(spec, (Scorer, PairwiseScorer)):
        return spec
    _load_builtins()
    spec = spec.strip()
    prefix, _, arg = spec.partition(":")
    key = prefix.lower()
    if key not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise SpecError(f"unknown scorer spec {spec!r} (known: {known})")
    factory, _ = _REGISTRY[key]
    scorer = factory(arg)
    try:  # what built it: a remote worker (a Ray actor) builds its own copy from it
        scorer._overcoat_spec = spec  # type: ignore[union-attr]
    except AttributeError:  # pragma: no cover - a scorer class with __slots__
        pass
    return scorer


def spec_of(scorer: Scorer | PairwiseScorer) -> str | None:
    """The spec string :func:`get_scorer` built ``scorer`` from (``None`` for a scorer made in
    Python)."""
    spec = getattr(scorer, "_overcoat_spec", None)
    return spec if isinstance(spec, str) else None


def get_pointwise_scorer(spec: str | Scorer | PairwiseScorer, needs: str) -> Scorer:
    """:func:`get_scorer` where every response needs its own score (a reward server, an RL
    reward): a pairwise judge is refused with ``scorer NAME is pairwise; NEEDS``."""
    scorer = get_scorer(spec)
    if isinstance(scorer, PairwiseScorer) or not isinstance(scorer, Scorer):
        raise OvercoatError(f"scorer {getattr(scorer, 'name', spec)!r} is pairwise; {needs}")
    return scorer


_BUILTINS_LOADED = False


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    for module, (_prefixes, optional) in BUILTIN_MODULES.items():
        try:
            importlib.import_module(f"{__package__}.{module}")
        except ImportError:  # pragma: no cover - a light install without that family
            if not optional:
                raise
