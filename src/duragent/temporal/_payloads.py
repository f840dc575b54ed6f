"""Payloads on Temporal: Duragent's JSON encoding in Temporal's ``json/plain`` format.

Every value Duragent sends (workflow, activity, signal, query and update arguments and
results, heartbeat details, error details) is encoded here with Duragent's own
:class:`~duragent.serde.DataConverter` — the same JSON as the embedded store, the same size
limit, the same error messages — and handed to temporalio as a ``RawValue``, which its
converter passes through untouched. The Temporal UI and CLI show these payloads as JSON.
Decoding uses the receiving parameter's type hint, one position at a time (temporalio would
drop every hint when fewer arguments than parameters arrive).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import pydantic_core
from temporalio.api.common.v1 import Payload as TemporalPayload
from temporalio.common import RawValue
from temporalio.converter import (
    BinaryNullPayloadConverter,
    CompositePayloadConverter,
    EncodingPayloadConverter,
)

from ..errors import SerializationError
from ..serde import DataConverter, Payload

__all__ = ["JSON_PLAIN", "PayloadBridge", "TemporalJSONPayloadConverter"]

JSON_PLAIN: Final = b"json/plain"
_BINARY_NULL: Final = b"binary/null"
_JSON_HEADER: Final = b"json/1\n"
DEFAULT_TEMPORAL_MAX_PAYLOAD_BYTES: Final = 2 * 1024 * 1024
"""Temporal servers reject payloads over 2 MiB (their default blob size limit)."""


class PayloadBridge:
    """Converts between Python values, Duragent payloads and Temporal payloads."""

    def __init__(self, converter: DataConverter) -> None:
        self.converter = converter

    def to_raw(self, value: Any, *, what: str = "value") -> RawValue:
        """Encode ``value`` (raises ``SerializationError`` / ``PayloadTooLargeError``)."""
        return RawValue(self.to_temporal(self.converter.encode(value, what=what)))

    def to_raws(self, values: Sequence[Any], *, what: str = "argument") -> list[RawValue]:
        """Encode positional values; errors name the position."""
        return [RawValue(self.to_temporal(p)) for p in self.converter.encode_all(values, what=what)]

    @staticmethod
    def to_temporal(payload: Payload) -> TemporalPayload:
        """A Duragent payload as a Temporal ``json/plain`` payload (same JSON bytes)."""
        return TemporalPayload(metadata={"encoding": JSON_PLAIN}, data=payload.body)

    @staticmethod
    def to_duragent(payload: TemporalPayload | RawValue) -> Payload:
        """A Temporal payload as a Duragent payload (for history translation)."""
        if isinstance(payload, RawValue):
            payload = payload.payload
        encoding = payload.metadata.get("encoding", b"")
        if encoding == _BINARY_NULL:
            return Payload(_JSON_HEADER + b"null")
        if encoding == b"binary/duragent-chunk-tree":
            raise SerializationError(
                "this payload was stored by Duragent's chunk-tree codec: connect with "
                "Client.connect(url, backend_options={'payload_codec': ChunkTreeCodec(<the "
                "chunk store it was written to>)})"
            )
        if encoding != JSON_PLAIN:
            raise SerializationError(
                f"a Temporal payload with encoding {encoding.decode(errors='replace')!r} "
                "cannot be read by Duragent (it reads json/plain)"
            )
        return Payload(_JSON_HEADER + payload.data)

    def decode(self, value: TemporalPayload | RawValue, hint: Any = None, *, what: str) -> Any:
        """Decode one Temporal payload into ``hint`` (plain JSON without a hint)."""
        try:
            payload = self.to_duragent(value)
        except SerializationError as err:
            raise SerializationError(f"{what}: {err}") from None
        return self.converter.decode(payload, hint, what=what)

    def decode_all(
        self,
        values: Sequence[TemporalPayload | RawValue],
        hints: Sequence[Any],
        *,
        what: str = "argument",
    ) -> list[Any]:
        """Decode positional payloads with their hints (missing hints decode as JSON)."""
        return [
            self.decode(v, hints[i] if i < len(hints) else None, what=f"{what} {i + 1}")
            for i, v in enumerate(values)
        ]


class _JSONPlainConverter(EncodingPayloadConverter):
    """``json/plain`` with pydantic-core: dataclasses, pydantic models, datetimes, UUIDs."""

    @property
    def encoding(self) -> str:
        return JSON_PLAIN.decode()

    def to_payload(self, value: Any) -> TemporalPayload | None:
        try:
            data = pydantic_core.to_json(value)
        except (pydantic_core.PydanticSerializationError, TypeError, ValueError) as err:
            raise SerializationError(
                f"value of type {type(value).__qualname__} cannot be serialized: {err}"
            ) from err
        return TemporalPayload(metadata={"encoding": JSON_PLAIN}, data=data)

    def from_payload(self, payload: TemporalPayload, type_hint: type | None = None) -> Any:
        return DataConverter(max_payload_bytes=1 << 62).decode(
            Payload(_JSON_HEADER + payload.data), type_hint, what="payload"
        )


class TemporalJSONPayloadConverter(CompositePayloadConverter):
    """temporalio's payload converter for what temporalio encodes itself (memo values,
    failure details it builds): null, then JSON by pydantic-core."""

    def __init__(self) -> None:
        super().__init__(BinaryNullPayloadConverter(), _JSONPlainConverter())
