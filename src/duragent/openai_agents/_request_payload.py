"""Model-call requests encoded in proportion to what is new.

A model call's input is the whole conversation so far: encoding it again at every turn (and
splitting and hashing it in the store) would make each turn cost more than the last. The
workflow keeps, per run, the encodings of its recent requests: a new request reuses the
encoding of every input item it shares with an earlier one (compared by value, against a
private copy taken when the item was encoded, so an item changed in place is seen as
changed) and of its configuration when unchanged, and encodes only the rest. The payload it builds
(a ``_json_parts.PartsPayload``) holds the same JSON a ``ModelCallRequest`` encodes to, and
tells the store which list it extends.

This state is rebuilt by replay like the rest of the run's state, and never recorded.
"""

from __future__ import annotations

import json
from typing import Any, Final

from .._json_parts import EncodedList, PartsPayload, encode_item, is_flat, object_payload
from .._runtime import runtime
from ._request import ModelCallConfig
from ._wire import AGENT_FORMAT_VERSION

_STATE_KEY: Final = "duragent.openai_agents.request_encodings"
_KEEP: Final = 8
"""Recent requests remembered per run (parallel agents each continue their own)."""
_VERSION: Final = str(AGENT_FORMAT_VERSION).encode()


class RequestEncoder:
    """The encodings of one run's recent model-call requests."""

    def __init__(self) -> None:
        self._configs: list[tuple[dict[str, Any], bytes]] = []
        self._inputs: list[tuple[list[Any], EncodedList]] = []

    def payload(
        self,
        config: ModelCallConfig,
        input: str | list[Any],
        previous_response_id: str | None,
        conversation_id: str | None,
        *,
        stream: bool = False,
    ) -> PartsPayload:
        """The payload of ``ModelCallRequest(v=AGENT_FORMAT_VERSION, config, input, ...)``
        (the same members in the same order)."""
        encoded_input = encode_item(input) if isinstance(input, str) else self._items(input)
        return object_payload(
            [
                ("v", _VERSION),
                ("config", self._config(config)),
                ("input", encoded_input),
                ("previous_response_id", encode_item(previous_response_id)),
                ("conversation_id", encode_item(conversation_id)),
                ("stream", b"true" if stream else b"false"),
            ]
        )

    def _config(self, config: ModelCallConfig) -> bytes:
        value = dict(vars(config))  # its fields (a plain dataclass)
        for i, (seen, text) in enumerate(self._configs):
            if seen == value:
                if i:
                    self._configs.insert(0, self._configs.pop(i))
                return text
        text = encode_item(value)
        self._configs.insert(0, (json.loads(text), text))
        del self._configs[_KEEP:]
        return text

    def _items(self, items: list[Any]) -> EncodedList:
        best = -1
        keep = 0
        for i, (seen, _) in enumerate(self._inputs):
            shared = _common_prefix(seen, items)
            if shared > keep:
                best, keep = i, shared
            if shared and shared == len(seen):
                break  # the newest entry this input extends: its own earlier ones are shorter
        added = items[keep:]
        texts = [encode_item(item) for item in added]
        fresh = [_snapshot(item, text) for item, text in zip(added, texts, strict=True)]
        if best < 0:
            entry = (fresh, EncodedList().extend(0, texts))
        else:
            seen, encoded = self._inputs[best]
            entry = (seen[:keep] + fresh, encoded.extend(keep, texts))
            if keep == len(seen):
                del self._inputs[best]  # extended: keep one entry per conversation
        self._inputs.insert(0, entry)
        del self._inputs[_KEEP:]
        return entry[1]


def _snapshot(item: Any, text: bytes) -> Any:
    """A private copy of ``item`` as it was when encoded to ``text``: a shallow copy when all
    its values are immutable (most items: tool calls and their outputs), else a copy decoded
    from ``text``. The shallow copy shares the item's strings, so comparing the next turn's
    item with it mostly finds the same objects (the SDK passes the same strings again) and
    need not read them; a value replaced in place still shows as a difference."""
    if is_flat(item):
        return dict(item)  # pyright: ignore[reportUnknownArgumentType]
    return json.loads(text)


def _common_prefix(seen: list[Any], items: list[Any]) -> int:
    """How many leading items the two lists share (by value)."""
    n = len(seen)
    if n <= len(items) and items[:n] == seen:  # the usual case, compared in one C loop
        return n
    n = min(n, len(items))
    i = 0
    while i < n and seen[i] == items[i]:
        i += 1
    return i


def request_encoder() -> RequestEncoder:
    """The running workflow run's encoder."""
    state = runtime().run_state()
    found = state.get(_STATE_KEY)
    if not isinstance(found, RequestEncoder):
        found = state[_STATE_KEY] = RequestEncoder()
    return found
