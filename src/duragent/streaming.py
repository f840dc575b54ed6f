"""What a run's durable stream delivers: typed events, each with its offset.

A streamed agent run (``Runner.run_streamed`` in a workflow, or
:func:`duragent.openai_agents.stream_agent`) publishes every model call's tokens to a
durable stream next to the run, and the steps around them (tool calls and results,
approval requests, the close) in the same offset space. Subscribe with
``handle.stream(after=offset)`` (an async iterator of the events below), ``duragent watch
ID``, or ``GET /api/v1/runs/{id}/stream`` (Server-Sent Events).

The guarantee: a subscriber that resumes from any offset it was given sees every delta of
the attempt of each model call that committed exactly once, in order. Deltas of an attempt
that failed (an error, a timeout, a worker killed mid-call) may have been shown, and are
then withdrawn by a :class:`Reset` of that call, never concatenated with the retry's.
Replaying the workflow publishes nothing. A subscriber arriving after the run closed gets
the whole stream (only the attempts that counted), until the stream's retention expires;
after that it gets each model call's recorded response whole.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

__all__ = [
    "ApprovalRequested",
    "CallCommitted",
    "ReasoningDelta",
    "Reset",
    "RunClosed",
    "StreamEvent",
    "TextDelta",
    "ToolCall",
    "ToolResult",
]


@dataclass(frozen=True)
class _Event:
    offset: int
    """Position in the run's stream: pass it as ``after=`` to resume behind this event
    (0 for events rebuilt from history once the stream expired: not resumable)."""

    TYPE: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        """The event as JSON (what the HTTP stream sends), with its ``type``."""
        return {"type": self.TYPE, **asdict(self)}


@dataclass(frozen=True)
class TextDelta(_Event):
    """A piece of a model call's answer text."""

    call: int
    """The model call (its activity's sequence number in the run)."""
    attempt: int
    """The attempt producing it (a later attempt after a :class:`Reset`)."""
    text: str

    TYPE: ClassVar[str] = "text"


@dataclass(frozen=True)
class ReasoningDelta(_Event):
    """A piece of a model call's reasoning (summary), for models that share it."""

    call: int
    attempt: int
    text: str

    TYPE: ClassVar[str] = "reasoning"


@dataclass(frozen=True)
class Reset(_Event):
    """Forget what was shown for model call ``call``: its attempt ``attempt`` failed or was
    superseded. A later attempt, if any, streams the call again from its start."""

    call: int
    attempt: int

    TYPE: ClassVar[str] = "reset"


@dataclass(frozen=True)
class CallCommitted(_Event):
    """Model call ``call`` is over: attempt ``attempt`` counted, and the text shown for the
    call is now exactly its recorded response (nothing more comes for it)."""

    call: int
    attempt: int

    TYPE: ClassVar[str] = "committed"


@dataclass(frozen=True)
class ToolCall(_Event):
    """A tool call (or handoff) a model call asked for, once that call committed."""

    call: int
    """The model call that asked."""
    call_id: str
    name: str
    arguments: str
    """The arguments as the model wrote them (JSON text)."""

    TYPE: ClassVar[str] = "tool_call"


@dataclass(frozen=True)
class ToolResult(_Event):
    """What a tool (an activity of the run) returned, or how it failed for good."""

    call: int
    """The tool's activity (its sequence number in the run)."""
    call_id: str
    """The :class:`ToolCall` it answers ('' when the tool's activity does not carry it)."""
    name: str
    output: str
    error: str = ""
    """Set when the tool failed (after its retries); ``output`` is then empty."""

    TYPE: ClassVar[str] = "tool_result"


@dataclass(frozen=True)
class ApprovalRequested(_Event):
    """A tool call waits for a human decision (see ``duragent approve``)."""

    call_id: str
    tool: str
    arguments: str
    agent: str

    TYPE: ClassVar[str] = "approval"


@dataclass(frozen=True)
class RunClosed(_Event):
    """The run closed; nothing follows."""

    status: str
    """``completed``, ``failed``, ``canceled``, ``terminated`` or ``continued_as_new``."""
    result: Any = None
    """The run's result as JSON (completed runs)."""
    failure: str = ""
    """Why it failed, was cancelled or terminated."""
    new_run_id: str = ""
    """The next run, after a continue-as-new (stream it separately)."""

    TYPE: ClassVar[str] = "closed"


StreamEvent = (
    TextDelta
    | ReasoningDelta
    | Reset
    | CallCommitted
    | ToolCall
    | ToolResult
    | ApprovalRequested
    | RunClosed
)
"""Every event a stream delivers."""
