"""The results store: every run's per-scorer statistics in one local SQLite database, so that
``overcoat leaderboard`` can show the best-known result of each scorer on each data set across runs.

Where it lives (:func:`store_path`): ``--store PATH``, else ``$OVERCOAT_RESULTS_DB``, else
``$XDG_DATA_HOME/overcoat/results.sqlite`` (``XDG_DATA_HOME`` set and absolute), else
``~/.local/share/overcoat/results.sqlite`` (the XDG default; also on macOS and Windows, where
``~`` is the user's home folder).

What goes in, per run (one JSON document of ``meta-eval``, ``compare``, ``run``,
``translation-pairs`` or ``fit``): a run id, the UTC time, the command line, the overcoat version,
the data set's name and content hash (:func:`overcoat.data.fingerprint.dataset_hash`), the
settings and the seed; per (scorer, statistic): the value, its 95% CI, the significance cluster
within the run, the rank within the run, n (pairs, systems or groups) and the scorer signature.

Safety: WAL journal, a busy timeout, and every write (all runs of one command) one
``BEGIN IMMEDIATE`` transaction, so concurrent writers queue instead of failing and a reader sees a
run's rows all or none. The schema is versioned (``PRAGMA user_version``, ``application_id``
marks the file as ours); a file that is not SQLite, someone else's database, or a newer schema is
a one-line :class:`StoreError`, and the file is left untouched.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import OvercoatError

ENV_VAR = "OVERCOAT_RESULTS_DB"
SCHEMA_VERSION = 1
#: ``PRAGMA application_id`` of an overcoat results store ("ovrs")
APPLICATION_ID = 0x6F767273
BUSY_TIMEOUT_MS = 60_000
_SQLITE_MAGIC = b"SQLite format 3\x00"

#: schema version -> the statements that bring the previous version to it
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            created_utc TEXT NOT NULL,
            command TEXT NOT NULL,
            command_line TEXT NOT NULL,
            overcoat_version TEXT NOT NULL,
            data_name TEXT NOT NULL,
            data_hash TEXT NOT NULL,
            data_json TEXT NOT NULL,
            settings_json TEXT NOT NULL,
            seed INTEGER,
            run_signature TEXT NOT NULL,
            n_results INTEGER NOT NULL
        )""",
        """CREATE TABLE results (
            run_id TEXT NOT NULL REFERENCES runs(run_id),
            scorer TEXT NOT NULL,
            signature TEXT NOT NULL,
            level TEXT NOT NULL,
            statistic TEXT NOT NULL,
            variant TEXT NOT NULL,
            headline INTEGER NOT NULL,
            value REAL,
            ci_low REAL,
            ci_high REAL,
            cluster INTEGER,
            rank INTEGER,
            n INTEGER,
            PRIMARY KEY (run_id, scorer, statistic, variant)
        )""",
        "CREATE INDEX results_by_key ON results (signature, statistic, variant)",
        "CREATE INDEX runs_by_data ON runs (data_hash, created_utc)",
    ),
}


class StoreError(OvercoatError):
    """The results store cannot be used (one line, naming the file)."""


# -- where ---------------------------------------------------------------------------------------
def default_store_path(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/overcoat/results.sqlite`` when ``XDG_DATA_HOME`` is set to an absolute
    path (the XDG rule: a relative one is ignored), else ``~/.local/share/overcoat/results.sqlite``."""
    env = os.environ if env is None else env
    xdg = env.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "overcoat" / "results.sqlite"


def store_path(
    option: str | os.PathLike | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """The store to use: ``option`` (``--store``), else ``$OVERCOAT_RESULTS_DB``, else
    :func:`default_store_path`."""
    env = os.environ if env is None else env
    if option:
        return Path(option).expanduser()
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR]).expanduser()
    return default_store_path(env)


# -- what ----------------------------------------------------------------------------------------
@dataclass
class ResultRow:
    """One scorer's value of one statistic in one run."""

    scorer: str
    signature: str
    level: str  # segment | system | benchmark | pairs | fit
    statistic: str
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    cluster: int | None = None  # significance cluster within the run (1 = best)
    rank: int | None = None  # 1 + the number of scorers of the run with a higher value
    n: int | None = None  # pairs, systems or groups behind the value
    variant: str = ""  # settings that change the statistic's value (e.g. group=item)
    headline: bool = False  # the run's headline statistic (what it ranks by)


@dataclass
class RunRecord:
    """One run: one JSON document's provenance and result rows."""

    command: str
    command_line: str
    overcoat_version: str
    data_name: str
    data_hash: str
    data: dict
    settings: dict
    seed: int | None
    results: list[ResultRow]
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_utc: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="microseconds")
    )

    @property
    def run_signature(self) -> str:
        """What makes two runs' numbers comparable, as one string: command, data name and hash,
        seed, a hash of the settings, overcoat version."""
        st = hashlib.sha256(_dumps(self.settings).encode()).hexdigest()[:8]
        return (
            f"{self.command}|data:{self.data_name}@{self.data_hash}|seed:{self.seed}"
            f"|settings:{st}|overcoat:{self.overcoat_version}"
        )


