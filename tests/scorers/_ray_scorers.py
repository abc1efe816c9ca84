"""``python:`` scorers for the Ray engine tests (loaded by file path, in the test process and in
Ray workers alike)."""

import math


def odd(input, response, references):
    """Type/token ratio of the response, with missing scores (None) and negative zeros mixed in,
    so that NaN positions and the sign of zero are checked too."""
    words = response.split()
    if len(words) % 5 == 0:
        return None
    if len(words) % 7 == 0:
        return -0.0
    return len(set(words)) / len(words) + math.sin(len(input))


def raises(input, response, references):
    if "e" in response:
        raise ValueError("no e please")
    return 1.0
