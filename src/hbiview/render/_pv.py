"""The one place that imports PyVista, and that makes hbiview's plotters.

Importing :mod:`hbiview.render` (or this module) changes nothing in the process: no environment variable,
no PyVista global. Off-screen rendering is an argument of each plotter hbiview makes (:func:`plotter`), not
``pyvista.OFF_SCREEN``. One process-wide setting remains, made only when hbiview creates an off-screen
plotter on a machine without a display, and only when the user has not set it: ``VTK_DEFAULT_OPENGL_WINDOW
= vtkEGLRenderWindow``, so that VTK renders through EGL directly instead of trying X11 first (which prints
a warning and then falls back). Set the variable yourself to choose another window class.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["has_display", "plotter", "pyvista"]

#: The environment variable VTK reads for its render-window class, and the value used without a display.
VTK_WINDOW_VARIABLE, EGL_WINDOW = "VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow"


def has_display() -> bool:
    """Whether an X11 or Wayland display is available for an interactive window."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in (
        "win32",
        "darwin",
    )


def pyvista(off_screen: bool = True) -> Any:
    """Import and return :mod:`pyvista`, changing none of its settings.

    Parameters
    ----------
    off_screen
        Not used (kept for callers written when this set ``pyvista.OFF_SCREEN``): off-screen rendering is
        chosen per plotter, see :func:`plotter`.
    """
    import pyvista as pv

    return pv


def plotter(*, off_screen: bool = True, **kwargs: Any) -> Any:
    """A :class:`pyvista.Plotter` for hbiview: off-screen (into memory) or in a window.

    Parameters
    ----------
    off_screen
        Render into memory (no window). Without a display, and with ``VTK_DEFAULT_OPENGL_WINDOW`` unset,
        this sets it to ``vtkEGLRenderWindow`` first (see the module's text).
    **kwargs
        Passed to :class:`pyvista.Plotter` (``window_size``, ``shape``, ``title``...).
    """
    if off_screen and not has_display() and not os.environ.get(VTK_WINDOW_VARIABLE):
        os.environ[VTK_WINDOW_VARIABLE] = EGL_WINDOW
    return pyvista().Plotter(off_screen=off_screen, **kwargs)
