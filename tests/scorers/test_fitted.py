"""calibrated:FILE and combo:FILE — fitted calibrators and combinations as one scorer spec.

Every number is checked against the fitted model applied by hand (metaeval's own calibrators
and combination, or a loop), on small simulated data sets and on the bundled HH-RLHF data."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from overcoat import api
from overcoat.cli import main
from overcoat.data.builder import DatasetBuilder
from overcoat.errors import DataError, OvercoatError, SpecError
from overcoat.metaeval.calibration import (
    IsotonicCalibration,
    PlattScaling,
    TemperatureScaling,
    expected_calibration_error,
    make_calibrator,
)
from overcoat.metaeval.combination import PreferenceCombination, cross_fitted_combination
from overcoat.probes.calibration import preference_evidence
from overcoat.report.writers import write_json
from overcoat.scorers.base import ScoringBatch
from overcoat.scorers.fitted import CalibratedJudge, CalibratedScorer, probability_logit
from overcoat.scorers.registry import get_scorer

NEG = "python:tests/neg_length.py:neg_length"  # minus the word count, lower is better


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OVERCOAT_CACHE", str(tmp_path / "cache.sqlite"))


def pointwise_data(n=60, r=4, seed=0, step=8.0, noise=1.5):
    """Items with ``r`` responses of random word counts; human scores (integers, with ties)
    follow the length loosely."""
    rng = np.random.default_rng(seed)
    b = DatasetBuilder("sim")
    for i in range(n):
        b.add_item(f"i{i}", f"question {i}")
        for j in range(r):
            k = int(rng.integers(1, 30))
            b.add_response(f"i{i}", f"r{j}", " ".join(f"w{i}x{j}y{t}" for t in range(k)))
            b.add_score(f"i{i}", f"r{j}", float(round(k / step + rng.normal(0, noise))))
    return b.build()


def preference_data(n=150, seed=0):
    rng = np.random.default_rng(seed)
    b = DatasetBuilder("simpref")
    for i in range(n):
        b.add_item(f"i{i}", f"question {i}")
        ka, kb = (int(x) for x in rng.integers(1, 30, size=2))
        b.add_response(f"i{i}", "a", " ".join(f"a{i}x{t}" for t in range(ka)))
        b.add_response(f"i{i}", "b", " ".join(f"b{i}x{t}" for t in range(kb)))
        p = 1 / (1 + np.exp(-(ka - kb) / 6))
        u = rng.uniform()
        b.add_preference(f"i{i}", "a", "b", "tie" if abs(u - p) < 0.05 else "a" if u < p else "b")
    return b.build()


def lengths(ds) -> np.ndarray:
    return np.array([len(t.split()) for t in ds.responses.column("text").to_pylist()], float)


def evidence(ds, oriented):
    """(delta, target, item) of calibrate's pairs for per-response oriented scores."""
    return preference_evidence(ds.human_matrix(), ds.to_matrix(oriented), seed=0)


def scores_of(ds, spec):
    sc = api.score(ds, [spec], progress=False)
    return np.asarray(next(iter(sc.scores.values())), dtype=float)


def save_calibration(tmp_path, ds, specs, name="cal.json", **kw):
    doc, model = api.calibrate(ds, specs, n_resamples=20, progress=False, **kw)
    path = tmp_path / name
    write_json(model, path)
    return doc, path


# -- calibrated: pointwise ------------------------------------------------------------------------


@pytest.mark.parametrize("inner", ["length", NEG])
def test_calibrated_scores_are_the_fitted_calibrator_applied_by_hand(tmp_path, inner):
    ds = pointwise_data()
    doc, path = save_calibration(tmp_path, ds, [inner])
    (name,) = doc["scorers"]
    L = lengths(ds)  # the oriented score of both inner scorers (neg_length is lower-is-better)
    delta, y, _ = evidence(ds, L)
    T = TemperatureScaling().fit(delta, y).temperature
    platt = PlattScaling().fit(delta, y)
    assert doc["scorers"][name]["fitted"]["temperature"]["temperature"] == T
    t_scores = scores_of(ds, f"calibrated:{path}")
    np.testing.assert_allclose(t_scores, L / T, rtol=1e-12)
    np.testing.assert_allclose(
        scores_of(ds, f"calibrated:path={path},method=platt"), platt.slope * L, rtol=1e-12
    )
    # sigma of a difference of calibrated scores is the calibrated probability
    d2, _, _ = evidence(ds, t_scores)
    np.testing.assert_allclose(1 / (1 + np.exp(-d2)), TemperatureScaling(T).predict(delta))
    s = get_scorer(f"calibrated:{path}")
    assert isinstance(s, CalibratedScorer) and s.higher_is_better
    assert s.name == f"{name}@temperature"


