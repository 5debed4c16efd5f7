"""``hbiview info PATH``: what is in a CT folder (patient, series, grid, HU range, the other series)."""

from __future__ import annotations

import argparse
from typing import Any

from hbiview.cli._json import print_json

__all__ = ["add_parser", "collect", "collect_landmarks", "format_landmarks", "run"]

EPILOG = """\
examples:
  hbiview info sample_ct                 summary of the bundled sample patient
  hbiview info /data/export --json       the same as JSON, for scripts
  hbiview info /data/export --series 1.2.840.113619.2.55.3.604688119.868.1234567890.1
  hbiview info sample_ct --landmarks     also the anatomical landmarks (z in mm, confidence)

JSON keys: patient_name, patient_id, study_description, series_description, series_uid, modality,
shape [slices, rows, columns], spacing_mm [slice, row, column], origin_mm [x, y, z] (LPS),
extent_mm [slice, row, column], hu_range [min, max], frame_of_reference_uid, source_path,
series (one entry per series found, the one read has "selected": true);
with --landmarks: landmarks {name: {"z_mm": number or null (not in scan), "confidence": 0-1, "note": text,
"position": "in_scan", "above_scan", "below_scan" or null (not found, side unknown), "estimate_mm": z
estimated from the landmarks found (typical adult proportions scaled to the patient) or null}}
(vertex, skull_base, lung_apex, lung_base, iliac_crest, femoral_heads, knees, ankles, soles, C1 .. S1).
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``info`` sub-command."""
    parser = subparsers.add_parser(
        "info",
        help="describe a DICOM CT folder or file",
        description="Read a DICOM CT series and print patient, series, grid, extent, HU range and the "
        "other series found.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "path", metavar="PATH", help="CT folder (searched recursively) or a single DICOM file"
    )
    parser.add_argument(
        "--series", metavar="UID", help="SeriesInstanceUID to read (default: largest CT series)"
    )
    parser.add_argument(
        "--landmarks",
        action="store_true",
        help="also find the anatomical landmarks used for field borders (a few seconds)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def collect_landmarks(ct: Any) -> dict[str, dict[str, Any]]:
    """Landmarks of ``ct`` (:func:`hbiview.anatomy.find_landmarks`) as JSON-ready values.

    Returns
    -------
    dict
        Name -> ``{"z_mm": float or None, "confidence": float, "note": str, "position": str or None,
        "estimate_mm": float or None}``; ``z_mm`` is LPS z in mm, ``None`` when the landmark is not in the
        scan; ``position`` is ``"in_scan"``, ``"above_scan"`` or ``"below_scan"`` (beyond that end of the
        images), ``None`` when it was not found and the side is unknown; ``estimate_mm`` is the estimate
        of a landmark not in the scan (never inside the scan when it lies beyond an end).
    """
    from hbiview.anatomy import find_landmarks
    from hbiview.progress import progress

    # one step of a few seconds: the bar shows the command is busy (and its time) on a terminal
    (found,) = [find_landmarks(ct) for _ in progress([ct], desc="landmarks", min_seconds=0.5)]
    return {
        name: {
            "z_mm": None if mark.z_mm is None else round(float(mark.z_mm), 2),
            "confidence": round(float(mark.confidence), 3),
            "note": str(mark.note),
            "position": "in_scan" if mark.z_mm is not None else getattr(mark, "position", None),
            "estimate_mm": None
            if getattr(mark, "estimate_mm", None) is None
            else round(float(mark.estimate_mm), 1),
        }
        for name, mark in found.items()
    }


def _where(mark: dict[str, Any]) -> str:
    """The z column of the landmark table: the z, or where a landmark not in the scan lies."""
    if mark["z_mm"] is not None:
        return f"{mark['z_mm']:.1f}"
    estimate = mark.get("estimate_mm")
    about = f" (~{estimate:.0f})" if estimate is not None else ""
    if "position" not in mark:
        return "not in scan" + about
    sides = {"above_scan": "above scan", "below_scan": "below scan"}
    return sides.get(mark["position"] or "", "not found") + about


def format_landmarks(landmarks: dict[str, dict[str, Any]]) -> str:
    """The landmarks as an aligned table: name, z (mm), confidence, how found."""
    rows = [
        (
            name,
            _where(v),
            f"{v['confidence']:.2f}",
            v["note"],
        )
        for name, v in landmarks.items()
    ]
    header = ("landmark", "z (mm)", "confidence", "how found")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    lines = [f"Landmarks ({len(rows)}, z in LPS mm, superior positive):"]
    for i, row in enumerate([header, *rows]):
        lines.append(
            f"  {row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}".rstrip()
        )
        if i == 0:
            lines.append("  " + "  ".join("-" * w for w in widths) + "  " + "-" * len(header[3]))
    return "\n".join(lines)


def collect(path: str, series_uid: str | None = None, *, landmarks: bool = False) -> dict[str, Any]:
    """Read the CT and gather what ``info`` prints.

    Parameters
    ----------
    path
        Folder or file.
    series_uid
        Series to read, default the CT series with the most slices.
    landmarks
        Also find the landmarks (key ``landmarks``, see :func:`collect_landmarks`).

    Returns
    -------
    dict
        JSON-ready summary (see the command's epilog for the keys).
    """
    import numpy as np

    from hbiview.io.dicom import read_ct

    ct = read_ct(path, series_uid)
    geometry = ct.geometry
    meta = ct.metadata
    hu = ct.array
    series = [dict(s, selected=s["series_uid"] == meta["SeriesInstanceUID"]) for s in meta["series_found"]]
    info = {
        "patient_name": meta["PatientName"],
        "patient_id": meta["PatientID"],
        "study_description": meta["StudyDescription"],
        "series_description": meta["SeriesDescription"],
        "series_uid": meta["SeriesInstanceUID"],
        "modality": meta["Modality"],
        "manufacturer": meta["Manufacturer"],
        "shape": [int(n) for n in geometry.shape],
        "spacing_mm": [round(float(s), 6) for s in geometry.spacing_mm],
        "origin_mm": [round(float(v), 6) for v in geometry.origin_mm],
        "extent_mm": [round(float(e), 6) for e in geometry.extent_mm],
        "hu_range": [float(np.min(hu)), float(np.max(hu))],
        "dtype": str(hu.dtype),
        "frame_of_reference_uid": geometry.frame_of_reference_uid or "",
        "source_path": meta["source_path"],
        "series": series,
    }
    if landmarks:
        info["landmarks"] = collect_landmarks(ct)
    return info


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def format_table(info: dict[str, Any]) -> str:
    """The summary as aligned text lines."""
    nz, ny, nx = info["shape"]
    sz, sy, sx = info["spacing_mm"]
    ez, ey, ex = info["extent_mm"]
    lo, hi = info["hu_range"]
    origin = ", ".join(f"{v:.1f}" for v in info["origin_mm"])
    patient = info["patient_name"] or "(no name)"
    if info["patient_id"]:
        patient += f"  (ID {info['patient_id']})"
    rows = [
        ("Patient", patient),
        ("Study", info["study_description"] or "-"),
        ("Series", info["series_description"] or "-"),
        ("Modality", info["modality"]),
        ("Dimensions", f"{nz} slice{'s' if nz != 1 else ''} x {ny} rows x {nx} columns"),
        ("Spacing", f"{sz:.3g} mm between slices, pixels {sy:.3g} x {sx:.3g} mm (row x column)"),
        ("Extent", f"{ez:.1f} x {ey:.1f} x {ex:.1f} mm (slices x rows x columns)"),
        ("Origin", f"({origin}) mm, LPS, centre of the first voxel"),
        ("HU range", f"{_number(lo)} .. {_number(hi)} HU ({info['dtype']})"),
        ("Series UID", info["series_uid"]),
        ("Frame of ref.", info["frame_of_reference_uid"] or "-"),
        ("Source", info["source_path"]),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{label:<{width}}  {value}" for label, value in rows]
    series = info["series"]
    lines.append("")
    lines.append(f"Series found ({len(series)}):")
    table = [
        (
            "*" if s["selected"] else " ",
            s["modality"] or "?",
            f"{s['n_files']} file{'s' if s['n_files'] != 1 else ''}",
            f"{s['rows']}x{s['columns']}" if s["rows"] else "",
            s["description"] or "-",
            s["series_uid"],
        )
        for s in series
    ]
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for row in table:
        mark, modality, files, size, description, uid = row
        lines.append(
            f"  {mark} {modality:<{widths[1]}}  {files:>{widths[2]}}  {size:<{widths[3]}}  "
            f"{description:<{widths[4]}}  {uid}".rstrip()
        )
    lines.append("  (* = the series read; choose another with --series UID)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the summary of ``args.path``."""
    info = collect(args.path, args.series, landmarks=getattr(args, "landmarks", False))
    if args.json:
        print_json(args, info)  # the common envelope (hbiview.cli._json)
    else:
        print(format_table(info))
        if "landmarks" in info:
            print()
            print(format_landmarks(info["landmarks"]))
    return 0
