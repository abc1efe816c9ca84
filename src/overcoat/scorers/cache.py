"""A persistent, content-addressed score cache (SQLite, WAL mode), safe for several processes.

Keys
    ``(signature, content hash)``. The signature is the scorer's :meth:`~overcoat.scorers.base.
    Scorer.signature` (exact settings + versions), so changing any setting re-scores. The content
    hash is a SHA-256 over an unambiguous encoding of what the scorer sees: (input, messages,
    response, references) for pointwise scorers, (input, messages, response A, response B,
    references) in that order for pairwise ones (see :func:`item_digest`, :func:`response_key`,
    :func:`pair_key`). Strings are length-prefixed, so ``("ab", "c")`` and ``("a", "bc")`` never
    collide; ``None`` messages differ from ``[]``. Item and response *ids* are
    deliberately not part of the key: the same text scored in another data set is a cache hit.

Values
    One REAL per key. ``NaN`` (a missing score, e.g. an unparsable judge answer) is *not* cached by
    default: a flaky judge may answer next time, so the engine re-asks on the next run. A scorer
    whose NaN is a deterministic result sets ``cache_missing = True``; the engine then stores it
    (as SQL ``NULL``) and :meth:`ScoreCache.get_many` returns it as NaN.

Durability
    Every :meth:`ScoreCache.put_many` is one transaction, committed before it returns. With
    ``journal_mode=WAL`` and ``synchronous=NORMAL`` a committed batch survives the process being
    killed (``kill -9``); only an OS crash or power loss can drop the last few commits, and the
    file is never corrupted. Concurrent readers never block the writer; concurrent writers wait
    for each other (``busy_timeout``). WAL needs a local file system (not NFS).

Failures
    The engine opens its cache with :func:`open_cache`, which tries a write transaction (that
    changes nothing) before anything is scored: a cache file, directory or file system that
    cannot be written is a one-line :class:`~overcoat.errors.OvercoatError` then (the default
    cache, which the user did not name, is a warning and no cache instead). A full disk while
    scoring (``SQLITE_FULL``) rolls the batch's transaction back and is a one-line error; every
    batch committed before stays in the file. A file that is not SQLite, or a SQLite database
    of something else, is refused without a byte of it changed.

Location
    ``$OVERCOAT_CACHE`` if set (``off``/``none``/``0``/``false`` disable caching), else
    ``$XDG_CACHE_HOME/overcoat/scores.sqlite``, else ``~/.cache/overcoat/scores.sqlite``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..errors import OvercoatError

SCHEMA_VERSION = 1
DISABLED_VALUES = ("off", "none", "0", "false", "no", "disable", "disabled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS signatures (
    id        INTEGER PRIMARY KEY,
    signature TEXT NOT NULL UNIQUE,
    created   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS scores (
    sig   INTEGER NOT NULL,
    key   BLOB    NOT NULL,
    score REAL,
    PRIMARY KEY (sig, key)
) WITHOUT ROWID;
"""


# -- content hashing --------------------------------------------------------------------------
def _enc_str(s: str | None) -> bytes:
    if s is None:
        return b"N"
    b = s.encode("utf-8", "surrogatepass")
    return b"s%s%s" % (len(b).to_bytes(8, "little"), b)


def messages_json(messages) -> str | None:
    """Chat messages as the JSON string the data model stores (strings pass through)."""
    if messages is None or isinstance(messages, str):
        return messages
    return json.dumps(messages, ensure_ascii=False)


def item_digest(input: str, messages, references: Sequence[str]) -> bytes:
    """32-byte digest of an item's content: input, messages, references (in order).

    ``messages`` is hashed as the data model's JSON string (:func:`messages_json`): the same
    conversation written with a different key order is a cache miss, never a wrong hit.
    """
    parts = [
        b"overcoat-item-v1\x00",
        _enc_str(input),
        _enc_str(messages_json(messages)),
        b"l" + len(references).to_bytes(8, "little"),
    ]
    parts.extend(_enc_str(r) for r in references)
    return hashlib.sha256(b"".join(parts)).digest()


