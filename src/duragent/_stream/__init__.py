"""Reading a run's durable stream: the effective view (attempts that count, resets for
those that did not), the steps behind pointer rows, and the subscriber loop."""
