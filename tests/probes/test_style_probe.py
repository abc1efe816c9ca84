"""The style matrix as a probe: on RM-Bench data it equals meta-eval's RM-Bench rule; on other
preference data it is built from the style perturbations (checked against a loop over pairs)."""

import json

import numpy as np
import pytest

from overcoat import api
from overcoat.data.builder import DatasetBuilder
from overcoat.evaluation import MetaEvalSettings
from overcoat.probes.perturbations import apply_perturbation
from overcoat.probes.style import SYNTHETIC_STYLES, has_style_variants, styled_dataset


def _rm_rows(n=24, seed=0):
    rng = np.random.default_rng(seed)
    words = "alpha beta gamma delta epsilon zeta eta theta".split()
    domains = ["chat", "math", "code", "safety-refuse", "safety-response"]

    def text(k):
        return " ".join(rng.choice(words, k))

    rows = []
    for i in range(n):
        lens = rng.integers(1, 12, 6)
        rows.append(
            {
                "id": i,
                "prompt": f"question {i}",
                "chosen": [text(k) for k in lens[:3]],
                "rejected": [text(k) for k in lens[3:]],
                "domain": domains[i % 5],
            }
        )
    return rows


@pytest.fixture
def rm_file(tmp_path):
    p = tmp_path / "rm.json"
    p.write_text(json.dumps(_rm_rows()))
    return p


def test_rmbench_style_matrix_equals_the_meta_eval_rule(rm_file):
    ds = api.load(f"rmbench:{rm_file}")
    assert has_style_variants(ds)
    doc = api.probe(ds, ["length"], n_resamples=100, seed=2, cache=None, progress=False)
    st = doc["style"]
    assert st["source"] == "data"
    r = st["scorers"]["length"]
    sc = api.score(ds, ["length"], cache=None, progress=False)
    rule = api.meta_evaluate(sc, MetaEvalSettings(n_resamples=10)).benchmark["length"]
    np.testing.assert_array_equal(r["matrix"], rule["matrix"])
    assert r["easy"]["statistic"] == rule["easy"]
    assert r["normal"]["statistic"] == rule["normal"]
    assert r["hard"]["statistic"] == rule["hard"]
    assert r["overall"]["statistic"] == rule["overall"]
    for d, v in r["domains"].items():
        np.testing.assert_array_equal(v["matrix"], rule["matrices"][d])
        assert v["hard"]["statistic"] == rule["domain_hard"][d]
    assert r["styles"] == ("concise", "detailed_plain", "detailed_markdown")
    lo, hi = r["easy"]["confidence_interval"]
    assert lo <= r["easy"]["statistic"] <= hi
    # deterministic under the seed; --no-style leaves it out
    again = api.probe(ds, ["length"], n_resamples=100, seed=2, cache=None, progress=False)
    assert again["style"]["scorers"]["length"]["easy"] == r["easy"]
    off = api.probe(ds, ["length"], style=False, n_resamples=10, cache=None, progress=False)
    assert off["style"] is None


def pairs_dataset():
    b = DatasetBuilder("toy")
    rows = [
        ("q1", "Paris is the capital. It is in France.", "It is Lyon, I think."),
        ("q2", "Four.", "The answer is five, because two plus two is five."),
        ("q3", "Water boils at 100 degrees Celsius at sea level.", "Hot."),
        ("q4", "Yes. It is safe.", "No, never, under no circumstances at all."),
    ]
    for i, (q, good, bad) in enumerate(rows):
        b.add_item(f"i{i}", q)
        b.add_response(f"i{i}", "chosen", good)
        b.add_response(f"i{i}", "rejected", bad)
        b.add_score(f"i{i}", "chosen", 1.0)
        b.add_score(f"i{i}", "rejected", 0.0)
    return b.build()


def test_synthetic_style_matrix_of_length_equals_a_loop():
    ds = pairs_dataset()
    assert not has_style_variants(ds)
    # default: no synthetic matrix (it rescores the data twice)
    assert api.probe(ds, ["length"], n_resamples=10, cache=None, progress=False)["style"] is None
    doc = api.probe(ds, ["length"], style=True, n_resamples=50, seed=5, cache=None, progress=False)
    r = doc["style"]["scorers"]["length"]
    assert doc["style"]["source"] == "synthetic"
    assert r["styles"] == tuple(SYNTHETIC_STYLES)

    # reference: rewrite each response with the perturbation chain, its length is its score
    texts = ds.responses.column("text").to_pylist()
    items = ds.responses.column("item_id").to_pylist()
    rids = ds.responses.column("response_id").to_pylist()
    prompts = dict(
        zip(ds.items.column("item_id").to_pylist(), ds.items.column("input").to_pylist())
    )
    keys = [f"{i}\x1f{j}" for i, j in zip(items, rids)]
    styled = {}
    for name, chain in SYNTHETIC_STYLES.items():
        t = list(texts)
        for p in chain:
            t = apply_perturbation(p, t, [prompts[i] for i in items], seed=5, keys=keys)
        styled[name] = {(i, j): len(x) for i, j, x in zip(items, rids, t)}
    names = list(SYNTHETIC_STYLES)
    expected = np.zeros((3, 3))
    for it in prompts:
        for a, sa in enumerate(names):
            for b, sb in enumerate(names):
                expected[a, b] += styled[sa][(it, "chosen")] > styled[sb][(it, "rejected")]
    expected /= len(prompts)
    np.testing.assert_allclose(r["matrix"], expected)
    assert r["matrix"][0][0] == pytest.approx(doc["scorers"]["length"]["accuracy"]["statistic"])
    assert r["n_rows"] == 4 and r["n_groups"] == 4


def test_styled_dataset_chain_and_unknown_style():
    ds = pairs_dataset()
    md = styled_dataset(ds, "padded_markdown", seed=1).responses.column("text").to_pylist()
    assert all(t.startswith("**Answer**") for t in md)
    assert styled_dataset(ds, "plain") is ds
    with pytest.raises(ValueError, match="style must be one of"):
        styled_dataset(ds, "gothic")


def test_cli_prints_and_writes_the_style_matrix(rm_file, tmp_path, capsys):
    from overcoat.cli import main

    out = tmp_path / "probe.json"
    code = main(
        ["probe", "-d", f"rmbench:{rm_file}", "-s", "length", "--resamples", "20", "-q"]
        + ["--json", str(out)]
    )
    text = capsys.readouterr().out
    assert code == 0
    assert "style matrix" in text and "detailed_markdown" in text
    doc = json.loads(out.read_text())
    r = doc["style"]["scorers"]["length"]
    assert doc["style"]["source"] == "data" and len(r["matrix_ci"]) == 2
    assert r["styles"] == ["concise", "detailed_plain", "detailed_markdown"]
    assert set(r["domains"]) == {"chat", "math", "code", "safety"}
    assert doc["position_bias"]["length"]["applicable"] is False
