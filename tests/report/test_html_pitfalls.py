"""report/html_pitfalls: the HTML sections of the pitfall commands, on real documents written by
the commands on bundled data (tests/report/fixtures, recipes in its README). Parsed back with
html.parser: the plots counted, every number in a table traced to the JSON, the numbers of each
kind's table checked cell by cell against the document, names escaped, output deterministic."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from unittest.mock import MagicMock

import pytest

from overcoat.report.html_base import Section
from overcoat.report.html_pitfalls import pitfall_sections

FIXTURES = Path(__file__).parent / "fixtures"
NAMES = sorted(p.stem.removeprefix("pitfall-") for p in FIXTURES.glob("pitfall-*.json"))
HOSTILE = '<script>alert("x")</script> & $\\frac{'


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"pitfall-{name}.json").read_text())


class Page(HTMLParser):
    """Plots (``<svg class="plot">``), tables (header row + body rows of cell texts), scripts."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.n_plots = 0
        self.n_svg = 0
        self.scripts = 0
        self.text: list[str] = []
        self.svg_text: list[str] = []
        self._svg_depth = 0
        self.tables: list[dict] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._in_head = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg":
            self._svg_depth += 1
            self.n_svg += 1
            if "plot" in (a.get("class") or "").split():
                self.n_plots += 1
        elif tag == "script":
            self.scripts += 1
        elif tag == "table":
            self.tables.append({"headers": [], "rows": [], "classes": []})
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr":
            self._row = []
            if not self._in_head:
                self.tables[-1]["classes"].append(a.get("class") or "")
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "svg":
            self._svg_depth -= 1
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            t = self.tables[-1]
            if self._in_head:
                t["headers"] = self._row
            else:
                t["rows"].append(self._row)
            self._row = None
        elif tag == "thead":
            self._in_head = False

    def handle_data(self, data):
        self.text.append(data)
        if self._svg_depth:
            self.svg_text.append(data)
        if self._cell is not None:
            self._cell.append(data)


@cache
def rendered(name: str) -> tuple[Section, ...]:
    """The sections of an unmodified fixture, flattened (rendered once per test session)."""
    return tuple(walk(pitfall_sections(load(name))))


def walk(sections: list[Section]):
    for s in sections:
        yield s
        yield from walk(s.subsections)


def page_of(doc) -> Page:
    return Page("".join(s.html for s in walk(pitfall_sections(doc))))


def table_with(page: Page, *headers: str) -> list[dict[str, str]]:
    """The body rows, as {header: cell}, of the first table having all these headers."""
    for t in page.tables:
        if all(h in t["headers"] for h in headers):
            return [dict(zip(t["headers"], r)) for r in t["rows"]]
    raise AssertionError(f"no table with {headers}: {[t['headers'] for t in page.tables]}")


