"""The pitfall commands end to end on bundled data: probe, calibrate, overopt, quality, fit."""

import json

import pytest

from overcoat.cli import main


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OVERCOAT_CACHE", str(tmp_path / "cache.sqlite"))


def run(args, capsys):
    code = main(args)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_probe_length_and_perturbations(tmp_path, capsys):
    out = tmp_path / "probe.json"
    code, stdout, err = run(
        [
            "probe",
            "-d",
            "hh-harmless",
            "-s",
            "length",
            "--perturb",
            "filler",
            "--perturb",
            "truncate",
            "--resamples",
            "20",
            "-q",
            "--json",
            str(out),
        ],
        capsys,
    )
    assert code == 0, err
    doc = json.loads(out.read_text())
    lb = doc["scorers"]["length"]
    assert lb["accuracy"]["statistic"] == pytest.approx(
        lb["length_baseline"]["statistic"], abs=0.02
    )
    assert lb["longer_preferred"]["statistic"] > 0.9 > 0.1 > lb["shorter_preferred"]["statistic"]
    per = doc["perturbations"]["length"]
    assert per["filler"]["mean_shift"]["statistic"] > 0 > per["truncate"]["mean_shift"]["statistic"]
    assert per["truncate"]["flip_rate"]["statistic"] == 0.0
    assert "length bias" in stdout and "flip rate" in stdout


def test_quality_on_three_rater_data(tmp_path, capsys):
    out = tmp_path / "q.json"
    code, stdout, err = run(
        [
            "quality",
            "-d",
            "wmt23-ende",
            "-s",
            "length",
            "--resamples",
            "20",
            "--splits",
            "50",
            "-q",
            "--json",
            str(out),
        ],
        capsys,
    )
    assert code == 0, err
    doc = json.loads(out.read_text())
    a = doc["agreement"]
    assert a["n_raters"] == 10 and a["ratings_per_cell"] == {"3": 1040}
    assert 0.3 < a["krippendorff_alpha_interval"]["statistic"] < 0.7
    assert set(doc["human_ceiling"]["mean_over_raters"]) == {"human", "length"}
    assert "Krippendorff" in stdout


def test_quality_all_parts_and_suspects_export(tmp_path, capsys):
    out, exp = tmp_path / "q.json", tmp_path / "suspects.csv"
    args = ["quality", "-d", "wmt23-ende", "--reference-from", "refA", "-s", "chrf", "-s",
            "length", "--part", "all", "--resamples", "20", "--splits", "30",
            "--budget-draws", "2", "-q", "--json", str(out), "--export-suspects", str(exp)]  # fmt: skip
    code, stdout, err = run(args, capsys)
    assert code == 0, err
    doc = json.loads(out.read_text())
    assert doc["parts"] == ["agreement", "ceiling", "duplicates", "stability", "budget", "suspects"]
    st = doc["stability"]
    assert st["systems"]["n_entities"] == 9 and st["scorers"]["n_entities"] == 2  # refA dropped
    assert 0 < st["systems"]["srp"] <= 1 and st["n_splits"] == 30
    rows = doc["budget"]["rows"]
    assert [(r["n_items"], r["ratings_per_item"]) for r in rows] == [
        (n, k) for n in (13, 26, 52, 104) for k in (1, 2, 3)
    ]
    assert rows[-1]["n_judgments"] == 104 * 9 * 3 and set(rows[0]["scorers"]) == {"chrF", "length"}
    widths = [r["scorers"]["chrF"]["ci_width"] for r in rows if r["ratings_per_item"] == 3]
    assert widths == sorted(widths, reverse=True)  # more items, narrower CI
    nd = doc["near_duplicates"]
    assert nd["n_pairs"] == 0 and nd["n_items_with_all_responses_identical"] == 0
    s = doc["suspects"]
    import pyarrow.csv as pcsv

    t = pcsv.read_csv(exp)
    assert t.num_rows == s["n_pairs"] > 1000 and t.column("rank").to_pylist()[:3] == [1, 2, 3]
    p = t.column("ensemble_p_other_better").to_pylist()
    assert p == sorted(p, reverse=True) and s["top"][0]["ensemble_p_other_better"] == p[0]
    assert {"item_id", "input", "preferred_text", "other_text", "vote:chrF", "vote:length"} <= set(
        t.column_names
    )
    assert "stable ranking probability" in stdout and "annotation budget" in stdout
    assert "noisy-label candidates" in stdout
    # deterministic under the seed
    code, _, err = run(args[:-2] + ["--export-suspects", str(tmp_path / "s.jsonl")], capsys)
    again = json.loads(out.read_text())
    assert code == 0 and again["stability"] == st and again["budget"] == doc["budget"]
    lines = (tmp_path / "s.jsonl").read_text().splitlines()
    assert len(lines) == s["n_pairs"] and json.loads(lines[0])["rank"] == 1


