"""Meta-evaluation of a scored data set: the layer between the statistics and the CLI.

:mod:`overcoat.metaeval` holds pure statistics on arrays; this package runs a whole
meta-evaluation on a :class:`~overcoat.data.scored.ScoredDataset` as a short composition of steps
(mt-metrics-eval's ``tasks.py`` shape: settings -> run -> results):

* :mod:`.settings` — :class:`MetaEvalSettings` and its checks (errors name parameters)
* :mod:`.plan` — what the data supports: levels, primary statistic (errors before any work)
* :mod:`.segment`, :mod:`.system` — the per-level statistics of one scorer
* :mod:`.ranking` — the ranking rule (which statistic ranks the leaderboard)
* :mod:`.significance` — permutation tests, corrected p-values, clusters
* :mod:`.held_out` — tie calibration on held-out items (dev data, k folds)
* :mod:`.benchmarks` — each benchmark as one object: data fields + published rule + output keys
* :mod:`.schema` — the JSON document, typed once (written here, read by :mod:`overcoat.report`)
* :mod:`.task` — :func:`meta_evaluate` and :class:`MetaEvalResult`

Imports go down only: data < scorers < metaeval < evaluation < report < api < cli.
"""

from .benchmarks import BENCHMARKS, Benchmark, benchmark_of
from .ranking import RANKING_FALLBACK, at_no_signal, rank_statistic
from .schema import SCHEMA_VERSION, MetaEvalDoc
from .settings import CHOICES, MetaEvalSettings
from .task import MetaEvalResult, meta_evaluate

__all__ = [
    "BENCHMARKS",
    "CHOICES",
    "RANKING_FALLBACK",
    "SCHEMA_VERSION",
    "Benchmark",
    "MetaEvalDoc",
    "MetaEvalResult",
    "MetaEvalSettings",
    "at_no_signal",
    "benchmark_of",
    "meta_evaluate",
    "rank_statistic",
]
