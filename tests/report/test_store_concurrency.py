"""Concurrent writers into one results store: WRITERS processes, started together behind a
barrier on a store that does not exist yet (so they also race to create it), each record RUNS runs
of ROWS result rows, one run per write; a reader process reads all the while. Afterwards the
database passes ``PRAGMA integrity_check`` and holds exactly every row once, and the reader never
saw a run with only some of its rows."""

import multiprocessing as mp
import sqlite3

from overcoat.report.store import ResultRow, ResultsStore, RunRecord, leaderboard_rows

WRITERS = 6
RUNS = 25  # per writer
ROWS = 8  # per run


def _value(w: int, r: int, k: int) -> float:
    return w * 10_000 + r * 100 + k


def _writer(path: str, w: int, barrier, errors) -> None:
    try:
        store = ResultsStore(path)
        barrier.wait()
        for r in range(RUNS):
            store.record(
                [
                    RunRecord(
                        command="meta-eval",
                        command_line=f"writer {w} run {r}",
                        overcoat_version="test",
                        data_name=f"data{w % 2}",
                        data_hash=f"sha256:{w % 2:04d}",
                        data={},
                        settings={"w": w, "r": r},
                        seed=r,
                        run_id=f"w{w}-r{r}",
                        results=[
                            ResultRow(
                                scorer=f"s{k}",
                                signature=f"s{k}|test",
                                level="segment",
                                statistic="acc",
                                value=_value(w, r, k),
                                headline=True,
                            )
                            for k in range(ROWS)
                        ],
                    )
                ]
            )
    except Exception as e:  # noqa: BLE001 - reported to the test, which fails on it
        errors.put(f"writer {w}: {type(e).__name__}: {e}")


def _reader(path: str, barrier, stop, out) -> None:
    store = ResultsStore(path)
    barrier.wait()
    snapshots, partial, max_runs, mid = 0, [], 0, 0
    while True:
        done = stop.is_set()  # read once more after the writers finished
        try:
            rows = store.rows()
        except Exception as e:  # noqa: BLE001 - reported to the test, which fails on it
            partial.append(f"read failed: {type(e).__name__}: {e}")
            rows = []
        per_run: dict[str, list] = {}
        for row in rows:
            per_run.setdefault(row["run_id"], []).append(row)
        for run_id, rs in per_run.items():
            if len(rs) != ROWS or any(x["n_results"] != ROWS for x in rs):
                partial.append(f"{run_id}: {len(rs)} of {ROWS} rows")
        snapshots += 1
        max_runs = max(max_runs, len(per_run))
        mid += 0 < len(per_run) < WRITERS * RUNS  # a read while the writers were writing
        if done:
            break
    out.put((snapshots, partial, max_runs, mid))


def test_concurrent_writers_and_a_reader(tmp_path):
    path = str(tmp_path / "store" / "results.sqlite")  # not there yet: the writers create it
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(WRITERS + 1)
    stop, errors, out = ctx.Event(), ctx.Queue(), ctx.Queue()
    writers = [ctx.Process(target=_writer, args=(path, w, barrier, errors)) for w in range(WRITERS)]
    reader = ctx.Process(target=_reader, args=(path, barrier, stop, out))
    for p in (*writers, reader):
        p.start()
    for p in writers:
        p.join()
    stop.set()
    snapshots, partial, max_runs, mid = out.get()
    reader.join()
    errs = []
    while not errors.empty():
        errs.append(errors.get())
    assert errs == []
    assert all(p.exitcode == 0 for p in (*writers, reader))
    assert partial == []
    assert max_runs == WRITERS * RUNS  # its last read saw everything
    assert mid >= 1  # and it read while the writers wrote (the check above had work to do)
    print(f"reader: {snapshots} reads, {mid} during the writes")

    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == WRITERS * RUNS
    got = con.execute("SELECT run_id, scorer, value FROM results").fetchall()
    con.close()
    expected = sorted(
        (f"w{w}-r{r}", f"s{k}", float(_value(w, r, k)))
        for w in range(WRITERS)
        for r in range(RUNS)
        for k in range(ROWS)
    )
    assert sorted(got) == expected  # every row exactly once (no duplicates, none lost)

    # best-known after the race: per (scorer signature, data hash) the run with the latest time
    rows = ResultsStore(path).rows()
    assert len(rows) == WRITERS * RUNS * ROWS
    latest: dict = {}
    for r in rows:
        k = (r["signature"], r["data_hash"])
        if k not in latest or r["created_utc"] > latest[k]["created_utc"]:
            latest[k] = r
    best = leaderboard_rows(rows)
    assert len(best) == ROWS * 2
    assert {(r["signature"], r["data_hash"]): r["created_utc"] for r in best} == {
        k: r["created_utc"] for k, r in latest.items()
    }
