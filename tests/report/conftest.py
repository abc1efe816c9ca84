"""Meta-eval documents for the HTML report's tests, made by the real pipeline on small slices of
the bundled data (so the tests follow the schema as it is written, not a copy of it)."""

import copy

import pytest


@pytest.fixture(scope="session")
def metaeval_docs():
    """[TED en-de slice (pointwise, 5 scorers, system level, clusters), HH slice (pairs)]."""
    from overcoat import api
    from overcoat.report.writers import jsonable

    out = []
    for name, n, specs in (
        ("ted-ende", 30, ["bleu", "chrf", "ter", "length", "random"]),
        ("hh-harmless", 200, ["length", "random"]),
    ):
        ds = api.load(name).sample_items(n, seed=0)
        scored = api.score(ds, specs, cache=None, progress=False)
        res = api.meta_evaluate(scored, api.MetaEvalSettings(n_resamples=60, seed=0))
        out.append(jsonable(res.to_json()))
    return out


@pytest.fixture
def docs(metaeval_docs):
    """A fresh deep copy per test (tests may edit them)."""
    return copy.deepcopy(metaeval_docs)
