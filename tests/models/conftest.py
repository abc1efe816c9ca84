"""Tiny randomly initialised models and an offline word-level tokenizer (nothing is downloaded).

Folders are built once per test session with fixed torch seeds:

* ``rm_dir`` - LlamaForSequenceClassification with 3 outputs, a tokenizer with a chat template;
* ``rm_plain_dir`` - the same weights, tokenizer without a chat template;
* ``lm_dirs`` - two LlamaForCausalLM (seeds 1 and 2) with the chat tokenizer;
* ``gpt2_dir`` - a GPT-2 causal LM with the template-less tokenizer (absolute positions).
"""

from __future__ import annotations

import re

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

CORPUS = """
the cat sat on the mat . a dog ran in the park and the bird sang .
how do i bake bread ? mix flour , water , salt and yeast ; knead it , let it rise and bake it .
what is the capital of france ? paris is the capital of france .
tell me a joke . why did the chicken cross the road ? to get to the other side !
i can not help with that . sorry , please ask something else .
thank you very much , that was helpful . you are welcome .
User Assistant System : hello hi yes no maybe good bad long short answer question
"""

SPECIALS = [
    "[PAD]",
    "[UNK]",
    "[BOS]",
    "[EOS]",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|end|>",
]

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} "
    "<|end|> {% endfor %}{% if add_generation_prompt %}<|assistant|> {% endif %}"
)

MAX_POS = 64


def build_tokenizer(chat: bool = True):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = sorted(set(re.findall(r"\w+|[^\w\s]+", CORPUS)))
    vocab = {t: i for i, t in enumerate(SPECIALS + words)}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.post_processor = processors.TemplateProcessing(
        single="[BOS] $A", pair="[BOS] $A $B", special_tokens=[("[BOS]", vocab["[BOS]"])]
    )
    tk.add_special_tokens(SPECIALS)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        bos_token="[BOS]",
        eos_token="[EOS]",
        pad_token="[PAD]",
        unk_token="[UNK]",
        model_max_length=MAX_POS,
    )
    if chat:
        tok.chat_template = CHAT_TEMPLATE
    return tok


def llama_config(vocab_size: int, **kw):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=MAX_POS,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=3,
        initializer_range=0.2,
        tie_word_embeddings=False,
        **kw,
    )


def save(model, tok, path):
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tokenizer():
    return build_tokenizer(chat=True)


@pytest.fixture(scope="session")
def rm_dir(tmp_path_factory):
    from transformers import LlamaForSequenceClassification

    tok = build_tokenizer(chat=True)
    torch.manual_seed(0)
    model = LlamaForSequenceClassification(llama_config(len(tok), num_labels=3)).eval()
    return save(model, tok, tmp_path_factory.mktemp("rm"))


@pytest.fixture(scope="session")
def rm_plain_dir(tmp_path_factory, rm_dir):
    from transformers import LlamaForSequenceClassification

    tok = build_tokenizer(chat=False)
    model = LlamaForSequenceClassification.from_pretrained(rm_dir)
    return save(model, tok, tmp_path_factory.mktemp("rm_plain"))


@pytest.fixture(scope="session")
def lm_dirs(tmp_path_factory):
    from transformers import LlamaForCausalLM

    tok = build_tokenizer(chat=True)
    out = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(llama_config(len(tok))).eval()
        out.append(save(model, tok, tmp_path_factory.mktemp(f"lm{seed}")))
    return out


@pytest.fixture(scope="session")
def gpt2_dir(tmp_path_factory):
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = build_tokenizer(chat=False)
    torch.manual_seed(3)
    cfg = GPT2Config(
        vocab_size=len(tok),
        n_embd=32,
        n_layer=2,
        n_head=4,
        n_positions=MAX_POS,
        bos_token_id=2,
        eos_token_id=3,
        pad_token_id=0,
        initializer_range=0.2,
    )
    return save(GPT2LMHeadModel(cfg).eval(), tok, tmp_path_factory.mktemp("gpt2"))


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread (and OpenMP spinning on a busy 2-core CI box makes
    each 32-wide matmul ~30x slower with 2)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _fresh_models():
    """Each test loads models itself (the per-process cache must not hide loading bugs); the
    tiny ones load in milliseconds."""
    from overcoat.scorers import transformers_models

    transformers_models.clear_model_cache()
    yield
    transformers_models.clear_model_cache()