def _dumps(x: Any) -> str:
    return json.dumps(x, sort_keys=True, ensure_ascii=False, default=str)


def _num(x: Any) -> float | None:
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _ci(est: Mapping) -> tuple[float | None, float | None]:
    ci = est.get("confidence_interval")
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        return _num(ci[0]), _num(ci[1])
    return None, None


def _n(est: Mapping) -> int | None:
    for k in ("n_pairs", "n_systems", "n_groups"):
        if isinstance(est.get(k), int):
            return int(est[k])
    return None


def _ranked(rows: list[ResultRow]) -> list[ResultRow]:
    """Set each row's rank within its (level, statistic, variant) among the run's scorers."""
    groups: dict[tuple, list[ResultRow]] = {}
    for r in rows:
        groups.setdefault((r.level, r.statistic, r.variant), []).append(r)
    for g in groups.values():
        vals = [r.value for r in g if r.value is not None]
        for r in g:
            r.rank = None if r.value is None else 1 + sum(v > r.value for v in vals)
    return rows


def _rule_statistic(rule: str) -> str:
    """``RewardBench 2 (best-of-n ...)`` -> ``rewardbench_2_overall``."""
    head = rule.split("(")[0].strip().lower()
    return re.sub(r"[^a-z0-9]+", "_", head).strip("_") + "_overall"


def _metaeval_rows(doc: Mapping) -> list[ResultRow]:
    sig = {s["name"]: s.get("signature", s["name"]) for s in doc.get("scorers", [])}
    cluster = {s["name"]: s.get("cluster") for s in doc.get("scorers", [])}
    settings = doc.get("settings") or {}
    signif = doc.get("significance") or {}
    cl_stat = signif.get("statistic")
    headline = doc.get("primary_statistic")
    rows = []
    for level, variant in (
        ("segment", f"group={settings.get('group', 'item')}"),
        ("system", ""),
    ):
        for name, stats in (doc.get(f"{level}_level") or {}).items():
            for stat, est in stats.items():
                lo, hi = _ci(est)
                rows.append(
                    ResultRow(
                        scorer=name,
                        signature=sig.get(name, name),
                        level=level,
                        statistic=stat,
                        value=_num(est.get("statistic")),
                        ci_low=lo,
                        ci_high=hi,
                        cluster=cluster.get(name) if stat == cl_stat else None,
                        n=_n(est),
                        variant=variant,
                        headline=stat == headline,
                    )
                )
    for name, rule in (doc.get("benchmark_rules") or {}).items():
        if isinstance(rule, Mapping) and rule.get("rule") and "overall" in rule:
            rows.append(
                ResultRow(
                    scorer=name,
                    signature=sig.get(name, name),
                    level="benchmark",
                    statistic=_rule_statistic(str(rule["rule"])),
                    value=_num(rule.get("overall")),
                    n=rule.get("n_items") if isinstance(rule.get("n_items"), int) else None,
                )
            )
    return _ranked(rows)


