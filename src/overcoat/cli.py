"""The ``overcoat`` command line: thin — parses, calls the library, prints."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .errors import OvercoatError, SettingError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="overcoat: a reward model is a metric in a trench coat. Score, "
    "meta-evaluate and probe metrics and reward models. Add -v to any "
    "command to see third-party progress bars, notes and logs.",
)
console = Console(width=None if sys.stdout.isatty() else 130)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

DEFAULT_RUN_SCORERS = ["bleu", "chrf", "ter", "length", "random"]


# -- options shared by the pitfall commands (probe, calibrate, overopt, quality, fit) ----------
Resamples = Annotated[int, typer.Option("--resamples", min=1)]
Seed = Annotated[int, typer.Option("--seed")]
JsonOut = Annotated[Path | None, typer.Option("--json", help="write the result as JSON")]
DataMap = Annotated[list[str] | None, typer.Option("--map", help="FIELD=COLUMN (repeatable)")]
Workers = Annotated[int, typer.Option("--workers", "-j", min=1)]
CachePath = Annotated[Path | None, typer.Option("--cache")]
NoCache = Annotated[bool, typer.Option("--no-cache")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q")]
REPORT_HELP = "write an HTML report (DIR/index.html; self-contained, opens from disk)"
ReportDir = Annotated[Path | None, typer.Option("--report", help=REPORT_HELP)]


def _parse_map(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for p in pairs or []:
        k, eq, v = p.partition("=")
        if not eq or not k or not v:
            raise OvercoatError(f"--map expects FIELD=COLUMN, got {p!r}")
        out[k.strip()] = v.strip()
    return out


def _retrying(scorers: dict, retry: bool) -> dict:
    """``--retry-failed``: LLM judges ask again for prompts whose cached answer was unparsable
    (the judge option ``retry_failed=true``; not part of the signature)."""
    if retry:
        for s in scorers.values():
            if hasattr(s, "retry_failed"):
                s.retry_failed = True
    return scorers


ENGINE_HELP = (
    "where batches are scored: local (this machine, --workers processes) or ray (Ray "
    "actors; pip install 'overcoat[ray]')"
)
RAY_ADDRESS_HELP = "--engine ray: 'auto' (join this machine's cluster) or HOST:PORT; default: local"
RAY_ACTORS_HELP = "--engine ray: actors per scorer (default: one per CPU, or per GPU for models)"


def _executor(ctx: typer.Context, engine: str, ray_address: str | None, ray_actors: int | None):
    """The executor of ``--engine`` (``None``: the local engine), connected before any work."""
    import logging

    from . import api

    if engine == "ray" and _typed(ctx, "workers"):
        raise OvercoatError("--workers is for --engine local; use --ray-actors with --engine ray")
    verbose = logging.getLogger("overcoat").getEffectiveLevel() <= logging.INFO
    return api.make_executor(
        engine, ray_address=ray_address, ray_actors=ray_actors, verbose=verbose
    )


def _typed(ctx: typer.Context, param: str) -> bool:
    """Whether the user typed the option ``param`` (not its default)."""
    source = ctx.get_parameter_source(param)
    return source is not None and source.name == "COMMANDLINE"


def _cache_arg(no_cache: bool, cache: Path | None):
    if no_cache:
        return None
    return str(cache) if cache else "default"


#: the arguments main() was called with (the command line the results store records)
_ARGV: list[str] = []

#: ``--store`` / ``--no-store``: the same two options on every command that records its results
STORE_OPTION = typer.Option(
    None,
    "--store",
    help="results store (SQLite) to record into [default: $OVERCOAT_RESULTS_DB, else "
    "$XDG_DATA_HOME/overcoat/results.sqlite or ~/.local/share/overcoat/results.sqlite]",
)
NO_STORE_OPTION = typer.Option(
    False, "--no-store", help="do not record the results in the results store"
)


def _record(command: str, docs: list, store: Path | None, no_store: bool) -> None:
    """After the outputs are written: record ``docs`` ([(JSON document, data set)]) in the results
    store. A failure is a one-line warning; the run's outputs stand."""
    if no_store:
        return
    import shlex

    from . import api

    line = "overcoat " + shlex.join(_ARGV or sys.argv[1:])
    try:
        path, n = api.record_results(command, docs, command_line=line, store=store)
    except Exception as e:  # noqa: BLE001 - never lose a finished run to the store
        what = str(e) if isinstance(e, OvercoatError) else f"{type(e).__name__}: {e}"
        err_console.print(
            f"overcoat: warning: results not recorded in the results store: {' '.join(what.split())}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return
    console.print(f"recorded {n} results in {escape(str(path))} (see overcoat leaderboard)")


@app.command()
def score(
    ctx: typer.Context,
    data: str = typer.Option(
        ...,
        "--data",
        "-d",
        help="data spec: bundled name (ted-ende, ted-zhen, hh-harmless), PATH, or FORMAT:PATH",
    ),
    scorer: list[str] = typer.Option(..., "--scorer", "-s", help="scorer spec (repeatable)"),
    out: Path = typer.Option(..., "--out", "-o", help="scores.parquet | .jsonl | .csv"),
    map_: list[str] | None = typer.Option(None, "--map", help="FIELD=COLUMN (repeatable)"),
    workers: int = typer.Option(1, "--workers", "-j", min=1, help="processes for CPU scorers"),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    cache: Path | None = typer.Option(None, "--cache", help="score cache (SQLite) path"),
    no_cache: bool = typer.Option(False, "--no-cache", help="do not read or write the cache"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="LLM judges: ask again where the cached answer was unparsable"
    ),
    engine: str = typer.Option("local", "--engine", help=ENGINE_HELP),
    ray_address: str | None = typer.Option(None, "--ray-address", help=RAY_ADDRESS_HELP),
    ray_actors: int | None = typer.Option(None, "--ray-actors", min=1, help=RAY_ACTORS_HELP),
):
    """Score every response of a data set with one or more scorers and write the scores."""
    from . import api
    from .data.io import check_output_path
    from .report.writers import score_format, scores_table, write_table

    score_format(out)  # fail on a bad extension or an unwritable path before any work
    check_output_path(out)
    scorers = _retrying(api.resolve_scorers(scorer), retry_failed)
    executor = _executor(ctx, engine, ray_address, ray_actors)
    try:
        ds = api.load(data, mapping=_parse_map(map_))
        t0 = time.perf_counter()
        scored = api.score(
            ds,
            scorers,
            cache=_cache_arg(no_cache, cache),
            workers=1 if executor is not None else workers,
            batch_size=batch_size,
            progress=not quiet,
            executor=executor,
        )
    finally:
        if executor is not None:
            executor.close()
    from .data.scores_file import response_content_hashes

    table = scores_table(
        ds.responses.column("item_id").to_pylist(),
        ds.responses.column("response_id").to_pylist(),
        {n: (scored.signatures[n], scored.scores[n]) for n in scored.scores},
        content_hashes=response_content_hashes(ds),
        higher_is_better=dict(scored.higher_is_better),
    )
    write_table(table, out)
    if not quiet:
        _print_score_summary(scored, time.perf_counter() - t0)
    for st in scored.stats.values():
        for n in st.get("notes", []):
            console.print(f"[yellow]note:[/yellow] {escape(n)}", highlight=False)
    console.print(f"wrote {table.num_rows} scores to {out}")


def _print_score_summary(scored, seconds: float) -> None:
    import numpy as np

    t = Table(
        title=f"{scored.dataset.name}: {scored.dataset.n_items} items, "
        f"{scored.dataset.n_responses} responses ({seconds:.1f} s)"
    )
    for c in ("scorer", "mean", "std", "missing", "cached / distinct", "signature"):
        t.add_column(c, justify="left" if c in ("scorer", "signature") else "right")
    for name, s in scored.scores.items():
        st = scored.stats[name]
        ok = s[~np.isnan(s)]
        t.add_row(
            escape(name),
            f"{ok.mean():.4f}" if len(ok) else "-",
            f"{ok.std():.4f}" if len(ok) else "-",
            str(st["n_missing"])
            + (
                f" ({st['judge']['n_failed']} failed, {st['judge']['n_unparsable']} unparsable)"
                if st.get("judge") and st["n_missing"]
                else ""
            ),
            f"{st['n_cached']}/{st['n_unique']}",
            escape(scored.signatures[name]),
        )
    console.print(t)


@app.command()
def datasets():
    """List the data sets bundled with overcoat (sizes and licenses)."""
    from .data.bundled import bundled_datasets

    t = Table(title="bundled data sets (use as --data NAME)")
    for c in ("name", "description", "size", "license", "source"):
        t.add_column(c)
    for name, b in bundled_datasets().items():
        t.add_row(name, b.description, f"{b.size_bytes() / 1024:.0f} KiB", b.license, b.citation)
    console.print(t)


@app.command("scorers")
def list_scorers():
    """List the scorer specs, whether each is usable in this environment, and what to install
    for the others."""
    from .scorers.registry import available_scorers
    from .scorers.requirements import scorer_status

    t = Table(title="scorer specs (use as --scorer SPEC)")
    t.add_column("spec", no_wrap=True)
    t.add_column("usable", no_wrap=True)
    t.add_column("what", overflow="fold")
    missing = []
    specs = available_scorers()
    for k, h in specs.items():
        ok, why = scorer_status(k)
        if not ok:
            missing.append((k, why))
        t.add_row(escape(k), "yes" if ok else "[yellow]no[/yellow]", escape(h))
    console.print(t)
    console.print(
        f"{len(specs) - len(missing)} of {len(specs)} scorers usable in this environment",
        highlight=False,
    )
    for k, why in missing:
        console.print(f"  {escape(k)}: {escape(why)}", highlight=False, soft_wrap=True)


@app.command("cache")
def cache_cmd(
    cache: Path | None = typer.Option(
        None,
        "--cache",
        help="score cache (SQLite) path; default $OVERCOAT_CACHE or ~/.cache/overcoat",
    ),
    clear: bool = typer.Option(
        False, "--clear", help="delete cached scores (all, or those of --signature)"
    ),
    signature: str | None = typer.Option(
        None, "--signature", help="one scorer signature (or a unique prefix of one) to clear"
    ),
):
    """Show the score cache (size, entries per scorer signature) or clear it."""
    from .scorers.cache import ScoreCache, default_cache_path

    path = cache if cache is not None else default_cache_path()
    if path is None:
        console.print("the score cache is disabled (OVERCOAT_CACHE)", highlight=False)
        return
    if signature is not None and not clear:
        raise OvercoatError("--signature selects what --clear deletes; add --clear")
    if not Path(path).exists():
        console.print(
            f"no score cache at {escape(str(path))} (nothing cached yet)", highlight=False
        )
        return
    from .data.io import check_regular_file

    check_regular_file(path)
    with ScoreCache(path) as store:
        st = store.stats()
        if clear:
            sig = None
            if signature is not None:
                hits = [x for x in st["signatures"] if x == signature] or [
                    x for x in st["signatures"] if x.startswith(signature)
                ]
                if len(hits) != 1:
                    raise OvercoatError(
                        f"--signature {signature!r} matches {len(hits)} of the "
                        f"{len(st['signatures'])} signatures in {path}; give "
                        f"one exactly (see overcoat cache)"
                    )
                sig = hits[0]
            n = store.clear(sig)
            what = f"signature {escape(sig)}" if sig else "all signatures"
            console.print(
                f"deleted {n} cached scores ({what}) from {escape(str(path))}",
                highlight=False,
                soft_wrap=True,
            )
            return
    console.print(
        f"score cache {escape(str(path))}: {st['entries']} scores, "
        f"{st['bytes'] / 1024 / 1024:.1f} MiB, {len(st['signatures'])} signatures",
        highlight=False,
        soft_wrap=True,
    )
    t = Table()
    t.add_column("entries", justify="right")
    t.add_column("scorer signature", overflow="fold")
    for sig, n in sorted(st["signatures"].items(), key=lambda kv: -kv[1]):
        t.add_row(str(n), escape(sig))
    console.print(t)


def _check_json_out(path: Path | None) -> None:
    """--json must be writable before any scoring work is done."""
    if path is not None:
        from .data.io import check_output_path

        check_output_path(path)


def _check_report(report: Path | None) -> None:
    """--report must be writable before any work is done."""
    if report is not None:
        _check_json_out(report / "index.html")


def _write_report(docs: list[dict], report: Path | None) -> None:
    """The HTML report of the command's JSON documents (``overcoat.report.html``)."""
    if report is None:
        return
    from .report.html import write_report

    line = "overcoat " + shlex.join(_ARGV or sys.argv[1:])  # as the results store records it
    path = write_report(docs, report, command_line=line)
    console.print(f"wrote {escape(str(path))}", highlight=False)


def _settings(
    level,
    group,
    ties,
    resamples,
    seed,
    alpha,
    correction,
    ci_method,
    permute="auto",
    alternative="greater",
    spa_seed=None,
):
    from .api import MetaEvalSettings

    st = MetaEvalSettings(
        level=level,
        group=group,
        ties=ties,
        n_resamples=resamples,
        seed=seed,
        alpha=alpha,
        correction=correction,
        ci_method=ci_method,
        permute=permute,
        alternative=alternative,
        spa_seed=spa_seed,
    )
    st.check()
    return st


def _print_result(res, *, matrix: bool = False) -> None:
    from .report.console import (
        benchmark_tables,
        leaderboard_table,
        significance_table,
        system_table,
    )
    from .report.writers import jsonable

    doc = jsonable(res.to_json())
    if doc["segment_level"] and any(doc["segment_level"].values()):
        console.print(leaderboard_table(doc))
    for table in (system_table(doc), *benchmark_tables(doc)):
        if table is not None:
            console.print(table)
    if matrix and doc.get("significance"):
        console.print(significance_table(doc))
    for n in doc["notes"]:
        console.print(f"[yellow]note:[/yellow] {escape(n)}", highlight=False)


@app.command("meta-eval")
def meta_eval(
    data: str = typer.Option(..., "--data", "-d", help="data spec with human judgments"),
    scorer: list[str] = typer.Option(..., "--scorer", "-s", help="scorer spec (repeatable)"),
    level: str = typer.Option("both", help="segment | system | both"),
    group: str = typer.Option("item", help="segment-level grouping: none | item | system"),
    ties: str = typer.Option(
        "calibrated", help="strict | half | calibrated (acc_eq with tie calibration)"
    ),
    dev: str | None = typer.Option(
        None,
        "--dev",
        help="data spec to fit the tie epsilon on; acc_eq is then reported on held-out items",
    ),
    k_folds: int | None = typer.Option(
        None, "--k-folds", min=2, help="also report k-fold cross-fitted tie calibration"
    ),
    resamples: int = typer.Option(1000, "--resamples", min=1, help="bootstrap / permutation draws"),
    seed: int = typer.Option(0, "--seed"),
    alpha: float = typer.Option(0.05, "--alpha"),
    correction: str = typer.Option("holm", help="holm | bh | none"),
    ci_method: str = typer.Option("percentile", "--ci", help="percentile | bca"),
    permute: str = typer.Option(
        "auto",
        "--permute",
        help="significance test: cells (one coin per "
        "score, WMT's test) | items (whole items) | auto (cells for "
        "pointwise data, items for preference pairs)",
    ),
    alternative: str = typer.Option(
        "greater", "--alternative", help="greater (one-sided, WMT) | two-sided"
    ),
    spa_seed: int | None = typer.Option(
        None, "--spa-seed", help="SPA permutation stream (default: mt-metrics-eval's, as in WMT24)"
    ),
    json_out: Path | None = typer.Option(None, "--json", help="write the result as JSON"),
    report: ReportDir = None,
    max_items: int | None = typer.Option(
        None, "--max-items", min=2, help="meta-evaluate a seeded random sample of items"
    ),
    rb_empty: str = typer.Option(
        "official",
        "--rewardbench-empty-sections",
        help="RewardBench v1 sections without data: official (score 0, "
        "averaged in, as reward-bench) | present (mean of the sections "
        "present; not an official number)",
    ),
    prior_sets: str | None = typer.Option(
        None,
        "--prior-sets",
        help="RewardBench v1: data spec of the Prior Sets "
        "(allenai/pref-test-sets rows) for the Prior Sets "
        "score and the older overall score",
    ),
    judgebench_ties: str = typer.Option(
        "judgebench",
        "--judgebench-ties",
        help="JudgeBench: judgebench (its own rule: a tie counts "
        "0) | wrong (a tie counts as a wrong verdict; differs only "
        "with per-order verdicts, see docs)",
    ),
    map_: list[str] | None = typer.Option(None, "--map", help="FIELD=COLUMN (repeatable)"),
    workers: int = typer.Option(1, "--workers", "-j", min=1),
    cache: Path | None = typer.Option(None, "--cache"),
    no_cache: bool = typer.Option(False, "--no-cache"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="LLM judges: ask again where the cached answer was unparsable"
    ),
    store: Path | None = STORE_OPTION,
    no_store: bool = NO_STORE_OPTION,
):
    """Meta-evaluate scorers against human judgments: leaderboard with 95% CIs and clusters."""
    from . import api
    from .report.writers import jsonable, write_json

    st = _settings(
        level,
        group,
        ties,
        resamples,
        seed,
        alpha,
        correction,
        ci_method,
        permute,
        alternative,
        spa_seed,
    )
    st.rewardbench_empty_sections, st.judgebench_ties = rb_empty, judgebench_ties
    st.check()
    _check_json_out(json_out)
    _check_report(report)
    scorers = _retrying(api.resolve_scorers(scorer, allow_pairwise=True), retry_failed)
    ds = api.load(data, mapping=_parse_map(map_))
    if max_items:
        ds = ds.sample_items(max_items, seed=seed)
    c = _cache_arg(no_cache, cache)
    scored = api.score(ds, scorers, cache=c, workers=workers, progress=not quiet)
    dev_scored = None
    if dev:
        dev_scored = api.score(
            api.load(dev, mapping=_parse_map(map_)),
            scorers,
            cache=c,
            workers=workers,
            progress=not quiet,
        )
    prior_scored = None
    if prior_sets:
        prior_scored = api.score(
            api.load(prior_sets, mapping=_parse_map(map_)),
            scorers,
            cache=c,
            workers=workers,
            progress=not quiet,
        )
    res = api.meta_evaluate(scored, st, dev=dev_scored, k_folds=k_folds, prior_sets=prior_scored)
    _print_result(res)
    doc = jsonable(res.to_json())
    if json_out:
        write_json(doc, json_out)
        console.print(f"wrote {json_out}")
    _record("meta-eval", [(doc, ds)], store, no_store)
    _write_report([doc], report)


@app.command()
def compare(
    data: str = typer.Option(..., "--data", "-d"),
    scorer: list[str] = typer.Option(..., "--scorer", "-s", help="two or more scorer specs"),
    ties: str = typer.Option("calibrated", help="strict | half | calibrated"),
    resamples: int = typer.Option(1000, "--resamples", min=1),
    seed: int = typer.Option(0, "--seed"),
    alpha: float = typer.Option(0.05, "--alpha"),
    correction: str = typer.Option("holm", help="holm | bh | none"),
    permute: str = typer.Option(
        "auto",
        "--permute",
        help="significance test: cells (one coin per "
        "score, WMT's test) | items (whole items) | auto (cells for "
        "pointwise data, items for preference pairs)",
    ),
    alternative: str = typer.Option(
        "greater", "--alternative", help="greater (one-sided, WMT) | two-sided"
    ),
    json_out: Path | None = typer.Option(None, "--json"),
    report: ReportDir = None,
    map_: list[str] | None = typer.Option(None, "--map"),
    workers: int = typer.Option(1, "--workers", "-j", min=1),
    cache: Path | None = typer.Option(None, "--cache"),
    no_cache: bool = typer.Option(False, "--no-cache"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    store: Path | None = STORE_OPTION,
    no_store: bool = NO_STORE_OPTION,
):
    """Significance between scorers: paired permutation tests on the segment-level statistic,
    matrix of corrected p-values, and significance clusters."""
    from . import api
    from .report.writers import jsonable, write_json

    if len(scorer) < 2:
        raise OvercoatError("compare needs at least two --scorer")
    st = _settings(
        "segment",
        "item",
        ties,
        resamples,
        seed,
        alpha,
        correction,
        "percentile",
        permute,
        alternative,
    )
    _check_json_out(json_out)
    _check_report(report)
    scorers = api.resolve_scorers(scorer, allow_pairwise=True)
    ds = api.load(data, mapping=_parse_map(map_))
    scored = api.score(
        ds, scorers, cache=_cache_arg(no_cache, cache), workers=workers, progress=not quiet
    )
    res = api.compare(scored, st)
    _print_result(res, matrix=True)
    doc = jsonable(res.to_json())
    if json_out:
        write_json(doc, json_out)
        console.print(f"wrote {json_out}")
    _record("compare", [(doc, ds)], store, no_store)
    _write_report([doc], report)


@app.command()
def run(
    ctx: typer.Context,
    out_dir: Path = typer.Option(Path("overcoat-run"), "--out-dir", help="where JSON goes"),
    report: Path | None = typer.Option(
        None, "--report", help="HTML report folder (default: OUT_DIR/report)"
    ),
    no_report: bool = typer.Option(False, "--no-report", help="write no HTML report"),
    workers: int = typer.Option(2, "--workers", "-j", min=1),
    resamples: int = typer.Option(1000, "--resamples", min=1),
    seed: int = typer.Option(0, "--seed"),
    cache: Path | None = typer.Option(None, "--cache"),
    no_cache: bool = typer.Option(False, "--no-cache"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    store: Path | None = STORE_OPTION,
    no_store: bool = NO_STORE_OPTION,
    engine: str = typer.Option("local", "--engine", help=ENGINE_HELP),
    ray_address: str | None = typer.Option(None, "--ray-address", help=RAY_ADDRESS_HELP),
    ray_actors: int | None = typer.Option(None, "--ray-actors", min=1, help=RAY_ACTORS_HELP),
):
    """The main job on the bundled data: TED en-de and zh-en (BLEU, chrF, TER, length, random)
    and HH-RLHF harmless pairs (length, random) -> leaderboards with CIs and clusters, JSON, and
    an HTML report (OUT_DIR/report/index.html)."""
    from . import api
    from .data.io import check_output_path
    from .report.writers import jsonable, write_json

    for name in ("ted-ende", "ted-zhen", "hh-harmless"):
        check_output_path(out_dir / f"{name}.meta-eval.json")
    check_output_path(out_dir / "run.json")
    report_dir = None if no_report else (report or out_dir / "report")
    _check_report(report_dir)
    executor = _executor(ctx, engine, ray_address, ray_actors)
    t0 = time.perf_counter()
    c = _cache_arg(no_cache, cache)
    summary = {}
    recorded: list = []
    try:
        for name in ("ted-ende", "ted-zhen", "hh-harmless"):
            ds = api.load(name)
            specs = DEFAULT_RUN_SCORERS if ds.has_references() else ["length", "random"]
            scored = api.score(
                ds,
                specs,
                cache=c,
                workers=1 if executor is not None else workers,
                progress=not quiet,
                executor=executor,
            )
            st = api.MetaEvalSettings(n_resamples=resamples, seed=seed)
            res = api.meta_evaluate(scored, st)
            _print_result(res)
            doc = jsonable(res.to_json())
            write_json(doc, out_dir / f"{name}.meta-eval.json")
            summary[name] = doc
            recorded.append((doc, ds))
    finally:
        if executor is not None:
            executor.close()
    write_json(
        {
            "datasets": list(summary),
            "results": summary,
            "seconds": round(time.perf_counter() - t0, 2),
        },
        out_dir / "run.json",
    )
    _record("run", recorded, store, no_store)
    _write_report(list(summary.values()), report_dir)
    console.print(f"done in {time.perf_counter() - t0:.1f} s; JSON in {out_dir}/")


@app.command("report")
def report_cmd(
    results: list[Path] = typer.Argument(
        ..., help="JSON results: meta-eval, compare, run.json, probe, calibrate, overopt, ..."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="folder for index.html"),
):
    """Render saved JSON results as one self-contained HTML report (OUT/index.html)."""
    from .report.html import load_docs

    _check_report(out)
    _write_report(load_docs(results), out)


def _write_doc(doc: dict, json_out: Path | None) -> None:
    if json_out:
        from .report.writers import write_json

        write_json(doc, json_out)
        console.print(f"wrote {json_out}")


@app.command()
def probe(
    data: str = typer.Option(..., "--data", "-d", help="data spec with human preferences"),
    scorer: list[str] = typer.Option(..., "--scorer", "-s", help="scorer spec (repeatable)"),
    perturb: list[str] | None = typer.Option(
        None,
        "--perturb",
        help="perturbation of the "
        "dispreferred response (repeatable; 'all' = every "
        "built-in); default: length bias only",
    ),
    style: bool | None = typer.Option(
        None,
        "--style/--no-style",
        help="RM-Bench's style matrix; data with style variants (RM-Bench): on unless "
        "--no-style; other data: synthetic from rewritten pairs with --style",
    ),
    length_unit: str = typer.Option("chars", "--length-unit", help="chars | words"),
    probe_pairs: str = typer.Option(
        "500",
        "--probe-pairs",
        help="perturbations and the synthetic style matrix rescore rewritten responses on a "
        "seeded sample of this many preference pairs, stratified by item ('all' or 0: every pair)",
    ),
    resamples: Resamples = 1000,
    seed: Seed = 0,
    json_out: JsonOut = None,
    report: ReportDir = None,
    map_: DataMap = None,
    workers: Workers = 1,
    cache: CachePath = None,
    no_cache: NoCache = False,
    quiet: Quiet = False,
):
    """Spurious correlations: length bias (with the length-only baseline), perturbations, the
    style matrix and the position bias of pairwise judges."""
    from . import api
    from .probes.perturbations import perturbation_names
    from .report.probes import length_bias_table, perturbation_table, position_table, style_tables

    if length_unit not in ("chars", "words"):
        raise OvercoatError(f"--length-unit must be one of chars, words, got {length_unit!r}")
    names = perturbation_names() if perturb and "all" in perturb else list(perturb or [])
    n_pairs = _probe_pairs(probe_pairs)
    _check_json_out(json_out)
    _check_report(report)
    ds = api.load(data, mapping=_parse_map(map_))
    doc = api.probe(
        ds,
        scorer,
        perturbations=names,
        style=style,
        length_unit=length_unit,
        n_resamples=resamples,
        seed=seed,
        probe_pairs=n_pairs,
        cache=_cache_arg(no_cache, cache),
        workers=workers,
        progress=not quiet,
    )
    from .report.writers import jsonable

    doc = jsonable(doc)
    console.print(length_bias_table(doc))
    if names:
        console.print(perturbation_table(doc))
    for t in style_tables(doc):
        console.print(t)
    if any(r["applicable"] for r in doc["position_bias"].values()):
        console.print(position_table(doc))
    else:
        console.print(
            "position bias: not applicable (no pairwise judge among the scorers; a pointwise "
            "scorer sees one response at a time)"
        )
    _write_doc(doc, json_out)
    _write_report([doc], report)


def _probe_pairs(value: str) -> int | None:
    """``--probe-pairs``: a positive count, or ``all`` / ``0`` for every pair (None)."""
    v = value.strip().lower()
    if v in ("all", "0"):
        return None
    if not v.isdigit():
        raise OvercoatError(f"--probe-pairs must be a number of pairs or 'all', got {value!r}")
    return int(v)


@app.command()
def calibrate(
    data: str = typer.Option(..., "--data", "-d", help="data spec with human judgments"),
    scorer: list[str] = typer.Option(..., "--scorer", "-s", help="scorer spec (repeatable)"),
    folds: int = typer.Option(5, "--folds", min=2, help="cross-fitting folds over items"),
    bins: int = typer.Option(10, "--bins", min=1),
    binning: str = typer.Option("width", "--binning", help="width | mass"),
    resamples: Resamples = 1000,
    seed: Seed = 0,
    save: Path | None = typer.Option(
        None,
        "--save",
        help="write the calibrators fitted on all pairs (JSON; scorer spec calibrated:FILE)",
    ),
    json_out: JsonOut = None,
    report: ReportDir = None,
    map_: DataMap = None,
    workers: Workers = 1,
    cache: CachePath = None,
    no_cache: NoCache = False,
    quiet: Quiet = False,
):
    """Calibration: ECE (with CI), Brier score and log loss of each scorer's preference
    probabilities, raw and after held-out temperature / Platt / isotonic calibration."""
    from . import api
    from .report.probes import calibration_table
    from .report.writers import jsonable

    if binning not in ("width", "mass"):
        raise OvercoatError(f"--binning must be one of width, mass, got {binning!r}")
    _check_json_out(json_out)
    _check_report(report)
    _check_json_out(save)
    ds = api.load(data, mapping=_parse_map(map_))
    doc, model = api.calibrate(
        ds,
        scorer,
        n_folds=folds,
        n_bins=bins,
        binning=binning,
        n_resamples=resamples,
        seed=seed,
        cache=_cache_arg(no_cache, cache),
        workers=workers,
        progress=not quiet,
    )
    doc = jsonable(doc)
    console.print(calibration_table(doc))
    if save:
        from .report.writers import write_json

        write_json(model, save)
        console.print(f"wrote {save} (use it as the scorer spec calibrated:{save})")
    _write_doc(doc, json_out)
    _write_report([doc], report)


@app.command()
def overopt(
    data: str = typer.Option(
        ..., "--data", "-d", help="data spec with several candidates per item"
    ),
    proxy: str = typer.Option(..., "--proxy", help="scorer spec optimised against"),
    gold: str | None = typer.Option(
        None, "--gold", help="gold scorer spec (default: the human scores)"
    ),
    n_max: int | None = typer.Option(
        None, "--n-max", min=1, help="largest n (default: the smallest pool)"
    ),
    resamples: Resamples = 1000,
    seed: Seed = 0,
    json_out: JsonOut = None,
    report: ReportDir = None,
    map_: DataMap = None,
    workers: Workers = 1,
    cache: CachePath = None,
    no_cache: NoCache = False,
    quiet: Quiet = False,
):
    """Reward hacking: expected gold score of best-of-n under the proxy, exact over all n-subsets,
    against the analytical best-of-n KL."""
    from . import api
    from .report.probes import overopt_table
    from .report.writers import jsonable

    _check_json_out(json_out)
    _check_report(report)
    ds = api.load(data, mapping=_parse_map(map_))
    doc = jsonable(
        api.overopt(
            ds,
            proxy,
            gold=gold,
            n_max=n_max,
            n_resamples=resamples,
            seed=seed,
            cache=_cache_arg(no_cache, cache),
            workers=workers,
            progress=not quiet,
        )
    )
    console.print(overopt_table(doc))
    _write_doc(doc, json_out)
    _write_report([doc], report)


@app.command()
def generate(
    data: str = typer.Option(..., "--data", "-d", help="data spec whose inputs are the prompts"),
    out: Path = typer.Option(..., "--out", "-o", help="pool file to write (.jsonl or .jsonl.gz)"),
    model: str = typer.Option(
        "smollm2", "--model", "-m", help="causal LM: smollm2 (bundled), a folder, hub id or .gguf"
    ),
    n: int = typer.Option(8, "--n", "-n", min=1, help="samples per prompt"),
    temperature: float = typer.Option(0.7, "--temperature"),
    top_p: float = typer.Option(0.95, "--top-p"),
    max_new_tokens: int = typer.Option(64, "--max-new-tokens", min=1),
    seed: int = typer.Option(0, "--seed", help="global seed (per item: seed and item id)"),
    max_items: int | None = typer.Option(
        None, "--max-items", min=1, help="a seeded random sample of this many prompts"
    ),
    map_: list[str] | None = typer.Option(None, "--map", help="FIELD=COLUMN (repeatable)"),
    cache: Path | None = typer.Option(None, "--cache", help="generation cache folder"),
    no_cache: bool = typer.Option(False, "--no-cache"),
    json_out: Path | None = typer.Option(None, "--json", help="write the summary as JSON"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Candidate pools: sample n responses per prompt from a causal LM (seeded, cached) and write
    them as a data file for overcoat overopt --data FILE --proxy .. --gold .."""
    from . import api
    from .report.writers import jsonable

    _check_json_out(json_out)
    ds = api.load(data, mapping=_parse_map(map_))
    if max_items:
        ds = ds.sample_items(max_items, seed=seed)
    doc = jsonable(
        api.generate(
            ds,
            str(out),
            model=model,
            n=n,
            temperature=temperature,
            top_p=top_p,
            max_new_tokens=max_new_tokens,
            seed=seed,
            cache=_cache_arg(no_cache, cache),
            progress=not quiet,
        )
    )
    console.print(
        f"wrote {doc['n_responses']} responses for {doc['n_items']} prompts to {escape(str(out))} "
        f"({doc['n_generated']} prompts generated, {doc['n_cached']} from the cache; "
        f"{doc['n_hit_max_new_tokens']} samples stopped at --max-new-tokens, "
        f"{doc['n_empty']} empty samples left out, {doc['n_truncated_prompts']} prompts cut "
        f"on the left; {doc['seconds']:.1f} s)",
        highlight=False,
    )
    _write_doc(doc, json_out)


@app.command()
def quality(
    data: str = typer.Option(
        ..., "--data", "-d", help="data spec with several raters per response (e.g. wmt23-ende)"
    ),
    scorer: list[str] | None = typer.Option(
        None, "--scorer", "-s", help="scorers to place beside the human ceiling (repeatable)"
    ),
    part: list[str] | None = typer.Option(
        None,
        "--part",
        "-p",
        help="parts to run (repeatable; 'all'): agreement, ceiling, duplicates, stability, "
        "budget, suspects (default: all but budget)",
    ),
    statistic: str = typer.Option(
        "kendall_tau", "--statistic", help="kendall_tau | pairwise_accuracy | acc_eq"
    ),
    resamples: Resamples = 1000,
    splits: int = typer.Option(
        1000, "--splits", min=1, help="random half splits for stable ranking probability"
    ),
    budget_draws: int = typer.Option(
        20, "--budget-draws", min=1, help="subsamples per grid point of the budget curve"
    ),
    near_threshold: float = typer.Option(
        0.8, "--near-threshold", help="shingle Jaccard at or above which inputs are near duplicates"
    ),
    reference_from: str | None = typer.Option(
        None,
        "--reference-from",
        help="use this response id's text as the reference and drop it from the responses "
        "(WMT: a human translation, e.g. refA), for reference-based scorers",
    ),
    export_suspects: Path | None = typer.Option(
        None,
        "--export-suspects",
        help="write every human-labelled pair, most suspect first, for re-annotation "
        "(.jsonl, .csv or .parquet)",
    ),
    seed: Seed = 0,
    json_out: JsonOut = None,
    report: ReportDir = None,
    map_: DataMap = None,
    workers: Workers = 1,
    cache: CachePath = None,
    no_cache: NoCache = False,
    quiet: Quiet = False,
):
    """Data quality: inter-annotator agreement, rater severity and attention checks, humans as
    scorers beside metrics, duplicates, stable ranking probability, the annotation-budget curve,
    noisy-label candidates for re-annotation."""
    from . import api
    from .probes.quality import CEILING_STATISTICS
    from .report.probes import quality_tables
    from .report.writers import jsonable

    if statistic not in CEILING_STATISTICS:
        raise OvercoatError(
            f"--statistic must be one of {', '.join(CEILING_STATISTICS)}, got {statistic!r}"
        )
    if not 0.0 < near_threshold <= 1.0:
        raise OvercoatError(f"--near-threshold must be in (0, 1], got {near_threshold}")
    parts = list(part or api.QUALITY_DEFAULT_PARTS)
    if "all" in parts:
        parts = list(api.QUALITY_PARTS)
    bad = [p for p in parts if p not in api.QUALITY_PARTS]
    if bad:
        raise OvercoatError(
            f"--part must be one of {', '.join(api.QUALITY_PARTS)} or all, got {bad[0]!r}"
        )
    _check_json_out(json_out)
    _check_report(report)
    ds = api.load(data, mapping=_parse_map(map_))
    if reference_from is not None:
        try:
            ds = ds.with_reference_from(reference_from)
        except ValueError as e:
            raise OvercoatError(f"--reference-from: {e}") from None
    doc = jsonable(
        api.quality(
            ds,
            list(scorer or []),
            parts=parts,
            statistic=statistic,
            n_resamples=resamples,
            n_splits=splits,
            budget_draws=budget_draws,
            near_threshold=near_threshold,
            export_suspects=export_suspects,
            seed=seed,
            cache=_cache_arg(no_cache, cache),
            workers=workers,
            progress=not quiet,
        )
    )
    for t in quality_tables(doc):
        console.print(t)
    if "duplicates" in doc:
        d, nd = doc["duplicates"], doc["near_duplicates"]
        console.print(
            f"duplicates: {d['n_items_in_duplicate_groups']} items share an input with "
            f"another item; {d['n_items_with_identical_responses']} items have two responses "
            f"of identical text, {nd['n_items_with_all_responses_identical']} only one text; "
            f"{nd['n_pairs']} input pairs are near duplicates (character {nd['ngram']}-gram "
            f"Jaccard ≥ {nd['threshold']}) over {nd['n_items_in_near_duplicate_pairs']} items"
        )
    if export_suspects is not None:
        console.print(f"wrote {export_suspects}")
    _write_doc(doc, json_out)
    _write_report([doc], report)


@app.command()
def fit(
    data: str = typer.Option(..., "--data", "-d", help="data spec with human judgments"),
    scorer: list[str] = typer.Option(..., "--scorer", "-s", help="two or more scorer specs"),
    folds: int = typer.Option(5, "--folds", min=2),
    l2: float = typer.Option(1.0, "--l2", min=0.0, help="L2 penalty on the standardized weights"),
    statistic: str = typer.Option(
        "pairwise_accuracy",
        "--statistic",
        help="pairwise_accuracy | acc_eq (tie-calibrated, as meta-eval)",
    ),
    resamples: Resamples = 1000,
    seed: Seed = 0,
    save: Path | None = typer.Option(
        None,
        "--save",
        help="write the combination fitted on all items (JSON; scorer spec combo:FILE)",
    ),
    json_out: JsonOut = None,
    report: ReportDir = None,
    map_: DataMap = None,
    workers: Workers = 1,
    cache: CachePath = None,
    no_cache: NoCache = False,
    quiet: Quiet = False,
    store: Path | None = STORE_OPTION,
    no_store: bool = NO_STORE_OPTION,
):
    """A learned Bradley-Terry combination of scorers, cross-fitted over items, against each
    scorer alone with CIs."""
    from . import api
    from .report.probes import combination_table
    from .report.writers import jsonable, write_json

    _check_json_out(json_out)
    _check_report(report)
    _check_json_out(save)
    ds = api.load(data, mapping=_parse_map(map_))
    doc, model = api.fit(
        ds,
        scorer,
        n_folds=folds,
        l2=l2,
        statistic=statistic,
        n_resamples=resamples,
        seed=seed,
        cache=_cache_arg(no_cache, cache),
        workers=workers,
        progress=not quiet,
    )
    doc = jsonable(doc)
    console.print(combination_table(doc))
    for n, d in doc["combination_minus_scorer"].items():
        console.print(
            f"combination − {escape(n)}: {d['statistic']:+.4f} "
            f"[{d['confidence_interval'][0]:+.4f}, {d['confidence_interval'][1]:+.4f}]",
            highlight=False,
        )
    if save:
        write_json(model, save)
        console.print(f"wrote {save} (use it as the scorer spec combo:{save})")
    _write_doc(doc, json_out)
    _record("fit", [(doc, ds)], store, no_store)
    _write_report([doc], report)


@app.command()
def serve(
    scorer: str = typer.Option(..., "--scorer", "-s", help="scorer spec (pointwise)"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to bind (0.0.0.0: all)"),
    port: int = typer.Option(8000, "--port", "-p", min=0, max=65535),
    token_env: str | None = typer.Option(
        None, "--token-env", help="environment variable holding a bearer token to require"
    ),
    cache: Path | None = typer.Option(None, "--cache", help="score cache (SQLite) path"),
    no_cache: bool = typer.Option(False, "--no-cache", help="do not read or write the cache"),
    max_body: int = typer.Option(8 << 20, "--max-body", min=1, help="largest body (bytes)"),
    max_rows: int = typer.Option(4096, "--max-rows", min=1, help="most rows in one request"),
    max_batch: int = typer.Option(256, "--max-batch", min=1, help="most rows in a scorer batch"),
    max_wait_ms: float = typer.Option(
        2.0, "--max-wait-ms", min=0.0, help="longest wait for batch mates (ms)"
    ),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    missing_reward: float | None = typer.Option(
        None, "--missing-reward", help="reward for a missing score on /get_reward (default null)"
    ),
    strip: list[str] | None = typer.Option(
        None, "--strip", help="remove this string from the end of OpenRLHF responses (repeatable)"
    ),
):
    """Serve a scorer over HTTP as a reward: POST /get_reward (OpenRLHF), POST /score, GET
    /health."""
    from . import serve as serving

    settings = serving.ServeSettings(
        cache=_cache_arg(no_cache, cache),
        token=serving.token_from_env(token_env) if token_env else None,
        max_body=max_body,
        max_rows=max_rows,
        max_batch=max_batch,
        max_wait=max_wait_ms / 1000.0,
        batch_size=batch_size,
        missing_reward=missing_reward,
        strip=tuple(strip or ()),
    )

    def ready(service, url: str) -> None:
        console.print(
            f"serving {escape(service.signature)} on {url} "
            "(POST /get_reward, POST /score, GET /health; Ctrl-C stops)",
            highlight=False,
            soft_wrap=True,
        )

        if token_env is None and host not in ("127.0.0.1", "localhost", "::1"):
            console.print(
                f"[yellow]note:[/yellow] listening on {escape(host)} without --token-env: "
                "anyone who can reach this address can use the scorer",
                highlight=False,
            )

    serving.serve(scorer, host=host, port=port, settings=settings, on_ready=ready)


@app.command("translation-pairs")
def translation_pairs(
    data: str = typer.Option(
        ..., "--data", "-d", help="MQM data: ted-ende, ted-zhen, wmt23-ende, wmt23-zhen, mqm:PATH"
    ),
    scorer: list[str] | None = typer.Option(
        None,
        "--scorer",
        "-s",
        help="scorer spec (repeatable); default: chrf, bleu, ter, embed, COMET (when installed), "
        "loglik:smollm2, the SmolLM2 judges (rating; pairwise, both orders), length",
    ),
    min_gap: float = typer.Option(
        1.0, "--min-gap", help="a pair's MQM scores must differ by more than this"
    ),
    easy_gap: float = typer.Option(
        5.0, "--easy-gap", help="pairs at least this far apart are easy, the rest hard"
    ),
    per_segment: int | None = typer.Option(
        None, "--pairs-per-segment", min=1, help="keep at most N pairs per segment (seeded)"
    ),
    max_segments: int | None = typer.Option(
        None, "--max-segments", min=1, help="use a seeded sample of N segments that have pairs"
    ),
    max_pairs: int | None = typer.Option(
        None,
        "--max-pairs",
        min=1,
        help="a seeded sample of at most N pairs per bucket (easy, hard): every scorer is "
        "judged on the same sampled pairs",
    ),
    keep_identical: bool = typer.Option(
        False, "--keep-identical", help="also pair outputs of identical text (rater noise)"
    ),
    ties: str = typer.Option("strict", help="a scorer tie counts: strict (wrong) | half"),
    resamples: int = typer.Option(1000, "--resamples", min=1),
    seed: int = typer.Option(0, "--seed"),
    alpha: float = typer.Option(0.05, "--alpha"),
    correction: str = typer.Option("holm", help="holm | bh | none (corrected p-values in JSON)"),
    pairs_out: Path | None = typer.Option(
        None, "--pairs-out", help="also write the pairs (.jsonl / .csv / .parquet)"
    ),
    json_out: Path | None = typer.Option(None, "--json", help="write the result as JSON"),
    report: ReportDir = None,
    map_: list[str] | None = typer.Option(None, "--map", help="FIELD=COLUMN (repeatable)"),
    workers: int = typer.Option(1, "--workers", "-j", min=1),
    cache: Path | None = typer.Option(None, "--cache"),
    no_cache: bool = typer.Option(False, "--no-cache"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    store: Path | None = STORE_OPTION,
    no_store: bool = NO_STORE_OPTION,
):
    """The paper's experiment: preference pairs from MQM data (easy / hard by MQM gap), metrics
    and reward-model-style scorers on the same pairs, pair accuracy with CIs and clusters."""
    from . import api
    from .report.pairs import translation_pairs_table
    from .report.writers import jsonable

    _check_json_out(json_out)
    _check_report(report)
    ds = api.load(data, mapping=_parse_map(map_))
    doc = api.translation_pairs(
        ds,
        scorer or None,
        min_gap=min_gap,
        easy_gap=easy_gap,
        max_per_segment=per_segment,
        max_segments=max_segments,
        max_pairs=max_pairs,
        keep_identical=keep_identical,
        ties=ties,
        n_resamples=resamples,
        seed=seed,
        alpha=alpha,
        correction=correction,
        pairs_out=str(pairs_out) if pairs_out else None,
        cache=_cache_arg(no_cache, cache),
        workers=workers,
        progress=not quiet,
    )
    doc = jsonable(doc)
    console.print(translation_pairs_table(doc))
    for n in doc["notes"]:
        console.print(f"[yellow]note:[/yellow] {escape(n)}", highlight=False)
    if pairs_out:
        console.print(f"wrote {pairs_out}")
    _write_doc(doc, json_out)
    _record("translation-pairs", [(doc, ds)], store, no_store)
    _write_report([doc], report)


@app.command("leaderboard")
def leaderboard_cmd(
    data: str | None = typer.Option(
        None, "--data", "-d", help="only this data set (its name, or a data hash prefix)"
    ),
    stat: str | None = typer.Option(
        None, "--stat", help="this statistic (default: each run's headline statistic)"
    ),
    scorer: str | None = typer.Option(
        None, "--scorer", "-s", help="only this scorer (name, signature, or spec name: bleu)"
    ),
    all_runs: bool = typer.Option(
        False, "--all-runs", help="every run's result (history), not only the latest"
    ),
    json_out: Path | None = typer.Option(None, "--json", help="export the rows as JSON"),
    csv_out: Path | None = typer.Option(None, "--csv", help="export the rows as CSV"),
    report: ReportDir = None,
    store: Path | None = STORE_OPTION,
):
    """Best-known results across runs from the results store: per scorer, data set and statistic
    the latest run's value with its CI, date and run signature (--all-runs: every run)."""
    from . import api
    from .report.store import leaderboard_doc, write_csv
    from .report.store_tables import empty_note, store_tables
    from .report.writers import write_json

    _check_json_out(json_out)
    _check_json_out(csv_out)
    _check_report(report)
    lb = api.leaderboard(store=store, data=data, stat=stat, scorer=scorer, all_runs=all_runs)
    rows, path = lb["rows"], lb["store"]
    query = {"data": data, "stat": stat, "scorer": scorer, "all_runs": all_runs}
    if not rows:
        note = empty_note(path, lb["n_stored"], lb["data_names"], query)
        console.print(escape(note), highlight=False)
    for t in store_tables(rows, all_runs=all_runs):
        console.print(t)
    doc = leaderboard_doc(
        rows,
        store=path,
        all_runs=all_runs,
        query=query,
        n_stored=lb["n_stored"],
        data_names=lb["data_names"],
    )
    if json_out:
        write_json(doc, json_out)
        console.print(f"wrote {json_out}")
    if csv_out:
        write_csv(rows, csv_out)
        console.print(f"wrote {csv_out}")
    _write_report([doc], report)


@app.command("terms")
def terms_cmd(
    word: str | None = typer.Argument(
        None, help="show only terms containing WORD (either side, any case)"
    ),
):
    """The terminology bridge: reward-model / RL words and MT-metrics words for the same thing,
    with the overcoat command that computes it (docs/terms.md)."""
    from .report.terms import TERMS, filter_terms, terms_table

    found = filter_terms(word)
    if not found:
        console.print(
            f"no term contains {escape(repr(word))}; overcoat terms without a word lists all "
            f"{len(TERMS)}",
            highlight=False,
        )
        return
    console.print(terms_table(found))


def _typed_flag(param, args: list[str]) -> str:
    """The spelling of an option the user typed (``-j`` or ``--workers``) for error messages."""
    opts = list(getattr(param, "opts", []) or []) + list(getattr(param, "secondary_opts", []) or [])
    typed = None
    for a in args:  # the last one wins, as in click
        if a == "--":
            break
        for o in opts:
            if (
                a == o
                or (o.startswith("--") and a.startswith(o + "="))
                or (not o.startswith("--") and a.startswith(o) and len(o) == 2)
            ):
                typed = o
    return typed or (opts[0] if opts else str(getattr(param, "name", "?")))


def _cx(name: str) -> tuple:
    """An exception class of click and of the click that typer vendors (typer >= 0.2x ships its
    own copy as ``typer._click``), whichever exist."""
    import importlib

    out = []
    for mod in ("typer._click.exceptions", "click.exceptions"):
        try:
            cls = getattr(importlib.import_module(mod), name, None)
        except ImportError:
            continue
        if cls is not None and cls not in out:
            out.append(cls)
    return tuple(out)


def _typed_value(flag: str, args: list[str]) -> str | None:
    """The value typed after ``flag`` (``-j 0``, ``-j0``, ``--workers=0``), if found; the last
    one when the flag is repeated (click keeps the last)."""
    got = None
    for k, a in enumerate(args):
        if a == "--":
            break
        if a == flag:
            got = args[k + 1] if k + 1 < len(args) else None
        elif flag.startswith("--") and a.startswith(flag + "="):
            got = a[len(flag) + 1 :]
        elif not flag.startswith("--") and a.startswith(flag) and len(a) > len(flag):
            got = a[len(flag) :]
    return got


def _usage_line(e, args: list[str]) -> str:
    if isinstance(e, _cx("MissingParameter")):
        return e.format_message().rstrip(".")
    if isinstance(e, _cx("BadParameter")) and getattr(e, "param", None) is not None:
        msg = e.message.strip().rstrip(".")
        msg = msg[:1].lower() + msg[1:]
        flag = _typed_flag(e.param, args)
        got = _typed_value(flag, args)
        return f"invalid value for {flag}: {msg}" + (f", got {got!r}" if got is not None else "")
    return e.format_message().strip().rstrip(".")


def _strip_verbose(args: list[str]) -> tuple[list[str], bool]:
    """``-v`` / ``--verbose`` anywhere before ``--``: third-party progress bars, notes and logs
    are shown (they are quiet by default)."""
    out, verbose, seen_dd = [], False, False
    for a in args:
        if not seen_dd and a in ("-v", "--verbose"):
            verbose = True
            continue
        seen_dd = seen_dd or a == "--"
        out.append(a)
    return out, verbose


def _quiet_third_party(verbose: bool) -> None:
    """Progress bars and notes of transformers / huggingface_hub / tqdm (GGUF conversion,
    downloads) stay quiet unless -v; hub look-ups without network fail in seconds."""
    import logging
    import os

    if not verbose:
        for k, v in (
            ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
            ("TRANSFORMERS_VERBOSITY", "error"),
            ("TQDM_DISABLE", "1"),
            ("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1"),
        ):
            os.environ.setdefault(k, v)
        for name in (
            "transformers",
            "huggingface_hub",
            "sentence_transformers",
            "datasets",
            "httpx",
            "urllib3",
        ):
            logging.getLogger(name).setLevel(logging.ERROR)
    # huggingface_hub retries unreachable hosts for ~28 s by default (10 s timeouts, retries)
    for k, v in (("HF_HUB_ETAG_TIMEOUT", "5"), ("HF_HUB_DOWNLOAD_TIMEOUT", "10")):
        os.environ.setdefault(k, v)

    class _Stderr(logging.StreamHandler):
        _overcoat_cli = True

        @property
        def stream(self):  # the current sys.stderr (tests and notebooks swap it)
            return sys.stderr

        @stream.setter
        def stream(self, value):
            pass

    log = logging.getLogger("overcoat")
    if not any(getattr(h, "_overcoat_cli", False) for h in log.handlers):
        h = _Stderr()
        h.setFormatter(logging.Formatter("overcoat: note: %(message)s"))
        log.addHandler(h)
    for handler in log.handlers:
        if getattr(handler, "_overcoat_cli", False):
            handler.setLevel(logging.INFO if verbose else logging.WARNING)
    if verbose and log.level == logging.NOTSET:
        log.setLevel(logging.INFO)


def _one_line_warnings(verbose: bool):
    """``warnings.showwarning`` for the CLI: overcoat's own warnings as one line on stderr;
    other packages' warnings only with -v (also one line)."""

    def show(message, category, filename, lineno, file=None, line=None):
        mod = str(filename).replace("\\", "/")
        ours = "/overcoat/" in mod or str(message).startswith(("score cache", "judge:"))
        if not (ours or verbose):
            return
        text = " ".join(str(message).split())
        who = "overcoat" if ours else f"overcoat: {category.__name__}"
        err_console.print(f"{who}: warning: {text}", markup=False, highlight=False, soft_wrap=True)

    return show


#: the flag of each library parameter whose flag is not ``--`` + its name with dashes
FLAGS = {
    "ci_method": "--ci",
    "n_resamples": "--resamples",
    "ci_level": "ci_level",
    "max_per_segment": "--pairs-per-segment",
}


def _flag(name: str, value: str | None) -> str:
    """A library setting as the user typed it: ``--ties`` or ``--level system``."""
    flag = FLAGS.get(name, "--" + name.replace("_", "-"))
    return flag if value is None else f"{flag} {value}"


def _error(msg: str) -> int:
    err_console.print(f"overcoat: error: {msg}", markup=False, highlight=False, soft_wrap=True)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors become one line on stderr and exit code 2 (no traceback)."""
    import warnings

    args = list(sys.argv[1:] if argv is None else argv)
    args, verbose = _strip_verbose(args)
    _ARGV[:] = args
    _quiet_third_party(verbose)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = _one_line_warnings(verbose)
        try:
            rv = app(args=args, prog_name="overcoat", standalone_mode=False)
        except SettingError as e:  # library errors name parameters; the user typed flags
            return _error(e.render(_flag))
        except OvercoatError as e:
            return _error(str(e))
        except _cx("NoArgsIsHelpError"):
            return 2  # typer has printed the help
        except _cx("UsageError") as e:
            cmd = f" {e.ctx.info_name}" if e.ctx is not None and e.ctx.parent is not None else ""
            return _error(f"{_usage_line(e, args)} (see overcoat{cmd} --help)")
        except _cx("ClickException") as e:
            return _error(e.format_message())
        except _cx("Abort"):
            err_console.print("overcoat: interrupted", markup=False)
            return 130
        except SystemExit as e:
            return int(e.code or 0) if not isinstance(e.code, str) else 2
        except KeyboardInterrupt:
            err_console.print("overcoat: interrupted", markup=False)
            return 130
        except MemoryError:
            return _error(
                "out of memory (the input is too large for this machine; try "
                "--max-items or a smaller file)"
            )
        except RecursionError:
            return _error("input nested too deeply to process")
    return int(rv) if isinstance(rv, int) and not isinstance(rv, bool) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
