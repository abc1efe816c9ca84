"""``overcoat leaderboard --report`` (report/html_store.py): the results store's leaderboard as an
HTML page: well-formed and offline, every scorer with its value and CI written as the terminal
writes them, a dot plot per data set and statistic (best first), the history with --all-runs,
hostile names escaped, the empty store, and ``overcoat report`` on the --json export giving the
same sections."""

import json
import re

import pytest
from test_html import _well_formed

from overcoat.cli import main
from overcoat.report.html import n_plots, page_sections
from overcoat.report.store import ResultRow, ResultsStore, RunRecord

BOLD = "<b>bold</b>"


def _run(when, data, dhash, rows, seed=0, stat="acc"):
    return RunRecord(
        command="meta-eval",
        command_line=f"overcoat meta-eval -d {data} --seed {seed}",
        overcoat_version="0.0.test",
        data_name=data,
        data_hash=dhash,
        data={"name": data},
        settings={"seed": seed},
        seed=seed,
        results=[
            ResultRow(
                scorer=name,
                signature=sig,
                level="segment",
                statistic=stat,
                value=v,
                ci_low=lo,
                ci_high=hi,
                cluster=cl,
                rank=rk,
                n=40,
                headline=True,
            )
            for name, sig, v, lo, hi, cl, rk in rows
        ],
        created_utc=when,
    )


def store_with_three_runs(path):
    """Three runs: d1 on Jan 1 (three scorers, one without a value), d1 again on Jan 2 (length
    only, a new value), d2 on Jan 3 (a negative correlation). Also the browser test's."""
    ResultsStore(path).record(
        [
            _run(
                "2026-01-01T10:00:00.000000+00:00",
                "d1",
                "sha256:aaaa1111",
                [
                    (BOLD, "bold|1", 0.6, 0.5, 0.7, 1, 1),
                    ("length", "length|unit:words", 0.4, 0.3, 0.5, 2, 2),
                    ("undef", "undef|1", None, None, None, None, None),
                ],
            ),
            _run(
                "2026-01-02T10:00:00.000000+00:00",
                "d1",
                "sha256:aaaa1111",
                [("length", "length|unit:words", 0.45, 0.35, 0.55, 1, 1)],
                seed=1,
            ),
            _run(
                "2026-01-03T10:00:00.000000+00:00",
                "d2",
                "sha256:bbbb2222",
                [("length", "length|unit:words", -0.1, -0.2, 0.0, 1, 1)],
                stat="pearson",
            ),
        ]
    )
    return path


@pytest.fixture
def store(tmp_path):
    return store_with_three_runs(tmp_path / "results.sqlite")


def _cli(args, capsys):
    code = main(args)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def _leaderboard(tmp_path, store, capsys, *extra):
    out = tmp_path / "lb"
    code, term, err = _cli(
        ["leaderboard", "--store", str(store), "--report", str(out), *extra], capsys
    )
    assert code == 0, err
    term = " ".join(term.split())  # as one line (the terminal wraps long lines)
    assert f"wrote {out / 'index.html'}" in term
    text = (out / "index.html").read_text(encoding="utf-8")
    return text, term


def _rows(page, caption_start):
    (t,) = page.table(caption_start)
    return [[c["text"] for c in r] for r in t["rows"][1:]]


def _plots(page):
    return [a for t, a in page.tags if t == "svg" and "plot" in a.get("class", "")]


# the values as the terminal writes them (4 decimals, en dash where undefined), by hand
LATEST_D1 = [
    (BOLD, "0.6000 [0.5000, 0.7000]", "1"),
    ("length", "0.4500 [0.3500, 0.5500]", "1"),  # the Jan 2 run, not Jan 1's 0.4000
    ("undef", "–", ""),
]