def test_quality_parts_select_work_on_zhen(tmp_path, capsys):
    out = tmp_path / "q.json"
    code, stdout, err = run(
        ["quality", "-d", "wmt23-zhen", "-p", "stability", "-p", "duplicates", "--splits", "20",
         "-q", "--json", str(out)],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out.read_text())
    assert doc["parts"] == ["duplicates", "stability"]
    assert (
        "agreement" not in doc and "human_ceiling" not in doc and "scorers" not in doc["stability"]
    )
    assert doc["stability"]["systems"]["n_entities"] == 10


def test_overopt_calibrate_fit(tmp_path, capsys):
    code, stdout, err = run(
        [
            "overopt",
            "-d",
            "ted-ende",
            "--proxy",
            "length",
            "--resamples",
            "20",
            "-q",
            "--json",
            str(tmp_path / "o.json"),
        ],
        capsys,
    )
    assert code == 0, err
    o = json.loads((tmp_path / "o.json").read_text())
    assert o["n"][-1] == 13 and o["gold_scorer"] == "human" and len(o["gold"]) == 13
    code, stdout, err = run(
        [
            "calibrate",
            "-d",
            "hh-harmless",
            "-s",
            "length",
            "--resamples",
            "20",
            "-q",
            "--save",
            str(tmp_path / "cal.json"),
        ],
        capsys,
    )
    assert code == 0, err
    cal = json.loads((tmp_path / "cal.json").read_text())
    entry = cal["scorers"]["length"]
    assert cal["format"] == "overcoat-calibration" and entry["spec"] == "length"
    assert entry["calibrators"]["temperature"]["calibrator"] == "temperature"
    code, stdout, err = run(
        [
            "fit",
            "-d",
            "hh-harmless",
            "-s",
            "length",
            "-s",
            "random",
            "--resamples",
            "20",
            "-q",
            "--save",
            str(tmp_path / "m.json"),
        ],
        capsys,
    )
    assert code == 0, err
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["scorers"] == ["length", "random"] and m["model"] == "bradley-terry-combination"
    assert m["format"] == "overcoat-combination" and m["higher_is_better"] == [True, True]


@pytest.mark.parametrize(
    "args,needle",
    [
        (
            ["probe", "-d", "hh-harmless", "-s", "length", "--perturb", "nope"],
            "perturbation must be one of",
        ),
        (["probe", "-d", "hh-harmless", "-s", "length", "--length-unit", "bytes"], "--length-unit"),
        (["calibrate", "-d", "hh-harmless", "-s", "length", "--binning", "x"], "--binning"),
        (["quality", "-d", "hh-harmless"], "two or more raters"),
        (["quality", "-d", "wmt23-ende", "--statistic", "x"], "--statistic"),
        (["quality", "-d", "wmt23-ende", "--part", "x"], "--part"),
        (["quality", "-d", "wmt23-ende", "--near-threshold", "0"], "--near-threshold"),
        (["quality", "-d", "wmt23-ende", "--reference-from", "nope"], "--reference-from"),
        (["quality", "-d", "wmt23-ende", "--export-suspects", "s.txt", "-s", "length"], "s.txt"),
        (["quality", "-d", "wmt23-ende", "--export-suspects", "s.csv"], "one or more scorers"),
        (["quality", "-d", "wmt23-ende", "-p", "budget", "-s", "chrf"], "references"),
        (["fit", "-d", "hh-harmless", "-s", "length"], "two or more scorers"),
        (["overopt", "-d", "hh-harmless", "--proxy", "length", "--gold", "length"], "given twice"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, needle, capsys, tmp_path):
    code, stdout, err = run(args + ["-q", "--json", str(tmp_path / "x.json")], capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in err
    assert not (tmp_path / "x.json").exists()