def _pairs_rows(doc: Mapping) -> list[ResultRow]:
    sig = {s["name"]: s.get("signature", s["name"]) for s in doc.get("scorers", [])}
    ties = (doc.get("settings") or {}).get("ties", "strict")
    rows = []
    for bucket, b in (doc.get("buckets") or {}).items():
        stat = "pair_accuracy" if bucket == "all" else f"pair_accuracy_{bucket}"
        for name, est in (b.get("scorers") or {}).items():
            lo, hi = _ci(est)
            rows.append(
                ResultRow(
                    scorer=name,
                    signature=sig.get(name, name),
                    level="pairs",
                    statistic=stat,
                    value=_num(est.get("statistic")),
                    ci_low=lo,
                    ci_high=hi,
                    cluster=est.get("cluster"),
                    n=_n(est),
                    variant=f"ties={ties}",
                    headline=bucket == "all",
                )
            )
    return _ranked(rows)


COMBINATION = "combination (cross-fitted)"


def _fit_rows(doc: Mapping) -> list[ResultRow]:
    sigs = dict(doc.get("signatures") or {})
    variant = f"folds={doc.get('n_folds')},l2={doc.get('l2')}"
    rows = []
    for name, est in (doc.get("scorers") or {}).items():
        if name in sigs:
            sig = sigs[name]
        else:  # the combination: its parts and its fitting settings
            sig = f"combo|bt|{variant}|" + ";".join(sigs[n] for n in sorted(sigs))
        lo, hi = _ci(est)
        rows.append(
            ResultRow(
                scorer=name,
                signature=sig,
                level="fit",
                statistic=str(doc.get("statistic")),
                value=_num(est.get("statistic")),
                ci_low=lo,
                ci_high=hi,
                variant=variant,
                headline=True,
            )
        )
    return _ranked(rows)


def _pairs_data_hash(doc: Mapping, data_hash: str) -> str:
    """translation-pairs evaluates pairs derived from the data: the derivation settings are part
    of what was evaluated, so they enter the hash."""
    st = doc.get("settings") or {}
    keys = ("min_gap", "easy_gap", "max_per_segment", "max_segments", "keep_identical", "seed")
    derived = {k: st.get(k) for k in keys}
    if derived["max_per_segment"] is None and derived["max_segments"] is None:
        derived.pop("seed")  # the seed only picks pairs when sampling
    h = hashlib.sha256(f"{data_hash}|{_dumps(derived)}".encode()).hexdigest()[:16]
    return f"pairs:sha256:{h}"


def record_from_doc(
    doc: Mapping,
    *,
    command: str,
    command_line: str,
    data_hash: str,
    overcoat_version: str | None = None,
) -> RunRecord:
    """A :class:`RunRecord` from a JSON document of meta-eval / compare / run (the meta-eval
    schema), translation-pairs or fit. ``data_hash``: of the data set the document was computed
    on."""
    if overcoat_version is None:
        from .. import __version__ as overcoat_version
    kind = doc.get("kind")
    if kind == "translation-pairs":
        data = dict(doc.get("data") or {})
        settings = dict(doc.get("settings") or {})
        rows = _pairs_rows(doc)
        data_hash = _pairs_data_hash(doc, data_hash)
    elif kind == "fit":
        data = {"name": doc.get("data")}
        settings = {k: doc.get(k) for k in ("statistic", "n_folds", "l2", "seed")}
        rows = _fit_rows(doc)
    elif "segment_level" in doc:
        data = dict(doc.get("data") or {})
        settings = dict(doc.get("settings") or {})
        rows = _metaeval_rows(doc)
    else:
        raise StoreError(f"cannot record a {kind or 'JSON'} document in the results store")
    seed = settings.get("seed")
    return RunRecord(
        command=command,
        command_line=command_line,
        overcoat_version=str(doc.get("overcoat_version") or overcoat_version),
        data_name=str(data.get("name")),
        data_hash=data_hash,
        data=data,
        settings=settings,
        seed=seed if isinstance(seed, int) else None,
        results=rows,
    )


