"""Security: a model folder's own code never runs without trust_remote_code=true (not even when
transformers would ask and the answer is "y"), COMET hparams are read as plain data, an API key
over plain http:// to another host is warned about, and worker processes die with their parent."""

from __future__ import annotations

import builtins
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

from overcoat.cli import main
from overcoat.errors import SpecError

HERE = Path(__file__).parent
MODEL = HERE / "badinput" / "remote_code_model"  # config.json auto_map -> evil.py writes a marker
POINTS = str(HERE / "badinput" / "points.jsonl")
SRC = str(HERE.parent / "src")


@pytest.fixture
def marker(tmp_path, monkeypatch):
    m = tmp_path / "REMOTE_CODE_RAN"
    monkeypatch.setenv("OVERCOAT_TEST_MARKER", str(m))
    monkeypatch.setattr(builtins, "input", lambda *a, **k: "y")  # a user who answers yes
    yield m
    assert not m.exists(), "the model folder's own code ran"


def test_marker_folder_really_runs_code_when_trusted(tmp_path, monkeypatch):
    """The fixture is live: importing evil.py writes the marker (so its absence below means the
    code was not run, not that the folder is inert)."""
    m = tmp_path / "m"
    monkeypatch.setenv("OVERCOAT_TEST_MARKER", str(m))
    pytest.importorskip("transformers")
    code = f"import sys; sys.path.insert(0, {str(MODEL)!r}); import evil"
    subprocess.run([sys.executable, "-c", code], env={**os.environ}, check=True, timeout=120)
    assert m.read_text() == "remote code ran"


