"""Kill what is left of a local Ray instance when the process that started it dies (Linux).

Ray ties ``gcs_server`` and ``raylet`` to the process that ran ``ray.init()`` (the kernel kills
them when it dies) and the workers exit with the raylet, but the raylet's agents
(``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``) stay up to a minute after a ``kill -9`` of
that process (their last message to the dead GCS waits 60 s). This script, started by
:meth:`overcoat.scorers.ray_executor.RayExecutor.start` just before ``ray.init()``, in a session
of its own and importing nothing of overcoat::

    python _ray_reaper.py DRIVER_PID DRIVER_SESSION_ID

follows the processes the driver starts from then on (until told which are Ray's) and all their
descendants (``/proc``, every :data:`POLL_SECONDS`, then :data:`POLL_SECONDS_AFTER`), and reads
lines from a pipe whose write end only the driver holds:

* ``r PID:STARTTIME ...``: the processes ``ray.init()`` started; only these (and their
  descendants) are followed from now on;
* ``q``: Ray is shut down normally; exit without killing anything;
* end of file without ``q``: the driver died; ``SIGKILL`` every followed process still alive
  (same start time: never a recycled pid), and Ray's processes of the driver's session started
  since this one whose parent died (started by the raylet just before it died, between two
  looks), then exit.
"""

from __future__ import annotations

import os
import select
import signal
import sys

#: how often the processes are looked up (seconds) while ``ray.init()`` runs, and after
POLL_SECONDS = 0.5
POLL_SECONDS_AFTER = 2.0


def _stat(pid: int) -> tuple[int, int] | None:
    """``(parent pid, start time)`` of a live process, from ``/proc/PID/stat``."""
    f = _fields(pid)
    return None if f is None else (int(f[1]), int(f[19]))


def _fields(pid: int) -> list[bytes] | None:
    """Fields 3, 4, ... of ``/proc/PID/stat`` (state, parent, group, session, ...) of a live
    process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(b")") + 2 :].split()  # (the name may hold spaces)
    return None if rest[0] in (b"Z", b"X") else rest


def _orphans(session: int, born: int, me: int) -> dict[int, int]:
    """Ray's processes of ``session`` started since ``born`` whose parent is older than that (an
    orphan adopted by init or a subreaper): those of the dead driver's instance that were not
    seen yet (started by the raylet just before it died)."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me or (f := _fields(int(d))) is None:
            continue
        if int(f[3]) != session or int(f[19]) < born:
            continue
        parent = _stat(int(f[1]))
        if parent is not None and parent[1] >= born:
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as fh:
                cmd = fh.read()
        except OSError:
            continue
        if cmd.startswith(b"ray::") or b"/ray/" in cmd:
            out[int(d)] = int(f[19])
    return out


def _processes() -> dict[int, tuple[int, int]]:
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit() and (st := _stat(int(d))) is not None:
            out[int(d)] = st
    return out


def follow(
    tracked: dict[int, int], procs: dict[int, tuple[int, int]] | None = None
) -> dict[int, int]:
    """The live processes of ``tracked`` (pid -> start time) and all their descendants."""
    procs = _processes() if procs is None else procs
    alive = {p: t for p, t in tracked.items() if p in procs and procs[p][1] == t}
    children: dict[int, list[int]] = {}
    for p, (pp, _) in procs.items():
        children.setdefault(pp, []).append(p)
    stack = list(alive)
    while stack:
        for c in children.get(stack.pop(), []):
            if c not in alive:
                alive[c] = procs[c][1]
                stack.append(c)
    return alive


def main(argv: list[str]) -> int:
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)  # only the pipe ends this process
    driver, session, me = int(argv[0]), int(argv[1]), os.getpid()
    me_stat = _stat(me)
    born = me_stat[1] if me_stat is not None else 0  # (forked before the driver's ray.init)
    tracked: dict[int, int] = {}
    adopting = True  # until the driver names Ray's processes: whatever it starts from now on
    buf = b""
    while True:
        procs = _processes()
        if adopting:
            for p, (pp, t) in procs.items():
                if pp == driver and t >= born and p != me:
                    tracked.setdefault(p, t)
        tracked = follow(tracked, procs)
        if not adopting and not tracked:  # Ray ended without a word: nothing left to watch
            return 0
        ready, _, _ = select.select([0], [], [], POLL_SECONDS if adopting else POLL_SECONDS_AFTER)
        if not ready:
            continue
        data = os.read(0, 4096)
        if not data:
            break
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip() == b"q":
                return 0
            if line.startswith(b"r"):
                tracked = {int(p): int(t) for p, t in (w.split(b":") for w in line.split()[1:])}
                adopting = False
    for p, t in {**follow(tracked), **_orphans(session, born, me)}.items():  # the driver died
        st = _stat(p)
        if st is not None and st[1] == t:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
