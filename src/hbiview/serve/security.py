"""The access token of a classroom server: every request without it is refused (HTTP 403).

Served on the loopback address only the person at the machine can reach the page, and no token is needed.
On any other address (``--host 0.0.0.0`` in a classroom) :func:`new_token` makes a random token, the URL
printed for the students carries it (``?token=...``, as Jupyter does), and :func:`token_middleware`
refuses every HTTP request and websocket upgrade that brings neither that token in the query nor the
cookie the first accepted request set (the page's own scripts, pictures and websocket then need no
token in their URLs).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["COOKIE", "is_loopback", "new_token", "token_middleware"]

#: Name of the cookie holding the token after the first accepted request.
COOKIE = "hbiview_token"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or ``localhost`` (only this machine can connect)."""
    if host.strip().lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A random URL-safe access token (32 bytes of :func:`secrets.token_urlsafe`)."""
    return secrets.token_urlsafe(32)


def token_middleware(token: str) -> Callable[[Any, Any], Awaitable[Any]]:
    """An aiohttp middleware refusing requests without ``token`` (query ``?token=`` or cookie).

    Parameters
    ----------
    token
        The access token.

    Returns
    -------
    callable
        The middleware, to append to the aiohttp application's ``middlewares`` before it starts.
    """
    from aiohttp import web

    expected = token.encode("utf-8")

    def matches(value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode("utf-8"), expected)

    @web.middleware
    async def check_token(request: Any, handler: Any) -> Any:
        from_query = matches(request.query.get("token"))
        if not (from_query or matches(request.cookies.get(COOKIE))):
            return web.Response(
                status=403,
                text="403 Forbidden: this hbiview page needs its access token; open the URL printed when "
                "the server started (it ends with ?token=...)\n",
            )
        response = await handler(request)
        if from_query and isinstance(response, web.StreamResponse) and not response.prepared:
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
        return response

    return check_token
