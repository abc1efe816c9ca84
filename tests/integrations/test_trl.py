"""overcoat.integrations.trl: any scorer as a TRL reward function.

The keyword set is TRL's own: huggingface/trl at f2cd57710ae345ea6428ae95363267fcf38a3dc8,
``trl/trainer/grpo_trainer.py``, ``GRPOTrainer._calculate_rewards`` calls every custom reward
function as ``reward_func(prompts=prompts, completions=completions,
completion_ids=completion_ids_list, **reward_kwargs)`` where ``reward_kwargs`` holds every
dataset column except prompt/completion/completion_ids (one value per completion) plus
``trainer_state``, ``log_extra`` and ``log_metric`` (and ``environments`` when the trainer has
environments). Conversational completions are ``[{"role": "assistant", "content": ...}]``
(same file, ``_generate``). ``None`` results become NaN there.
"""

from __future__ import annotations

import pickle
import textwrap

import pytest
from sacrebleu.metrics import CHRF

from overcoat.errors import OvercoatError
from overcoat.integrations.trl import TRL_KEYWORDS, reward_function


class _State:  # stands in for transformers.TrainerState
    global_step = 3


def trl_call(fn, prompts, completions, **columns):
    """Call ``fn`` exactly as GRPOTrainer._calculate_rewards does."""
    metrics: dict[str, list[float]] = {}
    extra: dict[str, list] = {}
    out = fn(
        prompts=prompts,
        completions=completions,
        completion_ids=[[1, 2, 3] for _ in completions],
        **columns,
        trainer_state=_State(),
        log_extra=lambda name, values: extra.setdefault(name, values),
        log_metric=lambda name, value: metrics.setdefault(name, []).append(value),
    )
    return out, metrics


def chrf_loop(hyps, refs):
    """sacreBLEU's chrF, one sentence at a time (the reference)."""
    m = CHRF()
    return [m.sentence_score(h, r).score for h, r in zip(hyps, refs)]


def test_keyword_set_is_trls():
    assert TRL_KEYWORDS >= {
        "prompts",
        "completions",
        "completion_ids",
        "trainer_state",
        "log_extra",
        "log_metric",
    }


def test_plain_format_scores_against_the_reference_column():
    fn = reward_function("chrf", cache=None)
    prompts = ["Translate: Hallo Welt", "Translate: Guten Morgen", "Translate: Hallo Welt"]
    completions = ["Hello world", "Good evening", "Hello world"]
    refs = ["Hello world", "Good morning", "Hello, world!"]
    out, metrics = trl_call(fn, prompts, completions, reference=refs, task=["mt"] * 3)
    assert out == pytest.approx(chrf_loop(completions, [[r] for r in refs]), abs=1e-9)
    assert out[0] == 100.0 and out[2] < 100.0  # same completion, different reference
    assert all(isinstance(x, float) for x in out)
    assert fn.__name__ == "chrF"  # what TRL logs the reward under
    assert metrics == {"chrF/missing_fraction": [0.0]}


def test_conversational_format():
    fn = reward_function("chrf", cache=None, references="solution")
    prompts = [
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"}],
        [{"role": "user", "content": "Say bye"}],
    ]
    completions = [
        [{"role": "assistant", "content": "hi there"}],
        [{"role": "assistant", "content": [{"type": "text", "text": "bye now"}]}],
    ]
    out, _ = trl_call(fn, prompts, completions, solution=[["hi there", "hello"], "goodbye"])
    assert out == pytest.approx(
        chrf_loop(["hi there", "bye now"], [["hi there", "hello"], ["goodbye"]])
    )
    assert out[0] == 100.0


def test_length_is_reference_free_and_sees_the_completion_text():
    fn = reward_function("length:unit=chars", cache=None)
    out, _ = trl_call(
        fn,
        ["p", [{"role": "user", "content": "q"}]],
        ["abc", [{"role": "assistant", "content": "hello"}]],
    )
    assert out == [3.0, 5.0]


@pytest.fixture
def number_scorer(tmp_path):
    path = tmp_path / "numeric.py"
    path.write_text(
        textwrap.dedent(
            """
            import math
            def value(input, response, references):
                try:
                    return float(response)
                except ValueError:
                    return math.nan
            """
        )
    )
    return f"python:{path}:value"