@pytest.mark.parametrize(
    "spec", ["judge:local:{m}", "hf:{m}", "loglik:{m}", "nli:{m}", "embed:{m}", "bertscore:{m}"]
)
def test_every_model_loader_refuses_auto_map_folders(spec, marker, capsys):
    code = main(
        [
            "score",
            "-d",
            POINTS,
            "-s",
            spec.format(m=MODEL),
            "-o",
            str(marker.parent / "o.jsonl"),
            "-q",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "own Python code" in err and "remote_code_model" in err
    assert not (marker.parent / "o.jsonl").exists()


def test_judge_local_in_a_non_terminal_answering_yes(tmp_path):
    """The issue's scenario: judge:local: in a subprocess whose stdin says "y"."""
    m = tmp_path / "marker"
    env = {
        **os.environ,
        "OVERCOAT_TEST_MARKER": str(m),
        "PYTHONPATH": SRC,
        "OVERCOAT_CACHE": str(tmp_path / "c.sqlite"),
    }
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "overcoat.cli",
            "score",
            "-d",
            POINTS,
            "-s",
            f"judge:local:{MODEL}",
            "-o",
            str(tmp_path / "o.jsonl"),
        ],
        input="y\ny\ny\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert p.returncode == 2 and "trust_remote_code" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert not m.exists()


def test_transformers_never_prompts_once_overcoat_loaded_it(marker):
    """Beyond our own check (e.g. a hub repo with auto_map reached through a third-party
    library): transformers' "run the custom code? [y/N]" prompt is disabled, so even a "y" on
    stdin cannot run the code."""
    from overcoat.scorers._common import require

    transformers = require("transformers")
    with pytest.raises(ValueError, match="trust_remote_code"):
        transformers.AutoConfig.from_pretrained(str(MODEL))  # trust_remote_code left unset


def test_refuse_remote_code_unit(tmp_path):
    from overcoat.scorers._common import refuse_remote_code

    refuse_remote_code(tmp_path, "plain")  # no config.json: nothing to refuse
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    refuse_remote_code(tmp_path, "plain")
    (tmp_path / "tokenizer_config.json").write_text('{"auto_map": {"AutoTokenizer": "x.Y"}}')
    with pytest.raises(SpecError, match="trust_remote_code=true"):
        refuse_remote_code(tmp_path, "t")
    refuse_remote_code(tmp_path, "t", trust=True)
    with pytest.raises(SpecError, match="never runs"):
        refuse_remote_code(tmp_path / "config.json", "t", option=False)


# -- COMET hparams -------------------------------------------------------------------------------
def test_comet_hparams_are_read_as_plain_data(tmp_path):
    pytest.importorskip("yaml")
    from overcoat.scorers.comet import read_hparams

    marker = tmp_path / "yaml_ran"
    (tmp_path / "checkpoints").mkdir()
    ckpt = tmp_path / "checkpoints" / "model.ckpt"
    ckpt.write_bytes(b"")
    (tmp_path / "hparams.yaml").write_text(
        f"class_identifier: !!python/object/apply:os.system ['touch {marker}']\n"
    )
    with pytest.raises(SpecError, match="plain-data COMET hparams"):
        read_hparams(ckpt)
    assert not marker.exists()
    (tmp_path / "hparams.yaml").write_text(
        "class_identifier: regression_metric\npretrained_model: xlm-roberta-large\n"
    )
    assert read_hparams(ckpt)["class_identifier"] == "regression_metric"


# -- API key over plain http ---------------------------------------------------------------------
def test_plain_http_key_warning_once_per_host_and_never_for_loopback(monkeypatch):
    from overcoat.scorers.judge import http_backend as J

    monkeypatch.setattr(J, "_WARNED_PLAIN_HTTP", set())
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for url in (
            "http://127.0.0.1:8000/v1",
            "http://localhost:8000/v1",
            "http://[::1]/v1",
            "https://api.example.com/v1",
            "http://127.9.9.9/v1",
        ):
            assert not J.warn_plain_http_key(url, "OPENAI_API_KEY")
        assert J.warn_plain_http_key("http://10.1.2.3:8000/v1", "OPENAI_API_KEY")
        assert not J.warn_plain_http_key("http://10.1.2.3:9999/v1", "OPENAI_API_KEY")
        assert J.warn_plain_http_key("http://judge.example.org/v1", "MY_KEY")
    msgs = [str(x.message) for x in w]
    assert len(msgs) == 2 and "10.1.2.3" in msgs[0] and "$MY_KEY" in msgs[1]
    assert all("unencrypted" in m for m in msgs)


def test_plain_http_key_warning_from_the_judge_without_the_key(monkeypatch):
    from overcoat.scorers.judge import http_backend as J

    monkeypatch.setattr(J, "_WARNED_PLAIN_HTTP", set())
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-123")
    backend = J.HTTPBackend(
        "http://10.1.2.3:8000/v1",
        "m",
        api_key_env="OPENAI_API_KEY",
        timeout=1,
        max_retries=0,
        backoff=0,
        max_backoff=0,
        concurrency=1,
        temperature=0,
        max_tokens=8,
        logprobs=False,
        top_logprobs=1,
    )

    class Answer:  # a 200 chat completion, without any network
        status_code = 200
        headers: dict = {}
        text = ""

        def json(self):
            return {"choices": [{"message": {"content": "5"}}]}

    monkeypatch.setattr(J.HTTPBackend, "_get_client", lambda self: object())
    monkeypatch.setattr(J.HTTPBackend, "probe", lambda self: {})
    monkeypatch.setattr(J, "_post", lambda client, url, body, headers: Answer())
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        backend.complete_many([[{"role": "user", "content": "hi"}]] * 2, {})
        backend.complete_many([[{"role": "user", "content": "hi"}]], {})
    assert len(w) == 1 and "sk-secret" not in str(w[0].message)


# -- workers die with their parent ----------------------------------------------------------------
_RUN_WITH_WORKERS = textwrap.dedent("""
    import sys
    sys.path.insert(0, {scorers!r})
    import _slow_scorer as H
    from overcoat.scorers.engine import score_dataset
    from overcoat.scorers.executors import ProcessPool
    if __name__ == "__main__":
        ds = H.make_dataset(4000)
        # adaptive=False: a pool whatever the machine's load
        score_dataset(ds, H.SlowScorer(delay=0.5), cache=None, batch_size=20,
                      executor=ProcessPool(2, adaptive=False))
""")


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_workers_exit_when_the_parent_is_killed(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(_RUN_WITH_WORKERS.format(scorers=str(HERE / "scorers")))
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, cwd=tmp_path)
    try:
        workers: list[int] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            # the spawned pool: worker processes (and multiprocessing's resource tracker)
            kids = [
                k
                for k in _children(proc.pid)
                if "resource_tracker"
                not in Path(f"/proc/{k}/cmdline").read_bytes().decode(errors="replace")
            ]
            if len(kids) >= 2:
                workers = kids
                break
            time.sleep(0.2)
        assert proc.poll() is None and len(workers) >= 2, "no worker pool was started"
        time.sleep(1.0)  # the workers are busy scoring
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.1)
        left = [w for w in workers if _alive(w)]
        for w in left:  # do not leave them behind even when the test fails
            os.kill(w, signal.SIGKILL)
        assert left == [], f"workers {left} outlived their parent"
    finally:
        if proc.poll() is None:
            proc.kill()
