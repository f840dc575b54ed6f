"""The usage ledger: what a run spent on model calls, and what recovery did not re-pay.

Two records are compared:

* **history**: every model call whose response was recorded (that response, and only it, is
  what the workflow used);
* **the ledger**: every response a provider actually returned, written by the model
  activity the moment it arrived, before its result was committed.

A ledger entry whose attempt is not the recorded one was paid for and then lost (its
worker died before committing it), so it was paid again: that is the re-paid count, which
is zero unless a crash hit the short window between a response and its commit. Runs that
moved to another worker (a crash, or just load) had their recorded calls *served from
history*: replayed, not repeated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._backend.records import RunRef
from .._engine import events as ev
from .._fork.spec import SERVED_MARKER
from ..client import Client
from ..store.base import UsageEntry
from ._names import MODEL_ACTIVITY


@dataclass
class ModelCall:
    """One recorded model call."""

    run_id: str
    seq: int
    agent: str
    model: str
    attempt: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    latency_ms: int
    time: int
    worker: str = ""
    """The worker that recorded the call."""
    reused: bool = False
    """The run is a fork that took this call from its source (copied or served): not
    made, not paid for by this run."""
    number: int = 0
    """The call's number in its run (1, 2, 3, ...; ``seq`` is its activity's sequence
    number, shared with tool calls): what the conversation and timeline call it."""

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass
class AgentTotals:
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0


@dataclass
class UsageReport:
    """Model usage of a workflow (all its runs, and its child workflows if asked)."""

    workflow_id: str
    runs: list[str]
    calls: list[ModelCall]
    provider_calls: int
    """Responses providers returned, recorded or not (from the ledger)."""
    repaid_calls: int
    repaid_tokens: int
    handovers: int
    """Times the run moved to another worker and replayed its history."""
    served_from_history: int
    tokens_served_from_history: int
    by_agent: dict[str, AgentTotals] = field(default_factory=lambda: {})
    ledger: list[UsageEntry] = field(default_factory=lambda: [])
    """Every entry of the runs' usage ledger (recorded or re-paid), in the order recorded."""

    @property
    def model_calls(self) -> int:
        return len(self.calls)

    @property
    def reused_calls(self) -> int:
        """Calls a fork took from its source instead of making them."""
        return sum(1 for c in self.calls if c.reused)

    @property
    def reused_tokens(self) -> int:
        """Tokens of those calls: paid once, by the source."""
        return sum(c.total_tokens for c in self.calls if c.reused)

    @property
    def input_tokens(self) -> int:
        return sum(c.input_tokens for c in self.calls)

    @property
    def output_tokens(self) -> int:
        return sum(c.output_tokens for c in self.calls)

    @property
    def cached_tokens(self) -> int:
        return sum(c.cached_tokens for c in self.calls)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


CallFacts = tuple[str, int, int, int, int]
"""What a model call's result says for the report: (model, input tokens, output tokens,
cached tokens, latency ms)."""


def _call_facts(result: Any) -> CallFacts:
    inp, out, cached = _usage_numbers(result.get("response") or {})
    return str(result.get("model", "")), inp, out, cached, int(result.get("latency_ms", 0))


def _usage_numbers(response: dict[str, Any]) -> tuple[int, int, int]:
    usage = response.get("usage") or {}
    details = usage.get("input_tokens_details") or {}
    return (
        int(usage.get("input_tokens") or 0),
        int(usage.get("output_tokens") or 0),
        int(details.get("cached_tokens") or 0),
    )


def _served_model_call(
    run_id: str, marker: ev.MarkerRecorded, start: ev.Event, number: int
) -> ModelCall | None:
    """A model call a fork served from its source's recording (``number``: its number in
    the run, 1, 2, 3, ...)."""
    d = marker.details
    r = d.get("r")
    results = start.fork_results if isinstance(start, ev.WorkflowExecutionStarted) else ()
    if d.get("kind") != "model" or not isinstance(r, int) or not 0 <= r < len(results):
        return None
    result = results[r].to_json_value()
    inp, out, cached = _usage_numbers(result.get("response") or {})
    return ModelCall(
        run_id=run_id,
        seq=0,
        agent=str(d.get("agent", "")),
        model=str(result.get("model", "")),
        attempt=0,
        input_tokens=inp,
        output_tokens=out,
        cached_tokens=cached,
        latency_ms=int(result.get("latency_ms", 0)),
        time=marker.time,
        reused=True,
        number=number,
    )


