"""``TemporalBackend``: Duragent's client-side seam (:class:`~duragent._backend.ClientBackend`)
on a Temporal cluster, through ``temporalio``'s client and Temporal's gRPC API.

``Client.connect("temporal://host:port/namespace")`` opens one
(:func:`duragent.temporal.connect_backend`);
``Client``, its handles, the CLI, ``usage_report``, ``pending_approvals`` and the web UI
then work on Temporal runs as on embedded ones:

- starts honour the id conflict policy, signal-with-start and update-with-start;
- runs are described from Temporal's description (a failing workflow task from the last
  WorkflowTaskFailed event) and listed through visibility queries (eventually consistent,
  as Temporal's visibility is);
- history is Temporal's, translated into Duragent events (:mod:`.history`);
- the same errors as the embedded backend for the same bad input (no such workflow, a
  closed run, already started, a query no worker answers, an update its validator
  rejects);
- change watches poll the run's description (or the first page of the run list): Temporal
  has no wake-ups to subscribe to, so live views lag by up to half a second.

Updates are in ``_updates.py``; what activities did (failed attempts, pending activities,
the usage ledger) in ``_facts.py``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import temporalio.client
import temporalio.common
import temporalio.exceptions
import temporalio.service
from temporalio.api.common.v1 import (
    Memo,
    TimeSkippingConfig,
    WorkflowExecution,
    WorkflowType,
)
from temporalio.api.enums.v1 import (
    EventType,
    HistoryEventFilterType,
    WorkflowIdConflictPolicy,
    WorkflowIdReusePolicy,
)
from temporalio.api.errordetails.v1 import (
    WorkflowExecutionAlreadyStartedFailure,
)
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.query.v1 import WorkflowQuery
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    GetWorkflowExecutionHistoryRequest,
    GetWorkflowExecutionHistoryReverseRequest,
    ListWorkflowExecutionsRequest,
    QueryWorkflowRequest,
    RequestCancelWorkflowExecutionRequest,
    SignalWithStartWorkflowExecutionRequest,
    SignalWorkflowExecutionRequest,
    StartWorkflowExecutionRequest,
    TerminateWorkflowExecutionRequest,
)
from temporalio.service import RPCError, RPCStatusCode

from .._backend.embedded import TopicWatch
from .._backend.records import (
    ActivityAttempt,
    PendingActivity,
    RunFilter,
    RunPage,
    RunRef,
)
from .._engine import events as ev
from .._engine.failure import Failure
from .._list_filter import status_value
from ..errors import (
    ConfigurationError,
    QueryError,
    WorkflowAlreadyStartedError,
    WorkflowNotFoundError,
    WorkflowNotRunningError,
)
from ..serde import Payload
from ..store.base import (
    IdConflictPolicy,
    RunRecord,
    RunStatus,
    StartRequest,
    StartResult,
    StreamPage,
    UpdateOutcome,
    UsageEntry,
)
from ..store.sqlite import SqliteStore
from ._async_activities import AsyncActivityCalls
from ._facts import failed_attempts, is_closed, pending_activities, usage_of_run
from ._payloads import DEFAULT_TEMPORAL_MAX_PAYLOAD_BYTES
from ._rpc import execution, not_found, to_payloads
from ._schedules import ScheduleCalls
from ._search_attributes import encode as encode_search_attributes
from ._search_attributes import refused as search_attribute_refused
from ._updates import UpdateCalls
from ._visibility import list_query, page_token_in, page_token_out, run_record
from ._watch import PollWatch
from .history import (
    HistoryTranslator,
    failure_from_temporal,
    payload_from_temporal,
    translate_history,
)
from .streams import RunStreams

if TYPE_CHECKING:
    from .._fork.plan import ForkOptions
    from .worker import TemporalWorker

__all__ = ["TemporalBackend"]

_Conflict = WorkflowIdConflictPolicy
_CONFLICT: Final[dict[str, WorkflowIdConflictPolicy.ValueType]] = {
    IdConflictPolicy.FAIL: _Conflict.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
    IdConflictPolicy.USE_EXISTING: _Conflict.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
    IdConflictPolicy.TERMINATE_EXISTING: _Conflict.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING,
}
_HISTORY_CACHE: Final = 64


class TemporalBackend(ScheduleCalls, UpdateCalls, AsyncActivityCalls):
    """:class:`~duragent._backend.ClientBackend` on a Temporal namespace.

    Args:
        client: A connected ``temporalio`` client (its data converter should be
            :func:`~duragent.temporal.worker.temporal_data_converter`).
        address: Shown in messages (``temporal://host:port/namespace``).
        time_skipping: See :attr:`time_skipping`.
        stream_store: Where the runs' token streams are kept (a Duragent SQLite file: path,
            ``sqlite:///`` URL or open store), outside Temporal's history; workers built
            from this backend's client publish there (:mod:`duragent.temporal.streams`).
    """

    max_payload_bytes: int = DEFAULT_TEMPORAL_MAX_PAYLOAD_BYTES
    """Temporal servers refuse larger payloads; the client's converter checks it first."""

    steps_in_stream: Final = False
    """The close, tool results and approvals are not rows of the stream store: subscribers
    read the close from Temporal."""

    def __init__(
        self,
        client: temporalio.client.Client,
        *,
        address: str = "",
        time_skipping: bool = False,
        stream_store: str | Path | SqliteStore | None = None,
    ) -> None:
        super().__init__(client)
        self.streams = RunStreams(stream_store, self._status)
        """The stream store (:mod:`duragent.temporal.streams`)."""
        self.time_skipping = time_skipping
        """Start new workflows with Temporal's per-workflow time skipping (experimental; the
        server must enable it: ``frontend.WorkflowTimeSkippingEnabled``, as ``DevServer``
        does): a workflow with nothing to do jumps to its next timer."""
        self._address = address or f"temporal://{client.service_client.config.target_host}"
        self._closed_histories: OrderedDict[tuple[str, str], list[ev.Event]] = OrderedDict()
        self._updates: dict[tuple[str, str], asyncio.Task[UpdateOutcome]] = {}
        self._approvals_attribute: bool | None = None

    @property
    def address(self) -> str:
        return self._address

    def __repr__(self) -> str:
        return f"TemporalBackend({self._address!r})"

    async def close(self) -> None:
        for task in self._updates.values():
            task.cancel()
        self._updates.clear()
        self.streams.close()

    def worker_class(self) -> type[TemporalWorker]:
        """What ``duragent.Worker(client, ...)`` builds on this backend."""
        from .worker import TemporalWorker

        return TemporalWorker

    # -- starting ------------------------------------------------------------------------------

    async def start_workflow(self, request: StartRequest) -> StartResult:
        policy = _CONFLICT.get(request.id_conflict_policy)
        if policy is None:
            raise ConfigurationError(f"unknown id_conflict_policy {request.id_conflict_policy!r}")
        common: dict[str, Any] = {
            "namespace": self.namespace,
            "workflow_id": request.workflow_id,
            "workflow_type": WorkflowType(name=request.workflow_type),
            "task_queue": TaskQueue(name=request.task_queue),
            "input": to_payloads(request.input),
            "identity": request.identity or self.identity,
            "request_id": str(uuid.uuid4()),
            "workflow_id_reuse_policy": (
                WorkflowIdReusePolicy.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
            ),
            "workflow_id_conflict_policy": policy,
            "memo": self._memo(request.memo),
            "cron_schedule": request.cron_schedule,
        }
        if request.search_attributes:
            common["search_attributes"] = encode_search_attributes(
                request.search_attributes, request.search_attribute_types
            )
        if self.time_skipping:
            common["time_skipping_config"] = TimeSkippingConfig(enabled=True)
        if request.update is not None:
            return await self._update_with_start(request, common)
        try:
            if request.signal_name is not None:
                if request.id_conflict_policy == IdConflictPolicy.FAIL:
                    # Temporal's signal-with-start always uses a running run; "fail" means
                    # fail when there is one, as on the embedded engine.
                    common["workflow_id_conflict_policy"] = _CONFLICT[IdConflictPolicy.USE_EXISTING]
                    await self._fail_if_running(request)
                resp = await self._service.signal_with_start_workflow_execution(
                    SignalWithStartWorkflowExecutionRequest(
                        signal_name=request.signal_name,
                        signal_input=to_payloads(request.signal_input),
                        **common,
                    ),
                    retry=True,
                )
            else:
                resp = await self._service.start_workflow_execution(
                    StartWorkflowExecutionRequest(**common), retry=True
                )
        except RPCError as err:
            if err.status == RPCStatusCode.ALREADY_EXISTS:
                raise WorkflowAlreadyStartedError(
                    request.workflow_id, self._running_run(err), request.workflow_type
                ) from None
            raise search_attribute_refused(err) or err from None
        return StartResult(run_id=resp.run_id, started=resp.started)

    async def _fail_if_running(self, request: StartRequest) -> None:
        try:
            record = await self.describe(request.workflow_id)
        except WorkflowNotFoundError:
            return
        if record.status == RunStatus.RUNNING:
            raise WorkflowAlreadyStartedError(
                request.workflow_id, record.run_id, request.workflow_type
            )

    @staticmethod
    def _running_run(err: RPCError) -> str:
        details = WorkflowExecutionAlreadyStartedFailure()
        for detail in err.grpc_status.details:
            if detail.Unpack(details):
                return details.run_id
        return ""

    def _memo(self, memo: dict[str, Any]) -> Memo:
        converter = self.client.data_converter.payload_converter
        return Memo(fields={k: converter.to_payloads([v])[0] for k, v in memo.items()})

    async def fork_run(
        self,
        source_workflow_id: str,
        source_run_id: str | None,
        options: ForkOptions,
        *,
        workflow_id: str,
    ) -> StartResult:
        """Fork a run in cassette mode (see :mod:`duragent.temporal.fork`)."""
        from .fork import fork_start_request

        record = await self.describe(source_workflow_id, source_run_id)
        events = await self.read_history(record.workflow_id, record.run_id)
        return await self.start_workflow(
            fork_start_request(
                record.workflow_id,
                record.run_id,
                events,
                options,
                workflow_id=workflow_id,
                identity=self.identity,
            )
        )

    # -- runs ----------------------------------------------------------------------------------

    async def describe(self, workflow_id: str, run_id: str | None = None) -> RunRecord:
        desc = await self._describe(workflow_id, run_id)
        info = desc.workflow_execution_info
        failure: Failure | None = None
        attempts = 0
        task = desc.pending_workflow_task
        if desc.HasField("pending_workflow_task") and task.attempt > 1:
            attempts = task.attempt - 1  # failed attempts, as the embedded store counts
            failure = await self._last_task_failure(info.execution)
        return run_record(
            info,
            pending_activities=len(desc.pending_activities),
            task_failure=failure,
            task_attempts=attempts,
        )

    async def _last_task_failure(self, execution: WorkflowExecution) -> Failure | None:
        """The failure of the run's last failed workflow task (history keeps the first
        failure of a series; later attempts fail the same way or they would not repeat)."""
        request = GetWorkflowExecutionHistoryReverseRequest(
            namespace=self.namespace, execution=execution, maximum_page_size=100
        )
        while True:
            resp = await self._service.get_workflow_execution_history_reverse(request, retry=True)
            await self._decode(resp.history)
            for event in resp.history.events:
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    failed = event.workflow_task_failed_event_attributes
                    return failure_from_temporal(failed.failure)
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                    return Failure(
                        message="the workflow task timed out (its worker did not answer)",
                        kind="timeout",
                        type="WORKFLOW_TASK",
                    )
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                    return None
            if not resp.next_page_token:
                return None
            request.next_page_token = resp.next_page_token

    async def _has_approvals_attribute(self) -> bool:
        if self._approvals_attribute is None:
            try:
                listed = await self.client.operator_service.list_search_attributes(
                    ListSearchAttributesRequest(namespace=self.namespace)
                )
                self._approvals_attribute = "DuragentPendingApprovals" in listed.custom_attributes
            except RPCError:
                self._approvals_attribute = False
        return self._approvals_attribute

    async def list_runs(
        self, filter: RunFilter, *, page_size: int = 100, page_token: str | None = None
    ) -> RunPage:
        if page_size < 1:
            raise ConfigurationError(f"page_size must be positive, got {page_size}")
        query = list_query(filter, approvals_attribute=await self._has_approvals_attribute())
        try:
            resp = await self._service.list_workflow_executions(
                ListWorkflowExecutionsRequest(
                    namespace=self.namespace,
                    page_size=page_size,
                    next_page_token=page_token_in(page_token) if page_token else b"",
                    query=query,
                ),
                retry=True,
            )
        except RPCError as err:
            raise _list_refused(err, filter) from None
        records = [run_record(info) for info in resp.executions]
        if filter.task_failing:
            # A page may then hold fewer runs than page_size: keep paging to the end.
            described = [await self._describe_if_found(r) for r in records]
            records = [r for r in described if r is not None and r.task_failure is not None]
        return RunPage(records, page_token_out(resp.next_page_token))

    async def _describe_if_found(self, record: RunRecord) -> RunRecord | None:
        try:
            return await self.describe(record.workflow_id, record.run_id)
        except WorkflowNotFoundError:
            return None

    async def count_runs(self, filter: RunFilter) -> int:
        if filter.task_failing:
            count, token = 0, None
            while True:
                page = await self.list_runs(filter, page_size=1000, page_token=token)
                count += len(page.runs)
                if (token := page.next_page_token) is None:
                    return count
        query = list_query(filter, approvals_attribute=await self._has_approvals_attribute())
        try:
            resp = await self._service.count_workflow_executions(
                CountWorkflowExecutionsRequest(namespace=self.namespace, query=query), retry=True
            )
        except RPCError as err:
            raise _list_refused(err, filter) from None
        return resp.count

    async def count_runs_by_status(self, filter: RunFilter) -> dict[str, int]:
        if filter.task_failing:  # visibility cannot tell: only running runs qualify
            count = await self.count_runs(filter)
            return {RunStatus.RUNNING.value: count} if count else {}
        query = list_query(filter, approvals_attribute=await self._has_approvals_attribute())
        try:
            resp = await self._service.count_workflow_executions(
                CountWorkflowExecutionsRequest(
                    namespace=self.namespace, query=f"{query} GROUP BY ExecutionStatus".strip()
                ),
                retry=True,
            )
        except RPCError as err:
            raise _list_refused(err, filter) from None
        counts: dict[str, int] = {}
        for group in resp.groups:
            name = json.loads(group.group_values[0].data) if group.group_values else ""
            status = status_value(str(name))
            counts[status] = counts.get(status, 0) + group.count
        return counts

    async def runs_of_workflow(self, workflow_id: str) -> list[RunRecord]:
        runs: dict[str, RunRecord] = {}
        token: str | None = None
        while True:
            page = await self._list_exact(workflow_id, token)
            for record in page.runs:
                runs[record.run_id] = record
            token = page.next_page_token
            if token is None:
                break
        try:
            # Visibility lags behind: the latest run is always included, from its
            # (consistent) description.
            latest = await self.describe(workflow_id)
        except WorkflowNotFoundError:
            return sorted(runs.values(), key=lambda r: r.start_time)
        runs[latest.run_id] = latest
        return sorted(runs.values(), key=lambda r: (r.start_time, r.run_id == latest.run_id))

    async def _list_exact(self, workflow_id: str, token: str | None) -> RunPage:
        quoted = workflow_id.replace("\\", "\\\\").replace("'", "\\'")
        resp = await self._service.list_workflow_executions(
            ListWorkflowExecutionsRequest(
                namespace=self.namespace,
                page_size=1000,
                next_page_token=page_token_in(token) if token else b"",
                query=f"WorkflowId = '{quoted}'",
            ),
            retry=True,
        )
        return RunPage(
            [run_record(info) for info in resp.executions], page_token_out(resp.next_page_token)
        )

    async def child_runs(self, workflow_id: str, run_id: str) -> list[RunRecord]:
        # From the parent's history (consistent), not from visibility (which lags).
        children: list[RunRecord] = []
        for event in await self._raw_history(workflow_id, run_id):
            if event.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
                child = event.child_workflow_execution_started_event_attributes.workflow_execution
                try:
                    children.append(await self.describe(child.workflow_id, child.run_id))
                except WorkflowNotFoundError:  # deleted by retention
                    continue
        return children

    # -- messages ------------------------------------------------------------------------------

    async def signal(
        self,
        workflow_id: str,
        run_id: str | None,
        name: str,
        input: tuple[Payload, ...],
        *,
        identity: str,
    ) -> None:
        await self._call(
            workflow_id,
            run_id,
            self._service.signal_workflow_execution(
                SignalWorkflowExecutionRequest(
                    namespace=self.namespace,
                    workflow_execution=execution(workflow_id, run_id),
                    signal_name=name,
                    input=to_payloads(input),
                    identity=identity or self.identity,
                    request_id=str(uuid.uuid4()),
                ),
                retry=True,
            ),
        )

    async def _check_running(self, workflow_id: str, run_id: str | None) -> None:
        record = await self.describe(workflow_id, run_id)
        if record.status != RunStatus.RUNNING:
            raise WorkflowNotRunningError(
                f"workflow {workflow_id!r}{f' run {run_id}' if run_id else ''} is not "
                f"running ({record.status})"
            )

    async def cancel(
        self, workflow_id: str, run_id: str | None, reason: str, *, identity: str
    ) -> None:
        # Temporal accepts a cancel request for a closed run silently; the embedded
        # backend refuses it, so check first.
        await self._check_running(workflow_id, run_id)
        await self._call(
            workflow_id,
            run_id,
            self._service.request_cancel_workflow_execution(
                RequestCancelWorkflowExecutionRequest(
                    namespace=self.namespace,
                    workflow_execution=execution(workflow_id, run_id),
                    identity=identity or self.identity,
                    request_id=str(uuid.uuid4()),
                    reason=reason,
                ),
                retry=True,
            ),
        )

    async def terminate(
        self, workflow_id: str, run_id: str | None, reason: str, *, identity: str
    ) -> None:
        await self._call(
            workflow_id,
            run_id,
            self._service.terminate_workflow_execution(
                TerminateWorkflowExecutionRequest(
                    namespace=self.namespace,
                    workflow_execution=execution(workflow_id, run_id),
                    reason=reason,
                    identity=identity or self.identity,
                ),
                retry=True,
            ),
        )

    async def query(
        self,
        workflow_id: str,
        run_id: str | None,
        name: str,
        input: tuple[Payload, ...],
        *,
        timeout: float,
    ) -> Payload:
        request = QueryWorkflowRequest(
            namespace=self.namespace,
            execution=execution(workflow_id, run_id),
            query=WorkflowQuery(query_type=name, query_args=to_payloads(input)),
        )
        try:
            resp = await self._service.query_workflow(
                request, retry=True, timeout=timedelta(seconds=timeout)
            )
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise not_found(workflow_id, run_id, err) from None
            if err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                queue = (await self.describe(workflow_id, run_id)).task_queue
                raise QueryError(
                    f"no worker answered query {name!r} within {timeout}s; is a worker for "
                    f"task queue {queue!r} running?"
                ) from None
            # A failed query handler: Temporal's message is the handler's error.
            raise QueryError(err.message) from None
        if resp.HasField("query_rejected"):
            raise QueryError(f"query {name!r} was rejected by the run's status")
        await self._decode(resp.query_result)
        result = resp.query_result.payloads
        return payload_from_temporal(result[0]) if result else Payload(b"json/1\nnull")

    # -- closing -------------------------------------------------------------------------------

    async def wait_closed(
        self, workflow_id: str, run_id: str, *, timeout: float | None
    ) -> ev.Event:
        try:
            return await asyncio.wait_for(self._wait_closed(workflow_id, run_id), timeout)
        except TimeoutError:
            what = f"workflow {workflow_id!r} did not close within {timeout}s"
            raise TimeoutError(what) from None

    async def next_run(self, workflow_id: str, run_id: str) -> str | None:
        """The run Temporal started when this closed run completed or failed (a cron
        workflow's next run, or a retry): its close event's new execution run id."""
        request = GetWorkflowExecutionHistoryRequest(
            namespace=self.namespace,
            execution=execution(workflow_id, run_id),
            history_event_filter_type=HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
            skip_archival=True,
        )
        resp = await self._call(
            workflow_id, run_id, self._service.get_workflow_execution_history(request, retry=True)
        )
        for event in resp.history.events:
            for attrs in (
                event.workflow_execution_completed_event_attributes,
                event.workflow_execution_failed_event_attributes,
            ):
                if attrs.new_execution_run_id:
                    return attrs.new_execution_run_id
        return None

    async def _wait_closed(self, workflow_id: str, run_id: str) -> ev.Event:
        request = GetWorkflowExecutionHistoryRequest(
            namespace=self.namespace,
            execution=execution(workflow_id, run_id),
            wait_new_event=True,
            history_event_filter_type=HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
            skip_archival=True,
        )
        while True:
            resp = await self._call(
                workflow_id,
                run_id,
                self._service.get_workflow_execution_history(request, retry=True),
            )
            await self._decode(resp.history)
            events = translate_history(resp.history.events, workflow_id)
            if events:
                return events[-1]
            request.next_page_token = resp.next_page_token

    # -- history and what timelines show --------------------------------------------------------

    async def _raw_history(self, workflow_id: str, run_id: str) -> list[HistoryEvent]:
        request = GetWorkflowExecutionHistoryRequest(
            namespace=self.namespace,
            execution=execution(workflow_id, run_id),
            maximum_page_size=1000,
            skip_archival=True,
        )
        events: list[HistoryEvent] = []
        while True:
            resp = await self._call(
                workflow_id,
                run_id,
                self._service.get_workflow_execution_history(request, retry=True),
            )
            await self._decode(resp.history)
            events.extend(resp.history.events)
            if not resp.next_page_token:
                return events
            request.next_page_token = resp.next_page_token

    async def read_history(
        self, workflow_id: str, run_id: str, *, after_event_id: int = 0
    ) -> list[ev.Event]:
        key = (workflow_id, run_id)
        events = self._closed_histories.get(key)
        if events is None:
            raw = await self._raw_history(workflow_id, run_id)
            if not raw:
                raise WorkflowNotFoundError(f"run {run_id} of workflow {workflow_id!r} not found")
            events = HistoryTranslator(workflow_id).translate(raw)
            if events and isinstance(events[-1], ev.CLOSE_EVENT_TYPES):
                # A closed run's history never changes: keep a few.
                self._closed_histories[key] = events
                while len(self._closed_histories) > _HISTORY_CACHE:
                    self._closed_histories.popitem(last=False)
        else:
            self._closed_histories.move_to_end(key)
        return [e for e in events if e.event_id > after_event_id]

    async def activity_attempts(self, workflow_id: str, run_id: str) -> list[ActivityAttempt]:
        raw = await self._raw_history(workflow_id, run_id)
        return failed_attempts(raw, await self._describe(workflow_id, run_id))

    async def pending_activities(self, workflow_id: str, run_id: str) -> list[PendingActivity]:
        return pending_activities(await self._describe(workflow_id, run_id))

    async def usage_entries(self, runs: Sequence[RunRef]) -> list[UsageEntry]:
        entries: dict[tuple[str, int, int], UsageEntry] = {}
        for ref in runs:
            raw = await self._raw_history(ref.workflow_id, ref.run_id)
            desc = None if is_closed(raw) else await self._describe(ref.workflow_id, ref.run_id)
            for entry in usage_of_run(ref, raw, desc):
                entries.setdefault((entry.run_id, entry.seq, entry.attempt), entry)
        return sorted(entries.values(), key=lambda e: (e.time, e.run_id, e.seq, e.attempt))

    # -- durable streams (in the stream store, outside Temporal's history) -----------------------

    async def _status(self, workflow_id: str, run_id: str) -> str:
        return (await self.describe(workflow_id, run_id)).status

    async def read_stream(
        self, workflow_id: str, run_id: str, *, after: int, limit: int = 500
    ) -> StreamPage:
        return await self.streams.read(workflow_id, run_id, after, limit)

    async def stream_shown(
        self, workflow_id: str, run_id: str, *, upto: int, kinds: tuple[str, ...]
    ) -> dict[int, int]:
        return self.streams.store().stream_shown(run_id, upto, kinds)

    def watch_stream(self, workflow_id: str, run_id: str) -> TopicWatch:
        return self.streams.watch(run_id)

    # -- change notification -------------------------------------------------------------------

    def watch_run(self, workflow_id: str, run_id: str) -> PollWatch:
        async def state() -> object:
            desc = await self._describe(workflow_id, run_id)
            info = desc.workflow_execution_info
            return (
                info.status,
                info.history_length,
                desc.pending_workflow_task.attempt,
                tuple(
                    (p.activity_id, p.attempt, p.state, p.last_failure.message)
                    for p in desc.pending_activities
                ),
            )

        return PollWatch(state)

    def watch_runs(self) -> PollWatch:
        async def state() -> object:
            resp = await self._service.list_workflow_executions(
                ListWorkflowExecutionsRequest(namespace=self.namespace, page_size=50),
                retry=True,
            )
            count = await self._service.count_workflow_executions(
                CountWorkflowExecutionsRequest(namespace=self.namespace), retry=True
            )
            return (
                count.count,
                tuple((i.execution.run_id, i.status, i.history_length) for i in resp.executions),
            )

        return PollWatch(state)


if TYPE_CHECKING:
    from .._backend.client_backend import ChangeWatch, ClientBackend
    from .._backend.schedules import ScheduleBackend

    def _keeps_schedules(backend: TemporalBackend) -> ScheduleBackend:
        return backend

    def _conforms(backend: TemporalBackend, watch: PollWatch) -> tuple[ClientBackend, ChangeWatch]:
        return backend, watch  # pyright checks the protocols are implemented


def _list_refused(err: RPCError, filter: RunFilter) -> Exception:
    """What to raise when the server refused a list or count: a clear error for a bad
    search attribute or a list filter it cannot read, else the RPC error itself."""
    found = search_attribute_refused(err)
    if found is not None:
        return found
    if filter.query is not None and err.status == RPCStatusCode.INVALID_ARGUMENT:
        return ConfigurationError(
            f"Temporal refused the list filter {filter.query!r}: {err.message}"
        )
    return err