def test_page_shows_every_scorer_with_the_terminals_value_and_ci(tmp_path, store, capsys):
    text, term = _leaderboard(tmp_path, store, capsys)
    page = _well_formed(text)
    assert text.startswith("<!DOCTYPE html>")
    assert not {t for t, _ in page.tags} & {"script", "link", "iframe", "img", "object"}
    assert all(link.startswith("#") for link in page.links)
    assert {link[1:] for link in page.links} <= set(page.ids)
    assert len(page.ids) == len(set(page.ids))
    # (the run signature holds "data:d1@sha256:..." as text, not a data: URL)
    assert not re.search(r"https?:|file:|data:[a-z]+/|url\((?!#)", text)
    # d1: latest per scorer, best first, undefined last; every value also in the terminal
    rows = _rows(page, "d1 — acc: latest run per scorer")
    assert [(r[0], r[1], r[2]) for r in rows] == LATEST_D1
    for _, value, _ in LATEST_D1[:2]:
        assert value in term
    # the export's columns: rank, n, date, run id, command, scorer signature
    bold = rows[0]
    assert bold[3:6] == ["1", "40", "2026-01-01 10:00"]
    assert bold[7:] == ["meta-eval", "bold|1"]
    runs = _rows(page, "d1 — acc: runs")
    assert {r[5] for r in runs} == {"0", "1"}  # seeds
    assert bold[6] == next(r[0] for r in runs if r[5] == "0")[:8]
    assert all(r[2].startswith("meta-eval|data:d1@sha256:aaaa1111|seed:") for r in runs)
    assert "overcoat meta-eval -d d1 --seed 1" in {r[3] for r in runs}
    (d2,) = _rows(page, "d2 — pearson: latest run per scorer")
    assert d2[:2] == ["length", "-0.1000 [-0.2000, 0.0000]"] and d2[1] in term
    # one plot per data set and statistic (no history without --all-runs), named
    plots = _plots(page)
    assert len(plots) == 2 == text.count("<svg")
    assert [a["aria-label"] for a in plots] == [
        "d1: acc per scorer with 95% CI (latest run)",
        "d2: pearson per scorer with 95% CI (latest run)",
    ]
    assert "not plotted (acc undefined): undef" in text
    # the dot plot's rows are the table's order (y tick labels are SVG text, top to bottom)
    svg = text[text.index("<svg") : text.index("</svg>")]
    names = ("length", "&lt;b&gt;bold&lt;/b&gt;", "undef")
    ticks = [m for m in re.findall(r"<text[^>]*>([^<]*)</text>", svg) if m in names]
    assert ticks == ["&lt;b&gt;bold&lt;/b&gt;", "length"]
    assert "Leaderboard across runs" in text and "sha256:aaaa1111" in text


def test_a_scorer_name_with_markup_is_escaped(tmp_path, store, capsys):
    text, _ = _leaderboard(tmp_path, store, capsys)
    page = _well_formed(text)
    assert BOLD not in text
    assert "&lt;b&gt;bold&lt;/b&gt;" in text
    assert not any(t == "b" for t, _ in page.tags)
    assert any(BOLD == c["text"] for t in page.tables for r in t["rows"] for c in r)


def test_all_runs_adds_the_history(tmp_path, store, capsys):
    text, term = _leaderboard(tmp_path, store, capsys, "--all-runs")
    page = _well_formed(text)
    hist = _rows(page, "d1 — acc: every run")
    assert [(r[0], r[1], r[5]) for r in hist] == [
        (BOLD, "0.6000 [0.5000, 0.7000]", "2026-01-01 10:00"),
        ("length", "0.4500 [0.3500, 0.5500]", "2026-01-02 10:00"),
        ("length", "0.4000 [0.3000, 0.5000]", "2026-01-01 10:00"),
        ("undef", "–", "2026-01-01 10:00"),
    ]
    assert "0.4000 [0.3000, 0.5000]" in term
    # the latest table as without --all-runs: one row per scorer, best first
    latest = _rows(page, "d1 — acc: latest run per scorer")
    assert [(r[0], r[1], r[2]) for r in latest] == LATEST_D1
    # d1: dot plot and history plot (length has two runs); d2: only the dot plot
    labels = [a["aria-label"] for a in _plots(page)]
    assert labels == [
        "d1: acc per scorer with 95% CI (latest run)",
        "d1: acc per scorer over runs",
        "d2: pearson per scorer with 95% CI (latest run)",
    ]
    # the sections count them (the browser test checks that many rendered)
    assert n_plots(page_sections([_export(tmp_path, store, capsys, "--all-runs")])) == 3