async def usage_report(
    client: Client,
    workflow_id: str,
    *,
    include_children: bool = True,
    histories: Mapping[str, Sequence[ev.Event]] | None = None,
    facts_of: Callable[[str], dict[int, CallFacts]] | None = None,
) -> UsageReport:
    """Build the usage report of ``workflow_id`` from history and the ledger (through the
    client's backend, so it works wherever the workflow ran).

    Args:
        client: Where the workflow ran.
        workflow_id: The workflow (all its runs, and its children's unless
            ``include_children`` is False).
        include_children: Count the model calls of child workflows too.
        histories: Histories the caller already read, by run id: used instead of reading
            them again (the web UI's run page has the run's history at hand).
        facts_of: A run's memo of what its model calls' results say, by completion event
            id, filled here (a caller that reports on the same runs again, as the web UI's
            run page does on every load, keeps one per run: results are decoded once).
    """
    known = histories or {}
    backend = client.backend
    refs = [RunRef(r.workflow_id, r.run_id) for r in await backend.runs_of_workflow(workflow_id)]
    if include_children:
        queue = list(refs)
        while queue:
            for child in await backend.child_runs(*queue.pop()):
                ref = RunRef(child.workflow_id, child.run_id)
                if ref not in refs:
                    refs.append(ref)
                    queue.append(ref)
    runs = [ref.run_id for ref in refs]
    calls: list[ModelCall] = []
    handovers = served = served_tokens = 0
    ledger = await backend.usage_entries(refs)
    paid = {(e.run_id, e.seq) for e in ledger if e.kind == "model"}
    for ref in refs:
        run_id = ref.run_id
        events = known.get(run_id)
        if events is None:
            events = await backend.read_history(ref.workflow_id, run_id)
        agents: dict[int, tuple[str, int]] = {}
        """Model calls so far: seq -> (agent, number); a fork's served calls under
        negative keys (they have no activity)."""
        run_calls: list[ModelCall] = []
        memo = facts_of(run_id) if facts_of is not None else {}
        last_worker: str | None = None
        fork = isinstance(events[0], ev.WorkflowExecutionStarted) and events[0].fork is not None
        for event in events:
            if fork and isinstance(event, ev.MarkerRecorded) and event.name == SERVED_MARKER:
                served_call = _served_model_call(run_id, event, events[0], len(agents) + 1)
                if served_call is not None:
                    agents[-len(agents) - 1] = (served_call.agent, served_call.number)
                    run_calls.append(served_call)
            elif isinstance(event, ev.ActivityTaskScheduled):
                if event.activity_type == MODEL_ACTIVITY:
                    agents[event.seq] = (event.summary, len(agents) + 1)
            elif isinstance(event, ev.ActivityTaskCompleted) and event.seq in agents:
                facts = memo.get(event.event_id)
                if facts is None:
                    facts = memo[event.event_id] = _call_facts(event.result.to_json_value())
                model, inp, out, cached, latency_ms = facts
                run_calls.append(
                    ModelCall(
                        run_id=run_id,
                        seq=event.seq,
                        agent=agents[event.seq][0],
                        model=model,
                        attempt=event.attempt,
                        input_tokens=inp,
                        output_tokens=out,
                        cached_tokens=cached,
                        latency_ms=latency_ms,
                        time=event.time,
                        worker=event.worker,
                        # A fork's calls from its source's history are in no ledger of it.
                        reused=fork and (run_id, event.seq) not in paid,
                        number=agents[event.seq][1],
                    )
                )
            elif isinstance(event, ev.WorkflowTaskCompleted):
                worker = event.worker
                if last_worker is not None and worker and worker != last_worker:
                    # The new worker replayed the calls others recorded; a call it just
                    # made itself (completing it is what woke it) was not served.
                    handovers += 1
                    replayed = [c for c in run_calls if c.worker != worker and not c.reused]
                    served += len(replayed)
                    served_tokens += sum(c.total_tokens for c in replayed)
                last_worker = worker or last_worker
        calls.extend(run_calls)
    recorded = {(c.run_id, c.seq, c.attempt) for c in calls}
    repaid: list[UsageEntry] = [
        e for e in ledger if e.kind == "model" and (e.run_id, e.seq, e.attempt) not in recorded
    ]
    by_agent: dict[str, AgentTotals] = {}
    for c in calls:
        totals = by_agent.setdefault(c.agent or "(unnamed)", AgentTotals())
        totals.model_calls += 1
        totals.input_tokens += c.input_tokens
        totals.output_tokens += c.output_tokens
        totals.cached_tokens += c.cached_tokens
    return UsageReport(
        workflow_id=workflow_id,
        runs=runs,
        calls=calls,
        provider_calls=sum(1 for e in ledger if e.kind == "model"),
        repaid_calls=len(repaid),
        repaid_tokens=sum(e.input_tokens + e.output_tokens for e in repaid),
        handovers=handovers,
        served_from_history=served,
        tokens_served_from_history=served_tokens,
        by_agent=by_agent,
        ledger=ledger,
    )
