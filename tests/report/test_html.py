"""The HTML report (report/html.py) without a browser: a well-formed, offline page; hostile
scorer names escaped; the leaderboard and p-value tables hold the documents' numbers; the marks
of the terminal (clusters, ○, ⚑, partial coverage); byte-identical output; the commands."""

import copy
import json
import math
import re
from html.parser import HTMLParser

import pytest

from overcoat.cli import main
from overcoat.report.html import (
    load_docs,
    n_plots,
    page_sections,
    render_report,
    sections_for,
    write_report,
)

VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr", "source"}


class Page(HTMLParser):
    """Tags checked for nesting; ids; links; every table as rows of cell texts (with the
    classes of each row and whether a cell was bold)."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.ids, self.links, self.tags = [], [], [], [], []
        self.tables, self.text = [], []
        self._cell = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if "id" in a:
            self.ids.append(a["id"])
        for k in ("src", "href", "xlink:href", "action", "data"):
            if k in a:
                self.links.append(a[k])
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "table":
            self.tables.append({"caption": "", "rows": [], "classes": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
            self.tables[-1]["classes"].append(a.get("class") or "")
        elif tag in ("td", "th") and self.tables:
            self._cell = {"text": "", "bold": False}
        elif tag == "b" and self._cell is not None:
            self._cell["bold"] = True
        elif tag == "caption":
            self._cell = {"text": "", "bold": False, "caption": True}

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if "id" in dict(attrs):
            self.ids.append(dict(attrs)["id"])

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()
        if tag in ("td", "th") and self._cell is not None and self.tables:
            self.tables[-1]["rows"][-1].append(self._cell)
            self._cell = None
        elif tag == "caption" and self._cell is not None:
            self.tables[-1]["caption"] = self._cell["text"]
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell["text"] += data

    def table(self, caption_start):
        found = [t for t in self.tables if t["caption"].startswith(caption_start)]
        assert found, f"no table captioned {caption_start!r}"
        return found


def _well_formed(text):
    page = Page(text)
    assert page.errors == [] and page.stack == []
    return page


def test_page_is_well_formed_self_contained_and_offline(docs):
    text = render_report(docs, command_line="overcoat run")
    page = _well_formed(text)
    assert text.startswith("<!DOCTYPE html>")
    tags = {t for t, _ in page.tags}
    assert not tags & {"script", "link", "iframe", "img", "object", "embed"}
    # no URL of any kind: links are in-page anchors, each pointing at an element that exists
    assert all(link.startswith("#") for link in page.links), page.links
    assert {link[1:] for link in page.links} <= set(page.ids)
    assert not re.search(r"https?:|file:|data:|url\((?!#)|@import|//[a-z]", text)
    assert len(page.ids) == len(set(page.ids))  # ids unique, also across the inline SVGs
    # a table of contents with every section, and the print stylesheet
    toc = [a["href"][1:] for t, a in page.tags if t == "a"]
    sections = page_sections(docs)
    assert toc == [s.anchor for top in sections for s in [top, *top.subsections]]
    # the stylesheet inlined as written (not HTML-escaped: quotes in font names stay quotes)
    from importlib.resources import files

    css = (files("overcoat.report") / "templates" / "report.css").read_text(encoding="utf-8")
    assert css in text and '"Liberation Sans"' in css
    assert "@media print" in text
    # one <svg class="plot"> per counted plot, each with an accessible name
    plots = [a for t, a in page.tags if t == "svg" and "plot" in a.get("class", "")]
    assert len(plots) == n_plots(sections) >= 4
    assert all(a.get("role") == "img" and a.get("aria-label") for a in plots)


def _rename(doc, old, new):
    """Rename scorer ``old`` everywhere in a meta-eval document."""
    for s in doc["scorers"]:
        if s["name"] == old:
            s["name"] = new
    for level in ("segment_level", "system_level", "benchmark_rules"):
        if old in (doc.get(level) or {}):
            doc[level] = {new if k == old else k: v for k, v in doc[level].items()}
    sig = doc.get("significance")
    if sig:
        sig["names"] = [new if n == old else n for n in sig["names"]]
        sig["clusters"] = [[new if n == old else n for n in c] for c in sig["clusters"]]
    rk = doc.get("ranking")
    if rk:
        rk["at_no_signal"] = {
            k: [new if n == old else n for n in v] for k, v in rk["at_no_signal"].items()
        }


HOSTILE = '<script>alert("x")</script> $\\alpha$ & co'


def test_hostile_scorer_names_are_escaped(docs):
    ted = docs[0]
    _rename(ted, "BLEU", HOSTILE)
    _rename(docs[1], "length", "<img src=x onerror=alert(1)>")
    ted["data"]["name"] = "<b>ted</b>"
    text = render_report(docs)
    page = _well_formed(text)
    assert not {t for t, _ in page.tags} & {"script", "img"}
    assert "<script>" not in text and "<img" not in text and "<b>ted</b>" not in text
    # the name is shown as text: in the tables, the plots (SVG text, mathtext off) and the TOC
    shown = "".join(page.text)
    assert shown.count(HOSTILE) >= 4  # leaderboard row, system row, p-value table, signature table
    lb = Page(text).table("Segment level")[0]
    assert HOSTILE in [r[1]["text"] for r in lb["rows"][1:]]
    # the data set's name too: in the headings, the contents and the plots' accessible names
    assert "<b>ted</b>: meta-evaluation" in page.text
    assert any(
        a.get("aria-label", "").startswith("<b>ted</b>: ") for t, a in page.tags if t == "svg"
    )
    svg_text = re.findall(r"<text[^>]*>([^<]*)</text>", text)
    assert any("&lt;script&gt;" in t and "$\\alpha$" in t for t in svg_text)


def _stat(cell):
    """'0.1234 [0.0100, 0.2000] ○' -> (0.1234, 0.01, 0.2) (None for '-')."""
    nums = re.findall(r"-?\d+\.\d+", cell)
    return [float(x) for x in nums] if nums else None


def _rounded(x):
    return None if x is None else round(float(x), 4)


def test_leaderboard_table_numbers_equal_the_json(docs):
    for doc in docs:
        text = render_report([doc])
        lb = Page(text).table("Segment level")[0]
        head = [c["text"] for c in lb["rows"][0]]
        rows = [[c["text"] for c in r] for r in lb["rows"][1:]]
        primary = doc["primary_statistic"]
        seg = doc["segment_level"]
        # order: best first by the primary statistic (undefined last), as the terminal
        by_stat = sorted(
            doc["scorers"],
            key=lambda s: (
                -(
                    seg[s["name"]][primary]["statistic"]
                    if seg[s["name"]][primary]["statistic"] is not None
                    else -math.inf
                )
            ),
        )
        assert [r[1] for r in rows] == [s["name"] for s in by_stat]
        clusters = {s["name"]: s.get("cluster") for s in doc["scorers"]}
        stat_of_column = {}
        for j, h in enumerate(head):
            for name in {k for v in seg.values() for k in v}:
                from overcoat.report.console import LABELS

                if h == f"{LABELS.get(name, name)} [95% CI]":
                    stat_of_column[j] = name
        assert primary in stat_of_column.values()
        assert len(stat_of_column) == len(
            {k for v in seg.values() for k in v} - ({"acc_eq"} if primary != "acc_eq" else set())
        )
        checked = 0
        for r in rows:
            name = r[1]
            assert r[0] == str(clusters[name] or "")
            for j, stat in stat_of_column.items():
                e = seg[name].get(stat) or {}
                want = [e.get("statistic")] + list(e.get("confidence_interval") or [])
                want = [_rounded(x) for x in want if x is not None]
                got = _stat(r[j])
                assert (got or []) == want, (name, stat, r[j])
                checked += len(want)
            if "acc_eq" in seg[name] and primary != "acc_eq":
                a = seg[name]["acc_eq"]
                i = head.index("acc_eq (tie-cal.)")
                assert float(r[i]) == _rounded(a["statistic"])
                assert float(r[head.index("ε")]) == round(a["epsilon"], 3)
                base = r[head.index("all-ties baseline")]
                assert float(base.split()[0]) == _rounded(a["all_ties_baseline"])
                assert base.endswith("⚑") == bool(a["all_ties"])
        assert checked >= 3 * len(rows)


def test_leaderboard_marks_as_the_terminal(docs):
    ted = docs[0]
    primary = ted["primary_statistic"]
    no_signal = set(ted["ranking"]["at_no_signal"].get(primary, []))
    assert no_signal  # length and random on TED
    name = ted["scorers"][0]["name"]
    ted["scorers"][0]["coverage"] = {"scored": 100, "total": 120}
    text = render_report([ted])
    lb = Page(text).table("Segment level")[0]
    head = [c["text"] for c in lb["rows"][0]]
    assert head[-1] == "scored"
    for r, cls in zip(lb["rows"][1:], lb["classes"][1:]):
        n = r[1]["text"]
        assert r[2]["text"].endswith("○") == (n in no_signal)
        assert ("degenerate" in cls.split()) == (n in no_signal)
        assert r[-1]["text"] == (
            "100/120" if n == name else "{0}/{0}".format(ted["data"]["n_responses"])
        )
        assert ("partial" in cls.split()) == (n == name)
        c = next(s["cluster"] for s in ted["scorers"] if s["name"] == n)
        assert f"cluster-{c}" in cls.split()
    assert "(partial)" in text  # on the plot's label
    # acc_eq as the ranking statistic: the all-ties flag greys the row and marks the plot
    ted["primary_statistic"] = "acc_eq"
    ted["segment_level"][name]["acc_eq"]["all_ties"] = True
    text = render_report([ted])
    lb = Page(text).table("Segment level")[0]
    flagged = [r[1]["text"] for r, c in zip(lb["rows"][1:], lb["classes"][1:]) if "degenerate" in c]
    assert name in flagged
    assert re.search(re.escape(name) + r" \(partial\) ⚑</text>", text)


def test_significance_table_holds_the_corrected_pvalues(docs):
    ted = docs[0]
    sig = ted["significance"]
    text = render_report([ted])
    t = Page(text).table(f"{sig['correction']}-corrected p-values")[0]
    assert [c["text"] for c in t["rows"][0]][1:] == sig["names"]
    n_bold = 0
    for i, row in enumerate(t["rows"][1:]):
        assert row[0]["text"] == sig["names"][i]
        for j, cell in enumerate(row[1:]):
            p = sig["pvalues_corrected"][i][j]
            if i == j:
                assert cell["text"] == "-"
                continue
            assert float(cell["text"]) == round(p, 3)
            assert cell["bold"] == (p <= sig["alpha"])
            n_bold += cell["bold"]
    assert n_bold >= 1
    # the clusters line names every cluster's members
    for k, members in enumerate(sig["clusters"]):
        assert f"{k + 1}: {', '.join(members)}" in "".join(Page(text).text)


def test_benchmark_breakdown_per_subset(docs):
    hh = docs[1]
    hh["benchmark_rules"] = {
        "length": {
            "rule": "RewardBench v1",
            "overall": 0.61,
            "sections": {"chat": 0.7, "safety": 0.52},
            "subsets": {"alpacaeval-easy": 0.75, "donotanswer": 0.5},
            "subset_counts": {"alpacaeval-easy": 100, "donotanswer": 136},
        },
        "random": {
            "rule": "RewardBench v1",
            "overall": 0.5,
            "sections": {"chat": 0.49, "safety": 0.51},
            "subsets": {"alpacaeval-easy": 0.48, "donotanswer": 0.52},
            "subset_counts": {"alpacaeval-easy": 100, "donotanswer": 136},
        },
    }
    text = render_report([hh])
    page = Page(text)
    t = page.table("RewardBench v1: subsets")[0]
    rows = [[c["text"] for c in r] for r in t["rows"]]
    assert rows[0] == ["subsets", "n", "length", "random"]
    assert rows[1] == ["alpacaeval-easy", "100", "0.7500", "0.4800"]
    assert rows[2] == ["donotanswer", "136", "0.5000", "0.5200"]
    overall = [[c["text"] for c in r] for r in page.table("RewardBench v1: overall")[0]["rows"]]
    assert overall[1:] == [["length", "0.6100"], ["random", "0.5000"]]
    assert text.count('class="plot"') == n_plots(page_sections([hh])) == 4  # + sections, subsets


def test_output_is_deterministic(docs, tmp_path):
    a = render_report(docs, command_line="overcoat x")
    b = render_report(copy.deepcopy(docs), command_line="overcoat x")
    assert a == b
    write_report(docs, tmp_path / "one")
    write_report(docs, tmp_path / "two")
    assert (tmp_path / "one" / "index.html").read_bytes() == (
        tmp_path / "two" / "index.html"
    ).read_bytes()


def test_reproducibility_block(docs):
    text = render_report(docs, command_line="overcoat run --seed 3")
    page = Page(text)
    shown = "".join(page.text)
    assert "overcoat run --seed 3" in shown
    for doc in docs:
        sigs = page.table(f"{doc['data']['name']}: scorers")[0]
        rows = {r[0]["text"]: r[1]["text"] for r in sigs["rows"][1:]}
        assert rows == {s["name"]: s["signature"] for s in doc["scorers"]}
        st = page.table(f"{doc['data']['name']}: settings")[0]
        rows = {r[0]["text"]: r[1]["text"] for r in st["rows"][1:]}
        assert rows["seed"] == str(doc["settings"]["seed"])
        assert rows["n_resamples"] == str(doc["settings"]["n_resamples"])
        data = page.table(f"{doc['data']['name']}: data")[0]
        rows = {r[0]["text"]: r[1]["text"] for r in data["rows"][1:]}
        assert rows["data_hash"] == doc["data"]["data_hash"]
        assert rows["data_hash"].startswith("sha256:")


def test_report_command_renders_run_json(docs, tmp_path, capsys):
    run = {
        "datasets": ["ted-ende", "hh-harmless"],
        "results": {"ted-ende": docs[0], "hh-harmless": docs[1]},
    }
    (tmp_path / "run.json").write_text(json.dumps(run))
    (tmp_path / "one.json").write_text(json.dumps(docs[0]))
    out = tmp_path / "rep"
    assert (
        main(["report", str(tmp_path / "run.json"), str(tmp_path / "one.json"), "--out", str(out)])
        == 0
    )
    assert f"wrote {out / 'index.html'}" in capsys.readouterr().out.replace("\n", "")
    text = (out / "index.html").read_text()
    page = _well_formed(text)
    # three documents: ted-ende twice (anchors made unique), hh-harmless once
    assert "metaeval-ted-ende" in page.ids and "metaeval-ted-ende-2" in page.ids
    assert "metaeval-hh-harmless" in page.ids
    assert text == render_report(
        load_docs([tmp_path / "run.json", tmp_path / "one.json"]),
        command_line=f"overcoat report {tmp_path / 'run.json'} {tmp_path / 'one.json'} --out {out}",
    )


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"segment_level": ', "line 1: invalid JSON"),
        ("[1, 2]", "not a meta-eval, pitfall or run.json document"),
        ('{"kind": "generate"}', "a 'generate' document"),
        ('{"results": {"x": {"a": 1}}}', "'results' does not hold meta-eval documents"),
        ('{"segment_level": {}, "scorers": [], "data": {"name": "x"}}', "field 'system_level'"),
        (
            '{"segment_level": {}, "scorers": [{"n": 1}], "data": {"name": "x"}, "system_level": {},'
            ' "settings": {}, "primary_statistic": "pearson"}',
            "an entry without a 'name'",
        ),
        (
            '{"segment_level": {"a": {"pearson": 3}}, "scorers": [{"name": "a"}], "data": {"name": "x"},'
            ' "system_level": {}, "settings": {}, "primary_statistic": "pearson"}',
            "malformed document",
        ),
        ("\udcff", "not UTF-8"),
    ],
)
def test_bad_json_one_line_exit_2_nothing_written(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.json"
    if content == "\udcff":
        bad.write_bytes(b"\xff\xfe{")
    else:
        bad.write_text(content)
    out = tmp_path / "rep"
    assert main(["report", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"overcoat: error: {bad}") and message in err and "\n" not in err
    assert not (out / "index.html").exists() and not list(tmp_path.glob("rep/*"))


def test_report_folder_checked_before_work(tmp_path, capsys):
    code = main(
        ["meta-eval", "-d", "ted-ende", "-s", "length", "--report", "/proc/overcoat-rep", "-q"]
    )
    assert code == 2
    assert "/proc/overcoat-rep" in capsys.readouterr().err


def test_meta_eval_and_compare_write_a_report(tmp_path, capsys):
    base = ["-d", "hh-harmless", "-s", "length", "-s", "random", "--resamples", "20", "-q"]
    assert (
        main(
            [
                "meta-eval",
                *base,
                "--report",
                str(tmp_path / "m"),
                "--json",
                str(tmp_path / "m.json"),
            ]
        )
        == 0
    )
    assert main(["compare", *base, "--report", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out.replace("\n", "")
    for d in ("m", "c"):
        assert f"wrote {tmp_path / d / 'index.html'}" in out
        _well_formed((tmp_path / d / "index.html").read_text())
    m = (tmp_path / "m" / "index.html").read_text()
    # the page shows the command line; from the same JSON, the same page
    assert "overcoat meta-eval -d hh-harmless" in m
    doc = json.loads((tmp_path / "m.json").read_text())
    cmd = re.search(r"<code>(overcoat meta-eval[^<]*)</code>", m).group(1)
    import html as _html

    assert render_report([doc], command_line=_html.unescape(cmd)) == m
    assert "Significance" in (tmp_path / "c" / "index.html").read_text()


def test_run_writes_the_report_by_default(tmp_path, capsys, monkeypatch):
    from overcoat import api

    real_load = api.load

    def sliced(spec, **kw):
        ds = real_load(spec, **kw)
        return ds.filter_items(ds.items.column("item_id").to_pylist()[:8])

    monkeypatch.setattr(api, "load", sliced)
    assert (
        main(["run", "--out-dir", str(tmp_path / "a"), "--resamples", "20", "-j", "1", "-q"]) == 0
    )
    out = capsys.readouterr().out.replace("\n", "")
    report = tmp_path / "a" / "report" / "index.html"
    assert f"wrote {report}" in out
    run = json.loads((tmp_path / "a" / "run.json").read_text())
    text = report.read_text()
    assert text == render_report(
        list(run["results"].values()),
        command_line=re.search(r"<code>([^<]*)</code>", text).group(1),
    )
    assert (
        main(
            [
                "run",
                "--out-dir",
                str(tmp_path / "b"),
                "--resamples",
                "20",
                "-j",
                "1",
                "-q",
                "--no-report",
            ]
        )
        == 0
    )
    assert (tmp_path / "b" / "run.json").exists() and not (tmp_path / "b" / "report").exists()


def test_unknown_document_kind_is_an_error():
    from overcoat.errors import OvercoatError

    with pytest.raises(OvercoatError, match="no HTML view"):
        sections_for({"kind": "generate"})


def test_pitfall_commands_write_a_report(tmp_path, capsys):
    """The pitfall documents go to html_pitfalls (its own tests check the sections)."""
    rep = tmp_path / "p"
    assert (
        main(
            [
                "probe",
                "-d",
                "hh-harmless",
                "-s",
                "length",
                "--resamples",
                "20",
                "-q",
                "--report",
                str(rep),
            ]
        )
        == 0
    )
    text = (rep / "index.html").read_text()
    _well_formed(text)
    assert 'class="plot"' in text


def test_reproducibility_of_a_pitfall_document():
    """Its settings (top-level scalars) and its scorers' signatures, escaped."""
    from overcoat.report.html import _repro

    doc = {
        "kind": "probe",
        "data": "hh-harmless",
        "seed": 7,
        "n_resamples": 50,
        "signatures": {"<b>x</b>": "length|unit:words"},
        "scorers": {"<b>x</b>": {"accuracy": {"statistic": 0.5}}},
    }
    page = Page(_repro([doc], None).html)
    st = {
        r[0]["text"]: r[1]["text"] for r in page.table("probe hh-harmless: settings")[0]["rows"][1:]
    }
    assert st == {"kind": "probe", "data": "hh-harmless", "seed": "7", "n_resamples": "50"}
    sig = page.table("probe hh-harmless: scorers")[0]["rows"][1:]
    assert [[c["text"] for c in r] for r in sig] == [["<b>x</b>", "length|unit:words"]]
    assert "<b>x</b>" not in _repro([doc], None).html
