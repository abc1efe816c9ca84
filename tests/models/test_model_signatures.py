"""Model scorer signatures, as written before the scorers were reshaped: every field but the
weights' content hash is pinned, and the hash is the one :func:`model_revision` computes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from overcoat.scorers import transformers_models as TM
from overcoat.scorers.registry import get_scorer


def _rev(folder) -> str:
    rev = TM.model_revision(TM.resolve_model(str(folder)))
    assert re.fullmatch(r"sha256:[0-9a-f]{16}", rev)
    return rev


def test_reward_model_signatures(rm_dir, rm_plain_dir):
    name, rev = Path(rm_dir).name, _rev(rm_dir)
    assert get_scorer(f"hf:{rm_dir}").signature() == (
        f"hf|model:{name}|rev:{rev}|head:0|template:chat|maxlen:64|trunc:right|dtype:float32"
    )
    sc = get_scorer(f"hf:{rm_dir},head=1,template=plain,maxlen=32,truncation=left,dtype=bf16")
    assert (sc.name, sc.signature()) == (
        f"hf:{name}[1]",
        (f"hf|model:{name}|rev:{rev}|head:1|template:plain|maxlen:32|trunc:left|dtype:bfloat16"),
    )
    plain, prev = Path(rm_plain_dir).name, _rev(rm_plain_dir)
    assert get_scorer(f"hf:{rm_plain_dir}").signature() == (
        f"hf|model:{plain}|rev:{prev}|head:0|template:plain|maxlen:64|trunc:right|dtype:float32"
    )


def test_causal_lm_signatures(lm_dirs):
    (a, b), (ra, rb) = lm_dirs, [_rev(d) for d in lm_dirs]
    na, nb = Path(a).name, Path(b).name
    assert get_scorer(f"loglik:{a}").signature() == (
        f"loglik|model:{na}|rev:{ra}|template:chat|maxlen:64|mean|dtype:float32"
    )
    assert get_scorer(f"loglik:{a},maxlen=20,template=plain").signature() == (
        f"loglik|model:{na}|rev:{ra}|template:plain|maxlen:20|mean|dtype:float32"
    )
    two = (
        f"dpo|model:{na}|rev:{ra}|template:chat|maxlen:64|ref:model:{nb}|ref_rev:{rb}"
        f"|ref_template:chat|ref_maxlen:64|beta:0.2|sum|dtype:float32"
    )
    assert get_scorer(f"dpo:{a},{b},beta=0.2").signature() == two
    assert get_scorer(f"dpo:{a},ref={b},beta=0.2").signature() == two
    assert get_scorer(f"dpo:{a},ref=none").signature() == (
        f"dpo|model:{na}|rev:{ra}|template:chat|maxlen:64|ref:none|beta:0.1|sum|dtype:float32"
    )
