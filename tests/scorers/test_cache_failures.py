"""The score cache when the disk is full, when it cannot be written, when it is not a cache.

A full disk is SQLite's own ``SQLITE_FULL``, reached with ``PRAGMA max_page_count`` on the
cache's connection (the same error SQLite gives when a write meets ENOSPC; works as root and not,
on any file system); where this machine lets the test mount a tiny tmpfs in a private mount
namespace, a real ENOSPC as well. A read-only cache is the SQLite file opened with ``mode=ro``
(what SQLite does by itself with a file it may not write; chmod does not stop root), and, when not
root, a real ``chmod``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from overcoat.cli import main  # noqa: E402
from overcoat.errors import OvercoatError  # noqa: E402
from overcoat.scorers.cache import ScoreCache  # noqa: E402
from overcoat.scorers.engine import score_dataset  # noqa: E402
from overcoat.scorers.executors import ProcessPool  # noqa: E402

import _slow_scorer as H  # noqa: E402

SIG = H.ContentScorer().signature()
LENGTH_SIG_PREFIX = "length"


# -- hooks ------------------------------------------------------------------------------------
def limit_pages(monkeypatch, pages: int) -> None:
    """Every cache connection may grow its file to ``pages`` pages: then SQLITE_FULL."""
    real = ScoreCache._init_db

    def init_db(self, conn):
        real(self, conn)
        conn.execute(f"PRAGMA max_page_count = {pages}")

    monkeypatch.setattr(ScoreCache, "_init_db", init_db)


def read_only(monkeypatch, path: Path) -> None:
    """SQLite opens ``path`` read-only, as it does a file it may not write."""
    real = sqlite3.connect

    def connect(database, *a, **kw):
        if str(database) == str(path):
            return real(f"file:{database}?mode=ro", *a, uri=True, **kw)
        return real(database, *a, **kw)

    monkeypatch.setattr(sqlite3, "connect", connect)


def integrity(path: Path) -> str:
    con = sqlite3.connect(path)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def write_points(path: Path, n: int) -> Path:
    with open(path, "w") as f:
        for i in range(n):
            f.write(
                json.dumps(
                    {"item_id": f"i{i}", "input": f"source {i}", "response": "r" * (1 + i % 97)}
                )
                + "\n"
            )
    return path


def cli(args, capsys) -> tuple[int, list[str]]:
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, [ln for ln in err.splitlines() if ln.strip()]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name))


# -- disk full --------------------------------------------------------------------------------
@pytest.mark.parametrize("workers", [1, 2])
def test_disk_full_keeps_every_committed_batch(tmp_path, monkeypatch, workers):
    path, bs = tmp_path / "c.sqlite", 25
    ScoreCache(path).check_writable()  # the schema: 4 pages
    limit_pages(monkeypatch, 8)
    done: list[int] = []
    scorer = H.ContentScorer()
    ex = ProcessPool(2, adaptive=False) if workers == 2 else None
    with pytest.raises(OvercoatError) as e:
        score_dataset(
            H.make_dataset(3000),
            scorer,
            cache=str(path),
            batch_size=bs,
            executor=ex,
            on_batch=lambda d, t: done.append(d),
        )
    msg = str(e.value)
    assert msg.startswith(f"score cache {path}: disk full (database or disk is full); free space")
    assert "\n" not in msg
    monkeypatch.undo()

    assert integrity(path) == "ok"
    n = ScoreCache(path).count(SIG)
    assert len(done) > 2 and n == done[-1]  # every batch reported committed, nothing partial
    assert n % bs == 0 and n < 3000
    # the rerun (disk freed) scores exactly what is missing
    scorer2 = H.ContentScorer()
    res = score_dataset(H.make_dataset(3000), scorer2, cache=str(path), batch_size=bs)
    assert (res.n_cached, res.n_scored, scorer2.n_rows) == (n, 3000 - n, 3000 - n)
    fresh = score_dataset(H.make_dataset(3000), H.ContentScorer(), cache=None)
    assert res.scores.tobytes() == fresh.scores.tobytes()


def test_disk_full_through_the_cli(tmp_path, monkeypatch, capsys):
    data = write_points(tmp_path / "d.jsonl", 4000)
    cache, out = tmp_path / "c.sqlite", tmp_path / "o" / "s.jsonl"
    limit_pages(monkeypatch, 8)
    code, lines = cli(
        ["score", "-d", data, "-s", "length", "-o", out, "--cache", cache, "--batch-size", 20],
        capsys,
    )
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(
        f"overcoat: error: score cache {cache}: disk full (database or disk is full)"
    )
    assert not out.parent.exists() or list(out.parent.iterdir()) == []  # no output, no temp
    monkeypatch.undo()
    assert integrity(cache) == "ok"
    with ScoreCache(cache) as c:
        per_sig = c.stats()["signatures"]
    (n,) = per_sig.values()
    assert 0 < n < 4000 and n % 20 == 0  # the batches committed before the disk filled


def _can_mount_tmpfs() -> list[str] | None:
    """The command prefix that runs a shell in a private mount namespace where it may mount."""
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return None
    for pre in (["unshare", "-m"], ["unshare", "-Urm"]):
        try:
            p = subprocess.run(
                [*pre, "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt 2>/dev/null"],
                capture_output=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if p.returncode == 0:
            return pre
    return None


def test_real_enospc_on_a_tiny_tmpfs(tmp_path):
    pre = _can_mount_tmpfs()
    if pre is None:
        pytest.skip("cannot mount a tmpfs in a private mount namespace here")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    data = write_points(tmp_path / "d.jsonl", 6000)
    keep = tmp_path / "kept"
    keep.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    # in the namespace: a 96 KiB file system for the cache and the output; the cache files are
    # copied out afterwards (the mount goes away with the namespace)
    script = (
        f"mount -t tmpfs -o size=96k tmpfs {mnt} && "
        f"{sys.executable} -m overcoat.cli score -d {data} -s length -q --batch-size 50 "
        f"--cache {mnt}/c.sqlite -o {mnt}/out.jsonl; echo rc=$? >&2; "
        f"ls -A {mnt} >&2; cp {mnt}/c.sqlite* {keep}/"
    )
    p = subprocess.run(
        [*pre, "sh", "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    err = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert err[0].startswith(f"overcoat: error: score cache {mnt}/c.sqlite: disk full"), p.stderr
    assert err[1] == "rc=2", p.stderr
    assert sorted(err[2:]) == ["c.sqlite", "c.sqlite-shm", "c.sqlite-wal"], p.stderr  # no output
    assert integrity(keep / "c.sqlite") == "ok"  # (the copied WAL is replayed)
    with ScoreCache(keep / "c.sqlite") as c:
        (n,) = c.stats()["signatures"].values()
    assert 0 < n < 6000 and n % 50 == 0


# -- output files on a full disk ----------------------------------------------------------------
class _FillsUp:
    """A file that takes ``room`` bytes, then fails as a full disk does."""

    def __init__(self, f, room: int):
        self._f, self.room = f, room

    def write(self, b):
        if len(b) > self.room:
            self._f.write(b[: self.room])
            self._f.flush()
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(b)
        return self._f.write(b)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


@pytest.mark.parametrize("suffix", ["jsonl", "parquet", "csv"])
def test_enospc_half_way_through_an_output_leaves_the_old_file(
    tmp_path, monkeypatch, capsys, suffix
):
    data = write_points(tmp_path / "d.jsonl", 300)
    out = tmp_path / f"s.{suffix}"
    out.write_bytes(b"the previous scores")

    def half_then_enospc(table, where, *a, **kw):  # pyarrow's writers, given the temp path
        Path(where).write_bytes(b"PAR1 half written")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    import overcoat.data.io as io

    real_open = open

    def fill_open(path, mode="r", *a, **kw):  # atomic_write's file: 100 bytes, then full
        f = real_open(path, mode, *a, **kw)
        return _FillsUp(f, 100) if "w" in mode else f

    monkeypatch.setattr(pq, "write_table", half_then_enospc)
    monkeypatch.setattr(pcsv, "write_csv", half_then_enospc)
    monkeypatch.setattr(io, "open", fill_open, raising=False)
    code, lines = cli(["score", "-d", data, "-s", "length", "-o", out, "--no-cache", "-q"], capsys)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("overcoat: error: ") and str(out) in lines[0], lines
    assert "No space left on device" in lines[0], lines
    assert out.read_bytes() == b"the previous scores"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.jsonl", out.name]  # no temp file


# -- read-only -------------------------------------------------------------------------------
def _filled_cache(path: Path) -> None:
    score_dataset(H.make_dataset(50), H.ContentScorer(), cache=str(path), batch_size=10)
    ScoreCache(path).close()


def test_read_only_cache_is_an_error_before_any_scoring(tmp_path, monkeypatch):
    path = tmp_path / "c.sqlite"
    _filled_cache(path)
    read_only(monkeypatch, path)
    before = digest(path)
    scorer = H.ContentScorer()
    with pytest.raises(OvercoatError) as e:
        score_dataset(H.make_dataset(200), scorer, cache=str(path), batch_size=10)
    assert str(e.value) == (
        f"score cache {path}: read-only (attempt to write a readonly database); make it "
        "writable, point --cache / OVERCOAT_CACHE elsewhere, or use --no-cache"
    )
    assert scorer.n_rows == 0  # nothing was scored
    assert digest(path) == before


def test_read_only_cache_through_the_cli(tmp_path, monkeypatch, capsys):
    data = write_points(tmp_path / "d.jsonl", 50)
    path, out = tmp_path / "c.sqlite", tmp_path / "s.jsonl"
    _filled_cache(path)
    read_only(monkeypatch, path)
    code, lines = cli(["score", "-d", data, "-s", "length", "-o", out, "--cache", path], capsys)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"overcoat: error: score cache {path}: read-only ("), lines
    assert not out.exists()


def test_read_only_default_cache_is_a_warning_and_no_cache(tmp_path, monkeypatch, capsys):
    data = write_points(tmp_path / "d.jsonl", 50)
    path, out = tmp_path / "c.sqlite", tmp_path / "s.jsonl"
    _filled_cache(path)
    monkeypatch.setenv("OVERCOAT_CACHE", str(path))
    read_only(monkeypatch, path)
    before = digest(path)
    code, lines = cli(["score", "-d", data, "-s", "length", "-o", out, "-q"], capsys)
    assert code == 0, lines
    assert len(lines) == 1 and lines[0].startswith(
        f"overcoat: warning: score cache disabled: score cache {path}: read-only"
    ), lines
    assert len(out.read_text().splitlines()) == 50
    assert digest(path) == before


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores chmod")
@pytest.mark.parametrize("what", ["file", "directory"])
def test_chmod_read_only_cache(tmp_path, what):
    d = tmp_path / "d"
    d.mkdir()
    path = d / "c.sqlite"
    _filled_cache(path)
    target = path if what == "file" else d
    mode = target.stat().st_mode
    target.chmod(0o555 if what == "directory" else 0o444)
    try:
        scorer = H.ContentScorer()
        with pytest.raises(OvercoatError, match=f"score cache {path}"):
            score_dataset(H.make_dataset(200), scorer, cache=str(path), batch_size=10)
        assert scorer.n_rows == 0
    finally:
        target.chmod(mode)


# -- not a cache ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["text", "other sqlite"])
def test_a_file_that_is_not_a_cache_is_refused_untouched(tmp_path, capsys, kind):
    data = write_points(tmp_path / "d.jsonl", 20)
    path, out = tmp_path / "mine.db", tmp_path / "s.jsonl"
    if kind == "text":
        path.write_bytes(b"not a database at all\n" * 300)
        want = "is not a valid SQLite database (file is not a database)"
    else:
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE people (name TEXT)")
        con.execute("INSERT INTO people VALUES ('ada')")
        con.commit()
        con.close()
        want = "is a SQLite database of something else (tables people)"
    before = digest(path)
    code, lines = cli(["score", "-d", data, "-s", "length", "-o", out, "--cache", path], capsys)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"overcoat: error: score cache {path} {want}"), lines
    assert digest(path) == before
    assert siblings(path) == ["mine.db"]  # no -wal / -shm / journal either
    assert not out.exists()


def test_an_empty_sqlite_file_becomes_a_cache(tmp_path):
    path = tmp_path / "c.sqlite"
    sqlite3.connect(path).close()  # a database with no tables
    res = score_dataset(H.make_dataset(20), H.ContentScorer(), cache=str(path))
    assert res.n_scored == 20 and ScoreCache(path).count(SIG) == 20
    assert np.isfinite(res.scores).all()
