"""Async-completion task tokens: their text is the JSON array ``[run_id, seq, attempt]``
after a prefix (tokens handed out earlier must still be understood), whatever the run id
holds."""

from __future__ import annotations

import json

import pytest

from duragent.errors import ConfigurationError
from duragent.store._async_activities import parse_token, task_token


@pytest.mark.parametrize(
    ("run_id", "seq", "attempt"),
    [
        ("8cdb686cf3a64210b1e142d89e6287a8", 21, 1),
        ('fork "é"\\\n\u2028', 0, 12_345_678_901),
        ("", 7, 0),
    ],
)
def test_a_token_is_its_json_array_and_parses_back(run_id: str, seq: int, attempt: int) -> None:
    token = task_token(run_id, seq, attempt)
    assert token == b"duragent-activity:1:" + json.dumps([run_id, seq, attempt]).encode()
    assert parse_token(token) == (run_id, seq, attempt)


def test_a_damaged_token_is_refused_clearly() -> None:
    with pytest.raises(ConfigurationError, match="not a task token"):
        parse_token(task_token("r", 1, 1)[:-3])
