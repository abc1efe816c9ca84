"""One number rule for every report (report/numbers.py)."""

import math

import numpy as np
import pytest

from overcoat.report.numbers import fmt, fmt_ci


@pytest.mark.parametrize(
    ("x", "digits", "want"),
    [
        (None, 3, "-"),
        (math.nan, 3, "-"),
        (np.float64("nan"), 4, "-"),
        (0.12345, 3, "0.123"),
        (np.float32(0.5), 2, "0.50"),
        (-0.0, 2, "-0.00"),
        (7, 3, "7"),
        (np.int64(7), 3, "7.000"),  # numpy integers are not counts the documents write
        (True, 3, "True"),
        (math.inf, 1, "inf"),
        ("n/a", 3, "n/a"),
    ],
)
def test_fmt(x, digits, want):
    assert fmt(x, digits) == want


def test_missing_mark_is_chosen_by_the_caller():
    assert fmt(None, missing="–") == "–" and fmt(math.nan, missing="–") == "–"


def test_fmt_ci():
    e = {"statistic": 0.6, "confidence_interval": [0.53, 0.6701]}
    assert fmt_ci(e) == "0.600 [0.530, 0.670]"
    assert fmt_ci(e, 4) == "0.6000 [0.5300, 0.6701]"
    assert fmt_ci({"statistic": 0.6}) == "0.600"
    assert fmt_ci({"statistic": 0.6, "confidence_interval": [None, None]}) == "0.600"
    assert fmt_ci({"statistic": None}) == "-" and fmt_ci(None, missing="–") == "–"
    assert fmt_ci({"statistic": 0.6, "confidence_interval": [math.nan, 0.7]}) == "0.600 [-, 0.700]"
