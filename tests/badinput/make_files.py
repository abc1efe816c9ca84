"""Writes the bad-input data files of this folder (run once; the files are committed).

    python tests/badinput/make_files.py

Each file is one kind of malformed input that ``tests/test_badinput.py`` feeds to the CLI.
"""

import gzip
import json
from pathlib import Path

HERE = Path(__file__).parent


def row(**kw):
    base = {"item_id": "i0", "input": "x", "response_id": "a", "response": "y", "score": 1}
    base.update(kw)
    return json.dumps({k: v for k, v in base.items() if v is not _DROP})


_DROP = object()


def good_pairwise():
    return [
        json.dumps({"prompt": "p1", "chosen": "good", "rejected": "bad"}),
        json.dumps({"prompt": "p2", "chosen": "fine answer", "rejected": "no"}),
    ]


def files():
    f = {}
    f["malformed.jsonl"] = row() + "\n" + '{"item_id": "i1", "input": "x"\n'
    f["missing_input.jsonl"] = row(input=_DROP) + "\n"
    f["missing_response.jsonl"] = row(response=_DROP) + "\n"
    f["empty_response.jsonl"] = row(response="   ") + "\n"
    f["null_response.jsonl"] = row(response=None) + "\n"
    f["int_response.jsonl"] = row(response=5) + "\n"
    f["list_item_id.jsonl"] = row(item_id=["a"]) + "\n"
    f["nan_score.jsonl"] = (
        row() + "\n" + row(item_id="i1").replace('"score": 1', '"score": NaN') + "\n"
    )
    f["text_score.jsonl"] = row(score="high") + "\n"
    f["inf_score.jsonl"] = (
        row() + "\n" + row(item_id="i1").replace('"score": 1', '"score": Infinity') + "\n"
    )
    f["duplicate_ids.jsonl"] = row() + "\n" + row(response="z", score=2) + "\n"
    f["array_line.jsonl"] = row() + "\n[1, 2, 3]\n"
    f["string_line.jsonl"] = row() + '\n"just a string"\n'
    f["deep.jsonl"] = (
        row() + "\n" + '{"item_id": "i1", "input": ' + "[" * 20000 + "]" * 20000 + "}\n"
    )
    f["deep_array.json"] = (
        "[\n" + row() + ",\n" + '{"input": ' + "[" * 20000 + "]" * 20000 + "}\n]\n"
    )
    f["array_trailing.json"] = "[" + row() + "]\n{}\n"
    f["array_number.json"] = "[" + row() + ",\n 42]\n"
    f["number.json"] = "42\n"
    f["empty.jsonl"] = ""
    f["blank_lines.jsonl"] = "\n\n  \n"
    f["unknown_response.jsonl"] = (
        "\n".join(
            [
                row(),
                row(item_id="i0", response_id="b", response="z", score=2),
                json.dumps(
                    {"item_id": "i0", "response_a": "a", "response_b": "nope", "label": "a"}
                ),
            ]
        )
        + "\n"
    )
    f["bad_csv_fields.csv"] = "item_id,input,response_id,response,score\ni0,x,a,y,1\ni1,x,a,y\n"
    f["dup_header.csv"] = "item_id,input,input,response,score\ni0,x,x,y,1\n"
    f["empty_header.csv"] = "item_id,,response,score\ni0,x,y,1\n"
    f["csv_text_score.csv"] = "item_id,input,response_id,response,score\ni0,x,a,y,abc\n"
    f["bad_tsv_fields.tsv"] = "item_id\tinput\tresponse\tscore\ni0\tx\ty\n"
    f["garbage.parquet"] = "this is not parquet\n"
    f["junk.txt"] = "hello world\n"
    f["pair_int_chosen.jsonl"] = json.dumps({"prompt": "p", "chosen": 3, "rejected": "no"}) + "\n"
    f["pair_empty_chosen.jsonl"] = (
        json.dumps({"prompt": "p", "chosen": "", "rejected": "no"}) + "\n"
    )
    f["pairwise.jsonl"] = "\n".join(good_pairwise()) + "\n"
    f["rb2_rejected_string.jsonl"] = (
        json.dumps(
            {
                "id": "r1",
                "prompt": "p",
                "chosen": ["right"],
                "rejected": "wrong",
                "num_correct": 1,
                "num_rejected": 1,
                "total_completions": 2,
                "models": ["m1", "m2"],
                "subset": "Factuality",
            }
        )
        + "\n"
    )
    f["rb2_empty_chosen.jsonl"] = (
        json.dumps(
            {"id": "r1", "prompt": "p", "chosen": [], "rejected": ["wrong"], "subset": "Math"}
        )
        + "\n"
    )
    f["rb2_int_in_list.jsonl"] = (
        json.dumps(
            {
                "id": "r1",
                "prompt": "p",
                "chosen": ["right"],
                "rejected": ["wrong", 7],
                "num_correct": 1,
                "num_rejected": 2,
                "total_completions": 3,
                "models": ["a", "b", "c"],
                "subset": "Math",
            }
        )
        + "\n"
    )
    f["rb_missing_chosen.jsonl"] = (
        json.dumps({"prompt": "p", "rejected": "no", "subset": "alpacaeval-easy", "id": 1}) + "\n"
    )
    f["rb_unknown_subset.jsonl"] = (
        "\n".join(
            json.dumps(
                {
                    "prompt": f"p{i}",
                    "chosen": "a good long answer",
                    "rejected": "bad",
                    "id": i,
                    "subset": "no-such-subset",
                }
            )
            for i in range(3)
        )
        + "\n"
    )
    f["rmbench_short.json"] = (
        json.dumps(
            [
                {
                    "id": "m1",
                    "prompt": "p",
                    "chosen": ["a", "b"],
                    "rejected": ["c", "d", "e"],
                    "domain": "chat",
                }
            ]
        )
        + "\n"
    )
    f["judgebench_no_label.jsonl"] = (
        json.dumps({"pair_id": "j1", "question": "q", "response_A": "a", "response_B": "b"}) + "\n"
    )
    f["hh_no_assistant.jsonl"] = (
        json.dumps({"chosen": "\n\nHuman: hi", "rejected": "\n\nHuman: hi\n\nAssistant: x"}) + "\n"
    )
    f["scores_nan.jsonl"] = json.dumps({"item_id": "i0", "response_id": "a", "score": None}) + "\n"
    f["scores_text.jsonl"] = json.dumps({"item_id": "i0", "response_id": "a", "score": "x"}) + "\n"
    f["points.jsonl"] = "".join(
        row(
            item_id=f"i{i}",
            input=f"source {i}",
            response_id=s,
            response=f"output {s} {i}",
            reference=f"output b {i}",
            score=sc,
        )
        + "\n"
        for i in range(3)
        for s, sc in (("a", 1.0 + i), ("b", 2.0))
    )
    f["one_system.jsonl"] = row() + "\n" + row(item_id="i1", response="w") + "\n"
    # python_scorers.py (scorers that misbehave) is a hand-written module beside this script
    f["syntax_error.py"] = "def broken(:\n"
    return f


