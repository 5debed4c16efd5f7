"""A room of students, each with their own page: one viewer process per browser, behind one address.

A trame application shares its state with every browser connected to it: good for a projector (the
teacher drives, everyone sees), not for students who each move their own border. Here the front door
(an aiohttp server on ``--host``/``--port``, behind the access token) gives each new browser a session
cookie and its own viewer: a child process *forked* from this one after the case was segmented, the first
plan computed and the surfaces made, so it starts in about a second and shares those (copy-on-write)
instead of segmenting the CT again. The front door forwards the browser's requests and websocket to its
child, on a loopback port no one else is told about. Children stop with the server, and after
:data:`IDLE_S` without a connected page.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hbiview.errors import InputError
from hbiview.serve.model import ServeModel

__all__ = ["IDLE_S", "MAX_SESSIONS", "SESSION_COOKIE", "serve_rooms"]

#: Cookie naming a browser's own viewer.
SESSION_COOKIE = "hbiview_session"

#: Most viewers at once (each a process of a few hundred MB); more browsers get HTTP 503.
MAX_SESSIONS = 40

#: A viewer without a connected page for this long (s) is stopped.
IDLE_S = 1800.0

_HOP_HEADERS = {
    "host",
    "cookie",
    "connection",
    "upgrade",
    "content-length",
    "transfer-encoding",
    "keep-alive",
}
_KEPT_RESPONSE_HEADERS = {"content-type", "location", "cache-control", "etag", "last-modified"}


def _exit_with_parent(period_s: float = 1.0) -> None:  # pragma: no cover - in a child process
    """End this process when the front door that forked it is gone (killed without cleaning up)."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(period_s)
        os._exit(0)

    threading.Thread(target=watch, name="hbiview-parent-watch", daemon=True).start()


def _child_main(model: ServeModel, anatomy: Any, conn: Any) -> None:  # pragma: no cover - in a child process
    """Run one viewer on a free loopback port and send the port through ``conn``."""
    asyncio.set_event_loop(asyncio.new_event_loop())  # never the front door's loop, inherited by the fork
    _exit_with_parent()
    os.environ["TRAME_ARGS"] = "--server"
    from hbiview.serve.app import ViewerApp

    app = ViewerApp(model, anatomy=anatomy)
    app.server.controller.on_server_ready.add(lambda **_: conn.send(int(app.server.port)))
    app.server.start(
        host="127.0.0.1",
        port=0,
        open_browser=False,
        show_connection_info=False,
        disable_logging=True,
        timeout=0,
    )


@dataclass
class _Session:
    process: Any
    port: int
    sockets: int = 0
    last_seen: float = field(default_factory=time.monotonic)


