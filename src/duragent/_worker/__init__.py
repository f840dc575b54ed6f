"""Worker internals: polling, workflow tasks, activity tasks, the instance cache, faults."""
