"""The one grammar of scorer specs (overcoat.scorers._spec), and the import graph of scorers/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from overcoat.errors import SpecError
from overcoat.scorers._spec import (
    check_positive,
    model_and_options,
    parse_options,
    split_args,
    split_inner,
    split_location,
)

ALLOWED = {"max_batch": int, "beta": float, "flag": bool, "name": str}


def test_parts_options_and_positionals():
    assert split_args(
        " a , max-batch = 8,,beta=0.5, b ,flag=yes", "s", ALLOWED, max_positional=2
    ) == (["a", "b"], {"max_batch": 8, "beta": 0.5, "flag": True})
    assert split_args("", "s", ALLOWED, max_positional=1) == ([], {})
    # a part with '=' whose left side is not a word is positional (a path)
    assert split_args("/runs/lr=0.1/ckpt,flag=0", "s", ALLOWED, max_positional=1) == (
        ["/runs/lr=0.1/ckpt"],
        {"flag": False},
    )
    assert model_and_options("flag=no", "s", ALLOWED) == ("", {"flag": False})
    assert parse_options("name=x=y", "s", ALLOWED) == {"name": "x=y"}


@pytest.mark.parametrize(
    "arg, kw, message",
    [
        (
            "colour=red",
            {},
            "scorer spec 's': unknown option 'colour' (known: beta, flag, max_batch, name)",
        ),
        ("oops", {}, "scorer spec 's': option 'oops' is not KEY=VALUE"),
        ("max_batch=eight", {}, "scorer spec 's': option 'max_batch' needs a int, got 'eight'"),
        ("flag=maybe", {}, "scorer spec 's': option 'flag' needs a bool, got 'maybe'"),
        (
            "a,b",
            {"max_positional": 1},
            "scorer spec 's': expected at most 1 model name(s), got 2 (a, b)",
        ),
        (
            "a,b,c",
            {"max_positional": 2, "noun": "scorer name"},
            "scorer spec 's': expected at most 2 scorer name(s), got 3 (a, b, c)",
        ),
    ],
)
def test_errors_name_the_spec(arg, kw, message):
    with pytest.raises(SpecError) as e:
        split_args(arg, "s", ALLOWED, **kw)
    assert str(e.value) == message


def test_locations_and_check_positive():
    assert split_location("http://h/v1?a=1,b#m,x=1") == ("http://h/v1?a=1,b", "m,x=1")
    assert split_location("/a/b.jsonl") == ("/a/b.jsonl", None)
    assert split_location("/p,temperature=0", ",") == ("/p", "temperature=0")
    check_positive("s", a=1, b=None)
    with pytest.raises(SpecError, match="scorer spec 's': b must be >= 1, got 0"):
        check_positive("s", a=1, b=0)


def test_inner_spec_takes_the_rest_with_its_commas():
    assert split_inner("cal.json,method=platt,inner=bleu:tokenize=zh,lowercase=1") == (
        "cal.json,method=platt",
        "bleu:tokenize=zh,lowercase=1",
    )
    assert split_inner("inner = chrf") == ("", "chrf")
    assert split_inner("cal.json,scorer=x") == ("cal.json,scorer=x", None)
    # only a part that starts with the key counts: not a value holding 'inner='
    assert split_inner("scorer=a,inner_x=1") == ("scorer=a,inner_x=1", None)
    assert split_inner("scorer=inner=b") == ("scorer=inner=b", None)


_words = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
_values = st.from_regex(r"[A-Za-z0-9./:+-]{0,8}", fullmatch=True)


@given(
    st.dictionaries(_words, _values, max_size=5),
    st.lists(st.from_regex(r"[A-Za-z0-9./_-]{1,10}", fullmatch=True), max_size=3),
    st.randoms(use_true_random=False),
)
def test_any_order_of_parts_reads_the_same(opts, names, rnd):
    """Options as text in any order, around positional parts with spaces: the same result (a
    loop over the parts is the reference)."""
    names = [n for n in names if "=" not in n]
    parts = [f" {k} ={v} " for k, v in opts.items()] + [f" {n}" for n in names]
    rnd.shuffle(parts)
    pos, got = split_args(",".join(parts), "s", dict.fromkeys(opts, str), max_positional=len(names))
    want_pos = [p.strip() for p in parts if "=" not in p]
    assert pos == want_pos and got == {k: v.strip() for k, v in opts.items()}


# -- imports ----------------------------------------------------------------------------------
SCORERS = Path(__file__).resolve().parents[2] / "src" / "overcoat" / "scorers"


def _module_imports(path: Path) -> set[str]:
    """Modules of overcoat.scorers that ``path`` imports (at module level or in a function)."""
    rel = path.relative_to(SCORERS.parent.parent).with_suffix("")
    parts = list(rel.parts)
    pkg = parts[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = pkg[: len(pkg) - (node.level - 1)] if node.level else []
            mod = ".".join(base + (node.module.split(".") if node.module else []))
            if not node.module:  # from . import a, b
                out |= {f"{mod}.{a.name}" for a in node.names}
            else:
                out.add(mod)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return {m for m in out if m.startswith("overcoat.scorers")}


def test_scorer_modules_import_without_cycles():
    """Not even through imports inside functions (the registry once imported every scorer module
    from base.py, which they all import): the registry loads built-in modules by name."""
    graph = {}
    for path in SCORERS.rglob("*.py"):
        rel = path.relative_to(SCORERS.parent.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if path.name == "__init__.py" else rel.parts)
        graph[name] = {m for m in _module_imports(path) if m != name}
    assert graph["overcoat.scorers.registry"] == {"overcoat.scorers.base"}
    assert graph["overcoat.scorers.base"] == set()
    state: dict[str, int] = {}

    def visit(n, trail):
        if state.get(n) == 1:
            raise AssertionError("import cycle: " + " -> ".join(trail + [n]))
        if state.get(n) == 2 or n not in graph:
            return
        state[n] = 1
        for m in sorted(graph[n]):
            visit(m, trail + [n])
        state[n] = 2

    for n in sorted(graph):
        visit(n, [])
