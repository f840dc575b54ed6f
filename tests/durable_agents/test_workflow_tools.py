"""Tools that are workflow code: ``durable_tool(tool, in_workflow=True)`` runs a
deterministic tool inside the workflow (it may use workflow functions); without the
opt-in, a tool that calls a workflow function fails with an error naming the opt-in."""

from __future__ import annotations

from typing import Any

import pytest
from agents import Agent, Runner, function_tool

from duragent import Client, ConfigurationError, Worker, workflow
from duragent._engine import events
from duragent.openai_agents import OpenAIAgentsPlugin, durable_tool
from duragent.testing.scripted_model import ScriptedModelProvider, message, tool_call

Q = "workflow-tools"


@function_tool
def roll_dice(sides: int) -> str:
    """Roll a die (deterministically, with the workflow's random generator)."""
    value = workflow.random().randint(1, sides)
    return f"rolled {value} at {workflow.now().year}"


@function_tool
def roll_dice_as_activity(sides: int) -> str:
    """The same tool without the opt-in: it runs as an activity."""
    return f"rolled {workflow.random().randint(1, sides)}"


durable_tool(roll_dice, in_workflow=True)

SCRIPTS = {
    "dice": [[tool_call("roll_dice", {"sides": 6})], [message("done")]],
    "dice-activity": [[tool_call("roll_dice_as_activity", {"sides": 6})], [message("done")]],
}
AGENTS = {
    "dice": Agent(name="dice", instructions="Roll.", model="dice", tools=[roll_dice]),
    "dice-activity": Agent(
        name="dice-activity",
        instructions="Roll.",
        model="dice-activity",
        tools=[roll_dice_as_activity],
    ),
}


@workflow.defn
class Roll:
    @workflow.run
    async def run(self, agent: str) -> str:
        return str((await Runner.run(AGENTS[agent], "roll")).final_output)


def _tool_outputs(history: Any, agent: str) -> list[str]:
    """What the model was told each tool call returned (from the last model call's input)."""
    model_calls = [
        e
        for e in history.events
        if isinstance(e, events.ActivityTaskScheduled) and e.summary == agent
    ]
    request = model_calls[-1].input[0].to_json_value()
    return [i["output"] for i in request["input"] if i.get("type") == "function_call_output"]


async def _roll(client: Client, agent: str, wf_id: str, cached: int = 1000) -> Any:
    """Run the agent; returns the run's history."""
    provider = ScriptedModelProvider(SCRIPTS)
    async with Worker(
        client,
        task_queue=Q,
        workflows=[Roll],
        max_cached_workflows=cached,
        plugins=[OpenAIAgentsPlugin(model_provider=provider)],
    ):
        assert await client.execute_workflow(Roll.run, agent, id=wf_id, task_queue=Q) == "done"
    return await client.get_workflow_handle(wf_id).fetch_history()


@pytest.mark.parametrize("cached", [1000, 0], ids=["cached", "replay-every-task"])
async def test_an_in_workflow_tool_runs_in_the_workflow_and_replays(
    client: Client, cached: int
) -> None:
    history = await _roll(client, "dice", "r-1", cached)
    scheduled = [e.summary for e in history.events if isinstance(e, events.ActivityTaskScheduled)]
    assert scheduled == ["dice", "dice"]  # two model calls; the tool was no activity
    (output,) = _tool_outputs(history, "dice")
    assert output.startswith("rolled ") and int(output.split()[1]) in range(1, 7)


async def test_a_tool_run_as_an_activity_that_needs_workflow_code_names_the_opt_in(
    client: Client,
) -> None:
    history = await _roll(client, "dice-activity", "r-2")
    (output,) = _tool_outputs(history, "dice-activity")
    assert "called duragent.workflow.random()" in output
    assert "durable_tool(roll_dice_as_activity, in_workflow=True)" in output
    failed = [e for e in history.events if isinstance(e, events.ActivityTaskFailed)]
    assert [e.attempt for e in failed] == [1]  # not retried: no retry can help


def test_activity_options_do_not_apply_to_an_in_workflow_tool() -> None:
    @function_tool
    def pick(n: int) -> int:
        """Pick."""
        return n

    with pytest.raises(ConfigurationError, match=r"in_workflow=True.*\(at_most_once\)"):
        durable_tool(pick, in_workflow=True, at_most_once=True)
