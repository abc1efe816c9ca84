"""Private helpers shared by scorer modules: optional dependencies (is it installed, which
version, how to install it), model-loading safety (no remote code), device and dtype.

Everything here imports torch/transformers lazily so that the core install stays light.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
from pathlib import Path

from ..errors import SpecError

INSTALL_HINT = "pip install 'overcoat[models]' (install torch first: pip install torch)"

#: ``(module, pip name)`` pairs for :func:`check_installed`
TORCH = ("torch", "torch")
TRANSFORMERS = ("transformers", "transformers")


def package_version(dist: str) -> str:
    """The installed version of a distribution (written into signatures); ``unknown`` if absent."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_installed(scorer: str, *packages: tuple[str, str]) -> None:
    """One-line SpecError, before anything is loaded, when an optional package is missing.
    ``packages``: ``(module, pip name)`` pairs."""
    for module, pip_name in packages:
        if not installed(module):
            hint = INSTALL_HINT if module == "torch" else f"pip install {pip_name}"
            raise SpecError(f"the '{scorer}' scorer needs the '{pip_name}' package: {hint}")


def first_line(text: str) -> str:
    """The first line of a (library's) message, for one-line errors."""
    return (text.strip().splitlines() or [""])[0]


def require(module: str, extra: str = "models"):
    """Import an optional dependency or raise a one-line SpecError saying how to install it."""
    try:
        mod = importlib.import_module(module)
    except ImportError:
        hint = INSTALL_HINT if extra == "models" else f"pip install 'overcoat[{extra}]'"
        raise SpecError(f"this scorer needs the '{module}' package: {hint}") from None
    no_remote_code_prompt()
    return mod


def no_remote_code_prompt() -> None:
    """Never let transformers *ask* whether to run a model's own code (its prompt runs the code
    on "y", and in a non-terminal it waits 15 s): with the timeout at 0 it refuses at once unless
    the caller passed ``trust_remote_code=True``."""
    dmu = sys.modules.get("transformers.dynamic_module_utils")
    if dmu is None and "transformers" in sys.modules:
        try:
            import transformers.dynamic_module_utils as dmu
        except ImportError:  # pragma: no cover
            return
    if dmu is not None and hasattr(dmu, "TIME_OUT_REMOTE_CODE"):
        dmu.TIME_OUT_REMOTE_CODE = 0  # type: ignore[attr-defined]  # (hasattr above)


def remote_code_error(spec: str, *, option: bool = True) -> SpecError:
    how = (
        "it is not run unless you add the option trust_remote_code=true and trust the code"
        if option
        else "this scorer never runs a model's own code"
    )
    return SpecError(
        f"model {spec!r} needs its own Python code from the model folder/repo "
        f"(auto_map, trust_remote_code); {how}"
    )


def refuse_remote_code(
    folder: str | os.PathLike | None, spec: str, *, trust: bool = False, option: bool = True
) -> None:
    """Every model loader calls this before transformers sees a local folder: a ``config.json``
    (or ``tokenizer_config.json``) with ``auto_map`` names Python files of the folder that
    transformers would import. Refused unless ``trust`` (the spec option
    ``trust_remote_code=true``)."""
    if trust or folder is None:
        return
    import json

    p = Path(folder)
    if p.is_file():
        p = p.parent
    for name in ("config.json", "tokenizer_config.json", "processor_config.json"):
        f = p / name
        try:
            data = json.loads(f.read_text(encoding="utf-8")) if f.is_file() else {}
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("auto_map"):
            raise remote_code_error(spec, option=option)


def resolve_device(device: str | None = None) -> str:
    """``auto`` (default): cuda, then mps, then cpu."""
    torch = require("torch")
    if device and device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(dtype: str | None, device: str):
    """``auto``: bf16 on CUDA when supported (else fp16), fp16 on mps, fp32 on cpu."""
    torch = require("torch")
    if dtype in (None, "auto"):
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device == "mps":
            return torch.float16
        return torch.float32
    table = {
        "fp32": torch.float32,
        "float32": torch.float32,
        "fp16": torch.float16,
        "float16": torch.float16,
        "bf16": torch.bfloat16,
        "bfloat16": torch.bfloat16,
    }
    if dtype not in table:
        raise SpecError(f"unknown dtype {dtype!r} (use auto, fp32, fp16 or bf16)")
    return table[dtype]


def dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


def is_local(path_or_id: str) -> bool:
    return Path(path_or_id).expanduser().exists()


def weights_error(name: str, err: BaseException) -> SpecError:
    """The one-line error for weights that are neither local nor reachable."""
    from ..hub import is_offline, unreachable_note

    note = unreachable_note()
    why = (
        f"{note} (offline: only models in the local cache load)"
        if note
        else "offline mode is on"
        if is_offline()
        else "the hub could not be reached or has no such model"
    )
    return SpecError(
        f"cannot load model {name!r}: it is not a local folder and {why} "
        f"({type(err).__name__}); pass a local path to the weights instead"
    )
