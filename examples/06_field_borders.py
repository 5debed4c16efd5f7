"""Lesson 6: field border placement.

Question: the border between the upper and the lower hemi-body field is put at the umbilicus (L4-L5) or at
the top of the iliac crest. How does the choice change the active-marrow split between the two fields, and
what happens at the junction of two courses given weeks apart?

Two parts, on the bundled sample patient:

1. The marrow split as a function of where the border is, from L2 to S1, with this patient's L4-L5 disc and
   iliac crest marked and the ICRP 110 reference phantoms' splits beside them.
2. The junction: the upper field (6 Gy) and the lower field (8 Gy, down to the knees) share one border at
   midplane. The two courses are weeks apart, so the tissue at the junction gets the sum. The sagittal
   dose maps show the sum when the borders match, and when the second course's border is set up 1 cm too
   high (the fields overlap) or 1 cm too low (a gap).

hbiview's presets take their borders from the landmarks; the lesson moves a border with the presets' border
options: ``run_plan(case, "upper-hbi", inferior="L4-L5")`` and ``run_plan(case, "lower-hbi",
superior="L4-L5")`` (a landmark name, a vertebra or disc, or z in mm; ``--set inferior=L4-L5`` on the
command line).

Run: ``python examples/06_field_borders.py [--out DIR]`` (about 20 s). Writes ``field_borders.png``,
``junction.png`` and ``summary.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from hbiview.lessons import lecture_style, lesson_cli, save_figure, write_summary
from hbiview.pipeline import load_case, run_plan, sum_doses

#: ICRP 110 adult reference phantoms: share of active marrow above the border (hbi_marrow_split_icrp110.csv)
ICRP110_ABOVE = {
    "mid lumbar spine": (0.599, 0.594),
    "top of iliac crest": (0.631, 0.630),
    "L5-S1": (0.672, 0.672),
}
#: set-up error of the second course's border shown at the junction (mm)
SHIFT_MM = 10.0


def main(out_dir: str | Path, *, quick: bool = False, case: Any = None) -> dict[str, Any]:
    """Run the lesson; write the figures and ``summary.md`` into ``out_dir``.

    Returns the key numbers: this patient's border positions (z, mm), the active-marrow split for each
    border choice (from the marrow weights and from the dose), and the junction's hottest and coldest dose
    (Gy) for a matched border and for 1 cm overlap and gap.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    case = case or load_case()
    grid = 10.0 if quick else 5.0
    # this patient's border positions (z, mm): a disc lies halfway between two vertebral-body centres
    z_crest = case.border_z_mm("iliac_crest")
    z_l45 = case.border_z_mm("L4-L5")
    z_l3 = case.border_z_mm("L3")
    z_l5s1 = case.border_z_mm("L5-S1")

    # 1. the split as a function of the border (marrow weights only; no dose needed)
    borders = np.arange(case.border_z_mm("S1") - 20.0, case.border_z_mm("L2") + 0.1, 1.0)
    above = case.active_marrow_fraction_above(borders)

    # 2. doses: borders at L4-L5 and at the crest; the lower field's border 1 cm high and 1 cm low
    runs = {}
    for key, (border, shift) in {
        "L4-L5": ("L4-L5", 0.0),
        "crest": ("iliac_crest", 0.0),
        "overlap": ("iliac_crest", SHIFT_MM),
        "gap": ("iliac_crest", -SHIFT_MM),
    }.items():
        if key in ("L4-L5", "crest"):
            runs[key, "upper"] = run_plan(
                case,
                "upper-hbi",
                inferior=border,
                label=f"upper, border {key}",
                grid_mm=grid,
                structures=["Marrow"],
            )
        runs[key, "lower"] = run_plan(
            case,
            "lower-hbi",
            superior=case.border_z_mm(border) + shift,  # a border given as z in mm
            inferior="knees",
            label=f"lower, border {key}",
            grid_mm=grid,
            structures=["Marrow"],
        )
    for key in ("overlap", "gap"):
        runs[key, "upper"] = runs["crest", "upper"]
    split = {
        key: {
            "above_border": case.active_marrow_fraction_above(border),
            "upper_in_field": runs[key, "upper"].active_marrow_in_field(),
            "lower_in_field": runs[key, "lower"].active_marrow_in_field(),
        }
        for key, border in (("L4-L5", "L4-L5"), ("crest", "iliac_crest"))
    }

    # the summed dose on the midline sagittal plane near the junction, away from the skin build-up
    junction = {}
    maps = {}
    for key in ("crest", "overlap", "gap"):
        # two courses weeks apart: their doses add up (sum_doses resamples onto a common grid)
        summed = sum_doses([runs[key, "upper"], runs[key, "lower"]])
        geometry, total = summed.geometry, summed.array
        zg, yg, xg = geometry.axis_coordinates_mm()
        i = int(np.argmin(np.abs(xg - 0.0)))  # the midline sagittal plane (x = 0 on the sample patient)
        body = case.structures["Body"].resampled(geometry).mask[:, :, i]
        inner = ndimage.binary_erosion(body, iterations=max(1, round(15.0 / geometry.spacing_mm[1])))
        near = (np.abs(zg - z_crest) <= 60.0)[:, None] & inner
        plane = total[:, :, i]
        junction[key] = {"max_gy": float(plane[near].max()), "min_gy": float(plane[near].min())}
        maps[key] = (plane, zg, yg, body, inner)

    takeaway = (
        f"The iliac crest lies at the L4-L5 disc here ({abs(z_crest - z_l45):.0f} mm apart): both give "
        f"{100 * split['crest']['above_border']:.0f} / {100 * (1 - split['crest']['above_border']):.0f} %.\n"
        f"What matters is the junction: 1 cm overlap gives {junction['overlap']['max_gy']:.1f} Gy, "
        f"a 1 cm gap leaves {junction['gap']['min_gy']:.1f} Gy"
    )
    with lecture_style():
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(24, 13))
        fig.suptitle(takeaway, y=0.99)
        ax = fig.add_axes((0.06, 0.10, 0.27, 0.74))
        ax.plot(100 * above, borders, color="#d62728", label="this patient")
        named = (
            ("L3 (mid lumbar)", z_l3),
            ("L4-L5 disc", z_l45),
            ("iliac crest top", z_crest),
            ("L5-S1 disc", z_l5s1),
        )
        for name, z in named:
            ax.axhline(z, color="#777777", lw=1.5, ls=":")
            ax.text(51.2, z + 2, name, va="bottom", fontsize=15, color="#333333")
        for (name, (male, female)), z in zip(ICRP110_ABOVE.items(), (z_l3, z_crest, z_l5s1)):
            ax.plot(
                [100 * male, 100 * female],
                [z, z],
                "ko",
                ms=10,
                label="ICRP 110 phantoms (male, female)" if name == "top of iliac crest" else None,
            )
        ax.set_xlim(50, 80)
        ax.set_xlabel("active marrow above the border (%)")
        ax.set_ylabel("border position z (mm, patient head-feet)")
        ax.set_title("Marrow split vs border position")
        ax.legend(loc="lower right")

        vmax = max(float(m[0].max()) for m in maps.values())
        titles = {"crest": "borders matched", "overlap": "2nd course 1 cm high", "gap": "2nd course 1 cm low"}
        for n, key in enumerate(("crest", "overlap", "gap")):
            plane, zg, yg, body2d, inner2d = maps[key]
            axm = fig.add_axes((0.37 + n * 0.19, 0.10, 0.18, 0.74))
            window = np.abs(zg - z_crest) <= 150.0
            shown = np.where(body2d[window], plane[window], np.nan)
            half = abs(yg[1] - yg[0]) / 2
            extent = (yg.min() - half, yg.max() + half, zg[window].min(), zg[window].max())
            image = axm.imshow(
                shown[::-1] if zg[0] < zg[-1] else shown,
                extent=extent,
                cmap="magma",
                vmin=0,
                vmax=vmax,
                aspect="equal",
                interpolation="nearest",
            )
            ys = yg[body2d.any(axis=0)]
            axm.set_xlim(ys.min() - 10, ys.max() + 10)
            inner_values = np.ma.masked_where(~inner2d[window], plane[window])
            contour = axm.contour(
                yg, zg[window], inner_values, levels=[5.4, 8.8], colors=["#4fc3f7", "white"], linewidths=2.5
            )
            axm.clabel(contour, fmt={5.4: "5.4", 8.8: "8.8"}, fontsize=13)
            axm.axhline(z_crest, color="#00e676", lw=1.5, ls="--")
            axm.set_title(
                f"{titles[key]}\nmax {junction[key]['max_gy']:.1f}, min {junction[key]['min_gy']:.1f} Gy",
                fontsize=17,
            )
            axm.set_xlabel("A ← y (mm) → P", fontsize=15)
            axm.grid(False)
            axm.tick_params(labelsize=13)
            if n:
                axm.set_yticklabels([])
        cax = fig.add_axes((0.945, 0.18, 0.012, 0.58))
        bar = fig.colorbar(image, cax=cax)
        bar.set_label("upper 6 Gy + lower 8 Gy, total (Gy)")
        fig.text(
            0.37,
            0.015,
            "Sagittal midline, 15 cm either side of the border (green). Contours: 5.4 Gy (90 % "
            "of 6 Gy, cold)\nand 8.8 Gy (110 % of 8 Gy, hot), drawn 15 mm or more under the skin; min/max "
            "there, within 6 cm of the border.",
            fontsize=14,
            color="#444444",
        )
        save_figure(fig, out / "field_borders.png")

        fig, ax = plt.subplots(figsize=(16, 9))
        for key, colour in (("crest", "black"), ("overlap", "#d62728"), ("gap", "#1f77b4")):
            plane, zg, yg, body2d, _ = maps[key]
            j = int(np.argmin(np.abs(yg - float(np.median(yg[body2d.any(axis=0)])))))
            ax.plot(zg, plane[:, j], color=colour, label=titles[key])
        ax.axvline(z_crest, color="#2e7d32", ls="--", lw=2, label="planned border (iliac crest)")
        ax.set_xlim(z_crest - 150, z_crest + 150)
        ax.set_xlabel("z (mm, feet ← → head)")
        ax.set_ylabel("total dose at midplane, midline (Gy)")
        ax.set_title("Junction profile at midplane: lower 8 Gy field (left) meets upper 6 Gy field (right)")
        ax.legend(loc="upper right")
        fig.tight_layout()
        save_figure(fig, out / "junction.png")

    lines = [
        "# Lesson 6: field border placement",
        "",
        f"**Take-away.** {takeaway.replace(chr(10), ' ')}.",
        "",
        f"This patient: L3 centre z = {z_l3:.0f} mm, L4-L5 disc {z_l45:.0f} mm, "
        f"iliac crest top {z_crest:.0f} mm, "
        f"L5-S1 disc {z_l5s1:.0f} mm.",
        "",
        "| border | active marrow above the border | in the upper field (≥ 3 Gy) "
        "| in the lower field (≥ 4 Gy) |",
        "|---|---|---|---|",
    ]
    for key in ("L4-L5", "crest"):
        s = split[key]
        lines.append(
            f"| {key} | {100 * s['above_border']:.1f} % | {100 * s['upper_in_field']:.1f} % "
            f"| {100 * s['lower_in_field']:.1f} % |"
        )
    slope = np.polyfit(borders, above, 1)[0] * 10.0
    lines += [
        "",
        f"Moving the border by one centimetre moves about {100 * abs(slope):.1f} % of the active marrow "
        "from one "
        "field to the other (the lumbar spine and sacrum are dense in active marrow). ICRP 110 reference "
        "phantoms: 59.9 / 59.4 % above a mid-lumbar border, 63.1 / 63.0 % above the top of the iliac crest, "
        "67.2 % above L5-S1 (male / female).",
        "",
        "| junction | hottest (Gy) | coldest (Gy) |",
        "|---|---|---|",
    ]
    for key in ("crest", "overlap", "gap"):
        lines.append(f"| {titles[key]} | {junction[key]['max_gy']:.2f} | {junction[key]['min_gy']:.2f} |")
    lines += [
        "",
        "Hottest and coldest: total dose of both courses on the midline sagittal plane, within 6 cm of the "
        "border and at least 15 mm under the skin. Borders matched at midplane abut there; towards the skin "
        "the divergent edges of the two entering beams (AP in front, PA behind) part, leaving cold wedges "
        "under the skin at the junction. A 1 cm overlap puts both fields on the same tissue (a hot band "
        "across the spine); a 1 cm gap leaves a cold band right through the patient, where disease can be "
        "missed. The courses are weeks apart and the junction is set up again from skin marks and anatomy: "
        "a centimetre is a realistic error.",
        "",
        "Sources: border conventions (iliac crest or umbilicus L4-L5) from AAPM Report 17 (TG-29, "
        "Van Dyk et al. "
        "1986) and review literature (hbi_clinical.toml: unverified); prescriptions Salazar et al., Cancer "
        "1986;58:29 (RTOG 78-10, verified); marrow split of the ICRP 110 adult phantoms "
        "(hbi_marrow_split_icrp110.csv).",
    ]
    if quick:
        lines += ["", "_Quick run: 10 mm dose grids._"]
    write_summary(out / "summary.md", "\n".join(lines))
    return {
        "z_mm": {"L3": z_l3, "L4-L5": z_l45, "iliac_crest": z_crest, "L5-S1": z_l5s1},
        "split": split,
        "split_per_cm": float(abs(slope)),
        "junction": junction,
        "files": ["field_borders.png", "junction.png", "summary.md"],
    }


if __name__ == "__main__":
    raise SystemExit(lesson_cli(main, 6))