def response_key(item_dig: bytes, response: str) -> bytes:
    """Cache key of (item content, response): 32 bytes."""
    return hashlib.sha256(b"overcoat-resp-v1\x00" + item_dig + _enc_str(response)).digest()


def response_keys(
    item_digests: Sequence[bytes], row_item: Iterable[int], responses: Iterable[str]
) -> list[bytes]:
    """``response_key(item_digests[i], r)`` for many rows at once (the engine's hot path)."""
    sha, pre, enc = hashlib.sha256, b"overcoat-resp-v1\x00", _enc_str
    return [sha(pre + item_digests[i] + enc(r)).digest() for i, r in zip(row_item, responses)]


def pair_key(item_dig: bytes, response_a: str, response_b: str) -> bytes:
    """Cache key of an *ordered* pair (A, B) of responses to one item: 32 bytes."""
    return hashlib.sha256(
        b"overcoat-pair-v1\x00" + item_dig + _enc_str(response_a) + _enc_str(response_b)
    ).digest()


def content_key(input: str, response: str, references: Sequence[str] = (), messages=None) -> bytes:
    """Convenience: the key of one (input, messages, response, references) row."""
    return response_key(item_digest(input, messages, list(references)), response)


# -- location ---------------------------------------------------------------------------------
def default_cache_path() -> Path | None:
    """Where ``cache="default"`` lives; ``None`` when ``$OVERCOAT_CACHE`` disables caching."""
    env = os.environ.get("OVERCOAT_CACHE")
    if env is not None and env.strip():
        if env.strip().lower() in DISABLED_VALUES:
            return None
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "overcoat" / "scores.sqlite"


def _reason(e: sqlite3.Error) -> tuple[str, str]:
    """(what went wrong, in words the user knows, with SQLite's message; what to do about it)."""
    name = str(getattr(e, "sqlite_errorname", "") or "")  # Python >= 3.11
    msg = str(e)
    low = msg.lower()
    elsewhere = "point --cache / OVERCOAT_CACHE elsewhere, or use --no-cache"
    if name.startswith("SQLITE_FULL") or "disk is full" in low:
        return f"disk full ({msg})", f"free space, {elsewhere}"
    if name.startswith("SQLITE_READONLY") or "readonly" in low:
        return f"read-only ({msg})", f"make it writable, {elsewhere}"
    if name.startswith("SQLITE_IOERR") or "i/o error" in low:
        return f"I/O error ({msg})", f"check the disk, {elsewhere}"
    return msg, elsewhere


def _db_errors(method):
    """SQLite failures while using an open cache (a full disk: "database or disk is full", a file
    made read-only ...) become one-line :class:`OvercoatError` naming the cache file; the
    transaction in progress is rolled back (what was committed before stays)."""
    import functools

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as e:
            conn = self._conn
            if conn is not None and self._pid == os.getpid():
                try:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            what, todo = _reason(e)
            raise OvercoatError(f"score cache {self.path}: {what}; {todo}") from None

    return wrapper


