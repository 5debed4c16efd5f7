"""hbiview: see in 3D where the dose of hemi-body and large-field palliative radiotherapy goes.

The public API is listed in ``__all__``. Names are imported lazily on first use, so ``import hbiview`` and
``hbiview --help`` stay fast and pydicom/pyvista are loaded only when needed.

Examples
--------
>>> import hbiview
>>> ct = hbiview.read_ct("sample_ct")                     # doctest: +SKIP
>>> ct.geometry.spacing_mm                                # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it
_LAZY: dict[str, str] = {
    # values
    "Geometry": "hbiview.geometry",
    "CTVolume": "hbiview.volume",
    "DoseGrid": "hbiview.volume",
    "Structure": "hbiview.volume",
    # errors
    "HbiviewError": "hbiview.errors",
    "HbiviewWarning": "hbiview.errors",
    # DICOM and files
    "read_ct": "hbiview.io.dicom",
    "list_series": "hbiview.io.dicom",
    "SeriesInfo": "hbiview.io.dicom",
    "write_ct": "hbiview.io.dicom",
    "Phantom": "hbiview.sample",
    "read_rtdose": "hbiview.io.rtdose",
    "write_rtdose": "hbiview.io.rtdose",
    "read_rtstruct": "hbiview.io.rtstruct",
    "write_rtstruct": "hbiview.io.rtstruct_write",
    "read_mask": "hbiview.io.masks",
    "read_totalsegmentator": "hbiview.io.masks",
    # density
    "hu_to_density": "hbiview.density",
    "HuDensityTable": "hbiview.density",
    # sample patient and phantoms
    "make_phantom": "hbiview.sample",
    "water_phantom": "hbiview.sample",
    "lung_slab_phantom": "hbiview.sample",
    # anatomy
    "segment": "hbiview.anatomy",
    "find_landmarks": "hbiview.anatomy",
    "Landmarks": "hbiview.anatomy",
    "AnatomyResult": "hbiview.anatomy",
    "Landmark": "hbiview.anatomy",
    "combine_structures": "hbiview.anatomy",
    # plans and dose
    "Beam": "hbiview.plans",
    "Plan": "hbiview.plans",
    "preset": "hbiview.plans",
    "list_presets": "hbiview.plans",
    "load_plan": "hbiview.plans",
    "compute_dose": "hbiview.dose",
    "compute_dose_result": "hbiview.dose",
    # DVH and radiobiology
    "dvh": "hbiview.dosevolume",
    "DVH": "hbiview.dosevolume",
    "bed": "hbiview.radiobiology",
    # rendering (PyVista is imported only when one of these is used)
    "render_3d": "hbiview.render.figures",
    "render_compare_3d": "hbiview.render.figures",
    "export_html": "hbiview.render.figures",
    "render_orbit": "hbiview.render.figures",
    "render_slice": "hbiview.render.slices",
    "render_compare_slices": "hbiview.render.slices",
    "render_difference_slice": "hbiview.render.slices",
    "SceneOptions": "hbiview.render.scene",
    "SliceStyle": "hbiview.render.slices",
    "Viewer": "hbiview.render.viewer",
    "eqd2": "hbiview.radiobiology",
    "dvhs": "hbiview.dosevolume",
    "list_rois": "hbiview.io.rtstruct",
    "assess_lung_dose": "hbiview.radiobiology",
    "write_report": "hbiview.report",
    "evaluate_plans": "hbiview.report",
    "load_case": "hbiview.pipeline",
    "run_plan": "hbiview.pipeline",
    "PlanRun": "hbiview.pipeline",
    "sum_doses": "hbiview.pipeline",
    "run_lesson": "hbiview.lessons",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'hbiview' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
