"""The worker's cache of workflow runs (instances plus their history position).

A cached run answers its next task from memory; a run that is not cached is rebuilt by
replaying its history. The cache is bounded (least recently used runs are evicted), so a
worker with thousands of waiting workflows keeps only the busy ones in memory.
"""

from __future__ import annotations

from collections import OrderedDict

from .._engine.replay import WorkflowRun


class RunCache:
    """An LRU map of run id to :class:`WorkflowRun`."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._runs: OrderedDict[str, WorkflowRun] = OrderedDict()
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._runs)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._runs

    def get(self, run_id: str) -> WorkflowRun | None:
        run = self._runs.get(run_id)
        if run is not None:
            self._runs.move_to_end(run_id)
        return run

    def put(self, run_id: str, run: WorkflowRun) -> None:
        if self.max_size <= 0:
            run.instance.dispose()
            return
        previous = self._runs.get(run_id)
        if previous is not None and previous is not run:
            # Another copy of the run (rebuilt for a query while this one was busy).
            previous.instance.dispose()
        self._runs[run_id] = run
        self._runs.move_to_end(run_id)
        while len(self._runs) > self.max_size:
            _, oldest = self._runs.popitem(last=False)
            self.evictions += 1
            oldest.instance.dispose()

    def take(self, run_id: str) -> None:
        """Remove ``run_id`` without tearing it down (its task holds it for a while)."""
        self._runs.pop(run_id, None)

    def evict(self, run_id: str) -> None:
        run = self._runs.pop(run_id, None)
        if run is not None:
            self.evictions += 1
            run.instance.dispose()

    def clear(self) -> None:
        for run_id in list(self._runs):
            self.evict(run_id)
