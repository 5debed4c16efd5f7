"""Anatomy: body, lungs, skeleton, active bone marrow by skeletal site, and axial landmarks.

* :func:`segment` finds the structures on a CT (scipy.ndimage only) and weights the marrow voxels with
  each skeletal site's share of the adult active marrow; imported structures (RTSTRUCT, mask files,
  TotalSegmentator) replace the automatic ones of the same role.
* :func:`find_landmarks` gives the patient z (mm) of vertex, skull base, lung apices and bases, iliac crest
  tops, femoral heads, knees, ankles, soles and the vertebral levels C1..S1, each with a confidence.

Importing this package is light (numpy and the value types); the segmentation code is loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from hbiview.anatomy.types import (
    COLORS,
    LANDMARK_NAMES,
    VERTEBRAE,
    AnatomyResult,
    Landmark,
    Landmarks,
    color_of,
)

__all__ = [
    "COLORS",
    "LANDMARK_NAMES",
    "VERTEBRAE",
    "AnatomyResult",
    "Landmark",
    "Landmarks",
    "color_of",
    "combine_structures",
    "find_landmarks",
    "load_names_map",
    "map_structures",
    "marrow_shares",
    "role_of",
    "segment",
]

_LAZY = {
    "segment": "hbiview.anatomy.pipeline",
    "combine_structures": "hbiview.anatomy.pipeline",
    "find_landmarks": "hbiview.anatomy.pipeline",
    "load_names_map": "hbiview.anatomy.names",
    "map_structures": "hbiview.anatomy.names",
    "role_of": "hbiview.anatomy.names",
    "marrow_shares": "hbiview.anatomy.marrow",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hbiview.anatomy' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
