"""``hbiview demo``: everything hbiview does, on the bundled sample patient, in one folder.

Auto-structures; upper hemi-body, lower hemi-body and a localized spine field, and upper hemi-body again
without heterogeneity correction; DVHs and metrics; the comparison report (HTML and PDF), pictures (3D,
slices, side by side, lung-correction difference map), the interactive 3D page, CSV/JSON metrics, and one
DICOM-RT set: RT Dose files (whole grids, with DVHs, and the hemi-body sum), their RT Plans and the
structures as RTSTRUCT.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["DEMO_PLANS", "DemoResult", "add_parser", "run", "run_demo"]

T = TypeVar("T")

#: (key, preset, options, heterogeneity) of the demo plans, in report order.
DEMO_PLANS: tuple[tuple[str, str, dict[str, Any], bool | None], ...] = (
    ("upper-hbi", "upper-hbi", {}, None),
    ("lower-hbi", "lower-hbi", {}, None),
    ("spine", "spine", {"level": "T10"}, None),
    ("upper-hbi-water", "upper-hbi", {}, False),
)

EPILOG = """\
examples:
  hbiview demo                          everything, on the bundled sample patient, into hbiview-demo/
  hbiview demo --out /tmp/demo --force  into another folder, replacing what it holds
  hbiview demo --quick                  faster: 5 mm dose grids, no PDF, no interactive page
  hbiview demo --ct /data/my_ct         the same demo on your own CT (DICOM folder)

The sample patient is sample_ct/ in the current directory or beside the package, or the folder named by
$HBIVIEW_SAMPLE_CT; without either, the same synthetic patient is generated in memory (and its CT series is
written into the output folder so that the RT Dose and RTSTRUCT files have their CT).
The output folder must be new or empty (or use --force). Everything is written into a temporary folder
beside it and renamed at the end: an interrupted demo leaves nothing half-written.

hbiview is a tool for comparison and teaching, not a clinical treatment planning system.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``demo`` sub-command."""
    parser = subparsers.add_parser(
        "demo",
        help="run everything on the bundled sample patient (start here)",
        description="Segment the sample patient, compute upper HBI, lower HBI, a spine field and upper HBI\n"
        "without heterogeneity correction, and write into one folder: the comparison report (HTML, PDF),\n"
        "pictures, the interactive 3D page, metrics (CSV, JSON), and a DICOM-RT set (RTSTRUCT, RT Plans,\n"
        "RT Doses with DVHs).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--out", metavar="DIR", default="hbiview-demo", help="output folder (default hbiview-demo/)"
    )
    parser.add_argument("--force", action="store_true", help="replace the output folder's contents")
    parser.add_argument(
        "--quick", action="store_true", help="5 mm dose grids, no PDF, no interactive page, smaller pictures"
    )
    parser.add_argument("--ct", metavar="CT", help="run on this CT folder instead of the sample patient")
    parser.add_argument("--series", metavar="UID", help="SeriesInstanceUID of --ct (default: largest)")
    parser.add_argument("--json", action="store_true", help="print the key numbers and files as JSON")
    return parser


# -------------------------------------------------------------------------------------------- the steps
@dataclass
class _Steps:
    """Runs the demo's steps, printing one line per step with its time (stderr; silent when quiet)."""

    quiet: bool
    total: int
    done: int = 0
    times: list[tuple[str, float]] = field(default_factory=list)

    def __call__(self, text: str, work: Callable[[], T]) -> T:
        self.done += 1
        start = time.perf_counter()
        value = work()
        elapsed = time.perf_counter() - start
        self.times.append((text, elapsed))
        if not self.quiet:
            print(f"[{self.done:2d}/{self.total}] {elapsed:5.1f} s  {text}", file=sys.stderr, flush=True)
        return value


