"""Replay recorded histories against current workflow code.

Run it in CI over histories exported from production (``duragent export`` or
``handle.fetch_history()``) to catch a nondeterministic change before it is deployed::

    replayer = Replayer(workflows=[Weather])
    await replayer.replay_workflow(Path("histories/weather-1.json"))  # raises on divergence

Replay needs no store, worker or clock: the history alone drives the workflow code, and
each recorded workflow task must ask for exactly the commands it recorded.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._definitions import WorkflowDefinition, collect_workflows
from .._engine import events as ev
from .._engine.instance import WorkflowInstance
from .._engine.replay import ActivationFailedError, StaleRunError, WorkflowRun
from .._worker.intercepted import check_interceptors
from ..errors import ConfigurationError, NondeterminismError, SerializationError
from ..history import WorkflowHistory
from ..interceptor import Interceptor
from ..serde import DataConverter

__all__ = ["HistoryInput", "ReplayResult", "ReplayResults", "Replayer"]

HistoryInput = WorkflowHistory | str | bytes | os.PathLike[str]
"""A history to replay: a :class:`~duragent.WorkflowHistory`, its JSON export (text or
bytes), or the path of an exported file."""


@dataclass(frozen=True)
class ReplayResult:
    """The outcome of replaying one history.

    Attributes:
        history: The history that was replayed.
        replay_failure: Why replay failed (a :class:`~duragent.NondeterminismError`), or
            None if the code reproduced the history.
    """

    history: WorkflowHistory
    replay_failure: Exception | None = None

    @property
    def ok(self) -> bool:
        """Whether the code reproduced the history."""
        return self.replay_failure is None


@dataclass(frozen=True)
class ReplayResults:
    """The outcomes of :meth:`Replayer.replay_workflows`, in input order.

    Attributes:
        results: One result per history.
    """

    results: Sequence[ReplayResult]

    @property
    def replay_failures(self) -> dict[str, Exception]:
        """Failures by run id."""
        return {
            r.history.run_id: r.replay_failure for r in self.results if r.replay_failure is not None
        }

    @property
    def ok(self) -> bool:
        """Whether every history replayed."""
        return all(r.ok for r in self.results)

    def __iter__(self) -> Iterator[ReplayResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)


def _load_history(source: HistoryInput) -> WorkflowHistory:
    """A :class:`~duragent.WorkflowHistory` from any :data:`HistoryInput`.

    A ``str`` that starts with ``{`` is JSON text; any other ``str`` is a file path.

    Raises:
        SerializationError: The text is not a Duragent history export.
        StoreVersionError: It was written by a newer Duragent.
        FileNotFoundError: The path does not exist.
    """
    if isinstance(source, WorkflowHistory):
        return source
    if isinstance(source, bytes):
        return WorkflowHistory.from_json(source)
    if isinstance(source, str) and source.lstrip().startswith("{"):
        return WorkflowHistory.from_json(source)
    return WorkflowHistory.from_json(Path(source).read_bytes())


class Replayer:
    """Replays workflow histories against the given workflow classes.

    Args:
        workflows: ``@workflow.defn`` classes; each history is replayed against the class
            whose type name its ``WorkflowExecutionStarted`` event records.
        converter: Payload conversion (must match the one that recorded the histories).
        plugins: The plugins of the workers that ran the histories (e.g.
            ``OpenAIAgentsPlugin()``): ``plugin.configure_replayer(replayer)`` adds their
            workflows, failure types and run settings, as on a worker.
        workflow_failure_exception_types: As on the workers that ran the histories.
        interceptors: As on the workers that ran the histories, when their workflow side
            changes what workflows ask for (:mod:`duragent.interceptor`).

    Raises:
        ConfigurationError: A class is not a workflow, or two share a type name.
    """

    def __init__(
        self,
        *,
        workflows: Sequence[type],
        converter: DataConverter | None = None,
        plugins: Sequence[Any] = (),
        workflow_failure_exception_types: Sequence[type[BaseException]] = (),
        interceptors: Sequence[Interceptor] = (),
    ) -> None:
        self.interceptors = check_interceptors(interceptors)
        self.workflows: list[type] = list(workflows)
        self.workflow_failure_exception_types: list[type[BaseException]] = list(
            workflow_failure_exception_types
        )
        self.run_state_defaults: dict[str, Any] = {}
        for plugin in plugins:
            configure = getattr(plugin, "configure_replayer", None)
            if configure is not None:
                configure(self)
        self._definitions = collect_workflows(self.workflows, self.workflow_failure_exception_types)
        self._converter = converter or DataConverter()

    @property
    def workflow_types(self) -> list[str]:
        """The workflow type names this replayer knows, sorted."""
        return sorted(self._definitions)

    async def replay_workflow(
        self, history: HistoryInput, *, raise_on_replay_failure: bool = True
    ) -> ReplayResult:
        """Replay one history from its first event against current code.

        Args:
            history: A history, its JSON export, or the path of an exported file.
            raise_on_replay_failure: Raise the failure (default) instead of returning it
                in the result.

        Raises:
            NondeterminismError: The code asks for different commands than the history
                recorded (naming the event, what history has and what the code asked
                for), or it raised where the recorded run did not.
            ConfigurationError: The history's workflow type is not among ``workflows``.
            SerializationError: The history is not a valid export (or is damaged).
            StoreVersionError: The history was written by a newer Duragent.
        """
        loaded = _load_history(history)
        failure = self._replay(loaded)
        if failure is not None and raise_on_replay_failure:
            raise failure
        return ReplayResult(history=loaded, replay_failure=failure)

    async def replay_workflows(
        self, histories: Iterable[HistoryInput], *, raise_on_replay_failure: bool = True
    ) -> ReplayResults:
        """Replay several histories (see :meth:`replay_workflow`).

        With ``raise_on_replay_failure`` (the default) the first failure is raised;
        otherwise every history is replayed and the failures are in the results.
        """
        results = [
            await self.replay_workflow(h, raise_on_replay_failure=raise_on_replay_failure)
            for h in histories
        ]
        return ReplayResults(results)

    def _definition_for(self, history: WorkflowHistory) -> WorkflowDefinition:
        first = history.events[0] if history.events else None
        if not isinstance(first, ev.WorkflowExecutionStarted):
            raise SerializationError(
                f"history of run {history.run_id} does not begin with "
                "WorkflowExecutionStarted; it is not a complete history"
            )
        defn = self._definitions.get(first.workflow_type)
        if defn is None:
            known = ", ".join(repr(n) for n in self.workflow_types) or "none"
            raise ConfigurationError(
                f"the history of workflow {history.workflow_id!r} (run {history.run_id}) is "
                f"of workflow type {first.workflow_type!r}, which this replayer does not "
                f"know (known types: {known}); pass its class in Replayer(workflows=[...])"
            )
        return defn

    def _replay(self, history: WorkflowHistory) -> NondeterminismError | None:
        defn = self._definition_for(history)
        instance = WorkflowInstance(
            defn,
            run_id=history.run_id,
            converter=self._converter,
            run_state=self.run_state_defaults,
            interceptors=self.interceptors,
        )
        run = WorkflowRun(instance)
        try:
            run.feed(history.events)
        except NondeterminismError as err:
            return err
        except ActivationFailedError as err:
            # The failed activation was counted before it raised.
            return _task_failure(history, run.replayed_activations - 1, err.cause)
        except StaleRunError as err:
            raise SerializationError(
                f"history of run {history.run_id} is damaged (events out of order: {err})"
            ) from err
        finally:
            instance.dispose()
        return None


def _task_failure(
    history: WorkflowHistory, task_index: int, cause: BaseException
) -> NondeterminismError:
    """Workflow code raised while replaying a task that completed when it was recorded."""
    tasks = [e for e in history.events if isinstance(e, ev.WorkflowTaskCompleted)]
    event_id = tasks[task_index].event_id if 0 <= task_index < len(tasks) else 0
    err = NondeterminismError(
        f"workflow {history.workflow_type!r} (id {history.workflow_id!r}, run "
        f"{history.run_id}) is not deterministic: at history event {event_id} the recorded "
        f"workflow task completed but the code raised {cause!r} while replaying it",
        event_id=event_id,
        expected="a completed workflow task",
        actual=f"an exception: {cause!r}",
    )
    err.__cause__ = cause
    return err
