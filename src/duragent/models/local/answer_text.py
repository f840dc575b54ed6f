"""The text of an answer while the local model is still writing it.

In tool mode the model writes JSON, ``{"final_answer": "..."}`` or a tool call; a streaming
caller must show only the answer's text, decoded (escapes and all), never the JSON around
it, and nothing for a tool call. In plain-text mode the answer is the text stripped of
surrounding whitespace. :class:`AnswerText` takes the generated pieces and gives what
became visible: the pieces it returns join to exactly the final answer's text.
"""

from __future__ import annotations

import json
import re
from typing import Final

from duragent.models.local.schema import FINAL_KEY

__all__ = ["AnswerText"]

_ANSWER_START: Final = re.compile(r'\A\s*\{\s*"' + FINAL_KEY + r'"\s*:\s*"')


def _escape_end(content: str, i: int) -> int | None:
    """Where the escape at ``content[i]`` (a backslash) ends, or None if incomplete."""
    if i + 1 >= len(content):
        return None
    if content[i + 1] != "u":
        return i + 2
    if i + 6 > len(content):
        return None
    # A high surrogate: json joins it with the low half that follows into one character,
    # so wait for that half (or for something else to follow).
    high = content[i + 2] in "dD" and content[i + 3] in "89abAB"
    if high and (i + 6 == len(content) or (content[i + 6] == "\\" and i + 12 > len(content))):
        return None
    return i + 6


def _string_so_far(content: str) -> str:
    """The decoded prefix of a JSON string's content (no opening quote), up to its closing
    quote or, while open, up to the last complete character."""
    end = 0
    while end < len(content):
        char = content[end]
        if char == '"':
            break
        if char == "\\":
            escape_end = _escape_end(content, end)
            if escape_end is None:
                break
            end = escape_end
        else:
            end += 1
    return json.loads(f'"{content[:end]}"', strict=False)  # type: ignore[no-any-return]


class AnswerText:
    """What of a reply is visible answer text, as the pieces arrive.

    Args:
        json_mode: The reply is JSON (tool mode); else it is plain text.
    """

    def __init__(self, *, json_mode: bool) -> None:
        self._json = json_mode
        self._raw = ""
        self.shown = ""
        """The answer text returned so far."""

    def _visible(self) -> str:
        if not self._json:
            return self._raw.strip()
        start = _ANSWER_START.match(self._raw)
        return "" if start is None else _string_so_far(self._raw[start.end() :])

    def feed(self, piece: str) -> str:
        """Take the next generated piece; returns the answer text it added (maybe '')."""
        self._raw += piece
        visible = self._visible()
        if not visible.startswith(self.shown):  # never: text only grows; show nothing odd
            return ""
        delta = visible[len(self.shown) :]
        self.shown = visible
        return delta

    def rest(self, final: str) -> str:
        """What of the final answer was not returned yet (normally nothing)."""
        return final[len(self.shown) :] if final.startswith(self.shown) else ""