# -- the database --------------------------------------------------------------------------------
def _rollback(con: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite has not already (it does on some errors)."""
    if con.in_transaction:
        con.execute("ROLLBACK")


def _busy(e: sqlite3.OperationalError) -> bool:
    m = str(e).lower()
    return "locked" in m or "busy" in m


class ResultsStore:
    """One results store file. ``ResultsStore(path)`` checks the file (never changes a file it
    refuses); :meth:`record` creates it (and its folder) on the first write."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._check_file()

    # opening ---------------------------------------------------------------------------------
    def _fail(self, why: str) -> StoreError:
        return StoreError(f"{self.path}: {why}")

    def _check_file(self) -> None:
        p = self.path
        if p.is_dir():
            raise self._fail("is a folder, not a results store file")
        if not p.exists():
            return
        try:
            with open(p, "rb") as f:
                head = f.read(len(_SQLITE_MAGIC))
        except OSError as e:
            raise self._fail(f"cannot read the results store ({e.strerror or e})") from None
        if head and head != _SQLITE_MAGIC:
            raise self._fail("not an overcoat results store (not an SQLite database)")

    def exists(self) -> bool:
        return self.path.exists() and self.path.stat().st_size > 0

    def _connect(self) -> sqlite3.Connection:
        try:
            con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.Error as e:
            raise self._fail(f"cannot open the results store ({e})") from None
        con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return con

    def _check_schema(self, con: sqlite3.Connection) -> int:
        """The file's schema version; a foreign or newer database is an error (nothing written).
        The three reads share one read transaction: read one by one, a store that another process
        creates in between looked like tables without our application id, i.e. foreign."""
        own = not con.in_transaction
        try:
            if own:
                con.execute("BEGIN")
            try:
                app = con.execute("PRAGMA application_id").fetchone()[0]
                version = con.execute("PRAGMA user_version").fetchone()[0]
                tables = [
                    r[0]
                    for r in con.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table' "
                        "AND name NOT LIKE 'sqlite_%'"
                    )
                ]
            finally:
                if own and con.in_transaction:
                    con.execute("COMMIT")
        except sqlite3.OperationalError as e:
            if _busy(e):  # another process is creating or migrating it: the caller retries
                raise
            raise self._fail(f"not an overcoat results store ({e})") from None
        except sqlite3.DatabaseError as e:
            raise self._fail(f"not an overcoat results store ({e})") from None
        if app != APPLICATION_ID and (tables or version):
            raise self._fail(
                "not an overcoat results store (an SQLite database of another program"
                + (f": tables {', '.join(sorted(tables)[:5])}" if tables else "")
                + ")"
            )
        if version > SCHEMA_VERSION:
            raise self._fail(
                f"results store schema version {version} is newer than this overcoat's "
                f"({SCHEMA_VERSION}); upgrade overcoat to read it"
            )
        return int(version)

    def _open_for_write(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise self._fail(f"cannot create its folder ({e.strerror or e})") from None
        self._check_file()
        con = self._connect()
        try:
            version = self._retry(lambda: self._check_schema(con))
            self._retry(lambda: con.execute("PRAGMA journal_mode = WAL"))
            if version < SCHEMA_VERSION:
                self._retry(lambda: self._migrate(con))
        except BaseException:
            con.close()
            raise
        return con

    @staticmethod
    def _retry(fn, tries: int = 200):
        """Run ``fn``; retry while SQLite says busy/locked (setting WAL mode does not wait on the
        busy handler)."""
        for k in range(tries):
            try:
                return fn()
            except sqlite3.OperationalError as e:
                if not _busy(e) or k == tries - 1:
                    raise
                time.sleep(0.01 + 0.002 * k)

    def _migrate(self, con: sqlite3.Connection) -> None:
        con.execute("BEGIN IMMEDIATE")
        try:
            version = self._check_schema(con)  # another process may have migrated meanwhile
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for stmt in MIGRATIONS[target]:
                    con.execute(stmt)
            if version < SCHEMA_VERSION:
                con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            con.execute("COMMIT")
        except BaseException:
            _rollback(con)
            raise

    def _open_for_read(self) -> sqlite3.Connection | None:
        """None when there is no store yet (nothing is created by reading)."""
        if not self.exists():
            return None
        con = self._connect()
        try:
            version = self._retry(lambda: self._check_schema(con))
        except sqlite3.Error as e:
            con.close()
            raise self._fail(f"cannot read the results store ({e})") from None
        except BaseException:
            con.close()
            raise
        if version == 0:  # an SQLite file without our tables yet: nothing recorded
            con.close()
            return None
        if version < SCHEMA_VERSION:  # an older store: migrated before it is read
            con.close()
            con = self._open_for_write()
        return con

    # writing ---------------------------------------------------------------------------------
    def record(self, runs: Sequence[RunRecord]) -> int:
        """Insert ``runs`` (and all their rows) in one transaction; the number of result rows."""
        try:
            con = self._open_for_write()
        except sqlite3.Error as e:
            raise self._fail(f"cannot write the results store ({e})") from None
        n = 0
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                for run in runs:
                    con.execute(
                        "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                        (
                            run.run_id,
                            run.created_utc,
                            run.command,
                            run.command_line,
                            run.overcoat_version,
                            run.data_name,
                            run.data_hash,
                            _dumps(run.data),
                            _dumps(run.settings),
                            run.seed,
                            run.run_signature,
                            len(run.results),
                        ),
                    )
                    con.executemany(
                        "INSERT INTO results VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        [
                            (
                                run.run_id,
                                r.scorer,
                                r.signature,
                                r.level,
                                r.statistic,
                                r.variant,
                                int(r.headline),
                                r.value,
                                r.ci_low,
                                r.ci_high,
                                r.cluster,
                                r.rank,
                                r.n,
                            )
                            for r in run.results
                        ],
                    )
                    n += len(run.results)
                con.execute("COMMIT")
            except BaseException:
                _rollback(con)
                raise
        except sqlite3.Error as e:
            raise self._fail(f"cannot write the results store ({e})") from None
        finally:
            con.close()
        return n

    # reading ---------------------------------------------------------------------------------
    def rows(self) -> list[dict]:
        """Every result row joined with its run, newest run first (one consistent snapshot)."""
        con = self._open_for_read()
        if con is None:
            return []
        try:
            con.row_factory = sqlite3.Row
            cur = con.execute(
                "SELECT r.run_id, r.created_utc, r.command, r.command_line, r.overcoat_version, "
                "r.data_name, r.data_hash, r.seed, r.run_signature, r.n_results, "
                "x.scorer, x.signature, x.level, x.statistic, x.variant, x.headline, x.value, "
                "x.ci_low, x.ci_high, x.cluster, x.rank, x.n "
                "FROM results x JOIN runs r ON r.run_id = x.run_id "
                "ORDER BY r.created_utc DESC, r.rowid DESC, x.rowid"
            )
            out = [dict(row) for row in cur]
        except sqlite3.Error as e:
            raise self._fail(f"cannot read the results store ({e})") from None
        finally:
            con.close()
        for d in out:
            d["headline"] = bool(d["headline"])
        return out

    def runs(self) -> list[dict]:
        """Every run (without its rows), newest first."""
        con = self._open_for_read()
        if con is None:
            return []
        try:
            con.row_factory = sqlite3.Row
            out = [
                dict(r)
                for r in con.execute("SELECT * FROM runs ORDER BY created_utc DESC, rowid DESC")
            ]
        except sqlite3.Error as e:
            raise self._fail(f"cannot read the results store ({e})") from None
        finally:
            con.close()
        for d in out:
            d["data"] = json.loads(d.pop("data_json"))
            d["settings"] = json.loads(d.pop("settings_json"))
        return out


