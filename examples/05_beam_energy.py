"""Lesson 5: beam energy and patient thickness.

Question: for parallel-opposed AP/PA hemi-body fields, how uniform is the dose through a thin and a thick
patient with Co-60, 6 MV and 18 MV?

Each beam of an AP/PA pair deposits most at its depth of maximum dose just under the skin and less with
depth; the two together are flat only when the beam is penetrating compared with the patient's thickness.
The lesson builds a thin and a thick version of the sample patient (``hbiview.sample.make_phantom`` with the
body scaled left-right and front-back by 0.8 and 1.3), puts the mid hemi-body field (diaphragm to mid-thigh,
AP/PA, prescribed at midplane) on each, and compares the three beam qualities:

* the dose along the central axis from the front to the back, as a percentage of the midplane dose;
* the entrance and exit hot spots (the maxima within 5 cm of the skin), i.e. the dose at the depth of
  maximum of the AP and the PA beam;
* the spread of the dose over the midplane inside the central 80 % of the field.

Run: ``python examples/05_beam_energy.py [--out DIR]`` (about 40 s). Writes ``energy_thickness.png``,
``axial_doses.png`` and ``summary.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hbiview.lessons import lecture_style, lesson_cli, save_figure, write_summary
from hbiview.pipeline import load_case, run_plan
from hbiview.render.colors import dose_cmap
from hbiview.sample import make_phantom

ENERGIES = ("Co60", "6MV", "18MV")
PATIENTS = {"thin": 0.8, "thick": 1.3}  # lateral and AP scale of the sample patient
COLOURS = {"Co60": "#d62728", "6MV": "#ff7f0e", "18MV": "#1f77b4"}
NAMES = {"Co60": "Co-60", "6MV": "6 MV", "18MV": "18 MV"}
#: the entrance and exit hot spots are looked for within this distance of the skin (mm)
SURFACE_REGION_MM = 50.0


def main(out_dir: str | Path, *, quick: bool = False, case: Any = None) -> dict[str, Any]:
    """Run the lesson; write the figures and ``summary.md`` into ``out_dir``.

    ``case`` is not used (the lesson builds its own thin and thick patients). Returns, per patient and
    energy: separation (mm), entrance and exit maxima and the axis maximum (% of the midplane dose), and
    the midplane 5th-95th percentile dose range (% of the prescription).
    """
    del case
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    grid = 10.0 if quick else 5.0
    results: dict[str, dict[str, Any]] = {}
    profiles: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    runs_by_patient: dict[str, list[Any]] = {}
    cases = {}
    for patient, scale in PATIENTS.items():
        spacing = (10.0, 7.0, 7.0) if quick else (5.0, 3.5, 3.5)
        phantom = make_phantom(spacing_mm=spacing, lateral_scale=scale, ap_scale=scale)
        cases[patient] = load_case(phantom.ct)
        results[patient] = {}
        runs_by_patient[patient] = []
        for energy in ENERGIES:
            run = run_plan(
                cases[patient],
                "mid-hbi",
                label=f"{NAMES[energy]}, {patient} patient",
                energy=energy,
                grid_mm=grid,
                structures=["Body", "Lungs"],
            )
            runs_by_patient[patient].append(run)
            # the AP beam's central axis, front skin to back skin, as % of the dose at midplane (halfway)
            depth, dose_gy = run.central_axis_profile(beam_index=0, step_mm=1.0)
            percent = 100.0 * dose_gy / float(np.interp(depth[-1] / 2, depth, dose_gy))
            profiles[patient, energy] = (depth, percent)
            near_front = depth <= SURFACE_REGION_MM
            near_back = depth >= depth[-1] - SURFACE_REGION_MM
            results[patient][energy] = {
                "separation_mm": float(depth[-1]),
                "entrance_max_pct": float(percent[near_front].max()),
                "exit_max_pct": float(percent[near_back].max()),
                "axis_max_pct": float(percent.max()),
                "depth_of_entrance_max_mm": float(depth[near_front][np.argmax(percent[near_front])]),
                "midplane_range_pct": _midplane_range(run),
            }

    thick6 = results["thick"]["6MV"]
    takeaway = (
        "The thicker the patient and the softer the beam, the hotter entrance and exit: on the thick patient "
        f"(separation {thick6['separation_mm'] / 10:.0f} cm)\n"
        f"Co-60 gives {results['thick']['Co60']['axis_max_pct']:.0f} % of the midplane dose just under the "
        f"skin, 6 MV {thick6['axis_max_pct']:.0f} %, 18 MV "
        f"{results['thick']['18MV']['axis_max_pct']:.0f} %"
    )
    with lecture_style():
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(24, 11.5), sharey=True)
        fig.suptitle(takeaway, y=0.99)
        top = max(float(p.max()) for _, p in profiles.values())
        for ax, patient in zip(axes, PATIENTS):
            for energy in ENERGIES:
                depth, percent = profiles[patient, energy]
                r = results[patient][energy]
                ax.plot(
                    depth / 10,
                    percent,
                    color=COLOURS[energy],
                    label=f"{NAMES[energy]}: max {r['axis_max_pct']:.0f} %",
                )
            separation = results[patient]["6MV"]["separation_mm"]
            ax.axhspan(95, 105, color="#cccccc", alpha=0.4, lw=0)
            ax.axvline(separation / 20, color="black", ls=":", lw=2)
            ax.text(separation / 20, 112, " midplane", fontsize=15)
            ax.set_xlim(0, separation / 10)
            ax.set_ylim(60, max(top + 5, 115))
            ax.set_xlabel("depth from the anterior skin (cm)")
            ax.set_title(
                f"{patient} patient (body x {PATIENTS[patient]:g}): separation {separation / 10:.0f} cm"
            )
            ax.legend(loc="lower center")
        axes[0].set_ylabel("dose on the central axis (% of midplane dose)")
        fig.text(
            0.01,
            0.01,
            "Mid hemi-body field, AP/PA equally weighted, extended SSD; grey band: ±5 % of the midplane dose",
            fontsize=14,
            color="#444444",
        )
        fig.tight_layout(rect=(0, 0.03, 1, 0.90))
        save_figure(fig, out / "energy_thickness.png")

        # axial dose maps at the prescription point: two patients x three beams, one colour scale (%)
        fig, axes = plt.subplots(2, 3, figsize=(24, 10))
        fig.suptitle(
            "Axial dose through the prescription point (% of the prescription): hot spots under the "
            "skin and off-axis where the body is thinner",
            y=0.985,
        )
        low_pct, high_pct = 20.0, max(125.0, 5.0 * np.ceil(_max_pct(runs_by_patient) / 5.0))
        cmap = dose_cmap(low_pct, high_pct)
        for row, patient in enumerate(PATIENTS):
            for col, run in enumerate(runs_by_patient[patient]):
                image = _axial_panel(axes[row, col], cases[patient], run, cmap, (low_pct, high_pct))
                axes[row, col].set_title(f"{patient} patient, {NAMES[ENERGIES[col]]}")
        fig.subplots_adjust(left=0.02, right=0.88, top=0.88, bottom=0.05, wspace=0.05, hspace=0.12)
        bar = fig.colorbar(image, cax=fig.add_axes((0.90, 0.12, 0.015, 0.72)))
        bar.set_label("dose (% of the 8 Gy prescription)")
        bar.add_lines(_CONTOURS_PCT, colors=_CONTOUR_COLOURS, linewidths=3)
        fig.text(
            0.02,
            0.005,
            "Contour lines: 95 % (white), 105 % (orange), 110 % (red); CT soft-tissue "
            "window; anterior at the top, patient's right on the left",
            fontsize=15,
            color="#444444",
        )
        save_figure(fig, out / "axial_doses.png")

    lines = [
        "# Lesson 5: beam energy and patient thickness",
        "",
        f"**Take-away.** {takeaway.replace(chr(10), ' ')}.",
        "",
        "| patient | separation | beam | entrance max | exit max | axis max | midplane 5-95 % range |",
        "|---|---|---|---|---|---|---|",
    ]
    for patient in PATIENTS:
        for energy in ENERGIES:
            r = results[patient][energy]
            low, high = r["midplane_range_pct"]
            at = r["depth_of_entrance_max_mm"]
            where = f"at {at:.0f} mm" if at < SURFACE_REGION_MM - 2 else "no peak: rises inwards"
            lines.append(
                f"| {patient} | {r['separation_mm'] / 10:.1f} cm | {NAMES[energy]} "
                f"| {r['entrance_max_pct']:.0f} % ({where}) | {r['exit_max_pct']:.0f} % "
                f"| {r['axis_max_pct']:.0f} % | {low:.0f}-{high:.0f} % |"
            )
    lines += [
        "",
        "Entrance/exit/axis maxima are % of the midplane dose on the central axis; the midplane range is the "
        "5th to 95th percentile of the dose on the midplane inside the central 80 % of the field, % of the "
        "prescription.",
        "",
        "Why: each beam falls off with depth (faster for Co-60 than for 18 MV). For a parallel-opposed pair "
        "the sum at midplane is the sum of two deep doses while near the skin one beam is at its maximum; "
        "the thicker the patient, the larger the difference. High-energy beams also deposit their maximum "
        "deeper (a few cm at 18 MV), so the skin itself is spared. Off the central axis the body is "
        "thinner (the flanks, the thighs), so with the prescription at the central axis the midplane dose "
        "rises off-axis: see the 95th percentiles in the table and the axial pictures.",
        "",
        "Sources: the dose model's beam qualities come from hbiview's beam-quality table (TPR20,10 per "
        "energy) and the Nyholm pencil-kernel parameterisation; the technique (AP/PA open fields, Co-60 or "
        "6-18 MV, extended distance) from AAPM Report 17 (TG-29, Van Dyk et al. 1986; hbi_clinical.toml: "
        "unverified). No clinical reference number is quoted in this lesson: every figure is computed.",
    ]
    if quick:
        lines += ["", "_Quick run: 10 mm dose grids and small pictures._"]
    write_summary(out / "summary.md", "\n".join(lines))
    return {
        "results": results,
        "files": ["energy_thickness.png", "axial_doses.png", "summary.md"],
    }


_CONTOURS_PCT = [95.0, 105.0, 110.0]
_CONTOUR_COLOURS = ["white", "#ff9f1a", "#e41a1c"]


def _max_pct(runs_by_patient: dict[str, list[Any]]) -> float:
    return max(100.0 * r.dose.max_gy / r.prescription_gy for runs in runs_by_patient.values() for r in runs)


def _axial_panel(ax: Any, case: Any, run: Any, cmap: Any, clim: tuple[float, float]) -> Any:
    """CT and dose (% of the prescription) on the axial slice through the prescription point."""
    dose = run.dose
    point = np.asarray(run.dose_result.prescription_point_lps_mm, dtype=float)
    z_axis, y_axis, x_axis = dose.geometry.axis_coordinates_mm()
    k = int(np.argmin(np.abs(z_axis - point[2])))
    ct = case.ct.resampled(dose.geometry).hu[k]
    body = case.structures["Body"].resampled(dose.geometry).mask[k]
    pct = 100.0 * dose.array[k] / run.prescription_gy
    dx, dy = abs(x_axis[1] - x_axis[0]) / 2, abs(y_axis[1] - y_axis[0]) / 2
    # anterior (-y) at the top, the patient's right (-x) on the left, as radiologists look at a slice
    extent = (x_axis.min() - dx, x_axis.max() + dx, y_axis.max() + dy, y_axis.min() - dy)
    order = (
        slice(None) if y_axis[0] < y_axis[-1] else slice(None, None, -1),
        slice(None) if x_axis[0] < x_axis[-1] else slice(None, None, -1),
    )
    ax.imshow(np.clip((ct[order] + 160.0) / 400.0, 0, 1), cmap="gray", extent=extent, vmin=0, vmax=1)
    shown = np.ma.masked_where(~body | (pct < clim[0]), pct)
    image = ax.imshow(shown[order], cmap=cmap, vmin=clim[0], vmax=clim[1], alpha=0.75, extent=extent)
    inside = np.ma.masked_where(~body, pct)
    ax.contour(x_axis, y_axis, inside, levels=_CONTOURS_PCT, colors=_CONTOUR_COLOURS, linewidths=2.5)
    xs, ys = x_axis[body.any(axis=0)], y_axis[body.any(axis=1)]
    ax.set_xlim(xs.min() - 15, xs.max() + 15)
    ax.set_ylim(ys.max() + 15, ys.min() - 15)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    return image


def _midplane_range(run: Any) -> tuple[float, float]:
    """5th and 95th percentile of the midplane dose inside the body and the central 80 % of the field (%)."""
    point = np.asarray(run.dose_result.prescription_point_lps_mm, dtype=float)
    dose = run.dose
    z_axis, y_axis, x_axis = dose.geometry.axis_coordinates_mm()
    j = int(np.argmin(np.abs(y_axis - point[1])))
    corners = np.concatenate([c for _, c in run.plan.beam_outlines()])
    z0, z1 = corners[:, 2].min(), corners[:, 2].max()
    x0, x1 = corners[:, 0].min(), corners[:, 0].max()
    zc, zh = (z0 + z1) / 2, 0.4 * (z1 - z0)
    xc, xh = (x0 + x1) / 2, 0.4 * (x1 - x0)
    plane = dose.array[:, j, :]
    keep = (np.abs(z_axis - zc) <= zh)[:, None] & (np.abs(x_axis - xc) <= xh)[None, :] & (plane > 0)
    values = 100.0 * plane[keep] / run.prescription_gy
    return float(np.percentile(values, 5)), float(np.percentile(values, 95))


if __name__ == "__main__":
    raise SystemExit(lesson_cli(main, 5))
