"""Scorers that misbehave, for the bad-input table."""


def raises(input, response, references):
    raise ValueError("cannot score " + response)


def text(input, response, references):
    return "high"


def returns_list(input, response, references):
    return [1, 2]


def batched_short(inputs, responses, references):
    return [1.0]


batched_short.batched = True


def batched_scalar(inputs, responses, references):
    return 3.0


batched_scalar.batched = True

NOT_A_FUNCTION = 3
