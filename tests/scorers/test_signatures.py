"""Signatures key the score cache and are written into results: a refactor must leave them
byte for byte as they are. These are the signatures of the scorers that need no model, as written
before the scorers were reshaped (library versions filled in from this environment)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from overcoat.scorers.registry import BUILTIN_MODULES, available_scorers, get_scorer

EX = Path(__file__).resolve().parents[2] / "examples"


def _v(dist: str) -> str:
    return importlib.metadata.version(dist)


PINNED = {
    "length": "length|unit:words",
    "length:unit=chars": "length|unit:chars",
    "random:seed=3": "random|seed:3|hash:sha256",
    "exact": "exact|normalize:strip|multiref:any",
    "exact:normalize=true": "exact|normalize:squad|multiref:any",
    r"regex:\d+,x": r"regex|pattern:\d+,x|search",
    f"scores:{EX / 'scores_long.jsonl'}": "scores|file:scores_long.jsonl|scorer:len10|sha256:771975c27b9a7e0c",
    f"scores:{EX / 'scores_long.jsonl'}#higher_is_better=false": "scores|file:scores_long.jsonl|scorer:len10|sha256:771975c27b9a7e0c|lower_is_better",
}

LEXICAL = {
    "bleu": "bleu|nrefs:var|case:mixed|eff:yes|tok:13a|smooth:exp|version:{sacrebleu}",
    "bleu:tokenize=zh,lowercase=true": "bleu|nrefs:var|case:lc|eff:yes|tok:zh|smooth:exp|version:{sacrebleu}",
    "chrf": "chrf|nrefs:var|case:mixed|eff:yes|nc:6|nw:0|space:no|version:{sacrebleu}",
    "chrf:char_order=4,word_order=1,beta=1": "chrf|nrefs:var|case:mixed|eff:yes|nc:4|nw:1|space:no|version:{sacrebleu}",
    "chrf++": "chrf++|nrefs:var|case:mixed|eff:yes|nc:6|nw:2|space:no|version:{sacrebleu}",
    "ter": "ter|nrefs:var|case:lc|tok:tercom|norm:no|punct:yes|asian:no|version:{sacrebleu}",
    "rouge-l:use_stemmer=true": "rouge-l|f1|stem:yes|multiref:max|version:{rouge}",
}

_J = "judge|url:http://127.0.0.1:9/v1|model:m|template:"
JUDGE = {
    "judge:http://127.0.0.1:9/v1#m": _J
    + "chat@9a668faffdc6|mode:pointwise|logprobs:no|temperature:0|max_tokens:512"
    "|parse:rating[1,10]",
    # credentials and the query never reach the signature
    "judge:http://user:pw@127.0.0.1:9/v1?x=1#m,logprobs=true,top_logprobs=5": _J
    + "chat@9a668faffdc6|mode:pointwise|logprobs:top5|temperature:0|max_tokens:512"
    "|parse:rating[1,10]",
    "judge:http://127.0.0.1:9/v1#m,template=gemba-mqm,source_lang=de,target_lang=en": _J
    + "gemba-mqm@bccb4a01704d|mode:pointwise|logprobs:no|temperature:0|max_tokens:512"
    "|parse:mqm|vars:source_lang=de,target_lang=en",
    "judge:http://127.0.0.1:9/v1#m,template=arena": _J
    + "arena@3fbd7abb4bfa|mode:pairwise|logprobs:no|temperature:0|max_tokens:512"
    "|parse:verdict|orders:both",
    "judge:http://127.0.0.1:9/v1#m,min=0,max=5.5,temperature=0.5,max_tokens=10": _J
    + "chat@9a668faffdc6|mode:pointwise|logprobs:no|temperature:0.5|max_tokens:10"
    "|parse:rating[0,5.5]",
    "judge-pair:http://127.0.0.1:9/v1/chat/completions#m,temperature=0.5": _J
    + "arena@3fbd7abb4bfa|mode:pairwise|logprobs:no|temperature:0.5|max_tokens:512"
    "|parse:verdict|orders:both",
}


@pytest.mark.parametrize("spec", sorted(PINNED))
def test_pinned_signatures(spec):
    assert get_scorer(spec).signature() == PINNED[spec]


@pytest.mark.parametrize("spec", sorted(LEXICAL))
def test_pinned_lexical_signatures(spec):
    pytest.importorskip("sacrebleu")
    pytest.importorskip("rouge_score")
    want = LEXICAL[spec].format(sacrebleu=_v("sacrebleu"), rouge=_v("rouge-score"))
    assert get_scorer(spec).signature() == want


@pytest.mark.parametrize("spec", sorted(JUDGE))
def test_pinned_judge_signatures(spec, monkeypatch):
    pytest.importorskip("jinja2")
    from overcoat.scorers.judge.http_backend import HTTPBackend

    def no_listing(self):  # a server without GET /models: no identity, free text
        self.identity = {}
        self._resolve_constraint()
        return {}

    monkeypatch.setattr(HTTPBackend, "probe", no_listing)
    assert get_scorer(spec).signature() == JUDGE[spec]


def test_math_signature_names_its_libraries():
    pytest.importorskip("math_verify")
    assert get_scorer("math").signature() == (
        f"math|math-verify:{_v('math-verify')}|latex2sympy2_extended:"
        f"{_v('latex2sympy2_extended')}|sympy:{_v('sympy')}|gold:as-is-then-$|multiref:any"
        f"|unparsable:0"
    )


def test_builtin_module_table_matches_what_the_modules_register():
    """registry.BUILTIN_MODULES says which module registers which prefix; it must be true."""
    import importlib
    import sys

    names = set(available_scorers())
    listed = {p for prefixes, _ in BUILTIN_MODULES.values() for p in prefixes}
    assert names <= listed  # nothing registers a prefix the table does not list
    for module, (prefixes, optional) in BUILTIN_MODULES.items():
        full = f"overcoat.scorers.{module}"
        if full not in sys.modules:
            assert optional  # only optional families may be missing
            continue
        mod = importlib.import_module(full)
        for p in prefixes:
            assert p in names
            # the factory of each prefix is defined in the module the table names
            from overcoat.scorers.registry import _REGISTRY

            assert _REGISTRY[p][0].__module__.startswith(mod.__name__)
