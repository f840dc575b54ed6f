"""The seam's protocols match their implementations.

pyright checks this statically (the assignments below, and the ``_conforms`` functions in
``duragent._backend``); these tests check it at run time too, member by member, so that a
protocol and its implementation cannot drift apart unnoticed even where types are loose."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from duragent._backend import ChangeWatch, ClientBackend, EmbeddedBackend, WorkerStore
from duragent._backend.embedded import TopicWatch
from duragent.store.sqlite import SqliteStore


def _members(protocol: type) -> dict[str, Any]:
    return {
        name: value
        for name, value in vars(protocol).items()
        if not name.startswith("_") and (callable(value) or isinstance(value, property))
    }


@pytest.mark.parametrize(
    ("protocol", "implementation"),
    [
        (ClientBackend, EmbeddedBackend),
        (ChangeWatch, TopicWatch),
        (WorkerStore, SqliteStore),
    ],
    ids=lambda t: t.__name__,
)
def test_every_protocol_member_is_implemented_with_the_same_parameters(
    protocol: type, implementation: type
) -> None:
    members = _members(protocol)
    assert members, f"{protocol.__name__} declares no members"
    for name, declared in members.items():
        implemented = getattr(implementation, name, None)
        assert implemented is not None, f"{implementation.__name__} lacks {name}"
        if isinstance(declared, property):
            assert isinstance(implemented, property), f"{name} should be a property"
            continue
        assert inspect.iscoroutinefunction(declared) == inspect.iscoroutinefunction(implemented), (
            f"{implementation.__name__}.{name}: async differs from the protocol"
        )
        want = [
            (p.name, p.kind, p.default) for p in inspect.signature(declared).parameters.values()
        ]
        got = [
            (p.name, p.kind, p.default) for p in inspect.signature(implemented).parameters.values()
        ]
        assert got == want, f"{implementation.__name__}.{name} parameters differ"


def test_the_worker_store_protocol_lists_the_notifier() -> None:
    store = SqliteStore(":memory:")
    try:
        checked: WorkerStore = store  # checked statically: the worker side
        assert checked.notifier is store.notifier
        backend: ClientBackend = EmbeddedBackend(store)  # and the client side
        assert backend.address == "memory://"
    finally:
        store.close()
