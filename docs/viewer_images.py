"""Screenshots of ``hbiview serve`` for docs/teaching.md, taken by a headless Chromium.

Run from the repository root: ``python docs/viewer_images.py [--grid-mm 5]``. It starts
``hbiview serve sample_ct --plan upper-hbi lower-hbi`` on a free loopback port, opens the page in a
headless Chromium (``apt-get install chromium``), and writes into docs/images/:

- ``serve_upper_hbi.png``: the page as it opens (upper hemi-body field, skull base to iliac crest);
- ``serve_border_moved.png``: the inferior border moved up to L2;
- ``serve_compare.png``: the default field pinned as B, compared with the moved one (side by side with
  linked cameras, one colour scale, A minus B on the coronal slice).
"""

from __future__ import annotations

import argparse
import io
import socket
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from hbiview.serve.headless import HeadlessBrowser

HERE = Path(__file__).resolve().parent
LIMIT_BYTES = 400_000


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _save(png: bytes, name: str) -> None:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    target = HERE / "images" / name
    image.save(target, optimize=True)
    if target.stat().st_size > LIMIT_BYTES:  # a 256-colour palette keeps the page light
        image.quantize(256, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
    print(f"wrote {target} ({target.stat().st_size / 1024:.0f} kB)")


def _shows(selector: str, text: str) -> str:
    return f"(document.querySelector('{selector}') || {{innerText: ''}}).innerText.includes('{text}')"


def main(argv: list[str]) -> int:
    """Start the server, take the three screenshots, stop the server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid-mm", type=float, default=5.0)
    args = parser.parse_args(argv)
    port = _free_port()
    command = [sys.executable, "-m", "hbiview", "serve", "sample_ct", "--plan", "upper-hbi", "lower-hbi"]
    command += ["--set", "lower-hbi:inferior=knees", "--grid-mm", str(args.grid_mm), "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        deadline = time.monotonic() + 600
        while url is None and time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                raise SystemExit("hbiview serve stopped before the page was ready")
            print(line.rstrip())
            if line.startswith("open "):
                url = line.split()[1]
        with HeadlessBrowser(size=(1600, 1000)) as browser:
            browser.open(url)
            browser.wait_for(_shows("#numbers", "Gy"), timeout_s=120)
            time.sleep(3)  # vtk.js draws the scene after the numbers arrive
            _save(browser.screenshot(), "serve_upper_hbi.png")
            browser.evaluate(
                "[...document.querySelectorAll('button')].find(b => b.innerText.toLowerCase()"
                ".includes('pin this field')).click()"
            )
            browser.wait_for(_shows("body", "B pinned"), timeout_s=60)
            browser.evaluate("window.trame.state.set('inferior', 'L2')")
            browser.wait_for(_shows("#title_a", "L2"), timeout_s=300)
            time.sleep(3)
            _save(browser.screenshot(), "serve_border_moved.png")
            browser.evaluate("window.trame.state.set('compare', true)")
            browser.wait_for(_shows("body", "A minus B"), timeout_s=300)
            browser.wait_for(_shows("body", "B: upper-hbi"), timeout_s=300)
            time.sleep(3)
            _save(browser.screenshot(), "serve_compare.png")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
