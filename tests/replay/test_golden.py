"""Golden histories: frozen history files must keep replaying against current code.

The files in ``golden/`` were recorded by ``make_golden.py`` from the workflows in
``golden_workflows.py``. Replaying them checks both that the history format stays
readable and that the engine still makes the decisions it recorded. Together they contain
every event type, so adding an event type fails :func:`test_golden_files_cover_every_event_type`
until a golden file with the new event is recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from duragent import StoreVersionError, WorkflowHistory
from duragent._engine.events import EVENT_SCHEMA_VERSION, EVENT_TYPES
from duragent.testing import Replayer
from tests.replay.golden_workflows import WORKFLOWS

GOLDEN_DIR = Path(__file__).parent / "golden"
GOLDEN_FILES = sorted(GOLDEN_DIR.glob("*.json"))


def test_golden_files_exist() -> None:
    assert len(GOLDEN_FILES) >= 8, "run: .venv/bin/python -m tests.replay.make_golden"


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.stem)
async def test_golden_history_replays(path: Path) -> None:
    result = await Replayer(workflows=WORKFLOWS).replay_workflow(path)
    assert result.replay_failure is None
    events = result.history.events
    assert events[0].TYPE == "WorkflowExecutionStarted"
    assert [e.event_id for e in events] == list(range(1, len(events) + 1))


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.stem)
def test_golden_history_is_an_export_that_round_trips(path: Path) -> None:
    data = json.loads(path.read_text())
    assert data["format"] == "duragent-history"
    # Version 1 files stay as recorded; local_activities.json is version 3.
    assert data["version"] == (3 if path.stem == "local_activities" else 1)
    assert data["version"] <= EVENT_SCHEMA_VERSION
    history = WorkflowHistory.from_dict(data)
    # Re-encoding loses no field: decoding it again gives the same events (the encoder may
    # write the same facts more compactly than the frozen file, e.g. sparse retry policies).
    again = WorkflowHistory.from_dict(history.to_dict())
    assert list(again.events) == list(history.events)
    assert [e["type"] for e in data["events"]] == [e.TYPE for e in again.events]


def test_golden_files_cover_every_event_type() -> None:
    present: set[str] = set()
    for path in GOLDEN_FILES:
        present.update(e["type"] for e in json.loads(path.read_text())["events"])
    missing = set(EVENT_TYPES) - present
    assert not missing, (
        f"no golden history contains {sorted(missing)}: add a scenario to "
        "tests/replay/make_golden.py and record it"
    )
    assert present == set(EVENT_TYPES)


async def test_a_history_from_a_newer_version_is_rejected_clearly() -> None:
    data = json.loads((GOLDEN_DIR / "activities.json").read_text())
    data["version"] = 99
    text = json.dumps(data)
    with pytest.raises(StoreVersionError) as info:
        WorkflowHistory.from_json(text)
    message = str(info.value)
    assert "99" in message and "upgrade" in message.lower()
    with pytest.raises(StoreVersionError, match="upgrade"):
        await Replayer(workflows=WORKFLOWS).replay_workflow(text)


async def test_an_unknown_event_type_is_rejected_clearly() -> None:
    data = json.loads((GOLDEN_DIR / "timers_and_signals.json").read_text())
    data["events"][2]["type"] = "SomethingFromTheFuture"
    with pytest.raises(StoreVersionError, match="upgrade"):
        await Replayer(workflows=WORKFLOWS).replay_workflow(json.dumps(data))