@dataclass
class DemoResult:
    """What the demo computed and wrote.

    Attributes
    ----------
    out
        The output folder.
    source
        Where the CT came from.
    runs
        Plan key -> :class:`hbiview.pipeline.PlanRun`.
    files
        File name (relative to ``out``) -> what it holds.
    key_numbers
        One row per plan: the numbers printed in the terminal table.
    step_seconds
        Each step's text and duration (s).
    total_seconds
        Wall time of the whole demo (s).
    """

    out: Path
    source: str
    runs: dict[str, Any]
    files: dict[str, str]
    key_numbers: list[dict[str, Any]]
    step_seconds: list[tuple[str, float]]
    total_seconds: float


def _key_numbers(runs: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key, r in runs.items():
        marrow = r.dvhs.get("Marrow")
        rows.append(
            {
                "plan": r.label,
                "key": key,
                "prescription": f"{r.plan.prescription_gy:g} Gy x {r.plan.fractions}",
                "prescription_gy": r.prescription_gy,
                "heterogeneity": r.heterogeneity,
                "mean_lung_dose_gy": r.mean_lung_dose_gy,
                "lung_v5gy_pct": r.volume_pct("Lungs", 5.0) if "Lungs" in r.dvhs else None,
                "active_marrow_in_field_pct": (
                    100 * r.active_marrow_in_field()
                    if marrow and marrow.weighted_fraction is not None
                    else None
                ),
                "active_marrow_ge_8gy_pct": (
                    100 * r.active_marrow_fraction(8.0)
                    if marrow and marrow.weighted_fraction is not None
                    else None
                ),
                "marrow_v8gy_pct": r.volume_pct("Marrow", 8.0) if marrow else None,
                "max_dose_gy": r.dose.max_gy,
            }
        )
    return [{k: _finite(v) for k, v in row.items()} for row in rows]


def _finite(value: Any) -> Any:
    """``nan`` -> ``None`` (JSON has no NaN); numpy floats -> float."""
    if isinstance(value, (bool, str)) or value is None:
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return None if math.isnan(number) else number


#: (key, heading, width, format) of the terminal table.
_COLUMNS = (
    ("prescription", "Rx", 11, "{}"),
    ("mean_lung_dose_gy", "MLD Gy", 7, "{:.2f}"),
    ("lung_v5gy_pct", "lung V5Gy", 10, "{:.0f} %"),
    ("active_marrow_in_field_pct", "act. marrow in field", 21, "{:.0f} %"),
    ("active_marrow_ge_8gy_pct", "act. marrow >=8Gy", 18, "{:.1f} %"),
    ("marrow_v8gy_pct", "marrow V8Gy", 12, "{:.1f} %"),
    ("max_dose_gy", "Dmax Gy", 8, "{:.1f}"),
)


def format_key_table(rows: list[dict[str, Any]]) -> str:
    """The key numbers as a fixed-width table."""
    width = max(len("plan"), *(len(r["plan"]) for r in rows))
    head = f"{'plan':<{width}}" + "".join(f"{h:>{w + 2}}" for _, h, w, _ in _COLUMNS)
    lines = [head, "-" * len(head)]
    for row in rows:
        cells = []
        for key, _, w, fmt in _COLUMNS:
            value = row.get(key)
            cells.append(f"{'-' if value is None else fmt.format(value):>{w + 2}}")
        lines.append(f"{row['plan']:<{width}}" + "".join(cells))
    lines.append(
        "MLD: mean dose to both lungs (total course). Active marrow: share of the body's active bone marrow "
        "(ICRP 110 distribution)\nin the field (>= 50 % of the prescription) and at >= 8 Gy. Marrow V8Gy: "
        "share of the marrow volume at >= 8 Gy."
    )
    return "\n".join(lines)


def _readme(result_files: dict[str, str], source: str, notes: list[str]) -> str:
    width = max(len(name) for name in result_files)
    lines = [
        "hbiview demo",
        "============",
        "",
        f"CT: {source}",
        "Plans: upper hemi-body (6 Gy x 1), lower hemi-body (8 Gy x 1), spine field on T10 (8 Gy x 1),",
        "and upper hemi-body computed without heterogeneity correction (water inside the body), all with",
        "hbiview's convolution dose model. hbiview is a tool for comparison and teaching, not a clinical",
        "planning system.",
        "",
        "Files:",
        *(f"  {name:<{width}}  {text}" for name, text in sorted(result_files.items())),
    ]
    if notes:
        lines += ["", "Notes:", *(f"  - {note}" for note in notes)]
    lines += [
        "",
        "The RT files are one DICOM-RT set (the CT's patient, study and frame of reference): open the RT",
        "Dose, RT Plan and RTSTRUCT files with their CT in any DICOM-RT viewer (3D Slicer with SlicerRT, a",
        "planning system). The RT Plans hold beams, jaws, blocks, isocentres, weights and the prescription",
        "but no monitor units: hbiview's dose model is not commissioned on a treatment machine. The RT Doses",
        "cover the whole body (dose outside the fields kept) and carry hbiview's DVHs. Audit them with",
        "  hbiview dvh --rtdose rtdose_upper-hbi.dcm --rtstruct rtstruct.dcm",
        "",
    ]
    return "\n".join(lines)


def run_demo(
    out: str | os.PathLike[str] = "hbiview-demo",
    *,
    force: bool = False,
    quick: bool = False,
    ct: str | None = None,
    series: str | None = None,
    quiet: bool = False,
) -> DemoResult:
    """Run the demo and write its folder.

    Parameters
    ----------
    out
        Output folder: must be new or empty unless ``force``.
    force
        Replace the folder's contents.
    quick
        5 mm dose grids for every plan, no PDF, no interactive page, smaller pictures.
    ct
        A CT folder to use instead of the sample patient.
    series
        SeriesInstanceUID within ``ct``.
    quiet
        Print no progress lines.

    Returns
    -------
    DemoResult
    """
    from hbiview.errors import InputError
    from hbiview.io.atomic import atomic_folder, check_folder_writable

    target = check_folder_writable(out, force)
    if series and not ct:
        raise InputError("--series chooses a series of --ct; the sample patient has one series")
    start = time.perf_counter()
    n_steps = 8 + len(DEMO_PLANS) + (0 if quick else 1)
    step = _Steps(quiet, n_steps)
    with atomic_folder(target, force) as staging:
        result = _run_steps(staging, step, quick=quick, ct=ct, series=series)
        files = result.files
        (staging / "README.txt").write_text(_readme(files, result.source, result.notes), encoding="utf-8")
        files["README.txt"] = "this list"
    return DemoResult(
        target,
        result.source,
        result.runs,
        files,
        _key_numbers(result.runs),
        step.times,
        time.perf_counter() - start,
    )


@dataclass
class _Outcome:
    source: str
    runs: dict[str, Any]
    files: dict[str, str]
    notes: list[str]


def _run_steps(folder: Path, step: _Steps, *, quick: bool, ct: str | None, series: str | None) -> _Outcome:
    from hbiview.pipeline import SAMPLE_REGENERATED, load_case, write_comparison

    files: dict[str, str] = {}
    notes: list[str] = []

    def path(name: str, text: str) -> Path:
        files[name] = text
        return folder / name

    case = step(
        f"read the CT ({ct or 'sample patient'})",
        lambda: load_case(ct, series=series),
    )
    regenerated = case.source == SAMPLE_REGENERATED
    anatomy = step("structures: body, lungs, skeleton, active marrow, landmarks", lambda: case.anatomy)
    notes += [n for n in anatomy.notes if "cut by the scan" in n or "outside" in n]

    from hbiview.pipeline import run_plan

    runs: dict[str, Any] = {}
    for key, preset, options, heterogeneity in DEMO_PLANS:
        grid = 5.0 if quick else None
        settings = "".join(f" {k}={v}" for k, v in options.items())
        words = f"dose: {preset}{settings}" + (", heterogeneity off" if heterogeneity is False else "")
        runs[key] = step(
            words + ", DVHs and metrics",
            functools.partial(run_plan, case, preset, heterogeneity=heterogeneity, grid_mm=grid, **options),
        )
        notes += list(runs[key].notes)
    if len({r.label for r in runs.values()}) != len(runs):  # e.g. a CT where two presets get the same name
        raise RuntimeError("two demo plans have the same label")

    def write_dicom() -> None:
        from hbiview.dosevolume import dvhs as compute_dvhs
        from hbiview.io.rtset import RTCourse, ct_reference_note, write_rt_files
        from hbiview.pipeline import sum_doses
        from hbiview.sample import write_sample_ct

        if regenerated:  # the RT files need their CT: the same series as sample_ct/, same UIDs
            write_sample_ct(
                path("ct", "the sample patient's CT series (generated: sample_ct/ was not found)")
            )
        structures = case.structure_list()
        courses = [RTCourse.of_run(key, r) for key, r in runs.items()]
        # the hemi-body course: upper then lower hemi-body (two single fractions, weeks apart)
        hbi = sum_doses([runs["upper-hbi"], runs["lower-hbi"]], description="upper-hbi + lower-hbi")
        courses.append(
            RTCourse("sum", hbi, dvhs=compute_dvhs(hbi, structures), parts=("upper-hbi", "lower-hbi"))
        )
        note = None if regenerated else ct_reference_note(case.ct)
        files.update(write_rt_files(folder, case.ct, structures, courses, ct_note=note))

    step("DICOM-RT set: RTSTRUCT, RT Plans, RT Doses with DVHs (and their sum)", write_dicom)

    def write_tables() -> None:
        from hbiview.report import write_curves_csv, write_metrics_csv, write_metrics_json

        evaluations = [r.evaluation for r in runs.values()]
        write_metrics_csv(path("metrics.csv", "every metric, one row per plan and structure"), evaluations)
        write_metrics_json(path("metrics.json", "every metric as JSON"), evaluations)
        write_curves_csv(path("dvh_curves.csv", "cumulative DVH curves of every plan"), evaluations)

    step("metrics (CSV, JSON) and DVH curves", write_tables)

    images = _render(case, runs, path, step, quick)

    def reports() -> None:
        title = "hbiview demo: upper vs lower hemi-body vs spine field, lung correction"
        ordered = list(runs.values())
        write_comparison(path("report.html", "the comparison report (self-contained HTML)"), ordered,
                         title=title, images=images)  # fmt: skip
        if not quick:
            write_comparison(path("report.pdf", "the comparison report (A4 PDF)"), ordered, title=title,
                             images=images)  # fmt: skip

    step("comparison report (HTML" + (")" if quick else ", PDF)"), reports)
    summary = {"source": case.source, "key_numbers": _key_numbers(runs), "notes": notes}
    path("summary.json", "the key numbers printed by the demo").write_text(
        json.dumps(summary, indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    return _Outcome(case.source, runs, files, notes)


def _render(
    case: Any, runs: dict[str, Any], path: Callable[[str, str], Path], step: _Steps, quick: bool
) -> list[tuple[str, Path]]:
    """Pictures and the interactive page; returns the (caption, PNG) pairs for the report."""
    scale = 0.6 if quick else 1.0

    def size(w: int, h: int) -> tuple[int, int]:
        return int(w * scale), int(h * scale)

    upper, lower, spine, water = (runs[k] for k in ("upper-hbi", "lower-hbi", "spine", "upper-hbi-water"))
    structures = case.structure_list()
    images: list[tuple[str, Path]] = []

    def meshes() -> Any:
        from hbiview.render.scene import prepare_anatomy

        return prepare_anatomy(case.structures, bone="skeleton")

    anatomy = step("3D surfaces of skin, lungs and skeleton", meshes)

    # every picture 16:9 at a lecture hall's 1920 x 1080 (it scales down whole to a 1366 x 768 laptop)
    def pictures_3d() -> None:
        from hbiview.render.figures import render_3d, render_compare_3d

        shells = (
            "isodose shells at 50 % (blue) and 95 % (yellow) of the prescription, cut at the skin; the skin "
            "is cut away in front of them; no CT planes (the slice pictures show the dose on the CT)"
        )
        out = path("3d_upper-hbi.png", "3D scene of upper HBI: isodose shells, skin, lungs, skeleton, beams")
        render_3d(case.ct, dose=upper.dose, plan=upper.plan, anatomy=anatomy, size=size(1920, 1080), out=out)
        images.append((f"3D: upper hemi-body, seen from the front: {shells}.", out))
        out = path("3d_comparison.png", "upper HBI, lower HBI and the spine field side by side in 3D")
        pairs = [(r.plan, r.dose) for r in (upper, lower, spine)]
        render_compare_3d(case.ct, pairs, anatomy=anatomy, size=size(1920, 1080), out=out, font_scale=1.2)
        images.append((
            "3D: upper HBI, lower HBI and a spine field in one frame, each seen from the side its beams come "
            f"from (the spine field from behind): {shells}; percentages of each plan's own prescription.",
            out,
        ))  # fmt: skip

    step("3D pictures (upper HBI, three plans side by side)", pictures_3d)

    def pictures_slices() -> None:
        from hbiview.render.slices import render_compare_slices, render_difference_slice, render_slice

        out = path("coronal_comparison.png", "coronal slices of the three plans, one colour scale")
        pairs = [(r.plan, r.dose) for r in (upper, lower, spine)]
        render_compare_slices(
            case.ct, pairs, structures=structures, view="coronal", size=size(1920, 1080), out=out,
            font_scale=1.2,
        )  # fmt: skip
        images.append((
            "Coronal slices of the three plans, each through its own prescription point (the hemi-body "
            "plans at midplane, the spine field at its prescription depth in the vertebra); one "
            "colour scale in % of each plan's prescription.",
            out,
        ))  # fmt: skip
        lung_z = case.landmarks.z("lung_base")
        apex_z = case.landmarks.z("lung_apex")
        position = None if lung_z is None or apex_z is None else 0.5 * (lung_z + apex_z)
        out = path("axial_lungs_upper-hbi.png", "axial slice through the lungs, upper HBI")
        render_slice(case.ct, dose=upper.dose, plan=upper.plan, structures=structures, view="axial",
                     position_mm=position, size=size(1920, 1080), out=out)  # fmt: skip
        images.append(("Axial slice through the lungs: upper hemi-body", out))
        out = path("lung_correction_coronal.png", "upper HBI: heterogeneity on minus off (difference map)")
        render_difference_slice(case.ct, upper.dose, water.dose, label_a=upper.label, label_b=water.label,
                                structures=structures, view="coronal", plan=upper.plan, size=size(1920, 1080),
                                out=out)  # fmt: skip
        images.append(("Lung correction: upper HBI with minus without heterogeneity correction", out))

    step("slice pictures (coronal comparison, axial lungs, lung-correction map)", pictures_slices)

    if not quick:

        def page() -> None:
            from hbiview.render.figures import export_html

            page = path("3d_upper-hbi.html", "interactive 3D page of upper HBI (open in a browser)")
            export_html(case.ct, page, dose=upper.dose, plan=upper.plan, anatomy=anatomy)

        step("interactive 3D page (HTML)", page)
    return images


def run(args: argparse.Namespace) -> int:
    """Run the demo and print the key numbers and where the files are."""
    result = run_demo(
        args.out, force=args.force, quick=args.quick, ct=args.ct, series=args.series, quiet=args.quiet
    )
    if args.json:
        document = {
            "out": str(result.out),
            "source": result.source,
            "total_seconds": round(result.total_seconds, 2),
            "key_numbers": result.key_numbers,
            "files": result.files,
            "steps": [{"step": t, "seconds": round(s, 3)} for t, s in result.step_seconds],
        }
        from hbiview.cli._json import print_json

        print_json(args, document)
        return 0
    if args.quiet:
        return 0
    print()
    print(format_key_table(result.key_numbers))
    print()
    print(f"{len(result.files)} files in {result.out}/ ({result.total_seconds:.0f} s):")
    width = max(len(name) for name in result.files)
    for name, text in sorted(result.files.items()):
        print(f"  {name:<{width}}  {text}")
    print(f"Start with {result.out / 'report.html'} and {result.out / 'README.txt'}.")
    return 0
