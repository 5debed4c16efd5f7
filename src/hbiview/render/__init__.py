"""Rendering: 3D scenes (PyVista), slice views (matplotlib), comparisons, HTML pages, orbit movies.

This package is the only place that imports PyVista. Its names are loaded lazily, so importing
``hbiview.render`` costs nothing until a picture is made.

Examples
--------
>>> from hbiview.render import render_3d, render_slice          # doctest: +SKIP
>>> render_3d(ct, dose=dose, plan=plan, structures=structures, out="scene.png")  # doctest: +SKIP
>>> render_slice(ct, dose=dose, plan=plan, view="coronal", out="coronal.png")    # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "SceneOptions": "hbiview.render.scene",
    "AnatomyMeshes": "hbiview.render.scene",
    "prepare_anatomy": "hbiview.render.scene",
    "SliceStyle": "hbiview.render.slices",
    "render_slice": "hbiview.render.slices",
    "render_compare_slices": "hbiview.render.slices",
    "render_difference_slice": "hbiview.render.slices",
    "render_3d": "hbiview.render.figures",
    "render_compare_3d": "hbiview.render.figures",
    "render_difference_3d": "hbiview.render.figures",
    "export_html": "hbiview.render.figures",
    "render_orbit": "hbiview.render.figures",
    "scene_plotter": "hbiview.render.figures",
    "Viewer": "hbiview.render.viewer",
    "to_image_data": "hbiview.render.convert",
    "mask_surface": "hbiview.render.convert",
    "isodose_surfaces": "hbiview.render.convert",
    "SharedScale": "hbiview.render.colors",
    "shared_dose_scale": "hbiview.render.colors",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hbiview.render' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
