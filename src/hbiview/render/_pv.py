"""The one place that imports PyVista, configured for off-screen rendering when there is no display."""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["has_display", "pyvista"]


def has_display() -> bool:
    """Whether an X11 or Wayland display is available for an interactive window."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in (
        "win32",
        "darwin",
    )


def pyvista(off_screen: bool = True) -> Any:
    """Import and return :mod:`pyvista`.

    Parameters
    ----------
    off_screen
        Render into memory (no window). Without a display, VTK is told to use EGL directly instead of
        trying X11 first (which only prints a warning and then falls back).
    """
    if not has_display():
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    import pyvista as pv

    pv.OFF_SCREEN = off_screen
    return pv
