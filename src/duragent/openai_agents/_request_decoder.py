"""Model-call requests decoded in proportion to what is new.

The model activity must hand its model the whole conversation as Python objects. Parsing
the request's JSON again at every call makes each call cost more than the last (about
0.4 ms a call at 200 turns). A request built by this process's workflow (an activity its
worker claimed as it scheduled it) still carries its input as the encodings of its items,
with a hash of every prefix (``_json_parts.EncodedList``): the decoder keeps the items of
recent requests decoded, recognises by that hash how much of a new request's input it
already holds, and parses only the rest.

What it keeps is never handed out: the model gets copies (``dict(item)`` for an item whose
members are all immutable, which is most of them; otherwise a fresh parse of that item's
own encoding), so a model that changes its input in place cannot change the next call's.
A request read from the store, or from a Temporal server, carries plain bytes and is
parsed whole, as before; both paths give the same request. At most :data:`_KEEP` inputs are
kept, so what this holds is bounded by a few conversations (each bounded in turn by what a
model's context can take).
"""

from __future__ import annotations

import json
import threading
from typing import Any, Final

import pydantic

from .._json_parts import JSON_HEADER, EncodedList, PartsPayload, is_flat, member_json
from ..errors import SerializationError
from ..serde import DataConverter, Payload
from ._request import ModelCallRequest

_KEEP: Final = 8
"""Recent inputs kept decoded (parallel agents, or several runs, each continue their own)."""
_ADAPTER: Final = pydantic.TypeAdapter(ModelCallRequest)
_WHAT: Final = "the model call request"


class _Decoded:
    """One input as decoded: the prefix hashes of its encoding and its items (private)."""

    __slots__ = ("chain", "items", "nested")

    def __init__(self, chain: tuple[bytes, ...], items: list[Any], nested: list[int]) -> None:
        self.chain = chain
        self.items = items
        self.nested = nested
        """Positions of the items that ``dict()`` would not copy (nested, or not objects)."""


class RequestDecoder:
    """Decodes the model activity's request payloads, remembering recent inputs."""

    def __init__(self) -> None:
        self._recent: list[_Decoded] = []
        self._lock = threading.Lock()
        """Workers on other threads may share the plugin (hence this decoder)."""
        self._converter = DataConverter()
        self.parsed = 0
        """Input items parsed from a request's parts so far (for tests and benchmarks)."""

    def decode(self, payload: Payload) -> ModelCallRequest:
        """The request in ``payload``. Raises SerializationError when it is not one."""
        members = payload.members if isinstance(payload, PartsPayload) else None
        if members is None or not payload.data.startswith(JSON_HEADER):
            return self._converter.decode(payload, ModelCallRequest, what=_WHAT)
        value = {
            name: self._input(member)
            if isinstance(member, EncodedList)
            else json.loads(member_json(member))
            for name, member in members
        }
        try:
            return _ADAPTER.validate_python(value)
        except (pydantic.ValidationError, ValueError) as err:
            raise SerializationError(f"{_WHAT} cannot be decoded: {err}") from err

    def _input(self, encoded: EncodedList) -> list[Any]:
        """Copies of ``encoded``'s items, parsing only those no recent input had."""
        chain, texts = encoded.chain, encoded.items
        with self._lock:
            entry = self._remember(chain, texts)
        if any(type(entry.items[i]) is not dict for i in entry.nested):
            return json.loads(encoded.json())  # not a list of objects: never an SDK input
        # Most items are flat: copied in one C loop; the others parsed again.
        copies: list[Any] = list(map(dict, entry.items))
        for i in entry.nested:
            copies[i] = json.loads(texts[i])
        return copies

    def _remember(self, chain: tuple[bytes, ...], texts: tuple[bytes, ...]) -> _Decoded:
        """The decoded items of the input with these prefix hashes and item encodings,
        from the longest recent input it shares a prefix with (which it replaces when it
        extends it) plus the rest, parsed now."""
        best, keep = -1, 0
        for i, known in enumerate(self._recent):
            shared = _shared(known.chain, chain)
            if shared > keep:
                best, keep = i, shared
        added: list[Any] = []
        if keep < len(texts):
            added = json.loads(b"[" + b",".join(texts[keep:]) + b"]")
            self.parsed += len(added)
        nested = [keep + i for i, item in enumerate(added) if not is_flat(item)]
        if best >= 0:
            known = self._recent[best]
            kept = [i for i in known.nested if i < keep]
            entry = _Decoded(chain, known.items[:keep] + added, kept + nested)
            if keep == len(known.chain):
                del self._recent[best]  # extended: one entry per conversation
        else:
            entry = _Decoded(chain, added, nested)
        self._recent.insert(0, entry)
        del self._recent[_KEEP:]
        return entry


def _shared(known: tuple[bytes, ...], chain: tuple[bytes, ...]) -> int:
    """How many leading items two encoded lists share, from their prefix hashes: equal
    hashes at k mean equal prefixes up to k, so the answer is found by bisection."""
    n = min(len(known), len(chain))
    if n and known[n - 1] == chain[n - 1]:
        return n  # the usual case: the new input extends (or repeats) the known one
    low, high = 0, n  # known[:low] shared; known[:high + 1] not
    while low < high:
        mid = (low + high) // 2
        if known[mid] == chain[mid]:
            low = mid + 1
        else:
            high = mid
    return low