def test_signature_holds_the_file_hash_and_the_inner_signature(tmp_path):
    ds = pointwise_data(n=20)
    _, path = save_calibration(tmp_path, ds, ["length"])
    sig = get_scorer(f"calibrated:{path}").signature()
    assert f"inner:({get_scorer('length').signature()})" in sig
    first = scores_of(ds, f"calibrated:{path}")  # now cached under sig
    doc = json.loads(path.read_text())
    doc["scorers"]["length"]["calibrators"]["temperature"]["temperature"] *= 2
    path.write_text(json.dumps(doc))
    sig2 = get_scorer(f"calibrated:{path}").signature()
    assert sig2 != sig and sig2.replace(sig2.split("|")[2], "") == sig.replace(
        sig.split("|")[2], ""
    )
    np.testing.assert_allclose(scores_of(ds, f"calibrated:{path}"), first / 2, rtol=1e-12)
    assert get_scorer(f"calibrated:{path},method=platt").signature() != sig2
    # worker processes get a pickled copy: it scores the same
    s = get_scorer(f"calibrated:{path}")
    batch = ScoringBatch(["q", "q"], ["a b c", "a"], [[], []])
    assert s.parallel_safe
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(s)).score_batch(batch), s.score_batch(batch)
    )


def test_inner_spec_replaces_the_recorded_one_and_must_match_its_signature(tmp_path):
    ds = pointwise_data(n=20)
    _, path = save_calibration(tmp_path, ds, ["length"])
    same = get_scorer(f"calibrated:{path},inner=length:unit=words")
    assert same.signature() == get_scorer(f"calibrated:{path}").signature()
    with pytest.raises(DataError) as e:
        get_scorer(f"calibrated:{path},inner=length:unit=chars")
    assert f"{path}, field 'scorers.length.signature'" in str(e.value)
    assert "check=false" in str(e.value)
    s = get_scorer(f"calibrated:{path},check=false,inner=length:unit=chars")
    assert "length|unit:chars" in s.signature()


# -- calibrated: pairwise (isotonic of score differences; a judge inside) ---------------------------


def test_isotonic_is_a_pairwise_scorer_of_score_differences(tmp_path):
    ds = preference_data()
    _, path = save_calibration(tmp_path, ds, ["length"])
    s = get_scorer(f"calibrated:{path},method=isotonic")
    assert isinstance(s, CalibratedJudge)
    L = lengths(ds)
    delta, y, _ = evidence(ds, L)
    iso = IsotonicCalibration().fit(delta, y)
    p = scores_of(ds, f"calibrated:{path},method=isotonic")  # A: P(A better), B: 1 - P
    La, Lb = ds.to_matrix(L).T
    want = iso.predict(La - Lb)
    np.testing.assert_allclose(ds.to_matrix(p)[:, 0], want, rtol=1e-12)
    np.testing.assert_allclose(ds.to_matrix(p)[:, 1], 1 - want, rtol=1e-12)


def test_a_calibrated_judge_is_its_calibrator_on_the_judge_logit(tmp_path):
    ds = preference_data()
    _, first = save_calibration(tmp_path, ds, ["length"], name="iso.json")
    judge = f"calibrated:{first},method=isotonic"  # a pairwise judge to calibrate again
    _, path = save_calibration(tmp_path, ds, [judge], name="judge.json")
    p = ds.to_matrix(scores_of(ds, judge))
    delta, y, _ = preference_evidence(ds.human_matrix(), p, is_probability=True, seed=0)
    for method in ("temperature", "platt", "isotonic"):
        cal = make_calibrator(method).fit(delta, y)
        got = ds.to_matrix(scores_of(ds, f"calibrated:{path},method={method}"))[:, 0]
        np.testing.assert_allclose(got, cal.predict(probability_logit(p[:, 0])), rtol=1e-12)


