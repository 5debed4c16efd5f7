"""Importing the renderer changes nothing in the process; making a plotter changes no PyVista global."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow

pytest.importorskip("pyvista")

_SCRIPT = r"""
import importlib, json, os, pkgutil
import pyvista
before_env, before_off = dict(os.environ), pyvista.OFF_SCREEN
import hbiview, hbiview.render
for info in pkgutil.walk_packages(hbiview.render.__path__, "hbiview.render."):
    importlib.import_module(info.name)
after_import = (dict(os.environ) == before_env, pyvista.OFF_SCREEN == before_off)
from hbiview.render._pv import plotter
p = plotter(off_screen=True, window_size=(64, 48))
p.close()
changed = sorted(k for k in set(os.environ) | set(before_env) if os.environ.get(k) != before_env.get(k))
print(json.dumps({"import": after_import, "off_screen": pyvista.OFF_SCREEN == before_off, "env": changed}))
"""


def _run(env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_renderer_changes_neither_the_environment_nor_pyvista() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VTK_DEFAULT_OPENGL_WINDOW", "DISPLAY")}
    env.pop("WAYLAND_DISPLAY", None)
    result = _run(env)
    # importing every module of hbiview.render: os.environ and pyvista.OFF_SCREEN exactly as before
    assert result["import"] == [True, True]
    # an off-screen plotter is off-screen by its own argument; pyvista's global stays as the user set it
    assert result["off_screen"] is True
    # without a display the EGL window class is chosen (documented), and nothing else is set
    assert result["env"] == ["VTK_DEFAULT_OPENGL_WINDOW"]


def test_a_users_vtk_window_choice_is_kept() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["VTK_DEFAULT_OPENGL_WINDOW"] = "vtkOSOpenGLRenderWindow"
    result = _run(env)
    assert result["env"] == []  # the user's value stands; nothing else changes either
