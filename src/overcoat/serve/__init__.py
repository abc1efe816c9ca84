"""Any pointwise scorer as an HTTP reward server (``overcoat serve``).

:func:`serve` runs it (uvicorn, 127.0.0.1 by default); :class:`~overcoat.serve.app.RewardService`
and :func:`~overcoat.serve.app.create_app` build it for tests or an embedding application. Needs
the ``serve`` extra (``pip install 'overcoat[serve]'``: starlette, uvicorn).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from ..errors import OvercoatError
from ..scorers.base import Scorer
from .app import RewardService, ServeSettings, create_app

__all__ = ["RewardService", "ServeSettings", "create_app", "running", "serve", "token_from_env"]


def token_from_env(var: str) -> str:
    """The bearer token in environment variable ``var`` (an error when unset or empty)."""
    import os

    value = os.environ.get(var, "").strip()
    if not value:
        raise OvercoatError(f"--token-env {var}: the environment variable is unset or empty")
    return value


def _need_serve_extra() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise OvercoatError(
            f"overcoat serve needs the 'serve' extra ({e.name} is not installed): "
            "pip install 'overcoat[serve]'"
        ) from None


def serve(
    scorer: str | Scorer,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    settings: ServeSettings | None = None,
    on_ready: Callable[[RewardService, str], None] | None = None,
) -> None:
    """Serve ``scorer`` until interrupted. ``on_ready(service, url)`` is called once the scorer
    is loaded, before the socket opens (the CLI prints the address from it)."""
    _need_serve_extra()
    import uvicorn

    if not 0 <= port <= 65535:
        raise OvercoatError(f"--port must be 0..65535, got {port}")
    service = RewardService(scorer, settings)
    app = create_app(service)
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    if on_ready is not None:
        on_ready(service, url)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    try:
        server.run()
    except (OSError, SystemExit) as e:  # uvicorn exits when it cannot bind (and logs why)
        why = e.strerror if isinstance(e, OSError) else "address in use or not allowed"
        raise OvercoatError(f"cannot listen on {host}:{port}: {why}") from None
    if not server.started:
        raise OvercoatError(f"the server did not start on {host}:{port} (see the log above)")


@contextlib.contextmanager
def running(
    scorer: str | Scorer | RewardService,
    settings: ServeSettings | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[str]:
    """Serve in a background thread of this process; yields the base URL (``port=0``: a free
    port) and stops the server on exit. For tests, notebooks and embedding."""
    _need_serve_extra()
    import socket
    import threading

    import uvicorn

    service = scorer if isinstance(scorer, RewardService) else RewardService(scorer, settings)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise OvercoatError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    bound = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(service), log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="overcoat-serve", daemon=True
    )
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise OvercoatError("the reward server did not start (see the log above)")
            thread.join(0.01)
        yield f"http://{host if ':' not in host else f'[{host}]'}:{bound}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()