# -- calibrate on a calibrated spec: the relation to the held-out numbers ---------------------------


def test_calibrate_of_a_calibrated_spec_reports_the_saved_calibrator(tmp_path):
    """On the data it was fitted on, the `raw` row of `calibrated:` is the in-sample ECE of the
    calibrator fitted on all pairs; on other items it is that calibrator's held-out ECE."""
    ds = pointwise_data(n=120)
    ids = ds.items.column("item_id").to_pylist()
    dev, test = ds.filter_items(ids[:60]), ds.filter_items(ids[60:])
    doc, path = save_calibration(tmp_path, dev, ["length"])
    T = doc["scorers"]["length"]["fitted"]["temperature"]["temperature"]
    for part in (dev, test):
        delta, y, item = evidence(part, lengths(part))
        want = expected_calibration_error(
            TemperatureScaling(T).predict(delta), y, groups=item, n_resamples=20
        )
        got, _ = api.calibrate(part, [f"calibrated:{path}"], n_resamples=20, progress=False)
        raw = got["scorers"]["length@temperature"]["methods"]["raw"]
        assert raw["ece"]["statistic"] == pytest.approx(want.statistic, abs=1e-12)
        assert raw["ece"]["confidence_interval"] == pytest.approx(
            want.confidence_interval, abs=1e-12
        )
    # the calibrator's own re-fit on calibrated scores has temperature 1
    assert got["scorers"]["length@temperature"]["fitted"]["temperature"][
        "temperature"
    ] == pytest.approx(TemperatureScaling().fit(delta, y).temperature / T, rel=1e-6)


def test_cli_calibrate_then_calibrated_spec_on_bundled_data(tmp_path, capsys):
    cal = tmp_path / "cal.json"
    args = ["-d", "hh-harmless", "--resamples", "20", "-q"]
    assert main(["calibrate", *args, "-s", "length", "--save", str(cal)]) == 0
    assert "calibrated:" in capsys.readouterr().out
    saved = json.loads(cal.read_text())
    assert saved["format"] == "overcoat-calibration" and saved["version"] == 1
    entry = saved["scorers"]["length"]
    assert entry["spec"] == "length" and entry["kind"] == "pointwise"
    out = tmp_path / "c.json"
    spec = f"calibrated:{cal}"
    assert main(["calibrate", *args, "-s", spec, "--json", str(out)]) == 0, capsys.readouterr()
    ds = api.load("hh-harmless")
    delta, y, item = evidence(ds, lengths(ds))
    T = entry["calibrators"]["temperature"]["temperature"]
    want = expected_calibration_error(
        TemperatureScaling(T).predict(delta), y, groups=item, n_resamples=20
    )
    got = json.loads(out.read_text())["scorers"]["length@temperature"]["methods"]["raw"]["ece"]
    assert got["statistic"] == pytest.approx(want.statistic, abs=1e-12)


# -- combo ----------------------------------------------------------------------------------------


def _folds(n, k, seed):
    fold = np.empty(n, dtype=np.int64)
    fold[np.random.default_rng(seed).permutation(n)] = np.arange(n) % k
    return fold


