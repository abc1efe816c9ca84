"""Data shipped inside the package (compressed), the embedded default for ``overcoat run``.

* ``ted-ende``, ``ted-zhen`` — WMT21 TED talks MQM (Freitag et al. 2021; Google's
  wmt-mqm-human-evaluation, Apache-2.0). As WMT does, the ``ref`` translation is the reference and
  the other systems are evaluated (zh-en: ``ref`` and ``refB`` are both excluded).
* ``hh-harmless`` — Anthropic HH-RLHF harmless-base test pairs (Bai et al. 2022, MIT).
* ``wmt23-ende``, ``wmt23-zhen`` — WMT23 general MT, MQM with three independent ratings per
  (system, segment) cell, side by side (Riley et al. 2024; Google's wmt-mqm-human-evaluation,
  Apache-2.0). For inter-annotator agreement and data quality: every rater's scores are kept, and
  all 10 outputs (``refA`` included) are responses; there is no reference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from .model import Dataset


def bundled_path(*parts: str) -> Path:
    return Path(str(resources.files("overcoat.data").joinpath("bundled", *parts)))


@dataclass(frozen=True)
class BundledDataset:
    name: str
    description: str
    license: str
    files: tuple[str, ...]
    loader: Callable[[], Dataset]
    citation: str

    def size_bytes(self) -> int:
        return sum(bundled_path(f).stat().st_size for f in self.files)

    def load(self) -> Dataset:
        return _load_cached(self.name)


def _ted(lp: str) -> Dataset:
    from .mqm import load_mqm_tsv

    src, tgt = lp.split("-")
    ds = load_mqm_tsv(
        str(bundled_path("wmt21-ted-mqm", f"mqm_ted_{src}{tgt}.tsv.gz")),
        lp=lp,
        name=f"ted-{src}{tgt}",
    )
    drop = ["refB"] if lp == "zh-en" else []
    out = ds.with_reference_from("ref", drop=drop)
    return Dataset(
        out.name,
        out.items,
        out.responses,
        out.judgments,
        source=f"bundled:ted-{src}{tgt}",
        info={**out.info, "license": "Apache-2.0", "domain": "TED talks"},
    )


def _hh() -> Dataset:
    from .loaders.hh_rlhf import load_hh_rlhf

    ds = load_hh_rlhf(
        str(bundled_path("hh-rlhf-harmless-test", "test.jsonl.gz")),
        name="hh-harmless",
        skip_bad=True,
    )
    return Dataset(
        ds.name,
        ds.items,
        ds.responses,
        ds.judgments,
        source="bundled:hh-harmless",
        info={**ds.info, "license": "MIT"},
    )


def _wmt23(lp: str) -> Dataset:
    from .mqm import load_mqm_tsv

    src, tgt = lp.split("-")
    ds = load_mqm_tsv(
        str(bundled_path("wmt23-sxs-mqm", f"mqm_generalMT2023_{src}{tgt}.sxs3.tsv.gz")),
        lp=lp,
        name=f"wmt23-{src}{tgt}",
    )
    return Dataset(
        ds.name,
        ds.items,
        ds.responses,
        ds.judgments,
        source=f"bundled:wmt23-{src}{tgt}",
        info={
            **ds.info,
            "license": "Apache-2.0",
            "domain": "WMT23 general MT",
            "raters_per_cell": 3,
        },
    )


_REGISTRY = {
    "ted-ende": BundledDataset(
        "ted-ende",
        "WMT21 TED talks en→de, 529 segments × 13 systems, MQM by professional "
        "translators; reference: ref",
        "Apache-2.0",
        ("wmt21-ted-mqm/mqm_ted_ende.tsv.gz",),
        lambda: _ted("en-de"),
        "Freitag et al. 2021, Experts, Errors, and Context (arXiv 2104.14478)",
    ),
    "ted-zhen": BundledDataset(
        "ted-zhen",
        "WMT21 TED talks zh→en, 529 segments × 13 systems, MQM by professional "
        "translators; reference: ref (refB excluded)",
        "Apache-2.0",
        ("wmt21-ted-mqm/mqm_ted_zhen.tsv.gz",),
        lambda: _ted("zh-en"),
        "Freitag et al. 2021, Experts, Errors, and Context (arXiv 2104.14478)",
    ),
    "hh-harmless": BundledDataset(
        "hh-harmless",
        "Anthropic HH-RLHF harmless-base test: 2,303 human preference pairs "
        "(of 2,312; 9 malformed left out)",
        "MIT",
        ("hh-rlhf-harmless-test/test.jsonl.gz",),
        _hh,
        "Bai et al. 2022, Training a Helpful and Harmless Assistant with RLHF (arXiv 2204.05862)",
    ),
    "wmt23-ende": BundledDataset(
        "wmt23-ende",
        "WMT23 general MT en→de, 104 segments × 10 outputs, MQM by 3 of 10 "
        "professional raters per cell (side by side); all outputs incl. refA, no reference",
        "Apache-2.0",
        ("wmt23-sxs-mqm/mqm_generalMT2023_ende.sxs3.tsv.gz",),
        lambda: _wmt23("en-de"),
        "Riley et al. 2024, Finding Replicable Human Evaluations via Stable Ranking Probability",
    ),
    "wmt23-zhen": BundledDataset(
        "wmt23-zhen",
        "WMT23 general MT zh→en, 377 segments × 10 outputs, MQM by 3 of 8 "
        "professional raters per cell (side by side); all outputs incl. refA, no reference",
        "Apache-2.0",
        ("wmt23-sxs-mqm/mqm_generalMT2023_zhen.sxs3.tsv.gz",),
        lambda: _wmt23("zh-en"),
        "Riley et al. 2024, Finding Replicable Human Evaluations via Stable Ranking Probability",
    ),
}


@cache
def _load_cached(name: str) -> Dataset:
    return _REGISTRY[name].loader()


def bundled_datasets() -> dict[str, BundledDataset]:
    return dict(_REGISTRY)


#: name -> zero-argument loader (used by overcoat.data.spec.load_data)
BUNDLED: dict[str, Callable[[], Dataset]] = {k: v.load for k, v in _REGISTRY.items()}
