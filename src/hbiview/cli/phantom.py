"""``hbiview phantom``: write synthetic CT series (water box, lung slab, whole-body patient) as DICOM."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]

EPILOG = """\
examples:
  hbiview phantom water --size-mm 400 400 400 --spacing-mm 2.5 --out water
  hbiview phantom lung-slab --size-mm 400 400 400 --spacing-mm 2.5 --slab-depth-mm 50 \\
      --slab-thickness-mm 100 --slab-density 0.25 --out slab
  hbiview phantom patient --out thick_patient --lateral-scale 1.3 --ap-scale 1.3 --couch
  hbiview phantom patient --out thorax_only --z-range-mm 1150 1500 --arms up --truth
  hbiview phantom patient --out on_couch --z-range-mm 850 1150 --couch --couch-gap-mm 0

Boxes are centred on the origin, sizes are x (left-right), y (anterior-posterior), z (superior-inferior)
in mm, with the beam entering through the anterior face (y = -size_y/2). The slab's HU are chosen so that
hbiview's HU-to-density table gives the requested relative electron density back.
--truth also writes truth.json (landmarks, vertebral levels, label names) and labels.npz (ground-truth
label volume and its affine) beside the DICOM files.
"""

TRANSFER_SYNTAX_CHOICES = ("rle", "explicit", "jpeg2000", "jpegls")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``phantom`` sub-command."""
    parser = subparsers.add_parser(
        "phantom",
        help="write a synthetic CT series (water box, lung slab, whole-body patient)",
        description="Write a synthetic CT as a DICOM series: a water box, a water box with a slab of given "
        "density, or the whole-body patient (with variants for robustness tests).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=("water", "lung-slab", "patient"), help="which phantom")
    parser.add_argument("--out", metavar="DIR", required=True, help="output folder (must be new or empty)")
    parser.add_argument("--force", action="store_true", help="replace the content of an existing folder")
    parser.add_argument(
        "--transfer-syntax",
        choices=TRANSFER_SYNTAX_CHOICES,
        default="rle",
        help="DICOM pixel encoding (default: RLE lossless)",
    )
    box = parser.add_argument_group("water and lung-slab")
    box.add_argument(
        "--size-mm",
        nargs=3,
        type=float,
        metavar=("X", "Y", "Z"),
        default=(400.0, 400.0, 400.0),
        help="box size (mm): left-right, anterior-posterior, superior-inferior (default 400 400 400)",
    )
    box.add_argument(
        "--spacing-mm",
        nargs="+",
        type=float,
        metavar="MM",
        default=None,
        help="voxel size (mm): one number for the boxes (default 2.5); one or three (z y x) for the patient "
        "(default 5 3.5 3.5)",
    )
    box.add_argument(
        "--slab-depth-mm", type=float, default=50.0, help="slab depth from the anterior face (mm)"
    )
    box.add_argument("--slab-thickness-mm", type=float, default=100.0, help="slab thickness (mm)")
    box.add_argument(
        "--slab-density", type=float, default=0.25, help="slab electron density relative to water (0-3]"
    )
    pat = parser.add_argument_group("patient")
    pat.add_argument("--height-mm", type=float, default=1750.0, help="stature, vertex to soles (mm)")
    pat.add_argument(
        "--lateral-scale", type=float, default=1.0, help="left-right scale (0.8 thin, 1.3 thick)"
    )
    pat.add_argument("--ap-scale", type=float, default=1.0, help="anterior-posterior scale")
    pat.add_argument("--arms", choices=("down", "up"), default="down", help="arm position (default down)")
    pat.add_argument("--couch", action="store_true", help="add a CT couch under the patient")
    pat.add_argument(
        "--couch-gap-mm",
        type=float,
        default=8.0,
        help="air gap between back and couch (mm, default 8); 0: the patient lies on it, as on a real CT",
    )
    pat.add_argument(
        "--z-range-mm", nargs=2, type=float, metavar=("ZMIN", "ZMAX"), help="scanned range (soles at z = 0)"
    )
    pat.add_argument("--fov-mm", type=float, help="reconstruction circle diameter (mm); padding outside")
    pat.add_argument("--noise-hu", type=float, default=10.0, help="Gaussian noise (HU) inside the body")
    pat.add_argument("--seed", type=int, default=0, help="noise seed")
    pat.add_argument("--truth", action="store_true", help="also write truth.json and labels.npz")
    return parser


def _positive(option: str, value: float, upper: float | None = None) -> float:
    from hbiview.errors import InputError

    if not math.isfinite(value) or value <= 0 or (upper is not None and value > upper):
        bound = f" and at most {upper:g}" if upper is not None else ""
        raise InputError(f"{option} must be a number greater than 0{bound}, got {value:g}")
    return value


def _check_out(out: str, force: bool) -> Path:
    from hbiview.io.atomic import check_folder_writable

    return check_folder_writable(out, force)


def _spacing(args: argparse.Namespace, default: tuple[float, ...]) -> tuple[float, ...]:
    from hbiview.errors import InputError

    values = tuple(args.spacing_mm) if args.spacing_mm else default
    if len(values) not in (1, len(default)):
        raise InputError(f"--spacing-mm takes 1 or {len(default)} numbers, got {len(values)}")
    for v in values:
        _positive("--spacing-mm", v)
    return values if len(values) == len(default) else values * len(default)


def run(args: argparse.Namespace) -> int:
    """Generate the phantom and write it."""
    from hbiview.errors import InputError
    from hbiview.io.dicom import write_ct

    out = _check_out(args.out, args.force)
    truth: dict[str, Any] | None = None
    labels = None
    if args.kind in ("water", "lung-slab"):
        from hbiview.sample import lung_slab_phantom, water_phantom

        size = tuple(_positive("--size-mm", float(v)) for v in args.size_mm)
        (spacing,) = _spacing(args, (2.5,))
        if any(abs(s / spacing - round(s / spacing)) > 1e-6 for s in size):
            raise InputError(
                f"--size-mm {' '.join(f'{s:g}' for s in size)} must be whole multiples of --spacing-mm "
                f"{spacing:g}, so that the box faces fall on voxel faces"
            )
        if args.kind == "water":
            ct = water_phantom(size, spacing)
            description = f"water box {size[0]:g} x {size[1]:g} x {size[2]:g} mm"
        else:
            density = _positive("--slab-density", args.slab_density, upper=3.0)
            thickness = _positive("--slab-thickness-mm", args.slab_thickness_mm)
            depth = args.slab_depth_mm
            if not math.isfinite(depth) or depth < 0:
                raise InputError(f"--slab-depth-mm must be 0 or more, got {depth:g}")
            if depth + thickness > size[1]:
                raise InputError(
                    f"--slab-depth-mm {depth:g} + --slab-thickness-mm {thickness:g} exceed the box depth "
                    f"(--size-mm Y = {size[1]:g})"
                )
            ct = lung_slab_phantom(size, spacing, depth, thickness, density)
            description = f"lung slab density {density:g} at {depth:g} mm, {thickness:g} mm thick"
    else:
        from hbiview import labels as lb
        from hbiview.sample import make_phantom

        spacing3 = _spacing(args, (5.0, 3.5, 3.5))
        _positive("--height-mm", args.height_mm)
        _positive("--lateral-scale", args.lateral_scale)
        _positive("--ap-scale", args.ap_scale)
        if args.fov_mm is not None:
            _positive("--fov-mm", args.fov_mm)
        if args.noise_hu < 0 or not math.isfinite(args.noise_hu):
            raise InputError(f"--noise-hu must be 0 or more, got {args.noise_hu:g}")
        z_range = None
        if args.z_range_mm is not None:
            z_range = (float(args.z_range_mm[0]), float(args.z_range_mm[1]))
            if not z_range[1] > z_range[0]:
                raise InputError(f"--z-range-mm needs ZMIN < ZMAX, got {z_range[0]:g} {z_range[1]:g}")
        phantom = make_phantom(
            spacing_mm=spacing3,
            height_mm=args.height_mm,
            lateral_scale=args.lateral_scale,
            ap_scale=args.ap_scale,
            arms=args.arms,
            couch=args.couch,
            couch_gap_mm=args.couch_gap_mm,
            z_range_mm=z_range,
            fov_mm=args.fov_mm,
            noise_hu=args.noise_hu,
            seed=args.seed,
        )
        ct = phantom.ct
        labels = phantom.labels
        description = "synthetic whole-body CT" + (" (variant)" if _is_variant(args) else "")
        truth = {
            "landmarks_mm": phantom.landmarks_mm,
            "vertebrae_mm": phantom.vertebrae_mm,
            "tissue_labels": {str(k): v for k, v in lb.TISSUE_LABELS.items()},
            "bone_sites": list(lb.BONE_SITES),
            "label_rule": "100 + i cortical, 200 + i cancellous of bone_sites[i]",
        }
    files = write_ct(
        ct,
        out,
        transfer_syntax=args.transfer_syntax,
        patient_name=ct.metadata.get("PatientName", "HBIVIEW^PHANTOM"),
        patient_id=ct.metadata.get("PatientID", "HBIVIEW-0001"),
        study_description="hbiview synthetic phantom",
        series_description=description,
        force=args.force,
    )
    if args.kind == "patient" and args.truth and truth is not None and labels is not None:
        import numpy as np

        from hbiview.io.atomic import atomic_path

        with atomic_path(out / "truth.json", force=True) as tmp:
            tmp.write_text(json.dumps(truth, indent=2) + "\n")
        with atomic_path(out / "labels.npz", force=True) as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(handle, labels=labels, affine=ct.geometry.affine)
    if not args.quiet:
        _, ny, nx = ct.geometry.shape
        sz, sy, sx = ct.geometry.spacing_mm
        print(f"wrote {len(files)} slices of {ny} x {nx} ({sx:g} x {sy:g} mm, {sz:g} mm apart) to {out}")
    return 0


def _is_variant(args: argparse.Namespace) -> bool:
    return bool(
        args.lateral_scale != 1.0
        or args.ap_scale != 1.0
        or args.arms != "down"
        or args.couch
        or args.z_range_mm
        or args.fov_mm
    )