def test_combo_reproduces_the_cross_fitted_held_out_predictions(tmp_path):
    """Fit on the training items of fold 0 of `fit`'s own 2-fold split, apply combo:FILE to the
    fold-0 items: the numbers are the cross-fitted (held-out) predictions of overcoat fit."""
    ds = pointwise_data(n=80)
    specs = ["length", NEG, "random"]
    sc = api.score(ds, specs, progress=False)
    names = list(sc.scores)
    H = ds.human_matrix()
    X = np.stack([sc.matrix(n) for n in names], axis=2)
    oof = cross_fitted_combination(X, H, n_folds=2, l2=1.0, seed=3, names=names)
    ids = np.array(ds.items.column("item_id").to_pylist())
    fold = _folds(len(ids), 2, 3)
    _, model = api.fit(ds.filter_items(list(ids[fold == 1])), specs, n_resamples=20, progress=False)
    path = tmp_path / "m.json"
    write_json(model, path)
    test = ds.filter_items(list(ids[fold == 0]))
    got = test.to_matrix(scores_of(test, f"combo:{path}"))
    np.testing.assert_allclose(got, oof[fold == 0], rtol=1e-10)
    # and it is metaeval's model applied to the oriented scores
    m = PreferenceCombination.from_dict(json.loads(path.read_text()))
    np.testing.assert_allclose(got, m.score(X[fold == 0]), rtol=1e-10)
    assert model["higher_is_better"] == [True, False, True]
    s = get_scorer(f"combo:{path}")
    for sig in model["signatures"]:
        assert f"({sig})" in s.signature()


def test_combo_cli_from_fit_save(tmp_path, capsys):
    m = tmp_path / "m.json"
    base = ["-d", "hh-harmless", "-q"]
    assert (
        main(["fit", *base, "-s", "length", "-s", "random", "--resamples", "20", "--save", str(m)])
        == 0
    )
    assert "combo:" in capsys.readouterr().out
    out = tmp_path / "s.jsonl"
    assert main(["score", *base, "-s", f"combo:{m}", "--out", str(out)]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    model = json.loads(m.read_text())
    ds = api.load("hh-harmless")
    sc = api.score(ds, ["length", "random"], progress=False)
    X = np.stack([sc.scores["length"], sc.scores["random"]], axis=1)
    want = (X / np.array(model["scale"])) @ np.array(model["weights"])
    np.testing.assert_allclose([r["score"] for r in rows], want, rtol=1e-12)


# -- bad files ------------------------------------------------------------------------------------


def _cal_doc():
    return {
        "format": "overcoat-calibration",
        "version": 1,
        "scorers": {
            "length": {
                "spec": "length",
                "signature": get_scorer("length").signature(),
                "kind": "pointwise",
                "higher_is_better": True,
                "calibrators": {
                    "temperature": {"temperature": 2.0},
                    "platt": {"slope": 0.5, "intercept": 0.0},
                    "isotonic": {"x": [-1.0, 1.0], "y": [0.2, 0.8]},
                },
            }
        },
    }


def _set(doc, dotted, value):
    *keys, last = dotted.split(".")
    for k in keys:
        doc = doc[k]
    if value is _DEL:
        del doc[last]
    else:
        doc[last] = value


_DEL = object()
_E = "scorers.length"


@pytest.mark.parametrize(
    "field, value, where, needle",
    [
        ("format", "nope", "format", "expected 'overcoat-calibration'"),
        ("version", 2, "version", "reads version 1"),
        ("scorers", {}, "scorers", "holds no scorer"),
        (f"{_E}.spec", _DEL, f"{_E}.spec", "missing"),
        (f"{_E}.kind", "both", f"{_E}.kind", "pointwise or pairwise"),
        (f"{_E}.higher_is_better", "yes", f"{_E}.higher_is_better", "needs a bool"),
        (f"{_E}.calibrators.beta", {}, f"{_E}.calibrators", "unknown method 'beta'"),
        (
            f"{_E}.calibrators.temperature.temperature",
            0,
            f"{_E}.calibrators.temperature.temperature",
            "must not be 0",
        ),
        (
            f"{_E}.calibrators.temperature.temperature",
            None,
            f"{_E}.calibrators.temperature.temperature",
            "finite number",
        ),
        (
            f"{_E}.calibrators.isotonic.x",
            [1.0, -1.0],
            f"{_E}.calibrators.isotonic.x",
            "strictly increasing",
        ),
        (
            f"{_E}.calibrators.isotonic.y",
            [0.2],
            f"{_E}.calibrators.isotonic.y",
            "needs 2 numbers",
        ),
        (f"{_E}.signature", "length|unit:chars", f"{_E}.signature", "check=false"),
        (f"{_E}.spec", "nosuch", f"{_E}.spec", "unknown scorer spec"),
    ],
)
def test_bad_calibration_files_name_the_file_and_field(tmp_path, field, value, where, needle):
    doc = _cal_doc()
    _set(doc, field, value)
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError) as e:
        get_scorer(f"calibrated:{path},method=isotonic")
    msg = str(e.value)
    assert msg.startswith(f"{path}, field '{where}': ") and needle in msg


