"""Hugging Face hub look-ups that fail in seconds when there is no network.

huggingface_hub retries an unreachable host with backoff (about 25 s per file before it gives
up). Before the first look-up of a hub id, :func:`offline_unless_reachable` opens one TCP
connection to the hub (3 s timeout, once per process); when that fails it switches this process
to offline mode (``HF_HUB_OFFLINE=1``), so models and data already in the local cache still load
and anything else fails at once with a one-line error.
"""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlsplit

PROBE_TIMEOUT_S = 3.0
_checked: dict[str, bool] = {}


def is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_host() -> tuple[str, int]:
    p = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    return p.hostname or "huggingface.co", p.port or (80 if p.scheme == "http" else 443)


def reachable(timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the hub (or ``HF_ENDPOINT``) opens within ``timeout``; a proxy
    in the environment counts as reachable (the probe cannot see past it)."""
    host, port = hub_host()
    key = f"{host}:{port}"
    if key not in _checked:
        if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
            _checked[key] = True
        else:
            try:
                socket.create_connection((host, port), timeout=timeout).close()
                _checked[key] = True
            except OSError:
                _checked[key] = False
    return _checked[key]


def offline_unless_reachable() -> bool:
    """Call before looking a hub id up. Returns True when this process is (now) offline."""
    if is_offline():
        return True
    if reachable():
        return False
    os.environ["HF_HUB_OFFLINE"] = "1"
    # libraries that read the variable at import time
    const = sys.modules.get("huggingface_hub.constants")
    if const is not None and hasattr(const, "HF_HUB_OFFLINE"):
        const.HF_HUB_OFFLINE = True  # type: ignore[attr-defined]  # (hasattr above)
    for modname in ("datasets.config",):
        mod = sys.modules.get(modname)
        if mod is not None and hasattr(mod, "HF_HUB_OFFLINE"):
            mod.HF_HUB_OFFLINE = True  # type: ignore[attr-defined]  # (hasattr above)
    return True


def unreachable_note() -> str:
    host, _ = hub_host()
    return (
        f"the hub ({host}) could not be reached within {PROBE_TIMEOUT_S:g} s"
        if _checked and not all(_checked.values())
        else ""
    )
