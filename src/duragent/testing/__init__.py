"""Tools for testing workflows: an environment with time skipping and a replayer.

* :class:`WorkflowEnvironment` — a client on a private store for tests; with
  :meth:`~WorkflowEnvironment.start_time_skipping`, time jumps ahead whenever nothing can
  run, so week-long timers and hour-long retry backoffs finish in milliseconds.
* :class:`Replayer` — replays recorded histories against current code and raises
  :class:`~duragent.NondeterminismError` where a change would break running workflows.
"""

from .environment import WorkflowEnvironment
from .replayer import Replayer, ReplayResult, ReplayResults

__all__ = [
    "ReplayResult",
    "ReplayResults",
    "Replayer",
    "WorkflowEnvironment",
]