def test_bad_specs_and_files_at_the_cli_one_line_exit_2(tmp_path, capsys):
    good = tmp_path / "cal.json"
    good.write_text(json.dumps(_cal_doc()))
    (tmp_path / "junk.json").write_text("{not json")
    two = _cal_doc()
    two["scorers"]["other"] = two["scorers"]["length"]
    (tmp_path / "two.json").write_text(json.dumps(two))
    loop = _cal_doc()
    loop["scorers"]["length"]["spec"] = f"calibrated:{tmp_path / 'loop.json'}"
    (tmp_path / "loop.json").write_text(json.dumps(loop))
    m = {
        "format": "overcoat-combination",
        "version": 1,
        "model": "bradley-terry-combination",
        "names": ["length"],
        "weights": [1.0, 2.0],
        "scale": [1.0],
        "scorers": ["length"],
        "signatures": ["length|unit:words"],
        "higher_is_better": [True],
    }
    (tmp_path / "m.json").write_text(json.dumps(m))
    cases = [
        (f"calibrated:{tmp_path / 'missing.json'}", "file not found"),
        (f"calibrated:{tmp_path / 'junk.json'}", "not a JSON file"),
        (f"calibrated:{tmp_path / 'two.json'}", "field 'scorers': holds calibrators of several"),
        (f"calibrated:{tmp_path / 'two.json'},scorer=x", "no scorer 'x'"),
        (f"calibrated:{good},method=beta", "method must be one of"),
        (f"calibrated:{good},colour=red", "unknown option 'colour'"),
        ("calibrated:", "name one file"),
        (f"calibrated:{tmp_path / 'loop.json'}", "leads back to this file"),
        (f"combo:{tmp_path / 'm.json'}", "field 'weights': needs 1 numbers, got 2"),
        (f"combo:{good}", "field 'format': expected 'overcoat-combination'"),
    ]
    for spec, needle in cases:
        code = main(
            ["score", "-d", "hh-harmless", "-s", spec, "-q", "--out", str(tmp_path / "o.jsonl")]
        )
        err = capsys.readouterr().err
        lines = [x for x in err.splitlines() if x.strip()]
        assert code == 2 and len(lines) == 1 and needle in lines[0], (spec, err)
        assert not (tmp_path / "o.jsonl").exists()


def test_isotonic_of_an_id_bound_scorer_and_judge_kind_mismatch(tmp_path):
    doc = _cal_doc()
    doc["scorers"]["length"]["kind"] = "pairwise"
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError, match="fitted on a pairwise scorer, and 'length' is pointwise"):
        get_scorer(f"calibrated:{path}")
    with pytest.raises((SpecError, OvercoatError)):
        get_scorer(f"calibrated:{path},{path}")


def test_meta_eval_of_a_temperature_calibrated_scorer_ranks_as_its_inner_scorer(tmp_path):
    """s/T with T > 0 is a monotone map: every ranking statistic of meta-eval is unchanged."""
    ds = pointwise_data(n=40)
    doc, path = save_calibration(tmp_path, ds, ["length"])
    assert doc["scorers"]["length"]["fitted"]["temperature"]["temperature"] > 0
    sc = api.score(ds, ["length", f"calibrated:{path}"], progress=False)
    seg = api.meta_evaluate(sc, api.MetaEvalSettings(n_resamples=20, significance=False)).to_json()[
        "segment_level"
    ]
    a, b = seg["length"], seg["length@temperature"]
    for stat in ("acc_eq", "pairwise_accuracy_strict", "kendall_tau_b"):
        assert b[stat]["statistic"] == pytest.approx(a[stat]["statistic"], abs=1e-12), stat
