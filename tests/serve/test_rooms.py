"""The front door of a room of viewers, without starting any: a full room answers HTTP 503."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("aiohttp", reason="the web extra (trame brings aiohttp) is not installed")


async def _status(max_sessions: int) -> tuple[int, str]:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from hbiview.serve.rooms import Rooms

    rooms = Rooms(model=None, anatomy=None, max_sessions=max_sessions)  # type: ignore[arg-type]
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rooms.handle)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/index.html")
        text = await response.text()
    await rooms.aclose()
    return response.status, text


def test_a_full_room_refuses_new_browsers_without_starting_a_viewer():
    status, text = asyncio.run(_status(0))
    assert status == 503 and "full" in text  # no viewer was forked: the model was never touched