# -- the leaderboard -----------------------------------------------------------------------------
def _matches_scorer(row: Mapping, spec: str) -> bool:
    s = spec.strip().lower()
    sig = row["signature"].lower()
    return s in (row["scorer"].lower(), sig, sig.split("|")[0])


def _strip_hash(h: str) -> str:
    for pre in ("pairs:", "sha256:"):
        h = h[len(pre) :] if h.startswith(pre) else h
    return h


def _matches_data(row: Mapping, name: str) -> bool:
    """The data set's name, or a prefix of its hash of at least 4 hex digits (``sha256:`` and
    ``pairs:`` optional)."""
    q = _strip_hash(name)
    return name == row["data_name"] or (len(q) >= 4 and _strip_hash(row["data_hash"]).startswith(q))


def best_first(value: float | None) -> tuple[bool, float]:
    """Sort key of the leaderboard's values: best (largest) first, undefined last."""
    return (value is None, -(value if value is not None else 0.0))


def leaderboard_rows(
    rows: Iterable[Mapping],
    *,
    data: str | None = None,
    stat: str | None = None,
    scorer: str | None = None,
    all_runs: bool = False,
) -> list[dict]:
    """The leaderboard from :meth:`ResultsStore.rows` (newest run first).

    Best-known = for each (scorer signature, data hash, statistic, variant) the row of the latest
    run (by UTC time, then by the order of recording) that recorded it. ``stat``: that statistic;
    without it, the headline statistics (what each run ranked by: meta-eval / compare / run: the
    primary statistic; translation-pairs: accuracy on all pairs; fit: its statistic).
    ``all_runs``: every run's row, not only the latest. ``data``: a data set name (or a data
    hash prefix of at least 4 hex digits); ``scorer``: a scorer's name, full signature or the
    signature's first field (``bleu``, ``length``), case-insensitive. Sorted by data set, level,
    statistic, then best value first (undefined last); with ``all_runs`` by scorer, newest
    first."""
    picked: list[dict] = []
    seen: set[tuple] = set()
    for r in rows:
        if stat is not None and r["statistic"] != stat:
            continue
        if stat is None and not r["headline"]:
            continue
        if data is not None and not _matches_data(r, data):
            continue
        if scorer is not None and not _matches_scorer(r, scorer):
            continue
        key = (r["signature"], r["data_hash"], r["statistic"], r["variant"])
        if not all_runs:
            if key in seen:
                continue
            seen.add(key)
        picked.append(dict(r))

    def order(r):
        v = r["value"]
        group = (r["data_name"], r["data_hash"], r["level"], r["statistic"], r["variant"])
        if all_runs:  # history: per scorer, newest first (the input order)
            return (*group, r["scorer"], r["signature"])
        return (*group, *best_first(v), r["scorer"])

    # newest first within equal keys: the input order; sorted() is stable
    return sorted(picked, key=order)


