"""The results store through the CLI: commands record after writing their outputs (--store,
--no-store, OVERCOAT_RESULTS_DB), a store that cannot be written is a one-line warning and never a
lost run, and ``overcoat leaderboard`` shows and exports the best-known results."""

import csv
import hashlib
import json
import os
import sqlite3

import pytest

from overcoat import api
from overcoat.cli import main
from overcoat.report.store import SCHEMA_VERSION, ResultsStore


def _data(path, scores):
    """Pointwise data: item i has responses sysA (score scores[i]) and sysB (score 2)."""
    rows = []
    for i, sc in enumerate(scores):
        for s, v in (("sysA", sc), ("sysB", 2.0)):
            rows.append(
                json.dumps(
                    {
                        "item_id": f"i{i}",
                        "input": f"source {i}",
                        "response_id": s,
                        "response": f"output {s} {i} " + "x " * int(v * 3),
                        "reference": f"output sysB {i}",
                        "score": v,
                    }
                )
            )
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def cli(args, capsys):
    code = main(args)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def _sha(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def data(tmp_path):
    return _data(tmp_path / "d.jsonl", [1.0, 3.0, 0.5, 2.5, 1.5, 4.0])


def test_meta_eval_records_what_its_json_says(tmp_path, capsys, data, monkeypatch):
    store = tmp_path / "s" / "results.sqlite"
    monkeypatch.setenv("OVERCOAT_RESULTS_DB", str(store))
    args = ["meta-eval", "-d", data, "-s", "length", "-s", "chrf", "--resamples", "20", "-q"]
    code, out, err = cli([*args, "--json", str(tmp_path / "m.json")], capsys)
    assert code == 0, err
    assert f"results in {store}" in out and err == ""
    doc = json.loads((tmp_path / "m.json").read_text())
    rows = ResultsStore(store).rows()
    (run,) = ResultsStore(store).runs()
    assert run["command"] == "meta-eval" and run["data_name"] == doc["data"]["name"]
    assert (
        run["command_line"].startswith("overcoat meta-eval -d ")
        and "--resamples 20" in (run["command_line"])
    )
    assert run["settings"] == doc["settings"] and run["seed"] == 0
    assert run["overcoat_version"] == doc["overcoat_version"]
    # every segment- and system-level number of the JSON, once
    want = {
        (name, stat): (e["statistic"], e.get("confidence_interval"))
        for level in ("segment_level", "system_level")
        for name, stats in doc[level].items()
        for stat, e in stats.items()
    }
    got = {(r["scorer"], r["statistic"]): (r["value"], r["ci_low"], r["ci_high"]) for r in rows}
    assert set(got) == set(want)
    for k, (v, ci) in want.items():
        assert got[k][0] == v and list(got[k][1:]) == (ci or [None, None])
    sig = {s["name"]: s["signature"] for s in doc["scorers"]}
    assert {r["signature"] for r in rows} == set(sig.values())

    # --no-store: nothing recorded
    assert cli([*args, "--no-store"], capsys)[0] == 0
    assert len(ResultsStore(store).runs()) == 1
    # --store PATH wins over the environment
    other = tmp_path / "other.sqlite"
    assert cli([*args, "--store", str(other)], capsys)[0] == 0
    assert len(ResultsStore(other).runs()) == 1 and len(ResultsStore(store).runs()) == 1


def test_leaderboard_latest_run_and_exports(tmp_path, capsys, data):
    store = str(tmp_path / "r.sqlite")
    base = ["meta-eval", "-d", data, "-s", "length", "--store", store, "-q"]
    assert cli([*base, "--resamples", "20"], capsys)[0] == 0
    assert cli([*base, "-s", "chrf", "--resamples", "30"], capsys)[0] == 0  # the later run
    code, out, err = cli(
        ["leaderboard", "--store", store, "--csv", str(tmp_path / "lb.csv")], capsys
    )
    assert code == 0, err
    runs = ResultsStore(store).runs()
    latest = runs[0]["run_id"]
    with open(tmp_path / "lb.csv") as f:
        table = list(csv.DictReader(f))
    # headline statistic of each scorer, from the latest run that has it: both from the 2nd run
    assert sorted(r["scorer"] for r in table) == ["chrF", "length"]
    assert {r["run_id"] for r in table} == {latest}
    assert latest[:8] in out and "length" in out and "chrF" in out

    code, out, _ = cli(
        [
            "leaderboard",
            "--store",
            store,
            "--all-runs",
            "--stat",
            "pearson",
            "--json",
            str(tmp_path / "lb.json"),
        ],
        capsys,
    )
    assert code == 0
    lb = json.loads((tmp_path / "lb.json").read_text())
    assert lb["kind"] == "leaderboard" and lb["query"]["stat"] == "pearson"
    assert sorted((r["scorer"], r["run_id"]) for r in lb["rows"]) == sorted(
        [("length", runs[0]["run_id"]), ("length", runs[1]["run_id"]), ("chrF", latest)]
    )
    code, out, _ = cli(
        [
            "leaderboard",
            "--store",
            store,
            "--scorer",
            "CHRF",
            "--stat",
            "pearson",
            "--json",
            str(tmp_path / "c.json"),
        ],
        capsys,
    )
    assert [r["scorer"] for r in json.loads((tmp_path / "c.json").read_text())["rows"]] == ["chrF"]

    code, out, _ = cli(["leaderboard", "--store", store, "--data", "nope"], capsys)
    assert code == 0 and "no results match --data nope" in out
    assert "data sets recorded: d\n" in out  # the data file d.jsonl


def test_leaderboard_bad_stat_is_one_line(tmp_path, capsys, data):
    store = str(tmp_path / "r.sqlite")
    assert (
        cli(
            ["meta-eval", "-d", data, "-s", "length", "--store", store, "--resamples", "10", "-q"],
            capsys,
        )[0]
        == 0
    )
    code, out, err = cli(["leaderboard", "--store", store, "--stat", "accuracy"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith("overcoat: error: --stat 'accuracy': no such statistic in ")
    assert "recorded: acc_eq, kendall_tau_b, " in err


def test_empty_store_is_a_message(tmp_path, capsys):
    p = tmp_path / "none.sqlite"
    code, out, err = cli(["leaderboard", "--store", str(p), "--stat", "acc_eq"], capsys)
    assert code == 0 and err == ""
    assert out.startswith(f"no results recorded yet in {p}")
    assert not p.exists()


def _newer(p):
    ResultsStore(p).record([])
    con = sqlite3.connect(p)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()


@pytest.mark.parametrize("kind", ["text", "newer"])
def test_bad_store_file(tmp_path, capsys, data, kind):
    p = tmp_path / "r.sqlite"
    if kind == "text":
        p.write_text("not a database\n")
    else:
        _newer(p)
    before = _sha(p)
    # leaderboard: one-line error, exit 2
    code, out, err = cli(["leaderboard", "--store", str(p)], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"overcoat: error: {p}: ")
    assert ("not an SQLite database" if kind == "text" else "is newer than") in err
    # a run: its outputs stand; the store is a one-line warning
    j = tmp_path / "m.json"
    code, out, err = cli(
        [
            "meta-eval",
            "-d",
            data,
            "-s",
            "length",
            "--store",
            str(p),
            "--resamples",
            "10",
            "-q",
            "--json",
            str(j),
        ],
        capsys,
    )
    assert code == 0 and j.exists()
    assert err.count("\n") == 1
    assert err.startswith(f"overcoat: warning: results not recorded in the results store: {p}: ")
    assert _sha(p) == before


def test_compare_fit_and_pairs_record(tmp_path, capsys, data):
    store = str(tmp_path / "r.sqlite")
    s = ["-s", "length", "-s", "chrf", "--resamples", "10", "-q", "--store", store]
    assert cli(["compare", "-d", data, *s], capsys)[0] == 0
    assert cli(["fit", "-d", data, "--folds", "2", *s], capsys)[0] == 0
    runs = {r["command"]: r for r in ResultsStore(store).runs()}
    assert set(runs) == {"compare", "fit"}
    rows = ResultsStore(store).rows()
    fit_rows = {r["scorer"] for r in rows if r["command"] == "fit"}
    assert fit_rows == {"combination (cross-fitted)", "length", "chrF"}
    # same data, same hash
    assert runs["compare"]["data_hash"] == runs["fit"]["data_hash"]


def test_translation_pairs_records(tmp_path, capsys):
    store = str(tmp_path / "r.sqlite")
    code, out, err = cli(
        [
            "translation-pairs",
            "-d",
            "ted-ende",
            "-s",
            "length",
            "-s",
            "chrf",
            "--max-segments",
            "12",
            "--resamples",
            "10",
            "-q",
            "--store",
            store,
            "--json",
            str(tmp_path / "p.json"),
        ],
        capsys,
    )
    assert code == 0, err
    doc = json.loads((tmp_path / "p.json").read_text())
    rows = ResultsStore(store).rows()
    got = {(r["scorer"], r["statistic"]): r["value"] for r in rows}
    for b, stat in (
        ("all", "pair_accuracy"),
        ("easy", "pair_accuracy_easy"),
        ("hard", "pair_accuracy_hard"),
    ):
        for name, e in doc["buckets"][b]["scorers"].items():
            assert got.pop((name, stat)) == e["statistic"]
    assert got == {}


def test_run_records_three_runs_in_one_write(tmp_path, capsys, monkeypatch):
    real_load = api.load
    keep = {"ted-ende": 4, "ted-zhen": 4, "hh-harmless": 30}

    def sliced(spec, **kw):
        ds = real_load(spec, **kw)
        return ds.filter_items(ds.items.column("item_id").to_pylist()[: keep[spec]])

    monkeypatch.setattr(api, "load", sliced)
    code, out, err = cli(
        ["run", "--out-dir", str(tmp_path), "--resamples", "10", "-j", "1", "-q"], capsys
    )
    assert code == 0, err
    store = os.environ["OVERCOAT_RESULTS_DB"]  # conftest: this test's own temporary store
    runs = ResultsStore(store).runs()
    assert sorted(r["data_name"] for r in runs) == sorted(keep)
    assert {r["command"] for r in runs} == {"run"}
    assert f"recorded {sum(r['n_results'] for r in runs)} results in {store}" in out
