"""Drive a headless Chromium over the DevTools protocol: open the page, wait for it, read it, screenshot it.

Used by the tests (the page really shows the model's numbers) and by ``docs/viewer_images.py`` (the
teaching page's screenshots). It needs only a ``chromium`` (or ``chromium-browser``, ``google-chrome``)
executable and aiohttp, which trame already brings; nothing is downloaded.

>>> with HeadlessBrowser() as browser:                       # doctest: +SKIP
...     browser.open("http://localhost:8080/index.html")
...     browser.wait_for("document.querySelector('#numbers') !== null")
...     png = browser.screenshot()
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import tempfile
import time
from types import TracebackType
from typing import Any

from hbiview.errors import InputError

__all__ = ["HeadlessBrowser", "find_chromium"]

_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """Path of a Chromium-family browser on ``PATH``, or ``None``."""
    for name in _NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class HeadlessBrowser:
    """One headless Chromium with one page, driven synchronously (a context manager).

    Parameters
    ----------
    size
        Window size ``(width, height)`` in pixels.
    executable
        Browser to run; default :func:`find_chromium`.

    Raises
    ------
    InputError
        When no browser is found or it does not start.
    """

    def __init__(self, size: tuple[int, int] = (1600, 1000), executable: str | None = None) -> None:
        self.executable = executable or find_chromium()
        if self.executable is None:
            raise InputError("no Chromium found on PATH (apt-get install chromium)")
        self.size = size
        self.console: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._profile = tempfile.TemporaryDirectory(prefix="hbiview-chromium-", ignore_cleanup_errors=True)
        self._process: subprocess.Popen[str] | None = None
        self._session: Any = None
        self._ws: Any = None
        self._next_id = 0

    # --------------------------------------------------------------------------------------- lifecycle
    def __enter__(self) -> HeadlessBrowser:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self, timeout_s: float = 30.0) -> None:
        """Start the browser and attach to its page."""
        width, height = self.size
        self._process = subprocess.Popen(
            [
                str(self.executable), "--headless=new", "--no-sandbox", "--no-first-run",
                "--disable-dev-shm-usage", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                "--remote-debugging-port=0", f"--user-data-dir={self._profile.name}",
                f"--window-size={width},{height}", "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        endpoint = None
        deadline = time.monotonic() + timeout_s
        assert self._process.stderr is not None
        while time.monotonic() < deadline:
            line = self._process.stderr.readline()
            if not line:
                break
            if "DevTools listening on" in line:
                endpoint = line.split("DevTools listening on", 1)[1].strip()
                break
        if endpoint is None:
            self.close()
            raise InputError(f"{self.executable} did not start a DevTools endpoint")
        port = endpoint.split("//", 1)[1].split("/", 1)[0]
        self._loop.run_until_complete(self._attach(f"http://{port}"))

    async def _attach(self, base: str) -> None:
        import aiohttp

        self._session = aiohttp.ClientSession()
        for _ in range(50):
            async with self._session.get(f"{base}/json/list") as response:
                targets = await response.json(content_type=None)
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                break
            await asyncio.sleep(0.1)
        self._ws = await self._session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)
        await self._call("Page.enable")
        await self._call("Runtime.enable")

    def close(self) -> None:
        """Close the page and stop the browser."""
        try:
            if self._ws is not None:
                self._loop.run_until_complete(self._ws.close())
            if self._session is not None:
                self._loop.run_until_complete(self._session.close())
        finally:
            self._ws = self._session = None
            if self._process is not None:
                self._process.terminate()
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
                if self._process.stderr is not None:
                    self._process.stderr.close()
                self._process = None
            if not self._loop.is_closed():
                self._loop.close()
            self._profile.cleanup()

    # --------------------------------------------------------------------------------------- protocol
    async def _call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        ident = self._next_id
        await self._ws.send_str(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = await self._ws.receive(timeout=60)
            data = json.loads(message.data)
            if data.get("id") == ident:
                if "error" in data:
                    raise InputError(f"browser: {method}: {data['error'].get('message')}")
                return dict(data.get("result", {}))
            if data.get("method") == "Runtime.consoleAPICalled":
                args = data["params"].get("args", [])
                self.console.append(" ".join(str(a.get("value", a.get("description", ""))) for a in args))
            elif data.get("method") == "Runtime.exceptionThrown":
                self.console.append(str(data["params"]["exceptionDetails"].get("text")))

    def _run(self, method: str, **params: Any) -> dict[str, Any]:
        return self._loop.run_until_complete(self._call(method, **params))

    # ------------------------------------------------------------------------------------------ actions
    def open(self, url: str) -> None:
        """Navigate the page to ``url``."""
        self._run("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self._run("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout_s: float = 60.0) -> Any:
        """Wait until a JavaScript expression is truthy and return its value.

        Raises
        ------
        TimeoutError
            When it is still falsy after ``timeout_s`` (the browser's console is in the message).
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.25)
        raise TimeoutError(
            f"page: {expression!r} still false after {timeout_s:g} s; console: {self.console[-5:]}"
        )

    def text(self, selector: str = "body") -> str:
        """The visible text of the first element matching a CSS selector (``""`` when there is none)."""
        return str(
            self.evaluate(f"(document.querySelector({json.dumps(selector)}) || {{innerText: ''}}).innerText")
            or ""
        )

    def screenshot(self) -> bytes:
        """The page as PNG bytes."""
        result = self._run("Page.captureScreenshot", format="png")
        return base64.b64decode(result["data"])
