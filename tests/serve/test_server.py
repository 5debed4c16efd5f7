"""The real server: started on a free loopback port with an access token, fetched over HTTP and driven by
a headless Chromium (when one is installed): refused without the token, the page shows the model's numbers,
two clients at once (each with their own viewer, or one shared page with ``--shared``), a moved border
shows the dose engine's numbers for that border."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
import textwrap
import time

import pytest

aiohttp = pytest.importorskip("aiohttp", reason="the web extra (trame brings aiohttp) is not installed")
pytest.importorskip("trame", reason="the web extra (pip install 'hbiview[web]') is not installed")

from hbiview.serve.rooms import SESSION_COOKIE  # noqa: E402 - after the skips

pytestmark = pytest.mark.slow  # the server segments the sample patient and computes plans first

TOKEN = "test-token-3f9a1c"  # the CLI makes a random one (secrets.token_urlsafe) for non-loopback hosts

SCRIPT = textwrap.dedent(
    """
    import sys
    from hbiview.pipeline import load_case, run_plan
    from hbiview.serve.app import serve
    from hbiview.serve.model import ServeModel
    from hbiview.serve.rooms import serve_rooms

    case = load_case(sys.argv[1])
    model = ServeModel(case, ["upper-hbi"], grid_mm=10.0)
    first = model.compute(model.default_settings())
    # the engine's own answer for a moved border (the set-up kept, the jaws moved), outside the model's cache
    plan = model.plan_for(model.default_settings().with_(inferior="L2"))
    moved = run_plan(case, plan, grid_mm=10.0)

    def ready(url):
        print("URL", url, flush=True)
        print("MLD", f"{first.numbers.mean_lung_dose_gy:.2f}", flush=True)
        marrow = 100 * moved.active_marrow_in_field()
        print("MOVED", f"{moved.mean_lung_dose_gy:.2f}", f"{marrow:.1f}", flush=True)

    run = serve if sys.argv[4] == "shared" else serve_rooms
    run(model, host="127.0.0.1", port=int(sys.argv[2]), token=sys.argv[3], on_ready=ready)
    """
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(sample_ct_dir, mode: str):
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(sample_ct_dir), str(port), TOKEN, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    said: dict[str, list[str]] = {}
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and "MOVED" not in said:
        line = process.stdout.readline()
        if not line:
            break
        parts = line.split()
        if parts and parts[0] in ("URL", "MLD", "MOVED"):
            said[parts[0]] = parts[1:]
    info = {"port": port, "url": said.get("URL", [""])[0], "mld": said.get("MLD", [""])[0]}
    info["moved"] = said.get("MOVED")
    return process, info


def _stop(process) -> None:
    process.terminate()  # the front door stops its viewers on SIGTERM
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.stdout.close()


@pytest.fixture(scope="module")
def server(sample_ct_dir):
    """A classroom server: each browser its own viewer (the default of 'hbiview serve')."""
    process, info = _start(sample_ct_dir, "rooms")
    try:
        if info["moved"] is None:
            pytest.fail(f"the server did not start: {process.poll()=}")
        yield info
    finally:
        _stop(process)


async def _fetch(port: int) -> dict[str, object]:
    base = f"http://127.0.0.1:{port}"
    out: dict[str, object] = {}
    async with aiohttp.ClientSession() as anonymous:
        for path in ("/", "/index.html", "/index.html?token=wrong"):
            async with anonymous.get(base + path, allow_redirects=False) as response:
                out[f"GET {path}"] = response.status
        try:
            await anonymous.ws_connect(base + "/ws")
            out["ws without token"] = 101
        except aiohttp.WSServerHandshakeError as exc:
            out["ws without token"] = exc.status

    async def student() -> tuple[int, int, int, str]:
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for an IP address host
        async with aiohttp.ClientSession(cookie_jar=jar) as session:
            async with session.get(f"{base}/index.html?token={TOKEN}") as response:
                page_status, html = response.status, await response.text()
            script = re.search(r'src="([^"]+\.js)"', html).group(1).lstrip("./")
            async with session.get(f"{base}/{script}") as response:  # the cookie, no query
                asset_status = response.status
            ws = await session.ws_connect(base + "/ws")  # forwarded to the student's own viewer
            ws_status = 101 if not ws.closed else 0
            await ws.close()
            viewer = next((c.value for c in jar if c.key == SESSION_COOKIE), "")
            return page_status, asset_status, ws_status, viewer

    students = await asyncio.gather(student(), student())
    out["two students"] = [s[:3] for s in students]
    out["own viewers"] = len({s[3] for s in students if s[3]})
    return out


def test_token_refused_and_accepted_for_two_clients_at_once(server):
    out = asyncio.run(_fetch(server["port"]))
    assert out == {
        "GET /": 403,
        "GET /index.html": 403,
        "GET /index.html?token=wrong": 403,
        "ws without token": 403,
        "two students": [(200, 200, 101), (200, 200, 101)],
        "own viewers": 2,  # two session cookies: two viewer processes
    }
    assert server["url"].endswith(f"/index.html?token={TOKEN}")


def _numbers_show(value: str, marrow: str | None = None) -> str:
    """A page condition: the numbers show this mean lung dose (and marrow share)."""
    wanted = f"t.innerText.includes('{value} Gy')"
    if marrow is not None:
        wanted += f" && t.innerText.includes('{marrow} %')"
    return f"(() => {{ const t = document.querySelector('#numbers'); return t !== null && {wanted}; }})()"


def _chromium():
    from hbiview.serve.headless import find_chromium

    if find_chromium() is None:
        pytest.skip("no Chromium on PATH (apt-get install chromium): the page is not driven in a browser")


def _scene_drawn(browser, timeout_s: float = 60.0) -> None:
    import io

    import numpy as np
    from PIL import Image

    # the 3D view draws on a dark background (0.07, 0.08, 0.10): vtk.js rendered the scene when the page
    # holds many of its pixels (the geometry arrives after the numbers: wait for it)
    deadline = time.monotonic() + timeout_s
    dark = 0.0
    while time.monotonic() < deadline:
        picture = np.asarray(Image.open(io.BytesIO(browser.screenshot())).convert("RGB"))
        dark = float(np.all(np.abs(picture.astype(int) - (18, 20, 26)) <= 3, axis=-1).mean())
        if dark > 0.05:
            break
        time.sleep(1.0)
    assert dark > 0.05


def test_each_browser_moves_its_own_border(server):
    from hbiview.serve.headless import HeadlessBrowser

    _chromium()
    mld_moved, marrow_moved = server["moved"]
    with HeadlessBrowser(size=(1400, 900)) as first, HeadlessBrowser(size=(1000, 800)) as second:
        for browser in (first, second):
            browser.open(server["url"])
        for browser in (first, second):
            browser.wait_for(_numbers_show(server["mld"]), timeout_s=120)
        _scene_drawn(first)
        # the first student moves the inferior border up to L2: their page shows the mean lung dose and
        # marrow share run_plan computes for that border; the second student's page stays as it was
        first.evaluate("window.trame.state.set('inferior', 'L2')")
        first.wait_for(_numbers_show(mld_moved, marrow_moved), timeout_s=120)
        assert f"{marrow_moved} %" in first.text("#numbers") and "L2" in first.text("#title_a")
        time.sleep(2)
        assert f"{server['mld']} Gy" in second.text("#numbers") and "L2" not in second.text("#title_a")


def test_shared_page_follows_the_teacher(sample_ct_dir):
    from hbiview.serve.headless import HeadlessBrowser

    _chromium()
    process, info = _start(sample_ct_dir, "shared")
    try:
        assert info["moved"] is not None, "the --shared server did not start"
        mld_moved, marrow_moved = info["moved"]
        with HeadlessBrowser(size=(1400, 900)) as teacher, HeadlessBrowser(size=(1000, 800)) as student:
            for browser in (teacher, student):
                browser.open(info["url"])
            for browser in (teacher, student):
                browser.wait_for(_numbers_show(info["mld"]), timeout_s=120)
            _scene_drawn(teacher)
            # one page for the room: the teacher moves the border, both pages follow
            teacher.evaluate("window.trame.state.set('inferior', 'L2')")
            for browser in (teacher, student):
                browser.wait_for(_numbers_show(mld_moved, marrow_moved), timeout_s=120)
                assert f"{marrow_moved} %" in browser.text("#numbers")
    finally:
        _stop(process)