def n3(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def ci3(e) -> str:
    lo, hi = e["confidence_interval"]
    return f"{e['statistic']:.3f} [{lo:.3f}, {hi:.3f}]"


# --- every kind ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_each_fixture_renders_with_n_plots_equal_to_its_svgs_and_unique_anchors(name):
    sections = rendered(name)
    assert sections
    anchors = [s.anchor for s in sections]
    assert len(set(anchors)) == len(anchors)
    for s in sections:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", s.anchor), s.anchor
        p = Page(s.html)
        assert p.n_plots == s.n_plots == p.n_svg, (s.anchor, p.n_plots, s.n_plots)
        assert p.tables, f"{s.anchor}: numbers must be in a table too"
        assert p.scripts == 0
    assert sum(s.n_plots for s in sections) >= 1


def test_all_six_kinds_have_a_fixture():
    kinds = {load(n)["kind"] for n in NAMES}
    assert kinds == {"probe", "calibrate", "overopt", "quality", "fit", "translation-pairs"}


def json_numbers(doc) -> set[str]:
    """Every number of the document as a table may show it (3 or 4 decimals, integers), and
    numeric strings (item ids)."""
    out: set[str] = set()

    def rec(x):
        if isinstance(x, bool):
            return
        if isinstance(x, (int, float)):
            out.update({f"{x:.3f}", f"{x:.4f}", f"{x:.0f}"})
            if isinstance(x, int) or float(x).is_integer():
                out.add(str(int(x)))
        elif isinstance(x, str):
            out.add(x)
        elif isinstance(x, dict):
            for k, v in x.items():
                rec(k)
                rec(v)
        elif isinstance(x, list):
            for v in x:
                rec(v)

    rec(doc)
    return out


def derived_numbers(doc) -> set[str]:
    """The one ratio a table shows that is not in the document: translation-pairs' tie share
    (n_ties / n_pairs, as in the terminal table)."""
    if doc["kind"] != "translation-pairs":
        return set()
    return {f"{s['n_ties'] / s['n_pairs']:.3f}" for s in doc["buckets"]["all"]["scorers"].values()}


@pytest.mark.parametrize("name", NAMES)
def test_every_number_in_a_table_is_one_of_the_documents(name):
    doc = load(name)
    allowed = json_numbers(doc) | derived_numbers(doc)
    page = Page("".join(s.html for s in rendered(name)))
    n = 0
    for t in page.tables:
        for row in t["rows"]:
            for cell in row:
                for tok in re.findall(r"(?<![\w.])-?\d+\.\d+(?![\w.])", cell):
                    assert tok in allowed, (name, cell, tok)
                    n += 1
                if re.fullmatch(r"-?\d+", cell.strip()):
                    assert cell.strip() in allowed, (name, cell)
    assert n > 0


@pytest.mark.parametrize("name", NAMES)
def test_output_is_deterministic(name):
    doc = load(name)
    a = [(s.anchor, s.title, s.html, s.n_plots) for s in rendered(name)]
    b = [(s.anchor, s.title, s.html, s.n_plots) for s in walk(pitfall_sections(copy.deepcopy(doc)))]
    assert a == b


@pytest.mark.parametrize("kind", ["meta-eval", "generate", "", None, 3])
def test_other_kinds_are_refused(kind):
    with pytest.raises(ValueError, match="not a pitfall document"):
        pitfall_sections({"kind": kind, "data": "x"})
    with pytest.raises(ValueError):
        pitfall_sections({"data": "x"})


# --- each kind's numbers, cell by cell ---------------------------------------------------------


def test_probe_tables_equal_the_json():
    doc = load("probe")
    page = Page("".join(s.html for s in rendered("probe")))
    rows = {r["scorer"]: r for r in table_with(page, "scorer", "accuracy [95% CI]")}
    assert list(rows) == list(doc["scorers"])
    for name, r in doc["scorers"].items():
        row = rows[name]
        assert row["accuracy [95% CI]"] == ci3(r["accuracy"])
        assert row["longer preferred [95% CI]"] == ci3(r["longer_preferred"])
        assert row["shorter preferred [95% CI]"] == ci3(r["shorter_preferred"])
        assert row["length-matched [95% CI]"] == ci3(r["length_matched_accuracy"])
        assert row["length-matched pairs"] == str(r["length_matched_accuracy"]["n_pairs"])
        assert row["length-only baseline"] == n3(r["length_baseline"]["statistic"])
        assert row["τb(score, length) [95% CI]"] == ci3(r["score_length_correlation"])
    pert = table_with(page, "perturbation", "flip rate [95% CI]")
    expected = [(n, p, r) for n, per in doc["perturbations"].items() for p, r in per.items()]
    assert len(pert) == len(expected) == 6
    for row, (n, p, r) in zip(pert, expected):
        assert (row["scorer"], row["perturbation"]) == (n, p)
        assert row["flip rate [95% CI]"] == ci3(r["flip_rate"])
        assert row["shift (SDs) [95% CI]"] == ci3(r["standardized_shift"])
        assert row["accuracy after"] == n3(r["accuracy_after"]["statistic"])
    for name, r in doc["style"]["scorers"].items():
        m = table_with(page, "chosen \\ rejected")  # the first scorer's matrix
        if name == next(iter(doc["style"]["scorers"])):
            lo, hi = r["matrix_ci"]
            for i, row in enumerate(m):
                for j, s in enumerate(r["styles"]):
                    v = r["matrix"][i][j]
                    assert row[s] == f"{v:.3f} [{lo[i][j]:.3f}, {hi[i][j]:.3f}]"
    summary = {x["scorer"]: x for x in table_with(page, "easy [95% CI]", "hard [95% CI]")}
    for name, r in doc["style"]["scorers"].items():
        assert summary[name]["hard [95% CI]"] == ci3(r["hard"])
    pos = table_with(page, "consistency [95% CI]")
    assert all("not applicable" in x["consistency [95% CI]"] for x in pos)


def test_probe_with_a_pairwise_judge_plots_its_position_bias():
    doc = load("probe-judge")
    sections = {s.anchor: s for s in rendered("probe-judge")}
    pb = sections["probe-prefs-position-bias"]
    assert pb.n_plots == 1
    rows = {r["scorer"]: r for r in table_with(Page(pb.html), "consistency [95% CI]")}
    r = doc["position_bias"]["fake-judge"]
    assert rows["fake-judge"]["consistency [95% CI]"] == ci3(r["consistency"])
    assert rows["fake-judge"]["first-position rate [95% CI]"] == ci3(r["first_position_rate"])
    assert rows["fake-judge"]["pairs"] == str(r["n_pairs"])
    assert "not applicable" in rows["length"]["consistency [95% CI]"]


def test_calibrate_tables_equal_the_json():
    doc = load("calibrate")
    sections = rendered("calibrate")
    page = Page("".join(s.html for s in sections))
    rows = table_with(page, "method", "ECE [95% CI]")
    expected = [(n, m, s) for n, r in doc["scorers"].items() for m, s in r["methods"].items()]
    assert len(rows) == len(expected)
    for row, (n, m, s) in zip(rows, expected):
        assert (row["scorer"], row["method"]) == (n, m)
        assert row["ECE [95% CI]"] == ci3(s["ece"])
        assert row["Brier"] == n3(s["brier"]) and row["log loss"] == n3(s["log_loss"])
    fitted = {(r["scorer"], r["calibrator"]): r for r in table_with(page, "calibrator")}
    for n, r in doc["scorers"].items():
        f = r["fitted"]
        assert fitted[n, "temperature"]["parameters"] == (
            f"temperature = {f['temperature']['temperature']:.4f}"
        )
        assert fitted[n, "platt"]["parameters"] == (
            f"slope = {f['platt']['slope']:.4f}; intercept = {f['platt']['intercept']:.4f}"
        )
        assert f"x: {len(f['isotonic']['x'])} points" in fitted[n, "isotonic"]["parameters"]
    ties = {r["scorer"]: r for r in table_with(page, "held-out acc_eq")}
    for n, r in doc["scorers"].items():
        assert ties[n]["held-out acc_eq"] == n3(r["tie_threshold"]["held_out_acc_eq"])
    # one reliability diagram per scorer, its bins in a table (all bins, empty ones as '-')
    assert [s.n_plots for s in sections[1:]] == [1] * len(doc["scorers"])
    rel = doc["scorers"]["chrF"]["methods"]["temperature"]["reliability"]
    bins = [t for t in Page(sections[1].html).tables if t["headers"][0] == "bin"][1]["rows"]
    assert [b[1] for b in bins] == [str(c) for c in rel["count"]]
    assert [b[2] for b in bins] == [n3(c) for c in rel["confidence"]]
    assert [b[3] for b in bins] == [n3(a) for a in rel["accuracy"]]


def test_overopt_table_equals_the_json_and_marks_peak_and_fall():
    doc = load("overopt")
    (s,) = rendered("overopt")
    assert s.n_plots == 2  # gold vs KL, proxy vs KL
    rows = table_with(Page(s.html), "n", "KL (nats)", "gold [95% CI]")
    assert [r["n"] for r in rows] == [str(n) for n in doc["n"]]
    for i, r in enumerate(rows):
        assert r["KL (nats)"] == n3(doc["kl"][i])
        lo, hi = doc["gold_ci"][0][i], doc["gold_ci"][1][i]
        assert r["gold [95% CI]"] == f"{doc['gold'][i]:.3f} [{lo:.3f}, {hi:.3f}]"
    assert f"peak: n = {doc['peak_n']}" in s.html
    assert f"gold below n = 1 from n = {doc['n_below_start']}" in s.html


def test_quality_tables_equal_the_json():
    doc = load("quality")
    sections = {s.anchor.removeprefix("quality-wmt23-ende-"): s for s in rendered("quality")}
    assert set(sections) == {
        "agreement",
        "human-ceiling",
        "stability",
        "budget",
        "duplicates",
        "suspects",
    }
    a = doc["agreement"]
    stats = table_with(Page(sections["agreement"].html), "statistic", "value [95% CI]")
    assert stats[0]["value [95% CI]"] == ci3(a["krippendorff_alpha_interval"])
    assert stats[1]["value [95% CI]"] == ci3(a["krippendorff_alpha_ordinal"])
    assert stats[2]["value [95% CI]"] == ci3(a["fleiss_kappa_pairwise"])
    raters = table_with(Page(sections["agreement"].html), "rater", "severity [95% CI]")
    for row, (r, x) in zip(raters, a["raters"].items(), strict=True):
        lo, hi = x["severity_ci"]
        assert row["rater"] == r
        assert row["severity [95% CI]"] == f"{x['severity']:.3f} [{lo:.3f}, {hi:.3f}]"
        assert row["attention checks found"] == str(x["attention_checks"])
    c = doc["human_ceiling"]
    ceil = table_with(Page(sections["human-ceiling"].html), "rater", "human (the rater)")
    for row, (r, x) in zip(ceil, c["raters"].items()):
        assert row["rater"] == r
        assert row["human (the rater)"] == ci3(x["human"])
        assert row["chrF"] == ci3(x["chrF"])
    assert ceil[-1]["chrF"] == n3(c["mean_over_raters"]["chrF"])
    st = table_with(Page(sections["stability"].html), "ranked", "SRP")
    assert st[0]["SRP"] == n3(doc["stability"]["systems"]["srp"])
    budget = table_with(Page(sections["budget"].html), "items", "ratings/item")
    assert len(budget) == len(doc["budget"]["rows"])
    for row, b in zip(budget, doc["budget"]["rows"]):
        assert row["items"] == str(b["n_items"])
        assert row["length CI width"] == n3(b["scorers"]["length"]["ci_width"])
        assert row["system pairs sig."] == n3(b["system_pairs_significant"])
    assert sections["budget"].n_plots == 2
    sus = table_with(Page(sections["suspects"].html), "#", "P(other better)")
    for row, r in zip(sus, doc["suspects"]["top"], strict=True):
        assert row["item"] == r["item_id"]
        assert row["P(other better)"] == n3(r["ensemble_p_other_better"])


def test_fit_table_equals_the_json():
    doc = load("fit")
    (s,) = rendered("fit")
    assert s.n_plots == 1
    rows = table_with(Page(s.html), "scorer", "weight (per SD)")
    assert [r["scorer"] for r in rows] == list(doc["scorers"])
    for r in rows:
        n = r["scorer"]
        assert r["pairwise_accuracy [95% CI]"] == ci3(doc["scorers"][n])
        w = doc["weights"].get(n)
        assert r["weight (per SD)"] == n3(w)
        d = doc["combination_minus_scorer"].get(n)
        assert r["combination − scorer [95% CI]"] == (ci3(d) if d else "-")


def test_translation_pairs_leaderboard_equals_the_json_best_first_with_clusters():
    doc = load("translation-pairs")
    (s,) = rendered("translation-pairs")
    page = Page(s.html)
    rows = table_with(page, "scorer", "# all pairs", "all pairs [95% CI]")
    allb = doc["buckets"]["all"]["scorers"]
    assert [r["scorer"] for r in rows] == sorted(allb, key=lambda n: -allb[n]["statistic"])
    for r in rows:
        for b, label in (("all", "all pairs"), ("easy", "easy"), ("hard", "hard")):
            e = doc["buckets"][b]["scorers"][r["scorer"]]
            assert r[f"{label} [95% CI]"] == ci3(e)
            assert r[f"# {label}"] == str(e["cluster"])
    # the corrected p-values of each bucket, folded under the leaderboard
    pv = [t for t in page.tables if t["headers"][0] == "row \\ column"]
    assert len(pv) == 3
    for t, b in zip(pv, ("all", "easy", "hard")):
        sig = doc["buckets"][b]["significance"]
        assert t["headers"][1:] == sig["names"]
        for row, expect in zip(t["rows"], sig["pvalues_corrected"], strict=True):
            assert row[1:] == [n3(x) for x in expect]
    t = next(t for t in page.tables if "# all pairs" in t["headers"])
    for cls, r in zip(t["classes"], rows):
        c = allb[r["scorer"]]["cluster"]
        assert cls.split() == [f"cluster-{c}", "cluster-odd" if c % 2 else "cluster-even"]


# --- hostile names, missing parts --------------------------------------------------------------


def rename(d: dict, old: str, new: str) -> dict:
    return {new if k == old else k: v for k, v in d.items()}


def hostile_docs():
    p = load("probe")
    p["data"] = HOSTILE
    for key in ("scorers", "perturbations", "position_bias"):
        p[key] = rename(p[key], "chrF", HOSTILE)
    p["style"]["scorers"] = rename(p["style"]["scorers"], "chrF", HOSTILE)
    p["perturbations"][HOSTILE] = rename(p["perturbations"][HOSTILE], "filler", HOSTILE)
    c = load("calibrate")
    c["scorers"] = rename(c["scorers"], "chrF", HOSTILE)
    c["scorers"][HOSTILE]["methods"] = rename(c["scorers"][HOSTILE]["methods"], "platt", HOSTILE)
    f = load("fit")
    f["scorers"] = rename(f["scorers"], "chrF", HOSTILE)
    f["weights"] = rename(f["weights"], "chrF", HOSTILE)
    f["statistic"] = HOSTILE
    t = load("translation-pairs")
    for b in t["buckets"].values():
        b["scorers"] = rename(b["scorers"], "chrF", HOSTILE)
    t["notes"] = [HOSTILE]
    q = load("quality")
    q["agreement"]["raters"] = rename(q["agreement"]["raters"], "rater1", HOSTILE)
    q["human_ceiling"]["raters"] = rename(q["human_ceiling"]["raters"], "rater1", HOSTILE)
    q["suspects"]["top"][0]["item_id"] = HOSTILE
    o = load("overopt")
    o["proxy_scorer"] = HOSTILE
    return [p, c, f, t, q, o]


@pytest.mark.parametrize("doc", hostile_docs(), ids=lambda d: d["kind"])
def test_hostile_names_are_escaped_everywhere(doc):
    sections = list(walk(pitfall_sections(doc)))
    text = "".join(s.html for s in sections)
    assert "<script" not in text
    assert "&lt;script&gt;" in text
    page = Page(text)
    assert page.scripts == 0
    assert page.n_plots == sum(s.n_plots for s in sections)
    assert HOSTILE in "".join(page.text)  # shown as text, not dropped
    # in the plots as it is: no mathtext (the svg's <title> aside, its text elements)
    assert any(HOSTILE in t for t in page.svg_text)
    if doc["kind"] != "overopt":  # there the proxy's name is in the note and the plots
        assert any(HOSTILE in c for t in page.tables for r in t["rows"] for c in r)
    for s in sections:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", s.anchor)


def test_missing_optional_parts_give_tables_without_plots():
    # calibrate without reliability data
    c = load("calibrate")
    for r in c["scorers"].values():
        for s in r["methods"].values():
            del s["reliability"]
        del r["tie_threshold"]
    secs = list(walk(pitfall_sections(c)))
    assert sum(s.n_plots for s in secs) == 0
    assert "no reliability data" in secs[1].html
    assert table_with(page_of(c), "ECE [95% CI]")
    # overopt with a single n: a table, no curve
    o = load("overopt")
    for k in ("n", "kl", "gold", "proxy"):
        o[k] = o[k][:1]
    o["gold_ci"] = [x[:1] for x in o["gold_ci"]]
    o["proxy_ci"] = [x[:1] for x in o["proxy_ci"]]
    (s,) = pitfall_sections(o)
    assert s.n_plots == 0 and Page(s.html).n_svg == 0
    assert len(table_with(Page(s.html), "n", "gold [95% CI]")) == 1
    assert "no curve" in s.html
    # ... or with its lists missing or short: the rows that are there, '-' where not
    o = load("overopt")
    del o["proxy"], o["proxy_ci"]
    o["gold"] = o["gold"][:3]
    (s,) = pitfall_sections(o)
    assert s.n_plots == 1  # gold only
    rows = table_with(Page(s.html), "n", "gold [95% CI]", "proxy [95% CI]")
    assert len(rows) == len(o["n"])
    assert rows[2]["gold [95% CI]"].startswith(n3(o["gold"][2]) + " [")
    assert rows[3]["gold [95% CI]"] == "-" and rows[0]["proxy [95% CI]"] == "-"
    # fit whose statistics are all missing
    f = load("fit")
    for e in f["scorers"].values():
        e["statistic"] = None
    (s,) = pitfall_sections(f)
    assert s.n_plots == 0
    assert {r["pairwise_accuracy [95% CI]"] for r in table_with(Page(s.html), "scorer")} == {"-"}
    # quality with only the stability part; budget with one item count
    q = load("quality")
    q["parts"] = ["stability", "budget"]
    for k in ("agreement", "human_ceiling", "duplicates", "near_duplicates", "suspects"):
        del q[k]
    q["budget"]["rows"] = [r for r in q["budget"]["rows"] if r["n_items"] == 104]
    secs = pitfall_sections(q)
    assert [s.anchor for s in secs] == ["quality-wmt23-ende-stability", "quality-wmt23-ende-budget"]
    assert [s.n_plots for s in secs] == [0, 0]
    assert len(table_with(Page(secs[1].html), "items")) == 3
    # perturbations whose flip rates are all missing: the table, no plot
    p = load("probe")
    for per in p["perturbations"].values():
        for r in per.values():
            r["flip_rate"]["statistic"] = None
    pert = next(s for s in pitfall_sections(p) if s.anchor.endswith("perturbations"))
    assert pert.n_plots == 0 and Page(pert.html).n_svg == 0
    assert len(table_with(Page(pert.html), "flip rate [95% CI]")) == 6
    # a budget whose CI widths are all missing: the significance curve only
    q = load("quality")
    for r in q["budget"]["rows"]:
        for x in r["scorers"].values():
            x["ci_width"] = None
    budget = next(s for s in pitfall_sections(q) if s.anchor.endswith("budget"))
    assert budget.n_plots == Page(budget.html).n_svg == 1
    assert "CI width of each scorer&#x27;s statistic: fewer than two points" in budget.html
    # probe without perturbations, style or a pairwise judge: length bias only
    p = load("probe")
    p["perturbations"], p["style"], p["position_bias"] = {}, None, {}
    secs = pitfall_sections(p)
    assert [s.anchor for s in secs] == ["probe-ted-ende-length-bias"]
    # ... and with no statistic at all: the table, no plot
    for r in p["scorers"].values():
        for v in r.values():
            if isinstance(v, dict):
                v["statistic"] = None
    (s,) = pitfall_sections(p)
    assert s.n_plots == 0 and table_with(Page(s.html), "accuracy [95% CI]")
    # an empty quality document says so
    (s,) = pitfall_sections({"kind": "quality", "data": "d", "parts": []})
    assert s.n_plots == 0 and "No quality part" in s.html


def test_style_per_domain_table_when_the_data_has_domains():
    p = load("probe")
    r = p["style"]["scorers"]["chrF"]
    one = r["domains"]["all"]
    r["domains"] = {"chat": one, "code": copy.deepcopy(one)}
    r["domains"]["code"]["hard"]["statistic"] = 0.123456
    page = page_of(p)
    rows = table_with(page, "domain", "hard")
    assert [x["domain"] for x in rows] == ["chat", "code"]
    assert rows[1]["hard"].startswith("0.123 [")


def test_anchors_stay_unique_when_names_slug_alike():
    c = load("calibrate")
    c["scorers"] = {"a b": c["scorers"]["chrF"], "a-b": c["scorers"]["length"]}
    anchors = [s.anchor for s in walk(pitfall_sections(c))]
    assert anchors == [
        "calibrate-ted-ende-calibration",
        "calibrate-ted-ende-reliability-a-b",
        "calibrate-ted-ende-reliability-a-b-2",
    ]


def variants_missing_one_field(doc):
    """The document with one field (top level, or one level down) removed or null."""
    for k in [k for k in doc if k != "kind"]:
        for missing in ("del", None):
            d = copy.deepcopy(doc)
            if missing == "del":
                del d[k]
            else:
                d[k] = None
            yield f"{k}={missing}", d
        if isinstance(doc[k], dict):
            for k2 in doc[k]:
                d = copy.deepcopy(doc)
                del d[k][k2]
                yield f"{k}.{k2}=del", d


@pytest.mark.parametrize("name", NAMES)
def test_a_missing_field_never_raises_and_plots_stay_counted(name, monkeypatch):
    # matplotlib is stubbed out (speed): this is about the renderers' logic
    import overcoat.report.html_pitfalls as hp

    monkeypatch.setattr(hp, "figure", lambda *a, **k: (MagicMock(), MagicMock()))
    monkeypatch.setattr(hp, "svg_of", lambda fig, title: '<svg class="plot"></svg>')
    for what, doc in variants_missing_one_field(load(name)):
        sections = list(walk(pitfall_sections(doc)))
        assert sections, what
        for s in sections:
            assert Page(s.html).n_plots == s.n_plots, (what, s.anchor)