def test_unparseable_is_none_and_counted(number_scorer):
    fn = reward_function(number_scorer, cache=None, name="numeric")
    out, metrics = trl_call(fn, ["a", "b", "c", "d"], ["1.5", "no number", "-2", "nan?"])
    assert out == [1.5, None, -2.0, None]
    assert metrics == {"numeric/missing_fraction": [0.5]}


def test_cache_and_dedup_give_the_same_numbers(tmp_path):
    cache = str(tmp_path / "c.sqlite")
    fn = reward_function("chrf", cache=cache)
    comps = ["a cat sat", "a dog sat", "a cat sat"]
    refs = ["the cat sat"] * 3
    first, _ = trl_call(fn, ["p"] * 3, comps, references=refs)
    again, _ = trl_call(fn, ["p"] * 3, comps, references=refs)
    assert first == again == pytest.approx(chrf_loop(comps, [[r] for r in refs]))
    from overcoat.scorers.cache import ScoreCache

    with ScoreCache(cache) as c:
        assert c.count(fn.signature) == 2  # two distinct completions


def test_errors_name_the_problem():
    fn = reward_function("chrf", cache=None)
    with pytest.raises(OvercoatError, match="needs references: no reference column"):
        trl_call(fn, ["p"], ["x"])
    with pytest.raises(OvercoatError, match="1 of 2 rows without one"):
        trl_call(fn, ["p", "q"], ["x", "y"], reference=["x", None])
    with pytest.raises(OvercoatError, match="'answer' is not among the dataset columns"):
        trl_call(reward_function("chrf", references="answer"), ["p"], ["x"], reference=["x"])
    with pytest.raises(OvercoatError, match=r"reference\[0\]: a reference must be text"):
        trl_call(fn, ["p"], ["x"], reference=[{"a": 1}])
    with pytest.raises(OvercoatError, match="pairwise"):
        reward_function("judge-pair:http://127.0.0.1:9/v1#m")


def test_numbers_as_references_and_pickling():
    fn = reward_function("exact", cache=None, references="answer")
    out, _ = trl_call(fn, ["q", "q"], ["42", "41"], answer=[42, 42])
    assert out == [1.0, 0.0]
    again = pickle.loads(pickle.dumps(fn))
    assert again.__name__ == fn.__name__ and trl_call(again, ["q"], ["42"], answer=[42])[0] == [1.0]


@pytest.mark.models
@pytest.mark.slow
def test_real_grpo_step(tmp_path):
    """One GRPOTrainer step on a tiny random Llama built here: TRL calls the reward with the
    generated completions and the dataset's reference column, and logs it under its name."""
    pytest.importorskip("trl")
    torch = pytest.importorskip("torch")
    from datasets import Dataset
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    from trl import GRPOConfig, GRPOTrainer

    words = "the cat sat on mat a dog ran in park and bird sang".split()
    vocab = {w: i for i, w in enumerate(["<pad>", "<eos>", "<unk>", *words])}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tk.decoder = decoders.WordPiece(prefix="##")
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
    )
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=64,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=1,
    )
    folder = tmp_path / "tiny"
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    refs = ["sat on the mat", "ran in the park", "sang", "and the cat"]
    ds = Dataset.from_dict(
        {"prompt": ["the cat", "a dog", "the bird", "in park"], "reference": refs}
    )

    inner = reward_function("chrf", cache=None)
    seen: list[dict] = []

    def spy(**kwargs):
        seen.append(kwargs)
        return inner(**kwargs)

    spy.__name__ = inner.__name__
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=6,
        max_steps=1,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        seed=0,
    )
    trainer = GRPOTrainer(
        model=str(folder), reward_funcs=[spy], args=args, train_dataset=ds, processing_class=tok
    )
    trainer.train()
    assert len(seen) == 1
    call = seen[0]
    assert {"prompts", "completions", "completion_ids", "trainer_state", "reference"} <= set(call)
    comps, rows = call["completions"], call["reference"]
    assert len(comps) == 4 and all(isinstance(c, str) for c in comps)
    want = chrf_loop(comps, [[r] for r in rows])
    log = trainer.state.log_history[0]
    assert log["rewards/chrF/mean"] == pytest.approx(sum(want) / len(want), rel=1e-5)
    assert log["chrF/missing_fraction"] == 0.0
