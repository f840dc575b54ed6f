"""CPU time by phase of the worker's path, for ``agent_bench.py --breakdown``.

Wraps a few named functions of the engine, the store and the agents integration with
counters of this thread's CPU time (``time.thread_time``, which moves less than wall time on
a loaded machine). Nested phases are included in their callers' figures: the table reads
from the outside in. A phase whose function no longer exists (renamed in a refactor) is
reported as missing instead of failing the benchmark.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

PHASES: tuple[tuple[str, str, str], ...] = (
    (
        "activity done -> next activity started (one commit)",
        "duragent._worker.workflow_tasks",
        "WorkflowTaskProcessor.record_activity_result",
    ),
    (
        "  workflow activation (the SDK's own work included)",
        "duragent._engine.replay",
        "WorkflowRun.activate",
    ),
    (
        "    model request encoded (only its new items)",
        "duragent.openai_agents._request_payload",
        "RequestEncoder.payload",
    ),
    (
        "    model response read back (item by item)",
        "duragent.openai_agents._model_stub",
        "response_from_json",
    ),
    (
        "  store: activity result + next task",
        "duragent.store.sqlite",
        "SqliteStore.complete_activity_task",
    ),
    (
        "  store: workflow task's commands",
        "duragent.store.sqlite",
        "SqliteStore.complete_workflow_task",
    ),
    (
        "  after the commit (cache, eager start)",
        "duragent._worker.workflow_tasks",
        "WorkflowTaskProcessor.finish",
    ),
    ("activity body (decode, call, encode)", "duragent._worker.invoke", "FunctionRunner.run"),
    (
        "  arguments decoded (a tool call's; the model's are below)",
        "duragent._worker.invoke",
        "FunctionRunner.decode",
    ),
    (
        "  model request decoded (only its new items)",
        "duragent.openai_agents._request_decoder",
        "RequestDecoder.decode",
    ),
    (
        "  the scripted model's answer (the plain SDK pays it too)",
        "duragent.testing.scripted_model",
        "ScriptedModel.get_response",
    ),
)
"""(label, module, qualified name) of each phase."""


def _wrap(
    owner: Any, name: str, label: str, cpu: dict[str, float], calls: Counter[str]
) -> Callable[[], None]:
    original = getattr(owner, name)
    if asyncio.iscoroutinefunction(original):

        @functools.wraps(original)
        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            t0 = time.thread_time()
            try:
                return await original(*args, **kwargs)
            finally:
                cpu[label] += time.thread_time() - t0
                calls[label] += 1

        setattr(owner, name, timed_async)
    else:

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                cpu[label] += time.thread_time() - t0
                calls[label] += 1

        setattr(owner, name, timed)
    return lambda: setattr(owner, name, original)


@contextmanager
def measured() -> Iterator[tuple[dict[str, float], Counter[str], list[str]]]:
    """CPU seconds and calls by phase label, and the phases not found."""
    cpu: dict[str, float] = defaultdict(float)
    calls: Counter[str] = Counter()
    missing: list[str] = []
    undo: list[Callable[[], None]] = []
    for label, module, qualname in PHASES:
        try:
            owner: Any = importlib.import_module(module)
            *path, name = qualname.split(".")
            for part in path:
                owner = getattr(owner, part)
            undo.append(_wrap(owner, name, label, cpu, calls))
        except (ImportError, AttributeError):
            missing.append(f"{module}.{qualname}")
    try:
        yield cpu, calls, missing
    finally:
        for restore in reversed(undo):
            restore()
