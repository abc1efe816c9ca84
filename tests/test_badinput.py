"""The bad-input table: every malformed input, option or output path gives exactly one line on
stderr naming the file / line / field (or the flag typed), exit code 2, no traceback, and no
output file (or temporary file) left behind.

Data files live in ``tests/badinput/`` (written by ``tests/badinput/make_files.py``). The CLI runs
in-process (``overcoat.cli.main``); cases that could hang (a FIFO) run in a subprocess.
``python tests/test_badinput.py`` prints the table (case, message, exit code) as Markdown.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from overcoat.cli import main

B = Path(__file__).parent / "badinput"
FIX = Path(__file__).parent / "data" / "fixtures"
POINTS = str(B / "points.jsonl")
PAIRS = str(B / "pairwise.jsonl")


def S(data, scorer="length", *extra):
    return ["score", "-d", data, "-s", scorer, "-o", "{O}/out.jsonl", "-q", *extra]


def M(data, *extra, scorer="length"):
    return [
        "meta-eval",
        "-d",
        data,
        "-s",
        scorer,
        "--resamples",
        "20",
        "--json",
        "{O}/r.json",
        "-q",
        *extra,
    ]


def C(*extra):
    return [
        "compare",
        "-d",
        POINTS,
        "-s",
        "length",
        "-s",
        "random",
        "--resamples",
        "20",
        "--json",
        "{O}/r.json",
        "-q",
        *extra,
    ]


def f(name):
    return str(B / name)


# -- setups for cases that need the environment changed (simulated full disk etc.) -------------
def _enospc_on_write(mp, tmp_path):
    """Every output write fails as on a full disk: the temporary file is /dev/full."""
    import overcoat.data.io as io

    real_open = open

    def fake_open(path, mode="r", *a, **kw):
        if str(path).endswith(".tmp") and "w" in mode:
            return real_open("/dev/full", mode, *a, **kw)
        return real_open(path, mode, *a, **kw)

    mp.setattr(io, "open", fake_open, raising=False)


def _enospc_parquet(mp, tmp_path):
    import pyarrow.parquet as pq

    def boom(*a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    mp.setattr(pq, "write_table", boom)


def _read_only_fs(mp, tmp_path):
    """No file can be created anywhere (a read-only file system)."""
    real = tempfile.mkstemp

    def ro(*a, dir=None, **kw):
        if dir is not None and str(dir).startswith(str(tmp_path / "o")):
            raise OSError(errno.EROFS, "Read-only file system")
        return real(*a, dir=dir, **kw)

    mp.setattr(tempfile, "mkstemp", ro)


class _FullDiskConnection:
    """A sqlite3 connection whose writes fail as SQLite does on a full disk."""

    def __init__(self, conn):
        self._c = conn

    def __getattr__(self, name):
        return getattr(self._c, name)

    def executemany(self, *a, **kw):
        raise sqlite3.OperationalError("database or disk is full")


def _cache_disk_full(mp, tmp_path):
    from overcoat.scorers.cache import ScoreCache

    real = ScoreCache._connect

    def connect(self):
        return _FullDiskConnection(real(self))

    mp.setattr(ScoreCache, "_connect", connect)


def _memory_error(mp, tmp_path):
    real = Path.read_bytes

    def read_bytes(self):
        if self.name == "points.jsonl":
            raise MemoryError
        return real(self)

    mp.setattr(Path, "read_bytes", read_bytes)


def _existing_dir_out(mp, tmp_path):
    (tmp_path / "o" / "out.jsonl").mkdir(parents=True)


def _existing_dir_json(mp, tmp_path):
    (tmp_path / "o" / "r.json").mkdir(parents=True)


def _plain_file_parent(mp, tmp_path):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "file").write_text("x")


def _no_local_python(mp, tmp_path):
    mp.syspath_prepend(str(B))


# id: (argv, [substrings the line must contain], setup or None)
CASES: dict[str, tuple[list[str], list[str], object]] = {
    # ---- data files: the file, the line and the field are named -----------------------------
    "malformed_json": (
        S(f("malformed.jsonl")),
        ["malformed.jsonl", "line 2", "malformed JSON"],
        None,
    ),
    "missing_input": (
        S(f("missing_input.jsonl")),
        ["missing_input.jsonl", "line 1", "input"],
        None,
    ),
    "missing_response": (
        S(f("missing_response.jsonl")),
        ["missing_response.jsonl", "line 1", "response"],
        None,
    ),
    "empty_response": (
        S(f("empty_response.jsonl")),
        ["empty_response.jsonl", "line 1", "empty"],
        None,
    ),
    "null_response": (
        S(f("null_response.jsonl")),
        ["null_response.jsonl", "line 1", "response"],
        None,
    ),
    "int_response": (
        S(f("int_response.jsonl")),
        ["int_response.jsonl", "line 1", "response"],
        None,
    ),
    "list_item_id": (S(f("list_item_id.jsonl")), ["list_item_id.jsonl", "line 1", "item_id"], None),
    "nan_score": (S(f("nan_score.jsonl")), ["nan_score.jsonl", "line 2", "score"], None),
    "text_score": (S(f("text_score.jsonl")), ["text_score.jsonl", "line 1", "score"], None),
    "inf_score": (S(f("inf_score.jsonl")), ["inf_score.jsonl", "line 2", "score"], None),
    "duplicate_ids": (
        S(f("duplicate_ids.jsonl")),
        ["duplicate_ids.jsonl", "line 2", "duplicate"],
        None,
    ),
    "array_line": (S(f("array_line.jsonl")), ["array_line.jsonl", "line 2", "array"], None),
    "string_line": (S(f("string_line.jsonl")), ["string_line.jsonl", "line 2", "string"], None),
    "deeply_nested_jsonl": (
        S(f("deep.jsonl")),
        ["deep.jsonl", "line 2", "nested too deeply"],
        None,
    ),
    "deeply_nested_json_array": (
        S(f("deep_array.json")),
        ["deep_array.json", "line 3", "nested too deeply"],
        None,
    ),
    "json_array_trailing_data": (
        S(f("array_trailing.json")),
        ["array_trailing.json", "line 2", "extra data"],
        None,
    ),
    "json_array_number_element": (
        S(f("array_number.json")),
        ["array_number.json", "line 2", "number"],
        None,
    ),
    "json_top_level_number": (S(f("number.json")), ["number.json", "line 1"], None),
    "empty_file": (S(f("empty.jsonl")), ["empty.jsonl", "no records"], None),
    "blank_lines_only": (S(f("blank_lines.jsonl")), ["blank_lines.jsonl", "no records"], None),
    "mixed_row_shapes": (
        M(f("unknown_response.jsonl")),
        ["unknown_response.jsonl", "line 3", "field 'input'"],
        None,
    ),
    "csv_wrong_field_count": (
        S(f("bad_csv_fields.csv")),
        ["bad_csv_fields.csv", "line 3", "fields"],
        None,
    ),
    "csv_duplicate_header": (S(f("dup_header.csv")), ["dup_header.csv", "line 1", "input"], None),
    "csv_empty_header": (
        S(f("empty_header.csv")),
        ["empty_header.csv", "line 1", "empty column"],
        None,
    ),
    "csv_text_score": (S(f("csv_text_score.csv")), ["csv_text_score.csv", "line 2", "score"], None),
    "tsv_wrong_field_count": (
        S(f("bad_tsv_fields.tsv")),
        ["bad_tsv_fields.tsv", "line 2", "fields"],
        None,
    ),
    "not_parquet": (S(f("garbage.parquet")), ["garbage.parquet", "Parquet"], None),
    "unknown_extension": (S(f("junk.txt")), ["junk.txt", "file format"], None),
    "not_utf8": (S(f("latin1.jsonl")), ["latin1.jsonl", "line 1", "UTF-8"], None),
    "truncated_gzip": (S(f("truncated.jsonl.gz")), ["truncated.jsonl.gz", "truncated gzip"], None),
    "corrupt_gzip": (S(f("corrupt.jsonl.gz")), ["corrupt.jsonl.gz", "gzip"], None),
    "gzip_bomb": (S(f("bomb.jsonl.gz")), ["bomb.jsonl.gz", "decompression bomb"], None),
    "dev_zero_as_data": (S("/dev/zero"), ["/dev/zero", "not a regular file"], None),
    "dev_zero_with_format": (S("jsonl:/dev/zero"), ["/dev/zero", "not a regular file"], None),
    "data_memory_error": (S(POINTS), ["points.jsonl", "too large"], _memory_error),
    "data_is_plain_directory": (S(f("notadir")), ["notadir", "directory"], None),
    "data_not_found": (S(f("nope.jsonl")), ["nope.jsonl", "not found"], None),
    "unknown_format_prefix": (S("foo:" + f("points.jsonl")), ["unknown data format 'foo'"], None),
    "nothing_after_format": (S("jsonl:"), ["nothing after 'jsonl'"], None),
    "pair_int_chosen": (
        S(f("pair_int_chosen.jsonl")),
        ["pair_int_chosen.jsonl", "line 1", "chosen"],
        None,
    ),
    "pair_empty_chosen": (
        S(f("pair_empty_chosen.jsonl")),
        ["pair_empty_chosen.jsonl", "line 1", "chosen"],
        None,
    ),
    "rb2_rejected_is_string": (
        S(f("rb2_rejected_string.jsonl")),
        ["rb2_rejected_string.jsonl", "line 1", "field 'chosen'"],
        None,
    ),
    "rb2_rejected_is_string_forced": (
        S("rewardbench2:" + f("rb2_rejected_string.jsonl")),
        ["rb2_rejected_string.jsonl", "line 1", "field 'rejected'"],
        None,
    ),
    "rb2_empty_chosen": (
        S("rewardbench2:" + f("rb2_empty_chosen.jsonl")),
        ["rb2_empty_chosen.jsonl", "line 1", "chosen"],
        None,
    ),
    "rb2_number_in_list": (
        S("rewardbench2:" + f("rb2_int_in_list.jsonl")),
        ["rb2_int_in_list.jsonl", "line 1", "field 'rejected[1]'"],
        None,
    ),
    "rb_missing_chosen": (
        S("rewardbench:" + f("rb_missing_chosen.jsonl")),
        ["rb_missing_chosen.jsonl", "line 1", "chosen"],
        None,
    ),
    "rmbench_two_styles": (
        S("rmbench:" + f("rmbench_short.json")),
        ["rmbench_short.json", "chosen"],
        None,
    ),
    "judgebench_no_label": (
        S("judgebench:" + f("judgebench_no_label.jsonl")),
        ["judgebench_no_label.jsonl", "line 1", "label"],
        None,
    ),
    "hh_no_assistant_turn": (
        S("hh-rlhf:" + f("hh_no_assistant.jsonl")),
        ["hh_no_assistant.jsonl", "line 1", "chosen"],
        None,
    ),
    "map_missing_column": (
        S(PAIRS, "length", "--map", "prompt=question"),
        ["pairwise.jsonl", "question"],
        None,
    ),
    "map_malformed": (S(PAIRS, "length", "--map", "prompt"), ["--map", "prompt"], None),
    "map_on_bundled_score": (
        S("ted-ende", "length", "--map", "prompt=x"),
        ["--map", "bundled", "ted-ende"],
        None,
    ),
    "map_on_bundled_meta_eval": (
        M("hh-harmless", "--map", "prompt=x"),
        ["--map", "bundled", "hh-harmless"],
        None,
    ),
    "unknown_bundled_like_name": (
        S("ted-deen"),
        ["ted-deen", "no bundled data set", "ted-ende"],
        None,
    ),
    # ---- score files (scores:PATH) ------------------------------------------------------------
    "scores_file_null": (
        S(POINTS, "scores:" + f("scores_nan.jsonl")),
        ["scores_nan.jsonl", "line 1", "score"],
        None,
    ),
    "scores_file_text": (
        S(POINTS, "scores:" + f("scores_text.jsonl")),
        ["scores_text.jsonl", "line 1", "score"],
        None,
    ),
    "scores_file_missing": (
        S(POINTS, "scores:" + f("nope.jsonl")),
        ["nope.jsonl", "not found"],
        None,
    ),
    # ---- scorer specs ------------------------------------------------------------------------
    "bleu_tokenize_nonsense": (
        S(POINTS, "bleu:tokenize=nonsense"),
        ["bleu:tokenize=nonsense", "tokenize must be one of"],
        None,
    ),
    "bleu_smooth_method": (
        S(POINTS, "bleu:smooth_method=nope"),
        ["smooth_method must be one of"],
        None,
    ),
    "bleu_max_ngram_order_0": (
        S(POINTS, "bleu:max_ngram_order=0"),
        ["max_ngram_order must be at least 1"],
        None,
    ),
    "bleu_smooth_value_negative": (
        S(POINTS, "bleu:smooth_value=-1"),
        ["smooth_value must be at least 0"],
        None,
    ),
    "bleu_unknown_option": (S(POINTS, "bleu:colour=red"), ["bleu:colour=red", "colour"], None),
    "bleu_bad_bool": (S(POINTS, "bleu:lowercase=maybe"), ["lowercase", "maybe"], None),
    "chrf_char_order_negative": (
        S(POINTS, "chrf:char_order=-5"),
        ["chrf:char_order=-5", "char_order must be at least 0"],
        None,
    ),
    "chrf_word_order_negative": (
        S(POINTS, "chrf:word_order=-1"),
        ["word_order must be at least 0"],
        None,
    ),
    "chrf_beta_negative": (S(POINTS, "chrf:beta=-2"), ["beta must be at least 0"], None),
    "chrf_no_orders": (S(POINTS, "chrf:char_order=0"), ["char_order + word_order"], None),
    "chrf_char_order_text": (S(POINTS, "chrf:char_order=six"), ["char_order", "six"], None),
    "ter_unknown_option": (S(POINTS, "ter:speed=fast"), ["ter:speed=fast", "speed"], None),
    "rouge_bad_bool": (S(POINTS, "rouge-l:use_stemmer=perhaps"), ["use_stemmer", "perhaps"], None),
    "unknown_scorer": (S(POINTS, "bleurt-xxl"), ["unknown scorer spec 'bleurt-xxl'"], None),
    "python_os_system": (
        S(POINTS, "python:os:system"),
        ["python:os:system", "item 'i0'", "TypeError"],
        None,
    ),
    "python_raises": (
        S(POINTS, "python:python_scorers:raises"),
        ["python:python_scorers:raises", "raised on item 'i0'", "ValueError"],
        _no_local_python,
    ),
    "python_returns_text": (
        S(POINTS, "python:python_scorers:text"),
        ["python:python_scorers:text", "returned str", "item 'i0'"],
        _no_local_python,
    ),
    "python_returns_list": (
        S(POINTS, "python:python_scorers:returns_list"),
        ["returns_list", "returned list", "item 'i0'"],
        _no_local_python,
    ),
    "python_batched_short": (
        S(POINTS, "python:python_scorers:batched_short"),
        ["batched_short", "returned 1 scores for 6"],
        _no_local_python,
    ),
    "python_batched_scalar": (
        S(POINTS, "python:python_scorers:batched_scalar"),
        ["batched_scalar", "returned an array of shape ()"],
        _no_local_python,
    ),
    "python_not_callable": (
        S(POINTS, "python:python_scorers:NOT_A_FUNCTION"),
        ["NOT_A_FUNCTION", "no callable"],
        _no_local_python,
    ),
    "python_os_sep": (S(POINTS, "python:os:sep"), ["python:os:sep", "no callable"], None),
    "python_no_module": (
        S(POINTS, "python:no_such_module_xyz:f"),
        ["no_such_module_xyz", "cannot import"],
        None,
    ),
    "python_syntax_error": (
        S(POINTS, "python:syntax_error:broken"),
        ["syntax_error", "SyntaxError"],
        _no_local_python,
    ),
    "python_no_function_part": (S(POINTS, "python:os"), ["python:os"], None),
    "judge_local_missing": (
        S(POINTS, "judge:local:/nonexistent/model"),
        ["judge:local", "/nonexistent/model"],
        None,
    ),
    "judge_remote_code": (
        S(POINTS, "judge:local:" + f("remote_code_model")),
        ["remote_code_model", "trust_remote_code"],
        None,
    ),
    "hf_remote_code": (
        S(POINTS, "hf:" + f("remote_code_model")),
        ["remote_code_model", "trust_remote_code"],
        None,
    ),
    "loglik_remote_code": (
        S(POINTS, "loglik:" + f("remote_code_model")),
        ["remote_code_model", "trust_remote_code"],
        None,
    ),
    "nli_remote_code": (
        S(POINTS, "nli:" + f("remote_code_model")),
        ["remote_code_model", "own Python code"],
        None,
    ),
    "embed_remote_code": (
        S(POINTS, "embed:" + f("remote_code_model")),
        ["remote_code_model", "own Python code"],
        None,
    ),
    "bertscore_remote_code": (
        S(POINTS, "bertscore:" + f("remote_code_model")),
        ["remote_code_model", "own Python code"],
        None,
    ),
    "pairwise_judge_in_score": (
        S(PAIRS, "judge-pair:http://127.0.0.1:9/v1#m"),
        ["pairwise judge"],
        None,
    ),
    "scorer_given_twice": (S(POINTS, "length", "-s", "length"), ["given twice"], None),
    # ---- options: one line naming the flag the user typed -----------------------------------
    "alpha_2": (M(POINTS, "--alpha", "2"), ["--alpha", "between 0 and 1", "2"], None),
    "alpha_nan": (M(POINTS, "--alpha", "nan"), ["--alpha", "nan"], None),
    "alpha_0": (M(POINTS, "--alpha", "0"), ["--alpha", "between 0 and 1"], None),
    "alpha_negative": (M(POINTS, "--alpha", "-0.1"), ["--alpha"], None),
    "alpha_inf": (M(POINTS, "--alpha", "inf"), ["--alpha"], None),
    "alpha_text": (M(POINTS, "--alpha", "low"), ["--alpha", "got 'low'"], None),
    "compare_alpha_2": (C("--alpha", "2"), ["--alpha", "between 0 and 1"], None),
    "resamples_negative": (
        M(POINTS, "--resamples", "-5"),
        ["--resamples", "greater than or equal to 1", "got '-5'"],
        None,
    ),
    "resamples_zero": (M(POINTS, "--resamples", "0"), ["--resamples"], None),
    "resamples_text": (M(POINTS, "--resamples", "many"), ["--resamples", "integer"], None),
    "compare_resamples_zero": (C("--resamples", "0"), ["--resamples"], None),
    "j_0_score": (S(POINTS, "length", "-j", "0"), ["-j", "greater than or equal to 1"], None),
    "j0_joined": (S(POINTS, "length", "-j0"), ["-j", "greater than or equal to 1"], None),
    "workers_0_score": (
        S(POINTS, "length", "--workers", "0"),
        ["--workers", "greater than or equal to 1"],
        None,
    ),
    "workers_eq_0": (S(POINTS, "length", "--workers=0"), ["--workers"], None),
    "j_0_meta_eval": (M(POINTS, "-j", "0"), ["-j"], None),
    "batch_size_0": (
        S(POINTS, "length", "--batch-size", "0"),
        ["--batch-size", "greater than or equal to 1"],
        None,
    ),
    "batch_size_text": (
        S(POINTS, "length", "--batch-size", "big"),
        ["--batch-size", "integer"],
        None,
    ),
    "max_items_1": (
        M(POINTS, "--max-items", "1"),
        ["--max-items", "greater than or equal to 2"],
        None,
    ),
    "k_folds_1": (M(POINTS, "--k-folds", "1"), ["--k-folds", "greater than or equal to 2"], None),
    "k_folds_too_many": (
        M(POINTS, "--k-folds", "50"),
        ["--k-folds", "number of items (3)", "50"],
        None,
    ),
    "ci_foo": (M(POINTS, "--ci", "foo"), ["--ci must be one of", "foo"], None),
    "ties_sometimes": (M(POINTS, "--ties", "sometimes"), ["--ties must be one of"], None),
    "compare_ties_bad": (C("--ties", "maybe"), ["--ties must be one of"], None),
    "level_bad": (M(POINTS, "--level", "galaxy"), ["--level must be one of"], None),
    "group_bad": (M(POINTS, "--group", "family"), ["--group must be one of"], None),
    "correction_bad": (
        M(POINTS, "--correction", "bonferroni"),
        ["--correction must be one of"],
        None,
    ),
    "group_system_on_pairwise": (
        M(PAIRS, "--group", "system"),
        ["--group system", "preference pairs"],
        None,
    ),
    "level_system_one_system": (
        M(f("one_system.jsonl"), "--level", "system"),
        ["--level system", "at least two systems"],
        None,
    ),
    "level_system_on_pairwise": (
        M(PAIRS, "--level", "system"),
        ["--level system", "preference pairs"],
        None,
    ),
    "seed_text": (M(POINTS, "--seed", "abc"), ["--seed", "integer"], None),
    "missing_scorer": (
        ["score", "-d", POINTS, "-o", "{O}/out.jsonl"],
        ["Missing option '--scorer'"],
        None,
    ),
    "missing_data": (["meta-eval", "-s", "length"], ["Missing option '--data'"], None),
    "unknown_option": (S(POINTS, "length", "--colour"), ["--colour"], None),
    "unknown_command": (["evaluate-everything"], ["No such command 'evaluate-everything'"], None),
    "compare_one_scorer": (
        ["compare", "-d", POINTS, "-s", "length"],
        ["at least two --scorer"],
        None,
    ),
    "dev_data_not_found": (
        M(f("pair_empty_chosen.jsonl").replace("pair_empty_chosen", "points"), scorer="length")
        + ["--dev", f("nope.jsonl")],
        ["nope.jsonl", "not found"],
        None,
    ),
    # ---- outputs: checked before any scoring; nothing half-written ----------------------------
    "out_bad_extension": (
        ["score", "-d", POINTS, "-s", "length", "-o", "{O}/out.txt"],
        ["out.txt", ".parquet, .jsonl or .csv"],
        None,
    ),
    "out_in_proc": (
        ["score", "-d", POINTS, "-s", "length", "-o", "/proc/overcoat-out.jsonl"],
        ["/proc/overcoat-out.jsonl", "cannot write"],
        None,
    ),
    "out_is_directory": (S(POINTS), ["out.jsonl", "is a directory"], _existing_dir_out),
    "out_parent_is_file": (
        ["score", "-d", POINTS, "-s", "length", "-o", "{O}/file/out.jsonl"],
        ["file/out.jsonl", "Not a directory"],
        _plain_file_parent,
    ),
    "out_read_only_fs": (S(POINTS), ["out.jsonl", "Read-only file system"], _read_only_fs),
    "out_disk_full_jsonl": (S(POINTS), ["out.jsonl", "No space left on device"], _enospc_on_write),
    "out_disk_full_parquet": (
        ["score", "-d", POINTS, "-s", "length", "-o", "{O}/out.parquet", "-q"],
        ["out.parquet", "No space left on device"],
        _enospc_parquet,
    ),
    "json_in_proc": (
        M(POINTS)[:-3] + ["--json", "/proc/overcoat.json", "-q"],
        ["/proc/overcoat.json", "cannot write"],
        None,
    ),
    "json_is_directory": (M(POINTS), ["r.json", "is a directory"], _existing_dir_json),
    "json_dev_full": (
        M(POINTS)[:-3] + ["--json", "/dev/full", "-q"],
        ["/dev/full", "not a regular file"],
        None,
    ),
    "json_dev_null": (
        M(POINTS)[:-3] + ["--json", "/dev/null", "-q"],
        ["/dev/null", "not a regular file"],
        None,
    ),
    "json_read_only_fs": (M(POINTS), ["r.json", "Read-only file system"], _read_only_fs),
    "json_disk_full": (M(POINTS), ["r.json", "No space left on device"], _enospc_on_write),
    "json_parent_is_file": (
        M(POINTS)[:-3] + ["--json", "{O}/file/r.json", "-q"],
        ["file/r.json", "Not a directory"],
        _plain_file_parent,
    ),
    "compare_json_in_proc": (
        C()[:-3] + ["--json", "/proc/x.json", "-q"],
        ["/proc/x.json", "cannot write"],
        None,
    ),
    "run_out_dir_in_proc": (
        ["run", "--out-dir", "/proc/overcoat-run", "-q"],
        ["/proc/overcoat-run", "cannot write"],
        None,
    ),
    # ---- the score cache -------------------------------------------------------------------
    "cache_in_proc": (
        S(POINTS, "length", "--cache", "/proc/x/c.sqlite"),
        ["/proc/x/c.sqlite", "score cache"],
        None,
    ),
    "cache_not_sqlite": (
        S(POINTS, "length", "--cache", POINTS),
        ["points.jsonl", "not a valid SQLite"],
        None,
    ),
    "cache_is_directory": (
        S(POINTS, "length", "--cache", str(B)),
        ["badinput", "score cache"],
        None,
    ),
    "cache_disk_full": (
        S(POINTS, "length", "--cache", "{T}/c.sqlite"),
        ["c.sqlite", "database or disk is full"],
        _cache_disk_full,
    ),
}


def _fill(argv, tmp_path):
    return [a.replace("{O}", str(tmp_path / "o")).replace("{T}", str(tmp_path)) for a in argv]


def _leftovers(tmp_path) -> list[str]:
    o = tmp_path / "o"
    if not o.exists():
        return []
    return sorted(str(p.relative_to(o)) for p in o.rglob("*") if p.is_file() and p.name != "file")


def run_case(name, tmp_path, monkeypatch, capsys):
    argv, _, setup = CASES[name]
    monkeypatch.setenv("OVERCOAT_CACHE", str(tmp_path / "cache" / "scores.sqlite"))
    monkeypatch.setenv("OVERCOAT_TEST_MARKER", str(tmp_path / "REMOTE_CODE_RAN"))
    if setup is not None:
        setup(monkeypatch, tmp_path)
    dirs_before = set((tmp_path / "o").rglob("*")) if (tmp_path / "o").exists() else set()
    code = main(_fill(argv, tmp_path))
    cap = capsys.readouterr()
    return code, cap.err, dirs_before


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_exit_2_nothing_written(name, tmp_path, monkeypatch, capsys):
    code, err, before = run_case(name, tmp_path, monkeypatch, capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith("overcoat: error: "), err
    for want in CASES[name][1]:
        assert want in lines[0], (want, lines[0])
    assert _leftovers(tmp_path) == []
    after = set((tmp_path / "o").rglob("*")) if (tmp_path / "o").exists() else set()
    assert after == before, "a folder was created for an output that was never written"
    assert not (tmp_path / "REMOTE_CODE_RAN").exists()


def test_case_table_is_large():
    assert len(CASES) >= 100


# -- cases that need a subprocess, or end with exit 0 and one visible line ----------------------
def _cli(args, tmp_path, timeout=60, env=None):
    e = {**os.environ, "OVERCOAT_CACHE": str(tmp_path / "c.sqlite"), **(env or {})}
    e["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).parents[1] / "src"), e.get("PYTHONPATH", "")]
    )
    return subprocess.run(
        [sys.executable, "-m", "overcoat.cli", *args],
        capture_output=True,
        text=True,
        env=e,
        timeout=timeout,
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes (POSIX)")
def test_fifo_without_writer_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "data.jsonl"
    os.mkfifo(fifo)
    p = _cli(["score", "-d", str(fifo), "-s", "length", "-o", str(tmp_path / "o.jsonl")], tmp_path)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "FIFO" in lines[0] and str(fifo) in lines[0], p.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_unwritable_default_cache_is_one_warning_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OVERCOAT_CACHE", "/proc/overcoat-no-such-dir/scores.sqlite")
    out = tmp_path / "o.jsonl"
    code = main(["score", "-d", POINTS, "-s", "length", "-o", str(out), "-q"])
    err = capsys.readouterr().err
    assert code == 0
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("overcoat: warning: score cache disabled"), err
    assert "/proc/overcoat-no-such-dir/scores.sqlite" in lines[0]
    assert out.exists()


def test_unknown_rewardbench_subset_is_a_visible_note(tmp_path, capsys):
    code = main(
        [
            "meta-eval",
            "-d",
            "rewardbench:" + f("rb_unknown_subset.jsonl"),
            "-s",
            "length",
            "--resamples",
            "20",
            "-q",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "note:" in out and "no-such-subset" in out and "sections not scored" in out


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_outputs_respect_the_umask(tmp_path, capsys):
    old = os.umask(0o027)
    try:
        for ext in ("jsonl", "csv", "parquet"):
            assert (
                main(
                    [
                        "score",
                        "-d",
                        POINTS,
                        "-s",
                        "length",
                        "-o",
                        str(tmp_path / f"s.{ext}"),
                        "-q",
                        "--no-cache",
                    ]
                )
                == 0
            )
        assert (
            main(
                [
                    "meta-eval",
                    "-d",
                    POINTS,
                    "-s",
                    "length",
                    "--resamples",
                    "10",
                    "--json",
                    str(tmp_path / "r.json"),
                    "-q",
                    "--no-cache",
                ]
            )
            == 0
        )
    finally:
        os.umask(old)
    for name in ("s.jsonl", "s.csv", "s.parquet", "r.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o640, name
    # replacing a file keeps that file's own mode
    os.chmod(tmp_path / "s.jsonl", 0o604)
    assert (
        main(
            [
                "score",
                "-d",
                POINTS,
                "-s",
                "length",
                "-o",
                str(tmp_path / "s.jsonl"),
                "-q",
                "--no-cache",
            ]
        )
        == 0
    )
    assert (tmp_path / "s.jsonl").stat().st_mode & 0o777 == 0o604


def _markdown_table() -> str:  # pragma: no cover - a report helper
    import io
    from contextlib import redirect_stderr, redirect_stdout

    rows = ["| # | case | exit | message |", "|---|---|---|---|"]
    for k, name in enumerate(CASES, 1):
        with tempfile.TemporaryDirectory() as d:
            mp = pytest.MonkeyPatch()
            try:
                mp.setenv("OVERCOAT_CACHE", str(Path(d) / "cache" / "scores.sqlite"))
                mp.setenv("OVERCOAT_TEST_MARKER", str(Path(d) / "REMOTE_CODE_RAN"))
                if CASES[name][2] is not None:
                    CASES[name][2](mp, Path(d))
                err = io.StringIO()
                with redirect_stderr(err), redirect_stdout(io.StringIO()):
                    code = main(_fill(CASES[name][0], Path(d)))
            finally:
                mp.undo()
        msg = err.getvalue().strip().replace(d, "TMP").replace(str(B), "badinput")
        rows.append(f"| {k} | {name} | {code} | {msg.replace('|', '/')} |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover
    print(_markdown_table())