def main():
    for name, text in files().items():
        (HERE / name).write_text(text, encoding="utf-8")
    (HERE / "latin1.jsonl").write_bytes(
        ('{"item_id": "i0", "input": "caf\xe9", "response": "y"}\n').encode("latin-1")
    )
    good = (row() + "\n").encode() * 50
    gz = gzip.compress(good)
    (HERE / "truncated.jsonl.gz").write_bytes(gz[: len(gz) // 2])
    (HERE / "corrupt.jsonl.gz").write_bytes(gz[:10] + b"\x00" * 20 + gz[30:])
    # 40 MiB of zeros in 40 kB: refused as a decompression bomb after 16 MiB
    (HERE / "bomb.jsonl.gz").write_bytes(gzip.compress(b"\x00" * (40 << 20), compresslevel=9))
    (HERE / "notadir").mkdir(exist_ok=True)
    (HERE / "notadir" / "readme.txt").write_text("neither mt-metrics-eval nor save_to_disk\n")
    model = HERE / "remote_code_model"
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text(
        json.dumps(
            {
                "model_type": "evil",
                "architectures": ["EvilModel"],
                "auto_map": {
                    "AutoConfig": "evil.EvilConfig",
                    "AutoModel": "evil.EvilModel",
                    "AutoModelForCausalLM": "evil.EvilModel",
                    "AutoModelForSequenceClassification": "evil.EvilModel",
                },
            },
            indent=1,
        )
        + "\n"
    )
    (model / "evil.py").write_text(
        '"""Importing this file is running the model folder\'s own code: it leaves a marker."""\n'
        "import os\n\n"
        "with open(os.environ.get('OVERCOAT_TEST_MARKER', 'REMOTE_CODE_RAN'), 'w') as f:\n"
        "    f.write('remote code ran')\n\n"
        "from transformers import PretrainedConfig, PreTrainedModel\n\n\n"
        "class EvilConfig(PretrainedConfig):\n    model_type = 'evil'\n\n\n"
        "class EvilModel(PreTrainedModel):\n    config_class = EvilConfig\n"
    )


if __name__ == "__main__":
    main()