def _export(tmp_path, store, capsys, *extra):
    j = tmp_path / "lb.json"
    code, _, err = _cli(["leaderboard", "--store", str(store), "--json", str(j), *extra], capsys)
    assert code == 0, err
    return json.loads(j.read_text())


def _main_part(text):
    """The page's sections but the reproducibility block (which names the command line)."""
    return text[text.index("<main>") : text.index('<section id="reproducibility"')]


@pytest.mark.parametrize("extra", [[], ["--all-runs"]])
def test_report_on_the_json_export_gives_the_same_sections(tmp_path, store, capsys, extra):
    text, _ = _leaderboard(tmp_path, store, capsys, *extra, "--json", str(tmp_path / "lb.json"))
    doc = json.loads((tmp_path / "lb.json").read_text())
    assert doc["kind"] == "leaderboard" and doc["n_stored"] == 5
    assert doc["data_names"] == ["d1", "d2"] and len(doc["rows"]) == (5 if extra else 4)
    out = tmp_path / "again"
    code, _, err = _cli(["report", str(tmp_path / "lb.json"), "--out", str(out)], capsys)
    assert code == 0, err
    again = (out / "index.html").read_text(encoding="utf-8")
    assert _main_part(again) == _main_part(text)
    assert "<title>overcoat report: leaderboard</title>" in again


def test_an_export_without_the_new_fields_still_renders(tmp_path, store, capsys):
    """Exports written before n_stored / data_names existed: the same rows, the same tables."""
    doc = _export(tmp_path, store, capsys)
    del doc["n_stored"], doc["data_names"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    assert main(["report", str(old), "--out", str(tmp_path / "o")]) == 0
    page = _well_formed((tmp_path / "o" / "index.html").read_text(encoding="utf-8"))
    assert [(r[0], r[1], r[2]) for r in _rows(page, "d1 — acc: latest")] == LATEST_D1


def test_empty_store_is_an_empty_state_page_saying_what_the_terminal_says(tmp_path, capsys):
    store = tmp_path / "none.sqlite"
    text, term = _leaderboard(tmp_path, store, capsys)
    line = f"no results recorded yet in {store}: overcoat run, meta-eval"
    assert line in term and line in text
    page = _well_formed(text)
    assert _plots(page) == [] and "Leaderboard across runs" in text
    assert [t["caption"] for t in page.tables] == ["This report", "leaderboard: settings"]


def test_no_match_says_which_data_sets_there_are(tmp_path, store, capsys):
    text, term = _leaderboard(tmp_path, store, capsys, "--data", "nothing")
    line = "no results match --data nothing in"
    assert line in term and line in text
    assert "data sets recorded: d1, d2" in term and "data sets recorded: d1, d2" in text
    assert _plots(_well_formed(text)) == []


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda d: d["rows"][0].pop("scorer"), "rows[0]: field 'scorer'"),
        (lambda d: d["rows"][1].update(value="high"), "rows[1]: field 'value' is not a number"),
        (lambda d: d.update(rows={}), "field 'rows'"),
    ],
)
def test_a_malformed_export_is_one_line_and_writes_nothing(tmp_path, store, capsys, edit, field):
    doc = _export(tmp_path, store, capsys)
    edit(doc)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    out = tmp_path / "r"
    code, _, err = _cli(["report", str(bad), "--out", str(out)], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and str(bad) in err and field in err, err
    assert not (out / "index.html").exists()


def test_report_dir_is_checked_before_anything_is_written(tmp_path, store, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    j = tmp_path / "lb.json"
    code, _, err = _cli(
        ["leaderboard", "--store", str(store), "--json", str(j), "--report", str(blocker / "d")],
        capsys,
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert not j.exists()