def known_statistics(rows: Iterable[Mapping]) -> list[str]:
    return sorted({r["statistic"] for r in rows})


EXPORT_COLUMNS = (
    "data_name",
    "data_hash",
    "level",
    "statistic",
    "variant",
    "scorer",
    "signature",
    "value",
    "ci_low",
    "ci_high",
    "cluster",
    "rank",
    "n",
    "created_utc",
    "run_id",
    "run_signature",
    "command",
    "command_line",
    "overcoat_version",
    "seed",
)


def export_rows(rows: Sequence[Mapping]) -> list[dict]:
    return [{k: r.get(k) for k in EXPORT_COLUMNS} for r in rows]


def write_csv(rows: Sequence[Mapping], path: str | os.PathLike) -> None:
    import csv

    from ..data.io import atomic_write

    with atomic_write(path, "w") as f:
        w = csv.DictWriter(f, fieldnames=list(EXPORT_COLUMNS), lineterminator="\n")
        w.writeheader()
        for r in export_rows(rows):
            w.writerow({k: "" if v is None else v for k, v in r.items()})


def leaderboard_doc(
    rows: Sequence[Mapping],
    *,
    store: Path,
    all_runs: bool,
    query: dict,
    n_stored: int | None = None,
    data_names: Sequence[str] = (),
) -> dict:
    """The ``--json`` export (``kind``: leaderboard), which ``overcoat report`` renders.
    ``n_stored`` (result rows in the whole store) and ``data_names`` (its data sets) say why
    ``rows`` may be empty."""
    return {
        "kind": "leaderboard",
        "store": str(store),
        "best_known": (
            "all runs"
            if all_runs
            else "latest run per (scorer signature, data hash, statistic, variant)"
        ),
        "query": query,
        "n_stored": n_stored,
        "data_names": list(data_names),
        "rows": export_rows(rows),
    }


__all__ = [
    "ENV_VAR",
    "SCHEMA_VERSION",
    "ResultRow",
    "ResultsStore",
    "RunRecord",
    "StoreError",
    "default_store_path",
    "known_statistics",
    "leaderboard_doc",
    "leaderboard_rows",
    "record_from_doc",
    "store_path",
    "write_csv",
]