class Rooms:
    """The front door: sessions by cookie, each forwarded to its own viewer process.

    Parameters
    ----------
    model
        Plans on the case (computed plans so far are inherited by every viewer).
    anatomy
        Surfaces made once (:func:`hbiview.render.scene.prepare_anatomy`), inherited by every viewer.
    max_sessions
        Most viewers at once.
    """

    def __init__(self, model: ServeModel, anatomy: Any, max_sessions: int = MAX_SESSIONS) -> None:
        self.model = model
        self.anatomy = anatomy
        self.max_sessions = max_sessions
        self.sessions: dict[str, _Session] = {}
        self._context = multiprocessing.get_context("fork")
        self._client: Any = None
        self._starting = asyncio.Lock()

    async def _start_viewer(self) -> _Session:
        parent, child = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_child_main, args=(self.model, self.anatomy, child), daemon=True
        )
        process.start()
        child.close()
        # poll the pipe from the loop rather than in a worker thread: the front door stays one thread, so
        # the next fork copies no thread that might hold a lock
        deadline = time.monotonic() + 120.0
        while not parent.poll(0) and time.monotonic() < deadline and process.is_alive():
            await asyncio.sleep(0.05)
        if not parent.poll(0):
            process.terminate()
            raise InputError("a viewer for a new browser did not start (within 120 s)")
        port = int(parent.recv())
        parent.close()
        return _Session(process, port)

    async def session_for(self, request: Any) -> tuple[str, _Session, bool]:
        """The browser's session (made, with its viewer, when the browser has none): key, session, new."""
        from aiohttp import web

        key = request.cookies.get(SESSION_COOKIE)
        session = self.sessions.get(key or "")
        if session is not None and session.process.is_alive():
            session.last_seen = time.monotonic()
            return str(key), session, False
        async with self._starting:
            self._reap()
            if len(self.sessions) >= self.max_sessions:
                raise web.HTTPServiceUnavailable(
                    text=f"this hbiview room is full ({self.max_sessions} viewers); try again later\n"
                )
            key = secrets.token_urlsafe(16)
            session = await self._start_viewer()
            self.sessions[key] = session
            return key, session, True

    def _reap(self) -> None:
        now = time.monotonic()
        for key, session in list(self.sessions.items()):
            idle = session.sockets == 0 and now - session.last_seen > IDLE_S
            if idle or not session.process.is_alive():
                session.process.terminate()
                del self.sessions[key]

    def close(self) -> None:
        """Stop every viewer."""
        for session in self.sessions.values():
            session.process.terminate()
        for session in self.sessions.values():
            session.process.join(timeout=10)
            if session.process.is_alive():
                session.process.kill()
        self.sessions.clear()

    async def handle(self, request: Any) -> Any:
        """Forward one request (HTTP or websocket) to the browser's viewer."""
        import aiohttp

        if self._client is None:
            self._client = aiohttp.ClientSession(auto_decompress=False)
        key, session, new = await self.session_for(request)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request, session)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        url = f"http://127.0.0.1:{session.port}{request.rel_url}"
        body = await request.read()
        async with self._client.request(
            request.method, url, headers=headers, data=body or None, allow_redirects=False
        ) as upstream:
            payload = await upstream.read()
            kept = {k: v for k, v in upstream.headers.items() if k.lower() in _KEPT_RESPONSE_HEADERS}
            if upstream.headers.get("Content-Encoding"):
                kept["Content-Encoding"] = upstream.headers["Content-Encoding"]
        from aiohttp import web

        response = web.Response(status=upstream.status, body=payload, headers=kept)
        if new:
            response.set_cookie(SESSION_COOKIE, key, httponly=True, samesite="Strict")
        return response

    async def _websocket(self, request: Any, session: _Session) -> Any:
        import aiohttp
        from aiohttp import web

        outer = web.WebSocketResponse(max_msg_size=0)
        await outer.prepare(request)
        session.sockets += 1
        try:
            async with self._client.ws_connect(
                f"http://127.0.0.1:{session.port}{request.rel_url}", max_msg_size=0
            ) as inner:

                async def pump(source: Any, target: Any) -> None:
                    async for message in source:
                        if message.type == aiohttp.WSMsgType.TEXT:
                            await target.send_str(message.data)
                        elif message.type == aiohttp.WSMsgType.BINARY:
                            await target.send_bytes(message.data)
                        else:
                            break

                tasks = [asyncio.ensure_future(pump(outer, inner)), asyncio.ensure_future(pump(inner, outer))]
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in tasks:
                    task.cancel()
        finally:
            session.sockets -= 1
            session.last_seen = time.monotonic()
            await outer.close()
        return outer

    async def aclose(self) -> None:
        """Close the forwarding client and stop every viewer."""
        if self._client is not None:
            await self._client.close()
        self.close()


def serve_rooms(
    model: ServeModel,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    token: str | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve one viewer per browser behind one address until interrupted (blocking).

    Parameters
    ----------
    model, host, port, token, on_ready
        As :func:`hbiview.serve.app.serve`.
    """
    from aiohttp import web

    from hbiview.render.scene import prepare_anatomy
    from hbiview.serve.app import _require_trame, _shown_host
    from hbiview.serve.security import token_middleware

    _require_trame()
    anatomy = prepare_anatomy(model.case.structures, bone="skeleton")  # once, inherited by every viewer
    rooms = Rooms(model, anatomy)
    middlewares: list[Any] = [token_middleware(token)] if token else []
    app = web.Application(middlewares=middlewares)
    app.router.add_route("*", "/{tail:.*}", rooms.handle)

    async def run() -> None:
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, int(port))
            try:
                await site.start()
            except OSError as exc:
                raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
            if on_ready is not None:
                on_ready(
                    f"http://{_shown_host(host)}:{port}/index.html" + (f"?token={token}" if token else "")
                )
            await asyncio.Event().wait()  # until interrupted
        finally:
            await rooms.aclose()
            await runner.cleanup()

    import signal

    def stop(*_: Any) -> None:  # SIGTERM (a service manager, a test) stops the viewers too
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        asyncio.run(run())
    finally:
        signal.signal(signal.SIGTERM, previous)
        rooms.close()
