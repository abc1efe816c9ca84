"""The terminology bridge: the reward-model / RL word and the MT-metrics word for the same thing,
what it is, and the overcoat command that computes it. The one source of ``overcoat terms`` and of
``docs/terms.md`` (:func:`terms_markdown` writes the page; a test checks they agree, and that every
command named here parses)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.markup import escape
from rich.table import Table


@dataclass(frozen=True)
class Term:
    rl: str  # the reward-model / RL side's word
    mt: str  # the MT / metrics side's word
    what: str  # what it is, in one or two sentences
    command: str  # the overcoat command that computes it (a full, parseable command line)
    note: str = ""  # where the two words differ in detail


TERMS: tuple[Term, ...] = (
    Term(
        rl="RewardBench accuracy",
        mt="segment-level item-grouped pairwise accuracy",
        what="Share of human-preferred pairs the scorer orders the same way, averaged per item. "
        "On chosen/rejected pairs (one pair per item) the two are the same number.",
        command="overcoat meta-eval -d hh-harmless -s length -s random",
        note="meta-eval's pairwise_accuracy_strict: gold ties left out, a scorer tie counts "
        "wrong (reward-bench's rule); the benchmark's own section weighting comes from "
        "-d rewardbench:FILE.",
    ),
    Term(
        rl="reward hacking / over-optimisation",
        mt="metric gaming (Goodhart's law)",
        what="Optimising a policy or a decoder against a proxy score raises the proxy while the "
        "true (gold) quality stalls or falls.",
        command="overcoat overopt -d ted-zhen --proxy bleu",
        note="overopt gives the exact best-of-n curves of gold and proxy against KL.",
    ),
    Term(
        rl="reference-free reward model",
        mt="quality estimation (QE)",
        what="A scorer that judges an output from the input alone, with no reference output.",
        command="overcoat meta-eval -d ted-ende -s embed:against=input -s length",
        note="Any reward model (hf:, loglik:, judge:) is a QE metric; CometKiwi (comet:) is a "
        "reward model for translation.",
    ),
    Term(
        rl="best-of-n with a reward model",
        mt="QE reranking / MBR decoding",
        what="Sample n candidates and keep the one the scorer likes best (MBR: the one that "
        "agrees most with the others under a utility metric).",
        command="overcoat overopt -d ted-zhen --proxy chrf",
        note="overcoat computes best-of-n under any proxy; candidate pools from overcoat "
        "generate. MBR itself (consensus utility) is not built in.",
    ),
    Term(
        rl="preference pairs (chosen / rejected)",
        mt="relative ranking (WMT RR / DARR)",
        what="Two outputs for one input and which of them people prefer (DARR: derived from "
        "direct-assessment scores that differ by more than 25 points).",
        command="overcoat translation-pairs -d ted-ende -s chrf -s length",
        note="translation-pairs derives chosen/rejected pairs from MQM scores (--min-gap).",
    ),
    Term(
        rl="Likert / pointwise reward",
        mt="direct assessment (DA) / MQM score",
        what="An absolute score per output (a 1-5 or 0-100 rating, or an MQM error-weighted "
        "sum), rather than a comparison.",
        command="overcoat meta-eval -d ted-ende -s chrf -s bleu",
        note="Pointwise judgments convert to all within-item pairs (ties included) and back.",
    ),
    Term(
        rl="process / fine-grained rewards",
        mt="error-span annotation (MQM, xCOMET spans)",
        what="Credit or blame attached to parts of an output (steps, spans with severities) "
        "instead of one number for the whole.",
        command="overcoat meta-eval -d wmt23-ende -s chrf",
        note="overcoat reads MQM span annotations (mqm:FILE) and meta-evaluates their weighted "
        "totals; the gemba-mqm judge template asks an LLM for error spans. Span-level "
        "agreement itself is not computed.",
    ),
    Term(
        rl="reward-model calibration",
        mt="metric tie calibration (acc_eq, Deutsch et al. 2023)",
        what="RM side: do predicted preference probabilities match how often the preference "
        "holds (ECE)? MT side: the score gap below which a metric should call a tie, fitted so "
        "that ties are rewarded like humans' (acc_eq).",
        command="overcoat calibrate -d ted-ende -s chrf -s bleu",
        note="Tie calibration is meta-eval's default (--ties calibrated; held out with --dev "
        "or --k-folds).",
    ),
    Term(
        rl="judge position bias",
        mt="order effects in side-by-side evaluation",
        what="A pairwise judge's verdict changes with the order in which the two outputs are "
        "shown.",
        command="overcoat probe -d hh-harmless -s judge-pair:http://127.0.0.1:8080/v1#model",
        note="Asked in both orders; not applicable to pointwise scorers (reported so, never "
        "as a number).",
    ),
    Term(
        rl="length bias",
        mt="length / verbosity bias of metrics (BLEU's brevity penalty)",
        what="Scores that follow output length rather than quality: longer answers preferred "
        "by RMs; BLEU penalises short outputs by design.",
        command="overcoat probe -d hh-harmless -s length -s random",
        note="probe reports accuracy on longer-vs-shorter pairs beside the length-only baseline.",
    ),
    Term(
        rl="reward-model ensemble",
        mt="metric combination",
        what="Several scorers combined into one (averaged, or weights learned on human judgments).",
        command="overcoat fit -d ted-ende -s bleu -s chrf -s ter",
        note="fit learns a Bradley–Terry combination, cross-fitted over items, against each "
        "scorer alone with CIs.",
    ),
    Term(
        rl="inter-annotator agreement",
        mt="human ceiling",
        what="How well people agree with each other: the best a scorer can be expected to "
        "agree with one of them.",
        command="overcoat quality -d wmt23-ende -p agreement -p ceiling",
        note="quality places each rater as a scorer beside the metrics (humans as scorers).",
    ),
    Term(
        rl="Bradley–Terry model",
        mt="pairwise comparison models (e.g. TrueSkill in WMT)",
        what="A latent strength per item from pairwise wins; RMs are trained with its loss, "
        "WMT ranked systems from relative rankings with TrueSkill.",
        command="overcoat fit -d ted-ende -s bleu -s chrf",
        note="In overcoat the Bradley–Terry model combines scorers (fit); system rankings use "
        "the scores themselves (meta-eval --level system).",
    ),
    Term(
        rl="reward / reward-model score",
        mt="metric score",
        what="A number per (input, output[, reference]); higher is better unless the scorer "
        "says otherwise (TER).",
        command="overcoat score -d ted-ende -s chrf -o scores.jsonl",
    ),
    Term(
        rl="leaderboard rank with confidence intervals",
        mt="significance clusters (WMT metrics task)",
        what="Which scorers are distinguishable: bootstrap CIs and paired permutation tests "
        "group scorers whose differences are not significant.",
        command="overcoat compare -d ted-ende -s chrf -s bleu -s length",
    ),
    Term(
        rl="label noise in preference data",
        mt="annotation quality / rater reliability",
        what="Pairs where people disagree or a label is likely wrong; they cap measurable "
        "accuracy.",
        command="overcoat quality -d wmt23-ende -p suspects",
    ),
)


def filter_terms(word: str | None, terms: Sequence[Term] = TERMS) -> list[Term]:
    """The terms whose RM/RL-side or MT-side word contains ``word`` (case-insensitive); all
    when ``word`` is empty or None."""
    if not word:
        return list(terms)
    w = word.casefold()
    return [t for t in terms if w in t.rl.casefold() or w in t.mt.casefold()]


def terms_table(terms: Sequence[Term]) -> Table:
    t = Table(title="the same thing in two fields' words", show_lines=True)
    t.add_column("RM / RL side")
    t.add_column("MT / metrics side")
    t.add_column("what it is")
    t.add_column("overcoat command", overflow="fold")
    for x in terms:
        what = escape(x.what) + (f"\n[dim]{escape(x.note)}[/dim]" if x.note else "")
        t.add_row(escape(x.rl), escape(x.mt), what, escape(x.command))
    return t


def _md(s: str) -> str:
    return s.replace("|", "\\|")


def terms_markdown(terms: Sequence[Term] = TERMS) -> str:
    """``docs/terms.md``: the page, generated from :data:`TERMS`."""
    lines = [
        "# Terminology bridge: reward models ↔ MT metrics",
        "",
        "<!-- generated from src/overcoat/report/terms.py by "
        "`python -m overcoat.report.terms > docs/terms.md`; tests/test_terms.py checks they "
        "agree -->",
        "",
        "Reward-model and RL papers and MT-metrics papers often name the same thing "
        "differently. Each row gives both words, what the thing is, and the overcoat command "
        "that computes it. `overcoat terms WORD` prints the rows whose words contain WORD.",
        "",
        "| RM / RL side | MT / metrics side | what it is | overcoat command |",
        "|---|---|---|---|",
    ]
    for t in terms:
        what = t.what + (f" {t.note}" if t.note else "")
        lines.append(f"| {_md(t.rl)} | {_md(t.mt)} | {_md(what)} | `{_md(t.command)}` |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.stdout.write(terms_markdown())
