"""Replay Temporal histories against current Duragent workflow code.

Use it in CI over histories exported from a Temporal cluster (``temporal workflow show
--output json``, the Temporal UI's download, or ``handle.fetch_history()``)::

    replayer = TemporalReplayer(workflows=[Weather], plugins=[OpenAIAgentsPlugin()])
    await replayer.replay_workflow(history_json)   # raises NondeterminismError on divergence

It is temporalio's ``Replayer`` with the same interceptor, dynamic workflow and converter
as :class:`~duragent.temporal.worker.TemporalWorker`, and the same run state plugins give.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import temporalio.client
import temporalio.converter
import temporalio.worker
import temporalio.workflow

from .._definitions import collect_workflows
from .._engine.instance import DEFAULT_CONTINUE_AS_NEW_THRESHOLD
from .._worker.intercepted import check_interceptors
from ..errors import NondeterminismError
from ..interceptor import Interceptor
from ..serde import DataConverter
from ._payloads import DEFAULT_TEMPORAL_MAX_PAYLOAD_BYTES, PayloadBridge
from ._runtime import WorkerSettings
from .worker import DuragentWorkflow, WorkflowInterceptor, temporal_data_converter

__all__ = ["TemporalReplayer"]


class TemporalReplayer:
    """Replays Temporal histories of Duragent workflows.

    Args:
        workflows: The ``@workflow.defn`` classes whose histories will be replayed.
        plugins: Plugins (their ``configure_replayer`` adds workflows and run state).
        workflow_failure_exception_types: As on the worker.
        payload_codec: The codec the histories were written with (e.g. a
            :class:`~duragent.temporal.codec.ChunkTreeCodec` on their chunk store).
        interceptors: As on the workers that ran the histories (:mod:`duragent.interceptor`).
    """

    def __init__(
        self,
        *,
        workflows: Sequence[type],
        plugins: Sequence[Any] = (),
        workflow_failure_exception_types: Sequence[type[BaseException]] = (),
        payload_codec: temporalio.converter.PayloadCodec | None = None,
        interceptors: Sequence[Interceptor] = (),
    ) -> None:
        self.workflows: list[type] = list(workflows)
        self.run_state_defaults: dict[str, Any] = {}
        self.workflow_failure_exception_types: list[type[BaseException]] = list(
            workflow_failure_exception_types
        )
        for plugin in plugins:
            configure = getattr(plugin, "configure_replayer", None)
            if configure is not None:
                configure(self)
        settings = WorkerSettings(
            bridge=PayloadBridge(DataConverter(DEFAULT_TEMPORAL_MAX_PAYLOAD_BYTES)),
            definitions=collect_workflows(self.workflows, self.workflow_failure_exception_types),
            run_state_defaults=self.run_state_defaults,
            continue_as_new_threshold=DEFAULT_CONTINUE_AS_NEW_THRESHOLD,
            interceptors=check_interceptors(interceptors),
        )
        self._replayer = temporalio.worker.Replayer(
            workflows=[DuragentWorkflow],
            interceptors=[WorkflowInterceptor(settings)],
            workflow_runner=temporalio.worker.UnsandboxedWorkflowRunner(),
            data_converter=temporal_data_converter(payload_codec),
        )

    async def replay_workflow(
        self,
        history: temporalio.client.WorkflowHistory | str | dict[str, Any],
        workflow_id: str = "",
    ) -> None:
        """Replay one history (a ``WorkflowHistory`` or its JSON export).

        Raises:
            NondeterminismError: The code no longer produces the recorded commands; the
                message is Temporal's, naming the event that differs.
        """
        if not isinstance(history, temporalio.client.WorkflowHistory):
            history = temporalio.client.WorkflowHistory.from_json(workflow_id or "replay", history)
        result = await self._replayer.replay_workflow(history, raise_on_replay_failure=False)
        failure = result.replay_failure
        if failure is None:
            return
        if isinstance(failure, temporalio.workflow.NondeterminismError):
            raise NondeterminismError(str(failure)) from failure
        raise failure
