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
