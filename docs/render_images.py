"""Render the example pictures of the README and docs (``docs/images/render_*.png``) on the sample patient.

Run from the repository root: ``python docs/render_images.py [NAME ...]`` (about a minute; names are the
file stems without ``render_``, e.g. ``compare_3d``). Every picture is checked to stay under 300 kB.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from hbiview import render
from hbiview.pipeline import load_case, run_plan

OUT = Path(__file__).resolve().parent / "images"
LIMIT_BYTES = 300_000


def _save(image: np.ndarray, path: Path) -> None:
    """Full-colour PNG (a reduced palette would band the colour scale into false isodose steps)."""
    from PIL import Image

    Image.fromarray(image).save(path, optimize=True)


def main(argv: list[str]) -> int:
    """Render the pictures named in ``argv`` (all without arguments)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        case = load_case()
        case.structures  # noqa: B018 - segment once, quietly
    structures = case.structures
    upper = run_plan(case, "upper-hbi")
    runs: dict[str, object] = {}

    def water():
        if "water" not in runs:
            runs["water"] = run_plan(case, "upper-hbi", heterogeneity=False)
        return runs["water"]

    def mid():
        if "mid" not in runs:
            runs["mid"] = run_plan(case, "mid-hbi")
        return runs["mid"]

    def spine():
        if "spine" not in runs:
            runs["spine"] = run_plan(case, "spine", level="T10")
        return runs["spine"]

    slice_structures = [structures[n] for n in ("Body", "Lung_L", "Lung_R", "Skeleton", "Marrow")]
    size_3d = (1152, 720)
    size_slice = (1100, 800)
    jobs = {
        "3d_upper_hbi": lambda: render.render_3d(
            case.ct, dose=upper.dose, plan=upper.plan, structures=structures, size=size_3d
        ),
        # where the active marrow is, and the field on the skin; no dose shells over its colours
        "3d_marrow_weight": lambda: render.render_3d(
            case.ct,
            plan=upper.plan,
            structures=structures,
            options=render.SceneOptions(bone="marrow-weight", planes=()),
            size=size_3d,
        ),
        "3d_difference_lung_correction": lambda: render.render_difference_3d(
            case.ct,
            upper.dose,
            water().dose,
            label_a="lung-corrected",
            label_b="water",
            plan=upper.plan,
            structures=structures,
            size=size_3d,
        ),
        "coronal_upper_hbi": lambda: render.render_slice(
            case.ct,
            dose=upper.dose,
            plan=upper.plan,
            structures=slice_structures,
            view="coronal",
            size=size_slice,
        ),
        "axial_lung_window": lambda: render.render_slice(
            case.ct,
            dose=upper.dose,
            plan=upper.plan,
            structures=slice_structures,
            view="axial",
            style=render.SliceStyle(window="lung"),
            size=(1100, 620),
        ),
        "sagittal_spine": lambda: render.render_slice(
            case.ct,
            dose=spine().dose,
            plan=spine().plan,
            structures=slice_structures,
            view="sagittal",
            size=size_slice,
        ),
        "difference_lung_correction": lambda: render.render_difference_slice(
            case.ct,
            upper.dose,
            water().dose,
            label_a="lung-corrected",
            label_b="water",
            structures=slice_structures,
            view="coronal",
            plan=upper.plan,
            size=size_slice,
        ),
        "compare_3d": lambda: render.render_compare_3d(
            case.ct,
            [(upper.plan, upper.dose), (mid().plan, mid().dose)],
            structures=structures,
            labels=["upper HBI", "mid HBI"],
            size=(1200, 640),
        ),
        "compare_coronal": lambda: render.render_compare_slices(
            case.ct,
            [(upper.plan, upper.dose), (replace(water().plan, name="upper-hbi"), water().dose)],
            structures=slice_structures,
            labels=["lung-corrected", "water (uncorrected)"],
            view="coronal",
            size=(1150, 700),
        ),
    }
    names = [a for a in argv if not a.startswith("-")] or list(jobs)
    for name in names:
        out = OUT / f"render_{name}.png"
        _save(jobs[name](), out)
        size = out.stat().st_size
        print(f"{out.name}: {size / 1000:.0f} kB")
        if size > LIMIT_BYTES:
            print(f"  larger than {LIMIT_BYTES / 1000:.0f} kB", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