class ScoreCache:
    """Scores keyed by (scorer signature, content hash) in one SQLite file.

    Opens lazily and reconnects after a ``fork``; one object may be used from one thread at a
    time. ``path=":memory:"`` gives a private in-memory cache (tests).
    """

    def __init__(self, path: str | os.PathLike, *, timeout: float = 60.0):
        self.path = str(path) if str(path) == ":memory:" else str(Path(path).expanduser())
        self.timeout = float(timeout)
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None
        self._sig_ids: dict[str, int] = {}

    # -- connection ----------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        self._conn, self._sig_ids = None, {}
        if self.path != ":memory:":
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise OvercoatError(
                    f"cannot create score cache directory for {self.path} ({e.strerror})"
                ) from None
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                conn = sqlite3.connect(
                    self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
                )
                try:
                    self._init_db(conn)
                except BaseException:
                    conn.close()
                    raise
                break
            except sqlite3.DatabaseError as e:
                msg = str(e).lower()
                if "locked" in msg or "busy" in msg:
                    if time.monotonic() < deadline:
                        time.sleep(0.05)
                        continue
                if "not a database" in msg or "malformed" in msg or "file is not" in msg:
                    raise OvercoatError(
                        f"score cache {self.path} is not a valid SQLite database "
                        f"({e}); point --cache / OVERCOAT_CACHE elsewhere"
                    ) from None
                what, todo = _reason(e)
                raise OvercoatError(
                    f"cannot open score cache {self.path}: {what}; {todo}"
                ) from None
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _init_db(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        # read before anything is written (WAL mode changes the file's header): a file that is
        # not a database, or the database of something else, is refused untouched
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise OvercoatError(
                f"score cache {self.path} was written by a newer overcoat "
                f"(schema {version} > {SCHEMA_VERSION})"
            )
        if version < SCHEMA_VERSION:
            other = sorted(
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
                )
                if r[0] not in ("signatures", "scores")
            )
            if other:
                raise OvercoatError(
                    f"score cache {self.path} is a SQLite database of something else (tables "
                    f"{', '.join(other[:3])}{' ...' if len(other) > 3 else ''}); point --cache / "
                    f"OVERCOAT_CACHE at a new file"
                )
        if self.path != ":memory:":
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":  # pragma: no cover - exotic file systems
                raise sqlite3.OperationalError(f"could not enable WAL mode (got {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        if version < SCHEMA_VERSION:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn, self._sig_ids = None, {}

    def __enter__(self) -> ScoreCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self):  # picklable: reconnects on the other side
        return {"path": self.path, "timeout": self.timeout}

    def __setstate__(self, state):
        ScoreCache.__init__(self, state["path"], timeout=state["timeout"])

    def __repr__(self) -> str:
        return f"ScoreCache({self.path!r})"

    @_db_errors
    def check_writable(self) -> None:
        """Raise a one-line :class:`OvercoatError` now if scores could not be stored (a read-only
        file, directory or file system; permissions do not stop root, so this writes): one write
        transaction that is rolled back, so nothing changes."""
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    # -- signatures ----------------------------------------------------------------------------
    def _sig_id(self, signature: str, *, create: bool) -> int | None:
        sid = self._sig_ids.get(signature)
        if sid is not None:
            return sid
        conn = self._connect()
        row = conn.execute("SELECT id FROM signatures WHERE signature = ?", (signature,)).fetchone()
        if row is None:
            if not create:
                return None
            conn.execute(
                "INSERT OR IGNORE INTO signatures (signature, created) VALUES (?, ?)",
                (signature, time.time()),
            )
            row = conn.execute(
                "SELECT id FROM signatures WHERE signature = ?", (signature,)
            ).fetchone()
        self._sig_ids[signature] = int(row[0])
        return int(row[0])

    # -- bulk access ---------------------------------------------------------------------------
    @_db_errors
    def get_many(
        self, signature: str, keys: Sequence[bytes], *, chunk_size: int = 4096
    ) -> dict[bytes, float]:
        """Cached scores for ``keys`` under ``signature``: ``{key: score}`` for the hits only.

        A score stored as missing comes back as NaN. Chunked ``IN`` queries over the primary key:
        100k keys take well under a second.
        """
        sid = self._sig_id(signature, create=False)
        if sid is None or len(keys) == 0:
            return {}
        conn = self._connect()
        out: dict[bytes, float] = {}
        nan = float("nan")
        keys = list(keys)
        # When the signature holds few rows compared with the request, one range scan over the
        # signature's rows beats per-key index probes (~0.7 us vs ~3 us per row). The count is
        # bounded, so a huge cache costs no more than the probes would.
        limit = 4 * len(keys)
        n_sig = conn.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM scores WHERE sig = ? LIMIT ?)", (sid, limit)
        ).fetchone()[0]
        if n_sig < limit:
            wanted = set(keys)
            for k, v in conn.execute("SELECT key, score FROM scores WHERE sig = ?", (sid,)):
                if k in wanted:
                    out[k] = nan if v is None else v
            return out
        for start in range(0, len(keys), chunk_size):
            chunk = keys[start : start + chunk_size]
            q = (
                "SELECT key, score FROM scores WHERE sig = ? AND key IN ("
                + ",".join("?" * len(chunk))
                + ")"
            )
            for k, v in conn.execute(q, (sid, *chunk)):
                out[bytes(k)] = nan if v is None else v
        return out

    def lookup(self, signature: str, keys: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """(scores, found) arrays aligned with ``keys``; scores are NaN where not found."""
        hits = self.get_many(signature, keys)
        found = np.fromiter((k in hits for k in keys), dtype=bool, count=len(keys))
        scores = np.fromiter((hits.get(k, np.nan) for k in keys), dtype=np.float64, count=len(keys))
        return scores, found

    @_db_errors
    def put_many(self, signature: str, keys: Sequence[bytes], scores: Iterable[float]) -> int:
        """Store scores (NaN stored as missing) in one transaction, committed before returning."""
        rows = []
        for k, s in zip(keys, scores):
            s = float(s)
            rows.append((bytes(k), None if s != s else s))
        if len(rows) != len(keys):
            raise ValueError(f"put_many: {len(keys)} keys but {len(rows)} scores")
        if not rows:
            return 0
        conn = self._connect()
        sid = self._sig_id(signature, create=True)
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                f"INSERT OR REPLACE INTO scores (sig, key, score) VALUES ({sid}, ?, ?)", rows
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return len(rows)

    # -- housekeeping --------------------------------------------------------------------------
    @_db_errors
    def count(self, signature: str | None = None) -> int:
        conn = self._connect()
        if signature is None:
            return int(conn.execute("SELECT COUNT(*) FROM scores").fetchone()[0])
        sid = self._sig_id(signature, create=False)
        if sid is None:
            return 0
        return int(conn.execute("SELECT COUNT(*) FROM scores WHERE sig = ?", (sid,)).fetchone()[0])

    @_db_errors
    def stats(self) -> dict:
        """``{path, entries, bytes, signatures: {signature: entries}}``."""
        conn = self._connect()
        per = {
            sig: int(n)
            for sig, n in conn.execute(
                "SELECT s.signature, COUNT(c.key) FROM signatures s "
                "LEFT JOIN scores c ON c.sig = s.id GROUP BY s.id ORDER BY s.signature"
            )
        }
        size = 0
        if self.path != ":memory:":
            for suffix in ("", "-wal", "-shm"):
                try:
                    size += os.path.getsize(self.path + suffix)
                except OSError:
                    pass
        return {"path": self.path, "entries": sum(per.values()), "bytes": size, "signatures": per}

    @_db_errors
    def clear(self, signature: str | None = None) -> int:
        """Delete every score (or those of one signature); returns how many were deleted."""
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if signature is None:
                n = conn.execute("DELETE FROM scores").rowcount
                conn.execute("DELETE FROM signatures")
            else:
                row = conn.execute(
                    "SELECT id FROM signatures WHERE signature = ?", (signature,)
                ).fetchone()
                n = 0
                if row is not None:
                    n = conn.execute("DELETE FROM scores WHERE sig = ?", (row[0],)).rowcount
                    conn.execute("DELETE FROM signatures WHERE id = ?", (row[0],))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._sig_ids = {}
        return int(n)


def open_cache(cache) -> tuple[ScoreCache | None, bool]:
    """Resolve an engine ``cache=`` argument to (ScoreCache or None, whether we own it).

    ``"default"`` -> :func:`default_cache_path` (if it cannot be opened or written, a warning and
    no cache); ``None``/``False`` -> no cache; a path -> that file (if it cannot be opened or
    written, an :class:`OvercoatError`); a :class:`ScoreCache` -> itself, as it is.
    """
    if cache is None or cache is False:
        return None, False
    if isinstance(cache, ScoreCache):
        return cache, False
    if isinstance(cache, str) and cache == "default":
        path = default_cache_path()
        if path is None:
            return None, False
        c = ScoreCache(path)
        try:
            c.check_writable()
        except OvercoatError as e:
            c.close()
            import warnings

            warnings.warn(f"score cache disabled: {e}", stacklevel=3)
            return None, False
        return c, True
    if isinstance(cache, (str, os.PathLike)):
        c = ScoreCache(cache)
        try:
            c.check_writable()  # a read-only cache is an error before anything is scored
        except BaseException:
            c.close()
            raise
        return c, True
    raise TypeError(f"cache must be 'default', a path, a ScoreCache or None, not {cache!r}")
