"""Every pitfall command on every bundled data set with CPU scorers: wall times and the total.

    python benchmarks/bench_probes.py [--quick] [--markdown] [--resamples 1000] [--only probe,fit]
                                      [--probe-pairs N|all]

Target: the whole table (scoring included) in at most 60 s. The commands run in this process
through the Python API (``overcoat.api.probe``, ``calibrate``, ``overopt``, ``quality``, ``fit``:
what the CLI calls), with their default settings (1,000 resamples, seed 0) and no progress bars,
against one fresh score cache in a temporary folder, as a user's first session would:

* ``load``: the data set read from its bundled files;
* ``score``: every scorer of the data set on its responses (into the fresh cache), so the
  command rows below measure their own work: ``probe`` rescores, under each of the 9
  perturbations and the 2 synthetic styles (``--perturb all --style``; the cache cannot help
  there, the texts are new), the responses of its default seeded sample of 500 preference
  pairs per data set (``--probe-pairs all``: of every pair, as before the sample), the others
  only read the cache;
* the commands where they apply: ``quality`` needs rater ids (WMT23 only), ``overopt`` pools of
  candidates (every data set here; HH-RLHF's pools are its pairs).

Scorers (no models): TED (references): length, chrF, BLEU (``--ter`` adds TER to ``calibrate``
and ``fit``: sacrebleu's pure-Python edit distance, whose scoring alone takes longer than the
budget on this machine, see ``bench_cache.py``; never to ``probe``, whose 10 rewritten copies
it would score again); HH-RLHF and WMT23 (no references): length and the seeded ``random``
baseline. ``--quick``: 200 resamples. No peer: this is overcoat against its own budget.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _bench import fmt_s, machine  # noqa: E402

TED = ["length", "chrf", "bleu"]
FREE = ["length", "random"]
DATA = {
    "ted-ende": {"probe": TED, "calibrate": TED, "fit": TED, "proxy": "chrf"},
    "ted-zhen": {"probe": TED, "calibrate": TED, "fit": TED, "proxy": "chrf"},
    "hh-harmless": {"probe": FREE, "calibrate": FREE, "fit": FREE, "proxy": "length"},
    "wmt23-ende": {"probe": FREE, "calibrate": FREE, "fit": FREE, "proxy": "length"},
    "wmt23-zhen": {"probe": FREE, "calibrate": FREE, "fit": FREE, "proxy": "length"},
}
COMMANDS = ["probe", "calibrate", "overopt", "quality", "fit"]


def run(
    resamples: int, only: list[str], ter: bool = False, probe_pairs: str = ""
) -> list[tuple[str, str, str, float, float, str]]:
    from overcoat import api
    from overcoat.probes.perturbations import perturbation_names

    if ter:
        for name in ("ted-ende", "ted-zhen"):
            for c in ("calibrate", "fit"):
                DATA[name][c] = DATA[name][c] + ["ter"]

    rows = []
    cache = str(Path(tempfile.mkdtemp(prefix="bench_probes_")) / "scores.sqlite")
    kw = {"n_resamples": resamples, "seed": 0, "cache": cache, "progress": False}
    for name, cfg in DATA.items():

        def timed(what, scorers, fn):
            t0, c0 = time.perf_counter(), time.process_time()
            out = fn()
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            rows.append((name, what, ", ".join(scorers), dt, dc, out))
            print(
                f"  {name:12s} {what:10s} {fmt_s(dt):>9s} (CPU {fmt_s(dc)})  {out}",
                file=sys.stderr,
                flush=True,
            )

        ds = None

        def load():
            nonlocal ds
            ds = api.load(name)
            return f"{ds.n_responses} responses"

        timed("load", [], load)
        assert ds is not None
        every = list(
            dict.fromkeys(sum((cfg[c] for c in ("probe", "calibrate", "fit") if c in only), []))
        )
        timed(
            "score",
            every,
            lambda: f"{len(api.score(ds, every, cache=cache, progress=False).scores)} scorers",
        )
        if "probe" in only:

            def probe():
                pp = {}
                if probe_pairs:
                    pp["probe_pairs"] = None if probe_pairs == "all" else int(probe_pairs)
                d = api.probe(
                    ds, cfg["probe"], perturbations=perturbation_names(), style=True, **pp, **kw
                )
                n = d["probe_pairs"]
                sname, st = list(d["style"]["scorers"].items())[1]
                return (
                    f"{len(next(iter(d['perturbations'].values())))} perturbations on "
                    f"{n['n_sampled']:,} of {n['n_total']:,} pairs; style "
                    f"({sname}) easy/normal/hard {st['easy']['statistic']:.3f}/"
                    f"{st['normal']['statistic']:.3f}/{st['hard']['statistic']:.3f}"
                )

            timed("probe", cfg["probe"], probe)
        if "calibrate" in only:
            timed(
                "calibrate",
                cfg["calibrate"],
                lambda: f"{len(api.calibrate(ds, cfg['calibrate'], **kw)[0]['scorers'])} scorers",
            )
        if "overopt" in only:

            def overopt():
                d = api.overopt(ds, cfg["proxy"], **kw)
                return f"peak n = {d['peak_n']} of {d['n'][-1]}"

            timed("overopt", [cfg["proxy"]], overopt)
        if "quality" in only and name.startswith("wmt23"):

            def quality():
                d = api.quality(ds, ["length"], **kw)
                a = d["agreement"]["krippendorff_alpha_interval"]["statistic"]
                return f"alpha (interval) {a:.3f}"

            timed("quality", ["length"], quality)
        if "fit" in only:

            def fit():
                d, _ = api.fit(ds, cfg["fit"], **kw)
                return f"combination {d['scorers']['combination (cross-fitted)']['statistic']:.3f}"

            timed("fit", cfg["fit"], fit)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="200 resamples instead of 1,000")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--resamples", type=int, default=None)
    ap.add_argument("--only", default="", help="comma-separated commands (probe, calibrate, ...)")
    ap.add_argument("--ter", action="store_true", help="TER in calibrate and fit on TED")
    ap.add_argument("--probe-pairs", default="", help="probe's sample of pairs (N or all)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    resamples = args.resamples or (200 if args.quick else 1000)
    only = [c for c in args.only.split(",") if c] or COMMANDS
    before = machine()
    t0, c0 = time.perf_counter(), time.process_time()
    rows = run(resamples, only, args.ter, args.probe_pairs)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    head = ["data", "step", "scorers", "wall", "CPU", "result"]
    body = [[d, w, s, fmt_s(t), fmt_s(c), o] for d, w, s, t, c, o in rows]
    body.append(["all", "total", "", fmt_s(total), fmt_s(cpu), "target <= 60 s"])
    if args.markdown:
        lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
        lines += ["| " + " | ".join(b) + " |" for b in body]
        print("\n".join(lines))
    else:
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
        print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
        print("  ".join("-" * w for w in widths))
        for b in body:
            print("  ".join(c.ljust(w) for c, w in zip(b, widths)))
    by_step: dict[str, list[float]] = {}
    for _, w, _, t, c, _ in rows:
        acc = by_step.setdefault(w, [0.0, 0.0])
        acc[0] += t
        acc[1] += c
    print(
        "\nper step (wall / CPU): "
        + ", ".join(f"{w} {fmt_s(t)} / {fmt_s(c)}" for w, (t, c) in by_step.items())
    )
    print(
        f"total {total:.1f} s wall, {cpu:.1f} s CPU of this process ({resamples} resamples); "
        "on a shared machine the CPU time is the load-independent figure"
    )
    print(f"machine at the start: {before}\nmachine at the end:   {machine()}")


if __name__ == "__main__":
    main()
