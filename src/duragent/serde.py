"""Payload conversion: Python values to versioned, self-describing bytes and back.

A payload is one header line naming its encoding and envelope version, then the data::

    json/1
    {"city": "Paris", "days": 3}

Values are encoded with pydantic-core, so dataclasses, pydantic models, enums, datetimes and
UUIDs work without registration. Decoding uses the type hint of the receiving parameter or
return annotation (through a cached pydantic ``TypeAdapter``), so a dataclass argument
arrives as that dataclass; without a hint the plain JSON value is returned.

A reader meeting a header it does not know (a newer envelope version or an unknown
encoding) raises :class:`~duragent.errors.SerializationError` naming it instead of guessing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Final

import pydantic
import pydantic_core

from .errors import PayloadTooLargeError, SerializationError

__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "ENVELOPE_VERSION",
    "DataConverter",
    "Payload",
]

ENVELOPE_VERSION: Final = 1
"""Version of the payload envelope this code writes (and the newest it reads)."""

DEFAULT_MAX_PAYLOAD_BYTES: Final = 16 * 1024 * 1024

_JSON_HEADER: Final = b"json/1\n"
_NULL: Final = _JSON_HEADER + b"null"


class Payload:
    """One encoded value: envelope header plus data, immutable bytes.

    A payload read from a store may be *lazy*: its bytes are fetched on first access of
    :attr:`data` (replay never touches most recorded inputs, so it never loads them).
    """

    __slots__ = ("_data", "_load")

    def __init__(
        self, data: bytes | None = None, *, load: Callable[[], bytes] | None = None
    ) -> None:
        if data is None and load is None:
            raise ValueError("a Payload needs data or a loader")
        self._data = data
        self._load = load

    @property
    def data(self) -> bytes:
        """The complete envelope (header line and body)."""
        data = self._data
        if data is None:
            assert self._load is not None
            data = self._data = self._load()
            self._load = None
        return data

    @property
    def loaded(self) -> bool:
        """Whether the bytes are in memory (False for a lazy payload not yet read)."""
        return self._data is not None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Payload) and other.data == self.data

    def __hash__(self) -> int:
        return hash(self.data)

    def __repr__(self) -> str:
        text = self.data.decode("utf-8", "replace").replace("\n", " ", 1)
        return f"Payload({text[:80]!r}{'...' if len(text) > 80 else ''})"

    @property
    def body(self) -> bytes:
        """The data after the header line."""
        return self.data.partition(b"\n")[2]

    def to_json_value(self) -> Any:
        """The payload as a plain JSON value (for display and exports)."""
        header, _, body = self.data.partition(b"\n")
        if header == _JSON_HEADER[:-1]:
            return json.loads(body)
        raise SerializationError(_unknown_header(header))


NULL_PAYLOAD: Final = Payload(_NULL)


def _unknown_header(header: bytes) -> str:
    shown = header[:40].decode("utf-8", "replace")
    if shown.startswith("json/"):
        return (
            f"payload envelope {shown!r} is newer than this Duragent understands "
            f"(it reads json/{ENVELOPE_VERSION}); upgrade Duragent to read it"
        )
    return f"payload has an unknown encoding header {shown!r}"


_adapters: dict[Any, pydantic.TypeAdapter[Any]] = {}


def _adapter(hint: Any) -> pydantic.TypeAdapter[Any]:
    try:
        return _adapters[hint]
    except KeyError:
        adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(hint)
        _adapters[hint] = adapter
        return adapter
    except TypeError:  # unhashable hint, e.g. some Annotated metadata
        return pydantic.TypeAdapter(hint)


class DataConverter:
    """Converts values to payloads and back, enforcing a size limit.

    Args:
        max_payload_bytes: Largest encoded payload accepted; larger values raise
            :class:`~duragent.errors.PayloadTooLargeError` when encoded.
    """

    def __init__(self, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> None:
        self.max_payload_bytes = max_payload_bytes

    def encode(self, value: Any, *, what: str = "value") -> Payload:
        """Encode ``value``; ``what`` names it in error messages. A :class:`Payload` is
        already encoded and passes through (size limit checked)."""
        if value is None:
            return NULL_PAYLOAD
        if isinstance(value, Payload):
            self._check_size(len(value.data) - len(_JSON_HEADER), what)
            return value
        try:
            body = pydantic_core.to_json(value)
        except (pydantic_core.PydanticSerializationError, TypeError, ValueError) as err:
            raise SerializationError(
                f"{what} of type {type(value).__qualname__} cannot be serialized: {err}. "
                "Use JSON-able values, dataclasses or pydantic models."
            ) from err
        self._check_size(len(body), what)
        return Payload(_JSON_HEADER + body)

    def _check_size(self, body_bytes: int, what: str) -> None:
        if body_bytes + len(_JSON_HEADER) > self.max_payload_bytes:
            raise PayloadTooLargeError(
                f"{what} is {body_bytes} bytes encoded, over the limit of "
                f"{self.max_payload_bytes} bytes (max_payload_bytes); pass a reference "
                "(a path or URL) instead of the data"
            )

    def encode_all(self, values: Sequence[Any], *, what: str = "argument") -> tuple[Payload, ...]:
        """Encode each value; errors name the argument's position."""
        return tuple(
            self.encode(v, what=f"{what} {i + 1}" if len(values) > 1 else what)
            for i, v in enumerate(values)
        )

    def decode(self, payload: Payload, hint: Any = None, *, what: str = "value") -> Any:
        """Decode ``payload`` into ``hint`` (or a plain JSON value without a hint; the
        payload itself when ``hint`` is :class:`Payload`)."""
        if hint is Payload:
            return payload
        data = payload.data
        if not data.startswith(_JSON_HEADER):
            header = data.partition(b"\n")[0]
            raise SerializationError(f"{what}: {_unknown_header(header)}")
        body = data[len(_JSON_HEADER) :]
        try:
            if hint is None or hint is Any:
                return json.loads(body)
            return _adapter(hint).validate_json(body)
        except (pydantic.ValidationError, ValueError) as err:
            raise SerializationError(
                f"{what} cannot be decoded as {getattr(hint, '__qualname__', hint)}: {err}"
            ) from err

    def decode_all(
        self, payloads: Sequence[Payload], hints: Sequence[Any], *, what: str = "argument"
    ) -> list[Any]:
        """Decode positional payloads with their hints (missing hints decode as JSON)."""
        return [
            self.decode(p, hints[i] if i < len(hints) else None, what=f"{what} {i + 1}")
            for i, p in enumerate(payloads)
        ]
