"""The ``duragent`` command: run workers, start and inspect workflows.

Examples::

    duragent --db sqlite:///app.db worker myapp.workflows
    duragent start Weather '"Any alerts in CA?"' --id w-1 --task-queue agents --wait
    duragent list --status running
    duragent show w-1
    duragent signal w-1 approve
    duragent export w-1 -o w-1.json
    duragent --db sqlite:///app.db worker myapp.agents --agents
    duragent agent run myapp.agents:weather_agent "Weather in Paris?" --id a-1
    duragent approvals
    duragent approve a-1 call_123
    duragent usage a-1
    duragent agent chat c-1 --agent myapp.agents:support_agent
"""

from __future__ import annotations

from .app import cli

__all__ = ["cli", "main"]


def main() -> None:
    """Console entry point of the ``duragent`` command."""
    cli(prog_name="duragent")
