"""Search attributes in the web UI and its JSON API, on both backends: ``/api/v1/runs?
search_attribute=NAME=VALUE`` filters (repeatable, typed by how the value is written, kept
by the next-page link), the run's JSON and page show them, and each value on the run page
links to the runs that share it. A real server on 127.0.0.1, a real SQLite file or the
session's Temporal dev server (where the names are registered, see
``tests/temporal_server.py``)."""

from __future__ import annotations

import contextlib
import html
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from duragent import Client

from ..temporal_server import TemporalServerInfo
from .conftest import RunningServer, serving, wait_until
from .ui_app import TASK_QUEUE, Pipeline

pytestmark = pytest.mark.timeout(180)

DUE = datetime(2026, 12, 24, 18, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("temporal", marks=pytest.mark.temporal)])
async def served(
    request: pytest.FixtureRequest, db_url: str
) -> AsyncIterator[tuple[Client, RunningServer, str]]:
    """(client, server, backend); no worker: runs stay running as they were started."""
    url = db_url
    if request.param == "temporal":
        info: TemporalServerInfo = request.getfixturevalue("temporal_server")
        url = info.url
    client = await Client.connect(url)
    try:
        with serving(url) as server:
            yield client, server, str(request.param)
    finally:
        await client.close()


async def test_runs_filtered_and_shown_by_search_attributes(
    served: tuple[Client, RunningServer, str],
) -> None:
    client, server, backend = served
    tag = uuid.uuid4().hex[:8]  # the dev server is shared: ids and values of this test only
    customer = f"c-{tag}"
    ids_of = {k: f"{tag}-{k}" for k in ("a", "b", "c", "plain")}
    starts = {
        "a": {"CustomerId": customer, "Priority": 2, "Tags": ["eu", "vip"], "DueAt": DUE},
        "b": {"CustomerId": "42", "Priority": 2, "Urgent": True},
        "c": {"CustomerId": customer, "Score": 0.5},
        "plain": {},
    }
    for key, attributes in starts.items():
        await client.start_workflow(
            Pipeline.run,
            key,
            id=ids_of[key],
            task_queue=TASK_QUEUE,
            search_attributes=attributes,
        )

    async def ids(*filters: str, extra: str = "") -> list[str]:
        query = "".join(f"&search_attribute={quote(f, safe='')}" for f in filters)
        reply = await server.get(f"/api/v1/runs?prefix={tag}-{query}{extra}")
        assert reply.status == 200, reply.text
        return sorted(r["workflow_id"].removeprefix(f"{tag}-") for r in reply.json()["runs"])

    async def listed(expected: list[str], *filters: str) -> list[str]:
        """Temporal's visibility lags a little behind: wait for the expected list."""
        got: list[str] = []

        async def matches() -> bool:
            nonlocal got
            got = await ids(*filters)
            return got == expected

        with contextlib.suppress(AssertionError):
            await wait_until(matches, timeout=20, what=f"runs {expected} for {filters}")
        return got

    assert await listed(["a", "b", "c", "plain"]) == ["a", "b", "c", "plain"]
    assert await listed(["a", "c"], f"CustomerId={customer}") == ["a", "c"]
    assert await listed(["a"], f"CustomerId={customer}", "Tags=eu") == ["a"]
    assert await listed(["a"], "Tags=eu", "Tags=vip") == ["a"]
    assert await listed(["a", "b"], "Priority=2") == ["a", "b"]
    assert await listed(["b"], "Urgent=true") == ["b"]
    assert await listed(["c"], "Score=0.5") == ["c"]
    assert await listed(["a"], "DueAt=2026-12-24T18:00:00Z") == ["a"]
    assert await listed(["b"], 'CustomerId="42"') == ["b"]
    assert await listed([], "Tags=us") == []

    # The next page's link keeps the filter.
    first = (
        await server.get(f"/api/v1/runs?prefix={tag}-&search_attribute=Priority%3D2&limit=1")
    ).json()
    assert len(first["runs"]) == 1 and first["next_cursor"]
    rest = await server.get(
        f"/api/v1/runs?prefix={tag}-&search_attribute=Priority%3D2&limit=1"
        f"&cursor={quote(first['next_cursor'], safe='')}"
    )
    assert len(rest.json()["runs"]) == 1
    assert rest.json()["runs"][0]["workflow_id"] != first["runs"][0]["workflow_id"]
    listing = await server.get(f"/?prefix={tag}-&search_attribute=Priority%3D2&limit=1")
    assert listing.status == 200
    assert "search_attribute=Priority%3D2" in html.unescape(listing.text)

    one = (await server.get(f"/api/v1/runs/{ids_of['a']}")).json()
    assert one["search_attributes"] == {
        "CustomerId": customer,
        "Priority": 2,
        "Tags": ["eu", "vip"],
        "DueAt": DUE.isoformat(),
    }
    assert (await server.get(f"/api/v1/runs/{ids_of['plain']}")).json()["search_attributes"] == {}

    page_html = html.unescape((await server.get(f"/runs/{ids_of['a']}")).text)
    for text in (f"CustomerId={customer}", "Priority=2", "Tags=eu", "Tags=vip", "DueAt=2026-12-24"):
        assert text in page_html
    for text in (f"CustomerId={customer}", "Priority=2", "Tags=eu", "Tags=vip"):
        assert f"/?search_attribute={quote(text, safe='')}" in page_html
    b_html = html.unescape((await server.get(f"/runs/{ids_of['b']}")).text)
    assert "/?search_attribute=" + quote('CustomerId="42"', safe="") in b_html

    bad_filters = [
        ("nope", "is not NAME=VALUE"),
        ("a b=1", "not valid"),
        ("DueAt=2026-13-40T00:00", "not an ISO-8601 time"),
        ("DueAt=2026-12-24T18:00:00", "needs a time zone"),
    ]
    if backend == "temporal":  # a value of another type than the registered one
        bad_filters.append(("CustomerId=42", "search-attribute create"))
    else:  # no registry: an int matches no string
        assert await ids("CustomerId=42") == []
    for bad, message in bad_filters:
        reply = await server.get(f"/api/v1/runs?search_attribute={quote(bad, safe='')}")
        assert reply.status == 400 and message in reply.json()["error"], reply.text
        page_reply = await server.get(f"/?search_attribute={quote(bad, safe='')}")
        assert page_reply.status == 400 and message in html.unescape(page_reply.text)

    # Temporal's list filter, in the API and the page (kept by the next-page link too).
    async def filtered(expected: list[str], list_filter: str) -> list[str]:
        got: list[str] = []

        async def matches() -> bool:
            nonlocal got
            got = await ids(extra=f"&query={quote(list_filter, safe='')}")
            return got == expected

        with contextlib.suppress(AssertionError):
            await wait_until(matches, timeout=20, what=f"runs {expected} for {list_filter}")
        return got

    assert await filtered(["a", "b"], "Priority = 2") == ["a", "b"]
    assert await filtered(["a", "c"], f"CustomerId = '{customer}' OR Score > 1") == ["a", "c"]
    assert await filtered(["b", "c"], "Urgent = true OR Score BETWEEN 0.1 AND 0.9") == ["b", "c"]
    paged = f"/?prefix={tag}-&query={quote('Priority = 2', safe='')}&limit=1"
    page_text = html.unescape((await server.get(paged)).text)
    assert "query=Priority+%3D+2" in page_text or "query=Priority%20%3D%202" in page_text
    assert 'value="Priority = 2"' in page_text
    bad_query = await server.get(f"/api/v1/runs?query={quote('Priority =', safe='')}")
    assert bad_query.status == 400 and "list filter" in bad_query.json()["error"], bad_query.text
    bad_page = await server.get(f"/?query={quote('Priority =', safe='')}")
    assert bad_page.status == 400 and "list filter" in html.unescape(bad_page.text)
    for key in ids_of.values():
        await client.get_workflow_handle(key).terminate()
