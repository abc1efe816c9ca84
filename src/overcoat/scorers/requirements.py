"""Which scorers can run in this environment, and what to install for the others.

Checked with ``importlib.util.find_spec`` (nothing is imported, so listing is fast).
"""

from __future__ import annotations

from ._common import installed

_TORCH_HINT = (
    "pip install torch first (CPU: pip install torch "
    "--index-url https://download.pytorch.org/whl/cpu)"
)
_MODELS_HINT = "pip install 'overcoat[models]'"

#: spec prefix -> (modules it imports, how to install them)
REQUIREMENTS: dict[str, tuple[tuple[str, ...], str]] = {
    "bleu": (("sacrebleu",), "pip install sacrebleu"),
    "chrf": (("sacrebleu",), "pip install sacrebleu"),
    "chrf++": (("sacrebleu",), "pip install sacrebleu"),
    "ter": (("sacrebleu",), "pip install sacrebleu"),
    "rouge-l": (("rouge_score",), "pip install rouge-score"),
    "math": (("math_verify",), "pip install 'overcoat[verify]'"),
    "judge": (
        ("httpx", "jinja2"),
        "pip install 'overcoat[judge]' (judge:local: also torch and overcoat[models])",
    ),
    "judge-pair": (("httpx", "jinja2"), "pip install 'overcoat[judge]'"),
    "hf": (("torch", "transformers", "safetensors"), f"{_TORCH_HINT}; then {_MODELS_HINT}"),
    "loglik": (("torch", "transformers", "safetensors"), f"{_TORCH_HINT}; then {_MODELS_HINT}"),
    "dpo": (("torch", "transformers", "safetensors"), f"{_TORCH_HINT}; then {_MODELS_HINT}"),
    "nli": (("torch", "transformers"), f"{_TORCH_HINT}; then {_MODELS_HINT}"),
    "embed": (("torch", "sentence_transformers"), f"{_TORCH_HINT}; then {_MODELS_HINT}"),
    "bertscore": (("torch", "bert_score"), f"{_TORCH_HINT}; then {_MODELS_HINT}"),
    "comet": (
        ("comet",),
        "in its own virtual environment: pip install 'overcoat[comet]' "
        "(unbabel-comet pins numpy<2)",
    ),
}


def scorer_status(prefix: str) -> tuple[bool, str]:
    """``(usable here, what is missing and how to install it)`` for a scorer spec prefix."""
    mods, hint = REQUIREMENTS.get(prefix, ((), ""))
    missing = [m for m in mods if not installed(m)]
    if not missing:
        return True, ""
    return False, f"missing {', '.join(missing)}: {hint}"
