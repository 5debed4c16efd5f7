"""Regenerate every stored picture after an intended change of the rendering or of the dose values.

Run from the repository root: ``python docs/regenerate_pictures.py [--skip-lessons]``. In order:

1. the image-regression references ``tests/render/baseline/*.png`` (``HBIVIEW_UPDATE_BASELINES=1 pytest
   tests/render/test_images.py``; they use the synthetic test patient, so dose-engine changes leave them as
   they are);
2. the README and docs pictures ``docs/images/render_*.png`` (``docs/render_images.py``, sample patient);
3. the lesson figures ``docs/images/lesson_*.png`` (``docs/lesson_images.py``; the slowest part).

Look at every picture before committing it (``git diff --stat docs/images tests/render/baseline`` lists
what changed). Stops at the first step that fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    """Run the three steps; ``--skip-lessons`` leaves the lesson figures as they are."""
    steps = [
        (
            "test baselines",
            [sys.executable, "-m", "pytest", "-q", "tests/render/test_images.py"],
            {"HBIVIEW_UPDATE_BASELINES": "1"},
        ),
        ("docs pictures", [sys.executable, "docs/render_images.py"], {}),
    ]
    if "--skip-lessons" not in argv:
        steps.append(("lesson figures", [sys.executable, "docs/lesson_images.py"], {}))
    for name, command, env in steps:
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        result = subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, check=False)
        if result.returncode != 0:
            print(f"{name} failed (exit {result.returncode})", file=sys.stderr)
            return result.returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
