"""The access token of a classroom server: refused without it (HTTP 403), accepted with it."""

from __future__ import annotations

import asyncio

import pytest

from hbiview.serve.security import COOKIE, is_loopback, new_token, token_middleware

aiohttp = pytest.importorskip("aiohttp", reason="the web extra (trame brings aiohttp) is not installed")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("0.0.0.0", False), ("192.168.1.20", False), ("::", False), ("teacher-pc", False)],
)  # fmt: skip
def test_only_loopback_addresses_go_without_a_token(host, loopback):
    assert is_loopback(host) is loopback


def test_tokens_are_random_and_long():
    tokens = {new_token() for _ in range(20)}
    assert len(tokens) == 20  # 256 random bits each: a repeat would be a broken generator
    assert all(len(t) >= 43 for t in tokens)  # 32 bytes in URL-safe base64


async def _exchange(token: str) -> dict[str, int]:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    async def page(request):
        return web.Response(text="the page")

    async def websocket(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str("hello")
        await ws.close()
        return ws

    app = web.Application(middlewares=[token_middleware(token)])
    app.router.add_get("/index.html", page)
    app.router.add_get("/ws", websocket)
    out: dict[str, int] = {}
    async with TestClient(TestServer(app)) as anonymous, TestClient(TestServer(app)) as student:
        out["none"] = (await anonymous.get("/index.html")).status
        out["wrong"] = (await anonymous.get("/index.html", params={"token": token[:-1] + "x"})).status
        try:
            await anonymous.ws_connect("/ws")
            out["ws none"] = 101
        except aiohttp.WSServerHandshakeError as exc:
            out["ws none"] = exc.status
        first = await student.get("/index.html", params={"token": token})
        out["token"] = first.status
        out["cookie set"] = int(first.cookies[COOKIE].value == token)
        out["cookie"] = (await student.get("/index.html")).status  # the page's own requests: no query
        ws = await student.ws_connect("/ws")  # the websocket, with the cookie
        out["ws cookie"] = int((await ws.receive_str()) == "hello")
        await ws.close()
    return out


def test_requests_without_the_token_are_refused_and_with_it_accepted():
    token = new_token()
    out = asyncio.run(_exchange(token))
    assert out == {
        "none": 403,
        "wrong": 403,
        "ws none": 403,
        "token": 200,
        "cookie set": 1,
        "cookie": 200,
        "ws cookie": 1,
    }
