"""No module imports from a layer above its own (README "Development": data < scorers < metaeval
< evaluation < report < api, serve, integrations < cli), including imports inside functions."""

import ast
from pathlib import Path

import overcoat

ROOT = Path(overcoat.__file__).parent
#: package or module -> layer; errors/hub/__init__ are below everything
LAYERS = {
    "errors": 0,
    "hub": 0,
    "__init__": 0,
    "data": 1,
    "scorers": 2,
    "metaeval": 3,
    "probes": 4,
    "evaluation": 4,
    "report": 5,
    "api": 6,
    "serve": 6,
    "integrations": 6,
    "cli": 7,
}


def _top(module: Path) -> str:
    rel = module.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_tops(module: Path, text: str | None = None):
    """(line, top-level overcoat module) for every import of an overcoat module in ``module``
    (its source ``text``, default: read from the file)."""
    tree = ast.parse(module.read_text() if text is None else text, str(module))
    pkg_parts = module.relative_to(ROOT).parts[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module and node.module.split(".")[0] == "overcoat":
                    parts = node.module.split(".")[1:]
                else:
                    continue
            else:
                base = list(pkg_parts[: len(pkg_parts) - (node.level - 1)])
                parts = base + (node.module.split(".") if node.module else [])
            if parts:
                yield node.lineno, parts[0]
            else:  # "from . import api" at the top level
                for a in node.names:
                    yield node.lineno, a.name
        elif isinstance(node, ast.Import):
            for a in node.names:
                p = a.name.split(".")
                if p[0] == "overcoat" and len(p) > 1:
                    yield node.lineno, p[1]


def test_no_import_goes_up_a_layer():
    bad = []
    for module in sorted(ROOT.rglob("*.py")):
        own = LAYERS[_top(module)]
        for line, top in _imported_tops(module):
            if top in LAYERS and LAYERS[top] > own and top != "__init__":
                bad.append(f"{module.relative_to(ROOT)}:{line} imports overcoat.{top}")
    assert bad == []


def test_the_checker_sees_upward_imports():
    probe = ROOT / "data" / "loaders" / "probe.py"  # never written: only its place matters
    text = (
        "from ...evaluation import meta_evaluate\n"
        "def f():\n    from ..model import Dataset\n    import overcoat.cli\n"
        "from .. import scored\n"
    )
    assert sorted(t for _, t in _imported_tops(probe, text)) == [
        "cli",
        "data",
        "data",
        "evaluation",
    ]
