"""The package as a user gets it: a built wheel, run from a folder that is not the checkout.

The first example ``hbiview --help`` gives (``hbiview info sample_ct``) and the lessons must work from the
installed package, not only from a source checkout (issue 16). The wheel is built from this checkout and
unpacked with ``pip install --no-deps --target``; the interpreter running the tests supplies the
dependencies, and ``PYTHONPATH`` puts the unpacked wheel first, ahead of any editable install.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment variables that make ``python -m hbiview`` run the wheel built from this checkout."""
    root = tmp_path_factory.mktemp("wheel")
    wheels = root / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
        capture_output=True,
        text=True,
        check=False,
    )
    if build.returncode != 0:
        pytest.skip(f"the wheel could not be built here (pip wheel needs hatchling): {build.stderr[-300:]}")
    (wheel,) = wheels.glob("hbiview-*.whl")
    target = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
    )
    env = {k: v for k, v in os.environ.items() if k not in ("HBIVIEW_SAMPLE_CT", "HBIVIEW_EXAMPLES")}
    env["PYTHONPATH"] = str(target)
    return env


def _hbiview(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hbiview", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_wheel_runs_the_help_example_from_another_folder(installed, tmp_path):
    which = subprocess.run(
        [sys.executable, "-c", "import hbiview; print(hbiview.__file__)"],
        cwd=tmp_path,
        env=installed,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(which.stdout.strip()).is_relative_to(Path(installed["PYTHONPATH"]))  # the wheel, not src/
    where = _hbiview(installed, tmp_path, "info", "sample_ct", "--json")
    assert where.returncode == 0, where.stderr
    # the bundled sample patient: 352 slices of 167 x 167 pixels (README, hbiview.sample)
    assert json.loads(where.stdout)["shape"] == [352, 167, 167]


def test_wheel_runs_a_lesson_from_another_folder(installed, tmp_path):
    done = _hbiview(installed, tmp_path, "lessons", "run", "2", "--quick", "--out", str(tmp_path / "l2"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "l2" / "summary.md").is_file()
    assert list((tmp_path / "l2").glob("*.png"))
